import { FileLock, LockTimeoutError } from "@strata/lockfile";
import { StoreLockedError } from "./errors.js";

export interface LockOptions {
  /** Give up after this long (default 120 s): a pull holds the lock only for short metadata steps. */
  timeoutMs?: number;
}

/**
 * The store lock: a @strata/lockfile FileLock (one file linked into place atomically, holding
 * `<pid>.<starttime>` of its owner, broken when that owner is gone) whose timeout is a StoreLockedError.
 *
 * The lock is held only for metadata transactions (registering a layer, writing an image, tags,
 * removal, recovery); downloads and unpacking run outside it, in parallel across processes.
 */
export class StoreLock {
  readonly file: string;
  private readonly lock: FileLock;

  constructor(file: string, tmpDir: string) {
    this.file = file;
    this.lock = new FileLock(file, { tmpDir });
  }

  /** Run `fn` holding the lock (in-process queue + lock file). */
  async withLock<T>(fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
    try {
      return await this.lock.withLock(fn, { timeoutMs: options.timeoutMs ?? 120_000 });
    } catch (error) {
      if (error instanceof LockTimeoutError && error.file === this.file) {
        throw new StoreLockedError(this.file, error.holderPid, error.waitedMs);
      }
      throw error;
    }
  }
}
