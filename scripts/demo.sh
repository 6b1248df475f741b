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

echo "demo: a 256 MiB guest runs a 640 MiB workload, swapping to virtio-vswap"
echo "demo: host store: 16 MiB memory budget, the rest compressed on disk"
echo
python3 tests/guest/run-guest.py --demo --sample 5 \
    --accel "${VSWAP_ACCEL:-tcg}" --num-queues 2 \
    --store-opts mem-budget=16M,segment-size=1M --compact-during \
    2> >(grep -E 'run-guest: (FAIL|ok )' >&2) |
    sed -e 's/^GUEST-TEST result=PASS.*pages=\([0-9]*\) mismatches=\([0-9]*\).*pswpout=\([0-9]*\).*/demo: the guest verified \1 pages with \2 mismatches after swapping out \3 pages/' \
        -e 's/^GUEST-TEST result=FAIL.*/demo: FAILED: &/'
