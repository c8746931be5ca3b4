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
