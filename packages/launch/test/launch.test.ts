import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assertNoLeaks, describePrivileged } from "@strata/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  type BuildLaunchSpecOptions,
  buildLaunchSpec,
  DOCKER_DEFAULT_SECCOMP,
  discardPrespawnedHelper,
  helperPath,
  type ImageRuntimeConfig,
  LaunchError,
  launch,
  toHelperSeccomp,
  toHelperSpec,
} from "../src/index.js";
import { makeBusyboxRootfs } from "./rootfs.js";
import { run, start, waitForOutput } from "./run.js";

const DOCKER_CAPS_HEX = "00000000a80425fb";
// every kernel object and temp dir this file makes carries this prefix (the leak check looks for it)
const PREFIX = "strata-test-launch-k";

/** Helper processes this test process started that are still alive (none may survive a test). */
function liveHelpers(): number[] {
  const binary = helperPath();
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        const ppid = /^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
        return Number(ppid) === process.pid && readlinkSync(`/proc/${pid}/exe`) === binary;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The package built with tsc into `outDir`, for tests that run it under plain node. */
function buildDist(outDir: string): void {
  const tsc = fileURLToPath(new URL("../../../node_modules/.bin/tsc", import.meta.url));
  execFileSync(tsc, [
    "-p",
    fileURLToPath(new URL("../tsconfig.build.json", import.meta.url)),
    "--outDir",
    outDir,
  ]);
}

describePrivileged(
  "launch (real kernel)",
  () => {
    let fs: ReturnType<typeof makeBusyboxRootfs>;
    beforeAll(() => {
      fs = makeBusyboxRootfs(PREFIX);
    });
    afterAll(async () => {
      fs.remove();
      // the one idle helper is kept on purpose (see "pre-spawned helper" below); nothing else may live
      await discardPrespawnedHelper();
      expect(liveHelpers()).toEqual([]);
      await assertNoLeaks(PREFIX, { linkPrefix: "stl" });
    });

    const sh = (
      script: string,
      options: Partial<BuildLaunchSpecOptions> = {},
      image: ImageRuntimeConfig = {},
    ) =>
      buildLaunchSpec(
        { ...image, Cmd: ["sh", "-c", script] },
        { rootfs: fs.rootfs, hostname: "strata-box", ...options },
      );

    it("runs the command as PID 1 and ps shows only the container's processes", async () => {
      const r = await run(sh("echo pid=$$; ps -o pid,comm; true"));
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain("pid=1\n");
      const rows = r.stdout.split("\n").slice(2).filter(Boolean);
      expect(rows.map((row) => row.trim().split(/\s+/))).toEqual([
        ["1", "sh"],
        [expect.any(String), "ps"],
      ]);
    });

    it("sets the container's hostname and hides the host's files", async () => {
      const r = await run(sh("hostname; [ -e /usr/lib/node_modules ] || echo no-host-usr; ls /"));
      expect(r.stdout.split("\n")[0]).toBe("strata-box");
      expect(existsSync("/usr/lib/node_modules")).toBe(true);
      expect(r.stdout).toContain("no-host-usr");
      expect(r.stdout).not.toContain("rootfs");
    });

    it.each([
      [0, "exit 0"],
      [3, "exit 3"],
      [255, "exit 255"],
    ])("returns exit code %i", async (code, script) => {
      const r = await run(sh(script));
      expect(r).toMatchObject({ exitCode: code, signal: null });
    });

    it("reports 128+N when the init is killed by signal N", async () => {
      const { proc, output, done } = await start(sh("echo ready; while :; do sleep 1; done"));
      await waitForOutput(output, "ready", proc);
      proc.kill("SIGKILL");
      expect(await done).toMatchObject({ exitCode: 137, signal: "SIGKILL" });
    });

    it("forwards SIGTERM to PID 1", async () => {
      const { proc, output, done } = await start(
        sh("trap 'echo got-term; exit 42' TERM; echo ready; sleep 1000 & wait"),
      );
      await waitForOutput(output, "ready", proc);
      proc.kill("SIGTERM");
      const r = await done;
      expect(r.exitCode).toBe(42);
      expect(r.stdout).toContain("got-term");
    });

    it("forwards signals received by this process when forwardSignals is set", async () => {
      const { proc, output, done } = await start(
        sh("trap 'echo got-usr2; exit 12' USR2; echo ready; sleep 1000 & wait"),
        {
          forwardSignals: true,
        },
      );
      await waitForOutput(output, "ready", proc);
      process.kill(process.pid, "SIGUSR2");
      const r = await done;
      expect(r.exitCode).toBe(12);
      expect(r.stdout).toContain("got-usr2");
      expect(process.listenerCount("SIGUSR2")).toBe(0);
    });

    it("allocates a pty as the controlling terminal with -t, driven through the helper", async () => {
      const spec = sh("exec sh", { tty: true, interactive: true, consoleSize: { rows: 31, cols: 101 } });
      const { proc, done } = await start(spec);
      proc.stdin?.write(
        "tty; stty size; echo term=$TERM; [ -t 0 ] && echo is-a-tty; ls -l /dev/console; exit 7\n",
      );
      const r = await done;
      expect(r.exitCode).toBe(7);
      expect(r.stdout).toContain("/dev/pts/0");
      expect(r.stdout).toContain("31 101");
      expect(r.stdout).toContain("term=xterm");
      expect(r.stdout).toContain("is-a-tty");
      expect(r.stdout).toMatch(/crw--w---- .* 136,\s+0 .*\/dev\/console/);
    });

    it("follows the host terminal's window size through a real pty (script)", async () => {
      const spec = sh("trap 'echo winch' WINCH; stty size; echo ready; sleep 1000 & wait; stty size", {
        tty: true,
      });
      const specFile = join(fs.dir, "winsize-spec.json");
      writeFileSync(specFile, JSON.stringify(toHelperSpec(spec)));
      const inner = `stty rows 40 cols 120; echo HOSTTTY=$(tty); exec ${helperPath()} 3<${specFile} 4>/dev/null`;
      const script = spawn("script", ["-qefc", inner, "/dev/null"], { stdio: ["pipe", "pipe", "inherit"] });
      let out = "";
      script.stdout.setEncoding("utf8").on("data", (d: string) => {
        out += d;
      });
      const exited = new Promise<number | null>((resolve) => script.on("exit", (code) => resolve(code)));
      try {
        while (!out.includes("ready")) {
          if (script.exitCode !== null) throw new Error(`script ended early: ${out}`);
          await new Promise((r) => setTimeout(r, 10));
        }
        const hostTty = /HOSTTTY=(\/dev\/pts\/\d+)/.exec(out)?.[1];
        expect(hostTty).toBeDefined();
        // resizing the outer terminal sends SIGWINCH to the helper, which resizes the container's pty
        // (one dimension only: stty issues one TIOCSWINSZ per dimension, each a SIGWINCH of its own)
        execFileSync("stty", ["-F", hostTty as string, "rows", "50"]);
        expect(await exited).toBe(0);
      } finally {
        if (script.exitCode === null) script.kill("SIGKILL");
      }
      const lines = out.split(/\r*\n/);
      expect(lines, JSON.stringify(out)).toContain("40 120");
      expect(lines.indexOf("50 120"), JSON.stringify(out)).toBeGreaterThan(lines.indexOf("winch"));
    });

    it("end to end from Node under a real terminal: raw mode, stdin, resize, exit code", async () => {
      // the built package, run by plain node inside `script` (a real pty) with inherited stdio
      const dist = join(fs.dir, "dist");
      buildDist(dist);
      const launcher = join(fs.dir, "launcher.mjs");
      const container =
        "trap 'stty size; exit 5' WINCH; stty size; echo ready; read line; echo got=$line; sleep 1000 & wait";
      writeFileSync(
        launcher,
        [
          `import { buildLaunchSpec, launch } from ${JSON.stringify(join(dist, "index.js"))};`,
          `const spec = buildLaunchSpec({ Cmd: ["sh", "-c", ${JSON.stringify(container)}] }, { rootfs: ${JSON.stringify(fs.rootfs)}, tty: true, interactive: true });`,
          `const proc = await launch(spec, { helperPath: ${JSON.stringify(helperPath())}, forwardSignals: true });`,
          "const { exitCode } = await proc.wait();",
          "process.exit(exitCode);",
        ].join("\n"),
      );
      const inner = `stty rows 40 cols 120; echo HOSTTTY=$(tty); exec ${process.execPath} ${launcher}`;
      const script = spawn("script", ["-qefc", inner, "/dev/null"], { stdio: ["pipe", "pipe", "inherit"] });
      let out = "";
      script.stdout.setEncoding("utf8").on("data", (d: string) => {
        out += d;
      });
      const exited = new Promise<number | null>((resolve) => script.on("exit", (code) => resolve(code)));
      const until = async (text: string) => {
        while (!out.includes(text)) {
          if (script.exitCode !== null) throw new Error(`ended before '${text}': ${JSON.stringify(out)}`);
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      let settings = "";
      try {
        await until("ready");
        const hostTty = /HOSTTTY=(\/dev\/pts\/\d+)/.exec(out)?.[1] as string;
        settings = execFileSync("stty", ["-F", hostTty, "-a"], { encoding: "utf8" });
        script.stdin.write("hello\r");
        await until("got=hello");
        execFileSync("stty", ["-F", hostTty, "rows", "50"]);
        expect(await exited).toBe(5);
      } finally {
        if (script.exitCode === null) script.kill("SIGKILL");
      }
      // Node put the launching terminal in raw mode while the container ran
      expect(settings).toMatch(/-icanon/);
      expect(settings).toMatch(/-echo\b/);
      const lines = out.split(/\r*\n/);
      expect(lines, JSON.stringify(out)).toContain("40 120");
      expect(lines, JSON.stringify(out)).toContain("50 120");
    });

    it("honours Entrypoint, Cmd, Env, WorkingDir and User", async () => {
      const image: ImageRuntimeConfig = {
        Entrypoint: ["/bin/sh", "-c"],
        Cmd: ["echo $FOO $BAR $HOME; pwd; id -u; id -g; id -G"],
        Env: ["FOO=img", "BAR=img"],
        WorkingDir: "/work/sub",
        User: "app",
      };
      const spec = buildLaunchSpec(image, { rootfs: fs.rootfs, env: { BAR: "ovr" } });
      const r = await run(spec);
      expect(r.stdout).toBe("img ovr /home/app\n/work/sub\n1000\n1000\n1000 10 29\n");
    });

    it.each([
      ["", "0\n0\n0 10\n"],
      ["app", "1000\n1000\n1000 10 29\n"],
      ["app:audio", "1000\n29\n29\n"],
      ["4242", "4242\n0\n0\n"],
      // an explicit group means no /etc/group membership lookup (runc GetExecUser)
      ["1000:1000", "1000\n1000\n1000\n"],
    ])("user '%s' gets the ids Docker would give", async (user, expected) => {
      const r = await run(sh("id -u; id -g; id -G", { user }));
      expect(r.stdout).toBe(expected);
    });

    it("has Docker's default capability sets, NoNewPrivs 1, and only fds 0-2", async () => {
      const r = await run(sh("grep -E '^(Cap|NoNewPrivs)' /proc/1/status; ls /proc/1/fd; true"));
      expect(r.stdout).toBe(
        [
          "CapInh:\t0000000000000000",
          `CapPrm:\t${DOCKER_CAPS_HEX}`,
          `CapEff:\t${DOCKER_CAPS_HEX}`,
          `CapBnd:\t${DOCKER_CAPS_HEX}`,
          "CapAmb:\t0000000000000000",
          "NoNewPrivs:\t1",
          "0",
          "1",
          "2",
          "",
        ].join("\n"),
      );
    });

    it("gives a non-root user only the bounding set", async () => {
      const r = await run(sh("grep -E '^Cap' /proc/self/status", { user: "app" }));
      expect(r.stdout).toContain("CapEff:\t0000000000000000");
      expect(r.stdout).toContain("CapPrm:\t0000000000000000");
      expect(r.stdout).toContain(`CapBnd:\t${DOCKER_CAPS_HEX}`);
    });

    it("masks /proc paths, keeps /proc/sys read-only and refuses remounts", async () => {
      expect(readFileSync("/proc/timer_list", "utf8").length).toBeGreaterThan(0);
      const script = [
        "wc -c < /proc/timer_list",
        "ls -A /sys/firmware | wc -l",
        "mount -o remount,rw /proc/sys 2>/dev/null && echo remount-ok || echo remount-denied",
        "mount -t proc proc /tmp 2>/dev/null && echo proc-ok || echo proc-denied",
        "echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo write-ok || echo write-denied",
        "grep -E ' /proc/sys | /sys ' /proc/self/mounts | cut -d' ' -f2,4 | cut -d, -f1",
      ].join("; ");
      const r = await run(sh(script));
      expect(r.stdout).toBe("0\n0\nremount-denied\nproc-denied\nwrite-denied\n/sys ro\n/proc/sys ro\n");
    });

    it("applies Docker's default seccomp profile: unshare and keyring calls are refused, the rest works", async () => {
      const script = [
        "grep -E '^Seccomp:' /proc/self/status",
        "unshare -U true 2>&1 && echo unshare-ok || echo unshare-denied",
        "unshare -n true 2>&1 && echo unshare-net-ok || echo unshare-net-denied",
        "echo forks-fine | cat",
      ].join("; ");
      const confined = await run(sh(script));
      expect(confined.stdout).toMatch(/^Seccomp:\s+2\n/);
      expect(confined.stdout).toContain("Operation not permitted");
      expect(confined.stdout).toContain("unshare-denied\n");
      expect(confined.stdout).toContain("unshare-net-denied\n");
      expect(confined.stdout).toContain("forks-fine\n");
      // without the filter the same call works (user namespaces need no capability here), so the refusal
      // above is seccomp's, not a missing capability's
      const unconfined = await run(
        sh("grep -E '^Seccomp:' /proc/self/status; unshare -U true 2>&1 && echo unshare-ok", {
          seccomp: false,
        }),
      );
      expect(unconfined.stdout).toMatch(/^Seccomp:\s+0\n/);
      if (Number(readFileSync("/proc/sys/user/max_user_namespaces", "utf8")) > 0) {
        expect(unconfined.stdout).toContain("unshare-ok\n");
      }
    });

    it("answers ENOSYS to syscalls newer than the profile, as runc does for Docker's", async () => {
      // A static probe: syscall(N) with zero arguments, printing the errno (0 on success).
      const src = join(fs.dir, "probe.c");
      writeFileSync(
        src,
        [
          "#include <errno.h>",
          "#include <stdio.h>",
          "#include <stdlib.h>",
          "#include <unistd.h>",
          "int main(int argc, char **argv) {",
          "  for (int i = 1; i < argc; i++) {",
          "    errno = 0;",
          "    long r = syscall(atol(argv[i]), 0, 0, 0, 0, 0, 0);",
          '    printf("%s=%d\\n", argv[i], r < 0 ? errno : 0);',
          "  }",
          "  return 0;",
          "}",
        ].join("\n"),
      );
      execFileSync("cc", ["-static", "-O2", "-o", join(fs.rootfs, "work/probe"), src]);
      const nr = toHelperSeccomp(DOCKER_DEFAULT_SECCOMP);
      const newer = nr.newest + 12; // mseal (462) on x86-64 and arm64: a real syscall on this kernel
      const getpid = process.arch === "arm64" ? 172 : 39;
      const keyctl = process.arch === "arm64" ? 219 : 250;
      const args = ["/work/probe", String(getpid), String(keyctl), String(newer)];
      const confined = await run(buildLaunchSpec({ Cmd: args }, { rootfs: fs.rootfs }));
      expect(confined.stdout).toBe(`${getpid}=0\n${keyctl}=1\n${newer}=38\n`); // -, EPERM, ENOSYS
      const unconfined = await run(buildLaunchSpec({ Cmd: args }, { rootfs: fs.rootfs, seccomp: false }));
      // without the filter the kernel itself answers (mseal(0, 0, 0) succeeds; never ENOSYS here)
      expect(unconfined.stdout).toContain(`${getpid}=0\n`);
      expect(unconfined.stdout).not.toContain(`${newer}=38\n`);
    });

    it("join (exec): enters a running container's namespaces with its credentials and filter", async () => {
      const { proc, output, done } = await start(sh("echo ready; sleep 30"));
      try {
        await waitForOutput(output, "ready", proc);
        const stat = readFileSync(`/proc/${proc.pid}/stat`, "utf8");
        const start = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] as string;
        const script = [
          "hostname",
          "echo pid=$$",
          "tr '\\0' ' ' < /proc/1/cmdline; echo",
          "for n in pid mnt net; do readlink /proc/self/ns/$n; done",
          "grep -E '^(Seccomp|CapEff|NoNewPrivs):' /proc/self/status",
          "ls -d /work",
          "exit 3",
        ].join("; ");
        // built as for any container (hostname and mounts are the new container's, and not used)
        const exec = { ...sh(script, { hostname: "not-used" }), join: { pid: proc.pid, start } };
        const r = await run(exec);
        expect(r.exitCode, r.stderr).toBe(3);
        const lines = r.stdout.trim().split("\n");
        expect(lines[0]).toBe("strata-box");
        expect(lines[1]).not.toBe("pid=1");
        expect(lines[2]).toBe("sleep 30 "); // sh execs its last command: PID 1 is sleep
        const ns = ["pid", "mnt", "net"].map((n) => readlinkSync(`/proc/${proc.pid}/ns/${n}`));
        expect(lines.slice(3, 6)).toEqual(ns);
        const initStatus = readFileSync(`/proc/${proc.pid}/status`, "utf8");
        const capEff = /^CapEff:\s+(\S+)$/m.exec(initStatus)?.[1];
        expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
        expect(r.stdout).toContain(`CapEff:\t${capEff}`);
        expect(r.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
        expect(lines.at(-1)).toBe("/work");
        // a start time that is not the process's (a reused pid) is refused before anything runs
        const stale = { ...exec, join: { pid: proc.pid, start: String(Number(start) + 1) } };
        await expect(launch(stale, { stdio: "pipe" })).rejects.toBeInstanceOf(LaunchError);
      } finally {
        proc.kill("SIGKILL");
        await done;
      }
    });

    it("cannot write the host binary behind /proc/1/exe (CVE-2019-5736)", async () => {
      const r = await run(
        sh("readlink /proc/1/exe; echo x >> /proc/1/exe 2>/dev/null && echo wrote || echo refused"),
      );
      expect(r.stdout).toBe("/bin/busybox\nrefused\n");
    });

    it.each([3, 4, 5, 6, 7, 8])("rejects cwd /proc/self/fd/%i (CVE-2024-21626)", async (fd) => {
      const spec = sh("pwd", { workdir: `/proc/self/fd/${fd}` });
      await expect(launch(spec, { stdio: "pipe" })).rejects.toMatchObject({ code: "SETUP_FAILED" });
    });

    it("rejects a missing command with COMMAND_NOT_FOUND and leaves nothing running", async () => {
      const spec = buildLaunchSpec({ Cmd: ["no-such-command"] }, { rootfs: fs.rootfs });
      const error = await launch(spec, { stdio: "pipe" }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LaunchError);
      expect(error).toMatchObject({ code: "COMMAND_NOT_FOUND", errno: 2 });
      writeFileSync(join(fs.rootfs, "work/not-exec"), "#!/bin/sh\n", { mode: 0o644 });
      const spec2 = buildLaunchSpec({ Cmd: ["/work/not-exec"] }, { rootfs: fs.rootfs });
      await expect(launch(spec2, { stdio: "pipe" })).rejects.toMatchObject({
        code: "COMMAND_NOT_EXECUTABLE",
      });
    });

    it("bind-mounts the given /etc/hosts, /etc/hostname and /etc/resolv.conf", async () => {
      const hosts = join(fs.dir, "hosts");
      const hostname = join(fs.dir, "hostname");
      const resolv = join(fs.dir, "resolv.conf");
      writeFileSync(hosts, "127.0.0.1 localhost strata-box\n");
      writeFileSync(hostname, "strata-box\n");
      writeFileSync(resolv, "nameserver 127.0.0.53\n");
      const spec = sh("cat /etc/hosts /etc/hostname /etc/resolv.conf", {
        hostsFile: hosts,
        hostnameFile: hostname,
        resolvConfFile: resolv,
      });
      const r = await run(spec);
      expect(r.stdout).toBe("127.0.0.1 localhost strata-box\nstrata-box\nnameserver 127.0.0.53\n");
    });

    it("applies rlimits and a read-only rootfs", async () => {
      const spec = sh(
        "ulimit -Sn; ulimit -Hn; touch /work/x 2>/dev/null && echo wrote || echo read-only; touch /tmp/y && echo tmp-ok",
        {
          rlimits: [{ type: "RLIMIT_NOFILE", soft: 512, hard: 1024 }],
          readonlyRootfs: true,
          mounts: [
            {
              destination: "/tmp",
              type: "tmpfs",
              source: "tmpfs",
              options: ["nosuid", "nodev", "mode=1777"],
            },
          ],
        },
      );
      const r = await run(spec);
      expect(r.stdout).toBe("512\n1024\nread-only\ntmp-ok\n");
    });

    it("refuses an image whose /dev is a symlink and creates nothing where it points (CVE-2026-41579 class)", async () => {
      const evil = makeBusyboxRootfs(PREFIX);
      try {
        const outside = join(evil.dir, "outside");
        mkdirSync(outside);
        rmdirSync(join(evil.rootfs, "dev"));
        symlinkSync(outside, join(evil.rootfs, "dev"));
        const spec = buildLaunchSpec({ Cmd: ["true"] }, { rootfs: evil.rootfs });
        await expect(launch(spec, { stdio: "pipe" })).rejects.toMatchObject({ code: "SETUP_FAILED" });
        expect(readdirSync(outside)).toEqual([]);
      } finally {
        evil.remove();
      }
    });

    it("gets a new empty network namespace by default", async () => {
      const r = await run(sh("readlink /proc/self/ns/net; ip -o link | cut -d: -f2"));
      const [ns, ...links] = r.stdout.trim().split("\n");
      expect(ns).not.toBe(`net:[${statSync("/proc/self/ns/net").ino}]`);
      expect(links.map((l) => l.trim())).toEqual(["lo"]);
    });

    it("joins a network namespace by path", async () => {
      const name = `${PREFIX}-${randomBytes(3).toString("hex")}`;
      const link = `stl${randomBytes(3).toString("hex")}`;
      execFileSync("ip", ["netns", "add", name]);
      try {
        execFileSync("ip", ["-n", name, "link", "add", link, "type", "veth", "peer", "name", `${link}p`]);
        const r = await run(
          sh("readlink /proc/self/ns/net; ip -o link | cut -d: -f2", { netns: `/run/netns/${name}` }),
        );
        const [ns, ...links] = r.stdout.trim().split("\n");
        expect(ns).toBe(`net:[${statSync(`/run/netns/${name}`).ino}]`);
        expect(links.map((l) => l.trim().replace(/@.*/, ""))).toContain(link);
      } finally {
        execFileSync("ip", ["netns", "del", name]);
      }
      expect(existsSync(`/run/netns/${name}`)).toBe(false);
    });

    it.each([
      [
        "a missing netns",
        { netns: "/run/netns/strata-test-launch-k-missing" },
        "/run/netns/strata-test-launch-k-missing",
      ],
      [
        "a missing cgroup",
        { cgroupProcs: ["/sys/fs/cgroup/pids/strata-test-launch-k-missing/cgroup.procs"] },
        "cgroup.procs",
      ],
    ])("fails with SETUP_FAILED for %s", async (_name, options, mention) => {
      const error = await launch(sh("true", options), { stdio: "pipe" }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "SETUP_FAILED", errno: 2 });
      expect((error as Error).message).toContain(mention);
    });

    it("joins the given cgroup before exec", async () => {
      const cgroup = `/sys/fs/cgroup/pids/${PREFIX}-${randomBytes(3).toString("hex")}`;
      mkdirSync(cgroup);
      try {
        const spec = sh("cat /proc/self/cgroup | grep pids; echo ready; read line", {
          cgroupProcs: [join(cgroup, "cgroup.procs")],
          interactive: true,
        });
        const { proc, output, done } = await start(spec);
        await waitForOutput(output, "ready", proc);
        const members = readFileSync(join(cgroup, "cgroup.procs"), "utf8").trim().split("\n").map(Number);
        expect(members).toContain(proc.pid);
        proc.stdin?.end("go\n");
        const r = await done;
        // inside its own cgroup namespace the container sees its cgroup as the root
        expect(r.stdout).toMatch(/^\d+:pids:\/\nready\n$/);
      } finally {
        rmdirSync(cgroup);
      }
      expect(existsSync(cgroup)).toBe(false);
    });

    it("pre-spawned helper: one is kept ready from the second launch on, holds only fds 0-4, and is used next", async () => {
      await discardPrespawnedHelper();
      expect(liveHelpers()).toEqual([]);
      await run(sh("true"));
      await run(sh("true"));
      const idle = liveHelpers();
      expect(idle).toHaveLength(1);
      const pid = idle[0] as number;
      // blocked in read(2) on fd 3, its spec (wait for it to get there: it was spawned moments ago)
      const blocked = () => readFileSync(`/proc/${pid}/syscall`, "utf8").match(/^(0|63) 0x3 /) !== null;
      for (let i = 0; i < 500 && !blocked(); i++) await new Promise((r) => setTimeout(r, 10));
      expect(readFileSync(`/proc/${pid}/syscall`, "utf8")).toMatch(/^(0|63) 0x3 /);
      // only what spawn gave it: stdin /dev/null (no interactive), stdout/stderr, the spec and status pipes
      const fds = readdirSync(`/proc/${pid}/fd`)
        .map(Number)
        .sort((a, b) => a - b);
      expect(fds).toEqual([0, 1, 2, 3, 4]);
      expect(readlinkSync(`/proc/${pid}/fd/0`)).toBe("/dev/null");
      // blocked reading its spec: nothing unshared yet, still in this process's namespaces
      expect(readlinkSync(`/proc/${pid}/ns/mnt`)).toBe(readlinkSync("/proc/self/ns/mnt"));
      const { proc, output, done } = await start(sh("echo ready; sleep 1000"));
      await waitForOutput(output, "ready", proc);
      const ppid = /^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${proc.pid}/status`, "utf8"))?.[1];
      expect(Number(ppid)).toBe(pid);
      proc.kill("SIGKILL");
      expect((await done).exitCode).toBe(137);
      await discardPrespawnedHelper();
      expect(liveHelpers()).toEqual([]);
    });

    it("pre-spawned helper: a different stdio configuration does not take it; prespawn: false spawns afresh", async () => {
      await discardPrespawnedHelper();
      await run(sh("true"));
      await run(sh("true"));
      const [idle] = liveHelpers();
      // interactive: stdin is a pipe, not /dev/null, so the idle helper (stdin /dev/null) must not serve it
      const interactive = await start(sh("echo ready; read line", { interactive: true }));
      await waitForOutput(interactive.output, "ready", interactive.proc);
      const ppidOf = (p: number) =>
        Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${p}/status`, "utf8"))?.[1]);
      expect(ppidOf(interactive.proc.pid)).not.toBe(idle);
      interactive.proc.stdin?.end("x\n");
      expect((await interactive.done).exitCode).toBe(0);
      const before = liveHelpers();
      const fresh = await start(sh("echo ready; sleep 1000"), { prespawn: false });
      await waitForOutput(fresh.output, "ready", fresh.proc);
      expect(before).not.toContain(ppidOf(fresh.proc.pid));
      expect(ppidOf(fresh.proc.pid)).not.toBe(idle);
      fresh.proc.kill("SIGKILL");
      await fresh.done;
      await discardPrespawnedHelper();
      expect(liveHelpers()).toEqual([]);
    });

    it("pre-spawned helper: does not keep Node alive, and exits when Node exits or is killed", async () => {
      const dist = join(fs.dir, "dist-prespawn");
      buildDist(dist);
      const script = join(fs.dir, "prespawn.mjs");
      writeFileSync(
        script,
        [
          `import { readdirSync, readFileSync } from "node:fs";`,
          `import { buildLaunchSpec, launch } from ${JSON.stringify(join(dist, "index.js"))};`,
          `const spec = buildLaunchSpec({ Cmd: ["true"] }, { rootfs: ${JSON.stringify(fs.rootfs)} });`,
          `const options = { helperPath: ${JSON.stringify(helperPath())}, stdio: "pipe" };`,
          "for (let i = 0; i < 2; i++) await (await launch(spec, options)).wait();",
          "await new Promise((r) => setImmediate(r));",
          "const kids = readdirSync('/proc').filter((p) => /^\\d+$/.test(p) && (() => { try { return /^PPid:\\s+(\\d+)$/m.exec(readFileSync('/proc/' + p + '/status', 'utf8'))?.[1] === String(process.pid); } catch { return false; } })());",
          "console.log('helpers ' + kids.join(','));",
          "if (process.argv[2] === 'hang') setInterval(() => {}, 1000);",
        ].join("\n"),
      );
      const gone = async (pid: number) => {
        for (let i = 0; i < 500 && existsSync(`/proc/${pid}`); i++)
          await new Promise((r) => setTimeout(r, 10));
        return (
          !existsSync(`/proc/${pid}`) || /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"))
        );
      };
      for (const mode of ["exit", "hang"]) {
        const node = spawn(process.execPath, [script, mode], { stdio: ["ignore", "pipe", "inherit"] });
        let out = "";
        node.stdout.setEncoding("utf8").on("data", (d: string) => {
          out += d;
        });
        const exited = new Promise<number | null>((resolve) => node.on("exit", (code) => resolve(code)));
        while (!out.includes("\n") && node.exitCode === null) await new Promise((r) => setTimeout(r, 10));
        const helpers = (/helpers ([\d,]*)/.exec(out)?.[1] ?? "").split(",").filter(Boolean).map(Number);
        expect(helpers, out).toHaveLength(1);
        if (mode === "hang") node.kill("SIGKILL");
        // "exit": the idle helper's handles are unref'd, so the script ends on its own
        expect(await exited).toBe(mode === "exit" ? 0 : null);
        // the spec pipe's only write end died with Node: EOF, and the helper exits without starting anything
        expect(await gone(helpers[0] as number)).toBe(true);
      }
    });
  },
  {
    commands: ["ip", "script", "stty"],
    check: () => (existsSync("/bin/busybox") ? undefined : "needs /bin/busybox (busybox-static)"),
  },
);
