export {
  type BuildLaunchSpecOptions,
  buildLaunchSpec,
  type ImageRuntimeConfig,
  mergeEnv,
  overlayLayerDirs,
} from "./build-spec.js";
export {
  CAPABILITY_NUMBERS,
  capabilitiesFromMask,
  capabilityMask,
  DOCKER_DEFAULT_CAPABILITIES,
  normalizeCapability,
} from "./capabilities.js";
export {
  DEFAULT_DEV_SYMLINKS,
  DEFAULT_DEVICES,
  DEFAULT_PATH,
  DEFAULT_READONLY_PATHS,
  defaultMaskedPaths,
  defaultMounts,
  dockerCapabilitySets,
} from "./defaults.js";
export { LaunchError, type LaunchErrorCode } from "./errors.js";
export {
  type HelperMountOp,
  type HelperSpec,
  MS,
  parseMountOptions,
  RLIMIT_NUMBERS,
  toHelperSpec,
} from "./helper-spec.js";
export {
  type ExitStatus,
  FORWARDED_SIGNALS,
  helperPath,
  type LaunchedProcess,
  type LaunchOptions,
  launch,
} from "./launch.js";
export { toOciConfig, writeOciBundle } from "./oci-bundle.js";
export { discardPrespawnedHelper } from "./prespawn.js";
export { resolveInRoot } from "./rootfs-path.js";
export {
  CLONE_NAMESPACE_FLAGS,
  DOCKER_DEFAULT_SECCOMP,
  type HelperSeccomp,
  type SeccompPolicy,
  toHelperSeccomp,
  toOciSeccomp,
} from "./seccomp.js";
export type { CapabilitySets, LaunchSpec, MountSpec, Rlimit, RootfsOverlay } from "./types.js";
export {
  type GroupEntry,
  type PasswdEntry,
  parseGroup,
  parsePasswd,
  type ResolvedUser,
  resolveUser,
} from "./user.js";
