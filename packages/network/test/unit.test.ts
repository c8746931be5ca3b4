import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BridgeNetwork,
  bridgeAttacher,
  chainNames,
  dnatRules,
  hostInterfaceName,
  type IptablesRunner,
  netnsName,
  parseNetworkMode,
  parsePublish,
  restoreScript,
  type SysctlWriter,
  sysctlCommand,
} from "../src/index.js";
import { ruleOwner } from "../src/rules.js";

describe("parsePublish", () => {
  it.each([
    ["8080:80", { hostPort: 8080, containerPort: 80, protocol: "tcp" }],
    ["53:53/udp", { hostPort: 53, containerPort: 53, protocol: "udp" }],
    ["127.0.0.1:8443:443/tcp", { hostPort: 8443, containerPort: 443, protocol: "tcp", hostIp: "127.0.0.1" }],
  ])("parses %s", (spec, expected) => {
    expect(parsePublish(spec)).toEqual(expected);
  });
  it.each(["80", "0:80", "8080:70000", "8080:80/sctp", "a:80", "::1:80:80", "8080-8081:80", "1.2.3:80:80"])(
    "rejects %s with INVALID_PUBLISH",
    (spec) => {
      expect(() => parsePublish(spec)).toThrow(expect.objectContaining({ code: "INVALID_PUBLISH" }));
    },
  );
});

describe("parseNetworkMode", () => {
  it.each([
    [undefined, { kind: "bridge" }],
    ["none", { kind: "none" }],
    ["host", { kind: "host" }],
    ["bridge", { kind: "bridge" }],
    ["ns:web1", { kind: "ns", name: "web1" }],
  ])("parses %s", (value, expected) => {
    expect(parseNetworkMode(value)).toEqual(expected);
  });
  it.each(["ns:", "ns:a/b", "overlay", "Bridge"])("rejects %s with INVALID_NETWORK_MODE", (value) => {
    expect(() => parseNetworkMode(value)).toThrow(expect.objectContaining({ code: "INVALID_NETWORK_MODE" }));
  });
});

describe("names", () => {
  it.each([
    ["strata", "0123456789abcdef0123", "strata012345678"],
    ["st1a2b", "0123456789abcdef0123", "st1a2b012345678"],
    ["strata", "web-1", undefined],
  ])("host veth name of prefix %s and id %s: 15 characters, deterministic", (prefix, id, expected) => {
    const name = hostInterfaceName(prefix, id);
    expect(name).toHaveLength(15);
    expect(name.startsWith(prefix)).toBe(true);
    if (expected !== undefined) expect(name).toBe(expected);
    expect(hostInterfaceName(prefix, id)).toBe(name);
  });
  it("refuses a veth prefix that leaves too little room", () => {
    expect(() => hostInterfaceName("abcdefghijk", "x")).toThrow(
      expect.objectContaining({ code: "INVALID_OPTION" }),
    );
  });
  it("shortens a 64-hex container id in the namespace name", () => {
    expect(netnsName("strata-", "a".repeat(64))).toBe(`strata-${"a".repeat(12)}`);
    expect(netnsName("strata-", "web")).toBe("strata-web");
  });
  it.each(["", "-x", "a b", "a/b", "x".repeat(129)])("refuses container id %j", async (id) => {
    const net = new BridgeNetwork({ stateDir: dir, ...recorders().options });
    await expect(net.attach({ containerId: id })).rejects.toMatchObject({ code: "INVALID_CONTAINER_ID" });
  });
});

describe("rules", () => {
  it("limits the chain suffix so names stay within 28 characters", () => {
    expect(chainNames("-Tab12")).toEqual({
      postrouting: "STRATA-POSTROUTING-Tab12",
      dnat: "STRATA-DNAT-Tab12",
      forward: "STRATA-FORWARD-Tab12",
    });
    expect(() => chainNames("x".repeat(11))).toThrow(expect.objectContaining({ code: "INVALID_OPTION" }));
  });
  it("writes DNAT rules marked with the container id, and finds the owner back in iptables-save output", () => {
    const rules = dnatRules(chainNames(), "web1", "10.77.0.2", [
      parsePublish("8080:80"),
      parsePublish("127.0.0.1:53:53/udp"),
    ]);
    expect(restoreScript("-A", rules)).toBe(
      "*nat\n" +
        "-A STRATA-DNAT -p tcp -m tcp --dport 8080 -m comment --comment strata:web1 -j DNAT --to-destination 10.77.0.2:80\n" +
        "-A STRATA-DNAT -d 127.0.0.1/32 -p udp -m udp --dport 53 -m comment --comment strata:web1 -j DNAT --to-destination 10.77.0.2:53\n" +
        "COMMIT\n",
    );
    expect(ruleOwner('-A STRATA-DNAT -p tcp -m comment --comment "strata:web1" -j DNAT')).toBe("web1");
    expect(ruleOwner("-A STRATA-DNAT -p tcp -j DNAT")).toBeUndefined();
  });
  it("spells sysctl keys with dots unless an interface name has one", () => {
    expect(sysctlCommand("net/ipv4/ip_forward", "1")).toBe("sysctl -w net.ipv4.ip_forward=1");
    expect(sysctlCommand("net/ipv4/conf/br.10/route_localnet", "1")).toBe(
      "sysctl -w net/ipv4/conf/br.10/route_localnet=1",
    );
  });
});

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "strata-test-network-unit-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Recording runners: nothing runs; `ip` reports no bridge yet, iptables-save reports empty tables. */
function recorders() {
  const calls: string[] = [];
  const sysctl: Record<string, string> = {};
  const ip = {
    async run(args: readonly string[], options?: { input?: string }) {
      calls.push(
        `ip ${args.join(" ")}${options?.input ? ` <<${options.input.trim().replace(/\n/g, " | ")}` : ""}`,
      );
      if (args.includes("show")) return { exitCode: 1, stdout: "", stderr: 'Device "x" does not exist.\n' };
      return { exitCode: 0, stdout: "", stderr: "" };
    },
  };
  const iptables: IptablesRunner = {
    async iptables(args) {
      calls.push(`iptables ${args.join(" ")}`);
      return { exitCode: 0, stdout: "", stderr: "" };
    },
    async restore(input) {
      calls.push(`iptables-restore <<${input.trim().replace(/\n/g, " | ")}`);
      return { exitCode: 0, stdout: "", stderr: "" };
    },
    async save(table) {
      calls.push(`iptables-save -t ${table}`);
      return { exitCode: 0, stdout: `*${table}\nCOMMIT\n`, stderr: "" };
    },
  };
  const sysctlWriter: SysctlWriter = {
    async read(key) {
      return sysctl[key] ?? "0";
    },
    async write(key, value) {
      calls.push(`sysctl ${key}=${value}`);
      sysctl[key] = value;
    },
  };
  return { calls, options: { ip, iptables, sysctl: sysctlWriter } };
}

describe("BridgeNetwork with recorded effects", () => {
  it("sets up the bridge, sysctls and chains once, then wires a container in two ip spawns and one iptables-restore", async () => {
    const { calls, options } = recorders();
    const explained: string[] = [];
    const net = new BridgeNetwork({
      ...options,
      stateDir: dir,
      subnet: "10.77.0.0/24",
      onCommand: (line) => explained.push(line),
    });
    const a = await net.attach({
      containerId: "web1",
      hostname: "web",
      aliases: ["web1"],
      publish: ["8080:80"],
    });
    expect(a).toMatchObject({
      address: "10.77.0.2",
      gateway: "10.77.0.1",
      cidr: "10.77.0.2/24",
      interface: "eth0",
      netns: "strata-web1",
      netnsPath: "/run/netns/strata-web1",
      createdNetns: true,
      hostsEntries: ["10.77.0.2\tweb web1"],
    });
    const setup = calls.indexOf("sysctl net/ipv4/ip_forward=1");
    expect(setup).toBeGreaterThan(0);
    expect(calls.slice(setup + 1, setup + 3)).toEqual(["iptables-save -t nat", "iptables-save -t filter"]);
    expect(calls[setup + 3]).toMatch(
      /^iptables-restore <<\*nat \| :STRATA-POSTROUTING - \[0:0\] \| :STRATA-DNAT - \[0:0\]/,
    );
    expect(calls.slice(setup + 4)).toEqual([
      `ip -batch - <<netns add strata-web1 | link add ${a.hostInterface} type veth peer name eth0 netns strata-web1 | link set dev ${a.hostInterface} master strata0 up`,
      "iptables-restore <<*nat | -A STRATA-DNAT -p tcp -m tcp --dport 8080 -m comment --comment strata:web1 -j DNAT --to-destination 10.77.0.2:80 | COMMIT",
      "ip -n strata-web1 -batch - <<link set dev lo up | addr add 10.77.0.2/24 dev eth0 | link set dev eth0 up | route add default via 10.77.0.1 dev eth0",
    ]);
    expect(explained).toEqual(
      expect.arrayContaining([
        "ip link add strata0 type bridge",
        "ip addr add 10.77.0.1/24 dev strata0",
        "sysctl -w net.ipv4.conf.strata0.route_localnet=1",
        "sysctl -w net.ipv4.ip_forward=1",
        "iptables -t nat -N STRATA-DNAT",
        "iptables -t nat -A STRATA-POSTROUTING -s 10.77.0.0/24 ! -o strata0 -j MASQUERADE",
        "iptables -t nat -A STRATA-POSTROUTING -s 127.0.0.0/8 -o strata0 -j MASQUERADE",
        "iptables -t nat -I PREROUTING -m addrtype --dst-type LOCAL -j STRATA-DNAT",
        "iptables -t nat -I OUTPUT -m addrtype --dst-type LOCAL -j STRATA-DNAT",
        "iptables -t nat -A STRATA-DNAT -p tcp -m tcp --dport 8080 -m comment --comment strata:web1 -j DNAT --to-destination 10.77.0.2:80",
        `ip link add ${a.hostInterface} type veth peer name eth0 netns strata-web1`,
        "ip -n strata-web1 route add default via 10.77.0.1 dev eth0",
      ]),
    );

    // A second container: no more set-up work, and no iptables when nothing is published.
    calls.length = 0;
    await net.attach({ containerId: "web2" });
    expect(calls.filter((c) => !c.startsWith("ip"))).toEqual([]);
    expect(calls).toHaveLength(2);

    // Detach: exact rule deletion, then one forced ip batch for the veth and the namespace.
    calls.length = 0;
    await net.detach("web1");
    expect(calls).toEqual([
      "iptables-restore <<*nat | -D STRATA-DNAT -p tcp -m tcp --dport 8080 -m comment --comment strata:web1 -j DNAT --to-destination 10.77.0.2:80 | COMMIT",
      `ip -force -batch - <<link del dev ${a.hostInterface} | netns del strata-web1`,
    ]);
    expect((await net.leases()).map((l) => l.owner)).toEqual(["web2"]);
  });

  it("refuses a second attach of the same container and a host port in use, before touching the kernel", async () => {
    const { calls, options } = recorders();
    const net = new BridgeNetwork({ ...options, stateDir: dir, subnet: "10.77.0.0/24" });
    await net.attach({ containerId: "a", publish: ["8080:80"] });
    calls.length = 0;
    await expect(net.attach({ containerId: "a" })).rejects.toMatchObject({ code: "ALREADY_ATTACHED" });
    await expect(net.attach({ containerId: "b", publish: ["8080:81"] })).rejects.toMatchObject({
      code: "PORT_IN_USE",
    });
    await expect(net.attach({ containerId: "c", publish: ["1:2", "1:3"] })).rejects.toMatchObject({
      code: "INVALID_PUBLISH",
    });
    await expect(net.attach({ containerId: "d", hostname: "-bad-" })).rejects.toMatchObject({
      code: "INVALID_HOSTNAME",
    });
    expect(calls).toEqual([]);
  });

  it("undoes a half-done attach when a step fails", async () => {
    const { calls, options } = recorders();
    const failing = {
      async run(args: readonly string[], o?: { input?: string }) {
        if (args[0] === "-n") {
          calls.push(`ip ${args.join(" ")}`);
          return {
            exitCode: 2,
            stdout: "",
            stderr: "Error: Nexthop has invalid gateway.\nCommand failed -:4\n",
          };
        }
        return options.ip.run(args, o);
      },
    };
    const net = new BridgeNetwork({ ...options, ip: failing, stateDir: dir, subnet: "10.77.0.0/24" });
    await expect(net.attach({ containerId: "x" })).rejects.toMatchObject({
      code: "UNREACHABLE",
      line: "-n strata-x route add default via 10.77.0.1 dev eth0",
    });
    expect(calls.at(-1)).toMatch(/^ip -force -batch - <<link del dev strata\w+ \| netns del strata-x$/);
    expect(await net.leases()).toEqual([]);
  });

  it("adapts to the container package's attacher seam", async () => {
    const { options } = recorders();
    const net = new BridgeNetwork({ ...options, stateDir: dir, subnet: "10.77.0.0/24" });
    const attacher = bridgeAttacher(net);
    const attachment = await attacher.attach({
      containerId: "0123456789abcdef",
      name: "web",
      mode: "bridge",
      hostname: "0123456789ab",
    });
    expect(attachment).toMatchObject({
      mode: "bridge",
      netns: "/run/netns/strata-0123456789abcdef",
      hosts: ["10.77.0.2\t0123456789ab web"],
      data: { containerId: "0123456789abcdef", address: "10.77.0.2", gateway: "10.77.0.1" },
    });
    await attacher.detach(JSON.parse(JSON.stringify(attachment)));
    await attacher.detach(attachment); // again: idempotent
    expect(await net.leases()).toEqual([]);
  });
});
