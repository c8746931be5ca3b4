import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import type { Credentials } from "./client.js";
import { TestkitError } from "./errors.js";
import { startTokenServer, type TokenServer, type TokenServerOptions } from "./token-server.js";
import { freePort, sleep } from "./util.js";

/** The Debian docker-registry binary (CNCF distribution 2.8). */
export const REGISTRY_BINARY = "/usr/bin/docker-registry";

/** The user a basic/token registry accepts when no users are given. */
export const DEFAULT_CREDENTIALS: Credentials = { username: "strata", password: "strata-test-password" };

export interface StartRegistryOptions {
  /** Default "none". */
  auth?: "none" | "basic" | "token";
  /** Users for basic/token auth (username → password). Default: DEFAULT_CREDENTIALS. */
  users?: Record<string, string>;
  /** Token server settings (auth "token"); users/service/issuer are filled in. */
  token?: Omit<TokenServerOptions, "users" | "dir">;
  /** Run as a pull-through cache of this registry URL (`proxy.remoteurl`). */
  proxyRemoteUrl?: string;
  /** Credentials for the upstream of a proxy. */
  proxyCredentials?: Credentials;
  /** Default REGISTRY_BINARY. */
  binary?: string;
  /** Name prefix of the temp dir under os.tmpdir(). Default "strata-test-registry-". */
  tempPrefix?: string;
  /** How long to wait for /v2/ to answer. Default 30 s. */
  startTimeoutMs?: number;
}

/** A running registry. */
export interface RegistryHandle {
  /** "http://127.0.0.1:PORT" */
  url: string;
  /** "127.0.0.1:PORT" (for references: `${host}/repo:tag`). */
  host: string;
  port: number;
  /** The registry's storage root (storage.filesystem.rootdirectory). */
  storageDir: string;
  /** The temp dir holding config, storage, htpasswd, cert. */
  dir: string;
  auth: "none" | "basic" | "token";
  /** The first user (basic and token modes). */
  credentials?: Credentials;
  users: Record<string, string>;
  tokenServer?: TokenServer;
  pid: number;
  /** What the registry printed (warnings and errors). */
  logs(): string;
  /** SIGTERM, then SIGKILL after 5 s; removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test worker that dies without afterAll must not leave registries running.
  process.on("exit", () => {
    for (const child of live) child.kill("SIGKILL");
  });
}

const q = (s: string) => JSON.stringify(s);

function configYaml(o: {
  storageDir: string;
  port: number;
  htpasswd?: string;
  token?: TokenServer;
  proxyRemoteUrl?: string;
  proxyCredentials?: Credentials;
}): string {
  const lines = [
    "version: 0.1",
    "log:",
    "  level: warn",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${q(o.storageDir)}`,
    "  delete:",
    "    enabled: true",
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: ${q(`127.0.0.1:${o.port}`)}`,
    `  secret: ${q(randomBytes(16).toString("hex"))}`,
    "health:",
    "  storagedriver:",
    "    enabled: false",
  ];
  if (o.htpasswd)
    lines.push("auth:", "  htpasswd:", '    realm: "strata-test"', `    path: ${q(o.htpasswd)}`);
  if (o.token) {
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${q(o.token.realm)}`,
      `    service: ${q(o.token.service)}`,
      `    issuer: ${q(o.token.issuer)}`,
      `    rootcertbundle: ${q(o.token.certPath)}`,
    );
  }
  if (o.proxyRemoteUrl) {
    lines.push("proxy:", `  remoteurl: ${q(o.proxyRemoteUrl)}`);
    if (o.proxyCredentials) {
      lines.push(
        `  username: ${q(o.proxyCredentials.username)}`,
        `  password: ${q(o.proxyCredentials.password)}`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

async function waitReady(
  url: string,
  child: ChildProcess,
  timeoutMs: number,
  failed: () => boolean,
): Promise<"ready" | "exited" | "timeout"> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (failed() || child.exitCode !== null || child.signalCode !== null) return "exited";
    try {
      const res = await fetch(`${url}/v2/`);
      await res.body?.cancel();
      if (res.status === 200 || res.status === 401) return "ready";
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  return "timeout";
}

async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * Start the Debian docker-registry on a free 127.0.0.1 port with a temp storage dir
 * (`$TMPDIR/strata-test-registry-*`). Call `stop()` in afterAll.
 */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<RegistryHandle> {
  installExitHook();
  const auth = options.auth ?? "none";
  const users = options.users ?? { [DEFAULT_CREDENTIALS.username]: DEFAULT_CREDENTIALS.password };
  const firstUser = Object.entries(users)[0];
  const credentials =
    auth !== "none" && firstUser ? { username: firstUser[0], password: firstUser[1] } : undefined;
  const dir = await mkdtemp(join(tmpdir(), options.tempPrefix ?? "strata-test-registry-"));
  const storageDir = join(dir, "storage");
  let tokenServer: TokenServer | undefined;
  try {
    await mkdir(storageDir);
    let htpasswd: string | undefined;
    if (auth === "basic") {
      htpasswd = join(dir, "htpasswd");
      const lines = Object.entries(users).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 5)}`);
      await writeFile(htpasswd, `${lines.join("\n")}\n`);
    }
    if (auth === "token") tokenServer = await startTokenServer({ ...options.token, users, dir });

    let lastLogs = "";
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const configPath = join(dir, "config.yml");
      await writeFile(
        configPath,
        configYaml({
          storageDir,
          port,
          ...(htpasswd ? { htpasswd } : {}),
          ...(tokenServer ? { token: tokenServer } : {}),
          ...(options.proxyRemoteUrl ? { proxyRemoteUrl: options.proxyRemoteUrl } : {}),
          ...(options.proxyCredentials ? { proxyCredentials: options.proxyCredentials } : {}),
        }),
      );
      const binary = options.binary ?? REGISTRY_BINARY;
      const child = spawn(binary, ["serve", configPath], { stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      const collect = (chunk: Buffer) => {
        output = (output + chunk.toString()).slice(-65536);
      };
      child.stdout?.on("data", collect);
      child.stderr?.on("data", collect);
      let spawnError: Error | undefined;
      child.once("error", (e) => {
        spawnError = e;
      });
      live.add(child);
      child.once("exit", () => live.delete(child));
      const url = `http://127.0.0.1:${port}`;
      const state = await waitReady(
        url,
        child,
        options.startTimeoutMs ?? 30_000,
        () => spawnError !== undefined,
      );
      if (spawnError) {
        live.delete(child);
        throw new TestkitError(
          "REGISTRY_START_FAILED",
          `cannot run ${binary}: ${spawnError.message} (install the docker-registry apt package)`,
          { cause: spawnError },
        );
      }
      if (state === "ready") {
        let stopped = false;
        const ts = tokenServer;
        return {
          url,
          host: `127.0.0.1:${port}`,
          port,
          storageDir,
          dir,
          auth,
          ...(credentials ? { credentials } : {}),
          users: auth === "none" ? {} : users,
          ...(ts ? { tokenServer: ts } : {}),
          pid: child.pid ?? -1,
          logs: () => output,
          stop: async () => {
            if (stopped) return;
            stopped = true;
            await killAndWait(child);
            await ts?.stop();
            await rm(dir, { recursive: true, force: true });
          },
        };
      }
      await killAndWait(child);
      lastLogs = output;
      // Lost the race for the port to another process: try a new one. Anything else is fatal.
      if (!/address already in use/i.test(output)) break;
    }
    throw new TestkitError(
      "REGISTRY_START_FAILED",
      `docker-registry did not answer /v2/ (auth ${auth}); its output:\n${lastLogs.trim() || "(nothing)"}`,
    );
  } catch (e) {
    await tokenServer?.stop();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * The data file of a blob in a registry's storage, e.g. to flip a byte so a client sees a digest
 * mismatch. distribution serves the file as it is, without re-checking its digest.
 */
export function registryBlobPath(registry: Pick<RegistryHandle, "storageDir">, digest: string): string {
  const match = /^(sha256|sha512):([a-f0-9]{64,128})$/.exec(digest);
  if (!match?.[1] || !match[2]) {
    throw new TestkitError("INVALID_ARGUMENT", `'${digest}' is not a digest like sha256:<64 hex chars>`);
  }
  const [, algorithm, hex] = match;
  return join(
    registry.storageDir,
    "docker",
    "registry",
    "v2",
    "blobs",
    algorithm,
    hex.slice(0, 2),
    hex,
    "data",
  );
}
