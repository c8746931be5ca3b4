import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Ipam } from "../src/ipam.js";
import { parseSubnet } from "../src/subnet.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "strata-test-network-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("parseSubnet", () => {
  it.each([
    ["10.88.0.0/16", { network: "10.88.0.0", prefixLength: 16 }],
    ["172.30.5.0/24", { network: "172.30.5.0", prefixLength: 24 }],
  ])("parses %s", (cidr, expected) => {
    expect(parseSubnet(cidr)).toMatchObject(expected);
  });
  it.each(["10.88.0.1/16", "10.88.0.0", "10.88.0.0/31", "300.1.1.0/24", "a.b.c.d/8"])(
    "rejects %s",
    (cidr) => {
      expect(() => parseSubnet(cidr)).toThrow(expect.objectContaining({ code: "INVALID_SUBNET" }));
    },
  );
});

describe("Ipam", () => {
  it("keeps the first host for the gateway and hands out the next addresses", async () => {
    const ipam = new Ipam({ stateDir: dir, subnet: "10.99.0.0/24" });
    expect(ipam.gateway).toBe("10.99.0.1");
    expect((await ipam.allocate("a")).address).toBe("10.99.0.2");
    expect((await ipam.allocate("b")).address).toBe("10.99.0.3");
    expect((await ipam.allocate("a")).address).toBe("10.99.0.2");
  });

  it("does not reuse a freed address at once, and wraps around when the end is reached", async () => {
    const ipam = new Ipam({ stateDir: dir, subnet: "10.99.0.0/29" }); // hosts .1-.6, gateway .1
    for (const owner of ["a", "b", "c", "d", "e"]) await ipam.allocate(owner);
    await expect(ipam.allocate("f")).rejects.toMatchObject({ code: "IPAM_EXHAUSTED" });
    await ipam.release("b");
    expect((await ipam.allocate("f")).address).toBe("10.99.0.3");
  });

  it("survives 200 owners allocated and released in random order, many at once, with no duplicate or leak", async () => {
    const ipam = new Ipam({ stateDir: dir, subnet: "10.99.0.0/22" });
    const owners = Array.from({ length: 200 }, (_, i) => `c${i}`);
    const leases = await Promise.all(owners.map((owner) => ipam.allocate(owner)));
    expect(new Set(leases.map((lease) => lease.address)).size).toBe(200);
    // A second view of the same state dir (another strata process) sees the same leases.
    expect(await new Ipam({ stateDir: dir, subnet: "10.99.0.0/22" }).list()).toHaveLength(200);
    const shuffled = [...owners].sort(() => Math.random() - 0.5);
    const half = shuffled.slice(0, 100);
    await Promise.all([
      ...half.map((owner) => ipam.release(owner)),
      ...owners.slice(0, 20).map((o) => ipam.allocate(`${o}-x`)),
    ]);
    const remaining = await ipam.list();
    expect(new Set(remaining.map((lease) => lease.address)).size).toBe(remaining.length);
    expect(remaining).toHaveLength(120);
    await Promise.all(shuffled.slice(100).map((owner) => ipam.release(owner)));
    await Promise.all(owners.slice(0, 20).map((o) => ipam.release(`${o}-x`)));
    expect(await ipam.list()).toEqual([]);
  });

  it("takes over a lock left by a killed process and reclaims leases of dead owners", async () => {
    const ipam = new Ipam({ stateDir: dir, subnet: "10.99.0.0/24" });
    await ipam.allocate("alive", process.pid);
    await ipam.allocate("dead", 2 ** 22 + 7); // beyond pid_max: never a live process
    writeFileSync(join(dir, "leases.lock"), String(2 ** 22 + 7));
    const freed = await ipam.reclaim((lease) => lease.pid === undefined || lease.pid === process.pid);
    expect(freed.map((lease) => lease.owner)).toEqual(["dead"]);
    expect((await ipam.list()).map((lease) => lease.owner)).toEqual(["alive"]);
  });
});
