export { isAlive, type ProcessRef, processRef, processStartTime } from "@strata/lockfile";
export { ContainerError, type ContainerErrorCode } from "./errors.js";
export {
  containerHosts,
  containerResolvConf,
  type EtcFiles,
  type EtcOptions,
  writeEtcFiles,
} from "./etc-files.js";
export { type ExecOptions, type ExecTemplate, execSpecOf, execTemplateOf } from "./exec.js";
export {
  type Explain,
  type ExplainedStep,
  type PullEventLike,
  pullObserver,
  renderScript,
  type StepName,
  Trace,
  type TraceEntry,
} from "./explain.js";
export {
  attachNetwork,
  checkNetworkMode,
  detachNetwork,
  type NetworkAttacher,
  type NetworkAttachment,
  type NetworkAttachRequest,
  type NetworkMode,
  type NetworkOptions,
  type PortableBridgeOptions,
} from "./network.js";
export type {
  ContainerRuntimeOptions,
  ContainerSummary,
  DetachedContainer,
  DetachedRunOptions,
  GcReport,
  Launcher,
  PortableRuntimeOptions,
  RunOptions,
  RunPlan,
  RunResult,
  StartedContainer,
} from "./options.js";
export {
  type AddedHost,
  assertContainerName,
  generateName,
  isContainerId,
  newContainerId,
  type ParsedMount,
  parseAddHost,
  parseCpus,
  parseEnvFile,
  parseMemory,
  parseMount,
  parseSignal,
  parseTmpfs,
  parseUlimit,
  parseVolume,
  readEnvFile,
  type VolumeBind,
} from "./parse.js";
export type { ContainerProcess, ContainerStats } from "./processes.js";
export { ContainerRuntime } from "./runtime.js";
export { type ContainerState, type ContainerStatus, StateDir } from "./state.js";
