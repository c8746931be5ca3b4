/** Stable error codes thrown by @strata/launch. */
export type LaunchErrorCode =
  | "INVALID_SPEC"
  | "NO_COMMAND"
  | "USER_NOT_FOUND"
  | "GROUP_NOT_FOUND"
  | "HELPER_NOT_BUILT"
  | "SETUP_FAILED"
  | "COMMAND_NOT_FOUND"
  | "COMMAND_NOT_EXECUTABLE"
  | "RUNTIME_FAILED"
  | "UNSUPPORTED_OPTION";

/** Every error from this package: `code` is stable, the message says what was wrong and what to do. */
export class LaunchError extends Error {
  readonly code: LaunchErrorCode;
  /** errno reported by the helper for SETUP_FAILED / COMMAND_NOT_FOUND / COMMAND_NOT_EXECUTABLE. */
  readonly errno?: number;

  constructor(code: LaunchErrorCode, message: string, details: { errno?: number; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "LaunchError";
    this.code = code;
    if (details.errno !== undefined) this.errno = details.errno;
  }
}
