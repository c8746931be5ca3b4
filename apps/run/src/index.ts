export { runErrorExit } from "./commands/run.js";
export { completionScript } from "./completion.js";
export { ConfigError, configPaths, loadConfig, parseConfig, type StrataConfig } from "./config.js";
export { ExitCode, reportError } from "./errors.js";
export { bytesSize, createdSince, humanDuration, humanSize, table } from "./format.js";
export { type MainIO, main } from "./main.js";
