import { dirname, join } from "node:path";
import { type CgroupEffect, type CgroupFs, nodeCgroupFs } from "@strata/cgroup";
import type { HelperMountOp, HelperSpec } from "@strata/launch";
import { MS } from "@strata/launch";
import { type BridgeNetworkOptions, procSysctl } from "@strata/network";
import { type IpResult, runCollected } from "@strata/veth";

/** The steps `--explain` and `--trace` name, in the order a run goes through them. */
export type StepName =
  | "resolve"
  | "pull"
  | "unpack"
  | "mount"
  | "cgroup"
  | "netns"
  | "veth"
  | "exec"
  | "teardown";

/**
 * The `--explain` sink: called before each step with the shell commands that do the same by hand
 * (real paths and values of this run), and a note for what a command cannot show.
 */
export type Explain = (step: StepName, commands: string[], note?: string) => void;

/** One explained step (what `Explain` was called with). */
export interface ExplainedStep {
  step: StepName;
  commands: string[];
  note?: string;
}

export interface TraceEntry {
  step: StepName;
  /** Milliseconds since the trace was created. */
  startMs: number;
  durationMs: number;
}

/** The `--trace` recorder: the time of each step, rendered as lines (stderr) or JSON. */
export class Trace {
  readonly entries: TraceEntry[] = [];
  /** performance.now() when the trace began (entries are relative to it). */
  readonly origin = performance.now();

  /** Times `fn` as `step` (also when it throws). */
  async time<T>(step: StepName, fn: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await fn();
    } finally {
      this.record(step, start - this.origin, performance.now() - start);
    }
  }

  record(step: StepName, startMs: number, durationMs: number): void {
    this.entries.push({ step, startMs: round(startMs), durationMs: round(durationMs) });
  }

  /** `step  +startms  durationms` lines, for stderr. */
  lines(): string[] {
    return this.entries.map(
      (e) => `${e.step.padEnd(8)} +${e.startMs.toFixed(1)}ms ${e.durationMs.toFixed(1)}ms`,
    );
  }

  json(): string {
    return JSON.stringify({ steps: this.entries });
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** Times `fn` when a trace is given. */
export function timed<T>(trace: Trace | undefined, step: StepName, fn: () => Promise<T>): Promise<T> {
  return trace ? trace.time(step, fn) : fn();
}

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** One word for bash. */
export function sh(word: string): string {
  return word !== "" && SAFE.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

export function shJoin(argv: readonly string[]): string {
  return argv.map(sh).join(" ");
}

/** A file's exact content as a command (`printf '%s' …`: no trailing newline is added). */
export function writeCommand(path: string, content: string): string {
  return `printf '%s' ${sh(content)} > ${sh(path)}`;
}

// ------------------------------------------------------------------ cgroup dry run

/**
 * A CgroupFs that reads the real cgroupfs but changes nothing: mkdir/write/rmdir are only seen by the
 * observer, and groups it "made" answer with their parent's control files. With `@strata/cgroup`'s manager on top,
 * `create` computes exactly the commands a real create would run.
 */
export function dryRunCgroupFs(): CgroupFs {
  const real = nodeCgroupFs();
  const made = new Set<string>();
  const inMade = (path: string) => {
    for (let p = path; p !== dirname(p); p = dirname(p)) if (made.has(p)) return true;
    return false;
  };
  const exists = (error: string) => Object.assign(new Error(error), { code: "EEXIST" });
  return {
    read: async (path) => (inMade(path) ? "" : real.read(path)),
    write: async () => {},
    mkdir: async (path) => {
      if (made.has(path)) throw exists(`${path} exists`);
      const there = await real.list(path).then(
        () => true,
        () => false,
      );
      if (there) throw exists(`${path} exists`);
      made.add(path);
    },
    rmdir: async (path) => {
      made.delete(path);
    },
    // a new group has the control files of its parent (same hierarchy): `setLimits` checks they exist
    list: async (path) => {
      if (!inMade(path)) return real.list(path);
      let p = path;
      while (inMade(p)) p = dirname(p);
      // the hierarchy's root lacks the limit files every other group has: look at a real child group
      const names = await real.list(p);
      for (const name of names) {
        const child = await real.list(join(p, name)).catch(() => undefined);
        if (child) return child.filter((n) => n.includes("."));
      }
      return names.filter((n) => n.includes("."));
    },
    statfs: async (path) => {
      let p = path;
      while (inMade(p)) p = dirname(p);
      return real.statfs(p);
    },
  };
}

const CHANGES = new Set<CgroupEffect["kind"]>(["write", "mkdir", "rmdir", "signal"]);

/**
 * Effects to commands, changes only (as `@strata/cgroup`'s `explainEffects`, with bash quoting). The
 * shared parent levels get `mkdir -p` (another container may make them first); the group's own dir
 * (`id`) a plain mkdir, which fails when it exists, as strata's create does.
 */
export function cgroupCommands(effects: readonly CgroupEffect[], id: string): string[] {
  const out: string[] = [];
  for (const e of effects) {
    if (!CHANGES.has(e.kind)) continue;
    if (e.kind === "mkdir") out.push(`mkdir ${e.path.endsWith(`/${id}`) ? "" : "-p "}${sh(e.path)}`);
    else if (e.kind === "write") out.push(`echo ${sh(e.data)} > ${sh(e.path)}`);
    else if (e.kind === "rmdir") out.push(`rmdir ${sh(e.path)}`);
    else if (e.kind === "signal") out.push(`kill -${e.signal.replace(/^SIG/, "")} ${e.pid}`);
  }
  return out;
}

// ------------------------------------------------------------------ the container layer

export interface LayerPlan {
  /** The store's overlay2 directory. */
  overlayRoot: string;
  /** `image/overlay2/layerdb/mounts/<id>`. */
  record: string;
  mountId: string;
  /** The container layer's short link (`l/<link>`). */
  link: string;
  /** The image's top layer: chain id (layerdb) and cache id (overlay2 dir). */
  parentChainId: string;
  parentCacheId: string;
  /** The container layer's `lower` entries. */
  lower: string[];
}

/** What `createLayer` + the layerdb record do, as commands (moby's overlay2 `Create`). */
export function layerCommands(p: LayerPlan): string[] {
  const dir = join(p.overlayRoot, p.mountId);
  return [
    `mkdir -p ${sh(p.record)}`,
    writeCommand(join(p.record, "mount-id"), p.mountId),
    writeCommand(join(p.record, "parent"), p.parentChainId),
    `mkdir -m 710 ${sh(dir)}`,
    `mkdir -m 755 ${sh(join(dir, "diff"))}`,
    `ln -s ${sh(`../${p.mountId}/diff`)} ${sh(join(p.overlayRoot, "l", p.link))}`,
    writeCommand(join(dir, "link"), p.link),
    `mkdir -m 700 ${sh(join(dir, "work"))}`,
    `touch ${sh(join(p.overlayRoot, p.parentCacheId, "committed"))}`,
    writeCommand(join(dir, "lower"), p.lower.join(":")),
    `mkdir -m 700 ${sh(join(dir, "merged"))}`,
  ];
}

/** The overlay mount on the host (`cwd`: the page-size fallback's relative paths start there). */
export function overlayMountCommand(options: readonly string[], target: string, cwd?: string): string {
  const mount = `mount -t overlay overlay -o ${sh(options.join(","))} ${sh(target)}`;
  return cwd === undefined ? mount : `(cd ${sh(cwd)} && ${mount})`;
}

/** Empty bind targets for /etc/{hosts,hostname,resolv.conf} the image lacks, made in the upperdir. */
export function placeholderCommands(upper: string, missing: readonly string[], makeEtc: boolean): string[] {
  if (missing.length === 0) return [];
  const out = makeEtc ? [`mkdir -m 755 ${sh(join(upper, "etc"))}`] : [];
  for (const name of missing) out.push(`install -m 644 /dev/null ${sh(join(upper, "etc", name))}`);
  return out;
}

// ------------------------------------------------------------------ the launch

export interface ExecPlan {
  helper: HelperSpec;
  /** Join this network namespace (a path); absent: a new, empty one (unless `hostNetwork`). */
  netns?: string;
  /** Stay in the caller's network namespace (`--network host`). */
  hostNetwork?: boolean;
  /** /etc files the binds read, with their content (the script writes them first). */
  etcFiles: { path: string; content: string }[];
}

const PROPAGATION_FREE = (flags: number) => flags & ~(MS.BIND | MS.REC | MS.REMOUNT);

/** Mount flags as `mount -o` words. */
function flagWords(flags: number): string[] {
  const words: string[] = [];
  if (flags & MS.RDONLY) words.push("ro");
  if (flags & MS.NOSUID) words.push("nosuid");
  if (flags & MS.NODEV) words.push("nodev");
  if (flags & MS.NOEXEC) words.push("noexec");
  if (flags & MS.STRICTATIME) words.push("strictatime");
  if (flags & MS.RELATIME) words.push("relatime");
  if (flags & MS.NOATIME) words.push("noatime");
  return words;
}

/** The helper's mount program as commands, on paths under the rootfs (run before pivot_root). */
function mountOpCommands(op: HelperMountOp): string[] {
  // "$ROOTFS" is set at the top of the init section
  const at = (p: string) => `"$ROOTFS"${sh(join("/", p))}`;
  switch (op.op) {
    case "mount": {
      const flags = PROPAGATION_FREE(op.flags);
      const words = [...flagWords(flags), ...(op.data ? [op.data] : [])];
      const o = words.length ? ` -o ${sh(words.join(","))}` : "";
      return [`mkdir -p ${at(op.target)}`, `mount -t ${sh(op.fstype)}${o} ${sh(op.source)} ${at(op.target)}`];
    }
    case "bind": {
      const out = [`mount --bind ${sh(op.source)} ${at(op.target)}`];
      const words = flagWords(op.flags);
      if (words.length) out.push(`mount -o ${sh(["remount", "bind", ...words].join(","))} ${at(op.target)}`);
      return out;
    }
    case "mknod":
      return [`mknod -m ${op.mode.toString(8)} ${at(op.target)} c ${op.major} ${op.minor}`];
    case "symlink":
      return [`ln -sfn ${sh(op.source)} ${at(op.target)}`];
    case "readonly":
      return [
        `if [ -e ${at(op.target)} ]; then mount --rbind ${at(op.target)} ${at(op.target)}; mount -o remount,bind,ro ${at(op.target)}; fi`,
      ];
    case "mask":
      return [
        `if [ -d ${at(op.target)} ]; then mount -t tmpfs -o ro tmpfs ${at(op.target)}; elif [ -e ${at(op.target)} ]; then mount --bind ${at("/dev/null")} ${at(op.target)}; fi`,
      ];
    case "remount-ro":
      return [
        op.target === "/"
          ? 'mount -o remount,bind,ro "$ROOTFS"'
          : `mount -o remount,bind,ro ${at(op.target)}`,
      ];
  }
}

/**
 * The namespaces, the cgroup join, the mounts, pivot_root and the exec as a runnable bash section:
 * what @strata/launch's helper does with syscalls. PID 1 joins the cgroup itself (so the `unshare`
 * parent does not count against pids.max) before the cgroup namespace is made, as the helper does.
 */
export function execCommands(plan: ExecPlan): string[] {
  const h = plan.helper;
  const root = h.rootfs;
  const out: string[] = [];
  for (const dir of new Set(plan.etcFiles.map((f) => dirname(f.path)))) out.push(`mkdir -p ${sh(dir)}`);
  for (const f of plan.etcFiles) out.push(writeCommand(f.path, f.content));
  out.push("unshare --pid --fork --kill-child -- bash -e <<'STRATA_PID1'");
  for (const procs of h.cgroupProcs) out.push(`echo 0 > ${sh(procs)}`);
  const namespaces = [
    "--mount",
    "--uts",
    "--ipc",
    "--cgroup",
    ...(plan.netns || plan.hostNetwork ? [] : ["--net"]),
  ];
  const enter = plan.netns ? `nsenter --net=${sh(plan.netns)} -- ` : "";
  out.push(`exec ${enter}unshare ${namespaces.join(" ")} -- bash -e <<'STRATA_INIT'`);
  out.push(`ROOTFS=${sh(root)}`);
  out.push("mount --make-rprivate /");
  out.push('mount --rbind "$ROOTFS" "$ROOTFS"');
  for (const op of h.mounts) out.push(...mountOpCommands(op));
  out.push(`hostname ${sh(h.hostname)}`);
  out.push('cd "$ROOTFS"');
  out.push("pivot_root . .");
  out.push("# from here on paths resolve in the image: this umount is the image's own");
  out.push("umount -l .");
  out.push(`cd ${sh(h.cwd)}`);
  out.push('for v in $(compgen -e); do unset "$v"; done');
  for (const e of h.env) out.push(`export ${sh(e)}`);
  out.push("hash -r");
  if (h.uid !== 0 || h.gid !== 0) out.push(`# strata also switches to uid ${h.uid}, gid ${h.gid} here`);
  out.push("# strata also drops capabilities to Docker's default set, sets rlimits and setsid() here");
  out.push(`exec ${shJoin(h.args)} </dev/null`);
  out.push("STRATA_INIT");
  out.push("STRATA_PID1");
  return out;
}

// ------------------------------------------------------------------ teardown

export interface TeardownPlan {
  cgroupDirs: string[];
  /** The network's detach commands (a bridge: iptables -D, ip link del, ip netns del). */
  network?: string[];
  /** The merged dir, when the overlay is mounted on the host (the explained run mounts it there). */
  merged?: string;
  layer?: { overlayRoot: string; mountId: string; link?: string; record: string };
  /** containers/<id>. */
  stateDir?: string;
  /** strata/container-names/<name>. */
  nameFile?: string;
}

export function teardownCommands(p: TeardownPlan): string[] {
  const out: string[] = [];
  for (const dir of p.cgroupDirs) out.push(`rmdir ${sh(dir)}`);
  out.push(...(p.network ?? []));
  if (p.merged) out.push(`umount ${sh(p.merged)}`);
  if (p.layer) {
    out.push(`rm -rf ${sh(join(p.layer.overlayRoot, p.layer.mountId))}`);
    if (p.layer.link) out.push(`rm -f ${sh(join(p.layer.overlayRoot, "l", p.layer.link))}`);
    out.push(`rm -rf ${sh(p.layer.record)}`);
  }
  if (p.stateDir) out.push(`rm -rf ${sh(p.stateDir)}`);
  if (p.nameFile) out.push(`rm -f ${sh(p.nameFile)}`);
  return out;
}

// ------------------------------------------------------------------ the script

/** Explained steps as one bash script (`bash -e` runs it as root). */
export function renderScript(steps: readonly ExplainedStep[]): string {
  const lines = ["#!/bin/bash", "set -e"];
  for (const s of steps) {
    lines.push("", `# --- ${s.step}${s.note ? `: ${s.note.replaceAll("\n", " ")}` : ""}`);
    lines.push(...s.commands);
  }
  return `${lines.join("\n")}\n`;
}

// ------------------------------------------------------------------ pull

/** The part of @strata/registry-pull's `PullEvent` the pull observer reads (no dependency on it). */
export interface PullEventLike {
  type: string;
  status?: string;
  image?: {
    reference: { registry: string; repository: string; tag?: string; digest?: string };
    manifestDigest: string;
    config: { digest: string };
    layers: readonly { digest: string }[];
  };
}

/** The registry's base URL as a person types it (plain http only for loopback registries). */
function registryUrl(registry: string): string {
  const host = registry === "docker.io" ? "registry-1.docker.io" : registry;
  const loopback = /^(localhost|127\.[\d.]+|\[::1\])(:\d+)?$/.test(host);
  return `${loopback ? "http" : "https"}://${host}`;
}

/**
 * `--explain`/`--trace` for a pull: pass `onProgress` to @strata/registry-pull's `pull`. On `resolved`
 * it explains the registry requests (`curl` of the manifest, the config and each layer blob, checked
 * with sha256sum); the trace gets `unpack` (first layer event to commit: layers are unpacked while they
 * download). `pull` itself is timed by `run` around its `pull` callback (or by the caller).
 */
export function pullObserver(options: { explain?: Explain; trace?: Trace }): {
  onProgress: (event: PullEventLike) => void;
} {
  const { explain, trace } = options;
  let unpackStart: number | undefined;
  return {
    onProgress: (event) => {
      if (event.type === "resolved" && event.image && explain) {
        const { reference, manifestDigest, config, layers } = event.image;
        const base = `${registryUrl(reference.registry)}/v2/${reference.repository}`;
        const accept =
          "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
        const commands = [
          `curl -fsSL -H ${sh(`Accept: ${accept}`)} ${sh(`${base}/manifests/${reference.digest ?? reference.tag ?? "latest"}`)}`,
          `curl -fsSL ${sh(`${base}/blobs/${config.digest}`)} -o config.json`,
        ];
        for (const layer of layers) {
          const file = `${layer.digest.replace(/^sha256:/, "")}.tar.gz`;
          commands.push(
            `curl -fsSL ${sh(`${base}/blobs/${layer.digest}`)} -o ${file} && echo ${sh(`${layer.digest.replace(/^sha256:/, "")}  ${file}`)} | sha256sum -c`,
          );
        }
        explain(
          "pull",
          commands,
          `manifest ${manifestDigest}; a registry that wants a token answers 401 with a WWW-Authenticate header naming where to get one (curl -H 'Authorization: Bearer …')`,
        );
      }
      if (event.type === "layer" && unpackStart === undefined && event.status !== "waiting")
        unpackStart = performance.now();
      if (event.type === "committed" && trace) {
        const end = performance.now();
        if (unpackStart !== undefined) trace.record("unpack", unpackStart - trace.origin, end - unpackStart);
      }
    },
  };
}

// ------------------------------------------------------------------ bridge dry run

const DONE: IpResult = { exitCode: 0, stdout: "", stderr: "" };

/**
 * Effects for a `BridgeNetwork` that looks but does not touch: `ip` queries and `iptables-save` run for
 * real (so the commands it explains are those a real attach would need now), every change
 * (`ip -batch`, `iptables-restore`, `iptables`, sysctl writes) only succeeds on paper. Its
 * `onCommand` lines are the explanation.
 */
export function dryRunBridgeEffects(): Pick<BridgeNetworkOptions, "ip" | "iptables" | "sysctl"> {
  const sysctl = procSysctl();
  return {
    ip: {
      run: (args, options) =>
        args.includes("-batch") ? Promise.resolve(DONE) : runCollected("ip", args, options?.input),
    },
    iptables: {
      iptables: async () => DONE,
      restore: async () => DONE,
      save: (table) => runCollected("iptables-save", ["-t", table]),
    },
    sysctl: {
      read: (key) => sysctl.read(key),
      write: async () => {},
    },
  };
}
