import { closeSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

export class LockTimeoutError extends Error {
  readonly code = "LOCK_TIMEOUT";
  override readonly name = "LockTimeoutError";
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Run `body` holding an exclusive lock file (O_EXCL, holding the owner's pid). Node has no flock(2),
 * so a lock whose owner died (kill -9) is detected by its pid and taken over.
 */
export async function withFileLock<T>(
  lockPath: string,
  body: () => Promise<T> | T,
  options: { timeoutMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let delay = 2;
  for (;;) {
    try {
      const fd = openSync(lockPath, "wx", 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      breakStaleLock(lockPath);
      if (Date.now() > deadline) {
        throw new LockTimeoutError(
          `timed out waiting for the lock ${lockPath}; if no strata process runs, remove it`,
        );
      }
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 50);
    }
  }
  try {
    return await body();
  } finally {
    rmSync(lockPath, { force: true });
  }
}

function breakStaleLock(lockPath: string): void {
  let owner: number;
  try {
    owner = Number.parseInt(readFileSync(lockPath, "utf8"), 10);
  } catch {
    return; // released meanwhile
  }
  // An empty file is a lock being written right now: leave it.
  if (!Number.isInteger(owner) || owner <= 0 || processAlive(owner)) return;
  // Move it aside atomically, then make sure we moved the stale lock and not a fresh one taken meanwhile.
  const aside = `${lockPath}.stale.${process.pid}.${Math.random().toString(36).slice(2)}`;
  try {
    renameSync(lockPath, aside);
  } catch {
    return;
  }
  try {
    if (readFileSync(aside, "utf8") !== String(owner)) linkSync(aside, lockPath);
  } catch {
    // A new lock already took the place: the one we moved is lost, the new owner holds it.
  } finally {
    rmSync(aside, { force: true });
  }
}
