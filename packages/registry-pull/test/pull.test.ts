/**
 * Pulls from the real Debian docker-registry on 127.0.0.1: anonymous, htpasswd basic auth, and
 * bearer tokens from testkit's token server; images as OCI index (two platforms + attestations),
 * Docker manifest list, plain schema2 and OCI manifests; layers gzip, zstd and uncompressed.
 */
import { type RegistryHandle, startRegistry, RegistryClient as TestRegistryClient } from "@strata/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createRegistryClient,
  OciLayoutSink,
  type PullEvent,
  pullImage,
  type RegistryClientOptions,
  resolveImage,
} from "../src/index.js";
import {
  blobBytes,
  makeImages,
  pushAll,
  RecordingSink,
  readLayout,
  removeDir,
  sha256,
  type TestImages,
  tempDir,
} from "./helpers.js";

const modes = ["none", "basic", "token"] as const;

describe.each(modes)("pull with auth=%s", (auth) => {
  let reg: RegistryHandle;
  let images: TestImages;
  let dir: string | undefined;
  let opts: RegistryClientOptions;

  beforeAll(async () => {
    reg = await startRegistry({ auth });
    images = await makeImages();
    await pushAll(reg, images);
    opts = {
      dockerConfig: false,
      retry: { baseDelayMs: 5 },
      ...(reg.credentials ? { credentials: { [reg.host]: reg.credentials } } : {}),
    };
  });
  afterAll(async () => {
    await reg?.stop();
  });
  afterEach(async () => {
    await removeDir(dir);
    dir = undefined;
  });

  const cases = [
    { tag: "oci", expect: (i: TestImages) => ({ manifest: i.ociPlain, index: undefined }) },
    { tag: "docker", expect: (i: TestImages) => ({ manifest: i.dockerPlain, index: undefined }) },
    { tag: "index", expect: (i: TestImages) => ({ manifest: i.indexHost, index: i.ociIndex }) },
    { tag: "list", expect: (i: TestImages) => ({ manifest: i.listHost, index: i.dockerList }) },
  ];

  it.each(cases)("pulls :$tag into an OCI layout with every byte verified", async ({ tag, expect: pick }) => {
    const want = pick(images);
    dir = await tempDir();
    const events: PullEvent[] = [];
    const img = await pullImage(`${reg.host}/test/app:${tag}`, new OciLayoutSink(dir), {
      ...opts,
      onProgress: (e) => events.push(e),
    });
    expect(img.manifestDigest).toBe(want.manifest.digest);
    expect(img.indexDigest).toBe(want.index?.digest);
    expect(img.config.digest).toBe(want.manifest.configDigest);
    expect(img.layers.map((l) => l.digest)).toEqual(want.manifest.layers.map((l) => l.digest));
    expect(img.platform.os).toBe("linux");
    const { index } = await readLayout(dir);
    expect(index.manifests).toEqual([
      expect.objectContaining({
        digest: want.manifest.digest,
        annotations: { "org.opencontainers.image.ref.name": tag },
      }),
    ]);
    for (const layer of want.manifest.layers) {
      const bytes = await blobBytes(dir, layer.digest);
      expect(sha256(bytes)).toBe(layer.digest);
    }
    expect(await blobBytes(dir, want.manifest.digest)).toEqual(want.manifest.manifest);
    expect(await blobBytes(dir, want.manifest.configDigest)).toEqual(want.manifest.config);
    // progress: every layer waits, downloads to its full size, verifies and is done
    for (const [i, layer] of want.manifest.layers.entries()) {
      const mine = events
        .filter((e) => e.type === "layer" && e.index === i)
        .map((e) => (e.type === "layer" ? e.status : ""));
      expect(mine[0]).toBe("waiting");
      expect(mine.slice(-2)).toEqual(["verifying", "done"]);
      const last = events
        .filter((e) => e.type === "layer" && e.index === i && e.status === "downloading")
        .at(-1);
      expect(last).toMatchObject({ bytes: layer.size, total: layer.size });
    }
    expect(events.at(-1)?.type).toBe("committed");
  });

  it("pulls by digest and skips layers the sink already has", async () => {
    dir = await tempDir();
    const ref = `${reg.host}/test/app@${images.ociPlain.digest}`;
    const client = createRegistryClient(opts);
    try {
      await client.pull(ref, new OciLayoutSink(dir));
      const events: PullEvent[] = [];
      await client.pull(ref, new OciLayoutSink(dir), { onProgress: (e) => events.push(e) });
      const statuses = events
        .filter((e) => e.type === "layer")
        .map((e) => (e.type === "layer" ? e.status : ""));
      expect(statuses.filter((s) => s === "present")).toHaveLength(images.ociPlain.layers.length);
      expect(statuses).not.toContain("downloading");
    } finally {
      await client.close();
    }
  });

  it("chooses the platform option from an index, skipping attestation entries", async () => {
    const other = process.arch === "arm64" ? "linux/amd64" : "linux/arm64";
    const img = await resolveImage(`${reg.host}/test/app:index`, { ...opts, platform: other });
    expect(img.platform.architecture).toBe(other.split("/")[1]);
    expect(img.manifestDigest).not.toBe(images.indexHost.digest);
    await expect(
      resolveImage(`${reg.host}/test/app:index`, { ...opts, platform: "linux/s390x" }),
    ).rejects.toMatchObject({
      code: "NO_MATCHING_PLATFORM",
    });
  });

  it("NOT_FOUND names the repository and the tag", async () => {
    await expect(resolveImage(`${reg.host}/test/app:nope`, opts)).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: expect.stringMatching(/test\/app:nope/),
    });
    const missing = resolveImage(`${reg.host}/test/missing:latest`, opts);
    await expect(missing).rejects.toMatchObject({ message: expect.stringMatching(/test\/missing/) });
    await expect(missing).rejects.toMatchObject({
      code: auth === "token" ? expect.stringMatching(/NOT_FOUND|UNAUTHORIZED/) : "NOT_FOUND",
    });
  });

  if (auth !== "none") {
    it("without credentials: UNAUTHORIZED with a message saying to log in", async () => {
      const { credentials: _c, ...anon } = opts;
      const p = resolveImage(`${reg.host}/test/app:oci`, anon);
      if (auth === "basic") {
        await expect(p).rejects.toMatchObject({
          code: "UNAUTHORIZED",
          message: expect.stringMatching(/log in/),
        });
      } else {
        // the token server gives anonymous users pull: anonymous bearer works
        await expect(p).resolves.toMatchObject({ manifestDigest: images.ociPlain.digest });
      }
    });

    it("wrong password: UNAUTHORIZED", async () => {
      const bad = { ...opts, credentials: { [reg.host]: { username: "strata", password: "wrong" } } };
      await expect(resolveImage(`${reg.host}/test/app:oci`, bad)).rejects.toMatchObject({
        code: "UNAUTHORIZED",
      });
    });
  }

  it("bounded concurrency: never more writers open than the option allows", async () => {
    for (const concurrency of [1, 2, 3]) {
      const sink = new RecordingSink();
      await pullImage(`${reg.host}/test/app:oci`, sink, { ...opts, concurrency });
      expect(sink.maxOpen).toBeLessThanOrEqual(concurrency);
      expect(sink.layers.size).toBe(3);
    }
  });

  if (auth === "token") {
    it("with credentials, tokens come from the OAuth2 POST form", async () => {
      const before = reg.tokenServer?.requests.length ?? 0;
      await resolveImage(`${reg.host}/test/app:oci`, opts);
      const log = reg.tokenServer?.requests.slice(before) ?? [];
      expect(log).toEqual([
        expect.objectContaining({ method: "POST", grantType: "password", username: "strata", status: 200 }),
      ]);
    });
  }

  it("writes layers to the sink in order, commits each once, then the image", async () => {
    const sink = new RecordingSink();
    const img = await pullImage(`${reg.host}/test/app:oci`, sink, { ...opts, concurrency: 1 });
    expect(sink.calls).toEqual([
      "has 0",
      "open 0",
      "commit 0",
      "has 1",
      "open 1",
      "commit 1",
      "has 2",
      "open 2",
      "commit 2",
      "commitImage",
    ]);
    for (const [i, layer] of images.ociPlain.layers.entries()) expect(sink.layers.get(i)).toEqual(layer.blob);
    expect(sink.committed).toBe(img);
  });
});

describe("token auth details", () => {
  let reg: RegistryHandle;
  let images: TestImages;
  beforeAll(async () => {
    reg = await startRegistry({ auth: "token", token: { oauth: false, allowAnonymous: false } });
    images = await makeImages();
    await pushAll(reg, images);
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("falls back from the OAuth POST form to GET, and caches the token per scope", async () => {
    const client = createRegistryClient({
      dockerConfig: false,
      credentials: { [reg.host]: reg.credentials ?? {} },
    });
    try {
      const before = reg.tokenServer?.requests.length ?? 0;
      await client.pull(`${reg.host}/test/app:oci`, new RecordingSink());
      await client.pull(`${reg.host}/test/app:docker`, new RecordingSink());
      const log = reg.tokenServer?.requests.slice(before) ?? [];
      expect(log.map((r) => r.method)).toEqual(["POST", "GET"]);
      expect(log[1]).toMatchObject({ username: "strata", scopes: ["repository:test/app:pull"] });
      expect(client.tokenFetches).toBe(1);
    } finally {
      await client.close();
    }
  });

  it("reads credentials from a docker config.json (auths, base64 auth)", async () => {
    const { writeFile } = await import("node:fs/promises");
    const { join } = await import("node:path");
    const dir = await tempDir();
    try {
      const path = join(dir, "config.json");
      const c = reg.credentials ?? { username: "", password: "" };
      await writeFile(
        path,
        JSON.stringify({
          auths: {
            [`http://${reg.host}`]: { auth: Buffer.from(`${c.username}:${c.password}`).toString("base64") },
          },
        }),
      );
      const img = await resolveImage(`${reg.host}/test/app:oci`, { dockerConfig: path });
      expect(img.manifestDigest).toBe(images.ociPlain.digest);
      await expect(
        resolveImage(`${reg.host}/test/app:oci`, { dockerConfig: join(dir, "absent.json") }),
      ).rejects.toMatchObject({
        code: "UNAUTHORIZED",
      });
    } finally {
      await removeDir(dir);
    }
  });
});

describe("nested indexes", () => {
  let reg: RegistryHandle;
  let images: TestImages;
  beforeAll(async () => {
    reg = await startRegistry();
    images = await makeImages();
    await pushAll(reg, images);
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("follows an index whose entry is another index", async () => {
    const inner = images.ociIndex;
    const outer = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [
          {
            mediaType: inner.mediaType,
            digest: inner.digest,
            size: inner.index.length,
            platform: images.indexHost.platform,
          },
        ],
      }),
    );
    await new TestRegistryClient(reg).putManifest(
      "test/app",
      "nested",
      "application/vnd.oci.image.index.v1+json",
      outer,
    );
    const img = await resolveImage(`${reg.host}/test/app:nested`, { dockerConfig: false });
    expect(img.manifestDigest).toBe(images.indexHost.digest);
    expect(img.indexDigest).toBe(sha256(outer));
  });
});
