#!/usr/bin/env bash
# Blocking with nftables, for real, in network namespaces: an attacker and another internet
# host (203.0.113.10 and .11), a router running NetWatch with respond.mode = "block" and
# forwarding, a victim on the LAN (192.168.77.2, a web server) and a LAN scanner
# (192.168.78.2). Checked: an nmap scan is detected and its source lands in the set, its next
# packets are dropped (nft counter, a failed connection) while the other host still gets
# through; the block survives a restart that finds the table gone, with its time left; a
# spoofed SYN flood blocks nothing; a LAN scanner is not blocked until block_lan = true
# (reloaded with SIGHUP); `netwatch block/unblock/blocks` and the guard rails (the router's own
# address); the block expires; with nft missing the daemon goes on and says so.
#
# usage: tests/e2e/block.sh        Needs root, nft, nmap, hping3, curl. About 2.5 minutes.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NW=${NETWATCH_BIN:-$ROOT/target/release/netwatch}
WORK=$(mktemp -d /tmp/netwatch-block.XXXXXX)
chmod 755 "$WORK"
A=nwbk-atk R=nwbk-rtr V=nwbk-vic L=nwbk-lan
PIDS=()
E2E=block  # read by lib.sh
export E2E
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
cleanup() {
  for p in "${PIDS[@]}"; do stop_pid "$p" TERM 5 >/dev/null || true; done
  for n in $A $R $V $L; do
    ip netns pids $n 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del $n 2>/dev/null || true
  done
  rm -rf "$WORK" "/etc/netns/$R"
}
trap cleanup EXIT
[ -x "$NW" ] || (cd "$ROOT" && cargo build --release --quiet --bin netwatch)

for n in $A $R $V $L; do ip netns del $n 2>/dev/null || true; ip netns add $n; ip -n $n link set lo up; done
ip link add nwbk-wan type veth peer name nwbk-a; ip link set nwbk-wan netns $R; ip link set nwbk-a netns $A
ip link add nwbk-lan type veth peer name nwbk-v; ip link set nwbk-lan netns $R; ip link set nwbk-v netns $V
ip link add nwbk-lan2 type veth peer name nwbk-l; ip link set nwbk-lan2 netns $R; ip link set nwbk-l netns $L
ip -n $R addr add 203.0.113.1/24 dev nwbk-wan; ip -n $R addr add 192.168.77.1/24 dev nwbk-lan; ip -n $R addr add 192.168.78.1/24 dev nwbk-lan2
ip -n $A addr add 203.0.113.10/24 dev nwbk-a; ip -n $A addr add 203.0.113.11/24 dev nwbk-a
ip -n $V addr add 192.168.77.2/24 dev nwbk-v; ip -n $L addr add 192.168.78.2/24 dev nwbk-l; ip -n $L addr add 192.168.78.3/24 dev nwbk-l
for l in "$R nwbk-wan" "$R nwbk-lan" "$R nwbk-lan2" "$A nwbk-a" "$V nwbk-v" "$L nwbk-l"; do set -- $l; ip -n "$1" link set "$2" up; done
ip -n $A route add 192.168.0.0/16 via 203.0.113.1
ip -n $V route add default via 192.168.77.1; ip -n $L route add default via 192.168.78.1
ip netns exec $R sysctl -qw net.ipv4.ip_forward=1
ip -n $R route add default via 203.0.113.254
# The router's resolver (`ip netns exec` shows /etc/netns/NS/resolv.conf as /etc/resolv.conf;
# removed on exit) and the victim's web server.
mkdir -p "/etc/netns/$R"; printf 'nameserver 203.0.113.53\n' > "/etc/netns/$R/resolv.conf"
mkdir -p "$WORK/www"; echo hello > "$WORK/www/index.html"
ip netns exec $V python3 -m http.server 8080 --bind 192.168.77.2 --directory "$WORK/www" >/dev/null 2>&1 & PIDS+=($!)
sleep 1

API=http://127.0.0.1:18792 AUTH="Authorization: Bearer e2e-block-token-01"
config() { # config BLOCK_LAN [NFT]
  {
    printf 'home_net = ["192.168.0.0/16"]\n[capture]\ninterfaces = ["nwbk-wan", "nwbk-lan2"]\n'
    printf '[store]\npath = "%s/state/netwatch.db"\n[syslog]\ntarget = "off"\n' "$WORK"
    printf '[web]\nlisten = ["127.0.0.1:18792"]\ntoken = "e2e-block-token-01"\n'
    printf '[respond]\nmode = "block"\nduration_s = 60\nblock_lan = %s\nnft = "%s"\n' "$1" "${2:-nft}"
  } > "$WORK/netwatch.toml"
}
start() {
  ip netns exec $R "$NW" run -c "$WORK/netwatch.toml" >/dev/null 2>>"$WORK/daemon.err" & DP=$!
  PIDS+=("$DP")
  wait_for 20 ip netns exec $R curl -sf -H "$AUTH" "$API/healthz" -o /dev/null \
    || { say "FAIL the daemon did not come up: $(tail -3 "$WORK/daemon.err")"; exit 1; }
}
blocks() { ip netns exec $R curl -sf -H "$AUTH" "$API/api/blocks"; }
blocked() { blocks | python3 -c "import json,sys; sys.exit(0 if any(b['addr']=='$1' for b in json.load(sys.stdin)['blocks']) else 1)"; }
event() { # event ACTION ADDR [TEXT]: the latest events hold one
  blocks | python3 -c "import json,sys; sys.exit(0 if any(e['action']=='$1' and e['addr']=='$2' and '${3:-}' in e['reason'] for e in json.load(sys.stdin)['events']) else 1)"
}
in_set() { ip netns exec $R nft list set inet netwatch v4 2>/dev/null | grep -q "$1"; }
reach() { # reach SRC: the victim's web page from the attacker's namespace, from SRC
  ip netns exec $A curl -s -m 3 --interface "$1" -o /dev/null http://192.168.77.2:8080/index.html
}
cli() { ip netns exec $R "$NW" "$@" -c "$WORK/netwatch.toml"; }

config false
start
check "before any block, 203.0.113.10 reaches the victim" wait_for 15 reach 203.0.113.10
ip netns exec $A nmap -n -Pn -sS -T4 -p 1-200 -S 203.0.113.10 -e nwbk-a 192.168.77.2 >/dev/null 2>&1 || true
if wait_for 15 blocked 203.0.113.10 && in_set 203.0.113.10; then
  say "ok   the scan is detected and 203.0.113.10 is in the set: $(ip netns exec $R nft list set inet netwatch v4 | grep -o 'elements = {[^}]*}')"
else
  say "FAIL 203.0.113.10 not blocked: $(blocks | head -c 600)"; fail=1
fi
check "its next connection fails" bash -c "$(declare -f reach); A=$A; ! reach 203.0.113.10"
check "another internet host (203.0.113.11) still reaches the victim" wait_for 10 reach 203.0.113.11
drops=$(ip netns exec $R nft list chain inet netwatch prerouting | sed -n 's/.*ip saddr @v4 counter packets \([0-9]*\).*/\1/p')
check "the drop rule counted its packets ($drops)" test "${drops:-0}" -gt 0

# A restart that finds the table gone (a reboot): the block is restored with its time left.
stop_pid "$DP" TERM 20 || fail=1
ip netns exec $R nft delete table inet netwatch
start
left=$(ip netns exec $R nft list set inet netwatch v4 | sed -n 's/.*203.0.113.10 timeout [0-9a-z]* expires \([0-9ms]*\).*/\1/p')
if in_set 203.0.113.10 && blocked 203.0.113.10; then
  say "ok   after a restart without the table the block is back, expiring in ${left:-?}"
else
  say "FAIL the block did not survive the restart: $(ip netns exec $R nft list set inet netwatch v4 2>&1 | head -5)"; fail=1
fi

# fw4 reloading (it loads the package's ruleset-post file again): the block stays, one rule each.
ip netns exec $R nft -f "$ROOT/openwrt/files/netwatch.nft"
rules=$(ip netns exec $R nft list chain inet netwatch prerouting | grep -c 'counter packets')
check "loading openwrt/files/netwatch.nft again (as fw4 does) keeps the block and two rules ($rules)" \
  bash -c "ip netns exec $R nft list set inet netwatch v4 | grep -q 203.0.113.10 && [ $rules = 2 ]"

# A spoofed SYN flood: detected, nothing blocked.
n_before=$(blocks | python3 -c "import json,sys; print(len(json.load(sys.stdin)['blocks']))")
timeout -k 2 3 ip netns exec $A hping3 -S --flood --rand-source -p 8080 192.168.77.2 >/dev/null 2>&1 || true
sleep 2
n_after=$(blocks | python3 -c "import json,sys; print(len(json.load(sys.stdin)['blocks']))")
check "a spoofed SYN flood blocks nothing ($n_before blocks before, $n_after after)" test "$n_before" = "$n_after"
check "the flood was detected" bash -c "'$NW' alerts --db '$WORK/state/netwatch.db' --rule synflood | grep -q synflood"

# A LAN scanner: refused (block_lan is off), then blocked once block_lan = true.
ip netns exec $L nmap -n -Pn -sS -T4 -p 1-200 -S 192.168.78.2 -e nwbk-l 192.168.77.2 >/dev/null 2>&1 || true
wait_for 15 event refuse 192.168.78.2 block_lan \
  && say "ok   the LAN scanner 192.168.78.2 is not blocked (refused: block_lan is off)" \
  || { say "FAIL no refusal for the LAN scanner: $(blocks | head -c 600)"; fail=1; }
check "the LAN scanner is not in the set" bash -c "! ip netns exec $R nft list set inet netwatch v4 | grep -q 192.168.78.2"
# By hand, and the guard rails.
out=$(cli block 203.0.113.11 --for 2m --reason "e2e by hand" 2>&1) \
  && in_set 203.0.113.11 && ! reach 203.0.113.11 \
  && say "ok   netwatch block: $out; 203.0.113.11 cannot reach the victim" \
  || { say "FAIL netwatch block: $out"; fail=1; }
out=$(cli blocks 2>&1) && grep -q "e2e by hand" <<<"$out" \
  && say "ok   netwatch blocks lists it with its reason ($(grep -c 'on alert\|by hand' <<<"$out") blocks)" \
  || { say "FAIL netwatch blocks: $out"; fail=1; }
# The dashboard (Chromium in the router's namespace): the Blocks view lists it, Unblock lifts
# it; an alert's "Block for 1 h" on the LAN scanner shows the guard rails' refusal.
(cd "$ROOT/web" && BASE=$API TOKEN=e2e-block-token-01 BLOCKED=203.0.113.11 ALERT_SRC=192.168.78.2 \
  SHOT="$ROOT/target/dashboard-e2e/blocks.png" timeout -k 5 150 ip netns exec $R node test/blocks-e2e.js) | sed "s/^/$E2E: /" || fail=1
check "the dashboard's Unblock lifted it (203.0.113.11 gets through)" bash -c "$(declare -f reach); A=$A; ! ip netns exec $R nft list set inet netwatch v4 | grep -q 203.0.113.11 && reach 203.0.113.11"
cli block 203.0.113.11 --for 2m >/dev/null 2>&1 || true
out=$(cli unblock 203.0.113.11 2>&1) && ! in_set 203.0.113.11 && reach 203.0.113.11 \
  && say "ok   netwatch unblock: $out; 203.0.113.11 gets through again" \
  || { say "FAIL netwatch unblock: $out"; fail=1; }
refused() { # refused ADDR TEXT: `netwatch block ADDR` exits 1 saying TEXT
  local rc=0 out
  out=$(cli block "$1" 2>&1) || rc=$?
  if [ $rc = 1 ] && grep -q "$2" <<<"$out"; then say "ok   netwatch block $1 is refused: $out"
  else say "FAIL netwatch block $1 (exit $rc): $out"; fail=1; fi
}
refused 192.168.77.1 "own addresses"
refused 203.0.113.53 "DNS server"
refused 203.0.113.254 "default gateway"

config true
kill -HUP "$DP"
sleep 2
ip netns exec $L nmap -n -Pn -sS -T4 -p 1-200 -S 192.168.78.3 -e nwbk-l 192.168.77.2 >/dev/null 2>&1 || true
wait_for 15 in_set 192.168.78.3 \
  && say "ok   with block_lan = true (SIGHUP) a LAN scanner (192.168.78.3) is blocked" \
  || { say "FAIL block_lan = true did not block 192.168.78.3: $(blocks | head -c 600)"; fail=1; }

# Expiry: the scan's block (60 s) runs out; the attacker gets through again.
if wait_for 75 bash -c "$(declare -f in_set); R=$R; ! in_set 203.0.113.10" && wait_for 5 event expire 203.0.113.10 && reach 203.0.113.10; then
  say "ok   the block on 203.0.113.10 expired: it reaches the victim again, the expiry is in the events"
else
  say "FAIL no expiry: $(blocks | head -c 600)"; fail=1
fi
stop_pid "$DP" TERM 20 || fail=1

# nft missing: the daemon runs and says so.
config false /nonexistent/nft
: > "$WORK/daemon.err"
start
ok=$(ip netns exec $R curl -sf -H "$AUTH" "$API/api/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['sinks'].get('respond_nft_ok'))")
check "without nft the daemon runs, says so in its log and in /api/stats (respond_nft_ok $ok)" \
  bash -c "[ '$ok' = False ] && grep -q 'cannot run /nonexistent/nft' '$WORK/daemon.err'"
stop_pid "$DP" TERM 20 || fail=1
[ "$fail" = 0 ] && say "all passed" || { say "FAILED"; exit 1; }
