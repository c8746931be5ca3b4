// /etc/{hosts,hostname,resolv.conf} placeholders: the bind-mount targets Docker's init layer makes.
import type { Stats } from "node:fs";
import { chmod, chown, lstat, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** What the merged view of `dirs` (uppermost first) shows at `path`, without following symlinks. */
async function lookupInLayers(dirs: string[], path: string): Promise<Stats | undefined> {
  for (const dir of dirs) {
    const st = await lstat(join(dir, path)).catch(() => undefined);
    if (st) return st;
  }
  return undefined;
}

/**
 * What `ensureLayeredPlaceholders` would create, without creating it: the missing /etc files, whether
 * `etc` itself must be made in the upperdir, and the image's `etc` it copies mode and owner from.
 */
export async function missingPlaceholders(
  dirs: string[],
): Promise<{ missing: string[]; makeEtc: boolean; etc?: { mode: number; uid: number; gid: number } }> {
  const [upper] = dirs;
  if (upper === undefined) return { missing: [], makeEtc: false };
  const find = (path: string) => lookupInLayers(dirs, path);
  const etcStat = await find("etc");
  if (etcStat && !etcStat.isDirectory()) return { missing: [], makeEtc: false };
  const missing: string[] = [];
  for (const name of ["hosts", "hostname", "resolv.conf"])
    if (!(await find(join("etc", name)))) missing.push(name);
  const makeEtc = missing.length > 0 && !(await lstat(join(upper, "etc")).catch(() => undefined));
  return {
    missing,
    makeEtc,
    ...(etcStat ? { etc: { mode: etcStat.mode, uid: etcStat.uid, gid: etcStat.gid } } : {}),
  };
}

/** Bind-mount targets for /etc/{hosts,hostname,resolv.conf}; Docker's init layer makes them. */
export async function ensurePlaceholders(rootfs: string): Promise<void> {
  const etc = join(rootfs, "etc");
  // Never follow the image's symlinks here: on the host an absolute link would point outside the rootfs.
  const etcStat = await lstat(etc).catch(() => undefined);
  if (etcStat && !etcStat.isDirectory()) return; // the launcher resolves it inside the rootfs, or says why not
  if (!etcStat) await mkdir(etc, { mode: 0o755 });
  for (const name of ["hosts", "hostname", "resolv.conf"]) {
    // "wx": create only when absent; an existing file or symlink is left alone
    await writeFile(join(etc, name), "", { flag: "wx", mode: 0o644 }).catch(() => undefined);
  }
}

/**
 * `ensurePlaceholders` for an overlay that is not mounted yet: `dirs` are its layers, uppermost (the
 * container's upperdir) first. What the merged view would show decides; what is missing is created in
 * the upperdir.
 */
export async function ensureLayeredPlaceholders(dirs: string[]): Promise<void> {
  const [upper] = dirs;
  if (upper === undefined) return;
  const find = (path: string) => lookupInLayers(dirs, path);
  const etcStat = await find("etc");
  if (etcStat && !etcStat.isDirectory()) return; // a symlink: the launcher resolves it inside the rootfs
  const missing: string[] = [];
  for (const name of ["hosts", "hostname", "resolv.conf"])
    if (!(await find(join("etc", name)))) missing.push(name);
  if (missing.length === 0) return;
  if (!(await lstat(join(upper, "etc")).catch(() => undefined))) {
    // the same mode and owner as the image's /etc, so the merged view does not change them
    await mkdir(join(upper, "etc"));
    await chmod(join(upper, "etc"), etcStat ? etcStat.mode & 0o7777 : 0o755); // not masked by the umask
    if (etcStat) await chown(join(upper, "etc"), etcStat.uid, etcStat.gid);
  }
  for (const name of missing) {
    await writeFile(join(upper, "etc", name), "", { flag: "wx", mode: 0o644 }).catch(() => undefined);
  }
}
