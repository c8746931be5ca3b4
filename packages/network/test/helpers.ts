import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { BridgeNetwork, type BridgeNetworkOptions } from "../src/index.js";

export const run = promisify(execFile);

/** Names and a subnet that belong to one test file only (never touches what it did not create). */
export function testNetworkOptions(): BridgeNetworkOptions & {
  rand: string;
  rand8: number;
  stateDir: string;
  netnsPrefix: string;
  vethPrefix: string;
} {
  const rand = randomBytes(2).toString("hex");
  const rand8 = 16 + ((randomBytes(1)[0] as number) % 200);
  return {
    rand,
    rand8,
    bridge: `st-br-${rand}`,
    subnet: `10.213.${rand8}.0/24`,
    chainSuffix: `-T${rand}`,
    vethPrefix: `st${rand}`,
    netnsPrefix: `strata-test-network-${rand}-`,
    stateDir: mkdtempSync(join(tmpdir(), "strata-test-network-state-")),
  };
}

export function newNetwork(options: BridgeNetworkOptions): BridgeNetwork {
  return new BridgeNetwork(options);
}

/** Starts a process (killed by PID in `stopAll`). */
export class Processes {
  private readonly children: ChildProcess[] = [];
  start(argv: string[]): ChildProcess {
    const [file, ...args] = argv;
    const child = spawn(file as string, args, { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.resume();
    child.stderr?.resume();
    this.children.push(child);
    return child;
  }
  async stopAll(): Promise<void> {
    await Promise.all(
      this.children.splice(0).map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined)
              return resolve();
            child.once("exit", () => resolve());
            process.kill(child.pid, "SIGKILL");
          }),
      ),
    );
  }
}

/** Retries `probe` until it succeeds (servers take a moment to listen); no timing is asserted. */
export async function eventually<T>(probe: () => Promise<T>, attempts = 50): Promise<T> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await probe();
    } catch (error) {
      last = error;
      await sleep(100);
    }
  }
  throw last;
}

/** `ip netns exec NS argv` → stdout; throws on a non-zero exit. */
export async function inNetns(ns: string, argv: string[]): Promise<string> {
  const { stdout } = await run("ip", ["netns", "exec", ns, ...argv], { timeout: 5_000 });
  return stdout;
}
