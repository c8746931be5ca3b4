import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface Node {
  type: "file" | "dir" | "symlink" | "char" | "block" | "fifo" | "socket";
  mode: number;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  target?: string;
  rdev?: string;
  xattrs?: Record<string, string>;
  mtime?: number;
  ino?: number;
}

function typeOf(st: Awaited<ReturnType<typeof lstat>>): Node["type"] {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "dir";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isCharacterDevice()) return "char";
  if (st.isBlockDevice()) return "block";
  if (st.isFIFO()) return "fifo";
  return "socket";
}

/** All xattrs under root (hex values), via one `getfattr -R` (symlinks not followed). */
export async function xattrsUnder(root: string): Promise<Map<string, Record<string, string>>> {
  const { stdout } = await run(
    "getfattr",
    ["-R", "-P", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", root],
    {
      maxBuffer: 64 << 20,
    },
  ).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? "" }));
  const out = new Map<string, Record<string, string>>();
  let current: string | undefined;
  for (const line of stdout.split("\n")) {
    if (line.startsWith("# file: ")) {
      current = path.relative(root, line.slice(8)) || ".";
      out.set(current, {});
    } else if (current && line.includes("=")) {
      const eq = line.indexOf("=");
      (out.get(current) as Record<string, string>)[line.slice(0, eq)] = line.slice(eq + 1);
    }
  }
  return out;
}

/** A comparable snapshot of a tree: names, types, modes, owners, sizes, content hashes, xattrs, links. */
export async function snapshot(
  root: string,
  options: { mtimes?: boolean; inodes?: boolean } = {},
): Promise<Record<string, Node>> {
  const xattrs = await xattrsUnder(root);
  const out: Record<string, Node> = {};
  const walk = async (rel: string): Promise<void> => {
    const abs = path.join(root, rel);
    const st = await lstat(abs);
    const node: Node = { type: typeOf(st), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    if (node.type === "file") {
      node.size = st.size;
      node.sha256 = createHash("sha256")
        .update(await readFile(abs))
        .digest("hex");
    }
    if (node.type === "symlink") node.target = await readlink(abs);
    if (node.type === "char" || node.type === "block")
      node.rdev = `${Math.floor(st.rdev / 256)}:${st.rdev % 256}`;
    const x = xattrs.get(rel || ".");
    if (x && Object.keys(x).length > 0) node.xattrs = x;
    if (options.mtimes) node.mtime = Math.floor(st.mtimeMs / 1000);
    if (options.inodes) node.ino = st.ino;
    if (rel !== "") out[rel] = node;
    if (node.type === "dir") {
      for (const name of (await readdir(abs)).sort()) await walk(rel ? `${rel}/${name}` : name);
    }
  };
  await walk("");
  return out;
}
