import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseReference } from "@strata/oci-types";
import type { BuiltImage } from "@strata/testkit";
import type { SinkImage, StoreSink } from "../src/index.js";

export const PREFIX = "strata-test-image-store-";

/** A temp dir named with the package's test prefix; remove it with `cleanup`. */
export async function tempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), PREFIX));
}

export async function cleanup(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** What registry-pull would hand the sink for a built image pulled as `ref`. */
export function sinkImageOf(built: BuiltImage, ref: string, indexDigest?: string): SinkImage {
  const image: SinkImage = {
    reference: parseReference(ref),
    manifestDigest: built.digest,
    manifest: { raw: built.manifest, mediaType: built.mediaType, digest: built.digest },
    config: {
      digest: built.configDigest,
      raw: built.config,
      value: JSON.parse(built.config.toString("utf8")),
    },
    layers: built.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size })),
  };
  if (indexDigest) image.indexDigest = indexDigest;
  return image;
}

/**
 * Drive a sink the way registry-pull does: ask hasLayer, stream each missing layer's blob in chunks
 * (all layers in parallel), commit, then commitImage. Returns the indexes that were downloaded.
 */
export async function feed(
  sink: StoreSink,
  image: SinkImage,
  blobs: Buffer[],
  options: { chunk?: number; corrupt?: number } = {},
): Promise<number[]> {
  const downloaded: number[] = [];
  const results = await Promise.allSettled(
    blobs.map(async (blob, i) => {
      if (await sink.hasLayer(image, i)) return;
      downloaded.push(i);
      const writer = await sink.openLayer(image, i);
      const data = Buffer.from(blob);
      if (options.corrupt === i) data[data.length - 10] = (data[data.length - 10] as number) ^ 0xff;
      const chunk = options.chunk ?? 64 * 1024;
      const chunks: Buffer[] = [];
      for (let off = 0; off < data.length; off += chunk) chunks.push(data.subarray(off, off + chunk));
      try {
        await pipeline(Readable.from(chunks), writer.stream);
        await writer.commit();
      } catch (err) {
        await writer.abort(err as Error);
        throw err;
      }
    }),
  );
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  await sink.commitImage(image);
  return downloaded.sort();
}
