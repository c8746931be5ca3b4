import path from "node:path";
import type { ContainerRuntime } from "@strata/container";
import type { ImageDetails, ImageStore } from "@strata/image-store";
import { containerInspectObject, renderFormat } from "./inspect-container.js";

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

/** Where `inspect` looks, each opened at most once and only when needed. */
export interface InspectSources {
  runtime(): Promise<ContainerRuntime>;
  store(): Promise<ImageStore>;
}

/**
 * `strata inspect [--type container|image] [-f TEMPLATE] REF…`: each ref as a container first (as docker;
 * a name no container has may be an image's), else as an image. Without containers to open (e.g. not
 * root) only images can match, unless `--type container` asked for one.
 */
export async function inspectCommand(
  refs: string[],
  options: { type?: "container" | "image"; format?: string },
  sources: InspectSources,
): Promise<string> {
  let runtime: ContainerRuntime | null | undefined;
  let store: ImageStore | undefined;
  const objects: unknown[] = [];
  for (const ref of refs) {
    if (options.type !== "image") {
      runtime ??= await sources.runtime().catch((e: unknown) => {
        if (options.type === "container") throw e;
        return null;
      });
      const state = await runtime?.inspect(ref).catch((e: unknown) => {
        const code = (e as { code?: string }).code;
        if (options.type === "container" || (code !== "CONTAINER_NOT_FOUND" && code !== "INVALID_NAME"))
          throw e;
        return undefined;
      });
      if (runtime && state) {
        objects.push(containerInspectObject(state, runtime.isRunning(state)));
        continue;
      }
    }
    store ??= await sources.store();
    objects.push(inspectObject(store, await store.get(ref)));
  }
  return render(objects, options.format);
}

/** The objects as docker prints them: a JSON array, or one `--format` line per object. */
export function render(objects: unknown[], format?: string): string {
  if (format === undefined || format === "json") return `${JSON.stringify(objects, null, 4)}\n`;
  return objects.map((o) => `${renderFormat(format, o)}\n`).join("");
}
