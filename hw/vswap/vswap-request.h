/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Parsing and validation of virtio-vswap requests (vswap-request.c).
 *
 * This is the part of the device that reads guest-controlled bytes.  It
 * depends on neither QEMU nor virtqueues, only on the ABI header and the
 * store's page-op type, so that the standalone build can fuzz it
 * (tests/fuzz/fuzz-device-requests.c) exactly as QEMU runs it.
 *
 * A request is parsed in two steps, because the device copies the
 * entries out of guest memory only once it knows how many there are:
 *
 *   vswap_req_parse_header()    the 8-byte header and the buffer sizes
 *   vswap_req_parse_entries()   the slot or range entries
 *
 * then vswap_req_build_ops() turns the valid WRITE/READ entries into
 * store operations.
 */
#ifndef HW_VSWAP_VSWAP_REQUEST_H
#define HW_VSWAP_VSWAP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "vswap/store.h"

/* Defined by the ABI header; both copies of it have the same layout. */
struct virtio_vswap_req_hdr;

/* What the device offers and negotiated. */
typedef struct VswapReqLimits {
    uint64_t capacity;          /* slots */
    uint32_t max_batch;         /* entries per request */
    bool fill;                  /* VIRTIO_VSWAP_F_FILL negotiated */
} VswapReqLimits;

/* A WRITE/READ entry's slot and fill value, decoded. */
typedef struct VswapReqEntry {
    uint64_t slot;
    uint32_t fill;
    bool is_fill;               /* VIRTIO_VSWAP_SLOT_F_FILL: no payload */
} VswapReqEntry;

typedef struct VswapReq {
    uint16_t type;              /* VIRTIO_VSWAP_T_* */
    uint32_t count;             /* entries */
    size_t out_len;             /* bytes the driver gave to read */
    size_t in_len;              /* bytes the driver made writable */
    size_t entries_len;         /* bytes of entries after the header */
    uint32_t payloads;          /* WRITE: payload pages after the entries */
    size_t bounce_len;          /* page bytes the device must buffer */
    VswapReqEntry *entries;     /* WRITE/READ: count of them */
    uint64_t *ranges;           /* DISCARD: start, count pairs */
    uint8_t *status;            /* per entry, VIRTIO_VSWAP_S_* */
} VswapReq;

/*
 * Check the header (@hdr, as read from the driver) against @lim.  Returns
 * VIRTIO_VSWAP_S_OK with @req's type, count and entries_len set and its
 * status array allocated, else the request's status: UNSUPP (unknown
 * type) or INVAL (bad count, reserved bits).
 */
uint8_t vswap_req_parse_header(VswapReq *req, const VswapReqLimits *lim,
                               const struct virtio_vswap_req_hdr *hdr,
                               size_t out_len, size_t in_len);

/*
 * Decode @req->entries_len bytes of entries at @ents.  Bad entries are
 * marked INVAL in req->status (out-of-range or repeated slots, bad flags,
 * empty or out-of-range ranges); the request goes on with the others.
 * Returns VIRTIO_VSWAP_S_INVAL if the buffers' sizes do not match what
 * the entries announce (the whole request is malformed), else OK with
 * payloads and bounce_len set.
 */
uint8_t vswap_req_parse_entries(VswapReq *req, const VswapReqLimits *lim,
                                const void *ents);

/*
 * Store operations of the valid entries of a parsed WRITE or READ:
 * @pages holds req->bounce_len bytes (WRITE: the payloads in order; READ:
 * one page per entry).  @ops and @op_entry have room for req->count.
 * Returns the number of operations.
 */
unsigned vswap_req_build_ops(const VswapReq *req, uint8_t *pages,
                             VswapPageOp *ops, uint32_t *op_entry);

/* The request status: the first entry that failed, else OK. */
uint8_t vswap_req_status(const VswapReq *req);

void vswap_req_free(VswapReq *req);

#endif /* HW_VSWAP_VSWAP_REQUEST_H */
