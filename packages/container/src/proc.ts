// Process identities (pid + start time) are @strata/lockfile's; re-exported for this package's API.
export { isAlive, type ProcessRef, processRef, processStartTime } from "@strata/lockfile";
