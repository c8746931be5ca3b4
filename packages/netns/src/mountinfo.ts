import { readFile } from "node:fs/promises";

/** One line of /proc/self/mountinfo, the fields this package needs. */
export interface MountInfoEntry {
  mountPoint: string;
  /** Optional fields such as "shared:12" or "master:3". */
  optionalFields: string[];
  fsType: string;
}

/** Undoes the kernel's octal escapes (`\040` for space, `\011`, `\012`, `\134`). */
export function decodeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

/** Parses /proc/self/mountinfo text (proc(5) format). */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const entries: MountInfoEntry[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const fields = line.split(" ");
    const sep = fields.indexOf("-", 6);
    if (sep < 0 || fields.length < sep + 2) continue;
    entries.push({
      mountPoint: decodeMountField(fields[4] ?? ""),
      optionalFields: fields.slice(6, sep),
      fsType: fields[sep + 1] ?? "",
    });
  }
  return entries;
}

/** True when `dir` is itself a mount point with shared propagation (the state `ip netns add` leaves). */
export async function isSharedMountPoint(
  dir: string,
  mountInfoPath = "/proc/self/mountinfo",
): Promise<boolean> {
  const entries = parseMountInfo(await readFile(mountInfoPath, "utf8"));
  // The last mount on a path is the visible one.
  const top = entries.filter((e) => e.mountPoint === dir).at(-1);
  return top?.optionalFields.some((f) => f.startsWith("shared:")) ?? false;
}
