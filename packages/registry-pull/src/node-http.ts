/**
 * A transport on Node's own `http`/`https` clients with keep-alive agents (the default until the
 * socket transport, socket-http.ts, replaced it: node:http allocates and copies every body chunk
 * twice, see bench/pull/RESULTS.md).
 *
 * Why not undici (still available as `createUndiciTransport`): on a 38 MB blob, undici's request
 * path kept 40–60 MiB more native memory alive than `node:http` (socket chunks copied into its
 * WASM parser, body queues), which put a 50 MB pull above 100 MiB of RSS; and loading undici's
 * agent costs 40–120 ms of start-up, while `node:http` is part of Node (bench/pull/RESULTS.md).
 */
import type * as Http from "node:http";
import type * as Https from "node:https";
import { createRequire } from "node:module";
import { NetworkError } from "./errors.js";
import type { HttpResponse, HttpTransport } from "./http.js";

export interface NodeHttpTransportOptions {
  /** Max sockets per origin (default 8). */
  connections?: number;
  /** Time to wait for the response head (default 60 s). */
  headersTimeoutMs?: number;
  /** Longest silence while the body flows (default 60 s). */
  bodyTimeoutMs?: number;
}

// node:http and node:https (and tls under it) load when this transport is created or first talks
// https: start-up that the default transport (socket-http.ts) never needs
let httpsModule: typeof Https | undefined;
function https(): typeof Https {
  httpsModule ??= createRequire(import.meta.url)("node:https") as typeof Https;
  return httpsModule;
}

/** A transport on `node:http(s)` with keep-alive agents; never follows redirects itself. */
export function createNodeHttpTransport(options: NodeHttpTransportOptions = {}): HttpTransport & {
  close(): Promise<void>;
} {
  const common = { keepAlive: true, maxSockets: options.connections ?? 8, scheduling: "lifo" as const };
  const headersTimeout = options.headersTimeoutMs ?? 60_000;
  const bodyTimeout = options.bodyTimeoutMs ?? 60_000;
  const http = createRequire(import.meta.url)("node:http") as typeof Http;
  const plain = new http.Agent(common);
  let verified: Https.Agent | undefined;
  let unverified: Https.Agent | undefined;
  return {
    request(req) {
      const secure = req.url.protocol === "https:";
      let agent: Http.Agent = plain;
      if (secure) {
        if (req.insecureTls) {
          unverified ??= new (https().Agent)({ ...common, rejectUnauthorized: false });
          agent = unverified;
        } else {
          verified ??= new (https().Agent)(common);
          agent = verified;
        }
      }
      const headers: Record<string, string> = { ...req.headers };
      if (req.body !== undefined) headers["content-length"] = String(Buffer.byteLength(req.body));
      return new Promise<HttpResponse>((resolve, reject) => {
        const r = (secure ? https() : http).request(
          {
            protocol: req.url.protocol,
            // URL keeps IPv6 literals in brackets; the socket wants the bare address
            hostname: req.url.hostname.replace(/^\[|\]$/g, ""),
            port: req.url.port || (secure ? 443 : 80),
            path: `${req.url.pathname}${req.url.search}`,
            method: req.method,
            headers,
            agent,
            ...(req.signal ? { signal: req.signal } : {}),
          },
          (res) => {
            clearTimeout(timer);
            // an idle body is an error, like undici's bodyTimeout
            res.setTimeout(bodyTimeout, () =>
              res.destroy(new NetworkError(`no data for ${bodyTimeout} ms from ${req.url.host}`)),
            );
            const out: HttpResponse["headers"] = {};
            // headersDistinct keeps repeated headers apart, so several WWW-Authenticate challenges survive
            for (const [k, v] of Object.entries(res.headersDistinct)) {
              if (v === undefined) continue;
              out[k] = k === "www-authenticate" ? v : v.join(", ");
            }
            resolve({ status: res.statusCode ?? 0, headers: out, body: res });
          },
        );
        const timer = setTimeout(
          () => r.destroy(new NetworkError(`no response within ${headersTimeout} ms from ${req.url.host}`)),
          headersTimeout,
        );
        r.on("error", (err) => {
          clearTimeout(timer);
          reject(err);
        });
        r.end(req.body);
      });
    },
    async close() {
      plain.destroy();
      verified?.destroy();
      unverified?.destroy();
    },
  };
}
