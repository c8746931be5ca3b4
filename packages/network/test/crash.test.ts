import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describePrivileged } from "@strata/testkit";
import { rolldown } from "rolldown";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { BridgeNetwork } from "../src/index.js";
import { newNetwork, run, testNetworkOptions } from "./helpers.js";

const opts = testNetworkOptions();
const bundleDir = mkdtempSync(join(tmpdir(), "strata-test-network-bundle-"));
const bundle = join(bundleDir, "crash-child.mjs");
let network: BridgeNetwork;

/** What is left in the kernel and the lease file that carries this test's names. */
async function leftovers() {
  const { stdout: links } = await run("ip", ["-o", "link"]);
  const { stdout: netns } = await run("ip", ["netns", "list"]);
  const { stdout: nat } = await run("iptables", ["-w", "-t", "nat", "-S", network.chains.dnat]);
  return {
    links: links.split("\n").filter((l) => l.includes(`: ${opts.vethPrefix}`)).length,
    netns: netns.split("\n").filter((l) => l.startsWith(opts.netnsPrefix)).length,
    rules: nat.split("\n").filter((l) => l.includes("strata:")).length,
    leases: (await network.leases()).length,
  };
}

/** Starts the child and kills it with SIGKILL once `killWhen` matches its output. */
async function crashChild(config: object, killWhen: (output: string) => boolean): Promise<string> {
  const child: ChildProcess = spawn(process.execPath, [bundle, JSON.stringify(config)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let errors = "";
  child.stderr?.on("data", (b: Buffer) => {
    errors += b.toString();
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (b: Buffer) => {
      output += b.toString();
      if (killWhen(output) && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    });
    child.on("exit", (code, signal) =>
      signal === "SIGKILL"
        ? resolve()
        : reject(new Error(`child exited ${code} before being killed: ${errors}`)),
    );
  });
  return output;
}

describePrivileged(
  "kill -9 during network setup, then gc",
  () => {
    beforeAll(async () => {
      network = newNetwork(opts);
      const build = await rolldown({
        input: join(import.meta.dirname, "fixtures/crash-child.ts"),
        platform: "node",
        resolve: { conditionNames: ["@strata/source", "import", "node", "default"] },
        logLevel: "silent",
      });
      await build.write({ file: bundle, format: "esm" });
      await build.close();
    });

    afterAll(async () => {
      await network.gc({ isAlive: () => false }).catch(() => {});
      await network.destroy().catch(() => {});
      rmSync(bundleDir, { recursive: true, force: true });
      rmSync(opts.stateDir as string, { recursive: true, force: true });
    });

    const childConfig = (ids: string[], extra: object = {}) => ({
      network: {
        bridge: opts.bridge,
        subnet: opts.subnet,
        chainSuffix: opts.chainSuffix,
        vethPrefix: opts.vethPrefix,
        netnsPrefix: opts.netnsPrefix,
        stateDir: opts.stateDir,
      },
      ids,
      firstPort: 30000 + opts.rand8 * 10,
      ...extra,
    });

    it("a process killed after the host side (lease, netns, veth, DNAT) leaves what gc removes entirely", async () => {
      await crashChild(childConfig(["k-hang"], { hangBeforeContainerSide: true }), (out) =>
        out.includes("hanging"),
      );
      expect(await leftovers()).toEqual({ links: 1, netns: 1, rules: 1, leases: 1 });
      const report = await network.gc();
      expect(report.leases).toEqual(["k-hang"]);
      expect(await leftovers()).toEqual({ links: 0, netns: 0, rules: 0, leases: 0 });
    });

    it.each([0, 1, 2, 3])(
      "a process killed at a random point among several attaches (run %i) leaves what gc removes entirely",
      async () => {
        const ids = Array.from({ length: 6 }, (_, i) => `k${i}`);
        const after = 1 + Math.floor(Math.random() * 4);
        await crashChild(childConfig(ids), (out) => out.split("attached").length - 1 >= after);
        const before = await leftovers();
        expect(before.leases).toBeGreaterThanOrEqual(after);
        await network.gc();
        expect(await leftovers()).toEqual({ links: 0, netns: 0, rules: 0, leases: 0 });
      },
    );

    it("gc removes strata-named veths, namespaces and DNAT rules that no lease owns, and nothing else", async () => {
      await network.ensure();
      const ns = `${opts.netnsPrefix}0123456789ab`;
      // Same prefix, but not a name strata makes (prefix + 12 hex): another tool's namespace, never removed.
      const foreign = `${opts.netnsPrefix}not-ours`;
      await run("ip", ["netns", "add", foreign]);
      await run("ip", ["netns", "add", ns]);
      await run("ip", [
        "link",
        "add",
        `${opts.vethPrefix}abcdef`,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        ns,
      ]);
      await run("iptables", [
        "-w",
        "-t",
        "nat",
        "-A",
        network.chains.dnat,
        "-p",
        "tcp",
        "--dport",
        "30998",
        "-m",
        "comment",
        "--comment",
        "strata:nobody",
        "-j",
        "DNAT",
        "--to-destination",
        "10.0.0.1:80",
      ]);
      expect(await leftovers()).toEqual({ links: 1, netns: 2, rules: 1, leases: 0 });
      const report = await network.gc();
      expect(report).toEqual({ leases: [], netns: [ns], links: [`${opts.vethPrefix}abcdef`], rules: 1 });
      expect(await leftovers()).toEqual({ links: 0, netns: 1, rules: 0, leases: 0 });
      await run("ip", ["netns", "del", foreign]);
      expect(await leftovers()).toEqual({ links: 0, netns: 0, rules: 0, leases: 0 });
    });

    it("gc keeps the network of a live owner", async () => {
      await network.attach({ containerId: "alive", publish: ["30999:80"] });
      const report = await network.gc();
      expect(report).toEqual({ leases: [], netns: [], links: [], rules: 0 });
      expect(await leftovers()).toEqual({ links: 1, netns: 1, rules: 1, leases: 1 });
      await network.detach("alive");
      expect(await leftovers()).toEqual({ links: 0, netns: 0, rules: 0, leases: 0 });
    });
  },
  { commands: ["ip", "iptables", "iptables-restore", "iptables-save"] },
);
