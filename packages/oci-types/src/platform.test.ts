import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { InvalidPlatformError, NoMatchingPlatformError } from "./errors.js";
import { parseManifestBytes } from "./manifest.js";
import { MediaTypes } from "./media-types.js";
import {
  compatiblePlatforms,
  formatPlatform,
  hostPlatform,
  isAttestationDescriptor,
  normalizePlatform,
  parsePlatform,
  platformMatches,
  selectManifest,
} from "./platform.js";
import type { Descriptor, Platform } from "./schemas.js";

const fixture = (name: string) =>
  readFileSync(new URL(`../../../fixtures/manifests/${name}`, import.meta.url));
function indexFixture(name: string): { manifests: Descriptor[] } {
  const parsed = parseManifestBytes(fixture(name));
  if (parsed.kind !== "index") throw new Error(`${name} is not an index`);
  return parsed.value;
}

describe("normalizePlatform (containerd rules)", () => {
  const cases: Array<[Platform, Platform]> = [
    [
      { os: "linux", architecture: "x86_64" },
      { os: "linux", architecture: "amd64" },
    ],
    [
      { os: "linux", architecture: "x86-64", variant: "v1" },
      { os: "linux", architecture: "amd64" },
    ],
    [
      { os: "linux", architecture: "amd64", variant: "v3" },
      { os: "linux", architecture: "amd64", variant: "v3" },
    ],
    [
      { os: "linux", architecture: "i386", variant: "x" },
      { os: "linux", architecture: "386" },
    ],
    [
      { os: "linux", architecture: "aarch64" },
      { os: "linux", architecture: "arm64" },
    ],
    [
      { os: "linux", architecture: "arm64", variant: "v8" },
      { os: "linux", architecture: "arm64" },
    ],
    [
      { os: "linux", architecture: "arm64", variant: "8" },
      { os: "linux", architecture: "arm64" },
    ],
    [
      { os: "linux", architecture: "arm64", variant: "v8.0" },
      { os: "linux", architecture: "arm64" },
    ],
    [
      { os: "linux", architecture: "arm64", variant: "v8.2" },
      { os: "linux", architecture: "arm64", variant: "v8.2" },
    ],
    [
      { os: "linux", architecture: "arm64", variant: "9" },
      { os: "linux", architecture: "arm64", variant: "v9" },
    ],
    [
      { os: "linux", architecture: "arm64", variant: "v9.0" },
      { os: "linux", architecture: "arm64", variant: "v9" },
    ],
    [
      { os: "linux", architecture: "armhf" },
      { os: "linux", architecture: "arm", variant: "v7" },
    ],
    [
      { os: "linux", architecture: "armel" },
      { os: "linux", architecture: "arm", variant: "v6" },
    ],
    [
      { os: "linux", architecture: "arm" },
      { os: "linux", architecture: "arm", variant: "v7" },
    ],
    [
      { os: "linux", architecture: "arm", variant: "7" },
      { os: "linux", architecture: "arm", variant: "v7" },
    ],
    [
      { os: "linux", architecture: "arm", variant: "6" },
      { os: "linux", architecture: "arm", variant: "v6" },
    ],
    [
      { os: "Linux", architecture: "AMD64" },
      { os: "linux", architecture: "amd64" },
    ],
    [
      { os: "macos", architecture: "arm64" },
      { os: "darwin", architecture: "arm64" },
    ],
    [
      { os: "linux", architecture: "ppc64le" },
      { os: "linux", architecture: "ppc64le" },
    ],
    [
      {
        os: "windows",
        architecture: "amd64",
        "os.version": "10.0.17763",
        "os.features": ["win32k", "a", "win32k"],
      },
      { os: "windows", architecture: "amd64", "os.version": "10.0.17763", "os.features": ["a", "win32k"] },
    ],
  ];
  it.each(cases)("%j → %j", (input, expected) => {
    expect(normalizePlatform(input)).toEqual(expected);
    expect(normalizePlatform(normalizePlatform(input))).toEqual(expected);
  });
});

describe("parsePlatform / formatPlatform", () => {
  it.each([
    ["linux/amd64", { os: "linux", architecture: "amd64" }, "linux/amd64"],
    ["linux/arm64/v8", { os: "linux", architecture: "arm64" }, "linux/arm64"],
    ["linux/arm64", { os: "linux", architecture: "arm64" }, "linux/arm64"],
    ["linux/aarch64", { os: "linux", architecture: "arm64" }, "linux/arm64"],
    ["linux/arm/v7", { os: "linux", architecture: "arm", variant: "v7" }, "linux/arm/v7"],
    ["linux/arm", { os: "linux", architecture: "arm", variant: "v7" }, "linux/arm/v7"],
    ["linux/armhf", { os: "linux", architecture: "arm", variant: "v7" }, "linux/arm/v7"],
    ["linux/arm/6", { os: "linux", architecture: "arm", variant: "v6" }, "linux/arm/v6"],
    ["linux/x86_64", { os: "linux", architecture: "amd64" }, "linux/amd64"],
    ["linux/amd64/v3", { os: "linux", architecture: "amd64", variant: "v3" }, "linux/amd64/v3"],
    ["Linux/AMD64", { os: "linux", architecture: "amd64" }, "linux/amd64"],
    ["linux/riscv64", { os: "linux", architecture: "riscv64" }, "linux/riscv64"],
  ])("%s", (spec, platform, formatted) => {
    expect(parsePlatform(spec)).toEqual(platform);
    expect(formatPlatform(parsePlatform(spec))).toBe(formatted);
  });

  it("fills the missing half from the host for a lone OS or architecture", () => {
    const host = hostPlatform();
    expect(parsePlatform("linux")).toEqual({ ...host, os: "linux" });
    expect(parsePlatform("arm64")).toEqual({ os: host.os, architecture: "arm64" });
    expect(parsePlatform("x86_64")).toEqual({ os: host.os, architecture: "amd64" });
  });

  it.each([
    ["", /empty/],
    ["linux/", /component is empty/],
    ["/amd64", /component is empty/],
    ["linux/amd64/v8/extra", /more than three/],
    ["linux/amd 64", /characters other than/],
    ["linux/*", /characters other than/],
    ["notanos", /neither a known operating system/],
  ])("rejects %j with INVALID_PLATFORM", (spec, message) => {
    let caught: unknown;
    try {
      parsePlatform(spec);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(InvalidPlatformError);
    expect((caught as InvalidPlatformError).code).toBe("INVALID_PLATFORM");
    expect((caught as Error).message).toMatch(message);
    expect((caught as Error).message).toMatch(/os\/arch\[\/variant\]/);
  });
});

describe("hostPlatform", () => {
  it.each([
    [{ platform: "linux", arch: "x64" } as const, { os: "linux", architecture: "amd64" }],
    [{ platform: "linux", arch: "arm64" } as const, { os: "linux", architecture: "arm64" }],
    [
      { platform: "linux", arch: "arm", armVersion: "7" } as const,
      { os: "linux", architecture: "arm", variant: "v7" },
    ],
    [
      { platform: "linux", arch: "arm", armVersion: 6 } as const,
      { os: "linux", architecture: "arm", variant: "v6" },
    ],
    [{ platform: "linux", arch: "ia32" } as const, { os: "linux", architecture: "386" }],
    [
      { platform: "linux", arch: "ppc64", endianness: "LE" } as const,
      { os: "linux", architecture: "ppc64le" },
    ],
    [{ platform: "linux", arch: "ppc64", endianness: "BE" } as const, { os: "linux", architecture: "ppc64" }],
    [{ platform: "linux", arch: "s390x" } as const, { os: "linux", architecture: "s390x" }],
    [{ platform: "linux", arch: "riscv64" } as const, { os: "linux", architecture: "riscv64" }],
    [{ platform: "win32", arch: "x64" } as const, { os: "windows", architecture: "amd64" }],
    [{ platform: "darwin", arch: "arm64" } as const, { os: "darwin", architecture: "arm64" }],
  ])("%j → %j", (info, expected) => {
    expect(hostPlatform(info)).toEqual(expected);
  });

  it("detects this machine in Go's vocabulary", () => {
    const host = hostPlatform();
    expect(host.os).toBe(process.platform === "win32" ? "windows" : process.platform);
    expect(host.architecture).not.toMatch(/^(x64|ia32)$/);
  });
});

describe("compatiblePlatforms (containerd platformVector order)", () => {
  const f = (spec: string) => compatiblePlatforms(parsePlatform(spec)).map(formatPlatform);
  it.each([
    ["linux/amd64", ["linux/amd64", "linux/386"]],
    ["linux/amd64/v3", ["linux/amd64/v3", "linux/amd64/v2", "linux/amd64", "linux/386"]],
    ["linux/386", ["linux/386"]],
    ["linux/arm/v7", ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]],
    ["linux/arm/v5", ["linux/arm/v5"]],
    ["linux/arm64", ["linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]],
    [
      "linux/arm64/v8.2",
      [
        "linux/arm64/v8.2",
        "linux/arm64/v8.1",
        "linux/arm64",
        "linux/arm/v8",
        "linux/arm/v7",
        "linux/arm/v6",
        "linux/arm/v5",
      ],
    ],
    [
      "linux/arm64/v9.1",
      [
        "linux/arm64/v9.1",
        "linux/arm64/v9",
        "linux/arm64/v8.6",
        "linux/arm64/v8.5",
        "linux/arm64/v8.4",
        "linux/arm64/v8.3",
        "linux/arm64/v8.2",
        "linux/arm64/v8.1",
        "linux/arm64",
        "linux/arm/v8",
        "linux/arm/v7",
        "linux/arm/v6",
        "linux/arm/v5",
      ],
    ],
    ["linux/s390x", ["linux/s390x"]],
  ])("%s", (spec, order) => {
    expect(f(spec)).toEqual(order);
  });
});

describe("platformMatches", () => {
  it.each([
    [{ os: "linux", architecture: "arm64" }, { os: "linux", architecture: "aarch64", variant: "v8" }, true],
    [{ os: "linux", architecture: "arm", variant: "v7" }, { os: "linux", architecture: "arm" }, true],
    [
      { os: "linux", architecture: "arm", variant: "v7" },
      { os: "linux", architecture: "arm", variant: "v6" },
      false,
    ],
    [{ os: "linux", architecture: "amd64" }, { os: "windows", architecture: "amd64" }, false],
    [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "amd64", "os.version": "5.10" },
      true,
    ],
    [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "amd64", "os.features": ["x"] },
      false,
    ],
    [
      { os: "linux", architecture: "amd64", "os.features": ["x", "y"] },
      { os: "linux", architecture: "amd64", "os.features": ["y"] },
      true,
    ],
  ])("want %j, candidate %j → %s", (want, candidate, ok) => {
    expect(platformMatches(want, candidate)).toBe(ok);
  });
});

describe("selectManifest", () => {
  const oci = indexFixture("index-oci-attestations.json");
  const docker = indexFixture("manifest-list-docker.json");
  const digestFor = (index: { manifests: Descriptor[] }, spec: string) =>
    index.manifests.find((d) => d.platform && formatPlatform(d.platform) === spec)?.digest;

  it.each([
    ["oci", "linux/amd64", "linux/amd64"],
    ["oci", "linux/arm64", "linux/arm64"],
    ["oci", "linux/arm64/v8", "linux/arm64"],
    ["oci", "linux/aarch64", "linux/arm64"],
    ["oci", "linux/arm/v7", "linux/arm/v7"],
    ["oci", "linux/arm64/v9", "linux/arm64"],
    ["oci", "linux/amd64/v2", "linux/amd64"],
    ["docker", "linux/amd64", "linux/amd64"],
    ["docker", "linux/arm64", "linux/arm64"],
    ["docker", "linux/arm/v8", "linux/arm/v7"],
    ["docker", "linux/ppc64le", "linux/ppc64le"],
    ["docker", "linux/riscv64", "linux/riscv64"],
    ["docker", "linux/s390x", "linux/s390x"],
  ] as const)("%s index, want %s → %s", (which, want, picked) => {
    const index = which === "oci" ? oci : docker;
    const d = selectManifest(index, want);
    expect(d.digest).toBe(digestFor(index, picked));
    expect(selectManifest(index, parsePlatform(want)).digest).toBe(d.digest);
  });

  it("never picks an attestation entry and lists available platforms without them", () => {
    let caught: unknown;
    try {
      selectManifest(oci, "linux/s390x");
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(NoMatchingPlatformError);
    const err = caught as NoMatchingPlatformError;
    expect(err.code).toBe("NO_MATCHING_PLATFORM");
    expect(err.name).toBe("NoMatchingPlatformError");
    expect(err.wanted).toBe("linux/s390x");
    expect(err.available).toEqual(["linux/amd64", "linux/arm64", "linux/arm/v7"]);
    expect(err.message).toContain("linux/amd64, linux/arm64, linux/arm/v7");
    expect(err.message).not.toContain("unknown");
    expect(oci.manifests.filter(isAttestationDescriptor)).toHaveLength(3);
  });

  const D = (c: string) => `sha256:${c.repeat(64)}`;
  const m = (c: string, platform?: Platform, extra: Partial<Descriptor> = {}): Descriptor => ({
    mediaType: MediaTypes.OciManifest,
    digest: D(c),
    size: 1,
    ...(platform ? { platform } : {}),
    ...extra,
  });

  it.each([
    [
      "prefers the exact variant over a compatible lower one, whatever the order",
      [
        m("1", { os: "linux", architecture: "arm", variant: "v6" }),
        m("2", { os: "linux", architecture: "arm", variant: "v7" }),
      ],
      "linux/arm/v7",
      D("2"),
    ],
    [
      "falls back to a lower arm variant",
      [
        m("1", { os: "linux", architecture: "arm", variant: "v5" }),
        m("2", { os: "linux", architecture: "arm", variant: "v6" }),
      ],
      "linux/arm/v7",
      D("2"),
    ],
    [
      "arm64 runs arm/v7 when there is no arm64 entry",
      [
        m("1", { os: "linux", architecture: "amd64" }),
        m("2", { os: "linux", architecture: "arm", variant: "v7" }),
      ],
      "linux/arm64",
      D("2"),
    ],
    [
      "amd64 falls back to 386",
      [m("1", { os: "linux", architecture: "386" }), m("2", { os: "linux", architecture: "arm64" })],
      "linux/amd64",
      D("1"),
    ],
    [
      "first listed wins among equal matches",
      [m("1", { os: "linux", architecture: "amd64" }), m("2", { os: "linux", architecture: "amd64" })],
      "linux/amd64",
      D("1"),
    ],
    [
      "an arm64 entry without a variant matches arm64/v8 (containers/image#898)",
      [m("1", { os: "linux", architecture: "arm64" })],
      "linux/arm64/v8",
      D("1"),
    ],
    [
      "skips unknown media types even with a matching platform",
      [
        m("1", { os: "linux", architecture: "amd64" }, { mediaType: "application/vnd.example.thing" }),
        m("2", { os: "linux", architecture: "amd64" }),
      ],
      "linux/amd64",
      D("2"),
    ],
    [
      "skips attestation entries found by annotation only",
      [
        m(
          "1",
          { os: "linux", architecture: "amd64" },
          { annotations: { "vnd.docker.reference.type": "attestation-manifest" } },
        ),
        m("2", { os: "linux", architecture: "amd64" }),
      ],
      "linux/amd64",
      D("2"),
    ],
    [
      "uses an entry without a platform only as a last resort",
      [m("1"), m("2", { os: "linux", architecture: "amd64" })],
      "linux/amd64",
      D("2"),
    ],
    [
      "uses an entry without a platform when nothing else matches",
      [m("1"), m("2", { os: "linux", architecture: "s390x" })],
      "linux/amd64",
      D("1"),
    ],
    [
      "accepts nested indexes as candidates",
      [m("1", { os: "linux", architecture: "amd64" }, { mediaType: MediaTypes.OciIndex })],
      "linux/amd64",
      D("1"),
    ],
  ])("%s", (_t, manifests, want, digest) => {
    expect(selectManifest({ manifests }, want).digest).toBe(digest);
  });

  it("says so when the index has no runnable entries", () => {
    const unknownOnly = [m("1", { os: "unknown", architecture: "unknown" })];
    expect(() => selectManifest({ manifests: unknownOnly }, "linux/amd64")).toThrow(
      /lists no runnable image manifests/,
    );
  });

  it("defaults to the host platform", () => {
    const host = hostPlatform();
    const index = { manifests: [m("1", { os: "plan9", architecture: "mips" }), m("2", host)] };
    expect(selectManifest(index).digest).toBe(D("2"));
  });
});
