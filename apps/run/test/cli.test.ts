import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { ImageStore } from "@strata/image-store";
import {
  assertNoLeaks,
  type BuiltImage,
  buildImage,
  buildIndex,
  busyboxRootfs,
  describePrivileged,
  type Layer,
  pushImage,
  pushIndex,
  type RegistryHandle,
  startRegistry,
  tarLayer,
} from "@strata/testkit";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { humanDuration, humanSize, table } from "../src/index.js";
import { BIN, cleanup, collect, PREFIX, runCli, spawnCli, tempDir } from "./cli-helpers.js";

describe("docker-shaped formatting", () => {
  it.each([
    [0, "0B"],
    [999, "999B"],
    [1000, "1kB"],
    [1_084_970, "1.08MB"],
    [72_776_105, "72.8MB"],
    [121_687_040, "122MB"],
    [5_000_000_000, "5GB"],
  ])("humanSize(%d) = %s", (n, s) => {
    expect(humanSize(n)).toBe(s);
  });

  it.each([
    [500, "Less than a second"],
    [1000, "1 second"],
    [45_000, "45 seconds"],
    [60_000, "About a minute"],
    [5 * 60_000, "5 minutes"],
    [3_600_000, "About an hour"],
    [5 * 3_600_000, "5 hours"],
    [3 * 86_400_000, "3 days"],
    [21 * 86_400_000, "3 weeks"],
    [90 * 86_400_000, "3 months"],
    [3 * 365 * 86_400_000, "3 years"],
  ])("humanDuration(%d) = %s", (ms, s) => {
    expect(humanDuration(ms)).toBe(s);
  });

  it("pads columns like text/tabwriter (minwidth 10, padding 3)", () => {
    expect(table([["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]])).toBe(
      "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n",
    );
  });
});

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describePrivileged(
  "strata CLI against a local registry",
  () => {
    let registry: RegistryHandle;
    let base: Layer;
    let imgA: BuiltImage;
    let imgB: BuiltImage;
    let arm: BuiltImage;
    let big: BuiltImage;
    const bigData: Buffer[] = [];
    let indexDigest: string;
    let dir: string;
    let root: string;
    const cli = (...args: string[]) => runCli(["--root", root, ...args]);

    beforeAll(async () => {
      registry = await startRegistry();
      base = await busyboxRootfs();
      const top = (name: string) => tarLayer([{ type: "file", path: `etc/${name}`, content: `${name}\n` }]);
      imgA = buildImage({ layers: [base, await top("a")], created: "2026-01-02T00:00:00Z" });
      imgB = buildImage({ layers: [base, await top("b")], created: "2026-01-01T00:00:00Z" });
      arm = buildImage({
        layers: [base, await top("arm")],
        platform: { os: "linux", architecture: "arm64" },
      });
      const bigLayers: Layer[] = [];
      for (let i = 0; i < 4; i++) {
        const data = randomBytes(3 << 20);
        bigData.push(data);
        bigLayers.push(
          await tarLayer([
            { type: "dir", path: "data" },
            { type: "file", path: `data/${i}.bin`, content: data },
          ]),
        );
      }
      big = buildImage({ layers: bigLayers });
      await pushImage(registry, "test/app", "a", imgA);
      await pushImage(registry, "test/app", "b", imgB);
      await pushImage(registry, "test/big", "v1", big);
      indexDigest = await pushIndex(
        registry,
        "test/multi",
        "1",
        buildIndex({ images: [imgA, arm], attestations: true }),
      );
    });
    afterAll(async () => {
      await registry?.stop();
      await assertNoLeaks(PREFIX, { skipLinks: true });
    });
    beforeEach(async () => {
      dir = await tempDir();
      root = path.join(dir, "root");
    });
    afterEach(async () => {
      await cleanup(dir);
    });

    it("pull prints docker's lines, then images/inspect/info/rmi work on the store", async () => {
      const ref = `${registry.host}/test/app:a`;
      const pulled = await cli("pull", ref);
      expect(pulled.stderr).toBe("");
      expect(pulled.code).toBe(0);
      const lines = pulled.stdout.trimEnd().split("\n");
      const ids = imgA.layers.map((l) => l.digest.slice(7, 19));
      expect(lines[0]).toBe("a: Pulling from test/app");
      for (const id of ids) {
        expect(lines).toContain(`${id}: Pulling fs layer`);
        expect(lines).toContain(`${id}: Pull complete`);
      }
      expect(lines.slice(-3)).toEqual([
        `Digest: ${imgA.digest}`,
        `Status: Downloaded newer image for ${ref}`,
        ref,
      ]);

      const again = await cli("pull", ref);
      expect(again.stdout).toContain(`${ids[0]}: Already exists`);
      expect(again.stdout).toContain(`Status: Image is up to date for ${ref}`);

      const quiet = await cli("pull", "-q", `${registry.host}/test/app:b`);
      expect(quiet.stdout).toBe(`${imgB.configDigest}\n`);

      const images = await cli("images");
      const rows = images.stdout.trimEnd().split("\n");
      expect(rows[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
      expect(rows.slice(1).map((r) => r.split(/\s{2,}/).slice(0, 3))).toEqual([
        [`${registry.host}/test/app`, "a", imgA.configDigest.slice(7, 19)],
        [`${registry.host}/test/app`, "b", imgB.configDigest.slice(7, 19)],
      ]);
      expect((await cli("images", "--no-trunc")).stdout).toContain(imgA.configDigest);
      expect((await cli("images", "--digests")).stdout).toContain(imgA.digest);
      const json = (await cli("images", "--format", "json")).stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, string>);
      expect(json[0]).toMatchObject({
        Repository: `${registry.host}/test/app`,
        Tag: "a",
        Digest: imgA.digest,
      });

      const inspect = await cli("inspect", ref);
      const [obj] = JSON.parse(inspect.stdout) as Array<Record<string, unknown>>;
      expect(obj).toMatchObject({
        Id: imgA.configDigest,
        RepoTags: [ref],
        RepoDigests: [`${registry.host}/test/app@${imgA.digest}`],
        Architecture: "amd64",
        Os: "linux",
        GraphDriver: { Name: "overlay2" },
        RootFS: { Type: "layers", Layers: imgA.layers.map((l) => l.diffId) },
      });
      // the guide's `cat .../imagedb/content/sha256/<id>` gives the config
      const content = await readFile(
        path.join(root, "image/overlay2/imagedb/content/sha256", imgA.configDigest.slice(7)),
      );
      expect(content.equals(imgA.config)).toBe(true);

      const info = await cli("info");
      expect(info.stdout.split("\n").filter((l) => /storage/i.test(l))).toEqual([
        " Storage Driver: overlay2",
      ]);
      expect(info.stdout).toContain(` Strata Root Dir: ${root}`);
      expect(info.stdout).toMatch(/ Cgroup Version: [12]\n/);

      const rmi = await cli("rmi", ref);
      expect(rmi.code).toBe(0);
      expect(rmi.stdout.split("\n")).toEqual([
        `Untagged: ${ref}`,
        `Untagged: ${registry.host}/test/app@${imgA.digest}`,
        `Deleted: ${imgA.configDigest}`,
        expect.stringMatching(/^Deleted: sha256:[0-9a-f]{64}$/), // its own top layer; the base is shared with b
        "",
      ]);
      expect((await cli("images", "-q" as string)).code).toBe(2); // unknown flag → usage error
      const store = await ImageStore.open({ root });
      expect(await store.verify()).toEqual([]);
      expect((await store.list()).map((i) => i.id)).toEqual([imgB.configDigest]);
    });

    it.each([
      ["an invalid reference", ["pull", "Bad:Ref"], 2, "INVALID_REFERENCE"],
      ["a missing image", ["rmi", "nope:1"], 1, "IMAGE_NOT_FOUND"],
      ["a missing tag in the registry", ["pull", "REG/test/app:missing"], 1, "NOT_FOUND"],
      ["an unknown command", ["frobnicate"], 2, "USAGE"],
    ])("reports %s as one line with a code and a hint", async (_name, args, code, errCode) => {
      const res = await cli(...args.map((a) => a.replace("REG", registry.host)));
      expect(res.code).toBe(code);
      const lines = res.stderr.trimEnd().split("\n");
      expect(lines[0]).toMatch(new RegExp(`^strata: .+ \\(${errCode}\\)$`));
      expect(lines.length).toBeLessThanOrEqual(2);
      if (lines[1]) expect(lines[1]).toMatch(/^hint: /);
    });

    it("pulls through an index: --platform picks the entry, the digest key is the index digest", async () => {
      const ref = `${registry.host}/test/multi:1`;
      const res = await cli("pull", "--platform", "linux/arm64", ref);
      expect(res.code).toBe(0);
      expect(res.stdout).toContain(`Digest: ${indexDigest}`);
      const repos = JSON.parse(await readFile(path.join(root, "image/overlay2/repositories.json"), "utf8"));
      expect(repos.Repositories[`${registry.host}/test/multi`]).toEqual({
        [ref]: arm.configDigest,
        [`${registry.host}/test/multi@${indexDigest}`]: arm.configDigest,
      });
    });

    it("concurrent pulls of the same and of overlapping images all succeed and share layers", async () => {
      const [a, a2, b] = await Promise.all([
        cli("pull", `${registry.host}/test/app:a`),
        cli("pull", `${registry.host}/test/app:a`),
        cli("pull", `${registry.host}/test/app:b`),
      ]);
      expect([a.code, a2.code, b.code, a.stderr, a2.stderr, b.stderr]).toEqual([0, 0, 0, "", "", ""]);
      const store = await ImageStore.open({ root });
      expect(await store.verify()).toEqual([]);
      expect((await readdir(store.layout.layerdbSha256)).length).toBe(3);
      expect((await store.list()).length).toBe(2);
    });

    it("draws one progress bar per layer on a TTY", async () => {
      const ref = `${registry.host}/test/app:a`;
      // script(1) gives the CLI a pseudo-terminal; its output is the terminal transcript
      const shell = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} --root ${JSON.stringify(root)} pull ${ref}`;
      const res = await collect(
        spawn("script", ["-qec", shell, "/dev/null"], { stdio: ["pipe", "pipe", "pipe"] }),
      );
      expect(res.code).toBe(0);
      const screen = res.stdout.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, "g"), "");
      for (const l of imgA.layers) {
        expect(screen).toMatch(new RegExp(`${l.digest.slice(7, 19)}: Pull complete \\[[█░]+\\]`));
      }
      expect(screen).toContain(`Status: Downloaded newer image for ${ref}`);
    });

    it("a lock left behind by a killed process does not block the next command", async () => {
      expect((await cli("images")).code).toBe(0); // creates the layout
      await writeFile(path.join(root, "strata/lock"), "999999999.1\n"); // holder pid cannot exist
      const res = await cli("pull", "-q", `${registry.host}/test/app:b`);
      expect(res.code).toBe(0);
      expect(res.stdout).toBe(`${imgB.configDigest}\n`);
      await expect(readFile(path.join(root, "strata/lock"))).rejects.toMatchObject({ code: "ENOENT" });
    });

    it("SIGINT stops a pull with exit 130 and removes its temp files itself", async () => {
      const ref = `${registry.host}/test/big:v1`;
      const child = spawnCli(["--root", root, "pull", ref], { STRATA_PULL_CONCURRENCY: "1" });
      let sent = false;
      const result = await collect(child, (out) => {
        if (!sent && out.includes("Pulling fs layer")) {
          sent = true;
          child.kill("SIGINT");
        }
      });
      if (result.code === 0) return; // finished before the signal landed: nothing to check
      expect(result.code).toBe(130);
      expect(result.stderr).toContain("(INTERRUPTED)");
      // no recovery has run: the process cleaned up after itself
      expect(await readdir(path.join(root, "strata/tmp"))).toEqual([]);
      expect(await readdir(path.join(root, "strata/leases"))).toEqual([]);
      const store = await ImageStore.open({ root });
      expect(await store.verify()).toEqual([]);
    });

    it.each([
      ["right after start", (_out: string) => true],
      ["after the first progress line", (out: string) => out.includes("Pulling fs layer")],
      ["after the first layer commits", (out: string) => out.includes("Pull complete")],
      ["after two layers commit", (out: string) => out.split("Pull complete").length > 2],
    ])("kill -9 %s leaves a consistent store, and the next pull completes it", async (_name, when) => {
      const ref = `${registry.host}/test/big:v1`;
      const child = spawnCli(["--root", root, "pull", ref], { STRATA_PULL_CONCURRENCY: "2" });
      const result = await collect(child, (out) => {
        if (when(out) && child.exitCode === null) child.kill("SIGKILL");
      });
      // it may have finished first on a fast machine: either way the store must be consistent
      expect(result.signal === "SIGKILL" || result.code === 0).toBe(true);
      if (process.env.STRATA_TEST_DEBUG) {
        const tmp = await readdir(path.join(root, "strata/tmp")).catch(() => []);
        const layers = await readdir(path.join(root, "image/overlay2/layerdb/sha256")).catch(() => []);
        console.log(_name, result.signal, result.code, { tmp: tmp.length, layers: layers.length });
      }
      const store = await ImageStore.open({ root }); // recovery runs here
      expect(await store.verify()).toEqual([]);
      expect(await readdir(store.layout.tmp)).toEqual([]);
      expect(await readdir(store.layout.leases)).toEqual([]);
      expect(await readdir(store.layout.layerdbTmp)).toEqual([]);

      const again = await cli("pull", ref);
      expect(again.code).toBe(0);
      expect(await store.verify()).toEqual([]);
      const image = await store.get(ref);
      for (const [i, layer] of image.layers.entries()) {
        const data = await readFile(path.join(layer.diffDir, `data/${i}.bin`));
        expect(sha(data)).toBe(sha(bigData[i] as Buffer));
      }
    });
  },
  { commands: ["docker-registry", "script"] },
);
