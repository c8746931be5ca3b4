import { type Explain, type ExplainedStep, renderScript, Trace } from "@strata/container";
import { UsageError } from "./errors.js";
import type { ExplainFlags } from "./explain-options.js";

// the flags (cheap, needed to build the command tree) live apart from the explainer (needs @strata/container)
export { addExplainOptions, type ExplainFlags, splitTraceEquals } from "./explain-options.js";

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

/** The explain sink and trace of `x`, without undefined keys (for `pullObserver`, `remove`, `run`). */
export function observed(x: Explainer): { explain?: Explain; trace?: Trace } {
  return {
    ...(x.explain ? { explain: x.explain } : {}),
    ...(x.trace ? { trace: x.trace } : {}),
  };
}
