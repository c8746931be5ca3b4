import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { describePrivileged } from "@strata/testkit";
import { afterEach, beforeEach, expect, it } from "vitest";
import { unpackLayer } from "../src/index.js";
import { buildTar, chunked, type Entry, getXattr, MEDIA, removeTree, tempRoot } from "./helpers.js";
import { layer1, layer2, layer3 } from "./layers.js";

/** Names, types, modes, owners, contents and link targets of a tree (directory times excluded). */
function listing(root: string): string[] {
  const out: string[] = [];
  const walk = (p: string, rel: string) => {
    for (const name of readdirSync(p).sort()) {
      const abs = join(p, name);
      const r = `${rel}/${name}`;
      const st = lstatSync(abs);
      let what = "";
      if (st.isFile())
        what = `file ${readFileSync(abs).length} ${readFileSync(abs).subarray(0, 64).toString("hex")}`;
      else if (st.isSymbolicLink()) what = `-> ${readlinkSync(abs)}`;
      else if (st.isDirectory()) what = "dir";
      else what = `node ${st.mode >> 12} ${st.rdev}`;
      out.push(`${r} ${what} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`);
      if (st.isDirectory()) walk(abs, r);
    }
  };
  walk(root, "");
  return out;
}

async function apply(
  target: string,
  entries: Entry[],
  whiteouts: "flat" | "overlay",
  parents: string[] = [],
) {
  return unpackLayer(chunked(await buildTar(entries)), { target, mediaType: MEDIA.none, whiteouts, parents });
}

describePrivileged(
  "flat whiteouts onto an existing rootfs",
  () => {
    let root: string;
    let mounted: string | undefined;
    beforeEach(() => {
      root = tempRoot();
    });
    afterEach(() => {
      if (mounted) execFileSync("umount", [mounted]);
      mounted = undefined;
      removeTree(root);
    });

    it("three layers applied flat equal the overlay-merged view of the same layers", async () => {
      const flat = join(root, "flat");
      mkdirSync(flat);
      for (const layer of [layer1, layer2, layer3]) await apply(flat, layer, "flat");

      const dirs = ["l1", "l2", "l3"].map((n) => join(root, n));
      for (const [i, layer] of [layer1, layer2, layer3].entries()) {
        mkdirSync(dirs[i] as string);
        // parents: implicit directories (home/user in layer 2) copy the lower layer's owner and mode
        await apply(dirs[i] as string, layer, "overlay", dirs.slice(0, i).reverse());
      }
      const merged = join(root, "merged");
      mkdirSync(merged);
      execFileSync("mount", [
        "-t",
        "overlay",
        "overlay",
        "-o",
        `lowerdir=${[...dirs].reverse().join(":")}`,
        merged,
      ]);
      mounted = merged;

      expect(listing(flat)).toEqual(listing(merged));
      // and concretely:
      expect(readFileSync(join(flat, "etc/passwd"), "utf8")).toContain("/bin/bash");
      expect(readdirSync(join(flat, "opt"))).toEqual(["new"]);
      expect(lstatSync(join(flat, "bin/sh"), { throwIfNoEntry: false })).toBeUndefined();
      expect(getXattr(join(flat, "opt"), "trusted.overlay.opaque")).toBeUndefined();
    });

    it("without parents an implicit overlay directory is root 0755 and masks the lower one", async () => {
      const t = join(root, "t");
      mkdirSync(t);
      await apply(t, [{ name: "home/user/notes", data: "x" }], "overlay");
      expect(lstatSync(join(t, "home/user")).mode & 0o7777).toBe(0o755);
    });

    it("an opaque marker after the directory's new content keeps that content and drops the rest", async () => {
      const t = join(root, "t");
      mkdirSync(t);
      await apply(
        t,
        [
          { name: "a/b/c/lower", data: "1" },
          { name: "a/x", data: "2" },
          { name: "a/b/y", data: "3" },
        ],
        "flat",
      );
      await apply(
        t,
        [
          { name: "a/", type: "directory" },
          { name: "a/b/", type: "directory" },
          { name: "a/b/c/foo", data: "new" },
          { name: "a/.wh..wh..opq", data: "" },
          { name: "a/after", data: "later" },
        ],
        "flat",
      );
      expect(listing(t).map((l) => l.split(" ")[0])).toEqual([
        "/a",
        "/a/after",
        "/a/b",
        "/a/b/c",
        "/a/b/c/foo",
      ]);
    });

    it("a whiteout never hides a file of its own layer", async () => {
      for (const mode of ["flat", "overlay"] as const) {
        const t = join(root, mode);
        mkdirSync(t);
        await apply(
          t,
          [
            { name: "keep", data: "same layer" },
            { name: ".wh.keep", data: "" },
          ],
          mode,
        );
        expect(readFileSync(join(t, "keep"), "utf8")).toBe("same layer");
      }
    });

    it("a file after its whiteout replaces the overlay whiteout node", async () => {
      const t = join(root, "t");
      mkdirSync(t);
      await apply(
        t,
        [
          { name: ".wh.x", data: "" },
          { name: "x", data: "back" },
        ],
        "overlay",
      );
      expect(readFileSync(join(t, "x"), "utf8")).toBe("back");
    });

    it("whiting out a directory removes its whole subtree", async () => {
      const t = join(root, "t");
      mkdirSync(t);
      await apply(
        t,
        [
          { name: "d/e/f", data: "1" },
          { name: "d/g", type: "symlink", linkname: "/" },
        ],
        "flat",
      );
      await apply(t, [{ name: ".wh.d", data: "" }], "flat");
      expect(readdirSync(t)).toEqual([]);
    });
  },
  { commands: ["mount", "umount", "mknod", "setfattr", "getfattr"] },
);
