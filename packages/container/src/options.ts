// The public options and results of ContainerRuntime (kept apart from its implementation).
import type { CgroupManager } from "@strata/cgroup";
import type { ImageStore } from "@strata/image-store";
import type { LaunchedProcess, LaunchOptions, LaunchSpec } from "@strata/launch";
import type { Mounter } from "@strata/overlay-mount";
import type { Explain, ExplainedStep, Trace } from "./explain.js";
import type { NetworkMode, NetworkOptions, PortableBridgeOptions } from "./network.js";

/** `runDetached` options: stdio, tty and the callbacks belong to the monitor process. */
export type DetachedRunOptions = Omit<
  RunOptions,
  "stdio" | "onStart" | "forwardSignals" | "tty" | "interactive"
>;

export interface DetachedContainer {
  id: string;
  name: string;
  /** Host pid of PID 1. */
  pid: number;
}

/** The runtime options a monitor process is given through `launch.json`. */
export interface PortableRuntimeOptions {
  cgroupParent?: string;
  cgroupRoot?: string;
  netnsRoot?: string;
  helperPath?: string;
  hostEtc?: string;
  stopTimeoutMs?: number;
  /** The built-in bridge's options (`false`: none); absent: the default bridge. */
  bridge?: PortableBridgeOptions | false;
  defaultNetwork?: string;
}

/** Starts a LaunchSpec; `launch` from @strata/launch by default (the seam unit tests replace). */
export type Launcher = (spec: LaunchSpec, options: LaunchOptions) => Promise<LaunchedProcess>;

export interface ContainerRuntimeOptions {
  /** The image store; containers live under its root (`containers/`, `overlay2/`, `layerdb/mounts/`). */
  store: ImageStore;
  /** Parent cgroup of every container (default `strata`). */
  cgroupParent?: string;
  /** Where cgroupfs is mounted (default `/sys/fs/cgroup`). */
  cgroupRoot?: string;
  /** A ready cgroup manager (overrides cgroupParent/cgroupRoot). */
  cgroupManager?: CgroupManager;
  /** Mount effects (default: util-linux mount/umount). */
  mounter?: Mounter;
  /** Named network namespaces root and attachers for other network modes. */
  network?: NetworkOptions;
  /** Default: @strata/launch `launch`. */
  launcher?: Launcher;
  /** Path of the native launch helper (default: @strata/launch's build). */
  helperPath?: string;
  /** Where the host's hosts / resolv.conf are read (default `/etc`). */
  hostEtc?: string;
  /** How long `stop` waits after SIGTERM before SIGKILL, by default (10 s, like Docker). */
  stopTimeoutMs?: number;
  /**
   * The detached monitor's command; the store root and container id are appended. Default: this
   * package's `dist/monitor.js` under the current node.
   */
  monitorCommand?: string[];
}

/** A running container as `onStart` sees it. */
export interface StartedContainer {
  id: string;
  name: string;
  /** Host pid of the container's PID 1. */
  pid: number;
  /** With `stdio: "pipe"`. */
  stdin: LaunchedProcess["stdin"];
  stdout: LaunchedProcess["stdout"];
  stderr: LaunchedProcess["stderr"];
  /** Signal PID 1 (forwarded by the launcher). */
  kill(signal?: NodeJS.Signals | number): void;
}

export interface RunOptions {
  /** Image reference or ID, as `ImageStore.resolve` takes it. */
  image: string;
  /** Unique name (default: a generated `adjective_scientist_xxxx`). */
  name?: string;
  /** `CMD…` after the image: replaces the image's Cmd. */
  args?: string[];
  /** `--entrypoint` (replaces the image's Entrypoint, and drops its Cmd unless `args` are given). */
  entrypoint?: string[];
  /** `-e KEY=value` overrides, applied after the env files. */
  env?: string[];
  /** `--env-file` paths, read in order. */
  envFiles?: string[];
  /** `-w`. */
  workdir?: string;
  /** `-u name|uid[:group|gid]`. */
  user?: string;
  /** `--hostname` (default: the first 12 hex digits of the id; the host's name with `network: "host"`). */
  hostname?: string;
  /**
   * `bridge` (default, unless the runtime's `network.defaultMode` says otherwise), `none`, `host`,
   * `ns:NAME`, or a mode with a registered attacher.
   */
  network?: NetworkMode;
  /** `-p [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]` (bridge or attacher networks only). */
  publish?: string[];
  /** `--read-only` root filesystem. */
  readOnly?: boolean;
  /**
   * `--security-opt seccomp=unconfined`: `"unconfined"` runs without a seccomp filter; default: Docker's
   * default profile (@strata/launch `DOCKER_DEFAULT_SECCOMP`).
   */
  seccomp?: "default" | "unconfined";
  /** `--cap-add` / `--cap-drop`: added to / removed from Docker's default capabilities (`ALL` allowed). */
  capAdd?: string[];
  capDrop?: string[];
  /** `--ulimit NAME=SOFT[:HARD]` (`nofile=1024:2048`; -1 unlimited). */
  ulimits?: string[];
  /** `--group-add`: extra supplementary groups (names from the image's /etc/group, or ids). */
  groupAdd?: string[];
  /**
   * `-v HOST:CONTAINER[:ro|rw]` bind mounts (absolute host paths that exist; strata does not create them,
   * unlike docker's `-v`).
   */
  volumes?: string[];
  /** `--tmpfs PATH[:OPTIONS]` (defaults `nosuid,nodev,noexec`, as docker's). */
  tmpfs?: string[];
  /** `--mount type=bind|tmpfs,…` in docker's syntax (see `parseMount`). */
  mounts?: string[];
  /** `--add-host NAME:ADDRESS` (or `NAME=ADDRESS`; `host-gateway`: the bridge's gateway) `/etc/hosts` lines. */
  addHosts?: string[];
  /** `--runtime`: the native helper (default) or an OCI runtime given an OCI bundle. */
  runtime?: "builtin" | "crun" | "runc";
  /** `--pids-limit`. */
  pidsLimit?: number;
  /** `--memory`, bytes or `64m`. */
  memory?: string | number;
  /** `--memory-swap` (memory + swap; -1 unlimited). Default, as Docker: twice `memory`. */
  memorySwap?: string | number;
  /** `--cpus` (quota per 100 ms period). */
  cpus?: string | number;
  /** `--rm`: remove the container and its layer when it exits. */
  rm?: boolean;
  tty?: boolean;
  interactive?: boolean;
  /** `inherit` (default) or `pipe` (streams on the `onStart` handle). */
  stdio?: "inherit" | "pipe";
  /** Forward SIGTERM/SIGINT/… received by this process to the container (the CLI turns it on). */
  forwardSignals?: boolean;
  /**
   * Called when the image is not in the store: fetch it (the CLI pulls through @strata/registry-pull).
   * The container package knows no HTTP. Without it a missing image fails with IMAGE_NOT_FOUND.
   */
  pull?: (reference: string) => Promise<void>;
  /** Called once PID 1 has exec'd. */
  onStart?: (container: StartedContainer) => void;
  /**
   * `--explain`: called before each step with the shell commands that do the same by hand (see
   * `RunPlan.script`). With the built-in bridge the `ip`/`iptables` lines come from the bridge's
   * own `onCommand` option instead.
   */
  explain?: Explain;
  /** `--dry-run`: compute every step's commands (given to `explain`, and in `RunResult.plan`), do nothing. */
  dryRun?: boolean;
  /** `--trace`: records the duration of each step. */
  trace?: Trace;
}

/** What a run would do, as commands (`runtime.plan`, `run({ dryRun })`). */
export interface RunPlan {
  id: string;
  name: string;
  imageId: string;
  hostname: string;
  /** The container layer's overlay2 dir (its `diff` is the upperdir). */
  layerDir: string;
  /** Its name under overlay2 (the mount id) and the short link id the plan gives it. */
  mountId: string;
  link: string;
  /** The cgroup directories (one per v1 hierarchy, or one v2 dir). */
  cgroupDirs: string[];
  steps: ExplainedStep[];
  /** The steps as one `bash -e` script, teardown included. */
  script: string;
}

export interface RunResult {
  id: string;
  name: string;
  /** The container's exit code; 128+N when signal N killed it. */
  exitCode: number;
  signal: NodeJS.Signals | null;
  /** The memory cgroup's OOM killer killed a process of the container. */
  oomKilled: boolean;
  /** True with `rm`: nothing of the container is left. */
  removed: boolean;
  /** With `dryRun`: what would have been done (nothing was; exitCode is 0). */
  plan?: RunPlan;
}

export interface ContainerSummary {
  id: string;
  name: string;
  image: string;
  imageId: string;
  command: string;
  created: string;
  /** As recorded; `running` is only reported while the process is really alive. */
  status: "created" | "running" | "exited";
  exitCode?: number;
  pid?: number;
  startedAt?: string;
  finishedAt?: string;
  oomKilled?: boolean;
}

export interface GcReport {
  /** Containers whose owner was gone and that were torn down (and removed when `--rm` was recorded). */
  cleaned: string[];
  removed: string[];
  /** Leftover layers, cgroups and names that belonged to no container. */
  orphans: string[];
}
