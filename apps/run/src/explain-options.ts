import type { Command } from "commander";

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
