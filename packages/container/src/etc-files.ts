import { readFile, writeFile } from "node:fs/promises";
import { hostname as osHostname } from "node:os";
import { join } from "node:path";

export interface EtcFiles {
  hostname: string;
  hosts: string;
  resolvConf: string;
}

export interface EtcOptions {
  hostname: string;
  /** host networking: the host's /etc/hosts is copied (as Docker does). */
  hostNetwork: boolean;
  /** Extra hosts lines from the network attacher. */
  extraHosts?: string[];
  /** `--add-host` lines (`ADDRESS<TAB>NAME`), after everything else, also under host networking. */
  addedHosts?: string[];
  /**
   * Add `127.0.1.1 HOSTNAME` (default true outside host networking). False when the attacher's lines
   * already name the container's address, so the hostname resolves to it (Docker on a bridge).
   */
  loopbackHostname?: boolean;
  /** Where the host's hosts / resolv.conf are read (default /etc). */
  hostEtc?: string;
}

const DEFAULT_HOSTS = [
  "127.0.0.1\tlocalhost",
  "::1\tlocalhost ip6-localhost ip6-loopback",
  "fe00::0\tip6-localnet",
  "ff00::0\tip6-mcastprefix",
  "ff02::1\tip6-allnodes",
  "ff02::2\tip6-allrouters",
];

/**
 * The host's resolv.conf for a container. Outside the host's network namespace a loopback resolver
 * (127.0.0.53, ::1) is unreachable, so those `nameserver` lines are dropped, as Docker does; unlike
 * Docker no public resolver is added in their place (strata never sends traffic it was not asked to).
 */
export function containerResolvConf(host: string, hostNetwork: boolean): string {
  if (hostNetwork) return host;
  const lines = host.split("\n").filter((line) => {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    return !m || !(m[1]?.startsWith("127.") || m[1] === "::1");
  });
  return lines.join("\n");
}

export function containerHosts(options: EtcOptions, hostHosts: string | undefined): string {
  const added = options.addedHosts ?? [];
  if (options.hostNetwork && hostHosts !== undefined) {
    if (added.length === 0) return hostHosts;
    return `${hostHosts}${hostHosts.endsWith("\n") || hostHosts === "" ? "" : "\n"}${added.join("\n")}\n`;
  }
  const lines = [...DEFAULT_HOSTS, ...(options.extraHosts ?? [])];
  if (!options.hostNetwork && options.loopbackHostname !== false)
    lines.push(`127.0.1.1\t${options.hostname}`);
  lines.push(...added);
  return `${lines.join("\n")}\n`;
}

async function readOptional(path: string): Promise<string | undefined> {
  return readFile(path, "utf8").catch(() => undefined);
}

/** Writes `hostname`, `hosts`, `resolv.conf` into `dir` (the container's directory) and returns their paths. */
export async function writeEtcFiles(dir: string, options: EtcOptions): Promise<EtcFiles> {
  const hostEtc = options.hostEtc ?? "/etc";
  const files: EtcFiles = {
    hostname: join(dir, "hostname"),
    hosts: join(dir, "hosts"),
    resolvConf: join(dir, "resolv.conf"),
  };
  const hostResolv = (await readOptional(join(hostEtc, "resolv.conf"))) ?? "";
  await writeFile(files.hostname, `${options.hostname}\n`);
  await writeFile(files.hosts, containerHosts(options, await readOptional(join(hostEtc, "hosts"))));
  await writeFile(files.resolvConf, containerResolvConf(hostResolv, options.hostNetwork));
  return files;
}

/** The host's own name, the container's default hostname under host networking (Docker's behaviour). */
export function hostHostname(): string {
  return osHostname();
}
