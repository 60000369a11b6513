#!/usr/bin/env bash
# The EVE output of `netwatch replay` on every capture under tests/ and on the generated demo
# captures (every rule on each link type, pcap and pcapng, and a 1M-source flood), from the
# build of git revision REV and from the work tree's build: they must be byte-identical.
# For changes that must not change behaviour (refactors). Then the cost of each build:
# instructions per packet under callgrind (a 100k-packet LAN mix minus a 1-packet run) and
# the size of the stripped x86_64 binary.
#
# usage: tests/eve-same.sh REV     (builds REV in a worktree under target/eve-same/)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REV=${1:?usage: tests/eve-same.sh REV}
W=$ROOT/target/eve-same
mkdir -p "$W"
rm -rf "$W/tree"
git -C "$ROOT" worktree prune
git -C "$ROOT" worktree add -f --detach "$W/tree" "$REV" >/dev/null
trap 'git -C "$ROOT" worktree remove --force "$W/tree" >/dev/null 2>&1 || true' EXIT
echo "eve-same: building $REV and the work tree"
(cd "$W/tree" && CARGO_TARGET_DIR=$W/target timeout 1800 cargo build --release --quiet --bin netwatch)
(cd "$ROOT" && timeout 1800 cargo build --release --quiet --bin netwatch)
OLD=$W/target/release/netwatch NEW=$ROOT/target/release/netwatch
rm -rf "$W/demo"; mkdir -p "$W/demo"
(cd "$ROOT" && timeout 600 cargo run --release --quiet --example demo-capture -- "$W/demo/demo.pcap" >/dev/null 2>&1 \
  && timeout 600 cargo run --release --quiet --example demo-capture -- --fixtures "$W/demo" >/dev/null 2>&1)
fail=0 n=0
while IFS= read -r f; do
  a=$(timeout 300 "$OLD" replay "$f" --stats 2>"$W/old.err" | sha256sum)
  b=$(timeout 300 "$NEW" replay "$f" --stats 2>"$W/new.err" | sha256sum)
  lines=$(timeout 300 "$NEW" replay "$f" 2>/dev/null | wc -l)
  # The counters on stderr must agree too (timings and memory figures aside).
  ca=$(grep -o '"counters":{[^}]*}' "$W/old.err" || true)
  cb=$(grep -o '"counters":{[^}]*}' "$W/new.err" || true)
  n=$((n + 1))
  if [ "$a" = "$b" ] && [ "$ca" = "$cb" ]; then
    echo "eve-same: same   $(basename "$f") ($lines alerts)"
  else
    echo "eve-same: DIFFER $(basename "$f")"; fail=1
  fi
done < <(find "$ROOT/tests" "$W/demo" -name '*.pcap' -o -name '*.pcapng' | sort)
[ "$fail" = 0 ] && echo "eve-same: all $n captures give identical EVE output and counters"
if command -v valgrind >/dev/null; then
  (cd "$ROOT" && timeout 600 cargo run --release --quiet --example demo-capture -- --lan 100000 "$W/lan.pcap" \
    && timeout 600 cargo run --release --quiet --example demo-capture -- --lan 1 "$W/lan-1.pcap")
  ir() { timeout 1800 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" replay "$2" 2>&1 >/dev/null |
    sed -n 's/.*Collected : *//p'; }
  for b in OLD NEW; do
    bin=${!b}; all=$(ir "$bin" "$W/lan.pcap"); one=$(ir "$bin" "$W/lan-1.pcap")
    echo "eve-same: $b instructions per packet: $(python3 -c "print(f'{($all - $one) / 99999:.1f}')")"
  done
fi
echo "eve-same: binary size: OLD $(stat -c %s "$OLD") bytes, NEW $(stat -c %s "$NEW") bytes"
exit $fail
