#!/usr/bin/env bash
# Fuzz every parser with cargo-fuzz (libFuzzer + LeakSanitizer, nightly toolchain).
#
#   bash fuzz/run.sh smoke [SECONDS]   every target for SECONDS each (default 30), two at a time
#   bash fuzz/run.sh full [RUNS]       every target for RUNS executions (default 10,000,000)
#   FUZZ_TARGETS="dns psl" bash fuzz/run.sh ...   only these targets
#   FUZZ_MAX_LEN=1024 bash fuzz/run.sh ...        longest input (default 4096)
#   FUZZ_FLAGS="-entropic=0" bash fuzz/run.sh ...  more libFuzzer flags
#   FUZZ_SANITIZER=none bash fuzz/run.sh ...       without LeakSanitizer (plain malloc)
#
# Each run has -rss_limit_mb=64 (and the same malloc limit), a 10 s per-input timeout, leak
# detection after every input, and debug assertions (overflow checks) on. The sanitizer is
# LeakSanitizer, not AddressSanitizer: the code these targets reach has no `unsafe` (safe Rust
# cannot read out of bounds), and ASan's own ~50 MB (shadow, quarantine) would leave nothing
# of a 64 MB limit to measure the parsers by. It prints one line per target:
# executions, seconds, executions per second, peak RSS, result. A failing input is kept in
# fuzz/artifacts/TARGET/ and the script exits 1. Corpora grow in fuzz/corpus/ (not committed;
# seeded by fuzz/seed.py from the test captures and the tests' literals on first use).
set -euo pipefail
cd "$(dirname "$0")"
MODE=${1:-smoke}
# Every target also runs under `timeout` (WALL seconds; FUZZ_WALL_LIMIT overrides): a
# fuzzer that stops making progress is killed and reported, so the waits below all end.
case "$MODE" in
  smoke) LIMIT=(-max_total_time="${2:-30}"); WALL=${FUZZ_WALL_LIMIT:-$(( ${2:-30} * 3 + 60 ))} ;;
  # Fork mode: the executions run in child processes of a few seconds each, with every limit
  # checked per child; the corpus a long run gathers (thousands of inputs) would otherwise
  # count against the 64 MB as libFuzzer's own bookkeeping.
  full) LIMIT=(-runs="${2:-10000000}" -fork=1 -ignore_ooms=0 -ignore_crashes=0 -ignore_timeouts=0)
        WALL=${FUZZ_WALL_LIMIT:-7200} ;;
  *) echo "usage: fuzz/run.sh smoke [SECONDS] | full [RUNS]" >&2; exit 2 ;;
esac

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2

TARGETS=${FUZZ_TARGETS:-$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^netwatch-fuzz$')}
if [ ! -d corpus ]; then
  (cd .. && cargo run --release --locked --quiet --example demo-capture -- /tmp/netwatch-fuzz-demo.pcap >/dev/null)
  python3 seed.py /tmp/netwatch-fuzz-demo.pcap
fi
mkdir -p logs
echo "fuzz: building $(echo "$TARGETS" | wc -w) targets (nightly, sanitizer ${FUZZ_SANITIZER:-leak}, debug assertions)"
if ! cargo +nightly fuzz build -O -a -s "${FUZZ_SANITIZER:-leak}" >logs/build.log 2>&1; then
  grep -E '^error' -A8 logs/build.log >&2 || tail -20 logs/build.log >&2
  exit 1
fi
BIN=target/x86_64-unknown-linux-gnu/release
export LSAN_OPTIONS=detect_leaks=1
mkdir -p artifacts

one() {
  local t=$1 log=logs/$1.log
  mkdir -p "corpus/$t" "artifacts/$t"
  # shellcheck disable=SC2086 # FUZZ_FLAGS: extra libFuzzer flags, split on spaces
  local rc=0
  timeout -k 10 "$WALL" "$BIN/$t" "${LIMIT[@]}" ${FUZZ_FLAGS:-} -rss_limit_mb=64 -malloc_limit_mb=64 -timeout=10 -max_len="${FUZZ_MAX_LEN:-4096}" \
      -print_final_stats=1 -artifact_prefix="artifacts/$t/" "corpus/$t" >"$log" 2>&1 || rc=$?
  case $rc in
    0) res=ok ;;
    124|137) res="FAILED (still running after $WALL s: killed; see fuzz/$log)" ;;
    *) res="FAILED (see fuzz/$log, input in fuzz/artifacts/$t/)" ;;
  esac
  local runs secs rss
  if [ "$MODE" = full ]; then
    # Fork mode's progress lines: "#RUNS: cov: ... time: SECSs job: N".
    runs=$(sed -n 's/^#\([0-9]*\): cov:.*/\1/p' "$log" | tail -1)
    secs=$(sed -n 's/^#[0-9]*: cov:.* time: \([0-9]*\)s.*/\1/p' "$log" | tail -1)
    rss="<=64"
  else
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  fi
  printf 'fuzz: %-18s %12s execs %6ss %9s exec/s  peak RSS %4s MB  %s\n' "$t" "${runs:-?}" \
    "${secs:-?}" "$(( ${runs:-0} / ( ${secs:-1} > 0 ? ${secs:-1} : 1 ) ))" "${rss:-?}" "$res" |
    tee -a logs/summary
}
# Two at a time (one per core); each prints its own line when it ends (each is bounded by
# WALL, so these waits end).
: >logs/summary
for t in $TARGETS; do
  while [ "$(jobs -rp | wc -l)" -ge 2 ]; do sleep 1; done
  one "$t" &
done
wait
[ "$(grep -c ' ok$' logs/summary)" -eq "$(echo "$TARGETS" | wc -w)" ]
