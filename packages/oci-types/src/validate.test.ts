import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { MediaTypes } from "./media-types.js";
import {
  Descriptor,
  DescriptorSchema,
  DockerManifest,
  DockerManifestList,
  ImageConfig,
  ImageIndex,
  ImageManifest,
  Platform,
} from "./schemas.js";
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  IMAGE_CONFIG,
  IMAGE_INDEX,
  IMAGE_MANIFEST,
  validateObject,
} from "./validate.js";

/*
 * parseManifestBytes / parseImageConfigBytes validate by hand (validate.ts) so that a pull never
 * loads zod; the public zod schemas must keep meaning the same thing. Every fixture, and every
 * fixture with one value replaced or removed, must be accepted by both or refused by both.
 */

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`../../../fixtures/manifests/${name}`, import.meta.url), "utf8"));

const D = (c: string) => `sha256:${c.repeat(64)}`;

type Pair = [fields: Parameters<typeof validateObject>[0], schema: z.ZodType];
const pairs: Record<string, Pair> = {
  [MediaTypes.OciIndex]: [IMAGE_INDEX, ImageIndex],
  [MediaTypes.OciManifest]: [IMAGE_MANIFEST, ImageManifest],
  [MediaTypes.DockerManifestList]: [DOCKER_MANIFEST_LIST, DockerManifestList],
  [MediaTypes.DockerManifest]: [DOCKER_MANIFEST, DockerManifest],
  config: [IMAGE_CONFIG, ImageConfig],
};

const documents: Array<[name: string, kind: string, doc: Record<string, unknown>]> = [
  ["index-oci-attestations.json", MediaTypes.OciIndex, fixture("index-oci-attestations.json")],
  ["manifest-oci.json", MediaTypes.OciManifest, fixture("manifest-oci.json")],
  ["manifest-oci-attestation.json", MediaTypes.OciManifest, fixture("manifest-oci-attestation.json")],
  ["manifest-list-docker.json", MediaTypes.DockerManifestList, fixture("manifest-list-docker.json")],
  ["manifest-docker-schema2.json", MediaTypes.DockerManifest, fixture("manifest-docker-schema2.json")],
  ["config-docker.json", "config", fixture("config-docker.json")],
  ["config-oci.json", "config", fixture("config-oci.json")],
  [
    "OCI manifest with subject, annotations, urls, data",
    MediaTypes.OciManifest,
    {
      schemaVersion: 2,
      mediaType: MediaTypes.OciManifest,
      artifactType: "application/x",
      config: { mediaType: MediaTypes.OciEmpty, digest: D("4"), size: 2, data: "e30=" },
      layers: [
        {
          mediaType: MediaTypes.OciLayerGzip,
          digest: D("1"),
          size: 3,
          urls: ["https://example.com/x"],
          annotations: { a: "b" },
        },
      ],
      subject: { mediaType: MediaTypes.OciManifest, digest: D("2"), size: 4 },
      annotations: { "org.opencontainers.image.title": "t" },
    },
  ],
  [
    "config with healthcheck, labels, ports and history",
    "config",
    {
      architecture: "arm64",
      os: "linux",
      variant: "v8",
      "os.features": ["x"],
      config: {
        User: "1000",
        ExposedPorts: { "80/tcp": {} },
        Env: ["A=b"],
        Labels: { l: "v" },
        Healthcheck: { Test: ["CMD", "true"], Interval: 1, Retries: 3 },
        ArgsEscaped: true,
        StopSignal: null,
      },
      rootfs: { type: "layers", diff_ids: [D("a"), D("b")] },
      history: [{ created_by: "x", empty_layer: true }, { comment: "y" }],
    },
  ],
];

/** Every path to a value in `v`, down to `depth` levels. */
function paths(v: unknown, depth: number, prefix: (string | number)[] = []): (string | number)[][] {
  if (depth === 0 || typeof v !== "object" || v === null) return [];
  const keys: (string | number)[] = Array.isArray(v) ? v.map((_, i) => i).slice(0, 2) : Object.keys(v);
  return keys.flatMap((k) => [
    [...prefix, k],
    ...paths((v as Record<string, unknown>)[k], depth - 1, [...prefix, k]),
  ]);
}

const DELETE = Symbol("delete");
const replacements: unknown[] = [
  DELETE,
  null,
  0,
  -1,
  1.5,
  2,
  "",
  "x",
  D("9"),
  [],
  ["x"],
  {},
  { a: "b" },
  true,
];

function withValue(doc: unknown, path: (string | number)[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(doc) as Record<string, unknown>;
  let parent: Record<string | number, unknown> = copy;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (value === DELETE) {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else parent[last] = value;
  return copy;
}

describe("hand validation agrees with the zod schemas", () => {
  it.each(documents)("accepts %s like zod does", (_name, kind, doc) => {
    const [fields, schema] = pairs[kind] as Pair;
    expect(validateObject(fields, doc)).toEqual([]);
    expect(schema.safeParse(doc).success).toBe(true);
  });

  it.each(documents)("refuses the same mutations of %s as zod", (_name, kind, doc) => {
    const [fields, schema] = pairs[kind] as Pair;
    let refused = 0;
    for (const path of paths(doc, 4)) {
      for (const value of replacements) {
        const mutated = withValue(doc, path, value);
        const hand = validateObject(fields, mutated);
        const zod = schema.safeParse(mutated).success;
        const where = `${path.join(".")} = ${value === DELETE ? "(deleted)" : JSON.stringify(value)}`;
        expect(hand.length === 0, where).toBe(zod);
        if (!zod) refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
  });

  it("names the path of each problem", () => {
    const issues = validateObject(IMAGE_MANIFEST, {
      schemaVersion: 2,
      config: { mediaType: "", digest: "sha256:../../x", size: -1 },
      layers: [{ mediaType: MediaTypes.OciLayerGzip, digest: D("1"), size: 1.5 }],
    });
    expect(issues).toEqual([
      "config.mediaType: must not be empty",
      expect.stringMatching(/^config\.digest: must be a digest/),
      "config.size: must be a non-negative safe integer",
      "layers.0.size: must be a non-negative safe integer",
    ]);
    expect(validateObject(IMAGE_CONFIG, { os: "linux" })).toEqual([
      "architecture: required, missing",
      "rootfs: required, missing",
    ]);
  });
});

describe("the lazily built zod schemas", () => {
  it("parse, refuse and keep unknown fields like zod schemas", () => {
    const d = { mediaType: MediaTypes.OciLayerGzip, digest: D("1"), size: 1, extra: true };
    expect(Descriptor.parse(d)).toEqual(d);
    expect(DescriptorSchema).toBe(Descriptor);
    const bad = Descriptor.safeParse({ ...d, digest: "sha256:../x" });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(["digest"]);
    expect(Platform.shape.os).toBeDefined();
    expect("safeParse" in ImageConfig).toBe(true);
  });

  it("are zod schemas to the caller's zod: instanceof, composition, extend", () => {
    expect(Descriptor instanceof z.ZodType).toBe(true);
    expect(Descriptor instanceof z.ZodObject).toBe(true);
    const Wrapper = z.object({ layer: Descriptor, tags: z.array(z.string()) });
    expect(Wrapper.safeParse({ layer: { mediaType: "x", digest: D("2"), size: 0 }, tags: [] }).success).toBe(
      true,
    );
    expect(Wrapper.safeParse({ layer: { mediaType: "x", digest: "nope", size: 0 }, tags: [] }).success).toBe(
      false,
    );
    const Named = Descriptor.extend({ name: z.string() });
    expect(Named.safeParse({ mediaType: "x", digest: D("3"), size: 0 }).success).toBe(false);
    expect(Object.keys(Descriptor)).toEqual(expect.arrayContaining(["parse", "safeParse", "extend"]));
    expect("_zod" in Descriptor).toBe(true);
  });
});
