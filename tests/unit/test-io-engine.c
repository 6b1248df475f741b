/*
 * Unit tests of the I/O engines: the generic short-transfer layer, the
 * io_uring engine on a temporary file, and the fault-injection engine.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vswap/io-engine.h"
#include "vswap/store.h"

#define KiB 1024u
#define MiB (1024u * KiB)

/* A temporary store file and the store's notifier eventfd. */
typedef struct TestFile {
    char *path;
    int fd;
    int efd;
} TestFile;

static void test_file_open(TestFile *tf)
{
    GError *err = NULL;

    tf->fd = g_file_open_tmp("vswap-io-XXXXXX", &tf->path, &err);
    g_assert_no_error(err);
    g_assert_cmpint(tf->fd, >=, 0);
    tf->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    g_assert_cmpint(tf->efd, >=, 0);
}

static void test_file_close(TestFile *tf)
{
    close(tf->efd);
    close(tf->fd);
    g_assert_cmpint(g_unlink(tf->path), ==, 0);
    g_free(tf->path);
}

static VswapIoEngine *test_uring_new(TestFile *tf, unsigned depth)
{
    GError *err = NULL;
    VswapIoEngine *io = vswap_io_uring_new(tf->fd, depth, tf->efd, &err);

    g_assert_no_error(err);
    g_assert_nonnull(io);
    return io;
}

static void test_fill(uint8_t *buf, size_t len, guint32 seed)
{
    GRand *rand = g_rand_new_with_seed(seed);

    for (size_t i = 0; i < len; i++) {
        buf[i] = g_rand_int(rand);
    }
    g_rand_free(rand);
}

static bool test_all_zero(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i]) {
            return false;
        }
    }
    return true;
}

/* Every request's opaque points to a count of unfinished requests. */
static void test_req_done(VswapIoReq *req)
{
    unsigned *pending = req->opaque;

    g_assert_cmpuint(*pending, >, 0);
    (*pending)--;
}

static void test_submit(VswapIoEngine *io, VswapIoReq *req, VswapIoOp op,
                        uint64_t offset, void *buf, size_t len,
                        unsigned *pending)
{
    unsigned before;

    memset(req, 0, sizeof(*req));
    req->op = op;
    req->offset = offset;
    req->buf = buf;
    req->len = len;
    req->complete = test_req_done;
    req->opaque = pending;
    (*pending)++;
    before = *pending;
    vswap_io_submit(io, req);
    /* Engines never complete inside submit(). */
    g_assert_cmpuint(*pending, ==, before);
}

/* The store's event loop, reduced: poll the notifier, then process. */
static void test_wait(VswapIoEngine *io, int efd, unsigned *pending)
{
    vswap_io_flush(io);
    while (*pending) {
        struct pollfd pfd = { .fd = efd, .events = POLLIN };
        uint64_t cnt;

        if (vswap_io_process(io)) {
            continue;
        }
        g_assert_cmpint(poll(&pfd, 1, 10000), ==, 1);
        if (read(efd, &cnt, sizeof(cnt)) < 0) {
            g_assert_cmpint(errno, ==, EAGAIN);
        }
    }
    g_assert_cmpuint(vswap_io_inflight(io), ==, 0);
}

/* One request, waited for; returns its result. */
static ssize_t test_io(VswapIoEngine *io, int efd, VswapIoOp op,
                       uint64_t offset, void *buf, size_t len)
{
    VswapIoReq req;
    unsigned pending = 0;

    test_submit(io, &req, op, offset, buf, len, &pending);
    g_assert_cmpuint(pending, ==, 1);
    test_wait(io, efd, &pending);
    g_assert(req.complete == test_req_done);
    return req.result;
}

/*
 * A scripted engine: each attempt completes, at the next process(), with
 * the next of a list of results, and every attempt is recorded.  It checks
 * the generic layer alone.
 */
typedef struct TestAttempt {
    uint64_t offset;
    void *buf;
    size_t len;
} TestAttempt;

typedef struct TestScript {
    VswapIoEngine engine;
    GQueue queued;
    const ssize_t *results;
    unsigned n_results;
    unsigned next;
    GArray *attempts;
} TestScript;

static void test_script_submit(VswapIoEngine *io, VswapIoReq *req)
{
    TestScript *s = (TestScript *)io;
    TestAttempt a = {
        .offset = req->offset + req->done,
        .buf = (char *)req->buf + req->done,
        .len = req->len - req->done,
    };

    g_array_append_val(s->attempts, a);
    g_queue_push_tail(&s->queued, req);
}

static void test_script_flush(VswapIoEngine *io)
{
}

static unsigned test_script_process(VswapIoEngine *io)
{
    TestScript *s = (TestScript *)io;
    unsigned n = g_queue_get_length(&s->queued);

    for (unsigned i = 0; i < n; i++) {
        VswapIoReq *req = g_queue_pop_head(&s->queued);

        g_assert_cmpuint(s->next, <, s->n_results);
        req->result = s->results[s->next++];
        req->complete(req);
    }
    return n;
}

static unsigned test_script_inflight(VswapIoEngine *io)
{
    return g_queue_get_length(&((TestScript *)io)->queued);
}

static void test_script_free(VswapIoEngine *io)
{
    TestScript *s = (TestScript *)io;

    g_assert_true(g_queue_is_empty(&s->queued));
    g_array_free(s->attempts, true);
    g_free(s);
}

static const VswapIoEngineOps test_script_ops = {
    .submit = test_script_submit,
    .flush = test_script_flush,
    .process = test_script_process,
    .inflight = test_script_inflight,
    .free = test_script_free,
};

static TestScript *test_script_new(const ssize_t *results, unsigned n)
{
    TestScript *s = g_new0(TestScript, 1);

    s->engine.ops = &test_script_ops;
    g_queue_init(&s->queued);
    s->results = results;
    s->n_results = n;
    s->attempts = g_array_new(false, false, sizeof(TestAttempt));
    return s;
}

/* Runs one request on a script and returns its final result. */
static ssize_t test_script_run(VswapIoOp op, size_t len,
                               const ssize_t *results, unsigned n,
                               unsigned *attempts)
{
    static uint8_t buf[1000];
    TestScript *s = test_script_new(results, n);
    VswapIoReq req;
    unsigned pending = 0;
    ssize_t res;

    test_submit(&s->engine, &req, op, 5000, buf, len, &pending);
    while (pending) {
        g_assert_cmpuint(vswap_io_process(&s->engine), ==, 1);
    }
    g_assert_cmpuint(s->next, ==, n);
    *attempts = s->attempts->len;
    res = req.result;
    vswap_io_free(&s->engine);
    return res;
}

/* Short attempts are resubmitted for exactly the bytes still missing. */
static void test_generic_short_transfers(void)
{
    static const ssize_t results[] = { 300, 200, 500 };
    static uint8_t buf[1000];
    TestScript *s = test_script_new(results, G_N_ELEMENTS(results));
    VswapIoReq req;
    unsigned pending = 0;
    TestAttempt *a;

    test_submit(&s->engine, &req, VSWAP_IO_WRITE, 4096, buf, 1000, &pending);
    for (int i = 0; i < 3; i++) {
        g_assert_cmpuint(pending, ==, 1);
        g_assert_cmpuint(vswap_io_inflight(&s->engine), ==, 1);
        g_assert_cmpuint(vswap_io_process(&s->engine), ==, 1);
    }
    g_assert_cmpuint(pending, ==, 0);
    g_assert_cmpint(req.result, ==, 1000);
    g_assert(req.complete == test_req_done);

    g_assert_cmpuint(s->attempts->len, ==, 3);
    a = &g_array_index(s->attempts, TestAttempt, 0);
    g_assert_cmpuint(a[0].offset, ==, 4096);
    g_assert(a[0].buf == buf);
    g_assert_cmpuint(a[0].len, ==, 1000);
    g_assert_cmpuint(a[1].offset, ==, 4096 + 300);
    g_assert(a[1].buf == buf + 300);
    g_assert_cmpuint(a[1].len, ==, 700);
    g_assert_cmpuint(a[2].offset, ==, 4096 + 500);
    g_assert(a[2].buf == buf + 500);
    g_assert_cmpuint(a[2].len, ==, 500);
    vswap_io_free(&s->engine);
}

/* How each op turns attempts into one final result. */
static void test_generic_final_results(void)
{
    static const ssize_t write_stall[] = { 100, 0 };
    static const ssize_t read_eof[] = { 999, 0 };
    static const ssize_t fail_late[] = { 10, -EIO };
    static const ssize_t too_much[] = { 1001 };
    static const ssize_t zero[] = { 0 };
    static const ssize_t nospc[] = { -ENOSPC };
    unsigned n;

    g_assert_cmpint(test_script_run(VSWAP_IO_WRITE, 1000, write_stall, 2, &n),
                    ==, -ENOSPC);
    g_assert_cmpuint(n, ==, 2);
    g_assert_cmpint(test_script_run(VSWAP_IO_READ, 1000, read_eof, 2, &n),
                    ==, -EIO);
    g_assert_cmpint(test_script_run(VSWAP_IO_READ, 1000, fail_late, 2, &n),
                    ==, -EIO);
    g_assert_cmpint(test_script_run(VSWAP_IO_WRITE, 1000, nospc, 1, &n),
                    ==, -ENOSPC);
    g_assert_cmpint(test_script_run(VSWAP_IO_READ, 1000, zero, 1, &n),
                    ==, -EIO);
    g_assert_cmpint(test_script_run(VSWAP_IO_READ, 1000, too_much, 1, &n),
                    ==, -EIO);
    /* An empty transfer is whole at once. */
    g_assert_cmpint(test_script_run(VSWAP_IO_WRITE, 0, zero, 1, &n), ==, 0);
    /* PUNCH reports len, FSYNC 0, on success. */
    g_assert_cmpint(test_script_run(VSWAP_IO_PUNCH, 1000, zero, 1, &n),
                    ==, 1000);
    g_assert_cmpint(test_script_run(VSWAP_IO_FSYNC, 0, zero, 1, &n), ==, 0);
    g_assert_cmpint(test_script_run(VSWAP_IO_PUNCH, 1000, nospc, 1, &n),
                    ==, -ENOSPC);
}

/* 1 MiB in one request, written then read back. */
static void test_uring_one_mib(void)
{
    TestFile tf;
    VswapIoEngine *io;
    g_autofree uint8_t *wbuf = g_malloc(MiB);
    g_autofree uint8_t *rbuf = g_malloc0(MiB);

    test_file_open(&tf);
    io = test_uring_new(&tf, 8);
    test_fill(wbuf, MiB, 1);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_WRITE, 0, wbuf, MiB),
                    ==, MiB);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_READ, 0, rbuf, MiB),
                    ==, MiB);
    g_assert_cmpmem(rbuf, MiB, wbuf, MiB);
    vswap_io_free(io);
    test_file_close(&tf);
}

/* Submits @n requests of @len bytes at consecutive offsets, then waits. */
static void test_batch(VswapIoEngine *io, int efd, VswapIoOp op, uint8_t *buf,
                       unsigned n, size_t len)
{
    g_autofree VswapIoReq *reqs = g_new(VswapIoReq, n);
    unsigned pending = 0;

    for (unsigned i = 0; i < n; i++) {
        test_submit(io, &reqs[i], op, (uint64_t)i * len, buf + i * len, len,
                    &pending);
    }
    g_assert_cmpuint(vswap_io_inflight(io), ==, n);
    test_wait(io, efd, &pending);
    for (unsigned i = 0; i < n; i++) {
        g_assert_cmpint(reqs[i].result, ==, len);
    }
}

/* 64 concurrent 16 KiB writes, then 64 concurrent reads. */
static void test_uring_concurrent(void)
{
    TestFile tf;
    VswapIoEngine *io;
    g_autofree uint8_t *wbuf = g_malloc(64 * 16 * KiB);
    g_autofree uint8_t *rbuf = g_malloc0(64 * 16 * KiB);

    test_file_open(&tf);
    io = test_uring_new(&tf, 64);
    test_fill(wbuf, 64 * 16 * KiB, 2);
    test_batch(io, tf.efd, VSWAP_IO_WRITE, wbuf, 64, 16 * KiB);
    test_batch(io, tf.efd, VSWAP_IO_READ, rbuf, 64, 16 * KiB);
    g_assert_cmpmem(rbuf, 64 * 16 * KiB, wbuf, 64 * 16 * KiB);
    vswap_io_free(io);
    test_file_close(&tf);
}

/* Depth 4 and 100 requests: the rest waits on the overflow queue. */
static void test_uring_overflow(void)
{
    TestFile tf;
    VswapIoEngine *io;
    g_autofree uint8_t *wbuf = g_malloc(100 * 4 * KiB);
    g_autofree uint8_t *rbuf = g_malloc0(100 * 4 * KiB);

    test_file_open(&tf);
    io = test_uring_new(&tf, 4);
    test_fill(wbuf, 100 * 4 * KiB, 3);
    test_batch(io, tf.efd, VSWAP_IO_WRITE, wbuf, 100, 4 * KiB);
    test_batch(io, tf.efd, VSWAP_IO_READ, rbuf, 100, 4 * KiB);
    g_assert_cmpmem(rbuf, 100 * 4 * KiB, wbuf, 100 * 4 * KiB);
    vswap_io_free(io);
    test_file_close(&tf);
}

/* A request resubmitted from its own completion, as callers chain them. */
typedef struct TestChain {
    VswapIoEngine *io;
    VswapIoReq req;
    unsigned left;
    bool finished;
} TestChain;

static void test_chain_done(VswapIoReq *req)
{
    TestChain *c = req->opaque;

    g_assert_cmpint(req->result, ==, 4 * KiB);
    if (!c->left) {
        c->finished = true;
        return;
    }
    c->left--;
    req->offset += 4 * KiB;
    req->buf = (char *)req->buf + 4 * KiB;
    vswap_io_submit(c->io, req);
    vswap_io_flush(c->io);
}

static void test_uring_chained(void)
{
    TestFile tf;
    TestChain c = { .left = 31 };
    g_autofree uint8_t *wbuf = g_malloc(32 * 4 * KiB);
    g_autofree uint8_t *rbuf = g_malloc0(32 * 4 * KiB);

    test_file_open(&tf);
    c.io = test_uring_new(&tf, 2);
    test_fill(wbuf, 32 * 4 * KiB, 4);
    c.req = (VswapIoReq) {
        .op = VSWAP_IO_WRITE, .buf = wbuf, .len = 4 * KiB,
        .complete = test_chain_done, .opaque = &c,
    };
    vswap_io_submit(c.io, &c.req);
    vswap_io_flush(c.io);
    while (!c.finished) {
        struct pollfd pfd = { .fd = tf.efd, .events = POLLIN };
        uint64_t cnt;

        g_assert_cmpint(poll(&pfd, 1, 10000), ==, 1);
        g_assert_cmpint(read(tf.efd, &cnt, sizeof(cnt)), ==, sizeof(cnt));
        vswap_io_process(c.io);
    }
    g_assert_cmpuint(vswap_io_inflight(c.io), ==, 0);
    g_assert_cmpint(pread(tf.fd, rbuf, 32 * 4 * KiB, 0), ==, 32 * 4 * KiB);
    g_assert_cmpmem(rbuf, 32 * 4 * KiB, wbuf, 32 * 4 * KiB);
    vswap_io_free(c.io);
    test_file_close(&tf);
}

/* A punched hole reads as zeros, keeps the size, and frees the blocks. */
static void test_uring_punch(void)
{
    TestFile tf;
    VswapIoEngine *io;
    g_autofree uint8_t *wbuf = g_malloc(MiB);
    g_autofree uint8_t *rbuf = g_malloc0(MiB);
    struct stat before, after;
    ssize_t res;

    test_file_open(&tf);
    io = test_uring_new(&tf, 8);
    test_fill(wbuf, MiB, 5);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_WRITE, 0, wbuf, MiB),
                    ==, MiB);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_FSYNC, 0, NULL, 0), ==, 0);
    g_assert_cmpint(fstat(tf.fd, &before), ==, 0);

    res = test_io(io, tf.efd, VSWAP_IO_PUNCH, 256 * KiB, NULL, 512 * KiB);
    if (res == -EOPNOTSUPP) {
        g_test_skip("the file system cannot punch holes");
        goto out;
    }
    g_assert_cmpint(res, ==, 512 * KiB);
    g_assert_cmpint(fstat(tf.fd, &after), ==, 0);
    g_assert_cmpint(after.st_size, ==, MiB);
    g_test_message("st_blocks %lld -> %lld", (long long)before.st_blocks,
                   (long long)after.st_blocks);
    /* Only where the file system allocated plainly (no compression). */
    if ((uint64_t)before.st_blocks * 512 >= MiB) {
        g_assert_cmpint((before.st_blocks - after.st_blocks) * 512,
                        >=, 512 * KiB);
    }

    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_READ, 0, rbuf, MiB),
                    ==, MiB);
    g_assert_cmpmem(rbuf, 256 * KiB, wbuf, 256 * KiB);
    g_assert_true(test_all_zero(rbuf + 256 * KiB, 512 * KiB));
    g_assert_cmpmem(rbuf + 768 * KiB, 256 * KiB, wbuf + 768 * KiB, 256 * KiB);
out:
    vswap_io_free(io);
    test_file_close(&tf);
}

static void test_uring_fsync(void)
{
    TestFile tf;
    VswapIoEngine *io;
    uint8_t buf[4096];

    test_file_open(&tf);
    io = test_uring_new(&tf, 8);
    memset(buf, 0x5a, sizeof(buf));
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_WRITE, 0, buf, sizeof(buf)),
                    ==, sizeof(buf));
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_FSYNC, 0, NULL, 0), ==, 0);
    vswap_io_free(io);
    test_file_close(&tf);
}

/* Reading at or across the end of file is -EIO, even after a short read. */
static void test_uring_read_past_eof(void)
{
    TestFile tf;
    VswapIoEngine *io;
    uint8_t buf[8192];

    test_file_open(&tf);
    io = test_uring_new(&tf, 8);
    memset(buf, 0xa5, sizeof(buf));
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_WRITE, 0, buf, sizeof(buf)),
                    ==, sizeof(buf));
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_READ, 8192, buf, 4096),
                    ==, -EIO);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_READ, 6144, buf, 4096),
                    ==, -EIO);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_READ, 4096, buf, 4096),
                    ==, 4096);
    vswap_io_free(io);
    test_file_close(&tf);
}

/* TRUNCATE and the size queries; truncation completes from process(). */
static void test_uring_truncate_and_sizes(void)
{
    TestFile tf;
    VswapIoEngine *io;
    uint8_t buf[8192];

    test_file_open(&tf);
    io = test_uring_new(&tf, 8);
    g_assert_cmpuint(vswap_io_align(io), ==, 1);
    g_assert_cmpint(vswap_io_getlength(io), ==, 0);
    memset(buf, 0x3c, sizeof(buf));
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_WRITE, 0, buf, sizeof(buf)),
                    ==, sizeof(buf));
    g_assert_cmpint(vswap_io_getlength(io), ==, 8192);
    g_assert_cmpint(vswap_io_allocated(io), >=, 8192);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_TRUNCATE, 4096, NULL, 0),
                    ==, 0);
    g_assert_cmpint(vswap_io_getlength(io), ==, 4096);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_TRUNCATE, 0, NULL, 0), ==, 0);
    g_assert_cmpint(vswap_io_getlength(io), ==, 0);
    g_assert_cmpint(vswap_io_allocated(io), ==, 0);
    vswap_io_free(io);
    test_file_close(&tf);
}

/* A SHORT_OK read ends at the end of the file with what it read. */
static void test_uring_read_short_ok(void)
{
    TestFile tf;
    VswapIoEngine *io;
    uint8_t buf[8192];
    VswapIoReq req;

    test_file_open(&tf);
    io = test_uring_new(&tf, 8);
    memset(buf, 0x11, sizeof(buf));
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_WRITE, 0, buf, 6000), ==, 6000);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_READ, 4096, buf, 4096),
                    ==, -EIO);
    req = (VswapIoReq) {
        .op = VSWAP_IO_READ, .offset = 4096, .buf = buf, .len = 4096,
        .flags = VSWAP_IO_REQ_SHORT_OK,
    };
    g_assert_cmpint(vswap_io_run(io, tf.efd, &req), ==, 6000 - 4096);
    vswap_io_free(io);
    test_file_close(&tf);
}

/* vswap_io_uring_open: creating, refusing, and owning the file. */
static void test_uring_open(void)
{
    g_autofree char *dir = g_dir_make_tmp("vswap-io-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "store", NULL);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    GError *err = NULL;
    VswapIoEngine *io;
    uint8_t buf[4096] = { 7 };

    g_assert_null(vswap_io_uring_open(path, 0, 8, efd, &err));
    g_assert_cmpint(err->code, ==, ENOENT);
    g_assert_nonnull(strstr(err->message, "cannot open"));
    g_clear_error(&err);
    g_assert_null(vswap_io_uring_open(dir, VSWAP_IO_OPEN_READONLY, 8, efd,
                                      &err));
    g_assert_cmpint(err->code, ==, EMEDIUMTYPE);
    g_assert_nonnull(strstr(err->message, "is not a regular file"));
    g_clear_error(&err);

    io = vswap_io_uring_open(path, VSWAP_IO_OPEN_CREATE, 8, efd, &err);
    g_assert_no_error(err);
    g_assert_cmpint(test_io(io, efd, VSWAP_IO_WRITE, 0, buf, sizeof(buf)),
                    ==, sizeof(buf));
    vswap_io_free(io);
    io = vswap_io_uring_open(path, VSWAP_IO_OPEN_READONLY, 8, efd, &err);
    g_assert_no_error(err);
    g_assert_cmpint(vswap_io_getlength(io), ==, sizeof(buf));
    g_assert_cmpint(test_io(io, efd, VSWAP_IO_WRITE, 0, buf, sizeof(buf)),
                    ==, -EBADF);
    vswap_io_free(io);

    /* Not every file system has O_DIRECT (tmpfs); where it does, align. */
    io = vswap_io_uring_open(path, VSWAP_IO_OPEN_DIRECT, 8, efd, &err);
    if (io) {
        g_assert_cmpuint(vswap_io_align(io), ==, 4096);
        vswap_io_free(io);
    } else {
        g_test_message("O_DIRECT: %s", err->message);
        g_clear_error(&err);
    }
    close(efd);
    g_assert_cmpint(g_unlink(path), ==, 0);
    g_assert_cmpint(g_rmdir(dir), ==, 0);
}

/* An impossible ring or op is an error, not a crash. */
static void test_uring_bad_args(void)
{
    TestFile tf;
    GError *err = NULL;
    VswapIoEngine *io;

    test_file_open(&tf);
    g_assert_null(vswap_io_uring_new(tf.fd, 0, tf.efd, &err));
    g_assert_error(err, VSWAP_STORE_ERROR,
                   EINVAL);
    g_clear_error(&err);
    g_assert_null(vswap_io_uring_new(tf.fd, 8, -1, &err));
    g_assert_error(err, VSWAP_STORE_ERROR,
                   EBADF);
    g_clear_error(&err);
    g_assert_null(vswap_io_uring_new(tf.fd, 0, tf.efd, NULL));

    /* An op the engine does not know fails in the kernel, like a bad SQE. */
    io = test_uring_new(&tf, 4);
    g_assert_cmpint(test_io(io, tf.efd, (VswapIoOp)42, 0, NULL, 0),
                    ==, -EINVAL);
    vswap_io_free(io);
    test_file_close(&tf);
}

/* free() with requests in the ring and queued completes every one first. */
static void test_uring_free_inflight(void)
{
    TestFile tf;
    VswapIoEngine *io;
    g_autofree uint8_t *wbuf = g_malloc(64 * 16 * KiB);
    g_autofree uint8_t *rbuf = g_malloc0(64 * 16 * KiB);
    g_autofree VswapIoReq *reqs = g_new(VswapIoReq, 64);
    unsigned pending = 0;

    test_file_open(&tf);
    io = test_uring_new(&tf, 16);
    test_fill(wbuf, 64 * 16 * KiB, 6);
    for (unsigned i = 0; i < 64; i++) {
        test_submit(io, &reqs[i], VSWAP_IO_WRITE, i * 16 * KiB,
                    wbuf + i * 16 * KiB, 16 * KiB, &pending);
    }
    vswap_io_flush(io);
    g_assert_cmpuint(vswap_io_inflight(io), ==, 64);
    vswap_io_free(io);
    g_assert_cmpuint(pending, ==, 0);
    for (unsigned i = 0; i < 64; i++) {
        g_assert_cmpint(reqs[i].result, ==, 16 * KiB);
    }
    g_assert_cmpint(pread(tf.fd, rbuf, 64 * 16 * KiB, 0), ==, 64 * 16 * KiB);
    g_assert_cmpmem(rbuf, 64 * 16 * KiB, wbuf, 64 * 16 * KiB);
    test_file_close(&tf);
}

/* A fault engine over io_uring on a fresh file. */
static VswapIoEngine *test_faulty_new(TestFile *tf)
{
    test_file_open(tf);
    return vswap_io_faulty_new(test_uring_new(tf, 8), tf->efd);
}

static void test_faulty_enospc(void)
{
    TestFile tf;
    VswapIoEngine *io = test_faulty_new(&tf);
    VswapIoFault f = { .op = VSWAP_IO_WRITE, .error = -ENOSPC };
    uint8_t buf[4096] = { 1 };
    struct stat st;

    vswap_io_faulty_add(io, &f);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_WRITE, 0, buf, sizeof(buf)),
                    ==, -ENOSPC);
    g_assert_cmpuint(vswap_io_faulty_injected(io), ==, 1);
    /* The write never reached the file. */
    g_assert_cmpint(fstat(tf.fd, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 0);
    /* Reads are not affected. */
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_READ, 0, buf, sizeof(buf)),
                    ==, -EIO);
    g_assert_cmpuint(vswap_io_faulty_injected(io), ==, 1);
    vswap_io_free(io);
    test_file_close(&tf);
}

static void test_faulty_eio_read(void)
{
    TestFile tf;
    VswapIoEngine *io = test_faulty_new(&tf);
    VswapIoFault f = { .op = VSWAP_IO_READ, .error = -EIO };
    uint8_t buf[4096];

    memset(buf, 7, sizeof(buf));
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_WRITE, 0, buf, sizeof(buf)),
                    ==, sizeof(buf));
    vswap_io_faulty_add(io, &f);
    for (int i = 0; i < 3; i++) {
        g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_READ, 0, buf,
                                sizeof(buf)), ==, -EIO);
    }
    g_assert_cmpuint(vswap_io_faulty_injected(io), ==, 3);
    vswap_io_faulty_clear(io);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_READ, 0, buf, sizeof(buf)),
                    ==, sizeof(buf));
    g_assert_cmpuint(vswap_io_faulty_injected(io), ==, 3);
    vswap_io_free(io);
    test_file_close(&tf);
}

/* Short transfers are completed by the generic layer; the data is whole. */
static void test_faulty_short_transfer(void)
{
    TestFile tf;
    VswapIoEngine *io = test_faulty_new(&tf);
    VswapIoFault once = {
        .op = VSWAP_IO_WRITE, .count = 1, .short_transfer = true,
    };
    VswapIoFault always_w = { .op = VSWAP_IO_WRITE, .short_transfer = true };
    VswapIoFault always_r = { .op = VSWAP_IO_READ, .short_transfer = true };
    g_autofree uint8_t *wbuf = g_malloc(MiB);
    g_autofree uint8_t *rbuf = g_malloc0(MiB);
    unsigned injected;

    test_fill(wbuf, MiB, 7);
    vswap_io_faulty_add(io, &once);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_WRITE, 0, wbuf, MiB),
                    ==, MiB);
    g_assert_cmpuint(vswap_io_faulty_injected(io), ==, 1);
    g_assert_cmpint(pread(tf.fd, rbuf, MiB, 0), ==, MiB);
    g_assert_cmpmem(rbuf, MiB, wbuf, MiB);

    /* Halving every attempt still ends, in about log2(len) attempts. */
    vswap_io_faulty_clear(io);
    vswap_io_faulty_add(io, &always_w);
    vswap_io_faulty_add(io, &always_r);
    test_fill(wbuf, 64 * KiB, 8);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_WRITE, 4096, wbuf, 64 * KiB),
                    ==, 64 * KiB);
    injected = vswap_io_faulty_injected(io);
    g_assert_cmpuint(injected, >=, 1 + 16);
    g_assert_cmpuint(injected, <=, 1 + 18);
    memset(rbuf, 0, MiB);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_READ, 4096, rbuf, 64 * KiB),
                    ==, 64 * KiB);
    g_assert_cmpuint(vswap_io_faulty_injected(io), >, injected);
    g_assert_cmpmem(rbuf, 64 * KiB, wbuf, 64 * KiB);
    vswap_io_free(io);
    test_file_close(&tf);
}

/* skip 2, count 1: only the third matching write fails. */
static void test_faulty_skip_count(void)
{
    TestFile tf;
    VswapIoEngine *io = test_faulty_new(&tf);
    VswapIoFault f = {
        .op = VSWAP_IO_WRITE, .skip = 2, .count = 1, .error = -EIO,
    };
    uint8_t buf[4096] = { 0 };

    vswap_io_faulty_add(io, &f);
    for (int i = 0; i < 5; i++) {
        g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_WRITE, i * 4096, buf,
                                sizeof(buf)),
                        ==, i == 2 ? -EIO : (ssize_t)sizeof(buf));
    }
    g_assert_cmpuint(vswap_io_faulty_injected(io), ==, 1);
    vswap_io_free(io);
    test_file_close(&tf);
}

/* A spent fault stops matching, so the next one in order takes over. */
static void test_faulty_order(void)
{
    TestFile tf;
    VswapIoEngine *io = test_faulty_new(&tf);
    VswapIoFault first = { .op = VSWAP_IO_WRITE, .count = 1, .error = -ENOSPC };
    VswapIoFault second = { .op = VSWAP_IO_WRITE, .count = 2, .error = -EIO };
    uint8_t buf[512] = { 0 };

    vswap_io_faulty_add(io, &first);
    vswap_io_faulty_add(io, &second);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_WRITE, 0, buf, 512),
                    ==, -ENOSPC);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_WRITE, 0, buf, 512),
                    ==, -EIO);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_WRITE, 0, buf, 512),
                    ==, -EIO);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_WRITE, 0, buf, 512), ==, 512);
    g_assert_cmpuint(vswap_io_faulty_injected(io), ==, 3);
    vswap_io_free(io);
    test_file_close(&tf);
}

static size_t test_count_diff(const uint8_t *a, const uint8_t *b, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        n += a[i] != b[i];
    }
    return n;
}

/* A corrupted read succeeds with exactly one byte changed. */
static void test_faulty_corrupt(void)
{
    TestFile tf;
    VswapIoEngine *io = test_faulty_new(&tf);
    VswapIoFault f = { .op = VSWAP_IO_READ, .count = 1, .corrupt = true };
    VswapIoFault on_write = { .op = VSWAP_IO_WRITE, .corrupt = true };
    g_autofree uint8_t *wbuf = g_malloc(64 * KiB);
    g_autofree uint8_t *rbuf = g_malloc0(64 * KiB);

    test_fill(wbuf, 64 * KiB, 9);
    /* Corrupting a write means nothing: it is never injected. */
    vswap_io_faulty_add(io, &on_write);
    vswap_io_faulty_add(io, &f);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_WRITE, 0, wbuf, 64 * KiB),
                    ==, 64 * KiB);
    g_assert_cmpuint(vswap_io_faulty_injected(io), ==, 0);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_READ, 0, rbuf, 64 * KiB),
                    ==, 64 * KiB);
    g_assert_cmpuint(vswap_io_faulty_injected(io), ==, 1);
    g_assert_cmpuint(test_count_diff(rbuf, wbuf, 64 * KiB), ==, 1);
    /* The file itself is intact. */
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_READ, 0, rbuf, 64 * KiB),
                    ==, 64 * KiB);
    g_assert_cmpuint(test_count_diff(rbuf, wbuf, 64 * KiB), ==, 0);
    vswap_io_free(io);
    test_file_close(&tf);
}

/* Only requests starting in [offset_lo, offset_hi) match. */
static void test_faulty_offset_range(void)
{
    static const struct {
        uint64_t offset;
        bool fails;
    } cases[] = {
        { 0, false }, { 60 * KiB, false }, { 64 * KiB, true },
        { 124 * KiB, true }, { 128 * KiB, false }, { 1 * MiB, false },
    };
    TestFile tf;
    VswapIoEngine *io = test_faulty_new(&tf);
    VswapIoFault f = {
        .op = VSWAP_IO_WRITE, .offset_lo = 64 * KiB, .offset_hi = 128 * KiB,
        .error = -EIO,
    };
    uint8_t buf[4096] = { 0 };

    vswap_io_faulty_add(io, &f);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_WRITE, cases[i].offset,
                                buf, sizeof(buf)),
                        ==, cases[i].fails ? -EIO : (ssize_t)sizeof(buf));
    }
    g_assert_cmpuint(vswap_io_faulty_injected(io), ==, 2);
    vswap_io_free(io);
    test_file_close(&tf);
}

/* TRUNCATE fails like any request; the size queries pass through. */
static void test_faulty_truncate(void)
{
    TestFile tf;
    VswapIoEngine *io = test_faulty_new(&tf);
    VswapIoFault f = { .op = VSWAP_IO_TRUNCATE, .error = -EIO, .count = 1 };
    uint8_t buf[4096] = { 0 };

    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_WRITE, 0, buf, sizeof(buf)),
                    ==, sizeof(buf));
    vswap_io_faulty_add(io, &f);
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_TRUNCATE, 0, NULL, 0),
                    ==, -EIO);
    g_assert_cmpint(vswap_io_getlength(io), ==, sizeof(buf));
    g_assert_cmpint(test_io(io, tf.efd, VSWAP_IO_TRUNCATE, 0, NULL, 0), ==, 0);
    g_assert_cmpint(vswap_io_getlength(io), ==, 0);
    g_assert_cmpint(vswap_io_allocated(io), ==, 0);
    g_assert_cmpuint(vswap_io_faulty_injected(io), ==, 1);
    vswap_io_free(io);
    test_file_close(&tf);
}

/* Deferred faults and inner requests all complete when the engine goes. */
static void test_faulty_free_inflight(void)
{
    TestFile tf;
    VswapIoEngine *io = test_faulty_new(&tf);
    VswapIoFault f = {
        .op = VSWAP_IO_WRITE, .offset_hi = 32 * 4 * KiB, .error = -EIO,
    };
    VswapIoFault s = { .op = VSWAP_IO_READ, .short_transfer = true };
    g_autofree uint8_t *buf = g_malloc0(64 * 4 * KiB);
    g_autofree uint8_t *rbuf = g_malloc0(4 * KiB);
    g_autofree VswapIoReq *reqs = g_new(VswapIoReq, 65);
    unsigned pending = 0;

    vswap_io_faulty_add(io, &f);
    vswap_io_faulty_add(io, &s);
    for (unsigned i = 0; i < 64; i++) {
        test_submit(io, &reqs[i], VSWAP_IO_WRITE, i * 4 * KiB,
                    buf + i * 4 * KiB, 4 * KiB, &pending);
    }
    test_submit(io, &reqs[64], VSWAP_IO_READ, 0, rbuf, 4 * KiB, &pending);
    vswap_io_flush(io);
    g_assert_cmpuint(vswap_io_inflight(io), ==, 65);
    vswap_io_free(io);
    g_assert_cmpuint(pending, ==, 0);
    for (unsigned i = 0; i < 64; i++) {
        g_assert_cmpint(reqs[i].result, ==, i < 32 ? -EIO : (ssize_t)(4 * KiB));
    }
    /* Whatever the read found, it was reported, and nothing leaked. */
    g_assert_cmpint(reqs[64].result, <=, 4 * KiB);
    test_file_close(&tf);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/io/generic/short-transfers",
                    test_generic_short_transfers);
    g_test_add_func("/io/generic/final-results", test_generic_final_results);
    g_test_add_func("/io/uring/one-mib", test_uring_one_mib);
    g_test_add_func("/io/uring/concurrent", test_uring_concurrent);
    g_test_add_func("/io/uring/overflow", test_uring_overflow);
    g_test_add_func("/io/uring/chained", test_uring_chained);
    g_test_add_func("/io/uring/punch", test_uring_punch);
    g_test_add_func("/io/uring/fsync", test_uring_fsync);
    g_test_add_func("/io/uring/read-past-eof", test_uring_read_past_eof);
    g_test_add_func("/io/uring/truncate-and-sizes",
                    test_uring_truncate_and_sizes);
    g_test_add_func("/io/uring/read-short-ok", test_uring_read_short_ok);
    g_test_add_func("/io/uring/open", test_uring_open);
    g_test_add_func("/io/uring/bad-args", test_uring_bad_args);
    g_test_add_func("/io/uring/free-inflight", test_uring_free_inflight);
    g_test_add_func("/io/faulty/enospc", test_faulty_enospc);
    g_test_add_func("/io/faulty/eio-read", test_faulty_eio_read);
    g_test_add_func("/io/faulty/short-transfer", test_faulty_short_transfer);
    g_test_add_func("/io/faulty/skip-count", test_faulty_skip_count);
    g_test_add_func("/io/faulty/order", test_faulty_order);
    g_test_add_func("/io/faulty/corrupt", test_faulty_corrupt);
    g_test_add_func("/io/faulty/offset-range", test_faulty_offset_range);
    g_test_add_func("/io/faulty/truncate", test_faulty_truncate);
    g_test_add_func("/io/faulty/free-inflight", test_faulty_free_inflight);
    return g_test_run();
}
