import { randomBytes } from "node:crypto";

// process identities (pid + start time) are shared with the network package
export { ownerAlive, ownerToken, processStartTime } from "@strata/lockfile";

const HEX64 = /^[0-9a-f]{64}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const LINK_ID = /^[A-Z2-7]{26}$/;

/** `sha256:<hex>` → `<hex>`, validating the shape first so nothing unchecked reaches a path join. */
export function hexOf(digest: string): string {
  if (!DIGEST.test(digest)) throw new TypeError(`not a sha256 digest: ${JSON.stringify(digest)}`);
  return digest.slice(7);
}

export function isSha256Digest(s: string): boolean {
  return DIGEST.test(s);
}

export function isHex64(s: string): boolean {
  return HEX64.test(s);
}

export function isLinkId(s: string): boolean {
  return LINK_ID.test(s);
}

/** A graph-driver cache id: 64 random hex chars, like moby's stringid.GenerateRandomID. */
export function newCacheId(): string {
  return randomBytes(32).toString("hex");
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** A 26-char overlay2 short link id (base32 StdEncoding alphabet, uppercase), like overlayutils/randomid.go. */
export function newLinkId(): string {
  const bytes = randomBytes(26);
  let out = "";
  for (const b of bytes) out += BASE32[b & 31];
  return out;
}

/** A short random suffix for temp names. */
export function randomSuffix(): string {
  return randomBytes(6).toString("hex");
}
