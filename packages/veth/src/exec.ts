import { batchLine, type IpCommand } from "./commands.js";
import { classifyIpError, IpCommandError } from "./errors.js";
import type { IpResult, IpRunner } from "./runner.js";
import { assertNetnsName } from "./validate.js";

/** Global options that address a named namespace: `-n NS`. */
function nsArgs(netns: string | undefined): string[] {
  if (netns === undefined) return [];
  assertNetnsName(netns);
  return ["-n", netns];
}

/** Runs one `ip` command, throwing a typed IpCommandError carrying the command on failure. */
export async function runIp(
  runner: IpRunner,
  command: IpCommand,
  options: { netns?: string } = {},
): Promise<IpResult> {
  const args = [...nsArgs(options.netns), ...command];
  const result = await runner.run(args);
  if (result.exitCode !== 0) {
    throw new IpCommandError(classifyIpError(result.stderr), {
      command: ["ip", ...args],
      exitCode: result.exitCode,
      stderr: result.stderr,
    });
  }
  return result;
}

/** The argv and stdin of `ip [-n NS] -batch -` for these commands. */
export function batchInvocation(
  commands: readonly IpCommand[],
  netns?: string,
): { args: string[]; input: string } {
  return {
    args: [...nsArgs(netns), "-batch", "-"],
    input: commands.map((c) => `${batchLine(c)}\n`).join(""),
  };
}

/**
 * Applies commands in one `ip -batch -` spawn (`ip -n NS -batch -` inside a namespace). ip stops at the
 * first failing line; the error names that line ("Command failed -:N").
 */
export async function applyBatch(
  runner: IpRunner,
  commands: readonly IpCommand[],
  options: { netns?: string } = {},
): Promise<void> {
  if (commands.length === 0) return;
  const { args, input } = batchInvocation(commands, options.netns);
  const result = await runner.run(args, { input });
  if (result.exitCode === 0) return;
  const failed = /Command failed -:(\d+)/.exec(result.stderr);
  const index = failed ? Number(failed[1]) - 1 : -1;
  const command = commands[index];
  throw new IpCommandError(classifyIpError(result.stderr), {
    command: ["ip", ...args],
    ...(command === undefined ? {} : { line: [...nsArgs(options.netns), ...command].join(" ") }),
    exitCode: result.exitCode,
    stderr: result.stderr,
  });
}
