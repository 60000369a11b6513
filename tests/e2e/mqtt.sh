# shellcheck shell=bash
# shellcheck disable=SC2034 # fail is read by run.sh, which sources this file
# The MQTT peers, sourced by run.sh (its namespaces, `say`, `check`, `wait_for`, `stop_pid`):
# a real mosquitto broker (password file, a plain and a TLS listener with a test CA,
# persistence) in the victim namespace; two sensors publish to it — one over MQTT 3.1.1, one
# over MQTT 5 and TLS — and `mosquitto_sub` (a persistent QoS 1 session) records everything.
# Checked: Home Assistant's discovery configs for each sensor (tests/e2e/ha_discovery.py),
# "online", stats, device messages, an nmap scan's alert on both, "under attack"; the broker
# restarted mid-run with an alert raised while it was down (it arrives afterwards, nothing
# dropped, the reconnection counted); the last will "offline" when a sensor is killed.

mqtt_peers() {
  local dir=$WORK/mqtt pw=e2e-mqtt-pass
  mkdir -p "$dir"; chmod 777 "$dir"
  test_ca "$dir" || { say "FAIL mqtt: openssl could not make the test certificates"; fail=1; return; }
  mosquitto_passwd -b -c "$dir/passwd" e2e "$pw" 2>/dev/null
  chmod 644 "$dir/passwd"
  printf '%s\n' "per_listener_settings false" "allow_anonymous false" "password_file $dir/passwd" \
    "persistence true" "persistence_location $dir/" "log_dest stdout" \
    "listener 18830 127.0.0.1" "listener 18831 127.0.0.1" "certfile $dir/srv.pem" "keyfile $dir/srv.key" \
    > "$dir/mosquitto.conf"
  local bp sub
  broker() {
    ip netns exec $V mosquitto -c "$dir/mosquitto.conf" >>"$dir/broker.log" 2>&1 & bp=$!
    wait_for 15 ip netns exec $V mosquitto_pub -h 127.0.0.1 -p 18830 -u e2e -P "$pw" -t e2e/probe -m up 2>/dev/null
  }
  broker || { say "FAIL mqtt: mosquitto did not start: $(tail -5 "$dir/broker.log")"; fail=1; return; }
  ip netns exec $V mosquitto_sub -h 127.0.0.1 -p 18830 -u e2e -P "$pw" -i e2e-sub -c -q 1 -v \
    -t 'netwatch/#' -t 'homeassistant/#' >"$dir/sub.log" 2>"$dir/sub.err" & sub=$!
  PIDS+=("$sub")
  sleep 1
  {
    printf '[capture]\ninterfaces = ["nwe2e-v"]\n[store]\npath = "%s/main.db"\n[syslog]\ntarget = "off"\n' "$dir"
    printf '[web]\nlisten = ["127.0.0.1:18790"]\ntoken = "e2e-mqtt-token-01"\n'
    printf '[mqtt]\nbroker = "mqtt://127.0.0.1:18830"\nsensor = "e2e-main"\nusername = "e2e"\npassword = "%s"\nkeepalive_s = 10\n' "$pw"
  } > "$WORK/mqtt-main.toml"
  {
    printf '[capture]\ninterfaces = ["nwe2e-v"]\n[store]\npath = ""\n[syslog]\ntarget = "off"\n'
    printf '[web]\nlisten = ["127.0.0.1:18791"]\ntoken = "e2e-mqtt-token-01"\n'
    printf '[mqtt]\nbroker = "mqtts://127.0.0.1:18831"\nsensor = "e2e-tls"\nprotocol = "5"\nusername = "e2e"\npassword = "%s"\nca_file = "%s/ca.pem"\n' "$pw" "$dir"
  } > "$WORK/mqtt-tls.toml"
  local main tls
  ip netns exec $V "$NW" run -c "$WORK/mqtt-main.toml" >/dev/null 2>"$dir/main.err" & main=$!
  ip netns exec $V "$NW" run -c "$WORK/mqtt-tls.toml" >/dev/null 2>"$dir/tls.err" & tls=$!
  PIDS+=("$main" "$tls")
  got() { grep -q -- "$1" "$dir/sub.log"; }   # got REGEX: a line mosquitto_sub printed matches
  mstat() { # mstat PORT KEY: a sinks counter from a sensor's /api/stats
    ip netns exec $V curl -sf -H "Authorization: Bearer e2e-mqtt-token-01" "http://127.0.0.1:$1/api/stats" |
      python3 -c "import json,sys; print(json.load(sys.stdin)['sinks'].get('$2', -1))" 2>/dev/null
  }
  for s in e2e-main e2e-tls; do
    if wait_for 30 got "^netwatch/$s/status online" && wait_for 20 got "^homeassistant/event/netwatch_$s/alert/config "; then
      say "ok   mqtt: $s is online and announced itself to Home Assistant"
    else
      say "FAIL mqtt: $s: $(tail -3 "$dir/$([ $s = e2e-main ] && echo main || echo tls).err")"; fail=1
    fi
  done
  ip netns exec $A nmap -n -Pn -sS -T4 -p 1-200 10.77.0.2 >/dev/null 2>&1 || true
  for s in e2e-main e2e-tls; do
    wait_for 30 got "^netwatch/$s/alert {\"event_type\":\"portscan.vertical\".*\"src_ip\":\"10.77.0.1\"" \
      && say "ok   mqtt: $s published the scan's alert (event_type portscan.vertical, from 10.77.0.1)" \
      || { say "FAIL mqtt: no alert from $s: $(grep -c "^netwatch/$s/" "$dir/sub.log") lines from it"; fail=1; }
  done
  wait_for 30 got '^netwatch/e2e-main/stats {.*"under_attack":"ON"' \
    && say "ok   mqtt: the stats summary says under attack: $(grep -m1 '^netwatch/e2e-main/stats {.*"under_attack":"ON"' "$dir/sub.log" | cut -d' ' -f2-)" \
    || { say "FAIL mqtt: no stats with under_attack ON"; fail=1; }
  wait_for 20 got '^netwatch/e2e-main/device/[0-9a-f]\{12\} {"mac":' \
    && say "ok   mqtt: devices learnt are published ($(grep -c '^netwatch/e2e-main/device/' "$dir/sub.log") device messages)" \
    || { say "FAIL mqtt: no device message"; fail=1; }
  for s in e2e-main e2e-tls; do
    python3 "$HERE/ha_discovery.py" "$dir/sub.log" "$s" | sed "s/^/$E2E: /" || fail=1
  done
  # The broker goes away; an alert is raised meanwhile; the broker comes back.
  stop_pid "$bp" TERM 10 || true
  wait_for 20 bash -c "[ \"\$($(declare -f mstat); V=$V mstat 18790 mqtt_connected)\" = False ]" \
    || { say "FAIL mqtt: the sensor did not notice the broker leaving"; fail=1; }
  ip -n $A addr add 10.77.0.9/24 dev nwe2e-a
  ip netns exec $A nmap -S 10.77.0.9 -e nwe2e-a -n -Pn -sS -T4 -p 1-200 10.77.0.2 >/dev/null 2>&1 || true
  ip -n $A addr del 10.77.0.9/24 dev nwe2e-a
  wait_for 10 bash -c "[ \"\$($(declare -f mstat); V=$V mstat 18790 mqtt_waiting)\" -ge 1 ]" \
    && say "ok   mqtt: while the broker is away the alert waits in the queue ($(mstat 18790 mqtt_waiting) waiting)" \
    || { say "FAIL mqtt: nothing waits while the broker is away"; fail=1; }
  broker || { say "FAIL mqtt: mosquitto did not come back: $(tail -5 "$dir/broker.log")"; fail=1; }
  PIDS+=("$bp")
  if wait_for 60 got '^netwatch/e2e-main/alert {"event_type":"portscan.vertical".*"src_ip":"10.77.0.9"'; then
    say "ok   mqtt: the alert raised while the broker was down arrived after it came back"
  else
    say "FAIL mqtt: the alert from 10.77.0.9 never arrived: stats $(ip netns exec $V curl -s -H 'Authorization: Bearer e2e-mqtt-token-01' http://127.0.0.1:18790/api/stats | head -c 600)"; fail=1
  fi
  if wait_for 10 bash -c "[ \"\$($(declare -f mstat); V=$V mstat 18790 mqtt_connects)\" -ge 2 ]" \
     && [ "$(mstat 18790 mqtt_dropped)" = 0 ]; then
    say "ok   mqtt: the reconnection is counted and nothing was dropped (connects $(mstat 18790 mqtt_connects), dropped 0, errors $(mstat 18790 mqtt_errors))"
  else
    say "FAIL mqtt: connects $(mstat 18790 mqtt_connects), dropped $(mstat 18790 mqtt_dropped)"; fail=1
  fi
  # Killed: the broker publishes the last will. Stopped: the sensor says "offline" itself.
  kill -9 "$main" 2>/dev/null; wait "$main" 2>/dev/null || true
  wait_for 20 got '^netwatch/e2e-main/status offline' \
    && say "ok   mqtt: the broker published e2e-main's last will (offline) when it was killed" \
    || { say "FAIL mqtt: no last will"; fail=1; }
  stop_pid "$tls" TERM 20 || { say "FAIL mqtt: the TLS sensor did not stop cleanly"; fail=1; }
  wait_for 10 got '^netwatch/e2e-tls/status offline' \
    && say "ok   mqtt: e2e-tls said offline as it stopped" || { say "FAIL mqtt: e2e-tls did not say offline"; fail=1; }
  stop_pid "$sub" TERM 5 || true
  stop_pid "$bp" TERM 10 || true
}
