import { join } from "node:path";
import {
  BaseGroup,
  type CgroupStats,
  type Controller,
  type GroupContext,
  parseKeyed,
  parseLimit,
  parseNumber,
} from "./group.js";
import { type CgroupLimits, type LimitWrite, planV2Writes, resolveLimits } from "./limits.js";

/** A group on cgroup v2: one directory `<root>/<parent>/<id>`, a leaf (no processes in inner nodes). */
export class V2Group extends BaseGroup {
  readonly version = 2 as const;
  readonly paths: Readonly<{ unified: string }>;

  constructor(id: string, dir: string, controllers: Controller[], ctx: GroupContext) {
    super(id, controllers, ctx);
    this.paths = { unified: dir };
  }

  protected dirOf(controller: Controller): string | undefined {
    // Core files (cgroup.*) and freezing live in every v2 group; the rest need the controller enabled.
    if (controller === "freezer" || this.controllers.includes(controller)) return this.paths.unified;
    return undefined;
  }

  protected dirs(): string[] {
    return [this.paths.unified];
  }

  protected async plan(limits: CgroupLimits): Promise<LimitWrite[]> {
    return planV2Writes(resolveLimits(limits));
  }

  protected override async tryKillSwitch(): Promise<boolean> {
    // cgroup.kill (Linux 5.14+) kills the whole subtree atomically, forks included.
    if (!(await this.has(this.paths.unified, "cgroup.kill"))) return false;
    await this.write(join(this.paths.unified, "cgroup.kill"), "1");
    return true;
  }

  async freeze(): Promise<boolean> {
    const dir = this.paths.unified;
    if (!(await this.has(dir, "cgroup.freeze"))) return false;
    await this.write(join(dir, "cgroup.freeze"), "1");
    await this.until(
      async () => parseKeyed(await this.ctx.fs.read(join(dir, "cgroup.events"))).get("frozen") === 1,
    );
    return true;
  }

  async thaw(): Promise<void> {
    const dir = this.paths.unified;
    if (await this.has(dir, "cgroup.freeze")) await this.write(join(dir, "cgroup.freeze"), "0");
  }

  async stats(): Promise<CgroupStats> {
    const out: CgroupStats = {};
    const { fs } = this.ctx;
    const dir = this.paths.unified;
    if (this.controllers.includes("pids")) {
      const events = (await this.has(dir, "pids.events"))
        ? parseKeyed(await fs.read(join(dir, "pids.events")))
        : undefined;
      out.pids = {
        current: parseNumber(await fs.read(join(dir, "pids.current")), join(dir, "pids.current")),
        limit: parseLimit(await fs.read(join(dir, "pids.max")), join(dir, "pids.max")),
        ...(events?.has("max") ? { failedForks: events.get("max") as number } : {}),
      };
    }
    if (this.controllers.includes("memory")) {
      const events = parseKeyed(await fs.read(join(dir, "memory.events")));
      const peak = await this.optionalNumber("memory", "memory.peak");
      out.memory = {
        usage: parseNumber(await fs.read(join(dir, "memory.current")), join(dir, "memory.current")),
        ...(peak === undefined ? {} : { peak }),
        limit: parseLimit(await fs.read(join(dir, "memory.max")), join(dir, "memory.max")),
        oomKills: events.get("oom_kill") ?? 0,
        oomEvents: events.get("oom") ?? 0,
      };
    }
    // cpu.stat is there whatever the enabled controllers (the kernel accounts CPU time for every group)
    if (await this.has(dir, "cpu.stat")) {
      const usec = parseKeyed(await fs.read(join(dir, "cpu.stat"))).get("usage_usec");
      if (usec !== undefined) out.cpu = { usageSeconds: usec / 1e6 };
    }
    return out;
  }
}
