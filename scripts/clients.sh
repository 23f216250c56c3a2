#!/usr/bin/env bash
# Generates client code from proto/ into build/clients/<lang>: python (grpcio), go
# (grpc-go, GOPATH layout) and node (ts-proto for grpc-js). Installs the code generators
# it needs from apt, only when missing, so a second run only regenerates (seconds).
# Usage: scripts/clients.sh [python] [go] [node]   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build/clients
LANGS=("$@")
[ ${#LANGS[@]} -gt 0 ] || LANGS=(python go node)
PROTOS=$(cd proto && find . -name '*.proto' | sed 's|^\./||' | sort)
# Well-known types (google/protobuf/*.proto) ship with the npm protoc package.
WKT=$ROOT/node_modules/protoc/include
[ -d "$WKT" ] || WKT=/usr/include

# apt packages per language. NOT golang-goprotobuf-dev: it pulls protobuf 1.3 and the
# Go client then panics in Recv.
PY_PKGS=(python3-grpcio python3-grpc-tools python3-protobuf protobuf-compiler)
GO_PKGS=(golang-go golang-google-grpc-dev golang-github-golang-protobuf-1-5-dev golang-google-protobuf-dev protoc-gen-go protoc-gen-go-grpc protobuf-compiler)

missing=()
want() { for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done; }
for l in "${LANGS[@]}"; do
  case $l in
    python) want "${PY_PKGS[@]}" ;;
    go) want "${GO_PKGS[@]}" ;;
    node) ;;
    *) echo "clients: unknown language '$l' (python, go, node)" >&2; exit 2 ;;
  esac
done
if [ ${#missing[@]} -gt 0 ]; then
  # Dedupe, then install in one apt run.
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "clients: installing with apt: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -x node_modules/.bin/protoc-gen-ts_proto ]; then bash scripts/setup.sh; fi

gen_python() {
  local d=$OUT/python
  rm -rf "$d" && mkdir -p "$d"
  # Messages with Debian's protoc (matches python3-protobuf), stubs with grpc_tools.
  /usr/bin/protoc -I proto -I "$WKT" --python_out="$d" $PROTOS
  /usr/bin/python3 -m grpc_tools.protoc -I proto -I "$WKT" --grpc_python_out="$d" $PROTOS
  # Server reflection stubs (v1 and v1alpha), for tools and the reflection test. The
  # files are renamed so the modules do not shadow the `grpc` package.
  local r=$OUT/python-reflection tmp
  rm -rf "$r" && mkdir -p "$r"
  tmp=$(mktemp -d)
  for v in v1 v1alpha; do
    cp node_modules/@grpc/reflection/build/proto/grpc/reflection/$v/reflection.proto "$tmp/reflection_$v.proto"
  done
  /usr/bin/protoc -I "$tmp" --python_out="$r" "$tmp"/reflection_v1.proto "$tmp"/reflection_v1alpha.proto
  /usr/bin/python3 -m grpc_tools.protoc -I "$tmp" --grpc_python_out="$r" "$tmp"/reflection_v1.proto "$tmp"/reflection_v1alpha.proto
  rm -rf "$tmp"
  echo "clients: python -> $d ($(find "$d" -name '*.py' | wc -l) files)"
}

gen_go() {
  # GOPATH layout: the go_package import paths (engagegateway/gen/go/...) under src/.
  local d=$OUT/go
  rm -rf "$d" && mkdir -p "$d/src"
  /usr/bin/protoc -I proto -I "$WKT" \
    --go_out="$d/src" --go_opt=paths=import \
    --go-grpc_out="$d/src" --go-grpc_opt=paths=import \
    $PROTOS
  # Compile once, offline, so a broken toolchain shows here and not in a bot.
  GO111MODULE=off GOPROXY=off GOFLAGS= GOPATH="$d:/usr/share/gocode" GOCACHE="$OUT/.gocache" \
    go build engagegateway/gen/go/engage/gateway/v1
  echo "clients: go -> $d/src/engagegateway (GOPATH=$d:/usr/share/gocode, GO111MODULE=off)"
}

gen_node() {
  local d=$OUT/node
  rm -rf "$d" && mkdir -p "$d"
  ./node_modules/.bin/protoc \
    --plugin=protoc-gen-ts_proto=./node_modules/.bin/protoc-gen-ts_proto \
    --ts_proto_out="$d" \
    --ts_proto_opt="outputServices=grpc-js,esModuleInterop=true,env=node,useDate=false,oneof=unions,useExactTypes=false" \
    -I proto -I "$WKT" $PROTOS
  echo "clients: node -> $d ($(find "$d" -name '*.ts' | wc -l) files, ts-proto for @grpc/grpc-js)"
}

for l in "${LANGS[@]}"; do "gen_$l"; done
