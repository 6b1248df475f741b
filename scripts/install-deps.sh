#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Install every build and test dependency of vswap from Debian's archive.
#
# With --libvirt, it installs only what the opt-in libvirt suite needs.
#
# Idempotent: when every package is already installed it returns at once
# without touching apt.  Works on Debian 12 (bookworm) and 13 (trixie).
# On bookworm it enables bookworm-backports (meson >= 1.5 for QEMU 10.0)
# and a deb-src entry for trixie (the QEMU 10.0 source package).  The
# archive URI is taken from the machine's own apt configuration, so
# nothing is fetched from anywhere but the configured Debian mirror.
set -euo pipefail

SUDO=
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive

# Packages from the release itself.
PACKAGES=(
    # standalone build and tools
    build-essential pkgconf ninja-build python3 python3-venv git ccache
    # the page corpus (scripts/make-corpus.py): Node.js is one of its
    # workloads, procps's pgrep finds cc1, and redis-tools ships the Redis
    # server (as redis-check-rdb) for the key-value heap; redis-server's
    # own package would enable and start a system service
    nodejs procps redis-tools
    libglib2.0-dev liburing-dev libzstd-dev zstd
    # zram's default compressor, which the store benchmark compares with
    liblz4-dev
    # JSON for the overcommit controller (tools/overcommit: QMP replies,
    # its status); meson builds the daemon only when it is found
    libjson-glib-dev
    # QEMU 10.0 build (apt-get source needs dpkg-dev)
    dpkg-dev flex bison zlib1g-dev libpixman-1-dev
    # QEMU's rbd driver (--enable-rbd), and the single-node Ceph cluster
    # that the rbd suite runs (scripts/ceph-cluster.sh)
    librbd-dev ceph-mon ceph-osd ceph-common
    # firmware wired into the QEMU build's data directory
    seabios ipxe-qemu qemu-system-data
    # sanitizers and fuzzing
    clang libclang-rt-14-dev
    # guest kernel, initramfs and QMP plumbing
    busybox-static cpio kmod xz-utils linux-image-amd64 linux-headers-amd64 socat
    # the patched Linux 6.12 guest (guest-kernel-patch/build-kernel.sh,
    # make-series.sh)
    bc libelf-dev patch perl unifdef sparse
    # plots of the guest benchmarks (bench/guest-bench.py)
    python3-matplotlib
    # the guest module through DKMS and its Debian package
    # (guest-kernel-patch/dkms, scripts/check.sh dkms)
    dkms dh-dkms debhelper
)
# Installed only by the opt-in suites that need them (scripts/check.sh
# SUITE), never by make check: installing libvirt-daemon-system enables
# libvirtd and its default network on a host with systemd.
#   libvirt: the guest as a libvirt domain (tests/libvirt): Debian's
#   libvirtd (run privately, never as a service) and virsh
LIBVIRT_PACKAGES=(libvirt-daemon-system libvirt-clients)
if [ "${1:-}" = --libvirt ]; then
    PACKAGES=("${LIBVIRT_PACKAGES[@]}")
fi
# Packages that must come from backports on bookworm.
BACKPORTS_PACKAGES=(meson linux-source-6.12)
# Packages that only backports has, installed without -t bookworm-backports:
# with it, apt would also move linux-headers-amd64 and linux-image-amd64
# (the same source packages) to backports' 6.12.  The 6.12 headers of the
# DKMS test, the version of linux-source-6.12; they pull in the matching
# kernel image.  On trixie, linux-headers-amd64 is 6.12 already.
BACKPORTS_ONLY_PACKAGES=()

. /etc/os-release
codename=${VERSION_CODENAME:-}
case "$codename" in
bookworm) BACKPORTS_ONLY_PACKAGES+=(linux-headers-6.12.95+deb12-amd64) ;;
trixie) ;;
*)
    echo "install-deps: unsupported distribution '$codename' (need Debian 12 or 13)" >&2
    exit 1
    ;;
esac

all_installed() {
    dpkg-query -W -f='${db:Status-Abbrev}\n' "$@" 2>/dev/null |
        grep -vq '^ii' && return 1
    # dpkg-query prints nothing for unknown packages: count the rows too.
    [ "$(dpkg-query -W -f='${db:Status-Abbrev}\n' "$@" 2>/dev/null | wc -l)" -eq "$#" ]
}

meson_new_enough() {
    command -v meson >/dev/null &&
        dpkg --compare-versions "$(meson --version)" ge 1.5
}

src_list=/etc/apt/sources.list.d/vswap.sources

if all_installed "${PACKAGES[@]}" "${BACKPORTS_PACKAGES[@]}" \
       ${BACKPORTS_ONLY_PACKAGES[@]+"${BACKPORTS_ONLY_PACKAGES[@]}"} &&
   meson_new_enough && { [ "$codename" = trixie ] || [ -f "$src_list" ]; }; then
    exit 0
fi

# The Debian archive this machine already uses, e.g. ".../debian".
archive_uri() {
    apt-get indextargets --format '$(REPO_URI)' 2>/dev/null |
        grep -E '/debian/?$' | head -n 1 | sed 's:/*$::'
}

if [ "$codename" = bookworm ] && [ ! -f "$src_list" ]; then
    uri=$(archive_uri)
    if [ -z "$uri" ]; then
        echo "install-deps: cannot find the Debian archive in apt's sources" >&2
        exit 1
    fi
    echo "install-deps: adding bookworm-backports and trixie deb-src from $uri"
    $SUDO tee "$src_list" >/dev/null <<EOF
# Added by vswap scripts/install-deps.sh
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: $uri
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
elif [ "$codename" = trixie ] && [ ! -f "$src_list" ]; then
    uri=$(archive_uri)
    $SUDO tee "$src_list" >/dev/null <<EOF
# Added by vswap scripts/install-deps.sh
Types: deb-src
URIs: $uri
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
fi

$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
if [ "$codename" = bookworm ]; then
    $SUDO apt-get install -y -q --no-install-recommends \
        -t bookworm-backports "${BACKPORTS_PACKAGES[@]}"
else
    $SUDO apt-get install -y -q --no-install-recommends "${BACKPORTS_PACKAGES[@]}"
fi
if [ ${#BACKPORTS_ONLY_PACKAGES[@]} -gt 0 ]; then
    $SUDO apt-get install -y -q --no-install-recommends "${BACKPORTS_ONLY_PACKAGES[@]}"
fi

if ! meson_new_enough; then
    echo "install-deps: meson >= 1.5 is required, found $(meson --version 2>&1)" >&2
    exit 1
fi
