import { join } from "node:path";
import { CgroupError, errnoOf, writeFailed } from "./errors.js";
import type { CgroupFs, SignalFn } from "./fs.js";
import { type CgroupLimits, type LimitWrite, type Normalized, resolveLimits } from "./limits.js";

export type Controller = "pids" | "memory" | "cpu" | "freezer";

/** What `stats()` reports; a section is absent when the group lacks that controller. */
export interface CgroupStats {
  pids?: {
    current: number;
    limit: Normalized;
    /** Forks refused because of pids.max (`pids.events` "max"). */
    failedForks?: number;
  };
  memory?: {
    /** Bytes charged now (v1 memory.usage_in_bytes, v2 memory.current). */
    usage: number;
    /** Highest usage seen (v1 memory.max_usage_in_bytes, v2 memory.peak), when the kernel has it. */
    peak?: number;
    limit: Normalized;
    /** Processes the OOM killer killed in this group (v1 memory.oom_control, v2 memory.events oom_kill). */
    oomKills: number;
    /** Times the group hit its limit and invoked the OOM killer (v2 memory.events "oom"; v1 has no counter). */
    oomEvents?: number;
  };
  /**
   * CPU time used by the group's processes, seconds: v2 cpu.stat usage_usec; v1 cpuacct.usage when the
   * cpu hierarchy is the joint cpu,cpuacct one (absent when cpuacct is a hierarchy of its own).
   */
  cpu?: { usageSeconds: number };
}

export interface WaitOptions {
  /** Give up after this long with CGROUP_BUSY (default 5000 ms). */
  timeoutMs?: number;
}

/** Timing and effects shared by a manager's groups. */
export interface GroupContext {
  fs: CgroupFs;
  signal: SignalFn;
  timeoutMs: number;
  sleep: (ms: number) => Promise<void>;
}

/** One container's cgroup, on v1 (a directory per controller) or v2 (one directory). */
export interface CgroupGroup {
  readonly id: string;
  readonly version: 1 | 2;
  /** Controllers this group has (v1: hierarchies it was created in; v2: enabled for it). */
  readonly controllers: readonly Controller[];
  /** The group's directories: v1 one per controller, v2 `{ unified: dir }`. */
  readonly paths: Readonly<Partial<Record<Controller | "unified", string>>>;
  /** Validate and write limits (INVALID_LIMIT before anything is written). */
  setLimits(limits: CgroupLimits): Promise<void>;
  /** Move a process (and its future children) into the group. */
  addProcess(pid: number): Promise<void>;
  /** Processes in the group now. */
  pids(): Promise<number[]>;
  stats(): Promise<CgroupStats>;
  /** Raw contents of a control file, trimmed (e.g. `readControl("pids", "pids.max")`). */
  readControl(controller: Controller, file: string): Promise<string>;
  /** Freeze every task; false when this group cannot be frozen (no freezer). */
  freeze(): Promise<boolean>;
  thaw(): Promise<void>;
  /** SIGKILL everything inside and wait until it is empty (CGROUP_BUSY after the timeout). */
  killAll(options?: WaitOptions): Promise<void>;
  /** rmdir the group, retrying while the kernel says EBUSY (CGROUP_BUSY after the timeout). */
  remove(options?: WaitOptions): Promise<void>;
  /** killAll then remove. */
  destroy(options?: WaitOptions): Promise<void>;
}

export function parseNumber(text: string, path: string): number {
  const value = Number(text.trim());
  if (!Number.isFinite(value)) {
    throw new CgroupError("CGROUP_WRITE_FAILED", `unexpected contents ${JSON.stringify(text)} in ${path}`, {
      path,
    });
  }
  return value;
}

/** "max", or a number; v1's "unlimited" is a huge page-aligned number, reported as "max". */
export function parseLimit(text: string, path: string): Normalized {
  const t = text.trim();
  if (t === "max" || t === "-1") return "max";
  const value = parseNumber(t, path);
  return value > Number.MAX_SAFE_INTEGER ? "max" : value;
}

/** `key value` lines (memory.events, pids.events, memory.oom_control, cgroup.events) into a map. */
export function parseKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^\d+$/.test(value)) out.set(key, Number(value));
  }
  return out;
}

export function parsePids(text: string): number[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .map(Number);
}

/** Shared logic; subclasses say where files live and how v1/v2 differ. */
export abstract class BaseGroup implements CgroupGroup {
  abstract readonly version: 1 | 2;
  abstract readonly paths: Readonly<Partial<Record<Controller | "unified", string>>>;

  constructor(
    readonly id: string,
    readonly controllers: readonly Controller[],
    protected readonly ctx: GroupContext,
  ) {}

  /** Directory holding `controller`'s files, or undefined when the group lacks it. */
  protected abstract dirOf(controller: Controller): string | undefined;
  /** Every directory to rmdir / read cgroup.procs from. */
  protected abstract dirs(): string[];
  protected abstract plan(limits: CgroupLimits): Promise<LimitWrite[]>;
  protected abstract tryKillSwitch(): Promise<boolean>;
  abstract freeze(): Promise<boolean>;
  abstract thaw(): Promise<void>;
  abstract stats(): Promise<CgroupStats>;

  protected file(controller: Controller, file: string): string {
    const dir = this.dirOf(controller);
    if (dir === undefined) {
      throw new CgroupError(
        "CONTROLLER_UNAVAILABLE",
        `cgroup ${this.id} has no ${controller} controller: create it with "${controller}" in controllers`,
      );
    }
    return join(dir, file);
  }

  protected async write(path: string, data: string): Promise<void> {
    try {
      await this.ctx.fs.write(path, data);
    } catch (error) {
      throw writeFailed(path, data, error);
    }
  }

  protected async has(dir: string, name: string): Promise<boolean> {
    try {
      return (await this.ctx.fs.list(dir)).includes(name);
    } catch {
      return false;
    }
  }

  async readControl(controller: Controller, file: string): Promise<string> {
    return (await this.ctx.fs.read(this.file(controller, file))).trim();
  }

  async setLimits(limits: CgroupLimits): Promise<void> {
    // Resolve and check every file first: nothing is written when any field is invalid or any
    // control file is missing.
    resolveLimits(limits);
    const writes: Array<{ w: LimitWrite; path: string }> = [];
    for (const w of await this.plan(limits)) {
      const path = this.file(w.controller, w.file);
      if (await this.has(this.dirOf(w.controller) as string, w.file)) {
        writes.push({ w, path });
        continue;
      }
      if (w.optional) continue;
      throw new CgroupError(
        "CONTROLLER_UNAVAILABLE",
        w.file.includes("sw")
          ? `${path} does not exist: the kernel does not account swap (boot with swapaccount=1), so a swap limit cannot be set`
          : `${path} does not exist: this kernel's ${w.controller} controller lacks it`,
        { path },
      );
    }
    await this.apply(writes);
  }

  /** Write checked limit files in plan order (v1 overrides it for the cpu period retry). */
  protected async apply(writes: Array<{ w: LimitWrite; path: string }>): Promise<void> {
    for (const { w, path } of writes) await this.write(path, w.value);
  }

  async addProcess(pid: number): Promise<void> {
    if (!Number.isSafeInteger(pid) || pid <= 0) {
      throw new CgroupError("PROCESS_NOT_FOUND", `not a process id: ${pid}`);
    }
    for (const dir of this.dirs()) await this.write(join(dir, "cgroup.procs"), String(pid));
  }

  async pids(): Promise<number[]> {
    const all = new Set<number>();
    // one read per v1 hierarchy, at once: this is on every container's teardown path
    const lists = await Promise.all(
      this.dirs().map(async (dir) => {
        try {
          return parsePids(await this.ctx.fs.read(join(dir, "cgroup.procs")));
        } catch (error) {
          if (errnoOf(error) !== "ENOENT") throw error;
          return [];
        }
      }),
    );
    for (const pid of lists.flat()) all.add(pid);
    return [...all].sort((a, b) => a - b);
  }

  protected async optionalNumber(controller: Controller, file: string): Promise<number | undefined> {
    const dir = this.dirOf(controller);
    if (dir === undefined || !(await this.has(dir, file))) return undefined;
    return parseNumber(await this.ctx.fs.read(join(dir, file)), join(dir, file));
  }

  async killAll(options: WaitOptions = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? this.ctx.timeoutMs);
    if (await this.tryKillSwitch()) {
      await this.waitEmpty(deadline);
      return;
    }
    // No cgroup.kill: freeze (so nothing forks while we read the list), SIGKILL every pid, thaw so
    // the killed tasks can exit, and repeat until the group is empty.
    let delay = 5;
    for (;;) {
      const frozen = await this.freeze();
      let pids: number[];
      try {
        pids = await this.pids();
        for (const pid of pids) {
          try {
            this.ctx.signal(pid, "SIGKILL");
          } catch (error) {
            if (errnoOf(error) !== "ESRCH") throw error;
          }
        }
      } finally {
        if (frozen) await this.thaw();
      }
      if (pids.length === 0) return;
      await this.ctx.sleep(delay);
      delay = Math.min(delay * 2, 100);
      if (Date.now() > deadline) {
        const left = await this.pids();
        if (left.length === 0) return;
        throw this.busy("kill every process in", left);
      }
    }
  }

  protected async waitEmpty(deadline: number): Promise<void> {
    let delay = 5;
    for (;;) {
      const pids = await this.pids();
      if (pids.length === 0) return;
      if (Date.now() > deadline) throw this.busy("empty", pids);
      await this.ctx.sleep(delay);
      delay = Math.min(delay * 2, 100);
    }
  }

  protected busy(what: string, pids: number[]): CgroupError {
    return new CgroupError(
      "CGROUP_BUSY",
      `could not ${what} cgroup ${this.id} in time: processes ${pids.join(", ")} remain (stuck in D state? check /proc/<pid>/stat)`,
      { path: this.dirs()[0] },
    );
  }

  async remove(options: WaitOptions = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? this.ctx.timeoutMs);
    // the v1 hierarchies are independent: remove their directories at once (teardown latency)
    await Promise.all(this.dirs().map((dir) => this.removeDir(dir, deadline)));
  }

  private async removeDir(dir: string, deadline: number): Promise<void> {
    let delay = 5;
    for (;;) {
      try {
        await this.ctx.fs.rmdir(dir);
        break;
      } catch (error) {
        const errno = errnoOf(error);
        if (errno === "ENOENT") break;
        // EBUSY: tasks still exiting (or a child cgroup). Retry for a bounded time.
        if (errno !== "EBUSY" || Date.now() > deadline) {
          const pids = await this.pids().catch(() => []);
          throw new CgroupError(
            errno === "EBUSY" ? "CGROUP_BUSY" : "CGROUP_WRITE_FAILED",
            `cannot remove ${dir} (${errno ?? String(error)}): ${
              pids.length > 0
                ? `processes ${pids.join(", ")} are still inside; killAll() first`
                : "a child cgroup inside it must be removed first"
            }`,
            { path: dir, cause: error },
          );
        }
        await this.ctx.sleep(delay);
        delay = Math.min(delay * 2, 100);
      }
    }
  }

  async destroy(options: WaitOptions = {}): Promise<void> {
    await this.killAll(options);
    await this.remove(options);
  }

  /** Poll `check` until true or `ms` elapse (freezing is asynchronous in the kernel). */
  protected async until(check: () => Promise<boolean>, ms = 1000): Promise<boolean> {
    const deadline = Date.now() + ms;
    let delay = 1;
    for (;;) {
      if (await check()) return true;
      if (Date.now() > deadline) return false;
      await this.ctx.sleep(delay);
      delay = Math.min(delay * 2, 50);
    }
  }
}
