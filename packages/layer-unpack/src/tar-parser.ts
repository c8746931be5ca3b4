import { isUtf8 } from "node:buffer";
import { UnpackError } from "./errors.js";
import { parsePaxRecords } from "./pax.js";

export type EntryType = "file" | "hardlink" | "symlink" | "char" | "block" | "dir" | "fifo";

/** One tar entry after GNU long-name and PAX records have been applied. */
export interface TarEntry {
  name: string;
  linkname: string;
  type: EntryType;
  /** Permission and setuid/setgid/sticky bits (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of data that follow (0 for everything but regular files). */
  size: number;
  /** Seconds since the epoch, fractional when a PAX record gave it. */
  mtime: number;
  atime: number | undefined;
  devmajor: number;
  devminor: number;
  /** `SCHILY.xattr.<name>` records, values byte-exact. */
  xattrs: Map<string, Buffer> | undefined;
}

/** Receives entries synchronously, in archive order. */
export interface TarSink {
  entry(entry: TarEntry): void;
  data(chunk: Buffer): void;
  endEntry(): void;
}

export interface TarParserLimits {
  maxEntries: number;
  /** An entry declaring more data than this fails at its header, before any of it is written. */
  maxBytes?: number;
  /** Cap on one PAX or GNU long-name header (they are buffered in memory). */
  maxMetaBytes: number;
}

const BLOCK = 512;

enum State {
  Header,
  Data,
  Padding,
  Meta,
  End,
}

const TYPES: Record<string, EntryType> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "dir",
  "6": "fifo",
};

/**
 * A push parser for ustar/GNU/PAX archives. It never buffers file data: each chunk is sliced and handed
 * to the sink as it arrives. Only headers (512 bytes) and meta records (bounded) are accumulated.
 */
export class TarParser {
  private state = State.Header;
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private remaining = 0;
  private padding = 0;
  private metaType = "";
  private metaChunks: Buffer[] = [];
  private metaFill = 0;
  private longName: string | undefined;
  private longLink: string | undefined;
  private pax: Map<string, Buffer> | undefined;
  private entryCount = 0;

  constructor(
    private readonly sink: TarSink,
    private readonly limits: TarParserLimits,
  ) {}

  get entries(): number {
    return this.entryCount;
  }

  push(chunk: Buffer): void {
    let off = 0;
    const len = chunk.length;
    while (off < len) {
      switch (this.state) {
        case State.Header: {
          const n = Math.min(BLOCK - this.headerFill, len - off);
          // Fast path: a whole header inside the chunk needs no copy.
          if (this.headerFill === 0 && n === BLOCK) {
            this.onHeader(chunk.subarray(off, off + BLOCK));
          } else {
            chunk.copy(this.header, this.headerFill, off, off + n);
            this.headerFill += n;
            if (this.headerFill === BLOCK) {
              this.headerFill = 0;
              this.onHeader(this.header);
            }
          }
          off += n;
          break;
        }
        case State.Data: {
          const n = Math.min(this.remaining, len - off);
          this.sink.data(chunk.subarray(off, off + n));
          this.remaining -= n;
          off += n;
          if (this.remaining === 0) this.finishEntry();
          break;
        }
        case State.Meta: {
          const n = Math.min(this.remaining, len - off);
          this.metaChunks.push(Buffer.from(chunk.subarray(off, off + n)));
          this.metaFill += n;
          this.remaining -= n;
          off += n;
          if (this.remaining === 0) this.finishMeta();
          break;
        }
        case State.Padding: {
          const n = Math.min(this.padding, len - off);
          this.padding -= n;
          off += n;
          if (this.padding === 0) this.state = State.Header;
          break;
        }
        case State.End:
          // Everything after the end-of-archive marker is padding; it is hashed by the caller, not parsed.
          return;
      }
    }
  }

  /** The input ended: fail when it stopped inside an entry. */
  end(): void {
    if (this.state === State.End) return;
    if (this.state === State.Header && this.headerFill === 0 && this.pendingMeta() === false) return;
    throw new UnpackError("INVALID_TAR", "The layer tar is truncated: the stream ended inside an entry.");
  }

  private pendingMeta(): boolean {
    return this.longName !== undefined || this.longLink !== undefined || this.pax !== undefined;
  }

  private onHeader(h: Buffer): void {
    if (isZeroBlock(h)) {
      this.state = State.End;
      return;
    }
    verifyChecksum(h);
    const typeflag = String.fromCharCode(h[156] ?? 0);
    const size = readNumber(h, 124, 12, "size");
    if (typeflag === "x" || typeflag === "g" || typeflag === "L" || typeflag === "K") {
      if (size > this.limits.maxMetaBytes) {
        throw new UnpackError(
          "LIMIT_EXCEEDED",
          `A ${typeflag === "L" || typeflag === "K" ? "GNU long-name" : "PAX"} header of ${size} bytes exceeds the ${this.limits.maxMetaBytes}-byte cap; the layer is malformed or hostile.`,
        );
      }
      this.metaType = typeflag;
      this.metaChunks = [];
      this.metaFill = 0;
      this.remaining = size;
      this.padding = pad(size);
      if (size === 0) this.finishMeta();
      else this.state = State.Meta;
      return;
    }
    let type = TYPES[typeflag];
    if (type === undefined) {
      const what = typeflag === "S" ? "GNU sparse file" : `type flag ${JSON.stringify(typeflag)}`;
      throw new UnpackError(
        "INVALID_TAR",
        `Unsupported tar entry (${what}); layers must use plain entry types.`,
      );
    }
    const pax = this.pax;
    this.pax = undefined;
    let name = this.longName ?? readName(h);
    let linkname = this.longLink ?? readString(h, 157, 100);
    this.longName = undefined;
    this.longLink = undefined;
    let entrySize = size;
    let uid = readNumber(h, 108, 8, "uid");
    let gid = readNumber(h, 116, 8, "gid");
    let mtime = readNumber(h, 136, 12, "mtime");
    let atime: number | undefined;
    let xattrs: Map<string, Buffer> | undefined;
    if (pax !== undefined) {
      for (const [key, value] of pax) {
        if (key.startsWith("SCHILY.xattr.")) {
          // Empty values are real (zero-length) xattrs.
          xattrs ??= new Map();
          xattrs.set(key.slice("SCHILY.xattr.".length), value);
          continue;
        }
        // For the standard keys an empty value deletes the record: the header field stands.
        if (value.length === 0) continue;
        switch (key) {
          case "path":
            name = utf8(value, "path");
            break;
          case "linkpath":
            linkname = utf8(value, "linkpath");
            break;
          case "size":
            entrySize = paxInteger(value, key);
            break;
          case "uid":
            uid = paxInteger(value, key);
            break;
          case "gid":
            gid = paxInteger(value, key);
            break;
          case "mtime":
            mtime = paxTime(value, key);
            break;
          case "atime":
            atime = paxTime(value, key);
            break;
          default:
            if (key.startsWith("GNU.sparse.")) {
              throw new UnpackError(
                "INVALID_TAR",
                "GNU sparse files (PAX GNU.sparse.*) are not supported in layers.",
              );
            }
        }
      }
    }
    // Pre-POSIX archives mark directories only by a trailing slash.
    if (type === "file" && typeflag !== "7" && name.endsWith("/")) type = "dir";
    this.entryCount++;
    if (this.entryCount > this.limits.maxEntries) {
      throw new UnpackError(
        "LIMIT_EXCEEDED",
        `The layer has more than ${this.limits.maxEntries} entries (limits.maxEntries); refusing to unpack it.`,
      );
    }
    const dataSize = type === "file" ? entrySize : 0;
    if (this.limits.maxBytes !== undefined && dataSize > this.limits.maxBytes) {
      throw new UnpackError(
        "LIMIT_EXCEEDED",
        `Tar entry ${JSON.stringify(name)} declares ${dataSize} bytes, more than limits.maxBytes (${this.limits.maxBytes}).`,
        { entry: name },
      );
    }
    this.sink.entry({
      name,
      linkname,
      type,
      mode: readNumber(h, 100, 8, "mode") & 0o7777,
      uid,
      gid,
      size: dataSize,
      mtime,
      atime,
      devmajor: type === "char" || type === "block" ? readNumber(h, 329, 8, "devmajor") : 0,
      devminor: type === "char" || type === "block" ? readNumber(h, 337, 8, "devminor") : 0,
      xattrs,
    });
    // Header-only types carry no data even when the size field is set (as Go's archive/tar reads it).
    this.remaining = dataSize;
    this.padding = pad(dataSize);
    if (dataSize === 0) this.finishEntry();
    else this.state = State.Data;
  }

  private finishEntry(): void {
    this.sink.endEntry();
    this.state = this.padding > 0 ? State.Padding : State.Header;
  }

  private finishMeta(): void {
    const buf =
      this.metaChunks.length === 1 ? (this.metaChunks[0] as Buffer) : Buffer.concat(this.metaChunks);
    this.metaChunks = [];
    switch (this.metaType) {
      case "L":
        this.longName = utf8(stripNuls(buf), "GNU long name");
        break;
      case "K":
        this.longLink = utf8(stripNuls(buf), "GNU long link name");
        break;
      case "x": {
        // Several PAX headers before one entry merge, later keys winning.
        const records = parsePaxRecords(buf);
        if (this.pax === undefined) this.pax = records;
        else for (const [k, v] of records) this.pax.set(k, v);
        break;
      }
      default:
        // Global PAX headers ('g') are ignored, as containerd and moby do.
        break;
    }
    this.state = this.padding > 0 ? State.Padding : State.Header;
  }
}

function pad(size: number): number {
  const rem = size % BLOCK;
  return rem === 0 ? 0 : BLOCK - rem;
}

function isZeroBlock(h: Buffer): boolean {
  for (let i = 0; i < BLOCK; i += 4) if (h.readUInt32LE(i) !== 0) return false;
  return true;
}

function verifyChecksum(h: Buffer): void {
  const stored = readNumber(h, 148, 8, "checksum");
  // The checksum field counts as eight spaces. The unsigned sum is what every modern writer stores; the
  // signed one (old Sun tar) is computed only when that does not match.
  if (stored === unsignedSum(h)) return;
  let signed = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) {
    if (i >= 148 && i < 156) continue;
    const b = h[i] as number;
    signed += b > 127 ? b - 256 : b;
  }
  if (stored !== signed) {
    throw new UnpackError(
      "INVALID_TAR",
      "A tar header checksum does not match: the layer is not a tar or is corrupt.",
    );
  }
}

/** Sum of the header's bytes with the checksum field counted as spaces. */
function unsignedSum(h: Buffer): number {
  let sum = 8 * 0x20;
  if (h.byteOffset % 4 === 0) {
    // 32 bits at a time (this runs for every header): two byte lanes per 16-bit half, which cannot
    // overflow in 128 words (≤ 128 × 510 < 65536).
    const words = new Uint32Array(h.buffer, h.byteOffset, BLOCK / 4);
    let lanes = 0;
    for (let i = 0; i < BLOCK / 4; i++) {
      const w = words[i] as number;
      lanes += (w & 0x00ff00ff) + ((w >>> 8) & 0x00ff00ff);
    }
    sum += (lanes % 0x10000) + Math.floor(lanes / 0x10000);
    for (let i = 148; i < 156; i++) sum -= h[i] as number;
    return sum;
  }
  for (let i = 0; i < 148; i++) sum += h[i] as number;
  for (let i = 156; i < BLOCK; i++) sum += h[i] as number;
  return sum;
}

function readString(h: Buffer, off: number, len: number): string {
  let end = off;
  const max = off + len;
  while (end < max && h[end] !== 0) end++;
  return utf8(h.subarray(off, end), "name");
}

function readName(h: Buffer): string {
  const name = readString(h, 0, 100);
  // POSIX ustar ("ustar\0" + "00") has a 155-byte prefix; GNU ("ustar  \0") uses that area for other fields.
  if (h[345] !== 0 && isPosixUstar(h)) {
    return `${readString(h, 345, 155)}/${name}`;
  }
  return name;
}

const USTAR = [0x75, 0x73, 0x74, 0x61, 0x72, 0]; // "ustar\0"

function isPosixUstar(h: Buffer): boolean {
  for (let i = 0; i < USTAR.length; i++) if (h[257 + i] !== USTAR[i]) return false;
  return true;
}

function readNumber(h: Buffer, off: number, len: number, field: string): number {
  const first = h[off] as number;
  if (first & 0x80) {
    // GNU base-256: big-endian two's complement; negative values are not meaningful here.
    if (first === 0xff) throw new UnpackError("INVALID_TAR", `A tar header has a negative ${field}.`);
    let value = first & 0x7f;
    for (let i = 1; i < len; i++) value = value * 256 + (h[off + i] as number);
    if (!Number.isSafeInteger(value))
      throw new UnpackError("INVALID_TAR", `A tar header ${field} is too large.`);
    return value;
  }
  let value = 0;
  let i = off;
  const end = off + len;
  while (i < end && (h[i] === 0x20 || h[i] === 0)) i++;
  let digits = 0;
  for (; i < end; i++) {
    const c = h[i] as number;
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) {
      throw new UnpackError("INVALID_TAR", `A tar header ${field} field is not octal: the layer is corrupt.`);
    }
    value = value * 8 + (c - 0x30);
    digits++;
  }
  return digits === 0 ? 0 : value;
}

function stripNuls(buf: Buffer): Buffer {
  let end = buf.length;
  while (end > 0 && buf[end - 1] === 0) end--;
  return buf.subarray(0, end);
}

function utf8(buf: Buffer, what: string): string {
  if (!isUtf8(buf)) {
    throw new UnpackError(
      "INVALID_TAR",
      `A tar ${what} is not valid UTF-8 (${buf.toString("latin1")}); such names cannot be created faithfully.`,
    );
  }
  return buf.toString("utf8");
}

function paxInteger(value: Buffer, key: string): number {
  const text = value.toString("latin1");
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new UnpackError("INVALID_TAR", `PAX record ${key}=${JSON.stringify(text)} is not a valid number.`);
  }
  return Number(text);
}

function paxTime(value: Buffer, key: string): number {
  // -?[0-9]+(\.[0-9]+)? checked on the bytes (every entry of a GNU tar PAX layer has three of these).
  let i = value[0] === 0x2d ? 1 : 0;
  const intStart = i;
  while (i < value.length && isDigit(value[i] as number)) i++;
  let ok = i > intStart;
  if (ok && i < value.length) {
    ok = value[i] === 0x2e && i + 1 < value.length;
    for (i++; ok && i < value.length; i++) ok = isDigit(value[i] as number);
  }
  const text = value.toString("latin1");
  if (!ok) {
    throw new UnpackError("INVALID_TAR", `PAX record ${key}=${JSON.stringify(text)} is not a valid time.`);
  }
  return Number(text);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
