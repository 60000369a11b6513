#!/usr/bin/env bash
# The live daemon end to end: `netwatch run` captures two interfaces in a victim namespace
# while nmap, hydra, iodine and hping3 run from an attacker namespace; alerts must land in
# the SQLite file and in a real rsyslogd (imudp/imtcp + mmpstrucdata, which parses the RFC 5424
# structured data into the fields the test reads). Also: SIGHUP changes a threshold, an
# allowlist and the syslog transport, a broken SIGHUP keeps the old settings, an interface
# deleted and re-created is captured again, SIGTERM flushes within 2 s, root is dropped,
# the sensor's own syslog traffic is not analysed; then a store on a tmpfs filled to 100 %
# (detection and syslog go on, sensor.health says the store fails, the store recovers when
# space returns) and `kill -9` while writing heavily (integrity_check passes).
#
# usage: tests/e2e/daemon.sh        (root; ~4 minutes; prints the 10 s hping3 flood figures)
# Traffic stays inside the namespaces it creates (10.79.0.0/24, 10.80.0.0/24).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NW=${NETWATCH_BIN:-$ROOT/target/release/netwatch}   # NETWATCH_BIN: another build (coverage)
WORK=$(mktemp -d /tmp/netwatch-daemon.XXXXXX)
chmod 755 "$WORK"
A=nwd-atk V=nwd-vic
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do stop_pid "$p" TERM 5 >/dev/null || true; done
  ip netns pids $V 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns pids $A 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del $A 2>/dev/null || true
  ip netns del $V 2>/dev/null || true
  umount "$WORK/tiny" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
E2E=daemon-e2e
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

[ -x "$NW" ] || (cd "$ROOT" && cargo build --release --quiet --bin netwatch)

pair() { # pair N: veth nwd-aN (attacker) / nwd-vN (victim), 10.(78+N).0.0/24
  local n=$1; local net=10.$((78 + n)).0
  ip link add nwd-a$n type veth peer name nwd-v$n
  ip link set nwd-a$n netns $A; ip link set nwd-v$n netns $V
  ip -n $A addr add $net.1/24 dev nwd-a$n; ip -n $A addr add $net.7/24 dev nwd-a$n
  ip -n $V addr add $net.2/24 dev nwd-v$n
  ip -n $A link set nwd-a$n up; ip -n $V link set nwd-v$n up
}

setup() {
  ip netns del $A 2>/dev/null || true; ip netns del $V 2>/dev/null || true
  ip netns add $A; ip netns add $V
  for n in $A $V; do ip -n $n link set lo up; done
  pair 1; pair 2
  ip -n $A addr add 10.79.0.9/24 dev nwd-a1        # the syslog collector
  ip -n $V addr add 10.79.0.3/24 dev nwd-v1; ip -n $V addr add 10.79.0.4/24 dev nwd-v1
  id nwe2e >/dev/null 2>&1 || useradd -m -s /bin/sh nwe2e
  echo 'nwe2e:correct-horse-battery' | chpasswd
  mkdir -p /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$WORK/hostkey" <<<y >/dev/null 2>&1 || true
  ip netns exec $V /usr/sbin/sshd -f /dev/null -h "$WORK/hostkey" -o ListenAddress=10.79.0.2 \
     -o PasswordAuthentication=yes -o KbdInteractiveAuthentication=no -o UsePAM=no \
     -o MaxStartups=64 -o PidFile="$WORK/sshd.pid" -E "$WORK/sshd.log"
  mkdir -p "$WORK/rs"
  cat > "$WORK/rsyslog.conf" <<CONF
global(workDirectory="$WORK/rs")
module(load="imudp")
module(load="imtcp")
module(load="mmpstrucdata")
input(type="imudp" address="10.79.0.9" port="5514")
input(type="imtcp" address="10.79.0.9" port="5515")
template(name="nw" type="list") {
  property(name="\$!rfc5424-sd!netwatch@32473!rule") constant(value="|")
  property(name="\$!rfc5424-sd!netwatch@32473!src") constant(value="|")
  property(name="\$!rfc5424-sd!netwatch@32473!dst") constant(value="|")
  property(name="\$!rfc5424-sd!netwatch@32473!kind") constant(value="|")
  property(name="inputname") constant(value="\n")
}
action(type="mmpstrucdata")
action(type="omfile" file="$WORK/rsyslog.out" template="nw")
CONF
  ip netns exec $A rsyslogd -n -f "$WORK/rsyslog.conf" -i "$WORK/rsyslog.pid" >"$WORK/rsyslogd.log" 2>&1 & PIDS+=($!)
  sleep 1
}

config() { # config FILE [extra TOML]
  # home_net: the attacked server only, so anomaly.host has a local host with external peers.
  cat > "$1" <<CONF
home_net = ["10.79.0.2/32"]
[capture]
interfaces = ["nwd-v1", "nwd-v2"]
[store]
path = "$WORK/db/netwatch.db"
[syslog]
target = "udp:10.79.0.9:5514"
format = "rfc5424"
[eve]
stdout = true
path = "$WORK/eve/eve.json"
$2
CONF
}

# sql DB QUERY: one value from the store (python's sqlite3; read-only).
sql() { python3 -c "
import sqlite3, sys
c = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)
print(c.execute(sys.argv[2]).fetchone()[0])" "$1" "$2"; }

has_alert() { # has_alert DB RULE SRC DST
  [ "$(sql "$1" "SELECT count(*) FROM alerts WHERE rule='$2' AND src LIKE '$3' AND dst LIKE '$4'")" -ge 1 ]
}
no_alert() { # no_alert DB SRC DST
  [ "$(sql "$1" "SELECT count(*) FROM alerts WHERE src LIKE '$2' AND dst LIKE '$3' AND rule != 'sensor.health'")" = 0 ]
}
in_syslog() { # in_syslog RULE SRC DST [INPUT]
  grep -q "^$1|$2|$3|.*|${4:-}" "$WORK/rsyslog.out" 2>/dev/null
}
# start_one TAG STORE [SED]: a second daemon on nwd-v1 only, its store at STORE (SED edits
# its config further); output in $WORK/TAG.out and TAG.err; its pid in DP once it captures.
start_one() {
  config "$WORK/$1.toml" ""
  sed -i "s|$WORK/db/netwatch.db|$2|; s|nwd-v1\", \"nwd-v2|nwd-v1|; ${3:-}" "$WORK/$1.toml"
  ip netns exec $V "$NW" run -c "$WORK/$1.toml" -v > "$WORK/$1.out" 2> "$WORK/$1.err" & DP=$!
  PIDS+=("$DP")
  wait_for 10 grep -q "capturing on nwd-v1" "$WORK/$1.err" || true
  sleep 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
export -f sql has_alert no_alert in_syslog wait_for
export WORK

setup
DB=$WORK/db/netwatch.db
CFG=$WORK/run.toml
config "$CFG" ""
ip netns exec $V "$NW" run -c "$CFG" -v > "$WORK/run.out" 2> "$WORK/run.err" & NP=$!
PIDS+=("$NP")
wait_for 10 grep -q "capturing on nwd-v2" "$WORK/run.err" || true
sleep 1

# Privileges: nobody:nogroup with CAP_NET_RAW|CAP_NET_ADMIN (bits 12, 13) only.
check "dropped to nobody keeping only CAP_NET_RAW and CAP_NET_ADMIN" \
  bash -c "grep -q '^Uid:.*\b$(id -u nobody)\b' /proc/$NP/status && grep -q '^CapEff:.*0000000000003000' /proc/$NP/status"
# Start-up facts are info (shown by -v), not warnings.
check "start-up facts logged as info, not as warnings" \
  bash -c "grep -q '^netwatch: info: capturing on nwd-v2 (link type 1)' '$WORK/run.err' && grep -q '^netwatch: info: running as nobody:nogroup' '$WORK/run.err' && ! grep -E -q '^netwatch: warning: (capturing on|running as)' '$WORK/run.err'"

# Real tools on both interfaces.
ip netns exec $A nmap -n -Pn -sS -T4 -p 1-300 10.79.0.2 >/dev/null 2>&1 || true
ip netns exec $A nmap -n -Pn -sS -T4 -p 1-300 10.80.0.2 >/dev/null 2>&1 || true
printf '%s\n' $(seq -f 'wrong%03g' 1 40) correct-horse-battery > "$WORK/pw.txt"
ip netns exec $A hydra -l nwe2e -P "$WORK/pw.txt" -t 4 -f ssh://10.79.0.2 >/dev/null 2>&1 || true
ip netns exec $V iodined -f -c -P s3cret -l 10.79.0.2 10.99.0.1 t.tunnel.test >/dev/null 2>&1 & IP=$!
sleep 1
ip netns exec $A bash -c "timeout -k 2 20 iodine -f -r -P s3cret 10.79.0.2 t.tunnel.test >/dev/null 2>&1 & sleep 10; ping -c 20 -i 0.2 10.99.0.1 >/dev/null 2>&1; wait" || true
stop_pid $IP || true

# The web API of the live daemon (router profile default: 127.0.0.1:8787 in its namespace;
# the token generated into the store's directory, printed by `netwatch token`).
TOK=$("$NW" token -c "$CFG" 2>/dev/null || true)
webget() { ip netns exec $V curl -s -m 5 -H "Authorization: Bearer $TOK" "http://127.0.0.1:8787$1"; }
check "web: token generated into the state directory, announced once" bash -c "[ -n '$TOK' ] && [ \"\$(cat '$WORK/db/web.token')\" = '$TOK' ] && [ \$(grep -c 'web access token' '$WORK/run.err') = 1 ]"
check "web: no token, 401" bash -c "[ \"\$(ip netns exec $V curl -s -m 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:8787/api/stats)\" = 401 ]"
check "web: /api/alerts has the live scan" bash -c "$(declare -f webget); V=$V TOK=$TOK; webget '/api/alerts?rule=portscan.vertical&src=10.79.0.1' | grep -q '\"dst\":\"10.79.0.2\"'"
check "web: /metrics counts packets" bash -c "$(declare -f webget); V=$V TOK=$TOK; webget /metrics | awk '/^netwatch_packets_total /{exit !(\$2 > 0)}'"

# A 10 s hping3 flood, captured live: CPU of the daemon over those 10 s.
HZ=$(getconf CLK_TCK); c0=$(cpu_ticks $NP); t0=$(date +%s.%N)
ip netns exec $A timeout -k 2 10 hping3 --flood -S -p 80 10.79.0.2 >/dev/null 2>&1 || true
c1=$(cpu_ticks $NP); t1=$(date +%s.%N)
FLOOD_CPU=$(python3 -c "print(f'{($c1 - $c0) / $HZ / ($t1 - $t0) * 100:.0f}')")

# Interface 2 deleted and re-created: capture resumes, a new scan on it is caught.
ip -n $A link del nwd-a2
wait_for 10 grep -q "nwd-v2 went away" "$WORK/run.err" || true
sleep 2
pair 2
check "deleted interface is captured again after it returns" wait_for 45 bash -c "[ \$(grep -c 'capturing on nwd-v2' '$WORK/run.err') -ge 2 ]"
sleep 1
ip netns exec $A nmap -n -Pn -sS -T4 -S 10.80.0.7 -e nwd-a2 -p 1-300 10.80.0.2 >/dev/null 2>&1 || true

# SIGHUP: threshold 30 ports (default 12), 10.79.0.7 allowlisted, syslog over TCP now, and
# unanswered probes kept 300 s (so the sweep below is only judged when SIGTERM flushes).
config "$CFG" '[rules.portscan]
vertical_ports = 30
allow_src = ["10.79.0.7/32"]
[flow]
unanswered_timeout_s = 300'
sed -i 's|udp:10.79.0.9:5514|tcp:10.79.0.9:5515|' "$CFG"
kill -HUP $NP; sleep 1
ip netns exec $A nmap -n -Pn -sS -T4 -p 1-20 10.79.0.3 >/dev/null 2>&1 || true               # 12 <= 20 < 30
ip netns exec $A nmap -n -Pn -sS -T4 -S 10.79.0.7 -e nwd-a1 -p 1-300 10.79.0.4 >/dev/null 2>&1 || true # allowlisted
ip netns exec $A nmap -n -Pn -sS -T4 -p 1-300 10.79.0.4 >/dev/null 2>&1 || true              # 300 >= 30
# A broken file is refused; the allowlist above stays in force.
cp "$CFG" "$WORK/good.toml"; echo 'nonsense = 1' >> "$CFG"; kill -HUP $NP; sleep 1
ip netns exec $A nmap -n -Pn -sS -T4 -S 10.79.0.7 -e nwd-a1 -p 1-300 10.79.0.3 >/dev/null 2>&1 || true
# An ARP sweep of addresses nobody has: judged when its probes time out (300 s now), so the
# alert is pending until SIGTERM flushes it.
ip netns exec $A nmap -n -sn -T4 10.79.0.32/27 >/dev/null 2>&1 || true
sleep 3
PENDING_BEFORE=$(sql "$DB" "SELECT count(*) FROM alerts WHERE rule='portscan.horizontal'")

# SIGTERM: flush and exit; the daemon's own drain deadline is 2 s, the check allows a loaded
# machine 5 (the time taken is printed as a figure).
s0=$(date +%s.%N); rc=0; stop_pid $NP TERM 20 || rc=$?; s1=$(date +%s.%N)
STOP_S=$(python3 -c "print(f'{$s1 - $s0:.2f}')")
check "SIGTERM: exit 0 by itself (took ${STOP_S} s; drain deadline 2 s)" python3 -c "import sys; sys.exit(0 if $rc == 0 and $s1 - $s0 <= 5.0 else 1)"

check "SIGTERM flushed the pending sweep (none stored before, one after)" \
  bash -c "[ '$PENDING_BEFORE' = 0 ] && has_alert '$DB' portscan.horizontal 10.79.0.1 '%'"
check "store: nmap on interface 1" has_alert "$DB" portscan.vertical 10.79.0.1 10.79.0.2
check "store: nmap on interface 2" has_alert "$DB" portscan.vertical 10.80.0.1 10.80.0.2
check "store: nmap on interface 2 after it was re-created" has_alert "$DB" portscan.vertical 10.80.0.7 10.80.0.2
check "store: hydra" has_alert "$DB" bruteforce 10.79.0.1 10.79.0.2
check "store: iodine" has_alert "$DB" dns.tunnel 10.79.0.1 10.79.0.2
check "store: hping3 flood" has_alert "$DB" synflood '%' 10.79.0.2
check "SIGHUP threshold: 20 ports under the new 30 raise nothing" no_alert "$DB" 10.79.0.1 10.79.0.3
check "SIGHUP allowlist: 10.79.0.7 raises nothing, before and after the broken reload" no_alert "$DB" 10.79.0.7 '%'
check "SIGHUP: 300 ports cross the new threshold" has_alert "$DB" portscan.vertical 10.79.0.1 10.79.0.4
check "broken SIGHUP refused with the key named" grep -q "reload refused.*nonsense" "$WORK/run.err"
check "store: integrity_check ok" bash -c "[ \"\$(sql '$DB' 'PRAGMA integrity_check')\" = ok ]"
check "store: minute traffic history kept" bash -c "[ \$(sql '$DB' 'SELECT count(*) FROM traffic') -ge 1 ]"
check "store: file owned by nobody" bash -c "[ \"\$(stat -c %U '$DB')\" = nobody ]"
check "netwatch alerts lists the stored alerts" bash -c "'$NW' alerts --db '$DB' --rule bruteforce | grep -q '10.79.0.1 -> 10.79.0.2:22'"
check "netwatch alerts --explain: a plain-language explanation under each alert" bash -c "'$NW' alerts --db '$DB' --rule bruteforce --explain | grep -q 'Someone is guessing passwords'"
check "store: explanations stored with the alerts" bash -c "[ \$(sql '$DB' \"SELECT count(*) FROM alerts WHERE explanation = ''\") = 0 ]"
check "store: host baselines saved at shutdown" bash -c "[ \$(sql '$DB' 'SELECT count(*) FROM hosts') -ge 1 ]"
# A restart takes the baselines back (anomaly.host does not learn from zero again).
# (run.toml was left broken by the refused-reload check: a good config on the same store.)
config "$WORK/rerun.toml" ""
ip netns exec $V "$NW" run -c "$WORK/rerun.toml" -v > "$WORK/rerun.out" 2> "$WORK/rerun.err" & RP=$!
check "restart: host baselines restored from the store" wait_for 10 grep -q "host baselines restored" "$WORK/rerun.err"
grep -q "host baselines restored" "$WORK/rerun.err" || { say "the restarted daemon said:"; tail -n 20 "$WORK/rerun.err"; }
stop_pid $RP || true
check "rsyslogd (UDP): scan with parsed structured data" in_syslog portscan.vertical 10.79.0.1 10.79.0.2 imudp
check "rsyslogd (UDP): hydra, iodine, flood" bash -c "grep -q '^bruteforce|10.79.0.1|10.79.0.2|' '$WORK/rsyslog.out' && grep -q '^dns.tunnel|10.79.0.1|10.79.0.2|' '$WORK/rsyslog.out' && grep -q '^synflood|.*|10.79.0.2|' '$WORK/rsyslog.out'"
check "rsyslogd (TCP after SIGHUP): scan judged by the new threshold" in_syslog portscan.vertical 10.79.0.1 10.79.0.4 imtcp
check "EVE file written" grep -q '"event_type":"alert"' "$WORK/eve/eve.json"
check "own syslog traffic excluded, not analysed" bash -c "tail -1 '$WORK/run.err' | python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if s[\"own_traffic\"] > 0 else 1)' && ! grep -q '10.79.0.9' '$WORK/run.out'"
FLOOD=$(tail -1 "$WORK/run.err" | python3 -c "
import json, sys
s = json.load(sys.stdin); c = s['capture']['nwd-v1']
print(f\"packets seen {s['counters']['packets']}, nwd-v1 received {c['received']}, kernel drops {c['dropped_kernel']}, peak RSS {s['run']['peak_rss_bytes'] / 1048576:.1f} MiB, peak heap {s['run']['peak_heap_bytes'] / 1048576:.1f} MiB\")")
say "figures: 10 s hping3 --flood: daemon CPU ${FLOOD_CPU}% of one core; whole run: $FLOOD"

# ---- Faults: a store on a tmpfs filled to 100 % -------------------------------------------
mkdir -p "$WORK/tiny"; mount -t tmpfs -o size=1m tmpfs "$WORK/tiny"; chmod 777 "$WORK/tiny"
dd if=/dev/zero of="$WORK/tiny/filler" bs=4k >/dev/null 2>&1 || true
: > "$WORK/rsyslog.out"
start_one f "$WORK/tiny/netwatch.db"; FP=$DP
for h in 2 3 4; do ip netns exec $A nmap -n -Pn -sS -T4 -p 1-100 10.79.0.$h >/dev/null 2>&1 || true; done
check "disk full: detection and syslog go on" wait_for 10 bash -c "grep -c '^portscan.vertical|10.79.0.1|' '$WORK/rsyslog.out' | grep -qx 3"
check "disk full: store errors logged (not per alert)" bash -c "[ \$(grep -E -c '^netwatch: (warning|error): .*store' '$WORK/f.err') -le 3 ] && grep -q 'full' '$WORK/f.err'"
check "disk full: sensor.health store_failing within a minute" wait_for 75 grep -q '^sensor.health|.*|store_failing|' "$WORK/rsyslog.out"
rm -f "$WORK/tiny/filler"
# (Polled while the store is being re-created: an empty answer until its table exists.)
check "space returns: the store recovers by itself with the queued alerts" wait_for 20 bash -c "[ -f '$WORK/tiny/netwatch.db' ] && [ \"\$(sql '$WORK/tiny/netwatch.db' \"SELECT count(*) FROM alerts WHERE rule='portscan.vertical'\" 2>/dev/null)\" = 3 ]"
sleep 2   # the health event's batch
stop_pid $FP KILL || true
check "recovered store, daemon killed -9: integrity_check ok, alerts and health event kept" bash -c "[ \"\$(sql '$WORK/tiny/netwatch.db' 'PRAGMA integrity_check')\" = ok ] && [ \$(sql '$WORK/tiny/netwatch.db' \"SELECT count(*) FROM alerts WHERE rule='sensor.health'\") -ge 1 ] && [ \$(sql '$WORK/tiny/netwatch.db' \"SELECT count(*) FROM alerts WHERE rule='portscan.vertical'\") = 3 ]"

# ---- Faults: a corrupt database file at start ----------------------------------------------
mkdir -p "$WORK/corrupt"; head -c 65536 /dev/urandom > "$WORK/corrupt/netwatch.db"
chown nobody:nogroup "$WORK/corrupt"   # a state directory belongs to the service user
start_one c "$WORK/corrupt/netwatch.db" "s|udp:10.79.0.9:5514|off|"; CP=$DP
ip netns exec $A nmap -n -Pn -sS -T4 -p 1-100 -S 10.79.0.7 -e nwd-a1 10.79.0.2 >/dev/null 2>&1 || true
sleep 2; stop_pid $CP || true
check "corrupt file at start: moved aside, a new store holds the new alert" \
  bash -c "ls '$WORK/corrupt/' | grep -q 'netwatch.db.corrupt-' && has_alert '$WORK/corrupt/netwatch.db' portscan.vertical 10.79.0.7 10.79.0.2 && grep -q 'moved corrupt' '$WORK/c.err'"

# ---- Faults: kill -9 while writing heavily -------------------------------------------------
KDB=$WORK/kill/netwatch.db
"$ROOT/target/release/examples/store-load" --db "$KDB" --heavy > "$WORK/kill.out" 2>&1 & KP=$!
sleep 3; stop_pid $KP KILL || true
COMMITTED=$(grep -c '^committed' "$WORK/kill.out" || true)
LAST=$(grep '^committed' "$WORK/kill.out" | tail -1 | awk '{print $2}')
ROWS=$(sql "$KDB" 'SELECT count(*) FROM alerts' 2>/dev/null || echo -1)
check "kill -9 under load: integrity_check ok" bash -c "[ \"\$(sql '$KDB' 'PRAGMA integrity_check')\" = ok ]"
check "kill -9 under load: at most the last batch lost ($ROWS rows, $LAST reported committed in $COMMITTED batches)" \
  bash -c "[ '$ROWS' -ge '${LAST:-0}' ] && [ '$ROWS' -le \$(( ${LAST:-0} + 256 )) ]"

[ "$fail" = 0 ] && say "all passed" || { say "FAILED"; tail -20 "$WORK/run.err"; exit 1; }
