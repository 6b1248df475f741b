/*
 * The store's I/O engine in QEMU: every access to the store file goes
 * through a BlockBackend on the node that the vswap-store object names,
 * so that the block layer's drivers, throttling, image locking,
 * accounting and migration handover apply to it as to any disk.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

/*
 * Design
 *
 * A request becomes one block-layer call in the BlockBackend's AioContext,
 * which is the store's owner thread (hw/vswap/virtio-vswap-dataplane.c
 * moves both together):
 *
 *   READ      blk_aio_preadv, clamped to the end of the file (see below)
 *   WRITE     blk_aio_pwritev; past the end of the file, blk_co_pwritev
 *             in a coroutine that first grows the file (see below)
 *   PUNCH     blk_aio_pdiscard, a hole when the node has discard=unmap
 *   FSYNC     blk_aio_flush
 *   TRUNCATE  blk_co_truncate, in a coroutine of its own; on a node that
 *             cannot shrink, or a network node (see below), blk_co_pdiscard
 *             of the tail instead
 *
 * The block layer never completes an AIO request inside the call that
 * starts it, but the engine contract is stricter still: a completion only
 * sets the result, queues the request on "finished" and signals the
 * store's notifier; process() runs the store's callbacks.  So callbacks
 * never run from inside the block layer, and the store's order of events
 * is the same as with io_uring.
 *
 * A read past the end of the file would return zeroes (the BlockBackend
 * must allow writes beyond EOF, and that also lifts the check on reads), so
 * READ is clamped to the file length here and reports the bytes it could
 * read, as pread() does: the contract says a read past EOF is short.
 *
 * A write past the end grows the file first, instead of leaving it to the
 * driver: QEMU's rbd driver resizes the image synchronously before every
 * write past its end, about 17 ms each here, which with one resize per
 * 1 MiB segment held writeback to a tenth of what the pool takes.  And
 * librbd lets the writes in flight finish before it resizes, so each
 * resize also empties the queue: one in a 128 MiB writeback cost a fifth
 * of its rate.  So the file grows by half its length, in whole
 * VSWAP_IO_BLK_GROW_MIN steps and by at most VSWAP_IO_BLK_GROW_MAX: a
 * store that grows to N bytes resizes O(log N) times, not N / 64 MiB.
 * Growth is serialised, so that two writes past the end never shrink
 * what the other grew.  The file is then up to a third longer than the
 * data (VSWAP_IO_BLK_GROW_MIN while it is small, VSWAP_IO_BLK_GROW_MAX at
 * most): reads there return zeroes, a thin image or sparse file does not
 * store it, and allocated() of a network node counts it.
 *
 * For the same reason a network node never shrinks: TRUNCATE keeps its
 * length and discards the tail, which frees it on a thin image as a
 * shorter one would.  The length an operator gave the image (`rbd create
 * --size`) is so the store's from the start, and a store that has grown
 * keeps its length across reinitialisation and checkpoints, instead of
 * paying for its growth again.
 *
 * Submissions from coroutine context (the incoming migration runs in one)
 * start their block-layer coroutine only when the caller yields, which
 * the store's wait in QEMU does (hw/vswap/vswap-store.c).
 *
 * An inactive node (an incoming migration has not handed it over yet, or
 * the source has given it up) must not be written: the block layer would
 * assert.  Modifying requests fail with -EPERM instead; reads go on.
 *
 * Statistics go to the BlockBackend's BlockAcctStats, so that
 * query-blockstats shows the store's I/O like a disk's.
 */

#include "qemu/osdep.h"
#include "qemu/coroutine.h"
#include "qemu/main-loop.h"
#include "block/aio-wait.h"
#include "block/accounting.h"
#include "block/block_int-common.h"
#include "block/block_int-io.h"
#include "qapi/error.h"
#include "system/block-backend.h"
#include "vswap/io-engine.h"
#include "vswap/io-blk.h"

/*
 * Growth of the store file: half its length, rounded up to the minimum (a
 * few segments of the largest size) and at most the maximum.
 */
#define VSWAP_IO_BLK_GROW_MIN (64 * 1024 * 1024)
#define VSWAP_IO_BLK_GROW_MAX (1024 * 1024 * 1024)
/*
 * Segment writes to keep in flight on a network node (RBD, NBD, iSCSI):
 * each waits a network round trip and the storage's replication, so only
 * a deeper queue keeps the link busy.  On a loopback Ceph cluster,
 * writeback to RBD went from 0.56-0.59 of `rbd bench` at depth 8 to about
 * 0.7 at 16, and no further at 32 or 64, while the owner thread's CPU
 * per byte rose by a third (docs/benchmarks.md).  Local files keep the
 * store's default.
 */
#define VSWAP_IO_BLK_NET_DEPTH 16
/*
 * Segment size on a network node, for a store that leaves it open: with
 * 2 MiB segments at depth 16, writeback to RBD on the same cluster went
 * from 0.73-0.79 of `rbd bench` (1 MiB) to 0.79-0.89, in fewer and larger
 * requests, each costing the owner thread and the storage about the same
 * (docs/benchmarks.md).  Local files keep the store's default.
 */
#define VSWAP_IO_BLK_NET_SEGMENT (2 * 1024 * 1024)

typedef struct VswapIoBlk {
    VswapIoEngine engine;
    BlockBackend *blk;          /* borrowed from the vswap-store object */
    CoMutex grow_lock;          /* one growth of the file at a time */
    bool local;                 /* vswap_io_blk_is_local() */
    int notify_fd;
    unsigned inflight;          /* submitted, completion not yet run */
    unsigned in_block;          /* of those, still in the block layer */
    GQueue finished;            /* VswapIoReq * whose completion is due */
} VswapIoBlk;

/* One request in the block layer. */
typedef struct VswapIoBlkAiocb {
    VswapIoBlk *s;
    VswapIoReq *req;
    QEMUIOVector qiov;
    BlockAcctCookie acct;
    size_t len;                 /* bytes asked of the block layer */
} VswapIoBlkAiocb;

static const VswapIoEngineOps vswap_io_blk_ops;

static VswapIoBlk *vswap_io_blk_of(VswapIoEngine *io)
{
    g_assert(io->ops == &vswap_io_blk_ops);
    return container_of(io, VswapIoBlk, engine);
}

static void vswap_io_blk_notify(VswapIoBlk *s)
{
    uint64_t one = 1;

    if (write(s->notify_fd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is already signalled, which is enough. */
    }
}

/* Queue @req, whose result is set, for process(). */
static void vswap_io_blk_finish(VswapIoBlk *s, VswapIoReq *req)
{
    g_queue_push_tail(&s->finished, req);
    vswap_io_blk_notify(s);
}

/* Context: the BlockBackend's AioContext */
static void vswap_io_blk_done(void *opaque, int ret)
{
    VswapIoBlkAiocb *acb = opaque;
    VswapIoBlk *s = acb->s;
    VswapIoReq *req = acb->req;
    BlockAcctStats *stats = blk_get_stats(s->blk);

    if (ret < 0) {
        block_acct_failed(stats, &acb->acct);
        req->result = ret;
    } else {
        block_acct_done(stats, &acb->acct);
        req->result = req->op == VSWAP_IO_READ ||
                      req->op == VSWAP_IO_WRITE ? acb->len : 0;
    }
    qemu_iovec_destroy(&acb->qiov);
    g_free(acb);
    s->in_block--;
    vswap_io_blk_finish(s, req);
}

/* The length to grow a file of @length bytes to, so that @end fits. */
static uint64_t vswap_io_blk_grow_to(uint64_t length, uint64_t end)
{
    uint64_t step = MIN(MAX(length / 2, VSWAP_IO_BLK_GROW_MIN),
                        VSWAP_IO_BLK_GROW_MAX);

    return ROUND_UP(MAX(end, length + step), VSWAP_IO_BLK_GROW_MIN);
}

/* A WRITE past the end of the file: grow it, then write. */
static void coroutine_fn vswap_io_blk_grow_write_co(void *opaque)
{
    VswapIoBlkAiocb *acb = opaque;
    VswapIoBlk *s = acb->s;
    uint64_t offset = acb->req->offset + acb->req->done;
    uint64_t end = offset + acb->len;
    Error *local_err = NULL;
    int64_t length;
    int ret = 0;

    qemu_co_mutex_lock(&s->grow_lock);
    length = blk_co_getlength(s->blk);
    if (length < 0) {
        ret = length;
    } else if (end > (uint64_t)length) {
        ret = blk_co_truncate(s->blk, vswap_io_blk_grow_to(length, end),
                              false, PREALLOC_MODE_OFF, 0, &local_err);
        error_free(local_err);
    }
    qemu_co_mutex_unlock(&s->grow_lock);
    /* A driver without truncation may still extend the file by writing. */
    if (ret == 0 || ret == -ENOTSUP) {
        ret = blk_co_pwritev(s->blk, offset, acb->len, &acb->qiov, 0);
    }
    vswap_io_blk_done(acb, ret);
}

static void coroutine_fn vswap_io_blk_truncate_co(void *opaque)
{
    VswapIoBlkAiocb *acb = opaque;
    Error *local_err = NULL;
    VswapIoBlk *s = acb->s;
    BlockBackend *blk = s->blk;
    int64_t length;
    int ret;

    /*
     * Not exact: a network node, and one that cannot shrink (NBD, a block
     * device), keeps its length, and the tail that a shorter file would
     * have dropped is discarded instead.  Growing a node that cannot grow
     * still fails.
     */
    length = blk_co_getlength(blk);
    if (s->local || length < 0 || (uint64_t)length < acb->req->offset) {
        ret = blk_co_truncate(blk, acb->req->offset, false, PREALLOC_MODE_OFF,
                              0, &local_err);
        error_free(local_err);
    } else {
        ret = 0;
    }
    if (ret == 0) {
        length = blk_co_getlength(blk);
        if (length > 0 && (uint64_t)length > acb->req->offset) {
            ret = blk_co_pdiscard(blk, acb->req->offset,
                                  length - acb->req->offset, 0);
            /* A discard is advice: a node without it keeps the bytes. */
            ret = ret == -ENOTSUP ? 0 : ret;
        }
        ret = length < 0 ? length : ret;
    }
    vswap_io_blk_done(acb, ret);
}

/*
 * Whether the node may be modified: not while migration holds it inactive.
 * Inactivation drains the node first, and the store is quiet by then
 * (stopped VM, fenced store), so the flag cannot change under a request.
 */
static bool vswap_io_blk_writable(VswapIoBlk *s)
{
    BlockDriverState *bs = blk_bs(s->blk);

    return bs && !(bs->open_flags & BDRV_O_INACTIVE);
}

/*
 * The cached length (what blk_getlength() returns too, 0 without a
 * medium): it never polls, and writes and truncation keep it current.
 */
static uint64_t vswap_io_blk_cached_length(VswapIoBlk *s)
{
    int64_t sectors = blk_nb_sectors(s->blk);

    return sectors < 0 ? 0 : sectors * BDRV_SECTOR_SIZE;
}

static void vswap_io_blk_submit(VswapIoEngine *io, VswapIoReq *req)
{
    VswapIoBlk *s = vswap_io_blk_of(io);
    VswapIoBlkAiocb *acb;
    uint64_t offset = req->offset + req->done;
    size_t len = req->len - req->done;
    int64_t length;

    s->inflight++;
    if (req->op != VSWAP_IO_READ && !vswap_io_blk_writable(s)) {
        req->result = -EPERM;
        vswap_io_blk_finish(s, req);
        return;
    }
    if (req->op == VSWAP_IO_READ) {
        length = blk_nb_sectors(s->blk);
        length = length < 0 ? length : length * BDRV_SECTOR_SIZE;
        if (length < 0 || offset >= (uint64_t)length) {
            req->result = length < 0 ? length : 0;
            vswap_io_blk_finish(s, req);
            return;
        }
        len = MIN(len, (uint64_t)length - offset);
    }

    acb = g_new0(VswapIoBlkAiocb, 1);
    acb->s = s;
    acb->req = req;
    acb->len = len;
    s->in_block++;
    switch (req->op) {
    case VSWAP_IO_READ:
    case VSWAP_IO_WRITE:
        qemu_iovec_init_buf(&acb->qiov, (char *)req->buf + req->done, len);
        block_acct_start(blk_get_stats(s->blk), &acb->acct, len,
                         req->op == VSWAP_IO_READ ? BLOCK_ACCT_READ :
                                                    BLOCK_ACCT_WRITE);
        if (req->op == VSWAP_IO_READ) {
            blk_aio_preadv(s->blk, offset, &acb->qiov, 0,
                           vswap_io_blk_done, acb);
        } else if (offset + len > vswap_io_blk_cached_length(s)) {
            aio_co_enter(blk_get_aio_context(s->blk),
                         qemu_coroutine_create(vswap_io_blk_grow_write_co,
                                               acb));
        } else {
            blk_aio_pwritev(s->blk, offset, &acb->qiov, 0,
                            vswap_io_blk_done, acb);
        }
        break;
    case VSWAP_IO_PUNCH:
        block_acct_start(blk_get_stats(s->blk), &acb->acct, len,
                         BLOCK_ACCT_UNMAP);
        blk_aio_pdiscard(s->blk, offset, len, vswap_io_blk_done, acb);
        break;
    case VSWAP_IO_FSYNC:
        block_acct_start(blk_get_stats(s->blk), &acb->acct, 0,
                         BLOCK_ACCT_FLUSH);
        blk_aio_flush(s->blk, vswap_io_blk_done, acb);
        break;
    case VSWAP_IO_TRUNCATE:
        block_acct_start(blk_get_stats(s->blk), &acb->acct, 0,
                         BLOCK_ACCT_NONE);
        aio_co_enter(blk_get_aio_context(s->blk),
                     qemu_coroutine_create(vswap_io_blk_truncate_co, acb));
        break;
    default:
        g_assert_not_reached();
    }
}

/* The block layer submits as requests come; nothing is held back here. */
static void vswap_io_blk_flush(VswapIoEngine *io)
{
}

/*
 * Only requests finished before this call complete here; completions that
 * submit again are announced by the notifier, so process() terminates.
 */
static unsigned vswap_io_blk_process(VswapIoEngine *io)
{
    VswapIoBlk *s = vswap_io_blk_of(io);
    unsigned n = g_queue_get_length(&s->finished);

    for (unsigned i = 0; i < n; i++) {
        VswapIoReq *req = g_queue_pop_head(&s->finished);

        s->inflight--;
        req->complete(req);
    }
    return n;
}

static unsigned vswap_io_blk_inflight(VswapIoEngine *io)
{
    return vswap_io_blk_of(io)->inflight;
}

/* Refresh the cached length of @bs and of the nodes under it, deepest first. */
static int coroutine_fn GRAPH_RDLOCK
vswap_io_blk_co_refresh_length(BlockDriverState *bs)
{
    BlockDriverState *child = bdrv_primary_bs(bs);
    int ret = child ? vswap_io_blk_co_refresh_length(child) : 0;

    return ret < 0 ? ret : bdrv_co_refresh_total_sectors(bs, bs->total_sectors);
}

/*
 * The block layer caches a node's length, and only this QEMU's own writes
 * and truncation change it.  An inactive node of a shared store belongs
 * to the migration source, which appends segments meanwhile, and the
 * store bounds the references it receives by the file's length
 * (shared.c): ask the driver again.  That is in the incoming migration's
 * coroutine; elsewhere (opening) the cached length is as fresh.
 */
static int64_t vswap_io_blk_getlength(VswapIoEngine *io)
{
    BlockBackend *blk = vswap_io_blk_of(io)->blk;
    BlockDriverState *bs = blk_bs(blk);

    if (bs && (bs->open_flags & BDRV_O_INACTIVE) && qemu_in_coroutine()) {
        int ret;

        bdrv_graph_co_rdlock();
        ret = vswap_io_blk_co_refresh_length(bs);
        bdrv_graph_co_rdunlock();
        if (ret < 0) {
            return ret;
        }
    }
    return blk_getlength(blk);
}

/*
 * Network nodes (NBD, RBD) cannot tell what they occupy: their length is
 * the bound that query-vswap's disk-file-bytes and the checks on opening
 * a file then use.
 */
static int64_t vswap_io_blk_allocated(VswapIoEngine *io)
{
    BlockDriverState *bs = blk_bs(vswap_io_blk_of(io)->blk);
    int64_t ret;

    if (!bs) {
        return -ENOMEDIUM;
    }
    ret = bdrv_get_allocated_file_size(bs);
    return ret == -ENOTSUP ? vswap_io_blk_getlength(io) : ret;
}

/* Context: the BlockBackend's AioContext (the owner thread); no coroutine */
static void vswap_io_blk_free(VswapIoEngine *io)
{
    VswapIoBlk *s = vswap_io_blk_of(io);

    while (s->inflight) {
        AIO_WAIT_WHILE_UNLOCKED(blk_get_aio_context(s->blk),
                                s->in_block && g_queue_is_empty(&s->finished));
        vswap_io_blk_process(io);
    }
    blk_unref(s->blk);
    g_free(s);
}

static const VswapIoEngineOps vswap_io_blk_ops = {
    .submit = vswap_io_blk_submit,
    .flush = vswap_io_blk_flush,
    .process = vswap_io_blk_process,
    .inflight = vswap_io_blk_inflight,
    .getlength = vswap_io_blk_getlength,
    .allocated = vswap_io_blk_allocated,
    .free = vswap_io_blk_free,
};

/* What buffers, offsets and lengths must be aligned to, at most a page. */
static size_t vswap_io_blk_align(BlockBackend *blk)
{
    BlockDriverState *bs = blk_bs(blk);
    size_t align = blk_get_request_alignment(blk);

    if (bs) {
        align = MAX(align, bdrv_min_mem_align(bs));
    }
    align = MIN(align, 4096);
    return is_power_of_2(align) ? align : 4096;
}

/*
 * Is the storage under @bs local: a file, block device or CD-ROM of this
 * host, below any filters and format drivers?  Context: main loop.
 */
static bool vswap_io_blk_is_local(BlockDriverState *bs)
{
    BlockDriverState *child;
    bool local;

    bdrv_graph_rdlock_main_loop();
    while (bs && (child = bdrv_primary_bs(bs))) {
        bs = child;
    }
    local = !bs || !bs->drv || !strcmp(bs->drv->format_name, "file") ||
            !strcmp(bs->drv->format_name, "host_device") ||
            !strcmp(bs->drv->format_name, "host_cdrom");
    bdrv_graph_rdunlock_main_loop();
    return local;
}

VswapIoEngine *vswap_io_blk_new(BlockBackend *blk, int notify_fd)
{
    VswapIoBlk *s = g_new0(VswapIoBlk, 1);

    s->engine.ops = &vswap_io_blk_ops;
    s->engine.align = vswap_io_blk_align(blk);
    s->local = vswap_io_blk_is_local(blk_bs(blk));
    /* Local files: no opinion, the store's default depth. */
    s->engine.queue_depth = s->local ? 0 : VSWAP_IO_BLK_NET_DEPTH;
    s->engine.segment_size = s->local ? 0 : VSWAP_IO_BLK_NET_SEGMENT;
    s->blk = blk;
    blk_ref(blk);
    s->notify_fd = notify_fd;
    qemu_co_mutex_init(&s->grow_lock);
    g_queue_init(&s->finished);
    return &s->engine;
}
