// `node --import ./apps/run/bin/register.js file.ts`: run any TypeScript file of the monorepo from
// source, with the "@strata/source" export condition (dev and bench scripts; see ts-loader.js).
import { register } from "node:module";

register("./ts-loader.js", import.meta.url);
