import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { chainIds, type ImageConfig } from "@strata/oci-types";
import { readdirOptional, readOptional, writeFileAtomic } from "./atomic.js";
import { ImageNotFoundError, isErrno, StoreError } from "./errors.js";
import { hexOf, isHex64, isSha256Digest, ownerAlive, ownerToken, randomSuffix } from "./ids.js";
import {
  deleteLayerRecord,
  type LayerRecord,
  listLayerIds,
  readLayer,
  removeCacheDir,
  writeLayerRecord,
} from "./layerdb.js";
import { DEFAULT_ROOT, StoreLayout } from "./layout.js";
import { StoreLock } from "./lock.js";
import {
  allReferences,
  deleteReference,
  type RepositoriesFile,
  readRepositories,
  setReference,
  tryReferenceKey,
  writeRepositories,
} from "./repositories.js";
import { type SinkOptions, StoreSink } from "./sink.js";
import type { ImageDetails, ImageSummary, LayerDetails, PruneResult, RemoveEntry } from "./types.js";

export interface ImageStoreOptions {
  /** Store root (default `/var/lib/strata`). */
  root?: string;
  /** How long to wait for the store lock before failing with STORE_LOCKED (default 120 s). */
  lockTimeoutMs?: number;
  /**
   * Extra check before an image is deleted: return a reason (e.g. "used by container abc") to refuse.
   * Containers come later; this is their hook.
   */
  imageInUse?: (imageId: string) => Promise<string | undefined>;
}

export interface RemoveOptions {
  /** Remove an image referenced by several repositories when given by ID (docker rmi -f). */
  force?: boolean;
}

/** Metadata keys strata adds next to moby's (`parent`, `lastUpdated`, `builtLocally`). */
const MANIFEST_KEY = "strata-manifest";

/**
 * A Docker-compatible overlay2 image store (moby's legacy graph-driver layout) under one root.
 * Open it with {@link ImageStore.open}, pull into it through {@link ImageStore.createSink}.
 */
export class ImageStore {
  readonly layout: StoreLayout;
  readonly lock: StoreLock;
  private readonly options: ImageStoreOptions;

  private constructor(options: ImageStoreOptions) {
    this.options = options;
    this.layout = new StoreLayout(options.root ?? DEFAULT_ROOT);
    this.lock = new StoreLock(this.layout.lockFile, this.layout.tmp);
  }

  /** Create the layout if needed and clean up after crashed processes (see {@link recover}). */
  static async open(options: ImageStoreOptions = {}): Promise<ImageStore> {
    const store = new ImageStore(options);
    await fs.mkdir(store.layout.root, { recursive: true, mode: 0o710 });
    for (const [dir, mode] of store.layout.directories()) await fs.mkdir(dir, { recursive: true, mode });
    await store.recover();
    return store;
  }

  get root(): string {
    return this.layout.root;
  }

  /** Run `fn` under the store lock. */
  locked<T>(fn: () => Promise<T>): Promise<T> {
    const opts = this.options.lockTimeoutMs === undefined ? {} : { timeoutMs: this.options.lockTimeoutMs };
    return this.lock.withLock(fn, opts);
  }

  /** A sink for @strata/registry-pull that writes into this store. */
  createSink(options: SinkOptions = {}): StoreSink {
    return new StoreSink(this, options);
  }

  // ------------------------------------------------------------------ recovery

  /**
   * Finish or undo what crashed processes left: half-written layerdb records (layerdb/tmp), overlay2
   * dirs journalled in strata/intents but never registered (or being removed), temp dirs and leases
   * of dead processes. Runs under the lock, so no live transaction is in the middle of these steps.
   * Returns the number of leftovers removed.
   */
  async recover(): Promise<number> {
    return this.locked(async () => {
      const L = this.layout;
      let removed = 0;
      for (const name of await readdirOptional(L.layerdbTmp)) {
        await fs.rm(path.join(L.layerdbTmp, name), { recursive: true, force: true });
        removed++;
      }
      const intents = await readdirOptional(L.intents);
      if (intents.length > 0) {
        const used = await this.usedCacheIds();
        for (const cacheId of intents) {
          if (isHex64(cacheId) && !used.has(cacheId)) {
            await removeCacheDir(L, cacheId);
            removed++;
          }
          await fs.rm(path.join(L.intents, cacheId), { force: true });
        }
      }
      for (const name of await readdirOptional(L.tmp)) {
        const owner = /^\.?(?:tmp-|lock-|stale-lock-)?(\d+\.\d+)-/.exec(name)?.[1];
        if (owner === undefined || !ownerAlive(owner)) {
          await fs.rm(path.join(L.tmp, name), { recursive: true, force: true });
          removed++;
        }
      }
      for (const name of await readdirOptional(L.leases)) {
        const owner = /^(\d+\.\d+)-/.exec(name)?.[1];
        if (owner === undefined || !ownerAlive(owner)) {
          await fs.rm(path.join(L.leases, name), { force: true });
          removed++;
        }
      }
      for (const lid of await readdirOptional(L.linkDir)) {
        const link = L.link(lid);
        const ok = await fs.stat(link).then(
          () => true,
          () => false,
        );
        if (!ok) {
          await fs.rm(link, { force: true });
          removed++;
        }
      }
      return removed;
    });
  }

  /** Cache ids referenced by layerdb records and container mounts (mount-id, init-id). */
  private async usedCacheIds(): Promise<Set<string>> {
    const used = new Set<string>();
    for (const chain of await listLayerIds(this.layout)) {
      const id = (await readOptional(path.join(this.layout.layerDir(hexOf(chain)), "cache-id")))?.trim();
      if (id) used.add(id);
    }
    for (const m of await readdirOptional(this.layout.layerdbMounts)) {
      for (const key of ["mount-id", "init-id"]) {
        const id = (await readOptional(path.join(this.layout.layerdbMounts, m, key)))?.trim();
        if (id) used.add(id);
      }
    }
    return used;
  }

  // ------------------------------------------------------------------ reading

  /** Layer record by chainID, or undefined. */
  layer(chainId: string): Promise<LayerRecord | undefined> {
    return readLayer(this.layout, chainId);
  }

  /** True when the layer `chainId` is registered. */
  async hasLayer(chainId: string): Promise<boolean> {
    try {
      await fs.access(path.join(this.layout.layerDir(hexOf(chainId)), "diff"));
      return true;
    } catch {
      return false;
    }
  }

  /** The config bytes of an image, verified against its ID (as moby's fs store does on read). */
  async readConfig(id: string): Promise<{ raw: Buffer; value: ImageConfig } | undefined> {
    let raw: Buffer;
    try {
      raw = await fs.readFile(this.layout.imageConfigFile(hexOf(id)));
    } catch (err) {
      if (isErrno(err, "ENOENT")) return undefined;
      throw err;
    }
    if (`sha256:${createHash("sha256").update(raw).digest("hex")}` !== id) {
      throw new StoreError(
        "STORE_CORRUPT",
        `image config ${this.layout.imageConfigFile(hexOf(id))} does not match its digest; remove the image with 'strata rmi ${id.slice(7, 19)}' and pull it again`,
      );
    }
    let value: ImageConfig;
    try {
      value = JSON.parse(raw.toString("utf8")) as ImageConfig;
    } catch (err) {
      throw new StoreError("STORE_CORRUPT", `image config ${id} is not JSON`, { cause: err });
    }
    return { raw, value };
  }

  /** Every image ID in imagedb. */
  async imageIds(): Promise<string[]> {
    return (await readdirOptional(this.layout.imagedbContent)).filter(isHex64).map((h) => `sha256:${h}`);
  }

  repositories(): Promise<RepositoriesFile> {
    return readRepositories(this.layout.repositoriesJson);
  }

  /**
   * Resolve what a user typed (`ubuntu:20.04`, `ubuntu@sha256:…`, a full or short image ID) to an
   * image ID, in moby's order: full ID, then reference, then unique ID prefix.
   */
  async resolve(input: string, repos?: RepositoriesFile): Promise<string | undefined> {
    const bare = input.startsWith("sha256:") ? input.slice(7) : input;
    if (isHex64(bare) && (await this.readConfigExists(bare))) return `sha256:${bare}`;
    const data = repos ?? (await this.repositories());
    const key = tryReferenceKey(input);
    if (key) {
      const id = data.Repositories[key.repo]?.[key.key];
      if (id && isSha256Digest(id) && (await this.readConfigExists(hexOf(id)))) return id;
    }
    if (/^[0-9a-f]{1,63}$/.test(bare)) {
      const matches = (await this.imageIds()).filter((id) => id.slice(7).startsWith(bare));
      if (matches.length > 1) {
        throw new StoreError(
          "AMBIGUOUS_IMAGE_ID",
          `image ID prefix ${input} matches ${matches.length} images; type more of it`,
        );
      }
      return matches[0];
    }
    return undefined;
  }

  private async readConfigExists(hex: string): Promise<boolean> {
    return fs.access(this.layout.imageConfigFile(hex)).then(
      () => true,
      () => false,
    );
  }

  /** All images, newest first (as `docker images`). */
  async list(): Promise<ImageSummary[]> {
    const repos = await this.repositories();
    const refs = allReferences(repos);
    const cache = new Map<string, LayerRecord | undefined>();
    const out: ImageSummary[] = [];
    for (const id of await this.imageIds()) {
      const config = await this.readConfig(id);
      if (!config) continue; // removed concurrently
      out.push(await this.summary(id, config.value, refs, cache));
    }
    const time = (s: ImageSummary) => (s.created ? Date.parse(s.created) || 0 : 0);
    out.sort((a, b) => time(b) - time(a) || a.id.localeCompare(b.id));
    return out;
  }

  private async summary(
    id: string,
    config: ImageConfig,
    refs: Array<{ key: string; id: string }>,
    cache: Map<string, LayerRecord | undefined>,
  ): Promise<ImageSummary> {
    const chains = chainIds(config.rootfs?.diff_ids ?? []);
    let size = 0;
    for (const c of chains) {
      if (!cache.has(c)) cache.set(c, await readLayer(this.layout, c));
      size += cache.get(c)?.size ?? 0;
    }
    const mine = refs.filter((r) => r.id === id).map((r) => r.key);
    const s: ImageSummary = {
      id,
      repoTags: mine.filter((k) => !k.includes("@")).sort(),
      repoDigests: mine.filter((k) => k.includes("@")).sort(),
      size,
      layerCount: chains.length,
    };
    if (config.created) s.created = config.created;
    const lastUpdated = await readOptional(path.join(this.layout.imageMetadataDir(hexOf(id)), "lastUpdated"));
    if (lastUpdated) s.lastUpdated = lastUpdated.trim();
    return s;
  }

  /** One image with its config, manifest and layers; ImageNotFoundError when it is not there. */
  async get(input: string): Promise<ImageDetails> {
    const repos = await this.repositories();
    const id = await this.resolve(input, repos);
    const config = id ? await this.readConfig(id) : undefined;
    if (!id || !config) throw new ImageNotFoundError(input);
    const summary = await this.summary(id, config.value, allReferences(repos), new Map());
    const details: ImageDetails = { ...summary, config, layers: [], chainId: "" };
    const manifestRaw = await fs
      .readFile(path.join(this.layout.imageMetadataDir(hexOf(id)), MANIFEST_KEY))
      .catch(() => undefined);
    let blobs: Array<{ digest?: string; mediaType?: string }> = [];
    if (manifestRaw) {
      const value = JSON.parse(manifestRaw.toString("utf8")) as {
        layers?: Array<{ digest?: string; mediaType?: string }>;
      };
      details.manifest = {
        digest: `sha256:${createHash("sha256").update(manifestRaw).digest("hex")}`,
        raw: manifestRaw,
        value,
      };
      blobs = value.layers ?? [];
    }
    const diffIds = config.value.rootfs?.diff_ids ?? [];
    const chains = chainIds(diffIds);
    details.chainId = chains.at(-1) ?? "";
    for (const [i, chain] of chains.entries()) {
      const rec = await readLayer(this.layout, chain);
      if (!rec) {
        throw new StoreError(
          "LAYER_MISSING",
          `layer ${chain} of image ${id} is missing; pull the image again`,
        );
      }
      const cacheDir = this.layout.cacheDir(rec.cacheId);
      const layer: LayerDetails = {
        ...rec,
        diffDir: path.join(cacheDir, "diff"),
        linkId: ((await readOptional(path.join(cacheDir, "link"))) ?? "").trim(),
      };
      const lower = await readOptional(path.join(cacheDir, "lower"));
      if (lower) layer.lower = lower.trim();
      const blob = blobs[i];
      if (blob?.digest) layer.digest = blob.digest;
      if (blob?.mediaType) layer.mediaType = blob.mediaType;
      details.layers.push(layer);
    }
    return details;
  }

  // ------------------------------------------------------------------ writing (called by the sink)

  /** Store config + manifest and point the references at the image. Caller holds the lock. */
  async writeImageLocked(
    configRaw: Buffer,
    manifestRaw: Buffer | undefined,
    refs: Array<{ repo: string; key: string }>,
  ): Promise<string> {
    const id = `sha256:${createHash("sha256").update(configRaw).digest("hex")}`;
    const hex = hexOf(id);
    if (!(await this.readConfigExists(hex))) {
      await writeFileAtomic(this.layout.imageConfigFile(hex), configRaw, {
        mode: 0o600,
        tmpDir: this.layout.tmp,
      });
    }
    const meta = this.layout.imageMetadataDir(hex);
    await fs.mkdir(meta, { recursive: true, mode: 0o700 });
    if (manifestRaw) {
      await writeFileAtomic(path.join(meta, MANIFEST_KEY), manifestRaw, {
        mode: 0o600,
        tmpDir: this.layout.tmp,
      });
    }
    await writeFileAtomic(path.join(meta, "lastUpdated"), rfc3339Nano(new Date()), {
      mode: 0o600,
      tmpDir: this.layout.tmp,
    });
    if (refs.length > 0) {
      const repos = await this.repositories();
      for (const r of refs) setReference(repos, r.repo, r.key, id);
      await writeRepositories(this.layout.repositoriesJson, repos, this.layout.tmp);
    }
    return id;
  }

  /** Add a reference (`name:tag`) to an existing image. */
  async tag(input: string, target: string): Promise<void> {
    const key = tryReferenceKey(target);
    if (!key || key.key.includes("@")) {
      throw new StoreError("INVALID_IMAGE", `cannot tag with ${JSON.stringify(target)}: give NAME[:TAG]`);
    }
    await this.locked(async () => {
      const repos = await this.repositories();
      const id = await this.resolve(input, repos);
      if (!id) throw new ImageNotFoundError(input);
      setReference(repos, key.repo, key.key, id);
      await writeRepositories(this.layout.repositoriesJson, repos, this.layout.tmp);
    });
  }

  // ------------------------------------------------------------------ removal

  /**
   * `docker rmi`: given a reference, untag it (and that repository's digest references when its last
   * tag goes); given an ID, untag everything (refused without `force` when several repositories use
   * it). An image left with no references is deleted, then every layer no image, container mount or
   * in-flight pull references is freed.
   */
  async remove(input: string, options: RemoveOptions = {}): Promise<RemoveEntry[]> {
    return this.locked(async () => {
      const repos = await this.repositories();
      const id = await this.resolve(input, repos);
      if (!id) throw new ImageNotFoundError(input);
      const out: RemoveEntry[] = [];
      const refs = allReferences(repos).filter((r) => r.id === id);
      const byRef = tryReferenceKey(input);
      const named = byRef ? refs.find((r) => r.repo === byRef.repo && r.key === byRef.key) : undefined;
      if (named) {
        deleteReference(repos, named.repo, named.key);
        out.push({ Untagged: named.key });
        const rest = allReferences(repos).filter((r) => r.id === id && r.repo === named.repo);
        if (!named.key.includes("@") && rest.every((r) => r.key.includes("@"))) {
          for (const r of rest) {
            deleteReference(repos, r.repo, r.key);
            out.push({ Untagged: r.key });
          }
        }
      } else {
        const repoNames = new Set(refs.map((r) => r.repo));
        if (repoNames.size > 1 && !options.force) {
          throw new StoreError(
            "IMAGE_IN_USE",
            `unable to delete ${id.slice(7, 19)} (must be forced): image is referenced in multiple repositories (${[...repoNames].join(", ")}); remove its tags one by one or use --force`,
          );
        }
        for (const r of refs) {
          deleteReference(repos, r.repo, r.key);
          out.push({ Untagged: r.key });
        }
      }
      const stillReferenced = allReferences(repos).some((r) => r.id === id);
      if (!stillReferenced) {
        const reason = await this.options.imageInUse?.(id);
        if (reason) {
          throw new StoreError("IMAGE_IN_USE", `unable to delete ${id.slice(7, 19)}: ${reason}`);
        }
      }
      if (out.length > 0) await writeRepositories(this.layout.repositoriesJson, repos, this.layout.tmp);
      if (!stillReferenced) {
        await this.deleteImageLocked(id);
        out.push({ Deleted: id });
        const freed = await this.collectLayersLocked();
        for (const l of freed) out.push({ Deleted: l.chainId });
      }
      return out;
    });
  }

  /**
   * `docker image prune`: delete images no reference points to (with `all`, every image not in use),
   * then free unreferenced layers.
   */
  async prune(options: { all?: boolean } = {}): Promise<PruneResult> {
    return this.locked(async () => {
      const repos = await this.repositories();
      const referenced = new Set(allReferences(repos).map((r) => r.id));
      const deleted: RemoveEntry[] = [];
      let changed = false;
      for (const id of await this.imageIds()) {
        if (referenced.has(id) && !options.all) continue;
        if (await this.options.imageInUse?.(id)) continue;
        for (const r of allReferences(repos).filter((x) => x.id === id)) {
          deleteReference(repos, r.repo, r.key);
          deleted.push({ Untagged: r.key });
          changed = true;
        }
        if (changed) await writeRepositories(this.layout.repositoriesJson, repos, this.layout.tmp);
        changed = false;
        await this.deleteImageLocked(id);
        deleted.push({ Deleted: id });
      }
      const freed = await this.collectLayersLocked();
      for (const l of freed) deleted.push({ Deleted: l.chainId });
      return { deleted, spaceReclaimed: freed.reduce((n, l) => n + l.size, 0) };
    });
  }

  private async deleteImageLocked(id: string): Promise<void> {
    const hex = hexOf(id);
    await fs.rm(this.layout.imageConfigFile(hex), { force: true });
    await fs.rm(this.layout.imageMetadataDir(hex), { recursive: true, force: true });
  }

  /** Chains that must stay: every prefix chain of every image, live pull leases, container mounts. */
  private async rootChainsLocked(): Promise<Set<string>> {
    const roots = new Set<string>();
    for (const id of await this.imageIds()) {
      const config = await this.readConfig(id);
      for (const c of chainIds(config?.value.rootfs?.diff_ids ?? [])) roots.add(c);
    }
    for (const name of await readdirOptional(this.layout.leases)) {
      const owner = /^(\d+\.\d+)-/.exec(name)?.[1];
      if (!owner || !ownerAlive(owner)) continue;
      const text = await readOptional(path.join(this.layout.leases, name));
      try {
        for (const c of (JSON.parse(text ?? "{}") as { chains?: string[] }).chains ?? []) roots.add(c);
      } catch {
        // a lease is written atomically; unparsable means foreign junk
      }
    }
    for (const c of await this.mountReferences()) roots.add(c);
    return roots;
  }

  /** Parent chainIDs of container read-write layers (`layerdb/mounts/<id>/parent`): the containers' hook. */
  async mountReferences(): Promise<string[]> {
    const out: string[] = [];
    for (const m of await readdirOptional(this.layout.layerdbMounts)) {
      const parent = (await readOptional(path.join(this.layout.layerdbMounts, m, "parent")))?.trim();
      if (parent && isSha256Digest(parent)) out.push(parent);
    }
    return out;
  }

  /** Mark and sweep over layerdb; children are removed before their parents. Caller holds the lock. */
  private async collectLayersLocked(): Promise<LayerRecord[]> {
    const records = new Map<string, LayerRecord>();
    for (const chain of await listLayerIds(this.layout)) {
      const rec = await readLayer(this.layout, chain);
      if (rec) records.set(chain, rec);
    }
    const keep = new Set<string>();
    for (let c of await this.rootChainsLocked()) {
      while (c && !keep.has(c)) {
        keep.add(c);
        c = records.get(c)?.parent ?? "";
      }
    }
    const depth = (c: string): number => {
      let d = 0;
      for (let p = records.get(c)?.parent; p; p = records.get(p)?.parent) d++;
      return d;
    };
    const doomed = [...records.values()].filter((r) => !keep.has(r.chainId));
    doomed.sort((a, b) => depth(b.chainId) - depth(a.chainId));
    for (const rec of doomed) {
      const intent = path.join(this.layout.intents, rec.cacheId);
      await fs.writeFile(intent, rec.chainId, { mode: 0o600 });
      await deleteLayerRecord(this.layout, rec);
      await fs.rm(intent, { force: true });
    }
    return doomed;
  }

  // ------------------------------------------------------------------ checking

  /**
   * Check the store's invariants and return what is wrong (empty when consistent): every layer record
   * has its overlay2 dir, diff, link and `l/` symlink and a registered parent whose link heads its
   * `lower`; every overlay2 dir belongs to a layer or a container mount; every image's config matches
   * its ID and all its layers exist; every reference points at an image. Read-only.
   */
  async verify(): Promise<string[]> {
    const L = this.layout;
    const problems: string[] = [];
    const cacheIds = new Set<string>();
    const links = new Map<string, string>();
    for (const chain of await listLayerIds(L)) {
      let rec: LayerRecord | undefined;
      try {
        rec = await readLayer(L, chain);
      } catch (err) {
        problems.push((err as Error).message);
        continue;
      }
      if (!rec) {
        problems.push(`layer ${chain}: no diff file`);
        continue;
      }
      cacheIds.add(rec.cacheId);
      const dir = L.cacheDir(rec.cacheId);
      const lid = (await readOptional(path.join(dir, "link")))?.trim();
      if (!lid) {
        problems.push(`layer ${chain}: ${dir}/link missing`);
        continue;
      }
      links.set(chain, lid);
      const target = await fs.readlink(L.link(lid)).catch(() => undefined);
      if (target !== `../${rec.cacheId}/diff`) problems.push(`layer ${chain}: l/${lid} -> ${target}`);
      if (
        !(await fs.stat(path.join(dir, "diff")).then(
          (s) => s.isDirectory(),
          () => false,
        ))
      ) {
        problems.push(`layer ${chain}: ${dir}/diff missing`);
      }
    }
    for (const chain of await listLayerIds(L)) {
      const rec = await readLayer(L, chain).catch(() => undefined);
      if (!rec?.parent) continue;
      const parentLid = links.get(rec.parent);
      if (!parentLid) {
        problems.push(`layer ${chain}: parent ${rec.parent} is not registered`);
        continue;
      }
      const lower = (await readOptional(path.join(L.cacheDir(rec.cacheId), "lower")))?.trim() ?? "";
      if (!lower.startsWith(`l/${parentLid}`))
        problems.push(`layer ${chain}: lower "${lower}" does not start with l/${parentLid}`);
    }
    for (const m of await readdirOptional(L.layerdbMounts)) {
      for (const key of ["mount-id", "init-id"]) {
        const id = (await readOptional(path.join(L.layerdbMounts, m, key)))?.trim();
        if (id) cacheIds.add(id);
      }
    }
    for (const name of await readdirOptional(L.overlay2)) {
      if (name !== "l" && !cacheIds.has(name) && !cacheIds.has(name.replace(/-init$/, ""))) {
        problems.push(`overlay2/${name} belongs to no layer`);
      }
    }
    const ids = new Set<string>();
    for (const id of await this.imageIds()) {
      ids.add(id);
      try {
        const config = await this.readConfig(id);
        for (const c of chainIds(config?.value.rootfs?.diff_ids ?? [])) {
          if (!(await this.hasLayer(c))) problems.push(`image ${id}: layer ${c} missing`);
        }
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    try {
      for (const r of allReferences(await this.repositories())) {
        if (!ids.has(r.id)) problems.push(`reference ${r.key} points at missing image ${r.id}`);
      }
    } catch (err) {
      problems.push((err as Error).message);
    }
    return problems;
  }

  // ------------------------------------------------------------------ leases

  /** Write or replace a lease file protecting `chains` from removal while this process lives. */
  async writeLease(name: string, chains: string[]): Promise<void> {
    await writeFileAtomic(path.join(this.layout.leases, name), JSON.stringify({ chains }), {
      mode: 0o600,
      tmpDir: this.layout.tmp,
    });
  }

  async dropLease(name: string): Promise<void> {
    await fs.rm(path.join(this.layout.leases, name), { force: true });
  }

  /** A fresh name for a lease or temp dir owned by this process. */
  ownedName(prefix = ""): string {
    return `${prefix}${ownerToken()}-${randomSuffix()}`;
  }

  /** Register a staged layer (see sink.ts). Caller holds the lock. */
  async registerLayerLocked(rec: LayerRecord, write: () => Promise<void>): Promise<void> {
    const intent = path.join(this.layout.intents, rec.cacheId);
    await fs.writeFile(intent, rec.chainId, { mode: 0o600 });
    try {
      await write();
      await writeLayerRecord(this.layout, rec);
    } catch (err) {
      await removeCacheDir(this.layout, rec.cacheId).catch(() => undefined);
      await fs.rm(intent, { force: true });
      throw err;
    }
    await fs.rm(intent, { force: true });
  }
}

/** RFC 3339 with nanoseconds, as Go's time.RFC3339Nano (trailing zeros trimmed). */
export function rfc3339Nano(d: Date): string {
  return d.toISOString().replace(/\.(\d*?)0*Z$/, (_m, frac: string) => (frac ? `.${frac}Z` : "Z"));
}
