import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describePrivileged } from "@strata/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Fixture, runCapture, setup } from "./fixture.js";

describePrivileged(
  "inside a container (real overlay, cgroup, namespaces)",
  () => {
    let f: Fixture;
    beforeAll(async () => {
      f = await setup("inside");
    });
    afterAll(() => f?.stop());

    it("runs the command as PID 1 and ps shows only the container's processes", async () => {
      const r = await runCapture(f.runtime, {
        image: f.busybox,
        rm: true,
        args: ["/bin/sh", "-c", "echo pid=$$; ps -o pid,comm | tail -n +2"],
      });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toMatch(/^pid=1\n/);
      const procs = r.stdout
        .split("\n")
        .slice(1)
        .filter((l) => l.trim() !== "")
        .map((l) => l.trim().split(/\s+/));
      // the shell (PID 1) and ps itself, plus tail: nothing of the host
      expect(procs.map(([pid]) => Number(pid)).every((pid) => pid < 10)).toBe(true);
      expect(procs.map(([, comm]) => comm)).toEqual(expect.arrayContaining(["sh", "ps"]));
      expect(procs.length).toBeLessThanOrEqual(3);
    });

    it("has the container's hostname (default: 12 hex digits of the id; --hostname overrides)", async () => {
      const r = await runCapture(f.runtime, {
        image: f.busybox,
        rm: true,
        args: ["/bin/sh", "-c", "hostname; cat /etc/hostname"],
      });
      expect(r.stdout).toBe(`${r.id.slice(0, 12)}\n${r.id.slice(0, 12)}\n`);
      const named = await runCapture(f.runtime, {
        image: f.busybox,
        rm: true,
        hostname: "box-1",
        args: ["/bin/sh", "-c", "hostname; grep box-1 /etc/hosts"],
      });
      expect(named.stdout).toBe("box-1\n127.0.1.1\tbox-1\n");
    });

    it("mounts the store's overlay: lowerdir/upperdir are store paths, writes land in the upperdir", async () => {
      const image = await f.store.get(f.busybox);
      const r = await runCapture(f.runtime, {
        image: f.busybox,
        name: "strata-test-upper",
        args: ["/bin/sh", "-c", "grep ' / overlay ' /proc/mounts; echo written > /written-here"],
      });
      expect(r.exitCode).toBe(0);
      const state = await f.runtime.inspect(r.id);
      const mountId = state.mount?.id as string;
      const overlay2 = f.store.layout.overlay2;
      const line = r.stdout.split("\n")[0] as string;
      const opts = Object.fromEntries(
        (line.split(" ")[3] ?? "").split(",").map((o) => [o.split("=")[0], o.split("=").slice(1).join("=")]),
      );
      expect(opts.upperdir).toBe(join(overlay2, mountId, "diff"));
      expect(opts.workdir).toBe(join(overlay2, mountId, "work"));
      const linkId = image.layers[0]?.linkId as string;
      expect(opts.lowerdir).toBe(join(overlay2, "l", linkId));
      // the file is in the container's upper layer, not in the image's layer
      expect(await readFile(join(overlay2, mountId, "diff", "written-here"), "utf8")).toBe("written\n");
      await expect(readFile(join(image.layers[0]?.diffDir as string, "written-here"))).rejects.toThrow();
      // layerdb/mounts/<id> as moby records it
      const record = join(f.store.layout.layerdbMounts, r.id);
      expect(await readFile(join(record, "mount-id"), "utf8")).toBe(mountId);
      expect(await readFile(join(record, "parent"), "utf8")).toBe(image.chainId);
      // not removed: the state says exited with the code; rm removes the layer and the record
      expect((await f.runtime.list({ all: true })).find((c) => c.id === r.id)).toMatchObject({
        name: "strata-test-upper",
        status: "exited",
        exitCode: 0,
      });
      await f.runtime.remove("strata-test-upper");
      await expect(readFile(join(record, "mount-id"))).rejects.toThrow();
      await expect(readFile(join(overlay2, mountId, "link"))).rejects.toThrow();
      expect(await f.store.verify()).toEqual([]);
    });

    it("sees the image's files and not the host's", async () => {
      const r = await runCapture(f.runtime, {
        image: f.configured,
        pull: f.pull,
        rm: true,
        entrypoint: ["/bin/sh", "-c"],
        args: [
          `cat /image-marker; for f in ${process.execPath} /etc/os-release /usr/lib; do test -e $f && echo host-visible $f; done; true`,
        ],
      });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe("from the image\n");
    });

    it("sees its own cgroup at /sys/fs/cgroup, read-only (as Docker mounts it)", async () => {
      const script = [
        "cat /proc/self/cgroup | cut -d: -f3 | sort -u",
        "if [ -f /sys/fs/cgroup/pids.max ]; then cat /sys/fs/cgroup/pids.max; else cat /sys/fs/cgroup/pids/pids.max; fi",
        "mkdir /sys/fs/cgroup/x 2>/dev/null && echo mkdir-ok || echo mkdir-denied",
        "mkdir /sys/fs/cgroup/pids/x 2>/dev/null && echo sub-ok || echo sub-denied",
        "echo 99 > /sys/fs/cgroup/pids/pids.max 2>/dev/null && echo write-ok || echo write-denied",
        "grep ' /sys/fs/cgroup' /proc/self/mounts | cut -d' ' -f4 | cut -d, -f1 | sort -u",
      ].join("; ");
      const r = await runCapture(f.runtime, {
        image: f.busybox,
        rm: true,
        pidsLimit: 7,
        args: ["/bin/sh", "-c", script],
      });
      expect(r.exitCode, r.stderr).toBe(0);
      const lines = r.stdout.trim().split("\n");
      // the cgroup namespace's root is the container's cgroup: every hierarchy it joined says "/"
      expect(lines[0]).toBe("/");
      expect(lines[1]).toBe("7");
      expect(lines.slice(2, 5)).toEqual(["mkdir-denied", "sub-denied", "write-denied"]);
      expect(lines.slice(5)).toEqual(["ro"]);
    });

    describe("limits", () => {
      it("pidsLimit 2: a third process cannot start", async () => {
        const r = await runCapture(f.runtime, {
          image: f.busybox,
          rm: true,
          pidsLimit: 2,
          args: ["/bin/sh", "-c", "sleep 2 & sleep 2 & wait; echo after"],
        });
        expect(r.stderr).toMatch(/can't fork|Resource temporarily unavailable/);
      });

      it("memory 64m: a process allocating more is OOM-killed and the result says so", async () => {
        const r = await runCapture(f.runtime, {
          image: f.busybox,
          rm: true,
          memory: "64m",
          args: ["/bin/sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"],
        });
        expect(r.oomKilled).toBe(true);
        expect(r.stdout).not.toContain("survived");
        expect(r.exitCode).toBe(137);
      });

      it("a run within its memory limit is not reported as OOM-killed", async () => {
        const r = await runCapture(f.runtime, { image: f.busybox, rm: true, memory: "64m", args: ["true"] });
        expect(r).toMatchObject({ exitCode: 0, oomKilled: false });
      });

      it("cpus 0.5 writes quota/period 50000/100000; memory and pids are read back too", async () => {
        const seen: Record<string, string> = {};
        let initPid = 0;
        const r = await runCapture(f.runtime, {
          image: f.busybox,
          rm: true,
          cpus: 0.5,
          memory: "64m",
          pidsLimit: 10,
          args: ["/bin/sh", "-c", "read x"],
          interactive: true,
          onStart(c) {
            initPid = c.pid;
            void (async () => {
              const state = await f.runtime.inspect(c.id);
              const paths = state.cgroup?.paths ?? {};
              const read = (dir: string | undefined, file: string) =>
                readFile(join(dir as string, file), "utf8");
              if (paths.cpu) {
                seen.quota = (await read(paths.cpu, "cpu.cfs_quota_us")).trim();
                seen.period = (await read(paths.cpu, "cpu.cfs_period_us")).trim();
                seen.memory = (await read(paths.memory, "memory.limit_in_bytes")).trim();
                seen.pids = (await read(paths.pids, "pids.max")).trim();
                seen.procs = (await read(paths.pids, "cgroup.procs")).trim();
              } else {
                const [quota, period] = (await read(paths.unified, "cpu.max")).trim().split(" ");
                seen.quota = quota as string;
                seen.period = period as string;
                seen.memory = (await read(paths.unified, "memory.max")).trim();
                seen.pids = (await read(paths.unified, "pids.max")).trim();
                seen.procs = (await read(paths.unified, "cgroup.procs")).trim();
              }
              c.stdin?.end("done\n");
            })();
          },
        });
        expect(r.exitCode).toBe(0);
        expect(seen).toMatchObject({
          quota: "50000",
          period: "100000",
          memory: String(64 * 1024 * 1024),
          pids: "10",
        });
        // the container's init joined its cgroup before exec
        expect(seen.procs?.split("\n").map(Number)).toContain(initPid);
      });
    });
  },
  { commands: ["mount", "umount", "docker-registry"] },
);
