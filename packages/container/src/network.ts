import { stat } from "node:fs/promises";
import { join } from "node:path";
import type { BridgeNetwork, BridgeNetworkOptions } from "@strata/network";
import { ContainerError } from "./errors.js";

/**
 * `none`: a fresh network namespace with only loopback. `host`: the caller's network namespace.
 * `ns:NAME`: join the existing named namespace `<netnsRoot>/NAME` (as `ip netns add` makes).
 * Any other name goes to a registered {@link NetworkAttacher} (bridge networking plugs in there).
 */
export type NetworkMode = string;

/** What the container got; stored in state.json so that `gc` can undo it after a crash. */
export interface NetworkAttachment {
  mode: NetworkMode;
  /** Namespace file the container joins; absent: a new, empty namespace. */
  netns?: string;
  /** Attacher-specific data needed by `detach` (leases, interface names); must be JSON. */
  data?: Record<string, unknown>;
  /** Extra `/etc/hosts` lines for the container (e.g. its address and name on a bridge). */
  hosts?: string[];
}

/** What an attacher is asked for. `hostname`, `publish` and `pid` are optional extensions. */
export interface NetworkAttachRequest {
  containerId: string;
  name: string;
  mode: NetworkMode;
  /** The container's hostname (for its /etc/hosts line). */
  hostname?: string;
  /** `-p [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]` specs. */
  publish?: readonly string[];
  /** The process that owns the container (the run or the detached monitor): gc frees the network when it is gone. */
  pid?: number;
}

/**
 * The seam for networks strata creates itself (bridge + veth + IPAM). `attach` runs before launch and
 * must return the namespace the container joins; `detach` must be idempotent: `gc` calls it again
 * for containers whose owner crashed.
 */
export interface NetworkAttacher {
  attach(request: NetworkAttachRequest): Promise<NetworkAttachment>;
  detach(attachment: NetworkAttachment): Promise<void>;
}

/** The built-in bridge's options that a detached monitor process can be given (no functions). */
export type PortableBridgeOptions = Omit<BridgeNetworkOptions, "ip" | "iptables" | "sysctl" | "onCommand">;

export interface NetworkOptions {
  /** Where named namespaces live (default `/run/netns`). */
  netnsRoot?: string;
  /** Attachers by mode name, e.g. `{ bridge: … }`. An attacher named `bridge` replaces the built-in bridge. */
  attachers?: Record<string, NetworkAttacher>;
  /** The mode of a run without `network` (default `bridge`, as Docker). */
  defaultMode?: NetworkMode;
  /**
   * The built-in `bridge` mode (@strata/network): options of its `BridgeNetwork` (default: `strata0`,
   * `10.77.0.0/16`, state in `<store root>/network/<bridge>`), a ready `BridgeNetwork` (detached runs then
   * need options instead: the monitor process rebuilds the network from them), or `false` for no
   * built-in bridge (`network: "bridge"` is then NETWORK_UNSUPPORTED unless an attacher provides it).
   */
  bridge?: BridgeNetworkOptions | BridgeNetwork | false;
}

const NS_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

/** Validates a mode before anything is created. */
export function checkNetworkMode(mode: NetworkMode, options: NetworkOptions = {}): void {
  if (mode === "none" || mode === "host") return;
  if (mode.startsWith("ns:")) {
    const name = mode.slice(3);
    if (!NS_NAME.test(name)) {
      throw new ContainerError(
        "INVALID_OPTION",
        `network '${mode}': '${name}' is not a namespace name (letters, digits, '_', '.', '-')`,
      );
    }
    return;
  }
  if (options.attachers?.[mode] === undefined) {
    throw new ContainerError(
      "NETWORK_UNSUPPORTED",
      `network '${mode}' is not available: use none, host or ns:NAME (an existing 'ip netns' namespace)`,
    );
  }
}

export async function attachNetwork(
  request: NetworkAttachRequest,
  options: NetworkOptions = {},
): Promise<NetworkAttachment> {
  const { mode } = request;
  checkNetworkMode(mode, options);
  if (mode === "none") return { mode };
  if (mode === "host") return { mode, netns: `/proc/${process.pid}/ns/net` };
  if (mode.startsWith("ns:")) {
    const path = join(options.netnsRoot ?? "/run/netns", mode.slice(3));
    const exists = await stat(path).then(
      () => true,
      () => false,
    );
    if (!exists) {
      throw new ContainerError(
        "NETNS_NOT_FOUND",
        `network namespace ${path} does not exist: create it with 'ip netns add ${mode.slice(3)}' first`,
      );
    }
    return { mode, netns: path };
  }
  const attacher = options.attachers?.[mode];
  if (!attacher) throw new ContainerError("NETWORK_UNSUPPORTED", `network '${mode}' has no attacher`);
  return attacher.attach(request);
}

/** Undoes `attachNetwork`. none/host/ns:NAME own nothing: the named namespace belongs to its creator. */
export async function detachNetwork(
  attachment: NetworkAttachment,
  options: NetworkOptions = {},
): Promise<void> {
  const { mode } = attachment;
  if (mode === "none" || mode === "host" || mode.startsWith("ns:")) return;
  const attacher = options.attachers?.[mode];
  if (!attacher) {
    throw new ContainerError(
      "NETWORK_UNSUPPORTED",
      `cannot detach network '${mode}': no attacher for it is registered (open the runtime with the same attachers)`,
    );
  }
  await attacher.detach(attachment);
}
