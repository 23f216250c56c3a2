import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * Every Prometheus metric the gateway exports, in one registry per gateway (so two
 * gateways in one process, as in tests, never share counters). Names start
 * `engage_gateway_`; docs/operations.md lists them.
 */
export interface Metrics {
  registry: Registry;
  webhookRequests: Counter<"status" | "tenant" | "event_type">;
  webhookDuration: Histogram<"status">;
  pubAckDuration: Histogram<"stream">;
  duplicates: Counter<"tenant">;
  deadLetters: Counter<"kind">;
  openStreams: Gauge<"rpc">;
  groupDeliveries: Counter<"group">;
  groupRedeliveries: Counter<"group">;
  groupAcks: Counter<"group">;
  groupNaks: Counter<"group">;
  groupRedeliveredSettled: Counter<"group">;
  groupLostDeliveries: Counter<"group">;
  groupPending: Gauge<"group">;
  groupParkedChats: Gauge<"group">;
  groupParkedEvents: Counter<"group">;
  embeddedNatsRestarts: Counter;
  authFailures: Counter<"door">;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "engage_gateway_" });
  const r = [registry];
  return {
    registry,
    webhookRequests: new Counter({
      name: "engage_gateway_webhook_requests_total",
      help: "Webhook requests by HTTP status, tenant and event type (known types, else 'other').",
      labelNames: ["status", "tenant", "event_type"],
      registers: r,
    }),
    webhookDuration: new Histogram({
      name: "engage_gateway_webhook_duration_seconds",
      help: "Webhook latency, from request to response.",
      labelNames: ["status"],
      buckets: LATENCY_BUCKETS,
      registers: r,
    }),
    pubAckDuration: new Histogram({
      name: "engage_gateway_puback_duration_seconds",
      help: "Time from JetStream publish to PubAck.",
      labelNames: ["stream"],
      buckets: LATENCY_BUCKETS,
      registers: r,
    }),
    duplicates: new Counter({
      name: "engage_gateway_duplicates_total",
      help: "Events JetStream recognised as duplicates (Engage retries of stored events).",
      labelNames: ["tenant"],
      registers: r,
    }),
    deadLetters: new Counter({
      name: "engage_gateway_dead_letters_total",
      help: "Writes to ENGAGE_DLQ: 'invalid' webhook bodies and 'group' events past max deliveries or termed.",
      labelNames: ["kind"],
      registers: r,
    }),
    openStreams: new Gauge({
      name: "engage_gateway_open_streams",
      help: "Open gRPC streams by RPC (subscribe, consume).",
      labelNames: ["rpc"],
      registers: r,
    }),
    groupDeliveries: new Counter({
      name: "engage_gateway_group_deliveries_total",
      help: "Deliveries to consumer-group members, redeliveries included.",
      labelNames: ["group"],
      registers: r,
    }),
    groupRedeliveries: new Counter({
      name: "engage_gateway_group_redeliveries_total",
      help: "Deliveries that were a second or later attempt.",
      labelNames: ["group"],
      registers: r,
    }),
    groupAcks: new Counter({
      name: "engage_gateway_group_acks_total",
      help: "Acks from consumer-group members.",
      labelNames: ["group"],
      registers: r,
    }),
    groupNaks: new Counter({
      name: "engage_gateway_group_naks_total",
      help: "Naks from consumer-group members.",
      labelNames: ["group"],
      registers: r,
    }),
    groupRedeliveredSettled: new Counter({
      name: "engage_gateway_group_redelivered_settled_total",
      help: "Redeliveries by JetStream of events the group had already settled (an ack the server lost), settled again without reaching a member.",
      labelNames: ["group"],
      registers: r,
    }),
    groupLostDeliveries: new Counter({
      name: "engage_gateway_group_lost_deliveries_total",
      help: "Events JetStream sent to a pull whose answer never reached the gateway (a killed node, an earlier owner's pull); their chats waited for them to come back.",
      labelNames: ["group"],
      registers: r,
    }),
    groupPending: new Gauge({
      name: "engage_gateway_group_pending",
      help: "Events of a group not yet acked (stored but undelivered, plus delivered but unacked), over its partitions.",
      labelNames: ["group"],
      registers: r,
    }),
    groupParkedChats: new Gauge({
      name: "engage_gateway_group_parked_chats",
      help: "Chats of a group parked by this gateway (stuck or hot, their events moved to CG_PARKED out of their partition's way).",
      labelNames: ["group"],
      registers: r,
    }),
    groupParkedEvents: new Counter({
      name: "engage_gateway_group_parked_events_total",
      help: "Events of a group copied to CG_PARKED because their chat was parked.",
      labelNames: ["group"],
      registers: r,
    }),
    embeddedNatsRestarts: new Counter({
      name: "engage_gateway_embedded_nats_restarts_total",
      help: "Restarts of the embedded nats-server after it died.",
      registers: r,
    }),
    authFailures: new Counter({
      name: "engage_gateway_auth_failures_total",
      help: "Refused credentials by door (webhook).",
      labelNames: ["door"],
      registers: r,
    }),
  };
}

const KNOWN = new Set(["chat.assigned", "message.received", "chat.closed"]);

/** A bounded label for a raw event type: untrusted input must not mint new series. */
export function eventTypeLabel(raw: string | undefined): string {
  if (raw === undefined || raw === "") return "";
  const t = raw.toLowerCase();
  return KNOWN.has(t) ? t : "other";
}
