import { UnpackError } from "./errors.js";

/**
 * PAX extended header records, binary-safe: `"<len> <key>=<value>\n"` where <len> counts the whole
 * record in bytes. Values stay Buffers because `SCHILY.xattr.*` values are raw bytes (a UTF-8 decode
 * would corrupt `security.capability`). `buf` must be owned by the caller: values are views into it.
 */
export function parsePaxRecords(buf: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let pos = 0;
  while (pos < buf.length) {
    // Trailing NUL padding after the last record is tolerated (some writers pad).
    if (buf[pos] === 0) break;
    const space = buf.indexOf(0x20, pos);
    if (space < 0 || space - pos > 20) throw invalid("a record has no length field");
    let len = 0;
    for (let i = pos; i < space; i++) {
      const c = buf[i] as number;
      if (c < 0x30 || c > 0x39) {
        throw invalid(
          `a record length is not a number (${JSON.stringify(buf.toString("latin1", pos, space))})`,
        );
      }
      len = len * 10 + (c - 0x30);
    }
    if (space === pos) throw invalid('a record length is not a number ("")');
    const end = pos + len;
    if (len <= space - pos + 1 || end > buf.length || buf[end - 1] !== 0x0a) {
      throw invalid("a record length does not match its contents");
    }
    const eq = buf.indexOf(0x3d, space + 1);
    if (eq < 0 || eq >= end - 1) throw invalid("a record has no '=' between key and value");
    const key = buf.toString("utf8", space + 1, eq);
    // A view, not a copy: the parser hands us a buffer it owns (never a slice of a stream chunk).
    records.set(key, buf.subarray(eq + 1, end - 1));
    pos = end;
  }
  return records;
}

function invalid(what: string): UnpackError {
  return new UnpackError("INVALID_TAR", `Malformed PAX extended header: ${what}. The layer tar is corrupt.`);
}
