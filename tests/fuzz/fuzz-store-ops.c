/*
 * libFuzzer target: sequences of page store calls (writes, reads, discards,
 * compactions, budget changes, checks) checked against a shadow model.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Each input byte string is a program.  Pages are generated from a small
 * seed, so the model stores a seed per slot.  Any read that differs from
 * the model, any failed check, or any sanitizer report is a finding.
 */

#include <errno.h>

#include "vswap/store.h"
#include "fuzz-common.h"

#define SLOTS 512
#define PAGE VSWAP_STORE_PAGE_SIZE

/* Slot contents: 0 empty, else (seed << 1 | 1). */
static uint32_t model[SLOTS];

/* Seeds make zero, same-filled, compressible and random pages. */
static void fuzz_page(uint8_t *page, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;

    switch (seed % 4) {
    case 0:
        memset(page, 0, PAGE);
        break;
    case 1:
        for (unsigned i = 0; i < PAGE; i += 4) {
            memcpy(page + i, &seed, 4);
        }
        break;
    default:
        for (unsigned i = 0; i < PAGE; i += 4) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            uint32_t v = seed % 4 == 2 ? (x & 0x0303) : x;
            memcpy(page + i, &v, 4);
        }
        memcpy(page, &seed, 4);
    }
}

static void fuzz_check_slot(VswapStore *s, uint64_t slot)
{
    static uint8_t page[PAGE], want[PAGE];
    VswapPageOp op = { .slot = slot, .page = page };

    FUZZ_CHECK(vswap_store_read_sync(s, &op, 1) == 0);
    if (model[slot] == 0) {
        FUZZ_CHECK(op.status == VSWAP_STORE_UNMAPPED);
        FUZZ_CHECK(page[0] == 0 && !memcmp(page, page + 1, PAGE - 1));
        return;
    }
    FUZZ_CHECK(op.status == 0);
    fuzz_page(want, model[slot] >> 1);
    FUZZ_CHECK(memcmp(page, want, PAGE) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzInput in = { .data = data, .len = size };
    static uint8_t pages[8][PAGE];
    VswapStoreConfig cfg;
    VswapCheckReport rep;
    VswapStore *s;

    vswap_store_config_init(&cfg);
    cfg.path = fuzz_scratch_path("ops");
    cfg.capacity = SLOTS;
    cfg.segment_size = 64 * 1024;
    cfg.mem_budget = 128 * 1024;
    cfg.workers = 0;
    unlink(cfg.path);
    s = vswap_store_open(&cfg, NULL);
    FUZZ_CHECK(s);
    memset(model, 0, sizeof(model));

    while (fuzz_more(&in)) {
        unsigned op = fuzz_take(&in, 1) % 7;

        switch (op) {
        case 0: {           /* write a batch of up to 8 distinct slots */
            VswapPageOp ops[8];
            unsigned n = 1 + fuzz_take(&in, 1) % 8;
            unsigned k = 0;

            for (unsigned i = 0; i < n; i++) {
                uint64_t slot = fuzz_take(&in, 2) % SLOTS;
                uint32_t seed = fuzz_take(&in, 2);
                bool dup = false;

                for (unsigned j = 0; j < k; j++) {
                    dup |= ops[j].slot == slot;
                }
                if (dup) {
                    continue;
                }
                fuzz_page(pages[k], seed);
                ops[k] = (VswapPageOp) { .slot = slot, .page = pages[k] };
                model[slot] = seed << 1 | 1;
                k++;
            }
            FUZZ_CHECK(vswap_store_write_sync(s, ops, k) == 0);
            break;
        }
        case 1:
            fuzz_check_slot(s, fuzz_take(&in, 2) % SLOTS);
            break;
        case 2: {
            uint64_t start = fuzz_take(&in, 2) % SLOTS;
            uint64_t count = 1 + fuzz_take(&in, 1) % 64;

            if (start + count > SLOTS) {
                FUZZ_CHECK(vswap_store_discard(s, start, count) == -EINVAL);
                break;
            }
            FUZZ_CHECK(vswap_store_discard(s, start, count) == 0);
            memset(&model[start], 0, count * sizeof(model[0]));
            break;
        }
        case 3:
            vswap_store_compact(s, fuzz_take(&in, 1) & 1, NULL, NULL);
            break;
        case 4:
            vswap_store_set_mem_budget(s, (1 + fuzz_take(&in, 1) % 16) * 64 * 1024,
                                       0);
            break;
        case 5:
            vswap_store_drain(s);
            break;
        case 6:
            FUZZ_CHECK(vswap_store_check(s, &rep) == 0);
            break;
        }
    }
    for (uint64_t slot = 0; slot < SLOTS; slot++) {
        fuzz_check_slot(s, slot);
    }
    FUZZ_CHECK(vswap_store_check(s, &rep) == 0);
    vswap_store_close(s);
    unlink(cfg.path);
    return 0;
}
