#!/usr/bin/env bash
# NetWatch static cross builds: musl + static libpcap for router/SBC targets, run under qemu.
#
# usage: cross/build.sh [--no-install] [TARGET ...|all|ci]
#   all  aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf arm-unknown-linux-musleabihf
#        mipsel-unknown-linux-musl mips-unknown-linux-musl x86_64-unknown-linux-musl
#   ci   mipsel, mips (32-bit LE and the big-endian one), aarch64 and ARMv6 (the .deb targets)
# Output: target/cross/<target>/netwatch (stripped), sizes printed.
#
# What it needs and does, on a fresh Debian 12 machine as root:
#  * apt: Debian's glibc cross compilers (used to build musl), qemu-user-static, flex, bison,
#    musl-tools; rustup targets for the tier-2 musl targets; the installed nightly's rust-src
#    for the others (build-std; nightly is never pinned: it is whatever the machine has).
#  * musl 1.2.3 and libpcap 1.10.3 from Debian's *source* packages (no crate vendors libpcap's
#    C source), built once per target into a cache outside the clone, keyed by version:
#    $NETWATCH_XC_CACHE (default /var/cache/netwatch-xc).
# Why each flag is there is written next to it; see cross/README.md for the lessons.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${NETWATCH_XC_CACHE:-/var/cache/netwatch-xc}
OUT=${NETWATCH_XC_OUT:-$ROOT/target/cross}
INSTALL=1
TARGETS=()
for a in "$@"; do
  case "$a" in
    --no-install) INSTALL=0 ;;
    all) TARGETS+=(aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf arm-unknown-linux-musleabihf mipsel-unknown-linux-musl mips-unknown-linux-musl x86_64-unknown-linux-musl) ;;
    ci) TARGETS+=(mipsel-unknown-linux-musl mips-unknown-linux-musl aarch64-unknown-linux-musl arm-unknown-linux-musleabihf) ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) TARGETS+=("$a") ;;
  esac
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(mipsel-unknown-linux-musl mips-unknown-linux-musl)
log() { echo "cross: $*" >&2; }
# The tail of each log that explains a failed step, one file at a time.
show_logs() {
  local f
  for f in "$@"; do
    [ -f "$f" ] || continue
    echo "cross: ---- last 30 lines of $f" >&2
    # autoconf's config.log ends in a dump of its variables: the failed test stands before it.
    sed '/^## [-]*Cache variables/,$d' "$f" | tail -n 30 >&2
  done
}

# target -> gnu-cross-triple : sysroot-name : extra C flags : musl loader : toolchain
spec() {
  case "$1" in
    aarch64-unknown-linux-musl)     echo "aarch64-linux-gnu:aarch64-linux-musl::ld-musl-aarch64.so.1:nightly" ;;
    armv7-unknown-linux-musleabihf) echo "arm-linux-gnueabihf:armv7-linux-musleabihf::ld-musl-armhf.so.1:nightly" ;;
    # ARMv6 + VFP (Pi 1/Zero): ARM state only, no Thumb-2, no NEON.
    arm-unknown-linux-musleabihf)   echo "arm-linux-gnueabihf:armv6-linux-musleabihf:-march=armv6 -mfpu=vfp -mfloat-abi=hard -marm:ld-musl-armhf.so.1:nightly" ;;
    # 24Kc/1004Kc routers have no FPU: soft-float throughout.
    mipsel-unknown-linux-musl)      echo "mipsel-linux-gnu:mipsel-linux-muslsf:-msoft-float -march=24kc:ld-musl-mipsel-sf.so.1:nightly" ;;
    mips-unknown-linux-musl)        echo "mips-linux-gnu:mips-linux-muslsf:-msoft-float -march=24kc:ld-musl-mips-sf.so.1:nightly" ;;
    x86_64-unknown-linux-musl)      echo "x86_64-linux-gnu:x86_64-linux-musl::ld-musl-x86_64.so.1:nightly" ;;
    *) log "unknown target $1"; exit 2 ;;
  esac
}

install_deps() {
  local pkgs=(flex bison musl-tools qemu-user-static binutils-multiarch)
  for t in "${TARGETS[@]}"; do
    local g; g=$(spec "$t" | cut -d: -f1)
    case "$g" in
      aarch64-linux-gnu) pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross) ;;
      arm-linux-gnueabihf) pkgs+=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross) ;;
      mipsel-linux-gnu) pkgs+=(gcc-mipsel-linux-gnu libc6-dev-mipsel-cross) ;;
      mips-linux-gnu) pkgs+=(gcc-mips-linux-gnu libc6-dev-mips-cross) ;;
    esac
  done
  # Foreign architectures break apt-get update here: amd64 packages only.
  bash "$ROOT/cross/apt-install.sh" "${pkgs[@]}"
  for t in "${TARGETS[@]}"; do
    case "$(spec "$t" | cut -d: -f5)" in
      stable) rustup target list --installed | grep -qx "$t" || rustup target add "$t" >/dev/null ;;
      nightly)
        # The machine's nightly if it has one (never pinned); otherwise the current one.
        if ! rustup run nightly rustc --version >/dev/null 2>&1; then
          log "no nightly toolchain: installing one (minimal profile, rust-src)"
          rustup toolchain install nightly --profile minimal --component rust-src >/dev/null
        fi
        rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src' \
          || rustup component add rust-src --toolchain nightly >/dev/null ;;
    esac
  done
}

# debsrc_line: the deb-src line of this machine's Debian mirror (cross/debsrc.sh).
# shellcheck source=cross/debsrc.sh
. "$ROOT/cross/debsrc.sh"

fetch_sources() {
  local src=$CACHE/src
  if ls "$src"/musl_*.orig.tar.gz "$src"/libpcap_*.orig.tar.gz >/dev/null 2>&1; then return; fi
  log "fetching musl and libpcap source packages from Debian"
  local a=$CACHE/apt line
  mkdir -p "$a/lists/partial" "$a/archives/partial" "$src"
  line=$(debsrc_line)
  line=${line%%$'\n'*}
  if [ -z "$line" ]; then
    log "no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d/ (deb822 or one-line);"
    log "set NETWATCH_DEBSRC='deb-src URI SUITE main' to name one"
    exit 2
  fi
  echo "$line" > "$a/sources.list"
  log "using: $line"
  # A private source list and lists directory, so the machine's apt state is neither needed
  # nor touched; the machine's apt.conf.d still applies (proxies, validity checks).
  cat > "$a/apt.conf" <<CONF
Dir::Etc::sourcelist "$a/sources.list";
Dir::Etc::sourceparts "-";
Dir::State::lists "$a/lists";
Dir::Cache::archives "$a/archives";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT::Sandbox::User "root";
CONF
  APT_CONFIG=$a/apt.conf apt-get update -qq >"$a/update.log" 2>&1 || { show_logs "$a/update.log"; exit 1; }
  (cd "$src" && APT_CONFIG=$a/apt.conf apt-get source --download-only -qq musl libpcap >"$a/source.log" 2>&1) \
    || { show_logs "$a/source.log"; exit 1; }
}

ver() { ls "$CACHE/src/$1"_*.orig.tar.gz | head -1 | sed "s/.*$1_\(.*\)\.orig\.tar\.gz/\1/"; }

# musl sysroot + a gcc wrapper that compiles and links against it.
sysroot() {
  local gt=$1 name=$2 cf=$3 ldso=$4
  local mv; mv=$(ver musl)
  local s=$CACHE/musl-$mv/$name
  if [ ! -f "$s/.done" ]; then
    log "building musl $mv for $name"
    local b=$CACHE/build/musl-$name
    rm -rf "$b" "$s"; mkdir -p "$b" "$s/bin" "$s/kh"
    tar xzf "$CACHE/src/musl_$mv.orig.tar.gz" -C "$b" --strip-components=1
    # --disable-wrapper: otherwise a bin/musl-gcc lands in the sysroot and shadows Debian's.
    (cd "$b" && CC="$gt-gcc $cf" AR=$gt-ar RANLIB=$gt-ranlib CFLAGS="-Os" \
       ./configure --target="$gt" --prefix="$s" --disable-shared --disable-wrapper >configure.log 2>&1 \
       && make -j"$(nproc)" >make.log 2>&1 && make install >install.log 2>&1) \
      || { show_logs "$b"/configure.log "$b"/make.log "$b"/install.log; exit 1; }
    touch "$s/.done"
  fi
  # The specs and wrapper are written on every run (milliseconds), so a cached sysroot
  # always gets the ones this script describes.
  for d in linux asm asm-generic mtd; do ln -sfn "/usr/$gt/include/$d" "$s/kh/$d"; done
  cat > "$s/lib/musl-gcc.specs" <<SPECS
%rename cpp_options old_cpp_options

*cpp_options:
-nostdinc -isystem $s/include -isystem $s/kh -isystem include%s %(old_cpp_options)

*cc1:
%(cc1_cpu) -nostdinc -isystem $s/include -isystem $s/kh -isystem include%s

*link_libgcc:
-L$s/lib -L .%s

*libgcc:
libgcc.a%s %:if-exists(libgcc_eh.a%s)

*link_gcc_c_sequence:
--start-group %G %L --end-group

*startfile:
%{!shared: $s/lib/Scrt1.o} $s/lib/crti.o crtbeginS.o%s

*endfile:
crtendS.o%s $s/lib/crtn.o

*link:
-dynamic-linker /lib/$ldso -nostdlib %{shared:-shared} %{static:-static} %{rdynamic:-export-dynamic}

SPECS
  printf '#!/bin/sh\nexec %s-gcc %s "$@" -specs "%s/lib/musl-gcc.specs"\n' "$gt" "$cf" "$s" > "$s/bin/$name-gcc"
  chmod +x "$s/bin/$name-gcc"
  echo "$s"
}

libpcap() {
  local cc=$1 host=$2 name=$3 extra=$4 khdir=$5
  local pv; pv=$(ver libpcap)
  local p=$CACHE/libpcap-$pv/$name
  [ -f "$p/lib/libpcap.a" ] && { echo "$p"; return; }
  log "building libpcap $pv for $name"
  local b=$CACHE/build/libpcap-$name
  rm -rf "$b"; mkdir -p "$b" "$p/lib" "$p/include"
  tar xzf "$CACHE/src/libpcap_$pv.orig.tar.gz" -C "$b" --strip-components=1
  (cd "$b" && CC="$cc" CFLAGS="-Os -ffunction-sections -fdata-sections -isystem $khdir $extra" \
    ./configure --host="$host" --prefix="$p" --disable-shared --enable-static --without-libnl \
      --disable-dbus --disable-usb --disable-bluetooth --disable-rdma --disable-netmap --disable-remote \
      --without-dag --without-septel --without-snf --without-turbocap >configure.log 2>&1 \
    && make -j"$(nproc)" libpcap.a >make.log 2>&1) || { show_logs "$b"/config.log "$b"/configure.log "$b"/make.log; exit 1; }
  cp "$b/libpcap.a" "$p/lib/"
  echo "$p"
}

build_target() {
  local t=$1
  IFS=: read -r gt name cf ldso tc <<<"$(spec "$t")"
  local up; up=$(echo "$t" | tr 'a-z-' 'A-Z_')
  local low; low=$(echo "$t" | tr '-' '_')
  local env=() rf="" std=() cc
  # Flags for every target. panic=abort never unwinds (libunwind is a stub on the build-std targets): unwind tables
  # (.eh_frame) are dead weight, ~80 KB on MIPS. Rust code and the C code cc builds (SQLite)
  # leave them out.
  local common_rf="-C force-unwind-tables=no"
  # Panic locations name their source files: the registry's, the toolchain's and this
  # checkout's long paths, shortened (~17 KB of strings on MIPS; the messages keep file:line).
  local sysroot; sysroot=$(rustc "+$tc" --print sysroot 2>/dev/null || echo /nonexistent)
  common_rf="$common_rf --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}/registry/src=crates --remap-path-prefix=$sysroot/lib/rustlib/src/rust=rust --remap-path-prefix=$ROOT=netwatch"
  env+=("CFLAGS_$low=-fno-asynchronous-unwind-tables -fno-unwind-tables")
  if [ "$t" = x86_64-unknown-linux-musl ]; then
    # Debian's musl-gcc has no kernel headers: hand libpcap the host's.
    local kh=$CACHE/kh-x86_64; mkdir -p "$kh"
    ln -sfn /usr/include/linux /usr/include/x86_64-linux-gnu/asm /usr/include/asm-generic /usr/include/mtd "$kh/"
    cc=musl-gcc
    local pc; pc=$(libpcap musl-gcc x86_64-linux-musl "$name" "" "$kh")
    # std's smaller variants here too: x86 routers have small flash as well. Rebuilt std links
    # with Debian's musl (musl-gcc and its crt files), not rust-std's self-contained copy.
    # panic=abort never unwinds: the same no-op libunwind as the other build-std targets.
    local uw=$OUT/unwind-x86_64; mkdir -p "$uw"
    musl-gcc -Os -c "$ROOT/cross/unwind_stub.c" -o "$uw/unwind_stub.o"
    rm -f "$uw/libunwind.a"; ar rcs "$uw/libunwind.a" "$uw/unwind_stub.o"
    env+=("CC_$low=musl-gcc" "CARGO_TARGET_${up}_LINKER=musl-gcc" "CARGO_TARGET_${up}_RUSTFLAGS=$common_rf -Zlocation-detail=none -C link-self-contained=no -C target-feature=+crt-static -C relocation-model=static -L native=$uw")
    std=(-Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size)
  else
    local s; s=$(sysroot "$gt" "$name" "$cf" "$ldso")
    cc=$s/bin/$name-gcc
    local linker=$cc
    if [ "$t" = arm-unknown-linux-musleabihf ]; then
      # Debian's armhf crtbeginS.o/crtendS.o and libgcc.a are Thumb-2 code, which an ARMv6
      # (Pi 1/Zero) cannot run. The final link goes without them: musl's crt files suffice for
      # a static binary, and the few libgcc helpers C code calls (division, 64-bit shifts…)
      # come from Rust's compiler-builtins, pulled in first with -u (see rf below). C code is
      # still compiled, and libpcap's configure still link-tests, with the full specs: those
      # links are never run, and without libgcc musl's own vfprintf does not link.
      sed -e 's| crtbeginS.o%s||; s|crtendS.o%s ||' -e '/^\*libgcc:/{n;s/.*//}' \
          -e 's|--start-group %G %L --end-group|--start-group %L --end-group|' \
          "$s/lib/musl-gcc.specs" > "$s/lib/musl-gcc-nolibgcc.specs"
      linker=$s/bin/$name-gcc-link
      printf '#!/bin/sh\nexec %s-gcc %s "$@" -specs "%s/lib/musl-gcc-nolibgcc.specs"\n' "$gt" "$cf" "$s" > "$linker"
      chmod +x "$linker"
    fi
    # panic=abort never unwinds: a no-op libunwind is all std's backtrace code needs to link
    # (rebuilt every time: it takes milliseconds and follows cross/unwind_stub.c).
    "$cc" -Os -c "$ROOT/cross/unwind_stub.c" -o "$OUT/unwind_stub-$name.o"
    rm -f "$s/lib/libunwind.a"
    "$gt-ar" rcs "$s/lib/libunwind.a" "$OUT/unwind_stub-$name.o"
    local pc; pc=$(libpcap "$cc" "${gt/gnu/musl}" "$name" "" "$s/kh")
    env+=("CC_$low=$cc" "AR_$low=$gt-ar" "CARGO_TARGET_${up}_LINKER=$linker")
    if [ "$tc" = nightly ]; then
      # optimize_for_size: std's smaller variants (sort, formatting); −260 KB on MIPS, which
      # keeps the .ipk under 1.2 MiB now that SQLite and tokio are in.
      std=(-Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size${NETWATCH_XC_STD_FEATURES:-})
      # Use our musl (not rust-std's self-contained copy); 32-bit musl 1.2 has 64-bit time_t,
      # which the libc crate only uses with this cfg — without it every pcap timestamp is
      # garbage. MIPS needs crt-static spelled out.
      rf="-C link-self-contained=no --cfg libc_unstable_musl_v1_2 $common_rf -Zlocation-detail=none ${NETWATCH_XC_EXTRA_RF:-}"
      case "$t" in mips*) rf="$rf -C target-feature=+crt-static" ;; esac
      # MIPS routers have the least flash: their builds optimise for size first (opt-level
      # "z"): −262 KB on mipsel (3,156,620 → 2,894,548 bytes with notifications, MQTT and
      # blocking), which keeps the binary under 3 MiB and the .ipk under 1.4 MiB. The price is
      # speed: on x86, where the benchmarks run (at "s"), "z" costs +38 % instructions per
      # packet (621.5 → 857.6 on the LAN mix). Other targets keep "s".
      # With it, `--cfg netwatch_small` forces inlining of small helpers of the per-packet path
      # (DNS and suffix-list reading, address sketches) that "z" would leave as calls: on x86
      # 857.6 → 811.7 instructions per packet, and 0 bytes on mipsel. (Forcing the LRU table's
      # too won 47 more on x86 but cost 65 KB on mipsel, its generic code copied into every
      # call site: left out.)
      case "$t" in mips*)
        env+=("CARGO_PROFILE_RELEASE_OPT_LEVEL=${NETWATCH_MIPS_OPT_LEVEL:-z}")
        rf="$rf --cfg netwatch_small" ;;
      esac
      case "$t" in arm-unknown-linux-musleabihf)
        rf="$rf -C target-cpu=arm1176jzf-s"
        for sym in __aeabi_idiv __aeabi_uidiv __aeabi_idivmod __aeabi_uidivmod __aeabi_ldivmod __aeabi_uldivmod \
                   __aeabi_llsl __aeabi_llsr __aeabi_lasr __aeabi_lmul __clzsi2 __clzdi2 __ctzsi2 __popcountsi2 \
                   __aeabi_l2d __aeabi_ul2d __aeabi_d2lz __aeabi_d2ulz __aeabi_l2f __aeabi_ul2f __aeabi_f2lz __aeabi_f2ulz \
                   __aeabi_memcpy __aeabi_memcpy4 __aeabi_memcpy8 __aeabi_memset __aeabi_memset4 __aeabi_memclr __aeabi_memclr4 __aeabi_memmove; do
          rf="$rf -C link-arg=-Wl,-u,$sym"
        done ;;
      esac
      env+=("CARGO_TARGET_${up}_RUSTFLAGS=$rf")
    else
      env+=("CARGO_TARGET_${up}_LINKER=$gt-gcc" "CARGO_TARGET_${up}_RUSTFLAGS=$common_rf")
    fi
  fi
  log "building netwatch for $t"
  # A target dir of its own, so cross builds never wait on (or invalidate) the native one.
  (cd "$ROOT" && env "${env[@]}" CARGO_TARGET_DIR="$ROOT/target/xc" LIBPCAP_LIBDIR="$pc/lib" LIBPCAP_VER="$(ver libpcap)" \
    cargo "+$tc" build --release --locked --target "$t" "${std[@]}" --bin netwatch 2> "$OUT/$t.log") \
    || { show_logs "$OUT/$t.log"; exit 1; }
  mkdir -p "$OUT/$t"
  cp "$ROOT/target/xc/$t/release/netwatch" "$OUT/$t/netwatch"
  printf '%-34s %9d bytes\n' "$t" "$(stat -c %s "$OUT/$t/netwatch")"
}

mkdir -p "$CACHE" "$OUT"
[ "$INSTALL" = 1 ] && install_deps
fetch_sources
for t in "${TARGETS[@]}"; do build_target "$t"; done
