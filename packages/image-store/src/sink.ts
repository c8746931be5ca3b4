import fs from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { unpackLayer } from "@strata/layer-unpack";
import { chainIds, familiarName, imageIdOf } from "@strata/oci-types";
import { readOptional, writeFileAtomic } from "./atomic.js";
import { StoreError } from "./errors.js";
import { hexOf, newCacheId, newLinkId } from "./ids.js";
import { referenceKey } from "./repositories.js";
import type { ImageStore } from "./store.js";
import type { SinkImage, StoreLayerWriter } from "./types.js";

export interface SinkOptions {
  /** Called when a layer becomes visible in layerdb (index in the manifest, its chainID). */
  onLayerRegistered?: (index: number, chainId: string) => void;
  /** Called after an image is stored and tagged. */
  onImageCommitted?: (imageId: string) => void;
  /** Per-layer unpack limits passed to layer-unpack. */
  limits?: { maxBytes?: number; maxEntries?: number };
}

interface Staged {
  dir: string;
  size: number;
}

interface ImageState {
  chains: string[];
  diffIds: string[];
  staged: Map<number, Staged>;
  lease: Promise<string>;
}

/**
 * The image-store side of registry-pull's ImageSink. Each layer streams from the network through
 * layer-unpack into its own temp dir (`strata/tmp/<owner>-…/diff`, overlay whiteouts), so layers
 * unpack in parallel; once both digests check out the layer is *staged*, and staged layers are
 * registered base-first under the store lock (a child needs its parent's link id for `lower`):
 * renamed to `overlay2/<cache-id>`, linked from `l/`, and committed by renaming the layerdb record
 * into place. A lease file keeps the image's chains from being garbage-collected by a concurrent
 * `rmi` until the image itself is stored.
 */
export class StoreSink {
  private readonly store: ImageStore;
  private readonly options: SinkOptions;
  private readonly images = new Map<string, ImageState>();
  private readonly open = new Set<StoreLayerWriter>();

  constructor(store: ImageStore, options: SinkOptions = {}) {
    this.store = store;
    this.options = options;
  }

  private state(image: SinkImage): ImageState {
    let st = this.images.get(image.config.digest);
    if (st) return st;
    const diffIds = image.config.value.rootfs?.diff_ids ?? [];
    if (diffIds.length !== image.layers.length) {
      throw new StoreError(
        "INVALID_IMAGE",
        `image ${image.manifestDigest} has ${image.layers.length} layers but its config lists ${diffIds.length} diff_ids; the image is malformed`,
      );
    }
    if (imageIdOf(image.config.raw) !== image.config.digest) {
      throw new StoreError(
        "INVALID_IMAGE",
        `config bytes of ${image.manifestDigest} do not match ${image.config.digest}`,
      );
    }
    const chains = chainIds(diffIds);
    const name = this.store.ownedName();
    const lease = this.store.locked(() => this.store.writeLease(name, chains)).then(() => name);
    lease.catch(() => undefined);
    st = { chains, diffIds: [...diffIds], staged: new Map(), lease };
    this.images.set(image.config.digest, st);
    return st;
  }

  /** Present when the layer's chainID is registered (by this or any earlier pull). */
  async hasLayer(image: SinkImage, index: number): Promise<boolean> {
    const st = this.state(image);
    await st.lease;
    return this.store.hasLayer(st.chains[index] as string);
  }

  async openLayer(image: SinkImage, index: number): Promise<StoreLayerWriter> {
    const st = this.state(image);
    await st.lease;
    const desc = image.layers[index];
    if (!desc) throw new StoreError("INVALID_IMAGE", `layer index ${index} is out of range`);
    const dir = path.join(this.store.layout.tmp, this.store.ownedName());
    const diff = path.join(dir, "diff");
    await fs.mkdir(dir, { mode: 0o710 });
    await fs.mkdir(diff, { mode: 0o755 });
    const stream = new PassThrough({ highWaterMark: 1 << 20 });
    // Errors surface through commit(); this keeps a destroyed stream from crashing the process.
    stream.on("error", () => undefined);
    const unpackOptions: Parameters<typeof unpackLayer>[1] = {
      target: diff,
      mediaType: desc.mediaType,
      // registry-pull verifies the blob's size and digest before it calls commit() (the ImageSink
      // contract), and nothing is registered before commit(): hashing the compressed bytes a second
      // time here would only cost CPU. The diffID is still checked by layer-unpack.
      skipDigest: true,
      expectedDiffId: st.diffIds[index] as string,
      whiteouts: "overlay",
    };
    if (this.options.limits) unpackOptions.limits = this.options.limits;
    const parents = await this.registeredParents(st, index);
    if (parents.length > 0) unpackOptions.parents = parents;
    const unpacked = unpackLayer(stream, unpackOptions);
    // A bad tar must fail the download too, not leave registry-pull writing into a dead pipe.
    unpacked.catch((err: unknown) => stream.destroy(err instanceof Error ? err : new Error(String(err))));
    let done = false;
    const writer: StoreLayerWriter = {
      stream,
      commit: async () => {
        const result = await unpacked;
        done = true;
        this.open.delete(writer);
        // moby's layer size is directory.Size of the diff: regular-file bytes, hardlinks once;
        // layer-unpack counts exactly that while writing, which saves a walk of the tree.
        st.staged.set(index, { dir, size: result.contentSize });
        await this.flush(image, st);
      },
      abort: async (reason: Error) => {
        if (done) return;
        done = true;
        this.open.delete(writer);
        stream.destroy(reason);
        await unpacked.catch(() => undefined);
        await fs.rm(dir, { recursive: true, force: true });
      },
    };
    this.open.add(writer);
    return writer;
  }

  /**
   * Diff dirs of the layer's ancestors, uppermost first, when all of them are already registered
   * (layer-unpack copies implicit parent directories' attributes from them). Layers unpack in parallel,
   * so an ancestor still in flight means no parents at all rather than a misleading partial list.
   */
  private async registeredParents(st: ImageState, index: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = index - 1; i >= 0; i--) {
      const rec = await this.store.layer(st.chains[i] as string).catch(() => undefined);
      if (!rec) return [];
      out.push(this.store.layout.diffDir(rec.cacheId));
    }
    return out;
  }

  /** Register every staged layer whose parent is registered, base first. */
  private async flush(image: SinkImage, st: ImageState): Promise<void> {
    await this.store.locked(async () => {
      for (let i = 0; i < st.chains.length; i++) {
        const chain = st.chains[i] as string;
        const staged = st.staged.get(i);
        if (await this.store.hasLayer(chain)) {
          if (staged) {
            // Someone else registered the same layer first: ours is a duplicate.
            st.staged.delete(i);
            await fs.rm(staged.dir, { recursive: true, force: true });
          }
          continue;
        }
        if (!staged) break;
        await this.register(image, st, i, staged);
        st.staged.delete(i);
        this.options.onLayerRegistered?.(i, chain);
      }
    });
  }

  private async register(image: SinkImage, st: ImageState, i: number, staged: Staged): Promise<void> {
    const L = this.store.layout;
    const chainId = st.chains[i] as string;
    const diffId = st.diffIds[i] as string;
    const parentChain = i > 0 ? (st.chains[i - 1] as string) : undefined;
    const parent = parentChain ? await this.store.layer(parentChain) : undefined;
    if (parentChain && !parent) {
      throw new StoreError(
        "LAYER_MISSING",
        `parent layer ${parentChain} vanished during the pull; pull again`,
      );
    }
    const cacheId = newCacheId();
    const lid = newLinkId();
    const rec = {
      chainId,
      diffId,
      size: staged.size,
      cacheId,
      ...(parentChain ? { parent: parentChain } : {}),
    };
    await this.store.registerLayerLocked(rec, async () => {
      await fs.writeFile(path.join(staged.dir, "link"), lid, { mode: 0o644 });
      if (parent) {
        const parentDir = L.cacheDir(parent.cacheId);
        const parentLid = ((await readOptional(path.join(parentDir, "link"))) ?? "").trim();
        const parentLower = (await readOptional(path.join(parentDir, "lower")))?.trim();
        const lower = parentLower ? `l/${parentLid}:${parentLower}` : `l/${parentLid}`;
        await fs.writeFile(path.join(staged.dir, "lower"), lower, { mode: 0o644 });
        await fs.mkdir(path.join(staged.dir, "work"), { mode: 0o700 });
        // moby marks a layer that has children as read-only ("committed") in the parent's dir
        await fs.writeFile(path.join(parentDir, "committed"), "", { mode: 0o600 });
      }
      await fs.rename(staged.dir, L.cacheDir(cacheId));
      await fs.symlink(`../${cacheId}/diff`, L.link(lid));
    });
    // Distribution metadata (blob digest <-> diffID), written as moby does after a pull.
    const blob = image.layers[i]?.digest;
    if (blob?.startsWith("sha256:")) {
      await writeFileAtomic(path.join(L.diffidByDigest, hexOf(blob)), diffId, { tmpDir: L.tmp });
      const v2file = path.join(L.v2metadataByDiffid, hexOf(diffId));
      let list: Array<{ Digest: string; SourceRepository: string; HMAC: string }> = [];
      try {
        list = JSON.parse((await readOptional(v2file)) ?? "[]");
      } catch {
        list = [];
      }
      const source = image.reference.name;
      if (!list.some((e) => e.Digest === blob && e.SourceRepository === source)) {
        list.push({ Digest: blob, SourceRepository: source, HMAC: "" });
        await writeFileAtomic(v2file, JSON.stringify(list), { tmpDir: L.tmp });
      }
    }
  }

  /** Store the config and manifest and tag the image (tag key and `name@digest` key, like moby). */
  async commitImage(image: SinkImage): Promise<void> {
    const st = this.state(image);
    const leaseName = await st.lease;
    await this.flush(image, st);
    for (const chain of st.chains) {
      if (!(await this.store.hasLayer(chain))) {
        throw new StoreError(
          "LAYER_MISSING",
          `layer ${chain} was not stored; pull ${image.reference.name} again`,
        );
      }
    }
    const ref = image.reference;
    const name = familiarName(ref);
    const refs: Array<{ repo: string; key: string }> = [];
    if (ref.digest === undefined) refs.push(referenceKey(ref));
    refs.push({ repo: name, key: `${name}@${ref.digest ?? image.indexDigest ?? image.manifestDigest}` });
    const id = await this.store.locked(async () => {
      const written = await this.store.writeImageLocked(image.config.raw, image.manifest.raw, refs);
      await this.store.dropLease(leaseName);
      return written;
    });
    this.images.delete(image.config.digest);
    this.options.onImageCommitted?.(id);
  }

  /** Abort open writers, drop leases and staged temp dirs of uncommitted images (call after a failed pull). */
  async release(): Promise<void> {
    await Promise.all([...this.open].map((w) => w.abort(new Error("pull abandoned"))));
    for (const st of this.images.values()) {
      const name = await st.lease.catch(() => undefined);
      if (name) await this.store.dropLease(name);
      for (const s of st.staged.values()) await fs.rm(s.dir, { recursive: true, force: true });
    }
    this.images.clear();
  }
}
