import { createHash, type Hash } from "node:crypto";
import { Worker } from "node:worker_threads";
import type { DigestAlgorithm } from "@strata/oci-types";

/**
 * SHA-256/512 of a stream, computed off the main thread. The main thread only copies each chunk into
 * a 1 MiB SharedArrayBuffer batch (memcpy, ~10× faster than hashing) and posts full batches to one
 * shared, lazily started worker thread, which hashes them and hands the buffers back for reuse. The first
 * `INLINE_LIMIT` bytes are only buffered: a stream that ends before that is hashed inline, so small
 * layers never start (or wait for) the worker.
 *
 * The worker's source is an eval'd string (plain CommonJS), so bundlers need no extra file.
 */

const BATCH = 1024 * 1024;
/** Streams up to this size are hashed on the main thread (no worker round trip). */
const INLINE_LIMIT = 4 * BATCH;
/** Hashing may lag this far behind before `backlog()` asks the writer to wait. */
const MAX_BACKLOG = 4 * BATCH;

const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const jobs = new Map();
parentPort.on("message", (m) => {
  if (m.op === "start") {
    jobs.set(m.id, createHash(m.alg));
  } else if (m.op === "data") {
    const h = jobs.get(m.id);
    if (h) h.update(new Uint8Array(m.buf, 0, m.len));
    parentPort.postMessage({ op: "ack", id: m.id, buf: m.buf, len: m.len });
  } else if (m.op === "end") {
    const h = jobs.get(m.id);
    jobs.delete(m.id);
    parentPort.postMessage({ op: "digest", id: m.id, hex: h ? h.digest("hex") : "" });
  } else if (m.op === "drop") {
    jobs.delete(m.id);
  }
});
`;

interface JobHooks {
  acked(len: number): void;
  done(hex: string): void;
  failed(err: Error): void;
}

type Reply =
  | { op: "ack"; id: number; buf: SharedArrayBuffer; len: number }
  | { op: "digest"; id: number; hex: string };

/** The one hashing thread shared by every unpack of the process (started on first use). */
class HashThread {
  private worker: Worker | undefined;
  private readonly jobs = new Map<number, JobHooks>();
  private readonly free: SharedArrayBuffer[] = [];
  private nextId = 1;

  buffer(): SharedArrayBuffer {
    return this.free.pop() ?? new SharedArrayBuffer(BATCH);
  }

  /** Registers a job; undefined when no worker can be started here (then hash inline). */
  start(alg: DigestAlgorithm, hooks: JobHooks): number | undefined {
    const worker = this.ensure();
    if (worker === undefined) return undefined;
    const id = this.nextId++;
    this.jobs.set(id, hooks);
    if (this.jobs.size === 1) worker.ref();
    worker.postMessage({ op: "start", id, alg });
    return id;
  }

  send(id: number, buf: SharedArrayBuffer, len: number): void {
    // Shared memory: posting it copies nothing (a transferred ArrayBuffer is copied, ~4 GB/s).
    this.worker?.postMessage({ op: "data", id, buf, len });
  }

  end(id: number): void {
    this.worker?.postMessage({ op: "end", id });
  }

  drop(id: number): void {
    if (!this.jobs.delete(id)) return;
    this.worker?.postMessage({ op: "drop", id });
    this.idle();
  }

  private idle(): void {
    // An idle worker must not keep the process alive.
    if (this.jobs.size === 0) this.worker?.unref();
  }

  private ensure(): Worker | undefined {
    if (this.worker !== undefined) return this.worker;
    let worker: Worker;
    try {
      // Hashing allocates almost nothing on the JS heap: a small heap keeps the thread's RSS down.
      worker = new Worker(WORKER_SOURCE, {
        eval: true,
        resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 },
      });
    } catch {
      return undefined;
    }
    worker.unref();
    worker.on("message", (m: Reply) => {
      const job = this.jobs.get(m.id);
      if (m.op === "ack") {
        if (this.free.length < MAX_BACKLOG / BATCH + 2) this.free.push(m.buf);
        job?.acked(m.len);
      } else {
        this.jobs.delete(m.id);
        this.idle();
        job?.done(m.hex);
      }
    });
    const fail = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const jobs = [...this.jobs.values()];
      this.jobs.clear();
      for (const job of jobs) job.failed(err);
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`the hashing thread exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }
}

const thread = new HashThread();

/** An incremental digest whose hashing happens on the shared worker thread once the stream is big. */
export class OffThreadDigest {
  private inline: Hash | undefined;
  private id: number | undefined;
  /** Bytes buffered before the worker is involved (the first INLINE_LIMIT bytes). */
  private head: Buffer[] = [];
  private headLen = 0;
  private batch: SharedArrayBuffer | undefined;
  private batchLen = 0;
  private inFlight = 0;
  private waiter: (() => void) | undefined;
  private result: Promise<string> | undefined;
  private settle: { resolve: (hex: string) => void; reject: (err: Error) => void } | undefined;
  private failure: Error | undefined;
  private ended = false;

  constructor(readonly algorithm: DigestAlgorithm) {}

  update(chunk: Buffer): void {
    if (this.inline !== undefined) {
      this.inline.update(chunk);
      return;
    }
    if (this.id === undefined) {
      // The chunk may be a view of a buffer its producer reuses: keep a copy while it waits.
      this.head.push(Buffer.from(chunk));
      this.headLen += chunk.length;
      if (this.headLen > INLINE_LIMIT) this.goOffThread();
      return;
    }
    this.copy(chunk);
  }

  /** Resolves when the worker has caught up enough for the writer to go on (undefined: go on now). */
  backlog(): Promise<void> | undefined {
    if (this.inFlight <= MAX_BACKLOG || this.failure !== undefined) return undefined;
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** `algorithm:hex` of everything passed to update(). Call once, after the last update(). */
  digest(): Promise<string> {
    if (this.ended) throw new Error("digest() called twice");
    this.ended = true;
    if (this.id === undefined) {
      const h = this.inline ?? createHash(this.algorithm);
      for (const b of this.head) h.update(b);
      this.head = [];
      return Promise.resolve(`${this.algorithm}:${h.digest("hex")}`);
    }
    this.flushBatch();
    this.result = new Promise<string>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    if (this.failure !== undefined) this.settle?.reject(this.failure);
    else thread.end(this.id);
    return this.result.then((hex) => `${this.algorithm}:${hex}`);
  }

  /** Abandon the job (an unpack that failed): frees the worker's state for it. */
  dispose(): void {
    if (this.id !== undefined && !this.ended) thread.drop(this.id);
    this.ended = true;
    this.head = [];
    this.waiter?.();
    this.waiter = undefined;
  }

  private goOffThread(): void {
    const id = thread.start(this.algorithm, {
      acked: (len) => {
        this.inFlight -= len;
        if (this.waiter !== undefined && this.inFlight <= MAX_BACKLOG / 2) {
          const w = this.waiter;
          this.waiter = undefined;
          w();
        }
      },
      done: (hex) => this.settle?.resolve(hex),
      failed: (err) => {
        this.failure = err;
        this.settle?.reject(err);
        this.waiter?.();
        this.waiter = undefined;
      },
    });
    const head = this.head;
    this.head = [];
    this.headLen = 0;
    if (id === undefined) {
      // No worker threads here: hash on this thread.
      this.inline = createHash(this.algorithm);
      for (const b of head) this.inline.update(b);
      return;
    }
    this.id = id;
    for (const b of head) this.copy(b);
  }

  private copy(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.batch === undefined) {
        this.batch = thread.buffer();
        this.batchLen = 0;
      }
      const n = Math.min(chunk.length - off, BATCH - this.batchLen);
      new Uint8Array(this.batch, this.batchLen, n).set(chunk.subarray(off, off + n));
      this.batchLen += n;
      off += n;
      if (this.batchLen === BATCH) this.flushBatch();
    }
  }

  private flushBatch(): void {
    if (this.batch === undefined || this.batchLen === 0 || this.id === undefined) return;
    this.inFlight += this.batchLen;
    thread.send(this.id, this.batch, this.batchLen);
    this.batch = undefined;
    this.batchLen = 0;
  }
}
