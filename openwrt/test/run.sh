#!/usr/bin/env bash
# NetWatch installed and run by OpenWrt's real userland, once with opkg (OpenWrt 24.10 and
# older, .ipk) and once with apk (25.12 and later, .apk).
#
# A router root is assembled from busybox (apt's busybox-static), OpenWrt's userland built from
# upstream by openwrt/test/build-upstream.sh (procd, ubusd, ubus, uci, jsonfilter, opkg, apk,
# the base-files scripts in their OpenWrt paths) and glibc's libraries for those tools. It
# runs in its own mount and PID namespaces inside a network namespace whose LAN is a veth
# named br-lan (the package's default capture interface); the other end of the veth is an
# attacker's namespace. openwrt/test/init.sh is its PID 1: syslogd (logread), ubusd, procd.
#
# For each package manager, as a user would (the README's commands, literally):
#   install the x86_64 package (`opkg install /tmp/netwatch_….ipk`,
#   `apk add --allow-untrusted /tmp/netwatch-….apk`) → the service in `ubus call service list`
#   with its command line, respawn, limits and file trigger; the daemon runs as `nobody`,
#   captures br-lan, an nmap scan from the attacker is in `netwatch alerts` and `logread`;
#   kill -9 → procd respawns it, the store keeps its alerts; `uci set …; uci commit netwatch;
#   reload_config` (its config.change event) → SIGHUP, the new threshold in /api/config, same process and flows; an
#   invalid value → refused with its key in the log, the old value stays; the address-space
#   limit in /proc/PID/limits, and the daemon alive under it through a 1M-source flood on the
#   veth; flow offloading on in uci → the init script's warning in the log; crash loop → procd
#   gives up and says so; upgrade to a newer release from a local feed (opkg update/upgrade,
#   apk update/add) with the user's config changed → the
#   user's file kept, the package's beside it (-opkg / .apk-new), one restart; remove → stopped,
#   unregistered, binary gone, config and store left.
#
# usage: openwrt/test/run.sh [opkg|apk ...]      (default both; root; about 3 minutes)
# env:   NETWATCH_OPENWRT_CACHE, NETWATCH_OPENWRT_SRC (see build-upstream.sh);
#        NETWATCH_KEEP=1 keeps the work directory (logs, roots)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
E2E=openwrt
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
[ "$(id -u)" = 0 ] || { say "must run as root (namespaces, chroot)"; exit 1; }
PMS=("$@"); [ ${#PMS[@]} -gt 0 ] || PMS=(opkg apk)
W=$(mktemp -d /tmp/nwow.XXXXXX)
RTR=nwow-rtr ATK=nwow-atk
NSPID=
cleanup() {
  [ -n "$NSPID" ] && kill -9 "$NSPID" 2>/dev/null
  ip netns del "$RTR" 2>/dev/null; ip netns del "$ATK" 2>/dev/null
  # The namespace's mounts went with it; nothing under $W is mounted any more.
  for m in $(awk -v w="$W" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m"; done
  if [ -n "${NETWATCH_KEEP:-}" ]; then echo "$E2E: kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
for t in ip nsenter unshare chroot nmap tcpreplay curl ldconfig; do
  command -v "$t" >/dev/null || { say "FAIL $t not installed"; exit 1; }
done

# --- the pieces: OpenWrt's userland, the x86_64 binary and its packages ---------------------
say "building OpenWrt's userland (cached)"
STAGE=$(bash "$ROOT/openwrt/test/build-upstream.sh" | tail -1) && [ -x "$STAGE/sbin/procd" ] || { say "FAIL build-upstream.sh"; exit 1; }
say "building the static x86_64 binary (cross/build.sh)"
timeout 1800 bash "$ROOT/cross/build.sh" --no-install x86_64-unknown-linux-musl >"$W/xc.log" 2>&1 \
  || { tail -20 "$W/xc.log"; say "FAIL cross/build.sh x86_64-unknown-linux-musl"; exit 1; }
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)
# Release 1 as shipped; release 2 ships a changed /etc/config/netwatch (a new comment), the
# case where a user's edited file must be kept, and a changed binary.
mkdir -p "$W/pkg1" "$W/pkg2"
NETWATCH_PKG_OUT=$W/pkg1 bash "$ROOT/openwrt/build-packages.sh" x86_64 >/dev/null || { say "FAIL build-packages.sh"; exit 1; }
{ cat "$ROOT/openwrt/files/netwatch.config"; printf '\n# release 2: a new comment in the shipped file\n'; } > "$W/netwatch.config.r2"
# A newer release has a different binary: the same one with bytes after its end (ELF ignores them).
{ cat "${NETWATCH_XC_OUT:-$ROOT/target/cross}/x86_64-unknown-linux-musl/netwatch"; echo "netwatch release 2"; } > "$W/netwatch.r2"; chmod 0755 "$W/netwatch.r2"
NETWATCH_PKG_RELEASE=2 NETWATCH_PKG_CONFIG=$W/netwatch.config.r2 NETWATCH_PKG_OUT=$W/pkg2 NETWATCH_PKG_BINARY=$W/netwatch.r2 \
  bash "$ROOT/openwrt/build-packages.sh" x86_64 >/dev/null || { say "FAIL build-packages.sh (release 2)"; exit 1; }
APKTOOL=(env LD_LIBRARY_PATH="$STAGE/usr/lib" "$STAGE/usr/bin/apk")

# --- the router root -------------------------------------------------------------------------
# One template; each package manager gets a fresh copy.
T=$W/template
mkdir -p "$T"/{bin,sbin,usr/bin,usr/sbin,usr/lib,lib,lib64,etc/config,etc/rc.d,etc/init.d,proc,sys,dev,tmp,root,overlay}
chmod 1777 "$T/tmp"
ln -s tmp "$T/var"
(cd "$STAGE" && tar --exclude=./usr/include --exclude='*.a' --exclude=./usr/lib/pkgconfig --exclude=./usr/lib/python3* -cf - .) | tar -xf - -C "$T"
install -m 0755 /bin/busybox "$T/bin/busybox"
chroot "$T" /bin/busybox --install -s
install -m 0755 "$ROOT/openwrt/test/init.sh" "$T/sbin/test-init"
cat "$ROOT/openwrt/test/uci_load.sh" >> "$T/lib/config/uci.sh"
# OpenWrt's busybox has flock (procd.sh locks with it); Debian's does not: util-linux's.
install -m 0755 "$(command -v flock)" "$T/bin/flock"
# glibc and the libraries the upstream tools link from Debian, at their paths.
for f in $(find "$T" -type f -perm -u+x) $(find "$T/usr/lib" -name '*.so*' -type f); do
  file -b "$f" | grep -q 'dynamically linked' || continue
  LD_LIBRARY_PATH=$STAGE/usr/lib ldd "$f" 2>/dev/null | awk '$3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'
done | sort -u | while read -r lib; do
  case "$lib" in "$STAGE"/*) continue ;; esac
  install -D -m 0755 "$(readlink -f "$lib")" "$T$lib"
done
printf '/usr/lib\n/lib/x86_64-linux-gnu\n' > "$T/etc/ld.so.conf"
ldconfig -r "$T"
cat > "$T/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/ash
daemon:*:1:1:daemon:/var:/bin/false
nobody:*:65534:65534:nobody:/var:/bin/false
EOF
cat > "$T/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
nogroup:x:65534:
EOF
printf 'root:x:0:0:99999:7:::\n' > "$T/etc/shadow"
echo OpenWrt > "$T/etc/hostname"
cat > "$T/etc/config/firewall" <<'EOF'
config defaults
	option input 'REJECT'
	option output 'ACCEPT'
	option forward 'REJECT'
EOF
# Package manager state as a 24.10 / 25.12 image ships it: libc is an installed package.
mkdir -p "$T/usr/lib/opkg/info" "$T/etc/opkg" "$T/etc/apk/repositories.d"
: > "$T/etc/opkg/customfeeds.conf"
cat > "$T/etc/opkg.conf" <<'EOF'
dest root /
dest ram /tmp
lists_dir ext /var/opkg-lists
option overlay_root /overlay
option check_signature
arch all 1
arch noarch 1
arch x86_64 10
EOF
cat > "$T/usr/lib/opkg/status" <<'EOF'
Package: libc
Version: 1.2.5-r4
Status: install user installed
Architecture: x86_64
Installed-Time: 1767225600

EOF
: > "$T/usr/lib/opkg/info/libc.list"
echo x86_64 > "$T/etc/apk/arch"
mkdir -p "$W/libc"
"${APKTOOL[@]}" mkpkg --info name:libc --info version:1.2.5-r4 --info arch:x86_64 \
  --info "description:the C library (a stand-in: the router root's libc is the host's)" \
  --files "$W/libc" --output "$T/tmp/libc-1.2.5-r4.apk" >/dev/null || { say "FAIL apk mkpkg (libc)"; exit 1; }

# --- helpers ---------------------------------------------------------------------------------
R=
inroot() { # inroot CMD: a shell command inside the router (its namespaces and root)
  timeout -k 5 120 nsenter -t "$NSPID" -m -p -n -u -r -w /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root /bin/sh -c "$1"
}
atk() { ip netns exec "$ATK" "$@"; }
# What a router's `reload_config` (and LuCI's commit through rpcd) sends after `uci commit`:
# procd's reload trigger for the package fires on it. (reload_config itself is a base-files
# script that is not among the upstream snapshots.)
RELOAD='ubus call service event "{\"type\":\"config.change\",\"data\":{\"package\":\"netwatch\"}}"'
svc() { inroot "ubus call service list '{\"name\":\"netwatch\",\"verbose\":true}'"; }
jf() { inroot "ubus call service list '{\"name\":\"netwatch\",\"verbose\":true}' > /tmp/svc.json && jsonfilter -i /tmp/svc.json -e '$1'"; }
dpid() { jf '@.netwatch.instances.instance1.pid' 2>/dev/null; }
api() { ip netns exec "$RTR" curl -sf -m 5 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:8787$1"; }
has_alert() { inroot "netwatch alerts --rule $1" 2>/dev/null | grep -q "$2"; }
procd_log() { cat "$R/tmp/log/procd.log" 2>/dev/null; }
# The daemon's stderr reaches syslog through procd, and so do procd's own words once it
# forwards an instance's output: logread has both.
starts() { inroot logread 2>/dev/null | grep -c 'netwatch: running on br-lan'; }
log_has() { inroot logread 2>/dev/null | grep -q "$1"; }
svc_has() { svc | grep -q "$1"; }
ports_are() { api /api/config | jq -e ".rules.portscan.vertical_ports == $1" >/dev/null; }
flows_created() { api /api/stats | jq -r '.flows.created'; }
unregistered() { ! svc | grep -q '"netwatch"' && ! inroot "pidof netwatch" >/dev/null; }
flows_seen() { [ "$(flows_created)" -gt 0 ] 2>/dev/null; }
gave_up() { [ "$(jf '@.netwatch.instances.instance1.running')" = false ] && ! svc_has '"respawn"'; }
respawned_or_gave_up() { pid_changed "$1" || gave_up; }
removed() { [ ! -e "$R/usr/sbin/netwatch" ] && [ ! -e "$R/etc/init.d/netwatch" ] && [ ! -e "$R/etc/rc.d/S95netwatch" ]; }
logread_has() { inroot "logread" 2>/dev/null | grep -q "$1"; }
daemon_running() { local p; p=$(dpid) && [ -n "$p" ] && inroot "[ -d /proc/$p ]"; }
pid_changed() { local p; p=$(dpid) && [ -n "$p" ] && [ "$p" != "$1" ]; }
api_up() { api /api/stats >/dev/null; }
pm_cmd() { # pm_cmd NAME CMD: a package manager's command in the router, its output shown on failure
  inroot "$2" >"$W/$pm-$1.log" 2>&1 && return 0
  cat "$W/$pm-$1.log"; return 1
}

boot_router() { # boot_router PM: fresh root, namespaces, PID 1
  R=$W/root-$1
  rm -rf "$R"; cp -a "$T" "$R"
  ip netns del "$RTR" 2>/dev/null; ip netns del "$ATK" 2>/dev/null
  ip netns add "$RTR"; ip netns add "$ATK"
  ip link add br-lan netns "$RTR" type veth peer name lan0 netns "$ATK"
  ip -n "$RTR" addr add 192.168.1.1/24 dev br-lan; ip -n "$RTR" link set br-lan up; ip -n "$RTR" link set lo up
  ip -n "$ATK" addr add 192.168.1.66/24 dev lan0; ip -n "$ATK" link set lan0 up; ip -n "$ATK" link set lo up
  ip netns exec "$RTR" unshare -m -p -u -f --propagation private /bin/sh -c '
    r=$1
    mount -t proc proc "$r/proc"; mount -t sysfs sysfs "$r/sys"; mount -t tmpfs -o mode=755 dev "$r/dev"
    for n in null zero full random urandom tty; do touch "$r/dev/$n"; mount --bind "/dev/$n" "$r/dev/$n"; done
    mkdir -p "$r/dev/pts" "$r/dev/shm"
    hostname OpenWrt
    exec chroot "$r" /sbin/test-init' sh "$R" >"$W/init-$1.log" 2>&1 &
  local outer=$!
  wait_for 10 pgrep -P "$outer" >/dev/null || { say "FAIL the router's PID 1 did not start"; cat "$W/init-$1.log"; return 1; }
  NSPID=$(pgrep -P "$outer" | head -1)
  wait_for 30 test -f "$R/tmp/run/init.ready" || { say "FAIL ubusd/procd did not come up"; cat "$W/init-$1.log"; procd_log | tail; return 1; }
}
halt_router() {
  [ -n "$NSPID" ] && kill -9 "$NSPID" 2>/dev/null
  wait_for 10 bash -c "! kill -0 $NSPID 2>/dev/null" || true
  NSPID=
  ip netns del "$RTR" 2>/dev/null; ip netns del "$ATK" 2>/dev/null
}

run_pm() { # run_pm opkg|apk: every step, for one package manager
  local pm=$1 pkg1 install upgrade remove feed
  # Install: the README's command for a downloaded file. Upgrade: from a local feed holding
  # release 2 (its index written by build-packages.sh), as the README says for a feed.
  case "$pm" in
    opkg)
      pkg1=netwatch_${VERSION}-1_x86_64.ipk; feed=$W/pkg2
      install="opkg install /tmp/$pkg1"; remove="opkg remove netwatch"
      # This opkg, like a router's, checks feed signatures: an unsigned feed needs that off.
      upgrade="sed -i 's/^option check_signature/# option check_signature/' /etc/opkg.conf && echo 'src/gz netwatch file:///tmp/feed' >> /etc/opkg/customfeeds.conf && opkg update && opkg upgrade netwatch"
      kept=/etc/config/netwatch-opkg ;;
    apk)
      pkg1=netwatch-${VERSION}-r1.apk; feed=$W/pkg2/x86_64
      install="apk add --allow-untrusted /tmp/$pkg1"; remove="apk del netwatch"
      # A package added from a file is pinned to that file in /etc/apk/world: adding it by name
      # from the feed (--upgrade) lifts the pin and upgrades it; later releases come with apk upgrade.
      upgrade="echo /tmp/feed/packages.adb >> /etc/apk/repositories.d/customfeeds.list && apk update --allow-untrusted && apk add --allow-untrusted --upgrade netwatch"
      kept=/etc/config/netwatch.apk-new ;;
  esac
  say "--- $pm: booting the router root"
  boot_router "$pm" || { fail=1; return; }
  mkdir -p "$R/tmp/feed"
  cp "$W/pkg1/$pkg1" "$W/pkg1/x86_64/$pkg1" "$R/tmp/" 2>/dev/null
  cp "$feed"/Packages.gz "$feed"/*.ipk "$feed"/packages.adb "$feed"/*.apk "$R/tmp/feed/" 2>/dev/null
  [ -f "$R/tmp/$pkg1" ] || { say "FAIL $pm: no $pkg1 built"; fail=1; halt_router; return; }
  if [ "$pm" = apk ]; then
    inroot "apk add --initdb --allow-untrusted --no-network /tmp/libc-1.2.5-r4.apk" >"$W/$pm-initdb.log" 2>&1 \
      || { say "FAIL apk --initdb"; cat "$W/$pm-initdb.log"; }
  fi

  # 1. install, as the README says
  check "$pm: \`$install\` succeeds" pm_cmd install "$install"
  if ! wait_for 20 daemon_running; then
    say "FAIL $pm: the service did not start; the log:"; inroot logread | tail -20; cat "$W/$pm-install.log"
    fail=1; halt_router; return
  fi
  say "ok   $pm: the service starts"
  local s; s=$(svc)
  echo "$s" > "$W/$pm-service.json"
  check "$pm: ubus service list: command netwatch run --uci /var/run/netwatch/netwatch.uci" \
    test "$(jf '@.netwatch.instances.instance1.command[*]' | tr '\n' ' ')" = "/usr/sbin/netwatch run --uci /var/run/netwatch/netwatch.uci "
  check "$pm: ubus service list: respawn 3600 s / 5 s / 5 retries" \
    test "$(jf '@.netwatch.instances.instance1.respawn.*' | tr '\n' ' ')" = "3600 5 5 "
  check "$pm: ubus service list: limits as = 64 MiB" \
    test "$(jf '@.netwatch.instances.instance1.limits.as')" = "67108864 67108864"
  check "$pm: ubus service list: trigger config.change for package netwatch runs /etc/init.d/netwatch reload" \
    test "$(jf '@.netwatch.triggers[0][0]') $(jf '@.netwatch.triggers[0][1][1][2]') $(jf '@.netwatch.triggers[0][1][2][*]' | tr '\n' ' ')" \
    = "config.change netwatch run_script /etc/init.d/netwatch reload "
  check "$pm: enabled at boot (/etc/rc.d/S95netwatch)" test -L "$R/etc/rc.d/S95netwatch"
  local pid; pid=$(dpid)
  check "$pm: the daemon runs as nobody" test "$(inroot "awk '/^Uid:/ {print \$2}' /proc/$pid/status")" = 65534
  wait_for 20 api_up_token || true
  check "$pm: the web API answers on 127.0.0.1:8787" wait_for 20 api_up

  # 2. a scan from the other end of br-lan
  atk timeout -k 5 120 nmap -sS -T4 -Pn -n -p 1-300 192.168.1.1 >"$W/$pm-nmap.log" 2>&1
  check "$pm: nmap's scan is in \`netwatch alerts\`" wait_for 30 has_alert portscan.vertical 192.168.1.66
  check "$pm: ... and in logread (syslog)" wait_for 10 logread_has 'portscan'
  check "$pm: procd forwards the daemon's stderr to the log (logread: its start)" wait_for 5 log_has 'netwatch\[[0-9]*\]: netwatch: running on br-lan'
  local before; before=$(inroot "netwatch alerts --rule portscan.vertical" 2>/dev/null | grep -c 192.168.1.66)

  # 3. kill -9: respawned, store intact
  inroot "kill -9 $pid"
  check "$pm: kill -9 → procd respawns the daemon (within respawn's 5 s)" wait_for 20 pid_changed "$pid"
  pid=$(dpid)
  check "$pm: the store kept its alerts across the crash ($before)" \
    test "$(inroot "netwatch alerts --rule portscan.vertical" 2>/dev/null | grep -c 192.168.1.66)" -ge "$before"
  wait_for 20 api_up || true

  # 4. procd's file parameter (not in the dump): \`start\` leaves an unchanged service alone and
  # restarts it when /etc/config/netwatch changed (what makes an upgrade's start a restart).
  inroot "/etc/init.d/netwatch start" >/dev/null 2>&1; sleep 1
  check "$pm: \`/etc/init.d/netwatch start\` with nothing changed keeps the process" test "$(dpid)" = "$pid"
  inroot "echo '# edited by hand' >> /etc/config/netwatch && /etc/init.d/netwatch start" >/dev/null 2>&1
  check "$pm: ... after an edit of /etc/config/netwatch it restarts it (file trigger)" wait_for 15 pid_changed "$pid"
  wait_for 20 daemon_running; pid=$(dpid); wait_for 20 api_up || true

  # 5. reload through uci: SIGHUP, the new threshold, same process and flows
  # Flows to remember: the attacker's connections to the router's web port.
  for _ in 1 2 3; do atk curl -s -m 2 -o /dev/null http://192.168.1.1:8787/healthz; done
  wait_for 10 flows_seen || true
  local flows0; flows0=$(flows_created)
  inroot "uci set netwatch.portscan.vertical_ports=20 && uci commit netwatch && $RELOAD" >"$W/$pm-reload.log" 2>&1
  check "$pm: uci commit + reload_config → the daemon reloads (logread)" wait_for 15 log_has 'netwatch: reloaded thresholds'
  check "$pm: the new threshold in /api/config (vertical_ports 20)" wait_for 10 ports_are 20
  check "$pm: same process after the reload" test "$(dpid)" = "$pid"
  local flows1; flows1=$(flows_created)
  check "$pm: flow state survives the reload (flows created $flows0 → $flows1)" test "${flows1:-0}" -ge "${flows0:-1}" -a "${flows0:-0}" -gt 0
  inroot "uci set netwatch.portscan.vertical_ports=banana && uci commit netwatch && $RELOAD" >>"$W/$pm-reload.log" 2>&1
  check "$pm: an invalid value is refused, its key in the log" wait_for 15 log_has 'reload refused.*vertical_ports'
  check "$pm: ... and the old value stays (20)" ports_are 20
  check "$pm: ... same process" test "$(dpid)" = "$pid"
  inroot "uci set netwatch.portscan.vertical_ports=20 && uci commit netwatch && $RELOAD" >/dev/null 2>&1

  # 6. the memory limit, applied, and enough under a 1M-source flood
  local lim; lim=$(inroot "awk '/Max address space/ {print \$4, \$5}' /proc/$pid/limits")
  check "$pm: /proc/PID/limits: Max address space 67108864 ($lim)" test "$lim" = "67108864 67108864"
  atk timeout -k 5 300 tcpreplay -q -i lan0 --topspeed "$FLOOD" >"$W/$pm-flood.log" 2>&1
  check "$pm: the daemon lived through the 1M-source flood under the limit (same pid)" test "$(dpid)" = "$pid"
  local peak; peak=$(inroot "awk '/VmPeak/ {print \$2}' /proc/$pid/status")
  say "     $pm: VmPeak ${peak} kB of 65536 kB; $(grep -o '[0-9]* packets' "$W/$pm-flood.log" | head -1) replayed"
  check "$pm: a SYN flood alert from the replay" wait_for 20 has_alert synflood 192.168.1

  # 7. flow offloading on: the init script warns
  inroot "uci set firewall.@defaults[0].flow_offloading=1 && uci commit firewall && /etc/init.d/netwatch restart" >/dev/null 2>&1
  check "$pm: flow_offloading=1 → the offload warning in logread" wait_for 15 logread_has 'flow offloading is on'
  inroot "uci set firewall.@defaults[0].flow_offloading=0 && uci commit firewall" >/dev/null 2>&1

  # 8. crash loop: procd gives up as configured (respawn retry 5)
  local kills=0
  while [ $kills -lt 10 ]; do
    wait_for 20 daemon_running || break
    pid=$(dpid); inroot "kill -9 $pid"; kills=$((kills + 1))
    wait_for 20 respawned_or_gave_up "$pid" || break
    gave_up && break
  done
  check "$pm: crash loop → procd gives up (respawn retry 5: the 6th crash within the hour, $kills here after step 3's) — running false, respawn gone" gave_up
  check "$pm: procd says it is a crash loop" log_has 'procd.*netwatch.*crash loop'

  # 9. upgrade from the feed, with the user's config changed
  inroot "/etc/init.d/netwatch start" >/dev/null 2>&1
  wait_for 20 daemon_running || true
  wait_for 20 api_up || true   # it has logged its start line by then
  pid=$(dpid); local n0; n0=$(starts)
  check "$pm: \`$upgrade\` succeeds" pm_cmd upgrade "$upgrade"
  check "$pm: the user's /etc/config/netwatch is kept (vertical_ports 20)" grep -q "vertical_ports '20'" "$R/etc/config/netwatch"
  check "$pm: the package's new file is beside it ($kept)" grep -q 'release 2' "$R$kept"
  check "$pm: the service restarted" wait_for 20 pid_changed "$pid"
  wait_for 20 api_up || true   # the new process has logged its start line
  sleep 2
  check "$pm: ... once ($n0 → $(starts) starts)" test "$(starts)" = $((n0 + 1))
  # 10. remove
  check "$pm: \`$remove\` succeeds" pm_cmd remove "$remove"
  check "$pm: the service is stopped and unregistered" wait_for 15 unregistered
  check "$pm: the binary, init script and its rc.d link are gone" removed
  say "     $pm: left behind: $(cd "$R" && ls -d etc/config/netwatch* tmp/netwatch/netwatch.db 2>/dev/null | tr '\n' ' ')"
  check "$pm: the store is left (as OpenWrt packages leave data)" test -f "$R/tmp/netwatch/netwatch.db"
  inroot logread > "$W/$pm-logread.log" 2>&1
  halt_router
}

api_up_token() { TOKEN=$(inroot "netwatch token" 2>/dev/null | tail -1); [ -n "$TOKEN" ]; }
FLOOD=$ROOT/target/cross/fixtures/flood-1m.pcap
if [ ! -s "$FLOOD" ]; then
  say "writing the 1M-source flood capture"
  (cd "$ROOT" && cargo run --release --quiet --example demo-capture -- --fixtures "$ROOT/target/cross/fixtures" >/dev/null 2>&1) \
    || { say "FAIL cannot write $FLOOD"; exit 1; }
fi
for pm in "${PMS[@]}"; do run_pm "$pm"; done
[ "$fail" = 0 ] && say "all passed" || { say "FAILED (NETWATCH_KEEP=1 keeps the logs and roots in $W)"; exit 1; }
