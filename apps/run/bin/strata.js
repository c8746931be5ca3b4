#!/usr/bin/env node
// strata CLI entry.
// - Installed package (no src/ next to this file), or STRATA_USE_DIST=1: runs dist/ (tsc output).
// - Source checkout: runs build/cli/strata.mjs, the bundle (an entry and a few lazy chunks) `npm run build` makes
//   (scripts/bundle.mjs), but only while it is fresh: build/cli/stamp.json lists every file the
//   bundle was made from (sources, bundled dependencies, the package.json files that resolved them)
//   with its mtime and size, and a single difference (or a missing file) means stale. Otherwise, or
//   with STRATA_FROM_SOURCE=1, it registers a small TypeScript loader and runs src/ (no build step;
//   ~0.3 s slower per start).
import { existsSync, readFileSync, statSync } from "node:fs";
import module from "node:module";

// Node >= 22.1 keeps V8's compiled code of the modules loaded below on disk (in os.tmpdir()); Node 20
// has no such API (and no gain from a hand-rolled vm.Script cache: bench/run/RESULTS.md).
module.enableCompileCache?.();

/** True when the bundle exists and every input has the mtime and size the build recorded. */
function freshBundle() {
  const stampUrl = new URL("../build/cli/stamp.json", import.meta.url);
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(stampUrl, "utf8"));
  } catch {
    return false;
  }
  if (!Array.isArray(stamp?.files) || stamp.files.length === 0) return false;
  for (const [rel, mtimeMs, size] of stamp.files) {
    const s = statSync(new URL(rel, stampUrl), { throwIfNoEntry: false });
    if (s === undefined || s.mtimeMs !== mtimeMs || s.size !== size) return false;
  }
  return existsSync(new URL(stamp.entry, stampUrl));
}

// `strata images | head`: a reader that goes away early is no error (docker dies of SIGPIPE, quietly)
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error) => {
    if (error.code !== "EPIPE") throw error;
    process.exit(process.exitCode ?? 0);
  });
}

const env = process.env;
let entry;
if (!existsSync(new URL("../src/main.ts", import.meta.url)) || env.STRATA_USE_DIST === "1") {
  entry = "../dist/main.js";
} else if (env.STRATA_FROM_SOURCE !== "1" && freshBundle()) {
  entry = "../build/cli/strata.mjs";
} else {
  await import("./register.js");
  entry = "../src/main.ts";
}
const { main } = await import(entry);
process.exitCode = await main(process.argv);
