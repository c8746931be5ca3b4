import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CgroupGroup } from "@strata/cgroup";
import { afterAll, describe, expect, it } from "vitest";
import { cgroupfsMounts, v1Hierarchies } from "../src/cgroup-mounts.js";

const RO = ["ro", "nosuid", "nodev", "noexec"];
const group = (version: 1 | 2, controllers: string[]) => ({ version, controllers }) as unknown as CgroupGroup;

describe("/sys/fs/cgroup mounts for the container", () => {
  // a host layout with cpu and cpuacct co-mounted (the common systemd v1 layout), as a fixture tree
  const root = mkdtempSync(join(tmpdir(), "strata-test-container-cgmounts-"));
  for (const dir of ["cpu,cpuacct", "pids", "memory", "my hier"]) mkdirSync(join(root, dir));
  symlinkSync("cpu,cpuacct", join(root, "cpu"));
  symlinkSync("cpu,cpuacct", join(root, "cpuacct"));
  const mountinfo = [
    `30 23 0:27 / ${root} rw,nosuid - tmpfs tmpfs rw,mode=755`,
    `31 30 0:28 / ${root}/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct`,
    `32 30 0:29 / ${root}/pids rw,nosuid - cgroup cgroup rw,pids`,
    `33 30 0:30 / ${root}/memory rw,nosuid - cgroup cgroup rw,memory`,
    `34 30 0:31 / ${root}/my\\040hier rw - cgroup cgroup rw,xattr,name=systemd`,
    "35 23 0:32 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw",
  ].join("\n");
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("reads v1 hierarchies and their superblock options from mountinfo", () => {
    const h = v1Hierarchies(mountinfo);
    expect(h.get(`${root}/cpu,cpuacct`)).toEqual(["cpu", "cpuacct"]);
    expect(h.get(`${root}/my hier`)).toEqual(["xattr", "name=systemd"]);
    expect(h.has("/sys/fs/cgroup/unified")).toBe(false);
  });

  it("v1: a tmpfs, then one read-only mount per joined hierarchy with exactly its controllers", () => {
    expect(cgroupfsMounts(group(1, ["pids", "memory", "cpu"]), { cgroupRoot: root, mountinfo })).toEqual([
      { destination: "/sys/fs/cgroup", type: "tmpfs", source: "tmpfs", options: [...RO, "mode=755"] },
      { destination: "/sys/fs/cgroup/pids", type: "cgroup", source: "cgroup", options: [...RO, "pids"] },
      { destination: "/sys/fs/cgroup/memory", type: "cgroup", source: "cgroup", options: [...RO, "memory"] },
      {
        destination: "/sys/fs/cgroup/cpu,cpuacct",
        type: "cgroup",
        source: "cgroup",
        options: [...RO, "cpu", "cpuacct"],
      },
    ]);
    // a hierarchy reached twice (cpu and cpuacct) is mounted once; unknown ones are skipped
    expect(cgroupfsMounts(group(1, ["cpu", "freezer"]), { cgroupRoot: root, mountinfo })).toHaveLength(2);
    expect(cgroupfsMounts(group(1, ["freezer"]), { cgroupRoot: root, mountinfo })).toEqual([]);
  });

  it("v2: one read-only cgroup2 mount", () => {
    expect(cgroupfsMounts(group(2, ["pids", "memory"]))).toEqual([
      { destination: "/sys/fs/cgroup", type: "cgroup2", source: "cgroup2", options: RO },
    ]);
  });
});
