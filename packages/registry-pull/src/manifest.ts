/**
 * Manifest fetching: HEAD the tag for its digest, then GET by digest (body verified against it);
 * GET by tag when HEAD cannot help, verifying Docker-Content-Digest against the body. Size capped.
 */
import {
  type DigestAlgorithm,
  digestOf,
  isDigest,
  MANIFEST_ACCEPT,
  type ParsedManifest,
  parseDigest,
  parseManifestBytes,
} from "@strata/oci-types";
import { type ClientContext, type Endpoint, registryRequest, statusError } from "./client.js";
import { BlobDigestMismatchError, ManifestTooLargeError, NotFoundError, RegistryError } from "./errors.js";
import { discard, header, readBody } from "./http.js";
import { withRetry } from "./retry.js";

/** 4 MiB, the cap (containerd uses 4*1048*1048). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface ManifestTarget {
  registry: string;
  repository: string;
  /** A tag or a digest. */
  reference: string;
}

const ACCEPT = MANIFEST_ACCEPT.join(", ");

function display(t: ManifestTarget): string {
  return `${t.registry}/${t.repository}${isDigest(t.reference) ? "@" : ":"}${t.reference}`;
}

/** Wrap an oci-types error (it has a `code`) with where it happened, keeping the code. */
export function inContext(err: unknown, where: string): unknown {
  if (err instanceof RegistryError || !(err instanceof Error)) return err;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== "string") return err;
  return new RegistryError(code as RegistryError["code"], `${where}: ${err.message}`, { cause: err });
}

export async function fetchManifest(
  ctx: ClientContext,
  ep: Endpoint,
  target: ManifestTarget,
  signal?: AbortSignal,
): Promise<ParsedManifest> {
  return withRetry(
    `manifest ${display(target)}`,
    ctx.retry,
    () => fetchOnce(ctx, ep, target, signal),
    signal ? { signal } : {},
  );
}

async function fetchOnce(ctx: ClientContext, ep: Endpoint, target: ManifestTarget, signal?: AbortSignal) {
  const byDigest = isDigest(target.reference);
  const base = `/v2/${target.repository}/manifests/`;
  const what = (ref: string) => ({
    subject: `manifest ${target.repository}${isDigest(ref) ? "@" : ":"}${ref}`,
    notFound: isDigest(ref)
      ? `manifest ${target.repository}@${ref} not found on ${ep.host}; check the digest`
      : `${target.registry}/${target.repository}:${ref} not found on ${ep.host}: the repository or the tag "${ref}" does not exist; check the name and tag`,
    host: ep.host,
    repository: target.repository,
    authenticated: ctx.auth.authorization(ep.host, `repository:${target.repository}:pull`) !== undefined,
  });

  let digest = byDigest ? target.reference : undefined;
  if (!byDigest) {
    const head = await registryRequest(ctx, ep, target.repository, {
      method: "HEAD",
      path: base + target.reference,
      headers: { accept: ACCEPT },
      ...(signal ? { signal } : {}),
    });
    if (head.status === 200) {
      discard(head);
      const d = header(head, "docker-content-digest");
      const len = Number(header(head, "content-length"));
      if (Number.isFinite(len) && len > MAX_MANIFEST_BYTES)
        throw new ManifestTooLargeError(display(target), len, MAX_MANIFEST_BYTES);
      if (d && isDigest(d)) digest = d;
    } else if (head.status === 404 || head.status === 401 || head.status === 403 || head.status === 429) {
      throw await statusError(head, what(target.reference));
    } else if (head.status >= 500 || head.status === 408) {
      throw await statusError(head, what(target.reference));
    } else discard(head);
  }

  if (digest !== undefined) {
    const got = await getManifest(ctx, ep, target, base + digest, what(digest), digest, signal);
    if (got !== "not-found") return got;
    if (byDigest) throw new NotFoundError(what(digest).notFound);
    // HEAD announced a digest the registry cannot serve (broken HEAD, lying proxy): GET the tag instead
  }
  const got = await getManifest(
    ctx,
    ep,
    target,
    base + target.reference,
    what(target.reference),
    undefined,
    signal,
  );
  if (got === "not-found") throw new NotFoundError(what(target.reference).notFound);
  return got;
}

async function getManifest(
  ctx: ClientContext,
  ep: Endpoint,
  target: ManifestTarget,
  path: string,
  what: Parameters<typeof statusError>[1],
  expectedDigest: string | undefined,
  signal?: AbortSignal,
): Promise<ParsedManifest | "not-found"> {
  const res = await registryRequest(ctx, ep, target.repository, {
    method: "GET",
    path,
    headers: { accept: ACCEPT },
    ...(signal ? { signal } : {}),
  });
  if (res.status === 404 && expectedDigest && !isDigest(target.reference)) {
    discard(res);
    return "not-found";
  }
  if (res.status !== 200) throw await statusError(res, what);
  const len = Number(header(res, "content-length"));
  if (Number.isFinite(len) && len > MAX_MANIFEST_BYTES) {
    discard(res);
    throw new ManifestTooLargeError(display(target), len, MAX_MANIFEST_BYTES);
  }
  const raw = await readBody(
    res,
    MAX_MANIFEST_BYTES,
    (n) => new ManifestTooLargeError(display(target), n, MAX_MANIFEST_BYTES),
  );
  const where = `manifest ${display(target)} from ${ep.host}`;
  let parsed: ParsedManifest;
  try {
    parsed = parseManifestBytes(raw, header(res, "content-type"), expectedDigest ? { expectedDigest } : {});
  } catch (err) {
    if ((err as { code?: string }).code === "DIGEST_MISMATCH" && expectedDigest) {
      throw new BlobDigestMismatchError(
        `${where}: manifest`,
        expectedDigest,
        (err as { actual: string }).actual,
      );
    }
    throw inContext(err, where);
  }
  const announced = header(res, "docker-content-digest");
  if (announced) {
    // verify the header with the algorithm it names; a malformed header is itself a mismatch
    let actual = parsed.digest;
    if (isDigest(announced) && parseDigest(announced).algorithm !== parseDigest(parsed.digest).algorithm) {
      actual = digestOf(raw, parseDigest(announced).algorithm as DigestAlgorithm);
    }
    if (announced !== actual) {
      throw new BlobDigestMismatchError(
        `${where}: the Docker-Content-Digest header disagrees with the body; header`,
        announced,
        actual,
      );
    }
  }
  return parsed;
}
