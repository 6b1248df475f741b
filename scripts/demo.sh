#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The vswap demo.
#
# Today it boots QEMU (no guest OS yet) with a virtio-vswap-pci device and
# prints the device as QEMU reports it over QMP.  The guest driver, which
# makes a Linux guest overcommit its memory onto vswap, is still to come;
# this script says so rather than pretend.
#
# VSWAP_ACCEL=kvm opts in to KVM; the default is TCG.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${VSWAP_BUILD:-$top/build}
qemu=$build/qemu/qemu-system-x86_64
accel=${VSWAP_ACCEL:-tcg}
run=$(mktemp -d /tmp/vswap-demo.XXXXXX)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$run"' EXIT

echo "demo: starting QEMU ($accel) with -device virtio-vswap-pci"
"$qemu" -machine q35,accel="$accel" -m 256M -nodefaults -display none \
    -S -device virtio-vswap-pci,id=vswap0,capacity=262144 \
    -qmp unix:"$run/qmp.sock",server=on,wait=off &
pid=$!

VSWAP_TOP=$top python3 - "$run/qmp.sock" <<'PY'
import os, sys
sys.path.insert(0, os.path.join(os.environ['VSWAP_TOP'], 'scripts'))
from qmp import QMP
qmp = QMP(sys.argv[1])
path = None
for dev in qmp.cmd('x-query-virtio'):
    print('demo: virtio device %-12s at %s' % (dev['name'], dev['path']))
    if dev['name'] == 'virtio-vswap':
        path = dev['path']
if path is None:
    sys.exit('demo: QEMU did not report a virtio-vswap device')
status = qmp.cmd('x-query-virtio-status', path=path)
print('demo: device id %d, features offered:' % status['device-id'])
for feature in status['host-features']['dev-features']:
    print('demo:   ' + feature)
print('demo: capacity: %s slots' %
      qmp.cmd('qom-get', path='/machine/peripheral/vswap0', property='capacity'))
qmp.cmd('quit')
PY
wait "$pid" || true
echo "demo: no guest yet: the Linux driver and the overcommitted workload" \
     "arrive with the guest issue."
