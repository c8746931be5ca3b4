import { describe, expect, it } from "vitest";
import { renderFormat } from "../src/commands/inspect-container.js";

describe("inspect --format (docker's templates, the common subset)", () => {
  const obj = { State: { Pid: 42, Running: true }, Config: { Cmd: ["sleep", "1"] }, Name: "/web" };
  it("fills {{.Path}} and {{json .Path}} placeholders, keeping the text around them", () => {
    expect(renderFormat("{{.State.Pid}}", obj)).toBe("42");
    expect(renderFormat("pid={{ .State.Pid }} running={{.State.Running}}", obj)).toBe("pid=42 running=true");
    expect(renderFormat("{{json .Config.Cmd}}", obj)).toBe('["sleep","1"]');
    expect(renderFormat("{{.Config}}", obj)).toBe('{"Cmd":["sleep","1"]}');
    expect(renderFormat("{{json .}}", { a: 1 })).toBe('{"a":1}');
    expect(renderFormat("{{.Nope.Deeper}}", obj)).toBe("<no value>");
  });
  it.each(["{{range .Config.Cmd}}{{.}}{{end}}", "{{if .State.Running}}up{{end}}", "{{.State.Pid", "}}"])(
    "refuses %s (USAGE)",
    (template) => {
      expect(() => renderFormat(template, obj)).toThrow(expect.objectContaining({ code: "USAGE" }));
    },
  );
});
