#!/usr/bin/env bash
# The dashboard in Debian's Chromium against the real netwatch (web/test/e2e.js), then a smoke
# run in Debian's Firefox ESR (web/test/firefox.js): builds the
# binary, the demo capture (scans, a flood, brute force, a DNS tunnel, a beacon), a one-packet
# capture, and a database of 10,001 alerts whose newest carries markup in its summary and
# evidence; screenshots go to target/dashboard-e2e/.
#
# usage: tests/e2e/dashboard.sh     (needs chromium, firefox-esr and web/node_modules: .ci/run
#                                    installs them)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
W=$(mktemp -d /tmp/netwatch-dash.XXXXXX)
trap 'rm -rf "$W"' EXIT
E2E=dashboard
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
export NW=$ROOT/target/release/netwatch PORT=${NETWATCH_DASH_PORT:-18788} TOKEN=dash-e2e-token-0123456789
export CFG=$W/netwatch.toml DEMO=$W/demo.pcap EMPTY=$W/empty.pcap LIVEDB=$W/live.db BIGDB=$W/big.db
export SHOTS=$ROOT/target/dashboard-e2e
mkdir -p "$SHOTS"
[ -x "$NW" ] || (cd "$ROOT" && cargo build --release --quiet --bin netwatch)
(cd "$ROOT" && cargo run --release --quiet --example demo-capture -- "$DEMO" >/dev/null 2>&1)
python3 - "$DEMO" "$EMPTY" <<'PY'
import sys
# The pcap header and the first packet of the demo capture.
d = open(sys.argv[1], 'rb').read()
import struct
incl = struct.unpack('<I', d[24 + 8:24 + 12])[0]
open(sys.argv[2], 'wb').write(d[:24 + 16 + incl])
PY
cat > "$CFG" <<CONF
[web]
listen = ["127.0.0.1:$PORT"]
token = "$TOKEN"
[store]
path = "$W/state/netwatch.db"
# The demo capture is stamped 2026-09-21: keep its alerts whatever today's date.
max_age_days = 3650
[syslog]
target = "off"
[eve]
stdout = false
CONF
# The big database: a real replay's schema and alerts, then 10,000 copies and a hostile one.
"$NW" replay "$DEMO" -c "$CFG" --serve --speed 1000000 --db "$BIGDB" >/dev/null 2>"$W/seed.err" & P=$!
wait_for 60 grep -q "replay finished" "$W/seed.err" || { say "FAIL seeding the big database: no \"replay finished\" in 60 s"; cat "$W/seed.err"; exit 1; }
stop_pid $P || true
python3 - "$BIGDB" <<'PY'
import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
cols = [r[1] for r in c.execute("PRAGMA table_info(alerts)")]
row = dict(zip(cols, c.execute("SELECT * FROM alerts WHERE rule = 'dns.tunnel' LIMIT 1").fetchone()))
top = c.execute("SELECT max(id), max(ts) FROM alerts").fetchone()
rows = []
for i in range(1, 10001):
    r = dict(row, id=top[0] + i, ts=top[1] + i * 1000, skey=row['skey'] + i)
    rows.append(tuple(r[k] for k in cols))
bad = '<img src=x onerror=alert(1)>'
eve = json.loads(row['eve'])
eve['netwatch']['summary'] = bad + ' sent 20 queries'
eve['netwatch']['evidence']['sample_names'] = [bad + '.t.tunnel-example.net']
r = dict(row, id=top[0] + 10001, ts=top[1] + 10001 * 1000, summary=bad + ' sent 20 queries', eve=json.dumps(eve),
         explanation=bad + ' sent 20 DNS queries', enrichment='<script>alert(2)</script> a model reply',
         devices='"src_device":' + json.dumps({'mac': 'dc:a6:32:12:34:56', 'name': bad, 'vendor': 'Raspberry Pi', 'kind': 'iot'}))
rows.append(tuple(r[k] for k in cols))
c.executemany("INSERT INTO alerts(%s) VALUES (%s)" % (",".join(cols), ",".join("?" * len(cols))), rows)
c.commit()
PY
cd "$ROOT/web"
timeout -k 10 600 node test/e2e.js
# The same page in Debian's Firefox ESR.
"$NW" replay "$DEMO" -c "$CFG" --serve --speed 50 --db "$W/ff.db" >/dev/null 2>"$W/ff.err" & FP=$!
wait_for 30 curl -sf -m 1 "http://127.0.0.1:$PORT/healthz" >/dev/null || say "FAIL the Firefox run's server did not answer in 30 s"
rc=0
timeout -k 10 300 node test/firefox.js || rc=$?
stop_pid $FP || true
[ "$fail" = 0 ] || rc=1
exit $rc
