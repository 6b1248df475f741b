#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Requests per second and MB/s through virtio-vswap's virtqueue, with
batching on and off, driven from a real guest.

Each run boots the test guest in vqbench mode (tests/guest/run-guest.py
--mode vqbench): the guest writes the corpus file to /dev/vswap0 with
O_DIRECT at several block sizes and reads it back, timing each pass; the
host's query-vswap counters give the requests and pages per request.

  batching on   the device offers max-batch=256: one request carries up
                to 256 pages (1 MiB)
  batching off  max-batch=1: every page is a request of its own

The set-ups run interleaved, --reps times each, and the medians are
printed as a Markdown table, with the ratio on/off taken within each
repetition.  Under TCG the absolute figures mostly measure the emulated
guest; the ratios are what count.  Exits non-zero if a run fails.

  bench/vq-bench.py [--reps 3] [--iothread] [--accel tcg|kvm]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_GUEST = os.path.join(TOP, 'tests/guest/run-guest.py')

SETUPS = (('batching on', 'max-batch=256'), ('batching off', 'max-batch=1'))


def run(setup_opts, args):
    """One guest run; returns its vqbench results by block size."""
    cmd = [sys.executable, RUN_GUEST, '--mode', 'vqbench', '--bs', args.bs,
           '--device-opts', setup_opts, '--accel', args.accel,
           '--smp', str(args.smp)]
    if args.iothread:
        cmd.append('--iothread')
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ''
    if out.returncode != 0:
        sys.stderr.write(out.stderr[-3000:])
        sys.exit('vq-bench: guest run failed: %s' % last)
    log = dict(t.split('=', 1) for t in last.split() if '=' in t)['log']
    with open(log[:-len('.log')] + '.json') as f:
        return {r['bs']: r for r in json.load(f)['vqbench']}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--bs', default='4096,65536,1048576')
    ap.add_argument('--iothread', action='store_true',
                    help='serve the queues from an IOThread')
    ap.add_argument('--accel', default=os.environ.get('VSWAP_ACCEL', 'tcg'))
    ap.add_argument('--smp', type=int, default=2)
    args = ap.parse_args()

    runs = {name: [] for name, _ in SETUPS}
    for rep in range(args.reps):
        for name, opts in SETUPS:
            print('vq-bench: repetition %d/%d, %s' % (rep + 1, args.reps, name),
                  file=sys.stderr, flush=True)
            runs[name].append(run(opts, args))

    sizes = [int(b) for b in args.bs.split(',')]
    print('| block | set-up | write MB/s | write req/s | pages/req |'
          ' read MB/s | read req/s | pages/req |')
    print('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |')
    for bs in sizes:
        for name, _ in SETUPS:
            rs = [r[bs] for r in runs[name]]

            def med(key, rs=rs):
                return statistics.median(r[key] for r in rs)
            print('| %d KiB | %s | %.1f | %.0f | %.1f | %.1f | %.0f | %.1f |' % (
                bs >> 10, name, med('write_mbs'), med('write_rps'),
                med('write_pages_per_req'), med('read_mbs'), med('read_rps'),
                med('read_pages_per_req')))
    print()
    print('| block | write MB/s on/off | read MB/s on/off |')
    print('| ---: | ---: | ---: |')
    on, off = (runs[name] for name, _ in SETUPS)
    for bs in sizes:
        w = statistics.median(a[bs]['write_mbs'] / b[bs]['write_mbs']
                              for a, b in zip(on, off))
        r = statistics.median(a[bs]['read_mbs'] / b[bs]['read_mbs']
                              for a, b in zip(on, off))
        print('| %d KiB | %.2f | %.2f |' % (bs >> 10, w, r))
    return 0


if __name__ == '__main__':
    sys.exit(main())
