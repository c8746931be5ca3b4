/**
 * Bad input: malformed references, schema1, oversize manifests, unknown media types, a mediaType
 * that disagrees with Content-Type; and foreign-layer URLs, which never get credentials.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { buildImage, pushImage, type RegistryHandle, startRegistry, tarLayer } from "@strata/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pullImage, type RegistryClientOptions, resolveImage } from "../src/index.js";
import { type FaultProxy, startFaultProxy } from "./fault-proxy.js";
import { RecordingSink } from "./helpers.js";

const opts: RegistryClientOptions = { dockerConfig: false, retry: { baseDelayMs: 1, retries: 1 } };

describe("bad input", () => {
  let reg: RegistryHandle;
  let proxy: FaultProxy;
  beforeAll(async () => {
    reg = await startRegistry();
    const layer = await tarLayer([{ type: "file", path: "a", content: "a" }]);
    await pushImage(reg, "test/app", "latest", buildImage({ layers: [layer] }));
    proxy = await startFaultProxy(reg.url);
  });
  afterAll(async () => {
    await proxy?.stop();
    await reg?.stop();
  });
  afterEach(() => {
    proxy.rules = [];
  });

  it.each([["-app"], ["app:"], ["app:bad tag"], ["app@sha256:../../x"], ["app@sha256:1234"], [""], ["a//b"]])(
    "malformed reference %j: INVALID_REFERENCE / INVALID_DIGEST before any request",
    async (ref) => {
      await expect(resolveImage(ref, opts)).rejects.toMatchObject({
        code: expect.stringMatching(/^INVALID_(REFERENCE|DIGEST)$/),
      });
    },
  );

  const schema1 = Buffer.from(
    JSON.stringify({
      schemaVersion: 1,
      name: "test/app",
      tag: "latest",
      architecture: "amd64",
      fsLayers: [],
      history: [],
    }),
  );
  const big = Buffer.from(JSON.stringify({ schemaVersion: 2, pad: "x".repeat(4 * 1024 * 1024 + 10) }));
  const cases: {
    name: string;
    contentType: string;
    body: Buffer;
    code: string;
    headers?: Record<string, string>;
  }[] = [
    {
      name: "schema1 (signed)",
      contentType: "application/vnd.docker.distribution.manifest.v1+prettyjws",
      body: schema1,
      code: "SCHEMA1_UNSUPPORTED",
    },
    {
      name: "schema1 body under a JSON type",
      contentType: "application/json",
      body: schema1,
      code: "SCHEMA1_UNSUPPORTED",
    },
    {
      name: "manifest over 4 MiB",
      contentType: "application/vnd.oci.image.manifest.v1+json",
      body: big,
      code: "MANIFEST_TOO_LARGE",
    },
    {
      name: "unknown media type",
      contentType: "application/vnd.example.unknown+json",
      body: Buffer.from('{"schemaVersion":2}'),
      code: "UNSUPPORTED_MEDIA_TYPE",
    },
    {
      name: "mediaType disagrees with Content-Type (CVE-2021-41190)",
      contentType: "application/vnd.oci.image.index.v1+json",
      body: Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          config: {
            mediaType: "application/vnd.oci.image.config.v1+json",
            digest: `sha256:${"a".repeat(64)}`,
            size: 2,
          },
          layers: [],
        }),
      ),
      code: "INVALID_MANIFEST",
    },
    {
      name: "index and manifest at once",
      contentType: "application/json",
      body: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [], layers: [] })),
      code: "INVALID_MANIFEST",
    },
  ];

  it.each(cases)("$name: $code", async ({ contentType, body, code }) => {
    proxy.rules = [{ path: /\/manifests\//, fault: { kind: "body", contentType, body }, times: Infinity }];
    const err = await resolveImage(`${proxy.host}/test/app:latest`, opts).catch((e: unknown) => e);
    expect(err).toMatchObject({ code, message: expect.stringContaining("test/app") });
  });

  it("oversize manifest without Content-Length is cut off at 4 MiB", async () => {
    // HEAD fails, GET streams chunked (no Content-Length): the reader stops at the cap
    proxy.rules = [
      { method: "HEAD", path: /\/manifests\//, fault: { kind: "status", status: 405 }, times: Infinity },
      {
        method: "GET",
        path: /\/manifests\//,
        fault: {
          kind: "body",
          contentType: "application/vnd.oci.image.manifest.v1+json",
          body: big,
          chunked: true,
        },
        times: Infinity,
      },
    ];
    await expect(resolveImage(`${proxy.host}/test/app:latest`, opts)).rejects.toMatchObject({
      code: "MANIFEST_TOO_LARGE",
    });
  });
});

describe("foreign layer URLs (CVE-2020-15157)", () => {
  let reg: RegistryHandle;
  let spy: { url: string; seen: IncomingHttpHeaders[]; server: Server; blobs: Map<string, Buffer> };
  beforeAll(async () => {
    reg = await startRegistry({ auth: "basic" });
    const blobs = new Map<string, Buffer>();
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      const blob = blobs.get(/(sha256:[a-f0-9]{64})/.exec(req.url ?? "")?.[1] ?? "");
      if (!blob) return void res.writeHead(404).end();
      res.writeHead(200, { "content-length": String(blob.length) }).end(blob);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    spy = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server, blobs };
  });
  afterAll(async () => {
    spy?.server.closeAllConnections();
    await new Promise<void>((r) => (spy ? spy.server.close(() => r()) : r()));
    await reg?.stop();
  });

  it.each([
    { name: "served by the foreign URL", serve: true },
    { name: "foreign URL 404: falls back to the registry", serve: false },
  ])("$name, and the foreign host never sees credentials", async ({ serve }) => {
    const layer = await tarLayer([{ type: "file", path: `f-${serve}`, content: "foreign" }]);
    const plain = buildImage({ layers: [layer], format: "docker" });
    await pushImage(reg, "test/foreign", `t-${serve}`, plain);
    // distribution 2.8 refuses to store foreign-layer manifests here, so the proxy serves it
    const foreign = buildImage({
      layers: [layer],
      format: "docker",
      mutateManifest: (m) => {
        const l0 = (m.layers as Record<string, unknown>[])[0] as Record<string, unknown>;
        l0.mediaType = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
        l0.urls = [`${spy.url}/foreign/${layer.digest}`];
      },
    });
    const proxy = await startFaultProxy(reg.url, [
      {
        path: /\/manifests\//,
        fault: { kind: "body", contentType: foreign.mediaType, body: foreign.manifest },
        times: Infinity,
      },
    ]);
    try {
      if (serve) spy.blobs.set(layer.digest, layer.blob);
      spy.seen.length = 0;
      const sink = new RecordingSink();
      await pullImage(`${proxy.host}/test/foreign:t-${serve}`, sink, {
        ...opts,
        credentials: { [proxy.host]: reg.credentials ?? {} },
      });
      expect(sink.layers.get(0)).toEqual(layer.blob);
      expect(spy.seen).toHaveLength(1);
      expect(spy.seen[0]?.authorization).toBeUndefined();
      // the registry itself did get credentials
      expect(
        proxy.seen.some((r) => /\/blobs\//.test(r.path) && /^Basic /.test(String(r.headers.authorization))),
      ).toBe(true);
      expect(proxy.seen.some((r) => r.path.includes(layer.digest))).toBe(!serve);
    } finally {
      await proxy.stop();
    }
  });
});
