#!/usr/bin/python3
"""A generic gRPC client driven by server reflection (v1 or v1alpha), as grpcurl or
Postman would be: it knows no gateway code, only the reflection protocol.

Usage: reflection_client.py ADDRESS v1|v1alpha SERVICE [COUNT]

1. Lists the services and asks for the file that defines SERVICE, then for every
   dependency by file name, and adds them all to a fresh protobuf DescriptorPool (which
   rejects incomplete or inconsistent descriptors).
2. With COUNT > 0, calls SERVICE's Subscribe from START_POSITION_ALL with messages built
   from that pool alone, and reads COUNT events; then calls it once more without an API
   key, to show what the gateway answers.

Reflection is called without an API key. Subscribe sends `authorization: Bearer
$GATEWAY_API_KEY` when it is set. TLS as for the example bots: GATEWAY_CLIENT_TLS_CA, and
GATEWAY_CLIENT_TLS_CERT + GATEWAY_CLIENT_TLS_KEY for mTLS.
Prints one JSON object. Needs the stubs `make clients` writes to build/clients/python-reflection.
"""
import importlib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "build" / "clients" / "python-reflection"))

import grpc  # noqa: E402
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory  # noqa: E402

address, version, service_name = sys.argv[1:4]
count = int(sys.argv[4]) if len(sys.argv) > 4 else 0
pb2 = importlib.import_module(f"reflection_{version}_pb2")
pb2_grpc = importlib.import_module(f"reflection_{version}_pb2_grpc")
Req = pb2.ServerReflectionRequest


def read(path):
    with open(path, "rb") as f:
        return f.read()


def open_channel():
    ca = os.environ.get("GATEWAY_CLIENT_TLS_CA")
    if not ca:
        return grpc.insecure_channel(address)
    cert, key = os.environ.get("GATEWAY_CLIENT_TLS_CERT"), os.environ.get("GATEWAY_CLIENT_TLS_KEY")
    creds = grpc.ssl_channel_credentials(read(ca), read(key) if key else None, read(cert) if cert else None)
    return grpc.secure_channel(address, creds)


def ask(stub, request):
    [answer] = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    if answer.HasField("error_response"):
        raise SystemExit(f"reflection error: {answer.error_response.error_message}")
    return answer


out = {}
with open_channel() as channel:
    stub = pb2_grpc.ServerReflectionStub(channel)
    out["services"] = [s.name for s in ask(stub, Req(list_services="")).list_services_response.service]

    # Every file by name, fetched until no dependency is missing.
    files = {}
    pending = [Req(file_containing_symbol=service_name)]
    while pending:
        for raw in ask(stub, pending.pop()).file_descriptor_response.file_descriptor_proto:
            fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
            files.setdefault(fd.name, fd)
        for fd in list(files.values()):
            pending += [Req(file_by_filename=d) for d in fd.dependency if d not in files]
    pool = descriptor_pool.DescriptorPool()
    added = set()

    def add(name):
        if name in added:
            return
        for dep in files[name].dependency:
            add(dep)
        pool.Add(files[name])  # raises TypeError on an unresolvable type or a bad name
        added.add(name)

    for name in sorted(files):
        add(name)
    service = pool.FindServiceByName(service_name)
    out["files"] = {name: list(fd.dependency) for name, fd in files.items()}
    out["packages"] = sorted({fd.package for fd in files.values()})
    out["methods"] = [m.name for m in service.methods]

    subscribe = service.methods_by_name["Subscribe"]
    factory = message_factory.MessageFactory(pool)
    request_cls = factory.GetPrototype(subscribe.input_type)
    response_cls = factory.GetPrototype(subscribe.output_type)
    out["request_fields"] = [f.name for f in subscribe.input_type.fields]
    if count > 0:
        start = subscribe.input_type.fields_by_name["start"].enum_type.values_by_name["START_POSITION_ALL"].number
        call = channel.unary_stream(
            f"/{service_name}/Subscribe",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_cls.FromString,
        )
        key = os.environ.get("GATEWAY_API_KEY")
        metadata = [("authorization", f"Bearer {key}")] if key else None
        events = []
        stream = call(request_cls(start=start), metadata=metadata, timeout=20)
        for res in stream:
            events.append(json_format.MessageToDict(res, preserving_proto_field_name=True))
            if len(events) >= count:
                stream.cancel()
                break
        out["events"] = events
        try:
            next(iter(call(request_cls(start=start), timeout=10)))
            out["without_key"] = "OK"
        except grpc.RpcError as err:
            out["without_key"] = f"{err.code().name}: {err.details()}"

    # The health service, described by reflection too, called without a key.
    [raw] = ask(stub, Req(file_containing_symbol="grpc.health.v1.Health")).file_descriptor_response.file_descriptor_proto
    health_file = descriptor_pb2.FileDescriptorProto.FromString(raw)
    files[health_file.name] = health_file
    add(health_file.name)
    check = pool.FindServiceByName("grpc.health.v1.Health").methods_by_name["Check"]
    health_response = factory.GetPrototype(check.output_type)
    answer = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=health_response.FromString,
    )(factory.GetPrototype(check.input_type)(service=service_name), timeout=10)
    out["health_without_key"] = check.output_type.fields_by_name["status"].enum_type.values_by_number[answer.status].name
print(json.dumps(out))
