#!/usr/bin/env bash
# Regenerates src/gen/ from proto/ with ts-proto. Every generator option lives here.
set -euo pipefail
cd "$(dirname "$0")/.."

OPTS="outputServices=grpc-js,esModuleInterop=true,env=node,useDate=false,oneof=unions,useExactTypes=false"
PROTOS=$(cd proto && find . -name '*.proto' | sed 's|^\./||' | sort)

rm -rf src/gen
mkdir -p src/gen
./node_modules/.bin/protoc \
  --plugin=protoc-gen-ts_proto=./node_modules/.bin/protoc-gen-ts_proto \
  --ts_proto_out=src/gen \
  --ts_proto_opt="$OPTS" \
  -I proto -I node_modules/protoc/include \
  $PROTOS
echo "generated: $(find src/gen -name '*.ts' | wc -l) files in src/gen"
