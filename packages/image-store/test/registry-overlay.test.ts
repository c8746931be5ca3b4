import { execFile } from "node:child_process";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { pullImage } from "@strata/registry-pull";
import {
  assertNoLeaks,
  type BuiltImage,
  buildImage,
  describePrivileged,
  pushImage,
  type RegistryHandle,
  startRegistry,
  tarLayer,
} from "@strata/testkit";
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from "vitest";
import { type ImageDetails, ImageStore } from "../src/index.js";
import { MTIME, richImage, XATTR_VALUE } from "./fixtures.js";
import { cleanup, PREFIX, tempDir } from "./helpers.js";
import { snapshot } from "./tree.js";

const run = promisify(execFile);
const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString("hex")}`;

/** Mount the image's layers read-only the way moby's Get does for a committed stack: from the overlay2 dir, with l/ links. */
async function mountImage(store: ImageStore, image: ImageDetails, target: string): Promise<void> {
  const top = image.layers.at(-1) as ImageDetails["layers"][number];
  const lower = [`l/${top.linkId}`, ...(top.lower ? top.lower.split(":") : [])].join(":");
  await run("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${lower}`, target], {
    cwd: store.layout.overlay2,
  });
}

async function unmount(target: string): Promise<void> {
  await run("umount", [target]).catch(() => undefined);
}

describePrivileged(
  "pull from a real registry into the store, then overlay-mount it",
  () => {
    let registry: RegistryHandle;
    let built: BuiltImage;
    let ref: string;
    let dir: string;
    let store: ImageStore;
    let mnt: string;

    beforeAll(async () => {
      registry = await startRegistry();
      built = await richImage();
      await pushImage(registry, "test/rich", "v1", built);
      ref = `${registry.host}/test/rich:v1`;
    });
    afterAll(async () => {
      await registry?.stop();
      await assertNoLeaks(PREFIX, { skipLinks: true }); // mounts and temp dirs of this file
    });
    beforeEach(async () => {
      dir = await tempDir();
      store = await ImageStore.open({ root: path.join(dir, "root") });
      mnt = path.join(dir, "merged");
      await mkdir(mnt);
    });
    afterEach(async () => {
      await unmount(mnt);
      await cleanup(dir);
    });

    it("unpacks every entry type into per-layer diff dirs with overlay whiteouts", async () => {
      const events: string[] = [];
      await pullImage(ref, store.createSink(), {
        onProgress: (e) => {
          if (e.type === "layer" && e.status !== "downloading") events.push(`${e.index}:${e.status}`);
        },
      });
      expect(events).toContain("0:done");
      expect(events).toContain("1:done");
      const image = await store.get(ref);
      expect(image.layers.map((l) => l.digest)).toEqual(built.layers.map((l) => l.digest));
      const [base, top] = await Promise.all(
        image.layers.map((l) => snapshot(l.diffDir, { mtimes: true, inodes: true })),
      );
      if (!base || !top) throw new Error("two layers expected");

      // base layer: types, modes, owners, content, links, devices, xattr, mtimes
      expect(base["bin/busybox"]).toMatchObject({ type: "file", mode: 0o755, uid: 0, gid: 0, mtime: MTIME });
      expect(base["bin/sh"]).toMatchObject({ type: "symlink", target: "busybox" });
      expect(base["bin/ls"]?.ino).toBe(base["bin/busybox"]?.ino);
      expect(base["bin/cap"]?.xattrs).toEqual({ "user.strata.bin": hex(XATTR_VALUE) });
      expect(base["dev/mynull"]).toMatchObject({ type: "char", rdev: "1:3", mode: 0o666 });
      expect(base["dev/myloop"]).toMatchObject({ type: "block", rdev: "7:0", mode: 0o660, gid: 6 });
      expect(base["dev/myfifo"]).toMatchObject({ type: "fifo", mode: 0o600 });
      expect(base["usr/bin/su"]).toMatchObject({ mode: 0o4755 });
      expect(base["usr/bin/wall"]).toMatchObject({ mode: 0o2755, gid: 5 });
      expect(base.tmp).toMatchObject({ type: "dir", mode: 0o1777 });
      expect(base["home/app"]).toMatchObject({
        type: "dir",
        mode: 0o750,
        uid: 1000,
        gid: 1000,
        mtime: MTIME,
      });
      expect(base["home/app/notes"]).toMatchObject({ mode: 0o640, uid: 1000, gid: 1000, size: 5 });
      expect(base["etc/motd"]).toMatchObject({ type: "file", size: 8 });

      // top layer: whiteouts are char 0/0, the opaque dir carries trusted.overlay.opaque=y although
      // its marker came after its children, and those children are kept
      expect(top["etc/motd"]).toMatchObject({ type: "char", rdev: "0:0" });
      expect(top["usr/share/doc"]).toMatchObject({ type: "char", rdev: "0:0" });
      expect(top.opq?.xattrs).toEqual({ "trusted.overlay.opaque": "0x79" });
      expect(top["opq/new"]).toMatchObject({ type: "file", size: 10 });
      expect(top["opq/sub/deep"]).toMatchObject({ type: "file", size: 5 });
      expect(top["etc/new"]).toMatchObject({ mode: 0o600, uid: 2, gid: 3 });
      expect(top["etc/new-link"]?.ino).toBe(top["etc/new"]?.ino);
      expect(Object.keys(top).some((p) => p.includes(".wh."))).toBe(false);
      expect(Object.keys(top).sort()).toEqual(
        [
          "etc",
          "etc/motd",
          "etc/new",
          "etc/new-link",
          "etc/passwd",
          "opq",
          "opq/new",
          "opq/sub",
          "opq/sub/deep",
          "usr",
          "usr/share",
          "usr/share/doc",
        ].sort(),
      );

      // the merged view hides what the top layer deletes
      await mountImage(store, image, mnt);
      const merged = await snapshot(mnt);
      expect(merged["etc/motd"]).toBeUndefined();
      expect(merged["usr/share/doc"]).toBeUndefined();
      expect(merged["usr/share/doc/pkg/README"]).toBeUndefined();
      expect(merged.usr).toBeDefined();
      expect(merged["usr/share"]).toMatchObject({ type: "dir" });
      expect(
        Object.keys(merged)
          .filter((p) => p.startsWith("opq/"))
          .sort(),
      ).toEqual(["opq/new", "opq/sub", "opq/sub/deep"]);
      expect(merged["etc/passwd"]?.sha256).toBe(top["etc/passwd"]?.sha256);
      expect(merged["etc/passwd"]?.sha256).not.toBe(base["etc/passwd"]?.sha256);
      expect(merged["bin/busybox"]).toMatchObject({ type: "file", mode: 0o755 });
      expect(merged["bin/cap"]?.xattrs).toEqual({ "user.strata.bin": hex(XATTR_VALUE) });
      expect(merged["home/app/notes"]).toMatchObject({ uid: 1000, gid: 1000 });
      expect(merged.opq?.xattrs).toBeUndefined(); // overlay hides its own xattrs
    });

    it("gives the same tree as skopeo copy + umoci unpack (differential)", async () => {
      await pullImage(ref, store.createSink());
      const image = await store.get(ref);
      await mountImage(store, image, mnt);
      const ours = await snapshot(mnt);

      const oci = path.join(dir, "oci");
      const bundle = path.join(dir, "bundle");
      await run("skopeo", ["copy", "--quiet", "--src-tls-verify=false", `docker://${ref}`, `oci:${oci}:v1`]);
      await run("umoci", ["unpack", "--image", `${oci}:v1`, bundle]);
      const theirs = await snapshot(path.join(bundle, "rootfs"));
      await rm(bundle, { recursive: true, force: true });
      expect(Object.keys(ours).sort()).toEqual(Object.keys(theirs).sort());
      for (const p of Object.keys(theirs)) expect(ours[p], p).toEqual(theirs[p]);
    });

    it.each([
      ["a Docker schema2 image (gzip)", "docker", "gzip"],
      ["an OCI image with zstd layers", "oci", "zstd"],
      ["an OCI image with uncompressed layers", "oci", "none"],
    ] as const)("stores %s", async (_name, format, compression) => {
      const layers = [
        await tarLayer([{ type: "file", path: "etc/base", content: `base ${compression}\n` }], {
          compression,
        }),
        await tarLayer(
          [
            { type: "whiteout", path: "etc/base" },
            { type: "file", path: "etc/top", content: "top\n" },
          ],
          {
            compression,
          },
        ),
      ];
      const image = buildImage({ layers, format });
      await pushImage(registry, `test/${format}-${compression}`, "v1", image);
      const r = `${registry.host}/test/${format}-${compression}:v1`;
      await pullImage(r, store.createSink());
      const stored = await store.get(r);
      expect(stored.id).toBe(image.configDigest);
      expect(stored.layers.map((l) => l.mediaType)).toEqual(image.layers.map((l) => l.mediaType));
      const [base, top] = await Promise.all(stored.layers.map((l) => snapshot(l.diffDir)));
      expect(base?.["etc/base"]).toMatchObject({ type: "file", size: `base ${compression}\n`.length });
      expect(top?.["etc/base"]).toMatchObject({ type: "char", rdev: "0:0" });
      expect(await store.verify()).toEqual([]);
    });

    it("a second pull downloads nothing and keeps one copy of each layer", async () => {
      await pullImage(ref, store.createSink());
      const events: string[] = [];
      await pullImage(ref, store.createSink(), {
        onProgress: (e) => {
          if (e.type === "layer") events.push(`${e.index}:${e.status}`);
        },
      });
      expect(events.filter((e) => e.endsWith(":present")).sort()).toEqual(["0:present", "1:present"]);
      expect(events.some((e) => e.endsWith(":downloading"))).toBe(false);
      expect((await store.list()).length).toBe(1);
    });
  },
  { commands: ["mount", "umount", "getfattr", "skopeo", "umoci", "docker-registry", "zstd"] },
);
