import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { processStartTime } from "../src/ids.js";
import { ImageStore, StoreLock, StoreLockedError } from "../src/index.js";
import { cleanup, tempDir } from "./helpers.js";

describe("StoreLock", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await cleanup(dir);
  });

  // the lock algorithm itself (queueing, stale locks, other processes) is tested in @strata/lockfile;
  // here: that the store's lock is that lock, with the store's error
  it("releases the lock file when the critical section throws", async () => {
    const lock = new StoreLock(path.join(dir, "lock"), dir);
    await expect(lock.withLock(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    await expect(readFile(path.join(dir, "lock"))).rejects.toMatchObject({ code: "ENOENT" });
    await expect(lock.withLock(async () => 42)).resolves.toBe(42);
  });

  it("breaks a stale lock left by a process that is gone", async () => {
    const file = path.join(dir, "lock");
    await writeFile(file, "999999999.1\n");
    const lock = new StoreLock(file, dir);
    await expect(lock.withLock(async () => "got it", { timeoutMs: 2000 })).resolves.toBe("got it");
  });

  it("waits for a live holder, fails with STORE_LOCKED on timeout, then succeeds once it dies", async () => {
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      const pid = child.pid as number;
      const start = processStartTime(pid);
      expect(start).toBeDefined();
      const file = path.join(dir, "lock");
      await writeFile(file, `${pid}.${start}\n`);
      const lock = new StoreLock(file, dir);
      const err = await lock.withLock(async () => "no", { timeoutMs: 150 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreLockedError);
      expect(err).toMatchObject({ code: "STORE_LOCKED", holderPid: pid });
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
      await expect(lock.withLock(async () => "yes", { timeoutMs: 5000 })).resolves.toBe("yes");
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  });

  it("ImageStore.open creates Docker's layout under the root", async () => {
    const store = await ImageStore.open({ root: path.join(dir, "root") });
    const L = store.layout;
    expect(L.imagedbContent).toBe(path.join(dir, "root/image/overlay2/imagedb/content/sha256"));
    expect(L.layerdbSha256).toBe(path.join(dir, "root/image/overlay2/layerdb/sha256"));
    expect(L.repositoriesJson).toBe(path.join(dir, "root/image/overlay2/repositories.json"));
    expect(L.diffidByDigest).toBe(path.join(dir, "root/image/overlay2/distribution/diffid-by-digest/sha256"));
    expect(L.linkDir).toBe(path.join(dir, "root/overlay2/l"));
    for (const [d] of L.directories()) await expect(readFile(d)).rejects.toMatchObject({ code: "EISDIR" });
    expect(await store.list()).toEqual([]);
  });
});
