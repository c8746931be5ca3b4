import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describePrivileged } from "@strata/testkit";
import { afterAll, afterEach, expect, it } from "vitest";
import {
  addNetns,
  DEFAULT_NETNS_ROOT,
  deleteNetns,
  execInNetns,
  listNetns,
  netnsPids,
  parseMountInfo,
} from "../src/index.js";

const PREFIX = `strata-test-netns-${randomBytes(3).toString("hex")}`;
let counter = 0;
const fresh = () => `${PREFIX}-${counter++}`;

function ipNetnsList(): string[] {
  // stderr ignored: `ip netns list` complains about namespaces other tests are deleting meanwhile.
  return execFileSync("ip", ["netns", "list"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((l) => l !== "");
}

function ours(): string[] {
  return existsSync(DEFAULT_NETNS_ROOT)
    ? readdirSync(DEFAULT_NETNS_ROOT).filter((n) => n.startsWith(PREFIX))
    : [];
}

describePrivileged(
  "netns on the real kernel",
  () => {
    const started: number[] = [];
    afterEach(() => {
      for (const pid of started.splice(0)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      for (const name of ours()) execFileSync("ip", ["netns", "del", name]);
    });

    it("add: ip netns list sees it, /run/netns is a shared mount, lo is up inside", async () => {
      const name = fresh();
      const handle = await addNetns(name);
      expect(handle.path).toBe(`/run/netns/${name}`);
      expect(ipNetnsList()).toContain(name);
      const mounts = parseMountInfo(readFileSync("/proc/self/mountinfo", "utf8"));
      const root = mounts.filter((m) => m.mountPoint === "/run/netns").at(-1);
      expect(root?.optionalFields.some((f) => f.startsWith("shared:"))).toBe(true);
      expect(mounts.find((m) => m.mountPoint === handle.path)?.fsType).toBe("nsfs");
      const links = JSON.parse(execFileSync("ip", ["-n", name, "-json", "link"], { encoding: "utf8" })) as {
        ifname: string;
        flags: string[];
      }[];
      expect(links.map((l) => l.ifname)).toEqual(["lo"]);
      expect(links[0]?.flags).toContain("UP");
      expect(await listNetns()).toContainEqual({ name, path: handle.path, active: true });
    });

    it("a namespace made by ip netns add is listed, usable and deletable by strata", async () => {
      const name = fresh();
      execFileSync("ip", ["netns", "add", name]);
      expect(await listNetns()).toContainEqual({ name, path: `/run/netns/${name}`, active: true });
      const result = await execInNetns(name, ["readlink", "/proc/self/ns/net"]);
      expect(result.exitCode).toBe(0);
      expect(result.stdout.trim()).not.toBe(readlinkSync("/proc/self/ns/net"));
      expect((await deleteNetns(name, { findHolders: true })).heldBy).toEqual([]);
      expect(ipNetnsList()).not.toContain(name);
      expect(existsSync(`/run/netns/${name}`)).toBe(false);
    });

    it("exec runs inside the namespace (ip netns exec) and returns a non-zero exit code", async () => {
      const name = fresh();
      await addNetns(name);
      const inside = await execInNetns(name, ["ip", "-json", "link"]);
      expect((JSON.parse(inside.stdout) as { ifname: string }[]).map((l) => l.ifname)).toEqual(["lo"]);
      const ping = await execInNetns(name, ["ping", "-c", "1", "-W", "2", "127.0.0.1"]);
      expect(ping.exitCode).toBe(0);
      expect((await execInNetns(name, ["sh", "-c", "exit 3"])).exitCode).toBe(3);
      await deleteNetns(name);
    });

    it("deleting a namespace in use detaches it; the holder keeps it until it exits", async () => {
      const name = fresh();
      await addNetns(name);
      const nsId = (await execInNetns(name, ["readlink", "/proc/self/ns/net"])).stdout.trim();
      const holder = spawn("nsenter", [`--net=/run/netns/${name}`, "--", "sleep", "300"], {
        stdio: "ignore",
      });
      if (holder.pid === undefined) throw new Error("could not start the holder");
      started.push(holder.pid);
      await expect.poll(() => netnsPids(name), { timeout: 10_000 }).toContain(holder.pid);
      const result = await deleteNetns(name, { findHolders: true });
      expect(result.heldBy).toContain(holder.pid);
      expect(existsSync(`/run/netns/${name}`)).toBe(false);
      expect(ipNetnsList()).not.toContain(name);
      // The namespace lives on inside the holder.
      expect(readlinkSync(`/proc/${holder.pid}/ns/net`)).toBe(nsId);
      const exited = new Promise((resolve) => holder.on("exit", resolve));
      process.kill(holder.pid, "SIGKILL");
      await exited;
    });

    it("an injected root works the same way (nsenter instead of ip netns exec)", async () => {
      const dir = await mkdtemp(join(tmpdir(), "strata-test-netns-root-"));
      const root = join(dir, "netns");
      try {
        const name = "inner";
        const handle = await addNetns(name, { root });
        const mounts = parseMountInfo(readFileSync("/proc/self/mountinfo", "utf8"));
        expect(
          mounts
            .filter((m) => m.mountPoint === root)
            .at(-1)
            ?.optionalFields.join(" "),
        ).toMatch(/shared:/);
        expect(await listNetns({ root })).toEqual([{ name, path: handle.path, active: true }]);
        const inside = await execInNetns(name, ["ip", "-json", "link"], { root });
        expect((JSON.parse(inside.stdout) as { ifname: string; flags: string[] }[])[0]?.flags).toContain(
          "UP",
        );
        await deleteNetns(name, { root });
        expect(await listNetns({ root })).toEqual([]);
      } finally {
        try {
          execFileSync("umount", ["-R", "-l", root], { stdio: "ignore" });
        } catch {
          // not mounted: the test failed before the shared set-up
        }
        await rm(dir, { recursive: true, force: true });
      }
      expect(
        parseMountInfo(readFileSync("/proc/self/mountinfo", "utf8")).some((m) =>
          m.mountPoint.startsWith(dir),
        ),
      ).toBe(false);
    });

    afterAll(() => {
      for (const name of ours()) execFileSync("ip", ["netns", "del", name]);
    });

    it("leaves no namespace behind (runs last)", () => {
      expect(ours()).toEqual([]);
    });
  },
  { commands: ["ip", "unshare", "nsenter", "mount", "umount", "flock", "ping"] },
);
