import { isIPv4 } from "node:net";
import { NetworkError } from "./errors.js";

/** One `-p [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]`. */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: "tcp" | "udp";
  /** Only traffic to this host address is forwarded (default: every local address). */
  hostIp?: string;
}

function port(text: string, spec: string, which: string): number {
  const value = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 1 && value <= 65535)) {
    throw new NetworkError(
      "INVALID_PUBLISH",
      `invalid port mapping "${spec}": ${which} port "${text}" is not a number from 1 to 65535 (format [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp])`,
    );
  }
  return value;
}

/** Parses `8080:80`, `8080:80/udp`, `127.0.0.1:8080:80/tcp`. A lone port or a range is refused. */
export function parsePublish(spec: string): PortMapping {
  const [ports = "", proto = "tcp", ...extra] = spec.split("/");
  if (extra.length > 0 || (proto !== "tcp" && proto !== "udp")) {
    throw new NetworkError(
      "INVALID_PUBLISH",
      `invalid port mapping "${spec}": protocol must be tcp or udp (format [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp])`,
    );
  }
  const parts = ports.split(":");
  if (parts.length < 2 || parts.length > 3) {
    throw new NetworkError(
      "INVALID_PUBLISH",
      `invalid port mapping "${spec}": give both ports, e.g. 8080:80 (format [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp])`,
    );
  }
  const hostIp = parts.length === 3 ? (parts[0] as string) : undefined;
  if (hostIp !== undefined && !isIPv4(hostIp)) {
    throw new NetworkError(
      "INVALID_PUBLISH",
      `invalid port mapping "${spec}": host address "${hostIp}" is not an IPv4 address`,
    );
  }
  const mapping: PortMapping = {
    hostPort: port(parts.at(-2) as string, spec, "host"),
    containerPort: port(parts.at(-1) as string, spec, "container"),
    protocol: proto,
  };
  if (hostIp !== undefined) mapping.hostIp = hostIp;
  return mapping;
}

/** Normalises strings and objects, and refuses the same host port twice in one request. */
export function normalizePublish(publish: readonly (string | PortMapping)[]): PortMapping[] {
  const mappings = publish.map((p) => (typeof p === "string" ? parsePublish(p) : validated(p)));
  const seen = new Set<string>();
  for (const m of mappings) {
    const key = `${m.protocol}/${m.hostPort}`;
    if (seen.has(key)) {
      throw new NetworkError(
        "INVALID_PUBLISH",
        `host port ${key} is published twice: use one mapping per host port`,
      );
    }
    seen.add(key);
  }
  return mappings;
}

function validated(p: PortMapping): PortMapping {
  const text = `${p.hostIp ? `${p.hostIp}:` : ""}${p.hostPort}:${p.containerPort}/${p.protocol}`;
  return parsePublish(text);
}

export function formatPublish(p: PortMapping): string {
  return `${p.hostIp ? `${p.hostIp}:` : ""}${p.hostPort}:${p.containerPort}/${p.protocol}`;
}
