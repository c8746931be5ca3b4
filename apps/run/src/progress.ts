import type { PullEvent } from "@strata/registry-pull";

/** Docker's per-layer status words. */
export const STATUS: Record<string, string> = {
  waiting: "Pulling fs layer",
  present: "Already exists",
  downloading: "Downloading",
  retrying: "Retrying",
  restarted: "Restarting download",
  verifying: "Verifying Checksum",
  done: "Pull complete",
};

export interface ProgressRenderer {
  event(e: PullEvent): void;
  stop(): void;
}

export const shortId = (digest: string) => digest.replace(/^sha256:/, "").slice(0, 12);

/** Non-TTY: one line per status change, like docker's plain output (no byte counters). */
export function plainProgress(write: (s: string) => void): ProgressRenderer {
  const last = new Map<number, string>();
  return {
    event(e) {
      if (e.type !== "layer") return;
      const status =
        e.status === "retrying" ? `Retrying in ${Math.ceil(e.delayMs / 1000)} seconds` : STATUS[e.status];
      if (!status || e.status === "downloading" || last.get(e.index) === status) return;
      last.set(e.index, status);
      write(`${shortId(e.digest)}: ${status}\n`);
    },
    stop() {},
  };
}
