import { join } from "node:path";
import { withFileLock } from "@strata/lockfile";
import { listNetns } from "@strata/netns";
import {
  addrAdd,
  assertLinkName,
  assertNetnsName,
  batchLine,
  bridgeAdd,
  classifyIpError,
  findLink,
  type IpCommand,
  IpCommandError,
  type IpRunner,
  linkSet,
  listAddresses,
  listLinks,
  routeAdd,
  spawnIpRunner,
  vethAdd,
} from "@strata/veth";
import { NetworkError } from "./errors.js";
import { Ipam, type Lease } from "./ipam.js";
import { assertContainerId, assertHostname, hostInterfaceName, netnsName } from "./names.js";
import { formatPublish, normalizePublish, type PortMapping } from "./ports.js";
import {
  baseRules,
  type Chains,
  chainNames,
  dnatRules,
  explainRules,
  hasChain,
  jumpRules,
  type Rule,
  restoreScript,
  ruleOwner,
  savedRules,
} from "./rules.js";
import {
  type IptablesRunner,
  processStartTime,
  procSysctl,
  type SysctlWriter,
  spawnIptablesRunner,
  sysctlCommand,
} from "./runners.js";
import { formatSubnet } from "./subnet.js";

/** Where `ip` keeps named namespaces; iproute2 hard-codes it, and strata drives `ip netns` directly. */
const NETNS_ROOT = "/run/netns";
/** The interface name inside every container. */
export const CONTAINER_INTERFACE = "eth0";

export interface BridgeNetworkOptions {
  /** Bridge name (default `strata0`). */
  bridge?: string;
  /** IPv4 subnet; the first host address goes on the bridge as the gateway (default `10.77.0.0/16`). */
  subnet?: string;
  /** Lease file and locks (default `/var/lib/strata/network/<bridge>`). */
  stateDir?: string;
  /** Appended to the chain names STRATA-POSTROUTING / STRATA-DNAT / STRATA-FORWARD (default none; ≤ 10 chars). */
  chainSuffix?: string;
  /** Host-side veth names start with this (default `strata`, leaving 9 characters of the container id). */
  vethPrefix?: string;
  /** Namespaces strata creates are named this + the container id (default `strata-`). */
  netnsPrefix?: string;
  /** MTU of the bridge and veths (default: the kernel's, 1500). */
  mtu?: number;
  /** Runs `ip` (default spawns iproute2). */
  ip?: IpRunner;
  /** Runs iptables / iptables-restore / iptables-save (default spawns them). */
  iptables?: IptablesRunner;
  /** Writes /proc/sys (default the real one). */
  sysctl?: SysctlWriter;
  /**
   * Called with the shell command equivalent to each effect, in order (`ip link add …`,
   * `iptables -t nat -A …`, `sysctl -w …`): the hook for `--explain`.
   */
  onCommand?: (line: string) => void;
}

export interface AttachRequest {
  containerId: string;
  /** Wire this existing named namespace (`ip netns add NAME`) instead of creating `<netnsPrefix><id>`. */
  netns?: string;
  /** The container's hostname, for the `/etc/hosts` line. */
  hostname?: string;
  /** More names for the container's address in `/etc/hosts`. */
  aliases?: string[];
  /** `-p [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]`, as strings or objects. */
  publish?: readonly (string | PortMapping)[];
  /** The process that owns the container; gc frees the network when it is gone (default: this process). */
  pid?: number;
}

export interface Attachment {
  containerId: string;
  /** Namespace name (under /run/netns) and its file, to join with setns(2) / `nsenter --net=`. */
  netns: string;
  netnsPath: string;
  /** True when strata created the namespace (detach deletes it). */
  createdNetns: boolean;
  /** Always `eth0`. */
  interface: string;
  /** Host end of the veth pair, a port of the bridge. */
  hostInterface: string;
  address: string;
  prefixLength: number;
  /** `address/prefixLength`. */
  cidr: string;
  gateway: string;
  bridge: string;
  ports: PortMapping[];
  /** Lines for the container's /etc/hosts: `ADDRESS<TAB>HOSTNAME [ALIASES…]` (empty without a hostname). */
  hostsEntries: string[];
}

export interface GcOptions {
  /** Whether a lease's owner still exists (default: its pid runs and has the recorded start time). */
  isAlive?: (lease: Lease) => boolean | Promise<boolean>;
}

export interface GcReport {
  /** Container ids whose lease was freed. */
  leases: string[];
  netns: string[];
  links: string[];
  /** Number of firewall rules removed. */
  rules: number;
}

/** Error messages of `ip` that mean "already gone", which teardown accepts. */
const GONE = /Cannot find device|No such file or directory|does not exist/;

/**
 * A bridge network (`--network bridge`): a bridge with the gateway address, host-local IPAM, a veth per
 * container (`eth0` inside), a default route via the bridge, outbound masquerade and published ports
 * (DNAT) in strata's own iptables chains. Every method is safe to call from several processes.
 */
export class BridgeNetwork {
  readonly bridge: string;
  readonly subnet: string;
  readonly gateway: string;
  readonly prefixLength: number;
  readonly chains: Chains;
  readonly stateDir: string;
  readonly ipam: Ipam;
  private readonly vethPrefix: string;
  private readonly netnsPrefix: string;
  private readonly mtu: number | undefined;
  private readonly ip: IpRunner;
  private readonly fw: IptablesRunner;
  private readonly sysctl: SysctlWriter;
  private readonly onCommand: (line: string) => void;
  private ready: Promise<void> | undefined;

  constructor(options: BridgeNetworkOptions = {}) {
    this.bridge = options.bridge ?? "strata0";
    assertLinkName(this.bridge);
    this.chains = chainNames(options.chainSuffix ?? "");
    this.stateDir = options.stateDir ?? join("/var/lib/strata/network", this.bridge);
    this.ipam = new Ipam({ stateDir: this.stateDir, subnet: options.subnet ?? "10.77.0.0/16" });
    this.subnet = formatSubnet(this.ipam.subnet);
    this.gateway = this.ipam.gateway;
    this.prefixLength = this.ipam.subnet.prefixLength;
    this.vethPrefix = options.vethPrefix ?? "strata";
    hostInterfaceName(this.vethPrefix, "0"); // validates the prefix length
    this.netnsPrefix = options.netnsPrefix ?? "strata-";
    assertNetnsName(`${this.netnsPrefix}x`);
    this.mtu = options.mtu;
    this.ip = options.ip ?? spawnIpRunner();
    this.fw = options.iptables ?? spawnIptablesRunner();
    this.sysctl = options.sysctl ?? procSysctl();
    this.onCommand = options.onCommand ?? (() => {});
  }

  /** The host-side veth name a container gets. */
  hostInterfaceOf(containerId: string): string {
    return hostInterfaceName(this.vethPrefix, containerId);
  }

  /** The namespace name strata creates for a container. */
  netnsOf(containerId: string): string {
    return netnsName(this.netnsPrefix, containerId);
  }

  /**
   * Creates what the network needs once (bridge + gateway address, sysctls, chains and jumps); cheap
   * when it exists. Called by attach; under a lock so that concurrent processes do it once.
   */
  ensure(): Promise<void> {
    this.ready ??= withFileLock(join(this.stateDir, "setup.lock"), () => this.setUp()).catch((error) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  private async setUp(): Promise<void> {
    const link = await findLink(this.ip, this.bridge);
    const gw = `${this.gateway}/${this.prefixLength}`;
    if (link === undefined) {
      await this.ipBatch([
        bridgeAdd({ name: this.bridge, ...(this.mtu === undefined ? {} : { mtu: this.mtu }) }),
        addrAdd({ dev: this.bridge, address: gw }),
        linkSet({ name: this.bridge, up: true }),
      ]);
    } else {
      if (link.kind !== "bridge") {
        throw new NetworkError(
          "INVALID_OPTION",
          `interface ${this.bridge} exists but is a ${link.kind ?? "plain"} device, not a bridge: pick another bridge name`,
        );
      }
      const addresses = await listAddresses(this.ip, { dev: this.bridge });
      const commands: IpCommand[] = [];
      if (!addresses.some((a) => a.family === 4 && a.address === this.gateway)) {
        const other = addresses.find((a) => a.family === 4);
        if (other) {
          throw new NetworkError(
            "SUBNET_MISMATCH",
            `bridge ${this.bridge} has address ${other.cidr}, not ${gw}: use the bridge's subnet, or another bridge name`,
          );
        }
        commands.push(addrAdd({ dev: this.bridge, address: gw }));
      }
      if (!link.up) commands.push(linkSet({ name: this.bridge, up: true }));
      await this.ipBatch(commands);
    }
    // route_localnet lets OUTPUT-DNATed 127.0.0.1:HOSTPORT traffic be routed onto the bridge.
    await this.setSysctl(`net/ipv4/conf/${this.bridge}/route_localnet`, "1");
    await this.setSysctl("net/ipv4/ip_forward", "1");
    await this.ensureRules();
  }

  private async setSysctl(key: string, value: string): Promise<void> {
    if ((await this.sysctl.read(key)) === value) return;
    this.onCommand(sysctlCommand(key, value));
    await this.sysctl.write(key, value);
  }

  private async ensureRules(): Promise<void> {
    const [nat, filter] = await Promise.all([this.saveTable("nat"), this.saveTable("filter")]);
    const saved = { nat, filter };
    const declare: { table: "nat" | "filter"; chain: string }[] = [];
    // The two fixed chains are re-declared (which flushes them) and refilled; the DNAT chain holds the
    // containers' rules and is only declared when missing.
    declare.push(
      { table: "nat", chain: this.chains.postrouting },
      { table: "filter", chain: this.chains.forward },
    );
    if (!hasChain(nat, this.chains.dnat)) declare.push({ table: "nat", chain: this.chains.dnat });
    const jumps = jumpRules(this.chains).filter(
      (j) =>
        !savedRules(saved[j.table], j.chain).some((line) => line.endsWith(` -j ${j.args.at(-1) as string}`)),
    );
    const base = baseRules(this.chains, this.bridge, this.subnet);
    for (const d of declare) this.onCommand(`iptables -t ${d.table} -N ${d.chain}`);
    for (const line of [...explainRules("-A", base), ...explainRules("-I", jumps)]) this.onCommand(line);
    const script = restoreScript("-A", base, declare) + restoreScript("-I", jumps);
    await this.restore(script, "setting up the firewall chains");
  }

  private async saveTable(table: "nat" | "filter"): Promise<string> {
    const result = await this.fw.save(table);
    if (result.exitCode !== 0) {
      throw new NetworkError(
        "IPTABLES_FAILED",
        `iptables-save -t ${table} failed (exit ${result.exitCode}): ${result.stderr.trim()}; is iptables installed and are you root?`,
        { command: ["iptables-save", "-t", table], stderr: result.stderr },
      );
    }
    return result.stdout;
  }

  private async restore(script: string, what: string): Promise<void> {
    if (script === "") return;
    const result = await this.fw.restore(script);
    if (result.exitCode !== 0) {
      throw new NetworkError(
        "IPTABLES_FAILED",
        `${what} failed: iptables-restore exited ${result.exitCode}: ${result.stderr.trim()}`,
        { command: ["iptables-restore", "-w", "--noflush"], stderr: result.stderr },
      );
    }
  }

  private async ipBatch(commands: readonly IpCommand[], netns?: string): Promise<void> {
    if (commands.length === 0) return;
    for (const c of commands) this.onCommand(`ip ${netns ? `-n ${netns} ` : ""}${batchLine(c)}`);
    const args = [...(netns ? ["-n", netns] : []), "-batch", "-"];
    const result = await this.ip.run(args, { input: commands.map((c) => `${batchLine(c)}\n`).join("") });
    if (result.exitCode !== 0) {
      const failed = /Command failed -:(\d+)/.exec(result.stderr);
      const command = failed ? commands[Number(failed[1]) - 1] : undefined;
      throw new IpCommandError(classifyIpError(result.stderr), {
        command: ["ip", ...args],
        ...(command ? { line: `${netns ? `-n ${netns} ` : ""}${batchLine(command)}` } : {}),
        exitCode: result.exitCode,
        stderr: result.stderr,
      });
    }
  }

  /**
   * Runs removal commands with `ip -force -batch` (every line is tried) and accepts "already gone";
   * anything else is thrown.
   */
  private async ipRemove(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    for (const l of lines) this.onCommand(`ip ${l}`);
    const result = await this.ip.run(["-force", "-batch", "-"], {
      input: lines.map((l) => `${l}\n`).join(""),
    });
    if (result.exitCode === 0) return;
    const problems = result.stderr
      .split("\n")
      .filter((l) => l.trim() !== "" && !l.startsWith("Command failed") && !GONE.test(l));
    if (problems.length > 0) {
      throw new NetworkError("IP_FAILED", `removing ${lines.join("; ")} failed: ${problems.join("; ")}`, {
        command: ["ip", "-force", "-batch", "-"],
        stderr: result.stderr,
      });
    }
  }

  /**
   * Connects a container: a lease (written first, so a crash at any later point is undone by gc), the
   * namespace (unless given), the veth pair with `eth0` inside on the bridge, address and default
   * route, and the DNAT rules of its published ports. On failure everything made so far is removed.
   */
  async attach(request: AttachRequest): Promise<Attachment> {
    const { containerId } = request;
    assertContainerId(containerId);
    if (request.hostname !== undefined) assertHostname(request.hostname);
    for (const alias of request.aliases ?? []) assertHostname(alias);
    if (request.netns !== undefined) assertNetnsName(request.netns);
    const ports = normalizePublish(request.publish ?? []);
    await this.ensure();

    const createdNetns = request.netns === undefined;
    const ns = request.netns ?? this.netnsOf(containerId);
    const hostInterface = this.hostInterfaceOf(containerId);
    const pid = request.pid ?? process.pid;
    const pidStart = await processStartTime(pid);
    const lease = await this.ipam.allocate(containerId, {
      pid,
      unique: true,
      ...(pidStart ? { pidStart } : {}),
      details: {
        netns: ns,
        createdNetns,
        hostInterface,
        ...(ports.length > 0 ? { ports } : {}),
        ...(request.hostname ? { hostname: request.hostname } : {}),
      },
      check: (others) => {
        for (const p of ports) {
          const clash = others.find((o) =>
            o.details?.ports?.some(
              (q) =>
                q.protocol === p.protocol &&
                q.hostPort === p.hostPort &&
                (q.hostIp === undefined || p.hostIp === undefined || q.hostIp === p.hostIp),
            ),
          );
          if (clash) {
            throw new NetworkError(
              "PORT_IN_USE",
              `cannot publish ${formatPublish(p)}: host port ${p.hostPort}/${p.protocol} is already published by container ${clash.owner}`,
            );
          }
        }
      },
    });
    const address = lease.address;
    try {
      await this.ipBatch([
        ...(createdNetns ? [["netns", "add", ns]] : []),
        vethAdd({
          name: hostInterface,
          peer: CONTAINER_INTERFACE,
          peerNetns: ns,
          ...(this.mtu === undefined ? {} : { mtu: this.mtu }),
        }),
        linkSet({ name: hostInterface, master: this.bridge, up: true }),
      ]);
      if (ports.length > 0) {
        const rules = dnatRules(this.chains, containerId, address, ports);
        for (const line of explainRules("-A", rules)) this.onCommand(line);
        await this.restore(restoreScript("-A", rules), `publishing ports of container ${containerId}`);
      }
      await this.ipBatch(
        [
          linkSet({ name: "lo", up: true }),
          addrAdd({ dev: CONTAINER_INTERFACE, address: `${address}/${this.prefixLength}` }),
          linkSet({ name: CONTAINER_INTERFACE, up: true }),
          routeAdd({ to: "default", via: this.gateway, dev: CONTAINER_INTERFACE }),
        ],
        ns,
      );
    } catch (error) {
      await this.detach(containerId).catch(() => {});
      throw error;
    }
    const names = [request.hostname, ...(request.aliases ?? [])].filter((n): n is string => n !== undefined);
    return {
      containerId,
      netns: ns,
      netnsPath: join(NETNS_ROOT, ns),
      createdNetns,
      interface: CONTAINER_INTERFACE,
      hostInterface,
      address,
      prefixLength: this.prefixLength,
      cidr: `${address}/${this.prefixLength}`,
      gateway: this.gateway,
      bridge: this.bridge,
      ports,
      hostsEntries: names.length > 0 ? [`${address}\t${names.join(" ")}`] : [],
    };
  }

  /**
   * Disconnects a container: its DNAT rules, its veth pair, the namespace strata created for it, then its
   * lease. Idempotent: what is already gone is skipped, so gc can call it after a crash.
   */
  async detach(containerId: string): Promise<void> {
    assertContainerId(containerId);
    const lease = await this.ipam.get(containerId);
    await this.teardown(containerId, lease);
    await this.ipam.release(containerId);
  }

  private async teardown(containerId: string, lease: Lease | undefined): Promise<void> {
    const ports = lease?.details?.ports ?? [];
    if (lease === undefined || ports.length > 0) {
      // Without a lease the rules (if any) are found by their comment.
      const exact = lease ? dnatRules(this.chains, containerId, lease.address, ports) : undefined;
      await this.removeRules((owner) => owner === containerId, exact);
    }
    const hostInterface = lease?.details?.hostInterface ?? this.hostInterfaceOf(containerId);
    const lines = [`link del dev ${hostInterface}`];
    const ns = lease
      ? lease.details?.createdNetns
        ? lease.details.netns
        : undefined
      : this.netnsOf(containerId);
    if (ns !== undefined) lines.push(`netns del ${ns}`);
    await this.ipRemove(lines);
  }

  /** Removes DNAT rules whose owner matches: the exact rules when known (one spawn), else by listing. */
  private async removeRules(matches: (owner: string) => boolean, exact?: Rule[]): Promise<number> {
    if (exact && exact.length > 0) {
      const result = await this.fw.restore(restoreScript("-D", exact));
      if (result.exitCode === 0) {
        for (const line of explainRules("-D", exact)) this.onCommand(line);
        return exact.length;
      }
      // Some were already gone: fall back to the listing.
    }
    const nat = await this.saveTable("nat");
    const lines = savedRules(nat, this.chains.dnat).filter((line) => {
      const owner = ruleOwner(line);
      return owner !== undefined && matches(owner);
    });
    if (lines.length === 0) return 0;
    for (const line of lines) this.onCommand(`iptables -t nat ${line.replace(/^-A /, "-D ")}`);
    await this.restore(
      `*nat\n${lines.map((l) => `${l.replace(/^-A /, "-D ")}\n`).join("")}COMMIT\n`,
      "removing published ports",
    );
    return lines.length;
  }

  /** Leases currently held (one per attached container). */
  leases(): Promise<Lease[]> {
    return this.ipam.list();
  }

  /**
   * Cleans up after crashes: frees the leases whose owner is gone (with their rules, veth and
   * namespace), then removes strata-named veths, namespaces and DNAT rules that no live lease owns.
   */
  async gc(options: GcOptions = {}): Promise<GcReport> {
    const isAlive = options.isAlive ?? defaultIsAlive;
    // Kernel objects are listed before the leases are read: attach writes its lease before it creates
    // anything, so whatever is listed here and has no lease below is truly orphaned.
    const [links, namespaces, nat] = await Promise.all([
      listLinks(this.ip),
      listNetns({ root: NETNS_ROOT }),
      this.saveTable("nat"),
    ]);
    const report: GcReport = { leases: [], netns: [], links: [], rules: 0 };
    const live: Lease[] = [];
    for (const lease of await this.ipam.list()) {
      if (await isAlive(lease)) {
        live.push(lease);
        continue;
      }
      await this.teardown(lease.owner, lease);
      await this.ipam.release(lease.owner);
      report.leases.push(lease.owner);
      if (lease.details?.hostInterface) report.links.push(lease.details.hostInterface);
      if (lease.details?.createdNetns && lease.details.netns) report.netns.push(lease.details.netns);
    }
    const liveOwners = new Set(live.map((l) => l.owner));
    const liveLinks = new Set(live.map((l) => l.details?.hostInterface));
    const liveNetns = new Set(live.map((l) => l.details?.netns));
    const removals: string[] = [];
    for (const link of links) {
      if (link.kind !== "veth" || !isStrataName(link.name, this.vethPrefix, 6) || liveLinks.has(link.name))
        continue;
      if (report.links.includes(link.name)) continue;
      removals.push(`link del dev ${link.name}`);
      report.links.push(link.name);
    }
    for (const entry of namespaces) {
      // Only names strata itself makes (prefix + 12 hex): never another tool's or test's namespace.
      if (!isStrataName(entry.name, this.netnsPrefix, 12, 12) || liveNetns.has(entry.name)) continue;
      if (report.netns.includes(entry.name)) continue;
      removals.push(`netns del ${entry.name}`);
      report.netns.push(entry.name);
    }
    await this.ipRemove(removals);
    const stale = savedRules(nat, this.chains.dnat).some((line) => {
      const owner = ruleOwner(line);
      return owner !== undefined && !liveOwners.has(owner);
    });
    if (stale) report.rules = await this.removeRules((owner) => !liveOwners.has(owner));
    return report;
  }

  /**
   * Removes the network itself: the jumps, strata's chains and the bridge (for `strata network rm` and
   * tests). Refuses while containers are attached. Sysctls are left as they are (other networks may
   * need ip_forward).
   */
  async destroy(): Promise<void> {
    const leases = await this.ipam.list();
    if (leases.length > 0) {
      throw new NetworkError(
        "INVALID_OPTION",
        `${leases.length} container(s) are still attached to ${this.bridge} (${leases.map((l) => l.owner).join(", ")}): detach them or run gc first`,
      );
    }
    await withFileLock(join(this.stateDir, "setup.lock"), async () => {
      const [nat, filter] = await Promise.all([this.saveTable("nat"), this.saveTable("filter")]);
      const saved = { nat, filter };
      const jumps = jumpRules(this.chains).filter((j) =>
        savedRules(saved[j.table], j.chain).some((line) => line.endsWith(` -j ${j.args.at(-1) as string}`)),
      );
      const chains = [
        { table: "nat" as const, chain: this.chains.postrouting },
        { table: "nat" as const, chain: this.chains.dnat },
        { table: "filter" as const, chain: this.chains.forward },
      ].filter((c) => hasChain(saved[c.table], c.chain));
      let script = restoreScript("-D", jumps);
      for (const table of ["nat", "filter"] as const) {
        const own = chains.filter((c) => c.table === table);
        if (own.length === 0) continue;
        script += `*${table}\n${own.map((c) => `-F ${c.chain}\n`).join("")}${own.map((c) => `-X ${c.chain}\n`).join("")}COMMIT\n`;
      }
      for (const line of explainRules("-D", jumps)) this.onCommand(line);
      for (const c of chains) this.onCommand(`iptables -t ${c.table} -F ${c.chain}`);
      for (const c of chains) this.onCommand(`iptables -t ${c.table} -X ${c.chain}`);
      await this.restore(script, `removing the firewall chains of ${this.bridge}`);
      await this.ipRemove([`link del dev ${this.bridge}`]);
    });
    this.ready = undefined;
  }
}

/** A lease's owner is alive when its pid runs and (when recorded) still has the same start time. */
export async function defaultIsAlive(lease: Lease): Promise<boolean> {
  if (lease.pid === undefined) return true;
  const start = await processStartTime(lease.pid);
  if (start === undefined) return false;
  return lease.pidStart === undefined || lease.pidStart === start;
}

/** `name` is `prefix` followed by lowercase hex only (as hostInterfaceName and netnsName make them). */
function isStrataName(name: string, prefix: string, minHex: number, maxHex = 64): boolean {
  if (!name.startsWith(prefix)) return false;
  const rest = name.slice(prefix.length);
  return rest.length >= minHex && rest.length <= maxHex && /^[0-9a-f]+$/.test(rest);
}
