import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describePrivileged } from "@strata/testkit";
import { afterEach, beforeEach, expect, it } from "vitest";
import { UnpackError, type UnpackOptions, unpackLayer } from "../src/index.js";
import {
  buildTar,
  chunked,
  type Entry,
  fingerprint,
  MEDIA,
  removeTree,
  sha256,
  snapshot,
  tempRoot,
  zstdSync,
} from "./helpers.js";

// Layers whose compressed stream is over 1 MiB are decoded (and hashed) on a worker thread; these
// tests use incompressible content so that every case below takes that path, and compare it with the
// pure-JS decoder on the main thread.
const BIG = () => randomBytes(3 * 1024 * 1024);

describePrivileged(
  "zstd decoded on a worker thread",
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

    async function unpack(blob: Buffer, opts: Partial<UnpackOptions> = {}, chunk = 65_536) {
      const dir = target();
      const result = await unpackLayer(chunked(blob, chunk), {
        target: dir,
        mediaType: MEDIA.zstd,
        whiteouts: "overlay",
        ...opts,
      });
      return { dir, result };
    }

    async function code(blob: Buffer, opts: Partial<UnpackOptions> = {}): Promise<string> {
      return unpack(blob, opts).then(
        () => "ok",
        (err: unknown) => (err instanceof UnpackError ? err.code : String(err)),
      );
    }

    it("gives the same tree and digests as the main-thread decoder (many small files, links)", async () => {
      const entries: Entry[] = [{ name: "big", data: BIG() }];
      for (let i = 0; i < 300; i++) {
        entries.push({ name: `d${i % 7}/f${i}`, data: randomBytes(i * 37), mode: 0o600 + (i % 0o100) });
      }
      entries.push({ name: "d1/sym", type: "symlink", linkname: "../d2/f2" });
      entries.push({ name: "d3/hard", type: "link", linkname: "d0/f7" });
      entries.push({ name: "tail", data: BIG() });
      const tarBytes = await buildTar(entries);
      const blob = zstdSync(tarBytes);
      expect(blob.length).toBeGreaterThan(2 * 1024 * 1024);
      const native = await unpack(blob, { expectedDigest: sha256(blob), expectedDiffId: sha256(tarBytes) });
      const js = await unpack(blob, { zstd: "js" });
      expect(native.result).toEqual(js.result);
      expect(native.result).toMatchObject({ digest: sha256(blob), diffId: sha256(tarBytes) });
      expect(snapshot(native.dir)).toEqual(snapshot(js.dir));
    });

    it("the same digests for any input chunking (one piece, odd pieces)", async () => {
      const tarBytes = await buildTar([{ name: "a", data: BIG() }]);
      const blob = zstdSync(tarBytes);
      for (const chunk of [blob.length, 4093]) {
        const { result } = await unpack(blob, {}, chunk);
        expect({ chunk, d: result.digest, i: result.diffId }).toEqual({
          chunk,
          d: sha256(blob),
          i: sha256(tarBytes),
        });
      }
    });

    it("a decompression bomb stops at limits.maxBytes, having read little of it", async () => {
      // A valid tar (2 MiB of noise, then the end blocks) followed by 16,384 frames of 64 MiB of zeros
      // (~35 MB compressed, 1 TiB expanded): the decoder runs ahead of the file writes only by its
      // bounded buffers, so the input is abandoned after a few MiB.
      const head = zstdSync(await buildTar([{ name: "noise", data: randomBytes(2 * 1024 * 1024) }]));
      const zeros = zstdSync(Buffer.alloc(64 * 1024 * 1024));
      const bomb = Buffer.concat([head, ...Array.from({ length: 16_384 }, () => zeros)]);
      let read = 0;
      const stream = Readable.from(
        (function* () {
          for (let off = 0; off < bomb.length; off += 65_536) {
            read += Math.min(65_536, bomb.length - off);
            yield bomb.subarray(off, off + 65_536);
          }
        })(),
        { objectMode: false },
      );
      const dir = target();
      await expect(
        unpackLayer(stream, {
          target: dir,
          mediaType: MEDIA.zstd,
          whiteouts: "overlay",
          limits: { maxBytes: 8 * 1024 * 1024 },
        }),
      ).rejects.toMatchObject({ code: "LIMIT_EXCEEDED" });
      expect(read).toBeLessThan(head.length + 8 * 1024 * 1024);
      expect(read).toBeLessThan(bomb.length / 4);
    });

    it("corrupt or truncated data past the first MiB is INVALID_TAR", async () => {
      const tarBytes = await buildTar([
        { name: "a", data: BIG() },
        { name: "b", data: BIG() },
      ]);
      const blob = zstdSync(tarBytes);
      const corrupt = Buffer.from(blob);
      corrupt.fill(0x55, 4 * 1024 * 1024, 4 * 1024 * 1024 + 4096);
      expect(await code(corrupt)).toBe("INVALID_TAR");
      expect(await code(blob.subarray(0, blob.length - 100))).toBe("INVALID_TAR");
    });

    it("a breakout after the first MiB fails and nothing outside the target changes", async () => {
      const outside = join(root, "outside");
      mkdirSync(outside);
      writeFileSync(join(outside, "victim"), "keep");
      const before = fingerprint(outside);
      const cases: [string, Entry[], string][] = [
        ["dot-dot name", [{ name: "../outside/evil", data: "x" }], "UNSAFE_PATH"],
        [
          "write through a symlinked parent",
          [
            { name: "l", type: "symlink", linkname: outside },
            { name: "l/victim", data: "overwritten" },
            { name: "l/new", data: "created" },
          ],
          "ok",
        ],
        [
          "hardlink out of the tree",
          [{ name: "h", type: "link", linkname: "../outside/victim" }],
          "UNSAFE_PATH",
        ],
      ];
      for (const [what, tail, expected] of cases) {
        const blob = zstdSync(await buildTar([{ name: "big", data: BIG() }, ...tail]));
        expect({ what, code: await code(blob) }).toEqual({ what, code: expected });
        expect({ what, outside: fingerprint(outside) }).toEqual({ what, outside: before });
      }
      expect(readFileSync(join(outside, "victim"), "utf8")).toBe("keep");
      expect(readdirSync(outside)).toEqual(["victim"]);
    });

    it("parallel unpacks each get their own thread and digests", async () => {
      const layers = await Promise.all(
        [0, 1, 2].map(async (i) => buildTar([{ name: `f${i}`, data: BIG() }])),
      );
      const blobs = layers.map(zstdSync);
      const results = await Promise.all(blobs.map((b) => unpack(b)));
      expect(results.map((r) => [r.result.digest, r.result.diffId])).toEqual(
        blobs.map((b, i) => [sha256(b), sha256(layers[i] as Buffer)]),
      );
    });
  },
  { commands: ["zstd", "getfattr"] },
);
