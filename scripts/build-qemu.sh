#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build QEMU 10.0 (Debian's source package) with vswap overlaid and wired in.
#
#   build/qemu-src/   Debian's patched QEMU source, tracked in a local git
#                     repository (commit "pristine") so that qemu/*.patch
#                     can be regenerated with `git -C build/qemu-src diff`.
#   build/qemu/       the configured QEMU build directory.
#
# Each step is skipped when its inputs have not changed, so a rebuild after
# editing a project file only recompiles that file:
#   - the source package is fetched once into $VSWAP_CACHE (shared by clones);
#   - the wiring patches are re-applied only when qemu/*.patch change;
#   - project files are copied only when their content differs;
#   - configure runs only when the configure line changes.
#
# Environment: VSWAP_BUILD (default: ./build), VSWAP_CACHE (default:
# /var/cache/vswap), VSWAP_QEMU_ASAN=1 for an AddressSanitizer build in
# build/qemu-asan, VSWAP_QEMU_FUZZ=1 for QEMU's libFuzzer binary
# (qemu-fuzz-x86_64: clang, ASan) in build/qemu-fuzz.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${VSWAP_BUILD:-$top/build}
cache=${VSWAP_CACHE:-/var/cache/vswap}
tree=$build/qemu-src
qbuild=$build/qemu
configure_extra=()
targets=(qemu-system-x86_64 storage-daemon/qemu-storage-daemon qemu-img
         tests/qtest/qos-test tests/qtest/vswap-migration-test)
if [ "${VSWAP_QEMU_ASAN:-0}" = 1 ]; then
    qbuild=$build/qemu-asan
    configure_extra=(--enable-asan --enable-ubsan)
fi
if [ "${VSWAP_QEMU_FUZZ:-0}" = 1 ]; then
    qbuild=$build/qemu-fuzz
    configure_extra=(--cc=clang --cxx=clang++ --enable-fuzzing --enable-asan)
    targets=(qemu-fuzz-x86_64)
fi

# Files and directories that the project owns inside the QEMU tree.
OVERLAY=(hw/vswap block/vswap-backend include/vswap qapi/vswap.json tests/qtest)
# The store benchmark on the block layer (make bench-blk): the project's
# bench/ sources as tests/bench/vswap, wired in by qemu/bench/*.patch.  The
# developer's build only: --tree-only (the patch series) leaves them out.
BENCH_FILES=(meson.build workload.c workload.h vswap-blk-bench.c)
BENCH_DIR=tests/bench/vswap

log() { echo "build-qemu: $*" >&2; }

SUDO=
[ "$(id -u)" -ne 0 ] && SUDO=sudo

fetch_source() {
    local dir
    dir=$(ls -d "$cache"/src/qemu-10.0.*/ 2>/dev/null | tail -n 1 || true)
    if [ -z "$dir" ] || [ ! -f "$dir/.vswap-complete" ]; then
        log "fetching the QEMU source package (apt-get source qemu)"
        $SUDO mkdir -p "$cache/src"
        $SUDO chown "$(id -u):$(id -g)" "$cache" "$cache/src"
        rm -rf "$cache"/src/qemu-10.0.* "$cache"/src/qemu_*
        (cd "$cache/src" && apt-get source -q qemu >/dev/null)
        dir=$(ls -d "$cache"/src/qemu-10.0.*/ 2>/dev/null | tail -n 1 || true)
        if [ -z "$dir" ]; then
            echo "build-qemu: apt-get source did not produce QEMU 10.0.x;" \
                 "is the trixie deb-src entry present (scripts/install-deps.sh)?" >&2
            exit 1
        fi
        touch "$dir/.vswap-complete"
    fi
    echo "${dir%/}"
}

prepare_tree() {
    local pristine=$1
    if [ -f "$tree/.vswap-pristine" ] &&
       [ "$(cat "$tree/.vswap-pristine")" = "$pristine" ]; then
        return
    fi
    log "copying $pristine to $tree"
    rm -rf "$tree" "$qbuild"
    mkdir -p "$build"
    cp -a "$pristine" "$tree"
    rm -f "$tree/.vswap-complete"
    (cd "$tree" &&
        git init -q &&
        git add -A &&
        git -c user.name=vswap -c user.email=vswap@localhost \
            commit -q -m pristine)
    cp "$tree/include/standard-headers/linux/virtio_ids.h" "$tree/.vswap-pristine-ids"
    echo "$pristine" > "$tree/.vswap-pristine"
}

apply_patches() {
    local sum
    sum=$(cat "$top"/qemu/*.patch | sha256sum | cut -d' ' -f1)
    if [ -f "$tree/.vswap-patches" ] && [ "$(cat "$tree/.vswap-patches")" = "$sum" ]; then
        return
    fi
    log "applying wiring patches from qemu/"
    git -C "$tree" checkout -q -- .
    for p in "$top"/qemu/*.patch; do
        git -C "$tree" apply --whitespace=nowarn "$p" ||
            { echo "build-qemu: $p does not apply" >&2; exit 1; }
    done
    echo "$sum" > "$tree/.vswap-patches"
}

# Copy a file only when its content differs, so ninja sees no change otherwise.
sync_file() {
    if ! cmp -s "$1" "$2"; then
        mkdir -p "$(dirname "$2")"
        cp "$1" "$2"
    fi
}

overlay() {
    local item f rel
    for item in "${OVERLAY[@]}"; do
        if [ -f "$top/$item" ]; then
            sync_file "$top/$item" "$tree/$item"
            continue
        fi
        [ -d "$top/$item" ] || continue
        while IFS= read -r -d '' f; do
            rel=${f#"$top"/}
            sync_file "$f" "$tree/$rel"
        done < <(find "$top/$item" -type f -print0)
        # Directories wholly owned by vswap lose files the project deleted.
        case "$item" in
        tests/qtest) ;;
        *)
            while IFS= read -r -d '' f; do
                rel=${f#"$tree"/}
                [ -e "$top/$rel" ] || rm -f "$f"
            done < <(find "$tree/$item" -type f -print0)
            ;;
        esac
    done
}

# The benchmark's sources and its wiring; applied again whenever
# apply_patches has reset the tree.
bench_overlay() {
    local f p
    for f in "${BENCH_FILES[@]}"; do
        sync_file "$top/bench/$f" "$tree/$BENCH_DIR/$f"
    done
    for p in "$top"/qemu/bench/*.patch; do
        git -C "$tree" apply -R --check "$p" 2>/dev/null && continue
        git -C "$tree" apply --whitespace=nowarn "$p" ||
            { echo "build-qemu: $p does not apply" >&2; exit 1; }
    done
}

# QEMU keeps device ABIs in include/standard-headers/, converted from the
# Linux uapi style the way scripts/update-linux-headers.sh does.
standard_header() {
    local src=$top/include/vswap/virtio_vswap.h
    local tmp
    tmp=$(mktemp)
    sed -e 's/__u\([0-9][0-9]*\)/uint\1_t/g' \
        -e 's/__le\([0-9][0-9]*\)/uint\1_t/g' \
        -e 's/<linux\/\([^>]*\)>/"standard-headers\/linux\/\1"/' \
        "$src" > "$tmp"
    sync_file "$tmp" "$tree/include/standard-headers/linux/virtio_vswap.h"
    rm -f "$tmp"
}

# The provisional device ID must not collide with an assigned one.
check_device_id() {
    local id ids f
    id=$(sed -n 's/^#define VIRTIO_ID_VSWAP[[:space:]]*\([0-9]*\).*/\1/p' \
         "$top/include/vswap/virtio_vswap.h")
    [ -n "$id" ] && [ "$id" -lt 64 ] ||
        { echo "build-qemu: VIRTIO_ID_VSWAP must be below 64" >&2; exit 1; }
    for f in "$build/qemu-src/.vswap-pristine-ids" /usr/include/linux/virtio_ids.h; do
        [ -f "$f" ] || continue
        ids=$(grep -v VIRTIO_ID_VSWAP "$f" |
              sed -n 's/^#define VIRTIO_ID_[A-Z0-9_]*[[:space:]]*\([0-9]*\).*/\1/p')
        if grep -qx "$id" <<<"$ids"; then
            echo "build-qemu: VIRTIO_ID_VSWAP $id is assigned in $f" >&2
            exit 1
        fi
    done
}

configure() {
    local args=(--target-list=x86_64-softmmu --without-default-features
                --enable-kvm --enable-tcg --enable-linux-io-uring --enable-zstd
                --enable-tools --enable-rbd
                --disable-docs --disable-user --disable-install-blobs
                --disable-download --python=/usr/bin/python3
                "${configure_extra[@]}")
    local line="${args[*]}"
    if [ -f "$qbuild/build.ninja" ] && [ -f "$qbuild/.vswap-configure" ] &&
       [ "$(cat "$qbuild/.vswap-configure")" = "$line" ]; then
        return
    fi
    log "configuring QEMU in $qbuild"
    rm -rf "$qbuild"
    mkdir -p "$qbuild"
    (cd "$qbuild" && "$tree/configure" "${args[@]}" >configure.log 2>&1) || {
        tail -n 40 "$qbuild/configure.log" >&2
        exit 1
    }
    echo "$line" > "$qbuild/.vswap-configure"
}

# Debian's firmware packages stand in for the blobs that the +ds source lacks.
link_firmware() {
    local datadir=$qbuild/qemu-bundle/usr/local/share/qemu f
    mkdir -p "$datadir"
    for f in /usr/share/qemu/* /usr/share/seabios/* /usr/lib/ipxe/qemu/*; do
        [ -e "$datadir/$(basename "$f")" ] || ln -s "$f" "$datadir/"
    done
}

# --tree-only DIR: apply the wiring patches, the overlay and the standard
# header to DIR, a checkout of the pristine commit, and stop.  The patch
# series (qemu/make-series.sh) compares its result with the tree this makes.
if [ "${1:-}" = --tree-only ]; then
    [ -d "${2:-}/.git" ] || { echo "build-qemu: --tree-only needs a git checkout" >&2; exit 2; }
    tree=$(cd "$2" && pwd)
    apply_patches
    check_device_id
    overlay
    standard_header
    rm -f "$tree/.vswap-patches"
    exit 0
fi

export CCACHE_DIR=${CCACHE_DIR:-$cache/ccache}
# Debian's compiler wrappers make a clean clone's QEMU build mostly cache hits.
[ -d /usr/lib/ccache ] && export PATH=/usr/lib/ccache:$PATH
mkdir -p "$CCACHE_DIR" 2>/dev/null || { $SUDO mkdir -p "$CCACHE_DIR"; $SUDO chown "$(id -u)" "$CCACHE_DIR"; }

pristine=$(fetch_source)
prepare_tree "$pristine"
apply_patches
check_device_id
overlay
bench_overlay
standard_header
configure
log "building ${targets[*]##*/} in $qbuild"
set +e
ninja -C "$qbuild" "${targets[@]}" "$@" |
    grep -v -e '^\[' -e 'WARNING: Source item .* cannot be converted to File'
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
    echo "build-qemu: ninja failed" >&2
    exit "$rc"
fi
link_firmware
log "done: $qbuild/${targets[0]}"
