import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { BridgeNetwork, type BridgeNetworkOptions } from "@strata/network";
import { describePrivileged } from "@strata/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ContainerRuntime } from "../src/index.js";
import { type Fixture, PREFIX, runCapture, setup } from "./fixture.js";

const exec = promisify(execFile);

const monitorCommand = [
  process.execPath,
  "--import",
  fileURLToPath(new URL("../../../apps/run/bin/register.js", import.meta.url)),
  fileURLToPath(new URL("../src/monitor.ts", import.meta.url)),
];

const gone = (path: string) =>
  access(path).then(
    () => false,
    () => true,
  );

async function until(check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function natRules(): Promise<string> {
  return (await exec("iptables-save", ["-t", "nat"])).stdout;
}

async function linkExists(name: string): Promise<boolean> {
  return exec("ip", ["link", "show", "dev", name]).then(
    () => true,
    () => false,
  );
}

describePrivileged(
  "bridge networking (the default network)",
  () => {
    let f: Fixture;
    let runtime: ContainerRuntime;
    let bridge: BridgeNetworkOptions;
    const rand = randomBytes(2).toString("hex");
    const hostPort = 20_000 + (randomBytes(2).readUInt16BE(0) % 20_000);
    beforeAll(async () => {
      f = await setup("bridge");
      // a bridge, subnet, chains, veth and namespace names of this test file only: never strata0
      bridge = {
        bridge: `st-ct-${rand}`,
        subnet: `10.214.${16 + ((randomBytes(1)[0] as number) % 200)}.0/24`,
        chainSuffix: `-C${rand}`,
        vethPrefix: `stc${rand}`,
        netnsPrefix: `${PREFIX}-${rand}-`,
      };
      // no defaultMode: the runtime's default (bridge) is what is tested
      runtime = await ContainerRuntime.open({
        store: f.store,
        cgroupParent: f.cgroupParent,
        monitorCommand,
        network: { bridge },
      });
    });
    afterAll(async () => {
      await runtime?.gc().catch(() => undefined);
      if (f) {
        await new BridgeNetwork({
          ...bridge,
          stateDir: join(f.store.root, "network", bridge.bridge as string),
        })
          .destroy()
          .catch(() => undefined);
      }
      await f?.stop();
    });

    it("containers reach each other by address, a published port is reachable on the host's loopback, /etc/hosts names the address, and nothing remains", async () => {
      const web = await runtime.runDetached({
        image: f.busybox,
        name: "strata-test-web",
        hostname: "web",
        publish: [`127.0.0.1:${hostPort}:80`],
        args: [
          "/bin/sh",
          "-c",
          "mkdir /www && echo served-by-web > /www/index.html && exec httpd -f -p 80 -h /www",
        ],
      });
      const state = await runtime.inspect(web.id);
      expect(state.network).toMatchObject({
        mode: "bridge",
        data: { containerId: web.id, bridge: bridge.bridge },
      });
      const data = state.network?.data as { address: string; hostInterface: string; netns: string };
      expect(state.monitor?.pid).not.toBe(process.pid);

      // the host, through the DNAT rule on its loopback
      await until(
        async () => (await (await fetch(`http://127.0.0.1:${hostPort}/`)).text()) === "served-by-web\n",
      );

      // another container (foreground, default network) by address; its own /etc/hosts and hostname
      const client = await runCapture(runtime, {
        image: f.busybox,
        rm: true,
        hostname: "client",
        args: [
          "/bin/sh",
          "-c",
          `wget -q -O - http://${data.address}/; hostname; cat /etc/hosts; ip -4 -o addr show dev eth0`,
        ],
      });
      expect(client.exitCode, client.stderr).toBe(0);
      const lines = client.stdout.split("\n");
      expect(lines.slice(0, 2)).toEqual(["served-by-web", "client"]);
      const own = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(client.stdout)?.[1] as string;
      expect(own).toBeDefined();
      expect(lines).toContain(`${own}\tclient`);
      expect(client.stdout).not.toMatch(/127\.0\.1\.1/);
      expect(client.stdout).toContain("127.0.0.1\tlocalhost");

      // the detached one's files: its address and hostname (and its name as an alias: a valid hostname)
      const hosts = await readFile(join(f.store.root, "containers", web.id, "hosts"), "utf8");
      expect(hosts).toContain(`${data.address}\tweb strata-test-web\n`);
      expect(hosts).not.toContain("127.0.1.1");
      expect(await readFile(join(f.store.root, "containers", web.id, "hostname"), "utf8")).toBe("web\n");
      expect(await natRules()).toContain(`strata:${web.id}`);

      await runtime.stop(web.id, { timeoutMs: 2000 });
      await runtime.remove(web.id);
      expect(await linkExists(data.hostInterface)).toBe(false);
      expect(await gone(join("/run/netns", data.netns))).toBe(true);
      expect(await natRules()).not.toContain(`strata:${web.id}`);
      expect(await natRules()).not.toContain(`strata:${client.id}`);
      const leases = JSON.parse(
        await readFile(join(f.store.root, "network", bridge.bridge as string, "leases.json"), "utf8").catch(
          () => "[]",
        ),
      );
      expect(JSON.stringify(leases)).not.toContain(web.id);
      expect(JSON.stringify(leases)).not.toContain(client.id);
    });

    it("a foreground container publishes a port; an exit leaves no veth, namespace, rule or lease", async () => {
      const port = hostPort + 1;
      let fetched = "";
      const r = await runCapture(runtime, {
        image: f.busybox,
        rm: true,
        publish: [`127.0.0.1:${port}:8080`],
        args: [
          "/bin/sh",
          "-c",
          "mkdir /www && echo fg > /www/index.html && httpd -p 8080 -h /www && read line",
        ],
        interactive: true,
        onStart: (c) => {
          void until(async () => {
            fetched = await (await fetch(`http://127.0.0.1:${port}/`)).text();
            return true;
          }).finally(() => c.stdin?.end("done\n"));
        },
      });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(fetched).toBe("fg\n");
      const net = new BridgeNetwork({
        ...bridge,
        stateDir: join(f.store.root, "network", bridge.bridge as string),
      });
      expect(await net.leases()).toEqual([]);
      expect(await linkExists(net.hostInterfaceOf(r.id))).toBe(false);
      expect(await gone(join("/run/netns", net.netnsOf(r.id)))).toBe(true);
      expect(await natRules()).not.toContain(`strata:${r.id}`);
    });

    it("gc frees the network of a container whose monitor was killed", async () => {
      const c = await runtime.runDetached({ image: f.busybox, rm: true, args: ["sleep", "60"] });
      const state = await runtime.inspect(c.id);
      const data = state.network?.data as { hostInterface: string; netns: string };
      process.kill(state.monitor?.pid as number, "SIGKILL");
      await until(async () => gone(`/proc/${c.pid}/cmdline`));
      const report = await runtime.gc();
      expect(report.removed).toEqual([c.id]);
      expect(await linkExists(data.hostInterface)).toBe(false);
      expect(await gone(join("/run/netns", data.netns))).toBe(true);
    });

    it("-p without a bridge, or a bad -p, is rejected before anything is created", async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ network: "none", publish: ["8080:80"] }, "INVALID_OPTION"],
        [{ publish: ["99999:80"] }, "INVALID_PUBLISH"],
      ];
      for (const [options, code] of cases) {
        const error = await runtime
          .run({ image: f.busybox, args: ["true"], ...options })
          .catch((e: unknown) => e);
        expect((error as { code?: string }).code, JSON.stringify(options)).toBe(code);
      }
      expect(await runtime.list({ all: true })).toEqual([]);
    });
  },
  { commands: ["mount", "umount", "docker-registry", "ip", "iptables-save", "iptables-restore"] },
);
