/**
 * The reference sink: a directory in OCI image-layout form (image-spec `image-layout.md`):
 * `oci-layout`, `index.json`, `blobs/<alg>/<hex>`. Blobs are written to a temp file and renamed
 * into place only after registry-pull verified them, so a blob present under its digest is whole.
 */
import { createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Descriptor, parseDigest } from "@strata/oci-types";
import { RegistryError } from "./errors.js";
import type { ImageSink, LayerWriter, ResolvedImage } from "./types.js";

export interface OciLayoutSinkOptions {
  /** `org.opencontainers.image.ref.name` for index.json; default the reference's tag (none when pulled by digest). */
  tag?: string;
}

interface IndexJson {
  schemaVersion: 2;
  mediaType?: string;
  manifests: (Descriptor & { annotations?: Record<string, string> })[];
  [k: string]: unknown;
}

const REF_NAME = "org.opencontainers.image.ref.name";

export class OciLayoutSink implements ImageSink {
  readonly dir: string;
  readonly #tag: string | undefined;

  constructor(dir: string, options: OciLayoutSinkOptions = {}) {
    this.dir = dir;
    this.#tag = options.tag;
  }

  /** Path of a blob; the digest is validated first (CVE-2024-3727: no traversal through digests). */
  blobPath(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.dir, "blobs", algorithm, hex);
  }

  async hasLayer(image: ResolvedImage, index: number): Promise<boolean> {
    const layer = this.#layer(image, index);
    try {
      const st = await stat(this.blobPath(layer.digest));
      return st.isFile() && st.size === layer.size;
    } catch {
      return false;
    }
  }

  async openLayer(image: ResolvedImage, index: number): Promise<LayerWriter> {
    const layer = this.#layer(image, index);
    const final = this.blobPath(layer.digest);
    await mkdir(join(final, ".."), { recursive: true });
    const tmp = `${final}.partial-${process.pid}-${Math.random().toString(36).slice(2)}`;
    // flush: fsync before close, so commit() means durable
    // a 1 MiB buffer lets the stream batch network chunks into few writev calls (16 KiB, the default,
    // turns every chunk into a wait for the disk)
    const stream = createWriteStream(tmp, { flags: "wx", flush: true, highWaterMark: 1024 * 1024 });
    let closed = false;
    stream.once("close", () => {
      closed = true;
    });
    return {
      stream,
      // fs.WriteStream has written a chunk to the file when the write's callback runs
      releasesChunks: true,
      commit: async () => {
        if (!closed) await new Promise<void>((resolve) => stream.once("close", () => resolve()));
        await rename(tmp, final);
      },
      abort: async () => {
        if (!closed) {
          await new Promise<void>((resolve) => {
            stream.once("close", () => resolve());
            stream.destroy();
          });
        }
        await rm(tmp, { force: true });
      },
    };
  }

  async commitImage(image: ResolvedImage): Promise<void> {
    await writeFile(join(this.dir, "oci-layout"), `${JSON.stringify({ imageLayoutVersion: "1.0.0" })}\n`);
    await this.#writeBlob(image.config.digest, image.config.raw);
    await this.#writeBlob(image.manifestDigest, image.manifest.raw);
    const tag = this.#tag ?? image.reference.tag;
    const entry: IndexJson["manifests"][number] = {
      mediaType: image.manifest.mediaType,
      digest: image.manifestDigest,
      size: image.manifest.raw.length,
      platform: image.platform,
    };
    if (tag) entry.annotations = { [REF_NAME]: tag };
    const indexPath = join(this.dir, "index.json");
    let index: IndexJson = {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [],
    };
    try {
      const existing = JSON.parse(await readFile(indexPath, "utf8")) as IndexJson;
      if (existing && Array.isArray(existing.manifests)) index = existing;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
        throw new RegistryError(
          "INVALID_OPTION",
          `${indexPath} exists but is not a valid OCI index; remove it or use an empty directory`,
          {
            cause: err,
          },
        );
      }
    }
    index.manifests = index.manifests.filter((m) =>
      tag ? m.annotations?.[REF_NAME] !== tag : !(m.digest === entry.digest && !m.annotations?.[REF_NAME]),
    );
    index.manifests.push(entry);
    const tmp = `${indexPath}.tmp-${process.pid}`;
    await writeFile(tmp, `${JSON.stringify(index, null, 2)}\n`, { flush: true });
    await rename(tmp, indexPath);
  }

  #layer(image: ResolvedImage, index: number): Descriptor {
    const layer = image.layers[index];
    if (!layer) throw new RegistryError("INVALID_OPTION", `image has no layer ${index}`);
    return layer;
  }

  async #writeBlob(digest: string, bytes: Buffer): Promise<void> {
    const path = this.blobPath(digest);
    await mkdir(join(path, ".."), { recursive: true });
    const tmp = `${path}.partial-${process.pid}`;
    await writeFile(tmp, bytes, { flush: true });
    await rename(tmp, path);
  }
}
