import { describe, expect, it } from "vitest";
import { buildImage, buildIndex, hostPlatformSpec, MT, sha256, tarLayer } from "../src/index.js";

const layers = async () => [
  await tarLayer([{ type: "file", path: "a", content: "1" }], { compression: "gzip" }),
  await tarLayer([{ type: "file", path: "b", content: "2" }], { compression: "zstd" }),
  await tarLayer([{ type: "whiteout", path: "a" }], { compression: "none" }),
];

describe("buildImage", () => {
  it.each([
    {
      format: "oci" as const,
      manifest: MT.ociManifest,
      config: MT.ociConfig,
      layerTypes: [MT.ociLayerGzip, MT.ociLayerZstd, MT.ociLayer],
    },
    {
      format: "docker" as const,
      manifest: MT.dockerManifest,
      config: MT.dockerConfig,
      layerTypes: [MT.dockerLayerGzip, MT.dockerLayerZstd, MT.dockerLayer],
    },
  ])("builds a $format manifest whose descriptors, diff_ids and history match the layers", async (c) => {
    const ls = await layers();
    const image = buildImage({
      layers: ls,
      format: c.format,
      config: {
        Cmd: ["/bin/sh", "-c", "echo hi"],
        Entrypoint: ["/bin/env"],
        WorkingDir: "/w",
        User: "1000:1000",
        Env: ["A=1"],
      },
      platform: { os: "linux", architecture: "arm64", variant: "v8" },
    });
    const manifest = JSON.parse(image.manifest.toString());
    const config = JSON.parse(image.config.toString());
    expect(image.mediaType).toBe(c.manifest);
    expect(image.digest).toBe(sha256(image.manifest));
    expect(image.configDigest).toBe(sha256(image.config));
    expect(manifest).toEqual({
      schemaVersion: 2,
      mediaType: c.manifest,
      config: { mediaType: c.config, digest: image.configDigest, size: image.config.length },
      layers: ls.map((l, i) => ({ mediaType: c.layerTypes[i], digest: l.digest, size: l.size })),
    });
    expect(config).toMatchObject({
      architecture: "arm64",
      os: "linux",
      variant: "v8",
      config: {
        Cmd: ["/bin/sh", "-c", "echo hi"],
        Entrypoint: ["/bin/env"],
        WorkingDir: "/w",
        User: "1000:1000",
        Env: ["A=1"],
      },
      rootfs: { type: "layers", diff_ids: ls.map((l) => l.diffId) },
    });
    expect(config.history).toHaveLength(3);
    expect(image.blobs.map((b) => b.digest)).toEqual([image.configDigest, ...ls.map((l) => l.digest)]);
  });

  it("defaults to the host platform and a PATH in Env", async () => {
    const image = buildImage({ layers: await layers() });
    const config = JSON.parse(image.config.toString());
    expect(image.platform).toEqual(hostPlatformSpec());
    expect(config.config.Env).toEqual(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]);
  });

  it("lets tests corrupt config and manifest on purpose", async () => {
    const image = buildImage({
      layers: await layers(),
      mutateConfig: (c) => {
        (c.rootfs as { diff_ids: string[] }).diff_ids.pop();
      },
      mutateManifest: (m) => {
        m.mediaType = MT.dockerManifest;
      },
    });
    expect(JSON.parse(image.config.toString()).rootfs.diff_ids).toHaveLength(2);
    expect(JSON.parse(image.manifest.toString()).mediaType).toBe(MT.dockerManifest);
    expect(image.digest).toBe(sha256(image.manifest));
  });
});

describe("buildIndex", () => {
  it("lists platform manifests, then BuildKit-style attestation manifests", async () => {
    const amd = buildImage({ layers: await layers(), platform: { os: "linux", architecture: "amd64" } });
    const arm = buildImage({
      layers: await layers(),
      platform: { os: "linux", architecture: "arm", variant: "v7" },
    });
    const index = buildIndex({ images: [amd, arm], attestations: true });
    const parsed = JSON.parse(index.index.toString());
    expect(index.mediaType).toBe(MT.ociIndex);
    expect(index.digest).toBe(sha256(index.index));
    expect(parsed.manifests).toHaveLength(4);
    expect(parsed.manifests[0]).toEqual({
      mediaType: MT.ociManifest,
      digest: amd.digest,
      size: amd.manifest.length,
      platform: { os: "linux", architecture: "amd64" },
    });
    const attestation = index.manifests[2];
    expect(parsed.manifests[2]).toEqual({
      mediaType: MT.ociManifest,
      digest: attestation?.digest,
      size: attestation?.manifest.length,
      platform: { architecture: "unknown", os: "unknown" },
      annotations: {
        "vnd.docker.reference.digest": amd.digest,
        "vnd.docker.reference.type": "attestation-manifest",
      },
    });
    const attManifest = JSON.parse(attestation?.manifest.toString() ?? "{}");
    expect(attManifest.layers[0].mediaType).toBe(MT.inToto);
    expect(attManifest.layers[0].annotations).toEqual({
      "in-toto.io/predicate-type": "https://spdx.dev/Document",
    });
  });

  it("builds a Docker manifest list from docker images", async () => {
    const image = buildImage({ layers: await layers(), format: "docker" });
    const index = buildIndex({ images: [image] });
    expect(index.mediaType).toBe(MT.dockerList);
    expect(JSON.parse(index.index.toString()).manifests[0].mediaType).toBe(MT.dockerManifest);
  });
});
