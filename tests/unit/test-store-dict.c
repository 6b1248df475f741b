/*
 * Unit tests of the store's own zstd dictionaries (cfg.dict_auto): trained
 * on its pages, used for the pages after, found again for reads from
 * memory and disk, carried by exports before the records that need them,
 * and refused when a migration stream lies about them.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "vswap/store.h"
#include "checksum.h"
#include "store-int.h"
#include "test-pages.h"

#define PAGE VSWAP_STORE_PAGE_SIZE
#define NPAGES 1024
#define TRAIN 64

static VswapStore *open_dict_store(const char *path, uint64_t budget,
                                   bool dict_auto, unsigned workers)
{
    g_autoptr(GError) err = NULL;
    VswapStoreConfig cfg;
    VswapStore *s;

    vswap_store_config_init(&cfg);
    cfg.path = path;
    cfg.capacity = 1 << 16;
    cfg.segment_size = 64 * 1024;
    cfg.mem_budget = budget;
    cfg.workers = workers;
    cfg.dict_auto = dict_auto;
    cfg.dict_train_pages = TRAIN;
    s = vswap_store_open(&cfg, &err);
    g_assert_no_error(err);
    return s;
}

/* A persistent dict=auto store at @path with a @budget of memory. */
static void persist_config(VswapStoreConfig *cfg, const char *path,
                           uint64_t budget)
{
    vswap_store_config_init(cfg);
    cfg->path = path;
    cfg->capacity = 1 << 16;
    cfg->segment_size = 64 * 1024;
    cfg->mem_budget = budget;
    cfg->dict_auto = true;
    cfg->dict_train_pages = TRAIN;
    cfg->persist = true;
}

/*
 * Write heap pages of vocabulary @vocab to slots [first, first + n), page
 * i to slot i, 32 per request.
 */
static void write_vocab(VswapStore *s, unsigned first, unsigned n,
                        unsigned vocab)
{
    g_autofree uint8_t *pages = g_malloc(32 * PAGE);
    VswapPageOp ops[32];

    for (unsigned base = first; base < first + n; base += 32) {
        unsigned k = MIN(32, first + n - base);

        for (unsigned i = 0; i < k; i++) {
            test_pages_heap_vocab(pages + i * PAGE, base + i, vocab);
            ops[i] = (VswapPageOp) { .slot = base + i,
                                     .page = pages + i * PAGE };
        }
        g_assert_cmpint(vswap_store_write_sync(s, ops, k), ==, 0);
    }
    /*
     * A training these pages started runs on a thread of its own; let it
     * finish, so that what follows sees its outcome whatever the timing.
     */
    vswap_store_drain(s);
}

/* Every slot of [first, first + n) reads back as its page of @vocab. */
static void check_vocab(VswapStore *s, unsigned first, unsigned n,
                        unsigned vocab)
{
    g_autofree uint8_t *want = g_malloc(PAGE);
    g_autofree uint8_t *got = g_malloc(PAGE);

    for (unsigned i = first; i < first + n; i++) {
        VswapPageOp op = { .slot = i, .page = got };

        test_pages_heap_vocab(want, i, vocab);
        memset(got, 0xa5, PAGE);
        g_assert_cmpint(vswap_store_read_sync(s, &op, 1), ==, 0);
        g_assert_cmpint(op.status, ==, 0);
        g_assert_cmpmem(got, PAGE, want, PAGE);
    }
}

static void write_pages(VswapStore *s, unsigned n)
{
    write_vocab(s, 0, n, 0);
}

/* Write @n pages, which train a dictionary, then again with it. */
static void write_trained(VswapStore *s, unsigned n)
{
    write_pages(s, n);
    write_pages(s, n);
}

static void check_pages(VswapStore *s, unsigned n)
{
    check_vocab(s, 0, n, 0);
}

static void test_train_and_use(gconstpointer data)
{
    unsigned workers = GPOINTER_TO_UINT(data);
    VswapStore *s = open_dict_store(NULL, 64 << 20, true, workers);
    VswapStore *off = open_dict_store(NULL, 64 << 20, false, workers);
    VswapStoreStats st, st_off;
    VswapCheckReport rep;

    /*
     * With workers, pages keep coming while the dictionary trains; by the
     * second round it is in use.
     */
    write_pages(s, NPAGES);
    vswap_store_drain(s);
    write_pages(s, NPAGES);
    write_pages(off, NPAGES);
    vswap_store_drain(s);
    vswap_store_get_stats(s, &st);
    vswap_store_get_stats(off, &st_off);
    g_test_message("%u workers: payload %" PRIu64 " with dict=auto, %" PRIu64
                   " off; gain %" PRIu64 " permille on the held-out pages",
                   workers, st.payload_bytes, st_off.payload_bytes,
                   st.dict_gain_permille);
    g_assert_cmpuint(st.dict_trainings, ==, 1);
    g_assert_cmpuint(st.dict_rejected, ==, 0);
    g_assert_cmpuint(st.dict_id, ==, 1);
    g_assert_cmpuint(st.dicts, ==, 1);
    g_assert_cmpuint(st.dict_bytes, >, 0);
    g_assert_cmpuint(st.dict_gain_permille, >, 1100);
    g_assert_cmpuint(st_off.dicts + st_off.dict_trainings, ==, 0);
    /* Rewritten after training, the pages took the dictionary and shrank. */
    g_assert_cmpuint(st.payload_bytes * 10, <, st_off.payload_bytes * 9);

    /* Both kinds of record read back: before training and after. */
    check_pages(s, NPAGES);
    g_assert_cmpint(vswap_store_check(s, &rep), ==, 0);
    g_assert_cmpuint(rep.pages, ==, NPAGES);
    vswap_store_close(s);
    vswap_store_close(off);
}

/* Records with a dictionary go to disk and come back from there. */
static void test_disk_tier(void)
{
    g_autofree char *path = g_build_filename(g_get_tmp_dir(),
                                             "vswap-dict-XXXXXX", NULL);
    VswapStore *s;
    VswapStoreStats st;
    VswapCheckReport rep;

    g_close(g_mkstemp(path), NULL);
    s = open_dict_store(path, 128 * 1024, true, 1);
    write_pages(s, 4 * NPAGES);
    vswap_store_drain(s);
    vswap_store_get_stats(s, &st);
    g_assert_cmpuint(st.dict_id, ==, 1);
    g_assert_cmpuint(st.pages_disk, >, 2 * NPAGES);
    check_pages(s, 4 * NPAGES);
    g_assert_cmpint(vswap_store_compact(s, true, NULL, NULL), ==, 0);
    vswap_store_drain(s);
    check_pages(s, 4 * NPAGES);
    g_assert_cmpint(vswap_store_check(s, &rep), ==, 0);
    vswap_store_close(s);
    g_unlink(path);
}

static VswapStoreStats stats(VswapStore *s)
{
    VswapStoreStats st;

    vswap_store_drain(s);
    vswap_store_get_stats(s, &st);
    return st;
}

/* Compact every segment with dead space, memory and disk, to the end. */
static void compact_all(VswapStore *s)
{
    g_assert_cmpint(vswap_store_compact(s, true, NULL, NULL), ==, 0);
    vswap_store_drain(s);
}

/*
 * Train dictionary 1 on vocabulary 0 in slots [0, NPAGES), then switch
 * slots [NPAGES, 3 * NPAGES) to vocabulary 1: the ratio drifts, the store
 * trains dictionary 2 and takes it.
 */
static void drift_to_second(VswapStore *s)
{
    VswapStoreStats st;

    write_pages(s, NPAGES);
    vswap_store_drain(s);
    write_pages(s, NPAGES);
    st = stats(s);
    g_assert_cmpuint(st.dict_id, ==, 1);
    /* The same kind of pages: no drift, no retraining. */
    g_assert_cmpuint(st.dict_retrainings, ==, 0);
    g_assert_cmpuint(st.dict_drift_permille, >, 0);
    g_assert_cmpuint(st.dict_drift_permille, <, 1080);

    write_vocab(s, NPAGES, 2 * NPAGES, 1);
    st = stats(s);
    g_test_message("after the switch: dict %" PRIu64 ", %" PRIu64
                   " trainings, %" PRIu64 " rejected, drift %" PRIu64,
                   st.dict_id, st.dict_trainings, st.dict_rejected,
                   st.dict_drift_permille);
    g_assert_cmpuint(st.dict_retrainings, ==, 1);
    g_assert_cmpuint(st.dict_trainings, ==, 2);
    g_assert_cmpuint(st.dict_id, ==, 2);
    /* Dictionary 1 still has records: slots [0, NPAGES). */
    g_assert_cmpuint(st.dicts, ==, 2);
    g_assert_cmpuint(st.dict_retired, ==, 0);
}

/*
 * A switch of the pages' kind makes the store retrain; the old
 * dictionary is retired once its records are overwritten and compaction
 * freed their segments, and not before.
 */
static void test_drift_and_retire(gconstpointer data)
{
    unsigned workers = GPOINTER_TO_UINT(data);
    VswapStore *s = open_dict_store(NULL, 64 << 20, true, workers);
    VswapStoreStats st;
    VswapCheckReport rep;

    drift_to_second(s);
    check_pages(s, NPAGES);
    check_vocab(s, NPAGES, 2 * NPAGES, 1);
    /*
     * Rewritten, every slot now names dictionary 2, but the dead records
     * of dictionary 1 sit in segments not yet compacted.
     */
    write_vocab(s, 0, 3 * NPAGES, 1);
    st = stats(s);
    g_assert_cmpuint(st.dict_id, ==, 2);
    g_assert_cmpint(vswap_store_check(s, &rep), ==, 0);
    compact_all(s);
    st = stats(s);
    g_assert_cmpuint(st.dicts, ==, 1);
    g_assert_cmpuint(st.dict_retired, ==, 1);
    g_assert_null(vswap_dicts_get(s, 1));
    g_assert_nonnull(vswap_dicts_get(s, 2));
    check_vocab(s, 0, 3 * NPAGES, 1);
    g_assert_cmpint(vswap_store_check(s, &rep), ==, 0);
    vswap_store_close(s);
}

/* Discarded records free their dictionary as well. */
static void test_discard_retires(void)
{
    VswapStore *s = open_dict_store(NULL, 64 << 20, true, 1);
    VswapStoreStats st;
    VswapCheckReport rep;

    drift_to_second(s);
    /* Slots written with dictionary 1: vocabulary 0 and the switch's. */
    g_assert_cmpint(vswap_store_discard(s, 0, 3 * NPAGES), ==, 0);
    write_vocab(s, 4 * NPAGES, NPAGES, 1);
    compact_all(s);
    st = stats(s);
    g_assert_cmpuint(st.dict_retired, ==, 1);
    g_assert_cmpuint(st.dicts, ==, 1);
    g_assert_cmpuint(st.dict_id, ==, 2);
    check_vocab(s, 4 * NPAGES, NPAGES, 1);
    g_assert_cmpint(vswap_store_check(s, &rep), ==, 0);
    vswap_store_close(s);
}

/*
 * A new id skips table entries that are held: with dictionary 1 live and
 * ids up to 16 used, the next one is 18, not 17 (entry 0, dictionary 1's).
 */
static void test_id_skips_held_entry(void)
{
    VswapStore *s = open_dict_store(NULL, 64 << 20, true, 1);
    VswapStoreStats st;

    write_pages(s, NPAGES);
    vswap_store_drain(s);
    write_pages(s, NPAGES);
    g_assert_cmpuint(stats(s).dict_id, ==, 1);
    /* As if dictionaries 2 to 16 had come and been retired. */
    s->dict_last_id = 16;
    write_vocab(s, NPAGES, 2 * NPAGES, 1);
    st = stats(s);
    g_assert_cmpuint(st.dict_retrainings, ==, 1);
    g_assert_cmpuint(st.dict_id, ==, 18);
    g_assert_nonnull(vswap_dicts_get(s, 1));
    g_assert_nonnull(vswap_dicts_get(s, 18));
    g_assert_null(vswap_dicts_get(s, 17));
    check_pages(s, NPAGES);
    check_vocab(s, NPAGES, 2 * NPAGES, 1);
    vswap_store_close(s);
}

/*
 * The id after the last one while an export that sent its entry's old
 * dictionary runs: the peer may hold that one still, so it is skipped.
 */
static void test_id_skips_exported_entry(void)
{
    VswapStore *s = open_dict_store(NULL, 64 << 20, true, 1);
    g_autofree uint8_t *payload = g_malloc(PAGE);
    VswapRecordInfo info;
    VswapStoreStats st;

    drift_to_second(s);
    vswap_store_export_start(s);
    g_assert_cmpint(vswap_store_export_next(s, &info, payload), ==, 1);
    g_assert_cmpint(info.kind, ==, VSWAP_RECORD_DICT);
    g_assert_cmpint(vswap_store_export_next(s, &info, payload), ==, 1);
    g_assert_cmpint(info.kind, ==, VSWAP_RECORD_DICT);
    /* Dictionary 1 goes; ids 3 to 16 are used up; then a drift. */
    write_vocab(s, 0, 3 * NPAGES, 1);
    compact_all(s);
    g_assert_null(vswap_dicts_get(s, 1));
    s->dict_last_id = 16;
    write_vocab(s, 0, 3 * NPAGES, 2);
    st = stats(s);
    g_assert_cmpuint(st.dict_retrainings, ==, 2);
    /* 17 is entry 0, which the export sent dictionary 1 in. */
    g_assert_cmpuint(st.dict_id, ==, 19);
    vswap_store_export_stop(s);
    check_vocab(s, 0, 3 * NPAGES, 2);
    vswap_store_close(s);
}

/*
 * From drift_to_second(), drift again to vocabulary 2 in slots [NPAGES,
 * 3 * NPAGES) and retire dictionary 2: dictionaries 1 (slots [0, NPAGES))
 * and 3 are left, and id 2 is retired.
 */
static void retire_second(VswapStore *s)
{
    VswapStoreStats st;

    drift_to_second(s);
    write_vocab(s, NPAGES, 2 * NPAGES, 2);
    write_vocab(s, NPAGES, 2 * NPAGES, 2);
    compact_all(s);
    st = stats(s);
    g_assert_cmpuint(st.dict_id, ==, 3);
    g_assert_cmpuint(st.dicts, ==, 2);
    g_assert_cmpuint(st.dict_retired, ==, 1);
    g_assert_nonnull(vswap_dicts_get(s, 1));
    g_assert_null(vswap_dicts_get(s, 2));
}

/* Export all of @src into @dst; returns the dictionary ids sent, a bit each. */
static uint32_t migrate_all(VswapStore *src, VswapStore *dst)
{
    g_autofree uint8_t *payload = g_malloc(PAGE);
    uint32_t sent = 0, named = 0;
    VswapRecordInfo info;
    int ret;

    vswap_store_export_start(src);
    while ((ret = vswap_store_export_next(src, &info, payload)) > 0) {
        if (info.kind == VSWAP_RECORD_DICT) {
            sent |= 1u << info.dict;
        } else if (info.kind == VSWAP_RECORD_ZSTD_DICT) {
            g_assert_true(sent & (1u << info.dict));
            named |= 1u << info.dict;
        }
        g_assert_cmpint(vswap_store_import(dst, &info, payload), ==, 0);
    }
    g_assert_cmpint(ret, ==, 0);
    vswap_store_export_stop(src);
    g_assert_cmphex(named, ==, sent);
    return sent;
}

/* Two live dictionaries and a retired id travel; both read back. */
static void test_migrate_retired(void)
{
    VswapStore *src = open_dict_store(NULL, 64 << 20, true, 1);
    VswapStore *dst = open_dict_store(NULL, 64 << 20, true, 1);
    VswapCheckReport rep;
    VswapStoreStats st;

    retire_second(src);
    g_assert_cmphex(migrate_all(src, dst), ==, (1u << 1) | (1u << 3));
    st = stats(dst);
    g_assert_cmpuint(st.dicts, ==, 2);
    g_assert_cmpuint(st.dict_id, ==, 3);
    check_pages(dst, NPAGES);
    check_vocab(dst, NPAGES, 2 * NPAGES, 2);
    g_assert_cmpint(vswap_store_check(dst, &rep), ==, 0);
    /* Once the guest runs there, dictionary 1 goes with its records. */
    write_vocab(dst, 0, NPAGES, 2);
    compact_all(dst);
    st = stats(dst);
    g_assert_cmpuint(st.dicts, ==, 1);
    g_assert_cmpuint(st.dict_retired, ==, 1);
    g_assert_null(vswap_dicts_get(dst, 1));
    check_vocab(dst, 0, 3 * NPAGES, 2);
    vswap_store_close(src);
    vswap_store_close(dst);
}

/*
 * The checkpoint holds the live dictionaries only; after reopening, disk
 * segments count as naming each, so dictionary 1 is kept until they are
 * all gone, and then retired.
 */
static void test_persist_retired(void)
{
    g_autofree char *path = g_build_filename(g_get_tmp_dir(),
                                             "vswap-dict-XXXXXX", NULL);
    g_autoptr(GError) err = NULL;
    VswapStoreConfig cfg;
    VswapCheckReport rep;
    VswapStoreStats st;
    VswapStore *s;

    g_close(g_mkstemp(path), NULL);
    persist_config(&cfg, path, 256 * 1024);
    cfg.workers = 1;
    s = vswap_store_open(&cfg, &err);
    g_assert_no_error(err);
    retire_second(s);
    g_assert_cmpuint(stats(s).pages_disk, >, NPAGES);
    vswap_store_close(s);

    cfg.reopen = true;
    s = vswap_store_open(&cfg, &err);
    g_assert_no_error(err);
    st = stats(s);
    g_assert_cmpuint(st.dicts, ==, 2);
    g_assert_cmpuint(st.dict_id, ==, 3);
    g_assert_null(vswap_dicts_get(s, 2));
    check_pages(s, NPAGES);
    check_vocab(s, NPAGES, 2 * NPAGES, 2);
    g_assert_cmpint(vswap_store_check(s, &rep), ==, 0);
    /*
     * Every slot rewritten: no segment from before the reopen is left, and
     * none of those after names dictionary 1.
     */
    write_vocab(s, 0, 3 * NPAGES, 2);
    compact_all(s);
    st = stats(s);
    g_assert_cmpuint(st.dicts, ==, 1);
    g_assert_cmpuint(st.dict_retired, ==, 1);
    check_vocab(s, 0, 3 * NPAGES, 2);
    g_assert_cmpint(vswap_store_check(s, &rep), ==, 0);
    vswap_store_close(s);
    g_unlink(path);
}

/*
 * A stream brings 16 dictionaries, each with a record: the store's table
 * is full, so however its pages drift it does not train, until a
 * dictionary's last record is gone; the new one takes that entry.
 */
static void test_full_table(void)
{
    VswapStore *s = open_dict_store(NULL, 64 << 20, true, 1);
    g_autofree uint8_t *pages = g_malloc((size_t)TRAIN * 8 * PAGE);
    g_autofree uint8_t *payload = g_malloc(PAGE);
    g_autofree uint8_t *page = g_malloc(PAGE);
    g_autoptr(VswapDict) trained = NULL;
    g_autoptr(GError) err = NULL;
    VswapCodec *codec = vswap_codec_new(1);
    const void *content;
    VswapStoreStats st;
    size_t len;

    for (unsigned i = 0; i < TRAIN * 8; i++) {
        test_pages_heap(pages + (size_t)i * PAGE, 100000 + i);
    }
    trained = vswap_dict_train(pages, TRAIN * 8, VSWAP_STORE_DICT_SIZE, 1, 1,
                               &err);
    g_assert_no_error(err);
    content = vswap_dict_content(trained, &len);
    for (uint32_t id = 1; id <= VSWAP_STORE_MAX_DICTS; id++) {
        g_autoptr(VswapDict) d = vswap_dict_load(content, len, id, 1, &err);
        VswapRecordInfo info = {
            .kind = VSWAP_RECORD_DICT, .dict = id, .len = len,
            .crc = vswap_crc32c(0, content, len),
        };
        VswapPayloadKind kind;

        g_assert_no_error(err);
        g_assert_cmpint(vswap_store_import(s, &info, content), ==, 0);
        test_pages_heap(page, 8 * NPAGES + id);
        info = (VswapRecordInfo) { .slot = 8 * NPAGES + id, .dict = id };
        info.len = vswap_codec_compress_dict(codec, d, page, payload, &kind);
        g_assert_cmpint(kind, ==, VSWAP_PAYLOAD_ZSTD_DICT);
        info.kind = VSWAP_RECORD_ZSTD_DICT;
        info.crc = vswap_crc32c(0, payload, info.len);
        g_assert_cmpint(vswap_store_import(s, &info, payload), ==, 0);
    }
    vswap_codec_free(codec);
    /* The first window measures dictionary 16; the switch drifts. */
    write_pages(s, NPAGES);
    write_vocab(s, NPAGES, 2 * NPAGES, 1);
    st = stats(s);
    g_assert_cmpuint(st.dict_id, ==, 16);
    g_assert_cmpuint(st.dicts, ==, 16);
    g_assert_cmpuint(st.dict_drift_permille, >=, 1080);
    g_assert_cmpuint(st.dict_trainings, ==, 0);

    /* Dictionary 1's only record goes: its entry is free again. */
    g_assert_cmpint(vswap_store_discard(s, 8 * NPAGES + 1, 1), ==, 0);
    compact_all(s);
    g_assert_null(vswap_dicts_get(s, 1));
    write_vocab(s, NPAGES, 2 * NPAGES, 1);
    st = stats(s);
    g_assert_cmpuint(st.dict_trainings, ==, 1);
    g_assert_cmpuint(st.dict_id, ==, 17);
    g_assert_cmpuint(st.dicts, ==, 16);
    check_vocab(s, NPAGES, 2 * NPAGES, 1);
    check_vocab(s, 8 * NPAGES + 2, 1, 0);
    vswap_store_close(s);
}

/* Export everything from @src and import it into @dst; count dictionaries. */
static unsigned migrate(VswapStore *src, VswapStore *dst)
{
    g_autofree uint8_t *payload = g_malloc(PAGE);
    unsigned dicts = 0, records = 0;
    VswapRecordInfo info;
    int ret;

    vswap_store_export_start(src);
    while ((ret = vswap_store_export_next(src, &info, payload)) > 0) {
        if (info.kind == VSWAP_RECORD_DICT) {
            /* Before any record that needs it. */
            g_assert_cmpuint(records, ==, 0);
            dicts++;
        } else if (info.kind == VSWAP_RECORD_ZSTD_DICT) {
            g_assert_cmpuint(dicts, >, 0);
            g_assert_cmpuint(info.dict, ==, 1);
            records++;
        }
        g_assert_cmpint(vswap_store_import(dst, &info, payload), ==, 0);
    }
    g_assert_cmpint(ret, ==, 0);
    vswap_store_export_stop(src);
    g_assert_cmpuint(records, >=, NPAGES / 4);
    return dicts;
}

/*
 * The destination needs no dict=auto to read what came with a dictionary;
 * with it, it goes on compressing with the source's.
 */
static void test_migrate(void)
{
    VswapStore *src = open_dict_store(NULL, 64 << 20, true, 1);
    VswapStore *plain = open_dict_store(NULL, 64 << 20, false, 1);
    VswapStore *dst = open_dict_store(NULL, 64 << 20, true, 1);
    VswapStoreStats st;

    write_trained(src, NPAGES);
    g_assert_cmpuint(migrate(src, plain), ==, 1);
    check_pages(plain, NPAGES);
    vswap_store_get_stats(plain, &st);
    g_assert_cmpuint(st.dicts, ==, 1);
    g_assert_cmpuint(st.dict_id, ==, 0);

    g_assert_cmpuint(migrate(src, dst), ==, 1);
    vswap_store_get_stats(dst, &st);
    g_assert_cmpuint(st.dict_id, ==, 1);
    write_pages(dst, NPAGES);
    vswap_store_drain(dst);
    vswap_store_get_stats(dst, &st);
    g_assert_cmpuint(st.dict_trainings, ==, 0);
    check_pages(dst, NPAGES);
    vswap_store_close(src);
    vswap_store_close(plain);
    vswap_store_close(dst);
}

/* A hostile stream: every lie about a dictionary is -EINVAL, nothing else. */
static void test_import_hostile(void)
{
    VswapStore *src = open_dict_store(NULL, 64 << 20, true, 0);
    VswapStore *dst = open_dict_store(NULL, 64 << 20, false, 0);
    g_autofree uint8_t *dict_payload = g_malloc(PAGE);
    g_autofree uint8_t *payload = g_malloc(PAGE);
    g_autofree uint8_t *junk = g_malloc(PAGE);
    VswapRecordInfo dict_info = { 0 }, rec_info = { 0 }, bad;
    VswapStoreStats st;
    int ret;

    write_trained(src, NPAGES);
    vswap_store_export_start(src);
    while ((ret = vswap_store_export_next(src, &bad, payload)) > 0) {
        if (bad.kind == VSWAP_RECORD_DICT) {
            dict_info = bad;
            memcpy(dict_payload, payload, bad.len);
        } else if (bad.kind == VSWAP_RECORD_ZSTD_DICT) {
            rec_info = bad;
            break;
        }
    }
    g_assert_cmpint(dict_info.kind, ==, VSWAP_RECORD_DICT);
    g_assert_cmpint(rec_info.kind, ==, VSWAP_RECORD_ZSTD_DICT);

    /* A record before its dictionary. */
    g_assert_cmpint(vswap_store_import(dst, &rec_info, payload), ==, -EINVAL);
    /* Dictionaries that are not what they claim. */
    bad = dict_info;
    bad.crc ^= 1;
    g_assert_cmpint(vswap_store_import(dst, &bad, dict_payload), ==, -EINVAL);
    bad = dict_info;
    bad.slot = 5;
    g_assert_cmpint(vswap_store_import(dst, &bad, dict_payload), ==, -EINVAL);
    for (uint32_t id = 0; id <= 1; id++) {
        bad = dict_info;
        bad.dict = id ? VSWAP_DICT_ID_MAX + 1 : 0;
        g_assert_cmpint(vswap_store_import(dst, &bad, dict_payload), ==,
                        -EINVAL);
    }
    bad = dict_info;
    bad.len = PAGE + 1;
    g_assert_cmpint(vswap_store_import(dst, &bad, dict_payload), ==, -EINVAL);
    for (unsigned i = 0; i < PAGE; i++) {
        junk[i] = g_test_rand_int();
    }
    bad = dict_info;
    bad.crc = vswap_crc32c(0, junk, bad.len);
    g_assert_cmpint(vswap_store_import(dst, &bad, junk), ==, -EINVAL);
    g_assert_null(vswap_dicts_get(dst, dict_info.dict));

    /* The real one, then the same again; then another under its id. */
    g_assert_cmpint(vswap_store_import(dst, &dict_info, dict_payload), ==, 0);
    g_assert_cmpint(vswap_store_import(dst, &dict_info, dict_payload), ==, 0);
    memcpy(junk, dict_payload, dict_info.len);
    junk[dict_info.len - 1] ^= 0xff;
    bad = dict_info;
    bad.crc = vswap_crc32c(0, junk, bad.len);
    g_assert_cmpint(vswap_store_import(dst, &bad, junk), ==, -EINVAL);
    /* Another id in the same table entry while the first is held. */
    bad = dict_info;
    bad.dict += VSWAP_STORE_MAX_DICTS;
    g_assert_cmpint(vswap_store_import(dst, &bad, dict_payload), ==, -EINVAL);

    /* A record naming another dictionary than the one it was made with. */
    bad = rec_info;
    bad.dict = 2;
    g_assert_cmpint(vswap_store_import(dst, &bad, payload), ==, -EINVAL);
    bad = rec_info;
    bad.kind = VSWAP_RECORD_ZSTD;
    g_assert_cmpint(vswap_store_import(dst, &bad, payload), ==, -EINVAL);
    /* And the true record lands and reads back. */
    g_assert_cmpint(vswap_store_import(dst, &rec_info, payload), ==, 0);
    {
        g_autofree uint8_t *want = g_malloc(PAGE);
        VswapPageOp op = { .slot = rec_info.slot, .page = junk };

        test_pages_heap(want, rec_info.slot);
        g_assert_cmpint(vswap_store_read_sync(dst, &op, 1), ==, 0);
        g_assert_cmpmem(junk, PAGE, want, PAGE);
    }
    vswap_store_get_stats(dst, &st);
    g_assert_cmpuint(st.dicts, ==, 1);
    vswap_store_export_stop(src);
    vswap_store_close(src);
    vswap_store_close(dst);
}

/* A record whose dictionary the store lost reads as an I/O error. */
static void test_unknown_dict_is_an_error(void)
{
    VswapStore *s = open_dict_store(NULL, 64 << 20, true, 1);
    g_autofree uint8_t *page = g_malloc(PAGE);
    VswapPageOp op = { .slot = NPAGES - 1, .page = page };
    VswapStoreStats st;
    VswapStoreDict *e;

    write_trained(s, NPAGES);
    /* Take the dictionary out of its entry, as corruption of the id would. */
    e = &s->dicts[0];
    g_assert_nonnull(e->dict);
    s->dicts[VSWAP_STORE_MAX_DICTS - 1] = *e;
    memset(e, 0, sizeof(*e));
    g_assert_cmpint(vswap_store_read_sync(s, &op, 1), ==, -EIO);
    vswap_store_get_stats(s, &st);
    g_assert_cmpuint(st.checksum_errors, ==, 1);
    *e = s->dicts[VSWAP_STORE_MAX_DICTS - 1];
    memset(&s->dicts[VSWAP_STORE_MAX_DICTS - 1], 0, sizeof(*e));
    g_assert_cmpint(vswap_store_read_sync(s, &op, 1), ==, 0);
    vswap_store_close(s);
}

/*
 * persist: the checkpoint keeps the dictionary, a reopened store reads
 * every page with it (dict=auto or not), and a damaged one is refused.
 */
static void test_persist(void)
{
    g_autofree char *path = g_build_filename(g_get_tmp_dir(),
                                             "vswap-dict-XXXXXX", NULL);
    g_autoptr(GError) err = NULL;
    VswapStoreConfig cfg;
    VswapStoreStats st;
    VswapCheckReport rep;
    VswapStore *s;
    uint64_t dict_off = 0;

    g_close(g_mkstemp(path), NULL);
    persist_config(&cfg, path, 128 * 1024);
    s = vswap_store_open(&cfg, &err);
    g_assert_no_error(err);
    write_pages(s, NPAGES);
    vswap_store_drain(s);
    write_pages(s, NPAGES);
    g_assert_cmpint(vswap_store_checkpoint(s, &err), ==, 0);
    {
        uint64_t slot = 0, ent, entries = 0;

        while (vswap_map_next(s->map, &slot, &ent)) {
            entries++;
            slot++;
        }
        dict_off = s->data_offset + ((uint64_t)s->disk.nsegs << s->seg_shift) +
                   VSWAP_CKPT_HDR_SIZE +
                   ((entries * sizeof(VswapCkptEntry) + 4095) &
                    ~UINT64_C(4095));
    }
    vswap_store_close(s);

    for (int auto_again = 0; auto_again <= 1; auto_again++) {
        cfg.reopen = true;
        cfg.dict_auto = auto_again;
        s = vswap_store_open(&cfg, &err);
        g_assert_no_error(err);
        vswap_store_get_stats(s, &st);
        g_assert_cmpuint(st.dicts, ==, 1);
        g_assert_cmpuint(st.dict_id, ==, auto_again ? 1 : 0);
        check_pages(s, NPAGES);
        g_assert_cmpint(vswap_store_check(s, &rep), ==, 0);
        vswap_store_close(s);
    }

    /* One byte of the dictionary's content changed: refused, named. */
    {
        int fd = open(path, O_RDWR);
        uint8_t b;

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(pread(fd, &b, 1, dict_off + 100), ==, 1);
        b ^= 0x5a;
        g_assert_cmpint(pwrite(fd, &b, 1, dict_off + 100), ==, 1);
        close(fd);
    }
    s = vswap_store_open(&cfg, &err);
    g_assert_null(s);
    g_assert_nonnull(err);
    g_test_message("%s", err->message);
    g_assert_nonnull(strstr(err->message, "dictionary"));
    g_unlink(path);
}

static void test_config(void)
{
    g_autoptr(GError) err = NULL;
    VswapStoreConfig cfg;

    vswap_store_config_init(&cfg);
    cfg.dict_auto = true;
    cfg.dict_train_pages = 63;
    g_assert_null(vswap_store_open(&cfg, &err));
    g_assert_nonnull(strstr(err->message, "64 to 65536"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_data_func("/store-dict/train-and-use/0-workers",
                         GUINT_TO_POINTER(0), test_train_and_use);
    g_test_add_data_func("/store-dict/train-and-use/2-workers",
                         GUINT_TO_POINTER(2), test_train_and_use);
    g_test_add_func("/store-dict/disk-tier", test_disk_tier);
    g_test_add_func("/store-dict/migrate", test_migrate);
    g_test_add_func("/store-dict/import-hostile", test_import_hostile);
    g_test_add_func("/store-dict/unknown-dict-is-an-error",
                    test_unknown_dict_is_an_error);
    g_test_add_func("/store-dict/persist", test_persist);
    g_test_add_func("/store-dict/config", test_config);
    g_test_add_data_func("/store-dict/drift-and-retire/0-workers",
                         GUINT_TO_POINTER(0), test_drift_and_retire);
    g_test_add_data_func("/store-dict/drift-and-retire/2-workers",
                         GUINT_TO_POINTER(2), test_drift_and_retire);
    g_test_add_func("/store-dict/discard-retires", test_discard_retires);
    g_test_add_func("/store-dict/migrate-retired", test_migrate_retired);
    g_test_add_func("/store-dict/persist-retired", test_persist_retired);
    g_test_add_func("/store-dict/full-table", test_full_table);
    g_test_add_func("/store-dict/id-skips-held-entry",
                    test_id_skips_held_entry);
    g_test_add_func("/store-dict/id-skips-exported-entry",
                    test_id_skips_exported_entry);
    return g_test_run();
}
