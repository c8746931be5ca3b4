import { LaunchError } from "./errors.js";

/** Linux capability numbers (linux/capability.h), indexed by name without `CAP_`. */
export const CAPABILITY_NUMBERS: Readonly<Record<string, number>> = Object.freeze({
  CHOWN: 0,
  DAC_OVERRIDE: 1,
  DAC_READ_SEARCH: 2,
  FOWNER: 3,
  FSETID: 4,
  KILL: 5,
  SETGID: 6,
  SETUID: 7,
  SETPCAP: 8,
  LINUX_IMMUTABLE: 9,
  NET_BIND_SERVICE: 10,
  NET_BROADCAST: 11,
  NET_ADMIN: 12,
  NET_RAW: 13,
  IPC_LOCK: 14,
  IPC_OWNER: 15,
  SYS_MODULE: 16,
  SYS_RAWIO: 17,
  SYS_CHROOT: 18,
  SYS_PTRACE: 19,
  SYS_PACCT: 20,
  SYS_ADMIN: 21,
  SYS_BOOT: 22,
  SYS_NICE: 23,
  SYS_RESOURCE: 24,
  SYS_TIME: 25,
  SYS_TTY_CONFIG: 26,
  MKNOD: 27,
  LEASE: 28,
  AUDIT_WRITE: 29,
  AUDIT_CONTROL: 30,
  SETFCAP: 31,
  MAC_OVERRIDE: 32,
  MAC_ADMIN: 33,
  SYSLOG: 34,
  WAKE_ALARM: 35,
  BLOCK_SUSPEND: 36,
  AUDIT_READ: 37,
  PERFMON: 38,
  BPF: 39,
  CHECKPOINT_RESTORE: 40,
});

/** Docker's default capability set (moby `daemon/pkg/oci/caps/defaults.go`), 14 entries. */
export const DOCKER_DEFAULT_CAPABILITIES: readonly string[] = Object.freeze([
  "CHOWN",
  "DAC_OVERRIDE",
  "FSETID",
  "FOWNER",
  "MKNOD",
  "NET_RAW",
  "SETGID",
  "SETUID",
  "SETFCAP",
  "SETPCAP",
  "NET_BIND_SERVICE",
  "SYS_CHROOT",
  "KILL",
  "AUDIT_WRITE",
]);

/** `CAP_CHOWN`, `chown` and `CHOWN` all name the same capability; returns `CHOWN`. */
export function normalizeCapability(name: string): string {
  const upper = name.toUpperCase().replace(/^CAP_/, "");
  if (CAPABILITY_NUMBERS[upper] === undefined) {
    throw new LaunchError(
      "INVALID_SPEC",
      `unknown capability '${name}'; use names such as CAP_CHOWN or NET_ADMIN`,
    );
  }
  return upper;
}

/** The kernel bit mask for a list of capability names (exact: the highest bit is 40 < 53). */
export function capabilityMask(names: readonly string[]): number {
  let mask = 0;
  const seen = new Set(names.map(normalizeCapability));
  for (const cap of seen) mask += 2 ** (CAPABILITY_NUMBERS[cap] as number);
  return mask;
}

/** The capability names set in a hex mask as shown in /proc/PID/status (`CapEff: 00000000a80425fb`). */
export function capabilitiesFromMask(hex: string): string[] {
  const value = BigInt(`0x${hex}`);
  return Object.entries(CAPABILITY_NUMBERS)
    .filter(([, bit]) => (value >> BigInt(bit)) & 1n)
    .map(([name]) => name);
}
