import { randomBytes } from "node:crypto";
import {
  chmodSync,
  constants,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  rmSync,
  type Stats,
  symlinkSync,
  unlinkSync,
} from "node:fs";
import { type CreationDefaults, probeCreationDefaults, S_ISGID } from "./creation-defaults.js";
import type { UnpackEffects, XattrOp } from "./effects.js";
import { isErrno, UnpackError } from "./errors.js";
import { type FileOutput, syncFileOutput } from "./file-output.js";
import { classifyWhiteout, splitName } from "./paths.js";
import type { TarEntry, TarSink } from "./tar-parser.js";

export type WhiteoutMode = "overlay" | "flat";

const OPEN_NEW_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const MAX_SYMLINK_HOPS = 40;
const OPAQUE_XATTR = "trusted.overlay.opaque";
/** realDirs value of a directory whose creation defaults are not known (it was there before). */
const UNKNOWN_DEFAULTS = -1;

interface OpenFile {
  fd: number;
  entry: TarEntry;
  chown: boolean;
  chmod: boolean;
}

/**
 * Applies tar entries to ONE directory with synchronous fs calls (a thread-pool round trip per small
 * file would dominate the cost). Containment: every parent path is resolved component by component
 * with lstat, symlinks are followed with chroot semantics (an absolute target or ".." never leaves
 * `target`), nothing is ever opened, chmodded, chowned or timed through a symlink, and a cached
 * resolution is dropped as soon as a directory or symlink it may pass through is replaced.
 */
export class Extractor implements TarSink {
  /** Sum of regular-file bytes written (hardlinks counted once), like `docker image inspect` Size. */
  contentBytes = 0;

  private current: OpenFile | undefined;
  /** Normalised parent name -> resolved absolute directory. */
  private readonly dirCache = new Map<string, string>();
  /**
   * Absolute paths known to be real directories (not symlinks) -> the group a file created in it gets
   * (its own group when setgid), or UNKNOWN_DEFAULTS when it was not made by this extraction below the
   * probed target (a default ACL there could change new files' modes).
   */
  private readonly realDirs = new Map<string, number>();
  /** Owner and surviving mode bits of a new file; null when unknown (every file is chowned and chmodded). */
  private defaults: CreationDefaults | null | undefined;
  private readonly pendingXattrs = new Map<string, XattrOp[]>();
  private readonly dirTimes = new Map<string, { atime: number; mtime: number }>();
  /** Flat mode: paths (and their ancestors) that this layer created, so opaque/whiteouts spare them. */
  private readonly unpacked = new Set<string>();
  private whiteoutTemplate: string | undefined;
  private aborted = false;
  /** Where file data and metadata go; switched to a write-behind thread once a layer proves big. */
  private output: FileOutput = syncFileOutput;

  constructor(
    private readonly target: string,
    private readonly mode: WhiteoutMode,
    private readonly effects: UnpackEffects,
    /** Overlay mode: lower layer directories (uppermost first) that implicit parents copy attributes from. */
    private readonly parents: readonly string[] = [],
  ) {}

  entry(entry: TarEntry): void {
    if (this.aborted) throw new UnpackError("EXTRACT_FAILED", "The unpack was aborted.");
    try {
      if (this.defaults === undefined) this.probeDefaults();
      this.apply(entry);
    } catch (err) {
      throw wrap(err, entry.name);
    }
  }

  /**
   * Send file data and metadata to `output` from now on (the file being written, if any, included:
   * its earlier data is already on disk).
   */
  setOutput(output: FileOutput): void {
    this.output = output;
  }

  data(chunk: Buffer): void {
    const cur = this.current;
    if (cur === undefined || chunk.length === 0 || this.aborted) return;
    try {
      this.output.write(cur.fd, chunk);
    } catch (err) {
      throw wrap(err, cur.entry.name);
    }
  }

  endEntry(): void {
    const cur = this.current;
    if (cur === undefined) return;
    this.current = undefined;
    const { fd, entry } = cur;
    try {
      // xattrs go in the end-of-layer batch (after chown, which would clear security.capability;
      // chmod and utimes leave xattrs alone).
      this.output.finish(fd, {
        name: entry.name,
        uid: entry.uid,
        gid: entry.gid,
        mode: entry.mode,
        atime: entry.atime ?? entry.mtime,
        mtime: entry.mtime,
        chown: cur.chown,
        chmod: cur.chmod,
      });
    } catch (err) {
      throw wrap(err, entry.name);
    }
  }

  /** After the last entry: xattrs (one batch), then directory times, then cleanup. */
  finish(): void {
    const ops: XattrOp[] = [];
    for (const list of this.pendingXattrs.values()) ops.push(...list);
    this.pendingXattrs.clear();
    this.effects.setXattrs(ops);
    for (const [path, t] of this.dirTimes) lutimesSync(path, t.atime, t.mtime);
    this.dirTimes.clear();
    this.dropTemplate();
  }

  /** On failure: release the open file and the whiteout template; the target keeps partial content. */
  abort(): void {
    // A chunk still on its way (a push that waited for the writer thread) must not create anything.
    this.aborted = true;
    if (this.current !== undefined) {
      this.output.discard(this.current.fd);
      this.current = undefined;
    }
    this.dropTemplate();
  }

  private apply(entry: TarEntry): void {
    const parts = splitName(entry.name);
    const whiteout = classifyWhiteout(parts, entry.name);
    if (whiteout !== undefined) {
      if (whiteout.kind === "opaque") this.opaque(parts.slice(0, -1));
      else if (whiteout.kind === "whiteout") this.whiteout(parts.slice(0, -1), whiteout.target);
      return; // AUFS metadata is skipped, like moby and containerd
    }
    if (parts.length === 0) {
      if (entry.type !== "dir") {
        throw new UnpackError(
          "UNSAFE_PATH",
          `Tar entry ${JSON.stringify(entry.name)} names the layer root but is a ${entry.type}, not a directory.`,
          { entry: entry.name },
        );
      }
      this.applyDirMeta(this.target, entry);
      return;
    }
    const dir = this.resolveDir(parts.slice(0, -1), true, entry.name) as string;
    const path = `${dir}/${parts[parts.length - 1]}`;
    switch (entry.type) {
      case "file":
        this.createFile(dir, path, entry);
        break;
      case "dir":
        this.createDir(path, parts, entry);
        break;
      case "symlink":
        this.createSymlink(dir, path, entry);
        break;
      case "hardlink":
        this.createHardlink(path, entry);
        break;
      case "char":
      case "block":
      case "fifo":
        this.createNode(path, entry);
        break;
    }
    this.markUnpacked(path);
  }

  private probeDefaults(): void {
    this.defaults = probeCreationDefaults(this.target) ?? null;
    if (this.defaults === null) return;
    const st = lstatSync(this.target);
    this.realDirs.set(this.target, this.newFileGid(st.mode, st.gid));
  }

  /** The group of a file created in a directory of this mode and group (known defaults only). */
  private newFileGid(dirMode: number, dirGid: number): number {
    if (this.defaults == null) return UNKNOWN_DEFAULTS;
    return (dirMode & S_ISGID) !== 0 ? dirGid : this.defaults.gid;
  }

  /** The group a node created in `dir` gets, or UNKNOWN_DEFAULTS (then nothing is assumed about it). */
  private newNodeGid(dir: string): number {
    return this.realDirs.get(dir) ?? UNKNOWN_DEFAULTS;
  }

  /** Whether a node created in `dir` already has the owner the entry asks for. */
  private ownerIsDefault(dirGid: number, entry: TarEntry): boolean {
    return dirGid !== UNKNOWN_DEFAULTS && entry.uid === this.defaults?.uid && entry.gid === dirGid;
  }

  private createFile(dir: string, path: string, entry: TarEntry): void {
    const dirGid = this.newNodeGid(dir);
    const chown = !this.ownerIsDefault(dirGid, entry);
    // Special bits always get an explicit fchmod (after fchown, which would clear them).
    const chmod =
      this.defaults == null || dirGid === UNKNOWN_DEFAULTS || (entry.mode & ~this.defaults.permMask) !== 0;
    // A file created with its final mode is what tar does; one that still needs fchmod starts private.
    const createMode = chmod ? 0o600 : entry.mode;
    let fd: number;
    try {
      fd = openSync(path, OPEN_NEW_FILE, createMode);
    } catch (err) {
      if (!isErrno(err, "EEXIST")) throw err;
      this.removeExisting(path);
      fd = openSync(path, OPEN_NEW_FILE, createMode);
    }
    this.current = { fd, entry, chown, chmod };
    this.contentBytes += entry.size;
    this.queueXattrs(path, entry, true);
  }

  private createDir(path: string, parts: string[], entry: TarEntry): void {
    // A new directory shares its parent's creation defaults (a default ACL is inherited); one that
    // was there before this layer may differ.
    const parent = path.slice(0, path.lastIndexOf("/"));
    let known = this.newNodeGid(parent) !== UNKNOWN_DEFAULTS;
    try {
      mkdirSync(path, 0o700);
    } catch (err) {
      if (!isErrno(err, "EEXIST")) throw err;
      // Directory over directory merges; anything else is replaced.
      if (!lstatSync(path).isDirectory()) {
        this.removeExisting(path);
        mkdirSync(path, 0o700);
      } else {
        known = this.newNodeGid(path) !== UNKNOWN_DEFAULTS;
      }
    }
    this.realDirs.set(path, known ? this.newFileGid(entry.mode, entry.gid) : UNKNOWN_DEFAULTS);
    this.dirCache.set(parts.join("/"), path);
    this.applyDirMeta(path, entry);
  }

  private applyDirMeta(path: string, entry: TarEntry): void {
    lchownSync(path, entry.uid, entry.gid);
    this.queueXattrs(path, entry, true);
    // `path` was just verified to be a real directory, so chmod cannot follow a symlink.
    chmodSync(path, entry.mode);
    this.dirTimes.set(path, { atime: entry.atime ?? entry.mtime, mtime: entry.mtime });
  }

  private createSymlink(dir: string, path: string, entry: TarEntry): void {
    if (entry.linkname === "") {
      throw new UnpackError("INVALID_TAR", `Symlink ${JSON.stringify(entry.name)} has an empty target.`, {
        entry: entry.name,
      });
    }
    try {
      symlinkSync(entry.linkname, path);
    } catch (err) {
      if (!isErrno(err, "EEXIST")) throw err;
      this.removeExisting(path);
      symlinkSync(entry.linkname, path);
    }
    if (!this.ownerIsDefault(this.newNodeGid(dir), entry)) lchownSync(path, entry.uid, entry.gid);
    this.queueXattrs(path, entry, false);
    // No chmod: symlink modes are meaningless and chmod would follow the link (CVE-2021-32760).
    lutimesSync(path, entry.atime ?? entry.mtime, entry.mtime);
  }

  private createHardlink(path: string, entry: TarEntry): void {
    const linkParts = splitName(entry.linkname, "hardlink target");
    const linkDir =
      linkParts.length === 0 ? undefined : this.resolveDir(linkParts.slice(0, -1), false, entry.name);
    const notFound = () =>
      new UnpackError(
        "INVALID_TAR",
        `Hardlink ${JSON.stringify(entry.name)} points at ${JSON.stringify(entry.linkname)}, which is not a file in this layer${this.mode === "flat" ? " or the rootfs" : ""}.`,
        { entry: entry.name },
      );
    if (linkDir === undefined) throw notFound();
    const linkPath = `${linkDir}/${linkParts[linkParts.length - 1]}`;
    if (linkPath === path) return;
    // link(2) does not follow a symlink target: a hardlink to a symlink links the symlink itself.
    // The link gets no metadata of its own: it shares the target inode, which was set already.
    const link = () => {
      try {
        linkSync(linkPath, path);
      } catch (err) {
        if (isErrno(err, "ENOENT")) throw notFound();
        if (isErrno(err, "EPERM")) {
          throw new UnpackError(
            "INVALID_TAR",
            `Hardlink ${JSON.stringify(entry.name)} points at a directory (${entry.linkname}).`,
            { entry: entry.name },
          );
        }
        throw err;
      }
    };
    if (lstatSync(path, { throwIfNoEntry: false }) !== undefined) this.removeExisting(path);
    link();
  }

  private createNode(path: string, entry: TarEntry): void {
    if (lstatSync(path, { throwIfNoEntry: false }) !== undefined) this.removeExisting(path);
    const kind = entry.type === "char" ? "c" : entry.type === "block" ? "b" : "p";
    this.effects.mknod(path, kind, entry.devmajor, entry.devminor);
    lchownSync(path, entry.uid, entry.gid);
    this.queueXattrs(path, entry, false);
    chmodSync(path, entry.mode); // just created by mknod: not a symlink
    lutimesSync(path, entry.atime ?? entry.mtime, entry.mtime);
  }

  private queueXattrs(path: string, entry: TarEntry, userAllowed: boolean): void {
    if (entry.xattrs === undefined) return;
    for (const [name, value] of entry.xattrs) {
      // overlayfs reads trusted.overlay.* / user.overlay.* as instructions (redirect, metacopy, opaque):
      // a layer must not smuggle them in; opaque directories come only from `.wh..wh..opq` markers.
      if (name.startsWith("trusted.overlay.") || name.startsWith("user.overlay.")) continue;
      // The kernel refuses user.* on symlinks and device nodes (containerd skips these too).
      if (!userAllowed && name.startsWith("user.")) continue;
      this.addXattr(path, name, value);
    }
  }

  private addXattr(path: string, name: string, value: Buffer): void {
    const list = this.pendingXattrs.get(path);
    const op = { path, name, value };
    if (list === undefined) this.pendingXattrs.set(path, [op]);
    else list.push(op);
  }

  private opaque(dirParts: string[]): void {
    if (this.mode === "overlay") {
      const dir = this.resolveDir(dirParts, true, dirParts.join("/")) as string;
      this.addXattr(dir, OPAQUE_XATTR, Buffer.from("y"));
      return;
    }
    // Flat: empty the directory of everything this layer did not create, wherever the marker sits.
    const dir = this.resolveDir(dirParts, false, dirParts.join("/"));
    if (dir !== undefined) this.removeNotUnpacked(dir);
  }

  private removeNotUnpacked(dir: string): void {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const path = `${dir}/${d.name}`;
      if (this.unpacked.has(path)) {
        if (d.isDirectory()) this.removeNotUnpacked(path);
        continue;
      }
      this.removeExisting(path);
    }
  }

  private whiteout(dirParts: string[], name: string): void {
    if (this.mode === "overlay") {
      const dir = this.resolveDir(dirParts, true, name) as string;
      const path = `${dir}/${name}`;
      // A file of the same name from this layer is not hidden by the layer's own whiteout.
      if (lstatSync(path, { throwIfNoEntry: false }) !== undefined) return;
      // Whiteouts are char 0/0 nodes; hardlinking one template costs a link(2) instead of a process.
      linkSync(this.template(), path);
      return;
    }
    const dir = this.resolveDir(dirParts, false, name);
    if (dir === undefined) return; // parent absent: nothing to delete
    const path = `${dir}/${name}`;
    if (this.unpacked.has(path)) return;
    if (lstatSync(path, { throwIfNoEntry: false }) !== undefined) this.removeExisting(path);
  }

  private template(): string {
    if (this.whiteoutTemplate === undefined) {
      const path = `${this.target}/.strata-whiteout-${randomBytes(8).toString("hex")}`;
      this.effects.mknod(path, "c", 0, 0);
      chmodSync(path, 0);
      this.whiteoutTemplate = path;
    }
    return this.whiteoutTemplate;
  }

  private dropTemplate(): void {
    if (this.whiteoutTemplate === undefined) return;
    rmSync(this.whiteoutTemplate, { force: true });
    this.whiteoutTemplate = undefined;
  }

  /**
   * A parent the tar did not list. In overlay mode it would shadow the lower layer's directory in the
   * merged view, so it copies owner, mode and times from the first parent layer that has it (as
   * containerd's WithParents does); otherwise root-owned 0755.
   */
  private makeImplicitDir(abs: string, rel: string): void {
    const parent = abs.slice(0, abs.lastIndexOf("/"));
    const known = this.newNodeGid(parent) !== UNKNOWN_DEFAULTS;
    mkdirSync(abs, 0o755);
    let from: Stats | undefined;
    for (const parent of this.parents) {
      const st = lstatSync(`${parent}/${rel}`, { throwIfNoEntry: false });
      if (st?.isDirectory()) {
        from = st;
        break;
      }
    }
    const mode = from === undefined ? 0o755 : from.mode & 0o7777;
    if (from === undefined) {
      chmodSync(abs, mode); // independent of the umask
    } else {
      lchownSync(abs, from.uid, from.gid);
      chmodSync(abs, mode);
      this.dirTimes.set(abs, { atime: from.atimeMs / 1000, mtime: from.mtimeMs / 1000 });
    }
    this.realDirs.set(abs, known ? this.newFileGid(mode, from?.gid ?? UNKNOWN_DEFAULTS) : UNKNOWN_DEFAULTS);
    this.markUnpacked(abs);
  }

  private markUnpacked(path: string): void {
    if (this.mode !== "flat") return;
    let p = path;
    while (p.length > this.target.length && !this.unpacked.has(p)) {
      this.unpacked.add(p);
      p = p.slice(0, p.lastIndexOf("/"));
    }
  }

  /** Remove whatever is at `path` (never following it) and forget every cached fact it may affect. */
  private removeExisting(path: string, st: Stats | undefined = lstatSync(path)): void {
    if (st.isDirectory()) {
      rmSync(path, { recursive: true, force: true });
      const prefix = `${path}/`;
      for (const key of this.unpacked) if (key.startsWith(prefix)) this.unpacked.delete(key);
      for (const map of [this.realDirs, this.pendingXattrs, this.dirTimes]) {
        for (const key of map.keys()) if (key.startsWith(prefix)) map.delete(key);
      }
      // Resolutions may have passed through the removed tree.
      this.dirCache.clear();
    } else {
      unlinkSync(path);
      // Resolutions may have passed through the symlink; realDirs keeps re-resolving cheap.
      if (st.isSymbolicLink()) this.dirCache.clear();
    }
    this.realDirs.delete(path);
    this.pendingXattrs.delete(path);
    this.dirTimes.delete(path);
    this.unpacked.delete(path);
  }

  /**
   * The real directory for `parts` below the target, symlinks followed with chroot semantics and
   * missing directories created (0755) when `create`. Undefined when absent and not creating.
   */
  private resolveDir(parts: string[], create: boolean, entryName: string): string | undefined {
    if (parts.length === 0) return this.target;
    const key = parts.join("/");
    const hit = this.dirCache.get(key);
    if (hit !== undefined) return hit;
    const pending = parts.slice().reverse();
    const cur: string[] = [];
    let hops = 0;
    // Trailing components of `cur` that do not exist: walked lexically ("x/.." is fine even when x is
    // absent, as containerd's RootPath does), never created when a ".." immediately undoes them.
    let missing = 0;
    while (pending.length > 0) {
      const c = pending.pop() as string;
      if (c === "" || c === ".") continue;
      if (c === "..") {
        cur.pop(); // ".." at the root stays at the root, as in a chroot
        if (missing > 0) missing--;
        continue;
      }
      cur.push(c);
      if (missing > 0) {
        missing++;
        continue;
      }
      const abs = `${this.target}/${cur.join("/")}`;
      if (this.realDirs.has(abs)) continue;
      const st = lstatSync(abs, { throwIfNoEntry: false });
      if (st === undefined) {
        if (!create || nextIsDotDot(pending)) {
          missing = 1;
          continue;
        }
        this.makeImplicitDir(abs, cur.join("/"));
      } else if (st.isDirectory()) {
        this.realDirs.set(abs, UNKNOWN_DEFAULTS);
      } else if (st.isSymbolicLink()) {
        if (++hops > MAX_SYMLINK_HOPS) {
          throw new UnpackError(
            "UNSAFE_PATH",
            `Resolving the parent of ${JSON.stringify(entryName)} meets more than ${MAX_SYMLINK_HOPS} symlinks (a loop?).`,
            { entry: entryName },
          );
        }
        const link = readlinkSync(abs);
        cur.pop();
        if (link.startsWith("/")) cur.length = 0;
        const linkParts = link.split("/");
        for (let i = linkParts.length - 1; i >= 0; i--) pending.push(linkParts[i] as string);
      } else {
        if (!create) return undefined;
        throw new UnpackError(
          "INVALID_TAR",
          `The parent ${JSON.stringify(cur.join("/"))} of ${JSON.stringify(entryName)} is a file, not a directory.`,
          { entry: entryName },
        );
      }
    }
    if (missing > 0) return undefined;
    const result = cur.length === 0 ? this.target : `${this.target}/${cur.join("/")}`;
    this.dirCache.set(key, result);
    return result;
  }
}

function nextIsDotDot(pending: string[]): boolean {
  for (let i = pending.length - 1; i >= 0; i--) {
    const c = pending[i];
    if (c === "" || c === ".") continue;
    return c === "..";
  }
  return false;
}

function wrap(err: unknown, entry: string): Error {
  if (err instanceof UnpackError) return err;
  const e = err as NodeJS.ErrnoException;
  return new UnpackError(
    "EXTRACT_FAILED",
    `Could not unpack ${JSON.stringify(entry)}: ${e.code ?? ""} ${e.message}. Check space, permissions (root is needed) and the target filesystem.`,
    { entry, cause: err },
  );
}
