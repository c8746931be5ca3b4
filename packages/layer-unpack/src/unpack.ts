import { realpathSync, statSync } from "node:fs";
import { isAbsolute } from "node:path";
import { type Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type DigestAlgorithm, InvalidDigestError, parseDigest } from "@strata/oci-types";
import { StreamApplier } from "./apply-stream.js";
import { compressionOf, createDecompressor, MagicCheck } from "./compression.js";
import { commandEffects, type UnpackEffects } from "./effects.js";
import { UnpackError } from "./errors.js";
import { Extractor, type WhiteoutMode } from "./extractor.js";
import { OffThreadDigest } from "./hash-worker.js";
import { TarParser } from "./tar-parser.js";
import { WriteBehind, type WriteThreadMode, wantsWriteThread } from "./write-behind.js";
import { type SharedSlot, ZstdDataError, ZstdSink } from "./zstd-worker.js";

export interface UnpackLimits {
  /** Cap on uncompressed bytes (the whole tar stream). Default 64 GiB. */
  maxBytes?: number;
  /** Cap on tar entries. Default 4,000,000. */
  maxEntries?: number;
}

export interface UnpackOptions {
  /** ONE directory; nothing outside it is touched. It must exist. */
  target: string;
  /** Picks gzip / zstd / none; the first bytes must agree. */
  mediaType: string;
  /** Compressed digest (of the bytes read from `input`). */
  expectedDigest?: string;
  /** Uncompressed digest (the layer's diffID). */
  expectedDiffId?: string;
  /**
   * Do not hash the compressed bytes: the caller verifies them itself before it trusts the result
   * (registry-pull checks every blob's digest before it commits). Not allowed with `expectedDigest`.
   * `UnpackResult.digest` is then undefined for compressed layers (an uncompressed layer's digest is
   * its diffID and is still reported).
   */
  skipDigest?: boolean;
  /** overlay: `.wh.X` → char 0/0, opaque → xattr. flat: delete from an existing rootfs. */
  whiteouts: WhiteoutMode;
  limits?: UnpackLimits;
  /**
   * Overlay mode only: the lower layers' directories, uppermost first. A directory the tar creates
   * implicitly (a parent with no entry of its own) copies owner, mode and times from the first of
   * these that has it, so it does not mask the lower directory's attributes in the merged view.
   */
  parents?: readonly string[];
  /** Where mknod/setxattr happen; defaults to host commands (`mknod`, `setfattr`). */
  effects?: UnpackEffects;
  /** zstd decoder: the native addon when it loads (default) or the pure-JS one. */
  zstd?: "native" | "js";
  /**
   * File data written by a second thread while this one parses and creates the next files: "auto"
   * (default) for layers over 4 MiB uncompressed on a machine with a CPU to spare for it (2 CPUs; 3 for
   * zstd layers, whose decoder has a thread of its own), "always", or "never". Results are the same
   * either way.
   */
  writeThread?: WriteThreadMode;
}

export interface UnpackResult {
  /** Digest of the compressed bytes read (undefined only with `skipDigest` on a compressed layer). */
  digest: string | undefined;
  /** Digest of the uncompressed tar stream. */
  diffId: string;
  /** Uncompressed tar stream length in bytes. */
  size: number;
  /** Tar entries (meta headers excluded, whiteouts included). */
  entries: number;
  /** Compressed bytes read. */
  compressedSize: number;
  /** Regular-file bytes written (a hardlinked file counted once). */
  contentSize: number;
}

export const DEFAULT_MAX_BYTES = 64 * 1024 ** 3;
export const DEFAULT_MAX_ENTRIES = 4_000_000;
const MAX_META_BYTES = 1024 * 1024;

function algorithmOf(digest: string | undefined, what: string): DigestAlgorithm {
  if (digest === undefined) return "sha256";
  try {
    return parseDigest(digest).algorithm;
  } catch (err) {
    if (!(err instanceof InvalidDigestError)) throw err;
    throw new UnpackError("INVALID_DIGEST", `${what}: ${err.message}`, { cause: err });
  }
}

/**
 * Unpack one layer in a single streaming pass: compressed digest → decompress → diffID → tar → files
 * under `target`. Resolves only when both digests match the expected values (when given). On failure
 * `target` may hold partial content: the caller discards it.
 */
export async function unpackLayer(input: Readable, options: UnpackOptions): Promise<UnpackResult> {
  try {
    return await unpackChecked(input, options);
  } finally {
    // Whatever happened (bad options included), nobody reads `input` any more: let its writer know.
    if (!input.destroyed && !input.readableEnded) input.destroy();
  }
}

async function unpackChecked(input: Readable, options: UnpackOptions): Promise<UnpackResult> {
  const compression = compressionOf(options.mediaType);
  const digestAlg = algorithmOf(options.expectedDigest, "expectedDigest");
  const diffAlg = algorithmOf(options.expectedDiffId, "expectedDiffId");
  if (options.whiteouts !== "overlay" && options.whiteouts !== "flat") {
    throw new TypeError(`whiteouts must be "overlay" or "flat", got ${JSON.stringify(options.whiteouts)}`);
  }
  if (!isAbsolute(options.target) || !statSync(options.target).isDirectory()) {
    throw new TypeError(
      `target must be an existing absolute directory, got ${JSON.stringify(options.target)}`,
    );
  }
  if (options.skipDigest === true && options.expectedDigest !== undefined) {
    throw new TypeError(
      "skipDigest and expectedDigest exclude each other: the digest cannot be checked without hashing",
    );
  }
  const maxBytes = options.limits?.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxEntries = options.limits?.maxEntries ?? DEFAULT_MAX_ENTRIES;

  // Resolve the target itself once, so that every path built below is already canonical.
  const target = realpathSync(options.target);
  const extractor = new Extractor(
    target,
    options.whiteouts,
    options.effects ?? commandEffects,
    options.whiteouts === "overlay" ? (options.parents ?? []) : [],
  );
  const parser = new TarParser(extractor, { maxEntries, maxBytes, maxMetaBytes: MAX_META_BYTES });
  const writeThread = options.writeThread ?? "auto";
  let compressedSize = 0;
  let size = 0;
  const countBytes = (chunk: Buffer): void => {
    size += chunk.length;
    if (size > maxBytes) {
      throw new UnpackError(
        "LIMIT_EXCEEDED",
        `The layer expands to more than ${maxBytes} bytes (limits.maxBytes); refusing to unpack it (decompression bomb?).`,
      );
    }
  };
  // Errors raised by the decoder mean corrupt compressed data, whatever their message says.
  let decoderError: unknown;
  // zstd with the native decoder: decoding and both digests run in ZstdSink (on a worker thread of this
  // unpack once the layer is over 1 MiB compressed), so this thread only parses tar and creates files;
  // their data is then written by a write-behind thread straight from the decoder's shared slots.
  const skipCompressed = options.skipDigest === true && compression !== "none";
  let zstdBehind: WriteBehind | undefined;
  // Asked once, at the first block from the decoder's thread.
  let zstdTryThread = wantsWriteThread(writeThread, 1);
  const zstdBlock = (chunk: Buffer, slot: SharedSlot | undefined): boolean => {
    countBytes(chunk);
    if (slot !== undefined && zstdTryThread) {
      zstdTryThread = false;
      zstdBehind = WriteBehind.over(chunk.buffer as SharedArrayBuffer, slot.state);
      if (zstdBehind !== undefined) extractor.setOutput(zstdBehind);
    }
    parser.push(chunk);
    if (slot === undefined || zstdBehind === undefined) return false;
    zstdBehind.release(slot.index);
    return true;
  };
  const zstdSink =
    compression === "zstd" && (options.zstd ?? "native") === "native"
      ? ZstdSink.create(skipCompressed ? undefined : digestAlg, diffAlg, zstdBlock)
      : undefined;
  const decompressor =
    zstdSink === undefined ? createDecompressor(compression, { zstd: options.zstd ?? "native" }) : undefined;
  // An uncompressed layer's digest is its diffID: hash the bytes once.
  const oneHash = compression === "none" && digestAlg === diffAlg;
  // The compressed digest is computed on the shared hashing thread (for streams over a few MiB), so
  // SHA-256 runs in parallel with decompression and the file writes here.
  const compressedHash =
    skipCompressed || zstdSink !== undefined || oneHash ? undefined : new OffThreadDigest(digestAlg);
  const applier =
    zstdSink === undefined ? new StreamApplier(parser, extractor, diffAlg, writeThread) : undefined;

  const check = new MagicCheck(
    compression,
    options.mediaType,
    (chunk) => {
      compressedHash?.update(chunk);
      compressedSize += chunk.length;
    },
    () => compressedHash?.backlog(),
  );
  const apply = (chunk: Buffer, cb: (err?: Error | null) => void): void => {
    let wait: Promise<void> | undefined;
    try {
      countBytes(chunk);
      wait = applier?.push(chunk);
    } catch (err) {
      cb(err as Error);
      return;
    }
    if (wait === undefined) cb();
    else wait.then(() => cb(), cb);
  };
  const sink =
    zstdSink ??
    new Writable({
      highWaterMark: 256 * 1024,
      write(chunk: Buffer, _enc, cb) {
        // Apply the chunk after the current call stack: when a decompressor pushed it, the decompressor
        // first queues its next block (zlib inflates on the thread pool), so inflate overlaps the writes.
        queueMicrotask(() => apply(chunk, cb));
      },
      final(cb) {
        try {
          parser.end();
          cb();
        } catch (err) {
          cb(err as Error);
        }
      },
    });

  decompressor?.once("error", (err) => {
    decoderError = err;
  });
  try {
    if (decompressor === undefined) await pipeline(input, check, sink);
    else await pipeline(input, check, decompressor, sink);
    let digest: string | undefined;
    let diffId: string;
    if (zstdSink !== undefined) {
      parser.end();
      await zstdBehind?.end();
      const hex = zstdSink.digests as { digest: string | undefined; diffId: string };
      digest = hex.digest === undefined ? undefined : `${digestAlg}:${hex.digest}`;
      diffId = `${diffAlg}:${hex.diffId}`;
    } else {
      [digest, diffId] = await Promise.all([compressedHash?.digest(), (applier as StreamApplier).end()]);
      if (oneHash) digest = diffId;
    }
    if (options.expectedDigest !== undefined && digest !== options.expectedDigest) {
      throw new UnpackError(
        "DIGEST_MISMATCH",
        `Layer digest is ${digest} but ${options.expectedDigest} was expected: the download is corrupt or the wrong blob.`,
      );
    }
    if (options.expectedDiffId !== undefined && diffId !== options.expectedDiffId) {
      throw new UnpackError(
        "DIGEST_MISMATCH",
        `Layer diffID is ${diffId} but the image config expects ${options.expectedDiffId}: the layer does not belong to this image.`,
      );
    }
    extractor.finish();
    return {
      digest,
      diffId,
      size,
      entries: parser.entries,
      compressedSize,
      contentSize: extractor.contentBytes,
    };
  } catch (err) {
    extractor.abort();
    zstdSink?.destroy();
    compressedHash?.dispose();
    // Files handed to a writer thread are closed by it: wait, so none is written after we return.
    await Promise.all([applier?.abort(), zstdBehind?.abort()]);
    if (err instanceof UnpackError) throw err;
    if (err === decoderError || err instanceof ZstdDataError) {
      throw new UnpackError(
        "INVALID_TAR",
        `The ${compression} layer data is corrupt (${(err as Error).message}); download the blob again.`,
        { cause: err },
      );
    }
    throw err;
  }
}
