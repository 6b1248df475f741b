/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Randomized model-based test of the page store: a long random mix of
 * asynchronous writes and reads, discards, compactions, budget changes,
 * drains, checks and migration rounds, checked against a shadow map.
 *
 * The shadow map holds, per slot, what the store must return: nothing, a
 * test page version (test-pages.h stamps slot and version into it) or a
 * fill value.  It is updated when an operation is submitted, since the
 * later operation wins: a write or discard overtakes earlier writes of
 * its slots still in flight.  A read is checked exactly when its slot had
 * no write in flight at submission and none was submitted, nor a discard
 * made, before it completed; otherwise it must still return something some
 * write of that slot produced, or nothing.  A write that fails with ENOSPC
 * (memory-only store only) leaves its slot unknown until the next change.
 *
 * Up to 16 requests are in flight; writes are 1-32 distinct slots, reads
 * mostly too, with an occasional big read that fills the store's job table
 * so that later requests queue, and discards overtake writes in the queue.
 * The same seed gives the same operations; only the timing of completions
 * varies with the worker threads and io_uring.
 *
 * The operation count is of page operations: pages written plus pages read,
 * plus one for every other call (discard, compaction, budget change, drain,
 * check, export step).  Environment: VSWAP_MODEL_SEED (default 1),
 * VSWAP_MODEL_OPS (operations of the disk run, default 1,200,000; the
 * memory-only run does a fifth of them).
 */

#include <errno.h>
#include <endian.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vswap/store.h"
#include "test-pages.h"

#define PAGE VSWAP_STORE_PAGE_SIZE
#define SEG_SIZE (64 * 1024)
#define MAX_BATCH 32
/* Now and then a big read: later requests then wait for the store's jobs. */
#define MAX_READ_BATCH VSWAP_STORE_MAX_BATCH
/* Twice what fills the store's job table, so that requests queue up. */
#define MAX_INFLIGHT 16
#define DEFAULT_SEED 1
/* Page operations of the disk run: about 15 s plain, 30 s with ASan. */
#define DEFAULT_OPS 1200000
/* Seconds without progress before the test gives up as hung. */
#define STALL_SECONDS 60

enum { M_EMPTY, M_PAGE, M_FILL, M_UNKNOWN };

typedef struct Expect {
    uint8_t kind;
    uint32_t val;               /* M_PAGE: version; M_FILL: fill value */
} Expect;

typedef struct Slot {
    Expect e;                   /* state after every submitted operation */
    uint32_t pending;           /* writes submitted, not yet completed */
    uint32_t max_ver;           /* newest version ever written */
    uint64_t last_op;           /* sequence of the last write or discard */
} Slot;

typedef struct Model Model;

typedef struct Req {
    Model *m;
    bool busy;
    bool is_write;
    unsigned n;
    VswapPageOp ops[MAX_READ_BATCH];
    uint64_t seq[MAX_READ_BATCH];   /* write: its op sequence; read: last_op */
    bool exact[MAX_READ_BATCH];     /* read: no write in flight at submission */
    Expect exp[MAX_READ_BATCH];     /* read: the model at submission */
    uint8_t *bufs;                  /* MAX_BATCH pages */
    uint8_t *big;                   /* pages of a big read, or NULL */
} Req;

typedef struct Params {
    bool disk;
    unsigned workers;
    uint64_t capacity;
    uint64_t budget_min, budget_max;
    unsigned ops_divisor;
} Params;

struct Model {
    const Params *p;
    uint32_t seed;
    VswapStore *s;
    VswapStore *dst;            /* migration destination */
    char *path, *dst_path;
    TestPages *tp;
    GRand *rand;
    Slot *slots;
    uint64_t cap;
    uint64_t opseq;
    uint32_t ver;
    uint64_t hot;               /* base of a small window of hot slots */
    uint64_t recent[MAX_BATCH]; /* slots of the last write request */
    unsigned nrecent;
    Req reqs[MAX_INFLIGHT];
    unsigned inflight, max_inflight;
    bool exporting;
    unsigned round_steps, round_len;

    /* counters */
    uint64_t steps, page_ops, pages_written, pages_read, pages_read_sync;
    uint64_t exact_reads;
    uint64_t loose_reads, discards, compact_started, compact_cb_expected;
    uint64_t compact_cb, compact_busy, budgets, drains, checks;
    uint64_t rounds, rounds_abandoned, exported, enospc;
};

static void watchdog(int sig)
{
    static const char msg[] = "test-store-model: no progress for "
                              G_STRINGIFY(STALL_SECONDS) " s, hung\n";

    if (write(2, msg, sizeof(msg) - 1) < 0) {
        /* Nothing more to do: abort anyway. */
    }
    abort();
}

static uint64_t rnd(Model *m, uint64_t n)
{
    uint64_t hi = g_rand_int(m->rand);

    return ((hi << 32) | g_rand_int(m->rand)) % n;
}

static bool chance(Model *m, unsigned per_million)
{
    return rnd(m, 1000000) < per_million;
}

/* Fill values are little-endian in the page on every host (store.h). */
static bool page_fill_value(const uint8_t *p, uint32_t *fill)
{
    uint32_t v;

    memcpy(&v, p, 4);
    for (unsigned i = 4; i < PAGE; i += 4) {
        if (memcmp(p + i, &v, 4) != 0) {
            return false;
        }
    }
    *fill = le32toh(v);
    return true;
}

static void page_fill(uint8_t *p, uint32_t fill)
{
    uint32_t le = htole32(fill);

    for (unsigned i = 0; i < PAGE; i += 4) {
        memcpy(p + i, &le, 4);
    }
}

static void describe_page(const char *what, const uint8_t *p)
{
    uint64_t stamp[2];
    uint32_t fill;

    memcpy(stamp, p + 64, sizeof(stamp));
    if (page_fill_value(p, &fill)) {
        g_test_message("  %s: filled with 0x%08x", what, fill);
    } else {
        g_test_message("  %s: stamp slot %" PRIu64 " version %" PRIu64
                       ", bytes %02x %02x %02x %02x", what, stamp[0],
                       stamp[1], p[0], p[1], p[2], p[3]);
    }
}

static void model_fail(Model *m, uint64_t slot, const char *why,
                       const Expect *e, int status, const uint8_t *buf)
{
    g_test_message("MISMATCH (seed %" PRIu32 ", step %" PRIu64 ", op %"
                   PRIu64 "): slot %" PRIu64 ": %s", m->seed, m->steps,
                   m->page_ops, slot, why);
    g_test_message("  status %d", status);
    if (e) {
        g_test_message("  expected kind %u value %" PRIu32, e->kind, e->val);
    }
    if (buf) {
        describe_page("got", buf);
    }
    if (e && e->kind == M_PAGE) {
        describe_page("want", test_pages_get(m->tp, slot, e->val));
    }
    g_assert_not_reached();
}

/* Exactly what the model says @slot holds. */
static bool page_matches(Model *m, uint64_t slot, const Expect *e,
                         int status, const uint8_t *buf)
{
    uint32_t fill;

    switch (e->kind) {
    case M_EMPTY:
        return status == VSWAP_STORE_UNMAPPED && page_fill_value(buf, &fill) &&
               fill == 0;
    case M_FILL:
        return status == 0 && page_fill_value(buf, &fill) && fill == e->val;
    case M_PAGE:
        return status == 0 &&
               memcmp(buf, test_pages_get(m->tp, slot, e->val), PAGE) == 0;
    }
    g_assert_not_reached();
}

/* Something some write of @slot stored, or nothing: never foreign data. */
static bool page_plausible(Model *m, uint64_t slot, int status,
                           const uint8_t *buf)
{
    uint64_t stamp[2];
    uint32_t fill;

    if (status == VSWAP_STORE_UNMAPPED) {
        return page_fill_value(buf, &fill) && fill == 0;
    }
    if (status != 0) {
        return false;
    }
    if (page_fill_value(buf, &fill)) {
        return true;
    }
    memcpy(stamp, buf + 64, sizeof(stamp));
    return stamp[0] == slot && stamp[1] > 0 &&
           stamp[1] <= m->slots[slot].max_ver &&
           memcmp(buf, test_pages_get(m->tp, slot, stamp[1]), PAGE) == 0;
}

static void watchdog_pet(void)
{
    alarm(STALL_SECONDS);
}

static void req_done(void *opaque)
{
    Req *r = opaque;
    Model *m = r->m;

    for (unsigned i = 0; i < r->n; i++) {
        VswapPageOp *op = &r->ops[i];
        Slot *sl = &m->slots[op->slot];

        if (r->is_write) {
            g_assert_cmpuint(sl->pending, >, 0);
            sl->pending--;
            if (op->status == -ENOSPC && !m->p->disk) {
                /* The slot keeps earlier contents, unless overtaken. */
                m->enospc++;
                if (sl->last_op == r->seq[i]) {
                    sl->e.kind = M_UNKNOWN;
                }
            } else if (op->status != 0) {
                model_fail(m, op->slot, "write failed", NULL, op->status,
                           NULL);
            }
            continue;
        }
        if (r->exact[i] && sl->last_op == r->seq[i] &&
            r->exp[i].kind != M_UNKNOWN) {
            m->exact_reads++;
            if (!page_matches(m, op->slot, &r->exp[i], op->status,
                              op->page)) {
                model_fail(m, op->slot, "read returned wrong data",
                           &r->exp[i], op->status, op->page);
            }
        } else {
            m->loose_reads++;
            if (!page_plausible(m, op->slot, op->status, op->page)) {
                model_fail(m, op->slot, "concurrent read returned foreign data",
                           &r->exp[i], op->status, op->page);
            }
        }
    }
    g_free(r->big);
    r->big = NULL;
    r->busy = false;
    m->inflight--;
    watchdog_pet();
}

/* Process completions; with @block, wait (briefly) for some. */
static void pump(Model *m, bool block)
{
    struct pollfd pfd = { .fd = vswap_store_fd(m->s), .events = POLLIN };

    if (poll(&pfd, 1, block ? 10 : 0) > 0 || block) {
        vswap_store_process(m->s);
    }
}

static void wait_below(Model *m, unsigned limit)
{
    while (m->inflight > limit) {
        pump(m, true);
    }
}

static void model_drain(Model *m)
{
    wait_below(m, 0);
    vswap_store_drain(m->s);
    g_assert_cmpuint(m->inflight, ==, 0);
}

static Req *get_req(Model *m)
{
    wait_below(m, m->max_inflight - 1);
    for (unsigned i = 0; i < MAX_INFLIGHT; i++) {
        if (!m->reqs[i].busy) {
            m->reqs[i].busy = true;
            m->inflight++;
            return &m->reqs[i];
        }
    }
    g_assert_not_reached();
}

static uint64_t pick_slot(Model *m)
{
    /* A hot window makes writes overtake writes and reads race them. */
    if (rnd(m, 100) < 30) {
        return (m->hot + rnd(m, 256)) % m->cap;
    }
    return rnd(m, m->cap);
}

static unsigned pick_batch(Model *m)
{
    return rnd(m, 2) ? 1 + rnd(m, 4) : 1 + rnd(m, MAX_BATCH);
}

static uint32_t pick_fill(Model *m)
{
    unsigned k = rnd(m, 10);

    return k < 6 ? 0 : k < 8 ? 0xffffffff : g_rand_int(m->rand);
}

static void do_write(Model *m)
{
    Req *r = get_req(m);
    unsigned n = pick_batch(m);

    r->is_write = true;
    r->n = 0;
    for (unsigned i = 0; i < n; i++) {
        VswapPageOp *op = &r->ops[r->n];
        uint8_t *buf = r->bufs + (size_t)r->n * PAGE;
        uint64_t slot = pick_slot(m);
        unsigned k = rnd(m, 100);
        bool dup = false;
        Slot *sl;

        for (unsigned j = 0; j < r->n; j++) {
            dup |= r->ops[j].slot == slot;
        }
        if (dup) {
            continue;
        }
        sl = &m->slots[slot];
        *op = (VswapPageOp) { .slot = slot, .status = 12345 };
        if (k < 75) {
            sl->e = (Expect) { .kind = M_PAGE, .val = ++m->ver };
            sl->max_ver = m->ver;
            memcpy(buf, test_pages_get(m->tp, slot, m->ver), PAGE);
            op->page = buf;
        } else if (k < 90) {
            sl->e = (Expect) { .kind = M_FILL, .val = pick_fill(m) };
            op->fill = sl->e.val;
        } else {
            /* Same-filled data: the store must notice by itself. */
            sl->e = (Expect) { .kind = M_FILL, .val = pick_fill(m) };
            page_fill(buf, sl->e.val);
            op->page = buf;
            op->fill = ~sl->e.val;
        }
        sl->pending++;
        sl->last_op = r->seq[r->n] = ++m->opseq;
        r->n++;
    }
    for (unsigned i = 0; i < r->n; i++) {
        m->recent[i] = r->ops[i].slot;
    }
    m->nrecent = r->n;
    m->pages_written += r->n;
    m->page_ops += r->n;
    g_assert_cmpint(vswap_store_write(m->s, r->ops, r->n, req_done, r), ==, 0);
}

static void do_read(Model *m)
{
    Req *r = get_req(m);
    uint8_t *bufs = r->bufs;

    r->is_write = false;
    r->n = pick_batch(m);
    if (rnd(m, 150) == 0) {
        r->n = MAX_BATCH + 1 + rnd(m, MAX_READ_BATCH - MAX_BATCH);
        bufs = r->big = g_malloc((size_t)r->n * PAGE);
    }
    for (unsigned i = 0; i < r->n; i++) {
        uint64_t slot = pick_slot(m);
        Slot *sl = &m->slots[slot];

        r->ops[i] = (VswapPageOp) {
            .slot = slot,
            .page = bufs + (size_t)i * PAGE,
            .status = 12345,
        };
        memset(r->ops[i].page, 0xa5, PAGE);
        r->exp[i] = sl->e;
        r->exact[i] = sl->pending == 0;
        r->seq[i] = sl->last_op;
    }
    m->pages_read += r->n;
    m->page_ops += r->n;
    g_assert_cmpint(vswap_store_read(m->s, r->ops, r->n, req_done, r), ==, 0);
}

static void do_discard(Model *m, bool recent)
{
    unsigned k = recent ? 100 : rnd(m, 1000);
    uint64_t start = pick_slot(m), count;

    if (k < 2) {
        start = 0;
        count = m->cap;
    } else if (k < 300 && m->nrecent) {
        /* Overtake a write that is likely still in flight. */
        start = m->recent[rnd(m, m->nrecent)];
        count = 1 + rnd(m, 4);
    } else if (k < 320) {
        count = 1 + rnd(m, m->cap / 8);
    } else if (k < 500) {
        count = 1 + rnd(m, 512);
    } else {
        count = 1 + rnd(m, 32);
    }
    count = MIN(count, m->cap - start);
    g_assert_cmpint(vswap_store_discard(m->s, start, count), ==, 0);
    for (uint64_t i = start; i < start + count; i++) {
        m->slots[i].e = (Expect) { .kind = M_EMPTY };
        m->slots[i].last_op = ++m->opseq;
    }
    m->discards++;
    m->page_ops++;
}

static void compact_done(void *opaque)
{
    ((Model *)opaque)->compact_cb++;
}

static void do_compact(Model *m)
{
    bool with_cb = rnd(m, 2);
    int ret = vswap_store_compact(m->s, rnd(m, 2), with_cb ? compact_done :
                                  NULL, m);

    if (ret == 0) {
        m->compact_started++;
        m->compact_cb_expected += with_cb;
    } else {
        g_assert_cmpint(ret, ==, -EBUSY);
        m->compact_busy++;
    }
    m->page_ops++;
}

static void set_random_budget(Model *m, VswapStore *s)
{
    uint64_t segs_min = m->p->budget_min / SEG_SIZE;
    uint64_t segs_max = m->p->budget_max / SEG_SIZE;
    unsigned k = rnd(m, 8);
    uint64_t budget, limit;

    /*
     * Mostly small budgets, so that writeback and parked writes happen
     * constantly, and often the very least, where memory is tightest.
     */
    if (k < 2) {
        budget = segs_min;
    } else if (k < 6) {
        budget = segs_min + rnd(m, (segs_max - segs_min) / 4 + 1);
    } else {
        budget = segs_min + rnd(m, segs_max - segs_min + 1);
    }
    budget *= SEG_SIZE;
    k = rnd(m, 3);
    limit = k == 0 ? 0 : k == 1 ? budget : budget + rnd(m, budget + 1);
    vswap_store_set_mem_budget(s, budget, limit);
}

static void do_budget(Model *m)
{
    set_random_budget(m, m->s);
    m->budgets++;
    m->page_ops++;
}

static uint64_t verify_all(Model *m, VswapStore *dst, bool resolve);

/* Pages the store holds against the model, when nothing is in flight. */
static void check_counts(Model *m, VswapStore *s)
{
    uint64_t known = 0, unknown = 0, stored;
    VswapStoreStats st;

    for (uint64_t i = 0; i < m->cap; i++) {
        known += m->slots[i].e.kind == M_PAGE || m->slots[i].e.kind == M_FILL;
        unknown += m->slots[i].e.kind == M_UNKNOWN;
    }
    vswap_store_get_stats(s, &st);
    stored = st.pages_fill + st.pages_mem + st.pages_disk;
    if (s == m->s && (stored < known || stored > known + unknown)) {
        verify_all(m, NULL, false);     /* names a slot that differs */
    }
    g_assert_cmpuint(stored, >=, known);
    g_assert_cmpuint(stored, <=, known + unknown);
    g_assert_cmpuint(st.read_errors, ==, 0);
    g_assert_cmpuint(st.checksum_errors, ==, 0);
    g_assert_cmpuint(st.writeback_errors, ==, 0);
}

static void do_check(Model *m, VswapStore *s)
{
    VswapCheckReport rep;
    VswapStoreStats st;

    g_assert_cmpint(vswap_store_check(s, &rep), ==, 0);
    g_assert_cmpuint(rep.bad, ==, 0);
    vswap_store_get_stats(s, &st);
    g_assert_cmpuint(rep.pages, ==, st.pages_mem + st.pages_disk);
}

/*
 * Read every slot of the store (and of the migration destination when
 * @dst) with nothing in flight, and compare with the model.  @resolve
 * learns what slots of unknown contents hold.  Returns slots holding data.
 */
static uint64_t verify_all(Model *m, VswapStore *dst, bool resolve)
{
    g_autofree uint8_t *a = g_malloc(MAX_BATCH * PAGE);
    g_autofree uint8_t *b = g_malloc(MAX_BATCH * PAGE);
    VswapPageOp ops[MAX_BATCH], dops[MAX_BATCH];
    uint64_t mapped = 0;

    g_assert_cmpuint(m->inflight, ==, 0);
    for (uint64_t base = 0; base < m->cap; base += MAX_BATCH) {
        unsigned n = MIN(MAX_BATCH, m->cap - base);

        for (unsigned i = 0; i < n; i++) {
            ops[i] = (VswapPageOp) { .slot = base + i, .page = a + i * PAGE };
            dops[i] = (VswapPageOp) { .slot = base + i, .page = b + i * PAGE };
        }
        g_assert_cmpint(vswap_store_read_sync(m->s, ops, n), ==, 0);
        m->pages_read_sync += n;
        if (dst) {
            g_assert_cmpint(vswap_store_read_sync(dst, dops, n), ==, 0);
        }
        for (unsigned i = 0; i < n; i++) {
            uint64_t slot = base + i;
            Slot *sl = &m->slots[slot];

            g_assert_cmpuint(sl->pending, ==, 0);
            if (sl->e.kind == M_UNKNOWN) {
                if (!page_plausible(m, slot, ops[i].status, ops[i].page)) {
                    model_fail(m, slot, "slot of unknown contents holds"
                               " foreign data", NULL, ops[i].status,
                               ops[i].page);
                }
            } else if (!page_matches(m, slot, &sl->e, ops[i].status,
                                     ops[i].page)) {
                model_fail(m, slot, "store differs from the model", &sl->e,
                           ops[i].status, ops[i].page);
            }
            mapped += ops[i].status == 0;
            if (dst && (dops[i].status != ops[i].status ||
                        memcmp(dops[i].page, ops[i].page, PAGE) != 0)) {
                g_test_message("destination status %d, source %d",
                               dops[i].status, ops[i].status);
                describe_page("destination", dops[i].page);
                model_fail(m, slot, "migration destination differs",
                           &sl->e, ops[i].status, ops[i].page);
            }
            if (resolve && sl->e.kind == M_UNKNOWN) {
                uint64_t stamp[2];
                uint32_t fill;

                memcpy(stamp, ops[i].page + 64, sizeof(stamp));
                if (ops[i].status == VSWAP_STORE_UNMAPPED) {
                    sl->e = (Expect) { .kind = M_EMPTY };
                } else if (page_fill_value(ops[i].page, &fill)) {
                    sl->e = (Expect) { .kind = M_FILL, .val = fill };
                } else {
                    sl->e = (Expect) { .kind = M_PAGE, .val = stamp[1] };
                }
            }
        }
    }
    return mapped;
}

/* Move up to @max dirty records to the destination; false when none is left. */
static bool export_some(Model *m, unsigned max)
{
    g_autofree uint8_t *payload = g_malloc(PAGE);
    VswapRecordInfo info;

    for (unsigned i = 0; i < max; i++) {
        int ret = vswap_store_export_next(m->s, &info, payload);

        if (ret == 0) {
            return false;
        }
        g_assert_cmpint(ret, ==, 1);
        g_assert_cmpint(vswap_store_import(m->dst, &info, payload), ==, 0);
        m->exported++;
    }
    return true;
}

static void start_round(Model *m)
{
    g_assert_cmpint(vswap_store_discard(m->dst, 0, m->cap), ==, 0);
    if (m->p->disk) {
        /* Imports wait for writeback when the destination is short too. */
        set_random_budget(m, m->dst);
    }
    vswap_store_export_start(m->s);
    m->exporting = true;
    m->round_steps = 0;
    m->round_len = 20 + rnd(m, 200);
}

/* Final pass with the source quiet, then compare both stores. */
static void finish_round(Model *m)
{
    if (rnd(m, 8) == 0) {
        vswap_store_export_stop(m->s);  /* migration cancelled */
        m->exporting = false;
        m->rounds_abandoned++;
        return;
    }
    model_drain(m);
    while (export_some(m, 1024)) {
        /* Until nothing is dirty. */
    }
    g_assert_cmpuint(vswap_store_export_pending(m->s), ==, 0);
    verify_all(m, m->dst, false);
    do_check(m, m->dst);
    check_counts(m, m->dst);
    vswap_store_export_stop(m->s);
    m->exporting = false;
    m->rounds++;
}

static void do_export_step(Model *m)
{
    export_some(m, 1 + rnd(m, 128));
    m->page_ops++;
    if (++m->round_steps >= m->round_len) {
        finish_round(m);
    }
}

static VswapStore *open_store(const char *path, uint64_t capacity,
                              uint64_t budget, unsigned workers)
{
    g_autoptr(GError) err = NULL;
    VswapStoreConfig cfg;
    VswapStore *s;

    vswap_store_config_init(&cfg);
    cfg.path = path;
    cfg.capacity = capacity;
    cfg.segment_size = SEG_SIZE;
    cfg.mem_budget = budget;
    cfg.workers = workers;
    s = vswap_store_open(&cfg, &err);
    g_assert_no_error(err);
    return s;
}

static char *temp_file(void)
{
    char *path = g_build_filename(g_get_tmp_dir(), "vswap-model-XXXXXX", NULL);

    g_close(g_mkstemp(path), NULL);
    return path;
}

static void run_model(gconstpointer data)
{
    const Params *p = data;
    const char *env_seed = g_getenv("VSWAP_MODEL_SEED");
    const char *env_ops = g_getenv("VSWAP_MODEL_OPS");
    uint64_t target = env_ops ? g_ascii_strtoull(env_ops, NULL, 0) :
                      DEFAULT_OPS;
    g_autofree Model *m = g_new0(Model, 1);
    int64_t t0 = g_get_monotonic_time();
    VswapStoreStats st;
    uint64_t mapped;

    m->p = p;
    m->seed = env_seed ? g_ascii_strtoull(env_seed, NULL, 0) : DEFAULT_SEED;
    target /= p->ops_divisor;
    g_test_message("seed %" PRIu32 " (VSWAP_MODEL_SEED), %" PRIu64
                   " operations (VSWAP_MODEL_OPS)", m->seed, target);
    m->rand = g_rand_new_with_seed(m->seed);
    m->tp = test_pages_new();
    m->cap = p->capacity;
    m->slots = g_new0(Slot, m->cap);
    m->max_inflight = MAX_INFLIGHT;
    for (unsigned i = 0; i < MAX_INFLIGHT; i++) {
        m->reqs[i].m = m;
        m->reqs[i].bufs = g_malloc(MAX_BATCH * PAGE);
    }
    if (p->disk) {
        m->path = temp_file();
        m->dst_path = temp_file();
    }
    m->s = open_store(m->path, m->cap, p->disk ? 512 * 1024 : p->budget_max,
                      p->workers);
    m->dst = open_store(m->dst_path, m->cap,
                        p->disk ? 1024 * 1024 : 64 << 20, 0);
    signal(SIGALRM, watchdog);
    watchdog_pet();

    /*
     * Per 1000 steps: 460 writes (1 in 20 followed by a discard of some
     * of their slots), 410 reads, 25 discards, 8 compactions, 8 budget
     * changes, 2 drains, and 47 export steps while a migration runs.
     */
    while (m->page_ops < target) {
        unsigned k = rnd(m, 1000);

        m->steps++;
        if (k < 460) {
            do_write(m);
            if (rnd(m, 20) == 0) {
                do_discard(m, true);
            }
        } else if (k < 870) {
            do_read(m);
        } else if (k < 895) {
            do_discard(m, false);
        } else if (k < 903) {
            do_compact(m);
        } else if (k < 911) {
            do_budget(m);
        } else if (k < 913) {
            model_drain(m);
            check_counts(m, m->s);
            m->drains++;
            m->page_ops++;
        } else if (k < 960 && m->exporting) {
            do_export_step(m);
        }
        if (chance(m, 50)) {
            do_check(m, m->s);
            check_counts(m, m->s);
            m->checks++;
            m->page_ops++;
        }
        if (!m->exporting && chance(m, 100)) {
            start_round(m);
        }
        if (chance(m, 1000)) {
            m->max_inflight = 1 + rnd(m, MAX_INFLIGHT);
        }
        if (chance(m, 5000)) {
            m->hot = rnd(m, m->cap);
        }
        /* Not every step, so that requests pile up even without workers. */
        if (rnd(m, 4) == 0) {
            pump(m, false);
        }
        if ((m->steps & 255) == 0) {
            watchdog_pet();
        }
    }

    /* The end: quiesce, a last migration round, and a full read-back. */
    model_drain(m);
    if (m->exporting) {
        m->round_steps = m->round_len;
        do_export_step(m);
    }
    mapped = verify_all(m, NULL, true);
    check_counts(m, m->s);
    do_check(m, m->s);
    vswap_store_get_stats(m->s, &st);
    g_assert_cmpuint(st.pages_fill + st.pages_mem + st.pages_disk, ==, mapped);
    g_assert_cmpuint(st.write_errors, ==, m->enospc);
    /* Every page op completed once. */
    g_assert_cmpuint(st.writes + st.write_errors, ==, m->pages_written);
    g_assert_cmpuint(st.reads, ==, m->pages_read + m->pages_read_sync);
    g_assert_cmpuint(st.enospc, ==, m->enospc);
    g_assert_cmpuint(st.compactions, ==, m->compact_started);
    g_assert_cmpuint(m->compact_cb, ==, m->compact_cb_expected);
    alarm(0);

    g_test_message("%.1f s: %" PRIu64 " ops in %" PRIu64 " steps: %" PRIu64
                   " pages written, %" PRIu64 " read (%" PRIu64 " exact, %"
                   PRIu64 " racing), %" PRIu64 " discards, %" PRIu64
                   " compactions (%" PRIu64 " busy), %" PRIu64 " budgets, %"
                   PRIu64 " drains, %" PRIu64 " checks, %" PRIu64
                   " migration rounds (%" PRIu64 " cancelled, %" PRIu64
                   " records), %" PRIu64 " ENOSPC",
                   (g_get_monotonic_time() - t0) / 1e6, m->page_ops, m->steps,
                   m->pages_written, m->pages_read, m->exact_reads,
                   m->loose_reads, m->discards, m->compact_started,
                   m->compact_busy, m->budgets, m->drains, m->checks,
                   m->rounds, m->rounds_abandoned, m->exported, m->enospc);
    g_test_message("store: %" PRIu64 " pages mapped, writeback %" PRIu64
                   " pages, %" PRIu64 " segments compacted, disk file %"
                   PRIu64 " KiB", mapped, st.writeback_pages,
                   st.compacted_segments, st.disk_file_bytes / 1024);

    vswap_store_close(m->s);
    vswap_store_close(m->dst);
    if (p->disk) {
        g_unlink(m->path);
        g_unlink(m->dst_path);
        g_free(m->path);
        g_free(m->dst_path);
    }
    for (unsigned i = 0; i < MAX_INFLIGHT; i++) {
        g_free(m->reqs[i].bufs);
    }
    g_free(m->slots);
    g_rand_free(m->rand);
    test_pages_free(m->tp);
}

/* Disk-backed: small budgets keep writeback and compaction going. */
static const Params disk_params = {
    .disk = true,
    .workers = 2,
    .capacity = 16384,
    .budget_min = 2 * SEG_SIZE,
    .budget_max = 4 << 20,
    .ops_divisor = 1,
};

/* Memory only, compression inline; small budgets refuse writes now and then. */
static const Params mem_params = {
    .disk = false,
    .workers = 0,
    .capacity = 8192,
    .budget_min = 2 << 20,
    .budget_max = 24 << 20,
    .ops_divisor = 5,
};

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_data_func("/store-model/disk/2-workers", &disk_params,
                         run_model);
    g_test_add_data_func("/store-model/memory/inline", &mem_params,
                         run_model);
    return g_test_run();
}
