import { access, readdir } from "node:fs/promises";
import { join } from "node:path";
import { launch } from "@strata/launch";
import { describePrivileged } from "@strata/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  ContainerError,
  ContainerRuntime,
  newContainerId,
  type RunResult,
  type StartedContainer,
} from "../src/index.js";
import { type Fixture, NO_BRIDGE, setup } from "./fixture.js";

const gone = (path: string) =>
  access(path).then(
    () => false,
    () => true,
  );

/** Starts a container in the background; resolves once PID 1 runs and state.json records it. */
async function start(
  runtime: ContainerRuntime,
  options: Parameters<ContainerRuntime["run"]>[0],
): Promise<{ started: StartedContainer; done: Promise<RunResult> }> {
  let onStart!: (c: StartedContainer) => void;
  const started = new Promise<StartedContainer>((r) => {
    onStart = r;
  });
  const done = runtime.run({ ...options, stdio: "pipe", onStart });
  const exitedEarly = done.then(() => Promise.reject(new Error("exited early")));
  const container = await Promise.race([started, exitedEarly]);
  // onStart fires before state.json says "running": wait until it does
  const recorded = (async () => {
    while ((await runtime.inspect(container.id)).status !== "running") {
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  await Promise.race([recorded, exitedEarly]);
  return { started: container, done };
}

describePrivileged(
  "container state, ps, stop, rm, gc",
  () => {
    let f: Fixture;
    beforeAll(async () => {
      f = await setup("lifecycle");
    });
    afterAll(() => f?.stop());

    it("records state.json while running; ps lists it; names are unique; stop sends SIGTERM then SIGKILL", async () => {
      const { started, done } = await start(f.runtime, {
        image: f.busybox,
        name: "strata-test-web",
        pidsLimit: 20,
        args: ["/bin/sh", "-c", "trap 'exit 5' TERM; echo ready; sleep 60 & wait"],
      });
      // PID 1 of a pid namespace ignores signals it has no handler for: wait until the trap is set
      await new Promise((r) => started.stdout?.once("data", r));
      const state = await f.runtime.inspect("strata-test-web");
      expect(state).toMatchObject({
        id: started.id,
        name: "strata-test-web",
        status: "running",
        pid: started.pid,
        image: { reference: f.busybox },
        network: { mode: "none" },
        mount: { mounted: true },
      });
      expect(state.id).toMatch(/^[0-9a-f]{64}$/);
      expect(state.startedAt).toBeDefined();
      expect(await readdir(join(f.store.root, "containers", started.id))).toEqual(
        expect.arrayContaining(["state.json", "hosts", "hostname", "resolv.conf"]),
      );
      // by name, by id prefix, by full id
      expect((await f.runtime.inspect(started.id.slice(0, 8))).id).toBe(started.id);
      expect((await f.runtime.list()).map((c) => c.name)).toEqual(["strata-test-web"]);

      const dup = await f.runtime
        .run({ image: f.busybox, name: "strata-test-web", args: ["true"] })
        .catch((e) => e);
      expect((dup as ContainerError).code).toBe("NAME_IN_USE");
      const busy = await f.runtime.remove("strata-test-web").catch((e) => e);
      expect((busy as ContainerError).code).toBe("CONTAINER_RUNNING");

      const stopped = await f.runtime.stop("strata-test-web", { timeoutMs: 5000 });
      expect(stopped.status).toBe("exited");
      const result = await done;
      expect(result.exitCode).toBe(5);
      expect(await f.runtime.list()).toEqual([]);
      expect((await f.runtime.list({ all: true }))[0]).toMatchObject({
        name: "strata-test-web",
        status: "exited",
        exitCode: 5,
      });
      // exited: the overlay is unmounted and the cgroup gone, the layer stays until rm
      expect(await gone(state.mount?.merged as string)).toBe(true);
      expect(await gone(state.cgroup?.paths.pids as string)).toBe(true);
      expect(await gone(join(f.store.layout.overlay2, state.mount?.id as string, "diff"))).toBe(false);
      // the image is in use while the container exists (ImageStore's imageInUse hook)
      expect(await f.runtime.imageInUse(state.image.id)).toMatch(/strata-test-web/);
      await f.runtime.remove("strata-test-web");
      expect(await f.runtime.imageInUse(state.image.id)).toBeUndefined();
      expect(await f.runtime.list({ all: true })).toEqual([]);
      expect(await gone(join(f.store.layout.overlay2, state.mount?.id as string))).toBe(true);
      // the name is free again
      const again = await f.runtime.run({
        image: f.busybox,
        name: "strata-test-web",
        rm: true,
        args: ["true"],
        stdio: "pipe",
      });
      expect(again.exitCode).toBe(0);
    });

    it("stop escalates to SIGKILL after the grace period when PID 1 ignores SIGTERM", async () => {
      const { done } = await start(f.runtime, {
        image: f.busybox,
        name: "strata-test-stubborn",
        rm: true,
        args: ["sleep", "60"],
      });
      await f.runtime.stop("strata-test-stubborn", { timeoutMs: 300 }).catch((e: unknown) => {
        // with --rm the owner may remove it before stop reads it back
        if ((e as ContainerError).code !== "CONTAINER_NOT_FOUND") throw e;
      });
      expect((await done).exitCode).toBe(137);
      expect(await f.runtime.list({ all: true })).toEqual([]);
    });

    it("rm -f kills a running container and removes it", async () => {
      const { started, done } = await start(f.runtime, {
        image: f.busybox,
        name: "strata-test-force",
        args: ["sleep", "60"],
      });
      const state = await f.runtime.inspect(started.id);
      await f.runtime.remove("strata-test-force", { force: true });
      expect((await done).exitCode).toBe(137);
      expect(await f.runtime.list({ all: true })).toEqual([]);
      expect(await gone(join(f.store.layout.overlay2, state.mount?.id as string))).toBe(true);
      expect(await gone(join(f.store.layout.layerdbMounts, started.id))).toBe(true);
    });

    it("gc tears down and removes a container whose owner died (mounts, cgroup, process, layer, name)", async () => {
      // Simulate a crashed owner: a launcher whose wait() never ends (the owner never tears down), then
      // mark the owner as a dead process in state.json, as a killed CLI would leave it.
      const crashed = await ContainerRuntime.open({
        store: f.store,
        cgroupParent: f.cgroupParent,
        network: NO_BRIDGE,
        launcher: async (spec, options) => {
          const proc = await launch(spec, options);
          return { ...proc, pid: proc.pid, wait: () => new Promise(() => {}) };
        },
      });
      const { started } = await start(crashed, {
        image: f.busybox,
        name: "strata-test-crashed",
        rm: true,
        memory: "32m",
        args: ["/bin/sh", "-c", "sleep 60 & sleep 60"],
      });
      // the owner's last write is the "running" state; after it, it only waits (forever)
      let state = await f.runtime.inspect(started.id);
      while (state.status !== "running") {
        await new Promise((r) => setTimeout(r, 20));
        state = await f.runtime.inspect(started.id);
      }
      await f.runtime.states.write({ ...state, monitor: { pid: 999_999_999, start: "0" } });
      expect((await f.runtime.list()).map((c) => c.id)).toEqual([started.id]);

      const report = await f.runtime.gc();
      expect(report.cleaned).toEqual([started.id]);
      expect(report.removed).toEqual([started.id]);
      expect(await f.runtime.list({ all: true })).toEqual([]);
      expect(await gone(`/proc/${started.pid}/cmdline`)).toBe(true);
      expect(await gone(state.cgroup?.paths.memory as string)).toBe(true);
      expect(await gone(join(f.store.layout.overlay2, state.mount?.id as string))).toBe(true);
      expect(await gone(join(f.store.layout.layerdbMounts, started.id))).toBe(true);
      expect(await f.store.verify()).toEqual([]);
      expect(await f.runtime.gc()).toEqual({ cleaned: [], removed: [], orphans: [] });
    });

    it("gc leaves a young cgroup without a container alone (another store or a run being set up may own it)", async () => {
      const cgroups = await f.runtime.cgroups();
      const id = newContainerId();
      const group = await cgroups.create(id);
      try {
        const report = await f.runtime.gc();
        expect(report.orphans).toEqual([]);
        expect(await cgroups.list()).toContain(id);
      } finally {
        await group.remove();
      }
    });

    it("unknown and ambiguous references are typed errors", async () => {
      const error = await f.runtime.stop("strata-test-nobody").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ContainerError);
      expect((error as ContainerError).code).toBe("CONTAINER_NOT_FOUND");
    });
  },
  { commands: ["mount", "umount", "docker-registry"] },
);
