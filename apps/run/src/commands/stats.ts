import { totalmem } from "node:os";
import type { ContainerRuntime, ContainerStats } from "@strata/container";
import { bytesSize, humanSize, table } from "../format.js";

/** One row of `docker stats`, with docker's `--format json` keys. */
export interface StatsRow {
  Container: string;
  Name: string;
  CPUPerc: string;
  MemUsage: string;
  MemPerc: string;
  NetIO: string;
  PIDs: string;
}

const pct = (x: number) => `${x.toFixed(2)}%`;

/** The row for a container from two samples `seconds` apart (CPU % is over that interval, as docker's). */
export function statsRow(before: ContainerStats, after: ContainerStats, seconds: number): StatsRow {
  const cpu = seconds > 0 ? ((after.cpuSeconds - before.cpuSeconds) / seconds) * 100 : 0;
  const mem = after.memory;
  const limit = mem === undefined ? 0 : mem.limit === "max" ? totalmem() : Math.min(mem.limit, totalmem());
  return {
    Container: after.id.slice(0, 12),
    Name: after.name,
    CPUPerc: pct(Math.max(0, cpu)),
    MemUsage: mem ? `${bytesSize(mem.usage)} / ${bytesSize(limit)}` : "--",
    MemPerc: mem && limit > 0 ? pct((mem.usage / limit) * 100) : "--",
    NetIO: after.net ? `${humanSize(after.net.rxBytes)} / ${humanSize(after.net.txBytes)}` : "--",
    PIDs: after.pids ? String(after.pids.current) : "--",
  };
}

export function renderStats(rows: StatsRow[], format?: string): string {
  if (format === "json") return rows.map((r) => `${JSON.stringify(r)}\n`).join("");
  return table([
    ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "PIDS"],
    ...rows.map((r) => [r.Container, r.Name, r.CPUPerc, r.MemUsage, r.MemPerc, r.NetIO, r.PIDs]),
  ]);
}

/** Every named container (or every running one) sampled twice, `intervalMs` apart. */
export async function sampleStats(
  runtime: ContainerRuntime,
  refs: string[],
  intervalMs: number,
): Promise<StatsRow[]> {
  const targets = refs.length > 0 ? refs : (await runtime.list()).map((c) => c.id);
  const first = await Promise.all(targets.map((ref) => runtime.stats(ref)));
  const started = performance.now();
  await new Promise((r) => setTimeout(r, intervalMs));
  const rows: StatsRow[] = [];
  for (const [i, ref] of targets.entries()) {
    // a container that stopped meanwhile drops out, as in docker's stream
    const after = await runtime.stats(ref).catch(() => undefined);
    if (after) rows.push(statsRow(first[i] as ContainerStats, after, (performance.now() - started) / 1000));
  }
  return rows;
}
