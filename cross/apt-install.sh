#!/usr/bin/env bash
# Installs the Debian packages named on the command line that are not installed yet.
# Used by .ci/run and cross/build.sh; works on a new machine whatever its apt state:
#  * the package lists are refreshed first (they may be missing, as on a fresh image, or stale,
#    so that the .deb files they name are gone from the mirror);
#  * a source that cannot be reached only warns (apt-get update keeps what it could fetch);
#  * apt waits up to 5 minutes for another apt or dpkg run to release its lock;
#  * a failure prints the tail of apt's output and exits non-zero.
# usage: cross/apt-install.sh PACKAGE...
set -euo pipefail
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -gt 0 ] || exit 0
echo "apt-install: installing ${missing[*]}" >&2
log=$(mktemp /tmp/netwatch-apt.XXXXXX)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
lock=(-o DPkg::Lock::Timeout=300)
if ! apt-get "${lock[@]}" update -qq >"$log" 2>&1; then
  echo "apt-install: apt-get update reported errors (installing from what it could fetch):" >&2
  tail -n 30 "$log" >&2
fi
if ! apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  echo "apt-install: apt-get install ${missing[*]} failed; last 30 lines of its output:" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
