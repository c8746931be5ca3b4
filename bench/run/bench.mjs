#!/usr/bin/env node
// Warm `run --rm busybox /bin/true`: the @strata/container library (one Node process, no start-up per
// run) vs `crun run` of an OCI bundle of the same image and spec vs `podman run --rm`, interleaved
// round by round so machine load hits all three alike. Prints medians and ratios and writes
// results.json next to this file. Run through bench.sh (root, private mount namespace for crun).
import { execFileSync, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { ImageStore } from "@strata/image-store";
import { buildLaunchSpec, writeOciBundle } from "@strata/launch";
import { spawnMounter } from "@strata/overlay-mount";
import { pullImage } from "@strata/registry-pull";
import { buildImage, busyboxRootfs, pushImage, startRegistry } from "@strata/testkit";
import { ContainerRuntime } from "../../packages/container/dist/index.js";

const ROUNDS = Number(process.env.STRATA_BENCH_ROUNDS ?? 30);
const WARMUP = Number(process.env.STRATA_BENCH_WARMUP ?? 3);
const base = process.env.STRATA_BENCH_DIR ?? tmpdir();

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (b) => (err += b));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(" ")} → ${code}: ${err}`)),
    );
  });
}

async function time(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const dir = await mkdtemp(join(base, "strata-bench-run-"));
const registry = await startRegistry();
let runtime;
let hostMountRuntime;
const bundleRoot = join(dir, "bundle", "rootfs");
let mounted = false;
const podman = [
  // podman limits the runroot path to 50 characters: keep these short
  "--root",
  join(dir, "pr"),
  "--runroot",
  join(base, `prun-${process.pid}`),
  "--tmpdir",
  join(dir, "ptmp"),
  "--storage-driver",
  "overlay",
  "--cgroup-manager",
  "cgroupfs",
  "--events-backend",
  "file",
];
try {
  await pushImage(
    registry,
    "bench/busybox",
    "latest",
    buildImage({ layers: [await busyboxRootfs()], config: { Cmd: ["/bin/sh"] } }),
  );
  const ref = `${registry.host}/bench/busybox:latest`;
  const store = await ImageStore.open({ root: join(dir, "store") });
  await pullImage(ref, store.createSink());
  // network none, as the crun bundle and podman --network none (the default bridge would add a veth)
  const network = { defaultMode: "none", bridge: false };
  runtime = await ContainerRuntime.open({ store, cgroupParent: "strata-bench-run", network });
  // "before": the overlay mounted on the host by util-linux mount/umount (what every run did until the
  // launch helper mounted it itself); an injected mounter keeps that path
  hostMountRuntime = await ContainerRuntime.open({
    store,
    cgroupParent: "strata-bench-run",
    network,
    mounter: spawnMounter(),
  });
  const image = await store.get(ref);

  // crun: the same image (its one layer, bind-mounted read-only: overlayfs needs an upper dir or two
  // lower dirs) and the same spec the library builds
  await mkdir(bundleRoot, { recursive: true });
  execFileSync("mount", ["--bind", "-o", "ro", image.layers[0].diffDir, bundleRoot]);
  mounted = true;
  await writeFile(join(dir, "empty"), "");
  for (const f of ["hosts", "hostname", "resolv.conf"]) await writeFile(join(dir, f), "");
  const spec = buildLaunchSpec(image.config.value.config ?? {}, {
    rootfs: bundleRoot,
    args: ["/bin/true"],
    readonlyRootfs: true,
    hostsFile: join(dir, "hosts"),
    hostnameFile: join(dir, "hostname"),
    resolvConfFile: join(dir, "resolv.conf"),
  });
  await writeOciBundle(spec, join(dir, "bundle"));
  const crunState = join(dir, "crun-state");
  let n = 0;

  // podman: its own storage on the same scratch dir, image pulled from the same registry
  await run("podman", [...podman, "pull", "-q", "--tls-verify=false", ref]);
  const podmanRun = [
    ...podman,
    "run",
    "--rm",
    "--pull",
    "never",
    "--network",
    "none",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=32768:32768",
    ref,
    "/bin/true",
  ];

  const contenders = {
    "strata library": () => runtime.run({ image: ref, rm: true, args: ["/bin/true"], stdio: "pipe" }),
    "strata library, host mount (before)": () =>
      hostMountRuntime.run({ image: ref, rm: true, args: ["/bin/true"], stdio: "pipe" }),
    "crun run": () =>
      run("crun", [
        "--root",
        crunState,
        "run",
        "--bundle",
        join(dir, "bundle"),
        `strata-bench-${process.pid}-${n++}`,
      ]),
    "podman run --rm": () => run("podman", podmanRun),
  };
  const times = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
  for (let round = -WARMUP; round < ROUNDS; round++) {
    for (const [name, fn] of Object.entries(contenders)) {
      const ms = await time(fn);
      if (round >= 0) times[name].push(ms);
    }
  }
  const medians = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  const lib = medians["strata library"];
  const result = {
    date: new Date().toISOString(),
    rounds: ROUNDS,
    loadavg: execFileSync("cat", ["/proc/loadavg"]).toString().trim(),
    medianMs: medians,
    minMs: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Math.min(...v)])),
    ratios: {
      "library / podman": lib / medians["podman run --rm"],
      "library / crun": lib / medians["crun run"],
      "library host mount (before) / crun":
        medians["strata library, host mount (before)"] / medians["crun run"],
    },
  };
  console.log(JSON.stringify(result, null, 2));
  await writeFile(
    new URL("./results.json", import.meta.url),
    `${JSON.stringify({ ...result, times }, null, 2)}\n`,
  );
} finally {
  await runtime?.gc().catch((e) => console.error("gc:", e));
  if (mounted) execFileSync("umount", ["-l", bundleRoot]);
  await run("podman", [...podman, "rm", "-a", "-f"]).catch(() => undefined);
  // podman's overlay driver mounts its home: unmount everything under the scratch dir, deepest first
  const mounts = execFileSync("findmnt", ["-rn", "-o", "TARGET"])
    .toString()
    .split("\n")
    .filter((m) => m.startsWith(`${dir}/`) || m.startsWith(join(base, `prun-${process.pid}/`)));
  for (const m of mounts.sort().reverse()) await run("umount", ["-l", m]).catch(() => undefined);
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
  await rm(join(base, `prun-${process.pid}`), { recursive: true, force: true });
}
