#!/usr/bin/env bash
# Same results on every architecture: runs each cross-built binary under qemu-user on
# captures that trigger every rule and cover every link type, and compares its alert lines
# and the deterministic `counters` of its stats byte for byte with the native build. Also
# reports binary sizes (limit 3 MiB with everything in: web server, dashboard, LLM enrichment
# client, reassembly) and, on the MIPS
# targets, peak heap under a flood of 1M spoofed sources (limit 12 MiB).
#
# usage: cross/test-qemu.sh [TARGET ...|all|ci]     (after cross/build.sh for the same targets)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${NETWATCH_XC_OUT:-$ROOT/target/cross}
FX=$ROOT/target/cross/fixtures
TARGETS=()
for a in "$@"; do
  case "$a" in
    all) TARGETS+=(aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf arm-unknown-linux-musleabihf mipsel-unknown-linux-musl mips-unknown-linux-musl x86_64-unknown-linux-musl) ;;
    ci) TARGETS+=(mipsel-unknown-linux-musl mips-unknown-linux-musl aarch64-unknown-linux-musl arm-unknown-linux-musleabihf) ;;
    *) TARGETS+=("$a") ;;
  esac
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(mipsel-unknown-linux-musl mips-unknown-linux-musl)

# qemu binary and CPU model per target: the oldest CPU each build promises to run on.
runner() {
  case "$1" in
    aarch64-*) echo "qemu-aarch64-static -cpu cortex-a53" ;;
    armv7-*) echo "qemu-arm-static -cpu cortex-a7" ;;
    arm-*) echo "qemu-arm-static -cpu arm1176" ;;
    mipsel-*) echo "qemu-mipsel-static -cpu 24Kc" ;;
    mips-*) echo "qemu-mips-static -cpu 24Kc" ;;
    x86_64-*) echo "" ;;
  esac
}

(cd "$ROOT" && cargo build --release --quiet --bin netwatch && cargo run --release --quiet --example demo-capture -- --fixtures "$FX" 2>/dev/null)
NATIVE=$ROOT/target/release/netwatch
LIMIT=$((3 * 1024 * 1024))
fail=0
counters() { sed -n 's/^{"counters":\(.*\),"run":.*/\1/p'; }

for t in "${TARGETS[@]}"; do
  bin=$OUT/$t/netwatch
  if [ ! -x "$bin" ]; then echo "FAIL $t: $bin missing (run cross/build.sh $t)"; fail=1; continue; fi
  size=$(stat -c %s "$bin")
  if [ "$size" -gt "$LIMIT" ]; then
    echo "FAIL $t: binary $size bytes, over 3 MiB"; fail=1
  else
    echo "ok   $t: binary $size bytes ($(( (LIMIT - size) / 1024 )) KiB under 3 MiB)"
  fi
  run=$(runner "$t")
  for f in "$FX"/every-rule*; do
    exp_out=$("$NATIVE" replay "$f" --stats 2>"$OUT/native.err")
    got_out=$($run "$bin" replay "$f" --stats 2>"$OUT/$t.err") || { echo "FAIL $t $(basename "$f"): exit $?"; cat "$OUT/$t.err"; fail=1; continue; }
    if [ "$exp_out" != "$got_out" ]; then
      echo "FAIL $t $(basename "$f"): alert lines differ"; { diff <(echo "$exp_out") <(echo "$got_out") | head -5 || true; }; fail=1; continue
    fi
    if [ "$(counters < "$OUT/native.err")" != "$(counters < "$OUT/$t.err")" ]; then
      echo "FAIL $t $(basename "$f"): counters differ"; { diff <(counters < "$OUT/native.err") <(counters < "$OUT/$t.err") || true; }; fail=1; continue
    fi
    [ -n "$exp_out" ] || { echo "FAIL $t $(basename "$f"): no alerts at all"; fail=1; continue; }
    echo "ok   $t $(basename "$f"): $(echo "$exp_out" | wc -l) alert lines and counters identical"
  done
  case "$t" in mips*)
    $run "$bin" replay "$FX/flood-1m.pcap" --stats 2>"$OUT/$t.flood" >/dev/null
    heap=$(sed -n 's/.*"peak_heap_bytes":\([0-9]*\).*/\1/p' "$OUT/$t.flood")
    if [ "${heap:-99999999999}" -gt $((12 * 1024 * 1024)) ]; then echo "FAIL $t: peak heap $heap under 1M-source flood"; fail=1
    else echo "ok   $t: peak heap $(awk "BEGIN{printf \"%.2f\", $heap/1048576}") MiB under a 1M-source flood (limit 12 MiB)"; fi
  ;; esac
done
[ "$fail" = 0 ] && echo "cross: all architectures agree" || { echo "cross: FAILED"; exit 1; }
