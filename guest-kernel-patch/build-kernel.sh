#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Build a minimal x86_64 guest kernel: Debian's linux-source-6.12 with the
# virtio_vswap patch series (guest-kernel-patch/patches/) applied and the
# driver built in, for tests/guest/run-guest.py --kernel PATH --builtin.
#
# Steps, each cached under build/linux-6.12-vswap/:
#   1. extract /usr/src/linux-source-6.12.tar.xz (once per tarball)
#   2. apply the series with patch -p1 (a previously applied, different
#      series is reversed first; the tree is extracted again if that fails)
#   3. make tinyconfig, add what the test guest needs (the list below) as
#      tinyconfig adds its own fragments (allnoconfig with
#      KCONFIG_ALLCONFIG), and check that every option is as asked
#   4. make -j$(nproc) bzImage, then the driver again with W=1 and, if
#      sparse is installed, C=2: any warning fails the build
# The build is skipped when the tarball, the series, this script and the
# compiler are the same as last time; otherwise make runs incrementally.
# Each bzImage built is also kept in $VSWAP_CACHE/linux-6.12-vswap/KEY/
# (default /var/cache/vswap), so that a fresh clone with the same inputs
# takes it from there instead of building.
# Prints the path of the bzImage on stdout, everything else on stderr.
#
# Usage: guest-kernel-patch/build-kernel.sh [--force] [--jobs N]
#   --force     build even if the cached bzImage matches the inputs
#   --jobs N    parallel jobs (default: nproc)
#   --tarball F default /usr/src/linux-source-6.12.tar.xz
#
# Debian packages: linux-source-6.12 (bookworm-backports), build-essential,
# bc, bison, flex, libelf-dev, libssl-dev, cpio, xz-utils; optional sparse.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
tarball=/usr/src/linux-source-6.12.tar.xz
jobs=$(nproc)
force=0
while [ $# -gt 0 ]; do
	case "$1" in
	--force) force=1; shift ;;
	--jobs) jobs=$2; shift 2 ;;
	--tarball) tarball=$2; shift 2 ;;
	-h|--help) sed -n '3,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "build-kernel: unknown option $1" >&2; exit 2 ;;
	esac
done

log() { echo "build-kernel: $*" >&2; }
die() { log "$*"; exit 1; }

# Options on top of tinyconfig: NAME=y, NAME=n or NAME=VALUE.  Everything
# tests/guest/init.sh, busybox and the checker need, zswap for the zswap
# scenario, ACPI for poweroff and S3 (run-guest.py --mode pm).
config_opts=(
	# the machine: 64-bit, SMP (one virtqueue per CPU), q35 PCI, ACPI
	64BIT=y SMP=y NR_CPUS=8 PCI=y PCI_MSI=y ACPI=y SUSPEND=y PM_SLEEP=y
	ACPI_SLEEP=y
	# virtio and the driver, built in
	VIRTIO_MENU=y VIRTIO=y VIRTIO_PCI=y VIRTIO_PCI_LEGACY=n
	BLOCK=y BLK_DEV=y BLK_DEV_VIRTIO_VSWAP=y
	# swap and zswap (zsmalloc, lzo and zstd).  6.12's zswap writes back
	# from a full pool by walking memory cgroups (shrink_worker()):
	# without MEMCG it never writes back, it only rejects new pages
	SWAP=y ZSWAP=y ZSMALLOC=y CRYPTO_LZO=y CRYPTO_ZSTD=y CGROUPS=y MEMCG=y
	VM_EVENT_COUNTERS=y
	# boot: initramfs, serial console, printk
	BLK_DEV_INITRD=y RD_GZIP=y TTY=y SERIAL_8250=y SERIAL_8250_CONSOLE=y
	PRINTK=y BUG=y KALLSYMS=y
	# userspace: busybox, static binaries, scripts
	BINFMT_ELF=y BINFMT_SCRIPT=y PROC_FS=y PROC_SYSCTL=y SYSFS=y
	DEVTMPFS=y DEVTMPFS_MOUNT=y TMPFS=y SHMEM=y MULTIUSER=y
	POSIX_TIMERS=y FUTEX=y EPOLL=y SIGNALFD=y TIMERFD=y EVENTFD=y
	FILE_LOCKING=y ADVISE_SYSCALLS=y
	# run-guest.py looks for "BUG:" and hung tasks in the console
	DEBUG_KERNEL=y DETECT_HUNG_TASK=y SOFTLOCKUP_DETECTOR=y
	# closer to a distribution kernel than tinyconfig's choices, and a
	# bzImage that TCG decompresses quickly
	CC_OPTIMIZE_FOR_SIZE=n CC_OPTIMIZE_FOR_PERFORMANCE=y SLUB_TINY=n
	KERNEL_XZ=n KERNEL_GZIP=y
)

series=$top/guest-kernel-patch/patches
patches=("$series"/[0-9][0-9][0-9][0-9]-*.patch)
[ -f "${patches[0]}" ] || die "no patches in $series (run make-series.sh)"
[ -f "$tarball" ] || die "no $tarball (apt-get install -t bookworm-backports linux-source-6.12)"
for tool in bc bison flex gcc make patch perl xz; do
	command -v "$tool" >/dev/null || die "needs $tool"
done

out=$top/build/linux-6.12-vswap
tree=$out/linux-source-6.12
image=$out/bzImage
cache=${VSWAP_CACHE:-/var/cache/vswap}/linux-6.12-vswap
mkdir -p "$out"

# Contents only, no paths: a fresh clone elsewhere finds the same key.
key=$( {
	stat -L -c '%n %s %Y' "$tarball"
	cat "$0" "${patches[@]}" | sha256sum
	gcc --version | head -1
} | sha256sum | cut -c1-16)
if [ "$force" = 0 ] && [ -s "$image" ] &&
   [ "$(cat "$out/built-key" 2>/dev/null)" = "$key" ]; then
	log "cached ($key)"
	echo "$image"
	exit 0
fi
if [ "$force" = 0 ] && [ -s "$cache/$key/bzImage" ]; then
	cp "$cache/$key/bzImage" "$image.tmp"
	cp "$cache/$key/config" "$out/config"
	mv "$image.tmp" "$image"
	echo "$key" >"$out/built-key"
	log "from the cache ($cache/$key)"
	echo "$image"
	exit 0
fi
t0=$(date +%s)

# 1. The pristine tree.
tarkey=$(stat -L -c '%s-%Y' "$tarball")
extract() {
	log "extracting ${tarball##*/}"
	rm -rf "$tree" "$out/applied" "$out/extracted"
	tar -xJf "$tarball" -C "$out"
	[ -f "$tree/Makefile" ] || die "$tarball has no linux-source-6.12/"
	echo "$tarkey" >"$out/extracted"
}
[ "$(cat "$out/extracted" 2>/dev/null)" = "$tarkey" ] || extract

# 2. The series: reverse what is applied if it differs, then apply.
applied=$out/applied
if [ -d "$applied" ] && ! diff -rq "$applied" "$series" >/dev/null 2>&1; then
	log "reversing the previously applied series"
	reversed=1
	old=("$applied"/*.patch)
	for ((i = ${#old[@]} - 1; i >= 0; i--)); do
		patch -d "$tree" -p1 -R -s --batch <"${old[i]}" >&2 ||
			{ reversed=0; break; }
	done
	if [ "$reversed" = 0 ]; then
		log "cannot reverse it: starting from a fresh tree"
		extract
	fi
	rm -rf "$applied"
fi
if [ ! -d "$applied" ]; then
	for p in "${patches[@]}"; do
		log "applying ${p##*/}"
		patch -d "$tree" -p1 -s --batch --forward <"$p" >&2 ||
			die "${p##*/} does not apply"
	done
	mkdir -p "$applied.tmp"
	cp "${patches[@]}" "$applied.tmp/"
	mv "$applied.tmp" "$applied"
fi

# 3. The configuration: tinyconfig, then our options merged in with
# allnoconfig (as tinyconfig itself does), so that the options they make
# visible start off instead of at their defaults (VT, input, HID, ACPI
# drivers, ...).  Then check that every option is as asked.
kmake() { make -C "$tree" ARCH=x86_64 "$@"; }
log "configuring (tinyconfig + ${#config_opts[@]} options)"
kmake -s tinyconfig >&2
frag=$out/config.fragment
names=$(printf '%s\n' "${config_opts[@]%%=*}" | paste -sd'|')
{
	grep -vE "^(# )?CONFIG_($names)[= ]" "$tree/.config"
	for o in "${config_opts[@]}"; do
		case "$o" in
		*=n) echo "# CONFIG_${o%=n} is not set" ;;
		*) echo "CONFIG_$o" ;;
		esac
	done
} >"$frag"
kmake -s KCONFIG_ALLCONFIG="$frag" allnoconfig >&2
missing=
for o in "${config_opts[@]}"; do
	case "$o" in
	*=n) ! grep -q "^CONFIG_${o%=n}=" "$tree/.config" ;;
	*) grep -qx "CONFIG_$o" "$tree/.config" ;;
	esac || missing="$missing $o"
done
[ -z "$missing" ] || die "options not as asked:$missing"
cp "$tree/.config" "$out/config"

# 4. The kernel, and the driver once more with W=1 and sparse.
log "make -j$jobs bzImage"
kmake -j"$jobs" bzImage >&2
drv=drivers/block/virtio_vswap.o
checks=(W=1)
command -v sparse >/dev/null && checks+=(C=2)
log "checking $drv with ${checks[*]}"
warnings=$(kmake "${checks[@]}" "$drv" 2>&1 >/dev/null |
	grep -v '^make' || true)
# Rebuild it as the kernel has it, so the next incremental build is quiet.
kmake -s "$drv" >&2
[ -z "$warnings" ] || { echo "$warnings" >&2; die "$drv: warnings"; }

cp "$tree/arch/x86/boot/bzImage" "$image.tmp"
mv "$image.tmp" "$image"
echo "$key" >"$out/built-key"
# Keep it for fresh clones; an unwritable cache only costs a rebuild.
if mkdir -p "$cache/$key.tmp" 2>/dev/null &&
   cp "$image" "$out/config" "$cache/$key.tmp/" 2>/dev/null; then
	rm -rf "$cache/$key"
	mv "$cache/$key.tmp" "$cache/$key"
else
	log "cannot keep a copy in $cache"
fi
log "built in $(($(date +%s) - t0)) s: $(du -h "$image" | cut -f1)," \
	"$(grep -c '=y$' "$out/config") options; config in ${out#"$top"/}/config"
echo "$image"
