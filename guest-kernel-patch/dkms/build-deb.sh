#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Assemble the DKMS source tree of the virtio_vswap driver and build the
# virtio-vswap-dkms Debian package from it.
#
# Usage: guest-kernel-patch/dkms/build-deb.sh [--source-only] [--out DIR]
#   --out DIR       where to work (default build/dkms)
#   --source-only   only assemble DIR/virtio-vswap-VERSION, the tree that
#                   `dkms add` takes; no package
#
# The tree holds dkms.conf, the driver's Kbuild, Makefile and
# virtio_vswap.c, and the ABI header include/vswap/virtio_vswap.h next to
# them; for the package, also the udev rule, the systemd unit and debian/.  The package,
# built with dpkg-buildpackage -b (debhelper and dh-dkms), is
# DIR/virtio-vswap-dkms_VERSION-1_all.deb; its path is printed on stdout.
# The version comes from dkms.conf and must match debian/changelog and
# meson.build.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
gkp=$top/guest-kernel-patch
out=$top/build/dkms
source_only=

while [ $# -gt 0 ]; do
	case "$1" in
	--out) out=$2; shift 2 ;;
	--source-only) source_only=1; shift ;;
	-h|--help) sed -n '3,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "build-deb: unknown option $1" >&2; exit 2 ;;
	esac
done

log() { echo "build-deb: $*" >&2; }

version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$gkp/dkms/dkms.conf")
changelog=$(sed -n '1s/^virtio-vswap (\([^-)]*\)-[^)]*).*/\1/p' "$gkp/debian/changelog")
meson=$(sed -n "s/^ *version: '\([^']*\)',\$/\1/p" "$top/meson.build" | head -n 1)
if [ -z "$version" ] || [ "$version" != "$changelog" ] || [ "$version" != "$meson" ]; then
	log "versions differ: dkms.conf '$version', debian/changelog '$changelog', meson.build '$meson'"
	exit 1
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$out/virtio-vswap-$version
rm -rf "$src"
mkdir -p "$src"
cp "$gkp/dkms/dkms.conf" "$gkp/driver/Kbuild" "$gkp/driver/Makefile" \
	"$gkp/driver/virtio_vswap.c" "$top/include/vswap/virtio_vswap.h" "$src/"
if [ -n "$source_only" ]; then
	log "DKMS source tree: $src"
	echo "$src"
	exit 0
fi
# The package's source tree: the same plus what only the package ships.
cp "$gkp/dkms/60-vswap.rules" "$gkp/dkms/vswap-swapon@.service" "$src/"
cp -r "$gkp/debian" "$src/"

log "dpkg-buildpackage in $src"
rm -f "$out"/virtio-vswap*.deb "$out"/virtio-vswap_*.buildinfo \
	"$out"/virtio-vswap_*.changes
# SOURCE_DATE_EPOCH from debian/changelog (dpkg-buildpackage sets it) keeps
# the package reproducible.
(cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 ||
	{ tail -n 30 "$out/build.log" >&2; log "dpkg-buildpackage failed, see $out/build.log"; exit 1; }
deb=$out/virtio-vswap-dkms_${version}-1_all.deb
[ -f "$deb" ] || { log "no $deb"; exit 1; }
log "built $deb"
echo "$deb"
