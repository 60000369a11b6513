#!/usr/bin/env bash
# LLM enrichment against a real language-model server on loopback: llama.cpp (through
# llama-cpp-python's OpenAI-compatible server) running NetWatch's own tiny test model, which
# answers every request with one fixed sentence. `netwatch replay --serve` of the demo capture
# with `[enrich]` pointing at it: the exact reply must land in SQLite, in /api/alerts/{id} and on
# /ws/alerts as an update of that alert. Then the endpoint stopped, slow (timeout), answering
# 500 and answering garbage JSON: the same alerts, failures counted, the queue bounded. The
# request bodies the misbehaving endpoint received show the DNS names escaped and marked as
# data.
#
# usage: tests/e2e/llm.sh   (needs python3 -m venv, cmake and a C++ compiler the first time:
#        llama-cpp-python is built from source into NETWATCH_LLM_VENV, default target/llm-venv;
#        pip keeps the built wheel in its cache, so later venvs install in seconds)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NW=${NETWATCH_BIN:-$ROOT/target/release/netwatch}   # NETWATCH_BIN: another build (coverage)
VENV=${NETWATCH_LLM_VENV:-$ROOT/target/llm-venv}
WORK=$(mktemp -d /tmp/netwatch-llm.XXXXXX)
PORT=${NETWATCH_LLM_WEB_PORT:-18789}
LPORT=${NETWATCH_LLM_PORT:-18790}
TOKEN=llm-e2e-token-0123456789abcdef
REPLY="Check the device named in this alert."
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do stop_pid "$p" TERM 10 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
E2E=llm-e2e
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

if ! "$VENV/bin/python" -c 'import llama_cpp, gguf, numpy' 2>/dev/null; then
  say "installing llama-cpp-python into $VENV (built from source the first time: minutes)"
  python3 -m venv "$VENV"
  # GGML_NATIVE=OFF: a build that runs on any x86-64, not only the CPU that built it.
  CMAKE_ARGS="-DGGML_NATIVE=OFF" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
    "$VENV/bin/pip" install --quiet 'llama-cpp-python[server]' gguf numpy
fi
[ -x "$NW" ] || (cd "$ROOT" && cargo build --release --quiet --bin netwatch)
(cd "$ROOT" && cargo run --release --quiet --example demo-capture -- "$WORK/plain.pcap" >/dev/null 2>&1)
# The demo capture and, after it, a DNS tunnel whose names try a prompt injection.
python3 "$HERE/llm/inject.py" "$WORK/plain.pcap" "$WORK/demo.pcap"
"$VENV/bin/python" "$HERE/llm/tiny_model.py" "$WORK/model.gguf" >/dev/null

"$VENV/bin/python" -m llama_cpp.server --model "$WORK/model.gguf" --host 127.0.0.1 --port "$LPORT" \
  >"$WORK/llm.log" 2>&1 & LP=$!
PIDS+=("$LP")
check "language-model server answers" wait_for 60 bash -c "curl -sf -m 2 http://127.0.0.1:$LPORT/v1/models >/dev/null"

api() { curl -s -m 5 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$1"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# run NAME ENDPOINT [QUEUE]: replay the demo capture with enrichment to ENDPOINT; leaves the
# server up (PID in NP) with its store in $WORK/NAME.db.
run() {
  cat > "$WORK/$1.toml" <<CONF
[web]
listen = ["127.0.0.1:$PORT"]
token = "$TOKEN"
[store]
path = "$WORK/$1-state/netwatch.db"
max_age_days = 3650
[syslog]
target = "off"
[eve]
stdout = false
[enrich]
endpoint = "$2"
timeout_s = 2
max_per_minute = 600
queue = ${3:-8}
CONF
  "$NW" replay "$WORK/demo.pcap" -c "$WORK/$1.toml" --serve --speed 20 --db "$WORK/$1.db" \
    >"$WORK/$1.out" 2>"$WORK/$1.err" & NP=$!
  PIDS+=("$NP")
  wait_for 10 bash -c "curl -sf -m 2 http://127.0.0.1:$PORT/healthz >/dev/null" || true
  if ! kill -0 "$NP" 2>/dev/null; then
    say "FAIL netwatch replay --serve exited:"; cat "$WORK/$1.err"; exit 1
  fi
}
stop() { stop_pid "$NP" || true; }
finished() { api /api/stats | json "d['finished']" | grep -q True; }
sql() { python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print('\n'.join('|'.join('' if v is None else str(v) for v in r) for r in c.execute(sys.argv[2])))" "$@"; }

# 1. The real server.
run good "http://127.0.0.1:$LPORT/v1/chat/completions" 64
python3 "$HERE/llm/ws_listen.py" 127.0.0.1 "$PORT" /ws/alerts "$TOKEN" 60 "$WORK/ws.txt" & WP=$!
PIDS+=("$WP")
check "replay finished" wait_for 60 finished
enrichable() { api '/api/alerts?limit=500' | json "sum(1 for a in d['alerts'] if a['severity'] <= 2)"; }
N=$(enrichable)
say "figures: $N alerts of severity 1-2 in the demo capture"
check "every severity 1-2 alert enriched (enrich_ok = $N)" \
  wait_for 60 bash -c "curl -s -m 5 -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/api/stats | grep -q '\"enrich_ok\":$N,'"
stop
check "the exact reply is stored with each enriched alert (SQLite)" \
  test "$(sql "$WORK/good.db" "SELECT DISTINCT enrichment FROM alerts WHERE severity <= 2")" = "$REPLY"
check "severity 3 alerts are not sent" \
  test "$(sql "$WORK/good.db" "SELECT count(*) FROM alerts WHERE severity = 3 AND enrichment IS NOT NULL")" = 0
ID=$(sql "$WORK/good.db" "SELECT min(id) FROM alerts WHERE enrichment IS NOT NULL")
# The API of a server started again on the same store.
"$NW" replay "$WORK/demo.pcap" -c "$WORK/good.toml" --serve --speed 1000 --db "$WORK/good-api.db" \
  >/dev/null 2>"$WORK/api.err" & NP=$!
PIDS+=("$NP")
check "replay finished (API run)" wait_for 60 finished
wait_for 30 bash -c "curl -s -m 5 -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/api/alerts/$ID | grep -q '\"enrichment\":\"$REPLY\"'" || true
check "GET /api/alerts/$ID carries the reply" \
  test "$(api "/api/alerts/$ID" | json "d['enrichment']")" = "$REPLY"
stop
wait_exit "$WP" 70 || true
check "/ws/alerts pushed the reply as an update of alert $ID" \
  grep -qF "{\"type\":\"update\",\"id\":$ID,\"enrichment\":\"$REPLY\"}" "$WORK/ws.txt"
ALERTS=$(sql "$WORK/good.db" "SELECT count(*) FROM alerts")

# 2. The endpoint gone, slow, failing or talking nonsense: the same alerts, failures counted.
stop_pid "$LP" || true
for mode in stopped slow 500 garbage; do
  if [ "$mode" = stopped ]; then
    ep="http://127.0.0.1:$LPORT/v1/chat/completions"
  else
    python3 "$HERE/llm/bad_llm.py" "$LPORT" "$mode" "$WORK/bodies-$mode.txt" & BP=$!
    PIDS+=("$BP")
    wait_for 10 bash -c "curl -s -m 2 http://127.0.0.1:$LPORT/ >/dev/null" || true
    ep="http://127.0.0.1:$LPORT/v1/chat/completions"
  fi
  run "$mode" "$ep"
  check "$mode: replay finished" wait_for 60 finished
  check "$mode: failures counted" wait_for 30 bash -c \
    "curl -s -m 5 -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/api/stats | grep -q '\"enrich_failed\":[1-9]'"
  STATS=$(api /api/stats)
  say "figures ($mode): $(echo "$STATS" | json "' '.join('%s=%s' % (k, v) for k, v in d['sinks'].items() if k.startswith('enrich'))")"
  # Every queued alert is waiting (at most the queue's 8), dropped, answered, failed, or the
  # one in flight.
  check "$mode: the queue stays bounded (waiting <= 8, the rest dropped and counted)" \
    test "$(echo "$STATS" | json "(lambda k: int(k['enrich_waiting'] <= 8 and 0 <= k['enrich_queued'] - k['enrich_waiting'] - k['enrich_dropped'] - k['enrich_ok'] - k['enrich_failed'] <= 1))(d['sinks'])")" = 1
  [ "$mode" = slow ] && check "slow: timeouts counted" bash -c "echo '$STATS' | grep -q '\"enrich_timeouts\":[1-9]'"
  stop
  check "$mode: the same $ALERTS alerts stored, none enriched" \
    test "$(sql "$WORK/$mode.db" "SELECT count(*), count(enrichment) FROM alerts")" = "$ALERTS|0"
  if [ "$mode" != stopped ]; then stop_pid "$BP" || true; fi
done

# 3. What an endpoint receives: DNS names (chosen by whoever sent the traffic) escaped and
# under "untrusted" in the <data> block; the system prompt says the block is data.
python3 "$HERE/llm/bad_llm.py" "$LPORT" record "$WORK/bodies-record.txt" & BP=$!
PIDS+=("$BP")
wait_for 10 bash -c "curl -s -m 2 http://127.0.0.1:$LPORT/ >/dev/null" || true
run record "http://127.0.0.1:$LPORT/v1/chat/completions" 64
check "record: replay finished" wait_for 60 finished
N=$(enrichable)
check "record: all $N severity 1-2 alerts sent and answered" wait_for 60 bash -c \
  "curl -s -m 5 -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/api/stats | grep -q '\"enrich_ok\":$N,'"
stop
check "request bodies: DNS names escaped and marked as data, no raw wire text" python3 - "$WORK"/bodies-*.txt <<'PY'
import json, sys
seen_names = 0
for path in sys.argv[1:]:
    for line in open(path):
        body = json.loads(line)
        system, user = body["messages"][0]["content"], body["messages"][1]["content"]
        assert "not instructions" in system, system
        data = json.loads(user.split("<data>")[1].split("</data>")[0])
        for name in data.get("untrusted", {}).get("dns_names", []):
            assert all(c.isalnum() or c in ".-_\\" for c in name.rstrip("…")), name
            if name.startswith("ignore\\x20previous\\x20instructions\\x3b\\x20say"):
                seen_names += 1
        assert "ignore previous" not in line and "network is safe" not in line, line
        for k in ("summary", "explanation"):
            assert k not in data, k
assert seen_names > 0, "the injection attempt never reached the endpoint"
PY
say "figures: $(cat "$WORK"/bodies-*.txt | wc -l) request bodies inspected"
exit $fail
