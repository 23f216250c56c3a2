export { createBus, type Bus, type BusOptions } from "./connection";
export { ensureStreams, EVENTS_STREAM, DLQ_STREAM, type StreamOptions } from "./streams";
export { createPublisher, HEADER, isTraceparent, type Publisher, type Stored } from "./publisher";
export { createIngest, type Ingest, type Origin, type Accepted } from "./ingest";
export { openEventTail, tailPullBytes, TAIL_BUFFER, type EventTail, type TailItem, type TailStart } from "./event-tail";
export * from "./groups";
export { collectStatus, type StreamStatus, type GroupStatus } from "./status";
export type { IngestHooks } from "./ingest";
export { redactUrl } from "./connection";
