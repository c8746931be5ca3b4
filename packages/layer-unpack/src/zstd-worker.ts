import { createHash, type Hash } from "node:crypto";
import { createRequire } from "node:module";
import { Writable } from "node:stream";
import { Worker } from "node:worker_threads";
import type { DigestAlgorithm } from "@strata/oci-types";

/**
 * zstd decoding on a worker thread, together with both digests of the layer, so the main thread only
 * parses tar and creates files (as `tar --zstd` runs `zstd -d` in its own process).
 *
 * Output travels through a ring of shared-memory slots: the worker decodes into a free slot, hashes it
 * (diffID), marks it full and posts its number; the main thread applies the block synchronously and marks
 * it free. The worker blocks (Atomics.wait) when every slot is full, so at most SLOTS × SLOT bytes are
 * decoded ahead of the file writes, whatever the compression ratio (a zstd bomb stays bounded). The
 * main thread never blocks on the worker: it keeps up to INPUT_AHEAD compressed bytes in flight and
 * pauses its input beyond that. Small layers never start the thread (see ZstdSink).
 *
 * The worker's source is an eval'd string (plain CommonJS), so bundlers need no extra file; it loads
 * zstd-napi's native binding by the path resolved here.
 */

const SLOT = 1024 * 1024;
const SLOTS = 16;
/**
 * Compressed bytes taken before the thread is started: a smaller layer is decoded on the main thread
 * (starting a worker costs ~30 ms, more than decoding a small layer).
 */
const LAZY_START = 1024 * 1024;
/** Compressed bytes posted to the worker and not yet decoded before the input is paused. */
const INPUT_AHEAD = 2 * 1024 * 1024;
/** Index in the state array of the abort flag (after the slot states). */
const ABORT = SLOTS;

const WORKER_SOURCE = `
const { parentPort, workerData: w } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const binding = require(w.binding);
const dctx = new binding.DCtx();
const state = new Int32Array(w.state);
const slots = new Uint8Array(w.slots);
const digest = w.digestAlg ? createHash(w.digestAlg) : undefined;
const diff = createHash(w.diffAlg);
let cur = 0;
let fill = 0;
let inFrame = false;

function acquire() {
  // 1 = full (the main thread still applies it); wait for it to be handed back, or for an abort.
  while (Atomics.load(state, cur) === 1) {
    if (Atomics.load(state, ${ABORT}) === 1) throw new Error("aborted");
    Atomics.wait(state, cur, 1, 1000);
  }
}

function flush() {
  if (fill === 0) return;
  const block = slots.subarray(cur * ${SLOT}, cur * ${SLOT} + fill);
  diff.update(block);
  Atomics.store(state, cur, 1);
  parentPort.postMessage({ op: "block", slot: cur, len: fill });
  cur = (cur + 1) % ${SLOTS};
  fill = 0;
}

function decode(src) {
  if (digest) digest.update(src);
  for (;;) {
    if (fill === 0) acquire();
    const dst = slots.subarray(cur * ${SLOT} + fill, (cur + 1) * ${SLOT});
    const [ret, produced, consumed] = dctx.decompressStream(dst, src);
    fill += produced;
    src = src.subarray(consumed);
    if (fill === ${SLOT}) flush();
    if (src.length === 0 && (produced < dst.length || ret === 0)) {
      inFrame = ret !== 0;
      return;
    }
  }
}

parentPort.on("message", (m) => {
  try {
    if (m.op === "data") {
      decode(new Uint8Array(m.buf));
      parentPort.postMessage({ op: "ack", len: m.buf.byteLength });
    } else if (m.op === "end") {
      flush();
      if (inFrame) throw new Error("the stream ended in the middle of a zstd frame");
      parentPort.postMessage({
        op: "done",
        digest: digest ? digest.digest("hex") : undefined,
        diffId: diff.digest("hex"),
      });
    }
  } catch (err) {
    parentPort.postMessage({ op: "error", message: String(err && err.message || err) });
  }
});
`;

type Reply =
  | { op: "block"; slot: number; len: number }
  | { op: "ack"; len: number }
  | { op: "done"; digest: string | undefined; diffId: string }
  | { op: "error"; message: string };

/** Thrown for data the decoder rejects (corrupt or truncated zstd). */
export class ZstdDataError extends Error {}

interface DCtx {
  decompressStream(dst: Uint8Array, src: Uint8Array): [number, number, number];
}
let bindingPath: string | null | undefined;

/** Where zstd-napi's binding loader is, when the native addon loads here at all. */
function zstdBinding(): string | undefined {
  if (bindingPath === undefined) {
    try {
      const require = createRequire(import.meta.url);
      const path = require.resolve("zstd-napi/binding");
      require(path); // load it here once: a broken addon falls back to the in-thread decoders
      bindingPath = path;
    } catch {
      bindingPath = null;
    }
  }
  return bindingPath ?? undefined;
}

/** A decoded block's place in the decoder's shared slots, for a consumer that releases it later. */
export interface SharedSlot {
  /** Int32 words, one per slot: 0 = free for the decoder, 1 = full. */
  state: SharedArrayBuffer;
  index: number;
}

/**
 * Receives each decoded block. Without a slot, or when it returns false, the block's memory is reused
 * after the call; when it returns true the consumer took the slot and frees it (state word to 0,
 * Atomics.notify) once it is done with the bytes.
 */
export type BlockConsumer = (chunk: Buffer, slot: SharedSlot | undefined) => boolean;

export interface WorkerDecodeHooks {
  block: BlockConsumer;
  /** The decoder or `block` failed: the unpack is over. */
  failed(err: unknown): void;
}

/**
 * One layer's zstd stream, decoded and hashed on its own worker thread. Undefined from `start` when no
 * worker can be started (the caller then decodes on this thread).
 */
class ZstdWorkerDecoder {
  private readonly state = new SharedArrayBuffer(4 * (SLOTS + 1));
  private readonly slots = new SharedArrayBuffer(SLOT * SLOTS);
  private readonly flags = new Int32Array(this.state);
  private readonly worker: Worker;
  private inFlight = 0;
  private waiter: (() => void) | undefined;
  private finished: ((r: { digest: string | undefined; diffId: string }) => void) | undefined;
  private over = false;

  static start(
    binding: string,
    digestAlg: DigestAlgorithm | undefined,
    diffAlg: DigestAlgorithm,
    hooks: WorkerDecodeHooks,
  ): ZstdWorkerDecoder | undefined {
    try {
      return new ZstdWorkerDecoder(binding, digestAlg, diffAlg, hooks);
    } catch {
      return undefined;
    }
  }

  private constructor(
    binding: string,
    digestAlg: DigestAlgorithm | undefined,
    diffAlg: DigestAlgorithm,
    private readonly hooks: WorkerDecodeHooks,
  ) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { binding, digestAlg, diffAlg, state: this.state, slots: this.slots },
      // Decoding and hashing allocate little on the JS heap: a small heap keeps the thread's RSS down.
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 },
    });
    this.worker.on("message", (m: Reply) => this.onMessage(m));
    this.worker.on("error", (err) => this.fail(err));
    this.worker.on("exit", (code) => this.fail(new Error(`the zstd thread exited (code ${code})`)));
  }

  /** Hand over compressed bytes. Resolves when more may be sent (undefined: send more now). */
  write(chunk: Buffer): Promise<void> | undefined {
    if (this.over) return undefined;
    // A copy of just these bytes, transferred: `chunk` may be a view of a larger or reused buffer.
    const copy = new Uint8Array(chunk);
    this.inFlight += copy.byteLength;
    this.worker.postMessage({ op: "data", buf: copy.buffer }, [copy.buffer]);
    if (this.inFlight <= INPUT_AHEAD) return undefined;
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** No more input: resolves with the hex digests once every block has been applied. */
  end(): Promise<{ digest: string | undefined; diffId: string }> {
    return new Promise((resolve) => {
      this.finished = resolve;
      if (!this.over) this.worker.postMessage({ op: "end" });
    });
  }

  /** Stop the thread (after success or failure). */
  dispose(): void {
    this.over = true;
    Atomics.store(this.flags, ABORT, 1);
    for (let i = 0; i < SLOTS; i++) Atomics.notify(this.flags, i);
    this.release();
    void this.worker.terminate();
  }

  private onMessage(m: Reply): void {
    if (this.over) return;
    switch (m.op) {
      case "block": {
        let kept: boolean;
        try {
          kept = this.hooks.block(Buffer.from(this.slots, m.slot * SLOT, m.len), {
            state: this.state,
            index: m.slot,
          });
        } catch (err) {
          this.fail(err);
          return;
        }
        if (!kept) {
          Atomics.store(this.flags, m.slot, 0);
          Atomics.notify(this.flags, m.slot);
        }
        break;
      }
      case "ack":
        this.inFlight -= m.len;
        if (this.inFlight <= INPUT_AHEAD / 2) this.release();
        break;
      case "done":
        this.over = true;
        void this.worker.terminate();
        this.finished?.({ digest: m.digest, diffId: m.diffId });
        break;
      case "error":
        this.fail(new ZstdDataError(m.message));
        break;
    }
  }

  private release(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private fail(err: unknown): void {
    if (this.over) return;
    this.dispose();
    this.hooks.failed(err);
  }
}

/** The same decoding loop as the worker's, on this thread (for small layers or without threads). */
class InlineDecoder {
  private readonly dctx: DCtx;
  private readonly out = Buffer.allocUnsafe(SLOT);
  private readonly digest: Hash | undefined;
  private readonly diff: Hash;
  private inFrame = false;

  constructor(
    binding: string,
    digestAlg: DigestAlgorithm | undefined,
    diffAlg: DigestAlgorithm,
    private readonly block: BlockConsumer,
  ) {
    const native = createRequire(import.meta.url)(binding) as { DCtx: new () => DCtx };
    this.dctx = new native.DCtx();
    this.digest = digestAlg === undefined ? undefined : createHash(digestAlg);
    this.diff = createHash(diffAlg);
  }

  write(chunk: Buffer): void {
    this.digest?.update(chunk);
    let src: Uint8Array = chunk;
    for (;;) {
      let ret: number;
      let produced: number;
      let consumed: number;
      try {
        [ret, produced, consumed] = this.dctx.decompressStream(this.out, src);
      } catch (err) {
        throw new ZstdDataError((err as Error).message);
      }
      if (produced > 0) {
        const block = this.out.subarray(0, produced);
        this.diff.update(block);
        this.block(block, undefined);
      }
      src = src.subarray(consumed);
      if (src.length === 0 && (produced < this.out.length || ret === 0)) {
        this.inFrame = ret !== 0;
        return;
      }
    }
  }

  end(): { digest: string | undefined; diffId: string } {
    if (this.inFrame) throw new ZstdDataError("the stream ended in the middle of a zstd frame");
    return { digest: this.digest?.digest("hex"), diffId: this.diff.digest("hex") };
  }
}

/**
 * A Writable taking a zstd layer's compressed bytes: it decodes them, computes both digests (hex, in
 * `digests` once finished) and hands every decoded block to `block`, synchronously and in order. The
 * first LAZY_START bytes are held back; a stream that ends before that is decoded on this thread,
 * a longer one on a worker thread (or here, when no worker can start).
 */
export class ZstdSink extends Writable {
  digests: { digest: string | undefined; diffId: string } | undefined;
  private held: Buffer[] = [];
  private heldLen = 0;
  private worker: ZstdWorkerDecoder | undefined;
  private inline: InlineDecoder | undefined;

  /** Undefined when zstd-napi's native binding cannot load here. */
  static create(
    digestAlg: DigestAlgorithm | undefined,
    diffAlg: DigestAlgorithm,
    block: BlockConsumer,
  ): ZstdSink | undefined {
    const binding = zstdBinding();
    return binding === undefined ? undefined : new ZstdSink(binding, digestAlg, diffAlg, block);
  }

  private constructor(
    private readonly binding: string,
    private readonly digestAlg: DigestAlgorithm | undefined,
    private readonly diffAlg: DigestAlgorithm,
    private readonly block: BlockConsumer,
  ) {
    super({ highWaterMark: 256 * 1024 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    try {
      if (this.worker !== undefined) {
        const wait = this.worker.write(chunk);
        if (wait === undefined) cb();
        else wait.then(() => cb());
        return;
      }
      if (this.inline !== undefined) {
        this.inline.write(chunk);
        cb();
        return;
      }
      // The stream's chunk may be reused by its producer once `cb` runs: keep a copy.
      this.held.push(Buffer.from(chunk));
      this.heldLen += chunk.length;
      if (this.heldLen >= LAZY_START) this.goOffThread();
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    try {
      if (this.worker !== undefined) {
        this.worker.end().then((r) => {
          this.digests = r;
          cb();
        });
        return;
      }
      this.inline ??= new InlineDecoder(this.binding, this.digestAlg, this.diffAlg, this.block);
      for (const b of this.takeHeld()) this.inline.write(b);
      this.digests = this.inline.end();
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.worker?.dispose();
    this.held = [];
    cb(err);
  }

  private goOffThread(): void {
    const held = this.takeHeld();
    this.worker = ZstdWorkerDecoder.start(this.binding, this.digestAlg, this.diffAlg, {
      block: this.block,
      failed: (err) => this.destroy(err as Error),
    });
    if (this.worker === undefined) {
      this.inline = new InlineDecoder(this.binding, this.digestAlg, this.diffAlg, this.block);
      for (const b of held) this.inline.write(b);
      return;
    }
    // Everything held is in flight at once (LAZY_START bytes): the next write waits for the worker.
    for (const b of held) void this.worker.write(b);
  }

  private takeHeld(): Buffer[] {
    const held = this.held;
    this.held = [];
    this.heldLen = 0;
    return held;
  }
}
