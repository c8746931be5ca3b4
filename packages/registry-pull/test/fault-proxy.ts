/**
 * A fault-injecting HTTP proxy on 127.0.0.1 in front of a real registry (tests only). Rules match
 * requests and misbehave a given number of times; everything else is forwarded untouched.
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";

export type Fault =
  /** Forward, but kill the connection (RST) after `afterBytes` body bytes. */
  | { kind: "reset"; afterBytes: number }
  /** Forward with the original Content-Length, but close cleanly after `afterBytes`. */
  | { kind: "truncate"; afterBytes: number }
  /** Forward with the byte at `offset` inverted. */
  | { kind: "flip"; offset: number }
  /** Answer this status without forwarding. */
  | { kind: "status"; status: number; headers?: Record<string, string>; body?: string }
  /** Forward, then replace response headers. */
  | { kind: "headers"; headers: Record<string, string> }
  /** Forward without the request's Range header (a server that ignores Range). */
  | { kind: "strip-range" }
  /** Answer 401 with the last challenge the upstream sent, plus error="invalid_token". */
  | { kind: "expired-token" }
  /** Answer with a body and Content-Type of our choosing. */
  | {
      kind: "body";
      status?: number;
      contentType: string;
      body: Buffer;
      headers?: Record<string, string>;
      chunked?: boolean;
    }
  /** Redirect to `${target}${path}`. */
  | { kind: "redirect"; target: string; status?: number };

export interface Rule {
  method?: string;
  /** Tested against the path (with query). */
  path: RegExp;
  /** Only requests carrying a Range header (or only without). */
  range?: boolean;
  fault: Fault;
  /** How many matching requests misbehave (default 1; Infinity for always). */
  times?: number;
}

export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  fault?: Fault["kind"];
}

export interface FaultProxy {
  url: string;
  host: string;
  port: number;
  rules: Rule[];
  seen: SeenRequest[];
  stop(): Promise<void>;
}

export async function startFaultProxy(upstream: string, rules: Rule[] = []): Promise<FaultProxy> {
  const up = new URL(upstream);
  const seen: SeenRequest[] = [];
  let lastChallenge: string | undefined;
  const state = { rules };

  const server: Server = createServer((req, res) => {
    const path = req.url ?? "/";
    const rule = state.rules.find(
      (r) =>
        (r.times ?? 1) > 0 &&
        (!r.method || r.method === req.method) &&
        r.path.test(path) &&
        (r.range === undefined || r.range === Boolean(req.headers.range)),
    );
    if (rule) rule.times = (rule.times ?? 1) - 1;
    const fault = rule?.fault;
    seen.push({
      method: req.method ?? "",
      path,
      headers: req.headers,
      ...(fault ? { fault: fault.kind } : {}),
    });
    if (fault?.kind === "status") {
      res.writeHead(fault.status, fault.headers ?? {});
      res.end(fault.body ?? "");
      return;
    }
    if (fault?.kind === "body") {
      res.writeHead(fault.status ?? 200, {
        "content-type": fault.contentType,
        ...(fault.chunked ? {} : { "content-length": String(fault.body.length) }),
        ...fault.headers,
      });
      res.end(req.method === "HEAD" ? undefined : fault.body);
      return;
    }
    if (fault?.kind === "redirect") {
      res.writeHead(fault.status ?? 307, { location: `${fault.target}${path}` });
      res.end();
      return;
    }
    if (fault?.kind === "expired-token") {
      res.writeHead(401, {
        "www-authenticate": `${lastChallenge ?? 'Bearer realm="missing"'},error="invalid_token"`,
        "content-type": "application/json",
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}');
      return;
    }
    forward(req, res, fault);
  });

  function forward(req: IncomingMessage, res: ServerResponse, fault: Fault | undefined) {
    const headers = { ...req.headers, host: up.host };
    if (fault?.kind === "strip-range") delete headers.range;
    const upReq = request(
      { host: up.hostname, port: up.port, method: req.method, path: req.url, headers },
      (upRes) => {
        const h = { ...upRes.headers };
        const wa = h["www-authenticate"];
        if (upRes.statusCode === 401 && wa) lastChallenge = Array.isArray(wa) ? wa[0] : wa;
        if (fault?.kind === "headers") Object.assign(h, fault.headers);
        res.writeHead(upRes.statusCode ?? 502, h);
        let sent = 0;
        upRes.on("data", (chunk: Buffer) => {
          let c = chunk;
          if (fault?.kind === "flip" && fault.offset >= sent && fault.offset < sent + c.length) {
            c = Buffer.from(c);
            c[fault.offset - sent] = (c[fault.offset - sent] as number) ^ 0xff;
          }
          if (
            (fault?.kind === "reset" || fault?.kind === "truncate") &&
            sent + c.length >= fault.afterBytes
          ) {
            const part = c.subarray(0, Math.max(0, fault.afterBytes - sent));
            upRes.destroy();
            res.write(part, () => {
              if (fault.kind === "reset") res.socket?.resetAndDestroy();
              else res.socket?.end();
            });
            sent += part.length;
            return;
          }
          sent += c.length;
          res.write(c);
        });
        upRes.on("end", () => res.end());
        upRes.on("error", () => res.destroy());
      },
    );
    upReq.on("error", () => res.destroy());
    req.pipe(upReq);
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    port,
    get rules() {
      return state.rules;
    },
    set rules(r: Rule[]) {
      state.rules = r;
    },
    seen,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
