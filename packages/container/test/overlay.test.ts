import { readFile } from "node:fs/promises";
import { isMountPoint } from "@strata/overlay-mount";
import { describePrivileged } from "@strata/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Fixture, runCapture, setup } from "./fixture.js";

describePrivileged(
  "the builtin runtime's overlay is mounted by the launch helper, in the container's mount namespace",
  () => {
    let f: Fixture;
    beforeAll(async () => {
      f = await setup("overlay");
      await f.pull(f.configured);
    });
    afterAll(() => f?.stop());

    it("the host never sees the mount; the container sees the image and its own writes; a named user resolves through the layers", async () => {
      let onHost: boolean | undefined;
      let inside = "";
      const r = await runCapture(f.runtime, {
        image: f.configured, // User "app": looked up in the image's layers, not in a mounted rootfs
        rm: true,
        args: ["cat /image-marker; echo x > /tmp/w && cat /tmp/w; id -un; read line"],
        interactive: true,
        onStart: (c) => {
          void (async () => {
            const state = await f.runtime.inspect(c.id);
            onHost = await isMountPoint(state.mount?.merged as string);
            inside = await readFile(`/proc/${c.pid}/mountinfo`, "utf8");
            c.stdin?.end("done\n");
          })();
        },
      });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toBe("from the image\nx\napp\n");
      expect(onHost).toBe(false);
      expect(inside).toMatch(/ \/ \/ .* - overlay overlay /m);
    });
  },
  { commands: ["docker-registry"] },
);
