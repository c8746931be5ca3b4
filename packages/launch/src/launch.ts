import { type ChildProcess, type StdioOptions, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { constants as osConstants, tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, type Readable, type Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { LaunchError } from "./errors.js";
import { toHelperSpec } from "./helper-spec.js";
import { writeOciBundle } from "./oci-bundle.js";
import { takeHelper } from "./prespawn.js";
import type { LaunchSpec } from "./types.js";

export interface LaunchOptions {
  /** `inherit` (default): the container uses this process's stdio. `pipe`: streams on the handle. */
  stdio?: "inherit" | "pipe";
  /**
   * Forward SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH received by this Node
   * process to the container until it exits. Default false (a library should not grab signals
   * unasked); the CLI turns it on.
   */
  forwardSignals?: boolean;
  /** `builtin` (default): the native helper. `crun` / `runc`: an OCI bundle run by that runtime. */
  runtime?: "builtin" | "crun" | "runc";
  /**
   * Builtin runtime: take a helper spawned ahead of time and keep the next one ready (default true;
   * `STRATA_LAUNCH_PRESPAWN=0` turns it off process-wide). From a process's second launch with the
   * same stdio on, the fork of Node and the helper's start-up are off the launch's critical path.
   * Ready helpers hold no fds beyond stdio and exit when this process does. See the README.
   */
  prespawn?: boolean;
  /** Path of the native helper; default: this package's build/Release/strata-launch-helper. */
  helperPath?: string;
  /** OCI runtimes only: where to write the bundle (default: a temp dir removed afterwards). */
  bundleDir?: string;
  /** OCI runtimes only: the container id (default: strata-<random>). */
  containerId?: string;
}

export interface ExitStatus {
  /** The container's exit code; 128+N when it was killed by signal N (as docker). */
  exitCode: number;
  /** The signal that killed the container's init, if any (builtin runtime only). */
  signal: NodeJS.Signals | null;
}

export interface LaunchedProcess {
  /** Host pid of the container's init (PID 1 inside). */
  pid: number;
  /** With `stdio: "pipe"`: the container's stdin (only when `interactive`), stdout and stderr. */
  stdin: Writable | null;
  stdout: Readable | null;
  stderr: Readable | null;
  /** Resolves when the container's init has ended. */
  wait(): Promise<ExitStatus>;
  /** Sends a signal to the container's init (default SIGTERM). */
  kill(signal?: NodeJS.Signals | number): void;
}

export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = Object.freeze([
  "SIGTERM",
  "SIGINT",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
  "SIGWINCH",
]);

/** The native helper's path, after checking it was built. */
export function helperPath(override?: string): string {
  const path =
    override ??
    process.env.STRATA_LAUNCH_HELPER ??
    fileURLToPath(new URL("../build/Release/strata-launch-helper", import.meta.url));
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new LaunchError(
      "HELPER_NOT_BUILT",
      `the native launch helper is missing at ${path}; build it with 'npm rebuild -w @strata/launch' (needs a C compiler and node-gyp)`,
    );
  }
  return path;
}

function signalName(n: number): NodeJS.Signals | null {
  const entry = Object.entries(osConstants.signals).find(([, v]) => v === n);
  return entry ? (entry[0] as NodeJS.Signals) : null;
}

function stdioFor(spec: LaunchSpec, mode: "inherit" | "pipe"): StdioOptions {
  const stdin = spec.interactive ? mode : "ignore";
  return [stdin, mode, mode];
}

/** Puts this process's terminal in raw mode while a tty container runs in the foreground. */
function rawTerminal(spec: LaunchSpec, mode: "inherit" | "pipe"): () => void {
  const stdin = process.stdin;
  if (!spec.tty || mode !== "inherit" || !stdin.isTTY) return () => {};
  stdin.setRawMode(true);
  return () => stdin.setRawMode(false);
}

function forwardSignals(
  target: (signal: NodeJS.Signals) => void,
  enabled: boolean,
  tty: boolean,
): () => void {
  const signals = enabled ? FORWARDED_SIGNALS : tty ? (["SIGWINCH"] as NodeJS.Signals[]) : [];
  const handlers = signals.map((signal) => {
    const handler = () => target(signal);
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}

/**
 * Node drains (and drops) a child's unread stdout/stderr when the child exits, which can happen before
 * launch() resolves for a short-lived container; piping into a PassThrough right away keeps the bytes.
 */
function keep(stream: Readable | null): Readable | null {
  if (!stream) return null;
  const through = new PassThrough();
  stream.pipe(through);
  return through;
}

function errorFromHelper(errno: number, message: string): LaunchError {
  if (message.startsWith("exec ") && errno === 2) {
    return new LaunchError("COMMAND_NOT_FOUND", `container command not found: ${message}`, { errno });
  }
  if (message.startsWith("exec ") && errno === 13) {
    return new LaunchError("COMMAND_NOT_EXECUTABLE", `container command is not executable: ${message}`, {
      errno,
    });
  }
  return new LaunchError("SETUP_FAILED", `container setup failed: ${message}`, { errno });
}

function launchBuiltin(spec: LaunchSpec, options: LaunchOptions): Promise<LaunchedProcess> {
  const helperSpec = toHelperSpec(spec);
  const binary = helperPath(options.helperPath);
  const mode = options.stdio ?? "inherit";
  const stdio = [...(stdioFor(spec, mode) as string[]), "pipe", "pipe"] as StdioOptions;
  // raw before the container can print or read anything; restored when the helper ends
  const restoreTerminal = rawTerminal(spec, mode);
  const child = takeHelper(binary, stdio, options.prespawn ?? true);
  const stdout = keep(child.stdout);
  const stderr = keep(child.stderr);
  const specStream = child.stdio[3] as Writable;
  const statusStream = child.stdio[4] as Readable;
  specStream.on("error", () => {}); // the helper may exit before reading everything; reported below
  specStream.end(JSON.stringify(helperSpec));

  return new Promise((resolve, reject) => {
    let started = false;
    let containerPid = 0;
    let setupError: LaunchError | undefined;
    let exit: ExitStatus | undefined;
    let buffer = "";
    let stopForwarding = () => {};
    let settleWait: (status: ExitStatus) => void = () => {};
    const waitPromise = new Promise<ExitStatus>((r) => {
      settleWait = r;
    });

    const onLine = (line: string) => {
      const [kind, a = "", ...rest] = line.split(" ");
      if (kind === "pid") {
        started = true;
        containerPid = Number(a);
        stopForwarding = forwardSignals((s) => handle.kill(s), options.forwardSignals ?? false, spec.tty);
        resolve(handle);
      } else if (kind === "error") {
        setupError = errorFromHelper(Number(a), rest.join(" "));
      } else if (kind === "exit") {
        const sig = Number(rest[0] ?? 0);
        exit = { exitCode: Number(a), signal: sig > 0 ? signalName(sig) : null };
      }
    };
    statusStream.setEncoding("utf8");
    statusStream.on("data", (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
        onLine(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
    });

    let helperExit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let statusClosed = false;
    const finish = () => {
      if (!helperExit || !statusClosed) return;
      restoreTerminal();
      stopForwarding();
      if (!started) {
        reject(
          setupError ??
            new LaunchError(
              "SETUP_FAILED",
              `the launch helper ended before starting the container (exit ${helperExit.code ?? helperExit.signal})`,
            ),
        );
        return;
      }
      // the helper reports the container's status; if it was killed itself, its pdeathsig took the container along
      settleWait(exit ?? { exitCode: 137, signal: "SIGKILL" });
    };
    statusStream.on("close", () => {
      statusClosed = true;
      finish();
    });
    child.on("exit", (code, signal) => {
      helperExit = { code, signal };
      finish();
    });
    child.on("error", (error) => {
      restoreTerminal();
      reject(
        new LaunchError("SETUP_FAILED", `cannot start the launch helper ${binary}: ${error.message}`, {
          cause: error,
        }),
      );
    });

    const handle: LaunchedProcess = {
      get pid() {
        return containerPid;
      },
      stdin: child.stdin,
      stdout,
      stderr,
      wait: () => waitPromise,
      kill(signal: NodeJS.Signals | number = "SIGTERM") {
        if (exit || helperExit) return;
        const n = typeof signal === "number" ? signal : osConstants.signals[signal];
        // SIGKILL/SIGSTOP cannot be caught by the helper to forward: send them to the init directly
        // (it is the helper's unreaped child until the helper reports its exit, so the pid is ours)
        if (n === osConstants.signals.SIGKILL || n === osConstants.signals.SIGSTOP)
          process.kill(containerPid, n);
        else child.kill(n);
      },
    };
  });
}

const CRUN_WORKAROUND = [
  // crun 1.8 rejects hybrid hosts whose cgroup2 mount lists controllers: hide them in a private mount ns
  'f=/sys/fs/cgroup/unified/cgroup.controllers; if [ -f "$f" ]; then e=$(mktemp); mount --bind "$e" "$f"; rm -f "$e"; fi',
  'exec crun "$@"',
].join("; ");

async function launchRuntime(
  spec: LaunchSpec,
  options: LaunchOptions,
  runtime: "crun" | "runc",
): Promise<LaunchedProcess> {
  if (spec.join) {
    throw new LaunchError(
      "UNSUPPORTED_OPTION",
      `join (exec into a running container) is for the builtin runtime; ${runtime} has its own '${runtime} exec'`,
    );
  }
  if (spec.rootfsOverlay) {
    throw new LaunchError(
      "UNSUPPORTED_OPTION",
      `rootfsOverlay cannot be passed to ${runtime}: mount the overlay on rootfs first, or use the builtin runtime`,
    );
  }
  if (spec.cgroupProcs.length > 0) {
    throw new LaunchError(
      "UNSUPPORTED_OPTION",
      `cgroupProcs cannot be passed to ${runtime}; use the builtin runtime or set cgroupsPath in an OCI bundle yourself`,
    );
  }
  const ownDir = options.bundleDir === undefined;
  const dir = options.bundleDir ?? (await mkdtemp(join(tmpdir(), "strata-launch-bundle-")));
  await writeOciBundle(spec, dir);
  const id = options.containerId ?? `strata-${randomBytes(6).toString("hex")}`;
  const pidFile = join(dir, "init.pid");
  // a pid file left in a reused bundle dir would name some other (or no) process: never read a stale one
  await rm(pidFile, { force: true });
  const runArgs = ["run", "--bundle", dir, "--pid-file", pidFile, id];
  const mode = options.stdio ?? "inherit";
  const child: ChildProcess =
    runtime === "runc"
      ? spawn("runc", runArgs, { stdio: stdioFor(spec, mode) })
      : spawn(
          "unshare",
          ["--mount", "--propagation", "private", "sh", "-c", CRUN_WORKAROUND, "sh", ...runArgs],
          {
            stdio: stdioFor(spec, mode),
          },
        );
  const stdout = keep(child.stdout);
  const stderr = keep(child.stderr);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }));
    child.on("error", () => resolve({ code: null, signal: null }));
  });
  let done = false;
  void exited.then(() => {
    done = true;
  });
  // The runtime writes the pid file once the container's init exists, before the init may exec (runc
  // renames it into place, crun writes it in place: a half-written read counts as "not yet"), and
  // neither removes it when `run` ends, so a container that is already gone is still found below.
  const readPid = () => {
    try {
      const n = Number(readFileSync(pidFile, "utf8").trim());
      return Number.isSafeInteger(n) && n > 0 ? n : 0;
    } catch {
      return 0;
    }
  };
  let pid = 0;
  while (!done && pid === 0) {
    pid = readPid();
    if (pid === 0) await new Promise((r) => setTimeout(r, 10));
  }
  // a short-lived container may have come and gone between two polls
  if (pid === 0) pid = readPid();
  const cleanup = async () => {
    if (ownDir) await rm(dir, { recursive: true, force: true });
  };
  if (pid === 0) {
    const status = await exited;
    await cleanup();
    throw new LaunchError(
      "RUNTIME_FAILED",
      `${runtime} ended before the container started (exit ${status.code ?? status.signal}); its stderr says why`,
    );
  }
  const stopForwarding = forwardSignals((s) => child.kill(s), options.forwardSignals ?? false, false);
  const waitPromise = exited.then(async (status) => {
    stopForwarding();
    await cleanup();
    return {
      exitCode: status.code ?? 128 + (osConstants.signals[status.signal ?? "SIGKILL"] ?? 9),
      signal: null,
    };
  });
  return {
    pid,
    stdin: child.stdin,
    stdout,
    stderr,
    wait: () => waitPromise,
    kill(signal: NodeJS.Signals | number = "SIGTERM") {
      if (done) return;
      const n = typeof signal === "number" ? signal : osConstants.signals[signal];
      if (n === osConstants.signals.SIGKILL) process.kill(pid, n);
      else child.kill(n);
    },
  };
}

/**
 * Starts the spec's process and resolves once it has exec'd (rejects with a LaunchError when the
 * setup or the exec fails; nothing is left running then).
 */
export function launch(spec: LaunchSpec, options: LaunchOptions = {}): Promise<LaunchedProcess> {
  const runtime = options.runtime ?? "builtin";
  if (runtime === "builtin") {
    try {
      return launchBuiltin(spec, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }
  if (runtime !== "crun" && runtime !== "runc") {
    return Promise.reject(
      new LaunchError("INVALID_SPEC", `unknown runtime '${String(runtime)}'; use builtin, crun or runc`),
    );
  }
  return launchRuntime(spec, options, runtime);
}
