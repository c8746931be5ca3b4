import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileLock, LockTimeoutError, processStartTime, withFileLock } from "../src/index.js";

const SOURCE = fileURLToPath(new URL("../src/index.ts", import.meta.url));
// the monorepo's TypeScript loader, so child processes can import the package from source (Node 20)
const LOADER = fileURLToPath(new URL("../../../apps/run/bin/register.js", import.meta.url));

describe("FileLock", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "strata-test-lockfile-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("serialises callers inside one process, in order", async () => {
    const lock = new FileLock(path.join(dir, "lock"));
    let inside = 0;
    let maxInside = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        lock.withLock(async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          await new Promise((r) => setTimeout(r, 2));
          order.push(i);
          inside--;
        }),
      ),
    );
    expect(maxInside).toBe(1);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(await readdir(dir)).toEqual([]);
  });

  it("withFileLock queues callers of the same path in one process", async () => {
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 6 }, () =>
        withFileLock(path.join(dir, "same.lock"), async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          await new Promise((r) => setTimeout(r, 2));
          inside--;
        }),
      ),
    );
    expect(maxInside).toBe(1);
  });

  it("releases the lock file when the critical section throws", async () => {
    const lock = new FileLock(path.join(dir, "lock"));
    await expect(lock.withLock(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    await expect(readFile(path.join(dir, "lock"))).rejects.toMatchObject({ code: "ENOENT" });
    await expect(lock.withLock(() => 42)).resolves.toBe(42);
  });

  it.each([
    ["a pid that does not exist", "999999999.1"],
    ["a reused pid (start time differs)", `${process.ppid}.1`],
    ["a bare pid that does not exist (older lock format)", String(2 ** 22 + 7)],
    ["garbage", "not-a-token"],
  ])("breaks a stale lock held by %s", async (_name, token) => {
    const file = path.join(dir, "lock");
    await writeFile(file, `${token}\n`);
    const lock = new FileLock(file);
    await expect(lock.withLock(() => "got it", { timeoutMs: 2000 })).resolves.toBe("got it");
    expect(await readdir(dir)).toEqual([]);
  });

  it.each([
    ["pid and start time", (pid: number) => `${pid}.${processStartTime(pid)}`],
    ["a bare pid (older lock format)", (pid: number) => String(pid)],
  ])(
    "waits for a live holder named by %s, times out with LOCK_TIMEOUT, then takes over once it dies",
    async (_name, tokenOf) => {
      const child = spawn("sleep", ["30"], { stdio: "ignore" });
      try {
        const pid = child.pid as number;
        expect(processStartTime(pid)).toBeDefined();
        const file = path.join(dir, "lock");
        await writeFile(file, `${tokenOf(pid)}\n`);
        const lock = new FileLock(file);
        const error = await lock.withLock(() => "no", { timeoutMs: 150 }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(LockTimeoutError);
        expect(error).toMatchObject({ code: "LOCK_TIMEOUT", holderPid: pid, file });
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGKILL");
        await exited;
        await expect(lock.withLock(() => "yes", { timeoutMs: 5000 })).resolves.toBe("yes");
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      }
    },
  );

  it("excludes other processes: 4 processes × 25 read-increment-write cycles lose no update", async () => {
    const counter = path.join(dir, "counter");
    await writeFile(counter, "0");
    const script = `
      import { readFileSync, writeFileSync } from "node:fs";
      const { withFileLock } = await import(${JSON.stringify(SOURCE)});
      for (let i = 0; i < 25; i++) {
        await withFileLock(${JSON.stringify(path.join(dir, "lock"))}, async () => {
          const n = Number(readFileSync(${JSON.stringify(counter)}, "utf8"));
          await new Promise((r) => setImmediate(r));
          writeFileSync(${JSON.stringify(counter)}, String(n + 1));
        });
      }`;
    const codes = await Promise.all(
      Array.from(
        { length: 4 },
        () =>
          new Promise<number | null>((resolve, reject) => {
            const child = spawn(process.execPath, ["--import", LOADER, "--input-type=module", "-e", script], {
              stdio: ["ignore", "ignore", "inherit"],
            });
            child.once("error", reject);
            child.once("exit", resolve);
          }),
      ),
    );
    expect(codes).toEqual([0, 0, 0, 0]);
    expect(await readFile(counter, "utf8")).toBe("100");
  });

  it("a holder killed with SIGKILL inside its critical section does not block the next one", async () => {
    const file = path.join(dir, "lock");
    const script = `
      const { withFileLock } = await import(${JSON.stringify(SOURCE)});
      await withFileLock(${JSON.stringify(file)}, async () => {
        process.stdout.write("held\\n");
        await new Promise(() => {});
      });`;
    const child = spawn(process.execPath, ["--import", LOADER, "--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      await new Promise((r) => child.stdout?.once("data", r));
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
      expect((await readFile(file, "utf8")).trim()).toMatch(new RegExp(`^${child.pid}\\.\\d+$`));
      await expect(withFileLock(file, () => "taken over", { timeoutMs: 5000 })).resolves.toBe("taken over");
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  });
});
