#!/usr/bin/env bash
# Memory soak of the live daemon: `netwatch run` (router profile) in a victim namespace for
# MINUTES under a steady mix from an attacker namespace:
#   * tcpreplay of the demo capture (every attack) in a loop at 2,000 packets/s,
#   * a spoofed-source SYN flood (hping3 --rand-source, 1,000 packets/s: a new source each
#     packet, so the flow and detector tables stay full and evict),
#   * a port scan from a new address every 2 s (a steady stream of alerts to store, so the
#     store rotates: max_kib 256 over 4 files here);
# RSS sampled every 10 s from /proc. Passes when, after the first minute, RSS grows by at most
# 1 MiB, the daemon never stopped, the store rotated and stays under its cap, and the file
# passes PRAGMA integrity_check. Prints the samples' summary.
#
# usage: tests/e2e/soak.sh [MINUTES]   (root; default 30; CI runs 2)
# Traffic stays inside the namespaces it creates (10.82.0.0/16).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NW=${NETWATCH_BIN:-$ROOT/target/release/netwatch}   # NETWATCH_BIN: another build (coverage)
MINUTES=${1:-30}
WORK=$(mktemp -d /tmp/netwatch-soak.XXXXXX)
chmod 755 "$WORK"
A=nws-atk V=nws-vic
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do stop_pid "$p" TERM 5 >/dev/null || true; done
  ip netns pids $V 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns pids $A 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del $A 2>/dev/null || true
  ip netns del $V 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
export E2E=soak
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

[ -x "$NW" ] || (cd "$ROOT" && cargo build --release --quiet --bin netwatch)
(cd "$ROOT" && cargo run --release --quiet --example demo-capture -- "$WORK/demo.pcap" >/dev/null 2>&1)

ip netns del $A 2>/dev/null || true; ip netns del $V 2>/dev/null || true
ip netns add $A; ip netns add $V
for n in $A $V; do ip -n "$n" link set lo up; done
ip link add nws-a type veth peer name nws-v
ip link set nws-a netns $A; ip link set nws-v netns $V
ip -n $A addr add 10.82.0.1/16 dev nws-a
ip -n $V addr add 10.82.0.2/16 dev nws-v
ip -n $A link set nws-a up; ip -n $V link set nws-v up
# Scanners: 10.82.1.1 .. 10.82.1.200.
for i in $(seq 1 200); do ip -n $A addr add "10.82.1.$i/16" dev nws-a; done

mkdir -p "$WORK/state"; chown nobody:nogroup "$WORK/state"
DB=$WORK/state/netwatch.db
cat > "$WORK/soak.toml" <<CONF
profile = "router"
[capture]
interfaces = ["nws-v"]
[store]
path = "$DB"
max_kib = 256
keep = 4
[syslog]
target = "off"
[eve]
stdout = false
[web]
listen = []
CONF
ip netns exec $V "$NW" run -c "$WORK/soak.toml" -v >/dev/null 2>"$WORK/soak.err" & NP=$!
PIDS+=("$NP")
wait_for 10 grep -q "capturing on nws-v" "$WORK/soak.err" || true

ip netns exec $A tcpreplay -q -i nws-a --loop=0 --pps=2000 "$WORK/demo.pcap" >/dev/null 2>&1 & PIDS+=($!)
ip netns exec $A hping3 -q -S -p 80 --rand-source -i u1000 10.82.0.2 >/dev/null 2>&1 & PIDS+=($!)
# shellcheck disable=SC2016 # expanded by the inner shell
ip netns exec $A bash -c 'i=0; while true; do i=$((i % 200 + 1));
  nmap -n -Pn -sS -T5 --max-retries 0 -p 1-40 -S 10.82.1.$i -e nws-a 10.82.0.2 >/dev/null 2>&1; sleep 2; done' &
PIDS+=($!)

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$NP/status" 2>/dev/null || echo 0; }
: > "$WORK/rss"
END=$(( $(date +%s) + MINUTES * 60 ))
while [ "$(date +%s)" -lt "$END" ] && kill -0 "$NP" 2>/dev/null; do
  echo "$(( $(date +%s) - END + MINUTES * 60 )) $(rss_kib)" >> "$WORK/rss"
  sleep 10
done
ALIVE=yes; kill -0 "$NP" 2>/dev/null || ALIVE=no
read -r BASE MAXAFTER LAST N <<<"$(awk '$1 >= 60 && !b {b = $2} $1 >= 60 {if ($2 > m) m = $2; l = $2; n++} END {print b + 0, m + 0, l + 0, n + 0}' "$WORK/rss")"
GROWTH=$(( MAXAFTER - BASE ))
FILES=$(find "$WORK/state" -maxdepth 1 -name 'netwatch.db*' -printf '%s\n' | awk '{s += $1} END {print int(s / 1024)}')
rc=0; stop_pid "$NP" TERM 20 || rc=$?
ROT=$(tail -1 "$WORK/soak.err" | python3 -c "import json,sys; print(json.load(sys.stdin)['store']['rotations'])" 2>/dev/null || echo 0)
ALERTS=$(tail -1 "$WORK/soak.err" | python3 -c "import json,sys; print(json.load(sys.stdin)['store']['alerts_written'])" 2>/dev/null || echo 0)
PKTS=$(tail -1 "$WORK/soak.err" | python3 -c "import json,sys; print(json.load(sys.stdin)['counters']['packets'])" 2>/dev/null || echo 0)
say "figures: $MINUTES min, $PKTS packets, $ALERTS alerts stored, $ROT rotations; RSS at 1 min $BASE KiB, highest after $MAXAFTER KiB, last $LAST KiB ($N samples): growth $GROWTH KiB; store files $FILES KiB (cap 256)"
check "the daemon ran the whole soak and stopped cleanly" bash -c "[ $ALIVE = yes ] && [ $rc = 0 ]"
check "RSS grows by at most 1 MiB after the first minute ($GROWTH KiB)" bash -c "[ $N -ge 1 ] && [ $GROWTH -le 1024 ]"
check "the store rotated ($ROT) and stays under its cap ($FILES KiB of 256, WAL included)" bash -c "[ $ROT -ge 1 ] && [ $FILES -le 320 ]"
check "the store passes integrity_check" bash -c "[ \"\$(python3 -c \"import sqlite3; print(sqlite3.connect('file:$DB?mode=ro', uri=True).execute('PRAGMA integrity_check').fetchone()[0])\")\" = ok ]"
if [ "$fail" = 0 ]; then say "all passed"; else say "FAILED"; tail -5 "$WORK/soak.err"; exit 1; fi
