import { isDigest, parseDigest } from "./digest.js";
import { InvalidDigestError, InvalidReferenceError } from "./errors.js";

/**
 * A normalised image reference, e.g. `ubuntu` →
 * `{ registry: "docker.io", repository: "library/ubuntu", tag: "latest", name: "docker.io/library/ubuntu" }`.
 */
export interface Reference {
  /** Registry domain, with port if any: `docker.io`, `localhost:5000`, `[::1]:5000`. */
  registry: string;
  /** Repository path inside the registry: `library/ubuntu`. */
  repository: string;
  /** Tag; `latest` when the input had neither a tag nor a digest. */
  tag?: string;
  /** Digest pinned with `@`, validated. */
  digest?: string;
  /** `registry/repository`. */
  name: string;
}

/** Docker Hub's canonical domain. */
export const DOCKER_HUB_DOMAIN = "docker.io";
/** Legacy Docker Hub domain, normalised to `docker.io`. */
export const LEGACY_DOCKER_HUB_DOMAIN = "index.docker.io";
/** Docker Hub's registry API host (containerd `resolver.go`). */
export const DOCKER_HUB_API_HOST = "registry-1.docker.io";
/** Tag added when a reference has neither a tag nor a digest. */
export const DEFAULT_TAG = "latest";
/** distribution/reference `RepositoryNameTotalLengthMax`: the whole name, domain included. */
export const MAX_NAME_LENGTH = 255;
/** Longest tag (distribution-spec). */
export const MAX_TAG_LENGTH = 128;

// distribution/reference regexp.go, spelled out.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const TAG = /^[\w][\w.-]*$/;
/** Any well-formed digest per the reference grammar (then checked strictly by parseDigest). */
const DIGEST_SHAPE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
/** A bare 64-hex string is an image ID, not a name (distribution/reference `anchoredIdentifierRegexp`). */
const IMAGE_ID = /^[a-f0-9]{64}$/;

/** True when `tag` is a valid tag (`[\w][\w.-]{0,127}`). */
export function isValidTag(tag: string): boolean {
  return tag.length <= MAX_TAG_LENGTH && TAG.test(tag);
}

/** True when `repository` is a valid repository path (lowercase components joined by `/`). */
export function isValidRepository(repository: string): boolean {
  return repository.length > 0 && repository.split("/").every((c) => PATH_COMPONENT.test(c));
}

/**
 * Split `name` into domain and remainder the way Docker does (`normalize.go` `splitDockerDomain`):
 * the first component is a domain only if it is `localhost`, contains `.` or `:`, or has uppercase.
 */
function splitDomain(name: string): { domain: string; remainder: string; written: string } {
  const i = name.indexOf("/");
  let domain: string;
  let remainder: string;
  if (i === -1) {
    domain = DOCKER_HUB_DOMAIN;
    remainder = name;
  } else {
    const first = name.slice(0, i);
    if (first !== "localhost" && !/[.:]/.test(first) && first.toLowerCase() === first) {
      domain = DOCKER_HUB_DOMAIN;
      remainder = name;
    } else {
      domain = first;
      remainder = name.slice(i + 1);
    }
  }
  const written = remainder;
  if (domain === LEGACY_DOCKER_HUB_DOMAIN) domain = DOCKER_HUB_DOMAIN;
  if (domain === DOCKER_HUB_DOMAIN && !remainder.includes("/")) remainder = `library/${remainder}`;
  return { domain, remainder, written };
}

/**
 * Parse and normalise an image reference (`name[:tag][@digest]`) like `docker pull` does.
 * Throws {@link InvalidReferenceError} whose `part` says which part is wrong.
 */
export function parseReference(input: string): Reference {
  if (typeof input !== "string" || input.length === 0) {
    throw new InvalidReferenceError(String(input ?? ""), "name", "is empty");
  }
  if (input.trim() !== input) throw new InvalidReferenceError(input, "name", "has surrounding whitespace");

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    const d = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_SHAPE.test(d)) {
      throw new InvalidReferenceError(
        input,
        "digest",
        `${JSON.stringify(d)} is not of the form algorithm:hex`,
      );
    }
    if (!isDigest(d)) {
      try {
        parseDigest(d);
      } catch (e) {
        const reason =
          e instanceof InvalidDigestError ? e.message.replace(/^invalid digest /, "") : String(e);
        throw new InvalidReferenceError(input, "digest", `is invalid: ${reason}`);
      }
    }
    digest = d;
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (tag.length > MAX_TAG_LENGTH) {
      throw new InvalidReferenceError(
        input,
        "tag",
        `is ${tag.length} characters long; the limit is ${MAX_TAG_LENGTH}`,
      );
    }
    if (!TAG.test(tag)) {
      throw new InvalidReferenceError(
        input,
        "tag",
        `${JSON.stringify(tag)} is invalid: use letters, digits, "_", "." and "-", not starting with "." or "-"`,
      );
    }
  }

  if (rest.length === 0) throw new InvalidReferenceError(input, "name", "is empty");
  if (IMAGE_ID.test(rest)) {
    throw new InvalidReferenceError(
      input,
      "name",
      "is a 64-character hex string, which is an image ID, not a repository name",
    );
  }

  const { domain, remainder, written } = splitDomain(rest);
  if (!DOMAIN.test(domain)) {
    throw new InvalidReferenceError(input, "domain", `${JSON.stringify(domain)} is not a valid host[:port]`);
  }
  if (remainder.toLowerCase() !== remainder) {
    throw new InvalidReferenceError(input, "name", `${JSON.stringify(written)} must be lowercase`);
  }
  for (const component of remainder.split("/")) {
    if (!PATH_COMPONENT.test(component)) {
      throw new InvalidReferenceError(
        input,
        "name",
        component.length === 0
          ? "has an empty path component"
          : `component ${JSON.stringify(component)} is invalid: use lowercase letters and digits separated by ".", "_", "__" or "-"`,
      );
    }
  }
  const name = `${domain}/${remainder}`;
  if (name.length > MAX_NAME_LENGTH) {
    throw new InvalidReferenceError(
      input,
      "name",
      `is ${name.length} characters long including the registry; the limit is ${MAX_NAME_LENGTH}`,
    );
  }

  const ref: Reference = { registry: domain, repository: remainder, name };
  if (tag !== undefined) ref.tag = tag;
  else if (digest === undefined) ref.tag = DEFAULT_TAG;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** The fully qualified form: `docker.io/library/ubuntu:latest`, `localhost:5000/x@sha256:…`. */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ""}${ref.digest !== undefined ? `@${ref.digest}` : ""}`;
}

/**
 * The short name Docker shows and stores in repositories.json (`reference.FamiliarName`):
 * `docker.io/library/ubuntu` → `ubuntu`, `docker.io/foo/bar` → `foo/bar`, others unchanged.
 */
export function familiarName(ref: Pick<Reference, "registry" | "repository">): string {
  if (ref.registry !== DOCKER_HUB_DOMAIN) return `${ref.registry}/${ref.repository}`;
  const rest = ref.repository.slice("library/".length);
  if (ref.repository.startsWith("library/") && !rest.includes("/")) return rest;
  return ref.repository;
}

/** The familiar name plus `:tag` and/or `@digest` (`reference.FamiliarString`), e.g. `ubuntu:20.04`. */
export function familiarString(ref: Reference): string {
  return `${familiarName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ""}${ref.digest !== undefined ? `@${ref.digest}` : ""}`;
}

/** The host that serves the registry API for `registry`: `docker.io` → `registry-1.docker.io`. */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB_DOMAIN || registry === LEGACY_DOCKER_HUB_DOMAIN
    ? DOCKER_HUB_API_HOST
    : registry;
}
