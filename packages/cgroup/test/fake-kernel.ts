/**
 * A fixture cgroup root for tests, as youki does: a temp directory laid out like cgroupfs (from
 * fixtures/cgroup/layout.json) behind the real `nodeCgroupFs`, with statfs injected and the few kernel
 * rules this package relies on emulated: mkdir populates control files, rmdir refuses populated groups,
 * v2 top-down/no-internal-process rules, v1 memsw ≥ memory, value formats, cgroup.kill and freezing.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import {
  CGROUP_SUPER_MAGIC,
  CGROUP2_SUPER_MAGIC,
  type CgroupFs,
  nodeCgroupFs,
  type SignalFn,
  TMPFS_MAGIC,
} from "../src/index.js";

type Files = Record<string, string>;
interface Layout {
  v2: { root: Files; child: { core: Files } & Record<string, Files> };
  v1: { hierarchies: string[]; core: Files; child: Record<string, Files> };
}

const layoutPath = fileURLToPath(new URL("../../../fixtures/cgroup/layout.json", import.meta.url));

function errno(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

export interface FakeKernel {
  root: string;
  fs: CgroupFs;
  signal: SignalFn;
  /** Signals delivered, in order. */
  signals: Array<{ pid: number; signal: string }>;
  /** Kill requests are honoured only after this many signals per pid (stubborn processes). */
  stubborn: Map<number, number>;
  cleanup(): Promise<void>;
}

export interface FakeKernelOptions {
  version: 1 | 2;
  /** v2: leave cgroup.kill out of new groups (kernels before 5.14). */
  noKillFile?: boolean;
  /** v2: the root's cgroup.controllers (default from the layout). */
  controllers?: string;
  /** v1: hierarchies to mount (default all of the layout's). */
  hierarchies?: string[];
}

export async function startFakeKernel(options: FakeKernelOptions): Promise<FakeKernel> {
  const layout = JSON.parse(await readFile(layoutPath, "utf8")) as Layout;
  const root = await mkdtemp(join(tmpdir(), `strata-test-cgroup-v${options.version}-`));
  const real = nodeCgroupFs({
    statfs: async (path) => {
      const rel = relative(root, path);
      if (options.version === 2) {
        if (rel === "" || !rel.startsWith("..")) return { type: CGROUP2_SUPER_MAGIC };
      } else {
        if (rel === "") return { type: TMPFS_MAGIC };
        if (rel === "unified") return { type: CGROUP2_SUPER_MAGIC };
        return { type: CGROUP_SUPER_MAGIC };
      }
      throw errno("ENOENT", path);
    },
  });
  const hierarchies = options.hierarchies ?? layout.v1.hierarchies;

  async function populate(dir: string, files: Files): Promise<void> {
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  }

  if (options.version === 2) {
    await populate(root, layout.v2.root);
    if (options.controllers !== undefined)
      await writeFile(join(root, "cgroup.controllers"), `${options.controllers}\n`);
  } else {
    await mkdir(join(root, "unified"));
    for (const h of hierarchies) {
      await mkdir(join(root, h));
      await populate(join(root, h), layout.v1.core);
    }
  }

  const read = async (path: string) => (await readFile(path, "utf8")).trim();
  const words = (text: string) => text.split(/\s+/).filter((w) => w !== "");
  const isRoot = (dir: string) => (options.version === 2 ? dir === root : dirname(dir) === root);
  const hierarchyOf = (path: string) => relative(root, path).split(sep)[0] ?? "";

  async function groups(dir = root): Promise<string[]> {
    const out = [dir];
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) out.push(...(await groups(join(dir, entry.name))));
    }
    return out;
  }

  async function setProcs(dir: string, pids: number[]): Promise<void> {
    await writeFile(join(dir, "cgroup.procs"), pids.map((p) => `${p}\n`).join(""));
    const current = join(dir, "pids.current");
    if ((await readdir(dir)).includes("pids.current")) await writeFile(current, `${pids.length}\n`);
    if (options.version === 2 && !isRoot(dir)) {
      const events = await read(join(dir, "cgroup.events"));
      await writeFile(
        join(dir, "cgroup.events"),
        `${events.replace(/populated \d/, `populated ${pids.length > 0 ? 1 : 0}`)}\n`,
      );
    }
  }

  const procsOf = async (dir: string) => words(await read(join(dir, "cgroup.procs"))).map(Number);

  /** The kernel moves a task: it leaves its old group of the same hierarchy. */
  async function movePid(dir: string, pid: number): Promise<void> {
    const top = options.version === 2 ? root : join(root, hierarchyOf(dir));
    for (const g of await groups(top)) {
      const pids = await procsOf(g);
      if (g === dir) {
        if (!pids.includes(pid)) await setProcs(g, [...pids, pid]);
      } else if (pids.includes(pid)) {
        await setProcs(
          g,
          pids.filter((p) => p !== pid),
        );
      }
    }
  }

  async function removePid(pid: number): Promise<void> {
    for (const g of await groups()) {
      if (basename(g) === "unified" && options.version === 1) continue;
      const pids = await procsOf(g).catch((): number[] => []);
      if (pids.includes(pid))
        await setProcs(
          g,
          pids.filter((p) => p !== pid),
        );
    }
  }

  const signals: FakeKernel["signals"] = [];
  const stubborn = new Map<number, number>();
  const signal: SignalFn = (pid, sig) => {
    signals.push({ pid, signal: sig });
    const left = stubborn.get(pid) ?? 0;
    if (left > 0) {
      stubborn.set(pid, left - 1);
      return;
    }
    // kill(2) returns at once; the task leaves its groups a moment later (queued behind the
    // calls already in flight, so a later rmdir sees it gone, as with the kernel's ordering).
    void serial(() => removePid(pid)).catch(() => undefined);
  };

  /** The fake kernel handles one call at a time, like the kernel's cgroup_mutex. */
  let queue: Promise<unknown> = Promise.resolve();
  function serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  }

  function checkValue(file: string, data: string): void {
    const int = /^\d+$/;
    const ok: Record<string, (v: string) => boolean> = {
      "pids.max": (v) => v === "max" || int.test(v),
      "memory.max": (v) => v === "max" || int.test(v),
      "memory.swap.max": (v) => v === "max" || int.test(v),
      "cpu.max": (v) =>
        /^(max|\d+)( \d+)?$/.test(v) && (v.startsWith("max") || Number(v.split(" ")[0]) >= 1000),
      "cpu.weight": (v) => int.test(v) && Number(v) >= 1 && Number(v) <= 10000,
      "memory.limit_in_bytes": (v) => v === "-1" || int.test(v),
      "memory.memsw.limit_in_bytes": (v) => v === "-1" || int.test(v),
      "cpu.cfs_quota_us": (v) => v === "-1" || (int.test(v) && Number(v) >= 1000),
      "cpu.cfs_period_us": (v) => int.test(v) && Number(v) >= 1000 && Number(v) <= 1_000_000,
      "cpu.shares": (v) => int.test(v) && Number(v) >= 2,
      "freezer.state": (v) => v === "FROZEN" || v === "THAWED",
      "cgroup.freeze": (v) => v === "0" || v === "1",
      "cgroup.kill": (v) => v === "1",
      "cgroup.procs": (v) => int.test(v),
    };
    if (ok[file] && !ok[file](data.trim())) throw errno("EINVAL", `${file} <- ${data}`);
  }

  const bytes = (v: string) => Number(v === "-1" ? "9223372036854771712" : v);

  const fs: CgroupFs = {
    read: (path) => serial(() => real.read(path)),
    list: (path) => serial(() => real.list(path)),
    statfs: (path) => real.statfs(path),
    mkdir: (path) => serial(() => mkdirGroup(path)),
    rmdir: (path) => serial(() => rmdirGroup(path)),
    write: (path, data) => serial(() => writeControl(path, data)),
  };

  async function mkdirGroup(path: string): Promise<void> {
    await real.mkdir(path);
    const parent = dirname(path);
    if (options.version === 2) {
      const enabled = words(await read(join(parent, "cgroup.subtree_control")));
      await populate(path, layout.v2.child.core);
      await writeFile(join(path, "cgroup.controllers"), `${enabled.join(" ")}\n`);
      if (options.noKillFile) await unlink(join(path, "cgroup.kill"));
      for (const c of enabled) await populate(path, layout.v2.child[c] ?? {});
    } else {
      const h = hierarchyOf(path);
      await populate(path, layout.v1.core);
      await populate(path, layout.v1.child[h] ?? {});
    }
  }

  async function rmdirGroup(path: string): Promise<void> {
    const entries = await readdir(path, { withFileTypes: true });
    if (entries.some((e) => e.isDirectory()) || (await procsOf(path)).length > 0) throw errno("EBUSY", path);
    for (const e of entries) await unlink(join(path, e.name));
    await rmdir(path);
  }

  async function writeControl(path: string, data: string): Promise<void> {
    const dir = dirname(path);
    const file = basename(path);
    // Existence first, like open(2) without O_CREAT.
    if (!(await readdir(dir).catch((): string[] => [])).includes(file)) throw errno("ENOENT", path);
    checkValue(file, data);
    const value = data.trim();
    switch (file) {
      case "cgroup.subtree_control": {
        // A child's available controllers are whatever its parent enables, at every moment.
        const available = words(
          await read(
            isRoot(dir) ? join(dir, "cgroup.controllers") : join(dirname(dir), "cgroup.subtree_control"),
          ),
        );
        const enabled = new Set(words(await read(path)));
        for (const token of words(value)) {
          const name = token.slice(1);
          if (!available.includes(name)) throw errno("ENOENT", `${name} not in ${dir}/cgroup.controllers`);
          if (token.startsWith("+")) enabled.add(name);
          else enabled.delete(name);
        }
        if (!isRoot(dir) && enabled.size > 0 && (await procsOf(dir)).length > 0) throw errno("EBUSY", path);
        await writeFile(path, `${[...enabled].join(" ")}\n`);
        return;
      }
      case "cgroup.procs": {
        if (
          options.version === 2 &&
          !isRoot(dir) &&
          words(await read(join(dir, "cgroup.subtree_control"))).length > 0
        ) {
          throw errno("EBUSY", `${dir} has controllers enabled for its children`);
        }
        await movePid(dir, Number(value));
        return;
      }
      case "cgroup.kill": {
        for (const pid of await procsOf(dir)) signal(pid, "SIGKILL");
        return;
      }
      case "cgroup.freeze": {
        const events = await read(join(dir, "cgroup.events"));
        await writeFile(join(dir, "cgroup.events"), `${events.replace(/frozen \d/, `frozen ${value}`)}\n`);
        await writeFile(path, `${value}\n`);
        return;
      }
      case "memory.limit_in_bytes": {
        const memsw = join(dir, "memory.memsw.limit_in_bytes");
        // Without swap accounting (no memsw file) there is nothing to stay below.
        if ((await readdir(dir)).includes(basename(memsw)) && bytes(value) > bytes(await read(memsw))) {
          throw errno("EINVAL", path);
        }
        break;
      }
      case "memory.memsw.limit_in_bytes": {
        if (bytes(value) < bytes(await read(join(dir, "memory.limit_in_bytes")))) throw errno("EINVAL", path);
        break;
      }
      case "cpu.max": {
        // "max" or "<quota>" alone keeps the period, as the kernel does.
        if (!value.includes(" ")) {
          const period = words(await read(path))[1] ?? "100000";
          await writeFile(path, `${value} ${period}\n`);
          return;
        }
        break;
      }
    }
    // v1 reports "unlimited" as a huge page-aligned number, as the kernel does.
    const stored = value === "-1" && file.startsWith("memory.") ? "9223372036854771712" : value;
    await writeFile(path, `${stored}\n`);
  }

  return {
    root,
    fs,
    signal,
    signals,
    stubborn,
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}
