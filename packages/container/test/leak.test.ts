import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { describePrivileged, findLeaks } from "@strata/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Fixture, PREFIX, setup } from "./fixture.js";

describePrivileged(
  "leak check",
  () => {
    let f: Fixture;
    beforeAll(async () => {
      f = await setup("leak");
    });
    afterAll(() => f?.stop());

    it("100 × run --rm busybox true in a row leave no mount, cgroup, process or directory behind", async () => {
      const overlayBefore = (await readdir(f.store.layout.overlay2)).sort();
      const linksBefore = (await readdir(f.store.layout.linkDir)).sort();
      const leaksBefore = (await findLeaks(PREFIX, { skipLinks: true })).filter(
        (l) => !l.name.includes(f.dir),
      );
      const pids: number[] = [];
      for (let i = 0; i < 100; i++) {
        const r = await f.runtime.run({
          image: f.busybox,
          rm: true,
          pidsLimit: 16,
          memory: "32m",
          args: ["true"],
          stdio: "pipe",
          onStart: (c) => pids.push(c.pid),
        });
        expect(r).toMatchObject({ exitCode: 0, removed: true });
      }
      expect(pids).toHaveLength(100);
      // every container process is gone
      const alive = [];
      for (const pid of pids) {
        if (
          await readdir(`/proc/${pid}`).then(
            () => true,
            () => false,
          )
        )
          alive.push(pid);
      }
      expect(alive).toEqual([]);
      // no container layer, short link, record, state, name
      expect((await readdir(f.store.layout.overlay2)).sort()).toEqual(overlayBefore);
      expect((await readdir(f.store.layout.linkDir)).sort()).toEqual(linksBefore);
      expect(await readdir(f.store.layout.layerdbMounts)).toEqual([]);
      expect(await readdir(join(f.store.root, "containers"))).toEqual([]);
      expect(await readdir(f.runtime.states.names)).toEqual([]);
      // no mount under the store, no container cgroup (only the shared parent may remain until gc)
      const cgroups = await f.runtime.cgroups();
      expect(await cgroups.list()).toEqual([]);
      const leaks = (await findLeaks(PREFIX, { skipLinks: true })).filter(
        (l) =>
          !(l.kind === "tmp" && l.name.includes(f.dir)) &&
          !(l.kind === "cgroup" && l.name.endsWith(`/${f.cgroupParent}`)),
      );
      expect(leaks.filter((l) => !leaksBefore.some((b) => b.kind === l.kind && b.name === l.name))).toEqual(
        [],
      );
      expect(await f.store.verify()).toEqual([]);
    }, 600_000);
  },
  { commands: ["mount", "umount", "docker-registry"] },
);
