/**
 * Typed errors of @strata/oci-types. Every class has a stable `code` (match on it, not on the
 * message) and a `name` equal to the class name. Messages say what was wrong, in which input,
 * and what to do about it.
 */

/** Which part of an image reference is wrong. */
export type ReferencePart = "name" | "tag" | "digest" | "domain";

export class InvalidReferenceError extends Error {
  override readonly name = "InvalidReferenceError";
  readonly code = "INVALID_REFERENCE" as const;
  constructor(
    /** The reference as the user gave it. */
    readonly input: string,
    /** The part that is wrong. */
    readonly part: ReferencePart,
    reason: string,
  ) {
    super(`invalid image reference ${JSON.stringify(input)}: ${part} ${reason}`);
  }
}

export class InvalidDigestError extends Error {
  override readonly name = "InvalidDigestError";
  readonly code = "INVALID_DIGEST" as const;
  constructor(
    readonly input: string,
    reason: string,
  ) {
    super(
      `invalid digest ${JSON.stringify(input.length > 200 ? `${input.slice(0, 200)}…` : input)}: ${reason}` +
        ` (expected "sha256:" + 64 or "sha512:" + 128 lowercase hex characters)`,
    );
  }
}

/**
 * Content did not hash to what was expected (`DIGEST_MISMATCH`), or had another length
 * (`SIZE_MISMATCH`, thrown as the subclass {@link SizeMismatchError}).
 */
export class DigestMismatchError extends Error {
  override readonly name: string = "DigestMismatchError";
  readonly code: "DIGEST_MISMATCH" | "SIZE_MISMATCH" = "DIGEST_MISMATCH";
  constructor(
    readonly expected: string,
    readonly actual: string,
    message?: string,
  ) {
    super(
      message ??
        `digest mismatch: expected ${expected} but the content hashes to ${actual}; the content is corrupt or was tampered with, fetch it again`,
    );
  }
}

/** The content length differs from the size its descriptor announced. */
export class SizeMismatchError extends DigestMismatchError {
  override readonly name = "SizeMismatchError";
  override readonly code = "SIZE_MISMATCH" as const;
  constructor(
    readonly expectedSize: number,
    readonly actualSize: number,
    /** The digest the content was expected to have. */
    expectedDigest: string,
    /** True when the stream was stopped early because it already exceeded the expected size. */
    readonly exceeded = false,
  ) {
    super(
      expectedDigest,
      "",
      exceeded
        ? `size mismatch for ${expectedDigest}: expected ${expectedSize} bytes but received more (stopped at ${actualSize}); the source sends more than its descriptor announced`
        : `size mismatch for ${expectedDigest}: expected ${expectedSize} bytes but received ${actualSize}; the transfer was truncated or the descriptor is wrong, fetch it again`,
    );
  }
}

export class UnsupportedMediaTypeError extends Error {
  override readonly name = "UnsupportedMediaTypeError";
  readonly code = "UNSUPPORTED_MEDIA_TYPE" as const;
  constructor(
    readonly mediaType: string,
    reason = "strata reads OCI and Docker schema2 image manifests and indexes only",
  ) {
    super(`unsupported media type ${JSON.stringify(mediaType)}: ${reason}`);
  }
}

export class Schema1Error extends Error {
  override readonly name = "Schema1Error";
  readonly code = "SCHEMA1_UNSUPPORTED" as const;
  constructor() {
    super(
      "this is a Docker image manifest schema 1, which is deprecated and not supported; " +
        "ask the publisher to push the image again with a current Docker or buildkit (schema 2 / OCI), " +
        "or convert it (e.g. `skopeo copy --format v2s2`)",
    );
  }
}

export class InvalidManifestError extends Error {
  override readonly name = "InvalidManifestError";
  readonly code = "INVALID_MANIFEST" as const;
  constructor(
    reason: string,
    /** Schema problems as `path: message`, when the document did not match its schema. */
    readonly issues: string[] = [],
  ) {
    super(`invalid image manifest: ${reason}${issues.length ? ` (${issues.join("; ")})` : ""}`);
  }
}

export class InvalidConfigError extends Error {
  override readonly name = "InvalidConfigError";
  readonly code = "INVALID_CONFIG" as const;
  constructor(
    reason: string,
    readonly issues: string[] = [],
  ) {
    super(`invalid image config: ${reason}${issues.length ? ` (${issues.join("; ")})` : ""}`);
  }
}

export class InvalidPlatformError extends Error {
  override readonly name = "InvalidPlatformError";
  readonly code = "INVALID_PLATFORM" as const;
  constructor(
    readonly input: string,
    reason: string,
  ) {
    super(
      `invalid platform ${JSON.stringify(input)}: ${reason}; use os/arch[/variant], e.g. linux/amd64 or linux/arm/v7`,
    );
  }
}

export class NoMatchingPlatformError extends Error {
  override readonly name = "NoMatchingPlatformError";
  readonly code = "NO_MATCHING_PLATFORM" as const;
  constructor(
    /** The platform that was asked for, formatted `os/arch[/variant]`. */
    readonly wanted: string,
    /** Platforms the index offers (attestation entries left out), formatted. */
    readonly available: string[],
  ) {
    super(
      available.length
        ? `no image for platform ${wanted} in the index; available: ${available.join(", ")}. ` +
            "Pick one of these with --platform."
        : `no image for platform ${wanted}: the index lists no runnable image manifests`,
    );
  }
}
