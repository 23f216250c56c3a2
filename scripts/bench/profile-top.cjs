// Summarises a .cpuprofile: self time (as a share of busy, non-idle time) by function and
// by package/file, top N.
// Usage: node scripts/bench/profile-top.cjs <file.cpuprofile> [N]
"use strict";
const fs = require("node:fs");
const prof = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const top = Number(process.argv[3] || 25);
const dt = new Map();
for (let i = 0; i < prof.samples.length; i++) dt.set(prof.samples[i], (dt.get(prof.samples[i]) || 0) + (prof.timeDeltas[i] || 0));
let total = 0;
const byFn = new Map();
const byArea = new Map();
const area = (url) => {
  if (!url) return "(native/idle/gc)";
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  const d = /\/dist\/(.*)$/.exec(url);
  if (d) return "dist/" + d[1];
  return url.replace(/^node:/, "node:").replace(/^file:\/\//, "");
};
for (const n of prof.nodes) {
  const t = dt.get(n.id) || 0;
  if (n.callFrame.functionName === "(idle)") continue; // percentages of busy time
  total += t;
  const cf = n.callFrame;
  const key = `${cf.functionName || "(anonymous)"} ${area(cf.url)}:${cf.lineNumber + 1}`;
  byFn.set(key, (byFn.get(key) || 0) + t);
  const a = cf.url ? area(cf.url) : cf.functionName;
  byArea.set(a, (byArea.get(a) || 0) + t);
}
const show = (m, title) => {
  console.log(`\n${title}`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
};
show(byArea, "self time by area");
show(byFn, "self time by function");
