/**
 * The reference sink: a directory in OCI image-layout form (image-spec `image-layout.md`):
 * `oci-layout`, `index.json`, `blobs/<alg>/<hex>`. Blobs are written to a temp file and renamed
 * into place only after registry-pull verified them, so a blob present under its digest is whole.
 */
import { close, fsync, open, write } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
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
    const stream = new BlobFile(tmp);
    let closed = false;
    stream.once("close", () => {
      closed = true;
    });
    return {
      stream,
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

const STAGING_BYTES = 1024 * 1024;

/**
 * A blob's temp file. Network chunks are copied into one reused 1 MiB buffer that is written when
 * full, so the file costs one `write` per MiB and the caller's chunks are released at once:
 * `fs.createWriteStream` (even with a 1 MiB highWaterMark) keeps them queued until `writev`
 * completes, long enough for V8 to promote them to the old generation, where they wait for a full
 * GC (bench/pull/RESULTS.md). Data is fsync'ed before close, so commit() means durable.
 */
class BlobFile extends Writable {
  readonly #path: string;
  #fd = -1;
  #buf: Buffer | undefined;
  #len = 0;

  constructor(path: string) {
    super({ highWaterMark: 64 * 1024 });
    this.#path = path;
  }

  override _construct(callback: (err?: Error | null) => void): void {
    open(this.#path, "wx", (err, fd) => {
      this.#fd = fd;
      callback(err);
    });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#buf ??= Buffer.allocUnsafeSlow(STAGING_BYTES);
    const buf = this.#buf;
    let offset = 0;
    const fill = (err?: Error | null): void => {
      if (err) return callback(err);
      while (offset < chunk.length) {
        const n = chunk.copy(buf, this.#len, offset);
        this.#len += n;
        offset += n;
        if (this.#len === buf.length) return this.#flush(fill);
      }
      callback();
    };
    fill();
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#flush((err) => (err ? callback(err) : fsync(this.#fd, (e) => callback(e))));
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#buf = undefined;
    if (this.#fd < 0) return callback(err);
    close(this.#fd, (e) => callback(err ?? e));
    this.#fd = -1;
  }

  /** Write the staged bytes (all of them: a short write is continued). */
  #flush(callback: (err?: Error | null) => void): void {
    const buf = this.#buf;
    if (!buf || this.#len === 0) return callback();
    let done = 0;
    const step = (err: Error | null, n: number): void => {
      if (err) return callback(err);
      done += n;
      if (done < this.#len) return void write(this.#fd, buf, done, this.#len - done, null, step);
      this.#len = 0;
      callback();
    };
    write(this.#fd, buf, 0, this.#len, null, step);
  }
}
