/**
 * The HTTP seam: one small interface (`HttpTransport`) so tests can inject faults and record calls,
 * a default implementation over undici's `request()`, and our own redirect loop.
 *
 * Why our own redirect loop rather than undici's redirect interceptor: the interceptor does strip
 * `Authorization` when the origin changes (undici 7.30 `lib/handler/redirect-handler.js`
 * `cleanRequestHeaders`), but it would hide each hop from us, and we must also refuse https→http
 * downgrades to hosts that are not allowed plain HTTP, and decide per hop whether credentials apply.
 */
import { createRequire } from "node:module";
import type { Readable } from "node:stream";
import type { Dispatcher, Agent as UndiciAgent } from "undici";
import { InsecureRedirectError, NetworkError } from "./errors.js";

/*
 * undici's index.js installs an undici-7 Agent as the process-wide dispatcher of Node's built-in
 * fetch when none exists yet; Node 20's fetch (undici 6) then breaks on an explicit Content-Length
 * header ("invalid content-length header"). Importing this package must not change global fetch,
 * so we load the Agent class and the `request()` API from their modules (undici is pinned at
 * 7.30.2) instead of the package entry, and only when an undici transport is created: the default
 * transport is node:http (node-http.ts), and loading undici costs 40–120 ms of start-up.
 */
type ApiRequest = (this: Dispatcher, opts: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;
let undici: { Agent: typeof UndiciAgent; apiRequest: ApiRequest } | undefined;
function loadUndici(): NonNullable<typeof undici> {
  if (!undici) {
    const require = createRequire(import.meta.url);
    undici = {
      Agent: require("undici/lib/dispatcher/agent.js") as typeof UndiciAgent,
      apiRequest: require("undici/lib/api/api-request.js") as ApiRequest,
    };
  }
  return undici;
}

export interface HttpRequest {
  method: "GET" | "HEAD" | "POST";
  url: URL;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** Skip TLS certificate verification (only for registries the user marked insecure). */
  insecureTls?: boolean;
}

export interface HttpResponse {
  status: number;
  /** Lower-case header names; repeated headers joined with ", " except WWW-Authenticate (kept as array). */
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

/**
 * Optional zero-copy reading, offered by the bodies of the socket transport (socket-http.ts):
 * `body[kBodyChunks](onChunk, onEnd, readInto?)` switches the body to handing out views of the
 * connection's read buffer, valid only during the `onChunk` call (copy what you keep). `onChunk`
 * returning false pauses reading until `resumeChunks()`. Returns false when the body cannot switch
 * (read it as a Readable then). After a switch, `onEnd` is called once, with an error if the body
 * failed.
 *
 * `readInto(max)` lets the consumer choose where the next socket read lands: it returns a region of
 * at most `max` bytes (never past the end of the body) that it will not touch until that region
 * comes back as a view to `onChunk`; the consumer then keeps the bytes in place instead of copying
 * them. Returning undefined uses the connection's own buffer. The transport may not ask (chunked
 * bodies, bytes that came with the response head).
 */
export const kBodyChunks = Symbol.for("@strata/registry-pull.bodyChunks");

export interface BodyChunks {
  [kBodyChunks](
    onChunk: (view: Buffer) => boolean | undefined,
    onEnd: (err?: Error) => void,
    readInto?: (max: number) => Buffer | undefined,
  ): boolean;
  resumeChunks(): void;
}

export function bodyChunks(body: Readable): BodyChunks | undefined {
  return kBodyChunks in body ? (body as Readable & BodyChunks) : undefined;
}

export interface HttpTransport {
  request(req: HttpRequest): Promise<HttpResponse>;
}

export interface UndiciTransportOptions {
  /** Max sockets per origin (default 8). */
  connections?: number;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
}

/** A transport over undici `request()` with keep-alive agents; never follows redirects itself. */
export function createUndiciTransport(options: UndiciTransportOptions = {}): HttpTransport & {
  close(): Promise<void>;
} {
  const { Agent, apiRequest } = loadUndici();
  const common = {
    connections: options.connections ?? 8,
    headersTimeout: options.headersTimeoutMs ?? 60_000,
    bodyTimeout: options.bodyTimeoutMs ?? 60_000,
  };
  const verified = new Agent(common);
  let unverified: UndiciAgent | undefined;
  return {
    async request(req) {
      let dispatcher = verified;
      if (req.insecureTls) {
        unverified ??= new Agent({ ...common, connect: { rejectUnauthorized: false } });
        dispatcher = unverified;
      }
      const res = await apiRequest.call(dispatcher, {
        origin: req.url.origin,
        path: `${req.url.pathname}${req.url.search}`,
        method: req.method,
        headers: req.headers,
        body: req.body ?? null,
        ...(req.signal ? { signal: req.signal } : {}),
      });
      return { status: res.statusCode, headers: normaliseHeaders(res.headers), body: res.body };
    },
    async close() {
      await Promise.all([verified.close(), unverified?.close()]);
    },
  };
}

function normaliseHeaders(raw: Record<string, string | string[] | undefined>): HttpResponse["headers"] {
  const out: HttpResponse["headers"] = {};
  for (const [k, v] of Object.entries(raw)) {
    const key = k.toLowerCase();
    if (key === "www-authenticate") out[key] = Array.isArray(v) ? v : v === undefined ? undefined : [v];
    else out[key] = Array.isArray(v) ? v.join(", ") : v;
  }
  return out;
}

export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(", ") : v;
}

/** Read a whole (small) body, refusing more than `limit` bytes. */
export async function readBody(
  res: HttpResponse,
  limit: number,
  onTooLarge: (n: number) => Error,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > limit) {
      res.body.destroy();
      throw onTooLarge(n);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, n);
}

/** Read up to `limit` bytes of an error body as text, for messages; never throws. */
export async function readErrorText(res: HttpResponse, limit = 16 * 1024): Promise<string> {
  try {
    const buf = await readBody(res, limit, () => new Error("too large"));
    return buf.toString("utf8");
  } catch {
    return "";
  }
}

export function discard(res: HttpResponse): void {
  res.body.on("error", () => {});
  res.body.resume();
}

/** The host policy: which hosts may use plain HTTP (and unverified TLS). */
export interface HostPolicy {
  /** true for loopback hosts and hosts the user marked insecure. */
  isInsecure(host: string): boolean;
}

const LOOPBACK = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|::1)$/i;

/** `host` may include a port. */
export function hostname(host: string): string {
  if (host.startsWith("[")) return host.slice(0, host.indexOf("]") + 1);
  const i = host.lastIndexOf(":");
  return i >= 0 && host.indexOf(":") === i ? host.slice(0, i) : host;
}

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.test(hostname(host));
}

/** Private, loopback or link-local literal addresses (the token-realm SSRF check). */
export function isInternalHost(host: string): boolean {
  const h = hostname(host)
    .replace(/^\[|\]$/g, "")
    .toLowerCase();
  if (h === "localhost" || h === "::1") return true;
  if (h.includes(":")) return /^(fe80|fc|fd)/.test(h);
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(h);
  if (!m) return false;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return (
    a === 127 ||
    a === 10 ||
    a === 0 ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 169 && b === 254)
  );
}

export interface SendOptions {
  /** Returns the Authorization header for this URL, or undefined. Only called for trusted hops. */
  authorization?: (url: URL) => string | undefined;
  /** Origin (scheme://host:port) credentials belong to; hops elsewhere never get them. */
  credentialOrigin?: string;
  policy: HostPolicy;
  maxRedirects?: number;
}

/**
 * Send a request, following redirects ourselves. Credentials are attached only while the hop's origin
 * equals `credentialOrigin`; once a redirect leaves it, later hops never get them, even if they come back.
 */
export async function sendFollowing(
  transport: HttpTransport,
  req: HttpRequest,
  options: SendOptions,
): Promise<HttpResponse & { url: URL }> {
  let url = req.url;
  let method = req.method;
  let body = req.body;
  let trusted = true;
  const max = options.maxRedirects ?? 10;
  for (let hop = 0; ; hop++) {
    const headers = { ...req.headers };
    if (trusted && options.authorization && url.origin === options.credentialOrigin) {
      const auth = options.authorization(url);
      if (auth) headers.authorization = auth;
    }
    const insecureTls = url.protocol === "https:" && options.policy.isInsecure(url.host);
    const hopReq: HttpRequest = { method, url, headers, insecureTls };
    if (body !== undefined) hopReq.body = body;
    if (req.signal) hopReq.signal = req.signal;
    let res: HttpResponse;
    try {
      res = await transport.request(hopReq);
    } catch (err) {
      throw wrapNetworkError(err, method, url);
    }
    const location = header(res, "location");
    if (![301, 302, 303, 307, 308].includes(res.status) || !location) return { ...res, url };
    discard(res);
    if (hop >= max) throw new NetworkError(`too many redirects (more than ${max}) fetching ${req.url.href}`);
    const next = new URL(location, url);
    if (next.protocol !== "https:" && next.protocol !== "http:") {
      throw new InsecureRedirectError(`redirect from ${url.host} to unsupported URL scheme ${next.protocol}`);
    }
    if (next.protocol === "http:" && !options.policy.isInsecure(next.host)) {
      throw new InsecureRedirectError(
        `${url.host} redirected to plain-HTTP ${next.host}; refusing (mark ${next.host} insecure if this is intended)`,
      );
    }
    if (next.origin !== url.origin) trusted = false;
    if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
      method = method === "HEAD" ? "HEAD" : "GET";
      body = undefined;
    }
    url = next;
  }
}

export function wrapNetworkError(err: unknown, method: string, url: URL): Error {
  if (err instanceof Error && (err.name === "AbortError" || (err as { code?: string }).code === "ABORT_ERR"))
    return err;
  if (err instanceof NetworkError || err instanceof InsecureRedirectError) return err;
  const code = (err as { code?: string })?.code;
  const msg = err instanceof Error ? err.message : String(err);
  return new NetworkError(
    `${method} ${url.origin}${url.pathname} failed: ${msg}${code ? ` (${code})` : ""}`,
    err,
  );
}
