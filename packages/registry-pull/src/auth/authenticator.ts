/**
 * Per-host authentication state. The first request goes out without credentials; a 401 tells us the
 * scheme (Bearer or Basic) and we remember it for the host, so later requests authorize up front.
 * Bearer tokens are cached per (realm, service, scope, identity) until shortly before they expire.
 */
import type { CredentialSource, Credentials } from "../credentials.js";
import type { HostPolicy, HttpResponse, HttpTransport } from "../http.js";
import type { RetryOptions } from "../retry.js";
import { parseChallenges } from "./challenge.js";
import { checkRealm } from "./realm.js";
import { basicHeader, fetchToken, type Token } from "./token.js";

type HostState =
  | { scheme: "none" }
  | { scheme: "basic"; credentials: Credentials }
  | { scheme: "bearer"; realm: URL; service?: string };

export interface AuthenticatorOptions {
  transport: HttpTransport;
  credentials: CredentialSource;
  policy: HostPolicy;
  retry: RetryOptions;
  now?: () => number;
}

export class Authenticator {
  readonly #opts: AuthenticatorOptions;
  readonly #hosts = new Map<string, HostState>();
  readonly #tokens = new Map<string, Token>();
  readonly #pending = new Map<string, Promise<Token>>();
  readonly #creds = new Map<string, Promise<Credentials | undefined>>();
  /** How many tokens were fetched (observability for tests and debugging). */
  tokenFetches = 0;

  constructor(opts: AuthenticatorOptions) {
    this.#opts = opts;
  }

  #now(): number {
    return (this.#opts.now ?? Date.now)();
  }

  credentialsFor(host: string): Promise<Credentials | undefined> {
    let p = this.#creds.get(host);
    if (!p) {
      p = this.#opts.credentials(host);
      this.#creds.set(host, p);
    }
    return p;
  }

  #tokenKey(host: string, state: { realm: URL; service?: string }, scope: string): string {
    return `${host}|${state.realm.href}|${state.service ?? ""}|${scope}`;
  }

  /** Make sure a usable token exists if the host is known to want one. Call before each request. */
  async prepare(host: string, scope: string, signal?: AbortSignal): Promise<void> {
    const state = this.#hosts.get(host);
    if (state?.scheme !== "bearer") return;
    const key = this.#tokenKey(host, state, scope);
    const t = this.#tokens.get(key);
    if (t && t.expiresAt > this.#now()) return;
    await this.#refresh(host, state, scope, signal);
  }

  /** The Authorization header for the host right now (sync; `prepare` fetched what was needed). */
  authorization(host: string, scope: string): string | undefined {
    const state = this.#hosts.get(host);
    if (!state || state.scheme === "none") return undefined;
    if (state.scheme === "basic") return basicHeader(state.credentials);
    const t = this.#tokens.get(this.#tokenKey(host, state, scope));
    return t ? `Bearer ${t.token}` : undefined;
  }

  /**
   * Handle a 401 from `host`: learn the challenge, drop the token that failed, get a fresh one.
   * Returns false when retrying cannot help (no credentials for Basic, unknown scheme).
   */
  async onUnauthorized(
    host: string,
    scope: string,
    res: HttpResponse,
    sent: string | undefined,
    signal?: AbortSignal,
  ): Promise<boolean> {
    // another request already replaced the credential that failed: just retry with the new one
    const current = this.authorization(host, scope);
    if (sent !== undefined && current !== undefined && current !== sent) return true;
    const challenges = parseChallenges(res.headers["www-authenticate"]);
    const bearer = challenges.find((c) => c.scheme === "bearer");
    const basic = challenges.find((c) => c.scheme === "basic");
    if (bearer) {
      const realm = checkRealm(bearer.params.realm, host, this.#opts.policy);
      const state: HostState = { scheme: "bearer", realm };
      if (bearer.params.service !== undefined) state.service = bearer.params.service;
      this.#hosts.set(host, state);
      this.#tokens.delete(this.#tokenKey(host, state, scope));
      await this.#refresh(host, state, scope, signal);
      return true;
    }
    if (basic) {
      const creds = await this.credentialsFor(host);
      const prev = this.#hosts.get(host);
      if (!creds?.username || prev?.scheme === "basic") return false;
      this.#hosts.set(host, { scheme: "basic", credentials: creds });
      return true;
    }
    return false;
  }

  async #refresh(
    host: string,
    state: { realm: URL; service?: string },
    scope: string,
    signal?: AbortSignal,
  ): Promise<void> {
    const key = this.#tokenKey(host, state, scope);
    let p = this.#pending.get(key);
    if (!p) {
      p = (async () => {
        const creds = await this.credentialsFor(host);
        this.tokenFetches++;
        return fetchToken(
          this.#opts.transport,
          this.#opts.policy,
          this.#opts.retry,
          {
            realm: state.realm,
            ...(state.service !== undefined ? { service: state.service } : {}),
            scopes: [scope],
            ...(creds ? { credentials: creds } : {}),
            registryHost: host,
            ...(signal ? { signal } : {}),
          },
          this.#opts.now,
        );
      })();
      this.#pending.set(key, p);
      p.then(
        () => this.#pending.delete(key),
        () => this.#pending.delete(key),
      );
    }
    this.#tokens.set(key, await p);
  }
}
