#!/usr/bin/env bash
# Standalone .ipk builder (no OpenWrt SDK): packs the static binaries of cross/build.sh the
# way OpenWrt's ipkg-build does — a gzip'd tar of ./debian-binary, ./control.tar.gz and
# ./data.tar.gz, files owned by root — one package per OpenWrt architecture name.
#
# usage: openwrt/build-ipk.sh [ARCH ...]      default: every arch whose binary exists
# Arch names → binaries:
#   mipsel_24kc                                   mipsel-unknown-linux-musl
#   mips_24kc                                     mips-unknown-linux-musl
#   arm_cortex-a7_neon-vfpv4, arm_cortex-a9_vfpv3-d16, arm_cortex-a15_neon-vfpv4
#                                                 armv7-unknown-linux-musleabihf
#   arm_arm1176jzf-s_vfp                          arm-unknown-linux-musleabihf
#   aarch64_cortex-a53, aarch64_cortex-a72, aarch64_generic
#                                                 aarch64-unknown-linux-musl
#   x86_64                                        x86_64-unknown-linux-musl
# Output: target/ipk/netwatch_<version>-<release>_<arch>.ipk
#
# OpenWrt 25 replaces opkg with apk: an .apk is an APKv3 package (adbc format) built by the
# SDK's `apk mkpkg`; the Makefile in this directory builds one unchanged there, but this script
# does not produce .apk files.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
XC=${NETWATCH_XC_OUT:-$ROOT/target/cross}
OUT=$ROOT/target/ipk
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)
RELEASE=1
ALL=(mipsel_24kc mips_24kc arm_cortex-a7_neon-vfpv4 arm_cortex-a9_vfpv3-d16 arm_cortex-a15_neon-vfpv4 arm_arm1176jzf-s_vfp aarch64_cortex-a53 aarch64_cortex-a72 aarch64_generic x86_64)

target_of() {
  case "$1" in
    mipsel_24kc) echo mipsel-unknown-linux-musl ;;
    mips_24kc) echo mips-unknown-linux-musl ;;
    arm_cortex-a7_neon-vfpv4|arm_cortex-a9_vfpv3-d16|arm_cortex-a15_neon-vfpv4) echo armv7-unknown-linux-musleabihf ;;
    arm_arm1176jzf-s_vfp) echo arm-unknown-linux-musleabihf ;;
    aarch64_*) echo aarch64-unknown-linux-musl ;;
    x86_64) echo x86_64-unknown-linux-musl ;;
    *) echo "build-ipk: unknown OpenWrt arch $1" >&2; exit 2 ;;
  esac
}

archs=("$@")
if [ ${#archs[@]} -eq 0 ]; then
  for a in "${ALL[@]}"; do [ -x "$XC/$(target_of "$a")/netwatch" ] && archs+=("$a"); done
fi
[ ${#archs[@]} -gt 0 ] || { echo "build-ipk: no binaries in $XC (run cross/build.sh)" >&2; exit 1; }
mkdir -p "$OUT"
# gzip -9: the package is what a router downloads and keeps in flash (-n: no name or time, so
# the same tree gives the same bytes).
tarc() { local f=$1; shift; tar --owner=0 --group=0 --numeric-owner --sort=name --mtime=@0 -cf - "$@" | gzip -9n > "$f"; }

for arch in "${archs[@]}"; do
  bin=$XC/$(target_of "$arch")/netwatch
  [ -x "$bin" ] || { echo "build-ipk: $bin missing" >&2; exit 1; }
  w=$(mktemp -d); d=$w/data; c=$w/control
  install -D -m 0755 "$bin" "$d/usr/sbin/netwatch"
  install -D -m 0755 "$ROOT/openwrt/files/netwatch.init" "$d/etc/init.d/netwatch"
  install -D -m 0600 "$ROOT/openwrt/files/netwatch.config" "$d/etc/config/netwatch"
  # fw4 loads this at every reload; an empty table until [respond] blocks something.
  install -D -m 0644 "$ROOT/openwrt/files/netwatch.nft" "$d/usr/share/nftables.d/ruleset-post/30-netwatch.nft"
  mkdir -p "$c"
  size=$(du -sk --apparent-size "$d" | cut -f1)
  cat > "$c/control" <<CTRL
Package: netwatch
Version: $VERSION-$RELEASE
Depends: libc
Source: net/netwatch
SourceName: netwatch
License: Apache-2.0
Section: net
Architecture: $arch
Installed-Size: $((size * 1024))
Maintainer: NetWatch developers
Description: Network intrusion detection sensor for the router itself: port scans, SYN floods,
 brute-force logins, DNS tunnels and C2 beacons, in a few MiB of fixed memory.
CTRL
  echo /etc/config/netwatch > "$c/conffiles"
  # OpenWrt's standard maintainer scripts: enable/start (and stop/disable) via the init script.
  cat > "$c/postinst" <<'SH'
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
# shellcheck source=/dev/null
. "${IPKG_INSTROOT}/lib/functions.sh"
default_postinst "$0" "$@"
SH
  cat > "$c/prerm" <<'SH'
#!/bin/sh
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
# shellcheck source=/dev/null
. "${IPKG_INSTROOT}/lib/functions.sh"
default_prerm "$0" "$@"
SH
  chmod 0755 "$c/postinst" "$c/prerm"
  echo "2.0" > "$w/debian-binary"
  (cd "$c" && tarc "$w/control.tar.gz" ./control ./conffiles ./postinst ./prerm)
  (cd "$d" && tarc "$w/data.tar.gz" .)
  f=$OUT/netwatch_${VERSION}-${RELEASE}_${arch}.ipk
  (cd "$w" && tarc "$f" ./debian-binary ./control.tar.gz ./data.tar.gz)
  rm -rf "$w"
  printf '%-28s %8d bytes  %s\n' "$arch" "$(stat -c %s "$f")" "$f"
done
