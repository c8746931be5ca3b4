/** Stable error codes thrown by @strata/network (besides INVALID_SUBNET, IPAM_EXHAUSTED, LOCK_TIMEOUT). */
export type NetworkErrorCode =
  | "INVALID_CONTAINER_ID"
  | "INVALID_HOSTNAME"
  | "INVALID_PUBLISH"
  | "INVALID_NETWORK_MODE"
  | "INVALID_OPTION"
  | "PORT_IN_USE"
  | "ALREADY_ATTACHED"
  | "SUBNET_MISMATCH"
  | "IPTABLES_FAILED"
  | "SYSCTL_FAILED"
  | "IP_FAILED";

/** Every error of this package: `code` is stable, the message says what was wrong and what to do. */
export class NetworkError extends Error {
  readonly code: NetworkErrorCode;
  /** The command that failed (argv), for IPTABLES_FAILED / IP_FAILED. */
  readonly command?: readonly string[];
  readonly stderr?: string;

  constructor(
    code: NetworkErrorCode,
    message: string,
    details: { command?: readonly string[]; stderr?: string; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "NetworkError";
    this.code = code;
    if (details.command !== undefined) this.command = details.command;
    if (details.stderr !== undefined) this.stderr = details.stderr;
  }
}
