/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Worker pool of the store: a bounded job queue served by threads that each
 * own a codec, and a done list that the owner drains when its eventfd fires.
 */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <glib.h>
#include <zstd.h>

#include "workers.h"

/*
 * Jobs still queued when a batch's last job finished, from which the
 * owner's wake-up for that batch waits for the next batch: one guest
 * request's worth of pages (its largest), so that the workers stay busy
 * meanwhile.
 */
#define VSWAP_POOL_COALESCE_BACKLOG 32

/*
 * The jobs of one batch still running or queued.  Allocated when the batch
 * is submitted and freed by the worker that finishes its last job: the
 * owner may reuse the jobs, and free what holds them, once they are on the
 * done list, so the count cannot live in them.
 */
struct VswapJobBatch {
    atomic_uint left;
};

typedef struct VswapPoolWorker {
    VswapWorkerPool *pool;
    pthread_t thread;
    bool started;
    VswapCodec *codec;
    int level;                  /* the level @codec compresses at */
} VswapPoolWorker;

/*
 * The queue is a mutex-protected FIFO.  The done list is a lock-free stack
 * that workers push onto and that the owner empties in one atomic exchange,
 * keeping what it took, oldest first, in a private list.  One eventfd
 * write may stand for many jobs, so each time the eventfd fires the owner
 * must call vswap_pool_take_done() until it returns NULL.
 *
 * A worker wakes the owner when it finishes a job submitted alone, or the
 * last job of a batch (vswap_pool_submit_batch()), whichever worker ran
 * the others.  An eventfd write that wakes a sleeping thread is an
 * inter-processor interrupt: 12 us of the worker's time in the VMs these
 * figures come from, as long as compressing three pages at zstd level 1.
 * Waking the owner per job cost a fifth of a worker's time; once per
 * 100 us window of finished jobs, still a tenth.  Per batch, the owner is
 * woken once per guest request, when it can complete the request, and
 * never for pages it could do nothing with.
 *
 * Under a backlog it is woken for every other batch.  When a batch's last
 * job finishes while VSWAP_POOL_COALESCE_BACKLOG jobs or more still wait
 * in the queue, the workers have work for as long as the next batch
 * takes, and waking the owner now would buy no throughput: the finished
 * batch is left to the next batch's wake-up (@unreported).  A later batch
 * always gives one: the jobs still queued end after this one, in batches
 * whose last finisher decides in turn, and the last of them finds the
 * queue empty.  (Deciding on the queue as the job was taken, instead,
 * could leave the last batch unreported: its slowest job, taken early,
 * finishes after the queue's last job was taken and done.)
 * Each wake-up costs an eventfd write, an inter-processor interrupt and
 * two context switches on a core the workers need.  A short queue wakes
 * the owner at once, as a guest with a few requests in flight needs.
 * Inline jobs (no threads) wake the owner when the stack was empty.
 *
 * Locking uses pthreads rather than GMutex/GCond: GLib implements those
 * with raw futexes, which ThreadSanitizer cannot see.
 *
 * Jobs are embedded in the caller's structures and never freed here: jobs
 * still on the done list when the pool is freed remain the caller's.
 */
struct VswapWorkerPool {
    pthread_mutex_t lock;
    pthread_cond_t cond;        /* a job was queued, or the pool stops */
    VswapJob *head;             /* queue, under @lock */
    VswapJob *tail;
    /* changed under @lock; read without it by vswap_pool_batch_finish() */
    atomic_uint queued;
    unsigned idle;              /* workers waiting on @cond */
    bool stopping;

    _Atomic(VswapJob *) done;   /* stack of finished jobs, newest first */
    atomic_uint unreported;     /* batches finished since the last wake-up */
    VswapJob *done_head;        /* owner only: taken from @done, oldest first */

    unsigned long_running;      /* vswap_pool_submit_long() threads, @lock */
    pthread_cond_t long_done;   /* one of those finished */

    atomic_int level;           /* the level jobs started from now use */
    unsigned max_queued;
    int notify_fd;
    unsigned nthreads;
    VswapPoolWorker owner;
    VswapPoolWorker workers[];
};

/*
 * Applies the pool level to the codec of @w if it changed since its last
 * job.  A relaxed load suffices: a job submitted after vswap_pool_set_level()
 * is taken from the queue under the lock, which orders the store before it.
 */
static void vswap_pool_sync_level(VswapWorkerPool *pool, VswapPoolWorker *w)
{
    int level = atomic_load_explicit(&pool->level, memory_order_relaxed);

    if (level != w->level) {
        /* Levels are validated in vswap_pool_set_level(); cannot fail. */
        vswap_codec_set_level(w->codec, level);
        w->level = level;
    }
}

static void vswap_pool_notify(VswapWorkerPool *pool)
{
    uint64_t one = 1;
    ssize_t ret;

    do {
        ret = write(pool->notify_fd, &one, sizeof(one));
    } while (ret < 0 && errno == EINTR);
    /* EAGAIN means the counter is saturated: the owner wakes up anyway. */
}

/*
 * Does not touch @job after the push: the owner may reuse it at once.
 * Returns true if the stack was empty.
 */
static bool vswap_pool_push_done(VswapWorkerPool *pool, VswapJob *job)
{
    VswapJob *old = atomic_load_explicit(&pool->done, memory_order_relaxed);

    do {
        job->next = old;
    } while (!atomic_compare_exchange_weak_explicit(&pool->done, &old, job,
                                                    memory_order_release,
                                                    memory_order_relaxed));
    return !old;
}

/*
 * Context: worker thread, after @job (of @batch) is on the done list.
 * Returns true if the owner must be woken: the job was alone, or the last
 * of its batch to finish, and the queue is short now or an earlier batch
 * is unreported.  The queue is read after the push, in the total order of
 * seq_cst operations: a job it counts is taken, so finishes, later.
 */
static bool vswap_pool_batch_finish(VswapWorkerPool *pool,
                                    VswapJobBatch *batch)
{
    if (batch) {
        /* acq_rel: the last finisher's wake-up covers the others' pushes. */
        if (atomic_fetch_sub_explicit(&batch->left, 1,
                                      memory_order_acq_rel) > 1) {
            return false;
        }
        free(batch);
        if (atomic_load(&pool->queued) >= VSWAP_POOL_COALESCE_BACKLOG &&
            atomic_fetch_add(&pool->unreported, 1) == 0) {
            return false;
        }
    }
    /* An exchange, not a store: it acquires an unreporting batch's pushes. */
    atomic_exchange(&pool->unreported, 0);
    return true;
}

static void *vswap_pool_worker_main(void *opaque)
{
    VswapPoolWorker *w = opaque;
    VswapWorkerPool *pool = w->pool;

    pthread_mutex_lock(&pool->lock);
    for (;;) {
        VswapJobBatch *batch;
        VswapJob *job;

        while (!pool->head && !pool->stopping) {
            pool->idle++;
            pthread_cond_wait(&pool->cond, &pool->lock);
            pool->idle--;
        }
        job = pool->head;
        if (!job) {
            break;              /* stopping, and the queue is drained */
        }
        pool->head = job->next;
        if (!pool->head) {
            pool->tail = NULL;
        }
        pool->queued--;
        pthread_mutex_unlock(&pool->lock);

        job->next = NULL;
        batch = job->batch;     /* @job is the owner's once pushed */
        vswap_pool_sync_level(pool, w);
        job->run(job, w->codec);
        vswap_pool_push_done(pool, job);
        if (vswap_pool_batch_finish(pool, batch)) {
            vswap_pool_notify(pool);
        }

        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/*
 * Stops and joins the started workers; queued jobs are run first.  Waits
 * for long jobs too: their threads use the pool until they finish.
 */
static void vswap_pool_stop(VswapWorkerPool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->cond);
    while (pool->long_running) {
        pthread_cond_wait(&pool->long_done, &pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);

    for (unsigned i = 0; i < pool->nthreads; i++) {
        if (pool->workers[i].started) {
            pthread_join(pool->workers[i].thread, NULL);
            pool->workers[i].started = false;
        }
    }
}

static void vswap_pool_destroy(VswapWorkerPool *pool)
{
    for (unsigned i = 0; i < pool->nthreads; i++) {
        vswap_codec_free(pool->workers[i].codec);
    }
    vswap_codec_free(pool->owner.codec);
    pthread_cond_destroy(&pool->long_done);
    pthread_cond_destroy(&pool->cond);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

/*
 * Starts @fn(@arg) on a thread that takes none of the host's signals: the
 * pool's threads belong to whatever process embeds the store, whose
 * signals are its own.  Detached if @detached.  Returns pthread_create()'s
 * result.
 */
static int vswap_pool_start_thread(pthread_t *thread, bool detached,
                                   void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    sigset_t all, old;
    int ret;

    pthread_attr_init(&attr);
    if (detached) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    }
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    ret = pthread_create(thread, &attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return ret;
}

VswapWorkerPool *vswap_pool_new(unsigned nthreads, int level,
                                unsigned max_queued, int notify_fd)
{
    VswapWorkerPool *pool;
    bool ok = true;

    pool = calloc(1, sizeof(*pool) + nthreads * sizeof(pool->workers[0]));
    if (!pool) {
        return NULL;
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->cond, NULL);
    pthread_cond_init(&pool->long_done, NULL);
    atomic_init(&pool->done, NULL);
    atomic_init(&pool->unreported, 0);
    atomic_init(&pool->queued, 0);
    atomic_init(&pool->level, level);
    pool->max_queued = max_queued;
    pool->notify_fd = notify_fd;
    pool->nthreads = nthreads;

    pool->owner.pool = pool;
    pool->owner.level = level;
    pool->owner.codec = vswap_codec_new(level);
    ok = pool->owner.codec != NULL;
    for (unsigned i = 0; ok && i < nthreads; i++) {
        pool->workers[i].pool = pool;
        pool->workers[i].level = level;
        pool->workers[i].codec = vswap_codec_new(level);
        ok = pool->workers[i].codec != NULL;
    }
    if (!ok) {
        vswap_pool_destroy(pool);
        return NULL;
    }

    for (unsigned i = 0; ok && i < nthreads; i++) {
        VswapPoolWorker *w = &pool->workers[i];

        w->started = vswap_pool_start_thread(&w->thread, false,
                                             vswap_pool_worker_main, w) == 0;
        ok = w->started;
        if (ok) {
            pthread_setname_np(w->thread, "vswap-worker");
        }
    }
    if (!ok) {
        vswap_pool_stop(pool);
        vswap_pool_destroy(pool);
        return NULL;
    }
    return pool;
}

/*
 * Workers finish the queued jobs first, so the notifier must still be open.
 * Finished jobs, whether taken or not, are not freed: they live in the
 * caller's structures, and the caller reclaims them after this returns.
 */
void vswap_pool_free(VswapWorkerPool *pool)
{
    if (!pool) {
        return;
    }
    vswap_pool_stop(pool);
    vswap_pool_destroy(pool);
}

/* Context: owner, with no threads.  Runs the jobs of @first now. */
static void vswap_pool_run_inline(VswapWorkerPool *pool, VswapJob *first)
{
    VswapCodec *codec = vswap_pool_owner_codec(pool);
    bool wake = false;

    while (first) {
        VswapJob *job = first;

        first = job->next;
        job->next = NULL;
        job->batch = NULL;
        job->run(job, codec);
        wake |= vswap_pool_push_done(pool, job);
    }
    if (wake) {
        vswap_pool_notify(pool);
    }
}

bool vswap_pool_submit_batch(VswapWorkerPool *pool, VswapJob *first,
                             unsigned n)
{
    VswapJobBatch *batch = NULL;
    VswapJob *last = first;
    unsigned wake;

    g_assert(n > 0);
    if (pool->nthreads == 0) {
        vswap_pool_run_inline(pool, first);
        return true;
    }

    if (n > 1) {
        /* Without memory for the count, each job wakes the owner. */
        batch = malloc(sizeof(*batch));
        if (batch) {
            atomic_init(&batch->left, n);
        }
    }
    for (unsigned i = 0; i < n; i++) {
        last->batch = batch;
        if (i + 1 < n) {
            last = last->next;
        }
    }
    last->next = NULL;

    pthread_mutex_lock(&pool->lock);
    if (pool->max_queued - pool->queued < n) {
        pthread_mutex_unlock(&pool->lock);
        free(batch);
        return false;
    }
    if (pool->tail) {
        pool->tail->next = first;
    } else {
        pool->head = first;
    }
    pool->tail = last;
    pool->queued += n;
    wake = MIN(pool->idle, n);
    pthread_mutex_unlock(&pool->lock);

    /* Waiters re-check the queue, so signalling after unlock is safe. */
    if (wake > 1) {
        pthread_cond_broadcast(&pool->cond);
    } else if (wake) {
        pthread_cond_signal(&pool->cond);
    }
    return true;
}

bool vswap_pool_submit(VswapWorkerPool *pool, VswapJob *job)
{
    job->next = NULL;
    return vswap_pool_submit_batch(pool, job, 1);
}

typedef struct VswapPoolLong {
    VswapWorkerPool *pool;
    VswapJob *job;
    VswapCodec *codec;
} VswapPoolLong;

static void *vswap_pool_long_main(void *opaque)
{
    VswapPoolLong *l = opaque;
    VswapWorkerPool *pool = l->pool;

    /* Named here: a detached thread's handle may be gone once it started. */
    pthread_setname_np(pthread_self(), "vswap-train");
    l->job->run(l->job, l->codec);
    vswap_codec_free(l->codec);
    vswap_pool_push_done(pool, l->job);
    g_free(l);
    vswap_pool_notify(pool);

    /* The last use of @pool: vswap_pool_stop() waits for this. */
    pthread_mutex_lock(&pool->lock);
    pool->long_running--;
    pthread_cond_signal(&pool->long_done);
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

bool vswap_pool_submit_long(VswapWorkerPool *pool, VswapJob *job)
{
    VswapPoolLong *l = g_new(VswapPoolLong, 1);
    pthread_t thread;

    *l = (VswapPoolLong) {
        .pool = pool,
        .job = job,
        .codec = vswap_codec_new(atomic_load_explicit(&pool->level,
                                                      memory_order_relaxed)),
    };
    job->next = NULL;
    job->batch = NULL;
    if (!l->codec) {
        g_free(l);
        return vswap_pool_submit(pool, job);
    }
    pthread_mutex_lock(&pool->lock);
    pool->long_running++;
    pthread_mutex_unlock(&pool->lock);

    if (vswap_pool_start_thread(&thread, true, vswap_pool_long_main, l)) {
        pthread_mutex_lock(&pool->lock);
        pool->long_running--;
        pthread_mutex_unlock(&pool->lock);
        vswap_codec_free(l->codec);
        g_free(l);
        return vswap_pool_submit(pool, job);
    }
    return true;
}

VswapJob *vswap_pool_take_done(VswapWorkerPool *pool)
{
    VswapJob *job = pool->done_head;

    if (!job) {
        VswapJob *stack = atomic_exchange_explicit(&pool->done, NULL,
                                                   memory_order_acquire);

        /* Reverse the stack so that jobs come out in completion order. */
        while (stack) {
            VswapJob *next = stack->next;

            stack->next = job;
            job = stack;
            stack = next;
        }
        if (!job) {
            return NULL;
        }
    }
    pool->done_head = job->next;
    job->next = NULL;
    return job;
}

void vswap_pool_set_level(VswapWorkerPool *pool, int level)
{
    g_return_if_fail(ZSTD_minCLevel() <= level && level <= ZSTD_maxCLevel());
    atomic_store_explicit(&pool->level, level, memory_order_relaxed);
}

unsigned vswap_pool_threads(const VswapWorkerPool *pool)
{
    return pool->nthreads;
}

VswapCodec *vswap_pool_owner_codec(VswapWorkerPool *pool)
{
    vswap_pool_sync_level(pool, &pool->owner);
    return pool->owner.codec;
}
