import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describePrivileged } from "@strata/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { UnpackError, type UnpackOptions, unpackLayer } from "../src/index.js";
import { buildTar, type Comp, chunked, compress, MEDIA, removeTree, sha256, tempRoot } from "./helpers.js";

// Layers larger than the inline-hash limit (4 MiB), so both digests are computed on the worker thread;
// incompressible content keeps the compressed stream above the limit too.
const FILES = [randomBytes(5 * 1024 * 1024), randomBytes(3 * 1024 * 1024), randomBytes(1024 * 1024 + 17)];
const ZERO = `sha256:${"0".repeat(64)}`;

describePrivileged(
  "digests of large layers (computed off the main thread)",
  () => {
    let root: string;
    let tarBytes: Buffer;
    const blobs = {} as Record<Comp, Buffer>;
    let n = 0;
    beforeAll(async () => {
      root = tempRoot();
      tarBytes = await buildTar(FILES.map((data, i) => ({ name: `d/f${i}`, data })));
      for (const comp of ["gzip", "zstd", "none"] as const) blobs[comp] = compress(tarBytes, comp);
    });
    afterAll(() => removeTree(root));

    function target(): string {
      const dir = join(root, `t${n++}`);
      mkdirSync(dir);
      return dir;
    }

    async function run(comp: Comp, opts: Partial<UnpackOptions>, chunk = 65_536) {
      const dir = target();
      const result = await unpackLayer(chunked(blobs[comp], chunk), {
        target: dir,
        mediaType: MEDIA[comp],
        whiteouts: "overlay",
        ...opts,
      });
      return { dir, result };
    }

    it.each(["gzip", "zstd", "none"] as const)("verifies and reports both digests (%s)", async (comp) => {
      const blob = blobs[comp];
      const { dir, result } = await run(comp, {
        expectedDigest: sha256(blob),
        expectedDiffId: sha256(tarBytes),
      });
      expect(result).toMatchObject({
        digest: sha256(blob),
        diffId: sha256(tarBytes),
        size: tarBytes.length,
        compressedSize: blob.length,
        entries: FILES.length,
      });
      FILES.forEach((data, i) => {
        expect(readFileSync(join(dir, `d/f${i}`)).equals(data)).toBe(true);
      });
    });

    it("computes the same digests whatever the chunking (odd-sized chunks, one big chunk)", async () => {
      for (const chunk of [4093, blobs.gzip.length]) {
        const { result } = await run("gzip", {}, chunk);
        expect({ chunk, digest: result.digest, diffId: result.diffId }).toEqual({
          chunk,
          digest: sha256(blobs.gzip),
          diffId: sha256(tarBytes),
        });
      }
    });

    it("table of mismatches → DIGEST_MISMATCH", async () => {
      const cases: [string, Comp, Partial<UnpackOptions>][] = [
        ["wrong compressed digest (gzip)", "gzip", { expectedDigest: ZERO }],
        ["wrong diffID (gzip)", "gzip", { expectedDiffId: ZERO }],
        ["wrong diffID (zstd)", "zstd", { expectedDiffId: ZERO }],
        ["wrong digest (none)", "none", { expectedDigest: ZERO }],
        ["compressed digest given as diffID", "gzip", { expectedDiffId: sha256(blobs.gzip) }],
        ["wrong diffID, compressed digest skipped", "gzip", { skipDigest: true, expectedDiffId: ZERO }],
      ];
      for (const [what, comp, opts] of cases) {
        const code = await run(comp, opts).then(
          () => "ok",
          (err: unknown) => (err instanceof UnpackError ? err.code : String(err)),
        );
        expect({ what, code }).toEqual({ what, code: "DIGEST_MISMATCH" });
      }
    });

    it.each([
      ["gzip", undefined],
      ["zstd", undefined],
      ["none", "diffID"],
    ] as const)("skipDigest does not hash the compressed bytes (%s → digest %s)", async (comp, digest) => {
      const { result } = await run(comp, { skipDigest: true, expectedDiffId: sha256(tarBytes) });
      expect(result.diffId).toBe(sha256(tarBytes));
      expect(result.digest).toBe(digest === undefined ? undefined : sha256(tarBytes));
      expect(result.compressedSize).toBe(blobs[comp].length);
    });

    it("skipDigest together with expectedDigest is a TypeError", async () => {
      await expect(run("gzip", { skipDigest: true, expectedDigest: sha256(blobs.gzip) })).rejects.toThrow(
        TypeError,
      );
    });

    it("parallel unpacks share the hashing thread and each gets its own digests", async () => {
      const comps = ["gzip", "zstd", "none", "gzip", "zstd", "none"] as const;
      const results = await Promise.all(comps.map((comp) => run(comp, {})));
      expect(results.map((r) => [r.result.digest, r.result.diffId])).toEqual(
        comps.map((comp) => [sha256(blobs[comp]), sha256(tarBytes)]),
      );
    });
  },
  { commands: ["zstd"] },
);
