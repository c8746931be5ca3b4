import type { Entry } from "./helpers.js";

/** security.capability v2 with cap_net_raw and cap_setfcap: contains 0x80, which UTF-8 decoding would mangle. */
export const CAP = Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
export const WEIRD = Buffer.from([0xff, 0x00, 0x0a, 0x3d, 0xc3, 0x28]);
export const BIG = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251));
export const LONG = `usr/share/${"long-directory-name-".repeat(4)}/${"file-".repeat(25)}.txt`;
export const D1 = new Date("2020-05-06T07:08:09Z");

/** Base layer: every entry type, owners, special modes, xattrs, long names, fractional mtime. */
export const layer1: Entry[] = [
  { name: "./", type: "directory", mode: 0o755 },
  { name: "./etc/", type: "directory", mode: 0o755, mtime: D1 },
  { name: "./etc/passwd", data: "root:x:0:0::/root:/bin/sh\n", mode: 0o644 },
  { name: "./etc/frac", data: "f", rawPax: { mtime: "1700000000.5" } },
  { name: "./etc/alt", type: "symlink", linkname: "/etc/passwd", mtime: D1 },
  { name: "./bin/", type: "directory", mode: 0o755 },
  { name: "./bin/busybox", data: "#!bb", mode: 0o755 },
  { name: "./bin/sh", type: "symlink", linkname: "busybox" },
  { name: "./bin/su", data: "su", mode: 0o4755 },
  { name: "./bin/sg", data: "sg", mode: 0o2711, gid: 42 },
  { name: "./bin/su-hardlink", type: "link", linkname: "./bin/su" },
  {
    name: "./bin/ping",
    data: "ping",
    mode: 0o755,
    rawPax: {
      "SCHILY.xattr.security.capability": CAP,
      "SCHILY.xattr.user.weird": WEIRD,
      "SCHILY.xattr.user.empty": "",
      "SCHILY.xattr.trusted.overlay.redirect": "/etc",
    },
  },
  { name: "./tmp/", type: "directory", mode: 0o1777 },
  { name: "./home/user/", type: "directory", mode: 0o700, uid: 1000, gid: 1000 },
  { name: "./home/user/notes", data: "mine", mode: 0o600, uid: 1000, gid: 2000 },
  { name: "./dev/", type: "directory", mode: 0o755 },
  { name: "./dev/null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 },
  { name: "./dev/loop9", type: "block-device", devmajor: 7, devminor: 9, mode: 0o660, gid: 6 },
  { name: "./run/fifo", type: "fifo", mode: 0o620 },
  { name: `./${LONG}`, data: "long name" },
  { name: "./opt/", type: "directory" },
  { name: "./opt/a", data: "lower a" },
  { name: "./opt/sub/b", data: "lower b" },
  { name: "./big.bin", data: BIG },
  { name: "./empty", data: "" },
];

/** Whiteouts, an opaque marker after the directory's new content, a replaced file. */
export const layer2: Entry[] = [
  { name: "etc/", type: "directory", mode: 0o755, mtime: D1 },
  { name: "etc/.wh.passwd", data: "" },
  { name: "etc/hosts", data: "127.0.0.1 localhost\n" },
  { name: "bin/", type: "directory" },
  { name: "bin/.wh.sh", data: "" },
  { name: "opt/", type: "directory", mode: 0o750 },
  { name: "opt/new/", type: "directory" },
  { name: "opt/new/file", data: "upper" },
  { name: "opt/.wh..wh..opq", data: "" },
  { name: "home/user/notes", data: "changed", mode: 0o640, uid: 1000, gid: 1000 },
];

/** Re-creates a file the layer below whited out. */
export const layer3: Entry[] = [
  { name: "etc/", type: "directory" },
  { name: "etc/passwd", data: "root:x:0:0::/root:/bin/bash\n", mode: 0o644 },
];
