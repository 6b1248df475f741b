#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""One guest, five ways to swap: virtio-blk, zram, zswap, vswap (memory), vswap (disk); vswap (disk) with a dictionary; and zram with the RAM its pool takes.

The same guest (Debian's 6.1 kernel, --mem of RAM, the initramfs of
tests/guest built with --bench) runs each workload once per set-up and
repetition:

  blk         swap on virtio-blk over a sparse raw file (what operators
              use today); the baseline every ratio is taken against
  zram        swap on zram in the guest, with the compressor picked by a
              measurement of each one the kernel offers (--zram-alg auto:
              the best ratio among those at most 4x slower to write
              than the fastest)
  zswap       zswap (kernel defaults: lzo, zbud, 20% of RAM) in front of
              the virtio-blk swap
  vswap-mem   virtio-vswap with the device's memory-only store
  vswap-disk  virtio-vswap with a store file and a small memory budget
              (--disk-store-opts), so that the disk tier is used
  vswap-dict  vswap-disk with dict=auto: the store trains a zstd
              dictionary on the guest's own pages (not in the default
              set; --setups names it)
  zram-fit    zram as above, in a guest given --zram-fit-mem of RAM
              (default 1.5 x --mem) instead of --mem, with the same
              workloads: zram's pool takes about that much of the guest's
              RAM, so the workload gets about the RAM the other set-ups
              leave it.  This is how an operator would size a zram guest;
              it compares host memory at comparable guest performance

Workloads:

  checker  tests/guest/checker.c over 2.5 x RAM: writes every page,
           verifies, rewrites a quarter, verifies; must find no mismatch
  sort     GNU sort (not written for this) of a log-like text file of
           --sort-input bytes generated in a tmpfs (swappable) by
           genlines, with --buffer-size --sort-buffer and its temporary
           files in the same tmpfs; the output's md5 must equal what the
           host's sort of the same input gives.  A sort the guest
           kernel OOM-kills (zram keeps its compressed pages in guest
           RAM) is reported as such, not as a bench failure; any other
           failure is one

Per run it records the workload's wall time (guest clock), swap-in
latency (checker: the first read of each page in its first verify pass,
CHECKER-LAT; both: major faults and pswpin), QEMU's peak RSS (VmHWM) and
its RSS and the swap file's allocated bytes sampled every --sample
seconds, QEMU's write_bytes and CPU time, the guest's CPU time
(/proc/stat), and the compression ratio (query-vswap, zram mm_stat,
zswap's debugfs).  Each set-up is reported as the median over
repetitions of its ratio to blk in the same repetition; plots go to
docs/img/guest-bench-*.png.  Any failed run makes the exit status 1.

--rbd-conf CONF puts the storage of blk, zswap and vswap-disk on RBD
images of --rbd-pool (a cluster such as scripts/ceph-cluster.sh starts):
blk and zswap swap on virtio-blk over `-blockdev driver=rbd` (a fresh
image of --swap-size, thin), vswap-disk keeps its store on `-blockdev
driver=rbd,...,discard=unmap` given to `-object vswap-store,file=NODE`
(a fresh image of size 0, which the store grows).  Each run creates its
image and removes it afterwards.  The swap file's allocated bytes are
then not sampled (0).

Environment: VSWAP_QEMU (the QEMU binary), VSWAP_ACCEL (default tcg).
"""
import argparse
import json
import os
import queue
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

SETUPS = ('blk', 'zram', 'zswap', 'vswap-mem', 'vswap-disk', 'zram-fit')
# Set-ups that --setups may name besides the default ones.
EXTRA_SETUPS = ('vswap-dict',)
DISK_STORES = ('vswap-disk', 'vswap-dict')
WORKLOADS = ('checker', 'sort')
GUEST_HZ = 100          # USER_HZ of /proc/stat in the guest


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    bl.add_guest_args(ap, 'guest CPUs (default 1, which keeps a run within'
                      ' minutes on a 2-core host)',
                      'checker size (default 2.5 x --mem)')
    ap.add_argument('--sort-input', type=bl.rg.parse_size, default=None,
                    help='sort input (default 1.25 x --mem)')
    ap.add_argument('--sort-buffer', type=bl.rg.parse_size, default=None,
                    help='sort --buffer-size (default 0.78 x --mem)')
    ap.add_argument('--swap-size', type=bl.rg.parse_size, default='1G')
    ap.add_argument('--zram-alg', default='auto',
                    help='zram compressor, or auto (measured)')
    ap.add_argument('--zram-fit-mem', type=bl.rg.parse_size, default=None,
                    help='guest RAM of the zram-fit set-up (default 1.5 x'
                    ' --mem)')
    ap.add_argument('--disk-store-opts', default='mem-budget=16M,segment-size=1M',
                    help='vswap-disk store options')
    ap.add_argument('--rbd-conf', default=None, metavar='CONF',
                    help='put blk, zswap and vswap-disk storage on RBD'
                    ' images of the cluster of this ceph.conf')
    ap.add_argument('--rbd-pool', default='vswap',
                    help='the RBD pool for --rbd-conf (default vswap)')
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--setups', default=','.join(SETUPS))
    ap.add_argument('--workloads', default=','.join(WORKLOADS))
    ap.add_argument('--sample', type=float, default=2,
                    help='seconds between host samples')
    ap.add_argument('--timeout', type=float, default=900)
    ap.add_argument('--outdir', default=os.path.join(bl.TOP, 'build/bench'))
    ap.add_argument('--plots', default=os.path.join(bl.TOP, 'docs/img'),
                    help='directory for the PNG plots ("" for none)')
    ap.add_argument('-v', '--verbose', action='store_true')
    args = ap.parse_args()
    args.checker = args.checker or args.mem * 5 // 2
    args.sort_input = args.sort_input or args.mem * 5 // 4
    args.sort_buffer = args.sort_buffer or args.mem * 25 // 32
    args.zram_fit_mem = args.zram_fit_mem or args.mem * 3 // 2
    args.setups = args.setups.split(',')
    args.workloads = args.workloads.split(',')
    for s in args.setups:
        if s not in SETUPS + EXTRA_SETUPS:
            ap.error('unknown set-up %r' % s)
    for w in args.workloads:
        if w not in WORKLOADS:
            ap.error('unknown workload %r' % w)
    if 'blk' not in args.setups:
        ap.error('blk is the baseline; it must be run')
    if not os.path.exists(args.qemu):
        ap.error('no QEMU at %s (--qemu or VSWAP_QEMU)' % args.qemu)
    return args


def base_cmd(args, initrd, qmp_sock, append, mem=None):
    return [args.qemu, '-machine', 'q35,accel=%s' % args.accel,
            '-m', '%dM' % ((mem or args.mem) >> 20), '-smp', str(args.smp),
            '-kernel', '/boot/vmlinuz-' + args.kver, '-initrd', initrd,
            '-nographic', '-nodefaults', '-serial', 'stdio',
            '-no-reboot', '-no-shutdown',
            '-qmp', 'unix:%s,server=on,wait=off' % qmp_sock,
            '-append', ' '.join(['console=ttyS0', 'loglevel=4', 'panic=-1']
                                + append)]


def pick_zram_alg(args, initrd):
    """Boot once in zram-algs mode; pick by measured ratio and speed."""
    sock = os.path.join(args.outdir, 'qmp-zram-%d.sock' % os.getpid())
    # Without -no-shutdown QEMU exits when the guest powers off.
    cmd = [c for c in base_cmd(args, initrd, sock, ['vswap.mode=zram-algs'])
           if c != '-no-shutdown']
    out = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=300).stdout
    algs = []
    for line in out.decode('utf-8', 'replace').splitlines():
        if line.startswith('VSWAP-ZRAMALG '):
            d = bl.rg.kv(line)
            algs.append({'alg': d['alg'], 'write_s': float(d['write_s']),
                         'read_s': float(d['read_s']),
                         'ratio': int(d['orig']) / int(d['mem_used'])})
    if not algs:
        raise bl.BenchError('zram-algs: no result')
    fastest = min(a['write_s'] for a in algs)
    fit = [a for a in algs if a['write_s'] <= 4 * max(fastest, 0.01)]
    best = max(fit, key=lambda a: a['ratio'])
    return best['alg'], algs


class GuestRun:
    """One boot: a set-up, a workload, a repetition."""

    def __init__(self, args, setup, workload, rep, initrd, zram_alg):
        self.args, self.setup, self.workload, self.rep = args, setup, workload, rep
        self.initrd, self.zram_alg = initrd, zram_alg
        self.dir = os.path.join(args.outdir, 'guest-%s-%s-%d-%d' % (
            setup, workload, rep, os.getpid()))
        os.makedirs(self.dir, exist_ok=True)
        self.qmp_sock = os.path.join(self.dir, 'qmp.sock')
        self.swapfile = None       # the host file holding the swap, if any
        self.rbd_image = None      # the RBD image holding it (--rbd-conf)
        self.log_path = os.path.join(self.dir, 'console.log')
        self.result = {'setup': setup, 'workload': workload, 'rep': rep,
                       'dir': self.dir, 'rbd': bool(args.rbd_conf)}

    def cmd(self):
        a = self.args
        append = ['vswap.mode=full', 'vswap.seed=%d' % self.rep,
                  'vswap.checker=%dK' % (a.checker >> 10),
                  'vswap.workload=%s' % self.workload,
                  'vswap.sort_input=%dK' % (a.sort_input >> 10),
                  'vswap.sort_buffer=%dK' % (a.sort_buffer >> 10),
                  'zswap.enabled=%d' % (self.setup == 'zswap'),
                  'vswap.monitor=1']
        dev = []
        if a.rbd_conf and self.setup in ('blk', 'zswap') + DISK_STORES:
            dev = self.rbd_devices(append)
            return base_cmd(a, self.initrd, self.qmp_sock, append) + dev
        if self.setup in ('blk', 'zswap'):
            self.swapfile = os.path.join(self.dir, 'swap.raw')
            with open(self.swapfile, 'wb') as f:
                f.truncate(a.swap_size)
            append.append('vswap.swapdev=/dev/vda')
            dev = ['-blockdev', 'driver=file,filename=%s,node-name=swapfile'
                   % self.swapfile,
                   '-blockdev', 'driver=raw,file=swapfile,node-name=swap0',
                   '-device', 'virtio-blk-pci,id=vblk0,drive=swap0']
        elif self.setup in ('zram', 'zram-fit'):
            append += ['vswap.swapdev=zram', 'vswap.zram_alg=' + self.zram_alg,
                       'vswap.swapsize=%dK' % (a.swap_size >> 10)]
        elif self.setup == 'vswap-mem':
            dev = ['-device', 'virtio-vswap-pci,id=vswap0,capacity=%d'
                   % (a.swap_size // bl.PAGE)]
        else:
            self.swapfile = os.path.join(self.dir, 'store.vswap')
            dev = ['-object', 'vswap-store,id=vs0,path=%s,size=%d,%s' % (
                self.swapfile, a.swap_size, self.store_opts()),
                '-device', 'virtio-vswap-pci,id=vswap0,store=vs0']
        mem = a.zram_fit_mem if self.setup == 'zram-fit' else a.mem
        return base_cmd(a, self.initrd, self.qmp_sock, append, mem) + dev

    def store_opts(self):
        """The disk store's options: --disk-store-opts, plus a dictionary."""
        opts = self.args.disk_store_opts
        return opts + ',dict=auto' if self.setup == 'vswap-dict' else opts

    def rbd(self, *args):
        subprocess.run(['rbd', '-c', self.args.rbd_conf] + list(args),
                       check=True, stdout=subprocess.DEVNULL)

    def rbd_devices(self, append):
        """The swap device's storage on a fresh RBD image (--rbd-conf)."""
        a = self.args
        self.rbd_image = '%s/bench-%s-%s-%d-%d' % (
            a.rbd_pool, self.setup, self.workload, self.rep, os.getpid())
        pool, image = self.rbd_image.split('/')
        node = 'driver=rbd,pool=%s,image=%s,conf=%s' % (pool, image,
                                                         a.rbd_conf)
        if self.setup in DISK_STORES:
            # Sized as blk's disk, and set as the user guide says: librbd's
            # cache off, and a client (scripts/ceph-cluster.sh) whose
            # writes librbd sends without a copy.
            self.rbd('create', self.rbd_image, '--size',
                     '%dM' % (a.swap_size >> 20))
            return ['-blockdev', node + ',user=vswap,cache.direct=on,'
                    'node-name=store0,discard=unmap',
                    '-object', 'vswap-store,id=vs0,file=store0,size=%d,%s' % (
                        a.swap_size, self.store_opts()),
                    '-device', 'virtio-vswap-pci,id=vswap0,store=vs0']
        self.rbd('create', self.rbd_image, '--size', '%dM' % (a.swap_size >> 20))
        append.append('vswap.swapdev=/dev/vda')
        return ['-blockdev', node + ',node-name=swapfile',
                '-blockdev', 'driver=raw,file=swapfile,node-name=swap0',
                '-device', 'virtio-blk-pci,id=vblk0,drive=swap0']

    def host_sample(self, pid, label, host):
        s = bl.proc_status(pid)
        s['file_bytes'] = bl.allocated(self.swapfile) if self.swapfile else 0
        s['t'] = round(time.monotonic(), 1)
        s['label'] = label
        if self.setup.startswith('vswap'):
            st = host.sample(label)
            if st:
                s['vswap'] = {k: st.get(k) for k in (
                    'pages-fill', 'pages-mem', 'pages-disk', 'mem-bytes',
                    'disk-file-bytes', 'payload-bytes', 'compression-ratio',
                    'disk-groups', 'disk-group-pages', 'disk-group-splits')}
        self.samples.append(s)
        return s

    def run(self):
        a = self.args
        cmd = self.cmd()
        with open(os.path.join(self.dir, 'qemu.cmd'), 'w') as f:
            f.write(' '.join(cmd) + '\n')
        t0 = time.monotonic()
        serial = bl.rg.Serial(self.log_path, a.verbose)
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.samples = []
        try:
            serial.follow(proc)
            host = bl.rg.Host(self.qmp_sock)
            host.available = None if self.setup.startswith('vswap') else False
            host.connect()
            if not host.conn:
                raise bl.BenchError('no QMP')
            next_sample = 0
            while not serial.done.is_set() and proc.poll() is None:
                if time.monotonic() - t0 > a.timeout:
                    raise bl.BenchError('timeout after %.0f s' % a.timeout)
                try:
                    # The guest waits after VSWAP-SYNC for this sample.
                    self.host_sample(proc.pid, serial.syncs.get(timeout=0.5),
                                     host)
                    continue
                except queue.Empty:
                    pass
                if time.monotonic() >= next_sample:
                    self.host_sample(proc.pid, 'running', host)
                    next_sample = time.monotonic() + a.sample
                if host.status() in ('shutdown', 'guest-panicked'):
                    break
            bl.wait_for(lambda: host.status() in ('shutdown', None), 30)
            self.host_sample(proc.pid, 'end', host)
            bl.rg.quit_qemu(proc, host)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            serial.close()
            if self.swapfile and os.path.exists(self.swapfile):
                os.unlink(self.swapfile)
            if self.rbd_image:
                self.rbd('rm', '--no-progress', self.rbd_image)
        self.result['run_s'] = round(time.monotonic() - t0, 1)
        self.collect(serial)
        return self.result

    def collect(self, serial):
        """Check the run and turn its console and samples into figures."""
        r = self.result
        if not serial.find('VSWAP-GUEST-DONE'):
            raise bl.BenchError('guest did not finish; see %s' % self.log_path)
        fail = serial.grep(r'^VSWAP-GUEST-FAIL')
        if fail:
            raise bl.BenchError('guest: %s' % fail[-1])
        for oops in ('BUG:', 'Oops', 'Kernel panic', 'I/O error',
                     'blocked for more'):
            hits = serial.grep(oops)
            if hits:
                raise bl.BenchError('guest console: %s' % hits[0])
        if self.workload == 'checker':
            chk = serial.find('CHECKER')
            if not chk or chk.get('mismatches') != '0' or \
                    chk.get('result') != 'PASS':
                raise bl.BenchError('checker: %s' % chk)
            r['work_s'] = float(chk['seconds'])
            lat = next((bl.rg.kv(ln) for ln in serial.lines
                        if ln.startswith('CHECKER-LAT phase=verify1')), {})
            for k in ('mean_us', 'p50_us', 'p99_us', 'slow_mean_us'):
                r['lat_' + k] = float(lat[k]) if k in lat else None
            r['lat_slow'] = int(lat.get('slow', 0))
        else:
            srt = serial.find('SORT')
            if srt and srt.get('rc') == '137' and serial.grep(
                    r'Out of memory: Killed process \d+ \(sort\)'):
                # A result of the set-up, not of the bench.
                r['outcome'] = 'oom-killed'
                return
            if not srt or srt.get('rc') != '0':
                raise bl.BenchError('sort: %s' % srt)
            if srt.get('md5') != self.args.expected_md5[self.rep]:
                raise bl.BenchError('sort output md5 %s, expected %s' % (
                    srt.get('md5'), self.args.expected_md5[self.rep]))
            r['work_s'] = float(srt['seconds'])
            r['sort_s'] = float(srt['sort_seconds'])
        before = serial.find('VSWAP-VMSTAT', 'before') or {}
        after = serial.find('VSWAP-VMSTAT', 'after') or {}
        for k in ('pswpin', 'pswpout', 'pgmajfault', 'zswpin', 'zswpout'):
            r[k] = bl.rg.num(after, k, 0) - bl.rg.num(before, k, 0)
        cb = serial.find('VSWAP-CPU', 'before') or {}
        ca = serial.find('VSWAP-CPU', 'after') or {}
        busy = ('user', 'nice', 'system', 'irq', 'softirq')
        r['guest_cpu_s'] = sum(bl.rg.num(ca, k, 0) - bl.rg.num(cb, k, 0)
                               for k in busy) / GUEST_HZ
        mem = [bl.rg.kv(ln) for ln in serial.lines
               if ln.startswith('VSWAP-GUESTMEM ')]
        r['swap_peak_bytes'] = max((bl.rg.num(m, 'swap_used_kb', 0)
                                    for m in mem), default=0) << 10
        samples = [s for s in self.samples if 'VmRSS' in s]
        r['qemu_hwm_bytes'] = max((s.get('VmHWM', 0) for s in samples),
                                  default=None)
        r['file_peak_bytes'] = max((s['file_bytes'] for s in self.samples),
                                   default=0)
        r['footprint_peak_bytes'] = max((s['VmRSS'] + s['file_bytes']
                                         for s in samples), default=None)
        r['qemu_write_bytes'] = max((s.get('write_bytes', 0)
                                     for s in samples), default=0)
        r['qemu_cpu_s'] = max((s.get('cpu_s', 0) for s in samples), default=0)
        # Compression ratios when the most was stored (the workload has
        # freed its pages by the time it ends), each as its own kind
        # counts it.
        r['ratio'] = None
        if self.setup.startswith('vswap'):
            vs = [s['vswap'] for s in self.samples if s.get('vswap')]
            st = max(vs, key=lambda v: v.get('payload-bytes') or 0,
                     default={})
            r['ratio'] = st.get('compression-ratio')
            r['store_payload_peak_bytes'] = st.get('payload-bytes')
        elif self.setup in ('zram', 'zram-fit'):
            # orig_data_size / mem_used_total: allocator overhead included.
            z = max(mem, key=lambda m: bl.rg.num(m, 'zram_orig', 0),
                    default={})
            if bl.rg.num(z, 'zram_used'):
                r['ratio'] = bl.rg.num(z, 'zram_orig') / bl.rg.num(z, 'zram_used')
            r['zram_peak'] = z
            r['guest_swap_ram_bytes'] = max((bl.rg.num(m, 'zram_used', 0)
                                             for m in mem), default=0)
        elif self.setup == 'zswap':
            # Zswapped / Zswap of /proc/meminfo: pool pages included.
            z = max(mem, key=lambda m: bl.rg.num(m, 'zswapped_kb', 0),
                    default={})
            if bl.rg.num(z, 'zswap_kb'):
                r['ratio'] = bl.rg.num(z, 'zswapped_kb') / bl.rg.num(z, 'zswap_kb')
            r['zswap_after'] = serial.find('VSWAP-ZSWAP', 'after')
            r['guest_swap_ram_bytes'] = max((bl.rg.num(m, 'zswap_kb', 0)
                                             for m in mem), default=0) << 10
        r['samples'] = self.samples


# Figures reported, as (key, label, better); ratios are taken to blk.
METRICS = [
    ('work_s', 'workload time', 'lower'),
    ('guest_cpu_s', 'guest CPU', 'lower'),
    ('qemu_cpu_s', 'QEMU CPU (host)', 'lower'),
    ('lat_mean_us', 'first read, mean (checker)', 'lower'),
    ('lat_slow_mean_us', 'slow first reads, mean (checker)', 'lower'),
    ('pgmajfault', 'major faults', 'lower'),
    ('pswpin', 'pages swapped in (pswpin)', 'lower'),
    ('qemu_hwm_bytes', 'QEMU VmHWM', 'lower'),
    ('file_peak_bytes', 'swap file allocated, peak', 'lower'),
    ('swap_cost_per_gib', 'host memory+disk per swapped GiB', 'lower'),
    ('qemu_write_bytes', 'host disk writes', 'lower'),
    ('guest_swap_ram_bytes', 'guest RAM holding swap (zram, zswap), peak',
     'lower'),
    ('ratio', 'compression ratio', 'higher'),
]


def add_swap_cost(results):
    """Host memory and disk that the swap costs, per swapped GiB.

    QEMU's peak RSS above blk's in the same repetition (blk keeps no swap
    in QEMU's memory, so its RSS is the guest's RAM plus QEMU itself),
    plus the swap file's peak allocation, divided by the guest's peak
    swap use."""
    base = {(r['workload'], r['rep']): r for r in results if r['setup'] == 'blk'}
    for r in results:
        if r.get('outcome'):
            continue
        b = base.get((r['workload'], r['rep']))
        if not b or not r.get('swap_peak_bytes') or r.get('qemu_hwm_bytes') is None:
            continue
        extra = max(0, r['qemu_hwm_bytes'] - b['qemu_hwm_bytes'])
        r['swap_cost_bytes'] = extra + r['file_peak_bytes']
        r['swap_cost_per_gib'] = r['swap_cost_bytes'] / (
            r['swap_peak_bytes'] / (1 << 30))


def summarise(args, results):
    """Medians of absolute figures and of per-repetition ratios to blk."""
    out = {}
    for w in args.workloads:
        rows = {}
        for s in args.setups:
            every = [r for r in results if r['setup'] == s and r['workload'] == w]
            runs = [r for r in every if not r.get('outcome')]
            absolute = {k: bl.median([r.get(k) for r in runs])
                        for k, _, _ in METRICS}
            ratios = {}
            for k, _, _ in METRICS:
                rs = []
                for r in runs:
                    b = next((x for x in results if x['setup'] == 'blk' and
                              x['workload'] == w and x['rep'] == r['rep']), None)
                    if b and not b.get('outcome') and r.get(k) is not None \
                            and b.get(k):
                        rs.append(r[k] / b[k])
                ratios[k] = bl.median(rs)
            rows[s] = {'runs': len(runs), 'abs': absolute, 'ratio': ratios,
                       'oom': sum(r.get('outcome') == 'oom-killed'
                                  for r in every),
                       'swap_peak': bl.median([r.get('swap_peak_bytes')
                                               for r in runs])}
        out[w] = rows
    return out


def fmt_abs(key, v):
    if v is None:
        return '-'
    if key.endswith('_bytes'):
        return '%.0f MB' % (v / 1e6)
    if key == 'swap_cost_per_gib':
        return '%.2f GiB' % (v / (1 << 30))
    if key in ('pgmajfault', 'pswpin'):
        return '%.0f' % v
    if key.endswith('_us'):
        return '%.0f µs' % v
    if key == 'ratio':
        return '%.2f' % v
    return '%.1f s' % v


def render(args, summary):
    lines = []
    for w, rows in summary.items():
        lines.append('### %s' % w)
        lines.append('')
        header = ['figure'] + ['%s (%d%s)' % (
            s, rows[s]['runs'], ', %d OOM-killed' % rows[s]['oom']
            if rows[s]['oom'] else '') for s in rows]
        body = [['swap used, peak'] + [fmt_abs('x_bytes', rows[s]['swap_peak'])
                                       for s in rows]]
        for k, label, _ in METRICS:
            if w != 'checker' and k.startswith('lat_'):
                continue
            body.append([label] + ['%s (%s)' % (
                fmt_abs(k, rows[s]['abs'][k]),
                bl.fmt(rows[s]['ratio'][k], 'x%.2f')) for s in rows])
        lines.append(bl.table(header, body))
        lines.append('')
    return '\n'.join(lines)


def plot(args, summary, stamp):
    """Bar charts of the ratios to blk, one PNG per workload."""
    if not args.plots:
        return []
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    os.makedirs(args.plots, exist_ok=True)
    paths = []
    for w, rows in summary.items():
        keys = [(k, label) for k, label, _ in METRICS
                if not (w != 'checker' and k.startswith('lat_'))
                and k not in ('file_peak_bytes', 'pgmajfault', 'pswpin',
                              'ratio', 'guest_swap_ram_bytes')]
        setups = [s for s in rows if s != 'blk']
        fig, ax = plt.subplots(figsize=(11, 5))
        width = 0.8 / max(1, len(setups))
        for i, s in enumerate(setups):
            vals = [rows[s]['ratio'][k] or 0 for k, _ in keys]
            xs = [j + i * width for j in range(len(keys))]
            bars = ax.bar(xs, vals, width, label=s)
            ax.bar_label(bars, fmt='%.2f', fontsize=6)
        ax.axhline(1.0, color='black', linewidth=0.8)
        ax.set_xticks([j + width * (len(setups) - 1) / 2
                       for j in range(len(keys))])
        ax.set_xticklabels([label for _, label in keys], rotation=30,
                           ha='right', fontsize=8)
        ax.set_ylabel('ratio to blk (median of %d reps)' % args.reps)
        ax.set_title('guest-bench, %s workload, %d MiB guest (%s)' % (
            w, args.mem >> 20, stamp))
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = os.path.join(args.plots, 'guest-bench-%s.png' % w)
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    # What the host holds for each set-up: QEMU's peak RSS and the swap
    # file's peak allocation, medians, side by side per workload.
    fig, axes = plt.subplots(1, len(summary), figsize=(5.5 * len(summary), 4.5),
                             squeeze=False)
    for ax, (w, rows) in zip(axes[0], summary.items()):
        names = list(rows)
        hwm = [(rows[s]['abs']['qemu_hwm_bytes'] or 0) / 1e6 for s in names]
        disk = [(rows[s]['abs']['file_peak_bytes'] or 0) / 1e6 for s in names]
        ax.bar(names, hwm, label='QEMU VmHWM')
        ax.bar(names, disk, bottom=hwm, label='swap file allocated (peak)')
        ax.set_ylabel('MB (median)')
        ax.set_title('%s: host memory + disk' % w)
        ax.tick_params(axis='x', labelrotation=30, labelsize=8)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(args.plots, 'guest-bench-host.png')
    fig.savefig(path, dpi=90)
    plt.close(fig)
    paths.append(path)
    return paths


def expected_md5(args):
    """What the guest's sort must print, from the host's own sort."""
    gen = os.path.join(bl.TOP, 'build/guest/genlines')
    out = {}
    for rep in range(1, args.reps + 1):
        p = subprocess.run('%s %d %d | LC_ALL=C sort -S 256M | md5sum' % (
            gen, args.sort_input, rep), shell=True, check=True,
            stdout=subprocess.PIPE, text=True)
        out[rep] = p.stdout.split()[0]
    return out


def main():
    args = parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    initrd = bl.build_initramfs(args.kver, args.corpus)
    stamp = time.strftime('%Y-%m-%d %H:%M')
    meta = {'machine': bl.machine(), 'qemu': args.qemu, 'accel': args.accel,
            'mem': args.mem, 'zram_fit_mem': args.zram_fit_mem,
            'smp': args.smp, 'checker': args.checker,
            'sort_input': args.sort_input, 'sort_buffer': args.sort_buffer,
            'swap_size': args.swap_size, 'reps': args.reps,
            'disk_store_opts': args.disk_store_opts,
            'rbd': ('pool %s of %s' % (args.rbd_pool, args.rbd_conf)
                    if args.rbd_conf else None),
            'load_start': bl.loadavg(), 'command': ' '.join(sys.argv),
            'started': stamp}
    bl.log('machine: %s; load %s' % (meta['machine'], meta['load_start']))
    if 'sort' in args.workloads:
        args.expected_md5 = expected_md5(args)
    zram_alg = args.zram_alg
    if {'zram', 'zram-fit'} & set(args.setups) and zram_alg == 'auto':
        zram_alg, meta['zram_algs'] = pick_zram_alg(args, initrd)
        bl.log('zram: %s picked from %s' % (zram_alg, meta['zram_algs']))
    meta['zram_alg'] = zram_alg
    results, failures = [], []
    for rep in range(1, args.reps + 1):
        for w in args.workloads:
            # Set-ups back to back, so each ratio to blk sees similar load.
            for s in args.setups:
                run = GuestRun(args, s, w, rep, initrd, zram_alg)
                bl.log('%s/%s rep %d: start (load %s)' % (s, w, rep,
                                                          bl.loadavg()))
                try:
                    res = run.run()
                except (bl.BenchError, bl.qmp.QMPError, OSError) as err:
                    bl.log('%s/%s rep %d: FAILED: %s' % (s, w, rep, err))
                    failures.append({'setup': s, 'workload': w, 'rep': rep,
                                     'error': str(err), 'dir': run.dir})
                    continue
                res['load'] = bl.loadavg()
                results.append(res)
                if res.get('outcome'):
                    bl.log('%s/%s rep %d: %s' % (s, w, rep, res['outcome']))
                    continue
                bl.log('%s/%s rep %d: %.1f s workload, %.0f s run, swap peak'
                       ' %d MiB, ratio %s' % (
                           s, w, rep, res['work_s'], res['run_s'],
                           res['swap_peak_bytes'] >> 20,
                           bl.fmt(res.get('ratio'))))
    meta['load_end'] = bl.loadavg()
    add_swap_cost(results)
    summary = summarise(args, results)
    path = os.path.join(args.outdir, 'guest-bench-%s.json'
                        % time.strftime('%Y%m%d-%H%M%S'))
    with open(path, 'w') as f:
        json.dump({'meta': meta, 'summary': summary, 'runs': results,
                   'failures': failures}, f, indent=1)
    plots = plot(args, summary, stamp)
    print('# guest-bench: %s; load %s -> %s; %s' % (
        meta['machine'], meta['load_start'], meta['load_end'], path))
    print('# %d reps, %d MiB guest (zram-fit: %d MiB), smp %d, %s; checker'
          ' %d MiB; sort %d MiB input, -S %d MiB; zram %s; vswap-disk %s' % (
              args.reps, args.mem >> 20, args.zram_fit_mem >> 20, args.smp,
              args.accel, args.checker >> 20, args.sort_input >> 20,
              args.sort_buffer >> 20, zram_alg, args.disk_store_opts))
    if meta['rbd']:
        print('# blk, zswap and vswap-disk storage on RBD: %s' % meta['rbd'])
    print('# each cell: median (median of per-repetition ratios to blk)')
    print(render(args, summary))
    for p in plots:
        print('# plot: %s' % os.path.relpath(p, bl.TOP))
    if failures:
        print('guest-bench: %d run(s) FAILED: %s' % (len(failures), '; '.join(
            '%s/%s/%d: %s' % (f['setup'], f['workload'], f['rep'], f['error'])
            for f in failures)), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
