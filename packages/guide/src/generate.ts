/** `npm run guide -w @strata/guide`: runs the walk-through for real and rewrites docs/guide.md. */
import { writeFile } from "node:fs/promises";
import { GUIDE_PATH, runGuide } from "./guide.js";

const run = await runGuide({
  onStep: (r) => {
    if (!r.step.hidden) process.stderr.write(`# ${r.command}\n`);
  },
});
if (run.cleanupProblems.length > 0) {
  process.stderr.write(`clean-up problems:\n${run.cleanupProblems.join("\n")}\n`);
  process.exitCode = 1;
}
await writeFile(GUIDE_PATH, run.markdown);
process.stderr.write(`wrote ${GUIDE_PATH}\n`);
