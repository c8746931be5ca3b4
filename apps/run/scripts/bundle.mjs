#!/usr/bin/env node
// `npm run build` step of @strata/run: bundle the CLI (src/main.ts and the workspace packages it
// imports, from their TypeScript sources) into build/cli/, plus build/cli/stamp.json, the list of
// every input file with its mtime and size. bin/strata.js runs the bundle only while every input is
// unchanged (see bin/strata.js); otherwise it runs the sources. The bundle is for this checkout only
// (its paths are relative to it): the published package runs dist/.
import { existsSync, statSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve as resolvePath, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { rolldown } from "rolldown";

const appDir = fileURLToPath(new URL("..", import.meta.url));
const outDir = join(appDir, "build", "cli");
const repoRoot = resolvePath(appDir, "../..");
const entry = join(appDir, "src", "main.ts");
/** Loaded with require()/import() by path at run time or native: never inlined. */
const keepExternal = new Set(["zstd-napi"]);

const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/** True for TypeScript sources of this monorepo (not node_modules). */
const isWorkspaceSource = (id) =>
  id.startsWith(repoRoot + sep) && !id.includes(`${sep}node_modules${sep}`) && /\.m?ts$/.test(id);

/**
 * Sources compute paths from `import.meta.url` (the launch helper at ../build/Release, package.json,
 * bin/register.js) and resolve `@strata/*` with `import.meta.resolve`. Inlined into one file those
 * would point at the bundle: rewrite them to the original source file's URL (relative to the bundle,
 * resolved at run time) and to the `@strata/source` entry of the package, so the bundle sees exactly
 * the paths the sources see.
 */
function keepSourcePaths() {
  return {
    name: "strata-keep-source-paths",
    async transform(code, id) {
      if (!isWorkspaceSource(id)) return null;
      if (!code.includes("import.meta.url") && !code.includes("import.meta.resolve")) return null;
      const rel = (file) => {
        const r = relative(outDir, file).split(sep).join("/");
        return r.startsWith(".") ? r : `./${r}`;
      };
      let out = code.replaceAll(
        "import.meta.url",
        `new URL(${JSON.stringify(rel(id))}, import.meta.url).href`,
      );
      const calls = [...out.matchAll(/import\.meta\.resolve\(\s*(["'])(@strata\/[^"']+)\1\s*\)/g)];
      for (const [call, , spec] of calls) {
        const resolved = await this.resolve(spec, id);
        if (!resolved) throw new Error(`${id}: cannot resolve ${spec}`);
        out = out.replace(call, `new URL(${JSON.stringify(rel(resolved.id))}, import.meta.url).href`);
      }
      return { code: out, map: null };
    },
  };
}

/** One bundle into outDir; resolves with the input files' [path relative to outDir, mtimeMs, size]. */
async function bundleOnce() {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const bundle = await rolldown({
    input: { strata: entry },
    platform: "node",
    cwd: appDir,
    resolve: {
      conditionNames: ["@strata/source", "node", "import", "default"],
      extensionAlias: { ".js": [".ts", ".js"] },
    },
    external: (id) => builtins.has(id) || keepExternal.has(id),
    plugins: [keepSourcePaths()],
    logLevel: "warn",
  });
  const { output } = await bundle.write({
    dir: outDir,
    format: "esm",
    entryFileNames: "[name].mjs",
    chunkFileNames: "[name]-[hash].mjs",
  });
  await bundle.close();
  // every input file (sources and bundled dependencies) plus the package.json files that decided
  // how they resolved, and this script
  const inputs = new Set([fileURLToPath(import.meta.url)]);
  for (const chunk of output) {
    if (chunk.type !== "chunk") continue;
    for (const id of chunk.moduleIds) if (!id.startsWith("\0")) inputs.add(id);
  }
  for (const id of [...inputs]) {
    for (let d = dirname(id); d.startsWith(repoRoot); d = dirname(d)) {
      if (existsSync(join(d, "package.json"))) {
        inputs.add(join(d, "package.json"));
        break;
      }
    }
  }
  return [...inputs].sort().map((f) => {
    const s = statSync(f);
    return [relative(outDir, f), s.mtimeMs, s.size];
  });
}

// A source saved while rolldown runs could be bundled in its old state but stamped with its new
// mtime: when an input changed after the build started (less a margin for the coarse file clock),
// bundle again; after a few tries leave no stamp (bin/strata.js then runs the sources).
const MARGIN_MS = 100;
for (let attempt = 1; ; attempt++) {
  const started = Date.now();
  const files = await bundleOnce();
  const moved = files.filter(([, mtimeMs]) => mtimeMs >= started - MARGIN_MS);
  if (moved.length === 0) {
    const stamp = join(outDir, "stamp.json");
    await writeFile(`${stamp}.tmp`, `${JSON.stringify({ entry: "strata.mjs", files })}\n`);
    await rename(`${stamp}.tmp`, stamp);
    console.log(`bundled ${files.length} inputs into ${relative(repoRoot, outDir)}/`);
    break;
  }
  if (attempt === 5) {
    console.warn(
      `sources keep changing (${moved.map(([f]) => f).join(", ")}): no bundle stamp written; the CLI runs from source`,
    );
    break;
  }
  await new Promise((r) => setTimeout(r, MARGIN_MS));
}
