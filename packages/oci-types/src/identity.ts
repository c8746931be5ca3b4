import { createHash } from "node:crypto";
import { parseDigest } from "./digest.js";

/**
 * ChainIDs of a layer stack (image-spec `config.md`): `ChainID(L0) = DiffID(L0)`,
 * `ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln))`. Base layer first.
 * Every DiffID is validated first (they end up in store paths).
 */
export function chainIds(diffIds: readonly string[]): string[] {
  for (const d of diffIds) parseDigest(d);
  const out: string[] = [];
  let previous: string | undefined;
  for (const diffId of diffIds) {
    previous =
      previous === undefined
        ? diffId
        : `sha256:${createHash("sha256").update(`${previous} ${diffId}`).digest("hex")}`;
    out.push(previous);
  }
  return out;
}

/** The ChainID of the whole stack; `""` for no layers (as Go's `identity.ChainID`). */
export function chainId(diffIds: readonly string[]): string {
  return chainIds(diffIds).at(-1) ?? "";
}

/** The image ID Docker uses: sha256 of the exact config bytes. */
export function imageIdOf(configBytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(configBytes).digest("hex")}`;
}
