/**
 * The sandbox a walk-through runs in: a temp store root, a local registry with a busybox image, a
 * `strata` shim on PATH, strata's names/bridge/cgroup parent moved out of the way of a real
 * installation, and the clean-up that removes all of it.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BridgeNetwork } from "@strata/network";
import {
  buildImage,
  busyboxRootfs,
  freePort,
  pushImage,
  type RegistryHandle,
  startRegistry,
} from "@strata/testkit";
import type { Variable } from "./walkthrough.js";

/** Every kernel object and temp dir of a walk-through carries this (leak checks look for it). */
export const PREFIX = "strata-test-guide";
/** Interface names (≤ 15 chars): the bridge, the host veths strata makes, the hand-made veth. */
export const BRIDGE = "stguide0";
export const SUBNET = "10.123.0.0/24";
export const VETH_PREFIX = "stgd";
export const MANUAL_VETH = "stguideblue";
export const CHAIN_SUFFIX = "-GUIDE";

/** What the document shows instead of the run's test-only values. */
export const SHOWN = {
  root: "/var/lib/strata",
  registry: "127.0.0.1:55000",
  webPort: "8080",
  hostPort: "9090",
} as const;

export interface Environment {
  dir: string;
  root: string;
  registry: RegistryHandle;
  env: NodeJS.ProcessEnv;
  variables: Record<string, Variable>;
  /** Fixed real → shown replacements for the normaliser. */
  replacements: [string, string][];
  network: BridgeNetwork;
  ipForward: string | undefined;
}

const STRATA_BIN = fileURLToPath(new URL("../../../apps/run/bin/strata.js", import.meta.url));

export async function prepare(): Promise<Environment> {
  const dir = await mkdtemp(join(tmpdir(), `${PREFIX}-`));
  const ipForward =
    (await readFile("/proc/sys/net/ipv4/ip_forward", "utf8").catch(() => "")).trim() || undefined;
  let registry: RegistryHandle | undefined;
  try {
    const root = join(dir, "root");
    const bin = join(dir, "bin");
    await mkdir(bin);
    // `strata` in the document is this shim: the CLI from the checkout, run from source
    await writeFile(join(bin, "strata"), `#!/bin/sh\nexec "${process.execPath}" "${STRATA_BIN}" "$@"\n`);
    await chmod(join(bin, "strata"), 0o755);

    registry = await startRegistry({ tempPrefix: `${PREFIX}-registry-` });
    const image = buildImage({
      layers: [await busyboxRootfs()],
      config: { Cmd: ["sh"] },
      // no creation time: `strata images` would show "N months ago", which changes with the calendar
      mutateConfig: (config) => {
        delete config.created;
        for (const h of (config.history as { created?: string }[] | undefined) ?? []) delete h.created;
      },
    });
    await pushImage(registry, "library/busybox", "latest", image);

    const stateDir = join(dir, "network");
    const env: NodeJS.ProcessEnv = {
      PATH: `${bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOME: dir,
      LANG: "C.UTF-8",
      TERM: "dumb",
      STRATA_ROOT: root,
      STRATA_CGROUP_PARENT: PREFIX,
      STRATA_BRIDGE: BRIDGE,
      STRATA_SUBNET: SUBNET,
      STRATA_NETNS_PREFIX: `${PREFIX}-`,
      STRATA_VETH_PREFIX: VETH_PREFIX,
      STRATA_CHAIN_SUFFIX: CHAIN_SUFFIX,
      STRATA_NETWORK_STATE_DIR: stateDir,
    };
    const webPort = String(await freePort());
    const hostPort = String(await freePort());
    const v = (real: string, shown: string): Variable => ({ real, shown });
    const variables: Record<string, Variable> = {
      ROOT: v(root, SHOWN.root),
      REGISTRY: v(registry.host, SHOWN.registry),
      IMAGE: v(`${registry.host}/library/busybox:latest`, `${SHOWN.registry}/library/busybox:latest`),
      CGROUP: v(`/sys/fs/cgroup/pids/${PREFIX}`, "/sys/fs/cgroup/pids/strata"),
      NS_BLUE: v(`${PREFIX}-ns-blue`, "blue"),
      NS_POD: v(`${PREFIX}-ns-pod`, "pod"),
      VETH_BLUE: v(MANUAL_VETH, MANUAL_VETH),
      BRIDGE: v(BRIDGE, BRIDGE),
      SUBNET: v(SUBNET, SUBNET),
      WEB_PORT: v(webPort, SHOWN.webPort),
      HOST_PORT: v(hostPort, SHOWN.hostPort),
      WWW: v(join(dir, "www"), "/tmp/www"),
      DNAT_CHAIN: v(`STRATA-DNAT${CHAIN_SUFFIX}`, "STRATA-DNAT"),
    };
    const replacements: [string, string][] = [
      [root, SHOWN.root],
      [registry.host, SHOWN.registry],
      [join(dir, "www"), "/tmp/www"],
      [`${PREFIX}-ns-`, ""],
      [`/${PREFIX}/`, "/strata/"],
      // container netns names: strata-test-guide-<12 hex> → strata-<12 hex>
      [`${PREFIX}-`, "strata-"],
      [`:${webPort}`, `:${SHOWN.webPort}`],
      [`:${hostPort}`, `:${SHOWN.hostPort}`],
      [`${webPort}/tcp`, `${SHOWN.webPort}/tcp`],
      [`--dport ${webPort}`, `--dport ${SHOWN.webPort}`],
      // strata's iptables chains carry the test suffix
      [`${CHAIN_SUFFIX} `, " "],
      [`${CHAIN_SUFFIX}\n`, "\n"],
      [dir, "/tmp"],
    ];
    const network = new BridgeNetwork({
      bridge: BRIDGE,
      subnet: SUBNET,
      stateDir,
      netnsPrefix: `${PREFIX}-`,
      vethPrefix: VETH_PREFIX,
      chainSuffix: CHAIN_SUFFIX,
    });
    return { dir, root, registry, env, variables, replacements, network, ipForward };
  } catch (e) {
    await registry?.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Removes everything a (possibly failed) walk-through left: containers, named namespaces, the
 * hand-made veth, strata's leftovers (`strata gc`), the bridge and its iptables chains, the store,
 * the registry; puts ip_forward back.
 */
export async function cleanup(envt: Environment): Promise<string[]> {
  const problems: string[] = [];
  const sh = async (command: string) => {
    const { spawnSync } = await import("node:child_process");
    const r = spawnSync("bash", ["-c", command], { env: envt.env, encoding: "utf8", timeout: 60_000 });
    return { status: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
  };
  const ids = (await sh("strata ps -aq --no-trunc")).out.split(/\s+/).filter((s) => /^[0-9a-f]{64}$/.test(s));
  if (ids.length > 0) {
    const r = await sh(`strata rm -f ${ids.join(" ")}`);
    if (r.status !== 0) problems.push(`strata rm -f: ${r.out}`);
  }
  for (const ns of [`${PREFIX}-ns-blue`, `${PREFIX}-ns-pod`]) await sh(`ip netns del ${ns} 2>/dev/null`);
  await sh(`ip link del ${MANUAL_VETH} 2>/dev/null`);
  const gc = await sh("strata gc");
  if (gc.status !== 0) problems.push(`strata gc: ${gc.out}`);
  try {
    await envt.network.gc();
    await envt.network.destroy();
  } catch (e) {
    problems.push(`bridge: ${(e as Error).message}`);
  }
  await sh(`rmdir /sys/fs/cgroup/*/${PREFIX} 2>/dev/null`);
  if (envt.ipForward !== undefined) {
    await writeFile("/proc/sys/net/ipv4/ip_forward", envt.ipForward).catch((e: Error) =>
      problems.push(e.message),
    );
  }
  await envt.registry.stop().catch((e: Error) => problems.push(`registry: ${e.message}`));
  await rm(envt.dir, { recursive: true, force: true }).catch((e: Error) => problems.push(`rm: ${e.message}`));
  return problems;
}
