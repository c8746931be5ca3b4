import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { z as Z } from "zod";
import { isDigest } from "./digest.js";
import { MediaTypes } from "./media-types.js";

/*
 * zod 4 schemas for the OCI image-spec and Docker schema2 documents. Objects are loose: unknown
 * fields survive parsing (the specs require readers to ignore them). Each schema shares its name
 * with its inferred type, so `Descriptor.parse(x)` and `let d: Descriptor` both work.
 *
 * The schemas are built, and zod is loaded, the first time one of them is used: importing zod
 * costs 70–230 ms and ~15 MiB of RSS (bench/pull/RESULTS.md), and strata's own parsing
 * (parseManifestBytes, parseImageConfigBytes) validates by hand with the same rules
 * (validate.ts), so a pull never loads zod. Each export is a Proxy that forwards everything
 * (`parse`, `safeParse`, `shape`, `instanceof`, use inside your own zod schemas) to the real schema.
 */

function build(z: typeof Z) {
  const digestString = z.string().refine(isDigest, {
    message: 'must be a digest "sha256:" + 64 or "sha512:" + 128 lowercase hex characters',
  });
  const annotations = z.record(z.string(), z.string());

  const Platform = z.looseObject({
    architecture: z.string().min(1),
    os: z.string().min(1),
    "os.version": z.string().optional(),
    "os.features": z.array(z.string()).optional(),
    variant: z.string().optional(),
    features: z.array(z.string()).optional(),
  });

  /** A content descriptor. Unknown `mediaType`s are accepted (image-spec `descriptor.md`). */
  const Descriptor = z.looseObject({
    mediaType: z.string().min(1),
    digest: digestString,
    size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    urls: z.array(z.string()).optional(),
    annotations: annotations.optional(),
    data: z.string().optional(),
    artifactType: z.string().optional(),
    platform: Platform.optional(),
  });

  const ImageIndex = z.looseObject({
    schemaVersion: z.literal(2),
    mediaType: z.literal(MediaTypes.OciIndex).optional(),
    artifactType: z.string().optional(),
    manifests: z.array(Descriptor),
    subject: Descriptor.optional(),
    annotations: annotations.optional(),
  });

  const ImageManifest = z.looseObject({
    schemaVersion: z.literal(2),
    mediaType: z.literal(MediaTypes.OciManifest).optional(),
    artifactType: z.string().optional(),
    config: Descriptor,
    layers: z.array(Descriptor),
    subject: Descriptor.optional(),
    annotations: annotations.optional(),
  });

  const DockerManifestList = z.looseObject({
    schemaVersion: z.literal(2),
    mediaType: z.literal(MediaTypes.DockerManifestList),
    manifests: z.array(Descriptor),
  });

  const DockerManifest = z.looseObject({
    schemaVersion: z.literal(2),
    mediaType: z.literal(MediaTypes.DockerManifest),
    config: Descriptor,
    layers: z.array(Descriptor),
  });

  // Docker writes `null` for empty lists and maps in configs (Env, Cmd, Volumes, Labels, OnBuild...).
  const stringList = z.array(z.string()).nullish();
  const emptyObjectMap = z.record(z.string(), z.looseObject({})).nullish();

  const HealthConfig = z.looseObject({
    Test: stringList,
    Interval: z.number().optional(),
    Timeout: z.number().optional(),
    StartPeriod: z.number().optional(),
    StartInterval: z.number().optional(),
    Retries: z.number().optional(),
  });

  /** The execution parameters in an image config (`config` object). */
  const ContainerConfig = z.looseObject({
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

  const History = z.looseObject({
    created: z.string().optional(),
    created_by: z.string().optional(),
    author: z.string().optional(),
    comment: z.string().optional(),
    empty_layer: z.boolean().optional(),
  });

  /** OCI image config / Docker image JSON (`application/vnd.{oci.image.config.v1,docker.container.image.v1}+json`). */
  const ImageConfig = z.looseObject({
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
  return {
    Platform,
    Descriptor,
    ImageIndex,
    ImageManifest,
    DockerManifestList,
    DockerManifest,
    HealthConfig,
    ContainerConfig,
    History,
    ImageConfig,
  };
}

type Schemas = ReturnType<typeof build>;
let built: Schemas | undefined;

function loadZod(): typeof Z {
  const require = createRequire(import.meta.url);
  // Prefer zod's ES module (Node >= 20.19 can require() it synchronously): it is the same instance
  // a caller's `import { z } from "zod"` gets. Fall back to zod's CommonJS build.
  try {
    return (require(fileURLToPath(import.meta.resolve("zod"))) as { z: typeof Z }).z;
  } catch {
    return (require("zod") as { z: typeof Z }).z;
  }
}

function schemas(): Schemas {
  built ??= build(loadZod());
  return built;
}

/** A stand-in for `schemas()[name]` that builds the schemas on first use. */
function lazy<K extends keyof Schemas>(name: K): Schemas[K] {
  const real = () => schemas()[name] as object;
  return new Proxy(Object.create(null) as object, {
    get: (_t, p) => Reflect.get(real(), p),
    set: (_t, p, v) => Reflect.set(real(), p, v),
    has: (_t, p) => Reflect.has(real(), p),
    ownKeys: () => Reflect.ownKeys(real()),
    getOwnPropertyDescriptor: (_t, p) => {
      const d = Reflect.getOwnPropertyDescriptor(real(), p);
      // the target is an empty object: a proxy may only report configurable properties it lacks
      return d && { ...d, configurable: true };
    },
    defineProperty: (_t, p, d) => Reflect.defineProperty(real(), p, d),
    deleteProperty: (_t, p) => Reflect.deleteProperty(real(), p),
    getPrototypeOf: () => Reflect.getPrototypeOf(real()),
  }) as Schemas[K];
}

export const Platform: Schemas["Platform"] = lazy("Platform");
export type Platform = Z.infer<Schemas["Platform"]>;
export const Descriptor: Schemas["Descriptor"] = lazy("Descriptor");
export type Descriptor = Z.infer<Schemas["Descriptor"]>;
export const ImageIndex: Schemas["ImageIndex"] = lazy("ImageIndex");
export type ImageIndex = Z.infer<Schemas["ImageIndex"]>;
export const ImageManifest: Schemas["ImageManifest"] = lazy("ImageManifest");
export type ImageManifest = Z.infer<Schemas["ImageManifest"]>;
export const DockerManifestList: Schemas["DockerManifestList"] = lazy("DockerManifestList");
export type DockerManifestList = Z.infer<Schemas["DockerManifestList"]>;
export const DockerManifest: Schemas["DockerManifest"] = lazy("DockerManifest");
export type DockerManifest = Z.infer<Schemas["DockerManifest"]>;
export const HealthConfig: Schemas["HealthConfig"] = lazy("HealthConfig");
export type HealthConfig = Z.infer<Schemas["HealthConfig"]>;
export const ContainerConfig: Schemas["ContainerConfig"] = lazy("ContainerConfig");
export type ContainerConfig = Z.infer<Schemas["ContainerConfig"]>;
export const History: Schemas["History"] = lazy("History");
export type History = Z.infer<Schemas["History"]>;
export const ImageConfig: Schemas["ImageConfig"] = lazy("ImageConfig");
export type ImageConfig = Z.infer<Schemas["ImageConfig"]>;

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
