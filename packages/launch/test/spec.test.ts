import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BuildLaunchSpecOptions,
  buildLaunchSpec,
  capabilitiesFromMask,
  capabilityMask,
  DOCKER_DEFAULT_CAPABILITIES,
  type ImageRuntimeConfig,
  LaunchError,
  launch,
  MS,
  parseMountOptions,
  resolveInRoot,
  resolveUser,
  toHelperSpec,
  toOciConfig,
  writeOciBundle,
} from "../src/index.js";

let dir: string;
let rootfs: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "strata-test-launch-unit-"));
  rootfs = join(dir, "rootfs");
  mkdirSync(join(rootfs, "etc"), { recursive: true });
  mkdirSync(join(rootfs, "real"), { recursive: true });
  writeFileSync(
    join(rootfs, "real/passwd"),
    "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nbad line\n",
  );
  // an absolute symlink: must resolve inside the rootfs, never to the host's /real/passwd
  symlinkSync("/real/passwd", join(rootfs, "etc/passwd"));
  writeFileSync(join(rootfs, "etc/group"), "root:x:0:\nwheel:x:10:root,app\naudio:x:29:app\napp:x:1000:\n");
  symlinkSync("../../../../../../etc/group", join(rootfs, "real/escape"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const build = (image: ImageRuntimeConfig, options: Partial<BuildLaunchSpecOptions> = {}) =>
  buildLaunchSpec(image, { rootfs, hostname: "h", ...options });

describe("buildLaunchSpec: command merging like docker run", () => {
  it.each<[string, ImageRuntimeConfig, Partial<BuildLaunchSpecOptions>, string[]]>([
    ["Cmd only", { Cmd: ["sh"] }, {}, ["sh"]],
    ["Entrypoint + Cmd", { Entrypoint: ["/ep"], Cmd: ["a", "b"] }, {}, ["/ep", "a", "b"]],
    ["args replace Cmd", { Entrypoint: ["/ep"], Cmd: ["a"] }, { args: ["x"] }, ["/ep", "x"]],
    [
      "--entrypoint drops the image Cmd",
      { Entrypoint: ["/ep"], Cmd: ["a"] },
      { entrypoint: ["/other"] },
      ["/other"],
    ],
    ["--entrypoint with args", { Cmd: ["a"] }, { entrypoint: ["/other"], args: ["y"] }, ["/other", "y"]],
    ["null fields", { Entrypoint: null, Cmd: ["c"] }, {}, ["c"]],
  ])("%s", (_name, image, options, args) => {
    expect(build(image, options).args).toEqual(args);
  });

  it("accepts a whole image config document with a config field", () => {
    expect(buildLaunchSpec({ config: { Cmd: ["x"] } }, { rootfs }).args).toEqual(["x"]);
  });

  it("fails with NO_COMMAND when there is nothing to run", () => {
    expect(() => build({})).toThrow(expect.objectContaining({ code: "NO_COMMAND" }));
    expect(() => build({ Cmd: ["x"] }, { entrypoint: [], args: [] })).toThrow(
      expect.objectContaining({ code: "NO_COMMAND" }),
    );
  });
});

describe("buildLaunchSpec: environment, working dir, user", () => {
  it.each<[string, ImageRuntimeConfig, Partial<BuildLaunchSpecOptions>, string[]]>([
    [
      "default PATH, HOSTNAME, HOME",
      { Cmd: ["x"] },
      {},
      ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=h", "HOME=/root"],
    ],
    [
      "the image's PATH wins over the default",
      { Cmd: ["x"], Env: ["PATH=/bin"] },
      {},
      ["PATH=/bin", "HOSTNAME=h", "HOME=/root"],
    ],
    [
      "overrides replace image entries in place, new ones append",
      { Cmd: ["x"], Env: ["PATH=/bin", "A=1", "B=2"] },
      { env: ["B=3", "C=4"] },
      ["PATH=/bin", "HOSTNAME=h", "A=1", "B=3", "C=4", "HOME=/root"],
    ],
    [
      "TERM with a tty, HOME from the user's passwd entry, record overrides",
      { Cmd: ["x"], Env: ["PATH=/bin"], User: "app" },
      { tty: true, env: { X: "y" } },
      ["PATH=/bin", "HOSTNAME=h", "TERM=xterm", "X=y", "HOME=/home/app"],
    ],
    [
      "an explicit HOME is kept",
      { Cmd: ["x"], Env: ["PATH=/bin", "HOME=/h"] },
      {},
      ["PATH=/bin", "HOSTNAME=h", "HOME=/h"],
    ],
  ])("%s", (_name, image, options, env) => {
    expect(build(image, options).env).toEqual(env);
  });

  it.each<[string | undefined, string | undefined, string]>([
    [undefined, undefined, "/"],
    ["/srv", undefined, "/srv"],
    ["/srv", "/override/./x/..", "/override"],
  ])("working dir: image %s, option %s → %s", (image, option, cwd) => {
    const options = option === undefined ? {} : { workdir: option };
    expect(build({ Cmd: ["x"], WorkingDir: image }, options).cwd).toBe(cwd);
  });

  it.each<[string, { uid: number; gid: number; additionalGids: number[] }]>([
    ["", { uid: 0, gid: 0, additionalGids: [0, 10] }],
    ["root", { uid: 0, gid: 0, additionalGids: [0, 10] }],
    ["app", { uid: 1000, gid: 1000, additionalGids: [1000, 10, 29] }],
    ["1000", { uid: 1000, gid: 1000, additionalGids: [1000, 10, 29] }],
    ["app:audio", { uid: 1000, gid: 29, additionalGids: [29] }],
    ["app:7", { uid: 1000, gid: 7, additionalGids: [7] }],
    ["555", { uid: 555, gid: 0, additionalGids: [0] }],
    ["555:556", { uid: 555, gid: 556, additionalGids: [556] }],
  ])("user '%s' (image files read through an in-root symlink)", (user, expected) => {
    expect(build({ Cmd: ["x"], User: user }).user).toEqual(expected);
  });

  it("adds --group-add groups and lets the option override the image's User", () => {
    expect(build({ Cmd: ["x"], User: "app" }, { user: "root", groupAdd: ["audio", "77"] }).user).toEqual({
      uid: 0,
      gid: 0,
      additionalGids: [0, 10, 29, 77],
    });
  });

  it.each<[string, Partial<BuildLaunchSpecOptions>, ImageRuntimeConfig, string]>([
    ["unknown user", {}, { User: "ghost" }, "USER_NOT_FOUND"],
    ["unknown group", {}, { User: "app:ghosts" }, "GROUP_NOT_FOUND"],
    ["unknown --group-add", { groupAdd: ["ghosts"] }, {}, "GROUP_NOT_FOUND"],
    ["relative working dir", { workdir: "rel" }, {}, "INVALID_SPEC"],
    ["env entry without =", { env: ["NOVALUE"] }, {}, "INVALID_SPEC"],
    ["bad hostname", { hostname: "bad host" }, {}, "INVALID_SPEC"],
    ["relative rootfs", { rootfs: "rel" }, {}, "INVALID_SPEC"],
    ["missing rootfs", { rootfs: "/nonexistent/strata-test-launch" }, {}, "INVALID_SPEC"],
    ["relative netns", { netns: "ns" }, {}, "INVALID_SPEC"],
    ["missing hosts file", { hostsFile: "/nonexistent/hosts" }, {}, "INVALID_SPEC"],
    ["unknown capability", { capAdd: ["CAP_FLY"] }, {}, "INVALID_SPEC"],
    ["unknown rlimit", { rlimits: [{ type: "RLIMIT_FUN", soft: 1, hard: 1 }] }, {}, "INVALID_SPEC"],
  ])("%s → %s", (_name, options, image, code) => {
    const error = (() => {
      try {
        build({ Cmd: ["x"], ...image }, options);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(LaunchError);
    expect(error).toMatchObject({ code });
    expect((error as Error).message.length).toBeGreaterThan(20);
  });
});

describe("capabilities", () => {
  it("Docker's 14 default capabilities are the mask Docker containers show", () => {
    expect(DOCKER_DEFAULT_CAPABILITIES).toHaveLength(14);
    expect(capabilityMask(DOCKER_DEFAULT_CAPABILITIES).toString(16)).toBe("a80425fb");
    expect(capabilitiesFromMask("00000000a80425fb").sort()).toEqual([...DOCKER_DEFAULT_CAPABILITIES].sort());
  });

  it.each<[string, Partial<BuildLaunchSpecOptions>, { bounding: number; effective: number }]>([
    ["root", {}, { bounding: 0xa80425fb, effective: 0xa80425fb }],
    ["non-root gets only the bounding set", { user: "app" }, { bounding: 0xa80425fb, effective: 0 }],
    ["cap-add NET_ADMIN", { capAdd: ["CAP_NET_ADMIN"] }, { bounding: 0xa80435fb, effective: 0xa80435fb }],
    ["cap-drop ALL + add CHOWN", { capDrop: ["ALL"], capAdd: ["chown"] }, { bounding: 1, effective: 1 }],
    ["cap-drop KILL", { capDrop: ["KILL"] }, { bounding: 0xa80425db, effective: 0xa80425db }],
  ])("%s", (_name, options, expected) => {
    const caps = toHelperSpec(build({ Cmd: ["x"] }, options)).capabilities;
    expect(caps).toMatchObject({ ...expected, permitted: expected.effective, inheritable: 0 });
  });
});

describe("mount options and the helper program", () => {
  it.each<[string[], number, string]>([
    [["nosuid", "noexec", "nodev"], MS.NOSUID | MS.NOEXEC | MS.NODEV, ""],
    [
      ["nosuid", "strictatime", "mode=755", "size=65536k"],
      MS.NOSUID | MS.STRICTATIME,
      "mode=755,size=65536k",
    ],
    [["ro", "rw"], 0, ""],
    [["rbind", "rprivate", "ro"], MS.BIND | MS.REC | MS.RDONLY, ""],
    [["newinstance", "ptmxmode=0666"], 0, "newinstance,ptmxmode=0666"],
  ])("%j → flags %i, data '%s'", (options, flags, data) => {
    expect(parseMountOptions(options)).toEqual({ flags, data });
  });

  it("orders mounts, devices, read-only paths, masks; binds refer to cloned sources", () => {
    const hosts = join(dir, "hosts");
    writeFileSync(hosts, "127.0.0.1 localhost\n");
    const spec = build(
      { Cmd: ["x"] },
      {
        hostsFile: hosts,
        readonlyRootfs: true,
        rlimits: [{ type: "RLIMIT_NOFILE", soft: 1024, hard: Number.POSITIVE_INFINITY }],
      },
    );
    const helper = toHelperSpec(spec);
    const kinds = helper.mounts.map((op) => `${op.op} ${op.target}`);
    expect(kinds.slice(0, 7)).toEqual([
      "mount /proc",
      "mount /dev",
      "mount /dev/pts",
      "mount /sys",
      "mount /dev/mqueue",
      "mount /dev/shm",
      "bind /etc/hosts",
    ]);
    expect(kinds).toContain("mknod /dev/null");
    expect(kinds).toContain("symlink /dev/ptmx");
    expect(kinds.indexOf("readonly /proc/sys")).toBeLessThan(kinds.indexOf("mask /proc/kcore"));
    expect(kinds.at(-1)).toBe("remount-ro /");
    expect(helper.bindSources).toEqual([{ path: hosts, recursive: true }]);
    expect(helper.mounts[6]).toMatchObject({ op: "bind", tree: 0, flags: 0 });
    expect(helper.mounts[3]).toMatchObject({
      op: "mount",
      fstype: "sysfs",
      flags: MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RDONLY,
    });
    expect(helper.rlimits).toEqual([{ name: "RLIMIT_NOFILE", resource: 7, soft: 1024, hard: -1 }]);
    expect(helper.path).toBe("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    expect(helper.netns).toBeNull();
  });

  it("rejects out-of-range ids", () => {
    const spec = build({ Cmd: ["x"] });
    expect(() => toHelperSpec({ ...spec, user: { uid: -1, gid: 0, additionalGids: [] } })).toThrow(
      expect.objectContaining({ code: "INVALID_SPEC" }),
    );
  });
});

describe("rootfs path resolution", () => {
  it.each([
    ["/etc/passwd", "real/passwd"],
    ["/real/escape", "etc/group"],
    ["/../../etc/group", "etc/group"],
    ["/missing/../etc/group", "etc/group"],
    ["/nope/x", "nope/x"],
  ])("%s stays inside the rootfs as %s", (path, inside) => {
    expect(resolveInRoot(rootfs, path)).toBe(join(rootfs, inside));
  });

  it("reads users through the image's own symlinks", () => {
    expect(resolveUser(rootfs, "app").home).toBe("/home/app");
  });
});

describe("OCI bundle", () => {
  it("writes a config.json runc and crun accept", async () => {
    const spec = build(
      { Cmd: ["sh"], User: "app" },
      { netns: "/run/netns/x", tty: true, consoleSize: { rows: 3, cols: 4 } },
    );
    const path = await writeOciBundle(spec, join(dir, "bundle"));
    const config = JSON.parse(readFileSync(path, "utf8"));
    expect(config).toMatchObject({
      ociVersion: "1.0.2",
      root: { path: rootfs, readonly: false },
      hostname: "h",
      process: {
        terminal: true,
        consoleSize: { height: 3, width: 4 },
        user: { uid: 1000, gid: 1000, additionalGids: [1000, 10, 29] },
        args: ["sh"],
        cwd: "/",
        noNewPrivileges: true,
        capabilities: { effective: [], permitted: [], inheritable: [] },
      },
    });
    expect(config.process.capabilities.bounding).toContain("CAP_NET_BIND_SERVICE");
    expect(config.linux.namespaces).toContainEqual({ type: "network", path: "/run/netns/x" });
    expect(config.linux.readonlyPaths).toContain("/proc/sys");
    expect(toOciConfig(spec).mounts).toEqual(spec.mounts.map((m) => ({ ...m, options: m.options ?? [] })));
  });
});

describe("launch input errors", () => {
  it("reports a missing helper binary with HELPER_NOT_BUILT", async () => {
    await expect(
      launch(build({ Cmd: ["x"] }), { helperPath: "/nonexistent/strata-launch-helper" }),
    ).rejects.toMatchObject({
      code: "HELPER_NOT_BUILT",
    });
  });

  it("refuses cgroup joins through an OCI runtime", async () => {
    const spec = build({ Cmd: ["x"] }, { cgroupProcs: ["/sys/fs/cgroup/pids/x/cgroup.procs"] });
    await expect(launch(spec, { runtime: "runc" })).rejects.toMatchObject({ code: "UNSUPPORTED_OPTION" });
  });
});

describe("toHelperSpec: read-only mounts with mounts beneath them", () => {
  it("stay writable until the last mount beneath them, then are remounted read-only (tmpfs of cgroup v1)", () => {
    const dir = mkdtempSync(join(tmpdir(), "strata-test-launch-ro-"));
    try {
      const spec = buildLaunchSpec(
        { Cmd: ["true"] },
        {
          rootfs: dir,
          mounts: [
            {
              destination: "/sys/fs/cgroup",
              type: "tmpfs",
              source: "tmpfs",
              options: ["ro", "nosuid", "mode=755"],
            },
            {
              destination: "/sys/fs/cgroup/cpu,cpuacct",
              type: "cgroup",
              source: "cgroup",
              options: ["ro", "cpu", "cpuacct"],
            },
            { destination: "/sys/fs/cgroup/pids", type: "cgroup", source: "cgroup", options: ["ro", "pids"] },
          ],
        },
      );
      const ops = toHelperSpec(spec).mounts;
      const at = (target: string, op: string) => ops.findIndex((o) => o.target === target && o.op === op);
      // a hierarchy of several controllers is reachable by each controller's name, as runc shows it
      expect(ops[at("/sys/fs/cgroup/cpu", "symlink")]).toMatchObject({ source: "cpu,cpuacct" });
      expect(ops[at("/sys/fs/cgroup/cpuacct", "symlink")]).toMatchObject({ source: "cpu,cpuacct" });
      expect(at("/sys/fs/cgroup/cpu", "symlink")).toBe(at("/sys/fs/cgroup/cpu,cpuacct", "mount") + 1);
      expect(at("/sys/fs/cgroup/pids", "symlink")).toBe(-1);
      const tmpfs = ops[at("/sys/fs/cgroup", "mount")] as { flags: number };
      const sys = ops[at("/sys", "mount")] as { flags: number };
      expect(tmpfs.flags & MS.RDONLY).toBe(0);
      expect(sys.flags & MS.RDONLY).toBe(0);
      expect((ops[at("/sys/fs/cgroup/pids", "mount")] as { flags: number }).flags & MS.RDONLY).toBe(
        MS.RDONLY,
      );
      expect(at("/sys/fs/cgroup", "remount-ro")).toBe(at("/sys/fs/cgroup/pids", "mount") + 1);
      expect(at("/sys", "remount-ro")).toBe(at("/sys/fs/cgroup", "remount-ro") + 1);
      // without mounts beneath it, /sys is mounted read-only at once, as before
      const plain = toHelperSpec(buildLaunchSpec({ Cmd: ["true"] }, { rootfs: dir })).mounts;
      expect(plain.some((o) => o.op === "remount-ro")).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
