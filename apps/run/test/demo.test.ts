// `npm run demo` (node apps/run/bin/demo.js) end to end, with its own bridge, subnet, cgroup parent and
// prefixes so it touches nothing shared; afterwards nothing carrying them is left.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { assertNoLeaks, describePrivileged } from "@strata/testkit";
import { expect, it } from "vitest";
import { collect } from "./cli-helpers.js";

const PREFIX = "strata-test-rundemo-";
const DEMO = fileURLToPath(new URL("../bin/demo.js", import.meta.url));

describePrivileged(
  "npm run demo",
  () => {
    it("pulls, lists and runs a busybox container from a private registry, printing each command, and cleans up", async () => {
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        STRATA_DEMO_PREFIX: PREFIX,
        STRATA_BRIDGE: "strdm0",
        STRATA_SUBNET: "10.232.0.0/24",
        STRATA_CHAIN_SUFFIX: "-TDEMO",
        STRATA_VETH_PREFIX: "strdm",
        STRATA_NETNS_PREFIX: PREFIX,
        STRATA_CGROUP_PARENT: `${PREFIX}cg`,
      };
      delete env.STRATA_ROOT;
      delete env.STRATA_NETWORK_STATE_DIR;
      const r = await collect(spawn(process.execPath, [DEMO], { env, stdio: ["ignore", "pipe", "pipe"] }));
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const out = r.stdout;
      // each command is printed before it runs, in pipeline order
      const order = [
        "$ strata pull ",
        "$ strata images",
        "$ strata run --rm --pids-limit 16 --hostname demo",
        "$ strata network ls",
      ].map((s) => out.indexOf(s));
      expect(order.every((i) => i >= 0)).toBe(true);
      expect([...order].sort((a, b) => a - b)).toEqual(order);
      expect(out).toMatch(/Status: Downloaded newer image for 127\.0\.0\.1:\d+\/demo\/busybox:latest/);
      expect(out).toMatch(/127\.0\.0\.1:\d+\/demo\/busybox\s+latest\s+[0-9a-f]{12}/);
      expect(out).toContain("hello from strata\ndemo\n");
      expect(out).toMatch(/\d+:pids:\/\n/); // its own cgroup namespace
      expect(out).toMatch(/inet 10\.232\.0\.\d+\/24 .*eth0/); // on the bridge
      expect(out).toMatch(/\nbin\n(.*\n)*proc\n/);
      expect(out).toContain("== done");
      await assertNoLeaks(PREFIX, { linkPrefix: "strdm" });
    }, 120_000);
  },
  { commands: ["ip", "iptables-restore", "docker-registry"] },
);
