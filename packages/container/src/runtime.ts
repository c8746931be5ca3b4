import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, open, readdir, readFile, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import {
  type CgroupEffect,
  type CgroupGroup,
  type CgroupLimits,
  type CgroupManager,
  cpusToQuota,
  openCgroupManager,
} from "@strata/cgroup";
import type { ImageStore } from "@strata/image-store";
import {
  type BuildLaunchSpecOptions,
  buildLaunchSpec,
  type ExitStatus,
  type ImageRuntimeConfig,
  type LaunchSpec,
  launch,
  type MountSpec,
  overlayLayerDirs,
  type RootfsOverlay,
  toHelperSpec,
} from "@strata/launch";
import { isAlive, processRef, processStartTime } from "@strata/lockfile";
import { BridgeNetwork, bridgeAttacher, normalizePublish } from "@strata/network";
import { chainIds, type ImageConfig } from "@strata/oci-types";
import {
  buildOverlayMount,
  createContainerLayer,
  isMountPoint,
  layerMount,
  mountLayer,
  newLinkId,
  readLower,
  removeLayer,
  removeTree,
  unmountLayer,
} from "@strata/overlay-mount";
import { cgroupfsMounts } from "./cgroup-mounts.js";
import { createGroup, readOomKilled } from "./container-cgroup.js";
import { ContainerError } from "./errors.js";
import {
  containerHosts,
  containerResolvConf,
  type EtcFiles,
  hostHostname,
  writeEtcFiles,
} from "./etc-files.js";
import { type ExecOptions, type ExecTemplate, execSpecOf, execTemplateOf } from "./exec.js";
import {
  cgroupCommands,
  dryRunBridgeEffects,
  dryRunCgroupFs,
  type Explain,
  type ExplainedStep,
  execCommands,
  layerCommands,
  overlayMountCommand,
  placeholderCommands,
  renderScript,
  type StepName,
  type Trace,
  teardownCommands,
  timed,
} from "./explain.js";
import { tailStart } from "./log-tail.js";
import {
  attachNetwork,
  checkNetworkMode,
  detachNetwork,
  type NetworkAttachment,
  type NetworkAttachRequest,
  type NetworkMode,
  type NetworkOptions,
  type PortableBridgeOptions,
} from "./network.js";
import type {
  ContainerRuntimeOptions,
  ContainerSummary,
  DetachedContainer,
  DetachedRunOptions,
  GcReport,
  PortableRuntimeOptions,
  RunOptions,
  RunPlan,
  RunResult,
  StartedContainer,
} from "./options.js";
import type { AddedHost } from "./parse.js";
import {
  assertContainerName,
  generateName,
  isContainerId,
  newContainerId,
  parseAddHost,
  parseCpus,
  parseMemory,
  parseMount,
  parseTmpfs,
  parseUlimit,
  parseVolume,
  readEnvFile,
} from "./parse.js";
import { ensureLayeredPlaceholders, ensurePlaceholders, missingPlaceholders } from "./placeholders.js";
import { type ContainerProcess, type ContainerStats, netBytes, processInfo } from "./processes.js";
import { type ContainerState, StateDir } from "./state.js";

/** `containers/<id>/launch.json`: what the monitor of a detached container launches. */
interface DetachedLaunch {
  spec: LaunchSpec;
  runtime: "builtin" | "crun" | "runc";
  runtimeOptions: PortableRuntimeOptions;
  /** An attacher network the monitor attaches itself (it owns the lease), then launches. */
  network?: NetworkAttachRequest;
  /** `--add-host` entries, for the hosts file the monitor writes once attached. */
  addHosts?: AddedHost[];
}

/** A container made up to the launch. */
interface Prepared {
  state: ContainerState;
  dir: string;
  spec: LaunchSpec;
  group: CgroupGroup;
  runtime: "builtin" | "crun" | "runc";
  /** `containers/<id>/exec.json` being written. */
  execTemplate: Promise<void>;
}

interface ExecuteIo {
  stdio: "inherit" | "pipe";
  forwardSignals: boolean;
  onStart?: (container: StartedContainer) => void;
  /** PID 1 runs and state.json says so. */
  onRunning?: (pid: number) => void;
  /** Launch failed (nothing ran). */
  onFailure?: (error: unknown) => void;
  explain?: Explain;
  trace?: Trace;
}

/** `run --explain`: fixed ids (those the plan printed) and a call once the layer exists. */
interface PrepareHooks {
  ids?: { id: string; mountId: string };
  name?: string;
  beforeSetup?: (link: string) => void;
}

/** Reads the first line from the child's fd 3, or "" when it closes or exits first. */
function firstLine(child: ChildProcess): Promise<string> {
  const stream = child.stdio[3] as Readable | null;
  return new Promise((resolve) => {
    let buffer = "";
    let done = false;
    const finish = (line: string) => {
      if (done) return;
      done = true;
      stream?.destroy();
      resolve(line);
    };
    if (!stream) return finish("");
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf("\n");
      if (nl >= 0) finish(buffer.slice(0, nl));
    });
    stream.on("error", () => finish(buffer));
    stream.on("close", () => finish(buffer));
    // normally "close" ends it; a grandchild that inherited fd 3 (an OCI runtime) could keep it open
    child.on("exit", () => setTimeout(() => finish(buffer), 2000).unref());
    child.on("error", (error) => finish(`error ${error.message}`));
  });
}

/** What a run needs of its image. */
interface RunImage {
  id: string;
  config: ImageRuntimeConfig;
  top: { chainId: string; cacheId: string };
}

/** An empty cgroup without a container is removed by gc only after this long (see gc). */
const ORPHAN_CGROUP_AGE_MS = 60_000;

function now(): string {
  return new Date().toISOString();
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function codeOf(error: unknown): string | undefined {
  return (error as { code?: string } | undefined)?.code;
}

/**
 * Containers on one store: `run` (foreground), `list`, `stop`, `remove`, `gc`. One instance per process;
 * several processes may share a store (names are claimed atomically, state files replaced atomically).
 */
export class ContainerRuntime {
  readonly store: ImageStore;
  readonly states: StateDir;
  private readonly options: ContainerRuntimeOptions;
  private cgroupsPromise: Promise<CgroupManager> | undefined;
  /** /sys/fs/cgroup mounts by cgroup version and controllers: the host's hierarchies do not change per run. */
  private readonly cgroupMountsCache = new Map<string, MountSpec[]>();
  /** The built-in bridge (unless disabled or replaced by an attacher named `bridge`). */
  private readonly bridge: BridgeNetwork | undefined;
  /** Its options as data, for a detached monitor; undefined when it was injected as an instance. */
  private readonly bridgeOptions: PortableBridgeOptions | undefined;
  /** `options.network` with the built-in bridge registered as the `bridge` attacher. */
  private readonly networkOptions: NetworkOptions;

  private constructor(options: ContainerRuntimeOptions) {
    this.options = options;
    this.store = options.store;
    this.states = new StateDir(options.store.root);
    const net = options.network ?? {};
    const attachers = { ...(net.attachers ?? {}) };
    if (attachers.bridge === undefined && net.bridge !== false) {
      if (net.bridge instanceof BridgeNetwork) {
        this.bridge = net.bridge;
      } else {
        const given = net.bridge ?? {};
        const name = given.bridge ?? "strata0";
        const full = { ...given, stateDir: given.stateDir ?? join(options.store.root, "network", name) };
        this.bridge = new BridgeNetwork(full);
        const { ip: _ip, iptables: _fw, sysctl: _sysctl, onCommand: _cmd, ...portable } = full;
        this.bridgeOptions = portable;
      }
      const bridge = this.bridge;
      attachers.bridge = {
        attach: (request) => bridgeAttach(bridge, request),
        // by container id, not by the attachment's data: a crash between the lease and the state write
        // leaves only the mode recorded
        detach: async (attachment) => {
          const id = attachment.data?.containerId;
          if (typeof id === "string") await bridge.detach(id);
        },
      };
    }
    this.networkOptions = { ...net, attachers };
  }

  /** The mode of a run that does not name one. */
  private defaultNetwork(): NetworkMode {
    return this.options.network?.defaultMode ?? "bridge";
  }

  static async open(options: ContainerRuntimeOptions): Promise<ContainerRuntime> {
    const runtime = new ContainerRuntime(options);
    await runtime.states.init();
    return runtime;
  }

  private get overlayRoot(): string {
    return this.store.layout.overlay2;
  }

  private mountRecord(id: string): string {
    return join(this.store.layout.layerdbMounts, id);
  }

  /** The cgroup manager (detected once). */
  cgroups(): Promise<CgroupManager> {
    this.cgroupsPromise ??= this.options.cgroupManager
      ? Promise.resolve(this.options.cgroupManager)
      : openCgroupManager({
          ...(this.options.cgroupRoot ? { root: this.options.cgroupRoot } : {}),
          parent: this.options.cgroupParent ?? "strata",
        });
    return this.cgroupsPromise;
  }

  /** The /sys/fs/cgroup mounts for a container of `group` (read from the host once per controller set). */
  private async cgroupMounts(group: CgroupGroup): Promise<MountSpec[]> {
    const key = `${group.version}:${group.controllers.join(",")}`;
    let mounts = this.cgroupMountsCache.get(key);
    if (!mounts) {
      mounts = cgroupfsMounts(group, { cgroupRoot: (await this.cgroups()).root });
      this.cgroupMountsCache.set(key, mounts);
    }
    return mounts;
  }

  // ------------------------------------------------------------------ run

  private async limitsOf(options: RunOptions): Promise<CgroupLimits> {
    const limits: CgroupLimits = {};
    if (options.pidsLimit !== undefined) {
      if (!Number.isSafeInteger(options.pidsLimit) || (options.pidsLimit <= 0 && options.pidsLimit !== -1)) {
        throw new ContainerError(
          "INVALID_OPTION",
          `--pids-limit must be a positive integer, or -1 for no limit (got ${options.pidsLimit})`,
        );
      }
      limits.pids = options.pidsLimit === -1 ? "max" : options.pidsLimit;
    }
    if (options.memory !== undefined) {
      const limit = parseMemory(options.memory, "--memory");
      const swapInput = options.memorySwap;
      const swap =
        swapInput === undefined
          ? limit * 2
          : swapInput === -1 || swapInput === "-1"
            ? ("max" as const)
            : parseMemory(swapInput, "--memory-swap");
      if (swap !== "max" && swap < limit) {
        throw new ContainerError(
          "INVALID_OPTION",
          `--memory-swap (${swap} bytes) must be at least --memory (${limit} bytes): it counts memory plus swap`,
        );
      }
      limits.memory = { limit, swap };
    } else if (options.memorySwap !== undefined) {
      throw new ContainerError("INVALID_OPTION", "--memory-swap needs --memory too");
    }
    if (options.cpus !== undefined) {
      try {
        limits.cpu = cpusToQuota(parseCpus(options.cpus));
      } catch (error) {
        if (error instanceof ContainerError) throw error;
        throw new ContainerError("INVALID_OPTION", (error as Error).message, { cause: error });
      }
    }
    return limits;
  }

  /**
   * The image's ID, runtime config and top layer. Cheaper than `ImageStore.get` (no sizes, no
   * manifest): this is on every run's path.
   */
  private async resolveImage(options: RunOptions): Promise<RunImage> {
    const trace = options.trace;
    const lookup = (): Promise<RunImage | undefined> => timed(trace, "resolve", lookupOnce);
    const lookupOnce = async (): Promise<RunImage | undefined> => {
      const id = await this.store.resolve(options.image);
      const config = id ? await this.store.readConfig(id) : undefined;
      if (!id || !config) return undefined;
      const chains = chainIds(config.value.rootfs?.diff_ids ?? []);
      const topChain = chains.at(-1);
      if (topChain === undefined) {
        throw new ContainerError(
          "IMAGE_NOT_FOUND",
          `image '${options.image}' has no layers: there is no filesystem to run`,
        );
      }
      const top = await this.store.layer(topChain);
      if (!top) {
        throw new ContainerError(
          "IMAGE_NOT_FOUND",
          `layer ${topChain} of image '${options.image}' is missing from the store: pull the image again`,
        );
      }
      return {
        id,
        config: runtimeConfigOf(config.value),
        top: { chainId: top.chainId, cacheId: top.cacheId },
      };
    };
    let image = await lookup();
    if (!image && options.pull) {
      const pull = options.pull;
      await timed(trace, "pull", () => pull(options.image));
      image = await lookup();
    }
    if (!image) {
      throw new ContainerError(
        "IMAGE_NOT_FOUND",
        `image '${options.image}' is not in the store ${this.store.root}: pull it first ('strata pull ${options.image}')`,
      );
    }
    return image;
  }

  /**
   * `docker run` in the foreground: resolve (or pull) the image, create the container layer, mount it,
   * create the cgroup with limits, set up the network and /etc files, launch, wait, and tear everything
   * down. Resolves with the container's exit code once nothing of it runs any more (and, with `rm`,
   * nothing of it is left on disk).
   */
  async run(options: RunOptions): Promise<RunResult> {
    const explain = options.explain;
    if (options.dryRun) {
      const plan = await this.plan(options);
      for (const s of plan.steps) explain?.(s.step, s.commands, s.note);
      return {
        id: plan.id,
        name: plan.name,
        exitCode: 0,
        signal: null,
        oomKilled: false,
        removed: true,
        plan,
      };
    }
    let hooks: PrepareHooks = {};
    if (explain) {
      const plan = await this.plan(options);
      const emit = (step: StepName, link?: string) => {
        for (const s of plan.steps) {
          if (s.step !== step) continue;
          const commands = link ? s.commands.map((c) => c.replaceAll(plan.link, link)) : s.commands;
          explain(s.step, commands, s.note);
        }
      };
      emit("resolve");
      hooks = {
        ids: { id: plan.id, mountId: plan.mountId },
        name: plan.name,
        // after the layer exists (its link id is random), before the mount, cgroup and network
        beforeSetup: (link) => {
          emit("mount", link);
          emit("cgroup");
          emit("netns");
          emit("veth");
        },
      };
    }
    const prepared = await this.prepare(options, false, hooks);
    return this.execute(prepared, {
      stdio: options.stdio ?? "inherit",
      forwardSignals: options.forwardSignals ?? false,
      ...(options.onStart ? { onStart: options.onStart } : {}),
      ...(explain ? { explain } : {}),
      ...(options.trace ? { trace: options.trace } : {}),
    });
  }

  /**
   * `--dry-run`: every step of `run(options)` as commands, computed from real values (the image's
   * layers in the store, fresh ids, the cgroup paths, the overlay options) without creating anything
   * (the image is not pulled either). Network modes none, host and ns:NAME only: a bridge address
   * cannot be known without leasing it.
   */
  async plan(options: RunOptions): Promise<RunPlan> {
    if (options.name !== undefined) assertContainerName(options.name);
    const network = options.network ?? this.defaultNetwork();
    checkNetworkMode(network, this.networkOptions);
    const builtin = network === "none" || network === "host" || network.startsWith("ns:");
    // the built-in bridge can be attached on paper (a copy of its leases, effects that only record)
    const paperBridge = network === "bridge" && this.bridge !== undefined && this.bridgeOptions !== undefined;
    if (!builtin && !paperBridge && options.dryRun) {
      throw new ContainerError(
        "INVALID_OPTION",
        `--dry-run cannot compute network '${network}' without attaching it: use --network bridge (strata's own), none, host or ns:NAME, or --explain on a real run`,
      );
    }
    if (options.publish?.length && builtin) {
      throw new ContainerError(
        "INVALID_OPTION",
        `-p needs a bridge network: network '${network}' has no ports to publish (drop -p or use --network bridge)`,
      );
    }
    if (options.publish?.length) normalizePublish(options.publish);
    const limits = await this.limitsOf(options);
    // INVALID_OPTION for a bad --ulimit, -v or --tmpfs before anything is created
    const fromOptions = launchOptionsOf(options);
    const env: string[] = [];
    for (const file of options.envFiles ?? []) env.push(...(await readEnvFile(file)));
    env.push(...(options.env ?? []));
    let image: RunImage;
    if (options.dryRun) {
      const { pull: _pull, ...noPull } = options;
      try {
        image = await this.resolveImage(noPull);
      } catch (error) {
        if (codeOf(error) !== "IMAGE_NOT_FOUND" || !options.pull) throw error;
        throw new ContainerError(
          "IMAGE_NOT_FOUND",
          `--dry-run does not pull: image '${options.image}' is not in the store ${this.store.root}; pull it first ('strata pull ${options.image}')`,
          { cause: error },
        );
      }
    } else {
      image = await this.resolveImage(options);
    }

    const id = newContainerId();
    const mountId = newContainerId();
    const link = newLinkId();
    const name = options.name ?? generateName();
    const hostname = options.hostname ?? (network === "host" ? hostHostname() : id.slice(0, 12));
    const root = this.overlayRoot;
    const parentLink = (await readFile(join(root, image.top.cacheId, "link"), "utf8")).trim();
    const lower = [`l/${parentLink}`, ...(await readLower(root, image.top.cacheId))];
    const layerDir = join(root, mountId);
    const merged = join(layerDir, "merged");
    const record = this.mountRecord(id);
    const overlay = buildOverlayMount({
      root,
      lower,
      upper: `${mountId}/diff`,
      work: `${mountId}/work`,
      target: `${mountId}/merged`,
      indexOff: await exists("/sys/module/overlay/parameters/index"),
    });
    const rootfsOverlay: RootfsOverlay =
      overlay.cwd === undefined
        ? { options: overlay.options }
        : { options: overlay.options, cwd: overlay.cwd };
    const placeholders = await missingPlaceholders(overlayLayerDirs(rootfsOverlay));
    const upper = join(layerDir, "diff");
    const mountCommands = [
      ...layerCommands({
        overlayRoot: root,
        record,
        mountId,
        link,
        parentChainId: image.top.chainId,
        parentCacheId: image.top.cacheId,
        lower,
      }),
      ...placeholderCommands(upper, placeholders.missing, placeholders.makeEtc),
      ...(placeholders.makeEtc && placeholders.etc
        ? [
            `chmod ${(placeholders.etc.mode & 0o7777).toString(8)} ${join(upper, "etc")}`,
            ...(placeholders.etc.uid || placeholders.etc.gid
              ? [`chown ${placeholders.etc.uid}:${placeholders.etc.gid} ${join(upper, "etc")}`]
              : []),
          ]
        : []),
      overlayMountCommand(overlay.options, merged, overlay.cwd),
    ];

    // the cgroup manager on a filesystem that only records: the exact mkdir/echo a create would do
    const cgroups = await this.cgroups();
    const effects: CgroupEffect[] = [];
    const dryCgroups = await openCgroupManager({
      root: cgroups.root,
      parent: cgroups.parent,
      mode: cgroups.mode,
      fs: dryRunCgroupFs(),
      observer: (effect) => effects.push(effect),
    });
    const group = await createGroup(dryCgroups, id, limits, options.memorySwap === undefined);
    const cgroupDirs = Object.values(group.paths) as string[];

    let netns: string | undefined;
    let netNote: string;
    let netnsCommands: string[] = [];
    let vethCommands: string[] | undefined;
    let networkTeardown: string[] = [];
    let extraHosts: string[] | undefined;
    let paperData: unknown;
    if (paperBridge && this.bridge && this.bridgeOptions) {
      const paper = await this.paperAttach(
        this.bridge,
        this.bridgeOptions,
        attachRequest(id, name, network, hostname, options),
      );
      netns = paper.attachment.netns;
      extraHosts = paper.attachment.hosts;
      paperData = paper.attachment.data;
      netnsCommands = paper.attach.filter((line) => line.startsWith("ip netns add "));
      vethCommands = paper.attach.filter((line) => !line.startsWith("ip netns add "));
      networkTeardown = paper.detach;
      const data = paper.attachment.data as { address?: string; bridge?: string } | undefined;
      netNote = `bridge ${data?.bridge ?? ""}: the address IPAM would lease now is ${data?.address ?? "?"} (nothing is leased by a dry run)`;
    } else if (network === "none") {
      netNote = "a new, empty network namespace (unshare --net, in exec)";
    } else if (network === "host") {
      netNote = "the host's network namespace (no --net in exec)";
    } else if (network.startsWith("ns:")) {
      netns = join(this.options.network?.netnsRoot ?? "/run/netns", network.slice(3));
      if (!(await exists(netns))) {
        throw new ContainerError(
          "NETNS_NOT_FOUND",
          `network namespace ${netns} does not exist: create it with 'ip netns add ${network.slice(3)}' first`,
        );
      }
      netNote = `joins the named namespace ${netns} (nsenter --net, in exec)`;
    } else {
      netNote = `network '${network}' is attached at run time; the bridge's onCommand shows its ip/iptables commands`;
    }

    const dir = this.states.dir(id);
    const hostEtc = this.options.hostEtc ?? "/etc";
    const hostNetwork = network === "host";
    const etcFiles = [
      { path: join(dir, "hostname"), content: `${hostname}\n` },
      {
        path: join(dir, "hosts"),
        content: containerHosts(
          {
            hostname,
            hostNetwork,
            ...(extraHosts ? { extraHosts } : {}),
            ...(extraHosts?.length ? { loopbackHostname: false } : {}),
            addedHosts: addedHostLines(fromOptions.addHosts, { data: paperData }),
          },
          await readFile(join(hostEtc, "hosts"), "utf8").catch(() => undefined),
        ),
      },
      {
        path: join(dir, "resolv.conf"),
        content: containerResolvConf(
          await readFile(join(hostEtc, "resolv.conf"), "utf8").catch(() => ""),
          hostNetwork,
        ),
      },
    ];
    // buildLaunchSpec wants an existing rootfs directory: the image's top layer stands in for the
    // merged dir the plan only names (users are looked up through the overlay's layers either way)
    const specIn = buildLaunchSpec(image.config, {
      rootfs: join(root, image.top.cacheId, "diff"),
      rootfsOverlay,
      ...(options.args !== undefined ? { args: options.args } : {}),
      ...(options.entrypoint !== undefined ? { entrypoint: options.entrypoint } : {}),
      env,
      ...(options.workdir !== undefined ? { workdir: options.workdir } : {}),
      ...(options.user !== undefined ? { user: options.user } : {}),
      hostname,
      tty: false,
      interactive: false,
      ...(netns ? { netns } : {}),
      cgroupProcs: cgroupDirs.map((d) => join(d, "cgroup.procs")),
      readonlyRootfs: options.readOnly ?? false,
      ...fromOptions.process,
      mounts: [
        ...((options.runtime ?? "builtin") === "builtin" ? await this.cgroupMounts(group) : []),
        ...fromOptions.mounts,
      ],
      // stand-ins too (it checks they are files); the bind sources are set to the planned files below
      hostsFile: join(root, image.top.cacheId, "link"),
      hostnameFile: join(root, image.top.cacheId, "link"),
      resolvConfFile: join(root, image.top.cacheId, "link"),
    });
    const etcSource: Record<string, string> = {
      "/etc/hosts": join(dir, "hosts"),
      "/etc/hostname": join(dir, "hostname"),
      "/etc/resolv.conf": join(dir, "resolv.conf"),
    };
    const spec = {
      ...specIn,
      rootfs: merged,
      mounts: specIn.mounts.map((m) => {
        const source = etcSource[m.destination];
        return source ? { ...m, source } : m;
      }),
    };
    const remove = options.rm ?? false;
    const steps: ExplainedStep[] = [
      {
        step: "resolve",
        commands: [],
        note: `image '${options.image}' is ${image.id}; its top layer ${image.top.chainId} is overlay2/${image.top.cacheId}`,
      },
      {
        step: "mount",
        commands: mountCommands,
        note: "the container layer, then the overlay (strata's helper mounts it with these options inside the container's own mount namespace; by hand it is mounted on the host)",
      },
      { step: "cgroup", commands: cgroupCommands(effects, id) },
      { step: "netns", commands: netnsCommands, note: netNote },
      ...(vethCommands ? [{ step: "veth" as const, commands: vethCommands }] : []),
      {
        step: "exec",
        commands: execCommands({
          helper: toHelperSpec(spec),
          ...(netns ? { netns } : {}),
          hostNetwork,
          etcFiles,
        }),
        note: execNote(spec),
      },
      {
        step: "teardown",
        commands: teardownCommands({
          cgroupDirs,
          network: networkTeardown,
          merged,
          ...(remove ? { layer: { overlayRoot: root, mountId, link, record }, stateDir: dir } : {}),
        }),
        note: remove
          ? "after the container's last process is gone"
          : "after the container's last process is gone (without --rm the layer stays until 'strata rm')",
      },
    ];
    return {
      id,
      name,
      imageId: image.id,
      hostname,
      layerDir,
      mountId,
      link,
      cgroupDirs,
      steps,
      script: renderScript(steps),
    };
  }

  /**
   * `docker run -d`: everything up to the launch happens here; then a detached monitor process (see
   * `monitorCommand`) launches the container, owns it, and tears it down when it exits. Resolves once
   * PID 1 runs, with its id; the container's stdout and stderr go to `containers/<id>/container.log`.
   * Only the built-in network modes (none, host, ns:NAME) can be detached: an attacher is code the
   * monitor process does not have.
   */
  async runDetached(options: DetachedRunOptions): Promise<DetachedContainer> {
    if (options.dryRun) {
      // never start a container by accident: the plan of a detached run is the foreground one's
      throw new ContainerError(
        "INVALID_OPTION",
        "runDetached does not dry-run: call runtime.plan(options) or run({ ...options, dryRun: true }) instead",
      );
    }
    const network = options.network ?? this.defaultNetwork();
    const builtin = network === "none" || network === "host" || network.startsWith("ns:");
    // the monitor attaches the network itself (it owns the lease): it rebuilds the bridge from options
    const monitorAttaches = !builtin && network === "bridge" && this.bridge !== undefined;
    if (!builtin && !monitorAttaches) {
      checkNetworkMode(network, this.networkOptions);
      throw new ContainerError(
        "INVALID_OPTION",
        `network '${network}' cannot be used detached: its attacher is code the monitor process does not have; use bridge, none, host or ns:NAME, or run in the foreground`,
      );
    }
    if (monitorAttaches && this.bridgeOptions === undefined) {
      throw new ContainerError(
        "INVALID_OPTION",
        "a detached container on a bridge given as a BridgeNetwork instance: pass its options (network.bridge: { bridge, subnet, … }) so the monitor process can rebuild it",
      );
    }
    const command = this.monitorCommand();
    const prepared = await this.prepare({ ...options, tty: false, interactive: false }, monitorAttaches);
    const { state, dir, spec, runtime } = prepared;
    await prepared.execTemplate;
    // prepare() settles the command after its last write; the monitor and `ps` read it from disk
    await this.states.write(state);
    const record: DetachedLaunch = { spec, runtime, runtimeOptions: this.portableOptions() };
    if (monitorAttaches) {
      record.network = {
        containerId: state.id,
        name: state.name,
        mode: network,
        hostname: state.hostname,
        ...(options.publish?.length ? { publish: options.publish } : {}),
      };
      const addHosts = (options.addHosts ?? []).map(parseAddHost);
      if (addHosts.length > 0) record.addHosts = addHosts;
    }
    await writeFile(join(dir, "launch.json"), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    const log = await open(join(dir, "container.log"), "a", 0o600);
    let child: ChildProcess;
    try {
      child = spawn(command[0] as string, [...command.slice(1), this.store.root, state.id], {
        detached: true,
        stdio: ["ignore", log.fd, log.fd, "pipe"],
      });
    } finally {
      await log.close();
    }
    const line = await firstLine(child);
    child.unref();
    if (line.startsWith("started ")) {
      return { id: state.id, name: state.name, pid: Number(line.slice(8)) };
    }
    // The monitor failed before PID 1 ran and is tearing the container down: wait for it (bounded),
    // finish the job if it died, then report why.
    const reason = line.startsWith("error ")
      ? line.slice(6)
      : `the monitor ${command.join(" ")} exited without starting the container (see ${join(dir, "container.log")})`;
    const deadline = Date.now() + 10_000;
    for (let delay = 5; await this.states.exists(state.id); delay = Math.min(delay * 2, 100)) {
      const latest = await this.states.read(state.id).catch(() => undefined);
      if (!latest) break;
      const ownerAlive = isAlive(latest.monitor) && latest.monitor?.pid !== process.pid;
      if (!ownerAlive || Date.now() > deadline) {
        await this.teardown({ ...latest, status: "exited" }, { remove: true }).catch(() => undefined);
        break;
      }
      await sleep(delay);
    }
    throw new ContainerError("START_FAILED", `container ${state.name} did not start: ${reason}`);
  }

  /**
   * The monitor's side of `runDetached` (called by `monitor.js`): take ownership of the prepared
   * container, launch it with this process's stdio, report on `report` (`started <pid>` or
   * `error <message>`), wait, and tear down.
   */
  async startDetached(id: string, report: (line: string) => void): Promise<RunResult> {
    const state = await this.states.read(id);
    const dir = this.states.dir(id);
    const record = JSON.parse(await readFile(join(dir, "launch.json"), "utf8")) as DetachedLaunch;
    const self = processRef(process.pid);
    if (self) state.monitor = self;
    await this.states.write(state);
    let group: CgroupGroup;
    try {
      group = await (await this.cgroups()).open(id);
      if (record.network) {
        // this process owns the container, so it owns the lease too (gc frees it when this process is gone)
        const attachment = await attachNetwork({ ...record.network, pid: process.pid }, this.networkOptions);
        state.network = attachment;
        await this.states.write(state);
        await writeEtcFiles(dir, {
          hostname: state.hostname,
          hostNetwork: false,
          ...(attachment.hosts?.length ? { extraHosts: attachment.hosts, loopbackHostname: false } : {}),
          addedHosts: addedHostLines(record.addHosts ?? [], attachment),
          ...(this.options.hostEtc ? { hostEtc: this.options.hostEtc } : {}),
        });
        if (attachment.netns) record.spec.netns = attachment.netns;
      }
    } catch (error) {
      report(`error ${(error as Error).message}`);
      await this.teardown({ ...state, status: "exited" }, { remove: true });
      throw error;
    }
    return this.execute(
      // exec.json was written by runDetached before the monitor started
      { state, dir, spec: record.spec, group, runtime: record.runtime, execTemplate: Promise.resolve() },
      {
        stdio: "inherit",
        forwardSignals: true,
        onRunning: (pid) => report(`started ${pid}`),
        onFailure: (error) => report(`error ${(error as Error).message.replace(/\n/g, " ")}`),
      },
    );
  }

  /** How to start a monitor: the option, or `node <this package>/monitor.js` when running from dist. */
  private monitorCommand(): string[] {
    if (this.options.monitorCommand) return this.options.monitorCommand;
    const here = fileURLToPath(import.meta.url);
    if (here.endsWith(".js")) return [process.execPath, join(dirname(here), "monitor.js")];
    throw new ContainerError(
      "INVALID_OPTION",
      "detached mode needs the built package (dist/monitor.js) or the monitorCommand option (e.g. node --import <ts loader> src/monitor.ts)",
    );
  }

  /** The runtime options a monitor process can be given (no functions). */
  private portableOptions(): PortableRuntimeOptions {
    const o = this.options;
    const out: PortableRuntimeOptions = {};
    if (o.cgroupParent !== undefined) out.cgroupParent = o.cgroupParent;
    if (o.cgroupRoot !== undefined) out.cgroupRoot = o.cgroupRoot;
    if (o.network?.netnsRoot !== undefined) out.netnsRoot = o.network.netnsRoot;
    if (o.helperPath !== undefined) out.helperPath = o.helperPath;
    if (o.hostEtc !== undefined) out.hostEtc = o.hostEtc;
    if (o.stopTimeoutMs !== undefined) out.stopTimeoutMs = o.stopTimeoutMs;
    if (this.bridgeOptions !== undefined) out.bridge = this.bridgeOptions;
    else if (this.bridge === undefined) out.bridge = false;
    if (o.network?.defaultMode !== undefined) out.defaultNetwork = o.network.defaultMode;
    return out;
  }

  /**
   * The bridge attach and detach of a container as commands, done on paper: a `BridgeNetwork` with the
   * same options on a copy of the leases, whose effects look (ip, iptables-save, sysctl reads) but never
   * change anything. The real leases, links, namespaces and rules stay as they are.
   */
  private async paperAttach(
    bridge: BridgeNetwork,
    options: PortableBridgeOptions,
    request: NetworkAttachRequest,
  ): Promise<{ attachment: NetworkAttachment; attach: string[]; detach: string[] }>;
  private async paperAttach(
    bridge: BridgeNetwork,
    options: PortableBridgeOptions,
    request: NetworkAttachRequest | undefined,
    containerId: string,
  ): Promise<{ attachment: undefined; attach: string[]; detach: string[] }>;
  private async paperAttach(
    bridge: BridgeNetwork,
    options: PortableBridgeOptions,
    request: NetworkAttachRequest | undefined,
    containerId = request?.containerId as string,
  ): Promise<{ attachment: NetworkAttachment | undefined; attach: string[]; detach: string[] }> {
    const copy = await mkdtemp(join(tmpdir(), "strata-dry-run-net-"));
    try {
      await cp(bridge.stateDir, copy, { recursive: true }).catch((error: unknown) => {
        if (codeOf(error) !== "ENOENT") throw error;
      });
      const lines: string[] = [];
      const paper = new BridgeNetwork({
        ...options,
        stateDir: copy,
        ...dryRunBridgeEffects(),
        onCommand: (line) => lines.push(line),
      });
      const attachment = request ? await bridgeAttach(paper, request) : undefined;
      const attach = lines.splice(0);
      await paper.detach(containerId);
      return { attachment, attach, detach: lines.splice(0) };
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  }

  /** Everything before the launch; on failure what was made is torn down and removed. */
  private async prepare(
    options: RunOptions,
    deferAttach = false,
    hooks: PrepareHooks = {},
  ): Promise<Prepared> {
    // Validate everything that can be validated before creating anything.
    if (options.name !== undefined) assertContainerName(options.name);
    const network = options.network ?? this.defaultNetwork();
    checkNetworkMode(network, this.networkOptions);
    const attacherMode = network !== "none" && network !== "host" && !network.startsWith("ns:");
    if (options.publish?.length) {
      if (!attacherMode) {
        throw new ContainerError(
          "INVALID_OPTION",
          `-p needs a bridge network: network '${network}' has no ports to publish (drop -p or use --network bridge)`,
        );
      }
      normalizePublish(options.publish); // INVALID_PUBLISH before anything is created
    }
    const limits = await this.limitsOf(options);
    // INVALID_OPTION for a bad --ulimit, -v or --tmpfs before anything is created
    const fromOptions = launchOptionsOf(options);
    const env: string[] = [];
    for (const file of options.envFiles ?? []) env.push(...(await readEnvFile(file)));
    env.push(...(options.env ?? []));
    const image = await this.resolveImage(options);

    const id = hooks.ids?.id ?? newContainerId();
    const name = options.name ?? hooks.name ?? generateName();
    const hostname = options.hostname ?? (network === "host" ? hostHostname() : id.slice(0, 12));
    await this.states.reserveName(name, id);
    const state: ContainerState = {
      id,
      name,
      image: { reference: options.image, id: image.id },
      status: "created",
      created: now(),
      autoRemove: options.rm ?? false,
      hostname,
      runtime: options.runtime ?? "builtin",
      readOnly: options.readOnly ?? false,
    };
    const self = processRef(process.pid);
    if (self) state.monitor = self;
    let dir: string;
    try {
      dir = await this.states.create(state);
    } catch (error) {
      await this.states.releaseName(name, id);
      throw error;
    }

    let group: CgroupGroup | undefined;
    try {
      // Record every intent first (so gc can undo a crash half-way), then do the independent steps at once.
      const cgroups = await this.cgroups();
      state.cgroup = { parent: cgroups.parent, paths: {} };
      state.network = { mode: network };
      const trace = options.trace;
      const layerStart = performance.now();
      await this.createLayer(state, image, hooks.ids?.mountId);
      const mount = state.mount as NonNullable<ContainerState["mount"]>;
      if (hooks.beforeSetup) {
        hooks.beforeSetup((await readFile(join(this.overlayRoot, mount.id, "link"), "utf8")).trim());
      }
      const mountTimed = <T>(p: Promise<T>): Promise<T> =>
        trace
          ? p.finally(() => trace.record("mount", layerStart - trace.origin, performance.now() - layerStart))
          : p;
      const merged = mount.merged;
      // The builtin helper mounts the overlay itself in the container's mount namespace: no mount and
      // umount spawns, and nothing on the host to unmount or leak. An injected mounter (tests) and the
      // OCI runtimes (they take a mounted rootfs) get the host mount.
      const runtime = options.runtime ?? "builtin";
      let overlay: RootfsOverlay | undefined;
      let etc: EtcFiles | undefined;
      const steps = await Promise.allSettled([
        mountTimed(
          runtime === "builtin" && !this.options.mounter
            ? layerMount({ root: this.overlayRoot, id: mount.id }).then(async (m) => {
                await mkdir(merged, { recursive: true, mode: 0o700 });
                overlay = m.cwd === undefined ? { options: m.options } : { options: m.options, cwd: m.cwd };
                // mounted for the container's lifetime, in its namespace (teardown finds nothing on the host)
                mount.mounted = true;
              })
            : mountLayer({
                root: this.overlayRoot,
                id: mount.id,
                ...(this.options.mounter ? { mounter: this.options.mounter } : {}),
              }).then(() => {
                mount.mounted = true;
              }),
        ),
        timed(trace, "cgroup", () => createGroup(cgroups, id, limits, options.memorySwap === undefined)).then(
          (g) => {
            group = g;
            (state.cgroup as NonNullable<ContainerState["cgroup"]>).paths = { ...g.paths } as Record<
              string,
              string
            >;
          },
        ),
        (deferAttach
          ? Promise.resolve<NetworkAttachment>({ mode: network })
          : timed(trace, "netns", () =>
              attachNetwork(attachRequest(id, name, network, hostname, options), this.networkOptions),
            )
        ).then(async (attachment) => {
          state.network = attachment;
          etc = await writeEtcFiles(dir, {
            hostname,
            hostNetwork: network === "host",
            ...(attachment.hosts ? { extraHosts: attachment.hosts } : {}),
            // attached later by the monitor (which rewrites this file): no gateway to name yet
            addedHosts: addedHostLines(
              deferAttach
                ? fromOptions.addHosts.filter((h) => h.address !== "host-gateway")
                : fromOptions.addHosts,
              attachment,
            ),
            ...(attachment.hosts?.length ? { loopbackHostname: false } : {}),
            ...(this.options.hostEtc ? { hostEtc: this.options.hostEtc } : {}),
          });
        }),
      ]);
      await this.states.write(state);
      for (const step of steps) if (step.status === "rejected") throw step.reason;
      if (!group || !etc) throw new Error("unreachable: setup steps settled without a result");
      if (overlay) await ensureLayeredPlaceholders(overlayLayerDirs(overlay));
      else await ensurePlaceholders(merged);

      const cgroupProcs = Object.values(group.paths).map((p) => join(p as string, "cgroup.procs"));
      const spec = buildLaunchSpec(image.config, {
        rootfs: merged,
        ...(overlay ? { rootfsOverlay: overlay } : {}),
        ...(options.args !== undefined ? { args: options.args } : {}),
        ...(options.entrypoint !== undefined ? { entrypoint: options.entrypoint } : {}),
        env,
        ...(options.workdir !== undefined ? { workdir: options.workdir } : {}),
        ...(options.user !== undefined ? { user: options.user } : {}),
        hostname,
        tty: options.tty ?? false,
        interactive: options.interactive ?? false,
        ...(state.network.netns ? { netns: state.network.netns } : {}),
        // OCI runtimes cannot be handed cgroup.procs files: the pid is moved in right after start
        cgroupProcs: runtime === "builtin" ? cgroupProcs : [],
        readonlyRootfs: options.readOnly ?? false,
        ...fromOptions.process,
        // an OCI runtime is given no cgroup mount: crun and runc on this hybrid v1 host differ in what they make of one
        mounts: [...(runtime === "builtin" ? await this.cgroupMounts(group) : []), ...fromOptions.mounts],
        hostsFile: (etc as EtcFiles).hosts,
        hostnameFile: (etc as EtcFiles).hostname,
        resolvConfFile: (etc as EtcFiles).resolvConf,
      });
      state.args = spec.args;
      // what `exec` starts its processes with (the builtin runtime only: crun and runc have their own);
      // written while the container starts, awaited before it is recorded as running (exec needs that)
      const execTemplate =
        runtime === "builtin"
          ? writeFile(join(dir, "exec.json"), JSON.stringify(execTemplateOf(spec)), { mode: 0o600 })
          : Promise.resolve();
      execTemplate.catch(() => undefined); // awaited later; a failure surfaces there

      return { state, dir, spec, group, runtime, execTemplate };
    } catch (error) {
      state.status = "exited";
      await this.teardown(state, { remove: true }).catch(() => undefined);
      throw error;
    }
  }

  /** Launch, wait, tear down. */
  private async execute(prepared: Prepared, io: ExecuteIo): Promise<RunResult> {
    const { state, dir, spec, group, runtime } = prepared;
    const { id, name } = state;
    let status: ExitStatus | undefined;
    let oomKilled = false;
    let failure: unknown;
    const execStart = performance.now();
    try {
      if (io.explain) {
        const etcFiles = [];
        for (const file of ["hostname", "hosts", "resolv.conf"]) {
          const path = join(dir, file);
          const content = await readFile(path, "utf8").catch(() => undefined);
          if (content !== undefined) etcFiles.push({ path, content });
        }
        const netns = spec.netns;
        io.explain(
          "exec",
          execCommands({
            helper: toHelperSpec(spec),
            ...(netns && !netns.startsWith("/proc/") ? { netns } : {}),
            hostNetwork: state.network?.mode === "host",
            etcFiles,
          }),
          execNote(spec),
        );
      }
      const launcher = this.options.launcher ?? launch;
      const proc = await launcher(spec, {
        stdio: io.stdio,
        forwardSignals: io.forwardSignals,
        runtime,
        ...(this.options.helperPath ? { helperPath: this.options.helperPath } : {}),
        ...(runtime === "builtin" ? {} : { containerId: `strata-${id}`, bundleDir: join(dir, "bundle") }),
      });
      const launched = proc;
      // first, before any other await: a short-lived container's output must not be missed
      io.onStart?.({
        id,
        name,
        pid: launched.pid,
        stdin: launched.stdin,
        stdout: launched.stdout,
        stderr: launched.stderr,
        kill: (signal) => launched.kill(signal),
      });
      if (runtime !== "builtin") await group.addProcess(proc.pid).catch(() => undefined);
      await prepared.execTemplate;
      state.status = "running";
      state.pid = proc.pid;
      const start = processStartTime(proc.pid);
      if (start !== undefined) state.pidStart = start;
      state.startedAt = now();
      await this.states.write(state).catch(() => undefined);
      io.onRunning?.(launched.pid);
      status = await launched.wait();
      oomKilled = await readOomKilled(group);
    } catch (error) {
      failure = error;
      if (status === undefined) io.onFailure?.(error);
    }
    io.trace?.record("exec", execStart - io.trace.origin, performance.now() - execStart);

    // Tear down whatever exists, whether the container ran or setup failed half-way.
    state.status = "exited";
    state.finishedAt = now();
    if (status) {
      state.exitCode = status.exitCode;
      state.signal = status.signal;
    }
    state.oomKilled = oomKilled;
    delete state.pid;
    delete state.pidStart;
    // a container that never started is removed: there is nothing to inspect
    const remove = state.autoRemove || status === undefined;
    if (io.explain) io.explain("teardown", await this.teardownExplained(state, remove));
    await timed(io.trace, "teardown", () => this.teardown(state, { remove, group }));
    if (failure !== undefined) throw failure;
    const result = status as ExitStatus;
    return { id, name, exitCode: result.exitCode, signal: result.signal, oomKilled, removed: remove };
  }

  /** layerdb/mounts/<id>/{mount-id,parent} first, then overlay2/<mountId>, under the store lock (so prune sees it). */
  private async createLayer(state: ContainerState, image: RunImage, fixedMountId?: string): Promise<void> {
    const { top } = image;
    const mountId = fixedMountId ?? newContainerId();
    state.mount = {
      id: mountId,
      parent: top.chainId,
      merged: join(this.overlayRoot, mountId, "merged"),
      mounted: false,
    };
    await this.states.write(state);
    await this.store.locked(async () => {
      const record = this.mountRecord(state.id);
      await mkdir(record, { recursive: true, mode: 0o700 });
      await Promise.all([
        writeFile(join(record, "mount-id"), mountId),
        writeFile(join(record, "parent"), top.chainId),
      ]);
      await createContainerLayer({ root: this.overlayRoot, id: mountId, parent: top.cacheId });
    });
  }

  // ------------------------------------------------------------------ teardown

  /**
   * Undo everything recorded in `state`; every step tolerates "already gone", so it can run again
   * (after a crash) and finish the job. With `remove` the layer, the state and the name go too.
   */
  private async teardown(
    state: ContainerState,
    options: {
      remove: boolean;
      /** The container's cgroup when the caller holds it (run): saves finding it again on disk. */
      group?: CgroupGroup;
    },
  ): Promise<void> {
    const errors: unknown[] = [];
    const step = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (error) {
        errors.push(error);
      }
    };
    // read alongside the steps below (nothing in them touches state.json), awaited before it is removed
    const recorded = this.states.exists(state.id);

    if (state.pid !== undefined && state.pidStart !== undefined) {
      const ref = { pid: state.pid, start: state.pidStart };
      if (isAlive(ref)) await step(async () => process.kill(ref.pid, "SIGKILL"));
    }
    // Processes first: nothing may still run in the rootfs or the namespace when they go.
    let group: CgroupGroup | undefined;
    if (state.cgroup) {
      await step(async () => {
        if (options.group) {
          group = options.group;
        } else {
          const cgroups = await this.cgroups();
          try {
            group = await cgroups.open(state.id);
          } catch (error) {
            if (codeOf(error) === "CGROUP_NOT_FOUND") return;
            throw error;
          }
        }
        // usually empty already (PID 1 is gone, so the kernel killed the rest): skip the freeze/kill cycle
        if ((await group.pids()).length > 0) await group.killAll();
      });
    }
    const mount = state.mount;
    await Promise.all([
      step(async () => group?.remove()),
      state.network
        ? step(() =>
            detachNetwork(
              // the bridge detaches by container id even when the crash left only the intent recorded
              state.network?.mode === "bridge" && this.bridge && !state.network.data
                ? { ...(state.network as NetworkAttachment), data: { containerId: state.id } }
                : (state.network as NetworkAttachment),
              this.networkOptions,
            ),
          )
        : undefined,
      mount
        ? step(async () => {
            // a loop, not an if: mounts can be stacked on merged (e.g. propagated back from a namespace)
            for (let tries = 0; await isMountPoint(mount.merged); tries++) {
              if (tries === 8) {
                throw new ContainerError(
                  "TEARDOWN_FAILED",
                  `${mount.merged} is still mounted after ${tries} unmounts; check 'findmnt ${mount.merged}' and run gc again`,
                );
              }
              await unmountLayer({
                root: this.overlayRoot,
                id: mount.id,
                ...(this.options.mounter ? { mounter: this.options.mounter } : {}),
              });
            }
            mount.mounted = false;
            if (options.remove) {
              // no store lock needed: the layer dir goes before its record, and prune only reads records
              // EBUSY: the container's mount namespace (where merged was its root) may still be dying
              for (let delay = 5; ; delay *= 2) {
                try {
                  await removeLayer({
                    root: this.overlayRoot,
                    id: mount.id,
                    ...(this.options.mounter ? { mounter: this.options.mounter } : {}),
                  });
                  break;
                } catch (error) {
                  if (codeOf(error) === "LAYER_NOT_FOUND") break; // gone already (an earlier teardown)
                  if (codeOf(error) !== "EBUSY" || delay > 1000) throw error;
                  await sleep(delay);
                }
              }
              await removeTree(this.mountRecord(state.id));
            } else {
              // rmdir, never rm -r: should the unmount not have happened, the container's files stay
              await rmdir(mount.merged).catch(() => undefined);
            }
          })
        : undefined,
    ]);
    const stillRecorded = await recorded;
    if (options.remove && errors.length === 0) {
      await step(() => this.states.remove(state.id));
      await step(() => this.states.releaseName(state.name, state.id));
    }
    if ((!options.remove || errors.length > 0) && stillRecorded) {
      await this.states.write(state).catch(() => undefined);
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1)
      throw new AggregateError(errors, `tearing down container ${state.id.slice(0, 12)} failed`);
  }

  // ------------------------------------------------------------------ queries

  /** A container by full id, name, or unique id prefix. */
  async resolve(ref: string): Promise<ContainerState> {
    if (isContainerId(ref) && (await this.states.exists(ref))) return this.states.read(ref);
    const byName = await this.states.nameHolder(ref);
    if (byName && (await this.states.exists(byName))) return this.states.read(byName);
    if (/^[0-9a-f]+$/.test(ref)) {
      const matches = (await this.states.ids()).filter((id) => id.startsWith(ref));
      if (matches.length > 1) {
        throw new ContainerError(
          "AMBIGUOUS_ID",
          `'${ref}' matches ${matches.length} containers (${matches.map((m) => m.slice(0, 12)).join(", ")}): give more of the id`,
        );
      }
      if (matches.length === 1) return this.states.read(matches[0] as string);
    }
    throw new ContainerError(
      "CONTAINER_NOT_FOUND",
      `no container named or with id '${ref}': 'strata ps -a' lists them`,
    );
  }

  /** The full recorded state (`strata inspect`). */
  inspect(ref: string): Promise<ContainerState> {
    return this.resolve(ref);
  }

  /**
   * `logs`: the output (stdout and stderr, interleaved as written) of a detached container, from
   * `containers/<id>/container.log`. With `follow`, keeps reading until the container is no longer
   * running (or `signal` aborts). A foreground container has no log (its output went to the caller):
   * CONTAINER_NOT_LOGGED.
   */
  async *logs(
    ref: string,
    options: {
      follow?: boolean;
      signal?: AbortSignal;
      pollMs?: number;
      /** `--tail N`: start N lines before the end (0: only what comes next, with `follow`). */
      tail?: number;
    } = {},
  ): AsyncGenerator<Buffer> {
    const state = await this.resolve(ref);
    const file = join(this.states.dir(state.id), "container.log");
    const handle = await open(file, "r").catch((error: unknown) => {
      if (codeOf(error) !== "ENOENT") throw error;
      throw new ContainerError(
        "CONTAINER_NOT_LOGGED",
        `container ${state.name} has no log: only detached containers (run -d) are logged`,
      );
    });
    try {
      const buffer = Buffer.alloc(64 * 1024);
      let position = options.tail === undefined ? 0 : await tailStart(handle, options.tail, buffer);
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        if (bytesRead > 0) {
          position += bytesRead;
          yield Buffer.from(buffer.subarray(0, bytesRead));
          continue;
        }
        if (!options.follow || options.signal?.aborted) return;
        // the end of the file: done once the container stopped and everything it wrote has been read
        const running = this.isRunning(await this.states.read(state.id).catch(() => state));
        if (!running) {
          const { size } = await handle.stat();
          if (size <= position) return;
          continue;
        }
        await sleep(options.pollMs ?? 100);
      }
    } finally {
      await handle.close();
    }
  }

  /** Whether the container's PID 1 runs now (its recorded pid, with the same start time, is alive). */
  isRunning(state: ContainerState): boolean {
    return (
      state.status === "running" &&
      state.pid !== undefined &&
      state.pidStart !== undefined &&
      isAlive({ pid: state.pid, start: state.pidStart })
    );
  }

  /** `ps` (running only) / `ps -a` (all), oldest first. */
  async list(options: { all?: boolean } = {}): Promise<ContainerSummary[]> {
    const out: ContainerSummary[] = [];
    for (const id of await this.states.ids()) {
      let state: ContainerState;
      try {
        state = await this.states.read(id);
      } catch {
        continue; // removed meanwhile, or corrupt (gc reports it)
      }
      const running = this.isRunning(state);
      if (!options.all && !running) continue;
      const summary: ContainerSummary = {
        id,
        name: state.name,
        image: state.image.reference,
        imageId: state.image.id,
        command: (state.args ?? []).join(" "),
        created: state.created,
        status: running ? "running" : state.status === "running" ? "exited" : state.status,
      };
      if (state.exitCode !== undefined) summary.exitCode = state.exitCode;
      if (running && state.pid !== undefined) summary.pid = state.pid;
      if (state.startedAt) summary.startedAt = state.startedAt;
      if (state.finishedAt) summary.finishedAt = state.finishedAt;
      if (state.oomKilled !== undefined) summary.oomKilled = state.oomKilled;
      out.push(summary);
    }
    return out.sort((a, b) => a.created.localeCompare(b.created));
  }

  /** Reason an image cannot be deleted (for ImageStore's `imageInUse` hook), or undefined. */
  async imageInUse(imageId: string): Promise<string | undefined> {
    for (const id of await this.states.ids()) {
      const state = await this.states.read(id).catch(() => undefined);
      if (state?.image.id === imageId) return `used by container ${state.name} (${id.slice(0, 12)})`;
    }
    return undefined;
  }

  // ------------------------------------------------------------------ stop / rm / gc

  /** Wait until the container's owner has recorded its exit; false on timeout or when the owner is gone. */
  private async waitExited(id: string, timeoutMs: number): Promise<ContainerState | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      if (!(await this.states.exists(id))) return undefined;
      const state = await this.states.read(id);
      if (state.status === "exited" && !state.mount?.mounted) return state;
      if (!isAlive(state.monitor) || Date.now() > deadline) return state;
      await sleep(delay);
    }
  }

  /**
   * `stop`: SIGTERM to PID 1, SIGKILL to every process of the container after `timeoutMs`
   * (default 10 s), then wait for the owner to tear it down (or do it here if the owner is gone).
   */
  async stop(
    ref: string,
    options: { timeoutMs?: number; signal?: NodeJS.Signals } = {},
  ): Promise<ContainerState> {
    const state = await this.resolve(ref);
    const timeoutMs = options.timeoutMs ?? this.options.stopTimeoutMs ?? 10_000;
    if (this.isRunning(state)) {
      const pidRef = { pid: state.pid as number, start: state.pidStart as string };
      try {
        process.kill(pidRef.pid, options.signal ?? "SIGTERM");
      } catch (error) {
        if (codeOf(error) !== "ESRCH") throw error;
      }
      const deadline = Date.now() + timeoutMs;
      for (let delay = 5; isAlive(pidRef) && Date.now() < deadline; delay = Math.min(delay * 2, 100))
        await sleep(delay);
      if (isAlive(pidRef)) await this.killAll(state);
    }
    return this.settle(state);
  }

  /**
   * `exec`: run a process in a running container — its namespaces, cgroups, environment, user, working
   * directory, capabilities and seccomp filter, as docker exec (builtin runtime). Resolves with the
   * process's exit status (128+N when signal N killed it). CONTAINER_NOT_RUNNING when it is not running.
   */
  async exec(ref: string, options: ExecOptions): Promise<ExitStatus> {
    const state = await this.resolve(ref);
    if (!this.isRunning(state)) {
      throw new ContainerError("CONTAINER_NOT_RUNNING", `container ${state.name} is not running`);
    }
    if (state.runtime !== "builtin") {
      throw new ContainerError(
        "INVALID_OPTION",
        `exec needs the builtin runtime; container ${state.name} runs under ${state.runtime} (use '${state.runtime} exec strata-${state.id}')`,
      );
    }
    let template: ExecTemplate;
    try {
      template = JSON.parse(
        await readFile(join(this.states.dir(state.id), "exec.json"), "utf8"),
      ) as ExecTemplate;
    } catch (error) {
      throw new ContainerError(
        "STATE_CORRUPT",
        `container ${state.name} has no readable exec.json (started by an older strata?): ${(error as Error).message}`,
        { cause: error },
      );
    }
    const spec = execSpecOf(template, { pid: state.pid as number, start: state.pidStart as string }, options);
    const launcher = this.options.launcher ?? launch;
    const proc = await launcher(spec, {
      stdio: options.stdio ?? "inherit",
      forwardSignals: options.forwardSignals ?? false,
      runtime: "builtin",
      ...(this.options.helperPath ? { helperPath: this.options.helperPath } : {}),
    });
    options.onStart?.({
      pid: proc.pid,
      stdin: proc.stdin,
      stdout: proc.stdout,
      stderr: proc.stderr,
      kill: (signal) => proc.kill(signal),
    });
    return proc.wait();
  }

  /**
   * `wait`: resolves with the container's exit code once it has stopped (at once when it has).
   * CONTAINER_NOT_FOUND when it is removed before an exit code was seen (a `--rm` container that ended).
   */
  async wait(ref: string, options: { pollMs?: number; signal?: AbortSignal } = {}): Promise<number> {
    const { id } = await this.resolve(ref);
    for (;;) {
      const state = await this.states.read(id).catch(() => undefined);
      if (state === undefined) {
        throw new ContainerError(
          "CONTAINER_NOT_FOUND",
          `container ${id.slice(0, 12)} was removed when it ended (run --rm): its exit code is gone`,
        );
      }
      // the owner records the exit code after PID 1 ends: wait for that record, not just for the pid
      if (state.status === "exited") return state.exitCode ?? 0;
      // an owner gone without recording it (a crash) will record nothing more
      if (!this.isRunning(state) && !isAlive(state.monitor)) return state.exitCode ?? 0;
      if (options.signal?.aborted) throw options.signal.reason;
      await sleep(options.pollMs ?? 100);
    }
  }

  /**
   * `top`: the container's processes (every pid of its cgroup), with host pids, as docker top lists them.
   * CONTAINER_NOT_RUNNING when it is not running.
   */
  async top(ref: string): Promise<ContainerProcess[]> {
    const state = await this.resolve(ref);
    if (!this.isRunning(state)) {
      throw new ContainerError("CONTAINER_NOT_RUNNING", `container ${state.name} is not running`);
    }
    const group = await (await this.cgroups()).open(state.id);
    const out: ContainerProcess[] = [];
    for (const pid of (await group.pids()).sort((a, b) => a - b)) {
      const info = await processInfo(pid);
      if (info) out.push(info);
    }
    return out;
  }

  /** `stats --no-stream`: a running container's resource use now. CONTAINER_NOT_RUNNING otherwise. */
  async stats(ref: string): Promise<ContainerStats> {
    const state = await this.resolve(ref);
    if (!this.isRunning(state)) {
      throw new ContainerError("CONTAINER_NOT_RUNNING", `container ${state.name} is not running`);
    }
    const group = await (await this.cgroups()).open(state.id);
    const [cg, net] = await Promise.all([group.stats(), netBytes(state.pid as number)]);
    let cpuSeconds = cg.cpu?.usageSeconds;
    if (cpuSeconds === undefined) {
      const infos = await Promise.all((await group.pids()).map((pid) => processInfo(pid)));
      cpuSeconds = infos.reduce((sum, p) => sum + (p?.cpuSeconds ?? 0), 0);
    }
    return {
      id: state.id,
      name: state.name,
      cpuSeconds,
      ...(cg.memory ? { memory: { usage: cg.memory.usage, limit: cg.memory.limit } } : {}),
      ...(cg.pids ? { pids: { current: cg.pids.current, limit: cg.pids.limit } } : {}),
      ...(net ? { net } : {}),
    };
  }

  /**
   * `kill [-s SIGNAL]`: send a signal (default SIGKILL) to the container's PID 1, without waiting, as
   * docker does. As any PID 1, it ignores signals it has no handler for, except SIGKILL and SIGSTOP.
   * CONTAINER_NOT_RUNNING when it is not running.
   */
  async kill(ref: string, signal: NodeJS.Signals | number = "SIGKILL"): Promise<ContainerState> {
    const state = await this.resolve(ref);
    const notRunning = () =>
      new ContainerError("CONTAINER_NOT_RUNNING", `container ${state.name} is not running`);
    // the start time is checked right before the signal, so a reused pid is never signalled
    if (!this.isRunning(state)) throw notRunning();
    try {
      process.kill(state.pid as number, signal);
    } catch (error) {
      if (codeOf(error) === "ESRCH") throw notRunning();
      throw error;
    }
    return state;
  }

  private async killAll(state: ContainerState): Promise<void> {
    if (
      state.pid !== undefined &&
      state.pidStart !== undefined &&
      isAlive({ pid: state.pid, start: state.pidStart })
    ) {
      try {
        process.kill(state.pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    if (state.cgroup) {
      const group = await (await this.cgroups()).open(state.id).catch(() => undefined);
      try {
        await group?.killAll();
      } catch (error) {
        // the owner may be removing the group at the same moment (its PID 1 just died): that is fine
        // as long as nothing is left inside
        if ((await group?.pids().catch(() => []))?.length) throw error;
      }
    }
  }

  /** After the processes are gone: let a live owner finish its teardown, or finish it here. */
  private async settle(last: ContainerState): Promise<ContainerState> {
    const after = await this.waitExited(last.id, 10_000);
    if (!after) {
      // A container started with --rm removes itself once stopped: stopping it succeeded (docker exits 0).
      if (last.autoRemove) {
        const { pid: _pid, pidStart: _start, ...rest } = last;
        return { ...rest, status: "exited", finishedAt: last.finishedAt ?? now() };
      }
      throw new ContainerError(
        "CONTAINER_NOT_FOUND",
        `container ${last.id.slice(0, 12)} was removed while stopping it`,
      );
    }
    if (after.status !== "exited" || after.mount?.mounted) {
      after.status = "exited";
      after.finishedAt ??= now();
      delete after.pid;
      delete after.pidStart;
      await this.teardown(after, { remove: after.autoRemove });
    }
    return after;
  }

  /** `rm [-f]`: a running container needs `force` (it is killed first). */
  async remove(
    ref: string,
    options: { force?: boolean; explain?: Explain; trace?: Trace; dryRun?: boolean } = {},
  ): Promise<void> {
    const state = await this.resolve(ref);
    if (options.explain || options.dryRun) {
      const commands = await this.teardownExplained(state, true);
      if (this.isRunning(state) && options.force && state.cgroup) {
        for (const dir of Object.values(state.cgroup.paths))
          commands.unshift(`echo 1 > ${dir}/cgroup.kill || kill -KILL $(cat ${dir}/cgroup.procs)`);
      }
      options.explain?.("teardown", commands);
      if (options.dryRun) return;
    }
    if (this.isRunning(state)) {
      if (!options.force) {
        throw new ContainerError(
          "CONTAINER_RUNNING",
          `container ${state.name} is running: stop it first ('strata stop ${state.name}') or use rm -f`,
        );
      }
      await this.killAll(state);
      const settled = await this.waitExited(state.id, 10_000);
      if (!settled) return;
    }
    const latest = (await this.states.exists(state.id)) ? await this.states.read(state.id) : undefined;
    if (!latest) return;
    delete latest.pid;
    delete latest.pidStart;
    latest.status = "exited";
    await timed(options.trace, "teardown", () => this.teardown(latest, { remove: true }));
  }

  /** `teardown` as commands (the explained run mounted the overlay on the host: it is unmounted). */
  private async teardownExplained(state: ContainerState, remove: boolean): Promise<string[]> {
    const mount = state.mount;
    const link = mount
      ? (await readFile(join(this.overlayRoot, mount.id, "link"), "utf8").catch(() => "")).trim()
      : "";
    // the bridge's detach on paper (its lease says what there is to remove)
    const network =
      state.network?.mode === "bridge" && this.bridge && this.bridgeOptions
        ? (await this.paperAttach(this.bridge, this.bridgeOptions, undefined, state.id)).detach
        : [];
    return teardownCommands({
      cgroupDirs: Object.values(state.cgroup?.paths ?? {}),
      network,
      ...(mount ? { merged: mount.merged } : {}),
      ...(remove && mount
        ? {
            layer: {
              overlayRoot: this.overlayRoot,
              mountId: mount.id,
              ...(link ? { link } : {}),
              record: this.mountRecord(state.id),
            },
            stateDir: this.states.dir(state.id),
          }
        : {}),
    });
  }

  /**
   * After a crash: containers whose owner process is gone are torn down (and removed when they ran
   * with `--rm`); container layers, cgroups and names that belong to no container are removed; the
   * cgroup parent is pruned when empty.
   */
  async gc(): Promise<GcReport> {
    const report: GcReport = { cleaned: [], removed: [], orphans: [] };
    const known = new Set<string>();
    for (const id of await this.states.ids()) {
      known.add(id);
      let state: ContainerState;
      try {
        state = await this.states.read(id);
      } catch (error) {
        if (codeOf(error) !== "STATE_CORRUPT") continue;
        await this.removeOrphanLayer(id);
        await this.states.remove(id);
        report.removed.push(id);
        continue;
      }
      if (isAlive(state.monitor)) continue; // its owner is alive and will tear it down
      const unfinished = state.status !== "exited" || state.mount?.mounted === true;
      if (!unfinished && !state.autoRemove) continue;
      if (unfinished) {
        await this.killAll(state).catch(() => undefined);
        state.status = "exited";
        state.finishedAt ??= now();
        delete state.pid;
        delete state.pidStart;
        report.cleaned.push(id);
      }
      await this.teardown(state, { remove: state.autoRemove });
      if (state.autoRemove) report.removed.push(id);
    }
    // layerdb/mounts records without a container
    for (const id of await readdir(this.store.layout.layerdbMounts).catch(() => [] as string[])) {
      if (isContainerId(id) && !known.has(id)) {
        await this.removeOrphanLayer(id);
        report.orphans.push(`layer of ${id}`);
      }
    }
    // Cgroups without a container. The parent may be shared with other stores (or a container of this
    // store may be in the middle of its setup), so only empty groups that have existed for a minute go;
    // processes are never killed on this path (a crashed run of this store always left a state.json).
    const cgroups = await this.cgroups();
    for (const id of await cgroups.list()) {
      if (!isContainerId(id) || known.has(id)) continue;
      const group = await cgroups.open(id).catch(() => undefined);
      if (!group || (await group.pids().catch(() => [0])).length > 0) continue;
      const dir = Object.values(group.paths)[0];
      const age = dir
        ? Date.now() -
          (await stat(dir).then(
            (st) => st.ctimeMs,
            () => Date.now(),
          ))
        : 0;
      if (age < ORPHAN_CGROUP_AGE_MS) continue;
      await group.remove().catch(() => undefined);
      report.orphans.push(`cgroup ${cgroups.parent}/${id}`);
    }
    await cgroups.pruneParent().catch(() => false);
    // the bridge's leases whose owner is gone, and its veths/namespaces/rules that no lease owns
    if (this.bridge && (await exists(this.bridge.stateDir))) {
      const net = await this.bridge.gc();
      for (const id of net.leases) report.orphans.push(`network lease ${id}`);
      for (const name of net.links) report.orphans.push(`link ${name}`);
      for (const name of net.netns) report.orphans.push(`netns ${name}`);
    }
    // names whose container is gone
    for (const name of await readdir(this.states.names).catch(() => [] as string[])) {
      const holder = await this.states.nameHolder(name);
      if (!holder || !(await this.states.exists(holder))) {
        await rm(join(this.states.names, name), { force: true });
        report.orphans.push(`name ${name}`);
      }
    }
    return report;
  }

  private async removeOrphanLayer(id: string): Promise<void> {
    await this.store.locked(async () => {
      const record = this.mountRecord(id);
      const mountId = (await readFile(join(record, "mount-id"), "utf8").catch(() => "")).trim();
      if (mountId && (await exists(join(this.overlayRoot, mountId)))) {
        await removeLayer({ root: this.overlayRoot, id: mountId });
      }
      await rm(record, { recursive: true, force: true });
    });
  }
}

/**
 * The launch options that come straight from RunOptions: `--security-opt seccomp=`, `--cap-add`, `--cap-drop`,
 * `--ulimit`, `--group-add`, and the `-v` / `--tmpfs` mounts. INVALID_OPTION for a malformed one or a `-v`
 * host path that does not exist.
 */
function launchOptionsOf(options: RunOptions): {
  process: Pick<BuildLaunchSpecOptions, "seccomp" | "capAdd" | "capDrop" | "rlimits" | "groupAdd">;
  mounts: MountSpec[];
  addHosts: AddedHost[];
} {
  const binds = (options.volumes ?? []).map((input): MountSpec => {
    const v = parseVolume(input);
    if (!existsSync(v.source)) {
      throw new ContainerError(
        "INVALID_OPTION",
        `-v '${input}': the host path ${v.source} does not exist; create it first (strata does not create host paths)`,
      );
    }
    return {
      destination: v.destination,
      type: "bind",
      source: v.source,
      options: ["rbind", v.readOnly ? "ro" : "rw"],
    };
  });
  return {
    process: {
      ...(options.seccomp === "unconfined" ? { seccomp: false as const } : {}),
      ...(options.capAdd?.length ? { capAdd: options.capAdd } : {}),
      ...(options.capDrop?.length ? { capDrop: options.capDrop } : {}),
      ...(options.ulimits?.length ? { rlimits: options.ulimits.map(parseUlimit) } : {}),
      ...(options.groupAdd?.length ? { groupAdd: options.groupAdd } : {}),
    },
    mounts: [...binds, ...(options.tmpfs ?? []).map(parseTmpfs), ...(options.mounts ?? []).map(mountSpecOf)],
    addHosts: (options.addHosts ?? []).map(parseAddHost),
  };
}

/**
 * `--add-host` entries as `/etc/hosts` lines; `host-gateway` is the gateway the network attacher
 * reported (a bridge network's), and INVALID_OPTION without one.
 */
function addedHostLines(hosts: readonly AddedHost[], attachment: { data?: unknown } | undefined): string[] {
  return hosts.map((h) => {
    if (h.address !== "host-gateway") return `${h.address}\t${h.name}`;
    const gateway = (attachment?.data as { gateway?: unknown } | undefined)?.gateway;
    if (typeof gateway !== "string") {
      throw new ContainerError(
        "INVALID_OPTION",
        `--add-host ${h.name}:host-gateway needs a network with a gateway (--network bridge)`,
      );
    }
    return `${gateway}\t${h.name}`;
  });
}

/** A `--mount` as the launch mount it asks for (a bind source must exist, as docker's `--mount` says). */
function mountSpecOf(input: string): MountSpec {
  const m = parseMount(input);
  if (m.type === "tmpfs")
    return { destination: m.destination, type: "tmpfs", source: "tmpfs", options: m.options };
  if (!existsSync(m.source)) {
    throw new ContainerError(
      "INVALID_OPTION",
      `--mount '${input}': bind source path does not exist: ${m.source}`,
    );
  }
  return {
    destination: m.destination,
    type: "bind",
    source: m.source,
    options: ["rbind", m.readOnly ? "ro" : "rw", ...(m.propagation ? [m.propagation] : [])],
  };
}

/** The network attach request of a container this process runs (it owns the lease). */
function attachRequest(
  containerId: string,
  name: string,
  mode: NetworkMode,
  hostname: string,
  options: RunOptions,
): NetworkAttachRequest {
  return {
    containerId,
    name,
    mode,
    hostname,
    ...(options.publish?.length ? { publish: options.publish } : {}),
    pid: process.pid,
  };
}

/** What the launch helper does that the printed commands only approximate. */
function execNote(spec: LaunchSpec): string {
  return `PID 1 joins the cgroup, unshares mount/uts/ipc/cgroup/net, mounts /proc, /dev, /sys and the /etc files, pivots into the overlay${spec.seccomp ? ", installs Docker's default seccomp filter" : ""} and execs the command`;
}

/** The image config's runtime part; JSON nulls (Go's nil slices) become "unset". */
function runtimeConfigOf(image: ImageConfig): ImageRuntimeConfig {
  const c = image.config ?? {};
  const out: ImageRuntimeConfig = {};
  if (c.Entrypoint) out.Entrypoint = c.Entrypoint;
  if (c.Cmd) out.Cmd = c.Cmd;
  if (c.Env) out.Env = c.Env;
  if (c.WorkingDir) out.WorkingDir = c.WorkingDir;
  if (c.User) out.User = c.User;
  return out;
}

/** The built-in bridge's attach (as @strata/network's `bridgeAttacher`, with the pid and the hostname). */
async function bridgeAttach(
  network: BridgeNetwork,
  request: NetworkAttachRequest,
): Promise<NetworkAttachment> {
  const attached = await bridgeAttacher(network).attach({
    containerId: request.containerId,
    name: request.name,
    mode: request.mode,
    ...(request.hostname !== undefined ? { hostname: request.hostname } : {}),
    ...(request.publish !== undefined ? { publish: request.publish } : {}),
    ...(request.pid !== undefined ? { pid: request.pid } : {}),
  });
  const out: NetworkAttachment = { mode: attached.mode };
  if (attached.netns !== undefined) out.netns = attached.netns;
  if (attached.data !== undefined) out.data = attached.data;
  if (attached.hosts !== undefined) out.hosts = attached.hosts;
  return out;
}
