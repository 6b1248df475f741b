#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Run every vswap test suite and print one summary line per suite.
#
#   unit       standalone store tests (tests/unit) in build/standalone
#   unit-asan  the same tests built with AddressSanitizer + UBSan
#   unit-tsan  the threaded tests (workers, store, model) under TSan
#   fuzz       a short libFuzzer run of each target in tests/fuzz, from its
#              seed corpus (VSWAP_FUZZ_SECONDS each, default 20)
#   guest      real Linux guests (TCG) swapping to the device.  Debian's
#              6.1 kernel with the module: a smoke boot; the page checker
#              at 2.5x RAM on a disk-backed store with a small budget, an
#              IOThread and a live compaction; the same live-migrated to a
#              second QEMU while it swaps; store records damaged on the
#              host, which the guest must see as I/O errors.  The patched
#              6.12 kernel (built in, cached): the checker alone, and with
#              zswap in front of /dev/vswap0
#   qtest      QEMU's qos-test with the vswap device overlaid: our device
#              tests plus QEMU's own virtio-blk-pci etc., which prove that
#              the wiring breaks nothing; and vswap-migration-test (two
#              QEMUs)
#   qtest-asan the device's qtests on a QEMU built with ASan and UBSan
#              (build/qemu-asan); not run by default, as its first build
#              takes 15-25 minutes on 2 cores
#
# Usage: scripts/check.sh [suite...]   (default: all suites)
# Exit status: 0 when every suite passed.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${VSWAP_BUILD:-$top/build}
cd "$top"

declare -a summary=()
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
    for t in test-workers test-store test-store-model; do
        if TSAN_OPTIONS=halt_on_error=1 VSWAP_CORPUS=$build/corpus \
           VSWAP_MODEL_OPS=200000 "$dir/tests/unit/$t" --tap > "$dir/$t.tap" 2>&1; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1)); rc=1
            tail -n 30 "$dir/$t.tap"
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
    for t in fuzz-store-ops fuzz-store-import fuzz-store-file fuzz-device-requests; do
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
        fi
    done
    record fuzz "$rc" "$passed" "$failed" 0 $((SECONDS - start))
}

suite_guest() {
    local start=$SECONDS rc=0 passed=0 failed=0 log
    bash scripts/build-qemu.sh >/dev/null || { record guest 1 0 1 0 $((SECONDS - start)); return; }
    run_guest() {
        log=$build/guest-$1.log
        shift
        if python3 tests/guest/run-guest.py "$@" > "$log" 2>&1; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1)); rc=1
            grep -E 'run-guest: FAIL|Traceback|Error' "$log" | head -n 20
        fi
        grep -E '^GUEST-TEST' "$log" || tail -n 20 "$log"
    }
    run_guest smoke --mode smoke
    run_guest disk-tier --num-queues 2 --iothread \
        --store-opts mem-budget=16M,segment-size=1M \
        --compact-during
    run_guest migrate --num-queues 2 --store-opts mem-budget=16M,segment-size=1M \
        --migrate
    # A damaged store record reaches the guest as an I/O error, not data.
    run_guest corrupt --checker 400M \
        --store-opts mem-budget=16M,segment-size=1M --corrupt-store 64
    # The patch series' kernel (guest-kernel-patch/build-kernel.sh, cached),
    # alone and with zswap in front of /dev/vswap0.
    run_guest linux-6.12 --builtin --num-queues 2
    run_guest zswap-6.12 --builtin --num-queues 2 \
        --append "zswap.enabled=1 zswap.compressor=lzo"
    record guest "$rc" "$passed" "$failed" 0 $((SECONDS - start))
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

# The device's qtests (all of vswap-migration-test, and qos-test's vswap
# branch) on QEMU built with ASan and UBSan, in build/qemu-asan.  Any
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
        "$qos_vswap/virtio-vswap/virtio-vswap-tests/iothread" \
        "$qos_vswap/virtio-vswap/virtio-vswap-tests/no-ioeventfd" \
        "$qos_vswap/virtio-vswap-pci-tests"
}

bash scripts/install-deps.sh || exit 1
# The page corpus: $VSWAP_CORPUS, or captured once and cached.
python3 scripts/make-corpus.py --out "$build/corpus" >/dev/null || exit 1
export VSWAP_CORPUS=$build/corpus

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit unit-asan unit-tsan fuzz qtest guest)
for s in "${suites[@]}"; do
    echo "=== suite $s"
    "suite_${s//-/_}"
done

echo
echo "=== vswap test summary"
printf '%s\n' "${summary[@]}"
exit $any_failed
