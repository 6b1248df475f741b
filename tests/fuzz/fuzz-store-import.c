/*
 * libFuzzer target: the page store's import of migrated records, the part
 * of the migration loader that judges what arrives on the wire.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The input is a stream of records (slot, kind, fill, length, checksum,
 * payload).  Import must refuse anything bad without crashing, and every
 * record it accepts must read back as exactly the page the payload
 * decodes to, by zstd's own reckoning.
 */

#include <zstd.h>

#include "vswap/store.h"
#include "checksum.h"
#include "fuzz-common.h"

#define SLOTS 256
#define PAGE VSWAP_STORE_PAGE_SIZE

/* What a valid record's payload decodes to, or false. */
static bool fuzz_expected_page(const VswapRecordInfo *info,
                               const uint8_t *payload, uint8_t *page)
{
    if (info->kind == VSWAP_RECORD_RAW) {
        memcpy(page, payload, PAGE);
        return true;
    }
    return ZSTD_decompress(page, PAGE, payload, info->len) == PAGE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzInput in = { .data = data, .len = size };
    static uint8_t payload[PAGE], page[PAGE], want[PAGE];
    VswapStoreConfig cfg;
    VswapStore *s;

    vswap_store_config_init(&cfg);
    cfg.capacity = SLOTS;
    cfg.segment_size = 64 * 1024;
    cfg.mem_budget = 256 * 1024;
    cfg.workers = 0;
    s = vswap_store_open(&cfg, NULL);
    FUZZ_CHECK(s);

    while (fuzz_more(&in)) {
        VswapRecordInfo info = {
            .slot = fuzz_take(&in, 2) % (SLOTS + 4),
            .kind = fuzz_take(&in, 1) % 5,
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
        if (vswap_store_import(s, &info, payload) != 0) {
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
