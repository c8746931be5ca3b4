import { readFileSync } from "node:fs";
import { join } from "node:path";

/** `/etc/strata/config.json`, then `$XDG_CONFIG_HOME/strata/config.json`: later files override keys. */
export interface StrataConfig {
  /** Store root (flag `--root` and `STRATA_ROOT` win). */
  root?: string;
  /** Docker Hub mirrors, as docker's `registry-mirrors` (added before `--registry-mirror` flags). */
  registryMirrors?: string[];
  /** Registries allowed over plain HTTP, as docker's `insecure-registries`. */
  insecureRegistries?: string[];
  /** `strata run`'s network when `--network` is not given (default `bridge`). */
  defaultNetwork?: string;
  /** Parent cgroup of containers (`STRATA_CGROUP_PARENT` wins). */
  cgroupParent?: string;
}

export class ConfigError extends Error {
  readonly code = "CONFIG_INVALID";
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = "ConfigError";
  }
}

const STRING_KEYS = ["root", "defaultNetwork", "cgroupParent"] as const;
const LIST_KEYS = ["registryMirrors", "insecureRegistries"] as const;
const KNOWN = new Set<string>([...STRING_KEYS, ...LIST_KEYS]);

/** The files read, in order. `STRATA_CONFIG` replaces the list with one file (tests, other setups). */
export function configPaths(env: NodeJS.ProcessEnv): string[] {
  if (env.STRATA_CONFIG) return [env.STRATA_CONFIG];
  const xdg = env.XDG_CONFIG_HOME || (env.HOME ? join(env.HOME, ".config") : undefined);
  return ["/etc/strata/config.json", ...(xdg ? [join(xdg, "strata", "config.json")] : [])];
}

/** Validates one parsed file; unknown keys are errors (a typo must not be silently ignored). */
export function parseConfig(path: string, text: string): StrataConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(path, `not valid JSON (${(error as Error).message}): fix or remove the file`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new ConfigError(path, 'must be a JSON object, e.g. {"root": "/var/lib/strata"}');
  }
  const out: StrataConfig = {};
  for (const [key, value] of Object.entries(doc)) {
    if (!KNOWN.has(key)) {
      throw new ConfigError(path, `unknown key '${key}' (known: ${[...KNOWN].join(", ")})`);
    }
    if ((STRING_KEYS as readonly string[]).includes(key)) {
      if (typeof value !== "string" || value === "")
        throw new ConfigError(path, `'${key}' must be a non-empty string`);
      out[key as (typeof STRING_KEYS)[number]] = value;
    } else {
      if (!Array.isArray(value) || !value.every((v) => typeof v === "string" && v !== "")) {
        throw new ConfigError(path, `'${key}' must be an array of strings`);
      }
      out[key as (typeof LIST_KEYS)[number]] = value as string[];
    }
  }
  return out;
}

/** Reads the config files that exist and merges them (later wins, key by key). */
export function loadConfig(env: NodeJS.ProcessEnv): StrataConfig {
  let merged: StrataConfig = {};
  for (const path of configPaths(env)) {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") continue;
      throw new ConfigError(path, `cannot be read (${code ?? (error as Error).message})`);
    }
    merged = { ...merged, ...parseConfig(path, text) };
  }
  return merged;
}
