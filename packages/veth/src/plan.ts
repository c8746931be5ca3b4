import { addrAdd, bridgePort, type IpCommand, linkDel, linkSet, routeAdd, vethAdd } from "./commands.js";
import { VethError } from "./errors.js";
import { applyBatch, batchInvocation } from "./exec.js";
import type { IpRunner } from "./runner.js";
import { assertIp, assertLinkName, assertNetnsName, MAX_LINK_NAME, parseCidr } from "./validate.js";

/** One container's network: a veth pair from the host (or a bridge) into a named namespace. */
export interface ContainerNetwork {
  /** Named namespace under /run/netns (made by @strata/netns or `ip netns add`). */
  netns: string;
  /** Host end of the pair. */
  hostName: string;
  /** Name of the other end before it moves (default `hostName + "p"`; give one when hostName has 15 bytes). */
  peerName?: string;
  /** Name inside the namespace (default "eth0"). */
  ifname?: string;
  mtu?: number;
  /** MAC of the namespace end. */
  mac?: string;
  /** CIDRs on the namespace end, IPv4 and/or IPv6. */
  addresses?: string[];
  /** CIDRs on the host end (routed set-ups without a bridge). */
  hostAddresses?: string[];
  /** Attach the host end to this bridge (which must exist). */
  bridge?: string;
  /** Hairpin mode on the bridge port. */
  hairpin?: boolean;
  /** Default route via this IPv4 gateway. */
  gateway?: string;
  /** Default route via this IPv6 gateway. */
  gateway6?: string;
  /**
   * The guide's point-to-point routing: in the namespace a /32 (/128) link route to each gateway
   * before the default route, and on the host a /32 (/128) route to each namespace address via the host end.
   */
  pointToPoint?: boolean;
  /** Add IPv6 addresses with `nodad` so they are usable at once (default true). */
  nodad?: boolean;
}

/** What applying a ContainerNetwork runs: one batch in the host namespace, one inside the namespace. */
export interface NetworkPlan {
  netns: string;
  host: IpCommand[];
  container: IpCommand[];
}

const hostPrefix = (address: string) =>
  parseCidr(`${address}/0`).family === 4 ? `${address}/32` : `${address}/128`;

/** Builds (and validates) the commands for one container's network. Pure: nothing runs. */
export function planContainerNetwork(net: ContainerNetwork): NetworkPlan {
  assertNetnsName(net.netns);
  assertLinkName(net.hostName);
  const ifname = net.ifname ?? "eth0";
  assertLinkName(ifname);
  const peer = net.peerName ?? `${net.hostName}p`;
  if (net.peerName === undefined && Buffer.byteLength(peer) > MAX_LINK_NAME) {
    throw new VethError(
      "INVALID_PLAN",
      `host interface name "${net.hostName}" leaves no room for the default peer name "${peer}" (over ${MAX_LINK_NAME} bytes): pass peerName`,
    );
  }
  const addresses = (net.addresses ?? []).map(parseCidr);
  const hostAddresses = (net.hostAddresses ?? []).map(parseCidr);
  if (net.gateway !== undefined && assertIp(net.gateway, "gateway") !== 4) {
    throw new VethError("INVALID_ADDRESS", `gateway ${net.gateway} is not IPv4; pass it as gateway6`);
  }
  if (net.gateway6 !== undefined && assertIp(net.gateway6, "gateway6") !== 6) {
    throw new VethError("INVALID_ADDRESS", `gateway6 ${net.gateway6} is not IPv6; pass it as gateway`);
  }
  const nodad = net.nodad ?? true;

  const host: IpCommand[] = [
    vethAdd({
      name: net.hostName,
      peer,
      ...(net.mtu === undefined ? {} : { mtu: net.mtu }),
      ...(net.mac ? { peerMac: net.mac } : {}),
    }),
    linkSet({ name: peer, netns: net.netns, rename: ifname }),
  ];
  if (net.bridge !== undefined) {
    host.push(
      ...bridgePort({
        dev: net.hostName,
        bridge: net.bridge,
        ...(net.hairpin === undefined ? {} : { hairpin: net.hairpin }),
      }),
    );
  } else if (net.hairpin !== undefined) {
    throw new VethError("INVALID_PLAN", "hairpin applies to a bridge port: set bridge as well");
  }
  for (const a of hostAddresses)
    host.push(addrAdd({ dev: net.hostName, address: `${a.address}/${a.prefix}`, nodad }));
  host.push(linkSet({ name: net.hostName, up: true }));
  if (net.pointToPoint) {
    for (const a of addresses)
      host.push(routeAdd({ to: hostPrefix(a.address), dev: net.hostName, scope: "link" }));
  }

  const container: IpCommand[] = [linkSet({ name: "lo", up: true })];
  for (const a of addresses)
    container.push(addrAdd({ dev: ifname, address: `${a.address}/${a.prefix}`, nodad }));
  container.push(linkSet({ name: ifname, up: true }));
  for (const gw of [net.gateway, net.gateway6]) {
    if (gw === undefined) continue;
    if (net.pointToPoint) container.push(routeAdd({ to: hostPrefix(gw), dev: ifname, scope: "link" }));
    container.push(routeAdd({ to: "default", via: gw, dev: ifname }));
  }
  return { netns: net.netns, host, container };
}

/** Applies a plan: `ip -batch -` on the host side, then `ip -n NS -batch -` (a batch line cannot switch namespace). */
export async function applyNetworkPlan(runner: IpRunner, plan: NetworkPlan): Promise<void> {
  await applyBatch(runner, plan.host);
  await applyBatch(runner, plan.container, { netns: plan.netns });
}

/** Removes a container's veth pair (deleting the host end deletes the namespace end too). */
export async function removeContainerNetwork(runner: IpRunner, hostName: string): Promise<void> {
  await applyBatch(runner, [linkDel(hostName)]);
}

/** The plan as shell commands, the way the guide types them (for `--explain`). */
export function explainPlan(plan: NetworkPlan): string[] {
  return [
    ...plan.host.map((c) => `ip ${c.join(" ")}`),
    ...plan.container.map((c) => `ip -n ${plan.netns} ${c.join(" ")}`),
  ];
}

/** The exact spawns applyNetworkPlan makes, for logs and tests. */
export function planInvocations(plan: NetworkPlan): { args: string[]; input: string }[] {
  return [batchInvocation(plan.host), batchInvocation(plan.container, plan.netns)];
}
