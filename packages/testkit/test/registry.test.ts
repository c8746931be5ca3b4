import { writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildImage,
  buildIndex,
  type Compression,
  fetchToken,
  findLeaks,
  type ImageFormat,
  MT,
  pushImage,
  pushIndex,
  type RegistryHandle,
  registryBlobPath,
  sha256,
  startRegistry,
  tarLayer,
} from "../src/index.js";

/** Plain-HTTP GET (no testkit client), with an optional Authorization header. */
async function get(url: string, authorization?: string, accept = "*/*") {
  const res = await fetch(url, { headers: { accept, ...(authorization ? { authorization } : {}) } });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

const basicHeader = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;

async function smallImage(format: ImageFormat, compression: Compression, tag: string) {
  const layer = await tarLayer(
    [
      { type: "dir", path: "data" },
      { type: "file", path: "data/tag", content: `${tag}\n` },
    ],
    { compression },
  );
  return buildImage({ layers: [layer], format, config: { Cmd: ["/bin/sh"] } });
}

/** Every pushed blob and the manifest come back byte-identical over plain HTTP. */
async function expectPulled(
  registry: RegistryHandle,
  repo: string,
  tag: string,
  image: Awaited<ReturnType<typeof smallImage>>,
  authorization?: string,
) {
  const manifest = await get(`${registry.url}/v2/${repo}/manifests/${tag}`, authorization, image.mediaType);
  expect(manifest.status).toBe(200);
  expect(manifest.headers.get("content-type")).toBe(image.mediaType);
  expect(manifest.headers.get("docker-content-digest")).toBe(image.digest);
  expect(sha256(manifest.body)).toBe(image.digest);
  for (const blob of image.blobs) {
    const got = await get(`${registry.url}/v2/${repo}/blobs/${blob.digest}`, authorization);
    expect(got.status).toBe(200);
    expect(sha256(got.body)).toBe(blob.digest);
  }
}

const matrix: { format: ImageFormat; compression: Compression; chunked: boolean }[] = [];
for (const format of ["oci", "docker"] as const) {
  for (const compression of ["gzip", "zstd", "none"] as const) {
    for (const chunked of [false, true]) matrix.push({ format, compression, chunked });
  }
}

describe("startRegistry auth: none", () => {
  let registry: RegistryHandle;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it("answers /v2/ on 127.0.0.1 with storage under a strata-test-registry- temp dir", async () => {
    expect(registry.host).toBe(`127.0.0.1:${registry.port}`);
    expect(registry.dir).toMatch(/strata-test-registry-/);
    expect(registry.storageDir.startsWith(registry.dir)).toBe(true);
    expect((await get(`${registry.url}/v2/`)).status).toBe(200);
  });

  it.each(matrix)("pushes and serves a $format image ($compression, chunked: $chunked)", async (c) => {
    const repo = `matrix/${c.format}-${c.compression}-${c.chunked ? "chunked" : "mono"}`;
    const image = await smallImage(c.format, c.compression, repo);
    expect(image.layers[0]?.mediaType).toBe(
      c.format === "oci"
        ? { gzip: MT.ociLayerGzip, zstd: MT.ociLayerZstd, none: MT.ociLayer }[c.compression]
        : { gzip: MT.dockerLayerGzip, zstd: MT.dockerLayerZstd, none: MT.dockerLayer }[c.compression],
    );
    await pushImage(registry, repo, "v1", image, { chunked: c.chunked });
    await expectPulled(registry, repo, "v1", image);
  });

  it.each(["oci", "docker"] as const)(
    "pushes a multi-platform %s index with attestation entries",
    async (format) => {
      const amd = buildImage({
        layers: [await tarLayer([{ type: "file", path: "arch", content: "amd64" }])],
        format,
        platform: { os: "linux", architecture: "amd64" },
      });
      const arm = buildImage({
        layers: [await tarLayer([{ type: "file", path: "arch", content: "arm64" }])],
        format,
        platform: { os: "linux", architecture: "arm64", variant: "v8" },
      });
      const index = buildIndex({ images: [amd, arm], attestations: format === "oci" });
      const repo = `multi/${format}`;
      expect(await pushIndex(registry, repo, "latest", index)).toBe(index.digest);

      const got = await get(`${registry.url}/v2/${repo}/manifests/latest`, undefined, index.mediaType);
      expect(got.status).toBe(200);
      expect(got.headers.get("content-type")).toBe(index.mediaType);
      expect(sha256(got.body)).toBe(index.digest);
      const parsed = JSON.parse(got.body.toString()) as {
        manifests: {
          digest: string;
          platform: { os: string; architecture: string };
          annotations?: Record<string, string>;
        }[];
      };
      expect(parsed.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`)).toEqual(
        format === "oci"
          ? ["linux/amd64", "linux/arm64", "unknown/unknown", "unknown/unknown"]
          : ["linux/amd64", "linux/arm64"],
      );
      if (format === "oci") {
        expect(parsed.manifests[2]?.annotations).toEqual({
          "vnd.docker.reference.digest": amd.digest,
          "vnd.docker.reference.type": "attestation-manifest",
        });
      }
      for (const child of index.manifests) {
        const m = await get(
          `${registry.url}/v2/${repo}/manifests/${child.digest}`,
          undefined,
          child.mediaType,
        );
        expect(m.status).toBe(200);
        expect(sha256(m.body)).toBe(child.digest);
      }
    },
  );

  it("registryBlobPath finds a blob's data file, so tests can corrupt it", async () => {
    const image = await smallImage("oci", "gzip", "corrupt");
    await pushImage(registry, "corrupt/app", "v1", image);
    const layer = image.layers[0];
    if (!layer) throw new Error("one layer");
    const path = registryBlobPath(registry, layer.digest);
    const bytes = Buffer.from(layer.blob);
    bytes[bytes.length - 1] = (bytes.at(-1) ?? 0) ^ 0xff;
    await writeFile(path, bytes);
    const got = await get(`${registry.url}/v2/corrupt/app/blobs/${layer.digest}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(bytes);
    expect(() => registryBlobPath(registry, "sha256:../../etc")).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });

  it("stop() kills the process and removes the temp dir, and can be called twice", async () => {
    const other = await startRegistry();
    const { existsSync } = await import("node:fs");
    await other.stop();
    await other.stop();
    expect(existsSync(other.dir)).toBe(false);
    expect(() => process.kill(other.pid, 0)).toThrow();
    await expect(fetch(`${other.url}/v2/`)).rejects.toThrow();
  });
});

describe("startRegistry failures", () => {
  it.each([
    { binary: "/nonexistent/docker-registry", message: /cannot run \/nonexistent\/docker-registry/ },
    { binary: "/bin/false", message: /did not answer \/v2\// },
  ])("throws REGISTRY_START_FAILED for $binary and leaves no temp dir", async ({ binary, message }) => {
    const tempPrefix = `strata-test-registry-testkit-fail-${process.pid}-`;
    await expect(startRegistry({ binary, auth: "token", tempPrefix })).rejects.toMatchObject({
      code: "REGISTRY_START_FAILED",
      message: expect.stringMatching(message),
    });
    expect(await findLeaks(tempPrefix, { skipLinks: true })).toEqual([]);
  });
});

describe("startRegistry auth: basic", () => {
  let registry: RegistryHandle;
  beforeAll(async () => {
    registry = await startRegistry({ auth: "basic", users: { alice: "wonderland", bob: "builder" } });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it("exposes the first user as credentials", () => {
    expect(registry.credentials).toEqual({ username: "alice", password: "wonderland" });
  });

  it("challenges anonymous requests and rejects a wrong password", async () => {
    const anon = await get(`${registry.url}/v2/`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get("www-authenticate")).toMatch(/^Basic realm=/);
    expect((await get(`${registry.url}/v2/`, basicHeader("alice", "nope"))).status).toBe(401);
    expect((await get(`${registry.url}/v2/`, basicHeader("bob", "builder"))).status).toBe(200);
  });

  it.each([false, true])(
    "pushes with the handle's credentials (chunked: %s) and pulls with Basic",
    async (chunked) => {
      const image = await smallImage("oci", "gzip", `basic-${chunked}`);
      await pushImage(registry, "secure/app", `c${chunked}`, image, { chunked });
      await expectPulled(registry, "secure/app", `c${chunked}`, image, basicHeader("bob", "builder"));
    },
  );

  it("fails to push without credentials with AUTH_FAILED", async () => {
    const image = await smallImage("oci", "none", "nocreds");
    await expect(pushImage(registry.url, "secure/app", "x", image)).rejects.toMatchObject({
      code: "AUTH_FAILED",
    });
  });
});

describe("startRegistry auth: token", () => {
  let registry: RegistryHandle;
  const repo = "team/app";
  let image: Awaited<ReturnType<typeof smallImage>>;
  beforeAll(async () => {
    registry = await startRegistry({
      auth: "token",
      users: { writer: "w-pass", reader: "r-pass" },
      token: {
        policy: (subject, requested) => {
          if (subject === "writer") return requested.actions.filter((a) => a === "pull" || a === "push");
          if (subject === "reader") return requested.actions.filter((a) => a === "pull");
          // anonymous: pull on public/* only
          return requested.name.startsWith("public/") ? requested.actions.filter((a) => a === "pull") : [];
        },
      },
    });
    image = await smallImage("docker", "gzip", "token");
    await pushImage(registry, repo, "latest", image, { chunked: true });
    await pushImage(registry, "public/app", "latest", image);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  const token = (scope: string, credentials?: { username: string; password: string }) => {
    const ts = registry.tokenServer;
    if (!ts) throw new Error("token mode has a token server");
    return fetchToken(ts.realm, {
      service: ts.service,
      scopes: [scope],
      ...(credentials ? { credentials } : {}),
    });
  };

  it("challenges with the token server's realm and service", async () => {
    const res = await get(`${registry.url}/v2/${repo}/manifests/latest`);
    expect(res.status).toBe(401);
    const challenge = res.headers.get("www-authenticate") ?? "";
    expect(challenge).toContain(`realm="${registry.tokenServer?.realm}"`);
    expect(challenge).toContain(`service="${registry.tokenServer?.service}"`);
    expect(challenge).toContain(`scope="repository:${repo}:pull"`);
  });

  it("accepts a token from the token server for a pull", async () => {
    const t = await token(`repository:${repo}:pull`, { username: "reader", password: "r-pass" });
    await expectPulled(registry, repo, "latest", image, `Bearer ${t}`);
  });

  it("denies a token for another repository (insufficient_scope)", async () => {
    const t = await token("repository:other/repo:pull", { username: "reader", password: "r-pass" });
    const res = await get(`${registry.url}/v2/${repo}/manifests/latest`, `Bearer ${t}`);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain('error="insufficient_scope"');
  });

  it("rejects an expired token (invalid_token)", async () => {
    const ts = registry.tokenServer;
    const t = ts?.mintToken({
      access: [{ type: "repository", name: repo, actions: ["pull"] }],
      timeShift: -3600,
    });
    const res = await get(`${registry.url}/v2/${repo}/manifests/latest`, `Bearer ${t}`);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');
  });

  it.each([
    { name: "wrong audience", mint: { audience: "someone-else" } },
    { name: "wrong issuer", mint: { issuer: "evil" } },
  ])("rejects a token with a $name", async ({ mint }) => {
    const t = registry.tokenServer?.mintToken({
      access: [{ type: "repository", name: repo, actions: ["pull"] }],
      ...mint,
    });
    expect((await get(`${registry.url}/v2/${repo}/manifests/latest`, `Bearer ${t}`)).status).toBe(401);
  });

  it("grants anonymous pulls per the policy and logs who asked for what", async () => {
    const ts = registry.tokenServer;
    if (!ts) throw new Error("no token server");
    const before = ts.requests.length;
    const anonPublic = await token("repository:public/app:pull");
    expect((await get(`${registry.url}/v2/public/app/manifests/latest`, `Bearer ${anonPublic}`)).status).toBe(
      200,
    );
    const anonPrivate = await token(`repository:${repo}:pull`);
    expect((await get(`${registry.url}/v2/${repo}/manifests/latest`, `Bearer ${anonPrivate}`)).status).toBe(
      401,
    );
    expect(ts.requests.slice(before)).toEqual([
      {
        method: "GET",
        anonymous: true,
        service: ts.service,
        scopes: ["repository:public/app:pull"],
        granted: [{ type: "repository", name: "public/app", actions: ["pull"] }],
        status: 200,
      },
      {
        method: "GET",
        anonymous: true,
        service: ts.service,
        scopes: [`repository:${repo}:pull`],
        granted: [],
        status: 200,
      },
    ]);
  });

  it("grants the intersection of requested and allowed actions (reader asking for push gets pull)", async () => {
    const ts = registry.tokenServer;
    if (!ts) throw new Error("no token server");
    await token(`repository:${repo}:pull,push`, { username: "reader", password: "r-pass" });
    expect(ts.requests.at(-1)).toMatchObject({
      username: "reader",
      anonymous: false,
      granted: [{ type: "repository", name: repo, actions: ["pull"] }],
    });
    await expect(
      pushImage(registry, repo, "nope", image, {
        credentials: { username: "reader", password: "r-pass" },
        force: true,
      }),
    ).rejects.toMatchObject({
      code: "AUTH_FAILED",
    });
  });

  it("answers bad Basic credentials with 401", async () => {
    await expect(
      token(`repository:${repo}:pull`, { username: "reader", password: "wrong" }),
    ).rejects.toMatchObject({
      code: "AUTH_FAILED",
    });
    expect(registry.tokenServer?.requests.at(-1)).toMatchObject({ username: "reader", status: 401 });
  });

  it("serves the OAuth2 password grant with the response fields Docker Hub uses", async () => {
    const ts = registry.tokenServer;
    if (!ts) throw new Error("no token server");
    const res = await fetch(ts.realm, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "password",
        username: "writer",
        password: "w-pass",
        service: ts.service,
        scope: `repository:${repo}:pull,push`,
        client_id: "strata-test",
        access_type: "offline",
      }).toString(),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual([
      "access_token",
      "expires_in",
      "issued_at",
      "refresh_token",
      "token",
    ]);
    expect(body.expires_in).toBe(300);
    expect(body.token).toBe(body.access_token);
    expect(Number.isNaN(Date.parse(String(body.issued_at)))).toBe(false);
    expect((await get(`${registry.url}/v2/${repo}/manifests/latest`, `Bearer ${body.token}`)).status).toBe(
      200,
    );

    const refreshed = await fetch(ts.realm, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: String(body.refresh_token),
        service: ts.service,
        scope: `repository:${repo}:pull`,
      }).toString(),
    });
    expect(refreshed.status).toBe(200);
    expect(ts.requests.at(-1)).toMatchObject({
      method: "POST",
      grantType: "refresh_token",
      username: "writer",
    });
  });

  it("puts the libtrust kid, iss, aud, sub, times and access claims in the JWT", async () => {
    const ts = registry.tokenServer;
    if (!ts) throw new Error("no token server");
    const t = await token(`repository:${repo}:pull`, { username: "writer", password: "w-pass" });
    const [h, c] = t
      .split(".")
      .slice(0, 2)
      .map((p) => JSON.parse(Buffer.from(p, "base64url").toString()));
    expect(h).toEqual({ typ: "JWT", alg: "ES256", kid: ts.kid });
    expect(ts.kid).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    expect(c).toMatchObject({
      iss: ts.issuer,
      aud: ts.service,
      sub: "writer",
      access: [{ type: "repository", name: repo, actions: ["pull"] }],
    });
    expect(c.exp - c.iat).toBe(300);
    expect(c.nbf).toBe(c.iat);
    expect(typeof c.jti).toBe("string");
  });
});

describe.each([
  {
    name: "RS256, no anonymous, OAuth POST answers 404",
    token: { algorithm: "RS256" as const, allowAnonymous: false, oauth: false, expiresIn: 120 },
  },
])("startRegistry auth: token ($name)", ({ token: tokenOptions }) => {
  let registry: RegistryHandle;
  beforeAll(async () => {
    registry = await startRegistry({ auth: "token", token: tokenOptions });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it("pushes via the GET flow with RS256 tokens and refuses anonymous and POST", async () => {
    const ts = registry.tokenServer;
    if (!ts) throw new Error("no token server");
    const image = await smallImage("oci", "zstd", "rs256");
    await pushImage(registry, "rs/app", "latest", image);
    expect(ts.requests.every((r) => r.method === "GET" && r.username === "strata")).toBe(true);
    const anon = await fetch(`${ts.realm}?service=${ts.service}&scope=repository:rs/app:pull`);
    expect(anon.status).toBe(401);
    const post = await fetch(ts.realm, {
      method: "POST",
      body: "grant_type=password&username=strata&password=strata-test-password",
    });
    expect(post.status).toBe(404);
    const t = await fetchToken(ts.realm, {
      service: ts.service,
      scopes: ["repository:rs/app:pull"],
      ...(registry.credentials ? { credentials: registry.credentials } : {}),
    });
    expect(JSON.parse(Buffer.from(t.split(".")[0] ?? "", "base64url").toString()).alg).toBe("RS256");
    await expectPulled(registry, "rs/app", "latest", image, `Bearer ${t}`);
  });

  it("issues tokens with the configured and then the changed lifetime", async () => {
    const ts = registry.tokenServer;
    if (!ts || !registry.credentials) throw new Error("no token server");
    const claims = async () => {
      const t = await fetchToken(ts.realm, {
        service: ts.service,
        scopes: [],
        credentials: registry.credentials,
      });
      return JSON.parse(Buffer.from(t.split(".")[1] ?? "", "base64url").toString()) as {
        exp: number;
        iat: number;
      };
    };
    const first = await claims();
    expect(first.exp - first.iat).toBe(120);
    ts.setExpiresIn(60);
    const second = await claims();
    expect(second.exp - second.iat).toBe(60);
  });
});

describe("startRegistry proxyRemoteUrl (pull-through cache)", () => {
  const upstreams: RegistryHandle[] = [];
  afterAll(async () => {
    for (const r of upstreams.reverse()) await r.stop();
  });

  it.each([{ upstreamAuth: "none" as const }, { upstreamAuth: "token" as const }])(
    "serves an image pushed to its upstream (upstream auth: $upstreamAuth)",
    async ({ upstreamAuth }) => {
      const upstream = await startRegistry({ auth: upstreamAuth });
      upstreams.push(upstream);
      const image = await smallImage("oci", "gzip", `proxy-${upstreamAuth}`);
      await pushImage(upstream, "library/cached", "1.0", image);
      const proxy = await startRegistry({
        proxyRemoteUrl: upstream.url,
        ...(upstream.credentials ? { proxyCredentials: upstream.credentials } : {}),
      });
      upstreams.push(proxy);
      await expectPulled(proxy, "library/cached", "1.0", image);
    },
  );
});
