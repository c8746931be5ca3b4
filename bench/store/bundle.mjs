// Bundle the strata CLI from its TypeScript sources into node_modules/.cache/strata-bench-store/
// strata.mjs (workspace packages inlined, npm dependencies left external and resolved from the repo's
// node_modules), so the benchmark measures the code, not the dev-only TypeScript loader. Equivalent to
// running the published package's dist/.
import { mkdir, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "rolldown";

// STRATA_BUNDLE_OUT (a directory ending in "/") overrides the output directory (run.sh's BASELINE).
const out =
  process.env.STRATA_BUNDLE_OUT ??
  fileURLToPath(new URL("../../node_modules/.cache/strata-bench-store/", import.meta.url));
await mkdir(out, { recursive: true });
await build({
  input: fileURLToPath(new URL("../../apps/run/src/main.ts", import.meta.url)),
  platform: "node",
  resolve: { conditionNames: ["@strata/source", "node", "import", "default"] },
  external: (id) => !id.startsWith("@strata/") && !id.startsWith(".") && !id.startsWith("/"),
  output: { dir: out, format: "esm", entryFileNames: "strata-main.mjs", chunkFileNames: "[name]-[hash].mjs" },
  logLevel: "warn",
});
await writeFile(
  `${out}strata.mjs`,
  'import { main } from "./strata-main.mjs";\nprocess.exitCode = await main(process.argv);\n',
);
console.log(`${out}strata.mjs`);
