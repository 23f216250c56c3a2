// Builds the web console (src/console/web) into dist/console/web: one minified ES module
// bundle, its stylesheet and the page. Run by `npm run build`; fails when the bundle
// grows past its gzipped budget.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const src = path.join(root, "src/console/web");
const out = path.join(root, "dist/console/web");
/** The console's whole download, gzipped, must stay under this. */
const BUDGET = 150 * 1024;

mkdirSync(out, { recursive: true });
await build({
  entryPoints: [path.join(src, "main.tsx")],
  outfile: path.join(out, "app.js"),
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022"],
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "none",
  logLevel: "warning",
});
copyFileSync(path.join(src, "app.css"), path.join(out, "app.css"));
copyFileSync(path.join(src, "index.html"), path.join(out, "index.html"));
const gz = ["app.js", "app.css", "index.html"].reduce((n, f) => n + gzipSync(readFileSync(path.join(out, f))).length, 0);
if (gz > BUDGET) {
  console.error(`console bundle is ${gz} bytes gzipped, over the ${BUDGET} byte budget`);
  process.exit(1);
}
