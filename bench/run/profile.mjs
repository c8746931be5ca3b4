// Phase timings of one warm `run --rm busybox /bin/true` (diagnostics for RESULTS.md).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { ImageStore } from "@strata/image-store";
import { pullImage } from "@strata/registry-pull";
import { buildImage, busyboxRootfs, pushImage, startRegistry } from "@strata/testkit";
import { ContainerRuntime } from "../../packages/container/dist/index.js";

const registry = await startRegistry();
let runtime;
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
  runtime = await ContainerRuntime.open({
    store,
    cgroupParent: "strata-bench-run",
    network: { defaultMode: "none", bridge: false },
  });
  const times = [];
  for (let i = 0; i < Number(process.env.STRATA_BENCH_N ?? 20); i++) {
    const t0 = performance.now();
    await runtime.run({ image: ref, rm: true, args: ["/bin/true"], stdio: "pipe" });
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log("median ms", times[times.length >> 1].toFixed(1), "min", times[0].toFixed(1));
} finally {
  await runtime?.gc();
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
}
