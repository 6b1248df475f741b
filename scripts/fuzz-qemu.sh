#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Fuzz virtio-vswap the way QEMU fuzzes its devices: QEMU's generic-fuzz
# target (tests/qtest/fuzz/generic_fuzz.c), with the configurations that
# qemu/0004-*.patch adds to generic_fuzz_configs.h, in a libFuzzer build
# of QEMU with ASan (scripts/build-qemu.sh with VSWAP_QEMU_FUZZ=1, in
# build/qemu-fuzz).
#
#   scripts/fuzz-qemu.sh [SECONDS [CONFIG...]]
#
# Runs each configuration (default: virtio-vswap virtio-vswap-dict) for
# SECONDS (default: $VSWAP_FUZZ_SECONDS, else 60) at nice 19.  The corpus
# grows in build/qemu-fuzz/corpus/CONFIG across runs; crashes land in
# build/qemu-fuzz/crashes/ and fail the run.  Prints, per configuration,
# the inputs executed, the coverage and the corpus size that libFuzzer
# reports at the end, and appends them to build/qemu-fuzz/runs.log.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${VSWAP_BUILD:-$top/build}
dir=$build/qemu-fuzz
secs=${1:-${VSWAP_FUZZ_SECONDS:-60}}
shift || true
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(virtio-vswap virtio-vswap-dict)

VSWAP_QEMU_FUZZ=1 bash "$top/scripts/build-qemu.sh" >&2

rc=0
for c in "${configs[@]}"; do
    mkdir -p "$dir/corpus/$c" "$dir/crashes"
    log=$dir/$c.log
    # QEMU frees little of what it allocates at start-up: leaks are noise.
    if ASAN_OPTIONS=detect_leaks=0 nice -n 19 "$dir/qemu-fuzz-x86_64" \
            --fuzz-target="generic-fuzz-$c" -max_total_time="$secs" \
            -rss_limit_mb=4096 -print_final_stats=1 \
            -artifact_prefix="$dir/crashes/$c-" \
            "$dir/corpus/$c" > "$log" 2>&1; then
        result=ok
    else
        result=FAILED
        rc=1
        grep -E -m 10 'ERROR|SUMMARY|Test unit written' "$log" >&2 || true
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" |
            grep -o '[0-9]*$' || echo 0)
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo '?')
    ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo '?')
    corp=$(grep -o 'corp: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo '?')
    line=$(printf '%s %s: %s s, %s inputs, cov %s, ft %s, corpus %s, %s' \
           "$(date -u '+%Y-%m-%d %H:%M')" "$c" "$secs" "$execs" "$cov" "$ft" \
           "$corp" "$result")
    echo "$line"
    echo "$line" >> "$dir/runs.log"
done
exit "$rc"
