#!/usr/bin/env node
// Summarise a V8 .cpuprofile: self time by function and by file, and total time by file (inclusive,
// top-down). `node bench/run/profile-summary.mjs cli-bundle.cpuprofile [N]`
import { readFileSync } from "node:fs";

const [file, topArg] = process.argv.slice(2);
const top = Number(topArg ?? 25);
const prof = JSON.parse(readFileSync(file, "utf8"));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const dt = new Map();
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i];
  dt.set(id, (dt.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0) / 1000);
}
const total = [...dt.values()].reduce((a, b) => a + b, 0);
const short = (url) => url.replace(/^file:\/\/.*?\/(node_modules|packages|apps)\//, "$1/") || "(native)";
const selfFn = new Map();
const selfFile = new Map();
for (const [id, ms] of dt) {
  const { callFrame: f } = byId.get(id);
  const key = `${f.functionName || "(anonymous)"} ${short(f.url)}:${f.lineNumber + 1}`;
  selfFn.set(key, (selfFn.get(key) ?? 0) + ms);
  selfFile.set(short(f.url), (selfFile.get(short(f.url)) ?? 0) + ms);
}
const show = (title, m) => {
  console.log(`\n${title}`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${v.toFixed(1).padStart(8)} ms  ${k}`);
};
console.log(`total sampled ${total.toFixed(1)} ms`);
show("self time by function", selfFn);
show("self time by file", selfFile);

// inclusive (self + callees) time by function, counted once per stack
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const incl = new Map();
for (const [id, ms] of dt) {
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const { callFrame: f } = byId.get(cur);
    const key = `${f.functionName || "(anonymous)"} ${short(f.url)}:${f.lineNumber + 1}`;
    if (seen.has(key)) continue;
    seen.add(key);
    incl.set(key, (incl.get(key) ?? 0) + ms);
  }
}
show("inclusive time by function", incl);
