/*
 * The fault-injection engine: wraps another engine and makes chosen
 * requests fail, transfer short or read corrupted data, so that tests drive
 * the store's error paths through the same code as real failures.  Any
 * request type can fail (TRUNCATE and FSYNC too); the size queries pass
 * through.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <errno.h>
#include <stddef.h>
#include <unistd.h>

#include "vswap/io-engine.h"

/* A fault and how much of it is used up. */
typedef struct VswapIoFaultyRule {
    VswapIoFault fault;
    unsigned skipped;           /* matches let through so far */
    unsigned injected;          /* matches this rule injected into */
} VswapIoFaultyRule;

typedef struct VswapIoFaulty {
    VswapIoEngine engine;
    VswapIoEngine *inner;
    int notify_fd;
    GArray *rules;              /* VswapIoFaultyRule, in the order added */
    GQueue deferred;            /* VswapIoReq * with an injected error */
    unsigned injected;
    bool closing;               /* free() runs: pass everything through */
} VswapIoFaulty;

/*
 * What the inner engine sees of a request whose transfer is shortened or
 * whose data is corrupted: the original stays untouched until the shadow
 * completes, so the inner engine's view of done and len stays its own.
 */
typedef struct VswapIoFaultyShadow {
    VswapIoReq req;
    VswapIoReq *orig;
    bool corrupt;
} VswapIoFaultyShadow;

static const VswapIoEngineOps vswap_io_faulty_ops;

static VswapIoFaulty *vswap_io_faulty_of(VswapIoEngine *io)
{
    g_assert(io->ops == &vswap_io_faulty_ops);
    return (VswapIoFaulty *)((char *)io - offsetof(VswapIoFaulty, engine));
}

/*
 * Whether @f applies to @req at all.  Faults match on the offset the
 * caller gave, so the remainder of a short transfer matches like the
 * request it belongs to (and counts as one more match).  A fault that
 * would inject nothing into this op, e.g. corrupt on a write, never
 * matches, so it cannot use up skips or counts.
 */
static bool vswap_io_faulty_matches(const VswapIoFault *f,
                                    const VswapIoReq *req)
{
    bool rw = req->op == VSWAP_IO_READ || req->op == VSWAP_IO_WRITE;

    if (f->op != req->op) {
        return false;
    }
    if (f->offset_hi &&
        (req->offset < f->offset_lo || req->offset >= f->offset_hi)) {
        return false;
    }
    return f->error ||
           (f->short_transfer && rw) ||
           (f->corrupt && req->op == VSWAP_IO_READ);
}

/*
 * The rule to inject for @req, or NULL to let it through.  The first rule
 * that matches decides: while it has skips left, the request goes through
 * untouched.  A rule that has injected its count is spent and no longer
 * matches, so later rules can take over (e.g. one ENOSPC, then one EIO).
 */
static VswapIoFaultyRule *vswap_io_faulty_pick(VswapIoFaulty *s,
                                               const VswapIoReq *req)
{
    for (guint i = 0; i < s->rules->len; i++) {
        VswapIoFaultyRule *r = &g_array_index(s->rules, VswapIoFaultyRule, i);

        if (r->fault.count && r->injected >= r->fault.count) {
            continue;
        }
        if (!vswap_io_faulty_matches(&r->fault, req)) {
            continue;
        }
        if (r->skipped < r->fault.skip) {
            r->skipped++;
            return NULL;
        }
        r->injected++;
        return r;
    }
    return NULL;
}

static void vswap_io_faulty_notify(VswapIoFaulty *s)
{
    uint64_t one = 1;

    if (write(s->notify_fd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is already signalled, which is enough. */
    }
}

/* The inner engine finished a shadow: report it as the original's attempt. */
static void vswap_io_faulty_shadow_done(VswapIoReq *sreq)
{
    VswapIoFaultyShadow *sh = sreq->opaque;
    VswapIoReq *orig = sh->orig;

    orig->result = sreq->result;
    if (sh->corrupt && sreq->result > 0) {
        ((uint8_t *)sreq->buf)[sreq->result / 2] ^= 0xff;
    }
    g_free(sh);
    orig->complete(orig);
}

static void vswap_io_faulty_submit(VswapIoEngine *io, VswapIoReq *req)
{
    VswapIoFaulty *s = vswap_io_faulty_of(io);
    VswapIoFaultyRule *r = s->closing ? NULL : vswap_io_faulty_pick(s, req);
    VswapIoFaultyShadow *sh;
    size_t remaining = req->len - req->done;

    if (!r) {
        s->inner->ops->submit(s->inner, req);
        return;
    }
    s->injected++;

    if (r->fault.error) {
        req->result = r->fault.error;
        g_queue_push_tail(&s->deferred, req);
        vswap_io_faulty_notify(s);
        return;
    }

    /* Short transfer or corrupt read: the inner engine does the I/O. */
    sh = g_new0(VswapIoFaultyShadow, 1);
    sh->orig = req;
    sh->corrupt = r->fault.corrupt && req->op == VSWAP_IO_READ;
    sh->req.op = req->op;
    sh->req.flags = req->flags;
    sh->req.offset = req->offset + req->done;
    sh->req.buf = (char *)req->buf + req->done;
    sh->req.len = remaining;
    if (r->fault.short_transfer) {
        sh->req.len = MAX(remaining / 2, MIN(remaining, 1));
    }
    sh->req.complete = vswap_io_faulty_shadow_done;
    sh->req.opaque = sh;
    s->inner->ops->submit(s->inner, &sh->req);
}

static void vswap_io_faulty_flush(VswapIoEngine *io)
{
    VswapIoFaulty *s = vswap_io_faulty_of(io);

    s->inner->ops->flush(s->inner);
}

/*
 * Injected errors complete first.  Only those queued before this call run
 * here: completions that submit again and hit a fault queue for the next
 * call, which the notifier announces, so process() always terminates.
 */
static unsigned vswap_io_faulty_complete_deferred(VswapIoFaulty *s)
{
    unsigned n = g_queue_get_length(&s->deferred);

    for (unsigned i = 0; i < n; i++) {
        VswapIoReq *req = g_queue_pop_head(&s->deferred);

        req->complete(req);
    }
    return n;
}

static unsigned vswap_io_faulty_process(VswapIoEngine *io)
{
    VswapIoFaulty *s = vswap_io_faulty_of(io);
    unsigned n = vswap_io_faulty_complete_deferred(s);

    return n + s->inner->ops->process(s->inner);
}

static unsigned vswap_io_faulty_inflight(VswapIoEngine *io)
{
    VswapIoFaulty *s = vswap_io_faulty_of(io);

    return g_queue_get_length(&s->deferred) + s->inner->ops->inflight(s->inner);
}

static int64_t vswap_io_faulty_getlength(VswapIoEngine *io)
{
    VswapIoFaulty *s = vswap_io_faulty_of(io);

    return vswap_io_getlength(s->inner);
}

static int64_t vswap_io_faulty_allocated(VswapIoEngine *io)
{
    VswapIoFaulty *s = vswap_io_faulty_of(io);

    return vswap_io_allocated(s->inner);
}

/*
 * Like the inner engine's free(), completes every request first.  From
 * here on, submissions bypass the faults, so nothing new is deferred while
 * the inner engine drains.
 */
static void vswap_io_faulty_free(VswapIoEngine *io)
{
    VswapIoFaulty *s = vswap_io_faulty_of(io);

    s->closing = true;
    while (!g_queue_is_empty(&s->deferred)) {
        vswap_io_faulty_complete_deferred(s);
    }
    vswap_io_free(s->inner);
    g_array_free(s->rules, true);
    g_free(s);
}

static const VswapIoEngineOps vswap_io_faulty_ops = {
    .submit = vswap_io_faulty_submit,
    .flush = vswap_io_faulty_flush,
    .process = vswap_io_faulty_process,
    .inflight = vswap_io_faulty_inflight,
    .getlength = vswap_io_faulty_getlength,
    .allocated = vswap_io_faulty_allocated,
    .free = vswap_io_faulty_free,
};

VswapIoEngine *vswap_io_faulty_new(VswapIoEngine *inner, int notify_fd)
{
    VswapIoFaulty *s = g_new0(VswapIoFaulty, 1);

    s->engine.ops = &vswap_io_faulty_ops;
    s->engine.align = inner->align;
    s->engine.queue_depth = inner->queue_depth;
    s->engine.segment_size = inner->segment_size;
    s->inner = inner;
    s->notify_fd = notify_fd;
    s->rules = g_array_new(false, true, sizeof(VswapIoFaultyRule));
    g_queue_init(&s->deferred);
    return &s->engine;
}

void vswap_io_faulty_add(VswapIoEngine *io, const VswapIoFault *fault)
{
    VswapIoFaulty *s = vswap_io_faulty_of(io);
    VswapIoFaultyRule r = { .fault = *fault };

    g_assert(fault->error <= 0);
    g_array_append_val(s->rules, r);
}

void vswap_io_faulty_clear(VswapIoEngine *io)
{
    VswapIoFaulty *s = vswap_io_faulty_of(io);

    g_array_set_size(s->rules, 0);
}

unsigned vswap_io_faulty_injected(VswapIoEngine *io)
{
    VswapIoFaulty *s = vswap_io_faulty_of(io);

    return s->injected;
}
