// Builds native/helper.c into build/Release/strata-launch-helper with node-gyp (the `install`
// script, so `npm ci` builds it). node-gyp needs node's common.gypi: when no nodedir is configured
// and the running node ships its headers (Debian's nodejs does, in /usr/include/node), use them
// instead of downloading.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

const args = ["rebuild"];
const prefix = dirname(dirname(process.execPath));
if (!process.env.npm_config_nodedir && existsSync(join(prefix, "include", "node", "common.gypi"))) {
  args.push(`--nodedir=${prefix}`);
}
const nodeGyp = process.env.npm_config_node_gyp;
const result = nodeGyp
  ? spawnSync(process.execPath, [nodeGyp, ...args], { stdio: "inherit" })
  : spawnSync("node-gyp", args, { stdio: "inherit" });
if (result.error) {
  console.error(
    `@strata/launch: cannot run node-gyp (${result.error.message}); install it or run npm rebuild`,
  );
  process.exit(1);
}
process.exit(result.status ?? 1);
