import { spawn } from "node:child_process";

export interface IpResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * The privileged effect of this package: one `ip` process. `args` excludes the leading "ip". Unit tests
 * record calls (and the batch text in `input`); the default spawns iproute2's `ip`.
 */
export interface IpRunner {
  run(args: readonly string[], options?: { input?: string }): Promise<IpResult>;
}

/** One process (no shell), its output collected. Non-zero exit codes are returned, not thrown. */
export function runCollected(file: string, args: readonly string[], input = ""): Promise<IpResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code, signal) =>
      resolve({
        exitCode: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      }),
    );
    child.stdin.on("error", () => {});
    child.stdin.end(input);
  });
}

/** Spawns `ip` (no shell). Non-zero exit codes are returned, not thrown. */
export function spawnIpRunner(binary = "ip"): IpRunner {
  return { run: (args, options = {}) => runCollected(binary, args, options.input) };
}
