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
  smoke  load the driver, check /dev/vswap0 and its size, one page of I/O,
         one block-layer discard, a read of a slot never written (zeros),
         and a read of a written slot that the host forgot (x-forget-slot):
         an I/O error, counted in the driver's lost_reads.
  pm     suspend to idle with swap on /dev/vswap0 (the driver must refuse:
         a reset would drop the slots) and off (must work), then I/O.
  broken the checker's pages are pushed out to swap (memory.reclaim of its
         cgroup), then qom-set breaks the device (--break: it stops
         answering, or needs a reset, --break-after requests later).
         Passes when the driver logs why it gave the device up, the
         checker's swap-ins fail (SIGBUS) and it ends, later I/O fails at
         once, swapoff returns, and no task hangs (hung task timeout 20 s,
         driver io_timeout 5 s).
  vqbench  the corpus file written to /dev/vswap0 and read back with
         O_DIRECT at each --bs block size, timed in the guest; the host's
         request counters give requests per second (bench/vq-bench.py).
  balloon  a virtio-balloon-pci (free-page-reporting=on) beside the
         device; the guest writes --idle-mem of the corpus into a tmpfs
         and idles.  The host turns on the balloon's stats polling,
         inflates it over QMP ("balloon") to --balloon-to and requires the
         balloon to get there, the guest's statistics to arrive, and the
         guest to swap the idle memory out onto /dev/vswap0 (its swap use
         and the host store grow).  Then it deflates, presses the ACPI
         power button, and the guest must find its idle memory intact.

--balloon adds the balloon to the other modes too.

--migrate (full mode): once the guest's swap holds --migrate-at, start a
second QEMU with -incoming and live-migrate the swapping guest to it over
a unix socket; the checker finishes there.  The console and the QMP
samples follow the destination, the source quits, and the host checks
apply to the destination.  --migrate-shared: both QEMUs open the same
store file with shared=on.

Prints "GUEST-TEST result=PASS|FAIL ..." last, writes the serial log and a
JSON result next to it (build/guest/logs/), exits 0 on PASS.

Environment: VSWAP_ACCEL (default tcg), VSWAP_QEMU (the QEMU binary).
"""
import argparse
import asyncio
import glob
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def qemu_python_dir():
    """QEMU's python/ directory, which holds its QMP library (qemu.qmp).

    It comes with the QEMU source that scripts/build-qemu.sh fetches:
    $VSWAP_QEMU_PYTHON, else build/qemu-src/python, else the source
    package in the cache."""
    build = os.environ.get('VSWAP_BUILD', os.path.join(TOP, 'build'))
    cache = os.environ.get('VSWAP_CACHE', '/var/cache/vswap')
    dirs = [os.environ.get('VSWAP_QEMU_PYTHON'),
            os.path.join(build, 'qemu-src', 'python')]
    dirs += sorted(glob.glob(os.path.join(cache, 'src', 'qemu-10.0.*',
                                          'python')), reverse=True)
    for d in dirs:
        if d and os.path.isfile(os.path.join(d, 'qemu', 'qmp', 'legacy.py')):
            return d
    sys.exit("run-guest: FAIL: QEMU's QMP library (python/qemu/qmp) is"
             " missing; build QEMU first with 'make qemu'")


sys.path.insert(0, qemu_python_dir())
import qemu.qmp as qmp  # noqa: E402
from qemu.qmp.legacy import QEMUMonitorProtocol  # noqa: E402

# What a QMP call raises when the connection, not the command, failed.
QMP_LOST = (qmp.QMPError, OSError, EOFError, asyncio.TimeoutError)

PAGE = 4096


MIB = 1 << 20

# The balloon of the host overcommit controller (tools/overcommit): free
# page reporting hands what the guest frees back to the host, and
# deflate-on-oom lets a guest short of memory take pages back from the
# balloon rather than OOM-kill (or panic).
BALLOON_ID = 'balloon0'
BALLOON_PATH = '/machine/peripheral/' + BALLOON_ID


def balloon_args():
    """QEMU arguments for a virtio-balloon-pci with free page reporting
    and deflate-on-oom."""
    return ['-device', 'virtio-balloon-pci,id=%s,free-page-reporting=on,'
            'deflate-on-oom=on' % BALLOON_ID]


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


def fail(why):
    """Stop with one line that says what is missing or broken."""
    print('run-guest: FAIL: %s' % why, file=sys.stderr, flush=True)
    sys.exit(2)


def run_step(what, argv):
    """Run a set-up step; its stdout, or fail() with its last words."""
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        last = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        fail('%s failed (%s exited %d)%s' % (
            what, os.path.basename(argv[0]), proc.returncode,
            ': ' + last[-1].strip() if last else ''))
    return proc.stdout.strip()


def default_corpus():
    """python-heap.pages of $VSWAP_CORPUS, or of the corpus that
    scripts/make-corpus.py captures (and caches) in build/corpus."""
    if os.environ.get('VSWAP_CORPUS'):
        path = os.path.join(os.environ['VSWAP_CORPUS'], 'python-heap.pages')
        if not os.path.isfile(path):
            fail('VSWAP_CORPUS=%s has no python-heap.pages; unset it to'
                 ' use the corpus scripts/make-corpus.py makes'
                 % os.environ['VSWAP_CORPUS'])
        return path
    out = os.path.join(TOP, 'build', 'corpus')
    run_step('capturing the page corpus',
             [sys.executable, os.path.join(TOP, 'scripts/make-corpus.py'),
              '--out', out])
    return os.path.join(out, 'python-heap.pages')


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


class Serial:
    """Copy QEMU's stdout (the serial console) to the log; remember lines.

    follow() reads one QEMU; after a migration the destination's console
    continues the source's, into the same lines and log."""

    def __init__(self, log_path, echo):
        self.log = open(log_path, 'w', encoding='utf-8', errors='replace')
        self.echo = echo
        self.lines = []
        self.done = threading.Event()     # VSWAP-GUEST-DONE seen
        self.syncs = queue.Queue()        # labels of VSWAP-SYNC lines
        self.lock = threading.Lock()
        self.guestmem = {}                # last VSWAP-GUESTMEM line
        self.readers = []
        self.tail = b''                   # a line cut off by switchover

    def follow(self, proc, after=None):
        """Read PROC's console, once the reader AFTER has finished."""
        reader = threading.Thread(target=self._read, args=(proc, after),
                                  daemon=True)
        self.readers.append(reader)
        reader.start()
        return reader

    def _read(self, proc, after):
        if after:
            after.join()
        for raw in proc.stdout:
            if self.tail:
                # The source stopped mid-line; the destination ends it.
                raw, self.tail = self.tail + raw, b''
            if not raw.endswith(b'\n'):
                self.tail = raw
                break
            self._line(raw)

    def _line(self, raw):
        line = raw.decode('utf-8', 'replace').rstrip('\r\n')
        # Strip terminal escapes SeaBIOS and the kernel emit.
        line = re.sub(r'\x1b\[[0-9;?]*[A-Za-z]|\x1bc', '', line)
        with self.lock:
            self.log.write(line + '\n')
            self.log.flush()
            self.lines.append(line)
        if self.echo:
            print(line, flush=True)
        if line.startswith('VSWAP-SYNC '):
            self.syncs.put(kv(line).get('when', '?'))
        if line.startswith('VSWAP-GUEST-DONE'):
            self.done.set()
        if line.startswith('VSWAP-GUESTMEM '):
            self.guestmem = kv(line)

    def note(self, text):
        """A line of ours in the log (not parsed, not a console line)."""
        with self.lock:
            self.log.write('=== run-guest: %s ===\n' % text)
            self.log.flush()

    def close(self, timeout=5):
        for reader in self.readers:
            reader.join(timeout=timeout)
        if self.tail:
            self._line(self.tail)
            self.tail = b''
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
    """QMP access to one QEMU, through QEMU's own client (qemu.qmp).

    Tolerates a QEMU without query-vswap, and one that goes away: a lost
    connection is dropped, and later calls return None.  Every event the
    connection receives is kept in self.event_log, whatever call it
    arrives during."""

    def __init__(self, sock, name='src', samples=None):
        self.sock = sock
        self.name = name           # which QEMU, in samples: src or dst
        self.conn = None
        self.event_log = []        # every QMP event received, in order
        self.available = None      # query-vswap exists?
        self.samples = [] if samples is None else samples
        self.blk_node = None       # also sample this node's query-blockstats

    def connect(self, timeout=30):
        """Connect once QEMU has created its socket (it may be starting)."""
        deadline = time.monotonic() + timeout
        while True:
            conn = QEMUMonitorProtocol(self.sock, nickname=self.name)
            try:
                conn.connect()
                break
            except QMP_LOST as err:
                if time.monotonic() > deadline:
                    print('run-guest: no QMP on %s: %s' % (self.sock, err),
                          file=sys.stderr)
                    return
                time.sleep(0.05)
        conn.settimeout(30)
        self.conn = conn

    def _collect(self):
        if self.conn:
            self.event_log += self.conn.get_events()

    def drop(self):
        """Forget the connection, keeping the events it received."""
        if not self.conn:
            return
        try:
            self._collect()
            self.conn.close()
        except QMP_LOST:
            pass
        self.conn = None

    def events(self, name=None):
        """QMP events received so far (named NAME), across connections."""
        self._collect()
        return [e for e in self.event_log
                if name is None or e.get('event') == name]

    def wait_event(self, name, timeout):
        """Wait up to TIMEOUT seconds for event NAME; True once seen."""
        deadline = time.monotonic() + timeout
        while not self.events(name):
            left = deadline - time.monotonic()
            if not self.conn or left <= 0:
                return False
            try:
                self.event_log += self.conn.get_events(wait=min(left, 1.0))
            except asyncio.TimeoutError:
                pass
            except QMP_LOST:
                self.drop()
        return True

    def execute(self, name, **args):
        """Run a command; raise qmp.ExecuteError if QEMU refuses it, and
        return None if there is no connection (or it was just lost)."""
        if not self.conn:
            return None
        try:
            return self.conn.cmd(name, **args)
        except qmp.ExecuteError:
            raise
        except QMP_LOST:
            # 'quit' may close the socket before it answers.
            self.drop()
            return None
        finally:
            self._collect()

    def cmd(self, name, **args):
        """execute(), with a refused command printed and answered None."""
        try:
            return self.execute(name, **args)
        except qmp.ExecuteError as err:
            print('run-guest: %s: %s' % (name, err), file=sys.stderr)
            return None

    def sample(self, label):
        """query-vswap into self.samples; None if unavailable."""
        if self.available is False or not self.conn:
            return None
        try:
            ret = self.execute('query-vswap')
        except qmp.ExecuteError as err:
            if self.available is None:
                print('run-guest: query-vswap unavailable (%s); host checks'
                      ' skipped' % err, file=sys.stderr)
            self.available = False
            return None
        if ret is None:
            return None
        self.available = True
        dev = ret[0] if isinstance(ret, list) and ret else ret
        sample = {'t': round(time.monotonic(), 1), 'label': label,
                  'host': self.name, 'stats': dev}
        for blk in (self.cmd('query-blockstats') or []
                    if self.blk_node else []):
            if blk.get('node-name') == self.blk_node:
                sample['wr_bytes'] = blk['stats']['wr_bytes']
        self.samples.append(sample)
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

    def balloon_stats(self, interval=2):
        """Turn on the balloon's guest statistics, every INTERVAL s."""
        return self.cmd('qom-set', path=BALLOON_PATH,
                        property='guest-stats-polling-interval',
                        value=interval) is not None

    def guest_stats(self):
        """The balloon's last guest statistics: {'stat-...': bytes}, with
        'last-update' (0 until the guest driver has reported)."""
        ret = self.cmd('qom-get', path=BALLOON_PATH, property='guest-stats')
        if not ret:
            return None
        stats = dict(ret.get('stats', {}))
        stats['last-update'] = ret.get('last-update', 0)
        return stats

    def balloon_actual(self):
        """Guest memory now, as the balloon has it (bytes), or None."""
        ret = self.cmd('query-balloon')
        return ret.get('actual') if ret else None


class BalloonCheck:
    """Balloon mode, step by step: once the guest's idle memory is
    written, inflate the balloon; once it has reached its target and the
    guest has swapped, deflate and press the power button."""

    def __init__(self, args, host, serial):
        self.args, self.host, self.serial = args, host, serial
        self.phase = 'filling'
        self.t_inflate = None
        self.inflate_s = None       # seconds to reach the target
        self.swap_before = self.swap_after = None
        self.stats = None
        self.actual = None

    def swap_used(self):
        return num(self.serial.guestmem, 'swap_used_kb', 0) << 10

    def step(self):
        """Called about once a second from the main loop."""
        host, a = self.host, self.args
        if self.phase == 'filling':
            if not self.serial.find('VSWAP-IDLE', 'filled'):
                return
            host.balloon_stats(1)
            self.swap_before = self.swap_used()
            host.sample('filled')
            host.cmd('balloon', value=a.balloon_to)
            self.t_inflate = time.monotonic()
            self.phase = 'inflating'
            print('run-guest: balloon to %d MiB (guest swap used %d MiB)' % (
                a.balloon_to >> 20, self.swap_before >> 20), file=sys.stderr)
            return
        if self.phase != 'inflating':
            return
        waited = time.monotonic() - self.t_inflate
        self.actual = host.balloon_actual()
        if self.actual is not None and self.actual <= a.balloon_to + MIB \
                and self.inflate_s is None:
            self.inflate_s = waited
        # Give the guest's monitor line and statistics time to follow.
        if (self.inflate_s is not None and waited >= self.inflate_s + 3) or \
                waited > 180:
            self.stats = host.guest_stats()
            self.swap_after = self.swap_used()
            host.sample('inflated')
            print('run-guest: balloon at %s MiB after %.0f s, guest swap used'
                  ' %d MiB; deflate, power button' % (
                      self.actual and self.actual >> 20, waited,
                      self.swap_after >> 20), file=sys.stderr)
            host.cmd('balloon', value=a.mem)
            host.cmd('system_powerdown')
            self.phase = 'released'

    def verdict(self, check):
        a, st = self.args, self.stats or {}
        check('balloon: inflated to its target', self.inflate_s is not None,
              'actual %s MiB, target %d MiB, after %s s' % (
                  self.actual and self.actual >> 20, a.balloon_to >> 20,
                  self.inflate_s and round(self.inflate_s)))
        check('balloon: guest statistics arrived',
              st.get('last-update', 0) > 0 and
              st.get('stat-available-memory', -1) >= 0,
              'last-update %s, available %s' % (
                  st.get('last-update'), st.get('stat-available-memory')))
        grew = (self.swap_after or 0) - (self.swap_before or 0)
        want = (a.mem - a.balloon_to) // 4
        check('guest swapped onto /dev/vswap0 for the balloon', grew >= want,
              'swap use grew by %d MiB, want %d MiB' % (grew >> 20,
                                                        want >> 20))
        before, after = self.host.last('filled'), self.host.last('inflated')
        if self.host.available and before and after:
            stored = (host_pages(after) - host_pages(before)) * PAGE
            check('host store took the pages', stored >= want // 2,
                  'the store holds %d MiB more' % (stored >> 20))
        idle = self.serial.find('VSWAP-IDLE', 'verified') or {}
        check('guest: idle memory intact after swap-in', idle.get('ok') == '1',
              str(idle))
        done = self.serial.find('VSWAP-GUEST-DONE') or {}
        check('guest: rc=0', done.get('rc') == '0', str(done))
        return {'inflate_s': self.inflate_s, 'swap_before': self.swap_before,
                'swap_after': self.swap_after, 'guest_stats': st,
                'actual': self.actual}


def vqbench_results(serial, host):
    """Per block size: MB/s timed in the guest, requests from the host."""
    out = []
    for line in serial.grep(r'^VSWAP-VQBENCH '):
        d = kv(line)
        bs, nbytes = int(d['bs']), int(d['bytes'])
        marks = [host.last('bs%d-%s' % (bs, m)) for m in
                 ('start', 'written', 'read')]
        if None in marks:
            continue
        r = {'bs': bs, 'bytes': nbytes}
        for op, a, b, secs in (('write', marks[0], marks[1], d['write_s']),
                               ('read', marks[1], marks[2], d['read_s'])):
            secs = max(float(secs), 0.01)   # /proc/uptime counts 10 ms
            reqs = b[op]['requests'] - a[op]['requests']
            pages = b[op]['entries'] - a[op]['entries']
            r.update({op + '_s': secs, op + '_requests': reqs,
                      op + '_mbs': nbytes / secs / 1e6,
                      op + '_rps': reqs / secs,
                      op + '_pages_per_req': pages / reqs if reqs else 0})
        out.append(r)
    return out


def quit_qemu(proc, host=None, timeout=30):
    """Quit a QEMU over QMP (if @host), or kill it if it does not exit.

    The QMP connection is closed here, where a lost peer is expected, not
    at garbage collection, where qemu.qmp would print its EOFError."""
    if proc is not None and proc.poll() is None:
        if host:
            host.cmd('quit')
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if host:
        host.drop()


def host_pages(dev):
    """Pages the host store holds, over all tiers."""
    return sum(dev.get(k, 0) for k in ('pages-mem', 'pages-disk', 'pages-fill'))


def _zstd_decoder():
    """ZSTD_decompress from the system's libzstd, through ctypes: a frame
    of SIZE bytes, or None."""
    import ctypes
    import ctypes.util
    lib = ctypes.CDLL(ctypes.util.find_library('zstd') or 'libzstd.so.1')
    lib.ZSTD_decompress.restype = ctypes.c_size_t
    lib.ZSTD_decompress.argtypes = (ctypes.c_char_p, ctypes.c_size_t,
                                    ctypes.c_char_p, ctypes.c_size_t)
    buf = ctypes.create_string_buffer(GROUP_PAGES * PAGE)

    def decode(data, size=PAGE):
        n = lib.ZSTD_decompress(buf, size, data, len(data))
        return buf.raw[:size] if n == size else None
    return decode


# Group records (format.h): up to 4 pages in one frame, at most 16 KiB.
GROUP_PAGES = 4
GROUP_PAYLOAD_MAX = 16384 - 16


def _record_pages(decode, kind, dict_id, payload):
    """The pages of a record, or None for one this cannot decode (a
    dictionary's, a bad one)."""
    if kind == 1:                       # RAW
        return [payload]
    if kind == 2:                       # ZSTD
        page = decode(payload)
        return [page] if page else None
    if kind == 4 and dict_id == 0:      # ZSTD_GROUP without a dictionary
        n = payload[0]
        if not 2 <= n <= GROUP_PAGES:
            return None
        data = decode(payload[4 + 4 * n:], n * PAGE)
        return [data[i * PAGE:(i + 1) * PAGE] for i in range(n)] \
            if data else None
    return None


def corrupt_store(path, count, seed):
    """Flip one payload byte in records of the checker's pages, until COUNT
    pages are damaged.

    Walks the file as block/vswap-backend/format.h lays it out (superblock,
    segments, records), in a random order, and damages only records whose
    pages all carry the checker's stamp ("VSWP" first): a damaged page of
    the shell or of the checker's own bookkeeping would kill the guest
    rather than test the checker.  A group record damages each of its
    pages.  Returns how many pages were damaged: the most I/O errors the
    checker may see (fewer if some of them were dead)."""
    import random
    import struct
    rng = random.Random(seed)
    decode = _zstd_decoder()
    recs = []
    with open(path, 'r+b') as f:
        sb = f.read(4096)
        magic, _, seg_size, _, data_off = struct.unpack_from('<8sIIQQ', sb)
        if magic != b'VSWAPST1':
            raise RuntimeError('%s: not a vswap store file' % path)
        size = os.fstat(f.fileno()).st_size
        for off in range(data_off, size, seg_size):
            f.seek(off)
            seg = f.read(seg_size)
            if len(seg) < 64 or struct.unpack_from('<Q', seg)[0] != \
                    0x4745535041575356:
                continue                    # a hole or a free segment
            used = min(struct.unpack_from('<I', seg, 24)[0], len(seg))
            pos = 64
            while pos + 16 <= used:
                rmagic, kind, _, rlen, rdict = struct.unpack_from('<HBBHH',
                                                                  seg, pos)
                if rmagic != 0x5652 or not 1 <= rlen <= GROUP_PAYLOAD_MAX \
                        or pos + 16 + rlen > used:
                    break
                recs.append((off + pos + 16, kind, rdict,
                             seg[pos + 16:pos + 16 + rlen]))
                pos += (16 + rlen + 7) & ~7
        rng.shuffle(recs)
        damaged = 0
        for at, kind, rdict, payload in recs:
            if damaged >= count:
                break
            pages = _record_pages(decode, kind, rdict, payload)
            if not pages or any(p[:4] != b'VSWP' for p in pages):
                continue
            at += len(payload) // 2
            f.seek(at)
            b = f.read(1)
            f.seek(at)
            f.write(bytes([b[0] ^ 0x5a]))
            damaged += len(pages)
    return damaged


def host_errors(dev):
    """The error counters of a query-vswap answer."""
    errs = {k: dev.get(k, 0) for k in
            ('checksum-errors', 'malformed-requests', 'writeback-errors')}
    for k in ('read', 'write', 'discard'):
        errs[k + '.errors'] = dev.get(k, {}).get('errors', 0)
    return errs


def migrate(src, dst, uri, timeout):
    """Live-migrate the source (Host SRC) to DST over URI.

    Returns the source's last query-migrate answer; its status is
    "completed" only once the destination runs the guest too."""
    src.sample('migrate-start')
    try:
        # Loopback: do not let the default 128 MiB/s limit the test.
        if (src.execute('migrate-set-parameters',
                        **{'max-bandwidth': 8 << 30}) is None or
                src.execute('migrate', uri=uri) is None):
            return {'status': 'not-started', 'error': 'no QMP'}
    except qmp.ExecuteError as err:
        return {'status': 'not-started', 'error': str(err)}
    deadline = time.monotonic() + timeout
    info = {}
    while time.monotonic() < deadline:
        info = src.cmd('query-migrate') or {'status': 'no QMP'}
        if info.get('status') in ('completed', 'failed', 'cancelled', 'no QMP'):
            break
        time.sleep(0.5)
    else:
        src.cmd('migrate_cancel')
        info['error'] = 'still %s after %.0f s' % (info.get('status'), timeout)
        info['status'] = 'timeout'
        return info
    if info.get('status') != 'completed':
        return info
    src.sample('migrate-end')       # the store as the destination got it
    # The source completes once it has sent everything; the destination
    # may still be loading.
    while time.monotonic() < deadline:
        if ((dst.cmd('query-migrate') or {}).get('status') == 'completed' and
                dst.status() == 'running'):
            dst.sample('migrated')
            return info
        time.sleep(0.2)
    info['error'] = 'destination %s' % dst.status()
    info['status'] = 'dst-not-running'
    return info


def wire_bytes(info):
    """Bytes on the wire from query-migrate: all, guest RAM, the rest."""
    ram = info.get('ram', {})
    total = ram.get('transferred', 0)
    # precopy/downtime/postcopy-bytes count RAM pages and their headers only.
    ram_bytes = sum(ram.get(k, 0) for k in
                    ('precopy-bytes', 'downtime-bytes', 'postcopy-bytes'))
    return total, ram_bytes, total - ram_bytes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--mode', choices=('full', 'smoke', 'pm', 'vqbench',
                                       'broken', 'balloon'), default='full')
    ap.add_argument('--balloon', action='store_true',
                    help='add a virtio-balloon-pci with free page reporting'
                    ' (balloon mode always has one)')
    ap.add_argument('--balloon-to', type=parse_size, default=None,
                    help='balloon mode: the guest size to inflate the'
                    ' balloon to (default 3/8 of --mem)')
    ap.add_argument('--idle-mem', type=parse_size, default=None,
                    help='balloon mode: idle memory the guest holds in a'
                    ' tmpfs (default half of --mem)')
    ap.add_argument('--break', dest='break_how', choices=('stall', 'error'),
                    default='stall', help='broken mode: the device stops'
                    ' answering (x-stall-after), or calls virtio_error()'
                    ' and needs a reset (x-error-after)')
    ap.add_argument('--break-after', type=int, default=1, metavar='N',
                    help='broken mode: requests served after the break point'
                    ' (default 1)')
    ap.add_argument('--bs', default='4096,65536,1048576',
                    help='vqbench block sizes in bytes, commas between')
    ap.add_argument('--accel', default=os.environ.get('VSWAP_ACCEL', 'tcg'))
    ap.add_argument('--qemu', default=os.environ.get(
        'VSWAP_QEMU', os.path.join(TOP, 'build/qemu/qemu-system-x86_64')))
    ap.add_argument('--kver', default=default_kver(),
                    help='guest kernel release: its modules and headers'
                    ' build the initramfs (default: the newest 6.1 kernel'
                    ' installed, %(default)s)')
    ap.add_argument('--kernel', help='default /boot/vmlinuz-KVER, or with'
                    ' --builtin the bzImage that build-kernel.sh builds (or'
                    ' takes from its cache)')
    ap.add_argument('--builtin', action='store_true',
                    help='the kernel has virtio and virtio_vswap built in'
                    ' (guest-kernel-patch/build-kernel.sh): the initramfs'
                    ' holds no modules, --kver is not used')
    ap.add_argument('--initrd', help='use this initramfs instead of building')
    ap.add_argument('--debug-module', action='store_true',
                    help='build the driver with VSWAP_DEBUG (debug_* params)')
    ap.add_argument('--corpus', default=None,
                    help='corpus file for the checker, or "none" (default:'
                    ' python-heap.pages of $VSWAP_CORPUS, or of build/corpus,'
                    ' which scripts/make-corpus.py makes if need be)')
    ap.add_argument('--mem', default='256M', type=parse_size)
    ap.add_argument('--smp', default=2, type=int)
    ap.add_argument('--checker', default=None, type=parse_size,
                    help='memory the checker fills (default 640M; broken'
                    ' mode: 32M)')
    ap.add_argument('--seed', default=1, type=int)
    ap.add_argument('--capacity', type=int, default=262144,
                    help='device slots (default 262144 = 1 GiB)')
    ap.add_argument('--num-queues', type=int, default=None)
    ap.add_argument('--iothread', action='store_true',
                    help='serve the device\'s queues from an IOThread')
    ap.add_argument('--store-opts', default=None,
                    help='use a disk-backed -object vswap-store with these'
                         ' options, e.g. "mem-budget=16M,segment-size=1M";'
                         ' the store file goes in the log directory')
    ap.add_argument('--store-node', default=None, metavar='BLOCKDEV',
                    help='put the store on this -blockdev node instead of a'
                         ' file in the log directory, e.g. "driver=rbd,'
                         'pool=vswap,image=vm1,conf=build/ceph/ceph.conf" or'
                         ' "driver=nbd,server.type=unix,server.path=S,'
                         'export=vm1"; both QEMUs of --migrate-shared open'
                         ' it; implies --store-opts')
    ap.add_argument('--throttle-write', type=parse_size, default=None,
                    metavar='BYTES',
                    help='put a throttle filter node (x-bps-write=BYTES per'
                         ' second) between the store and its file, and'
                         ' require the store\'s write rate, from'
                         ' query-blockstats, to stay within it while the'
                         ' guest presses against it; implies --store-opts')
    ap.add_argument('--corrupt-store', type=int, default=0, metavar='N',
                    help='once the checker has written every page, damage N'
                         ' records in the store file; the guest must see I/O'
                         ' errors (SIGBUS), never wrong data; needs'
                         ' --store-opts')
    ap.add_argument('--compact-during', action='store_true',
                    help='ask for vswap-compact while the checker swaps and'
                         ' require the pass to finish')
    ap.add_argument('--demo', action='store_true',
                    help='print the guest\'s and the host\'s view side by'
                         ' side at every sample')
    ap.add_argument('--migrate', action='store_true',
                    help='live-migrate the guest, while it swaps, to a second'
                         ' QEMU over a unix socket; the checker finishes there')
    ap.add_argument('--migrate-shared', action='store_true',
                    help='--migrate with shared storage: both QEMUs open the'
                         ' same store file (shared=on); implies --store-opts')
    ap.add_argument('--migrate-at', type=parse_size, default=None,
                    help='start migrating once the guest\'s swap holds this'
                         ' much (default 1.5 x --mem)')
    ap.add_argument('--migrate-timeout', type=float, default=150,
                    help='seconds the migration may take (default 150)')
    ap.add_argument('--device-opts', default='',
                    help='extra virtio-vswap-pci options, e.g. max-batch=64')
    ap.add_argument('--modparams', default='',
                    help='driver parameters, e.g. "max_batch=64 free_notify=0"')
    ap.add_argument('--append', default='', help='extra kernel arguments')
    ap.add_argument('--timeout', type=float, default=None,
                    help='seconds (default 1800; broken mode: 300)')
    ap.add_argument('--sample', type=float, default=15,
                    help='seconds between query-vswap samples')
    ap.add_argument('--logdir', default=os.path.join(TOP, 'build/guest/logs'))
    ap.add_argument('--verbose', '-v', action='store_true',
                    help='echo the serial console')
    args = ap.parse_args()
    if (args.store_node is not None or args.throttle_write) and \
            args.store_opts is None:
        args.store_opts = ''
    if args.throttle_write and (args.migrate or args.migrate_shared):
        ap.error('--throttle-write does not go with --migrate')
    if args.store_node is not None and args.migrate and \
            not args.migrate_shared:
        ap.error('--store-node with --migrate needs --migrate-shared: both'
                 ' QEMUs open the one node')
    if args.migrate_shared:
        args.migrate = True
        if args.store_opts is None:
            args.store_opts = ''
    if args.migrate and args.mode != 'full':
        ap.error('--migrate needs --mode full')
    if args.corrupt_store and (args.store_opts is None or args.migrate or
                               args.compact_during or args.store_node):
        ap.error('--corrupt-store needs --store-opts, without --migrate,'
                 ' --compact-during or --store-node')
    if args.mode == 'balloon':
        args.balloon = True
        args.balloon_to = args.balloon_to or args.mem * 3 // 8
        args.idle_mem = args.idle_mem or args.mem // 2
        if args.timeout is None:
            args.timeout = 600
    if args.migrate_at is None:
        args.migrate_at = args.mem * 3 // 2
    if args.timeout is None:
        args.timeout = 300 if args.mode == 'broken' else 1800
    if args.checker is None:
        args.checker = (32 if args.mode == 'broken' else 640) << 20
    if args.mode == 'smoke':
        # The host forgets slot 7 once written: the guest must notice.
        args.device_opts = ','.join(filter(None, [args.device_opts,
                                                  'x-forget-slot=7']))
    if args.mode == 'broken':
        args.modparams = ' '.join(filter(None, [args.modparams,
                                                'io_timeout=5']))
        args.append = ' '.join(filter(None, [args.append,
                                             'vswap.hung_task=20']))

    if args.builtin and args.debug_module:
        ap.error('--debug-module needs the module, not --builtin')
    if not os.access(args.qemu, os.X_OK):
        fail("no QEMU at %s: build it with 'make qemu', or set VSWAP_QEMU"
             % args.qemu)
    if args.corpus is None:
        args.corpus = default_corpus()
    if args.builtin and not args.kernel:
        # Built, or taken from its cache, by build-kernel.sh.
        args.kernel = run_step('building the guest kernel', [os.path.join(
            TOP, 'guest-kernel-patch/build-kernel.sh')])
    args.kernel = args.kernel or '/boot/vmlinuz-' + args.kver
    if not os.path.isfile(args.kernel):
        fail('no guest kernel at %s: install linux-image-amd64 with'
             ' scripts/install-deps.sh, or pass --kernel' % args.kernel)
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
        if args.builtin:
            build.append('--builtin')
        initrd = run_step('building the initramfs', build)

    append = ['console=ttyS0', 'loglevel=4', 'panic=-1', 'zswap.enabled=0',
              'vswap.mode=%s' % ('full' if args.mode == 'balloon'
                                 else args.mode),
              'vswap.checker=%dK' % (args.checker >> 10),
              'vswap.seed=%d' % args.seed]
    if args.mode == 'vqbench':
        append.append('vswap.bs=' + args.bs)
    if args.mode == 'balloon':
        append += ['vswap.workload=idle', 'vswap.monitor=1',
                   'vswap.idle_mem=%dK' % (args.idle_mem >> 10)]
    if args.corrupt_store:
        append.append('vswap.checker_hold=5')
    append += ['virtio_vswap.' + p for p in args.modparams.split()]
    if args.append:
        append.append(args.append)
    store_path = dst_store = None
    if args.store_node is not None:
        store_path = dst_store = 'node'
    elif args.store_opts is not None:
        store_path = os.path.join(args.logdir, 'store-%d.vswap' % os.getpid())
        # Shared storage: the destination opens the source's file.
        dst_store = store_path if args.migrate_shared else \
            os.path.join(args.logdir, 'store-%d-dst.vswap' % os.getpid())
    dst_sock = os.path.join(args.logdir, 'qmp-%d-dst.sock' % os.getpid())
    mig_uri = 'unix:' + os.path.join(args.logdir, 'mig-%d.sock' % os.getpid())

    def qemu_cmd(qmp_sock, store, incoming=None):
        objects = []
        if store and args.throttle_write:
            # The filter is what the store writes through: its node.
            base = args.store_node or (
                'driver=file,filename=%s,aio=io_uring,discard=unmap' % store)
            objects = ['-object', 'throttle-group,id=vswap-tg,x-bps-write=%d'
                       % args.throttle_write,
                       '-blockdev', base + ',node-name=vswap-base',
                       '-blockdev', 'driver=throttle,throttle-group=vswap-tg,'
                       'file=vswap-base,node-name=vswap-node']
            where = 'file=vswap-node'
        elif store and args.store_node is not None:
            objects = ['-blockdev', args.store_node + ',node-name=vswap-node']
            where = 'file=vswap-node'
        elif store:
            where = 'path=' + store
        if store:
            objects += ['-object', 'vswap-store,id=vs0,%s,size=%d%s%s' % (
                where, args.capacity * PAGE,
                ',shared=on' if args.migrate_shared else '',
                ',' + args.store_opts if args.store_opts else '')]
            dev = 'virtio-vswap-pci,id=vswap0,store=vs0'
        else:
            dev = 'virtio-vswap-pci,id=vswap0,capacity=%d' % args.capacity
        if args.num_queues:
            dev += ',num-queues=%d' % args.num_queues
        if args.iothread:
            objects += ['-object', 'iothread,id=vswap-io0']
            dev += ',iothread=vswap-io0'
        if args.device_opts:
            dev += ',' + args.device_opts
        if args.balloon:
            objects += balloon_args()
        return [args.qemu,
                '-machine', 'q35,accel=%s' % args.accel,
                '-m', '%dM' % (args.mem >> 20), '-smp', str(args.smp),
                '-kernel', args.kernel, '-initrd', initrd,
                '-append', ' '.join(append),
                '-nographic', '-nodefaults', '-serial', 'stdio',
                '-no-reboot', '-no-shutdown',
                ] + objects + [
                '-device', dev,
                '-qmp', 'unix:%s,server=on,wait=off' % qmp_sock,
                ] + (['-incoming', incoming] if incoming else [])

    if args.throttle_write and not args.store_node:
        open(store_path, 'wb').close()      # a file node does not create it
    cmd = qemu_cmd(sock, store_path)
    print('run-guest: %s' % ' '.join(cmd), file=sys.stderr)
    print('run-guest: serial log %s' % log_path, file=sys.stderr)

    t0 = time.monotonic()
    if args.demo:
        demo_header()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    serial = Serial(log_path, args.verbose)
    reader = serial.follow(proc)
    host = Host(sock)
    if args.throttle_write:
        host.blk_node = 'vswap-node'
    host.connect()
    host.sample('boot')

    timed_out = False
    corrupted = None        # records damaged by --corrupt-store
    compact_asked = False
    mig = None              # the source's query-migrate once migrated
    switch_line = None      # console lines before the destination's
    dst_proc = None
    events = []             # QMP events of the source, once left
    bal = BalloonCheck(args, host, serial) if args.mode == 'balloon' else None
    next_sample = time.monotonic() + args.sample
    while not serial.done.is_set() and proc.poll() is None:
        if time.monotonic() - t0 > args.timeout:
            timed_out = True
            break
        try:
            # The guest pauses after VSWAP-SYNC for us to sample.
            label = serial.syncs.get(timeout=1)
            st = host.sample(label)
            if label == 'break' and args.mode == 'broken':
                # Through the PCI proxy's alias of the device's property.
                host.cmd('qom-set', path='/machine/peripheral/vswap0',
                         property='x-%s-after' % args.break_how,
                         value=args.break_after)
                print('run-guest: device broken: x-%s-after=%d' % (
                    args.break_how, args.break_after), file=sys.stderr)
            if label == 'write1' and args.corrupt_store:
                corrupted = corrupt_store(store_path, args.corrupt_store,
                                          args.seed)
                print('run-guest: damaged the records of %d pages in the'
                      ' store file (%d pages on disk)' % (
                          corrupted, st.get('pages-disk', 0) if st else 0),
                      file=sys.stderr)
                serial.note('host damaged the records of %d pages'
                            % corrupted)
            continue
        except queue.Empty:
            pass
        if bal:
            bal.step()
        swap_used = num(serial.guestmem, 'swap_used_kb', 0) << 10
        if args.migrate and mig is None and swap_used >= args.migrate_at:
            out = sys.stdout if args.demo else sys.stderr
            print('run-guest: migrating to a second QEMU at %d MiB of swap'
                  ' used' % (swap_used >> 20), file=out, flush=True)
            serial.note('migration starts')
            dst_proc = subprocess.Popen(
                qemu_cmd(dst_sock, dst_store, mig_uri),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT)
            # Its console goes on where the source's stops.
            serial.follow(dst_proc, after=reader)
            dst_host = Host(dst_sock, 'dst', host.samples)
            dst_host.connect()
            mig = migrate(host, dst_host, mig_uri, args.migrate_timeout)
            mig['swap-used-bytes'] = swap_used
            print('run-guest: migration %s%s: %d bytes on the wire, %s ms,'
                  ' downtime %s ms' % (mig.get('status'),
                                       ' (%s)' % mig['error'] if 'error' in mig
                                       else '', wire_bytes(mig)[0],
                                       mig.get('total-time'),
                                       mig.get('downtime')), file=out,
                  flush=True)
            if mig.get('status') == 'completed':
                # The source is done; in shared mode its teardown must not
                # touch the file the destination now owns.
                events += host.events()
                quit_qemu(proc, host)
                reader.join(timeout=5)
                serial.note('the source quit; the console continues on'
                            ' the destination')
                switch_line = len(serial.lines)
                proc, host = dst_proc, dst_host
            next_sample = time.monotonic() + args.sample
            continue
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
        status = host.status()
        if args.mode == 'pm' and status == 'suspended':
            print('run-guest: guest suspended; system_wakeup', file=sys.stderr)
            time.sleep(1)
            host.cmd('system_wakeup')
        # A guest that panicked stops (-no-reboot) without a DONE line.
        if status in ('shutdown', 'guest-panicked'):
            time.sleep(1)           # let the console catch up
            break
    guest_seconds = time.monotonic() - t0

    # The guest powers off; with -no-shutdown QEMU stays to be asked.
    deadline = time.monotonic() + 30
    while (not timed_out and proc.poll() is None and
           host.status() not in ('shutdown', None) and
           time.monotonic() < deadline):
        time.sleep(0.2)
    final = host.sample('end')
    # QEMU stopping by itself (not asked to quit) is a failure: say why.
    early_exit = proc.poll()
    quit_qemu(proc, host)
    # A destination left behind by a failed migration.
    if dst_proc and dst_proc is not proc and dst_proc.poll() is None:
        dst_proc.kill()
        dst_proc.wait()
    serial.close()
    files = [sock, dst_sock, mig_uri[len('unix:'):]]
    if args.store_node is None:
        files += [store_path, dst_store]
    for path in files:
        if path and os.path.exists(path):
            os.unlink(path)

    # --- verdict ---
    checks = []

    def check(name, ok, detail=''):
        checks.append({'check': name, 'ok': bool(ok), 'detail': detail})

    check('no timeout', not timed_out, '%.0f s' % guest_seconds)
    qemu_said = [ln for ln in serial.lines if 'qemu-system' in ln]
    check('QEMU ran until asked to quit', early_exit is None,
          '' if early_exit is None else 'exited with status %s%s' % (
              early_exit, ': ' + qemu_said[-1] if qemu_said else ''))
    guest_fail = serial.grep(r'^VSWAP-GUEST-FAIL')
    check('guest steps', not guest_fail, guest_fail[-1] if guest_fail else '')
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
        st = serial.find('VSWAP-STATS', 'smoke') or {}
        result['smoke'] = smoke
        print('run-guest: one page of I/O: %s, discard: %s' % (
            smoke.get('io'), smoke.get('discard')), file=sys.stderr)
        check('a slot never written reads as zeros',
              smoke.get('probe') == 'zeros', str(smoke.get('probe')))
        check('a written slot the host lost reads as an I/O error',
              smoke.get('lost') == 'eio', str(smoke.get('lost')))
        check('driver: lost_reads counts it', num(st, 'lost_reads') == 1,
              'lost_reads=%s' % st.get('lost_reads'))
        warned = serial.grep(r'the host lost written slots')
        check('driver: logged the loss', warned, warned[0] if warned else '')
    elif args.mode == 'broken':
        broken = serial.find('VSWAP-BROKEN') or {}
        st = serial.find('VSWAP-STATS', 'broken') or {}
        result['broken'] = broken
        why = serial.grep(r'giving the device up')
        want = 'got no answer' if args.break_how == 'stall' else \
            'DEVICE_NEEDS_RESET'
        check('driver: logged why it gave the device up',
              why and want in why[0], why[0] if why else '')
        chk = serial.find('CHECKER') or {}
        reclaim = serial.find('VSWAP-RECLAIM') or {}
        check('checker\'s pages were on swap', num(reclaim, 'swap_kb', 0) >=
              args.checker // 2048, 'swap_kb=%s' % reclaim.get('swap_kb'))
        # The checker counts SIGBUS on its data pages; a swapped-out page
        # of its own stack or bookkeeping kills it instead.
        read_errors = serial.grep(r'Read-error on swap-device')
        check('checker: swap-ins failed as I/O errors, and it ended',
              read_errors and 'checker_rc' in broken and
              (num(chk, 'io_errors', 0) >= 1 or
               num(broken, 'checker_rc', 0) > 128) and
              num(chk, 'mismatches', 0) == 0,
              'rc=%s io_errors=%s mismatches=%s after %s s; %s' % (
                  broken.get('checker_rc'), chk.get('io_errors'),
                  chk.get('mismatches'), broken.get('checker_s'),
                  read_errors[0] if read_errors else 'no read error'))
        check('I/O after that fails at once', broken.get('probe') == 'eio'
              and float(broken.get('probe_s', 99)) < 2,
              '%s in %s s' % (broken.get('probe'), broken.get('probe_s')))
        check('swapoff returned', 'swapoff_rc' in broken,
              'rc=%s after %s s' % (broken.get('swapoff_rc'),
                                    broken.get('swapoff_s')))
        check('driver: counted failed requests', num(st, 'io_errors', 0) >= 1,
              'io_errors=%s' % st.get('io_errors'))
    elif args.mode == 'vqbench':
        result['vqbench'] = vqbench_results(serial, host)
        check('vqbench: every block size ran',
              len(result['vqbench']) == len(args.bs.split(',')),
              '%d of %d' % (len(result['vqbench']), len(args.bs.split(','))))
        for r in result['vqbench']:
            print('run-guest: vqbench bs=%(bs)d write %(write_mbs).1f MB/s'
                  ' %(write_rps).0f req/s (%(write_pages_per_req).1f pages/req),'
                  ' read %(read_mbs).1f MB/s %(read_rps).0f req/s'
                  ' (%(read_pages_per_req).1f pages/req)' % r, file=sys.stderr)
    elif args.mode == 'balloon':
        result['balloon'] = bal.verdict(check)
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
        io_errors = num(chk or {}, 'io_errors', 0)
        if args.corrupt_store:
            # Damaged records must read as I/O errors: SIGBUS in the guest.
            check('host damaged pages', corrupted, str(corrupted))
            # No more than the pages damaged: an error on any other page
            # would be a page lost.  Fewer if a damaged record was dead.
            check('checker: damaged pages seen as I/O errors',
                  1 <= io_errors <= (corrupted or 0),
                  'io_errors=%d, %s pages damaged' % (io_errors, corrupted))
        else:
            check('checker: no I/O error', io_errors == 0,
                  'io_errors=%d' % io_errors)
        check('pswpout >= guest RAM', pswpout >= ram_pages,
              '%d pages, RAM %d pages' % (pswpout, ram_pages))
        if 'zswap.enabled=1' in args.append:
            # zswap took pages first; what it wrote back reached vswap.
            zswpout = num(after, 'zswpout', 0) - num(before, 'zswpout', 0)
            check('zswap in front stored pages', zswpout > 0,
                  'zswpout=%d, zswpwb=%d' % (zswpout, num(after, 'zswpwb', 0)
                                             - num(before, 'zswpwb', 0)))
        drv_errors = num(st_off or st_after, 'io_errors', 0)
        if args.corrupt_store:
            # Failed requests, not pages: a damaged page may be read more
            # than once (readahead, then the fault), and one request may
            # carry several (the pages of a group were swapped out
            # together, and are read together).
            check('driver: saw the I/O errors', drv_errors >= 1,
                  'io_errors=%d requests' % drv_errors)
        else:
            check('driver: no I/O error', drv_errors == 0,
                  'io_errors=%d' % drv_errors)
        result.update({'checker': chk, 'pswpout': pswpout, 'pswpin': pswpin,
                       'driver_after': st_after, 'driver_swapoff': st_off})
        at_swapoff = host.last('swapoff')
        if args.migrate:
            m = mig or {'status': 'not started', 'swap-used-bytes': 0}
            check('migration completed', m['status'] == 'completed',
                  '%s%s, started at %d MiB of swap used' % (
                      m['status'], ' (%s)' % m['error'] if 'error' in m else '',
                      m['swap-used-bytes'] >> 20))
            # The checker was still running when the guest moved.
            check('checker finished on the destination', switch_line is not
                  None and any(ln.startswith('CHECKER ') for ln in
                               serial.lines[switch_line:]),
                  'console line %s of %d' % (switch_line, len(serial.lines)))
        if host.available and final:
            errs = host_errors(final)
            if args.corrupt_store:
                # Checksum failures, reported as read errors: nothing else.
                check('host: checksum errors reported',
                      errs.pop('checksum-errors') >= 1 and
                      errs.pop('read.errors') >= 1, str(host_errors(final)))
            check('host: no errors', not any(errs.values()), str(errs))
            src_end = host.last('migrate-end')
            if src_end:
                errs = host_errors(src_end)
                check('source host: no errors', not any(errs.values()),
                      str(errs))
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
                events = [e for e in events + host.events()
                          if e.get('event') == 'VSWAP_COMPACT_COMPLETED']
                check('host: compaction while swapping', compact_asked and
                      events and final.get('compactions', 0) >= 1,
                      'asked=%s events=%d compactions=%s' % (
                          compact_asked, len(events), final.get('compactions')))
            result['host_at_swapoff'] = at_swapoff
            result['host_final'] = final
        elif host.available is False:
            check('host stats (query-vswap)', True, 'skipped: not available')

    if args.migrate and mig:
        wire, wire_ram, wire_other = wire_bytes(mig)
        src_start = host.last('migrate-start') or {}
        src_end = host.last('migrate-end') or {}
        result['migration'] = {
            'shared': args.migrate_shared, 'uri': mig_uri,
            'status': mig.get('status'), 'error': mig.get('error'),
            'swap_used_bytes': mig.get('swap-used-bytes'),
            'total_ms': mig.get('total-time'), 'downtime_ms': mig.get('downtime'),
            'setup_ms': mig.get('setup-time'),
            'wire_bytes': wire, 'wire_ram_bytes': wire_ram,
            'wire_other_bytes': wire_other,
            'store_payload_bytes_start': src_start.get('payload-bytes'),
            'store_payload_bytes_end': src_end.get('payload-bytes'),
            'store_pages_end': host_pages(src_end) if src_end else None,
            'store_disk_pages_end': src_end.get('pages-disk'),
            'store_sent': src_end.get('migration-sent'),
            'ram_bytes': args.mem, 'query_migrate': mig}
        if args.migrate_shared and mig.get('status') == 'completed':
            # Pages in the file travel as 21-byte references (22 for a
            # member of a group record), so the device state sent is well
            # below what the store holds.
            payload = src_end.get('payload-bytes', 0)
            sent = src_end.get('migration-sent') or {}
            refs = sent.get('refs', 0) + sent.get('member-refs', 0)
            check('shared storage: disk pages sent as references',
                  src_end.get('pages-disk', 0) > 0 and refs > 0 and
                  wire_other < payload,
                  '%d bytes of device state sent, %d of payload stored'
                  ' (%d pages on disk); %d references (%d to group'
                  ' members), %d records of %d bytes' % (
                      wire_other, payload, src_end.get('pages-disk', 0),
                      refs, sent.get('member-refs', 0),
                      sent.get('records', 0), sent.get('record-bytes', 0)))

    if args.throttle_write:
        # Write rates between samples at least 4 s apart, from the store's
        # own BlockBackend (above the filter).
        pts = [(x['t'], x['wr_bytes']) for x in host.samples
               if 'wr_bytes' in x]
        rates, last = [], None
        for t, wr in pts:
            if last is None or wr < last[1]:
                last = (t, wr)
            elif t - last[0] >= 4:
                rates.append((wr - last[1]) / (t - last[0]))
                last = (t, wr)
        cap = args.throttle_write
        peak = max(rates, default=0)
        pressed = sum(1 for r in rates if r >= 0.7 * cap)
        result['throttle'] = {'cap': cap, 'rates': [round(r) for r in rates],
                              'wr_bytes': pts[-1][1] if pts else 0}
        check('throttle: write rate within the cap', rates and
              peak <= 1.2 * cap, 'peak %.2f MiB/s over %d windows, cap %.2f'
              ' MiB/s' % (peak / 2**20, len(rates), cap / 2**20))
        check('throttle: the guest pressed against the cap', pressed >= 3,
              '%d windows at 70%% of the cap or more' % pressed)

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
        summary += (' pages=%s mismatches=%s io_errors=%s checker_seconds=%s'
                    ' pswpout=%d pswpin=%d') % (
            chk.get('pages'), chk.get('mismatches'), chk.get('io_errors'),
            chk.get('seconds'),
            result['pswpout'], result['pswpin'])
        if 'host_peak_pages' in result:
            summary += ' host_peak_pages=%d host_swapoff_pages=%s' % (
                result['host_peak_pages'],
                host_pages(result['host_at_swapoff'])
                if result['host_at_swapoff'] else None)
    m = result.get('migration')
    if m:
        # wire: all bytes the source sent; ram: guest RAM pages; other:
        # device state, nearly all of it the vswap store's section.
        summary += (' migration=%s shared=%d wire_bytes=%d wire_ram_bytes=%d'
                    ' wire_other_bytes=%d mig_total_ms=%s downtime_ms=%s'
                    ' store_payload_bytes=%s ram_bytes=%d') % (
            m['status'], m['shared'], m['wire_bytes'], m['wire_ram_bytes'],
            m['wire_other_bytes'], m['total_ms'], m['downtime_ms'],
            m['store_payload_bytes_end'], m['ram_bytes'])
    summary += ' log=%s' % log_path
    print(summary)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
