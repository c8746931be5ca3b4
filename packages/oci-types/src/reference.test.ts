import { describe, expect, it } from "vitest";
import { InvalidReferenceError, type ReferencePart } from "./errors.js";
import {
  familiarName,
  familiarString,
  formatReference,
  isValidRepository,
  isValidTag,
  parseReference,
  type Reference,
  registryApiHost,
} from "./reference.js";

const D256 = `sha256:${"a".repeat(64)}`;
const D512 = `sha512:${"b".repeat(128)}`;

describe("parseReference normalises like Docker", () => {
  const cases: Array<[string, Omit<Reference, "name">, string, string]> = [
    // input, parsed (name is derived), formatReference, familiarString
    [
      "ubuntu",
      { registry: "docker.io", repository: "library/ubuntu", tag: "latest" },
      "docker.io/library/ubuntu:latest",
      "ubuntu:latest",
    ],
    [
      "ubuntu:20.04",
      { registry: "docker.io", repository: "library/ubuntu", tag: "20.04" },
      "docker.io/library/ubuntu:20.04",
      "ubuntu:20.04",
    ],
    [
      "library/ubuntu",
      { registry: "docker.io", repository: "library/ubuntu", tag: "latest" },
      "docker.io/library/ubuntu:latest",
      "ubuntu:latest",
    ],
    [
      "docker.io/ubuntu",
      { registry: "docker.io", repository: "library/ubuntu", tag: "latest" },
      "docker.io/library/ubuntu:latest",
      "ubuntu:latest",
    ],
    [
      "index.docker.io/ubuntu",
      { registry: "docker.io", repository: "library/ubuntu", tag: "latest" },
      "docker.io/library/ubuntu:latest",
      "ubuntu:latest",
    ],
    [
      "index.docker.io/foo/bar:1",
      { registry: "docker.io", repository: "foo/bar", tag: "1" },
      "docker.io/foo/bar:1",
      "foo/bar:1",
    ],
    [
      "foo/bar",
      { registry: "docker.io", repository: "foo/bar", tag: "latest" },
      "docker.io/foo/bar:latest",
      "foo/bar:latest",
    ],
    [
      "docker.io/library/a/b",
      { registry: "docker.io", repository: "library/a/b", tag: "latest" },
      "docker.io/library/a/b:latest",
      "library/a/b:latest",
    ],
    [
      "localhost/x",
      { registry: "localhost", repository: "x", tag: "latest" },
      "localhost/x:latest",
      "localhost/x:latest",
    ],
    [
      "localhost:5000/x",
      { registry: "localhost:5000", repository: "x", tag: "latest" },
      "localhost:5000/x:latest",
      "localhost:5000/x:latest",
    ],
    [
      "localhost:5000/x/y:v1.2_3-rc",
      { registry: "localhost:5000", repository: "x/y", tag: "v1.2_3-rc" },
      "localhost:5000/x/y:v1.2_3-rc",
      "localhost:5000/x/y:v1.2_3-rc",
    ],
    [
      "127.0.0.1:5000/a__b/c-d.e",
      { registry: "127.0.0.1:5000", repository: "a__b/c-d.e", tag: "latest" },
      "127.0.0.1:5000/a__b/c-d.e:latest",
      "127.0.0.1:5000/a__b/c-d.e:latest",
    ],
    [
      "[::1]:5000/x",
      { registry: "[::1]:5000", repository: "x", tag: "latest" },
      "[::1]:5000/x:latest",
      "[::1]:5000/x:latest",
    ],
    [
      "ghcr.io/org/app:TAG_Upper",
      { registry: "ghcr.io", repository: "org/app", tag: "TAG_Upper" },
      "ghcr.io/org/app:TAG_Upper",
      "ghcr.io/org/app:TAG_Upper",
    ],
    [
      "Registry/app",
      { registry: "Registry", repository: "app", tag: "latest" },
      "Registry/app:latest",
      "Registry/app:latest",
    ],
    // `host:port` alone is a Hub name with a tag, as in Docker.
    [
      "localhost:5000",
      { registry: "docker.io", repository: "library/localhost", tag: "5000" },
      "docker.io/library/localhost:5000",
      "localhost:5000",
    ],
    // Cases from distribution/reference's reference_test.go.
    [
      "test_com",
      { registry: "docker.io", repository: "library/test_com", tag: "latest" },
      "docker.io/library/test_com:latest",
      "test_com:latest",
    ],
    [
      "foo_bar.com:8080",
      { registry: "docker.io", repository: "library/foo_bar.com", tag: "8080" },
      "docker.io/library/foo_bar.com:8080",
      "foo_bar.com:8080",
    ],
    [
      "192.168.1.1:5000/repo:5050",
      { registry: "192.168.1.1:5000", repository: "repo", tag: "5050" },
      "192.168.1.1:5000/repo:5050",
      "192.168.1.1:5000/repo:5050",
    ],
    [
      "xn--n3h.com/myimage:xn--n3h.com",
      { registry: "xn--n3h.com", repository: "myimage", tag: "xn--n3h.com" },
      "xn--n3h.com/myimage:xn--n3h.com",
      "xn--n3h.com/myimage:xn--n3h.com",
    ],
    [
      "b.gcr.io/test.example.com/my-app:test.example.com",
      { registry: "b.gcr.io", repository: "test.example.com/my-app", tag: "test.example.com" },
      "b.gcr.io/test.example.com/my-app:test.example.com",
      "b.gcr.io/test.example.com/my-app:test.example.com",
    ],
    [
      `[2001:db8::1]:5000/repo:tag@${D256}`,
      { registry: "[2001:db8::1]:5000", repository: "repo", tag: "tag", digest: D256 },
      `[2001:db8::1]:5000/repo:tag@${D256}`,
      `[2001:db8::1]:5000/repo:tag@${D256}`,
    ],
    [
      `ubuntu@${D256}`,
      { registry: "docker.io", repository: "library/ubuntu", digest: D256 },
      `docker.io/library/ubuntu@${D256}`,
      `ubuntu@${D256}`,
    ],
    [
      `ubuntu:20.04@${D256}`,
      { registry: "docker.io", repository: "library/ubuntu", tag: "20.04", digest: D256 },
      `docker.io/library/ubuntu:20.04@${D256}`,
      `ubuntu:20.04@${D256}`,
    ],
    [
      `localhost:5000/x@${D512}`,
      { registry: "localhost:5000", repository: "x", digest: D512 },
      `localhost:5000/x@${D512}`,
      `localhost:5000/x@${D512}`,
    ],
  ];
  it.each(cases)("%s", (input, expected, formatted, familiar) => {
    const ref = parseReference(input);
    expect(ref).toEqual({ ...expected, name: `${expected.registry}/${expected.repository}` });
    expect(formatReference(ref)).toBe(formatted);
    expect(familiarString(ref)).toBe(familiar);
    // Formatting is a fixed point: parsing the canonical form gives the same reference.
    expect(parseReference(formatted)).toEqual(ref);
  });

  it("allows a 255-character name including the registry, and a 128-character tag", () => {
    const repo = "a".repeat(255 - "docker.io/library/".length);
    expect(parseReference(repo).name).toHaveLength(255);
    expect(parseReference(`x:${"t".repeat(128)}`).tag).toHaveLength(128);
  });
});

describe("parseReference rejects invalid input with the part that is wrong", () => {
  const cases: Array<[string, string, ReferencePart, RegExp]> = [
    ["empty", "", "name", /is empty/],
    ["uppercase repository", "Ubuntu:20.04", "name", /"Ubuntu" must be lowercase/],
    ["uppercase path after a domain", "localhost:5000/Foo", "name", /must be lowercase/],
    ["uppercase hub path", "foo/Bar", "name", /must be lowercase/],
    ["name over 255 chars", "a".repeat(256 - "docker.io/library/".length + 1), "name", /limit is 255/],
    ["tag over 128 chars", `x:${"t".repeat(129)}`, "tag", /limit is 128/],
    ["tag starting with a dot", "x:.bad", "tag", /invalid/],
    ["tag starting with a dash", "x:-bad", "tag", /invalid/],
    ["empty tag", "x:", "tag", /invalid/],
    ["tag with a slash-free bad char", "x:a+b", "tag", /invalid/],
    ["digest without algorithm", "x@abc", "digest", /algorithm:hex/],
    ["digest with short hex", "x@sha256:abcd", "digest", /algorithm:hex/],
    ["digest with uppercase hex", `x@sha256:${"A".repeat(64)}`, "digest", /lowercase/],
    ["digest with unsupported algorithm", `x@md5:${"a".repeat(32)}`, "digest", /unsupported algorithm/],
    ["digest with wrong length", `x@sha256:${"a".repeat(63)}`, "digest", /needs 64/],
    ["path traversal digest (CVE-2024-3727)", "x@sha256:../../x", "digest", /algorithm:hex/],
    ["two @", `x@${D256}@${D256}`, "digest", /algorithm:hex/],
    ["empty name before tag", ":tag", "name", /is empty/],
    ["empty name before digest", `@${D256}`, "name", /is empty/],
    ["image ID as name", "a".repeat(64), "name", /image ID/],
    ["double slash", "foo//bar", "name", /empty path component/],
    ["trailing slash", "foo/", "name", /empty path component/],
    ["leading separator", "localhost/-x", "name", /component "-x"/],
    ["trailing separator", "localhost/x_", "name", /component "x_"/],
    ["triple underscore", "localhost/a___b", "name", /component "a___b"/],
    ["domain with underscore", "my_host.io/x", "domain", /not a valid host/],
    ["domain with a bad port", "host.io:port/x", "domain", /not a valid host/],
    ["domain starting with dash", "-host.io/x", "domain", /not a valid host/],
    ["whitespace", " ubuntu", "name", /whitespace/],
    ["bad characters in a path", "aa/asdf$$^/aa", "name", /component "asdf\$\$\^"/],
    ["IPv6 zone in the domain", "[fe80::1%eth0]:5000/repo", "domain", /not a valid host/],
    ["bare IPv6 host:port", "[2001:db8::1]:5000", "name", /invalid/],
    ["256 chars of a/ path", `${"a/".repeat(128)}a:tag`, "name", /limit is 255/],
  ];
  it.each(cases)("%s", (_title, input, part, message) => {
    let caught: unknown;
    try {
      parseReference(input);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(InvalidReferenceError);
    const err = caught as InvalidReferenceError;
    expect(err.code).toBe("INVALID_REFERENCE");
    expect(err.name).toBe("InvalidReferenceError");
    expect(err.part).toBe(part);
    expect(err.input).toBe(input);
    expect(err.message).toMatch(message);
  });
});

describe("familiarName", () => {
  it.each([
    ["docker.io/library/ubuntu:20.04", "ubuntu"],
    ["docker.io/foo/bar", "foo/bar"],
    ["docker.io/library/a/b", "library/a/b"],
    ["localhost:5000/library/ubuntu", "localhost:5000/library/ubuntu"],
    ["quay.io/x/y", "quay.io/x/y"],
  ])("%s → %s", (input, name) => {
    expect(familiarName(parseReference(input))).toBe(name);
  });
});

describe("registryApiHost", () => {
  it.each([
    ["docker.io", "registry-1.docker.io"],
    ["index.docker.io", "registry-1.docker.io"],
    ["localhost:5000", "localhost:5000"],
    ["ghcr.io", "ghcr.io"],
  ])("%s → %s", (registry, host) => {
    expect(registryApiHost(registry)).toBe(host);
  });
  it("is the host for a parsed Hub reference", () => {
    expect(registryApiHost(parseReference("ubuntu").registry)).toBe("registry-1.docker.io");
  });
});

describe("isValidTag / isValidRepository", () => {
  it.each([
    ["latest", true],
    ["_x", true],
    ["1.0-rc.1", true],
    [".x", false],
    ["a/b", false],
    ["t".repeat(128), true],
    ["t".repeat(129), false],
  ])("tag %s → %s", (tag, ok) => {
    expect(isValidTag(tag)).toBe(ok);
  });
  it.each([
    ["library/ubuntu", true],
    ["a.b/c__d/e-f", true],
    ["", false],
    ["Upper", false],
    ["a//b", false],
  ])("repository %s → %s", (repo, ok) => {
    expect(isValidRepository(repo)).toBe(ok);
  });
});
