export { fsyncDir, readOptional, writeFileAtomic } from "./atomic.js";
export {
  ImageNotFoundError,
  StoreError,
  type StoreErrorCode,
  StoreLockedError,
} from "./errors.js";
export { newCacheId, newLinkId, ownerAlive, ownerToken } from "./ids.js";
export { directorySize, type LayerRecord } from "./layerdb.js";
export { DEFAULT_ROOT, StoreLayout } from "./layout.js";
export { type LockOptions, StoreLock } from "./lock.js";
export { type RepositoriesFile, referenceKey } from "./repositories.js";
export { type SinkOptions, StoreSink } from "./sink.js";
export { ImageStore, type ImageStoreOptions, type RemoveOptions, rfc3339Nano } from "./store.js";
export type {
  ImageDetails,
  ImageSummary,
  LayerDetails,
  PruneResult,
  RemoveEntry,
  SinkImage,
  StoreLayerWriter,
} from "./types.js";
