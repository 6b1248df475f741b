#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The vswap demo: a VM that overcommits its memory onto vswap.
#
# Boots a Linux guest with 256 MiB of RAM (Debian's kernel, the vswap
# driver in its initramfs) under TCG, swaps to /dev/vswap0, and runs a
# workload that fills 640 MiB (2.5 times its RAM) with real memory pages,
# reads them all back and verifies them.  The page store behind the device
# keeps 16 MiB of compressed pages in host memory and writes the rest to a
# store file.  Every few seconds the demo prints the guest's view (swap in
# use) beside the host's (pages per tier, memory, file size, compression
# ratio), compacts the store file live while the guest swaps, and ends
# with the guest's verdict.  About two minutes on a 2-core machine.
#
# VSWAP_ACCEL=kvm opts in to KVM; the default is TCG.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

log=${VSWAP_BUILD:-$top/build}/demo.log
mkdir -p "$(dirname "$log")"
echo "demo: a 256 MiB guest runs a 640 MiB workload, swapping to virtio-vswap"
echo "demo: host store: 16 MiB memory budget, the rest compressed on disk"
echo
# The runner's stderr goes whole to $log; its verdict lines are shown.
set +e
python3 tests/guest/run-guest.py --demo --sample 5 \
    --accel "${VSWAP_ACCEL:-tcg}" --num-queues 2 \
    --store-opts mem-budget=16M,segment-size=1M --compact-during \
    2> >(tee "$log" | grep --line-buffered -E 'run-guest: (FAIL|ok) ' >&2) |
    sed -u -e 's/^GUEST-TEST result=PASS.*pages=\([0-9]*\) mismatches=\([0-9]*\).*pswpout=\([0-9]*\).*/demo: the guest verified \1 pages with \2 mismatches after swapping out \3 pages/' \
        -e 's/^GUEST-TEST result=FAIL.*/demo: FAILED: &/'
rc=${PIPESTATUS[0]}
set -e
wait    # for the tee above, so that $log is complete
if [ "$rc" -ne 0 ]; then
    # One line that says why: the runner's own verdict, else its last words.
    why=$(grep -m1 -E 'run-guest: FAIL' "$log" | sed 's/^run-guest: FAIL:\{0,1\} *//')
    [ -n "$why" ] || why=$(grep -v '^\s*$' "$log" | tail -n 1)
    echo "demo: FAILED: ${why:-the guest runner exited $rc}" \
         "(full log: $log)" >&2
    exit 1
fi
