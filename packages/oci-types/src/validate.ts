import { isDigest } from "./digest.js";
import { MediaTypes } from "./media-types.js";

/*
 * The validation behind parseManifestBytes / parseImageConfigBytes, written by hand so that
 * parsing a manifest does not load zod: importing zod costs 70–230 ms and ~15 MiB of RSS, which
 * is most of a small pull's start-up (bench/pull/RESULTS.md). The rules are exactly those of the
 * public zod schemas in schemas.ts; validate.test.ts checks that both accept and refuse the same
 * documents. Objects are loose (unknown fields are kept), as in the schemas.
 */

type Spec =
  | "string"
  | "nonEmptyString"
  | "number"
  | "size"
  | "boolean"
  | "digest"
  | { literal: string | number }
  | { array: Spec }
  | { record: Spec }
  | { object: Fields };

/** `req`: must be present; `opt`: may be absent (not null); `nullish`: may be absent or null. */
type Fields = Record<string, [Spec, "req" | "opt" | "nullish"]>;

const stringList: Spec = { array: "string" };
const annotations: Spec = { record: "string" };

const platform: Fields = {
  architecture: ["nonEmptyString", "req"],
  os: ["nonEmptyString", "req"],
  "os.version": ["string", "opt"],
  "os.features": [stringList, "opt"],
  variant: ["string", "opt"],
  features: [stringList, "opt"],
};

const descriptor: Spec = {
  object: {
    mediaType: ["nonEmptyString", "req"],
    digest: ["digest", "req"],
    size: ["size", "req"],
    urls: [stringList, "opt"],
    annotations: [annotations, "opt"],
    data: ["string", "opt"],
    artifactType: ["string", "opt"],
    platform: [{ object: platform }, "opt"],
  },
};

const descriptors: Spec = { array: descriptor };

export const IMAGE_INDEX: Fields = {
  schemaVersion: [{ literal: 2 }, "req"],
  mediaType: [{ literal: MediaTypes.OciIndex }, "opt"],
  artifactType: ["string", "opt"],
  manifests: [descriptors, "req"],
  subject: [descriptor, "opt"],
  annotations: [annotations, "opt"],
};

export const IMAGE_MANIFEST: Fields = {
  schemaVersion: [{ literal: 2 }, "req"],
  mediaType: [{ literal: MediaTypes.OciManifest }, "opt"],
  artifactType: ["string", "opt"],
  config: [descriptor, "req"],
  layers: [descriptors, "req"],
  subject: [descriptor, "opt"],
  annotations: [annotations, "opt"],
};

export const DOCKER_MANIFEST_LIST: Fields = {
  schemaVersion: [{ literal: 2 }, "req"],
  mediaType: [{ literal: MediaTypes.DockerManifestList }, "req"],
  manifests: [descriptors, "req"],
};

export const DOCKER_MANIFEST: Fields = {
  schemaVersion: [{ literal: 2 }, "req"],
  mediaType: [{ literal: MediaTypes.DockerManifest }, "req"],
  config: [descriptor, "req"],
  layers: [descriptors, "req"],
};

const emptyObjectMap: Spec = { record: { object: {} } };

const containerConfig: Fields = {
  User: ["string", "nullish"],
  ExposedPorts: [emptyObjectMap, "nullish"],
  Env: [stringList, "nullish"],
  Entrypoint: [stringList, "nullish"],
  Cmd: [stringList, "nullish"],
  Volumes: [emptyObjectMap, "nullish"],
  WorkingDir: ["string", "nullish"],
  Labels: [{ record: "string" }, "nullish"],
  StopSignal: ["string", "nullish"],
  ArgsEscaped: ["boolean", "nullish"],
  OnBuild: [stringList, "nullish"],
  Shell: [stringList, "nullish"],
  Healthcheck: [
    {
      object: {
        Test: [stringList, "nullish"],
        Interval: ["number", "opt"],
        Timeout: ["number", "opt"],
        StartPeriod: ["number", "opt"],
        StartInterval: ["number", "opt"],
        Retries: ["number", "opt"],
      },
    },
    "nullish",
  ],
};

export const IMAGE_CONFIG: Fields = {
  created: ["string", "opt"],
  author: ["string", "opt"],
  architecture: ["nonEmptyString", "req"],
  os: ["nonEmptyString", "req"],
  "os.version": ["string", "opt"],
  "os.features": [stringList, "opt"],
  variant: ["string", "opt"],
  config: [{ object: containerConfig }, "nullish"],
  rootfs: [
    {
      object: {
        type: [{ literal: "layers" }, "req"],
        diff_ids: [{ array: "digest" }, "req"],
      },
    },
    "req",
  ],
  history: [
    {
      array: {
        object: {
          created: ["string", "opt"],
          created_by: ["string", "opt"],
          author: ["string", "opt"],
          comment: ["string", "opt"],
          empty_layer: ["boolean", "opt"],
        },
      },
    },
    "nullish",
  ],
};

function kind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const MAX_ISSUES = 20;

function check(spec: Spec, v: unknown, path: string, issues: string[]): void {
  if (issues.length >= MAX_ISSUES) return;
  const fail = (message: string): void => {
    issues.push(`${path || "(root)"}: ${message}`);
  };
  const expected = (what: string): void => fail(`expected ${what}, got ${kind(v)}`);
  switch (spec) {
    case "string":
      if (typeof v !== "string") expected("string");
      return;
    case "nonEmptyString":
      if (typeof v !== "string") expected("string");
      else if (v.length === 0) fail("must not be empty");
      return;
    case "number":
      if (typeof v !== "number" || !Number.isFinite(v)) expected("number");
      return;
    case "size":
      if (typeof v !== "number" || !Number.isFinite(v)) expected("number");
      else if (!Number.isSafeInteger(v) || v < 0) fail("must be a non-negative safe integer");
      return;
    case "boolean":
      if (typeof v !== "boolean") expected("boolean");
      return;
    case "digest":
      if (typeof v !== "string") expected("string");
      else if (!isDigest(v))
        fail('must be a digest "sha256:" + 64 or "sha512:" + 128 lowercase hex characters');
      return;
  }
  const at = (key: string | number) => (path ? `${path}.${key}` : String(key));
  if ("literal" in spec) {
    if (v !== spec.literal) fail(`expected ${JSON.stringify(spec.literal)}, got ${JSON.stringify(v)}`);
  } else if ("array" in spec) {
    if (!Array.isArray(v)) expected("array");
    else for (let i = 0; i < v.length; i++) check(spec.array, v[i], at(i), issues);
  } else if ("record" in spec) {
    if (!isPlainObject(v)) expected("object");
    else for (const key of Object.keys(v)) check(spec.record, v[key], at(key), issues);
  } else {
    if (!isPlainObject(v)) {
      expected("object");
      return;
    }
    for (const key of Object.keys(spec.object)) {
      const [field, presence] = spec.object[key] as [Spec, string];
      const value = Object.hasOwn(v, key) ? v[key] : undefined;
      if (value === undefined) {
        if (presence === "req") issues.push(`${at(key)}: required, missing`);
        continue;
      }
      if (value === null && presence === "nullish") continue;
      check(field, value, at(key), issues);
    }
  }
}

/** Issues (`path: message`) of a JSON object against one of the field sets above; [] when valid. */
export function validateObject(fields: Fields, doc: Record<string, unknown>): string[] {
  const issues: string[] = [];
  check({ object: fields }, doc, "", issues);
  return issues;
}
