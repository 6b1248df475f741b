/*
 * libFuzzer target: virtio-vswap requests as a guest driver sends them,
 * through the device's own parser (hw/vswap/vswap-request.c) and into a
 * real store, checked against a model of what the guest wrote.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The input starts with the device's limits, then a list of requests.
 * Each request is an out buffer (header, entries, and payload bytes taken
 * from the input) and an in-buffer length.  The harness does what
 * virtio_vswap_handle_req() does with the bytes, minus the virtqueue:
 * parse the header, copy and parse the entries, build the store
 * operations and run them.  Payload pages may be synthesised so that
 * short inputs still reach well-formed WRITEs.
 *
 * Findings: a parse that lets an out-of-range or repeated slot reach the
 * store, a well-formed request judged malformed or the reverse (checked
 * against the lengths the spec gives), a status code outside the spec, a
 * READ that differs from the model, or any sanitizer report.
 */

#include <errno.h>

#include "vswap/store.h"
#include "vswap/virtio_vswap.h"
#include "vswap-request.h"
#include "fuzz-common.h"

#define PAGE VSWAP_STORE_PAGE_SIZE
#define MAX_SLOTS 128
#define MAX_BATCH 32

/* What each slot holds, as far as the model can name it. */
enum { EMPTY, SEEDED, FILLED };
static struct {
    uint8_t kind;
    uint32_t val;               /* SEEDED: the seed; FILLED: the value */
} model[MAX_SLOTS];

/* A page from a seed: zero, same-filled or random-looking. */
static void fuzz_page(uint8_t *page, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;

    if (seed % 3 == 0) {
        memset(page, 0, PAGE);
        return;
    }
    for (unsigned i = 0; i < PAGE; i += 4) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        memcpy(page + i, seed % 3 == 1 ? &seed : &x, 4);
    }
}

/* The seed a payload page was made from: its first word, if it matches. */
static bool fuzz_page_seed(const uint8_t *page, uint32_t *seed)
{
    static uint8_t want[PAGE];

    memcpy(seed, page, 4);
    fuzz_page(want, *seed);
    return !memcmp(page, want, PAGE);
}

static bool status_valid(uint8_t st)
{
    return st <= VIRTIO_VSWAP_S_UNSUPP;
}

/* Run a parsed WRITE or READ on the store; update or check the model. */
static void fuzz_run_rw(VswapStore *s, VswapReq *req, uint8_t *pages,
                        const VswapReqLimits *lim)
{
    g_autofree VswapPageOp *ops = g_new0(VswapPageOp, req->count);
    g_autofree uint32_t *op_entry = g_new(uint32_t, req->count);
    g_autofree uint8_t *fillpage = g_malloc(PAGE);
    unsigned n = vswap_req_build_ops(req, pages, ops, op_entry);
    bool write = req->type == VIRTIO_VSWAP_T_WRITE;

    FUZZ_CHECK(n <= req->count);
    for (unsigned i = 0; i < n; i++) {
        FUZZ_CHECK(ops[i].slot < lim->capacity);
        FUZZ_CHECK(req->status[op_entry[i]] == VIRTIO_VSWAP_S_OK);
        for (unsigned j = 0; j < i; j++) {
            FUZZ_CHECK(ops[j].slot != ops[i].slot);
        }
        FUZZ_CHECK(ops[i].page || (write && req->entries[op_entry[i]].is_fill));
    }
    if (n == 0) {
        return;
    }
    if (write) {
        FUZZ_CHECK(vswap_store_write_sync(s, ops, n) == 0);
    } else {
        FUZZ_CHECK(vswap_store_read_sync(s, ops, n) == 0);
    }
    for (unsigned i = 0; i < n; i++) {
        uint64_t slot = ops[i].slot;
        uint32_t seed;

        FUZZ_CHECK(ops[i].status == 0 ||
                   (!write && ops[i].status == VSWAP_STORE_UNMAPPED));
        if (write) {
            if (!ops[i].page) {
                model[slot].kind = FILLED;
                model[slot].val = ops[i].fill;
            } else if (fuzz_page_seed(ops[i].page, &seed)) {
                model[slot].kind = SEEDED;
                model[slot].val = seed;
            } else {
                /* Bytes the model cannot name: drop them from both. */
                model[slot].kind = EMPTY;
                FUZZ_CHECK(vswap_store_discard(s, slot, 1) == 0);
            }
            continue;
        }
        switch (model[slot].kind) {
        case EMPTY:
            FUZZ_CHECK(ops[i].status == VSWAP_STORE_UNMAPPED);
            memset(fillpage, 0, PAGE);
            break;
        case SEEDED:
            FUZZ_CHECK(ops[i].status == 0);
            fuzz_page(fillpage, model[slot].val);
            break;
        case FILLED:
            FUZZ_CHECK(ops[i].status == 0);
            for (unsigned k = 0; k < PAGE; k += 4) {
                memcpy(fillpage + k, &model[slot].val, 4);
            }
            break;
        }
        FUZZ_CHECK(memcmp(ops[i].page, fillpage, PAGE) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzInput in = { .data = data, .len = size };
    VswapReqLimits lim;
    VswapStoreConfig cfg;
    VswapStore *s;

    lim.capacity = 1 + fuzz_take(&in, 1) % MAX_SLOTS;
    lim.max_batch = 1 + fuzz_take(&in, 1) % MAX_BATCH;
    lim.fill = fuzz_take(&in, 1) & 1;

    vswap_store_config_init(&cfg);
    cfg.capacity = lim.capacity;
    cfg.mem_budget = 64 * 1024 * 1024;
    cfg.workers = 0;
    s = vswap_store_open(&cfg, NULL);
    FUZZ_CHECK(s);
    memset(model, 0, sizeof(model));

    while (fuzz_more(&in)) {
        unsigned mode = fuzz_take(&in, 1);
        size_t body = fuzz_take(&in, 2) % 1024;
        size_t hdr_len = sizeof(struct virtio_vswap_req_hdr);
        g_autofree uint8_t *out = NULL;
        size_t out_len, in_len;
        VswapReq req;
        uint8_t st;

        /* The request's header and entries come from the input. */
        body = MIN(body, in.len - in.pos);
        out_len = body;
        out = g_malloc0(out_len + MAX_BATCH * PAGE + 1);
        memcpy(out, in.data + in.pos, body);
        in.pos += body;
        if (out_len < hdr_len) {
            /* The device answers UNSUPP without parsing anything. */
            continue;
        }
        /* The in-buffer length is picked below, once the type is known. */
        st = vswap_req_parse_header(&req, &lim, (const void *)out, out_len, 0);
        FUZZ_CHECK(status_valid(st));
        if (st != VIRTIO_VSWAP_S_OK) {
            FUZZ_CHECK(req.status == NULL);
            continue;
        }
        FUZZ_CHECK(req.count >= 1 && req.count <= lim.max_batch);
        if (out_len < hdr_len + req.entries_len) {
            vswap_req_free(&req);
            continue;
        }
        /*
         * mode bit 0: append payload pages made from seeds, so that the
         * out buffer has the length the entries announce; bits 1-2 pick
         * the in-buffer length: the spec's, one short, one long, or any.
         */
        if (mode & 1 && req.type == VIRTIO_VSWAP_T_WRITE) {
            const struct virtio_vswap_slot *ents =
                (const void *)(out + hdr_len);

            out_len = hdr_len + req.entries_len;
            for (uint32_t i = 0; i < req.count; i++) {
                if (!(GUINT32_FROM_LE(ents[i].flags) &
                      VIRTIO_VSWAP_SLOT_F_FILL)) {
                    fuzz_page(out + out_len, fuzz_take(&in, 1) + i);
                    out_len += PAGE;
                }
            }
        }
        in_len = req.count + 1;
        if (req.type == VIRTIO_VSWAP_T_READ) {
            in_len += (size_t)req.count * PAGE;
        }
        switch (mode >> 1 & 3) {
        case 1:
            in_len--;
            break;
        case 2:
            in_len++;
            break;
        case 3:
            in_len = fuzz_take(&in, 2);
            break;
        }
        req.out_len = out_len;
        req.in_len = in_len;
        st = vswap_req_parse_entries(&req, &lim, out + hdr_len);
        FUZZ_CHECK(status_valid(st));
        if (st != VIRTIO_VSWAP_S_OK) {
            /* Malformed: the lengths must differ from the spec's. */
            FUZZ_CHECK(req.type == VIRTIO_VSWAP_T_DISCARD ?
                       out_len != hdr_len + req.entries_len ||
                       in_len != req.count + 1 :
                       out_len != hdr_len + req.entries_len +
                                  (size_t)req.payloads * PAGE ||
                       in_len != req.count + 1 +
                                 (req.type == VIRTIO_VSWAP_T_READ ?
                                  (size_t)req.count * PAGE : 0));
            vswap_req_free(&req);
            continue;
        }
        for (uint32_t i = 0; i < req.count; i++) {
            FUZZ_CHECK(req.status[i] == VIRTIO_VSWAP_S_OK ||
                       req.status[i] == VIRTIO_VSWAP_S_INVAL);
        }
        if (req.type == VIRTIO_VSWAP_T_DISCARD) {
            for (uint32_t i = 0; i < req.count; i++) {
                uint64_t start = req.ranges[2 * i], n = req.ranges[2 * i + 1];

                if (req.status[i] != VIRTIO_VSWAP_S_OK) {
                    continue;
                }
                FUZZ_CHECK(n >= 1 && start < lim.capacity &&
                           n <= lim.capacity - start);
                FUZZ_CHECK(vswap_store_discard(s, start, n) == 0);
                for (uint64_t k = start; k < start + n; k++) {
                    model[k].kind = EMPTY;
                }
            }
        } else {
            g_autofree uint8_t *pages = g_malloc0(MAX(req.bounce_len, 1));

            if (req.type == VIRTIO_VSWAP_T_WRITE) {
                FUZZ_CHECK(req.bounce_len == (size_t)req.payloads * PAGE);
                memcpy(pages, out + hdr_len + req.entries_len, req.bounce_len);
            } else {
                FUZZ_CHECK(req.bounce_len == (size_t)req.count * PAGE);
            }
            fuzz_run_rw(s, &req, pages, &lim);
        }
        FUZZ_CHECK(status_valid(vswap_req_status(&req)));
        vswap_req_free(&req);
    }
    vswap_store_close(s);
    return 0;
}
