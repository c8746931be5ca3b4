import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const BUSYBOX = "/bin/busybox";

/** A busybox rootfs in a temp dir named `<prefix>-XXXXXX`: /bin/busybox, an applet symlink each, /etc/passwd, /etc/group. */
export function makeBusyboxRootfs(prefix: string): { dir: string; rootfs: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const rootfs = join(dir, "rootfs");
  for (const sub of ["bin", "etc", "tmp", "root", "home/app", "proc", "sys", "dev", "work"]) {
    mkdirSync(join(rootfs, sub), { recursive: true });
  }
  chmodSync(join(rootfs, "tmp"), 0o1777);
  copyFileSync(BUSYBOX, join(rootfs, "bin/busybox"));
  chmodSync(join(rootfs, "bin/busybox"), 0o755);
  const applets = execFileSync(BUSYBOX, ["--list"], { encoding: "utf8" }).split("\n").filter(Boolean);
  for (const applet of applets) {
    if (applet !== "busybox") symlinkSync("busybox", join(rootfs, "bin", applet));
  }
  writeFileSync(
    join(rootfs, "etc/passwd"),
    [
      "root:x:0:0:root:/root:/bin/sh",
      "app:x:1000:1000:app:/home/app:/bin/sh",
      "nobody:x:65534:65534:nobody:/:/bin/false",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(rootfs, "etc/group"),
    ["root:x:0:", "wheel:x:10:root,app", "audio:x:29:app", "app:x:1000:", "nogroup:x:65534:", ""].join("\n"),
  );
  return { dir, rootfs, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
