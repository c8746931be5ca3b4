// `--explain`, `--dry-run`, `--trace` through the real CLI (issue 7), as root against a local registry:
// the printed script, run by hand with `bash -e`, gives what `strata run` gives, and its teardown leaves
// nothing. Own cgroup parent, netns/veth prefixes and bridge settings, so nothing shared is touched.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import {
  assertNoLeaks,
  buildImage,
  busyboxRootfs,
  describePrivileged,
  pushImage,
  type RegistryHandle,
  startRegistry,
} from "@strata/testkit";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addExplainOptions, explainer, splitTraceEquals } from "../src/explain.js";
import { BIN, type CliResult, cleanup, collect } from "./cli-helpers.js";

const run = promisify(execFile);
const PREFIX = "strata-test-runx-";

/** A program shaped like strata's, for the argv rewrite. */
function program(): Command {
  const p = new Command("strata").option("--root <dir>");
  addExplainOptions(p.command("run").option("--name <n>").argument("<image>").argument("[cmd...]"));
  addExplainOptions(p.command("pull").argument("<ref>"), { dryRun: false });
  addExplainOptions(p.command("rm").argument("<c...>"));
  return p;
}

describe("--trace=FORMAT (docker-like: --trace, --trace=json, --trace-format json)", () => {
  it.each([
    [
      ["run", "--trace=json", "img"],
      ["run", "--trace", "--trace-format=json", "img"],
    ],
    [
      ["--root", "/x", "pull", "busybox", "--trace=text"],
      ["--root", "/x", "pull", "busybox", "--trace", "--trace-format=text"],
    ],
    [
      ["run", "--name", "--trace=json", "img"],
      ["run", "--name", "--trace=json", "img"],
    ], // a value, not a flag
    [
      ["run", "img", "sh", "--trace=json"],
      ["run", "img", "sh", "--trace=json"],
    ], // the container's command
    [
      ["run", "--trace", "img"],
      ["run", "--trace", "img"],
    ],
    [
      ["rm", "--trace=json", "a", "b"],
      ["rm", "--trace", "--trace-format=json", "a", "b"],
    ],
  ])("%j → %j", (args, expected) => {
    expect(splitTraceEquals(["node", "strata", ...args], program()).slice(2)).toEqual(expected);
  });

  it("renders --explain to stderr and --dry-run as one bash -e script on stdout", () => {
    const outs = { stdout: "", stderr: "" };
    const io = {
      stdout: (s: string) => {
        outs.stdout += s;
      },
      stderr: (s: string) => {
        outs.stderr += s;
      },
    };
    const e = explainer({ explain: true }, io);
    e.explain?.("cgroup", ["mkdir /sys/fs/cgroup/pids/x"]);
    e.explain?.("netns", [], "none");
    e.finish();
    expect(outs).toEqual({
      stdout: "",
      stderr: "# --- cgroup\nmkdir /sys/fs/cgroup/pids/x\n# --- netns: none\n",
    });
    outs.stderr = "";
    const d = explainer({ dryRun: true, trace: true, traceFormat: "json" }, io);
    d.explain?.("cgroup", ["mkdir /sys/fs/cgroup/pids/x"]);
    d.finish();
    expect(outs.stdout).toBe("#!/bin/bash\nset -e\n\n# --- cgroup\nmkdir /sys/fs/cgroup/pids/x\n");
    expect(JSON.parse(outs.stderr)).toEqual({ steps: [] });
    expect(() => explainer({ traceFormat: "yaml" }, io)).toThrow(expect.objectContaining({ code: "USAGE" }));
  });
});

/** Every path under `dir`, relative, sorted. */
async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).sort();
}

/** `# --- step` headers of an explain output, in order. */
const headers = (text: string) => [...text.matchAll(/^# --- (\w+)/gm)].map((m) => m[1]);

describePrivileged(
  "strata --explain / --dry-run / --trace",
  () => {
    let registry: RegistryHandle;
    let dir: string;
    let image: string;
    let env: NodeJS.ProcessEnv;
    let pulled: CliResult;
    const children = new Set<ChildProcess>();

    function start(args: string[]): ChildProcess {
      const child = spawn(process.execPath, [BIN, "--root", path.join(dir, "root"), ...args], {
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.add(child);
      child.once("exit", () => children.delete(child));
      return child;
    }
    const cli = (...args: string[]): Promise<CliResult> => collect(start(args));

    beforeAll(async () => {
      dir = await mkdtemp(path.join(tmpdir(), PREFIX));
      registry = await startRegistry();
      const built = buildImage({ layers: [await busyboxRootfs()], config: { Cmd: ["/bin/sh"] } });
      await pushImage(registry, "test/busybox", "latest", built);
      image = `${registry.host}/test/busybox:latest`;
      env = {
        ...process.env,
        STRATA_CGROUP_PARENT: `${PREFIX}cg`,
        STRATA_BRIDGE: "strx0",
        STRATA_SUBNET: "10.233.0.0/24",
        STRATA_CHAIN_SUFFIX: "-TRUNX",
        STRATA_VETH_PREFIX: "strx",
        STRATA_NETNS_PREFIX: `${PREFIX}c-`,
        STRATA_NETWORK_STATE_DIR: path.join(dir, "net"),
      };
      delete env.STRATA_ROOT;
      // the pull every other test needs, explained and traced as JSON
      pulled = await cli("pull", "--explain", "--trace=json", image);
    }, 60_000);

    afterAll(async () => {
      for (const child of children) child.kill("SIGKILL");
      if (dir) {
        const ps = await cli("ps", "-a", "-q");
        for (const id of ps.stdout.split("\n").filter(Boolean)) await cli("rm", "-f", id);
        await cli("gc").catch(() => undefined); // prunes the empty cgroup parent
      }
      await registry?.stop();
      if (dir) await cleanup(dir);
      await assertNoLeaks(PREFIX, { linkPrefix: "strx" });
    }, 60_000);

    it("pull --explain prints the registry requests as curl | sha256sum lines; --trace=json parses", () => {
      expect(pulled.code).toBe(0);
      expect(pulled.stdout).toContain("Status: Downloaded newer image");
      expect(headers(pulled.stderr)).toEqual(["pull"]);
      expect(pulled.stderr).toContain(`http://${registry.host}/v2/test/busybox/manifests/latest`);
      expect(pulled.stderr).toMatch(
        /^curl .*\/blobs\/sha256:[0-9a-f]{64} -o \S+ && echo .* \| sha256sum -c/m,
      );
      const json = JSON.parse(pulled.stderr.trim().split("\n").at(-1) as string) as {
        steps: { step: string; durationMs: number }[];
      };
      expect(json.steps.map((s) => s.step).sort()).toEqual(["pull", "unpack"]);
    });

    it("run --dry-run: the script run with bash -e gives what strata run gives, and its teardown leaves nothing", async () => {
      const args = [
        "--network",
        "none",
        "--pids-limit",
        "2",
        "--hostname",
        "explained",
        image,
        "sh",
        "-c",
        "hostname; cat /proc/self/cgroup; echo ok > /tmp/x",
      ];
      const dry = await cli("run", "--dry-run", ...args);
      expect(dry.stderr).toBe("");
      expect(dry.code).toBe(0);
      const script = dry.stdout;
      expect(script.startsWith("#!/bin/bash\nset -e\n")).toBe(true);
      expect(headers(script)).toEqual(["resolve", "mount", "cgroup", "netns", "exec", "teardown"]);
      expect(script).toMatch(
        /^mount -t overlay overlay -o (\S+,)?lowerdir=\S+,upperdir=\S+,workdir=\S+ \S+$/m,
      );
      expect(script).toContain("pivot_root . .");
      const upper = /upperdir=([^,\s]+)/.exec(script)?.[1] as string;
      const pidsMax = /^echo 2 > (\S+\/pids\.max)$/m.exec(script)?.[1] as string;
      expect(pidsMax).toContain(`${PREFIX}cg`);
      const layerDir = path.dirname(upper);
      // a dry run made nothing
      expect(existsSync(layerDir)).toBe(false);
      expect(existsSync(path.dirname(pidsMax))).toBe(false);
      expect((await cli("ps", "-a", "-q")).stdout).toBe("");

      // strata run of the same (kept, to look at its upper dir)
      const real = await cli("run", "--name", "realx", ...args);
      expect(real.code).toBe(0);
      const id = (await cli("ps", "-a", "-q", "--no-trunc")).stdout.trim();
      const state = JSON.parse(
        await readFile(path.join(dir, "root", "containers", id, "state.json"), "utf8"),
      ) as {
        mount?: { id: string };
      };
      const realUpper = path.join(dir, "root", "overlay2", state.mount?.id as string, "diff");
      const realFiles = await tree(realUpper);
      expect(realFiles).toContain("tmp/x");
      // the explained teardown of a kept container: strata rm --dry-run prints it and removes nothing
      const rmDry = await cli("rm", "--dry-run", "realx");
      expect(rmDry.code).toBe(0);
      expect(headers(rmDry.stdout)).toEqual(["teardown"]);
      expect(rmDry.stdout).toContain(`rm -rf ${path.join(dir, "root", "containers", id)}`);
      expect(existsSync(realUpper)).toBe(true);
      expect((await cli("rm", "realx")).stdout).toBe("realx\n");

      // by hand: the script up to the teardown, then the teardown, each with bash -e
      const at = script.indexOf("# --- teardown");
      const setupScript = path.join(dir, "plan.sh");
      const teardownScript = path.join(dir, "teardown.sh");
      await writeFile(setupScript, script.slice(0, at));
      await writeFile(teardownScript, `#!/bin/bash\nset -e\n\n${script.slice(at)}`);
      let byHand: string;
      try {
        byHand = (await run("bash", ["-e", setupScript])).stdout;
        expect((await readFile(pidsMax, "utf8")).trim()).toBe("2");
        expect(await readFile(path.join(upper, "tmp", "x"), "utf8")).toBe("ok\n");
        expect(await tree(upper)).toEqual(realFiles);
      } catch (error) {
        await run("bash", [teardownScript]).catch(() => undefined);
        throw error;
      }
      await run("bash", ["-e", teardownScript]);
      expect(real.stdout).toMatch(/^explained\n/);
      expect(real.stdout).toMatch(/^\d+:pids:\/$/m);
      expect(byHand.split("\n")).toEqual(real.stdout.split("\n"));
      // the teardown leaves nothing: mount, cgroup, layer
      expect(await readFile("/proc/self/mountinfo", "utf8")).not.toContain(layerDir);
      expect(existsSync(path.dirname(pidsMax))).toBe(false);
      expect(existsSync(layerDir)).toBe(false);
      expect(existsSync(path.join(dir, "root", "image", "overlay2", "layerdb", "mounts", id))).toBe(false);
    }, 60_000);

    it("--explain on a real run prints each step in order and still runs; --trace prints each step", async () => {
      const r = await cli(
        "run",
        "--rm",
        "--explain",
        "--trace",
        "--network",
        "none",
        "--pids-limit",
        "2",
        image,
        "echo",
        "hi",
      );
      expect(r.code).toBe(0);
      expect(r.stdout).toBe("hi\n");
      expect(headers(r.stderr)).toEqual(["resolve", "mount", "cgroup", "netns", "exec", "teardown"]);
      expect(r.stderr).toMatch(/^echo 2 > \S+\/pids\.max$/m);
      const traced = r.stderr.split("\n").filter((l) => /^\w+ +\+[\d.]+ms [\d.]+ms$/.test(l));
      const steps = new Set(traced.map((l) => l.split(" ")[0]));
      for (const step of ["resolve", "mount", "cgroup", "netns", "exec", "teardown"])
        expect(steps).toContain(step);
      expect((await cli("ps", "-a", "-q")).stdout).toBe("");
    }, 60_000);

    it.each([["--trace=json"], ["--trace-format", "json"]])(
      "run %s: the trace is one JSON object on stderr",
      async (...flag) => {
        const r = await cli("run", "--rm", ...flag, "--network", "none", image, "true");
        expect(r.code).toBe(0);
        const json = JSON.parse(r.stderr.trim()) as {
          steps: { step: string; startMs: number; durationMs: number }[];
        };
        expect(json.steps.map((s) => s.step)).toEqual(
          expect.arrayContaining(["resolve", "mount", "exec", "teardown"]),
        );
      },
      60_000,
    );

    it("run --dry-run on the default bridge attaches on paper: netns and veth steps, nothing made", async () => {
      const r = await cli("run", "--dry-run", "-p", "127.0.0.1:18080:80", image, "true");
      expect(r.code, r.stderr).toBe(0);
      expect(headers(r.stdout)).toEqual(["resolve", "mount", "cgroup", "netns", "veth", "exec", "teardown"]);
      expect(r.stdout).toMatch(new RegExp(`^ip netns add ${PREFIX}c-[0-9a-f]{12}$`, "m"));
      expect(r.stdout).toMatch(/^ip link add strx0 type bridge/m);
      expect(r.stdout).toMatch(/type veth peer name eth0/);
      expect(r.stdout).toMatch(/^ip -n \S+ addr add 10\.233\.0\.\d+\/24 dev eth0$/m);
      expect(r.stdout).toMatch(/-j DNAT --to-destination 10\.233\.0\.\d+:80/);
      expect(existsSync("/sys/class/net/strx0")).toBe(false);
      expect((await run("ip", ["netns", "list"])).stdout).not.toContain(`${PREFIX}c-`);
    });

    it("netns add --explain prints ip netns add and makes it; --dry-run makes nothing", async () => {
      const name = `${PREFIX}ns`;
      const dry = await cli("netns", "add", "--dry-run", name);
      expect(dry.stdout).toBe(
        `#!/bin/bash\nset -e\n\n# --- netns\nip netns add ${name}\nip -n ${name} link set lo up\n`,
      );
      expect(existsSync(`/run/netns/${name}`)).toBe(false);
      const add = await cli("netns", "add", "--explain", name);
      try {
        expect(add.code).toBe(0);
        expect(add.stderr).toContain(`# --- netns\nip netns add ${name}\n`);
        expect(existsSync(`/run/netns/${name}`)).toBe(true);
        const rmDry = await cli("netns", "rm", "--dry-run", name);
        expect(rmDry.stdout).toContain(`ip netns del ${name}\n`);
        expect(existsSync(`/run/netns/${name}`)).toBe(true);
      } finally {
        const rm = await cli("netns", "rm", "--explain", name);
        expect(rm.stderr).toContain(`ip netns del ${name}`);
      }
      expect(existsSync(`/run/netns/${name}`)).toBe(false);
    });

    it("bad input: --trace-format yaml is a usage error; --dry-run of a missing image pulls nothing", async () => {
      const bad = await cli("run", "--trace-format", "yaml", image, "true");
      expect(bad.code).toBe(125);
      expect(bad.stderr).toContain("(USAGE)");
      const missing = await cli("run", "--dry-run", `${registry.host}/test/absent:latest`);
      expect(missing.code).toBe(125);
      expect(missing.stderr).toContain("(IMAGE_NOT_FOUND)");
    });
  },
  { commands: ["bash", "unshare", "nsenter", "pivot_root", "ip"] },
);
