import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { digestOf } from "./digest.js";
import {
  DigestMismatchError,
  InvalidConfigError,
  InvalidManifestError,
  Schema1Error,
  UnsupportedMediaTypeError,
} from "./errors.js";
import { chainId, imageIdOf } from "./identity.js";
import { MAX_MANIFEST_BYTES, parseImageConfigBytes, parseManifestBytes } from "./manifest.js";
import { MediaTypes } from "./media-types.js";

const fixture = (name: string): Buffer =>
  readFileSync(new URL(`../../../fixtures/manifests/${name}`, import.meta.url));
const D = (c: string) => `sha256:${c.repeat(64)}`;
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const ociManifest = {
  schemaVersion: 2,
  mediaType: MediaTypes.OciManifest,
  config: { mediaType: MediaTypes.OciConfig, digest: D("c"), size: 10 },
  layers: [{ mediaType: MediaTypes.OciLayerGzip, digest: D("1"), size: 20 }],
};
const ociIndex = {
  schemaVersion: 2,
  mediaType: MediaTypes.OciIndex,
  manifests: [
    {
      mediaType: MediaTypes.OciManifest,
      digest: D("a"),
      size: 1,
      platform: { os: "linux", architecture: "amd64" },
    },
  ],
};

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a throw");
}

describe("parseManifestBytes on real-shaped fixtures", () => {
  const cases: Array<[string, string | undefined, "index" | "manifest", string]> = [
    ["index-oci-attestations.json", MediaTypes.OciIndex, "index", MediaTypes.OciIndex],
    ["manifest-list-docker.json", MediaTypes.DockerManifestList, "index", MediaTypes.DockerManifestList],
    ["manifest-docker-schema2.json", MediaTypes.DockerManifest, "manifest", MediaTypes.DockerManifest],
    ["manifest-oci.json", MediaTypes.OciManifest, "manifest", MediaTypes.OciManifest],
    ["manifest-oci-attestation.json", MediaTypes.OciManifest, "manifest", MediaTypes.OciManifest],
    // No Content-Type (an OCI layout on disk): the body's mediaType decides.
    ["index-oci-attestations.json", undefined, "index", MediaTypes.OciIndex],
    ["manifest-docker-schema2.json", undefined, "manifest", MediaTypes.DockerManifest],
    // Content-Type parameters are ignored, case too.
    ["manifest-oci.json", `${MediaTypes.OciManifest}; charset=utf-8`, "manifest", MediaTypes.OciManifest],
    [
      "manifest-list-docker.json",
      ` ${MediaTypes.DockerManifestList.toUpperCase()} ;q=1`,
      "index",
      MediaTypes.DockerManifestList,
    ],
    // Generic types say nothing and are treated as absent.
    ["manifest-oci.json", "application/json", "manifest", MediaTypes.OciManifest],
    ["manifest-list-docker.json", "application/octet-stream", "index", MediaTypes.DockerManifestList],
  ];
  it.each(cases)("%s (Content-Type %s) → %s", (name, contentType, kind, mediaType) => {
    const raw = fixture(name);
    const parsed = parseManifestBytes(raw, contentType);
    expect(parsed.kind).toBe(kind);
    expect(parsed.mediaType).toBe(mediaType);
    expect(parsed.raw.equals(raw)).toBe(true);
    expect(parsed.digest).toBe(digestOf(raw));
  });

  it("keeps the fixtures' digest chain consistent (index → manifest → config)", () => {
    const index = parseManifestBytes(fixture("index-oci-attestations.json"));
    const manifest = parseManifestBytes(fixture("manifest-oci.json"));
    expect(index.kind).toBe("index");
    if (index.kind !== "index" || manifest.kind !== "manifest") throw new Error("unreachable");
    expect(index.value.manifests[0]).toMatchObject({ digest: manifest.digest, size: manifest.raw.length });
    const config = parseImageConfigBytes(fixture("config-oci.json"), {
      expectedDigest: manifest.value.config.digest,
    });
    expect(config.raw.length).toBe(manifest.value.config.size);

    const list = parseManifestBytes(fixture("manifest-list-docker.json"));
    const schema2 = parseManifestBytes(fixture("manifest-docker-schema2.json"));
    if (list.kind !== "index" || schema2.kind !== "manifest") throw new Error("unreachable");
    expect(list.value.manifests[0]).toMatchObject({ digest: schema2.digest, size: schema2.raw.length });
    parseImageConfigBytes(fixture("config-docker.json"), { expectedDigest: schema2.value.config.digest });
  });

  it("digests the received bytes, never re-serialised JSON", () => {
    const pretty = Buffer.from(`${JSON.stringify(ociManifest, null, 7)}\n\n`);
    const parsed = parseManifestBytes(pretty, MediaTypes.OciManifest);
    expect(parsed.digest).toBe(digestOf(pretty));
    expect(parsed.digest).not.toBe(digestOf(json(parsed.value)));
    expect(parsed.raw.equals(pretty)).toBe(true);
  });

  it("copies the input, so later changes to the caller's buffer do not alter raw", () => {
    const input = json(ociManifest);
    const parsed = parseManifestBytes(new Uint8Array(input));
    input.fill(0);
    expect(parsed.digest).toBe(digestOf(parsed.raw));
  });

  it("keeps unknown fields and accepts unknown descriptor media types", () => {
    const doc = {
      ...ociIndex,
      "x-vendor": { keep: true },
      manifests: [
        ...ociIndex.manifests,
        {
          mediaType: "application/vnd.example.unknown+json",
          digest: D("b"),
          size: 2,
          artifactType: "x",
          extra: 1,
        },
      ],
    };
    const parsed = parseManifestBytes(json(doc), MediaTypes.OciIndex);
    expect(parsed.value).toMatchObject({ "x-vendor": { keep: true } });
    if (parsed.kind !== "index") throw new Error("unreachable");
    expect(parsed.value.manifests[1]).toMatchObject({
      mediaType: "application/vnd.example.unknown+json",
      extra: 1,
    });

    const m = parseManifestBytes(
      json({
        ...ociManifest,
        layers: [
          { mediaType: "application/vnd.example.layer", digest: D("2"), size: 3, urls: ["https://x"] },
        ],
        subject: { mediaType: MediaTypes.OciManifest, digest: D("5"), size: 9 },
        annotations: { a: "b" },
        unknownTop: [1, 2],
      }),
    );
    expect(m.value).toMatchObject({ unknownTop: [1, 2], annotations: { a: "b" } });
  });

  it("infers the kind from structure when neither mediaType nor Content-Type says", () => {
    const { mediaType: _m, ...bareIndex } = ociIndex;
    const { mediaType: _n, ...bareManifest } = ociManifest;
    expect(parseManifestBytes(json(bareIndex)).mediaType).toBe(MediaTypes.OciIndex);
    expect(parseManifestBytes(json(bareManifest)).mediaType).toBe(MediaTypes.OciManifest);
    // A body without mediaType takes the Content-Type's.
    expect(parseManifestBytes(json(bareIndex), MediaTypes.OciIndex).kind).toBe("index");
  });

  it("checks the digest when one is expected (sha256 or sha512)", () => {
    const raw = fixture("manifest-oci.json");
    expect(parseManifestBytes(raw, undefined, { expectedDigest: digestOf(raw, "sha512") }).digest).toBe(
      digestOf(raw, "sha512"),
    );
    expect(thrown(() => parseManifestBytes(raw, undefined, { expectedDigest: D("0") }))).toBeInstanceOf(
      DigestMismatchError,
    );
  });
});

describe("parseManifestBytes refuses bad documents", () => {
  const cases: Array<[string, Uint8Array, string | undefined, new (...a: never[]) => Error, string, RegExp]> =
    [
      [
        "CVE-2021-41190: manifests and layers/config together (fixture)",
        fixture("ambiguous-index-manifest.json"),
        MediaTypes.OciIndex,
        InvalidManifestError,
        "INVALID_MANIFEST",
        /both "manifests" and "config"\/"layers"/,
      ],
      [
        "CVE-2021-41190: manifests and layers, read as a manifest",
        json({ ...ociManifest, manifests: [] }),
        MediaTypes.OciManifest,
        InvalidManifestError,
        "INVALID_MANIFEST",
        /CVE-2021-41190/,
      ],
      [
        "CVE-2021-41190: manifests and config, no Content-Type",
        json({ ...ociIndex, config: ociManifest.config }),
        undefined,
        InvalidManifestError,
        "INVALID_MANIFEST",
        /CVE-2021-41190/,
      ],
      [
        "CVE-2021-41190: mediaType disagrees with Content-Type",
        json(ociIndex),
        MediaTypes.OciManifest,
        InvalidManifestError,
        "INVALID_MANIFEST",
        /disagrees with the Content-Type/,
      ],
      [
        "mediaType OCI, Content-Type Docker",
        json(ociManifest),
        MediaTypes.DockerManifest,
        InvalidManifestError,
        "INVALID_MANIFEST",
        /disagrees/,
      ],
      [
        "Content-Type index but body is a manifest without mediaType",
        json({ schemaVersion: 2, config: ociManifest.config, layers: [] }),
        MediaTypes.OciIndex,
        InvalidManifestError,
        "INVALID_MANIFEST",
        /manifests/,
      ],
      [
        "schema1 signed (fixture)",
        fixture("manifest-schema1-signed.json"),
        undefined,
        Schema1Error,
        "SCHEMA1_UNSUPPORTED",
        /schema 1/,
      ],
      [
        "schema1 by Content-Type",
        fixture("manifest-schema1-signed.json"),
        MediaTypes.DockerSchema1SignedManifest,
        Schema1Error,
        "SCHEMA1_UNSUPPORTED",
        /schema 1/,
      ],
      [
        "schema1 by mediaType",
        json({ schemaVersion: 2, mediaType: MediaTypes.DockerSchema1Manifest }),
        undefined,
        Schema1Error,
        "SCHEMA1_UNSUPPORTED",
        /skopeo copy/,
      ],
      [
        "unknown manifest mediaType",
        json({ schemaVersion: 2, mediaType: "application/vnd.oci.artifact.manifest.v1+json", blobs: [] }),
        undefined,
        UnsupportedMediaTypeError,
        "UNSUPPORTED_MEDIA_TYPE",
        /artifact\.manifest/,
      ],
      [
        "unknown Content-Type",
        json(ociManifest),
        "text/html",
        UnsupportedMediaTypeError,
        "UNSUPPORTED_MEDIA_TYPE",
        /text\/html/,
      ],
      [
        "not JSON",
        Buffer.from("<html>"),
        undefined,
        InvalidManifestError,
        "INVALID_MANIFEST",
        /not valid JSON/,
      ],
      [
        "not UTF-8",
        Buffer.from([0x7b, 0xff, 0x7d]),
        undefined,
        InvalidManifestError,
        "INVALID_MANIFEST",
        /UTF-8/,
      ],
      [
        "a JSON array",
        json([ociManifest]),
        undefined,
        InvalidManifestError,
        "INVALID_MANIFEST",
        /not a JSON object/,
      ],
      [
        "JSON null",
        Buffer.from("null"),
        undefined,
        InvalidManifestError,
        "INVALID_MANIFEST",
        /not a JSON object/,
      ],
      [
        "schemaVersion 3",
        json({ ...ociManifest, schemaVersion: 3 }),
        undefined,
        InvalidManifestError,
        "INVALID_MANIFEST",
        /schemaVersion/,
      ],
      [
        "descriptor with a traversal digest (CVE-2024-3727)",
        json({
          ...ociManifest,
          layers: [{ mediaType: MediaTypes.OciLayerGzip, digest: "sha256:../../x", size: 1 }],
        }),
        undefined,
        InvalidManifestError,
        "INVALID_MANIFEST",
        /layers\.0\.digest/,
      ],
      [
        "descriptor with uppercase hex",
        json({ ...ociIndex, manifests: [{ ...ociIndex.manifests[0], digest: D("A") }] }),
        undefined,
        InvalidManifestError,
        "INVALID_MANIFEST",
        /manifests\.0\.digest/,
      ],
      [
        "negative size",
        json({ ...ociManifest, config: { ...ociManifest.config, size: -1 } }),
        undefined,
        InvalidManifestError,
        "INVALID_MANIFEST",
        /config\.size/,
      ],
      [
        "missing layers",
        json({ schemaVersion: 2, mediaType: MediaTypes.DockerManifest, config: ociManifest.config }),
        undefined,
        InvalidManifestError,
        "INVALID_MANIFEST",
        /layers/,
      ],
      [
        "mediaType not a string",
        json({ ...ociManifest, mediaType: 7 }),
        undefined,
        InvalidManifestError,
        "INVALID_MANIFEST",
        /not a string/,
      ],
      [
        "larger than the manifest size limit",
        Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20),
        undefined,
        InvalidManifestError,
        "INVALID_MANIFEST",
        /limit/,
      ],
    ];
  it.each(cases)("%s", (_t, raw, contentType, cls, code, message) => {
    const err = thrown(() => parseManifestBytes(raw, contentType));
    expect(err).toBeInstanceOf(cls);
    expect((err as Error & { code: string }).code).toBe(code);
    expect(err.name).toBe(cls.name);
    expect(err.message).toMatch(message);
  });
});

describe("parseImageConfigBytes", () => {
  it("parses a Docker config with null fields and keeps unknown ones", () => {
    const raw = fixture("config-docker.json");
    const { value, digest } = parseImageConfigBytes(raw);
    expect(digest).toBe(imageIdOf(raw));
    expect(value.config?.Entrypoint).toBeNull();
    expect(value.config?.Cmd).toEqual(["/bin/bash"]);
    expect(value).toMatchObject({ docker_version: "20.10.23", os: "linux", architecture: "amd64" });
    expect(value.rootfs.diff_ids).toHaveLength(1);
  });

  it("parses an OCI config and computes its chain ID", () => {
    const { value } = parseImageConfigBytes(fixture("config-oci.json"));
    expect(value.config?.ExposedPorts).toEqual({ "8080/tcp": {} });
    expect(chainId(value.rootfs.diff_ids)).toMatch(/^sha256:[a-f0-9]{64}$/);
  });

  const base = { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [D("d")] } };
  it.each([
    ["not JSON", Buffer.from("{"), /not valid JSON/],
    ["no rootfs", json({ architecture: "amd64", os: "linux" }), /rootfs/],
    [
      "bad diff_id",
      json({ ...base, rootfs: { type: "layers", diff_ids: ["sha256:../../x"] } }),
      /diff_ids\.0/,
    ],
    ["rootfs type", json({ ...base, rootfs: { type: "other", diff_ids: [] } }), /rootfs\.type/],
    [
      "more non-empty history entries than layers",
      json({ ...base, history: [{ created_by: "a" }, { created_by: "b" }] }),
      /history lists 2 non-empty layers/,
    ],
  ])("rejects %s with INVALID_CONFIG", (_t, raw, message) => {
    const err = thrown(() => parseImageConfigBytes(raw));
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect((err as InvalidConfigError).code).toBe("INVALID_CONFIG");
    expect(err.message).toMatch(message);
  });

  it("rejects a config whose bytes do not match the manifest's config digest", () => {
    const err = thrown(() => parseImageConfigBytes(fixture("config-oci.json"), { expectedDigest: D("0") }));
    expect(err).toBeInstanceOf(DigestMismatchError);
  });
});

describe("hostile JSON", () => {
  it("a __proto__ key stays data: it neither pollutes prototypes nor changes the parsed value's prototype", () => {
    const raw = Buffer.from(
      `{"schemaVersion":2,"mediaType":"${MediaTypes.OciManifest}","config":{"mediaType":"${MediaTypes.OciConfig}","digest":"${D("c")}","size":1},"layers":[],"__proto__":{"polluted":true}}`,
    );
    const parsed = parseManifestBytes(raw);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(parsed.value)).toBe(Object.prototype);
    expect((parsed.value as Record<string, unknown>).polluted).toBeUndefined();
  });
});
