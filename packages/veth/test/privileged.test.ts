import { execFileSync } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { describePrivileged } from "@strata/testkit";
import { afterAll, afterEach, expect, it } from "vitest";
import {
  applyBatch,
  applyNetworkPlan,
  bridgeAdd,
  findLink,
  IpCommandError,
  linkSet,
  listAddresses,
  listLinks,
  listRoutes,
  planContainerNetwork,
  removeContainerNetwork,
  spawnIpRunner,
  vethAdd,
} from "../src/index.js";

const RUN = randomBytes(2).toString("hex");
const NS_PREFIX = `strata-test-net-${RUN}`;
const LINK_PREFIX = `st${RUN}`;
/** A /24 of 10.213.0.0/16 and a /64 of fd53:7472::/32 per run; traffic stays inside our namespaces. */
const NET = randomInt(0, 256);
const V4 = (host: number) => `10.213.${NET}.${host}`;
const V6 = (host: number) => `fd53:7472:${NET.toString(16)}::${host}`;
const ip = spawnIpRunner();

const ns = (n: number) => `${NS_PREFIX}-${n}`;
const link = (suffix: string) => `${LINK_PREFIX}${suffix}`;

function sh(...argv: string[]): string {
  const [file, ...args] = argv;
  return execFileSync(file ?? "", args, { encoding: "utf8" });
}
function pingOk(fromNs: string | undefined, address: string): boolean {
  const argv = [...(fromNs ? ["ip", "netns", "exec", fromNs] : []), "ping", "-c", "1", "-w", "5", address];
  try {
    sh(...argv);
    return true;
  } catch {
    return false;
  }
}
function ourNamespaces(): string[] {
  return existsSync("/run/netns") ? readdirSync("/run/netns").filter((n) => n.startsWith(NS_PREFIX)) : [];
}
function ourLinks(): string[] {
  const links = JSON.parse(sh("ip", "-json", "link", "show")) as { ifname: string }[];
  return links.map((l) => l.ifname).filter((n) => n.startsWith(LINK_PREFIX));
}
function cleanup(): void {
  // Deleting one veth end removes its peer too, so list again before each delete.
  for (let name = ourLinks()[0]; name !== undefined; name = ourLinks()[0]) {
    execFileSync("ip", ["link", "del", "dev", name], { stdio: "ignore" });
  }
  for (const name of ourNamespaces()) execFileSync("ip", ["netns", "del", name], { stdio: "ignore" });
}

describePrivileged(
  "veth on the real kernel",
  () => {
    afterEach(cleanup);
    afterAll(cleanup);

    it("the guide's wiring: netns + veth, eth0 inside, addresses, links up, ping both families", async () => {
      sh("ip", "netns", "add", ns(1));
      const host = link("h1");
      await applyNetworkPlan(
        ip,
        planContainerNetwork({
          netns: ns(1),
          hostName: host,
          mtu: 1400,
          mac: "02:53:00:00:00:02",
          hostAddresses: [`${V4(1)}/24`, `${V6(1)}/64`],
          addresses: [`${V4(2)}/24`, `${V6(2)}/64`],
          gateway: V4(1),
        }),
      );
      expect(pingOk(undefined, V4(2))).toBe(true);
      expect(pingOk(undefined, V6(2))).toBe(true);

      const shown = sh("ip", "netns", "exec", ns(1), "ip", "link");
      expect(shown).toMatch(/^1: lo: <LOOPBACK,UP,LOWER_UP>/m);
      expect(shown).toMatch(/^\d+: eth0@if\d+: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400/m);

      const inside = await listLinks(ip, { netns: ns(1) });
      expect(inside.map((l) => l.name)).toEqual(["lo", "eth0"]);
      expect(inside[1]).toMatchObject({
        name: "eth0",
        kind: "veth",
        up: true,
        mtu: 1400,
        mac: "02:53:00:00:00:02",
      });
      expect(inside[1]?.peerNetnsId).toBeTypeOf("number");
      expect(await findLink(ip, host)).toMatchObject({ name: host, kind: "veth", up: true, mtu: 1400 });
      expect((await listAddresses(ip, { netns: ns(1), dev: "eth0" })).map((a) => a.cidr)).toEqual(
        expect.arrayContaining([`${V4(2)}/24`, `${V6(2)}/64`]),
      );
      expect(await listRoutes(ip, { netns: ns(1) })).toContainEqual(
        expect.objectContaining({ dst: "default", gateway: V4(1), dev: "eth0" }),
      );

      await removeContainerNetwork(ip, host);
      expect(await findLink(ip, host)).toBeUndefined();
      expect((await listLinks(ip, { netns: ns(1) })).map((l) => l.name)).toEqual(["lo"]);
    });

    it("point-to-point: /32 addresses with the guide's /32 routes on both sides", async () => {
      sh("ip", "netns", "add", ns(2));
      const host = link("h2");
      await applyNetworkPlan(
        ip,
        planContainerNetwork({
          netns: ns(2),
          hostName: host,
          hostAddresses: [`${V4(101)}/32`],
          addresses: [`${V4(102)}/32`],
          gateway: V4(101),
          pointToPoint: true,
        }),
      );
      expect(await listRoutes(ip)).toContainEqual({ family: 4, dst: V4(102), dev: host, scope: "link" });
      expect(await listRoutes(ip, { netns: ns(2) })).toEqual(
        expect.arrayContaining([
          { family: 4, dst: V4(101), dev: "eth0", scope: "link" },
          { family: 4, dst: "default", gateway: V4(101), dev: "eth0" },
        ]),
      );
      expect(pingOk(undefined, V4(102))).toBe(true);
    });

    it("a bridge with two namespaces attached: they reach each other over IPv4 and IPv6", async () => {
      const bridge = link("br");
      await applyBatch(ip, [bridgeAdd({ name: bridge }), linkSet({ name: bridge, up: true })]);
      for (const n of [3, 4]) {
        sh("ip", "netns", "add", ns(n));
        await applyNetworkPlan(
          ip,
          planContainerNetwork({
            netns: ns(n),
            hostName: link(`b${n}`),
            bridge,
            hairpin: true,
            addresses: [`${V4(200 + n)}/24`, `${V6(200 + n)}/64`],
          }),
        );
      }
      expect(await findLink(ip, link("b3"))).toMatchObject({ master: bridge, hairpin: true, up: true });
      expect(await findLink(ip, bridge)).toMatchObject({ kind: "bridge", up: true });
      expect(pingOk(ns(3), V4(204))).toBe(true);
      expect(pingOk(ns(4), V4(203))).toBe(true);
      expect(pingOk(ns(3), V6(204))).toBe(true);
    });

    it("kernel errors are typed and carry the failing command", async () => {
      sh("ip", "netns", "add", ns(5));
      const host = link("e5");
      await applyBatch(ip, [vethAdd({ name: host, peer: link("e5p") })]);
      const exists = (await applyBatch(ip, [
        linkSet({ name: host, up: true }),
        vethAdd({ name: host, peer: link("e5q") }),
      ]).catch((e: unknown) => e)) as IpCommandError;
      expect(exists).toBeInstanceOf(IpCommandError);
      expect(exists.code).toBe("ALREADY_EXISTS");
      expect(exists.line).toBe(`link add ${host} type veth peer name ${link("e5q")}`);
      expect(exists.command).toEqual(["ip", "-batch", "-"]);

      const noNs = (await applyBatch(ip, [
        linkSet({ name: link("e5p"), netns: `${NS_PREFIX}-missing` }),
      ]).catch((e: unknown) => e)) as IpCommandError;
      expect(noNs.code).toBe("NETNS_NOT_FOUND");
      const noDev = (await applyBatch(ip, [linkSet({ name: link("zz"), up: true })], { netns: ns(5) }).catch(
        (e: unknown) => e,
      )) as IpCommandError;
      expect(noDev.code).toBe("NOT_FOUND");
      expect(noDev.command).toEqual(["ip", "-n", ns(5), "-batch", "-"]);
    });

    it("leaves no namespace or link behind (runs last)", () => {
      cleanup();
      expect(ourNamespaces()).toEqual([]);
      expect(ourLinks()).toEqual([]);
    });
  },
  { commands: ["ip", "ping"] },
);
