/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the worker pool: every job runs once and comes back through
 * the eventfd and done list, a batch wakes the owner once, when its last
 * job is done, the queue bound holds, levels change, and the pool stops
 * cleanly.
 */

#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "workers.h"

#define PAGE VSWAP_STORE_PAGE_SIZE

/*
 * The gate uses pthreads rather than GMutex/GCond so that ThreadSanitizer,
 * which cannot see GLib's futex-based locks, checks this test too.
 */
typedef struct TestGate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned started;           /* gated jobs that are running */
    bool open;
} TestGate;

typedef struct TestJob {
    VswapJob job;
    const uint8_t *page;
    TestGate *gate;             /* if set, wait for it to open first */
    uint8_t out[PAGE];
    size_t len;
    VswapPayloadKind kind;
    VswapCodec *codec;          /* the codec the job ran with */
    pthread_t thread;
    atomic_uint runs;
    unsigned taken;             /* times vswap_pool_take_done returned it */
} TestJob;

static TestJob *vswap_pool_test_job(VswapJob *job)
{
    return (TestJob *)((char *)job - offsetof(TestJob, job));
}

static void vswap_pool_test_gate_init(TestGate *gate)
{
    pthread_mutex_init(&gate->lock, NULL);
    pthread_cond_init(&gate->cond, NULL);
    gate->started = 0;
    gate->open = false;
}

static void vswap_pool_test_gate_destroy(TestGate *gate)
{
    pthread_cond_destroy(&gate->cond);
    pthread_mutex_destroy(&gate->lock);
}

static void vswap_pool_test_gate_wait_started(TestGate *gate, unsigned n)
{
    pthread_mutex_lock(&gate->lock);
    while (gate->started < n) {
        pthread_cond_wait(&gate->cond, &gate->lock);
    }
    pthread_mutex_unlock(&gate->lock);
}

static void vswap_pool_test_gate_open(TestGate *gate)
{
    pthread_mutex_lock(&gate->lock);
    gate->open = true;
    pthread_cond_broadcast(&gate->cond);
    pthread_mutex_unlock(&gate->lock);
}

static void vswap_pool_test_run(VswapJob *job, VswapCodec *codec)
{
    TestJob *t = vswap_pool_test_job(job);

    if (t->gate) {
        pthread_mutex_lock(&t->gate->lock);
        t->gate->started++;
        pthread_cond_broadcast(&t->gate->cond);
        while (!t->gate->open) {
            pthread_cond_wait(&t->gate->cond, &t->gate->lock);
        }
        pthread_mutex_unlock(&t->gate->lock);
    }
    t->len = vswap_codec_compress(codec, t->page, t->out, &t->kind);
    t->codec = codec;
    t->thread = pthread_self();
    atomic_fetch_add(&t->runs, 1);
}

static void vswap_pool_test_job_init(TestJob *t, const uint8_t *page)
{
    memset(t, 0, sizeof(*t));
    t->job.run = vswap_pool_test_run;
    t->page = page;
    atomic_init(&t->runs, 0);
}

static int vswap_pool_test_eventfd(void)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

    g_assert_cmpint(fd, >=, 0);
    return fd;
}

/* Takes every finished job; returns how many. */
static unsigned vswap_pool_test_take_all(VswapWorkerPool *pool)
{
    unsigned n = 0;
    VswapJob *job;

    while ((job = vswap_pool_take_done(pool))) {
        TestJob *t = vswap_pool_test_job(job);

        g_assert_null(job->next);
        t->taken++;
        n++;
    }
    return n;
}

/* Waits for the eventfd, as an event loop would, then takes finished jobs. */
static unsigned vswap_pool_test_wait_done(VswapWorkerPool *pool, int efd)
{
    struct pollfd pfd = { .fd = efd, .events = POLLIN };
    uint64_t count;
    int ret;

    do {
        ret = poll(&pfd, 1, 30000);
    } while (ret < 0 && errno == EINTR);
    g_assert_cmpint(ret, ==, 1);
    g_assert_cmpint(read(efd, &count, sizeof(count)), ==, sizeof(count));
    g_assert_cmpuint(count, >=, 1);
    return vswap_pool_test_take_all(pool);
}

static bool vswap_pool_test_readable(int efd)
{
    struct pollfd pfd = { .fd = efd, .events = POLLIN };

    return poll(&pfd, 1, 0) == 1;
}

/* Pages that compress well, poorly and not at all. */
static uint8_t *vswap_pool_test_pages(size_t npages)
{
    static const char words[][8] = {
        "swap", "page", "zstd", "qemu", "virtio", "guest", "slot", "ring",
    };
    uint8_t *pages = g_malloc(npages * PAGE);

    for (size_t p = 0; p < npages; p++) {
        uint8_t *page = pages + p * PAGE;

        switch (p % 4) {
        case 0:
            for (size_t i = 0; i < PAGE; i++) {
                page[i] = g_test_rand_int();
            }
            break;
        case 1:
            memset(page, 0, PAGE);
            for (size_t i = 0; i < PAGE / 2; i++) {
                page[i] = g_test_rand_int();
            }
            break;
        default:
            for (size_t i = 0; i < PAGE; ) {
                const char *w = words[g_test_rand_int_range(0, 8)];

                for (size_t k = 0; w[k] && i < PAGE; k++) {
                    page[i++] = w[k];
                }
                if (i < PAGE) {
                    page[i++] = ' ';
                }
            }
            break;
        }
    }
    return pages;
}

/* Submits every job, backing off to the eventfd when the queue is full. */
static void vswap_pool_test_run_all(VswapWorkerPool *pool, int efd,
                                    TestJob *jobs, size_t njobs,
                                    unsigned *rejected)
{
    size_t next = 0, done = 0;

    while (done < njobs) {
        while (next < njobs && vswap_pool_submit(pool, &jobs[next].job)) {
            next++;
        }
        if (next < njobs && rejected) {
            (*rejected)++;
        }
        done += vswap_pool_test_wait_done(pool, efd);
        g_assert_cmpuint(done, <=, next);
    }
}

static void test_compress_jobs(gconstpointer data)
{
    unsigned nthreads = GPOINTER_TO_UINT(data);
    size_t njobs = 1024;
    g_autofree uint8_t *pages = vswap_pool_test_pages(njobs);
    g_autofree TestJob *jobs = g_new(TestJob, njobs);
    g_autofree uint8_t *back = g_malloc(PAGE);
    int efd = vswap_pool_test_eventfd();
    VswapWorkerPool *pool = vswap_pool_new(nthreads, 1, 16, efd);
    VswapCodec *ref = vswap_codec_new(1);
    VswapCodec *owner;
    unsigned rejected = 0, on_workers = 0;
    uint8_t ref_out[PAGE];

    g_assert_nonnull(pool);
    g_assert_cmpuint(vswap_pool_threads(pool), ==, nthreads);
    owner = vswap_pool_owner_codec(pool);
    g_assert_nonnull(owner);
    g_assert_null(vswap_pool_take_done(pool));
    g_assert_false(vswap_pool_test_readable(efd));
    for (size_t i = 0; i < njobs; i++) {
        vswap_pool_test_job_init(&jobs[i], pages + i * PAGE);
    }

    vswap_pool_test_run_all(pool, efd, jobs, njobs, &rejected);

    g_assert_null(vswap_pool_take_done(pool));
    for (size_t i = 0; i < njobs; i++) {
        TestJob *t = &jobs[i];
        VswapPayloadKind kind;
        size_t len = vswap_codec_compress(ref, t->page, ref_out, &kind);

        g_assert_cmpuint(atomic_load(&t->runs), ==, 1);
        g_assert_cmpuint(t->taken, ==, 1);
        g_assert_cmpint(t->kind, ==, kind);
        g_assert_cmpmem(t->out, t->len, ref_out, len);
        g_assert_cmpint(vswap_codec_decompress(ref, t->kind, t->out, t->len,
                                               back), ==, 0);
        g_assert_cmpmem(back, PAGE, t->page, PAGE);
        if (nthreads == 0) {
            g_assert_true(t->codec == owner);
            g_assert_true(pthread_equal(t->thread, pthread_self()));
        } else {
            g_assert_true(t->codec != owner);
            on_workers += !pthread_equal(t->thread, pthread_self());
        }
    }
    if (nthreads) {
        g_assert_cmpuint(on_workers, ==, njobs);
        g_assert_cmpuint(rejected, >, 0);
    } else {
        g_assert_cmpuint(rejected, ==, 0);
    }
    g_test_message("%u threads: %zu jobs, queue full %u times",
                   nthreads, njobs, rejected);

    vswap_pool_free(pool);
    vswap_codec_free(ref);
    close(efd);
}

/* With no threads, the job is done when submit returns, and signalled. */
static void test_inline(void)
{
    g_autofree uint8_t *pages = vswap_pool_test_pages(3);
    TestJob jobs[3];
    int efd = vswap_pool_test_eventfd();
    VswapWorkerPool *pool = vswap_pool_new(0, 1, 0, efd);

    g_assert_nonnull(pool);
    for (int i = 0; i < 3; i++) {
        vswap_pool_test_job_init(&jobs[i], pages + i * PAGE);
        g_assert_true(vswap_pool_submit(pool, &jobs[i].job));
        g_assert_cmpuint(atomic_load(&jobs[i].runs), ==, 1);
        g_assert_true(vswap_pool_test_readable(efd));
    }
    /* Completion order is kept. */
    for (int i = 0; i < 3; i++) {
        g_assert_true(vswap_pool_take_done(pool) == &jobs[i].job);
    }
    g_assert_null(vswap_pool_take_done(pool));
    vswap_pool_free(pool);
    close(efd);
}

static void test_queue_full(void)
{
    g_autofree uint8_t *pages = vswap_pool_test_pages(8);
    TestJob jobs[8];
    TestGate gate;
    int efd = vswap_pool_test_eventfd();
    VswapWorkerPool *pool = vswap_pool_new(2, 1, 4, efd);
    unsigned done = 0;

    g_assert_nonnull(pool);
    vswap_pool_test_gate_init(&gate);
    for (int i = 0; i < 8; i++) {
        vswap_pool_test_job_init(&jobs[i], pages + i * PAGE);
    }
    jobs[0].gate = &gate;
    jobs[1].gate = &gate;

    /* Both workers block in a job; running jobs do not count as queued. */
    g_assert_true(vswap_pool_submit(pool, &jobs[0].job));
    g_assert_true(vswap_pool_submit(pool, &jobs[1].job));
    vswap_pool_test_gate_wait_started(&gate, 2);
    for (int i = 2; i < 6; i++) {
        g_assert_true(vswap_pool_submit(pool, &jobs[i].job));
    }
    g_assert_false(vswap_pool_submit(pool, &jobs[6].job));
    g_assert_false(vswap_pool_submit(pool, &jobs[6].job));
    g_assert_null(jobs[6].job.next);
    g_assert_null(vswap_pool_take_done(pool));
    g_assert_false(vswap_pool_test_readable(efd));
    for (int i = 0; i < 6; i++) {
        g_assert_cmpuint(atomic_load(&jobs[i].runs), ==, 0);
    }

    vswap_pool_test_gate_open(&gate);
    while (done < 6) {
        done += vswap_pool_test_wait_done(pool, efd);
    }
    g_assert_cmpuint(done, ==, 6);

    /* Room again. */
    g_assert_true(vswap_pool_submit(pool, &jobs[6].job));
    g_assert_true(vswap_pool_submit(pool, &jobs[7].job));
    while (done < 8) {
        done += vswap_pool_test_wait_done(pool, efd);
    }
    for (int i = 0; i < 8; i++) {
        g_assert_cmpuint(atomic_load(&jobs[i].runs), ==, 1);
        g_assert_cmpuint(jobs[i].taken, ==, 1);
    }
    vswap_pool_free(pool);
    vswap_pool_test_gate_destroy(&gate);
    close(efd);
}

/*
 * A pool of @nthreads with a queue of @max_queued, and @njobs jobs on
 * pages of their own, none gated yet.
 */
typedef struct TestPool {
    uint8_t *pages;
    TestJob *jobs;
    TestGate gate;
    int efd;
    VswapWorkerPool *pool;
} TestPool;

static void vswap_pool_test_setup(TestPool *t, unsigned nthreads,
                                  unsigned max_queued, unsigned njobs)
{
    t->pages = vswap_pool_test_pages(njobs);
    t->jobs = g_new(TestJob, njobs);
    for (unsigned i = 0; i < njobs; i++) {
        vswap_pool_test_job_init(&t->jobs[i], t->pages + i * PAGE);
    }
    vswap_pool_test_gate_init(&t->gate);
    t->efd = vswap_pool_test_eventfd();
    t->pool = vswap_pool_new(nthreads, 1, max_queued, t->efd);
    g_assert_nonnull(t->pool);
}

/* Frees the pool (which waits for its jobs), then the rest. */
static void vswap_pool_test_teardown(TestPool *t)
{
    vswap_pool_free(t->pool);
    vswap_pool_test_gate_destroy(&t->gate);
    close(t->efd);
    g_free(t->jobs);
    g_free(t->pages);
}

/* Links @n jobs for vswap_pool_submit_batch(); returns the first. */
static VswapJob *vswap_pool_test_link(TestJob *jobs, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        jobs[i].job.next = i + 1 < n ? &jobs[i + 1].job : NULL;
    }
    return &jobs[0].job;
}

/* Waits until @job has run, without taking it. */
static void vswap_pool_test_wait_ran(TestJob *job)
{
    for (unsigned i = 0; atomic_load(&job->runs) == 0; i++) {
        g_assert_cmpuint(i, <, 30000);
        g_usleep(1000);
    }
}

/*
 * A batch wakes the owner once, when its last job is done, whichever
 * worker ran it: here the first job, held at a gate while the others run.
 */
static void test_batch(gconstpointer data)
{
    unsigned nthreads = GPOINTER_TO_UINT(data);
    TestPool t;
    TestJob *jobs;
    unsigned done = 0;
    uint64_t count;

    vswap_pool_test_setup(&t, nthreads, 8, 8);
    jobs = t.jobs;
    jobs[0].gate = &t.gate;
    g_assert_true(vswap_pool_submit_batch(t.pool,
                                          vswap_pool_test_link(jobs, 8), 8));
    vswap_pool_test_gate_wait_started(&t.gate, 1);
    if (nthreads > 1) {
        /* The other worker runs the rest while the first job waits. */
        for (int i = 1; i < 8; i++) {
            vswap_pool_test_wait_ran(&jobs[i]);
        }
        g_usleep(10000);
        g_assert_false(vswap_pool_test_readable(t.efd));
    }
    vswap_pool_test_gate_open(&t.gate);
    while (done < 8) {
        done += vswap_pool_test_wait_done(t.pool, t.efd);
    }
    /* Every wake-up was read by now: there was exactly one. */
    g_assert_cmpint(read(t.efd, &count, sizeof(count)), <, 0);
    g_assert_cmpint(errno, ==, EAGAIN);
    for (int i = 0; i < 8; i++) {
        g_assert_cmpuint(atomic_load(&jobs[i].runs), ==, 1);
        g_assert_cmpuint(jobs[i].taken, ==, 1);
    }
    vswap_pool_test_teardown(&t);
}

/*
 * Under a backlog the owner is woken for every other batch, and never
 * left without a wake-up for a finished batch: eight batches of 32 queued
 * behind a gated job, on one worker, make four wake-ups (besides the
 * gated job's own), the last when the queue has run dry.
 */
static void test_batch_backlog(void)
{
    enum { NBATCH = 8, BATCH = 32, NJOBS = 1 + NBATCH * BATCH };
    TestPool t;
    TestJob *jobs;
    unsigned done = 0;
    uint64_t count;

    vswap_pool_test_setup(&t, 1, NJOBS, NJOBS);
    jobs = t.jobs;
    jobs[0].gate = &t.gate;
    g_assert_true(vswap_pool_submit(t.pool, &jobs[0].job));
    vswap_pool_test_gate_wait_started(&t.gate, 1);
    for (unsigned b = 0; b < NBATCH; b++) {
        TestJob *first = &jobs[1 + b * BATCH];

        g_assert_true(vswap_pool_submit_batch(
                          t.pool, vswap_pool_test_link(first, BATCH), BATCH));
    }
    vswap_pool_test_gate_open(&t.gate);
    vswap_pool_test_wait_ran(&jobs[NJOBS - 1]);
    /* The last wake-up follows the last job's push: wait for it. */
    while (!vswap_pool_test_readable(t.efd)) {
        g_usleep(1000);
    }
    g_usleep(10000);
    g_assert_cmpint(read(t.efd, &count, sizeof(count)), ==, sizeof(count));
    g_assert_cmpuint(count, ==, 1 + NBATCH / 2);
    done = vswap_pool_test_take_all(t.pool);
    g_assert_cmpuint(done, ==, NJOBS);
    g_assert_false(vswap_pool_test_readable(t.efd));
    vswap_pool_test_teardown(&t);
}

/*
 * A batch whose slow job was taken under a backlog and finishes after
 * everything else: the owner is still woken for it.  Two gated jobs hold
 * both workers while a batch of 2 and two of 32 are queued; one worker
 * then holds the first job of the 2 at a second gate while the other runs
 * all the rest, and the owner takes those.  Deciding on the queue as the
 * job was taken (64 jobs behind it) instead of as it finishes (none)
 * left this batch without a wake-up.
 */
static void test_batch_backlog_slow_job(void)
{
    enum { NJOBS = 2 + 2 + 2 * 32 };
    TestPool t;
    TestJob *jobs;
    TestGate late;
    unsigned done = 0;

    vswap_pool_test_setup(&t, 2, NJOBS, NJOBS);
    vswap_pool_test_gate_init(&late);
    jobs = t.jobs;
    jobs[0].gate = &t.gate;
    jobs[1].gate = &t.gate;
    jobs[2].gate = &late;
    g_assert_true(vswap_pool_submit(t.pool, &jobs[0].job));
    g_assert_true(vswap_pool_submit(t.pool, &jobs[1].job));
    vswap_pool_test_gate_wait_started(&t.gate, 2);
    g_assert_true(vswap_pool_submit_batch(
                      t.pool, vswap_pool_test_link(&jobs[2], 2), 2));
    g_assert_true(vswap_pool_submit_batch(
                      t.pool, vswap_pool_test_link(&jobs[4], 32), 32));
    g_assert_true(vswap_pool_submit_batch(
                      t.pool, vswap_pool_test_link(&jobs[36], 32), 32));
    vswap_pool_test_gate_open(&t.gate);
    vswap_pool_test_gate_wait_started(&late, 1);
    while (done < NJOBS - 1) {
        done += vswap_pool_test_wait_done(t.pool, t.efd);
    }
    g_assert_cmpuint(atomic_load(&jobs[2].runs), ==, 0);
    vswap_pool_test_gate_open(&late);
    done += vswap_pool_test_wait_done(t.pool, t.efd);
    g_assert_cmpuint(done, ==, NJOBS);
    vswap_pool_test_teardown(&t);
    vswap_pool_test_gate_destroy(&late);
}

/*
 * Batches of every size from 1 to 64 pages, 256 of them at once on two
 * workers, whose last jobs finish in any order: the owner, waiting only
 * on its eventfd, takes every job.  A wake-up lost to a race between the
 * two workers' counts would leave it waiting (the poll in
 * vswap_pool_test_wait_done() fails after 30 s).
 */
static void test_batch_backlog_liveness(void)
{
    enum { NBATCH = 256, MAXB = 64 };
    TestPool t;
    unsigned njobs = 0, done = 0;

    for (unsigned b = 0; b < NBATCH; b++) {
        njobs += 1 + b % MAXB;
    }
    vswap_pool_test_setup(&t, 2, njobs, njobs);
    for (unsigned b = 0, i = 0; b < NBATCH; b++) {
        unsigned n = 1 + b % MAXB;

        g_assert_true(vswap_pool_submit_batch(
                          t.pool, vswap_pool_test_link(&t.jobs[i], n), n));
        i += n;
    }
    while (done < njobs) {
        done += vswap_pool_test_wait_done(t.pool, t.efd);
    }
    g_assert_cmpuint(done, ==, njobs);
    for (unsigned i = 0; i < njobs; i++) {
        g_assert_cmpuint(atomic_load(&t.jobs[i].runs), ==, 1);
    }
    vswap_pool_test_teardown(&t);
}

/* With no threads, a batch runs in submit, in order, and wakes once. */
static void test_batch_inline(void)
{
    g_autofree uint8_t *pages = vswap_pool_test_pages(3);
    TestJob jobs[3];
    int efd = vswap_pool_test_eventfd();
    VswapWorkerPool *pool = vswap_pool_new(0, 1, 0, efd);
    uint64_t count;

    g_assert_nonnull(pool);
    for (int i = 0; i < 3; i++) {
        vswap_pool_test_job_init(&jobs[i], pages + i * PAGE);
    }
    g_assert_true(vswap_pool_submit_batch(pool, vswap_pool_test_link(jobs, 3),
                                          3));
    g_assert_cmpint(read(efd, &count, sizeof(count)), ==, sizeof(count));
    g_assert_cmpuint(count, ==, 1);
    for (int i = 0; i < 3; i++) {
        g_assert_cmpuint(atomic_load(&jobs[i].runs), ==, 1);
        g_assert_true(vswap_pool_take_done(pool) == &jobs[i].job);
    }
    g_assert_null(vswap_pool_take_done(pool));
    vswap_pool_free(pool);
    close(efd);
}

/* A batch that does not fit is refused whole; one that fits is taken. */
static void test_batch_full(void)
{
    TestPool t;
    TestJob *jobs;
    unsigned done = 0;

    vswap_pool_test_setup(&t, 1, 4, 6);
    jobs = t.jobs;
    jobs[0].gate = &t.gate;
    g_assert_true(vswap_pool_submit(t.pool, &jobs[0].job));
    vswap_pool_test_gate_wait_started(&t.gate, 1);

    g_assert_false(vswap_pool_submit_batch(t.pool,
                                           vswap_pool_test_link(&jobs[1], 5),
                                           5));
    g_assert_true(vswap_pool_submit_batch(t.pool,
                                          vswap_pool_test_link(&jobs[1], 4),
                                          4));
    g_assert_false(vswap_pool_submit(t.pool, &jobs[5].job));
    vswap_pool_test_gate_open(&t.gate);
    while (done < 5) {
        done += vswap_pool_test_wait_done(t.pool, t.efd);
    }
    for (int i = 0; i < 5; i++) {
        g_assert_cmpuint(atomic_load(&jobs[i].runs), ==, 1);
    }
    g_assert_cmpuint(atomic_load(&jobs[5].runs), ==, 0);
    vswap_pool_test_teardown(&t);
}

static gpointer vswap_pool_test_open_later(gpointer opaque)
{
    g_usleep(100 * 1000);
    vswap_pool_test_gate_open(opaque);
    return NULL;
}

/*
 * A long job runs on a thread of its own: with the one worker, or with
 * none, the jobs submitted after it finish while it is still running,
 * and the pool is freed only after it finished.
 */
static void test_long_job(gconstpointer data)
{
    unsigned nthreads = GPOINTER_TO_UINT(data);
    TestPool t;
    TestJob *jobs;
    unsigned done = 0;

    vswap_pool_test_setup(&t, nthreads, 4, 4);
    jobs = t.jobs;
    jobs[0].gate = &t.gate;
    g_assert_true(vswap_pool_submit_long(t.pool, &jobs[0].job));
    vswap_pool_test_gate_wait_started(&t.gate, 1);
    g_assert_true(vswap_pool_submit_batch(t.pool,
                                          vswap_pool_test_link(&jobs[1], 3),
                                          3));
    while (done < 3) {
        done += vswap_pool_test_wait_done(t.pool, t.efd);
    }
    for (int i = 1; i < 4; i++) {
        g_assert_cmpuint(jobs[i].taken, ==, 1);
    }
    g_assert_cmpuint(atomic_load(&jobs[0].runs), ==, 0);

    vswap_pool_test_gate_open(&t.gate);
    done += vswap_pool_test_wait_done(t.pool, t.efd);
    g_assert_cmpuint(done, ==, 4);
    g_assert_cmpuint(jobs[0].taken, ==, 1);
    g_assert_cmpuint(atomic_load(&jobs[0].runs), ==, 1);
    g_assert_false(pthread_equal(jobs[0].thread, pthread_self()));
    g_assert_true(jobs[0].codec != vswap_pool_owner_codec(t.pool));
    vswap_pool_test_teardown(&t);
}

/* Freeing the pool waits for a long job still running. */
static void test_long_job_free(void)
{
    TestPool t;
    GThread *opener;

    vswap_pool_test_setup(&t, 1, 4, 1);
    t.jobs[0].gate = &t.gate;
    g_assert_true(vswap_pool_submit_long(t.pool, &t.jobs[0].job));
    vswap_pool_test_gate_wait_started(&t.gate, 1);
    opener = g_thread_new("open-later", vswap_pool_test_open_later, &t.gate);
    vswap_pool_free(t.pool);
    t.pool = NULL;
    g_assert_cmpuint(atomic_load(&t.jobs[0].runs), ==, 1);
    g_thread_join(opener);
    vswap_pool_test_teardown(&t);
}

/* A page whose size depends on the level: words from a small vocabulary. */
static void vswap_pool_test_text_page(uint8_t *page)
{
    static const char words[][12] = {
        "allocation", "swapcache", "writeback", "reclaim", "compaction",
        "migration", "folio", "hugepage", "pagefault", "mapping",
    };

    for (size_t i = 0; i < PAGE; ) {
        const char *w = words[g_test_rand_int_range(0, G_N_ELEMENTS(words))];

        for (size_t k = 0; w[k] && i < PAGE; k++) {
            page[i++] = w[k];
        }
        if (i < PAGE) {
            page[i++] = g_test_rand_int_range(0, 8) ? ' ' : '\n';
        }
    }
}

static void test_set_level(gconstpointer data)
{
    unsigned nthreads = GPOINTER_TO_UINT(data);
    static const int levels[] = { 1, 19, -5, 1 };
    g_autofree uint8_t *page = g_malloc(PAGE);
    uint8_t ref_out[PAGE], owner_out[PAGE];
    size_t sizes[G_N_ELEMENTS(levels)], len;
    int efd = vswap_pool_test_eventfd();
    VswapWorkerPool *pool = vswap_pool_new(nthreads, 1, 8, efd);
    VswapPayloadKind kind;

    g_assert_nonnull(pool);
    vswap_pool_test_text_page(page);
    for (size_t l = 0; l < G_N_ELEMENTS(levels); l++) {
        VswapCodec *ref = vswap_codec_new(levels[l]);
        TestJob jobs[8];
        size_t ref_len = vswap_codec_compress(ref, page, ref_out, &kind);

        g_assert_cmpint(kind, ==, VSWAP_PAYLOAD_ZSTD);
        vswap_pool_set_level(pool, levels[l]);
        /* Enough jobs that every worker runs some. */
        for (int i = 0; i < 8; i++) {
            vswap_pool_test_job_init(&jobs[i], page);
        }
        vswap_pool_test_run_all(pool, efd, jobs, 8, NULL);
        for (int i = 0; i < 8; i++) {
            g_assert_cmpint(jobs[i].kind, ==, VSWAP_PAYLOAD_ZSTD);
            g_assert_cmpmem(jobs[i].out, jobs[i].len, ref_out, ref_len);
        }
        /* The owner codec follows too. */
        len = vswap_codec_compress(vswap_pool_owner_codec(pool), page,
                                   owner_out, &kind);
        g_assert_cmpmem(owner_out, len, ref_out, ref_len);
        sizes[l] = ref_len;
        vswap_codec_free(ref);
    }
    g_test_message("%u threads: text page at levels 1, 19, -5: %zu, %zu, %zu "
                   "bytes", nthreads, sizes[0], sizes[1], sizes[2]);
    g_assert_cmpuint(sizes[1], <, sizes[0]);
    g_assert_cmpuint(sizes[2], >, sizes[0]);
    g_assert_cmpuint(sizes[3], ==, sizes[0]);

    if (g_test_undefined()) {
        /* Out of range: refused with a critical warning, level unchanged. */
        g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*level*");
        vswap_pool_set_level(pool, 1000);
        g_test_assert_expected_messages();
    }
    g_assert_null(vswap_pool_new(nthreads, 1000, 8, efd));
    vswap_pool_free(pool);
    close(efd);
}

/* Freeing the pool waits for the running job and runs the queued ones. */
static void test_free_with_queued(gconstpointer data)
{
    unsigned nthreads = GPOINTER_TO_UINT(data);
    g_autofree uint8_t *pages = vswap_pool_test_pages(6);
    TestJob jobs[6];
    TestGate gate;
    int efd = vswap_pool_test_eventfd();
    VswapWorkerPool *pool = vswap_pool_new(nthreads, 1, 8, efd);
    GThread *opener;

    g_assert_nonnull(pool);
    vswap_pool_test_gate_init(&gate);
    for (int i = 0; i < 6; i++) {
        vswap_pool_test_job_init(&jobs[i], pages + i * PAGE);
        jobs[i].gate = i < (int)nthreads ? &gate : NULL;
        g_assert_true(vswap_pool_submit(pool, &jobs[i].job));
    }
    vswap_pool_test_gate_wait_started(&gate, nthreads);

    opener = g_thread_new("open-later", vswap_pool_test_open_later, &gate);
    vswap_pool_free(pool);
    for (int i = 0; i < 6; i++) {
        g_assert_cmpuint(atomic_load(&jobs[i].runs), ==, 1);
    }
    g_thread_join(opener);
    vswap_pool_test_gate_destroy(&gate);
    close(efd);

    /* Freeing a pool with nothing to do, and NULL. */
    efd = vswap_pool_test_eventfd();
    vswap_pool_free(vswap_pool_new(nthreads, 1, 8, efd));
    vswap_pool_free(NULL);
    close(efd);
}

/* Informational: page-by-page compression through the pool. */
static void test_corpus_speed(void)
{
    const char *dir = g_getenv("VSWAP_CORPUS");
    const char *name = "python-heap.pages";
    g_autofree char *path = NULL;
    g_autofree char *data = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree TestJob *jobs = NULL;
    gsize size;
    size_t npages, total = 0;
    int efd;

    if (!dir || !*dir) {
        g_test_skip("VSWAP_CORPUS is not set");
        return;
    }
    path = g_build_filename(dir, name, NULL);
    if (!g_file_get_contents(path, &data, &size, &err)) {
        g_test_skip(err->message);
        return;
    }
    npages = size / PAGE;
    jobs = g_new(TestJob, npages);
    efd = vswap_pool_test_eventfd();

    for (unsigned nthreads = 0; nthreads <= 2; nthreads++) {
        double best = G_MAXDOUBLE;

        for (int run = 0; run < 3; run++) {
            VswapWorkerPool *pool = vswap_pool_new(nthreads, 1, 64, efd);
            gint64 t0;

            for (size_t i = 0; i < npages; i++) {
                vswap_pool_test_job_init(&jobs[i],
                                         (uint8_t *)data + i * PAGE);
            }
            t0 = g_get_monotonic_time();
            vswap_pool_test_run_all(pool, efd, jobs, npages, NULL);
            best = MIN(best, (double)(g_get_monotonic_time() - t0));
            vswap_pool_free(pool);
        }
        total = 0;
        for (size_t i = 0; i < npages; i++) {
            g_assert_cmpuint(atomic_load(&jobs[i].runs), ==, 1);
            total += jobs[i].len;
        }
        g_test_message("%s, level 1, %u thread%s%s: %.0f MB/s, ratio %.2f",
                       name, nthreads, nthreads == 1 ? "" : "s",
                       nthreads ? "" : " (inline)",
                       npages * PAGE / MAX(best, 1),
                       (double)npages * PAGE / total);
    }
    close(efd);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (unsigned n = 0; n <= 2; n++) {
        g_autofree char *jobs = g_strdup_printf("/workers/compress/%u", n);
        g_autofree char *level = g_strdup_printf("/workers/set-level/%u", n);

        g_test_add_data_func(jobs, GUINT_TO_POINTER(n), test_compress_jobs);
        g_test_add_data_func(level, GUINT_TO_POINTER(n), test_set_level);
    }
    g_test_add_func("/workers/inline", test_inline);
    g_test_add_func("/workers/queue-full", test_queue_full);
    for (unsigned n = 1; n <= 2; n++) {
        g_autofree char *path = g_strdup_printf("/workers/batch/%u", n);

        g_test_add_data_func(path, GUINT_TO_POINTER(n), test_batch);
    }
    g_test_add_func("/workers/batch-inline", test_batch_inline);
    g_test_add_func("/workers/batch-backlog", test_batch_backlog);
    g_test_add_func("/workers/batch-backlog-liveness",
                    test_batch_backlog_liveness);
    g_test_add_func("/workers/batch-backlog-slow-job",
                    test_batch_backlog_slow_job);
    for (unsigned n = 0; n <= 1; n++) {
        g_autofree char *path = g_strdup_printf("/workers/long-job/%u", n);

        g_test_add_data_func(path, GUINT_TO_POINTER(n), test_long_job);
    }
    g_test_add_func("/workers/long-job-free", test_long_job_free);
    g_test_add_func("/workers/batch-full", test_batch_full);
    for (unsigned n = 0; n <= 2; n++) {
        g_autofree char *path = g_strdup_printf("/workers/free-queued/%u", n);

        g_test_add_data_func(path, GUINT_TO_POINTER(n), test_free_with_queued);
    }
    g_test_add_func("/workers/corpus-speed", test_corpus_speed);
    return g_test_run();
}
