import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer } from "node:net";
import { TestkitError } from "./errors.js";

/** "sha256:<hex>" of some bytes. */
export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the caller retries if it loses the race). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Run a host command, feeding `input` on stdin; resolves with stdout. */
export function run(command: string, args: string[], input?: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.once("error", (e) =>
      reject(
        new TestkitError("COMMAND_FAILED", `cannot run '${command}': ${e.message} (is it installed?)`, {
          cause: e,
        }),
      ),
    );
    child.once("close", (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else
        reject(
          new TestkitError(
            "COMMAND_FAILED",
            `'${command} ${args.join(" ")}' exited with ${code}: ${Buffer.concat(err).toString().trim()}`,
          ),
        );
    });
    child.stdin.on("error", () => {});
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
