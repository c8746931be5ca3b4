/** Stable error codes thrown by @strata/overlay-mount. */
export type OverlayErrorCode =
  | "OVERLAY_UNSUPPORTED"
  | "BACKING_FS_UNSUPPORTED"
  | "TOO_MANY_LAYERS"
  | "OPTIONS_TOO_LONG"
  | "INVALID_PATH"
  | "INVALID_LAYER_ID"
  | "LAYER_NOT_FOUND"
  | "LAYER_EXISTS"
  | "MOUNT_FAILED"
  | "UNMOUNT_FAILED";

/** Every error from this package: `code` is stable, the message says what was wrong and what to do. */
export class OverlayError extends Error {
  readonly code: OverlayErrorCode;
  /** For MOUNT_FAILED / UNMOUNT_FAILED: the command (argv) that failed and where it ran. */
  readonly command?: readonly string[];
  readonly cwd?: string;
  readonly stderr?: string;

  constructor(
    code: OverlayErrorCode,
    message: string,
    details: { command?: readonly string[]; cwd?: string; stderr?: string; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "OverlayError";
    this.code = code;
    if (details.command !== undefined) this.command = details.command;
    if (details.cwd !== undefined) this.cwd = details.cwd;
    if (details.stderr !== undefined) this.stderr = details.stderr;
  }
}
