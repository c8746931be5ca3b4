import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assertNoLeaks, describePrivileged } from "@strata/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildLaunchSpec } from "../src/index.js";
import { makeBusyboxRootfs } from "./rootfs.js";
import { run, start } from "./run.js";

const PREFIX = "strata-test-launch-oci";

const runtimes = (["runc", "crun"] as const).filter((r) =>
  process.env.PATH?.split(":").some((dir) => existsSync(`${dir}/${r}`)),
);

describePrivileged(
  "OCI runtimes: the container's pid is found however short it lives",
  () => {
    let fs: ReturnType<typeof makeBusyboxRootfs>;
    let bundles: string;
    beforeAll(() => {
      fs = makeBusyboxRootfs(PREFIX);
      bundles = mkdtempSync(join(tmpdir(), `${PREFIX}-bundles-`));
    });
    afterAll(async () => {
      fs.remove();
      rmSync(bundles, { recursive: true, force: true });
      await assertNoLeaks(PREFIX);
    });

    it.each(runtimes)(
      "%s: containers that exit at once report their exit code, never RUNTIME_FAILED",
      async (runtime) => {
        for (const [command, code] of [
          ["true", 0],
          ["exit 7", 7],
          ["echo out; exit 3", 3],
        ] as const) {
          for (let i = 0; i < 5; i++) {
            const spec = buildLaunchSpec({ Cmd: ["sh", "-c", command] }, { rootfs: fs.rootfs });
            const result = await run(spec, { runtime });
            expect(result.exitCode, `${runtime} ${command}: ${result.stderr}`).toBe(code);
          }
        }
      },
    );

    it.each(runtimes)(
      "%s: a stale pid file in a reused bundle dir is not taken for the container",
      async (runtime) => {
        const dir = join(bundles, runtime);
        const spec = buildLaunchSpec({ Cmd: ["sh", "-c", "exit 4"] }, { rootfs: fs.rootfs });
        await run(spec, { runtime, bundleDir: dir });
        // a pid that is certainly not the next container's: this test process
        writeFileSync(join(dir, "init.pid"), String(process.pid));
        const { proc, done } = await start(spec, { runtime, bundleDir: dir });
        expect(proc.pid).not.toBe(process.pid);
        expect((await done).exitCode).toBe(4);
      },
    );
  },
  { commands: ["runc", "crun", "unshare"] },
);
