import { IpCommandError } from "./errors.js";
import { runIp } from "./exec.js";
import type { IpRunner } from "./runner.js";
import { assertLinkName } from "./validate.js";

/** A network interface as `ip -json -details link show` reports it. */
export interface Link {
  ifindex: number;
  name: string;
  flags: string[];
  /** Administratively up (the UP flag). */
  up: boolean;
  /** Kernel operstate: "UP", "DOWN", "UNKNOWN", "LOWERLAYERDOWN", ... */
  operState: string;
  mtu: number;
  mac?: string;
  /** "veth", "bridge", "dummy", ...; absent for plain devices such as lo. */
  kind?: string;
  /** The bridge this link is a port of. */
  master?: string;
  /** For a veth end: the peer's name when it is in the same namespace. */
  peer?: string;
  /** For a veth end whose peer is in another namespace: that namespace's id here. */
  peerNetnsId?: number;
  /** Hairpin mode when the link is a bridge port. */
  hairpin?: boolean;
}

export interface Address {
  ifname: string;
  ifindex: number;
  family: 4 | 6;
  address: string;
  prefix: number;
  /** "10.0.0.2/24". */
  cidr: string;
  scope: string;
}

export interface Route {
  family: 4 | 6;
  /** "default" or a CIDR / host address as ip prints it. */
  dst: string;
  gateway?: string;
  dev?: string;
  scope?: string;
  protocol?: string;
}

interface RawLink {
  ifindex: number;
  ifname: string;
  flags?: string[];
  operstate?: string;
  mtu?: number;
  address?: string;
  master?: string;
  link?: string;
  link_netnsid?: number;
  linkinfo?: { info_kind?: string; info_slave_data?: { hairpin?: boolean } };
}

function toLink(raw: RawLink): Link {
  const flags = raw.flags ?? [];
  const link: Link = {
    ifindex: raw.ifindex,
    name: raw.ifname,
    flags,
    up: flags.includes("UP"),
    operState: raw.operstate ?? "UNKNOWN",
    mtu: raw.mtu ?? 0,
  };
  if (raw.address !== undefined) link.mac = raw.address;
  if (raw.linkinfo?.info_kind !== undefined) link.kind = raw.linkinfo.info_kind;
  if (raw.master !== undefined) link.master = raw.master;
  if (raw.link !== undefined) link.peer = raw.link;
  if (raw.link_netnsid !== undefined) link.peerNetnsId = raw.link_netnsid;
  const hairpin = raw.linkinfo?.info_slave_data?.hairpin;
  if (hairpin !== undefined) link.hairpin = hairpin;
  return link;
}

function parseJson<T>(text: string): T[] {
  const trimmed = text.trim();
  return trimmed === "" ? [] : (JSON.parse(trimmed) as T[]);
}

/** Every link (in `netns` when given). */
export async function listLinks(runner: IpRunner, options: { netns?: string } = {}): Promise<Link[]> {
  const { stdout } = await runIp(runner, ["-json", "-details", "link", "show"], options);
  return parseJson<RawLink>(stdout).map(toLink);
}

/** One link by name, or undefined when it does not exist. */
export async function findLink(
  runner: IpRunner,
  name: string,
  options: { netns?: string } = {},
): Promise<Link | undefined> {
  assertLinkName(name);
  try {
    const { stdout } = await runIp(runner, ["-json", "-details", "link", "show", "dev", name], options);
    const first = parseJson<RawLink>(stdout)[0];
    return first === undefined ? undefined : toLink(first);
  } catch (error) {
    if (error instanceof IpCommandError && error.code === "NOT_FOUND") return undefined;
    throw error;
  }
}

interface RawAddrLink {
  ifindex: number;
  ifname: string;
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
}

/** Addresses (of `dev`, in `netns`), IPv4 and IPv6, as typed objects. */
export async function listAddresses(
  runner: IpRunner,
  options: { netns?: string; dev?: string } = {},
): Promise<Address[]> {
  if (options.dev !== undefined) assertLinkName(options.dev);
  const { stdout } = await runIp(
    runner,
    ["-json", "addr", "show", ...(options.dev ? ["dev", options.dev] : [])],
    options,
  );
  return parseJson<RawAddrLink>(stdout).flatMap((l) =>
    (l.addr_info ?? [])
      .filter((a) => a.family === "inet" || a.family === "inet6")
      .map((a) => ({
        ifname: l.ifname,
        ifindex: l.ifindex,
        family: a.family === "inet" ? (4 as const) : (6 as const),
        address: a.local,
        prefix: a.prefixlen,
        cidr: `${a.local}/${a.prefixlen}`,
        scope: a.scope ?? "global",
      })),
  );
}

interface RawRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  scope?: string;
  protocol?: string;
}

/** Main-table routes (in `netns`) of one family. */
export async function listRoutes(
  runner: IpRunner,
  options: { netns?: string; family?: 4 | 6 } = {},
): Promise<Route[]> {
  const family = options.family ?? 4;
  const { stdout } = await runIp(runner, ["-json", family === 6 ? "-6" : "-4", "route", "show"], options);
  return parseJson<RawRoute>(stdout).map((r) => {
    const route: Route = { family, dst: r.dst };
    if (r.gateway !== undefined) route.gateway = r.gateway;
    if (r.dev !== undefined) route.dev = r.dev;
    if (r.scope !== undefined) route.scope = r.scope;
    if (r.protocol !== undefined) route.protocol = r.protocol;
    return route;
  });
}
