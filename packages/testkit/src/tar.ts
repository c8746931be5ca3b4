import { gzipSync } from "node:zlib";
import { pack as createPack, type Header } from "tar-stream";

type HeaderArgument = Partial<Header> & Pick<Header, "name">;

import { TestkitError } from "./errors.js";
import { type Compression, type ImageFormat, layerMediaType } from "./media-types.js";
import { run, sha256 } from "./util.js";

/** Fields shared by every layer entry. */
export interface EntryBase {
  /** Path inside the layer; a leading "/" is dropped unless `rawPath` is set. */
  path: string;
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Date or seconds since the epoch. Default: a fixed time, so layers are reproducible. */
  mtime?: Date | number;
  /** Extended attributes, written as PAX `SCHILY.xattr.<name>` records; Uint8Array values stay binary. */
  xattrs?: Record<string, string | Uint8Array>;
  /** Extra PAX records (written byte-exact). */
  pax?: Record<string, string | Uint8Array>;
  /** Keep `path` exactly as given (for hostile-input tests: "../x", "/abs"). */
  rawPath?: boolean;
}

/** One entry of a generated layer tar. */
export type LayerEntry =
  | (EntryBase & { type: "file"; content?: string | Uint8Array })
  | (EntryBase & { type: "dir" })
  | (EntryBase & { type: "symlink"; target: string })
  | (EntryBase & { type: "hardlink"; target: string })
  | (EntryBase & { type: "char" | "block"; major: number; minor: number })
  | (EntryBase & { type: "fifo" })
  /** `<dir>/.wh.<name>`: deletes `path` from lower layers. */
  | (EntryBase & { type: "whiteout" })
  /** `<path>/.wh..wh..opq`: hides everything below directory `path` in lower layers. */
  | (EntryBase & { type: "opaque" });

/** A layer blob ready to push. */
export interface Layer {
  /** The bytes as pushed (compressed unless compression is "none"). */
  blob: Buffer;
  /** Digest of `blob`. */
  digest: string;
  /** Digest of the uncompressed tar (rootfs.diff_ids). */
  diffId: string;
  /** Byte length of `blob`. */
  size: number;
  mediaType: string;
  compression: Compression;
  /** The uncompressed tar. */
  tar: Buffer;
}

export interface TarLayerOptions {
  /** Default "gzip". */
  compression?: Compression;
  /** Picks the media type family; default "oci". buildImage re-labels layers for its own format. */
  format?: ImageFormat;
}

/** Default mtime of entries: 2026-01-01T00:00:00Z. */
export const DEFAULT_MTIME = new Date("2026-01-01T00:00:00Z");

/** One PAX record: "<len> <key>=<value>\n", where len counts the whole record including itself. */
export function paxRecord(key: string, value: string | Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from("\n")]);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return Buffer.concat([Buffer.from(String(length)), body]);
}

function entryName(entry: LayerEntry): string {
  let name = entry.rawPath ? entry.path : entry.path.replace(/^\/+/, "");
  if (entry.type === "whiteout") {
    const slash = name.lastIndexOf("/");
    name = `${name.slice(0, slash + 1)}.wh.${name.slice(slash + 1)}`;
  } else if (entry.type === "opaque") {
    const dir = name.replace(/\/+$/, "");
    name = dir ? `${dir}/.wh..wh..opq` : ".wh..wh..opq";
  } else if (entry.type === "dir" && !name.endsWith("/")) {
    name += "/";
  }
  if (name === "" || name === "/") {
    if (entry.type !== "dir") {
      throw new TestkitError("INVALID_LAYER_ENTRY", `a ${entry.type} entry needs a non-empty path`);
    }
    name = "./";
  }
  return name;
}

const isUstarSafe = (s: string, max: number) => /^[\x20-\x7e]*$/.test(s) && Buffer.byteLength(s) <= max;

function typeOf(entry: LayerEntry): Header["type"] {
  switch (entry.type) {
    case "dir":
      return "directory";
    case "symlink":
      return "symlink";
    case "hardlink":
      return "link";
    case "char":
      return "character-device";
    case "block":
      return "block-device";
    case "fifo":
      return "fifo";
    default:
      return "file";
  }
}

function defaultMode(entry: LayerEntry): number {
  if (entry.type === "dir") return 0o755;
  if (entry.type === "symlink") return 0o777;
  if (entry.type === "char" || entry.type === "block") return 0o666;
  return 0o644;
}

/** Serialise entries to an uncompressed tar (PAX where needed, binary values byte-exact). */
export async function tarBytes(entries: LayerEntry[]): Promise<Buffer> {
  const pack = createPack();
  let paxCount = 0;
  // tar-stream replaces mode 0 with its default; these entries get mode 0 written back afterwards.
  const zeroMode = new Set<number>();
  const chunks: Buffer[] = [];
  pack.on("data", (c) => {
    chunks.push(c as Buffer);
  });
  const ended = new Promise<void>((resolve, reject) => {
    pack.on("end", () => resolve());
    pack.on("error", reject);
  });
  for (const [ordinal, entry] of entries.entries()) {
    if (entry.mode === 0) zeroMode.add(ordinal);
    const name = entryName(entry);
    const linkname = entry.type === "symlink" || entry.type === "hardlink" ? entry.target : undefined;
    const mtime =
      entry.mtime === undefined
        ? DEFAULT_MTIME
        : typeof entry.mtime === "number"
          ? new Date(entry.mtime * 1000)
          : entry.mtime;
    const header: HeaderArgument = {
      name,
      type: typeOf(entry),
      mode: entry.mode ?? defaultMode(entry),
      uid: entry.uid ?? 0,
      gid: entry.gid ?? 0,
      mtime,
      ...(entry.uname ? { uname: entry.uname } : {}),
      ...(entry.gname ? { gname: entry.gname } : {}),
      ...(linkname !== undefined ? { linkname } : {}),
      ...(entry.type === "char" || entry.type === "block"
        ? { devmajor: entry.major, devminor: entry.minor }
        : {}),
    };
    const records: Buffer[] = [];
    // ustar splits long names into prefix + name; PAX "path" is simpler and always correct.
    if (!isUstarSafe(name, 100)) {
      records.push(paxRecord("path", name));
      header.name = `PaxHeaders/${name.replace(/[^\x20-\x7e]/g, "_").slice(-80)}`;
    }
    if (linkname !== undefined && !isUstarSafe(linkname, 100)) {
      records.push(paxRecord("linkpath", linkname));
      header.linkname = linkname.replace(/[^\x20-\x7e]/g, "_").slice(0, 100);
    }
    for (const [key, value] of Object.entries(entry.xattrs ?? {}))
      records.push(paxRecord(`SCHILY.xattr.${key}`, value));
    for (const [key, value] of Object.entries(entry.pax ?? {})) records.push(paxRecord(key, value));
    if (records.length > 0) {
      // tar-stream only writes PAX headers from string values (and counts UTF-16 units, not bytes),
      // so the records go out as a marked plain file whose header becomes typeflag 'x' afterwards.
      pack.entry(
        { name: `${PAX_MARKER}${paxCount++}`, type: "file", mode: 0o644, mtime },
        Buffer.concat(records),
      );
    }
    const content = entry.type === "file" ? Buffer.from(entry.content ?? "") : Buffer.alloc(0);
    pack.entry(header, content);
  }
  pack.finalize();
  await ended;
  const tar = Buffer.concat(chunks);
  if (paxCount > 0 || zeroMode.size > 0) fixHeaders(tar, zeroMode);
  return tar;
}

const PAX_MARKER = "@strata-testkit-pax@";

function rewriteChecksum(header: Buffer): void {
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
}

/**
 * Post-pass over the headers tar-stream wrote: marked plain files become PAX extended headers
 * (typeflag 'x'), and entries asked to have mode 0 get it. Checksums are recomputed.
 */
function fixHeaders(tar: Buffer, zeroMode: Set<number>): void {
  let offset = 0;
  let ordinal = 0;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) return;
    const size = Number.parseInt(
      header.subarray(124, 136).toString("latin1").replace(/\0.*$/s, "").trim() || "0",
      8,
    );
    if (header.subarray(0, PAX_MARKER.length).toString("latin1") === PAX_MARKER) {
      header.fill(0, 0, 100);
      header.write("PaxHeader", 0, "latin1");
      header[156] = 0x78; // 'x'
      rewriteChecksum(header);
    } else {
      if (zeroMode.has(ordinal)) {
        header.write("000000 \0", 100, "latin1");
        rewriteChecksum(header);
      }
      ordinal++;
    }
    offset += 512 + Math.ceil(size / 512) * 512;
  }
}

/** Compress a tar with gzip (node:zlib), zstd (/usr/bin/zstd) or not at all. */
export async function compress(tar: Buffer, compression: Compression): Promise<Buffer> {
  if (compression === "gzip") return gzipSync(tar);
  if (compression === "zstd") return run("zstd", ["-q", "-c", "-3", "--no-progress"], tar);
  return tar;
}

/** Build a layer from entries: tar it, compress it, compute digest and diffID. */
export async function tarLayer(entries: LayerEntry[], options: TarLayerOptions = {}): Promise<Layer> {
  const compression = options.compression ?? "gzip";
  const tar = await tarBytes(entries);
  const blob = await compress(tar, compression);
  return {
    blob,
    digest: sha256(blob),
    diffId: sha256(tar),
    size: blob.length,
    mediaType: layerMediaType(compression, options.format ?? "oci"),
    compression,
    tar,
  };
}

/** Wrap an existing tar (e.g. a fixture) as a layer. */
export async function layerFromTar(tar: Buffer, options: TarLayerOptions = {}): Promise<Layer> {
  const compression = options.compression ?? "gzip";
  const blob = await compress(tar, compression);
  return {
    blob,
    digest: sha256(blob),
    diffId: sha256(tar),
    size: blob.length,
    mediaType: layerMediaType(compression, options.format ?? "oci"),
    compression,
    tar,
  };
}
