import { once } from "node:events";
import { readFile } from "node:fs/promises";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HttpResponse, HttpTransport } from "../src/http.js";
import { createNodeHttpTransport, createSocketTransport, createUndiciTransport } from "../src/index.js";
import { removeDir, selfSignedCert, tempDir } from "./helpers.js";

const BIG = 3 * 1024 * 1024 + 17;

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://x");
  if (url.pathname === "/echo") {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      res.setHeader("content-type", "application/json");
      res.end(
        JSON.stringify({
          method: req.method,
          path: url.pathname + url.search,
          body: Buffer.concat(chunks).toString(),
          auth: req.headers.authorization ?? null,
          length: req.headers["content-length"] ?? null,
        }),
      );
    });
  } else if (url.pathname === "/challenge") {
    res.writeHead(401, [
      ["WWW-Authenticate", 'Bearer realm="https://a.example/token",service="a"'],
      ["WWW-Authenticate", 'Basic realm="b"'],
      ["X-Twice", "1"],
      ["X-Twice", "2"],
    ]);
    res.end();
  } else if (url.pathname === "/big") {
    // chunked, in odd-sized pieces
    res.writeHead(200, { "content-type": "application/octet-stream" });
    let sent = 0;
    const more = () => {
      while (sent < BIG) {
        const n = Math.min(BIG - sent, 100_003);
        const piece = Buffer.alloc(n, sent % 251);
        sent += n;
        if (!res.write(piece)) return void res.once("drain", more);
      }
      res.end();
    };
    more();
  } else if (url.pathname === "/redirect") {
    res.writeHead(307, { location: "/echo" });
    res.end("moved");
  } else if (url.pathname === "/stall") {
    res.writeHead(200, { "content-length": "10" });
    res.write("12345"); // and never the rest
  } else {
    res.writeHead(404, { "content-length": "9" });
    res.end("not found");
  }
}

async function listen(server: http.Server | https.Server, host: string): Promise<number> {
  server.listen(0, host);
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

async function text(res: HttpResponse): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

let dir: string;
let plain: http.Server;
let plain6: http.Server | undefined;
let secure: https.Server;
let ports: { plain: number; plain6?: number; secure: number };

beforeAll(async () => {
  dir = await tempDir();
  await selfSignedCert(dir);
  plain = http.createServer(handler);
  secure = https.createServer(
    { key: await readFile(join(dir, "key.pem")), cert: await readFile(join(dir, "cert.pem")) },
    handler,
  );
  ports = { plain: await listen(plain, "127.0.0.1"), secure: await listen(secure, "127.0.0.1") };
  try {
    plain6 = http.createServer(handler);
    ports.plain6 = await listen(plain6, "::1");
  } catch {
    plain6 = undefined; // no IPv6 loopback on this host: that case is left out below
  }
});

afterAll(async () => {
  for (const s of [plain, plain6, secure]) {
    if (!s) continue;
    s.closeAllConnections();
    s.close();
  }
  await removeDir(dir);
});

const transports: Array<[string, () => HttpTransport & { close(): Promise<void> }]> = [
  ["socket (default)", () => createSocketTransport({ bodyTimeoutMs: 300 })],
  ["node:http", () => createNodeHttpTransport({ bodyTimeoutMs: 300 })],
  ["undici", () => createUndiciTransport({ bodyTimeoutMs: 300 })],
];

describe.each(transports)("%s transport", (_name, make) => {
  let t: HttpTransport & { close(): Promise<void> };
  beforeAll(() => {
    t = make();
  });
  afterAll(async () => {
    await t.close();
  });
  const base = () => `http://127.0.0.1:${ports.plain}`;

  it("sends a POST body with its length and returns status, headers and body", async () => {
    const res = await t.request({
      method: "POST",
      url: new URL(`${base()}/echo?a=1`),
      headers: { authorization: "Bearer x", "content-type": "application/x-www-form-urlencoded" },
      body: "grant_type=password&é=1",
    });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(await text(res))).toEqual({
      method: "POST",
      path: "/echo?a=1",
      body: "grant_type=password&é=1",
      auth: "Bearer x",
      length: String(Buffer.byteLength("grant_type=password&é=1")),
    });
  });

  it("keeps repeated WWW-Authenticate headers apart and joins other repeated headers", async () => {
    const res = await t.request({ method: "GET", url: new URL(`${base()}/challenge`), headers: {} });
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toEqual([
      'Bearer realm="https://a.example/token",service="a"',
      'Basic realm="b"',
    ]);
    expect(res.headers["x-twice"]).toBe("1, 2");
    await text(res);
  });

  it("streams a large chunked body intact, and HEAD has no body", async () => {
    const res = await t.request({ method: "GET", url: new URL(`${base()}/big`), headers: {} });
    let n = 0;
    let ok = true;
    for await (const c of res.body as AsyncIterable<Buffer>) {
      for (let i = 0; i < c.length; i += 4096)
        ok &&= c[i] === (Math.floor((n + i) / 100_003) * 100_003) % 251;
      n += c.length;
    }
    expect(n).toBe(BIG);
    expect(ok).toBe(true);
    const head = await t.request({ method: "HEAD", url: new URL(`${base()}/missing`), headers: {} });
    expect(head.status).toBe(404);
    expect(head.headers["content-length"]).toBe("9");
    expect(await text(head)).toBe("");
  });

  it("does not follow redirects", async () => {
    const res = await t.request({ method: "GET", url: new URL(`${base()}/redirect`), headers: {} });
    expect(res.status).toBe(307);
    expect(res.headers.location).toBe("/echo");
    await text(res);
  });

  it("talks to an IPv6 literal", async (ctx) => {
    if (ports.plain6 === undefined) return ctx.skip("no IPv6 loopback on this host");
    const res = await t.request({
      method: "GET",
      url: new URL(`http://[::1]:${ports.plain6}/echo`),
      headers: {},
    });
    expect(JSON.parse(await text(res)).path).toBe("/echo");
  });

  it("errors a body that stalls longer than the body timeout", async () => {
    const res = await t.request({ method: "GET", url: new URL(`${base()}/stall`), headers: {} });
    await expect(text(res)).rejects.toThrow();
  });

  it("rejects with an AbortError when the signal fires", async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await t
      .request({ method: "GET", url: new URL(`${base()}/echo`), headers: {}, signal: ac.signal })
      .catch((e: Error) => e);
    expect((err as Error).name).toBe("AbortError");
  });

  it("refuses a self-signed certificate unless insecureTls, and then talks HTTPS", async () => {
    const url = new URL(`https://127.0.0.1:${ports.secure}/echo`);
    await expect(t.request({ method: "GET", url, headers: {} })).rejects.toThrow(/self.signed|certificate/i);
    const res = await t.request({ method: "GET", url, headers: {}, insecureTls: true });
    expect(res.status).toBe(200);
    expect(JSON.parse(await text(res)).method).toBe("GET");
  });

  it("refuses to connect to a closed port with an error", async () => {
    const s = http.createServer();
    const port = await listen(s, "127.0.0.1");
    s.close();
    await expect(
      t.request({ method: "GET", url: new URL(`http://127.0.0.1:${port}/`), headers: {} }),
    ).rejects.toThrow();
  });
});
