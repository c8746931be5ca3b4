import { readFile, statfs } from "node:fs/promises";
import { OverlayError } from "./errors.js";

/** statfs f_type values of filesystems overlayfs cannot use as the upper/backing fs (moby overlay2 refuses them). */
const UNSUPPORTED_BACKING: Record<number, string> = {
  2035054128: "overlayfs",
  1635083891: "aufs",
  61791: "ecryptfs",
  801189825: "zfs",
  26985: "nfs",
};

/**
 * Throws OVERLAY_UNSUPPORTED unless /proc/filesystems lists overlay. strata does not run modprobe
 * (it may be absent, as on the project's build machine); the message says how to load the module.
 */
export async function checkOverlaySupport(options: { filesystemsPath?: string } = {}): Promise<void> {
  const path = options.filesystemsPath ?? "/proc/filesystems";
  const text = await readFile(path, "utf8");
  const supported = text.split("\n").some((line) => line.split("\t").at(-1)?.trim() === "overlay");
  if (!supported) {
    throw new OverlayError(
      "OVERLAY_UNSUPPORTED",
      `the kernel does not support overlayfs (no "overlay" in ${path}): load the module with \`modprobe overlay\` as root, or use a kernel built with CONFIG_OVERLAY_FS`,
    );
  }
}

/** Throws BACKING_FS_UNSUPPORTED when `dir` is on a filesystem overlayfs cannot stack on; returns its f_type. */
export async function checkBackingFs(dir: string): Promise<number> {
  const { type } = await statfs(dir);
  const name = UNSUPPORTED_BACKING[type];
  if (name !== undefined) {
    throw new OverlayError(
      "BACKING_FS_UNSUPPORTED",
      `${dir} is on ${name}, which overlayfs cannot use for its layers: put the store on ext4, xfs (ftype=1), btrfs or tmpfs`,
    );
  }
  return type;
}
