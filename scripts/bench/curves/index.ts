/** The scaling curves (`make bench-full`, or `run.ts --only curves`), each in its own file. */
import { CURVES } from "../lib/options";

export async function runCurves(): Promise<void> {
  void CURVES;
}
