import { spawn } from "node:child_process";
import { OverlayError } from "./errors.js";
import { mountCommand, type OverlayMount } from "./spec.js";

/**
 * The privileged effect of this package. Node has no mount(2): the default spawns util-linux `mount`
 * (with cwd for the relative form) and `umount -l` (MNT_DETACH). Unit tests record calls instead.
 */
export interface Mounter {
  mount(mount: OverlayMount): Promise<void>;
  /** Detach `target` (umount2 MNT_DETACH): copies in other mount namespaces go away too. */
  unmount(target: string): Promise<void>;
}

function run(argv: string[], cwd: string | undefined): Promise<{ code: number; stderr: string }> {
  const [file, ...args] = argv;
  return new Promise((resolve, reject) => {
    const child = spawn(file ?? "", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
    const err: Buffer[] = [];
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stderr: Buffer.concat(err).toString("utf8") }));
  });
}

/** Spawns `mount -t overlay overlay -o OPTS TARGET` and `umount -l TARGET`. */
export function spawnMounter(): Mounter {
  return {
    async mount(mount) {
      const argv = mountCommand(mount);
      const { code, stderr } = await run(argv, mount.cwd);
      if (code !== 0) {
        throw new OverlayError(
          "MOUNT_FAILED",
          `mounting the overlay on ${mount.target} failed (mount exited ${code}): ${stderr.trim()}; dmesg usually names the bad option or layer`,
          { command: argv, ...(mount.cwd === undefined ? {} : { cwd: mount.cwd }), stderr },
        );
      }
    },
    async unmount(target) {
      const argv = ["umount", "-l", target];
      const { code, stderr } = await run(argv, undefined);
      if (code !== 0) {
        throw new OverlayError(
          "UNMOUNT_FAILED",
          `unmounting ${target} failed (umount exited ${code}): ${stderr.trim()}`,
          {
            command: argv,
            stderr,
          },
        );
      }
    },
  };
}
