import fs from "node:fs/promises";
import path from "node:path";
import { isErrno, StoreLockedError } from "./errors.js";
import { ownerAlive, ownerToken, randomSuffix } from "./ids.js";

export interface LockOptions {
  /** Give up after this long (default 120 s): a pull holds the lock only for short metadata steps. */
  timeoutMs?: number;
}

/**
 * The store lock: one file created atomically with link(2) (so it is never seen half-written), holding
 * `<pid>.<starttime>` of its owner. A lock whose owner is gone (kill -9) is stale and is broken by
 * renaming it aside first, so two processes breaking the same stale lock cannot delete each other's
 * fresh lock. Inside one process, callers queue on a promise chain before touching the file.
 *
 * The lock is held only for metadata transactions (registering a layer, writing an image, tags,
 * removal, recovery); downloads and unpacking run outside it, in parallel across processes.
 */
export class StoreLock {
  readonly file: string;
  private readonly tmpDir: string;
  private queue: Promise<void> = Promise.resolve();

  constructor(file: string, tmpDir: string) {
    this.file = file;
    this.tmpDir = tmpDir;
  }

  /** Run `fn` holding the lock (in-process queue + lock file). */
  async withLock<T>(fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
    const prev = this.queue;
    let release!: () => void;
    this.queue = new Promise<void>((resolve) => {
      release = resolve;
    });
    await prev;
    try {
      await this.acquireFile(options.timeoutMs ?? 120_000);
      try {
        return await fn();
      } finally {
        await fs.rm(this.file, { force: true });
      }
    } finally {
      release();
    }
  }

  private async acquireFile(timeoutMs: number): Promise<void> {
    const token = ownerToken();
    const candidate = path.join(this.tmpDir, `.lock-${token}-${randomSuffix()}`);
    await fs.writeFile(candidate, `${token}\n`, { mode: 0o600 });
    const started = Date.now();
    let delay = 2;
    try {
      for (;;) {
        try {
          await fs.link(candidate, this.file);
          return;
        } catch (err) {
          if (!isErrno(err, "EEXIST")) throw err;
        }
        const holder = (await fs.readFile(this.file, "utf8").catch(() => "")).trim();
        if (holder !== "" && !ownerAlive(holder)) {
          await this.breakStale(holder);
          continue;
        }
        const waited = Date.now() - started;
        if (waited >= timeoutMs) {
          throw new StoreLockedError(this.file, holder ? Number(holder.split(".")[0]) : undefined, waited);
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 50);
      }
    } finally {
      await fs.rm(candidate, { force: true });
    }
  }

  /** Move a stale lock aside; if what we moved turns out to be a live lock (a race), put it back. */
  private async breakStale(staleHolder: string): Promise<void> {
    const aside = path.join(this.tmpDir, `.stale-lock-${randomSuffix()}`);
    try {
      await fs.rename(this.file, aside);
    } catch (err) {
      if (isErrno(err, "ENOENT")) return;
      throw err;
    }
    const moved = (await fs.readFile(aside, "utf8").catch(() => "")).trim();
    if (moved !== staleHolder && moved !== "" && ownerAlive(moved)) {
      // Someone took the lock between our read and our rename: give it back.
      await fs.link(aside, this.file).catch(() => undefined);
    }
    await fs.rm(aside, { force: true });
  }
}
