import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ImageStore } from "@strata/image-store";
import { pullImage } from "@strata/registry-pull";
import {
  buildImage,
  busyboxRootfs,
  type ImageConfigInput,
  pushImage,
  type RegistryHandle,
  startRegistry,
  tarLayer,
} from "@strata/testkit";
import { ContainerRuntime, type NetworkOptions, type RunOptions, type RunResult } from "../src/index.js";

export const PREFIX = "strata-test-container";

/**
 * The network of the runtimes these tests open: no built-in bridge, `none` by default (the bridge, which
 * is the default outside tests, would create strata0 on the host; bridge.test.ts uses a test bridge).
 */
export const NO_BRIDGE: NetworkOptions = { defaultMode: "none", bridge: false };

/** A real registry with busybox images, a temp store pulled from it, and a runtime on that store. */
export interface Fixture {
  registry: RegistryHandle;
  dir: string;
  store: ImageStore;
  runtime: ContainerRuntime;
  /** `host/test/busybox:latest` (Cmd /bin/sh), already pulled. */
  busybox: string;
  /** `host/test/configured:latest`: Entrypoint, Cmd, Env, WorkingDir, User set. */
  configured: string;
  cgroupParent: string;
  /** Pulls a reference into the store (the `pull` callback the CLI would pass). */
  pull(reference: string): Promise<void>;
  stop(): Promise<void>;
}

export const CONFIGURED: ImageConfigInput = {
  Entrypoint: ["/bin/sh", "-c"],
  Cmd: ['echo "$GREETING from $(pwd) as $(id -u):$(id -g)"'],
  Env: ["GREETING=hello", "PATH=/bin"],
  WorkingDir: "/home/app",
  User: "app",
};

/**
 * `name` gives each test file its own cgroup parent (`strata-test-container-<name>`): files run in
 * parallel and each one's final gc prunes its parent.
 */
export async function setup(name: string): Promise<Fixture> {
  const registry = await startRegistry();
  const base = await busyboxRootfs();
  await pushImage(
    registry,
    "test/busybox",
    "latest",
    buildImage({ layers: [base], config: { Cmd: ["/bin/sh"] } }),
  );
  const marker = await tarLayer([{ type: "file", path: "image-marker", content: "from the image\n" }]);
  await pushImage(
    registry,
    "test/configured",
    "latest",
    buildImage({ layers: [base, marker], config: CONFIGURED }),
  );
  const dir = await mkdtemp(join(tmpdir(), `${PREFIX}-`));
  const store = await ImageStore.open({ root: join(dir, "root") });
  const pull = async (reference: string) => {
    await pullImage(reference, store.createSink());
  };
  const busybox = `${registry.host}/test/busybox:latest`;
  const configured = `${registry.host}/test/configured:latest`;
  await pull(busybox);
  const cgroupParent = `${PREFIX}-${name}`;
  const runtime = await ContainerRuntime.open({
    store,
    cgroupParent,
    stopTimeoutMs: 5000,
    network: NO_BRIDGE,
  });
  return {
    registry,
    dir,
    store,
    runtime,
    busybox,
    configured,
    cgroupParent,
    pull,
    async stop() {
      // a failed test may leave a container running: take it down so the leak check stays meaningful
      for (const c of await runtime.list({ all: true }).catch(() => [])) {
        await runtime.remove(c.id, { force: true }).catch(() => undefined);
      }
      await runtime.gc().catch(() => undefined);
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs with piped stdio and collects stdout/stderr. */
export async function runCapture(
  runtime: ContainerRuntime,
  options: RunOptions,
): Promise<RunResult & { stdout: string; stderr: string }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let closed: Promise<unknown> = Promise.resolve();
  const result = await runtime.run({
    ...options,
    stdio: "pipe",
    onStart(c) {
      c.stdout?.on("data", (b: Buffer) => out.push(b));
      c.stderr?.on("data", (b: Buffer) => err.push(b));
      closed = Promise.all(
        [c.stdout, c.stderr].map((s) =>
          s && !s.closed ? new Promise((r) => s.once("close", r)) : undefined,
        ),
      );
      options.onStart?.(c);
    },
  });
  await closed;
  return {
    ...result,
    stdout: Buffer.concat(out).toString("utf8"),
    stderr: Buffer.concat(err).toString("utf8"),
  };
}
