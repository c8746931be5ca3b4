import type { ImageStore } from "@strata/image-store";

/** `strata rmi [-f] REF|ID...`: docker's "Untagged: …" / "Deleted: …" lines. */
export async function rmiCommand(
  store: ImageStore,
  refs: string[],
  options: { force?: boolean },
  write: (s: string) => void,
): Promise<void> {
  for (const ref of refs) {
    const entries = await store.remove(ref, { force: options.force === true });
    for (const e of entries) write("Untagged" in e ? `Untagged: ${e.Untagged}\n` : `Deleted: ${e.Deleted}\n`);
  }
}

/** `docker image prune [-a]`: what went, then the space freed (go-units, as docker prints it). */
export async function imagePruneCommand(
  store: ImageStore,
  options: { all?: boolean },
  write: (s: string) => void,
): Promise<void> {
  const { humanSize } = await import("../format.js");
  const result = await store.prune({ all: options.all === true });
  if (result.deleted.length > 0) {
    write("Deleted Images:\n");
    for (const e of result.deleted)
      write("Untagged" in e ? `untagged: ${e.Untagged}\n` : `deleted: ${e.Deleted}\n`);
    write("\n");
  }
  write(`Total reclaimed space: ${humanSize(result.spaceReclaimed)}\n`);
}
