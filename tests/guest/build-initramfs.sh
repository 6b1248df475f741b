#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the initramfs of the vswap test guest.
#
# It holds busybox-static, the virtio modules of the guest kernel (virtio,
# virtio_ring, virtio_pci, virtio_balloon and what they depend on) and
# ACPI's button, the virtio_vswap driver built from
# guest-kernel-patch/driver, the checker (tests/guest/checker.c, static)
# and tests/guest/init.sh as /init.  Optionally one corpus file is copied
# in as /corpus.pages for the checker's data pages.
#
# Usage: tests/guest/build-initramfs.sh [options]
#   --kver VER      guest kernel (default: the newest Debian 6.1 kernel
#                   installed, e.g. 6.1.0-56-amd64; its modules in
#                   /lib/modules/VER, headers in /lib/modules/VER/build)
#   --corpus FILE   corpus file (default python-heap.pages of $VSWAP_CORPUS
#                   or of build/corpus, made by scripts/make-corpus.py);
#                   "none" to let the checker generate pseudo-random pages
#   --out DIR       output directory (default build/guest)
#   --debug         build the driver with VSWAP_DEBUG=1 (testing-only
#                   module parameters such as debug_discard_hold_ms)
#   --builtin       for a kernel with virtio and the driver built in
#                   (guest-kernel-patch/build-kernel.sh): no modules at
#                   all, --kver and its /lib/modules are not used
#   --bench         also what bench/guest-bench.py and migration-bench.py
#                   need: virtio_blk, zram and its compressors (lz4,
#                   lz4hc, zstd), GNU sort with its libraries, genlines
#   --force         rebuild even if a cached image matches the inputs
#
# Prints the path of the image on stdout (everything else goes to stderr).
# Images are cached as DIR/initramfs-<hash>.cpio.gz, keyed by a hash of
# every input; DIR/initramfs.cpio.gz links to the last one built or used.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
# The newest installed 6.1 kernel (linux-image-amd64 on Debian 12).
kver=$(ls /lib/modules 2>/dev/null | grep -E '^6\.1\.[0-9]+-[0-9]+-amd64$' |
       sort -V | tail -n 1)
corpus=${VSWAP_CORPUS:-$top/build/corpus}/python-heap.pages
out=$top/build/guest
force=0
debug=
builtin=
bench=

while [ $# -gt 0 ]; do
	case "$1" in
	--kver) kver=$2; shift 2 ;;
	--corpus) corpus=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--force) force=1; shift ;;
	--debug) debug=1; shift ;;
	--builtin) builtin=1; shift ;;
	--bench) bench=1; shift ;;
	-h|--help) sed -n '3,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "build-initramfs: unknown option $1" >&2; exit 2 ;;
	esac
done

log() { echo "build-initramfs: $*" >&2; }

moddir=/lib/modules/$kver
kdir=${KDIR:-$moddir/build}
busybox=/bin/busybox
driver=$top/guest-kernel-patch/driver
abi=$top/include/vswap
guest=$top/tests/guest

if [ -n "$builtin" ]; then
	[ -z "$debug" ] || { log "--debug needs the module, not --builtin"; exit 2; }
	kver=builtin
fi
need=("$busybox")
[ -n "$builtin" ] || need+=("$moddir/modules.dep" "$kdir/Makefile")
for f in "${need[@]}"; do
	[ -e "$f" ] || { log "missing $f"; exit 1; }
done
[ "$corpus" = none ] || [ -f "$corpus" ] ||
	{ log "no corpus file $corpus: run scripts/make-corpus.py (or make corpus), or set VSWAP_CORPUS"; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
# One build at a time per output directory: concurrent runs (benchmarks,
# tests) wait here, then find the image the first one built.
exec 9>"$out/.lock"
flock 9

# The virtio modules the guest needs, in load order, without duplicates
# (none when the kernel has virtio_pci built in, as Debian's 6.12 does).
modules=
if [ -z "$builtin" ]; then
	# virtio_balloon: the balloon of the host overcommit controller;
	# button: ACPI's power button, which the host presses to end an
	# idle guest's wait (init.sh, vswap.workload=idle).
	wanted="virtio_pci virtio_balloon button"
	# The benches' other swap devices and zram's compressors.
	[ -z "$bench" ] || wanted="$wanted virtio_blk zram lz4 lz4hc zstd"
	deps=
	for w in $wanted; do
		deps="$deps
$(modprobe -S "$kver" --show-depends "$w")" ||
			{ log "cannot resolve $w in $moddir"; exit 1; }
	done
	modules=$(echo "$deps" | awk '$1 == "insmod" { print $2 }' |
		awk '!seen[$0]++')
fi

# GNU sort's shared libraries and loader (bench workload), from ldd.
sort_libs() {
	ldd /usr/bin/sort | awk '$2 == "=>" && $3 ~ /^\// { print $3 }
		$1 ~ /^\// { print $1 }'
}

# Cache key: every input, by content (the corpus by name, size and mtime).
key=$( {
	echo "kver=$kver kdir=$kdir debug=$debug builtin=$builtin bench=$bench"
	sha256sum "$0" "$guest/init.sh" "$guest/checker.c" "$busybox"
	[ -z "$bench" ] || sha256sum "$guest/genlines.c" /usr/bin/sort \
		$(sort_libs)
	if [ -z "$builtin" ]; then
		# shellcheck disable=SC2086 # one word per module path
		sha256sum "$driver"/*.c "$driver/Kbuild" \
			"$abi/virtio_vswap.h" $modules "$kdir/Module.symvers"
	fi
	if [ "$corpus" = none ]; then
		echo "corpus=none"
	else
		stat -L -c 'corpus=%n %s %Y' "$corpus"
	fi
	gcc --version | head -1
} | sha256sum | cut -c1-16)
image=$out/initramfs-$key.cpio.gz
if [ "$force" = 0 ] && [ -s "$image" ]; then
	log "cached $image"
	ln -sfn "${image##*/}" "$out/initramfs.cpio.gz"
	echo "$image"
	exit 0
fi

# 1. The driver, built from a copy so the source tree stays clean.
ko=
if [ -z "$builtin" ]; then
	mbuild=$out/module/$kver
	rm -rf "$mbuild"
	mkdir -p "$mbuild"
	cp "$driver"/*.c "$driver/Kbuild" "$mbuild/"
	log "building virtio_vswap.ko for $kver${debug:+ (VSWAP_DEBUG)}"
	make -s -C "$kdir" M="$mbuild" VSWAP_INCLUDE="$abi" VSWAP_DEBUG="$debug" \
		W=1 modules >&2
	ko=$mbuild/virtio_vswap.ko
	# Its own dependencies must be among the modules loaded before it.
	for dep in $(modinfo -F depends "$ko" | tr , ' '); do
		echo "$modules" | grep -q "/$dep\.ko" ||
			grep -q "/$dep\.ko\$" "$moddir/modules.builtin" ||
			{ log "virtio_vswap needs $dep, not in the initramfs"; exit 1; }
	done
fi

# 2. The checker.
log "building checker"
gcc -static -O2 -Wall -Wextra -o "$out/checker" "$guest/checker.c"

[ -z "$bench" ] ||
	gcc -static -O2 -Wall -Wextra -o "$out/genlines" "$guest/genlines.c"

# 3. The root file system.
root=$out/root
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,lib/modules}
cp "$busybox" "$root/bin/busybox"
install -m 0755 "$guest/init.sh" "$root/init"
cp "$out/checker" "$root/checker"
[ -z "$ko" ] || cp "$ko" "$root/lib/modules/"
: >"$root/lib/modules/load-order"
for m in $modules; do
	name=${m##*/}
	case "$name" in
	*.ko) cp "$m" "$root/lib/modules/$name" ;;
	*.ko.xz) name=${name%.xz}; xz -dc "$m" >"$root/lib/modules/$name" ;;
	*.ko.zst) name=${name%.zst}; zstd -qdc "$m" >"$root/lib/modules/$name" ;;
	*.ko.gz) name=${name%.gz}; gzip -dc "$m" >"$root/lib/modules/$name" ;;
	*) log "unknown module format $m"; exit 1 ;;
	esac
	echo "$name" >>"$root/lib/modules/load-order"
done
if [ "$corpus" != none ]; then
	cp "$corpus" "$root/corpus.pages"
fi
if [ -n "$bench" ]; then
	cp "$out/genlines" "$root/genlines"
	mkdir -p "$root/usr/local/bin"
	cp /usr/bin/sort "$root/usr/local/bin/sort"
	for lib in $(sort_libs); do
		mkdir -p "$root${lib%/*}"
		cp -L "$lib" "$root$lib"
	done
fi

# 4. The archive.
log "packing $image"
tmp=$image.tmp
(cd "$root" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --owner=0:0 --quiet) | gzip -1 >"$tmp"
mv "$tmp" "$image"
rm -rf "$root"
ln -sfn "${image##*/}" "$out/initramfs.cpio.gz"
log "$(du -h "$image" | cut -f1), $(echo "$modules" | grep -c .) virtio" \
	"modules${builtin:+ (built-in kernel)}, corpus: ${corpus##*/}"
echo "$image"
