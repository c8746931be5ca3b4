import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { processStartTime as startTimeOf } from "@strata/lockfile";
import { type IpResult, runCollected } from "@strata/veth";
import { NetworkError } from "./errors.js";

/** The output of one iptables/sysctl process (the same shape as an `ip` run). */
export type RunResult = IpResult;

/**
 * The firewall effect: `iptables -w ARGS` and `iptables-restore -w --noflush` (stdin = rules in
 * iptables-save format), plus `iptables-save`. Unit tests pass a recorder; the default spawns the
 * host's iptables (here the nf_tables backend, `iptables v1.8.9 (nf_tables)`).
 */
export interface IptablesRunner {
  iptables(args: readonly string[]): Promise<RunResult>;
  restore(input: string): Promise<RunResult>;
  save(table: "nat" | "filter"): Promise<RunResult>;
}

/** Spawns `iptables`, `iptables-restore` and `iptables-save` (binaries overridable, e.g. `iptables-legacy`). */
export function spawnIptablesRunner(
  binaries: { iptables?: string; restore?: string; save?: string } = {},
): IptablesRunner {
  return {
    iptables: (args) => runCollected(binaries.iptables ?? "iptables", ["-w", ...args]),
    restore: (input) => runCollected(binaries.restore ?? "iptables-restore", ["-w", "--noflush"], input),
    save: (table) => runCollected(binaries.save ?? "iptables-save", ["-t", table]),
  };
}

/** Kernel parameters (`/proc/sys`); the root is injectable, unit tests pass a recorder. */
export interface SysctlWriter {
  read(key: string): Promise<string | undefined>;
  write(key: string, value: string): Promise<void>;
}

/**
 * Keys use '/' (`net/ipv4/conf/strata0/route_localnet`), as `sysctl -w` also accepts, because an interface
 * name may contain dots. `net/ipv4/ip_forward` → `<root>/net/ipv4/ip_forward`.
 */
export function sysctlPath(root: string, key: string): string {
  return join(root, key);
}

/** The `sysctl -w` line for a key (dotted unless a segment contains a dot). */
export function sysctlCommand(key: string, value: string): string {
  const parts = key.split("/");
  const name = parts.some((p) => p.includes(".")) ? key : parts.join(".");
  return `sysctl -w ${name}=${value}`;
}

export function procSysctl(root = "/proc/sys"): SysctlWriter {
  return {
    async read(key) {
      try {
        return (await readFile(sysctlPath(root, key), "utf8")).trim();
      } catch {
        return undefined;
      }
    },
    async write(key, value) {
      try {
        await writeFile(sysctlPath(root, key), value);
      } catch (error) {
        throw new NetworkError(
          "SYSCTL_FAILED",
          `cannot set ${key}=${value}: ${(error as Error).message} (strata needs root to configure bridge networking)`,
          { cause: error },
        );
      }
    },
  };
}

/**
 * Field 22 of /proc/PID/stat (start time in clock ticks): tells a live owner from a reused pid.
 * Async for its callers' sake; the read is one small procfs file.
 */
export async function processStartTime(pid: number, proc = "/proc"): Promise<string | undefined> {
  return startTimeOf(pid, proc);
}
