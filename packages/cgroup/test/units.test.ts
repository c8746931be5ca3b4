/** Pure logic and fixture-only behaviour: no root needed. */
import { unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  CGROUP_SUPER_MAGIC,
  CGROUP2_SUPER_MAGIC,
  type CgroupEffect,
  type CgroupFs,
  type CgroupLimits,
  cpusToQuota,
  createRecorder,
  detectCgroupMode,
  openCgroupManager,
  planV1Writes,
  planV2Writes,
  resolveLimits,
  type SignalFn,
  sharesToWeight,
  shellCommand,
  TMPFS_MAGIC,
  weightToShares,
} from "../src/index.js";
import { exists } from "./backends.js";
import { type FakeKernel, type FakeKernelOptions, startFakeKernel } from "./fake-kernel.js";

const MiB = 1024 * 1024;

function errnoError(code: string): Error {
  return Object.assign(new Error(code), { code });
}

/** A CgroupFs that only answers statfs, from a table. */
function statfsOnly(types: Partial<Record<string, number>>): CgroupFs {
  const fail = () => Promise.reject(errnoError("ENOSYS"));
  return {
    read: fail,
    write: fail,
    mkdir: fail,
    rmdir: fail,
    list: fail,
    statfs: async (path) => {
      const type = types[path];
      if (type === undefined) throw errnoError("ENOENT");
      return { type };
    },
  };
}

describe("detectCgroupMode", () => {
  it.each([
    { name: "cgroup2 root", types: { "/cg": CGROUP2_SUPER_MAGIC }, mode: "unified" },
    {
      name: "tmpfs + cgroup2 unified/",
      types: { "/cg": TMPFS_MAGIC, "/cg/unified": CGROUP2_SUPER_MAGIC },
      mode: "hybrid",
    },
    { name: "tmpfs, no unified/", types: { "/cg": TMPFS_MAGIC }, mode: "legacy" },
    {
      name: "tmpfs + v1 at unified/",
      types: { "/cg": TMPFS_MAGIC, "/cg/unified": CGROUP_SUPER_MAGIC },
      mode: "legacy",
    },
  ] as const)("$name → $mode", async ({ types, mode }) => {
    expect(await detectCgroupMode(statfsOnly(types), "/cg")).toBe(mode);
  });

  it.each([
    { name: "ext4", types: { "/cg": 0xef53 }, message: /0xef53/ },
    { name: "missing root", types: {}, message: /cannot statfs/ },
  ])("$name → UNSUPPORTED_CGROUP_FS", async ({ types, message }) => {
    await expect(detectCgroupMode(statfsOnly(types), "/cg")).rejects.toMatchObject({
      code: "UNSUPPORTED_CGROUP_FS",
      message: expect.stringMatching(message),
    });
  });
});

describe("limit validation", () => {
  it.each<{ name: string; limits: CgroupLimits; message: RegExp }>([
    { name: "pids 0", limits: { pids: 0 }, message: /would stop every fork/ },
    { name: "pids 1.5", limits: { pids: 1.5 }, message: /pids limit must be/ },
    { name: "pids -2", limits: { pids: -2 }, message: /pids limit must be/ },
    { name: "swap without memory", limits: { memory: { swap: 64 * MiB } }, message: /needs a memory limit/ },
    {
      name: "swap below memory",
      limits: { memory: { limit: 64 * MiB, swap: 32 * MiB } },
      message: /must be ≥/,
    },
    { name: "quota under 1ms", limits: { cpu: { quota: 500 } }, message: /cpu quota/ },
    { name: "period too long", limits: { cpu: { period: 2_000_000 } }, message: /1000\.\.1000000/ },
    { name: "shares and weight", limits: { cpu: { shares: 512, weight: 50 } }, message: /not both/ },
    { name: "weight 0", limits: { cpu: { weight: 0 } }, message: /cpu weight/ },
    { name: "shares 1", limits: { cpu: { shares: 1 } }, message: /cpu shares/ },
  ])("rejects $name with INVALID_LIMIT", ({ limits, message }) => {
    expect(() => resolveLimits(limits)).toThrow(
      expect.objectContaining({ code: "INVALID_LIMIT", message: expect.stringMatching(message) }),
    );
  });
});

describe("conversions", () => {
  it.each([
    [2, 1],
    [1024, 100],
    [262_144, 10_000],
    [512, 59],
    [2048, 174],
  ])("shares %i → weight %i (runc's curve)", (shares, weight) => {
    expect(sharesToWeight(shares)).toBe(weight);
  });

  it("every weight 1..10000 survives the round trip through shares", () => {
    for (let weight = 1; weight <= 10_000; weight++)
      expect(sharesToWeight(weightToShares(weight))).toBe(weight);
    expect(weightToShares(100)).toBe(1024);
  });

  it.each([
    [1.5, { quota: 150_000, period: 100_000 }],
    [0.01, { quota: 1000, period: 100_000 }],
    [4, { quota: 400_000, period: 100_000 }],
  ])("--cpus=%s → %o", (cpus, expected) => {
    expect(cpusToQuota(cpus)).toEqual(expected);
  });

  it.each([0, -1, Number.NaN, 0.001])("--cpus=%s is INVALID_LIMIT", (cpus) => {
    expect(() => cpusToQuota(cpus)).toThrow(expect.objectContaining({ code: "INVALID_LIMIT" }));
  });
});

describe("write plans (the v1/v2 mapping)", () => {
  const files = (writes: ReturnType<typeof planV1Writes>) => writes.map((w) => `${w.file}=${w.value}`);

  it.each([
    {
      name: "raising memory writes memsw first",
      limits: { memory: { limit: 128 * MiB, swap: 256 * MiB } },
      current: 64 * MiB,
      v1: [`memory.memsw.limit_in_bytes=${256 * MiB}`, `memory.limit_in_bytes=${128 * MiB}`],
    },
    {
      name: "lowering memory writes memory first",
      limits: { memory: { limit: 32 * MiB, swap: 32 * MiB } },
      current: 128 * MiB,
      v1: [`memory.limit_in_bytes=${32 * MiB}`, `memory.memsw.limit_in_bytes=${32 * MiB}`],
    },
    {
      name: "unlimited memory lifts memsw first",
      limits: { memory: { limit: "max" as const } },
      current: undefined,
      v1: ["memory.memsw.limit_in_bytes=-1", "memory.limit_in_bytes=-1"],
    },
    {
      name: "cpu period before quota",
      limits: { cpu: { quota: 20_000, period: 10_000 } },
      current: undefined,
      v1: ["cpu.cfs_period_us=10000", "cpu.cfs_quota_us=20000"],
    },
  ])("v1: $name", ({ limits, current, v1 }) => {
    expect(files(planV1Writes(resolveLimits(limits), current))).toEqual(v1);
  });

  it.each([
    { limits: { pids: 100 }, v2: ["pids.max=100"] },
    {
      limits: { memory: { limit: 64 * MiB, swap: 96 * MiB } },
      v2: [`memory.max=${64 * MiB}`, `memory.swap.max=${32 * MiB}`],
    },
    {
      limits: { memory: { limit: 64 * MiB, swap: "max" as const } },
      v2: [`memory.max=${64 * MiB}`, "memory.swap.max=max"],
    },
    { limits: { cpu: { period: 50_000 } }, v2: ["cpu.max=max 50000"] },
    { limits: { cpu: { shares: 1024 } }, v2: ["cpu.weight=100"] },
  ])("v2: %o", ({ limits, v2 }) => {
    expect(files(planV2Writes(resolveLimits(limits)))).toEqual(v2);
  });

  it("marks implied swap writes optional (skipped when the kernel has no swap accounting)", () => {
    const implied = planV2Writes(resolveLimits({ memory: { limit: "max" } })).find(
      (w) => w.file === "memory.swap.max",
    );
    expect(implied?.optional).toBe(true);
    const asked = planV2Writes(resolveLimits({ memory: { limit: "max", swap: "max" } })).find(
      (w) => w.file === "memory.swap.max",
    );
    expect(asked?.optional).toBeUndefined();
  });
});

describe("shellCommand", () => {
  it.each<[CgroupEffect, string]>([
    [{ kind: "mkdir", path: "/sys/fs/cgroup/pids/strata/c1" }, "mkdir /sys/fs/cgroup/pids/strata/c1"],
    [
      { kind: "write", path: "/sys/fs/cgroup/pids/strata/c1/pids.max", data: "2" },
      "echo 2 > /sys/fs/cgroup/pids/strata/c1/pids.max",
    ],
    [
      { kind: "write", path: "/cg/cgroup.subtree_control", data: "+pids +cpu" },
      "echo '+pids +cpu' > /cg/cgroup.subtree_control",
    ],
    [{ kind: "write", path: "/cg/x/cpu.max", data: "max 100000" }, "echo 'max 100000' > /cg/x/cpu.max"],
    [{ kind: "rmdir", path: "/cg/x" }, "rmdir /cg/x"],
    [{ kind: "read", path: "/cg/it's" }, "cat '/cg/it'\\''s'"],
    [{ kind: "signal", pid: 42, signal: "SIGKILL" }, "kill -KILL 42"],
    [{ kind: "statfs", path: "/sys/fs/cgroup" }, "stat -f -c %T /sys/fs/cgroup"],
  ])("%o → %s", (effect, command) => {
    expect(shellCommand(effect)).toBe(command);
  });
});

describe("fixture trees", () => {
  const kernels: FakeKernel[] = [];
  async function fake(options: FakeKernelOptions): Promise<FakeKernel> {
    const kernel = await startFakeKernel(options);
    kernels.push(kernel);
    return kernel;
  }
  async function managerOn(
    kernel: FakeKernel,
    extra: {
      parent?: string;
      observer?: (e: CgroupEffect) => void;
      timeoutMs?: number;
      signal?: SignalFn;
    } = {},
  ) {
    return openCgroupManager({ root: kernel.root, fs: kernel.fs, signal: kernel.signal, ...extra });
  }
  afterEach(async () => {
    for (const k of kernels.splice(0)) {
      await k.cleanup();
      expect(await exists(k.root)).toBe(false);
    }
  });

  it("v2: records exactly the calls a create makes (top-down enabling, then the leaf)", async () => {
    const k = await fake({ version: 2 });
    const recorder = createRecorder();
    const manager = await managerOn(k, { observer: recorder.observer });
    await manager.create("c1", { limits: { pids: 2 } });
    const R = k.root;
    expect(recorder.commands()).toEqual([
      `echo '+pids +memory +cpu' > ${R}/cgroup.subtree_control`,
      `mkdir ${R}/strata`,
      `echo '+pids +memory +cpu' > ${R}/strata/cgroup.subtree_control`,
      `mkdir ${R}/strata/c1`,
      `echo 2 > ${R}/strata/c1/pids.max`,
    ]);
    // A second container finds the controllers already enabled and only makes its leaf.
    recorder.effects.length = 0;
    await manager.create("c2");
    expect(recorder.commands()).toEqual([`mkdir ${R}/strata/c2`]);
  });

  it("v1: records exactly the calls a create makes (one directory per hierarchy)", async () => {
    const k = await fake({ version: 1 });
    const recorder = createRecorder();
    const manager = await managerOn(k, { observer: recorder.observer });
    await manager.create("c1", { limits: { pids: 2 } });
    const R = k.root;
    expect(recorder.commands()).toEqual([
      ...["pids", "memory", "cpu", "freezer"].flatMap((c) => [
        `mkdir ${R}/${c}/strata`,
        `mkdir ${R}/${c}/strata/c1`,
      ]),
      `echo 2 > ${R}/pids/strata/c1/pids.max`,
    ]);
  });

  it("v2: nested parent gets controllers at every level; pruneParent removes the chain", async () => {
    const k = await fake({ version: 2 });
    const manager = await managerOn(k, { parent: "a/b" });
    const group = await manager.create("c1", { limits: { memory: { limit: 64 * MiB } } });
    expect(await group.readControl("memory", "memory.max")).toBe(String(64 * MiB));
    await group.remove();
    expect(await manager.pruneParent()).toBe(true);
    expect(await exists(join(k.root, "a"))).toBe(false);
  });

  it("v2: a controller missing from cgroup.controllers is CONTROLLER_UNAVAILABLE and nothing is made", async () => {
    const k = await fake({ version: 2, controllers: "cpu memory" });
    const manager = await managerOn(k);
    await expect(manager.create("c1")).rejects.toMatchObject({
      code: "CONTROLLER_UNAVAILABLE",
      message: expect.stringMatching(/pids controller/),
    });
    expect(await exists(join(k.root, "strata"))).toBe(false);
    const group = await manager.create("c1", { controllers: ["cpu", "memory"] });
    await expect(group.setLimits({ pids: 5 })).rejects.toMatchObject({ code: "CONTROLLER_UNAVAILABLE" });
  });

  it("v2: a parent holding processes cannot delegate controllers (no internal processes)", async () => {
    const k = await fake({ version: 2 });
    await k.fs.mkdir(join(k.root, "strata"));
    await k.fs.write(join(k.root, "strata", "cgroup.procs"), "4242");
    const manager = await managerOn(k);
    await expect(manager.create("c1")).rejects.toMatchObject({
      code: "CGROUP_BUSY",
      message: expect.stringMatching(/holds processes/),
    });
    await writeFile(join(k.root, "strata", "cgroup.procs"), "");
  });

  it("v2 without cgroup.kill: freezes, signals every pid, thaws", async () => {
    const k = await fake({ version: 2, noKillFile: true });
    const recorder = createRecorder();
    const manager = await managerOn(k, { observer: recorder.observer });
    const group = await manager.create("c1");
    await group.addProcess(101);
    await group.addProcess(102);
    recorder.effects.length = 0;
    await group.killAll();
    const dir = group.paths.unified;
    const commands = recorder.commands();
    expect(commands.slice(0, 4)).toEqual([
      `echo 1 > ${dir}/cgroup.freeze`,
      "kill -KILL 101",
      "kill -KILL 102",
      `echo 0 > ${dir}/cgroup.freeze`,
    ]);
    expect(await group.pids()).toEqual([]);
  });

  it.each([1, 2] as const)(
    "v%i: keeps signalling a process that survives the first SIGKILLs",
    async (version) => {
      const k = await fake({ version });
      const manager = await managerOn(k);
      const group = await manager.create("c1", { controllers: ["pids", "memory"] });
      await group.addProcess(7);
      k.stubborn.set(7, 2);
      if (version === 2) await unlink(join(group.paths.unified as string, "cgroup.kill"));
      await group.killAll();
      expect(k.signals.filter((s) => s.pid === 7).length).toBe(3);
      await group.remove();
    },
  );

  it.each([1, 2] as const)(
    "v%i: gives up with CGROUP_BUSY when a process never dies, and remove refuses",
    async (version) => {
      const k = await fake({ version, noKillFile: true });
      const manager = await managerOn(k, { timeoutMs: 50 });
      const group = await manager.create("c1");
      await group.addProcess(9);
      k.stubborn.set(9, Number.POSITIVE_INFINITY);
      await expect(group.killAll()).rejects.toMatchObject({
        code: "CGROUP_BUSY",
        message: expect.stringMatching(/9 remain/),
      });
      await expect(group.remove()).rejects.toMatchObject({
        code: "CGROUP_BUSY",
        message: expect.stringMatching(/processes 9 are still inside/),
      });
      k.stubborn.set(9, 0);
      await group.destroy({ timeoutMs: 5000 });
      expect(await manager.list()).toEqual([]);
    },
  );

  it("v1: without a freezer hierarchy the group has none and kill-all still works", async () => {
    const k = await fake({ version: 1, hierarchies: ["pids", "memory", "cpu"] });
    const manager = await managerOn(k);
    await expect(manager.create("x", { controllers: ["freezer"] })).rejects.toMatchObject({
      code: "CONTROLLER_UNAVAILABLE",
    });
    const group = await manager.create("c1");
    expect(group.controllers).toEqual(["pids", "memory", "cpu"]);
    expect(await group.freeze()).toBe(false);
    await group.addProcess(5);
    await group.destroy();
    expect(await manager.list()).toEqual([]);
  });

  it("v1: a swap limit without swap accounting is CONTROLLER_UNAVAILABLE; implied swap is skipped", async () => {
    const k = await fake({ version: 1 });
    const manager = await managerOn(k);
    const group = await manager.create("c1");
    await unlink(join(group.paths.memory as string, "memory.memsw.limit_in_bytes"));
    await expect(group.setLimits({ memory: { limit: 64 * MiB, swap: 128 * MiB } })).rejects.toMatchObject({
      code: "CONTROLLER_UNAVAILABLE",
      message: expect.stringMatching(/swapaccount=1/),
    });
    await group.setLimits({ memory: { limit: "max" } });
    expect(await group.readControl("memory", "memory.limit_in_bytes")).toBe("9223372036854771712");
  });

  it.each([
    {
      version: 1 as const,
      file: "memory.oom_control",
      text: "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
      oomEvents: undefined,
    },
    {
      version: 2 as const,
      file: "memory.events",
      text: "low 0\nhigh 0\nmax 9\noom 4\noom_kill 3\n",
      oomEvents: 4,
    },
  ])("v$version: stats read OOM kills from $file", async ({ version, file, text, oomEvents }) => {
    const k = await fake({ version });
    const manager = await managerOn(k);
    const group = await manager.create("c1", { limits: { memory: { limit: 64 * MiB, swap: 64 * MiB } } });
    const dir = (version === 1 ? group.paths.memory : group.paths.unified) as string;
    await writeFile(join(dir, file), text);
    const stats = await group.stats();
    expect(stats.memory).toMatchObject({ oomKills: 3, limit: 64 * MiB, usage: 0 });
    expect(stats.memory?.oomEvents).toBe(oomEvents);
  });

  it.each([
    { version: 1 as const, file: "cpuacct.usage", text: "2500000000\n" },
    {
      version: 2 as const,
      file: "cpu.stat",
      text: "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n",
    },
  ])("v$version: stats read CPU time from $file", async ({ version, file, text }) => {
    const k = await fake({ version });
    const manager = await managerOn(k);
    const group = await manager.create("c1");
    // v1 with cpuacct as a hierarchy of its own: no usage next to the cpu files (v2 always has cpu.stat)
    if (version === 1) expect((await group.stats()).cpu).toBeUndefined();
    const dir = (version === 1 ? group.paths.cpu : group.paths.unified) as string;
    await writeFile(join(dir, file), text);
    expect((await group.stats()).cpu).toEqual({ usageSeconds: 2.5 });
  });

  it("maps errnos to codes a user can act on", async () => {
    const k = await fake({ version: 2 });
    const denying: CgroupFs = {
      ...k.fs,
      mkdir: () => Promise.reject(errnoError("EACCES")),
    };
    const denied = await openCgroupManager({ root: k.root, fs: denying });
    await expect(denied.create("c1", { controllers: [] })).rejects.toMatchObject({
      code: "CGROUP_PERMISSION_DENIED",
      message: expect.stringMatching(/run as root/),
    });
    const gone: CgroupFs = {
      ...k.fs,
      write: (path, data) =>
        path.endsWith("cgroup.procs") ? Promise.reject(errnoError("ESRCH")) : k.fs.write(path, data),
    };
    const manager = await openCgroupManager({ root: k.root, fs: gone });
    const group = await manager.create("c1");
    await expect(group.addProcess(12345)).rejects.toMatchObject({ code: "PROCESS_NOT_FOUND" });
    await expect(group.addProcess(-1)).rejects.toMatchObject({ code: "PROCESS_NOT_FOUND" });
    await expect(manager.create("a/b")).rejects.toMatchObject({ code: "INVALID_CGROUP_NAME" });
    await expect(openCgroupManager({ root: k.root, fs: k.fs, parent: "ok/../x" })).rejects.toMatchObject({
      code: "INVALID_CGROUP_NAME",
    });
  });
});
