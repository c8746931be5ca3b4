export { LockTimeoutError, withFileLock } from "@strata/lockfile";
export { bridgeAttacher, type ContainerAttachment, type ContainerAttachRequest } from "./attacher.js";
export {
  type Attachment,
  type AttachRequest,
  BridgeNetwork,
  type BridgeNetworkOptions,
  CONTAINER_INTERFACE,
  defaultIsAlive,
  type GcOptions,
  type GcReport,
} from "./bridge.js";
export { NetworkError, type NetworkErrorCode } from "./errors.js";
export {
  type AllocateOptions,
  Ipam,
  IpamExhaustedError,
  type IpamOptions,
  type Lease,
  type LeaseDetails,
} from "./ipam.js";
export { type NetworkMode, parseNetworkMode } from "./mode.js";
export { assertContainerId, assertHostname, hostInterfaceName, netnsName, ruleComment } from "./names.js";
export { formatPublish, normalizePublish, type PortMapping, parsePublish } from "./ports.js";
export {
  baseRules,
  type Chains,
  chainNames,
  dnatRules,
  explainRules,
  jumpRules,
  type Rule,
  restoreScript,
} from "./rules.js";
export {
  type IptablesRunner,
  processStartTime,
  procSysctl,
  type RunResult,
  type SysctlWriter,
  spawnIptablesRunner,
  sysctlCommand,
} from "./runners.js";
export {
  formatSubnet,
  InvalidSubnetError,
  intToIp,
  ipToInt,
  parseSubnet,
  type Subnet,
  subnetContains,
} from "./subnet.js";
