import { createHash } from "node:crypto";
import type { DigestAlgorithm } from "@strata/oci-types";
import type { Extractor } from "./extractor.js";
import { OffThreadDigest } from "./hash-worker.js";
import type { TarParser } from "./tar-parser.js";
import { WriteBehind, type WriteThreadMode, wantsWriteThread } from "./write-behind.js";

/** Tar bytes unpacked on this thread before a writer thread is taken: small layers never start one. */
export const WRITE_BEHIND_AFTER = 4 * 1024 * 1024;

/**
 * The uncompressed tar stream of a gzip or uncompressed layer on its way to the parser, hashed for
 * the diffID. Three stages: the first bytes are parsed and written here and kept for the digest; then
 * either a write-behind thread takes both the file data and the hashing, or (no thread to be had) the
 * hashing moves to the shared hashing thread and the files stay here.
 */
export class StreamApplier {
  private head: Buffer[] = [];
  private headLen = 0;
  private behind: WriteBehind | undefined;
  private offThread: OffThreadDigest | undefined;
  private readonly apply: (piece: Buffer) => void;

  constructor(
    private readonly parser: TarParser,
    private readonly extractor: Extractor,
    private readonly alg: DigestAlgorithm,
    private readonly mode: WriteThreadMode,
  ) {
    this.apply = (piece) => this.parser.push(piece);
  }

  /** Parse and apply `chunk`. Resolves when the next chunk may come (undefined: now). */
  push(chunk: Buffer): Promise<void> | undefined {
    if (this.behind !== undefined) return this.behind.push(chunk, this.apply);
    if (this.offThread !== undefined) {
      this.offThread.update(chunk);
      this.parser.push(chunk);
      return this.offThread.backlog();
    }
    if (this.mode === "always") {
      this.leaveHead();
      return this.push(chunk);
    }
    // The producer may reuse the chunk's memory: keep a copy for the digest.
    this.head.push(Buffer.from(chunk));
    this.headLen += chunk.length;
    this.parser.push(chunk);
    if (this.headLen >= WRITE_BEHIND_AFTER) this.leaveHead();
    return undefined;
  }

  /** After the last chunk: every file written; resolves with the diffID (`algorithm:hex`). */
  async end(): Promise<string> {
    if (this.offThread !== undefined) return this.offThread.digest();
    let hex: string;
    if (this.behind !== undefined) hex = (await this.behind.end()) as string;
    else {
      const h = createHash(this.alg);
      for (const b of this.takeHead()) h.update(b);
      hex = h.digest("hex");
    }
    return `${this.alg}:${hex}`;
  }

  /** The unpack failed: wait until the writer thread (if any) closed every file. */
  async abort(): Promise<void> {
    this.head = [];
    this.offThread?.dispose();
    await this.behind?.abort();
  }

  private leaveHead(): void {
    const head = this.takeHead();
    const behind = wantsWriteThread(this.mode) ? WriteBehind.staged(this.alg, head) : undefined;
    if (behind !== undefined) {
      this.behind = behind;
      this.extractor.setOutput(behind);
      return;
    }
    this.offThread = new OffThreadDigest(this.alg);
    for (const b of head) this.offThread.update(b);
  }

  private takeHead(): Buffer[] {
    const head = this.head;
    this.head = [];
    this.headLen = 0;
    return head;
  }
}
