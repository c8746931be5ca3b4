// The orchestration of run() with every privileged effect replaced by a recorder: no root, no kernel
// objects. The real effects are covered by the privileged tests; this pins down the order and the
// arguments, and runs on machines where the privileged tests are skipped.
import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import type { CgroupGroup, CgroupLimits, CgroupManager } from "@strata/cgroup";
import { ImageStore } from "@strata/image-store";
import type { LaunchedProcess, LaunchOptions, LaunchSpec } from "@strata/launch";
import type { Mounter } from "@strata/overlay-mount";
import { pullImage } from "@strata/registry-pull";
import { buildImage, busyboxRootfs, pushImage, type RegistryHandle, startRegistry } from "@strata/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContainerRuntime } from "../src/index.js";
import { CONFIGURED, NO_BRIDGE, PREFIX } from "./fixture.js";

/** A pid that certainly names no live process: a child that has exited and been reaped. */
const deadPid = spawnSync("true").pid as number;

function recorder() {
  const calls: string[] = [];
  const groups = new Map<string, CgroupLimits | undefined>();
  const group = (id: string): CgroupGroup => ({
    id,
    version: 1,
    controllers: ["pids", "memory", "cpu"],
    paths: { pids: `/fake/pids/${id}`, memory: `/fake/memory/${id}` },
    async setLimits() {},
    async addProcess(pid) {
      calls.push(`cgroup.addProcess ${pid}`);
    },
    async pids() {
      return [];
    },
    async stats() {
      return { memory: { usage: 0, limit: "max", oomKills: 0 } };
    },
    async readControl() {
      return "";
    },
    async freeze() {
      return false;
    },
    async thaw() {},
    async killAll() {
      calls.push("cgroup.killAll");
    },
    async remove() {
      calls.push("cgroup.remove");
      groups.delete(id);
    },
    async destroy() {
      calls.push("cgroup.destroy");
      groups.delete(id);
    },
  });
  const cgroupManager: CgroupManager = {
    mode: "legacy",
    version: 1,
    root: "/fake",
    parent: PREFIX,
    async create(id, options) {
      calls.push(`cgroup.create ${JSON.stringify(options?.limits ?? {})}`);
      groups.set(id, options?.limits);
      return group(id);
    },
    async open(id) {
      if (!groups.has(id)) throw Object.assign(new Error("gone"), { code: "CGROUP_NOT_FOUND" });
      return group(id);
    },
    async list() {
      return [...groups.keys()];
    },
    async pruneParent() {
      return groups.size === 0;
    },
  };
  const mounter: Mounter = {
    async mount(m) {
      calls.push(
        `mount ${m.options
          .filter((o) => !o.startsWith("index"))
          .map((o) => o.split("=")[0])
          .join(",")}`,
      );
    },
    async unmount(target) {
      calls.push(`unmount ${target}`);
    },
  };
  const specs: LaunchSpec[] = [];
  const launcher = async (spec: LaunchSpec, options: LaunchOptions): Promise<LaunchedProcess> => {
    calls.push(`launch ${options.runtime} ${spec.args.join(" ")}`);
    specs.push(spec);
    return {
      pid: deadPid,
      stdin: null,
      stdout: new PassThrough(),
      stderr: new PassThrough(),
      wait: async () => {
        calls.push("wait");
        return { exitCode: 7, signal: null };
      },
      kill() {},
    };
  };
  return { calls, cgroupManager, mounter, launcher, specs, groups };
}

describe("run() orchestration, with recorded effects", () => {
  let registry: RegistryHandle;
  let dir: string;
  let store: ImageStore;
  let reference: string;
  beforeAll(async () => {
    registry = await startRegistry();
    await pushImage(
      registry,
      "test/configured",
      "latest",
      buildImage({ layers: [await busyboxRootfs()], config: CONFIGURED }),
    );
    reference = `${registry.host}/test/configured:latest`;
    dir = await mkdtemp(join(tmpdir(), `${PREFIX}-recorded-`));
    store = await ImageStore.open({ root: join(dir, "root") });
    await pullImage(reference, store.createSink());
  });
  afterAll(async () => {
    await registry?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("mounts, creates the cgroup with limits, launches with the merged spec, then tears down and removes", async () => {
    const r = recorder();
    const runtime = await ContainerRuntime.open({
      store,
      cgroupManager: r.cgroupManager,
      mounter: r.mounter,
      network: NO_BRIDGE,
      launcher: r.launcher,
    });
    const result = await runtime.run({
      image: reference,
      rm: true,
      name: "recorded",
      hostname: "rec",
      pidsLimit: 2,
      memory: "64m",
      cpus: 0.5,
      env: ["EXTRA=1"],
      // numeric: the fake mount leaves merged empty, so there is no /etc/passwd to look "app" up in
      user: "1000:1000",
      args: ["echo hi"],
    });
    expect(result).toMatchObject({ name: "recorded", exitCode: 7, oomKilled: false, removed: true });
    // the mount and the cgroup are made in parallel (either may be recorded first), then launch, wait, teardown
    expect(r.calls.slice(0, 2).sort()).toEqual([
      `cgroup.create ${JSON.stringify({ pids: 2, memory: { limit: 67108864, swap: 134217728 }, cpu: { quota: 50000, period: 100000 } })}`,
      "mount lowerdir,upperdir,workdir",
    ]);
    expect(r.calls.slice(2)).toEqual(["launch builtin /bin/sh -c echo hi", "wait", "cgroup.remove"]);
    const spec = r.specs[0] as LaunchSpec;
    expect(spec).toMatchObject({
      hostname: "rec",
      cwd: "/home/app",
      cgroupProcs: [`/fake/pids/${result.id}/cgroup.procs`, `/fake/memory/${result.id}/cgroup.procs`],
      readonlyRootfs: false,
    });
    expect(spec.netns).toBeUndefined(); // network "none": a new, empty namespace
    expect(spec.env).toEqual(expect.arrayContaining(["GREETING=hello", "EXTRA=1", "HOSTNAME=rec"]));
    expect(spec.mounts.filter((m) => m.destination.startsWith("/etc/")).map((m) => m.source)).toEqual([
      join(store.root, "containers", result.id, "resolv.conf"),
      join(store.root, "containers", result.id, "hostname"),
      join(store.root, "containers", result.id, "hosts"),
    ]);
    // nothing left: state, layer, record, name
    expect(await readdir(join(store.root, "containers"))).toEqual([]);
    expect(await readdir(store.layout.layerdbMounts)).toEqual([]);
    expect(await readdir(runtime.states.names)).toEqual([]);
    expect(await store.verify()).toEqual([]);
  });

  it("a launch failure tears down what setup made and rethrows", async () => {
    const r = recorder();
    const runtime = await ContainerRuntime.open({
      store,
      cgroupManager: r.cgroupManager,
      mounter: r.mounter,
      network: NO_BRIDGE,
      launcher: async () => {
        throw Object.assign(new Error("no such command"), { code: "COMMAND_NOT_FOUND" });
      },
    });
    await expect(runtime.run({ image: reference, user: "0", args: ["nope"] })).rejects.toMatchObject({
      code: "COMMAND_NOT_FOUND",
    });
    expect(r.calls.at(-1)).toBe("cgroup.remove");
    expect(r.groups.size).toBe(0);
    expect(await runtime.list({ all: true })).toEqual([]);
    expect(await readdir(store.layout.layerdbMounts)).toEqual([]);
  });

  it("crun/runc: no cgroup.procs in the spec; the init is moved into the cgroup after start", async () => {
    const r = recorder();
    const runtime = await ContainerRuntime.open({
      store,
      cgroupManager: r.cgroupManager,
      mounter: r.mounter,
      network: NO_BRIDGE,
      launcher: r.launcher,
    });
    await runtime.run({ image: reference, rm: true, runtime: "crun", user: "0", args: ["true"] });
    expect(r.specs[0]?.cgroupProcs).toEqual([]);
    expect(r.calls).toContain(`cgroup.addProcess ${deadPid}`);
    expect(r.calls.indexOf(`cgroup.addProcess ${deadPid}`)).toBeGreaterThan(
      r.calls.indexOf("launch crun /bin/sh -c true"),
    );
  });
});
