/**
 * Errors thrown by @strata/registry-pull. Every error carries a stable `code`; messages say what
 * failed, for which registry/repository/blob, and what the user can do about it.
 */
export type RegistryErrorCode =
  | "NOT_FOUND"
  | "UNAUTHORIZED"
  | "DENIED"
  | "DIGEST_MISMATCH"
  | "SIZE_MISMATCH"
  | "UNSUPPORTED_MEDIA_TYPE"
  | "NO_MATCHING_PLATFORM"
  | "TOO_MANY_REQUESTS"
  | "MANIFEST_TOO_LARGE"
  | "SCHEMA1_UNSUPPORTED"
  | "INSECURE_REALM"
  | "INSECURE_REDIRECT"
  | "ABORTED"
  | "HTTP_ERROR"
  | "NETWORK_ERROR"
  | "INVALID_MANIFEST"
  | "INVALID_CONFIG"
  | "INVALID_PLATFORM"
  | "INVALID_OPTION"
  | "CREDENTIALS_ERROR"
  | "TOKEN_ERROR";

export class RegistryError extends Error {
  readonly code: RegistryErrorCode;
  /** HTTP status when the error came from a registry response. */
  readonly status?: number;
  constructor(code: RegistryErrorCode, message: string, options: { cause?: unknown; status?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    if (options.status !== undefined) this.status = options.status;
  }
}

export class NotFoundError extends RegistryError {
  constructor(message: string, status = 404) {
    super("NOT_FOUND", message, { status });
  }
}

export class UnauthorizedError extends RegistryError {
  constructor(message: string, status = 401) {
    super("UNAUTHORIZED", message, { status });
  }
}

export class DeniedError extends RegistryError {
  constructor(message: string, status = 403) {
    super("DENIED", message, { status });
  }
}

export class BlobDigestMismatchError extends RegistryError {
  readonly digest: string;
  readonly actual: string;
  constructor(what: string, expected: string, actual: string) {
    super(
      "DIGEST_MISMATCH",
      `${what} ${expected}: content digest is ${actual}; the data was corrupted in transit or the registry/mirror serves wrong content (nothing was stored; retry, or pull from another mirror)`,
    );
    this.digest = expected;
    this.actual = actual;
  }
}

export class BlobSizeMismatchError extends RegistryError {
  readonly digest: string;
  constructor(what: string, expected: string, size: number, actual: number) {
    super(
      "SIZE_MISMATCH",
      `${what} ${expected}: expected ${size} bytes but received ${actual}${actual > size ? " or more" : ""} (nothing was stored; retry, or check the registry)`,
    );
    this.digest = expected;
  }
}

export class TooManyRequestsError extends RegistryError {
  /** Seconds the registry asked us to wait, when it said so. */
  readonly retryAfter?: number;
  constructor(message: string, retryAfter?: number) {
    super("TOO_MANY_REQUESTS", message, { status: 429 });
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
  }
}

export class ManifestTooLargeError extends RegistryError {
  constructor(what: string, size: number, limit: number) {
    super(
      "MANIFEST_TOO_LARGE",
      `manifest ${what} is ${size} bytes, more than the ${limit}-byte limit; refusing to read it (is this really an image manifest?)`,
    );
  }
}

export class InsecureRealmError extends RegistryError {
  constructor(message: string) {
    super("INSECURE_REALM", message);
  }
}

export class InsecureRedirectError extends RegistryError {
  constructor(message: string) {
    super("INSECURE_REDIRECT", message);
  }
}

export class AbortedError extends RegistryError {
  constructor(what: string, cause?: unknown) {
    super("ABORTED", `${what} was cancelled`, { cause });
  }
}

export class HttpStatusError extends RegistryError {
  constructor(message: string, status: number) {
    super("HTTP_ERROR", message, { status });
  }
}

export class NetworkError extends RegistryError {
  constructor(message: string, cause?: unknown) {
    super("NETWORK_ERROR", message, { cause });
  }
}

export class InvalidOptionError extends RegistryError {
  constructor(message: string) {
    super("INVALID_OPTION", message);
  }
}

export class CredentialsError extends RegistryError {
  constructor(message: string, cause?: unknown) {
    super("CREDENTIALS_ERROR", message, { cause });
  }
}

export class TokenError extends RegistryError {
  constructor(message: string, status?: number) {
    super("TOKEN_ERROR", message, status === undefined ? {} : { status });
  }
}

/** Errors that are not worth retrying against the same endpoint. */
export function isAbort(err: unknown): boolean {
  return (
    err instanceof AbortedError ||
    (err instanceof Error && (err.name === "AbortError" || (err as { code?: string }).code === "ABORT_ERR"))
  );
}
