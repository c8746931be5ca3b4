import { type ImageFormat, layerMediaType, MT } from "./media-types.js";
import type { Layer } from "./tar.js";
import { sha256 } from "./util.js";

/** os/architecture/variant of an image. */
export interface PlatformSpec {
  os: string;
  architecture: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
}

/** The runtime part of an image config (the "config" object of the image config JSON). */
export interface ImageConfigInput {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  User?: string;
  Labels?: Record<string, string>;
  ExposedPorts?: Record<string, Record<string, never>>;
  Volumes?: Record<string, Record<string, never>>;
  StopSignal?: string;
}

/** A blob to upload: config, layer, or any other content a manifest references. */
export interface BlobData {
  digest: string;
  mediaType: string;
  data: Buffer;
}

/** A single-platform image: manifest, config and blobs, all bytes final. */
export interface BuiltImage {
  format: ImageFormat;
  /** Manifest media type (also the Content-Type to PUT it with). */
  mediaType: string;
  manifest: Buffer;
  digest: string;
  config: Buffer;
  configDigest: string;
  layers: Layer[];
  /** Everything the manifest references (config first), in upload order. */
  blobs: BlobData[];
  platform: PlatformSpec;
}

export interface BuildImageOptions {
  /** Base first. Layer media types are re-labelled for `format`. */
  layers: Layer[];
  config?: ImageConfigInput;
  /** Default "oci". */
  format?: ImageFormat;
  /** Default: the host platform (linux/amd64 on x64). */
  platform?: PlatformSpec;
  /** Image creation time (config.created and history), default 2026-01-01T00:00:00Z. */
  created?: string;
  /** OCI manifest annotations. */
  annotations?: Record<string, string>;
  /** Edit the config JSON before it is serialised (for invalid-input tests). */
  mutateConfig?: (config: Record<string, unknown>) => void;
  /** Edit the manifest JSON before it is serialised (for invalid-input tests). */
  mutateManifest?: (manifest: Record<string, unknown>) => void;
}

const DEFAULT_CREATED = "2026-01-01T00:00:00Z";
const DEFAULT_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"];

/** The host's platform in OCI terms (x64 → amd64, arm → arm/v7). */
export function hostPlatformSpec(): PlatformSpec {
  const arch = process.arch;
  if (arch === "x64") return { os: "linux", architecture: "amd64" };
  if (arch === "arm") return { os: "linux", architecture: "arm", variant: "v7" };
  if (arch === "ia32") return { os: "linux", architecture: "386" };
  return { os: "linux", architecture: arch };
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

/** Build manifest + config for layers; rootfs.diff_ids and history follow the layers. */
export function buildImage(options: BuildImageOptions): BuiltImage {
  const format = options.format ?? "oci";
  const platform = options.platform ?? hostPlatformSpec();
  const created = options.created ?? DEFAULT_CREATED;
  const layers = options.layers.map((l) => ({ ...l, mediaType: layerMediaType(l.compression, format) }));
  const runtime: ImageConfigInput = { Env: DEFAULT_ENV, ...options.config };
  const configJson: Record<string, unknown> = {
    created,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    ...(platform["os.version"] ? { "os.version": platform["os.version"] } : {}),
    ...(platform["os.features"] ? { "os.features": platform["os.features"] } : {}),
    config: runtime,
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created, created_by: `strata testkit: layer ${i}` })),
  };
  options.mutateConfig?.(configJson);
  const config = json(configJson);
  const configDigest = sha256(config);
  const configMediaType = format === "oci" ? MT.ociConfig : MT.dockerConfig;
  const mediaType = format === "oci" ? MT.ociManifest : MT.dockerManifest;
  const manifestJson: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: configMediaType, digest: configDigest, size: config.length },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    ...(options.annotations && format === "oci" ? { annotations: options.annotations } : {}),
  };
  options.mutateManifest?.(manifestJson);
  const manifest = json(manifestJson);
  return {
    format,
    mediaType,
    manifest,
    digest: sha256(manifest),
    config,
    configDigest,
    layers,
    blobs: [
      { digest: configDigest, mediaType: configMediaType, data: config },
      ...layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, data: l.blob })),
    ],
    platform,
  };
}

/** An index / manifest list and every manifest it references. */
export interface BuiltIndex {
  format: ImageFormat;
  mediaType: string;
  index: Buffer;
  digest: string;
  /** The referenced manifests (platform images, then attestation manifests). */
  manifests: BuiltImage[];
}

export interface BuildIndexOptions {
  images: BuiltImage[];
  /** Default: the format of the first image. */
  format?: ImageFormat;
  /** Add a BuildKit-style attestation manifest (platform unknown/unknown) per image. */
  attestations?: boolean;
  annotations?: Record<string, string>;
  mutateIndex?: (index: Record<string, unknown>) => void;
}

/** A BuildKit-style attestation manifest for `subject` (an in-toto SPDX statement as its one layer). */
export function buildAttestation(subject: BuiltImage): BuiltImage {
  const statement = json({
    _type: "https://in-toto.io/Statement/v0.1",
    predicateType: "https://spdx.dev/Document",
    subject: [{ name: "strata-testkit", digest: { sha256: subject.digest.slice("sha256:".length) } }],
    predicate: { spdxVersion: "SPDX-2.3", name: "strata-testkit-sbom" },
  });
  const statementDigest = sha256(statement);
  const config = json({
    architecture: "unknown",
    os: "unknown",
    config: {},
    rootfs: { type: "layers", diff_ids: [statementDigest] },
  });
  const configDigest = sha256(config);
  const manifest = json({
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: configDigest, size: config.length },
    layers: [
      {
        mediaType: MT.inToto,
        digest: statementDigest,
        size: statement.length,
        annotations: { "in-toto.io/predicate-type": "https://spdx.dev/Document" },
      },
    ],
  });
  return {
    format: "oci",
    mediaType: MT.ociManifest,
    manifest,
    digest: sha256(manifest),
    config,
    configDigest,
    layers: [],
    blobs: [
      { digest: configDigest, mediaType: MT.ociConfig, data: config },
      { digest: statementDigest, mediaType: MT.inToto, data: statement },
    ],
    platform: { os: "unknown", architecture: "unknown" },
  };
}

/** Build an OCI index or Docker manifest list over several platform images. */
export function buildIndex(options: BuildIndexOptions): BuiltIndex {
  const format = options.format ?? options.images[0]?.format ?? "oci";
  const mediaType = format === "oci" ? MT.ociIndex : MT.dockerList;
  const entries: Record<string, unknown>[] = options.images.map((image) => ({
    mediaType: image.mediaType,
    digest: image.digest,
    size: image.manifest.length,
    platform: image.platform,
  }));
  const manifests = [...options.images];
  if (options.attestations) {
    for (const image of options.images) {
      const attestation = buildAttestation(image);
      manifests.push(attestation);
      entries.push({
        mediaType: attestation.mediaType,
        digest: attestation.digest,
        size: attestation.manifest.length,
        platform: { architecture: "unknown", os: "unknown" },
        annotations: {
          "vnd.docker.reference.digest": image.digest,
          "vnd.docker.reference.type": "attestation-manifest",
        },
      });
    }
  }
  const indexJson: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    manifests: entries,
    ...(options.annotations && format === "oci" ? { annotations: options.annotations } : {}),
  };
  options.mutateIndex?.(indexJson);
  const index = json(indexJson);
  return { format, mediaType, index, digest: sha256(index), manifests };
}
