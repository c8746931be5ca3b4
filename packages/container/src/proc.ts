import { readFileSync } from "node:fs";

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat), or undefined if gone. */
export function processStartTime(pid: number, procRoot = "/proc"): string | undefined {
  try {
    const stat = readFileSync(`${procRoot}/${pid}/stat`, "utf8");
    // comm (field 2) may contain spaces and parens: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // a zombie has exited already: for our purposes it is gone
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

export function processRef(pid: number): ProcessRef | undefined {
  const start = processStartTime(pid);
  return start === undefined ? undefined : { pid, start };
}

/** True while the very process `ref` names (not a later one with the same pid) is alive. */
export function isAlive(ref: ProcessRef | undefined): boolean {
  if (!ref || !Number.isSafeInteger(ref.pid) || ref.pid <= 0) return false;
  return processStartTime(ref.pid) === ref.start;
}
