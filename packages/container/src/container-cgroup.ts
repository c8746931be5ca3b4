// The container's cgroup: created with Docker's swap fallback, read for OOM kills.
import type { CgroupGroup, CgroupLimits, CgroupManager } from "@strata/cgroup";

const codeOf = (error: unknown): string | undefined => (error as { code?: string } | undefined)?.code;

/**
 * Docker's implied --memory-swap (twice --memory) is dropped when the kernel does not account swap,
 * as Docker does with a warning; an explicit --memory-swap still fails then.
 */
export async function createGroup(
  cgroups: CgroupManager,
  id: string,
  limits: CgroupLimits,
  swapImplied: boolean,
): Promise<CgroupGroup> {
  try {
    return await cgroups.create(id, { limits });
  } catch (error) {
    if (!swapImplied || codeOf(error) !== "CONTROLLER_UNAVAILABLE" || limits.memory?.swap === undefined)
      throw error;
    const { swap: _swap, ...memory } = limits.memory;
    return cgroups.create(id, { limits: { ...limits, memory } });
  }
}

export async function readOomKilled(group: CgroupGroup): Promise<boolean> {
  if (!group.controllers.includes("memory")) return false;
  try {
    // one file, not group.stats() (~9 sequential reads): this is on every run's path
    const file = group.version === 1 ? "memory.oom_control" : "memory.events";
    const count = /^oom_kill (\d+)$/m.exec(await group.readControl("memory", file))?.[1];
    return Number(count ?? 0) > 0;
  } catch {
    return false;
  }
}
