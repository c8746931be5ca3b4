#!/usr/bin/env node
// strata CLI entry. In a source checkout (src/ next to this file) it registers a tiny TypeScript
// loader and runs the sources, so no build step is needed; an installed package (no src/) runs dist/.
import { existsSync } from "node:fs";

const fromSource =
  existsSync(new URL("../src/main.ts", import.meta.url)) && process.env.STRATA_USE_DIST !== "1";
let entry;
if (fromSource) {
  await import("./register.js");
  entry = "../src/main.ts";
} else {
  entry = "../dist/main.js";
}
const { main } = await import(entry);
process.exitCode = await main(process.argv);
