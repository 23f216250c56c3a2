import type { TailStart } from "../bus";
import { ValidationError, compileFilter, instantToMillis, type CompiledFilter } from "../domain";
import { StartPosition, type SubscribeRequest } from "../gen/engage/gateway/v1/gateway";

/** A checked SubscribeRequest. */
export interface SubscribePlan {
  filter: CompiledFilter;
  start: TailStart;
}

/** Checks a SubscribeRequest; throws ValidationError naming the field at fault. */
export function planSubscribe(req: SubscribeRequest, partitions: number): SubscribePlan {
  return { filter: compileFilter(req.filter, partitions), start: startOf(req) };
}

function startOf(req: SubscribeRequest): TailStart {
  switch (req.start) {
    case StartPosition.START_POSITION_UNSPECIFIED:
    case StartPosition.START_POSITION_NEW:
      return { kind: "new" };
    case StartPosition.START_POSITION_ALL:
      return { kind: "all" };
    case StartPosition.START_POSITION_SEQUENCE:
      if (req.startSequence < 1) {
        throw new ValidationError("start_sequence", "must be at least 1 with START_POSITION_SEQUENCE");
      }
      return { kind: "sequence", sequence: req.startSequence };
    case StartPosition.START_POSITION_TIME:
      if (!req.startTime) throw new ValidationError("start_time", "is required with START_POSITION_TIME");
      if (req.startTime.nanos < 0 || req.startTime.nanos > 999_999_999) {
        throw new ValidationError("start_time.nanos", "must be from 0 to 999999999");
      }
      return { kind: "time", timeMs: instantToMillis(req.startTime) };
    default:
      throw new ValidationError("start", `unknown StartPosition ${String(req.start)}`);
  }
}
