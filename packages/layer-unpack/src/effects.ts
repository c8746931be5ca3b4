import { spawnSync } from "node:child_process";
import { UnpackError } from "./errors.js";

/** One extended attribute to set. `path` is absolute and never followed if it is a symlink. */
export interface XattrOp {
  path: string;
  name: string;
  value: Buffer;
}

/**
 * The privileged effects Node cannot do itself (no mknod, no setxattr). The default runs host commands;
 * tests may record calls instead, and a native helper could replace it without touching the unpacker.
 */
export interface UnpackEffects {
  /** Create a device node or fifo at `path` (which does not exist). */
  mknod(path: string, kind: "c" | "b" | "p", major: number, minor: number): void;
  /** Set many xattrs at once, without following symlinks. */
  setXattrs(ops: readonly XattrOp[]): void;
}

function run(cmd: string, args: string[], input?: Buffer): void {
  const res = spawnSync(cmd, args, { input, stdio: ["pipe", "ignore", "pipe"], maxBuffer: 16 * 1024 * 1024 });
  if (res.error !== undefined || res.status !== 0) {
    const why = res.error?.message ?? res.stderr?.toString().trim() ?? `exit ${res.status}`;
    throw new UnpackError(
      "EXTRACT_FAILED",
      `${cmd} failed: ${why}. Unpacking needs root (CAP_MKNOD, CAP_SYS_ADMIN for trusted.* xattrs) and the ${cmd} command (attr/coreutils packages).`,
    );
  }
}

/**
 * Quote a path or xattr name for `setfattr --restore`, whose parser turns `\ooo` back into a byte. Every
 * byte that is not plain printable ASCII (and `\`, `=` which the format uses) is escaped.
 */
export function quoteDumpName(s: string): string {
  const bytes = Buffer.from(s, "utf8");
  let out = "";
  for (const b of bytes) {
    if (b > 0x20 && b < 0x7f && b !== 0x5c && b !== 0x3d && b !== 0x22) out += String.fromCharCode(b);
    else out += `\\${b.toString(8).padStart(3, "0")}`;
  }
  return out;
}

/** The getfattr --dump text for `ops`, values base64 ("0s") so any byte survives. */
export function xattrDump(ops: readonly XattrOp[]): Buffer {
  const lines: string[] = [];
  let last: string | undefined;
  for (const op of ops) {
    if (op.path !== last) {
      if (last !== undefined) lines.push("");
      lines.push(`# file: ${quoteDumpName(op.path)}`);
      last = op.path;
    }
    // setfattr rejects an empty "0s"; an empty quoted string is its spelling of a zero-length value.
    const value = op.value.length === 0 ? '""' : `0s${op.value.toString("base64")}`;
    lines.push(`${quoteDumpName(op.name)}=${value}`);
  }
  lines.push("", "");
  return Buffer.from(lines.join("\n"));
}

/** Host commands: `mknod` per node (rare in layers), one `setfattr -h --restore=-` per layer. */
export const commandEffects: UnpackEffects = {
  mknod(path, kind, major, minor) {
    run("mknod", kind === "p" ? ["--", path, "p"] : ["--", path, kind, String(major), String(minor)]);
  },
  setXattrs(ops) {
    if (ops.length === 0) return;
    const res = spawnSync("setfattr", ["-h", "--restore=-"], {
      input: xattrDump(ops),
      stdio: ["pipe", "ignore", "pipe"],
      maxBuffer: 64 * 1024 * 1024,
    });
    if (res.error === undefined && res.status === 0) return;
    // Like containerd, an xattr the filesystem does not support (ENOTSUP) is skipped, not fatal.
    const failures = (res.stderr?.toString() ?? "")
      .split("\n")
      .filter((line) => line.trim() !== "" && !line.endsWith(": Operation not supported"));
    if (res.error === undefined && failures.length === 0) return;
    throw new UnpackError(
      "EXTRACT_FAILED",
      `setfattr failed: ${res.error?.message ?? failures.slice(0, 5).join("; ")}. Setting trusted.* and security.* xattrs needs root, and setfattr comes from the attr package.`,
    );
  },
};
