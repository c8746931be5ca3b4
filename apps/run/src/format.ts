/** Output helpers with docker's exact shapes (go-units and text/tabwriter behaviour). */

const DECIMAL = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/** Go's `%.<p>g` for the magnitudes go-units produces (no exponent form below 1e21). */
function goG(value: number, precision: number): string {
  return String(Number.parseFloat(value.toPrecision(precision)));
}

function customSize(size: number, base: number, units: string[], precision: number): string {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return `${goG(size, precision)}${units[i]}`;
}

/** go-units HumanSizeWithPrecision(size, 3): decimal units, as `docker images` SIZE ("72.8MB"). */
export function humanSize(bytes: number, precision = 3): string {
  return customSize(bytes, 1000, DECIMAL, precision);
}

/** go-units BytesSize: binary units, 4 significant digits ("22.93GiB"), as `docker info`. */
export function bytesSize(bytes: number): string {
  return customSize(bytes, 1024, BINARY, 4);
}

/** go-units HumanDuration ("About an hour", "3 weeks"). */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(ms / 3_600_000 / 24 / 365)} years`;
}

/** "<duration> ago" for an RFC 3339 time, or "N/A" when unknown. */
export function createdSince(created: string | undefined, now = Date.now()): string {
  if (!created) return "N/A";
  const t = Date.parse(created);
  if (Number.isNaN(t)) return "N/A";
  return `${humanDuration(Math.max(0, now - t))} ago`;
}

/**
 * Columns as docker's formatter writes them: text/tabwriter with minwidth 10, padding 3, padchar ' ',
 * so every column but the last is max(cell)+3 wide (at least 10).
 */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      if (i < row.length - 1) widths[i] = Math.max(widths[i] ?? 0, Math.max(10, cell.length + 3));
    });
  }
  return rows
    .map((row) => row.map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i] ?? 0) : cell)).join(""))
    .map((line) => `${line}\n`)
    .join("");
}

/** Go's time.String() of a UTC time as docker prints CreatedAt: "2026-01-01 00:00:00 +0000 UTC". */
export function goTimeString(created: string | undefined): string {
  if (!created) return "";
  const d = new Date(created);
  if (Number.isNaN(d.getTime())) return "";
  return `${d.toISOString().slice(0, 19).replace("T", " ")} +0000 UTC`;
}
