import { lstatSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { quoteDumpName, xattrDump } from "../src/effects.js";
import { type UnpackEffects, unpackLayer, type XattrOp } from "../src/index.js";
import { buildTar, MEDIA, removeTree, tempRoot } from "./helpers.js";
import { CAP } from "./layers.js";

/** Records privileged calls; stands a plain file in for each node so the unpack can go on unprivileged. */
function recorder() {
  const calls: { mknod: [string, string, number, number][]; xattrBatches: XattrOp[][] } = {
    mknod: [],
    xattrBatches: [],
  };
  const effects: UnpackEffects = {
    mknod(path, kind, major, minor) {
      calls.mknod.push([path, kind, major, minor]);
      writeFileSync(path, "");
    },
    setXattrs(ops) {
      calls.xattrBatches.push([...ops]);
    },
  };
  return { calls, effects };
}

describe("privileged effects go through the UnpackEffects seam", () => {
  let root: string;
  let target: string;
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  beforeEach(() => {
    root = tempRoot();
    target = join(root, "t");
    mkdirSync(target);
  });
  afterEach(() => removeTree(root));

  it("overlay: one template node for all whiteouts, devices by mknod, one xattr batch after the layer", async () => {
    const { calls, effects } = recorder();
    const tarBytes = await buildTar([
      { name: "dev/null", type: "character-device", devmajor: 1, devminor: 3, uid, gid },
      { name: "dev/sda", type: "block-device", devmajor: 8, devminor: 0, uid, gid },
      { name: "p", type: "fifo", uid, gid },
      { name: "a/.wh.x", data: "" },
      { name: "a/.wh.y", data: "" },
      { name: "o/.wh..wh..opq", data: "" },
      {
        name: "bin/ping",
        data: "p",
        uid,
        gid,
        rawPax: {
          "SCHILY.xattr.security.capability": CAP,
          "SCHILY.xattr.trusted.overlay.redirect": "/etc",
        },
      },
      { name: "l", type: "symlink", linkname: "bin/ping", uid, gid, rawPax: { "SCHILY.xattr.user.no": "x" } },
    ]);
    const r = await unpackLayer(Readable.from([tarBytes]), {
      target,
      mediaType: MEDIA.none,
      whiteouts: "overlay",
      effects,
    });
    expect(r.entries).toBe(8);
    const kinds = calls.mknod.map(([p, k, ma, mi]) => `${p.slice(target.length)} ${k} ${ma} ${mi}`);
    expect(kinds.slice(0, 3)).toEqual(["/dev/null c 1 3", "/dev/sda b 8 0", "/p p 0 0"]);
    expect(kinds).toHaveLength(4); // + the whiteout template, made once
    expect(kinds[3]).toMatch(/^\/\.strata-whiteout-[0-9a-f]{16} c 0 0$/);
    // both whiteouts are links of the template, which is gone afterwards
    expect(lstatSync(join(target, "a/x")).ino).toBe(lstatSync(join(target, "a/y")).ino);
    expect(readdirSync(target).some((n) => n.startsWith(".strata"))).toBe(false);
    // one batch; the opaque marker; the binary capability; no smuggled overlay xattr; no user.* on a symlink
    expect(calls.xattrBatches).toHaveLength(1);
    const ops = (calls.xattrBatches[0] ?? []).map((o) => [
      o.path.slice(target.length),
      o.name,
      o.value.toString("hex"),
    ]);
    expect(ops).toEqual([
      ["/o", "trusted.overlay.opaque", Buffer.from("y").toString("hex")],
      ["/bin/ping", "security.capability", CAP.toString("hex")],
    ]);
  });

  it("flat: whiteouts delete instead of calling mknod", async () => {
    const { calls, effects } = recorder();
    writeFileSync(join(target, "gone"), "x");
    await unpackLayer(Readable.from([await buildTar([{ name: ".wh.gone", data: "" }])]), {
      target,
      mediaType: MEDIA.none,
      whiteouts: "flat",
      effects,
    });
    expect(calls.mknod).toEqual([]);
    expect(readdirSync(target)).toEqual([]);
  });
});

describe("setfattr dump format", () => {
  it.each([
    ["/plain/path", "/plain/path"],
    ["/a b=c\\d\ne", "/a\\040b\\075c\\134d\\012e"],
    ["/ü", "/\\303\\274"],
  ])("quotes %j as %j", (input, quoted) => {
    expect(quoteDumpName(input)).toBe(quoted);
  });

  it("groups ops per file and base64-encodes values", () => {
    const text = xattrDump([
      { path: "/f", name: "user.a", value: Buffer.from([0, 255]) },
      { path: "/f", name: "user.b", value: Buffer.from("y") },
      { path: "/g h", name: "trusted.x", value: Buffer.alloc(0) },
    ]).toString();
    expect(text).toBe('# file: /f\nuser.a=0sAP8=\nuser.b=0seQ==\n\n# file: /g\\040h\ntrusted.x=""\n\n');
  });
});
