/*
 * Unit tests of store persistence: checkpoint at close, reopen, and the
 * clear errors for files that cannot be reopened.
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
#include "checksum.h"
#include "store-int.h"
#include "test-pages.h"

#define PAGE VSWAP_STORE_PAGE_SIZE
#define NPAGES 3000

typedef struct Fixture {
    char *path;
    bool direct;                /* O_DIRECT on the store file */
    TestPages *pages;
    /* What every slot should read back: version, or a fill value. */
    unsigned ver[NPAGES];       /* 0: unmapped, ~0u: fill[i] */
    uint32_t fill[NPAGES];
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    f->path = g_build_filename(g_get_tmp_dir(), "vswap-ckpt-XXXXXX", NULL);
    g_close(g_mkstemp(f->path), NULL);
    f->direct = GPOINTER_TO_UINT(data);
    f->pages = test_pages_new();
    memset(f->ver, 0, sizeof(f->ver));
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    g_unlink(f->path);
    g_free(f->path);
    test_pages_free(f->pages);
}

static void config(Fixture *f, VswapStoreConfig *cfg, bool reopen)
{
    vswap_store_config_init(cfg);
    cfg->path = f->path;
    cfg->capacity = 1 << 16;
    cfg->segment_size = 64 * 1024;
    cfg->mem_budget = 256 * 1024;
    cfg->persist = true;
    cfg->reopen = reopen;
    cfg->direct_io = f->direct;
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

/* Reopen must fail with @code and a message containing @what. */
static void assert_reopen_fails(Fixture *f, int code, const char *what)
{
    g_autoptr(GError) err = NULL;
    VswapStoreConfig cfg;

    config(f, &cfg, true);
    g_assert_null(vswap_store_open(&cfg, &err));
    g_assert_nonnull(err);
    g_test_message("reopen: %s", err->message);
    g_assert_cmpint(err->code, ==, code);
    g_assert_nonnull(strstr(err->message, what));
}

static void write_page(Fixture *f, VswapStore *s, uint64_t slot, unsigned ver)
{
    VswapPageOp op = {
        .slot = slot, .page = (void *)test_pages_get(f->pages, slot, ver),
    };

    g_assert_cmpint(vswap_store_write_sync(s, &op, 1), ==, 0);
    f->ver[slot] = ver;
}

static void write_fill(Fixture *f, VswapStore *s, uint64_t slot, uint32_t v)
{
    VswapPageOp op = { .slot = slot, .fill = v };

    g_assert_cmpint(vswap_store_write_sync(s, &op, 1), ==, 0);
    f->ver[slot] = ~0u;
    f->fill[slot] = v;
}

/* Memory and disk records, fill pages, discards and overwrites. */
static void populate(Fixture *f, VswapStore *s, unsigned ver)
{
    for (uint64_t i = 0; i < NPAGES; i++) {
        if (i % 13 == 0) {
            write_fill(f, s, i, i % 26 ? 0 : 0x01020304 + i);
        } else {
            write_page(f, s, i, ver);
        }
    }
    for (uint64_t i = 0; i < NPAGES; i += 7) {
        g_assert_cmpint(vswap_store_discard(s, i, 1), ==, 0);
        f->ver[i] = 0;
    }
    /* Recent writes stay in memory segments. */
    for (uint64_t i = 1; i < NPAGES; i += 50) {
        write_page(f, s, i, ver + 1);
    }
}

static void verify(Fixture *f, VswapStore *s)
{
    g_autofree uint8_t *buf = g_malloc(PAGE);
    g_autofree uint8_t *want = g_malloc(PAGE);
    VswapCheckReport rep;

    for (uint64_t i = 0; i < NPAGES; i++) {
        VswapPageOp op = { .slot = i, .page = buf };

        g_assert_cmpint(vswap_store_read_sync(s, &op, 1), ==, 0);
        if (f->ver[i] == 0) {
            g_assert_cmpint(op.status, ==, VSWAP_STORE_UNMAPPED);
            continue;
        }
        g_assert_cmpint(op.status, ==, 0);
        if (f->ver[i] == ~0u) {
            vswap_page_fill(want, f->fill[i]);
        } else {
            memcpy(want, test_pages_get(f->pages, i, f->ver[i]), PAGE);
        }
        g_assert(memcmp(buf, want, PAGE) == 0);
    }
    g_assert_cmpint(vswap_store_check(s, &rep), ==, 0);
    g_assert_cmpuint(rep.bad, ==, 0);
}

static VswapSuperblock read_sb(Fixture *f)
{
    VswapSuperblock sb;
    int fd = open(f->path, O_RDONLY);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, &sb, sizeof(sb), 0), ==, sizeof(sb));
    close(fd);
    return sb;
}

static bool file_is_clean(Fixture *f)
{
    VswapSuperblock sb = read_sb(f);

    return le64toh(sb.flags) & VSWAP_SB_CLEAN;
}

static void flip_byte(Fixture *f, uint64_t off)
{
    uint8_t byte;
    int fd = open(f->path, O_RDWR);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, &byte, 1, off), ==, 1);
    byte ^= 0x10;
    g_assert_cmpint(pwrite(fd, &byte, 1, off), ==, 1);
    close(fd);
}

/* Create a populated store and close it with a checkpoint. */
static VswapStoreStats make_clean_store(Fixture *f)
{
    VswapStore *s = open_store(f, false);
    VswapStoreStats st;

    populate(f, s, 1);
    vswap_store_drain(s);
    vswap_store_get_stats(s, &st);
    /* All three kinds are there before the checkpoint. */
    g_assert_cmpuint(st.pages_mem, >, 0);
    g_assert_cmpuint(st.pages_disk, >, 0);
    g_assert_cmpuint(st.pages_fill, >, 0);
    vswap_store_close(s);
    g_assert_true(file_is_clean(f));
    return st;
}

static void test_round_trip(Fixture *f, gconstpointer data)
{
    VswapStoreStats before = make_clean_store(f), after;
    VswapStore *s = open_store(f, true);

    /* Reopen marks the file unclean at once. */
    g_assert_false(file_is_clean(f));
    vswap_store_get_stats(s, &after);
    g_assert_cmpuint(after.pages_mem, ==, 0);
    g_assert_cmpuint(after.pages_disk, ==, before.pages_mem +
                     before.pages_disk);
    g_assert_cmpuint(after.pages_fill, ==, before.pages_fill);
    /* The checkpoint packed the memory tier's pages into groups. */
    g_assert_cmpuint(after.payload_bytes, <=, before.payload_bytes);
    verify(f, s);

    /* A second generation: change things, close, reopen. */
    populate(f, s, 3);
    verify(f, s);
    vswap_store_close(s);
    g_assert_true(file_is_clean(f));
    s = open_store(f, true);
    verify(f, s);
    vswap_store_close(s);
}

/*
 * A damaged segment header does not cost the segment's pages: the
 * checkpoint says where each record is, and each is verified when read.
 * A group member's entry gives only its share of its group, so the
 * segment is taken as far as its groups may reach, not to the end of the
 * last share (the pages of a segment's last groups read short: EIO).
 */
static void test_bad_segment_headers(Fixture *f, gconstpointer data)
{
    VswapSuperblock sb;
    VswapStoreStats st;
    uint64_t base, seg_size, ckpt_seg, nsegs;
    struct stat sbuf;
    VswapStore *s;

    make_clean_store(f);
    sb = read_sb(f);
    base = le64toh(sb.data_offset);
    seg_size = le32toh(sb.segment_size);
    ckpt_seg = le32toh(sb.ckpt_segment);
    g_assert_cmpint(stat(f->path, &sbuf), ==, 0);
    nsegs = (sbuf.st_size - base + seg_size - 1) / seg_size;
    for (uint64_t i = 0; i < nsegs; i++) {
        if (i != ckpt_seg) {
            /* In the header's checksummed fields, not its magic. */
            flip_byte(f, base + i * seg_size + 12);
        }
    }
    s = open_store(f, true);
    vswap_store_get_stats(s, &st);
    g_assert_cmpuint(st.pages_disk, >, 0);
    verify(f, s);
    vswap_store_close(s);
}

/* Capacity and segment size come from the file, not the config. */
static void test_geometry_from_file(Fixture *f, gconstpointer data)
{
    VswapStoreConfig cfg;
    VswapStore *s;

    make_clean_store(f);
    config(f, &cfg, true);
    cfg.capacity = 7;
    cfg.segment_size = 1 << 20;
    cfg.mem_budget = 1;
    s = open_cfg(&cfg);
    g_assert_cmpuint(s->cfg.capacity, ==, 1 << 16);
    g_assert_cmpuint(s->cfg.segment_size, ==, 64 * 1024);
    verify(f, s);
    vswap_store_close(s);
}

/* A checkpoint mid-life; the next change marks the file unclean. */
static void test_checkpoint_then_write(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    VswapStore *s = open_store(f, false);
    VswapStore *mem;
    VswapStoreConfig cfg;

    populate(f, s, 1);
    g_assert_cmpint(vswap_store_checkpoint(s, &err), ==, 0);
    g_assert_no_error(err);
    g_assert_true(file_is_clean(f));
    /* Nothing changed: a second one is free. */
    g_assert_cmpint(vswap_store_checkpoint(s, &err), ==, 0);
    verify(f, s);
    g_assert_true(file_is_clean(f));

    write_page(f, s, 5, 9);
    g_assert_false(file_is_clean(f));
    g_assert_cmpint(vswap_store_checkpoint(s, &err), ==, 0);
    g_assert_cmpint(vswap_store_discard(s, 5, 1), ==, 0);
    f->ver[5] = 0;
    g_assert_false(file_is_clean(f));
    g_assert_cmpint(vswap_store_checkpoint(s, &err), ==, 0);
    g_assert_cmpint(vswap_store_compact(s, true, NULL, NULL), ==, 0);
    g_assert_false(file_is_clean(f));
    vswap_store_close(s);

    s = open_store(f, true);
    verify(f, s);
    vswap_store_close(s);

    /* Memory-only stores cannot persist. */
    vswap_store_config_init(&cfg);
    cfg.persist = true;
    g_assert_null(vswap_store_open(&cfg, &err));
    g_assert_nonnull(strstr(err->message, "need a store file"));
    g_clear_error(&err);
    vswap_store_config_init(&cfg);
    mem = open_cfg(&cfg);
    g_assert_cmpint(vswap_store_checkpoint(mem, &err), ==, -EINVAL);
    g_assert_nonnull(err);
    vswap_store_close(mem);
}

/* Compaction after a reopen moves old-session records; all survive. */
static void test_compact_after_reopen(Fixture *f, gconstpointer data)
{
    VswapStoreStats st;
    VswapStore *s;

    make_clean_store(f);
    s = open_store(f, true);
    for (uint64_t i = 0; i < NPAGES; i++) {
        if (i % 3) {
            g_assert_cmpint(vswap_store_discard(s, i, 1), ==, 0);
            f->ver[i] = 0;
        }
    }
    g_assert_cmpint(vswap_store_compact(s, true, NULL, NULL), ==, 0);
    vswap_store_drain(s);
    vswap_store_get_stats(s, &st);
    g_assert_cmpuint(st.compacted_segments, >, 0);
    verify(f, s);
    vswap_store_close(s);
    s = open_store(f, true);
    verify(f, s);
    vswap_store_close(s);
}

static void test_unclean(Fixture *f, gconstpointer data)
{
    VswapStoreConfig cfg;
    VswapStore *s;

    /* Closed without persist: the file says nothing about its slots. */
    config(f, &cfg, false);
    cfg.persist = false;
    s = open_cfg(&cfg);
    populate(f, s, 1);
    vswap_store_close(s);
    assert_reopen_fails(f, EUCLEAN, "was not closed cleanly");

    /* A crash after a reopen: the flag was cleared at the reopen. */
    make_clean_store(f);
    config(f, &cfg, true);
    cfg.persist = false;
    s = open_cfg(&cfg);
    vswap_store_close(s);
    assert_reopen_fails(f, EUCLEAN, "was not closed cleanly");
}

static void test_corrupt_checkpoint(Fixture *f, gconstpointer data)
{
    VswapSuperblock sb;
    uint64_t ckpt;

    make_clean_store(f);
    sb = read_sb(f);
    ckpt = le64toh(sb.data_offset) +
           (uint64_t)le32toh(sb.ckpt_segment) * le32toh(sb.segment_size);

    /* An entry: the entries' checksum catches it. */
    flip_byte(f, ckpt + VSWAP_CKPT_HDR_SIZE + 16 * 5 + 2);
    assert_reopen_fails(f, EBADMSG, "corrupt checkpoint");
    flip_byte(f, ckpt + VSWAP_CKPT_HDR_SIZE + 16 * 5 + 2);
    /* The header. */
    flip_byte(f, ckpt + 20);
    assert_reopen_fails(f, EBADMSG, "corrupt checkpoint");
    flip_byte(f, ckpt + 20);
    /* The superblock. */
    flip_byte(f, 17);
    assert_reopen_fails(f, EBADMSG, "corrupt superblock");
    flip_byte(f, 17);
    /* Restored: reopen works (and verifies nothing was harmed). */
    {
        VswapStore *s = open_store(f, true);

        verify(f, s);
        vswap_store_close(s);
    }
    /* Truncated in the middle of the checkpoint. */
    sb = read_sb(f);
    ckpt = le64toh(sb.data_offset) +
           (uint64_t)le32toh(sb.ckpt_segment) * le32toh(sb.segment_size);
    g_assert_cmpint(truncate(f->path, ckpt + VSWAP_CKPT_HDR_SIZE + 100), ==, 0);
    assert_reopen_fails(f, EBADMSG, "truncated");
    g_assert_cmpint(truncate(f->path, ckpt - 4096), ==, 0);
    assert_reopen_fails(f, EBADMSG, "truncated");
}

static void test_not_a_store(Fixture *f, gconstpointer data)
{
    g_autofree uint8_t *junk = g_malloc(64 * 1024);
    g_autoptr(GError) err = NULL;
    VswapSuperblock sb;
    VswapStoreConfig cfg;

    for (unsigned i = 0; i < 64 * 1024; i++) {
        junk[i] = g_test_rand_int();
    }
    g_assert(g_file_set_contents(f->path, (char *)junk, 64 * 1024, NULL));
    assert_reopen_fails(f, EMEDIUMTYPE, "not a vswap store file (bad magic)");
    g_assert(g_file_set_contents(f->path, "", 0, NULL));
    assert_reopen_fails(f, EMEDIUMTYPE, "not a vswap store file");
    g_assert(g_file_set_contents(f->path, VSWAP_SB_MAGIC "xyz", -1, NULL));
    assert_reopen_fails(f, EBADMSG, "truncated");

    /* A newer format version, with a good checksum. */
    memset(junk, 0, VSWAP_SB_SIZE);
    vswap_sb_encode((VswapSuperblock *)junk, 64 * 1024, 100, 64 * 1024);
    memcpy(&sb, junk, sizeof(sb));
    sb.version = htole32(2);
    sb.crc = htole32(vswap_sb_crc(&sb));
    memcpy(junk, &sb, sizeof(sb));
    g_assert(g_file_set_contents(f->path, (char *)junk, VSWAP_SB_SIZE, NULL));
    assert_reopen_fails(f, ENOTSUP, "newer format version 2");

    g_unlink(f->path);
    assert_reopen_fails(f, ENOENT, "cannot open");
    /* Reopen with persist never creates a file. */
    config(f, &cfg, true);
    g_assert_null(vswap_store_open(&cfg, &err));
    g_assert_false(g_file_test(f->path, G_FILE_TEST_EXISTS));
    /* The fixture's teardown unlinks it. */
    g_assert(g_file_set_contents(f->path, "", 0, NULL));
}

/* Segment writes fail while checkpointing: an error, nothing marked clean. */
static void test_write_faults(Fixture *f, gconstpointer data)
{
    VswapIoFault fault = { .op = VSWAP_IO_WRITE, .error = -EIO };
    g_autoptr(GError) err = NULL;
    VswapStoreConfig cfg;
    VswapStore *s;

    config(f, &cfg, false);
    cfg.fault_injection = true;
    cfg.mem_budget = 8 << 20;
    s = open_cfg(&cfg);
    populate(f, s, 1);
    vswap_io_faulty_add(vswap_store_io_engine(s), &fault);
    g_assert_cmpint(vswap_store_checkpoint(s, &err), ==, -EIO);
    g_assert_nonnull(err);
    g_test_message("checkpoint: %s", err->message);
    g_assert_nonnull(strstr(err->message, "segment writes keep failing"));
    g_clear_error(&err);
    g_assert_false(file_is_clean(f));
    /* Nothing acknowledged was lost meanwhile. */
    verify(f, s);
    vswap_io_faulty_clear(vswap_store_io_engine(s));
    g_assert_cmpint(vswap_store_checkpoint(s, &err), ==, 0);
    g_assert_no_error(err);
    vswap_store_close(s);
    s = open_store(f, true);
    verify(f, s);
    vswap_store_close(s);
}

/*
 * A clean file whose superblock cannot be rewritten to say "changed":
 * writes, discards and compaction fail with -EIO (which the device
 * answers as IOERR; it once answered a DISCARD's as INVAL), nothing
 * changes, and once the superblock can be written they go through.
 */
static void test_mark_dirty_fails(Fixture *f, gconstpointer data)
{
    VswapIoFault fault = {
        .op = VSWAP_IO_WRITE, .offset_hi = VSWAP_SB_SIZE, .error = -EIO,
    };
    g_autoptr(GError) err = NULL;
    VswapStoreConfig cfg;
    VswapPageOp op = {
        .slot = 3, .page = (void *)test_pages_get(f->pages, 3, 7),
    };
    VswapStore *s;

    config(f, &cfg, false);
    cfg.fault_injection = true;
    s = open_cfg(&cfg);
    populate(f, s, 1);
    g_assert_cmpint(vswap_store_checkpoint(s, &err), ==, 0);
    g_assert_no_error(err);
    g_assert_true(file_is_clean(f));
    vswap_io_faulty_add(vswap_store_io_engine(s), &fault);
    g_assert_cmpint(vswap_store_discard(s, 2, 1), ==, -EIO);
    g_assert_cmpint(vswap_store_write_sync(s, &op, 1), ==, -EIO);
    g_assert_cmpint(vswap_store_compact(s, true, NULL, NULL), ==, -EIO);
    g_assert_true(file_is_clean(f));
    verify(f, s);

    vswap_io_faulty_clear(vswap_store_io_engine(s));
    g_assert_cmpint(vswap_store_discard(s, 2, 1), ==, 0);
    f->ver[2] = 0;
    g_assert_false(file_is_clean(f));
    write_page(f, s, 3, 7);
    verify(f, s);
    vswap_store_close(s);
}

/* The disk limit leaves no room for the memory records: -ENOSPC. */
static void test_disk_full(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    VswapStoreConfig cfg;
    VswapStore *s;
    uint64_t acked = 0;

    config(f, &cfg, false);
    cfg.disk_limit = 64 * 1024 + 4 * 64 * 1024;
    s = open_cfg(&cfg);
    for (uint64_t i = 0; i < NPAGES; i++) {
        VswapPageOp op = {
            .slot = i, .page = (void *)test_pages_get(f->pages, i, 1),
        };

        if (vswap_store_write_sync(s, &op, 1) == 0) {
            f->ver[i] = 1;
            acked++;
        }
    }
    g_assert_cmpuint(acked, <, NPAGES);
    g_assert_cmpint(vswap_store_checkpoint(s, &err), ==, -ENOSPC);
    g_test_message("checkpoint: %s", err->message);
    g_assert_nonnull(strstr(err->message, "no room"));
    g_clear_error(&err);
    g_assert_false(file_is_clean(f));
    verify(f, s);
    /* Room again: drop most pages, and the checkpoint fits. */
    g_assert_cmpint(vswap_store_discard(s, 0, NPAGES - 100), ==, 0);
    memset(f->ver, 0, (NPAGES - 100) * sizeof(f->ver[0]));
    g_assert_cmpint(vswap_store_checkpoint(s, &err), ==, 0);
    g_assert_no_error(err);
    vswap_store_close(s);
    s = open_store(f, true);
    verify(f, s);
    vswap_store_close(s);
}

/* The fault engine on the store file, with one fault; see below. */
typedef struct FaultyOpen {
    Fixture *f;
    VswapIoFault fault;
    VswapIoEngine *io;
} FaultyOpen;

static VswapIoEngine *faulty_open_engine(void *opaque, int notify_fd,
                                         GError **errp)
{
    FaultyOpen *fo = opaque;
    VswapIoEngine *inner = vswap_io_uring_open(fo->f->path, 0, 64, notify_fd,
                                               errp);

    if (!inner) {
        return NULL;
    }
    fo->io = vswap_io_faulty_new(inner, notify_fd);
    vswap_io_faulty_add(fo->io, &fo->fault);
    return fo->io;
}

static uint64_t ckpt_offset(Fixture *f)
{
    VswapSuperblock sb = read_sb(f);

    return le64toh(sb.data_offset) +
           (uint64_t)le32toh(sb.ckpt_segment) * le32toh(sb.segment_size);
}

/*
 * Issue 14, defect 5: reopen checked the entries in one read and applied
 * them from a second one, so a file that changed in between (another
 * process, a disk returning other bytes) had unchecked entries applied:
 * a segment index past the table, a slot out of range.  Here the second
 * read of the entries returns one byte flipped.  Each entry must come
 * from the bytes that were checked: one read, so the fault never fires.
 */
static void test_changes_between_reads(Fixture *f, gconstpointer data)
{
    FaultyOpen fo = { .f = f };
    VswapStoreConfig cfg;
    VswapStore *s;

    make_clean_store(f);
    fo.fault = (VswapIoFault) {
        .op = VSWAP_IO_READ,
        .offset_lo = ckpt_offset(f) + VSWAP_CKPT_HDR_SIZE,
        .offset_hi = ckpt_offset(f) + VSWAP_CKPT_HDR_SIZE + 1,
        .skip = 1, .count = 1, .corrupt = true,
    };
    config(f, &cfg, true);
    cfg.open_engine = faulty_open_engine;
    cfg.engine_opaque = &fo;
    s = open_cfg(&cfg);
    verify(f, s);
    g_assert_cmpuint(vswap_io_faulty_injected(fo.io), ==, 0);
    vswap_store_close(s);
}

/*
 * Replace the checkpoint of the clean store file with @n entries for
 * slots 0 .. n-1, all pointing at @len bytes at @addr, checksums right.
 */
static void forge_checkpoint(Fixture *f, uint64_t n, uint64_t addr,
                             uint16_t len)
{
    uint64_t off = ckpt_offset(f);
    g_autofree VswapCkptEntry *e = g_new0(VswapCkptEntry, n);
    VswapCkptHdr hdr;
    int fd = open(f->path, O_RDWR);
    size_t bytes = n * sizeof(*e);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, &hdr, sizeof(hdr), off), ==, sizeof(hdr));
    for (uint64_t i = 0; i < n; i++) {
        e[i] = (VswapCkptEntry) {
            .slot = htole32(i), .kind = VSWAP_CKPT_RECORD,
            .len = htole16(len), .value = htole64(addr),
        };
    }
    hdr.nentries = htole64(n);
    hdr.entries_crc = htole32(vswap_crc32c(0, e, bytes));
    hdr.crc = 0;
    hdr.crc = htole32(vswap_ckpt_hdr_crc(&hdr));
    g_assert_cmpint(pwrite(fd, &hdr, sizeof(hdr), off), ==, sizeof(hdr));
    g_assert_cmpint(pwrite(fd, e, bytes, off + VSWAP_CKPT_HDR_SIZE), ==,
                    bytes);
    /* Entries are padded to 4 KiB. */
    g_assert_cmpint(ftruncate(fd, off + VSWAP_CKPT_HDR_SIZE +
                              ((bytes + 4095) & ~(size_t)4095)), ==, 0);
    close(fd);
}

/*
 * Issue 14, defect 5: 1,044,496 well-formed entries of distinct slots,
 * all naming one 4 KiB record, wrapped the segment's 32-bit live bytes
 * to below what its header says it holds, so reopen accepted them; the
 * first write to one of those slots then aborted in vswap_log_release().
 */
static void test_live_overflow(Fixture *f, gconstpointer data)
{
    VswapStoreConfig cfg;
    VswapStore *s;

    config(f, &cfg, false);
    cfg.capacity = 1 << 21;
    s = open_cfg(&cfg);
    for (uint64_t i = 0; i < 40; i++) {
        write_page(f, s, i, 1);
    }
    vswap_store_close(s);
    forge_checkpoint(f, 1044496, 64, 4096);
    assert_reopen_fails(f, EBADMSG, "segment 0 holds more records than it"
                        " can");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) ADD_DATA(path, fn, false)
#define ADD_DATA(path, fn, data) \
    g_test_add("/checkpoint/" path, Fixture, GUINT_TO_POINTER(data), \
               fixture_setup, fn, fixture_teardown)
    ADD("round-trip", test_round_trip);
    ADD_DATA("round-trip/direct-io", test_round_trip, true);
    ADD("geometry-from-file", test_geometry_from_file);
    ADD("checkpoint-then-write", test_checkpoint_then_write);
    ADD("compact-after-reopen", test_compact_after_reopen);
    ADD("unclean", test_unclean);
    ADD("corrupt", test_corrupt_checkpoint);
    ADD("bad-segment-headers", test_bad_segment_headers);
    ADD("not-a-store", test_not_a_store);
    ADD("write-faults", test_write_faults);
    ADD("mark-dirty-fails", test_mark_dirty_fails);
    ADD("disk-full", test_disk_full);
    ADD("changes-between-reads", test_changes_between_reads);
    ADD("live-overflow", test_live_overflow);
    return g_test_run();
}
