export { type Compression, compressionOf, sniffCompression } from "./compression.js";
export { commandEffects, type UnpackEffects, type XattrOp } from "./effects.js";
export { UnpackError, type UnpackErrorCode } from "./errors.js";
export type { WhiteoutMode } from "./extractor.js";
export { type EntryType, type TarEntry, TarParser, type TarSink } from "./tar-parser.js";
export {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_ENTRIES,
  type UnpackLimits,
  type UnpackOptions,
  type UnpackResult,
  unpackLayer,
} from "./unpack.js";
