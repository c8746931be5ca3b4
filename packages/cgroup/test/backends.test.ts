/**
 * Every backend through the same contract (fixture v2, fixture v1, real v1 kernel), then what only
 * a real kernel shows, and last the leak check. One file, so the kernel tests run in order and the
 * final check sees everything they did.
 */
import { describePrivileged } from "@strata/testkit";
import { describe, expect, it } from "vitest";
import { BACKENDS, leftovers, treeUnsupported } from "./backends.js";
import { contract } from "./contract.js";
import { kernelUnified, kernelV1 } from "./kernel.js";

const needs = { commands: ["sleep", "sh", "perl"], check: treeUnsupported };

for (const backend of BACKENDS) {
  if (backend.kernel) describePrivileged(`contract: ${backend.name}`, () => contract(backend), needs);
  else describe(`contract: ${backend.name}`, () => contract(backend));
}

describePrivileged("kernel v1: enforcement", kernelV1, needs);
describePrivileged("kernel cgroup2 (controller-less /sys/fs/cgroup/unified)", kernelUnified, needs);

describePrivileged(
  "leaves nothing",
  () => {
    it("no strata-test-cgroup directory remains under /sys/fs/cgroup", async () => {
      expect(await leftovers("/sys/fs/cgroup")).toEqual([]);
    });
  },
  needs,
);
