/** Exit codes of the strata CLI (documented in README.md). */
export const ExitCode = {
  OK: 0,
  /** The operation failed (registry, network, store, image not found). */
  FAILURE: 1,
  /** Bad usage: unknown flag, missing argument, invalid reference or platform. */
  USAGE: 2,
  /** Interrupted (SIGINT). */
  INTERRUPTED: 130,
} as const;

const USAGE_CODES = new Set([
  "INVALID_REFERENCE",
  "INVALID_DIGEST",
  "INVALID_PLATFORM",
  "INVALID_OPTION",
  "INVALID_PUBLISH",
  "INVALID_NETWORK_MODE",
  "INVALID_NAME",
  "INVALID_NETNS_NAME",
  "USAGE",
]);

/** What to tell the user to do next, per error code. */
const HINTS: Record<string, string> = {
  IMAGE_NOT_FOUND: "run 'strata images' to see what is stored, or 'strata pull REF' first",
  IMAGE_IN_USE: "remove the image's tags one by one, or pass --force",
  AMBIGUOUS_IMAGE_ID: "give more characters of the image ID",
  STORE_LOCKED: "another strata process is using the store; wait for it to finish",
  STORE_CORRUPT: "the named file was damaged; follow the message, then pull again",
  INVALID_REFERENCE: "references look like NAME[:TAG] or NAME@sha256:<64 hex>, e.g. ubuntu:20.04",
  NO_MATCHING_PLATFORM: "choose one of the listed platforms with --platform",
  NOT_FOUND: "check the repository and tag exist in that registry",
  UNAUTHORIZED: "log in: put credentials for the registry in ~/.docker/config.json",
  NETWORK_ERROR:
    "check the registry address and that it is reachable; plain HTTP needs --insecure-registry HOST",
  TOO_MANY_REQUESTS: "the registry rate-limited this client; wait, log in, or use --registry-mirror",
  DIGEST_MISMATCH: "the registry sent different bytes than it promised; retry, or check the mirror",
  CONTAINER_NOT_FOUND: "run 'strata ps -a' to see the containers",
  AMBIGUOUS_ID: "give more characters of the container ID, or its name",
  CONTAINER_RUNNING: "stop it first ('strata stop NAME') or use 'strata rm -f NAME'",
  CONTAINER_NOT_RUNNING: "run 'strata ps -a' to see its status",
  NAME_IN_USE: "choose another --name, or remove the old container ('strata rm NAME')",
  NETNS_NOT_FOUND:
    "create it with 'strata netns add NAME' (or 'ip netns add NAME'); list them with 'strata netns ls'",
  PORT_IN_USE: "another container publishes that host port: pick another one, or stop that container",
  ALREADY_ATTACHED: "a crashed run may hold the network: run 'strata gc'",
  HELPER_NOT_BUILT:
    "build @strata/launch's native helper (npm ci runs its install script; a C compiler is needed)",
  COMMAND_NOT_FOUND: "check the command exists in the image (and its PATH)",
  CONFIG_INVALID:
    "fix the named config file (keys: root, registryMirrors, insecureRegistries, defaultNetwork, cgroupParent)",
  NETWORK_NOT_FOUND: "run 'strata network ls' to see the networks",
  USAGE: "see 'strata --help' and 'strata COMMAND --help'",
  EACCES: "strata needs root to write the store; run it as root or pass --root DIR",
  EPERM: "strata needs root to write the store; run it as root or pass --root DIR",
};

export class UsageError extends Error {
  readonly code = "USAGE";
}

/** `code` of any error, if it carries one. */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code !== "" ? code : "ERROR";
}

/** One line `strata: <message> (<CODE>)` plus an optional hint line; returns the exit code. */
export function reportError(err: unknown, write: (s: string) => void): number {
  const raw = errorCode(err);
  const code = raw.startsWith("commander.") ? "USAGE" : raw;
  const message = (err instanceof Error ? err.message : String(err)).split("\n")[0]?.replace(/^error: /, "");
  write(`strata: ${message} (${code})\n`);
  const hint = HINTS[code];
  if (hint) write(`hint: ${hint}\n`);
  return USAGE_CODES.has(code) ? ExitCode.USAGE : ExitCode.FAILURE;
}
