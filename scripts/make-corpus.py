#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Make the page corpus: real anonymous memory of programs Debian packages.

The store's tests, the demo's guest and the benchmarks compress real memory
pages, not synthetic ones.  This script captures them at set-up, so that a
clone of the project needs nothing beside it:

  python-heap.pages  CPython building ~120k dicts and lists of words from
                     its own standard library, a Counter and a JSON document
  node-heap.pages    Node.js building a 150k-object graph, a Map index and
                     a JSON string from the same words
  cc1-heap.pages     GCC's cc1 compiling the standalone store library (the
                     files of block/vswap-backend that build without QEMU,
                     as one unit, -O2 -g), stopped mid-compile
  sqlite-heap.pages  SQLite (Python's sqlite3) holding an in-memory
                     database of 60k customers and 240k orders with two
                     indexes: database pages in its page cache
  kv-heap.pages      Redis (redis-tools' server) holding a web service's
                     311k keys, written through its protocol: sessions
                     as JSON strings with a TTL, user hashes, feed lists,
                     follower and tag sets, counters, leaderboards (sorted
                     sets), sessions rewritten and deleted among the
                     writes; jemalloc's arenas

Each workload runs as a child process (Redis beside a client that fills
it through its Unix socket).  Once it is ready (or, for cc1, once its
anonymous memory reaches a threshold), the child is stopped with SIGSTOP,
and the pages that are present in its private anonymous mappings (the
heap and anonymous mmaps; /proc/PID/pagemap says which are present) are
read from /proc/PID/mem.  A file holds 8192 of them, 32 MiB, picked
evenly over all present pages, as a plain concatenation of 4096-byte pages
with no header: the format the tests and the bench read.

The result is cached under /var/cache/vswap/corpus/KEY (or the build
directory when /var/cache is not writable), where KEY hashes every input:
this script, the cc1 input, and the versions of python3, node, gcc,
SQLite and Redis; the five newest are kept.  OUT (default build/corpus)
becomes a link to it.  A run with a cached corpus takes milliseconds.
When VSWAP_CORPUS names a directory of *.pages files (such as a reference
corpus), OUT links to it instead and nothing is captured.

Usage: scripts/make-corpus.py [--out DIR] [--force]
Prints the corpus directory on stdout.
"""

import argparse
import glob
import hashlib
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

PAGE = 4096
PAGES_PER_FILE = 8192
TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE = shutil.which("node") or shutil.which("nodejs") or "node"
PYTHON = "/usr/bin/python3"
# Debian's redis-tools ships the whole server as redis-check-rdb, which
# runs as the server when its argv[0] says redis-server.  redis-server's
# own package would also start a system service.
REDIS = shutil.which("redis-check-rdb") or "redis-check-rdb"

# The Python workloads' words: identifiers and prose from the standard
# library's sources.
PYTHON_WORDS = r"""
import glob, random, sys, sysconfig
random.seed(1)
words = []
for path in sorted(glob.glob(sysconfig.get_paths()['stdlib'] + '/*.py')):
    with open(path, encoding='utf-8', errors='replace') as f:
        words.extend(f.read().split())
    if len(words) > 400000:
        break
"""

PYTHON_WORKLOAD = PYTHON_WORDS + r"""
import collections, json
records = []
for i in range(120000):
    w = words[(i * 7919) % len(words)]
    records.append({
        'id': i,
        'name': w,
        'path': '/'.join(random.sample(words, 3)),
        'tags': [words[(i * 31 + k) % len(words)] for k in range(i % 5 + 1)],
        'score': random.random() * 1000,
        'count': i * 3 % 1009,
        'children': list(range(i, i + i % 7)),
    })
index = collections.defaultdict(list)
for r in records:
    index[r['name']].append(r['id'])
counts = collections.Counter(words)
doc = json.dumps(records[:40000])
sys.stdout.write('ready %d %d %d\n' % (len(records), len(index), len(doc)))
sys.stdout.flush()
sys.stdin.read()
"""

# A database: SQLite's page cache of an in-memory database (4 KiB pages,
# tables and indexes of customers and orders), as a database server holds
# its buffer pool.
SQLITE_WORKLOAD = PYTHON_WORDS + r"""
import sqlite3
db = sqlite3.connect(':memory:')
db.execute('PRAGMA page_size = 4096')
db.execute('PRAGMA cache_size = -262144')
db.execute('CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT, email TEXT, city TEXT, created TEXT)')
db.execute('CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, product TEXT, qty INTEGER, price REAL, status TEXT, note TEXT)')
statuses = ['new', 'paid', 'shipped', 'delivered', 'returned']
db.executemany('INSERT INTO customer VALUES (?, ?, ?, ?, ?)', (
    (i, words[(i * 7919) % len(words)] + ' ' + words[(i * 104729) % len(words)],
     '%s.%d@example.org' % (words[(i * 31) % len(words)][:12], i),
     words[(i * 613) % len(words)][:16],
     '2026-%02d-%02d %02d:%02d:%02d' % (i % 12 + 1, i % 28 + 1, i % 24, i % 60, i * 7 % 60))
    for i in range(60000)))
db.executemany('INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?)', (
    (i, random.randrange(60000), ' '.join(random.sample(words, 2))[:40],
     random.randrange(1, 20), round(random.random() * 500, 2),
     statuses[i % 5], ' '.join(random.sample(words, random.randrange(0, 8))))
    for i in range(240000)))
db.execute('CREATE INDEX orders_customer ON orders (customer)')
db.execute('CREATE INDEX customer_city ON customer (city)')
db.commit()
n = db.execute('SELECT count(*), sum(qty * price) FROM orders JOIN customer ON customer.id = orders.customer GROUP BY status').fetchall()
sys.stdout.write('ready %d orders %d groups\n' % (240000, len(n)))
sys.stdout.flush()
sys.stdin.read()
"""

# A key-value store: Redis holding the data of a web service, written
# through its protocol (RESP, pipelined) by a client of its own: sessions
# as JSON strings with a TTL, users as hashes, feeds as lists, followers
# (integers) and tags as sets, counters, and a few leaderboards.  Among
# the 150k session writes are 50k rewrites and 13.6k deletions of random
# earlier sessions, as live traffic does, so that the allocator's slabs
# are reused, not just filled.
KV_WORKLOAD = PYTHON_WORDS + r"""
import json, socket
names = [w for w in words if w.isalpha() and len(w) > 2]
sock = socket.socket(socket.AF_UNIX)
sock.connect(sys.argv[1])
replies = sock.makefile('rb')
batch = []

def reply():
    line = replies.readline()
    if line[:1] == b'-' or not line:
        raise SystemExit('redis: %r' % line)
    if line[:1] == b'$' and int(line[1:]) >= 0:
        return replies.read(int(line[1:]) + 2)[:-2]
    return line[1:].strip()

def flush():
    sock.sendall(b''.join(batch))
    for _ in batch:
        reply()
    batch.clear()

def cmd(*args):
    args = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    batch.append(b'*%d\r\n' % len(args) + b''.join(
        b'$%d\r\n%s\r\n' % (len(a), a) for a in args))
    if len(batch) >= 2000:
        flush()

def name(k):
    return names[k % len(names)]

def text(k, n):
    return ' '.join(words[(k + j * 7) % len(words)] for j in range(n))

plans = ['free', 'free', 'free', 'pro', 'team', 'enterprise']
kinds = ['like', 'comment', 'share', 'follow', 'mention']
sids, nuser, t0 = [], 0, 1796083200
for i in range(150000):
    uid = random.randrange(60000)
    sid = '%032x' % random.getrandbits(128)
    sids.append(sid)
    cmd('SET', 'session:' + sid, json.dumps({
        'sid': sid, 'user': uid, 'name': name(uid * 7919),
        'ip': '10.%d.%d.%d' % (uid % 256, i % 256, random.randrange(256)),
        'agent': 'Mozilla/5.0 (X11; Linux x86_64) %s/%d.%d' % (
            name(i * 31), i % 120, i % 10),
        'created': t0 + i * 7,
        'last_seen': t0 + i * 7 + random.randrange(3600),
        'csrf': '%016x' % random.getrandbits(64),
        'cart': [{'sku': name(i * 13 + k), 'qty': k + 1,
                  'price': round(random.random() * 200, 2)}
                 for k in range(i % 4)],
        'prefs': {'theme': ('dark', 'light')[i % 2], 'lang': 'en',
                  'beta': i % 9 == 0},
    }, separators=(',', ':')), 'EX', 86400 + i % 7200)
    if i % 5 < 2:
        u = nuser
        nuser += 1
        cmd('HSET', 'user:%d' % u,
            'name', name(u * 7919) + ' ' + name(u * 104729),
            'email', '%s.%d@example.org' % (name(u * 31).lower(), u),
            'city', name(u * 613), 'plan', plans[u % len(plans)],
            'created', '2026-%02d-%02dT%02d:%02d:%02dZ' % (
                u % 12 + 1, u % 28 + 1, u % 24, u % 60, u * 7 % 60),
            'visits', u * 37 % 5000,
            'score', round(random.random() * 1000, 3),
            'bio', text(u * 11, u % 12 + 3))
    elif i % 5 == 2:
        cmd('RPUSH', 'feed:%d' % uid, *(json.dumps({
            't': t0 + i * 7 + k, 'kind': kinds[(i + k) % 5],
            'post': random.randrange(10 ** 6), 'by': name(i + k * 17),
            'text': text(i * 3 + k, k % 6)}, separators=(',', ':'))
            for k in range(i % 12 + 1)))
    elif i % 10 == 3:
        cmd('SADD', 'followers:%d' % i,
            *random.sample(range(60000), i % 40 + 2))
    elif i % 10 == 8:
        cmd('SADD', 'tags:post:%d' % i,
            *sorted({name(i * 5 + k * 97) for k in range(i % 8 + 1)}))
    else:
        cmd('INCRBY', 'views:/%s/%s:%d' % (name(i), name(i * 3), i % 30),
            random.randrange(1, 100000))
        cmd('SET', 'rate:10.%d.%d.%d' % (i % 256, i // 256 % 256, uid % 256),
            random.randrange(1000))
        cmd('HINCRBY', 'user:%d' % random.randrange(max(nuser, 1)),
            'visits', 1)
    if i % 3 == 1:
        old = sids[random.randrange(len(sids))]
        cmd('SET', 'session:' + old, json.dumps({
            'sid': old, 'user': uid, 'name': name(uid),
            'last_seen': t0 + i * 7, 'csrf': '%016x' % random.getrandbits(64),
            'cart': [name(i + k) for k in range(i % 6)]},
            separators=(',', ':')), 'EX', 86400)
    if i % 11 == 5:
        cmd('DEL', 'session:' + sids[random.randrange(len(sids))])
    if i % 3000 == 0:
        board = []
        for k in range(2000):
            board += [round(random.random() * 10 ** 6, 1), name(k * 7 + i)]
        cmd('ZADD', 'leaderboard:%d' % (i // 3000), *board)
flush()
cmd('DBSIZE')
cmd('INFO', 'memory')
sock.sendall(b''.join(batch))
keys = int(reply())
memory = dict(l.split(':', 1) for l in reply().decode().split()
              if ':' in l)
sys.stdout.write('ready %d keys, used_memory %s\n'
                 % (keys, memory['used_memory_human']))
"""

NODE_WORKLOAD = r"""
const fs = require('fs');
const path = require('path');
const dir = process.argv[1];
let words = [];
for (const f of fs.readdirSync(dir).filter(n => n.endsWith('.py')).sort()) {
  words = words.concat(fs.readFileSync(path.join(dir, f), 'utf8').split(/\s+/));
  if (words.length > 400000) break;
}
let seed = 1;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const nodes = [];
for (let i = 0; i < 150000; i++) {
  const n = {
    id: i,
    name: words[(i * 7919) % words.length],
    label: words[(i * 104729) % words.length] + '-' + i.toString(36),
    weight: rand() * 100,
    tags: Array.from({length: i % 5 + 1}, (_, k) => words[(i * 31 + k) % words.length]),
    edges: [],
    parent: null,
  };
  if (i > 0) {
    n.parent = nodes[Math.floor(rand() * i)];
    n.parent.edges.push(n);
  }
  nodes.push(n);
}
const index = new Map();
for (const n of nodes) {
  if (!index.has(n.name)) index.set(n.name, []);
  index.get(n.name).push(n);
}
const doc = JSON.stringify(nodes.slice(0, 30000).map(n => ({
  id: n.id, name: n.name, label: n.label, weight: n.weight, tags: n.tags,
  parent: n.parent ? n.parent.id : null,
})));
process.stdout.write(`ready ${nodes.length} ${index.size} ${doc.length}\n`);
process.stdin.resume();
"""


class CorpusError(Exception):
    pass


def log(msg):
    print("make-corpus: " + msg, file=sys.stderr, flush=True)


def anon_ranges(pid):
    """Yield (start, end) of the private anonymous mappings of @pid."""
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            fields = line.split()
            perms = fields[1]
            name = fields[5] if len(fields) > 5 else ""
            if "r" not in perms or "p" not in perms:
                continue
            if name and name != "[heap]":
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            yield start, end


def present_pages(pid):
    """Addresses of the present pages of @pid's anonymous mappings."""
    pages = []
    with open("/proc/%d/pagemap" % pid, "rb") as pm:
        for start, end in anon_ranges(pid):
            n = (end - start) // PAGE
            pm.seek(start // PAGE * 8)
            data = pm.read(n * 8)
            for i, (entry,) in enumerate(struct.iter_unpack("<Q", data)):
                if entry >> 63:
                    pages.append(start + i * PAGE)
    return pages


def capture(pid, out_path):
    """Write PAGES_PER_FILE present anonymous pages of stopped @pid."""
    addrs = present_pages(pid)
    if len(addrs) < PAGES_PER_FILE:
        raise CorpusError("process %d has only %d present anonymous pages,"
                          " %d needed" % (pid, len(addrs), PAGES_PER_FILE))
    step = len(addrs) / PAGES_PER_FILE
    picked = [addrs[int(i * step)] for i in range(PAGES_PER_FILE)]
    zero = bytes(PAGE)
    zeros = 0
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem, \
            open(out_path + ".tmp", "wb") as out:
        for addr in picked:
            mem.seek(addr)
            page = mem.read(PAGE)
            if len(page) != PAGE:
                raise CorpusError("short read of page 0x%x of process %d"
                                  % (addr, pid))
            zeros += page == zero
            out.write(page)
    os.rename(out_path + ".tmp", out_path)
    return len(addrs), zeros


def stop_and_capture(proc, out_path):
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        return capture(proc.pid, out_path)
    finally:
        proc.kill()
        proc.wait()


def run_ready_workload(argv, out_path, what):
    """Run a workload that prints 'ready' once its data is built."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        proc.kill()
        proc.wait()
        raise CorpusError("%s workload failed before it was ready (exit %s)"
                          % (what, proc.returncode))
    present, zeros = stop_and_capture(proc, out_path)
    return "%s (%s); %d present anonymous pages" % (what, line.strip(),
                                                   present), zeros


def redis_argv(*args):
    """Run Debian's redis-tools binary as the server (see REDIS)."""
    return dict(args=["redis-server"] + list(args), executable=REDIS)


def run_redis(out_path, tmp):
    """Fill a Redis server through its socket, then capture its pages.

    The server runs as a child with no TCP port, no persistence and its
    log in @tmp; KV_WORKLOAD, a client in another process, writes the
    data set and exits once the server has answered every command.
    """
    sock = os.path.join(tmp, "redis.sock")
    log_path = os.path.join(tmp, "redis.log")
    argv = redis_argv("--port", "0", "--unixsocket", sock,
                      "--unixsocketperm", "700", "--save", "",
                      "--appendonly", "no", "--daemonize", "no",
                      "--dir", tmp, "--loglevel", "warning")
    with open(log_path, "w") as log_file:
        server = subprocess.Popen(stdin=subprocess.DEVNULL, stdout=log_file,
                                  stderr=subprocess.STDOUT, **argv)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock) and server.poll() is None and \
                time.monotonic() < deadline:
            time.sleep(0.01)
        if not os.path.exists(sock):
            with open(log_path) as f:
                raise CorpusError("redis did not open its socket: %s"
                                  % f.read().strip()[-500:])
        client = subprocess.run([PYTHON, "-c", KV_WORKLOAD, sock],
                                stdin=subprocess.DEVNULL,
                                capture_output=True, text=True)
        if client.returncode != 0 or not client.stdout.startswith("ready"):
            raise CorpusError("redis workload failed (exit %d): %s"
                              % (client.returncode,
                                 client.stderr.strip()[-500:]))
    except BaseException:
        server.kill()
        server.wait()
        raise
    present, zeros = stop_and_capture(server, out_path)
    release = redis_version().split()[2].partition("=")[2]
    return "Redis %s (%s); %d present anonymous pages" % (
        release, client.stdout.strip(), present), zeros


def rss_anon_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cc1_unit(tmp):
    """The store library as one translation unit, and gcc's flags for it."""
    sources = []
    for src in sorted(glob.glob(os.path.join(TOP, "block/vswap-backend/*.c"))):
        with open(src) as f:
            # The block-layer engine builds only inside QEMU's tree.
            if '#include "qemu/osdep.h"' not in f.read():
                sources.append(src)
    unit = os.path.join(tmp, "vswap-store-unit.c")
    with open(unit, "w") as f:
        for src in sources:
            f.write('#include "%s"\n' % src)
    cflags = subprocess.run(["pkg-config", "--cflags", "glib-2.0"],
                            capture_output=True, text=True,
                            check=True).stdout.split()
    return sources, ["gcc", "-O2", "-g", "-D_GNU_SOURCE",
                     "-I" + os.path.join(TOP, "include"),
                     "-I" + os.path.join(TOP, "block/vswap-backend")] + \
        cflags + ["-S", "-o", os.devnull, unit]


def find_cc1(gcc_pid):
    try:
        out = subprocess.run(["pgrep", "-P", str(gcc_pid), "-x", "cc1"],
                             capture_output=True, text=True).stdout.split()
    except OSError:
        return None
    return int(out[0]) if out else None


def run_cc1(out_path, argv):
    """Stop cc1 once its anonymous memory passes a threshold, mid-compile.

    The threshold starts at 44 MiB, a little over the 32 MiB to capture.
    If cc1 finishes first, the run is repeated with a threshold just under
    the peak it reached.
    """
    threshold = 44 * 1024
    for attempt in range(3):
        gcc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        peak = 0
        while gcc.poll() is None:
            pid = find_cc1(gcc.pid)
            if pid:
                rss = rss_anon_kb(pid)
                peak = max(peak, rss)
                if rss >= threshold:
                    os.kill(pid, signal.SIGSTOP)
                    try:
                        present, zeros = capture(pid, out_path)
                    finally:
                        os.kill(pid, signal.SIGKILL)
                        gcc.wait()
                    return ("gcc cc1 at %d MiB anonymous; %d present"
                            " anonymous pages" % (rss // 1024, present)), zeros
            time.sleep(0.005)
        if gcc.returncode != 0:
            raise CorpusError("gcc failed on the store library: %s"
                              % gcc.stderr.read().strip()[-500:])
        log("cc1 finished at %d MiB before reaching %d MiB; again lower"
            % (peak // 1024, threshold // 1024))
        threshold = max(36 * 1024, int(peak * 0.85))
    raise CorpusError("cc1 never stayed above %d MiB long enough to capture"
                      % (threshold // 1024))


def version(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True,
                              check=True).stdout.splitlines()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        raise CorpusError("cannot run %s: install the packages with"
                          " scripts/install-deps.sh" % argv[0])


def redis_version():
    """Its line, e.g. "Redis server v=7.0.15 sha=... malloc=jemalloc-5.3.0"."""
    try:
        return subprocess.run(stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, check=True,
                              **redis_argv("--version")).stdout.splitlines()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        raise CorpusError("cannot run %s as redis-server: install the"
                          " packages with scripts/install-deps.sh" % REDIS)


def sqlite_version():
    return version([PYTHON, "-c", "import sqlite3; print(sqlite3.sqlite_version)"])


def cache_root():
    for root in (os.environ.get("VSWAP_CACHE", "/var/cache/vswap"),
                 os.path.join(TOP, "build", "cache")):
        try:
            os.makedirs(os.path.join(root, "corpus"), exist_ok=True)
            if os.access(os.path.join(root, "corpus"), os.W_OK):
                return os.path.join(root, "corpus")
        except OSError:
            continue
    raise CorpusError("no writable cache directory")


def corpus_key(sources):
    h = hashlib.sha256()
    with open(os.path.abspath(__file__), "rb") as f:
        h.update(f.read())
    for src in sources:
        with open(src, "rb") as f:
            h.update(os.path.basename(src).encode() + f.read())
    for argv in ([PYTHON, "--version"], [NODE, "--version"],
                 ["gcc", "--version"]):
        h.update(version(argv).encode())
    h.update(sqlite_version().encode())
    h.update(redis_version().encode())
    return h.hexdigest()[:16]


def prune(root, keep, count=5):
    """Delete all but the @count newest corpora (160 MiB each) in @root.

    Five, not fewer: worktrees of different store sources each have their
    own, and a build directory's link must not lose its corpus to another.
    """
    dirs = sorted((os.path.join(root, n) for n in os.listdir(root)),
                  key=os.path.getmtime, reverse=True)
    for d in [d for d in dirs if d != keep][count - 1:]:
        shutil.rmtree(d, ignore_errors=True)


def complete(d):
    names = ("python-heap.pages", "node-heap.pages", "cc1-heap.pages",
             "sqlite-heap.pages", "kv-heap.pages")
    return all(os.path.getsize(os.path.join(d, n)) == PAGES_PER_FILE * PAGE
               if os.path.exists(os.path.join(d, n)) else False
               for n in names)


def make(d, tmp, cc1_argv):
    os.makedirs(d, exist_ok=True)
    stdlib = subprocess.run(
        [PYTHON, "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    runs = [
        ("python-heap.pages", lambda p: run_ready_workload(
            [PYTHON, "-c", PYTHON_WORKLOAD], p, version([PYTHON, "--version"]))),
        ("node-heap.pages", lambda p: run_ready_workload(
            [NODE, "-e", NODE_WORKLOAD, stdlib], p,
            "Node.js " + version([NODE, "--version"]))),
        ("cc1-heap.pages", lambda p: run_cc1(p, cc1_argv)),
        ("sqlite-heap.pages", lambda p: run_ready_workload(
            [PYTHON, "-c", SQLITE_WORKLOAD], p,
            "SQLite " + sqlite_version())),
        ("kv-heap.pages", lambda p: run_redis(p, tmp)),
    ]
    manifest = []
    for name, run in runs:
        start = time.monotonic()
        what, zeros = run(os.path.join(d, name))
        manifest.append("%s: %s; %d of %d pages zero" %
                        (name, what, zeros, PAGES_PER_FILE))
        log("%s in %.1f s" % (manifest[-1], time.monotonic() - start))
    with open(os.path.join(d, "MANIFEST"), "w") as f:
        f.write("Made by scripts/make-corpus.py on %s\n" % time.strftime("%F"))
        f.write("\n".join(manifest) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(TOP, "build", "corpus"),
                    help="link to the corpus directory (default build/corpus)")
    ap.add_argument("--force", action="store_true",
                    help="capture again even if a cached corpus matches")
    args = ap.parse_args()
    try:
        d = os.environ.get("VSWAP_CORPUS")
        if d:
            d = os.path.abspath(d)
            if not glob.glob(os.path.join(d, "*.pages")):
                raise CorpusError("VSWAP_CORPUS=%s holds no *.pages files;"
                                  " unset it to make a corpus" % d)
        else:
            with tempfile.TemporaryDirectory(prefix="vswap-corpus-") as tmp:
                sources, cc1_argv = cc1_unit(tmp)
                d = os.path.join(cache_root(), corpus_key(sources))
                if args.force or not complete(d):
                    log("capturing pages into %s" % d)
                    make(d, tmp, cc1_argv)
                    prune(os.path.dirname(d), keep=d)
        out = os.path.abspath(args.out)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if os.path.islink(out) or os.path.exists(out):
            if not os.path.islink(out):
                raise CorpusError("%s exists and is not a link" % out)
            os.unlink(out)
        os.symlink(d, out)
    except (CorpusError, OSError, subprocess.CalledProcessError) as e:
        log("FAILED: %s" % e)
        return 1
    print(d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
