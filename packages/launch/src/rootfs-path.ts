import { lstatSync, readlinkSync } from "node:fs";
import { posix } from "node:path";
import { LaunchError } from "./errors.js";

const MAX_SYMLINKS = 255;

/**
 * The host path of `path` as the container would see it: symlinks are followed with the rootfs
 * as `/`, so neither `..` nor an absolute link target can leave the rootfs (the image's own
 * `/etc/passwd -> /etc/host-passwd` resolves inside it). Missing components are kept as they are.
 */
export function resolveInRoot(rootfs: string, path: string): string {
  const pending = posix.normalize(`/${path}`).split("/").filter(Boolean);
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === ".") continue;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const host = posix.join(rootfs, ...resolved, part);
    let target: string | undefined;
    try {
      if (lstatSync(host).isSymbolicLink()) target = readlinkSync(host);
    } catch {
      target = undefined; // missing: keep the name, later components stay missing too
    }
    if (target === undefined) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) {
      throw new LaunchError("INVALID_SPEC", `too many symlinks resolving ${path} inside ${rootfs}`);
    }
    if (target.startsWith("/")) resolved.length = 0;
    pending.unshift(...target.split("/").filter(Boolean));
  }
  return posix.join(rootfs, ...resolved);
}
