/*
 * The store's standalone I/O engine: reads, writes, hole punches and
 * fdatasync on the store file through one io_uring (liburing) per store;
 * truncation and size queries beside it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

/*
 * Design
 *
 * Each request becomes one SQE: IORING_OP_READ or IORING_OP_WRITE on a
 * single buffer (bytes [done, len) of the request), IORING_OP_FALLOCATE
 * with PUNCH_HOLE | KEEP_SIZE, or IORING_OP_FSYNC with DATASYNC.  The SQE's
 * user data is the request itself, so nothing is allocated per request.
 *
 * TRUNCATE has no SQE before Linux 6.9 (IORING_OP_FTRUNCATE), so it runs
 * as ftruncate() inside submit() and completes, like every request, later
 * from process(): its result waits on the "finished" queue, and the
 * notifier is signalled.  The size queries are fstat() calls.  The point
 * is that they too go through the engine, which a block-layer engine
 * implements with blk_truncate() and blk_getlength().
 *
 * The store's notifier eventfd is registered as the ring's eventfd: the
 * kernel signals it for every CQE, the store's event loop wakes up and
 * calls process(), which reaps CQEs and runs their completions.  The store
 * reads the eventfd; the engine never does.
 *
 * At most "depth" requests are in the ring (queued SQEs plus requests the
 * kernel holds) at a time.  Since the CQ ring has at least that many
 * entries, completions can never overflow it, and io_uring_enter() never
 * fails with EBUSY for that reason.  Requests beyond depth wait in FIFO
 * order on an overflow queue, which process() and flush() move into the
 * ring as slots free up.  submit() therefore never blocks, never fails and
 * never drops a request.
 *
 * Completions may submit again (the generic layer resubmits the rest of a
 * short transfer, callers chain requests).  process() consumes each CQE
 * before running its completion, as QEMU's block/io_uring.c does, so the
 * CQ ring is consistent whenever a completion re-enters the engine.
 *
 * -EAGAIN and -EINTR are retried inside the engine, as block/io_uring.c
 * does: they are known to surface from some drivers and mean "try again",
 * not failure.
 *
 * free() drains: it keeps submitting and waiting until every accepted
 * request has completed and its completion has run with its real result,
 * and only then tears the ring down.  The kernel therefore never writes
 * into a buffer after free() returns, and no caller waits forever for a
 * completion that will not come.  Completions must not free the engine.
 */

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <liburing.h>
#include <stddef.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vswap/io-engine.h"
#include "vswap/store.h"

/* Keeps a transfer length within the SQE's 32-bit len; the rest is short. */
#define VSWAP_IO_URING_MAX_XFER (1u << 30)

typedef struct VswapIoUring {
    VswapIoEngine engine;
    struct io_uring ring;
    int fd;
    bool owns_fd;               /* opened by vswap_io_uring_open() */
    int notify_fd;
    unsigned depth;             /* most requests in the ring at once */
    unsigned in_ring;           /* prepared SQEs and kernel-held requests */
    unsigned unsubmitted;       /* SQEs prepared since the last submit */
    GQueue overflow;            /* VswapIoReq * waiting for a ring slot */
    /*
     * VswapIoReq * run synchronously, whose completion is due
     */
    GQueue finished;
} VswapIoUring;

static const VswapIoEngineOps vswap_io_uring_ops;

static VswapIoUring *vswap_io_uring_of(VswapIoEngine *io)
{
    return (VswapIoUring *)((char *)io - offsetof(VswapIoUring, engine));
}

/*
 * Hand prepared SQEs to the kernel.  A failure here is transient (EAGAIN,
 * EINTR: the SQEs stay in the SQ ring for the next call).  The notifier is
 * signalled then, so that the store calls process(), which submits them
 * again, instead of sleeping on completions that were never requested.
 */
static void vswap_io_uring_push(VswapIoUring *s)
{
    uint64_t one = 1;
    int ret;

    if (!s->unsubmitted) {
        return;
    }
    ret = io_uring_submit(&s->ring);
    if (ret >= 0) {
        s->unsubmitted -= MIN((unsigned)ret, s->unsubmitted);
    } else if (write(s->notify_fd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is already signalled, which is enough. */
    }
}

/* Prepare one SQE for @req.  Returns false if no SQE is free. */
static bool vswap_io_uring_prep(VswapIoUring *s, VswapIoReq *req)
{
    struct io_uring_sqe *sqe;
    size_t len = MIN(req->len - req->done, VSWAP_IO_URING_MAX_XFER);
    /* FSYNC and TRUNCATE have no buffer (NULL + 0 is undefined too). */
    char *buf = req->buf ? (char *)req->buf + req->done : NULL;
    uint64_t offset = req->offset + req->done;

    if (s->in_ring >= s->depth) {
        return false;
    }
    sqe = io_uring_get_sqe(&s->ring);
    if (!sqe) {
        vswap_io_uring_push(s);
        sqe = io_uring_get_sqe(&s->ring);
        if (!sqe) {
            return false;
        }
    }

    switch (req->op) {
    case VSWAP_IO_READ:
        io_uring_prep_read(sqe, s->fd, buf, len, offset);
        break;
    case VSWAP_IO_WRITE:
        io_uring_prep_write(sqe, s->fd, buf, len, offset);
        break;
    case VSWAP_IO_PUNCH:
        io_uring_prep_fallocate(sqe, s->fd,
                                FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                req->offset, req->len);
        break;
    case VSWAP_IO_FSYNC:
        io_uring_prep_fsync(sqe, s->fd, IORING_FSYNC_DATASYNC);
        break;
    default:
        /* An unknown op fails in the kernel with EINVAL, like a bad SQE. */
        io_uring_prep_nop(sqe);
        sqe->opcode = 0xff;
        break;
    }
    io_uring_sqe_set_data(sqe, req);
    s->in_ring++;
    s->unsubmitted++;
    return true;
}

/* Move waiting requests into free ring slots, oldest first. */
static void vswap_io_uring_fill(VswapIoUring *s)
{
    while (!g_queue_is_empty(&s->overflow)) {
        VswapIoReq *req = g_queue_peek_head(&s->overflow);

        if (!vswap_io_uring_prep(s, req)) {
            break;
        }
        g_queue_pop_head(&s->overflow);
    }
}

static void vswap_io_uring_notify(VswapIoUring *s)
{
    uint64_t one = 1;

    if (write(s->notify_fd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is already signalled, which is enough. */
    }
}

/* TRUNCATE: done at once; its completion runs from process(). */
static void vswap_io_uring_truncate(VswapIoUring *s, VswapIoReq *req)
{
    req->result = ftruncate(s->fd, req->offset) < 0 ? -errno : 0;
    g_queue_push_tail(&s->finished, req);
    vswap_io_uring_notify(s);
}

static void vswap_io_uring_submit(VswapIoEngine *io, VswapIoReq *req)
{
    VswapIoUring *s = vswap_io_uring_of(io);

    if (req->op == VSWAP_IO_TRUNCATE) {
        vswap_io_uring_truncate(s, req);
        return;
    }
    /* Behind a non-empty overflow queue, wait in line to keep FIFO order. */
    if (!g_queue_is_empty(&s->overflow) || !vswap_io_uring_prep(s, req)) {
        g_queue_push_tail(&s->overflow, req);
    }
}

static void vswap_io_uring_flush(VswapIoEngine *io)
{
    VswapIoUring *s = vswap_io_uring_of(io);

    vswap_io_uring_fill(s);
    vswap_io_uring_push(s);
}

/*
 * Run completions for every CQE ready now.  Each CQE is consumed before
 * its completion runs, so a completion may submit, flush or process.
 */
static unsigned vswap_io_uring_reap(VswapIoUring *s)
{
    struct io_uring_cqe *cqe;
    unsigned n = 0;

    while (io_uring_peek_cqe(&s->ring, &cqe) == 0 && cqe) {
        VswapIoReq *req = io_uring_cqe_get_data(cqe);
        int res = cqe->res;

        io_uring_cqe_seen(&s->ring, cqe);
        s->in_ring--;
        if (res == -EAGAIN || res == -EINTR) {
            g_queue_push_tail(&s->overflow, req);
            continue;
        }
        req->result = res;
        req->complete(req);
        n++;
    }
    return n;
}

/*
 * Run the completions of synchronous requests queued before this call;
 * later ones wait for the next call, which the notifier announces.
 */
static unsigned vswap_io_uring_complete_finished(VswapIoUring *s)
{
    unsigned n = g_queue_get_length(&s->finished);

    for (unsigned i = 0; i < n; i++) {
        VswapIoReq *req = g_queue_pop_head(&s->finished);

        req->complete(req);
    }
    return n;
}

static unsigned vswap_io_uring_process(VswapIoEngine *io)
{
    VswapIoUring *s = vswap_io_uring_of(io);
    unsigned n = vswap_io_uring_complete_finished(s) + vswap_io_uring_reap(s);

    /* Slots freed by the completions go to waiting and resubmitted ones. */
    vswap_io_uring_fill(s);
    vswap_io_uring_push(s);
    return n;
}

static unsigned vswap_io_uring_inflight(VswapIoEngine *io)
{
    VswapIoUring *s = vswap_io_uring_of(io);

    return s->in_ring + g_queue_get_length(&s->overflow) +
           g_queue_get_length(&s->finished);
}

static int64_t vswap_io_uring_getlength(VswapIoEngine *io)
{
    VswapIoUring *s = vswap_io_uring_of(io);
    struct stat st;

    return fstat(s->fd, &st) < 0 ? -errno : st.st_size;
}

static int64_t vswap_io_uring_allocated(VswapIoEngine *io)
{
    VswapIoUring *s = vswap_io_uring_of(io);
    struct stat st;

    return fstat(s->fd, &st) < 0 ? -errno : (int64_t)st.st_blocks * 512;
}

static void vswap_io_uring_free(VswapIoEngine *io)
{
    VswapIoUring *s = vswap_io_uring_of(io);

    while (s->in_ring || !g_queue_is_empty(&s->overflow) ||
           !g_queue_is_empty(&s->finished)) {
        int ret;

        if (vswap_io_uring_complete_finished(s)) {
            continue;
        }
        vswap_io_uring_fill(s);
        ret = io_uring_submit_and_wait(&s->ring, 1);
        if (ret >= 0) {
            s->unsubmitted -= MIN((unsigned)ret, s->unsubmitted);
        } else if (ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
            /* Freeing buffers the kernel may still write is not an option. */
            g_error("vswap: io_uring wait failed while draining: %s",
                    g_strerror(-ret));
        }
        vswap_io_uring_reap(s);
    }
    io_uring_queue_exit(&s->ring);
    if (s->owns_fd) {
        close(s->fd);
    }
    g_free(s);
}

static const VswapIoEngineOps vswap_io_uring_ops = {
    .submit = vswap_io_uring_submit,
    .flush = vswap_io_uring_flush,
    .process = vswap_io_uring_process,
    .inflight = vswap_io_uring_inflight,
    .getlength = vswap_io_uring_getlength,
    .allocated = vswap_io_uring_allocated,
    .free = vswap_io_uring_free,
};

VswapIoEngine *vswap_io_uring_new(int fd, unsigned depth, int notify_fd,
                                  GError **errp)
{
    VswapIoUring *s = g_new0(VswapIoUring, 1);
    int ret;

    ret = io_uring_queue_init(depth, &s->ring, 0);
    if (ret < 0) {
        g_set_error(errp, VSWAP_STORE_ERROR, -ret,
                    "cannot create an io_uring of depth %u: %s",
                    depth, g_strerror(-ret));
        g_free(s);
        return NULL;
    }
    ret = io_uring_register_eventfd(&s->ring, notify_fd);
    if (ret < 0) {
        g_set_error(errp, VSWAP_STORE_ERROR, -ret,
                    "cannot register eventfd %d with io_uring: %s",
                    notify_fd, g_strerror(-ret));
        io_uring_queue_exit(&s->ring);
        g_free(s);
        return NULL;
    }
    s->engine.ops = &vswap_io_uring_ops;
    s->engine.align = 1;
    s->fd = fd;
    s->notify_fd = notify_fd;
    s->depth = depth;
    g_queue_init(&s->overflow);
    g_queue_init(&s->finished);
    return &s->engine;
}

/* Open @path as vswap_io_uring_open() says.  Returns the fd or -1. */
static int vswap_io_uring_open_file(const char *path, unsigned flags,
                                    GError **errp)
{
    int oflags = O_CLOEXEC |
                 (flags & VSWAP_IO_OPEN_READONLY ? O_RDONLY : O_RDWR) |
                 (flags & VSWAP_IO_OPEN_CREATE ? O_CREAT : 0) |
                 (flags & VSWAP_IO_OPEN_DIRECT ? O_DIRECT : 0);
    struct stat st;
    int fd = open(path, oflags, 0600);

    if (fd < 0) {
        g_set_error(errp, VSWAP_STORE_ERROR, errno,
                    "cannot open '%s': %s", path, g_strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        g_set_error(errp, VSWAP_STORE_ERROR, EMEDIUMTYPE,
                    "'%s' is not a regular file", path);
        close(fd);
        return -1;
    }
    return fd;
}

VswapIoEngine *vswap_io_uring_open(const char *path, unsigned flags,
                                   unsigned depth, int notify_fd,
                                   GError **errp)
{
    int fd = vswap_io_uring_open_file(path, flags, errp);
    VswapIoEngine *io;

    if (fd < 0) {
        return NULL;
    }
    io = vswap_io_uring_new(fd, depth, notify_fd, errp);
    if (!io) {
        close(fd);
        return NULL;
    }
    vswap_io_uring_of(io)->owns_fd = true;
    io->align = flags & VSWAP_IO_OPEN_DIRECT ? 4096 : 1;
    return io;
}
