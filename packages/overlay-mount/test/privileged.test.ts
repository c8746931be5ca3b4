import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describePrivileged } from "@strata/testkit";
import { afterAll, afterEach, beforeEach, expect, it } from "vitest";
import {
  checkBackingFs,
  createContainerLayer,
  createLayer,
  explainMount,
  listOverlayMounts,
  mountLayer,
  type OverlayError,
  parseOverlayMountInfo,
  removeLayer,
  spawnMounter,
  unmountLayer,
} from "../src/index.js";

const PREFIX = "strata-test-overlay-mount-";

function mountsUnder(dir: string): string[] {
  const text = readFileSync("/proc/self/mountinfo", "utf8");
  return text
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((m) => m.startsWith(`${dir}/`));
}

function detachAll(dir: string): void {
  for (const target of mountsUnder(dir).reverse())
    execFileSync("umount", ["-l", target], { stdio: "ignore" });
}

const isWhiteout = async (path: string) => {
  const s = await stat(path);
  return s.isCharacterDevice() && s.rdev === 0;
};

describePrivileged(
  "overlay mounts on the real kernel",
  () => {
    const made: string[] = [];
    const everMade: string[] = [];
    let root: string;
    beforeEach(async () => {
      const dir = await mkdtemp(join(tmpdir(), PREFIX));
      made.push(dir);
      everMade.push(dir);
      root = join(dir, "overlay2");
    });
    afterEach(async () => {
      for (const dir of made.splice(0)) {
        detachAll(dir);
        await rm(dir, { recursive: true, force: true });
      }
    });
    afterAll(async () => {
      for (const dir of made.splice(0)) {
        detachAll(dir);
        await rm(dir, { recursive: true, force: true });
      }
    });

    it("two image layers + a container layer: lower files, whiteouts, opaque dirs, writes to upper", async () => {
      await createLayer({ root, id: "base" });
      const base = join(root, "base", "diff");
      await writeFile(join(base, "gone"), "base");
      await writeFile(join(base, "kept"), "base");
      await mkdir(join(base, "opaque"));
      await writeFile(join(base, "opaque", "old"), "base");
      await mkdir(join(base, "dir"));
      await writeFile(join(base, "dir", "x"), "base");

      await createLayer({ root, id: "top", parent: "base" });
      const top = join(root, "top", "diff");
      execFileSync("mknod", [join(top, "gone"), "c", "0", "0"]);
      await mkdir(join(top, "opaque"));
      execFileSync("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", join(top, "opaque")]);
      await writeFile(join(top, "opaque", "new"), "top");
      await writeFile(join(top, "kept"), "top");

      await createContainerLayer({ root, id: "ctr", parent: "top" });
      const mount = await mountLayer({ root, id: "ctr" });
      expect(mount.cwd).toBeUndefined();
      const merged = join(root, "ctr", "merged");

      expect((await readdir(merged)).sort()).toEqual(["dir", "kept", "opaque"]);
      expect(await readFile(join(merged, "kept"), "utf8")).toBe("top");
      expect(await readFile(join(merged, "dir", "x"), "utf8")).toBe("base");
      expect(await readdir(join(merged, "opaque"))).toEqual(["new"]);

      await writeFile(join(merged, "written"), "ctr");
      await unlink(join(merged, "dir", "x"));
      expect(await readFile(join(root, "ctr", "diff", "written"), "utf8")).toBe("ctr");
      expect(await isWhiteout(join(root, "ctr", "diff", "dir", "x"))).toBe(true);
      expect(existsSync(join(base, "dir", "x"))).toBe(true);

      const listed = (await listOverlayMounts()).find((m) => m.target === merged);
      const [topLink, baseLink] = (await readFile(join(root, "ctr", "lower"), "utf8")).split(":");
      expect(listed).toMatchObject({
        source: "overlay",
        lowerdir: [join(root, topLink ?? ""), join(root, baseLink ?? "")],
        upperdir: join(root, "ctr", "diff"),
        workdir: join(root, "ctr", "work"),
        relative: false,
      });
      const procMounts = await listOverlayMounts({ path: "/proc/mounts" });
      expect(procMounts.find((m) => m.target === merged)?.upperdir).toBe(join(root, "ctr", "diff"));

      // The merged view is on overlayfs: not a backing fs for another store.
      const error = (await checkBackingFs(merged).catch((e: unknown) => e)) as OverlayError;
      expect(error.code).toBe("BACKING_FS_UNSUPPORTED");

      await unmountLayer({ root, id: "ctr", removeMerged: true });
      expect(existsSync(merged)).toBe(false);
      expect(mountsUnder(root)).toEqual([]);
      expect((await listOverlayMounts()).some((m) => m.target === merged)).toBe(false);
      await removeLayer({ root, id: "ctr" });
      expect((await readdir(root)).sort()).toEqual(["base", "l", "top"]);
    });

    it("128 lower layers: options past a page fall back to relative paths mounted from the root", async () => {
      await createLayer({ root, id: "layer0" });
      await writeFile(join(root, "layer0", "diff", "f0"), "0");
      await writeFile(join(root, "layer0", "diff", "shared"), "0");
      for (let i = 1; i < 128; i++) {
        await createLayer({ root, id: `layer${i}`, parent: `layer${i - 1}` });
        await writeFile(join(root, `layer${i}`, "diff", `f${i}`), String(i));
        await writeFile(join(root, `layer${i}`, "diff", "shared"), String(i));
      }
      await createContainerLayer({ root, id: "ctr", parent: "layer127" });
      const mount = await mountLayer({ root, id: "ctr" });
      expect(mount.cwd).toBe(root);
      expect(mount.options.join(",").length).toBeLessThanOrEqual(4095);
      const absoluteLength = mount.options.join(",").replace(/l\//g, `${root}/l/`).length;
      expect(absoluteLength).toBeGreaterThan(4095);
      expect(explainMount(mount)).toMatch(new RegExp(`^cd ${root} && mount -t overlay overlay -o `));

      const merged = join(root, "ctr", "merged");
      const names = await readdir(merged);
      expect(names).toHaveLength(129);
      for (let i = 0; i < 128; i++) expect(names).toContain(`f${i}`);
      expect(await readFile(join(merged, "shared"), "utf8")).toBe("127");
      await writeFile(join(merged, "shared"), "ctr");
      expect(await readFile(join(root, "ctr", "diff", "shared"), "utf8")).toBe("ctr");

      const listed = parseOverlayMountInfo(readFileSync("/proc/self/mountinfo", "utf8")).find(
        (m) => m.target === merged,
      );
      expect(listed?.relative).toBe(true);
      expect(listed?.lowerdir).toHaveLength(128);
      expect(listed?.upperdir).toBe("ctr/diff");

      await unmountLayer({ root, id: "ctr", removeMerged: true });
      expect(mountsUnder(root)).toEqual([]);
    });

    it("a mount the kernel refuses is MOUNT_FAILED with the command", async () => {
      await createLayer({ root, id: "base" });
      await createContainerLayer({ root, id: "ctr", parent: "base" });
      await rm(join(root, "base", "diff"), { recursive: true });
      const error = (await mountLayer({ root, id: "ctr", mounter: spawnMounter() }).catch(
        (e: unknown) => e,
      )) as OverlayError;
      expect(error.code).toBe("MOUNT_FAILED");
      expect(error.command?.slice(0, 4)).toEqual(["mount", "-t", "overlay", "overlay"]);
      expect(mountsUnder(root)).toEqual([]);
    });

    it("removing a container layer that is still mounted detaches it first", async () => {
      await createLayer({ root, id: "base" });
      await createContainerLayer({ root, id: "ctr", parent: "base" });
      await mountLayer({ root, id: "ctr" });
      await removeLayer({ root, id: "ctr" });
      expect(mountsUnder(root)).toEqual([]);
      expect(await readdir(root)).not.toContain("ctr");
    });

    it("leaves no mount or temp dir behind (runs last)", () => {
      const earlier = everMade.slice(0, -1);
      expect(earlier.length).toBeGreaterThan(0);
      expect(earlier.filter((dir) => existsSync(dir))).toEqual([]);
      expect(earlier.flatMap((dir) => mountsUnder(dir))).toEqual([]);
    });
  },
  { commands: ["mount", "umount", "mknod", "setfattr"] },
);
