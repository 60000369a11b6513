#!/usr/bin/env bash
# The web server with real peers on loopback: `netwatch replay --serve` of the demo capture,
# `promtool check metrics` on /metrics, Debian's Prometheus scraping it (bearer token) and
# answering a PromQL query with the packet counter, and a bounded wrk run (5 s) against the
# API while it replays: the server answers, refuses what it must, and stays small.
#
# usage: tests/e2e/web.sh        (needs promtool, prometheus, wrk, curl: .ci/run installs them)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NW=${NETWATCH_BIN:-$ROOT/target/release/netwatch}   # NETWATCH_BIN: another build (coverage)
WORK=$(mktemp -d /tmp/netwatch-web.XXXXXX)
PORT=${NETWATCH_WEB_PORT:-18787}
PPORT=${NETWATCH_PROM_PORT:-19090}
TOKEN=web-e2e-token-0123456789abcdef
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do stop_pid "$p" TERM 10 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
E2E=web-e2e
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

[ -x "$NW" ] || (cd "$ROOT" && cargo build --release --quiet --bin netwatch)
(cd "$ROOT" && cargo run --release --quiet --example demo-capture -- "$WORK/demo.pcap" >/dev/null 2>&1)

cat > "$WORK/netwatch.toml" <<CONF
[web]
listen = ["127.0.0.1:$PORT"]
token = "$TOKEN"
[store]
path = "$WORK/state/netwatch.db"
[syslog]
target = "off"
[eve]
stdout = false
CONF
# The demo capture spans about two minutes: at 20x it replays in a few seconds.
"$NW" replay "$WORK/demo.pcap" -c "$WORK/netwatch.toml" --serve --speed 20 --db "$WORK/replay.db" \
  >"$WORK/replay.out" 2>"$WORK/replay.err" & NP=$!
PIDS+=("$NP")
api() { curl -s -m 5 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$1"; }
check "server answers /healthz" wait_for 10 bash -c "curl -sf -m 2 http://127.0.0.1:$PORT/healthz >/dev/null"
if ! kill -0 "$NP" 2>/dev/null; then
  # Another server answered: ours could not bind (set NETWATCH_WEB_PORT to another port).
  say "FAIL netwatch replay --serve exited:"; cat "$WORK/replay.err"; exit 1
fi

# A bounded load while the replay runs: wrk for 5 s, 2 threads, 16 connections.
wrk -t2 -c16 -d5s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/stats" >"$WORK/wrk.txt" 2>&1 || true
RPS=$(awk '/Requests\/sec/{print $2}' "$WORK/wrk.txt")
NON2XX=$(awk '/Non-2xx/{print $NF}' "$WORK/wrk.txt")
RSS=$(awk '/^VmHWM/{print $2}' "/proc/$NP/status")
say "figures: wrk /api/stats for 5 s (2 threads, 16 connections): ${RPS:-?} requests/s, non-2xx ${NON2XX:-0}; peak RSS of the replaying server $((RSS / 1024)) MiB"
check "wrk: requests served, none refused" bash -c "[ -n '$RPS' ] && [ -z '$NON2XX' ]"
wrk -t1 -c8 -d2s "http://127.0.0.1:$PORT/api/alerts" >"$WORK/wrk401.txt" 2>&1 || true
check "wrk without the token: every reply refused (401)" grep -q 'Non-2xx or 3xx responses' "$WORK/wrk401.txt"
check "server up after the load, memory bounded (peak RSS < 32 MiB)" bash -c "kill -0 $NP && [ $RSS -lt 32768 ] && curl -sf -m 2 http://127.0.0.1:$PORT/healthz >/dev/null"

check "replay finished" wait_for 30 grep -q "replay finished" "$WORK/replay.err"
PACKETS=$(api /api/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["packets"])')
check "stats: every packet of the capture seen ($PACKETS)" bash -c "[ '$PACKETS' -gt 8000 ]"
check "alerts: one of each attack in the demo capture" bash -c "
  for r in portscan.vertical portscan.horizontal synflood bruteforce dns.tunnel c2.beacon; do
    curl -s -m 5 -H 'Authorization: Bearer $TOKEN' 'http://127.0.0.1:$PORT/api/alerts?rule='\$r | grep -q '\"rule\":\"'\$r'\"' || exit 1
  done"

# Prometheus: the exposition format is valid, and a real server scrapes it.
api /metrics > "$WORK/metrics.txt"
check "promtool check metrics passes" bash -c "promtool check metrics < '$WORK/metrics.txt' >'$WORK/promtool.txt' 2>&1 || { cat '$WORK/promtool.txt'; false; }"
printf '%s' "$TOKEN" > "$WORK/token"
cat > "$WORK/prometheus.yml" <<CONF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: netwatch
    authorization:
      credentials_file: $WORK/token
    static_configs:
      - targets: ["127.0.0.1:$PORT"]
CONF
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PPORT" >"$WORK/prometheus.log" 2>&1 & PP=$!
PIDS+=("$PP")
promql() {
  curl -s -m 5 "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" \
    | python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)["data"]["result"]
except Exception:
    r = []  # Prometheus still starting
print(r[0]["value"][1] if r else "")'
}
check "Prometheus scrapes /metrics: netwatch_packets_total through PromQL = $PACKETS" \
  wait_for 30 bash -c "$(declare -f promql); PPORT=$PPORT; [ \"\$(promql netwatch_packets_total)\" = '$PACKETS' ]"
check "Prometheus: per-rule alert counters with labels" \
  bash -c "$(declare -f promql); PPORT=$PPORT; [ \"\$(promql 'netwatch_alerts_total{rule=\"synflood\"}')\" -ge 1 ]"

stop_pid "$NP" || true
check "SIGTERM ends the serving replay" bash -c "! kill -0 $NP 2>/dev/null"
[ "$fail" = 0 ] && say "all passed" || { say "FAILED"; tail -20 "$WORK/replay.err"; tail -5 "$WORK/prometheus.log"; exit 1; }
