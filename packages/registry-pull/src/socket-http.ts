/**
 * The default transport: HTTP/1.1 written directly on `node:net` / `node:tls` sockets, with
 * keep-alive pooling per origin.
 *
 * Why not `node:http` (still available as `createNodeHttpTransport`): every socket read there lands
 * in a freshly allocated 64 KiB buffer, and the HTTP parser then copies each body piece into another
 * fresh buffer. For a 52 MB pull that is ~100 MB of new memory to fault in and collect: on the bench
 * machine node:http needed ~110 ms to receive two blobs that a socket reading into one reused buffer
 * (`onread`) receives in ~40 ms (bench/pull/RESULTS.md). Here every connection reads into its own
 * reused buffer; bodies are handed out either as copies (the `Readable`) or, for a consumer that can
 * use them at once, as views of that buffer, or read straight into the consumer's own buffer
 * (`BodyChunks`, see http.ts).
 *
 * Scope: what a registry client needs. Content-Length, chunked and read-until-close bodies, HEAD,
 * 1xx skipped, repeated headers, TLS session resumption, no redirects (sendFollowing does those),
 * no request pipelining, no proxies.
 */
import { createRequire } from "node:module";
import * as net from "node:net";
import { Readable } from "node:stream";
import type * as Tls from "node:tls";
import { NetworkError } from "./errors.js";
import {
  type BodyChunks,
  type HttpRequest,
  type HttpResponse,
  type HttpTransport,
  kBodyChunks,
} from "./http.js";

export interface SocketTransportOptions {
  /** Max sockets per origin (default 8). */
  connections?: number;
  /** Time to wait for the response head (default 60 s). */
  headersTimeoutMs?: number;
  /** Longest silence while the body flows (default 60 s). */
  bodyTimeoutMs?: number;
}

/** Per-connection read buffer: one read syscall fills at most this much. */
const READ_BUFFER = 64 * 1024;
/** A response head larger than this is refused (node:http's default limit is 16 KiB). */
const MAX_HEAD = 64 * 1024;
/** A chunk-size line (with extensions) or trailer line longer than this is refused. */
const MAX_LINE = 8 * 1024;

// node:tls is loaded on the first https request: start-up that a plain-HTTP pull never needs
let tlsModule: typeof Tls | undefined;
function tls(): typeof Tls {
  tlsModule ??= createRequire(import.meta.url)("node:tls") as typeof Tls;
  return tlsModule;
}

function abortError(signal: AbortSignal): Error {
  const err = new Error("The operation was aborted", { cause: signal.reason });
  err.name = "AbortError";
  (err as { code?: string }).code = "ABORT_ERR";
  return err;
}

/** What a connection is doing with the bytes it reads. */
interface Exchange {
  /** Where the next read should land; undefined: the connection's own buffer. */
  readTarget(): Buffer | undefined;
  /** Bytes read; return false to stop reading until resume(). */
  onBytes(view: Buffer): boolean;
  onEnd(): void;
  onError(err: Error): void;
}

class Connection {
  exchange: Exchange | undefined;
  /** Served at least one response: an error before any new byte may just be a stale keep-alive. */
  reused = false;
  closed = false;

  constructor(
    readonly socket: net.Socket,
    readonly key: string,
    readonly buffer: Buffer,
  ) {
    socket.on("end", () => {
      this.closed = true;
      this.exchange?.onEnd();
    });
    socket.on("error", (err) => {
      this.closed = true;
      this.exchange?.onError(err);
    });
    socket.on("close", () => {
      this.closed = true;
      this.exchange?.onError(new Error("socket closed"));
    });
    socket.on("timeout", () => this.exchange?.onError(new Error("socket timeout")));
  }

  /** The buffer for the next read (net calls this after every read callback). */
  nextBuffer(): Buffer {
    return this.exchange?.readTarget() ?? this.buffer;
  }

  read(n: number, buf: Buffer): boolean {
    const ex = this.exchange;
    if (!ex) {
      // bytes nobody asked for on an idle socket: the stream is out of step, never reuse it
      this.closed = true;
      this.socket.destroy();
      return false;
    }
    return ex.onBytes(buf.subarray(0, n));
  }
}

interface Head {
  status: number;
  headers: HttpResponse["headers"];
  keepAlive: boolean;
}

/** Parse a response head (without the final blank line); undefined when malformed. */
function parseHead(text: string): Head | undefined {
  const lines = text.split("\r\n");
  const m = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(lines[0] ?? "");
  if (!m) return undefined;
  const headers: HttpResponse["headers"] = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const c = line.indexOf(":");
    if (c <= 0) return undefined;
    const name = line.slice(0, c).trim().toLowerCase();
    const value = line.slice(c + 1).trim();
    const prev = headers[name];
    if (name === "www-authenticate") headers[name] = [...((prev as string[] | undefined) ?? []), value];
    else headers[name] = prev === undefined ? value : `${prev}, ${value}`;
  }
  const connection = String(headers.connection ?? "").toLowerCase();
  const keepAlive = m[1] === "1" ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
  return { status: Number(m[2]), headers, keepAlive };
}

/**
 * A response body: a Readable of copied chunks for ordinary consumers, and `BodyChunks` for one
 * that reads views of the connection's buffer synchronously (no copy, no allocation per read).
 */
class SocketBody extends Readable implements BodyChunks {
  #resume: () => void;
  #abandon: () => void;
  #direct: ((view: Buffer) => boolean | undefined) | undefined;
  #readInto: ((max: number) => Buffer | undefined) | undefined;
  #directEnd: ((err?: Error) => void) | undefined;
  #ended = false;

  constructor(resume: () => void, abandon: () => void) {
    super({ highWaterMark: 256 * 1024 });
    this.#resume = resume;
    this.#abandon = abandon;
  }

  override _read(): void {
    this.#resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.#ended) this.#abandon();
    // like node:http's IncomingMessage: a body failing (an abort, a reset) before anyone listens
    // must not crash the process; the error stays in `errored` for whoever reads it later
    cb(this.listenerCount("error") > 0 ? err : null);
  }

  /** Called by the exchange; false: stop reading for now. */
  deliver(view: Buffer): boolean {
    if (this.#direct) return this.#direct(view) !== false;
    return this.push(Buffer.from(view));
  }

  finish(): void {
    this.#ended = true;
    if (this.#directEnd) {
      const end = this.#directEnd;
      this.#directEnd = undefined;
      end();
      // keep the Readable's own state consistent for anyone who looks at it afterwards
      this.push(null);
      this.resume();
    } else this.push(null);
  }

  fail(err: Error): void {
    if (this.#directEnd) {
      const end = this.#directEnd;
      this.#directEnd = undefined;
      end(err);
      // the consumer has the error; the Readable side has no listener to give it to
      this.destroy();
    } else this.destroy(err);
  }

  /** A region of the consumer's for the next read of at most `max` body bytes, if it offers one. */
  readTarget(max: number): Buffer | undefined {
    return this.#directEnd !== undefined ? this.#readInto?.(max) : undefined;
  }

  [kBodyChunks](
    onChunk: (view: Buffer) => boolean | undefined,
    onEnd: (err?: Error) => void,
    readInto?: (max: number) => Buffer | undefined,
  ): boolean {
    if (this.#direct || this.destroyed || this.readableEnded || this.readableFlowing) return false;
    this.#readInto = readInto;
    // what the head's read already buffered (copies) goes first, so no byte is seen twice or skipped
    const buffered: Buffer[] = [];
    for (let c = this.read() as Buffer | null; c !== null; c = this.read() as Buffer | null) buffered.push(c);
    this.#direct = onChunk;
    this.#directEnd = onEnd;
    // a `false` from onChunk is not honoured here: at most one read buffer arrives before the pause
    // takes effect; a failure inside onChunk (an abort) ends the body through fail()
    const live = () => this.#directEnd !== undefined;
    for (const c of buffered) if (live()) onChunk(c);
    if (!live()) return true;
    if (this.#ended) {
      this.#directEnd = undefined;
      queueMicrotask(() => onEnd());
    } else this.#resume();
    return true;
  }

  /** For BodyChunks consumers: read on after onChunk returned false. */
  resumeChunks(): void {
    this.#resume();
  }
}

/** Default transport: HTTP/1.1 on net/tls sockets with keep-alive; never follows redirects itself. */
export function createSocketTransport(options: SocketTransportOptions = {}): HttpTransport & {
  close(): Promise<void>;
} {
  const maxPerOrigin = options.connections ?? 8;
  const headersTimeout = options.headersTimeoutMs ?? 60_000;
  const bodyTimeout = options.bodyTimeoutMs ?? 60_000;
  const idle = new Map<string, Connection[]>();
  const active = new Map<string, number>();
  const waiting = new Map<string, (() => void)[]>();
  const all = new Set<Connection>();
  /** The last TLS session per origin, so parallel layer connections resume instead of redoing the handshake. */
  const sessions = new Map<string, Buffer>();
  let closed = false;

  const release = (key: string) => {
    active.set(key, (active.get(key) ?? 1) - 1);
    waiting.get(key)?.shift()?.();
  };

  const acquireSlot = (key: string, signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      if ((active.get(key) ?? 0) < maxPerOrigin) {
        active.set(key, (active.get(key) ?? 0) + 1);
        return resolve();
      }
      const queue = waiting.get(key) ?? [];
      waiting.set(key, queue);
      const onAbort = () => {
        const i = queue.indexOf(go);
        if (i >= 0) queue.splice(i, 1);
        reject(abortError(signal as AbortSignal));
      };
      const go = () => {
        signal?.removeEventListener("abort", onAbort);
        active.set(key, (active.get(key) ?? 0) + 1);
        resolve();
      };
      queue.push(go);
      signal?.addEventListener("abort", onAbort, { once: true });
    });

  const connect = (req: HttpRequest, key: string) =>
    new Promise<Connection>((resolve, reject) => {
      const secure = req.url.protocol === "https:";
      const host = req.url.hostname.replace(/^\[|\]$/g, "");
      const port = Number(req.url.port || (secure ? 443 : 80));
      let conn: Connection | undefined;
      const buffer = Buffer.allocUnsafe(READ_BUFFER);
      const onread = {
        // a function: net asks it for the buffer of every next read (a body may offer its own)
        buffer: () => conn?.nextBuffer() ?? buffer,
        callback: (n: number, buf: Buffer) => conn?.read(n, buf) ?? true,
      };
      const socket: net.Socket = secure
        ? tls().connect({
            host,
            port,
            // SNI takes a host name, never an IP literal (RFC 6066)
            ...(net.isIP(host) ? {} : { servername: host }),
            rejectUnauthorized: !req.insecureTls,
            ...(sessions.has(key) ? { session: sessions.get(key) } : {}),
            onread,
          } as Tls.ConnectionOptions)
        : net.connect({ host, port, onread });
      if (secure) socket.on("session", (session: Buffer) => sessions.set(key, session));
      conn = new Connection(socket, key, buffer);
      const c = conn;
      all.add(c);
      socket.once("close", () => all.delete(c));
      // like node:http's timer, the wait for the response head covers connecting
      const timer = setTimeout(
        () =>
          socket.destroy(new NetworkError(`no connection within ${headersTimeout} ms to ${req.url.host}`)),
        headersTimeout,
      );
      const onAbort = () => socket.destroy(abortError(req.signal as AbortSignal));
      req.signal?.addEventListener("abort", onAbort, { once: true });
      const settle = () => {
        clearTimeout(timer);
        req.signal?.removeEventListener("abort", onAbort);
        socket.off(secure ? "secureConnect" : "connect", ready);
        socket.off("error", failed);
      };
      const ready = () => {
        settle();
        resolve(c);
      };
      const failed = (err: Error) => {
        settle();
        reject(err);
      };
      socket.once(secure ? "secureConnect" : "connect", ready);
      socket.once("error", failed);
    });

  const takeIdle = (key: string): Connection | undefined => {
    const list = idle.get(key);
    while (list?.length) {
      const c = list.pop() as Connection; // LIFO: the warmest socket
      if (!c.closed && !c.socket.destroyed) return c;
    }
    return undefined;
  };

  const exchange = (conn: Connection, req: HttpRequest, key: string): Promise<HttpResponse> =>
    new Promise<HttpResponse>((resolve, reject) => {
      const socket = conn.socket;
      const isHead = req.method === "HEAD";
      let phase: "head" | "body" | "done" = "head";
      let headBuf: Buffer[] = [];
      let headLen = 0;
      let body: SocketBody | undefined;
      let sawBytes = false;
      let mode: "none" | "length" | "chunked" | "close" = "none";
      let remaining = 0;
      let keepAlive = false;
      // chunked decoding
      let cState: "size" | "data" | "data-crlf" | "trailer" = "size";
      let line = "";
      let paused = false;
      let released = false;

      const timer = setTimeout(
        () => fail(new NetworkError(`no response within ${headersTimeout} ms from ${req.url.host}`)),
        headersTimeout,
      );
      const onAbort = () => fail(abortError(req.signal as AbortSignal));
      req.signal?.addEventListener("abort", onAbort, { once: true });

      const cleanup = () => {
        clearTimeout(timer);
        req.signal?.removeEventListener("abort", onAbort);
        socket.setTimeout(0);
        conn.exchange = undefined;
      };
      const giveBack = (reusable: boolean) => {
        if (released) return;
        released = true;
        cleanup();
        if (reusable && !closed && !conn.closed && !socket.destroyed) {
          conn.reused = true;
          socket.unref();
          const list = idle.get(key) ?? [];
          idle.set(key, list);
          list.push(conn);
        } else socket.destroy();
        release(key);
      };
      function fail(err: Error) {
        if (phase === "done") return;
        const before = phase === "head";
        phase = "done";
        giveBack(false);
        if (before) {
          // a reused keep-alive socket that dies before any byte: the server closed it while idle
          if (conn.reused && !sawBytes && (req.method === "GET" || req.method === "HEAD")) {
            reject(Object.assign(err, { staleSocket: true }));
          } else reject(err);
        } else body?.fail(err);
      }
      const complete = () => {
        if (phase === "done") return;
        phase = "done";
        giveBack(keepAlive);
        body?.finish();
      };
      const resume = () => {
        if (!paused || phase === "done") return;
        paused = false;
        socket.setTimeout(bodyTimeout);
        socket.resume();
      };
      const abandon = () => {
        if (phase !== "done") {
          phase = "done";
          giveBack(false);
        }
      };

      /** Feed body bytes through the framing; returns false to pause. */
      const bodyBytes = (view: Buffer): boolean => {
        let ok = true;
        let v = view;
        while (v.length > 0 && phase === "body") {
          if (mode === "length" || mode === "close") {
            let piece = v;
            if (mode === "length") {
              if (v.length > remaining) piece = v.subarray(0, remaining);
              remaining -= piece.length;
            }
            v = v.subarray(piece.length);
            if (piece.length > 0 && !(body as SocketBody).deliver(piece)) ok = false;
            if (mode === "length" && remaining === 0) {
              // bytes after the body on a non-pipelined connection: the server misbehaves
              if (v.length > 0) keepAlive = false;
              complete();
            }
            break;
          }
          // chunked
          if (cState === "data") {
            const piece = v.length > remaining ? v.subarray(0, remaining) : v;
            remaining -= piece.length;
            v = v.subarray(piece.length);
            if (!(body as SocketBody).deliver(piece)) ok = false;
            if (remaining === 0) cState = "data-crlf";
            continue;
          }
          const nl = v.indexOf(10);
          const upto = nl < 0 ? v.length : nl + 1;
          line += v.toString("latin1", 0, upto);
          v = v.subarray(upto);
          if (line.length > MAX_LINE) {
            fail(new NetworkError(`malformed chunked body from ${req.url.host}: line too long`));
            return false;
          }
          if (nl < 0) continue;
          const text = line.replace(/\r?\n$/, "");
          line = "";
          if (cState === "data-crlf") {
            if (text !== "") {
              fail(new NetworkError(`malformed chunked body from ${req.url.host}: missing CRLF`));
              return false;
            }
            cState = "size";
          } else if (cState === "size") {
            const size = /^([0-9a-fA-F]+)[ \t]*(;.*)?$/.exec(text);
            if (!size) {
              fail(new NetworkError(`malformed chunked body from ${req.url.host}: bad chunk size`));
              return false;
            }
            remaining = Number.parseInt(size[1] as string, 16);
            if (!Number.isSafeInteger(remaining)) {
              fail(new NetworkError(`malformed chunked body from ${req.url.host}: bad chunk size`));
              return false;
            }
            cState = remaining === 0 ? "trailer" : "data";
          } else if (text === "") {
            if (v.length > 0) keepAlive = false;
            complete();
          }
        }
        // a body that just completed must not leave its (kept-alive) socket paused
        if (phase !== "body") return true;
        if (!ok) {
          paused = true;
          socket.setTimeout(0);
        }
        return ok;
      };

      conn.exchange = {
        readTarget() {
          // only where every byte up to `remaining` is body: not chunked framing, not a head
          return phase === "body" && mode === "length" && remaining > 0 && !paused
            ? (body as SocketBody).readTarget(remaining)
            : undefined;
        },
        onBytes(view) {
          sawBytes = true;
          if (phase === "body") return bodyBytes(view);
          if (phase !== "head") return true;
          headBuf.push(view.length ? Buffer.from(view) : view);
          headLen += view.length;
          const all = headBuf.length === 1 ? (headBuf[0] as Buffer) : Buffer.concat(headBuf, headLen);
          headBuf = [all];
          const end = all.indexOf("\r\n\r\n");
          if (end < 0) {
            if (headLen > MAX_HEAD) fail(new NetworkError(`response head from ${req.url.host} is too large`));
            return true;
          }
          const head = parseHead(all.toString("latin1", 0, end));
          if (!head) {
            fail(new NetworkError(`malformed HTTP response from ${req.url.host}`));
            return true;
          }
          const rest = all.subarray(end + 4);
          headBuf = [];
          headLen = 0;
          if (head.status >= 100 && head.status < 200) return rest.length ? this.onBytes(rest) : true;
          clearTimeout(timer);
          keepAlive = head.keepAlive;
          const te = String(head.headers["transfer-encoding"] ?? "").toLowerCase();
          const cl = head.headers["content-length"];
          if (isHead || head.status === 204 || head.status === 304) mode = "none";
          else if (te) {
            if (!/(^|,)\s*chunked\s*$/.test(te)) {
              fail(new NetworkError(`unsupported Transfer-Encoding "${te}" from ${req.url.host}`));
              return true;
            }
            mode = "chunked";
          } else if (cl !== undefined) {
            if (!/^\d+$/.test(String(cl))) {
              fail(new NetworkError(`invalid Content-Length from ${req.url.host}`));
              return true;
            }
            mode = "length";
            remaining = Number(cl);
            if (remaining === 0) mode = "none";
          } else {
            mode = "close";
            keepAlive = false;
          }
          body = new SocketBody(resume, abandon);
          resolve({ status: head.status, headers: head.headers, body });
          if (mode === "none") {
            if (rest.length > 0) keepAlive = false;
            complete();
            return true;
          }
          phase = "body";
          socket.setTimeout(bodyTimeout);
          return rest.length ? bodyBytes(rest) : true;
        },
        onEnd() {
          if (phase === "body" && mode === "close") complete();
          else fail(new NetworkError(`${req.url.host} closed the connection before the response ended`));
        },
        onError(err) {
          if (err.message === "socket timeout")
            fail(new NetworkError(`no data for ${bodyTimeout} ms from ${req.url.host}`));
          else fail(err);
        },
      };

      let head = `${req.method} ${req.url.pathname}${req.url.search} HTTP/1.1\r\nhost: ${req.url.host}\r\n`;
      const headers: Record<string, string> = { ...req.headers };
      if (req.body !== undefined) headers["content-length"] = String(Buffer.byteLength(req.body));
      for (const [k, v] of Object.entries(headers)) {
        if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) {
          fail(new TypeError(`invalid character in header ${JSON.stringify(k)}`));
          return;
        }
        if (k.toLowerCase() === "host") continue;
        head += `${k}: ${v}\r\n`;
      }
      socket.ref();
      socket.write(req.body === undefined ? `${head}\r\n` : `${head}\r\n${req.body}`);
    });

  const request = async (req: HttpRequest, retried = false): Promise<HttpResponse> => {
    if (closed) throw new NetworkError("the transport is closed");
    if (req.signal?.aborted) throw abortError(req.signal);
    const key = `${req.url.protocol}//${req.url.host}${req.insecureTls ? "#insecure" : ""}`;
    await acquireSlot(key, req.signal);
    let conn = takeIdle(key);
    if (!conn) {
      try {
        conn = await connect(req, key);
      } catch (err) {
        release(key);
        throw err;
      }
      if (req.signal?.aborted) {
        conn.socket.destroy();
        release(key);
        throw abortError(req.signal);
      }
    }
    try {
      return await exchange(conn, req, key);
    } catch (err) {
      if ((err as { staleSocket?: boolean }).staleSocket && !retried) return request(req, true);
      throw err;
    }
  };

  return {
    request: (req) => request(req),
    async close() {
      closed = true;
      for (const c of all) c.socket.destroy();
      idle.clear();
      sessions.clear();
    },
  };
}
