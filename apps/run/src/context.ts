import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ContainerRuntime, type ContainerRuntimeOptions, type NetworkAttacher } from "@strata/container";
import { ImageStore } from "@strata/image-store";
import { BridgeNetwork, type BridgeNetworkOptions, bridgeAttacher } from "@strata/network";

/** Global settings every container/network verb needs: flags first, then the environment. */
export interface Settings {
  root: string;
  /** Parent cgroup of every container (`STRATA_CGROUP_PARENT`, default `strata`). */
  cgroupParent?: string;
  /**
   * Bridge network knobs: `STRATA_BRIDGE`, `STRATA_SUBNET`, `STRATA_NETNS_PREFIX`, `STRATA_VETH_PREFIX`,
   * `STRATA_CHAIN_SUFFIX`, `STRATA_NETWORK_STATE_DIR`.
   */
  bridge: BridgeNetworkOptions;
}

export function settingsFrom(root: string, env: NodeJS.ProcessEnv): Settings {
  const bridge: BridgeNetworkOptions = {};
  if (env.STRATA_BRIDGE) bridge.bridge = env.STRATA_BRIDGE;
  if (env.STRATA_SUBNET) bridge.subnet = env.STRATA_SUBNET;
  if (env.STRATA_NETNS_PREFIX) bridge.netnsPrefix = env.STRATA_NETNS_PREFIX;
  if (env.STRATA_VETH_PREFIX) bridge.vethPrefix = env.STRATA_VETH_PREFIX;
  if (env.STRATA_CHAIN_SUFFIX) bridge.chainSuffix = env.STRATA_CHAIN_SUFFIX;
  // The lease file belongs to the bridge, not to a store: every store on one bridge must share it
  // (default /var/lib/strata/network/<bridge>); tests point it into their temp dir.
  if (env.STRATA_NETWORK_STATE_DIR) bridge.stateDir = env.STRATA_NETWORK_STATE_DIR;
  const settings: Settings = { root, bridge };
  if (env.STRATA_CGROUP_PARENT) settings.cgroupParent = env.STRATA_CGROUP_PARENT;
  return settings;
}

/** What a bridge run adds to the attacher request the container package sends (it sends id, name, mode). */
export interface BridgeExtras {
  hostname?: string;
  publish?: string[];
}

/**
 * The monitor command of detached containers when running from source: the same TS loader as this
 * CLI. From dist the container package's default (`dist/monitor.js`) applies.
 */
function monitorCommand(): string[] | undefined {
  const register = fileURLToPath(new URL("../bin/register.js", import.meta.url));
  const entry = fileURLToPath(import.meta.resolve("@strata/container"));
  if (!entry.endsWith(".ts") || !existsSync(register)) return undefined;
  return [process.execPath, "--import", register, join(dirname(entry), "monitor.ts")];
}

export interface Opened {
  store: ImageStore;
  runtime: ContainerRuntime;
  network: BridgeNetwork;
}

/** Opens the store, the container runtime on it (with the bridge attacher) and the bridge network. */
export async function openAll(settings: Settings, extras: BridgeExtras = {}): Promise<Opened> {
  let runtime: ContainerRuntime | undefined;
  const store = await ImageStore.open({
    root: settings.root,
    // rmi/prune must not delete what a container runs on
    imageInUse: async (id) => runtime?.imageInUse(id),
  });
  const network = new BridgeNetwork(settings.bridge);
  const base = bridgeAttacher(network);
  // One CLI process runs at most one container, so the run's -p/--hostname can ride on the attacher.
  const bridge: NetworkAttacher = {
    attach: (request) =>
      base.attach({
        ...request,
        ...(extras.hostname !== undefined ? { hostname: extras.hostname } : {}),
        ...(extras.publish?.length ? { publish: extras.publish } : {}),
      }),
    detach: (attachment) => base.detach(attachment),
  };
  const options: ContainerRuntimeOptions = { store, network: { attachers: { bridge } } };
  if (settings.cgroupParent) options.cgroupParent = settings.cgroupParent;
  const monitor = monitorCommand();
  if (monitor) options.monitorCommand = monitor;
  runtime = await ContainerRuntime.open(options);
  return { store, runtime, network };
}
