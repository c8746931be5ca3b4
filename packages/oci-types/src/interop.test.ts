/**
 * Interop with real tools: umoci writes an OCI layout and skopeo converts it to a Docker schema2
 * image. Their bytes must parse, chain by digest, and verify through the streaming verifier.
 */
import { execFileSync } from "node:child_process";
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDigester, createDigestVerifier, parseDigest } from "./digest.js";
import { chainIds, imageIdOf } from "./identity.js";
import { parseImageConfigBytes, parseManifestBytes } from "./manifest.js";
import { MediaTypes } from "./media-types.js";
import { selectManifest } from "./platform.js";
import type { Descriptor } from "./schemas.js";

let dir: string;
const blobPath = (layout: string, digest: string) => {
  const { algorithm, hex } = parseDigest(digest); // validated before it touches a path
  return join(layout, "blobs", algorithm, hex);
};
const discard = () =>
  new Writable({
    write(_c, _e, cb) {
      cb();
    },
  });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "strata-test-oci-types-"));
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: dir, stdio: "pipe" });
  run("umoci", ["init", "--layout", "layout"]);
  run("umoci", ["new", "--image", "layout:v1"]);
  run("umoci", [
    "config",
    "--image",
    "layout:v1",
    "--os",
    "linux",
    "--architecture",
    "arm64",
    "--config.cmd",
    "sh",
  ]);
  mkdirSync(join(dir, "rootfs"));
  writeFileSync(join(dir, "rootfs", "hello"), "hello from strata\n");
  run("umoci", ["insert", "--image", "layout:v1", "rootfs/hello", "/hello"]);
  run("skopeo", ["--insecure-policy", "copy", "--format", "v2s2", "oci:layout:v1", "dir:docker"]);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function verifyLayers(
  root: string,
  layers: Descriptor[],
  diffIds: string[],
  blob: (d: string) => string,
) {
  expect(layers).toHaveLength(diffIds.length);
  for (const [i, layer] of layers.entries()) {
    await pipeline(
      createReadStream(blob(layer.digest)),
      createDigestVerifier(layer.digest, { size: layer.size }),
      discard(),
    );
    const diff = createDigester("sha256");
    await pipeline(
      createReadStream(blob(layer.digest)),
      createGunzip(),
      new Writable({
        write(chunk, _e, cb) {
          diff.update(chunk);
          cb();
        },
      }),
    );
    expect(diff.digest(), `diff ID of layer ${i} in ${root}`).toBe(diffIds[i]);
  }
}

describe("umoci OCI layout", () => {
  it("parses index → manifest → config, verifying every digest", async () => {
    const layout = join(dir, "layout");
    // umoci writes index.json without mediaType: the structure decides.
    const index = parseManifestBytes(readFileSync(join(layout, "index.json")));
    expect(index.kind).toBe("index");
    if (index.kind !== "index") return;
    // Its entry has no platform, so it is the fallback choice.
    const entry = selectManifest(index.value, "linux/arm64");
    expect(entry.annotations?.["org.opencontainers.image.ref.name"]).toBe("v1");

    const manifest = parseManifestBytes(readFileSync(blobPath(layout, entry.digest)), entry.mediaType, {
      expectedDigest: entry.digest,
    });
    expect(manifest.kind).toBe("manifest");
    expect(manifest.raw.length).toBe(entry.size);
    if (manifest.kind !== "manifest") return;

    const config = parseImageConfigBytes(readFileSync(blobPath(layout, manifest.value.config.digest)), {
      expectedDigest: manifest.value.config.digest,
    });
    expect(imageIdOf(config.raw)).toBe(manifest.value.config.digest);
    expect(config.value).toMatchObject({ os: "linux", architecture: "arm64" });
    expect(config.value.config?.Cmd).toEqual(["sh"]);
    expect(chainIds(config.value.rootfs.diff_ids)).toHaveLength(1);
    await verifyLayers(layout, manifest.value.layers, config.value.rootfs.diff_ids, (d) =>
      blobPath(layout, d),
    );
  });
});

describe("skopeo Docker schema2 conversion", () => {
  it("parses the schema2 manifest and config and verifies the layer", async () => {
    const root = join(dir, "docker");
    const blob = (d: string) => join(root, parseDigest(d).hex);
    const manifest = parseManifestBytes(readFileSync(join(root, "manifest.json")), MediaTypes.DockerManifest);
    expect(manifest.kind).toBe("manifest");
    expect(manifest.mediaType).toBe(MediaTypes.DockerManifest);
    if (manifest.kind !== "manifest") return;
    expect(manifest.value.config.mediaType).toBe(MediaTypes.DockerConfig);
    expect(manifest.value.layers.map((l) => l.mediaType)).toEqual([MediaTypes.DockerLayerGzip]);

    const config = parseImageConfigBytes(readFileSync(blob(manifest.value.config.digest)), {
      expectedDigest: manifest.value.config.digest,
    });
    expect(config.value.architecture).toBe("arm64");
    await verifyLayers(root, manifest.value.layers, config.value.rootfs.diff_ids, blob);
  });
});
