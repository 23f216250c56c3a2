import { strict as assert } from "node:assert";
import { lineChart, niceTicks, short } from "../../scripts/bench/lib/svg-chart";

describe("bench SVG line chart", () => {
  it("picks round ticks that cover the largest value", () => {
    assert.deepEqual(niceTicks(9.5), [0, 2, 4, 6, 8, 10]);
    assert.deepEqual(niceTicks(23_000), [0, 5000, 10000, 15000, 20000, 25000]);
    assert.deepEqual(niceTicks(0), [0, 1]);
    assert.equal(short(1500), "1.5k");
    assert.equal(short(2_000_000), "2M");
    assert.equal(short(0.25), "0.25");
  });

  it("draws axes, a tick per x, a line and markers per series, a legend, escaped text", () => {
    const svg = lineChart({
      title: "Rate <against> streams & more",
      xLabel: "streams",
      yLabel: "events/s",
      xs: [10, 100, 1000],
      logX: true,
      series: [
        { name: "delivered", ys: [1000, 9000, NaN] },
        { name: "offered", ys: [1000, 10000, 100000], dashed: true },
      ],
    });
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.ok(svg.trimEnd().endsWith("</svg>"));
    assert.ok(svg.includes("Rate &lt;against&gt; streams &amp; more"));
    assert.ok(svg.includes("streams (log scale)"));
    for (const t of [">10<", ">100<", ">1k<"]) assert.ok(svg.includes(t), `x tick ${t}`);
    // One polyline per series; the NaN point leaves the first with two points.
    const lines = svg.match(/<polyline points="([^"]+)"/g)!;
    assert.equal(lines.length, 2);
    assert.equal(lines[0].split(" ").length - 1, 2);
    assert.ok(svg.includes('stroke-dasharray="6 4"'));
    assert.ok(svg.includes(">delivered</text>") && svg.includes(">offered</text>"));
    // Log x: 10, 100 and 1000 are evenly spaced.
    const xsOf = (line: string): number[] => line.replace(/^<polyline points="|"$/g, "").split(" ").map((p) => Number(p.split(",")[0]));
    const [a, b, c] = xsOf(lines[1]);
    assert.ok(Math.abs(b - a - (c - b)) < 0.2, `${a} ${b} ${c}`);
  });
});
