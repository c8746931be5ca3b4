/** Stable error codes thrown by unpackLayer (see README). */
export type UnpackErrorCode =
  | "UNSAFE_PATH"
  | "INVALID_WHITEOUT"
  | "LIMIT_EXCEEDED"
  | "DIGEST_MISMATCH"
  | "INVALID_DIGEST"
  | "UNSUPPORTED_COMPRESSION"
  | "INVALID_TAR"
  | "EXTRACT_FAILED";

/** Every failure of unpackLayer is an UnpackError with a stable `code`. */
export class UnpackError extends Error {
  readonly code: UnpackErrorCode;
  /** The tar entry name involved, when there is one. */
  readonly entry: string | undefined;

  constructor(code: UnpackErrorCode, message: string, options: { entry?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "UnpackError";
    this.code = code;
    this.entry = options.entry;
  }
}

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as NodeJS.ErrnoException).code === code;
}
