#!/usr/bin/env bash
# Generates client code from proto/ into build/clients/<lang>: python (grpcio), go
# (grpc-go, GOPATH layout), node (ts-proto for grpc-js) and java (grpc-java, compiled to
# classes with the classpath written beside them). Installs the code generators it needs
# from apt, only when missing, so a second run only regenerates (seconds).
# Usage: scripts/clients.sh [python] [go] [node] [java]   (default: all four)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build/clients
LANGS=("$@")
[ ${#LANGS[@]} -gt 0 ] || LANGS=(python go node java)
PROTOS=$(cd proto && find . -name '*.proto' | sed 's|^\./||' | sort)
# Well-known types (google/protobuf/*.proto) ship with the npm protoc package.
WKT=$ROOT/node_modules/protoc/include
[ -d "$WKT" ] || WKT=/usr/include

# apt packages per language. NOT golang-goprotobuf-dev: it pulls protobuf 1.3 and the
# Go client then panics in Recv.
PY_PKGS=(python3-grpcio python3-grpc-tools python3-protobuf protobuf-compiler)
GO_PKGS=(golang-go golang-google-grpc-dev golang-github-golang-protobuf-1-5-dev golang-google-protobuf-dev protoc-gen-go protoc-gen-go-grpc protobuf-compiler)
# libgrpc-java pulls in neither netty nor perfmark, and Java 17 needs the geronimo
# annotation jar for the javax.annotation.Generated the plugin writes. Debian's netty
# leaves out the JDK's ALPN support, which gRPC over TLS needs, so TLS goes through
# OpenSSL with netty-tcnative.
JAVA_PKGS=(default-jdk-headless libgrpc-java protobuf-compiler-grpc-java-plugin libprotobuf-java libnetty-java
  libperfmark-java libgeronimo-annotation-1.3-spec-java libnetty-tcnative-java libnetty-tcnative-jni protobuf-compiler)
# The jars (in /usr/share/java) a grpc-java client needs at compile and run time, found by
# building and running examples/java-bot over mTLS: grpc-netty with its netty modules and
# tcnative, guava, perfmark, and protobuf 3.21 (Debian's protoc writes code for that version).
JAVA_JARS=(netty-tcnative.jar grpc-api.jar grpc-context.jar grpc-core.jar grpc-netty.jar grpc-protobuf.jar grpc-protobuf-lite.jar grpc-stub.jar protobuf.jar guava.jar perfmark-api.jar geronimo-annotation-1.3-spec.jar netty-buffer.jar netty-codec.jar netty-codec-http.jar netty-codec-http2.jar netty-codec-socks.jar netty-common.jar netty-handler.jar netty-handler-proxy.jar netty-resolver.jar netty-transport.jar)

missing=()
want() { for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done; }
for l in "${LANGS[@]}"; do
  case $l in
    python) want "${PY_PKGS[@]}" ;;
    go) want "${GO_PKGS[@]}" ;;
    node) ;;
    java) want "${JAVA_PKGS[@]}" ;;
    *) echo "clients: unknown language '$l' (python, go, node, java)" >&2; exit 2 ;;
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

gen_java() {
  local d=$OUT/java cp jar
  rm -rf "$d" && mkdir -p "$d/src" "$d/classes"
  # Debian's protoc (3.21), to match libprotobuf-java; the plugin's Debian name is grpc_java_plugin.
  /usr/bin/protoc -I proto -I "$WKT" \
    --java_out="$d/src" \
    --plugin=protoc-gen-grpc-java=/usr/bin/grpc_java_plugin --grpc-java_out="$d/src" \
    $PROTOS
  cp=""
  for jar in "${JAVA_JARS[@]}"; do
    [ -f "/usr/share/java/$jar" ] || { echo "clients: /usr/share/java/$jar is missing" >&2; exit 1; }
    cp+="/usr/share/java/$jar:"
  done
  cp=${cp%:}
  find "$d/src" -name '*.java' > "$d/sources.txt"
  javac -nowarn -encoding UTF-8 -cp "$cp" -d "$d/classes" @"$d/sources.txt"
  echo "$d/classes:$cp" > "$d/classpath"
  # netty looks for libnetty_tcnative.so and checks the name it was loaded under, which
  # Debian ships as libnetty-tcnative.so: a copy under netty's name (not a symlink) works.
  mkdir -p "$d/native"
  cp "$(dpkg -L libnetty-tcnative-jni | grep '/libnetty-tcnative.so$')" "$d/native/libnetty_tcnative.so"
  # An argument file for `java @build/clients/java/java.args Bot.java`: classpath and native path.
  printf -- '-cp "%s"\n"-Djava.library.path=%s"\n' "$d/classes:$cp" "$d/native" > "$d/java.args"
  echo "clients: java -> $d/classes ($(find "$d/classes" -name '*.class' | wc -l) classes; run with java @$d/java.args)"
}

for l in "${LANGS[@]}"; do "gen_$l"; done
