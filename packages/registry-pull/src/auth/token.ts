/**
 * Bearer tokens (distribution token spec): anonymous GET, GET with Basic credentials, and the OAuth2
 * POST form (password or refresh_token grant) with fallback to GET, as containerd does.
 */

import type { Credentials } from "../credentials.js";
import {
  DeniedError,
  HttpStatusError,
  type RegistryError,
  TokenError,
  UnauthorizedError,
} from "../errors.js";
import { discard, type HostPolicy, type HttpTransport, readBody, sendFollowing } from "../http.js";
import { parseRetryAfter, RETRYABLE_STATUS, RetryableError, type RetryOptions, withRetry } from "../retry.js";

export interface Token {
  token: string;
  /** ms since epoch, local clock. */
  expiresAt: number;
}

export interface TokenRequest {
  realm: URL;
  service?: string;
  scopes: string[];
  credentials?: Credentials;
  registryHost: string;
  signal?: AbortSignal;
}

const CLIENT_ID = "strata";
/** Spec: expires_in defaults to 60 s and tokens should never live less than 60 s. */
const MIN_LIFETIME_S = 60;

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username ?? ""}:${c.password ?? ""}`).toString("base64")}`;
}

export async function fetchToken(
  transport: HttpTransport,
  policy: HostPolicy,
  retry: RetryOptions,
  req: TokenRequest,
  now: () => number = Date.now,
): Promise<Token> {
  const c = req.credentials;
  const canPost = Boolean(c?.identityToken || (c?.username && c.password !== undefined));
  return withRetry(
    `token request to ${req.realm.origin}`,
    retry,
    async () => {
      if (canPost) {
        const res = await post(transport, policy, req);
        if (res.status === 200) return parseToken(await readBody(res, 1 << 20, tooBig), now);
        const fallback = !c?.identityToken && [400, 401, 404, 405].includes(res.status);
        if (!fallback) throw await statusError(res, req);
        discard(res);
      }
      const res = await get(transport, policy, req);
      if (res.status === 200) return parseToken(await readBody(res, 1 << 20, tooBig), now);
      throw await statusError(res, req);
    },
    req.signal ? { signal: req.signal } : {},
  );
}

const tooBig = () => new TokenError("token response is larger than 1 MiB; refusing");

async function get(transport: HttpTransport, policy: HostPolicy, req: TokenRequest) {
  const url = new URL(req.realm);
  if (req.service) url.searchParams.set("service", req.service);
  for (const s of req.scopes) url.searchParams.append("scope", s);
  const c = req.credentials;
  const auth = c?.username ? basicHeader(c) : undefined;
  return sendFollowing(
    transport,
    {
      method: "GET",
      url,
      headers: { accept: "application/json" },
      ...(req.signal ? { signal: req.signal } : {}),
    },
    { policy, credentialOrigin: url.origin, ...(auth ? { authorization: () => auth } : {}) },
  );
}

async function post(transport: HttpTransport, policy: HostPolicy, req: TokenRequest) {
  const c = req.credentials as Credentials;
  const form = new URLSearchParams();
  if (c.identityToken) {
    form.set("grant_type", "refresh_token");
    form.set("refresh_token", c.identityToken);
  } else {
    form.set("grant_type", "password");
    form.set("username", c.username ?? "");
    form.set("password", c.password ?? "");
  }
  if (req.service) form.set("service", req.service);
  if (req.scopes.length) form.set("scope", req.scopes.join(" "));
  form.set("client_id", CLIENT_ID);
  return sendFollowing(
    transport,
    {
      method: "POST",
      url: req.realm,
      headers: {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
        accept: "application/json",
      },
      body: form.toString(),
      ...(req.signal ? { signal: req.signal } : {}),
    },
    { policy },
  );
}

async function statusError(
  res: { status: number; headers: Record<string, string | string[] | undefined> },
  req: TokenRequest,
): Promise<RegistryError> {
  discard(res as Parameters<typeof discard>[0]);
  const who = req.credentials ? "the given credentials" : "anonymous access";
  if (res.status === 401)
    return new UnauthorizedError(
      `token server ${req.realm.origin} rejected ${who} for ${req.registryHost} (${req.scopes.join(" ")}); check your username/password or run docker login`,
    );
  if (res.status === 403)
    return new DeniedError(
      `token server ${req.realm.origin} denied ${who} for ${req.registryHost} (${req.scopes.join(" ")})`,
    );
  const err = new HttpStatusError(`token server ${req.realm.origin} answered HTTP ${res.status}`, res.status);
  if (RETRYABLE_STATUS.has(res.status)) {
    const ra = res.headers["retry-after"];
    return new RetryableError(err, parseRetryAfter(Array.isArray(ra) ? ra[0] : ra));
  }
  return err;
}

export function parseToken(body: Buffer, now: () => number): Token {
  let json: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch {
    throw new TokenError("token server returned a response that is not JSON");
  }
  const token = typeof json.token === "string" && json.token ? json.token : json.access_token;
  if (typeof token !== "string" || !token)
    throw new TokenError('token server response has neither "token" nor "access_token"');
  const lifetime = Math.max(
    MIN_LIFETIME_S,
    typeof json.expires_in === "number" ? json.expires_in : MIN_LIFETIME_S,
  );
  // refresh a little early: 10 % of the lifetime, at most 30 s
  const margin = Math.min(30, lifetime * 0.1);
  return { token, expiresAt: now() + (lifetime - margin) * 1000 };
}
