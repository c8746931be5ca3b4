export { NetnsError, type NetnsErrorCode } from "./errors.js";
export { decodeMountField, isSharedMountPoint, type MountInfoEntry, parseMountInfo } from "./mountinfo.js";
export { assertNetnsName, netnsNameProblem } from "./names.js";
export {
  addNetns,
  attachNetns,
  currentNetnsId,
  DEFAULT_NETNS_ROOT,
  type DeleteResult,
  deleteNetns,
  execCommand,
  execInNetns,
  explainNetns,
  listNetns,
  type NetnsEntry,
  type NetnsHandle,
  type NetnsOptions,
  netnsPath,
  netnsPids,
} from "./netns.js";
export { type CommandResult, type CommandRunner, shellQuote, spawnRunner } from "./runner.js";
