import { NetworkError } from "./errors.js";
import { ruleComment } from "./names.js";
import type { PortMapping } from "./ports.js";

/** strata's own chains; everything strata adds to the firewall lives in them, plus one jump each. */
export interface Chains {
  /** nat: outbound masquerade and the 127.0.0.0/8 → bridge masquerade. */
  postrouting: string;
  /** nat: one DNAT rule per published port, reached from PREROUTING and OUTPUT for local destinations. */
  dnat: string;
  /** filter: lets bridge traffic and published ports through a FORWARD chain whose policy may be DROP. */
  forward: string;
}

/** A rule: table, chain and the match/target arguments (what follows `-A CHAIN`). */
export interface Rule {
  table: "nat" | "filter";
  chain: string;
  args: string[];
}

/** Chain names are at most 28 characters (XT_EXTENSION_MAXNAMELEN - 1), so the suffix gets 10. */
export function chainNames(suffix = ""): Chains {
  if (!/^[A-Za-z0-9_-]{0,10}$/.test(suffix)) {
    throw new NetworkError(
      "INVALID_OPTION",
      `invalid chain suffix ${JSON.stringify(suffix)}: use at most 10 letters, digits, '_' or '-'`,
    );
  }
  return {
    postrouting: `STRATA-POSTROUTING${suffix}`,
    dnat: `STRATA-DNAT${suffix}`,
    forward: `STRATA-FORWARD${suffix}`,
  };
}

/** The jumps from the built-in chains into strata's chains. */
export function jumpRules(chains: Chains): Rule[] {
  return [
    { table: "nat", chain: "POSTROUTING", args: ["-j", chains.postrouting] },
    { table: "nat", chain: "PREROUTING", args: ["-m", "addrtype", "--dst-type", "LOCAL", "-j", chains.dnat] },
    { table: "nat", chain: "OUTPUT", args: ["-m", "addrtype", "--dst-type", "LOCAL", "-j", chains.dnat] },
    { table: "filter", chain: "FORWARD", args: ["-j", chains.forward] },
  ];
}

/** The fixed rules of a network (one set per bridge, not per container). */
export function baseRules(chains: Chains, bridge: string, subnet: string): Rule[] {
  const nat = (args: string[]): Rule => ({ table: "nat", chain: chains.postrouting, args });
  const filter = (args: string[]): Rule => ({ table: "filter", chain: chains.forward, args });
  return [
    // Containers reaching anything outside the bridge leave with the host's address.
    nat(["-s", subnet, "!", "-o", bridge, "-j", "MASQUERADE"]),
    // `curl 127.0.0.1:HOSTPORT` after OUTPUT DNAT: a loopback source cannot leave on the bridge
    // (route_localnet lets it be routed, the container could not answer it): use the bridge address.
    nat(["-s", "127.0.0.0/8", "-o", bridge, "-j", "MASQUERADE"]),
    // A container reaching a published port of another (or itself) through a host address: without
    // this the reply would go straight back over the bridge and miss the reverse NAT.
    nat(["-s", subnet, "-o", bridge, "-m", "conntrack", "--ctstate", "DNAT", "-j", "MASQUERADE"]),
    filter(["-i", bridge, "-j", "ACCEPT"]),
    filter(["-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "ACCEPT"]),
  ];
}

/** One DNAT rule per published port, marked with the container's comment. */
export function dnatRules(
  chains: Chains,
  containerId: string,
  address: string,
  ports: readonly PortMapping[],
): Rule[] {
  return ports.map((p) => ({
    table: "nat",
    chain: chains.dnat,
    args: [
      ...(p.hostIp ? ["-d", `${p.hostIp}/32`] : []),
      "-p",
      p.protocol,
      "-m",
      p.protocol,
      "--dport",
      String(p.hostPort),
      "-m",
      "comment",
      "--comment",
      ruleComment(containerId),
      "-j",
      "DNAT",
      "--to-destination",
      `${address}:${p.containerPort}`,
    ],
  }));
}

const quote = (a: string) => (/^[A-Za-z0-9_@%+=:,./!-]+$/.test(a) ? a : `"${a.replace(/["\\]/g, "\\$&")}"`);

/** An iptables-restore (--noflush) script applying `op` to the rules, grouped by table. */
export function restoreScript(
  op: "-A" | "-D" | "-I",
  rules: readonly Rule[],
  declare: readonly { table: "nat" | "filter"; chain: string }[] = [],
): string {
  let text = "";
  for (const table of ["nat", "filter"] as const) {
    const chains = declare.filter((d) => d.table === table);
    const own = rules.filter((r) => r.table === table);
    if (chains.length === 0 && own.length === 0) continue;
    text += `*${table}\n`;
    for (const c of chains) text += `:${c.chain} - [0:0]\n`;
    for (const r of own) text += `${op} ${r.chain} ${r.args.map(quote).join(" ")}\n`;
    text += "COMMIT\n";
  }
  return text;
}

/** The equivalent `iptables` commands (for --explain). */
export function explainRules(op: "-A" | "-D" | "-I", rules: readonly Rule[]): string[] {
  return rules.map((r) => `iptables -t ${r.table} ${op} ${r.chain} ${r.args.map(quote).join(" ")}`);
}

/** Rules of `chain` in `iptables-save` output, as `-A CHAIN args…` lines. */
export function savedRules(save: string, chain: string): string[] {
  return save.split("\n").filter((line) => line.startsWith(`-A ${chain} `));
}

/** Whether `iptables-save` output declares `chain`. */
export function hasChain(save: string, chain: string): boolean {
  return save.split("\n").some((line) => line.startsWith(`:${chain} `));
}

/** The container id a saved rule is marked with (`--comment strata:ID` or `--comment "strata:ID"`). */
export function ruleOwner(line: string): string | undefined {
  return /--comment "?strata:([A-Za-z0-9_.-]+)"?/.exec(line)?.[1];
}
