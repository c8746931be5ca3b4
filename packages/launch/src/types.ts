import type { SeccompPolicy } from "./seccomp.js";

/** A mount in OCI runtime-spec form (`config.json` `mounts[]`). */
export interface MountSpec {
  /** Absolute path inside the container. */
  destination: string;
  /** Filesystem type (`proc`, `tmpfs`, …) or `bind`. */
  type: string;
  /** Device or, for binds, an absolute host path. */
  source: string;
  /** `ro`, `nosuid`, `bind`, `rbind`, … and filesystem data such as `mode=755`. */
  options?: string[];
}

/** Capability names without the `CAP_` prefix, e.g. `"CHOWN"`. */
export interface CapabilitySets {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable: string[];
}

export interface Rlimit {
  /** `RLIMIT_NOFILE`, `RLIMIT_NPROC`, … */
  type: string;
  soft: number;
  hard: number;
}

/**
 * Everything needed to start one container process. Built by `buildLaunchSpec`, run by `launch`,
 * or written as an OCI bundle by `writeOciBundle`. All paths are absolute.
 */
/**
 * An overlay the builtin helper mounts on `rootfs` itself, inside the container's private mount
 * namespace (the host never sees it: nothing to unmount afterwards). As @strata/overlay-mount's
 * `OverlayMount`: `options` (`lowerdir=…`, `upperdir=…`, `workdir=…`, `index=off`, …) and `cwd`, the
 * directory relative paths in them start from (its page-size fallback). OCI runtimes refuse it.
 */
export interface RootfsOverlay {
  options: string[];
  cwd?: string;
}

export interface LaunchSpec {
  /** The root filesystem (e.g. a mounted overlay), entered with pivot_root. */
  rootfs: string;
  /** Mount this overlay on `rootfs` first (builtin runtime only); `rootfs` is then an empty mount point. */
  rootfsOverlay?: RootfsOverlay;
  readonlyRootfs: boolean;
  args: string[];
  /** `KEY=value` entries, in order. */
  env: string[];
  /** Working directory inside the container. */
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  hostname: string;
  /** Allocate a pseudo-terminal (stdin/stdout/stderr of the container are its slave side). */
  tty: boolean;
  /** Keep stdin open (`docker run -i`). */
  interactive: boolean;
  /** Initial terminal size when the launcher's own stdin is not a terminal. */
  consoleSize?: { rows: number; cols: number };
  /** Join this network namespace (e.g. `/run/netns/NAME`); absent: a new, empty one. */
  netns?: string;
  /**
   * `cgroup.procs` files the process joins before it execs (one per v1 hierarchy, or one v2 file). On
   * v1 the builtin helper writes the sibling `tasks` file instead (same effect for the single-threaded
   * init, without the kernel's RCU grace period per join; see the README).
   */
  cgroupProcs: string[];
  capabilities: CapabilitySets;
  noNewPrivileges: boolean;
  /** Syscalls refused to the container (Docker's default profile by default); absent: no filter. */
  seccomp?: SeccompPolicy;
  rlimits: Rlimit[];
  mounts: MountSpec[];
  maskedPaths: string[];
  readonlyPaths: string[];
  /**
   * `docker exec`: enter the namespaces (pid, mount, uts, ipc, network, cgroup) of this running
   * process — a container's init, identified by pid and start time (`/proc/<pid>/stat` field 22) so a
   * reused pid is refused — instead of creating new ones. Nothing is mounted: `rootfs`,
   * `rootfsOverlay`, `mounts`, `maskedPaths`, `readonlyPaths`, `readonlyRootfs`, `hostname` and
   * `netns` are not used; `cgroupProcs` should name the container's cgroups. Builtin runtime only.
   */
  join?: { pid: number; start: string };
}
