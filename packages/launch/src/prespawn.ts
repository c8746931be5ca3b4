import { type ChildProcess, type StdioOptions, spawn } from "node:child_process";

/**
 * A pre-spawned launch helper. Spawning the helper costs the calling thread a fork of the whole Node
 * process (several ms for a ~100 MB process) plus the helper's exec and start-up; a helper spawned
 * ahead of time sits blocked reading its spec from fd 3, so a launch only writes the spec.
 *
 * One idle helper at most, for the configuration (binary, stdio, cwd, credentials) of the latest
 * launch. It is spawned only once a process has launched twice with that configuration (a one-shot
 * CLI or the detached monitor launches once and never pays for a helper it would not use), and
 * right after a launch handed its spec over, so the fork overlaps the container's setup in the
 * helper instead of the next run's critical path.
 *
 * Why it is safe to keep one around: it holds nothing but fds 0–4 (it closes anything else a parent
 * let it inherit before it reads), it has not read a spec so it has opened nothing, and it exits on
 * its own when the spec pipe
 * reaches EOF, which happens when this process exits or dies (the write end is ours alone: Node
 * opens pipes close-on-exec). Its handles are unref'd so it never keeps the event loop alive.
 */

interface Idle {
  key: string;
  child: ChildProcess;
  /** Removes the listeners that only make sense while the helper is idle. */
  adopt(): void;
}

let idle: Idle | undefined;
const launchesByKey = new Map<string, number>();

/** `STRATA_LAUNCH_PRESPAWN=0` turns pre-spawning off for the process (each launch spawns its helper). */
function enabled(): boolean {
  return process.env.STRATA_LAUNCH_PRESPAWN !== "0";
}

/** undefined when this process's cwd is gone (then nothing is kept ready). */
function keyOf(binary: string, stdio: StdioOptions): string | undefined {
  let cwd: string;
  try {
    cwd = process.cwd();
  } catch {
    return undefined;
  }
  // a helper inherits cwd and credentials at spawn: one spawned under others must not be reused
  const ids = typeof process.getuid === "function" ? [process.getuid(), process.getgid?.()] : [];
  return JSON.stringify([binary, stdio, cwd, ids]);
}

function handles(child: ChildProcess): Array<{ ref(): unknown; unref(): unknown } | null> {
  return child.stdio.map((s) => s as unknown as { ref(): unknown; unref(): unknown } | null);
}

function setRef(child: ChildProcess, ref: boolean): void {
  if (ref) child.ref();
  else child.unref();
  for (const h of handles(child)) {
    if (!h) continue;
    if (ref) h.ref();
    else h.unref();
  }
}

function spawnIdle(binary: string, stdio: StdioOptions, key: string): void {
  // concurrent launches each schedule one; one ready helper is enough
  if (idle?.key === key && idle.child.exitCode === null && idle.child.signalCode === null) return;
  let child: ChildProcess;
  try {
    child = spawn(binary, [], { stdio });
  } catch {
    return; // the next launch spawns its own helper and reports the error
  }
  const forget = () => {
    if (idle === entry) idle = undefined;
  };
  // an idle helper's stdio carries nothing until its spec is written; keep errors from being unhandled
  const ignore = () => {};
  const entry: Idle = {
    key,
    child,
    adopt() {
      child.off("exit", forget);
      child.off("error", forget);
      for (const s of child.stdio) s?.off("error", ignore);
      setRef(child, true);
    },
  };
  child.once("exit", forget);
  child.once("error", forget);
  for (const s of child.stdio) s?.on("error", ignore);
  setRef(child, false);
  if (idle) void discardPrespawnedHelper();
  idle = entry;
}

/**
 * The helper for this launch: the idle one when it matches and is still alive, else a fresh spawn.
 * Also schedules the next idle helper (see the module comment).
 */
export function takeHelper(binary: string, stdio: StdioOptions, allowed = true): ChildProcess {
  if (!allowed || !enabled()) return spawn(binary, [], { stdio });
  const key = keyOf(binary, stdio);
  if (key === undefined) return spawn(binary, [], { stdio });
  let child: ChildProcess | undefined;
  if (idle && idle.key === key && idle.child.exitCode === null && idle.child.signalCode === null) {
    child = idle.child;
    idle.adopt();
    idle = undefined;
  }
  const count = (launchesByKey.get(key) ?? 0) + 1;
  if (launchesByKey.size > 64) launchesByKey.clear(); // keys that change all the time (cwd) stay bounded
  launchesByKey.set(key, count);
  child ??= spawn(binary, [], { stdio });
  if (count >= 2) setImmediate(() => spawnIdle(binary, stdio, key));
  return child;
}

/**
 * Ends the idle pre-spawned helper, if any, and resolves once it has exited (it would exit with this
 * process anyway). For callers that want no child process around while they are idle, and tests.
 */
export function discardPrespawnedHelper(): Promise<void> {
  const entry = idle;
  idle = undefined;
  if (!entry) return Promise.resolve();
  const { child } = entry;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  setRef(child, true); // the caller awaits its exit: keep the loop alive until then
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.once("error", () => resolve());
  });
  // closing the spec pipe is the helper's signal to exit: no spec, nothing opened, nothing to undo
  (child.stdio[3] as NodeJS.WritableStream | null)?.end();
  return exited;
}
