import { type Explain, type ExplainedStep, renderScript, Trace } from "@strata/container";
import type { Command } from "commander";
import { UsageError } from "./errors.js";

/** `--explain`, `--dry-run`, `--trace`, `--trace-format` as commander hands them over. */
export interface ExplainFlags {
  explain?: boolean;
  dryRun?: boolean;
  trace?: boolean;
  traceFormat?: string;
}

/** Adds the three flags to a verb (`--trace` only where steps are timed). */
export function addExplainOptions(cmd: Command, what: { dryRun?: boolean; trace?: boolean } = {}): Command {
  cmd.option("--explain", "print the manual commands of each step on stderr before doing it");
  if (what.dryRun !== false)
    cmd.option("--dry-run", "print the steps' commands on stdout as a 'bash -e' script, and do nothing");
  if (what.trace !== false) {
    cmd
      .option("--trace", "print how long each step took on stderr (--trace=json: as JSON)")
      .option("--trace-format <format>", "text (default) or json; implies --trace");
  }
  return cmd;
}

/** What a verb needs for --explain/--dry-run/--trace, and how it reports at the end. */
export interface Explainer {
  /** The sink for @strata/container (undefined without --explain/--dry-run). */
  explain: Explain | undefined;
  dryRun: boolean;
  trace: Trace | undefined;
  /** With --dry-run: the steps collected, rendered as one script on stdout. Call once, at the end. */
  finish(): void;
}

/**
 * --explain: each step as `# --- step: note` then its commands, on stderr (stdout stays the command's own
 * output, e.g. the container's). --dry-run: the same text, as one `bash -e` script on stdout.
 * --trace: `step +start duration` lines, or one JSON object, on stderr.
 */
export function explainer(
  flags: ExplainFlags,
  io: { stdout: (s: string) => void; stderr: (s: string) => void },
): Explainer {
  const format = flags.traceFormat ?? (flags.trace ? "text" : undefined);
  if (format !== undefined && format !== "text" && format !== "json") {
    throw new UsageError(`--trace-format must be 'text' or 'json' (got '${format}')`);
  }
  const dryRun = flags.dryRun === true;
  const steps: ExplainedStep[] = [];
  let explain: Explain | undefined;
  if (dryRun) explain = (step, commands, note) => steps.push({ step, commands, ...(note ? { note } : {}) });
  else if (flags.explain) {
    explain = (step, commands, note) => {
      io.stderr(`# --- ${step}${note ? `: ${note}` : ""}\n${commands.map((c) => `${c}\n`).join("")}`);
    };
  }
  const trace = format !== undefined ? new Trace() : undefined;
  return {
    explain,
    dryRun,
    trace,
    finish() {
      if (dryRun) io.stdout(renderScript(steps));
      if (trace)
        io.stderr(
          format === "json"
            ? `${trace.json()}\n`
            : `${trace
                .lines()
                .map((l) => `${l}\n`)
                .join("")}`,
        );
    },
  };
}

/**
 * `--trace=json` / `--trace=text` → `--trace --trace-format=FMT` before commander parses (commander's
 * `--trace [format]` would take the next word, e.g. the image, as the format). Only the verb's own
 * options are rewritten: for `run` the scan stops at the image (what follows belongs to the command).
 */
export function splitTraceEquals(argv: string[], program: Command): string[] {
  const out = argv.slice(0, 2);
  let verb: Command | undefined;
  let stopped = false;
  const takesValue = (cmd: Command, token: string) =>
    cmd.options.some((o) => (o.long === token || o.short === token) && (o.required || o.optional));
  for (let i = 2; i < argv.length; i++) {
    const token = argv[i] as string;
    if (stopped || token === "--") {
      stopped = true;
      out.push(token);
      continue;
    }
    const scope = verb ?? program;
    if (token.startsWith("-")) {
      const m = /^--trace=(.*)$/.exec(token);
      if (m && verb) {
        out.push("--trace", `--trace-format=${m[1]}`);
        continue;
      }
      out.push(token);
      if (!token.includes("=") && takesValue(scope, token) && i + 1 < argv.length)
        out.push(argv[++i] as string);
      continue;
    }
    out.push(token);
    const sub = scope.commands.find((c) => c.name() === token || c.aliases().includes(token));
    if (sub) verb = sub;
    else if (verb?.name() === "run") stopped = true; // the image: the rest is the container's command
  }
  return out;
}

/** The explain sink and trace of `x`, without undefined keys (for `pullObserver`, `remove`, `run`). */
export function observed(x: Explainer): { explain?: Explain; trace?: Trace } {
  return {
    ...(x.explain ? { explain: x.explain } : {}),
    ...(x.trace ? { trace: x.trace } : {}),
  };
}
