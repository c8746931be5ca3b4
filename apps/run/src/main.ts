import { readFileSync } from "node:fs";
import { DEFAULT_ROOT, ImageStore } from "@strata/image-store";
import { Command, CommanderError, Option } from "commander";
import { imagesCommand } from "./commands/images.js";
import { infoCommand } from "./commands/info.js";
import { inspectCommand } from "./commands/inspect.js";
import { rmiCommand } from "./commands/rmi.js";
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
    .description("Pull container images into a Docker-compatible overlay2 store (and, later, run them)")
    .version(VERSION, "-v, --version")
    .addOption(new Option("--root <dir>", "store root").env("STRATA_ROOT").default(DEFAULT_ROOT))
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: err, outputError: () => undefined })
    .showHelpAfterError(false);

  const openStore = () => ImageStore.open({ root: program.opts<{ root: string }>().root });

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

  try {
    await program.parseAsync(argv);
    return ExitCode.OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === "commander.helpDisplayed" ||
        e.code === "commander.version" ||
        e.code === "commander.help"
      ) {
        return ExitCode.OK;
      }
      return reportError(e, err);
    }
    if (interrupt.signal.aborted) {
      err("strata: interrupted (INTERRUPTED)\n");
      return ExitCode.INTERRUPTED;
    }
    return reportError(e, err);
  } finally {
    process.removeListener("SIGINT", onSigint);
  }
}
