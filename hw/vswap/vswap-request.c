/*
 * Parsing and validation of virtio-vswap requests: every guest-controlled
 * field of a request is checked here (docs/specs/virtio-vswap.rst).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Built into QEMU (hw/vswap/virtio-vswap.c calls it) and into the
 * standalone fuzz target tests/fuzz/fuzz-device-requests.c, so it uses
 * only GLib, the ABI header and the store's page-op type.
 */

#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include "vswap/virtio_vswap.h"
#include "vswap-request.h"

/* Entries travel as 16-byte structs, slots and ranges alike. */
G_STATIC_ASSERT(sizeof(struct virtio_vswap_req_hdr) == 8);
G_STATIC_ASSERT(sizeof(struct virtio_vswap_slot) == 16);
G_STATIC_ASSERT(sizeof(struct virtio_vswap_range) == 16);

uint8_t vswap_req_parse_header(VswapReq *req, const VswapReqLimits *lim,
                               const struct virtio_vswap_req_hdr *hdr,
                               size_t out_len, size_t in_len)
{
    uint16_t type = GUINT16_FROM_LE(hdr->type);

    memset(req, 0, sizeof(*req));
    req->out_len = out_len;
    req->in_len = in_len;
    req->count = GUINT32_FROM_LE(hdr->count);
    if (type > VIRTIO_VSWAP_T_DISCARD) {
        return VIRTIO_VSWAP_S_UNSUPP;
    }
    if (req->count == 0 || req->count > lim->max_batch || hdr->reserved) {
        return VIRTIO_VSWAP_S_INVAL;
    }
    req->type = type;
    req->entries_len = (size_t)req->count * sizeof(struct virtio_vswap_slot);
    req->status = g_malloc0(req->count);
    return VIRTIO_VSWAP_S_OK;
}

static int vswap_req_cmp_slot(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;

    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Mark INVAL every entry whose slot appears more than once. */
static void vswap_req_mark_repeats(VswapReq *req)
{
    g_autofree uint64_t *pairs = g_new(uint64_t, 2 * (size_t)req->count);

    for (uint32_t i = 0; i < req->count; i++) {
        pairs[2 * i] = req->entries[i].slot;
        pairs[2 * i + 1] = i;
    }
    qsort(pairs, req->count, 2 * sizeof(uint64_t), vswap_req_cmp_slot);
    for (uint32_t i = 1; i < req->count; i++) {
        if (pairs[2 * i] == pairs[2 * (i - 1)]) {
            req->status[pairs[2 * i + 1]] = VIRTIO_VSWAP_S_INVAL;
            req->status[pairs[2 * (i - 1) + 1]] = VIRTIO_VSWAP_S_INVAL;
        }
    }
}

static void vswap_req_parse_slots(VswapReq *req, const VswapReqLimits *lim,
                                  const struct virtio_vswap_slot *ents)
{
    bool fill_ok = req->type == VIRTIO_VSWAP_T_WRITE && lim->fill;

    req->entries = g_new(VswapReqEntry, req->count);
    for (uint32_t i = 0; i < req->count; i++) {
        uint32_t flags = GUINT32_FROM_LE(ents[i].flags);
        VswapReqEntry *e = &req->entries[i];

        e->slot = GUINT64_FROM_LE(ents[i].slot);
        e->fill = GUINT32_FROM_LE(ents[i].fill);
        e->is_fill = flags & VIRTIO_VSWAP_SLOT_F_FILL;
        /* A fill entry has no payload even when it is invalid. */
        req->payloads += req->type == VIRTIO_VSWAP_T_WRITE && !e->is_fill;
        if (e->slot >= lim->capacity ||
            (flags & ~VIRTIO_VSWAP_SLOT_F_FILL) ||
            (flags && !fill_ok) ||
            (!flags && e->fill)) {
            req->status[i] = VIRTIO_VSWAP_S_INVAL;
        }
    }
    vswap_req_mark_repeats(req);
}

static void vswap_req_parse_ranges(VswapReq *req, const VswapReqLimits *lim,
                                   const struct virtio_vswap_range *ranges)
{
    req->ranges = g_new(uint64_t, 2 * (size_t)req->count);
    for (uint32_t i = 0; i < req->count; i++) {
        uint64_t start = GUINT64_FROM_LE(ranges[i].start);
        uint64_t count = GUINT64_FROM_LE(ranges[i].count);

        req->ranges[2 * i] = start;
        req->ranges[2 * i + 1] = count;
        if (count == 0 || start >= lim->capacity ||
            count > lim->capacity - start) {
            req->status[i] = VIRTIO_VSWAP_S_INVAL;
        }
    }
}

uint8_t vswap_req_parse_entries(VswapReq *req, const VswapReqLimits *lim,
                                const void *ents)
{
    size_t hdr_len = sizeof(struct virtio_vswap_req_hdr);
    size_t want_out, want_in;

    if (req->type == VIRTIO_VSWAP_T_DISCARD) {
        vswap_req_parse_ranges(req, lim, ents);
        want_out = hdr_len + req->entries_len;
        want_in = (size_t)req->count + 1;
    } else {
        vswap_req_parse_slots(req, lim, ents);
        want_out = hdr_len + req->entries_len +
                   (size_t)req->payloads * VSWAP_STORE_PAGE_SIZE;
        want_in = (size_t)req->count + 1;
        if (req->type == VIRTIO_VSWAP_T_READ) {
            want_in += (size_t)req->count * VSWAP_STORE_PAGE_SIZE;
        }
    }
    if (req->out_len != want_out || req->in_len != want_in) {
        return VIRTIO_VSWAP_S_INVAL;
    }
    switch (req->type) {
    case VIRTIO_VSWAP_T_WRITE:
        req->bounce_len = (size_t)req->payloads * VSWAP_STORE_PAGE_SIZE;
        break;
    case VIRTIO_VSWAP_T_READ:
        req->bounce_len = (size_t)req->count * VSWAP_STORE_PAGE_SIZE;
        break;
    }
    return VIRTIO_VSWAP_S_OK;
}

unsigned vswap_req_build_ops(const VswapReq *req, uint8_t *pages,
                             VswapPageOp *ops, uint32_t *op_entry)
{
    uint32_t payload = 0;
    unsigned n = 0;

    for (uint32_t i = 0; i < req->count; i++) {
        const VswapReqEntry *e = &req->entries[i];
        uint8_t *page;

        if (req->type == VIRTIO_VSWAP_T_READ) {
            page = pages + (size_t)i * VSWAP_STORE_PAGE_SIZE;
        } else {
            page = e->is_fill ? NULL :
                   pages + (size_t)payload++ * VSWAP_STORE_PAGE_SIZE;
        }
        if (req->status[i] != VIRTIO_VSWAP_S_OK) {
            continue;
        }
        ops[n] = (VswapPageOp) {
            .slot = e->slot,
            .page = page,
            .fill = e->fill,
        };
        op_entry[n++] = i;
    }
    return n;
}

uint8_t vswap_req_status(const VswapReq *req)
{
    for (uint32_t i = 0; i < req->count; i++) {
        if (req->status[i] != VIRTIO_VSWAP_S_OK &&
            req->status[i] != VIRTIO_VSWAP_S_UNMAPPED) {
            return req->status[i];
        }
    }
    return VIRTIO_VSWAP_S_OK;
}

void vswap_req_free(VswapReq *req)
{
    g_clear_pointer(&req->entries, g_free);
    g_clear_pointer(&req->ranges, g_free);
    g_clear_pointer(&req->status, g_free);
}
