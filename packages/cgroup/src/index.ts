export { CgroupError, type CgroupErrorCode } from "./errors.js";
export { createRecorder, explainEffects, shellCommand } from "./explain.js";
export {
  type CgroupEffect,
  type CgroupFs,
  type CgroupObserver,
  type NodeCgroupFsOptions,
  nodeCgroupFs,
  observeFs,
  observeSignal,
  type SignalFn,
  type StatfsResult,
} from "./fs.js";
export type { CgroupGroup, CgroupStats, Controller, WaitOptions } from "./group.js";
export {
  type CgroupLimits,
  cpusToQuota,
  DEFAULT_CPU_PERIOD,
  type LimitValue,
  type LimitWrite,
  planV1Writes,
  planV2Writes,
  type ResolvedLimits,
  resolveLimits,
  sharesToWeight,
  weightToShares,
} from "./limits.js";
export {
  type CgroupManager,
  type CgroupManagerOptions,
  type CreateOptions,
  openCgroupManager,
} from "./manager.js";
export {
  CGROUP_SUPER_MAGIC,
  CGROUP2_SUPER_MAGIC,
  type CgroupMode,
  detectCgroupMode,
  TMPFS_MAGIC,
} from "./mode.js";
