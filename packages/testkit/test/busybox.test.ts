import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  APP_USER,
  busyboxApplets,
  busyboxRootfs,
  busyboxRootfsEntries,
  describePrivileged,
  findLeaks,
} from "../src/index.js";

describe("busyboxRootfsEntries", () => {
  const entries = busyboxRootfsEntries();
  const byPath = new Map(entries.map((e) => [e.path, e]));

  it("has the busybox binary and a symlink per applet the issue names", () => {
    expect(byPath.get("bin/busybox")).toMatchObject({ type: "file", mode: 0o755 });
    const wanted = [
      "sh",
      "ls",
      "cat",
      "echo",
      "ps",
      "id",
      "hostname",
      "mount",
      "sleep",
      "true",
      "false",
      "env",
      "pwd",
    ];
    wanted.push("wc", "head", "nc", "ip", "ifconfig", "ping", "wget", "httpd", "top", "kill");
    for (const applet of wanted)
      expect(byPath.get(`bin/${applet}`)).toEqual({
        type: "symlink",
        path: `bin/${applet}`,
        target: "busybox",
      });
    expect(busyboxApplets().length).toBeGreaterThan(wanted.length);
  });

  it("has passwd/group with root, nobody and app (uid 1000, supplementary group apps)", () => {
    const passwd = byPath.get("etc/passwd");
    const group = byPath.get("etc/group");
    expect(passwd?.type === "file" && String(passwd.content)).toContain("app:x:1000:1000:");
    expect(passwd?.type === "file" && String(passwd.content)).toContain("nobody:x:65534:65534:");
    expect(group?.type === "file" && String(group.content)).toContain(
      `apps:x:${APP_USER.supplementaryGid}:app`,
    );
  });

  it.each([
    ["proc", 0o555],
    ["sys", 0o555],
    ["dev", undefined],
    ["tmp", 0o1777],
  ])("has an empty /%s", (path, mode) => {
    expect(byPath.get(path)).toMatchObject({ type: "dir", ...(mode === undefined ? {} : { mode }) });
    expect(entries.filter((e) => e.path.startsWith(`${path}/`))).toEqual([]);
  });
});

describePrivileged(
  "busyboxRootfs runs",
  () => {
    let dir: string | undefined;
    afterEach(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
      dir = undefined;
    });

    it("extracts with tar and runs sh, id and ls inside a chroot", async () => {
      dir = await mkdtemp(join(tmpdir(), "strata-test-testkit-rootfs-"));
      const layer = await busyboxRootfs({ compression: "none" });
      execFileSync("tar", ["-x", "-p", "-f", "-", "-C", dir], { input: layer.tar });
      const out = execFileSync("chroot", [dir, "/bin/sh", "-c", "id app; ls -ld /tmp; echo ok"]).toString();
      expect(out).toContain("uid=1000(app) gid=1000(app) groups=1000(app),2000(apps)");
      expect(out).toMatch(/^drwxrwxrwt/m);
      expect(out.trim().endsWith("ok")).toBe(true);
      await rm(dir, { recursive: true, force: true });
      dir = undefined;
      expect(await findLeaks("strata-test-testkit-rootfs-", { skipLinks: true })).toEqual([]);
    });
  },
  { commands: ["tar", "chroot"] },
);
