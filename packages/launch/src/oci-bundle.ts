import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { toOciSeccomp } from "./seccomp.js";
import type { LaunchSpec } from "./types.js";

const capNames = (list: string[]) => list.map((c) => `CAP_${c}`);

/** The OCI runtime-spec `config.json` document for a LaunchSpec (runc and crun accept it as is). */
export function toOciConfig(spec: LaunchSpec): Record<string, unknown> {
  const namespaces: Record<string, string>[] = [
    { type: "pid" },
    spec.netns ? { type: "network", path: spec.netns } : { type: "network" },
    { type: "ipc" },
    { type: "uts" },
    { type: "mount" },
    { type: "cgroup" },
  ];
  const process: Record<string, unknown> = {
    terminal: spec.tty,
    user: { uid: spec.user.uid, gid: spec.user.gid, additionalGids: spec.user.additionalGids },
    args: spec.args,
    env: spec.env,
    cwd: spec.cwd,
    capabilities: {
      bounding: capNames(spec.capabilities.bounding),
      effective: capNames(spec.capabilities.effective),
      permitted: capNames(spec.capabilities.permitted),
      inheritable: capNames(spec.capabilities.inheritable),
    },
    rlimits: spec.rlimits.map((r) => ({
      type: r.type,
      // the spec's uint64 "unlimited" does not fit a JSON number exactly; runc/crun read 2^64-1
      hard: Number.isFinite(r.hard) && r.hard >= 0 ? r.hard : "18446744073709551615",
      soft: Number.isFinite(r.soft) && r.soft >= 0 ? r.soft : "18446744073709551615",
    })),
    noNewPrivileges: spec.noNewPrivileges,
  };
  if (spec.tty && spec.consoleSize) {
    process.consoleSize = { height: spec.consoleSize.rows, width: spec.consoleSize.cols };
  }
  return {
    ociVersion: "1.0.2",
    process,
    root: { path: spec.rootfs, readonly: spec.readonlyRootfs },
    hostname: spec.hostname,
    mounts: spec.mounts.map((m) => ({
      destination: m.destination,
      type: m.type,
      source: m.source,
      options: m.options ?? [],
    })),
    linux: {
      namespaces,
      maskedPaths: spec.maskedPaths,
      readonlyPaths: spec.readonlyPaths,
      ...(spec.seccomp ? { seccomp: toOciSeccomp(spec.seccomp) } : {}),
    },
  };
}

/**
 * Writes `DIR/config.json` for the spec; `root.path` points at the spec's rootfs (absolute), so the
 * bundle needs no rootfs copy. Returns the config.json path. cgroup.procs joins have no OCI
 * equivalent and are not part of the bundle.
 */
export async function writeOciBundle(spec: LaunchSpec, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, "config.json");
  const json = JSON.stringify(toOciConfig(spec), null, 2).replace(
    /"18446744073709551615"/g,
    "18446744073709551615",
  );
  await writeFile(path, `${json}\n`);
  return path;
}
