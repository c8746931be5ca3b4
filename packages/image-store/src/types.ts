import type { ImageConfig, Reference } from "@strata/oci-types";

/** What the store reads from registry-pull's ResolvedImage (structurally compatible with it). */
export interface SinkImage {
  reference: Reference;
  indexDigest?: string;
  manifestDigest: string;
  manifest: { raw: Buffer; mediaType: string; digest: string };
  config: { digest: string; raw: Buffer; value: ImageConfig };
  layers: ReadonlyArray<{ digest: string; mediaType: string; size: number }>;
}

/** registry-pull's LayerWriter, as implemented by the store. */
export interface StoreLayerWriter {
  stream: NodeJS.WritableStream & import("node:stream").Writable;
  commit(): Promise<void>;
  abort(reason: Error): Promise<void>;
}

export interface ImageSummary {
  /** `sha256:<hex>`: the digest of the config bytes. */
  id: string;
  /** Tag references from repositories.json, e.g. `ubuntu:20.04`. */
  repoTags: string[];
  /** Digest references, e.g. `ubuntu@sha256:…`. */
  repoDigests: string[];
  /** `created` from the image config (RFC 3339), if any. */
  created?: string;
  /** Sum of the sizes of the image's layers (bytes), as `docker images` SIZE. */
  size: number;
  layerCount: number;
  /** imagedb metadata `lastUpdated` (RFC 3339), if set. */
  lastUpdated?: string;
}

export interface LayerDetails {
  chainId: string;
  diffId: string;
  size: number;
  cacheId: string;
  parent?: string;
  /** Absolute `overlay2/<cacheId>/diff`. */
  diffDir: string;
  /** 26-char short link id (`overlay2/l/<linkId>`). */
  linkId: string;
  /** Contents of the `lower` file (`l/A:l/B`, uppermost first), undefined for the base layer. */
  lower?: string;
  /** Compressed blob digest and media type, when the manifest is known. */
  digest?: string;
  mediaType?: string;
}

export interface ImageDetails extends ImageSummary {
  config: { raw: Buffer; value: ImageConfig };
  /** The manifest the image was pulled with (strata keeps it; Docker's legacy store does not). */
  manifest?: { digest: string; raw: Buffer; value: unknown };
  /** Base layer first. */
  layers: LayerDetails[];
  /** ChainID of the whole stack. */
  chainId: string;
}

/** One line of `docker rmi` output: `{ Untagged: "ubuntu:20.04" }` or `{ Deleted: "sha256:…" }`. */
export type RemoveEntry = { Untagged: string } | { Deleted: string };

export interface PruneResult {
  deleted: RemoveEntry[];
  /** Bytes of layer data freed. */
  spaceReclaimed: number;
}
