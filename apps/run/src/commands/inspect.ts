import path from "node:path";
import type { ImageDetails, ImageStore } from "@strata/image-store";

/** The `docker image inspect` object for one image (same keys, same order). */
export function inspectObject(store: ImageStore, image: ImageDetails): Record<string, unknown> {
  const c = image.config.value as Record<string, unknown> & {
    config?: unknown;
    architecture?: string;
    variant?: string;
    os?: string;
    author?: string;
    comment?: string;
  };
  const top = image.layers.at(-1);
  const data: Record<string, string> = {};
  if (top) {
    const lowers = image.layers
      .slice(0, -1)
      .reverse()
      .map((l) => l.diffDir);
    if (lowers.length > 0) data.LowerDir = lowers.join(":");
    const dir = path.dirname(top.diffDir);
    data.MergedDir = path.join(dir, "merged");
    data.UpperDir = top.diffDir;
    data.WorkDir = path.join(dir, "work");
  }
  return {
    Id: image.id,
    RepoTags: image.repoTags,
    RepoDigests: image.repoDigests,
    Parent: "",
    Comment: typeof c.comment === "string" ? c.comment : "",
    Created: image.created ?? "",
    DockerVersion: "",
    Author: c.author ?? "",
    Config: c.config ?? null,
    Architecture: c.architecture ?? "",
    ...(c.variant ? { Variant: c.variant } : {}),
    Os: c.os ?? "",
    Size: image.size,
    GraphDriver: { Data: data, Name: "overlay2" },
    RootFS: { Type: "layers", Layers: image.layers.map((l) => l.diffId) },
    Metadata: { LastTagTime: image.lastUpdated ?? "0001-01-01T00:00:00Z" },
    Strata: {
      Root: store.root,
      ChainID: image.chainId,
      ManifestDigest: image.manifest?.digest ?? "",
      Layers: image.layers.map((l) => ({
        ChainID: l.chainId,
        DiffID: l.diffId,
        Digest: l.digest ?? "",
        CacheID: l.cacheId,
        Link: l.linkId,
        Size: l.size,
      })),
    },
  };
}

/** `strata inspect REF|ID...`: a JSON array, 4-space indented like docker. */
export async function inspectCommand(store: ImageStore, refs: string[]): Promise<string> {
  const out: Record<string, unknown>[] = [];
  for (const ref of refs) out.push(inspectObject(store, await store.get(ref)));
  return `${JSON.stringify(out, null, 4)}\n`;
}
