import { execFile } from "node:child_process";
import { readlink, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { describePrivileged } from "@strata/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContainerError } from "../src/index.js";
import { type Fixture, PREFIX, runCapture, setup } from "./fixture.js";

const exec = promisify(execFile);

describePrivileged(
  "image config, overrides, exit codes, signals, network modes, runtimes",
  () => {
    let f: Fixture;
    beforeAll(async () => {
      f = await setup("config");
      await f.pull(f.configured);
    });
    afterAll(() => f?.stop());

    it.each([
      {
        name: "image Entrypoint/Cmd/Env/WorkingDir/User",
        options: {},
        out: "hello from /home/app as 1000:1000\n",
      },
      {
        name: "-e overrides Env",
        options: { env: ["GREETING=hey"] },
        out: "hey from /home/app as 1000:1000\n",
      },
      {
        name: "-w overrides WorkingDir",
        options: { workdir: "/tmp" },
        out: "hello from /tmp as 1000:1000\n",
      },
      { name: "-u overrides User", options: { user: "0:0" }, out: "hello from /home/app as 0:0\n" },
      {
        name: "CMD replaces Cmd, keeps Entrypoint",
        options: { args: ["echo cmd $GREETING"] },
        out: "cmd hello\n",
      },
      {
        name: "--entrypoint replaces Entrypoint and drops Cmd",
        options: { entrypoint: ["/bin/echo", "ep"] },
        out: "ep\n",
      },
    ])("$name", async ({ options, out }) => {
      const r = await runCapture(f.runtime, { image: f.configured, rm: true, ...options });
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe(out);
      expect(r.exitCode).toBe(0);
    });

    it("--env-file lines apply before -e", async () => {
      const file = join(f.dir, "env");
      await writeFile(file, "# comment\nGREETING=from-file\nOTHER=x y\n\n");
      const r = await runCapture(f.runtime, {
        image: f.configured,
        rm: true,
        envFiles: [file],
        env: ["OTHER=cli"],
        args: ['echo "$GREETING/$OTHER"'],
      });
      expect(r.stdout).toBe("from-file/cli\n");
    });

    it.each([
      { script: "exit 0", code: 0 },
      { script: "exit 3", code: 3 },
      { script: "exit 255", code: 255 },
      { script: "exec /bin/false", code: 1 },
    ])("exit code of '$script' is $code", async ({ script, code }) => {
      const r = await runCapture(f.runtime, { image: f.busybox, rm: true, args: ["/bin/sh", "-c", script] });
      expect(r.exitCode).toBe(code);
    });

    it("SIGTERM is forwarded to PID 1 (a trap sees it)", async () => {
      const r = await runCapture(f.runtime, {
        image: f.busybox,
        rm: true,
        args: ["/bin/sh", "-c", "trap 'echo got TERM; exit 42' TERM; echo ready; sleep 60 & wait"],
        onStart(c) {
          c.stdout?.once("data", () => c.kill("SIGTERM"));
        },
      });
      expect(r.stdout).toBe("ready\ngot TERM\n");
      expect(r.exitCode).toBe(42);
    });

    it("a container killed by a signal exits 128+N", async () => {
      const r = await runCapture(f.runtime, {
        image: f.busybox,
        rm: true,
        args: ["/bin/sh", "-c", "echo ready; sleep 60"],
        onStart(c) {
          c.stdout?.once("data", () => c.kill("SIGKILL"));
        },
      });
      expect(r.exitCode).toBe(137);
      expect(r.signal).toBe("SIGKILL");
    });

    it("--read-only: the root filesystem cannot be written", async () => {
      const r = await runCapture(f.runtime, {
        image: f.busybox,
        rm: true,
        readOnly: true,
        args: ["/bin/sh", "-c", "touch /x 2>&1; echo $?"],
      });
      expect(r.stdout).toMatch(/Read-only file system\n1\n$/);
    });

    describe("network", () => {
      const hostNet = async () => readlink(`/proc/${process.pid}/ns/net`);
      const netOf = "readlink /proc/self/ns/net; ls /sys/class/net";

      it("none: a new namespace with only lo", async () => {
        const r = await runCapture(f.runtime, { image: f.busybox, rm: true, args: ["/bin/sh", "-c", netOf] });
        const [ns, ...links] = r.stdout.trim().split("\n");
        expect(ns).not.toBe(await hostNet());
        expect(links).toEqual(["lo"]);
      });

      it("host: the caller's namespace, the host's hostname", async () => {
        const r = await runCapture(f.runtime, {
          image: f.busybox,
          rm: true,
          network: "host",
          args: ["/bin/sh", "-c", "readlink /proc/self/ns/net; hostname"],
        });
        const { hostname } = await import("node:os");
        expect(r.stdout).toBe(`${await hostNet()}\n${hostname()}\n`);
      });

      it("ns:NAME joins an existing named namespace", async () => {
        const name = `${PREFIX}-ns`;
        await exec("ip", ["netns", "add", name]);
        try {
          const r = await runCapture(f.runtime, {
            image: f.busybox,
            rm: true,
            network: `ns:${name}`,
            args: ["/bin/sh", "-c", "readlink /proc/self/ns/net"],
          });
          const { stdout } = await exec("ip", ["netns", "exec", name, "readlink", "/proc/self/ns/net"]);
          expect(r.stdout).toBe(stdout);
        } finally {
          await exec("ip", ["netns", "del", name]);
        }
      });

      it("ns:NAME of a missing namespace fails with NETNS_NOT_FOUND and leaves nothing", async () => {
        const before = await f.runtime.list({ all: true });
        const error = await f.runtime
          .run({ image: f.busybox, rm: true, network: `ns:${PREFIX}-missing`, args: ["true"] })
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ContainerError);
        expect((error as ContainerError).code).toBe("NETNS_NOT_FOUND");
        expect(await f.runtime.list({ all: true })).toEqual(before);
      });
    });

    it.each(["crun", "runc"] as const)(
      "--runtime %s runs the same container through an OCI bundle",
      async (runtime) => {
        const r = await runCapture(f.runtime, {
          image: f.configured,
          rm: true,
          runtime,
          args: ['echo "$GREETING from $(pwd) as $(id -u)"; hostname; exit 7'],
          hostname: "oci-box",
        });
        expect(r.stdout).toBe("hello from /home/app as 1000\noci-box\n");
        expect(r.exitCode).toBe(7);
      },
    );

    it("a missing image is pulled through the callback; without one it is IMAGE_NOT_FOUND", async () => {
      const missing = `${f.registry.host}/test/busybox:nope`;
      const error = await f.runtime.run({ image: missing, args: ["true"] }).catch((e: unknown) => e);
      expect((error as ContainerError).code).toBe("IMAGE_NOT_FOUND");
      const pulled: string[] = [];
      await f.store.remove(f.configured).catch(() => undefined);
      const r = await runCapture(f.runtime, {
        image: f.configured,
        rm: true,
        pull: async (ref) => {
          pulled.push(ref);
          await f.pull(ref);
        },
      });
      expect(pulled).toEqual([f.configured]);
      expect(r.exitCode).toBe(0);
    });

    it("rejects bad options before creating anything", async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ memory: "lots" }, "INVALID_OPTION"],
        [{ memory: "64m", memorySwap: "32m" }, "INVALID_OPTION"],
        [{ cpus: -1 }, "INVALID_OPTION"],
        [{ pidsLimit: 0 }, "INVALID_OPTION"],
        [{ name: "bad name" }, "INVALID_NAME"],
        [{ network: "bridge" }, "NETWORK_UNSUPPORTED"],
        [{ envFiles: [join(f.dir, "no-such-env")] }, "ENV_FILE_INVALID"],
      ];
      for (const [options, code] of cases) {
        const error = await f.runtime
          .run({ image: f.busybox, args: ["true"], ...options })
          .catch((e: unknown) => e);
        expect((error as ContainerError).code, JSON.stringify(options)).toBe(code);
      }
      expect(await f.runtime.list({ all: true })).toEqual([]);
      await rm(join(f.dir, "env"), { force: true });
    });
  },
  { commands: ["mount", "umount", "docker-registry", "ip", "crun", "runc"] },
);
