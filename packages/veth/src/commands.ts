import { VethError } from "./errors.js";
import { assertIp, assertLinkName, assertMac, assertMtu, assertNetnsName, parseCidr } from "./validate.js";

/** One `ip` command without the leading "ip", e.g. ["link", "set", "dev", "eth0", "up"]. */
export type IpCommand = readonly string[];

/** The text of an `ip -batch` line (names are validated, so no quoting is needed). */
export function batchLine(command: IpCommand): string {
  return command.join(" ");
}

const opt = (cond: unknown, ...tokens: string[]): string[] =>
  cond === undefined || cond === false ? [] : tokens;

export interface VethSpec {
  name: string;
  peer: string;
  mtu?: number;
  /** MAC of `name`. */
  mac?: string;
  /** MAC of `peer`. */
  peerMac?: string;
  /** Create the peer directly inside this named namespace. */
  peerNetns?: string;
}

/** `link add NAME [mtu M] [address MAC] type veth peer name PEER [mtu M] [address MAC] [netns NS]`. */
export function vethAdd(spec: VethSpec): IpCommand {
  assertLinkName(spec.name);
  assertLinkName(spec.peer);
  if (spec.name === spec.peer)
    throw new VethError("INVALID_LINK_NAME", `a veth pair needs two names, got "${spec.name}" twice`);
  if (spec.mtu !== undefined) assertMtu(spec.mtu);
  if (spec.mac !== undefined) assertMac(spec.mac);
  if (spec.peerMac !== undefined) assertMac(spec.peerMac);
  if (spec.peerNetns !== undefined) assertNetnsName(spec.peerNetns);
  const mtu = spec.mtu === undefined ? [] : ["mtu", String(spec.mtu)];
  return [
    "link",
    "add",
    spec.name,
    ...mtu,
    ...opt(spec.mac, "address", spec.mac ?? ""),
    "type",
    "veth",
    "peer",
    "name",
    spec.peer,
    ...mtu,
    ...opt(spec.peerMac, "address", spec.peerMac ?? ""),
    ...opt(spec.peerNetns, "netns", spec.peerNetns ?? ""),
  ];
}

export interface LinkSetSpec {
  name: string;
  /** Move into this named namespace (`netns NS`), optionally renaming on the way (`name NEW`). */
  netns?: string;
  rename?: string;
  mtu?: number;
  mac?: string;
  /** Enslave to a bridge; null releases it (`nomaster`). */
  master?: string | null;
  up?: boolean;
}

/** `link set dev NAME [netns NS] [name NEW] [mtu M] [address MAC] [master BR|nomaster] [up|down]`. */
export function linkSet(spec: LinkSetSpec): IpCommand {
  assertLinkName(spec.name);
  if (spec.netns !== undefined) assertNetnsName(spec.netns);
  if (spec.rename !== undefined) assertLinkName(spec.rename);
  if (spec.mtu !== undefined) assertMtu(spec.mtu);
  if (spec.mac !== undefined) assertMac(spec.mac);
  if (typeof spec.master === "string") assertLinkName(spec.master);
  const master =
    spec.master === undefined ? [] : spec.master === null ? ["nomaster"] : ["master", spec.master];
  const state = spec.up === undefined ? [] : [spec.up ? "up" : "down"];
  return [
    "link",
    "set",
    "dev",
    spec.name,
    ...opt(spec.netns, "netns", spec.netns ?? ""),
    ...opt(spec.rename, "name", spec.rename ?? ""),
    ...(spec.mtu === undefined ? [] : ["mtu", String(spec.mtu)]),
    ...opt(spec.mac, "address", spec.mac ?? ""),
    ...master,
    ...state,
  ];
}

/** `link del dev NAME` (deleting one end of a veth pair deletes both). */
export function linkDel(name: string): IpCommand {
  assertLinkName(name);
  return ["link", "del", "dev", name];
}

/** `link add NAME [mtu M] type bridge`. */
export function bridgeAdd(spec: { name: string; mtu?: number }): IpCommand {
  assertLinkName(spec.name);
  if (spec.mtu !== undefined) assertMtu(spec.mtu);
  return [
    "link",
    "add",
    spec.name,
    ...(spec.mtu === undefined ? [] : ["mtu", String(spec.mtu)]),
    "type",
    "bridge",
  ];
}

/** Bridge port: `link set dev DEV master BR`, then `link set dev DEV type bridge_slave hairpin on|off` if asked. */
export function bridgePort(spec: { dev: string; bridge: string; hairpin?: boolean }): IpCommand[] {
  const commands = [linkSet({ name: spec.dev, master: spec.bridge })];
  if (spec.hairpin !== undefined) commands.push(hairpin(spec.dev, spec.hairpin));
  return commands;
}

/** Hairpin mode on a bridge port (traffic may leave by the port it came in, as CNI's hairpinMode). */
export function hairpin(dev: string, on: boolean): IpCommand {
  assertLinkName(dev);
  return ["link", "set", "dev", dev, "type", "bridge_slave", "hairpin", on ? "on" : "off"];
}

/** `addr add CIDR dev DEV [nodad]`; `nodad` (IPv6 only) makes the address usable at once. */
export function addrAdd(spec: { dev: string; address: string; nodad?: boolean }): IpCommand {
  assertLinkName(spec.dev);
  const { family } = parseCidr(spec.address);
  return ["addr", "add", spec.address, "dev", spec.dev, ...(family === 6 && spec.nodad ? ["nodad"] : [])];
}

export interface RouteSpec {
  /** "default" (IPv4 or, with an IPv6 `via`, IPv6), "default6", or a CIDR / bare address (a host route). */
  to: string;
  via?: string;
  dev?: string;
  scope?: "link" | "host" | "global";
}

/** `route add DST [via GW] [dev DEV] [scope S]`. IPv6 default is spelled `::/0`. */
export function routeAdd(spec: RouteSpec): IpCommand {
  const viaFamily = spec.via === undefined ? undefined : assertIp(spec.via, "gateway");
  let to = spec.to;
  if (to === "default6" || (to === "default" && viaFamily === 6)) to = "::/0";
  else if (to !== "default") {
    if (to.includes("/")) parseCidr(to);
    else assertIp(to, "route destination");
  }
  if (spec.dev !== undefined) assertLinkName(spec.dev);
  return [
    "route",
    "add",
    to,
    ...opt(spec.via, "via", spec.via ?? ""),
    ...opt(spec.dev, "dev", spec.dev ?? ""),
    ...opt(spec.scope, "scope", spec.scope ?? ""),
  ];
}
