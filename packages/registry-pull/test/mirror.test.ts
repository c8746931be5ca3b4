/**
 * Mirrors: a pull-through cache (`proxy.remoteurl`) of a second local registry, tried before the
 * origin; dead or failing mirrors fall back to the next one and finally the origin.
 */
import { freePort, type RegistryHandle, startRegistry } from "@strata/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createRegistryClient, pullImage, type RegistryClientOptions } from "../src/index.js";
import { type FaultProxy, startFaultProxy } from "./fault-proxy.js";
import { makeImages, pushAll, RecordingSink, type TestImages } from "./helpers.js";

describe("registry mirrors", () => {
  let origin: RegistryHandle;
  let mirror: RegistryHandle;
  let originProxy: FaultProxy;
  let mirrorProxy: FaultProxy;
  let images: TestImages;
  let dead: string;

  beforeAll(async () => {
    origin = await startRegistry();
    images = await makeImages();
    await pushAll(origin, images);
    mirror = await startRegistry({ proxyRemoteUrl: origin.url });
    originProxy = await startFaultProxy(origin.url);
    mirrorProxy = await startFaultProxy(mirror.url);
    dead = `http://127.0.0.1:${await freePort()}`;
  });
  afterAll(async () => {
    await mirrorProxy?.stop();
    await originProxy?.stop();
    await mirror?.stop();
    await origin?.stop();
  });
  afterEach(() => {
    for (const p of [originProxy, mirrorProxy]) {
      p.rules = [];
      p.seen.length = 0;
    }
  });

  const opts = (mirrors: string[]): RegistryClientOptions => ({
    dockerConfig: false,
    retry: { retries: 1, baseDelayMs: 1 },
    mirrors: { [originProxy.host]: mirrors },
  });
  const ref = () => `${originProxy.host}/test/app:index`;

  it("pulls through the mirror; the origin is not asked", async () => {
    const sink = new RecordingSink();
    const img = await pullImage(ref(), sink, opts([mirrorProxy.url]));
    expect(img.manifestDigest).toBe(images.indexHost.digest);
    expect(sink.layers.get(0)).toEqual(images.indexHost.layers[0]?.blob);
    expect(mirrorProxy.seen.length).toBeGreaterThan(0);
    expect(originProxy.seen).toHaveLength(0);
  });

  it("a dead mirror first: falls back to the next mirror", async () => {
    const img = await pullImage(ref(), new RecordingSink(), opts([dead, mirrorProxy.url]));
    expect(img.manifestDigest).toBe(images.indexHost.digest);
    expect(originProxy.seen).toHaveLength(0);
  });

  it("a mirror that does not know the image: falls back to the origin", async () => {
    mirrorProxy.rules = [{ path: /\/v2\/.+/, fault: { kind: "status", status: 404 }, times: Infinity }];
    const img = await pullImage(ref(), new RecordingSink(), opts([mirrorProxy.url]));
    expect(img.manifestDigest).toBe(images.indexHost.digest);
    expect(originProxy.seen.length).toBeGreaterThan(0);
  });

  it("a mirror that fails on blobs: the blobs come from the origin", async () => {
    mirrorProxy.rules = [
      { path: /\/blobs\/sha256:/, fault: { kind: "status", status: 503 }, times: Infinity },
    ];
    const sink = new RecordingSink();
    const client = createRegistryClient(opts([mirrorProxy.url]));
    try {
      const img = await client.pull(ref(), sink);
      expect(img.manifestDigest).toBe(images.indexHost.digest);
      expect(sink.layers.get(1)).toEqual(images.indexHost.layers[1]?.blob);
      // manifests from the mirror, config and layers from the origin
      expect(originProxy.seen.some((r) => r.path.includes("/manifests/"))).toBe(false);
      expect(originProxy.seen.filter((r) => r.path.includes("/blobs/"))).toHaveLength(3);
    } finally {
      await client.close();
    }
  });

  it("mirror URLs are validated", () => {
    expect(() => createRegistryClient({ mirrors: { "docker.io": ["http://mirror.example.com"] } })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTION" }),
    );
    expect(() =>
      createRegistryClient({ mirrors: { "docker.io": ["https://mirror.example.com/sub"] } }),
    ).toThrow(expect.objectContaining({ code: "INVALID_OPTION" }));
  });
});
