export { describePrivileged, missingPrivileges, type PrivilegeNeeds, privilegedRequired } from "./privileged.js";
