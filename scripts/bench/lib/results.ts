/** What the benchmarks measured: per-run rows and their medians, and the curves' points. */
import type { ChartSpec } from "./svg-chart";
import { median } from "./util";

export type Row = Record<string, number>;
export const results: Record<string, { runs: Row[]; median: Row }> = {};

export function record(name: string, runs: Row[]): Row {
  const keys = Object.keys(runs[0] ?? {});
  const m: Row = {};
  for (const k of keys) m[k] = median(runs.map((r) => r[k]));
  results[name] = { runs, median: m };
  return m;
}

/** One curve: its charts (one or more over the same x), a table of every point, how it was measured. */
export interface Curve {
  id: string;
  title: string;
  charts: (ChartSpec & { file: string })[];
  table: { head: string[]; rows: (string | number)[][] };
  note: string;
}
export const curves: Curve[] = [];
