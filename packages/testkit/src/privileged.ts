import { execFileSync } from "node:child_process";
import { describe, it } from "vitest";

export interface PrivilegeNeeds {
  /** Host commands the tests call (checked on PATH), e.g. ["ip", "umoci"]. */
  commands?: string[];
  /** Extra checks: return a reason string when the host cannot run the tests. */
  check?: () => string | undefined;
}

function commandExists(name: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${JSON.stringify(name)}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Why privileged tests cannot run here, or undefined when they can. */
export function missingPrivileges(needs: PrivilegeNeeds = {}): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (run the tests as root)";
  for (const command of needs.commands ?? []) {
    if (!commandExists(command))
      return `needs the '${command}' command on PATH (see .ci/run for the apt packages)`;
  }
  return needs.check?.();
}

/** True when STRATA_REQUIRE_PRIVILEGED=1: a privileged test that would skip must fail instead. */
export function privilegedRequired(): boolean {
  return process.env.STRATA_REQUIRE_PRIVILEGED === "1";
}

/**
 * A describe block for tests that need root (and optionally host commands). Not root: the block is
 * skipped with the reason in its name. With STRATA_REQUIRE_PRIVILEGED=1 (CI) the skip becomes a failure.
 */
export function describePrivileged(name: string, body: () => void, needs: PrivilegeNeeds = {}): void {
  const reason = missingPrivileges(needs);
  if (reason === undefined) {
    describe(name, body);
    return;
  }
  if (privilegedRequired()) {
    describe(name, () => {
      it("has the privileges it needs", () => {
        throw new Error(`STRATA_REQUIRE_PRIVILEGED=1 but this test ${reason}`);
      });
    });
    return;
  }
  describe.skip(`${name} [skipped: ${reason}]`, body);
}
