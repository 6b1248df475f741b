# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared parts of the guest benchmarks (migration-bench.py, guest-bench.py).

The guest, its console and its QMP come from tests/guest/run-guest.py,
imported as a module so that the benches boot exactly what the guest test
boots; this file adds what only the benches need: the QEMU command line
for each swap device, a byte-counting socket relay, host-side resource
samples and medians.
"""
import importlib.util
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = 4096
MIB = 1 << 20

_spec = importlib.util.spec_from_file_location(
    'run_guest', os.path.join(TOP, 'tests/guest/run-guest.py'))
rg = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rg)
qmp = rg.qmp

DEFAULT_QEMU = os.environ.get(
    'VSWAP_QEMU', os.path.join(TOP, 'build/qemu/qemu-system-x86_64'))
DEFAULT_ACCEL = os.environ.get('VSWAP_ACCEL', 'tcg')


class BenchError(Exception):
    """A run that cannot count: the bench must exit non-zero."""


def add_guest_args(ap, smp_help, checker_help):
    """The options every bench's guest takes: QEMU, kernel, corpus, size."""
    ap.add_argument('--qemu', default=DEFAULT_QEMU)
    ap.add_argument('--accel', default=DEFAULT_ACCEL)
    ap.add_argument('--kver', default=rg.default_kver())
    ap.add_argument('--corpus', default=os.path.join(
        TOP, '..', 'shared', 'corpus', 'python-heap.pages'))
    ap.add_argument('--mem', type=rg.parse_size, default='256M')
    ap.add_argument('--smp', type=int, default=1, help=smp_help)
    ap.add_argument('--checker', type=rg.parse_size, default=None,
                    help=checker_help)


def build_initramfs(kver, corpus):
    """The guest test's initramfs plus the benches' modules and programs."""
    cmd = [os.path.join(TOP, 'tests/guest/build-initramfs.sh'), '--bench',
           '--kver', kver, '--corpus', corpus]
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE,
                          text=True).stdout.strip()


def loadavg():
    with open('/proc/loadavg') as f:
        return ' '.join(f.read().split()[:3])


def machine():
    """One line about the host, for the record."""
    model = '?'
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                model = line.split(':', 1)[1].strip()
                break
    with open('/proc/meminfo') as f:
        mem = int(f.readline().split()[1]) >> 20
    return '%s, %d CPUs, %d GiB RAM, Linux %s' % (
        model, os.cpu_count(), mem, os.uname().release)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Relay:
    """Forward a unix socket to another and count the bytes each way.

    Put between a migration (or NBD) client and its server, it measures
    what actually crossed the wire, independent of what either QEMU
    reports.  The target socket must exist when a client connects."""

    def __init__(self, listen_path, target_path):
        self.listen_path, self.target_path = listen_path, target_path
        self.lock = threading.Lock()
        self.up = 0        # client -> server bytes
        self.down = 0      # server -> client bytes
        self.conns = 0
        if os.path.exists(listen_path):
            os.unlink(listen_path)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(listen_path)
        self.srv.listen(4)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.srv.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                server.connect(self.target_path)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += 1
            for a, b, up in ((client, server, True), (server, client, False)):
                threading.Thread(target=self._pump, args=(a, b, up),
                                 daemon=True).start()

    def _pump(self, src, dst, up):
        buf = bytearray(1 << 20)
        try:
            while True:
                n = src.recv_into(buf)
                if not n:
                    break
                dst.sendall(memoryview(buf)[:n])
                with self.lock:
                    if up:
                        self.up += n
                    else:
                        self.down += n
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def total(self):
        with self.lock:
            return self.up + self.down

    def close(self):
        self.srv.close()
        if os.path.exists(self.listen_path):
            os.unlink(self.listen_path)


def proc_status(pid):
    """VmRSS and VmHWM of a process, in bytes ({} once it is gone)."""
    out = {}
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                key = line.split(':', 1)[0]
                if key in ('VmRSS', 'VmHWM'):
                    out[key] = int(line.split()[1]) << 10
        with open('/proc/%d/io' % pid) as f:
            for line in f:
                key, val = line.split(':')
                if key in ('read_bytes', 'write_bytes'):
                    out[key] = int(val)
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        # utime and stime, in clock ticks.
        tick = os.sysconf('SC_CLK_TCK')
        out['cpu_s'] = (int(fields[11]) + int(fields[12])) / tick
    except (OSError, ValueError, IndexError):
        pass
    return out


def allocated(path):
    """Bytes a file occupies on disk (st_blocks x 512), 0 if absent."""
    try:
        return os.stat(path).st_blocks * 512
    except OSError:
        return 0


def event_time(ev):
    ts = ev.get('timestamp', {})
    return ts.get('seconds', 0) + ts.get('microseconds', 0) / 1e6


def last_event(events, name):
    hits = [e for e in events if e.get('event') == name]
    return hits[-1] if hits else None


def fmt_bytes(n):
    return '-' if n is None else '%.1f MB' % (n / 1e6)


def fmt(v, spec='%.2f'):
    return '-' if v is None else spec % v


def table(header, rows):
    """A markdown table, as docs/benchmarks.md quotes it."""
    out = ['| ' + ' | '.join(header) + ' |',
           '| ' + ' | '.join('---' for _ in header) + ' |']
    out += ['| ' + ' | '.join(str(c) for c in r) + ' |' for r in rows]
    return '\n'.join(out)


def wait_for(pred, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def log(msg):
    print('[%s] %s' % (time.strftime('%H:%M:%S'), msg), file=sys.stderr,
          flush=True)
