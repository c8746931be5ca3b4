import type { PullEvent } from "@strata/registry-pull";
import cliProgress from "cli-progress";
import { humanSize } from "./format.js";

/** Docker's per-layer status words. */
const STATUS: Record<string, string> = {
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

const shortId = (digest: string) => digest.replace(/^sha256:/, "").slice(0, 12);

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

/** TTY: one cli-progress bar per layer. */
export function barProgress(stream: NodeJS.WriteStream): ProgressRenderer {
  const multi = new cliProgress.MultiBar(
    {
      stream,
      clearOnComplete: false,
      hideCursor: true,
      autopadding: true,
      format: "{id}: {status} [{bar}] {done}/{size}",
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<number, cliProgress.SingleBar>();
  return {
    event(e) {
      if (e.type !== "layer") return;
      let bar = bars.get(e.index);
      if (!bar) {
        bar = multi.create(e.size || 1, 0, {
          id: shortId(e.digest),
          status: STATUS.waiting,
          done: "0B",
          size: humanSize(e.size),
        });
        bars.set(e.index, bar);
      }
      if (e.status === "downloading") {
        bar.update(e.bytes, { status: STATUS.downloading, done: humanSize(e.bytes) });
      } else if (e.status === "present" || e.status === "done") {
        bar.update(e.size || 1, { status: STATUS[e.status], done: humanSize(e.size) });
      } else {
        bar.update({ status: STATUS[e.status] ?? e.status });
      }
    },
    stop() {
      multi.stop();
    },
  };
}
