import type { ImageStore, ImageSummary } from "@strata/image-store";
import { createdSince, goTimeString, humanSize, table } from "../format.js";

export interface ImagesOptions {
  noTrunc?: boolean;
  digests?: boolean;
  format?: string;
}

interface Row {
  repository: string;
  tag: string;
  digest: string;
  id: string;
  image: ImageSummary;
}

/** Rows as `docker images`: one per tag; digest-only images get TAG <none>; dangling ones <none> <none>. */
function rows(images: ImageSummary[], withDigests: boolean): Row[] {
  const out: Row[] = [];
  for (const image of images) {
    const digestsByRepo = new Map<string, string[]>();
    for (const d of image.repoDigests) {
      const at = d.lastIndexOf("@");
      const repo = d.slice(0, at);
      digestsByRepo.set(repo, [...(digestsByRepo.get(repo) ?? []), d.slice(at + 1)]);
    }
    const tagged = new Set<string>();
    for (const t of image.repoTags) {
      const colon = t.lastIndexOf(":");
      const repo = t.slice(0, colon);
      tagged.add(repo);
      const ds = digestsByRepo.get(repo) ?? [];
      out.push({ repository: repo, tag: t.slice(colon + 1), digest: ds[0] ?? "<none>", id: image.id, image });
    }
    for (const [repo, ds] of digestsByRepo) {
      if (tagged.has(repo)) continue;
      for (const d of withDigests ? ds : ds.slice(0, 1)) {
        out.push({ repository: repo, tag: "<none>", digest: d, id: image.id, image });
      }
    }
    if (image.repoTags.length === 0 && image.repoDigests.length === 0) {
      out.push({ repository: "<none>", tag: "<none>", digest: "<none>", id: image.id, image });
    }
  }
  return out;
}

/** `strata images`: docker's table, or one JSON object per line with `--format json`. */
export async function imagesCommand(store: ImageStore, options: ImagesOptions): Promise<string> {
  const images = await store.list();
  const list = rows(images, options.digests === true);
  const shortId = (id: string) => (options.noTrunc ? id : id.slice(7, 19));
  if (options.format === "json" || options.format === "{{json .}}") {
    return list
      .map(
        (r) =>
          `${JSON.stringify({
            Containers: "N/A",
            CreatedAt: goTimeString(r.image.created),
            CreatedSince: createdSince(r.image.created),
            Digest: r.digest,
            ID: shortId(r.id),
            Repository: r.repository,
            SharedSize: "N/A",
            Size: humanSize(r.image.size),
            Tag: r.tag,
            UniqueSize: "N/A",
            VirtualSize: humanSize(r.image.size),
          })}\n`,
      )
      .join("");
  }
  if (options.format !== undefined && options.format !== "table") {
    throw Object.assign(
      new Error(`unsupported --format ${JSON.stringify(options.format)}: use "table" or "json"`),
      {
        code: "USAGE",
      },
    );
  }
  const header = options.digests
    ? ["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"]
    : ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"];
  const body = list.map((r) => {
    const cells = [r.repository, r.tag];
    if (options.digests) cells.push(r.digest);
    cells.push(shortId(r.id), createdSince(r.image.created), humanSize(r.image.size));
    return cells;
  });
  return table([header, ...body]);
}
