import { createHash } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import {
  createDigester,
  createDigestVerifier,
  DigestVerifier,
  digestEquals,
  digestOf,
  formatDigest,
  isDigest,
  parseDigest,
} from "./digest.js";
import { DigestMismatchError, InvalidDigestError, SizeMismatchError } from "./errors.js";

const hex256 = (s: string) => createHash("sha256").update(s).digest("hex");
const hex512 = (s: string) => createHash("sha512").update(s).digest("hex");
const HELLO256 = `sha256:${hex256("hello")}`;
const HELLO512 = `sha512:${hex512("hello")}`;

describe("parseDigest / isDigest", () => {
  it.each([
    [HELLO256, "sha256", hex256("hello")],
    [HELLO512, "sha512", hex512("hello")],
  ])("accepts %s", (input, algorithm, hex) => {
    expect(isDigest(input)).toBe(true);
    expect(parseDigest(input)).toEqual({ algorithm, hex });
    expect(formatDigest(parseDigest(input))).toBe(input);
  });

  const bad: Array<[string, string, RegExp]> = [
    ["path traversal (CVE-2024-3727)", "sha256:../../x", /not hex/],
    ["path traversal with valid length", `sha256:../${"a".repeat(61)}`, /not hex/],
    ["uppercase hex", `sha256:${"A".repeat(64)}`, /lowercase/],
    ["mixed case hex", `sha256:${"a".repeat(63)}F`, /lowercase/],
    ["uppercase algorithm", `SHA256:${"a".repeat(64)}`, /unsupported algorithm/],
    ["unknown algorithm", `sha384:${"a".repeat(96)}`, /unsupported algorithm/],
    ["no colon", "a".repeat(64), /algorithm:/],
    ["empty", "", /algorithm:/],
    ["short", "sha256:abc", /needs 64 hex characters, got 3/],
    ["long", `sha256:${"a".repeat(65)}`, /needs 64/],
    ["sha512 with sha256 length", `sha512:${"a".repeat(64)}`, /needs 128/],
    ["trailing newline", `${HELLO256}\n`, /not hex/],
    ["slash", `sha256:${"a".repeat(32)}/${"a".repeat(31)}`, /not hex/],
    ["NUL byte", `sha256:${"a".repeat(63)}\0`, /not hex/],
    ["empty hex", "sha256:", /got 0/],
  ];
  it.each(bad)("rejects %s", (_t, input, reason) => {
    expect(isDigest(input)).toBe(false);
    let caught: unknown;
    try {
      parseDigest(input);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(InvalidDigestError);
    expect((caught as InvalidDigestError).code).toBe("INVALID_DIGEST");
    expect((caught as InvalidDigestError).name).toBe("InvalidDigestError");
    expect((caught as Error).message).toMatch(reason);
  });

  it("isDigest is false for non-strings", () => {
    expect(isDigest(undefined)).toBe(false);
    expect(isDigest(42)).toBe(false);
  });
});

describe("digestOf / digestEquals / createDigester", () => {
  it("hashes bytes and strings with sha256 by default and sha512 on request", () => {
    expect(digestOf(Buffer.from("hello"))).toBe(HELLO256);
    expect(digestOf("hello")).toBe(HELLO256);
    expect(digestOf(new Uint8Array(Buffer.from("hello")), "sha512")).toBe(HELLO512);
  });

  it.each([
    [HELLO256, HELLO256, true],
    [HELLO256, `sha256:${hex256("world")}`, false],
    [HELLO256, HELLO512, false],
  ])("digestEquals(%s, %s) → %s", (a, b, eq) => {
    expect(digestEquals(a, b)).toBe(eq);
  });

  it("digestEquals refuses malformed digests instead of comparing strings", () => {
    expect(() => digestEquals(HELLO256, HELLO256.toUpperCase())).toThrow(InvalidDigestError);
  });

  it.each(["sha256", "sha512"] as const)(
    "createDigester(%s) hashes incrementally and counts bytes",
    (alg) => {
      const d = createDigester(alg);
      d.update("hel").update(Buffer.from("lo"));
      expect(d.size).toBe(5);
      expect(d.digest()).toBe(digestOf("hello", alg));
    },
  );
});

async function runThrough(
  verifier: DigestVerifier,
  chunks: Buffer[],
): Promise<{ out: Buffer; error: unknown }> {
  const received: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      received.push(chunk);
      cb();
    },
  });
  let error: unknown;
  try {
    await pipeline(Readable.from(chunks), verifier, sink);
  } catch (e) {
    error = e;
  }
  return { out: Buffer.concat(received), error };
}

describe("createDigestVerifier", () => {
  const data = Buffer.from("layer bytes ".repeat(10_000));
  const chunks = [data.subarray(0, 7), data.subarray(7, 60_000), data.subarray(60_000)];

  it.each(["sha256", "sha512"] as const)("passes %s-verified bytes through unchanged", async (alg) => {
    const v = createDigestVerifier(digestOf(data, alg), { size: data.length });
    const { out, error } = await runThrough(v, chunks);
    expect(error).toBeUndefined();
    expect(out.equals(data)).toBe(true);
    expect(v.bytes).toBe(data.length);
    expect(v.actual).toBe(digestOf(data, alg));
  });

  it("passes bytes through without a size", async () => {
    const { error } = await runThrough(createDigestVerifier(digestOf(data)), chunks);
    expect(error).toBeUndefined();
  });

  it("fails at the end with DIGEST_MISMATCH when the content differs", async () => {
    const tampered = Buffer.from(data);
    tampered[100] = 0x21;
    const v = createDigestVerifier(digestOf(data), { size: data.length });
    const { out, error } = await runThrough(v, [tampered]);
    expect(error).toBeInstanceOf(DigestMismatchError);
    expect(error).not.toBeInstanceOf(SizeMismatchError);
    const e = error as DigestMismatchError;
    expect(e.code).toBe("DIGEST_MISMATCH");
    expect(e.name).toBe("DigestMismatchError");
    expect(e.expected).toBe(digestOf(data));
    expect(e.actual).toBe(digestOf(tampered));
    // The bytes still went through: the consumer must discard them on error.
    expect(out.length).toBe(data.length);
  });

  it("fails at the end with SIZE_MISMATCH when the content is short", async () => {
    const v = createDigestVerifier(digestOf(data), { size: data.length });
    const { error } = await runThrough(v, [data.subarray(0, 1000)]);
    expect(error).toBeInstanceOf(SizeMismatchError);
    expect(error).toBeInstanceOf(DigestMismatchError);
    const e = error as SizeMismatchError;
    expect(e.code).toBe("SIZE_MISMATCH");
    expect(e.name).toBe("SizeMismatchError");
    expect(e.expectedSize).toBe(data.length);
    expect(e.actualSize).toBe(1000);
    expect(e.exceeded).toBe(false);
  });

  it("stops as soon as the content exceeds the expected size", async () => {
    const v = createDigestVerifier(digestOf(data), { size: 10 });
    const { out, error } = await runThrough(v, chunks);
    expect(error).toBeInstanceOf(SizeMismatchError);
    expect((error as SizeMismatchError).exceeded).toBe(true);
    expect(out.length).toBeLessThanOrEqual(10);
  });

  it("verifies empty content", async () => {
    const { error } = await runThrough(createDigestVerifier(digestOf(""), { size: 0 }), []);
    expect(error).toBeUndefined();
  });

  it.each([
    ["sha256:../../x", InvalidDigestError],
    [`sha256:${"A".repeat(64)}`, InvalidDigestError],
  ])("validates the expected digest %s before any byte flows", (expected, cls) => {
    expect(() => createDigestVerifier(expected)).toThrow(cls);
  });

  it("rejects a negative size", () => {
    expect(() => new DigestVerifier(HELLO256, { size: -1 })).toThrow(RangeError);
  });
});
