import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { access } from "node:fs/promises";
import { constants } from "node:os";
import type { ContainerRuntime } from "@strata/container";
import {
  addNetns,
  deleteNetns,
  execCommand,
  explainNetns,
  listNetns,
  NetnsError,
  netnsPath,
} from "@strata/netns";
import type { BridgeNetwork } from "@strata/network";
import { UsageError } from "../errors.js";
import type { Explainer } from "../explain.js";
import { table } from "../format.js";

function checkFormat(format: string | undefined): void {
  if (format !== undefined && format !== "json" && format !== "table") {
    throw new UsageError(`--format must be 'table' or 'json' (got '${format}')`);
  }
}

/** `strata netns add NAME`: as `ip netns add` (same /run/netns, so `ip netns` sees it). */
export async function netnsAdd(name: string, x?: Explainer): Promise<void> {
  x?.explain?.("netns", explainNetns.add(name));
  if (!x?.dryRun) await addNetns(name);
  x?.finish();
}

/** `strata netns ls`: names, one per line, as `ip netns list` (without ids). */
export async function netnsList(format?: string): Promise<string> {
  checkFormat(format);
  const entries = await listNetns();
  if (format === "json")
    return `${JSON.stringify(entries.map((e) => ({ name: e.name, path: e.path, active: e.active })))}\n`;
  return entries.map((e) => `${e.name}${e.active ? "" : " (not mounted)"}\n`).join("");
}

/** `strata netns rm NAME…`: as `ip netns del`. */
export async function netnsRemove(name: string, x?: Explainer): Promise<void> {
  x?.explain?.("teardown", explainNetns.delete(name));
  if (!x?.dryRun) await deleteNetns(name);
}

/** `strata netns exec NAME CMD…`: as `ip netns exec`; resolves with the command's exit code. */
export async function netnsExec(name: string, argv: string[]): Promise<number> {
  if (argv.length === 0)
    throw new UsageError(`netns exec needs a command: strata netns exec ${name} CMD [ARG…]`);
  const path = netnsPath(name);
  try {
    await access(path);
  } catch {
    throw new NetnsError("NETNS_NOT_FOUND", `network namespace "${name}" does not exist (no ${path})`, {
      netns: name,
    });
  }
  const [cmd, ...args] = execCommand(name, argv);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd as string, args, { stdio: "inherit" });
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve(code ?? 128 + signalNumber(signal)));
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? ((constants.signals as Record<string, number>)[signal] ?? 0) : 0;
}

/** docker's network ids are random; strata's are derived from the name so they are stable. */
function networkId(name: string): string {
  return createHash("sha256").update(`strata-network:${name}`).digest("hex");
}

interface NetworkSummary {
  ID: string;
  Name: string;
  Driver: string;
  Scope: string;
}

function summaries(network: BridgeNetwork): NetworkSummary[] {
  return [
    { ID: networkId("bridge"), Name: "bridge", Driver: "bridge", Scope: "local" },
    { ID: networkId("host"), Name: "host", Driver: "host", Scope: "local" },
    { ID: networkId("none"), Name: "none", Driver: "null", Scope: "local" },
  ].map((s) => (s.Name === "bridge" ? { ...s, bridge: network.bridge } : s));
}

/** `strata network ls [--no-trunc] [--format json]`: docker's three built-in networks. */
export function networkList(network: BridgeNetwork, options: { format?: string; noTrunc?: boolean }): string {
  checkFormat(options.format);
  const rows = summaries(network).map((s) => ({ ...s, ID: options.noTrunc ? s.ID : s.ID.slice(0, 12) }));
  if (options.format === "json") {
    return rows
      .map((r) => `${JSON.stringify({ ID: r.ID, Name: r.Name, Driver: r.Driver, Scope: r.Scope })}\n`)
      .join("");
  }
  return table([
    ["NETWORK ID", "NAME", "DRIVER", "SCOPE"],
    ...rows.map((r) => [r.ID, r.Name, r.Driver, r.Scope]),
  ]);
}

/** `strata network inspect NAME…`: docker's JSON shape (a subset), with the bridge's leases as Containers. */
export async function networkInspect(
  network: BridgeNetwork,
  runtime: ContainerRuntime,
  names: string[],
): Promise<string> {
  const out: unknown[] = [];
  for (const name of names) {
    const summary = summaries(network).find((s) => s.Name === name || s.ID.startsWith(name));
    if (!summary) {
      throw Object.assign(new Error(`network '${name}' not found: strata has bridge, host and none`), {
        code: "NETWORK_NOT_FOUND",
      });
    }
    const doc: Record<string, unknown> = {
      Name: summary.Name,
      Id: summary.ID,
      Scope: summary.Scope,
      Driver: summary.Driver,
      IPAM: { Driver: "default", Config: [] as unknown[] },
      Containers: {},
      Options: {},
    };
    if (summary.Name === "bridge") {
      doc.IPAM = { Driver: "default", Config: [{ Subnet: network.subnet, Gateway: network.gateway }] };
      doc.Options = { "com.docker.network.bridge.name": network.bridge };
      const containers: Record<string, unknown> = {};
      for (const lease of await network.ipam.list()) {
        const state = await runtime.inspect(lease.owner).catch(() => undefined);
        containers[lease.owner] = {
          Name: state?.name ?? "",
          IPv4Address: `${lease.address}/${network.prefixLength}`,
          ...(lease.details?.hostInterface ? { HostInterface: lease.details.hostInterface } : {}),
          ...(lease.details?.netns ? { Netns: lease.details.netns } : {}),
        };
      }
      doc.Containers = containers;
    }
    out.push(doc);
  }
  return `${JSON.stringify(out, null, 4)}\n`;
}
