import { readFileSync } from "node:fs";
import { DEFAULT_ROOT, ImageStore } from "@strata/image-store";
import { Command, CommanderError, Option } from "commander";
import { eachContainer, gcCommand, psCommand } from "./commands/containers.js";
import { imagesCommand } from "./commands/images.js";
import { infoCommand } from "./commands/info.js";
import { inspectCommand } from "./commands/inspect.js";
import {
  netnsAdd,
  netnsExec,
  netnsList,
  netnsRemove,
  networkInspect,
  networkList,
} from "./commands/netns.js";
import { rmiCommand } from "./commands/rmi.js";
import { type RunFlags, runCommand, runErrorExit } from "./commands/run.js";
import { settingsFrom } from "./context.js";
import { ExitCode, reportError } from "./errors.js";

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

/** Run the strata CLI with `argv` (process.argv shape); resolves with the exit code. */
export async function main(argv: string[], io: MainIO = process): Promise<number> {
  const out = (s: string) => {
    io.stdout.write(s);
  };
  const err = (s: string) => {
    io.stderr.write(s);
  };
  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort(Object.assign(new Error("interrupted"), { code: "INTERRUPTED" }));
  process.once("SIGINT", onSigint);

  const program = new Command("strata")
    .description("Pull container images into a Docker-compatible overlay2 store and run them as containers")
    .version(VERSION, "-v, --version")
    .addOption(new Option("--root <dir>", "store root").env("STRATA_ROOT").default(DEFAULT_ROOT))
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: err, outputError: () => undefined })
    .showHelpAfterError(false)
    .enablePositionalOptions();

  const openStore = () => ImageStore.open({ root: program.opts<{ root: string }>().root });
  const settings = () => settingsFrom(program.opts<{ root: string }>().root, io.env);
  const opened = async () => (await import("./context.js")).openAll(settings());
  /** Exit code chosen by a command (run, netns exec); errors of `run` before its container ran map to 125. */
  let exitCode: number = ExitCode.OK;
  let runVerb = false;

  program
    .command("pull")
    .description("Pull an image from a registry")
    .argument("<ref>", "NAME[:TAG|@DIGEST], e.g. ubuntu:20.04 or 127.0.0.1:5000/library/busybox")
    .option("--platform <platform>", "os/arch[/variant] to pick from a multi-platform image")
    .option("--registry-mirror <url>", "Docker Hub mirror, tried before docker.io (repeatable)", collect)
    .option("--insecure-registry <host>", "registry host allowed over plain HTTP (repeatable)", collect)
    .option("-q, --quiet", "print only the image ID")
    .action(
      async (
        ref: string,
        opts: { platform?: string; registryMirror?: string[]; insecureRegistry?: string[]; quiet?: boolean },
      ) => {
        const store = await openStore();
        const concurrency = Number(io.env.STRATA_PULL_CONCURRENCY) || undefined;
        out(
          await (await import("./commands/pull.js")).pullCommand(
            store,
            ref,
            { ...opts, signal: interrupt.signal, ...(concurrency ? { concurrency } : {}) },
            { stdout: io.stdout, write: out },
          ),
        );
      },
    );

  program
    .command("images")
    .description("List images")
    .option("--no-trunc", "show full image IDs")
    .option("--digests", "show digests")
    .option("--format <format>", "table (default) or json (one object per line)")
    .action(async (opts: { trunc?: boolean; digests?: boolean; format?: string }) => {
      const store = await openStore();
      const o: Parameters<typeof imagesCommand>[1] = {
        noTrunc: opts.trunc === false,
        digests: opts.digests === true,
      };
      if (opts.format !== undefined) o.format = opts.format;
      out(await imagesCommand(store, o));
    });

  program
    .command("inspect")
    .description("Show details of images as JSON")
    .argument("<ref...>", "image reference or ID")
    .action(async (refs: string[]) => {
      out(await inspectCommand(await openStore(), refs));
    });

  program
    .command("rmi")
    .description("Remove images (untag; delete when no tag is left; free unused layers)")
    .argument("<ref...>", "image reference or ID")
    .option("-f, --force", "remove an image referenced by several repositories")
    .action(async (refs: string[], opts: { force?: boolean }) => {
      await rmiCommand(await openStore(), refs, opts, out);
    });

  program
    .command("info")
    .description("Show store and host information")
    .action(async () => {
      out(await infoCommand(await openStore(), VERSION));
    });

  program
    .command("run")
    .description(
      "Run a command in a new container (pulls the image when it is missing). Network: bridge by default (none with -d)",
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
    .option("--read-only", "mount the root filesystem read-only")
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
  strata run -d --name web -p 8080:80 --network bridge busybox httpd -f -p 80
  strata run --rm -it busybox sh

Exit status: the container's (128+N when signal N killed it); 125 when strata failed before the
container started; 126 when the command cannot be invoked; 127 when it is not found.`,
    )
    .action(async (image: string, command: string[], flags: RunFlags) => {
      exitCode = await runCommand(settings(), image, command, flags, {
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
      out(await psCommand(runtime, o));
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
      const ok = await eachContainer(refs, stop, out, (e) => reportError(e, err));
      if (!ok) exitCode = ExitCode.FAILURE;
    });

  program
    .command("rm")
    .description("Remove containers (their layer, state and name)")
    .argument("<container...>", "name, ID or unique ID prefix")
    .option("-f, --force", "kill and remove a running container")
    .addHelpText("after", "\nExamples:\n  strata rm web\n  strata rm -f web")
    .action(async (refs: string[], opts: { force?: boolean }) => {
      const { runtime } = await opened();
      const ok = await eachContainer(
        refs,
        (r) => runtime.remove(r, { force: opts.force === true }),
        out,
        (e) => reportError(e, err),
      );
      if (!ok) exitCode = ExitCode.FAILURE;
    });

  program
    .command("gc")
    .description(
      "Clean up after crashed runs: containers whose strata process died, orphan layers, cgroups, names, network leases, veths, netns, rules",
    )
    .addHelpText("after", "\nExamples:\n  strata gc")
    .action(async () => {
      const { runtime, network } = await opened();
      out(await gcCommand(runtime, network));
    });

  const netns = program
    .command("netns")
    .description("Named network namespaces, compatible with 'ip netns' (same /run/netns)")
    .addHelpText(
      "after",
      "\nExamples:\n  strata netns add blue\n  strata netns ls\n  strata netns exec blue ip addr\n  strata netns rm blue",
    );
  netns
    .command("add")
    .description("Create a named network namespace (as 'ip netns add')")
    .argument("<name>")
    .action(async (name: string) => {
      await netnsAdd(name);
    });
  netns
    .command("ls")
    .alias("list")
    .description("List named network namespaces")
    .option("--format <format>", "table (default: one name per line) or json")
    .action(async (opts: { format?: string }) => {
      out(await netnsList(opts.format));
    });
  netns
    .command("rm")
    .alias("del")
    .description("Delete named network namespaces (as 'ip netns del')")
    .argument("<name...>")
    .action(async (names: string[]) => {
      for (const name of names) await netnsRemove(name);
    });
  netns
    .command("exec")
    .description("Run a command inside a named network namespace (as 'ip netns exec')")
    .argument("<name>")
    .argument("<command...>")
    .passThroughOptions()
    .action(async (name: string, command: string[]) => {
      exitCode = await netnsExec(name, command);
    });
  netns.enablePositionalOptions();

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
      out(networkList(bridge, o));
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
      out(await networkInspect(bridge, runtime, names));
    });

  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === "commander.helpDisplayed" ||
        e.code === "commander.version" ||
        e.code === "commander.help"
      ) {
        return ExitCode.OK;
      }
      const code = reportError(e, err);
      return runVerb ? 125 : code;
    }
    if (interrupt.signal.aborted) {
      err("strata: interrupted (INTERRUPTED)\n");
      return runVerb ? 125 : ExitCode.INTERRUPTED;
    }
    const code = reportError(e, err);
    return runVerb ? runErrorExit(e) : code;
  } finally {
    process.removeListener("SIGINT", onSigint);
  }
}
