import { defineConfig } from "vitest/config";

/**
 * Shared vitest settings: tests run from TypeScript sources of every workspace package via the
 * "@strata/source" export condition (ssr.resolve.conditions is what vitest's node runner reads).
 */
export function strataVitestConfig(extra: { testTimeout?: number; globalSetup?: string[] } = {}) {
  return defineConfig({
    ssr: { resolve: { conditions: ["@strata/source", "node", "import", "default"] } },
    resolve: { conditions: ["@strata/source", "node", "import", "default"] },
    test: {
      include: ["src/**/*.test.ts", "test/**/*.test.ts"],
      environment: "node",
      testTimeout: extra.testTimeout ?? 60_000,
      hookTimeout: 120_000,
      pool: "forks",
      passWithNoTests: false,
      globalSetup: extra.globalSetup ?? [],
    },
  });
}
