#!/usr/bin/env node
// `npm run demo`: the whole strata pipeline offline, through the real CLI. As root on Debian 12 it
// installs busybox-static, docker-registry (and iptables for the bridge) when missing, builds a busybox
// image from /bin/busybox, serves it from a private registry on 127.0.0.1, then runs
// `strata pull`, `strata images`, `strata run …` and `strata network ls` against a temp store, printing
// each command first, and removes everything it made. Needs only the npm and Debian package registries.
// `npm run demo -- --shell` (`node apps/run/bin/demo.js --shell`) then opens an interactive shell in a
// container on the bridge with a pids limit (`strata run -it --rm --pids-limit 16 …  sh`); the registry
// and the store stay until that shell exits, then everything is cleaned up as usual.
// Environment: STRATA_DEMO_PREFIX (temp dir name prefix), and the CLI's own STRATA_* knobs
// (STRATA_BRIDGE, STRATA_SUBNET, STRATA_CGROUP_PARENT, …), which are passed through.
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});
const BIN = fileURLToPath(new URL("./strata.js", import.meta.url));
const say = (line) => process.stdout.write(`\n== ${line}\n`);

function which(command) {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** apt-get install what the demo needs and this machine lacks (Debian packages only). */
function ensurePackages() {
  const wanted = [
    ["busybox-static", () => existsSync("/bin/busybox")],
    ["docker-registry", () => existsSync("/usr/bin/docker-registry")],
    ["iptables", () => which("iptables-restore")],
    ["iproute2", () => which("ip")],
  ];
  const missing = wanted.filter(([, present]) => !present()).map(([name]) => name);
  if (missing.length === 0) return;
  if (!which("apt-get")) {
    throw new Error(`missing ${missing.join(", ")} and no apt-get to install them: install them by hand`);
  }
  say(`installing ${missing.join(" ")} (apt-get)`);
  execFileSync("apt-get", ["install", "-y", "--no-install-recommends", ...missing], {
    stdio: "inherit",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
}

const quote = (a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`);

/** Prints `$ strata …`, runs the real CLI with inherited stdio, resolves with its exit code. */
function strata(root, args) {
  process.stdout.write(`\n$ strata ${args.map(quote).join(" ")}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "--root", root, ...args], { stdio: "inherit" });
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

const USAGE = "usage: demo.js [--shell]   (--shell: end in an interactive shell in a container)\n";

async function main() {
  const args = process.argv.slice(2);
  if (args.some((a) => a === "-h" || a === "--help")) {
    process.stdout.write(USAGE);
    return 0;
  }
  const unknown = args.filter((a) => a !== "--shell");
  if (unknown.length > 0) {
    process.stderr.write(`demo: unknown argument ${unknown[0]}\n${USAGE}`);
    return 2;
  }
  const shell = args.includes("--shell");
  if (process.getuid?.() !== 0) {
    process.stderr.write("demo: run it as root (containers need namespaces, mounts, cgroups and a bridge)\n");
    return 2;
  }
  ensurePackages();
  // the testkit (image building, a docker-registry on 127.0.0.1) and the network package, from source
  await import("./register.js");
  const { buildImage, busyboxRootfs, pushImage, startRegistry } = await import("@strata/testkit");
  const { BridgeNetwork } = await import("@strata/network");
  const { DEFAULT_NETWORK_STATE, openAll, settingsFrom } = await import("../src/context.ts");

  const dir = await mkdtemp(join(tmpdir(), process.env.STRATA_DEMO_PREFIX ?? "strata-demo-"));
  const root = join(dir, "store");
  const bridgeName = process.env.STRATA_BRIDGE ?? "strata0";
  const bridgeExisted = existsSync(`/sys/class/net/${bridgeName}`);
  // A bridge the demo creates keeps its leases in the temp store; an existing one (strata already in
  // use on this machine) is shared with the default store, whose lease file must then be used too.
  if (bridgeExisted) process.env.STRATA_NETWORK_STATE_DIR ??= join(DEFAULT_NETWORK_STATE, bridgeName);
  const bridgeOptions = settingsFrom(root, process.env).bridge;
  const bridge = new BridgeNetwork({ stateDir: join(root, "network", bridgeName), ...bridgeOptions });
  let registry;
  let status = 1;
  try {
    say("building a busybox image from /bin/busybox");
    const image = buildImage({ layers: [await busyboxRootfs()], config: { Cmd: ["/bin/sh"] } });
    registry = await startRegistry();
    await pushImage(registry, "demo/busybox", "latest", image);
    const ref = `${registry.host}/demo/busybox:latest`;
    say(`serving it at ${ref} (docker-registry on 127.0.0.1, storage in a temp dir); store: ${root}`);

    // The container the demo runs, scripted and (with --shell) interactive: same limits, same network.
    const container = ["--rm", "--pids-limit", "16", "--hostname", "demo", "--network", "bridge", ref];
    const steps = [
      ["pull", ref],
      ["images"],
      [
        "run",
        ...container,
        "sh",
        "-c",
        "echo hello from strata; hostname; cat /proc/self/cgroup | head -3; ip addr; ls /",
      ],
      ["ps", "-a"],
      ["network", "ls"],
    ];
    status = 0;
    for (const args of steps) {
      const code = await strata(root, args);
      if (code !== 0) {
        say(`strata ${args[0]} exited with ${code}`);
        status = code;
        break;
      }
    }
    if (shell && status === 0) {
      say("a shell in a container (bridge network, pids limit 16); 'exit' ends it and cleans up");
      // -t only on a terminal (as docker, strata cannot make a tty of a pipe); -i keeps stdin either way
      const it = process.stdin.isTTY ? "-it" : "-i";
      status = await strata(root, ["run", it, ...container, "sh"]);
    }
  } catch (error) {
    process.stderr.write(`demo: ${error instanceof Error ? error.message : error}\n`);
    status = 1;
  } finally {
    say("cleaning up: registry, store, and the bridge if the demo created it");
    await registry?.stop().catch(() => undefined);
    // the container ran with --rm; this only prunes the (now empty) parent cgroup the run created
    await openAll(settingsFrom(root, process.env))
      .then(({ runtime }) => runtime.gc())
      .catch(() => undefined);
    if (!bridgeExisted && existsSync(`/sys/class/net/${bridge.bridge}`)) {
      await bridge.destroy().catch((e) => process.stderr.write(`demo: bridge left: ${e.message}\n`));
    }
    await rm(dir, { recursive: true, force: true });
  }
  say(status === 0 ? "done" : `failed (${status})`);
  return status;
}

process.exitCode = await main();
