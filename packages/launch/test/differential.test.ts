import { existsSync, readdirSync } from "node:fs";
import { assertNoLeaks, describePrivileged } from "@strata/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildLaunchSpec, type LaunchSpec } from "../src/index.js";
import { makeBusyboxRootfs } from "./rootfs.js";
import { run } from "./run.js";

const PREFIX = "strata-test-launch-d";

// What each runtime reports from inside the container, one section per line group.
const PROBE = [
  "echo '## id'; id -u; id -g; id -G",
  "echo '## hostname'; hostname",
  "echo '## caps'; grep -E '^(Cap|NoNewPrivs)' /proc/self/status",
  "echo '## mounts'; cut -d' ' -f2,3 /proc/self/mounts",
  "echo '## env'; env | sort",
  "true",
].join("; ");

function sections(stdout: string, spec: LaunchSpec): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let current = "";
  for (const line of stdout.split("\n").filter(Boolean)) {
    if (line.startsWith("## ")) {
      current = line.slice(3);
      out[current] = [];
    } else {
      out[current]?.push(line);
    }
  }
  // masked files are bind mounts of some /dev/null: crun binds the host's (devtmpfs), runc and we the
  // container's (tmpfs); the target is what matters. Order differs between runtimes, so sort.
  const masked = new Set(spec.maskedPaths);
  out.mounts = (out.mounts ?? [])
    .map((line) => {
      const [target = ""] = line.split(" ");
      return masked.has(target) ? `${target} (masked)` : line;
    })
    .sort();
  return out;
}

const runtimes = (["runc", "crun"] as const).filter((r) =>
  process.env.PATH?.split(":").some((dir) => existsSync(`${dir}/${r}`)),
);

describePrivileged(
  "the same bundle under the builtin helper, runc and crun",
  () => {
    let fs: ReturnType<typeof makeBusyboxRootfs>;
    beforeAll(() => {
      fs = makeBusyboxRootfs(PREFIX);
    });
    afterAll(async () => {
      fs.remove();
      await assertNoLeaks(PREFIX);
    });

    it.each([
      ["root", ""],
      ["app", "app"],
    ])("as %s: uid/gid, capabilities, mounts, hostname and environment agree", async (_label, user) => {
      const spec = buildLaunchSpec(
        { Cmd: ["sh", "-c", PROBE], Env: ["FROM_IMAGE=1"] },
        { rootfs: fs.rootfs, hostname: "strata-diff", user, env: { EXTRA: "x" } },
      );
      const builtin = await run(spec);
      expect(builtin.exitCode).toBe(0);
      const ours = sections(builtin.stdout, spec);
      expect(ours.hostname).toEqual(["strata-diff"]);
      expect(ours.mounts).toContain("/proc/sys proc");
      for (const runtime of runtimes) {
        const theirs = await run(spec, { runtime });
        expect(theirs.exitCode, `${runtime}: ${theirs.stderr}`).toBe(0);
        expect(sections(theirs.stdout, spec), runtime).toEqual(ours);
      }
      // the runtimes clean their state up after `run`
      for (const dir of ["/run/runc", "/run/crun"]) {
        if (existsSync(dir)) expect(readdirSync(dir).filter((n) => n.startsWith("strata-"))).toEqual([]);
      }
    });
  },
  { commands: ["runc", "crun", "unshare"] },
);
