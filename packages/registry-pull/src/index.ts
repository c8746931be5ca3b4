/**
 * @strata/registry-pull: pull images from Docker Hub and any OCI registry into a caller-supplied
 * sink. Knows nothing of disk layout; ships an OCI image-layout sink.
 */
export { type Challenge, parseChallenges } from "./auth/challenge.js";
export { checkRealm } from "./auth/realm.js";
export { contentRangeStart } from "./blob.js";
export type { Endpoint, RegistryClientOptions } from "./client.js";
export {
  type CredentialSource,
  type Credentials,
  chainCredentials,
  configKeysFor,
  type DockerConfigOptions,
  defaultDockerConfigPath,
  dockerConfigCredentials,
  type HelperRunner,
  runCredentialHelper,
  staticCredentials,
} from "./credentials.js";
export {
  AbortedError,
  BlobDigestMismatchError,
  BlobSizeMismatchError,
  CredentialsError,
  DeniedError,
  HttpStatusError,
  InsecureRealmError,
  InsecureRedirectError,
  InvalidOptionError,
  ManifestTooLargeError,
  NetworkError,
  NotFoundError,
  RegistryError,
  type RegistryErrorCode,
  TokenError,
  TooManyRequestsError,
  UnauthorizedError,
} from "./errors.js";
export {
  createUndiciTransport,
  type HttpRequest,
  type HttpResponse,
  type HttpTransport,
  type UndiciTransportOptions,
} from "./http.js";
export { MAX_MANIFEST_BYTES } from "./manifest.js";
export { createNodeHttpTransport, type NodeHttpTransportOptions } from "./node-http.js";
export { OciLayoutSink, type OciLayoutSinkOptions } from "./oci-layout-sink.js";
export {
  createRegistryClient,
  MAX_CONFIG_BYTES,
  type PullOptions,
  pullImage,
  type RegistryClient,
  type ResolveOptions,
  resolveImage,
} from "./pull.js";
export { backoffDelay, parseRetryAfter, type RetryOptions } from "./retry.js";
export { createSocketTransport, type SocketTransportOptions } from "./socket-http.js";
export type { ImageSink, LayerWriter, PullEvent, ResolvedImage } from "./types.js";
