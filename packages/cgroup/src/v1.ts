import { join } from "node:path";
import { errnoOf, writeFailed } from "./errors.js";
import {
  BaseGroup,
  type CgroupStats,
  type Controller,
  type GroupContext,
  parseKeyed,
  parseLimit,
  parseNumber,
} from "./group.js";
import { type CgroupLimits, type LimitWrite, planV1Writes, resolveLimits } from "./limits.js";

/** A group on cgroup v1: `<root>/<controller>/<parent>/<id>` for each controller. */
export class V1Group extends BaseGroup {
  readonly version = 1 as const;
  readonly paths: Readonly<Partial<Record<Controller, string>>>;

  constructor(id: string, dirs: Partial<Record<Controller, string>>, ctx: GroupContext) {
    super(id, Object.keys(dirs) as Controller[], ctx);
    this.paths = dirs;
  }

  protected dirOf(controller: Controller): string | undefined {
    return this.paths[controller];
  }

  protected dirs(): string[] {
    return Object.values(this.paths);
  }

  protected async plan(limits: CgroupLimits): Promise<LimitWrite[]> {
    const resolved = resolveLimits(limits);
    let current: number | undefined;
    const memoryDir = this.paths.memory;
    if (resolved.memory?.limit !== undefined && resolved.memory.swap !== undefined && memoryDir) {
      const path = join(memoryDir, "memory.limit_in_bytes");
      const limit = parseLimit(await this.ctx.fs.read(path), path);
      current = limit === "max" ? Number.MAX_SAFE_INTEGER : limit;
    }
    return planV1Writes(resolved, current);
  }

  protected override async apply(writes: Array<{ w: LimitWrite; path: string }>): Promise<void> {
    let retry: { path: string; value: string } | undefined;
    for (const { w, path } of writes) {
      try {
        await this.ctx.fs.write(path, w.value);
      } catch (error) {
        // A shorter period is refused (EINVAL) while old quota / new period exceeds what the parent
        // allows; the quota written next makes room, so the period is written again after it (runc).
        if (w.file === "cpu.cfs_period_us" && errnoOf(error) === "EINVAL") {
          retry = { path, value: w.value };
          continue;
        }
        throw writeFailed(path, w.value, error);
      }
    }
    // Still refused (or no quota followed): the kernel's error reaches the caller this time.
    if (retry) await this.write(retry.path, retry.value);
  }

  protected override async tryKillSwitch(): Promise<boolean> {
    return false;
  }

  async freeze(): Promise<boolean> {
    const dir = this.paths.freezer;
    if (dir === undefined) return false;
    const state = join(dir, "freezer.state");
    await this.write(state, "FROZEN");
    await this.until(async () => (await this.ctx.fs.read(state)).trim() === "FROZEN");
    return true;
  }

  async thaw(): Promise<void> {
    const dir = this.paths.freezer;
    if (dir === undefined) return;
    await this.write(join(dir, "freezer.state"), "THAWED");
  }

  async stats(): Promise<CgroupStats> {
    const out: CgroupStats = {};
    const { fs } = this.ctx;
    if (this.paths.pids) {
      const dir = this.paths.pids;
      const events = (await this.has(dir, "pids.events"))
        ? parseKeyed(await fs.read(join(dir, "pids.events")))
        : undefined;
      out.pids = {
        current: parseNumber(await fs.read(join(dir, "pids.current")), join(dir, "pids.current")),
        limit: parseLimit(await fs.read(join(dir, "pids.max")), join(dir, "pids.max")),
        ...(events?.has("max") ? { failedForks: events.get("max") as number } : {}),
      };
    }
    if (this.paths.memory) {
      const dir = this.paths.memory;
      const oom = parseKeyed(await fs.read(join(dir, "memory.oom_control")));
      const peak = await this.optionalNumber("memory", "memory.max_usage_in_bytes");
      out.memory = {
        usage: parseNumber(
          await fs.read(join(dir, "memory.usage_in_bytes")),
          join(dir, "memory.usage_in_bytes"),
        ),
        ...(peak === undefined ? {} : { peak }),
        limit: parseLimit(
          await fs.read(join(dir, "memory.limit_in_bytes")),
          join(dir, "memory.limit_in_bytes"),
        ),
        oomKills: oom.get("oom_kill") ?? 0,
      };
    }
    // a joint cpu,cpuacct hierarchy (the usual v1 layout) has the usage next to the cpu files
    const cpuacct = this.paths.cpu;
    if (cpuacct !== undefined && (await this.has(cpuacct, "cpuacct.usage"))) {
      const ns = parseNumber(await fs.read(join(cpuacct, "cpuacct.usage")), join(cpuacct, "cpuacct.usage"));
      out.cpu = { usageSeconds: ns / 1e9 };
    }
    return out;
  }
}
