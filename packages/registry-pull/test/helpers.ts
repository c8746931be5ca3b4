/** Shared test helpers: test images, temp dirs, a recording sink, OCI-layout checks. */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import {
  type BuiltImage,
  type BuiltIndex,
  buildImage,
  buildIndex,
  type Compression,
  type ImageFormat,
  type PlatformSpec,
  pushImage,
  pushIndex,
  type RegistryHandle,
  tarLayer,
} from "@strata/testkit";
import type { ImageSink, LayerWriter, ResolvedImage } from "../src/index.js";

export const TMP_PREFIX = "strata-test-registry-pull-";

export async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), TMP_PREFIX));
}

export async function removeDir(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

const HOST: PlatformSpec =
  process.arch === "arm64" ? { os: "linux", architecture: "arm64" } : { os: "linux", architecture: "amd64" };
const OTHER: PlatformSpec =
  process.arch === "arm64" ? { os: "linux", architecture: "amd64" } : { os: "linux", architecture: "arm64" };

export async function image(
  tag: string,
  compressions: Compression[],
  format: ImageFormat = "oci",
  platform: PlatformSpec = HOST,
  size = 2000,
): Promise<BuiltImage> {
  const layers = [];
  for (const [i, compression] of compressions.entries()) {
    // pseudo-random content so gzip does not shrink it to nothing and each layer differs
    const content = createHash("sha256").update(`${tag}-${i}`).digest();
    const body = Buffer.alloc(size);
    for (let j = 0; j < size; j++) body[j] = (content[j % 32] as number) ^ ((j * 7) % 251);
    layers.push(
      await tarLayer(
        [
          { type: "dir", path: `d${i}` },
          { type: "file", path: `d${i}/f`, content: body },
        ],
        { compression, format },
      ),
    );
  }
  return buildImage({ layers, format, platform, config: { Cmd: ["/bin/sh", tag] } });
}

export interface TestImages {
  ociPlain: BuiltImage;
  dockerPlain: BuiltImage;
  ociIndex: BuiltIndex;
  dockerList: BuiltIndex;
  /** The host-platform image inside ociIndex / dockerList. */
  indexHost: BuiltImage;
  listHost: BuiltImage;
}

export async function makeImages(): Promise<TestImages> {
  const ociPlain = await image("oci-plain", ["gzip", "zstd", "none"], "oci");
  const dockerPlain = await image("docker-plain", ["gzip", "none"], "docker");
  const indexHost = await image("index-host", ["gzip", "zstd"], "oci", HOST);
  const indexOther = await image("index-other", ["gzip"], "oci", OTHER);
  const listHost = await image("list-host", ["gzip"], "docker", HOST);
  const listOther = await image("list-other", ["gzip"], "docker", OTHER);
  return {
    ociPlain,
    dockerPlain,
    indexHost,
    listHost,
    ociIndex: buildIndex({ images: [indexOther, indexHost], attestations: true }),
    dockerList: buildIndex({ images: [listOther, listHost], format: "docker" }),
  };
}

export async function pushAll(reg: RegistryHandle, images: TestImages, repo = "test/app"): Promise<void> {
  await pushImage(reg, repo, "oci", images.ociPlain);
  await pushImage(reg, repo, "docker", images.dockerPlain, { chunked: true });
  await pushIndex(reg, repo, "index", images.ociIndex);
  await pushIndex(reg, repo, "list", images.dockerList);
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Check an OCI layout holds exactly the image's manifest, config and layers, with the right bytes. */
export async function readLayout(
  dir: string,
): Promise<{ index: { manifests: { digest: string; annotations?: Record<string, string> }[] } }> {
  const layout = JSON.parse(await readFile(join(dir, "oci-layout"), "utf8"));
  if (layout.imageLayoutVersion !== "1.0.0") throw new Error("bad oci-layout");
  return { index: JSON.parse(await readFile(join(dir, "index.json"), "utf8")) };
}

export async function blobBytes(dir: string, digest: string): Promise<Buffer> {
  return readFile(join(dir, "blobs", "sha256", digest.slice("sha256:".length)));
}

/** An in-memory sink that records every call (for event-order and abort assertions). */
export class RecordingSink implements ImageSink {
  calls: string[] = [];
  layers = new Map<number, Buffer>();
  present = new Set<number>();
  committed?: ResolvedImage;
  /** Throw from openLayer for this index. */
  failOpen?: number;
  /** Writers open at the same time, now and at most. */
  open = 0;
  maxOpen = 0;

  async hasLayer(_image: ResolvedImage, index: number): Promise<boolean> {
    this.calls.push(`has ${index}`);
    return this.present.has(index);
  }

  async openLayer(_image: ResolvedImage, index: number): Promise<LayerWriter> {
    this.calls.push(`open ${index}`);
    if (this.failOpen === index) throw new Error(`sink cannot open layer ${index}`);
    this.open++;
    this.maxOpen = Math.max(this.maxOpen, this.open);
    const chunks: Buffer[] = [];
    const stream = new Writable({
      write(chunk, _enc, cb) {
        chunks.push(chunk);
        cb();
      },
    });
    return {
      stream,
      commit: async () => {
        this.calls.push(`commit ${index}`);
        this.open--;
        this.layers.set(index, Buffer.concat(chunks));
      },
      abort: async (reason) => {
        this.calls.push(`abort ${index}: ${reason.message}`);
        this.open--;
        stream.destroy();
      },
    };
  }

  async commitImage(image: ResolvedImage): Promise<void> {
    this.calls.push("commitImage");
    this.committed = image;
  }
}

/** A throwaway certificate for 127.0.0.1 (`key.pem`, `cert.pem` in `dir`), for local HTTPS servers. */
export async function selfSignedCert(dir: string): Promise<void> {
  await promisify(execFile)("openssl", [
    ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"],
    ...["-addext", "subjectAltName=IP:127.0.0.1"],
    ...["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")],
  ]);
}
