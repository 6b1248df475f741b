/*
 * virtio-vswap: a paravirtual swap device whose slots are keys into a
 * host-side page store.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The device ABI is include/vswap/virtio_vswap.h and
 * docs/specs/virtio-vswap.rst.  This file parses and validates requests
 * and hands valid pages to the store (block/vswap-backend/), whose
 * completions arrive on its eventfd in the device's AioContext; neither a
 * vCPU nor the main loop ever waits for the store.  The queues are served
 * in an IOThread (iothread=) or the main loop: virtio-vswap-dataplane.c.
 *
 * Guest pages are copied into bounce buffers before they reach the store:
 * a page must not change under the compressor, and a READ must not expose
 * a partly written page.  Bounce memory of requests in flight is bounded
 * (VIRTIO_VSWAP_INFLIGHT_LIMIT); past it the queues are not popped until
 * requests complete, so a flooding guest cannot grow host memory.
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/iov.h"
#include "qemu/main-loop.h"
#include "qemu/memalign.h"
#include "qemu/module.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "qapi/qapi-events-vswap.h"
#include "hw/qdev-properties.h"
#include "hw/virtio/virtio.h"
#include "migration/vmstate.h"
#include "block/aio.h"
#include "trace.h"
#include "virtio-vswap.h"
#include "virtio-vswap-dataplane.h"
#include "virtio-vswap-migration.h"
#include "vswap-qmp.h"

typedef struct VirtIOVswapReq {
    VirtQueueElement elem;      /* must be first: virtqueue_pop() allocates */
    VirtIOVswap *s;
    VirtQueue *vq;
    uint16_t type;
    uint32_t count;             /* entries */
    size_t in_len;              /* bytes the driver made writable */
    size_t bounce_len;          /* bytes of pages */
    int64_t start_ns;
    uint8_t *status;            /* per entry */
    uint32_t *op_entry;         /* entry of each store op */
    VswapPageOp *ops;           /* valid entries handed to the store */
    unsigned nops;
    uint8_t *pages;             /* one bounce page per entry (READ) or
                                   per payload (WRITE) */
} VirtIOVswapReq;

/* Entries travel as 16-byte structs, slots and ranges alike. */
QEMU_BUILD_BUG_ON(sizeof(struct virtio_vswap_slot) != 16);
QEMU_BUILD_BUG_ON(sizeof(struct virtio_vswap_range) != 16);

static void virtio_vswap_free_req(VirtIOVswapReq *req)
{
    g_free(req->status);
    g_free(req->op_entry);
    g_free(req->ops);
    qemu_vfree(req->pages);
    g_free(req);
}

static void virtio_vswap_account(VirtIOVswap *s, VirtIOVswapReq *req)
{
    VirtIOVswapTypeStats *ts = &s->stats[req->type];
    int64_t us = (qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - req->start_ns) / 1000;
    unsigned bucket = us > 0 ? MIN(63 - clz64(us),
                                   VIRTIO_VSWAP_LAT_BUCKETS - 1) : 0;

    ts->requests++;
    ts->entries += req->count;
    ts->latency[bucket]++;
    for (uint32_t i = 0; i < req->count; i++) {
        ts->errors += req->status[i] != VIRTIO_VSWAP_S_OK &&
                      req->status[i] != VIRTIO_VSWAP_S_UNMAPPED;
    }
}

/*
 * Write the request status into the last writable byte and hand the
 * element back.  @status UNSUPP/INVAL marks the request itself malformed.
 */
static void virtio_vswap_complete(VirtIOVswap *s, VirtIOVswapReq *req,
                                  uint8_t status)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);

    iov_from_buf(req->elem.in_sg, req->elem.in_num, req->in_len - 1,
                 &status, sizeof(status));
    trace_virtio_vswap_request_done(s, req->type, status);
    virtqueue_push(req->vq, &req->elem, req->in_len);
    if (qemu_in_iothread()) {
        virtio_notify_irqfd(vdev, req->vq);
    } else {
        virtio_notify(vdev, req->vq);
    }
    s->inflight--;
    s->inflight_bytes -= req->bounce_len;
    if (s->queues_stalled) {
        qemu_bh_schedule(s->resume_bh);
    }
    virtio_vswap_free_req(req);
}

static void virtio_vswap_complete_malformed(VirtIOVswap *s,
                                            VirtIOVswapReq *req, uint8_t status)
{
    s->malformed++;
    virtio_vswap_complete(s, req, status);
}

/* Write entry statuses, then the request status: the first failure. */
static void virtio_vswap_complete_entries(VirtIOVswap *s, VirtIOVswapReq *req,
                                          size_t status_off)
{
    uint8_t status = VIRTIO_VSWAP_S_OK;

    for (uint32_t i = 0; i < req->count; i++) {
        if (req->status[i] != VIRTIO_VSWAP_S_OK &&
            req->status[i] != VIRTIO_VSWAP_S_UNMAPPED) {
            status = req->status[i];
            break;
        }
    }
    iov_from_buf(req->elem.in_sg, req->elem.in_num, status_off, req->status,
                 req->count);
    virtio_vswap_account(s, req);
    virtio_vswap_complete(s, req, status);
}

static uint8_t virtio_vswap_errno_to_status(int ret)
{
    switch (ret) {
    case 0:
        return VIRTIO_VSWAP_S_OK;
    case VSWAP_STORE_UNMAPPED:
        return VIRTIO_VSWAP_S_UNMAPPED;
    case -ENOSPC:
        return VIRTIO_VSWAP_S_NOSPC;
    case -EINVAL:
        return VIRTIO_VSWAP_S_INVAL;
    default:
        return VIRTIO_VSWAP_S_IOERR;
    }
}

/* Context: the device's AioContext, from vswap_store_process(). */
static void virtio_vswap_store_done(void *opaque)
{
    VirtIOVswapReq *req = opaque;
    VirtIOVswap *s = req->s;

    for (unsigned i = 0; i < req->nops; i++) {
        req->status[req->op_entry[i]] =
            virtio_vswap_errno_to_status(req->ops[i].status);
    }
    if (req->type == VIRTIO_VSWAP_T_READ) {
        iov_from_buf(req->elem.in_sg, req->elem.in_num, 0, req->pages,
                     (size_t)req->count * VIRTIO_VSWAP_PAGE_SIZE);
        virtio_vswap_complete_entries(s, req,
                                      (size_t)req->count * VIRTIO_VSWAP_PAGE_SIZE);
    } else {
        virtio_vswap_complete_entries(s, req, 0);
    }
}

static int virtio_vswap_cmp_slot(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;

    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Mark INVAL every entry whose slot appears more than once. */
static void virtio_vswap_mark_repeats(VirtIOVswapReq *req, const uint64_t *slots)
{
    g_autofree uint64_t *pairs = g_new(uint64_t, 2 * req->count);

    for (uint32_t i = 0; i < req->count; i++) {
        pairs[2 * i] = slots[i];
        pairs[2 * i + 1] = i;
    }
    qsort(pairs, req->count, 2 * sizeof(uint64_t), virtio_vswap_cmp_slot);
    for (uint32_t i = 1; i < req->count; i++) {
        if (pairs[2 * i] == pairs[2 * (i - 1)]) {
            req->status[pairs[2 * i + 1]] = VIRTIO_VSWAP_S_INVAL;
            req->status[pairs[2 * (i - 1) + 1]] = VIRTIO_VSWAP_S_INVAL;
        }
    }
}

/*
 * Read and check the slot entries of a WRITE or READ.  Returns the number
 * of payload pages that follow them (WRITE), with bad entries marked INVAL.
 */
static uint32_t virtio_vswap_parse_slots(VirtIOVswap *s, VirtIOVswapReq *req,
                                         struct virtio_vswap_slot *ents,
                                         uint64_t *slots)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);
    bool fill_ok = req->type == VIRTIO_VSWAP_T_WRITE &&
                   virtio_vdev_has_feature(vdev, VIRTIO_VSWAP_F_FILL);
    uint32_t payloads = 0;

    for (uint32_t i = 0; i < req->count; i++) {
        uint32_t flags = le32_to_cpu(ents[i].flags);

        slots[i] = le64_to_cpu(ents[i].slot);
        if (!(flags & VIRTIO_VSWAP_SLOT_F_FILL)) {
            payloads += req->type == VIRTIO_VSWAP_T_WRITE;
        }
        if (slots[i] >= s->capacity ||
            (flags & ~VIRTIO_VSWAP_SLOT_F_FILL) ||
            (flags && !fill_ok) ||
            (!flags && ents[i].fill)) {
            req->status[i] = VIRTIO_VSWAP_S_INVAL;
        }
    }
    virtio_vswap_mark_repeats(req, slots);
    return payloads;
}

/* Turn valid entries into store ops; bounce pages are already in place. */
static void virtio_vswap_submit_rw(VirtIOVswap *s, VirtIOVswapReq *req,
                                   struct virtio_vswap_slot *ents,
                                   const uint64_t *slots)
{
    uint32_t payload = 0;
    int ret;

    req->ops = g_new0(VswapPageOp, req->count);
    req->op_entry = g_new(uint32_t, req->count);
    for (uint32_t i = 0; i < req->count; i++) {
        bool fill = le32_to_cpu(ents[i].flags) & VIRTIO_VSWAP_SLOT_F_FILL;
        uint8_t *page;

        if (req->type == VIRTIO_VSWAP_T_READ) {
            page = req->pages + (size_t)i * VIRTIO_VSWAP_PAGE_SIZE;
        } else {
            page = fill ? NULL : req->pages +
                   (size_t)payload++ * VIRTIO_VSWAP_PAGE_SIZE;
        }
        if (req->status[i] != VIRTIO_VSWAP_S_OK) {
            continue;
        }
        req->ops[req->nops] = (VswapPageOp) {
            .slot = slots[i],
            .page = page,
            .fill = le32_to_cpu(ents[i].fill),
        };
        req->op_entry[req->nops++] = i;
    }
    if (req->nops == 0) {
        virtio_vswap_store_done(req);
        return;
    }
    ret = req->type == VIRTIO_VSWAP_T_WRITE ?
          vswap_store_write(s->store, req->ops, req->nops,
                            virtio_vswap_store_done, req) :
          vswap_store_read(s->store, req->ops, req->nops,
                           virtio_vswap_store_done, req);
    /* Only programming errors fail a whole batch; count them as I/O errors. */
    if (ret < 0) {
        for (unsigned i = 0; i < req->nops; i++) {
            req->ops[i].status = ret;
        }
        virtio_vswap_store_done(req);
    }
}

static void virtio_vswap_handle_rw(VirtIOVswap *s, VirtIOVswapReq *req,
                                   size_t out_len)
{
    bool is_write = req->type == VIRTIO_VSWAP_T_WRITE;
    size_t ents_len = (size_t)req->count * sizeof(struct virtio_vswap_slot);
    size_t off = sizeof(struct virtio_vswap_req_hdr);
    g_autofree struct virtio_vswap_slot *ents = g_malloc(ents_len);
    g_autofree uint64_t *slots = g_new(uint64_t, req->count);
    uint32_t payloads;

    if (iov_to_buf(req->elem.out_sg, req->elem.out_num, off, ents,
                   ents_len) != ents_len) {
        virtio_vswap_complete_malformed(s, req, VIRTIO_VSWAP_S_INVAL);
        return;
    }
    payloads = virtio_vswap_parse_slots(s, req, ents, slots);
    off += ents_len;
    if (out_len != off + (size_t)payloads * VIRTIO_VSWAP_PAGE_SIZE ||
        req->in_len != (is_write ? 0 : (size_t)req->count *
                        VIRTIO_VSWAP_PAGE_SIZE) + req->count + 1) {
        virtio_vswap_complete_malformed(s, req, VIRTIO_VSWAP_S_INVAL);
        return;
    }
    req->bounce_len = (size_t)(is_write ? payloads : req->count) *
                      VIRTIO_VSWAP_PAGE_SIZE;
    if (req->bounce_len) {
        req->pages = qemu_memalign(VIRTIO_VSWAP_PAGE_SIZE, req->bounce_len);
        s->inflight_bytes += req->bounce_len;
    }
    if (is_write) {
        iov_to_buf(req->elem.out_sg, req->elem.out_num, off, req->pages,
                   req->bounce_len);
        trace_virtio_vswap_write(s, req->count, payloads);
    } else {
        /* Entries that fail keep a zeroed page rather than stale memory. */
        memset(req->pages, 0, req->bounce_len);
        trace_virtio_vswap_read(s, req->count);
    }
    virtio_vswap_submit_rw(s, req, ents, slots);
}

static void virtio_vswap_handle_discard(VirtIOVswap *s, VirtIOVswapReq *req,
                                        size_t out_len)
{
    size_t ents_len = (size_t)req->count * sizeof(struct virtio_vswap_range);
    g_autofree struct virtio_vswap_range *ranges = g_malloc(ents_len);

    if (out_len != sizeof(struct virtio_vswap_req_hdr) + ents_len ||
        req->in_len != (size_t)req->count + 1) {
        virtio_vswap_complete_malformed(s, req, VIRTIO_VSWAP_S_INVAL);
        return;
    }
    iov_to_buf(req->elem.out_sg, req->elem.out_num,
               sizeof(struct virtio_vswap_req_hdr), ranges, ents_len);
    for (uint32_t i = 0; i < req->count; i++) {
        uint64_t start = le64_to_cpu(ranges[i].start);
        uint64_t count = le64_to_cpu(ranges[i].count);

        trace_virtio_vswap_discard(s, start, count);
        if (count == 0 || start >= s->capacity ||
            count > s->capacity - start ||
            vswap_store_discard(s->store, start, count) < 0) {
            req->status[i] = VIRTIO_VSWAP_S_INVAL;
        }
    }
    virtio_vswap_complete_entries(s, req, 0);
}

/* Context: the device's AioContext */
static void virtio_vswap_handle_req(VirtIOVswap *s, VirtQueue *vq,
                                    VirtIOVswapReq *req)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);
    struct virtio_vswap_req_hdr hdr;
    size_t out_len;

    /* virtqueue_pop() does not zero what follows the element. */
    memset((uint8_t *)req + sizeof(req->elem), 0,
           sizeof(*req) - sizeof(req->elem));
    req->s = s;
    req->vq = vq;
    req->start_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    req->in_len = iov_size(req->elem.in_sg, req->elem.in_num);
    if (req->in_len < 1) {
        virtio_error(vdev, "virtio-vswap: request has no room for a status");
        virtqueue_detach_element(vq, &req->elem, 0);
        virtio_vswap_free_req(req);
        return;
    }
    s->inflight++;
    req->type = UINT16_MAX;
    out_len = iov_size(req->elem.out_sg, req->elem.out_num);
    if (iov_to_buf(req->elem.out_sg, req->elem.out_num, 0, &hdr,
                   sizeof(hdr)) != sizeof(hdr)) {
        virtio_vswap_complete_malformed(s, req, VIRTIO_VSWAP_S_UNSUPP);
        return;
    }
    req->count = le32_to_cpu(hdr.count);
    trace_virtio_vswap_request(s, le16_to_cpu(hdr.type), req->count);
    if (le16_to_cpu(hdr.type) > VIRTIO_VSWAP_T_DISCARD) {
        virtio_vswap_complete_malformed(s, req, VIRTIO_VSWAP_S_UNSUPP);
        return;
    }
    if (req->count == 0 || req->count > s->conf.max_batch || hdr.reserved) {
        virtio_vswap_complete_malformed(s, req, VIRTIO_VSWAP_S_INVAL);
        return;
    }
    req->type = le16_to_cpu(hdr.type);
    req->status = g_malloc0(req->count);

    switch (req->type) {
    case VIRTIO_VSWAP_T_WRITE:
    case VIRTIO_VSWAP_T_READ:
        virtio_vswap_handle_rw(s, req, out_len);
        break;
    case VIRTIO_VSWAP_T_DISCARD:
        virtio_vswap_handle_discard(s, req, out_len);
        break;
    }
}

static void virtio_vswap_handle_vq(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIOVswap *s = VIRTIO_VSWAP(vdev);
    VirtIOVswapReq *req;

    if (!s->ioeventfd_disabled && !s->ioeventfd_started &&
        !qemu_in_iothread()) {
        /* A kick before DRIVER_OK: serve the queues where they belong. */
        virtio_device_start_ioeventfd(vdev);
        if (!s->ioeventfd_disabled) {
            return;
        }
    }
    while (!virtio_device_disabled(vdev) && !vdev->broken) {
        if (s->inflight_bytes >= VIRTIO_VSWAP_INFLIGHT_LIMIT) {
            s->queues_stalled = true;
            return;
        }
        req = virtqueue_pop(vq, sizeof(*req));
        if (!req) {
            return;
        }
        virtio_vswap_handle_req(s, vq, req);
    }
}

/* Requests completed below the in-flight limit: serve every queue again. */
void virtio_vswap_resume_bh(void *opaque)
{
    VirtIOVswap *s = opaque;
    VirtIODevice *vdev = VIRTIO_DEVICE(s);

    if (s->inflight_bytes >= VIRTIO_VSWAP_INFLIGHT_LIMIT) {
        return;
    }
    s->queues_stalled = false;
    for (unsigned i = 0; i < s->conf.num_queues; i++) {
        virtio_vswap_handle_vq(vdev, s->vqs[i]);
    }
}

/* Context: the store's owner thread; its eventfd fired. */
void virtio_vswap_store_event(void *opaque)
{
    VirtIOVswap *s = opaque;

    vswap_store_process(s->store);
}

static void virtio_vswap_get_config(VirtIODevice *vdev, uint8_t *config_data)
{
    VirtIOVswap *s = VIRTIO_VSWAP(vdev);
    struct virtio_vswap_config config = {
        .capacity = cpu_to_le64(s->capacity),
        .page_size = cpu_to_le32(VIRTIO_VSWAP_PAGE_SIZE),
        .max_batch = cpu_to_le32(s->conf.max_batch),
        .num_queues = cpu_to_le16(s->conf.num_queues),
    };

    memcpy(config_data, &config, sizeof(config));
}

static uint64_t virtio_vswap_get_features(VirtIODevice *vdev, uint64_t features,
                                          Error **errp)
{
    virtio_add_feature(&features, VIRTIO_VSWAP_F_FILL);
    virtio_add_feature(&features, VIRTIO_VSWAP_F_MQ);
    return features;
}

/* Context: the store's owner thread */
static void virtio_vswap_drop_all(void *opaque)
{
    VirtIOVswap *s = opaque;

    vswap_store_drain(s->store);
    vswap_store_discard(s->store, 0, s->capacity);
}

/*
 * Reset drops every slot: the guest's swap is gone with its RAM.  The
 * transport stopped the dataplane first, so the store is the main loop's.
 */
static void virtio_vswap_reset(VirtIODevice *vdev)
{
    VirtIOVswap *s = VIRTIO_VSWAP(vdev);

    if (!s->store) {
        return;
    }
    virtio_vswap_run_in_store_ctx(s, virtio_vswap_drop_all, s);
}

/* The device users name: the transport proxy that holds the id. */
static DeviceState *virtio_vswap_user_device(VirtIOVswap *s)
{
    BusState *bus = qdev_get_parent_bus(DEVICE(s));

    return bus && bus->parent ? bus->parent : DEVICE(s);
}

/* Latency at fraction @num/@den of the histogram, as a bucket's bound. */
static uint64_t virtio_vswap_percentile(const uint64_t *hist, uint64_t total,
                                        uint64_t num, uint64_t den)
{
    uint64_t seen = 0;

    for (unsigned i = 0; i < VIRTIO_VSWAP_LAT_BUCKETS; i++) {
        seen += hist[i];
        if (total && seen * den >= total * num) {
            return UINT64_C(2) << i;
        }
    }
    return 0;
}

static VswapRequestStats *virtio_vswap_request_stats(VirtIOVswapTypeStats *ts)
{
    VswapRequestStats *r = g_new0(VswapRequestStats, 1);

    r->requests = ts->requests;
    r->entries = ts->entries;
    r->errors = ts->errors;
    r->latency_p50_us = virtio_vswap_percentile(ts->latency, ts->requests,
                                                50, 100);
    r->latency_p99_us = virtio_vswap_percentile(ts->latency, ts->requests,
                                                99, 100);
    return r;
}

typedef struct VirtIOVswapQuery {
    VirtIOVswap *s;
    VswapInfo *info;
} VirtIOVswapQuery;

/* Context: the store's owner thread, which also owns the counters. */
static void virtio_vswap_query_bh(void *opaque)
{
    VirtIOVswapQuery *q = opaque;
    VirtIOVswap *s = q->s;
    VswapInfo *info = q->info;
    VswapStoreStats st;
    uint64_t compressed;

    vswap_store_get_stats(s->store, &st);
    compressed = st.pages_mem + st.pages_disk;
    info->capacity = s->capacity;
    info->pages_fill = st.pages_fill;
    info->pages_mem = st.pages_mem;
    info->pages_disk = st.pages_disk;
    info->mem_bytes = st.mem_bytes;
    info->mem_live_bytes = st.mem_live_bytes;
    info->disk_bytes = st.disk_bytes;
    info->disk_live_bytes = st.disk_live_bytes;
    info->disk_file_bytes = st.disk_file_bytes;
    info->meta_bytes = st.meta_bytes;
    info->payload_bytes = st.payload_bytes;
    info->compression_ratio = st.payload_bytes ?
        (double)compressed * VIRTIO_VSWAP_PAGE_SIZE / st.payload_bytes : 0;
    info->write = virtio_vswap_request_stats(&s->stats[VIRTIO_VSWAP_T_WRITE]);
    info->read = virtio_vswap_request_stats(&s->stats[VIRTIO_VSWAP_T_READ]);
    info->discard =
        virtio_vswap_request_stats(&s->stats[VIRTIO_VSWAP_T_DISCARD]);
    info->malformed_requests = s->malformed;
    info->read_unmapped = st.read_unmapped;
    info->checksum_errors = st.checksum_errors;
    info->enospc = st.enospc;
    info->writeback_pages = st.writeback_pages;
    info->writeback_bytes = st.writeback_bytes;
    info->writeback_errors = st.writeback_errors;
    info->compactions = st.compactions;
    info->compacted_bytes = st.compacted_bytes;
}

static void virtio_vswap_qmp_query(void *opaque, VswapInfo *info)
{
    VirtIOVswapQuery q = { .s = opaque, .info = info };

    virtio_vswap_run_in_store_ctx(q.s, virtio_vswap_query_bh, &q);
}

/* Context: the store's owner thread, from vswap_store_process(). */
static void virtio_vswap_compact_done(void *opaque)
{
    VirtIOVswap *s = opaque;
    DeviceState *dev = virtio_vswap_user_device(s);
    g_autofree char *path = object_get_canonical_path(OBJECT(dev));
    VswapStoreStats st;

    vswap_store_get_stats(s->store, &st);
    qapi_event_send_vswap_compact_completed(dev->id ? dev->id : "", path,
                                            st.compacted_bytes,
                                            st.disk_file_bytes);
}

typedef struct VirtIOVswapCompact {
    VirtIOVswap *s;
    bool full;
    int ret;
} VirtIOVswapCompact;

/* Context: the store's owner thread */
static void virtio_vswap_compact_bh(void *opaque)
{
    VirtIOVswapCompact *c = opaque;

    c->ret = vswap_store_compact(c->s->store, c->full,
                                 virtio_vswap_compact_done, c->s);
}

static bool virtio_vswap_qmp_compact(void *opaque, bool full, Error **errp)
{
    VirtIOVswapCompact c = { .s = opaque, .full = full };

    virtio_vswap_run_in_store_ctx(c.s, virtio_vswap_compact_bh, &c);
    if (c.ret < 0) {
        error_setg(errp, "virtio-vswap: a compaction pass is already running");
        return false;
    }
    return true;
}

static const VswapQmpOps virtio_vswap_qmp_ops = {
    .query = virtio_vswap_qmp_query,
    .compact = virtio_vswap_qmp_compact,
};

static bool virtio_vswap_check_conf(VirtIOVswapConf *conf, Error **errp)
{
    if (conf->capacity > VIRTIO_VSWAP_MAX_CAPACITY) {
        error_setg(errp, "'" VIRTIO_VSWAP_PROP_CAPACITY "' must be at most"
                   " %" PRIu64 " slots", VIRTIO_VSWAP_MAX_CAPACITY);
        return false;
    }
    if (conf->num_queues == 0 || conf->num_queues > VIRTIO_VSWAP_MAX_QUEUES) {
        error_setg(errp, "'" VIRTIO_VSWAP_PROP_NUM_QUEUES "' must be between 1"
                   " and %d", VIRTIO_VSWAP_MAX_QUEUES);
        return false;
    }
    if (conf->queue_size < 2 || conf->queue_size > VIRTQUEUE_MAX_SIZE ||
        !is_power_of_2(conf->queue_size)) {
        error_setg(errp, "'" VIRTIO_VSWAP_PROP_QUEUE_SIZE "' must be a power"
                   " of 2 between 2 and %d", VIRTQUEUE_MAX_SIZE);
        return false;
    }
    if (conf->max_batch == 0 || conf->max_batch > VIRTIO_VSWAP_MAX_BATCH_LIMIT) {
        error_setg(errp, "'" VIRTIO_VSWAP_PROP_MAX_BATCH "' must be between 1"
                   " and %d", VIRTIO_VSWAP_MAX_BATCH_LIMIT);
        return false;
    }
    return true;
}

/* Use the linked store, or open a memory-only one sized to hold it all. */
static bool virtio_vswap_attach_store(VirtIOVswap *s, Error **errp)
{
    VswapStoreObject *vso = s->conf.store;
    g_autoptr(GError) err = NULL;
    VswapStoreConfig cfg;

    if (vso) {
        if (vso->in_use) {
            error_setg(errp, "vswap-store '%s' is already in use",
                       object_get_canonical_path_component(OBJECT(vso)));
            return false;
        }
        if (s->conf.capacity && s->conf.capacity != vso->cfg.capacity) {
            error_setg(errp, "'" VIRTIO_VSWAP_PROP_CAPACITY "' differs from"
                       " the size of vswap-store '%s'",
                       object_get_canonical_path_component(OBJECT(vso)));
            return false;
        }
        vso->in_use = true;
        s->store = vso->store;
        s->capacity = vso->cfg.capacity;
        return true;
    }
    s->capacity = s->conf.capacity ? s->conf.capacity : 1u << 20;
    vswap_store_config_init(&cfg);
    cfg.capacity = s->capacity;
    /* Never refuse a page for lack of memory: like a disk of that size. */
    cfg.mem_budget = s->capacity * (VIRTIO_VSWAP_PAGE_SIZE + 64);
    s->own_store = vswap_store_open(&cfg, &err);
    if (!s->own_store) {
        error_setg(errp, "%s", err->message);
        return false;
    }
    s->store = s->own_store;
    return true;
}

static void virtio_vswap_device_realize(DeviceState *dev, Error **errp)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(dev);
    VirtIOVswap *s = VIRTIO_VSWAP(dev);

    if (!virtio_vswap_check_conf(&s->conf, errp) ||
        !virtio_vswap_dataplane_realize(s, errp)) {
        return;
    }
    if (!virtio_vswap_attach_store(s, errp)) {
        virtio_vswap_dataplane_unrealize(s);
        return;
    }
    virtio_init(vdev, VIRTIO_ID_VSWAP, sizeof(struct virtio_vswap_config));
    s->vqs = g_new0(VirtQueue *, s->conf.num_queues);
    for (unsigned i = 0; i < s->conf.num_queues; i++) {
        s->vqs[i] = virtio_add_queue(vdev, s->conf.queue_size,
                                     virtio_vswap_handle_vq);
    }
    s->resume_bh = aio_bh_new(s->ctx, virtio_vswap_resume_bh, s);
    /* The store is the main loop's until the dataplane starts. */
    s->store_ctx = qemu_get_aio_context();
    aio_set_fd_handler(s->store_ctx, vswap_store_fd(s->store),
                       virtio_vswap_store_event, NULL, NULL, NULL, s);
    vswap_qmp_register(virtio_vswap_user_device(s), &virtio_vswap_qmp_ops, s);
    virtio_vswap_migration_init(s);
}

static void virtio_vswap_device_unrealize(DeviceState *dev)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(dev);
    VirtIOVswap *s = VIRTIO_VSWAP(dev);

    virtio_vswap_migration_cleanup(s);
    vswap_qmp_unregister(virtio_vswap_user_device(s));
    /* The transport stopped the dataplane: the store is the main loop's. */
    assert(s->store_ctx == qemu_get_aio_context());
    /* Every request completes before the queues go away. */
    vswap_store_drain(s->store);
    aio_set_fd_handler(s->store_ctx, vswap_store_fd(s->store), NULL, NULL,
                       NULL, NULL, NULL);
    qemu_bh_delete(s->resume_bh);
    for (unsigned i = 0; i < s->conf.num_queues; i++) {
        virtio_delete_queue(s->vqs[i]);
    }
    g_free(s->vqs);
    s->vqs = NULL;
    virtio_cleanup(vdev);
    if (s->conf.store) {
        vswap_store_discard(s->store, 0, s->capacity);
        s->conf.store->in_use = false;
        s->conf.store->ctx = NULL;
    }
    vswap_store_close(s->own_store);
    s->own_store = s->store = NULL;
    virtio_vswap_dataplane_unrealize(s);
}

static const VMStateDescription vmstate_virtio_vswap = {
    .name = "virtio-vswap",
    .minimum_version_id = 1,
    .version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_VIRTIO_DEVICE,
        VMSTATE_END_OF_LIST()
    },
};

static const Property virtio_vswap_properties[] = {
    DEFINE_PROP_UINT64(VIRTIO_VSWAP_PROP_CAPACITY, VirtIOVswap, conf.capacity,
                       0),
    DEFINE_PROP_UINT16(VIRTIO_VSWAP_PROP_NUM_QUEUES, VirtIOVswap,
                       conf.num_queues, 1),
    DEFINE_PROP_UINT16(VIRTIO_VSWAP_PROP_QUEUE_SIZE, VirtIOVswap,
                       conf.queue_size, 256),
    DEFINE_PROP_UINT32(VIRTIO_VSWAP_PROP_MAX_BATCH, VirtIOVswap,
                       conf.max_batch, 256),
    DEFINE_PROP_LINK(VIRTIO_VSWAP_PROP_STORE, VirtIOVswap, conf.store,
                     TYPE_VSWAP_STORE, VswapStoreObject *),
    DEFINE_PROP_LINK(VIRTIO_VSWAP_PROP_IOTHREAD, VirtIOVswap, conf.iothread,
                     TYPE_IOTHREAD, IOThread *),
};

static void virtio_vswap_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    VirtioDeviceClass *vdc = VIRTIO_DEVICE_CLASS(klass);

    device_class_set_props(dc, virtio_vswap_properties);
    dc->vmsd = &vmstate_virtio_vswap;
    set_bit(DEVICE_CATEGORY_STORAGE, dc->categories);
    vdc->realize = virtio_vswap_device_realize;
    vdc->unrealize = virtio_vswap_device_unrealize;
    vdc->get_config = virtio_vswap_get_config;
    vdc->get_features = virtio_vswap_get_features;
    vdc->reset = virtio_vswap_reset;
    vdc->start_ioeventfd = virtio_vswap_start_ioeventfd;
    vdc->stop_ioeventfd = virtio_vswap_stop_ioeventfd;
}

static const TypeInfo virtio_vswap_info = {
    .name = TYPE_VIRTIO_VSWAP,
    .parent = TYPE_VIRTIO_DEVICE,
    .instance_size = sizeof(VirtIOVswap),
    .class_init = virtio_vswap_class_init,
};

static void virtio_vswap_register_types(void)
{
    type_register_static(&virtio_vswap_info);
}

type_init(virtio_vswap_register_types)
