#!/usr/bin/env node
// Second step of `npm run build`, after tsc: bundle the package's own modules (dist/*.js) into the
// one file dist/index.js, and drop the per-module .js files (the .d.ts files stay, for types).
// Why: loading ~20 ES modules (resolve, read, compile each) was two thirds of the package's import
// time; one file loads in about half the time (bench/pull/RESULTS.md). Dependencies stay external:
// @strata/oci-types is its own package (its error classes must stay the ones users import), undici
// is loaded by path at run time, and node builtins are node's.
import { readdir, rm, writeFile } from "node:fs/promises";
import { builtinModules } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { rolldown } from "rolldown";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
const isExternal = (id) => builtins.has(id) || !(id.startsWith(".") || id.startsWith("/"));

const bundle = await rolldown({
  input: join(dist, "index.js"),
  platform: "node",
  external: isExternal,
  logLevel: "warn",
});
const { output } = await bundle.generate({ format: "esm", sourcemap: true });
await bundle.close();

// the per-module files are inputs of the bundle: remove them before writing it over index.js
async function jsFiles(dir) {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await jsFiles(p)));
    else if (/\.js(\.map)?$/.test(e.name)) out.push(p);
  }
  return out;
}
for (const f of await jsFiles(dist)) await rm(f);

for (const item of output) {
  if (item.type === "chunk" && item.fileName !== "index.js")
    throw new Error(`unexpected extra chunk ${item.fileName}: the bundle must stay one file`);
  await writeFile(join(dist, item.fileName), item.type === "chunk" ? item.code : item.source);
}
