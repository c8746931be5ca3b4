import { readFile } from "node:fs/promises";

/** An overlay mount as the kernel reports it, options decoded. */
export interface OverlayMountInfo {
  target: string;
  source: string;
  /** Every super-block option: "lowerdir" -> "a:b", "index" -> "off", "rw" -> true. */
  options: Record<string, string | true>;
  /** lowerdir split into layers, uppermost first (relative when mounted with the relative form). */
  lowerdir: string[];
  upperdir?: string;
  workdir?: string;
  /** True when the layer paths are relative (the page-size fallback): relative to the overlay2 root. */
  relative: boolean;
}

/** Undoes the kernel's octal escapes in mount tables (`\040` space, `\011` tab, `\012` newline, `\134` backslash). */
export function decodeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

/**
 * Splits on `separator` unless it is written "\\<separator>" (the form users give overlayfs for ':' in a
 * path); other backslashes are kept for decodeOctal (newer kernels print ':' in a path as \072).
 */
function splitUnescaped(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\" && text[i + 1] === separator) {
      current += separator;
      i++;
    } else if (c === separator) {
      parts.push(current);
      current = "";
    } else current += c;
  }
  parts.push(current);
  return parts;
}

function toInfo(target: string, source: string, superOptions: string): OverlayMountInfo {
  const options: Record<string, string | true> = {};
  let lowerRaw = "";
  // Split the raw text first: a ',' or ':' inside a path is escaped, so decoding comes last.
  for (const option of superOptions.split(",")) {
    const eq = option.indexOf("=");
    if (eq < 0) options[decodeOctal(option)] = true;
    else {
      const key = decodeOctal(option.slice(0, eq));
      if (key === "lowerdir") lowerRaw = option.slice(eq + 1);
      options[key] = decodeOctal(option.slice(eq + 1));
    }
  }
  const lowerdir = lowerRaw === "" ? [] : splitUnescaped(lowerRaw, ":").map(decodeOctal);
  const info: OverlayMountInfo = { target, source, options, lowerdir, relative: false };
  if (typeof options.upperdir === "string") info.upperdir = options.upperdir;
  if (typeof options.workdir === "string") info.workdir = options.workdir;
  info.relative = [...lowerdir, info.upperdir ?? "/"].some((p) => !p.startsWith("/"));
  return info;
}

/** Overlay mounts in /proc/self/mountinfo text (proc(5): "... mountpoint ... - fstype source superopts"). */
export function parseOverlayMountInfo(text: string): OverlayMountInfo[] {
  const result: OverlayMountInfo[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const sep = fields.indexOf("-", 6);
    if (sep < 0 || fields[sep + 1] !== "overlay") continue;
    result.push(
      toInfo(decodeOctal(fields[4] ?? ""), decodeOctal(fields[sep + 2] ?? ""), fields[sep + 3] ?? ""),
    );
  }
  return result;
}

/** Overlay mounts in /proc/mounts text (fstab format: source target fstype options 0 0), the guide's view. */
export function parseOverlayProcMounts(text: string): OverlayMountInfo[] {
  const result: OverlayMountInfo[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    if (fields[2] !== "overlay") continue;
    result.push(toInfo(decodeOctal(fields[1] ?? ""), decodeOctal(fields[0] ?? ""), fields[3] ?? ""));
  }
  return result;
}

/** Lists overlay mounts: from /proc/self/mountinfo by default, or a /proc/mounts-format file. */
export async function listOverlayMounts(
  options: { path?: string; format?: "mountinfo" | "mounts" } = {},
): Promise<OverlayMountInfo[]> {
  const format = options.format ?? (options.path?.endsWith("mounts") ? "mounts" : "mountinfo");
  const text = await readFile(options.path ?? "/proc/self/mountinfo", "utf8");
  return format === "mounts" ? parseOverlayProcMounts(text) : parseOverlayMountInfo(text);
}

/** True when something is mounted exactly on `target`. */
export async function isMountPoint(target: string, mountInfoPath = "/proc/self/mountinfo"): Promise<boolean> {
  const text = await readFile(mountInfoPath, "utf8");
  return text.split("\n").some((line) => decodeOctal(line.split(" ")[4] ?? "") === target);
}
