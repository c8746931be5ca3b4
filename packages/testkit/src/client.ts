import { TestkitError } from "./errors.js";
import type { BlobData, BuiltImage, BuiltIndex } from "./image.js";

/** A username and password (htpasswd user, or a token-server user). */
export interface Credentials {
  username: string;
  password: string;
}

/** Where to push: a registry handle from startRegistry, or just its URL. */
export interface RegistryTarget {
  /** Base URL, e.g. "http://127.0.0.1:5123". */
  url: string;
  /** Used for Basic challenges and to fetch Bearer tokens. */
  credentials?: Credentials;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: Buffer;
  /** Repository the request is about (for the Bearer scope). */
  repository?: string;
  /** Default "pull" for GET/HEAD, "pull,push" otherwise. */
  actions?: string;
  /** Statuses that are not an error; default any 2xx. */
  expect?: number[];
}

/** Parse `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` (also Basic). */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const space = header.indexOf(" ");
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  const re = /([a-zA-Z_]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (const m of header.slice(space + 1).matchAll(re)) {
    params[(m[1] ?? "").toLowerCase()] = (m[2] ?? m[3] ?? "").replace(/\\(.)/g, "$1");
  }
  return { scheme, params };
}

const basic = (c: Credentials) => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;

/**
 * A minimal registry API client for tests: answers Basic and Bearer challenges (one retry), caches
 * the Authorization per repository and action set.
 */
export class RegistryClient {
  readonly url: string;
  readonly credentials: Credentials | undefined;
  private readonly auth = new Map<string, string>();

  constructor(target: RegistryTarget | string, credentials?: Credentials) {
    const t = typeof target === "string" ? { url: target } : target;
    this.url = t.url.replace(/\/+$/, "");
    this.credentials = credentials ?? t.credentials;
  }

  /** Send a request to `path` ("/v2/…" or an absolute URL), answering an auth challenge once. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const url = new URL(path, `${this.url}/`).toString();
    const actions = options.actions ?? (method === "GET" || method === "HEAD" ? "pull" : "pull,push");
    const key = `${options.repository ?? ""}:${actions}`;
    const send = (authorization?: string) =>
      fetch(url, {
        method,
        headers: { ...options.headers, ...(authorization ? { authorization } : {}) },
        ...(options.body ? { body: options.body } : {}),
        redirect: "follow",
      });
    let res = await send(this.auth.get(key));
    if (res.status === 401) {
      const challenge = res.headers.get("www-authenticate") ?? "";
      await res.body?.cancel();
      const authorization = await this.answer(challenge, options.repository, actions);
      this.auth.set(key, authorization);
      res = await send(authorization);
    }
    const ok = options.expect ? options.expect.includes(res.status) : res.status >= 200 && res.status < 300;
    if (!ok) {
      const text = await res.text().catch(() => "");
      throw new TestkitError(
        res.status === 401 || res.status === 403 ? "AUTH_FAILED" : "REGISTRY_REQUEST_FAILED",
        `${method} ${url} answered ${res.status}: ${text.slice(0, 500)}`,
      );
    }
    return res;
  }

  private async answer(challenge: string, repository: string | undefined, actions: string): Promise<string> {
    const { scheme, params } = parseChallenge(challenge);
    if (scheme === "basic") {
      if (!this.credentials) {
        throw new TestkitError(
          "AUTH_FAILED",
          `${this.url} wants Basic auth; pass credentials (the registry handle has them)`,
        );
      }
      return basic(this.credentials);
    }
    if (scheme !== "bearer" || !params.realm) {
      throw new TestkitError("AUTH_FAILED", `${this.url} sent an unusable challenge: '${challenge}'`);
    }
    const token = await fetchToken(params.realm, {
      ...(params.service !== undefined ? { service: params.service } : {}),
      // Ask for everything this key will be used for (HEAD before a push is challenged for "pull" only).
      scopes: [repository ? `repository:${repository}:${actions}` : (params.scope ?? "")].filter(Boolean),
      ...(this.credentials ? { credentials: this.credentials } : {}),
    });
    return `Bearer ${token}`;
  }

  /** Upload a blob unless the repository already has it. Chunked: POST, PATCH per chunk, PUT. */
  async pushBlob(repository: string, blob: BlobData, options: PushOptions = {}): Promise<void> {
    const head = await this.request("HEAD", `/v2/${repository}/blobs/${blob.digest}`, {
      repository,
      actions: "pull,push",
      expect: [200, 404],
    });
    await head.body?.cancel();
    if (head.status === 200 && !options.force) return;
    let res = await this.request("POST", `/v2/${repository}/blobs/uploads/`, { repository, expect: [202] });
    let location = uploadLocation(res, this.url);
    if (options.chunked) {
      const chunkSize = Math.max(1, options.chunkSize ?? Math.ceil(blob.data.length / 3));
      for (let start = 0; start < blob.data.length; start += chunkSize) {
        const chunk = blob.data.subarray(start, Math.min(start + chunkSize, blob.data.length));
        res = await this.request("PATCH", location, {
          repository,
          body: chunk,
          headers: {
            "content-type": "application/octet-stream",
            "content-range": `${start}-${start + chunk.length - 1}`,
            "content-length": String(chunk.length),
          },
          expect: [202],
        });
        location = uploadLocation(res, this.url);
      }
      const put = new URL(location);
      put.searchParams.set("digest", blob.digest);
      const done = await this.request("PUT", put.toString(), {
        repository,
        headers: { "content-length": "0" },
        expect: [201],
      });
      await done.body?.cancel();
      return;
    }
    const put = new URL(location);
    put.searchParams.set("digest", blob.digest);
    const done = await this.request("PUT", put.toString(), {
      repository,
      body: blob.data,
      headers: { "content-type": "application/octet-stream", "content-length": String(blob.data.length) },
      expect: [201],
    });
    await done.body?.cancel();
  }

  /** PUT a manifest under a tag or digest; returns the digest the registry reports. */
  async putManifest(repository: string, reference: string, mediaType: string, body: Buffer): Promise<string> {
    const res = await this.request("PUT", `/v2/${repository}/manifests/${reference}`, {
      repository,
      body,
      headers: { "content-type": mediaType },
      expect: [201],
    });
    await res.body?.cancel();
    return res.headers.get("docker-content-digest") ?? "";
  }

  /** GET a manifest with a broad Accept; returns its bytes and Content-Type. */
  async getManifest(
    repository: string,
    reference: string,
  ): Promise<{ body: Buffer; contentType: string; digest: string }> {
    const res = await this.request("GET", `/v2/${repository}/manifests/${reference}`, {
      repository,
      headers: { accept: ACCEPT_ALL_MANIFESTS },
    });
    return {
      body: Buffer.from(await res.arrayBuffer()),
      contentType: res.headers.get("content-type") ?? "",
      digest: res.headers.get("docker-content-digest") ?? "",
    };
  }

  /** GET a blob's bytes. */
  async getBlob(repository: string, digest: string): Promise<Buffer> {
    const res = await this.request("GET", `/v2/${repository}/blobs/${digest}`, { repository });
    return Buffer.from(await res.arrayBuffer());
  }
}

/** Every manifest media type, for Accept headers. */
export const ACCEPT_ALL_MANIFESTS = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

function uploadLocation(res: Response, base: string): string {
  const location = res.headers.get("location");
  void res.body?.cancel();
  if (!location)
    throw new TestkitError("REGISTRY_REQUEST_FAILED", `${res.url} answered ${res.status} without Location`);
  return new URL(location, `${base}/`).toString();
}

/** Fetch a Bearer token with GET realm?service=&scope= (Basic credentials when given). */
export async function fetchToken(
  realm: string,
  options: { service?: string; scopes?: string[]; credentials?: Credentials },
): Promise<string> {
  const url = new URL(realm);
  if (options.service !== undefined) url.searchParams.set("service", options.service);
  for (const scope of options.scopes ?? []) url.searchParams.append("scope", scope);
  const res = await fetch(url, {
    headers: options.credentials ? { authorization: basic(options.credentials) } : {},
  });
  if (!res.ok) {
    throw new TestkitError("AUTH_FAILED", `token server ${url} answered ${res.status}: ${await res.text()}`);
  }
  const body = (await res.json()) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (!token) throw new TestkitError("AUTH_FAILED", `token server ${url} returned no token`);
  return token;
}

export interface PushOptions {
  /** Upload blobs in chunks (POST, PATCH with Content-Range, PUT). Default monolithic (POST, PUT). */
  chunked?: boolean;
  /** Chunk size in bytes; default a third of the blob. */
  chunkSize?: number;
  /** Credentials instead of the target's own. */
  credentials?: Credentials;
  /** Upload even when HEAD says the blob is there. */
  force?: boolean;
}

/** Push an image's blobs and then its manifest under `reference` (a tag or its digest). Returns the digest. */
export async function pushImage(
  target: RegistryTarget | string,
  repository: string,
  reference: string,
  image: BuiltImage,
  options: PushOptions = {},
): Promise<string> {
  const client = new RegistryClient(target, options.credentials);
  for (const blob of image.blobs) await client.pushBlob(repository, blob, options);
  await client.putManifest(repository, reference, image.mediaType, image.manifest);
  return image.digest;
}

/** Push every manifest of an index (by digest), then the index under `reference`. Returns its digest. */
export async function pushIndex(
  target: RegistryTarget | string,
  repository: string,
  reference: string,
  index: BuiltIndex,
  options: PushOptions = {},
): Promise<string> {
  const client = new RegistryClient(target, options.credentials);
  for (const image of index.manifests) {
    for (const blob of image.blobs) await client.pushBlob(repository, blob, options);
    await client.putManifest(repository, image.digest, image.mediaType, image.manifest);
  }
  await client.putManifest(repository, reference, index.mediaType, index.index);
  return index.digest;
}
