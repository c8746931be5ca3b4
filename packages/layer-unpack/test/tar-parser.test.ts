import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { UnpackError } from "../src/errors.js";
import { type TarEntry, TarParser } from "../src/tar-parser.js";
import { buildTar, paxRecord, removeTree, tempRoot } from "./helpers.js";

interface Parsed {
  entry: TarEntry;
  data: Buffer;
}

/** Feed `buf` to a parser in chunks of `step` bytes and collect entries with their data. */
function parse(buf: Buffer, step = 1000, limits = { maxEntries: 1000, maxMetaBytes: 1 << 20 }): Parsed[] {
  const out: Parsed[] = [];
  let chunks: Buffer[] = [];
  const parser = new TarParser(
    {
      entry: (entry) => {
        chunks = [];
        out.push({ entry, data: Buffer.alloc(0) });
      },
      data: (c) => chunks.push(Buffer.from(c)),
      endEntry: () => {
        (out[out.length - 1] as Parsed).data = Buffer.concat(chunks);
      },
    },
    limits,
  );
  for (let off = 0; off < buf.length; off += step) parser.push(buf.subarray(off, off + step));
  parser.end();
  return out;
}

/** Edit the 512-byte header at `off` in place and recompute its checksum. */
function patchHeader(buf: Buffer, off: number, edit: (h: Buffer) => void): void {
  const h = buf.subarray(off, off + 512);
  edit(h);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i] as number;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof UnpackError ? err.code : `not an UnpackError: ${String(err)}`;
  }
  return undefined;
}

const longName = `${"d".repeat(60)}/${"e".repeat(70)}/${"f".repeat(80)}.txt`;
const longLink = `${"t".repeat(120)}/target`;

describe("TarParser on GNU tar archives", () => {
  let root: string | undefined;
  afterEach(() => {
    if (root) removeTree(root);
    root = undefined;
  });

  function gnuTar(format: "gnu" | "pax" | "ustar" | "v7"): Buffer {
    root = tempRoot();
    const src = join(root, "src");
    mkdirSync(join(src, "dir"), { recursive: true });
    writeFileSync(join(src, "dir", "small"), "hello");
    writeFileSync(join(src, "big"), Buffer.alloc(70_000, 7));
    symlinkSync("dir/small", join(src, "link"));
    if (format === "gnu" || format === "pax") {
      mkdirSync(join(src, longName, ".."), { recursive: true });
      writeFileSync(join(src, longName), "long");
      symlinkSync(longLink, join(src, "longlink"));
    }
    utimesSync(join(src, "big"), 1_600_000_000, 1_600_000_000);
    const args = [`--format=${format}`, "-C", src, "--owner=0", "--group=0", "--numeric-owner", "-cf", "-"];
    return execFileSync("tar", [...args, "."], { maxBuffer: 1 << 26 });
  }

  it.each([
    ["gnu", 1],
    ["gnu", 333],
    ["pax", 512],
    ["pax", 7],
    ["ustar", 100_000],
    ["v7", 4096],
  ] as const)("reads %s archives fed %i bytes at a time", (format, step) => {
    const parsed = parse(gnuTar(format), step);
    const byName = new Map(parsed.map((p) => [p.entry.name.replace(/^\.\//, ""), p]));
    expect(byName.get("dir/small")?.data.toString()).toBe("hello");
    expect(byName.get("big")?.data.equals(Buffer.alloc(70_000, 7))).toBe(true);
    expect(byName.get("big")?.entry.mtime).toBe(1_600_000_000);
    expect(byName.get("link")?.entry).toMatchObject({ type: "symlink", linkname: "dir/small" });
    expect(byName.get("dir/")?.entry.type ?? byName.get("dir")?.entry.type).toBe("dir");
    if (format === "gnu" || format === "pax") {
      expect(byName.get(longName)?.data.toString()).toBe("long");
      expect(byName.get("longlink")?.entry.linkname).toBe(longLink);
    }
  });

  it("reads GNU base-256 numbers (uid beyond the octal range)", () => {
    root = tempRoot();
    writeFileSync(join(root, "f"), "x");
    const buf = execFileSync("tar", [
      "--format=gnu",
      "-C",
      root,
      "--owner=3000000",
      "--group=3000001",
      "-cf",
      "-",
      "f",
    ]);
    const [f] = parse(buf);
    expect(f?.entry).toMatchObject({ uid: 3_000_000, gid: 3_000_001 });
  });
});

describe("TarParser PAX records", () => {
  it("keeps binary xattr values byte-exact and applies path/size/uid/gid/mtime/linkpath", async () => {
    const cap = Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const weird = Buffer.from([0xff, 0x00, 0x0a, 0x3d, 0xc3]);
    const buf = await buildTar([
      {
        name: "short",
        data: "abc",
        rawPax: {
          path: "renamed/by/pax",
          uid: "4000000",
          gid: "4000001",
          mtime: "1700000000.25",
          atime: "1700000001.5",
          "SCHILY.xattr.security.capability": cap,
          "SCHILY.xattr.user.weird": weird,
        },
      },
      { name: "sl", type: "symlink", linkname: "x", rawPax: { linkpath: "from/pax" } },
    ]);
    const [f, s] = parse(buf, 3);
    expect(f?.entry).toMatchObject({
      name: "renamed/by/pax",
      uid: 4_000_000,
      gid: 4_000_001,
      mtime: 1_700_000_000.25,
    });
    expect(f?.entry.atime).toBe(1_700_000_001.5);
    expect(f?.entry.xattrs?.get("security.capability")?.equals(cap)).toBe(true);
    expect(f?.entry.xattrs?.get("user.weird")?.equals(weird)).toBe(true);
    expect(f?.data.toString()).toBe("abc");
    expect(s?.entry.linkname).toBe("from/pax");
  });

  it.each([
    ["a record length that overruns", Buffer.from("99 path=x\n")],
    ["a record without '='", Buffer.from("9 pathx\n\n")],
    ["a non-numeric length", Buffer.from("xx path=x\n")],
  ])("rejects %s as INVALID_TAR", async (_what, records) => {
    const tarBytes = await buildTar([{ name: "f", data: "x", rawPax: { comment: "y" } }]);
    // Swap the PAX body (block 2) for the broken records and fix the PAX header's size field.
    const body = Buffer.alloc(512);
    records.copy(body);
    const patched = Buffer.concat([tarBytes.subarray(0, 512), body, tarBytes.subarray(1024)]);
    patchHeader(patched, 0, (h) =>
      h.write(`${records.length.toString(8).padStart(11, "0")}\0`, 124, "latin1"),
    );
    expect(codeOf(() => parse(patched))).toBe("INVALID_TAR");
  });

  it("PAX size overrides the header size field", async () => {
    const tarBytes = await buildTar([{ name: "f", data: "abc", rawPax: { size: "3" } }]);
    // the ustar header (block 3) claims 0 bytes; only the PAX record knows there are 3
    patchHeader(tarBytes, 1024, (h) => h.write(`${"0".repeat(11)}\0`, 124, "latin1"));
    const [f] = parse(tarBytes);
    expect(f?.entry.size).toBe(3);
    expect(f?.data.toString()).toBe("abc");
  });

  it("computes record lengths that include their own digits", () => {
    for (const v of ["", "a", "x".repeat(90), "y".repeat(995)]) {
      const rec = paxRecord("k", v);
      expect(Number(rec.toString().split(" ")[0])).toBe(rec.length);
    }
  });
});

describe("TarParser rejects broken archives", () => {
  it("a checksum mismatch is INVALID_TAR", async () => {
    const buf = await buildTar([{ name: "f", data: "x" }]);
    buf[0] = "g".charCodeAt(0);
    expect(codeOf(() => parse(buf))).toBe("INVALID_TAR");
  });

  it("checksums are checked whatever the header's alignment in memory, signed ones too", async () => {
    // A name with bytes > 127 makes the signed and unsigned sums differ.
    const buf = await buildTar([{ name: "é-ü-f", data: "x" }]);
    const signed = Buffer.from(buf);
    signed.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) {
      const b = signed[i] as number;
      sum += b > 127 ? b - 256 : b;
    }
    signed.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
    const corrupt = Buffer.from(buf);
    corrupt[200] = 1;
    // Chunked pieces of 512 at byte offsets 1..3 of a bigger buffer: unaligned whole-header views.
    for (const shift of [0, 1, 2, 3]) {
      for (const [what, tar, code] of [
        ["unsigned", buf, undefined],
        ["signed", signed, undefined],
        ["corrupt", corrupt, "INVALID_TAR"],
      ] as const) {
        const shifted = Buffer.alloc(tar.length + shift);
        tar.copy(shifted, shift);
        const view = shifted.subarray(shift);
        expect({ what, shift, code: codeOf(() => parse(view, 512)) }).toEqual({ what, shift, code });
        if (code === undefined) expect(parse(view, 512)[0]?.entry.name).toBe("é-ü-f");
      }
    }
  });

  it("a truncated archive is INVALID_TAR", async () => {
    const buf = await buildTar([{ name: "f", data: "x".repeat(2000) }], { endBlocks: false });
    expect(codeOf(() => parse(buf.subarray(0, 1500)))).toBe("INVALID_TAR");
  });

  it("an archive without end blocks but ending on a header boundary is accepted", async () => {
    const buf = await buildTar([{ name: "f", data: "x" }], { endBlocks: false });
    expect(parse(buf).map((p) => p.entry.name)).toEqual(["f"]);
  });

  it.each(["S", "M", "V", "Z"])("type flag %s is INVALID_TAR", async (flag) => {
    const buf = await buildTar([{ name: "f", data: "x" }]);
    patchHeader(buf, 0, (h) => {
      h[156] = flag.charCodeAt(0);
    });
    expect(codeOf(() => parse(buf))).toBe("INVALID_TAR");
  });

  it("a non-UTF-8 name is INVALID_TAR, not mangled", async () => {
    const buf = await buildTar([{ name: "fxx", data: "x" }]);
    patchHeader(buf, 0, (h) => {
      h[1] = 0xe9; // latin1 é
    });
    expect(codeOf(() => parse(buf))).toBe("INVALID_TAR");
  });

  it("caps entries and meta headers with LIMIT_EXCEEDED", async () => {
    const many = await buildTar(Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, data: "x" })));
    expect(codeOf(() => parse(many, 512, { maxEntries: 10, maxMetaBytes: 1 << 20 }))).toBe("LIMIT_EXCEEDED");
    const bigPax = await buildTar([{ name: "f", data: "x", rawPax: { comment: "c".repeat(5000) } }]);
    expect(codeOf(() => parse(bigPax, 512, { maxEntries: 10, maxMetaBytes: 4096 }))).toBe("LIMIT_EXCEEDED");
  });
});
