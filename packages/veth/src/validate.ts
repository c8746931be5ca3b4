import { isIP } from "node:net";
import { VethError } from "./errors.js";

/** IFNAMSIZ is 16 including the NUL, so a Linux interface name has at most 15 bytes. */
export const MAX_LINK_NAME = 15;

/**
 * Throws INVALID_LINK_NAME unless `name` is a name the kernel accepts (dev_valid_name: 1-15 bytes,
 * not "." or "..", no "/", ":" or whitespace). strata also rejects a leading "-" and "%" (`ip` would read
 * them as an option or a name template).
 */
export function assertLinkName(name: string): void {
  let problem: string | undefined;
  if (name.length === 0) problem = "it is empty";
  else if (Buffer.byteLength(name) > MAX_LINK_NAME) problem = `it is longer than ${MAX_LINK_NAME} bytes`;
  else if (name === "." || name === "..") problem = `"${name}" is reserved`;
  else if (/[/:\s%]/.test(name)) problem = "it contains '/', ':', '%' or whitespace";
  else if (name.startsWith("-")) problem = "it starts with '-'";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what we reject
  else if (/[\u0000-\u001f\u007f]/.test(name)) problem = "it contains a control character";
  if (problem !== undefined) {
    throw new VethError(
      "INVALID_LINK_NAME",
      `invalid interface name ${JSON.stringify(name)}: ${problem}; use up to ${MAX_LINK_NAME} letters, digits, '-', '_' or '.'`,
    );
  }
}

/** Throws INVALID_NETNS_NAME unless `name` names a namespace under /run/netns (as `ip -n` takes it). */
export function assertNetnsName(name: string): void {
  if (name.length === 0 || name === "." || name === ".." || /[/\s]/.test(name) || name.startsWith("-")) {
    throw new VethError(
      "INVALID_NETNS_NAME",
      `invalid network namespace name ${JSON.stringify(name)}: use a plain file name under /run/netns (no '/', whitespace or leading '-')`,
    );
  }
}

export interface ParsedCidr {
  address: string;
  prefix: number;
  family: 4 | 6;
}

/** Parses "10.0.0.2/24" or "2001:db8::2/64"; throws INVALID_ADDRESS. */
export function parseCidr(cidr: string): ParsedCidr {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  const family = match ? isIP(match[1] ?? "") : 0;
  const prefix = match ? Number(match[2]) : Number.NaN;
  if (!match || (family !== 4 && family !== 6) || prefix > (family === 4 ? 32 : 128)) {
    throw new VethError(
      "INVALID_ADDRESS",
      `invalid address ${JSON.stringify(cidr)}: expected ADDRESS/PREFIX such as 10.88.0.2/24 or fd00::2/64`,
    );
  }
  return { address: match[1] ?? "", prefix, family };
}

/** Validates a bare IP address (a gateway); returns its family. Throws INVALID_ADDRESS. */
export function assertIp(address: string, what = "address"): 4 | 6 {
  const family = isIP(address);
  if (family !== 4 && family !== 6) {
    throw new VethError(
      "INVALID_ADDRESS",
      `invalid ${what} ${JSON.stringify(address)}: expected an IPv4 or IPv6 address`,
    );
  }
  return family;
}

/** Throws INVALID_MAC unless `mac` is six colon-separated hex octets, unicast. */
export function assertMac(mac: string): void {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) {
    throw new VethError(
      "INVALID_MAC",
      `invalid MAC address ${JSON.stringify(mac)}: expected six hex octets, e.g. 02:42:ac:11:00:02`,
    );
  }
  if ((Number.parseInt(mac.slice(0, 2), 16) & 1) === 1) {
    throw new VethError(
      "INVALID_MAC",
      `invalid MAC address ${mac}: it is a multicast address (lowest bit of the first octet set)`,
    );
  }
}

/** Throws INVALID_MTU unless 68 <= mtu <= 65535 (IPv4's minimum, veth's maximum). */
export function assertMtu(mtu: number): void {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw new VethError("INVALID_MTU", `invalid MTU ${mtu}: expected an integer from 68 to 65535`);
  }
}
