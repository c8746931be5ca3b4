import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  addNetns,
  type CommandResult,
  type CommandRunner,
  deleteNetns,
  execCommand,
  explainNetns,
  listNetns,
  NetnsError,
  netnsNameProblem,
  parseMountInfo,
} from "../src/index.js";

/** Records every command; answers with the queued results (exit 0 by default). */
function recorder(results: Partial<CommandResult>[] = []) {
  const calls: string[][] = [];
  const runner: CommandRunner = {
    async run(argv) {
      calls.push([...argv]);
      const r = results.shift() ?? {};
      return { exitCode: r.exitCode ?? 0, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
    },
  };
  return { calls, runner };
}

const SHARED_SCRIPT =
  'mount --make-rshared "$1" 2>/dev/null || { mount --rbind "$1" "$1" && mount --make-rprivate "$1" && mount --make-rshared "$1"; }';

describe("netns names", () => {
  it.each([
    ["", "it is empty"],
    [".", '"." is reserved'],
    ["..", '".." is reserved'],
    ["a/b", "it contains '/'"],
    ["x".repeat(256), "it is longer than 255 bytes"],
    ["-n", "it starts with '-'"],
    ["a\nb", "it contains a control character"],
  ])("rejects %j", async (name, problem) => {
    expect(netnsNameProblem(name)).toBe(problem);
    const { runner, calls } = recorder();
    const error = await addNetns(name, { root: "/nonexistent", runner }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetnsError);
    expect((error as NetnsError).code).toBe("INVALID_NETNS_NAME");
    expect((error as NetnsError).message).toContain(problem);
    expect(calls).toEqual([]);
  });

  it.each(["web1", "strata-test-netns-x", "a.b_c", "x".repeat(255), "ümlaut"])("accepts %j", (name) => {
    expect(netnsNameProblem(name)).toBeUndefined();
  });
});

describe("mountinfo", () => {
  it("decodes octal escapes and optional fields", () => {
    const text =
      "36 35 98:0 / /mnt/with\\040space rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue\n" +
      "40 36 0:4 net:[4026532] /run/netns/a rw - nsfs nsfs rw\n";
    expect(parseMountInfo(text)).toEqual([
      { mountPoint: "/mnt/with space", optionalFields: ["master:1", "shared:7"], fsType: "ext3" },
      { mountPoint: "/run/netns/a", optionalFields: [], fsType: "nsfs" },
    ]);
  });
});

describe("netns commands (recorded)", () => {
  let dir: string;
  let root: string;
  let mountInfoPath: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "strata-test-netns-unit-"));
    root = join(dir, "netns");
    mountInfoPath = join(dir, "mountinfo");
    await writeFile(mountInfoPath, "1 0 8:1 / / rw shared:1 - ext4 /dev/sda rw\n");
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("add: shares the run dir under flock, creates the file mode 0, unshares into it with lo up", async () => {
    const { runner, calls } = recorder();
    const handle = await addNetns("web1", { root, runner, mountInfoPath });
    expect(handle).toEqual({ name: "web1", path: join(root, "web1") });
    expect(calls).toEqual([
      ["flock", "-x", root, "sh", "-c", SHARED_SCRIPT, "sh", root],
      ["unshare", `--net=${join(root, "web1")}`, "ip", "link", "set", "lo", "up"],
    ]);
    expect((await stat(handle.path)).mode & 0o777).toBe(0);
  });

  it("add: skips the propagation set-up when the run dir already is a shared mount point", async () => {
    await writeFile(
      mountInfoPath,
      `1 0 8:1 / / rw shared:1 - ext4 /dev/sda rw\n2 1 0:25 / ${root} rw shared:9 - tmpfs tmpfs rw\n`,
    );
    const { runner, calls } = recorder();
    await addNetns("web1", { root, runner, mountInfoPath });
    expect(calls.map((c) => c[0])).toEqual(["unshare"]);
  });

  it("add: an existing name is NETNS_EXISTS and nothing runs after the shared set-up", async () => {
    const { runner, calls } = recorder();
    await addNetns("web1", { root, runner, mountInfoPath });
    const error = await addNetns("web1", { root, runner, mountInfoPath }).catch((e: unknown) => e);
    expect((error as NetnsError).code).toBe("NETNS_EXISTS");
    expect((error as NetnsError).message).toContain("already exists");
    expect(calls.filter((c) => c[0] === "unshare")).toHaveLength(1);
  });

  it("add: a failing unshare is NETNS_COMMAND_FAILED with the command, and the file is removed", async () => {
    const { runner, calls } = recorder([
      {},
      { exitCode: 1, stderr: "unshare: unshare failed: Operation not permitted\n" },
    ]);
    const error = (await addNetns("web1", { root, runner, mountInfoPath }).catch(
      (e: unknown) => e,
    )) as NetnsError;
    expect(error.code).toBe("NETNS_COMMAND_FAILED");
    expect(error.command).toEqual([
      "unshare",
      `--net=${join(root, "web1")}`,
      "ip",
      "link",
      "set",
      "lo",
      "up",
    ]);
    expect(error.message).toContain("Operation not permitted");
    expect(calls.at(-1)).toEqual(["umount", "-l", join(root, "web1")]);
    expect(await readdir(root)).toEqual([]);
  });

  it("delete: lazy unmount then unlink; a missing one is NETNS_NOT_FOUND", async () => {
    const { runner, calls } = recorder();
    await addNetns("web1", { root, runner, mountInfoPath });
    const result = await deleteNetns("web1", { root, runner });
    expect(result).toEqual({ name: "web1", path: join(root, "web1") });
    expect(calls.at(-1)).toEqual(["umount", "-l", join(root, "web1")]);
    expect(await readdir(root)).toEqual([]);
    const error = (await deleteNetns("web1", { root, runner }).catch((e: unknown) => e)) as NetnsError;
    expect(error.code).toBe("NETNS_NOT_FOUND");
  });

  it("list: entries sorted; plain files are not active", async () => {
    const { runner } = recorder();
    await addNetns("b", { root, runner, mountInfoPath });
    await addNetns("a", { root, runner, mountInfoPath });
    expect(await listNetns({ root })).toEqual([
      { name: "a", path: join(root, "a"), active: false },
      { name: "b", path: join(root, "b"), active: false },
    ]);
    expect(await listNetns({ root: join(dir, "missing") })).toEqual([]);
  });

  it.each([
    ["/run/netns", ["ip", "netns", "exec", "web1", "ip", "link"]],
    ["/tmp/x", ["nsenter", "--net=/tmp/x/web1", "--", "ip", "link"]],
  ])("exec under %s runs %j", (root, expected) => {
    expect(execCommand("web1", ["ip", "link"], { root })).toEqual(expected);
  });

  it("exec without a command is INVALID_ARGUMENT", () => {
    expect(() => execCommand("web1", [])).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });

  it("explains the equivalent ip commands", () => {
    expect(explainNetns.add("web 1")).toEqual(["ip netns add 'web 1'", "ip -n 'web 1' link set lo up"]);
    expect(explainNetns.delete("web1")).toEqual(["ip netns del web1"]);
  });
});
