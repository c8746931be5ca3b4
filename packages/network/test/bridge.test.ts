import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, get } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describePrivileged, findLeaks } from "@strata/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Attachment, BridgeNetwork } from "../src/index.js";
import { eventually, inNetns, newNetwork, Processes, run, testNetworkOptions } from "./helpers.js";

const opts = testNetworkOptions();
let network: BridgeNetwork;
const procs = new Processes();
const www = mkdtempSync(join(tmpdir(), "strata-test-network-www-"));
writeFileSync(join(www, "index.html"), "hello from the container\n");
// The "outside host": its own namespace wired to the host by its own veth pair.
const outside = {
  ns: `${opts.netnsPrefix}out`,
  host: `st${opts.rand}ho`,
  hostIp: `10.214.${opts.rand8}.1`,
  ip: `10.214.${opts.rand8}.2`,
};
const hostPort = 20000 + opts.rand8 * 10;

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: 3000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve(body));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on("error", reject);
  });
}

describePrivileged(
  "bridge network on the real kernel",
  () => {
    const attached: Attachment[] = [];
    beforeAll(async () => {
      network = newNetwork(opts);
      await run("ip", ["netns", "add", outside.ns]);
      await run("ip", [
        "link",
        "add",
        outside.host,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        outside.ns,
      ]);
      await run("ip", ["addr", "add", `${outside.hostIp}/30`, "dev", outside.host]);
      await run("ip", ["link", "set", outside.host, "up"]);
      for (const cmd of [
        ["link", "set", "lo", "up"],
        ["addr", "add", `${outside.ip}/30`, "dev", "eth0"],
        ["link", "set", "eth0", "up"],
        ["route", "add", "default", "via", outside.hostIp],
      ])
        await run("ip", ["-n", outside.ns, ...cmd]);
    });

    afterAll(async () => {
      await procs.stopAll();
      for (const a of attached) await network.detach(a.containerId).catch(() => {});
      await run("ip", ["link", "del", outside.host]).catch(() => {});
      await run("ip", ["netns", "del", outside.ns]).catch(() => {});
      await network.gc({ isAlive: () => false }).catch(() => {});
      await network.destroy().catch(() => {});
      rmSync(www, { recursive: true, force: true });
      rmSync(opts.stateDir as string, { recursive: true, force: true });
    });

    it("attaches containers: ip netns list shows them, each has lo and eth0 with its address and a default route", async () => {
      for (const id of ["alpha", "beta", "gamma"]) {
        attached.push(
          await network.attach({
            containerId: id,
            hostname: id,
            publish: id === "gamma" ? [`${hostPort}:8080`] : [],
          }),
        );
      }
      const [a, b] = attached as [Attachment, Attachment];
      expect(a.address).not.toBe(b.address);
      expect(a.gateway).toBe(`10.213.${opts.rand8}.1`);
      expect(a.hostsEntries).toEqual([`${a.address}\talpha`]);
      expect(a.hostInterface.length).toBeLessThanOrEqual(15);
      const { stdout: list } = await run("ip", ["netns", "list"]);
      for (const x of attached) expect(list).toContain(x.netns);
      const links = await inNetns(a.netns, ["ip", "-o", "link"]);
      expect(links).toMatch(/\blo:/);
      expect(links).toMatch(/\beth0@/);
      expect(await inNetns(a.netns, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"])).toContain(a.cidr);
      expect(await inNetns(a.netns, ["ip", "route"])).toContain(`default via ${a.gateway} dev eth0`);
      const { stdout: master } = await run("ip", ["-o", "link", "show", "dev", a.hostInterface]);
      expect(master).toContain(`master ${opts.bridge}`);
    });

    it("two containers on the bridge reach each other: ping and TCP", async () => {
      const [a, b] = attached as [Attachment, Attachment];
      await inNetns(a.netns, ["ping", "-c", "1", "-W", "2", b.address]);
      await inNetns(b.netns, ["ping", "-c", "1", "-W", "2", a.address]);
      procs.start([
        "ip",
        "netns",
        "exec",
        b.netns,
        "busybox",
        "nc",
        "-l",
        "-p",
        "7000",
        "-e",
        "echo",
        "tcp-ok",
      ]);
      const out = await eventually(() => inNetns(a.netns, ["busybox", "nc", "-w", "2", b.address, "7000"]));
      expect(out.trim()).toBe("tcp-ok");
    });

    it("pod-to-pod: a client in one container reaches an HTTP server in another", async () => {
      const [a, b] = attached as [Attachment, Attachment];
      procs.start(["ip", "netns", "exec", b.netns, "busybox", "httpd", "-f", "-p", "8080", "-h", www]);
      const body = await eventually(() =>
        inNetns(a.netns, ["busybox", "wget", "-O", "-", `http://${b.address}:8080/`]),
      );
      expect(body).toBe("hello from the container\n");
    });

    it("external-to-local-service: a published port reaches the server from an outside host and from 127.0.0.1", async () => {
      const c = attached[2] as Attachment;
      procs.start(["ip", "netns", "exec", c.netns, "busybox", "httpd", "-f", "-p", "8080", "-h", www]);
      await eventually(() => inNetns(c.netns, ["busybox", "wget", "-O", "-", "http://127.0.0.1:8080/"]));
      const fromOutside = await eventually(() =>
        inNetns(outside.ns, ["busybox", "wget", "-O", "-", `http://${outside.hostIp}:${hostPort}/`]),
      );
      expect(fromOutside).toBe("hello from the container\n");
      expect(await eventually(() => httpGet(`http://127.0.0.1:${hostPort}/`))).toBe(
        "hello from the container\n",
      );
    });

    it("outbound masquerade: a server outside sees the host's address, not the container's", async () => {
      const a = attached[0] as Attachment;
      const script =
        "require('http').createServer((q,s)=>s.end(q.socket.remoteAddress.replace('::ffff:',''))).listen(8090,'0.0.0.0')";
      procs.start(["ip", "netns", "exec", outside.ns, process.execPath, "-e", script]);
      const seen = await eventually(() =>
        inNetns(a.netns, ["busybox", "wget", "-O", "-", `http://${outside.ip}:8090/`]),
      );
      expect(seen).toBe(outside.hostIp);
    });

    it("a container reaches a service the host runs on the bridge gateway address", async () => {
      const a = attached[0] as Attachment;
      const server = createServer((_req, res) => res.end("host service\n"));
      await new Promise<void>((resolve) => server.listen(0, a.gateway, resolve));
      try {
        const { port } = server.address() as AddressInfo;
        const body = await eventually(() =>
          inNetns(a.netns, ["busybox", "wget", "-O", "-", `http://${a.gateway}:${port}/`]),
        );
        expect(body).toBe("host service\n");
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it("wires a namespace the caller made, and detach leaves that namespace in place", async () => {
      const ns = `${opts.netnsPrefix}given`;
      await run("ip", ["netns", "add", ns]);
      try {
        const g = await network.attach({ containerId: "given", netns: ns });
        expect(g).toMatchObject({ netns: ns, createdNetns: false, netnsPath: `/run/netns/${ns}` });
        await inNetns(ns, ["ping", "-c", "1", "-W", "2", (attached[0] as Attachment).address]);
        await network.detach("given");
        const { stdout: list } = await run("ip", ["netns", "list"]);
        expect(list).toContain(ns);
        expect(await inNetns(ns, ["ip", "-o", "link"])).not.toContain("eth0");
      } finally {
        await run("ip", ["netns", "del", ns]);
      }
    });

    it("refuses a host port another container already publishes", async () => {
      await expect(
        network.attach({ containerId: "delta", publish: [`${hostPort}:80`] }),
      ).rejects.toMatchObject({
        code: "PORT_IN_USE",
      });
      expect((await network.leases()).map((l) => l.owner).sort()).toEqual(["alpha", "beta", "gamma"]);
    });

    it("detach removes the veth, the namespace, the DNAT rules and the lease", async () => {
      await procs.stopAll();
      const c = attached.pop() as Attachment;
      await network.detach(c.containerId);
      await network.detach(c.containerId); // idempotent
      const { stdout: links } = await run("ip", ["-o", "link"]);
      expect(links).not.toContain(c.hostInterface);
      const { stdout: list } = await run("ip", ["netns", "list"]);
      expect(list).not.toContain(c.netns);
      const { stdout: rules } = await run("iptables", ["-w", "-t", "nat", "-S", network.chains.dnat]);
      expect(rules).not.toContain(`strata:${c.containerId}`);
      expect((await network.leases()).map((l) => l.owner).sort()).toEqual(["alpha", "beta"]);
      for (const a of attached.splice(0)) await network.detach(a.containerId);
      expect(await network.leases()).toEqual([]);
    });

    it("leaves nothing with the test prefix once the network is destroyed", async () => {
      await network.destroy();
      await run("ip", ["link", "del", outside.host]).catch(() => {});
      await run("ip", ["netns", "del", outside.ns]).catch(() => {});
      const leaks = (await findLeaks(opts.netnsPrefix, { linkPrefix: `st${opts.rand}` })).filter(
        (l) => l.kind !== "tmp",
      );
      expect(leaks).toEqual([]);
      const { stdout: nat } = await run("iptables-save", ["-t", "nat"]);
      const { stdout: filter } = await run("iptables-save", ["-t", "filter"]);
      expect(nat + filter).not.toContain(`-T${opts.rand}`);
      const { stdout: br } = await run("ip", ["-o", "link"]);
      expect(br).not.toContain(opts.bridge as string);
    });
  },
  { commands: ["ip", "iptables", "iptables-restore", "iptables-save", "busybox"] },
);
