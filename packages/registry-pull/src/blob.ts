/**
 * Blob downloads: streamed into the sink's writer, hashed and size-checked as they flow, resumed
 * with Range after an interruption (restarted from zero when the server ignores Range), retried
 * with backoff, and tried against each source in turn (mirrors, then the registry; foreign `urls`
 * first, without credentials).
 */
import { createHash, type Hash } from "node:crypto";
import type { Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { type Descriptor, parseDigest } from "@strata/oci-types";
import { type ClientContext, type Endpoint, registryRequest, statusError } from "./client.js";
import {
  AbortedError,
  BlobDigestMismatchError,
  BlobSizeMismatchError,
  isAbort,
  NetworkError,
  RegistryError,
} from "./errors.js";
import { discard, type HttpResponse, header, readBody, sendFollowing, wrapNetworkError } from "./http.js";
import { pump, SinkFailure } from "./pump.js";
import { RetryableError, withRetry } from "./retry.js";

export type BlobSource = { kind: "registry"; ep: Endpoint } | { kind: "url"; url: URL };

export interface BlobTarget {
  repository: string;
  descriptor: Descriptor;
  /** For messages: "layer 2 of docker.io/library/ubuntu:20.04". */
  label: string;
}

export interface LayerWriterLike {
  stream: Writable;
  commit(): Promise<void>;
  abort(reason: Error): Promise<void>;
  releasesChunks?: boolean;
}

export type BlobEvent =
  | { status: "downloading"; bytes: number; total: number }
  | { status: "verifying" }
  | { status: "retrying"; attempt: number; delayMs: number; reason: string }
  | { status: "restarted"; reason: string };

function sourceName(s: BlobSource): string {
  return s.kind === "registry" ? s.ep.host : s.url.host;
}

async function openBlob(
  ctx: ClientContext,
  source: BlobSource,
  target: BlobTarget,
  offset: number,
  signal?: AbortSignal,
): Promise<HttpResponse & { url: URL }> {
  const headers: Record<string, string> = { accept: "*/*" };
  if (offset > 0) headers.range = `bytes=${offset}-`;
  if (source.kind === "registry") {
    return registryRequest(ctx, source.ep, target.repository, {
      method: "GET",
      path: `/v2/${target.repository}/blobs/${target.descriptor.digest}`,
      headers,
      ...(signal ? { signal } : {}),
    });
  }
  // Foreign URL (CVE-2020-15157): never any credentials, on any hop.
  return sendFollowing(
    ctx.transport,
    { method: "GET", url: source.url, headers, ...(signal ? { signal } : {}) },
    { policy: ctx.policy },
  );
}

function blobError(ctx: ClientContext, source: BlobSource, target: BlobTarget) {
  const host = sourceName(source);
  return {
    subject: `${target.label} (${target.descriptor.digest})`,
    notFound: `${target.label}: blob ${target.descriptor.digest} not found in ${target.repository} on ${host}`,
    host,
    repository: target.repository,
    authenticated:
      source.kind === "registry" &&
      ctx.auth.authorization(source.ep.host, `repository:${target.repository}:pull`) !== undefined,
  };
}

/** `bytes START-END/TOTAL` → START, or undefined. */
export function contentRangeStart(value: string | undefined): number | undefined {
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(value?.trim() ?? "");
  return m ? Number(m[1]) : undefined;
}

/**
 * Download one blob into a writer obtained from `open()`. On success the writer is ended and
 * committed; on any failure it is aborted. A restart from zero aborts the writer and opens a new one.
 */
export async function downloadBlob(
  ctx: ClientContext,
  sources: BlobSource[],
  target: BlobTarget,
  open: () => Promise<LayerWriterLike>,
  onEvent: (e: BlobEvent) => void,
  signal?: AbortSignal,
): Promise<void> {
  const { digest, size } = target.descriptor;
  const algorithm = parseDigest(digest).algorithm;
  let writer: LayerWriterLike | undefined;
  let hash: Hash = createHash(algorithm);
  let received = 0;
  let resumed = false;
  let restartedAfterMismatch = false;
  const reset = async (reason: Error) => {
    const w = writer;
    writer = undefined;
    hash = createHash(algorithm);
    received = 0;
    resumed = false;
    if (w) {
      try {
        await w.abort(reason);
      } catch (err) {
        throw new SinkFailure(err);
      }
      onEvent({ status: "restarted", reason: reason.message });
    }
  };

  const attempt = async (source: BlobSource) => {
    const res = await openBlob(ctx, source, target, received, signal);
    if (res.status === 200 && received > 0) {
      // the server ignored Range: start over
      await reset(new Error(`${sourceName(source)} does not support Range; restarting from zero`));
    } else if (res.status === 206) {
      const start = contentRangeStart(header(res, "content-range"));
      if (start !== received) {
        discard(res);
        await reset(new Error(`${sourceName(source)} answered an unexpected Content-Range; restarting`));
        throw new RetryableError(
          new NetworkError(`${target.label}: unexpected Content-Range from ${sourceName(source)}`),
        );
      }
      resumed = true;
    } else if (res.status === 416) {
      discard(res);
      await reset(new Error("range not satisfiable; restarting"));
      throw new RetryableError(
        new NetworkError(`${target.label}: ${sourceName(source)} refused the resume range`),
      );
    } else if (res.status !== 200) {
      throw await statusError(res, blobError(ctx, source, target));
    }
    const announced =
      source.kind === "registry" && res.url.origin === source.ep.base.origin
        ? header(res, "docker-content-digest")
        : undefined;
    if (announced && announced !== digest) {
      discard(res);
      throw new BlobDigestMismatchError(
        `${target.label}: ${sourceName(source)} announced Docker-Content-Digest ${announced} for blob`,
        digest,
        announced,
      );
    }
    if (!writer) {
      try {
        writer = await open();
      } catch (err) {
        discard(res);
        throw new SinkFailure(err);
      }
    }
    const stream = writer.stream;
    try {
      await pump(
        res.body,
        stream,
        writer.releasesChunks === true,
        size,
        (chunk) => {
          hash.update(chunk);
          received += chunk.length;
          onEvent({ status: "downloading", bytes: received, total: size });
        },
        (actual) => new BlobSizeMismatchError(`${target.label}: blob`, digest, size, actual),
        () => received,
      );
    } catch (err) {
      if (err instanceof BlobSizeMismatchError) {
        await reset(err);
        throw err;
      }
      if (err instanceof SinkFailure || err instanceof RegistryError) throw err;
      if (signal?.aborted) throw new AbortedError(`download of ${target.label}`, signal.reason);
      throw new NetworkError(
        `${target.label}: download from ${sourceName(source)} interrupted after ${received} of ${size} bytes: ${(err as Error).message}`,
        err,
      );
    }
    if (received < size) {
      throw new NetworkError(
        `${target.label}: ${sourceName(source)} ended the body after ${received} of ${size} bytes`,
      );
    }
    onEvent({ status: "verifying" });
    const actual = `${algorithm}:${hash.digest("hex")}`;
    if (actual !== digest) {
      const err = new BlobDigestMismatchError(`${target.label}: blob`, digest, actual);
      const wasResumed = resumed;
      await reset(err);
      // moby: a mismatch after a resumed download is retried once from scratch
      if (wasResumed && !restartedAfterMismatch) {
        restartedAfterMismatch = true;
        throw new RetryableError(err);
      }
      throw err;
    }
  };

  try {
    let lastErr: unknown;
    let done = false;
    for (const source of sources) {
      try {
        await withRetry(`download of ${target.label}`, ctx.retry, () => attempt(source), {
          ...(signal ? { signal } : {}),
          onRetry: (n, delayMs, err) =>
            onEvent({ status: "retrying", attempt: n, delayMs, reason: err.message }),
        });
        done = true;
        break;
      } catch (err) {
        if (err instanceof SinkFailure || isAbort(err) || signal?.aborted) throw err;
        lastErr = err;
        // content-addressed: any other source may serve the right bytes; keep what we have
      }
    }
    if (!done) throw lastErr ?? new NetworkError(`${target.label}: no source to download from`);
    const w = writer ?? (await open());
    writer = w;
    try {
      w.stream.end();
      await finished(w.stream);
    } catch (err) {
      throw new SinkFailure(err);
    }
    writer = undefined;
    try {
      await w.commit();
    } catch (err) {
      await w.abort(err as Error).catch(() => {});
      throw new SinkFailure(err);
    }
  } catch (err) {
    const w = writer;
    writer = undefined;
    const reason = err instanceof SinkFailure ? (err.inner as Error) : (err as Error);
    if (w) await w.abort(reason).catch(() => {});
    if (err instanceof SinkFailure) throw err.inner;
    if (signal?.aborted && !(err instanceof AbortedError))
      throw new AbortedError(`download of ${target.label}`, signal.reason);
    throw err;
  }
}

/** Fetch a small blob (the config) into memory, verified by digest and size. */
export async function fetchSmallBlob(
  ctx: ClientContext,
  sources: BlobSource[],
  target: BlobTarget,
  limit: number,
  signal?: AbortSignal,
): Promise<Buffer> {
  const { digest, size } = target.descriptor;
  if (size > limit) {
    throw new RegistryError(
      "INVALID_MANIFEST",
      `${target.label} ${digest} claims ${size} bytes, more than the ${limit}-byte limit`,
    );
  }
  const algorithm = parseDigest(digest).algorithm;
  let lastErr: unknown;
  for (const source of sources) {
    try {
      return await withRetry(
        `download of ${target.label}`,
        ctx.retry,
        async () => {
          const res = await openBlob(ctx, source, target, 0, signal);
          if (res.status !== 200) throw await statusError(res, blobError(ctx, source, target));
          let buf: Buffer;
          try {
            buf = await readBody(
              res,
              size,
              (n) => new BlobSizeMismatchError(`${target.label}: blob`, digest, size, n),
            );
          } catch (err) {
            if (err instanceof RegistryError) throw err;
            throw wrapNetworkError(err, "GET", res.url);
          }
          if (buf.length !== size) {
            throw new NetworkError(
              `${target.label}: ${sourceName(source)} sent ${buf.length} of ${size} bytes`,
            );
          }
          const actual = `${algorithm}:${createHash(algorithm).update(buf).digest("hex")}`;
          if (actual !== digest) throw new BlobDigestMismatchError(`${target.label}: blob`, digest, actual);
          return buf;
        },
        signal ? { signal } : {},
      );
    } catch (err) {
      if (isAbort(err) || signal?.aborted) throw err;
      lastErr = err;
    }
  }
  throw lastErr;
}
