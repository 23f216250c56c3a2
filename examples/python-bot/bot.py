#!/usr/bin/python3
"""Example engage-gateway bot in Python (grpcio).

Default: joins a consumer group with Consume, takes its deliveries in batches
(GATEWAY_MAX_BATCH_EVENTS, default 64), prints each event and settles each batch with
one `settle` message.
--tail: a Subscribe tail, from --from-sequence N or from everything retained, its
events in batches of the same size.
Generate the client first: `make clients` (writes build/clients/python).
Credentials come from the environment: GATEWAY_API_KEY (or GATEWAY_API_KEY_FILE), and
GATEWAY_CLIENT_TLS_CA / _CERT / _KEY or GATEWAY_CLIENT_TLS=true for TLS.
"""
import argparse
import json
import os
import queue
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "build" / "clients" / "python"))

import grpc  # noqa: E402
from engage.gateway.v1 import gateway_pb2 as gw  # noqa: E402
from engage.gateway.v1 import gateway_pb2_grpc as gw_grpc  # noqa: E402


def text_of(event):
    """The first message's text, or the title of the option chosen in an interactive reply."""
    payload = event.WhichOneof("payload")
    messages = getattr(event, payload).messages if payload in ("chat_assigned", "message_received") else []
    if not messages:
        return ""
    return messages[0].text or messages[0].interactive_response.title


def show(sequence, event):
    print(f"event seq={sequence} chat={event.chat_id} type={event.type_name} text={json.dumps(text_of(event))}", flush=True)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def open_channel(address):
    """TLS when a CA, a client certificate or GATEWAY_CLIENT_TLS=true is given; else plaintext."""
    ca, cert, key = (os.environ.get(f"GATEWAY_CLIENT_TLS_{n}") for n in ("CA", "CERT", "KEY"))
    if not (ca or cert or os.environ.get("GATEWAY_CLIENT_TLS") == "true"):
        return grpc.insecure_channel(address)
    if bool(cert) != bool(key):
        sys.exit("GATEWAY_CLIENT_TLS_CERT and GATEWAY_CLIENT_TLS_KEY go together")
    creds = grpc.ssl_channel_credentials(
        root_certificates=read(ca) if ca else None,
        private_key=read(key) if key else None,
        certificate_chain=read(cert) if cert else None,
    )
    return grpc.secure_channel(address, creds)


def call_metadata():
    """Every call carries the key as `authorization: Bearer <key>` metadata."""
    key = os.environ.get("GATEWAY_API_KEY")
    if not key and os.environ.get("GATEWAY_API_KEY_FILE"):
        key = read(os.environ["GATEWAY_API_KEY_FILE"]).decode().strip()
    return [("authorization", f"Bearer {key}")] if key else []


def max_batch_events():
    """How many events to ask for per response (ConsumeOpen / SubscribeRequest.max_batch_events)."""
    value = os.environ.get("GATEWAY_MAX_BATCH_EVENTS") or "64"
    if not value.isdigit() or not 0 < int(value) < 2**32:  # a uint32 in the proto
        sys.exit(f"GATEWAY_MAX_BATCH_EVENTS: expected a count from 1, got {value}")
    return int(value)


def consume(stub, group, batch):
    requests = queue.Queue()
    # `open` must come first. max_in_flight as large as a batch, so a whole batch can come at once.
    requests.put(gw.ConsumeRequest(open=gw.ConsumeOpen(group=group, max_batch_events=batch, max_in_flight=batch)))
    for res in stub.Consume(iter(requests.get, None), metadata=call_metadata()):
        kind = res.WhichOneof("response")
        if kind == "opened":
            print(f"opened group={res.opened.group} member={res.opened.member_id}", flush=True)
        elif kind == "delivery":
            # One at a time: batching is off, or the gateway predates it (and so has no `settle`).
            d = res.delivery
            show(d.sequence, d.event)
            requests.put(gw.ConsumeRequest(ack=gw.ConsumeAck(delivery_id=d.delivery_id)))
        elif kind == "batch":
            # In order: a chat's events come in the order they happened. Then one `settle` for all.
            for d in res.batch.deliveries:
                show(d.sequence, d.event)
            ack_ids = [d.delivery_id for d in res.batch.deliveries]
            requests.put(gw.ConsumeRequest(settle=gw.ConsumeSettle(ack_ids=ack_ids)))
            print(f"settle acks={len(ack_ids)}", flush=True)
        elif kind == "revoked":
            # We settle each batch before reading on, so no work is left to drop; a bot that
            # works in the background would abandon it here (a late ack of it is ignored).
            print(f"revoked {list(res.revoked.delivery_ids)}: {res.revoked.reason}", flush=True)


def tail(stub, from_sequence, batch):
    # Batches cut the per-response cost when many events come at once (a replay, a burst).
    req = gw.SubscribeRequest(max_batch_events=batch)
    if from_sequence:
        req.start, req.start_sequence = gw.START_POSITION_SEQUENCE, from_sequence
    else:
        req.start = gw.START_POSITION_ALL
    print(f"tailing from={from_sequence or 'all'}", flush=True)
    for res in stub.Subscribe(req, metadata=call_metadata()):
        # With batching on, every event comes in `batch`, in stream order. Without it (a
        # batch size of 1, or a gateway that predates batching) the response is the event.
        for r in res.batch.responses if res.HasField("batch") else [res]:
            show(r.sequence, r.event)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--address", default=os.environ.get("GATEWAY_ADDRESS", "localhost:50051"),
                   help="gateway gRPC address (env GATEWAY_ADDRESS; default localhost:50051)")
    p.add_argument("--group", default="example-bots", help="consumer group to join (default example-bots)")
    p.add_argument("--tail", action="store_true", help="Subscribe (no acks, no group) instead of Consume")
    p.add_argument("--from-sequence", type=int, default=0,
                   help="with --tail: first stream sequence; default every retained event, then new ones")
    args = p.parse_args()
    with open_channel(args.address) as channel:
        stub = gw_grpc.EventGatewayStub(channel)
        try:
            if args.tail:
                tail(stub, args.from_sequence, max_batch_events())
            else:
                consume(stub, args.group, max_batch_events())
        except grpc.RpcError as err:
            print(f"gateway: {err.code().name}: {err.details()}", file=sys.stderr)
            sys.exit(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
