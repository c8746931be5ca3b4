import { strataVitestConfig } from "../../vitest.shared.ts";

// Blame only this package's leftovers: other packages' tests may run at the same time on this machine.
process.env.STRATA_LEAK_PREFIX ??= "strata-test-container";

export default strataVitestConfig({
  testTimeout: 120_000,
  globalSetup: ["../testkit/src/leak-setup.ts", "./test/ip-forward-setup.ts"],
});
