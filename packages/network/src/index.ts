export { LockTimeoutError, withFileLock } from "./file-lock.js";
export { Ipam, IpamExhaustedError, type IpamOptions, type Lease } from "./ipam.js";
export {
  formatSubnet,
  InvalidSubnetError,
  intToIp,
  ipToInt,
  parseSubnet,
  type Subnet,
  subnetContains,
} from "./subnet.js";
