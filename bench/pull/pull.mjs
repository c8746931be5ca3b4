// strata's side of the pull benchmark: pull REF into an OCI layout at DEST with the built dist of
// @strata/registry-pull, then print one JSON line {ms, maxRssKiB} (resourceUsage, whole process).
//   node bench/pull/pull.mjs 127.0.0.1:PORT/bench/usr:latest DEST
import { OciLayoutSink, pullImage } from "../../packages/registry-pull/dist/index.js";

const [ref, dest] = process.argv.slice(2);
if (!ref || !dest) {
  console.error("usage: pull.mjs REF DEST");
  process.exit(2);
}
const t0 = performance.now();
await pullImage(ref, new OciLayoutSink(dest), { dockerConfig: false });
const ms = performance.now() - t0;
if (process.env.STRATA_BENCH_REPORT) {
  console.log(JSON.stringify({ ms: Math.round(ms), maxRssKiB: process.resourceUsage().maxRSS }));
}
