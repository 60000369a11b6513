#!/usr/bin/env bash
# Fault drills with real processes, on the live daemon in a victim namespace while tcpreplay
# replays the demo capture (every attack) from an attacker namespace:
#   1. `kill -9` of the loaded daemon N times in a row (default 50), each followed by a
#      restart and `PRAGMA integrity_check`; no committed alert is ever lost;
#   2. the capture interface set down and up every 2 s for a minute: no crash, capture
#      resumes, a scan after it is caught;
#   3. the state directory's file system turned read-only while running, as ext4 does on an
#      I/O error (errors=remount-ro; triggered through /sys/fs/ext4/*/trigger_fs_error):
#      detection and syslog go on, the store's failure is logged and reported
#      (sensor.health); after fsck and a fresh mount the store recovers with the alerts
#      raised meanwhile;
#   4. the syslog collector (rsyslogd over TCP) killed and restarted: alerts reach it again;
#   5. a language-model endpoint that accepts and never answers: alerts are stored at once,
#      the timeouts are counted;
#   6. the web server under `wrk` while a SYN flood is captured: every request answered,
#      the flood detected, packets counted.
#
# usage: tests/e2e/drills.sh [KILLS]   (root; ~5 minutes with 50 kills)
# Traffic stays inside the namespaces it creates (10.81.0.0/24).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NW=${NETWATCH_BIN:-$ROOT/target/release/netwatch}   # NETWATCH_BIN: another build (coverage)
KILLS=${1:-50}
WORK=$(mktemp -d /tmp/netwatch-drills.XXXXXX)
chmod 755 "$WORK"
A=nwf-atk V=nwf-vic
PIDS=()
STATE=$WORK/shared/state
cleanup() {
  for p in "${PIDS[@]}"; do stop_pid "$p" TERM 5 >/dev/null || true; done
  ip netns pids $V 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns pids $A 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del $A 2>/dev/null || true
  ip netns del $V 2>/dev/null || true
  umount -l "$STATE" 2>/dev/null || true
  umount -l "$WORK/shared" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
export E2E=drills
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

[ -x "$NW" ] || (cd "$ROOT" && cargo build --release --quiet --bin netwatch)
[ -f "$WORK/demo.pcap" ] || (cd "$ROOT" && cargo run --release --quiet --example demo-capture -- "$WORK/demo.pcap" >/dev/null 2>&1)

ip netns del $A 2>/dev/null || true; ip netns del $V 2>/dev/null || true
ip netns add $A; ip netns add $V
for n in $A $V; do ip -n "$n" link set lo up; done
ip link add nwf-a type veth peer name nwf-v
ip link set nwf-a netns $A; ip link set nwf-v netns $V
ip -n $A addr add 10.81.0.1/24 dev nwf-a; ip -n $A addr add 10.81.0.9/24 dev nwf-a
ip -n $V addr add 10.81.0.2/24 dev nwf-v
ip -n $A link set nwf-a up; ip -n $V link set nwf-v up

# The syslog collector (TCP), in the attacker namespace.
mkdir -p "$WORK/rs"
cat > "$WORK/rsyslog.conf" <<CONF
global(workDirectory="$WORK/rs")
module(load="imtcp")
input(type="imtcp" address="10.81.0.9" port="5515")
template(name="raw" type="string" string="%rawmsg%\n")
action(type="omfile" file="$WORK/rsyslog.out" template="raw")
CONF
start_rsyslog() {
  ip netns exec $A rsyslogd -n -f "$WORK/rsyslog.conf" -i "$WORK/rsyslog.pid" >"$WORK/rsyslogd.log" 2>&1 &
  RS=$!; PIDS+=("$RS")
  wait_for 10 ip netns exec $A bash -c "exec 3<>/dev/tcp/10.81.0.9/5515" 2>/dev/null || true
}
start_rsyslog

# A language-model endpoint that accepts connections and never answers.
ip netns exec $V python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', 18791)); s.listen(64)
held = []
while True:
    c, _ = s.accept(); held.append(c)
" & PIDS+=($!)

# The state directory: an ext4 file system of its own (a loop device), which turns read-only
# on an error as flash file systems do.
# It is mounted under a shared mount, so that unmounting it reaches the copies every
# `ip netns exec` makes of the mount table.
mkdir -p "$WORK/shared"; mount --bind "$WORK/shared" "$WORK/shared"; mount --make-shared "$WORK/shared"
STATE=$WORK/shared/state
truncate -s 32M "$WORK/state.img"; mkfs.ext4 -q -F "$WORK/state.img"
mount_state() {
  mkdir -p "$STATE"; mount -o loop,errors=remount-ro "$WORK/state.img" "$STATE"
  chown nobody:nogroup "$STATE"
}
mount_state
DB=$STATE/netwatch.db
cat > "$WORK/run.toml" <<CONF
[capture]
interfaces = ["nwf-v"]
[store]
path = "$DB"
[syslog]
target = "tcp:10.81.0.9:5515"
[eve]
stdout = false
[enrich]
endpoint = "http://127.0.0.1:18791/v1/chat/completions"
timeout_s = 2
min_severity = 3
[web]
listen = ["127.0.0.1:18792"]
CONF

start() { # start LOG: the daemon, pid in NP once it captures
  ip netns exec $V "$NW" run -c "$WORK/run.toml" -v >/dev/null 2>"$WORK/$1.err" & NP=$!
  PIDS+=("$NP")
  wait_for 10 grep -q "capturing on nwf-v" "$WORK/$1.err" || true
}
sql() { python3 -c "
import sqlite3, sys
c = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True, timeout=5)
print(c.execute(sys.argv[2]).fetchone()[0])" "$1" "$2"; }
replay() { # replay in the background: the demo capture over and over, 4,000 packets/s
  ip netns exec $A tcpreplay -q -i nwf-a --loop=0 --pps=4000 "$WORK/demo.pcap" >/dev/null 2>&1 &
  TR=$!; PIDS+=("$TR")
}
scan() { ip netns exec $A nmap -n -Pn -sS -T4 -p "$1" -S "$2" -e nwf-a 10.81.0.2 >/dev/null 2>&1 || true; }
export -f sql wait_for

# ---- 1. kill -9, N times ---------------------------------------------------------------------
replay
bad=0 lost=0 prev=0 t0=$(date +%s)
for i in $(seq 1 "$KILLS"); do
  start "k$i"
  # Loaded: capturing the replay and writing alerts (each start raises them anew).
  sleep 1.5
  stop_pid "$NP" KILL || true
  ok=$(sql "$DB" 'PRAGMA integrity_check' 2>/dev/null || echo error)
  n=$(sql "$DB" 'SELECT count(*) FROM alerts' 2>/dev/null || echo -1)
  [ "$ok" = ok ] || { bad=$((bad + 1)); say "kill $i: integrity_check says: $ok"; }
  [ "$n" -ge "$prev" ] || { lost=$((lost + 1)); say "kill $i: $n alerts, fewer than $prev before"; }
  prev=$n
done
say "figures: $KILLS kill -9 in $(( $(date +%s) - t0 )) s; $prev alerts stored across them"
check "kill -9 x$KILLS: integrity_check ok after every one" [ "$bad" = 0 ]
check "kill -9 x$KILLS: no committed alert lost, alerts written meanwhile ($prev)" \
  bash -c "[ '$lost' = 0 ] && [ '$prev' -ge $((KILLS / 2)) ]"

# ---- 2. interface down and up every 2 s for a minute ----------------------------------------
start flap; FP=$NP
for _ in $(seq 1 15); do
  ip -n $V link set nwf-v down; sleep 2; ip -n $V link set nwf-v up; sleep 2
done
check "interface flapping for a minute: the daemon is still running" kill -0 "$FP"
sleep 2
scan 1-200 10.81.0.1
check "after the flapping: capture resumed, a new scan is caught" \
  wait_for 10 bash -c "[ \$(sql '$DB' \"SELECT count(*) FROM alerts WHERE rule='portscan.vertical' AND src='10.81.0.1' AND dst='10.81.0.2'\") -ge 1 ]"
check "interface flapping: no panic in the log" bash -c "! grep -qi panick '$WORK/flap.err'"

# ---- 3. the state directory's file system read-only while running ---------------------------
: > "$WORK/rsyslog.out"
W0=$(grep -E -c '^netwatch: (warning|error): .*store' "$WORK/flap.err" || true)
echo 1 > "/sys/fs/ext4/$(basename "$(findmnt -n -o SOURCE "$STATE")")/trigger_fs_error"
scan 1-100 10.81.0.9
check "read-only file system: detection and syslog go on" wait_for 10 grep -q 'portscan.vertical.*10.81.0.9' "$WORK/rsyslog.out"
check "read-only file system: the store's failure is logged" \
  wait_for 10 bash -c "[ \$(grep -E -c '^netwatch: (warning|error): .*store' '$WORK/flap.err') -gt '$W0' ]"
check "read-only file system: sensor.health store_failing within a minute" wait_for 75 grep -q 'store_failing' "$WORK/rsyslog.out"
check "read-only file system: the daemon is still running" kill -0 "$FP"
# Repair as an admin would: the failed file system let go (the store has closed its file),
# checked, mounted again.
umount -l "$STATE"
check "read-only file system: the store lets go of its file (the old mount is released)" \
  wait_for 30 bash -c "[ -z \"\$(losetup -j '$WORK/state.img')\" ]"
e2fsck -fy "$WORK/state.img" >/dev/null 2>&1 || true
mount_state
check "mounted again: the store recovers with the alerts raised meanwhile, integrity_check ok" \
  wait_for 30 bash -c "[ \$(sql '$DB' \"SELECT count(*) FROM alerts WHERE rule='portscan.vertical' AND src='10.81.0.9'\") -ge 1 ] && [ \"\$(sql '$DB' 'PRAGMA integrity_check')\" = ok ]"

# ---- 4. the syslog collector killed and restarted --------------------------------------------
stop_pid "$RS" KILL || true
scan 1-100 10.81.0.1   # while the collector is away (suppressed repeats aside, a new pair below)
sleep 3
start_rsyslog
: > "$WORK/rsyslog.out"
ip -n $A addr add 10.81.0.20/24 dev nwf-a
sleep 2
scan 1-100 10.81.0.20
check "syslog collector restarted: alerts reach it again" wait_for 70 grep -q 'portscan.vertical.*10.81.0.20' "$WORK/rsyslog.out"
check "syslog collector restarted: the daemon is still running" kill -0 "$FP"

# ---- 5. a language-model endpoint that never answers ------------------------------------------
TOK=$("$NW" token -c "$WORK/run.toml" 2>/dev/null || true)
metric() { ip netns exec $V curl -s -m 5 -H "Authorization: Bearer $TOK" http://127.0.0.1:18792/metrics | awk -v m="$1" '$1 == m {print $2}'; }
export -f metric; export V TOK
ip -n $A addr add 10.81.0.21/24 dev nwf-a
scan 1-100 10.81.0.21
check "hanging LLM endpoint: a new alert is stored within seconds regardless" \
  wait_for 5 bash -c "[ \$(sql '$DB' \"SELECT count(*) FROM alerts WHERE src='10.81.0.21'\") -ge 1 ]"
check "hanging LLM endpoint: requests time out and are counted" \
  wait_for 30 bash -c "[ \"\$(metric netwatch_enrich_timeouts_total)\" -ge 1 ]"

# ---- 6. the web server under wrk while a SYN flood is captured ------------------------------
kill "$TR" 2>/dev/null || true
P0=$(metric netwatch_packets_total)
ip netns exec $A timeout -k 2 12 hping3 --flood -S -p 80 10.81.0.2 >/dev/null 2>&1 & HP=$!
sleep 1
ip netns exec $V wrk -t 2 -c 16 -d 8 -H "Authorization: Bearer $TOK" \
  http://127.0.0.1:18792/api/stats > "$WORK/wrk.out" 2>&1 || true
stop_pid "$HP" TERM 20 || true
P1=$(metric netwatch_packets_total)
RPS=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")
NON2XX=$(awk '/Non-2xx/ {print $NF}' "$WORK/wrk.out"); NON2XX=${NON2XX:-0}
say "figures: wrk /api/stats for 8 s during a SYN flood: $RPS requests/s, non-2xx $NON2XX; packets captured meanwhile $((P1 - P0))"
check "wrk during a SYN flood: every request answered" bash -c "[ -n '$RPS' ] && [ '$NON2XX' = 0 ] && ! grep -q 'Socket errors' '$WORK/wrk.out'"
check "wrk during a SYN flood: the flood is detected" \
  wait_for 10 bash -c "[ \$(sql '$DB' \"SELECT count(*) FROM alerts WHERE rule='synflood' AND dst='10.81.0.2'\") -ge 1 ]"
check "wrk during a SYN flood: the packets are counted" [ "$((P1 - P0))" -gt 10000 ]

rc=0; stop_pid "$FP" TERM 20 || rc=$?
check "after every drill: SIGTERM ends the daemon cleanly" [ "$rc" = 0 ]
check "after every drill: integrity_check ok" bash -c "[ \"\$(sql '$DB' 'PRAGMA integrity_check')\" = ok ]"
if [ "$fail" = 0 ]; then say "all passed"; else say "FAILED"; tail -20 "$WORK/flap.err"; exit 1; fi
