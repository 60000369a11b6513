#!/usr/bin/env bash
# Real attack tools against real services in two network namespaces joined by a veth pair,
# captured with tcpdump and replayed through `netwatch replay`; each capture must raise the
# right rule with the right attacker and victim, and benign traffic must raise nothing.
#
# usage: tests/e2e/run.sh [ci|record-slow|discovery|scan-delay|weblogin|devices|notify|mqtt]
#   ci           the live subset (a few minutes): nmap modes, ARP/ping/port sweeps, hping3
#                floods, hydra vs sshd, iodine vs iodined, dns2tcp, a 3 s curl beacon with browsing,
#                one nmap scan of two hosts (one incident),
#                nmap -f, nmap -T1 over 17 ports beside TCP and UDP beacons with 50 %
#                jitter;
#                a phone's SSDP and mDNS searches answered by a UPnP responder and avahi;
#                the device inventory (see devices); the notification peers (notify) and
#                the MQTT peers (mqtt);
#                then replays the committed slow captures in tests/e2e/captures/.
#                nmap --scan-delay 4s (its timing probes are not a beacon);
#                hydra http-get (60 wrong passwords) against a basic-auth page on 8090, and a
#                person mistyping twice there (no alert);
#   devices      only the device inventory: dnsmasq and a DHCP client, avahi, a UPnP
#                responder; the daemon's API, a label over PATCH, a restart
#   notify       only the notification peers: webhook receivers of each kind (one over HTTPS,
#                one failing, one silent), the hourly budget and its digest
#   mqtt         only the MQTT peers (tests/e2e/mqtt.sh): mosquitto, two sensors (3.1.1 and
#                5 over TLS), Home Assistant discovery checked, a broker restart, last will
#   discovery    only the discovery check
#   scan-delay   only the nmap --scan-delay check
#   weblogin     only the web-login check: hydra http-get against basic auth, and a person
#                who mistypes twice
#   record-slow  records the slow variants (nmap -T2, a 60 s ± 20 % beacon for 13 min,
#                a 5-minute benign capture) into tests/e2e/captures/ to commit.
# Needs root. Traffic stays inside the namespaces it creates (10.77.0.0/24, 10.78.0.0/24
# routed through the victim, fd77::/64); they are removed on exit.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MODE=${1:-ci}
NW=${NETWATCH_BIN:-$ROOT/target/release/netwatch}   # NETWATCH_BIN: another build (coverage)
WORK=$(mktemp -d /tmp/netwatch-e2e.XXXXXX)
chmod 755 "$WORK"   # `netwatch run` re-reads its config on SIGHUP as nobody
A=nwe2e-atk V=nwe2e-vic
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
E2E=e2e
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/mqtt.sh
. "$HERE/mqtt.sh"

[ -x "$NW" ] || (cd "$ROOT" && cargo build --release --quiet --bin netwatch)

setup() {
  ip netns del $A 2>/dev/null || true; ip netns del $V 2>/dev/null || true
  ip netns add $A; ip netns add $V
  ip link add nwe2e-a type veth peer name nwe2e-v
  ip link set nwe2e-a netns $A; ip link set nwe2e-v netns $V
  ip -n $A addr add 10.77.0.1/24 dev nwe2e-a; ip -n $V addr add 10.77.0.2/24 dev nwe2e-v
  ip -n $V addr add 10.77.0.3/24 dev nwe2e-v   # the "C2 server" the beacon calls
  ip -n $A -6 addr add fd77::1/64 dev nwe2e-a nodad; ip -n $V -6 addr add fd77::2/64 dev nwe2e-v nodad
  for n in $A $V; do ip -n $n link set lo up; done
  ip -n $A link set nwe2e-a up; ip -n $V link set nwe2e-v up
  # A routed /24 behind the victim, where nothing answers: sweeps put IP packets on the wire.
  ip -n $A route add 10.78.0.0/24 via 10.77.0.2
  # Linux's default: one ICMP error per second per destination (the UDP-scan case).
  ip netns exec $V sysctl -qw net.ipv4.icmp_ratelimit=1000
  # Services on the victim: sshd with a test user, a web server, iodined.
  id nwe2e >/dev/null 2>&1 || useradd -m -s /bin/sh nwe2e
  echo 'nwe2e:correct-horse-battery' | chpasswd
  mkdir -p /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$WORK/hostkey" <<<y >/dev/null 2>&1 || true
  ip netns exec $V /usr/sbin/sshd -f /dev/null -h "$WORK/hostkey" -o ListenAddress=10.77.0.2 -o PasswordAuthentication=yes \
     -o KbdInteractiveAuthentication=no -o UsePAM=no -o MaxStartups=64 -o PidFile="$WORK/sshd.pid" -E "$WORK/sshd.log"
  mkdir -p "$WORK/www"; head -c 1000000 /dev/urandom > "$WORK/www/big.bin"; for i in $(seq 1 20); do echo "page $i" > "$WORK/www/p$i.html"; done
  ip netns exec $V python3 -m http.server 8080 --bind 10.77.0.2 --directory "$WORK/www" >/dev/null 2>&1 & PIDS+=($!)
  ip netns exec $V python3 -m http.server 8443 --bind 10.77.0.3 --directory "$WORK/www" >/dev/null 2>&1 & PIDS+=($!)
  ip netns exec $V python3 "$HERE/peers.py" dns-server 10.77.0.3 >/dev/null 2>&1 & PIDS+=($!)
  ip netns exec $V python3 "$HERE/peers.py" ntp-server 10.77.0.3 >/dev/null 2>&1 & PIDS+=($!)
  # A UDP "C2 server" that answers every datagram (the UDP beacon's peer).
  ip netns exec $V python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('10.77.0.3', 5300))
while True:
    d, a = s.recvfrom(2048); s.sendto(b'ok' + d[:32], a)" >/dev/null 2>&1 & PIDS+=($!)
  # Key login for the successful-ssh part of the benign traffic.
  mkdir -p /home/nwe2e/.ssh; ssh-keygen -q -t ed25519 -N '' -f "$WORK/userkey" <<<y >/dev/null 2>&1 || true
  cp "$WORK/userkey.pub" /home/nwe2e/.ssh/authorized_keys; chown -R nwe2e /home/nwe2e; chmod 700 /home/nwe2e/.ssh
  sleep 1
}

# capture NAME CMD... : record the victim's interface while CMD runs in the attacker namespace
# (at most CAPTURE_LIMIT seconds, default 600: the slowest, nmap -T1, takes 4.5 minutes; a
# command still running then is killed and reported).
capture() {
  local name=$1; shift
  local f=$WORK/$name.pcap rc=0 t0
  ip netns exec $V tcpdump -q -i nwe2e-v -s "${SNAPLEN:-512}" -U -w "$f" >/dev/null 2>&1 & local tp=$!
  sleep 1
  t0=$SECONDS
  timeout -k 5 "${CAPTURE_LIMIT:-600}" ip netns exec $A "$@" >"$WORK/$name.out" 2>&1 || rc=$?
  # (124 is also what a command ended by its own `timeout N` returns: the clock tells them apart)
  if [ $((SECONDS - t0)) -ge "${CAPTURE_LIMIT:-600}" ]; then
    # (a subshell: the failure is kept in a file the verdict reads)
    say "FAIL capture $name: still running after ${CAPTURE_LIMIT:-600} s, killed ($*)" | tee -a "$WORK/failures" >&2
  fi
  sleep 2
  stop_pid $tp INT >&2 || true
  echo "$f"
}

# replay FILE: the EVE lines of `netwatch replay FILE`, bounded (a capture replays in seconds).
replay() {
  local rc=0
  timeout -k 5 120 "$NW" replay "$1" || rc=$?
  [ "$rc" = 0 ] || say "FAIL netwatch replay $(basename "$1") exited $rc (124: ran over 120 s)" | tee -a "$WORK/failures" >&2
}

# expect FILE RULE SRC DST [DPORT] : replay FILE, require RULE with that attacker and victim
# (and destination port).
expect() {
  local f=$1 rule=$2 src=$3 dst=$4 dport=${5:-*}
  local out; out=$(replay "$f")
  if echo "$out" | python3 -c "
import sys, json
rule, src, dst, dport = '$rule', '$src', '$dst', '$dport'
alerts = [json.loads(l) for l in sys.stdin if l.strip()]
hits = [a for a in alerts if a['netwatch']['rule'] == rule and src in ('*', a['src_ip']) and dst in ('*', a['dest_ip'])
        and dport in ('*', str(a.get('dest_port')))]
sys.exit(0 if hits else 1)"; then
    say "ok   $(basename "$f"): $rule $src -> $dst${5:+ port $5}"
  else
    say "FAIL $(basename "$f"): expected $rule $src -> $dst${5:+ port $5}, got:"; echo "$out" | python3 -c "
import sys, json
for a in (json.loads(l) for l in sys.stdin if l.strip()): print('   ', a['netwatch']['rule'], a['src_ip'], '->', a['dest_ip'], a['netwatch']['summary'])"
    fail=1
  fi
}

# absent FILE RULE : replay FILE, require no alert of RULE.
absent() {
  local out; out=$(replay "$1" | grep "\"rule\":\"$2\"" || true)
  if [ -z "$out" ]; then say "ok   $(basename "$1"): no $2"; else
    say "FAIL $(basename "$1"): raised $2:"; echo "$out" | head -3; fail=1; fi
}

# one_incident FILE FAMILY SRC MIN : replay FILE; the alerts of rule family FAMILY (`portscan`
# takes both scan rules) from SRC are at least MIN and all belong to one incident.
one_incident() {
  local out; out=$(replay "$1")
  if echo "$out" | python3 -c "
import sys, json
fam, src, least = '$2', '$3', int('$4')
a = [json.loads(l) for l in sys.stdin if l.strip()]
a = [x for x in a if x['src_ip'] == src and x['netwatch']['rule'] in (fam, fam + '.vertical', fam + '.horizontal')]
ids = sorted({x['netwatch']['incident_id'] for x in a})
print(len(a), 'alerts, incidents', ids)
sys.exit(0 if len(a) >= least and len(ids) == 1 else 1)" > "$WORK/incidents.out"; then
    say "ok   $(basename "$1"): $2 from $3: $(cat "$WORK/incidents.out")"
  else
    say "FAIL $(basename "$1"): $2 from $3 is not one incident of $4+ alerts: $(cat "$WORK/incidents.out")"; fail=1
  fi
}

# quiet FILE : replay FILE, require no alert at all.
quiet() {
  local out; out=$(replay "$1")
  if [ -z "$out" ]; then say "ok   $(basename "$1"): no alerts"; else
    say "FAIL $(basename "$1"): benign traffic raised:"; echo "$out" | python3 -c "
import sys, json
for a in (json.loads(l) for l in sys.stdin if l.strip()): print('   ', a['netwatch']['rule'], a['src_ip'], '->', a['dest_ip'], a['netwatch']['summary'])"; fail=1; fi
}

beacon() { # period jitter count: curl the victim's web server like an implant
  python3 - "$@" <<'PY'
import random, subprocess, sys, time
period, jitter, count = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
random.seed(7)
# Check-ins at scheduled times, so that the intervals are the drawn ones: on a loaded machine
# curl's own start-up would otherwise add jitter beyond what the test means to send.
due = time.monotonic()
for i in range(count):
    subprocess.run(["curl", "-s", "-o", "/dev/null", "http://10.77.0.3:8443/p1.html"])
    due += period * (1 + random.uniform(-jitter, jitter))
    time.sleep(max(0.0, due - time.monotonic()))
PY
}

cobalt() { # tcp|udp period jitter count: Cobalt Strike's sleep, uniform in [(1-j)·T, T]
  python3 - "$@" <<'PY'
import random, socket, subprocess, sys, time
kind, period, jitter, count = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
random.seed(11)
due = time.monotonic()  # scheduled check-ins, as in beacon(): the drawn sleeps are the intervals
for i in range(count):
    if kind == "tcp":
        subprocess.run(["curl", "-s", "-o", "/dev/null", "http://10.77.0.3:8443/p2.html"])
    else:  # a fresh socket (and source port) per check-in, as implants do
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
        s.sendto(b"checkin %d" % i, ("10.77.0.3", 5300))
        try: s.recv(64)
        except OSError: pass
        s.close()
    due += period * (1 - jitter * random.random())
    time.sleep(max(0.0, due - time.monotonic()))
PY
}

browse() { # seconds: a person browsing the web server and downloading
  python3 - "$1" <<'PY'
import random, subprocess, sys, time
end = time.time() + float(sys.argv[1])
random.seed(3)
while time.time() < end:
    n = random.randint(1, 6)
    procs = [subprocess.Popen(["curl", "-s", "-o", "/dev/null", f"http://10.77.0.2:8080/p{random.randint(1,20)}.html"]) for _ in range(n)]
    for p in procs: p.wait()
    if random.random() < 0.1:
        subprocess.run(["curl", "-s", "-o", "/dev/null", "http://10.77.0.2:8080/big.bin"])
    time.sleep(random.expovariate(1 / 4.0))
PY
}

setup
export -f beacon cobalt browse

# live: `netwatch run` capturing in the victim namespace; SIGHUP applies a new allowlist,
# refuses a broken file (the old settings stay); SIGTERM flushes and exits 0.
live() {
  local cfg=$WORK/live.toml
  printf '[capture]\ninterfaces = ["nwe2e-v"]\n[store]\npath = "%s/live/netwatch.db"\n[syslog]\ntarget = "off"\n' "$WORK" > "$cfg"
  ip netns exec $V "$NW" run -c "$cfg" > "$WORK/live.out" 2> "$WORK/live.err" & local np=$!
  sleep 2
  ip netns exec $A nmap -n -Pn -sS -T4 -p 1-100 10.77.0.2 >/dev/null 2>&1 || true
  printf '[capture]\ninterfaces = ["nwe2e-v"]\n[store]\npath = "%s/live/netwatch.db"\n[syslog]\ntarget = "off"\n[rules.portscan]\nallow_src = ["10.77.0.1/32"]\n' "$WORK" > "$cfg"
  kill -HUP $np; sleep 1
  ip netns exec $A nmap -n -Pn -sS -T4 -p 1-100 10.77.0.3 >/dev/null 2>&1 || true
  echo 'nonsense = 1' > "$cfg"; kill -HUP $np; sleep 1
  ip netns exec $A nmap -n -Pn -sS -T4 -p 101-200 10.77.0.3 >/dev/null 2>&1 || true
  local rc=0; stop_pid $np TERM 20 || rc=$?
  local n; n=$(grep -c '"rule":"portscan.vertical"' "$WORK/live.out" || true)
  if [ "$rc" = 0 ] && [ "$n" = 1 ] && grep -q '"dest_ip":"10.77.0.2"' "$WORK/live.out" \
     && grep -q 'reload refused' "$WORK/live.err" && grep -q '"counters"' "$WORK/live.err"; then
    say "ok   live run: scan caught, SIGHUP allowlist applied, broken reload refused, SIGTERM flushed"
  else
    say "FAIL live run (exit $rc, $n scan alerts)"; cat "$WORK/live.err"; fail=1
  fi
}

# discovery: a phone searching for cast targets (SSDP from a fresh port every second and from
# one socket every 6 s, mDNS legacy-unicast questions from fresh ports) while a UPnP
# responder and avahi-daemon on the victim answer each by unicast. Answers are not probes
# and periodic answers are not beacons: no alert. The capture must hold the answers.
discovery() {
  ip netns exec $V python3 "$HERE/peers.py" ssdp-responder 10.77.0.2 >/dev/null 2>&1 & PIDS+=($!)
  printf '[server]\nhost-name=nwe2e-tv\nuse-ipv4=yes\nuse-ipv6=no\nallow-interfaces=nwe2e-v\nenable-dbus=no\nratelimit-burst=10000\n[publish]\npublish-addresses=yes\npublish-workstation=no\npublish-hinfo=no\n' > "$WORK/avahi.conf"
  # A private /run for avahi's pid file: a host's own avahi-daemon, if any, is untouched.
  ip netns exec $V unshare -m sh -c "mount -t tmpfs tmpfs /run && mkdir -p /run/avahi-daemon && exec avahi-daemon -f '$WORK/avahi.conf' --no-drop-root --no-chroot --no-rlimits" \
    >"$WORK/avahi.log" 2>&1 & local av=$!
  PIDS+=("$av")
  wait_for 20 grep -q "Server startup complete" "$WORK/avahi.log" || { say "FAIL avahi-daemon did not start"; cat "$WORK/avahi.log"; fail=1; return; }
  local f; f=$(capture discovery python3 "$HERE/peers.py" discovery 60 10.77.0.1)
  local ssdp mdns
  ssdp=$(tcpdump -nr "$f" 'src host 10.77.0.2 and udp src port 1900 and dst host 10.77.0.1' 2>/dev/null | wc -l)
  mdns=$(tcpdump -nr "$f" 'udp src port 5353 and dst host 10.77.0.1' 2>/dev/null | wc -l)
  if [ "$ssdp" -ge 50 ] && [ "$mdns" -ge 20 ]; then
    say "ok   discovery: $ssdp SSDP and $mdns mDNS unicast answers to the phone captured"
  else
    say "FAIL discovery: only $ssdp SSDP and $mdns mDNS unicast answers captured"; tail -5 "$WORK/avahi.log"; tcpdump -nr "$f" 2>/dev/null | head -20; fail=1
  fi
  quiet "$f"
  stop_pid "$av" TERM 5 >/dev/null || true
}

# scan-delay: nmap with --scan-delay 4s re-probes a closed port to time the target; those
# regular probes are the scan's, not a beacon's.
scan_delay() {
  local f; f=$(capture nmap-scan-delay nmap -n -Pn -sS --scan-delay 4s -p 20-35 10.77.0.2)
  expect "$f" portscan.vertical 10.77.0.1 10.77.0.2
  absent "$f" c2.beacon
}

# weblogin: hydra's http-get with 60 wrong passwords against a basic-auth page on a port no
# rule lists is a brute force; a person mistyping twice and then loading the page with its
# twenty images is not.
weblogin() {
  ip netns exec $V python3 "$HERE/peers.py" basic-auth-server 10.77.0.2 8090 >/dev/null 2>&1 & PIDS+=($!)
  wait_for 10 ip netns exec $A curl -s -o /dev/null http://10.77.0.2:8090/ || { say "FAIL the basic-auth server did not start"; fail=1; return; }
  seq -f 'wrong%03g' 1 60 > "$WORK/pw60.txt"
  expect "$(capture hydra-http-get hydra -l admin -P "$WORK/pw60.txt" -t 4 http-get://10.77.0.2:8090/)" bruteforce 10.77.0.1 10.77.0.2 8090
  absent "$(capture http-mistyped python3 "$HERE/peers.py" browse-with-password 10.77.0.2:8090)" bruteforce
}

# devices: the inventory learnt from the LAN's own chatter by `netwatch run` on the "router"
# (the victim namespace): dnsmasq leases an address to a DHCP client that calls itself
# kitchen-pi with Android's vendor class (busybox udhcpc in the other namespace) and sends
# IPv6 router advertisements (the client takes SLAAC and privacy addresses), avahi announces
# the router's own name, a UPnP responder answers searches. The API lists both devices with
# what each told; a scan from the client is an alert that names it; the client moves to
# another address (still kitchen-pi) and then changes its MAC (a new, randomized device);
# a name given through PATCH /api/devices is stored at once and still there after a
# restart; `netwatch devices` lists what was stored.
devices() {
  local dir=$WORK/devices cfg=$WORK/devices.toml api=http://127.0.0.1:18787
  mkdir -p "$dir"; chmod 777 "$dir"
  printf '[capture]\ninterfaces = ["nwe2e-v"]\n[store]\npath = "%s/netwatch.db"\n[syslog]\ntarget = "off"\n[web]\nlisten = ["127.0.0.1:18787"]\ntoken = "e2e-devices-token"\n' "$dir" > "$cfg"
  local auth="Authorization: Bearer e2e-devices-token"
  local client router
  client=$(ip -n $A link show nwe2e-a | awk '/link\/ether/{print $2}')
  router=$(ip -n $V link show nwe2e-v | awk '/link\/ether/{print $2}')
  # Fresh neighbour caches: the addresses are learnt from ARP, which earlier tests' cached
  # entries would spare both ends for minutes.
  ip -n $A neigh flush dev nwe2e-a; ip -n $V neigh flush dev nwe2e-v
  # The client takes addresses from router advertisements, and privacy addresses first.
  ip netns exec $A sysctl -qw net.ipv6.conf.nwe2e-a.accept_ra=2 net.ipv6.conf.nwe2e-a.use_tempaddr=2
  ip netns exec $V dnsmasq --no-daemon --port=0 --interface=nwe2e-v --bind-interfaces \
    --dhcp-range=10.77.0.100,10.77.0.150,1h --dhcp-leasefile="$WORK/dnsmasq.leases" \
    --enable-ra --dhcp-range=::,constructor:nwe2e-v,ra-only --ra-param=nwe2e-v,4 \
    --pid-file="$WORK/dnsmasq.pid" >"$WORK/dnsmasq.log" 2>&1 & local dm=$!
  PIDS+=("$dm")
  ip netns exec $V python3 "$HERE/peers.py" ssdp-responder 10.77.0.2 >/dev/null 2>&1 & PIDS+=($!)
  printf '[server]\nhost-name=nwe2e-tv\nuse-ipv4=yes\nuse-ipv6=no\nallow-interfaces=nwe2e-v\nenable-dbus=no\n[publish]\npublish-addresses=yes\npublish-workstation=no\npublish-hinfo=no\n' > "$WORK/avahi-dev.conf"
  ip netns exec $V unshare -m sh -c "mount -t tmpfs tmpfs /run && mkdir -p /run/avahi-daemon && exec avahi-daemon -f '$WORK/avahi-dev.conf' --no-drop-root --no-chroot --no-rlimits" \
    >"$WORK/avahi-dev.log" 2>&1 & local av=$!
  PIDS+=("$av")
  ip netns exec $V "$NW" run -c "$cfg" >"$WORK/devices.out" 2>"$WORK/devices.err" & local np=$!
  wait_for 20 ip netns exec $V curl -sf -H "$auth" "$api/healthz" -o /dev/null || { say "FAIL devices: the daemon's web API did not come up"; cat "$WORK/devices.err"; fail=1; return; }
  wait_for 20 grep -q "Server startup complete" "$WORK/avahi-dev.log" || { say "FAIL devices: avahi-daemon did not start"; fail=1; return; }
  # The client's DHCP exchange (its address is not configured: the lease on the wire is
  # what counts), then searches that avahi and the UPnP responder answer.
  timeout -k 2 30 ip netns exec $A busybox udhcpc -i nwe2e-a -q -n -t 5 -T 2 -s /bin/true \
    -x hostname:kitchen-pi -V android-dhcp-14 >"$WORK/udhcpc.log" 2>&1 || { say "FAIL devices: no DHCP lease"; cat "$WORK/udhcpc.log" "$WORK/dnsmasq.log"; fail=1; }
  timeout -k 2 30 ip netns exec $A python3 "$HERE/peers.py" discovery 8 10.77.0.1 >/dev/null 2>&1 || true
  ip netns exec $A ping -c 2 -W 1 10.77.0.2 >/dev/null 2>&1 || true
  # Once the router's address is known (ARP), a question from a resolver on 5353: avahi's
  # answer goes to the group (its start-up announcements may have come before any ARP).
  timeout -k 2 10 ip netns exec $A python3 "$HERE/peers.py" mdns-query 10.77.0.1 nwe2e-tv.local >/dev/null 2>&1 || true
  local body
  got() { # got MAC PY-EXPRESSION EXPECTED : the API's device MAC (as `d`) gives that value
    body=$(ip netns exec $V curl -sf -H "$auth" "$api/api/devices/$1") || return 1
    [ "$(printf '%s' "$body" | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)")" = "$3" ]
  }
  wait_for 15 got "$client" "d['name']" kitchen-pi \
    && check "devices: the DHCP client is kitchen-pi, a phone by its vendor class, at its leased address" \
       got "$client" "(d['kind'], d['kind_evidence'], any(a.startswith('10.77.0.1') and a != '10.77.0.1' for a in d['addresses']))" "('phone', 'dhcp vendor class', True)" \
    || { say "FAIL devices: the client is not in the inventory as kitchen-pi: $body"; fail=1; }
  wait_for 15 got "$router" "d['name']" nwe2e-tv \
    && check "devices: the router named itself nwe2e-tv over mDNS, is a router by its advertisements, and its UPnP answers are kept" \
       got "$router" "(d['name_source'], d['kind'], d['kind_evidence'], d['upnp_server'])" "('mdns', 'router', 'sends IPv6 router advertisements', 'Linux/6.1 UPnP/1.0 nwe2e-gw/1.0')" \
    || { say "FAIL devices: the router is not in the inventory as nwe2e-tv: $body"; fail=1; }
  # IPv6: the client's privacy address (from the router's advertised prefix) in use.
  local tmp=""
  wait_for 15 bash -c "ip -n $A -6 addr show dev nwe2e-a temporary | grep -v tentative | grep -q 'inet6 fd77:'" \
    && tmp=$(ip -n $A -6 addr show dev nwe2e-a temporary | awk '/inet6 fd77:/{sub(/\/.*/, "", $2); print $2; exit}')
  if [ -n "$tmp" ]; then
    ip -n $A neigh flush dev nwe2e-a
    ip netns exec $A ping -6 -c 2 -W 1 -I "$tmp" fd77::2 >/dev/null 2>&1 || true
    wait_for 10 got "$client" "'$tmp' in d['addresses']" True \
      && say "ok   devices: the client's IPv6 privacy address ($tmp, from the router's advertisement) is in its device" \
      || { say "FAIL devices: the privacy address $tmp is not the client's: $body"; fail=1; }
  else
    say "FAIL devices: the client took no privacy address from the router's advertisements"; ip -n $A -6 addr show dev nwe2e-a; fail=1
  fi
  # An alert names the device that scanned.
  ip netns exec $A nmap -n -Pn -sS -T4 -p 1-200 10.77.0.2 >/dev/null 2>&1 || true
  alert_names() {
    body=$(ip netns exec $V curl -sf -H "$auth" "$api/api/alerts?rule=portscan.vertical") || return 1
    printf '%s' "$body" | python3 -c "import json,sys; a=json.load(sys.stdin); a=a.get('alerts', a) if isinstance(a, dict) else a; sys.exit(not any((x.get('src_device') or {}).get('name') == 'kitchen-pi' for x in a))"
  }
  wait_for 15 alert_names \
    && say "ok   devices: the scan's alert names its source device (kitchen-pi)" \
    || { say "FAIL devices: no scan alert naming kitchen-pi: $body"; fail=1; }
  # The client moves to another address: the same device, the new address first.
  ip -n $A addr add 10.77.0.77/24 dev nwe2e-a
  ip netns exec $A ping -c 2 -W 1 -I 10.77.0.77 10.77.0.2 >/dev/null 2>&1 || true
  wait_for 10 got "$client" "(d['addresses'][0], d['name'])" "('10.77.0.77', 'kitchen-pi')" \
    && say "ok   devices: the client on a new address (10.77.0.77) is the same device" \
    || { say "FAIL devices: after the address change: $body"; fail=1; }
  ip -n $A addr del 10.77.0.77/24 dev nwe2e-a
  # The client changes its MAC (as a phone's per-network randomization does) and asks for a
  # lease again: a new device, said to be randomized; the old one stays.
  local newmac=02:4e:57:e2:e2:0b
  ip -n $A link set nwe2e-a address $newmac
  timeout -k 2 30 ip netns exec $A busybox udhcpc -i nwe2e-a -q -n -t 5 -T 2 -s /bin/true \
    -x hostname:kitchen-pi -V android-dhcp-14 >>"$WORK/udhcpc.log" 2>&1 || true
  wait_for 15 got "$newmac" "(d['name'], d['randomized_mac'])" "('kitchen-pi', True)" \
    && check "devices: after a MAC change the client is a new, randomized device, and the old one is kept" \
       got "$client" "d['name']" kitchen-pi \
    || { say "FAIL devices: after the MAC change: $body"; fail=1; }
  ip -n $A link set nwe2e-a address "$client"
  ip -n $A neigh flush dev nwe2e-a; ip -n $V neigh flush dev nwe2e-v
  # A second machine on the client's side (a macvlan with its own MAC and link-local
  # address) asks for an IPv6 lease with ISC dhclient, giving its name as a client FQDN:
  # its first words on the LAN, so its DUID names the device.
  local laptop=3c:22:fb:e2:e2:0c
  ip -n $A link add link nwe2e-a name nwe2e-m address $laptop type macvlan mode bridge
  ip -n $A link set nwe2e-m up
  printf 'send fqdn.fqdn "study-laptop.home.";\nsend fqdn.server-update off;\n' > "$WORK/dhclient6.conf"
  wait_for 10 bash -c "ip -n $A -6 addr show dev nwe2e-m scope link | grep -v tentative | grep -q inet6" || true
  timeout -k 2 8 ip netns exec $A dhclient -6 -d -v -cf "$WORK/dhclient6.conf" -lf "$WORK/dhclient6.leases" \
    -pf "$WORK/dhclient6.pid" -sf /bin/true nwe2e-m >"$WORK/dhclient6.log" 2>&1 || true
  wait_for 10 got "$laptop" "(d['name'], d['name_source'], any(a.startswith('fe80:') for a in d['addresses']))" "('study-laptop', 'dhcp', True)" \
    && say "ok   devices: ISC dhclient's DHCPv6 FQDN names the new machine study-laptop, with its link-local address" \
    || { say "FAIL devices: the DHCPv6 client is not study-laptop: $body"; tail -5 "$WORK/dhclient6.log"; fail=1; }
  ip -n $A link del nwe2e-m
  # A user's label, then a restart.
  ip netns exec $V curl -sf -X PATCH -H "$auth" -H 'Content-Type: application/json' \
    -d '{"name":"Home router"}' "$api/api/devices/$router" -o /dev/null || { say "FAIL devices: PATCH refused"; fail=1; }
  wait_for 10 got "$router" "d['name']" "Home router" || { say "FAIL devices: the label did not apply: $body"; fail=1; }
  stop_pid $np TERM 20 || { say "FAIL devices: the daemon did not stop cleanly"; fail=1; }
  local listed; listed=$("$NW" devices --db "$dir/netwatch.db" 2>&1 || true)
  if printf '%s' "$listed" | grep -q "^${router}[* ] .*Home router" && printf '%s' "$listed" | grep -q "^${client}[* ] *phone *kitchen-pi"; then
    say "ok   devices: netwatch devices lists the stored inventory with the user's label"
  else
    say "FAIL devices: netwatch devices says: $listed"; fail=1
  fi
  ip netns exec $V "$NW" run -c "$cfg" >>"$WORK/devices.out" 2>>"$WORK/devices.err" & np=$!
  wait_for 20 ip netns exec $V curl -sf -H "$auth" "$api/healthz" -o /dev/null || { say "FAIL devices: no restart"; fail=1; }
  wait_for 5 got "$router" "(d['name'], d['name_source'])" "('Home router', 'user')" \
    && say "ok   devices: after a restart the label and what was learnt are back" \
    || { say "FAIL devices: after a restart: $body"; fail=1; }
  stop_pid $np TERM 20 || true
  stop_pid $av TERM 5 >/dev/null || true
  stop_pid $dm TERM 5 >/dev/null || true
  # Leave the client's IPv6 as the other tests expect it: no advertised addresses or routes.
  ip netns exec $A sysctl -qw net.ipv6.conf.nwe2e-a.accept_ra=0 net.ipv6.conf.nwe2e-a.use_tempaddr=0
  ip -n $A -6 addr flush dev nwe2e-a dynamic
  ip -n $A -6 route flush proto ra 2>/dev/null || true
}

# notify: `netwatch run` on the "router" tells webhook receivers on its loopback about what
# it catches: ntfy (plain HTTP, a bearer token), Slack over HTTPS with a test CA of our own,
# a JSON webhook for port scans only, a Gotify that answers 500 and a Discord that never
# answers (tried again, counted, nobody else held up). The hour's budget is two messages:
# a third alert waits for the digest (digest_s = 60).
notify_peers() {
  local dir=$WORK/notify api=http://127.0.0.1:18789 auth="Authorization: Bearer e2e-notify-token"
  mkdir -p "$dir"; chmod 777 "$dir"
  test_ca "$dir" || { say "FAIL notify: openssl could not make the test certificates"; fail=1; return; }
  local spec port kind status
  for spec in 18911:ntfy:200 18912:slack:200 18913:gotify:500 18914:discord:hang 18915:webhook:200; do
    IFS=: read -r port kind status <<<"$spec"
    local tls=()
    [ "$kind" = slack ] && tls=("$dir/srv.pem" "$dir/srv.key")
    ip netns exec $V python3 "$HERE/peers.py" webhook-receiver 127.0.0.1 "$port" "$status" "$dir/$kind.log" "${tls[@]}" >/dev/null 2>"$dir/$kind.err" & PIDS+=("$!")
  done
  {
    printf '[capture]\ninterfaces = ["nwe2e-v"]\n[store]\npath = "%s/netwatch.db"\n[syslog]\ntarget = "off"\n' "$dir"
    printf '[web]\nlisten = ["127.0.0.1:18789"]\ntoken = "e2e-notify-token"\n'
    printf '[notify]\nmax_per_hour = 2\ndigest_s = 60\ntimeout_s = 2\n'
    printf '[[notify.targets]]\nkind = "ntfy"\nurl = "http://127.0.0.1:18911/home-e2e"\ntoken = "tk_e2e"\n'
    printf '[[notify.targets]]\nkind = "slack"\nurl = "https://127.0.0.1:18912/services/T0/B0/x"\nca_file = "%s/ca.pem"\n' "$dir"
    printf '[[notify.targets]]\nkind = "gotify"\nurl = "http://127.0.0.1:18913"\ntoken = "gotify-app"\n'
    printf '[[notify.targets]]\nkind = "discord"\nurl = "http://127.0.0.1:18914/api/webhooks/1/x"\n'
    printf '[[notify.targets]]\nkind = "webhook"\nurl = "http://127.0.0.1:18915/netwatch"\nrules = ["portscan.vertical"]\n'
  } > "$WORK/notify.toml"
  ip netns exec $V "$NW" run -c "$WORK/notify.toml" >"$WORK/notify.out" 2>"$WORK/notify.err" & local np=$!
  wait_for 20 ip netns exec $V curl -sf -H "$auth" "$api/healthz" -o /dev/null || { say "FAIL notify: the daemon did not come up"; cat "$WORK/notify.err"; fail=1; return; }
  # Port scans from two addresses (the two messages of the hour), then a SYN flood (held for
  # the digest).
  ip netns exec $A nmap -n -Pn -sS -T4 -p 1-200 10.77.0.2 >/dev/null 2>&1 || true
  ip -n $A addr add 10.77.0.9/24 dev nwe2e-a
  ip netns exec $A nmap -S 10.77.0.9 -e nwe2e-a -n -Pn -sS -T4 -p 1-200 10.77.0.2 >/dev/null 2>&1 || true
  ip -n $A addr del 10.77.0.9/24 dev nwe2e-a
  sleep 2
  timeout -k 2 8 ip netns exec $A hping3 -S -p 80 --flood 10.77.0.2 >/dev/null 2>&1 || true
  nstat() { ip netns exec $V curl -sf -H "$auth" "$api/api/stats" | python3 -c "import json,sys; o=json.load(sys.stdin)['sinks']; print(o.get('$1', -1))"; }
  heard() { # heard TARGET PY-CONDITION-ON-r : a request the receiver logged meets it
    [ -s "$dir/$1.log" ] && python3 -c "
import json, sys
rows = [json.loads(l) for l in open('$dir/$1.log')]
sys.exit(0 if any($2 for r in rows) else 1)"
  }
  wait_for 30 heard ntfy "'port scan from 10.77.0.1' in json.loads(r['body'])['title'] and r['auth'] == 'Bearer tk_e2e' and r['path'] == '/'" \
    && say "ok   notify: ntfy got the scan (JSON to the server's root, topic in the body, the bearer token)" \
    || { say "FAIL notify: ntfy: $(head -3 "$dir/ntfy.log" 2>/dev/null)"; fail=1; }
  wait_for 30 heard slack "json.loads(r['body'])['text'].startswith('*NetWatch: port scan from 10.77.0.1*')" \
    && say "ok   notify: Slack over HTTPS with the test CA (through curl) got the scan" \
    || { say "FAIL notify: slack over https: $(cat "$dir/slack.log" "$dir/slack.err" 2>/dev/null | head -5)"; tail -5 "$WORK/notify.err"; fail=1; }
  if wait_for 30 heard webhook "json.loads(r['body'])['netwatch']['rule'] == 'portscan.vertical'" \
     && ! heard webhook "json.loads(r['body'])['netwatch']['rule'] != 'portscan.vertical'"; then
    say "ok   notify: the JSON webhook got the scan's EVE record, and nothing outside its rules"
  else
    say "FAIL notify: webhook: $(head -3 "$dir/webhook.log" 2>/dev/null)"; fail=1
  fi
  local counted=0
  wait_for 30 bash -c "$(declare -f nstat); V=$V api=$api auth='$auth'; [ \$(nstat notify_retried) -ge 2 ] && [ \$(nstat notify_held) -ge 1 ]" && counted=1
  if [ $counted = 1 ]; then
    say "ok   notify: Gotify's 500 and Discord's silence are tried again and counted; the third alert waits for the digest"
  else
    say "FAIL notify: counters $(ip netns exec $V curl -s -H "$auth" "$api/api/stats")"; fail=1
  fi
  if wait_for 90 heard ntfy "'more alert' in json.loads(r['body'])['message'] and 'synflood' in json.loads(r['body'])['message']"; then
    say "ok   notify: the digest names the held alert: $(grep -m1 'more alert' "$dir/ntfy.log" | python3 -c "import json,sys; print(json.loads(json.loads(sys.stdin.read())['body'])['message'])")"
  else
    say "FAIL notify: no digest: $(tail -2 "$dir/ntfy.log")"; fail=1
  fi
  check "notify: the daemon answers and stored every alert meanwhile" bash -c \
    "ip netns exec $V curl -sf -H '$auth' '$api/healthz' -o /dev/null && '$NW' alerts --db '$dir/netwatch.db' | grep -q synflood"
  stop_pid $np TERM 20 || { say "FAIL notify: the daemon did not stop cleanly"; fail=1; }
}

if [ "$MODE" = notify ]; then
  notify_peers
elif [ "$MODE" = mqtt ]; then
  mqtt_peers
elif [ "$MODE" = devices ]; then
  devices
elif [ "$MODE" = discovery ]; then
  discovery
elif [ "$MODE" = weblogin ]; then
  weblogin
elif [ "$MODE" = scan-delay ]; then
  scan_delay
elif [ "$MODE" = ci ]; then
  live
  devices
  notify_peers
  mqtt_peers
  discovery
  scan_delay
  weblogin
  for scan in -sS -sT -sF -sX -sN -sA; do
    expect "$(capture nmap$scan nmap -n -Pn $scan -T4 -p 1-300 10.77.0.2)" portscan.vertical 10.77.0.1 10.77.0.2
  done
  expect "$(capture nmap-sU nmap -n -Pn -sU -T4 --min-rate 200 --max-retries 1 -p 1-300 10.77.0.2)" portscan.vertical 10.77.0.1 10.77.0.2
  expect "$(capture nmap-6-sS nmap -6 -n -Pn -sS -T4 -p 1-300 fd77::2)" portscan.vertical fd77::1 fd77::2
  expect "$(capture nmap-T3-sS nmap -n -Pn -sS -p 1-1000 10.77.0.2)" portscan.vertical 10.77.0.1 10.77.0.2
  # One scan of two hosts: a vertical alert on each, one incident.
  one_incident "$(capture nmap-two-hosts nmap -n -Pn -sS -T4 -p 1-200 10.77.0.2 10.77.0.3)" portscan 10.77.0.1 2
  expect "$(capture nmap-sn-routed nmap -n -sn -T4 10.78.0.0/24)" portscan.horizontal 10.77.0.1 '*'
  expect "$(capture nmap-sn-arp nmap -n -sn -T4 10.77.0.0/24)" portscan.horizontal 10.77.0.1 '*'
  expect "$(capture nmap-p22-sweep nmap -n -Pn -p 22 -T4 10.78.0.0/24)" portscan.horizontal 10.77.0.1 '*'
  expect "$(capture hping3-flood timeout -k 2 3 hping3 --flood -S -p 80 10.77.0.2)" synflood 10.77.0.1 10.77.0.2
  expect "$(capture hping3-spoofed timeout -k 2 3 hping3 --flood -S --rand-source -p 8080 10.77.0.2)" synflood '*' 10.77.0.2 || true
  printf '%s\n' $(seq -f 'wrong%03g' 1 40) correct-horse-battery > "$WORK/pw.txt"
  expect "$(capture hydra hydra -l nwe2e -P "$WORK/pw.txt" -t 4 -f ssh://10.77.0.2)" bruteforce 10.77.0.1 10.77.0.2
  for t in NULL TXT auto; do
    ip netns exec $V iodined -f -c -P s3cret -l 10.77.0.2 10.99.0.1 t.tunnel.test >/dev/null 2>&1 & ip=$!
    sleep 1
    tt=$t; [ "$t" = auto ] && tt=""
    f=$(capture iodine-$t bash -c "timeout -k 2 25 iodine -f -r ${tt:+-T $tt} -P s3cret 10.77.0.2 t.tunnel.test & sleep 12; ping -c 20 -i 0.2 10.99.0.1 >/dev/null; wait")
    stop_pid $ip || true
    expect "$f" dns.tunnel 10.77.0.1 10.77.0.2
  done
  # dns2tcp beside iodine: TCP carried in TXT queries, here to an echo service behind dns2tcpd.
  ip netns exec $V python3 -c "
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('10.77.0.2', 7777)); s.listen(5)
def echo(c):
    while (d := c.recv(4096)): c.sendall(d)
while True: threading.Thread(target=echo, args=(s.accept()[0],), daemon=True).start()" >/dev/null 2>&1 & PIDS+=($!)
  printf 'listen = 10.77.0.2\nport = 53\nuser = nobody\nchroot = /tmp\ndomain = d.tunnel.test\nresources = echo:10.77.0.2:7777\n' > "$WORK/dns2tcpd.conf"
  ip netns exec $V dns2tcpd -F -f "$WORK/dns2tcpd.conf" >/dev/null 2>&1 & d2t=$!
  sleep 1
  f=$(capture dns2tcp timeout -k 2 40 bash -c "dns2tcpc -z d.tunnel.test -r echo -l 4444 10.77.0.2 >/dev/null 2>&1 & sleep 2
    head -c 24000 /dev/urandom | base64 | timeout -k 2 30 python3 -c '
import socket, sys
s = socket.create_connection((\"127.0.0.1\", 4444)); d = sys.stdin.buffer.read(); s.sendall(d); s.settimeout(20); n = 0
while n < len(d) and (r := s.recv(4096)): n += len(r)'; kill %1")
  stop_pid $d2t || true
  expect "$f" dns.tunnel 10.77.0.1 10.77.0.2
  f=$(capture beacon-3s bash -c 'browse 45 & beacon 3 0.1 14; wait')
  expect "$f" c2.beacon 10.77.0.1 10.77.0.3
  # nmap -f: 8-byte fragments, TCP flags only in the second (reassembled). nmap refuses -f
  # with IPv6; IPv6 fragment trains are covered by tests/detectors.rs.
  expect "$(capture nmap-f nmap -n -Pn -sS -f -T4 -p 1-300 10.77.0.2)" portscan.vertical 10.77.0.1 10.77.0.2
  # Slow and jittery, at once (4.5 minutes): nmap -T1 over 17 ports (a probe every 15 s),
  # beacons with 50 % jitter over TCP and UDP (2 s, 22 check-ins), and browsing meanwhile.
  f=$(capture slow-mix bash -c 'nmap -n -Pn -sS -T1 -p 20-25,53,80,110,139,143,443,445,3306,3389,5900,8080 10.77.0.2 & browse 60 & cobalt tcp 2 0.5 22 & cobalt udp 2 0.5 22; wait')
  expect "$f" portscan.vertical 10.77.0.1 10.77.0.2
  expect "$f" c2.beacon 10.77.0.1 10.77.0.3 8443
  expect "$f" c2.beacon 10.77.0.1 10.77.0.3 5300
  quiet "$(capture benign-short bash -c "python3 $HERE/peers.py client 40 & for i in 1 2 3; do ssh -i $WORK/userkey -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes nwe2e@10.77.0.2 true; sleep 5; done; wait")"
  for f in "$HERE"/captures/*.pcap; do
    [ -e "$f" ] || continue
    case "$(basename "$f")" in
      benign-*) quiet "$f" ;;
      nmap-T2*) expect "$f" portscan.vertical 10.77.0.1 10.77.0.2 ;;
      beacon-60s*) expect "$f" c2.beacon 10.77.0.1 10.77.0.3 ;;
    esac
  done
elif [ "$MODE" = record-slow ]; then
  mkdir -p "$HERE/captures"; export SNAPLEN=200   # trimmed: headers and DNS names, not bulk payload
  f=$(capture nmap-T2 nmap -n -Pn -sS -T2 -p 1-150 10.77.0.2); cp "$f" "$HERE/captures/"
  f=$(capture beacon-60s bash -c "python3 $HERE/peers.py client 790 & beacon 60 0.2 13; wait"); cp "$f" "$HERE/captures/"
  f=$(capture benign-5min bash -c "python3 $HERE/peers.py client 300 & for i in \$(seq 1 10); do ssh -i $WORK/userkey -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes nwe2e@10.77.0.2 'ls /'; sleep 25; done; wait"); cp "$f" "$HERE/captures/"
  ls -la "$HERE/captures"
fi
[ -s "$WORK/failures" ] && fail=1
[ "$fail" = 0 ] && say "all passed" || { say "FAILED"; exit 1; }
