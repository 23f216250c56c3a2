/**
 * A small line-chart writer: axes with round ticks (a linear or log x axis, a linear y
 * axis from 0), axis labels, a title, a legend, one or more series with point markers.
 * Plain SVG 1.1 text, no scripts, no external fonts: readable on GitHub and in any browser.
 */

export interface Series {
  name: string;
  /** One y per x; NaN leaves a gap. */
  ys: number[];
  dashed?: boolean;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  xs: number[];
  series: Series[];
  logX?: boolean;
  /** Labels for the x ticks instead of numbers (one per x, categorical spacing). */
  xTickLabels?: string[];
  width?: number;
  height?: number;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
const MARKERS = ["circle", "square", "triangle", "diamond"] as const;

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const num = (x: number): string => (Math.round(x * 10) / 10).toString();

/** Round tick values covering [0, max]: steps of 1, 2 or 5 × 10^k, about `count` of them. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

/** 1234 → "1.2k", 1500000 → "1.5M", 0.25 → "0.25". */
export function short(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e3) return `${Number((v / 1e3).toPrecision(3))}k`;
  return `${Number(v.toPrecision(3))}`;
}

function marker(kind: (typeof MARKERS)[number], x: number, y: number, color: string): string {
  const r = 3.5;
  if (kind === "circle") return `<circle cx="${num(x)}" cy="${num(y)}" r="${r}" fill="${color}"/>`;
  if (kind === "square") return `<rect x="${num(x - r)}" y="${num(y - r)}" width="${2 * r}" height="${2 * r}" fill="${color}"/>`;
  if (kind === "triangle") return `<path d="M${num(x)},${num(y - r - 1)} L${num(x + r + 1)},${num(y + r)} L${num(x - r - 1)},${num(y + r)} Z" fill="${color}"/>`;
  return `<path d="M${num(x)},${num(y - r - 1)} L${num(x + r + 1)},${num(y)} L${num(x)},${num(y + r + 1)} L${num(x - r - 1)},${num(y)} Z" fill="${color}"/>`;
}

export function lineChart(spec: ChartSpec): string {
  const W = spec.width ?? 640;
  const H = spec.height ?? 380;
  const legendRows = Math.ceil(spec.series.length / 2);
  const m = { left: 68, right: 20, top: 40, bottom: 58 + legendRows * 18 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const categorical = spec.xTickLabels !== undefined;
  const xs = spec.xs;
  const lx = (v: number): number => (spec.logX ? Math.log10(v) : v);
  const xmin = Math.min(...xs.map(lx));
  const xmax = Math.max(...xs.map(lx));
  const xAt = (i: number): number =>
    categorical || xs.length === 1 || xmax === xmin
      ? m.left + (xs.length === 1 ? pw / 2 : (i * pw) / (xs.length - 1))
      : m.left + ((lx(xs[i]) - xmin) / (xmax - xmin)) * pw;
  const all = spec.series.flatMap((s) => s.ys).filter((y) => Number.isFinite(y));
  const yTicks = niceTicks(Math.max(0, ...all) * 1.05);
  const ymax = yTicks[yTicks.length - 1];
  const yAt = (v: number): number => m.top + ph - (v / ymax) * ph;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(spec.title)}</text>`);
  // Grid and y ticks.
  for (const t of yTicks) {
    const y = yAt(t);
    out.push(`<line x1="${m.left}" y1="${num(y)}" x2="${m.left + pw}" y2="${num(y)}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${m.left - 6}" y="${num(y + 4)}" text-anchor="end">${esc(short(t))}</text>`);
  }
  // X ticks: one per measured x; with many, a label on every k-th only, so none overlap.
  const labelEvery = Math.max(1, Math.ceil(xs.length / 10));
  xs.forEach((x, i) => {
    const px = xAt(i);
    const labelled = i % labelEvery === 0;
    out.push(`<line x1="${num(px)}" y1="${m.top + ph}" x2="${num(px)}" y2="${m.top + ph + (labelled ? 5 : 3)}" stroke="#333"/>`);
    if (labelled) out.push(`<text x="${num(px)}" y="${m.top + ph + 18}" text-anchor="middle">${esc(spec.xTickLabels?.[i] ?? short(x))}</text>`);
  });
  // Axes.
  out.push(`<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + ph}" stroke="#333"/>`);
  out.push(`<line x1="${m.left}" y1="${m.top + ph}" x2="${m.left + pw}" y2="${m.top + ph}" stroke="#333"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${m.top + ph + 38}" text-anchor="middle">${esc(spec.xLabel)}${spec.logX && !categorical ? " (log scale)" : ""}</text>`);
  out.push(`<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`);
  // Series: a polyline through the finite points (a NaN breaks the line), and markers.
  spec.series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length];
    const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
    let seg: string[] = [];
    const flush = (): void => {
      if (seg.length > 1) out.push(`<polyline points="${seg.join(" ")}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
      seg = [];
    };
    s.ys.forEach((y, i) => {
      if (!Number.isFinite(y)) return flush();
      seg.push(`${num(xAt(i))},${num(yAt(y))}`);
    });
    flush();
    s.ys.forEach((y, i) => {
      if (Number.isFinite(y)) out.push(marker(MARKERS[k % MARKERS.length], xAt(i), yAt(y), color));
    });
    // Legend: two columns under the x label.
    const lxp = m.left + (k % 2) * (pw / 2);
    const lyp = m.top + ph + 52 + Math.floor(k / 2) * 18;
    out.push(`<line x1="${lxp}" y1="${lyp - 4}" x2="${lxp + 24}" y2="${lyp - 4}" stroke="${color}" stroke-width="2"${dash}/>`);
    out.push(marker(MARKERS[k % MARKERS.length], lxp + 12, lyp - 4, color));
    out.push(`<text x="${lxp + 30}" y="${lyp}">${esc(s.name)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
