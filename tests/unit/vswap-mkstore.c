/*
 * Test helper for test-vswap-tool.sh: writes a store file with disk and
 * memory records, fill pages, discards and overwrites, then closes it
 * cleanly (or, with --unclean, without a checkpoint).  With --dict the
 * store has dict=auto, and most records need its dictionary.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Prints "slot SLOT offset OFFSET": the file offset of a payload byte of
 * SLOT's record on disk, for the test to corrupt; with --dict also
 * "dict offset OFFSET", a byte of the dictionary in the checkpoint.
 */

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "vswap/store.h"
#include "store-int.h"
#include "test-pages.h"

#define NPAGES 3000

int main(int argc, char **argv)
{
    g_autoptr(GError) err = NULL;
    bool unclean = argc == 3 && !strcmp(argv[2], "--unclean");
    bool dict = argc == 3 && !strcmp(argv[2], "--dict");
    uint64_t slot, map_ent, entries = 0;
    bool found;
    int live;
    TestPages *tp;
    VswapStoreConfig cfg;
    VswapStore *s;

    if (argc < 2 || (argc == 3 && !unclean && !dict) || argc > 3) {
        fprintf(stderr, "usage: vswap-mkstore FILE [--unclean|--dict]\n");
        return 2;
    }
    vswap_store_config_init(&cfg);
    cfg.path = argv[1];
    cfg.capacity = 1 << 16;
    cfg.segment_size = 64 * 1024;
    cfg.mem_budget = 256 * 1024;
    cfg.persist = !unclean;
    cfg.dict_auto = dict;
    cfg.dict_train_pages = 64;
    s = vswap_store_open(&cfg, &err);
    if (!s) {
        fprintf(stderr, "vswap-mkstore: %s\n", err->message);
        return 1;
    }
    tp = test_pages_new();
    for (slot = 0; slot < NPAGES; slot++) {
        static uint8_t heap[TEST_PAGE_SIZE];
        VswapPageOp op = { .slot = slot, .fill = 0x5a5a0000 + slot };

        if (slot % 11 && dict) {
            /* Pages a dictionary pays for, whatever the corpus. */
            test_pages_heap(heap, slot + NPAGES);
            op.page = heap;
        } else if (slot % 13 == 0) {
            /* Raw records: writeback never puts them in groups. */
            for (size_t i = 0; i < TEST_PAGE_SIZE; i += 4) {
                uint32_t r = g_random_int();

                memcpy(heap + i, &r, sizeof(r));
            }
            op.page = heap;
        } else if (slot % 11) {
            op.page = (void *)test_pages_get(tp, slot, 1);
        }
        if (vswap_store_write_sync(s, &op, 1) < 0) {
            fprintf(stderr, "vswap-mkstore: write of slot %" PRIu64
                    " failed\n", slot);
            return 1;
        }
    }
    if (dict) {
        /* Trained by now: written again, the pages take the dictionary. */
        uint8_t heap[TEST_PAGE_SIZE];

        vswap_store_drain(s);
        for (slot = 0; slot < NPAGES; slot++) {
            VswapPageOp op = { .slot = slot, .page = heap };

            test_pages_heap(heap, slot);
            vswap_store_write_sync(s, &op, 1);
        }
        if (s->dict_cur != 1) {
            fprintf(stderr, "vswap-mkstore: no dictionary in use\n");
            return 1;
        }
    }
    /* Dead records: discard one slot in three, overwrite one in ten. */
    for (slot = 0; slot < NPAGES; slot += 3) {
        vswap_store_discard(s, slot, 1);
    }
    for (slot = 1; slot < NPAGES; slot += 10) {
        VswapPageOp op = {
            .slot = slot, .page = (void *)test_pages_get(tp, slot, 2),
        };

        vswap_store_write_sync(s, &op, 1);
    }
    if (unclean) {
        vswap_store_drain(s);
        vswap_store_close(s);
        test_pages_free(tp);
        return 0;
    }
    if (vswap_store_checkpoint(s, &err) < 0) {
        fprintf(stderr, "vswap-mkstore: %s\n", err->message);
        return 1;
    }
    /* A record of one page of a slot in the middle, compressed if any is. */
    for (int pass = 0; pass < 2; pass++) {
        for (slot = NPAGES / 2; slot < NPAGES; slot++) {
            uint64_t ent = vswap_map_get(s->map, slot);

            if (vswap_ent_state(ent) == VSWAP_ENT_DISK &&
                !vswap_ent_group(ent) && vswap_ent_len(ent) > 100 &&
                (pass || vswap_ent_len(ent) < VSWAP_STORE_PAGE_SIZE)) {
                printf("slot %" PRIu64 " offset %" PRIu64 "\n", slot,
                       s->data_offset + vswap_ent_addr(ent) +
                       VSWAP_REC_HDR_SIZE + vswap_ent_len(ent) / 2);
                break;
            }
        }
        if (slot < NPAGES) {
            break;
        }
    }
    found = slot < NPAGES;
    /* A page of a group record: the middle of the group's frame. */
    for (slot = NPAGES / 2; slot < NPAGES; slot++) {
        uint64_t ent = vswap_map_get(s->map, slot);
        g_autofree uint8_t *buf = NULL;
        uint32_t slots[VSWAP_GROUP_MAX_PAGES];
        const uint8_t *rec;
        int n;

        if (!vswap_ent_group(ent)) {
            continue;
        }
        buf = vswap_io_buf_new(VSWAP_JOB_BUF_SIZE);
        if (vswap_store_pread_record(s, ent, buf, &rec) < 0 ||
            (n = vswap_group_slots(rec, le16toh(((VswapRecordHdr *)rec)->len),
                                   slots)) < 0) {
            fprintf(stderr, "vswap-mkstore: cannot read a group record\n");
            return 1;
        }
        /* Its pages that the map still points at: check names each. */
        live = 0;
        for (int i = 0; i < n; i++) {
            uint64_t m = vswap_map_get(s->map, slots[i]);

            live += vswap_ent_group(m) &&
                    vswap_ent_addr(m) == vswap_ent_addr(ent) &&
                    vswap_ent_member(m) == (unsigned)i;
        }
        printf("group slot %" PRIu64 " offset %" PRIu64 " pages %d\n", slot,
               s->data_offset + vswap_ent_addr(ent) + VSWAP_REC_HDR_SIZE +
               vswap_group_head_size(n) + 8, live);
        break;
    }
    found &= slot < NPAGES;
    if (dict) {
        slot = 0;
        while (vswap_map_next(s->map, &slot, &map_ent)) {
            entries++;
            slot++;
        }
        printf("dict offset %" PRIu64 "\n",
               s->data_offset + ((uint64_t)s->disk.nsegs << s->seg_shift) +
               VSWAP_CKPT_HDR_SIZE +
               ((entries * sizeof(VswapCkptEntry) + 4095) & ~UINT64_C(4095)) +
               100);
    }
    vswap_store_close(s);
    test_pages_free(tp);
    return found ? 0 : 1;
}
