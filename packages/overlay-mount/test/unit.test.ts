import { mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  buildOverlayMount,
  checkBackingFs,
  checkOverlaySupport,
  createContainerLayer,
  createLayer,
  explainMount,
  layerMount,
  type Mounter,
  mountCommand,
  mountLayer,
  type OverlayError,
  type OverlayMount,
  parseOverlayMountInfo,
  parseOverlayProcMounts,
  removeLayer,
  unmountLayer,
} from "../src/index.js";

const codeOf = async (p: Promise<unknown> | (() => unknown)) => {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (error) {
    return (error as OverlayError).code;
  }
  return "no error";
};

const links = (n: number) => Array.from({ length: n }, (_, i) => `l/${String(i).padStart(26, "A")}`);

describe("buildOverlayMount", () => {
  it("two layers: absolute options, no cwd", () => {
    const mount = buildOverlayMount({
      root: "/var/lib/strata/overlay2",
      lower: ["l/TOP", "l/BASE"],
      upper: "c/diff",
      work: "c/work",
      target: "c/merged",
    });
    expect(mount).toEqual({
      type: "overlay",
      source: "overlay",
      target: "/var/lib/strata/overlay2/c/merged",
      options: [
        "index=off",
        "lowerdir=/var/lib/strata/overlay2/l/TOP:/var/lib/strata/overlay2/l/BASE",
        "upperdir=/var/lib/strata/overlay2/c/diff",
        "workdir=/var/lib/strata/overlay2/c/work",
      ],
    });
    expect(mountCommand(mount)).toEqual([
      "mount",
      "-t",
      "overlay",
      "overlay",
      "-o",
      mount.options.join(","),
      "/var/lib/strata/overlay2/c/merged",
    ]);
    expect(explainMount(mount)).toBe(
      `mount -t overlay overlay -o ${mount.options.join(",")} /var/lib/strata/overlay2/c/merged`,
    );
  });

  it("128 layers past the page: relative options mounted from the root", () => {
    const mount = buildOverlayMount({
      root: "/var/lib/strata/overlay2",
      lower: links(128),
      upper: "c/diff",
      work: "c/work",
      target: "c/merged",
      indexOff: false,
    });
    expect(mount.cwd).toBe("/var/lib/strata/overlay2");
    expect(mount.options[0]).toBe(`lowerdir=${links(128).join(":")}`);
    expect(mount.options.slice(1)).toEqual(["upperdir=c/diff", "workdir=c/work"]);
    expect(mount.options.join(",").length).toBeLessThanOrEqual(4095);
    expect(explainMount(mount)).toMatch(
      /^cd \/var\/lib\/strata\/overlay2 && mount -t overlay overlay -o lowerdir=l\//,
    );
  });

  it.each([
    [{ lower: links(129) }, "TOO_MANY_LAYERS"],
    [{ lower: [] }, "TOO_MANY_LAYERS"],
    [{ lower: links(128), pageSize: 1024 }, "OPTIONS_TOO_LONG"],
    [{ lower: ["l/a,b"] }, "INVALID_PATH"],
    [{ lower: ["l/a:b"] }, "INVALID_PATH"],
    [{ lower: ["l/A"], upper: "c/diff" }, "INVALID_PATH"],
  ])("rejects %#: %s", async (stack, code) => {
    expect(await codeOf(() => buildOverlayMount({ root: "/s", target: "m", ...stack }))).toBe(code);
  });
});

describe("parsing mount tables", () => {
  const mountinfo =
    "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n" +
    "47 27 0:39 / /tmp/my\\040dir/m rw,relatime - overlay overlay rw,lowerdir=l/A:l/B\\072x:c\\040d,upperdir=up,workdir=wk,uuid=on\n" +
    "48 27 0:40 / /abs rw - overlay overlay rw,index=off,lowerdir=/s/l/A:/s/l\\:B,upperdir=/s/c/diff,workdir=/s/c/work\n";

  it("mountinfo: overlay entries with options decoded", () => {
    expect(parseOverlayMountInfo(mountinfo)).toEqual([
      {
        target: "/tmp/my dir/m",
        source: "overlay",
        options: { rw: true, lowerdir: "l/A:l/B:x:c d", upperdir: "up", workdir: "wk", uuid: "on" },
        lowerdir: ["l/A", "l/B:x", "c d"],
        upperdir: "up",
        workdir: "wk",
        relative: true,
      },
      {
        target: "/abs",
        source: "overlay",
        options: {
          rw: true,
          index: "off",
          lowerdir: "/s/l/A:/s/l\\:B",
          upperdir: "/s/c/diff",
          workdir: "/s/c/work",
        },
        lowerdir: ["/s/l/A", "/s/l:B"],
        upperdir: "/s/c/diff",
        workdir: "/s/c/work",
        relative: false,
      },
    ]);
  });

  it("/proc/mounts (the guide's `cat /proc/mounts | egrep overlay`)", () => {
    const mounts =
      "overlay /tmp/x/m overlay rw,relatime,lowerdir=/a:/b,upperdir=/u,workdir=/w 0 0\nproc /proc proc rw 0 0\n";
    expect(parseOverlayProcMounts(mounts)).toEqual([
      {
        target: "/tmp/x/m",
        source: "overlay",
        options: { rw: true, relatime: true, lowerdir: "/a:/b", upperdir: "/u", workdir: "/w" },
        lowerdir: ["/a", "/b"],
        upperdir: "/u",
        workdir: "/w",
        relative: false,
      },
    ]);
  });
});

describe("support checks", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "strata-test-overlay-mount-unit-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("no overlay in /proc/filesystems is OVERLAY_UNSUPPORTED with the modprobe hint", async () => {
    await writeFile(join(dir, "fs"), "nodev\tsysfs\n\text4\n");
    const error = (await checkOverlaySupport({ filesystemsPath: join(dir, "fs") }).catch(
      (e: unknown) => e,
    )) as OverlayError;
    expect(error.code).toBe("OVERLAY_UNSUPPORTED");
    expect(error.message).toContain("modprobe overlay");
    await writeFile(join(dir, "fs"), "nodev\tsysfs\nnodev\toverlay\n");
    await expect(checkOverlaySupport({ filesystemsPath: join(dir, "fs") })).resolves.toBeUndefined();
  });

  it("the temp dir's filesystem is a supported backing fs", async () => {
    expect(await checkBackingFs(dir)).toBeTypeOf("number");
  });
});

describe("layer dirs (Docker overlay2 layout)", () => {
  let root: string;
  beforeEach(async () => {
    root = join(await mkdtemp(join(tmpdir(), "strata-test-overlay-mount-unit-")), "overlay2");
  });
  afterEach(async () => {
    await rm(join(root, ".."), { recursive: true, force: true });
  });

  function recorder() {
    const calls: (["mount", OverlayMount] | ["unmount", string])[] = [];
    const mounter: Mounter = {
      async mount(m) {
        calls.push(["mount", m]);
      },
      async unmount(t) {
        calls.push(["unmount", t]);
      },
    };
    return { calls, mounter };
  }

  it("creates base, image and container layers with short links, lower files and committed markers", async () => {
    const base = await createLayer({ root, id: "base" });
    expect(base.link).toMatch(/^[A-Z2-7]{26}$/);
    expect(base.lower).toEqual([]);
    expect(await readlink(join(root, "l", base.link))).toBe("../base/diff");
    expect(await readFile(join(root, "base", "link"), "utf8")).toBe(base.link);
    expect((await stat(join(root, "base", "diff"))).mode & 0o777).toBe(0o755);
    expect(await readdir(join(root, "base"))).toEqual(["diff", "link"]);

    const top = await createLayer({ root, id: "top", parent: "base" });
    expect(await readFile(join(root, "top", "lower"), "utf8")).toBe(`l/${base.link}`);
    expect(await readdir(join(root, "base"))).toContain("committed");

    const ctr = await createContainerLayer({ root, id: "ctr", parent: "top" });
    expect(ctr.lower).toEqual([`l/${top.link}`, `l/${base.link}`]);
    expect(await readFile(join(root, "ctr", "lower"), "utf8")).toBe(`l/${top.link}:l/${base.link}`);
    expect((await readdir(join(root, "ctr"))).sort()).toEqual(["diff", "link", "lower", "merged", "work"]);
    expect((await stat(join(root, "ctr", "work"))).mode & 0o777).toBe(0o700);

    const { calls, mounter } = recorder();
    const mount = await mountLayer({ root, id: "ctr", mounter, indexOff: true });
    expect(calls).toEqual([["mount", mount]]);
    expect(mount.options).toEqual([
      "index=off",
      `lowerdir=${root}/l/${top.link}:${root}/l/${base.link}`,
      `upperdir=${root}/ctr/diff`,
      `workdir=${root}/ctr/work`,
    ]);
    // A committed (parent) layer mounts read-only with its own diff on top, as moby's Get.
    expect((await layerMount({ root, id: "top", indexOff: false })).options).toEqual([
      `lowerdir=${root}/top/diff:${root}/l/${base.link}`,
    ]);

    await unmountLayer({ root, id: "ctr", mounter });
    expect(calls.at(-1)).toEqual(["unmount", join(root, "ctr", "merged")]);
    await removeLayer({ root, id: "ctr", mounter, mountInfoPath: "/proc/self/mountinfo" });
    expect((await readdir(root)).sort()).toEqual(["base", "l", "top"]);
    expect((await readdir(join(root, "l"))).sort()).toEqual([base.link, top.link].sort());
  });

  it("129 layers deep is TOO_MANY_LAYERS before anything is created", async () => {
    await createLayer({ root, id: "l0" });
    for (let i = 1; i <= 128; i++) await createLayer({ root, id: `l${i}`, parent: `l${i - 1}` });
    expect((await readFile(join(root, "l128", "lower"), "utf8")).split(":")).toHaveLength(128);
    expect(await codeOf(createContainerLayer({ root, id: "ctr", parent: "l128" }))).toBe("TOO_MANY_LAYERS");
    expect(await readdir(root)).not.toContain("ctr");
  });

  it.each([
    [() => createLayer({ root, id: "../x" }), "INVALID_LAYER_ID"],
    [() => createLayer({ root, id: "l" }), "INVALID_LAYER_ID"],
    [() => createLayer({ root, id: "x", parent: "missing" }), "LAYER_NOT_FOUND"],
    [() => layerMount({ root, id: "missing" }), "LAYER_NOT_FOUND"],
    [() => removeLayer({ root, id: "missing" }), "LAYER_NOT_FOUND"],
  ])("rejects %#: %s", async (fn, code) => {
    expect(await codeOf(fn())).toBe(code);
  });

  it("removeLayer removes nested content but never follows a symlink out of the layer", async () => {
    const outside = join(root, "outside");
    await mkdir(join(outside, "keep"), { recursive: true });
    await writeFile(join(outside, "keep", "file"), "x");
    await createLayer({ root, id: "base" });
    await createContainerLayer({ root, id: "ctr", parent: "base" });
    const diff = join(root, "ctr", "diff");
    await mkdir(join(diff, "a", "b", "c"), { recursive: true });
    await writeFile(join(diff, "a", "b", "c", "f"), "y");
    await writeFile(join(diff, "a", "g"), "z");
    await symlink(outside, join(diff, "a", "dirlink"));
    await symlink(join(outside, "keep", "file"), join(diff, "filelink"));
    await removeLayer({ root, id: "ctr", mountInfoPath: "/proc/self/mountinfo" });
    expect((await readdir(root)).sort()).toEqual(["base", "l", "outside"]);
    expect(await readFile(join(outside, "keep", "file"), "utf8")).toBe("x");
  });

  it("an existing id is LAYER_EXISTS", async () => {
    await createLayer({ root, id: "a" });
    expect(await codeOf(createLayer({ root, id: "a" }))).toBe("LAYER_EXISTS");
  });
});
