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
 * (VIRTIO_VSWAP_INFLIGHT_LIMIT), and so is the rest of what they hold
 * (VIRTIO_VSWAP_INFLIGHT_META_LIMIT: FILL-only WRITEs and DISCARDs have no
 * bounce page); past either the queues are not popped until requests
 * complete, so a flooding guest cannot grow host memory.
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/iov.h"
#include "qemu/main-loop.h"
#include "qemu/memalign.h"
#include "qemu/module.h"
#include "qemu/timer.h"
#include "system/block-backend.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qapi/qapi-events-vswap.h"
#include "hw/qdev-properties.h"
#include "hw/virtio/virtio.h"
#include "migration/vmstate.h"
#include "block/aio.h"
#include "block/aio-wait.h"
#include "trace.h"
#include "virtio-vswap.h"
#include "virtio-vswap-dataplane.h"
#include "virtio-vswap-migration.h"
#include "vswap-qmp.h"
#include "vswap-request.h"

typedef struct VirtIOVswapReq {
    VirtQueueElement elem;      /* must be first: virtqueue_pop() allocates */
    VirtIOVswap *s;
    VirtQueue *vq;
    VswapReq r;                 /* the parsed request (vswap-request.c) */
    int64_t start_ns;
    uint32_t *op_entry;         /* entry of each store op */
    VswapPageOp *ops;           /* valid entries handed to the store */
    unsigned nops;
    /* One bounce page per entry (READ) or per payload (WRITE) */
    uint8_t *pages;
    size_t meta_len;            /* counted in inflight_meta */
} VirtIOVswapReq;

/* Request types index the statistics; anything else is malformed. */
#define VIRTIO_VSWAP_T_NONE UINT16_MAX

static void virtio_vswap_free_req(VirtIOVswapReq *req)
{
    vswap_req_free(&req->r);
    g_free(req->op_entry);
    g_free(req->ops);
    qemu_vfree(req->pages);
    g_free(req);
}

static void virtio_vswap_account(VirtIOVswap *s, VirtIOVswapReq *req)
{
    VirtIOVswapTypeStats *ts = &s->stats[req->r.type];
    int64_t us = (qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - req->start_ns) /
                 1000;
    unsigned bucket = us > 0 ? MIN(63 - clz64(us),
                                   VIRTIO_VSWAP_LAT_BUCKETS - 1) : 0;

    ts->requests++;
    ts->entries += req->r.count;
    ts->latency[bucket]++;
    for (uint32_t i = 0; i < req->r.count; i++) {
        ts->errors += req->r.status[i] != VIRTIO_VSWAP_S_OK &&
                      req->r.status[i] != VIRTIO_VSWAP_S_UNMAPPED;
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

    iov_from_buf(req->elem.in_sg, req->elem.in_num, req->r.in_len - 1,
                 &status, sizeof(status));
    trace_virtio_vswap_request_done(s, req->r.type, status);
    virtqueue_push(req->vq, &req->elem, req->r.in_len);
    if (qemu_in_iothread()) {
        virtio_notify_irqfd(vdev, req->vq);
    } else {
        virtio_notify(vdev, req->vq);
    }
    s->inflight_bytes -= req->r.bounce_len;
    s->inflight_meta -= req->meta_len;
    if (qatomic_fetch_dec(&s->inflight) == 1) {
        /* A drain in another thread polls for this (drained_poll). */
        aio_wait_kick();
    }
    if (s->queues_stalled) {
        qemu_bh_schedule(s->resume_bh);
    }
    virtio_vswap_free_req(req);
}

static void virtio_vswap_complete_malformed(VirtIOVswap *s,
                                            VirtIOVswapReq *req, uint8_t status)
{
    s->malformed++;
    req->r.type = VIRTIO_VSWAP_T_NONE;
    req->r.bounce_len = 0;
    virtio_vswap_complete(s, req, status);
}

/*
 * Memory that @req holds until it completes, besides its bounce pages:
 * the element with its scatter lists, and per entry its parsed form,
 * status and store op.
 */
static size_t virtio_vswap_req_meta(const VirtIOVswapReq *req)
{
    size_t per_entry = req->r.type == VIRTIO_VSWAP_T_DISCARD ?
                       2 * sizeof(uint64_t) :
                       sizeof(VswapReqEntry) + sizeof(VswapPageOp) +
                       sizeof(uint32_t);
    size_t sg = (size_t)(req->elem.in_num + req->elem.out_num) *
                (sizeof(struct iovec) + sizeof(hwaddr));

    return sizeof(*req) + sg + (size_t)req->r.count * (per_entry + 1);
}

/* Have requests in flight reached a limit of what they may hold? */
static bool virtio_vswap_over_limit(VirtIOVswap *s)
{
    return s->inflight_bytes >= VIRTIO_VSWAP_INFLIGHT_LIMIT ||
           s->inflight_meta >= VIRTIO_VSWAP_INFLIGHT_META_LIMIT;
}

/* Write entry statuses, then the request status: the first failure. */
static void virtio_vswap_complete_entries(VirtIOVswap *s, VirtIOVswapReq *req,
                                          size_t status_off)
{
    iov_from_buf(req->elem.in_sg, req->elem.in_num, status_off, req->r.status,
                 req->r.count);
    virtio_vswap_account(s, req);
    virtio_vswap_complete(s, req, vswap_req_status(&req->r));
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

/*
 * x-forget-slot: the host loses a page that it acknowledged, as a store
 * that dropped a mapping would.  Context: the store's owner thread.
 */
static void virtio_vswap_x_forget(VirtIOVswap *s, VirtIOVswapReq *req)
{
    for (unsigned i = 0; i < req->nops; i++) {
        if (req->ops[i].slot == s->conf.x_forget_slot &&
            req->ops[i].status == 0) {
            vswap_store_discard(s->store, req->ops[i].slot, 1);
        }
    }
}

/*
 * A READ's bounce pages start uninitialised (zeroed up front, an unmapped
 * page was written twice, since the store zeroes it too): the store fills
 * every page it answers OK or UNMAPPED, and what a failed or invalid entry
 * left there, stale heap or a partly decompressed page, becomes zeros here.
 */
static void virtio_vswap_zero_failed_pages(VirtIOVswapReq *req)
{
    for (uint32_t i = 0; i < req->r.count; i++) {
        if (req->r.status[i] != VIRTIO_VSWAP_S_OK &&
            req->r.status[i] != VIRTIO_VSWAP_S_UNMAPPED) {
            memset(req->pages + (size_t)i * VSWAP_STORE_PAGE_SIZE, 0,
                   VSWAP_STORE_PAGE_SIZE);
        }
    }
}

/* Context: the store's owner thread, from vswap_store_process(). */
static void virtio_vswap_store_done(void *opaque)
{
    VirtIOVswapReq *req = opaque;
    VirtIOVswap *s = req->s;

    for (unsigned i = 0; i < req->nops; i++) {
        req->r.status[req->op_entry[i]] =
            virtio_vswap_errno_to_status(req->ops[i].status);
    }
    if (req->r.type == VIRTIO_VSWAP_T_WRITE &&
        s->conf.x_forget_slot < s->capacity) {
        virtio_vswap_x_forget(s, req);
    }
    if (req->r.type == VIRTIO_VSWAP_T_READ) {
        virtio_vswap_zero_failed_pages(req);
        iov_from_buf(req->elem.in_sg, req->elem.in_num, 0, req->pages,
                     req->r.bounce_len);
        virtio_vswap_complete_entries(s, req, req->r.bounce_len);
    } else {
        virtio_vswap_complete_entries(s, req, 0);
    }
}

/* Hand the valid entries to the store; bounce pages are in place. */
static void virtio_vswap_submit_rw(VirtIOVswap *s, VirtIOVswapReq *req)
{
    int ret;

    req->ops = g_new0(VswapPageOp, req->r.count);
    req->op_entry = g_new(uint32_t, req->r.count);
    req->nops = vswap_req_build_ops(&req->r, req->pages, req->ops,
                                    req->op_entry);
    if (req->nops == 0) {
        virtio_vswap_store_done(req);
        return;
    }
    ret = req->r.type == VIRTIO_VSWAP_T_WRITE ?
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

static void virtio_vswap_handle_rw(VirtIOVswap *s, VirtIOVswapReq *req)
{
    size_t off = sizeof(struct virtio_vswap_req_hdr) + req->r.entries_len;

    req->pages = qemu_memalign(VSWAP_STORE_PAGE_SIZE,
                               MAX(req->r.bounce_len, 1));
    s->inflight_bytes += req->r.bounce_len;
    if (req->r.type == VIRTIO_VSWAP_T_WRITE) {
        iov_to_buf(req->elem.out_sg, req->elem.out_num, off, req->pages,
                   req->r.bounce_len);
        trace_virtio_vswap_write(s, req->r.count, req->r.payloads);
    } else {
        trace_virtio_vswap_read(s, req->r.count);
    }
    virtio_vswap_submit_rw(s, req);
}

static void virtio_vswap_handle_discard(VirtIOVswap *s, VirtIOVswapReq *req)
{
    for (uint32_t i = 0; i < req->r.count; i++) {
        uint64_t start = req->r.ranges[2 * i];
        uint64_t count = req->r.ranges[2 * i + 1];

        trace_virtio_vswap_discard(s, start, count);
        if (req->r.status[i] == VIRTIO_VSWAP_S_OK) {
            /* -EIO: the store could not mark its file as changed. */
            req->r.status[i] = virtio_vswap_errno_to_status(
                vswap_store_discard(s->store, start, count));
        }
    }
    virtio_vswap_complete_entries(s, req, 0);
}

/*
 * Context: the device's AioContext.  Returns the bounce memory that @req
 * took, which may already be back if @req completed at once.
 */
static size_t virtio_vswap_handle_req(VirtIOVswap *s, VirtQueue *vq,
                                      VirtIOVswapReq *req)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);
    VswapReqLimits lim = {
        .capacity = s->capacity,
        .max_batch = s->conf.max_batch,
        .fill = virtio_vdev_has_feature(vdev, VIRTIO_VSWAP_F_FILL),
    };
    struct virtio_vswap_req_hdr hdr;
    g_autofree void *ents = NULL;
    size_t out_len, in_len, bounce_len;
    uint8_t status;

    /* virtqueue_pop() does not zero what follows the element. */
    memset((uint8_t *)req + sizeof(req->elem), 0,
           sizeof(*req) - sizeof(req->elem));
    req->s = s;
    req->vq = vq;
    req->r.type = VIRTIO_VSWAP_T_NONE;
    req->start_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    in_len = iov_size(req->elem.in_sg, req->elem.in_num);
    if (in_len < 1) {
        virtio_error(vdev, "virtio-vswap: request has no room for a status");
        virtqueue_detach_element(vq, &req->elem, 0);
        virtio_vswap_free_req(req);
        return 0;
    }
    req->r.in_len = in_len;
    qatomic_inc(&s->inflight);
    out_len = iov_size(req->elem.out_sg, req->elem.out_num);
    if (iov_to_buf(req->elem.out_sg, req->elem.out_num, 0, &hdr,
                   sizeof(hdr)) != sizeof(hdr)) {
        virtio_vswap_complete_malformed(s, req, VIRTIO_VSWAP_S_UNSUPP);
        return 0;
    }
    trace_virtio_vswap_request(s, le16_to_cpu(hdr.type),
                               le32_to_cpu(hdr.count));
    status = vswap_req_parse_header(&req->r, &lim, &hdr, out_len, in_len);
    if (status != VIRTIO_VSWAP_S_OK) {
        virtio_vswap_complete_malformed(s, req, status);
        return 0;
    }
    ents = g_malloc(req->r.entries_len);
    if (iov_to_buf(req->elem.out_sg, req->elem.out_num, sizeof(hdr), ents,
                   req->r.entries_len) != req->r.entries_len ||
        vswap_req_parse_entries(&req->r, &lim, ents) != VIRTIO_VSWAP_S_OK) {
        virtio_vswap_complete_malformed(s, req, VIRTIO_VSWAP_S_INVAL);
        return 0;
    }
    req->meta_len = virtio_vswap_req_meta(req);
    s->inflight_meta += req->meta_len;
    if (req->r.type == VIRTIO_VSWAP_T_DISCARD) {
        virtio_vswap_handle_discard(s, req);
        return 0;
    }
    bounce_len = req->r.bounce_len;
    virtio_vswap_handle_rw(s, req);
    return bounce_len;
}

/*
 * x-stall-after and x-error-after: a device that stops answering, or one
 * that finds an error and needs a reset, after that many requests.
 * Returns true if @req was consumed.  Context: the device's AioContext.
 */
static bool virtio_vswap_x_fault(VirtIOVswap *s, VirtQueue *vq,
                                 VirtIOVswapReq *req)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);

    uint64_t n = qatomic_read(&s->popped) + 1;

    qatomic_set(&s->popped, n);
    if (n != qatomic_read(&s->x_error_at)) {
        return false;
    }
    virtio_error(vdev, "virtio-vswap: " VIRTIO_VSWAP_PROP_X_ERROR_AFTER
                 " reached, at request %" PRIu64, n);
    virtqueue_detach_element(vq, &req->elem, 0);
    g_free(req);            /* nothing past the element is set yet */
    return true;
}

/*
 * Requests taken from a queue in one go.  A DISCARD completes at once, so
 * without a budget a guest that keeps its ring full of them would hold the
 * thread (and QMP, which waits for it) as long as it pleased: a ring of
 * 512 DISCARDs of 1024 ranges took 139 ms here.  Past the budget the
 * resume BH serves the queues again, after what else is due.
 */
#define VIRTIO_VSWAP_POP_BUDGET 64

/*
 * Bounce memory taken from a queue in one go.  Each READ or WRITE page
 * costs the thread a fresh page and a copy; in a flood of 1024-page READs
 * one pass up to the in-flight limit (8 requests) took 20 ms of CPU, and
 * under load the thread waits for a CPU several times that, while a QMP
 * command needs about three passes of the loop.
 */
#define VIRTIO_VSWAP_POP_BYTES (8 * 1024 * 1024)

static void virtio_vswap_handle_vq(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIOVswap *s = VIRTIO_VSWAP(vdev);
    unsigned taken = 0;
    size_t taken_bytes = 0;
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
        if (virtio_vswap_over_limit(s) || qatomic_read(&s->quiesced)) {
            s->queues_stalled = true;
            return;
        }
        if (qatomic_read(&s->x_stall_at) &&
            qatomic_read(&s->popped) >= qatomic_read(&s->x_stall_at)) {
            return;
        }
        if (taken++ == VIRTIO_VSWAP_POP_BUDGET ||
            taken_bytes >= VIRTIO_VSWAP_POP_BYTES) {
            s->queues_stalled = true;
            qemu_bh_schedule(s->resume_bh);
            return;
        }
        req = virtqueue_pop(vq, sizeof(*req));
        if (!req) {
            return;
        }
        if (!virtio_vswap_x_fault(s, vq, req)) {
            taken_bytes += virtio_vswap_handle_req(s, vq, req);
        }
    }
}

/* Requests completed below the in-flight limit: serve every queue again. */
void virtio_vswap_resume_bh(void *opaque)
{
    VirtIOVswap *s = opaque;
    VirtIODevice *vdev = VIRTIO_DEVICE(s);

    if (virtio_vswap_over_limit(s) || qatomic_read(&s->quiesced)) {
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
        .page_size = cpu_to_le32(VSWAP_STORE_PAGE_SIZE),
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
    /*
     * The transport offers per-queue reset to every device; this one has
     * no queue_reset handler.  virtio would forget a queue while its
     * requests are still in the store, and their completions would land
     * in the ring the driver enables next.  The driver only ever resets
     * the whole device, which drains the store first.
     */
    virtio_clear_feature(&features, VIRTIO_F_RING_RESET);
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
        (double)compressed * VSWAP_STORE_PAGE_SIZE / st.payload_bytes : 0;
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
    info->writeback_depth = st.writeback_depth;
    info->segment_size = st.segment_size;
    info->compactions = st.compactions;
    info->compacted_bytes = st.compacted_bytes;
    info->mem_compacted_bytes = st.mem_compacted_bytes;
    info->dict_id = st.dict_id;
    info->dicts = st.dicts;
    info->dict_bytes = st.dict_bytes;
    info->dict_trainings = st.dict_trainings;
    info->dict_rejected = st.dict_rejected;
    info->dict_gain = st.dict_gain_permille / 1000.0;
    info->dict_retrainings = st.dict_retrainings;
    info->dict_retired = st.dict_retired;
    info->dict_drift = st.dict_drift_permille / 1000.0;
    info->disk_groups = st.disk_groups;
    info->disk_group_pages = st.disk_group_pages;
    info->disk_group_splits = st.disk_group_splits;
}

static void virtio_vswap_qmp_query(void *opaque, VswapInfo *info)
{
    VirtIOVswapQuery q = { .s = opaque, .info = info };
    const char *node = q.s->conf.store ?
                       vswap_store_object_node_name(q.s->conf.store) : NULL;

    info->node = g_strdup(node);
    virtio_vswap_run_in_store_ctx(q.s, virtio_vswap_query_bh, &q);
    virtio_vswap_migration_query(q.s, info);
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
    if (c.ret == -EBUSY) {
        error_setg(errp, "virtio-vswap: a compaction pass is already running");
        return false;
    }
    if (c.ret < 0) {
        error_setg_errno(errp, -c.ret,
                         "virtio-vswap: cannot start a compaction pass");
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
    if (conf->capacity > VSWAP_STORE_MAX_SLOTS) {
        error_setg(errp, "'" VIRTIO_VSWAP_PROP_CAPACITY "' must be at most"
                   " %" PRIu64 " slots", VSWAP_STORE_MAX_SLOTS);
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
    if (conf->max_batch == 0 ||
        conf->max_batch > VIRTIO_VSWAP_MAX_BATCH_LIMIT) {
        error_setg(errp, "'" VIRTIO_VSWAP_PROP_MAX_BATCH "' must be between 1"
                   " and %d", VIRTIO_VSWAP_MAX_BATCH_LIMIT);
        return false;
    }
    return true;
}

/*
 * A drained section of the store's block node: take no new guest request
 * until it ends, as virtio-blk does, and quiesce the store, whose
 * writeback and compaction would otherwise go on writing to the node on
 * their own.  Requests in flight finish; the drain waits for them and for
 * the store to take notice (drained_poll), and for their block-layer I/O.
 * Context: main loop, BQL.
 */
static void virtio_vswap_drained_begin(void *opaque)
{
    VirtIOVswap *s = opaque;

    qatomic_inc(&s->quiesced);
    vswap_store_quiesce(s->store);
}

static void virtio_vswap_drained_end(void *opaque)
{
    VirtIOVswap *s = opaque;

    vswap_store_unquiesce(s->store);
    /* Serve what the guest queued meanwhile, where the queues are served. */
    if (qatomic_fetch_dec(&s->quiesced) == 1 &&
        (s->ioeventfd_started || s->ioeventfd_disabled)) {
        qemu_bh_schedule(s->resume_bh);
    }
}

/*
 * Unlike virtio-blk's, a request in flight is not always block-layer I/O:
 * its pages may be with the store's compression workers, and finishing it
 * may write to the node.  So the drain also waits for the requests, as
 * block exports' drained_poll do, and for the store's owner thread to
 * have stopped its own I/O: what it started before is in the
 * BlockBackend's in_flight count by then, which the block layer reads
 * after this.  Requests held back by x-stall-after were never taken, so a
 * stalled device does not hold a drain.
 */
static bool virtio_vswap_drained_poll(void *opaque)
{
    VirtIOVswap *s = opaque;

    return qatomic_read(&s->inflight) > 0 ||
           !vswap_store_quiesced(s->store);
}

static const BlockDevOps virtio_vswap_block_ops = {
    .drained_begin = virtio_vswap_drained_begin,
    .drained_poll = virtio_vswap_drained_poll,
    .drained_end = virtio_vswap_drained_end,
};

/* Use the linked store, or open a memory-only one sized to hold it all. */
static bool virtio_vswap_attach_store(VirtIOVswap *s, Error **errp)
{
    VswapStoreObject *vso = s->conf.store;
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
        /* Set first: attaching to a drained node calls drained_begin. */
        s->store = vso->store;
        s->capacity = vso->cfg.capacity;
        vswap_store_object_attach(vso, virtio_vswap_user_device(s),
                                  &virtio_vswap_block_ops, s);
        return true;
    }
    s->capacity = s->conf.capacity ? s->conf.capacity : 1u << 20;
    vswap_store_config_init(&cfg);
    cfg.capacity = s->capacity;
    /* Never refuse a page for lack of memory: like a disk of that size. */
    cfg.mem_budget = s->capacity * (VSWAP_STORE_PAGE_SIZE + 64);
    s->own_store = vswap_open_store(&cfg, errp);
    if (!s->own_store) {
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
        vswap_store_object_attach(s->conf.store, NULL, NULL, NULL);
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
    DEFINE_PROP_UINT64(VIRTIO_VSWAP_PROP_X_FORGET_SLOT, VirtIOVswap,
                       conf.x_forget_slot, UINT64_MAX),
};

/*
 * The test faults count requests from when they are set, so that a test
 * can break the device at a point of its choosing: x-stall-after=N serves
 * N more requests, then takes none; x-error-after=N calls virtio_error()
 * at the Nth request from now.  0 disarms.  Context: main loop, BQL.
 */
static uint64_t virtio_vswap_x_arm(VirtIOVswap *s, Visitor *v,
                                   const char *name, Error **errp)
{
    uint64_t n;

    if (!visit_type_uint64(v, name, &n, errp)) {
        return UINT64_MAX;
    }
    return n ? qatomic_read(&s->popped) + n : 0;
}

static uint64_t virtio_vswap_x_left(VirtIOVswap *s, uint64_t at)
{
    uint64_t popped = qatomic_read(&s->popped);

    return at > popped ? at - popped : 0;
}

static void virtio_vswap_get_x_stall_after(Object *obj, Visitor *v,
                                           const char *name, void *opaque,
                                           Error **errp)
{
    VirtIOVswap *s = VIRTIO_VSWAP(obj);
    uint64_t left = virtio_vswap_x_left(s, qatomic_read(&s->x_stall_at));

    visit_type_uint64(v, name, &left, errp);
}

static void virtio_vswap_set_x_stall_after(Object *obj, Visitor *v,
                                           const char *name, void *opaque,
                                           Error **errp)
{
    VirtIOVswap *s = VIRTIO_VSWAP(obj);
    uint64_t at = virtio_vswap_x_arm(s, v, name, errp);

    if (at != UINT64_MAX) {
        qatomic_set(&s->x_stall_at, at);
    }
}

static void virtio_vswap_get_x_error_after(Object *obj, Visitor *v,
                                           const char *name, void *opaque,
                                           Error **errp)
{
    VirtIOVswap *s = VIRTIO_VSWAP(obj);
    uint64_t left = virtio_vswap_x_left(s, qatomic_read(&s->x_error_at));

    visit_type_uint64(v, name, &left, errp);
}

static void virtio_vswap_set_x_error_after(Object *obj, Visitor *v,
                                           const char *name, void *opaque,
                                           Error **errp)
{
    VirtIOVswap *s = VIRTIO_VSWAP(obj);
    uint64_t at = virtio_vswap_x_arm(s, v, name, errp);

    if (at != UINT64_MAX) {
        qatomic_set(&s->x_error_at, at);
    }
}

static void virtio_vswap_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    VirtioDeviceClass *vdc = VIRTIO_DEVICE_CLASS(klass);

    device_class_set_props(dc, virtio_vswap_properties);
    object_class_property_add(klass, VIRTIO_VSWAP_PROP_X_STALL_AFTER, "uint64",
                              virtio_vswap_get_x_stall_after,
                              virtio_vswap_set_x_stall_after, NULL, NULL);
    object_class_property_set_description(klass,
        VIRTIO_VSWAP_PROP_X_STALL_AFTER,
        "Testing only: serve this many more requests, then stop answering");
    object_class_property_add(klass, VIRTIO_VSWAP_PROP_X_ERROR_AFTER, "uint64",
                              virtio_vswap_get_x_error_after,
                              virtio_vswap_set_x_error_after, NULL, NULL);
    object_class_property_set_description(klass,
        VIRTIO_VSWAP_PROP_X_ERROR_AFTER,
        "Testing only: fail the device (virtio_error) at this request from"
        " now");
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
