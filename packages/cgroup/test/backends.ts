/** The backends the contract tests run against: fixture v1, fixture v2, and the real v1 kernel. */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { type CgroupManager, type CgroupManagerOptions, openCgroupManager } from "../src/index.js";
import { type FakeKernel, startFakeKernel } from "./fake-kernel.js";

export const TEST_PREFIX = "strata-test-cgroup";

export function testName(): string {
  return `${TEST_PREFIX}-${randomBytes(4).toString("hex")}`;
}

export interface BackendContext {
  root: string;
  parent: string;
  /** A manager over this backend; extra options (observer, timeouts) merged in. */
  manager(extra?: Partial<CgroupManagerOptions>): Promise<CgroupManager>;
  /** A process id to put in a group: a real `sleep` on the kernel, a made-up pid on fixtures. */
  member(): Promise<number>;
  exists(path: string): Promise<boolean>;
  cleanup(): Promise<void>;
}

export interface Backend {
  name: string;
  version: 1 | 2;
  kernel: boolean;
  setup(): Promise<BackendContext>;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Spawned helpers, killed by pid at cleanup. */
export class Children {
  private readonly all: ChildProcess[] = [];

  spawn(command: string, args: string[], env: Record<string, string> = {}): ChildProcess {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...env } });
    child.on("error", () => undefined);
    this.all.push(child);
    return child;
  }

  async sleeper(): Promise<number> {
    const child = this.spawn("sleep", ["300"]);
    await new Promise((resolve) => child.once("spawn", resolve));
    return child.pid as number;
  }

  async killAll(): Promise<void> {
    for (const child of this.all.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGKILL");
        await exited;
      }
    }
  }
}

/** Remove whatever a test left under `parent` (kills by pid, groups, then the parent itself). */
export async function sweep(manager: CgroupManager): Promise<void> {
  for (const id of await manager.list()) {
    const group = await manager.open(id);
    await group.destroy();
  }
  await manager.pruneParent();
}

function fixtureBackend(version: 1 | 2): Backend {
  return {
    name: `v${version} fixture`,
    version,
    kernel: false,
    async setup() {
      const kernel: FakeKernel = await startFakeKernel({ version });
      const parent = "strata";
      let nextPid = 40_000;
      return {
        root: kernel.root,
        parent,
        manager: (extra = {}) =>
          openCgroupManager({ root: kernel.root, parent, fs: kernel.fs, signal: kernel.signal, ...extra }),
        member: async () => nextPid++,
        exists,
        cleanup: () => kernel.cleanup(),
      };
    },
  };
}

const kernelV1: Backend = {
  name: "v1 kernel (/sys/fs/cgroup)",
  version: 1,
  kernel: true,
  async setup() {
    const root = "/sys/fs/cgroup";
    const parent = testName();
    const children = new Children();
    const manager = (extra: Partial<CgroupManagerOptions> = {}) =>
      openCgroupManager({ root, parent, ...extra });
    return {
      root,
      parent,
      manager,
      member: () => children.sleeper(),
      exists,
      async cleanup() {
        await children.killAll();
        await sweep(await manager());
      },
    };
  },
};

export const BACKENDS: Backend[] = [fixtureBackend(2), fixtureBackend(1), kernelV1];

/** Every directory under the cgroup root whose name carries the test prefix (depth-limited walk). */
export async function leftovers(root = "/sys/fs/cgroup", depth = 4): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string, level: number): Promise<void> {
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const path = join(dir, e.name);
      if (e.name.includes(TEST_PREFIX)) out.push(path);
      if (level < depth) await walk(path, level + 1);
    }
  }
  await walk(root, 0);
  return out;
}

/**
 * A process tree whose every member gets reaped: perl (Essential in Debian) becomes a child
 * subreaper (prctl PR_SET_CHILD_SUBREAPER) and runs `sh -c script`, so orphans of a killed shell are
 * reparented to it and waited for (this host's pid 1 does not reap). Its first output line is the
 * shell's pid; the shell's stdin/stdout/stderr are the handle's.
 */
export interface Tree {
  shellPid: number;
  send(line: string): void;
  /** Resolves once stdout (or stderr) has a line matching `re` (rejects if the tree exits first). */
  waitFor(re: RegExp, stream?: "stdout" | "stderr"): Promise<string>;
  stdout(): string;
  stderr(): string;
  /** Resolves when the reaper has reaped everything and exited. */
  exited: Promise<void>;
}

/** prctl(2)'s syscall number, for perl's `syscall`. */
const PRCTL: Partial<Record<string, number>> = { x64: 157, arm64: 167 };

/** Why spawnTree cannot work here (for describePrivileged's check), or undefined. */
export function treeUnsupported(): string | undefined {
  return PRCTL[process.arch] === undefined ? `no prctl syscall number known for ${process.arch}` : undefined;
}

const REAPER = [
  "$| = 1;",
  "syscall(0 + $ENV{PRCTL_NR}, 36, 1, 0, 0, 0) == 0 or die qq(prctl: $!);",
  "my $pid = fork() // die qq(fork: $!);",
  "if ($pid == 0) { exec('sh', '-c', $ARGV[0]) or die qq(exec: $!); }",
  "print qq($pid\n);",
  "1 while wait() != -1;",
].join("\n");

export async function spawnTree(children: Children, script: string): Promise<Tree> {
  const proc = children.spawn("perl", ["-e", REAPER, script], { PRCTL_NR: String(PRCTL[process.arch]) });
  let out = "";
  let err = "";
  const waiters: Array<() => void> = [];
  proc.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    for (const w of waiters.splice(0)) w();
  });
  proc.stderr?.on("data", (chunk: Buffer) => {
    err += chunk.toString();
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  let done = false;
  void exited.then(() => {
    done = true;
    for (const w of waiters.splice(0)) w();
  });
  const waitFor = (re: RegExp, stream: "stdout" | "stderr" = "stdout") =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const line = (stream === "stdout" ? out : err).split("\n").find((l) => re.test(l));
        if (line !== undefined) resolve(line);
        else if (done) reject(new Error(`tree exited before printing ${re}; stdout=${out} stderr=${err}`));
        else waiters.push(check);
      };
      check();
    });
  const first = await waitFor(/^\d+$/);
  return {
    shellPid: Number(first),
    send: (line) => proc.stdin?.write(`${line}\n`),
    waitFor,
    stdout: () => out,
    stderr: () => err,
    exited,
  };
}
