import { isAbsolute, join, resolve } from "node:path";
import { OverlayError } from "./errors.js";

/** moby's maxDepth: at most 128 lower layers under one overlay mount. */
export const MAX_LAYERS = 128;
/** The page size the mount(2) data must fit in (moby uses unix.Getpagesize(); 4096 on x86-64). */
export const DEFAULT_PAGE_SIZE = 4096;

/**
 * A mount as data (containerd's `mount.Mount`), built before anything is mounted. `cwd` is set when
 * the options use paths relative to the overlay2 root (the page-size fallback): mount from there.
 */
export interface OverlayMount {
  type: "overlay";
  source: "overlay";
  target: string;
  options: string[];
  cwd?: string;
}

export interface OverlayStack {
  /** The overlay2 root (e.g. /var/lib/strata/overlay2). Relative entries below are relative to it. */
  root: string;
  /** Lower layers, uppermost first, as in a `lower` file: "l/<LID>" entries (or absolute paths). */
  lower: string[];
  /** Writable layer dir and its work dir, relative to root ("<id>/diff", "<id>/work") or absolute. */
  upper?: string;
  work?: string;
  /** The mount point (absolute, or relative to root). */
  target: string;
  /** Prefix `index=off` (moby does when /sys/module/overlay/parameters/index exists). Default true. */
  indexOff?: boolean;
  pageSize?: number;
}

function checkPath(path: string): void {
  // The legacy mount(2) option string cannot carry these without escaping, which moby does not do either.
  if (path === "" || /[,:\n\\]/.test(path)) {
    throw new OverlayError(
      "INVALID_PATH",
      `overlay path ${JSON.stringify(path)} is empty or contains ',', ':', '\\' or a newline, which mount options cannot carry; use a store root without them`,
    );
  }
}

function options(stack: OverlayStack, abs: (p: string) => string): string[] {
  const opts: string[] = [];
  if (stack.indexOff ?? true) opts.push("index=off");
  opts.push(`lowerdir=${stack.lower.map(abs).join(":")}`);
  if (stack.upper !== undefined)
    opts.push(`upperdir=${abs(stack.upper)}`, `workdir=${abs(stack.work ?? "")}`);
  return opts;
}

/**
 * Builds the overlay mount for a stack, as moby's overlay2 `Get` does: absolute paths first; if the
 * option string does not fit in a page, paths relative to the root, to be mounted with cwd = root.
 */
export function buildOverlayMount(input: OverlayStack): OverlayMount {
  const stack = { ...input, root: resolve(input.root) };
  if (stack.lower.length === 0) {
    throw new OverlayError("TOO_MANY_LAYERS", "an overlay mount needs at least one lower layer");
  }
  if (stack.lower.length > MAX_LAYERS) {
    throw new OverlayError(
      "TOO_MANY_LAYERS",
      `max depth exceeded: ${stack.lower.length} lower layers, overlay2 allows ${MAX_LAYERS}; squash the image (fewer layers)`,
    );
  }
  if ((stack.upper === undefined) !== (stack.work === undefined)) {
    throw new OverlayError("INVALID_PATH", "upper and work go together: give both or neither");
  }
  const all = [
    stack.root,
    stack.target,
    ...stack.lower,
    ...(stack.upper ? [stack.upper, stack.work ?? ""] : []),
  ];
  for (const p of all) checkPath(p);
  const pageSize = stack.pageSize ?? DEFAULT_PAGE_SIZE;
  const target = isAbsolute(stack.target) ? stack.target : join(stack.root, stack.target);

  const absolute = options(stack, (p) => (isAbsolute(p) ? p : join(stack.root, p)));
  if (absolute.join(",").length <= pageSize - 1)
    return { type: "overlay", source: "overlay", target, options: absolute };

  const relative = options(stack, (p) => p);
  if (relative.join(",").length <= pageSize - 1) {
    return { type: "overlay", source: "overlay", target, options: relative, cwd: stack.root };
  }
  throw new OverlayError(
    "OPTIONS_TOO_LONG",
    `mount label too large: the overlay options need ${relative.join(",").length} bytes even with paths relative to ${stack.root}, more than a page (${pageSize - 1}); use short l/ links or fewer layers`,
  );
}

/** The option string passed to mount(2) / `mount -o`. */
export function mountData(mount: OverlayMount): string {
  return mount.options.join(",");
}

/** argv of the util-linux command that performs the mount (run it in `mount.cwd` when set). */
export function mountCommand(mount: OverlayMount): string[] {
  return ["mount", "-t", mount.type, mount.source, "-o", mountData(mount), mount.target];
}

const quote = (a: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

/** The equivalent shell command, e.g. for `--explain`: `cd ROOT && mount -t overlay overlay -o ... TARGET`. */
export function explainMount(mount: OverlayMount): string {
  const command = mountCommand(mount).map(quote).join(" ");
  return mount.cwd === undefined ? command : `cd ${quote(mount.cwd)} && ${command}`;
}
