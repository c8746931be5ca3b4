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
import { buildLaunchSpec, launch, writeOciBundle } from "@strata/launch";
import { pullImage } from "@strata/registry-pull";
import { buildImage, busyboxRootfs, pushImage, startRegistry } from "@strata/testkit";
import { ContainerRuntime } from "../../packages/container/dist/index.js";
import { freshBundle } from "./fresh-bundle.mjs";

// the strata CLI as a user runs it: `node apps/run/bin/strata.js run --rm ...`, one Node start per run.
// "bundle" is the fresh build/cli bundle (bin/strata.js refuses a stale one: the bench checks below),
// "source" the no-build development path (TypeScript loader), STRATA_FROM_SOURCE=1.
const STRATA_BIN = new URL("../../apps/run/bin/strata.js", import.meta.url).pathname;
const CLI_MODES = (process.env.STRATA_BENCH_CLI ?? "bundle,source").split(",").filter(Boolean);
/**
 * The bundle rows must never time the source path (bin/strata.js falls back to it when a source is
 * edited while the bench runs, as happens in a shared checkout): when the bundle is stale, bundle
 * the current sources again (`apps/run/scripts/bundle.mjs`, what `npm run build` runs) and say so.
 */
let rebuilds = 0;
function ensureFreshBundle() {
  if (freshBundle()) return true;
  execFileSync(process.execPath, [new URL("../../apps/run/scripts/bundle.mjs", import.meta.url).pathname], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  rebuilds++;
  if (!freshBundle()) throw new Error("apps/run/build/cli stays stale: sources keep changing, rerun later");
  return false;
}

/**
 * The launch helper of git revision `rev` (STRATA_BENCH_BEFORE, default 5ddb32d: before the
 * pre-spawned helper and the `tasks` cgroup join), compiled like node-gyp does, for the "before" row.
 */
const BEFORE_REV = process.env.STRATA_BENCH_BEFORE ?? "5ddb32d";
function buildHelperAt(rev, out) {
  const root = new URL("../../", import.meta.url).pathname;
  const source = execFileSync("git", ["-C", root, "show", `${rev}:packages/launch/native/helper.c`]);
  execFileSync("cc", ["-O3", "-pthread", "-x", "c", "-", "-o", out], { input: source });
  return out;
}

const ROUNDS = Number(process.env.STRATA_BENCH_ROUNDS ?? 30);
const WARMUP = Number(process.env.STRATA_BENCH_WARMUP ?? 3);
const base = process.env.STRATA_BENCH_DIR ?? tmpdir();

function run(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const opts = { stdio: ["ignore", "ignore", "pipe"] };
    if (env) opts.env = { ...process.env, ...env };
    const child = spawn(cmd, args, opts);
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
let beforeRuntime;
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
  // "before": the launch helper as it was before the pre-spawned helper and the `tasks` cgroup join
  // (BEFORE_REV's helper.c, compiled here; a helper spawned per run, joining through cgroup.procs)
  beforeRuntime = await ContainerRuntime.open({
    store,
    cgroupParent: "strata-bench-run",
    network,
    helperPath: buildHelperAt(BEFORE_REV, join(dir, "helper-before")),
    launcher: (spec, options) => launch(spec, { ...options, prespawn: false }),
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
    // Docker's default spec mounts the container's cgroupfs read-only (crun makes it from this one entry);
    // the library's container sees its cgroup there too
    mounts: [
      {
        destination: "/sys/fs/cgroup",
        type: "cgroup",
        source: "cgroup",
        options: ["ro", "nosuid", "noexec", "nodev"],
      },
    ],
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

  const cliEnv = {
    STRATA_ROOT: join(dir, "store"),
    STRATA_CGROUP_PARENT: "strata-bench-run",
    STRATA_CONFIG: join(dir, "no-config.json"), // absent: defaults, no host config
  };
  const cliArgs = [STRATA_BIN, "run", "--rm", "--network", "none", ref, "/bin/true"];
  const cli = {};
  for (const mode of CLI_MODES) {
    const env = { ...cliEnv, STRATA_FROM_SOURCE: mode === "source" ? "1" : "0" };
    if (mode === "bundle") ensureFreshBundle();
    cli[`strata CLI (${mode})`] = () => run(process.execPath, cliArgs, env);
  }
  // where a CLI run's time goes: Node's own start, and Node + loading the CLI (bundle) without running
  const baselines =
    process.env.STRATA_BENCH_BASELINES === "0"
      ? {}
      : {
          "node -e 0": () => run(process.execPath, ["-e", "0"]),
          "strata --version (bundle)": () =>
            run(process.execPath, [STRATA_BIN, "--version"], { ...cliEnv, STRATA_FROM_SOURCE: "0" }),
        };

  const contenders = {
    ...cli,
    ...baselines,
    "strata library": () => runtime.run({ image: ref, rm: true, args: ["/bin/true"], stdio: "pipe" }),
    [`strata library, before (${BEFORE_REV})`]: () =>
      beforeRuntime.run({ image: ref, rm: true, args: ["/bin/true"], stdio: "pipe" }),
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
  let dropped = 0;
  for (let round = -WARMUP; round < ROUNDS; round++) {
    for (const [name, fn] of Object.entries(contenders)) {
      const ms = await time(fn);
      if (round >= 0) times[name].push(ms);
    }
    // stale at the end of a round: the bundle row of this round may have run the sources; drop it
    if (CLI_MODES.includes("bundle") && !ensureFreshBundle() && round >= 0) {
      times["strata CLI (bundle)"].pop();
      dropped++;
    }
  }
  // STRATA_BENCH_PROFILE=<dir>: one more CLI run of each mode with --cpu-prof into <dir> (where the
  // time goes; open the .cpuprofile in Chrome DevTools or summarise with profile-summary.mjs)
  if (process.env.STRATA_BENCH_PROFILE) {
    for (const mode of CLI_MODES) {
      const env = { ...cliEnv, STRATA_FROM_SOURCE: mode === "source" ? "1" : "0" };
      const prof = [
        "--cpu-prof",
        "--cpu-prof-interval",
        "200",
        "--cpu-prof-dir",
        process.env.STRATA_BENCH_PROFILE,
      ];
      await run(process.execPath, [...prof, "--cpu-prof-name", `cli-${mode}.cpuprofile`, ...cliArgs], env);
    }
  }
  const medians = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  const lib = medians["strata library"];
  const result = {
    date: new Date().toISOString(),
    rounds: ROUNDS,
    // bundle samples dropped because sources changed during their round, and bundle rebuilds
    bundleSamplesDropped: dropped,
    bundleRebuilds: rebuilds,
    loadavg: execFileSync("cat", ["/proc/loadavg"]).toString().trim(),
    medianMs: medians,
    minMs: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Math.min(...v)])),
    ratios: {
      "library / podman": lib / medians["podman run --rm"],
      "library / crun": lib / medians["crun run"],
      "library before / crun": medians[`strata library, before (${BEFORE_REV})`] / medians["crun run"],
      ...Object.fromEntries(
        Object.keys(cli).flatMap((k) => [
          [`${k} / podman`, medians[k] / medians["podman run --rm"]],
          [`${k} / crun`, medians[k] / medians["crun run"]],
        ]),
      ),
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
