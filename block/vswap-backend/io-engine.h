/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * I/O engines of the store: how segment writes, record reads and hole
 * punches reach the store file.
 *
 * An engine queues requests and completes them later, from its process
 * callback, which the store calls when its notifier eventfd fires.  The
 * real engine is io_uring (liburing), with the notifier registered as the
 * ring's eventfd.  The fault engine wraps another engine and injects
 * ENOSPC, EIO, short transfers and corrupted reads, so that tests reach the
 * store's error paths through the same code as real failures.
 *
 * Callers go through vswap_io_submit(), which resubmits the rest of a short
 * transfer; engines only see whole requests or the remainder of one.
 *
 * Context: owner thread only.
 */
#ifndef VSWAP_IO_ENGINE_H
#define VSWAP_IO_ENGINE_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum VswapIoOp {
    VSWAP_IO_READ,
    VSWAP_IO_WRITE,
    VSWAP_IO_PUNCH,             /* fallocate(PUNCH_HOLE | KEEP_SIZE) */
    VSWAP_IO_FSYNC,             /* fdatasync */
} VswapIoOp;

typedef struct VswapIoReq VswapIoReq;
typedef void VswapIoCompleteFunc(VswapIoReq *req);

struct VswapIoReq {
    /* set by the caller */
    VswapIoOp op;
    uint64_t offset;            /* file offset (READ, WRITE, PUNCH) */
    void *buf;                  /* READ, WRITE; aligned for O_DIRECT */
    size_t len;                 /* bytes (READ, WRITE, PUNCH) */
    VswapIoCompleteFunc *complete;
    void *opaque;

    /*
     * Set before complete() runs: len on success, or -errno.  A write that
     * makes no progress is -ENOSPC; a read past the end of file is -EIO.
     */
    ssize_t result;

    /* private to vswap_io_submit() and the engines */
    size_t done;                /* bytes transferred so far */
    VswapIoCompleteFunc *user_complete;
    struct VswapIoEngine *engine;   /* where to resubmit the remainder */
};

typedef struct VswapIoEngine VswapIoEngine;

typedef struct VswapIoEngineOps {
    /*
     * Queue @req for bytes [done, len).  The engine sets req->result to the
     * bytes transferred by this attempt or -errno, then calls
     * req->complete from process().  It never completes inside submit().
     */
    void (*submit)(VswapIoEngine *io, VswapIoReq *req);
    /* Push queued requests to the kernel. */
    void (*flush)(VswapIoEngine *io);
    /* Complete every request that has finished.  Returns how many. */
    unsigned (*process)(VswapIoEngine *io);
    /* Requests submitted and not yet completed. */
    unsigned (*inflight)(VswapIoEngine *io);
    void (*free)(VswapIoEngine *io);
} VswapIoEngineOps;

struct VswapIoEngine {
    const VswapIoEngineOps *ops;
};

/*
 * vswap_io_submit: queue @req, resubmitting the remainder of short
 * transfers until it is whole or fails.  @req must stay valid until its
 * complete() runs.  Call vswap_io_flush() after a batch of submissions.
 */
void vswap_io_submit(VswapIoEngine *io, VswapIoReq *req);

static inline void vswap_io_flush(VswapIoEngine *io)
{
    io->ops->flush(io);
}

static inline unsigned vswap_io_process(VswapIoEngine *io)
{
    return io->ops->process(io);
}

static inline unsigned vswap_io_inflight(VswapIoEngine *io)
{
    return io->ops->inflight(io);
}

static inline void vswap_io_free(VswapIoEngine *io)
{
    if (io) {
        io->ops->free(io);
    }
}

/*
 * vswap_io_uring_new: an io_uring engine on @fd with @depth entries.
 * Completions signal the eventfd @notify_fd.  Returns NULL with @errp set
 * if the ring cannot be created.
 */
VswapIoEngine *vswap_io_uring_new(int fd, unsigned depth, int notify_fd,
                                  GError **errp);

/* One fault to inject; requests that match it fail as described. */
typedef struct VswapIoFault {
    VswapIoOp op;               /* requests of this type */
    uint64_t offset_lo;         /* whose offset is in [offset_lo, offset_hi) */
    uint64_t offset_hi;         /* 0: any offset */
    unsigned skip;              /* let this many matches through first */
    unsigned count;             /* then inject this many times; 0 = forever */
    int error;                  /* -errno to return, or 0 for ... */
    bool short_transfer;        /* ... half the remaining bytes transferred */
    bool corrupt;               /* READ: succeed, then flip one byte read */
} VswapIoFault;

/*
 * vswap_io_faulty_new: wrap @inner (taking ownership) in a fault engine.
 * Injected completions are deferred to process() and signal @notify_fd.
 */
VswapIoEngine *vswap_io_faulty_new(VswapIoEngine *inner, int notify_fd);

/* Add a fault to a fault engine; faults are checked in the order added. */
void vswap_io_faulty_add(VswapIoEngine *io, const VswapIoFault *fault);

/* Remove every fault from a fault engine. */
void vswap_io_faulty_clear(VswapIoEngine *io);

/* Number of faults a fault engine has injected. */
unsigned vswap_io_faulty_injected(VswapIoEngine *io);

#endif /* VSWAP_IO_ENGINE_H */
