import { execFile } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { TestkitError } from "./errors.js";

/** Something a test left behind. */
export interface Leak {
  kind: "mount" | "netns" | "link" | "cgroup" | "tmp" | "process";
  /** Mount point, netns name, interface name, cgroup dir, temp path, or "pid: cmdline". */
  name: string;
}

/** Where to look; every root is injectable so the scan itself can be tested without root. */
export interface LeakScanOptions {
  /** Also report links whose name starts with this (interface names are ≤ 15 chars, e.g. "st"). */
  linkPrefix?: string;
  /** Default /proc/self/mountinfo. */
  mountinfoPath?: string;
  /** Default /run/netns. */
  netnsDir?: string;
  /** Default /sys/fs/cgroup. */
  cgroupRoot?: string;
  /** Default os.tmpdir(). */
  tmpDir?: string;
  /** Default /proc. */
  procDir?: string;
  /** Skip the `ip -json link` query (e.g. when `ip` is missing). */
  skipLinks?: boolean;
}

const execFileAsync = promisify(execFile);

/** mountinfo escapes space, tab, newline and backslash as octal. */
const unescapeMount = (s: string) =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

async function readDirNames(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

async function mounts(prefix: string, path: string): Promise<Leak[]> {
  let text = "";
  try {
    text = await readFile(path, "utf8");
  } catch {
    return [];
  }
  const leaks: Leak[] = [];
  for (const line of text.split("\n")) {
    if (!line.includes(prefix)) continue;
    const fields = line.split(" ");
    const mountPoint = unescapeMount(fields[4] ?? "");
    // Overlay mounts name their layers in the super options; the mount point may be anywhere.
    leaks.push({ kind: "mount", name: mountPoint });
  }
  return leaks;
}

async function links(prefix: string, linkPrefix: string | undefined): Promise<Leak[]> {
  let stdout = "";
  try {
    ({ stdout } = await execFileAsync("ip", ["-json", "link", "show"]));
  } catch {
    return [];
  }
  const parsed = JSON.parse(stdout || "[]") as { ifname?: string }[];
  return parsed
    .map((l) => l.ifname ?? "")
    .filter((n) => n.includes(prefix) || (linkPrefix !== undefined && n.startsWith(linkPrefix)))
    .map((name) => ({ kind: "link" as const, name }));
}

async function cgroups(prefix: string, root: string): Promise<Leak[]> {
  const leaks: Leak[] = [];
  // Hybrid hosts have one hierarchy per controller under the root, so walk each for 3 levels.
  const walk = async (dir: string, depth: number): Promise<void> => {
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (!entry.isDirectory()) continue;
      const path = join(dir, entry.name);
      if (entry.name.includes(prefix)) leaks.push({ kind: "cgroup", name: path });
      else if (depth < 3) await walk(path, depth + 1);
    }
  };
  await walk(root, 0);
  return leaks;
}

async function processes(prefix: string, procDir: string): Promise<Leak[]> {
  const leaks: Leak[] = [];
  for (const pid of await readDirNames(procDir)) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      const cmdline = (await readFile(join(procDir, pid, "cmdline"), "utf8")).split("\0").join(" ").trim();
      if (cmdline.includes(prefix)) leaks.push({ kind: "process", name: `${pid}: ${cmdline}` });
    } catch {
      // exited meanwhile
    }
  }
  return leaks;
}

/** Leftovers whose names contain `prefix`: mounts, netns, links, cgroup dirs, temp dirs, processes. */
export async function findLeaks(prefix: string, options: LeakScanOptions = {}): Promise<Leak[]> {
  if (prefix.length < 3) {
    throw new TestkitError(
      "LEAKS_FOUND",
      `findLeaks needs a specific prefix (got '${prefix}'), e.g. 'strata-test-mypkg'`,
    );
  }
  const tmp = options.tmpDir ?? tmpdir();
  const results = await Promise.all([
    mounts(prefix, options.mountinfoPath ?? "/proc/self/mountinfo"),
    readDirNames(options.netnsDir ?? "/run/netns").then((names) =>
      names.filter((n) => n.includes(prefix)).map((name) => ({ kind: "netns" as const, name })),
    ),
    options.skipLinks ? Promise.resolve([]) : links(prefix, options.linkPrefix),
    cgroups(prefix, options.cgroupRoot ?? "/sys/fs/cgroup"),
    readDirNames(tmp).then((names) =>
      names.filter((n) => n.includes(prefix)).map((n) => ({ kind: "tmp" as const, name: join(tmp, n) })),
    ),
    processes(prefix, options.procDir ?? "/proc"),
  ]);
  return results.flat();
}

/** Format leaks one per line. */
export function formatLeaks(leaks: Leak[]): string {
  return leaks.map((l) => `  ${l.kind}: ${l.name}`).join("\n");
}

/** Throws TestkitError LEAKS_FOUND listing every leftover whose name contains `prefix`. */
export async function assertNoLeaks(prefix: string, options: LeakScanOptions = {}): Promise<void> {
  const leaks = await findLeaks(prefix, options);
  if (leaks.length > 0) {
    throw new TestkitError(
      "LEAKS_FOUND",
      `tests left ${leaks.length} object(s) named '*${prefix}*' behind; clean them up in afterEach/afterAll:\n${formatLeaks(leaks)}`,
    );
  }
}
