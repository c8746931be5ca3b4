import { readFile, readdir, statfs } from "node:fs/promises";
import os from "node:os";
import type { ImageStore } from "@strata/image-store";
import { bytesSize } from "../format.js";

/** statfs f_type → the name moby's fsutils/graphdriver reports as "Backing Filesystem". */
const FS_NAMES: Record<number, string> = {
  0xef53: "extfs",
  0x01021994: "tmpfs",
  0x58465342: "xfs",
  0x9123683e: "btrfs",
  0x794c7630: "overlayfs",
  0x2fc12fc1: "zfs",
  0x6969: "nfs",
  0x65735546: "fuse",
  0xf2f52010: "f2fs",
  0x858458f6: "ramfs",
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
export async function infoCommand(store: ImageStore, version: string, cgroupRoot = "/sys/fs/cgroup"): Promise<string> {
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
