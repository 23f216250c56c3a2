import { batchSpecOf, compileFilter, startAtOf, type BatchSpec, type CompiledFilter, type StartAt } from "../domain";
import type { SubscribeRequest } from "../gen/engage/gateway/v1/gateway";

/** A checked SubscribeRequest. */
export interface SubscribePlan {
  filter: CompiledFilter;
  start: StartAt;
  batch: BatchSpec;
}

/** Checks a SubscribeRequest; throws ValidationError naming the field at fault. */
export function planSubscribe(req: SubscribeRequest, partitions: number): SubscribePlan {
  return { filter: compileFilter(req.filter, partitions), start: startAtOf(req), batch: batchSpecOf(req.maxBatchEvents, req.maxBatchBytes, "") };
}
