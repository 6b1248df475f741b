#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Generate the vswap patch series for QEMU 10.0 (git format-patch against
# Debian's pristine tree), from the same files as the overlay build.
#
# One source of truth: the series is derived, never edited by hand.
# scripts/build-qemu.sh --tree-only makes the overlay tree (pristine +
# qemu/*.patch + the project's files + the standard header) on branch
# "overlay" of a scratch clone of build/qemu-src; this script then slices
# that tree into reviewable commits on branch "series":
#   - whole files are taken from the overlay tree as they are;
#   - the two shared meson.build files are split by hunk;
#   - three files get an intermediate version, derived from the final one
#     by substitutions that must each match: hw/vswap/meson.build lists only
#     the files added so far, and until the migration patch the device has
#     no migration code (virtio-vswap.c, virtio-vswap.h, trace-events) and
#     is unmigratable;
#   - the docs (docs/specs, docs/system, docs/devel/design.rst as
#     docs/devel/vswap.rst), their index toctree lines, the MAINTAINERS
#     entry and the commit messages are the series' own, written below.
# Then it checks that every path the overlay changes is in some patch and
# that the last commit's tree equals the overlay tree, except for the
# series-only paths (docs, MAINTAINERS) and the overlay-only
# tests/qtest/lsan-suppressions.txt (the project's ASan suite).
#
# Authorship and Signed-off-by: the repository's git user.name/user.email,
# else the placeholder "vswap developers <vswap-devel@example.org>".
# Dates are fixed and the From lines use zero hashes, so the output changes
# only when an input does.
#
# Usage: qemu/make-series.sh [options]
#   -o DIR          write the patches to DIR (default build/series-qemu/patches)
#   --checkpatch    run the tree's scripts/checkpatch.pl on every patch
#   --verify-only   build the branches and compare the trees; write nothing
#   --sphinx        build QEMU's manuals from the series' tree with
#                   sphinx-build -W, as QEMU's docs build does (about 90 s;
#                   needs python3-sphinx and python3-sphinx-rtd-theme)
# Needs build/qemu-src (bash scripts/build-qemu.sh makes it), git, perl.
# Scratch: build/series-qemu/repo (a clone sharing build/qemu-src's objects).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${VSWAP_BUILD:-$top/build}
scratch=$build/series-qemu
out=$scratch/patches
checkpatch=0
sphinx=0
write=1
while [ $# -gt 0 ]; do
    case "$1" in
    -o) out=$(mkdir -p "$2" && cd "$2" && pwd); shift 2 ;;
    --checkpatch) checkpatch=1; shift ;;
    --verify-only) write=0; shift ;;
    --sphinx) sphinx=1; shift ;;
    -h|--help) sed -n '3,/^set -e/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "make-series: unknown option $1" >&2; exit 2 ;;
    esac
done

log() { echo "make-series: $*" >&2; }
die() { log "$*"; exit 1; }

src=$build/qemu-src
[ -d "$src/.git" ] || die "no $src: run bash scripts/build-qemu.sh once"
pristine=$(git -C "$src" rev-list --max-parents=0 HEAD)
[ "$(git -C "$src" log -1 --format=%s "$pristine")" = pristine ] ||
    die "the root commit of $src is not \"pristine\""

name=$(git -C "$top" config user.name || echo "vswap developers")
email=$(git -C "$top" config user.email || echo "vswap-devel@example.org")
ident="$name <$email>"
export GIT_AUTHOR_NAME=$name GIT_AUTHOR_EMAIL=$email
export GIT_COMMITTER_NAME=$name GIT_COMMITTER_EMAIL=$email
export GIT_AUTHOR_DATE='2026-12-04T12:00:00+00:00'
export GIT_COMMITTER_DATE=$GIT_AUTHOR_DATE

# --- the overlay tree, made by build-qemu.sh itself ---
repo=$scratch/repo
if [ ! -d "$repo/.git" ] || ! git -C "$repo" cat-file -e "$pristine^{commit}" 2>/dev/null; then
    log "cloning build/qemu-src into ${repo#"$top"/}"
    rm -rf "$repo"
    mkdir -p "$scratch"
    git clone -q --shared --no-checkout "$src" "$repo"
fi
cd "$repo"
git config core.autocrlf false
git checkout -q -f -B overlay "$pristine"
git clean -q -fdx
bash "$top/scripts/build-qemu.sh" --tree-only "$repo" ||
    die "scripts/build-qemu.sh --tree-only failed"
git add -A
git commit -q -m overlay
git checkout -q -f -B series "$pristine"

# The generated standard header is what QEMU's own importer makes.
(
    f=$top/include/vswap/virtio_vswap.h
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    arch=
    eval "$(sed -n '/^cp_portable() {/,/^}/p' scripts/update-linux-headers.sh)"
    cp_portable "$f" "$tmp"
    git show overlay:include/standard-headers/linux/virtio_vswap.h |
        cmp -s - "$tmp/virtio_vswap.h"
) || die "build-qemu.sh's standard header differs from cp_portable's conversion"

declare -A claimed=()
series_only=()
# The project's ASan suppressions, and its Linux-style copy of the ABI.
overlay_only=(tests/qtest/lsan-suppressions.txt include/vswap/virtio_vswap.h)
# Files whose last version in the series is not the overlay's (above).
adapted=()
npatches=0

# take PATH...: the overlay's version of each changed file at or under PATH.
take() {
    local p f n=0
    for p in "$@"; do
        while IFS= read -r f; do
            git checkout -q overlay -- "$f"
            claimed[$f]=1
            n=$((n + 1))
        done < <(git diff --name-only "$pristine" overlay -- "$p")
    done
    [ "$n" -gt 0 ] || die "take $*: the overlay changes nothing there"
}

# take_hunks FILE REGEX: the hunks of FILE's overlay diff that add a line
# matching REGEX.  Marks FILE as claimed once all of its hunks are taken.
take_hunks() {
    local file=$1 re=$2
    git diff "$pristine" overlay -- "$file" | RE=$re perl -ne '
        BEGIN { $re = qr/$ENV{RE}/ }
        if (/^@@/) { push @h, $_; $in = 1; next }
        if (!$in) { $head .= $_; next }
        $h[-1] .= $_;
        END {
            @t = grep { my @a = grep { /^\+/ && /$re/ } split /\n/; @a } @h;
            @t or die "no hunk adding /$ENV{RE}/\n";
            print $head, @t;
        }' >"$scratch/hunks.diff" || die "$file: no hunk adding /$re/"
    git apply --index "$scratch/hunks.diff" || die "$file: hunks do not apply"
    if git diff --quiet overlay -- "$file"; then
        claimed[$file]=1
    fi
}

# put FILE: FILE's content is stdin, an intermediate version.
put() {
    mkdir -p "$(dirname "$1")"
    cat >"$1"
    git add "$1"
}

# derive FILE PERL: the overlay's FILE through PERL (substitutions that
# must each match: end them with "or die").
derive() {
    git show "overlay:$1" | perl -0777 -pe "$2" >"$scratch/derived" ||
        die "$1: the overlay's version no longer matches the series script"
    put "$1" <"$scratch/derived"
}

# series FILE: a file that only the series has (docs, MAINTAINERS).
series() {
    series_only+=("$1")
}

# Insert stdin after (or before) the first line of FILE matching REGEX.
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
    git add "$file"
}

# Add F: lines to the virtio-vswap entry of MAINTAINERS, kept sorted.
maintainers_add() {
    perl -0777 -i -pe '
        BEGIN { @new = splice @ARGV, 0, -1 }
        s{^(virtio-vswap\n(?:[A-Z]: [^\n]*\n)*)}{
            my @l = split /\n/, $1;
            push @l, map { "F: $_" } @new;
            my @h = grep { !/^F:/ } @l;
            my @f = sort grep { /^F:/ } @l;
            join("\n", @h, @f) . "\n"
        }me or die "no virtio-vswap entry\n"' "$@" MAINTAINERS
    git add MAINTAINERS
}

commit() {
    git commit -q -s -F -
    npatches=$((npatches + 1))
}

# Every file named in a meson.build of hw/vswap exists at this point.
check_meson_sources() {
    local f
    for f in $(grep -o "'[a-z0-9-]*\.c'" hw/vswap/meson.build | tr -d "'"); do
        [ -f "hw/vswap/$f" ] || die "hw/vswap/meson.build names $f before it exists"
    done
}

# --- 1: the device ABI, imported the way QEMU imports Linux headers ---
take include/standard-headers/linux/virtio_vswap.h \
     include/standard-headers/linux/virtio_ids.h
id=$(sed -n 's/^#define VIRTIO_ID_VSWAP[[:space:]]*\([0-9]*\).*/\1/p' \
     include/standard-headers/linux/virtio_ids.h)
[ -n "$id" ] || die "no VIRTIO_ID_VSWAP in virtio_ids.h"
commit <<EOF
include/standard-headers: add virtio_vswap.h

Import the device ABI of virtio-vswap, a paravirtual swap device whose
slots are keys into a page store kept by QEMU, and its device ID.

The header is not in Linux yet.  It is converted with cp_portable() of
scripts/update-linux-headers.sh from the out-of-tree header of the
guest driver, which the Linux series adds as
include/uapi/linux/virtio_vswap.h once its provisional
"#ifndef VIRTIO_ID_VSWAP" fallback has moved to virtio_ids.h; QEMU's
copy keeps that fallback for now.  VIRTIO_ID_VSWAP ($id) has not been
assigned by the virtio TC; it is clear of the IDs in use, and the
modern PCI device ID is $(printf '%#x' $((0x1040 + id))).  Once Linux has the header,
a scripts/update-linux-headers.sh run replaces this patch.

The header lives in its own patch, without even its MAINTAINERS line
(the next patch adds it), so that no other patch edits files under
include/standard-headers/.
EOF

# --- 2: the page store library ---
take block/vswap-backend include/vswap/store.h include/vswap/io-engine.h \
     include/vswap/io-blk.h block/meson.build Kconfig.host hw/Kconfig \
     hw/vswap/Kconfig
take_hunks meson.build 'CONFIG_LIBURING'
insert before 'virtio-snd$' MAINTAINERS <<EOF
virtio-vswap
M: $ident
S: Maintained

EOF
series MAINTAINERS
maintainers_add block/vswap-backend/ include/vswap/ hw/vswap/ \
    include/standard-headers/linux/virtio_vswap.h
commit <<'EOF'
block/vswap-backend: add the vswap page store

Add the page store that backs virtio-vswap.  It maps guest swap slots
to pages kept in one of three forms: a map entry for a page that is one
repeated 32-bit value, zstd-compressed in memory within a budget, or
compressed in a log-structured store file that is compacted in the
background.  Pages move from memory to the file when the budget is
exceeded, and the store can be checkpointed and exported for migration.

The store is a library with a small public API (include/vswap/store.h)
in which every call states its errno contract.  It runs in one owner
thread, which keeps the slot map without locks; zstd runs on worker
threads with a bounded queue, and its event-loop integration is one
eventfd plus a handler, so the same code runs in an AioContext and in
the standalone unit tests and fuzzers of the vswap project.  Inside
QEMU its file I/O goes through a BlockBackend (io-blk.c).

It is built when CONFIG_VIRTIO_VSWAP is set: the device that uses it
follows in this series, and the symbol is added here so that the
library is compiled from this patch on.  It depends on liburing and
libzstd, which get host Kconfig symbols the way virtio-nsm depends on
libcbor.
EOF

# --- 3: the vswap-store object ---
take hw/vswap/vswap-store.c hw/vswap/vswap-store.h hw/meson.build qapi/qom.json \
     system/vl.c
put hw/vswap/meson.build <<'EOF'
# SPDX-License-Identifier: GPL-2.0-or-later
system_ss.add(when: 'CONFIG_VIRTIO_VSWAP',
              if_true: [files('vswap-store.c'), linux_io_uring, zstd])
EOF
check_meson_sources
commit <<'EOF'
hw/vswap: add the vswap-store object

Add vswap-store, a user-creatable object that holds a page store and
its configuration, to be linked to a virtio-vswap device the way
virtio-rng links to its RNG backend:

  -object vswap-store,id=st0,size=4G,path=/var/lib/vswap/vm0.store

Without a path (or a block node given with file=), the store keeps
pages in memory only, within mem-budget.  With one, the store file is
opened as a block node of its own, so its I/O goes through the block
layer, and migration can inactivate it like a disk.  The memory budget
can be changed at run time with qom-set, which is how a host shares
memory among guests.

The properties are described in qapi/qom.json.
EOF

# --- 4: QMP and HMP ---
take qapi/vswap.json qapi/qapi-schema.json qapi/meson.build \
     hw/vswap/vswap-qmp.c hw/vswap/vswap-qmp.h hmp-commands-info.hx \
     include/monitor/hmp.h
put hw/vswap/meson.build <<'EOF'
# SPDX-License-Identifier: GPL-2.0-or-later
system_ss.add(when: 'CONFIG_VIRTIO_VSWAP',
              if_true: [files('vswap-store.c'), linux_io_uring, zstd])
# QMP/HMP commands exist in every build; devices register with them.
system_ss.add(files('vswap-qmp.c'))
EOF
check_meson_sources
maintainers_add qapi/vswap.json
commit <<'EOF'
hw/vswap: add query-vswap, vswap-compact and info vswap

Add the monitor interface of virtio-vswap: query-vswap reports, per
device, where its pages are (memory, store file, map entries), the
compression ratio, request counters with latency histograms and error
counts; vswap-compact starts a compaction pass of the store file and
VSWAP_COMPACT_COMPLETED reports its end; "info vswap" prints the same
as query-vswap for humans.

A common QAPI module cannot depend on a target's device symbols, so
the commands follow system/balloon.c: they are built in every build,
devices register a handler with them, and without a device they fail
with DeviceNotActive.  The device registers in the next patch.
EOF

# --- 5: the device ---
take hw/vswap/virtio-vswap-dataplane.c hw/vswap/virtio-vswap-dataplane.h \
     hw/vswap/vswap-request.c hw/vswap/vswap-request.h hw/vswap/trace.h \
     hw/virtio/virtio.c hw/virtio/virtio-qmp.c
# The ABI header exists once in QEMU: vswap-request.c, which has no QEMU
# dependency, reads the standard header instead of the project's copy.
derive hw/vswap/vswap-request.c '
    s{^#include "vswap/virtio_vswap.h"\n}{#include <stdint.h>\n#include "standard-headers/linux/virtio_vswap.h"\n}m or die;'
adapted+=(hw/vswap/vswap-request.c)
take_hunks meson.build "'hw/vswap'"
derive hw/vswap/virtio-vswap.c '
    s{^#include "virtio-vswap-migration.h"\n}{}m or die;
    s{^    virtio_vswap_migration_init\(s\);\n}{}m or die;
    s{^    virtio_vswap_migration_cleanup\(s\);\n}{}m or die;
    s{(static const VMStateDescription vmstate_virtio_vswap = \{\n    \.name = "virtio-vswap",\n)}{$1    .unmigratable = 1,\n} or die;'
derive hw/vswap/virtio-vswap.h '
    s{^typedef struct VirtIOVswapMigBatch VirtIOVswapMigBatch;\n\n}{}m or die;
    s{^    /\* Migration of the store .*?\n(?=    VirtIOVswapTypeStats)}{}ms or die;
    s{\n+/\* The store is shared with a migration peer .*?\n\}\n}{\n}s or die;'
derive hw/vswap/trace-events '
    s{\n# virtio-vswap-migration\.c\n[^\n]*\n}{}s or die;'
derive hw/vswap/meson.build '
    s{^ *.virtio-vswap-migration\.c.,\n}{}m or die;
    s{^system_ss\.add\(when: \[.CONFIG_VIRTIO_VSWAP., .CONFIG_VIRTIO_PCI.\],\n[^\n]*\n}{}m or die;'
check_meson_sources
commit <<'EOF'
hw/vswap: add the virtio-vswap device

Add virtio-vswap, a paravirtual swap device.  A guest swaps to it like
to a disk, but a slot is only a key into the vswap-store: QEMU stores
each page as it sees fit (as a map entry, compressed in memory, or
compressed in the store file), so a slot that was never written or was
discarded costs nothing, and the device can be larger than what backs
it.  Compared with swapping to virtio-blk, the disk does not need to be
provisioned, pages are compressed, and the pages that the guest freed
are released at once; compared with zram or zswap in the guest, the
compressed pages are host memory, which the host can move to storage
and share among guests without the guest's help.

Requests carry batches of discontiguous slots with one status byte per
entry.  Guest-controlled parsing is in vswap-request.c, which has no
QEMU dependency, so that it can be fuzzed on its own; the device checks
every size and, on a protocol violation, calls virtio_error().  Pages
are copied into bounce buffers before they reach the store, and the
bounce memory of requests in flight is bounded: past the limit the
queues are not popped until requests complete.  The queues are served
in the main loop or in an IOThread (iothread=), and the store's
completions arrive on its eventfd in the same AioContext, so neither a
vCPU nor the main loop waits for the store.

Without a vswap-store link, the device uses a memory-only store of its
own.  The device is not migratable yet: the next patches add its PCI
proxy and the migration of the store.
EOF

# --- 6: the PCI proxy ---
take hw/vswap/virtio-vswap-pci.c
derive hw/vswap/meson.build '
    s{^ *.virtio-vswap-migration\.c.,\n}{}m or die;'
check_meson_sources
commit <<'EOF'
hw/vswap: add virtio-vswap-pci

Add the PCI proxy of virtio-vswap, so that PC and other PCI machines
can use the device:

  -device virtio-vswap-pci,store=st0

It is a thin proxy, like virtio-rng-pci: one vector per request queue
plus one for configuration changes.
EOF

# --- 7: migration ---
take hw/vswap/virtio-vswap-migration.c hw/vswap/virtio-vswap-migration.h \
     hw/vswap/virtio-vswap.c hw/vswap/virtio-vswap.h hw/vswap/trace-events \
     hw/vswap/meson.build
check_meson_sources
commit <<'EOF'
hw/vswap: migrate the page store

Make virtio-vswap migratable.  The guest's swapped-out pages live in
the store, not in guest RAM, so the device migrates them itself, as an
iterative section like s390-stattrib: save_setup() fences the store
against unsaved changes, save_live_iterate() sends dirty slots until
the rate limit, and the rest goes when the guest is stopped.  Pages
travel in their compressed form, so nothing is compressed twice, and
a page written again during the migration is simply sent again.

With shared=on on a vswap-store whose file both QEMUs see, only the
slot map and the pages held in memory travel; the pages in the file
travel as references, and the destination opens the file as it is and
writes to it only once the migration is complete.

The load side checks every record against the destination's device
and fails the migration, never QEMU, on a bad stream.  A failed
migration unfences the store on the source.
EOF

# --- 8: the libqos driver and the device tests ---
take tests/qtest/libqos/virtio-vswap.c tests/qtest/libqos/virtio-vswap.h \
     tests/qtest/libqos/meson.build tests/qtest/virtio-vswap-test.c
take_hunks tests/qtest/meson.build "virtio-vswap-test\\.c"
maintainers_add 'tests/qtest/libqos/virtio-vswap.*' tests/qtest/virtio-vswap-test.c
commit <<'EOF'
tests/qtest: add a libqos driver and tests for virtio-vswap

Add the libqos driver of virtio-vswap, with an interface node and a
PCI node, and tests that talk to the device the way a guest does:
every request type, fill pages, batches, per-entry status, malformed
requests, a flood past the in-flight limit, reset (also during a
flood), multiple queues and hotplug; and through QMP: query-vswap,
vswap-compact while requests run, qom-set of the memory budget, the
store's properties and open errors, and a block node as store file.
The tests run against the interface, so most of them also run with
the queues in an IOThread and without ioeventfds.
EOF

# --- 9: the migration test ---
take tests/qtest/vswap-migration-test.c
take_hunks tests/qtest/meson.build "vswap-migration-test"
maintainers_add tests/qtest/vswap-migration-test.c
commit <<'EOF'
tests/qtest: add vswap-migration-test

Migrate a virtio-vswap device between two QEMUs and check every page
on the destination: live, also with an IOThread and with requests in
flight at the switchover; with a shared store file, also when the
destination fails; to a file; and through a snapshot.  Also check that
a cancelled migration leaves the source working, and that a corrupt
or truncated stream fails the migration, not QEMU.
EOF

# --- 10: generic-fuzz configurations ---
take tests/qtest/fuzz/generic_fuzz_configs.h
commit <<'EOF'
tests/qtest/fuzz: add generic-fuzz configurations for virtio-vswap

Let the generic fuzzer drive virtio-vswap as a guest would: PCI and
MMIO accesses and DMA to its rings and request buffers.  The fuzzer
forks for every input and threads do not survive a fork, so the store
compresses in the main loop (workers=0), keeps no file, and has a
small budget and small segments so that inputs reach a full store.  A
second configuration trains zstd dictionaries on the fuzzer's pages.
EOF

# --- 11: documentation ---
for f in docs/specs/virtio-vswap.rst docs/system/vswap.rst; do
    mkdir -p "$(dirname "$f")"
    cp "$top/$f" "$f"
    git add "$f"
    series "$f"
done
cp "$top/docs/devel/design.rst" docs/devel/vswap.rst
git add docs/devel/vswap.rst
series docs/devel/vswap.rst
insert after '   virtio-net-failover$' docs/system/index.rst <<'EOF'
   vswap
EOF
insert after '   vmgenid$' docs/specs/index.rst <<'EOF'
   virtio-vswap
EOF
insert after '   virtio-backends$' docs/devel/index-internals.rst <<'EOF'
   vswap
EOF
series docs/system/index.rst
series docs/specs/index.rst
series docs/devel/index-internals.rst
maintainers_add docs/specs/virtio-vswap.rst docs/system/vswap.rst docs/devel/vswap.rst
commit <<'EOF'
docs: document virtio-vswap

Add the device specification (docs/specs/virtio-vswap.rst), the user
guide (docs/system/vswap.rst: how to configure a store, size its
budget, watch it with query-vswap, and migrate) and the design of the
store and of the device (docs/devel/vswap.rst: threading, the store
file format, compaction, migration), each in its index.
EOF

# --- checks: the series is the overlay, sliced ---
missing=()
while IFS= read -r f; do
    [ -n "${claimed[$f]:-}" ] && continue
    case " ${adapted[*]} " in *" $f "*) continue ;; esac
    case " ${overlay_only[*]} " in *" $f "*) continue ;; esac
    missing+=("$f")
done < <(git diff --name-only "$pristine" overlay)
[ ${#missing[@]} -eq 0 ] ||
    die "in the overlay but in no patch (assign them in qemu/make-series.sh): ${missing[*]}"
expected=$(printf '%s\n' "${series_only[@]}" "${overlay_only[@]}" "${adapted[@]}" | sort -u)
actual=$(git diff --name-only overlay series)
if [ "$actual" != "$expected" ]; then
    diff <(echo "$expected") <(echo "$actual") >&2 || true
    die "the last patch's tree differs from the overlay tree (above)"
fi
log "the series' tree equals the overlay tree, except for ${#series_only[@]} series-only, ${#overlay_only[@]} overlay-only and ${#adapted[@]} adapted paths"

if [ "$sphinx" = 1 ]; then
    command -v sphinx-build >/dev/null ||
        die "--sphinx needs sphinx-build (apt-get install python3-sphinx python3-sphinx-rtd-theme)"
    rm -rf "$scratch/docs-out"
    if ! CONFDIR=/etc/qemu nice -n 10 sphinx-build -q -W -b html \
            -Dversion=10.0.0 -Drelease= docs "$scratch/docs-out" \
            >"$scratch/sphinx.log" 2>&1; then
        tail -n 30 "$scratch/sphinx.log" >&2
        die "sphinx-build -W failed on the series' docs"
    fi
    log "sphinx-build -W: QEMU's manuals build, vswap pages included"
fi

[ "$write" = 1 ] || exit 0

tmp=$scratch/format-patch
rm -rf "$tmp"
git config branch.series.description "$(cat <<'EOF'
virtio-vswap: a paravirtual swap device

This series adds virtio-vswap, a paravirtual swap device whose slots
are keys into a page store kept by QEMU.  A guest swaps to it with
mkswap and swapon (the Linux driver is posted separately); QEMU keeps
each page as a map entry when it is one repeated 32-bit value,
zstd-compressed in memory within a budget, or compressed in a
log-structured store file on the block layer, compacted in the
background.  Slots never written or discarded cost nothing, freed
slots are released at once, and the host can move pages between memory
and storage, change the budget at run time and migrate the pages in
their compressed form, all without the guest's help.

  -object vswap-store,id=st0,size=4G,path=/var/lib/vswap/vm0.store \
  -device virtio-vswap-pci,store=st0

Patch 1 imports the device ABI header, as update-linux-headers.sh
would once Linux has it; the device ID is provisional.  Patches 2-7
add the store, its QOM object, the monitor commands, the device, its
PCI proxy and migration; 8-9 the qtests; 10 generic-fuzz
configurations; 11 the documentation.
Each patch builds on its own.
EOF
)"
git format-patch -q --no-signature --zero-commit --cover-letter \
    --cover-from-description=subject -o "$tmp" "$pristine"..series >/dev/null
mkdir -p "$out"
rm -f "$out"/*.patch
cp "$tmp"/*.patch "$out/"
log "wrote $npatches patches and a cover letter to ${out#"$top"/}"
for p in "$out"/*.patch; do
    echo "${p#"$top"/}"
done

if [ "$checkpatch" = 1 ]; then
    rc=0
    for p in "$out"/*.patch; do
        case "${p##*/}" in 0000-*) continue ;; esac
        r=$(perl scripts/checkpatch.pl --no-color -q "$p" 2>&1 || true)
        e=$(grep -c '^ERROR' <<<"$r" || true)
        w=$(grep -c '^WARNING' <<<"$r" || true)
        printf 'checkpatch: %-70s %d errors, %d warnings\n' "${p##*/}" "$e" "$w"
        if [ "$e" -gt 0 ] || [ "$w" -gt 0 ]; then
            grep -A4 -E '^(ERROR|WARNING)' <<<"$r" | sed 's/^/    /'
        fi
        [ "$e" -eq 0 ] || rc=1
    done
    [ "$rc" = 0 ] || die "checkpatch found errors"
fi
