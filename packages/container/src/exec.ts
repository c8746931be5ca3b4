import { dockerCapabilitySets, type LaunchSpec, mergeEnv, resolveUser } from "@strata/launch";
import { ContainerError } from "./errors.js";

/**
 * What `exec` starts a process with, saved at the container's start (`containers/<id>/exec.json`):
 * the container's own process settings, which docker exec inherits — environment, user, working
 * directory, capabilities, no_new_privs, seccomp, rlimits — and its cgroups.
 */
export type ExecTemplate = Pick<
  LaunchSpec,
  | "env"
  | "cwd"
  | "user"
  | "hostname"
  | "capabilities"
  | "noNewPrivileges"
  | "seccomp"
  | "rlimits"
  | "cgroupProcs"
>;

/** `strata exec` / `docker exec` options. */
export interface ExecOptions {
  /** The command and its arguments (required). */
  args: string[];
  /** `-e KEY=VALUE`: after the container's environment (a key given again replaces it). */
  env?: string[];
  /** `-u name|uid[:group|gid]`, looked up in the container's current /etc/passwd and /etc/group. */
  user?: string;
  /** `-w`: absolute working directory (default: the container's). */
  workdir?: string;
  tty?: boolean;
  interactive?: boolean;
  /** `inherit` (default) or `pipe` (the process's streams are handed to `onStart`). */
  stdio?: "inherit" | "pipe";
  /** Forward SIGTERM, SIGINT, … received by this process to the exec'd one (the CLI does). */
  forwardSignals?: boolean;
  /** Called once the process runs, with its host pid and (with `pipe`) its streams. */
  onStart?: (process: {
    pid: number;
    stdin: NodeJS.WritableStream | null;
    stdout: NodeJS.ReadableStream | null;
    stderr: NodeJS.ReadableStream | null;
    kill(signal?: NodeJS.Signals | number): void;
  }) => void;
}

export function execTemplateOf(spec: LaunchSpec): ExecTemplate {
  const { env, cwd, user, hostname, capabilities, noNewPrivileges, seccomp, rlimits, cgroupProcs } = spec;
  return {
    env,
    cwd,
    user,
    hostname,
    capabilities,
    noNewPrivileges,
    ...(seccomp ? { seccomp } : {}),
    rlimits,
    cgroupProcs,
  };
}

/**
 * The launch spec of one exec into the container whose init is `init` (host pid and start time):
 * the template's settings with the exec's overrides, entering the init's namespaces.
 */
export function execSpecOf(
  template: ExecTemplate,
  init: { pid: number; start: string },
  options: ExecOptions,
): LaunchSpec {
  if (options.args.length === 0 || options.args[0] === "") {
    throw new ContainerError("INVALID_OPTION", "exec needs a command to run");
  }
  const cwd = options.workdir ?? template.cwd;
  if (!cwd.startsWith("/"))
    throw new ContainerError("INVALID_OPTION", `-w '${cwd}' must be an absolute path`);
  const root = `/proc/${init.pid}/root`;
  const user =
    options.user === undefined
      ? template.user
      : (({ uid, gid, additionalGids }) => ({ uid, gid, additionalGids }))(resolveUser(root, options.user));
  for (const entry of options.env ?? []) {
    if (!entry.includes("=") || entry.startsWith("=")) {
      throw new ContainerError("INVALID_OPTION", `-e '${entry}' is not KEY=VALUE`);
    }
  }
  const env = mergeEnv(template.env, [...(options.tty ? ["TERM=xterm"] : []), ...(options.env ?? [])]);
  return {
    rootfs: root,
    readonlyRootfs: false,
    args: [...options.args],
    env,
    cwd,
    user,
    hostname: template.hostname,
    tty: options.tty ?? false,
    interactive: options.interactive ?? false,
    cgroupProcs: [...template.cgroupProcs],
    // the container's capability list, held as Docker gives it to this user (root: all sets; others:
    // only the bounding set)
    capabilities: dockerCapabilitySets(user.uid, template.capabilities.bounding),
    noNewPrivileges: template.noNewPrivileges,
    ...(template.seccomp ? { seccomp: template.seccomp } : {}),
    rlimits: template.rlimits,
    mounts: [],
    maskedPaths: [],
    readonlyPaths: [],
    join: init,
  };
}
