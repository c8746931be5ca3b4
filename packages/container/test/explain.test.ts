import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { BridgeNetwork, type BridgeNetworkOptions } from "@strata/network";
import { pullImage } from "@strata/registry-pull";
import { describePrivileged } from "@strata/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ContainerRuntime,
  type ExplainedStep,
  pullObserver,
  type RunOptions,
  renderScript,
  type StepName,
  Trace,
} from "../src/index.js";
import { type Fixture, NO_BRIDGE, runCapture, setup } from "./fixture.js";

const run = promisify(execFile);

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Every path under `dir`, relative, sorted (`etc`, `etc/hosts`, …). */
async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.map((e) => relative(dir, join(dir, e))).sort();
}

function collect(): { steps: ExplainedStep[]; explain: (s: StepName, c: string[], n?: string) => void } {
  const steps: ExplainedStep[] = [];
  return {
    steps,
    explain: (step, commands, note) => steps.push({ step, commands, ...(note ? { note } : {}) }),
  };
}

const COMMAND = ["sh", "-c", "hostname; cat /proc/self/cgroup; echo ok > /tmp/x"];

describe("Trace", () => {
  it("records steps, renders lines and JSON", async () => {
    const trace = new Trace();
    await trace.time("resolve", async () => undefined);
    await expect(
      trace.time("exec", async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(trace.entries.map((e) => e.step)).toEqual(["resolve", "exec"]);
    expect(trace.lines()[0]).toMatch(/^resolve +\+[\d.]+ms [\d.]+ms$/);
    expect(JSON.parse(trace.json()).steps).toHaveLength(2);
  });

  it("renders explained steps as a bash script with a comment per step", () => {
    const script = renderScript([
      { step: "cgroup", commands: ["mkdir /sys/fs/cgroup/pids/x"] },
      { step: "netns", commands: [], note: "none" },
    ]);
    expect(script).toBe(
      "#!/bin/bash\nset -e\n\n# --- cgroup\nmkdir /sys/fs/cgroup/pids/x\n\n# --- netns: none\n",
    );
  });
});

describePrivileged(
  "--explain, --dry-run, --trace",
  () => {
    let f: Fixture;
    let netns: string;
    beforeAll(async () => {
      f = await setup("explain");
      netns = `strata-test-explain-${randomBytes(3).toString("hex")}`;
      await run("ip", ["netns", "add", netns]);
    });
    afterAll(async () => {
      if (netns) await run("ip", ["netns", "del", netns]).catch(() => undefined);
      await f?.stop();
    });

    const cases: { name: string; network: () => string }[] = [
      { name: "--network none", network: () => "none" },
      { name: "a named netns the test made", network: () => `ns:${netns}` },
    ];

    it.each(cases)(
      "dry-run commands run by hand give what strata gives ($name), and the teardown leaves nothing",
      async ({ network }) => {
        const options: RunOptions = {
          image: f.busybox,
          network: network(),
          pidsLimit: 2,
          hostname: "explained",
          args: COMMAND,
          rm: true,
        };
        const { steps, explain } = collect();
        const result = await f.runtime.run({ ...options, dryRun: true, explain });
        const plan = result.plan;
        if (!plan) throw new Error("no plan");
        expect(steps.map((s) => s.step)).toEqual(["resolve", "mount", "cgroup", "netns", "exec", "teardown"]);
        expect(steps).toEqual(plan.steps);
        const all = steps.flatMap((s) => s.commands).join("\n");
        expect(all).toContain("mount -t overlay overlay -o ");
        expect(all).toMatch(/lowerdir=.*upperdir=.*workdir=/);
        expect(all).toMatch(/echo 2 > \S+\/pids\.max/);
        expect(all).toContain("pivot_root . .");
        expect(all).toContain("hostname explained");
        // nothing was done
        expect(await exists(plan.layerDir)).toBe(false);
        for (const dir of plan.cgroupDirs) expect(await exists(dir)).toBe(false);
        expect(await exists(join(f.store.root, "containers", plan.id))).toBe(false);

        // the same container by strata (kept, to look at its upperdir)
        const real = await runCapture(f.runtime, { ...options, rm: false });
        expect(real.exitCode).toBe(0);
        const state = await f.runtime.inspect(real.id);
        const realUpper = join(f.store.layout.overlay2, state.mount?.id as string, "diff");
        const realFiles = await tree(realUpper);
        await f.runtime.remove(real.id);

        // by hand: everything but the teardown, with bash -e as root
        const setupScript = join(f.dir, `explain-${plan.id.slice(0, 12)}.sh`);
        await writeFile(setupScript, renderScript(plan.steps.filter((s) => s.step !== "teardown")));
        const teardownScript = join(f.dir, `teardown-${plan.id.slice(0, 12)}.sh`);
        await writeFile(teardownScript, renderScript(plan.steps.filter((s) => s.step === "teardown")));
        let byHand: string;
        try {
          byHand = (await run("bash", ["-e", setupScript])).stdout;
          const pidsDir = plan.cgroupDirs.find((d) => d.includes("/pids/")) ?? plan.cgroupDirs[0];
          expect((await readFile(join(pidsDir as string, "pids.max"), "utf8")).trim()).toBe("2");
          expect(await tree(join(plan.layerDir, "diff"))).toEqual(realFiles);
          expect(await readFile(join(plan.layerDir, "diff", "tmp", "x"), "utf8")).toBe("ok\n");
        } catch (error) {
          await run("bash", [teardownScript]).catch(() => undefined); // best effort; the first error counts
          throw error;
        }
        await run("bash", ["-e", teardownScript]);
        expect(real.stdout).toContain("explained\n");
        expect(real.stdout).toMatch(/^\d+:pids:\/$/m);
        expect(byHand.split("\n")).toEqual(real.stdout.split("\n"));
        expect(realFiles).toEqual(expect.arrayContaining(["tmp/x"]));

        // the explained teardown leaves nothing: mount, cgroup, layer, files
        const mounts = await readFile("/proc/self/mountinfo", "utf8");
        expect(mounts).not.toContain(plan.layerDir);
        for (const dir of plan.cgroupDirs) expect(await exists(dir)).toBe(false);
        expect(await exists(plan.layerDir)).toBe(false);
        expect(await exists(join(f.store.layout.overlay2, "l", plan.link))).toBe(false);
        expect(await exists(join(f.store.root, "containers", plan.id))).toBe(false);
        expect(await exists(join(f.store.layout.layerdbMounts, plan.id))).toBe(false);
      },
    );

    it("a bridge: --dry-run attaches on paper (nothing is made), and its commands run by hand connect the container", async () => {
      const rand = randomBytes(2).toString("hex");
      const bridge: BridgeNetworkOptions = {
        bridge: `st-ex-${rand}`,
        subnet: `10.215.${16 + ((randomBytes(1)[0] as number) % 200)}.0/24`,
        chainSuffix: `-X${rand}`,
        vethPrefix: `stx${rand}`,
        netnsPrefix: `strata-test-explain-${rand}-`,
      };
      const stateDir = join(f.store.root, "network", bridge.bridge as string);
      const runtime = await ContainerRuntime.open({
        store: f.store,
        cgroupParent: f.cgroupParent,
        network: { bridge },
      });
      const { steps, explain } = collect();
      const { plan } = await runtime.run({
        image: f.busybox,
        network: "bridge",
        hostname: "explained",
        args: ["sh", "-c", "hostname; ip -4 -o addr show eth0; ip route; grep explained /etc/hosts"],
        rm: true,
        dryRun: true,
        explain,
      });
      if (!plan) throw new Error("no plan");
      expect(steps.map((s) => s.step)).toEqual([
        "resolve",
        "mount",
        "cgroup",
        "netns",
        "veth",
        "exec",
        "teardown",
      ]);
      const ns = `${bridge.netnsPrefix}${plan.id.slice(0, 12)}`;
      expect(steps.find((s) => s.step === "netns")?.commands).toEqual([`ip netns add ${ns}`]);
      const veth = steps.find((s) => s.step === "veth")?.commands.join("\n") ?? "";
      expect(veth).toMatch(new RegExp(`^ip link add ${bridge.bridge} type bridge`, "m"));
      expect(veth).toMatch(/type veth peer name eth0/);
      const address = /addr add (\d+\.\d+\.\d+\.\d+)\/24 dev eth0/.exec(veth)?.[1];
      expect(address).toBeDefined();
      expect(veth).toContain(`iptables -t nat -N STRATA-POSTROUTING${bridge.chainSuffix}`);
      const teardown = steps.find((s) => s.step === "teardown")?.commands.join("\n") ?? "";
      expect(teardown).toContain(`ip netns del ${ns}`);
      // nothing was made: bridge, namespace, chains, leases
      const links = (await run("ip", ["-o", "link", "show"])).stdout;
      expect(links).not.toContain(bridge.bridge);
      expect((await run("ip", ["netns", "list"])).stdout).not.toContain(ns);
      expect((await run("iptables-save", ["-t", "nat"])).stdout).not.toContain(bridge.chainSuffix);
      // (the runtime's bridge made its state dir when it was opened; the dry run leased nothing in it)
      expect(await new BridgeNetwork({ ...bridge, stateDir }).leases()).toEqual([]);

      const setupScript = join(f.dir, `bridge-${plan.id.slice(0, 12)}.sh`);
      await writeFile(setupScript, renderScript(plan.steps.filter((s) => s.step !== "teardown")));
      const teardownScript = join(f.dir, `bridge-teardown-${plan.id.slice(0, 12)}.sh`);
      await writeFile(teardownScript, renderScript(plan.steps.filter((s) => s.step === "teardown")));
      try {
        const out = (await run("bash", ["-e", setupScript])).stdout;
        expect(out).toMatch(/^explained$/m);
        expect(out).toContain(`inet ${address}/24`);
        expect(out).toMatch(/^default via \S+ dev eth0/m);
        expect(out).toContain(`${address}\texplained`);
        await run("bash", ["-e", teardownScript]);
        expect((await run("ip", ["netns", "list"])).stdout).not.toContain(ns);
        expect((await run("ip", ["-o", "link", "show"])).stdout).not.toContain(`stx${rand}`);
        expect(await exists(plan.layerDir)).toBe(false);
        for (const dir of plan.cgroupDirs) expect(await exists(dir)).toBe(false);
      } catch (error) {
        await run("bash", [teardownScript]).catch(() => undefined);
        throw error;
      } finally {
        // what the bridge keeps for every container (the bridge, its chains) goes as strata's would
        await new BridgeNetwork({ ...bridge, stateDir }).destroy().catch(() => undefined);
      }
      expect((await run("iptables-save", ["-t", "nat"])).stdout).not.toContain(bridge.chainSuffix);
    });

    it("--explain on a real run prints each step before it happens, --trace times them (with a pull)", async () => {
      const { steps, explain } = collect();
      const trace = new Trace();
      const pulled: string[] = [];
      const result = await runCapture(f.runtime, {
        image: f.configured,
        pull: async (ref) => {
          pulled.push(ref);
          await pullImage(ref, f.store.createSink(), {
            onProgress: pullObserver({ explain, trace }).onProgress,
          });
        },
        pidsLimit: 2,
        args: ["true"],
        rm: true,
        explain,
        trace,
      });
      expect(result.exitCode).toBe(0);
      expect(pulled).toEqual([f.configured]);
      expect(steps.map((s) => s.step)).toEqual([
        "pull",
        "resolve",
        "mount",
        "cgroup",
        "netns",
        "exec",
        "teardown",
      ]);
      const pullCommands = steps[0]?.commands.join("\n") ?? "";
      expect(pullCommands).toContain(`http://${f.registry.host}/v2/test/configured/manifests/latest`);
      expect(pullCommands).toMatch(
        /\/blobs\/sha256:[0-9a-f]{64} -o [0-9a-f]{64}\.tar\.gz && echo .* \| sha256sum -c/,
      );
      const mount = steps.find((s) => s.step === "mount")?.commands.join("\n") ?? "";
      expect(mount).toContain(join(f.store.layout.overlay2));
      expect(steps.find((s) => s.step === "cgroup")?.commands.join("\n")).toMatch(/pids\.max/);
      expect(steps.find((s) => s.step === "teardown")?.commands.join("\n")).toContain("rm -rf");
      const names = new Set(trace.entries.map((e) => e.step));
      for (const step of [
        "resolve",
        "pull",
        "unpack",
        "mount",
        "cgroup",
        "netns",
        "exec",
        "teardown",
      ] as const)
        expect(names.has(step), step).toBe(true);
      for (const e of trace.entries) expect(e.durationMs).toBeGreaterThanOrEqual(0);
      const json = JSON.parse(trace.json()) as { steps: { step: string; durationMs: number }[] };
      expect(json.steps.length).toBe(trace.entries.length);
      expect(trace.lines()).toHaveLength(trace.entries.length);
    });

    it("--dry-run refuses what it cannot compute without acting, and rm --dry-run removes nothing", async () => {
      // an image that is not in the store: no pull on a dry run
      const calls: string[] = [];
      const other = `${f.registry.host}/test/absent:latest`;
      await expect(
        f.runtime.run({ image: other, dryRun: true, pull: async (r) => void calls.push(r) }),
      ).rejects.toMatchObject({ code: "IMAGE_NOT_FOUND" });
      expect(calls).toEqual([]);
      // an attacher network: its address is only known once leased
      const withAttacher = await ContainerRuntime.open({
        store: f.store,
        cgroupParent: f.cgroupParent,
        network: {
          ...NO_BRIDGE,
          attachers: { fake: { attach: async () => ({ mode: "fake" }), detach: async () => {} } },
        },
      });
      await expect(
        withAttacher.run({ image: f.busybox, network: "fake", dryRun: true }),
      ).rejects.toMatchObject({ code: "INVALID_OPTION" });

      await expect(f.runtime.runDetached({ image: f.busybox, dryRun: true })).rejects.toMatchObject({
        code: "INVALID_OPTION",
      });

      const kept = await runCapture(f.runtime, { image: f.busybox, args: ["true"], pidsLimit: 5 });
      const { steps, explain } = collect();
      await f.runtime.remove(kept.id, { dryRun: true, explain });
      expect(steps).toHaveLength(1);
      expect(steps[0]?.step).toBe("teardown");
      expect(steps[0]?.commands.join("\n")).toContain(`rm -rf ${join(f.store.root, "containers", kept.id)}`);
      expect((await f.runtime.inspect(kept.id)).id).toBe(kept.id);
      await f.runtime.remove(kept.id);
    });
  },
  { commands: ["bash", "unshare", "nsenter", "pivot_root", "ip"] },
);
