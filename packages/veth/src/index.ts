export {
  addrAdd,
  batchLine,
  bridgeAdd,
  bridgePort,
  hairpin,
  type IpCommand,
  type LinkSetSpec,
  linkDel,
  linkSet,
  type RouteSpec,
  routeAdd,
  type VethSpec,
  vethAdd,
} from "./commands.js";
export { classifyIpError, IpCommandError, VethError, type VethErrorCode } from "./errors.js";
export { applyBatch, batchInvocation, runIp } from "./exec.js";
export {
  applyNetworkPlan,
  type ContainerNetwork,
  explainPlan,
  type NetworkPlan,
  planContainerNetwork,
  planInvocations,
  removeContainerNetwork,
} from "./plan.js";
export {
  type Address,
  findLink,
  type Link,
  listAddresses,
  listLinks,
  listRoutes,
  type Route,
} from "./read.js";
export { type IpResult, type IpRunner, runCollected, spawnIpRunner } from "./runner.js";
export {
  assertIp,
  assertLinkName,
  assertMac,
  assertMtu,
  assertNetnsName,
  MAX_LINK_NAME,
  type ParsedCidr,
  parseCidr,
} from "./validate.js";
