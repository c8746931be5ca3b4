// Module hooks that let the strata CLI run straight from its TypeScript sources in a checkout
// (no build step), the way the tests run: resolve with the "@strata/source" export condition and
// strip types with oxc (rolldown/utils, a dev dependency via vite). Never used by the published
// package, which runs dist/.
import { readFile } from "node:fs/promises";
import { transformSync } from "rolldown/utils";

export async function resolve(specifier, context, next) {
  const conditions = context.conditions.includes("@strata/source")
    ? context.conditions
    : ["@strata/source", ...context.conditions];
  const ctx = { ...context, conditions };
  // TypeScript sources import siblings as "./x.js" (NodeNext): serve "./x.ts" when it exists.
  if (context.parentURL?.endsWith(".ts") && /^\.\.?\//.test(specifier) && specifier.endsWith(".js")) {
    try {
      return await next(`${specifier.slice(0, -3)}.ts`, ctx);
    } catch {
      // not a TypeScript sibling: resolve as written
    }
  }
  return next(specifier, ctx);
}

export async function load(url, context, next) {
  if (!url.startsWith("file:") || !url.endsWith(".ts") || url.endsWith(".d.ts")) return next(url, context);
  const filename = new URL(url).pathname;
  const source = await readFile(filename, "utf8");
  const out = transformSync(filename, source);
  if (out.errors.length > 0) {
    throw new Error(`cannot transform ${filename}: ${out.errors.map((e) => e.message).join("; ")}`);
  }
  return { format: "module", source: out.code, shortCircuit: true };
}
