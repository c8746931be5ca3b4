// Time (ms) and RSS after importing one module, resolved from packages/registry-pull:
//   node bench/pull/import-cost.mjs zod|undici|@strata/oci-types|@strata/registry-pull|./path.js
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const spec = process.argv[2];
const from = new URL("../../packages/registry-pull/package.json", import.meta.url);
const resolved =
  spec.startsWith(".") || spec.startsWith("/")
    ? pathToFileURL(spec).href
    : pathToFileURL(createRequire(from).resolve(spec)).href;
const t0 = performance.now();
await import(resolved);
const ms = performance.now() - t0;
console.log(
  JSON.stringify({ spec, ms: Math.round(ms), rssMiB: Math.round(process.memoryUsage().rss / 1048576) }),
);
