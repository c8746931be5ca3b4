import { constants } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { ownerToken, randomSuffix } from "./ids.js";

/**
 * Write a file atomically: write a temp file in `tmpDir` (same filesystem), fsync it, rename it over
 * `target`, then fsync the parent directory. Readers see the old or the new bytes, never a mix; a
 * kill -9 leaves at most a temp file that recovery removes.
 */
export async function writeFileAtomic(
  target: string,
  data: string | Uint8Array,
  options: { mode?: number; tmpDir?: string } = {},
): Promise<void> {
  const dir = options.tmpDir ?? path.dirname(target);
  const tmp = path.join(dir, `.tmp-${ownerToken()}-${randomSuffix()}-${path.basename(target)}`);
  const fh = await fs.open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
    options.mode ?? 0o644,
  );
  try {
    await fh.writeFile(data);
    await fh.chmod(options.mode ?? 0o644);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(path.dirname(target));
}

/** fsync a directory so a rename into it survives a power loss (best effort). */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    await fh.sync();
  } catch {
    // some filesystems refuse fsync on directories; the rename is still atomic
  } finally {
    await fh?.close();
  }
}

/** Read a small text file, or undefined when it does not exist. */
export async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Directory entries, or [] when the directory does not exist. */
export async function readdirOptional(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}
