import { UnpackError } from "./errors.js";

export const WHITEOUT_PREFIX = ".wh.";
export const WHITEOUT_META_PREFIX = ".wh..wh.";
export const OPAQUE_MARKER = ".wh..wh..opq";

/**
 * Splits a tar name into clean components. A leading "/" is dropped (names are relative to the layer
 * root), "." and empty components vanish, ".." pops, and a ".." that would climb above the root is an
 * UNSAFE_PATH error rather than being clamped.
 */
export function splitName(name: string, what = "entry"): string[] {
  if (name.includes("\0")) {
    throw new UnpackError("INVALID_TAR", `A tar ${what} name contains a NUL byte.`, { entry: name });
  }
  const parts: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length === 0) {
        throw new UnpackError(
          "UNSAFE_PATH",
          `Tar ${what} ${JSON.stringify(name)} climbs out of the layer root with "..": refusing to unpack it.`,
          { entry: name },
        );
      }
      parts.pop();
      continue;
    }
    parts.push(part);
  }
  return parts;
}

export type Whiteout = { kind: "opaque" } | { kind: "whiteout"; target: string } | { kind: "aufs-meta" };

/**
 * Classifies an entry by its last component. `.wh..wh..opq` is an opaque marker; other `.wh..wh.*`
 * names are AUFS bookkeeping (skipped); `.wh.X` whites out X; `.wh.`, `.wh..` and `.wh...` are invalid.
 */
export function classifyWhiteout(parts: string[], name: string): Whiteout | undefined {
  // A whiteout name used as a *directory* would make the layer contain a ".wh." path, which images cannot.
  for (let i = 0; i < parts.length - 1; i++) {
    const p = parts[i] as string;
    if (p.startsWith(WHITEOUT_META_PREFIX)) return { kind: "aufs-meta" };
    if (p.startsWith(WHITEOUT_PREFIX)) {
      throw new UnpackError(
        "INVALID_WHITEOUT",
        `Tar entry ${JSON.stringify(name)} lies under a whiteout name (${p}); layers cannot contain ".wh." paths.`,
        { entry: name },
      );
    }
  }
  const base = parts[parts.length - 1];
  if (base === undefined || !base.startsWith(WHITEOUT_PREFIX)) return undefined;
  if (base === OPAQUE_MARKER) return { kind: "opaque" };
  if (base.startsWith(WHITEOUT_META_PREFIX)) return { kind: "aufs-meta" };
  const target = base.slice(WHITEOUT_PREFIX.length);
  if (target === "" || target === "." || target === "..") {
    throw new UnpackError(
      "INVALID_WHITEOUT",
      `Whiteout ${JSON.stringify(name)} names no file (".wh." must be followed by a real file name).`,
      { entry: name },
    );
  }
  return { kind: "whiteout", target };
}
