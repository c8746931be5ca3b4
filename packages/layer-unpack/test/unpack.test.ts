import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import { describePrivileged } from "@strata/testkit";
import { afterEach, beforeEach, expect, it } from "vitest";
import { UnpackError, unpackLayer } from "../src/index.js";
import {
  buildTar,
  type Comp,
  chunked,
  compress,
  getXattr,
  MEDIA,
  removeTree,
  sha256,
  T0,
  tempRoot,
} from "./helpers.js";
import { BIG, CAP, D1, LONG, layer1, layer2, layer3, WEIRD } from "./layers.js";

const T0s = T0.getTime() / 1000;
const D1s = D1.getTime() / 1000;

describePrivileged(
  "unpackLayer (overlay whiteouts, real kernel)",
  () => {
    let root: string;
    let mounted: string[] = [];
    beforeEach(() => {
      root = tempRoot();
    });
    afterEach(() => {
      for (const m of mounted) execFileSync("umount", [m]);
      mounted = [];
      removeTree(root);
    });

    async function unpackInto(name: string, entries: Parameters<typeof buildTar>[0], comp: Comp = "gzip") {
      const tarBytes = await buildTar(entries);
      const blob = compress(tarBytes, comp);
      const target = join(root, name);
      mkdirSync(target);
      const result = await unpackLayer(chunked(blob), {
        target,
        mediaType: MEDIA[comp],
        expectedDigest: sha256(blob),
        expectedDiffId: sha256(tarBytes),
        whiteouts: "overlay",
      });
      return { target, result, tarBytes, blob };
    }

    it.each(["gzip", "zstd", "none"] as const)("unpacks every entry type faithfully (%s)", async (comp) => {
      const { target: t, result, tarBytes, blob } = await unpackInto("l1", layer1, comp);
      expect(result).toMatchObject({
        digest: sha256(blob),
        diffId: sha256(tarBytes),
        size: tarBytes.length,
        compressedSize: blob.length,
        entries: layer1.length,
      });
      const st = (p: string) => lstatSync(join(t, p));
      const mode = (p: string) => st(p).mode & 0o7777;
      // regular files, contents, owners, modes (setuid/setgid/sticky), mtimes
      expect(readFileSync(join(t, "etc/passwd"), "utf8")).toBe("root:x:0:0::/root:/bin/sh\n");
      expect(readFileSync(join(t, "big.bin")).equals(BIG)).toBe(true);
      expect(readFileSync(join(t, "empty")).length).toBe(0);
      expect(readFileSync(join(t, LONG), "utf8")).toBe("long name");
      expect(mode("etc/passwd")).toBe(0o644);
      expect(mode("bin/su")).toBe(0o4755);
      expect(mode("bin/sg")).toBe(0o2711);
      expect(st("bin/sg").gid).toBe(42);
      expect(mode("tmp")).toBe(0o1777);
      expect(mode("home/user")).toBe(0o700);
      expect(st("home/user")).toMatchObject({ uid: 1000, gid: 1000 });
      expect(st("home/user/notes")).toMatchObject({ uid: 1000, gid: 2000 });
      expect(st("etc/passwd").mtimeMs / 1000).toBe(T0s);
      expect(Math.abs(statSync(join(t, "etc/frac")).mtimeMs / 1000 - 1_700_000_000.5)).toBeLessThan(1e-6);
      // directory times are set after their content was created
      expect(st("etc").mtimeMs / 1000).toBe(D1s);
      expect(st("bin").mtimeMs / 1000).toBe(T0s);
      // symlinks keep their target verbatim and get their own times and owner
      expect(readlinkSync(join(t, "etc/alt"))).toBe("/etc/passwd");
      expect(st("etc/alt").mtimeMs / 1000).toBe(D1s);
      expect(readlinkSync(join(t, "bin/sh"))).toBe("busybox");
      // hardlinks share the inode
      expect(st("bin/su-hardlink").ino).toBe(st("bin/su").ino);
      expect(st("bin/su").nlink).toBe(2);
      // devices and fifos
      expect(st("dev/null").isCharacterDevice()).toBe(true);
      expect(st("dev/null").rdev).toBe(0x103);
      expect(mode("dev/null")).toBe(0o666);
      expect(st("dev/loop9").isBlockDevice()).toBe(true);
      expect(st("dev/loop9").rdev).toBe(0x709);
      expect(st("dev/loop9").gid).toBe(6);
      expect(st("run/fifo").isFIFO()).toBe(true);
      expect(mode("run/fifo")).toBe(0o620);
      // binary xattrs survive byte for byte
      expect(getXattr(join(t, "bin/ping"), "security.capability")?.equals(CAP)).toBe(true);
      expect(getXattr(join(t, "bin/ping"), "user.weird")?.equals(WEIRD)).toBe(true);
      expect(getXattr(join(t, "bin/ping"), "user.empty")?.length).toBe(0);
      // overlayfs instructions smuggled in a layer are dropped
      expect(getXattr(join(t, "bin/ping"), "trusted.overlay.redirect")).toBeUndefined();
      expect(execFileSync("getcap", [join(t, "bin/ping")]).toString()).toMatch(
        /cap_net_raw,cap_setfcap=ep|cap_setfcap,cap_net_raw=ep|=ep/,
      );
      // the whiteout template never stays behind
      expect(readdirSync(t).filter((n) => n.startsWith(".strata"))).toEqual([]);
    });

    it("skips xattrs the filesystem does not support, fails on ones it rejects", async () => {
      const ok = await buildTar([
        { name: "f", data: "x", rawPax: { "SCHILY.xattr.bogus.ns": "1", "SCHILY.xattr.user.kept": "2" } },
      ]);
      const t1 = join(root, "t1");
      mkdirSync(t1);
      await unpackLayer(chunked(ok), { target: t1, mediaType: MEDIA.none, whiteouts: "overlay" });
      expect(getXattr(join(t1, "f"), "user.kept")?.toString()).toBe("2");
      const bad = await buildTar([
        { name: "f", data: "x", rawPax: { "SCHILY.xattr.security.capability": "junk" } },
      ]);
      const t2 = join(root, "t2");
      mkdirSync(t2);
      await expect(
        unpackLayer(chunked(bad), { target: t2, mediaType: MEDIA.none, whiteouts: "overlay" }),
      ).rejects.toMatchObject({ code: "EXTRACT_FAILED" });
    });

    it("zstd through the pure-JS decoder gives the same result", async () => {
      const tarBytes = await buildTar(layer1);
      const blob = compress(tarBytes, "zstd");
      const target = join(root, "js");
      mkdirSync(target);
      const result = await unpackLayer(chunked(blob, 100_000), {
        target,
        mediaType: MEDIA.zstd,
        expectedDiffId: sha256(tarBytes),
        whiteouts: "overlay",
        zstd: "js",
      });
      expect(result.diffId).toBe(sha256(tarBytes));
      expect(readFileSync(join(target, "big.bin")).equals(BIG)).toBe(true);
    });

    it("writes overlay whiteouts and an opaque directory, even when the marker comes last", async () => {
      const { target: t } = await unpackInto("l2", layer2);
      const wh = lstatSync(join(t, "etc/passwd"));
      expect(wh.isCharacterDevice()).toBe(true);
      expect(wh.rdev).toBe(0);
      expect(lstatSync(join(t, "bin/sh")).isCharacterDevice()).toBe(true);
      expect(getXattr(join(t, "opt"), "trusted.overlay.opaque")?.toString()).toBe("y");
      expect(getXattr(join(t, "etc"), "trusted.overlay.opaque")).toBeUndefined();
      expect(readFileSync(join(t, "opt/new/file"), "utf8")).toBe("upper");
      expect(lstatSync(join(t, "opt")).mode & 0o7777).toBe(0o750);
      expect(readdirSync(t).some((n) => n.startsWith(".wh.") || n.startsWith(".strata"))).toBe(false);
      expect(readdirSync(join(t, "etc")).sort()).toEqual(["hosts", "passwd"]);
    });

    it("stacks three unpacked layers with mount -t overlay and the merged view hides what it should", async () => {
      const l1 = (await unpackInto("l1", layer1)).target;
      const l2 = (await unpackInto("l2", layer2)).target;
      const l3 = (await unpackInto("l3", layer3)).target;
      const merged = join(root, "merged");
      const merged2 = join(root, "merged2");
      mkdirSync(merged);
      mkdirSync(merged2);
      execFileSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${l2}:${l1}`, merged2]);
      mounted.push(merged2);
      execFileSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${l3}:${l2}:${l1}`, merged]);
      mounted.push(merged);

      // two layers: the whiteouts hide passwd and sh, the opaque dir hides opt/a and opt/sub
      expect(readdirSync(join(merged2, "etc")).sort()).toEqual(["alt", "frac", "hosts"]);
      expect(readdirSync(join(merged2, "opt")).sort()).toEqual(["new"]);
      expect(readdirSync(join(merged2, "bin")).includes("sh")).toBe(false);
      // three layers: passwd is back with the new content
      expect(readFileSync(join(merged, "etc/passwd"), "utf8")).toBe("root:x:0:0::/root:/bin/bash\n");
      expect(readlinkSync(join(merged, "etc/alt"))).toBe("/etc/passwd");
      expect(readFileSync(join(merged, "opt/new/file"), "utf8")).toBe("upper");
      expect(lstatSync(join(merged, "bin/su")).mode & 0o7777).toBe(0o4755);
      expect(readFileSync(join(merged, "home/user/notes"), "utf8")).toBe("changed");
    });
  },
  { commands: ["mount", "umount", "mknod", "setfattr", "getfattr", "zstd", "getcap"] },
);

describePrivileged(
  "unpackLayer verification errors",
  () => {
    let root: string;
    beforeEach(() => {
      root = tempRoot();
    });
    afterEach(() => removeTree(root));

    async function attempt(blob: Buffer, opts: Partial<Parameters<typeof unpackLayer>[1]>) {
      const target = join(root, `t${Math.random().toString(16).slice(2)}`);
      mkdirSync(target);
      try {
        await unpackLayer(chunked(blob), { target, mediaType: MEDIA.gzip, whiteouts: "overlay", ...opts });
      } catch (err) {
        if (err instanceof UnpackError) return err.code;
        throw err;
      }
      return "ok";
    }

    it("table of bad inputs → stable codes", async () => {
      const tarBytes = await buildTar([{ name: "f", data: "x" }]);
      const gz = compress(tarBytes, "gzip");
      const zst = compress(tarBytes, "zstd");
      const zero = `sha256:${"0".repeat(64)}`;
      const cases: [string, Buffer, Partial<Parameters<typeof unpackLayer>[1]>, string][] = [
        ["correct digests", gz, { expectedDigest: sha256(gz), expectedDiffId: sha256(tarBytes) }, "ok"],
        ["wrong compressed digest", gz, { expectedDigest: zero }, "DIGEST_MISMATCH"],
        ["wrong diffID", gz, { expectedDiffId: zero }, "DIGEST_MISMATCH"],
        ["diffID given as the compressed digest", gz, { expectedDiffId: sha256(gz) }, "DIGEST_MISMATCH"],
        ["malformed digest", gz, { expectedDigest: "sha256:../../x" }, "INVALID_DIGEST"],
        [
          "unknown media type",
          gz,
          { mediaType: "application/vnd.oci.image.layer.v1.tar+bzip2" },
          "UNSUPPORTED_COMPRESSION",
        ],
        ["gzip type, zstd bytes", zst, { mediaType: MEDIA.gzip }, "UNSUPPORTED_COMPRESSION"],
        ["zstd type, gzip bytes", gz, { mediaType: MEDIA.zstd }, "UNSUPPORTED_COMPRESSION"],
        ["tar type, gzip bytes", gz, { mediaType: MEDIA.none }, "UNSUPPORTED_COMPRESSION"],
        ["docker gzip type", gz, { mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip" }, "ok"],
        ["corrupt gzip", Buffer.concat([gz.subarray(0, 20), Buffer.alloc(200, 0x55)]), {}, "INVALID_TAR"],
        ["truncated gzip", gz.subarray(0, gz.length - 10), {}, "INVALID_TAR"],
        [
          "corrupt zstd",
          Buffer.concat([zst.subarray(0, 8), Buffer.alloc(100, 0x55)]),
          { mediaType: MEDIA.zstd },
          "INVALID_TAR",
        ],
        ["not a tar", compress(Buffer.alloc(1024, 0x41), "gzip"), {}, "INVALID_TAR"],
      ];
      for (const [what, blob, opts, code] of cases) {
        expect({ what, code: await attempt(blob, opts) }).toEqual({ what, code });
      }
    });
  },
  { commands: ["zstd"] },
);
