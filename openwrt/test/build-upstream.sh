#!/usr/bin/env bash
# Builds OpenWrt's userland from the upstream snapshots in ../shared/openwrt-upstream/ (libubox,
# ubus, uci, jsonpath, ucode, udebug, procd, opkg-lede, apk-tools) for this machine, installed
# with OpenWrt's paths (prefix /usr, /sbin/procd, /bin/ubus, /usr/bin/jsonfilter, /bin/opkg,
# /usr/bin/apk) into a staging tree that openwrt/test/run.sh copies into its router root.
# They are test dependencies, like packages from apt: built here, never copied into NetWatch.
#
# usage: openwrt/test/build-upstream.sh        prints the staging directory on its last line
# env:   NETWATCH_OPENWRT_SRC    the snapshots (default: ../shared/openwrt-upstream beside the
#                                clone, then /work/shared/openwrt-upstream)
#        NETWATCH_OPENWRT_CACHE  where builds are kept, keyed by the snapshots and this script
#                                (default /var/cache/netwatch-openwrt); a missing or partial
#                                build is done again from nothing (about 3 minutes on 2 cores)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SRC=${NETWATCH_OPENWRT_SRC:-}
if [ -z "$SRC" ]; then
  for d in "$ROOT/../shared/openwrt-upstream" /work/shared/openwrt-upstream; do
    [ -f "$d/procd.tar.xz" ] && { SRC=$(cd "$d" && pwd); break; }
  done
fi
[ -n "$SRC" ] && [ -f "$SRC/procd.tar.xz" ] || {
  echo "build-upstream: OpenWrt's upstream sources not found (looked in ../shared/openwrt-upstream and /work/shared/openwrt-upstream; set NETWATCH_OPENWRT_SRC)" >&2
  exit 1
}
CACHE=${NETWATCH_OPENWRT_CACHE:-/var/cache/netwatch-openwrt}
key=$(cat "$SRC"/*.tar.xz "$SRC"/base-files/*.sh "$SRC"/base-files/rc.common "$SRC"/base-files/functions/*.sh "$0" | sha256sum | cut -c1-16)
OUT=$CACHE/$key
if [ -f "$OUT/.done" ]; then
  echo "$OUT/stage"
  exit 0
fi

need=()
for p in cmake pkg-config libjson-c-dev meson ninja-build libssl-dev zlib1g-dev libzstd-dev libbsd-dev busybox-static; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "build-upstream: installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q "${need[@]}" >&2
fi

rm -rf "$OUT"
mkdir -p "$OUT/src"
S=$OUT/stage
B=$OUT/build
for t in libubox ubus uci jsonpath ucode udebug procd opkg-lede apk-tools; do
  tar -xJf "$SRC/$t.tar.xz" -C "$OUT/src"
done
log=$OUT/build.log
: > "$log"
echo "build-upstream: building OpenWrt's userland into $OUT (log: $log)" >&2
step() { echo "build-upstream: $*" >&2; }

# Everything links against what was built before it, found in the staging tree; the binaries
# find their libraries at /usr/lib inside the router root.
export CFLAGS="-O2 -I$S/usr/include -Wno-error"
export LDFLAGS="-L$S/usr/lib -Wl,-rpath-link,$S/usr/lib"
export PKG_CONFIG_PATH=$S/usr/lib/pkgconfig
cm() { # cmake SRC [options]: configure, build and install into the staging tree
  local src=$1; shift
  local b=$B/$(basename "$src")
  mkdir -p "$b"
  cmake -S "$src" -B "$b" -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_LIBDIR=lib \
    -DCMAKE_PREFIX_PATH="$S/usr" -DCMAKE_FIND_ROOT_PATH="$S" -DCMAKE_BUILD_TYPE=Release "$@" >> "$log" 2>&1
  make -C "$b" -j"$(nproc)" >> "$log" 2>&1
  make -C "$b" install DESTDIR="$S" >> "$log" 2>&1
}
fail() { echo "build-upstream: $1 failed; the end of $log:" >&2; tail -30 "$log" >&2; exit 1; }

step libubox; cm "$OUT/src/libubox" -DBUILD_LUA=OFF -DBUILD_EXAMPLES=OFF -DUNIT_TESTING=OFF || fail libubox
step ubus; cm "$OUT/src/ubus" -DBUILD_LUA=OFF -DBUILD_EXAMPLES=OFF || fail ubus
step uci; cm "$OUT/src/uci" -DBUILD_LUA=OFF || fail uci
# jsonpath's lemon step uses a relative path: it is configured in its source folder.
step jsonpath
(cd "$OUT/src/jsonpath" && cmake . -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_PREFIX_PATH="$S/usr" >> "$log" 2>&1 \
  && make -j"$(nproc)" >> "$log" 2>&1 && make install DESTDIR="$S" >> "$log" 2>&1) || fail jsonpath
step ucode
cm "$OUT/src/ucode" -DNL80211_SUPPORT=OFF -DRTNL_SUPPORT=OFF -DUBUS_SUPPORT=ON -DUCI_SUPPORT=ON \
  -DULOOP_SUPPORT=ON -DDEBUG_SUPPORT=OFF -DLOG_SUPPORT=OFF -DDIGEST_SUPPORT=OFF -DZLIB_SUPPORT=OFF \
  -DSOCKET_SUPPORT=OFF -DIO_SUPPORT=OFF -DRESOLV_SUPPORT=OFF -DSTRUCT_SUPPORT=OFF || fail ucode
step udebug; cm "$OUT/src/udebug" || fail udebug
# procd on glibc 2.36: strlcpy from libbsd, asprintf from _GNU_SOURCE; newer GCC warnings
# would stop its -Werror build.
step procd
find "$OUT/src/procd" -name CMakeLists.txt -exec sed -i 's/-Werror//g' {} +
CFLAGS="$CFLAGS -D_GNU_SOURCE -include bsd/string.h" cm "$OUT/src/procd" -DJAIL_SUPPORT=OFF \
  -DSECCOMP_SUPPORT=OFF -DUTRACE_SUPPORT=OFF -DCMAKE_C_STANDARD_LIBRARIES=-lbsd || fail procd
# opkg-lede: only the tool (its test program does not link).
step opkg
b=$B/opkg-lede; mkdir -p "$b"
(cmake -S "$OUT/src/opkg-lede" -B "$b" -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_PREFIX_PATH="$S/usr" \
  -DCMAKE_BUILD_TYPE=Release >> "$log" 2>&1 && make -C "$b" -j"$(nproc)" opkg-cl >> "$log" 2>&1) || fail opkg
install -D -m 0755 "$(find "$b" -name opkg-cl -type f | head -1)" "$S/bin/opkg"
step apk-tools
(cd "$OUT/src/apk-tools" && meson setup "$B/apk" --prefix=/usr --libdir=lib -Ddocs=disabled -Dhelp=disabled -Dpython=disabled \
  -Dlua=disabled -Dtests=disabled >> "$log" 2>&1 && ninja -C "$B/apk" >> "$log" 2>&1 \
  && DESTDIR="$S" meson install -C "$B/apk" >> "$log" 2>&1) || fail apk-tools

# OpenWrt's paths: procd, ubusd and uci live in /sbin, ubus in /bin.
mkdir -p "$S/sbin" "$S/bin"
mv "$S/usr/sbin/procd" "$S/usr/sbin/ubusd" "$S/sbin/"
mv "$S/usr/bin/ubus" "$S/bin/ubus"
mv "$S/usr/bin/uci" "$S/sbin/uci"
mv "$S/usr/bin/jsonpath" "$S/usr/bin/jsonfilter"
# The shell libraries every init script sources, in their OpenWrt paths.
install -D -m 0644 "$OUT/src/uci/sh/uci.sh" "$S/lib/config/uci.sh"
install -D -m 0644 "$SRC/base-files/functions.sh" "$S/lib/functions.sh"
install -D -m 0644 "$SRC/base-files/functions/service.sh" "$S/lib/functions/service.sh"
install -D -m 0644 "$SRC/base-files/procd.sh" "$S/lib/functions/procd.sh"
install -D -m 0755 "$SRC/base-files/rc.common" "$S/etc/rc.common"
for f in sbin/procd sbin/ubusd bin/ubus sbin/uci usr/bin/jsonfilter usr/bin/jshn bin/opkg usr/bin/apk; do
  [ -x "$S/$f" ] || { echo "build-upstream: $f was not built" >&2; exit 1; }
done
rm -rf "$B" "$OUT/src"
touch "$OUT/.done"
step "done"
echo "$S"
