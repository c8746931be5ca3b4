/**
 * Client context: options resolved once (transport, host policy, credentials, auth state, mirrors),
 * endpoints for a registry, and the one request function that adds auth and maps HTTP statuses to
 * typed errors.
 */
import { registryApiHost } from "@strata/oci-types";
import { Authenticator } from "./auth/authenticator.js";
import {
  type CredentialSource,
  type Credentials,
  chainCredentials,
  dockerConfigCredentials,
  type HelperRunner,
  staticCredentials,
} from "./credentials.js";
import {
  DeniedError,
  HttpStatusError,
  InvalidOptionError,
  NotFoundError,
  type RegistryError,
  TooManyRequestsError,
  UnauthorizedError,
} from "./errors.js";
import {
  discard,
  type HostPolicy,
  type HttpResponse,
  type HttpTransport,
  header,
  hostname,
  isLoopbackHost,
  readErrorText,
  sendFollowing,
} from "./http.js";
import { parseRetryAfter, RETRYABLE_STATUS, RetryableError, type RetryOptions } from "./retry.js";
import { createSocketTransport } from "./socket-http.js";

export interface RegistryClientOptions {
  /** HTTP seam; default `createSocketTransport()` (HTTP/1.1 on node:net/node:tls). */
  transport?: HttpTransport;
  /** Credentials by host (`docker.io`, `127.0.0.1:5000`) or a lookup function. Checked before the docker config. */
  credentials?: Record<string, Credentials> | CredentialSource;
  /** Path to docker's config.json, or false to not read it. Default `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`. */
  dockerConfig?: string | false;
  /** Runs `docker-credential-NAME get` (injectable for tests). */
  credentialHelper?: HelperRunner;
  /** Hosts (`host` or `host:port`) allowed plain HTTP and unverified TLS. Loopback hosts always are. */
  insecureRegistries?: string[];
  /** Mirrors per registry (`{"docker.io": ["https://mirror.example"]}`), tried in order before the origin. */
  mirrors?: Record<string, string[]>;
  retry?: RetryOptions;
  /** Parallel layer downloads (default 3). */
  concurrency?: number;
}

export interface Endpoint {
  /** scheme://host[:port] */
  base: URL;
  /** host[:port], the key for credentials and auth state. */
  host: string;
  mirror: boolean;
}

export class ClientContext {
  readonly transport: HttpTransport;
  readonly policy: HostPolicy;
  readonly auth: Authenticator;
  readonly retry: RetryOptions;
  readonly concurrency: number;
  readonly #mirrors: Record<string, string[]>;
  readonly #ownTransport?: { close(): Promise<void> };

  constructor(options: RegistryClientOptions = {}) {
    if (options.transport) this.transport = options.transport;
    else {
      const t = createSocketTransport();
      this.transport = t;
      this.#ownTransport = t;
    }
    const insecure = new Set((options.insecureRegistries ?? []).map((h) => h.toLowerCase()));
    this.policy = {
      isInsecure: (host) => {
        const h = host.toLowerCase();
        return isLoopbackHost(h) || insecure.has(h) || insecure.has(hostname(h));
      },
    };
    const sources: CredentialSource[] = [];
    if (typeof options.credentials === "function") sources.push(options.credentials);
    else if (options.credentials) sources.push(staticCredentials(options.credentials));
    if (options.dockerConfig !== false) {
      sources.push(
        dockerConfigCredentials({
          ...(typeof options.dockerConfig === "string" ? { path: options.dockerConfig } : {}),
          ...(options.credentialHelper ? { runHelper: options.credentialHelper } : {}),
        }),
      );
    }
    this.retry = options.retry ?? {};
    const concurrency = options.concurrency ?? 3;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
      throw new InvalidOptionError(`concurrency must be an integer from 1 to 64, got ${concurrency}`);
    }
    this.concurrency = concurrency;
    this.auth = new Authenticator({
      transport: this.transport,
      credentials: chainCredentials(...sources),
      policy: this.policy,
      retry: this.retry,
    });
    this.#mirrors = options.mirrors ?? {};
    for (const [reg, list] of Object.entries(this.#mirrors)) for (const m of list) this.#parseMirror(reg, m);
  }

  #parseMirror(registry: string, text: string): URL {
    let url: URL;
    try {
      url = new URL(/^[a-z]+:\/\//i.test(text) ? text : `https://${text}`);
    } catch {
      throw new InvalidOptionError(`mirror "${text}" for ${registry} is not a URL; use https://host[:port]`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new InvalidOptionError(`mirror "${text}" for ${registry} must be http(s)`);
    }
    if (url.protocol === "http:" && !this.policy.isInsecure(url.host)) {
      throw new InvalidOptionError(
        `mirror "${text}" uses plain HTTP but ${url.host} is not marked insecure; add it to insecureRegistries or use https`,
      );
    }
    if (url.pathname !== "/" || url.search) {
      throw new InvalidOptionError(`mirror "${text}" must be a registry root URL (no path)`);
    }
    return url;
  }

  /** Mirrors first (in the order given), then the registry itself. */
  endpoints(registry: string): Endpoint[] {
    const out: Endpoint[] = [];
    for (const m of this.#mirrors[registry] ?? []) {
      const base = this.#parseMirror(registry, m);
      out.push({ base, host: base.host, mirror: true });
    }
    const host = registryApiHost(registry);
    const scheme = this.policy.isInsecure(host) ? "http" : "https";
    out.push({ base: new URL(`${scheme}://${host}`), host, mirror: false });
    return out;
  }

  async close(): Promise<void> {
    await this.#ownTransport?.close();
  }
}

export const pullScope = (repository: string) => `repository:${repository}:pull`;

export interface RegistryRequest {
  method: "GET" | "HEAD";
  path: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * One registry request with auth: credentials only for the endpoint's own origin; a 401 from it
 * refreshes the token (or switches to Basic) once and retries.
 */
export async function registryRequest(
  ctx: ClientContext,
  ep: Endpoint,
  repository: string,
  req: RegistryRequest,
): Promise<HttpResponse & { url: URL }> {
  const scope = pullScope(repository);
  const url = new URL(req.path, ep.base);
  for (let attempt = 0; ; attempt++) {
    await ctx.auth.prepare(ep.host, scope, req.signal);
    const sent = ctx.auth.authorization(ep.host, scope);
    const res = await sendFollowing(
      ctx.transport,
      { method: req.method, url, headers: req.headers ?? {}, ...(req.signal ? { signal: req.signal } : {}) },
      { policy: ctx.policy, credentialOrigin: ep.base.origin, authorization: () => sent },
    );
    if (res.status === 401 && attempt === 0 && res.url.origin === ep.base.origin) {
      if (await ctx.auth.onUnauthorized(ep.host, scope, res, sent, req.signal)) {
        discard(res);
        continue;
      }
    }
    return res;
  }
}

/** Map a non-success response to a typed error (retryable ones wrapped in RetryableError). */
export async function statusError(
  res: HttpResponse,
  what: { subject: string; notFound: string; host: string; repository: string; authenticated: boolean },
): Promise<RegistryError> {
  let text = "";
  if (res.status >= 400) text = await readErrorText(res);
  else discard(res);
  const detail = registryErrorDetail(text);
  const suffix = detail ? ` (registry says: ${detail})` : "";
  switch (res.status) {
    case 404:
      return new NotFoundError(`${what.notFound}${suffix}`);
    case 401:
      return new UnauthorizedError(
        what.authenticated
          ? `${what.host} rejected the credentials for ${what.repository}${suffix}; check the username/password (docker login ${what.host})`
          : `pull access denied for ${what.repository} on ${what.host}: authentication required, or the repository does not exist${suffix}; log in (docker login ${what.host}) or pass credentials`,
      );
    case 403:
      return new DeniedError(
        `${what.host} denied access to ${what.subject}${suffix}; your account lacks pull permission`,
      );
    case 429: {
      const ra = parseRetryAfter(header(res, "retry-after"));
      const limit = header(res, "ratelimit-limit");
      const remaining = header(res, "ratelimit-remaining");
      const rate = limit ? ` (rate limit ${limit}, remaining ${remaining ?? "?"})` : "";
      const err = new TooManyRequestsError(
        `${what.host} is rate limiting requests for ${what.subject}${rate}${suffix}; wait${ra !== undefined ? ` ${Math.ceil(ra / 1000)} s` : ""} and try again, log in for a higher limit, or use a mirror`,
        ra === undefined ? undefined : Math.ceil(ra / 1000),
      );
      return new RetryableError(err, ra);
    }
    default: {
      const err = new HttpStatusError(
        `${what.host} answered HTTP ${res.status} for ${what.subject}${suffix}`,
        res.status,
      );
      if (RETRYABLE_STATUS.has(res.status))
        return new RetryableError(err, parseRetryAfter(header(res, "retry-after")));
      return err;
    }
  }
}

function registryErrorDetail(text: string): string {
  if (!text) return "";
  try {
    const j = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    if (Array.isArray(j.errors) && j.errors.length) {
      return j.errors.map((e) => [e.code, e.message].filter(Boolean).join(": ")).join("; ");
    }
  } catch {
    // not JSON: fall through
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text.trim();
}
