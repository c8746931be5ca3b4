import { type DigestAlgorithm, digestOf, parseDigest } from "./digest.js";
import {
  DigestMismatchError,
  InvalidConfigError,
  InvalidManifestError,
  Schema1Error,
  UnsupportedMediaTypeError,
} from "./errors.js";
import {
  isIndexMediaType,
  isManifestMediaType,
  isSchema1MediaType,
  MediaTypes,
  parseContentType,
} from "./media-types.js";
import type {
  DockerManifest,
  DockerManifestList,
  ImageConfig,
  ImageIndex,
  ImageManifest,
} from "./schemas.js";
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  IMAGE_CONFIG,
  IMAGE_INDEX,
  IMAGE_MANIFEST,
  validateObject,
} from "./validate.js";

/**
 * Largest manifest accepted, as containerd (`MaxManifestSize = 4 * 1048 * 1048`): a guard
 * against a registry that streams an endless "manifest".
 */
export const MAX_MANIFEST_BYTES = 4 * 1048 * 1048;

interface ParsedBase {
  /** The media type the document was parsed as. */
  mediaType: string;
  /** The exact bytes received; digests are always over these, never over re-serialised JSON. */
  raw: Buffer;
  /** Digest of `raw` (sha256 unless `expectedDigest` named another algorithm). */
  digest: string;
}

export interface ParsedIndex extends ParsedBase {
  kind: "index";
  value: ImageIndex | DockerManifestList;
}

export interface ParsedImageManifest extends ParsedBase {
  kind: "manifest";
  value: ImageManifest | DockerManifest;
}

/** An image index/manifest list or an image manifest, with its raw bytes and digest. */
export type ParsedManifest = ParsedIndex | ParsedImageManifest;

export interface ParseManifestOptions {
  /** When given, the bytes must hash to it (else {@link DigestMismatchError}). */
  expectedDigest?: string;
}

/** Content-Types that say nothing about the document (files, misconfigured servers): ignored. */
const GENERIC_CONTENT_TYPES: ReadonlySet<string> = new Set([
  "application/json",
  "application/octet-stream",
  "text/plain",
]);

function decodeJson(raw: Buffer, what: string, fail: (reason: string) => Error): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    throw fail(`the ${what} is not valid UTF-8`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw fail(`the ${what} is not valid JSON (${(e as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw fail(`the ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function digestFor(raw: Buffer, expected: string | undefined): string {
  if (expected === undefined) return digestOf(raw);
  const { algorithm } = parseDigest(expected);
  const actual = digestOf(raw, algorithm as DigestAlgorithm);
  if (actual !== expected) throw new DigestMismatchError(expected, actual);
  return actual;
}

/**
 * Parse a manifest or index from the exact bytes a registry (or layout) returned.
 *
 * Refuses: Docker schema 1 ({@link Schema1Error}); unknown manifest media types
 * ({@link UnsupportedMediaTypeError}); documents with both `manifests` and `config`/`layers`, a
 * `mediaType` that disagrees with `contentType`, and anything not matching its schema
 * ({@link InvalidManifestError}; the first two are CVE-2021-41190). Content-Type parameters are
 * ignored, and generic Content-Types (`application/json`, `application/octet-stream`) are treated
 * as absent.
 */
export function parseManifestBytes(
  raw: Uint8Array,
  contentType?: string,
  options: ParseManifestOptions = {},
): ParsedManifest {
  const bytes = Buffer.from(raw);
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new InvalidManifestError(`it is ${bytes.length} bytes; the limit is ${MAX_MANIFEST_BYTES}`);
  }
  const digest = digestFor(bytes, options.expectedDigest);

  let ct = parseContentType(contentType);
  if (ct !== undefined && GENERIC_CONTENT_TYPES.has(ct)) ct = undefined;
  if (ct !== undefined && isSchema1MediaType(ct)) throw new Schema1Error();
  if (ct !== undefined && !isIndexMediaType(ct) && !isManifestMediaType(ct)) {
    throw new UnsupportedMediaTypeError(ct, "the server's Content-Type is not an image manifest or index");
  }

  const doc = decodeJson(bytes, "manifest", (reason) => new InvalidManifestError(reason));
  const declared = doc.mediaType;
  if (doc.schemaVersion === 1 || (typeof declared === "string" && isSchema1MediaType(declared))) {
    throw new Schema1Error();
  }
  if ("manifests" in doc && ("layers" in doc || "config" in doc)) {
    throw new InvalidManifestError(
      'the document has both "manifests" and "config"/"layers", so it could be read as an index or as a ' +
        "manifest (CVE-2021-41190); refusing it",
    );
  }
  if (declared !== undefined && typeof declared !== "string") {
    throw new InvalidManifestError('"mediaType" is not a string');
  }
  if (declared !== undefined && ct !== undefined && declared !== ct) {
    throw new InvalidManifestError(
      `its "mediaType" ${JSON.stringify(declared)} disagrees with the Content-Type ${JSON.stringify(ct)} ` +
        "(CVE-2021-41190); the registry or image is broken or malicious",
    );
  }

  const mediaType = declared ?? ct ?? ("manifests" in doc ? MediaTypes.OciIndex : MediaTypes.OciManifest);
  if (!isIndexMediaType(mediaType) && !isManifestMediaType(mediaType)) {
    throw new UnsupportedMediaTypeError(mediaType);
  }

  // the rules of the ImageIndex / DockerManifestList / ImageManifest / DockerManifest zod schemas,
  // checked without loading zod (validate.ts)
  const fields =
    mediaType === MediaTypes.OciIndex
      ? IMAGE_INDEX
      : mediaType === MediaTypes.DockerManifestList
        ? DOCKER_MANIFEST_LIST
        : mediaType === MediaTypes.OciManifest
          ? IMAGE_MANIFEST
          : DOCKER_MANIFEST;
  // A Docker schema2 document without mediaType (only possible with a Docker Content-Type) gets it
  // filled in for validation; `raw` and `digest` stay those of the received bytes.
  const input =
    declared === undefined && !mediaType.startsWith("application/vnd.oci.") ? { ...doc, mediaType } : doc;
  const issues = validateObject(fields, input);
  if (issues.length > 0) {
    throw new InvalidManifestError(`it does not match the ${mediaType} schema`, issues);
  }
  if (isIndexMediaType(mediaType)) {
    return {
      kind: "index",
      mediaType,
      value: input as ImageIndex | DockerManifestList,
      raw: bytes,
      digest,
    };
  }
  return {
    kind: "manifest",
    mediaType,
    value: input as ImageManifest | DockerManifest,
    raw: bytes,
    digest,
  };
}

export interface ParsedImageConfig {
  value: ImageConfig;
  /** The exact bytes; the image ID is their sha256. */
  raw: Buffer;
  digest: string;
}

/**
 * Parse an image config from its exact bytes. Throws {@link InvalidConfigError}, or
 * {@link DigestMismatchError} when `expectedDigest` (the manifest's `config.digest`) does not match.
 */
export function parseImageConfigBytes(
  raw: Uint8Array,
  options: ParseManifestOptions = {},
): ParsedImageConfig {
  const bytes = Buffer.from(raw);
  const digest = digestFor(bytes, options.expectedDigest);
  const doc = decodeJson(bytes, "config", (reason) => new InvalidConfigError(reason));
  const issues = validateObject(IMAGE_CONFIG, doc);
  if (issues.length > 0) {
    throw new InvalidConfigError("it does not match the image config schema", issues);
  }
  const value = doc as ImageConfig;
  const layers = value.history?.filter((h) => !h.empty_layer).length ?? 0;
  if (layers > value.rootfs.diff_ids.length) {
    // Docker's image store refuses this too (daemon/internal/image/store.go Create).
    throw new InvalidConfigError(
      `its history lists ${layers} non-empty layers but rootfs.diff_ids has only ${value.rootfs.diff_ids.length}`,
    );
  }
  return { value, raw: bytes, digest };
}
