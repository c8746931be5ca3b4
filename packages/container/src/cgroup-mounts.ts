// /sys/fs/cgroup inside the container: its own cgroup, read-only, as Docker shows it.
import { readFileSync, realpathSync } from "node:fs";
import { basename, join } from "node:path";
import type { CgroupGroup } from "@strata/cgroup";
import type { MountSpec } from "@strata/launch";

const READ_ONLY = ["ro", "nosuid", "nodev", "noexec"];

/** `\040`-style escapes of /proc/self/mountinfo paths. */
const unescapeMountPath = (path: string) =>
  path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));

/** cgroup v1 hierarchies mounted on the host: mount point → superblock options (controllers, `name=…`). */
export function v1Hierarchies(mountinfo: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const [fstype, , superOptions = ""] = line.slice(sep + 3).split(" ");
    const mountPoint = line.slice(0, sep).split(" ")[4];
    if (fstype !== "cgroup" || mountPoint === undefined) continue;
    out.set(
      unescapeMountPath(mountPoint),
      superOptions.split(",").filter((o) => o !== "rw" && o !== "ro"),
    );
  }
  return out;
}

export interface CgroupfsMountOptions {
  /** Where the host's cgroupfs is (default `/sys/fs/cgroup`). */
  cgroupRoot?: string;
  /** The host's /proc/self/mountinfo (read when absent). */
  mountinfo?: string;
}

/**
 * The mounts that show the container its cgroup at /sys/fs/cgroup, read-only. They are made inside the
 * container's cgroup namespace, so the root of each mount is the container's own cgroup (its limits,
 * its processes) and nothing above it. v2: one cgroup2 mount. v1: a tmpfs with one mount per hierarchy
 * the container joined, with the host's superblock options (a hierarchy mounts only with exactly its
 * controllers, e.g. `cpu,cpuacct`). Hierarchies the container did not join are left out: their root would
 * be the launching process's cgroup.
 */
export function cgroupfsMounts(group: CgroupGroup, options: CgroupfsMountOptions = {}): MountSpec[] {
  if (group.version === 2) {
    return [{ destination: "/sys/fs/cgroup", type: "cgroup2", source: "cgroup2", options: READ_ONLY }];
  }
  let hierarchies: Map<string, string[]>;
  try {
    hierarchies = v1Hierarchies(options.mountinfo ?? readFileSync("/proc/self/mountinfo", "utf8"));
  } catch {
    return [];
  }
  const mounts: MountSpec[] = [];
  const seen = new Set<string>();
  for (const controller of group.controllers) {
    let mountPoint: string;
    try {
      mountPoint = realpathSync(join(options.cgroupRoot ?? "/sys/fs/cgroup", controller));
    } catch {
      continue;
    }
    const superOptions = hierarchies.get(mountPoint);
    if (!superOptions || seen.has(mountPoint)) continue;
    seen.add(mountPoint);
    mounts.push({
      destination: `/sys/fs/cgroup/${basename(mountPoint)}`,
      type: "cgroup",
      source: "cgroup",
      options: [...READ_ONLY, ...superOptions],
    });
  }
  if (mounts.length === 0) return [];
  return [
    { destination: "/sys/fs/cgroup", type: "tmpfs", source: "tmpfs", options: [...READ_ONLY, "mode=755"] },
    ...mounts,
  ];
}
