import fs from "node:fs/promises";
import path from "node:path";
import { fsyncDir, readdirOptional, readOptional } from "./atomic.js";
import { StoreError } from "./errors.js";
import { hexOf, isHex64, isSha256Digest, randomSuffix } from "./ids.js";
import type { StoreLayout } from "./layout.js";

/** One read-only layer as moby's layerdb records it (`layerdb/sha256/<chainID>/`). */
export interface LayerRecord {
  chainId: string;
  diffId: string;
  /** Bytes of regular files in the diff dir (hardlinks counted once), like moby's directory.Size. */
  size: number;
  /** The overlay2 directory name. */
  cacheId: string;
  /** Parent chainID; undefined for a base layer. */
  parent?: string;
}

/** Read `layerdb/sha256/<chainID>/`, or undefined when the layer is not registered. */
export async function readLayer(layout: StoreLayout, chainId: string): Promise<LayerRecord | undefined> {
  const dir = layout.layerDir(hexOf(chainId));
  const diffId = await readOptional(path.join(dir, "diff"));
  if (diffId === undefined) return undefined;
  const [size, cacheId, parent] = await Promise.all([
    readOptional(path.join(dir, "size")),
    readOptional(path.join(dir, "cache-id")),
    readOptional(path.join(dir, "parent")),
  ]);
  const rec: LayerRecord = {
    chainId,
    diffId: diffId.trim(),
    size: Number((size ?? "0").trim()),
    cacheId: (cacheId ?? "").trim(),
  };
  if (parent !== undefined && parent.trim() !== "") rec.parent = parent.trim();
  if (!isSha256Digest(rec.diffId) || !isHex64(rec.cacheId) || (rec.parent && !isSha256Digest(rec.parent))) {
    throw new StoreError(
      "STORE_CORRUPT",
      `layer ${chainId} has a malformed record in ${dir}; remove that directory and pull the image again`,
    );
  }
  return rec;
}

/** Every registered chainID. */
export async function listLayerIds(layout: StoreLayout): Promise<string[]> {
  return (await readdirOptional(layout.layerdbSha256)).filter(isHex64).map((h) => `sha256:${h}`);
}

/**
 * Write a layerdb record atomically: files go into `layerdb/tmp/write-set-*` and the directory is
 * renamed to `layerdb/sha256/<chainID>` (moby's filestore does the same). The rename is the commit
 * point of a layer: before it the layer does not exist, after it the layer is complete.
 */
export async function writeLayerRecord(layout: StoreLayout, rec: LayerRecord): Promise<void> {
  const tmp = path.join(layout.layerdbTmp, `write-set-${randomSuffix()}`);
  await fs.mkdir(tmp, { mode: 0o755 });
  const files: Array<[string, string]> = [
    ["diff", rec.diffId],
    ["size", String(rec.size)],
    ["cache-id", rec.cacheId],
  ];
  if (rec.parent) files.push(["parent", rec.parent]);
  await Promise.all(files.map(([name, value]) => fs.writeFile(path.join(tmp, name), value, { mode: 0o644 })));
  await fs.rename(tmp, layout.layerDir(hexOf(rec.chainId)));
  await fsyncDir(layout.layerdbSha256);
}

/**
 * Unregister a layer: rename its record into layerdb/tmp (the commit point), then delete its overlay2
 * dir and short link. The caller journals the cache id first so a crash in between is finished by
 * recovery.
 */
export async function deleteLayerRecord(layout: StoreLayout, rec: LayerRecord): Promise<void> {
  const aside = path.join(layout.layerdbTmp, `remove-${hexOf(rec.chainId)}-${randomSuffix()}`);
  await fs.rename(layout.layerDir(hexOf(rec.chainId)), aside);
  await removeCacheDir(layout, rec.cacheId);
  await fs.rm(aside, { recursive: true, force: true });
}

/** Remove `overlay2/<cacheId>` and its `l/<LID>` link. */
export async function removeCacheDir(layout: StoreLayout, cacheId: string): Promise<void> {
  const lid = (await readOptional(path.join(layout.cacheDir(cacheId), "link")))?.trim();
  if (lid && /^[A-Z2-7]{26}$/.test(lid)) await fs.rm(layout.link(lid), { force: true });
  await fs.rm(layout.cacheDir(cacheId), { recursive: true, force: true });
}

/** Size of a diff dir the way moby's directory.Size counts it: regular files, each inode once. */
export async function directorySize(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    const entries = await fs.readdir(d, { withFileTypes: true });
    const subdirs: string[] = [];
    await Promise.all(
      entries.map(async (e) => {
        const p = path.join(d, e.name);
        if (e.isDirectory()) {
          subdirs.push(p);
        } else if (e.isFile()) {
          const st = await fs.lstat(p, { bigint: true });
          if (st.nlink > 1n) {
            const key = `${st.dev}:${st.ino}`;
            if (seen.has(key)) return;
            seen.add(key);
          }
          total += Number(st.size);
        }
      }),
    );
    for (const s of subdirs) await walk(s);
  };
  await walk(dir);
  return total;
}
