/**
 * Registry credentials: explicit options first, then ~/.docker/config.json (`credHelpers`, then
 * `credsStore`, then `auths`), the same precedence as the docker CLI.
 */
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { CredentialsError } from "./errors.js";

export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (docker's `identitytoken`); used with the token endpoint's POST form. */
  identityToken?: string;
}

export type CredentialSource = (host: string) => Promise<Credentials | undefined>;

/** Runs `docker-credential-NAME get`; injectable for tests. */
export type HelperRunner = (helper: string, serverUrl: string) => Promise<string>;

export interface DockerConfigOptions {
  /** Path to config.json (default `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`). */
  path?: string;
  runHelper?: HelperRunner;
}

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

export function defaultDockerConfigPath(): string {
  const dir = process.env.DOCKER_CONFIG || join(homedir(), ".docker");
  return join(dir, "config.json");
}

/** The keys docker uses for a host: Docker Hub is stored under its legacy index URL. */
export function configKeysFor(host: string): string[] {
  if (host === "docker.io" || host === "registry-1.docker.io" || host === "index.docker.io") {
    return ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"];
  }
  return [host, `https://${host}`, `http://${host}`];
}

/** Strip scheme and path so `https://host:5000/v1/` matches `host:5000`. */
function normaliseKey(key: string): string {
  let k = key.replace(/^[a-z]+:\/\//i, "");
  const slash = k.indexOf("/");
  if (slash >= 0) k = k.slice(0, slash);
  return k.toLowerCase();
}

const HELPER_NAME = /^[A-Za-z0-9_.-]+$/;

export const runCredentialHelper: HelperRunner = async (helper, serverUrl) => {
  if (!HELPER_NAME.test(helper)) {
    throw new CredentialsError(`invalid credential helper name "${helper}" in docker config`);
  }
  // loaded on first use: node:child_process costs ~10-20 ms of start-up and most pulls need no helper
  const { execFile } = await import("node:child_process");
  return new Promise((resolve, reject) => {
    const child = execFile(
      `docker-credential-${helper}`,
      ["get"],
      { timeout: 30_000, maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const text = `${stdout}${stderr}`.trim();
          // helpers print "credentials not found in native keychain" and exit 1 when they have nothing
          if (/not found/i.test(text)) resolve("");
          else
            reject(
              new CredentialsError(
                `docker-credential-${helper} get failed for ${serverUrl}: ${text || (err as Error).message}`,
                err,
              ),
            );
          return;
        }
        resolve(stdout);
      },
    );
    child.stdin?.end(serverUrl);
  });
};

export function dockerConfigCredentials(options: DockerConfigOptions = {}): CredentialSource {
  const path = options.path ?? defaultDockerConfigPath();
  const runHelper = options.runHelper ?? runCredentialHelper;
  let loaded: Promise<DockerConfigFile | undefined> | undefined;
  const load = () =>
    (loaded ??= readFile(path, "utf8").then(
      (text) => {
        try {
          return JSON.parse(text) as DockerConfigFile;
        } catch (err) {
          throw new CredentialsError(`docker config ${path} is not valid JSON; fix or remove it`, err);
        }
      },
      (err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return undefined;
        throw new CredentialsError(`cannot read docker config ${path}: ${err.message}`, err);
      },
    ));

  const fromHelper = async (helper: string, serverUrl: string): Promise<Credentials | undefined> => {
    const out = (await runHelper(helper, serverUrl)).trim();
    if (!out) return undefined;
    let parsed: { Username?: string; Secret?: string };
    try {
      parsed = JSON.parse(out);
    } catch (err) {
      throw new CredentialsError(`docker-credential-${helper} returned invalid JSON for ${serverUrl}`, err);
    }
    if (!parsed.Secret) return undefined;
    // docker convention: username "<token>" means the secret is an identity (refresh) token
    if (parsed.Username === "<token>") return { identityToken: parsed.Secret };
    return { username: parsed.Username ?? "", password: parsed.Secret };
  };

  return async (host) => {
    const config = await load();
    if (!config) return undefined;
    const keys = configKeysFor(host);
    const wanted = new Set(keys.map(normaliseKey));
    for (const [key, helper] of Object.entries(config.credHelpers ?? {})) {
      if (wanted.has(normaliseKey(key))) return fromHelper(helper, keys[0] as string);
    }
    if (config.credsStore) {
      const got = await fromHelper(config.credsStore, keys[0] as string);
      if (got) return got;
    }
    for (const [key, entry] of Object.entries(config.auths ?? {})) {
      if (!wanted.has(normaliseKey(key))) continue;
      if (entry.identitytoken) return { identityToken: entry.identitytoken };
      if (entry.auth) {
        const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
        const colon = decoded.indexOf(":");
        if (colon < 0)
          throw new CredentialsError(
            `docker config ${path}: "auth" for ${key} is not base64 "user:password"`,
          );
        return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
      }
      if (entry.username !== undefined && entry.password !== undefined) {
        return { username: entry.username, password: entry.password };
      }
    }
    return undefined;
  };
}

/** Credentials given in options, keyed by host (`docker.io`, `127.0.0.1:5000`). */
export function staticCredentials(map: Record<string, Credentials>): CredentialSource {
  const byKey = new Map<string, Credentials>();
  for (const [k, v] of Object.entries(map)) byKey.set(normaliseKey(k), v);
  return async (host) => {
    for (const k of configKeysFor(host)) {
      const hit = byKey.get(normaliseKey(k));
      if (hit) return hit;
    }
    return undefined;
  };
}

/** First source that knows the host wins. */
export function chainCredentials(...sources: CredentialSource[]): CredentialSource {
  return async (host) => {
    for (const s of sources) {
      const c = await s(host);
      if (c) return c;
    }
    return undefined;
  };
}
