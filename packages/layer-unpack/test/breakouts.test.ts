import {
  chmodSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describePrivileged } from "@strata/testkit";
import { afterEach, beforeEach, expect, it } from "vitest";
import { UnpackError, unpackLayer } from "../src/index.js";
import { buildTar, chunked, type Entry, fingerprint, MEDIA, removeTree, tempRoot } from "./helpers.js";

/**
 * containerd's TestBreakouts (pkg/archive/tar_test.go) plus the CVE classes of reference-facts §4
 * rows 1-6. Every case runs with a sentinel directory beside the target: after the unpack (success or
 * error) the sentinel must be byte-identical (contents, modes, owners, times, links, xattrs) and
 * nothing may have appeared next to the target.
 */

const F = (name: string, data = "", mode = 0o644): Entry => ({ name, data, mode });
const D = (name: string, mode = 0o755): Entry => ({ name, type: "directory", mode });
const S = (linkname: string, name: string, extra: Partial<Entry> = {}): Entry => ({
  name,
  type: "symlink",
  linkname,
  ...extra,
});
const L = (linkname: string, name: string): Entry => ({ name, type: "link", linkname });

interface Ctx {
  /** The target directory. */
  t: string;
  /** Absolute path of the sentinel directory outside the target. */
  sent: string;
}

interface Case {
  name: string;
  whiteouts?: "overlay" | "flat";
  /** Pre-existing rootfs content (flat mode applies onto it). */
  apply?: (c: Ctx) => void;
  entries: (c: Ctx) => Entry[];
  /** "ok" or the UnpackError code. */
  expect: string;
  validate?: (c: Ctx) => void;
}

const ino = (p: string) => lstatSync(p).ino;
const exists = (p: string) => lstatSync(p, { throwIfNoEntry: false }) !== undefined;

const cases: Case[] = [
  // --- containerd TestBreakouts ---
  {
    name: "SymlinkAbsolute",
    entries: () => [D("etc"), S("/etc", "localetc"), F("/localetc/unbroken", "x")],
    expect: "ok",
    validate: ({ t }) => expect(readFileSync(join(t, "etc/unbroken"), "utf8")).toBe("x"),
  },
  {
    name: "SymlinkUpAndOut",
    entries: () => [D("etc"), D("dummy"), S("/dummy/../etc", "localetc"), F("/localetc/unbroken", "x")],
    expect: "ok",
    validate: ({ t }) => expect(exists(join(t, "etc/unbroken"))).toBe(true),
  },
  {
    name: "SymlinkMultipleAbsolute",
    entries: () => [
      D("etc"),
      D("dummy"),
      S("/etc", "/dummy/etc"),
      S("/dummy/etc", "localetc"),
      F("/dummy/etc/unbroken"),
    ],
    expect: "ok",
    validate: ({ t }) => expect(exists(join(t, "etc/unbroken"))).toBe(true),
  },
  {
    name: "SymlinkMultipleRelative",
    entries: () => [
      D("etc"),
      D("dummy"),
      S("/etc", "/dummy/etc"),
      S("./dummy/etc", "localetc"),
      F("/dummy/etc/unbroken"),
    ],
    expect: "ok",
    validate: ({ t }) => expect(exists(join(t, "etc/unbroken"))).toBe(true),
  },
  {
    name: "SymlinkEmptyFile",
    entries: () => [
      D("etc"),
      F("etc/emptied", "notempty"),
      S("/etc", "localetc"),
      F("/localetc/emptied", ""),
    ],
    expect: "ok",
    validate: ({ t }) => expect(readFileSync(join(t, "etc/emptied"), "utf8")).toBe(""),
  },
  {
    name: "HardlinkRelative",
    entries: () => [
      D("etc", 0o770),
      F("/etc/passwd", "inside"),
      D("breakouts"),
      S("../../etc", "breakouts/d1"),
      L("/breakouts/d1/passwd", "breakouts/mypasswd"),
    ],
    expect: "ok",
    validate: ({ t }) => expect(ino(join(t, "breakouts/mypasswd"))).toBe(ino(join(t, "etc/passwd"))),
  },
  {
    name: "HardlinkDownAndOut",
    entries: () => [
      D("etc", 0o770),
      F("/etc/passwd", "inside"),
      D("breakouts"),
      D("downandout"),
      S("../downandout/../../etc", "breakouts/d1"),
      L("/breakouts/d1/passwd", "breakouts/mypasswd"),
    ],
    expect: "ok",
    validate: ({ t }) => expect(ino(join(t, "breakouts/mypasswd"))).toBe(ino(join(t, "etc/passwd"))),
  },
  {
    name: "HardlinkAbsolute",
    entries: () => [
      D("etc", 0o770),
      F("/etc/passwd", "inside"),
      S("/etc", "localetc"),
      L("/localetc/passwd", "localpasswd"),
    ],
    expect: "ok",
    validate: ({ t }) => expect(ino(join(t, "localpasswd"))).toBe(ino(join(t, "etc/passwd"))),
  },
  {
    name: "HardlinkRelativeLong",
    entries: () => [
      D("etc", 0o770),
      F("/etc/passwd", "inside"),
      S("../../../../../../../etc", "localetc"),
      L("/localetc/passwd", "localpasswd"),
    ],
    expect: "ok",
    validate: ({ t }) => expect(ino(join(t, "localpasswd"))).toBe(ino(join(t, "etc/passwd"))),
  },
  {
    name: "HardlinkRelativeUpAndOut",
    entries: () => [
      D("etc", 0o770),
      F("/etc/passwd", "inside"),
      S("upandout/../../../etc", "localetc"),
      L("/localetc/passwd", "localpasswd"),
    ],
    expect: "ok",
    validate: ({ t }) => expect(ino(join(t, "localpasswd"))).toBe(ino(join(t, "etc/passwd"))),
  },
  {
    // containerd clamps the ".." at the root; we refuse a link name that climbs out.
    name: "HardlinkDirectRelative",
    entries: () => [
      D("etc", 0o770),
      F("/etc/passwd", "inside"),
      L("../../../../../etc/passwd", "localpasswd"),
    ],
    expect: "UNSAFE_PATH",
    validate: ({ t }) => expect(exists(join(t, "localpasswd"))).toBe(false),
  },
  {
    name: "HardlinkDirectAbsolute",
    entries: () => [D("etc", 0o770), F("/etc/passwd", "inside"), L("/etc/passwd", "localpasswd")],
    expect: "ok",
    validate: ({ t }) => expect(ino(join(t, "localpasswd"))).toBe(ino(join(t, "etc/passwd"))),
  },
  {
    name: "SymlinkParentDirectory",
    entries: () => [
      D("etc", 0o770),
      F("/etc/passwd", "inside"),
      S("/etc/", ".."),
      L("/etc/passwd", "localpasswd"),
    ],
    expect: "UNSAFE_PATH",
  },
  {
    name: "SymlinkEmptyFilename",
    entries: () => [
      D("etc", 0o770),
      F("/etc/passwd", "inside"),
      S("/etc/", "./"),
      L("/etc/passwd", "localpasswd"),
    ],
    expect: "UNSAFE_PATH",
  },
  {
    name: "SymlinkParentRelative",
    entries: () => [
      D("etc", 0o770),
      F("/etc/passwd", "inside"),
      S("/etc/", "localetc/sub/.."),
      L("/etc/passwd", "/localetc/localpasswd"),
    ],
    expect: "ok",
    validate: ({ t }) => expect(ino(join(t, "etc/localpasswd"))).toBe(ino(join(t, "etc/passwd"))),
  },
  {
    name: "SymlinkSlashEnded",
    entries: () => [
      D("etc", 0o770),
      F("/etc/passwd", "inside"),
      D("localetc/", 0o770),
      L("/etc/passwd", "/localetc/localpasswd"),
    ],
    expect: "ok",
    validate: ({ t }) => expect(ino(join(t, "localetc/localpasswd"))).toBe(ino(join(t, "etc/passwd"))),
  },
  {
    name: "SymlinkOverrideDirectory",
    whiteouts: "flat",
    apply: ({ t }) => {
      mkdirSync(join(t, "etc"));
      writeFileSync(join(t, "etc/passwd"), "inside");
      mkdirSync(join(t, "localetc"));
    },
    entries: () => [S("/etc", "localetc"), L("/etc/passwd", "/localetc/localpasswd")],
    expect: "ok",
    validate: ({ t }) => {
      expect(lstatSync(join(t, "localetc")).isSymbolicLink()).toBe(true);
      expect(ino(join(t, "etc/localpasswd"))).toBe(ino(join(t, "etc/passwd")));
    },
  },
  {
    name: "SymlinkOverrideDirectoryRelative",
    whiteouts: "flat",
    apply: ({ t }) => {
      mkdirSync(join(t, "etc"));
      writeFileSync(join(t, "etc/passwd"), "inside");
      mkdirSync(join(t, "localetc"));
    },
    entries: () => [S("../../etc", "localetc"), L("/etc/passwd", "/localetc/localpasswd")],
    expect: "ok",
    validate: ({ t }) => expect(ino(join(t, "etc/localpasswd"))).toBe(ino(join(t, "etc/passwd"))),
  },
  {
    name: "DirectoryOverrideSymlink",
    whiteouts: "flat",
    apply: ({ t }) => {
      mkdirSync(join(t, "etc"));
      writeFileSync(join(t, "etc/passwd"), "inside");
      symlinkSync("/etc", join(t, "localetc"));
    },
    entries: () => [D("/localetc/"), L("/etc/passwd", "/localetc/localpasswd")],
    expect: "ok",
    validate: ({ t }) => {
      expect(lstatSync(join(t, "localetc")).isDirectory()).toBe(true);
      expect(ino(join(t, "localetc/localpasswd"))).toBe(ino(join(t, "etc/passwd")));
    },
  },
  {
    name: "DirectoryOverrideSymlinkAndHardlink",
    whiteouts: "flat",
    apply: ({ t }) => {
      mkdirSync(join(t, "etc"));
      writeFileSync(join(t, "etc/passwd"), "inside");
      symlinkSync("etc", join(t, "localetc"));
      linkSync(join(t, "etc/passwd"), join(t, "etc/localpasswd"));
    },
    entries: () => [D("/localetc/"), F("/localetc/localpasswd", "different")],
    expect: "ok",
    validate: ({ t }) => {
      expect(ino(join(t, "localetc/localpasswd"))).not.toBe(ino(join(t, "etc/passwd")));
      expect(readFileSync(join(t, "etc/passwd"), "utf8")).toBe("inside");
    },
  },
  ...(["flat", "overlay"] as const).flatMap((mode): Case[] => [
    {
      name: `WhiteoutRootParent (${mode})`,
      whiteouts: mode,
      entries: () => [F(".wh...")],
      expect: "INVALID_WHITEOUT",
    },
    {
      name: `WhiteoutParent (${mode})`,
      whiteouts: mode,
      entries: () => [D("etc"), F("etc/.wh...")],
      expect: "INVALID_WHITEOUT",
    },
    {
      name: `WhiteoutRoot (${mode})`,
      whiteouts: mode,
      entries: () => [F(".wh..")],
      expect: "INVALID_WHITEOUT",
    },
    {
      name: `WhiteoutCurrentDirectory (${mode})`,
      whiteouts: mode,
      entries: () => [F("etc/.wh..")],
      expect: "INVALID_WHITEOUT",
    },
    {
      name: `WhiteoutBare (${mode})`,
      whiteouts: mode,
      entries: () => [F("etc/.wh.")],
      expect: "INVALID_WHITEOUT",
    },
    // containerd extracts ".wh.etc/somefile" as a file; a ".wh." directory cannot exist in an image, so we refuse.
    {
      name: `WhiteoutDirectoryName (${mode})`,
      whiteouts: mode,
      entries: () => [F(".wh.etc/somefile", "x")],
      expect: "INVALID_WHITEOUT",
    },
  ]),
  {
    name: "WhiteoutSymlink",
    whiteouts: "flat",
    apply: ({ t }) => {
      mkdirSync(join(t, "etc"));
      writeFileSync(join(t, "etc/passwd"), "all users");
      symlinkSync("/etc", join(t, "localetc"));
    },
    entries: () => [F(".wh.localetc")],
    expect: "ok",
    validate: ({ t }) => {
      expect(readFileSync(join(t, "etc/passwd"), "utf8")).toBe("all users");
      expect(exists(join(t, "localetc"))).toBe(false);
    },
  },
  {
    name: "WhiteoutSymlinkPath",
    whiteouts: "flat",
    apply: ({ t }) => {
      mkdirSync(join(t, "etc"));
      writeFileSync(join(t, "etc/passwd"), "all users");
      writeFileSync(join(t, "etc/whitedout"), "ahhh");
      symlinkSync("/etc", join(t, "localetc"));
    },
    entries: () => [F("localetc/.wh.whitedout")],
    expect: "ok",
    validate: ({ t }) => {
      expect(readFileSync(join(t, "etc/passwd"), "utf8")).toBe("all users");
      expect(exists(join(t, "etc/whitedout"))).toBe(false);
    },
  },
  {
    name: "WhiteoutDeadSymlinkParent",
    whiteouts: "flat",
    apply: ({ t }) => {
      mkdirSync(join(t, "etc"));
      writeFileSync(join(t, "etc/passwd"), "all users");
      symlinkSync("/dne", join(t, "localetc"));
    },
    entries: () => [F("localetc/.wh.etc")],
    expect: "ok",
    validate: ({ t }) => expect(readFileSync(join(t, "etc/passwd"), "utf8")).toBe("all users"),
  },
  {
    name: "WhiteoutRelativePath",
    whiteouts: "flat",
    apply: ({ t }) => {
      mkdirSync(join(t, "etc"));
      writeFileSync(join(t, "etc/passwd"), "all users");
      symlinkSync("/dne", join(t, "localetc"));
    },
    entries: () => [F("dne/../.wh.etc")],
    expect: "ok",
    validate: ({ t }) => expect(exists(join(t, "etc"))).toBe(false),
  },
  {
    name: "HardlinkSymlinkBeforeCreateTarget",
    entries: () => [
      D("etc", 0o770),
      S("/etc/passwd", "localpasswd"),
      L("localpasswd", "localpasswd-dup"),
      F("/etc/passwd", "after"),
    ],
    expect: "ok",
    validate: ({ t }) => {
      expect(lstatSync(join(t, "localpasswd-dup")).isSymbolicLink()).toBe(true);
      expect(ino(join(t, "localpasswd-dup"))).toBe(ino(join(t, "localpasswd")));
    },
  },
  {
    name: "HardlinkSymlinkRelative",
    entries: () => [
      D("etc", 0o770),
      F("/etc/passwd", "inside"),
      S("../../../../../etc/passwd", "passwdlink"),
      L("/passwdlink", "localpasswd"),
    ],
    expect: "ok",
    validate: ({ t }) => expect(ino(join(t, "localpasswd"))).toBe(ino(join(t, "passwdlink"))),
  },
  {
    name: "HardlinkSymlinkAbsolute",
    entries: () => [
      D("etc", 0o770),
      F("/etc/passwd", "inside"),
      S("/etc/passwd", "passwdlink"),
      L("/passwdlink", "localpasswd"),
    ],
    expect: "ok",
    validate: ({ t }) => expect(ino(join(t, "localpasswd"))).toBe(ino(join(t, "passwdlink"))),
  },
  {
    name: "HardlinkSymlinkChmod",
    entries: ({ sent }) => [
      S(`${sent}/perm400`, `${sent}/also-exists-outside-root`, { mode: 0o777 }),
      L(`${sent}/also-exists-outside-root`, "sketchylink"),
    ],
    expect: "ok",
    validate: ({ t }) => expect(lstatSync(join(t, "sketchylink")).isSymbolicLink()).toBe(true),
  },
  // --- reference-facts §4 ---
  {
    name: "tar-slip ../evil (CVE-2021-32804 class)",
    entries: () => [F("../evil", "x")],
    expect: "UNSAFE_PATH",
  },
  { name: "tar-slip a/../../evil", entries: () => [F("a/../../evil", "x")], expect: "UNSAFE_PATH" },
  {
    name: "tar-slip absolute name is contained",
    entries: ({ sent }) => [F(`${sent}/passwd`, "evil")],
    expect: "ok",
    validate: ({ t, sent }) => expect(readFileSync(join(t, sent, "passwd"), "utf8")).toBe("evil"),
  },
  {
    name: "symlink then write through it (CVE-2021-32803)",
    entries: ({ sent }) => [S(sent, "d"), F("d/passwd", "evil"), S("../..", "up"), F("up/evil", "x")],
    expect: "ok",
    validate: ({ t }) => expect(readFileSync(join(t, "evil"), "utf8")).toBe("x"),
  },
  {
    name: "directory replaced by a symlink in the same layer, then written through (CVE-2021-37701)",
    entries: ({ sent }) => [
      D("d"),
      F("d/first", "1"),
      S(sent, "d"),
      F("d/passwd", "evil"),
      F("d/dir/f", "evil"),
    ],
    expect: "ok",
  },
  {
    name: "file then dir then symlink at one name (duplicate tricks)",
    entries: ({ sent }) => [F("x", "1"), D("x"), F("x/y", "2"), S(sent, "x"), F("x/y", "evil"), D("x/z")],
    expect: "ok",
  },
  {
    name: "symlink named . (umoci CVE-2021-29136)",
    entries: ({ sent }) => [S(sent, ".")],
    expect: "UNSAFE_PATH",
  },
  { name: "symlink named / ", entries: ({ sent }) => [S(sent, "/")], expect: "UNSAFE_PATH" },
  {
    name: "chmod/chown/utimes never follow a symlink (CVE-2021-32760)",
    entries: ({ sent }) => [
      S(`${sent}/victim`, "s", { mode: 0o4777, uid: 1234, gid: 1234 }),
      S("../victim", "s2", { mode: 0o777 }),
    ],
    expect: "ok",
  },
  { name: "hardlink up and out", entries: () => [L("../../sentinel/passwd", "h")], expect: "UNSAFE_PATH" },
  {
    name: "hardlink to an absolute host path is looked up inside",
    entries: ({ sent }) => [L(`${sent}/passwd`, "h")],
    expect: "INVALID_TAR",
  },
  {
    name: "hardlink through a symlinked parent to the host",
    entries: ({ sent }) => [S(sent, "out"), L("out/passwd", "h")],
    expect: "INVALID_TAR",
  },
  {
    name: "write to a lower hardlink replaces it, never writes through it",
    whiteouts: "flat",
    apply: ({ t }) => {
      mkdirSync(join(t, "etc"));
      writeFileSync(join(t, "etc/passwd"), "inside");
    },
    entries: () => [L("etc/passwd", "x"), F("x", "evil")],
    expect: "ok",
    validate: ({ t }) => expect(readFileSync(join(t, "etc/passwd"), "utf8")).toBe("inside"),
  },
  {
    name: "symlink loop in a parent",
    entries: () => [S("b", "a"), S("a", "b"), F("a/f", "x")],
    expect: "UNSAFE_PATH",
  },
  {
    name: "file used as a parent",
    entries: () => [F("f", "x"), S("f", "l"), F("l/x", "y")],
    expect: "INVALID_TAR",
  },
  {
    name: "whiteout below a symlink to the host (flat)",
    whiteouts: "flat",
    apply: ({ t, sent }) => symlinkSync(sent, join(t, "out")),
    entries: () => [F("out/.wh.passwd"), F("out/.wh..wh..opq")],
    expect: "ok",
  },
  {
    name: "whiteout and opaque below a symlink to the host (overlay)",
    entries: ({ sent }) => [
      S(sent, "out"),
      F("out/.wh.passwd"),
      F("out/.wh..wh..opq"),
      S("..", "up"),
      F("up/.wh.sentinel"),
    ],
    expect: "ok",
  },
  {
    name: "whiteout of a directory's parent via a relative symlink (flat)",
    whiteouts: "flat",
    apply: ({ t }) => symlinkSync("../..", join(t, "up")),
    entries: () => [F("up/.wh.sentinel"), F("up/up/.wh.target")],
    expect: "ok",
  },
];

describePrivileged(
  "breakouts: nothing outside the target changes",
  () => {
    let root: string;
    let ctx: Ctx;
    beforeEach(() => {
      root = tempRoot();
      const sent = join(root, "sentinel");
      mkdirSync(join(sent, "dir"), { recursive: true });
      writeFileSync(join(sent, "passwd"), "host secret");
      writeFileSync(join(sent, "victim"), "victim");
      writeFileSync(join(sent, "perm400"), "...");
      chmodSync(join(sent, "perm400"), 0o400);
      writeFileSync(join(sent, "also-exists-outside-root"), "...");
      writeFileSync(join(sent, "dir/f"), "f");
      symlinkSync("../victim", join(sent, "dir/link"));
      const t = join(root, "target");
      mkdirSync(t);
      ctx = { t, sent };
    });
    afterEach(() => removeTree(root));

    it.each(cases.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
      c.apply?.(ctx);
      const before = fingerprint(ctx.sent);
      const tarBytes = await buildTar(c.entries(ctx));
      let outcome = "ok";
      try {
        await unpackLayer(chunked(tarBytes, 513), {
          target: ctx.t,
          mediaType: MEDIA.none,
          whiteouts: c.whiteouts ?? "overlay",
        });
      } catch (err) {
        if (!(err instanceof UnpackError)) throw err;
        outcome = err.code;
      }
      expect(outcome).toBe(c.expect);
      expect(fingerprint(ctx.sent)).toBe(before);
      expect(readdirSync(root).sort()).toEqual(["sentinel", "target"]);
      c.validate?.(ctx);
    });

    it("a rejected '.' symlink layer leaves the target usable for the next layer (umoci CVE-2021-29136)", async () => {
      const before = fingerprint(ctx.sent);
      await expect(
        unpackLayer(chunked(await buildTar([S(ctx.sent, "."), F("x", "1")])), {
          target: ctx.t,
          mediaType: MEDIA.none,
          whiteouts: "flat",
        }),
      ).rejects.toMatchObject({ code: "UNSAFE_PATH" });
      await unpackLayer(chunked(await buildTar([F("x", "layer 2")])), {
        target: ctx.t,
        mediaType: MEDIA.none,
        whiteouts: "flat",
      });
      expect(lstatSync(ctx.t).isDirectory()).toBe(true);
      expect(readFileSync(join(ctx.t, "x"), "utf8")).toBe("layer 2");
      expect(fingerprint(ctx.sent)).toBe(before);
    });
  },
  { commands: ["getfattr", "mknod", "setfattr"] },
);
