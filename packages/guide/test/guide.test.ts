import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { describePrivileged, findLeaks } from "@strata/testkit";
import { beforeAll, describe, expect, it } from "vitest";
import { BRIDGE, CHAIN_SUFFIX, MANUAL_VETH, PREFIX, VETH_PREFIX } from "../src/environment.js";
import { committedGuide, GUIDE_PATH, type GuideRun, runGuide } from "../src/guide.js";
import { STEPS } from "../src/steps.js";
import { fill, Normaliser, render, Session, type Step, sessionTexts } from "../src/walkthrough.js";

const ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin" };

describe("walk-through engine", () => {
  it.each([
    ["{{A}} and {{B}}", "real", "1 and 2"],
    ["{{A}} and {{B}}", "shown", "one and two"],
    ["no placeholders", "real", "no placeholders"],
  ] as const)("fill(%j, %s)", (text, which, want) => {
    const vars = { A: { real: "1", shown: "one" }, B: { real: "2", shown: "two" } };
    expect(fill(text, vars, which)).toBe(want);
  });

  it("refuses an unknown placeholder", () => {
    expect(() => fill("{{NOPE}}", {}, "real")).toThrow(/unknown variable \{\{NOPE\}\}/);
  });

  const digest = "a".repeat(64);
  const id = "0123456789abcdef".repeat(4);
  it.each([
    ["keeps content digests", `sha256:${digest}\n${digest}`, `sha256:${digest}\n${digest}`],
    ["replaces the temp root", "/tmp/x-1/root/overlay2", "/var/lib/strata/overlay2"],
    [
      "keeps loopback and broadcast MACs",
      "00:00:00:00:00:00 ff:ff:ff:ff:ff:ff",
      "00:00:00:00:00:00 ff:ff:ff:ff:ff:ff",
    ],
    ["keeps indexes 1 and 2", "1: lo: <LOOPBACK>\n2: eth0@if2: <UP>", "1: lo: <LOOPBACK>\n2: eth0@if2: <UP>"],
  ])("normaliser %s", (_name, input, want) => {
    const n = new Normaliser({ replacements: [["/tmp/x-1/root", "/var/lib/strata"]] });
    n.learn([input]);
    expect(n.apply(input)).toBe(want);
  });

  it("normaliser gives random ids, their short forms and veth names one stable stand-in", () => {
    const text = `${id}\n${id.slice(0, 12)}   web\nstgd${id.slice(0, 11)}@if27416 aa:bb:cc:dd:ee:01\n27416: x: <UP>`;
    const a = new Normaliser({ replacements: [], vethPrefix: ["stgd", "strata"] });
    a.learn([text]);
    const out = a.apply(text);
    expect(out).not.toContain(id.slice(0, 11));
    expect(out).not.toContain("27416");
    expect(out).not.toContain("aa:bb:cc:dd:ee:01");
    const [full, short, veth] = out.split("\n");
    expect(short?.slice(0, 12)).toBe(full?.slice(0, 12));
    expect(veth?.startsWith(`strata${full?.slice(0, 9)}@if`)).toBe(true);
    // a second run with other random values renders the same text
    const other = "fedcba9876543210".repeat(4);
    const text2 = text
      .replaceAll(id.slice(0, 11), other.slice(0, 11))
      .replaceAll(id.slice(0, 12), other.slice(0, 12))
      .replaceAll(id, other)
      .replaceAll("27416", "31000")
      .replace("aa:bb:cc:dd:ee:01", "12:34:56:78:9a:bc");
    const b = new Normaliser({ replacements: [], vethPrefix: ["stgd", "strata"] });
    b.learn([text2]);
    expect(b.apply(text2)).toBe(out);
  });

  it("runs, checks and renders steps (one console block per run of commands)", async () => {
    const steps: Step[] = [
      { kind: "heading", text: "Demo" },
      { kind: "prose", text: "Say {{WHO}}:" },
      { kind: "command", command: "echo hello {{WHO}}", expect: ["hello"] },
      { kind: "command", command: "echo hidden", hidden: true },
      { kind: "command", command: "echo oops >&2; exit 3", exit: 3 },
    ];
    const session = new Session({ env: ENV, variables: { WHO: { real: "/tmp/x-1/w", shown: "/tmp/w" } } });
    await session.run(steps);
    const n = new Normaliser({ replacements: [["/tmp/x-1/w", "/tmp/w"]] });
    n.learn(sessionTexts(steps, session));
    expect(render(steps, session, n, "# T")).toBe(
      "# T\n\n## Demo\n\nSay /tmp/w:\n\n```console\n# echo hello /tmp/w\nhello /tmp/w\n# echo oops >&2; exit 3\noops\n```\n",
    );
  });

  it.each([
    ["a wrong exit code", { kind: "command", command: "exit 1" }, /exited with 1, expected 0/],
    ["a missing line", { kind: "command", command: "echo a", expect: ["b"] }, /lacks b/],
    [
      "a capture without match",
      { kind: "command", command: "echo a", capture: { name: "X", pattern: /(z)/ } },
      /capture X/,
    ],
  ] as [string, Step, RegExp][])("fails a step on %s", async (_name, step, error) => {
    const session = new Session({ env: ENV, variables: {} });
    await expect(session.run([step])).rejects.toMatchObject({
      code: "WALKTHROUGH_STEP_FAILED",
      message: error,
    });
  });
});

describePrivileged(
  "docs/guide.md: the walk-through, run for real",
  () => {
    let run: GuideRun;
    beforeAll(async () => {
      run = await runGuide();
    }, 300_000);

    it("ran every step with the expected exit code and key lines, and cleaned up", () => {
      // runGuide throws on the first failing step; here: all of them ran
      const commands = STEPS.filter((s) => s.kind === "command");
      expect(run.results).toHaveLength(commands.length);
      expect(run.cleanupProblems).toEqual([]);
    });

    it("covers the issue's sections", () => {
      const md = run.markdown;
      for (const want of [
        "# strata netns add blue",
        "# ip netns list | grep blue",
        "# ip netns exec blue ip link",
        "--pids-limit 2",
        "/sys/fs/cgroup/pids/strata/",
        "can't fork",
        "# strata pull 127.0.0.1:55000/library/busybox:latest",
        "/image/overlay2/imagedb/content/sha256/",
        "# strata images --no-trunc",
        "# strata info | egrep -i storage",
        "cat /proc/mounts | egrep overlay",
        "# grep overlay /proc/mounts",
        "lowerdir=/var/lib/strata/overlay2/l/",
        "inet 10.123.0.1/24",
        "default via 10.123.0.1 dev eth0",
        "hello from the pod",
        "hello from web",
        "DNAT --to-destination 10.123.0.",
        "hello from the host",
      ]) {
        expect(md).toContain(want);
      }
      expect(md).not.toMatch(/strata-test-guide|\/tmp\/strata-test/);
    });

    it("left nothing behind", async () => {
      const leaks = await findLeaks(PREFIX, { linkPrefix: VETH_PREFIX });
      expect(leaks).toEqual([]);
      for (const link of [BRIDGE, MANUAL_VETH]) {
        expect(spawnSync("ip", ["link", "show", link]).status).not.toBe(0);
      }
      for (const table of ["nat", "filter"]) {
        const rules = spawnSync("iptables", ["-t", table, "-S"], { encoding: "utf8" }).stdout;
        expect(rules).not.toContain(CHAIN_SUFFIX);
      }
    });

    it("matches the committed docs/guide.md", async () => {
      if (process.env.STRATA_GUIDE_UPDATE === "1") await writeFile(GUIDE_PATH, run.markdown);
      const committed = await committedGuide();
      if (committed !== run.markdown) {
        expect.fail(
          "docs/guide.md is out of date with what the walk-through prints now. Run " +
            "`npm run guide -w @strata/guide` (as root) and commit docs/guide.md. " +
            `First difference:\n${firstDifference(committed, run.markdown)}`,
        );
      }
    });
  },
  {
    commands: ["ip", "iptables", "docker-registry", "busybox", "curl", "ping", "crun"],
    // the guide reads the pids controller of a cgroup v1 (or hybrid) host
    check: () =>
      existsSync("/sys/fs/cgroup/pids") ? undefined : "no cgroup v1 pids hierarchy at /sys/fs/cgroup/pids",
  },
);

function firstDifference(a: string, b: string): string {
  const x = a.split("\n");
  const y = b.split("\n");
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] !== y[i])
      return `line ${i + 1}:\n- committed: ${x[i] ?? "(end)"}\n+ generated: ${y[i] ?? "(end)"}`;
  }
  return "(none)";
}
