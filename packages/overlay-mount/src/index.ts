export { OverlayError, type OverlayErrorCode } from "./errors.js";
export {
  assertLayerId,
  type CreatedLayer,
  type CreateLayerOptions,
  createContainerLayer,
  createLayer,
  type LayerMountOptions,
  type LayerPaths,
  LINK_DIR,
  LINK_ID_LENGTH,
  layerMount,
  layerPaths,
  mountLayer,
  newLinkId,
  readLower,
  removeLayer,
  unmountLayer,
  unmountOverlay,
} from "./layers.js";
export { type Mounter, spawnMounter } from "./mounter.js";
export {
  decodeOctal,
  isMountPoint,
  listOverlayMounts,
  type OverlayMountInfo,
  parseOverlayMountInfo,
  parseOverlayProcMounts,
} from "./mounts.js";
export { removeTree } from "./remove-tree.js";
export {
  buildOverlayMount,
  DEFAULT_PAGE_SIZE,
  explainMount,
  MAX_LAYERS,
  mountCommand,
  mountData,
  type OverlayMount,
  type OverlayStack,
} from "./spec.js";
export { checkBackingFs, checkOverlaySupport } from "./support.js";
