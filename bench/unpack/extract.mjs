// Unpack one layer file with @strata/layer-unpack (built JS in $STRATA_UNPACK_DIST) into a directory.
// Usage: node extract.mjs <layer.tar[.gz|.zst]> <target-dir> [overlay|flat]
import { createReadStream } from "node:fs";
import { resolve } from "node:path";

const [layer, target, whiteouts = "overlay"] = process.argv.slice(2);
if (!layer || !target) {
  console.error("usage: node extract.mjs <layer.tar[.gz|.zst]> <target-dir> [overlay|flat]");
  process.exit(2);
}
const dist = process.env.STRATA_UNPACK_DIST;
if (!dist) {
  console.error("set STRATA_UNPACK_DIST to the built package's dist/index.js (run.sh does this)");
  process.exit(2);
}
const { unpackLayer } = await import(dist);
const mediaType = layer.endsWith(".gz")
  ? "application/vnd.oci.image.layer.v1.tar+gzip"
  : layer.endsWith(".zst")
    ? "application/vnd.oci.image.layer.v1.tar+zstd"
    : "application/vnd.oci.image.layer.v1.tar";
const started = process.hrtime.bigint();
// STRATA_BENCH_READ_CHUNK: input chunk size (default 1 MiB; an HTTP body arrives in ~64 KiB pieces)
const readChunk = Number(process.env.STRATA_BENCH_READ_CHUNK ?? 1 << 20);
// STRATA_BENCH_WRITE_THREAD: the writeThread option (auto, always, never)
const writeThread = process.env.STRATA_BENCH_WRITE_THREAD;
const result = await unpackLayer(createReadStream(layer, { highWaterMark: readChunk }), {
  target: resolve(target),
  mediaType,
  whiteouts,
  ...(writeThread ? { writeThread } : {}),
});
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
if (process.env.STRATA_BENCH_VERBOSE) {
  console.error(
    `${result.entries} entries, ${(result.size / 1e6).toFixed(0)} MB in ${seconds.toFixed(2)} s = ${(result.entries / seconds).toFixed(0)} files/s`,
  );
}
