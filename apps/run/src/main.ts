import { readFileSync } from "node:fs";
import { release as osRelease } from "node:os";
import { Command, CommanderError, Option } from "commander";
// Only what builds the command tree is imported here; each verb loads its modules when it runs, so that
// `strata --help`, `images` or `ps` do not compile and evaluate the whole toolkit (see bench/run/RESULTS.md).
import type { psCommand } from "./commands/containers.js";
import type { imagesCommand } from "./commands/images.js";
import type { networkList } from "./commands/netns.js";
import type { RunFlags } from "./commands/run.js";
import { completionScript } from "./completion.js";
import { loadConfig, type StrataConfig } from "./config.js";
import { DEFAULT_ROOT } from "./defaults.js";
import { ExitCode, reportError } from "./errors.js";
import { addExplainOptions, type ExplainFlags, splitTraceEquals } from "./explain-options.js";

const commands = {
  containers: () => import("./commands/containers.js"),
  exec: () => import("./commands/exec.js"),
  stats: () => import("./commands/stats.js"),
  images: () => import("./commands/images.js"),
  info: () => import("./commands/info.js"),
  inspect: () => import("./commands/inspect.js"),
  netns: () => import("./commands/netns.js"),
  rmi: () => import("./commands/rmi.js"),
  run: () => import("./commands/run.js"),
  explain: () => import("./explain.js"),
};

/** The package version; "unknown" when package.json is not next to the code (e.g. a bundle). */
function packageVersion(): string {
  try {
    return (
      JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
    ).version;
  } catch {
    return "unknown";
  }
}
const VERSION = packageVersion();

export interface MainIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Thrown by the STRATA_PARSE_ONLY hook: the command line parsed, nothing ran. */
class ParsedOnly extends Error {}

/** The stack and the cause chain, for --log-level debug. */
function debugDetails(e: unknown): string {
  const parts: string[] = [];
  for (let cur: unknown = e, depth = 0; cur !== undefined && depth < 5; depth++) {
    parts.push(cur instanceof Error ? (cur.stack ?? cur.message) : String(cur));
    cur = cur instanceof Error ? cur.cause : undefined;
    if (cur !== undefined) parts.push("caused by:");
  }
  return parts.join("\n");
}

/** Run the strata CLI with `argv` (process.argv shape); resolves with the exit code. */
export async function main(argv: string[], io: MainIO = process): Promise<number> {
  const out = (s: string) => {
    io.stdout.write(s);
  };
  const err = (s: string) => {
    io.stderr.write(s);
  };
  // --log-level debug / STRATA_DEBUG=1: errors come with their stack and causes
  let programRef: Command | undefined;
  const debug = () =>
    ["1", "true", "yes"].includes((io.env.STRATA_DEBUG ?? "").toLowerCase()) ||
    programRef?.opts<{ logLevel?: string }>().logLevel === "debug";
  const fail = (e: unknown) => {
    const code = reportError(e, err);
    if (debug()) err(`${debugDetails(e)}\n`);
    return code;
  };
  let config: StrataConfig;
  try {
    config = loadConfig(io.env);
  } catch (e) {
    return fail(e);
  }
  /** Test seam (STRATA_PARSE_ONLY=1): parse and validate the command line, run nothing. */
  const parseOnly = io.env.STRATA_PARSE_ONLY === "1";
  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort(Object.assign(new Error("interrupted"), { code: "INTERRUPTED" }));
  process.once("SIGINT", onSigint);

  const program = new Command("strata")
    .description("Pull container images into a Docker-compatible overlay2 store and run them as containers")
    .version(VERSION, "-v, --version")
    .addOption(
      new Option("--root <dir>", "store root (flag, $STRATA_ROOT, config 'root', /var/lib/strata)")
        // io.env, not commander's .env() (which reads process.env): main() is also called in-process
        .default(io.env.STRATA_ROOT || config.root || DEFAULT_ROOT),
    )
    .addOption(
      new Option("--log-level <level>", "debug prints stacks and causes of errors (also STRATA_DEBUG=1)")
        .choices(["debug", "info", "warn", "error"])
        .default("info"),
    )
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: err, outputError: () => undefined })
    .showHelpAfterError(false)
    .enablePositionalOptions();

  programRef = program;
  const openStore = async () =>
    (await import("@strata/image-store")).ImageStore.open({ root: program.opts<{ root: string }>().root });
  const settings = async () => {
    const env = { ...io.env };
    if (!env.STRATA_CGROUP_PARENT && config.cgroupParent) env.STRATA_CGROUP_PARENT = config.cgroupParent;
    const { settingsFrom } = await import("./context.js");
    return settingsFrom(program.opts<{ root: string }>().root, env);
  };
  /** Config lists first, then the flags (docker merges daemon.json's lists with flags the same way). */
  const registryOptions = (opts: { registryMirror?: string[]; insecureRegistry?: string[] }) => {
    const registryMirror = [...(config.registryMirrors ?? []), ...(opts.registryMirror ?? [])];
    const insecureRegistry = [...(config.insecureRegistries ?? []), ...(opts.insecureRegistry ?? [])];
    return {
      ...(registryMirror.length ? { registryMirror } : {}),
      ...(insecureRegistry.length ? { insecureRegistry } : {}),
    };
  };
  if (parseOnly) {
    program.hook("preAction", () => {
      throw new ParsedOnly();
    });
  }
  const opened = async () => (await import("./context.js")).openAll(await settings());
  /** Exit code chosen by a command (run, netns exec); errors of `run` before its container ran map to 125. */
  let exitCode: number = ExitCode.OK;
  let runVerb = false;

  const pullVerb = program
    .command("pull")
    .description("Pull an image from a registry")
    .argument("<ref>", "NAME[:TAG|@DIGEST], e.g. ubuntu:20.04 or 127.0.0.1:5000/library/busybox")
    .option("--platform <platform>", "os/arch[/variant] to pick from a multi-platform image")
    .option("--registry-mirror <url>", "Docker Hub mirror, tried before docker.io (repeatable)", collect)
    .option("--insecure-registry <host>", "registry host allowed over plain HTTP (repeatable)", collect)
    .option("-q, --quiet", "print only the image ID")
    .addHelpText(
      "after",
      "\nExamples:\n  strata pull busybox\n  strata pull --platform linux/arm64 ubuntu:20.04\n  strata pull --insecure-registry 127.0.0.1:5000 127.0.0.1:5000/library/busybox:latest\n  strata pull -q alpine@sha256:c5b1261d6d3e43071626931fc004f70149baeba2c8ec672bd4f27761f8e1ad6b\n  strata pull --explain --trace=json busybox",
    );
  addExplainOptions(pullVerb, { dryRun: false }).action(
    async (
      ref: string,
      opts: {
        platform?: string;
        registryMirror?: string[];
        insecureRegistry?: string[];
        quiet?: boolean;
      } & ExplainFlags,
    ) => {
      const { explain: _e, trace: _t, traceFormat: _f, ...pullOpts } = opts;
      const { explainer, observed } = await commands.explain();
      const x = explainer(opts, { stdout: out, stderr: err });
      const store = await openStore();
      const concurrency = Number(io.env.STRATA_PULL_CONCURRENCY) || undefined;
      const { pullObserver } = await import("@strata/container");
      const observer = x.explain || x.trace ? pullObserver(observed(x)) : undefined;
      const pull = () =>
        import("./commands/pull.js").then(({ pullCommand }) =>
          pullCommand(
            store,
            ref,
            {
              ...pullOpts,
              ...registryOptions(opts),
              signal: interrupt.signal,
              ...(concurrency ? { concurrency } : {}),
              ...(observer ? { observe: observer.onProgress } : {}),
            },
            { stdout: io.stdout, write: out },
          ),
        );
      out(await (x.trace ? x.trace.time("pull", pull) : pull()));
      x.finish();
    },
  );

  program
    .command("images")
    .description("List images")
    .option("--no-trunc", "show full image IDs")
    .option("--digests", "show digests")
    .option("--format <format>", "table (default) or json (one object per line)")
    .addHelpText(
      "after",
      "\nExamples:\n  strata images\n  strata images --digests --no-trunc\n  strata images --format json",
    )
    .action(async (opts: { trunc?: boolean; digests?: boolean; format?: string }) => {
      const store = await openStore();
      const o: Parameters<typeof imagesCommand>[1] = {
        noTrunc: opts.trunc === false,
        digests: opts.digests === true,
      };
      if (opts.format !== undefined) o.format = opts.format;
      out(await (await commands.images()).imagesCommand(store, o));
    });

  program
    .command("inspect")
    .description("Show details of containers or images as JSON (a container first, as docker)")
    .argument("<ref...>", "container name or ID, or image reference or ID")
    .option("-f, --format <template>", "a Go-style template per object, e.g. '{{.State.Pid}}'")
    .option("--type <type>", "container or image (default: whichever the name finds, container first)")
    .addHelpText(
      "after",
      "\nExamples:\n  strata inspect busybox\n  strata inspect -f '{{.State.Pid}}' web\n  strata inspect -f '{{.NetworkSettings.IPAddress}}' web",
    )
    .action(async (refs: string[], opts: { format?: string; type?: string }) => {
      if (opts.type !== undefined && opts.type !== "container" && opts.type !== "image") {
        throw Object.assign(new Error(`--type must be container or image (got '${opts.type}')`), {
          code: "USAGE",
        });
      }
      const { inspectCommand } = await commands.inspect();
      out(
        await inspectCommand(
          refs,
          {
            ...(opts.type ? { type: opts.type as "container" | "image" } : {}),
            ...(opts.format ? { format: opts.format } : {}),
          },
          { runtime: async () => (await opened()).runtime, store: openStore },
        ),
      );
    });

  program
    .command("rmi")
    .description("Remove images (untag; delete when no tag is left; free unused layers)")
    .argument("<ref...>", "image reference or ID")
    .option("-f, --force", "remove an image referenced by several repositories")
    .addHelpText("after", "\nExamples:\n  strata rmi busybox\n  strata rmi -f 2d3e8b1c4b0a")
    .action(async (refs: string[], opts: { force?: boolean }) => {
      // through the runtime's store: an image a container uses is refused
      await (await commands.rmi()).rmiCommand((await opened()).store, refs, opts, out);
    });

  program
    .command("info")
    .description("Show store and host information")
    .addHelpText("after", "\nExamples:\n  strata info\n  strata --root /tmp/store info")
    .action(async () => {
      out(await (await commands.info()).infoCommand(await openStore(), VERSION));
    });

  const runVerb_ = program
    .command("run")
    .description(
      "Run a command in a new container (pulls the image when it is missing; network: bridge by default)",
    )
    .usage("[options] IMAGE [COMMAND] [ARG...]")
    .argument("<image>", "image reference or ID")
    .argument("[command...]", "command and arguments (replace the image's CMD)")
    .option("--rm", "remove the container when it exits")
    .option("-i, --interactive", "keep STDIN open")
    .option("-t, --tty", "allocate a pseudo-TTY (the host terminal goes raw and its size is followed)")
    .option("-d, --detach", "run in the background and print the container ID")
    .option("--name <name>", "container name")
    .option(
      "-e, --env <KEY=VALUE>",
      "set an environment variable (repeatable; KEY alone copies the host's)",
      collect,
    )
    .option("--env-file <file>", "read KEY=VALUE lines from a file (repeatable)", collect)
    .option("-w, --workdir <dir>", "working directory inside the container")
    .option("-u, --user <user>", "name|uid[:group|gid]")
    .option("--hostname <name>", "container host name")
    .option("--entrypoint <cmd>", "override the image's ENTRYPOINT")
    .option("--pids-limit <n>", "maximum number of processes (-1: unlimited)")
    .option("--memory <size>", "memory limit, e.g. 64m")
    .option("--memory-swap <size>", "memory + swap limit (-1: unlimited swap)")
    .option("--cpus <n>", "number of CPUs, e.g. 0.5")
    .option("--network <mode>", "bridge (default), none, host or ns:NAME (an 'ip netns' namespace)")
    .option(
      "-p, --publish <[ip:]hostPort:containerPort[/proto]>",
      "publish a port on the bridge (repeatable)",
      collect,
    )
    .option(
      "--add-host <host:ip>",
      "add a line to /etc/hosts; host-gateway is the bridge's gateway (repeatable)",
      collect,
    )
    .option("--read-only", "mount the root filesystem read-only")
    .option("-v, --volume <host:container[:ro]>", "bind-mount an existing host path (repeatable)", collect)
    .option(
      "--tmpfs <path[:options]>",
      "mount a tmpfs, e.g. /run:size=64m (nosuid,nodev,noexec unless overridden)",
      collect,
    )
    .option(
      "--mount <spec>",
      "type=bind,source=HOST,target=PATH[,readonly] or type=tmpfs,target=PATH[,tmpfs-size=64m][,tmpfs-mode=1770] (repeatable)",
      collect,
    )
    .option(
      "--cap-add <cap>",
      "add a Linux capability to Docker's default set, e.g. NET_ADMIN (repeatable)",
      collect,
    )
    .option(
      "--cap-drop <cap>",
      "drop a capability from the default set; ALL drops every one (repeatable)",
      collect,
    )
    .option("--ulimit <name=soft[:hard]>", "a resource limit, e.g. nofile=1024:2048 (repeatable)", collect)
    .option("--group-add <group>", "an extra supplementary group, name or id (repeatable)", collect)
    .option(
      "--security-opt <opt>",
      "seccomp=unconfined runs without Docker's default seccomp filter (repeatable)",
      collect,
    )
    .option("--runtime <runtime>", "builtin (default), crun or runc")
    .option("--platform <platform>", "platform to pull when the image is missing, e.g. linux/amd64")
    .passThroughOptions()
    .exitOverride((e) => {
      runVerb = true;
      throw e;
    })
    .hook("preAction", () => {
      runVerb = true;
    })
    .addHelpText(
      "after",
      `
Examples:
  strata run --rm busybox echo hello
  strata run --rm --pids-limit 16 --memory 64m --hostname demo busybox sh -c 'hostname; cat /proc/self/cgroup'
  strata run -d --name web -p 8080:80 busybox httpd -f -p 80
  strata run --rm -it busybox sh
  strata run --rm --explain --trace busybox true
  strata run --dry-run --network none --pids-limit 2 busybox sh -c 'echo hi' > plan.sh

Exit status: the container's (128+N when signal N killed it); 125 when strata failed before the
container started; 126 when the command cannot be invoked; 127 when it is not found.`,
    )
    .option("--registry-mirror <url>", "Docker Hub mirror for a missing image (repeatable)", collect)
    .option(
      "--insecure-registry <host>",
      "registry allowed over plain HTTP for a missing image (repeatable)",
      collect,
    );
  addExplainOptions(runVerb_).action(async (image: string, command: string[], flags: RunFlags) => {
    const f: RunFlags = { ...flags, ...registryOptions(flags) };
    if (f.network === undefined && config.defaultNetwork !== undefined) f.network = config.defaultNetwork;
    const { runCommand } = await commands.run();
    exitCode = await runCommand(await settings(), image, command, f, {
      stdout: out,
      stderr: err,
      stderrStream: io.stderr,
      signal: interrupt.signal,
    });
  });

  program
    .command("ps")
    .description("List containers (running ones; -a for all)")
    .option("-a, --all", "show all containers")
    .option("-q, --quiet", "only IDs")
    .option("--no-trunc", "full IDs and commands")
    .option("--format <format>", "table (default) or json (one object per line)")
    .addHelpText("after", "\nExamples:\n  strata ps\n  strata ps -a --format json")
    .action(async (opts: { all?: boolean; quiet?: boolean; trunc?: boolean; format?: string }) => {
      const { runtime } = await opened();
      const o: Parameters<typeof psCommand>[1] = { noTrunc: opts.trunc === false };
      if (opts.all) o.all = true;
      if (opts.quiet) o.quiet = true;
      if (opts.format !== undefined) o.format = opts.format;
      out(await (await commands.containers()).psCommand(runtime, o));
    });

  program
    .command("logs")
    .description("Show the output of a detached container (run -d): stdout and stderr as written")
    .argument("<container>", "name, ID or unique ID prefix")
    .option("-f, --follow", "keep printing new output until the container exits")
    .option("-n, --tail <lines>", "only the last N lines (all: everything)", "all")
    .addHelpText("after", "\nExamples:\n  strata logs web\n  strata logs -f web\n  strata logs -n 20 web")
    .action(async (ref: string, opts: { follow?: boolean; tail: string }) => {
      if (opts.tail !== "all" && !/^\d+$/.test(opts.tail)) {
        throw Object.assign(new Error(`--tail must be a number of lines or all (got '${opts.tail}')`), {
          code: "USAGE",
        });
      }
      const { runtime } = await opened();
      for await (const chunk of runtime.logs(ref, {
        follow: opts.follow === true,
        signal: interrupt.signal,
        ...(opts.tail === "all" ? {} : { tail: Number(opts.tail) }),
      })) {
        io.stdout.write(chunk);
      }
    });

  program
    .command("stop")
    .description("Stop running containers: SIGTERM, then SIGKILL after the grace period")
    .argument("<container...>", "name, ID or unique ID prefix")
    .option("-t, --time <seconds>", "seconds to wait before killing", "10")
    .addHelpText("after", "\nExamples:\n  strata stop web\n  strata stop -t 1 web db")
    .action(async (refs: string[], opts: { time: string }) => {
      const seconds = Number(opts.time);
      if (!Number.isFinite(seconds) || seconds < 0) {
        throw Object.assign(new Error(`-t must be a number of seconds (got '${opts.time}')`), {
          code: "USAGE",
        });
      }
      const { runtime } = await opened();
      const stop = async (ref: string) => {
        const before = await runtime.inspect(ref);
        try {
          await runtime.stop(ref, { timeoutMs: seconds * 1000 });
        } catch (e) {
          // a --rm container is gone once stopped: that is success, as with docker
          if (!(before.autoRemove && (e as { code?: string }).code === "CONTAINER_NOT_FOUND")) throw e;
        }
      };
      const { eachContainer } = await commands.containers();
      const ok = await eachContainer(refs, stop, out, (e) => reportError(e, err));
      if (!ok) exitCode = ExitCode.FAILURE;
    });

  program
    .command("exec")
    .description("Run a command in a running container (its namespaces, cgroups, user and environment)")
    .argument("<container>", "name, ID or unique ID prefix")
    .argument("<command...>", "command and arguments")
    .option("-i, --interactive", "keep STDIN open")
    .option("-t, --tty", "allocate a pseudo-TTY")
    .option(
      "-e, --env <KEY=VALUE>",
      "set an environment variable (repeatable; KEY alone copies the host's)",
      collect,
    )
    .option("-u, --user <user>", "name|uid[:group|gid] (default: the container's user)")
    .option("-w, --workdir <dir>", "working directory (default: the container's)")
    .passThroughOptions()
    .addHelpText(
      "after",
      `
Examples:
  strata exec web ps
  strata exec -it web sh
  strata exec -u nobody -w /tmp -e DEBUG=1 web env

Exit status: the command's (128+N when signal N killed it); 126 when it cannot be invoked; 127 when it
is not found; 1 when strata failed (e.g. the container is not running).`,
    )
    .action(async (container: string, command: string[], flags: import("./commands/exec.js").ExecFlags) => {
      const { runtime } = await opened();
      const { execCommand } = await commands.exec();
      exitCode = await execCommand(runtime, container, command, flags, (e) => reportError(e, err));
    });

  program
    .command("stats")
    .description("Show running containers' CPU, memory, network and pid use (refreshed each second)")
    .argument("[container...]", "name, ID or unique ID prefix (default: every running container)")
    .option("--no-stream", "print one sample and exit")
    .option("--format <format>", "table (default) or json (one object per line, docker's keys)")
    .addHelpText("after", "\nExamples:\n  strata stats --no-stream\n  strata stats web db")
    .action(async (refs: string[], opts: { stream: boolean; format?: string }) => {
      if (opts.format !== undefined && opts.format !== "json" && opts.format !== "table") {
        throw Object.assign(new Error(`--format must be table or json (got '${opts.format}')`), {
          code: "USAGE",
        });
      }
      const { runtime } = await opened();
      const { renderStats, sampleStats } = await commands.stats();
      const format = opts.format === "json" ? "json" : undefined;
      if (!opts.stream) {
        out(renderStats(await sampleStats(runtime, refs, 500), format));
        return;
      }
      const clear = io.stdout.isTTY === true && format === undefined;
      while (!interrupt.signal.aborted) {
        const rows = await sampleStats(runtime, refs, 1000);
        if (interrupt.signal.aborted) break;
        out(`${clear ? "\x1b[2J\x1b[H" : ""}${renderStats(rows, format)}`);
      }
    });

  program
    .command("port")
    .description("List a container's published ports, or where one of them is published")
    .argument("<container>", "name, ID or unique ID prefix")
    .argument("[port]", "PORT[/tcp|udp]")
    .addHelpText("after", "\nExamples:\n  strata port web\n  strata port web 80/tcp")
    .action(async (ref: string, port: string | undefined) => {
      const { runtime } = await opened();
      const state = await runtime.inspect(ref);
      const { portLines } = await commands.containers();
      const ports = (state.network?.data?.ports ?? []) as Parameters<typeof portLines>[0];
      out(portLines(ports, port));
    });

  program
    .command("wait")
    .description("Wait until containers stop, then print their exit codes")
    .argument("<container...>", "name, ID or unique ID prefix")
    .addHelpText("after", "\nExamples:\n  strata wait web")
    .action(async (refs: string[]) => {
      const { runtime } = await opened();
      let failed = false;
      for (const ref of refs) {
        try {
          out(`${await runtime.wait(ref, { signal: interrupt.signal })}\n`);
        } catch (e) {
          failed = true;
          reportError(e, err);
        }
      }
      if (failed) exitCode = ExitCode.FAILURE;
    });

  program
    .command("top")
    .description("List a running container's processes (host pids)")
    .argument("<container>", "name, ID or unique ID prefix")
    .addHelpText("after", "\nExamples:\n  strata top web")
    .action(async (ref: string) => {
      const { runtime } = await opened();
      const { topTable } = await commands.containers();
      out(topTable(await runtime.top(ref)));
    });

  program
    .command("kill")
    .description("Send a signal (default KILL) to running containers' main process")
    .argument("<container...>", "name, ID or unique ID prefix")
    .option("-s, --signal <signal>", "signal name or number, e.g. TERM, HUP, USR1, 9", "KILL")
    .addHelpText("after", "\nExamples:\n  strata kill web\n  strata kill -s HUP web")
    .action(async (refs: string[], opts: { signal: string }) => {
      const { parseSignal } = await import("@strata/container");
      const signal = parseSignal(opts.signal);
      const { runtime } = await opened();
      const { eachContainer } = await commands.containers();
      const ok = await eachContainer(
        refs,
        async (ref) => {
          await runtime.kill(ref, signal);
        },
        out,
        (e) => reportError(e, err),
      );
      if (!ok) exitCode = ExitCode.FAILURE;
    });

  const rmVerb = program
    .command("rm")
    .description("Remove containers (their layer, state and name)")
    .argument("<container...>", "name, ID or unique ID prefix")
    .option("-f, --force", "kill and remove a running container")
    .addHelpText(
      "after",
      "\nExamples:\n  strata rm web\n  strata rm -f web\n  strata rm --dry-run web > teardown.sh",
    );
  addExplainOptions(rmVerb).action(async (refs: string[], opts: { force?: boolean } & ExplainFlags) => {
    const { explainer, observed } = await commands.explain();
    const x = explainer(opts, { stdout: out, stderr: err });
    const { runtime } = await opened();
    const { eachContainer } = await commands.containers();
    const ok = await eachContainer(
      refs,
      (r) =>
        runtime.remove(r, {
          force: opts.force === true,
          ...observed(x),
          ...(x.dryRun ? { dryRun: true } : {}),
        }),
      // --dry-run: stdout is the script, the names are not printed
      x.dryRun ? () => undefined : out,
      (e) => reportError(e, err),
    );
    x.finish();
    if (!ok) exitCode = ExitCode.FAILURE;
  });

  program
    .command("gc")
    .description(
      "Clean up after crashed runs: containers whose strata process died, orphan layers, cgroups, names, network leases, veths, netns, rules",
    )
    .addHelpText("after", "\nExamples:\n  strata gc")
    .action(async () => {
      const { runtime } = await opened();
      out(await (await commands.containers()).gcCommand(runtime));
    });

  const netns = program
    .command("netns")
    .description("Named network namespaces, compatible with 'ip netns' (same /run/netns)")
    .addHelpText(
      "after",
      "\nExamples:\n  strata netns add blue\n  strata netns ls\n  strata netns exec blue ip addr\n  strata netns rm blue",
    );
  addExplainOptions(
    netns
      .command("add")
      .description("Create a named network namespace (as 'ip netns add')")
      .argument("<name>")
      .addHelpText("after", "\nExamples:\n  strata netns add blue\n  strata netns add --explain blue"),
    { trace: false },
  ).action(async (name: string, opts: ExplainFlags) => {
    const [{ netnsAdd }, { explainer }] = await Promise.all([commands.netns(), commands.explain()]);
    await netnsAdd(name, explainer(opts, { stdout: out, stderr: err }));
  });
  netns
    .command("ls")
    .alias("list")
    .description("List named network namespaces")
    .option("--format <format>", "table (default: one name per line) or json")
    .action(async (opts: { format?: string }) => {
      out(await (await commands.netns()).netnsList(opts.format));
    });
  addExplainOptions(
    netns
      .command("rm")
      .alias("del")
      .description("Delete named network namespaces (as 'ip netns del')")
      .argument("<name...>"),
    { trace: false },
  ).action(async (names: string[], opts: ExplainFlags) => {
    const [{ netnsRemove }, { explainer }] = await Promise.all([commands.netns(), commands.explain()]);
    const x = explainer(opts, { stdout: out, stderr: err });
    for (const name of names) await netnsRemove(name, x);
    x.finish();
  });
  netns
    .command("exec")
    .description("Run a command inside a named network namespace (as 'ip netns exec')")
    .argument("<name>")
    .argument("<command...>")
    .passThroughOptions()
    .action(async (name: string, command: string[]) => {
      exitCode = await (await commands.netns()).netnsExec(name, command);
    });
  netns.enablePositionalOptions();

  const imageVerb = program.command("image").description("Manage images (prune)");
  imageVerb
    .command("prune")
    .description("Remove dangling images (-a: every image no container uses), then unused layers")
    .option("-a, --all", "remove every image no container uses, not only untagged ones")
    .addHelpText("after", "\nExamples:\n  strata image prune\n  strata image prune -a")
    .action(async (opts: { all?: boolean }) => {
      // through the runtime's store: an image a container uses is kept
      await (await commands.rmi()).imagePruneCommand((await opened()).store, opts, out);
    });

  const containerVerb = program.command("container").description("Manage containers (prune)");
  containerVerb
    .command("prune")
    .description("Remove every exited container (layer, state and name)")
    .addHelpText("after", "\nExamples:\n  strata container prune")
    .action(async () => {
      const { runtime } = await opened();
      const { containerPruneCommand } = await commands.containers();
      if (!(await containerPruneCommand(runtime, out, (e) => reportError(e, err))))
        exitCode = ExitCode.FAILURE;
    });

  const network = program
    .command("network")
    .description("Networks: bridge (strata0 by default), host, none")
    .addHelpText("after", "\nExamples:\n  strata network ls\n  strata network inspect bridge");
  network
    .command("ls")
    .alias("list")
    .description("List networks")
    .option("--no-trunc", "full network IDs")
    .option("--format <format>", "table (default) or json (one object per line)")
    .action(async (opts: { format?: string; trunc?: boolean }) => {
      const { network: bridge } = await opened();
      const o: Parameters<typeof networkList>[1] = { noTrunc: opts.trunc === false };
      if (opts.format !== undefined) o.format = opts.format;
      out((await commands.netns()).networkList(bridge, o));
    });
  network
    .command("inspect")
    .description("Show networks as JSON (the bridge's subnet, gateway and attached containers)")
    .argument("<network...>", "bridge, host or none")
    .option("--format <format>", "json (the default and only format)")
    .action(async (names: string[], opts: { format?: string }) => {
      if (opts.format !== undefined && opts.format !== "json") {
        throw Object.assign(new Error(`--format must be 'json' (got '${opts.format}')`), { code: "USAGE" });
      }
      const { network: bridge, runtime } = await opened();
      out(await (await commands.netns()).networkInspect(bridge, runtime, names));
    });

  program
    .command("version")
    .description("Show the strata version and the platform it runs on")
    .option("--format <format>", "text (default) or json")
    .addHelpText("after", "\nExamples:\n  strata version\n  strata version --format json")
    .action((opts: { format?: string }) => {
      const info = {
        Version: VERSION,
        NodeVersion: process.versions.node,
        Os: process.platform,
        Arch: process.arch,
        Kernel: osRelease(),
      };
      if (opts.format === "json") out(`${JSON.stringify(info)}\n`);
      else if (opts.format === undefined || opts.format === "text") {
        out(
          `strata:\n Version:       ${info.Version}\n Node version:  ${info.NodeVersion}\n OS/Arch:       ${info.Os}/${info.Arch}\n Kernel:        ${info.Kernel}\n`,
        );
      } else
        throw Object.assign(new Error(`--format must be 'text' or 'json' (got '${opts.format}')`), {
          code: "USAGE",
        });
    });

  program
    .command("completion")
    .description("Print a shell completion script")
    .argument("<shell>", "bash")
    .addHelpText(
      "after",
      "\nExamples:\n  strata completion bash > /etc/bash_completion.d/strata\n  source <(strata completion bash)",
    )
    .action((shell: string) => {
      if (shell !== "bash") {
        throw Object.assign(new Error(`completion for '${shell}' is not available: only bash`), {
          code: "USAGE",
        });
      }
      out(completionScript(program));
    });

  try {
    await program.parseAsync(splitTraceEquals(argv, program));
    return exitCode;
  } catch (e) {
    if (e instanceof ParsedOnly) return ExitCode.OK;
    if (e instanceof CommanderError) {
      if (
        e.code === "commander.helpDisplayed" ||
        e.code === "commander.version" ||
        e.code === "commander.help"
      ) {
        return ExitCode.OK;
      }
      const code = fail(e);
      return runVerb ? 125 : code;
    }
    if (interrupt.signal.aborted) {
      err("strata: interrupted (INTERRUPTED)\n");
      return runVerb ? 125 : ExitCode.INTERRUPTED;
    }
    const code = fail(e);
    return runVerb ? (await commands.run()).runErrorExit(e) : code;
  } finally {
    process.removeListener("SIGINT", onSigint);
  }
}
