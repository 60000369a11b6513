#!/usr/bin/env bash
# Standalone OpenWrt package builder (no SDK): packs the static binaries of cross/build.sh as
#   .ipk  for opkg (OpenWrt 24.10 and older): ipkg-build's layout — a gzip'd tar of
#         ./debian-binary, ./control.tar.gz and ./data.tar.gz, files owned by root;
#   .apk  for apk-tools v3 (OpenWrt 25.12 and later): built by `apk mkpkg` as OpenWrt's
#         include/package-pack.mk does (version X-rN, the file list, conffiles and their
#         sha256 under /lib/apk/packages/, post-install / post-upgrade / pre-deinstall scripts
#         calling base-files' default_postinst / default_prerm). `apk` comes from
#         openwrt/test/build-upstream.sh (built once per machine into a cache).
# Both carry the same files, the same conffile (/etc/config/netwatch) and the same script
# semantics: install enables and starts, removal stops and disables, upgrade restarts.
#
# usage: openwrt/build-packages.sh [--ipk|--apk] [ARCH ...]
#        default: both formats, every arch whose binary exists
# env:   NETWATCH_PKG_RELEASE  release number (default 1)
#        NETWATCH_PKG_CONFIG   the /etc/config/netwatch to ship (default openwrt/files/netwatch.config)
#        NETWATCH_PKG_OUT      output directory (default target/ipk and target/apk)
#        NETWATCH_PKG_BINARY   the netwatch binary to pack (default: cross/build.sh's for the arch)
# Arch names → binaries:
#   mipsel_24kc                                   mipsel-unknown-linux-musl
#   mips_24kc                                     mips-unknown-linux-musl
#   arm_cortex-a7_neon-vfpv4, arm_cortex-a9_vfpv3-d16, arm_cortex-a15_neon-vfpv4
#                                                 armv7-unknown-linux-musleabihf
#   arm_arm1176jzf-s_vfp                          arm-unknown-linux-musleabihf
#   aarch64_cortex-a53, aarch64_cortex-a72, aarch64_generic
#                                                 aarch64-unknown-linux-musl
#   x86_64                                        x86_64-unknown-linux-musl
# Output: target/ipk/netwatch_<version>-<release>_<arch>.ipk, and Packages / Packages.gz, the
#           index that makes the folder an opkg feed (`src/gz netwatch file:///…` or https://…);
#         target/apk/<arch>/netwatch-<version>-r<release>.apk (apk names carry no arch), and
#           packages.adb (`apk mkndx`), the index of an apk repository (unsigned).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
XC=${NETWATCH_XC_OUT:-$ROOT/target/cross}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)
RELEASE=${NETWATCH_PKG_RELEASE:-1}
CONFIG=${NETWATCH_PKG_CONFIG:-$ROOT/openwrt/files/netwatch.config}
ALL=(mipsel_24kc mips_24kc arm_cortex-a7_neon-vfpv4 arm_cortex-a9_vfpv3-d16 arm_cortex-a15_neon-vfpv4 arm_arm1176jzf-s_vfp aarch64_cortex-a53 aarch64_cortex-a72 aarch64_generic x86_64)
DESCRIPTION="Network intrusion detection sensor for the router itself: port scans, SYN floods, brute-force logins, DNS tunnels and C2 beacons, in a few MiB of fixed memory."

target_of() {
  case "$1" in
    mipsel_24kc) echo mipsel-unknown-linux-musl ;;
    mips_24kc) echo mips-unknown-linux-musl ;;
    arm_cortex-a7_neon-vfpv4|arm_cortex-a9_vfpv3-d16|arm_cortex-a15_neon-vfpv4) echo armv7-unknown-linux-musleabihf ;;
    arm_arm1176jzf-s_vfp) echo arm-unknown-linux-musleabihf ;;
    aarch64_*) echo aarch64-unknown-linux-musl ;;
    x86_64) echo x86_64-unknown-linux-musl ;;
    *) echo "build-packages: unknown OpenWrt arch $1" >&2; exit 2 ;;
  esac
}

ipk=1 apk=1 archs=()
for a in "$@"; do
  case "$a" in
    --ipk) apk=0 ;;
    --apk) ipk=0 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) archs+=("$a") ;;
  esac
done
if [ ${#archs[@]} -eq 0 ]; then
  for a in "${ALL[@]}"; do [ -x "$XC/$(target_of "$a")/netwatch" ] && archs+=("$a"); done
fi
[ ${#archs[@]} -gt 0 ] || { echo "build-packages: no binaries in $XC (run cross/build.sh)" >&2; exit 1; }
[ -f "$CONFIG" ] || { echo "build-packages: $CONFIG missing" >&2; exit 1; }
IPK_OUT=${NETWATCH_PKG_OUT:-$ROOT/target/ipk}
APK_OUT=${NETWATCH_PKG_OUT:-$ROOT/target/apk}
if [ "$apk" = 1 ]; then
  stage=$(bash "$ROOT/openwrt/test/build-upstream.sh" | tail -1)
  APK=(env LD_LIBRARY_PATH="$stage/usr/lib" "$stage/usr/bin/apk")
fi
# gzip -9: the package is what a router downloads and keeps in flash (-n: no name or time, so
# the same tree gives the same bytes).
tarc() { local f=$1; shift; tar --owner=0 --group=0 --numeric-owner --sort=name --mtime=@0 -cf - "$@" | gzip -9n > "$f"; }

# The maintainer scripts are OpenWrt's standard ones (include/package-pack.mk): everything is in
# base-files' default_postinst / default_prerm, which enable/start and stop/disable every
# /etc/init.d script the package lists.
ipk_postinst() {
  cat <<'SH'
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
# shellcheck source=/dev/null
. "${IPKG_INSTROOT}/lib/functions.sh"
default_postinst "$0" "$@"
SH
}
ipk_prerm() {
  cat <<'SH'
#!/bin/sh
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
# shellcheck source=/dev/null
. "${IPKG_INSTROOT}/lib/functions.sh"
default_prerm "$0" "$@"
SH
}
# apk's post-install: the user/group step and default_postinst with the package's name (apk
# passes no script name to derive it from).
apk_post_install() {
  cat <<'SH'
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
# shellcheck source=/dev/null
. "${IPKG_INSTROOT}/lib/functions.sh"
export root="${IPKG_INSTROOT}"
export pkgname="netwatch"
add_group_and_user
default_postinst
SH
}
# post-upgrade: the same with PKG_UPGRADE=1 (start, keep the enabled state).
apk_post_upgrade() {
  echo '#!/bin/sh'
  echo 'export PKG_UPGRADE=1'
  apk_post_install | sed '1d'
}
apk_pre_deinstall() {
  cat <<'SH'
#!/bin/sh
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
# shellcheck source=/dev/null
. "${IPKG_INSTROOT}/lib/functions.sh"
export root="${IPKG_INSTROOT}"
export pkgname="netwatch"
default_prerm
SH
}

for arch in "${archs[@]}"; do
  bin=${NETWATCH_PKG_BINARY:-$XC/$(target_of "$arch")/netwatch}
  [ -x "$bin" ] || { echo "build-packages: $bin missing" >&2; exit 1; }
  w=$(mktemp -d); d=$w/data
  install -D -m 0755 "$bin" "$d/usr/sbin/netwatch"
  install -D -m 0755 "$ROOT/openwrt/files/netwatch.init" "$d/etc/init.d/netwatch"
  install -D -m 0600 "$CONFIG" "$d/etc/config/netwatch"
  # fw4 loads this at every reload; an empty table until [respond] blocks something.
  install -D -m 0644 "$ROOT/openwrt/files/netwatch.nft" "$d/usr/share/nftables.d/ruleset-post/30-netwatch.nft"

  if [ "$ipk" = 1 ]; then
    c=$w/control; mkdir -p "$c" "$IPK_OUT"
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
    ipk_postinst > "$c/postinst"
    ipk_prerm > "$c/prerm"
    chmod 0755 "$c/postinst" "$c/prerm"
    echo "2.0" > "$w/debian-binary"
    (cd "$c" && tarc "$w/control.tar.gz" ./control ./conffiles ./postinst ./prerm)
    (cd "$d" && tarc "$w/data.tar.gz" .)
    f=$IPK_OUT/netwatch_${VERSION}-${RELEASE}_${arch}.ipk
    (cd "$w" && tarc "$f" ./debian-binary ./control.tar.gz ./data.tar.gz)
    printf '%-28s %8d bytes  %s\n' "$arch" "$(stat -c %s "$f")" "$f"
  fi

  if [ "$apk" = 1 ]; then
    a=$w/apk; mkdir -p "$a" "$d/lib/apk/packages"
    # What OpenWrt's apk builds put in the package itself: the file list (default_postinst
    # reads the init scripts from it), the conffiles and their checksums (sysupgrade keeps them).
    (cd "$d" && find . -type f,l -printf '/%P\n' | sort; echo /lib/apk/packages/netwatch.list) | sort > "$d/lib/apk/packages/netwatch.list"
    echo /etc/config/netwatch > "$d/lib/apk/packages/netwatch.conffiles"
    echo "/etc/config/netwatch $(sha256sum "$d/etc/config/netwatch" | cut -d' ' -f1)" > "$d/lib/apk/packages/netwatch.conffiles_static"
    apk_post_install > "$a/post-install"
    apk_post_upgrade > "$a/post-upgrade"
    apk_pre_deinstall > "$a/pre-deinstall"
    chmod 0755 "$a"/*
    mkdir -p "$APK_OUT/$arch"
    f=$APK_OUT/$arch/netwatch-${VERSION}-r${RELEASE}.apk
    "${APK[@]}" mkpkg \
      --info "name:netwatch" \
      --info "version:${VERSION}-r${RELEASE}" \
      --info "description:$DESCRIPTION" \
      --info "arch:$arch" \
      --info "license:Apache-2.0" \
      --info "origin:net/netwatch" \
      --info "url:https://github.com/netwatch-ids/netwatch" \
      --info "maintainer:NetWatch developers" \
      --info "depends:libc" \
      --script "post-install:$a/post-install" \
      --script "post-upgrade:$a/post-upgrade" \
      --script "pre-deinstall:$a/pre-deinstall" \
      --files "$d" \
      --output "$f"
    printf '%-28s %8d bytes  %s\n' "$arch" "$(stat -c %s "$f")" "$f"
  fi
  rm -rf "$w"
done

# Feed indexes over every package in the output folders (also earlier builds of other archs).
if [ "$ipk" = 1 ]; then
  : > "$IPK_OUT/Packages"
  for f in "$IPK_OUT"/*.ipk; do
    [ -e "$f" ] || continue
    tar -xzOf "$f" ./control.tar.gz | tar -xzOf - ./control
    printf 'Filename: %s\nSize: %s\nSHA256sum: %s\n\n' "$(basename "$f")" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -d' ' -f1)"
  done >> "$IPK_OUT/Packages"
  gzip -9nc "$IPK_OUT/Packages" > "$IPK_OUT/Packages.gz"
fi
if [ "$apk" = 1 ]; then
  for arch in "${archs[@]}"; do
    (cd "$APK_OUT/$arch" && "${APK[@]}" mkndx --allow-untrusted --output packages.adb ./*.apk >/dev/null)
  done
fi
