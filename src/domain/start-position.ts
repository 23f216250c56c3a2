import { StartPosition } from "../gen/engage/gateway/v1/gateway";
import { ValidationError } from "./errors";
import { instantToMillis, type Instant } from "./timestamp";

const MAX_TIMESTAMP_SECONDS = 253_402_300_799;

/** Where reading ENGAGE_EVENTS starts. */
export type StartAt =
  | { kind: "new" }
  | { kind: "all" }
  | { kind: "sequence"; sequence: number }
  | { kind: "time"; timeMs: number };

/**
 * Checks a start position from a request.
 * @param prefix the request path of the fields, e.g. "" or "open."
 */
export function startAtOf(
  r: { start: StartPosition; startSequence: number; startTime: Instant | undefined },
  prefix = "",
): StartAt {
  switch (r.start) {
    case StartPosition.START_POSITION_UNSPECIFIED:
    case StartPosition.START_POSITION_NEW:
      return { kind: "new" };
    case StartPosition.START_POSITION_ALL:
      return { kind: "all" };
    case StartPosition.START_POSITION_SEQUENCE:
      if (r.startSequence < 1) {
        throw new ValidationError(`${prefix}start_sequence`, "must be at least 1 with START_POSITION_SEQUENCE");
      }
      return { kind: "sequence", sequence: r.startSequence };
    case StartPosition.START_POSITION_TIME:
      if (!r.startTime) throw new ValidationError(`${prefix}start_time`, "is required with START_POSITION_TIME");
      if (r.startTime.nanos < 0 || r.startTime.nanos > 999_999_999) {
        throw new ValidationError(`${prefix}start_time.nanos`, "must be from 0 to 999999999");
      }
      // The protobuf Timestamp range: 0001-01-01 to 9999-12-31; JavaScript dates cannot
      // hold more, and the start is after the Unix epoch in any stream.
      if (r.startTime.seconds < 0 || r.startTime.seconds > MAX_TIMESTAMP_SECONDS) {
        throw new ValidationError(`${prefix}start_time.seconds`, `must be from 0 (1970) to ${MAX_TIMESTAMP_SECONDS} (9999-12-31)`);
      }
      return { kind: "time", timeMs: instantToMillis(r.startTime) };
    default:
      throw new ValidationError(`${prefix}start`, `unknown StartPosition ${String(r.start)}`);
  }
}
