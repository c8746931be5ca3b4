import { describe, expect, it } from "vitest";
import { buildLaunchSpec, launch, overlayLayerDirs, toHelperSpec } from "../src/index.js";
import { makeBusyboxRootfs } from "./rootfs.js";

describe("rootfsOverlay", () => {
  it.each([
    [
      { options: ["index=off", "lowerdir=/s/l/A:/s/l/B", "upperdir=/s/c/diff", "workdir=/s/c/work"] },
      ["/s/c/diff", "/s/l/A", "/s/l/B"],
    ],
    [
      { options: ["lowerdir=l/A:l/B", "upperdir=c/diff", "workdir=c/work"], cwd: "/s" },
      ["/s/c/diff", "/s/l/A", "/s/l/B"],
    ],
    [{ options: ["lowerdir=/s/x/diff:/s/l/B"] }, ["/s/x/diff", "/s/l/B"]],
  ])("overlayLayerDirs(%j): upper first, relative paths from cwd", (overlay, dirs) => {
    expect(overlayLayerDirs(overlay)).toEqual(dirs);
  });

  it("a spec without lowerdir is INVALID_SPEC", () => {
    expect(() => overlayLayerDirs({ options: ["upperdir=/x"] })).not.toThrow();
    expect(() => overlayLayerDirs({ options: ["index=off"] })).toThrow(
      expect.objectContaining({ code: "INVALID_SPEC" }),
    );
  });

  it("goes to the helper as one option string and its cwd; OCI runtimes refuse it", async () => {
    const fs = makeBusyboxRootfs("strata-test-launch-ovspec");
    try {
      const spec = buildLaunchSpec(
        { Cmd: ["true"] },
        {
          rootfs: fs.rootfs,
          // the user is looked up in the layers: the busybox rootfs stands in for the only lower layer
          rootfsOverlay: { options: [`lowerdir=${fs.rootfs}`], cwd: "/" },
          user: "root",
        },
      );
      expect(spec.rootfsOverlay).toEqual({ options: [`lowerdir=${fs.rootfs}`], cwd: "/" });
      expect(toHelperSpec(spec).rootfsOverlay).toEqual({ data: `lowerdir=${fs.rootfs}`, cwd: "/" });
      const plain = buildLaunchSpec({ Cmd: ["true"] }, { rootfs: fs.rootfs });
      expect(toHelperSpec(plain).rootfsOverlay).toBeNull();
      await expect(launch(spec, { runtime: "crun" })).rejects.toMatchObject({ code: "UNSUPPORTED_OPTION" });
    } finally {
      fs.remove();
    }
  });
});
