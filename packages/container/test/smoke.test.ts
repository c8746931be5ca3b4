import { describePrivileged } from "@strata/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Fixture, runCapture, setup } from "./fixture.js";

describePrivileged("smoke", () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await setup();
  });
  afterAll(() => f?.stop());
  it("runs", async () => {
    const r = await runCapture(f.runtime, { image: f.busybox, rm: true, args: ["/bin/sh", "-c", "echo hi; hostname; cat /proc/self/cgroup; ls /"] });
    console.log(r);
    expect(r.exitCode).toBe(0);
  });
});
