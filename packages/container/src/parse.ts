import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { constants as osConstants } from "node:os";
import { RLIMIT_NUMBERS } from "@strata/launch";
import { ContainerError } from "./errors.js";

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * Docker's memory sizes (`--memory 64m`): a number with an optional b/k/m/g/t suffix (binary units,
 * case-insensitive, an optional trailing `b` as in `64mb`). A number is taken as bytes.
 */
export function parseMemory(input: string | number, what = "memory"): number {
  if (typeof input === "number") {
    if (!Number.isSafeInteger(input) || input <= 0) {
      throw new ContainerError("INVALID_OPTION", `${what} must be a positive number of bytes (got ${input})`);
    }
    return input;
  }
  const match = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)b?$/i.exec(input.trim());
  if (!match) {
    throw new ContainerError(
      "INVALID_OPTION",
      `${what} '${input}' is not a size: use a number with an optional unit b, k, m, g (e.g. 64m)`,
    );
  }
  const bytes = Math.floor(Number(match[1]) * (UNITS[(match[2] ?? "").toLowerCase()] ?? 1));
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new ContainerError("INVALID_OPTION", `${what} '${input}' must be more than 0 bytes`);
  }
  return bytes;
}

/**
 * `--env-file` contents as Docker reads them: one `KEY=value` per line, `#` comments and blank lines
 * skipped, a bare `KEY` takes the value from `hostEnv` (and is dropped when unset there). Values are
 * taken verbatim: no quotes are removed, no variables expanded.
 */
export function parseEnvFile(
  text: string,
  source = "env file",
  hostEnv: NodeJS.ProcessEnv = process.env,
): string[] {
  const out: string[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.replace(/^\s+/, "");
    if (line === "" || line.startsWith("#")) return;
    const eq = line.indexOf("=");
    const key = eq < 0 ? line.trimEnd() : line.slice(0, eq);
    if (key === "" || /\s/.test(key)) {
      throw new ContainerError(
        "ENV_FILE_INVALID",
        `${source} line ${index + 1}: '${raw}' is not KEY=value (the name may not be empty or contain spaces)`,
      );
    }
    if (eq >= 0) out.push(line);
    else if (hostEnv[key] !== undefined) out.push(`${key}=${hostEnv[key]}`);
  });
  return out;
}

export async function readEnvFile(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new ContainerError(
      "ENV_FILE_INVALID",
      `cannot read env file ${path}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return parseEnvFile(text, path);
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/** Docker's container name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, here 1..128 chars. */
export function assertContainerName(name: string): void {
  if (!NAME.test(name)) {
    throw new ContainerError(
      "INVALID_NAME",
      `container name '${name}' is not valid: use letters, digits, '_', '.', '-' (first a letter or digit, at most 128)`,
    );
  }
}

const LEFT = [
  "brave",
  "calm",
  "eager",
  "fond",
  "keen",
  "lucid",
  "quiet",
  "sharp",
  "swift",
  "tidy",
  "vivid",
  "wise",
];
const RIGHT = [
  "bohr",
  "curie",
  "euler",
  "gauss",
  "hopper",
  "knuth",
  "lovelace",
  "noether",
  "ritchie",
  "turing",
];

/** A Docker-style random name, `adjective_scientist_xxxx` (the suffix keeps collisions rare). */
export function generateName(): string {
  const b = randomBytes(4);
  return `${LEFT[(b[0] ?? 0) % LEFT.length]}_${RIGHT[(b[1] ?? 0) % RIGHT.length]}_${b.subarray(2).toString("hex")}`;
}

/** 64 random hex digits, like moby's stringid.GenerateRandomID. */
export function newContainerId(): string {
  return randomBytes(32).toString("hex");
}

export function isContainerId(s: string): boolean {
  return /^[0-9a-f]{64}$/.test(s);
}

/** Docker `--cpus 0.5` → quota µs per 100000 µs period; validated here so nothing is created first. */
export function parseCpus(input: string | number): number {
  const cpus = typeof input === "number" ? input : Number(input);
  if (!Number.isFinite(cpus) || cpus <= 0) {
    throw new ContainerError(
      "INVALID_OPTION",
      `--cpus must be a positive number of CPUs (got '${input}'), e.g. 0.5`,
    );
  }
  return cpus;
}

const ULIMIT_VALUE = /^(-1|\d+)$/;

/**
 * Docker's `--ulimit NAME=SOFT[:HARD]` (`nofile=1024:2048`, `nproc=512`; `-1` is unlimited; HARD defaults to
 * SOFT), as a launch rlimit (`RLIMIT_NOFILE`, …).
 */
export function parseUlimit(input: string): { type: string; soft: number; hard: number } {
  const match = /^([a-z]+)=([^:]+)(?::(.+))?$/.exec(input.trim());
  const name = match?.[1];
  if (!match || !name) {
    throw new ContainerError(
      "INVALID_OPTION",
      `--ulimit '${input}' is not NAME=SOFT[:HARD] (e.g. nofile=1024:2048)`,
    );
  }
  const type = `RLIMIT_${name.toUpperCase()}`;
  if (RLIMIT_NUMBERS[type] === undefined) {
    const names = Object.keys(RLIMIT_NUMBERS).map((k) => k.slice("RLIMIT_".length).toLowerCase());
    throw new ContainerError(
      "INVALID_OPTION",
      `--ulimit '${name}' is not a resource limit (one of: ${names.join(", ")})`,
    );
  }
  const value = (text: string) => {
    if (!ULIMIT_VALUE.test(text) || !Number.isSafeInteger(Number(text))) {
      throw new ContainerError(
        "INVALID_OPTION",
        `--ulimit '${input}': '${text}' is not a number (-1: unlimited)`,
      );
    }
    const n = Number(text);
    return n < 0 ? Number.POSITIVE_INFINITY : n;
  };
  const soft = value(match[2] as string);
  const hard = match[3] === undefined ? soft : value(match[3]);
  if (soft > hard) {
    throw new ContainerError("INVALID_OPTION", `--ulimit '${input}': the soft limit is above the hard limit`);
  }
  return { type, soft, hard };
}

/** A `-v HOST:CONTAINER[:ro|rw]` bind mount. */
export interface VolumeBind {
  source: string;
  destination: string;
  readOnly: boolean;
}

/**
 * Docker's `-v/--volume HOST:CONTAINER[:OPTIONS]` for bind mounts: both paths absolute, OPTIONS `ro` or `rw`.
 * Named volumes, propagation and SELinux options are not supported (INVALID_OPTION says so).
 */
export function parseVolume(input: string): VolumeBind {
  const parts = input.split(":");
  const [source = "", destination = "", options, ...rest] = parts;
  if (parts.length < 2 || rest.length > 0 || source === "" || destination === "") {
    throw new ContainerError(
      "INVALID_OPTION",
      `-v '${input}' is not HOST:CONTAINER[:ro|rw] (e.g. -v /srv/data:/data:ro)`,
    );
  }
  if (!source.startsWith("/")) {
    throw new ContainerError(
      "INVALID_OPTION",
      `-v '${input}': named volumes are not supported; give an absolute host path (e.g. -v $PWD/${source}:${destination})`,
    );
  }
  if (!destination.startsWith("/") || destination.split("/").includes("..") || destination === "/") {
    throw new ContainerError(
      "INVALID_OPTION",
      `-v '${input}': the container path must be absolute, not '/', and without '..'`,
    );
  }
  const flags = options === undefined || options === "" ? [] : options.split(",");
  for (const flag of flags) {
    if (flag !== "ro" && flag !== "rw") {
      throw new ContainerError(
        "INVALID_OPTION",
        `-v '${input}': option '${flag}' is not supported (only ro or rw)`,
      );
    }
  }
  return { source, destination, readOnly: flags.includes("ro") && !flags.includes("rw") };
}

const TMPFS_FLAGS = new Set([
  "rw",
  "ro",
  "exec",
  "noexec",
  "suid",
  "nosuid",
  "dev",
  "nodev",
  "noatime",
  "atime",
]);
const TMPFS_DATA = /^(size|mode|uid|gid|nr_inodes|nr_blocks)=[0-9A-Za-z%]+$/;

/**
 * Docker's `--tmpfs PATH[:OPTIONS]` (`--tmpfs /run:size=64m,mode=1777`): a tmpfs with docker's defaults
 * `nosuid,nodev,noexec`, which the options may override (`exec`).
 */
export function parseTmpfs(input: string): {
  destination: string;
  type: "tmpfs";
  source: "tmpfs";
  options: string[];
} {
  const colon = input.indexOf(":");
  const destination = colon < 0 ? input : input.slice(0, colon);
  const given = colon < 0 || colon === input.length - 1 ? [] : input.slice(colon + 1).split(",");
  if (!destination.startsWith("/") || destination === "/" || destination.split("/").includes("..")) {
    throw new ContainerError(
      "INVALID_OPTION",
      `--tmpfs '${input}': the container path must be absolute, not '/', and without '..' (e.g. --tmpfs /run:size=64m)`,
    );
  }
  for (const option of given) {
    if (!TMPFS_FLAGS.has(option) && !TMPFS_DATA.test(option)) {
      throw new ContainerError(
        "INVALID_OPTION",
        `--tmpfs '${input}': option '${option}' is not supported (rw, ro, [no]exec, [no]suid, [no]dev, size=, mode=, uid=, gid=, nr_inodes=)`,
      );
    }
  }
  return { destination, type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "noexec", ...given] };
}

/** One `--mount` as a mount of the container: a bind (existing host path) or a tmpfs. */
export type ParsedMount =
  | { type: "bind"; source: string; destination: string; readOnly: boolean; propagation?: string }
  | { type: "tmpfs"; destination: string; options: string[] };

const BIND_PROPAGATION = new Set(["private", "rprivate", "shared", "rshared", "slave", "rslave"]);

/** Splits docker's CSV `--mount` value: commas separate fields, except inside double quotes. */
function mountFields(input: string): string[] {
  const fields: string[] = [];
  let cur = "";
  let quoted = false;
  for (const ch of input) {
    if (ch === '"') quoted = !quoted;
    else if (ch === "," && !quoted) {
      fields.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (quoted) throw new ContainerError("INVALID_OPTION", `--mount '${input}': unbalanced double quote`);
  fields.push(cur);
  return fields;
}

function mountBool(input: string, key: string, value: string | undefined): boolean {
  if (value === undefined || value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw new ContainerError(
    "INVALID_OPTION",
    `--mount '${input}': ${key}=${value} is not true, false, 1 or 0`,
  );
}

/**
 * Docker's `--mount type=bind|tmpfs,…`: `source`/`src`, `target`/`destination`/`dst`,
 * `readonly`/`ro`[=true|false], `bind-propagation`, `tmpfs-size` (bytes or 64m), `tmpfs-mode` (octal).
 * As docker, the type defaults to `volume`, which strata does not have (no named volumes): say
 * `type=bind` with a host path. As docker's `--mount` (unlike `-v`), a bind source must exist.
 */
export function parseMount(input: string): ParsedMount {
  const bad = (why: string) => new ContainerError("INVALID_OPTION", `--mount '${input}': ${why}`);
  const kv = new Map<string, string | undefined>();
  for (const field of mountFields(input)) {
    if (field === "") continue;
    const eq = field.indexOf("=");
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    const canonical =
      key === "src"
        ? "source"
        : key === "dst" || key === "destination"
          ? "target"
          : key === "ro"
            ? "readonly"
            : key;
    if (kv.has(canonical)) throw bad(`${key} is given twice`);
    kv.set(canonical, value);
  }
  const type = kv.get("type") ?? "volume";
  const target = kv.get("target");
  if (target === undefined || target === "") throw bad("target= is required (the path in the container)");
  if (!target.startsWith("/") || target === "/" || target.split("/").includes("..")) {
    throw bad("the target must be absolute, not '/', and without '..'");
  }
  const readOnly = kv.has("readonly") ? mountBool(input, "readonly", kv.get("readonly")) : false;
  const allowed = (keys: string[]) => {
    for (const key of kv.keys()) {
      if (!keys.includes(key) && key !== "consistency") throw bad(`'${key}' is not a ${type} mount option`);
    }
  };
  if (type === "bind") {
    allowed(["type", "source", "target", "readonly", "bind-propagation"]);
    const source = kv.get("source");
    if (source === undefined || !source.startsWith("/")) {
      throw bad("a bind mount needs source= with an absolute host path");
    }
    const propagation = kv.get("bind-propagation");
    if (propagation !== undefined && !BIND_PROPAGATION.has(propagation)) {
      throw bad(`bind-propagation=${propagation} is not one of ${[...BIND_PROPAGATION].join(", ")}`);
    }
    return { type, source, destination: target, readOnly, ...(propagation ? { propagation } : {}) };
  }
  if (type === "tmpfs") {
    allowed(["type", "target", "readonly", "tmpfs-size", "tmpfs-mode"]);
    const options = ["nosuid", "nodev", "noexec"];
    if (readOnly) options.push("ro");
    const size = kv.get("tmpfs-size");
    if (size !== undefined) {
      if (!/^[0-9]+[kmgKMG]?$/.test(size)) throw bad(`tmpfs-size=${size} is not bytes or a size like 64m`);
      options.push(`size=${size.toLowerCase()}`);
    }
    const mode = kv.get("tmpfs-mode");
    if (mode !== undefined) {
      if (!/^[0-7]{1,4}$/.test(mode)) throw bad(`tmpfs-mode=${mode} is not an octal mode like 1770`);
      options.push(`mode=${mode}`);
    }
    return { type, destination: target, options };
  }
  if (type === "volume") {
    throw bad("named volumes are not supported; use type=bind,source=/host/path (or -v /host/path:…)");
  }
  throw bad(`type=${type} is not supported (bind or tmpfs)`);
}

/** One `--add-host`: a name and an address, or `host-gateway` (the bridge's gateway address). */
export interface AddedHost {
  name: string;
  address: string | "host-gateway";
}

/**
 * Docker's `--add-host NAME:ADDRESS` (also `NAME=ADDRESS`, as docker 25+): an `/etc/hosts` line.
 * The name ends at the first `=` (or else the first `:`), so IPv6 addresses need no brackets
 * (`db:::1`); `[::1]` is accepted too. `host-gateway` stands for the bridge's gateway address.
 */
export function parseAddHost(input: string): AddedHost {
  const eq = input.indexOf("=");
  const sep = eq >= 0 ? eq : input.indexOf(":");
  const name = sep < 0 ? "" : input.slice(0, sep);
  let address = sep < 0 ? "" : input.slice(sep + 1);
  if (address.startsWith("[") && address.endsWith("]")) address = address.slice(1, -1);
  if (!/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(name) || name.length > 253) {
    throw new ContainerError(
      "INVALID_OPTION",
      `--add-host '${input}': '${name}' is not a host name (use NAME:ADDRESS, e.g. --add-host db:10.0.0.5)`,
    );
  }
  if (address !== "host-gateway" && isIP(address) === 0) {
    throw new ContainerError(
      "INVALID_OPTION",
      `--add-host '${input}': '${address}' is not an IPv4 or IPv6 address (or host-gateway)`,
    );
  }
  return { name, address };
}

/**
 * A signal as `docker kill -s` takes it: `KILL`, `SIGKILL`, `kill` or `9` → `SIGKILL`. INVALID_OPTION
 * for a name or number this system does not know.
 */
export function parseSignal(input: string): NodeJS.Signals {
  const names = osConstants.signals as Record<string, number>;
  if (/^[0-9]+$/.test(input)) {
    const n = Number(input);
    const name = Object.keys(names).find((k) => names[k] === n);
    if (name !== undefined) return name as NodeJS.Signals;
  } else {
    const upper = input.toUpperCase();
    const name = upper.startsWith("SIG") ? upper : `SIG${upper}`;
    if (names[name] !== undefined) return name as NodeJS.Signals;
  }
  throw new ContainerError("INVALID_OPTION", `'${input}' is not a signal (e.g. KILL, TERM, HUP, USR1 or 9)`);
}
