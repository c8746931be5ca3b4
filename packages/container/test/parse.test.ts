import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  assertContainerName,
  type ContainerError,
  checkNetworkMode,
  containerHosts,
  containerResolvConf,
  detachNetwork,
  generateName,
  isAlive,
  newContainerId,
  parseAddHost,
  parseEnvFile,
  parseMemory,
  parseMount,
  parseSignal,
  parseTmpfs,
  parseUlimit,
  parseVolume,
  processRef,
  StateDir,
} from "../src/index.js";

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return (error as ContainerError).code;
  }
  return undefined;
};

describe("parseMemory", () => {
  it.each([
    ["64m", 64 * 1024 ** 2],
    ["64M", 64 * 1024 ** 2],
    ["64mb", 64 * 1024 ** 2],
    ["1g", 1024 ** 3],
    ["512k", 512 * 1024],
    ["1.5g", 1.5 * 1024 ** 3],
    ["4096", 4096],
    ["100b", 100],
  ])("%s → %d bytes", (input, bytes) => {
    expect(parseMemory(input)).toBe(bytes);
  });
  it.each(["", "lots", "-1m", "0", "64x", "m"])("rejects %j with INVALID_OPTION", (input) => {
    expect(codeOf(() => parseMemory(input))).toBe("INVALID_OPTION");
  });
});

describe("parseEnvFile", () => {
  it("reads KEY=value lines, skips comments and blanks, takes bare keys from the host env", () => {
    const text = '# comment\nA=1\n\n  B=two words\nC="quoted"\nFROM_HOST\nUNSET_ON_HOST\nD=x=y\r\n';
    expect(parseEnvFile(text, "f", { FROM_HOST: "h" })).toEqual([
      "A=1",
      "B=two words",
      'C="quoted"',
      "FROM_HOST=h",
      "D=x=y",
    ]);
  });
  it.each(["=value", "BAD KEY=1"])("rejects %j with ENV_FILE_INVALID and the line number", (line) => {
    const error = (() => {
      try {
        parseEnvFile(`OK=1\n${line}\n`, "my.env");
      } catch (e) {
        return e as ContainerError;
      }
    })();
    expect(error?.code).toBe("ENV_FILE_INVALID");
    expect(error?.message).toContain("my.env line 2");
  });
});

describe("names and ids", () => {
  it.each(["web", "a", "web-1.x_y", "A".repeat(128)])("accepts %j", (name) => {
    expect(() => assertContainerName(name)).not.toThrow();
  });
  it.each(["", "-web", "we b", "a/b", "A".repeat(129), "é"])("rejects %j with INVALID_NAME", (name) => {
    expect(codeOf(() => assertContainerName(name))).toBe("INVALID_NAME");
  });
  it("generates valid names and 64-hex ids", () => {
    for (let i = 0; i < 20; i++) {
      expect(() => assertContainerName(generateName())).not.toThrow();
      expect(newContainerId()).toMatch(/^[0-9a-f]{64}$/);
    }
  });
});

describe("etc files", () => {
  it("drops loopback resolvers outside the host network, keeps the rest", () => {
    const host =
      "search example.org\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\noptions edns0\n";
    expect(containerResolvConf(host, false)).toBe("search example.org\nnameserver 10.0.0.2\noptions edns0\n");
    expect(containerResolvConf(host, true)).toBe(host);
  });
  it("hosts: localhost lines plus the container's name; host network copies the host's file", () => {
    const hosts = containerHosts(
      { hostname: "box", hostNetwork: false, extraHosts: ["10.1.0.2\tbox-net"] },
      "HOST",
    );
    expect(hosts.split("\n")).toEqual(
      expect.arrayContaining(["127.0.0.1\tlocalhost", "10.1.0.2\tbox-net", "127.0.1.1\tbox"]),
    );
    expect(containerHosts({ hostname: "box", hostNetwork: true }, "HOST\n")).toBe("HOST\n");
  });
  it("hosts: --add-host lines come last, under host networking too", () => {
    const added = ["10.0.0.5\tdb"];
    expect(
      containerHosts({ hostname: "box", hostNetwork: false, addedHosts: added }, "HOST").endsWith(
        "127.0.1.1\tbox\n10.0.0.5\tdb\n",
      ),
    ).toBe(true);
    expect(containerHosts({ hostname: "box", hostNetwork: true, addedHosts: added }, "HOST")).toBe(
      "HOST\n10.0.0.5\tdb\n",
    );
    expect(containerHosts({ hostname: "box", hostNetwork: true, addedHosts: added }, "HOST\n")).toBe(
      "HOST\n10.0.0.5\tdb\n",
    );
  });
});

describe("network modes", () => {
  it.each([
    ["none", undefined],
    ["host", undefined],
    ["ns:my-ns", undefined],
    ["ns:", "INVALID_OPTION"],
    ["ns:../etc", "INVALID_OPTION"],
    ["bridge", "NETWORK_UNSUPPORTED"],
  ])("%s → %s", (mode, code) => {
    expect(codeOf(() => checkNetworkMode(mode))).toBe(code);
  });
  it("delegates other modes to a registered attacher (the bridge seam)", async () => {
    const calls: string[] = [];
    const attachers = {
      bridge: {
        attach: async (r: { containerId: string; mode: string }) => {
          calls.push(`attach ${r.mode}`);
          return { mode: r.mode, netns: "/run/netns/x", data: { lease: "10.0.0.2" } };
        },
        detach: async (a: { mode: string }) => {
          calls.push(`detach ${a.mode}`);
        },
      },
    };
    expect(codeOf(() => checkNetworkMode("bridge", { attachers }))).toBeUndefined();
    const { attachNetwork } = await import("../src/index.js");
    const attachment = await attachNetwork({ containerId: "c", name: "n", mode: "bridge" }, { attachers });
    await detachNetwork(attachment, { attachers });
    expect(calls).toEqual(["attach bridge", "detach bridge"]);
    await expect(detachNetwork(attachment)).rejects.toMatchObject({ code: "NETWORK_UNSUPPORTED" });
  });
});

describe("process identity", () => {
  it("recognises this process and rejects a made-up start time", () => {
    const self = processRef(process.pid);
    expect(isAlive(self)).toBe(true);
    expect(isAlive({ pid: process.pid, start: "1" })).toBe(false);
    expect(isAlive(undefined)).toBe(false);
  });
});

describe("StateDir", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "strata-test-container-unit-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("claims names atomically and frees names of vanished containers", async () => {
    const states = new StateDir(dir);
    await states.init();
    const a = newContainerId();
    const b = newContainerId();
    await states.create({
      id: a,
      name: "web",
      image: { reference: "x", id: "sha256:0" },
      status: "created",
      created: new Date().toISOString(),
      autoRemove: false,
      hostname: "h",
      runtime: "builtin",
      readOnly: false,
    });
    await states.reserveName("web", a);
    const results = await Promise.allSettled([states.reserveName("web", b), states.reserveName("web", b)]);
    expect(
      results.every((r) => r.status === "rejected" && (r.reason as ContainerError).code === "NAME_IN_USE"),
    ).toBe(true);
    await states.remove(a);
    await states.reserveName("web", b); // a's directory is gone: the name is free
    expect(await states.nameHolder("web")).toBe(b);
    await states.releaseName("web", a); // not the holder: no effect
    expect(await states.nameHolder("web")).toBe(b);
  });

  it("reports a missing container and a corrupt state file with typed errors", async () => {
    const states = new StateDir(dir);
    await states.init();
    const id = newContainerId();
    await expect(states.read(id)).rejects.toMatchObject({ code: "CONTAINER_NOT_FOUND" });
    const { mkdir, writeFile } = await import("node:fs/promises");
    await mkdir(join(states.containers, id));
    await writeFile(join(states.containers, id, "state.json"), "{");
    await expect(states.read(id)).rejects.toMatchObject({ code: "STATE_CORRUPT" });
  });
});

describe("parseUlimit (docker's --ulimit)", () => {
  it("reads NAME=SOFT[:HARD], -1 as unlimited", () => {
    expect(parseUlimit("nofile=1024:2048")).toEqual({ type: "RLIMIT_NOFILE", soft: 1024, hard: 2048 });
    expect(parseUlimit("nproc=512")).toEqual({ type: "RLIMIT_NPROC", soft: 512, hard: 512 });
    expect(parseUlimit("core=-1")).toEqual({
      type: "RLIMIT_CORE",
      soft: Number.POSITIVE_INFINITY,
      hard: Number.POSITIVE_INFINITY,
    });
  });

  it.each(["nofile", "nofile=", "bogus=1", "nofile=x", "nofile=10:5", "NOFILE=1", "nofile=1:2:3"])(
    "refuses %s with INVALID_OPTION",
    (input) => {
      expect(() => parseUlimit(input)).toThrow(expect.objectContaining({ code: "INVALID_OPTION" }));
    },
  );
});

describe("parseVolume (docker's -v for bind mounts)", () => {
  it("reads HOST:CONTAINER[:ro|rw]", () => {
    expect(parseVolume("/srv/data:/data")).toEqual({
      source: "/srv/data",
      destination: "/data",
      readOnly: false,
    });
    expect(parseVolume("/srv/data:/data:ro")).toEqual({
      source: "/srv/data",
      destination: "/data",
      readOnly: true,
    });
    expect(parseVolume("/srv/data:/data:rw").readOnly).toBe(false);
  });

  it.each([
    "/srv",
    "named:/data",
    "/srv:data",
    "/srv:/",
    "/srv:/a/../etc",
    "/srv:/data:z",
    "/srv:/data:ro:x",
    ":/data",
  ])("refuses %s with INVALID_OPTION", (input) => {
    expect(() => parseVolume(input)).toThrow(expect.objectContaining({ code: "INVALID_OPTION" }));
  });
});

describe("parseTmpfs (docker's --tmpfs)", () => {
  it("adds docker's nosuid,nodev,noexec before the given options", () => {
    expect(parseTmpfs("/run")).toEqual({
      destination: "/run",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "nodev", "noexec"],
    });
    expect(parseTmpfs("/run:exec,size=64m,mode=1777").options).toEqual([
      "nosuid",
      "nodev",
      "noexec",
      "exec",
      "size=64m",
      "mode=1777",
    ]);
  });

  it.each(["run", "/", "/a/../etc", "/run:bogus", "/run:size=1m,x=y"])(
    "refuses %s with INVALID_OPTION",
    (input) => {
      expect(() => parseTmpfs(input)).toThrow(expect.objectContaining({ code: "INVALID_OPTION" }));
    },
  );
});

describe("parseMount (docker's --mount)", () => {
  it("reads bind and tmpfs mounts with docker's keys and aliases", () => {
    expect(parseMount("type=bind,source=/srv,target=/data")).toEqual({
      type: "bind",
      source: "/srv",
      destination: "/data",
      readOnly: false,
    });
    expect(parseMount("type=bind,src=/srv,dst=/data,readonly")).toMatchObject({ readOnly: true });
    expect(parseMount("type=bind,src=/srv,destination=/data,ro=false")).toMatchObject({ readOnly: false });
    expect(parseMount("type=bind,src=/srv,target=/d,bind-propagation=rslave")).toMatchObject({
      propagation: "rslave",
    });
    expect(parseMount('type=bind,"source=/a,b",target=/d')).toMatchObject({ source: "/a,b" });
    expect(parseMount("type=tmpfs,target=/t,tmpfs-size=64M,tmpfs-mode=1770")).toEqual({
      type: "tmpfs",
      destination: "/t",
      options: ["nosuid", "nodev", "noexec", "size=64m", "mode=1770"],
    });
    expect(parseMount("type=tmpfs,dst=/t,readonly")).toEqual({
      type: "tmpfs",
      destination: "/t",
      options: ["nosuid", "nodev", "noexec", "ro"],
    });
  });

  it.each([
    ["source=/srv,target=/d", "named volumes"],
    ["type=volume,source=v,target=/d", "named volumes"],
    ["type=bind,target=/d", "source="],
    ["type=bind,source=rel,target=/d", "source="],
    ["type=bind,source=/s", "target= is required"],
    ["type=bind,source=/s,target=/", "absolute"],
    ["type=bind,source=/s,target=/a/../b", "absolute"],
    ["type=bind,source=/s,target=/d,tmpfs-size=1m", "not a bind mount option"],
    ["type=bind,source=/s,target=/d,bind-propagation=weird", "bind-propagation"],
    ["type=bind,source=/s,target=/d,readonly=maybe", "readonly=maybe"],
    ["type=bind,source=/s,src=/t,target=/d", "twice"],
    ["type=tmpfs,target=/t,tmpfs-size=lots", "tmpfs-size"],
    ["type=tmpfs,target=/t,tmpfs-mode=999", "tmpfs-mode"],
    ["type=tmpfs,source=/x,target=/t", "not a tmpfs mount option"],
    ["type=npipe,target=/t", "not supported"],
    ['type=bind,"source=/a,target=/b', "quote"],
  ])("refuses %s with INVALID_OPTION (%s)", (input, why) => {
    expect(() => parseMount(input)).toThrow(expect.objectContaining({ code: "INVALID_OPTION" }));
    expect(() => parseMount(input)).toThrow(why);
  });
});

describe("parseAddHost (docker's --add-host)", () => {
  it("reads NAME:ADDRESS and NAME=ADDRESS, IPv6 with or without brackets, and host-gateway", () => {
    expect(parseAddHost("db:10.0.0.5")).toEqual({ name: "db", address: "10.0.0.5" });
    expect(parseAddHost("db=10.0.0.5")).toEqual({ name: "db", address: "10.0.0.5" });
    expect(parseAddHost("v6:::1")).toEqual({ name: "v6", address: "::1" });
    expect(parseAddHost("v6=[fd00::1]")).toEqual({ name: "v6", address: "fd00::1" });
    expect(parseAddHost("host.docker.internal:host-gateway")).toEqual({
      name: "host.docker.internal",
      address: "host-gateway",
    });
  });

  it.each(["db", ":10.0.0.5", "db:", "db:300.1.1.1", "db:example.com", "bad name:10.0.0.5", "-x:10.0.0.5"])(
    "refuses %s with INVALID_OPTION",
    (input) => {
      expect(() => parseAddHost(input)).toThrow(expect.objectContaining({ code: "INVALID_OPTION" }));
    },
  );
});

describe("parseSignal (docker kill -s)", () => {
  it("reads names with or without SIG, any case, and numbers", () => {
    expect(["KILL", "SIGKILL", "kill", "9"].map(parseSignal)).toEqual([
      "SIGKILL",
      "SIGKILL",
      "SIGKILL",
      "SIGKILL",
    ]);
    expect(parseSignal("usr1")).toBe("SIGUSR1");
    expect(parseSignal("15")).toBe("SIGTERM");
  });
  it.each(["NOPE", "SIG", "", "999", "-9", "9x"])("refuses %j with INVALID_OPTION", (input) => {
    expect(() => parseSignal(input)).toThrow(expect.objectContaining({ code: "INVALID_OPTION" }));
  });
});
