#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Generate guest-kernel-patch/patches/: the virtio_vswap patch series for
# Debian's linux-source-6.12, from the out-of-tree sources.
#
# One source of truth: the patches are derived, never edited by hand.
#
#   include/vswap/virtio_vswap.h  -> include/uapi/linux/virtio_vswap.h
#       the provisional "#ifndef VIRTIO_ID_VSWAP" block moves to
#       include/uapi/linux/virtio_ids.h (same value)
#   driver/virtio_vswap.c         -> drivers/block/virtio_vswap.c
#       unifdef -UVSWAP_PRE_6_11_API -UVSWAP_DEBUG drops the 6.1 API
#       branch and the testing-only debug_* parameter; the version switch
#       (the comment and "#if LINUX_VERSION_CODE" block that define
#       VSWAP_PRE_6_11_API), <linux/version.h> and the out-of-tree
#       '#include "virtio_vswap.h"' are deleted, <linux/virtio_vswap.h> is
#       included instead, and <linux/delay.h> goes if nothing sleeps
#   Documentation/...              -> copied as they are
#   Kconfig, Makefile, index.rst and MAINTAINERS entries, and the commit
#   messages, are written below.
#
# Each patch is checked to leave none of the out-of-tree constructs behind.
# The pristine files the patches modify are extracted from the tarball
# once (cached in build/series/).  Dates are fixed and the From lines use
# zero hashes, so the output only changes when an input does.
#
# Usage: guest-kernel-patch/make-series.sh [options]
#   --check         do not write: fail if patches/ differs from the output
#   --checkpatch    run scripts/checkpatch.pl --strict on every patch, from
#                   a 6.12 tree (build/linux-6.12-vswap/linux-source-6.12,
#                   else build/linux-6.12/linux-source-6.12, or $KTREE)
#   --tarball FILE  default /usr/src/linux-source-6.12.tar.xz
# Needs: git, unifdef, perl, xz-utils.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
gkp=$top/guest-kernel-patch
tarball=/usr/src/linux-source-6.12.tar.xz
check=0
checkpatch=0
while [ $# -gt 0 ]; do
	case "$1" in
	--check) check=1; shift ;;
	--checkpatch) checkpatch=1; shift ;;
	--tarball) tarball=$2; shift 2 ;;
	-h|--help) sed -n '3,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "make-series: unknown option $1" >&2; exit 2 ;;
	esac
done

log() { echo "make-series: $*" >&2; }
die() { log "$*"; exit 1; }

for tool in git unifdef perl; do
	command -v "$tool" >/dev/null || die "needs $tool (apt-get install $tool)"
done
[ -f "$tarball" ] || die "no $tarball (apt-get install -t bookworm-backports linux-source-6.12)"

name=$(git -C "$top" config user.name) || die "git config user.name is not set"
email=$(git -C "$top" config user.email) || die "git config user.email is not set"
ident="$name <$email>"

# The files of the pristine tree that the series modifies.
base_files=(
	include/uapi/linux/virtio_ids.h
	drivers/block/Kconfig
	drivers/block/Makefile
	Documentation/admin-guide/blockdev/index.rst
	MAINTAINERS
)
scratch=$top/build/series
base=$scratch/base-$(stat -L -c '%s-%Y' "$tarball")
if [ ! -f "$base/.done" ]; then
	log "extracting ${#base_files[@]} files from ${tarball##*/}"
	rm -rf "$base"
	mkdir -p "$base"
	tar -xJf "$tarball" -C "$base" --strip-components=1 \
		"${base_files[@]/#/linux-source-6.12/}"
	touch "$base/.done"
fi

# A throwaway repository holding the base files; one commit per patch.
work=$scratch/work
rm -rf "$work"
mkdir -p "$work"
cd "$work"
export GIT_AUTHOR_NAME=$name GIT_AUTHOR_EMAIL=$email
export GIT_COMMITTER_NAME=$name GIT_COMMITTER_EMAIL=$email
export GIT_AUTHOR_DATE='2026-11-23T12:00:00+00:00'
export GIT_COMMITTER_DATE=$GIT_AUTHOR_DATE
git init -q -b master .
git config core.autocrlf false
for f in "${base_files[@]}"; do
	mkdir -p "$(dirname "$f")"
	cp "$base/$f" "$f"
done
git add -A
git commit -q -m base

commit() {
	git add -A
	git commit -q -s -F -
}

# Insert the text on stdin after the first line of FILE matching REGEX
# (or before it, with "before"); fail if there is no such line.
insert() {
	local where=$1 regex=$2 file=$3 text
	text=$(cat; echo .)
	text=${text%.}
	TEXT=$text perl -0777 -i -pe '
		BEGIN { $re = shift; $where = shift; $done = 0 }
		if ($where eq "after") {
			$done = s/^($re[^\n]*\n)/$1$ENV{TEXT}/m;
		} else {
			$done = s/^($re[^\n]*\n)/$ENV{TEXT}$1/m;
		}
		END { exit !$done }' "$regex" "$where" "$file" ||
		die "no line matching /$regex/ in $file"
}

# Add an F: line to the VIRTIO VSWAP DRIVER entry, keeping F: lines sorted.
maintainers_add() {
	perl -0777 -i -pe '
		BEGIN { $f = shift }
		s{^(VIRTIO VSWAP DRIVER\n(?:[A-Z]:\t[^\n]*\n)*)}{
			my @l = split /\n/, $1;
			push @l, "F:\t$f";
			my @h = grep { !/^F:/ } @l;
			my @fl = sort grep { /^F:/ } @l;
			join("\n", @h, @fl) . "\n"
		}me or die "no VIRTIO VSWAP DRIVER entry\n"' "$1" MAINTAINERS
}

# Fail if FILE still contains a line matching REGEX.
refuse() {
	if grep -nE "$1" "$2" >&2; then
		die "$2: out-of-tree construct left over (/$1/)"
	fi
}

# --- 0001: the ABI ---
hdr=include/uapi/linux/virtio_vswap.h
id=$(sed -n 's/^#define VIRTIO_ID_VSWAP[[:space:]]*\([0-9]*\)$/\1/p' \
	"$top/include/vswap/virtio_vswap.h")
[ -n "$id" ] || die "no VIRTIO_ID_VSWAP in include/vswap/virtio_vswap.h"
perl -0777 -pe '
	s{/\*\n \* Provisional virtio device ID.*?#ifndef VIRTIO_ID_VSWAP\n.*?#endif\n\n}{}s
		or die "no provisional VIRTIO_ID_VSWAP block\n"' \
	"$top/include/vswap/virtio_vswap.h" >"$hdr"
refuse 'VIRTIO_ID_VSWAP' "$hdr"
insert after '#define VIRTIO_ID_GPIO\s' include/uapi/linux/virtio_ids.h <<EOF
#define VIRTIO_ID_VSWAP			$id /* virtio vswap (provisional) */
EOF
insert before 'VIRTUAL BOX GUEST DEVICE DRIVER$' MAINTAINERS <<EOF
VIRTIO VSWAP DRIVER
M:	$ident
L:	virtualization@lists.linux.dev
L:	linux-block@vger.kernel.org
S:	Maintained

EOF
maintainers_add "$hdr"
commit <<EOF
virtio_vswap: add the virtio-vswap device ABI

Add the device ID and the uapi header of virtio-vswap, a paravirtual
swap device whose slots are keys into a page store kept by the host.

A guest that swaps to a virtio-blk disk needs a fully provisioned disk
per guest, stores its pages uncompressed, and the whole disk has to be
copied when the guest migrates.  zram and zswap compress inside guest
memory instead, which the host can neither reclaim, share nor move to
slower storage.  With virtio-vswap the pages live in the hypervisor:
the device exposes "capacity" slots of 4 KiB, and a slot is only a key
under which the host stores a page as it sees fit: as one 32-bit value,
compressed in host memory, or compressed in a log file on host storage.
Slots that were never written, or were discarded, cost the host
nothing, so the device can be much larger than what backs it.

Each request names a batch of discontiguous slots, one entry per slot:
WRITE stores one page per slot, and a page made of one repeated 32-bit
value (a zero page, for instance) travels as a flagged entry without
payload; READ returns one page per slot; DISCARD forgets ranges of
slots and releases what the host held for them.  Every entry gets its
own status byte, so a failing page fails alone.  Once a WRITE
completed, a READ of the slot returns that page until it is written
again or discarded, whatever the host does with the page meanwhile.

The header is BSD licensed like the other virtio headers, so that
devices can use it.  Device ID $id is provisional: it has not been
assigned by the virtio TC, and is clear of the IDs in use (the modern
PCI device ID is 0x1040 + $id = $(printf '%#x' $((0x1040 + id)))).
EOF

# --- 0002: the driver ---
drv=drivers/block/virtio_vswap.c
unifdef -x 2 -UVSWAP_PRE_6_11_API -UVSWAP_DEBUG \
	"$gkp/driver/virtio_vswap.c" >"$drv.tmp" ||
	die "unifdef failed on driver/virtio_vswap.c"
perl -0777 -pe '
	s{\n/\*\n \* Out-of-tree builds support.*?\n#if LINUX_VERSION_CODE [^\n]*\n#define VSWAP_PRE_6_11_API\n#endif\n}{}s
		or die "no version switch\n";
	s{\n/\* Out of tree the ABI header [^\n]*\*/\n#include "virtio_vswap.h"\n}{}
		or die "no out-of-tree include\n";
	s{^#include <linux/version.h>\n}{}m or die "no version.h\n";
	s{^(#include <linux/virtio_config.h>\n)}{$1#include <linux/virtio_vswap.h>\n}m
		or die "no virtio_config.h\n";
	s{^#include <linux/delay.h>\n}{}m
		unless /\b(?:[mun]sleep|[mun]delay|ssleep|fsleep|usleep_range)\s*\(/;
	# unifdef leaves the blank lines around a removed block
	s{\n{3,}}{\n\n}g;
	' "$drv.tmp" >"$drv"
rm "$drv.tmp"
refuse 'LINUX_VERSION_CODE|KERNEL_VERSION|VSWAP_PRE_6_11_API|VSWAP_DEBUG|debug_|linux/version\.h|"virtio_vswap\.h"|out.of.tree|Out.of.tree' "$drv"
insert before 'config BLK_DEV_RUST_NULL$' drivers/block/Kconfig <<'EOF'
config BLK_DEV_VIRTIO_VSWAP
	tristate "Virtio swap device (virtio-vswap)"
	depends on VIRTIO && SWAP
	help
	  This is the driver of virtio-vswap, a paravirtual swap device for
	  virtual machines.  Its slots are keys into a page store kept by the
	  hypervisor, which may keep swapped-out pages compressed in host
	  memory or on host storage, move them between the two, and migrate
	  them with the guest.  Slots freed by swap are handed back to the
	  host at once.

	  Each device appears as /dev/vswapN, for mkswap and swapon.  See
	  <file:Documentation/admin-guide/blockdev/vswap.rst>.

	  To compile this driver as a module, choose M here: the module will
	  be called virtio_vswap.

EOF
insert after 'obj-\$\(CONFIG_VIRTIO_BLK\)' drivers/block/Makefile <<'EOF'
obj-$(CONFIG_BLK_DEV_VIRTIO_VSWAP)	+= virtio_vswap.o
EOF
maintainers_add "$drv"
commit <<'EOF'
virtio_vswap: add a driver for the virtio-vswap swap device

Add the driver of virtio-vswap, the paravirtual swap device of the
previous patch.  Swap writes to block devices and files, so the driver
provides a block device per device, /dev/vswapN, shaped for swap like
zram: 4 KiB logical and physical blocks, non-rotational, no partitions
and no I/O scheduler by default.  A guest then uses it with mkswap and
swapon, and swapped-out pages leave guest memory for the host, which
can compress them, move them to its storage, compact them and migrate
them with the guest without the guest's help.

The block layer does the batching: each READ or WRITE request becomes
one virtio request with one slot entry per page (slot = sector / 8), so
the request limits keep a request within the device's max_batch and
within what fits in an empty ring with direct descriptors.  There is
one blk-mq hardware queue per virtqueue (VIRTIO_VSWAP_F_MQ), and the
locking follows virtio_blk: a spinlock per virtqueue, kick prepared
under it and notified outside it.  Pages of one repeated 32-bit value,
zero pages included, are detected and sent as fill entries without
payload when the device offers VIRTIO_VSWAP_F_FILL.

Freed slots must reach the host, or it keeps pages nobody will read
again.  Swap reports them through swap_slot_free_notify, as it does for
zram, with a spinlock held, so the driver only records the slot in a
buffer of ranges, coalescing neighbours, and a work item on a
WQ_MEM_RECLAIM workqueue sends the ranges as DISCARD requests.  The
device may complete requests naming the same slot in any order, so a
DISCARD must never race a later WRITE of that slot: a WRITE cancels the
buffered ranges it overlaps, and if a DISCARD of one of its slots is on
the virtqueue the hardware queue stops until that DISCARD completes.
Block-layer discards (swapon --discard) are sent as DISCARD requests
too.

Swap-out runs under memory pressure, so the write-out path does not
allocate: request headers, entries, scatterlists and status bytes live
in the blk-mq PDU, and the DISCARD commands are preallocated.  Only the
ring's indirect descriptor table is allocated, with GFP_ATOMIC, and
requests are sized to fit in an empty ring without it.

A device that breaks must not leave swap waiting forever.  When a
request gets no answer within io_timeout seconds (the blk-mq timeout,
after a poll of the used ring for a lost interrupt), or when the device
sets DEVICE_NEEDS_RESET, the driver logs why and gives the device up:
it resets it, so that the device no longer touches the request buffers,
fails every request in flight, and fails later ones at once.

For swap, a slot that was written and then reads back UNMAPPED means the
host lost the page.  A bitmap of the slots written since their last
discard (one bit per slot, 32 KiB per GiB) tells such a read from a
probe of a slot never written: it fails as an I/O error, is counted in
lost_reads, and the first is logged.  Probes still read zeros.

A device reset discards every slot, so freeze (suspend, hibernation)
fails with -EBUSY while the disk is open, e.g. while it is swap.  The
driver state is freed with the disk, which may outlive the device.

Statistics are in /sys/block/vswapN/vswap/, documented by the next
patch.
EOF

# --- 0003: documentation ---
for f in Documentation/ABI/testing/sysfs-block-vswap \
	 Documentation/admin-guide/blockdev/vswap.rst; do
	mkdir -p "$(dirname "$f")"
	cp "$gkp/$f" "$f"
	maintainers_add "$f"
done
insert before '   zram$' Documentation/admin-guide/blockdev/index.rst <<'EOF'
   vswap
EOF
commit <<'EOF'
virtio_vswap: document the driver and its sysfs attributes

Describe the virtio-vswap driver for administrators: what the device
is, how to use it as swap, its module parameters and statistics, and
how it relates to zswap and to the virtual swap space, where a
physical swap slot is only needed once a page leaves memory.  With
this device such a slot is a key that costs the host nothing until it
is written and is released as soon as it is freed.  The guide also
covers what the host does with the pages on its own: tiering,
compaction and migration never need the guest to walk its page
tables, since the guest only holds keys.

Document the attributes in /sys/block/vswapN/vswap/ in the ABI files.
EOF

# --- the series ---
out=$gkp/patches
tmp=$scratch/patches
rm -rf "$tmp"
git format-patch -q --no-signature --zero-commit -o "$tmp" HEAD~3 >/dev/null
if [ "$check" = 1 ]; then
	if ! diff -r "$out" "$tmp" >&2; then
		die "patches/ is out of date: run guest-kernel-patch/make-series.sh"
	fi
	log "patches/ is up to date"
else
	mkdir -p "$out"
	rm -f "$out"/*.patch
	cp "$tmp"/*.patch "$out/"
	log "wrote $(find "$out" -name '*.patch' | wc -l) patches to ${out#"$top"/}"
fi
for p in "$tmp"/*.patch; do
	echo "${out#"$top"/}/${p##*/}"
done

if [ "$checkpatch" = 1 ]; then
	ktree=${KTREE:-}
	for t in "$top/build/linux-6.12-vswap/linux-source-6.12" \
		 "$top/build/linux-6.12/linux-source-6.12"; do
		[ -n "$ktree" ] || { [ -x "$t/scripts/checkpatch.pl" ] && ktree=$t; }
	done
	[ -n "$ktree" ] || die "no 6.12 tree for checkpatch (set KTREE)"
	rc=0
	for p in "$tmp"/*.patch; do
		(cd "$ktree" && perl scripts/checkpatch.pl --strict -q \
			--summary-file "$p") >&2 || rc=1
	done
	[ "$rc" = 0 ] || die "checkpatch found problems"
	log "checkpatch --strict: clean"
fi
