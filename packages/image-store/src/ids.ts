import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";

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

let selfToken: string | undefined;

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat), or undefined if gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm (field 2) may contain spaces and parens: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return rest[19];
  } catch {
    return undefined;
  }
}

/**
 * `<pid>.<starttime>` of this process. Lock files, leases and temp dirs carry it, so a later
 * process can tell a live owner from a dead one even after the pid has been reused.
 */
export function ownerToken(): string {
  selfToken ??= `${process.pid}.${processStartTime(process.pid) ?? "0"}`;
  return selfToken;
}

/** True when the process named by an owner token is still running (same pid and start time). */
export function ownerAlive(token: string): boolean {
  const m = /^(\d+)\.(\d+)$/.exec(token);
  if (!m) return false;
  const pid = Number(m[1]);
  if (pid === process.pid) return token === ownerToken();
  return processStartTime(pid) === m[2];
}

/** A short random suffix for temp names. */
export function randomSuffix(): string {
  return randomBytes(6).toString("hex");
}
