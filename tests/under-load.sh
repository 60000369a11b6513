#!/usr/bin/env bash
# The suite with the CPU kept busy by another process, as CI may find the machine.
#
# usage: tests/under-load.sh ci [LOAD]             .ci/run in a fresh clone of HEAD
#        tests/under-load.sh cargo-test N [LOAD]   `cargo test --release` N times in a row here
#
# LOAD is stress-ng's --cpu-load on both cores (default 70: each core 70 % busy for the whole
# run). stress-ng comes from apt. Prints each run's time and exit status; exits non-zero if any
# run failed. The clone is /tmp/netwatch-under-load (removed first).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=${1:-}
case "$MODE" in
  ci) LOAD=${2:-70} ;;
  cargo-test) N=${2:-5}; LOAD=${3:-70} ;;
  *) sed -n '2,10p' "$0" >&2; exit 2 ;;
esac
command -v stress-ng >/dev/null || bash "$ROOT/cross/apt-install.sh" stress-ng
stress-ng --cpu 2 --cpu-load "$LOAD" --timeout 3h --quiet & SP=$!
trap 'kill "$SP" 2>/dev/null || true; wait "$SP" 2>/dev/null || true' EXIT
echo "under-load: stress-ng --cpu 2 --cpu-load $LOAD running (pid $SP)"
rc=0
if [ "$MODE" = ci ]; then
  DIR=/tmp/netwatch-under-load
  rm -rf "$DIR"
  git clone -q "$ROOT" "$DIR"
  echo "under-load: .ci/run in $DIR at $(git -C "$DIR" rev-parse --short HEAD)"
  t0=$SECONDS
  (cd "$DIR" && CI=true timeout 5400 bash .ci/run </dev/null) || rc=$?
  echo "under-load: .ci/run exit $rc in $((SECONDS - t0)) s under stress-ng --cpu 2 --cpu-load $LOAD"
else
  cd "$ROOT"
  for i in $(seq 1 "$N"); do
    t0=$SECONDS r=0
    timeout 1800 cargo test --release --locked >"target/under-load-$i.log" 2>&1 || r=$?
    echo "under-load: cargo test --release run $i: exit $r in $((SECONDS - t0)) s; $(grep -c '^test result: ok' "target/under-load-$i.log") binaries ok, $(grep -c '^test result: FAILED' "target/under-load-$i.log") failed"
    [ "$r" = 0 ] || { grep -E '^(---- |thread .* panicked|failures:)' -A3 "target/under-load-$i.log" | head -40; rc=1; }
  done
fi
exit $rc
