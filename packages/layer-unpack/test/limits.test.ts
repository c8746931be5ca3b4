import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { describePrivileged } from "@strata/testkit";
import { afterEach, beforeEach, expect, it } from "vitest";
import { unpackLayer } from "../src/index.js";
import { buildTar, compress, MEDIA, removeTree, tempRoot } from "./helpers.js";

describePrivileged(
  "decompression bombs and entry floods",
  () => {
    let root: string;
    let target: string;
    beforeEach(() => {
      root = tempRoot();
      target = join(root, "t");
      mkdirSync(target);
    });
    afterEach(() => removeTree(root));

    /** Counts the compressed bytes the unpacker actually pulled (the generator runs only on demand). */
    function counted(buf: Buffer): { stream: Readable; read: () => number } {
      let n = 0;
      const stream = Readable.from(
        (function* () {
          for (let off = 0; off < buf.length; off += 16_384) {
            n += Math.min(16_384, buf.length - off);
            yield buf.subarray(off, off + 16_384);
          }
        })(),
        { objectMode: false },
      );
      return { stream, read: () => n };
    }

    it("10 GiB of gzip'd zeros under a 1 MiB cap stops early with LIMIT_EXCEEDED", async () => {
      // 160 concatenated gzip members of 64 MiB of zeros each: ~10 MiB compressed, 10 GiB expanded.
      const member = gzipSync(Buffer.alloc(64 * 1024 * 1024));
      const bomb = Buffer.concat(Array.from({ length: 160 }, () => member));
      const { stream, read } = counted(bomb);
      await expect(
        unpackLayer(stream, {
          target,
          mediaType: MEDIA.gzip,
          whiteouts: "overlay",
          limits: { maxBytes: 1 << 20 },
        }),
      ).rejects.toMatchObject({
        code: "LIMIT_EXCEEDED",
        message: expect.stringContaining("limits.maxBytes"),
      });
      // it stopped after the read-ahead (~1 MiB), far from the 10 MiB of input (10 GiB expanded)
      expect(read()).toBeLessThan(bomb.length / 4);
      expect(readdirSync(target)).toEqual([]);
    });

    it("a file entry claiming more data than the cap fails at its header", async () => {
      const tarBytes = await buildTar([{ name: "big", data: Buffer.alloc(3 << 20) }]);
      await expect(
        unpackLayer(Readable.from([compress(tarBytes, "zstd")]), {
          target,
          mediaType: MEDIA.zstd,
          whiteouts: "overlay",
          limits: { maxBytes: 2 << 20 },
        }),
      ).rejects.toMatchObject({ code: "LIMIT_EXCEEDED" });
    });

    it("more entries than maxEntries is LIMIT_EXCEEDED", async () => {
      const tarBytes = await buildTar(Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, data: "x" })));
      await expect(
        unpackLayer(Readable.from([tarBytes]), {
          target,
          mediaType: MEDIA.none,
          whiteouts: "overlay",
          limits: { maxEntries: 20 },
        }),
      ).rejects.toMatchObject({ code: "LIMIT_EXCEEDED", message: expect.stringContaining("maxEntries") });
      expect(readdirSync(target).length).toBeLessThanOrEqual(20);
    });

    it("a layer exactly at the caps unpacks", async () => {
      const tarBytes = await buildTar(Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, data: "x" })));
      const r = await unpackLayer(Readable.from([tarBytes]), {
        target,
        mediaType: MEDIA.none,
        whiteouts: "overlay",
        limits: { maxEntries: 20, maxBytes: tarBytes.length },
      });
      expect(r.entries).toBe(20);
    });
  },
  { commands: ["zstd"] },
);
