#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Run every vswap test suite and print one summary line per suite.
#
#   unit       standalone store tests (tests/unit) in build/standalone
#   unit-asan  the same tests built with AddressSanitizer + UBSan
#   unit-tsan  the threaded tests (workers, store, model, bounds) under TSan
#   fuzz       a short libFuzzer run of each target in tests/fuzz, from its
#              seed corpus (VSWAP_FUZZ_SECONDS each, default 20)
#   guest      real Linux guests (TCG) swapping to the device.  Debian's
#              6.1 kernel with the module: a smoke boot (and a page the
#              host loses, which must read as an I/O error); the page checker
#              at 2.5x RAM on a disk-backed store with a small budget, an
#              IOThread and a live compaction; the same live-migrated to a
#              second QEMU while it swaps; store records damaged on the
#              host, which the guest must see as I/O errors; a device
#              that stops answering, or needs a reset, under swapped-out
#              pages: bounded I/O errors, no hang.  The patched 6.12
#              kernel (built in, cached): the checker alone, with zswap in
#              front of /dev/vswap0, and the device that stops answering.
#              A balloon inflated over QMP, which makes the guest swap its
#              idle memory onto /dev/vswap0
#   guest-net  the store on network block nodes: the checker at 2.5x RAM
#              on an RBD image of a single-node Ceph cluster made for the
#              run (scripts/ceph-cluster.sh), the same migrated between
#              two QEMUs sharing the image, and on an NBD export of
#              qemu-storage-daemon; and the checker with a throttle filter
#              node under the store, whose write cap must hold
#   qtest      QEMU's qos-test with the vswap device overlaid: our device
#              tests plus QEMU's own virtio-blk-pci etc., which prove that
#              the wiring breaks nothing; and vswap-migration-test (two
#              QEMUs)
#   dkms       the guest module through DKMS for Debian's 6.1 and 6.12
#              headers, and the virtio-vswap-dkms package built, installed,
#              checked (module, udev rule, systemd unit) and purged (root)
#   qtest-asan the device's qtests on a QEMU built with ASan and UBSan
#              (build/qemu-asan); not run by default, as its first build
#              takes 15-25 minutes on 2 cores
#   qemu-fuzz  QEMU's generic-fuzz target on virtio-vswap (its two
#              configurations from qemu/0004-*.patch), $VSWAP_FUZZ_SECONDS
#              (default 60) each, in a libFuzzer + ASan build of QEMU
#              (build/qemu-fuzz, scripts/fuzz-qemu.sh); not run by default,
#              as its first build takes 20-30 minutes on 2 cores
#   qemu-series-check  the QEMU patch series (qemu/make-series.sh) is
#              generated, its last tree is the overlay tree, and QEMU's
#              checkpatch finds no error; no compilation (about 15 s),
#              run by default after qtest, which fetched the source
#   qemu-series  every patch of that series built in turn (git rebase -x);
#              not run by default: a full QEMU build plus one per patch
#   libvirt    the test guest as a libvirt domain (tests/libvirt): Debian's
#              libvirtd, privately in qemu:///session, defines, starts and
#              destroys it; the checker at 2.5x RAM; query-vswap and
#              vswap-compact through virsh qemu-monitor-command.  Not run
#              by default (about 2 minutes)
#   overcommit vswap-overcommitd (tools/overcommit) managing a real QEMU
#              (qtest accelerator, no guest) over QMP beside a missing VM
#              and a hostile QMP server, then the QEMU killed under it
#              (tests/overcommit/test-overcommitd.py, about 20 s)
#
# Usage: scripts/check.sh [suite...]   (default: all suites)
# Exit status: 0 when every suite passed.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${VSWAP_BUILD:-$top/build}
cd "$top"

declare -a summary=()
declare -a failures=()  # one line per failed test, repeated after the summary
any_failed=0    # set by record(): the exit status

# record SUITE STATUS PASSED FAILED SKIPPED SECONDS
record() {
    local verdict=PASS
    # Not "failed": suites keep a local of that name, and bash scoping is
    # dynamic, so it would be theirs that this set.
    [ "$2" -eq 0 ] || { verdict=FAIL; any_failed=1; }
    summary+=("$(printf 'SUMMARY %-10s %s  %d passed, %d failed, %d skipped  (%ds)' \
                "$1" "$verdict" "$3" "$4" "$5" "$6")")
    echo "${summary[-1]}"
}

# meson_suite NAME BUILDDIR [meson setup options...]
meson_suite() {
    local name=$1 dir=$2 start=$SECONDS rc log
    shift 2
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" -Dcorpus="$build/corpus" "$@" >/dev/null ||
            { record "$name" 1 0 1 0 0; return; }
    fi
    ninja -C "$dir" >/dev/null || { ninja -C "$dir"; record "$name" 1 0 1 0 0; return; }
    meson test -C "$dir" --print-errorlogs
    rc=$?
    log=$dir/meson-logs/testlog.json
    while read -r line; do
        failures+=("$name/$line")
    done < <(python3 -c 'import json, sys
for l in open(sys.argv[1]):
    t = json.loads(l)
    if t["result"] not in ("OK", "SKIP", "EXPECTEDFAIL"):
        print(t["name"], t["result"])' "$log")
    record "$name" "$rc" \
        "$(grep -c '"result": "OK"' "$log")" \
        "$(grep -c '"result": "\(FAIL\|TIMEOUT\|ERROR\|UNEXPECTEDPASS\)"' "$log")" \
        "$(grep -c '"result": "SKIP"' "$log")" $((SECONDS - start))
}

suite_unit() {
    meson_suite unit "$build/standalone"
}

suite_unit_asan() {
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        meson_suite unit-asan "$build/standalone-asan" \
            -Db_sanitize=address,undefined -Db_lundef=false
}

suite_unit_tsan() {
    local start=$SECONDS dir=$build/standalone-tsan rc=0 passed=0 failed=0 t
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" -Dcorpus="$build/corpus" -Db_sanitize=thread \
            -Db_lundef=false >/dev/null ||
            { record unit-tsan 1 0 1 0 0; return; }
    fi
    ninja -C "$dir" >/dev/null || { record unit-tsan 1 0 1 0 0; return; }
    for t in test-workers test-store test-store-model test-store-bounds \
             test-store-dict; do
        if TSAN_OPTIONS=halt_on_error=1 VSWAP_CORPUS=$build/corpus \
           VSWAP_MODEL_OPS=200000 "$dir/tests/unit/$t" --tap > "$dir/$t.tap" 2>&1; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1)); rc=1
            tail -n 30 "$dir/$t.tap"
            failures+=("unit-tsan/$t: $(grep -m1 -E '^not ok|WARNING: ThreadSanitizer' "$dir/$t.tap")")
        fi
    done
    record unit-tsan "$rc" "$passed" "$failed" 0 $((SECONDS - start))
}

suite_fuzz() {
    local start=$SECONDS dir=$build/fuzz rc=0 passed=0 failed=0 t secs
    secs=${VSWAP_FUZZ_SECONDS:-20}
    if [ ! -f "$dir/build.ninja" ]; then
        CC=clang meson setup "$dir" -Dfuzzing=true \
            -Db_sanitize=address,undefined -Db_lundef=false >/dev/null ||
            { record fuzz 1 0 1 0 0; return; }
    fi
    for t in fuzz-store-ops fuzz-store-import fuzz-store-file fuzz-device-requests \
             fuzz-overcommit-parsers; do
        ninja -C "$dir" "tests/fuzz/$t" >/dev/null || { failed=$((failed + 1)); rc=1; continue; }
        mkdir -p "$dir/corpus/$t" "$dir/crashes"
        # New inputs go to the scratch corpus first; the repo's seeds are read only.
        if (cd "$dir/crashes" && "$dir/tests/fuzz/$t" -max_total_time="$secs" \
                -rss_limit_mb=2048 -print_final_stats=1 \
                "$dir/corpus/$t" "$top/tests/fuzz/corpus/$t") > "$dir/$t.log" 2>&1; then
            passed=$((passed + 1))
            echo "$t: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/$t.log" | grep -o '[0-9]*$') executions"
        else
            failed=$((failed + 1)); rc=1
            grep -E 'ERROR|fuzz check|SUMMARY' "$dir/$t.log" | head -n 10
            failures+=("fuzz/$t: $(grep -m1 -E 'ERROR|fuzz check' "$dir/$t.log")")
        fi
    done
    record fuzz "$rc" "$passed" "$failed" 0 $((SECONDS - start))
}

# run_guest NAME ARGS...: one guest run (tests/guest/run-guest.py ARGS),
# logged to $build/guest-NAME.log; counts into the caller's passed, failed
# and rc.
run_guest() {
    local name=$1 log=$build/guest-$1.log
    shift
    if python3 tests/guest/run-guest.py "$@" > "$log" 2>&1; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1)); rc=1
        grep -E 'run-guest: FAIL|Traceback|Error' "$log" | head -n 20
        failures+=("$(echo "${FUNCNAME[1]#suite_}" | tr _ -)/$name: $(grep -m1 -E 'run-guest: FAIL|Traceback' "$log" || tail -n 1 "$log")")
    fi
    grep -E '^GUEST-TEST' "$log" || tail -n 20 "$log"
}

suite_guest() {
    local start=$SECONDS rc=0 passed=0 failed=0
    bash scripts/build-qemu.sh >/dev/null || { record guest 1 0 1 0 $((SECONDS - start)); return; }
    run_guest smoke --mode smoke
    run_guest disk-tier --num-queues 2 --iothread \
        --store-opts mem-budget=16M,segment-size=1M \
        --compact-during
    run_guest migrate --num-queues 2 --store-opts mem-budget=16M,segment-size=1M \
        --migrate
    # A damaged store record reaches the guest as an I/O error, not data.
    run_guest corrupt --checker 400M \
        --store-opts mem-budget=16M,segment-size=1M --corrupt-store 64
    # A device that breaks fails swap I/O in a bounded time, never hangs.
    run_guest broken-stall --mode broken --break stall
    run_guest broken-error --mode broken --break error
    # The patch series' kernel (guest-kernel-patch/build-kernel.sh, cached),
    # alone and with zswap in front of /dev/vswap0.
    run_guest linux-6.12 --builtin --num-queues 2
    # zswap's pool comes out of the guest's 256 MiB, beside the 32 MiB
    # corpus file in its rootfs: with the default 20% the checker was once
    # OOM-killed in its last verify pass, so the pool gets 10%.
    run_guest zswap-6.12 --builtin --num-queues 2 \
        --append "zswap.enabled=1 zswap.compressor=lzo zswap.max_pool_percent=10"
    run_guest broken-6.12 --builtin --mode broken --break stall
    # What vswap-overcommitd relies on: a virtio-balloon inflated over QMP
    # (free page reporting on) makes the guest swap onto /dev/vswap0, and
    # the idle memory it pushed out reads back intact.
    run_guest balloon --mode balloon
    record guest "$rc" "$passed" "$failed" 0 $((SECONDS - start))
}

# The store on network block nodes, each with the checker at 2.5x RAM:
# an RBD image of a single-node Ceph cluster (scripts/ceph-cluster.sh,
# made here from nothing and destroyed after), alone and live-migrated
# between two QEMUs that share the image (shared=on); and an NBD export
# of qemu-storage-daemon.  Then a throttle filter node between the store
# and a local file, whose cap must hold while the guest swaps.
suite_guest_net() {
    local start=$SECONDS rc=0 passed=0 failed=0 conf qsd_pid size
    local ceph=$build/ceph nbd=$build/nbd
    # segment-size and writeback-depth are the node's: 2 MiB and 16 on RBD
    # and NBD, 1 MiB and 8 on the throttled local file.
    local opts=(--num-queues 2 --iothread --store-opts mem-budget=16M)
    bash scripts/build-qemu.sh >/dev/null ||
        { record guest-net 1 0 1 0 $((SECONDS - start)); return; }

    bash scripts/ceph-cluster.sh destroy "$ceph"
    # One image sized by its operator, which the store must keep (a
    # network node is never shrunk: each resize would cost a drain of
    # librbd's queue), and one of size 0, which the store grows as it
    # appends segments.
    if conf=$(bash scripts/ceph-cluster.sh start "$ceph") &&
       rbd -c "$conf" create vswap/guest --size 1G &&
       rbd -c "$conf" create vswap/guest-shared --size 0; then
        # As the user guide sets a store's RBD node: librbd's cache off,
        # and the client section that lets librbd skip its copy.
        run_guest rbd "${opts[@]}" \
            --store-node "driver=rbd,pool=vswap,image=guest,conf=$conf,user=vswap,cache.direct=on,discard=unmap"
        size=$(rbd -c "$conf" info vswap/guest | sed -n 's/^\tsize \(.*\) in .*/\1/p')
        if [ "$size" != "1 GiB" ]; then
            failed=$((failed + 1)); rc=1
            failures+=("guest-net/rbd: the store changed the image's size from 1 GiB to ${size:-?}")
        fi
        run_guest rbd-migrate-shared "${opts[@]}" --migrate-shared \
            --store-node "driver=rbd,pool=vswap,image=guest-shared,conf=$conf,discard=unmap"
    else
        failed=$((failed + 2))
        failures+=("guest-net/rbd: no Ceph cluster (scripts/ceph-cluster.sh start $ceph)")
    fi
    bash scripts/ceph-cluster.sh destroy "$ceph"

    # An NBD export has a fixed size: the store lives within its 2 GiB.
    rm -rf "$nbd"
    mkdir -p "$nbd"
    truncate -s 2G "$nbd/store.img"
    if "$build/qemu/storage-daemon/qemu-storage-daemon" --daemonize \
           --pidfile "$nbd/qsd.pid" \
           --blockdev "driver=file,filename=$nbd/store.img,node-name=img0,discard=unmap" \
           --nbd-server "addr.type=unix,addr.path=$nbd/nbd.sock" \
           --export type=nbd,id=exp0,node-name=img0,name=guest,writable=on \
           > "$nbd/qsd.log" 2>&1; then
        qsd_pid=$(cat "$nbd/qsd.pid")
        run_guest nbd "${opts[@]}" \
            --store-node "driver=nbd,server.type=unix,server.path=$nbd/nbd.sock,export=guest,discard=unmap"
        kill "$qsd_pid"
    else
        cat "$nbd/qsd.log"
        failed=$((failed + 1)); rc=1
        failures+=("guest-net/nbd: qemu-storage-daemon did not start")
    fi
    rm -rf "$nbd"

    # A throttle filter node under the store caps its writes at 2 MiB/s,
    # well below the 4 to 7 MB/s this guest writes back unthrottled: the cap
    # must hold, and the guest must press against it.  At 4 MiB/s the
    # pressing windows were too few on a slower machine; at 2 MiB/s a run
    # here has 7 of 13 (67 s).
    run_guest throttled "${opts[@]}" --checker 400M --throttle-write 2M \
        --sample 5
    [ "$failed" -eq 0 ] || rc=1
    record guest-net "$rc" "$passed" "$failed" 0 $((SECONDS - start))
}

# qos-test (only the tests under the paths $3..., if any: GLib's -p does
# not descend into nested suites, so each suite is named) and
# vswap-migration-test against the QEMU in build dir $2; recorded as $1.
run_qtests() {
    local name=$1 qdir=$2 start=$SECONDS rc=0 p
    local tap=$build/$name-qos.tap mtap=$build/$name-migration.tap
    local paths=()
    shift 2
    for p in "$@"; do
        paths+=(-p "$p")
    done
    (cd "$qdir" &&
        QTEST_QEMU_BINARY=./qemu-system-x86_64 \
        timeout 1800 ./tests/qtest/qos-test --tap -k "${paths[@]}") \
        > "$tap" 2>&1 || rc=1
    (cd "$qdir" &&
        QTEST_QEMU_BINARY=./qemu-system-x86_64 \
        timeout 1200 ./tests/qtest/vswap-migration-test --tap -k) > "$mtap" 2>&1 || rc=1
    cat "$tap" "$mtap" | grep -E '^(not )?ok' | grep -i vswap
    cat "$tap" "$mtap" | grep -E '^not ok'
    while read -r line; do
        failures+=("$name: $line")
    done < <(cat "$tap" "$mtap" | grep -E '^not ok')
    grep -h -E -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$tap" "$mtap" |
        head -n 40
    record "$name" "$rc" "$(cat "$tap" "$mtap" | grep -c '^ok')" \
        "$(cat "$tap" "$mtap" | grep -c '^not ok')" \
        "$(cat "$tap" "$mtap" | grep -c '^ok .*# SKIP')" $((SECONDS - start))
}

suite_qtest() {
    bash scripts/build-qemu.sh || { record qtest 1 0 1 0 0; return; }
    run_qtests qtest "$build/qemu"
}

suite_overcommit() {
    local start=$SECONDS dir=$build/standalone log=$build/overcommit.log rc=0
    if ! bash scripts/build-qemu.sh >/dev/null ||
       ! { [ -f "$dir/build.ninja" ] ||
           meson setup "$dir" -Dcorpus="$build/corpus" >/dev/null; } ||
       ! ninja -C "$dir" tools/overcommit/vswap-overcommitd >/dev/null; then
        record overcommit 1 0 1 0 $((SECONDS - start))
        return
    fi
    python3 tests/overcommit/test-overcommitd.py --qemu "$build/qemu/qemu-system-x86_64" \
        --daemon "$dir/tools/overcommit/vswap-overcommitd" > "$log" 2>&1 || rc=1
    grep -E '^(not )?ok' "$log"
    [ "$rc" -eq 0 ] || tail -n 30 "$log"
    record overcommit "$rc" "$(grep -c '^ok' "$log")" "$(grep -c '^not ok' "$log")" \
        0 $((SECONDS - start))
}

# The device's qtests (all of vswap-migration-test, and qos-test's vswap
# branch) on QEMU built with ASan and UBSan, in build/qemu-asan.  GLib's
# -p runs the tests right under a path, not those in groups below it, so
# each group (iothread/, hostile-flood/, ...) is listed.  Any
# sanitizer report, leaks at exit included, makes QEMU exit non-zero and
# the test fail.  Not in the default set: the first build takes long.
suite_qtest_asan() {
    local qos_vswap=/x86_64/pc/i440FX-pcihost/pci-bus-pc/pci-bus/virtio-vswap-pci
    VSWAP_QEMU_ASAN=1 bash scripts/build-qemu.sh ||
        { record qtest-asan 1 0 1 0 0; return; }
    # Leaks that QEMU itself has are listed, with why, in the file.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:fast_unwind_on_malloc=0} \
    LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$top/tests/qtest/lsan-suppressions.txt} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
        run_qtests qtest-asan "$build/qemu-asan" \
        "$qos_vswap/virtio-vswap/virtio-vswap-tests" \
        "$qos_vswap/virtio-vswap/virtio-vswap-tests/hostile-flood" \
        "$qos_vswap/virtio-vswap/virtio-vswap-tests/iothread" \
        "$qos_vswap/virtio-vswap/virtio-vswap-tests/iothread/hostile-flood" \
        "$qos_vswap/virtio-vswap/virtio-vswap-tests/no-ioeventfd" \
        "$qos_vswap/virtio-vswap-pci-tests"
}

# QEMU's own way of fuzzing a device, short form (scripts/fuzz-qemu.sh
# runs it for longer).  A crash or sanitizer report fails it.
suite_qemu_fuzz() {
    local start=$SECONDS out rc=0 passed failed
    out=$(bash "$top/scripts/fuzz-qemu.sh" "${VSWAP_FUZZ_SECONDS:-60}") || rc=1
    echo "$out"
    passed=$(grep -c ', ok$' <<<"$out" || true)
    failed=$(grep -c ', FAILED$' <<<"$out" || true)
    [ "$rc" = 0 ] || [ "$failed" -gt 0 ] || failed=1
    while IFS= read -r l; do
        failures+=("qemu-fuzz: $l")
    done < <(grep ', FAILED$' <<<"$out")
    record qemu-fuzz "$rc" "$passed" "$failed" 0 $((SECONDS - start))
}

# The guest module the way distributions ship it (guest-kernel-patch/dkms,
# guest-kernel-patch/debian): DKMS builds and installs it for Debian's 6.1
# and 6.12 headers; then the virtio-vswap-dkms package is built
# (dpkg-buildpackage), installed with apt-get (its postinst builds the
# module for the installed kernels), its udev rule and systemd unit are
# checked, and it is purged.  Needs root; leaves the machine as it was
# (the DKMS signing key that a first build generates included).
suite_dkms() {
    local start=$SECONDS rc=0 passed=0 failed=0 skipped=0
    if [ "$(id -u)" -ne 0 ]; then
        echo "dkms: needs root (dkms install, apt-get install), skipped"
        record dkms 0 0 0 1 0
        return
    fi
    # Run in a subshell so that its EXIT trap cleans up on any failure.
    local counts
    counts=$(
        set -uo pipefail
        out=$build/dkms
        mkdir -p "$out"
        log=$out/suite.log
        : >"$log"
        name=virtio-vswap
        pkg=virtio-vswap-dkms
        ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' guest-kernel-patch/dkms/dkms.conf)
        passed=0 failed=0 skipped=0
        ok() { passed=$((passed + 1)); echo "ok: $*" >&2; }
        bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
        # Everything DKMS and dpkg print goes to the log; on failure, its end.
        run() {
            echo "+ $*" >>"$log"
            nice -n 10 "$@" >>"$log" 2>&1 ||
                { echo "dkms: '$*' failed:" >&2; tail -n 25 "$log" >&2; return 1; }
        }
        apt() {
            DEBIAN_FRONTEND=noninteractive run apt-get -y -q \
                -o DPkg::Lock::Timeout=300 --no-install-recommends "$@"
        }
        mok_existed=
        [ ! -e /var/lib/dkms/mok.key ] || mok_existed=1
        cleanup() {
            if dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^[ihr]'; then
                apt purge "$pkg" || true
            fi
            if [ -d "/var/lib/dkms/$name/$ver" ]; then
                run dkms remove "$name/$ver" --all || true
            fi
            rm -rf "/var/lib/dkms/$name" "/usr/src/$name-$ver"
            [ -n "$mok_existed" ] || rm -f /var/lib/dkms/mok.key /var/lib/dkms/mok.pub
            echo "$passed $failed $skipped"
        }
        # Never touch an installation that is not ours.
        if dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^[ihr]' ||
           [ -e "/var/lib/dkms/$name" ] || [ -e "/usr/src/$name-$ver" ]; then
            echo "dkms: $pkg or $name/$ver is already installed here; remove it first" \
                "(apt-get purge $pkg; dkms remove $name/$ver --all; rm -rf /usr/src/$name-$ver)" >&2
            echo "0 1 0"
            exit 0
        fi
        trap cleanup EXIT
        # The newest Debian 6.1 and 6.12 kernels with headers.
        . /etc/os-release
        kernels=()
        for series in 6.1 6.12; do
            k=$(ls /lib/modules 2>/dev/null |
                grep -E "^${series//./\\.}\.[0-9]+[-+][^/]*amd64\$" | sort -V |
                while read -r k; do
                    [ -f "/lib/modules/$k/build/Makefile" ] && echo "$k"
                done | tail -n 1)
            if [ -n "$k" ]; then
                kernels+=("$k")
            elif [ "${VERSION_CODENAME:-}" = bookworm ]; then
                bad "no $series kernel headers (scripts/install-deps.sh installs them)"
            else
                skipped=$((skipped + 1))
                echo "dkms: no $series kernel headers, skipped" >&2
            fi
        done
        # ko KVER: the installed module of KVER is there and is for KVER.
        ko() {
            local f
            f=$(ls "/lib/modules/$1/updates/dkms/virtio_vswap.ko"* 2>/dev/null | head -n 1)
            [ -n "$f" ] && dkms status "$name/$ver" -k "$1" 2>/dev/null | grep -q ': installed' &&
                [ "$(modinfo -F name "$f")" = virtio_vswap ] &&
                modinfo -F vermagic "$f" | grep -q "^$1 " &&
                modinfo -F alias "$f" | grep -q '^virtio:d0000003Cv' &&
                echo "dkms: $f ($(stat -c %s "$f") bytes)" >&2
        }
        # 1. Plain DKMS from the checkout, for each kernel.
        src=$(guest-kernel-patch/dkms/build-deb.sh --source-only --out "$out" 2>>"$log") &&
            run dkms add "$src" || { bad "dkms add"; exit 0; }
        for k in "${kernels[@]}"; do
            if run dkms build "$name/$ver" -k "$k" && run dkms install "$name/$ver" -k "$k" &&
               ko "$k"; then
                ok "dkms build and install for $k"
            else
                bad "dkms build and install for $k"
            fi
        done
        if run dkms remove "$name/$ver" --all && ! ls /lib/modules/*/updates/dkms/virtio_vswap.ko* >/dev/null 2>&1; then
            ok "dkms remove"
        else
            bad "dkms remove"
        fi
        rm -rf "/usr/src/$name-$ver"
        # 2. The Debian package.
        deb=$(guest-kernel-patch/dkms/build-deb.sh --out "$out" 2>>"$log") ||
            { bad "build the package (dpkg-buildpackage)"; tail -n 20 "$out/build.log" >&2; exit 0; }
        ok "build $(basename "$deb")"
        # Installing builds the module for the running kernel and the
        # newest one, or for every installed kernel when the running one
        # is not installed (a container): at least the newest must have it.
        if apt install "$deb"; then
            built=$(dkms status "$name/$ver" 2>/dev/null | sed -n 's/^[^,]*, \([^,]*\), [^:]*: installed$/\1/p')
            good=1
            for k in $built; do ko "$k" || good=
            done
            [ ${#kernels[@]} -eq 0 ] || echo "$built" | grep -qx "${kernels[-1]}" || good=
            if [ -n "$good" ] && [ -n "$built" ]; then
                ok "apt-get install: module built for $(echo $built)"
            else
                bad "apt-get install: module built for '$(echo $built)'"
            fi
        else
            bad "apt-get install $deb"
        fi
        # The udev rule and the unit as installed.  systemd 252 has no
        # "udevadm verify": "udevadm test" parses every rules file and
        # names each invalid line FILE:LINE.
        rules=$(ls /lib/udev/rules.d/60-vswap.rules /usr/lib/udev/rules.d/60-vswap.rules 2>/dev/null | head -n 1)
        dev=/sys/class/mem/null
        [ -e "$dev" ] || dev=$(ls -d /sys/class/block/* 2>/dev/null | head -n 1)
        if [ -n "$rules" ] && [ -e /lib/systemd/system/vswap-swapon@.service ]; then
            if command -v udevadm >/dev/null; then
                if udevadm verify --help >/dev/null 2>&1; then
                    udevadm verify "$rules" >>"$log" 2>&1 && uok=1 || uok=
                else
                    utest=$(udevadm test --action=add "$dev" 2>&1)
                    echo "$utest" | grep -q "Reading rules file: .*60-vswap.rules" &&
                        ! echo "$utest" | grep -E "60-vswap\.rules:[0-9]+ " >&2 && uok=1 || uok=
                fi
                [ -n "$uok" ] && ok "udev rule parses ($rules)" || bad "udev rule $rules"
            else
                skipped=$((skipped + 1)); echo "dkms: no udevadm, rule not checked" >&2
            fi
            if (cd / && systemd-analyze verify 'vswap-swapon@vswap0.service') >>"$log" 2>&1; then
                ok "systemd-analyze verify vswap-swapon@vswap0.service"
            else
                bad "systemd-analyze verify vswap-swapon@vswap0.service"; tail -n 5 "$log" >&2
            fi
        else
            bad "udev rule or systemd unit not installed"
        fi
        if apt purge "$pkg" && ! dkms status "$name" 2>/dev/null | grep -q . &&
           ! ls /lib/modules/*/updates/dkms/virtio_vswap.ko* >/dev/null 2>&1 &&
           [ ! -e "/usr/src/$name-$ver" ] && [ -z "$(ls /lib/udev/rules.d/60-vswap.rules \
                /lib/systemd/system/vswap-swapon@.service 2>/dev/null)" ]; then
            ok "apt-get purge: module, source, rule and unit gone"
        else
            bad "apt-get purge"
        fi
    )
    read -r passed failed skipped <<<"$(echo "$counts" | tail -n 1)"
    [ "${failed:-1}" -eq 0 ] || rc=1
    record dkms "$rc" "${passed:-0}" "${failed:-1}" "${skipped:-0}" $((SECONDS - start))
}

# The test guest under libvirt (tests/libvirt/run-libvirt.py): a private
# daemon, the domain defined, started, destroyed and undefined, everything
# it made removed.  Logs in build/libvirt/logs and build/libvirt.log.
suite_libvirt() {
    local start=$SECONDS rc=0 log=$build/libvirt.log
    bash scripts/install-deps.sh --libvirt ||
        { record libvirt 1 0 1 0 $((SECONDS - start)); return; }
    bash scripts/build-qemu.sh >/dev/null || { record libvirt 1 0 1 0 $((SECONDS - start)); return; }
    mkdir -p "$build"
    python3 tests/libvirt/run-libvirt.py > "$log" 2>&1 || rc=1
    grep -E 'run-libvirt: FAIL|Traceback' "$log" | head -n 20
    grep -E '^LIBVIRT-TEST' "$log" || tail -n 20 "$log"
    record libvirt "$rc" $((1 - rc)) "$rc" 0 $((SECONDS - start))
}

# The QEMU patch series (qemu/make-series.sh), without compiling: it is
# generated from the overlay's files, the tree after its last patch is the
# overlay tree (but for the paths the script lists), and QEMU's checkpatch
# finds no error in any patch.  About 15 s.
suite_qemu_series_check() {
    local start=$SECONDS rc=0
    bash qemu/make-series.sh --checkpatch || rc=1
    record qemu-series-check "$rc" $((1 - rc)) "$rc" 0 $((SECONDS - start))
}

# Every patch of the series builds on its own.  The series is applied with
# git am to a pristine copy (build/series-build/qemu-src, a clone sharing
# build/qemu-src's objects), configured as scripts/build-qemu.sh configures,
# and git rebase -x builds qemu-system-x86_64 and the qtests after each
# patch, at nice 19.  Not in the default set: one full QEMU build plus an
# incremental one per patch.  VSWAP_SERIES_QUICK=1 compiles only the
# objects of the files that the series adds or changes, without linking.
suite_qemu_series() {
    local start=$SECONDS dir=$build/series-build pristine n args=() ok
    local src=$dir/qemu-src qb=$dir/qemu
    rm -f "$dir/built.log"
    if ! bash qemu/make-series.sh -o "$dir/patches"; then
        record qemu-series 1 0 1 0 $((SECONDS - start)); return
    fi
    n=$(find "$dir/patches" -name '0*.patch' ! -name '0000-*' | wc -l)
    pristine=$(git -C "$build/qemu-src" rev-list --max-parents=0 HEAD)
    # build-qemu.sh's configure line, read from the script itself.
    eval "$(sed -n '/^configure() {/,/^}/p' scripts/build-qemu.sh |
            sed -n '/local args=(/,/)$/p' | sed 's/^ *local //;s/"${configure_extra\[@\]}"//')"
    [ ${#args[@]} -gt 0 ] || { record qemu-series 1 0 "$n" 0 0; return; }
    rm -rf "$src"
    git clone -q --shared --no-checkout "$build/qemu-src" "$src"
    git -C "$src" checkout -q -b series "$pristine"
    # Debian's subprojects are in the tree but ignored by QEMU's .gitignore.
    (cd "$build/qemu-src" &&
        git ls-files --others --ignored --exclude-standard --directory -- subprojects) |
        while IFS= read -r d; do
            cp -a "$build/qemu-src/${d%/}" "$src/${d%/}"
        done
    if [ ! -f "$qb/build.ninja" ]; then
        mkdir -p "$qb"
        (cd "$qb" && ../qemu-src/configure "${args[@]}" >configure.log 2>&1) || {
            tail -n 20 "$qb/configure.log"
            record qemu-series 1 0 "$n" 0 $((SECONDS - start)); return
        }
    fi
    # git am checks that the patch files apply, not only the commits.
    if ! git -C "$src" -c user.name=vswap -c user.email=vswap@localhost \
            am -q $(ls "$dir"/patches/0*.patch | grep -v /0000-); then
        record qemu-series 1 0 "$n" 0 $((SECONDS - start)); return
    fi
    cat > "$dir/build-one.sh" <<EOS
set -e
export CCACHE_DIR=\${CCACHE_DIR:-/var/cache/vswap/ccache}
[ -d /usr/lib/ccache ] && export PATH=/usr/lib/ccache:\$PATH
targets="qemu-system-x86_64 tests/qtest/qos-test"
grep -q vswap-migration-test tests/qtest/meson.build &&
    targets="\$targets tests/qtest/vswap-migration-test"
if [ "${VSWAP_SERIES_QUICK:-0}" = 1 ]; then
    # Only the objects of the files the series adds or changes: no link.
    nice -n 19 ninja -C "$qb" build.ninja >"$dir/ninja.log" 2>&1 ||
        { tail -n 30 "$dir/ninja.log"; exit 1; }
    targets=\$(ninja -C "$qb" -t targets all |
        sed -n 's/^\([^:]*\(vswap\|virtio-qmp\.c\|_virtio_virtio\.c\)[^:]*\.o\): .*/\1/p')
    [ -n "\$targets" ] || targets=build.ninja
fi
nice -n 19 ninja -C "$qb" \$targets >"$dir/ninja.log" 2>&1 ||
    { tail -n 30 "$dir/ninja.log"; exit 1; }
echo "built: \$(git log -1 --format=%s)" | tee -a "$dir/built.log"
EOS
    git -C "$src" -c user.name=vswap -c user.email=vswap@localhost \
        rebase -q -x "bash $dir/build-one.sh" "$pristine" || {
        git -C "$src" rebase --abort 2>/dev/null
    }
    ok=$(grep -c '^built:' "$dir/built.log" 2>/dev/null || true)
    record qemu-series "$([ "$ok" = "$n" ] && echo 0 || echo 1)" "$ok" \
        $((n - ok)) 0 $((SECONDS - start))
}

bash scripts/install-deps.sh || exit 1
# The page corpus: $VSWAP_CORPUS, or captured once and cached.
python3 scripts/make-corpus.py --out "$build/corpus" >/dev/null || exit 1
export VSWAP_CORPUS=$build/corpus

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit unit-asan unit-tsan fuzz qtest overcommit qemu-series-check guest guest-net dkms)
for s in "${suites[@]}"; do
    echo "=== suite $s"
    "suite_${s//-/_}"
done

echo
echo "=== vswap test summary"
printf '%s\n' "${summary[@]}"
if [ ${#failures[@]} -gt 0 ]; then
    echo "=== failed tests"
    printf 'FAILED %s\n' "${failures[@]}"
fi
exit $any_failed
