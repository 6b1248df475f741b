#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A single-node Ceph cluster for the store's RBD runs, from Debian's packages.
#
#   scripts/ceph-cluster.sh start [DIR]    make (or restart) the cluster
#   scripts/ceph-cluster.sh stop [DIR]     stop its daemons, keep its data
#   scripts/ceph-cluster.sh destroy [DIR]  stop it and delete DIR
#   scripts/ceph-cluster.sh status [DIR]   print its health and pools
#
# One monitor and one OSD with a file-backed BlueStore (a plain file, no
# loop device, no LVM, no containers), on loopback, without cephx.  The
# pool "vswap" has size 1 and the rbd application.  No manager daemon:
# RBD I/O does not need one.  DIR defaults to build/ceph.
#
# Clients use the configuration file that `start` prints and writes to
# DIR/ceph.conf, e.g. `rbd -c DIR/ceph.conf ls vswap`, or QEMU's
# `-blockdev driver=rbd,pool=vswap,image=NAME,conf=DIR/ceph.conf`.
#
# Environment: VSWAP_CEPH_PORT (default 6789), VSWAP_CEPH_OSD_SIZE (the
# BlueStore file, default 4G).  A cold start takes about 15 s.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-}
dir=${2:-${VSWAP_BUILD:-$top/build}/ceph}
port=${VSWAP_CEPH_PORT:-6789}
osd_size=${VSWAP_CEPH_OSD_SIZE:-4G}
pool=vswap
conf=$dir/ceph.conf

log() { echo "ceph-cluster: $*" >&2; }
die() { log "$*"; exit 1; }

ceph_() { timeout 60 ceph -c "$conf" --connect-timeout 30 "$@"; }

need() {
    local t
    for t in ceph ceph-mon ceph-osd monmaptool ceph-authtool rbd rados; do
        command -v "$t" >/dev/null ||
            die "$t not found: run scripts/install-deps.sh (ceph-mon ceph-osd ceph-common)"
    done
}

# pid NAME: the pid of daemon NAME (mon.a, osd.0) if it runs, else nothing.
pid() {
    local f=$dir/run/$1.pid p
    [ -f "$f" ] || return 0
    p=$(cat "$f")
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"
    return 0
}

write_conf() {
    local fsid=$1
    mkdir -p "$dir/run" "$dir/log" "$dir/mon" "$dir/osd"
    cat >"$conf" <<EOF
# Written by scripts/ceph-cluster.sh: a single-node test cluster.
[global]
fsid = $fsid
mon_host = 127.0.0.1:$port
ms_bind_msgr2 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
# A test cluster on a shared disk: warn at 2% free, stop at 1%.
mon_data_avail_warn = 2
mon_data_avail_crit = 1
osd_crush_chooseleaf_type = 0
run_dir = $dir/run
pid_file = $dir/run/\$name.pid
admin_socket = $dir/run/\$name.asok
log_file = $dir/log/\$name.log
keyring = $dir/keyring
mon_data = $dir/mon/\$cluster-\$id

[osd]
osd_data = $dir/osd/\$cluster-\$id
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = $osd_size
osd_memory_target = 1G
# Without these two, an OSD without cephx fails with "wrong fsid".
osd_crush_update_on_start = false
osd_class_update_on_start = false

[client]
log_file = $dir/log/client.log

# The client a vswap store connects as (user=vswap on its -blockdev): the
# store never changes a segment's buffer while it is written, so librbd
# may send it without a copy (docs/system/vswap.rst, "Network storage").
[client.vswap]
rbd_disable_zero_copy_writes = false
EOF
}

create() {
    local fsid uuid id
    log "creating a cluster in $dir (monitor on 127.0.0.1:$port)"
    rm -rf "$dir"
    fsid=$(cat /proc/sys/kernel/random/uuid)
    write_conf "$fsid"
    monmaptool --create --fsid "$fsid" --add a "127.0.0.1:$port" \
        "$dir/monmap" >/dev/null
    ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. \
        --cap mon 'allow *' >/dev/null
    ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" \
        --keyring "$dir/keyring" 2>>"$dir/log/mkfs.log" ||
        die "ceph-mon --mkfs failed (see $dir/log/)"
    start_mon
    uuid=$(cat /proc/sys/kernel/random/uuid)
    id=$(ceph_ osd new "$uuid") || die "ceph osd new failed"
    [ "$id" = 0 ] || die "expected osd id 0, got '$id'"
    mkdir -p "$dir/osd/ceph-0"
    ceph-osd -c "$conf" --mkfs -i 0 --osd-uuid "$uuid" \
        >>"$dir/log/mkfs.log" 2>&1 ||
        die "ceph-osd --mkfs failed (see $dir/log/mkfs.log)"
    # With osd_crush_update_on_start off, the OSD goes into CRUSH by hand.
    ceph_ osd crush add-bucket host0 host >/dev/null 2>&1
    ceph_ osd crush move host0 root=default >/dev/null 2>&1
    ceph_ osd crush add osd.0 1.0 host=host0 >/dev/null 2>&1
    start_osd
    ceph_ osd pool create "$pool" 8 8 >/dev/null 2>&1
    ceph_ osd pool set "$pool" size 1 --yes-i-really-mean-it >/dev/null 2>&1
    ceph_ osd pool application enable "$pool" rbd >/dev/null 2>&1
}

start_mon() {
    [ -n "$(pid mon.a)" ] && return
    ceph-mon -c "$conf" -i a || die "ceph-mon did not start (see $dir/log/mon.a.log)"
}

start_osd() {
    [ -n "$(pid osd.0)" ] && return
    ceph-osd -c "$conf" -i 0 >>"$dir/log/osd-start.log" 2>&1 ||
        die "ceph-osd did not start (see $dir/log/osd.0.log)"
}

# The pool serves I/O once its placement groups are active: without a
# manager, `ceph pg stat` has no figures, so write and read an object.
wait_ready() {
    local i
    for i in $(seq 1 120); do
        if timeout 10 rados -c "$conf" -p "$pool" put vswap-probe "$conf" \
               2>/dev/null &&
           timeout 10 rados -c "$conf" -p "$pool" rm vswap-probe 2>/dev/null; then
            return
        fi
        sleep 1
    done
    die "pool $pool is not serving I/O after 2 minutes (see $dir/log/)"
}

stop() {
    local name p i
    for name in osd.0 mon.a; do
        p=$(pid "$name")
        [ -n "$p" ] || continue
        kill -TERM "$p"
        for i in $(seq 1 300); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$p" 2>/dev/null; then
            log "$name ($p) ignored SIGTERM for 30 s; killing it"
            kill -KILL "$p"
        fi
    done
}

case "$cmd" in
start)
    need
    if [ -f "$dir/keyring" ] && [ -d "$dir/osd/ceph-0" ] &&
       [ -f "$dir/osd/ceph-0/ready" ]; then
        # Rewrite the configuration: this script may have changed since.
        write_conf "$(sed -n 's/^fsid = //p' "$conf")"
        start_mon
        start_osd
    else
        stop 2>/dev/null || true
        create
    fi
    wait_ready
    log "ready: pool $pool; clients use -c $conf"
    echo "$conf"
    ;;
stop)
    stop
    ;;
destroy)
    stop
    rm -rf "$dir"
    ;;
status)
    ceph_ -s
    rados -c "$conf" df
    ;;
*)
    echo "usage: $0 start|stop|destroy|status [DIR]" >&2
    exit 2
    ;;
esac
