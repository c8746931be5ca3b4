// Bundle the strata CLI from its TypeScript sources into bench/store/.build/strata.mjs (workspace
// packages inlined, npm dependencies left external), so the benchmark measures the code, not the
// dev-only TypeScript loader. Equivalent to running the published package's dist/.
import { mkdir, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "rolldown";

const here = fileURLToPath(new URL(".", import.meta.url));
await mkdir(`${here}.build`, { recursive: true });
await build({
  input: fileURLToPath(new URL("../../apps/run/src/main.ts", import.meta.url)),
  platform: "node",
  resolve: { conditionNames: ["@strata/source", "node", "import", "default"] },
  external: (id) => !id.startsWith("@strata/") && !id.startsWith(".") && !id.startsWith("/"),
  output: { file: `${here}.build/strata-main.mjs`, format: "esm" },
  logLevel: "warn",
});
await writeFile(
  `${here}.build/strata.mjs`,
  'import { main } from "./strata-main.mjs";\nprocess.exitCode = await main(process.argv);\n',
);
console.log(`${here}.build/strata.mjs`);
