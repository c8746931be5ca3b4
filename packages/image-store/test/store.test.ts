import { lstat, mkdir, readdir, readFile, readlink, rm, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { chainIds } from "@strata/oci-types";
import { type BuiltImage, buildImage, describePrivileged, type LayerEntry, tarLayer } from "@strata/testkit";
import { afterEach, beforeEach, expect, it } from "vitest";
import { ImageStore, StoreError } from "../src/index.js";
import { cleanup, feed, sinkImageOf, tempDir } from "./helpers.js";

const file = (p: string, content: string, extra: Partial<LayerEntry> = {}): LayerEntry =>
  ({ type: "file", path: p, content, ...extra }) as LayerEntry;

async function image(layers: LayerEntry[][], created = "2026-01-01T00:00:00Z"): Promise<BuiltImage> {
  return buildImage({ layers: await Promise.all(layers.map((l) => tarLayer(l))), created });
}

const hex = (d: string) => d.slice(7);
const read = (p: string) => readFile(p, "utf8");
const modeOf = async (p: string) => (await lstat(p)).mode & 0o7777;

describePrivileged("image store (sink, layout, list/get/remove/prune, recovery)", () => {
  let dir: string;
  let store: ImageStore;
  let base: BuiltImage;
  let child: BuiltImage;

  beforeEach(async () => {
    dir = await tempDir();
    store = await ImageStore.open({ root: path.join(dir, "root") });
    const baseLayer = [
      { type: "dir", path: "etc" },
      file("etc/os-release", "ID=strata\n"),
      file("bin/tool", "#!/bin/sh\n", { mode: 0o755 }),
    ] as LayerEntry[];
    base = await image([baseLayer]);
    child = await image([baseLayer, [file("etc/child", "child\n")]], "2026-02-01T00:00:00Z");
  });

  afterEach(async () => {
    await cleanup(dir);
  });

  it("writes moby's overlay2 layout for a two-layer image", async () => {
    const img = sinkImageOf(child, "localhost:5000/demo/app:1.0");
    const sink = store.createSink();
    expect(
      await feed(
        sink,
        img,
        child.layers.map((l) => l.blob),
      ),
    ).toEqual([0, 1]);
    const L = store.layout;
    const id = child.configDigest;

    // imagedb: exact config bytes under the image ID; lastUpdated metadata
    expect(await readFile(path.join(L.imagedbContent, hex(id)))).toEqual(child.config);
    expect(await modeOf(path.join(L.imagedbContent, hex(id)))).toBe(0o600);
    expect(await read(path.join(L.imagedbMetadata, hex(id), "lastUpdated"))).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/,
    );

    // layerdb: diff, size, cache-id, parent (not for the base)
    const [c0, c1] = chainIds(child.layers.map((l) => l.diffId)) as [string, string];
    const l0 = path.join(L.layerdbSha256, hex(c0));
    const l1 = path.join(L.layerdbSha256, hex(c1));
    expect(await read(path.join(l0, "diff"))).toBe(child.layers[0]?.diffId);
    expect(await read(path.join(l1, "diff"))).toBe(child.layers[1]?.diffId);
    expect(await read(path.join(l1, "parent"))).toBe(c0);
    await expect(stat(path.join(l0, "parent"))).rejects.toMatchObject({ code: "ENOENT" });
    expect(await read(path.join(l0, "size"))).toBe(String("ID=strata\n".length + "#!/bin/sh\n".length));
    expect(await read(path.join(l1, "size"))).toBe(String("child\n".length));
    const cache0 = await read(path.join(l0, "cache-id"));
    const cache1 = await read(path.join(l1, "cache-id"));
    expect(cache0).toMatch(/^[0-9a-f]{64}$/);

    // overlay2: diff, link, lower (uppermost first, relative), work only above the base, committed in parent
    const o0 = path.join(L.overlay2, cache0);
    const o1 = path.join(L.overlay2, cache1);
    const lid0 = await read(path.join(o0, "link"));
    const lid1 = await read(path.join(o1, "link"));
    expect(lid0).toMatch(/^[A-Z2-7]{26}$/);
    expect(await readlink(path.join(L.linkDir, lid0))).toBe(`../${cache0}/diff`);
    expect(await readlink(path.join(L.linkDir, lid1))).toBe(`../${cache1}/diff`);
    expect(await read(path.join(o1, "lower"))).toBe(`l/${lid0}`);
    await expect(stat(path.join(o0, "lower"))).rejects.toMatchObject({ code: "ENOENT" });
    expect((await stat(path.join(o1, "work"))).isDirectory()).toBe(true);
    await expect(stat(path.join(o0, "work"))).rejects.toMatchObject({ code: "ENOENT" });
    expect((await stat(path.join(o0, "committed"))).isFile()).toBe(true);
    expect(await read(path.join(o0, "diff/etc/os-release"))).toBe("ID=strata\n");
    expect(await read(path.join(o1, "diff/etc/child"))).toBe("child\n");

    // repositories.json: familiar name, tag key and name@digest key
    expect(JSON.parse(await read(L.repositoriesJson))).toEqual({
      Repositories: {
        "localhost:5000/demo/app": {
          "localhost:5000/demo/app:1.0": id,
          [`localhost:5000/demo/app@${child.digest}`]: id,
        },
      },
    });
    expect(await modeOf(L.repositoriesJson)).toBe(0o600);

    // distribution metadata
    const blob0 = child.layers[0]?.digest as string;
    expect(await read(path.join(L.diffidByDigest, hex(blob0)))).toBe(child.layers[0]?.diffId);
    const v2 = JSON.parse(
      await read(path.join(L.v2metadataByDiffid, hex(child.layers[0]?.diffId as string))),
    );
    expect(v2).toEqual([{ Digest: blob0, SourceRepository: "localhost:5000/demo/app", HMAC: "" }]);

    // nothing left in temp areas
    expect(await readdir(L.tmp)).toEqual([]);
    expect(await readdir(L.leases)).toEqual([]);
    expect(await readdir(L.intents)).toEqual([]);
    expect(await readdir(L.layerdbTmp)).toEqual([]);
    expect(await store.verify()).toEqual([]);
  });

  it("stores a layer shared by two images once and does not download it again", async () => {
    const sink = store.createSink();
    expect(
      await feed(
        sink,
        sinkImageOf(base, "demo/base:1"),
        base.layers.map((l) => l.blob),
      ),
    ).toEqual([0]);
    expect(
      await feed(
        sink,
        sinkImageOf(child, "demo/child:1"),
        child.layers.map((l) => l.blob),
      ),
    ).toEqual([1]);
    expect((await readdir(store.layout.layerdbSha256)).length).toBe(2);
    expect((await readdir(store.layout.overlay2)).filter((n) => n !== "l").length).toBe(2);
    // pulling again downloads nothing
    expect(await feed(store.createSink(), sinkImageOf(child, "demo/child:1"), [])).toEqual([]);
  });

  it("two concurrent pulls of the same image both succeed and store each layer once", async () => {
    const blobs = child.layers.map((l) => l.blob);
    const a = feed(store.createSink(), sinkImageOf(child, "demo/child:a"), blobs, { chunk: 4096 });
    const b = feed(store.createSink(), sinkImageOf(child, "demo/child:b"), blobs, { chunk: 4096 });
    await Promise.all([a, b]);
    expect((await readdir(store.layout.layerdbSha256)).length).toBe(2);
    expect((await readdir(store.layout.overlay2)).filter((n) => n !== "l").length).toBe(2);
    expect((await readdir(store.layout.linkDir)).length).toBe(2);
    expect(await readdir(store.layout.tmp)).toEqual([]);
    const details = await store.get("demo/child:a");
    expect(details.repoTags).toEqual(["demo/child:a", "demo/child:b"]);
  });

  it("a corrupt layer fails the pull and leaves nothing visible", async () => {
    const img = sinkImageOf(child, "demo/child:1");
    await expect(
      feed(
        store.createSink(),
        img,
        child.layers.map((l) => l.blob),
        { corrupt: 1 },
      ),
    ).rejects.toThrow();
    const chains = chainIds(child.layers.map((l) => l.diffId));
    expect(await store.hasLayer(chains[1] as string)).toBe(false);
    expect(await store.list()).toEqual([]);
    expect(await readdir(store.layout.tmp)).toEqual([]);
    // and a clean pull afterwards works
    await feed(
      store.createSink(),
      img,
      child.layers.map((l) => l.blob),
    );
    expect((await store.list()).map((i) => i.id)).toEqual([child.configDigest]);
  });

  it("lists, resolves and gets images by tag, digest reference, full and short ID", async () => {
    await feed(
      store.createSink(),
      sinkImageOf(base, "demo/base:1"),
      base.layers.map((l) => l.blob),
    );
    await feed(
      store.createSink(),
      sinkImageOf(child, "demo/child:1"),
      child.layers.map((l) => l.blob),
    );
    const list = await store.list();
    expect(list.map((i) => i.repoTags)).toEqual([["demo/child:1"], ["demo/base:1"]]); // newest first
    expect(list[0]).toMatchObject({
      id: child.configDigest,
      repoDigests: [`demo/child@${child.digest}`],
      created: "2026-02-01T00:00:00Z",
      layerCount: 2,
      size: "ID=strata\n".length + "#!/bin/sh\n".length + "child\n".length,
    });
    const id = child.configDigest;
    for (const input of [
      "demo/child:1",
      "docker.io/demo/child:1",
      `demo/child@${child.digest}`,
      id,
      hex(id),
      hex(id).slice(0, 12),
    ]) {
      expect(await store.resolve(input), input).toBe(id);
    }
    expect(await store.resolve("demo/child:2")).toBeUndefined();
    const details = await store.get("demo/child:1");
    expect(details.config.raw).toEqual(child.config);
    expect(details.manifest?.digest).toBe(child.digest);
    expect(details.layers.map((l) => l.diffId)).toEqual(child.layers.map((l) => l.diffId));
    expect(details.layers.map((l) => l.digest)).toEqual(child.layers.map((l) => l.digest));
    expect(details.layers[1]?.lower).toBe(`l/${details.layers[0]?.linkId}`);
    expect(details.chainId).toBe(details.layers[1]?.chainId);
    await expect(store.get("nope:1")).rejects.toMatchObject({ code: "IMAGE_NOT_FOUND" });
  });

  it("remove untags first, deletes the image with its last reference, and frees only unshared layers", async () => {
    await feed(
      store.createSink(),
      sinkImageOf(base, "demo/base:1"),
      base.layers.map((l) => l.blob),
    );
    await feed(
      store.createSink(),
      sinkImageOf(child, "demo/child:1"),
      child.layers.map((l) => l.blob),
    );
    await store.tag("demo/child:1", "demo/child:2");
    expect(await store.remove("demo/child:2")).toEqual([{ Untagged: "demo/child:2" }]);
    const [c0, c1] = chainIds(child.layers.map((l) => l.diffId)) as [string, string];
    expect(await store.remove("demo/child:1")).toEqual([
      { Untagged: "demo/child:1" },
      { Untagged: `demo/child@${child.digest}` },
      { Deleted: child.configDigest },
      { Deleted: c1 },
    ]);
    expect(await store.hasLayer(c0)).toBe(true); // still used by demo/base
    expect(await store.hasLayer(c1)).toBe(false);
    expect((await readdir(store.layout.overlay2)).filter((n) => n !== "l").length).toBe(1);
    expect((await readdir(store.layout.linkDir)).length).toBe(1);
    expect(await store.remove(hex(base.configDigest).slice(0, 8))).toEqual([
      { Untagged: "demo/base:1" },
      { Untagged: `demo/base@${base.digest}` },
      { Deleted: base.configDigest },
      { Deleted: c0 },
    ]);
    expect(await readdir(store.layout.layerdbSha256)).toEqual([]);
    expect(await readdir(store.layout.linkDir)).toEqual([]);
    expect(await store.verify()).toEqual([]);
    expect(JSON.parse(await read(store.layout.repositoriesJson))).toEqual({ Repositories: {} });
  });

  it.each([
    ["an unknown reference", "ghost:1", "IMAGE_NOT_FOUND"],
    ["an ID referenced by two repositories", "ID", "IMAGE_IN_USE"],
  ])("remove refuses %s", async (_name, input, code) => {
    await feed(
      store.createSink(),
      sinkImageOf(base, "demo/base:1"),
      base.layers.map((l) => l.blob),
    );
    await store.tag("demo/base:1", "other/base:1");
    const err = await store.remove(input === "ID" ? base.configDigest : input).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ code });
    // --force removes it all
    if (code === "IMAGE_IN_USE") {
      const out = await store.remove(base.configDigest, { force: true });
      expect(out).toContainEqual({ Deleted: base.configDigest });
    }
  });

  it("layers referenced by a container mount (layerdb/mounts/<id>/parent) survive rmi", async () => {
    await feed(
      store.createSink(),
      sinkImageOf(base, "demo/base:1"),
      base.layers.map((l) => l.blob),
    );
    const [c0] = chainIds(base.layers.map((l) => l.diffId)) as [string];
    const mount = path.join(store.layout.layerdbMounts, "c0ffee");
    await mkdir(mount);
    await writeFile(path.join(mount, "parent"), c0);
    expect(await store.mountReferences()).toEqual([c0]);
    const out = await store.remove("demo/base:1");
    expect(out).toContainEqual({ Deleted: base.configDigest });
    expect(out).not.toContainEqual({ Deleted: c0 });
    expect(await store.hasLayer(c0)).toBe(true);
  });

  it("prune deletes dangling images and their layers", async () => {
    await feed(
      store.createSink(),
      sinkImageOf(base, "demo/app:1"),
      base.layers.map((l) => l.blob),
    );
    // re-point the tag and its digest key to another image: the first becomes dangling
    await feed(
      store.createSink(),
      sinkImageOf(child, "demo/app:1"),
      child.layers.map((l) => l.blob),
    );
    const repos = await store.repositories();
    delete repos.Repositories["demo/app"]?.[`demo/app@${base.digest}`];
    await writeFile(store.layout.repositoriesJson, JSON.stringify(repos));
    const before = await store.list();
    expect(before.find((i) => i.id === base.configDigest)?.repoTags).toEqual([]);
    const result = await store.prune();
    expect(result.deleted).toEqual([{ Deleted: base.configDigest }]); // its layer is shared with child
    expect((await store.list()).map((i) => i.id)).toEqual([child.configDigest]);
    const all = await store.prune({ all: true });
    expect(all.deleted).toContainEqual({ Deleted: child.configDigest });
    expect(all.spaceReclaimed).toBeGreaterThan(0);
    expect(await readdir(store.layout.layerdbSha256)).toEqual([]);
  });

  it("verify reports broken invariants", async () => {
    await feed(
      store.createSink(),
      sinkImageOf(child, "demo/child:1"),
      child.layers.map((l) => l.blob),
    );
    expect(await store.verify()).toEqual([]);
    const [c0] = chainIds(child.layers.map((l) => l.diffId)) as [string];
    const rec = await store.layer(c0);
    await rm(
      path.join(
        store.layout.linkDir,
        await read(path.join(store.layout.cacheDir(rec?.cacheId ?? ""), "link")),
      ),
    );
    await mkdir(path.join(store.layout.overlay2, "stray"));
    const problems = await store.verify();
    expect(problems.some((p) => p.includes(`layer ${c0}: l/`))).toBe(true);
    expect(problems).toContain("overlay2/stray belongs to no layer");
  });

  it("recovery removes what crashed processes left and keeps what live ones own", async () => {
    await feed(
      store.createSink(),
      sinkImageOf(base, "demo/base:1"),
      base.layers.map((l) => l.blob),
    );
    const L = store.layout;
    const dead = "999999999.1";
    // a half-unpacked layer of a dead pull, a live one, a dead lease, a layerdb write-set,
    // an overlay2 dir journalled but never registered (with its l/ link), and a dangling l/ link
    await mkdir(path.join(L.tmp, `${dead}-aaaa/diff`), { recursive: true });
    const live = store.ownedName();
    await mkdir(path.join(L.tmp, live));
    await writeFile(path.join(L.leases, `${dead}-bbbb`), JSON.stringify({ chains: [] }));
    await mkdir(path.join(L.layerdbTmp, "write-set-123"));
    const orphan = "f".repeat(64);
    await mkdir(path.join(L.overlay2, orphan, "diff"), { recursive: true });
    await writeFile(path.join(L.overlay2, orphan, "link"), "ORPHANORPHANORPHANORPHAN22");
    await symlink(`../${orphan}/diff`, path.join(L.linkDir, "ORPHANORPHANORPHANORPHAN22"));
    await writeFile(path.join(L.intents, orphan), "sha256:whatever");
    await symlink("../gone/diff", path.join(L.linkDir, "DANGLINGDANGLINGDANGLING22"));

    const reopened = await ImageStore.open({ root: L.root });
    expect(await readdir(L.tmp)).toEqual([live]);
    expect(await readdir(L.leases)).toEqual([]);
    expect(await readdir(L.layerdbTmp)).toEqual([]);
    expect(await readdir(L.intents)).toEqual([]);
    expect((await readdir(L.overlay2)).filter((n) => n !== "l").length).toBe(1);
    expect((await readdir(L.linkDir)).length).toBe(1);
    expect((await reopened.list()).map((i) => i.repoTags)).toEqual([["demo/base:1"]]);
    expect(await reopened.verify()).toEqual([]);
  });
});
