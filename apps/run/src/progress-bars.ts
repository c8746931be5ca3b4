import cliProgress from "cli-progress";
import { humanSize } from "./format.js";
import { type ProgressRenderer, STATUS, shortId } from "./progress.js";

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
