// Phase timings of warm `run --rm busybox /bin/true` from one Node process (diagnostics for RESULTS.md).
//   node bench/run/profile.mjs                 (as root; the packages' dist must be built)
// STRATA_BENCH_N runs per block (default 20), STRATA_BENCH_BLOCKS blocks per variant (default 3).
// Variants alternate block by block, so load hits them alike; within a block the runs are back to
// back (a tight loop: no idle time in which a pre-spawned helper could get ready for free):
//   "spawn"     launch's pre-spawned helper off (`STRATA_LAUNCH_PRESPAWN=0`): a helper is spawned per run;
//   "prespawn"  the default (the next helper is spawned while the current container starts).
// STRATA_BENCH_VARIANTS=spawn,prespawn picks them. Per phase: the median of the runtime's trace
// steps, plus "launch" (launch() until PID 1 exec'd: spawn + helper) and "wait" (until it exited).
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { ImageStore } from "@strata/image-store";
import { pullImage } from "@strata/registry-pull";
import { buildImage, busyboxRootfs, pushImage, startRegistry } from "@strata/testkit";
import { ContainerRuntime, Trace } from "../../packages/container/dist/index.js";
import { launch } from "../../packages/launch/dist/index.js";

const N = Number(process.env.STRATA_BENCH_N ?? 20);
const BLOCKS = Number(process.env.STRATA_BENCH_BLOCKS ?? 3);
const VARIANTS = (process.env.STRATA_BENCH_VARIANTS ?? "spawn,prespawn").split(",").filter(Boolean);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const registry = await startRegistry();
const runtimes = [];
const dir = await mkdtemp(join(process.env.STRATA_BENCH_DIR ?? tmpdir(), "strata-bench-run-"));
try {
  await pushImage(
    registry,
    "bench/busybox",
    "latest",
    buildImage({ layers: [await busyboxRootfs()], config: { Cmd: ["/bin/sh"] } }),
  );
  const store = await ImageStore.open({ root: join(dir, "root") });
  const ref = `${registry.host}/bench/busybox:latest`;
  await pullImage(ref, store.createSink());
  // per run: when launch() resolved and when wait() did, relative to launch()'s call
  let phases = {};
  const launcher = async (spec, options) => {
    const t0 = performance.now();
    const proc = await launch(spec, options);
    phases.launch = performance.now() - t0;
    const wait = proc.wait();
    void wait.then(() => {
      phases.wait = performance.now() - t0 - phases.launch;
    });
    return { ...proc, pid: proc.pid, wait: () => wait };
  };
  const open = () =>
    ContainerRuntime.open({
      store,
      cgroupParent: "strata-bench-run",
      network: { defaultMode: "none", bridge: false },
      launcher,
    });
  const rows = Object.fromEntries(VARIANTS.map((v) => [v, { total: [], phases: {} }]));
  const setVariant = (v) => {
    if (v === "spawn") process.env.STRATA_LAUNCH_PRESPAWN = "0";
    else delete process.env.STRATA_LAUNCH_PRESPAWN;
  };
  const load = [loadavg()[0]];
  for (let block = -1; block < BLOCKS; block++) {
    for (const variant of VARIANTS) {
      setVariant(variant);
      const runtime = await open();
      runtimes.push(runtime);
      for (let i = 0; i < N; i++) {
        const trace = new Trace();
        phases = {};
        const t0 = performance.now();
        await runtime.run({ image: ref, rm: true, args: ["/bin/true"], stdio: "pipe", trace });
        const total = performance.now() - t0;
        if (block < 0) continue; // warm-up block
        const row = rows[variant];
        row.total.push(total);
        const add = (k, v) => {
          row.phases[k] = [...(row.phases[k] ?? []), v];
        };
        for (const e of trace.entries) add(e.step, e.durationMs);
        for (const [k, v] of Object.entries(phases)) add(k, v);
      }
    }
    load.push(loadavg()[0]);
  }
  const out = {
    date: new Date().toISOString(),
    runsPerVariant: N * BLOCKS,
    loadavg1: load.map((l) => l.toFixed(2)).join(" "),
  };
  for (const [variant, row] of Object.entries(rows)) {
    out[variant] = {
      medianMs: Number(median(row.total).toFixed(1)),
      minMs: Number(Math.min(...row.total).toFixed(1)),
      phaseMedianMs: Object.fromEntries(
        Object.entries(row.phases).map(([k, v]) => [k, Number(median(v).toFixed(1))]),
      ),
    };
  }
  console.log(JSON.stringify(out, null, 2));
} finally {
  for (const runtime of runtimes) await runtime.gc().catch(() => undefined);
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
}
