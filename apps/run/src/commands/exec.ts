import type { ContainerRuntime, ExecOptions } from "@strata/container";
import { holdSignals } from "../held-signals.js";
import { EXIT_CANNOT_INVOKE, EXIT_NOT_FOUND, envFlags } from "./run.js";

export interface ExecFlags {
  interactive?: boolean;
  tty?: boolean;
  env?: string[];
  user?: string;
  workdir?: string;
}

/** `docker exec` flags as ExecOptions (`-e KEY` alone copies this process's value, as docker does). */
export function execOptionsOf(command: string[], flags: ExecFlags): ExecOptions {
  const options: ExecOptions = { args: command };
  if (flags.env?.length) options.env = envFlags(flags.env);
  if (flags.user !== undefined) options.user = flags.user;
  if (flags.workdir !== undefined) options.workdir = flags.workdir;
  if (flags.tty) options.tty = true;
  if (flags.interactive) options.interactive = true;
  return options;
}

/**
 * `strata exec`: the process's exit code (128+N when signal N killed it); 127 / 126 when the command
 * is not found / cannot be invoked; other failures throw (the CLI reports them).
 */
export async function execCommand(
  runtime: ContainerRuntime,
  container: string,
  command: string[],
  flags: ExecFlags,
  report: (error: unknown) => void,
): Promise<number> {
  const options = execOptionsOf(command, flags);
  const signals = holdSignals();
  try {
    const status = await runtime.exec(container, {
      ...options,
      stdio: "inherit",
      forwardSignals: true,
      onStart: (p) => signals.started(p),
    });
    return status.exitCode;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "COMMAND_NOT_FOUND" || code === "COMMAND_NOT_EXECUTABLE") {
      report(error);
      return code === "COMMAND_NOT_FOUND" ? EXIT_NOT_FOUND : EXIT_CANNOT_INVOKE;
    }
    throw error;
  } finally {
    signals.release();
  }
}
