import { CgroupError } from "./errors.js";

/** "max" (or -1) means no limit, as the kernel files and Docker's flags say. */
export type LimitValue = number | "max";

/** Resource limits of one group; a field left out is not written. */
export interface CgroupLimits {
  /** Most tasks (processes + threads) at once: `pids.max`. A positive integer, or "max"/-1. */
  pids?: LimitValue;
  memory?: {
    /** Bytes of memory: v1 `memory.limit_in_bytes`, v2 `memory.max`. */
    limit?: LimitValue;
    /**
     * Memory + swap in bytes, like Docker `--memory-swap` and OCI `memory.swap` ("max"/-1: unlimited
     * swap). v1 writes it to `memory.memsw.limit_in_bytes`; v2 writes `swap - limit` to `memory.swap.max`.
     */
    swap?: LimitValue;
  };
  cpu?: {
    /** µs of CPU time per period ("max"/-1: no quota). See `cpusToQuota` for Docker's `--cpus`. */
    quota?: LimitValue;
    /** Period in µs, 1000..1000000 (kernel default 100000). */
    period?: number;
    /** Relative weight on the v1 scale, 2..262144 (default 1024); converted for v2. */
    shares?: number;
    /** Relative weight on the v2 scale, 1..10000 (default 100); converted for v1. */
    weight?: number;
  };
}

/** Docker's default CFS period (100 ms) used by `--cpus`. */
export const DEFAULT_CPU_PERIOD = 100_000;

function invalid(message: string): CgroupError {
  return new CgroupError("INVALID_LIMIT", message);
}

/** Docker `--cpus=1.5` → `{ quota: 150000, period: 100000 }` (quota = cpus × period). */
export function cpusToQuota(cpus: number, period = DEFAULT_CPU_PERIOD): { quota: number; period: number } {
  if (!Number.isFinite(cpus) || cpus <= 0) {
    throw invalid(`--cpus must be a positive number of CPUs (got ${cpus}), e.g. 0.5 or 2`);
  }
  const quota = Math.round(cpus * period);
  if (quota < 1000) {
    throw invalid(`--cpus=${cpus} gives a quota of ${quota}µs per ${period}µs; the kernel minimum is 1000µs`);
  }
  return { quota, period };
}

/**
 * cgroup v1 `cpu.shares` [2..262144] → v2 `cpu.weight` [1..10000], with runc's current log-quadratic
 * fit: 2 → 1, 1024 → 100, 262144 → 10000 (the defaults and both ends map exactly).
 */
export function sharesToWeight(shares: number): number {
  if (shares <= 2) return 1;
  if (shares >= 262_144) return 10_000;
  const l = Math.log2(shares);
  const exponent = (l * l + 125 * l) / 612 - 7 / 34;
  return Math.ceil(10 ** exponent);
}

/** The inverse of `sharesToWeight` (solves the same curve for log2(shares)), for weights on v1. */
export function weightToShares(weight: number): number {
  if (weight <= 1) return 2;
  if (weight >= 10_000) return 262_144;
  const e = Math.log10(weight);
  const l = (-125 + Math.sqrt(125 * 125 + 4 * 612 * (e + 7 / 34))) / 2;
  // sharesToWeight rounds up, so step to a shares value that maps back to exactly `weight`.
  let shares = Math.round(2 ** l);
  while (shares > 2 && sharesToWeight(shares) > weight) shares--;
  while (shares < 262_144 && sharesToWeight(shares) < weight) shares++;
  return shares;
}

/** A normalised value: a non-negative integer, or "max". */
export type Normalized = number | "max";

function normalize(name: string, value: LimitValue, min: number, max = Number.MAX_SAFE_INTEGER): Normalized {
  if (value === "max" || value === -1) return "max";
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in ${min}..${max}`;
    throw invalid(`${name} must be ${range}, or "max"/-1 for no limit (got ${JSON.stringify(value)})`);
  }
  return value;
}

function integerIn(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`${name} must be an integer in ${min}..${max} (got ${JSON.stringify(value)})`);
  }
  return value;
}

/** Validated limits, independent of the cgroup version. */
export interface ResolvedLimits {
  pids?: Normalized;
  memory?: { limit?: Normalized; swap?: Normalized };
  cpu?: { quota?: Normalized; period?: number; shares?: number; weight?: number };
}

/** Check ranges and combinations; throws INVALID_LIMIT with the offending field. */
export function resolveLimits(limits: CgroupLimits): ResolvedLimits {
  const out: ResolvedLimits = {};
  if (limits.pids !== undefined) {
    if (limits.pids === 0) {
      throw invalid(`pids limit 0 would stop every fork; use a positive count, or "max"/-1 for no limit`);
    }
    out.pids = normalize("pids limit", limits.pids, 1);
  }
  if (limits.memory) {
    const memory: NonNullable<ResolvedLimits["memory"]> = {};
    if (limits.memory.limit !== undefined) memory.limit = normalize("memory limit", limits.memory.limit, 1);
    if (limits.memory.swap !== undefined) memory.swap = normalize("memory+swap limit", limits.memory.swap, 1);
    if (memory.swap !== undefined && memory.swap !== "max") {
      if (memory.limit === undefined || memory.limit === "max") {
        throw invalid("a memory+swap limit needs a memory limit too (Docker: --memory-swap needs --memory)");
      }
      if (memory.swap < memory.limit) {
        throw invalid(
          `memory+swap limit (${memory.swap}) must be ≥ the memory limit (${memory.limit}): it counts memory plus swap`,
        );
      }
    }
    out.memory = memory;
  }
  if (limits.cpu) {
    const cpu: NonNullable<ResolvedLimits["cpu"]> = {};
    if (limits.cpu.quota !== undefined) cpu.quota = normalize("cpu quota (µs)", limits.cpu.quota, 1000);
    if (limits.cpu.period !== undefined)
      cpu.period = integerIn("cpu period (µs)", limits.cpu.period, 1000, 1_000_000);
    if (limits.cpu.shares !== undefined && limits.cpu.weight !== undefined) {
      throw invalid("give cpu shares (v1 scale) or cpu weight (v2 scale), not both");
    }
    if (limits.cpu.shares !== undefined) cpu.shares = integerIn("cpu shares", limits.cpu.shares, 2, 262_144);
    if (limits.cpu.weight !== undefined) cpu.weight = integerIn("cpu weight", limits.cpu.weight, 1, 10_000);
    out.cpu = cpu;
  }
  return out;
}

/** One control-file write: `controller` is the v1 hierarchy (ignored on v2), `file` the name. */
export interface LimitWrite {
  controller: "pids" | "memory" | "cpu";
  file: string;
  value: string;
  /** Implied rather than asked for (unlimited swap after unlimited memory): skipped if the file is absent. */
  optional?: boolean;
}

const v1Value = (v: Normalized): string => (v === "max" ? "-1" : String(v));

/**
 * The writes for cgroup v1, in order. `currentMemoryLimit` (bytes, from memory.limit_in_bytes) decides
 * whether memsw goes first: the kernel insists memsw ≥ memory at every moment.
 */
export function planV1Writes(limits: ResolvedLimits, currentMemoryLimit?: number): LimitWrite[] {
  const writes: LimitWrite[] = [];
  if (limits.pids !== undefined)
    writes.push({ controller: "pids", file: "pids.max", value: String(limits.pids) });
  const memory = limits.memory;
  if (memory) {
    const limit = memory.limit;
    // Like runc: unlimited memory with swap left out means unlimited swap too.
    const swap = memory.swap ?? (limit === "max" ? "max" : undefined);
    const memWrite =
      limit === undefined
        ? []
        : [{ controller: "memory" as const, file: "memory.limit_in_bytes", value: v1Value(limit) }];
    const swapWrite: LimitWrite[] =
      swap === undefined
        ? []
        : [
            {
              controller: "memory",
              file: "memory.memsw.limit_in_bytes",
              value: v1Value(swap),
              ...(memory.swap === undefined ? { optional: true } : {}),
            },
          ];
    const swapFirst =
      swap !== undefined &&
      (swap === "max" || (currentMemoryLimit !== undefined && currentMemoryLimit < swap));
    writes.push(...(swapFirst ? [...swapWrite, ...memWrite] : [...memWrite, ...swapWrite]));
  }
  const cpu = limits.cpu;
  if (cpu) {
    if (cpu.period !== undefined)
      writes.push({ controller: "cpu", file: "cpu.cfs_period_us", value: String(cpu.period) });
    if (cpu.quota !== undefined)
      writes.push({ controller: "cpu", file: "cpu.cfs_quota_us", value: v1Value(cpu.quota) });
    const shares = cpu.shares ?? (cpu.weight === undefined ? undefined : weightToShares(cpu.weight));
    if (shares !== undefined) writes.push({ controller: "cpu", file: "cpu.shares", value: String(shares) });
  }
  return writes;
}

/** The writes for cgroup v2, in order. */
export function planV2Writes(limits: ResolvedLimits): LimitWrite[] {
  const writes: LimitWrite[] = [];
  if (limits.pids !== undefined)
    writes.push({ controller: "pids", file: "pids.max", value: String(limits.pids) });
  const memory = limits.memory;
  if (memory) {
    if (memory.limit !== undefined)
      writes.push({ controller: "memory", file: "memory.max", value: String(memory.limit) });
    const swap = memory.swap ?? (memory.limit === "max" ? "max" : undefined);
    if (swap !== undefined) {
      // v2 counts swap alone; resolveLimits guaranteed a numeric limit ≤ swap when swap is numeric.
      const swapOnly = swap === "max" ? "max" : String(swap - (memory.limit as number));
      writes.push({
        controller: "memory",
        file: "memory.swap.max",
        value: swapOnly,
        ...(memory.swap === undefined ? { optional: true } : {}),
      });
    }
  }
  const cpu = limits.cpu;
  if (cpu) {
    if (cpu.quota !== undefined || cpu.period !== undefined) {
      // "max" alone keeps the current period; a period alone keeps no quota ("max <period>").
      const quota = cpu.quota === undefined ? "max" : String(cpu.quota);
      writes.push({
        controller: "cpu",
        file: "cpu.max",
        value: cpu.period === undefined ? quota : `${quota} ${cpu.period}`,
      });
    }
    const weight = cpu.weight ?? (cpu.shares === undefined ? undefined : sharesToWeight(cpu.shares));
    if (weight !== undefined) writes.push({ controller: "cpu", file: "cpu.weight", value: String(weight) });
  }
  return writes;
}
