// Bundles strata.ts (the network package from source) into one .mjs that plain Node 20 runs.
import { rolldown } from "rolldown";

const [input, output] = process.argv.slice(2);
const build = await rolldown({
  input,
  platform: "node",
  resolve: { conditionNames: ["@strata/source", "import", "node", "default"] },
  logLevel: "silent",
});
await build.write({ file: output, format: "esm" });
await build.close();
