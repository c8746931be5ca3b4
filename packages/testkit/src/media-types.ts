/** Media types used by the image builder (kept local: testkit must not depend on code it tests). */
export const MT = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  dockerLayerZstd: "application/vnd.docker.image.rootfs.diff.tar.zstd",
  inToto: "application/vnd.in-toto+json",
} as const;

export type Compression = "gzip" | "zstd" | "none";
export type ImageFormat = "oci" | "docker";

/** The layer media type for a compression in a manifest format. */
export function layerMediaType(compression: Compression, format: ImageFormat = "oci"): string {
  if (format === "docker") {
    return compression === "gzip"
      ? MT.dockerLayerGzip
      : compression === "zstd"
        ? MT.dockerLayerZstd
        : MT.dockerLayer;
  }
  return compression === "gzip" ? MT.ociLayerGzip : compression === "zstd" ? MT.ociLayerZstd : MT.ociLayer;
}
