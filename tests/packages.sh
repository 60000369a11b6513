#!/usr/bin/env bash
# Checks the built packages as a packager would: unpacks every .ipk and .deb and checks
# control fields, file list, permissions and maintainer scripts; runs `sh -n` and shellcheck on
# the init script and every maintainer script; `systemd-analyze verify` on the unit.
# usage: tests/packages.sh     (after openwrt/build-packages.sh and cross/build-deb.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
fail=0
ok() { echo "packages: ok   $*"; }
bad() { echo "packages: FAIL $*"; fail=1; }
need() { grep -q "$2" "$1" && ok "$(basename "$(dirname "$1")")/$(basename "$1") has $2" || bad "$1 lacks $2"; }

shellcheck -s sh -e SC2034,SC2154,SC3043 "$ROOT/openwrt/files/netwatch.init" && ok "init script passes shellcheck" || bad "init script: shellcheck"
sh -n "$ROOT/openwrt/files/netwatch.init" && ok "init script passes sh -n" || bad "init script: sh -n"
grep -q 'procd_add_reload_trigger "netwatch"' "$ROOT/openwrt/files/netwatch.init" && grep -q 'procd_set_param respawn' "$ROOT/openwrt/files/netwatch.init" \
  && grep -q 'procd_set_param limits' "$ROOT/openwrt/files/netwatch.init" && ok "init script: reload trigger, respawn, limits" || bad "init script: procd params"

ipks=("$ROOT"/target/ipk/*.ipk)
[ -e "${ipks[0]}" ] || bad "no .ipk built"
for f in "${ipks[@]}"; do
  [ -e "$f" ] || continue
  w=$(mktemp -d)
  tar -xzf "$f" -C "$w"
  [ "$(tar -tzf "$f" | tr '\n' ' ')" = "./debian-binary ./control.tar.gz ./data.tar.gz " ] && ok "$(basename "$f"): ipkg-build layout" || bad "$(basename "$f"): layout $(tar -tzf "$f" | tr '\n' ' ')"
  [ "$(cat "$w/debian-binary")" = "2.0" ] || bad "$(basename "$f"): debian-binary"
  mkdir "$w/c" "$w/d"; tar -xzf "$w/control.tar.gz" -C "$w/c"; tar -xzf "$w/data.tar.gz" -C "$w/d"
  arch=$(basename "$f" .ipk); arch=${arch#netwatch_*_}
  for field in "Package: netwatch" "Version: " "Architecture: $arch" "Installed-Size: " "Description: " "Section: net"; do
    grep -q "^$field" "$w/c/control" || bad "$(basename "$f"): control lacks '$field'"
  done
  [ "$(cat "$w/c/conffiles")" = /etc/config/netwatch ] || bad "$(basename "$f"): conffiles"
  for s in postinst prerm; do
    [ -x "$w/c/$s" ] && sh -n "$w/c/$s" && shellcheck -s sh "$w/c/$s" >/dev/null || bad "$(basename "$f"): $s"
  done
  list=$(cd "$w/d" && find . -type f -printf '%m %u %p\n' | sort | tr '\n' ';')
  [ "$list" = "600 root ./etc/config/netwatch;644 root ./usr/share/nftables.d/ruleset-post/30-netwatch.nft;755 root ./etc/init.d/netwatch;755 root ./usr/sbin/netwatch;" ] \
    && ok "$(basename "$f"): files and modes" || bad "$(basename "$f"): files $list"
  owners=$(tar -tvzf "$w/data.tar.gz" | awk '{print $2}' | sort -u | tr '\n' ' ')
  [ "$owners" = "root/root " ] || [ "$owners" = "0/0 " ] || bad "$(basename "$f"): owners $owners"
  size=$(stat -c %s "$f")
  # The budget for everything (sensor, web server, dashboard, enrichment) is 1.4 MiB.
  [ "$size" -le 1468006 ] && ok "$(basename "$f"): $size bytes (limit 1.4 MiB)" || bad "$(basename "$f"): $size bytes over 1.4 MiB"
  file "$w/d/usr/sbin/netwatch" | grep -q "statically linked\|static-pie" || bad "$(basename "$f"): binary not static"
  rm -rf "$w"
done

# .apk (apk-tools v3, OpenWrt 25.12+): read back with the apk built by build-upstream.sh.
apks=("$ROOT"/target/apk/*/*.apk)
[ -e "${apks[0]}" ] || bad "no .apk built"
if [ -e "${apks[0]}" ]; then
  stage=$(bash "$ROOT/openwrt/test/build-upstream.sh" | tail -1)
  apk() { LD_LIBRARY_PATH="$stage/usr/lib" "$stage/usr/bin/apk" "$@"; }
fi
for f in "${apks[@]}"; do
  [ -e "$f" ] || continue
  arch=$(basename "$(dirname "$f")"); name="$arch/$(basename "$f")"
  w=$(mktemp -d)
  apk adbdump "$f" > "$w/dump" || bad "$name: apk adbdump cannot read it"
  for field in "name: netwatch" "version: $(basename "$f" .apk | sed 's/^netwatch-//')" "arch: $arch" "license: Apache-2.0" "- libc"; do
    grep -q "^ *$field\$" "$w/dump" || bad "$name: info lacks '$field'"
  done
  for sc in post-install post-upgrade pre-deinstall; do
    awk -v s="  $sc: |" '$0 == s {on=1; next} on && /^  [a-z-]+: \|/ {on=0} on && /^[^ ]/ {on=0} on {sub(/^    /, ""); print}' "$w/dump" > "$w/$sc"
    [ -s "$w/$sc" ] && sh -n "$w/$sc" && shellcheck -s sh "$w/$sc" >/dev/null && ok "$name: $sc script" || bad "$name: $sc script"
  done
  grep -q 'default_postinst' "$w/post-install" && grep -q 'PKG_UPGRADE=1' "$w/post-upgrade" && grep -q 'default_prerm' "$w/pre-deinstall" \
    || bad "$name: scripts do not call base-files' default_postinst / default_prerm"
  mkdir "$w/d"
  apk extract --allow-untrusted --destination "$w/d" "$f" >/dev/null || bad "$name: apk extract"
  list=$(cd "$w/d" && find . -type f -printf '%m %u %p\n' | sort | tr '\n' ';')
  [ "$list" = "600 root ./etc/config/netwatch;644 root ./lib/apk/packages/netwatch.conffiles;644 root ./lib/apk/packages/netwatch.conffiles_static;644 root ./lib/apk/packages/netwatch.list;644 root ./usr/share/nftables.d/ruleset-post/30-netwatch.nft;755 root ./etc/init.d/netwatch;755 root ./usr/sbin/netwatch;" ] \
    && ok "$name: files and modes" || bad "$name: files $list"
  [ "$(cat "$w/d/lib/apk/packages/netwatch.conffiles")" = /etc/config/netwatch ] || bad "$name: conffiles"
  grep -qx '/etc/init.d/netwatch' "$w/d/lib/apk/packages/netwatch.list" || bad "$name: the file list lacks the init script (default_postinst reads it)"
  [ "$(cut -d' ' -f2 "$w/d/lib/apk/packages/netwatch.conffiles_static")" = "$(sha256sum "$w/d/etc/config/netwatch" | cut -d' ' -f1)" ] || bad "$name: conffiles_static checksum"
  size=$(stat -c %s "$f")
  [ "$size" -le 1468006 ] && ok "$name: $size bytes (limit 1.4 MiB)" || bad "$name: $size bytes over 1.4 MiB"
  file "$w/d/usr/sbin/netwatch" | grep -q "statically linked\|static-pie" || bad "$name: binary not static"
  rm -rf "$w"
done

debs=("$ROOT"/target/deb/*.deb)
for f in "${debs[@]}"; do
  [ -e "$f" ] || continue
  w=$(mktemp -d)
  dpkg-deb -x "$f" "$w/d"; dpkg-deb -e "$f" "$w/c"
  arch=$(dpkg-deb -f "$f" Architecture)
  [ "$(dpkg-deb -f "$f" Package)" = netwatch ] && ok "$(basename "$f"): Package/Version/Architecture $(dpkg-deb -f "$f" Version) $arch" || bad "$(basename "$f"): control"
  [ "$(cat "$w/c/conffiles")" = /etc/netwatch/netwatch.toml ] || bad "$(basename "$f"): conffiles"
  for s in postinst prerm postrm; do
    [ -x "$w/c/$s" ] && sh -n "$w/c/$s" && shellcheck -s sh "$w/c/$s" >/dev/null || bad "$(basename "$f"): $s"
  done
  list=$(cd "$w/d" && find . -type f -printf '%m %p\n' | sort | tr '\n' ';')
  [ "$list" = "644 ./etc/netwatch/netwatch.toml;644 ./lib/systemd/system/netwatch.service;644 ./usr/share/doc/netwatch/README.md;644 ./usr/share/doc/netwatch/netwatch.toml;755 ./usr/sbin/netwatch;" ] \
    && ok "$(basename "$f"): files and modes" || bad "$(basename "$f"): files $list"
  "$ROOT/target/release/netwatch" check-config "$w/d/etc/netwatch/netwatch.toml" >/dev/null && ok "$(basename "$f"): shipped config validates" || bad "$(basename "$f"): config"
  grep -q 'interfaces = \["eth0"\]' "$w/d/etc/netwatch/netwatch.toml" && grep -q 'promiscuous = true' "$w/d/etc/netwatch/netwatch.toml" || bad "$(basename "$f"): not eth0 promiscuous"
  rm -rf "$w"
done

unit=$ROOT/config/netwatch.service
for k in 'AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN' 'DynamicUser=yes' 'StateDirectory=netwatch' 'ProtectSystem=strict' 'MemoryMax=' 'MemorySwapMax=0' 'Restart=on-failure'; do
  grep -q "^$k" "$unit" || bad "unit lacks $k"
done
if command -v systemd-analyze >/dev/null; then
  # verify wants ExecStart's binary in place: check a copy of the unit pointing at the built one.
  r=$(mktemp -d); install -m 0755 "$ROOT/target/release/netwatch" "$r/netwatch"
  sed "s|/usr/sbin/netwatch|$r/netwatch|" "$unit" > "$r/netwatch.service"
  if out=$(systemd-analyze verify "$r/netwatch.service" 2>&1) && ! echo "$out" | grep -qi 'netwatch.service'; then ok "systemd-analyze verify"; else bad "systemd-analyze verify: $out"; fi
  rm -rf "$r"
else
  bad "systemd-analyze not installed"
fi
[ "$fail" = 0 ] && echo "packages: all passed" || { echo "packages: FAILED"; exit 1; }
