#!/usr/bin/env node
// N named namespaces wired to one bridge with strata (@strata/netns + @strata/veth, built dist).
// usage: node strata-net.mjs up|down|cycle|clean|check [N] [--parallel P]
//   up   : bridge sbbr0 (if missing), then per namespace: addNetns (unshare --net=FILE, lo up) and one
//          container plan (veth sbsh<i> -> eth0 in sbsns<i>, 10.252.x.y/16, bridge port, links up) applied as
//          `ip -batch -` on the host + `ip -n NS -batch -` inside = 3 spawns per namespace
//   down : removeContainerNetwork (1 `ip -batch`) + deleteNetns (umount -l, unlink) per namespace, then the bridge
//   --parallel P runs P namespaces at a time (default 1 = sequential, like the shell methods)
import { addNetns, deleteNetns, execInNetns, listNetns } from "@strata/netns";
import {
  applyBatch,
  applyNetworkPlan,
  bridgeAdd,
  findLink,
  linkDel,
  linkSet,
  planContainerNetwork,
  removeContainerNetwork,
  spawnIpRunner,
} from "@strata/veth";

const [phase = "cycle", nArg = "50"] = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const N = Number(nArg);
const pIndex = process.argv.indexOf("--parallel");
const PARALLEL = pIndex > 0 ? Number(process.argv[pIndex + 1]) : 1;
const BRIDGE = "sbbr0";
const ip = spawnIpRunner();
const ns = (i) => `sbsns${i}`;
const host = (i) => `sbsh${i}`;
const addr = (i) => `10.252.${Math.floor((i + 1) / 256)}.${(i + 1) % 256}`;

async function pool(fn) {
  let next = 1;
  const worker = async () => {
    while (next <= N) {
      const i = next++;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, PARALLEL) }, worker));
}

async function up() {
  if (!(await findLink(ip, BRIDGE)))
    await applyBatch(ip, [bridgeAdd({ name: BRIDGE }), linkSet({ name: BRIDGE, up: true })]);
  await pool(async (i) => {
    await addNetns(ns(i));
    await applyNetworkPlan(
      ip,
      planContainerNetwork({ netns: ns(i), hostName: host(i), bridge: BRIDGE, addresses: [`${addr(i)}/16`] }),
    );
  });
}

async function down() {
  await pool(async (i) => {
    await removeContainerNetwork(ip, host(i));
    await deleteNetns(ns(i));
  });
  await applyBatch(ip, [linkDel(BRIDGE)]);
}

async function clean() {
  for (let i = 1; i <= N; i++) if (await findLink(ip, host(i))) await removeContainerNetwork(ip, host(i));
  for (const entry of await listNetns()) if (/^sbsns\d+$/.test(entry.name)) await deleteNetns(entry.name);
  if (await findLink(ip, BRIDGE)) await applyBatch(ip, [linkDel(BRIDGE)]);
}

async function check() {
  const result = await execInNetns(ns(1), ["ping", "-c", "1", "-w", "5", addr(N)]);
  if (result.exitCode !== 0)
    throw new Error(`ping ${ns(1)} -> ${addr(N)} failed: ${result.stdout}${result.stderr}`);
  console.error(`ok: ${ns(1)} -> ${addr(N)} (${ns(N)}) reachable over ${BRIDGE}`);
}

const phases = {
  up,
  down,
  clean,
  check,
  cycle: async () => {
    await up();
    await down();
  },
};
if (!phases[phase]) {
  console.error("usage: strata-net.mjs up|down|cycle|clean|check [N] [--parallel P]");
  process.exit(2);
}
await phases[phase]();
