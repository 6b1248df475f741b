/*
 * The engine-independent half of the store's I/O: vswap_io_submit() turns
 * the engines' single attempts into whole transfers or one final error.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "vswap/io-engine.h"

/*
 * Runs in place of the caller's complete() after every attempt.  An
 * attempt reports bytes moved or -errno; this decides whether the request
 * is finished and, if so, what its one final result is:
 *
 *   READ, WRITE   len once every byte moved; -errno as soon as an attempt
 *                 fails; an attempt that moves nothing before the end is
 *                 -ENOSPC for a write (the file cannot grow) and -EIO for a
 *                 read (the end of file lies inside the range).  A short
 *                 attempt is resubmitted for the rest, so the engine sees
 *                 bytes [done, len) next time.  A READ with
 *                 VSWAP_IO_REQ_SHORT_OK ends at its first short attempt
 *                 instead, with the bytes read so far.
 *   PUNCH         len on success (the range punched), like a transfer, so
 *                 callers can treat result == len as success for any op.
 *   FSYNC,        0 on success; len means nothing for them.
 *   TRUNCATE
 *
 * An engine reporting more bytes than were asked for is broken; the
 * request fails with -EIO rather than overrunning its buffer accounting.
 */
static void vswap_io_complete_attempt(VswapIoReq *req)
{
    ssize_t res = req->result;

    if (res < 0) {
        goto finish;
    }
    switch (req->op) {
    case VSWAP_IO_READ:
    case VSWAP_IO_WRITE:
        if ((size_t)res > req->len - req->done) {
            res = -EIO;
            break;
        }
        req->done += res;
        if (req->done == req->len) {
            res = req->len;
        } else if (req->op == VSWAP_IO_READ &&
                   (req->flags & VSWAP_IO_REQ_SHORT_OK)) {
            res = req->done;
        } else if (res == 0) {
            res = req->op == VSWAP_IO_WRITE ? -ENOSPC : -EIO;
        } else {
            req->engine->ops->submit(req->engine, req);
            return;
        }
        break;
    case VSWAP_IO_PUNCH:
        res = req->len;
        break;
    case VSWAP_IO_FSYNC:
    case VSWAP_IO_TRUNCATE:
        res = 0;
        break;
    default:
        res = -EINVAL;
        break;
    }

finish:
    req->result = res;
    req->complete = req->user_complete;
    req->complete(req);
}

/*
 * complete() is restored before the caller's callback runs, so the caller
 * may reuse @req for another vswap_io_submit() from inside it.
 */
void vswap_io_submit(VswapIoEngine *io, VswapIoReq *req)
{
    req->done = 0;
    req->result = 0;
    req->user_complete = req->complete;
    req->complete = vswap_io_complete_attempt;
    req->engine = io;
    io->ops->submit(io, req);
}

static void vswap_io_run_done(VswapIoReq *req)
{
    *(bool *)req->opaque = true;
}

ssize_t vswap_io_run(VswapIoEngine *io, int notify_fd, VswapIoReq *req)
{
    bool done = false;

    req->complete = vswap_io_run_done;
    req->opaque = &done;
    vswap_io_submit(io, req);
    vswap_io_flush(io);
    while (!done) {
        struct pollfd pfd = { .fd = notify_fd, .events = POLLIN };
        uint64_t count;

        if (poll(&pfd, 1, 100) > 0 &&
            read(notify_fd, &count, sizeof(count)) < 0) {
            /* EAGAIN: another reader took the signal; process anyway. */
        }
        vswap_io_process(io);
    }
    return req->result;
}

void *vswap_io_buf_new(size_t size)
{
    void *buf;

    /* posix_memalign, not g_aligned_alloc: GLib 2.66 lacks it. */
    if (posix_memalign(&buf, 4096, MAX(size, 1)) != 0) {
        g_error("vswap: out of memory allocating %zu bytes", size);
    }
    memset(buf, 0, size);
    return buf;
}
