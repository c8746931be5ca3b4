// `npm run demo` (node apps/run/bin/demo.js) end to end, with its own bridge, subnet, cgroup parent and
// prefixes so it touches nothing shared; afterwards nothing carrying them is left.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { assertNoLeaks, describePrivileged } from "@strata/testkit";
import { expect, it } from "vitest";
import { collect } from "./cli-helpers.js";

const PREFIX = "strata-test-rundemo-";
const DEMO = fileURLToPath(new URL("../bin/demo.js", import.meta.url));

/** The demo's environment: its own bridge, subnet, cgroup parent and prefixes. */
function demoEnv(): NodeJS.ProcessEnv {
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
  return env;
}

/** pids.max of every container cgroup under `parent` (read on the host). */
function findPidsMax(parent: string): string[] {
  if (!existsSync(parent)) return [];
  return readdirSync(parent, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => readFileSync(path.join(parent, e.name, "pids.max"), "utf8").trim());
}

const quote = (a: string) => `'${a.replaceAll("'", `'\\''`)}'`;

describePrivileged(
  "npm run demo",
  () => {
    it("--shell ends in an interactive shell in a container (through a real pty), on the bridge with a pids limit", async () => {
      // script(1) gives the demo a real terminal; the input goes in once the shell's prompt shows
      const child = spawn(
        "script",
        ["-qec", `${quote(process.execPath)} ${quote(DEMO)} --shell`, "/dev/null"],
        {
          env: demoEnv(),
          stdio: ["pipe", "pipe", "pipe"],
        },
      );
      let sent = false;
      let hostPidsMax: string[] = [];
      const result = collect(child, (out) => {
        const at = out.indexOf("== a shell in a container");
        // busybox's prompt, "/ # " (followed by a cursor-position query, ESC [ 6n)
        if (!sent && at >= 0 && out.slice(at).includes("/ # ")) {
          sent = true;
          // while the shell runs: its cgroup on the host has the limit
          hostPidsMax = findPidsMax(`/sys/fs/cgroup/pids/${PREFIX}cg`);
          child.stdin?.write(
            "hostname; cat /sys/fs/cgroup/pids/pids.max || cat /proc/self/cgroup; ip addr show eth0; exit\n",
          );
        }
      });
      // if the prompt never shows, end the shell (the demo then cleans up) rather than kill the tree
      const timer = setTimeout(() => child.stdin?.write("\nexit\n"), 90_000);
      const r = await result.finally(() => clearTimeout(timer));
      child.stdin?.end();
      const out = r.stdout.replace(/\r+\n/g, "\n");
      expect(sent, out).toBe(true);
      expect(r.code, out).toBe(0);
      expect(hostPidsMax).toEqual(["16"]);
      const shell = out.slice(out.indexOf("== a shell in a container"));
      expect(shell).toContain("$ strata run -it --rm --pids-limit 16 --hostname demo --network bridge");
      expect(shell).toMatch(/^demo$/m);
      // pids.max when the container sees its cgroup, else its own cgroup namespace's root
      expect(shell).toMatch(/^16$|^\d+:pids:\/$/m);
      expect(shell).toMatch(/inet 10\.232\.0\.\d+\/24 .*eth0/);
      expect(out).toContain("== done");
      await assertNoLeaks(PREFIX, { linkPrefix: "strdm" });
    }, 120_000);

    it("pulls, lists and runs a busybox container from a private registry, printing each command, and cleans up", async () => {
      const r = await collect(
        spawn(process.execPath, [DEMO], { env: demoEnv(), stdio: ["ignore", "pipe", "pipe"] }),
      );
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
  { commands: ["ip", "iptables-restore", "docker-registry", "script"] },
);
