/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * I/O engines of the store: how every access to the store file reaches
 * it: segment writes, record reads, hole punches, the superblock and
 * checkpoint, syncs and truncation, and the size queries for statistics.
 * The store holds no file descriptor; it only talks to its engine.
 *
 * The standalone engine is io_uring (liburing), with the store's notifier
 * eventfd registered as the ring's eventfd.  An embedder may hand the
 * store an engine of its own (VswapStoreConfig.open_engine), e.g. QEMU's
 * on a BlockBackend.  The fault engine wraps another engine and injects
 * ENOSPC, EIO, short transfers and corrupted reads into any request type,
 * so that tests reach the store's error paths through the same code as
 * real failures.
 *
 * What an engine must do (VswapIoEngineOps):
 *
 *   - submit() queues a request and never completes it inline.  When it
 *     finishes, the engine signals the notifier (the store's eventfd);
 *     process(), which the store then calls, sets req->result and runs
 *     req->complete.  Completions may submit again.
 *   - inflight() counts requests submitted and not yet completed,
 *     including finished ones whose completion has not run: the store
 *     drains until it is 0.
 *   - free() completes everything first, with real results.
 *   - getlength() and allocated() answer at once; align says what READ
 *     and WRITE buffers, offsets and lengths must be aligned to.
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
    VSWAP_IO_TRUNCATE,          /* set the file length to offset */
} VswapIoOp;

/* VswapIoReq.flags */
enum {
    /*
     * READ: the first attempt that transfers fewer bytes than asked for
     * ends the request with the bytes read so far, instead of going on and
     * failing with -EIO at the end of the file.  For readers that clamp
     * their reads to the file length and tolerate what they cannot read.
     */
    VSWAP_IO_REQ_SHORT_OK = 1 << 0,
};

typedef struct VswapIoReq VswapIoReq;
typedef void VswapIoCompleteFunc(VswapIoReq *req);

struct VswapIoReq {
    /* set by the caller */
    VswapIoOp op;
    /*
     * file offset (READ, WRITE, PUNCH); the new length (TRUNCATE)
     */
    uint64_t offset;
    /*
     * READ, WRITE; aligned to the engine's vswap_io_align()
     */
    void *buf;
    size_t len;                 /* bytes (READ, WRITE, PUNCH) */
    unsigned flags;             /* VSWAP_IO_REQ_* */
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
    /* The file's length in bytes, or -errno.  Synchronous. */
    int64_t (*getlength)(VswapIoEngine *io);
    /* Bytes the file occupies on its storage, or -errno.  Synchronous. */
    int64_t (*allocated)(VswapIoEngine *io);
    /*
     * Complete every request (as process() does, with real results), then
     * release the engine and the file it opened.
     */
    void (*free)(VswapIoEngine *io);
} VswapIoEngineOps;

struct VswapIoEngine {
    const VswapIoEngineOps *ops;
    /*
     * Alignment that READ and WRITE buffers, offsets and lengths need, in
     * bytes: 4096 for a file opened with O_DIRECT, else 1.
     */
    size_t align;
    /*
     * Segment writes worth keeping in flight on this file, or 0 for no
     * opinion: the store's writeback depth unless its configuration sets
     * one (VswapStoreConfig.writeback_depth).
     */
    unsigned queue_depth;
    /*
     * A segment size that suits the storage, a power of 2 that the store
     * accepts, or 0 for no opinion: taken by a new store whose
     * configuration leaves it open (VswapStoreConfig.segment_size 0).
     */
    uint32_t segment_size;
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

static inline int64_t vswap_io_getlength(VswapIoEngine *io)
{
    return io->ops->getlength(io);
}

static inline int64_t vswap_io_allocated(VswapIoEngine *io)
{
    return io->ops->allocated(io);
}

static inline size_t vswap_io_align(VswapIoEngine *io)
{
    return io->align;
}

static inline void vswap_io_free(VswapIoEngine *io)
{
    if (io) {
        io->ops->free(io);
    }
}

/*
 * vswap_io_buf_new: @size zeroed bytes aligned for any engine (4096), for
 * READ and WRITE buffers.  Free with free() or g_free().  Aborts when out
 * of memory, like g_malloc().
 */
void *vswap_io_buf_new(size_t size);

/*
 * vswap_io_run: submit @req, then wait for it, polling @notify_fd and
 * processing @io; for callers without an event loop (vswap-tool).  Other
 * requests' completions run meanwhile.  Returns req->result.
 */
ssize_t vswap_io_run(VswapIoEngine *io, int notify_fd, VswapIoReq *req);

/*
 * vswap_io_uring_new: an io_uring engine on @fd with @depth entries.
 * Completions signal the eventfd @notify_fd.  The caller keeps @fd and
 * must keep it open until the engine is freed.  Returns NULL with @errp
 * set if the ring cannot be created.
 */
VswapIoEngine *vswap_io_uring_new(int fd, unsigned depth, int notify_fd,
                                  GError **errp);

/* vswap_io_uring_open() flags */
enum {
    VSWAP_IO_OPEN_CREATE = 1 << 0,      /* create the file if missing */
    VSWAP_IO_OPEN_DIRECT = 1 << 1,      /* O_DIRECT: align 4096 */
    VSWAP_IO_OPEN_READONLY = 1 << 2,    /* no writes (vswap-tool) */
};

/*
 * vswap_io_uring_open: open the regular file @path (VSWAP_IO_OPEN_*
 * @flags; read-write unless READONLY, mode 0600 if created) and an
 * io_uring engine of @depth entries on it, which owns the file from then
 * on.  Returns NULL with @errp set: code errno and "cannot open 'PATH':
 * REASON", EMEDIUMTYPE and "'PATH' is not a regular file", or the ring's
 * errors as for vswap_io_uring_new().
 */
VswapIoEngine *vswap_io_uring_open(const char *path, unsigned flags,
                                   unsigned depth, int notify_fd,
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
