#!/usr/bin/python3
"""Asks a gRPC server's reflection service (v1 or v1alpha) what it serves, from Python.

Usage: reflection_client.py ADDRESS v1|v1alpha SYMBOL
Prints one JSON object: the listed services; the files (and their packages) that
file_containing_symbol SYMBOL answers with; and the methods of SYMBOL's service.
Needs the stubs `make clients` writes to build/clients/python-reflection.
"""
import importlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "build" / "clients" / "python-reflection"))

import grpc  # noqa: E402
from google.protobuf import descriptor_pb2  # noqa: E402

address, version, symbol = sys.argv[1:4]
pb2 = importlib.import_module(f"reflection_{version}_pb2")
pb2_grpc = importlib.import_module(f"reflection_{version}_pb2_grpc")
Req = pb2.ServerReflectionRequest

with grpc.insecure_channel(address) as channel:
    stub = pb2_grpc.ServerReflectionStub(channel)
    answers = list(stub.ServerReflectionInfo(iter([Req(list_services=""), Req(file_containing_symbol=symbol)]), timeout=10))

services = [s.name for s in answers[0].list_services_response.service]
files, packages, methods = [], [], []
for raw in answers[1].file_descriptor_response.file_descriptor_proto:
    fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
    files.append(fd.name)
    packages.append(fd.package)
    for svc in fd.service:
        if f"{fd.package}.{svc.name}" == symbol:
            methods = [m.name for m in svc.method]
print(json.dumps({"services": services, "files": files, "packages": packages, "methods": methods}))
