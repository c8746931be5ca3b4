import type { ContainerProcess, ContainerRuntime, ContainerSummary } from "@strata/container";
import type { PortMapping } from "@strata/network";
import { UsageError } from "../errors.js";
import { humanDuration, table } from "../format.js";

/** docker's PORTS column: `0.0.0.0:8080->80/tcp`. */
export function formatPorts(ports: readonly PortMapping[]): string {
  return ports
    .map((p) => `${p.hostIp ?? "0.0.0.0"}:${p.hostPort}->${p.containerPort}/${p.protocol}`)
    .join(", ");
}

/** docker's STATUS column. */
export function statusText(c: ContainerSummary, now = Date.now()): string {
  if (c.status === "running") {
    return `Up ${humanDuration(now - Date.parse(c.startedAt ?? c.created))}`;
  }
  if (c.status === "created") return "Created";
  const ago = c.finishedAt ? ` ${humanDuration(now - Date.parse(c.finishedAt))} ago` : "";
  return `Exited (${c.exitCode ?? 0})${ago}`;
}

/** docker quotes the command and cuts it to 20 characters (with an ellipsis) unless --no-trunc. */
export function commandText(command: string, noTrunc: boolean): string {
  const cut = noTrunc || command.length <= 20 ? command : `${command.slice(0, 19)}…`;
  return `"${cut}"`;
}

export interface PsOptions {
  all?: boolean;
  noTrunc?: boolean;
  format?: string;
  quiet?: boolean;
}

/** `strata ps [-a] [-q] [--no-trunc] [--format json]`. */
export async function psCommand(
  runtime: ContainerRuntime,
  options: PsOptions,
  now = Date.now(),
): Promise<string> {
  if (options.format !== undefined && options.format !== "json" && options.format !== "table") {
    throw new UsageError(`--format must be 'table' or 'json' (got '${options.format}')`);
  }
  const list = (await runtime.list({ all: options.all === true })).reverse(); // newest first, as docker
  const noTrunc = options.noTrunc === true;
  if (options.quiet) return list.map((c) => `${noTrunc ? c.id : c.id.slice(0, 12)}\n`).join("");
  const rows = await Promise.all(
    list.map(async (c) => {
      const state = await runtime.inspect(c.id).catch(() => undefined);
      const ports = (state?.network?.data?.ports as PortMapping[] | undefined) ?? [];
      const created = `${humanDuration(now - Date.parse(c.created))} ago`;
      return {
        ID: noTrunc ? c.id : c.id.slice(0, 12),
        Image: c.image,
        Command: commandText(c.command, noTrunc),
        CreatedAt: c.created,
        RunningFor: created,
        Status: statusText(c, now),
        State: c.status,
        Ports: formatPorts(ports),
        Names: c.name,
        Networks: state?.network?.mode ?? "",
      };
    }),
  );
  if (options.format === "json") return rows.map((r) => `${JSON.stringify(r)}\n`).join("");
  return table([
    ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"],
    ...rows.map((r) => [r.ID, r.Image, r.Command, r.RunningFor, r.Status, r.Ports, r.Names]),
  ]);
}

/** Runs `action` for each ref; prints the ref on success (docker's habit), reports the others. */
export async function eachContainer(
  refs: string[],
  action: (ref: string) => Promise<unknown>,
  out: (s: string) => void,
  report: (error: unknown) => void,
): Promise<boolean> {
  let ok = true;
  for (const ref of refs) {
    try {
      await action(ref);
      out(`${ref}\n`);
    } catch (error) {
      ok = false;
      report(error);
    }
  }
  return ok;
}

/** `strata gc`: containers whose owner died, orphan layers/cgroups/names and the bridge's leftovers. */
export async function gcCommand(runtime: ContainerRuntime): Promise<string> {
  const containers = await runtime.gc();
  const lines: string[] = [];
  for (const id of containers.cleaned) lines.push(`cleaned container ${id.slice(0, 12)}`);
  for (const id of containers.removed) lines.push(`removed container ${id.slice(0, 12)}`);
  for (const what of containers.orphans) lines.push(`removed ${what}`);
  lines.push(lines.length === 0 ? "nothing to clean up" : `cleaned up ${lines.length} item(s)`);
  return `${lines.join("\n")}\n`;
}

/**
 * `docker port CONTAINER [PORT[/PROTO]]`: `80/tcp -> 127.0.0.1:8080`, one line per published port (only
 * those of PORT when given). An unpublished PORT is an error, as with docker.
 */
export function portLines(ports: readonly PortMapping[], filter?: string): string {
  let wanted = ports;
  if (filter !== undefined) {
    const [port, proto = "tcp"] = filter.split("/");
    wanted = ports.filter((p) => String(p.containerPort) === port && p.protocol === proto);
    if (wanted.length === 0) {
      throw new UsageError(`no public port '${port}/${proto}' published for this container`);
    }
  }
  return wanted
    .map(
      (p) =>
        `${filter === undefined ? `${p.containerPort}/${p.protocol} -> ` : ""}${p.hostIp ?? "0.0.0.0"}:${p.hostPort}\n`,
    )
    .join("");
}

/** `docker top`'s table: `UID PID PPID TIME CMD`, TIME as hh:mm:ss of CPU time. */
export function topTable(processes: readonly ContainerProcess[]): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  const time = (seconds: number) => {
    const t = Math.floor(seconds);
    return `${pad(Math.floor(t / 3600))}:${pad(Math.floor(t / 60) % 60)}:${pad(t % 60)}`;
  };
  return table([
    ["UID", "PID", "PPID", "TIME", "CMD"],
    ...processes.map((p) => [String(p.uid), String(p.pid), String(p.ppid), time(p.cpuSeconds), p.command]),
  ]);
}

/**
 * `docker container prune`: every exited container (a "created" one is being started by a detached
 * run right now). Prints their ids and the count; false when one could not be removed (reported).
 */
export async function containerPruneCommand(
  runtime: ContainerRuntime,
  write: (s: string) => void,
  report: (error: unknown) => void,
): Promise<boolean> {
  const exited = (await runtime.list({ all: true })).filter((c) => c.status === "exited");
  const removed: string[] = [];
  let ok = true;
  for (const c of exited) {
    try {
      await runtime.remove(c.id);
      removed.push(c.id);
    } catch (e) {
      ok = false;
      report(e);
    }
  }
  if (removed.length > 0) write(`Deleted Containers:\n${removed.map((id) => `${id}\n`).join("")}\n`);
  write(`Total reclaimed containers: ${removed.length}\n`);
  return ok;
}
