# shellcheck shell=bash
# shellcheck disable=SC2034 # fail is read by the scripts that source this file
# Helpers the e2e scripts share. Source after setting E2E (the prefix of every line printed).
# Nothing here waits without a deadline: a wait that runs out says what it waited for.
fail=0  # read by the scripts that source this file
say() { echo "$E2E: $*"; }
check() { # check DESCRIPTION COMMAND...: run a check, print ok/FAIL, remember a failure
  local d=$1; shift
  if "$@"; then say "ok   $d"; else say "FAIL $d"; fail=1; fi
}
wait_for() { # wait_for SECONDS COMMAND...: poll until true; past SECONDS say what was awaited
  local t=$1 end; shift
  end=$((SECONDS + t))
  while [ "$SECONDS" -lt "$end" ]; do "$@" && return 0; sleep 0.25; done
  "$@" && return 0
  echo "$E2E: (waited ${t} s for: $*)" >&2
  return 1
}
running() { # running PID: the process exists and is not a zombie
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}
wait_exit() { # wait_exit PID SECONDS: let a process end by itself within SECONDS, else stop it
  local p=$1 end=$((SECONDS + $2))
  while running "$p" && [ "$SECONDS" -lt "$end" ]; do sleep 0.2; done
  stop_pid "$p" TERM 10
}
stop_pid() { # stop_pid PID [SIGNAL] [SECONDS]: signal a process this script started and reap it
  # within SECONDS (default 20); past that it is killed, reported and counted as a failure.
  # Returns the process's exit status.
  local p=$1 sig=${2:-TERM} t=${3:-20} rc=0 end cmd
  cmd=$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | head -c 120 || true)
  kill -s "$sig" "$p" 2>/dev/null || true
  end=$((SECONDS + t))
  while running "$p" && [ "$SECONDS" -lt "$end" ]; do sleep 0.1; done
  if running "$p"; then
    say "FAIL pid $p ($cmd) still running ${t} s after SIG$sig: killed"
    kill -9 "$p" 2>/dev/null || true; fail=1
  fi
  wait "$p" 2>/dev/null || rc=$?
  return $rc
}
test_ca() { # test_ca DIR: a test CA (DIR/ca.pem) and a certificate for 127.0.0.1 it signed
  # (DIR/srv.pem, DIR/srv.key), readable by every user (brokers that drop privileges).
  local dir=$1
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=NetWatch e2e CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" >/dev/null 2>&1 || return 1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$dir/srv.key" -out "$dir/srv.csr" >/dev/null 2>&1 || return 1
  printf 'subjectAltName=IP:127.0.0.1\n' > "$dir/san.ext"
  openssl x509 -req -in "$dir/srv.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
    -extfile "$dir/san.ext" -out "$dir/srv.pem" >/dev/null 2>&1 || return 1
  chmod 644 "$dir"/*.pem "$dir"/*.key
}
