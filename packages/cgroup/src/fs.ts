import { constants } from "node:fs";
import { mkdir, readdir, readFile, rmdir, statfs, writeFile } from "node:fs/promises";

/** What `statfs(2)` tells us about a mount: only `f_type` matters here. */
export interface StatfsResult {
  type: number;
}

/**
 * Every filesystem effect this package has, on absolute paths. The real one hits cgroupfs; tests
 * pass a fixture directory (with an injected statfs) or record the calls.
 */
export interface CgroupFs {
  /** Whole file as text. */
  read(path: string): Promise<string>;
  /** One write(2) of `data` to an existing file (never creates one: cgroupfs files come from mkdir). */
  write(path: string, data: string): Promise<void>;
  /** Create ONE directory (not recursive): in cgroupfs a mkdir creates a cgroup. */
  mkdir(path: string): Promise<void>;
  /** Remove ONE directory: in cgroupfs an rmdir removes an empty cgroup (EBUSY while populated). */
  rmdir(path: string): Promise<void>;
  /** Names in a directory. */
  list(path: string): Promise<string[]>;
  statfs(path: string): Promise<StatfsResult>;
}

/** Signal delivery, the other effect (kill-all): `process.kill` by default. */
export type SignalFn = (pid: number, signal: NodeJS.Signals) => void;

export interface NodeCgroupFsOptions {
  /** Replace statfs, e.g. to present a fixture directory as cgroup2. */
  statfs?: (path: string) => Promise<StatfsResult>;
}

/** The real filesystem (cgroupfs under /sys/fs/cgroup, or a fixture directory). */
export function nodeCgroupFs(options: NodeCgroupFsOptions = {}): CgroupFs {
  // O_WRONLY|O_TRUNC without O_CREAT: a missing control file must fail (ENOENT) on a fixture tree
  // exactly as on cgroupfs, and write-only files such as cgroup.kill cannot be opened for reading.
  const writeFlags = constants.O_WRONLY | constants.O_TRUNC;
  return {
    read: (path) => readFile(path, "utf8"),
    write: (path, data) => writeFile(path, data, { flag: writeFlags }),
    mkdir: async (path) => {
      await mkdir(path);
    },
    rmdir: (path) => rmdir(path),
    list: (path) => readdir(path),
    statfs: options.statfs ?? (async (path) => ({ type: Number((await statfs(path)).type) })),
  };
}

/** One effect, as an observer sees it (for `--explain` and for tests). */
export type CgroupEffect =
  | { kind: "read"; path: string }
  | { kind: "write"; path: string; data: string }
  | { kind: "mkdir"; path: string }
  | { kind: "rmdir"; path: string }
  | { kind: "list"; path: string }
  | { kind: "statfs"; path: string }
  | { kind: "signal"; pid: number; signal: NodeJS.Signals };

export type CgroupObserver = (effect: CgroupEffect) => void;

/**
 * Wrap a CgroupFs so `observer` sees every call before it runs (a failing call is still reported:
 * it is what was attempted, which is what `--explain` shows).
 */
export function observeFs(fs: CgroupFs, observer: CgroupObserver): CgroupFs {
  return {
    read: (path) => {
      observer({ kind: "read", path });
      return fs.read(path);
    },
    write: (path, data) => {
      observer({ kind: "write", path, data });
      return fs.write(path, data);
    },
    mkdir: (path) => {
      observer({ kind: "mkdir", path });
      return fs.mkdir(path);
    },
    rmdir: (path) => {
      observer({ kind: "rmdir", path });
      return fs.rmdir(path);
    },
    list: (path) => {
      observer({ kind: "list", path });
      return fs.list(path);
    },
    statfs: (path) => {
      observer({ kind: "statfs", path });
      return fs.statfs(path);
    },
  };
}

/** Wrap a signal function so `observer` sees each signal. */
export function observeSignal(signal: SignalFn, observer: CgroupObserver): SignalFn {
  return (pid, sig) => {
    observer({ kind: "signal", pid, signal: sig });
    signal(pid, sig);
  };
}
