/** IPv4 subnet arithmetic for IPAM: addresses as 32-bit unsigned integers. */

export class InvalidSubnetError extends Error {
  readonly code = "INVALID_SUBNET";
  override readonly name = "InvalidSubnetError";
}

export interface Subnet {
  /** Network address, e.g. "10.88.0.0". */
  readonly network: string;
  readonly prefixLength: number;
  /** First usable host (the gateway by convention). */
  readonly firstHost: number;
  readonly lastHost: number;
}

export function ipToInt(ip: string): number {
  const parts = ip.split(".");
  if (parts.length !== 4) throw new InvalidSubnetError(`not an IPv4 address: "${ip}"`);
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255)
      throw new InvalidSubnetError(`not an IPv4 address: "${ip}"`);
    value = value * 256 + Number(part);
  }
  return value >>> 0;
}

export function intToIp(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

/** Parse "10.88.0.0/16". Host bits must be zero; /31 and /32 leave no room for a gateway and hosts. */
export function parseSubnet(cidr: string): Subnet {
  const match = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
  if (!match) throw new InvalidSubnetError(`subnet must look like 10.88.0.0/16, got "${cidr}"`);
  const prefixLength = Number(match[2]);
  if (prefixLength < 8 || prefixLength > 30) {
    throw new InvalidSubnetError(`subnet prefix must be between /8 and /30, got /${prefixLength}`);
  }
  const base = ipToInt(match[1] as string);
  const size = 2 ** (32 - prefixLength);
  if (base % size !== 0) {
    throw new InvalidSubnetError(
      `"${cidr}" has host bits set; did you mean ${intToIp(base - (base % size))}/${prefixLength}?`,
    );
  }
  return { network: intToIp(base), prefixLength, firstHost: base + 1, lastHost: base + size - 2 };
}

export function formatSubnet(subnet: Subnet): string {
  return `${subnet.network}/${subnet.prefixLength}`;
}

export function subnetContains(subnet: Subnet, ip: string): boolean {
  const value = ipToInt(ip);
  return value >= subnet.firstHost && value <= subnet.lastHost;
}
