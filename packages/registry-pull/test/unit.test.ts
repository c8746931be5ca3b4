/**
 * Unit tests of the small pieces: challenge parsing, Retry-After and backoff, the realm policy,
 * Content-Range, credentials (docker config, a real credential helper on PATH), the redirect loop
 * through a recording transport, and that importing the package leaves global fetch alone.
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { Authenticator } from "../src/auth/authenticator.js";
import { ClientContext } from "../src/client.js";
import type { HostPolicy, HttpRequest, HttpResponse, HttpTransport } from "../src/http.js";
import { isInternalHost, sendFollowing } from "../src/http.js";
import {
  backoffDelay,
  checkRealm,
  contentRangeStart,
  dockerConfigCredentials,
  parseChallenges,
  parseRetryAfter,
  staticCredentials,
} from "../src/index.js";
import { removeDir, tempDir } from "./helpers.js";

const policy: HostPolicy = {
  isInsecure: (h) => /^(127\.|localhost)/.test(h) || h.startsWith("insecure.example"),
};

describe("WWW-Authenticate", () => {
  it.each([
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull"',
      [
        {
          scheme: "bearer",
          params: {
            realm: "https://auth.docker.io/token",
            service: "registry.docker.io",
            scope: "repository:library/ubuntu:pull",
          },
        },
      ],
    ],
    ['Basic realm="Registry Realm"', [{ scheme: "basic", params: { realm: "Registry Realm" } }]],
    [
      'Basic realm="a, b", Bearer realm="https://x/t",error="invalid_token"',
      [
        { scheme: "basic", params: { realm: "a, b" } },
        { scheme: "bearer", params: { realm: "https://x/t", error: "invalid_token" } },
      ],
    ],
    [
      'Bearer realm="q\\"uoted" , service=tok',
      [{ scheme: "bearer", params: { realm: 'q"uoted', service: "tok" } }],
    ],
  ])("%s", (header, want) => {
    expect(parseChallenges(header)).toEqual(want);
  });
  it("several header values", () => {
    expect(parseChallenges(['Basic realm="r"', 'Bearer realm="https://t"']).map((c) => c.scheme)).toEqual([
      "basic",
      "bearer",
    ]);
  });
});

describe("retry", () => {
  it.each([
    ["120", 120_000],
    ["0", 0],
    ["Wed, 21 Oct 2015 07:28:10 GMT", 10_000],
    ["soon", undefined],
    [undefined, undefined],
  ])("Retry-After %j → %j ms", (v, ms) => {
    expect(parseRetryAfter(v, Date.parse("Wed, 21 Oct 2015 07:28:00 GMT"))).toBe(ms);
  });
  it("backoff doubles, is capped, and is jittered within [exp/2, exp]", () => {
    const o = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(0, { ...o, random: () => 0 })).toBe(50);
    expect(backoffDelay(0, { ...o, random: () => 0.999 })).toBeCloseTo(99.95);
    expect(backoffDelay(3, { ...o, random: () => 0 })).toBe(400);
    expect(backoffDelay(10, { ...o, random: () => 1 })).toBe(1000);
  });
  it.each([
    ["bytes 100-199/200", 100],
    ["bytes 0-0/*", 0],
    ["bytes */200", undefined],
    [undefined, undefined],
  ])("Content-Range %j starts at %j", (v, n) => {
    expect(contentRangeStart(v)).toBe(n);
  });
});

describe("token realm policy", () => {
  it.each([
    { realm: "https://auth.example.com/token", registry: "registry.example.com", ok: true },
    { realm: "http://auth.example.com/token", registry: "registry.example.com", ok: false },
    { realm: "http://strata-test.invalid/token", registry: "127.0.0.1:5000", ok: false },
    { realm: "http://127.0.0.1:5001/token", registry: "127.0.0.1:5000", ok: true },
    { realm: "http://insecure.example.com:81/t", registry: "insecure.example.com:80", ok: true },
    { realm: "https://169.254.169.254/latest", registry: "registry.example.com", ok: false },
    { realm: "https://127.0.0.1/token", registry: "registry.example.com", ok: false },
    { realm: "https://10.0.0.5/token", registry: "registry.example.com", ok: false },
    { realm: "https://user:pw@auth.example.com/", registry: "registry.example.com", ok: false },
    { realm: "file:///etc/passwd", registry: "registry.example.com", ok: false },
    { realm: "not a url", registry: "registry.example.com", ok: false },
  ])("$realm for $registry: ok=$ok", ({ realm, registry, ok }) => {
    const run = () => checkRealm(realm, registry, policy);
    if (ok) expect(run()).toBeInstanceOf(URL);
    else expect(run).toThrow(expect.objectContaining({ code: "INSECURE_REALM" }));
  });
  it.each([
    ["10.1.2.3", true],
    ["172.20.0.1", true],
    ["172.32.0.1", false],
    ["192.168.1.1", true],
    ["[::1]:5000", true],
    ["[fe80::1]", true],
    ["example.com", false],
    ["8.8.8.8", false],
  ])("internal host %s: %s", (h, want) => {
    expect(isInternalHost(h)).toBe(want);
  });
});

describe("credentials", () => {
  let dir: string | undefined;
  const oldPath = process.env.PATH;
  afterEach(async () => {
    process.env.PATH = oldPath;
    await removeDir(dir);
    dir = undefined;
  });

  it("auths: base64 auth, identitytoken, Docker Hub's legacy key, URL keys", async () => {
    dir = await tempDir();
    const path = join(dir, "config.json");
    await writeFile(
      path,
      JSON.stringify({
        auths: {
          "https://index.docker.io/v1/": { auth: Buffer.from("hubuser:hub:pass").toString("base64") },
          "https://reg.example.com:5000/v2/": { auth: Buffer.from("u:p").toString("base64") },
          "tok.example.com": { identitytoken: "refresh-me" },
        },
      }),
    );
    const creds = dockerConfigCredentials({ path });
    expect(await creds("docker.io")).toEqual({ username: "hubuser", password: "hub:pass" });
    expect(await creds("registry-1.docker.io")).toEqual({ username: "hubuser", password: "hub:pass" });
    expect(await creds("reg.example.com:5000")).toEqual({ username: "u", password: "p" });
    expect(await creds("tok.example.com")).toEqual({ identityToken: "refresh-me" });
    expect(await creds("other.example.com")).toBeUndefined();
  });

  it("a missing config means no credentials; a broken one is a CREDENTIALS_ERROR", async () => {
    dir = await tempDir();
    expect(await dockerConfigCredentials({ path: join(dir, "nope.json") })("docker.io")).toBeUndefined();
    await writeFile(join(dir, "bad.json"), "{not json");
    await expect(dockerConfigCredentials({ path: join(dir, "bad.json") })("docker.io")).rejects.toMatchObject(
      {
        code: "CREDENTIALS_ERROR",
      },
    );
  });

  it("credHelpers and credsStore run a real docker-credential-NAME get", async () => {
    dir = await tempDir();
    const bin = join(dir, "bin");
    await mkdir(bin);
    // the helper reads the server URL on stdin and answers like docker-credential-pass does
    const helper = (user: string) =>
      `#!/bin/sh\n[ "$1" = get ] || exit 2\nread url\ncase "$url" in *missing*) echo "credentials not found in native keychain"; exit 1;; esac\nprintf '{"ServerURL":"%s","Username":"${user}","Secret":"secret-for-%s"}' "$url" "$url"\n`;
    await writeFile(join(bin, "docker-credential-strata-test-a"), helper("alice"));
    await writeFile(join(bin, "docker-credential-strata-test-b"), helper("<token>"));
    await chmod(join(bin, "docker-credential-strata-test-a"), 0o755);
    await chmod(join(bin, "docker-credential-strata-test-b"), 0o755);
    process.env.PATH = `${bin}:${oldPath}`;
    const path = join(dir, "config.json");
    await writeFile(
      path,
      JSON.stringify({
        credsStore: "strata-test-b",
        credHelpers: { "helped.example.com": "strata-test-a", "missing.example.com": "strata-test-a" },
      }),
    );
    const creds = dockerConfigCredentials({ path });
    expect(await creds("helped.example.com")).toEqual({
      username: "alice",
      password: "secret-for-helped.example.com",
    });
    expect(await creds("docker.io")).toEqual({ identityToken: "secret-for-https://index.docker.io/v1/" });
    expect(await creds("missing.example.com")).toBeUndefined();
    await writeFile(path, JSON.stringify({ credsStore: "strata-test-absent" }));
    await expect(dockerConfigCredentials({ path })("x.example.com")).rejects.toMatchObject({
      code: "CREDENTIALS_ERROR",
    });
    await writeFile(path, JSON.stringify({ credsStore: "../evil" }));
    await expect(dockerConfigCredentials({ path })("x.example.com")).rejects.toMatchObject({
      code: "CREDENTIALS_ERROR",
    });
  });

  it("static credentials match host keys the docker way", async () => {
    const creds = staticCredentials({
      "https://index.docker.io/v1/": { username: "a", password: "b" },
      "127.0.0.1:5000": { username: "c" },
    });
    expect(await creds("docker.io")).toEqual({ username: "a", password: "b" });
    expect(await creds("127.0.0.1:5000")).toEqual({ username: "c" });
  });
});

/** A transport that records requests and answers from a script (unit level; no registry). */
function scripted(
  answers: ((req: HttpRequest) => Partial<HttpResponse>)[],
): HttpTransport & { calls: HttpRequest[] } {
  const calls: HttpRequest[] = [];
  return {
    calls,
    async request(req) {
      calls.push(req);
      const a = answers[calls.length - 1]?.(req) ?? { status: 500 };
      return { status: a.status ?? 200, headers: a.headers ?? {}, body: a.body ?? Readable.from([]) };
    },
  };
}

describe("endpoints", () => {
  it.each<{ registry: string; mirrors: Record<string, string[]>; insecure: string[]; want: string[] }>([
    { registry: "docker.io", mirrors: {}, insecure: [], want: ["https://registry-1.docker.io"] },
    { registry: "127.0.0.1:5000", mirrors: {}, insecure: [], want: ["http://127.0.0.1:5000"] },
    { registry: "localhost:5000", mirrors: {}, insecure: [], want: ["http://localhost:5000"] },
    { registry: "reg.example.com", mirrors: {}, insecure: [], want: ["https://reg.example.com"] },
    {
      registry: "reg.example.com:5000",
      mirrors: {},
      insecure: ["reg.example.com:5000"],
      want: ["http://reg.example.com:5000"],
    },
    {
      registry: "docker.io",
      mirrors: { "docker.io": ["https://m1.example.com", "m2.example.com:8443"] },
      insecure: [],
      want: ["https://m1.example.com", "https://m2.example.com:8443", "https://registry-1.docker.io"],
    },
  ])("$registry → $want", ({ registry, mirrors, insecure, want }) => {
    const ctx = new ClientContext({ mirrors, insecureRegistries: insecure, dockerConfig: false });
    expect(ctx.endpoints(registry).map((e) => e.base.origin)).toEqual(want);
  });
  it.each([0, 65, 1.5])("concurrency %s is refused", (concurrency) => {
    expect(() => new ClientContext({ concurrency })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTION" }),
    );
  });
});

describe("redirect loop", () => {
  it("credentials go only to the registry's origin, never after leaving it", async () => {
    const t = scripted([
      () => ({ status: 307, headers: { location: "/v2/x/blobs/elsewhere" } }),
      () => ({ status: 302, headers: { location: "https://cdn.example.com/data?sig=1" } }),
      () => ({ status: 307, headers: { location: "https://registry.example.com/back" } }),
      () => ({ status: 200 }),
    ]);
    const res = await sendFollowing(
      t,
      {
        method: "GET",
        url: new URL("https://registry.example.com/v2/x/blobs/sha256:a"),
        headers: { accept: "*/*" },
      },
      { policy, credentialOrigin: "https://registry.example.com", authorization: () => "Bearer secret" },
    );
    expect(res.status).toBe(200);
    expect(t.calls.map((c) => c.headers.authorization)).toEqual([
      "Bearer secret",
      "Bearer secret",
      undefined,
      undefined,
    ]);
    expect(t.calls.map((c) => c.headers.accept)).toEqual(["*/*", "*/*", "*/*", "*/*"]);
  });

  it("refuses https → plain http on a host not marked insecure; allows loopback", async () => {
    const t = scripted([() => ({ status: 302, headers: { location: "http://cdn.example.com/x" } })]);
    await expect(
      sendFollowing(
        t,
        { method: "GET", url: new URL("https://registry.example.com/v2/"), headers: {} },
        { policy },
      ),
    ).rejects.toMatchObject({ code: "INSECURE_REDIRECT" });
    const ok = scripted([
      () => ({ status: 302, headers: { location: "http://127.0.0.1:9/x" } }),
      () => ({ status: 200 }),
    ]);
    await expect(
      sendFollowing(
        ok,
        { method: "GET", url: new URL("https://registry.example.com/v2/"), headers: {} },
        { policy },
      ),
    ).resolves.toMatchObject({ status: 200 });
  });

  it("stops after too many redirects", async () => {
    const loop = Array.from({ length: 20 }, (_, i) => () => ({
      status: 302,
      headers: { location: `/r${i}` },
    }));
    await expect(
      sendFollowing(
        scripted(loop),
        { method: "GET", url: new URL("https://r.example.com/"), headers: {} },
        { policy },
      ),
    ).rejects.toMatchObject({ code: "NETWORK_ERROR" });
  });
});

describe("authenticator", () => {
  it("a Basic challenge without credentials does not retry; with them it does, once", async () => {
    const res = {
      status: 401,
      headers: { "www-authenticate": ['Basic realm="r"'] },
      body: Readable.from([]),
    };
    const none = new Authenticator({
      transport: scripted([]),
      credentials: async () => undefined,
      policy,
      retry: {},
    });
    expect(await none.onUnauthorized("r.example.com", "s", res, undefined)).toBe(false);
    const some = new Authenticator({
      transport: scripted([]),
      credentials: staticCredentials({ "r.example.com": { username: "u", password: "p" } }),
      policy,
      retry: {},
    });
    expect(await some.onUnauthorized("r.example.com", "s", res, undefined)).toBe(true);
    expect(some.authorization("r.example.com", "s")).toBe(`Basic ${Buffer.from("u:p").toString("base64")}`);
    expect(
      await some.onUnauthorized("r.example.com", "s", res, some.authorization("r.example.com", "s")),
    ).toBe(false);
  });

  it("bearer tokens are cached until shortly before expiry (60 s minimum lifetime)", async () => {
    let now = 1_000_000;
    const token = (n: number) => () => ({
      status: 200,
      body: Readable.from([Buffer.from(JSON.stringify({ token: `t${n}`, expires_in: 10 }))]),
    });
    const t = scripted([token(1), token(2)]);
    const auth = new Authenticator({
      transport: t,
      credentials: async () => undefined,
      policy,
      retry: {},
      now: () => now,
    });
    const challenge = {
      status: 401,
      headers: { "www-authenticate": ['Bearer realm="https://auth.example.com/token",service="svc"'] },
      body: Readable.from([]),
    };
    await auth.onUnauthorized("r.example.com", "repository:a:pull", challenge, undefined);
    expect(auth.authorization("r.example.com", "repository:a:pull")).toBe("Bearer t1");
    expect(t.calls[0]?.url.href).toBe(
      "https://auth.example.com/token?service=svc&scope=repository%3Aa%3Apull",
    );
    expect(t.calls[0]?.headers.authorization).toBeUndefined();
    now += 50_000; // within 60 s minus the refresh margin
    await auth.prepare("r.example.com", "repository:a:pull");
    expect(t.calls).toHaveLength(1);
    now += 5_000;
    await auth.prepare("r.example.com", "repository:a:pull");
    expect(auth.authorization("r.example.com", "repository:a:pull")).toBe("Bearer t2");
  });
});

it("importing the package does not install undici 7 as global fetch's dispatcher", () => {
  expect((globalThis as Record<symbol, unknown>)[Symbol.for("undici.globalDispatcher.2")]).toBeUndefined();
});
