import { readFile } from "node:fs/promises";

/** One process of a container, as `strata top` lists it (host view, like docker top). */
export interface ContainerProcess {
  pid: number;
  ppid: number;
  /** Real uid. */
  uid: number;
  /** CPU time (user + system), seconds. */
  cpuSeconds: number;
  /** The command line (the name in brackets when it has none, as ps shows kernel threads). */
  command: string;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** What /proc says about `pid`; undefined when it is gone. */
export async function processInfo(pid: number): Promise<ContainerProcess | undefined> {
  try {
    const [stat, status, cmdline] = await Promise.all([
      readFile(`/proc/${pid}/stat`, "utf8"),
      readFile(`/proc/${pid}/status`, "utf8"),
      readFile(`/proc/${pid}/cmdline`),
    ]);
    const close = stat.lastIndexOf(")");
    const name = stat.slice(stat.indexOf("(") + 1, close);
    // fields after the name: state ppid … utime (14th field overall) stime (15th)
    const fields = stat.slice(close + 2).split(" ");
    const ppid = Number(fields[1]);
    const ticks = Number(fields[11]) + Number(fields[12]);
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? "0");
    const args = cmdline
      .toString("utf8")
      .split("\0")
      .filter((a, i, all) => a !== "" || i < all.length - 1);
    return {
      pid,
      ppid,
      uid,
      cpuSeconds: ticks / TICKS_PER_SECOND,
      command: args.length > 0 ? args.join(" ") : `[${name}]`,
    };
  } catch {
    return undefined;
  }
}

/** One container's resource use now, as `docker stats` shows it. */
export interface ContainerStats {
  id: string;
  name: string;
  /**
   * CPU seconds used so far: the cgroup's account when the kernel keeps one (v2, or v1's joint
   * cpu,cpuacct hierarchy), else the sum over the container's live processes (/proc).
   */
  cpuSeconds: number;
  memory?: { usage: number; limit: number | "max" };
  pids?: { current: number; limit: number | "max" };
  /** Bytes through the container's network interfaces (loopback excluded). */
  net?: { rxBytes: number; txBytes: number };
}

/** rx/tx bytes of every interface but `lo` in the network namespace of `pid` (/proc/<pid>/net/dev). */
export async function netBytes(pid: number): Promise<{ rxBytes: number; txBytes: number } | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/net/dev`, "utf8");
    let rxBytes = 0;
    let txBytes = 0;
    for (const line of text.split("\n").slice(2)) {
      const colon = line.indexOf(":");
      if (colon < 0 || line.slice(0, colon).trim() === "lo") continue;
      const fields = line
        .slice(colon + 1)
        .trim()
        .split(/\s+/);
      rxBytes += Number(fields[0] ?? 0);
      txBytes += Number(fields[8] ?? 0);
    }
    return { rxBytes, txBytes };
  } catch {
    return undefined;
  }
}
