/*
 * The engine-independent half of the store's I/O: vswap_io_submit() turns
 * the engines' single attempts into whole transfers or one final error.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <errno.h>
#include <sys/types.h>

#include "io-engine.h"

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
 *                 bytes [done, len) next time.
 *   PUNCH         len on success (the range punched), like a transfer, so
 *                 callers can treat result == len as success for any op.
 *   FSYNC         0 on success; len means nothing for it.
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
