import { capabilityMask } from "./capabilities.js";
import { DEFAULT_DEV_SYMLINKS, DEFAULT_DEVICES } from "./defaults.js";
import { LaunchError } from "./errors.js";
import { type HelperSeccomp, toHelperSeccomp } from "./seccomp.js";
import type { LaunchSpec, MountSpec } from "./types.js";

/** mount(2) flags (linux/mount.h). */
export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  SYNCHRONOUS: 16,
  REMOUNT: 32,
  MANDLOCK: 64,
  DIRSYNC: 128,
  NOATIME: 1024,
  NODIRATIME: 2048,
  BIND: 4096,
  REC: 16384,
  RELATIME: 1 << 21,
  STRICTATIME: 1 << 24,
} as const;

/** Resource numbers for setrlimit(2) (asm-generic/resource.h). */
export const RLIMIT_NUMBERS: Readonly<Record<string, number>> = Object.freeze({
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
});

// [set?, flag]: `ro` sets RDONLY, `rw` clears it, …
const FLAG_OPTIONS: Readonly<Record<string, [boolean, number]>> = {
  ro: [true, MS.RDONLY],
  rw: [false, MS.RDONLY],
  nosuid: [true, MS.NOSUID],
  suid: [false, MS.NOSUID],
  nodev: [true, MS.NODEV],
  dev: [false, MS.NODEV],
  noexec: [true, MS.NOEXEC],
  exec: [false, MS.NOEXEC],
  sync: [true, MS.SYNCHRONOUS],
  async: [false, MS.SYNCHRONOUS],
  dirsync: [true, MS.DIRSYNC],
  mand: [true, MS.MANDLOCK],
  nomand: [false, MS.MANDLOCK],
  noatime: [true, MS.NOATIME],
  atime: [false, MS.NOATIME],
  nodiratime: [true, MS.NODIRATIME],
  diratime: [false, MS.NODIRATIME],
  relatime: [true, MS.RELATIME],
  norelatime: [false, MS.RELATIME],
  strictatime: [true, MS.STRICTATIME],
  nostrictatime: [false, MS.STRICTATIME],
  bind: [true, MS.BIND],
  rbind: [true, MS.BIND | MS.REC],
};

// Propagation options are accepted and ignored: every mount in the container is private.
const PROPAGATION = new Set([
  "private",
  "rprivate",
  "slave",
  "rslave",
  "shared",
  "rshared",
  "unbindable",
  "runbindable",
]);

/** Splits OCI mount options into mount(2) flags and the filesystem data string. */
export function parseMountOptions(options: readonly string[] = []): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const option of options) {
    const flag = FLAG_OPTIONS[option];
    if (flag) {
      flags = flag[0] ? flags | flag[1] : flags & ~flag[1];
    } else if (!PROPAGATION.has(option)) {
      data.push(option);
    }
  }
  return { flags, data: data.join(",") };
}

/** One step the helper performs after pivot_root, in order. */
export type HelperMountOp =
  | { op: "mount"; source: string; target: string; fstype: string; flags: number; data: string }
  | { op: "bind"; source: string; tree: number; target: string; flags: number }
  | { op: "mknod"; target: string; mode: number; major: number; minor: number }
  | { op: "symlink"; source: string; target: string }
  | { op: "mask"; target: string }
  | { op: "readonly"; target: string }
  | { op: "remount-ro"; target: string };

/** The JSON document the native helper reads on fd 3 (see native/helper.c). */
export interface HelperSpec {
  rootfs: string;
  /** Mounted on `rootfs` in the container's mount namespace before anything else. */
  rootfsOverlay: { data: string; cwd: string | null } | null;
  hostname: string;
  netns: string | null;
  cgroupProcs: string[];
  /** Host paths cloned (open_tree) before pivot_root; `bind` ops refer to them by index. */
  bindSources: { path: string; recursive: boolean }[];
  mounts: HelperMountOp[];
  tty: boolean;
  interactive: boolean;
  consoleSize: { rows: number; cols: number } | null;
  rlimits: { name: string; resource: number; soft: number; hard: number }[];
  cwd: string;
  uid: number;
  gid: number;
  additionalGids: number[];
  capabilities: { bounding: number; effective: number; permitted: number; inheritable: number };
  noNewPrivileges: boolean;
  seccomp: HelperSeccomp | null;
  args: string[];
  env: string[];
  /** The container's PATH, for looking up a bare command name after pivot_root. */
  path: string;
  /** Exec into the container whose init is this pid (with this start time); null: a new container. */
  joinPid: number | null;
  joinStart: string | null;
}

function isBind(m: MountSpec): boolean {
  return m.type === "bind" || (m.options ?? []).some((o) => o === "bind" || o === "rbind");
}

function checkUint(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new LaunchError(
      "INVALID_SPEC",
      `${what} must be an integer between 0 and 4294967295, got ${value}`,
    );
  }
  return value;
}

const under = (path: string, dir: string) => path.startsWith(dir.endsWith("/") ? dir : `${dir}/`);

/**
 * A cgroup v1 hierarchy of several controllers (`…/cpu,cpuacct`) is also reachable by each controller's
 * name (`cpu -> cpu,cpuacct`, `cpuacct -> cpu,cpuacct`), as runc and Docker show it: programs read
 * `/sys/fs/cgroup/cpu/cpu.cfs_quota_us` (JVMs, Go's automaxprocs).
 */
function cgroupV1Links(m: MountSpec): HelperMountOp[] {
  if (m.type !== "cgroup") return [];
  const slash = m.destination.lastIndexOf("/");
  const dir = m.destination.slice(0, slash);
  const name = m.destination.slice(slash + 1);
  if (!name.includes(",")) return [];
  return name
    .split(",")
    .filter((controller) => controller !== "" && !controller.startsWith("name="))
    .map((controller) => ({ op: "symlink" as const, source: name, target: `${dir}/${controller}` }));
}

/**
 * A read-only mount with mounts beneath it (a tmpfs holding cgroup hierarchies, as on cgroup v1) must stay
 * writable until their mount points exist: it is mounted read-write and remounted read-only after the
 * last mount beneath it, as runc does.
 */
function deferReadonlyParents(ops: HelperMountOp[]): void {
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as HelperMountOp;
    if (op.op !== "mount" || (op.flags & MS.RDONLY) === 0) continue;
    let last = -1;
    for (let j = i + 1; j < ops.length; j++) {
      const o = ops[j] as HelperMountOp;
      if ((o.op === "mount" || o.op === "bind" || o.op === "symlink") && under(o.target, op.target)) last = j;
    }
    if (last < 0) continue;
    op.flags &= ~MS.RDONLY;
    ops.splice(last + 1, 0, { op: "remount-ro", target: op.target });
  }
}

/** What a new container's root gets after its mounts: devices, /dev links, read-only and masked paths. */
function addContainerSetup(spec: LaunchSpec, ops: HelperMountOp[]): void {
  deferReadonlyParents(ops);
  for (const device of DEFAULT_DEVICES) {
    ops.push({ op: "mknod", target: device.path, mode: 0o666, major: device.major, minor: device.minor });
  }
  for (const [link, target] of DEFAULT_DEV_SYMLINKS)
    ops.push({ op: "symlink", source: target, target: link });
  // read-only paths before masked ones, in runc's order, so both list the same mounts in the same order
  for (const path of spec.readonlyPaths) ops.push({ op: "readonly", target: path });
  for (const path of spec.maskedPaths) ops.push({ op: "mask", target: path });
  if (spec.readonlyRootfs) ops.push({ op: "remount-ro", target: "/" });
}

/**
 * Turns a LaunchSpec into the helper's program: the spec's mounts in order, then the default
 * devices and /dev symlinks (created, as runc does, after the mounts), then read-only and masked
 * paths, then the read-only rootfs remount.
 */
export function toHelperSpec(spec: LaunchSpec): HelperSpec {
  if (spec.args.length === 0) throw new LaunchError("NO_COMMAND", "no command to run; pass args");
  if (!spec.cwd.startsWith("/")) throw new LaunchError("INVALID_SPEC", `cwd '${spec.cwd}' must be absolute`);
  const bindSources: HelperSpec["bindSources"] = [];
  const ops: HelperMountOp[] = [];
  if (spec.join !== undefined) {
    if (!Number.isInteger(spec.join.pid) || spec.join.pid <= 0 || !/^[0-9]+$/.test(spec.join.start)) {
      throw new LaunchError(
        "INVALID_SPEC",
        `join needs a pid and its start time, got ${JSON.stringify(spec.join)}`,
      );
    }
  }
  for (const m of spec.join === undefined ? spec.mounts : []) {
    const { flags, data } = parseMountOptions(m.options);
    if (isBind(m)) {
      if (!m.source.startsWith("/")) {
        throw new LaunchError(
          "INVALID_SPEC",
          `bind mount source '${m.source}' must be an absolute host path`,
        );
      }
      bindSources.push({ path: m.source, recursive: (flags & MS.REC) !== 0 });
      ops.push({
        op: "bind",
        source: m.source,
        tree: bindSources.length - 1,
        target: m.destination,
        flags: flags & ~(MS.BIND | MS.REC),
      });
    } else {
      ops.push({ op: "mount", source: m.source, target: m.destination, fstype: m.type, flags, data });
      ops.push(...cgroupV1Links(m));
    }
  }
  if (spec.join === undefined) addContainerSetup(spec, ops);

  const pathEntry = spec.env.find((e) => e.startsWith("PATH="));
  return {
    rootfs: spec.rootfs,
    rootfsOverlay:
      spec.rootfsOverlay && spec.join === undefined
        ? { data: spec.rootfsOverlay.options.join(","), cwd: spec.rootfsOverlay.cwd ?? null }
        : null,
    hostname: spec.hostname,
    netns: spec.join === undefined ? (spec.netns ?? null) : null,
    cgroupProcs: [...spec.cgroupProcs],
    bindSources,
    mounts: ops,
    tty: spec.tty,
    interactive: spec.interactive,
    consoleSize: spec.consoleSize ?? null,
    rlimits: spec.rlimits.map((r) => {
      const resource = RLIMIT_NUMBERS[r.type];
      if (resource === undefined) throw new LaunchError("INVALID_SPEC", `unknown rlimit '${r.type}'`);
      // -1 means unlimited (RLIM_INFINITY) to the helper
      const limit = (v: number) => (Number.isFinite(v) && v >= 0 ? Math.floor(v) : -1);
      return { name: r.type, resource, soft: limit(r.soft), hard: limit(r.hard) };
    }),
    cwd: spec.cwd,
    uid: checkUint(spec.user.uid, "uid"),
    gid: checkUint(spec.user.gid, "gid"),
    additionalGids: spec.user.additionalGids.map((g) => checkUint(g, "additional gid")),
    capabilities: {
      bounding: capabilityMask(spec.capabilities.bounding),
      effective: capabilityMask(spec.capabilities.effective),
      permitted: capabilityMask(spec.capabilities.permitted),
      inheritable: capabilityMask(spec.capabilities.inheritable),
    },
    noNewPrivileges: spec.noNewPrivileges,
    seccomp: spec.seccomp ? toHelperSeccomp(spec.seccomp) : null,
    args: [...spec.args],
    env: [...spec.env],
    path: pathEntry ? pathEntry.slice("PATH=".length) : "",
    joinPid: spec.join?.pid ?? null,
    joinStart: spec.join?.start ?? null,
  };
}
