import { generateKeyPairSync, type KeyObject, randomBytes, sign, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, sha256 } from "./util.js";

/** One `access` claim entry. */
export interface Access {
  type: string;
  name: string;
  actions: string[];
}

/** Decides which of the requested actions a subject gets (undefined subject: anonymous). */
export type TokenPolicy = (subject: string | undefined, requested: Access) => string[];

export interface TokenServerOptions {
  /** Users allowed to log in (username → password). Default: { strata: "strata-test-password" }. */
  users?: Record<string, string>;
  /** Issue tokens to requests without credentials. Default true. */
  allowAnonymous?: boolean;
  /** Serve the OAuth2 POST form; false answers 404 so clients must fall back to GET. Default true. */
  oauth?: boolean;
  /** Token lifetime in seconds (`expires_in`). Default 300. */
  expiresIn?: number;
  /** Default: users get pull/push/delete anywhere, anonymous gets pull. */
  policy?: TokenPolicy;
  /** `aud` claim and the registry's `auth.token.service`. Default "strata-test-registry". */
  service?: string;
  /** `iss` claim and the registry's `auth.token.issuer`. Default "strata-test-token-issuer". */
  issuer?: string;
  /** Default "ES256". */
  algorithm?: "ES256" | "RS256";
  /** Directory for key.pem / cert.pem; default a new temp dir removed by stop(). */
  dir?: string;
}

/** What one token request asked for and what it got (for assertions). */
export interface TokenRequestLog {
  method: "GET" | "POST";
  grantType?: string;
  username?: string;
  anonymous: boolean;
  service?: string;
  /** Raw scope strings as requested. */
  scopes: string[];
  granted: Access[];
  status: number;
}

export interface MintOptions {
  subject?: string;
  access?: Access[];
  expiresIn?: number;
  issuer?: string;
  audience?: string;
  /** Shift iat/nbf/exp by this many seconds (negative: already expired). */
  timeShift?: number;
}

/** A running token server. */
export interface TokenServer {
  /** Base URL, e.g. "http://127.0.0.1:5124". */
  url: string;
  /** The token endpoint: `${url}/token`. */
  realm: string;
  service: string;
  issuer: string;
  /** PEM certificate for the signing key (the registry's rootcertbundle). */
  certPath: string;
  /** libtrust fingerprint of the key (JWT header `kid`). */
  kid: string;
  /** Every request so far. */
  requests: TokenRequestLog[];
  /** Change the lifetime of tokens issued from now on. */
  setExpiresIn(seconds: number): void;
  /** Shift the clock of tokens issued from now on (negative: issue already expired tokens). */
  setTimeShift(seconds: number): void;
  /** Sign arbitrary claims with the server's key (for negative tests). */
  mintToken(options?: MintOptions): string;
  stop(): Promise<void>;
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** libtrust key ID: SHA-256 of the DER SubjectPublicKeyInfo, first 30 bytes, base32, 12 groups of 4. */
export function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: "spki", format: "der" });
  const hash = Buffer.from(sha256(der).slice("sha256:".length), "hex").subarray(0, 30);
  return base32(hash).match(/.{4}/g)?.join(":") ?? "";
}

/** Parse "repository:name:pull,push" (the name may contain ':' for a host:port prefix). */
export function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  if (first < 0 || last === first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(",")
      .filter(Boolean),
  };
}

const defaultPolicy: TokenPolicy = (subject, requested) => {
  if (requested.type !== "repository") return [];
  const allowed = subject === undefined ? ["pull"] : ["pull", "push", "delete", "*"];
  return requested.actions.filter((a) => allowed.includes(a));
};

const DEFAULT_USERS: Record<string, string> = { strata: "strata-test-password" };

/** Start a Docker-Hub-style token server on 127.0.0.1 (GET realm + OAuth2 POST), signing JWTs the registry trusts. */
export async function startTokenServer(options: TokenServerOptions = {}): Promise<TokenServer> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), "strata-test-registry-token-")));
  const algorithm = options.algorithm ?? "ES256";
  const users: Record<string, string> = options.users ?? DEFAULT_USERS;
  const service = options.service ?? "strata-test-registry";
  const issuer = options.issuer ?? "strata-test-token-issuer";
  const policy = options.policy ?? defaultPolicy;
  const allowAnonymous = options.allowAnonymous ?? true;
  const oauth = options.oauth ?? true;
  let expiresIn = options.expiresIn ?? 300;
  let timeShift = 0;

  const { privateKey } =
    algorithm === "ES256"
      ? generateKeyPairSync("ec", { namedCurve: "P-256" })
      : generateKeyPairSync("rsa", { modulusLength: 2048 });
  const keyPath = join(dir, "token-key.pem");
  const certPath = join(dir, "token-cert.pem");
  try {
    await writeFile(keyPath, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
    await run("openssl", [
      "req",
      "-x509",
      "-new",
      "-key",
      keyPath,
      "-out",
      certPath,
      "-days",
      "3650",
      "-sha256",
      "-subj",
      `/CN=${issuer}`,
    ]);
  } catch (e) {
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const cert = new X509Certificate(await readFile(certPath));
  const kid = libtrustKeyId(cert.publicKey);

  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const mintToken = (mint: MintOptions = {}): string => {
    const now = Math.floor(Date.now() / 1000) + (mint.timeShift ?? timeShift);
    const header = { typ: "JWT", alg: algorithm, kid };
    const claims = {
      iss: mint.issuer ?? issuer,
      sub: mint.subject ?? "",
      aud: mint.audience ?? service,
      exp: now + (mint.expiresIn ?? expiresIn),
      nbf: now,
      iat: now,
      jti: randomBytes(12).toString("hex"),
      access: mint.access ?? [],
    };
    const input = `${b64(header)}.${b64(claims)}`;
    const signature =
      algorithm === "ES256"
        ? sign("sha256", Buffer.from(input), { key: privateKey, dsaEncoding: "ieee-p1363" })
        : sign("sha256", Buffer.from(input), privateKey);
    return `${input}.${signature.toString("base64url")}`;
  };

  const requests: TokenRequestLog[] = [];
  const refreshTokens = new Map<string, string>();

  const grant = (subject: string | undefined, scopes: string[]): Access[] => {
    const granted: Access[] = [];
    for (const scope of scopes) {
      const requested = parseScope(scope);
      if (!requested) continue;
      const actions = policy(subject, requested);
      if (actions.length > 0) granted.push({ type: requested.type, name: requested.name, actions });
    }
    return granted;
  };

  const respond = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  };

  const issue = (res: ServerResponse, log: TokenRequestLog, extra: Record<string, unknown> = {}) => {
    log.granted = grant(log.username, log.scopes);
    log.status = 200;
    requests.push(log);
    const issuedAt = new Date((Math.floor(Date.now() / 1000) + timeShift) * 1000).toISOString();
    const token = mintToken({ ...(log.username ? { subject: log.username } : {}), access: log.granted });
    respond(res, 200, { token, access_token: token, expires_in: expiresIn, issued_at: issuedAt, ...extra });
  };

  const deny = (res: ServerResponse, log: TokenRequestLog, status: number, message: string) => {
    log.status = status;
    requests.push(log);
    respond(
      res,
      status,
      { errors: [{ code: status === 401 ? "UNAUTHORIZED" : "NOT_FOUND", message }] },
      status === 401 ? { "www-authenticate": `Basic realm="${issuer}"` } : {},
    );
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname !== "/token")
      return respond(res, 404, { errors: [{ code: "NOT_FOUND", message: "no such path" }] });
    if (req.method === "GET") {
      const log: TokenRequestLog = {
        method: "GET",
        anonymous: true,
        scopes: url.searchParams.getAll("scope"),
        granted: [],
        status: 0,
        ...(url.searchParams.has("service") ? { service: url.searchParams.get("service") ?? "" } : {}),
      };
      const authorization = req.headers.authorization ?? "";
      if (authorization.toLowerCase().startsWith("basic ")) {
        const decoded = Buffer.from(authorization.slice(6), "base64").toString();
        const colon = decoded.indexOf(":");
        const username = decoded.slice(0, colon);
        const password = decoded.slice(colon + 1);
        log.username = username;
        log.anonymous = false;
        if (colon < 0 || users[username] !== password)
          return deny(res, log, 401, "invalid username or password");
      } else if (!allowAnonymous) {
        return deny(res, log, 401, "authentication required");
      }
      return issue(res, log);
    }
    if (req.method === "POST") {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const form = new URLSearchParams(Buffer.concat(chunks).toString());
      const grantType = form.get("grant_type") ?? "";
      const log: TokenRequestLog = {
        method: "POST",
        grantType,
        anonymous: false,
        scopes: (form.get("scope") ?? "").split(" ").filter(Boolean),
        granted: [],
        status: 0,
        ...(form.has("service") ? { service: form.get("service") ?? "" } : {}),
      };
      if (!oauth) return deny(res, log, 404, "OAuth2 endpoint disabled for this test");
      if (grantType === "password") {
        const username = form.get("username") ?? "";
        log.username = username;
        if (users[username] === undefined || users[username] !== form.get("password")) {
          return deny(res, log, 401, "invalid username or password");
        }
        const refresh = randomBytes(16).toString("hex");
        refreshTokens.set(refresh, username);
        return issue(res, log, form.get("access_type") === "offline" ? { refresh_token: refresh } : {});
      }
      if (grantType === "refresh_token") {
        const username = refreshTokens.get(form.get("refresh_token") ?? "");
        if (username === undefined) return deny(res, log, 401, "unknown refresh token");
        log.username = username;
        return issue(res, log);
      }
      log.status = 400;
      requests.push(log);
      return respond(res, 400, { error: "unsupported_grant_type" });
    }
    respond(res, 405, { errors: [{ code: "UNSUPPORTED", message: "use GET or POST" }] });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: Error) =>
      respond(res, 500, { errors: [{ code: "INTERNAL", message: e.message }] }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  return {
    url,
    realm: `${url}/token`,
    service,
    issuer,
    certPath,
    kid,
    requests,
    setExpiresIn: (seconds) => {
      expiresIn = seconds;
    },
    setTimeShift: (seconds) => {
      timeShift = seconds;
    },
    mintToken,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}
