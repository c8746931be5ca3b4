// The same freshness test bin/strata.js applies to apps/run/build/cli (kept in step by hand: the bin
// must not import anything before choosing its entry).
import { existsSync, readFileSync, statSync } from "node:fs";

export function freshBundle() {
  const stampUrl = new URL("../../apps/run/build/cli/stamp.json", import.meta.url);
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(stampUrl, "utf8"));
  } catch {
    return false;
  }
  for (const [rel, mtimeMs, size] of stamp.files ?? []) {
    const s = statSync(new URL(rel, stampUrl), { throwIfNoEntry: false });
    if (s === undefined || s.mtimeMs !== mtimeMs || s.size !== size) return false;
  }
  return (stamp.files?.length ?? 0) > 0 && existsSync(new URL(stamp.entry, stampUrl));
}
