/*
 * virtio-vswap's dataplane: the request queues served through ioeventfds
 * in the device's AioContext (an IOThread's, or the main loop's), and the
 * rule that keeps the page store on one thread.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The store has a single owner thread (include/vswap/store.h).  While the
 * ioeventfds are started, the owner is the thread of s->ctx: queue
 * handlers, store completions and the resume BH all run there, without
 * the BQL.  While they are stopped (VM stopped, reset, unplug, before
 * DRIVER_OK), the store belongs to the main loop.  The switch happens
 * here, under the BQL, with the store drained.
 *
 * The store's BlockBackend moves with it (vswap_store_object_set_ctx()),
 * so that the block layer completes its I/O in the owner thread.
 *
 * Code that holds the BQL and needs the store while the VM runs (QMP,
 * qom-set of the memory budget, live migration) goes through
 * virtio_vswap_run_in_store_ctx(), which runs it in the owner thread.
 * Those calls may wait (drain, synchronous reads), running the owner's
 * event loop: the queues are not served meanwhile (s->quiesced), so that
 * the guest cannot keep a drain from ending.  Block-layer drained
 * sections of the store's node quiesce the queues the same way
 * (virtio_vswap_drained_begin()).
 * Start and stop follow hw/block/virtio-blk.c.
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#include "block/aio-wait.h"
#include "hw/virtio/virtio-bus.h"
#include "system/iothread.h"
#include "trace.h"
#include "virtio-vswap.h"
#include "virtio-vswap-dataplane.h"

/* Hand the store to @ctx: its completions are processed there from now. */
static void virtio_vswap_store_move(VirtIOVswap *s, AioContext *from,
                                    AioContext *ctx)
{
    int fd = vswap_store_fd(s->store);

    aio_set_fd_handler(from, fd, NULL, NULL, NULL, NULL, NULL);
    aio_set_fd_handler(ctx, fd, virtio_vswap_store_event, NULL, NULL, NULL, s);
    s->store_ctx = ctx;
}

/*
 * The store's BlockBackend follows its owner, as virtio-blk's does when
 * its dataplane starts and stops.  The store must be drained.
 */
static bool virtio_vswap_store_blk_move(VirtIOVswap *s, AioContext *ctx,
                                        Error **errp)
{
    return !s->conf.store ||
           vswap_store_object_set_ctx(s->conf.store, ctx, errp);
}

typedef struct VirtIOVswapStoreCall {
    VirtIOVswap *s;
    QEMUBHFunc *fn;
    void *opaque;
} VirtIOVswapStoreCall;

/* Context: the store's owner thread */
static void virtio_vswap_store_call_bh(void *opaque)
{
    VirtIOVswapStoreCall *c = opaque;
    VirtIOVswap *s = c->s;

    qatomic_inc(&s->quiesced);
    c->fn(c->opaque);
    if (qatomic_fetch_dec(&s->quiesced) == 1 && s->queues_stalled) {
        qemu_bh_schedule(s->resume_bh);
    }
}

void virtio_vswap_run_in_store_ctx(VirtIOVswap *s, QEMUBHFunc *fn,
                                   void *opaque)
{
    VirtIOVswapStoreCall c = { .s = s, .fn = fn, .opaque = opaque };

    vswap_run_in_ctx(s->store_ctx, virtio_vswap_store_call_bh, &c);
}

bool virtio_vswap_dataplane_realize(VirtIOVswap *s, Error **errp)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);
    BusState *qbus = qdev_get_parent_bus(DEVICE(s));
    VirtioBusClass *k = VIRTIO_BUS_GET_CLASS(qbus);

    bool can = k->set_guest_notifiers && k->ioeventfd_assign &&
               virtio_device_ioeventfd_enabled(vdev);

    s->ctx = qemu_get_aio_context();
    if (!s->conf.iothread) {
        /* Without ioeventfd, the queues are served from the MMIO exit. */
        s->ioeventfd_disabled = !can;
        return true;
    }
    if (!can) {
        error_setg(errp, "'" VIRTIO_VSWAP_PROP_IOTHREAD "' needs a transport"
                   " with ioeventfd (virtio-vswap-pci,ioeventfd=on)");
        return false;
    }
    s->ctx = iothread_get_aio_context(s->conf.iothread);
    object_ref(OBJECT(s->conf.iothread));
    return true;
}

void virtio_vswap_dataplane_unrealize(VirtIOVswap *s)
{
    assert(!s->ioeventfd_started);
    if (s->conf.iothread) {
        object_unref(OBJECT(s->conf.iothread));
    }
}

/*
 * The transport cannot notify through eventfds: serve the queues from the
 * main loop for good.  The resume BH must run there too.
 */
static void virtio_vswap_dataplane_fall_back(VirtIOVswap *s)
{
    Error *local_err = NULL;

    if (!virtio_vswap_store_blk_move(s, qemu_get_aio_context(), &local_err)) {
        error_report_err(local_err);
    }
    s->ioeventfd_disabled = true;
    if (s->ctx != qemu_get_aio_context()) {
        warn_report("virtio-vswap: serving requests from the main loop,"
                    " not the IOThread");
        qemu_bh_delete(s->resume_bh);
        s->ctx = qemu_get_aio_context();
        s->resume_bh = aio_bh_new(s->ctx, virtio_vswap_resume_bh, s);
    }
}

/* Context: BQL held */
int virtio_vswap_start_ioeventfd(VirtIODevice *vdev)
{
    VirtIOVswap *s = VIRTIO_VSWAP(vdev);
    BusState *qbus = BUS(qdev_get_parent_bus(DEVICE(s)));
    VirtioBusClass *k = VIRTIO_BUS_GET_CLASS(qbus);
    unsigned nvqs = s->conf.num_queues;
    Error *local_err = NULL;
    unsigned i;
    int r;

    if (s->ioeventfd_started || s->ioeventfd_disabled) {
        return 0;
    }
    if (!virtio_vswap_store_blk_move(s, s->ctx, &local_err)) {
        error_reportf_err(local_err, "virtio-vswap: cannot move the store's"
                          " block node to the IOThread: ");
        virtio_vswap_dataplane_fall_back(s);
        return -ENOSYS;
    }
    r = k->set_guest_notifiers(qbus->parent, nvqs, true);
    if (r != 0) {
        error_report("virtio-vswap: cannot set up guest notifiers (%s)",
                     strerror(-r));
        virtio_vswap_dataplane_fall_back(s);
        return -ENOSYS;
    }
    memory_region_transaction_begin();
    for (i = 0; i < nvqs; i++) {
        r = virtio_bus_set_host_notifier(VIRTIO_BUS(qbus), i, true);
        if (r != 0) {
            unsigned j = i;

            error_report("virtio-vswap: cannot set up host notifier %u (%s)",
                         i, strerror(-r));
            while (i--) {
                virtio_bus_set_host_notifier(VIRTIO_BUS(qbus), i, false);
            }
            /* The transaction expects the ioeventfds open at commit. */
            memory_region_transaction_commit();
            while (j--) {
                virtio_bus_cleanup_host_notifier(VIRTIO_BUS(qbus), j);
            }
            k->set_guest_notifiers(qbus->parent, nvqs, false);
            virtio_vswap_dataplane_fall_back(s);
            return -ENOSYS;
        }
    }
    memory_region_transaction_commit();

    /* Nothing is in flight: a stopped dataplane drained the store. */
    assert(s->inflight == 0);
    virtio_vswap_store_move(s, qemu_get_aio_context(), s->ctx);
    s->ioeventfd_started = true;
    smp_wmb(); /* paired with aio_notify_accept() in the IOThread */

    /* Attaching kicks each queue, serving what is already there. */
    for (i = 0; i < nvqs; i++) {
        virtio_queue_aio_attach_host_notifier(s->vqs[i], s->ctx);
    }
    trace_virtio_vswap_dataplane(s, true, s->ctx != qemu_get_aio_context());
    return 0;
}

/*
 * Stop taking requests and finish those in flight, then let go of the
 * store.  Context: BH in s->ctx
 */
static void virtio_vswap_stop_bh(void *opaque)
{
    VirtIOVswap *s = opaque;

    for (unsigned i = 0; i < s->conf.num_queues; i++) {
        virtio_queue_aio_detach_host_notifier(s->vqs[i], s->ctx);
        /* A kick that came in before the detach is served now. */
        virtio_queue_host_notifier_read(
            virtio_queue_get_host_notifier(s->vqs[i]));
    }
    vswap_store_drain(s->store);
    /* A stalled queue is served again when the dataplane restarts. */
    qemu_bh_cancel(s->resume_bh);
    s->queues_stalled = false;
    aio_set_fd_handler(s->ctx, vswap_store_fd(s->store), NULL, NULL, NULL,
                       NULL, NULL);
}

/* Context: BQL held */
void virtio_vswap_stop_ioeventfd(VirtIODevice *vdev)
{
    VirtIOVswap *s = VIRTIO_VSWAP(vdev);
    BusState *qbus = qdev_get_parent_bus(DEVICE(s));
    VirtioBusClass *k = VIRTIO_BUS_GET_CLASS(qbus);
    unsigned nvqs = s->conf.num_queues;
    Error *local_err = NULL;
    unsigned i;

    if (!s->ioeventfd_started) {
        return;
    }
    aio_wait_bh_oneshot(s->ctx, virtio_vswap_stop_bh, s);

    memory_region_transaction_begin();
    for (i = 0; i < nvqs; i++) {
        virtio_bus_set_host_notifier(VIRTIO_BUS(qbus), i, false);
    }
    memory_region_transaction_commit();
    for (i = 0; i < nvqs; i++) {
        virtio_bus_cleanup_host_notifier(VIRTIO_BUS(qbus), i);
    }
    s->ioeventfd_started = false;
    /* The stop BH unregistered the store's fd from s->ctx already. */
    virtio_vswap_store_move(s, s->ctx, qemu_get_aio_context());
    if (!virtio_vswap_store_blk_move(s, qemu_get_aio_context(), &local_err)) {
        error_report_err(local_err);
    }
    k->set_guest_notifiers(qbus->parent, nvqs, false);
    trace_virtio_vswap_dataplane(s, false, s->ctx != qemu_get_aio_context());
}
