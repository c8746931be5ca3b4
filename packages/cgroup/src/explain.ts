import type { CgroupEffect } from "./fs.js";

const SAFE = /^[A-Za-z0-9_./:=+-]+$/;

function quote(word: string): string {
  return SAFE.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The shell command equivalent to one effect, e.g. `echo 2 > /sys/fs/cgroup/pids/strata/c1/pids.max`. */
export function shellCommand(effect: CgroupEffect): string {
  switch (effect.kind) {
    case "read":
      return `cat ${quote(effect.path)}`;
    case "write":
      return `echo ${quote(effect.data)} > ${quote(effect.path)}`;
    case "mkdir":
      return `mkdir ${quote(effect.path)}`;
    case "rmdir":
      return `rmdir ${quote(effect.path)}`;
    case "list":
      return `ls ${quote(effect.path)}`;
    case "statfs":
      return `stat -f -c %T ${quote(effect.path)}`;
    case "signal":
      return `kill -${effect.signal.replace(/^SIG/, "")} ${effect.pid}`;
  }
}

const MUTATIONS = new Set<CgroupEffect["kind"]>(["write", "mkdir", "rmdir", "signal"]);

/**
 * Shell commands for a sequence of effects. By default only what changed the system (mkdir, echo,
 * rmdir, kill): the reads that decided it are noise in `--explain`.
 */
export function explainEffects(
  effects: readonly CgroupEffect[],
  options: { includeReads?: boolean } = {},
): string[] {
  return effects.filter((e) => options.includeReads || MUTATIONS.has(e.kind)).map(shellCommand);
}

/** A recorder to pass as `observer`: collects effects; `commands()` renders them. */
export function createRecorder(): {
  effects: CgroupEffect[];
  observer: (effect: CgroupEffect) => void;
  commands(options?: { includeReads?: boolean }): string[];
} {
  const effects: CgroupEffect[] = [];
  return {
    effects,
    observer: (effect) => {
      effects.push(effect);
    },
    commands: (options) => explainEffects(effects, options),
  };
}
