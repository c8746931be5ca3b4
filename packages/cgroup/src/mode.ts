import { join } from "node:path";
import { CgroupError, errnoOf } from "./errors.js";
import type { CgroupFs } from "./fs.js";

/** statfs f_type of a cgroup2 mount (linux/magic.h). */
export const CGROUP2_SUPER_MAGIC = 0x63677270;
/** statfs f_type of a v1 cgroup mount (linux/magic.h). */
export const CGROUP_SUPER_MAGIC = 0x27e0eb;
/** statfs f_type of tmpfs (linux/magic.h): what a v1/hybrid /sys/fs/cgroup is. */
export const TMPFS_MAGIC = 0x01021994;

/**
 * `unified`: cgroup2 at the root (v2). `hybrid`: tmpfs with v1 controllers plus a controller-less
 * cgroup2 at `unified/` (resources go through v1). `legacy`: tmpfs with v1 controllers only.
 */
export type CgroupMode = "unified" | "hybrid" | "legacy";

/** Which cgroup layout `root` has, decided by statfs as runc and crun do. */
export async function detectCgroupMode(fs: CgroupFs, root: string): Promise<CgroupMode> {
  let type: number;
  try {
    type = (await fs.statfs(root)).type;
  } catch (error) {
    throw new CgroupError(
      "UNSUPPORTED_CGROUP_FS",
      `cannot statfs cgroup root ${root} (${errnoOf(error) ?? String(error)}): is cgroupfs mounted there?`,
      { path: root, cause: error },
    );
  }
  if (type === CGROUP2_SUPER_MAGIC) return "unified";
  if (type === TMPFS_MAGIC) {
    try {
      if ((await fs.statfs(join(root, "unified"))).type === CGROUP2_SUPER_MAGIC) return "hybrid";
    } catch {
      // No unified/ mount: plain legacy v1.
    }
    return "legacy";
  }
  throw new CgroupError(
    "UNSUPPORTED_CGROUP_FS",
    `${root} is neither cgroup2 nor a tmpfs of v1 hierarchies (statfs type 0x${type.toString(16)}): mount cgroupfs there or pass the right root`,
    { path: root },
  );
}
