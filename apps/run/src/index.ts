export { main, type MainIO } from "./main.js";
export { ExitCode, reportError } from "./errors.js";
export { bytesSize, createdSince, humanDuration, humanSize, table } from "./format.js";
