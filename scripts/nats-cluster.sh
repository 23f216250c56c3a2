#!/usr/bin/env bash
# A three-node JetStream cluster on loopback for local work: start | stop | status | urls.
# Nodes n1..n3 listen for clients on 4222, 4223, 4224 (routes on 6222..6224, monitoring on
# 8222..8224); each keeps its store in data/cluster/<node>/ and logs to data/cluster/<node>.log.
# Override the directory with NATS_CLUSTER_DIR, the binary with NATS_SERVER_BIN, and the
# ports with NATS_CLUSTER_CLIENT_PORTS, NATS_CLUSTER_ROUTE_PORTS and NATS_CLUSTER_HTTP_PORTS
# (three comma-separated ports each).
set -euo pipefail

DIR="${NATS_CLUSTER_DIR:-./data/cluster}"
BIN="${NATS_SERVER_BIN:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
NODES=(n1 n2 n3)
IFS=, read -r -a CLIENT_PORTS <<<"${NATS_CLUSTER_CLIENT_PORTS:-4222,4223,4224}"
IFS=, read -r -a ROUTE_PORTS <<<"${NATS_CLUSTER_ROUTE_PORTS:-6222,6223,6224}"
IFS=, read -r -a HTTP_PORTS <<<"${NATS_CLUSTER_HTTP_PORTS:-8222,8223,8224}"
# A stored event holds the webhook body twice (raw and parsed), so the default 1 MiB
# GATEWAY_BODY_LIMIT needs more than nats-server's default max_payload of 1 MB: 4 MiB,
# as the gateway's embedded server (and deploy/nats.conf) use.
MAX_PAYLOAD=4194304

urls() {
  local out=()
  for p in "${CLIENT_PORTS[@]}"; do out+=("nats://127.0.0.1:$p"); done
  (IFS=,; echo "${out[*]}")
}

pid_of() { # prints the pid of a running node, or nothing
  local f="$DIR/$1.pid"
  [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f" || true
}

start() {
  [[ -x "$BIN" ]] || { echo "nats-server not found: run 'make setup' or set NATS_SERVER_BIN" >&2; exit 1; }
  mkdir -p "$DIR"
  local routes=""
  for p in "${ROUTE_PORTS[@]}"; do routes+="nats-route://127.0.0.1:$p, "; done
  for i in 0 1 2; do
    local n="${NODES[$i]}"
    if [[ -n "$(pid_of "$n")" ]]; then echo "$n already runs (pid $(pid_of "$n"))"; continue; fi
    mkdir -p "$DIR/$n"
    cat > "$DIR/$n.conf" <<CONF
server_name: $n
listen: 127.0.0.1:${CLIENT_PORTS[$i]}
max_payload: $MAX_PAYLOAD
http: 127.0.0.1:${HTTP_PORTS[$i]}
jetstream { store_dir: "$(cd "$DIR/$n" && pwd)" }
cluster {
  name: engage-local
  listen: 127.0.0.1:${ROUTE_PORTS[$i]}
  routes: [${routes%, }]
}
CONF
    nohup "$BIN" -c "$DIR/$n.conf" >"$DIR/$n.log" 2>&1 &
    echo $! > "$DIR/$n.pid"
    echo "$n started (pid $!, client port ${CLIENT_PORTS[$i]}, store $DIR/$n)"
  done
  # Wait until every node accepts clients and JetStream has a meta leader.
  for _ in $(seq 1 100); do
    local ok=0
    for p in "${HTTP_PORTS[@]}"; do
      if curl -fsS "http://127.0.0.1:$p/healthz?js-enabled-only=true" >/dev/null 2>&1; then ok=$((ok + 1)); fi
    done
    if [[ $ok -eq 3 ]] && curl -fsS "http://127.0.0.1:${HTTP_PORTS[0]}/jsz" 2>/dev/null | grep -q '"leader"'; then
      echo "cluster ready; GATEWAY_NATS_URL=$(urls)"
      return 0
    fi
    sleep 0.2
  done
  echo "the cluster did not become ready in 20 s; see $DIR/n*.log" >&2
  exit 1
}

stop() {
  for n in "${NODES[@]}"; do
    local pid; pid="$(pid_of "$n")"
    if [[ -n "$pid" ]]; then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      echo "$n stopped"
    fi
    rm -f "$DIR/$n.pid"
  done
}

status() {
  local running=0
  for i in 0 1 2; do
    local n="${NODES[$i]}" pid; pid="$(pid_of "${NODES[$i]}")"
    if [[ -n "$pid" ]]; then running=$((running + 1)); echo "$n running (pid $pid) nats://127.0.0.1:${CLIENT_PORTS[$i]}"; else echo "$n stopped"; fi
  done
  echo "GATEWAY_NATS_URL=$(urls)"
  [[ $running -eq 3 ]]
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  urls) urls ;;
  *) echo "usage: $0 start|stop|status|urls" >&2; exit 2 ;;
esac
