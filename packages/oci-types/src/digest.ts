import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { DigestMismatchError, InvalidDigestError, SizeMismatchError } from "./errors.js";

/** Digest algorithms strata accepts (the OCI registered ones it can verify). */
export type DigestAlgorithm = "sha256" | "sha512";

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  /** The encoded part: lowercase hex. */
  hex: string;
}

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

/**
 * Strict form only: a known algorithm, a colon, lowercase hex of the exact length. This is
 * checked before a digest is ever used in a path or URL (CVE-2024-3727).
 */
const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/** True when `s` is a valid, strictly formatted sha256 or sha512 digest. */
export function isDigest(s: unknown): s is string {
  return typeof s === "string" && DIGEST_RE.test(s);
}

/** Parse and validate a digest; throws {@link InvalidDigestError} saying what is wrong. */
export function parseDigest(s: string): ParsedDigest {
  if (typeof s !== "string") throw new InvalidDigestError(String(s), "not a string");
  if (DIGEST_RE.test(s)) {
    const i = s.indexOf(":");
    return { algorithm: s.slice(0, i) as DigestAlgorithm, hex: s.slice(i + 1) };
  }
  const i = s.indexOf(":");
  if (i < 0) throw new InvalidDigestError(s, 'missing the "algorithm:" prefix');
  const algorithm = s.slice(0, i);
  const hex = s.slice(i + 1);
  if (algorithm !== "sha256" && algorithm !== "sha512") {
    throw new InvalidDigestError(s, `unsupported algorithm ${JSON.stringify(algorithm)}`);
  }
  if (/^[a-fA-F0-9]+$/.test(hex) && /[A-F]/.test(hex)) {
    throw new InvalidDigestError(s, "hex must be lowercase");
  }
  if (!/^[a-f0-9]*$/.test(hex)) throw new InvalidDigestError(s, "the encoded part is not hex");
  throw new InvalidDigestError(
    s,
    `${algorithm} needs ${HEX_LENGTH[algorithm]} hex characters, got ${hex.length}`,
  );
}

/** Format a parsed digest back to `algorithm:hex`. */
export function formatDigest(d: ParsedDigest): string {
  return `${d.algorithm}:${d.hex}`;
}

/** Digest of bytes, e.g. `sha256:…`. */
export function digestOf(bytes: Uint8Array | string, algorithm: DigestAlgorithm = "sha256"): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
}

/** True when both are valid digests and name the same content hash. Throws on an invalid digest. */
export function digestEquals(a: string, b: string): boolean {
  const pa = parseDigest(a);
  const pb = parseDigest(b);
  return pa.algorithm === pb.algorithm && pa.hex === pb.hex;
}

/** An incremental hasher. */
export interface Digester {
  readonly algorithm: DigestAlgorithm;
  /** Bytes hashed so far. */
  readonly size: number;
  update(chunk: Uint8Array | string): this;
  /** The digest of everything so far, `algorithm:hex`. Can be called once. */
  digest(): string;
}

/** An incremental hasher for `algorithm`. */
export function createDigester(algorithm: DigestAlgorithm = "sha256"): Digester {
  if (algorithm !== "sha256" && algorithm !== "sha512") {
    throw new InvalidDigestError(
      `${String(algorithm)}:`,
      `unsupported algorithm ${JSON.stringify(algorithm)}`,
    );
  }
  const hash: Hash = createHash(algorithm);
  let size = 0;
  return {
    algorithm,
    get size() {
      return size;
    },
    update(chunk) {
      hash.update(chunk);
      size += typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.byteLength;
      return this;
    },
    digest() {
      return `${algorithm}:${hash.digest("hex")}`;
    },
  };
}

export interface DigestVerifierOptions {
  /** Expected byte count. More bytes fail at once; fewer fail at the end. */
  size?: number;
}

/**
 * A pass-through Transform that hashes what flows through it and, at the end, errors with
 * {@link DigestMismatchError} (`DIGEST_MISMATCH`) or {@link SizeMismatchError} (`SIZE_MISMATCH`).
 * Consumers must treat the bytes as untrusted until the stream finishes without error.
 */
export class DigestVerifier extends Transform {
  readonly expected: string;
  readonly expectedSize: number | undefined;
  readonly #digester: Digester;
  #actual: string | undefined;

  constructor(expected: string, options: DigestVerifierOptions = {}) {
    super();
    const { algorithm } = parseDigest(expected);
    if (options.size !== undefined && !(Number.isSafeInteger(options.size) && options.size >= 0)) {
      throw new RangeError(`expected size must be a non-negative integer, got ${options.size}`);
    }
    this.expected = expected;
    this.expectedSize = options.size;
    this.#digester = createDigester(algorithm);
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.#digester.size;
  }

  /** The digest of the bytes seen, once the stream has ended. */
  get actual(): string | undefined {
    return this.#actual;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#digester.update(chunk);
    // Fail early on overflow: a source that sends more than announced must not fill a disk.
    if (this.expectedSize !== undefined && this.#digester.size > this.expectedSize) {
      callback(new SizeMismatchError(this.expectedSize, this.#digester.size, this.expected, true));
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#actual = this.#digester.digest();
    if (this.expectedSize !== undefined && this.#digester.size !== this.expectedSize) {
      callback(new SizeMismatchError(this.expectedSize, this.#digester.size, this.expected));
      return;
    }
    if (this.#actual !== this.expected) {
      callback(new DigestMismatchError(this.expected, this.#actual));
      return;
    }
    callback();
  }
}

/** Create a {@link DigestVerifier}. Throws {@link InvalidDigestError} for a bad `expected`. */
export function createDigestVerifier(expected: string, options: DigestVerifierOptions = {}): DigestVerifier {
  return new DigestVerifier(expected, options);
}
