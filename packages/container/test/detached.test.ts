import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describePrivileged } from "@strata/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type ContainerError, ContainerRuntime } from "../src/index.js";
import { type Fixture, NO_BRIDGE, setup } from "./fixture.js";

// From source, the monitor runs through the monorepo's TypeScript loader (the built package uses dist/monitor.js).
const monitorCommand = [
  process.execPath,
  "--import",
  fileURLToPath(new URL("../../../apps/run/bin/register.js", import.meta.url)),
  fileURLToPath(new URL("../src/monitor.ts", import.meta.url)),
];

const gone = (path: string) =>
  access(path).then(
    () => false,
    () => true,
  );

async function until(check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describePrivileged(
  "detached containers (run -d): a monitor process owns them",
  () => {
    let f: Fixture;
    let runtime: ContainerRuntime;
    beforeAll(async () => {
      f = await setup("detached");
      runtime = await ContainerRuntime.open({
        store: f.store,
        cgroupParent: f.cgroupParent,
        monitorCommand,
        network: NO_BRIDGE,
      });
    });
    afterAll(() => f?.stop());

    it("keeps running after runDetached returns; logs go to container.log; stop ends it and the monitor tears down", async () => {
      const c = await runtime.runDetached({
        image: f.busybox,
        name: "strata-test-detached",
        pidsLimit: 20,
        args: ["/bin/sh", "-c", "trap 'echo bye; exit 3' TERM; echo up; sleep 60 & wait"],
      });
      const state = await runtime.inspect(c.id);
      expect(state).toMatchObject({ status: "running", pid: c.pid });
      expect(state.monitor?.pid).not.toBe(process.pid);
      expect((await runtime.list()).map((x) => x.name)).toEqual(["strata-test-detached"]);
      const log = join(f.store.root, "containers", c.id, "container.log");
      // the trap is set once "up" is logged (PID 1 ignores signals it has no handler for)
      await until(async () => (await readFile(log, "utf8")).includes("up\n"));

      const stopped = await runtime.stop("strata-test-detached", { timeoutMs: 5000 });
      expect(stopped).toMatchObject({ status: "exited", exitCode: 3 });
      expect(await readFile(log, "utf8")).toBe("up\nbye\n");
      expect(await gone(state.mount?.merged as string)).toBe(true);
      expect(await gone(state.cgroup?.paths.pids as string)).toBe(true);
      await until(async () => gone(`/proc/${state.monitor?.pid}/cmdline`));
      await runtime.remove(c.id);
      expect(await runtime.list({ all: true })).toEqual([]);
    });

    it("with rm the monitor removes everything when the container exits by itself", async () => {
      const c = await runtime.runDetached({
        image: f.busybox,
        rm: true,
        args: ["/bin/sh", "-c", "sleep 0.3"],
      });
      const state = await runtime.inspect(c.id);
      await until(async () => !(await runtime.states.exists(c.id)));
      expect(await gone(join(f.store.layout.overlay2, state.mount?.id as string))).toBe(true);
      expect(await gone(join(f.store.layout.layerdbMounts, c.id))).toBe(true);
    });

    it("a container whose command cannot start fails with START_FAILED and leaves nothing", async () => {
      const error = await runtime
        .runDetached({ image: f.busybox, name: "strata-test-nocmd", args: ["/no/such/command"] })
        .catch((e: unknown) => e);
      expect((error as ContainerError).code).toBe("START_FAILED");
      expect((error as Error).message, (error as Error).message).toMatch(/not found|no such/i);
      expect(await runtime.list({ all: true })).toEqual([]);
      expect(await runtime.gc()).toEqual({ cleaned: [], removed: [], orphans: [] });
    });

    it("stop of a container started with rm succeeds and the container removes itself (as docker)", async () => {
      const c = await runtime.runDetached({ image: f.busybox, rm: true, args: ["sleep", "60"] });
      expect((await runtime.list()).map((entry) => entry.command)).toEqual(["sleep 60"]);
      const stopped = await runtime.stop(c.id, { timeoutMs: 2_000 });
      expect(stopped.status).toBe("exited");
      expect(await runtime.list({ all: true })).toEqual([]);
    });

    it("gc cleans up after a killed monitor (the launcher takes the container down with it)", async () => {
      const c = await runtime.runDetached({ image: f.busybox, rm: true, args: ["sleep", "60"] });
      const state = await runtime.inspect(c.id);
      process.kill(state.monitor?.pid as number, "SIGKILL");
      await until(async () => gone(`/proc/${c.pid}/cmdline`));
      const report = await runtime.gc();
      expect(report.cleaned).toEqual([c.id]);
      expect(report.removed).toEqual([c.id]);
      expect(await gone(state.mount?.merged as string)).toBe(true);
      expect(await gone(join(f.store.layout.overlay2, state.mount?.id as string))).toBe(true);
    });
  },
  { commands: ["mount", "umount", "docker-registry"] },
);
