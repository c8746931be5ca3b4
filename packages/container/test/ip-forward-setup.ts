/**
 * The bridge network turns net.ipv4.ip_forward on (as docker does). Test files run in parallel, so the
 * value is saved once before any of them and put back after all of them.
 */
import { readFile, writeFile } from "node:fs/promises";

const KEY = "/proc/sys/net/ipv4/ip_forward";
let before: string | undefined;

export async function setup(): Promise<void> {
  before = (await readFile(KEY, "utf8").catch(() => "")).trim() || undefined;
}

export async function teardown(): Promise<void> {
  if (before !== undefined && process.getuid?.() === 0) await writeFile(KEY, before).catch(() => undefined);
}
