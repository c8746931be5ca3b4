import { describe, expect, it } from "vitest";
import {
  addrAdd,
  applyBatch,
  applyNetworkPlan,
  assertLinkName,
  bridgeAdd,
  bridgePort,
  classifyIpError,
  explainPlan,
  findLink,
  IpCommandError,
  type IpResult,
  type IpRunner,
  linkSet,
  listAddresses,
  listLinks,
  listRoutes,
  parseCidr,
  planContainerNetwork,
  routeAdd,
  type VethError,
  vethAdd,
} from "../src/index.js";

/** Records each `ip` spawn (args + batch text) and answers with queued results. */
function recorder(results: Partial<IpResult>[] = []) {
  const calls: { args: string[]; input?: string }[] = [];
  const runner: IpRunner = {
    async run(args, options = {}) {
      calls.push({ args: [...args], ...(options.input === undefined ? {} : { input: options.input }) });
      const r = results.shift() ?? {};
      return { exitCode: r.exitCode ?? 0, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
    },
  };
  return { calls, runner };
}

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return (error as VethError).code;
  }
  return "no error";
};

describe("validation", () => {
  it.each([
    ["", "INVALID_LINK_NAME"],
    ["a234567890123456", "INVALID_LINK_NAME"],
    ["a b", "INVALID_LINK_NAME"],
    ["a/b", "INVALID_LINK_NAME"],
    ["a:1", "INVALID_LINK_NAME"],
    ["..", "INVALID_LINK_NAME"],
    ["-x", "INVALID_LINK_NAME"],
    ["eth%d", "INVALID_LINK_NAME"],
    ["a23456789012345", "no error"],
    ["eth0", "no error"],
    ["br-1.2_x", "no error"],
  ])("link name %j -> %s", (name, expected) => {
    expect(code(() => assertLinkName(name))).toBe(expected);
  });

  it.each([
    ["10.0.0.2/24", { address: "10.0.0.2", prefix: 24, family: 4 }],
    ["fd00::2/64", { address: "fd00::2", prefix: 64, family: 6 }],
  ])("parses %s", (cidr, parsed) => {
    expect(parseCidr(cidr)).toEqual(parsed);
  });

  it.each(["10.0.0.2", "10.0.0.300/24", "10.0.0.2/33", "fd00::2/129", "x/8", ""])(
    "rejects address %j",
    (cidr) => {
      expect(code(() => parseCidr(cidr))).toBe("INVALID_ADDRESS");
    },
  );

  it.each([
    [() => vethAdd({ name: "a", peer: "b", mac: "zz:00:00:00:00:00" }), "INVALID_MAC"],
    [() => vethAdd({ name: "a", peer: "b", mac: "01:00:00:00:00:00" }), "INVALID_MAC"],
    [() => vethAdd({ name: "a", peer: "b", mtu: 67 }), "INVALID_MTU"],
    [() => vethAdd({ name: "a", peer: "a" }), "INVALID_LINK_NAME"],
    [() => linkSet({ name: "a", netns: "x/y" }), "INVALID_NETNS_NAME"],
    [() => routeAdd({ to: "default", via: "nope" }), "INVALID_ADDRESS"],
    [() => planContainerNetwork({ netns: "n", hostName: "a23456789012345" }), "INVALID_PLAN"],
    [() => planContainerNetwork({ netns: "n", hostName: "h", hairpin: true }), "INVALID_PLAN"],
    [() => planContainerNetwork({ netns: "n", hostName: "h", gateway: "fd00::1" }), "INVALID_ADDRESS"],
  ])("builder %# rejects with %s", (fn, expected) => {
    expect(code(fn)).toBe(expected);
  });
});

describe("command builders", () => {
  it.each([
    [
      vethAdd({ name: "h0", peer: "p0", mtu: 1400, mac: "02:00:00:00:00:01", peerMac: "02:00:00:00:00:02" }),
      "link add h0 mtu 1400 address 02:00:00:00:00:01 type veth peer name p0 mtu 1400 address 02:00:00:00:00:02",
    ],
    [vethAdd({ name: "h0", peer: "p0", peerNetns: "ns1" }), "link add h0 type veth peer name p0 netns ns1"],
    [linkSet({ name: "p0", netns: "ns1", rename: "eth0" }), "link set dev p0 netns ns1 name eth0"],
    [linkSet({ name: "h0", master: null, up: false }), "link set dev h0 nomaster down"],
    [bridgeAdd({ name: "br0", mtu: 9000 }), "link add br0 mtu 9000 type bridge"],
    [addrAdd({ dev: "eth0", address: "fd00::2/64", nodad: true }), "addr add fd00::2/64 dev eth0 nodad"],
    [addrAdd({ dev: "eth0", address: "10.0.0.2/24", nodad: true }), "addr add 10.0.0.2/24 dev eth0"],
    [routeAdd({ to: "default", via: "10.0.0.1", dev: "eth0" }), "route add default via 10.0.0.1 dev eth0"],
    [routeAdd({ to: "default", via: "fd00::1" }), "route add ::/0 via fd00::1"],
    [
      routeAdd({ to: "10.0.0.1/32", dev: "eth0", scope: "link" }),
      "route add 10.0.0.1/32 dev eth0 scope link",
    ],
  ])("%j", (command, line) => {
    expect(command.join(" ")).toBe(line);
  });

  it("bridge port with hairpin is two commands", () => {
    expect(bridgePort({ dev: "h0", bridge: "br0", hairpin: true }).map((c) => c.join(" "))).toEqual([
      "link set dev h0 master br0",
      "link set dev h0 type bridge_slave hairpin on",
    ]);
  });
});

describe("container network plan", () => {
  const plan = planContainerNetwork({
    netns: "ctr1",
    hostName: "vh1",
    mtu: 1450,
    mac: "02:42:ac:11:00:02",
    addresses: ["10.88.0.2/32", "fd00:88::2/64"],
    hostAddresses: ["10.88.0.1/32"],
    gateway: "10.88.0.1",
    gateway6: "fd00:88::1",
    pointToPoint: true,
  });

  it("records exactly two spawns with the whole set-up as batches", async () => {
    const { runner, calls } = recorder();
    await applyNetworkPlan(runner, plan);
    expect(calls).toEqual([
      {
        args: ["-batch", "-"],
        input:
          "link add vh1 mtu 1450 type veth peer name vh1p mtu 1450 address 02:42:ac:11:00:02\n" +
          "link set dev vh1p netns ctr1 name eth0\n" +
          "addr add 10.88.0.1/32 dev vh1\n" +
          "link set dev vh1 up\n" +
          "route add 10.88.0.2/32 dev vh1 scope link\n" +
          "route add fd00:88::2/128 dev vh1 scope link\n",
      },
      {
        args: ["-n", "ctr1", "-batch", "-"],
        input:
          "link set dev lo up\n" +
          "addr add 10.88.0.2/32 dev eth0\n" +
          "addr add fd00:88::2/64 dev eth0 nodad\n" +
          "link set dev eth0 up\n" +
          "route add 10.88.0.1/32 dev eth0 scope link\n" +
          "route add default via 10.88.0.1 dev eth0\n" +
          "route add fd00:88::1/128 dev eth0 scope link\n" +
          "route add ::/0 via fd00:88::1 dev eth0\n",
      },
    ]);
  });

  it("explains itself as the guide's ip commands", () => {
    expect(explainPlan(plan).slice(0, 2)).toEqual([
      "ip link add vh1 mtu 1450 type veth peer name vh1p mtu 1450 address 02:42:ac:11:00:02",
      "ip link set dev vh1p netns ctr1 name eth0",
    ]);
    expect(explainPlan(plan).at(-1)).toBe("ip -n ctr1 route add ::/0 via fd00:88::1 dev eth0");
  });

  it("a bridge plan attaches the host end with hairpin", () => {
    const p = planContainerNetwork({
      netns: "c",
      hostName: "vh2",
      bridge: "br0",
      hairpin: true,
      addresses: ["10.0.0.3/24"],
    });
    expect(p.host.map((c) => c.join(" "))).toEqual([
      "link add vh2 type veth peer name vh2p",
      "link set dev vh2p netns c name eth0",
      "link set dev vh2 master br0",
      "link set dev vh2 type bridge_slave hairpin on",
      "link set dev vh2 up",
    ]);
  });
});

describe("errors from ip", () => {
  it.each([
    ["RTNETLINK answers: File exists\n", "ALREADY_EXISTS"],
    ['Error: argument "x" is wrong: Invalid "netns" value\n', "NETNS_NOT_FOUND"],
    ['Cannot find device "nope"\n', "NOT_FOUND"],
    ['Device "nope" does not exist.\n', "NOT_FOUND"],
    ["RTNETLINK answers: Operation not permitted\n", "PERMISSION_DENIED"],
    ["Error: Nexthop has invalid gateway.\n", "UNREACHABLE"],
    ["something else\n", "IP_COMMAND_FAILED"],
  ])("%j -> %s", (stderr, expected) => {
    expect(classifyIpError(stderr)).toBe(expected);
  });

  it("a failing batch names the failing line and the command", async () => {
    const { runner } = recorder([
      { exitCode: 1, stderr: "RTNETLINK answers: File exists\nCommand failed -:2\n" },
    ]);
    const error = (await applyBatch(
      runner,
      [bridgeAdd({ name: "br0" }), vethAdd({ name: "h0", peer: "p0" })],
      {
        netns: "n1",
      },
    ).catch((e: unknown) => e)) as IpCommandError;
    expect(error).toBeInstanceOf(IpCommandError);
    expect(error.code).toBe("ALREADY_EXISTS");
    expect(error.command).toEqual(["ip", "-n", "n1", "-batch", "-"]);
    expect(error.line).toBe("-n n1 link add h0 type veth peer name p0");
    expect(error.message).toContain("`ip -n n1 link add h0 type veth peer name p0` failed");
    expect(error.message).toContain("File exists");
    expect(error.message).not.toContain("Command failed");
  });
});

describe("readers parse ip -json", () => {
  it("links", async () => {
    const stdout = JSON.stringify([
      {
        ifindex: 1,
        ifname: "lo",
        flags: ["LOOPBACK", "UP", "LOWER_UP"],
        mtu: 65536,
        operstate: "UNKNOWN",
        address: "00:00:00:00:00:00",
      },
      {
        ifindex: 7,
        ifname: "eth0",
        link_netnsid: 0,
        flags: ["BROADCAST", "UP"],
        mtu: 1500,
        operstate: "UP",
        address: "02:42:ac:11:00:02",
        master: "br0",
        linkinfo: { info_kind: "veth", info_slave_kind: "bridge", info_slave_data: { hairpin: true } },
      },
    ]);
    const { runner, calls } = recorder([{ stdout }]);
    expect(await listLinks(runner, { netns: "n1" })).toEqual([
      {
        ifindex: 1,
        name: "lo",
        flags: ["LOOPBACK", "UP", "LOWER_UP"],
        up: true,
        operState: "UNKNOWN",
        mtu: 65536,
        mac: "00:00:00:00:00:00",
      },
      {
        ifindex: 7,
        name: "eth0",
        flags: ["BROADCAST", "UP"],
        up: true,
        operState: "UP",
        mtu: 1500,
        mac: "02:42:ac:11:00:02",
        kind: "veth",
        master: "br0",
        peerNetnsId: 0,
        hairpin: true,
      },
    ]);
    expect(calls[0]?.args).toEqual(["-n", "n1", "-json", "-details", "link", "show"]);
  });

  it("a missing link is undefined", async () => {
    const { runner } = recorder([{ exitCode: 1, stderr: 'Device "nope" does not exist.\n' }]);
    expect(await findLink(runner, "nope")).toBeUndefined();
  });

  it("addresses and routes", async () => {
    const addr = JSON.stringify([
      {
        ifindex: 2,
        ifname: "eth0",
        addr_info: [
          { family: "inet", local: "10.0.0.2", prefixlen: 24, scope: "global" },
          { family: "inet6", local: "fe80::1", prefixlen: 64, scope: "link" },
        ],
      },
    ]);
    const route = JSON.stringify([
      { dst: "default", gateway: "10.0.0.1", dev: "eth0" },
      { dst: "10.0.0.1", dev: "eth0", scope: "link" },
    ]);
    const { runner, calls } = recorder([{ stdout: addr }, { stdout: route }]);
    expect(await listAddresses(runner, { dev: "eth0" })).toEqual([
      {
        ifname: "eth0",
        ifindex: 2,
        family: 4,
        address: "10.0.0.2",
        prefix: 24,
        cidr: "10.0.0.2/24",
        scope: "global",
      },
      {
        ifname: "eth0",
        ifindex: 2,
        family: 6,
        address: "fe80::1",
        prefix: 64,
        cidr: "fe80::1/64",
        scope: "link",
      },
    ]);
    expect(await listRoutes(runner)).toEqual([
      { family: 4, dst: "default", gateway: "10.0.0.1", dev: "eth0" },
      { family: 4, dst: "10.0.0.1", dev: "eth0", scope: "link" },
    ]);
    expect(calls.map((c) => c.args)).toEqual([
      ["-json", "addr", "show", "dev", "eth0"],
      ["-json", "-4", "route", "show"],
    ]);
  });
});
