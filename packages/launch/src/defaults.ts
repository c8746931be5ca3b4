import { readdirSync } from "node:fs";
import { DOCKER_DEFAULT_CAPABILITIES } from "./capabilities.js";
import type { CapabilitySets, MountSpec } from "./types.js";

/** PATH when neither the image nor the caller sets one (Docker's default). */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Docker's default mounts (moby `daemon/pkg/oci/defaults.go`), minus /sys/fs/cgroup (see README). */
export function defaultMounts(): MountSpec[] {
  return [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    },
  ];
}

/**
 * Docker's masked paths, plus each host `/sys/devices/system/cpu/cpuN/thermal_throttle`
 * (GHSA-6fw5-f8r9-fgfm), which Docker also masks when present.
 */
export function defaultMaskedPaths(sysRoot = "/sys"): string[] {
  const paths = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
  ];
  let cpus: string[] = [];
  try {
    cpus = readdirSync(`${sysRoot}/devices/system/cpu`).filter((name) => /^cpu\d+$/.test(name));
  } catch {
    // no sysfs (unusual); nothing extra to mask
  }
  for (const cpu of cpus.sort()) {
    try {
      readdirSync(`${sysRoot}/devices/system/cpu/${cpu}/thermal_throttle`);
      paths.push(`/sys/devices/system/cpu/${cpu}/thermal_throttle`);
    } catch {
      // absent on this host
    }
  }
  return paths;
}

/** Docker's read-only /proc paths. */
export const DEFAULT_READONLY_PATHS: readonly string[] = Object.freeze([
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
]);

/**
 * Capability sets as Docker sets them (moby `oci.SetCapabilities`): for uid 0 bounding, permitted and
 * effective are the list; for other users only bounding (execve would clear the others anyway).
 * Inheritable stays empty (Docker ≥ 20.10.14, CVE-2022-24769) and ambient is always empty.
 */
export function dockerCapabilitySets(
  uid: number,
  caps: readonly string[] = DOCKER_DEFAULT_CAPABILITIES,
): CapabilitySets {
  const list = [...caps];
  return uid === 0
    ? { bounding: list, effective: [...list], permitted: [...list], inheritable: [] }
    : { bounding: list, effective: [], permitted: [], inheritable: [] };
}

/** Character devices every container gets (runtime-spec `config-linux.md` default devices). */
export const DEFAULT_DEVICES: readonly { path: string; major: number; minor: number }[] = Object.freeze([
  { path: "/dev/null", major: 1, minor: 3 },
  { path: "/dev/zero", major: 1, minor: 5 },
  { path: "/dev/full", major: 1, minor: 7 },
  { path: "/dev/random", major: 1, minor: 8 },
  { path: "/dev/urandom", major: 1, minor: 9 },
  { path: "/dev/tty", major: 5, minor: 0 },
]);

/** Symlinks in /dev (runtime-spec `runtime-linux.md`), as [link, target]. */
export const DEFAULT_DEV_SYMLINKS: readonly [string, string][] = Object.freeze([
  ["/dev/fd", "/proc/self/fd"],
  ["/dev/stdin", "/proc/self/fd/0"],
  ["/dev/stdout", "/proc/self/fd/1"],
  ["/dev/stderr", "/proc/self/fd/2"],
  ["/dev/ptmx", "pts/ptmx"],
]);
