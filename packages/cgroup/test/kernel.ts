/** Tests only a real kernel can answer: enforcement, OOM, kill-all of a forking tree, real cgroup2. */
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import {
  type CgroupManager,
  createRecorder,
  detectCgroupMode,
  nodeCgroupFs,
  openCgroupManager,
} from "../src/index.js";
import { Children, exists, spawnTree, sweep, testName } from "./backends.js";

const MiB = 1024 * 1024;

/** Poll until `check` holds (bounded; the bound is a safety net, not an assertion on speed). */
async function until(check: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/** v1 (this host's hybrid layout) enforcement. */
export function kernelV1(): void {
  const root = "/sys/fs/cgroup";
  let parent: string;
  let manager: CgroupManager;
  let children: Children;

  beforeEach(async () => {
    parent = testName();
    children = new Children();
    manager = await openCgroupManager({ root, parent });
  });
  afterEach(async () => {
    await children.killAll();
    await sweep(manager);
  });

  it("detects this host as hybrid with statfs", async () => {
    expect(await detectCgroupMode(nodeCgroupFs(), root)).toBe("hybrid");
    expect(manager.mode).toBe("hybrid");
  });

  it("enforces pids.max: with a limit of 2 the third process cannot start", async () => {
    const group = await manager.create("pids", { limits: { pids: 2 } });
    const tree = await spawnTree(children, "read go; sleep 300 & sleep 300 & echo unreachable; wait");
    await group.addProcess(tree.shellPid);
    tree.send("go");
    // The shell (1) forks one sleep (2); the next fork fails and the shell exits with an error,
    // leaving the sleep (reparented to the reaper, still in the group).
    await tree.waitFor(/fork/i, "stderr");
    expect(await until(async () => (await group.pids()).length === 1)).toBe(true);
    expect(tree.stdout()).not.toMatch(/unreachable/);
    const stats = await group.stats();
    expect(stats.pids?.limit).toBe(2);
    expect(stats.pids?.current).toBe(1);
    expect(stats.pids?.failedForks).toBeGreaterThanOrEqual(1);
    await group.destroy();
    await tree.exited;
  });

  it("OOM-kills a process that allocates past the memory limit and reports it", async () => {
    const group = await manager.create("oom", { limits: { memory: { limit: 32 * MiB, swap: 32 * MiB } } });
    // Allocation starts only after the process is in the group (it waits for a line on stdin).
    const hog = children.spawn(process.execPath, [
      "-e",
      "process.stdin.once('data', () => { const keep = []; for (;;) keep.push(Buffer.alloc(4 << 20, 1)); })",
    ]);
    await new Promise((resolve) => hog.once("spawn", resolve));
    const exit = new Promise<NodeJS.Signals | null>((resolve) =>
      hog.once("exit", (_code, signal) => resolve(signal)),
    );
    await group.addProcess(hog.pid as number);
    hog.stdin?.write("go\n");
    expect(await exit).toBe("SIGKILL");
    const stats = await group.stats();
    expect(stats.memory?.oomKills).toBeGreaterThanOrEqual(1);
    expect(stats.memory?.limit).toBe(32 * MiB);
    expect(stats.memory?.peak).toBeGreaterThan(16 * MiB);
    expect(stats.memory?.peak).toBeLessThanOrEqual(32 * MiB);
    await group.remove();
  });

  it("sets a cpu quota and reads it back; a refused shorter period is retried after the quota", async () => {
    const recorder = createRecorder();
    const explained = await openCgroupManager({ root, parent, observer: recorder.observer });
    const group = await explained.create("cpu", {
      limits: { cpu: { quota: 25_000, period: 50_000, shares: 256 } },
    });
    expect(await group.readControl("cpu", "cpu.cfs_quota_us")).toBe("25000");
    expect(await group.readControl("cpu", "cpu.cfs_period_us")).toBe("50000");
    expect(await group.readControl("cpu", "cpu.shares")).toBe("256");
    // Cap the parent at half a CPU: 25000 µs per a new 10000 µs period would exceed it, so the
    // kernel refuses the period until the smaller quota is in.
    await writeFile(join(root, "cpu", parent, "cpu.cfs_quota_us"), "50000");
    recorder.effects.length = 0;
    await group.setLimits({ cpu: { quota: 5_000, period: 10_000 } });
    expect(await group.readControl("cpu", "cpu.cfs_quota_us")).toBe("5000");
    expect(await group.readControl("cpu", "cpu.cfs_period_us")).toBe("10000");
    const period = `echo 10000 > ${group.paths.cpu}/cpu.cfs_period_us`;
    expect(recorder.commands()).toEqual([period, `echo 5000 > ${group.paths.cpu}/cpu.cfs_quota_us`, period]);
    await group.remove();
  });

  it("kills a forking tree (freezer first) and removes every directory", async () => {
    const recorder = createRecorder();
    const explained = await openCgroupManager({ root, parent, observer: recorder.observer });
    const group = await explained.create("tree", { limits: { pids: 50 } });
    const tree = await spawnTree(
      children,
      "read go; for i in 1 2 3 4 5; do sleep 300 & done; echo ready; wait",
    );
    await group.addProcess(tree.shellPid);
    tree.send("go");
    await tree.waitFor(/ready/);
    const pids = await group.pids();
    expect(pids).toHaveLength(6);
    await group.killAll();
    expect(await group.pids()).toEqual([]);
    await tree.exited;
    const commands = recorder.commands();
    expect(commands).toContain(`echo FROZEN > ${group.paths.freezer}/freezer.state`);
    for (const pid of pids) expect(commands).toContain(`kill -KILL ${pid}`);
    expect(commands).toContain(`echo THAWED > ${group.paths.freezer}/freezer.state`);
    await group.remove();
    for (const dir of Object.values(group.paths)) expect(await exists(dir)).toBe(false);
    expect(await explained.pruneParent()).toBe(true);
  });
}

/** The host's controller-less cgroup2 at /sys/fs/cgroup/unified: membership, freeze, cgroup.kill. */
export function kernelUnified(): void {
  const root = "/sys/fs/cgroup/unified";
  let parent: string;
  let children: Children;
  let manager: CgroupManager;

  beforeEach(async () => {
    parent = testName();
    children = new Children();
    manager = await openCgroupManager({ root, parent });
  });
  afterEach(async () => {
    await children.killAll();
    await sweep(manager);
  });

  it("refuses controllers that cgroup2 does not have here, before creating anything", async () => {
    expect(manager.mode).toBe("unified");
    await expect(manager.create("c1")).rejects.toMatchObject({ code: "CONTROLLER_UNAVAILABLE" });
    expect(await exists(`${root}/${parent}`)).toBe(false);
  });

  it("adds, freezes, kills through cgroup.kill and removes a group", async () => {
    const recorder = createRecorder();
    const explained = await openCgroupManager({ root, parent, observer: recorder.observer });
    const group = await explained.create("c1", { controllers: [] });
    const sleeper = spawn("sleep", ["300"], { stdio: "ignore" });
    const exit = new Promise((resolve) => sleeper.once("exit", resolve));
    await new Promise((resolve) => sleeper.once("spawn", resolve));
    await group.addProcess(sleeper.pid as number);
    expect(await group.pids()).toEqual([sleeper.pid]);
    expect(await group.freeze()).toBe(true);
    await group.thaw();
    await group.killAll();
    await exit;
    expect(await group.pids()).toEqual([]);
    expect(recorder.commands()).toContain(`echo 1 > ${group.paths.unified}/cgroup.kill`);
    expect(recorder.commands().some((c) => c.startsWith("kill "))).toBe(false);
    await group.remove();
    expect(await explained.pruneParent()).toBe(true);
    expect(await exists(`${root}/${parent}`)).toBe(false);
  });
}
