import { NetnsError } from "./errors.js";

/** NAME_MAX: a netns name is one file name under the run directory. */
const NAME_MAX = 255;

/**
 * Why `name` cannot be a network namespace name, or undefined when it can.
 * iproute2's `is_valid_netns_name` rejects empty names, ".", "..", "/" and names over NAME_MAX; strata
 * also rejects NUL, control characters and a leading "-" (it would read as an option to `ip`/`nsenter`).
 */
export function netnsNameProblem(name: string): string | undefined {
  if (name.length === 0) return "it is empty";
  if (name === "." || name === "..") return `"${name}" is reserved`;
  if (name.includes("/")) return "it contains '/'";
  if (Buffer.byteLength(name) > NAME_MAX) return `it is longer than ${NAME_MAX} bytes`;
  if (name.startsWith("-")) return "it starts with '-'";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what we reject
  if (/[\u0000-\u001f\u007f]/.test(name)) return "it contains a control character";
  return undefined;
}

/** Throws INVALID_NETNS_NAME unless `name` is a valid namespace name. */
export function assertNetnsName(name: string): void {
  const problem = netnsNameProblem(name);
  if (problem !== undefined) {
    throw new NetnsError(
      "INVALID_NETNS_NAME",
      `invalid network namespace name ${JSON.stringify(name)}: ${problem}; use a plain file name such as "web1"`,
      { netns: name },
    );
  }
}
