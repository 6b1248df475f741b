#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-or-later
# /init of the vswap test guest (built into the initramfs by
# build-initramfs.sh; runs as PID 1 under busybox sh, hence no "set -u"
# and no pipefail).
#
# Loads virtio and the vswap driver, swaps to /dev/vswap0, runs the checker
# and reports.  Every line the host parses starts with "VSWAP-" or
# "CHECKER".  Kernel command line parameters:
#
#   vswap.mode=MODE         full (default): mkswap, swapon, checker, swapoff.
#                           smoke: load the driver, show the device, one
#                           page of I/O and one discard.
#                           pm: suspend to idle with swap on (must be
#                           refused) and off (must work), then I/O.
#                           vqbench: sequential direct I/O of the corpus
#                           file at each of vswap.bs block sizes, timed
#                           (bench/vq-bench.py).
#   vswap.bs=SIZES          vqbench block sizes in bytes, commas between
#                           (default 4096,65536,1048576)
#   vswap.checker=SIZE      memory the checker fills (default 640M)
#   vswap.seed=N            checker seed (default 1)
#   vswap.swapon=ARGS       extra swapon arguments, commas for spaces
#                           (e.g. "-d" to discard at swapon)
#   vswap.hold=SECONDS      pause after each "VSWAP-SYNC when=X" line so
#                           the host can sample its stats (default 2)
#   vswap.checker_hold=S    the checker pauses S seconds after its first
#                           write pass ("VSWAP-SYNC when=write1")
#   virtio_vswap.PARAM=V    passed to the driver's insmod (busybox insmod
#                           does not read the kernel command line); a
#                           built-in driver takes them from the kernel
#
# The guest always powers off at the end; "VSWAP-GUEST-DONE rc=N" says how
# it went (0: success).

export PATH=/bin:/sbin:/usr/bin:/usr/sbin

/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# Host-parsed lines: one echo each, so they stay whole on the console.
say() {
	echo "$@"
}

finish() {
	say "VSWAP-GUEST-DONE rc=$1"
	sync
	poweroff -f
	sleep 10
}

fail() {
	say "VSWAP-GUEST-FAIL step=$1"
	dmesg | grep -i vswap | tail -20
	finish 1
}

mode=full
checker_size=640M
seed=1
hold=2
swapon_args=
bench_bs="4096 65536 1048576"
modparams=
read -r cmdline </proc/cmdline
for arg in $cmdline; do
	case "$arg" in
	vswap.mode=*) mode=${arg#*=} ;;
	vswap.checker=*) checker_size=${arg#*=} ;;
	vswap.seed=*) seed=${arg#*=} ;;
	vswap.hold=*) hold=${arg#*=} ;;
	vswap.checker_hold=*) export CHECKER_HOLD="${arg#*=}" ;;
	vswap.swapon=*) swapon_args=$(echo "${arg#*=}" | tr , ' ') ;;
	vswap.bs=*) bench_bs=$(echo "${arg#*=}" | tr , ' ') ;;
	virtio_vswap.*) modparams="$modparams ${arg#virtio_vswap.}" ;;
	esac
done

say "VSWAP-GUEST-START kernel=$(uname -r) mode=$mode checker=$checker_size" \
    "mem_kib=$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)" \
    "cpus=$(nproc)"

# Modules, in dependency order (listed by build-initramfs.sh).
while read -r m; do
	insmod "/lib/modules/$m" || fail "insmod-$m"
done </lib/modules/load-order
# No virtio_vswap.ko: the driver is built into the kernel.
if [ -f /lib/modules/virtio_vswap.ko ]; then
	# shellcheck disable=SC2086 # word splitting wanted: one per param
	insmod /lib/modules/virtio_vswap.ko $modparams ||
	    fail insmod-virtio_vswap
fi

dev=
for _ in $(seq 100); do
	if [ -b /dev/vswap0 ]; then
		dev=/dev/vswap0
		break
	fi
	sleep 0.1
done
[ -n "$dev" ] || fail no-vswap0
sys=/sys/block/vswap0
say "VSWAP-DEVICE dev=$dev sectors=$(cat $sys/size)" \
    "bytes=$(($(cat $sys/size) * 512))" \
    "logical_block=$(cat $sys/queue/logical_block_size)" \
    "physical_block=$(cat $sys/queue/physical_block_size)" \
    "max_hw_kb=$(cat $sys/queue/max_hw_sectors_kb)" \
    "discard_max=$(cat $sys/queue/discard_max_hw_bytes)" \
    "rotational=$(cat $sys/queue/rotational)" \
    "max_batch=$(cat $sys/vswap/max_batch)" \
    "num_queues=$(cat $sys/vswap/num_queues)" \
    "fill=$(cat $sys/vswap/fill)"
dmesg | grep -i vswap

stats() {
	line="VSWAP-STATS when=$1"
	for f in "$sys"/vswap/*; do
		case "${f##*/}" in stat) continue ;; esac
		line="$line ${f##*/}=$(cat "$f")"
	done
	say "$line"
}

# Let the host take a sample of the device's stats at this point.
sync_host() {
	say "VSWAP-SYNC when=$1"
	sleep "$hold"
}

vmstat() {
	say "VSWAP-VMSTAT when=$1 $(grep -E \
	    '^(pswpin|pswpout|zswpin|zswpout|zswpwb) ' /proc/vmstat |
	    tr ' ' '=' | tr '\n' ' ')"
}

# One page out to slot $1 and back.
page_io() {
	dd if=/dev/urandom of=/tmp/page bs=4096 count=1 2>/dev/null &&
	    dd if=/tmp/page of=$dev bs=4096 count=1 seek="$1" conv=fsync \
	    2>/dev/null &&
	    echo 3 >/proc/sys/vm/drop_caches &&
	    dd if=$dev of=/tmp/back bs=4096 count=1 skip="$1" 2>/dev/null &&
	    cmp -s /tmp/page /tmp/back
}

# Discard slot $1 through the block layer; it must read back as zeros.
discard_io() {
	blkdiscard -o $(($1 * 4096)) -l 4096 $dev &&
	    echo 3 >/proc/sys/vm/drop_caches &&
	    dd if=$dev of=/tmp/back bs=4096 count=1 skip="$1" 2>/dev/null &&
	    dd if=/dev/zero of=/tmp/zero bs=4096 count=1 2>/dev/null &&
	    cmp -s /tmp/zero /tmp/back
}

# Suspend to RAM (S3; run-guest.py wakes the guest with QMP system_wakeup
# when QEMU reports it suspended); prints "ok" or "refused".
suspend_io() {
	if ! grep -q deep /sys/power/mem_sleep 2>/dev/null; then
		echo unsupported
		return
	fi
	echo deep >/sys/power/mem_sleep
	if echo mem >/sys/power/state 2>/dev/null; then
		echo ok
	else
		echo refused
	fi
}

if [ "$mode" = smoke ]; then
	io=failed discard=failed
	page_io 1 && io=ok
	page_io 2 && discard_io 2 && discard=ok
	say "VSWAP-SMOKE io=$io discard=$discard"
	stats smoke
	finish 0
fi

# Centiseconds since boot.
now_cs() {
	awk '{ printf "%d", $1 * 100 }' /proc/uptime
}

# The corpus file written to the device and read back with O_DIRECT at
# each block size: one request per block, or several when the driver's
# max_batch is below the block.  The host samples its request counters
# at each VSWAP-SYNC.
if [ "$mode" = vqbench ]; then
	src=/corpus.pages
	[ -f $src ] || fail vqbench-no-corpus
	bytes=$(wc -c <$src)
	for bs in $bench_bs; do
		sync_host "bs$bs-start"
		t0=$(now_cs)
		dd if=$src of=$dev bs="$bs" oflag=direct conv=notrunc \
		    2>/dev/null || fail "vqbench-write-$bs"
		t1=$(now_cs)
		sync_host "bs$bs-written"
		t2=$(now_cs)
		dd if=$dev of=/tmp/back bs="$bs" count=$((bytes / bs)) \
		    iflag=direct 2>/dev/null || fail "vqbench-read-$bs"
		t3=$(now_cs)
		sync_host "bs$bs-read"
		cmp -s $src /tmp/back || fail "vqbench-verify-$bs"
		rm -f /tmp/back
		blkdiscard $dev || fail "vqbench-discard-$bs"
		say "VSWAP-VQBENCH bs=$bs bytes=$bytes write_cs=$((t1 - t0))" \
		    "read_cs=$((t3 - t2))"
	done
	stats vqbench
	finish 0
fi

if [ "$mode" = pm ]; then
	# Freeze must refuse while swap uses the device (a reset would lose
	# its slots) and work, with the device usable after resume, once not.
	mkswap $dev >/dev/null || fail mkswap
	swapon $dev || fail swapon
	busy=$(suspend_io)
	swapoff $dev || fail swapoff
	idle=$(suspend_io)
	io=failed
	page_io 3 && io=ok
	say "VSWAP-PM in_use=$busy idle=$idle io_after=$io"
	dmesg | grep -i -E 'vswap|PM: ' | tail -20
	stats pm
	finish 0
fi

mkswap $dev >/dev/null || fail mkswap
# shellcheck disable=SC2086 # word splitting wanted
swapon $swapon_args $dev || fail swapon
cat /proc/swaps
say "VSWAP-SWAPON $(tail -n +2 /proc/swaps | tr -s ' ' | tr '\t' ' ')"
vmstat before
stats before

corpus=-
[ -f /corpus.pages ] && corpus=/corpus.pages
# The guest's own view, every 2 s, for the host side (make demo).
(
	while :; do
		say "VSWAP-GUESTMEM $(awk '/^SwapTotal:/ { t = $2 }
			/^SwapFree:/ { f = $2 } /^MemAvailable:/ { m = $2 }
			/^Zswap:/ { z = $2 } /^Zswapped:/ { zd = $2 }
			END { print "swap_used_kb=" t - f " mem_avail_kb=" m \
			    " zswap_kb=" z + 0 " zswapped_kb=" zd + 0 }' \
			/proc/meminfo)"
		sleep 2
	done
) &
monitor=$!
/checker "$checker_size" "$corpus" "$seed"
rc=$?
kill $monitor 2>/dev/null
say "VSWAP-CHECKER-EXIT rc=$rc"
vmstat after
stats after
free -k
sync_host after

swapoff $dev || fail swapoff
# Free notifications of the last slots may still be on their way.
sleep 1
stats swapoff
vmstat swapoff
sync_host swapoff
finish $rc
