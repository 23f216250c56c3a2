// Fails when a focused or skipped test is left in test/: `.only` hides every other
// test, `.skip` and `xit` hide one.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

const banned = /\b(?:it|describe|context)\.only\(|\b(?:it|describe|context)\.skip\(|\bx(?:it|describe)\(/;
const found = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.(ts|js|mjs)$/.test(name)) {
      readFileSync(p, "utf8").split("\n").forEach((line, i) => {
        if (banned.test(line)) found.push(`${p}:${i + 1}: ${line.trim()}`);
      });
    }
  }
}
walk("test");
if (found.length > 0) {
  console.error(`focused or skipped tests are not allowed:\n${found.join("\n")}`);
  process.exit(1);
}
