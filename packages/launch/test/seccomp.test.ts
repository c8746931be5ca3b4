import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  buildLaunchSpec,
  CLONE_NAMESPACE_FLAGS,
  DOCKER_DEFAULT_SECCOMP,
  toHelperSeccomp,
  toHelperSpec,
  toOciConfig,
  toOciSeccomp,
} from "../src/index.js";

describe("seccomp policy", () => {
  const rootfs = mkdtempSync(join(tmpdir(), "strata-test-launch-seccomp-"));
  afterAll(() => rmSync(rootfs, { recursive: true, force: true }));

  it("is Docker's default unless turned off", () => {
    const spec = buildLaunchSpec({ Cmd: ["true"] }, { rootfs });
    expect(spec.seccomp).toBe(DOCKER_DEFAULT_SECCOMP);
    expect(buildLaunchSpec({ Cmd: ["true"] }, { rootfs, seccomp: false }).seccomp).toBeUndefined();
    expect(toHelperSpec(buildLaunchSpec({ Cmd: ["true"] }, { rootfs, seccomp: false })).seccomp).toBeNull();
  });

  it("maps names to this architecture's numbers, skipping the ones it lacks", () => {
    const x64 = toHelperSeccomp(DOCKER_DEFAULT_SECCOMP, "x64");
    expect(x64.arch).toBe(0xc000003e);
    expect(x64.x32Bit).toBe(0x40000000);
    expect(x64.denied).toEqual(expect.arrayContaining([272, 250, 248, 165, 321, 425])); // unshare keyctl add_key mount bpf io_uring_setup
    expect(x64.unimplemented).toEqual([435]); // clone3
    expect(x64.clone).toBe(56);
    expect(x64.cloneFlags).toBe(CLONE_NAMESPACE_FLAGS);
    const arm64 = toHelperSeccomp(DOCKER_DEFAULT_SECCOMP, "arm64");
    expect(arm64.arch).toBe(0xc00000b7);
    expect(arm64.x32Bit).toBe(0);
    expect(arm64.denied).toContain(97); // unshare
    expect(arm64.denied.length).toBeLessThan(x64.denied.length); // no iopl, ioperm, sysfs, … there
    expect(toHelperSeccomp({ ...DOCKER_DEFAULT_SECCOMP, denyNamespaceClone: false }, "x64").clone).toBe(-1);
  });

  it("answers ENOSYS above the newest syscall the profile names (set_mempolicy_home_node)", () => {
    expect(toHelperSeccomp(DOCKER_DEFAULT_SECCOMP, "x64").newest).toBe(450);
    expect(toHelperSeccomp(DOCKER_DEFAULT_SECCOMP, "arm64").newest).toBe(450);
    expect(toHelperSeccomp({ ...DOCKER_DEFAULT_SECCOMP, newest: undefined }, "x64").newest).toBe(0);
    expect(() => toHelperSeccomp({ ...DOCKER_DEFAULT_SECCOMP, newest: "no_such_call" }, "x64")).toThrow(
      expect.objectContaining({ code: "INVALID_SPEC" }),
    );
  });

  it("refuses unknown architectures and malformed names with typed errors", () => {
    expect(() => toHelperSeccomp(DOCKER_DEFAULT_SECCOMP, "riscv64")).toThrow(
      expect.objectContaining({ code: "UNSUPPORTED_OPTION" }),
    );
    expect(() =>
      toHelperSeccomp({ denied: ["mount; rm"], unimplemented: [], denyNamespaceClone: false }, "x64"),
    ).toThrow(expect.objectContaining({ code: "INVALID_SPEC" }));
  });

  it("writes the same policy into an OCI bundle for crun/runc", () => {
    const oci = toOciSeccomp(DOCKER_DEFAULT_SECCOMP, "x64") as {
      defaultAction: string;
      architectures: string[];
      syscalls: { names: string[]; action: string; errnoRet: number; args?: unknown[] }[];
    };
    expect(oci.defaultAction).toBe("SCMP_ACT_ALLOW");
    expect(oci.architectures).toEqual(["SCMP_ARCH_X86_64"]);
    expect(oci.syscalls[0]).toMatchObject({ action: "SCMP_ACT_ERRNO", errnoRet: 1 });
    expect(oci.syscalls[0]?.names).toContain("unshare");
    expect(oci.syscalls[1]).toMatchObject({ names: ["clone3"], errnoRet: 38 });
    const cloneRules = oci.syscalls.filter((r) => r.names[0] === "clone");
    expect(cloneRules).toHaveLength(7); // one per namespace flag
    const config = toOciConfig(buildLaunchSpec({ Cmd: ["true"] }, { rootfs })) as {
      linux: { seccomp?: unknown };
    };
    expect(config.linux.seccomp).toBeDefined();
  });
});
