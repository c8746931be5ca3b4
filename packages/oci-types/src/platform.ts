import { endianness } from "node:os";
import { InvalidPlatformError, NoMatchingPlatformError } from "./errors.js";
import { isIndexMediaType, isManifestMediaType } from "./media-types.js";
import type { Descriptor, Platform } from "./schemas.js";

/** Go's known GOOS values (containerd `database.go`), for single-component specifiers. */
const KNOWN_OS = new Set([
  "aix",
  "android",
  "darwin",
  "dragonfly",
  "freebsd",
  "hurd",
  "illumos",
  "ios",
  "js",
  "linux",
  "nacl",
  "netbsd",
  "openbsd",
  "plan9",
  "solaris",
  "wasip1",
  "windows",
  "zos",
]);
const KNOWN_ARCH = new Set([
  "386",
  "amd64",
  "amd64p32",
  "arm",
  "armbe",
  "arm64",
  "arm64be",
  "ppc64",
  "ppc64le",
  "loong64",
  "mips",
  "mipsle",
  "mips64",
  "mips64le",
  "mips64p32",
  "mips64p32le",
  "ppc",
  "riscv",
  "riscv64",
  "s390",
  "s390x",
  "sparc",
  "sparc64",
  "wasm",
]);
const COMPONENT = /^[A-Za-z0-9_.-]+$/;

function normalizeOs(os: string): string {
  const lower = os.toLowerCase();
  return lower === "macos" ? "darwin" : lower;
}

/** containerd's `normalizeArch`, with the newer arm64 `v8.0`/`v9.0` spellings. */
function normalizeArch(architecture: string, variant: string): { architecture: string; variant: string } {
  let arch = architecture.toLowerCase();
  let v = variant.toLowerCase();
  switch (arch) {
    case "i386":
      arch = "386";
      v = "";
      break;
    case "x86_64":
    case "x86-64":
    case "amd64":
      arch = "amd64";
      if (v === "v1") v = "";
      break;
    case "aarch64":
    case "arm64":
      arch = "arm64";
      if (v === "8" || v === "v8" || v === "v8.0") v = "";
      else if (v === "9" || v === "9.0" || v === "v9.0") v = "v9";
      break;
    case "armhf":
      arch = "arm";
      v = "v7";
      break;
    case "armel":
      arch = "arm";
      v = "v6";
      break;
    case "arm":
      if (v === "" || v === "7") v = "v7";
      else if (v === "5" || v === "6" || v === "8") v = `v${v}`;
      break;
  }
  return { architecture: arch, variant: v };
}

/**
 * The canonical form of a platform (containerd `Normalize`): `x86_64` → `amd64`, `aarch64` →
 * `arm64`, arm64 `v8` → no variant, `armhf` → `arm/v7`, `armel` → `arm/v6`, bare `arm` → `arm/v7`,
 * `macos` → `darwin`; `os.features` sorted and de-duplicated. Other fields are kept.
 */
export function normalizePlatform<P extends Platform>(p: P): P {
  const { architecture, variant } = normalizeArch(p.architecture, p.variant ?? "");
  const out: P = { ...p, os: normalizeOs(p.os), architecture };
  if (variant) out.variant = variant;
  else delete out.variant;
  const features = p["os.features"];
  if (features?.length) out["os.features"] = [...new Set(features)].sort();
  return out;
}

/**
 * Parse `os/arch[/variant]` (or a lone known OS or architecture; the other half is the host's)
 * and normalise it. Throws {@link InvalidPlatformError}.
 */
export function parsePlatform(specifier: string): Platform {
  if (typeof specifier !== "string" || specifier.length === 0) {
    throw new InvalidPlatformError(String(specifier ?? ""), "it is empty");
  }
  const parts = specifier.split("/");
  if (parts.length > 3) throw new InvalidPlatformError(specifier, "it has more than three components");
  for (const part of parts) {
    if (!COMPONENT.test(part)) {
      throw new InvalidPlatformError(
        specifier,
        part
          ? `component ${JSON.stringify(part)} has characters other than letters, digits, "_", "." and "-"`
          : "a component is empty",
      );
    }
  }
  const [first = "", arch, variant] = parts;
  if (arch === undefined) {
    const host = hostPlatform();
    const os = normalizeOs(first);
    if (KNOWN_OS.has(os)) return normalizePlatform({ ...host, os });
    const norm = normalizeArch(first, "");
    if (KNOWN_ARCH.has(norm.architecture)) return normalizePlatform({ os: host.os, architecture: first });
    throw new InvalidPlatformError(
      specifier,
      "it is neither a known operating system nor a known architecture",
    );
  }
  return normalizePlatform(
    variant === undefined ? { os: first, architecture: arch } : { os: first, architecture: arch, variant },
  );
}

/** `os/arch[/variant]`; normalises first (so `linux/aarch64/v8` formats as `linux/arm64`). */
export function formatPlatform(p: Platform): string {
  const n = normalizePlatform(p);
  return n.variant ? `${n.os}/${n.architecture}/${n.variant}` : `${n.os}/${n.architecture}`;
}

export interface HostInfo {
  /** `process.platform`. */
  platform?: NodeJS.Platform;
  /** `process.arch`. */
  arch?: NodeJS.Architecture | string;
  /** ARM version for 32-bit arm (`process.config.variables.arm_version`). */
  armVersion?: string | number;
  /** `os.endianness()`, for ppc64 vs ppc64le. */
  endianness?: "BE" | "LE";
}

const NODE_OS: Record<string, string> = { win32: "windows", sunos: "solaris", cygwin: "windows" };
const NODE_ARCH: Record<string, string> = { x64: "amd64", ia32: "386", x32: "amd64p32" };

/**
 * The platform this process runs on, normalised. Node names are mapped to Go's (`x64` → `amd64`,
 * `ia32` → `386`, `win32` → `windows`). arm64 hosts get no variant (v8, the baseline); 32-bit arm
 * uses Node's build ARM version. Pass `info` to compute it for another host.
 */
export function hostPlatform(info: HostInfo = {}): Platform {
  const nodeOs = info.platform ?? process.platform;
  const nodeArch = info.arch ?? process.arch;
  const os = NODE_OS[nodeOs] ?? nodeOs;
  let architecture = NODE_ARCH[nodeArch] ?? nodeArch;
  let variant = "";
  if (architecture === "ppc64" && (info.endianness ?? endianness()) === "LE") architecture = "ppc64le";
  if (architecture === "arm") {
    const v =
      info.armVersion ??
      (process.config?.variables as Record<string, unknown> | undefined)?.arm_version ??
      "7";
    variant = `v${String(v)}`;
  }
  return normalizePlatform(variant ? { os, architecture, variant } : { os, architecture });
}

/**
 * Platforms compatible with `want`, best first (containerd `platformVector`): arm64/v8.x also
 * runs lower v8 minors then arm/v8…v5; arm/vN runs lower arm versions down to v5; amd64/vN runs
 * lower amd64 levels then 386.
 */
export function compatiblePlatforms(want: Platform): Platform[] {
  const p = normalizePlatform(want);
  const extras: Pick<Platform, "os.version" | "os.features"> = {};
  if (p["os.version"] !== undefined) extras["os.version"] = p["os.version"];
  if (p["os.features"] !== undefined) extras["os.features"] = p["os.features"];
  const mk = (architecture: string, variant = ""): Platform =>
    normalizePlatform({ os: p.os, architecture, ...(variant ? { variant } : {}), ...extras });
  const out: Platform[] = [p];
  const variant = p.variant ?? "";
  switch (p.architecture) {
    case "amd64": {
      const level = Number.parseInt(variant.replace(/^v/, ""), 10);
      if (/^v?\d+$/.test(variant) && level > 1)
        for (let l = level - 1; l >= 1; l--) out.push(mk("amd64", `v${l}`));
      out.push(mk("386"));
      break;
    }
    case "arm":
      out.push(...lowerArm(variant).map((v) => mk("arm", v)));
      break;
    case "arm64": {
      const full = variant || "v8";
      const m = /^v(\d+)(?:\.(\d+))?$/.exec(full);
      if (m) {
        let major = Number(m[1]);
        let minor = m[2] === undefined ? 0 : Number(m[2]);
        if (major >= 8) {
          if (major === 9) {
            for (let n = minor - 1; n >= 0; n--) out.push(mk("arm64", n === 0 ? "v9" : `v9.${n}`));
            // v9.0 diverged from v8.5: v9.x runs v8.(x+5) and below.
            minor += 5;
            major = 8;
            out.push(mk("arm64", `v8.${minor}`));
          }
          if (major === 8)
            for (let n = minor - 1; n >= 0; n--) out.push(mk("arm64", n === 0 ? "v8" : `v8.${n}`));
        }
      }
      // Every arm64 CPU variant runs 32-bit arm/v8 and below.
      out.push(mk("arm", "v8"), ...lowerArm("v8").map((v) => mk("arm", v)));
      break;
    }
  }
  return out;
}

function lowerArm(variant: string): string[] {
  const n = /^v(\d+)$/.exec(variant);
  const out: string[] = [];
  if (n) for (let v = Number(n[1]) - 1; v >= 5; v--) out.push(`v${v}`);
  return out;
}

/**
 * Does `candidate` satisfy `want` exactly (after normalisation)? os, architecture and variant must
 * be equal; every `os.features` entry the candidate requires must be in `want`'s. `os.version` is
 * not compared (it only matters for Windows, which strata does not run).
 */
export function platformMatches(want: Platform, candidate: Platform): boolean {
  const w = normalizePlatform(want);
  const c = normalizePlatform(candidate);
  if (w.os !== c.os || w.architecture !== c.architecture || (w.variant ?? "") !== (c.variant ?? ""))
    return false;
  const have = new Set(w["os.features"] ?? []);
  return (c["os.features"] ?? []).every((f) => have.has(f));
}

/** BuildKit attestation manifests: `unknown/unknown`, or annotated as attestations. */
export function isAttestationDescriptor(d: Descriptor): boolean {
  if (d.annotations?.["vnd.docker.reference.type"] === "attestation-manifest") return true;
  return d.platform?.os === "unknown" && d.platform?.architecture === "unknown";
}

/** Entries that can be run: known manifest/index media types, not attestations. */
function runnable(manifests: readonly Descriptor[]): Descriptor[] {
  return manifests.filter(
    (d) => (isManifestMediaType(d.mediaType) || isIndexMediaType(d.mediaType)) && !isAttestationDescriptor(d),
  );
}

/**
 * Pick the manifest for `want` (default: the host) from an index or manifest list, with
 * containerd's preference order ({@link compatiblePlatforms}); among equals the first listed wins.
 * Attestation (`unknown/unknown`) and unknown-media-type entries are skipped. An entry with no
 * `platform` is used only when nothing else matches. Throws {@link NoMatchingPlatformError}
 * listing the platforms available.
 */
export function selectManifest(
  index: { manifests: readonly Descriptor[] },
  want: Platform | string = hostPlatform(),
): Descriptor {
  const target = typeof want === "string" ? parsePlatform(want) : normalizePlatform(want);
  const candidates = runnable(index.manifests);
  for (const p of compatiblePlatforms(target)) {
    const hit = candidates.find((d) => d.platform !== undefined && platformMatches(p, d.platform));
    if (hit) return hit;
  }
  const unplatformed = candidates.find((d) => d.platform === undefined);
  if (unplatformed) return unplatformed;
  const available = [
    ...new Set(candidates.map((d) => (d.platform ? formatPlatform(d.platform) : "(unspecified)"))),
  ];
  throw new NoMatchingPlatformError(formatPlatform(target), available);
}
