import { spawn } from "node:child_process";

/** What a finished command produced. Non-zero exit codes are returned, not thrown. */
export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * The one privileged effect of this package: running a host command (`mount`, `umount`, `unshare`,
 * `flock`, `ip`, `nsenter`). Unit tests pass a recorder; the default spawns.
 */
export interface CommandRunner {
  run(argv: readonly string[], options?: { input?: string }): Promise<CommandResult>;
}

/** Spawns argv[0] with the rest as arguments (no shell), collecting stdout and stderr. */
export function spawnRunner(): CommandRunner {
  return {
    run(argv, options = {}) {
      const [file, ...args] = argv;
      if (file === undefined) return Promise.reject(new Error("empty command"));
      return new Promise((resolve, reject) => {
        const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on("data", (b: Buffer) => out.push(b));
        child.stderr.on("data", (b: Buffer) => err.push(b));
        child.on("error", reject);
        child.on("close", (code, signal) => {
          resolve({
            exitCode: code ?? (signal ? 128 : 1),
            stdout: Buffer.concat(out).toString("utf8"),
            stderr: Buffer.concat(err).toString("utf8"),
          });
        });
        child.stdin.on("error", () => {});
        child.stdin.end(options.input ?? "");
      });
    },
  };
}

/** Quotes argv for display as a shell command (for --explain and error messages). */
export function shellQuote(argv: readonly string[]): string {
  return argv
    .map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(" ");
}
