/**
 * The same assertions for every backend (BACKENDS in backends.ts): the v2 and v1 fixture trees
 * (statfs injected) and the real v1 kernel.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import {
  type CgroupGroup,
  type CgroupLimits,
  type CgroupManager,
  type Controller,
  cpusToQuota,
  createRecorder,
} from "../src/index.js";
import type { Backend, BackendContext } from "./backends.js";

type Expect = Array<[Controller, string, string]>;
const MiB = 1024 * 1024;
const V1_UNLIMITED = "9223372036854771712";

/** What each limit writes, per version, as read back from the control files. */
const LIMIT_CASES: Array<{ name: string; limits: CgroupLimits; v1: Expect; v2: Expect }> = [
  { name: "pids 2", limits: { pids: 2 }, v1: [["pids", "pids.max", "2"]], v2: [["pids", "pids.max", "2"]] },
  {
    name: "pids -1 (unlimited)",
    limits: { pids: -1 },
    v1: [["pids", "pids.max", "max"]],
    v2: [["pids", "pids.max", "max"]],
  },
  {
    name: "memory 64MiB, memory+swap 128MiB",
    limits: { memory: { limit: 64 * MiB, swap: 128 * MiB } },
    v1: [
      ["memory", "memory.limit_in_bytes", String(64 * MiB)],
      ["memory", "memory.memsw.limit_in_bytes", String(128 * MiB)],
    ],
    v2: [
      ["memory", "memory.max", String(64 * MiB)],
      ["memory", "memory.swap.max", String(64 * MiB)],
    ],
  },
  {
    name: "memory unlimited (swap follows)",
    limits: { memory: { limit: "max" } },
    v1: [
      ["memory", "memory.limit_in_bytes", V1_UNLIMITED],
      ["memory", "memory.memsw.limit_in_bytes", V1_UNLIMITED],
    ],
    v2: [
      ["memory", "memory.max", "max"],
      ["memory", "memory.swap.max", "max"],
    ],
  },
  {
    name: "--cpus=0.5",
    limits: { cpu: cpusToQuota(0.5) },
    v1: [
      ["cpu", "cpu.cfs_quota_us", "50000"],
      ["cpu", "cpu.cfs_period_us", "100000"],
    ],
    v2: [["cpu", "cpu.max", "50000 100000"]],
  },
  {
    name: "quota 150000 alone keeps the period",
    limits: { cpu: { quota: 150_000 } },
    v1: [
      ["cpu", "cpu.cfs_quota_us", "150000"],
      ["cpu", "cpu.cfs_period_us", "100000"],
    ],
    v2: [["cpu", "cpu.max", "150000 100000"]],
  },
  {
    name: "quota max",
    limits: { cpu: { quota: "max" } },
    v1: [["cpu", "cpu.cfs_quota_us", "-1"]],
    v2: [["cpu", "cpu.max", "max 100000"]],
  },
  {
    name: "shares 512 (weight 59 on v2)",
    limits: { cpu: { shares: 512 } },
    v1: [["cpu", "cpu.shares", "512"]],
    v2: [["cpu", "cpu.weight", "59"]],
  },
  {
    name: "weight 100 (shares 1024 on v1)",
    limits: { cpu: { weight: 100 } },
    v1: [["cpu", "cpu.shares", "1024"]],
    v2: [["cpu", "cpu.weight", "100"]],
  },
];

/** Register the contract tests for one backend (call inside a describe). */
export function contract(backend: Backend): void {
  let ctx: BackendContext;
  let manager: CgroupManager;
  let n = 0;
  const nextId = () => `c${++n}`;

  beforeEach(async () => {
    ctx = await backend.setup();
    manager = await ctx.manager();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  const dirOf = (group: CgroupGroup, controller: Controller): string =>
    (backend.version === 2 ? group.paths.unified : group.paths[controller]) as string;

  it("detects the version and lays the group out under the parent", async () => {
    expect(manager.version).toBe(backend.version);
    const id = nextId();
    const group = await manager.create(id);
    if (backend.version === 1) {
      for (const c of ["pids", "memory", "cpu", "freezer"] as const) {
        expect(group.paths[c]).toBe(`${ctx.root}/${c}/${ctx.parent}/${id}`);
        expect(await ctx.exists(group.paths[c] as string)).toBe(true);
      }
    } else {
      expect(group.paths).toEqual({ unified: `${ctx.root}/${ctx.parent}/${id}` });
      expect(group.controllers).toEqual(["pids", "memory", "cpu"]);
    }
    expect(await manager.list()).toEqual([id]);
    const again = await manager.open(id);
    expect(again.paths).toEqual(group.paths);
    await group.remove();
    expect(await manager.list()).toEqual([]);
  });

  it.each(LIMIT_CASES)("writes limits as the kernel expects: $name", async ({ limits, v1, v2 }) => {
    const group = await manager.create(nextId(), { limits });
    for (const [controller, file, value] of backend.version === 1 ? v1 : v2) {
      expect(await group.readControl(controller, file), file).toBe(value);
    }
    await group.remove();
  });

  it("changes memory limits up and down without breaking memsw ≥ memory", async () => {
    const group = await manager.create(nextId(), { limits: { memory: { limit: 64 * MiB, swap: 64 * MiB } } });
    await group.setLimits({ memory: { limit: 128 * MiB, swap: 256 * MiB } });
    await group.setLimits({ memory: { limit: 32 * MiB, swap: 32 * MiB } });
    const stats = await group.stats();
    expect(stats.memory?.limit).toBe(32 * MiB);
    await group.remove();
  });

  it("rejects an invalid limit before writing anything", async () => {
    const group = await manager.create(nextId());
    await expect(group.setLimits({ pids: 5, memory: { swap: 10 * MiB } })).rejects.toMatchObject({
      code: "INVALID_LIMIT",
    });
    expect(await group.readControl("pids", "pids.max")).toBe("max");
    await group.remove();
  });

  it("adds a process, reports it in pids() and stats, kills all and removes everything", async () => {
    const group = await manager.create(nextId(), { limits: { pids: 10 } });
    const pid = await ctx.member();
    await group.addProcess(pid);
    expect(await group.pids()).toEqual([pid]);
    const stats = await group.stats();
    expect(stats.pids).toMatchObject({ current: 1, limit: 10, failedForks: 0 });
    expect(stats.memory?.oomKills).toBe(0);
    await group.killAll();
    expect(await group.pids()).toEqual([]);
    await group.remove();
    for (const dir of Object.values(group.paths)) expect(await ctx.exists(dir)).toBe(false);
    expect(await manager.pruneParent()).toBe(true);
    expect(await ctx.exists(`${ctx.root}/${backend.version === 1 ? "pids/" : ""}${ctx.parent}`)).toBe(false);
  });

  it("refuses a second group with the same id and opening a missing one", async () => {
    const id = nextId();
    const group = await manager.create(id);
    await expect(manager.create(id)).rejects.toMatchObject({ code: "CGROUP_EXISTS" });
    expect(await ctx.exists(dirOf(group, "pids"))).toBe(true);
    await expect(manager.open("nope")).rejects.toMatchObject({ code: "CGROUP_NOT_FOUND" });
    await expect(manager.create("../escape")).rejects.toMatchObject({ code: "INVALID_CGROUP_NAME" });
    await group.remove();
  });

  it("explains what it did as shell commands", async () => {
    const recorder = createRecorder();
    const explained = await ctx.manager({ observer: recorder.observer });
    const group = await explained.create(nextId(), { limits: { pids: 2 } });
    const pid = await ctx.member();
    await group.addProcess(pid);
    const pidsDir = dirOf(group, "pids");
    const commands = recorder.commands();
    expect(commands).toContain(`mkdir ${pidsDir}`);
    expect(commands).toContain(`echo 2 > ${pidsDir}/pids.max`);
    expect(commands).toContain(`echo ${pid} > ${pidsDir}/cgroup.procs`);
    if (backend.version === 2) {
      expect(commands).toContain(`echo '+pids +memory +cpu' > ${ctx.root}/cgroup.subtree_control`);
      expect(commands).toContain(
        `echo '+pids +memory +cpu' > ${ctx.root}/${ctx.parent}/cgroup.subtree_control`,
      );
    }
    // Reads decided things but are not part of the explanation unless asked for.
    expect(commands.some((c) => /^(cat|ls|stat) /.test(c))).toBe(false);
    const withReads = recorder.commands({ includeReads: true });
    expect(withReads).toContain(`stat -f -c %T ${ctx.root}`);
    expect(withReads.length).toBeGreaterThan(commands.length);
    await group.destroy();
    expect(recorder.commands().at(-1)).toMatch(/^rmdir /);
  });
}
