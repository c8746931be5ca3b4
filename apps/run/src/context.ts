import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ContainerRuntime, type ContainerRuntimeOptions } from "@strata/container";
import { ImageStore } from "@strata/image-store";
import { BridgeNetwork, type BridgeNetworkOptions } from "@strata/network";

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

/** Where the default store's bridges keep their lease files. */
export const DEFAULT_NETWORK_STATE = "/var/lib/strata/network";

export function settingsFrom(root: string, env: NodeJS.ProcessEnv): Settings {
  const bridge: BridgeNetworkOptions = {};
  if (env.STRATA_BRIDGE) bridge.bridge = env.STRATA_BRIDGE;
  if (env.STRATA_SUBNET) bridge.subnet = env.STRATA_SUBNET;
  if (env.STRATA_NETNS_PREFIX) bridge.netnsPrefix = env.STRATA_NETNS_PREFIX;
  if (env.STRATA_VETH_PREFIX) bridge.vethPrefix = env.STRATA_VETH_PREFIX;
  if (env.STRATA_CHAIN_SUFFIX) bridge.chainSuffix = env.STRATA_CHAIN_SUFFIX;
  // Default (unset): @strata/container's `<root>/network/<bridge>`, which for the default root is
  // /var/lib/strata/network/<bridge>. Stores with other roots sharing a bridge must point this at one
  // directory, or they would hand out the same addresses.
  if (env.STRATA_NETWORK_STATE_DIR) bridge.stateDir = env.STRATA_NETWORK_STATE_DIR;
  const settings: Settings = { root, bridge };
  if (env.STRATA_CGROUP_PARENT) settings.cgroupParent = env.STRATA_CGROUP_PARENT;
  return settings;
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
  /** The same bridge the runtime uses (for `network ls/inspect`); creating it has no side effects. */
  network: BridgeNetwork;
}

/** Opens the store, the container runtime on it (bridge networking built in) and the bridge. */
export async function openAll(settings: Settings): Promise<Opened> {
  let runtime: ContainerRuntime | undefined;
  const store = await ImageStore.open({
    root: settings.root,
    // rmi/prune must not delete what a container runs on
    imageInUse: async (id) => runtime?.imageInUse(id),
  });
  // options, not an instance: a detached container's monitor process rebuilds the bridge from them
  const options: ContainerRuntimeOptions = { store, network: { bridge: settings.bridge } };
  if (settings.cgroupParent) options.cgroupParent = settings.cgroupParent;
  const monitor = monitorCommand();
  if (monitor) options.monitorCommand = monitor;
  runtime = await ContainerRuntime.open(options);
  const network = new BridgeNetwork({
    ...settings.bridge,
    stateDir: settings.bridge.stateDir ?? join(settings.root, "network", settings.bridge.bridge ?? "strata0"),
  });
  return { store, runtime, network };
}
