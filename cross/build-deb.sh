#!/usr/bin/env bash
# Raspberry Pi packages: .deb for arm64 (aarch64 binary) and armhf (the ARMv6 + VFP binary,
# so one package runs on every Pi from the Pi 1/Zero up), with the systemd unit from config/.
#
# usage: cross/build-deb.sh [arm64|armhf ...]   (after cross/build.sh for those targets)
# Output: target/deb/netwatch_<version>_<arch>.deb
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
XC=${NETWATCH_XC_OUT:-$ROOT/target/cross}
OUT=$ROOT/target/deb
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)
archs=("$@"); [ ${#archs[@]} -gt 0 ] || archs=(arm64 armhf)
mkdir -p "$OUT"

for arch in "${archs[@]}"; do
  case "$arch" in
    arm64) t=aarch64-unknown-linux-musl ;;
    armhf) t=arm-unknown-linux-musleabihf ;;
    *) echo "build-deb: unknown arch $arch (arm64, armhf)" >&2; exit 2 ;;
  esac
  bin=$XC/$t/netwatch
  [ -x "$bin" ] || { echo "build-deb: $bin missing (run cross/build.sh $t)" >&2; exit 1; }
  w=$(mktemp -d); p=$w/pkg
  install -D -m 0755 "$bin" "$p/usr/sbin/netwatch"
  install -D -m 0644 "$ROOT/config/netwatch-pi.toml" "$p/etc/netwatch/netwatch.toml"
  install -D -m 0644 "$ROOT/config/netwatch.service" "$p/lib/systemd/system/netwatch.service"
  install -D -m 0644 "$ROOT/README.md" "$p/usr/share/doc/netwatch/README.md"
  install -D -m 0644 "$ROOT/config/netwatch.toml" "$p/usr/share/doc/netwatch/netwatch.toml"
  mkdir -p "$p/DEBIAN"
  cat > "$p/DEBIAN/control" <<CTRL
Package: netwatch
Version: $VERSION
Architecture: $arch
Maintainer: NetWatch developers <netwatch@localhost>
Installed-Size: $(du -sk --apparent-size "$p" | cut -f1)
Section: net
Priority: optional
Suggests: nftables, curl, openssl
Homepage: https://github.com/netwatch-ids/netwatch
Description: network intrusion detection sensor for small boards
 Watches a mirror port with libpcap (linked in statically) and reports port scans,
 SYN floods, brute-force logins, DNS tunnels and C2 beacons as Suricata EVE JSON,
 in a few MiB of fixed memory.
CTRL
  echo /etc/netwatch/netwatch.toml > "$p/DEBIAN/conffiles"
  cat > "$p/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload
	systemctl enable netwatch.service >/dev/null
	systemctl restart netwatch.service || echo "netwatch: not started; check /etc/netwatch/netwatch.toml (journalctl -u netwatch)" >&2
fi
exit 0
SH
  cat > "$p/DEBIAN/prerm" <<'SH'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl stop netwatch.service || true
	if [ "$1" = remove ]; then
		systemctl disable netwatch.service >/dev/null || true
	fi
fi
exit 0
SH
  cat > "$p/DEBIAN/postrm" <<'SH'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
exit 0
SH
  chmod 0755 "$p/DEBIAN/postinst" "$p/DEBIAN/prerm" "$p/DEBIAN/postrm"
  f=$OUT/netwatch_${VERSION}_${arch}.deb
  dpkg-deb --root-owner-group -Zgzip --build "$p" "$f" >/dev/null
  rm -rf "$w"
  printf '%-6s %8d bytes  %s\n' "$arch" "$(stat -c %s "$f")" "$f"
done
