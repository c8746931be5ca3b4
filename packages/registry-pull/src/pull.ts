/**
 * resolve: reference → (index → platform manifest)* → config → layers.
 * pull: resolve, then hand each layer to the sink (skipping ones it has), with bounded concurrency.
 */
import {
  type Descriptor,
  hostPlatform,
  isDigest,
  normalizePlatform,
  type ParsedManifest,
  type Platform,
  parseImageConfigBytes,
  parsePlatform,
  parseReference,
  type Reference,
  selectManifest,
} from "@strata/oci-types";
import { type BlobSource, downloadBlob, fetchSmallBlob } from "./blob.js";
import { ClientContext, type Endpoint, type RegistryClientOptions } from "./client.js";
import { AbortedError, isAbort, RegistryError } from "./errors.js";
import { fetchManifest, inContext } from "./manifest.js";
import type { ImageSink, PullEvent, ResolvedImage } from "./types.js";

export interface ResolveOptions {
  /** `os/arch[/variant]` or a Platform; default the host's. */
  platform?: string | Platform;
  signal?: AbortSignal;
}

export interface PullOptions extends ResolveOptions {
  onProgress?: (event: PullEvent) => void;
}

/** Image configs larger than this are refused (real ones are a few KiB). */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
const MAX_INDEX_DEPTH = 4;

/** Where an image was resolved, so blobs come from the same endpoint first. */
const origins = new WeakMap<ResolvedImage, { endpoints: Endpoint[] }>();

export interface RegistryClient {
  resolve(reference: string | Reference, options?: ResolveOptions): Promise<ResolvedImage>;
  pull(reference: string | Reference, sink: ImageSink, options?: PullOptions): Promise<ResolvedImage>;
  /** Close pooled connections (only those of the default transport). */
  close(): Promise<void>;
  /** Bearer tokens fetched so far (observability). */
  readonly tokenFetches: number;
}

export function createRegistryClient(options: RegistryClientOptions = {}): RegistryClient {
  const ctx = new ClientContext(options);
  return {
    resolve: (ref, o = {}) => resolveWith(ctx, ref, o),
    pull: (ref, sink, o = {}) => pullWith(ctx, ref, sink, o),
    close: () => ctx.close(),
    get tokenFetches() {
      return ctx.auth.tokenFetches;
    },
  };
}

/** One-shot resolve with a throwaway client. */
export async function resolveImage(
  reference: string | Reference,
  options: RegistryClientOptions & ResolveOptions = {},
): Promise<ResolvedImage> {
  const client = createRegistryClient(options);
  try {
    return await client.resolve(reference, options);
  } finally {
    await client.close();
  }
}

/** One-shot pull with a throwaway client. */
export async function pullImage(
  reference: string | Reference,
  sink: ImageSink,
  options: RegistryClientOptions & PullOptions = {},
): Promise<ResolvedImage> {
  const client = createRegistryClient(options);
  try {
    return await client.pull(reference, sink, options);
  } finally {
    await client.close();
  }
}

function wantedPlatform(p: string | Platform | undefined): Platform {
  if (p === undefined) return hostPlatform();
  try {
    return typeof p === "string" ? parsePlatform(p) : normalizePlatform(p);
  } catch (err) {
    throw inContext(err, "platform option");
  }
}

function validateDescriptor(d: Descriptor, what: string): void {
  // CVE-2024-3727: a digest goes into URLs and paths only after strict validation
  if (!isDigest(d.digest))
    throw new RegistryError("INVALID_MANIFEST", `${what} has an invalid digest ${JSON.stringify(d.digest)}`);
  if (!Number.isSafeInteger(d.size) || d.size < 0) {
    throw new RegistryError("INVALID_MANIFEST", `${what} has an invalid size ${JSON.stringify(d.size)}`);
  }
}

function refString(ref: Reference): string {
  return ref.digest ? `${ref.name}@${ref.digest}` : `${ref.name}:${ref.tag ?? "latest"}`;
}

async function resolveWith(
  ctx: ClientContext,
  input: string | Reference,
  options: ResolveOptions,
): Promise<ResolvedImage> {
  const reference = typeof input === "string" ? parseReference(input) : input;
  const want = wantedPlatform(options.platform);
  const endpoints = ctx.endpoints(reference.registry);
  let lastErr: unknown;
  for (const [i, ep] of endpoints.entries()) {
    try {
      // blobs: this endpoint first, then the others in order
      const order = [ep, ...endpoints.filter((_, j) => j !== i)];
      const image = await resolveOn(ctx, order, reference, want, options.signal);
      origins.set(image, { endpoints: order });
      return image;
    } catch (err) {
      if (isAbort(err) || options.signal?.aborted)
        throw abortError(err, refString(reference), options.signal);
      lastErr = err;
      // mirror failed: fall back to the next mirror, then the origin. Errors about the image itself
      // (bad platform, schema1, bad manifest) would repeat on the origin, but the origin is the
      // authority, so it gets the last word.
    }
  }
  throw lastErr;
}

function abortError(err: unknown, what: string, signal?: AbortSignal): unknown {
  if (err instanceof AbortedError) return err;
  return new AbortedError(`pull of ${what}`, signal?.reason ?? err);
}

async function resolveOn(
  ctx: ClientContext,
  order: Endpoint[],
  reference: Reference,
  want: Platform,
  signal?: AbortSignal,
): Promise<ResolvedImage> {
  const ep = order[0] as Endpoint;
  const target = { registry: reference.registry, repository: reference.repository };
  let doc: ParsedManifest = await fetchManifest(
    ctx,
    ep,
    { ...target, reference: reference.digest ?? reference.tag ?? "latest" },
    signal,
  );
  let indexDoc: ParsedManifest | undefined;
  let chosen: Descriptor | undefined;
  for (let depth = 0; doc.kind === "index"; depth++) {
    if (depth >= MAX_INDEX_DEPTH) {
      throw new RegistryError(
        "INVALID_MANIFEST",
        `${refString(reference)}: indexes nested more than ${MAX_INDEX_DEPTH} deep`,
      );
    }
    indexDoc ??= doc;
    try {
      chosen = selectManifest(doc.value, want);
    } catch (err) {
      throw inContext(err, refString(reference));
    }
    validateDescriptor(chosen, `${refString(reference)}: index entry`);
    doc = await fetchManifest(ctx, ep, { ...target, reference: chosen.digest }, signal);
  }
  const manifest = doc;
  const value = manifest.value;
  if (!("config" in value))
    throw new RegistryError("INVALID_MANIFEST", `${refString(reference)}: manifest has no config`);
  validateDescriptor(value.config, `${refString(reference)}: config`);
  for (const [i, l] of value.layers.entries()) validateDescriptor(l, `${refString(reference)}: layer ${i}`);

  const raw = await fetchSmallBlob(
    ctx,
    order.map((e) => ({ kind: "registry" as const, ep: e })),
    {
      repository: reference.repository,
      descriptor: value.config,
      label: `config of ${refString(reference)}`,
    },
    MAX_CONFIG_BYTES,
    signal,
  );
  let config: ReturnType<typeof parseImageConfigBytes>;
  try {
    config = parseImageConfigBytes(raw, { expectedDigest: value.config.digest });
  } catch (err) {
    throw inContext(err, `config of ${refString(reference)}`);
  }
  const cfg = config.value;
  const platform: Platform = normalizePlatform({
    os: cfg.os,
    architecture: cfg.architecture,
    ...(cfg.variant
      ? { variant: cfg.variant }
      : chosen?.platform?.variant
        ? { variant: chosen.platform.variant }
        : {}),
    ...(cfg["os.version"] ? { "os.version": cfg["os.version"] } : {}),
  });
  const image: ResolvedImage = {
    reference,
    manifestDigest: manifest.digest,
    manifest,
    config: { digest: config.digest, raw: config.raw, value: cfg },
    layers: [...value.layers],
    platform,
  };
  if (indexDoc) {
    image.index = indexDoc;
    image.indexDigest = indexDoc.digest;
  }
  return image;
}

async function pullWith(
  ctx: ClientContext,
  input: string | Reference,
  sink: ImageSink,
  options: PullOptions,
): Promise<ResolvedImage> {
  const image = await resolveWith(ctx, input, options);
  const onProgress = options.onProgress;
  // a broken progress callback (a UI bug) must not fail or retry the pull
  const emit = (e: PullEvent) => {
    try {
      onProgress?.(e);
    } catch {
      // ignored, by design (documented)
    }
  };
  emit({ type: "resolved", image });
  const { endpoints } = origins.get(image) ?? { endpoints: ctx.endpoints(image.reference.registry) };
  const name = refString(image.reference);

  // one failure stops the others; the caller's signal stops everything
  const internal = new AbortController();
  const onAbort = () => internal.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  const signal = internal.signal;

  image.layers.forEach((l, index) => {
    emit({ type: "layer", index, digest: l.digest, size: l.size, status: "waiting" });
  });
  let next = 0;
  let firstError: unknown;
  const worker = async () => {
    while (next < image.layers.length && !signal.aborted) {
      const index = next++;
      const layer = image.layers[index] as Descriptor;
      const base = { type: "layer" as const, index, digest: layer.digest, size: layer.size };
      try {
        if (await sink.hasLayer(image, index)) {
          emit({ ...base, status: "present" });
          continue;
        }
        const sources: BlobSource[] = [];
        for (const u of layer.urls ?? []) {
          try {
            const url = new URL(u);
            if (
              (url.protocol === "https:" || (url.protocol === "http:" && ctx.policy.isInsecure(url.host))) &&
              !url.username
            ) {
              sources.push({ kind: "url", url });
            }
          } catch {
            // an unparseable foreign URL is skipped; the registry is still tried
          }
        }
        for (const ep of endpoints) sources.push({ kind: "registry", ep });
        await downloadBlob(
          ctx,
          sources,
          { repository: image.reference.repository, descriptor: layer, label: `layer ${index} of ${name}` },
          () => sink.openLayer(image, index),
          // called for every chunk: build the event only when someone listens
          onProgress ? (e) => emit({ ...base, ...e } as PullEvent) : () => {},
          signal,
        );
        emit({ ...base, status: "done" });
      } catch (err) {
        if (firstError === undefined) firstError = err;
        internal.abort(err);
        return;
      }
    }
  };
  try {
    await Promise.all(
      Array.from({ length: Math.min(ctx.concurrency, Math.max(1, image.layers.length)) }, worker),
    );
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  if (options.signal?.aborted) throw abortError(firstError, name, options.signal);
  if (firstError !== undefined) throw firstError;
  await sink.commitImage(image);
  emit({ type: "committed", image });
  return image;
}
