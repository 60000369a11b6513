#!/usr/bin/env bash
# Line coverage of src/ over the whole suite: `cargo test` and the live-daemon end-to-end
# scripts (daemon.sh, web.sh, drills.sh) run with an instrumented binary. Prints the per-file
# table and the total; the HTML report goes to target/llvm-cov/html.
#
# usage: bash tests/coverage.sh      (root, for the namespaces; ~25 minutes)
# Installs the rustup component llvm-tools-preview and cargo-llvm-cov when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup component list --installed 2>/dev/null | grep -q '^llvm-tools' || rustup component add llvm-tools-preview
command -v cargo-llvm-cov >/dev/null || cargo install cargo-llvm-cov --locked --version 0.9.1
cargo build --release --locked --examples --quiet   # daemon.sh's store-load helper
cargo llvm-cov clean --workspace
echo "coverage: cargo test (instrumented)"
cargo llvm-cov --release --locked --no-report
# The daemon drops to nobody: its profiles go to a directory anyone may write, then join the
# test runs' profiles in the target directory.
PROF=$(mktemp -d /tmp/netwatch-cov.XXXXXX); chmod 1777 "$PROF"
export NETWATCH_BIN=$PWD/target/llvm-cov-target/release/netwatch
export LLVM_PROFILE_FILE=$PROF/netwatch-%p-%m.profraw
for s in daemon.sh web.sh "drills.sh 3"; do
  echo "coverage: tests/e2e/$s (instrumented binary)"
  # Checks of speed may fail under instrumentation; what ran is what counts here.
  # shellcheck disable=SC2086
  bash tests/e2e/$s >"$PROF/${s%% *}.log" 2>&1 || echo "coverage: $s reported failures (see $PROF/${s%% *}.log)"
done
unset LLVM_PROFILE_FILE
cp "$PROF"/*.profraw target/llvm-cov-target/
cargo llvm-cov report --release --html >/dev/null
cargo llvm-cov report --release --summary-only
rm -rf "$PROF"
