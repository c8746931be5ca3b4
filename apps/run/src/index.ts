export { ExitCode, reportError } from "./errors.js";
export { bytesSize, createdSince, humanDuration, humanSize, table } from "./format.js";
export { type MainIO, main } from "./main.js";
