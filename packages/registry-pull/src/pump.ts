/**
 * Moving a blob's body into the sink's stream: each chunk is counted and seen by `onChunk` (the
 * hash) before it is written, back-pressure pauses the body, and the promise settles at the end.
 */
import type { Readable, Writable } from "node:stream";
import { type BodyChunks, bodyChunks, kBodyChunks } from "./http.js";

/** A failure of the sink (its stream or writer), as opposed to the download. */
export class SinkFailure extends Error {
  constructor(readonly inner: unknown) {
    super("sink failed");
  }
}

/**
 * Bodies that offer views of their read buffer (http.ts `kBodyChunks`) are gathered into batches
 * of this size for the sink: one stream write per 256 KiB instead of one per socket read. Where the
 * transport lets us, the socket reads straight into the batch (`readInto`); otherwise views are
 * copied in. When the writer `releasesChunks`, a batch is reused once its write completed;
 * otherwise every batch is a fresh buffer, because the stream may keep what it was given. Reuse
 * matters: faulting in fresh memory for every byte cost more than a copy (bench/pull/RESULTS.md).
 */
const BATCH = 256 * 1024;
/** Spare batches kept per pump (the stream's own buffer holds the ones in flight). */
const SPARE_BATCHES = 8;
/** A batch with less room than this is written out, so every socket read gets a useful region. */
const MIN_READ = 16 * 1024;

/**
 * Pump a response body into the sink's stream. Rejects with a SinkFailure for sink problems, with
 * `tooLarge(n)` when the body exceeds `size` (the body is destroyed first, and the offending chunk
 * is neither seen nor written), and with the body's own error otherwise. Every byte `onChunk` saw
 * has been handed to the stream when the promise settles, so a resumed download stays continuous.
 *
 * A 'data' listener (or the direct chunk callback) rather than `for await`: the async iterator
 * costs a promise and several ticks per chunk (about 800 for a 50 MB blob), which showed up as
 * 15–30 ms of CPU per pull (bench/pull/RESULTS.md).
 */
export function pump(
  body: Readable,
  stream: Writable,
  reuseBatches: boolean,
  size: number,
  /** Sees every chunk (the hash, the count) before it is written. */
  onChunk: (chunk: Buffer) => void,
  tooLarge: (actual: number) => Error,
  received: () => number,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const direct = bodyChunks(body);
    /** Set once the body delivers views (then resumed with resumeChunks, not resume). */
    let chunked: BodyChunks | undefined;
    let settled = false;
    let batch: Buffer | undefined;
    let batchLen = 0;
    const spare: Buffer[] = [];
    /** Reading is paused until the stream drains. */
    let awaitingDrain = false;

    const write = (chunk: Buffer, whole?: Buffer): boolean => {
      try {
        if (whole === undefined) return stream.write(chunk);
        return stream.write(chunk, (err) => {
          if (!err && spare.length < SPARE_BATCHES) spare.push(whole);
        });
      } catch (err) {
        body.destroy();
        finish(new SinkFailure(err));
        return false;
      }
    };
    const flushBatch = (): boolean => {
      if (batch === undefined || batchLen === 0) return true;
      const whole = batch;
      const full = batchLen === whole.length ? whole : whole.subarray(0, batchLen);
      batch = undefined;
      batchLen = 0;
      return write(full, reuseBatches ? whole : undefined);
    };
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      body.off("data", onData);
      body.off("end", onEnd);
      body.off("error", onBodyError);
      body.off("close", onBodyClose);
      stream.off("drain", onDrain);
      stream.off("error", onSinkError);
      stream.off("close", onSinkClose);
      if (!(err instanceof SinkFailure)) flushBatch();
      if (err === undefined) resolve();
      else reject(err);
    };
    const accept = (chunk: Buffer): boolean => {
      if (settled) return false;
      if (received() + chunk.length > size) {
        body.destroy();
        finish(tooLarge(received() + chunk.length));
        return false;
      }
      onChunk(chunk);
      return true;
    };
    const onData = (chunk: Buffer) => {
      if (!accept(chunk)) return;
      if (!write(chunk)) {
        awaitingDrain = true;
        body.pause();
      }
    };
    /**
     * A view of the transport's buffer, copied into the batch before the call returns; or the
     * region `readInto` lent for it, already in place in the batch.
     */
    const onView = (view: Buffer): boolean => {
      if (!accept(view)) return false;
      if (
        batch !== undefined &&
        view.buffer === batch.buffer &&
        view.byteOffset === batch.byteOffset + batchLen &&
        view.length <= batch.length - batchLen
      ) {
        batchLen += view.length;
      } else {
        for (let off = 0; off < view.length; ) {
          batch ??= spare.pop() ?? Buffer.allocUnsafeSlow(BATCH);
          const n = view.copy(batch, batchLen, off);
          batchLen += n;
          off += n;
          if (batchLen === batch.length && !flushBatch()) awaitingDrain = true;
        }
      }
      if (batch !== undefined && batch.length - batchLen < MIN_READ && !flushBatch()) awaitingDrain = true;
      return !settled && !awaitingDrain;
    };
    /** The next socket read goes straight into the batch (the kernel's copy is the only one). */
    const readInto = (max: number): Buffer | undefined => {
      if (settled) return undefined;
      batch ??= spare.pop() ?? Buffer.allocUnsafeSlow(BATCH);
      return batch.subarray(batchLen, batchLen + Math.min(batch.length - batchLen, max));
    };
    const onDrain = () => {
      awaitingDrain = false;
      if (settled) return;
      if (chunked) chunked.resumeChunks();
      else body.resume();
    };
    const onEnd = () => finish();
    const onBodyError = (err: unknown) => finish(err);
    const onBodyClose = () => {
      if (!body.readableEnded)
        finish(body.errored ?? new Error("the connection closed before the body ended"));
    };
    const onSinkError = (err: unknown) => {
      body.destroy();
      finish(new SinkFailure(err));
    };
    const onSinkClose = () => {
      body.destroy();
      finish(new SinkFailure(stream.errored ?? new Error("layer writer closed early")));
    };
    stream.on("drain", onDrain);
    stream.on("error", onSinkError);
    stream.on("close", onSinkClose);
    if (body.destroyed) {
      // failed (aborted, reset) before we got to it: no event will come any more
      finish(body.errored ?? new Error("the connection closed before the body ended"));
      return;
    }
    if (direct?.[kBodyChunks](onView, (err) => finish(err), readInto)) {
      chunked = direct;
      return;
    }
    body.on("error", onBodyError);
    body.on("end", onEnd);
    body.on("close", onBodyClose);
    body.on("data", onData);
  });
}
