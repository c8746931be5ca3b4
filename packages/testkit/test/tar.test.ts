import { execFileSync } from "node:child_process";
import { gunzipSync } from "node:zlib";
import { extract as tarExtract } from "tar-stream";
import { describe, expect, it } from "vitest";
import { type LayerEntry, MT, paxRecord, sha256, tarBytes, tarLayer } from "../src/index.js";

interface RawEntry {
  name: string;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname: string;
  uname: string;
  devmajor: number;
  devminor: number;
  content: Buffer;
  /** PAX records of the preceding 'x' header, values as raw bytes. */
  pax: Map<string, Buffer>;
}

const str = (b: Buffer, start: number, len: number) => {
  const s = b.subarray(start, start + len);
  const nul = s.indexOf(0);
  return (nul < 0 ? s : s.subarray(0, nul)).toString("latin1");
};
const oct = (b: Buffer, start: number, len: number) => Number.parseInt(str(b, start, len).trim() || "0", 8);

function parsePax(body: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let rest = body;
  while (rest.length > 0) {
    const space = rest.indexOf(0x20);
    const len = Number(rest.subarray(0, space).toString());
    const record = rest.subarray(space + 1, len - 1);
    expect(rest[len - 1]).toBe(0x0a);
    const eq = record.indexOf(0x3d);
    records.set(record.subarray(0, eq).toString(), Buffer.from(record.subarray(eq + 1)));
    rest = rest.subarray(len);
  }
  return records;
}

/** A byte-level tar reader, independent of tar-stream, so PAX binary values can be checked exactly. */
function readTar(tar: Buffer): RawEntry[] {
  const entries: RawEntry[] = [];
  let pax = new Map<string, Buffer>();
  let offset = 0;
  while (offset + 512 <= tar.length) {
    const h = tar.subarray(offset, offset + 512);
    if (h.every((b) => b === 0)) break;
    const size = oct(h, 124, 12);
    const content = tar.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    const typeflag = String.fromCharCode(h[156] || 0x30);
    if (typeflag === "x") {
      pax = parsePax(content);
      continue;
    }
    const prefix = str(h, 345, 155);
    entries.push({
      name: pax.get("path")?.toString() ?? (prefix ? `${prefix}/` : "") + str(h, 0, 100),
      typeflag,
      mode: oct(h, 100, 8),
      uid: oct(h, 108, 8),
      gid: oct(h, 116, 8),
      mtime: oct(h, 136, 12),
      linkname: pax.get("linkpath")?.toString() ?? str(h, 157, 100),
      uname: str(h, 265, 32),
      devmajor: oct(h, 329, 8),
      devminor: oct(h, 337, 8),
      content: Buffer.from(content),
      pax,
    });
    pax = new Map();
  }
  return entries;
}

const binaryCap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0x0a, 0x3d, 0x20, 0x00]);
const longPath = `${"deep/".repeat(30)}file.txt`;

const cases: {
  name: string;
  entry: LayerEntry;
  expect: Partial<RawEntry> & { paxBinary?: [string, Buffer] };
}[] = [
  {
    name: "file with content, mode, owner, mtime",
    entry: {
      type: "file",
      path: "/etc/app.conf",
      content: "x=1\n",
      mode: 0o640,
      uid: 1000,
      gid: 2000,
      uname: "app",
      mtime: 1_234_567_890,
    },
    expect: {
      name: "etc/app.conf",
      typeflag: "0",
      mode: 0o640,
      uid: 1000,
      gid: 2000,
      uname: "app",
      mtime: 1_234_567_890,
      content: Buffer.from("x=1\n"),
    },
  },
  {
    name: "dir",
    entry: { type: "dir", path: "var/lib", mode: 0o1777 },
    expect: { name: "var/lib/", typeflag: "5", mode: 0o1777 },
  },
  {
    name: "symlink",
    entry: { type: "symlink", path: "bin/sh", target: "busybox" },
    expect: { name: "bin/sh", typeflag: "2", linkname: "busybox", mode: 0o777 },
  },
  {
    name: "hardlink",
    entry: { type: "hardlink", path: "bin/ls2", target: "bin/ls" },
    expect: { name: "bin/ls2", typeflag: "1", linkname: "bin/ls" },
  },
  {
    name: "char device",
    entry: { type: "char", path: "dev/null", major: 1, minor: 3 },
    expect: { name: "dev/null", typeflag: "3", devmajor: 1, devminor: 3, mode: 0o666 },
  },
  {
    name: "block device",
    entry: { type: "block", path: "dev/loop0", major: 7, minor: 0, mode: 0o660 },
    expect: { name: "dev/loop0", typeflag: "4", devmajor: 7, devminor: 0, mode: 0o660 },
  },
  {
    name: "file with mode 0 (kept, not defaulted)",
    entry: { type: "file", path: "locked", mode: 0, xattrs: { "user.x": "1" } },
    expect: { name: "locked", typeflag: "0", mode: 0 },
  },
  {
    name: "whiteout with mode 0",
    entry: { type: "whiteout", path: "w", mode: 0 },
    expect: { name: ".wh.w", mode: 0 },
  },
  { name: "fifo", entry: { type: "fifo", path: "run/pipe" }, expect: { name: "run/pipe", typeflag: "6" } },
  {
    name: "whiteout",
    entry: { type: "whiteout", path: "etc/old" },
    expect: { name: "etc/.wh.old", typeflag: "0" },
  },
  {
    name: "top-level whiteout",
    entry: { type: "whiteout", path: "gone" },
    expect: { name: ".wh.gone", typeflag: "0" },
  },
  {
    name: "opaque dir",
    entry: { type: "opaque", path: "/var/cache/" },
    expect: { name: "var/cache/.wh..wh..opq", typeflag: "0" },
  },
  {
    name: "binary xattr (PAX, byte-exact)",
    entry: { type: "file", path: "bin/ping", content: "elf", xattrs: { "security.capability": binaryCap } },
    expect: { name: "bin/ping", paxBinary: ["SCHILY.xattr.security.capability", binaryCap] },
  },
  {
    name: "text xattr with multi-byte UTF-8",
    entry: { type: "dir", path: "d", xattrs: { "user.note": "café ☕" } },
    expect: { name: "d/", paxBinary: ["SCHILY.xattr.user.note", Buffer.from("café ☕")] },
  },
  {
    name: "long path via PAX",
    entry: { type: "file", path: longPath, content: "deep" },
    expect: { name: longPath },
  },
  {
    name: "non-ASCII path via PAX",
    entry: { type: "file", path: "données/é.txt" },
    expect: { name: "données/é.txt" },
  },
  {
    name: "long symlink target via PAX linkpath",
    entry: { type: "symlink", path: "l", target: longPath },
    expect: { name: "l", linkname: longPath },
  },
  {
    name: "raw hostile path kept",
    entry: { type: "file", path: "../escape", rawPath: true },
    expect: { name: "../escape" },
  },
  {
    name: "raw absolute path kept",
    entry: { type: "file", path: "/abs", rawPath: true },
    expect: { name: "/abs" },
  },
];

describe("tarBytes", () => {
  it.each(cases)("writes a $name entry", async ({ entry, expect: want }) => {
    const [got, ...rest] = readTar(await tarBytes([entry]));
    expect(rest).toEqual([]);
    const { paxBinary, ...fields } = want;
    expect(got).toMatchObject(fields);
    if (paxBinary) expect(got?.pax.get(paxBinary[0])).toEqual(paxBinary[1]);
  });

  it("gives a fixed default mtime, so the same entries give the same digest", async () => {
    const entries: LayerEntry[] = [{ type: "file", path: "a", content: "1" }];
    const [a, b] = await Promise.all([tarBytes(entries), tarBytes(entries)]);
    expect(sha256(a)).toBe(sha256(b));
    expect(readTar(a)[0]?.mtime).toBe(Date.parse("2026-01-01T00:00:00Z") / 1000);
  });

  it("produces a tar GNU tar lists (all entry types together)", async () => {
    const tar = await tarBytes(cases.filter((c) => !c.entry.rawPath).map((c) => c.entry));
    const listing = execFileSync("tar", ["-tf", "-"], { input: tar }).toString().split("\n").filter(Boolean);
    expect(listing).toEqual(cases.filter((c) => !c.entry.rawPath).map((c) => c.expect.name));
  });

  it("is readable by tar-stream's extractor (names, types, PAX path)", async () => {
    const usable = cases.filter((c) => !c.entry.rawPath);
    const extract = tarExtract();
    const seen: string[] = [];
    extract.on("entry", (header, stream, next) => {
      seen.push(header.name);
      stream.on("end", () => next());
      stream.resume();
    });
    const done = new Promise<void>((resolve, reject) => {
      extract.on("finish", () => resolve());
      extract.on("error", reject);
    });
    extract.end(await tarBytes(usable.map((c) => c.entry)));
    await done;
    expect(seen).toEqual(usable.map((c) => c.expect.name));
  });

  it("rejects an empty path for a non-directory with INVALID_LAYER_ENTRY", async () => {
    await expect(tarBytes([{ type: "file", path: "/" }])).rejects.toMatchObject({
      code: "INVALID_LAYER_ENTRY",
    });
  });
});

describe("paxRecord", () => {
  it.each([
    0, 1, 2, 3, 4, 5, 6, 90, 91, 92, 93, 94, 95, 96, 989, 990, 991, 992, 993, 994, 995, 996, 997, 998,
  ])("counts its own length (value of %i bytes)", (n) => {
    const record = paxRecord("k", Buffer.alloc(n, 0x61));
    const space = record.indexOf(0x20);
    expect(Number(record.subarray(0, space).toString())).toBe(record.length);
    expect(record.at(-1)).toBe(0x0a);
  });
});

describe("tarLayer", () => {
  const entries: LayerEntry[] = [{ type: "file", path: "hello", content: "hello world\n" }];
  it.each([
    { compression: "gzip" as const, magic: "1f8b", mediaType: MT.ociLayerGzip },
    { compression: "zstd" as const, magic: "28b52ffd", mediaType: MT.ociLayerZstd },
    { compression: "none" as const, magic: "68656c6c", mediaType: MT.ociLayer },
  ])(
    "compresses with $compression and reports digest, diffId, size, mediaType",
    async ({ compression, magic, mediaType }) => {
      const layer = await tarLayer(entries, { compression });
      expect(layer.blob.subarray(0, 4).toString("hex").startsWith(magic)).toBe(true);
      expect(layer.mediaType).toBe(mediaType);
      expect(layer.digest).toBe(sha256(layer.blob));
      expect(layer.size).toBe(layer.blob.length);
      expect(layer.diffId).toBe(sha256(layer.tar));
      const plain =
        compression === "gzip"
          ? gunzipSync(layer.blob)
          : compression === "zstd"
            ? execFileSync("zstd", ["-d", "-c", "-q"], { input: layer.blob })
            : layer.blob;
      expect(sha256(plain)).toBe(layer.diffId);
    },
  );

  it("uses Docker media types with format: docker", async () => {
    expect((await tarLayer(entries, { format: "docker" })).mediaType).toBe(MT.dockerLayerGzip);
    expect((await tarLayer(entries, { format: "docker", compression: "none" })).mediaType).toBe(
      MT.dockerLayer,
    );
  });
});
