import { rmSync } from "node:fs";
import { describePrivileged } from "@strata/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Attachment, BridgeNetwork } from "../src/index.js";
import { newNetwork, run, testNetworkOptions } from "./helpers.js";

const opts = testNetworkOptions();
let network: BridgeNetwork;

const shuffle = <T>(items: T[]): T[] => {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
};

/** Runs `fn` over items, `width` at a time. */
async function pool<T, R>(items: T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        results.push(await fn(item));
      }
    }),
  );
  return results;
}

/** Veths and namespaces with this test's names, and the eth0 addresses inside the namespaces. */
async function kernelState() {
  const { stdout } = await run("ip", ["-json", "link", "show", "type", "veth"]);
  const veths = (JSON.parse(stdout || "[]") as { ifname: string }[]).filter((l) =>
    l.ifname.startsWith(opts.vethPrefix),
  );
  const { stdout: list } = await run("ip", ["netns", "list"]);
  const netns = list
    .split("\n")
    .map((l) => l.split(" ")[0] as string)
    .filter((n) => n.startsWith(opts.netnsPrefix));
  return { veths: veths.length, netns };
}

async function eth0Address(ns: string): Promise<string> {
  const { stdout } = await run("ip", ["-n", ns, "-4", "-o", "addr", "show", "dev", "eth0"]);
  return (/inet (\S+)\//.exec(stdout)?.[1] ?? "") as string;
}

describePrivileged(
  "200 containers attached and detached in random order, some concurrently",
  () => {
    beforeAll(async () => {
      network = newNetwork(opts);
    });
    afterAll(async () => {
      await network.gc({ isAlive: () => false }).catch(() => {});
      await network.destroy().catch(() => {});
      rmSync(opts.stateDir as string, { recursive: true, force: true });
    });

    it("hands out no duplicate address and leaks no lease, veth or namespace", async () => {
      const ids = Array.from({ length: 200 }, (_, i) => `c${String(i).padStart(3, "0")}`);
      const attached = await pool(shuffle(ids), 8, (id) => network.attach({ containerId: id }));
      expect(new Set(attached.map((a) => a.address)).size).toBe(200);
      expect((await network.leases()).length).toBe(200);
      let state = await kernelState();
      expect(state.veths).toBe(200);
      expect(state.netns.length).toBe(200);
      // The kernel agrees with the leases for a sample of namespaces.
      for (const a of shuffle(attached).slice(0, 10)) expect(await eth0Address(a.netns)).toBe(a.address);

      // Half go away while 20 new ones arrive, all at once.
      const leaving = shuffle(ids).slice(0, 100);
      const arriving = Array.from({ length: 20 }, (_, i) => `n${i}`);
      const work: (() => Promise<Attachment | undefined>)[] = shuffle([
        ...leaving.map((id) => async () => {
          await network.detach(id);
          return undefined;
        }),
        ...arriving.map((id) => () => network.attach({ containerId: id })),
      ]);
      await pool(work, 8, (job) => job());
      const leases = await network.leases();
      expect(leases.length).toBe(120);
      expect(new Set(leases.map((l) => l.address)).size).toBe(120);
      state = await kernelState();
      expect(state.veths).toBe(120);
      expect(state.netns.length).toBe(120);

      await pool(shuffle(leases.map((l) => l.owner)), 8, (id) => network.detach(id));
      expect(await network.leases()).toEqual([]);
      expect(await kernelState()).toEqual({ veths: 0, netns: [] });
    });
  },
  { commands: ["ip", "iptables", "iptables-restore", "iptables-save"] },
);
