/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Worker pool of the store: runs CPU-heavy jobs (zstd) off the owner thread.
 *
 * The owner thread submits jobs into a bounded queue; worker threads run
 * them, each with its own VswapCodec, and put them on a done list; the pool
 * then writes to the notifier eventfd so that the owner's event loop wakes
 * up and collects them.  The owner never blocks on the pool: a full queue
 * is reported so that the caller keeps the work for later.
 *
 * With zero threads the pool runs each job inline in vswap_pool_submit() and
 * still reports it through the done list, so callers have one code path.
 */
#ifndef VSWAP_WORKERS_H
#define VSWAP_WORKERS_H

#include <stdbool.h>

#include "codec.h"

typedef struct VswapJob VswapJob;
typedef void VswapJobFunc(VswapJob *job, VswapCodec *codec);

typedef struct VswapJobBatch VswapJobBatch;

/* Embed in the caller's own job structure. */
struct VswapJob {
    VswapJobFunc *run;          /* runs on a worker (or inline) */
    VswapJob *next;             /* owned by the pool while queued */
    VswapJobBatch *batch;       /* owned by the pool */
};

typedef struct VswapWorkerPool VswapWorkerPool;

/*
 * vswap_pool_new: start @nthreads workers (0 = inline) with codecs at zstd
 * @level, queueing at most @max_queued jobs.  Completion is signalled by
 * writing 1 to the eventfd @notify_fd (owned by the caller).
 * Returns NULL if a codec or thread cannot be created.
 */
VswapWorkerPool *vswap_pool_new(unsigned nthreads, int level,
                                unsigned max_queued, int notify_fd);

/* Stop the workers after they finish queued jobs; done jobs are dropped. */
void vswap_pool_free(VswapWorkerPool *pool);

/*
 * Returns false (job not taken) when the queue already holds max_queued.
 * The owner is woken when the job is done.
 */
bool vswap_pool_submit(VswapWorkerPool *pool, VswapJob *job);

/*
 * Submit the @n jobs of the list @first (linked by ->next) together, or
 * none of them: returns false when they do not all fit in the queue.  The
 * owner is woken once, when the last of them is done, not per job: an
 * owner that needs all of them before it can act (the pages of one guest
 * request) is not woken for nothing.
 */
bool vswap_pool_submit_batch(VswapWorkerPool *pool, VswapJob *first,
                             unsigned n);

/*
 * Run @job, which takes long (dictionary training: a good part of a
 * second), on a thread of its own rather than on a worker or inline, so
 * that the page jobs behind it, or the owner's event loop, do not wait
 * for it.  The owner is woken when it is done.  Falls back to
 * vswap_pool_submit() if no thread can be started.
 */
bool vswap_pool_submit_long(VswapWorkerPool *pool, VswapJob *job);

/* Returns a finished job, or NULL.  Owner thread only. */
VswapJob *vswap_pool_take_done(VswapWorkerPool *pool);

/* Change the compression level of every worker codec for jobs run later. */
void vswap_pool_set_level(VswapWorkerPool *pool, int level);

unsigned vswap_pool_threads(const VswapWorkerPool *pool);

/* The owner thread's own codec, for inline work. */
VswapCodec *vswap_pool_owner_codec(VswapWorkerPool *pool);

#endif /* VSWAP_WORKERS_H */
