import { readFileSync } from "node:fs";

/**
 * Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat), or undefined when
 * it is gone. A zombie counts as gone: it has exited, only its parent has not reaped it yet.
 */
export function processStartTime(pid: number, procRoot = "/proc"): string | undefined {
  try {
    const stat = readFileSync(`${procRoot}/${pid}/stat`, "utf8");
    // comm (field 2) may contain spaces and parens: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (rest[0] === "Z" || rest[0] === "X") return undefined;
    return rest[19];
  } catch {
    return undefined;
  }
}

/** A process identity that survives pid reuse: the pid plus its start time. */
export interface ProcessRef {
  pid: number;
  start: string;
}

/** The identity of a running process, or undefined when it is gone. */
export function processRef(pid: number, procRoot = "/proc"): ProcessRef | undefined {
  const start = processStartTime(pid, procRoot);
  return start === undefined ? undefined : { pid, start };
}

/** True while the very process `ref` names (not a later one with the same pid) is alive. */
export function isAlive(ref: ProcessRef | undefined, procRoot = "/proc"): boolean {
  if (!ref || !Number.isSafeInteger(ref.pid) || ref.pid <= 0) return false;
  return processStartTime(ref.pid, procRoot) === ref.start;
}

let selfToken: string | undefined;

/**
 * `<pid>.<starttime>` of this process: what lock files, leases and temp names carry, so that a later
 * process can tell a live owner from a dead one even after the pid has been reused.
 */
export function ownerToken(): string {
  selfToken ??= `${process.pid}.${processStartTime(process.pid) ?? "0"}`;
  return selfToken;
}

/**
 * True when the owner a token names still runs. `<pid>.<start>` must match pid and start time; a bare
 * `<pid>` (the format of locks written before start times were recorded) is alive while that pid
 * exists, which errs on the side of waiting. Anything else is not a live owner.
 */
export function ownerAlive(token: string): boolean {
  const full = /^(\d+)\.(\d+)$/.exec(token);
  if (full) {
    const pid = Number(full[1]);
    if (pid === process.pid) return token === ownerToken();
    return processStartTime(pid) === full[2];
  }
  if (/^\d+$/.test(token)) {
    const pid = Number(token);
    return pid > 0 && Number.isSafeInteger(pid) && processStartTime(pid) !== undefined;
  }
  return false;
}
