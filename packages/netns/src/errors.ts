/** Stable error codes thrown by @strata/netns. */
export type NetnsErrorCode =
  | "INVALID_NETNS_NAME"
  | "NETNS_EXISTS"
  | "NETNS_NOT_FOUND"
  | "NETNS_COMMAND_FAILED"
  | "INVALID_ARGUMENT";

/** Every error from this package: `code` is stable, the message says what to do. */
export class NetnsError extends Error {
  readonly code: NetnsErrorCode;
  /** The namespace name the operation was about, when there is one. */
  readonly netns?: string;
  /** The command line that failed (argv), for NETNS_COMMAND_FAILED. */
  readonly command?: readonly string[];
  /** stderr of the failing command, for NETNS_COMMAND_FAILED. */
  readonly stderr?: string;

  constructor(
    code: NetnsErrorCode,
    message: string,
    details: { netns?: string; command?: readonly string[]; stderr?: string; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "NetnsError";
    this.code = code;
    if (details.netns !== undefined) this.netns = details.netns;
    if (details.command !== undefined) this.command = details.command;
    if (details.stderr !== undefined) this.stderr = details.stderr;
  }
}
