import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tailStart } from "../src/log-tail.js";

describe("logs --tail: where the last N lines start", () => {
  const dir = mkdtempSync(join(tmpdir(), "strata-test-container-tail-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function tail(content: string | Buffer, lines: number, bufferSize = 64 * 1024): Promise<string> {
    const file = join(dir, "log");
    writeFileSync(file, content);
    const handle = await open(file, "r");
    try {
      const start = await tailStart(handle, lines, Buffer.alloc(bufferSize));
      return Buffer.from(content).subarray(start).toString();
    } finally {
      await handle.close();
    }
  }

  it("counts lines from the end; a final newline ends the last line", async () => {
    expect(await tail("a\nb\nc\n", 2)).toBe("b\nc\n");
    expect(await tail("a\nb\nc", 2)).toBe("b\nc");
    expect(await tail("a\nb\nc\n", 3)).toBe("a\nb\nc\n");
    expect(await tail("a\nb\nc\n", 10)).toBe("a\nb\nc\n");
    expect(await tail("a\nb\nc\n", 0)).toBe("");
    expect(await tail("", 5)).toBe("");
    expect(await tail("\n\n", 1)).toBe("\n");
  });

  it("reads backwards across buffer boundaries", async () => {
    const lines = Array.from({ length: 500 }, (_, i) => `line ${i} ${"x".repeat(i % 37)}`);
    const text = `${lines.join("\n")}\n`;
    expect(await tail(text, 7, 64)).toBe(`${lines.slice(-7).join("\n")}\n`);
    expect(await tail(text, 499, 100)).toBe(`${lines.slice(1).join("\n")}\n`);
  });
});
