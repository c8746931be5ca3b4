import { LaunchError } from "./errors.js";

/**
 * A seccomp policy in the shape the helper enforces: every syscall is allowed except those listed, and
 * those newer than the policy. (Docker's profile is an allow-list: a syscall it does not name is
 * refused. strata's default refuses by name what Docker's default profile refuses to a container with
 * the default capabilities, and, like runc's filter for a Docker profile, answers ENOSYS to every
 * syscall numbered above the newest one the profile names. See the README.)
 */
export interface SeccompPolicy {
  /** Refused with EPERM. Names unknown on the host's architecture are skipped. */
  denied: string[];
  /** Refused with ENOSYS, so that callers fall back (glibc goes from clone3 to clone). */
  unimplemented: string[];
  /** clone(2) with a namespace flag is refused with EPERM, as unshare(2) is. */
  denyNamespaceClone: boolean;
  /**
   * The newest syscall the policy was written for: every syscall numbered above it is refused with
   * ENOSYS, as if the kernel were older, so that libc falls back to what the policy knows (a new
   * syscall may reach what the policy refuses by another door). Undefined: no such limit.
   */
  newest?: string;
}

/**
 * Docker's default profile (moby `profiles/seccomp/default.json`), as what it refuses to a container
 * with the default capabilities: kernel keyrings, BPF, perf, kernel modules, kexec, clock setting,
 * mounting and namespaces, io_uring, userfaultfd, NUMA policy, handle-based opens, cross-process memory
 * access, swap, reboot, accounting, quotas, and the obsolete calls. Most also need a capability
 * the default set lacks; the filter refuses them even when a capability is added (as Docker does unless
 * the capability is what its profile keys on).
 */
export const DOCKER_DEFAULT_SECCOMP: SeccompPolicy = {
  denied: [
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "mount",
    "mount_setattr",
    "move_mount",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "query_module",
    "quotactl",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setns",
    "settimeofday",
    "swapoff",
    "swapon",
    "_sysctl",
    "sysfs",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
  ],
  unimplemented: ["clone3"],
  denyNamespaceClone: true,
  // The newest syscall moby's default.json names (cap-gated to CAP_SYS_NICE; Linux 5.17).
  newest: "set_mempolicy_home_node",
};

/** CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET */
export const CLONE_NAMESPACE_FLAGS =
  0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000;

interface ArchTable {
  /** AUDIT_ARCH_* as seccomp_data.arch reports it. */
  audit: number;
  /** x86-64's x32 ABI numbers carry this bit; refused as a whole (Docker allows x32 only by mapping). */
  x32Bit?: number;
  /** The OCI runtime-spec architecture name (for config.json). */
  oci: string;
  numbers: Record<string, number>;
}

// From the kernel's uapi headers (asm/unistd_64.h; asm-generic/unistd.h for arm64).
const ARCHES: Record<string, ArchTable> = {
  x64: {
    audit: 0xc000003e,
    x32Bit: 0x40000000,
    oci: "SCMP_ARCH_X86_64",
    numbers: {
      _sysctl: 156,
      acct: 163,
      add_key: 248,
      bpf: 321,
      clock_adjtime: 305,
      clock_settime: 227,
      clone: 56,
      clone3: 435,
      set_mempolicy_home_node: 450,
      create_module: 174,
      delete_module: 176,
      finit_module: 313,
      fsconfig: 431,
      fsmount: 432,
      fsopen: 430,
      fspick: 433,
      get_kernel_syms: 177,
      get_mempolicy: 239,
      init_module: 175,
      io_uring_enter: 426,
      io_uring_register: 427,
      io_uring_setup: 425,
      ioperm: 173,
      iopl: 172,
      kcmp: 312,
      kexec_file_load: 320,
      kexec_load: 246,
      keyctl: 250,
      lookup_dcookie: 212,
      mbind: 237,
      mount: 165,
      mount_setattr: 442,
      move_mount: 429,
      move_pages: 279,
      name_to_handle_at: 303,
      nfsservctl: 180,
      open_by_handle_at: 304,
      open_tree: 428,
      perf_event_open: 298,
      pivot_root: 155,
      process_vm_readv: 310,
      process_vm_writev: 311,
      query_module: 178,
      quotactl: 179,
      reboot: 169,
      request_key: 249,
      set_mempolicy: 238,
      setns: 308,
      settimeofday: 164,
      swapoff: 168,
      swapon: 167,
      sysfs: 139,
      umount2: 166,
      unshare: 272,
      uselib: 134,
      userfaultfd: 323,
      ustat: 136,
    },
  },
  arm64: {
    audit: 0xc00000b7,
    oci: "SCMP_ARCH_AARCH64",
    numbers: {
      acct: 89,
      add_key: 217,
      bpf: 280,
      clock_adjtime: 266,
      clock_settime: 112,
      clone: 220,
      clone3: 435,
      set_mempolicy_home_node: 450,
      delete_module: 106,
      finit_module: 273,
      fsconfig: 431,
      fsmount: 432,
      fsopen: 430,
      fspick: 433,
      get_mempolicy: 236,
      init_module: 105,
      io_uring_enter: 426,
      io_uring_register: 427,
      io_uring_setup: 425,
      kcmp: 272,
      kexec_file_load: 294,
      kexec_load: 104,
      keyctl: 219,
      lookup_dcookie: 18,
      mbind: 235,
      mount: 40,
      mount_setattr: 442,
      move_mount: 429,
      move_pages: 239,
      name_to_handle_at: 264,
      nfsservctl: 42,
      open_by_handle_at: 265,
      open_tree: 428,
      perf_event_open: 241,
      pivot_root: 41,
      process_vm_readv: 270,
      process_vm_writev: 271,
      quotactl: 60,
      reboot: 142,
      request_key: 218,
      set_mempolicy: 237,
      setns: 268,
      settimeofday: 170,
      swapoff: 225,
      swapon: 224,
      umount2: 39,
      unshare: 97,
      userfaultfd: 282,
    },
  },
};

/** The filter the helper installs, as numbers for this architecture. */
export interface HelperSeccomp {
  arch: number;
  /** Syscall numbers at or above it are refused (x86-64's x32 ABI); 0: none. */
  x32Bit: number;
  denied: number[];
  unimplemented: number[];
  /** clone's number, or -1 when namespace clones are allowed. */
  clone: number;
  cloneFlags: number;
  /** Syscall numbers above it get ENOSYS; 0: no limit. */
  newest: number;
}

function table(arch: string): ArchTable {
  const t = ARCHES[arch];
  if (!t) {
    throw new LaunchError(
      "UNSUPPORTED_OPTION",
      `no seccomp syscall table for architecture '${arch}' (x64 and arm64 are known): run with seccomp off`,
    );
  }
  return t;
}

function newestNumber(policy: SeccompPolicy, t: ArchTable, arch: string): number {
  if (policy.newest === undefined) return 0;
  const n = t.numbers[policy.newest];
  if (n === undefined) {
    throw new LaunchError(
      "INVALID_SPEC",
      `seccomp: the newest syscall '${policy.newest}' has no number in the ${arch} table`,
    );
  }
  return n;
}

function checkNames(names: string[]): void {
  for (const name of names) {
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new LaunchError("INVALID_SPEC", `bad syscall name '${name}'`);
  }
}

/** The policy as the helper's numbers (names this architecture lacks are dropped). */
export function toHelperSeccomp(policy: SeccompPolicy, arch: string = process.arch): HelperSeccomp {
  checkNames([
    ...policy.denied,
    ...policy.unimplemented,
    ...(policy.newest === undefined ? [] : [policy.newest]),
  ]);
  const t = table(arch);
  const numbers = (names: string[]) =>
    [...new Set(names.map((n) => t.numbers[n]).filter((n): n is number => n !== undefined))].sort(
      (a, b) => a - b,
    );
  return {
    arch: t.audit,
    x32Bit: t.x32Bit ?? 0,
    denied: numbers(policy.denied),
    unimplemented: numbers(policy.unimplemented),
    clone: policy.denyNamespaceClone ? (t.numbers.clone as number) : -1,
    cloneFlags: CLONE_NAMESPACE_FLAGS,
    newest: newestNumber(policy, t, arch),
  };
}

/** The policy as an OCI runtime-spec `linux.seccomp` section (crun and runc apply it with libseccomp). */
export function toOciSeccomp(policy: SeccompPolicy, arch: string = process.arch): Record<string, unknown> {
  checkNames([...policy.denied, ...policy.unimplemented]);
  const t = table(arch);
  const known = (names: string[]) => names.filter((n) => t.numbers[n] !== undefined);
  const syscalls: Record<string, unknown>[] = [
    { names: known(policy.denied), action: "SCMP_ACT_ERRNO", errnoRet: 1 },
    { names: known(policy.unimplemented), action: "SCMP_ACT_ERRNO", errnoRet: 38 },
  ];
  if (policy.denyNamespaceClone) {
    // rules for one syscall are OR'ed: one per flag, "flags & F == F"
    for (let bit = 1; bit <= CLONE_NAMESPACE_FLAGS; bit *= 2) {
      if ((CLONE_NAMESPACE_FLAGS & bit) === 0) continue;
      syscalls.push({
        names: ["clone"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 1,
        args: [{ index: 0, value: bit, valueTwo: bit, op: "SCMP_CMP_MASKED_EQ" }],
      });
    }
  }
  return {
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: [t.oci],
    syscalls: syscalls.filter((s) => (s.names as string[]).length > 0),
  };
}
