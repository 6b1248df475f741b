/*
 * Unit tests of the store's file I/O outside the data path: the superblock,
 * checkpoints, syncs, truncation, export and check reads and shared-mode
 * header reads all go through the I/O engine, so injected faults reach
 * each of them and the store reports them cleanly.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "vswap/store.h"
#include "store-int.h"
#include "test-pages.h"

#define PAGE VSWAP_STORE_PAGE_SIZE
#define SEG (64 * 1024)
#define NPAGES 2000

typedef struct Fixture {
    char *path;
    TestPages *pages;
    unsigned ver[NPAGES];       /* what each slot holds: 0 unmapped */
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    f->path = g_build_filename(g_get_tmp_dir(), "vswap-io-XXXXXX", NULL);
    g_close(g_mkstemp(f->path), NULL);
    f->pages = test_pages_new();
    memset(f->ver, 0, sizeof(f->ver));
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    g_unlink(f->path);
    g_free(f->path);
    test_pages_free(f->pages);
}

/* A persistent store with fault injection and small segments. */
static void config(Fixture *f, VswapStoreConfig *cfg, bool reopen)
{
    vswap_store_config_init(cfg);
    cfg->path = f->path;
    cfg->capacity = 1 << 16;
    cfg->segment_size = SEG;
    cfg->mem_budget = 256 * 1024;
    cfg->persist = true;
    cfg->reopen = reopen;
    cfg->fault_injection = true;
}

static VswapStore *open_cfg(VswapStoreConfig *cfg)
{
    g_autoptr(GError) err = NULL;
    VswapStore *s = vswap_store_open(cfg, &err);

    g_assert_no_error(err);
    g_assert_nonnull(s);
    return s;
}

static VswapStore *open_store(Fixture *f, bool reopen)
{
    VswapStoreConfig cfg;

    config(f, &cfg, reopen);
    return open_cfg(&cfg);
}

static void add_fault(VswapStore *s, VswapIoOp op, uint64_t lo, uint64_t hi)
{
    VswapIoFault fault = {
        .op = op, .offset_lo = lo, .offset_hi = hi, .error = -EIO,
    };

    vswap_io_faulty_add(vswap_store_io_engine(s), &fault);
}

static unsigned injected(VswapStore *s)
{
    return vswap_io_faulty_injected(vswap_store_io_engine(s));
}

static void populate(Fixture *f, VswapStore *s, unsigned ver)
{
    for (uint64_t i = 0; i < NPAGES; i++) {
        VswapPageOp op = {
            .slot = i, .page = (void *)test_pages_get(f->pages, i, ver),
        };

        g_assert_cmpint(vswap_store_write_sync(s, &op, 1), ==, 0);
        f->ver[i] = ver;
    }
}

/* Every acknowledged page reads back, and the store checks clean. */
static void verify(Fixture *f, VswapStore *s)
{
    g_autofree uint8_t *buf = g_malloc(PAGE);
    VswapCheckReport rep;

    for (uint64_t i = 0; i < NPAGES; i++) {
        VswapPageOp op = { .slot = i, .page = buf };

        g_assert_cmpint(vswap_store_read_sync(s, &op, 1), ==, 0);
        if (f->ver[i] == 0) {
            g_assert_cmpint(op.status, ==, VSWAP_STORE_UNMAPPED);
            continue;
        }
        g_assert_cmpint(op.status, ==, 0);
        g_assert(memcmp(buf, test_pages_get(f->pages, i, f->ver[i]),
                        PAGE) == 0);
    }
    g_assert_cmpint(vswap_store_check(s, &rep), ==, 0);
}

static bool file_is_clean(Fixture *f)
{
    VswapSuperblock sb;
    int fd = open(f->path, O_RDONLY);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, &sb, sizeof(sb), 0), ==, sizeof(sb));
    close(fd);
    return le64toh(sb.flags) & VSWAP_SB_CLEAN;
}

/* The checkpoint must fail with -EIO and a message naming @what. */
static void assert_checkpoint_fails(VswapStore *s, const char *what)
{
    g_autoptr(GError) err = NULL;

    g_assert_cmpint(vswap_store_checkpoint(s, &err), ==, -EIO);
    g_assert_nonnull(err);
    g_test_message("checkpoint: %s", err->message);
    g_assert_cmpint(err->code, ==, EIO);
    g_assert_nonnull(strstr(err->message, what));
}

/*
 * A store checkpointed once, then changed by a fill page only, so that the
 * next checkpoint writes no segment: its first write is the checkpoint's,
 * at *@ckpt_off.
 */
static VswapStore *store_ready_to_checkpoint(Fixture *f, uint64_t *ckpt_off)
{
    g_autoptr(GError) err = NULL;
    VswapStore *s = open_store(f, false);
    VswapPageOp op = { .slot = NPAGES - 1, .fill = 0x5a5a5a5a };

    populate(f, s, 1);
    g_assert_cmpint(vswap_store_checkpoint(s, &err), ==, 0);
    g_assert_no_error(err);
    g_assert_cmpint(vswap_store_write_sync(s, &op, 1), ==, 0);
    f->ver[NPAGES - 1] = 0;     /* verify() skips fill pages: see below */
    g_assert_cmpint(vswap_store_discard(s, NPAGES - 1, 1), ==, 0);
    *ckpt_off = s->data_offset + (uint64_t)s->disk.nsegs * SEG;
    return s;
}

/* After a failed checkpoint: nothing lost, and a retry succeeds. */
static void finish_after_fault(Fixture *f, VswapStore *s)
{
    g_autoptr(GError) err = NULL;

    verify(f, s);
    vswap_io_faulty_clear(vswap_store_io_engine(s));
    g_assert_cmpint(vswap_store_checkpoint(s, &err), ==, 0);
    g_assert_no_error(err);
    g_assert_true(file_is_clean(f));
    vswap_store_close(s);
    s = open_store(f, true);
    verify(f, s);
    vswap_store_close(s);
}

/* The checkpoint's entries, then its header, fail to write. */
static void test_checkpoint_write(Fixture *f, gconstpointer data)
{
    uint64_t off;
    VswapStore *s = store_ready_to_checkpoint(f, &off);

    add_fault(s, VSWAP_IO_WRITE, off + VSWAP_CKPT_HDR_SIZE, UINT64_MAX);
    assert_checkpoint_fails(s, "cannot write the checkpoint");
    g_assert_cmpuint(injected(s), ==, 1);
    vswap_io_faulty_clear(vswap_store_io_engine(s));
    add_fault(s, VSWAP_IO_WRITE, off, off + 1);
    assert_checkpoint_fails(s, "cannot write the checkpoint");
    g_assert_cmpuint(injected(s), ==, 2);
    g_assert_false(file_is_clean(f));
    finish_after_fault(f, s);
}

/* The superblock cannot be marked clean; nor, later, unclean. */
static void test_superblock_write(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    uint64_t off;
    VswapStore *s = store_ready_to_checkpoint(f, &off);
    VswapPageOp op = {
        .slot = 7, .page = (void *)test_pages_get(f->pages, 7, 2),
    };

    add_fault(s, VSWAP_IO_WRITE, 0, 1);
    assert_checkpoint_fails(s, "cannot write the superblock");
    g_assert_false(file_is_clean(f));
    vswap_io_faulty_clear(vswap_store_io_engine(s));
    g_assert_cmpint(vswap_store_checkpoint(s, &err), ==, 0);
    g_assert_true(file_is_clean(f));

    /* Marking it unclean before a change fails: the change is refused. */
    add_fault(s, VSWAP_IO_WRITE, 0, 1);
    g_assert_cmpint(vswap_store_write_sync(s, &op, 1), ==, -EIO);
    g_assert_cmpint(vswap_store_discard(s, 7, 1), ==, -EIO);
    g_assert_true(file_is_clean(f));
    finish_after_fault(f, s);
}

/* fdatasync fails while checkpointing. */
static void test_checkpoint_fsync(Fixture *f, gconstpointer data)
{
    uint64_t off;
    VswapStore *s = store_ready_to_checkpoint(f, &off);

    add_fault(s, VSWAP_IO_FSYNC, 0, 0);
    assert_checkpoint_fails(s, "cannot write the checkpoint");
    g_assert_cmpuint(injected(s), ==, 1);
    g_assert_false(file_is_clean(f));
    finish_after_fault(f, s);
}

/* Export and check read disk records through the engine. */
static void test_export_read(Fixture *f, gconstpointer data)
{
    g_autofree uint8_t *payload = g_malloc(PAGE);
    VswapIoFault fault = { .op = VSWAP_IO_READ, .error = -EIO, .count = 1 };
    VswapStore *s = open_store(f, false);
    VswapCheckReport rep;
    VswapRecordInfo info;
    VswapStoreStats st;
    unsigned ok = 0, eio = 0;
    int ret;

    populate(f, s, 1);
    vswap_store_drain(s);
    vswap_store_get_stats(s, &st);
    g_assert_cmpuint(st.pages_disk, >, 100);

    vswap_io_faulty_add(vswap_store_io_engine(s), &fault);
    g_assert_cmpint(vswap_store_check(s, &rep), ==, -EIO);
    g_assert_cmpuint(rep.bad, ==, 1);
    g_assert_cmpuint(injected(s), ==, 1);

    vswap_io_faulty_add(vswap_store_io_engine(s), &fault);
    vswap_store_export_start(s);
    while ((ret = vswap_store_export_next(s, &info, payload)) != 0) {
        if (ret == -EIO) {
            eio++;
            continue;
        }
        g_assert_cmpint(ret, ==, 1);
        ok++;
    }
    vswap_store_export_stop(s);
    g_assert_cmpuint(eio, ==, 1);
    g_assert_cmpuint(ok, ==, NPAGES - 1);
    g_assert_cmpuint(injected(s), ==, 2);
    verify(f, s);
    vswap_store_close(s);
}

/* A shared source's flush cannot sync the file. */
static void test_shared_flush_fsync(Fixture *f, gconstpointer data)
{
    VswapStoreConfig cfg;
    VswapStore *s;

    config(f, &cfg, false);
    cfg.persist = false;
    cfg.shared = true;
    s = open_cfg(&cfg);
    populate(f, s, 1);
    add_fault(s, VSWAP_IO_FSYNC, 0, 0);
    g_assert_cmpint(vswap_store_flush(s), ==, -EIO);
    g_assert_cmpuint(injected(s), ==, 1);
    vswap_io_faulty_clear(vswap_store_io_engine(s));
    g_assert_cmpint(vswap_store_flush(s), ==, 0);
    verify(f, s);
    vswap_store_close(s);
}

/*
 * A shared migration's source on @f's file, holding every page and
 * flushed; @cfg is left as the source's configuration.
 */
static VswapStore *open_shared_source(Fixture *f, VswapStoreConfig *cfg)
{
    VswapStore *src;

    config(f, cfg, false);
    cfg->persist = false;
    cfg->shared = true;
    cfg->fault_injection = false;
    src = open_cfg(cfg);
    populate(f, src, 1);
    g_assert_cmpint(vswap_store_flush(src), ==, 0);
    return src;
}

/*
 * Migrate @src into @dst, which was opened incoming on the same file, and
 * close @src; @dst is not activated.  Returns the references sent.
 */
static unsigned migrate_shared(VswapStore *src, VswapStore *dst)
{
    g_autofree uint8_t *payload = g_malloc(PAGE);
    VswapRecordInfo info;
    unsigned refs = 0;
    int ret;

    vswap_store_export_start(src);
    while ((ret = vswap_store_export_next(src, &info, payload)) == 1) {
        refs += info.kind == VSWAP_RECORD_REF;
        g_assert_cmpint(vswap_store_import(dst, &info, payload), ==, 0);
    }
    g_assert_cmpint(ret, ==, 0);
    vswap_store_fence(src, true);
    vswap_store_export_stop(src);
    vswap_store_close(src);
    return refs;
}

/*
 * The destination of a shared-storage migration cannot read the segment
 * headers at activation: it says so, and reads every page all the same.
 */
static void test_shared_header_read(Fixture *f, gconstpointer data)
{
    VswapStoreConfig cfg;
    VswapStore *src = open_shared_source(f, &cfg), *dst;

    cfg.incoming = true;
    cfg.fault_injection = true;
    dst = open_cfg(&cfg);
    g_assert_cmpuint(migrate_shared(src, dst), >, 100);

    add_fault(dst, VSWAP_IO_READ, 0, 0);
    g_test_expect_message(NULL, G_LOG_LEVEL_WARNING, "*bad headers*");
    vswap_store_activate(dst);
    g_test_assert_expected_messages();
    g_assert_cmpuint(injected(dst), >, 0);
    vswap_io_faulty_clear(vswap_store_io_engine(dst));
    verify(f, dst);
    vswap_store_close(dst);
}

/* Truncating away an older, longer checkpoint fails. */
static void test_checkpoint_truncate(Fixture *f, gconstpointer data)
{
    uint64_t off;
    VswapStore *s = store_ready_to_checkpoint(f, &off);

    add_fault(s, VSWAP_IO_TRUNCATE, 0, 0);
    assert_checkpoint_fails(s, "cannot write the checkpoint");
    g_assert_cmpuint(injected(s), ==, 1);
    g_assert_false(file_is_clean(f));
    finish_after_fault(f, s);
}

/*
 * An engine the test supplies through cfg.open_engine: io_uring on the
 * fixture's file inside a fault engine with @faults already in place, so
 * that faults reach the I/O of vswap_store_open() itself.
 */
typedef struct TestEngine {
    const char *path;
    unsigned flags;             /* VSWAP_IO_OPEN_* */
    const VswapIoFault *faults;
    unsigned nfaults;
    unsigned opened;
    uint32_t segment_size;      /* the engine's suggestion */
} TestEngine;

static VswapIoEngine *test_open_engine(void *opaque, int notify_fd,
                                       GError **errp)
{
    TestEngine *te = opaque;
    VswapIoEngine *io = vswap_io_uring_open(te->path, te->flags, 16,
                                            notify_fd, errp);

    te->opened++;
    if (!io) {
        return NULL;
    }
    io = vswap_io_faulty_new(io, notify_fd);
    for (unsigned i = 0; i < te->nfaults; i++) {
        vswap_io_faulty_add(io, &te->faults[i]);
    }
    io->segment_size = te->segment_size;
    return io;
}

/*
 * Open a store on @f's file through a test engine with @fault, as a
 * reopen or not.  It must fail with @code and a message naming @what.
 */
static void assert_open_fails(Fixture *f, bool reopen,
                              const VswapIoFault *fault, int code,
                              const char *what)
{
    TestEngine te = {
        .path = f->path, .flags = reopen ? 0 : VSWAP_IO_OPEN_CREATE,
        .faults = fault, .nfaults = 1,
    };
    g_autoptr(GError) err = NULL;
    VswapStoreConfig cfg;

    config(f, &cfg, reopen);
    cfg.path = NULL;
    cfg.fault_injection = false;
    cfg.open_engine = test_open_engine;
    cfg.engine_opaque = &te;
    cfg.name = "test-node";
    g_assert_null(vswap_store_open(&cfg, &err));
    g_assert_nonnull(err);
    g_test_message("open: %s", err->message);
    g_assert_cmpuint(te.opened, ==, 1);
    g_assert_cmpint(err->code, ==, code);
    g_assert_nonnull(strstr(err->message, what));
    g_assert_nonnull(strstr(err->message, "test-node"));
}

/* Faults in the I/O that vswap_store_open() does, with a new file. */
static void test_open_create(Fixture *f, gconstpointer data)
{
    VswapIoFault fault = { .op = VSWAP_IO_TRUNCATE, .error = -EIO };
    VswapStore *s;

    assert_open_fails(f, false, &fault, EIO, "cannot initialise");
    fault.op = VSWAP_IO_WRITE;
    assert_open_fails(f, false, &fault, EIO, "cannot initialise");
    /* A store file is there now: reading its superblock fails. */
    s = open_store(f, false);
    vswap_store_close(s);
    fault.op = VSWAP_IO_READ;
    assert_open_fails(f, false, &fault, EIO, "cannot initialise");
}

/* Faults in reopen: the superblock, the checkpoint, the segment headers. */
static void test_open_reopen(Fixture *f, gconstpointer data)
{
    VswapIoFault fault = { .op = VSWAP_IO_READ, .error = -EIO };
    VswapStore *s = open_store(f, false);
    VswapSuperblock sb;
    uint64_t ckpt;
    int fd;

    populate(f, s, 1);
    vswap_store_close(s);
    g_assert_true(file_is_clean(f));
    fd = open(f->path, O_RDONLY);
    g_assert_cmpint(pread(fd, &sb, sizeof(sb), 0), ==, sizeof(sb));
    close(fd);
    ckpt = SEG + (uint64_t)le32toh(sb.ckpt_segment) * SEG;

    fault.offset_hi = 1;
    assert_open_fails(f, true, &fault, EIO, "cannot read the superblock");
    fault.offset_lo = ckpt;
    fault.offset_hi = ckpt + 1;
    assert_open_fails(f, true, &fault, EIO,
                      "cannot read the checkpoint header");
    fault.offset_lo = ckpt + VSWAP_CKPT_HDR_SIZE;
    fault.offset_hi = UINT64_MAX;
    assert_open_fails(f, true, &fault, EIO, "cannot read the checkpoint");
    fault.offset_lo = SEG;
    fault.offset_hi = ckpt;
    assert_open_fails(f, true, &fault, EIO, "cannot read segment");
    /* Marking the file unclean fails: so does the reopen. */
    fault = (VswapIoFault) { .op = VSWAP_IO_WRITE, .error = -EIO };
    assert_open_fails(f, true, &fault, EIO, "cannot write the superblock");
    /* None of it harmed the file. */
    g_assert_true(file_is_clean(f));
    s = open_store(f, true);
    verify(f, s);
    vswap_store_close(s);

    /* The unclean superblock is written but not synced: unclean it is. */
    fault.op = VSWAP_IO_FSYNC;
    assert_open_fails(f, true, &fault, EIO, "cannot write the superblock");
    g_assert_false(file_is_clean(f));
}

/* A store on an engine the embedder supplies, waiting through its hook. */
typedef struct TestWait {
    VswapStore *s;
    unsigned calls;
} TestWait;

static void test_wait_hook(void *opaque, VswapWaitCond *cond,
                           void *cond_opaque)
{
    TestWait *tw = opaque;

    tw->calls++;
    while (cond(cond_opaque)) {
        g_usleep(100);
    }
}

static void test_embedder_engine(Fixture *f, gconstpointer data)
{
    TestEngine te = { .path = f->path, .flags = VSWAP_IO_OPEN_CREATE };
    g_autoptr(GError) err = NULL;
    TestWait tw = { 0 };
    VswapStoreConfig cfg;
    VswapStoreStats st;
    VswapStore *s;
    unsigned calls;

    config(f, &cfg, false);
    cfg.path = NULL;
    cfg.fault_injection = false;
    cfg.open_engine = test_open_engine;
    cfg.engine_opaque = &te;
    cfg.wait = test_wait_hook;
    cfg.wait_opaque = &tw;
    s = open_cfg(&cfg);
    /* Initialising the file waited for its superblock write. */
    g_assert_cmpuint(tw.calls, >, 0);
    calls = tw.calls;
    populate(f, s, 1);
    g_assert_cmpuint(tw.calls, >, calls);
    vswap_store_drain(s);
    vswap_store_get_stats(s, &st);
    g_assert_cmpuint(st.pages_disk, >, 0);
    g_assert_cmpuint(st.disk_file_bytes, >, 0);
    g_assert_cmpint(vswap_store_checkpoint(s, &err), ==, 0);
    g_assert_no_error(err);
    vswap_store_close(s);
    g_assert_true(file_is_clean(f));

    te.flags = 0;
    cfg.reopen = true;
    s = open_cfg(&cfg);
    verify(f, s);
    vswap_store_close(s);
    g_assert_cmpuint(te.opened, ==, 2);
}

/*
 * Open a store through a test engine suggesting @suggested, with
 * segment_size 0 and @budget; returns the size it settled on.
 */
static uint32_t auto_segment_size(Fixture *f, uint32_t suggested,
                                  uint64_t budget, bool reopen)
{
    TestEngine te = {
        .path = f->path, .flags = reopen ? 0 : VSWAP_IO_OPEN_CREATE,
        .segment_size = suggested,
    };
    VswapStoreConfig cfg;
    VswapStoreStats st;
    VswapStore *s;

    config(f, &cfg, reopen);
    cfg.path = NULL;
    cfg.open_engine = test_open_engine;
    cfg.engine_opaque = &te;
    cfg.segment_size = 0;
    cfg.mem_budget = budget;
    s = open_cfg(&cfg);
    vswap_store_get_stats(s, &st);
    if (!reopen) {
        /* A store of that geometry, which a reopen must keep. */
        populate(f, s, 1);
        vswap_store_drain(s);
    } else {
        verify(f, s);
    }
    vswap_store_close(s);
    g_assert_cmpuint(te.opened, ==, 1);
    return st.segment_size;
}

/*
 * An automatic segment size (0) is the engine's suggestion, seen through
 * the fault engine that the store wraps around it, when the budget holds
 * VSWAP_STORE_AUTO_SEGMENTS of them; else, or without a sound
 * suggestion, the default.  A reopened store keeps the file's.
 */
static void test_auto_segment_size(Fixture *f, gconstpointer data)
{
    const uint32_t big = 2 * VSWAP_STORE_SEGMENT_SIZE;

    g_assert_cmpuint(auto_segment_size(f, 0, 4 << 20, false), ==,
                     VSWAP_STORE_SEGMENT_SIZE);
    g_assert_cmpuint(auto_segment_size(f, big, 8 * big, false), ==, big);
    g_assert_cmpuint(auto_segment_size(f, big, 8 * big - 1, false), ==,
                     VSWAP_STORE_SEGMENT_SIZE);
    g_assert_cmpuint(auto_segment_size(f, 3 << 16, 64 << 20, false), ==,
                     VSWAP_STORE_SEGMENT_SIZE);
    g_assert_cmpuint(auto_segment_size(f, 128 << 10, 1 << 20, false), ==,
                     128 << 10);
    /* The file's size wins over a different suggestion. */
    g_assert_cmpuint(auto_segment_size(f, big, 8 * big, true), ==,
                     128 << 10);
}

/*
 * The destination of a shared migration whose segment size is automatic
 * takes its source's from the file, whatever its engine suggests, and
 * reads every page.
 */
static void test_shared_auto_segment_size(Fixture *f, gconstpointer data)
{
    TestEngine te = { .path = f->path, .segment_size = 1 << 20 };
    VswapStoreConfig cfg;
    VswapStoreStats st;
    VswapStore *src = open_shared_source(f, &cfg), *dst;

    cfg.incoming = true;
    cfg.path = NULL;
    cfg.open_engine = test_open_engine;
    cfg.engine_opaque = &te;
    cfg.segment_size = 0;
    cfg.mem_budget = 8 << 20;
    dst = open_cfg(&cfg);
    vswap_store_get_stats(dst, &st);
    g_assert_cmpuint(st.segment_size, ==, SEG);
    g_assert_cmpuint(migrate_shared(src, dst), >, 100);
    vswap_store_activate(dst);
    verify(f, dst);
    vswap_store_close(dst);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) \
    g_test_add("/store-io/" path, Fixture, NULL, fixture_setup, fn, \
               fixture_teardown)
    ADD("checkpoint-write", test_checkpoint_write);
    ADD("superblock-write", test_superblock_write);
    ADD("checkpoint-fsync", test_checkpoint_fsync);
    ADD("checkpoint-truncate", test_checkpoint_truncate);
    ADD("open/create", test_open_create);
    ADD("open/reopen", test_open_reopen);
    ADD("embedder-engine", test_embedder_engine);
    ADD("auto-segment-size", test_auto_segment_size);
    ADD("shared/auto-segment-size", test_shared_auto_segment_size);
    ADD("export-read", test_export_read);
    ADD("shared/flush-fsync", test_shared_flush_fsync);
    ADD("shared/header-read", test_shared_header_read);
    return g_test_run();
}
