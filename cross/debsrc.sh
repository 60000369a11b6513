# shellcheck shell=bash
# Sourced by cross/build.sh (and tests/apt_sources.sh): defines debsrc_line.
# One `deb-src` line for this machine's Debian mirror, whatever the apt sources look like:
# deb822 stanzas (`*.sources`, the Debian 12 image default) or one-line `deb` entries
# (`sources.list`, `*.list`), with or without deb-src, with or without signed-by. The main
# suite is taken (not -security/-updates/-backports, which carry only some packages).
# NETWATCH_DEBSRC overrides it (e.g. "deb-src http://mirror/debian bookworm main").
debsrc_line() {
  local etc=${1:-/etc/apt}
  if [ -n "${NETWATCH_DEBSRC:-}" ]; then echo "$NETWATCH_DEBSRC"; return; fi
  local f
  for f in "$etc"/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      function flush() {
        if (types ~ /(^| )deb(-src)?( |$)/ && enabled != "no" && uri != "") {
          n = split(suites, s, " ")
          for (i = 1; i <= n; i++) if (s[i] !~ /-(security|updates|backports|proposed-updates)$/ && s[i] !~ /\//) {
            opt = (key ~ /^\//) ? "[signed-by=" key "] " : ""
            print "deb-src " opt uri " " s[i] " main"; found = 1; exit
          }
        }
        types = ""; uri = ""; suites = ""; key = ""; enabled = ""
      }
      /^[ \t]*$/ { flush(); next }
      /^#/ { next }
      tolower($1) == "types:"   { types = $0; sub(/^[^:]*:[ \t]*/, "", types) }
      tolower($1) == "uris:"    { uri = $2 }
      tolower($1) == "suites:"  { suites = $0; sub(/^[^:]*:[ \t]*/, "", suites) }
      tolower($1) == "signed-by:" { key = $2 }
      tolower($1) == "enabled:" { enabled = tolower($2) }
      END { if (!found) flush() }' "$f" | head -n 1
  done
  for f in "$etc"/sources.list "$etc"/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '
      $1 == "deb" || $1 == "deb-src" {
        opt = ""; i = 2
        if ($2 ~ /^\[/) { while (i <= NF) { opt = opt (opt == "" ? "" : " ") $i; if ($i ~ /\]$/) { i++; break } i++ } }
        if ($(i + 1) ~ /-(security|updates|backports|proposed-updates)$/ || $(i + 1) ~ /\//) next
        print "deb-src " (opt == "" ? "" : opt " ") $i " " $(i + 1) " main"; exit
      }' "$f"
  done
}
