import { type DetachedRunOptions, pullObserver, type RunOptions } from "@strata/container";
import { parseNetworkMode, parsePublish } from "@strata/network";
import { type Opened, openAll, type Settings } from "../context.js";
import { UsageError } from "../errors.js";
import { type ExplainFlags, explainer, observed } from "../explain.js";
import { holdSignals } from "../held-signals.js";
import type { pullCommand } from "./pull.js";

/** `strata run` flags as commander hands them over. */
export interface RunFlags extends ExplainFlags {
  rm?: boolean;
  interactive?: boolean;
  tty?: boolean;
  detach?: boolean;
  name?: string;
  env?: string[];
  envFile?: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  entrypoint?: string;
  pidsLimit?: string;
  memory?: string;
  memorySwap?: string;
  cpus?: string;
  network?: string;
  publish?: string[];
  readOnly?: boolean;
  securityOpt?: string[];
  capAdd?: string[];
  capDrop?: string[];
  ulimit?: string[];
  groupAdd?: string[];
  volume?: string[];
  tmpfs?: string[];
  mount?: string[];
  addHost?: string[];
  runtime?: string;
  platform?: string;
  registryMirror?: string[];
  insecureRegistry?: string[];
}

export interface RunIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  stderrStream: NodeJS.WritableStream & { isTTY?: boolean };
  signal: AbortSignal;
}

/** Thrown for failures before the container runs: `strata run` exits 125 (docker's convention). */
export const EXIT_RUN_FAILED = 125;
/** The command exists but cannot be executed. */
export const EXIT_CANNOT_INVOKE = 126;
/** The command was not found in the container. */
export const EXIT_NOT_FOUND = 127;

/** Exit code of `strata run` for an error thrown before the container's process ran. */
export function runErrorExit(error: unknown): number {
  const code = (error as { code?: string } | undefined)?.code;
  if (code === "COMMAND_NOT_FOUND") return EXIT_NOT_FOUND;
  if (code === "COMMAND_NOT_EXECUTABLE") return EXIT_CANNOT_INVOKE;
  return EXIT_RUN_FAILED;
}

const RUNTIMES = new Set(["builtin", "crun", "runc"]);

/** The container package's network mode for `--network` (validated by @strata/network's parser). */
function networkMode(value: string): string {
  const mode = parseNetworkMode(value);
  return mode.kind === "ns" ? `ns:${mode.name}` : mode.kind;
}

/** `-e KEY=VALUE`, or `-e KEY` alone: this process's value of KEY (as docker). */
export function envFlags(entries: readonly string[]): string[] {
  return entries.map((e) => (e.includes("=") ? e : `${e}=${process.env[e] ?? ""}`));
}

/** Translates flags into RunOptions; every check that needs no kernel happens here. */
export function runOptionsOf(image: string, command: string[], flags: RunFlags): RunOptions {
  const options: RunOptions = { image };
  if (command.length > 0) options.args = command;
  if (flags.name !== undefined) options.name = flags.name;
  if (flags.entrypoint !== undefined) options.entrypoint = flags.entrypoint === "" ? [] : [flags.entrypoint];
  if (flags.env?.length) options.env = envFlags(flags.env);
  if (flags.envFile?.length) options.envFiles = flags.envFile;
  if (flags.workdir !== undefined) options.workdir = flags.workdir;
  if (flags.user !== undefined) options.user = flags.user;
  if (flags.hostname !== undefined) options.hostname = flags.hostname;
  if (flags.pidsLimit !== undefined) {
    const n = Number(flags.pidsLimit);
    if (!/^-?\d+$/.test(flags.pidsLimit) || !Number.isSafeInteger(n)) {
      throw new UsageError(`--pids-limit: '${flags.pidsLimit}' is not an integer (use -1 for no limit)`);
    }
    options.pidsLimit = n;
  }
  if (flags.memory !== undefined) options.memory = flags.memory;
  if (flags.memorySwap !== undefined) options.memorySwap = flags.memorySwap;
  if (flags.cpus !== undefined) options.cpus = flags.cpus;
  if (flags.network !== undefined) options.network = networkMode(flags.network); // default: bridge
  if (flags.publish?.length) {
    for (const p of flags.publish) parsePublish(p); // INVALID_PUBLISH before anything is created
    options.publish = flags.publish;
  }
  if (flags.readOnly) options.readOnly = true;
  for (const opt of flags.securityOpt ?? []) {
    // docker's spelling: seccomp=unconfined, seccomp:unconfined (older), seccomp=default
    const m = /^seccomp[=:](unconfined|default)$/.exec(opt);
    if (!m) {
      throw new UsageError(
        `--security-opt '${opt}' is not supported (supported: seccomp=unconfined, seccomp=default)`,
      );
    }
    options.seccomp = m[1] as "unconfined" | "default";
  }
  if (flags.capAdd?.length) options.capAdd = flags.capAdd;
  if (flags.capDrop?.length) options.capDrop = flags.capDrop;
  if (flags.ulimit?.length) options.ulimits = flags.ulimit;
  if (flags.groupAdd?.length) options.groupAdd = flags.groupAdd;
  if (flags.volume?.length) options.volumes = flags.volume;
  if (flags.tmpfs?.length) options.tmpfs = flags.tmpfs;
  if (flags.mount?.length) options.mounts = flags.mount;
  if (flags.addHost?.length) options.addHosts = flags.addHost;
  if (flags.runtime !== undefined) {
    if (!RUNTIMES.has(flags.runtime)) {
      throw new UsageError(`--runtime must be builtin, crun or runc (got '${flags.runtime}')`);
    }
    options.runtime = flags.runtime as NonNullable<RunOptions["runtime"]>;
  }
  if (flags.rm) options.rm = true;
  if (flags.tty) options.tty = true;
  if (flags.interactive) options.interactive = true;
  return options;
}

/**
 * `strata run`: pulls the image when it is missing (progress on stderr, as docker), then runs the
 * container in the foreground (exit code = the container's) or detached (prints the id).
 */
export async function runCommand(
  settings: Settings,
  image: string,
  command: string[],
  flags: RunFlags,
  io: RunIO,
): Promise<number> {
  const options = runOptionsOf(image, command, flags);
  const x = explainer(flags, io);
  const opened: Opened = await openAll(settings);
  if (x.dryRun) {
    // The plan of the same run (also for -d: the monitor would do the same). The container it describes
    // is never known to strata (`strata rm` could not remove it), so its teardown is always the full one.
    const { stdio: _s, onStart: _o, forwardSignals: _f, ...rest } = options;
    await opened.runtime.run({ ...rest, rm: true, dryRun: true, ...observed(x) });
    x.finish();
    return 0;
  }
  const observer = x.explain || x.trace ? pullObserver(observed(x)) : undefined;
  options.pull = async (ref) => {
    io.stderr(`Unable to find image '${ref}' locally\n`);
    const pullOptions: Parameters<typeof pullCommand>[2] = { signal: io.signal };
    if (flags.platform !== undefined) pullOptions.platform = flags.platform;
    if (flags.registryMirror?.length) pullOptions.registryMirror = flags.registryMirror;
    if (flags.insecureRegistry?.length) pullOptions.insecureRegistry = flags.insecureRegistry;
    if (observer) pullOptions.observe = observer.onProgress;
    // docker run prints the pull's progress and status on stderr, never the final reference line
    // Loaded only when the image is missing: the registry client and unpacker are most of the CLI's code.
    const { pullCommand: runPull } = await import("./pull.js");
    const pull = () => runPull(opened.store, ref, pullOptions, { stdout: io.stderrStream, write: io.stderr });
    await (x.trace ? x.trace.time("pull", pull) : pull());
  };
  if (flags.detach) {
    const { stdio: _s, onStart: _o, forwardSignals: _f, tty: _t, interactive: _i, ...rest } = options;
    const detached: DetachedRunOptions = rest;
    const started = await opened.runtime.runDetached(detached);
    io.stdout(`${started.id}\n`);
    x.finish(); // the monitor process runs the steps: only a pull is explained/timed here
    return 0;
  }
  const signals = holdSignals();
  try {
    const result = await opened.runtime.run({
      ...options,
      ...observed(x),
      stdio: "inherit",
      forwardSignals: true,
      onStart: (container) => signals.started(container),
    });
    if (result.oomKilled) io.stderr(`strata: container ${result.name} was OOM-killed (memory limit)\n`);
    x.finish();
    return result.exitCode;
  } finally {
    signals.release();
  }
}
