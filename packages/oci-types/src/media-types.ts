/** OCI (image-spec `media-types.md`) and Docker (distribution schema2) media types. */
export const MediaTypes = {
  OciIndex: "application/vnd.oci.image.index.v1+json",
  OciManifest: "application/vnd.oci.image.manifest.v1+json",
  OciConfig: "application/vnd.oci.image.config.v1+json",
  OciLayer: "application/vnd.oci.image.layer.v1.tar",
  OciLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  OciLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  /** Deprecated by image-spec 1.1 but still readable. */
  OciLayerNondistributable: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  OciLayerNondistributableGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  OciLayerNondistributableZstd: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  OciEmpty: "application/vnd.oci.empty.v1+json",
  OciLayoutHeader: "application/vnd.oci.layout.header.v1+json",
  DockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  DockerConfig: "application/vnd.docker.container.image.v1+json",
  DockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  DockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DockerLayerZstd: "application/vnd.docker.image.rootfs.diff.tar.zstd",
  DockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  DockerForeignLayer: "application/vnd.docker.image.rootfs.foreign.diff.tar",
  /** Schema 1: recognised only to refuse it with a clear error. */
  DockerSchema1Manifest: "application/vnd.docker.distribution.manifest.v1+json",
  DockerSchema1SignedManifest: "application/vnd.docker.distribution.manifest.v1+prettyjws",
  InToto: "application/vnd.in-toto+json",
} as const;

export type MediaType = (typeof MediaTypes)[keyof typeof MediaTypes];

const INDEX_TYPES: ReadonlySet<string> = new Set([MediaTypes.OciIndex, MediaTypes.DockerManifestList]);
const MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaTypes.OciManifest, MediaTypes.DockerManifest]);
const SCHEMA1_TYPES: ReadonlySet<string> = new Set([
  MediaTypes.DockerSchema1Manifest,
  MediaTypes.DockerSchema1SignedManifest,
]);
const CONFIG_TYPES: ReadonlySet<string> = new Set([MediaTypes.OciConfig, MediaTypes.DockerConfig]);

const LAYER_COMPRESSION: ReadonlyMap<string, LayerCompression> = new Map([
  [MediaTypes.OciLayer, "none"],
  [MediaTypes.OciLayerGzip, "gzip"],
  [MediaTypes.OciLayerZstd, "zstd"],
  [MediaTypes.OciLayerNondistributable, "none"],
  [MediaTypes.OciLayerNondistributableGzip, "gzip"],
  [MediaTypes.OciLayerNondistributableZstd, "zstd"],
  [MediaTypes.DockerLayer, "none"],
  [MediaTypes.DockerLayerGzip, "gzip"],
  [MediaTypes.DockerLayerZstd, "zstd"],
  [MediaTypes.DockerForeignLayer, "none"],
  [MediaTypes.DockerForeignLayerGzip, "gzip"],
]);

export type LayerCompression = "gzip" | "zstd" | "none";

/**
 * The `Accept` list for manifest requests, in containerd's order (`resolver.go`): schema2, list,
 * OCI manifest, OCI index. Schema 1 is deliberately absent so registries do not down-convert.
 */
export const MANIFEST_ACCEPT: readonly string[] = [
  MediaTypes.DockerManifest,
  MediaTypes.DockerManifestList,
  MediaTypes.OciManifest,
  MediaTypes.OciIndex,
];

/**
 * The bare media type of a Content-Type header: parameters dropped (the distribution spec says
 * clients SHOULD ignore them), whitespace trimmed, lowercased. `undefined` for an empty header.
 */
export function parseContentType(header: string | null | undefined): string | undefined {
  if (header == null) return undefined;
  const bare = header.split(";", 1)[0]?.trim().toLowerCase() ?? "";
  return bare.length ? bare : undefined;
}

/** An image index or Docker manifest list. */
export function isIndexMediaType(mediaType: string): boolean {
  return INDEX_TYPES.has(mediaType);
}

/** An OCI image manifest or Docker schema2 manifest (not schema 1). */
export function isManifestMediaType(mediaType: string): boolean {
  return MANIFEST_TYPES.has(mediaType);
}

/** A Docker schema 1 manifest (refused). */
export function isSchema1MediaType(mediaType: string): boolean {
  return SCHEMA1_TYPES.has(mediaType);
}

/** An OCI or Docker image config. */
export function isConfigMediaType(mediaType: string): boolean {
  return CONFIG_TYPES.has(mediaType);
}

/** A filesystem layer strata can apply (OCI or Docker, any supported compression). */
export function isLayerMediaType(mediaType: string): boolean {
  return LAYER_COMPRESSION.has(mediaType);
}

/** Compression of a layer media type, or `undefined` when it is not a known layer type. */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  return LAYER_COMPRESSION.get(mediaType);
}
