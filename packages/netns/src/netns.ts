import { constants } from "node:fs";
import { lstat, mkdir, open, readdir, readlink, stat, statfs, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import { NetnsError } from "./errors.js";
import { isSharedMountPoint } from "./mountinfo.js";
import { assertNetnsName } from "./names.js";
import { type CommandResult, type CommandRunner, shellQuote, spawnRunner } from "./runner.js";

/** Where `ip netns` keeps its namespaces (iproute2's NETNS_RUN_DIR; /var/run is /run). */
export const DEFAULT_NETNS_ROOT = "/run/netns";
/** statfs f_type of a bind-mounted namespace file (NSFS_MAGIC). */
const NSFS_MAGIC = 0x6e736673;

export interface NetnsOptions {
  /** The run directory; default /run/netns, which `ip netns` also uses. */
  root?: string;
  /** Runs mount/umount/unshare/flock/ip/nsenter; default spawns them. */
  runner?: CommandRunner;
  /** Read to see whether the root is already a shared mount point; default /proc/self/mountinfo. */
  mountInfoPath?: string;
}

export interface NetnsHandle {
  name: string;
  /** The bind-mounted namespace file: pass it to `nsenter --net=`, setns(2) or CNI_NETNS. */
  path: string;
}

export interface NetnsEntry extends NetnsHandle {
  /** False for a leftover file that no longer has a namespace bind-mounted on it. */
  active: boolean;
}

export interface DeleteResult extends NetnsHandle {
  /**
   * With `findHolders`: processes that were still inside the namespace. Deleting detaches the bind
   * mount lazily; the namespace (and its interfaces) lives on until these exit, as with `ip netns del`.
   */
  heldBy?: number[];
}

function context(options: NetnsOptions) {
  const root = resolve(options.root ?? DEFAULT_NETNS_ROOT);
  return { root, runner: options.runner ?? spawnRunner(), mountInfoPath: options.mountInfoPath };
}

async function must(
  runner: CommandRunner,
  argv: string[],
  netns: string,
  what: string,
): Promise<CommandResult> {
  const result = await runner.run(argv);
  if (result.exitCode !== 0) {
    throw new NetnsError(
      "NETNS_COMMAND_FAILED",
      `${what} for network namespace "${netns}" failed: \`${shellQuote(argv)}\` exited ${result.exitCode}: ${result.stderr.trim()}`,
      { netns, command: argv, stderr: result.stderr },
    );
  }
  return result;
}

/**
 * The "propagation trick" of `ip netns add` (iproute2 netns_add): make the run dir a shared mount,
 * bind-mounting it on itself first when it is not a mount point, under flock(dir) so parallel adds do
 * not stack bind mounts (Debian #949235). Skipped when the dir already is a shared mount point.
 */
async function ensureSharedRoot(root: string, runner: CommandRunner, mountInfoPath?: string): Promise<void> {
  await mkdir(root, { recursive: true, mode: 0o755 });
  if (await isSharedMountPoint(root, mountInfoPath)) return;
  const script =
    'mount --make-rshared "$1" 2>/dev/null || { mount --rbind "$1" "$1" && mount --make-rprivate "$1" && mount --make-rshared "$1"; }';
  await must(
    runner,
    ["flock", "-x", root, "sh", "-c", script, "sh", root],
    root,
    "making the run directory a shared mount",
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}

/** Creates the empty mount-point file with O_CREAT|O_EXCL, mode 0, as iproute2 does. */
async function createNsFile(path: string, name: string): Promise<void> {
  try {
    const handle = await open(path, constants.O_RDONLY | constants.O_CREAT | constants.O_EXCL, 0);
    await handle.close();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") {
      throw new NetnsError(
        "NETNS_EXISTS",
        `network namespace "${name}" already exists at ${path}; pick another name or delete it first (ip netns del ${name})`,
        { netns: name, cause: error },
      );
    }
    throw error;
  }
}

/** Undo a half-made namespace file: detach whatever got mounted and remove the file. */
async function discard(path: string, runner: CommandRunner): Promise<void> {
  await runner.run(["umount", "-l", path]);
  await unlink(path).catch(() => {});
}

/** The file of namespace `name` under the root (validates the name). */
export function netnsPath(name: string, options: Pick<NetnsOptions, "root"> = {}): string {
  assertNetnsName(name);
  return join(resolve(options.root ?? DEFAULT_NETNS_ROOT), name);
}

/**
 * Creates a named network namespace exactly where and how `ip netns add NAME` does (shared run dir,
 * O_EXCL file, bind mount of a fresh net namespace), then sets its loopback up. `unshare --net=FILE`
 * does the unshare + bind mount because Node cannot unshare(CLONE_NEWNET) itself.
 */
export async function addNetns(name: string, options: NetnsOptions = {}): Promise<NetnsHandle> {
  assertNetnsName(name);
  const { root, runner, mountInfoPath } = context(options);
  await ensureSharedRoot(root, runner, mountInfoPath);
  const path = join(root, name);
  await createNsFile(path, name);
  try {
    // `ip link set lo up` runs inside the new namespace, after unshare has bind-mounted it on `path`.
    await must(runner, ["unshare", `--net=${path}`, "ip", "link", "set", "lo", "up"], name, "creating");
  } catch (error) {
    await discard(path, runner);
    throw error;
  }
  return { name, path };
}

/** Names a running process's network namespace, as `ip netns attach NAME PID` does. */
export async function attachNetns(
  name: string,
  pid: number,
  options: NetnsOptions = {},
): Promise<NetnsHandle> {
  assertNetnsName(name);
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new NetnsError("INVALID_ARGUMENT", `cannot attach "${name}": ${pid} is not a process id`, {
      netns: name,
    });
  }
  const { root, runner, mountInfoPath } = context(options);
  await ensureSharedRoot(root, runner, mountInfoPath);
  const path = join(root, name);
  await createNsFile(path, name);
  try {
    await must(runner, ["mount", "--bind", `/proc/${pid}/ns/net`, path], name, "attaching");
  } catch (error) {
    await discard(path, runner);
    throw error;
  }
  return { name, path };
}

/** Process ids whose network namespace is the one bind-mounted at `path` (like `ip netns pids`). */
export async function netnsPids(name: string, options: Pick<NetnsOptions, "root"> = {}): Promise<number[]> {
  const path = netnsPath(name, options);
  let target: { dev: number; ino: number };
  try {
    if ((await statfs(path)).type !== NSFS_MAGIC) return [];
    target = await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  // One stat per process; done concurrently because /proc/PID/ns/net lookups are slow-ish (~0.1 ms each).
  const entries = (await readdir("/proc")).filter((e) => /^\d+$/.test(e));
  const matches = await Promise.all(
    entries.map(async (entry) => {
      try {
        const ns = await stat(`/proc/${entry}/ns/net`);
        return ns.ino === target.ino && ns.dev === target.dev ? Number(entry) : undefined;
      } catch {
        return undefined; // exited, or not ours to inspect
      }
    }),
  );
  const pids = matches.filter((pid): pid is number => pid !== undefined);
  return pids.sort((a, b) => a - b);
}

/**
 * Deletes a named namespace like `ip netns del`: lazy unmount (MNT_DETACH), then unlink. A namespace
 * still used by processes keeps existing until they exit. With `findHolders: true` they are returned in
 * `heldBy` (a scan of /proc, ~20 ms with a few hundred processes, so it is opt-in).
 */
export async function deleteNetns(
  name: string,
  options: NetnsOptions & { findHolders?: boolean } = {},
): Promise<DeleteResult> {
  assertNetnsName(name);
  const { root, runner } = context(options);
  const path = join(root, name);
  if (!(await exists(path))) {
    throw new NetnsError("NETNS_NOT_FOUND", `network namespace "${name}" does not exist (no ${path})`, {
      netns: name,
    });
  }
  const heldBy = options.findHolders ? await netnsPids(name, { root }) : undefined;
  // iproute2 ignores the umount result (the file may be a leftover that is not mounted).
  await runner.run(["umount", "-l", path]);
  try {
    await unlink(path);
  } catch (error) {
    throw new NetnsError("NETNS_COMMAND_FAILED", `cannot remove ${path}: ${(error as Error).message}`, {
      netns: name,
      cause: error,
    });
  }
  return heldBy === undefined ? { name, path } : { name, path, heldBy };
}

/** Named namespaces under the root, sorted by name: strata's and those `ip netns add` made. */
export async function listNetns(options: Pick<NetnsOptions, "root"> = {}): Promise<NetnsEntry[]> {
  const root = resolve(options.root ?? DEFAULT_NETNS_ROOT);
  let names: string[];
  try {
    names = await readdir(root);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const entries: NetnsEntry[] = [];
  for (const name of names.sort()) {
    const path = join(root, name);
    let active = false;
    try {
      active = (await statfs(path)).type === NSFS_MAGIC;
    } catch {
      active = false;
    }
    entries.push({ name, path, active });
  }
  return entries;
}

/** The command that runs argv inside the namespace: `ip netns exec` under /run/netns, else nsenter. */
export function execCommand(name: string, argv: readonly string[], options: Pick<NetnsOptions, "root"> = {}) {
  const path = netnsPath(name, options);
  if (argv.length === 0)
    throw new NetnsError("INVALID_ARGUMENT", `no command given to run in network namespace "${name}"`, {
      netns: name,
    });
  // `ip netns exec` only knows /run/netns; it also remounts /sys and binds /etc/netns/NAME/*.
  if (path === join(DEFAULT_NETNS_ROOT, name)) return ["ip", "netns", "exec", name, ...argv];
  return ["nsenter", `--net=${path}`, "--", ...argv];
}

/** Runs argv inside the namespace and returns its exit code and output (a non-zero exit is not thrown). */
export async function execInNetns(
  name: string,
  argv: readonly string[],
  options: NetnsOptions & { input?: string } = {},
): Promise<CommandResult> {
  const command = execCommand(name, argv, options);
  const { root, runner } = context(options);
  if (!(await exists(join(root, name)))) {
    throw new NetnsError(
      "NETNS_NOT_FOUND",
      `network namespace "${name}" does not exist (no ${join(root, name)})`,
      {
        netns: name,
      },
    );
  }
  return runner.run(command, options.input === undefined ? {} : { input: options.input });
}

/** The readlink of /proc/self/ns/net, e.g. "net:[4026531840]": identifies the caller's namespace. */
export async function currentNetnsId(): Promise<string> {
  return readlink("/proc/self/ns/net");
}

/** Shell commands equivalent to each operation, as the guide teaches them (for `--explain`). */
export const explainNetns = {
  add: (name: string): string[] => [
    shellQuote(["ip", "netns", "add", name]),
    shellQuote(["ip", "-n", name, "link", "set", "lo", "up"]),
  ],
  delete: (name: string): string[] => [shellQuote(["ip", "netns", "del", name])],
  list: (): string[] => ["ip netns list"],
  exec: (name: string, argv: readonly string[]): string[] => [
    shellQuote(["ip", "netns", "exec", name, ...argv]),
  ],
};
