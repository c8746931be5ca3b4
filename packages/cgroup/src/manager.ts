import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { CgroupError, errnoOf, writeFailed } from "./errors.js";
import {
  type CgroupFs,
  type CgroupObserver,
  nodeCgroupFs,
  observeFs,
  observeSignal,
  type SignalFn,
} from "./fs.js";
import type { CgroupGroup, Controller, GroupContext } from "./group.js";
import type { CgroupLimits } from "./limits.js";
import { type CgroupMode, detectCgroupMode } from "./mode.js";
import { V1Group } from "./v1.js";
import { V2Group } from "./v2.js";

export interface CgroupManagerOptions {
  /** Where cgroupfs is mounted (default `/sys/fs/cgroup`). */
  root?: string;
  /** Parent group of every container, one or more path segments (default `strata`). */
  parent?: string;
  /** Filesystem effects (default: the real one). */
  fs?: CgroupFs;
  /** Signal delivery for kill-all (default `process.kill`). */
  signal?: SignalFn;
  /** Sees every effect (see `createRecorder`, `explainEffects` for `--explain`). */
  observer?: CgroupObserver;
  /** Skip statfs detection. */
  mode?: CgroupMode;
  /** Default bound for kill-all and remove waits (default 5000 ms). */
  timeoutMs?: number;
}

export interface CreateOptions {
  limits?: CgroupLimits;
  /**
   * Controllers to create the group with. Default: pids, memory, cpu, plus freezer on v1 when
   * mounted (v2 freezes without a controller).
   */
  controllers?: Controller[];
}

export interface CgroupManager {
  readonly mode: CgroupMode;
  readonly version: 1 | 2;
  readonly root: string;
  readonly parent: string;
  /** Make the container's group (CGROUP_EXISTS if it is there) and write `limits`. */
  create(id: string, options?: CreateOptions): Promise<CgroupGroup>;
  /** An existing group (CGROUP_NOT_FOUND if absent). */
  open(id: string): Promise<CgroupGroup>;
  /** Ids of the groups under the parent. */
  list(): Promise<string[]>;
  /** rmdir the parent chain where empty; true when it is gone. */
  pruneParent(): Promise<boolean>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const DEFAULT_CONTROLLERS: Controller[] = ["pids", "memory", "cpu"];
const V2_CONTROLLERS = new Set<Controller>(["pids", "memory", "cpu"]);

function checkName(kind: string, name: string): void {
  if (!NAME.test(name) || name === "." || name === "..") {
    throw new CgroupError(
      "INVALID_CGROUP_NAME",
      `${kind} ${JSON.stringify(name)} is not a valid cgroup name: use letters, digits, '_', '.', '-' (first a letter or digit, at most 128)`,
    );
  }
}

/** Detect the cgroup layout under `root` and return a manager for container groups. */
export async function openCgroupManager(options: CgroupManagerOptions = {}): Promise<CgroupManager> {
  const root = options.root ?? "/sys/fs/cgroup";
  const parent = options.parent ?? "strata";
  const segments = parent.split("/");
  for (const s of segments) checkName("parent segment", s);
  const observer = options.observer;
  const baseFs = options.fs ?? nodeCgroupFs();
  const fs = observer ? observeFs(baseFs, observer) : baseFs;
  const baseSignal: SignalFn = options.signal ?? ((pid, sig) => process.kill(pid, sig));
  const signal = observer ? observeSignal(baseSignal, observer) : baseSignal;
  const ctx: GroupContext = { fs, signal, timeoutMs: options.timeoutMs ?? 5000, sleep: (ms) => delay(ms) };
  const mode = options.mode ?? (await detectCgroupMode(fs, root));
  return mode === "unified"
    ? new V2Manager(root, parent, segments, ctx)
    : new V1Manager(mode, root, parent, segments, ctx);
}

/** mkdir a parent level unless it is there (looked up first so `--explain` shows no failing mkdir). */
async function ensureDir(fs: CgroupFs, path: string): Promise<void> {
  if (!(await isDir(fs, path))) await mkdirOnce(fs, path);
}

async function mkdirOnce(fs: CgroupFs, path: string): Promise<boolean> {
  try {
    await fs.mkdir(path);
    return true;
  } catch (error) {
    if (errnoOf(error) === "EEXIST") return false;
    throw mkdirFailed(path, error);
  }
}

function mkdirFailed(path: string, error: unknown): CgroupError {
  const errno = errnoOf(error);
  if (errno === "EACCES" || errno === "EPERM" || errno === "EROFS") {
    return new CgroupError(
      "CGROUP_PERMISSION_DENIED",
      `cannot create ${path} (${errno}): run as root, or delegate the cgroup subtree to your user`,
      { path, cause: error },
    );
  }
  return new CgroupError("CGROUP_WRITE_FAILED", `cannot create ${path} (${errno ?? String(error)})`, {
    path,
    cause: error,
  });
}

async function isDir(fs: CgroupFs, path: string): Promise<boolean> {
  try {
    await fs.list(path);
    return true;
  } catch {
    return false;
  }
}

async function listDirs(fs: CgroupFs, dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.list(dir);
  } catch (error) {
    if (errnoOf(error) === "ENOENT") return [];
    throw error;
  }
  const out: string[] = [];
  for (const name of names.sort()) if (NAME.test(name) && (await isDir(fs, join(dir, name)))) out.push(name);
  return out;
}

async function pruneChain(fs: CgroupFs, base: string, segments: string[]): Promise<boolean> {
  for (let i = segments.length; i > 0; i--) {
    const dir = join(base, ...segments.slice(0, i));
    try {
      await fs.rmdir(dir);
    } catch (error) {
      const errno = errnoOf(error);
      if (errno === "ENOENT") continue;
      if (errno === "EBUSY" || errno === "ENOTEMPTY") return false;
      throw mkdirFailed(dir, error);
    }
  }
  return true;
}

class V1Manager implements CgroupManager {
  readonly version = 1 as const;

  constructor(
    readonly mode: CgroupMode,
    readonly root: string,
    readonly parent: string,
    private readonly segments: string[],
    private readonly ctx: GroupContext,
  ) {}

  private async mounted(): Promise<Set<string>> {
    try {
      return new Set(await this.ctx.fs.list(this.root));
    } catch (error) {
      throw new CgroupError(
        "UNSUPPORTED_CGROUP_FS",
        `cannot list ${this.root} (${errnoOf(error) ?? error})`,
        {
          path: this.root,
          cause: error,
        },
      );
    }
  }

  private async controllers(requested: Controller[] | undefined): Promise<Controller[]> {
    const mounted = await this.mounted();
    const wanted = requested ?? [
      ...DEFAULT_CONTROLLERS,
      ...(mounted.has("freezer") ? (["freezer"] as const) : []),
    ];
    for (const c of wanted) {
      if (!mounted.has(c)) {
        throw new CgroupError(
          "CONTROLLER_UNAVAILABLE",
          `the ${c} cgroup v1 hierarchy is not mounted at ${join(this.root, c)}: mount it (mount -t cgroup -o ${c} cgroup ${join(this.root, c)}) or leave ${c} out`,
          { path: join(this.root, c) },
        );
      }
    }
    return [...new Set(wanted)];
  }

  private group(id: string, controllers: Controller[]): V1Group {
    const dirs: Partial<Record<Controller, string>> = {};
    for (const c of controllers) dirs[c] = join(this.root, c, ...this.segments, id);
    return new V1Group(id, dirs, this.ctx);
  }

  async create(id: string, options: CreateOptions = {}): Promise<CgroupGroup> {
    checkName("cgroup id", id);
    const controllers = await this.controllers(options.controllers);
    const group = this.group(id, controllers);
    const made: string[] = [];
    try {
      for (const c of controllers) {
        let dir = join(this.root, c);
        for (const s of this.segments) {
          dir = join(dir, s);
          await ensureDir(this.ctx.fs, dir);
        }
        const leaf = join(dir, id);
        if (!(await mkdirOnce(this.ctx.fs, leaf))) {
          throw new CgroupError(
            "CGROUP_EXISTS",
            `cgroup ${leaf} already exists: another container uses id ${id} (remove it, or pick another id)`,
            { path: leaf },
          );
        }
        made.push(leaf);
      }
      if (options.limits) await group.setLimits(options.limits);
    } catch (error) {
      for (const dir of made.reverse()) await this.ctx.fs.rmdir(dir).catch(() => undefined);
      throw error;
    }
    return group;
  }

  async open(id: string): Promise<CgroupGroup> {
    checkName("cgroup id", id);
    const mounted = await this.mounted();
    const present: Controller[] = [];
    for (const c of [...DEFAULT_CONTROLLERS, "freezer" as const]) {
      if (mounted.has(c) && (await isDir(this.ctx.fs, join(this.root, c, ...this.segments, id))))
        present.push(c);
    }
    if (present.length === 0) {
      throw new CgroupError(
        "CGROUP_NOT_FOUND",
        `no cgroup ${this.parent}/${id} under ${this.root}: is the id right?`,
        {
          path: join(this.root, "pids", ...this.segments, id),
        },
      );
    }
    return this.group(id, present);
  }

  async list(): Promise<string[]> {
    const ids = new Set<string>();
    const mounted = await this.mounted();
    for (const c of [...DEFAULT_CONTROLLERS, "freezer" as const]) {
      if (!mounted.has(c)) continue;
      for (const id of await listDirs(this.ctx.fs, join(this.root, c, ...this.segments))) ids.add(id);
    }
    return [...ids].sort();
  }

  async pruneParent(): Promise<boolean> {
    const mounted = await this.mounted();
    let gone = true;
    for (const c of [...DEFAULT_CONTROLLERS, "freezer" as const]) {
      if (mounted.has(c) && !(await pruneChain(this.ctx.fs, join(this.root, c), this.segments))) gone = false;
    }
    return gone;
  }
}

function parseList(text: string): Set<string> {
  return new Set(text.split(/\s+/).filter((w) => w !== ""));
}

class V2Manager implements CgroupManager {
  readonly version = 2 as const;
  readonly mode = "unified" as const;

  constructor(
    readonly root: string,
    readonly parent: string,
    private readonly segments: string[],
    private readonly ctx: GroupContext,
  ) {}

  private dir(id: string): string {
    return join(this.root, ...this.segments, id);
  }

  /** Enable `wanted` top-down from the root to the parent, creating the parent chain. */
  private async prepareParent(wanted: Controller[]): Promise<void> {
    const { fs } = this.ctx;
    const controllersFile = join(this.root, "cgroup.controllers");
    const available = parseList(await fs.read(controllersFile));
    for (const c of wanted) {
      if (!available.has(c)) {
        throw new CgroupError(
          "CONTROLLER_UNAVAILABLE",
          `the ${c} controller is not available in ${controllersFile} (it lists: ${[...available].join(" ") || "nothing"}): it may be bound to a v1 hierarchy; leave ${c} out or free it`,
          { path: controllersFile },
        );
      }
    }
    let dir = this.root;
    for (let i = 0; i <= this.segments.length; i++) {
      if (i > 0) {
        dir = join(dir, this.segments[i - 1] as string);
        await ensureDir(fs, dir);
      }
      if (wanted.length === 0) continue;
      const subtree = join(dir, "cgroup.subtree_control");
      const enabled = parseList(await fs.read(subtree));
      const missing = wanted.filter((c) => !enabled.has(c));
      if (missing.length === 0) continue;
      const data = missing.map((c) => `+${c}`).join(" ");
      try {
        await fs.write(subtree, data);
      } catch (error) {
        if (errnoOf(error) === "EBUSY" && i > 0) {
          throw new CgroupError(
            "CGROUP_BUSY",
            `cannot enable ${missing.join(", ")} in ${subtree}: ${dir} holds processes, and cgroup v2 allows controllers only in groups without them (move them into a leaf group first)`,
            { path: subtree, cause: error },
          );
        }
        throw writeFailed(subtree, data, error);
      }
    }
  }

  async create(id: string, options: CreateOptions = {}): Promise<CgroupGroup> {
    checkName("cgroup id", id);
    const requested = options.controllers ?? DEFAULT_CONTROLLERS;
    // v2 freezes through cgroup.freeze in every group: "freezer" is not a controller to enable.
    const wanted = [...new Set(requested.filter((c) => V2_CONTROLLERS.has(c)))];
    await this.prepareParent(wanted);
    const dir = this.dir(id);
    if (!(await mkdirOnce(this.ctx.fs, dir))) {
      throw new CgroupError(
        "CGROUP_EXISTS",
        `cgroup ${dir} already exists: another container uses id ${id} (remove it, or pick another id)`,
        { path: dir },
      );
    }
    const group = new V2Group(id, dir, wanted, this.ctx);
    if (options.limits) {
      try {
        await group.setLimits(options.limits);
      } catch (error) {
        await this.ctx.fs.rmdir(dir).catch(() => undefined);
        throw error;
      }
    }
    return group;
  }

  async open(id: string): Promise<CgroupGroup> {
    checkName("cgroup id", id);
    const dir = this.dir(id);
    let controllers: Set<string>;
    try {
      controllers = parseList(await this.ctx.fs.read(join(dir, "cgroup.controllers")));
    } catch (error) {
      throw new CgroupError("CGROUP_NOT_FOUND", `no cgroup ${dir}: is the id right?`, {
        path: dir,
        cause: error,
      });
    }
    return new V2Group(
      id,
      dir,
      [...V2_CONTROLLERS].filter((c) => controllers.has(c)),
      this.ctx,
    );
  }

  async list(): Promise<string[]> {
    return listDirs(this.ctx.fs, join(this.root, ...this.segments));
  }

  async pruneParent(): Promise<boolean> {
    return pruneChain(this.ctx.fs, this.root, this.segments);
  }
}
