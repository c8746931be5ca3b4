import { strataVitestConfig } from "../../vitest.shared.ts";

// The run fails if it leaves anything named after this package's test prefix behind (netns, links,
// cgroups, mounts, temp dirs, processes).
process.env.STRATA_LEAK_PREFIX ??= "strata-test-guide";

export default strataVitestConfig({ testTimeout: 600_000, globalSetup: ["../testkit/src/leak-setup.ts"] });
