import { z } from "zod";
import { isDigest } from "./digest.js";
import { MediaTypes } from "./media-types.js";

/*
 * zod 4 schemas for the OCI image-spec and Docker schema2 documents. Objects are loose: unknown
 * fields survive parsing (the specs require readers to ignore them). Each schema shares its name
 * with its inferred type, so `Descriptor.parse(x)` and `let d: Descriptor` both work.
 */

const digestString = z.string().refine(isDigest, {
  message: 'must be a digest "sha256:" + 64 or "sha512:" + 128 lowercase hex characters',
});
const annotations = z.record(z.string(), z.string());

export const Platform = z.looseObject({
  architecture: z.string().min(1),
  os: z.string().min(1),
  "os.version": z.string().optional(),
  "os.features": z.array(z.string()).optional(),
  variant: z.string().optional(),
  features: z.array(z.string()).optional(),
});
export type Platform = z.infer<typeof Platform>;

/** A content descriptor. Unknown `mediaType`s are accepted (image-spec `descriptor.md`). */
export const Descriptor = z.looseObject({
  mediaType: z.string().min(1),
  digest: digestString,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  urls: z.array(z.string()).optional(),
  annotations: annotations.optional(),
  data: z.string().optional(),
  artifactType: z.string().optional(),
  platform: Platform.optional(),
});
export type Descriptor = z.infer<typeof Descriptor>;

export const ImageIndex = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.literal(MediaTypes.OciIndex).optional(),
  artifactType: z.string().optional(),
  manifests: z.array(Descriptor),
  subject: Descriptor.optional(),
  annotations: annotations.optional(),
});
export type ImageIndex = z.infer<typeof ImageIndex>;

export const ImageManifest = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.literal(MediaTypes.OciManifest).optional(),
  artifactType: z.string().optional(),
  config: Descriptor,
  layers: z.array(Descriptor),
  subject: Descriptor.optional(),
  annotations: annotations.optional(),
});
export type ImageManifest = z.infer<typeof ImageManifest>;

export const DockerManifestList = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.literal(MediaTypes.DockerManifestList),
  manifests: z.array(Descriptor),
});
export type DockerManifestList = z.infer<typeof DockerManifestList>;

export const DockerManifest = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.literal(MediaTypes.DockerManifest),
  config: Descriptor,
  layers: z.array(Descriptor),
});
export type DockerManifest = z.infer<typeof DockerManifest>;

// Docker writes `null` for empty lists and maps in configs (Env, Cmd, Volumes, Labels, OnBuild...).
const stringList = z.array(z.string()).nullish();
const emptyObjectMap = z.record(z.string(), z.looseObject({})).nullish();

export const HealthConfig = z.looseObject({
  Test: stringList,
  Interval: z.number().optional(),
  Timeout: z.number().optional(),
  StartPeriod: z.number().optional(),
  StartInterval: z.number().optional(),
  Retries: z.number().optional(),
});
export type HealthConfig = z.infer<typeof HealthConfig>;

/** The execution parameters in an image config (`config` object). */
export const ContainerConfig = z.looseObject({
  User: z.string().nullish(),
  ExposedPorts: emptyObjectMap,
  Env: stringList,
  Entrypoint: stringList,
  Cmd: stringList,
  Volumes: emptyObjectMap,
  WorkingDir: z.string().nullish(),
  Labels: z.record(z.string(), z.string()).nullish(),
  StopSignal: z.string().nullish(),
  ArgsEscaped: z.boolean().nullish(),
  OnBuild: stringList,
  Shell: stringList,
  Healthcheck: HealthConfig.nullish(),
});
export type ContainerConfig = z.infer<typeof ContainerConfig>;

export const History = z.looseObject({
  created: z.string().optional(),
  created_by: z.string().optional(),
  author: z.string().optional(),
  comment: z.string().optional(),
  empty_layer: z.boolean().optional(),
});
export type History = z.infer<typeof History>;

/** OCI image config / Docker image JSON (`application/vnd.{oci.image.config.v1,docker.container.image.v1}+json`). */
export const ImageConfig = z.looseObject({
  created: z.string().optional(),
  author: z.string().optional(),
  architecture: z.string().min(1),
  os: z.string().min(1),
  "os.version": z.string().optional(),
  "os.features": z.array(z.string()).optional(),
  variant: z.string().optional(),
  config: ContainerConfig.nullish(),
  rootfs: z.looseObject({
    type: z.literal("layers"),
    diff_ids: z.array(digestString),
  }),
  history: z.array(History).nullish(),
});
export type ImageConfig = z.infer<typeof ImageConfig>;

// Aliases for code that prefers the `*Schema` spelling for values.
export {
  Descriptor as DescriptorSchema,
  DockerManifest as DockerManifestSchema,
  DockerManifestList as DockerManifestListSchema,
  ImageConfig as ImageConfigSchema,
  ImageIndex as ImageIndexSchema,
  ImageManifest as ImageManifestSchema,
  Platform as PlatformSchema,
};
