#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Live-migrate a swapping guest: vswap against a mirrored virtio-blk swap disk.

The same guest (the test guest of tests/guest: Debian's 6.1 kernel, the
page checker filling 2.5 x RAM) runs twice per repetition, on two swap
devices, and is live-migrated to a second QEMU on this host at the same
point of its workload (once its swap holds --migrate-at):

  vswap  swap on virtio-vswap; the store travels inside the migration
         stream (QEMU started with -incoming on a unix socket, as
         run-guest.py --migrate does).
  blk    swap on virtio-blk over a raw file, moved the way operators move
         a local disk today (docs/interop/live-block-operations.rst, the
         libvirt sequence): the destination starts with -incoming defer
         and -S, serves its own raw file over NBD (nbd-server-start,
         block-export-add writable=true); the source mirrors the swap
         disk there (blockdev-add of an NBD node, blockdev-mirror
         sync=full), waits for BLOCK_JOB_READY, migrates with
         pause-before-switchover, and in the pre-switchover state (guest
         stopped, disk still the source's) ends the mirror with
         block-job-cancel (a READY mirror then completes with the target
         in sync), removes the NBD node and lets the migration finish
         (migrate-continue); the destination stops its NBD server and
         continues (cont).  This is libvirt's sequence.

Bytes on the wire are counted by relays between the QEMUs (one for the
migration stream, one for NBD), so both set-ups are measured by the same
yardstick; query-migrate's own count is reported beside it.  Downtime is
QEMU's (source query-migrate) and the guest's real pause: the source's
STOP event to the destination's RESUME event.  A run fails, and the bench
exits non-zero, if the guest or the migration fails or the checker finds
a mismatch on the destination.

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

SETUPS = ('vswap', 'blk')


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    bl.add_guest_args(ap, 'guest CPUs (default 1: two TCG QEMUs and the'
                      ' relays share a 2-core host)',
                      'memory the checker fills (default 2.5 x --mem)')
    ap.add_argument('--swap-size', type=bl.rg.parse_size, default='1G',
                    help='swap device size, both set-ups (default 1G)')
    ap.add_argument('--migrate-at', type=bl.rg.parse_size, default=None,
                    help='migrate once the guest swap holds this much'
                         ' (default 1.5 x --mem)')
    ap.add_argument('--store-opts', default=None,
                    help='vswap: a -object vswap-store with these options'
                         ' (e.g. mem-budget=16M,segment-size=1M) instead of'
                         ' the device\'s memory-only store')
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--setups', default=','.join(SETUPS),
                    help='comma-separated subset of %s' % ','.join(SETUPS))
    ap.add_argument('--timeout', type=float, default=900,
                    help='seconds per guest run')
    ap.add_argument('--migrate-timeout', type=float, default=300)
    ap.add_argument('--outdir', default=os.path.join(bl.TOP, 'build/bench'))
    ap.add_argument('-v', '--verbose', action='store_true',
                    help='echo the guest console')
    args = ap.parse_args()
    args.checker = args.checker or args.mem * 5 // 2
    args.migrate_at = args.migrate_at or args.mem * 3 // 2
    args.setups = args.setups.split(',')
    for s in args.setups:
        if s not in SETUPS:
            ap.error('unknown set-up %r' % s)
    if not os.path.exists(args.qemu):
        ap.error('no QEMU at %s (--qemu or VSWAP_QEMU)' % args.qemu)
    return args


class Run:
    """One guest, migrated once while it swaps."""

    def __init__(self, args, setup, rep, initrd):
        self.args, self.setup, self.rep, self.initrd = args, setup, rep, initrd
        self.dir = os.path.join(args.outdir, 'mig-%s-%d-%d' % (
            setup, rep, os.getpid()))
        os.makedirs(self.dir, exist_ok=True)
        p = lambda name: os.path.join(self.dir, name)  # noqa: E731
        self.qmp_src, self.qmp_dst = p('qmp-src.sock'), p('qmp-dst.sock')
        self.mig_sock, self.mig_relay_sock = p('mig.sock'), p('mig-relay.sock')
        self.nbd_sock, self.nbd_relay_sock = p('nbd.sock'), p('nbd-relay.sock')
        self.disk_src, self.disk_dst = p('swap-src.raw'), p('swap-dst.raw')
        self.store_src, self.store_dst = p('store-src.vswap'), p('store-dst.vswap')
        self.log_path = p('console.log')
        self.procs = []
        self.relays = []
        self.result = {'setup': setup, 'rep': rep, 'dir': self.dir}

    def qemu_cmd(self, role):
        a = self.args
        # Swap use reported every 0.5 s: both set-ups migrate within
        # about 0.5 s of the guest's swap reaching --migrate-at.
        append = ['console=ttyS0', 'loglevel=4', 'panic=-1', 'zswap.enabled=0',
                  'vswap.mode=full', 'vswap.checker=%dK' % (a.checker >> 10),
                  'vswap.seed=1', 'vswap.monitor=0.5']
        cmd = [a.qemu, '-machine', 'q35,accel=%s' % a.accel,
               '-m', '%dM' % (a.mem >> 20), '-smp', str(a.smp),
               '-kernel', '/boot/vmlinuz-' + a.kver, '-initrd', self.initrd,
               '-nographic', '-nodefaults', '-serial', 'stdio',
               '-no-reboot', '-no-shutdown',
               '-qmp', 'unix:%s,server=on,wait=off' % (
                   self.qmp_src if role == 'src' else self.qmp_dst)]
        if self.setup == 'vswap':
            if a.store_opts is not None:
                store = self.store_src if role == 'src' else self.store_dst
                cmd += ['-object', 'vswap-store,id=vs0,path=%s,size=%d%s' % (
                    store, a.swap_size,
                    ',' + a.store_opts if a.store_opts else ''),
                    '-device', 'virtio-vswap-pci,id=vswap0,store=vs0']
            else:
                cmd += ['-device', 'virtio-vswap-pci,id=vswap0,capacity=%d'
                        % (a.swap_size // bl.PAGE)]
            if role == 'dst':
                cmd += ['-incoming', 'unix:' + self.mig_sock]
        else:
            append.append('vswap.swapdev=/dev/vda')
            disk = self.disk_src if role == 'src' else self.disk_dst
            with open(disk, 'wb') as f:
                f.truncate(a.swap_size)      # sparse, like a fresh volume
            cmd += ['-blockdev', 'driver=file,filename=%s,node-name=swapfile'
                    % disk,
                    '-blockdev', 'driver=raw,file=swapfile,node-name=swap0',
                    '-device', 'virtio-blk-pci,id=vblk0,drive=swap0']
            if role == 'dst':
                # Paused until the mirror has ended: only then is its disk
                # the source's.
                cmd += ['-incoming', 'defer', '-S']
        return cmd + ['-append', ' '.join(append)]

    def spawn(self, role):
        cmd = self.qemu_cmd(role)
        with open(os.path.join(self.dir, 'qemu-%s.cmd' % role), 'w') as f:
            f.write(' '.join(cmd) + '\n')
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def cleanup(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for relay in self.relays:
            relay.close()
        for path in (self.disk_src, self.disk_dst, self.store_src,
                     self.store_dst):
            if os.path.exists(path):
                os.unlink(path)

    # --- the migration of each set-up ---

    def migrate_vswap(self, src, dst):
        """Plain live migration; the store is in the stream."""
        st = src.sample('migrate-start') or {}
        self.result['store_payload_bytes'] = st.get('payload-bytes')
        self.result['store_pages'] = bl.rg.host_pages(st) if st else None
        relay = bl.Relay(self.mig_relay_sock, self.mig_sock)
        self.relays.append(relay)
        src.conn.cmd('migrate-set-parameters', **{'max-bandwidth': 8 << 30})
        src.conn.cmd('migrate', uri='unix:' + self.mig_relay_sock)
        info = self.wait_migration(src)
        self.result['mig_relay_bytes'] = relay.total()
        # What the store held when the guest stopped: the live size sent.
        st = src.sample('migrate-end') or {}
        self.result['store_payload_end_bytes'] = st.get('payload-bytes')
        if not bl.wait_for(lambda: dst.status() == 'running', 60):
            raise bl.BenchError('destination not running: %s' % dst.status())
        return info

    def migrate_blk(self, src, dst):
        """NBD mirror of the swap disk, then migration, as libvirt does."""
        # nbd-server-start takes the legacy (flat "data") socket address.
        dst.conn.cmd('nbd-server-start',
                     addr={'type': 'unix', 'data': {'path': self.nbd_sock}})
        dst.conn.cmd('block-export-add', type='nbd', id='exp0',
                     **{'node-name': 'swap0', 'writable': True})
        dst.conn.cmd('migrate-incoming', uri='unix:' + self.mig_sock)
        nbd = bl.Relay(self.nbd_relay_sock, self.nbd_sock)
        mig = bl.Relay(self.mig_relay_sock, self.mig_sock)
        self.relays += [nbd, mig]
        src.conn.cmd('blockdev-add', driver='nbd', export='swap0',
                     server={'type': 'unix', 'path': self.nbd_relay_sock},
                     **{'node-name': 'mirror-target'})
        t = time.monotonic()
        src.conn.cmd('blockdev-mirror', device='swap0', target='mirror-target',
                     sync='full', **{'job-id': 'mirror-job'})

        def ready():
            for job in src.conn.cmd('query-block-jobs'):
                if job['device'] == 'mirror-job' and job.get('ready'):
                    return job
            return None
        job = bl.wait_for(ready, self.args.migrate_timeout)
        if not job:
            raise bl.BenchError('mirror not ready after %.0f s'
                                % self.args.migrate_timeout)
        self.result['mirror_ready_s'] = round(time.monotonic() - t, 2)
        self.result['mirror_len'] = job.get('len')
        self.result['nbd_bytes_at_ready'] = nbd.total()
        src.conn.cmd('migrate-set-parameters', **{'max-bandwidth': 8 << 30})
        # As libvirt does: stop before the switchover, while the source
        # still owns its disk, to finish the mirror with the guest paused.
        src.conn.cmd('migrate-set-capabilities', capabilities=[
            {'capability': 'pause-before-switchover', 'state': True}])
        src.conn.cmd('migrate', uri='unix:' + self.mig_relay_sock)
        self.wait_migration(src, until='pre-switchover')
        # A non-forced cancel of a READY mirror copies what is left and
        # completes with the target in sync.
        src.conn.cmd('block-job-cancel', device='mirror-job')

        def ended():
            jobs = src.conn.cmd('query-block-jobs')  # also reads events
            ev = (bl.last_event(src.events(), 'BLOCK_JOB_COMPLETED') or
                  bl.last_event(src.events(), 'BLOCK_JOB_CANCELLED'))
            if ev:
                return ev
            # Under load this QEMU sometimes drops the job without an
            # event reaching us; the destination's checker still verifies
            # every page the mirror should have copied.
            if not any(j['device'] == 'mirror-job' for j in jobs):
                return {'event': 'gone without an event', 'data': {}}
            return None
        done = bl.wait_for(ended, self.args.migrate_timeout, step=0.05)
        self.result['mirror_end'] = done and done['event']
        # CANCELLED would mean the target is not a full copy.
        if not done or done['event'] == 'BLOCK_JOB_CANCELLED' or \
                done['data'].get('error'):
            raise bl.BenchError('mirror ended badly: %s; jobs %s; last job'
                                ' events %s' % (
                                    done, src.cmd('query-block-jobs'),
                                    [e for e in src.events()
                                     if 'JOB' in e['event']][-4:]))
        self.result['mirror_final_offset'] = done['data'].get('offset')
        src.conn.cmd('blockdev-del', **{'node-name': 'mirror-target'})
        src.conn.cmd('migrate-continue', state='pre-switchover')
        info = self.wait_migration(src)
        self.result['nbd_relay_bytes'] = nbd.total()
        self.result['mig_relay_bytes'] = mig.total()
        if not bl.wait_for(lambda: (dst.cmd('query-migrate') or {}).get(
                'status') == 'completed', 60):
            raise bl.BenchError('destination did not load the state')
        # Stop the NBD server (which closes its export), and only then
        # let the guest run on its own disk.
        dst.conn.cmd('nbd-server-stop')
        if not bl.wait_for(lambda: not dst.conn.cmd('query-block-exports'),
                           30):
            raise bl.BenchError('NBD export still there')
        dst.conn.cmd('cont')
        return info

    def wait_migration(self, src, until='completed'):
        deadline = time.monotonic() + self.args.migrate_timeout
        while time.monotonic() < deadline:
            info = src.cmd('query-migrate') or {'status': 'no QMP'}
            if info.get('status') in (until, 'failed', 'cancelled', 'no QMP'):
                break
            time.sleep(0.05)
        else:
            src.cmd('migrate_cancel')
            raise bl.BenchError('migration not done after %.0f s'
                                % self.args.migrate_timeout)
        if info.get('status') != until:
            raise bl.BenchError('migration %s: %s' % (
                info.get('status'), info.get('error-desc')))
        return info

    # --- the run ---

    def run(self):
        a = self.args
        t0 = time.monotonic()
        serial = bl.rg.Serial(self.log_path, a.verbose)
        proc = self.spawn('src')
        reader = serial.follow(proc)
        host = bl.rg.Host(self.qmp_src)
        host.connect()
        if not host.conn:
            raise bl.BenchError('no QMP on the source')
        switch_line = None
        try:
            while not serial.done.is_set() and proc.poll() is None:
                if time.monotonic() - t0 > a.timeout:
                    raise bl.BenchError('guest timeout after %.0f s' % a.timeout)
                try:
                    host.sample(serial.syncs.get(timeout=0.5))
                    continue
                except queue.Empty:
                    pass
                used = bl.rg.num(serial.guestmem, 'swap_used_kb', 0) << 10
                if switch_line is None and used >= a.migrate_at:
                    switch_line, proc, host = self.migrate(
                        serial, reader, proc, host, used)
                if host.status() in ('shutdown', 'guest-panicked'):
                    time.sleep(1)
                    break
            bl.wait_for(lambda: host.status() in ('shutdown', None), 30)
            bl.rg.quit_qemu(proc, host)
        finally:
            serial.close()
            self.cleanup()
        self.result['run_s'] = round(time.monotonic() - t0, 1)
        self.verdict(serial, switch_line)
        return self.result

    def migrate(self, serial, reader, proc, host, used):
        """Start the destination and move the guest; returns its handles."""
        bl.log('%s rep %d: migrating at %d MiB of swap used' % (
            self.setup, self.rep, used >> 20))
        serial.note('migration starts')
        self.result['swap_used_at_start'] = used
        t = time.monotonic()
        dst_proc = self.spawn('dst')
        serial.follow(dst_proc, after=reader)
        dst = bl.rg.Host(self.qmp_dst, 'dst', host.samples)
        dst.connect()
        if not dst.conn:
            raise bl.BenchError('no QMP on the destination')
        if self.setup == 'vswap':
            info = self.migrate_vswap(host, dst)
        else:
            info = self.migrate_blk(host, dst)
        self.result['total_s'] = round(time.monotonic() - t, 2)
        wire, ram, other = bl.rg.wire_bytes(info)
        stop_ev = bl.last_event(host.events(), 'STOP')
        dst.cmd('query-status')            # collects the RESUME event
        resume_ev = bl.last_event(dst.events(), 'RESUME')
        self.result.update({
            'qm_transferred': wire, 'qm_ram_bytes': ram,
            'qm_other_bytes': other, 'qm_total_ms': info.get('total-time'),
            'qm_downtime_ms': info.get('downtime'),
            'paused_ms': round((bl.event_time(resume_ev) -
                                bl.event_time(stop_ev)) * 1000)
            if stop_ev and resume_ev else None})
        # Everything that crossed between the two QEMUs.
        self.result['wire_bytes'] = (self.result.get('mig_relay_bytes', 0) +
                                     self.result.get('nbd_relay_bytes', 0))
        bl.log('%s rep %d: migrated in %.1f s, %s on the wire, paused %s ms'
               % (self.setup, self.rep, self.result['total_s'],
                  bl.fmt_bytes(self.result['wire_bytes']),
                  self.result['paused_ms']))
        bl.rg.quit_qemu(proc, host)
        reader.join(timeout=5)
        serial.note('the source quit; the console continues on the'
                    ' destination')
        return len(serial.lines), dst_proc, dst

    def verdict(self, serial, switch_line):
        chk = serial.find('CHECKER')
        self.result['checker'] = chk
        if switch_line is None:
            raise bl.BenchError('never migrated (swap never reached %d MiB)'
                                % (self.args.migrate_at >> 20))
        if not serial.find('VSWAP-GUEST-DONE'):
            raise bl.BenchError('guest did not finish; see %s' % self.log_path)
        fail = serial.grep(r'^VSWAP-GUEST-FAIL')
        if fail:
            raise bl.BenchError('guest: %s' % fail[-1])
        if not any(ln.startswith('CHECKER ') for ln in
                   serial.lines[switch_line:]):
            raise bl.BenchError('the checker did not finish on the'
                                ' destination')
        if not chk or chk.get('mismatches') != '0' or chk.get('result') != 'PASS':
            raise bl.BenchError('checker: %s' % chk)
        for oops in ('BUG:', 'Oops', 'Kernel panic', 'I/O error'):
            hits = serial.grep(oops)
            if hits:
                raise bl.BenchError('guest console: %s' % hits[0])
        self.result['mismatches'] = int(chk['mismatches'])


def report(args, results):
    """The table of medians and the bytes ratio blk / vswap."""
    by = {s: [r for r in results if r['setup'] == s] for s in args.setups}
    med = {s: {k: bl.median([r.get(k) for r in rs]) for k in (
        'wire_bytes', 'mig_relay_bytes', 'nbd_relay_bytes', 'qm_transferred',
        'qm_ram_bytes', 'qm_other_bytes', 'store_payload_bytes',
        'store_payload_end_bytes',
        'total_s', 'qm_total_ms', 'qm_downtime_ms', 'paused_ms',
        'swap_used_at_start', 'mirror_ready_s')} for s, rs in by.items()}
    rows = []
    for s, m in med.items():
        rs = by[s]
        rows.append([
            s, len(rs), '%d' % ((m['swap_used_at_start'] or 0) >> 20),
            bl.fmt_bytes(m['wire_bytes']), bl.fmt_bytes(m['mig_relay_bytes']),
            bl.fmt_bytes(m['nbd_relay_bytes'] if s == 'blk' else None),
            bl.fmt_bytes(m['qm_transferred']), bl.fmt_bytes(m['qm_ram_bytes']),
            bl.fmt_bytes(m['qm_other_bytes']),
            bl.fmt_bytes(m['store_payload_bytes']),
            bl.fmt(m['total_s'], '%.1f s'),
            bl.fmt(m['qm_downtime_ms'], '%.0f ms'),
            bl.fmt(m['paused_ms'], '%.0f ms'),
            sum(r.get('mismatches', 1) for r in rs)])
    header = ['set-up', 'runs', 'swap at start (MiB)', 'wire total',
              'migration stream', 'NBD (mirror)', 'query-migrate',
              'of which RAM', 'of which other', 'store payload',
              'total time', 'downtime (QEMU)', 'guest paused', 'mismatches']
    out = [bl.table(header, rows), '']
    # Every run, so that the spread behind each median is visible.
    out.append(bl.table(
        ['set-up', 'rep', 'swap at start (MiB)', 'wire total', 'NBD',
         'device state', 'store payload start / end', 'total time',
         'downtime (QEMU)', 'guest paused', 'load'],
        [[r['setup'], r['rep'], (r.get('swap_used_at_start') or 0) >> 20,
          bl.fmt_bytes(r.get('wire_bytes')),
          bl.fmt_bytes(r.get('nbd_relay_bytes')),
          bl.fmt_bytes(r.get('qm_other_bytes')),
          '%s / %s' % (bl.fmt_bytes(r.get('store_payload_bytes')),
                       bl.fmt_bytes(r.get('store_payload_end_bytes'))),
          bl.fmt(r.get('total_s'), '%.1f s'),
          bl.fmt(r.get('qm_downtime_ms'), '%.0f ms'),
          bl.fmt(r.get('paused_ms'), '%.0f ms'), r.get('load', '')]
         for r in results]))
    def ratio(x, y):
        return x / y if x is not None and y else None
    if 'vswap' in med and 'blk' in med:
        v, b = med['vswap'], med['blk']
        ratios = {
            'wire total': ratio(b['wire_bytes'], v['wire_bytes']),
            'swap part (NBD / vswap device state)':
                ratio(b['nbd_relay_bytes'], v['qm_other_bytes']),
            'total time': ratio(b['total_s'], v['total_s']),
            'guest paused': ratio(b['paused_ms'], v['paused_ms'])}
        out.append('')
        out.append(bl.table(['blk / vswap', 'ratio of medians'],
                            [[k, bl.fmt(x)] for k, x in ratios.items()]))
    return '\n'.join(out)


def main():
    args = parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    initrd = bl.build_initramfs(args.kver, args.corpus)
    meta = {'machine': bl.machine(), 'qemu': args.qemu, 'accel': args.accel,
            'mem': args.mem, 'smp': args.smp, 'checker': args.checker,
            'migrate_at': args.migrate_at, 'store_opts': args.store_opts,
            'reps': args.reps, 'load_start': bl.loadavg(),
            'command': ' '.join(sys.argv), 'started': time.strftime('%F %T')}
    bl.log('machine: %s; load %s' % (meta['machine'], meta['load_start']))
    results, failures = [], []
    for rep in range(1, args.reps + 1):
        # Alternate the set-ups so that both see the same noise.
        for setup in args.setups:
            bl.log('%s rep %d: start (load %s)' % (setup, rep, bl.loadavg()))
            run = Run(args, setup, rep, initrd)
            try:
                res = run.run()
            except (bl.BenchError, bl.qmp.QMPError, OSError) as err:
                bl.log('%s rep %d: FAILED: %s (console %s)' % (
                    setup, rep, err, run.log_path))
                run.result['error'] = str(err)
                failures.append(run.result)
                run.cleanup()
                continue
            res['load'] = bl.loadavg().split()[0]
            results.append(res)
            bl.log('%s rep %d: done in %.0f s, checker %s' % (
                setup, rep, res['run_s'], res['checker']))
    meta['load_end'] = bl.loadavg()
    path = os.path.join(args.outdir, 'migration-%s.json'
                        % time.strftime('%Y%m%d-%H%M%S'))
    with open(path, 'w') as f:
        json.dump({'meta': meta, 'runs': results, 'failures': failures}, f,
                  indent=1)
    print('# migration-bench: %s; load %s -> %s; %s' % (
        meta['machine'], meta['load_start'], meta['load_end'], path))
    print('# %d x %d MiB guest, checker %d MiB, migrate at %d MiB swapped,'
          ' smp %d, %s' % (args.reps, args.mem >> 20, args.checker >> 20,
                           args.migrate_at >> 20, args.smp, args.accel))
    print(report(args, results))
    if failures:
        print('migration-bench: %d run(s) FAILED: %s' % (
            len(failures), '; '.join('%s/%d: %s' % (f['setup'], f['rep'],
                                                    f['error'])
                                     for f in failures)), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
