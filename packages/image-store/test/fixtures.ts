import { type BuiltImage, buildImage, type LayerEntry, tarLayer } from "@strata/testkit";

/** mtime used for every entry of the rich image (seconds since the epoch). */
export const MTIME = 1_600_000_000;
export const XATTR_VALUE = Uint8Array.from([0x00, 0x01, 0x02, 0xff, 0xfe, 0x0a]);

const f = (path: string, content: string, extra: Record<string, unknown> = {}): LayerEntry =>
  ({ type: "file", path, content, mtime: MTIME, ...extra }) as LayerEntry;
const d = (path: string, extra: Record<string, unknown> = {}): LayerEntry =>
  ({ type: "dir", path, mtime: MTIME, ...extra }) as LayerEntry;

/**
 * Base layer: every entry type (dirs, files, symlink, hardlink, char/block devices, fifo), setuid/
 * setgid/sticky modes, non-root owners, a binary user xattr, fixed mtimes.
 */
export const BASE_ENTRIES: LayerEntry[] = [
  d("bin"),
  f("bin/busybox", "#!/bin/sh\necho busybox\n", { mode: 0o755 }),
  { type: "symlink", path: "bin/sh", target: "busybox", mtime: MTIME },
  { type: "hardlink", path: "bin/ls", target: "bin/busybox", mtime: MTIME },
  f("bin/cap", "capable\n", { mode: 0o755, xattrs: { "user.strata.bin": XATTR_VALUE } }),
  d("dev"),
  { type: "char", path: "dev/mynull", major: 1, minor: 3, mode: 0o666, mtime: MTIME },
  { type: "block", path: "dev/myloop", major: 7, minor: 0, mode: 0o660, gid: 6, mtime: MTIME },
  { type: "fifo", path: "dev/myfifo", mode: 0o600, mtime: MTIME },
  d("etc"),
  f("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
  f("etc/motd", "welcome\n"),
  d("usr"),
  d("usr/bin"),
  f("usr/bin/su", "su\n", { mode: 0o4755 }),
  f("usr/bin/wall", "wall\n", { mode: 0o2755, gid: 5 }),
  d("usr/share"),
  d("usr/share/doc"),
  d("usr/share/doc/pkg"),
  f("usr/share/doc/pkg/README", "docs\n"),
  d("tmp", { mode: 0o1777 }),
  d("home"),
  d("home/app", { uid: 1000, gid: 1000, mode: 0o750 }),
  f("home/app/notes", "mine\n", { uid: 1000, gid: 1000, mode: 0o640 }),
  d("opq"),
  f("opq/a", "lower a\n"),
  d("opq/b"),
  f("opq/b/c", "lower c\n"),
];

/**
 * Top layer: file and directory whiteouts, an opaque directory whose marker comes *after* the
 * directory's new children (it must still keep them), a replaced file, a new hardlinked pair.
 */
export const TOP_ENTRIES: LayerEntry[] = [
  { type: "whiteout", path: "etc/motd", mtime: MTIME },
  f("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"),
  f("etc/new", "new\n", { mode: 0o600, uid: 2, gid: 3 }),
  { type: "hardlink", path: "etc/new-link", target: "etc/new", mtime: MTIME },
  { type: "whiteout", path: "usr/share/doc", mtime: MTIME },
  d("opq"),
  f("opq/new", "upper new\n"),
  d("opq/sub"),
  f("opq/sub/deep", "deep\n"),
  { type: "opaque", path: "opq", mtime: MTIME },
];

export async function richImage(): Promise<BuiltImage> {
  return buildImage({
    layers: [await tarLayer(BASE_ENTRIES), await tarLayer(TOP_ENTRIES)],
    config: { Cmd: ["/bin/sh"] },
  });
}
