import { randomBytes } from "node:crypto";
import { statSync } from "node:fs";
import { isAbsolute, posix } from "node:path";
import { CAPABILITY_NUMBERS, DOCKER_DEFAULT_CAPABILITIES, normalizeCapability } from "./capabilities.js";
import {
  DEFAULT_PATH,
  DEFAULT_READONLY_PATHS,
  defaultMaskedPaths,
  defaultMounts,
  dockerCapabilitySets,
} from "./defaults.js";
import { LaunchError } from "./errors.js";
import { RLIMIT_NUMBERS } from "./helper-spec.js";
import { DOCKER_DEFAULT_SECCOMP, type SeccompPolicy } from "./seccomp.js";
import type { LaunchSpec, MountSpec, Rlimit, RootfsOverlay } from "./types.js";
import { resolveUser } from "./user.js";

/** The runtime part of an image config (OCI `config` / Docker `config`), as far as launching needs it. */
export interface ImageRuntimeConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
}

export interface BuildLaunchSpecOptions {
  /** Absolute path of the container's root filesystem. */
  rootfs: string;
  /**
   * Let the helper mount this overlay on `rootfs` (see `RootfsOverlay`). The user is then looked up in
   * the overlay's layers (upperdir first, then lowerdir in order), as the mounted overlay would show them.
   */
  rootfsOverlay?: RootfsOverlay;
  /** Arguments after the image name (`docker run IMAGE ARGS…`): replace the image's Cmd. */
  args?: string[];
  /** Replaces the image's Entrypoint (`--entrypoint`); the image's Cmd is then dropped unless `args` is given. */
  entrypoint?: string[];
  /** Overrides applied on top of the image's Env (`KEY=value` strings or a record). */
  env?: string[] | Record<string, string>;
  /** Replaces the image's WorkingDir (`-w`). */
  workdir?: string;
  /** Replaces the image's User (`-u`): `name`, `uid`, `name:group`, `uid:gid`. */
  user?: string;
  /** Extra supplementary groups (`--group-add`), names from the image's /etc/group or ids. */
  groupAdd?: string[];
  /** Default: 12 random hex digits, like a Docker container id prefix. */
  hostname?: string;
  tty?: boolean;
  interactive?: boolean;
  consoleSize?: { rows: number; cols: number };
  /** Network namespace to join (`/run/netns/NAME`); absent: a new, empty one. */
  netns?: string;
  /** `cgroup.procs` files to join before exec. */
  cgroupProcs?: string[];
  /** Added to / removed from Docker's default capabilities; `ALL` is accepted in both. */
  capAdd?: string[];
  capDrop?: string[];
  /** Default true (Docker's default is false; containerd's is true). */
  noNewPrivileges?: boolean;
  /** Default: Docker's default profile (`DOCKER_DEFAULT_SECCOMP`); `false`: no filter (`seccomp=unconfined`). */
  seccomp?: SeccompPolicy | false;
  rlimits?: Rlimit[];
  readonlyRootfs?: boolean;
  /** Host files bind-mounted on /etc/hosts, /etc/hostname, /etc/resolv.conf. */
  hostsFile?: string;
  hostnameFile?: string;
  resolvConfFile?: string;
  /** Extra mounts, after the defaults. */
  mounts?: MountSpec[];
}

const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/;

function invalid(message: string): never {
  throw new LaunchError("INVALID_SPEC", message);
}

function envKey(entry: string): string {
  const eq = entry.indexOf("=");
  return eq < 0 ? entry : entry.slice(0, eq);
}

/** Appends or replaces `KEY=value` entries by key, keeping first-seen order. */
export function mergeEnv(base: string[], overrides: string[]): string[] {
  const out = [...base];
  for (const entry of overrides) {
    const index = out.findIndex((e) => envKey(e) === envKey(entry));
    if (index >= 0) out[index] = entry;
    else out.push(entry);
  }
  return out;
}

function normalizeOverrides(env: BuildLaunchSpecOptions["env"]): string[] {
  if (env === undefined) return [];
  const list = Array.isArray(env) ? env : Object.entries(env).map(([k, v]) => `${k}=${v}`);
  for (const entry of list) {
    if (!entry.includes("=") || entry.startsWith("=")) {
      invalid(`environment entry '${entry}' must look like KEY=value`);
    }
  }
  return list;
}

function hostFile(path: string | undefined, what: string): string | undefined {
  if (path === undefined) return undefined;
  if (!isAbsolute(path)) invalid(`${what} must be an absolute host path, got '${path}'`);
  let ok = false;
  try {
    ok = statSync(path).isFile();
  } catch {
    ok = false;
  }
  if (!ok) invalid(`${what} '${path}' is not a readable file; create it first`);
  return path;
}

function capabilityList(add: string[] = [], drop: string[] = []): string[] {
  const upper = (list: string[]) => list.map((c) => c.toUpperCase().replace(/^CAP_/, ""));
  const adds = upper(add);
  const drops = upper(drop);
  let caps = drops.includes("ALL") ? [] : [...DOCKER_DEFAULT_CAPABILITIES];
  if (adds.includes("ALL")) caps = Object.keys(CAPABILITY_NUMBERS);
  for (const cap of adds.filter((c) => c !== "ALL").map(normalizeCapability))
    if (!caps.includes(cap)) caps.push(cap);
  const dropSet = new Set(drops.filter((c) => c !== "ALL").map(normalizeCapability));
  return caps.filter((c) => !dropSet.has(c));
}

/**
 * Merges an image's runtime config with `docker run`-style options into a LaunchSpec:
 * args = (entrypoint ?? image Entrypoint) + (args ?? image Cmd, dropped when only the entrypoint
 * is overridden); env = PATH (default when missing), HOSTNAME, TERM=xterm (tty), image Env, then
 * overrides, then HOME from /etc/passwd when unset; working dir = workdir ?? WorkingDir ?? "/";
 * user looked up in the rootfs's /etc/passwd and /etc/group. Mounts, masked and read-only paths
 * and capabilities are Docker's defaults.
 */
export function buildLaunchSpec(
  image: ImageRuntimeConfig | { config?: ImageRuntimeConfig } | undefined,
  options: BuildLaunchSpecOptions,
): LaunchSpec {
  const config: ImageRuntimeConfig =
    image && "config" in image
      ? ((image as { config?: ImageRuntimeConfig }).config ?? {})
      : ((image as ImageRuntimeConfig) ?? {});
  if (!isAbsolute(options.rootfs)) invalid(`rootfs must be an absolute path, got '${options.rootfs}'`);
  let isDir = false;
  try {
    isDir = statSync(options.rootfs).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) invalid(`rootfs '${options.rootfs}' is not a directory; mount or unpack the image first`);

  const entrypoint = options.entrypoint ?? config.Entrypoint ?? [];
  const cmd = options.args ?? (options.entrypoint !== undefined ? [] : (config.Cmd ?? []));
  const args = [...entrypoint, ...cmd];
  if (args.length === 0 || args[0] === "") {
    throw new LaunchError("NO_COMMAND", "no command to run: the image has no Entrypoint or Cmd; pass one");
  }

  const hostname = options.hostname ?? randomBytes(6).toString("hex");
  if (!HOSTNAME.test(hostname))
    invalid(`hostname '${hostname}' is not valid (letters, digits, '.', '-', at most 64)`);

  const workdir = options.workdir ?? (config.WorkingDir || "/");
  if (!workdir.startsWith("/")) invalid(`working directory '${workdir}' must be absolute`);
  const cwd = posix.normalize(workdir);

  const user = resolveUser(
    options.rootfsOverlay ? overlayLayerDirs(options.rootfsOverlay) : options.rootfs,
    options.user ?? config.User ?? "",
    options.groupAdd ?? [],
  );

  const imageEnv = config.Env ?? [];
  const overrides = normalizeOverrides(options.env);
  const merged = mergeEnv(imageEnv, overrides);
  // moby's CreateDaemonEnvironment: PATH, HOSTNAME, TERM first, then the container's Env replaces or appends
  const base: string[] = [`PATH=${DEFAULT_PATH}`, `HOSTNAME=${hostname}`];
  if (options.tty) base.push("TERM=xterm");
  let env = mergeEnv(base, merged);
  if (!env.some((e) => envKey(e) === "HOME")) env = [...env, `HOME=${user.home}`];

  const mounts = defaultMounts();
  const etc: [string | undefined, string][] = [
    [hostFile(options.resolvConfFile, "resolvConfFile"), "/etc/resolv.conf"],
    [hostFile(options.hostnameFile, "hostnameFile"), "/etc/hostname"],
    [hostFile(options.hostsFile, "hostsFile"), "/etc/hosts"],
  ];
  for (const [source, destination] of etc) {
    if (source) mounts.push({ destination, type: "bind", source, options: ["rbind", "rprivate"] });
  }
  for (const m of options.mounts ?? []) {
    if (!m.destination.startsWith("/")) invalid(`mount destination '${m.destination}' must be absolute`);
    mounts.push(m);
  }

  for (const limit of options.rlimits ?? []) {
    if (RLIMIT_NUMBERS[limit.type] === undefined)
      invalid(`unknown rlimit '${limit.type}' (use RLIMIT_NOFILE, …)`);
  }
  for (const file of options.cgroupProcs ?? []) {
    if (!isAbsolute(file)) invalid(`cgroup.procs path '${file}' must be absolute`);
  }
  if (options.netns !== undefined && !isAbsolute(options.netns)) {
    invalid(`netns '${options.netns}' must be a path such as /run/netns/NAME`);
  }

  const spec: LaunchSpec = {
    rootfs: options.rootfs,
    readonlyRootfs: options.readonlyRootfs ?? false,
    args,
    env,
    cwd,
    user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
    hostname,
    tty: options.tty ?? false,
    interactive: options.interactive ?? false,
    cgroupProcs: [...(options.cgroupProcs ?? [])],
    capabilities: dockerCapabilitySets(user.uid, capabilityList(options.capAdd, options.capDrop)),
    noNewPrivileges: options.noNewPrivileges ?? true,
    rlimits: [...(options.rlimits ?? [])],
    mounts,
    maskedPaths: defaultMaskedPaths(),
    readonlyPaths: [...DEFAULT_READONLY_PATHS],
  };
  if (options.seccomp !== false) spec.seccomp = options.seccomp ?? DOCKER_DEFAULT_SECCOMP;
  if (options.consoleSize) spec.consoleSize = options.consoleSize;
  if (options.netns !== undefined) spec.netns = options.netns;
  if (options.rootfsOverlay) {
    spec.rootfsOverlay = { options: [...options.rootfsOverlay.options] };
    if (options.rootfsOverlay.cwd !== undefined) spec.rootfsOverlay.cwd = options.rootfsOverlay.cwd;
  }
  return spec;
}

/** The layer directories of an overlay, uppermost first (upperdir, then lowerdir left to right), absolute. */
export function overlayLayerDirs(overlay: RootfsOverlay): string[] {
  const value = (key: string) => overlay.options.find((o) => o.startsWith(`${key}=`))?.slice(key.length + 1);
  const dirs = [value("upperdir"), ...(value("lowerdir")?.split(":") ?? [])].filter(
    (d): d is string => d !== undefined && d !== "",
  );
  if (dirs.length === 0) invalid("rootfsOverlay has no lowerdir= option");
  return dirs.map((d) => (isAbsolute(d) ? d : posix.join(overlay.cwd ?? "/", d)));
}
