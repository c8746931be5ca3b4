/** Registry API client and pushing: RegistryClient, pushImage, pushIndex, fetchToken. */

/** A runnable busybox rootfs layer. */
export { APP_USER, BUSYBOX_PATH, busyboxApplets, busyboxRootfs, busyboxRootfsEntries } from "./busybox.js";
export {
  ACCEPT_ALL_MANIFESTS,
  type Credentials,
  fetchToken,
  type PushOptions,
  parseChallenge,
  pushImage,
  pushIndex,
  RegistryClient,
  type RegistryTarget,
  type RequestOptions,
} from "./client.js";
/** Errors: TestkitError with a stable code. */
export { TestkitError, type TestkitErrorCode } from "./errors.js";
/** Image building: manifests, configs, indexes with attestation entries. */
export {
  type BlobData,
  type BuildImageOptions,
  type BuildIndexOptions,
  type BuiltImage,
  type BuiltIndex,
  buildAttestation,
  buildImage,
  buildIndex,
  hostPlatformSpec,
  type ImageConfigInput,
  type PlatformSpec,
} from "./image.js";
/** Leak checks for mounts, netns, links, cgroups, temp dirs and processes. */
export { assertNoLeaks, findLeaks, formatLeaks, type Leak, type LeakScanOptions } from "./leaks.js";
/** Media type constants and the layer media type per compression/format. */
export { type Compression, type ImageFormat, layerMediaType, MT } from "./media-types.js";
/** The root guard for privileged tests. */
export {
  describePrivileged,
  missingPrivileges,
  type PrivilegeNeeds,
  privilegedRequired,
} from "./privileged.js";
/** A real docker-registry per test file (none, basic, token auth; pull-through proxy). */
export {
  DEFAULT_CREDENTIALS,
  REGISTRY_BINARY,
  type RegistryHandle,
  registryBlobPath,
  type StartRegistryOptions,
  startRegistry,
} from "./registry.js";
/** Layer tars: every entry type, PAX xattrs (binary too), whiteouts; gzip/zstd/none. */
export {
  compress,
  DEFAULT_MTIME,
  type EntryBase,
  type Layer,
  type LayerEntry,
  layerFromTar,
  paxRecord,
  type TarLayerOptions,
  tarBytes,
  tarLayer,
} from "./tar.js";
/** The Docker-Hub-style token server. */
export {
  type Access,
  libtrustKeyId,
  type MintOptions,
  parseScope,
  startTokenServer,
  type TokenPolicy,
  type TokenRequestLog,
  type TokenServer,
  type TokenServerOptions,
} from "./token-server.js";
/** Helpers: sha256 digests, free ports. */
export { freePort, sha256 } from "./util.js";
