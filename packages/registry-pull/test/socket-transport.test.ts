import { once } from "node:events";
import { readFile } from "node:fs/promises";
import * as https from "node:https";
import * as net from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { bodyChunks, type HttpResponse, kBodyChunks } from "../src/http.js";
import { createSocketTransport } from "../src/index.js";
import { removeDir, selfSignedCert, tempDir } from "./helpers.js";

interface RawServer {
  port: number;
  connections: number;
  close(): Promise<void>;
}

const servers: RawServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

/** A TCP server; `onRequest(head, socket)` answers each request head it reads. */
async function rawServer(onRequest: (head: string, socket: net.Socket) => void): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0 };
  const server = net.createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let buf = "";
    socket.on("data", (d) => {
      buf += d.toString("latin1");
      for (let end = buf.indexOf("\r\n\r\n"); end >= 0; end = buf.indexOf("\r\n\r\n")) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        onRequest(head, socket);
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const raw: RawServer = {
    port: (server.address() as net.AddressInfo).port,
    get connections() {
      return state.connections;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
  servers.push(raw);
  return raw;
}

async function text(res: HttpResponse): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("latin1");
}

const get = (port: number, path = "/", method: "GET" | "HEAD" = "GET") => ({
  method,
  url: new URL(`http://127.0.0.1:${port}${path}`),
  headers: {},
});

describe("socket transport", () => {
  it("reuses one keep-alive connection for requests in sequence, HEAD and 204 included", async () => {
    const srv = await rawServer((head, socket) => {
      if (head.startsWith("HEAD")) socket.write("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n");
      else if (head.includes("/empty")) socket.write("HTTP/1.1 204 No Content\r\n\r\n");
      else socket.write("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello");
    });
    const t = createSocketTransport();
    try {
      expect(await text(await t.request(get(srv.port)))).toBe("hello");
      const head = await t.request(get(srv.port, "/", "HEAD"));
      expect(head.headers["content-length"]).toBe("5");
      expect(await text(head)).toBe("");
      expect((await t.request(get(srv.port, "/empty"))).status).toBe(204);
      expect(await text(await t.request(get(srv.port)))).toBe("hello");
      expect(srv.connections).toBe(1);
    } finally {
      await t.close();
    }
  });

  it("does not reuse a connection the server said to close, or one whose body was not read", async () => {
    const srv = await rawServer((head, socket) => {
      if (head.includes("/close"))
        socket.write("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok");
      else if (head.includes("/partial")) socket.write("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n12345");
      else socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    });
    const t = createSocketTransport();
    try {
      expect(await text(await t.request(get(srv.port, "/close")))).toBe("ok");
      const unread = await t.request(get(srv.port, "/partial"));
      unread.body.destroy();
      expect(await text(await t.request(get(srv.port)))).toBe("ok");
      expect(srv.connections).toBe(3);
    } finally {
      await t.close();
    }
  });

  it("retries a GET once on a fresh connection when the idle keep-alive socket was closed", async () => {
    let n = 0;
    const srv = await rawServer((_head, socket) => {
      n++;
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n${n}`);
      // the server drops the connection right after answering, as an idle timeout would
      if (n === 1) setTimeout(() => socket.destroy(), 20);
    });
    const t = createSocketTransport();
    try {
      expect(await text(await t.request(get(srv.port)))).toBe("1");
      await new Promise((r) => setTimeout(r, 100));
      expect(await text(await t.request(get(srv.port)))).toBe("2");
    } finally {
      await t.close();
    }
  });

  it("decodes a chunked body with extensions and trailers, written one byte at a time", async () => {
    const wire =
      "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-a: 1\r\n\r\n" +
      "5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nx-trailer: t\r\n\r\n";
    const srv = await rawServer((_head, socket) => {
      let i = 0;
      const next = () => {
        if (i >= wire.length) return;
        socket.write(wire[i++] as string);
        setImmediate(next);
      };
      next();
    });
    const t = createSocketTransport();
    try {
      const res = await t.request(get(srv.port));
      expect(res.headers["x-a"]).toBe("1");
      expect(await text(res)).toBe("hello 0123456789");
      // the trailer was consumed: the connection is clean for the next request
      const again = await t.request(get(srv.port));
      expect(await text(again)).toBe("hello 0123456789");
      expect(srv.connections).toBe(1);
    } finally {
      await t.close();
    }
  });

  it("fails a body cut short, a malformed head and a bad chunk size with errors", async () => {
    const srv = await rawServer((head, socket) => {
      if (head.includes("/short")) socket.end("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n12345");
      else if (head.includes("/garbage")) socket.end("SMTP ready\r\n\r\n");
      else socket.end("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n");
    });
    const t = createSocketTransport();
    try {
      await expect(text(await t.request(get(srv.port, "/short")))).rejects.toThrow(/closed the connection/);
      await expect(t.request(get(srv.port, "/garbage"))).rejects.toMatchObject({ code: "NETWORK_ERROR" });
      await expect(text(await t.request(get(srv.port, "/chunked")))).rejects.toThrow(/bad chunk size/);
    } finally {
      await t.close();
    }
  });

  it("refuses CR or LF in a header value", async () => {
    const srv = await rawServer((_head, socket) =>
      socket.write("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
    );
    const t = createSocketTransport();
    try {
      await expect(
        t.request({ ...get(srv.port), headers: { "x-evil": "a\r\nhost: elsewhere" } }),
      ).rejects.toThrow(/invalid character/);
    } finally {
      await t.close();
    }
  });

  it("keeps to the connection limit per origin", async () => {
    const srv = await rawServer((_head, socket) => {
      setTimeout(() => socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"), 30);
    });
    const t = createSocketTransport({ connections: 1 });
    try {
      const all = await Promise.all([1, 2, 3].map(async () => text(await t.request(get(srv.port)))));
      expect(all).toEqual(["ok", "ok", "ok"]);
      expect(srv.connections).toBe(1);
    } finally {
      await t.close();
    }
  });

  it("reads a Content-Length body straight into regions the consumer lends", async () => {
    const size = 2 * 1024 * 1024 + 3;
    const payload = Buffer.alloc(size);
    for (let i = 0; i < size; i++) payload[i] = (i * 13) % 241;
    const srv = await rawServer((_head, socket) => {
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${size}\r\n\r\n`);
      setTimeout(() => socket.write(payload), 10); // so that the head arrives alone
    });
    const t = createSocketTransport();
    try {
      const res = await t.request(get(srv.port));
      const target = Buffer.alloc(size);
      let filled = 0;
      let inPlace = 0;
      let copied = 0;
      let pastTheEnd = 0;
      await new Promise<void>((resolve, reject) => {
        bodyChunks(res.body)?.[kBodyChunks](
          (view) => {
            if (view.buffer === target.buffer && view.byteOffset === filled) inPlace += view.length;
            else {
              view.copy(target, filled);
              copied += view.length;
            }
            filled += view.length;
            return true;
          },
          (err) => (err ? reject(err) : resolve()),
          (max) => {
            if (max > size - filled) pastTheEnd++;
            return target.subarray(filled, filled + Math.min(max, 100_000));
          },
        );
      });
      expect(filled).toBe(size);
      expect(target.equals(payload)).toBe(true);
      expect(inPlace).toBeGreaterThan(size / 2);
      expect(copied + inPlace).toBe(size);
      // never asked for room past the end of the body
      expect(pastTheEnd).toBe(0);
    } finally {
      await t.close();
    }
  });

  it("hands out views in chunk mode, with back-pressure, and every byte exactly once", async () => {
    const size = 3 * 1024 * 1024 + 5;
    const payload = Buffer.alloc(size);
    for (let i = 0; i < size; i++) payload[i] = (i * 7) % 251;
    const srv = await rawServer((_head, socket) => {
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${size}\r\n\r\n`);
      socket.write(payload);
    });
    const t = createSocketTransport();
    try {
      const res = await t.request(get(srv.port));
      const chunks = bodyChunks(res.body);
      expect(chunks).toBeDefined();
      const got: Buffer[] = [];
      let pauses = 0;
      await new Promise<void>((resolve, reject) => {
        const ok = chunks?.[kBodyChunks](
          (view) => {
            got.push(Buffer.from(view)); // views are only valid during the call
            if (got.length % 5 === 0) {
              pauses++;
              setTimeout(() => chunks.resumeChunks(), 1);
              return false;
            }
            return true;
          },
          (err) => (err ? reject(err) : resolve()),
        );
        expect(ok).toBe(true);
      });
      expect(pauses).toBeGreaterThan(0);
      expect(Buffer.concat(got).equals(payload)).toBe(true);
      // the connection goes back to the pool reading, even when the last chunk asked for a pause
      const again = await t.request(get(srv.port));
      let n = 0;
      await new Promise<void>((resolve, reject) => {
        bodyChunks(again.body)?.[kBodyChunks](
          (view) => {
            n += view.length;
            return n < size;
          },
          (err) => (err ? reject(err) : resolve()),
        );
      });
      expect(n).toBe(size);
      const third = await t.request(get(srv.port));
      third.body.resume();
      await once(third.body, "end");
      expect(srv.connections).toBe(1);
    } finally {
      await t.close();
    }
  });

  it("resumes the TLS session on the next connection to the same origin", async () => {
    const dir = await tempDir();
    try {
      await selfSignedCert(dir);
      const resumed: boolean[] = [];
      const srv = https.createServer(
        { key: await readFile(join(dir, "key.pem")), cert: await readFile(join(dir, "cert.pem")) },
        (req, res) => {
          resumed.push((req.socket as import("node:tls").TLSSocket).isSessionReused());
          setTimeout(() => res.end("ok"), 20); // long enough for the requests below to overlap
        },
      );
      srv.listen(0, "127.0.0.1");
      await once(srv, "listening");
      const url = new URL(`https://127.0.0.1:${(srv.address() as net.AddressInfo).port}/`);
      const t = createSocketTransport();
      try {
        expect(await text(await t.request({ method: "GET", url, headers: {}, insecureTls: true }))).toBe(
          "ok",
        );
        // one request reuses the idle connection, the other two open new ones: those resume
        await Promise.all(
          [1, 2, 3].map(async () =>
            text(await t.request({ method: "GET", url, headers: {}, insecureTls: true })),
          ),
        );
        expect(resumed.filter(Boolean).length).toBeGreaterThanOrEqual(2);
      } finally {
        await t.close();
        srv.closeAllConnections();
        srv.close();
      }
    } finally {
      await removeDir(dir);
    }
  });
});
