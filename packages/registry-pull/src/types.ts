/** The registry-pull ↔ sink seam (docs/internal-contracts.md). */
import type { Writable } from "node:stream";
import type { Descriptor, ImageConfig, ParsedManifest, Platform, Reference } from "@strata/oci-types";

export interface ResolvedImage {
  /** What was asked for. */
  reference: Reference;
  /** When the tag resolved to an index/list: its digest and document. */
  indexDigest?: string;
  index?: ParsedManifest;
  manifestDigest: string;
  manifest: ParsedManifest;
  config: { digest: string; raw: Buffer; value: ImageConfig };
  /** In manifest order (base first). */
  layers: Descriptor[];
  platform: Platform;
}

export interface LayerWriter {
  /** registry-pull writes the compressed bytes here and end()s it. */
  stream: Writable;
  /** After size + digest verified; resolves when durable. */
  commit(): Promise<void>;
  /** Mismatch, cancel, or restart-from-zero: discard everything. */
  abort(reason: Error): Promise<void>;
  /**
   * Optional. True when `stream` is done with a chunk once that write's callback has run (it wrote
   * or copied it and keeps no reference, as `fs.WriteStream` does): registry-pull then reuses the
   * chunk's memory for later bytes, which saves faulting in fresh memory for every byte pulled.
   * Leave it unset for a stream that may hold on to chunks (a Transform, a PassThrough).
   */
  releasesChunks?: boolean;
}

export interface ImageSink {
  /** Already stored? Then the layer is not downloaded (a "present" progress event is emitted). */
  hasLayer(image: ResolvedImage, index: number): Promise<boolean>;
  /** Open a writer for layer `index`. Bytes arrive in order, once, continuous across resumes. */
  openLayer(image: ResolvedImage, index: number): Promise<LayerWriter>;
  /** Everything is in: store config/manifest/tags. */
  commitImage(image: ResolvedImage): Promise<void>;
}

interface LayerEventBase {
  type: "layer";
  /** Index in `image.layers`. */
  index: number;
  digest: string;
  /** Compressed size from the manifest. */
  size: number;
}

/** Progress, per layer, so a CLI can draw bars and a CI log can print lines. */
export type PullEvent =
  | { type: "resolved"; image: ResolvedImage }
  | (LayerEventBase & { status: "waiting" })
  | (LayerEventBase & { status: "present" })
  | (LayerEventBase & { status: "downloading"; bytes: number; total: number })
  | (LayerEventBase & { status: "retrying"; attempt: number; delayMs: number; reason: string })
  | (LayerEventBase & { status: "restarted"; reason: string })
  | (LayerEventBase & { status: "verifying" })
  | (LayerEventBase & { status: "done" })
  | { type: "committed"; image: ResolvedImage };
