/*
 * Unit tests of what a flood or a failing disk may cost the page store:
 * its memory and its time per request stay bounded, and no acknowledged
 * page is lost on the way.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A guest controls how many requests it sends and of what kind, and the
 * host's disk may fail for as long as it likes: each test here drives one
 * of those past what a well-behaved guest or a healthy disk would do, and
 * measures the store throughout rather than only at the end.
 */

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <malloc.h>
#include <poll.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* The sanitizers' runtime has it; only clang ships its header. */
size_t __sanitizer_get_current_allocated_bytes(void);
#define HAVE_SANITIZER_ALLOCATOR 1
#endif

#include "vswap/store.h"
#include "store-int.h"
#include "test-pages.h"

#define PAGE VSWAP_STORE_PAGE_SIZE
#define SEG_SIZE (64 * 1024)

/* Bytes of heap in use (the sanitizers keep their own allocator). */
static size_t heap_bytes(void)
{
#ifdef HAVE_SANITIZER_ALLOCATOR
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
#endif
}

static VswapStore *open_memory_store(uint64_t capacity, unsigned workers)
{
    VswapStoreConfig cfg;
    g_autoptr(GError) err = NULL;
    VswapStore *s;

    vswap_store_config_init(&cfg);
    cfg.capacity = capacity;
    cfg.segment_size = SEG_SIZE;
    cfg.workers = workers;
    s = vswap_store_open(&cfg, &err);
    g_assert_no_error(err);
    return s;
}

static void count_done(void *opaque)
{
    (*(unsigned *)opaque)++;
}

static int read_one(VswapStore *s, uint64_t slot, void *buf)
{
    VswapPageOp op = { .slot = slot, .page = buf };
    int ret = vswap_store_read_sync(s, &op, 1);

    return ret < 0 ? ret : op.status;
}

/* --- a DISCARD flood behind a backlog of writes --- */

#define FLOOD_REQS 8
#define FLOOD_BATCH VSWAP_STORE_MAX_BATCH
#define FLOOD_SLOTS (FLOOD_REQS * FLOOD_BATCH)
/* One-slot discards beyond the written slots: they overtake nothing. */
#define FLOOD_RANGES (512 * 1024)
#define FLOOD_MISS_BASE (4 * FLOOD_SLOTS)
/* A discard that overtakes half of request 4, still in the backlog. */
#define FLOOD_HIT_START (4 * FLOOD_BATCH)
#define FLOOD_HIT_COUNT (FLOOD_BATCH / 2)
/* A write submitted after that discard, into its range: it must land. */
#define FLOOD_LATE_SLOT (FLOOD_HIT_START + 4)

/* Submit the 8 WRITEs of the flood test; they leave a backlog. */
static void flood_submit_writes(VswapStore *s, VswapPageOp *ops,
                                unsigned *done)
{
    for (unsigned r = 0; r < FLOOD_REQS; r++) {
        g_assert_cmpint(vswap_store_write(s, ops + r * FLOOD_BATCH,
                                          FLOOD_BATCH, count_done, done),
                        ==, 0);
    }
    g_assert_false(g_queue_is_empty(&s->backlog));
}

/*
 * 8 WRITEs of 1024 pages fill the store's job table and leave a backlog;
 * then 524,289 DISCARD ranges arrive before anything completes.  A DISCARD
 * has no bounce buffer, so nothing outside the store limits how many come.
 * Each must cost the store no memory of its own and little time, and the
 * backlog must still honour them: a write submitted before a discard of its
 * slot never lands, one submitted after it does.  Before the fix the store
 * kept every range (8 MiB here, 16 MiB allocated) and each write started
 * from the backlog scanned all of them (4 billion comparisons): the drain
 * took 20 times as long as the same writes' without the discards.
 */
static void test_discard_flood(void)
{
    VswapStore *s = open_memory_store(1 << 20, 1);
    TestPages *tp = test_pages_new();
    g_autofree uint8_t *pages = g_malloc(FLOOD_BATCH * PAGE);
    g_autofree uint8_t *late = g_malloc(PAGE);
    g_autofree uint8_t *buf = g_malloc(PAGE);
    g_autofree VswapPageOp *ops = g_new0(VswapPageOp, FLOOD_SLOTS);
    VswapPageOp late_op = { .slot = FLOOD_LATE_SLOT, .page = late };
    unsigned done = 0;
    size_t heap_before, heap_grown;
    gint64 t0, t_base, t_discards, t_drain;

    for (unsigned i = 0; i < FLOOD_BATCH; i++) {
        memcpy(pages + i * PAGE, test_pages_get(tp, i, 1), PAGE);
    }
    memcpy(late, test_pages_get(tp, FLOOD_LATE_SLOT, 2), PAGE);
    for (unsigned i = 0; i < FLOOD_SLOTS; i++) {
        ops[i] = (VswapPageOp) {
            .slot = i, .page = pages + (i % FLOOD_BATCH) * PAGE,
        };
    }
    /* The same writes without a discard: the time a drain takes here. */
    t0 = g_get_monotonic_time();
    flood_submit_writes(s, ops, &done);
    vswap_store_drain(s);
    t_base = g_get_monotonic_time() - t0;

    done = 0;
    flood_submit_writes(s, ops, &done);
    heap_before = heap_bytes();
    t0 = g_get_monotonic_time();
    g_assert_cmpint(vswap_store_discard(s, FLOOD_HIT_START, FLOOD_HIT_COUNT),
                    ==, 0);
    for (unsigned i = 0; i < FLOOD_RANGES; i++) {
        g_assert_cmpint(vswap_store_discard(s, FLOOD_MISS_BASE + i, 1), ==, 0);
    }
    t_discards = g_get_monotonic_time() - t0;
    heap_grown = heap_bytes() - MIN(heap_bytes(), heap_before);
    g_assert_cmpint(vswap_store_write(s, &late_op, 1, count_done, &done),
                    ==, 0);
    vswap_store_drain(s);
    t_drain = g_get_monotonic_time() - t0 - t_discards;
    g_test_message("%u discards behind %u backlogged writes: heap +%zu "
                   "bytes, discards %.3f s, drain %.3f s (%.3f s without "
                   "discards)", FLOOD_RANGES + 1, FLOOD_SLOTS, heap_grown,
                   t_discards / 1e6, t_drain / 1e6, t_base / 1e6);
    g_assert_cmpuint(done, ==, FLOOD_REQS + 1);

    /* The ranges cost no memory; before the fix, 16 bytes each. */
    g_assert_cmpuint(heap_grown, <, 256 * 1024);
    /*
     * Nor time: a discard is a search, whatever the backlog (a scan of
     * the backlog per discard would take 4 billion steps here), and the
     * drain no longer grows with the discards made before it.
     */
    g_assert_cmpint(t_discards, <, 3 * G_USEC_PER_SEC);
    g_assert_cmpint(t_drain, <, 4 * t_base + G_USEC_PER_SEC / 2);

    for (unsigned i = 0; i < FLOOD_SLOTS; i++) {
        bool overtaken = i - FLOOD_HIT_START < FLOOD_HIT_COUNT;

        if (i == FLOOD_LATE_SLOT) {
            g_assert_cmpint(read_one(s, i, buf), ==, 0);
            g_assert(memcmp(buf, late, PAGE) == 0);
        } else if (overtaken) {
            g_assert_cmpint(read_one(s, i, buf), ==, VSWAP_STORE_UNMAPPED);
        } else {
            g_assert_cmpint(read_one(s, i, buf), ==, 0);
            g_assert(memcmp(buf, ops[i].page, PAGE) == 0);
        }
    }
    vswap_store_close(s);
    test_pages_free(tp);
}

/* --- mixed WRITEs and DISCARDs, checked against a model --- */

#define MIX_SLOTS 4096
#define MIX_ROUNDS 600
#define MIX_MAX_WRITE 256

typedef struct MixWrite {
    VswapPageOp ops[MIX_MAX_WRITE];
    uint8_t *pages;
    unsigned *done;
} MixWrite;

static void mix_write_done(void *opaque)
{
    MixWrite *w = opaque;

    for (unsigned i = 0; i < MIX_MAX_WRITE && w->ops[i].page; i++) {
        g_assert_cmpint(w->ops[i].status, ==, 0);
    }
    (*w->done)++;
    g_free(w->pages);
    g_free(w);
}

/*
 * Writes of up to 256 random slots (a slot often in several queued
 * requests) and bursts of discards, with the store processing only now and
 * then, so that most discards meet a deep backlog and writes start from it
 * at every point.  The later request always wins: a slot holds the last
 * page written to it unless a discard came after that write.
 */
static void test_mixed_flood(void)
{
    VswapStore *s = open_memory_store(MIX_SLOTS * 2, 2);
    TestPages *tp = test_pages_new();
    g_autofree unsigned *model = g_new0(unsigned, MIX_SLOTS);
    g_autofree uint8_t *buf = g_malloc(PAGE);
    GRand *rand = g_rand_new_with_seed(14);
    unsigned submitted = 0, done = 0, version = 0, queued_discards = 0;

    for (unsigned round = 0; round < MIX_ROUNDS; round++) {
        if (g_rand_int_range(rand, 0, 10) < 6) {
            MixWrite *w = g_new0(MixWrite, 1);
            unsigned n = g_rand_int_range(rand, 1, MIX_MAX_WRITE + 1);
            g_autofree bool *used = g_new0(bool, MIX_SLOTS);

            w->done = &done;
            w->pages = g_malloc((size_t)n * PAGE);
            version++;
            for (unsigned i = 0; i < n; i++) {
                unsigned slot;

                do {
                    slot = g_rand_int_range(rand, 0, MIX_SLOTS);
                } while (used[slot]);
                used[slot] = true;
                memcpy(w->pages + (size_t)i * PAGE,
                       test_pages_get(tp, slot, version), PAGE);
                w->ops[i] = (VswapPageOp) {
                    .slot = slot, .page = w->pages + (size_t)i * PAGE,
                };
                model[slot] = version;
            }
            g_assert_cmpint(vswap_store_write(s, w->ops, n, mix_write_done, w),
                            ==, 0);
            submitted++;
        } else {
            unsigned bursts = g_rand_int_range(rand, 1, 64);

            for (unsigned k = 0; k < bursts; k++) {
                unsigned start = g_rand_int_range(rand, 0, MIX_SLOTS);
                unsigned count = g_rand_int_range(rand, 1, k % 8 ? 8 : 512);

                count = MIN(count, MIX_SLOTS - start);
                queued_discards += !g_queue_is_empty(&s->backlog);
                g_assert_cmpint(vswap_store_discard(s, start, count), ==, 0);
                memset(model + start, 0, count * sizeof(*model));
            }
        }
        if (g_rand_int_range(rand, 0, 8) == 0) {
            vswap_store_process(s);
        }
    }
    vswap_store_drain(s);
    g_assert_cmpuint(done, ==, submitted);
    g_test_message("%u write requests, %u discards met a backlog",
                   submitted, queued_discards);
    g_assert_cmpuint(queued_discards, >, 1000);
    for (unsigned slot = 0; slot < MIX_SLOTS; slot++) {
        int ret = read_one(s, slot, buf);

        if (!model[slot]) {
            g_assert_cmpint(ret, ==, VSWAP_STORE_UNMAPPED);
        } else {
            g_assert_cmpint(ret, ==, 0);
            g_assert(memcmp(buf, test_pages_get(tp, slot, model[slot]),
                            PAGE) == 0);
        }
    }
    g_assert_true(g_sequence_is_empty(s->backlog_writes));
    g_rand_free(rand);
    vswap_store_close(s);
    test_pages_free(tp);
}

/* --- compaction while segment writes fail --- */

#define FAULT_SLOTS 3000
#define FAULT_BUDGET (128 * 1024)
#define FAULT_LIMIT (160 * 1024)
/* How long the guest keeps writing to a failing disk: many retries. */
#define FAULT_CHURN_US (1500 * 1000)

/* The store's memory, watched at every step of the event loop. */
typedef struct MemWatch {
    VswapStore *s;
    uint64_t peak;              /* most vswap_store_mem_bytes() seen */
    uint64_t samples;
    unsigned max_writing;       /* most segment writes in flight seen */
} MemWatch;

static void watch_sample(MemWatch *w)
{
    VswapStoreStats st;

    if (w->s) {
        vswap_store_get_stats(w->s, &st);
        w->peak = MAX(w->peak, st.mem_bytes);
        w->max_writing = MAX(w->max_writing, w->s->wb_inflight);
        w->samples++;
    }
}

/* cfg.wait: the default poll, with a sample before and after each step. */
static void watch_wait(void *opaque, VswapWaitCond *cond, void *cond_opaque)
{
    MemWatch *w = opaque;

    watch_sample(w);
    while (cond(cond_opaque)) {
        struct pollfd pfd = {
            .fd = w->s ? vswap_store_fd(w->s) : -1, .events = POLLIN,
        };

        watch_sample(w);
        poll(&pfd, 1, 1);
    }
    watch_sample(w);
}

static VswapStore *open_watched_store_cfg(const char *path, MemWatch *w,
                                          uint64_t budget, uint64_t limit,
                                          unsigned depth)
{
    VswapStoreConfig cfg;
    g_autoptr(GError) err = NULL;

    vswap_store_config_init(&cfg);
    cfg.path = path;
    cfg.capacity = 1 << 16;
    cfg.segment_size = SEG_SIZE;
    cfg.mem_budget = budget;
    cfg.mem_limit = limit;
    cfg.fault_injection = true;
    cfg.writeback_depth = depth;
    /*
     * A given depth is for the depth test: records moved as they are, so
     * that the writes, not the packing of groups, pace writeback.
     */
    if (depth) {
        cfg.disk_group = 1;
    }
    cfg.wait = watch_wait;
    cfg.wait_opaque = w;
    w->s = vswap_store_open(&cfg, &err);
    g_assert_no_error(err);
    return w->s;
}

static VswapStore *open_watched_store(const char *path, MemWatch *w)
{
    return open_watched_store_cfg(path, w, FAULT_BUDGET, FAULT_LIMIT, 0);
}

static int write_one(VswapStore *s, uint64_t slot, const void *page)
{
    VswapPageOp op = { .slot = slot, .page = (void *)page };

    return vswap_store_write_sync(s, &op, 1);
}

/*
 * Every segment write fails (EIO) while the disk holds sparse segments and
 * a full compaction pass runs; the guest keeps writing throughout, for
 * many write retries.  Compaction copies live records from disk segments
 * into new disk segment buffers, which stay in memory while their writes
 * fail, so it must stop short of the hard limit: the store's memory stays
 * within mem_limit plus the two segments reserved for moves (writeback's
 * and compaction's) in every state.  Writes then get ENOSPC, and when the
 * disk recovers every acknowledged page reads back.  Before the fix
 * compaction went on pulling records off the disk into memory: the peak
 * was many times the limit.
 */
static void test_compact_failing_writes(void)
{
    g_autofree char *path = g_build_filename(g_get_tmp_dir(),
                                             "vswap-bounds-XXXXXX", NULL);
    VswapIoFault fail = { .op = VSWAP_IO_WRITE, .error = -EIO };
    g_autofree unsigned *model = g_new0(unsigned, FAULT_SLOTS);
    g_autofree uint8_t *buf = g_malloc(PAGE);
    TestPages *tp = test_pages_new();
    GRand *rand = g_rand_new_with_seed(14);
    MemWatch w = { 0 };
    unsigned acked = 0, refused = 0, pass_done = 0;
    VswapStoreStats st;
    VswapCheckReport rep;
    VswapStore *s;
    gint64 end;

    g_close(g_mkstemp(path), NULL);
    s = open_watched_store(path, &w);
    for (unsigned i = 0; i < FAULT_SLOTS; i++) {
        g_assert_cmpint(write_one(s, i, test_pages_get(tp, i, 1)), ==, 0);
        model[i] = 1;
    }
    vswap_store_drain(s);

    /* The disk fails; three quarters of every segment die. */
    vswap_io_faulty_add(vswap_store_io_engine(s), &fail);
    w.peak = 0;
    for (unsigned i = 0; i < FAULT_SLOTS; i++) {
        if (i % 4) {
            g_assert_cmpint(vswap_store_discard(s, i, 1), ==, 0);
            model[i] = 0;
        }
    }
    g_assert_cmpint(vswap_store_compact(s, true, count_done, &pass_done),
                    ==, 0);
    end = g_get_monotonic_time() + FAULT_CHURN_US;
    for (unsigned version = 2; g_get_monotonic_time() < end; version++) {
        unsigned slot = g_rand_int_range(rand, 0, FAULT_SLOTS);
        int ret = write_one(s, slot, test_pages_get(tp, slot, version));

        if (ret == 0) {
            model[slot] = version;
            acked++;
        } else {
            g_assert_cmpint(ret, ==, -ENOSPC);
            refused++;
            g_usleep(1000);
        }
        watch_sample(&w);
    }
    vswap_store_get_stats(s, &st);
    g_test_message("disk failing: %u writes acknowledged, %u refused, "
                   "%" G_GUINT64_FORMAT " segment writes failed, %"
                   G_GUINT64_FORMAT " segments compacted; memory peak %"
                   G_GUINT64_FORMAT " KiB over %" G_GUINT64_FORMAT
                   " samples, limit %u KiB", acked, refused,
                   st.writeback_errors, st.compacted_segments,
                   w.peak / 1024, w.samples, FAULT_LIMIT / 1024);
    g_assert_cmpuint(st.writeback_errors, >, 10);
    g_assert_cmpuint(refused, >, 0);
    g_assert_cmpuint(w.peak, <=, FAULT_LIMIT + 2 * SEG_SIZE);

    /* The disk recovers: the pass ends, and nothing acknowledged is lost. */
    vswap_io_faulty_clear(vswap_store_io_engine(s));
    g_usleep(150 * 1000);
    vswap_store_drain(s);
    g_assert_cmpuint(pass_done, ==, 1);
    for (unsigned i = 0; i < FAULT_SLOTS; i++) {
        int ret = read_one(s, i, buf);

        if (!model[i]) {
            g_assert_cmpint(ret, ==, VSWAP_STORE_UNMAPPED);
        } else {
            g_assert_cmpint(ret, ==, 0);
            g_assert(memcmp(buf, test_pages_get(tp, i, model[i]), PAGE) == 0);
        }
    }
    g_assert_cmpint(vswap_store_check(s, &rep), ==, 0);
    g_assert_cmpuint(rep.bad, ==, 0);
    vswap_store_close(s);
    g_unlink(path);
    g_rand_free(rand);
    test_pages_free(tp);
}

/*
 * The deepest writeback queue: every segment being written holds its
 * buffer, but those buffers are memory segments' records moved over, and
 * counted as memory all along, so the store keeps to mem_limit plus the
 * two segments reserved for moves however many writes are in flight.
 * The guest writes much more than the budget, rewriting and reading back
 * at random; then the budget is cut to its minimum, so that writeback
 * moves everything at once.  Every page must read back.
 */
#define DEEP_BUDGET (2 * 1024 * 1024)
#define DEEP_LIMIT (DEEP_BUDGET + DEEP_BUDGET / 4)

static void test_deep_writeback(void)
{
    g_autofree char *path = g_build_filename(g_get_tmp_dir(),
                                             "vswap-bounds-XXXXXX", NULL);
    g_autofree unsigned *model = g_new0(unsigned, FAULT_SLOTS);
    g_autofree uint8_t *buf = g_malloc(PAGE);
    TestPages *tp = test_pages_new();
    GRand *rand = g_rand_new_with_seed(13);
    MemWatch w = { 0 };
    VswapStoreStats st;
    VswapStore *s;

    g_close(g_mkstemp(path), NULL);
    s = open_watched_store_cfg(path, &w, DEEP_BUDGET, DEEP_LIMIT,
                               VSWAP_STORE_MAX_WRITEBACK_DEPTH);
    for (unsigned i = 0; i < 4 * FAULT_SLOTS; i++) {
        unsigned slot = i < FAULT_SLOTS ? i :
                        (unsigned)g_rand_int_range(rand, 0, FAULT_SLOTS);

        g_assert_cmpint(write_one(s, slot, test_pages_get(tp, slot, i + 1)),
                        ==, 0);
        model[slot] = i + 1;
        if (i % 7 == 0) {
            slot = g_rand_int_range(rand, 0, FAULT_SLOTS);
            if (model[slot]) {
                g_assert_cmpint(read_one(s, slot, buf), ==, 0);
                g_assert(memcmp(buf, test_pages_get(tp, slot, model[slot]),
                                PAGE) == 0);
            }
        }
        watch_sample(&w);
    }
    vswap_store_drain(s);
    vswap_store_set_mem_budget(s, 0, 0);
    vswap_store_process(s);
    vswap_store_drain(s);
    vswap_store_get_stats(s, &st);
    g_test_message("depth %" G_GUINT64_FORMAT ": %" G_GUINT64_FORMAT
                   " segment bytes written back, up to %u writes in flight;"
                   " memory peak %" G_GUINT64_FORMAT " KiB over %"
                   G_GUINT64_FORMAT " samples, limit %u KiB",
                   st.writeback_depth, st.writeback_bytes, w.max_writing,
                   w.peak / 1024, w.samples, DEEP_LIMIT / 1024);
    g_assert_cmpuint(st.writeback_depth, ==, VSWAP_STORE_MAX_WRITEBACK_DEPTH);
    g_assert_cmpuint(st.writeback_bytes, >, 2 * DEEP_LIMIT);
    g_assert_cmpuint(w.max_writing, >, VSWAP_STORE_WRITEBACK_DEPTH);
    g_assert_cmpuint(w.peak, <=, DEEP_LIMIT + 2 * SEG_SIZE);
    g_assert_cmpuint(st.mem_bytes, <=, 2 * SEG_SIZE + SEG_SIZE / 4);
    for (unsigned i = 0; i < FAULT_SLOTS; i++) {
        g_assert_cmpint(read_one(s, i, buf), ==, 0);
        g_assert(memcmp(buf, test_pages_get(tp, i, model[i]), PAGE) == 0);
    }
    vswap_store_close(s);
    g_unlink(path);
    g_rand_free(rand);
    test_pages_free(tp);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/store-bounds/flood/discard-backlog", test_discard_flood);
    g_test_add_func("/store-bounds/flood/write-discard-mixed",
                    test_mixed_flood);
    g_test_add_func("/store-bounds/writeback/deep-queue", test_deep_writeback);
    g_test_add_func("/store-bounds/faults/compact-failing-writes",
                    test_compact_failing_writes);
    return g_test_run();
}
