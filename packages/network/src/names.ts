import { createHash } from "node:crypto";
import { NetworkError } from "./errors.js";

/** IFNAMSIZ - 1. */
const MAX_LINK_NAME = 15;

/** CNI's rule for CNI_CONTAINERID: alphanumeric start, then `[A-Za-z0-9_.-]`; strata caps it at 128. */
export function assertContainerId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id)) {
    throw new NetworkError(
      "INVALID_CONTAINER_ID",
      `invalid container id ${JSON.stringify(id)}: use 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit`,
    );
  }
}

/** RFC 1123 host name (labels of 1-63 letters, digits, '-', not starting or ending with '-'), ≤ 253 chars. */
export function assertHostname(hostname: string): void {
  const ok =
    hostname.length > 0 &&
    hostname.length <= 253 &&
    hostname.split(".").every((label) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label));
  if (!ok) {
    throw new NetworkError(
      "INVALID_HOSTNAME",
      `invalid hostname ${JSON.stringify(hostname)}: use dot-separated labels of letters, digits and '-' (at most 63 each)`,
    );
  }
}

/**
 * The host end of a container's veth: `prefix` + the container id's first hex digits when the id is hex
 * (so `ip link` matches `strata ps`), else + a sha256 of the id. Deterministic, so detach and gc can
 * find it again without state.
 */
export function hostInterfaceName(prefix: string, containerId: string): string {
  const room = MAX_LINK_NAME - Buffer.byteLength(prefix);
  if (room < 6) {
    throw new NetworkError(
      "INVALID_OPTION",
      `veth prefix ${JSON.stringify(prefix)} is too long: it must leave at least 6 of the ${MAX_LINK_NAME} characters of an interface name`,
    );
  }
  const hex = /^[0-9a-f]{12,}$/.test(containerId)
    ? containerId
    : createHash("sha256").update(containerId).digest("hex");
  return `${prefix}${hex.slice(0, room)}`;
}

/** The named namespace strata creates for a container: `prefix` + the id (shortened to 12 hex when it is a long hex id). */
export function netnsName(prefix: string, containerId: string): string {
  const id = /^[0-9a-f]{64}$/.test(containerId) ? containerId.slice(0, 12) : containerId;
  return `${prefix}${id}`;
}

/** The iptables comment that marks every per-container rule, so teardown and gc find exactly them. */
export function ruleComment(containerId: string): string {
  return `strata:${containerId}`;
}
