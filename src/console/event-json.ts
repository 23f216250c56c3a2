import { formatInstant, type Instant } from "../domain";
import { Event } from "../gen/engage/events/v1/events";

/**
 * An event as the console shows it: the protobuf JSON mapping, with the stored webhook
 * body as text (the "raw JSON" view) instead of base64.
 */
export function eventJson(event: Event): Record<string, unknown> {
  const json = Event.toJSON({ ...event, rawJson: Buffer.alloc(0) }) as Record<string, unknown>;
  delete json.rawJson;
  json.raw = new TextDecoder().decode(event.rawJson);
  return json;
}

/** One stored event, with where and when it was stored. */
export function storedJson(event: Event, sequence: number, publishedAt: Instant): Record<string, unknown> {
  return { sequence, publishedAt: formatInstant(publishedAt), event: eventJson(event) };
}
