#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""vswap-overcommitd against a real QEMU, over QMP.

One QEMU (qtest accelerator, no guest) with a vswap-store, a
virtio-vswap-pci and a virtio-balloon-pci with free-page-reporting=on;
a second configured VM whose QMP socket does not exist; and a third that
is a hostile QMP server (a greeting, then a reply longer than the client
accepts).  Host pressure comes from files in a private proc root and
cgroup directory, so the test sets it.  Checked, in order:

  1. pressure high: the store's mem-budget is lowered, step by step, to
     the floor (there are no guest stats to balloon on), each decision
     logged with its reason; the missing VM and the hostile one get a
     clear error each and the daemon keeps going;
  2. status (control socket): a table and --json showing all three, and
     the real QEMU's own memory and CPU use (its PID from the QMP socket's
     peer, its smaps and stat through the private proc root, which links
     to the real one), and the floors that do not fit under the limit
     (logged, and in status);
  3. pressure low: the budget is given back to where it started, and
     the floors fit again;
  4. the QEMU killed: the daemon logs it, keeps running, and shows the
     VM as unreachable; status from the state file once it stops;
  5. SIGTERM: a clean exit that removes the control socket;
  6. the systemd unit passes systemd-analyze verify (when present).

Prints TAP lines; exit status 0 when all passed.
"""
import argparse
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIB = 1024 * 1024


# QEMU's QMP client, found as the guest runner finds it: run-guest.py,
# imported as a module (as bench/benchlib.py does).
_spec = importlib.util.spec_from_file_location(
    'run_guest', os.path.join(TOP, 'tests/guest/run-guest.py'))
_rg = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_rg)
QEMUMonitorProtocol = _rg.QEMUMonitorProtocol

results = []


def check(ok, what, detail=''):
    results.append(ok)
    print(f"{'ok' if ok else 'not ok'} {len(results)} - {what}", flush=True)
    if not ok and detail:
        for line in str(detail).splitlines()[-30:]:
            print(f'#   {line}', flush=True)


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return pred()


def set_pressure(proc, cgroup, high):
    """Writes PSI, meminfo and cgroup files for high or low pressure."""
    some = 30.0 if high else 0.0
    avail_kib = (100 if high else 64 * 1024) * 1024
    psi = (f'some avg10={some:.2f} avg60=0.00 avg300=0.00 total=1\n'
           f'full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n')
    files = {
        os.path.join(proc, 'pressure', 'memory'): psi,
        os.path.join(proc, 'meminfo'):
            f'MemTotal:       67108864 kB\nMemFree: 1 kB\n'
            f'MemAvailable:   {avail_kib} kB\n',
        os.path.join(cgroup, 'memory.current'): f'{(950 if high else 100) * MIB}\n',
        os.path.join(cgroup, 'memory.max'): f'{1024 * MIB}\n',
        os.path.join(cgroup, 'memory.pressure'): psi,
    }
    for path, text in files.items():
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            f.write(text)
        os.replace(tmp, path)


def hostile_qmp(path, stop):
    """A QMP server that greets, negotiates, then answers with 2 MiB of junk."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    srv.settimeout(0.5)
    while not stop.is_set():
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        try:
            conn.settimeout(5)
            conn.sendall(b'{"QMP": {"version": {}, "capabilities": []}}\r\n')
            conn.recv(4096)                             # qmp_capabilities
            conn.sendall(b'{"return": {}, "id": 1}\r\n')
            conn.recv(4096)                             # discovery
            conn.sendall(b'{"return": "' + b'x' * (2 * MIB))
        except OSError:
            pass
        conn.close()
    srv.close()


def qmp_budget(mon):
    return mon.cmd('qom-get', path='/objects/vs0', property='mem-budget')


def status(daemon, conf, *args):
    return subprocess.run([daemon, 'status', '-c', conf, *args],
                          capture_output=True, text=True, timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--daemon', required=True)
    ap.add_argument('--qemu', required=True)
    ap.add_argument('--unit', default=os.path.join(
        TOP, 'tools', 'overcommit', 'vswap-overcommitd.service'))
    ap.add_argument('--keep', action='store_true', help='keep the work directory')
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix='vswap-overcommitd-')
    proc_root, cgroup = os.path.join(work, 'proc'), os.path.join(work, 'cg')
    os.makedirs(os.path.join(proc_root, 'pressure'))
    os.makedirs(cgroup)
    set_pressure(proc_root, cgroup, high=True)
    qmp_sock, mon_sock = os.path.join(work, 'real.qmp'), os.path.join(work, 'mon.qmp')
    conf, log_path = os.path.join(work, 'oc.conf'), os.path.join(work, 'daemon.log')
    ctl, state = os.path.join(work, 'control.sock'), os.path.join(work, 'state.json')
    with open(conf, 'w') as f:
        f.write(f"""[daemon]
interval=1
retry-interval=1
control-socket={ctl}
state-file={state}
cgroup={cgroup}
proc-root={proc_root}
trace={work}/trace
[policy]
budget-step=8M
budget-floor=8M
giveback-ticks=2
[vm real]
qmp={qmp_sock}
store=vs0
[vm ghost]
qmp={work}/ghost.qmp
store=vs0
[vm hostile]
qmp={work}/hostile.qmp
""")
    stop = threading.Event()
    hostile = threading.Thread(target=hostile_qmp,
                               args=(os.path.join(work, 'hostile.qmp'), stop))
    hostile.start()

    qemu = subprocess.Popen([
        args.qemu, '-machine', 'q35,accel=qtest', '-qtest', 'null',
        '-m', '256', '-nodefaults', '-display', 'none',
        '-object', 'vswap-store,id=vs0,size=64M,mem-budget=32M',
        '-device', 'virtio-vswap-pci,id=vswap0,store=vs0',
        '-device', 'virtio-balloon-pci,id=balloon0,free-page-reporting=on',
        '-qmp', f'unix:{qmp_sock},server=on,wait=off',
        '-qmp', f'unix:{mon_sock},server=on,wait=off'],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # The daemon reads the QEMU's smaps under its proc root.
    os.symlink(f'/proc/{qemu.pid}', os.path.join(proc_root, str(qemu.pid)))
    daemon = None
    try:
        wait_for(lambda: os.path.exists(mon_sock), 20)
        mon = QEMUMonitorProtocol(mon_sock)
        mon.connect()
        log = open(log_path, 'w')
        daemon = subprocess.Popen([args.daemon, 'run', '-c', conf],
                                  stdout=log, stderr=subprocess.STDOUT)

        def text():
            with open(log_path) as f:
                return f.read()

        # 1. High pressure: the budget goes down to its floor, 8 MiB.
        ok = wait_for(lambda: qmp_budget(mon) == 8 * MIB, 30)
        check(ok, 'high pressure lowers the store budget to its floor',
              f'budget {qmp_budget(mon)}\n{text()}')
        check(text().count('vm real: budget ') == 3 and
              'lower the budget of the store read least' in text(),
              'each budget step is logged with its reason (32 -> 24 -> 16 -> 8 MiB)',
              text())
        check('vm ghost: cannot reach QMP socket' in text() and
              'No such file' in text(),
              'a VM whose socket does not exist gets a clear error', text())
        check('vm hostile: ' in text() and 'over 1 MiB' in text(),
              'a QMP server sending an oversized reply is cut off', text())
        check(daemon.poll() is None, 'the daemon keeps running')

        # 2. Status over the control socket.
        st = status(args.daemon, conf)
        check(st.returncode == 0 and 'real' in st.stdout and
              'unreachable' in st.stdout and '8M/32M' in st.stdout,
              'status prints a table of the host and every VM',
              st.stdout + st.stderr)
        st = status(args.daemon, conf, '--json')
        try:
            doc = json.loads(st.stdout)
            states = {vm['name']: vm['state'] for vm in doc['vms']}
            real = [vm for vm in doc['vms'] if vm['name'] == 'real'][0]
            ok = (states['real'] == 'up' and states['ghost'] == 'unreachable' and
                  states['hostile'] != 'up' and doc['mode'] == 'reclaim' and
                  real['budget'] == 8 * MIB and real['ram'] == 256 * MIB and
                  doc['host']['cgroup-max'] == 1024 * MIB)
        except (ValueError, KeyError, IndexError) as e:
            ok, st = False, f'{e}: {st.stdout}'
        check(ok, 'status --json has the mode, host and per-VM state', st)
        try:
            ok = (real['qemu-pid'] == qemu.pid and real['overhead'] > 0 and
                  real['guest-rss'] >= 0 and
                  # its share of the pages it maps with others (Pss)
                  real['overhead'] <= real['qemu-rss'] - real['guest-rss'] and
                  # commit is what the tick decided on, the VM's row
                  # its poll after that: a page or two apart.
                  abs(doc['commit']['overhead'] - real['overhead']) <= MIB)
        except (KeyError, TypeError, NameError) as e:
            ok, st = False, f'{e}: {st}'
        check(ok and "QEMUs' own memory" in text() and 'OVERHEAD' in
              status(args.daemon, conf).stdout,
              "status and the reasons show the QEMU's own memory", st)
        # Its CPU time from /proc/PID/stat, a rate from the second poll.
        try:
            cpu = real['qemu-cpu']
            ok = isinstance(cpu, (int, float)) and 0 <= cpu <= 100 * os.cpu_count()
        except (KeyError, NameError) as e:
            ok, st = False, f'{e}: {st}'
        check(ok and 'CPU' in status(args.daemon, conf).stdout,
              "status shows the QEMU's CPU use", st)

        # The cgroup (950 MiB of 1 GiB) with the guest at its floor (no
        # stats: guest-floor, 128 MiB) would pass the limit.
        try:
            ok = (doc['commit']['floors-fit'] is False and
                  doc['commit']['floors'] > 1024 * MIB)
        except (KeyError, TypeError, NameError) as e:
            ok, st = False, f'{e}: {st}'
        check(ok and "warning: the guests' floors do not fit" in text() and
              'DOES NOT FIT' in status(args.daemon, conf).stdout,
              'floors that do not fit are logged and shown in status',
              f'{st}\n{text()}')

        # 3. Low pressure: after 2 low ticks, the budget comes back.
        set_pressure(proc_root, cgroup, high=False)
        ok = wait_for(lambda: qmp_budget(mon) == 32 * MIB, 30)
        check(ok and 'give back: raise the budget' in text(),
              'low pressure gives the budget back to 32 MiB',
              f'budget {qmp_budget(mon)}\n{text()}')
        check("the guests' floors fit under the limit again" in text(),
              'floors that fit again are logged', text())

        # 4. The QEMU dies under the daemon.
        mon.close()
        qemu.kill()
        qemu.wait()
        ok = wait_for(lambda: 'vm real: connection lost' in text(), 15)
        time.sleep(2)
        check(ok and daemon.poll() is None,
              'a QEMU killed mid-run is logged and the daemon keeps going', text())
        st = status(args.daemon, conf, '--json')
        try:
            states = {vm['name']: vm['state'] for vm in json.loads(st.stdout)['vms']}
        except (ValueError, KeyError):
            states = {}
        check(states.get('real') == 'unreachable',
              'status shows the killed VM as unreachable', st.stdout)

        # 5. SIGTERM: a clean stop; status falls back to the state file.
        daemon.send_signal(signal.SIGTERM)
        rc = daemon.wait(timeout=15)
        check(rc == 0 and not os.path.exists(ctl),
              'SIGTERM stops the daemon cleanly and removes its socket',
              f'rc={rc}\n{text()}')
        st = status(args.daemon, conf)
        check(st.returncode == 0 and 'state file' in st.stderr and 'real' in st.stdout,
              'status reads the state file when the daemon is down',
              st.stdout + st.stderr)
    finally:
        stop.set()
        if daemon and daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        if qemu.poll() is None:
            qemu.kill()
            qemu.wait()
        hostile.join()

    # 6. The unit, with ExecStart pointing at the binary under test.
    if shutil.which('systemd-analyze'):
        unit = os.path.join(work, 'vswap-overcommitd.service')
        with open(args.unit) as f, open(unit, 'w') as out:
            out.write(f.read().replace('/usr/local/bin/vswap-overcommitd',
                                       os.path.abspath(args.daemon)))
        v = subprocess.run(['systemd-analyze', 'verify', unit],
                           capture_output=True, text=True, timeout=60)
        check(v.returncode == 0 and not v.stderr.strip(),
              'the systemd unit passes systemd-analyze verify', v.stderr)
    else:
        print('ok - systemd-analyze verify # SKIP no systemd-analyze')

    print(f'1..{len(results)}')
    if all(results) and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f'# work directory: {work}')
    return 0 if all(results) else 1


if __name__ == '__main__':
    sys.exit(main())
