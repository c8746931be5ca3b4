#!/usr/bin/env node
// The offline demo behind `npm run demo`: build a busybox image from this machine's busybox-static,
// serve it from a private registry on 127.0.0.1, pull it into a fresh store, run one container with a
// pids limit, and remove everything again. Needs root, the packages built (`npx turbo run build`),
// and the apt packages busybox-static and docker-registry. No internet access is used.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

// a closed pipe (`npm run demo | head`) must not stop the clean-up half-way
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});
const say = (line) => process.stderr.write(`[demo] ${line}\n`);

function preflight() {
  const problems = [];
  if (process.getuid?.() !== 0)
    problems.push("run it as root (containers need namespaces, mounts and cgroups)");
  if (!existsSync("/bin/busybox")) problems.push("/bin/busybox is missing: apt-get install busybox-static");
  if (!existsSync("/usr/bin/docker-registry"))
    problems.push("docker-registry is missing: apt-get install docker-registry");
  const dist = new URL("../dist/index.js", import.meta.url);
  if (!existsSync(dist)) problems.push("the packages are not built: run `npx turbo run build` first");
  if (problems.length > 0) {
    for (const p of problems) say(`cannot run: ${p}`);
    process.exit(2);
  }
}

preflight();
const { ContainerRuntime } = await import("../dist/index.js");
const { ImageStore } = await import("@strata/image-store");
const { pullImage } = await import("@strata/registry-pull");
const { buildImage, busyboxRootfs, pushImage, startRegistry } = await import("@strata/testkit");

const command = "echo hello from strata; hostname; cat /proc/self/cgroup; ls /";
const dir = await mkdtemp(join(tmpdir(), "strata-demo-"));
let registry;
let runtime;
let exitCode = 1;
try {
  say("building a busybox image from /bin/busybox");
  const image = buildImage({ layers: [await busyboxRootfs()], config: { Cmd: ["/bin/sh"] } });
  registry = await startRegistry();
  await pushImage(registry, "demo/busybox", "latest", image);
  const reference = `${registry.host}/demo/busybox:latest`;
  say(`serving it at ${reference} (a private docker-registry on 127.0.0.1)`);

  const store = await ImageStore.open({ root: join(dir, "store") });
  // the demo keeps the host network untouched: no strata0 bridge, containers on "none" unless asked
  runtime = await ContainerRuntime.open({
    store,
    cgroupParent: "strata-demo",
    network: { defaultMode: "none", bridge: false },
  });
  say(`store: ${store.root}`);
  const result = await runtime.run({
    image: reference,
    // the image is not in the store yet: the runtime asks for it through this callback
    pull: async (ref) => {
      say(`pulling ${ref}`);
      await pullImage(ref, store.createSink());
    },
    args: ["/bin/sh", "-c", command],
    pidsLimit: 64,
    memory: "64m",
    rm: true,
    forwardSignals: true,
    onStart: (c) => {
      say(`container ${c.id.slice(0, 12)} (${c.name}) started, pid ${c.pid} on the host`);
      // inside, /proc/self/cgroup shows "/" (its own cgroup namespace); on the host it is here:
      runtime.inspect(c.id).then(
        (s) =>
          say(`host cgroup: ${Object.values(s.cgroup?.paths ?? {}).join(", ")} (pids.max 64, memory 64m)`),
        () => undefined,
      );
    },
  });
  exitCode = result.exitCode;
  say(
    `container exited with ${result.exitCode}${result.oomKilled ? " (OOM-killed)" : ""}; removed: ${result.removed}`,
  );
} catch (error) {
  say(
    `failed: ${error instanceof Error ? `${error.message}${"code" in error ? ` [${error.code}]` : ""}` : error}`,
  );
} finally {
  await runtime?.gc().catch(() => undefined);
  await registry?.stop().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
  say("cleaned up: registry stopped, store removed");
}
process.exit(exitCode);
