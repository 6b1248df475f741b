#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run the vswap test guest under libvirt, as operators run QEMU.

A private libvirt daemon (Debian's libvirtd, qemu:///session) defines,
starts and destroys a domain made from tests/libvirt/vswap-guest.xml.in:
our QEMU as <emulator>, TCG (<domain type='qemu'>; VSWAP_ACCEL=kvm makes
it type='kvm'), direct kernel boot of Debian's 6.1 kernel and the test
initramfs (tests/guest/build-initramfs.sh), the serial console to a
file, and the vswap store and device through <qemu:commandline>.  The
guest swaps to /dev/vswap0 and runs the page checker (640M for a 256 MiB
guest: 2.5x RAM).  Through virsh only, the runner:

  - reads query-vswap ("virsh qemu-monitor-command DOM
    '{"execute":"query-vswap"}'") every few seconds;
  - once the store's pages reach its file, starts a compaction
    (vswap-compact, the same way) and waits for the pass to be counted;
  - after the checker, destroys the domain ("virsh destroy") while the
    guest still holds its swap, and undefines it.

The daemon is private: it runs with XDG_{CONFIG,CACHE,DATA,RUNTIME}_HOME
and HOME in a temporary directory, with a qemu.conf there that only sets
stdio_handler = "file" (no virtlogd).  As root it runs as the
libvirt-qemu user that Debian's libvirt-daemon-system creates
($VSWAP_LIBVIRT_USER for another): libvirt maps qemu:///session to the
system daemon for root, and that one would need system configuration
(and would autostart the default network).  QEMU then runs as that user,
so the kernel, initramfs, store and console files are placed in the
temporary directory.  Nothing outside it is changed: at the end the
domain is destroyed and undefined, the daemon stopped, and the directory
removed, after the console log, QEMU's log (libvirt's command line
included) and a JSON result are copied to build/libvirt/logs/.

Prints "LIBVIRT-TEST result=PASS|FAIL ..." last; exits 0 on PASS, 1 on
FAIL, 2 when something needed is missing.

Environment: VSWAP_ACCEL (tcg or kvm), VSWAP_QEMU (the QEMU binary),
VSWAP_CORPUS, VSWAP_LIBVIRT_USER.
"""
import argparse
import importlib.util
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGE = 4096


def fail(why):
    print('run-libvirt: FAIL: %s' % why, file=sys.stderr, flush=True)
    print('LIBVIRT-TEST result=FAIL reason=%s' % why.replace(' ', '_')[:80],
          flush=True)
    sys.exit(2)


def say(text):
    print('run-libvirt: %s' % text, file=sys.stderr, flush=True)


# The guest runner's parsers of sizes and console lines: run-guest.py,
# imported as a module (as bench/benchlib.py does).
_spec = importlib.util.spec_from_file_location(
    'run_guest', os.path.join(TOP, 'tests/guest/run-guest.py'))
_rg = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_rg)
parse_size = _rg.parse_size
kv = _rg.kv


def num(d, key, default=0):
    try:
        return int(d[key])
    except (KeyError, ValueError, TypeError):
        return default


def default_kver():
    """The newest Debian 6.1 kernel installed (as build-initramfs.sh)."""
    vers = [v for v in os.listdir('/lib/modules')
            if re.fullmatch(r'6\.1\.\d+-\d+-amd64', v)]
    vers.sort(key=lambda v: [int(x) for x in re.findall(r'\d+', v)])
    return vers[-1] if vers else None


def corpus_file():
    if os.environ.get('VSWAP_CORPUS'):
        return os.path.join(os.environ['VSWAP_CORPUS'], 'python-heap.pages')
    out = os.path.join(TOP, 'build', 'corpus')
    subprocess.run([sys.executable, os.path.join(TOP, 'scripts/make-corpus.py'),
                    '--out', out], check=True, stdout=subprocess.DEVNULL)
    return os.path.join(out, 'python-heap.pages')


class Libvirt:
    """A private libvirtd (session mode) in DIR, and virsh against it."""

    def __init__(self, tmp, user):
        self.tmp = tmp
        self.user = user          # a pwd entry, or None: run as ourselves
        self.daemon = None
        self.env = {
            'PATH': '/usr/sbin:/usr/bin:/sbin:/bin',
            'HOME': tmp,
            'XDG_CONFIG_HOME': os.path.join(tmp, 'config'),
            'XDG_CACHE_HOME': os.path.join(tmp, 'cache'),
            'XDG_DATA_HOME': os.path.join(tmp, 'data'),
            'XDG_RUNTIME_DIR': os.path.join(tmp, 'run'),
            'LIBVIRT_DEFAULT_URI': 'qemu:///session',
            'LC_ALL': 'C',
        }
        self.sock = os.path.join(tmp, 'run', 'libvirt', 'libvirt-sock')

    def argv(self, cmd):
        """CMD as the daemon's user: setpriv execs it, so a Popen's pid
        is the command's own."""
        if not self.user:
            return cmd
        return ['setpriv', '--reuid=%d' % self.user.pw_uid,
                '--regid=%d' % self.user.pw_gid, '--init-groups'] + cmd

    def start(self, timeout):
        log = open(os.path.join(self.tmp, 'libvirtd.log'), 'w')
        # --timeout: it ends by itself if this runner dies.
        self.daemon = subprocess.Popen(
            self.argv(['libvirtd', '--timeout', str(int(timeout))]),
            env=self.env, cwd=self.tmp, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.sock):
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def stop(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()

    def virsh(self, *args, timeout=60):
        """(status, stdout, stderr) of one virsh command."""
        try:
            p = subprocess.run(self.argv(['virsh', '-q'] + list(args)),
                               env=self.env, cwd=self.tmp, text=True,
                               stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            return 124, '', 'virsh %s: timed out' % args[0]
        return p.returncode, p.stdout.strip(), p.stderr.strip()

    def qmp(self, dom, cmd, **arguments):
        """A QMP command through virsh qemu-monitor-command: its 'return',
        or None (the error printed)."""
        req = {'execute': cmd}
        if arguments:
            req['arguments'] = arguments
        rc, out, err = self.virsh('qemu-monitor-command', dom, json.dumps(req),
                                  timeout=30)
        if rc != 0:
            say('virsh qemu-monitor-command %s: %s' % (cmd, err))
            return None
        try:
            return json.loads(out).get('return')
        except ValueError:
            say('virsh qemu-monitor-command %s: not JSON: %r' % (cmd, out[:200]))
            return None


class Console:
    """The serial console file that QEMU appends to, read as it grows."""

    def __init__(self, path, echo):
        self.path = path
        self.echo = echo
        self.pos = 0
        self.part = ''
        self.lines = []

    def poll(self):
        try:
            with open(self.path, 'r', encoding='utf-8', errors='replace') as f:
                f.seek(self.pos)
                data = f.read()
                self.pos = f.tell()
        except FileNotFoundError:
            return []
        data = self.part + data
        new = data.split('\n')
        self.part = new.pop()
        new = [re.sub(r'\x1b\[[0-9;?]*[A-Za-z]|\x1bc|\r', '', ln) for ln in new]
        self.lines += new
        if self.echo:
            for ln in new:
                print(ln, flush=True)
        return new

    def find(self, prefix, when=None):
        for line in reversed(self.lines):
            if line.startswith(prefix + ' '):
                d = kv(line)
                if when is None or d.get('when') == when:
                    return d
        return None

    def grep(self, pattern):
        return [ln for ln in self.lines if re.search(pattern, ln)]


def stored_pages(st):
    return sum(st.get(k, 0) for k in ('pages-mem', 'pages-disk', 'pages-fill'))


def host_errors(st):
    errs = {k: st.get(k, 0) for k in
            ('checksum-errors', 'malformed-requests', 'writeback-errors')}
    for k in ('read', 'write', 'discard'):
        errs[k + '.errors'] = st.get(k, {}).get('errors', 0)
    return errs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--accel', default=os.environ.get('VSWAP_ACCEL', 'tcg'),
                    choices=('tcg', 'kvm'))
    ap.add_argument('--qemu', default=os.environ.get(
        'VSWAP_QEMU', os.path.join(TOP, 'build/qemu/qemu-system-x86_64')))
    ap.add_argument('--kver', default=default_kver(),
                    help='guest kernel release (default: newest 6.1, %(default)s)')
    ap.add_argument('--mem', default='256M', type=parse_size)
    ap.add_argument('--smp', default=2, type=int)
    ap.add_argument('--checker', default='640M', type=parse_size,
                    help='memory the checker fills (default 640M, 2.5x RAM)')
    ap.add_argument('--store-size', default='1G', type=parse_size)
    ap.add_argument('--store-opts', default='mem-budget=16M,segment-size=1M')
    ap.add_argument('--num-queues', default=2, type=int)
    ap.add_argument('--sample', default=5, type=float,
                    help='seconds between query-vswap samples')
    ap.add_argument('--timeout', default=900, type=float)
    ap.add_argument('--name', default='vswap-libvirt-%d' % os.getpid())
    ap.add_argument('--template', default=os.path.join(
        TOP, 'tests/libvirt/vswap-guest.xml.in'))
    ap.add_argument('--logdir', default=os.path.join(TOP, 'build/libvirt/logs'))
    ap.add_argument('--keep', action='store_true',
                    help='keep the temporary directory (for debugging)')
    ap.add_argument('--verbose', '-v', action='store_true',
                    help='echo the serial console')
    args = ap.parse_args()

    t_start = time.monotonic()
    for tool in ('virsh', 'libvirtd'):
        if not shutil.which(tool, path='/usr/sbin:/usr/bin:/sbin:/bin'):
            fail('no %s: install libvirt-daemon-system and libvirt-clients'
                 ' (scripts/install-deps.sh)' % tool)
    if not os.access(args.qemu, os.X_OK):
        fail("no QEMU at %s: build it with 'make qemu'" % args.qemu)
    if not args.kver or not os.path.isfile('/boot/vmlinuz-' + args.kver):
        fail('no Debian 6.1 guest kernel in /boot (scripts/install-deps.sh)')
    user = None
    if os.geteuid() == 0:
        name = os.environ.get('VSWAP_LIBVIRT_USER', 'libvirt-qemu')
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            fail('no user %s to run the private libvirt daemon as (it comes'
                 ' with libvirt-daemon-system; or set VSWAP_LIBVIRT_USER)' % name)
    try:
        corpus = corpus_file()
        initrd = subprocess.run(
            [os.path.join(TOP, 'tests/guest/build-initramfs.sh'), '--kver',
             args.kver, '--corpus', corpus], check=True, text=True,
            stdout=subprocess.PIPE).stdout.strip()
    except subprocess.CalledProcessError as err:
        fail('building the initramfs failed (%s)' % err)
    os.makedirs(args.logdir, exist_ok=True)
    stamp = time.strftime('%Y%m%d-%H%M%S')
    base = os.path.join(args.logdir, 'libvirt-%s' % stamp)

    # Short: libvirt's sockets live below it (108-byte limit).
    tmp = tempfile.mkdtemp(prefix='vswap-lv.', dir='/tmp')
    os.chmod(tmp, 0o700)
    lv = Libvirt(tmp, user)
    files = {'kernel': os.path.join(tmp, 'vmlinuz'),
             'initrd': os.path.join(tmp, 'initrd.img'),
             'console': os.path.join(tmp, 'console.log'),
             'store': os.path.join(tmp, 'store.vswap'),
             'xml': os.path.join(tmp, 'domain.xml')}
    shutil.copyfile('/boot/vmlinuz-' + args.kver, files['kernel'])
    shutil.copyfile(initrd, files['initrd'])
    cfg = os.path.join(tmp, 'config', 'libvirt')
    os.makedirs(cfg)
    with open(os.path.join(cfg, 'qemu.conf'), 'w') as f:
        f.write('# vswap run-libvirt.py: QEMU\'s output to a file, no virtlogd\n'
                'stdio_handler = "file"\n')
    cmdline = ' '.join([
        'console=ttyS0', 'loglevel=4', 'panic=-1', 'zswap.enabled=0',
        'vswap.mode=full', 'vswap.checker=%dK' % (args.checker >> 10),
        'vswap.seed=1',
        # The guest holds still this long after the checker: the runner
        # destroys it meanwhile, with its swap still in the store.
        'vswap.hold=60'])
    store = 'vswap-store,id=vs0,path=%s,size=%d%s' % (
        files['store'], args.store_size,
        ',' + args.store_opts if args.store_opts else '')
    device = 'virtio-vswap-pci,id=vswap0,store=vs0,num-queues=%d' % args.num_queues
    with open(args.template) as f:
        xml = f.read()
    subst = {'NAME': args.name, 'DOMAIN_TYPE': 'kvm' if args.accel == 'kvm'
             else 'qemu', 'MEM_MIB': str(args.mem >> 20), 'VCPUS': str(args.smp),
             'EMULATOR': os.path.abspath(args.qemu), 'KERNEL': files['kernel'],
             'INITRD': files['initrd'], 'CMDLINE': cmdline,
             'CONSOLE_LOG': files['console'], 'VSWAP_STORE': store,
             'VSWAP_DEVICE': device}
    for k, v in subst.items():
        xml = xml.replace('@%s@' % k, v.replace('&', '&amp;').replace("'", '&apos;'))
    left = re.findall(r'@[A-Z_]+@', xml)
    if left:
        fail('template %s: unknown fields %s' % (args.template, left))
    with open(files['xml'], 'w') as f:
        f.write(xml)
    if user:
        for root, dirs, names in os.walk(tmp):
            for n in [root] + [os.path.join(root, x) for x in names]:
                os.chown(n, user.pw_uid, user.pw_gid)

    checks = []

    def check(what, ok, detail=''):
        checks.append({'check': what, 'ok': bool(ok), 'detail': str(detail)})
        say('%s %s%s' % ('ok' if ok else 'FAIL', what,
                         ': ' + str(detail) if detail else ''))

    console = Console(files['console'], args.verbose)
    samples = []
    defined = started = destroyed = False
    compact_at = None
    timed_out = False
    guest_seconds = 0
    try:
        check('private libvirtd (qemu:///session) started',
              lv.start(args.timeout + 300), 'as %s, in %s' % (
                  user.pw_name if user else pwd.getpwuid(os.geteuid()).pw_name,
                  tmp))
        if not checks[-1]['ok']:
            raise RuntimeError('no daemon')
        rc, out, err = lv.virsh('define', files['xml'])
        defined = rc == 0
        check('virsh define', defined, err)
        if not defined:
            raise RuntimeError('define')
        t0 = time.monotonic()
        rc, out, err = lv.virsh('start', args.name)
        started = rc == 0
        check('virsh start', started, err)
        if not started:
            raise RuntimeError('start')
        next_sample = time.monotonic()
        while True:
            new = console.poll()
            after = any(ln.startswith('VSWAP-SYNC when=after') for ln in new)
            finished = any(ln.startswith(('VSWAP-GUEST-DONE', 'VSWAP-GUEST-FAIL'))
                           for ln in new)
            if after or time.monotonic() >= next_sample:
                st = lv.qmp(args.name, 'query-vswap')
                if st:
                    st = st[0]
                    samples.append({'t': round(time.monotonic() - t0, 1),
                                    'label': 'after' if after else 'running',
                                    'stats': st})
                    if compact_at is None and st.get('pages-disk', 0) > 0:
                        # vswap-compact through virsh, while the guest swaps.
                        ret = lv.qmp(args.name, 'vswap-compact', full=True)
                        compact_at = {'t': samples[-1]['t'], 'ok': ret == {},
                                      'compactions': st.get('compactions', 0)}
                        say('vswap-compact at %.0f s: %s' % (compact_at['t'], ret))
                next_sample = time.monotonic() + args.sample
            if after:
                guest_seconds = time.monotonic() - t0
                # The checker has finished; swap still holds its pages.
                rc, out, err = lv.virsh('destroy', args.name)
                destroyed = rc == 0
                check('virsh destroy (guest running, swap in use)', destroyed, err)
                break
            if finished:
                guest_seconds = time.monotonic() - t0
                break
            rc, out, err = lv.virsh('domstate', args.name)
            if out != 'running':
                console.poll()
                guest_seconds = time.monotonic() - t0
                check('domain running until the checker ended', False,
                      'state %s %s' % (out, err))
                break
            if time.monotonic() - t0 > args.timeout:
                timed_out = True
                guest_seconds = time.monotonic() - t0
                break
            time.sleep(1)
    except RuntimeError:
        pass
    finally:
        if started and not destroyed:
            lv.virsh('destroy', args.name)
        if defined:
            rc, out, err = lv.virsh('undefine', args.name)
            check('virsh undefine', rc == 0, err)
            rc, out, err = lv.virsh('list', '--all', '--name')
            check('no domain left', rc == 0 and not out, out or err)
        lv.stop()
        console.poll()
        # Keep the logs; drop the rest.
        qemu_log = os.path.join(tmp, 'cache', 'libvirt', 'qemu', 'log',
                                args.name + '.log')
        for src, suffix in ((files['console'], '.console.log'),
                            (qemu_log, '.qemu.log'),
                            (os.path.join(tmp, 'libvirtd.log'), '.libvirtd.log'),
                            (files['xml'], '.xml')):
            if os.path.exists(src):
                shutil.copyfile(src, base + suffix)
        if args.keep:
            say('kept %s' % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    # --- verdict ---
    ram_pages = args.mem // PAGE
    check('no timeout', not timed_out, '%.0f s' % guest_seconds)
    fails = console.grep(r'^VSWAP-GUEST-FAIL')
    check('guest steps', not fails, fails[-1] if fails else '')
    chk = console.find('CHECKER')
    check('checker: every page intact', chk and chk.get('result') == 'PASS'
          and num(chk, 'mismatches', -1) == 0 and num(chk, 'io_errors') == 0,
          chk and 'pages=%s mismatches=%s io_errors=%s' % (
              chk.get('pages'), chk.get('mismatches'), chk.get('io_errors', 0)))
    before = console.find('VSWAP-VMSTAT', 'before') or {}
    vafter = console.find('VSWAP-VMSTAT', 'after') or {}
    pswpout = num(vafter, 'pswpout') - num(before, 'pswpout')
    pswpin = num(vafter, 'pswpin') - num(before, 'pswpin')
    check('guest swapped more than its RAM', pswpout >= ram_pages,
          'pswpout=%d pswpin=%d, RAM %d pages' % (pswpout, pswpin, ram_pages))
    drv = console.find('VSWAP-STATS', 'after') or {}
    check('driver: no I/O error', num(drv, 'io_errors', -1) == 0,
          'io_errors=%s' % drv.get('io_errors'))
    for oops in ('BUG:', 'WARNING:', 'Oops', 'Kernel panic', 'blocked for more'):
        hits = console.grep(re.escape(oops))
        check('no "%s"' % oops, not hits, hits[0] if hits else '')
    peak = max((stored_pages(s['stats']) for s in samples), default=0)
    peak_disk = max((s['stats'].get('pages-disk', 0) for s in samples), default=0)
    last = samples[-1]['stats'] if samples else {}
    check('query-vswap (virsh) shows swapped pages',
          samples and peak > 0 and last.get('write', {}).get('entries', 0)
          >= ram_pages, '%d samples, peak %d pages held (%d on disk), %d pages'
          ' written' % (len(samples), peak, peak_disk,
                        last.get('write', {}).get('entries', 0)))
    check('query-vswap: no host error', last and not any(host_errors(last).values()),
          host_errors(last) if last else 'no sample')
    compactions = last.get('compactions', 0)
    check('vswap-compact (virsh) accepted and the pass counted',
          compact_at and compact_at['ok'] and compactions > compact_at['compactions'],
          compact_at and 'asked at %.0f s, compactions %d -> %d, compacted %d'
          ' bytes' % (compact_at['t'], compact_at['compactions'], compactions,
                      last.get('compacted-bytes', 0)))
    check('temporary directory removed', args.keep or not os.path.exists(tmp), tmp)

    seconds = time.monotonic() - t_start
    ok = all(c['ok'] for c in checks)
    result = {'result': 'PASS' if ok else 'FAIL', 'accel': args.accel,
              'seconds': round(seconds, 1), 'guest_seconds': round(guest_seconds, 1),
              'checker': chk, 'pswpout': pswpout, 'pswpin': pswpin,
              'host_peak_pages': peak, 'compact': compact_at, 'checks': checks,
              'samples': samples}
    with open(base + '.json', 'w') as f:
        json.dump(result, f, indent=1)
    bad = [c['check'] for c in checks if not c['ok']]
    print('LIBVIRT-TEST result=%s accel=%s seconds=%.0f guest_seconds=%.0f'
          ' pages=%s mismatches=%s pswpout=%d host_peak_pages=%d compactions=%d'
          ' log=%s%s' % (
              result['result'], args.accel, seconds, guest_seconds,
              (chk or {}).get('pages'), (chk or {}).get('mismatches'), pswpout,
              peak, compactions, base + '.console.log',
              '' if ok else ' failed="%s"' % '; '.join(bad)), flush=True)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
