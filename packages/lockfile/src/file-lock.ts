import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { ownerAlive, ownerToken } from "./process-ref.js";

/** The lock stayed held by a live process for longer than the caller would wait. */
export class LockTimeoutError extends Error {
  readonly code = "LOCK_TIMEOUT";
  override readonly name = "LockTimeoutError";
  constructor(
    readonly file: string,
    /** The pid the lock file named, when it named one. */
    readonly holderPid: number | undefined,
    readonly waitedMs: number,
  ) {
    super(
      `timed out after ${waitedMs} ms waiting for the lock ${file}` +
        (holderPid !== undefined ? ` (held by pid ${holderPid})` : "") +
        "; if no strata process runs, remove it",
    );
  }
}

export interface FileLockOptions {
  /**
   * Where candidate files are written before they are linked into place (default: the lock file's
   * directory). It must be on the lock file's filesystem: link(2) does not cross filesystems.
   */
  tmpDir?: string;
}

export interface AcquireOptions {
  /** Give up with LockTimeoutError after this long (default 30 s). */
  timeoutMs?: number;
}

const suffix = () => randomBytes(6).toString("hex");

/**
 * An exclusive lock between processes (and, through a promise queue, between callers in one process).
 *
 * The lock is one file made atomically with link(2), so it is never seen half-written, holding
 * `<pid>.<starttime>` of its owner. Node has no flock(2); a lock whose owner is gone (kill -9, or its pid
 * reused by another process) is stale and is broken by renaming it aside first, so two processes
 * breaking the same stale lock cannot remove each other's fresh one.
 */
export class FileLock {
  readonly file: string;
  private readonly tmpDir: string;
  private queue: Promise<void> = Promise.resolve();

  constructor(file: string, options: FileLockOptions = {}) {
    this.file = file;
    this.tmpDir = options.tmpDir ?? path.dirname(file);
  }

  /** Run `fn` holding the lock; the lock file is removed afterwards, whether `fn` throws or not. */
  async withLock<T>(fn: () => Promise<T> | T, options: AcquireOptions = {}): Promise<T> {
    const previous = this.queue;
    let release!: () => void;
    this.queue = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      await this.acquire(options.timeoutMs ?? 30_000);
      try {
        return await fn();
      } finally {
        await fs.rm(this.file, { force: true });
      }
    } finally {
      release();
    }
  }

  private async acquire(timeoutMs: number): Promise<void> {
    const token = ownerToken();
    const candidate = path.join(this.tmpDir, `.lock-${token}-${suffix()}`);
    await fs.writeFile(candidate, `${token}\n`, { mode: 0o600 });
    const started = Date.now();
    let delay = 2;
    try {
      for (;;) {
        try {
          await fs.link(candidate, this.file);
          return;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        }
        const holder = (await fs.readFile(this.file, "utf8").catch(() => "")).trim();
        // "" is a lock being released right now (or one an old writer has not filled yet): wait
        if (holder !== "" && !ownerAlive(holder)) {
          await this.breakStale(holder);
          continue;
        }
        const waited = Date.now() - started;
        if (waited >= timeoutMs) {
          const pid = Number.parseInt(holder, 10);
          throw new LockTimeoutError(this.file, Number.isSafeInteger(pid) ? pid : undefined, waited);
        }
        await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
        delay = Math.min(delay * 2, 50);
      }
    } finally {
      await fs.rm(candidate, { force: true });
    }
  }

  /** Move a stale lock aside; if what was moved turns out to be a live lock (a race), put it back. */
  private async breakStale(staleHolder: string): Promise<void> {
    const aside = path.join(this.tmpDir, `.stale-lock-${suffix()}`);
    try {
      await fs.rename(this.file, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    const moved = (await fs.readFile(aside, "utf8").catch(() => "")).trim();
    if (moved !== staleHolder && moved !== "" && ownerAlive(moved)) {
      await fs.link(aside, this.file).catch(() => undefined);
    }
    await fs.rm(aside, { force: true });
  }
}

const locks = new Map<string, FileLock>();

/**
 * Run `body` holding the lock file at `lockPath` (one FileLock per absolute path in this process, so
 * concurrent callers in one process queue instead of polling each other).
 */
export function withFileLock<T>(
  lockPath: string,
  body: () => Promise<T> | T,
  options: AcquireOptions & FileLockOptions = {},
): Promise<T> {
  const key = path.resolve(lockPath);
  let lock = locks.get(key);
  if (!lock) {
    lock = new FileLock(key, options.tmpDir ? { tmpDir: options.tmpDir } : {});
    locks.set(key, lock);
  }
  return lock.withLock(body, options);
}
