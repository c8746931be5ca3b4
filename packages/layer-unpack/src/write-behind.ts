import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { DigestAlgorithm } from "@strata/oci-types";
import { UnpackError } from "./errors.js";
import type { FileMeta, FileOutput } from "./file-output.js";

/**
 * File data written by a second thread, behind the one that parses tar and creates the files.
 *
 * On tmpfs a big layer's unpack is bound by the thread making the syscalls: creating a file and copying
 * its bytes into the page cache cost as much as everything else together. The extractor keeps every
 * decision (names, containment, which fd is which file) and opens each file itself; this output queues
 * "write these bytes to fd N", "set N's metadata and close it" and a worker thread carries them out,
 * in order, while the next entries are parsed and opened.
 *
 * The bytes are never copied for the worker: they live in shared memory. Either this class owns a ring
 * of slots that the stream is copied into (uncompressed and gzip layers; the worker then also computes
 * the diffID over each slot, which is why the copy is no extra cost: the hashing thread needed one), or
 * they already sit in the zstd decoder's shared slots. A slot is handed back (its state word set to 0)
 * by the worker once every write that reads it is done, so no slot is refilled while a write still
 * reads it.
 *
 * Every fd passed in is closed exactly once, by the worker, after all writes queued before it; so a
 * number the kernel hands out again can never receive a stale write. Once a file fails (its write or
 * metadata), the worker writes nothing more for the unpack (it still closes every fd), and the failure
 * is reported with the entry name.
 *
 * The worker's source is an eval'd string (plain CommonJS), so bundlers need no extra file.
 */

const SLOT = 1024 * 1024;
const SLOTS = 4;
/** Worker threads kept for write-behind across the whole process (one per unpack at a time). */
const MAX_THREADS = 4;

/** Atomics.waitAsync (ES2024; in Node since 16), typed here because the project's lib is ES2023. */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      index: number,
      value: number,
      timeout: number,
    ): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

const OP_WRITE = 1;
const OP_FINISH = 2;
const OP_DISCARD = 3;

const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const fs = require("node:fs");
const { createHash } = require("node:crypto");
let job;
parentPort.on("message", (m) => {
  if (m.op === "start") {
    job = {
      data: new Uint8Array(m.data),
      state: new Int32Array(m.state),
      hash: m.alg ? createHash(m.alg) : undefined,
      failedFds: new Map(),
      error: undefined,
      reported: false,
    };
    if (job.hash) for (const b of m.head) job.hash.update(b);
  } else if (m.op === "batch") {
    run(m);
  } else if (m.op === "end") {
    const hex = job.hash && !job.error ? job.hash.digest("hex") : undefined;
    job = undefined;
    parentPort.postMessage({ op: "end", hex });
  }
});
function fail(name, err) {
  if (job.error) return;
  job.error = { name, code: (err && err.code) || "", message: String((err && err.message) || err) };
}
function run(m) {
  if (m.hash && job.hash) job.hash.update(job.data.subarray(m.hash[0], m.hash[0] + m.hash[1]));
  const ops = m.ops;
  let i = 0;
  while (i < ops.length) {
    const op = ops[i];
    const fd = ops[i + 1];
    if (op === ${OP_WRITE}) {
      const off = ops[i + 2];
      const len = ops[i + 3];
      i += 4;
      if (job.error || job.failedFds.has(fd)) continue;
      try {
        let done = 0;
        while (done < len) done += fs.writeSync(fd, job.data, off + done, len - done);
      } catch (err) {
        job.failedFds.set(fd, err);
      }
    } else if (op === ${OP_FINISH}) {
      const name = ops[i + 8];
      try {
        const failed = job.failedFds.get(fd);
        if (failed) throw failed;
        if (!job.error) {
          if (ops[i + 2] & 1) fs.fchownSync(fd, ops[i + 3], ops[i + 4]);
          if (ops[i + 2] & 2) fs.fchmodSync(fd, ops[i + 5]);
          fs.futimesSync(fd, ops[i + 6], ops[i + 7]);
        }
      } catch (err) {
        fail(name, err);
      }
      job.failedFds.delete(fd);
      try { fs.closeSync(fd); } catch (err) { fail(name, err); }
      i += 9;
    } else {
      job.failedFds.delete(fd);
      try { fs.closeSync(fd); } catch {}
      i += 2;
    }
  }
  if (m.release !== undefined) {
    Atomics.store(job.state, m.release, 0);
    Atomics.notify(job.state, m.release);
  }
  if (job.error && !job.reported) {
    job.reported = true;
    parentPort.postMessage({ op: "error", ...job.error });
  }
}
`;

type Reply =
  | { op: "end"; hex: string | undefined }
  | { op: "error"; name: string; code: string; message: string };

interface Thread {
  worker: Worker;
  /** The write-behind using it, which gets its replies. */
  owner: WriteBehind | undefined;
}

/** Idle writer threads, kept (unref'd) for the next unpack. */
const idle: Thread[] = [];
let live = 0;

function takeThread(owner: WriteBehind): Thread | undefined {
  let thread = idle.pop();
  if (thread === undefined) {
    if (live >= MAX_THREADS) return undefined;
    let worker: Worker;
    try {
      // Writing allocates almost nothing on the JS heap: a small heap keeps the thread's RSS down.
      worker = new Worker(WORKER_SOURCE, {
        eval: true,
        // It closes fds the unpacking thread opened: they are not its to track (nor to warn about).
        trackUnmanagedFds: false,
        resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 },
      });
    } catch {
      return undefined;
    }
    live++;
    const t: Thread = { worker, owner: undefined };
    worker.on("message", (m: Reply) => t.owner?.onReply(m));
    const died = (err: Error) => {
      const i = idle.indexOf(t);
      if (i >= 0) idle.splice(i, 1);
      if (t.owner === undefined && i < 0) return; // already counted out
      live--;
      t.owner?.onDeath(err);
      t.owner = undefined;
    };
    worker.on("error", died);
    worker.on("exit", (code) => died(new Error(`the file writing thread exited (code ${code})`)));
    thread = t;
  }
  thread.owner = owner;
  thread.worker.ref();
  return thread;
}

function giveBack(thread: Thread): void {
  thread.owner = undefined;
  thread.worker.unref();
  idle.push(thread);
}

/**
 * Whether files are written by a second thread: "auto" when the machine has a CPU for it beside the
 * unpacking thread and `otherThreads` other busy ones (a zstd layer's decoder; measured on 2 vCPUs: a
 * writer thread saves ~10 % on uncompressed and gzip layers and nothing on zstd ones), "always", or
 * "never".
 */
export type WriteThreadMode = "auto" | "always" | "never";

export function wantsWriteThread(mode: WriteThreadMode, otherThreads = 0): boolean {
  return mode === "always" || (mode === "auto" && availableParallelism() > 1 + otherThreads);
}

export class WriteBehind implements FileOutput {
  private readonly bytes: Uint8Array;
  private readonly slotState: Int32Array;
  private ops: (number | string)[] = [];
  /** Own ring only: the slot being filled and how full it is. */
  private cur = 0;
  private fill = 0;
  private failure: Error | undefined;
  /** Set by abort(): a push still waiting for a slot must not apply anything afterwards. */
  private aborted = false;
  private ended: ((hex: string | undefined) => void) | undefined;
  private thread: Thread | undefined;

  /**
   * A ring of its own that `push` copies the stream into; the worker hashes every slot with `alg`
   * (when given), after `head` (bytes of the stream that came before). Undefined when no thread can
   * be had (the caller writes on its own thread).
   */
  static staged(alg: DigestAlgorithm | undefined, head: readonly Buffer[]): WriteBehind | undefined {
    const data = new SharedArrayBuffer(SLOT * SLOTS);
    const state = new SharedArrayBuffer(4 * SLOTS);
    return WriteBehind.start(data, state, true, alg, head);
  }

  /**
   * Writes reading `data`, a producer's shared slots (zstd); `release(i)` hands slot i back through
   * `state` (Int32 words, 0 = free) once the writes queued so far are done.
   */
  static over(data: SharedArrayBuffer, state: SharedArrayBuffer): WriteBehind | undefined {
    return WriteBehind.start(data, state, false, undefined, []);
  }

  private static start(
    data: SharedArrayBuffer,
    state: SharedArrayBuffer,
    ownsRing: boolean,
    alg: DigestAlgorithm | undefined,
    head: readonly Buffer[],
  ): WriteBehind | undefined {
    const wb = new WriteBehind(data, state, ownsRing, alg !== undefined);
    const thread = takeThread(wb);
    if (thread === undefined) return undefined;
    wb.thread = thread;
    thread.worker.postMessage({ op: "start", data, state, alg, head });
    return wb;
  }

  private constructor(
    private readonly data: SharedArrayBuffer,
    state: SharedArrayBuffer,
    private readonly ownsRing: boolean,
    private readonly hashing: boolean,
  ) {
    this.bytes = new Uint8Array(data);
    this.slotState = new Int32Array(state);
  }

  write(fd: number, chunk: Buffer): void {
    if (chunk.buffer !== this.data) {
      throw new Error("write-behind: file data must be a view of the shared slots");
    }
    this.ops.push(OP_WRITE, fd, chunk.byteOffset, chunk.length);
  }

  finish(fd: number, meta: FileMeta): void {
    const flags = (meta.chown ? 1 : 0) | (meta.chmod ? 2 : 0);
    this.ops.push(OP_FINISH, fd, flags, meta.uid, meta.gid, meta.mode, meta.atime, meta.mtime, meta.name);
  }

  discard(fd: number): void {
    this.ops.push(OP_DISCARD, fd);
  }

  /**
   * Own ring: copy `chunk` in and `apply` it piece by piece (each piece a view of one slot; the
   * extractor's writes refer to it). Resolves once all of `chunk` is applied; undefined when that
   * happened without waiting for a free slot. Throws the first write failure.
   */
  push(chunk: Buffer, apply: (piece: Buffer) => void): Promise<void> | undefined {
    let off = 0;
    const step = (): Promise<void> | undefined => {
      while (off < chunk.length) {
        this.check();
        if (this.fill === 0 && Atomics.load(this.slotState, this.cur) !== 0) {
          return this.slotFreed(this.cur).then(step);
        }
        const n = Math.min(SLOT - this.fill, chunk.length - off);
        const base = this.cur * SLOT + this.fill;
        this.bytes.set(chunk.subarray(off, off + n), base);
        off += n;
        this.fill += n;
        apply(Buffer.from(this.data, base, n));
        if (this.fill === SLOT) this.flushSlot();
      }
      return undefined;
    };
    return step();
  }

  /** Producer's slots: queue what was gathered while slot `index` was applied, then hand it back. */
  release(index: number): void {
    this.check();
    if (this.ops.length === 0) {
      Atomics.store(this.slotState, index, 0);
      Atomics.notify(this.slotState, index);
      return;
    }
    this.send({ op: "batch", ops: this.takeOps(), release: index });
  }

  /**
   * Everything queued is done: resolves with the worker's digest (own ring with `alg`), throws the
   * first write failure. The thread goes back to the pool.
   */
  async end(): Promise<string | undefined> {
    this.check();
    if (this.ownsRing && this.fill > 0) this.flushSlot();
    else if (this.ops.length > 0) this.send({ op: "batch", ops: this.takeOps() });
    const hex = await this.finished();
    this.check();
    return hex;
  }

  /**
   * The unpack failed: queue no more writes, let the worker close every fd it was given (none may be
   * closed twice), and wait for that.
   */
  async abort(): Promise<void> {
    this.aborted = true;
    const closes: (number | string)[] = [];
    for (let i = 0; i < this.ops.length; ) {
      const op = this.ops[i];
      if (op === OP_WRITE) i += 4;
      else if (op === OP_FINISH) {
        closes.push(OP_DISCARD, this.ops[i + 1] as number);
        i += 9;
      } else {
        closes.push(OP_DISCARD, this.ops[i + 1] as number);
        i += 2;
      }
    }
    this.ops = [];
    if (this.thread === undefined) return;
    if (closes.length > 0) this.send({ op: "batch", ops: closes });
    await this.finished();
  }

  /** Called by the pool. */
  onReply(m: Reply): void {
    if (m.op === "error") {
      this.failure ??= new UnpackError(
        "EXTRACT_FAILED",
        `Could not unpack ${JSON.stringify(m.name)}: ${m.code} ${m.message}. Check space, permissions (root is needed) and the target filesystem.`,
        { entry: m.name },
      );
      return;
    }
    const thread = this.thread;
    this.thread = undefined;
    if (thread !== undefined) giveBack(thread);
    const done = this.ended;
    this.ended = undefined;
    done?.(m.hex);
  }

  /** Called by the pool: the thread is gone; fds it had not closed stay open until the process ends. */
  onDeath(err: Error): void {
    this.thread = undefined;
    this.failure ??= new UnpackError("EXTRACT_FAILED", `Writing files failed: ${err.message}`, {
      cause: err,
    });
    const done = this.ended;
    this.ended = undefined;
    done?.(undefined);
  }

  private finished(): Promise<string | undefined> {
    const thread = this.thread;
    if (thread === undefined) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.ended = resolve;
      thread.worker.postMessage({ op: "end" });
    });
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.aborted) throw new UnpackError("EXTRACT_FAILED", "The unpack was aborted.");
  }

  private takeOps(): (number | string)[] {
    const ops = this.ops;
    this.ops = [];
    return ops;
  }

  private send(message: object): void {
    this.thread?.worker.postMessage(message);
  }

  private flushSlot(): void {
    const slot = this.cur;
    Atomics.store(this.slotState, slot, 1);
    this.send({
      op: "batch",
      hash: this.hashing ? [slot * SLOT, this.fill] : undefined,
      ops: this.takeOps(),
      release: slot,
    });
    this.cur = (slot + 1) % SLOTS;
    this.fill = 0;
  }

  private async slotFreed(slot: number): Promise<void> {
    // A bounded wait, looped: a thread that died cannot leave this waiting (check() throws then).
    while (Atomics.load(this.slotState, slot) !== 0 && this.failure === undefined && !this.aborted) {
      const r = waitAsync(this.slotState, slot, 1, 1000);
      if (r.async) await r.value;
    }
  }
}
