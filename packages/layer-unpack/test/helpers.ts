import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";

export const PREFIX = "strata-test-layer-unpack-";

export interface Entry {
  name: string;
  type?: "file" | "directory" | "symlink" | "link" | "character-device" | "block-device" | "fifo";
  data?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Text PAX records (tar-stream writes them). */
  pax?: Record<string, string>;
  /** Binary-safe PAX records written by our own writer (e.g. SCHILY.xattr.security.capability). */
  rawPax?: Record<string, Buffer | string>;
}

export const T0 = new Date("2024-01-02T03:04:05Z");

/** One entry through tar-stream, without the end-of-archive blocks. */
async function packOne(e: Entry): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve) => pack.on("end", () => resolve()));
  const data = e.data === undefined ? undefined : Buffer.from(e.data);
  const type = e.type ?? "file";
  const header: Partial<tar.Header> & { name: string } = {
    name: e.name,
    type,
    mode: e.mode ?? (type === "directory" ? 0o755 : 0o644),
    uid: e.uid ?? 0,
    gid: e.gid ?? 0,
    mtime: e.mtime ?? T0,
    ...(e.linkname === undefined ? {} : { linkname: e.linkname }),
    ...(e.devmajor === undefined ? {} : { devmajor: e.devmajor, devminor: e.devminor ?? 0 }),
    ...(e.pax === undefined ? {} : { pax: e.pax }),
    size: type === "file" ? (data?.length ?? 0) : 0,
  };
  await new Promise<void>((resolve, reject) =>
    type === "file"
      ? pack.entry(header, data ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()))
      : pack.entry(header, (err) => (err ? reject(err) : resolve())),
  );
  pack.finalize();
  await done;
  const all = Buffer.concat(chunks);
  return all.subarray(0, all.length - 1024);
}

/** A PAX record: "<len> key=value\n" where len counts the whole record, value kept as bytes. */
export function paxRecord(key: string, value: Buffer | string): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from("\n")]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** A PAX 'x' header block + records: tar-stream makes a ustar header, we retype it and fix the checksum. */
async function rawPaxHeader(name: string, records: Record<string, Buffer | string>): Promise<Buffer> {
  const body = Buffer.concat(Object.entries(records).map(([k, v]) => paxRecord(k, v)));
  const block = await packOne({ name: `PaxHeaders/${name}`.slice(0, 99), data: body });
  block[156] = "x".charCodeAt(0);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += block[i] as number;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
  return block;
}

export async function buildTar(entries: Entry[], opts: { endBlocks?: boolean } = {}): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.rawPax !== undefined) parts.push(await rawPaxHeader(e.name, e.rawPax));
    parts.push(await packOne(e));
  }
  if (opts.endBlocks !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function zstdSync(buf: Buffer): Buffer {
  return execFileSync("zstd", ["-q", "-c", "-"], { input: buf, maxBuffer: 1024 ** 3 });
}

export type Comp = "gzip" | "zstd" | "none";

export function compress(tarBytes: Buffer, comp: Comp): Buffer {
  if (comp === "gzip") return gzipSync(tarBytes);
  if (comp === "zstd") return zstdSync(tarBytes);
  return tarBytes;
}

export const MEDIA: Record<Comp, string> = {
  gzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  zstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  none: "application/vnd.oci.image.layer.v1.tar",
};

export function sha256(buf: Buffer): string {
  return `sha256:${createHash("sha256").update(buf).digest("hex")}`;
}

/** A Readable that hands out `buf` in small uneven chunks, like an HTTP body. */
export function chunked(buf: Buffer, size = 7001): Readable {
  let off = 0;
  return new Readable({
    read() {
      if (off >= buf.length) {
        this.push(null);
        return;
      }
      const n = Math.min(size, buf.length - off);
      this.push(buf.subarray(off, off + n));
      off += n;
    },
  });
}

export function tempRoot(): string {
  return mkdtempSync(join(tmpdir(), PREFIX));
}

export function removeTree(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

/**
 * A fingerprint of a tree that changes if anything in it is created, removed, written, chmodded,
 * chowned, re-timed, relinked or given xattrs (never following symlinks).
 */
export function fingerprint(root: string): string {
  const h = createHash("sha256");
  const walk = (p: string, rel: string) => {
    const st = lstatSync(p, { bigint: true });
    h.update(`${rel}|${st.mode}|${st.uid}|${st.gid}|${st.mtimeNs}|${st.nlink}|${st.ctimeNs}\n`);
    if (st.isSymbolicLink()) h.update(readlinkSync(p));
    else if (st.isFile()) h.update(readFileSync(p));
    try {
      h.update(
        execFileSync("getfattr", ["--absolute-names", "-h", "-d", "-m", "-", "-e", "hex", "--", p], {
          stdio: ["ignore", "pipe", "ignore"],
        }),
      );
    } catch {
      // no xattrs
    }
    if (st.isDirectory()) for (const name of readdirSync(p).sort()) walk(join(p, name), `${rel}/${name}`);
  };
  walk(root, ".");
  return h.digest("hex");
}

export function getXattr(path: string, name: string): Buffer | undefined {
  try {
    const out = execFileSync(
      "getfattr",
      ["--absolute-names", "-h", "--only-values", "-n", name, "--", path],
      {
        stdio: ["ignore", "pipe", "ignore"],
      },
    );
    return out;
  } catch {
    return undefined;
  }
}

/**
 * Everything two unpacks of one layer must agree on: ctimes differ between runs (so no fingerprint),
 * and so do the mtimes of the implicit directories and whiteout nodes a layer creates. Files named in
 * `capsOf` also show their security.capability (one getfattr each: keep the list short).
 */
export function snapshot(root: string, capsOf: (rel: string) => boolean = () => false): string[] {
  const out: string[] = [];
  const walk = (p: string, rel: string) => {
    const st = lstatSync(p, { bigint: true });
    const body = st.isSymbolicLink() ? readlinkSync(p) : st.isFile() ? sha256(readFileSync(p)) : "";
    const mtime = st.isDirectory() || st.isCharacterDevice() ? "" : st.mtimeNs;
    const cap = st.isFile() && capsOf(rel) ? (getXattr(p, "security.capability")?.toString("hex") ?? "") : "";
    out.push(`${rel} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${mtime} ${st.nlink} ${body} ${cap}`);
    if (st.isDirectory()) for (const name of readdirSync(p).sort()) walk(join(p, name), `${rel}/${name}`);
  };
  walk(root, ".");
  return out;
}
