// Issue 7's CLI habits: --help with examples on every verb (each example parsed; the local ones run), version, completion,
// --log-level / STRATA_DEBUG, and the config file. In-process through main(); nothing privileged.
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { DEFAULT_ROOT as STORE_DEFAULT_ROOT } from "@strata/image-store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_ROOT } from "../src/defaults.js";
import { configPaths, loadConfig, main } from "../src/index.js";
import { BIN, cleanup } from "./cli-helpers.js";

const PREFIX = "strata-test-runh-";
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), PREFIX));
});
afterAll(async () => {
  await cleanup(dir);
});

async function strata(args: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = "";
  let stderr = "";
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, done) {
        append(chunk.toString());
        done();
      },
    });
  const code = await main(["node", "strata", ...args], {
    stdout: sink((s) => {
      stdout += s;
    }),
    stderr: sink((s) => {
      stderr += s;
    }),
    // no /etc/strata or ~/.config file of this machine leaks into the tests
    env: { STRATA_CONFIG: path.join(dir, "absent.json"), STRATA_ROOT: path.join(dir, "root"), ...env },
  });
  return { code, stdout, stderr };
}

/** Splits a shell-ish example into argv (single quotes only, as the examples use). */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? "");
}

const VERBS = [
  "pull",
  "images",
  "inspect",
  "rmi",
  "info",
  "run",
  "ps",
  "stop",
  "rm",
  "gc",
  "netns",
  "network",
  "version",
  "completion",
];

describe("--help on every verb", () => {
  it.each(VERBS)("strata %s --help shows examples, and each example parses", async (verb) => {
    const help = await strata([verb, "--help"]);
    expect(help.code).toBe(0);
    const examples = help.stdout.split("Examples:\n")[1]?.split("\n\n")[0] ?? "";
    const lines = examples
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.startsWith("strata ") || l.startsWith("source <(strata "));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      // shell around the command (redirections, process substitution) is not strata's to parse
      const command = line.replace(/^source <\((.*)\)$/, "$1").replace(/\s*>\s*\S+$/, "");
      const parsed = await strata(words(command).slice(1), { STRATA_PARSE_ONLY: "1" });
      expect({ line, ...parsed }).toMatchObject({ line, code: 0, stderr: "" });
    }
  });

  // The examples that need no registry (tests never reach Docker Hub), no image or container and no
  // host-wide change run for real against the temp root; the others are parsed above, and the same
  // commands run for real against a local registry in run.test.ts, cli.test.ts and explain.test.ts.
  it.each([
    "strata images",
    "strata images --digests --no-trunc",
    "strata images --format json",
    "strata info",
    "strata --root /tmp/store info",
    "strata ps",
    "strata ps -a --format json",
    "strata network ls",
    "strata version",
    "strata version --format json",
    "strata completion bash",
  ])("runs the example `%s` for real", async (line) => {
    const command = line.replace("/tmp/store", path.join(dir, "example-root"));
    const ran = await strata(words(command).slice(1));
    expect({ line, code: ran.code, stderr: ran.stderr }).toEqual({ line, code: 0, stderr: "" });
    if (line.includes("json")) {
      // one JSON object per line, as docker prints them (none for an empty list)
      for (const row of ran.stdout.split("\n").filter(Boolean)) expect(() => JSON.parse(row)).not.toThrow();
    } else {
      expect(ran.stdout.length).toBeGreaterThan(0);
    }
  });

  it("a bad flag in parse-only mode still fails like a real run (125 for run, 2 otherwise)", async () => {
    expect((await strata(["run", "--bogus", "busybox"], { STRATA_PARSE_ONLY: "1" })).code).toBe(125);
    expect((await strata(["ps", "--bogus"], { STRATA_PARSE_ONLY: "1" })).code).toBe(2);
  });
});

describe("version, completion, debug", () => {
  it("a reader that closes early (strata … | head) ends strata quietly with status 0", () => {
    // `head -c 1` closes the pipe after one byte, long before the help text is written; stderr is kept
    // so a stack trace would show
    const script = `err=$(mktemp); "${process.execPath}" "${BIN}" --help 2>"$err" | head -c 1 >/dev/null; echo "\${PIPESTATUS[0]}"; cat "$err"; rm -f "$err"`;
    expect(execFileSync("bash", ["-c", script], { encoding: "utf8" })).toBe("0\n");
  });

  it("strata version prints the package version (text and json)", async () => {
    const text = await strata(["version"]);
    expect(text.stdout).toMatch(/^strata:\n Version: +0\.1\.0\n/);
    const json = JSON.parse((await strata(["version", "--format", "json"])).stdout);
    expect(json).toMatchObject({ Version: "0.1.0", Os: "linux" });
    expect((await strata(["--version"])).stdout).toBe("0.1.0\n");
  });

  it("strata completion bash is valid bash and completes verbs, sub-verbs and flags", async () => {
    const script = (await strata(["completion", "bash"])).stdout;
    const file = path.join(dir, "completion.sh");
    await writeFile(file, script);
    const complete = (line: string[]) =>
      execFileSync(
        "bash",
        [
          "-c",
          `source ${file}; COMP_WORDS=(${line.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${line.length - 1}; _strata; echo "\${COMPREPLY[*]}"`,
        ],
        { encoding: "utf8" },
      ).trim();
    expect(complete(["strata", "ne"])).toBe("netns network");
    expect(complete(["strata", "netns", ""])).toBe("add ls rm exec --help");
    expect(complete(["strata", "run", "--pi"])).toBe("--pids-limit");
    expect(complete(["strata", "--root", "/x", "ps", "--"])).toContain("--all");
    const zsh = await strata(["completion", "zsh"]);
    expect(zsh.code).toBe(2);
  });

  it.each([
    [{ STRATA_DEBUG: "1" }, []],
    [{}, ["--log-level", "debug"]],
  ])("%o %o prints the stack of an error", async (env, flags) => {
    const r = await strata([...flags, "inspect", "nope"], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("(IMAGE_NOT_FOUND)");
    expect(r.stderr).toMatch(/\n {4}at /);
    const quiet = await strata(["inspect", "nope"]);
    expect(quiet.stderr).not.toMatch(/\n {4}at /);
  });
});

describe("config file", () => {
  it("reads /etc/strata/config.json, then $XDG_CONFIG_HOME/strata/config.json; STRATA_CONFIG replaces both", () => {
    expect(configPaths({ XDG_CONFIG_HOME: "/x" })).toEqual([
      "/etc/strata/config.json",
      "/x/strata/config.json",
    ]);
    expect(configPaths({ HOME: "/home/u" })).toEqual([
      "/etc/strata/config.json",
      "/home/u/.config/strata/config.json",
    ]);
    expect(configPaths({ STRATA_CONFIG: "/c.json", XDG_CONFIG_HOME: "/x" })).toEqual(["/c.json"]);
  });

  it("later files override earlier ones key by key", async () => {
    const etc = path.join(dir, "xdg-merge");
    await mkdir(path.join(etc, "strata"), { recursive: true });
    await writeFile(path.join(etc, "strata", "config.json"), JSON.stringify({ defaultNetwork: "none" }));
    const merged = loadConfig({ XDG_CONFIG_HOME: etc });
    expect(merged.defaultNetwork).toBe("none");
  });

  it("the default root is the store's default root", () => {
    expect(DEFAULT_ROOT).toBe(STORE_DEFAULT_ROOT);
  });

  it("root: the config's unless --root or STRATA_ROOT say otherwise", async () => {
    const file = path.join(dir, "config.json");
    const fromConfig = path.join(dir, "from-config");
    await writeFile(file, JSON.stringify({ root: fromConfig, insecureRegistries: ["127.0.0.1:5000"] }));
    const info = (args: string[], env: NodeJS.ProcessEnv) =>
      strata([...args, "info"], { STRATA_CONFIG: file, ...env });
    expect((await info([], { STRATA_ROOT: "" })).stdout).toContain(`Strata Root Dir: ${fromConfig}`);
    const envRoot = path.join(dir, "from-env");
    expect((await info([], { STRATA_ROOT: envRoot })).stdout).toContain(`Strata Root Dir: ${envRoot}`);
    const flagRoot = path.join(dir, "from-flag");
    expect((await info(["--root", flagRoot], { STRATA_ROOT: envRoot })).stdout).toContain(
      `Strata Root Dir: ${flagRoot}`,
    );
  });

  it.each([
    ["{not json", "not valid JSON"],
    ["[]", "must be a JSON object"],
    ['{"rooot": "/x"}', "unknown key 'rooot'"],
    ['{"registryMirrors": "https://m"}', "'registryMirrors' must be an array of strings"],
    ['{"root": 3}', "'root' must be a non-empty string"],
  ])("rejects %s with CONFIG_INVALID", async (text, message) => {
    const file = path.join(dir, "bad.json");
    await writeFile(file, text);
    const r = await strata(["images"], { STRATA_CONFIG: file });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain("(CONFIG_INVALID)");
  });
});
