#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot the vswap test guest and check what it reports.

Builds (or reuses) the initramfs of tests/guest/build-initramfs.sh, boots
build/qemu/qemu-system-x86_64 with a virtio-vswap-pci device, captures the
serial console, enforces a timeout and parses the lines the guest's /init
prints ("VSWAP-..." and "CHECKER ...").  Over QMP it samples query-vswap
while the guest runs and once more after the guest powers off (QEMU runs
with -no-shutdown, so the device is still there); if the command does not
exist, host checks are skipped.

Modes:
  full   (default) mkswap + swapon /dev/vswap0, the checker fills
         --checker bytes (more than guest RAM), swapoff.  Passes when the
         checker finds no mismatch, pswpout covers at least guest RAM,
         the driver saw no I/O error, and the host (if query-vswap exists)
         reports no error and holds no more than the swap header plus the
         dropped free notifications once the guest did swapoff.
  smoke  load the driver, check /dev/vswap0 and its size, one page of I/O
         and one block-layer discard (informational).
  pm     suspend to idle with swap on /dev/vswap0 (the driver must refuse:
         a reset would drop the slots) and off (must work), then I/O.

Prints "GUEST-TEST result=PASS|FAIL ..." last, writes the serial log and a
JSON result next to it (build/guest/logs/), exits 0 on PASS.

Environment: VSWAP_ACCEL (default tcg), VSWAP_QEMU (the QEMU binary).
"""
import argparse
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, 'scripts'))
import qmp  # noqa: E402  (scripts/qmp.py)

PAGE = 4096


MIB = 1 << 20


def demo_header():
    print('%6s | %-24s | %-40s | %s' % ('time', 'guest view', 'host view',
                                          'ratio'))
    print('%6s | %11s %12s | %8s %8s %8s %13s | %5s' % (
        '', 'swap used', 'mem avail', 'fill pg', 'mem pg', 'disk pg',
        'mem / file', ''))


def demo_line(t, guestmem, st):
    """One row: the guest's swap use beside what the host holds for it."""
    used = int(guestmem.get('swap_used_kb', 0)) * 1024
    avail = int(guestmem.get('mem_avail_kb', 0)) * 1024
    print('%5.0fs | %8.0f MiB %8.0f MiB | %8d %8d %8d %5.0f/%4.0f MiB | %5.2f' % (
        t, used / MIB, avail / MIB, st.get('pages-fill', 0),
        st.get('pages-mem', 0), st.get('pages-disk', 0),
        st.get('mem-bytes', 0) / MIB, st.get('disk-file-bytes', 0) / MIB,
        st.get('compression-ratio', 0)), flush=True)


def default_kver():
    """The newest Debian 6.1 kernel installed (linux-image-amd64)."""
    vers = [v for v in os.listdir('/lib/modules')
            if re.fullmatch(r'6\.1\.\d+-\d+-amd64', v)]
    vers.sort(key=lambda v: [int(x) for x in re.findall(r'\d+', v)])
    return vers[-1] if vers else '6.1.0-0-amd64'


def parse_size(text):
    """'640M' -> bytes."""
    m = re.fullmatch(r'(\d+)([KMG]?)', text.strip(), re.I)
    if not m:
        raise argparse.ArgumentTypeError('bad size %r' % text)
    return int(m.group(1)) << {'': 0, 'K': 10, 'M': 20, 'G': 30}[m.group(2).upper()]


def kv(line):
    """'X a=1 b=c' -> {'a': '1', 'b': 'c'} (values as strings)."""
    return dict(tok.split('=', 1) for tok in line.split() if '=' in tok)


def num(d, key, default=None):
    try:
        return int(d[key])
    except (KeyError, ValueError):
        return default


class Serial(threading.Thread):
    """Copy QEMU's stdout (the serial console) to the log; remember lines."""

    def __init__(self, proc, log_path, echo):
        super().__init__(daemon=True)
        self.proc = proc
        self.log = open(log_path, 'w', encoding='utf-8', errors='replace')
        self.echo = echo
        self.lines = []
        self.done = threading.Event()     # VSWAP-GUEST-DONE seen
        self.syncs = queue.Queue()        # labels of VSWAP-SYNC lines
        self.lock = threading.Lock()
        self.guestmem = {}                # last VSWAP-GUESTMEM line

    def run(self):
        for raw in self.proc.stdout:
            line = raw.decode('utf-8', 'replace').rstrip('\r\n')
            # Strip terminal escapes SeaBIOS and the kernel emit.
            line = re.sub(r'\x1b\[[0-9;?]*[A-Za-z]|\x1bc', '', line)
            self.log.write(line + '\n')
            self.log.flush()
            if self.echo:
                print(line, flush=True)
            with self.lock:
                self.lines.append(line)
            if line.startswith('VSWAP-SYNC '):
                self.syncs.put(kv(line).get('when', '?'))
            if line.startswith('VSWAP-GUEST-DONE'):
                self.done.set()
            if line.startswith('VSWAP-GUESTMEM '):
                self.guestmem = kv(line)
        self.log.close()

    def find(self, prefix, when=None):
        """The last line starting with PREFIX (and when=WHEN), as a dict."""
        with self.lock:
            for line in reversed(self.lines):
                if not line.startswith(prefix + ' '):
                    continue
                d = kv(line)
                if when is None or d.get('when') == when:
                    return d
        return None

    def grep(self, pattern):
        with self.lock:
            return [ln for ln in self.lines if re.search(pattern, ln)]


class Host:
    """QMP access that tolerates a QEMU without query-vswap."""

    def __init__(self, sock):
        self.sock = sock
        self.conn = None
        self.available = None      # query-vswap exists?
        self.samples = []

    def connect(self):
        try:
            self.conn = qmp.QMP(self.sock, timeout=30)
        except (OSError, EOFError, qmp.QMPError) as err:
            print('run-guest: no QMP: %s' % err, file=sys.stderr)

    def cmd(self, name, **args):
        if not self.conn:
            return None
        try:
            return self.conn.cmd(name, **args)
        except (OSError, EOFError, ValueError):
            self.conn = None
            return None

    def sample(self, label):
        """query-vswap into self.samples; None if unavailable."""
        if self.available is False or not self.conn:
            return None
        try:
            ret = self.conn.cmd('query-vswap')
        except qmp.QMPError as err:
            if self.available is None:
                print('run-guest: query-vswap unavailable (%s); host checks'
                      ' skipped' % err, file=sys.stderr)
            self.available = False
            return None
        except (OSError, EOFError, ValueError):
            self.conn = None
            return None
        self.available = True
        dev = ret[0] if isinstance(ret, list) and ret else ret
        self.samples.append({'t': round(time.monotonic(), 1), 'label': label,
                             'stats': dev})
        return dev

    def last(self, label):
        """The last sample taken with LABEL."""
        for s in reversed(self.samples):
            if s['label'] == label:
                return s['stats']
        return None

    def status(self):
        ret = self.cmd('query-status')
        return ret.get('status') if ret else None


def host_pages(dev):
    """Pages the host store holds, over all tiers."""
    return sum(dev.get(k, 0) for k in ('pages-mem', 'pages-disk', 'pages-fill'))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--mode', choices=('full', 'smoke', 'pm'), default='full')
    ap.add_argument('--accel', default=os.environ.get('VSWAP_ACCEL', 'tcg'))
    ap.add_argument('--qemu', default=os.environ.get(
        'VSWAP_QEMU', os.path.join(TOP, 'build/qemu/qemu-system-x86_64')))
    ap.add_argument('--kver', default=default_kver(),
                    help='guest kernel release: its modules and headers'
                    ' build the initramfs (default: the newest 6.1 kernel'
                    ' installed, %(default)s)')
    ap.add_argument('--kernel', help='default /boot/vmlinuz-KVER')
    ap.add_argument('--initrd', help='use this initramfs instead of building')
    ap.add_argument('--debug-module', action='store_true',
                    help='build the driver with VSWAP_DEBUG (debug_* params)')
    ap.add_argument('--corpus', default=os.environ.get(
        'VSWAP_CORPUS', os.path.join(TOP, '..', 'shared', 'corpus',
                                     'python-heap.pages')),
        help='corpus file for the checker, or "none"')
    ap.add_argument('--mem', default='256M', type=parse_size)
    ap.add_argument('--smp', default=2, type=int)
    ap.add_argument('--checker', default='640M', type=parse_size,
                    help='memory the checker fills (default 640M)')
    ap.add_argument('--seed', default=1, type=int)
    ap.add_argument('--capacity', type=int, default=262144,
                    help='device slots (default 262144 = 1 GiB)')
    ap.add_argument('--num-queues', type=int, default=None)
    ap.add_argument('--store-opts', default=None,
                    help='use a disk-backed -object vswap-store with these'
                         ' options, e.g. "mem-budget=16M,segment-size=1M";'
                         ' the store file goes in the log directory')
    ap.add_argument('--compact-during', action='store_true',
                    help='ask for vswap-compact while the checker swaps and'
                         ' require the pass to finish')
    ap.add_argument('--demo', action='store_true',
                    help='print the guest\'s and the host\'s view side by'
                         ' side at every sample')
    ap.add_argument('--device-opts', default='',
                    help='extra virtio-vswap-pci options, e.g. max-batch=64')
    ap.add_argument('--modparams', default='',
                    help='driver parameters, e.g. "max_batch=64 free_notify=0"')
    ap.add_argument('--append', default='', help='extra kernel arguments')
    ap.add_argument('--timeout', type=float, default=1800)
    ap.add_argument('--sample', type=float, default=15,
                    help='seconds between query-vswap samples')
    ap.add_argument('--logdir', default=os.path.join(TOP, 'build/guest/logs'))
    ap.add_argument('--verbose', '-v', action='store_true',
                    help='echo the serial console')
    args = ap.parse_args()

    args.kernel = args.kernel or '/boot/vmlinuz-' + args.kver
    os.makedirs(args.logdir, exist_ok=True)
    stamp = time.strftime('%Y%m%d-%H%M%S')
    base = os.path.join(args.logdir, 'guest-%s-%s' % (args.mode, stamp))
    log_path, json_path = base + '.log', base + '.json'
    sock = os.path.join(args.logdir, 'qmp-%d.sock' % os.getpid())

    initrd = args.initrd
    if not initrd:
        build = [os.path.join(TOP, 'tests/guest/build-initramfs.sh'),
                 '--kver', args.kver, '--corpus', args.corpus]
        if args.debug_module:
            build.append('--debug')
        initrd = subprocess.run(build, check=True, stdout=subprocess.PIPE,
                                text=True).stdout.strip()

    append = ['console=ttyS0', 'loglevel=4', 'panic=-1', 'zswap.enabled=0',
              'vswap.mode=%s' % args.mode,
              'vswap.checker=%dK' % (args.checker >> 10),
              'vswap.seed=%d' % args.seed]
    append += ['virtio_vswap.' + p for p in args.modparams.split()]
    if args.append:
        append.append(args.append)
    store_path = None
    objects = []
    if args.store_opts is not None:
        store_path = os.path.join(args.logdir, 'store-%d.vswap' % os.getpid())
        objects = ['-object', 'vswap-store,id=vs0,path=%s,size=%d%s' % (
            store_path, args.capacity * PAGE,
            ',' + args.store_opts if args.store_opts else '')]
        dev = 'virtio-vswap-pci,id=vswap0,store=vs0'
    else:
        dev = 'virtio-vswap-pci,id=vswap0,capacity=%d' % args.capacity
    if args.num_queues:
        dev += ',num-queues=%d' % args.num_queues
    if args.device_opts:
        dev += ',' + args.device_opts
    cmd = [args.qemu,
           '-machine', 'q35,accel=%s' % args.accel,
           '-m', '%dM' % (args.mem >> 20), '-smp', str(args.smp),
           '-kernel', args.kernel, '-initrd', initrd,
           '-append', ' '.join(append),
           '-nographic', '-nodefaults', '-serial', 'stdio',
           '-no-reboot', '-no-shutdown',
           ] + objects + [
           '-device', dev,
           '-qmp', 'unix:%s,server=on,wait=off' % sock]
    print('run-guest: %s' % ' '.join(cmd), file=sys.stderr)
    print('run-guest: serial log %s' % log_path, file=sys.stderr)

    t0 = time.monotonic()
    if args.demo:
        demo_header()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    serial = Serial(proc, log_path, args.verbose)
    serial.start()
    host = Host(sock)
    host.connect()
    host.sample('boot')

    timed_out = False
    compact_asked = False
    next_sample = time.monotonic() + args.sample
    while not serial.done.is_set() and proc.poll() is None:
        if time.monotonic() - t0 > args.timeout:
            timed_out = True
            break
        try:
            # The guest pauses after VSWAP-SYNC for us to sample.
            host.sample(serial.syncs.get(timeout=1))
            continue
        except queue.Empty:
            pass
        if time.monotonic() >= next_sample:
            st = host.sample('running')
            next_sample = time.monotonic() + args.sample
            if args.demo and st:
                demo_line(time.monotonic() - t0, serial.guestmem, st)
            # Compact live once the guest's pages have reached the disk.
            if (args.compact_during and not compact_asked and st and
                    st.get('pages-disk', 0) > 0):
                host.cmd('vswap-compact', full=True)
                compact_asked = True
                print('run-guest: vswap-compact while swapping',
                      file=sys.stdout if args.demo else sys.stderr)
        if args.mode == 'pm' and host.status() == 'suspended':
            print('run-guest: guest suspended; system_wakeup', file=sys.stderr)
            time.sleep(1)
            host.cmd('system_wakeup')
    guest_seconds = time.monotonic() - t0

    # The guest powers off; with -no-shutdown QEMU stays to be asked.
    deadline = time.monotonic() + 30
    while (not timed_out and proc.poll() is None and
           host.status() not in ('shutdown', None) and
           time.monotonic() < deadline):
        time.sleep(0.2)
    final = host.sample('end')
    host.cmd('quit')
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    serial.join(timeout=5)
    if os.path.exists(sock):
        os.unlink(sock)
    if store_path and os.path.exists(store_path):
        os.unlink(store_path)

    # --- verdict ---
    checks = []

    def check(name, ok, detail=''):
        checks.append({'check': name, 'ok': bool(ok), 'detail': detail})

    check('no timeout', not timed_out, '%.0f s' % guest_seconds)
    fail = serial.grep(r'^VSWAP-GUEST-FAIL')
    check('guest steps', not fail, fail[-1] if fail else '')
    devline = serial.find('VSWAP-DEVICE')
    want_bytes = args.capacity * PAGE
    check('/dev/vswap0 size', devline and num(devline, 'bytes') == want_bytes,
          '%s bytes, want %d' % (devline and devline.get('bytes'), want_bytes))
    done = serial.find('VSWAP-GUEST-DONE')
    check('guest finished', done is not None, str(done))
    for oops in ('BUG:', 'WARNING:', 'Oops', 'Kernel panic', 'blocked for more'):
        hits = serial.grep(re.escape(oops))
        check('no "%s"' % oops, not hits, hits[0] if hits else '')

    result = {'mode': args.mode, 'accel': args.accel, 'seconds':
              round(guest_seconds, 1), 'log': log_path, 'device': devline}
    if args.mode == 'smoke':
        smoke = serial.find('VSWAP-SMOKE') or {}
        result['smoke'] = smoke
        print('run-guest: one page of I/O: %s, discard: %s' % (
            smoke.get('io'), smoke.get('discard')), file=sys.stderr)
    elif args.mode == 'pm':
        pm = serial.find('VSWAP-PM') or {}
        result['pm'] = pm
        check('suspend refused while swap is on', pm.get('in_use') == 'refused',
              str(pm.get('in_use')))
        check('suspend works with swap off', pm.get('idle') == 'ok',
              str(pm.get('idle')))
        check('I/O after resume', pm.get('io_after') == 'ok',
              str(pm.get('io_after')))
    else:
        chk = serial.find('CHECKER')
        before = serial.find('VSWAP-VMSTAT', 'before') or {}
        after = serial.find('VSWAP-VMSTAT', 'after') or {}
        st_after = serial.find('VSWAP-STATS', 'after') or {}
        st_off = serial.find('VSWAP-STATS', 'swapoff') or {}
        pswpout = num(after, 'pswpout', 0) - num(before, 'pswpout', 0)
        pswpin = num(after, 'pswpin', 0) - num(before, 'pswpin', 0)
        ram_pages = args.mem // PAGE
        check('checker ran', chk is not None, str(chk))
        check('checker: no mismatch', chk and num(chk, 'mismatches') == 0
              and chk.get('result') == 'PASS',
              chk and 'mismatches=%s' % chk.get('mismatches'))
        check('pswpout >= guest RAM', pswpout >= ram_pages,
              '%d pages, RAM %d pages' % (pswpout, ram_pages))
        check('driver: no I/O error', num(st_off or st_after, 'io_errors') == 0,
              'io_errors=%s' % (st_off or st_after).get('io_errors'))
        result.update({'checker': chk, 'pswpout': pswpout, 'pswpin': pswpin,
                       'driver_after': st_after, 'driver_swapoff': st_off})
        at_swapoff = host.last('swapoff')
        if host.available and final:
            errs = {k: final.get(k, 0) for k in
                    ('checksum-errors', 'malformed-requests', 'writeback-errors')}
            for k in ('read', 'write', 'discard'):
                errs[k + '.errors'] = final.get(k, {}).get('errors', 0)
            check('host: no errors', not any(errs.values()), str(errs))
            # After swapoff only the swap header (slot 0) stays stored,
            # plus slots whose free notification the driver dropped.
            held = host_pages(at_swapoff) if at_swapoff else None
            allowed = 1 + num(st_off, 'notify_dropped', 0)
            check('host: swapoff released the slots',
                  held is not None and held <= allowed,
                  '%s pages held, at most %d expected' % (held, allowed))
            peak = max((host_pages(s['stats']) for s in host.samples), default=0)
            result['host_peak_pages'] = peak
            if args.store_opts is not None:
                peak_disk = max((s['stats'].get('pages-disk', 0)
                                 for s in host.samples if s.get('stats')),
                                default=0)
                check('host: disk tier used', peak_disk > 0 and
                      final.get('writeback-pages', 0) > 0,
                      'peak %d pages on disk, %d written back' % (
                          peak_disk, final.get('writeback-pages', 0)))
            if args.compact_during:
                events = [e for e in host.conn.events
                          if e.get('event') == 'VSWAP_COMPACT_COMPLETED']
                check('host: compaction while swapping', compact_asked and
                      events and final.get('compactions', 0) >= 1,
                      'asked=%s events=%d compactions=%s' % (
                          compact_asked, len(events), final.get('compactions')))
            result['host_at_swapoff'] = at_swapoff
            result['host_final'] = final
        elif host.available is False:
            check('host stats (query-vswap)', True, 'skipped: not available')

    ok = all(c['ok'] for c in checks)
    result.update({'result': 'PASS' if ok else 'FAIL', 'checks': checks,
                   'host_samples': host.samples})
    with open(json_path, 'w') as f:
        json.dump(result, f, indent=1)

    for c in checks:
        print('run-guest: %-4s %s%s' % ('ok' if c['ok'] else 'FAIL', c['check'],
                                         ' (%s)' % c['detail'] if c['detail'] else ''),
              file=sys.stderr)
    summary = 'GUEST-TEST result=%s mode=%s accel=%s seconds=%.0f' % (
        result['result'], args.mode, args.accel, guest_seconds)
    if args.mode == 'full':
        chk = result.get('checker') or {}
        summary += ' pages=%s mismatches=%s checker_seconds=%s pswpout=%d pswpin=%d' % (
            chk.get('pages'), chk.get('mismatches'), chk.get('seconds'),
            result['pswpout'], result['pswpin'])
        if 'host_peak_pages' in result:
            summary += ' host_peak_pages=%d host_swapoff_pages=%s' % (
                result['host_peak_pages'],
                host_pages(result['host_at_swapoff'])
                if result['host_at_swapoff'] else None)
    summary += ' log=%s' % log_path
    print(summary)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
