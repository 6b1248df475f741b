/*
 * libFuzzer target: the page store's import of migrated records, the part
 * of the migration loader that judges what arrives on the wire.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The input is a stream of records (slot, kind, fill, length, checksum,
 * payload, dictionary id).  Import must refuse anything bad without
 * crashing, and every record it accepts must read back as exactly the page
 * the payload decodes to, by zstd's own reckoning, with the dictionary
 * that an accepted DICT record brought if it names one.
 *
 * Inputs starting with 'R' are a shared-storage stream instead: runs of
 * references (first slot, run length up to 64 Ki, segment, offset,
 * length), all of a run's slots pointing at one record, into the file of
 * a source that holds a few segments of records.  Import must refuse
 * references past the file and piles of them in one segment; after
 * activation every slot reads its own page or an I/O error, and the store
 * takes writes, discards and a check without crashing.
 */

#include <fcntl.h>
#include <zstd.h>

#include "vswap/store.h"
#include "checksum.h"
#include "fuzz-common.h"

#define SLOTS 256
#define PAGE VSWAP_STORE_PAGE_SIZE

/* Dictionaries accepted so far: their content, by id. */
typedef struct FuzzDicts {
    unsigned n;
    uint32_t id[64];
    uint8_t content[64][PAGE];
    size_t len[64];
} FuzzDicts;

static FuzzDicts fuzz_dicts;

/* What a valid record's payload decodes to, or false. */
static bool fuzz_expected_page(const VswapRecordInfo *info,
                               const uint8_t *payload, uint8_t *page)
{
    if (info->kind == VSWAP_RECORD_RAW) {
        memcpy(page, payload, PAGE);
        return true;
    }
    if (info->kind == VSWAP_RECORD_ZSTD_DICT) {
        for (unsigned i = 0; i < fuzz_dicts.n; i++) {
            if (fuzz_dicts.id[i] == info->dict) {
                ZSTD_DCtx *dctx = ZSTD_createDCtx();
                size_t ret = ZSTD_decompress_usingDict(
                    dctx, page, PAGE, payload, info->len,
                    fuzz_dicts.content[i], fuzz_dicts.len[i]);

                ZSTD_freeDCtx(dctx);
                return ret == PAGE;
            }
        }
        return false;
    }
    return ZSTD_decompress(page, PAGE, payload, info->len) == PAGE;
}

#define REF_SLOTS (1 << 21)

/*
 * The source's page of @slot: what a reference may read back, or EIO.
 * Half of it random, so that 400 of them go to disk past the budget.
 */
static void fuzz_ref_page(uint64_t slot, uint8_t *page)
{
    uint64_t x = slot * 0x9e3779b97f4a7c15ull + 1;

    memset(page, 0, PAGE);
    for (unsigned i = 0; i < PAGE / 2; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(page + i, &x, 8);
    }
}

/* The source's store file, made once, and its bytes. */
static gchar *fuzz_ref_file;
static gsize fuzz_ref_file_len;

static void fuzz_ref_make_source(const char *path)
{
    static uint8_t page[PAGE];
    VswapStoreConfig cfg;
    VswapStore *src;

    vswap_store_config_init(&cfg);
    cfg.path = path;
    cfg.capacity = REF_SLOTS;
    cfg.segment_size = 64 * 1024;
    cfg.mem_budget = 128 * 1024;
    cfg.workers = 0;
    cfg.shared = true;
    src = vswap_store_open(&cfg, NULL);
    FUZZ_CHECK(src);
    for (uint64_t slot = 0; slot < 400; slot++) {
        VswapPageOp op = { .slot = slot, .page = page };

        fuzz_ref_page(slot, page);
        FUZZ_CHECK(vswap_store_write_sync(src, &op, 1) == 0);
    }
    FUZZ_CHECK(vswap_store_flush(src) == 0);
    vswap_store_fence(src, true);
    vswap_store_close(src);
    FUZZ_CHECK(g_file_get_contents(path, &fuzz_ref_file, &fuzz_ref_file_len,
                                   NULL));
}

static int fuzz_shared_refs(FuzzInput *in)
{
    const char *path = fuzz_scratch_path("refs");
    static uint8_t page[PAGE], want[PAGE];
    VswapStoreConfig cfg;
    VswapCheckReport rep;
    VswapStore *s;

    if (!fuzz_ref_file) {
        fuzz_ref_make_source(path);
    }
    FUZZ_CHECK(g_file_set_contents(path, fuzz_ref_file, fuzz_ref_file_len,
                                   NULL));
    vswap_store_config_init(&cfg);
    cfg.path = path;
    cfg.capacity = REF_SLOTS;
    cfg.segment_size = 64 * 1024;
    cfg.mem_budget = 128 * 1024;
    cfg.workers = 0;
    cfg.shared = true;
    cfg.incoming = true;
    s = vswap_store_open(&cfg, NULL);
    FUZZ_CHECK(s);

    while (fuzz_more(in)) {
        uint64_t first = fuzz_take(in, 3) % REF_SLOTS;
        uint64_t run = fuzz_take(in, 2) + 1;
        VswapRecordInfo info = {
            .kind = VSWAP_RECORD_REF,
            .addr = (fuzz_take(in, 1) << 16 | fuzz_take(in, 2)) & ~7ull,
            .len = fuzz_take(in, 2) % (PAGE + 2),
        };
        uint64_t member = fuzz_take(in, 1);
        uint64_t end;

        /* A group member's reference: an index (4 to 7: none) and a share. */
        if (member & 8) {
            info.kind = VSWAP_RECORD_MEMBER_REF;
            info.member = member & 7;
        }
        end = 64 * 1024 + info.addr +
              (member & 8 ? info.len : (16 + info.len + 7) & ~7u);

        for (info.slot = first; info.slot < MIN(first + run, REF_SLOTS);
             info.slot++) {
            int ret = vswap_store_import(s, &info, NULL);

            FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -ENOMEM);
            /* Nothing past the end of the file gets in. */
            FUZZ_CHECK(ret < 0 || end <= fuzz_ref_file_len);
            /* Groups have 2 to 4 members. */
            FUZZ_CHECK(ret < 0 || !(member & 8) || info.member < 4);
            if (ret < 0) {
                break;
            }
        }
    }
    vswap_store_activate(s);
    for (uint64_t slot = 0; slot < 512; slot++) {
        VswapPageOp op = { .slot = slot, .page = page };
        int ret = vswap_store_read_sync(s, &op, 1);

        FUZZ_CHECK(ret == 0 || ret == -EIO);
        if (ret == 0 && op.status == 0) {
            fuzz_ref_page(slot, want);
            FUZZ_CHECK(memcmp(page, want, PAGE) == 0);
        }
    }
    for (uint64_t slot = 0; slot < 64; slot++) {
        VswapPageOp op = { .slot = slot * 7, .page = page };

        fuzz_ref_page(slot, page);
        FUZZ_CHECK(vswap_store_write_sync(s, &op, 1) == 0);
    }
    FUZZ_CHECK(vswap_store_discard(s, 0, REF_SLOTS) == 0);
    FUZZ_CHECK(vswap_store_check(s, &rep) == 0);
    vswap_store_close(s);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzInput in = { .data = data, .len = size };
    static uint8_t payload[PAGE], page[PAGE], want[PAGE];
    VswapStoreConfig cfg;
    VswapStore *s;

    if (size && data[0] == 'R') {
        in.pos = 1;
        return fuzz_shared_refs(&in);
    }

    vswap_store_config_init(&cfg);
    cfg.capacity = SLOTS;
    cfg.segment_size = 64 * 1024;
    cfg.mem_budget = 256 * 1024;
    cfg.workers = 0;
    s = vswap_store_open(&cfg, NULL);
    FUZZ_CHECK(s);
    fuzz_dicts.n = 0;

    while (fuzz_more(&in)) {
        VswapRecordInfo info = {
            .slot = fuzz_take(&in, 2) % (SLOTS + 4),
            .kind = fuzz_take(&in, 1) % 7,
            .fill = fuzz_take(&in, 4),
            .len = fuzz_take(&in, 2) % (PAGE + 16),
        };
        size_t avail = MIN(info.len, PAGE);
        bool fix_crc = fuzz_take(&in, 1) & 1;
        VswapPageOp op = { .slot = info.slot, .page = page };

        memset(payload, 0, sizeof(payload));
        for (size_t i = 0; i < avail && fuzz_more(&in); i++) {
            payload[i] = fuzz_take(&in, 1);
        }
        /* Most inputs would fail the checksum; often make it right. */
        info.crc = fix_crc ? vswap_crc32c(0, payload, avail) :
                   (uint32_t)fuzz_take(&in, 4);
        info.dict = fuzz_take(&in, 2);
        if (vswap_store_import(s, &info, payload) != 0) {
            continue;
        }
        if (info.kind == VSWAP_RECORD_DICT) {
            /* A zstd dictionary of a page at most, under a new id. */
            FUZZ_CHECK(info.slot == 0 && info.len <= PAGE && info.dict);
            FUZZ_CHECK(ZSTD_getDictID_fromDict(payload, info.len) != 0);
            for (unsigned i = 0; i < fuzz_dicts.n; i++) {
                FUZZ_CHECK(fuzz_dicts.id[i] != info.dict ||
                           (fuzz_dicts.len[i] == info.len &&
                            !memcmp(fuzz_dicts.content[i], payload,
                                    info.len)));
            }
            if (fuzz_dicts.n < G_N_ELEMENTS(fuzz_dicts.id)) {
                fuzz_dicts.id[fuzz_dicts.n] = info.dict;
                fuzz_dicts.len[fuzz_dicts.n] = info.len;
                memcpy(fuzz_dicts.content[fuzz_dicts.n++], payload, info.len);
            }
            continue;
        }
        FUZZ_CHECK(info.slot < SLOTS);
        FUZZ_CHECK(vswap_store_read_sync(s, &op, 1) == 0);
        switch (info.kind) {
        case VSWAP_RECORD_EMPTY:
            FUZZ_CHECK(op.status == VSWAP_STORE_UNMAPPED);
            break;
        case VSWAP_RECORD_FILL:
            for (unsigned i = 0; i < PAGE; i += 4) {
                FUZZ_CHECK(!memcmp(page + i, &info.fill, 4));
            }
            break;
        default:
            FUZZ_CHECK(fuzz_expected_page(&info, payload, want));
            FUZZ_CHECK(memcmp(page, want, PAGE) == 0);
        }
    }
    vswap_store_close(s);
    return 0;
}
