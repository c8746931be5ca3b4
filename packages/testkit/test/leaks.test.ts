import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, rmdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { assertNoLeaks, describePrivileged, findLeaks } from "../src/index.js";
import { setup, teardown } from "../src/leak-setup.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), name));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe("findLeaks on injected roots", () => {
  it("reports mounts, netns, cgroup dirs (depth ≤ 3) and temp dirs carrying the prefix", async () => {
    const root = await tempDir("strata-test-testkit-roots-");
    const p = "strata-test-fake";
    const mountinfo = join(root, "mountinfo");
    await writeFile(
      mountinfo,
      [
        "22 1 0:21 / /proc rw,nosuid - proc proc rw",
        `90 1 0:50 / /var/lib/x/${p}-a/merged rw - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w`,
        `91 1 0:51 / /mnt/other rw - overlay overlay rw,lowerdir=/s/${p}-lower,upperdir=/u,workdir=/w`,
        `92 1 0:52 / /mnt/with\\040space-${p} rw - tmpfs tmpfs rw`,
      ].join("\n"),
    );
    const netnsDir = join(root, "netns");
    await mkdir(netnsDir);
    await writeFile(join(netnsDir, `${p}-ns`), "");
    await writeFile(join(netnsDir, "unrelated"), "");
    const cgroupRoot = join(root, "cgroup");
    await mkdir(join(cgroupRoot, "memory", "a", `${p}-cg`, "child"), { recursive: true });
    await mkdir(join(cgroupRoot, "pids", "a", "b", "c", `${p}-too-deep`), { recursive: true });
    const tmp = join(root, "tmp");
    await mkdir(join(tmp, `${p}-dir`), { recursive: true });
    await mkdir(join(tmp, "other"));

    const leaks = await findLeaks(p, {
      mountinfoPath: mountinfo,
      netnsDir,
      cgroupRoot,
      tmpDir: tmp,
      skipLinks: true,
      procDir: root,
    });
    expect(leaks).toEqual([
      { kind: "mount", name: `/var/lib/x/${p}-a/merged` },
      { kind: "mount", name: "/mnt/other" },
      { kind: "mount", name: `/mnt/with space-${p}` },
      { kind: "netns", name: `${p}-ns` },
      { kind: "cgroup", name: join(cgroupRoot, "memory", "a", `${p}-cg`) },
      { kind: "tmp", name: join(tmp, `${p}-dir`) },
    ]);
    await expect(
      assertNoLeaks(p, {
        mountinfoPath: mountinfo,
        netnsDir,
        cgroupRoot,
        tmpDir: tmp,
        skipLinks: true,
        procDir: root,
      }),
    ).rejects.toMatchObject({ code: "LEAKS_FOUND", message: expect.stringContaining(`netns: ${p}-ns`) });
  });

  it("refuses a prefix too short to be specific", async () => {
    await expect(findLeaks("st")).rejects.toMatchObject({ code: "LEAKS_FOUND" });
  });
});

describe("findLeaks on this host", () => {
  it("finds a temp dir in os.tmpdir() until it is removed", async () => {
    const dir = await tempDir("strata-test-testkit-leak-");
    const prefix = dir.slice(tmpdir().length + 1);
    expect(await findLeaks(prefix, { skipLinks: true })).toEqual([{ kind: "tmp", name: dir }]);
    await rm(dir, { recursive: true });
    await assertNoLeaks(prefix, { skipLinks: true });
  });

  it("finds a process whose command line carries the prefix until it exits", async () => {
    const prefix = `strata-test-testkit-proc-${process.pid}`;
    const child: ChildProcess = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)", prefix], {
      stdio: "ignore",
    });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited;
      }
    });
    await new Promise((resolve) => child.once("spawn", resolve));
    const leaks = await findLeaks(prefix, { skipLinks: true });
    expect(leaks).toEqual([
      { kind: "process", name: expect.stringMatching(new RegExp(`^${child.pid}: .*${prefix}$`)) },
    ]);
    child.kill("SIGTERM");
    await exited;
    await assertNoLeaks(prefix, { skipLinks: true });
  });

  it("leak-setup's teardown throws on objects created after setup, and passes once they are gone", async () => {
    const prefix = `strata-test-testkit-gs-${process.pid}`;
    const old = process.env.STRATA_LEAK_PREFIX;
    process.env.STRATA_LEAK_PREFIX = prefix;
    cleanups.push(() => {
      if (old === undefined) delete process.env.STRATA_LEAK_PREFIX;
      else process.env.STRATA_LEAK_PREFIX = old;
    });
    await setup();
    const dir = await tempDir(`${prefix}-`);
    await expect(teardown()).rejects.toMatchObject({
      code: "LEAKS_FOUND",
      message: expect.stringContaining(dir),
    });
    await rm(dir, { recursive: true });
    await expect(teardown()).resolves.toBeUndefined();
  });
});

describePrivileged(
  "findLeaks on kernel objects",
  () => {
    it("reports a netns, a link, a mount and a cgroup dir, and nothing once they are removed", async () => {
      const prefix = `strata-test-testkit-k${process.pid}`;
      const ns = `${prefix}-ns`;
      execFileSync("ip", ["netns", "add", ns]);
      cleanups.push(() => {
        if (existsSync(`/run/netns/${ns}`)) execFileSync("ip", ["netns", "del", ns]);
      });
      // No dummy module on every kernel; a veth pair is always there (deleting one end removes both).
      const link = `sttk${process.pid % 100000}`;
      execFileSync("ip", ["link", "add", `${link}a`, "type", "veth", "peer", "name", `${link}b`]);
      cleanups.push(() => {
        try {
          execFileSync("ip", ["link", "del", `${link}a`], { stdio: "ignore" });
        } catch {
          // already gone
        }
      });
      const mnt = await tempDir(`${prefix}-mnt-`);
      execFileSync("mount", ["-t", "tmpfs", "none", mnt]);
      cleanups.push(() => {
        try {
          execFileSync("umount", [mnt], { stdio: "ignore" });
        } catch {
          // not mounted
        }
      });
      const cgroup = join(
        existsSync("/sys/fs/cgroup/unified") ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup",
        `${prefix}-cg`,
      );
      await mkdir(cgroup);
      cleanups.push(() => rmdir(cgroup).catch(() => {}));

      const leaks = await findLeaks(prefix, { linkPrefix: link });
      expect(leaks).toEqual(
        expect.arrayContaining([
          { kind: "netns", name: ns },
          // `ip netns add` bind-mounts the namespace file, so a leaked netns is a leaked mount too.
          { kind: "mount", name: `/run/netns/${ns}` },
          { kind: "link", name: `${link}a` },
          { kind: "link", name: `${link}b` },
          { kind: "mount", name: mnt },
          { kind: "cgroup", name: cgroup },
          { kind: "tmp", name: mnt },
        ]),
      );
      expect(leaks).toHaveLength(7);
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
      await assertNoLeaks(prefix, { linkPrefix: link });
    });
  },
  { commands: ["ip", "mount", "umount"] },
);
