export { createMetrics, eventTypeLabel, type Metrics } from "./metrics";
