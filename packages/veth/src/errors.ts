/** Stable error codes thrown by @strata/veth. */
export type VethErrorCode =
  | "INVALID_LINK_NAME"
  | "INVALID_NETNS_NAME"
  | "INVALID_ADDRESS"
  | "INVALID_MAC"
  | "INVALID_MTU"
  | "INVALID_PLAN"
  // Kernel / iproute2 failures (IpCommandError):
  | "ALREADY_EXISTS"
  | "NOT_FOUND"
  | "NETNS_NOT_FOUND"
  | "PERMISSION_DENIED"
  | "UNREACHABLE"
  | "IP_COMMAND_FAILED";

/** Every error from this package: `code` is stable, the message says what was wrong and what to do. */
export class VethError extends Error {
  readonly code: VethErrorCode;
  constructor(code: VethErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "VethError";
    this.code = code;
  }
}

/** An `ip` invocation failed: carries the command, the failing batch line and iproute2's stderr. */
export class IpCommandError extends VethError {
  /** Full argv, starting with "ip". */
  readonly command: readonly string[];
  /** For `ip -batch -`: the batch line that failed (as `ip` would take it on its command line). */
  readonly line?: string;
  readonly exitCode: number;
  readonly stderr: string;

  constructor(
    code: VethErrorCode,
    details: { command: readonly string[]; line?: string; exitCode: number; stderr: string },
  ) {
    const what = details.line === undefined ? details.command.join(" ") : `ip ${details.line}`;
    const where = details.line === undefined ? "" : ` (in \`${details.command.join(" ")}\`)`;
    super(code, `\`${what}\` failed${where}: ${firstMessage(details.stderr)}${hint(code)}`);
    this.name = "IpCommandError";
    this.command = details.command;
    if (details.line !== undefined) this.line = details.line;
    this.exitCode = details.exitCode;
    this.stderr = details.stderr;
  }
}

function firstMessage(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("Command failed"));
  return lines.join("; ") || "ip exited with an error and printed nothing";
}

function hint(code: VethErrorCode): string {
  switch (code) {
    case "ALREADY_EXISTS":
      return " (delete the existing link/address/route or pick another name)";
    case "NOT_FOUND":
      return " (check the link name and that it is in the namespace you addressed)";
    case "NETNS_NOT_FOUND":
      return " (create it first: ip netns add NAME)";
    case "PERMISSION_DENIED":
      return " (run as root or with CAP_NET_ADMIN)";
    default:
      return "";
  }
}

/** Maps iproute2/kernel stderr to a stable code. */
export function classifyIpError(stderr: string): VethErrorCode {
  if (/Invalid "netns" value|Cannot open network namespace|Cannot find netns/i.test(stderr))
    return "NETNS_NOT_FOUND";
  if (/File exists/.test(stderr)) return "ALREADY_EXISTS";
  if (/Cannot find device|does not exist|No such device|Cannot assign requested address/.test(stderr))
    return "NOT_FOUND";
  if (/Operation not permitted|Permission denied/.test(stderr)) return "PERMISSION_DENIED";
  if (/Network is unreachable|Nexthop has invalid gateway/.test(stderr)) return "UNREACHABLE";
  return "IP_COMMAND_FAILED";
}
