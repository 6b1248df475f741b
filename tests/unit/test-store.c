/*
 * Unit tests of the page store through its public API: tiers, discard,
 * compaction, integrity, injected faults, and export/import.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vswap/store.h"
#include "store-int.h"
#include "test-pages.h"

#define PAGE VSWAP_STORE_PAGE_SIZE

typedef struct Fixture {
    char *path;
    VswapStore *s;
    TestPages *pages;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    f->path = g_build_filename(g_get_tmp_dir(), "vswap-test-XXXXXX", NULL);
    g_close(g_mkstemp(f->path), NULL);
    f->pages = test_pages_new();
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    vswap_store_close(f->s);
    g_unlink(f->path);
    g_free(f->path);
    test_pages_free(f->pages);
}

/* A store with small segments so that tiers and compaction show quickly. */
static VswapStore *open_store_cfg(Fixture *f, bool disk, uint64_t budget,
                                  unsigned workers, bool shared, bool incoming)
{
    VswapStoreConfig cfg;
    g_autoptr(GError) err = NULL;
    VswapStore *s;

    vswap_store_config_init(&cfg);
    cfg.path = disk ? f->path : NULL;
    cfg.capacity = 1 << 16;
    cfg.segment_size = 64 * 1024;
    cfg.mem_budget = budget;
    cfg.workers = workers;
    cfg.shared = shared;
    cfg.incoming = incoming;
    s = vswap_store_open(&cfg, &err);
    g_assert_no_error(err);
    g_assert_nonnull(s);
    return s;
}

static VswapStore *open_store(Fixture *f, bool disk, uint64_t budget,
                              unsigned workers, bool faults)
{
    VswapStoreConfig cfg;
    g_autoptr(GError) err = NULL;

    vswap_store_config_init(&cfg);
    cfg.path = disk ? f->path : NULL;
    cfg.capacity = 1 << 16;
    cfg.segment_size = 64 * 1024;
    cfg.mem_budget = budget;
    cfg.workers = workers;
    cfg.fault_injection = faults;
    f->s = vswap_store_open(&cfg, &err);
    g_assert_no_error(err);
    g_assert_nonnull(f->s);
    return f->s;
}

static int write_one(VswapStore *s, uint64_t slot, const void *page)
{
    VswapPageOp op = { .slot = slot, .page = (void *)page };

    return vswap_store_write_sync(s, &op, 1);
}

/* Read @slot; returns the op status, the page in @buf. */
static int read_one(VswapStore *s, uint64_t slot, void *buf)
{
    VswapPageOp op = { .slot = slot, .page = buf };
    int ret = vswap_store_read_sync(s, &op, 1);

    return ret < 0 ? ret : op.status;
}

/*
 * Write slots [0, n) with test page i, in batches of 32 as a guest sends
 * them; with @drain, let the store settle (writeback, packing) after each.
 */
static void write_batches(VswapStore *s, TestPages *tp, uint64_t n,
                          unsigned ver, bool drain)
{
    VswapPageOp ops[32];

    for (uint64_t base = 0; base < n; base += 32) {
        unsigned k = MIN(32, n - base);

        for (unsigned i = 0; i < k; i++) {
            ops[i] = (VswapPageOp) {
                .slot = base + i,
                .page = (void *)test_pages_get(tp, base + i, ver),
            };
        }
        g_assert_cmpint(vswap_store_write_sync(s, ops, k), ==, 0);
        if (drain) {
            vswap_store_drain(s);
        }
    }
}

static void write_range(VswapStore *s, TestPages *tp, uint64_t n, unsigned ver)
{
    write_batches(s, tp, n, ver, false);
}

static void verify_range(VswapStore *s, TestPages *tp, uint64_t n,
                         unsigned ver)
{
    g_autofree uint8_t *buf = g_malloc(PAGE);

    for (uint64_t i = 0; i < n; i++) {
        g_assert_cmpint(read_one(s, i, buf), ==, 0);
        g_assert(memcmp(buf, test_pages_get(tp, i, ver), PAGE) == 0);
    }
}

/*
 * Read slots [0, n) where some may fail: every read is either the right
 * page or -EIO, never other data.  Returns the number of -EIO reads.
 */
static unsigned verify_range_or_eio(VswapStore *s, TestPages *tp, uint64_t n,
                                    unsigned ver)
{
    g_autofree uint8_t *buf = g_malloc(PAGE);
    unsigned eio = 0;

    for (uint64_t i = 0; i < n; i++) {
        int ret = read_one(s, i, buf);

        if (ret == -EIO) {
            eio++;
            continue;
        }
        g_assert_cmpint(ret, ==, 0);
        g_assert(memcmp(buf, test_pages_get(tp, i, ver), PAGE) == 0);
    }
    return eio;
}

static void assert_check_clean(VswapStore *s)
{
    VswapCheckReport rep;

    g_assert_cmpint(vswap_store_check(s, &rep), ==, 0);
    g_assert_cmpuint(rep.bad, ==, 0);
}

static void count_done(void *opaque)
{
    (*(unsigned *)opaque)++;
}

/*
 * Keep the workers busy: start writes of @n test pages (version 1) to
 * slots @first.. in requests of 32, without waiting; @ops holds @n.
 * Each completed request counts in *@done.
 */
static void start_busy_writes(Fixture *f, VswapStore *s, VswapPageOp *ops,
                              unsigned n, uint64_t first, unsigned *done)
{
    for (unsigned i = 0; i < n; i += 32) {
        unsigned k = MIN(32, n - i);

        for (unsigned j = 0; j < k; j++) {
            ops[i + j] = (VswapPageOp) {
                .slot = first + i + j,
                .page = (void *)test_pages_get(f->pages, i + j, 1),
            };
        }
        g_assert_cmpint(vswap_store_write(s, ops + i, k, count_done, done),
                        ==, 0);
    }
}

/*
 * With a worker, the owner decompresses the first VSWAP_STORE_OWNER_READS
 * pages of a read from memory itself: they are in place when
 * vswap_store_read() returns, even with the worker busy for milliseconds
 * with compressions, and the callback still waits for
 * vswap_store_process().  So are the first pages of a larger read.
 */
static void test_owner_reads(Fixture *f, gconstpointer data)
{
    enum { BUSY = 200, SMALL = VSWAP_STORE_OWNER_READS, LARGE = 32 };
    VswapStore *s = open_store(f, false, 64 << 20, 1, false);
    g_autofree VswapPageOp *busy = g_new0(VswapPageOp, BUSY);
    g_autofree uint8_t *buf = g_malloc(LARGE * PAGE);
    VswapPageOp small[SMALL], large[LARGE];
    unsigned busy_done = 0, small_done = 0, large_done = 0;

    write_range(s, f->pages, SMALL + LARGE, 0);
    /* Keep the worker busy: BUSY compressions, 3 ms or more. */
    start_busy_writes(f, s, busy, BUSY, 1000, &busy_done);

    for (unsigned i = 0; i < SMALL; i++) {
        small[i] = (VswapPageOp) {
            .slot = i, .page = buf + i * PAGE, .status = -EINPROGRESS,
        };
    }
    g_assert_cmpint(vswap_store_read(s, small, SMALL, count_done,
                                     &small_done), ==, 0);
    for (unsigned i = 0; i < SMALL; i++) {
        g_assert_cmpint(small[i].status, ==, 0);
        g_assert(memcmp(buf + i * PAGE, test_pages_get(f->pages, i, 0),
                        PAGE) == 0);
    }
    g_assert_cmpuint(small_done, ==, 0);

    for (unsigned i = 0; i < LARGE; i++) {
        large[i] = (VswapPageOp) {
            .slot = SMALL + i, .page = buf + i * PAGE,
            .status = -EINPROGRESS,
        };
    }
    g_assert_cmpint(vswap_store_read(s, large, LARGE, count_done,
                                     &large_done), ==, 0);
    for (unsigned i = 0; i < SMALL; i++) {
        g_assert_cmpint(large[i].status, ==, 0);
    }
    vswap_store_drain(s);
    g_assert_cmpuint(small_done, ==, 1);
    g_assert_cmpuint(large_done, ==, 1);
    g_assert_cmpuint(busy_done, ==, (BUSY + LARGE - 1) / LARGE);
    for (unsigned i = 0; i < LARGE; i++) {
        g_assert_cmpint(large[i].status, ==, 0);
        g_assert(memcmp(buf + i * PAGE,
                        test_pages_get(f->pages, SMALL + i, 0), PAGE) == 0);
    }
}

/*
 * A worker reads a record in memory where it lies (no copy): a segment
 * buffer that the log gives up while such reads are in flight waits in a
 * limbo until they end.  Here 84 reads wait behind 150 compressions on the
 * one worker while their pages are discarded, which frees their segments:
 * the buffers stay mapped and unchanged, the reads return the pages, and
 * the limbo is empty once they are done.  Given back at once, the
 * buffers are reused for the compressions' records under the reads,
 * which then fail their checksums (-EIO), or unmapped under them.
 */
static void test_direct_read_limbo(Fixture *f, gconstpointer data)
{
    enum { BUSY = 150, N = 100, FILLER = 200 };
    VswapStore *s = open_store(f, false, 64 << 20, 1, false);
    g_autofree VswapPageOp *busy = g_new0(VswapPageOp, BUSY);
    g_autofree uint8_t *buf = g_malloc(N * PAGE);
    VswapPageOp ops[N];
    unsigned busy_done = 0, read_done = 0;
    uint32_t nbufs;

    /* Slots [0, N) fill sealed segments of their own, then other pages. */
    write_range(s, f->pages, N, 0);
    for (uint64_t i = 0; i < FILLER; i += 32) {
        VswapPageOp fill[32];

        for (unsigned j = 0; j < 32; j++) {
            fill[j] = (VswapPageOp) {
                .slot = 1000 + i + j,
                .page = (void *)test_pages_get(f->pages, i + j, 2),
            };
        }
        g_assert_cmpint(vswap_store_write_sync(s, fill, 32), ==, 0);
    }
    start_busy_writes(f, s, busy, BUSY, 2000, &busy_done);
    for (unsigned i = 0; i < N; i += 32) {
        unsigned k = MIN(32, N - i);

        for (unsigned j = 0; j < k; j++) {
            ops[i + j] = (VswapPageOp) { .slot = i + j,
                                         .page = buf + (i + j) * PAGE };
        }
        g_assert_cmpint(vswap_store_read(s, ops + i, k, count_done,
                                         &read_done), ==, 0);
    }
    g_assert_cmpuint(s->rd_inflight[0] + s->rd_inflight[1], >, 0);

    /* Every segment the discard frees waits, and one at least does. */
    nbufs = s->mem.nbufs;
    g_assert_cmpint(vswap_store_discard(s, 0, N), ==, 0);
    g_assert_cmpuint(nbufs, >, s->mem.nbufs);
    g_assert_cmpuint(s->rd_limbo[0]->len + s->rd_limbo[1]->len, ==,
                     nbufs - s->mem.nbufs);

    vswap_store_drain(s);
    g_assert_cmpuint(read_done, ==, (N + 31) / 32);
    g_assert_cmpuint(busy_done, ==, (BUSY + 31) / 32);
    for (unsigned i = 0; i < N; i++) {
        g_assert_cmpint(ops[i].status, ==, 0);
        g_assert(memcmp(buf + i * PAGE, test_pages_get(f->pages, i, 0),
                        PAGE) == 0);
    }
    g_assert_cmpuint(s->rd_inflight[0] + s->rd_inflight[1], ==, 0);
    g_assert_cmpuint(s->rd_limbo[0]->len + s->rd_limbo[1]->len, ==, 0);
    verify_range(s, f->pages, 0, 0);
    assert_check_clean(s);
}

/*
 * The limbo's epochs: a buffer given up waits for the reads that started
 * before it, not for reads that started after, which cannot see it.
 */
static void test_direct_read_epochs(Fixture *f, gconstpointer data)
{
    VswapStore *s = open_store(f, false, 64 << 20, 0, false);
    size_t seg = (size_t)1 << s->seg_shift;
    uint8_t *b[3];
    uint8_t p1, p2;

    g_assert_null(s->spare_buf);
    for (int i = 0; i < 3; i++) {
        b[i] = mmap(NULL, seg, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        g_assert(b[i] != MAP_FAILED);
    }
    p1 = vswap_log_direct_begin(s);
    vswap_log_put_buf(s, b[0]);
    g_assert_null(s->spare_buf);
    g_assert_cmpuint(s->rd_limbo[p1]->len, ==, 1);

    /* A read that starts now cannot see b[0]: it does not hold it. */
    p2 = vswap_log_direct_begin(s);
    g_assert_cmpuint(p2, !=, p1);
    vswap_log_direct_end(s, p1);
    g_assert_true(s->spare_buf == b[0]);
    g_assert_cmpuint(s->rd_limbo[p1]->len, ==, 0);

    /* It holds what is given up while it runs. */
    vswap_log_put_buf(s, b[1]);
    g_assert_cmpuint(s->rd_limbo[p2]->len, ==, 1);
    vswap_log_direct_end(s, p2);
    g_assert_cmpuint(s->rd_limbo[0]->len + s->rd_limbo[1]->len, ==, 0);
    g_assert_true(s->spare_buf == b[0]);

    /* With no read in flight, a buffer goes at once. */
    vswap_log_put_buf(s, b[2]);
    g_assert_cmpuint(s->rd_limbo[0]->len + s->rd_limbo[1]->len, ==, 0);
}

static void test_memory_round_trip(Fixture *f, gconstpointer data)
{
    unsigned workers = GPOINTER_TO_UINT(data);
    VswapStore *s = open_store(f, false, 64 << 20, workers, false);
    VswapStoreStats st;

    write_range(s, f->pages, 2000, 1);
    verify_range(s, f->pages, 2000, 1);
    vswap_store_get_stats(s, &st);
    g_assert_cmpuint(st.pages_mem + st.pages_fill, ==, 2000);
    g_assert_cmpuint(st.pages_disk, ==, 0);
    g_assert_cmpuint(st.writes, ==, 2000);
    g_assert_cmpuint(st.reads, ==, 2000);
    /* Compressed: the corpus and generated pages shrink well. */
    g_assert_cmpuint(st.payload_bytes, <, st.pages_mem * PAGE / 2);
    assert_check_clean(s);
}

/*
 * Rewrites and discards leave dead records in memory segments.  A
 * memory-only store never reaches its budget, so nothing but background
 * compaction gives that memory back: it must keep the segments within
 * 1 / 0.8 of the live bytes, without the caller asking, and copy only
 * a bounded number of bytes for each byte the guest wrote.
 */
static void test_memory_compaction(Fixture *f, gconstpointer data)
{
    VswapStore *s = open_store(f, false, 64 << 20, GPOINTER_TO_UINT(data),
                               false);
    const uint64_t n = 6000;
    g_autoptr(GRand) rand = g_rand_new_with_seed(7);
    uint64_t payload_written;
    g_autofree unsigned *ver = g_new0(unsigned, n);
    g_autofree uint8_t *buf = g_malloc(PAGE);
    VswapStoreStats st;

    write_range(s, f->pages, n, 1);
    for (uint64_t i = 0; i < n; i++) {
        ver[i] = 1;
    }
    vswap_store_get_stats(s, &st);
    payload_written = st.payload_bytes;
    /* Sort-like churn: three rounds of scattered rewrites and discards. */
    for (unsigned round = 0; round < 3; round++) {
        for (unsigned k = 0; k < n / 2; k++) {
            uint64_t slot = g_rand_int_range(rand, 0, n);

            ver[slot] = 2 + round;
            g_assert_cmpint(write_one(s, slot,
                                      test_pages_get(f->pages, slot,
                                                     ver[slot])), ==, 0);
        }
        for (unsigned k = 0; k < n / 8; k++) {
            uint64_t slot = g_rand_int_range(rand, 0, n);

            g_assert_cmpint(vswap_store_discard(s, slot, 1), ==, 0);
            ver[slot] = 0;
        }
        vswap_store_process(s);
        vswap_store_drain(s);
    }
    vswap_store_get_stats(s, &st);
    /* The payload of every write, at the first pass's mean per page. */
    payload_written = payload_written * st.writes / n;
    g_test_message("memory segments %" G_GUINT64_FORMAT " bytes for %"
                   G_GUINT64_FORMAT " live bytes; %" G_GUINT64_FORMAT
                   " bytes moved by memory compaction",
                   st.mem_bytes, st.mem_live_bytes, st.mem_compacted_bytes);
    g_assert_cmpuint(st.mem_compacted_segments, >, 0);
    /*
     * Held at 80 to 90% live under uniform rewrites, the sparsest segments
     * are about 60 to 70% live: each byte freed costs 1.5 to 2.3 bytes
     * copied.  3 copies per byte written means compaction chases itself.
     */
    g_assert_cmpuint(st.mem_compacted_bytes, <=, 3 * payload_written);
    g_assert_cmpuint(st.mem_bytes, <=,
                     st.mem_live_bytes * 100 / 80 + 2 * 64 * 1024);
    for (uint64_t i = 0; i < n; i++) {
        int ret = read_one(s, i, buf);

        if (ver[i] == 0) {
            g_assert_cmpint(ret, ==, VSWAP_STORE_UNMAPPED);
        } else {
            g_assert_cmpint(ret, ==, 0);
            g_assert(memcmp(buf, test_pages_get(f->pages, i, ver[i]),
                            PAGE) == 0);
        }
    }
    assert_check_clean(s);
}

static void test_fill_pages(Fixture *f, gconstpointer data)
{
    VswapStore *s = open_store(f, false, 1 << 20, 1, false);
    g_autofree uint32_t *page = g_malloc(PAGE);
    g_autofree uint8_t *buf = g_malloc(PAGE);
    VswapPageOp op = { .slot = 9, .page = NULL, .fill = 0xabcd1234 };
    VswapStoreStats st;

    for (unsigned i = 0; i < PAGE / 4; i++) {
        page[i] = 0xdeadbeef;
    }
    g_assert_cmpint(write_one(s, 3, page), ==, 0);
    memset(page, 0, PAGE);
    g_assert_cmpint(write_one(s, 4, page), ==, 0);
    g_assert_cmpint(vswap_store_write_sync(s, &op, 1), ==, 0);
    vswap_store_get_stats(s, &st);
    g_assert_cmpuint(st.pages_fill, ==, 3);
    g_assert_cmpuint(st.pages_mem, ==, 0);
    g_assert_cmpuint(st.payload_bytes, ==, 0);
    g_assert_cmpuint(st.mem_bytes, ==, 0);

    g_assert_cmpint(read_one(s, 3, buf), ==, 0);
    g_assert_cmphex(((uint32_t *)buf)[PAGE / 4 - 1], ==, 0xdeadbeef);
    g_assert_cmpint(read_one(s, 4, buf), ==, 0);
    g_assert(memcmp(buf, page, PAGE) == 0);
    g_assert_cmpint(read_one(s, 9, buf), ==, 0);
    /* Little-endian in the page, whatever the host's byte order. */
    g_assert_cmphex(le32toh(((uint32_t *)buf)[77]), ==, 0xabcd1234);
}

static void test_unmapped_and_discard(Fixture *f, gconstpointer data)
{
    VswapStore *s = open_store(f, false, 1 << 20, 1, false);
    g_autofree uint8_t *buf = g_malloc(PAGE);
    VswapStoreStats st;

    memset(buf, 0x55, PAGE);
    g_assert_cmpint(read_one(s, 100, buf), ==, VSWAP_STORE_UNMAPPED);
    g_assert_cmpuint(buf[0] | buf[PAGE - 1], ==, 0);

    write_range(s, f->pages, 300, 1);
    g_assert_cmpint(vswap_store_discard(s, 100, 100), ==, 0);
    g_assert_cmpint(read_one(s, 150, buf), ==, VSWAP_STORE_UNMAPPED);
    g_assert_cmpint(read_one(s, 99, buf), ==, 0);
    g_assert_cmpint(read_one(s, 200, buf), ==, 0);
    g_assert_cmpint(vswap_store_discard(s, 0, s->cfg.capacity),
                    ==, 0);
    vswap_store_get_stats(s, &st);
    g_assert_cmpuint(st.pages_mem + st.pages_fill, ==, 0);
    g_assert_cmpuint(st.mem_live_bytes, ==, 0);
    /* Only the open segment may remain allocated. */
    g_assert_cmpuint(st.mem_bytes, <=, 64 * 1024);
    assert_check_clean(s);
}

static void test_bad_arguments(Fixture *f, gconstpointer data)
{
    VswapStore *s = open_store(f, false, 1 << 20, 1, false);
    g_autofree uint8_t *buf = g_malloc0(PAGE);
    VswapPageOp ops[2] = {
        { .slot = 1 << 16, .page = buf },       /* out of range */
        { .slot = 5, .page = buf },
    };
    VswapPageOp rd = { .slot = 5, .page = NULL };
    VswapStoreConfig cfg;
    GError *err = NULL;

    g_assert_cmpint(vswap_store_write_sync(s, ops, 2), ==, -EINVAL);
    g_assert_cmpint(ops[0].status, ==, -EINVAL);
    g_assert_cmpint(ops[1].status, ==, 0);
    g_assert_cmpint(vswap_store_read_sync(s, &rd, 1), ==, -EINVAL);
    g_assert_cmpint(vswap_store_write_sync(s, ops, 0), ==, -EINVAL);
    g_assert_cmpint(vswap_store_write_sync(s, ops, VSWAP_STORE_MAX_BATCH + 1),
                    ==, -EINVAL);
    g_assert_cmpint(vswap_store_write(s, NULL, 1, NULL, NULL), ==, -EINVAL);
    g_assert_cmpint(vswap_store_discard(s, 0, 0), ==, -EINVAL);
    g_assert_cmpint(vswap_store_discard(s, (1 << 16) - 1, 2), ==, -EINVAL);
    g_assert_cmpint(vswap_store_discard(s, UINT64_MAX, 2), ==, -EINVAL);

    vswap_store_config_init(&cfg);
    cfg.capacity = 0;
    g_assert_null(vswap_store_open(&cfg, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    vswap_store_config_init(&cfg);
    cfg.segment_size = 3 << 16;
    g_assert_null(vswap_store_open(&cfg, &err));
    g_clear_error(&err);
    vswap_store_config_init(&cfg);
    cfg.level = 1000;
    g_assert_null(vswap_store_open(&cfg, &err));
    g_clear_error(&err);
}

/* A file that is not a store is never overwritten. */
static void test_refuses_foreign_file(Fixture *f, gconstpointer data)
{
    VswapStoreConfig cfg;
    GError *err = NULL;
    g_autofree char *contents = NULL;
    gsize len;

    g_assert(g_file_set_contents(f->path, "precious data", -1, NULL));
    vswap_store_config_init(&cfg);
    cfg.path = f->path;
    g_assert_null(vswap_store_open(&cfg, &err));
    g_assert_nonnull(strstr(err->message, "not a vswap store file"));
    g_clear_error(&err);
    g_assert(g_file_get_contents(f->path, &contents, &len, NULL));
    g_assert_cmpstr(contents, ==, "precious data");
}

/*
 * A pre-sized file of zeroes (what a new block device, NBD export or RBD
 * image reads as) holds nothing and may become a store; a swap signature
 * in its first page makes it foreign.
 */
static void test_zeroed_file_is_empty(Fixture *f, gconstpointer data)
{
    static const char swap_magic[] = "SWAPSPACE2";
    g_autofree char *zeroes = g_malloc0(256 * 1024);
    g_autofree char *contents = NULL;
    VswapStoreConfig cfg;
    VswapStore *s;
    GError *err = NULL;
    gsize len;

    g_assert(g_file_set_contents(f->path, zeroes, 256 * 1024, NULL));
    vswap_store_config_init(&cfg);
    cfg.path = f->path;
    s = vswap_store_open(&cfg, &err);
    g_assert_no_error(err);
    vswap_store_close(s);

    memcpy(zeroes + 4096 - 10, swap_magic, 10);
    g_assert(g_file_set_contents(f->path, zeroes, 256 * 1024, NULL));
    g_assert_null(vswap_store_open(&cfg, &err));
    g_assert_nonnull(strstr(err->message, "not a vswap store file"));
    g_clear_error(&err);
    g_assert(g_file_get_contents(f->path, &contents, &len, NULL));
    g_assert_cmpuint(len, ==, 256 * 1024);
    g_assert(!memcmp(contents + 4096 - 10, swap_magic, 10));
}

static void test_disk_tier(Fixture *f, gconstpointer data)
{
    VswapStore *s = open_store(f, true, 256 * 1024, GPOINTER_TO_UINT(data),
                               false);
    VswapStoreStats st;

    write_range(s, f->pages, 3000, 1);
    vswap_store_drain(s);
    vswap_store_get_stats(s, &st);
    g_assert_cmpuint(st.pages_disk, >, 1000);
    /* Some disk pages may still sit in the open disk segment's buffer. */
    g_assert_cmpuint(st.writeback_pages, >, 1000);
    g_assert_cmpuint(st.mem_bytes, <=, 256 * 1024 + 64 * 1024);
    verify_range(s, f->pages, 3000, 1);
    assert_check_clean(s);
}

/*
 * The store of the group tests: 64 KiB segments, a budget of 4 segments
 * and a hard limit of 16, so that writeback packs while it keeps pace.
 */
static void groups_config(Fixture *f, VswapStoreConfig *cfg, bool dict)
{
    vswap_store_config_init(cfg);
    cfg->path = f->path;
    cfg->capacity = 1 << 16;
    cfg->segment_size = 64 * 1024;
    cfg->mem_budget = 256 * 1024;
    cfg->mem_limit = 1024 * 1024;
    cfg->dict_auto = dict;
    cfg->dict_train_pages = 64;
}

/*
 * Version @ver of every third slot from @first below @n, then a full
 * compaction: groups that lost pages are split into records of one page.
 */
static void split_groups(Fixture *f, VswapStore *s, uint64_t first,
                         uint64_t n, unsigned ver)
{
    VswapStoreStats st;

    for (uint64_t i = first; i < n; i += 3) {
        g_assert_cmpint(write_one(s, i, test_pages_get(f->pages, i, ver)),
                        ==, 0);
    }
    vswap_store_drain(s);
    g_assert_cmpint(vswap_store_compact(s, true, NULL, NULL), ==, 0);
    vswap_store_drain(s);
    vswap_store_get_stats(s, &st);
    g_assert_cmpuint(st.disk_group_splits, >, 0);
}

/*
 * Group records: pages written as a guest swaps, a batch at a time with
 * writeback keeping pace, are packed 4 to a frame on disk; every page
 * reads back, from memory buffers and from the file (the last segment
 * written short, as a compaction pass writes it), and with the file's
 * dictionary-less and dictionary frames alike.  Overwriting some pages
 * of each group makes a full compaction split them; the rest still read.
 */
static void test_groups(Fixture *f, gconstpointer data)
{
    const uint64_t n = 3000;
    enum { HEAP_SLOTS = 60000 };
    g_autofree uint8_t *heap = g_malloc(PAGE);
    g_autofree uint8_t *buf = g_malloc(PAGE);
    VswapStoreConfig cfg;
    g_autoptr(GError) err = NULL;
    VswapStoreStats st;
    VswapStore *s;

    groups_config(f, &cfg, GPOINTER_TO_UINT(data));
    s = f->s = vswap_store_open(&cfg, &err);
    g_assert_no_error(err);
    /*
     * First the file's very end: generated heap pages, all compressible,
     * until writeback packed a segment.  Its groups come before its other
     * records in the disk segment, which then usually ends with a group;
     * a compaction pass writes it short, at the end of the file.  A read
     * of a page in a group does not know the group's size, and must not
     * read past what its segment holds: here that is past the file's end.
     */
    for (uint64_t slot = HEAP_SLOTS;; slot++) {
        g_assert_cmpuint(slot, <, cfg.capacity);
        test_pages_heap(heap, slot);
        g_assert_cmpint(write_one(s, slot, heap), ==, 0);
        vswap_store_drain(s);
        vswap_store_get_stats(s, &st);
        if (st.disk_groups) {
            g_assert_cmpint(vswap_store_compact(s, false, NULL, NULL), ==, 0);
            vswap_store_drain(s);
            for (uint64_t i = HEAP_SLOTS; i <= slot; i++) {
                test_pages_heap(heap, i);
                g_assert_cmpint(read_one(s, i, buf), ==, 0);
                g_assert(memcmp(buf, heap, PAGE) == 0);
            }
            break;
        }
    }
    write_batches(s, f->pages, n, 1, true);
    g_assert_cmpint(vswap_store_compact(s, false, NULL, NULL), ==, 0);
    vswap_store_drain(s);
    vswap_store_get_stats(s, &st);
    g_test_message("%" G_GUINT64_FORMAT " pages on disk, %" G_GUINT64_FORMAT
                   " in %" G_GUINT64_FORMAT " groups", st.pages_disk,
                   st.disk_group_pages, st.disk_groups);
    g_assert_cmpuint(st.disk_groups, >, n / 16);
    g_assert_cmpuint(st.disk_group_pages, >=, 2 * st.disk_groups);
    verify_range(s, f->pages, n, 1);
    assert_check_clean(s);

    /* Kill one page of every 3: most groups lose some, and split. */
    split_groups(f, s, 0, n, 2);
    for (uint64_t i = 0; i < n; i++) {
        g_assert_cmpint(read_one(s, i, buf), ==, 0);
        g_assert(memcmp(buf, test_pages_get(f->pages, i, i % 3 ? 1 : 2),
                        PAGE) == 0);
    }
    assert_check_clean(s);
}

static void test_compaction(Fixture *f, gconstpointer data)
{
    VswapStore *s = open_store(f, true, 256 * 1024, 1, false);
    VswapStoreStats st;

    write_range(s, f->pages, 4000, 1);
    /* Free three quarters of every segment, scattered. */
    for (uint64_t i = 0; i < 4000; i++) {
        if (i % 4) {
            g_assert_cmpint(vswap_store_discard(s, i, 1), ==, 0);
        }
    }
    vswap_store_drain(s);
    g_assert_cmpint(vswap_store_compact(s, true, NULL, NULL), ==, 0);
    vswap_store_drain(s);
    g_assert_cmpint(vswap_store_compact(s, true, NULL, NULL), ==, 0);
    g_assert_cmpint(vswap_store_compact(s, true, NULL, NULL), ==, -EBUSY);
    vswap_store_drain(s);
    vswap_store_get_stats(s, &st);
    g_test_message("disk file %" G_GUINT64_FORMAT " bytes for %"
                   G_GUINT64_FORMAT " live bytes",
                   st.disk_file_bytes, st.disk_live_bytes);
    g_assert_cmpuint(st.compactions, ==, 2);
    g_assert_cmpuint(st.compacted_segments, >, 0);
    /* Target: at most 1.05 times the live bytes, plus the superblock. */
    g_assert_cmpuint(st.disk_file_bytes, <=,
                     st.disk_live_bytes * 105 / 100 + 64 * 1024 + 4096);
    for (uint64_t i = 0; i < 4000; i += 4) {
        g_autofree uint8_t *buf = g_malloc(PAGE);

        g_assert_cmpint(read_one(s, i, buf), ==, 0);
        g_assert(memcmp(buf, test_pages_get(f->pages, i, 1), PAGE) == 0);
    }
    assert_check_clean(s);
}

/* Run the owner's event loop for @ms, asserting that no I/O is in flight. */
static void assert_no_io_for(VswapStore *s, unsigned ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;

    while (g_get_monotonic_time() < end) {
        vswap_store_process(s);
        g_assert_cmpuint(vswap_io_inflight(vswap_store_io_engine(s)), ==, 0);
        g_usleep(1000);
    }
}

/*
 * A quiesced store (a drained section of its node in QEMU) starts no I/O
 * of its own, although writeback (memory over a budget just cut) and
 * background compaction (sparse disk segments) are both due; a request's
 * own disk read still runs.  Unquiesced, both catch up and every page
 * reads back.
 */
static void test_quiesce(Fixture *f, gconstpointer data)
{
    VswapStore *s = open_store(f, true, 256 * 1024, 1, false);
    g_autofree uint8_t *buf = g_malloc(PAGE);
    VswapStoreStats before, st;

    write_range(s, f->pages, 3000, 1);
    vswap_store_drain(s);
    vswap_store_set_mem_budget(s, 16 << 20, 0);
    write_range(s, f->pages, 1000, 2);
    vswap_store_drain(s);

    vswap_store_quiesce(s);
    g_assert_false(vswap_store_quiesced(s));
    vswap_store_process(s);
    g_assert_true(vswap_store_quiesced(s));
    /* A read of a disk record is the request's own I/O: it runs. */
    g_assert_cmpint(read_one(s, 2000, buf), ==, 0);
    g_assert(memcmp(buf, test_pages_get(f->pages, 2000, 1), PAGE) == 0);
    g_assert_cmpuint(vswap_io_inflight(vswap_store_io_engine(s)), ==, 0);

    /* Three quarters of the pages on disk die; memory is cut to 128 KiB. */
    for (uint64_t i = 1000; i < 3000; i++) {
        if (i % 4) {
            g_assert_cmpint(vswap_store_discard(s, i, 1), ==, 0);
        }
    }
    vswap_store_set_mem_budget(s, 128 * 1024, 0);
    vswap_store_get_stats(s, &before);
    g_assert_cmpuint(before.mem_bytes, >=, 4 * 128 * 1024);
    assert_no_io_for(s, 300);
    vswap_store_get_stats(s, &st);
    g_assert_cmpuint(st.writeback_bytes, ==, before.writeback_bytes);
    g_assert_cmpuint(st.compacted_segments, ==, before.compacted_segments);
    g_assert_cmpuint(st.mem_bytes, ==, before.mem_bytes);

    vswap_store_unquiesce(s);
    g_assert_false(vswap_store_quiesced(s));
    /* What the notifier announces; drain then waits for the I/O. */
    vswap_store_process(s);
    vswap_store_drain(s);
    vswap_store_get_stats(s, &st);
    g_assert_cmpuint(st.writeback_bytes, >, before.writeback_bytes);
    g_assert_cmpuint(st.compacted_segments, >, before.compacted_segments);
    g_assert_cmpuint(st.mem_bytes, <=, 128 * 1024 + 2 * 64 * 1024);
    verify_range(s, f->pages, 1000, 2);
    for (uint64_t i = 1000; i < 3000; i++) {
        if (i % 4) {
            g_assert_cmpint(read_one(s, i, buf), ==, VSWAP_STORE_UNMAPPED);
        } else {
            g_assert_cmpint(read_one(s, i, buf), ==, 0);
            g_assert(memcmp(buf, test_pages_get(f->pages, i, 1), PAGE) == 0);
        }
    }
    assert_check_clean(s);
}

/* A record corrupted in the store file is an error for its slot only. */
static void test_corrupt_record(Fixture *f, gconstpointer data)
{
    VswapStore *s = open_store(f, true, 128 * 1024, 1, false);
    g_autofree uint8_t *buf = g_malloc(PAGE);
    VswapCheckReport rep;
    VswapStoreStats st;
    uint64_t ent, off;
    uint8_t byte;
    int fd;

    write_range(s, f->pages, 2000, 1);
    vswap_store_drain(s);
    /* Find a slot whose record is on disk, not in a buffer. */
    for (off = 0; off < 2000; off++) {
        ent = vswap_map_get(s->map, off);
        if (vswap_ent_state(ent) == VSWAP_ENT_DISK &&
            !vswap_log_record_ptr(s, ent)) {
            break;
        }
    }
    g_assert_cmpuint(off, <, 2000);
    fd = open(f->path, O_RDWR);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, &byte, 1, s->data_offset + vswap_ent_addr(ent) +
                          VSWAP_REC_HDR_SIZE + 3), ==, 1);
    byte ^= 0x40;
    g_assert_cmpint(pwrite(fd, &byte, 1, s->data_offset + vswap_ent_addr(ent) +
                           VSWAP_REC_HDR_SIZE + 3), ==, 1);
    close(fd);

    g_assert_cmpint(read_one(s, off, buf), ==, -EIO);
    vswap_store_get_stats(s, &st);
    g_assert_cmpuint(st.checksum_errors, ==, 1);
    g_assert_cmpint(vswap_store_check(s, &rep), ==, -EIO);
    g_assert_cmpuint(rep.bad, ==, 1);
    g_assert_cmpuint(rep.first_bad_slot, ==, off);
    /* Every other page is intact. */
    for (uint64_t i = 0; i < 2000; i++) {
        if (i != off) {
            g_assert_cmpint(read_one(s, i, buf), ==, 0);
            g_assert(memcmp(buf, test_pages_get(f->pages, i, 1), PAGE) == 0);
        }
    }
}

/*
 * The store file is truncated behind the store's back (an operator's
 * mistake, or a filesystem gone wrong) while it holds pages on disk.
 * Every slot whose record was cut off reads as -EIO, never as other data;
 * the rest read back; compaction copes, and new writes and reads work.
 */
static void test_truncated_while_open(Fixture *f, gconstpointer data)
{
    VswapStore *s = open_store(f, true, 128 * 1024, 1, false);
    unsigned lost = 0, intact = 0;
    VswapStoreStats st;
    off_t cut;
    int fd;

    write_range(s, f->pages, 3000, 1);
    vswap_store_drain(s);
    vswap_store_get_stats(s, &st);
    g_assert_cmpuint(st.pages_disk, >, 1000);
    /* Keep the superblock and about a third of the segments. */
    fd = open(f->path, O_RDWR);
    g_assert_cmpint(fd, >=, 0);
    cut = lseek(fd, 0, SEEK_END) / 3;
    g_assert_cmpint(ftruncate(fd, cut), ==, 0);
    close(fd);

    lost = verify_range_or_eio(s, f->pages, 3000, 1);
    intact = 3000 - lost;
    g_test_message("%u pages lost to the truncation, %u intact", lost,
                   intact);
    g_assert_cmpuint(lost, >, 0);
    g_assert_cmpuint(intact, >, 0);

    /* Compaction moves what it can read and leaves the rest failing. */
    g_assert_cmpint(vswap_store_compact(s, true, NULL, NULL), ==, 0);
    vswap_store_drain(s);
    verify_range_or_eio(s, f->pages, 3000, 1);
    /* The store goes on working: new pages reach the disk and read back. */
    write_range(s, f->pages, 3000, 2);
    vswap_store_drain(s);
    verify_range(s, f->pages, 3000, 2);
}

/*
 * Writeback fails with ENOSPC: pages stay in memory up to the hard limit,
 * then writes fail cleanly; every acknowledged page stays readable, and
 * writeback resumes once the disk recovers.
 */
static void test_enospc_writeback(Fixture *f, gconstpointer data)
{
    VswapStore *s = open_store(f, true, 256 * 1024, 1, true);
    VswapIoFault fault = { .op = VSWAP_IO_WRITE, .error = -ENOSPC };
    g_autofree uint8_t *buf = g_malloc(PAGE);
    bool *acked = g_new0(bool, 4000);
    uint64_t nacked = 0, refused = 0;
    VswapStoreStats st;

    vswap_io_faulty_add(vswap_store_io_engine(s), &fault);
    for (uint64_t i = 0; i < 4000; i++) {
        int ret = write_one(s, i, test_pages_get(f->pages, i, 1));

        if (ret == 0) {
            acked[i] = true;
            nacked++;
        } else {
            g_assert_cmpint(ret, ==, -ENOSPC);
            refused++;
        }
    }
    vswap_store_get_stats(s, &st);
    g_test_message("acked %" G_GUINT64_FORMAT ", refused %" G_GUINT64_FORMAT,
                   nacked, refused);
    g_assert_cmpuint(refused, >, 0);
    g_assert_cmpuint(st.enospc, ==, refused);
    g_assert_cmpuint(st.writeback_errors, >, 0);
    /* Hard limit: budget + 1/4, plus write buffers in flight. */
    g_assert_cmpuint(st.mem_bytes, <=, 320 * 1024 + 9 * 64 * 1024);
    for (uint64_t i = 0; i < 4000; i++) {
        if (acked[i]) {
            g_assert_cmpint(read_one(s, i, buf), ==, 0);
            g_assert(memcmp(buf, test_pages_get(f->pages, i, 1), PAGE) == 0);
        }
    }
    /* The disk recovers: writeback drains memory again. */
    vswap_io_faulty_clear(vswap_store_io_engine(s));
    g_usleep(150 * 1000);
    for (uint64_t i = 0; i < 4000; i++) {
        if (!acked[i]) {
            g_assert_cmpint(write_one(s, i, test_pages_get(f->pages, i, 1)),
                            ==, 0);
        }
    }
    vswap_store_drain(s);
    verify_range(s, f->pages, 4000, 1);
    assert_check_clean(s);
    g_free(acked);
}

static void test_eio_read(Fixture *f, gconstpointer data)
{
    VswapStore *s = open_store(f, true, 128 * 1024, 1, true);
    VswapIoFault fault = { .op = VSWAP_IO_READ, .error = -EIO, .count = 1 };

    write_range(s, f->pages, 1500, 1);
    vswap_store_drain(s);
    vswap_io_faulty_add(vswap_store_io_engine(s), &fault);
    g_assert_cmpuint(verify_range_or_eio(s, f->pages, 1500, 1), ==, 1);
    g_assert_cmpuint(vswap_io_faulty_injected(vswap_store_io_engine(s)), ==, 1);
}

/*
 * Torn segment writes: half of a segment reaches the file, then the rest
 * of the write fails.  The store must not trust the half on disk: it
 * keeps the segment's buffer, retries the whole write, and every page
 * reads back.  Then the half-written state is made permanent by hand
 * (the tail of a written segment zeroed, as a lost volatile cache would
 * leave it): the records there read as -EIO, the others intact.
 */
static void test_torn_segments(Fixture *f, gconstpointer data)
{
    VswapStore *s = open_store(f, true, 128 * 1024, 1, true);
    VswapIoFault half = { .op = VSWAP_IO_WRITE, .short_transfer = true,
                          .count = 2 };
    VswapIoFault fail = { .op = VSWAP_IO_WRITE, .error = -EIO, .count = 2 };
    g_autofree uint8_t *zeros = g_malloc0(32 * 1024);
    unsigned lost = 0;
    VswapStoreStats st;
    uint64_t ent = 0, slot;
    int fd;

    /*
     * The first 2 segment writes go half-way, then their remainder fails.
     * Memory fills up meanwhile: a write refused with -ENOSPC is retried
     * once writeback has caught up, as the guest's swap would retry.
     */
    vswap_io_faulty_add(vswap_store_io_engine(s), &half);
    vswap_io_faulty_add(vswap_store_io_engine(s), &fail);
    for (uint64_t i = 0; i < 2000; i++) {
        int ret, tries = 0;

        while ((ret = write_one(s, i, test_pages_get(f->pages, i, 1))) ==
               -ENOSPC && tries++ < 200) {
            g_usleep(10 * 1000);
        }
        g_assert_cmpint(ret, ==, 0);
    }
    vswap_store_drain(s);
    vswap_store_get_stats(s, &st);
    g_assert_cmpuint(vswap_io_faulty_injected(vswap_store_io_engine(s)), ==, 4);
    g_assert_cmpuint(st.writeback_errors, >=, 2);
    g_assert_cmpuint(st.pages_disk, >, 500);
    verify_range(s, f->pages, 2000, 1);
    assert_check_clean(s);
    vswap_io_faulty_clear(vswap_store_io_engine(s));

    /* A segment on disk whose second half never made it. */
    for (slot = 0; slot < 2000; slot++) {
        ent = vswap_map_get(s->map, slot);
        if (vswap_ent_state(ent) == VSWAP_ENT_DISK &&
            !vswap_log_record_ptr(s, ent)) {
            break;
        }
    }
    g_assert_cmpuint(slot, <, 2000);
    fd = open(f->path, O_RDWR);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pwrite(fd, zeros, 32 * 1024, s->data_offset +
                           (vswap_ent_addr(ent) / (64 * 1024)) * 64 * 1024 +
                           32 * 1024), ==, 32 * 1024);
    close(fd);
    lost = verify_range_or_eio(s, f->pages, 2000, 1);
    g_test_message("%u records in the torn half", lost);
    g_assert_cmpuint(lost, >, 0);
}

static void test_short_writes_and_corrupt_reads(Fixture *f, gconstpointer data)
{
    VswapStore *s = open_store(f, true, 128 * 1024, 1, true);
    VswapIoFault shortw = { .op = VSWAP_IO_WRITE, .short_transfer = true };
    VswapIoFault corrupt = { .op = VSWAP_IO_READ, .corrupt = true, .count = 3 };

    vswap_io_faulty_add(vswap_store_io_engine(s), &shortw);
    write_range(s, f->pages, 1500, 1);
    vswap_store_drain(s);
    g_assert_cmpuint(vswap_io_faulty_injected(vswap_store_io_engine(s)), >, 0);
    vswap_io_faulty_clear(vswap_store_io_engine(s));
    assert_check_clean(s);

    vswap_io_faulty_add(vswap_store_io_engine(s), &corrupt);
    /* Never wrong data: either the right page or an error. */
    g_assert_cmpuint(verify_range_or_eio(s, f->pages, 1500, 1), ==, 3);
}

static void test_export_import(Fixture *f, gconstpointer data)
{
    VswapStore *src = open_store(f, true, 256 * 1024, 1, false);
    g_autofree uint8_t *payload = g_malloc(PAGE);
    g_autofree uint8_t *buf = g_malloc(PAGE);
    VswapStoreConfig cfg;
    VswapRecordInfo info;
    VswapStore *dst;
    uint64_t sent = 0;
    int ret;

    write_range(src, f->pages, 2000, 1);
    vswap_store_drain(src);
    vswap_store_export_start(src);
    g_assert_cmpuint(vswap_store_export_pending(src), ==, 2000);

    vswap_store_config_init(&cfg);
    cfg.capacity = 1 << 16;
    cfg.segment_size = 64 * 1024;
    cfg.mem_budget = 64 << 20;
    dst = vswap_store_open(&cfg, NULL);
    g_assert_nonnull(dst);

    /* First pass, with writes and discards landing in the middle. */
    while ((ret = vswap_store_export_next(src, &info, payload)) == 1) {
        g_assert_cmpint(vswap_store_import(dst, &info, payload), ==, 0);
        if (++sent == 1000) {
            for (uint64_t i = 0; i < 2000; i += 100) {
                g_assert_cmpint(write_one(src, i,
                                          test_pages_get(f->pages, i, 2)), ==, 0);
            }
            g_assert_cmpint(vswap_store_discard(src, 1, 1), ==, 0);
        }
    }
    g_assert_cmpint(ret, ==, 0);
    g_assert_cmpuint(vswap_store_export_pending(src), ==, 0);
    /* Moves between tiers do not dirty anything. */
    g_assert_cmpint(vswap_store_compact(src, true, NULL, NULL), ==, 0);
    vswap_store_drain(src);
    g_assert_cmpuint(vswap_store_export_pending(src), ==, 0);
    vswap_store_export_stop(src);

    for (uint64_t i = 0; i < 2000; i++) {
        unsigned ver = i % 100 == 0 ? 2 : 1;

        ret = read_one(dst, i, buf);
        if (i == 1) {
            g_assert_cmpint(ret, ==, VSWAP_STORE_UNMAPPED);
            continue;
        }
        g_assert_cmpint(ret, ==, 0);
        g_assert(memcmp(buf, test_pages_get(f->pages, i, ver), PAGE) == 0);
    }
    assert_check_clean(dst);

    /* Import validates what it is given. */
    info = (VswapRecordInfo) { .slot = 5, .kind = VSWAP_RECORD_ZSTD, .len = 10 };
    memset(payload, 0x77, 10);
    info.crc = 0;
    g_assert_cmpint(vswap_store_import(dst, &info, payload), ==, -EINVAL);
    info.kind = 9;
    g_assert_cmpint(vswap_store_import(dst, &info, payload), ==, -EINVAL);
    info = (VswapRecordInfo) { .slot = 1 << 16, .kind = VSWAP_RECORD_FILL };
    g_assert_cmpint(vswap_store_import(dst, &info, payload), ==, -EINVAL);
    vswap_store_close(dst);
}

/*
 * A fenced source must not write the file the destination now owns: a
 * compaction pass that seals its open disk segment keeps the records in
 * memory, and the file stays byte for byte as it was.  The segment write
 * that was not started allocated nothing left behind (unit-asan's leak
 * check).  Unfenced again (the migration failed), the records are written.
 */
static void test_shared_fenced_seal(Fixture *f, gconstpointer data)
{
    VswapStore *src = open_store_cfg(f, true, 256 * 1024, 1, true, false);
    g_autofree uint8_t *buf = g_malloc(PAGE);
    g_autofree char *before = NULL, *after = NULL;
    gsize before_len, after_len;
    VswapStoreStats st;

    write_range(src, f->pages, 3000, 1);
    vswap_store_drain(src);
    /* The precondition: records wait in the open disk segment. */
    g_assert_cmpint(src->disk.open, >=, 0);
    g_assert_cmpuint(src->disk.segs[src->disk.open].nrecords, >, 0);
    g_assert_true(g_file_get_contents(f->path, &before, &before_len, NULL));

    vswap_store_fence(src, true);
    g_assert_cmpint(vswap_store_compact(src, true, NULL, NULL), ==, 0);
    vswap_store_drain(src);
    g_assert_true(g_file_get_contents(f->path, &after, &after_len, NULL));
    g_assert_cmpuint(after_len, ==, before_len);
    g_assert(memcmp(before, after, before_len) == 0);
    for (uint64_t i = 0; i < 3000; i++) {
        g_assert_cmpint(read_one(src, i, buf), ==, 0);
        g_assert(memcmp(buf, test_pages_get(f->pages, i, 1), PAGE) == 0);
    }

    vswap_store_fence(src, false);
    write_range(src, f->pages, 3000, 2);
    vswap_store_drain(src);
    vswap_store_get_stats(src, &st);
    g_assert_cmpuint(st.writeback_errors, ==, 0);
    for (uint64_t i = 0; i < 3000; i++) {
        g_assert_cmpint(read_one(src, i, buf), ==, 0);
        g_assert(memcmp(buf, test_pages_get(f->pages, i, 2), PAGE) == 0);
    }
    vswap_store_close(src);
}

static uint64_t file_size(Fixture *f)
{
    struct stat st;

    g_assert_cmpint(stat(f->path, &st), ==, 0);
    return st.st_size;
}

/*
 * Append a segment-sized hole to the store file of @s, as a source that
 * grows the file leaves it before its write lands.  Returns the hole's
 * address (segment * segment_size).
 */
static uint64_t grow_by_hole(Fixture *f, VswapStore *s)
{
    uint64_t seg = s->cfg.segment_size;
    uint64_t index = (file_size(f) - s->data_offset + seg - 1) / seg;

    g_assert_cmpint(truncate(f->path, s->data_offset + (index + 1) * seg),
                    ==, 0);
    return index * seg;
}

/*
 * Shared-storage migration: both stores open one file; records on disk
 * travel as references, and the fenced source leaves the file alone.
 */
static void test_shared_storage(Fixture *f, gconstpointer data)
{
    VswapStore *src = open_store_cfg(f, true, 256 * 1024, 1, true, false);
    g_autofree uint8_t *payload = g_malloc(PAGE);
    g_autofree uint8_t *buf = g_malloc(PAGE);
    VswapRecordInfo info, bad;
    VswapStore *dst;
    unsigned refs = 0, records = 0;
    int ret;

    write_range(src, f->pages, 3000, 1);
    vswap_store_drain(src);
    dst = open_store_cfg(f, true, 256 * 1024, 1, true, true);
    g_assert_nonnull(dst);

    vswap_store_export_start(src);
    while ((ret = vswap_store_export_next(src, &info, payload)) == 1) {
        refs += info.kind == VSWAP_RECORD_REF;
        records++;
        g_assert_cmpint(vswap_store_import(dst, &info, payload), ==, 0);
        if (records == 1000) {
            /* The guest writes on; writeback and compaction move records. */
            for (uint64_t i = 0; i < 3000; i += 7) {
                g_assert_cmpint(write_one(src, i,
                                          test_pages_get(f->pages, i, 2)), ==, 0);
            }
            g_assert_cmpint(vswap_store_discard(src, 2, 1), ==, 0);
            g_assert_cmpint(vswap_store_compact(src, true, NULL, NULL), ==, 0);
            vswap_store_drain(src);
        }
    }
    g_assert_cmpint(ret, ==, 0);
    g_assert_cmpuint(refs, >, 1000);
    /* Final pass: flush, send what is left, hand the file over. */
    g_assert_cmpint(vswap_store_flush(src), ==, 0);
    while ((ret = vswap_store_export_next(src, &info, payload)) == 1) {
        g_assert_cmpint(vswap_store_import(dst, &info, payload), ==, 0);
    }
    vswap_store_fence(src, true);
    vswap_store_export_stop(src);

    /* Malformed references are refused on arrival. */
    bad = (VswapRecordInfo) { .slot = 5, .kind = VSWAP_RECORD_REF,
                              .addr = 65, .len = 100 };
    g_assert_cmpint(vswap_store_import(dst, &bad, NULL), ==, -EINVAL);
    bad.addr = 8;               /* inside the segment header */
    g_assert_cmpint(vswap_store_import(dst, &bad, NULL), ==, -EINVAL);
    bad.addr = 64 * 1024 - 16;  /* runs past the segment */
    g_assert_cmpint(vswap_store_import(dst, &bad, NULL), ==, -EINVAL);
    bad.addr = 64;
    bad.len = 0;
    g_assert_cmpint(vswap_store_import(dst, &bad, NULL), ==, -EINVAL);
    /* So is one past the end of the file. */
    bad = (VswapRecordInfo) { .slot = 60000, .kind = VSWAP_RECORD_REF,
                              .addr = 500 * 64 * 1024 + 64, .len = 100 };
    g_assert_cmpuint(file_size(f), <, dst->data_offset + bad.addr);
    g_assert_cmpint(vswap_store_import(dst, &bad, NULL), ==, -EINVAL);
    /*
     * A well-formed reference inside the file, to a segment never written
     * (a hole) or to another slot's record, can only be caught when read
     * (the file still changes during migration): EIO, not data.
     */
    bad.addr = grow_by_hole(f, dst) + 64;
    g_assert_cmpint(vswap_store_import(dst, &bad, NULL), ==, 0);

    /* The source goes away the way QEMU's unrealize does it. */
    g_assert_cmpint(vswap_store_discard(src, 0, src->cfg.capacity), ==, 0);
    vswap_store_close(src);
    /* The bogus reference's segment was never written: noticed. */
    g_test_expect_message(NULL, G_LOG_LEVEL_WARNING, "*bad headers*");
    vswap_store_activate(dst);
    g_test_assert_expected_messages();

    g_assert_cmpint(read_one(dst, 60000, buf), ==, -EIO);
    g_assert_cmpint(vswap_store_discard(dst, 60000, 1), ==, 0);
    for (uint64_t i = 0; i < 3000; i++) {
        ret = read_one(dst, i, buf);
        if (i == 2) {
            g_assert_cmpint(ret, ==, VSWAP_STORE_UNMAPPED);
            continue;
        }
        g_assert_cmpint(ret, ==, 0);
        g_assert(memcmp(buf, test_pages_get(f->pages, i, i % 7 ? 1 : 2),
                        PAGE) == 0);
    }
    /* The destination owns the file now: it writes back and compacts. */
    for (uint64_t i = 3000; i < 5000; i++) {
        g_assert_cmpint(write_one(dst, i, test_pages_get(f->pages, i, 3)), ==, 0);
    }
    g_assert_cmpint(vswap_store_discard(dst, 0, 1500), ==, 0);
    g_assert_cmpint(vswap_store_compact(dst, true, NULL, NULL), ==, 0);
    vswap_store_drain(dst);
    for (uint64_t i = 1500; i < 5000; i += 3) {
        g_assert_cmpint(read_one(dst, i, buf), ==, 0);
        g_assert(memcmp(buf, test_pages_get(f->pages, i,
                                            i >= 3000 ? 3 : i % 7 ? 1 : 2),
                        PAGE) == 0);
    }
    assert_check_clean(dst);
    f->s = dst;
}

/*
 * Shared-storage migration of a store whose disk tier packs pages into
 * group records: a member travels as a reference to its group (member
 * index and share), with the dictionary its group names before it.
 * Pages rewritten during the export split groups on the source, and the
 * destination, once activated, reads every page from the file, compacts
 * and packs on.  A member reference with an impossible index or share is
 * refused on arrival; one naming the wrong member of a real group reads
 * as an I/O error, never as another page.
 */
static void test_shared_groups(Fixture *f, gconstpointer data)
{
    const uint64_t n = 3000;
    g_autofree uint8_t *payload = g_malloc(PAGE);
    g_autofree uint8_t *buf = g_malloc(PAGE);
    VswapRecordInfo info, some = { 0 }, bad;
    g_autoptr(GError) err = NULL;
    unsigned members = 0, dicts = 0, records = 0, grouped = 0, over;
    uint64_t held;
    VswapStoreConfig cfg;
    VswapStoreStats st;
    VswapStore *src, *dst;
    int ret;

    groups_config(f, &cfg, true);
    cfg.shared = true;
    src = vswap_store_open(&cfg, &err);
    g_assert_no_error(err);
    write_batches(src, f->pages, n, 1, true);
    g_assert_cmpint(vswap_store_flush(src), ==, 0);
    vswap_store_get_stats(src, &st);
    g_assert_cmpuint(st.disk_groups, >, n / 16);
    held = st.dicts;

    cfg.incoming = true;
    dst = vswap_store_open(&cfg, &err);
    g_assert_no_error(err);
    vswap_store_export_start(src);
    while ((ret = vswap_store_export_next(src, &info, payload)) == 1) {
        if (info.kind == VSWAP_RECORD_MEMBER_REF) {
            members++;
            some = info;
        }
        dicts += info.kind == VSWAP_RECORD_DICT;
        g_assert_cmpint(vswap_store_import(dst, &info, payload), ==, 0);
        if (++records == 1000) {
            /* The guest writes on: some groups lose members and split. */
            for (uint64_t i = 0; i < n; i += 16) {
                g_assert_cmpint(write_one(src, i,
                                          test_pages_get(f->pages, i, 2)),
                                ==, 0);
            }
            vswap_store_drain(src);
            g_assert_cmpint(vswap_store_compact(src, true, NULL, NULL), ==, 0);
            vswap_store_drain(src);
        }
    }
    g_assert_cmpint(ret, ==, 0);
    g_test_message("%u member references, %u dictionaries, %u records",
                   members, dicts, records);
    g_assert_cmpuint(members, >, n / 8);
    /* Every dictionary the source held went first. */
    g_assert_cmpuint(dicts, >=, held);
    g_assert_cmpint(vswap_store_flush(src), ==, 0);
    while ((ret = vswap_store_export_next(src, &info, payload)) == 1) {
        g_assert_cmpint(vswap_store_import(dst, &info, payload), ==, 0);
    }
    g_assert_cmpint(ret, ==, 0);
    vswap_store_fence(src, true);
    vswap_store_export_stop(src);

    /* Impossible members are refused on arrival. */
    bad = some;
    bad.slot = n + 1;
    bad.member = VSWAP_GROUP_MAX_PAGES;
    g_assert_cmpint(vswap_store_import(dst, &bad, NULL), ==, -EINVAL);
    bad.member = 0;
    bad.len = 0;
    g_assert_cmpint(vswap_store_import(dst, &bad, NULL), ==, -EINVAL);
    bad.len = PAGE + 1;
    g_assert_cmpint(vswap_store_import(dst, &bad, NULL), ==, -EINVAL);
    /* A plain reference carries no member (@some may be member 0). */
    bad = some;
    bad.slot = n + 1;
    bad.kind = VSWAP_RECORD_REF;
    bad.member = 1;
    g_assert_cmpint(vswap_store_import(dst, &bad, NULL), ==, -EINVAL);
    /*
     * Another member of a real group: only the read can tell.  As many
     * as overfill the group's segment, so that activation takes it
     * without its header: its real members must still read whole.
     */
    bad = some;
    bad.member = (some.member + 1) % 2;
    over = 64 * 1024 / some.len + 1;
    for (bad.slot = n + 1; bad.slot <= n + over; bad.slot++) {
        g_assert_cmpint(vswap_store_import(dst, &bad, NULL), ==, 0);
    }

    g_assert_cmpint(vswap_store_discard(src, 0, src->cfg.capacity), ==, 0);
    vswap_store_close(src);
    g_test_expect_message(NULL, G_LOG_LEVEL_WARNING,
                          "*1 segments*more references than they hold*");
    vswap_store_activate(dst);
    g_test_assert_expected_messages();
    g_assert_cmpint(read_one(dst, n + 1, buf), ==, -EIO);
    g_assert_cmpint(read_one(dst, n + over, buf), ==, -EIO);
    g_assert_cmpint(vswap_store_discard(dst, n + 1, over), ==, 0);
    for (uint64_t i = 0; i < n; i++) {
        grouped += vswap_ent_group(vswap_map_get(dst->map, i));
        g_assert_cmpint(read_one(dst, i, buf), ==, 0);
        g_assert(memcmp(buf, test_pages_get(f->pages, i, i % 16 ? 1 : 2),
                        PAGE) == 0);
    }
    g_test_message("%u pages of the destination in groups", grouped);
    g_assert_cmpuint(grouped, >, n / 4);
    /* The file is the destination's: it compacts (splits) and packs on. */
    split_groups(f, dst, 1, n, 3);
    for (uint64_t i = 0; i < n; i++) {
        g_assert_cmpint(read_one(dst, i, buf), ==, 0);
        g_assert(memcmp(buf, test_pages_get(f->pages, i,
                                            i % 3 == 1 ? 3 : i % 16 ? 1 : 2),
                        PAGE) == 0);
    }
    assert_check_clean(dst);
    f->s = dst;
}

/*
 * A source with some records on disk, flushed, and a destination opened
 * on its file for a shared-storage migration.  Returns the destination;
 * *@src is the source (closed by the caller).
 */
static VswapStore *shared_pair(Fixture *f, VswapStore **src)
{
    VswapStoreConfig cfg;
    g_autoptr(GError) err = NULL;
    VswapStore *dst;

    vswap_store_config_init(&cfg);
    cfg.path = f->path;
    /* Room for the 1,044,496 slots of issue 14's trigger. */
    cfg.capacity = 1 << 21;
    cfg.segment_size = 64 * 1024;
    cfg.mem_budget = 256 * 1024;
    cfg.shared = true;
    *src = vswap_store_open(&cfg, &err);
    g_assert_no_error(err);
    write_range(*src, f->pages, 3000, 1);
    vswap_store_drain(*src);
    g_assert_cmpint(vswap_store_flush(*src), ==, 0);
    cfg.incoming = true;
    dst = vswap_store_open(&cfg, &err);
    g_assert_no_error(err);
    return dst;
}

/* The reference that export sends for a record of @src on disk. */
static VswapRecordInfo shared_some_ref(VswapStore *src)
{
    g_autofree uint8_t *payload = g_malloc(PAGE);
    VswapRecordInfo info;

    vswap_store_export_start(src);
    while (vswap_store_export_next(src, &info, payload) == 1) {
        if (info.kind == VSWAP_RECORD_REF) {
            vswap_store_export_stop(src);
            return info;
        }
    }
    g_assert_not_reached();
}

/*
 * Issue 14, defect 3: a hostile stream of well-formed references, all to
 * one record, wrapped the segment's 32-bit live bytes (1,044,496 of them
 * do for 4 KiB records), and the first write after activation aborted in
 * vswap_log_release().  The stream is refused once the references into
 * one segment pass VSWAP_SHARED_REF_SLACK times its size; references
 * that replace each other (a slot sent again) are not piled up.
 */
static void test_shared_ref_overflow(Fixture *f, gconstpointer data)
{
    const uint64_t attack = 1044496;
    g_autofree uint8_t *buf = g_malloc(PAGE);
    VswapStore *src, *dst = shared_pair(f, &src);
    VswapRecordInfo ref = shared_some_ref(src), info;
    uint64_t seg = dst->cfg.segment_size, space = seg - 64, accepted = 0;
    uint64_t size = 16 + 4096;
    int ret = 0;

    /* The same slot sent again and again replaces its reference. */
    for (unsigned i = 0; i < 10000; i++) {
        g_assert_cmpint(vswap_store_import(dst, &ref, NULL), ==, 0);
    }
    /* Whole pages at the start of the segment of that record. */
    info = ref;
    info.addr = ref.addr / seg * seg + 64;
    info.len = 4096;
    for (info.slot = 1000; info.slot < 1000 + attack; info.slot++) {
        ret = vswap_store_import(dst, &info, NULL);
        if (ret < 0) {
            break;
        }
        accepted++;
    }
    g_assert_cmpint(ret, ==, -EINVAL);
    /* Slot ref.slot's own reference is counted in that segment too. */
    g_assert_cmpuint(accepted * size, <=, 8 * space);
    g_assert_cmpuint((accepted + 2) * size, >, 8 * space);

    vswap_store_fence(src, true);
    g_assert_cmpint(vswap_store_discard(src, 0, src->cfg.capacity), ==, 0);
    vswap_store_close(src);
    /* A stream that stayed within the slack still overlaps: noticed. */
    g_test_expect_message(NULL, G_LOG_LEVEL_WARNING, "*more references*");
    vswap_store_activate(dst);
    g_test_assert_expected_messages();
    /* One slot's record is there; the others read as I/O errors. */
    g_assert_cmpint(read_one(dst, ref.slot, buf), ==, 0);
    g_assert(memcmp(buf, test_pages_get(f->pages, ref.slot, 1), PAGE) == 0);
    g_assert_cmpint(read_one(dst, 1000, buf), ==, -EIO);
    for (uint64_t i = 1000; i < 1000 + accepted; i++) {
        g_assert_cmpint(write_one(dst, i, test_pages_get(f->pages, i, 2)),
                        ==, 0);
    }
    vswap_store_drain(dst);
    f->s = dst;
}

/*
 * Issue 14, defect 4: one reference sized the destination's segment
 * table, its address only checked against the segment limit (2^28
 * segments of 64 KiB here: a 12 GiB table at activation).  References
 * must lie inside the file; the source grows it meanwhile, so the length
 * is asked again, and the table grows only with the file.
 */
static void test_shared_ref_past_file(Fixture *f, gconstpointer data)
{
    VswapStore *src, *dst = shared_pair(f, &src);
    VswapRecordInfo info = shared_some_ref(src);
    uint64_t seg = dst->cfg.segment_size, hole;

    info.slot = 7000;
    info.addr = (dst->disk.max_segs - 1) * seg + 64;
    g_assert_cmpint(vswap_store_import(dst, &info, NULL), ==, -EINVAL);
    g_assert_cmpuint(dst->disk.nsegs, <=, file_size(f) / seg);
    /* The last byte of the record one past the end of the file. */
    info.len = 4096;
    info.addr = (file_size(f) - dst->data_offset) / seg * seg + seg -
                (16 + 4096);
    g_assert_cmpint(vswap_store_import(dst, &info, NULL), ==, -EINVAL);

    /* The source appends a segment: references into it now arrive. */
    hole = grow_by_hole(f, dst);
    g_assert_cmpuint(info.addr, <, hole + seg);
    g_assert_cmpint(vswap_store_import(dst, &info, NULL), ==, 0);
    info.slot++;
    info.addr = hole + seg - (16 + 4096);
    g_assert_cmpint(vswap_store_import(dst, &info, NULL), ==, 0);
    info.addr += seg;
    g_assert_cmpint(vswap_store_import(dst, &info, NULL), ==, -EINVAL);
    g_assert_cmpuint(dst->disk.nsegs, <=, file_size(f) / seg);

    vswap_store_fence(src, true);
    vswap_store_close(src);
    f->s = dst;
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn, data) \
    g_test_add("/store/" path, Fixture, GUINT_TO_POINTER(data), \
               fixture_setup, fn, fixture_teardown)
    ADD("memory/round-trip/inline", test_memory_round_trip, 0);
    ADD("memory/round-trip/2-workers", test_memory_round_trip, 2);
    ADD("memory/compaction/inline", test_memory_compaction, 0);
    ADD("memory/compaction/2-workers", test_memory_compaction, 2);
    ADD("memory/owner-reads", test_owner_reads, 0);
    ADD("memory/direct-read-limbo", test_direct_read_limbo, 0);
    ADD("memory/direct-read-epochs", test_direct_read_epochs, 0);
    ADD("memory/fill-pages", test_fill_pages, 0);
    ADD("memory/unmapped-and-discard", test_unmapped_and_discard, 0);
    ADD("bad-arguments", test_bad_arguments, 0);
    ADD("refuses-foreign-file", test_refuses_foreign_file, 0);
    ADD("zeroed-file-is-empty", test_zeroed_file_is_empty, 0);
    ADD("disk/tier/inline", test_disk_tier, 0);
    ADD("disk/tier/2-workers", test_disk_tier, 2);
    ADD("disk/compaction", test_compaction, 0);
    ADD("disk/groups", test_groups, false);
    ADD("disk/groups/dict", test_groups, true);
    ADD("disk/corrupt-record", test_corrupt_record, 0);
    ADD("disk/truncated-while-open", test_truncated_while_open, 0);
    ADD("disk/quiesce", test_quiesce, 0);
    ADD("faults/enospc-writeback", test_enospc_writeback, 0);
    ADD("faults/eio-read", test_eio_read, 0);
    ADD("faults/short-writes-corrupt-reads", test_short_writes_and_corrupt_reads, 0);
    ADD("faults/torn-segments", test_torn_segments, 0);
    ADD("export-import", test_export_import, 0);
    ADD("shared-storage", test_shared_storage, 0);
    ADD("shared-storage/fenced-seal", test_shared_fenced_seal, 0);
    ADD("shared-storage/groups", test_shared_groups, 0);
    ADD("shared-storage/ref-overflow", test_shared_ref_overflow, 0);
    ADD("shared-storage/ref-past-file", test_shared_ref_past_file, 0);
    return g_test_run();
}
