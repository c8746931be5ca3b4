import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describePrivileged } from "@strata/testkit";
import { afterEach, beforeEach, expect, it } from "vitest";
import { probeCreationDefaults } from "../src/creation-defaults.js";
import { UnpackError, type UnpackOptions, unpackLayer } from "../src/index.js";
import {
  buildTar,
  type Comp,
  chunked,
  compress,
  type Entry,
  fingerprint,
  MEDIA,
  removeTree,
  sha256,
  snapshot as snapshotOf,
  tempRoot,
} from "./helpers.js";

const snapshot = (root: string) => snapshotOf(root, (rel) => rel.endsWith("/ping"));

import { CAP, layer1, layer2 } from "./layers.js";

// Big layers have their file data written by a second thread (write-behind.ts) while this one parses
// and creates files; "always" takes that path from the first byte. Every case compares it with the
// same layer unpacked entirely on this thread ("never").

/** This process's open fds on files under `dir` (worker threads open fds of their own: not counted). */
function filesOpenUnder(dir: string): string[] {
  const open: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const path = readlinkSync(`/proc/self/fd/${fd}`);
      if (path.startsWith(`${dir}/`)) open.push(path);
    } catch {
      // closed meanwhile (the readdir's own fd)
    }
  }
  return open;
}

/** Files on both sides of many slot boundaries: big and small, every mode and owner case. */
function mixedLayer(): Entry[] {
  const entries: Entry[] = [{ name: "big", data: randomBytes(3 * 1024 * 1024 + 17) }];
  for (let i = 0; i < 400; i++) {
    const modes = [0o644, 0o755, 0o666, 0o600, 0o4755, 0o2711, 0o1644, 0o777, 0o400];
    entries.push({
      name: `d${i % 9}/f${i}`,
      data: randomBytes((i * 4099) % 70_000),
      mode: modes[i % modes.length] as number,
      uid: i % 5 === 0 ? 1000 + i : 0,
      gid: i % 7 === 0 ? 2000 + i : 0,
    });
  }
  entries.push(
    { name: "d1/empty", data: "" },
    { name: "d1/sym", type: "symlink", linkname: "../d2/f2", uid: 7, gid: 8 },
    { name: "d3/hard", type: "link", linkname: "d0/f9" },
    { name: "d4/ping", data: "ping", mode: 0o755, rawPax: { "SCHILY.xattr.security.capability": CAP } },
    { name: "setgid/", type: "directory", mode: 0o2775, gid: 3000 },
    { name: "setgid/in-group", data: "g", gid: 3000 },
    { name: "setgid/root-group", data: "r", gid: 0 },
    { name: "tail", data: randomBytes(2 * 1024 * 1024) },
  );
  return entries;
}

describePrivileged(
  "file data written by a second thread",
  () => {
    let root: string;
    let n = 0;
    beforeEach(() => {
      root = tempRoot();
    });
    afterEach(() => removeTree(root));

    function target(): string {
      const dir = join(root, `t${n++}`);
      mkdirSync(dir);
      return dir;
    }

    async function unpack(blob: Buffer, comp: Comp, opts: Partial<UnpackOptions>, dir = target()) {
      const result = await unpackLayer(chunked(blob, 65_536), {
        target: dir,
        mediaType: MEDIA[comp],
        whiteouts: "overlay",
        ...opts,
      });
      return { dir, result };
    }

    for (const comp of ["none", "gzip", "zstd"] as const) {
      it(`${comp}: the same tree, digests and result as unpacking on one thread`, async () => {
        const tarBytes = await buildTar(mixedLayer());
        const blob = compress(tarBytes, comp);
        const digests = { expectedDigest: sha256(blob), expectedDiffId: sha256(tarBytes) };
        const one = await unpack(blob, comp, { ...digests, writeThread: "never" });
        const always = await unpack(blob, comp, { ...digests, writeThread: "always" });
        const auto = await unpack(blob, comp, { ...digests, writeThread: "auto" });
        expect(always.result).toEqual(one.result);
        expect(auto.result).toEqual(one.result);
        expect(one.result).toMatchObject({ digest: sha256(blob), diffId: sha256(tarBytes) });
        const expected = snapshot(one.dir);
        expect(snapshot(always.dir)).toEqual(expected);
        expect(snapshot(auto.dir)).toEqual(expected);
        expect(expected.find((l) => l.startsWith("./setgid/root-group "))).toContain(" 0:0 ");
        expect(expected.find((l) => l.startsWith("./d4/ping "))).toContain(CAP.toString("hex"));
        expect(filesOpenUnder(root)).toEqual([]);
      });
    }

    it("more unpacks at once than writer threads: the rest write on their own thread, all correct", async () => {
      // the pool holds 4 threads; 6 parallel unpacks asking for one each
      const layers = await Promise.all(
        [0, 1, 2, 3, 4, 5].map((i) =>
          buildTar([
            { name: `big${i}`, data: randomBytes(2 * 1024 * 1024) },
            ...Array.from({ length: 30 }, (_, j) => ({ name: `d/f${j}`, data: randomBytes(j * 100) })),
          ]),
        ),
      );
      const results = await Promise.all(
        layers.map((tarBytes) =>
          unpack(tarBytes, "none", { writeThread: "always", expectedDiffId: sha256(tarBytes) }),
        ),
      );
      for (const [i, { dir }] of results.entries()) {
        const one = await unpack(layers[i] as Buffer, "none", { writeThread: "never" });
        expect(snapshot(dir)).toEqual(snapshot(one.dir));
      }
      expect(filesOpenUnder(root)).toEqual([]);
    });

    it("small layers with every entry type and whiteouts come out the same from the first byte", async () => {
      for (const entries of [layer1, layer2]) {
        const tarBytes = await buildTar(entries);
        const one = await unpack(tarBytes, "none", { writeThread: "never" });
        const always = await unpack(tarBytes, "none", { writeThread: "always" });
        expect(always.result).toEqual(one.result);
        expect(snapshot(always.dir)).toEqual(snapshot(one.dir));
      }
    });

    it("a breakout after the switch fails, closes every file and changes nothing outside", async () => {
      const outside = join(root, "outside");
      mkdirSync(outside);
      writeFileSync(join(outside, "victim"), "keep");
      const before = fingerprint(outside);
      for (const comp of ["none", "gzip"] as const) {
        const entries: Entry[] = [
          { name: "big", data: randomBytes(5 * 1024 * 1024) },
          ...Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, data: randomBytes(900) })),
          { name: "../outside/evil", data: "x" },
          { name: "after", data: "never written" },
        ];
        const blob = compress(await buildTar(entries), comp);
        const err = await unpack(blob, comp, {}).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(UnpackError);
        expect(err).toMatchObject({ code: "UNSAFE_PATH" });
      }
      expect(fingerprint(outside)).toBe(before);
      expect(filesOpenUnder(root)).toEqual([]);
    });

    it("an input error while a chunk waits for the writer leaves the target as it is when the promise rejects", async () => {
      // One 16 MiB chunk cannot fit the 4 MiB ring: its application waits for slots. The source fails
      // meanwhile; nothing may be created after unpackLayer has rejected.
      const entries = Array.from({ length: 2000 }, (_, i) => ({ name: `f${i}`, data: randomBytes(8000) }));
      const tarBytes = await buildTar(entries);
      let sent = false;
      const input = new Readable({
        read() {
          if (!sent) {
            sent = true;
            this.push(tarBytes);
          } else setImmediate(() => this.destroy(new Error("connection reset")));
        },
      });
      const dir = target();
      const err = await unpackLayer(input, {
        target: dir,
        mediaType: MEDIA.none,
        whiteouts: "overlay",
        writeThread: "always",
      }).catch((e: unknown) => e);
      expect(String(err)).toContain("connection reset");
      // (snapshot, not fingerprint: no getfattr process per file for 2000 files)
      const at = snapshot(dir);
      await new Promise((r) => setTimeout(r, 300));
      expect(snapshot(dir)).toEqual(at);
      expect(filesOpenUnder(dir)).toEqual([]);
    });

    it("a write that fails on the second thread is EXTRACT_FAILED naming the entry, and no fd leaks", async () => {
      const small = join(root, "small");
      mkdirSync(small);
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "strata-test-layer-unpack", small]);
      try {
        const entries: Entry[] = [
          ...Array.from({ length: 40 }, (_, i) => ({ name: `f${i}`, data: randomBytes(4096) })),
          { name: "too-big", data: randomBytes(3 * 1024 * 1024) },
          ...Array.from({ length: 40 }, (_, i) => ({ name: `g${i}`, data: randomBytes(4096) })),
        ];
        const tarBytes = await buildTar(entries);
        const err = await unpack(tarBytes, "none", { writeThread: "always" }, small).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(UnpackError);
        expect(err).toMatchObject({ code: "EXTRACT_FAILED", entry: "too-big" });
        expect((err as Error).message).toContain("ENOSPC");
        expect(filesOpenUnder(small)).toEqual([]);
      } finally {
        execFileSync("umount", [small]);
      }
    });

    it("files keep their modes under any umask, owners in a setgid target (creation defaults)", async () => {
      const entries: Entry[] = [
        { name: "a", data: "a", mode: 0o644 },
        { name: "b", data: "b", mode: 0o755 },
        { name: "c", data: "c", mode: 0o666, gid: 5000 },
        { name: "d/", type: "directory", mode: 0o755 },
        { name: "d/e", data: "e", mode: 0o640 },
        { name: "d/l", type: "symlink", linkname: "e" },
      ];
      const tarBytes = await buildTar(entries);
      const old = process.umask(0o077);
      try {
        const sgid = target();
        chownSync(sgid, 0, 4242);
        chmodSync(sgid, 0o2755);
        const defaults = probeCreationDefaults(sgid);
        expect(defaults).toEqual({ uid: 0, gid: 0, permMask: 0o700 });
        for (const writeThread of ["never", "always"] as const) {
          const { dir } = await unpack(
            tarBytes,
            "none",
            { writeThread },
            writeThread === "never" ? sgid : target(),
          );
          const st = (p: string) => lstatSync(join(dir, p));
          expect([st("a").mode & 0o7777, st("b").mode & 0o7777, st("c").mode & 0o7777]).toEqual([
            0o644, 0o755, 0o666,
          ]);
          expect([st("d/e").mode & 0o7777, st("d").mode & 0o7777]).toEqual([0o640, 0o755]);
          expect([st("a").gid, st("c").gid, st("d/e").gid, st("d/l").gid]).toEqual([0, 5000, 0, 0]);
        }
      } finally {
        process.umask(old);
      }
    });
  },
  { commands: ["zstd", "getfattr", "mount"] },
);
