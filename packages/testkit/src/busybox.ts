import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { TestkitError } from "./errors.js";
import { type Layer, type LayerEntry, type TarLayerOptions, tarLayer } from "./tar.js";

/** Where the statically linked busybox lives (Debian `busybox-static`). */
export const BUSYBOX_PATH = "/bin/busybox";

/** The test user in the busybox rootfs: uid/gid 1000, also member of group `apps` (gid 2000). */
export const APP_USER = {
  name: "app",
  uid: 1000,
  gid: 1000,
  supplementaryGid: 2000,
  home: "/home/app",
} as const;

const PASSWD = `root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
`;
const GROUP = `root:x:0:
app:x:1000:
apps:x:2000:app
nogroup:x:65534:
`;
const HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

/** Applets the host busybox provides (`busybox --list`). */
export function busyboxApplets(path = BUSYBOX_PATH): string[] {
  try {
    return execFileSync(path, ["--list"], { encoding: "utf8" })
      .split("\n")
      .map((s) => s.trim())
      .filter((s) => s !== "" && s !== "busybox" && !s.includes("/"));
  } catch (e) {
    throw new TestkitError(
      "COMMAND_FAILED",
      `cannot run ${path} --list: ${(e as Error).message} (install the busybox-static apt package)`,
      { cause: e },
    );
  }
}

/** The entries of a minimal runnable rootfs: /bin/busybox, one symlink per applet, /etc files, empty mount points. */
export function busyboxRootfsEntries(path = BUSYBOX_PATH): LayerEntry[] {
  let binary: Buffer;
  try {
    binary = readFileSync(path);
  } catch (e) {
    throw new TestkitError("COMMAND_FAILED", `cannot read ${path} (install the busybox-static apt package)`, {
      cause: e,
    });
  }
  const entries: LayerEntry[] = [
    { type: "dir", path: "bin" },
    { type: "file", path: "bin/busybox", content: binary, mode: 0o755 },
  ];
  for (const applet of busyboxApplets(path))
    entries.push({ type: "symlink", path: `bin/${applet}`, target: "busybox" });
  entries.push(
    { type: "dir", path: "sbin" },
    { type: "dir", path: "usr" },
    { type: "dir", path: "usr/bin" },
    { type: "dir", path: "etc" },
    { type: "file", path: "etc/passwd", content: PASSWD },
    { type: "file", path: "etc/group", content: GROUP },
    { type: "file", path: "etc/hosts", content: HOSTS },
    { type: "file", path: "etc/hostname", content: "strata\n" },
    { type: "file", path: "etc/resolv.conf", content: "" },
    { type: "dir", path: "proc", mode: 0o555 },
    { type: "dir", path: "sys", mode: 0o555 },
    { type: "dir", path: "dev" },
    { type: "dir", path: "tmp", mode: 0o1777 },
    { type: "dir", path: "root", mode: 0o700 },
    { type: "dir", path: "home" },
    { type: "dir", path: "home/app", uid: APP_USER.uid, gid: APP_USER.gid },
    { type: "dir", path: "var" },
    { type: "dir", path: "run" },
  );
  return entries;
}

/** A runnable rootfs layer built from the host's static busybox. */
export function busyboxRootfs(
  options: TarLayerOptions & { extraEntries?: LayerEntry[] } = {},
): Promise<Layer> {
  return tarLayer([...busyboxRootfsEntries(), ...(options.extraEntries ?? [])], options);
}
