/**
 * The walk-through engine: a list of steps (prose, a shell command, expectations), run for real one
 * after the other, and rendered as Markdown with every command's real output. Volatile values (temp
 * paths, ports, random ids, MACs, interface indexes) are replaced by stable stand-ins so the rendered
 * document only changes when strata's behaviour does.
 */
import { type ChildProcess, spawn } from "node:child_process";

/** One entry of the walk-through. */
export type Step = Heading | Prose | CommandStep;

export interface Heading {
  kind: "heading";
  /** `##` level text. */
  text: string;
}

export interface Prose {
  kind: "prose";
  /** Markdown, rendered as is (`{{VAR}}` placeholders are replaced by their shown values). */
  text: string;
}

export interface CommandStep {
  kind: "command";
  /** A bash command line; `{{VAR}}` placeholders are filled from the session's variables. */
  command: string;
  /** Run, checked, but not rendered (readiness waits, id lookups). */
  hidden?: boolean;
  /** Started like `cmd &`: not waited for; killed (by PID) at the end of the session if still running. */
  background?: string;
  /** Expected exit code (default 0). */
  exit?: number;
  /** Patterns the (combined) output must contain. */
  expect?: (string | RegExp)[];
  /** Store the trimmed output (or the first match of `pattern`) as a session variable. */
  capture?: { name: string; pattern?: RegExp };
  /** Give up after this long (default 60 s). */
  timeoutMs?: number;
}

/** A value used in commands: `real` is what runs, `shown` what the document says. */
export interface Variable {
  real: string;
  shown: string;
}

export interface StepResult {
  step: CommandStep;
  /** The command as it ran. */
  command: string;
  /** stdout and stderr, interleaved as a terminal would show them. */
  output: string;
  exitCode: number | null;
}

export class WalkthroughError extends Error {
  readonly code = "WALKTHROUGH_STEP_FAILED";
  constructor(
    message: string,
    readonly result: StepResult,
  ) {
    super(message);
    this.name = "WalkthroughError";
  }
}

export interface SessionOptions {
  /** Environment of every command (PATH must find the `strata` shim). */
  env: NodeJS.ProcessEnv;
  /** Initial variables. */
  variables: Record<string, Variable>;
  cwd?: string;
  /** Called after each command (progress on a terminal). */
  onStep?: (result: StepResult) => void;
}

/** Fills `{{VAR}}` placeholders with `real` or `shown` values. */
export function fill(text: string, variables: Record<string, Variable>, which: "real" | "shown"): string {
  return text.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_whole, name: string) => {
    const v = variables[name];
    if (!v) throw new Error(`walk-through: unknown variable {{${name}}} in: ${text}`);
    return v[which];
  });
}

/** Runs steps in order; keeps background processes until `close()`. */
export class Session {
  readonly results = new Map<CommandStep, StepResult>();
  readonly variables: Record<string, Variable>;
  private readonly background: { name: string; child: ChildProcess; done: Promise<void> }[] = [];

  constructor(private readonly options: SessionOptions) {
    this.variables = { ...options.variables };
  }

  async run(steps: Step[]): Promise<void> {
    for (const step of steps) {
      if (step.kind !== "command") continue;
      const result = step.background ? await this.start(step) : await this.exec(step);
      this.results.set(step, result);
      this.options.onStep?.(result);
      check(result);
      if (step.capture) {
        const text = step.capture.pattern
          ? step.capture.pattern.exec(result.output)?.[1]
          : result.output.trim();
        if (text === undefined) throw new WalkthroughError(`capture ${step.capture.name}: no match`, result);
        this.variables[step.capture.name] = { real: text, shown: text };
      }
    }
  }

  private exec(step: CommandStep): Promise<StepResult> {
    const command = fill(step.command, this.variables, "real");
    return new Promise((resolve, reject) => {
      // one pipe for both streams keeps their order, as on a terminal
      const child = spawn("bash", ["-o", "pipefail", "-c", `exec 2>&1\n${command}`], {
        env: this.options.env,
        cwd: this.options.cwd,
        stdio: ["ignore", "pipe", "ignore"],
      });
      const chunks: Buffer[] = [];
      child.stdout.on("data", (c: Buffer) => chunks.push(c));
      const timer = setTimeout(() => child.kill("SIGKILL"), step.timeoutMs ?? 60_000);
      child.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once("close", (code) => {
        clearTimeout(timer);
        resolve({ step, command, output: Buffer.concat(chunks).toString("utf8"), exitCode: code });
      });
    });
  }

  private async start(step: CommandStep): Promise<StepResult> {
    const command = fill(step.command, this.variables, "real");
    const child = spawn("bash", ["-c", `exec ${command}`], {
      env: this.options.env,
      cwd: this.options.cwd,
      stdio: "ignore",
    });
    const done = new Promise<void>((resolve) => child.once("close", () => resolve()));
    this.background.push({ name: step.background ?? "", child, done });
    return { step, command, output: "", exitCode: 0 };
  }

  /** Waits for a background command (started with `background: name`) to exit on its own. */
  async waitFor(name: string, timeoutMs = 30_000): Promise<boolean> {
    const job = this.background.find((b) => b.name === name);
    if (!job) return true;
    return Promise.race([job.done.then(() => true), delay(timeoutMs).then(() => false)]);
  }

  /** Stops what is still running in the background: SIGTERM (strata tears its container down), then SIGKILL. */
  async close(): Promise<void> {
    for (const job of this.background) {
      if (job.child.exitCode !== null || job.child.signalCode !== null) continue;
      job.child.kill("SIGTERM");
      const gone = await Promise.race([job.done.then(() => true), delay(15_000).then(() => false)]);
      if (!gone) {
        job.child.kill("SIGKILL");
        await job.done;
      }
    }
  }
}

function check(result: StepResult): void {
  const { step } = result;
  const want = step.exit ?? 0;
  const show = `\n$ ${result.command}\n${result.output}(exit ${result.exitCode})`;
  if (result.exitCode !== want) {
    throw new WalkthroughError(`step exited with ${result.exitCode}, expected ${want}:${show}`, result);
  }
  for (const e of step.expect ?? []) {
    const ok = typeof e === "string" ? result.output.includes(e) : e.test(result.output);
    if (!ok) throw new WalkthroughError(`step output lacks ${String(e)}:${show}`, result);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

const HEX64 = /(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])/g;

/** A 64-hex stand-in for the n-th random id: stable, and not mistakable for a digest of anything shown. */
function fakeHex(seed: string): string {
  // FNV-1a based expansion: no crypto needed, only stability
  let out = "";
  let h = 0x811c9dc5;
  for (let i = 0; out.length < 64; i++) {
    for (const ch of `${seed}/${i}`) {
      h ^= ch.charCodeAt(0);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    out += h.toString(16).padStart(8, "0");
  }
  return out.slice(0, 64);
}

export interface NormaliserOptions {
  /** Fixed replacements (temp root, registry port, …), applied first, longest first. */
  replacements: [string, string][];
  /** Host-side veth names: strata's prefix for this run and the one to show, e.g. ["stgd", "strata"]. */
  vethPrefix?: [string, string];
}

/**
 * Replaces what varies from run to run. Content digests (everything shown after `sha256:`) are
 * deterministic and kept; other 64-hex values (container ids, layer cache ids) and their short forms,
 * overlay link ids, MACs and interface indexes get stand-ins in order of first appearance.
 */
export class Normaliser {
  private readonly digests = new Set<string>();
  private readonly ids = new Map<string, string>();
  private readonly links = new Map<string, string>();
  private readonly macs = new Map<string, string>();
  private readonly ifindexes = new Map<string, string>();

  constructor(private readonly options: NormaliserOptions) {}

  /** First pass over every text in session order: learns digests, then the random ids. */
  learn(texts: string[]): void {
    for (const t of texts)
      for (const m of t.matchAll(/sha256:([0-9a-f]{64})/g)) this.digests.add(m[1] as string);
    for (const t of texts) {
      for (const m of t.matchAll(HEX64)) {
        const hex = m[0];
        if (!this.digests.has(hex) && !this.ids.has(hex))
          this.ids.set(hex, fakeHex(`id-${this.ids.size + 1}`));
      }
    }
  }

  apply(text: string): string {
    let out = text;
    const fixed = [...this.options.replacements].sort((a, b) => b[0].length - a[0].length);
    for (const [from, to] of fixed) out = out.split(from).join(to);
    out = out.replace(HEX64, (hex) => this.ids.get(hex) ?? hex);
    // short forms: 12 (ps, netns names) and the veth name's cut
    const veth = this.options.vethPrefix;
    for (const [real, fake] of this.ids) {
      if (veth) {
        const cut = 15 - veth[0].length;
        out = out
          .split(`${veth[0]}${real.slice(0, cut)}`)
          .join(`${veth[1]}${fake.slice(0, 15 - veth[1].length)}`);
      }
      out = out.replace(new RegExp(`(?<![0-9a-f])${real.slice(0, 12)}(?![0-9a-f])`, "g"), fake.slice(0, 12));
    }
    out = out.replace(
      /\/l\/([A-Z0-9]{26})\b/g,
      (_w, id: string) => `/l/${this.stable(this.links, id, linkId)}`,
    );
    out = out.replace(/\b(?:[0-9a-f]{2}:){5}[0-9a-f]{2}\b/g, (mac) =>
      mac === "00:00:00:00:00:00" || mac === "ff:ff:ff:ff:ff:ff" ? mac : this.stable(this.macs, mac, fakeMac),
    );
    // interface indexes of host interfaces depend on what the machine made before; inside a fresh
    // namespace they are 1 (lo) and 2 (eth0), which stay
    out = out.replace(/@if(\d+)\b/g, (w, n: string) =>
      Number(n) <= 2 ? w : `@if${this.stable(this.ifindexes, n, ifindex)}`,
    );
    out = out.replace(/^(\d+): (?=\S+: <)/gm, (w, n: string) =>
      Number(n) <= 2 ? w : `${this.stable(this.ifindexes, n, ifindex)}: `,
    );
    return out;
  }

  private stable(map: Map<string, string>, key: string, make: (n: number) => string): string {
    let v = map.get(key);
    if (v === undefined) {
      v = make(map.size + 1);
      map.set(key, v);
    }
    return v;
  }
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
function linkId(n: number): string {
  const hex = fakeHex(`link-${n}`);
  let s = "";
  for (let i = 0; i < 26; i++) s += BASE32[Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16) % 32];
  return s;
}
function fakeMac(n: number): string {
  return `02:42:0a:00:00:${n.toString(16).padStart(2, "0")}`;
}
function ifindex(n: number): string {
  return String(40 + n);
}

/** Renders the steps as Markdown: consecutive shown commands share one ```console block. */
export function render(steps: Step[], session: Session, normaliser: Normaliser, header: string): string {
  const parts: string[] = [header.trimEnd(), ""];
  let block: string[] | undefined;
  const flush = () => {
    if (block) parts.push("```console", ...block, "```", "");
    block = undefined;
  };
  for (const step of steps) {
    if (step.kind === "heading") {
      flush();
      parts.push(`## ${step.text}`, "");
    } else if (step.kind === "prose") {
      flush();
      parts.push(normaliser.apply(fill(step.text.trim(), session.variables, "shown")), "");
    } else if (!step.hidden) {
      const result = session.results.get(step);
      if (!result) throw new Error(`walk-through: step did not run: ${step.command}`);
      block ??= [];
      const shown = normaliser.apply(fill(step.command, session.variables, "shown"));
      block.push(`# ${shown}${step.background ? " &" : ""}`);
      const output = normaliser
        .apply(result.output)
        .replace(/[ \t]+$/gm, "")
        .replace(/\n+$/, "");
      if (output) block.push(output);
    }
  }
  flush();
  return `${parts.join("\n").trimEnd()}\n`;
}

/** Every text the session produced, in order (for `Normaliser.learn`). */
export function sessionTexts(steps: Step[], session: Session): string[] {
  const texts: string[] = [];
  for (const step of steps) {
    if (step.kind !== "command") continue;
    const r = session.results.get(step);
    if (r) texts.push(r.command, r.output);
  }
  return texts;
}
