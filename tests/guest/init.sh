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
#                           broken: the device stops answering or needs
#                           a reset (run-guest.py's --break) while the
#                           checker's pages are swapped out: its swap-ins
#                           must fail in a bounded time, later I/O at once.
#                           vqbench: sequential direct I/O of the corpus
#                           file at each of vswap.bs block sizes, timed
#                           (bench/vq-bench.py).
#                           zram-algs: write the corpus to a zram device
#                           with each compressor the kernel offers and
#                           report time and ratio (no swap).
#   vswap.bs=SIZES          vqbench block sizes in bytes, commas between
#                           (default 4096,65536,1048576)
#   vswap.swapdev=DEV       what full mode swaps to: vswap (default,
#                           /dev/vswap0), zram (/dev/zram0, with
#                           vswap.zram_alg and vswap.swapsize), or a block
#                           device such as /dev/vda (virtio-blk)
#   vswap.zram_alg=ALG      zram compressor (default: the kernel's)
#   vswap.swapsize=SIZE     zram disk size (default 1G)
#   vswap.workload=W        full mode's workload: checker (default), or
#                           sort: genlines writes vswap.sort_input bytes
#                           into a tmpfs and GNU sort (-S vswap.sort_buffer)
#                           sorts them into md5sum ("SORT ..." line);
#                           idle: wait until the host presses the ACPI
#                           power button (QMP system_powerdown), at most
#                           vswap.idle_max seconds (default 3600)
#   vswap.sort_input=SIZE   default 320M
#   vswap.sort_buffer=SIZE  default 200M
#   vswap.rounds=N          run the checker N times, seeds vswap.seed and
#                           up (default 1); "VSWAP-WORKLOAD" gives the
#                           whole workload's time
#   vswap.idle_mem=SIZE     before the workload, write SIZE of the corpus
#                           (without one: genlines' text, or random
#                           bytes) into a tmpfs and
#                           leave it idle; after the workload its md5 must
#                           be unchanged ("VSWAP-IDLE ... ok=1"): cold
#                           memory for a balloon to push out to swap
#   vswap.swapoff=0         end without swapoff (which would pull every
#                           swapped page back into a guest whose balloon
#                           may hold its memory)
#   vswap.monitor=SECONDS   interval of the VSWAP-GUESTMEM lines (default 2)
#   vswap.checker=SIZE      memory the checker fills (default 640M)
#   vswap.seed=N            checker seed (default 1)
#   vswap.swapon=ARGS       extra swapon arguments, commas for spaces
#                           (e.g. "-d" to discard at swapon)
#   vswap.hold=SECONDS      pause after each "VSWAP-SYNC when=X" line so
#                           the host can sample its stats (default 2)
#   vswap.hung_task=S       kernel.hung_task_timeout_secs (broken mode)
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
swapdev=vswap
zram_alg=
swapsize=1G
workload=checker
sort_input=320M
sort_buffer=200M
monitor_interval=2
hung_task=
rounds=1
idle_mem=
idle_max=3600
do_swapoff=1
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
	vswap.swapdev=*) swapdev=${arg#*=} ;;
	vswap.zram_alg=*) zram_alg=${arg#*=} ;;
	vswap.swapsize=*) swapsize=${arg#*=} ;;
	vswap.workload=*) workload=${arg#*=} ;;
	vswap.sort_input=*) sort_input=${arg#*=} ;;
	vswap.sort_buffer=*) sort_buffer=${arg#*=} ;;
	vswap.monitor=*) monitor_interval=${arg#*=} ;;
	vswap.hung_task=*) hung_task=${arg#*=} ;;
	vswap.rounds=*) rounds=${arg#*=} ;;
	vswap.idle_mem=*) idle_mem=${arg#*=} ;;
	vswap.idle_max=*) idle_max=${arg#*=} ;;
	vswap.swapoff=*) do_swapoff=${arg#*=} ;;
	esac
done

say "VSWAP-GUEST-START kernel=$(uname -r) mode=$mode checker=$checker_size" \
    "swapdev=$swapdev workload=$workload" \
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

# zram's compressor and size per vswap.zram_alg and vswap.swapsize.
zram_setup() {
	echo 1 >/sys/block/zram0/reset || return 1
	if [ -n "$1" ]; then
		echo "$1" >/sys/block/zram0/comp_algorithm || return 1
	fi
	echo "$2" >/sys/block/zram0/disksize
}

# Seconds since boot, to 10 ms.
uptime_s() {
	cut -d' ' -f1 /proc/uptime
}

# Seconds from uptime_s value $1 to $2.
elapsed() {
	echo "$1 $2" | awk '{ print $2 - $1 }'
}

if [ "$mode" = zram-algs ]; then
	# What each compressor makes of the corpus: write through the page
	# cache (fsync: compressed at writeback), drop it, read back.
	[ -b /dev/zram0 ] || fail no-zram0
	algs=$(tr -d '[]' </sys/block/zram0/comp_algorithm)
	for alg in $algs; do
		zram_setup "$alg" 64M || fail "zram-$alg"
		t0=$(uptime_s)
		dd if=/corpus.pages of=/dev/zram0 bs=1M conv=fsync 2>/dev/null ||
		    fail "zram-write-$alg"
		t1=$(uptime_s)
		echo 3 >/proc/sys/vm/drop_caches
		t2=$(uptime_s)
		dd if=/dev/zram0 of=/dev/null bs=1M \
		    count=$(($(stat -c %s /corpus.pages) >> 20)) 2>/dev/null
		t3=$(uptime_s)
		# mm_stat: orig_data_size compr_data_size mem_used_total ...
		# shellcheck disable=SC2046 # one word per field
		set -- $(cat /sys/block/zram0/mm_stat)
		say "VSWAP-ZRAMALG alg=$alg write_s=$(elapsed "$t0" "$t1")" \
		    "read_s=$(elapsed "$t2" "$t3") orig=$1 compr=$2 mem_used=$3" \
		    "same_pages=$6"
	done
	zram_setup "" 64M
	finish 0
fi

case "$swapdev" in
vswap) want=/dev/vswap0 ;;
zram) want=/dev/zram0 ;;
*) want=$swapdev ;;
esac
dev=
for _ in $(seq 100); do
	if [ -b "$want" ]; then
		dev=$want
		break
	fi
	sleep 0.1
done
[ -n "$dev" ] || fail "no-${want##*/}"
if [ "$swapdev" = zram ]; then
	zram_setup "$zram_alg" "$swapsize" || fail zram-setup
fi
sys=/sys/block/${dev##*/}
if [ -d "$sys/vswap" ]; then
	vswap_attrs="max_batch=$(cat "$sys/vswap/max_batch")"
	vswap_attrs="$vswap_attrs num_queues=$(cat "$sys/vswap/num_queues")"
	vswap_attrs="$vswap_attrs fill=$(cat "$sys/vswap/fill")"
elif [ "$swapdev" = zram ]; then
	vswap_attrs="comp_algorithm=$(sed 's/.*\[\(.*\)\].*/\1/' \
	    "$sys/comp_algorithm")"
fi
say "VSWAP-DEVICE dev=$dev sectors=$(cat "$sys/size")" \
    "bytes=$(($(cat "$sys/size") * 512))" \
    "logical_block=$(cat "$sys/queue/logical_block_size")" \
    "physical_block=$(cat "$sys/queue/physical_block_size")" \
    "max_hw_kb=$(cat "$sys/queue/max_hw_sectors_kb")" \
    "discard_max=$(cat "$sys/queue/discard_max_hw_bytes")" \
    "rotational=$(cat "$sys/queue/rotational")" \
    "$vswap_attrs"
dmesg | grep -i vswap

stats() {
	when=$1
	if [ -d "$sys/vswap" ]; then
		line="VSWAP-STATS when=$when"
		for f in "$sys"/vswap/*; do
			case "${f##*/}" in stat) continue ;; esac
			line="$line ${f##*/}=$(cat "$f")"
		done
		say "$line"
	fi
	if [ "$swapdev" = zram ]; then
		# shellcheck disable=SC2046 # one word per field
		set -- $(cat "$sys/mm_stat")
		say "VSWAP-ZRAM when=$when orig_data_size=$1 compr_data_size=$2" \
		    "mem_used_total=$3 mem_used_max=$5 same_pages=$6" \
		    "huge_pages=$8"
	fi
	zswap=/sys/kernel/debug/zswap
	if [ -d $zswap ] && [ "$(cat /sys/module/zswap/parameters/enabled)" = Y ]
	then
		line="VSWAP-ZSWAP when=$when"
		line="$line compressor=$(cat /sys/module/zswap/parameters/compressor)"
		line="$line zpool=$(cat /sys/module/zswap/parameters/zpool)"
		for f in "$zswap"/*; do
			line="$line ${f##*/}=$(cat "$f")"
		done
		say "$line"
	fi
}

# The guest's CPU time so far, in USER_HZ ticks (/proc/stat).
cpustat() {
	say "VSWAP-CPU when=$1 uptime_s=$(uptime_s) $(awk '/^cpu / {
	    print "user=" $2 " nice=" $3 " system=" $4 " idle=" $5 \
	    " iowait=" $6 " irq=" $7 " softirq=" $8 }' /proc/stat)"
}

# The sort workload: a file larger than RAM in a tmpfs (whose pages can
# be swapped, unlike the initramfs'), sorted by GNU sort with temporary
# files in the same tmpfs; its output's checksum is checked by the host.
run_sort() {
	mkdir -p /work || return 2
	mount -t tmpfs -o size=4G tmpfs /work || return 2
	mkdir -p /work/tmp
	t0=$(uptime_s)
	/genlines "$sort_input" "$seed" >/work/in || return 2
	t1=$(uptime_s)
	md5=$( { LC_ALL=C /usr/local/bin/sort -S "$sort_buffer" -T /work/tmp \
	    /work/in; echo $? >/work/sort-rc; } | md5sum | cut -d' ' -f1)
	t2=$(uptime_s)
	rc=$(cat /work/sort-rc)
	say "SORT input=$sort_input buffer=$sort_buffer bytes=$(stat -c %s \
	    /work/in) md5=$md5 rc=$rc gen_seconds=$(echo "$t1 $t0" |
	    awk '{ print $1 - $2 }') sort_seconds=$(echo "$t2 $t1" |
	    awk '{ print $1 - $2 }') seconds=$(echo "$t2 $t0" |
	    awk '{ print $1 - $2 }')"
	rm -rf /work/in /work/tmp
	umount /work
	[ "$rc" = 0 ] || return 1
}

# "640M" -> bytes.
bytes_of() {
	case "$1" in
	*[Kk]) echo $((${1%?} << 10)) ;;
	*[Mm]) echo $((${1%?} << 20)) ;;
	*[Gg]) echo $((${1%?} << 30)) ;;
	*) echo "$1" ;;
	esac
}

# Idle memory: vswap.idle_mem bytes in a tmpfs (swappable, unlike the
# initramfs), written once and left alone until idle_verify.
idle_fill() {
	mkdir -p /idle && mount -t tmpfs -o size=4G tmpfs /idle || return 1
	n=$(bytes_of "$idle_mem")
	if [ -f /corpus.pages ]; then
		# The corpus over and over; head ends the loop with SIGPIPE.
		(while cat /corpus.pages; do :; done) | head -c "$n" \
		    >/idle/data || return 1
	elif [ -x /genlines ]; then
		/genlines "$n" "$((seed + 1000))" >/idle/data || return 1
	else
		head -c "$n" /dev/urandom >/idle/data || return 1
	fi
	idle_md5=$(md5sum </idle/data | cut -d' ' -f1)
	say "VSWAP-IDLE when=filled bytes=$(stat -c %s /idle/data)" \
	    "md5=$idle_md5"
}

idle_verify() {
	md5=$(md5sum </idle/data | cut -d' ' -f1)
	ok=0
	[ "$md5" = "$idle_md5" ] && ok=1
	say "VSWAP-IDLE when=verified bytes=$(stat -c %s /idle/data)" \
	    "md5=$md5 ok=$ok"
	rm -f /idle/data
	umount /idle
	[ $ok = 1 ]
}

# Waits until the host presses the ACPI power button (the fixed event's
# counter moves even without a button driver), or vswap.idle_max seconds.
wait_power_button() {
	btn=/sys/firmware/acpi/interrupts/ff_pwr_btn
	[ -r $btn ] || { say "VSWAP-GUEST-FAIL step=no-$btn"; return 1; }
	waited=0
	while [ "$waited" -lt "$idle_max" ]; do
		read -r count _ <$btn
		[ "$count" -gt 0 ] && return 0
		sleep 1
		waited=$((waited + 1))
	done
	return 1
}

# The checker vswap.rounds times, seeds vswap.seed and up; the first
# failure's status.
run_checker() {
	r=0 status=0
	while [ $r -lt "$rounds" ]; do
		/checker "$checker_size" "$corpus" $((seed + r))
		c=$?
		[ $status = 0 ] && status=$c
		r=$((r + 1))
	done
	return $status
}

# Let the host take a sample of the device's stats at this point.
sync_host() {
	say "VSWAP-SYNC when=$1"
	sleep "$hold"
}

vmstat() {
	say "VSWAP-VMSTAT when=$1 $(grep -E \
	    '^(pswpin|pswpout|zswpin|zswpout|zswpwb|pgmajfault) ' /proc/vmstat |
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

# Write slot $1, which the host forgets (run-guest.py sets x-forget-slot),
# and read it back: "eio" when the read fails, else "zeros" or "data".
lost_io() {
	dd if=/dev/urandom of=/tmp/page bs=4096 count=1 2>/dev/null
	dd if=/tmp/page of=$dev bs=4096 count=1 seek="$1" oflag=direct \
	    2>/dev/null || { echo write-failed; return; }
	read_io "$1"
}

# Read slot $1 with O_DIRECT: "eio", "zeros" or "data".
read_io() {
	if ! dd if=$dev of=/tmp/back bs=4096 count=1 skip="$1" iflag=direct \
	    2>/dev/null; then
		echo eio
		return
	fi
	dd if=/dev/zero of=/tmp/zero bs=4096 count=1 2>/dev/null
	if cmp -s /tmp/zero /tmp/back; then echo zeros; else echo data; fi
}

if [ "$mode" = smoke ]; then
	io=failed discard=failed
	page_io 1 && io=ok
	page_io 2 && discard_io 2 && discard=ok
	probe=$(read_io 9)
	lost=$(lost_io 7)
	say "VSWAP-SMOKE io=$io discard=$discard probe=$probe lost=$lost"
	dmesg | grep -i vswap | tail -5
	stats smoke
	finish 0
fi

# The device breaks while the checker's pages are on it.  The checker runs
# in a memory cgroup, and memory.reclaim pushes its pages (and only its:
# a page of /init lost with the device would kill PID 1) out to swap
# while it waits after its first pass.  Then run-guest.py breaks the device
# (VSWAP-SYNC when=break), and the checker verifies: each swap-in must fail
# (SIGBUS, counted as io_errors) within a bounded time, never hang in D
# state.  Later I/O must fail at once, and swapoff must return.
if [ "$mode" = broken ]; then
	[ -n "$hung_task" ] &&
	    echo "$hung_task" >/proc/sys/kernel/hung_task_timeout_secs
	mkswap $dev >/dev/null || fail mkswap
	swapon $dev || fail swapon
	cg=/sys/fs/cgroup
	mount -t cgroup2 none $cg || fail cgroup2
	echo +memory >$cg/cgroup.subtree_control || fail cgroup-memory
	mkdir $cg/checker || fail cgroup
	corpus=-
	[ -f /corpus.pages ] && corpus=/corpus.pages
	t0=$(uptime_s)
	# shellcheck disable=SC2016 # $$ is the inner shell's
	CHECKER_HOLD=15 sh -c 'echo $$ >'$cg/checker/cgroup.procs' &&
	    exec "$@"' checker /checker "$checker_size" "$corpus" "$seed" &
	checker=$!
	sleep 5
	echo "$checker_size" >$cg/checker/memory.reclaim
	say "VSWAP-RECLAIM swap_kb=$(awk '/^SwapTotal:/ { t = $2 }
	    /^SwapFree:/ { f = $2 } END { print t - f }' /proc/meminfo)"
	sync_host break
	wait $checker
	rc=$?
	t1=$(uptime_s)
	probe=$(read_io 1)
	t2=$(uptime_s)
	swapoff $dev
	src=$?
	t3=$(uptime_s)
	say "VSWAP-BROKEN checker_rc=$rc checker_s=$(elapsed "$t0" "$t1")" \
	    "probe=$probe probe_s=$(elapsed "$t1" "$t2")" \
	    "swapoff_rc=$src swapoff_s=$(elapsed "$t2" "$t3")"
	dmesg | grep -i -E 'vswap|blocked for' | tail -8
	stats broken
	finish 0
fi

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
		t0=$(uptime_s)
		dd if=$src of=$dev bs="$bs" oflag=direct conv=notrunc \
		    2>/dev/null || fail "vqbench-write-$bs"
		t1=$(uptime_s)
		sync_host "bs$bs-written"
		t2=$(uptime_s)
		dd if=$dev of=/tmp/back bs="$bs" count=$((bytes / bs)) \
		    iflag=direct 2>/dev/null || fail "vqbench-read-$bs"
		t3=$(uptime_s)
		sync_host "bs$bs-read"
		cmp -s $src /tmp/back || fail "vqbench-verify-$bs"
		rm -f /tmp/back
		blkdiscard $dev || fail "vqbench-discard-$bs"
		say "VSWAP-VQBENCH bs=$bs bytes=$bytes" \
		    "write_s=$(elapsed "$t0" "$t1") read_s=$(elapsed "$t2" "$t3")"
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

[ -d /sys/kernel/debug/zswap ] ||
    mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mkswap $dev >/dev/null || fail mkswap
# shellcheck disable=SC2086 # word splitting wanted
swapon $swapon_args $dev || fail swapon
cat /proc/swaps
say "VSWAP-SWAPON $(tail -n +2 /proc/swaps | tr -s ' ' | tr '\t' ' ')"
vmstat before
stats before

corpus=-
[ -f /corpus.pages ] && corpus=/corpus.pages
# The guest's own view, every vswap.monitor seconds, for the host side
# (make demo, and the point at which the benches migrate).
(
	while :; do
		zram=
		if [ "$swapdev" = zram ]; then
			# shellcheck disable=SC2046 # one word per field
			set -- $(cat "$sys/mm_stat")
			zram=" zram_orig=$1 zram_compr=$2 zram_used=$3"
		fi
		say "VSWAP-GUESTMEM $(awk '/^SwapTotal:/ { t = $2 }
			/^SwapFree:/ { f = $2 } /^MemAvailable:/ { m = $2 }
			/^Zswap:/ { z = $2 } /^Zswapped:/ { zd = $2 }
			END { print "swap_used_kb=" t - f " mem_avail_kb=" m \
			    " zswap_kb=" z + 0 " zswapped_kb=" zd + 0 }' \
			/proc/meminfo)$zram"
		sleep "$monitor_interval"
	done
) &
monitor=$!
idle_rc=0
if [ -n "$idle_mem" ]; then
	idle_fill || fail idle-fill
fi
cpustat before
t_work=$(uptime_s)
case "$workload" in
sort) run_sort ;;
idle) wait_power_button ;;
*) run_checker ;;
esac
rc=$?
say "VSWAP-WORKLOAD name=$workload rounds=$rounds rc=$rc" \
    "seconds=$(elapsed "$t_work" "$(uptime_s)")"
cpustat after
if [ -n "$idle_mem" ]; then
	idle_verify || idle_rc=1
fi
[ $rc = 0 ] && rc=$idle_rc
kill $monitor 2>/dev/null
say "VSWAP-CHECKER-EXIT rc=$rc"
vmstat after
stats after
free -k
sync_host after

[ "$do_swapoff" = 0 ] && finish $rc
swapoff $dev || fail swapoff
# Free notifications of the last slots may still be on their way.
sleep 1
stats swapoff
vmstat swapoff
sync_host swapoff
finish $rc
