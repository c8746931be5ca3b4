import { DOCKER_DEFAULT_SECCOMP, dockerCapabilitySets } from "@strata/launch";
import { describe, expect, it } from "vitest";
import { type ExecTemplate, execSpecOf } from "../src/index.js";

const template: ExecTemplate = {
  env: ["PATH=/usr/bin:/bin", "HOSTNAME=box", "FOO=from-run"],
  cwd: "/srv",
  user: { uid: 0, gid: 0, additionalGids: [0] },
  hostname: "box",
  capabilities: dockerCapabilitySets(0, ["CHOWN", "KILL"]),
  noNewPrivileges: true,
  seccomp: DOCKER_DEFAULT_SECCOMP,
  rlimits: [{ type: "RLIMIT_NOFILE", soft: 1024, hard: 2048 }],
  cgroupProcs: ["/sys/fs/cgroup/pids/strata/x/cgroup.procs"],
};
const init = { pid: 4242, start: "123456" };

describe("execSpecOf (what docker exec inherits from the container)", () => {
  it("joins the init and keeps the container's settings", () => {
    const spec = execSpecOf(template, init, { args: ["ps"] });
    expect(spec).toMatchObject({
      join: init,
      rootfs: "/proc/4242/root",
      args: ["ps"],
      env: template.env,
      cwd: "/srv",
      user: template.user,
      hostname: "box",
      noNewPrivileges: true,
      seccomp: DOCKER_DEFAULT_SECCOMP,
      rlimits: template.rlimits,
      cgroupProcs: template.cgroupProcs,
      mounts: [],
      maskedPaths: [],
      readonlyPaths: [],
    });
    expect(spec.capabilities).toEqual(dockerCapabilitySets(0, ["CHOWN", "KILL"]));
  });

  it("-e replaces or adds, -t sets TERM, -w replaces the working directory", () => {
    const spec = execSpecOf(template, init, {
      args: ["env"],
      env: ["FOO=from-exec", "NEW=1"],
      tty: true,
      workdir: "/tmp",
    });
    expect(spec.env).toEqual(["PATH=/usr/bin:/bin", "HOSTNAME=box", "FOO=from-exec", "TERM=xterm", "NEW=1"]);
    expect(spec.cwd).toBe("/tmp");
    expect(spec.tty).toBe(true);
  });

  it("refuses no command, a bad -e and a relative -w with INVALID_OPTION", () => {
    for (const options of [
      { args: [] },
      { args: ["x"], env: ["NOEQUALS"] },
      { args: ["x"], workdir: "rel" },
    ]) {
      expect(() => execSpecOf(template, init, options)).toThrow(
        expect.objectContaining({ code: "INVALID_OPTION" }),
      );
    }
  });
});
