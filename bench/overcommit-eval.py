#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Three TCG guests in one memory cgroup: host swap, nothing, or vswap-overcommitd.

Three guests (Debian's 6.1 kernel, --mem of RAM each, one vCPU, the
initramfs of tests/guest built with --bench, every guest swapping to its
own virtio-vswap store of --budget in memory with a store file) run at
once, their QEMUs inside a memory cgroup of our own whose limit is below
what the three keep resident alone:

  a  the page checker (tests/guest/checker.c) over --checker, a working set
     below guest RAM, --rounds times, beside --idle-a of idle memory (text
     in a tmpfs, md5-checked at the end)
  b  GNU sort of --sort-input bytes of generated text with -S
     --sort-buffer; its output's md5 must equal the host's own sort's
  c  mostly idle: --idle-c of idle memory, md5-checked when the host
     presses its ACPI power button once a and b are done

Set-ups, each in a fresh cgroup with the same limit:

  hostswap    no controller; host swap on a swap file under build/ (made,
              swapon'd, and always swapoff'd and removed, even on Ctrl-C):
              the blind host swapping of guest RAM that operators use
  noswap      no controller, no host swap: does the cgroup OOM-kill a QEMU?
  controller  tools/overcommit/vswap-overcommitd watches the cgroup, with a
              virtio-balloon-pci (free-page-reporting=on) in every guest;
              it inflates balloons so that guests swap their cold pages to
              vswap, and lowers store budgets

hostswap and noswap guests have no balloon (nothing would drive it), so
free page reporting is part of what the controller set-up adds.  Each
guest also runs alone, without a limit, in every repetition: the
baseline of the time ratios and of the limit.  The limit is --limit, or
--limit-frac of the sum of the three guests' peaks alone (repetition 1).

Per set-up: whether each workload completed and verified, its time (the
guest's VSWAP-WORKLOAD line) as a ratio to running alone, the cgroup's
memory peak against the limit, host disk bytes (swap file use, store
files allocated), whether any QEMU was OOM-killed, and for the
controller how fast it reclaims once the cgroup crosses its high mark.
With --step-at and --step-mib, the cgroup's limit is lowered by a step
at a known time in every set-up with a limit (a controlled rise in
pressure), and the report says how fast the cgroup came back under the
controller's marks of the new limit: seconds to the controller's first
action, to under the high and the low mark, and MiB/s meanwhile.
The controller's cgroup memory and balloon sizes over time go to an SVG
(--svg, docs/img/overcommit-eval.svg by default), results to
build/overcommit-eval/.  Exit status 0 when every run could be measured
(a workload that failed is a result, not an error of the bench).

Environment: VSWAP_QEMU (the QEMU binary), VSWAP_ACCEL (default tcg).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

rg = bl.rg
MIB = bl.MIB
SETUPS = ('hostswap', 'noswap', 'controller')
GUESTS = ('a', 'b', 'c')
DAEMON = os.path.join(bl.TOP, 'build/standalone/tools/overcommit/'
                      'vswap-overcommitd')


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--qemu', default=bl.DEFAULT_QEMU)
    ap.add_argument('--accel', default=bl.DEFAULT_ACCEL)
    ap.add_argument('--kver', default=rg.default_kver())
    ap.add_argument('--mem', type=rg.parse_size, default='160M',
                    help='guest RAM of each guest (default 160M)')
    ap.add_argument('--checker', type=rg.parse_size, default=None,
                    help='guest a: checker working set (default 0.3 x mem)')
    ap.add_argument('--rounds', type=int, default=60,
                    help='guest a: checker rounds (default 60)')
    ap.add_argument('--idle-a', type=rg.parse_size, default=None,
                    help='guest a: idle memory (default 0.15 x mem)')
    ap.add_argument('--idle-c', type=rg.parse_size, default=None,
                    help='guest c: idle memory (default 0.4 x mem)')
    ap.add_argument('--sort-input', type=rg.parse_size, default=None,
                    help='guest b: sort input (default 0.75 x mem: with'
                    ' its temporary files and -S, 1.75 x mem)')
    ap.add_argument('--sort-buffer', type=rg.parse_size, default=None,
                    help='guest b: sort -S (default 0.25 x mem)')
    ap.add_argument('--budget', type=rg.parse_size, default='32M',
                    help='each store\'s mem-budget (default 32M)')
    ap.add_argument('--buffered-store', action='store_true',
                    help='open the store files without direct-io: their'
                    ' page cache then counts against the cgroup too')
    ap.add_argument('--limit', type=rg.parse_size, default=None,
                    help='the cgroup limit (default --limit-frac of the'
                    ' sum of the guests\' peaks alone)')
    ap.add_argument('--limit-frac', type=float, default=0.8)
    ap.add_argument('--swap-size', type=rg.parse_size, default='1G',
                    help='host swap file of hostswap (default 1G)')
    ap.add_argument('--interval', type=int, default=1,
                    help='controller tick, seconds (default 1)')
    ap.add_argument('--policy', default=None,
                    help='[policy] lines for the controller, commas between'
                    ' (default: the daemon\'s defaults, with guest-floor 0.5'
                    ' x mem, guest-floor-min 5/16 x mem (an idle guest\'s'
                    ' floor) and guest-reserve 0.1 x mem for these small'
                    ' guests, and cgroup marks of 80%% and 70%%: a small'
                    ' cgroup fills in seconds)')
    ap.add_argument('--stagger', type=float, default=8,
                    help='seconds between the starts of the guests')
    ap.add_argument('--step-at', type=float, default=None,
                    help='lower the cgroup limit by --step-mib this many'
                    ' seconds after the first guest starts (every set-up'
                    ' with a limit)')
    ap.add_argument('--step-mib', type=int, default=64,
                    help='the pressure step, MiB (default 64)')
    ap.add_argument('--reps', type=int, default=1)
    ap.add_argument('--setups', default=','.join(SETUPS))
    ap.add_argument('--timeout', type=float, default=1800,
                    help='seconds a set-up may take (default 1800)')
    ap.add_argument('--outdir', default=os.path.join(bl.TOP,
                                                     'build/overcommit-eval'))
    ap.add_argument('--svg', default=os.path.join(bl.TOP, 'docs/img/'
                                                  'overcommit-eval.svg'),
                    help='plot of the controller set-up ("" for none)')
    ap.add_argument('--report', metavar='JSON',
                    help='only print the table (and write the plot) of a'
                    ' run saved in JSON')
    ap.add_argument('-v', '--verbose', action='store_true')
    args = ap.parse_args()
    m = args.mem
    args.checker = args.checker or m * 3 // 10
    args.idle_a = args.idle_a or m * 15 // 100
    args.idle_c = args.idle_c or m * 4 // 10
    args.sort_input = args.sort_input or m * 3 // 4
    args.sort_buffer = args.sort_buffer or m // 4
    if args.policy is None:
        args.policy = ('guest-floor=%dM,guest-floor-min=%dM,'
                       'guest-reserve=%dM,cgroup-high=80,cgroup-low=70' %
                       (m // 2 >> 20, m * 5 // 16 >> 20, m // 10 >> 20))
    args.setups = args.setups.split(',')
    for s in args.setups:
        if s not in SETUPS:
            ap.error('unknown set-up %r' % s)
    if args.report:
        return args
    if not os.access(args.qemu, os.X_OK):
        ap.error('no QEMU at %s (--qemu or VSWAP_QEMU)' % args.qemu)
    if 'controller' in args.setups and not os.access(DAEMON, os.X_OK):
        ap.error('no %s: build it with "make build" (needs json-glib)'
                 % DAEMON)
    if os.geteuid() != 0:
        ap.error('needs root: a memory cgroup and a swap file of its own')
    return args


# ---- host resources, each undone by cleanup() ----

CLEANUPS = []           # callables, run last first


def cleanup():
    while CLEANUPS:
        fn = CLEANUPS.pop()
        try:
            fn()
        except Exception as err:     # go on: undo the rest
            bl.log('cleanup: %s' % err)


def on_signal(signum, frame):
    raise KeyboardInterrupt('signal %d' % signum)


def write(path, text):
    with open(path, 'w') as f:
        f.write(str(text))


def read_int(path, default=None):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def read_keyed(path, key):
    """'key N' from a file such as memory.events or memory.oom_control."""
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(' ')
                if k == key:
                    return int(v)
    except (OSError, ValueError):
        pass
    return None


class Cgroup:
    """A memory cgroup of our own: cgroup v2 if its memory controller is
    there, else v1's memory controller (/sys/fs/cgroup/memory)."""

    V2_ROOT = '/sys/fs/cgroup'
    V1_ROOT = '/sys/fs/cgroup/memory'

    def __init__(self, name):
        ctrl = os.path.join(self.V2_ROOT, 'cgroup.controllers')
        if os.path.exists(ctrl) and 'memory' in open(ctrl).read().split():
            self.v2, root = True, self.V2_ROOT
            sub = os.path.join(root, 'cgroup.subtree_control')
            if 'memory' not in open(sub).read().split():
                write(sub, '+memory')
        elif os.path.exists(os.path.join(self.V1_ROOT,
                                         'memory.limit_in_bytes')):
            self.v2, root = False, self.V1_ROOT
        else:
            raise bl.BenchError('no memory cgroup: neither cgroup v2 with the'
                                ' memory controller nor v1 at %s'
                                % self.V1_ROOT)
        self.path = os.path.join(root, name)
        os.mkdir(self.path)
        CLEANUPS.append(self.destroy)

    def f(self, name):
        return os.path.join(self.path, name)

    def set_limit(self, limit, swap):
        """LIMIT bytes (None: none); SWAP: may the kernel swap it out."""
        if self.v2:
            write(self.f('memory.max'), limit or 'max')
            write(self.f('memory.swap.max'), 'max' if swap else 0)
            return
        memsw = os.path.exists(self.f('memory.memsw.limit_in_bytes'))
        if memsw:
            write(self.f('memory.memsw.limit_in_bytes'), -1)
        write(self.f('memory.limit_in_bytes'), limit or -1)
        if memsw and limit and not swap:
            write(self.f('memory.memsw.limit_in_bytes'), limit)
        write(self.f('memory.max_usage_in_bytes'), 0)

    def lower_limit(self, limit, swap):
        """Lowers the limit to LIMIT while QEMUs run: the memory limit
        first (v1 refuses memory+swap below it), then memory+swap.
        Returns: None, or why the kernel refused (v1 says EBUSY when it
        cannot reclaim down to the new limit)."""
        try:
            if self.v2:
                write(self.f('memory.max'), limit)
                return None
            write(self.f('memory.limit_in_bytes'), limit)
            if not swap and os.path.exists(self.f(
                    'memory.memsw.limit_in_bytes')):
                write(self.f('memory.memsw.limit_in_bytes'), limit)
        except OSError as err:
            return str(err)
        return None

    def enter(self):
        """In a child before exec: move it into the cgroup."""
        write(self.f('cgroup.procs'), os.getpid())

    def usage(self):
        return read_int(self.f('memory.current' if self.v2 else
                               'memory.usage_in_bytes'))

    def kernel_peak(self):
        return read_int(self.f('memory.peak' if self.v2 else
                               'memory.max_usage_in_bytes'))

    def limit_hits(self):
        """Times usage hit the limit (the kernel then reclaims itself).
        v1 counts a charge refused by the memory+swap limit (no-swap
        set-ups) apart."""
        if self.v2:
            return read_keyed(self.f('memory.events'), 'max')
        return (read_int(self.f('memory.failcnt'), 0) +
                read_int(self.f('memory.memsw.failcnt'), 0))

    def oom_kills(self):
        return read_keyed(self.f('memory.events' if self.v2 else
                                 'memory.oom_control'), 'oom_kill')

    def pids(self):
        try:
            with open(self.f('cgroup.procs')) as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def destroy(self):
        if not os.path.isdir(self.path):
            return
        for pid in self.pids():         # only QEMUs we started are here
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.2)
        raise bl.BenchError('cannot remove cgroup %s' % self.path)


class SwapFile:
    """A host swap file, swapon'd until close()."""

    def __init__(self, path, size):
        self.path = path
        CLEANUPS.append(self.close)
        subprocess.run(['fallocate', '-l', str(size), path], check=True)
        os.chmod(path, 0o600)
        subprocess.run(['mkswap', path], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(['swapon', path], check=True)
        self.on = True

    def used(self):
        """Bytes in use (/proc/swaps)."""
        with open('/proc/swaps') as f:
            for line in f:
                w = line.split()
                if w and os.path.realpath(w[0]) == os.path.realpath(self.path):
                    return int(w[3]) << 10
        return 0

    def close(self):
        if getattr(self, 'on', False):
            subprocess.run(['swapoff', self.path], check=True)
            self.on = False
        if os.path.exists(self.path):
            os.unlink(self.path)


# ---- guests ----

class Guest:
    """One QEMU and its guest: a, b or c."""

    def __init__(self, args, name, rep, rundir, initrd, balloon):
        self.args, self.name, self.rep = args, name, rep
        self.dir, self.initrd, self.balloon = rundir, initrd, balloon
        p = lambda f: os.path.join(rundir, '%s-%s' % (name, f))  # noqa: E731
        self.qmp_sock, self.daemon_sock = p('qmp.sock'), p('daemon.sock')
        self.store, self.log_path = p('store.vswap'), p('console.log')
        self.proc = self.serial = self.host = None
        self.t0 = self.t_end = None
        self.exit = None            # QEMU's exit status if it died
        self.panicked = False
        self.lock = threading.Lock()    # one QMP command at a time

    def qmp(self, name, **args):
        """A command on our QMP socket (None if QEMU is gone)."""
        with self.lock:
            return self.host.cmd(name, **args) if self.host else None

    def append(self):
        a = self.args
        w = ['vswap.mode=full', 'vswap.monitor=2', 'vswap.swapoff=0',
             'vswap.seed=%d' % self.rep, 'zswap.enabled=0']
        if self.name == 'a':
            w += ['vswap.workload=checker', 'vswap.rounds=%d' % a.rounds,
                  'vswap.checker=%dK' % (a.checker >> 10),
                  'vswap.idle_mem=%dK' % (a.idle_a >> 10)]
        elif self.name == 'b':
            w += ['vswap.workload=sort',
                  'vswap.sort_input=%dK' % (a.sort_input >> 10),
                  'vswap.sort_buffer=%dK' % (a.sort_buffer >> 10)]
        else:
            w += ['vswap.workload=idle', 'vswap.idle_mem=%dK' % (a.idle_c >> 10),
                  'vswap.idle_max=%d' % a.timeout]
        return ['console=ttyS0', 'loglevel=4', 'panic=-1'] + w

    def cmd(self):
        a = self.args
        # TCG's translation cache would otherwise grow towards 1 GiB of
        # host memory that no controller can reclaim: 32 MiB holds what
        # these guests run.
        accel = ['-accel', 'tcg,tb-size=32'] if a.accel == 'tcg' else \
            ['-accel', a.accel]
        cmd = [a.qemu, '-machine', 'q35'] + accel + [
               '-m', '%dM' % (a.mem >> 20), '-smp', '1',
               '-kernel', '/boot/vmlinuz-' + a.kver, '-initrd', self.initrd,
               '-append', ' '.join(self.append()),
               '-nographic', '-nodefaults', '-serial', 'stdio',
               '-no-reboot', '-no-shutdown',
               '-object', 'vswap-store,id=vs0,path=%s,size=1G,mem-budget=%d,'
               'segment-size=1M,direct-io=%s'
               % (self.store, a.budget, 'off' if a.buffered_store else 'on'),
               '-device', 'virtio-vswap-pci,id=vswap0,store=vs0',
               '-qmp', 'unix:%s,server=on,wait=off' % self.qmp_sock,
               '-qmp', 'unix:%s,server=on,wait=off' % self.daemon_sock]
        if self.balloon:
            cmd += rg.balloon_args()
        return cmd

    def start(self, cgroup):
        with open(os.path.join(self.dir, '%s-qemu.cmd' % self.name), 'w') as f:
            f.write(' '.join(self.cmd()) + '\n')
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.cmd(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT,
                                     preexec_fn=cgroup.enter)
        self.serial = rg.Serial(self.log_path, self.args.verbose)
        self.serial.follow(self.proc)
        self.host = rg.Host(self.qmp_sock, self.name)
        self.host.connect()
        if not self.host.conn:
            raise bl.BenchError('guest %s: QEMU does not answer on %s; see %s'
                                % (self.name, self.qmp_sock, self.log_path))

    def finished(self):
        """True once the guest is done or its QEMU gone (t_end set)."""
        if self.t_end is None:
            if self.proc.poll() is not None:
                self.exit = self.proc.returncode
                self.t_end = time.monotonic()
            elif self.serial.done.is_set():
                self.t_end = time.monotonic()
            elif self.serial.grep(r'Kernel panic'):
                # -no-reboot -no-shutdown: QEMU waits, the guest is gone.
                self.panicked = True
                self.t_end = time.monotonic()
        return self.t_end is not None

    def stop(self):
        """Quit QEMU (once its guest is done, or at the end of a set-up)."""
        if self.proc is None:
            return
        with self.lock:
            if self.proc.poll() is None:
                rg.quit_qemu(self.proc, self.host, timeout=20)
            elif self.host:
                self.host.drop()
        if self.serial:
            self.serial.close()
            self.serial.log = open(os.devnull, 'w')   # closed: no more lines
        self.proc_rc = self.proc.returncode
        self.proc = None

    def verdict(self, expected_md5):
        """What the guest did: completed, verified, time, and why not."""
        s = self.serial
        r = {'guest': self.name, 'log': self.log_path}
        done = s.find('VSWAP-GUEST-DONE')
        wl = s.find('VSWAP-WORKLOAD') or {}
        r['completed'] = done is not None and wl.get('rc') == '0'
        r['work_s'] = float(wl['seconds']) if 'seconds' in wl else None
        why = []
        if self.exit is not None:
            why.append('QEMU %s' % ('killed (SIGKILL: OOM)' if self.exit == -9
                                    else 'exited with %s' % self.exit))
        if self.panicked:
            why.append('guest panic: %s' % s.grep(r'Kernel panic')[0])
        if s.grep(r'Out of memory: Killed process'):
            why.append('guest OOM: %s' % s.grep(r'Out of memory: Killed')[0])
        fail = s.grep(r'^VSWAP-GUEST-FAIL')
        if fail:
            why.append(fail[-1])
        verified = r['completed']
        if self.name == 'a':
            chk = [rg.kv(ln) for ln in s.lines if ln.startswith('CHECKER ')]
            r['mismatches'] = sum(rg.num(c, 'mismatches', 0) for c in chk)
            r['io_errors'] = sum(rg.num(c, 'io_errors', 0) for c in chk)
            r['rounds'] = len(chk)
            ok = len(chk) == self.args.rounds and all(
                c.get('result') == 'PASS' for c in chk) and \
                r['mismatches'] == 0 and r['io_errors'] == 0
            if not ok:
                why.append('checker: %d of %d rounds, %d mismatches, %d I/O'
                           ' errors' % (len(chk), self.args.rounds,
                                        r['mismatches'], r['io_errors']))
            verified = verified and ok
        if self.name == 'b':
            srt = s.find('SORT') or {}
            r['sort_md5'] = srt.get('md5')
            ok = srt.get('rc') == '0' and srt.get('md5') == expected_md5
            if not ok:
                why.append('sort: rc=%s md5=%s, expected %s' % (
                    srt.get('rc'), srt.get('md5'), expected_md5))
            verified = verified and ok
        if self.name in ('a', 'c'):
            idle = s.find('VSWAP-IDLE', 'verified') or {}
            if idle.get('ok') != '1':
                why.append('idle memory: %s' % (idle or 'not verified'))
            verified = verified and idle.get('ok') == '1'
        for oops in ('BUG:', 'Oops', 'Kernel panic', 'blocked for more'):
            if s.grep(oops):
                why.append(s.grep(oops)[0])
                verified = False
        r['verified'] = bool(verified)
        r['why'] = '; '.join(why)
        r['qemu_killed'] = self.exit == -9
        return r


class Sampler(threading.Thread):
    """The cgroup's memory every 0.25 s, and per guest every second its
    balloon, QEMU's RSS and its store file's allocated bytes."""

    def __init__(self, cgroup, guests, swap):
        super().__init__(daemon=True)
        self.cg, self.guests, self.swap = cgroup, guests, swap
        self.stop_ev = threading.Event()
        self.t0 = time.monotonic()
        self.mem = []           # (t, bytes)
        self.vm = []            # {'t', 'swap', guest: {...}}
        self.lock = threading.Lock()

    def run(self):
        next_vm = 0
        while not self.stop_ev.wait(0.25):
            t = time.monotonic() - self.t0
            u = self.cg.usage()
            if u is not None:
                self.mem.append((t, u))
            if time.monotonic() < next_vm:
                continue
            next_vm = time.monotonic() + 1
            row = {'t': round(t, 2),
                   'swap': self.swap.used() if self.swap else 0}
            for g in self.guests:
                proc = g.proc
                if proc is None or proc.poll() is not None:
                    continue
                v = {'rss': bl.proc_status(proc.pid).get('VmRSS'),
                     'store_bytes': bl.allocated(g.store)}
                row[g.name] = v
            self.vm.append(row)

    def stop(self):
        self.stop_ev.set()
        self.join(timeout=5)


def balloon_poll(guests, series, t0, stop):
    """Each guest's balloon (query-balloon) every second, on our QMP."""
    while not stop.wait(1):
        row = {'t': round(time.monotonic() - t0, 2)}
        for g in guests:
            if g.proc is not None and g.proc.poll() is None and \
                    g.t_end is None:
                ret = g.qmp('query-balloon')
                if ret:
                    row[g.name] = ret['actual']
        series.append(row)


def daemon_config(args, path, cgroup, guests, rundir):
    lines = ['[daemon]', 'interval=%d' % args.interval, 'retry-interval=2',
             'cgroup=%s' % cgroup.path,
             'state-file=%s' % os.path.join(rundir, 'state.json'),
             'trace=%s' % os.path.join(rundir, 'trace'), '', '[policy]']
    lines += [p for p in args.policy.split(',') if p]
    for g in guests:
        lines += ['', '[vm %s]' % g.name, 'qmp=%s' % g.daemon_sock,
                  'store=vs0']
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def run_setup(args, setup, rep, initrd, limit, md5, names=GUESTS):
    """One set-up (or 'alone': NAMES without a limit); its results."""
    stamp = '%s-%d-%s' % (setup, rep, ''.join(names))
    rundir = os.path.join(args.outdir, 'run-%d' % os.getpid(), stamp)
    os.makedirs(rundir, exist_ok=True)
    res = {'setup': setup, 'rep': rep, 'guests': list(names), 'limit': limit,
           'dir': rundir}
    depth = len(CLEANUPS)
    cg = Cgroup('vswap-eval-%d-%s' % (os.getpid(), stamp))
    cg.set_limit(limit, swap=setup == 'hostswap')
    swap = None
    if setup == 'hostswap':
        swap = SwapFile(os.path.join(args.outdir, 'swapfile-%d' % os.getpid()),
                        args.swap_size)
    controller = setup == 'controller'
    guests = [Guest(args, n, rep, rundir, initrd, controller) for n in names]
    sampler = Sampler(cg, guests, swap)
    balloons, stop_polls = [], threading.Event()
    daemon = None
    try:
        sampler.start()
        if controller:
            conf = os.path.join(rundir, 'daemon.conf')
            daemon_config(args, conf, cg, guests, rundir)
            daemon_log = open(os.path.join(rundir, 'daemon.log'), 'w')
            daemon = subprocess.Popen([DAEMON, '-c', conf],
                                      stdout=daemon_log, stderr=subprocess.STDOUT)
            CLEANUPS.append(lambda: (daemon.poll() is None and
                                     (daemon.terminate(), daemon.wait())))
        # The controller first: it reaches each QEMU as it comes up.
        for i, g in enumerate(guests):
            CLEANUPS.append(g.stop)
            if i:
                time.sleep(args.stagger)
            g.start(cg)
        if controller:
            threading.Thread(target=balloon_poll, daemon=True, args=(
                guests, balloons, sampler.t0, stop_polls)).start()
        pressed = 0
        deadline = time.monotonic() + args.timeout
        step_due = limit and args.step_at is not None
        while not all(g.finished() for g in guests):
            if step_due and time.monotonic() - sampler.t0 >= args.step_at:
                step_due = False
                res['step'] = {'t': round(time.monotonic() - sampler.t0, 2),
                               'wall': time.time(), 'mib': args.step_mib,
                               'limit': limit - (args.step_mib << 20)}
                res['step']['error'] = cg.lower_limit(
                    res['step']['limit'], swap=setup == 'hostswap')
                if res['step']['error'] and not cg.v2:
                    # v1 refuses a limit below what it cannot reclaim
                    # (EBUSY): take the lowest it accepts now instead.
                    lowest = ((cg.usage() or 0) + 4 * MIB) & ~(MIB - 1)
                    if lowest < limit:
                        res['step']['refused'] = res['step']['error']
                        res['step']['limit'] = lowest
                        res['step']['error'] = cg.lower_limit(
                            lowest, swap=setup == 'hostswap')
                bl.log('%s rep %d: pressure step: limit %d -> %d MiB at'
                       ' %.1f s%s' % (setup, rep, limit >> 20,
                                      res['step']['limit'] >> 20,
                                      res['step']['t'],
                                      ': ' + res['step']['error']
                                      if res['step']['error'] else ''))
            if time.monotonic() > deadline:
                res['timeout'] = True
                bl.log('%s rep %d: timeout after %.0f s' % (setup, rep,
                                                           args.timeout))
                break
            if daemon and daemon.poll() is not None:
                raise bl.BenchError('vswap-overcommitd exited with %d; see'
                                    ' %s/daemon.log' % (daemon.returncode,
                                                        rundir))
            for g in guests:
                # A guest done with its workload leaves: its memory goes.
                if g.finished() and g.proc is not None and g.name != 'c':
                    g.stop()
            c = [g for g in guests if g.name == 'c']
            busy = [g for g in guests if g.name != 'c' and not g.finished()]
            if c and not busy and not c[0].finished() and \
                    time.monotonic() - pressed > 5 and \
                    c[0].serial.find('VSWAP-IDLE', 'filled'):
                # c idles until the others are done (alone: a while).  A
                # press before the guest's button driver is up is lost:
                # press again until the guest ends.
                if len(guests) > 1 or time.monotonic() - c[0].t0 > 30:
                    c[0].qmp('system_powerdown')
                    pressed = time.monotonic()
            time.sleep(0.5)
    finally:
        stop_polls.set()
        sampler.stop()
        for g in guests:
            g.finished()
        res['oom_kills'] = cg.oom_kills()
        res['limit_hits'] = cg.limit_hits()
        res['kernel_peak'] = cg.kernel_peak()
        # Store files before the QEMUs go (they delete nothing; we do).
        res['store_peak_bytes'] = max(
            (sum(r.get(n, {}).get('store_bytes', 0) for n in names)
             for r in sampler.vm), default=0)
        while len(CLEANUPS) > depth:
            CLEANUPS.pop()()
        for g in guests:
            if os.path.exists(g.store):
                os.unlink(g.store)
    res['wall_s'] = round(time.monotonic() - sampler.t0, 1)
    res['guest'] = {g.name: g.verdict(md5) for g in guests}
    mem = [u for _, u in sampler.mem]
    res['peak'] = max(mem + [res['kernel_peak'] or 0]) if mem else None
    res['swap_peak_bytes'] = max((r['swap'] for r in sampler.vm), default=0)
    res['mem_series'] = [(round(t, 2), u) for t, u in sampler.mem]
    res['vm_series'] = sampler.vm
    res['balloon_series'] = balloons
    if controller:
        res['daemon_log'] = os.path.join(rundir, 'daemon.log')
        res['reclaim'] = reclaim_speed(res, args)
    if res.get('step'):
        res['step'].update(step_response(res, args, rundir if controller
                                         else None))
    return res


def policy_marks(args):
    """The controller's cgroup high and low marks (percent)."""
    marks = {'cgroup-high': 90.0, 'cgroup-low': 80.0}
    for p in args.policy.split(','):
        k, _, v = p.partition('=')
        if k in marks:
            marks[k] = float(v)
    return marks['cgroup-high'], marks['cgroup-low']


def reclaim_speed(res, args):
    """After the cgroup first crosses the high mark: seconds until the
    first balloon moves, until the cgroup is back under the low mark, and
    how fast the balloons took memory meanwhile (MiB/s)."""
    limit = res['limit']
    high, low = policy_marks(args)
    mem = res['mem_series']
    t_high = next((t for t, u in mem if u >= limit * high / 100), None)
    out = {'high_pct': high, 'low_pct': low, 't_high': t_high,
           'episodes': 0}
    # Episodes: crossings of the high mark from below the low mark.
    state = 'low'
    for t, u in mem:
        if state == 'low' and u >= limit * high / 100:
            out['episodes'] += 1
            state = 'high'
        elif state == 'high' and u < limit * low / 100:
            state = 'low'
    if t_high is None:
        return out
    t_low = next((t for t, u in mem if t > t_high and u < limit * low / 100),
                 None)
    out['to_low_s'] = round(t_low - t_high, 1) if t_low else None
    rows = res['balloon_series']
    ram = args.mem

    def taken(row):
        return sum(ram - row[n] for n in GUESTS if n in row)
    before = [r for r in rows if r['t'] <= t_high]
    base = taken(before[-1]) if before else 0
    moved = next((r['t'] for r in rows if r['t'] > t_high and
                  taken(r) > base + MIB), None)
    out['first_balloon_s'] = round(moved - t_high, 1) if moved else None
    end = t_low or (t_high + 30)
    during = [r for r in rows if t_high < r['t'] <= end]
    if during and end > t_high:
        out['balloon_mib_s'] = round((max(taken(r) for r in during) - base)
                                     / MIB / (end - t_high), 1)
    return out


def daemon_actions(rundir):
    """Wall-clock times of the daemon's decisions (its log: HH:MM:SS)."""
    times = []
    try:
        with open(os.path.join(rundir, 'daemon.log')) as f:
            for line in f:
                w = line.split()
                # "HH:MM:SS vswap-overcommitd: info: vm a: balloon 256 ->"
                if len(w) > 7 and w[2] == 'info:' and w[3] == 'vm' and \
                        w[5] in ('balloon', 'budget') and w[6].isdigit() \
                        and w[7] == '->':
                    times.append(w[0])
    except OSError:
        pass
    return times


def step_response(res, args, rundir):
    """After the pressure step: seconds until the controller's first
    action (its log, to the second, or a balloon seen moving), until the
    cgroup is under the high and the low mark of the new limit, and how
    fast it came down meanwhile (MiB/s of cgroup memory)."""
    st = res['step']
    high, low = policy_marks(args)
    mem = [(t, u) for t, u in res['mem_series'] if t >= st['t']]
    out = {'high_pct': high, 'low_pct': low}
    if not mem:
        return out
    u0 = mem[0][1]
    out['usage_at_step'] = u0
    for name, pct in (('to_high_s', high), ('to_low_s', low)):
        hit = next((t for t, u in mem if u < st['limit'] * pct / 100), None)
        out[name] = round(hit - st['t'], 1) if hit is not None else None
    end = st['t'] + out['to_low_s'] if out['to_low_s'] is not None \
        else st['t'] + 60
    window = [u for t, u in mem if t <= end]
    if window and end > st['t']:
        out['mib_s'] = round((u0 - min(window)) / MIB / (end - st['t']), 1)
    firsts = []
    if rundir:
        day = time.strftime('%Y-%m-%d ', time.localtime(st['wall']))
        for hms in daemon_actions(rundir):
            try:
                t = time.mktime(time.strptime(day + hms, '%Y-%m-%d %H:%M:%S'))
            except ValueError:
                continue
            # The log has whole seconds: an action in the step's second
            # counts from the step.
            if t + 1 > st['wall']:
                firsts.append(max(0.0, t - st['wall']))
                break
        rows = res['balloon_series']
        before = [r for r in rows if r['t'] <= st['t']]
        if before:
            moved = next((r['t'] for r in rows if r['t'] > st['t'] and any(
                n in r and n in before[-1] and r[n] < before[-1][n] - MIB
                for n in GUESTS)), None)
            if moved is not None:
                firsts.append(moved - st['t'])
    out['first_action_s'] = round(min(firsts), 1) if firsts else None
    return out


def expected_md5(args, rep):
    gen = os.path.join(bl.TOP, 'build/guest/genlines')
    p = subprocess.run('%s %d %d | LC_ALL=C sort -S 256M | md5sum' % (
        gen, args.sort_input, rep), shell=True, check=True,
        stdout=subprocess.PIPE, text=True)
    return p.stdout.split()[0]


# ---- report ----

def under_step_limit(r):
    """True without a step, or if no sample after it reached its limit."""
    st = r.get('step')
    if not st or st.get('error'):
        return True
    return all(u < st['limit'] for t, u in r['mem_series'] if t >= st['t'])


def summarise(args, runs):
    """Per set-up and guest: medians over repetitions."""
    alone = {}
    for r in runs:
        if r['setup'] == 'alone':
            for n, g in r['guest'].items():
                alone.setdefault(n, {})[r['rep']] = r
    out = {}
    for s in args.setups:
        rs = [r for r in runs if r['setup'] == s]
        row = {'runs': len(rs), 'guest': {}}
        for n in GUESTS:
            gs = [(r, r['guest'][n]) for r in rs]
            ratios = []
            for r, g in gs:
                base = alone.get(n, {}).get(r['rep'])
                bw = base and base['guest'][n].get('work_s')
                if g['verified'] and g.get('work_s') and bw:
                    ratios.append(g['work_s'] / bw)
            row['guest'][n] = {
                'verified': sum(g['verified'] for _, g in gs),
                'work_s': bl.median([g.get('work_s') for _, g in gs
                                     if g['verified']]),
                'ratio': bl.median(ratios),
                'killed': sum(g['qemu_killed'] for _, g in gs),
                'why': [g['why'] for _, g in gs if g['why']]}
        row['peak'] = bl.median([r['peak'] for r in rs])
        row['peak_max'] = max((r['peak'] or 0 for r in rs), default=None)
        row['limit'] = rs[0]['limit'] if rs else None
        row['swap_peak'] = bl.median([r['swap_peak_bytes'] for r in rs])
        row['store_peak'] = bl.median([r['store_peak_bytes'] for r in rs])
        row['oom_kills'] = sum(r['oom_kills'] or 0 for r in rs)
        row['limit_hits'] = bl.median([r.get('limit_hits') for r in rs])
        # The kernel's own peak reaches the limit exactly once hit; after
        # a pressure step, the samples must stay below the new limit.
        row['under_limit'] = sum(not r.get('limit_hits') and
                                 (r['kernel_peak'] or 0) < r['limit'] and
                                 under_step_limit(r) for r in rs)
        row['timeouts'] = sum(bool(r.get('timeout')) for r in rs)
        steps = [r['step'] for r in rs if r.get('step')]
        if steps:
            row['step'] = {k: bl.median([x.get(k) for x in steps]) for k in
                           ('mib', 'first_action_s', 'to_high_s', 'to_low_s',
                            'mib_s', 't')}
            row['step']['refused'] = sum(bool(x.get('error')) for x in steps)
            row['step']['clamped'] = sum(bool(x.get('refused')) for x in steps)
            row['step']['limit'] = bl.median([x.get('limit') for x in steps])
            row['step']['under_low'] = sum(x.get('to_low_s') is not None
                                           for x in steps)
        rec = [r['reclaim'] for r in rs if r.get('reclaim')]
        if rec:
            row['reclaim'] = {k: bl.median([x.get(k) for x in rec]) for k in
                              ('first_balloon_s', 'to_low_s', 'balloon_mib_s',
                               'episodes')}
        out[s] = row
    return out


def render(args, summary, alone_s):
    def mb(v):
        return '-' if v is None else '%.0f MiB' % (v / MIB)
    header = ['figure'] + ['%s (%d)' % (s, summary[s]['runs'])
                           for s in summary]
    body = []
    for n, what in (('a', 'checker'), ('b', 'sort'), ('c', 'idle')):
        cells = []
        for s, row in summary.items():
            g = row['guest'][n]
            cell = '%d/%d verified' % (g['verified'], row['runs'])
            if g['killed']:
                cell += ', %d QEMU OOM-killed' % g['killed']
            cells.append(cell)
        body.append(['%s (%s): completed and verified' % (n, what)] + cells)
        if n != 'c':
            body.append(['%s (%s): time, ratio to alone (alone %s)' % (
                n, what, bl.fmt(alone_s.get(n), '%.0f s'))] + [
                '%s (x%s)' % (bl.fmt(row['guest'][n]['work_s'], '%.0f s'),
                              bl.fmt(row['guest'][n]['ratio']))
                for row in summary.values()])
    body.append(['cgroup memory peak / limit'] + [
        '%s / %s%s' % (mb(row['peak']), mb(row['limit']),
                       ' (over)' if row['peak_max'] and row['limit'] and
                       row['peak_max'] > row['limit'] else '')
        for row in summary.values()])
    body.append(['runs that stayed below the limit'] + [
        '%d/%d' % (row['under_limit'], row['runs'])
        for row in summary.values()])
    body.append(['host swap used, peak'] + [mb(row['swap_peak'])
                                            for row in summary.values()])
    body.append(['store files allocated, peak (3 guests)'] + [
        mb(row['store_peak']) for row in summary.values()])
    body.append(['cgroup OOM kills'] + [str(row['oom_kills'])
                                        for row in summary.values()])
    body.append(['timeouts'] + [str(row['timeouts'])
                                for row in summary.values()])
    rec = ['-'] * len(summary)
    for i, row in enumerate(summary.values()):
        r = row.get('reclaim')
        if r:
            rec[i] = ('first balloon %s s, under low mark %s s, %s MiB/s,'
                      ' %s episodes' % (bl.fmt(r['first_balloon_s'], '%.1f'),
                                         bl.fmt(r['to_low_s'], '%.1f'),
                                         bl.fmt(r['balloon_mib_s'], '%.1f'),
                                         bl.fmt(r['episodes'], '%.0f')))
    body.append(['reclaim after crossing the high mark'] + rec)
    if any(row.get('step') for row in summary.values()):
        cells = []
        for row in summary.values():
            st = row.get('step')
            if not st:
                cells.append('-')
                continue
            cells.append('first action %s s, under high mark %s s, under low'
                         ' mark %s s (%d/%d), %s MiB/s%s' % (
                             bl.fmt(st['first_action_s'], '%.1f'),
                             bl.fmt(st['to_high_s'], '%.1f'),
                             bl.fmt(st['to_low_s'], '%.1f'), st['under_low'],
                             row['runs'], bl.fmt(st['mib_s'], '%.1f'),
                             ', %d refused' % st['refused']
                             if st['refused'] else '') +
                         (', %d clamped to the usage' % st['clamped']
                          if st['clamped'] else ''))
        st = next(row['step'] for row in summary.values() if row.get('step'))
        body.append(['pressure step: limit -%s MiB at %s s' % (
            bl.fmt(st['mib'], '%.0f'), bl.fmt(st['t'], '%.0f'))] + cells)
    return bl.table(header, body)


def svg_plot(path, res, args):
    """Cgroup memory, its limit and each balloon over time (hand-made SVG)."""
    W, H, L, R, T, B = 760, 380, 60, 110, 30, 45
    mem, bal = res['mem_series'], res['balloon_series']
    if not mem:
        return None
    tmax = max(t for t, _ in mem) or 1
    ymax = max(max(u for _, u in mem), res['limit'] or 0, args.mem) * 1.08
    ymax = ymax / MIB

    def x(t):
        return L + (W - L - R) * t / tmax

    def y(v):
        return T + (H - T - B) * (1 - v / MIB / ymax)

    def line(points, colour, width=1.5, dash=None):
        pts = ' '.join('%.1f,%.1f' % (x(t), y(v)) for t, v in points)
        return ('<polyline fill="none" stroke="%s" stroke-width="%.1f"%s'
                ' points="%s"/>' % (colour, width, ' stroke-dasharray="%s"'
                                    % dash if dash else '', pts))
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d"'
           ' font-family="sans-serif" font-size="11">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="18" font-size="13">vswap-overcommitd: cgroup'
           ' memory and balloons, 3 guests of %d MiB (TCG)</text>'
           % (L, args.mem >> 20)]
    step = 100 if ymax > 400 else 50
    for v in range(0, int(ymax) + 1, step):
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>'
                   % (L, W - R, y(v * MIB), y(v * MIB)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%d</text>'
                   % (L - 4, y(v * MIB) + 4, v))
    tstep = max(10, int(tmax / 8 / 10 + 1) * 10)
    for t in range(0, int(tmax) + 1, tstep):
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>'
                   % (x(t), H - B + 15, t))
    out.append('<text x="%d" y="%d" text-anchor="middle">seconds</text>'
               % ((L + W - R) // 2, H - 8))
    out.append('<text x="14" y="%d" transform="rotate(-90 14 %d)"'
               ' text-anchor="middle">MiB</text>' % ((T + H - B) // 2,
                                                     (T + H - B) // 2))
    series = [('cgroup memory', '#000', [(t, u) for t, u in mem], None)]
    if res['limit']:
        st = res.get('step') or {}
        lim = [(0, res['limit'])]
        if st.get('limit') and not st.get('error'):
            lim += [(st['t'], res['limit']), (st['t'], st['limit'])]
        lim.append((tmax, lim[-1][1]))
        series.append(('limit', '#c00', lim, '6,4'))
        high, _ = policy_marks(args)
        series.append(('high mark', '#e90', [(t, v * high / 100)
                                             for t, v in lim], '2,3'))
    colours = {'a': '#1f77b4', 'b': '#2ca02c', 'c': '#9467bd'}
    for n in GUESTS:
        pts = [(r['t'], r[n]) for r in bal if n in r]
        if pts:
            series.append(('balloon %s: guest memory' % n, colours[n], pts,
                           None))
    for i, (label, colour, pts, dash) in enumerate(series):
        out.append(line(pts, colour, 1.5, dash))
        ly = T + 14 * i + 6
        out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s"'
                   ' stroke-width="2"%s/>' % (W - R + 6, W - R + 22, ly, ly,
                                             colour, ' stroke-dasharray="%s"'
                                             % dash if dash else ''))
        out.append('<text x="%d" y="%d">%s</text>' % (W - R + 25, ly + 4,
                                                      label.split(':')[0]))
    out.append('</svg>')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('\n'.join(out) + '\n')
    return path


def save(args, meta, runs, failures):
    """Every run so far, to the JSON file (rewritten after each set-up)."""
    with open(args.json, 'w') as f:
        json.dump({'meta': meta, 'runs': runs, 'failures': failures}, f,
                  indent=1)


def report(args):
    """The table and plot of a saved run (--report)."""
    with open(args.report) as f:
        saved = json.load(f)
    runs, meta = saved['runs'], saved['meta']
    args.setups = [s for s in SETUPS if any(r['setup'] == s for r in runs)]
    args.policy = meta.get('policy', args.policy)
    for k in ('mem', 'checker', 'rounds', 'idle_a', 'idle_c', 'sort_input',
              'sort_buffer', 'budget'):
        setattr(args, k, meta.get(k, getattr(args, k)))
    summary = summarise(args, runs)
    alone_s = {n: bl.median([r['guest'][n].get('work_s') for r in runs
                             if r['setup'] == 'alone' and n in r['guest']])
               for n in GUESTS}
    print(render(args, summary, alone_s))
    ctl = [r for r in runs if r['setup'] == 'controller']
    if ctl and args.svg:
        print('# plot: %s' % svg_plot(args.svg, ctl[-1], args))
    return 0


def main():
    args = parse_args()
    if args.report:
        return report(args)
    args.json = os.path.join(args.outdir, 'overcommit-eval-%s.json'
                             % time.strftime('%Y%m%d-%H%M%S'))
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    os.makedirs(args.outdir, exist_ok=True)
    initrd = bl.build_initramfs(args.kver, 'none')
    meta = {'machine': bl.machine(), 'command': ' '.join(sys.argv),
            'started': time.strftime('%Y-%m-%d %H:%M'), 'load_start':
            bl.loadavg(), 'mem': args.mem, 'checker': args.checker,
            'rounds': args.rounds, 'idle_a': args.idle_a,
            'idle_c': args.idle_c, 'sort_input': args.sort_input,
            'sort_buffer': args.sort_buffer, 'budget': args.budget,
            'policy': args.policy, 'interval': args.interval,
            'direct_io': not args.buffered_store, 'step_at': args.step_at,
            'step_mib': args.step_mib if args.step_at is not None else None}
    bl.log('machine: %s; load %s' % (meta['machine'], meta['load_start']))
    runs, failures = [], []
    limit = args.limit
    try:
        for rep in range(1, args.reps + 1):
            md5 = expected_md5(args, rep)
            peaks = 0
            for n in GUESTS:
                bl.log('rep %d: guest %s alone, no limit' % (rep, n))
                r = run_setup(args, 'alone', rep, initrd, None, md5, (n,))
                runs.append(r)
                g = r['guest'][n]
                bl.log('rep %d: %s alone: %s, %s s, peak %d MiB%s' % (
                    rep, n, 'verified' if g['verified'] else 'FAILED',
                    g.get('work_s'), (r['peak'] or 0) >> 20,
                    ' (%s)' % g['why'] if g['why'] else ''))
                if not g['verified']:
                    failures.append('%s alone, rep %d: %s' % (n, rep, g['why']))
                peaks += r['peak'] or 0
            if limit is None:
                limit = int(peaks * args.limit_frac) & ~(MIB - 1)
                bl.log('limit: %d MiB = %.2f x the sum of the peaks alone'
                       ' (%d MiB); guest RAM adds up to %d MiB' % (
                           limit >> 20, args.limit_frac, peaks >> 20,
                           3 * args.mem >> 20))
            for s in args.setups:
                bl.log('rep %d: %s, limit %d MiB (load %s)' % (
                    rep, s, limit >> 20, bl.loadavg()))
                r = run_setup(args, s, rep, initrd, limit, md5)
                runs.append(r)
                save(args, meta, runs, failures)
                bl.log('rep %d: %s: %s; peak %d MiB, swap %d MiB, stores %d'
                       ' MiB, OOM kills %s, %.0f s%s' % (
                           rep, s, ', '.join('%s %s %s s' % (
                               n, 'ok' if g['verified'] else 'FAILED',
                               g.get('work_s'))
                               for n, g in r['guest'].items()),
                           (r['peak'] or 0) >> 20, r['swap_peak_bytes'] >> 20,
                           r['store_peak_bytes'] >> 20, r['oom_kills'],
                           r['wall_s'], ' reclaim %s' % r['reclaim']
                           if r.get('reclaim') else ''))
                for n, g in r['guest'].items():
                    if g['why']:
                        bl.log('  %s: %s' % (n, g['why']))
    except bl.BenchError as err:
        failures.append(str(err))
        bl.log('FAILED: %s' % err)
    finally:
        cleanup()
    meta['load_end'] = bl.loadavg()
    meta['limit'] = limit
    summary = summarise(args, runs)
    alone_s = {n: bl.median([r['guest'][n].get('work_s') for r in runs
                             if r['setup'] == 'alone' and n in r['guest']])
               for n in GUESTS}
    path = args.json
    with open(path, 'w') as f:
        json.dump({'meta': meta, 'summary': summary, 'runs': runs,
                   'failures': failures}, f, indent=1)
    ctl = [r for r in runs if r['setup'] == 'controller']
    plot = svg_plot(args.svg, ctl[-1], args) if ctl and args.svg else None
    print('# overcommit-eval: %s; load %s -> %s; %s' % (
        meta['machine'], meta['load_start'], meta['load_end'], path))
    print('# %d rep(s); 3 guests of %d MiB, 1 vCPU each, %s; limit %d MiB;'
          ' a: checker %d MiB x %d rounds + %d MiB idle; b: sort %d MiB,'
          ' -S %d MiB; c: %d MiB idle; store budget %d MiB' % (
              args.reps, args.mem >> 20, args.accel, (limit or 0) >> 20,
              args.checker >> 20, args.rounds, args.idle_a >> 20,
              args.sort_input >> 20, args.sort_buffer >> 20,
              args.idle_c >> 20, args.budget >> 20))
    print(render(args, summary, alone_s))
    if plot:
        print('# plot: %s' % os.path.relpath(plot, bl.TOP))
    if failures:
        print('overcommit-eval: %s' % '; '.join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        cleanup()
        print('overcommit-eval: interrupted; swap file, cgroups and QEMUs'
              ' removed', file=sys.stderr)
        sys.exit(130)
