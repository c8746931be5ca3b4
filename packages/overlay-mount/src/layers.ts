import { randomBytes } from "node:crypto";
import { access, mkdir, readFile, readlink, rm, rmdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { OverlayError } from "./errors.js";
import { type Mounter, spawnMounter } from "./mounter.js";
import { isMountPoint } from "./mounts.js";
import { removeTree } from "./remove-tree.js";
import { buildOverlayMount, MAX_LAYERS, type OverlayMount } from "./spec.js";
import { checkBackingFs, checkOverlaySupport } from "./support.js";

/** moby's short link directory and link-id length (26 base32 chars keep 128 `l/<id>` entries under a page). */
export const LINK_DIR = "l";
export const LINK_ID_LENGTH = 26;

/** Paths of one layer dir in a Docker overlay2 root. */
export interface LayerPaths {
  dir: string;
  diff: string;
  work: string;
  merged: string;
  lower: string;
  link: string;
  committed: string;
}

export function layerPaths(root: string, id: string): LayerPaths {
  assertLayerId(id);
  const dir = join(root, id);
  return {
    dir,
    diff: join(dir, "diff"),
    work: join(dir, "work"),
    merged: join(dir, "merged"),
    lower: join(dir, "lower"),
    link: join(dir, "link"),
    committed: join(dir, "committed"),
  };
}

/** Throws INVALID_LAYER_ID unless `id` is one plain directory name (cache ids are 64 hex; "-init" suffixes occur). */
export function assertLayerId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id) || id === LINK_DIR) {
    throw new OverlayError(
      "INVALID_LAYER_ID",
      `invalid layer id ${JSON.stringify(id)}: use 1-128 letters, digits, '_', '.' or '-', not starting with a symbol and not "l"`,
    );
  }
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** A random 26-character short link id, base32 (A-Z2-7) like moby's overlayutils.GenerateID. */
export function newLinkId(): string {
  const bytes = randomBytes(17);
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < LINK_ID_LENGTH) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** The `lower` file of a layer, split (uppermost first); [] for a base layer. */
export async function readLower(root: string, id: string): Promise<string[]> {
  try {
    const text = (await readFile(layerPaths(root, id).lower, "utf8")).trim();
    return text === "" ? [] : text.split(":");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

async function readLink(root: string, id: string): Promise<string> {
  const paths = layerPaths(root, id);
  try {
    return (await readFile(paths.link, "utf8")).trim();
  } catch (error) {
    throw new OverlayError(
      "LAYER_NOT_FOUND",
      `layer ${id} is not in ${root} (no ${paths.link}); pull the image first or check the cache id`,
      { cause: error },
    );
  }
}

export interface CreateLayerOptions {
  /** The overlay2 root. */
  root: string;
  /** The new layer's directory name (cache id). */
  id: string;
  /** The layer below it (for a container: the image's top layer cache id). */
  parent?: string;
  /** Also create `merged` (a container's mount point). */
  container?: boolean;
}

export interface CreatedLayer {
  id: string;
  /** Its short link id (`l/<link>` -> `../<id>/diff`). */
  link: string;
  /** Its `lower` entries, uppermost first ([] for a base layer). */
  lower: string[];
  paths: LayerPaths;
}

/**
 * Creates a layer dir as moby's overlay2 `Create` does: `diff` (0755), a short link `l/<LID>` and `link`,
 * and with a parent `work` (0700), `lower` (parent's link first, then the parent's `lower`) and an empty
 * `committed` in the parent. A container layer also gets `merged`.
 */
export async function createLayer(options: CreateLayerOptions): Promise<CreatedLayer> {
  const { root, id, parent } = options;
  const paths = layerPaths(root, id);
  let lower: string[] = [];
  if (parent !== undefined) {
    const [parentLink, parentLower] = await Promise.all([readLink(root, parent), readLower(root, parent)]);
    lower = [`${LINK_DIR}/${parentLink}`, ...parentLower];
    if (lower.length > MAX_LAYERS) {
      throw new OverlayError(
        "TOO_MANY_LAYERS",
        `max depth exceeded: layer ${id} would have ${lower.length} lower layers (limit ${MAX_LAYERS})`,
      );
    }
  }
  await mkdir(join(root, LINK_DIR), { recursive: true, mode: 0o700 });
  try {
    await mkdir(paths.dir, { mode: 0o710 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") {
      throw new OverlayError(
        "LAYER_EXISTS",
        `layer ${id} already exists in ${root}; remove it first or use another id`,
        { cause: error },
      );
    }
    throw error;
  }
  const link = newLinkId();
  try {
    // independent entries, made at once (a container layer is created on every run); every step
    // settles before a failure is cleaned up, so nothing is recreated behind the cleanup
    const steps: Promise<unknown>[] = [
      mkdir(paths.diff, { mode: 0o755 }).then(() => symlink(`../${id}/diff`, join(root, LINK_DIR, link))),
      writeFile(paths.link, link),
    ];
    if (parent !== undefined) {
      steps.push(
        mkdir(paths.work, { mode: 0o700 }),
        writeFile(layerPaths(root, parent).committed, ""),
        writeFile(paths.lower, lower.join(":")),
      );
    }
    if (options.container) steps.push(mkdir(paths.merged, { mode: 0o700 }));
    for (const step of await Promise.allSettled(steps)) if (step.status === "rejected") throw step.reason;
  } catch (error) {
    await rm(join(root, LINK_DIR, link), { force: true });
    await rm(paths.dir, { recursive: true, force: true });
    throw error;
  }
  return { id, link, lower, paths };
}

/** A container's writable layer on top of an image's top layer: diff, work, merged, lower, link. */
export function createContainerLayer(options: {
  root: string;
  id: string;
  parent: string;
}): Promise<CreatedLayer> {
  return createLayer({ ...options, container: true });
}

export interface LayerMountOptions {
  root: string;
  id: string;
  /** Default: index=off when /sys/module/overlay/parameters/index exists (as moby). */
  indexOff?: boolean;
  pageSize?: number;
}

/**
 * The mount for a layer, as moby's overlay2 `Get` builds it: a committed (parent) layer mounts read-only
 * (`lowerdir=<id>/diff:<lowers>`); otherwise `lowerdir=<lowers>,upperdir=<id>/diff,workdir=<id>/work` on
 * `<id>/merged`. Pure data: nothing is mounted.
 */
export async function layerMount(options: LayerMountOptions): Promise<OverlayMount> {
  const { root, id } = options;
  const paths = layerPaths(root, id);
  if (!(await exists(paths.diff))) {
    throw new OverlayError("LAYER_NOT_FOUND", `layer ${id} is not in ${root} (no ${paths.diff})`);
  }
  const lower = await readLower(root, id);
  const indexOff = options.indexOff ?? (await exists("/sys/module/overlay/parameters/index"));
  const common = {
    root,
    target: `${id}/merged`,
    indexOff,
    ...(options.pageSize ? { pageSize: options.pageSize } : {}),
  };
  if ((await exists(paths.committed)) || lower.length === 0) {
    return buildOverlayMount({ ...common, lower: [`${id}/diff`, ...lower] });
  }
  return buildOverlayMount({ ...common, lower, upper: `${id}/diff`, work: `${id}/work` });
}

/** Explains why a mount failed when the cause is the kernel or the backing filesystem. */
async function diagnose(error: unknown, root: string): Promise<never> {
  if (error instanceof OverlayError && error.code === "MOUNT_FAILED") {
    await checkOverlaySupport();
    await checkBackingFs(root);
  }
  throw error;
}

/** Mounts a layer on `<id>/merged` (created if missing); returns the mount that was made. */
export async function mountLayer(options: LayerMountOptions & { mounter?: Mounter }): Promise<OverlayMount> {
  const mount = await layerMount(options);
  await mkdir(mount.target, { recursive: true, mode: 0o700 });
  await (options.mounter ?? spawnMounter())
    .mount(mount)
    .catch((error: unknown) => diagnose(error, options.root));
  return mount;
}

/** Detaches a mount (MNT_DETACH), then removes the mount point directory when asked (as moby's `Put`). */
export async function unmountOverlay(
  target: string,
  options: { mounter?: Mounter; removeTarget?: boolean } = {},
): Promise<void> {
  await (options.mounter ?? spawnMounter()).unmount(target);
  if (options.removeTarget) await rmdir(target);
}

/** Unmounts a layer's `merged` (detach), optionally removing the directory. */
export async function unmountLayer(options: {
  root: string;
  id: string;
  mounter?: Mounter;
  removeMerged?: boolean;
}): Promise<void> {
  const { merged } = layerPaths(options.root, options.id);
  await unmountOverlay(merged, {
    ...(options.mounter ? { mounter: options.mounter } : {}),
    ...(options.removeMerged ? { removeTarget: true } : {}),
  });
}

/**
 * Removes a layer with its short link (a container's layer goes with the container). A still-mounted
 * `merged` is detached first.
 */
export async function removeLayer(options: {
  root: string;
  id: string;
  mounter?: Mounter;
  mountInfoPath?: string;
}): Promise<void> {
  const { root, id } = options;
  const paths = layerPaths(root, id);
  // read-only checks at once (a container layer goes on every `run --rm`)
  const [present, mounted, link] = await Promise.all([
    exists(paths.dir),
    isMountPoint(paths.merged, options.mountInfoPath),
    readFile(paths.link, "utf8").then(
      (text) => text.trim(),
      () => "", // no link file: nothing to unlink
    ),
  ]);
  if (!present) {
    throw new OverlayError("LAYER_NOT_FOUND", `layer ${id} is not in ${root}; nothing to remove`);
  }
  if (mounted) await (options.mounter ?? spawnMounter()).unmount(paths.merged);
  const unlinkShort = async () => {
    if (link === "") return;
    const linkPath = join(root, LINK_DIR, link);
    // Only remove the short link if it still points at this layer.
    if ((await readlink(linkPath).catch(() => "")) === `../${id}/diff`) await rm(linkPath, { force: true });
  };
  // the dir goes only after the unmount above: removeTree must never walk into a mounted overlay
  await Promise.all([unlinkShort(), removeTree(paths.dir)]);
}
