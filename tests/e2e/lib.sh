# shellcheck shell=bash
# Helpers the e2e scripts share. Source after setting E2E (the prefix of every line printed).
fail=0
say() { echo "$E2E: $*"; }
check() { # check DESCRIPTION COMMAND...: run a check, print ok/FAIL, remember a failure
  local d=$1; shift
  if "$@"; then say "ok   $d"; else say "FAIL $d"; fail=1; fi
}
wait_for() { # wait_for SECONDS COMMAND...: poll until true
  local t=$1; shift
  for _ in $(seq 1 $((t * 4))); do "$@" && return 0; sleep 0.25; done
  return 1
}
