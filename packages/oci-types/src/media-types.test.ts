import { describe, expect, it } from "vitest";
import {
  isConfigMediaType,
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
  isSchema1MediaType,
  layerCompression,
  MANIFEST_ACCEPT,
  MediaTypes,
  parseContentType,
} from "./media-types.js";

describe("media type classification", () => {
  const cases: Array<
    [string, "index" | "manifest" | "schema1" | "config" | "layer" | "other", string | undefined]
  > = [
    [MediaTypes.OciIndex, "index", undefined],
    [MediaTypes.DockerManifestList, "index", undefined],
    [MediaTypes.OciManifest, "manifest", undefined],
    [MediaTypes.DockerManifest, "manifest", undefined],
    [MediaTypes.DockerSchema1Manifest, "schema1", undefined],
    [MediaTypes.DockerSchema1SignedManifest, "schema1", undefined],
    [MediaTypes.OciConfig, "config", undefined],
    [MediaTypes.DockerConfig, "config", undefined],
    [MediaTypes.OciLayer, "layer", "none"],
    [MediaTypes.OciLayerGzip, "layer", "gzip"],
    [MediaTypes.OciLayerZstd, "layer", "zstd"],
    [MediaTypes.OciLayerNondistributableGzip, "layer", "gzip"],
    [MediaTypes.DockerLayer, "layer", "none"],
    [MediaTypes.DockerLayerGzip, "layer", "gzip"],
    [MediaTypes.DockerLayerZstd, "layer", "zstd"],
    [MediaTypes.DockerForeignLayerGzip, "layer", "gzip"],
    [MediaTypes.InToto, "other", undefined],
    [MediaTypes.OciEmpty, "other", undefined],
    ["application/vnd.oci.image.layer.v1.tar+bzip2", "other", undefined],
    ["APPLICATION/VND.OCI.IMAGE.INDEX.V1+JSON", "other", undefined],
  ];
  it.each(cases)("%s is %s (compression %s)", (mt, kind, compression) => {
    expect(isIndexMediaType(mt)).toBe(kind === "index");
    expect(isManifestMediaType(mt)).toBe(kind === "manifest");
    expect(isSchema1MediaType(mt)).toBe(kind === "schema1");
    expect(isConfigMediaType(mt)).toBe(kind === "config");
    expect(isLayerMediaType(mt)).toBe(kind === "layer");
    expect(layerCompression(mt)).toBe(compression);
  });

  it("the Accept list has every manifest and index type and no schema 1", () => {
    expect([...MANIFEST_ACCEPT].sort()).toEqual(
      [
        MediaTypes.OciIndex,
        MediaTypes.OciManifest,
        MediaTypes.DockerManifest,
        MediaTypes.DockerManifestList,
      ].sort(),
    );
  });
});

describe("parseContentType ignores parameters", () => {
  it.each([
    [MediaTypes.OciManifest, MediaTypes.OciManifest],
    [`${MediaTypes.OciManifest}; charset=utf-8`, MediaTypes.OciManifest],
    [`  ${MediaTypes.DockerManifest.toUpperCase()} ; q=0.5`, MediaTypes.DockerManifest],
    ["", undefined],
    ["  ; x=y", undefined],
    [undefined, undefined],
    [null, undefined],
  ])("%j → %j", (header, bare) => {
    expect(parseContentType(header)).toBe(bare);
  });
});
