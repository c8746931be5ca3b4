/**
 * A vitest globalSetup module: `globalSetup: ["../testkit/src/leak-setup.ts"]`.
 * teardown() throws when the run left objects named `*strata-test*` behind (or
 * `$STRATA_LEAK_PREFIX`). Leftovers that already existed at setup are not blamed on this run.
 */

import { TestkitError } from "./errors.js";
import { findLeaks, formatLeaks, type Leak } from "./leaks.js";

const prefix = () => process.env.STRATA_LEAK_PREFIX || "strata-test";
const key = (l: Leak) => `${l.kind}\0${l.name}`;
let before = new Set<string>();

export async function setup(): Promise<void> {
  before = new Set((await findLeaks(prefix())).map(key));
}

export async function teardown(): Promise<void> {
  const leaks = (await findLeaks(prefix())).filter((l) => !before.has(key(l)));
  if (leaks.length > 0) {
    throw new TestkitError(
      "LEAKS_FOUND",
      `the test run left ${leaks.length} object(s) named '*${prefix()}*' behind:\n${formatLeaks(leaks)}`,
    );
  }
}
