import type { Readable } from "node:stream";
import {
  type ExitStatus,
  type LaunchedProcess,
  type LaunchOptions,
  type LaunchSpec,
  launch,
} from "../src/index.js";

export interface RunResult extends ExitStatus {
  stdout: string;
  stderr: string;
}

/** Starts the spec with piped stdio and collects everything until the container ends. */
export async function start(
  spec: LaunchSpec,
  options: LaunchOptions = {},
): Promise<{ proc: LaunchedProcess; output: { stdout: string; stderr: string }; done: Promise<RunResult> }> {
  const proc = await launch(spec, { ...options, stdio: "pipe" });
  const output = { stdout: "", stderr: "" };
  proc.stdout?.setEncoding("utf8").on("data", (d: string) => {
    output.stdout += d;
  });
  proc.stderr?.setEncoding("utf8").on("data", (d: string) => {
    output.stderr += d;
  });
  // an empty stream may already have ended and closed while launch() waited for the container's pid
  const ended = (stream: Readable | null) =>
    new Promise<void>((resolve) =>
      !stream || stream.closed ? resolve() : stream.on("close", () => resolve()),
    );
  const streamsClosed = Promise.all([ended(proc.stdout), ended(proc.stderr)]);
  const done = (async () => {
    const status = await proc.wait();
    await streamsClosed;
    return { ...status, ...output };
  })();
  return { proc, output, done };
}

export async function run(spec: LaunchSpec, options: LaunchOptions = {}): Promise<RunResult> {
  const { done } = await start(spec, options);
  return done;
}

/** Resolves once `text` has appeared in the collected stdout. */
export async function waitForOutput(
  output: { stdout: string },
  text: string,
  proc: LaunchedProcess,
): Promise<void> {
  let ended = false;
  void proc.wait().then(() => {
    ended = true;
  });
  while (!output.stdout.includes(text)) {
    if (ended) throw new Error(`container ended before printing '${text}'; stdout: ${output.stdout}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
