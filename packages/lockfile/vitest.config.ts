import { strataVitestConfig } from "../../vitest.shared.ts";

// The run fails if it leaves anything named after this package's test prefix behind (mounts, netns,
// links, temp dirs, processes). Scoped to this package so parallel runs of other packages are not blamed.
process.env.STRATA_LEAK_PREFIX ??= "strata-test-lockfile";

export default strataVitestConfig({ globalSetup: ["../testkit/src/leak-setup.ts"] });
