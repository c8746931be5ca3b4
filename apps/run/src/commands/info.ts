import { readdir, readFile, statfs } from "node:fs/promises";
import os from "node:os";
import type { ImageStore } from "@strata/image-store";
import { bytesSize } from "../format.js";

/** statfs f_type → the name moby's fsutils/graphdriver reports as "Backing Filesystem". */
const FS_NAMES: Record<number, string> = {
  61267: "extfs",
  16914836: "tmpfs",
  1481003842: "xfs",
  2435016766: "btrfs",
  2035054128: "overlayfs",
  801189825: "zfs",
  26985: "nfs",
  1702057286: "fuse",
  4076150800: "f2fs",
  2240043254: "ramfs",
};
const CGROUP2_MAGIC = 0x63677270;

async function osName(): Promise<string> {
  try {
    const text = await readFile("/etc/os-release", "utf8");
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text)?.[1] ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** `docker info`'s server section for strata, so `strata info | egrep -i storage` matches docker's. */
export async function infoCommand(
  store: ImageStore,
  version: string,
  cgroupRoot = "/sys/fs/cgroup",
): Promise<string> {
  const fs = await statfs(store.layout.overlay2);
  const backing = FS_NAMES[fs.type] ?? `<unknown> (0x${fs.type.toString(16)})`;
  const dType = (await readdir(store.layout.root, { withFileTypes: true })).every(
    (e) => e.isDirectory() || e.isFile() || e.isSymbolicLink(),
  );
  const cgroupVersion = await statfs(cgroupRoot).then(
    (s) => (s.type === CGROUP2_MAGIC ? "2" : "1"),
    () => "1",
  );
  const images = (await store.imageIds()).length;
  const lines = [
    "Server:",
    " Containers: 0",
    `  Running: 0`,
    `  Paused: 0`,
    `  Stopped: 0`,
    ` Images: ${images}`,
    ` Server Version: strata ${version}`,
    " Storage Driver: overlay2",
    `  Backing Filesystem: ${backing}`,
    `  Supports d_type: ${dType}`,
    "  Using metacopy: false",
    "  Native Overlay Diff: true",
    "  userxattr: false",
    " Cgroup Driver: cgroupfs",
    ` Cgroup Version: ${cgroupVersion}`,
    ` Kernel Version: ${os.release()}`,
    ` Operating System: ${await osName()}`,
    " OSType: linux",
    ` Architecture: ${os.machine()}`,
    ` CPUs: ${os.availableParallelism()}`,
    ` Total Memory: ${bytesSize(os.totalmem())}`,
    ` Strata Root Dir: ${store.root}`,
  ];
  return `${lines.join("\n")}\n`;
}
