/**
 * Faults injected by a proxy (node:http, 127.0.0.1) in front of the real registry. Each case ends
 * in success after a retry/resume, or in a clear typed error; never in a wrong byte accepted.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type BuiltImage,
  buildImage,
  pushImage,
  type RegistryHandle,
  startRegistry,
  tarLayer,
} from "@strata/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createRegistryClient,
  type PullEvent,
  pullImage,
  type RegistryClientOptions,
  resolveImage,
} from "../src/index.js";
import { type FaultProxy, type Rule, startFaultProxy } from "./fault-proxy.js";
import { RecordingSink } from "./helpers.js";

const LAYER_BYTES = 256 * 1024;

async function bigImage(): Promise<BuiltImage> {
  const small = await tarLayer([{ type: "file", path: "small", content: "hello" }], { compression: "gzip" });
  const big = await tarLayer([{ type: "file", path: "big", content: randomBytes(LAYER_BYTES) }], {
    compression: "gzip",
  });
  return buildImage({ layers: [small, big] });
}

/** A stand-in for blob storage on another port: serves blobs by digest and records request headers. */
async function startBlobStore(
  blobs: Map<string, Buffer>,
): Promise<{ url: string; seen: IncomingHttpHeaders[]; stop(): Promise<void> }> {
  const seen: IncomingHttpHeaders[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(req.headers);
    const digest = /(sha256:[a-f0-9]{64})/.exec(req.url ?? "")?.[1];
    const blob = digest ? blobs.get(digest) : undefined;
    if (!blob) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-length": String(blob.length), "content-type": "application/octet-stream" });
    res.end(blob);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const MANIFEST = /\/v2\/test\/big\/manifests\//;

describe("faults in front of an anonymous registry", () => {
  let reg: RegistryHandle;
  let proxy: FaultProxy;
  let img: BuiltImage;
  const bigDigest = () => img.layers[1]?.digest as string;
  const bigPath = () => new RegExp(`/blobs/${bigDigest()}`);
  const opts: RegistryClientOptions = { dockerConfig: false, retry: { baseDelayMs: 5, maxDelayMs: 20 } };

  beforeAll(async () => {
    reg = await startRegistry();
    img = await bigImage();
    await pushImage(reg, "test/big", "latest", img);
    proxy = await startFaultProxy(reg.url);
  });
  afterAll(async () => {
    await proxy?.stop();
    await reg?.stop();
  });
  afterEach(() => {
    proxy.rules = [];
    proxy.seen.length = 0;
  });

  async function pull(rules: Rule[], extra: Partial<RegistryClientOptions> = {}) {
    proxy.rules = rules;
    const sink = new RecordingSink();
    const events: PullEvent[] = [];
    const result = await pullImage(`${proxy.host}/test/big:latest`, sink, {
      ...opts,
      ...extra,
      onProgress: (e) => events.push(e),
    }).then(
      (image) => ({ image, error: undefined }),
      (error: unknown) => ({ image: undefined, error: error as Error & { code?: string } }),
    );
    return { ...result, sink, events };
  }

  const recovers: { name: string; rules: () => Rule[]; resumed: boolean }[] = [
    {
      name: "connection reset mid-blob",
      rules: () => [{ method: "GET", path: bigPath(), fault: { kind: "reset", afterBytes: 100_000 } }],
      resumed: true,
    },
    {
      name: "truncated body",
      rules: () => [{ method: "GET", path: bigPath(), fault: { kind: "truncate", afterBytes: 70_000 } }],
      resumed: true,
    },
    {
      name: "503 then success",
      rules: () => [{ method: "GET", path: bigPath(), fault: { kind: "status", status: 503 }, times: 2 }],
      resumed: false,
    },
    {
      name: "429 with Retry-After",
      rules: () => [
        {
          method: "GET",
          path: bigPath(),
          fault: { kind: "status", status: 429, headers: { "retry-after": "1" } },
        },
      ],
      resumed: false,
    },
    {
      name: "503 on the manifest",
      rules: () => [{ path: MANIFEST, fault: { kind: "status", status: 503 } }],
      resumed: false,
    },
  ];

  it.each(recovers)("$name: succeeds after a retry with the exact bytes", async ({ rules, resumed }) => {
    const { error, sink, events } = await pull(rules());
    expect(error).toBeUndefined();
    expect(sink.layers.get(1)).toEqual(img.layers[1]?.blob);
    expect(sink.calls).toContain("commitImage");
    expect(events.some((e) => e.type === "layer" && e.status === "retrying") || !resumed).toBe(true);
    const ranged = proxy.seen.filter((r) => r.headers.range);
    if (resumed) {
      expect(ranged).toHaveLength(1);
      expect(ranged[0]?.headers.range).toMatch(/^bytes=[1-9]\d*-$/);
      // resumed in place: the writer was never reopened
      expect(sink.calls.filter((c) => c === "open 1")).toHaveLength(1);
    } else expect(ranged).toHaveLength(0);
  });

  it("sends Accept for all four manifest types and resolves the tag with HEAD", async () => {
    const { error } = await pull([]);
    expect(error).toBeUndefined();
    const manifestReqs = proxy.seen.filter((r) => MANIFEST.test(r.path));
    expect(manifestReqs[0]).toMatchObject({ method: "HEAD", path: "/v2/test/big/manifests/latest" });
    expect(manifestReqs[1]).toMatchObject({ method: "GET", path: `/v2/test/big/manifests/${img.digest}` });
    for (const r of manifestReqs) {
      for (const t of [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
      ]) {
        expect(r.headers.accept).toContain(t);
      }
    }
  });

  it("server ignores Range after a reset: restarts from zero with a fresh writer", async () => {
    const { error, sink, events } = await pull([
      { method: "GET", path: bigPath(), fault: { kind: "reset", afterBytes: 100_000 } },
      { method: "GET", path: bigPath(), range: true, fault: { kind: "strip-range" } },
    ]);
    expect(error).toBeUndefined();
    expect(sink.calls.filter((c) => c === "open 1")).toHaveLength(2);
    expect(sink.calls.some((c) => c.startsWith("abort 1"))).toBe(true);
    expect(sink.layers.get(1)).toEqual(img.layers[1]?.blob);
    expect(events.some((e) => e.type === "layer" && e.status === "restarted")).toBe(true);
  });

  it("one flipped byte: DIGEST_MISMATCH naming the blob; the writer is aborted, nothing committed", async () => {
    const { error, sink } = await pull([
      { method: "GET", path: bigPath(), fault: { kind: "flip", offset: 12_345 } },
    ]);
    expect(error).toMatchObject({ code: "DIGEST_MISMATCH", message: expect.stringContaining(bigDigest()) });
    expect(sink.calls.some((c) => c.startsWith("abort 1"))).toBe(true);
    expect(sink.calls).not.toContain("commit 1");
    expect(sink.calls).not.toContain("commitImage");
  });

  it("a flipped byte after a resume is retried once from scratch, then succeeds", async () => {
    const { error, sink } = await pull([
      { method: "GET", path: bigPath(), range: false, fault: { kind: "reset", afterBytes: 50_000 } },
      { method: "GET", path: bigPath(), range: true, fault: { kind: "flip", offset: 10 } },
    ]);
    expect(error).toBeUndefined();
    expect(sink.layers.get(1)).toEqual(img.layers[1]?.blob);
  });

  it("429 for ever: TOO_MANY_REQUESTS after the retries", async () => {
    const { error, sink } = await pull(
      [
        {
          path: MANIFEST,
          fault: {
            kind: "status",
            status: 429,
            headers: { "retry-after": "0", "ratelimit-limit": "100;w=21600" },
          },
          times: Infinity,
        },
      ],
      { retry: { retries: 2, baseDelayMs: 1 } },
    );
    expect(error).toMatchObject({
      code: "TOO_MANY_REQUESTS",
      message: expect.stringContaining("100;w=21600"),
    });
    expect(sink.calls).toEqual([]);
  });

  it("Retry-After longer than we wait: TOO_MANY_REQUESTS at once", async () => {
    const { error } = await pull([
      { path: MANIFEST, fault: { kind: "status", status: 429, headers: { "retry-after": "3600" } } },
    ]);
    expect(error).toMatchObject({ code: "TOO_MANY_REQUESTS", retryAfter: 3600 });
  });

  it("wrong Docker-Content-Digest on the manifest: DIGEST_MISMATCH", async () => {
    const fake = `sha256:${"0".repeat(64)}`;
    const { error } = await pull([
      {
        path: MANIFEST,
        fault: { kind: "headers", headers: { "docker-content-digest": fake } },
        times: Infinity,
      },
    ]);
    expect(error).toMatchObject({ code: "DIGEST_MISMATCH" });
  });

  it("wrong Docker-Content-Digest on a blob: DIGEST_MISMATCH, no bytes kept", async () => {
    const fake = `sha256:${"1".repeat(64)}`;
    const { error, sink } = await pull([
      {
        path: bigPath(),
        fault: { kind: "headers", headers: { "docker-content-digest": fake } },
        times: Infinity,
      },
    ]);
    expect(error).toMatchObject({ code: "DIGEST_MISMATCH" });
    expect(sink.calls).not.toContain("commitImage");
  });

  it("a flipped byte in a manifest pulled by digest: DIGEST_MISMATCH", async () => {
    proxy.rules = [{ method: "GET", path: MANIFEST, fault: { kind: "flip", offset: 30 }, times: Infinity }];
    await expect(resolveImage(`${proxy.host}/test/big@${img.digest}`, opts)).rejects.toMatchObject({
      code: "DIGEST_MISMATCH",
    });
  });

  it("cancellation by AbortSignal: ABORTED, the writer is aborted, nothing committed", async () => {
    const controller = new AbortController();
    proxy.rules = [];
    const sink = new RecordingSink();
    const p = pullImage(`${proxy.host}/test/big:latest`, sink, {
      ...opts,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.type === "layer" && e.status === "downloading" && e.index === 1) controller.abort();
      },
    });
    await expect(p).rejects.toMatchObject({ code: "ABORTED" });
    expect(sink.calls.some((c) => c.startsWith("abort 1"))).toBe(true);
    expect(sink.calls).not.toContain("commitImage");
  });

  it("a sink that fails: its error surfaces, other writers are aborted", async () => {
    proxy.rules = [];
    const sink = new RecordingSink();
    sink.failOpen = 1;
    await expect(pullImage(`${proxy.host}/test/big:latest`, sink, opts)).rejects.toThrow(
      /sink cannot open layer 1/,
    );
    expect(sink.calls).not.toContain("commitImage");
  });
});

describe("faults in front of a token-auth registry", () => {
  let reg: RegistryHandle;
  let proxy: FaultProxy;
  let img: BuiltImage;
  let store: Awaited<ReturnType<typeof startBlobStore>>;
  let opts: RegistryClientOptions;
  const bigPath = () => new RegExp(`/blobs/${img.layers[1]?.digest}`);

  beforeAll(async () => {
    reg = await startRegistry({ auth: "token" });
    img = await bigImage();
    await pushImage(reg, "test/big", "latest", img);
    proxy = await startFaultProxy(reg.url);
    store = await startBlobStore(new Map(img.blobs.map((b) => [b.digest, b.data])));
    opts = {
      dockerConfig: false,
      retry: { baseDelayMs: 5, maxDelayMs: 20 },
      credentials: { [proxy.host]: reg.credentials ?? {} },
    };
  });
  afterAll(async () => {
    await store?.stop();
    await proxy?.stop();
    await reg?.stop();
  });
  afterEach(() => {
    proxy.rules = [];
    proxy.seen.length = 0;
    store.seen.length = 0;
  });

  it("expired token mid-blob: refreshes the token once and resumes", async () => {
    const client = createRegistryClient(opts);
    try {
      proxy.rules = [
        { method: "GET", path: bigPath(), range: false, fault: { kind: "reset", afterBytes: 80_000 } },
        { method: "GET", path: bigPath(), range: true, fault: { kind: "expired-token" } },
      ];
      const sink = new RecordingSink();
      await client.pull(`${proxy.host}/test/big:latest`, sink);
      expect(sink.layers.get(1)).toEqual(img.layers[1]?.blob);
      expect(client.tokenFetches).toBe(2);
      const ranged = proxy.seen.filter((r) => r.headers.range);
      expect(ranged.map((r) => r.fault)).toEqual(["expired-token", undefined]);
      expect(ranged[1]?.headers.authorization).toMatch(/^Bearer /);
    } finally {
      await client.close();
    }
  });

  it("a redirect to another port never receives Authorization", async () => {
    proxy.rules = [
      { method: "GET", path: /\/blobs\//, fault: { kind: "redirect", target: store.url }, times: Infinity },
    ];
    const sink = new RecordingSink();
    await pullImage(`${proxy.host}/test/big:latest`, sink, opts);
    expect(sink.layers.get(1)).toEqual(img.layers[1]?.blob);
    // the registry side did get credentials, the blob store (config + 2 layers) never
    expect(
      proxy.seen
        .filter((r) => /\/blobs\//.test(r.path))
        .every((r) => /^Bearer /.test(String(r.headers.authorization))),
    ).toBe(true);
    expect(store.seen.length).toBe(3);
    for (const h of store.seen) {
      expect(h.authorization).toBeUndefined();
      expect(h.cookie).toBeUndefined();
    }
  });

  it("a token realm on a plain-http foreign host: INSECURE_REALM, nothing sent there", async () => {
    proxy.rules = [
      {
        path: /\/v2\//,
        fault: {
          kind: "status",
          status: 401,
          headers: { "www-authenticate": 'Bearer realm="http://strata-test.invalid/token",service="x"' },
        },
        times: Infinity,
      },
    ];
    await expect(resolveImage(`${proxy.host}/test/big:latest`, opts)).rejects.toMatchObject({
      code: "INSECURE_REALM",
    });
  });
});
