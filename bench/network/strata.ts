// N containers' networks with @strata/network: bridge sbnbr0, 10.253.0.0/24, a netns + veth each, gateway
// route, masquerade in strata's chains (suffix -BENCH). Bundled by build.mjs, run by run.sh.
// usage: node strata.mjs up|down|cycle|clean|check N --state DIR [--parallel P] [--publish]
import { BridgeNetwork } from "../../packages/network/src/index.js";

const args = process.argv.slice(2);
const flags: Record<string, string> = {};
const positional: string[] = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i] as string;
  if (a === "--parallel" || a === "--state") flags[a] = args[++i] ?? "";
  else if (a.startsWith("--")) flags[a] = "true";
  else positional.push(a);
}
const [phase = "cycle", nArg = "50"] = positional;
const N = Number(nArg);
const PARALLEL = Number(flags["--parallel"] ?? 1);
const PUBLISH = flags["--publish"] === "true";
const network = new BridgeNetwork({
  bridge: "sbnbr0",
  subnet: "10.253.0.0/24",
  stateDir: flags["--state"] ?? "/tmp/strata-bench-network/state",
  chainSuffix: "-BENCH",
  vethPrefix: "sbn",
  netnsPrefix: "sbn-",
});
const id = (i: number) => `c${i}`;

async function pool(fn: (i: number) => Promise<unknown>) {
  let next = 1;
  const worker = async () => {
    while (next <= N) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, PARALLEL) }, worker));
}

async function up() {
  await pool((i) =>
    network.attach({ containerId: id(i), ...(PUBLISH ? { publish: [`${40000 + i}:80`] } : {}) }),
  );
}
async function down() {
  await pool((i) => network.detach(id(i)));
  await network.destroy();
}
async function clean() {
  await network.gc({ isAlive: () => false });
  await network.destroy();
}
async function check() {
  const { execFileSync } = await import("node:child_process");
  const leases = await network.leases();
  const last = leases.find((l) => l.owner === id(N));
  if (!last) throw new Error(`no lease for ${id(N)}`);
  execFileSync("ip", ["netns", "exec", `sbn-${id(1)}`, "ping", "-c", "1", "-W", "2", last.address]);
  console.error(`ok: sbn-${id(1)} -> ${last.address} (sbn-${id(N)}) reachable over sbnbr0`);
}

const phases: Record<string, () => Promise<void>> = {
  up,
  down,
  clean,
  check,
  cycle: async () => {
    await up();
    await down();
  },
};
const fn = phases[phase];
if (!fn) {
  console.error("usage: strata.mjs up|down|cycle|clean|check N [--parallel P] [--publish]");
  process.exit(2);
}
await fn();
