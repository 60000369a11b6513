#!/usr/bin/env bash
# cross/build.sh finds the Debian mirror for `apt-get source` however apt is set up: deb822
# `.sources` (the Debian 12 image), one-line `sources.list` / `.list` files, with options or
# signed-by, with deb-src or without, disabled stanzas, security/updates suites first, and no
# usable entry at all. Each case is a fake /etc/apt tree.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=cross/debsrc.sh
. "$ROOT/cross/debsrc.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
case_() { # case_ NAME EXPECTED  (files already written under $T/NAME)
  local got
  got=$(debsrc_line "$T/$1")
  if [ "$got" = "$2" ]; then echo "apt-sources: ok   $1"; else echo "apt-sources: FAIL $1: got '$got', want '$2'"; fail=1; fi
}
mk() { mkdir -p "$T/$1/sources.list.d"; }

mk deb822
cat > "$T/deb822/sources.list.d/debian.sources" <<'X'
Types: deb
# a comment
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
X
case_ deb822 "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main"

mk deb822-security-first-disabled
cat > "$T/deb822-security-first-disabled/sources.list.d/a.sources" <<'X'
Types: deb deb-src
URIs: http://sec.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://off.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb
URIs: http://on.example/debian
Suites: bookworm-updates bookworm
Components: main contrib
X
case_ deb822-security-first-disabled "deb-src http://on.example/debian bookworm main"

mk oneline
printf '# old style\ndeb http://ftp.de.debian.org/debian bookworm main contrib\ndeb-src http://ftp.de.debian.org/debian bookworm main\n' > "$T/oneline/sources.list"
case_ oneline "deb-src http://ftp.de.debian.org/debian bookworm main"

mk oneline-options
printf 'deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian/ bookworm-updates main\ndeb [ arch=amd64 signed-by=/k.gpg ] http://m.example/debian/ bookworm main\n' > "$T/oneline-options/sources.list"
case_ oneline-options "deb-src [ arch=amd64 signed-by=/k.gpg ] http://m.example/debian/ bookworm main"

mk list-in-parts
printf '# nothing here\n' > "$T/list-in-parts/sources.list"
printf 'deb http://p.example/debian bookworm main\n' > "$T/list-in-parts/sources.list.d/mirror.list"
case_ list-in-parts "deb-src http://p.example/debian bookworm main"

mk none
printf '# only comments\n' > "$T/none/sources.list"
case_ none ""

mk empty-dir
rmdir "$T/empty-dir/sources.list.d"
case_ empty-dir ""

export NETWATCH_DEBSRC="deb-src http://override.example/debian trixie main"
case_ deb822 "deb-src http://override.example/debian trixie main"
unset NETWATCH_DEBSRC
[ "$fail" = 0 ] && echo "apt-sources: all passed" || exit 1
