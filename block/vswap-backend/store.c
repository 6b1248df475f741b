/*
 * The page store's public API: set-up, asynchronous page requests, the
 * event loop and statistics.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Each page of a request becomes, at most, one page job.  Same-filled
 * pages, empty slots and bad arguments finish at once.  Compressions and
 * decompressions run on the worker pool, but for the first pages of each
 * read from memory, which the owner decompresses itself once the rest
 * went to the workers (VSWAP_STORE_OWNER_READS); records on disk are read
 * first through the I/O engine.  The owner thread alone touches the map
 * and the logs: job results come back to it through the done list, and a
 * write result is applied only if no later write, fill or discard of its
 * slot overtook it (inflight_writes).  When memory is at its hard limit but
 * writeback is under way, a finished compression waits in the parked list
 * for memory instead of failing.
 */

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <zstd.h>

#include "store-int.h"

GQuark vswap_store_error_quark(void)
{
    return g_quark_from_static_string("vswap-store-error-quark");
}

void vswap_store_config_init(VswapStoreConfig *cfg)
{
    *cfg = (VswapStoreConfig) {
        .capacity = 1u << 20,
        .mem_budget = 64u << 20,
        .level = 1,
        .segment_size = 0,      /* the engine's or VSWAP_STORE_SEGMENT_SIZE */
        .compact_threshold = 50,
        .workers = 1,
        .disk_group = VSWAP_STORE_DISK_GROUP,
    };
}

void vswap_store_notify(VswapStore *s)
{
    uint64_t one = 1;

    if (write(s->event_fd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is already non-zero, so a wake-up is due. */
    }
}

static bool vswap_store_check_config(const VswapStoreConfig *cfg,
                                     GError **errp)
{
    bool has_file = cfg->path || cfg->open_engine;
    /* Automatic (0): checked again once settled, with the smallest now. */
    uint64_t segment_size = cfg->segment_size ?: VSWAP_SEGMENT_MIN;
    const char *why = NULL;

    if (cfg->capacity == 0 || cfg->capacity > VSWAP_STORE_MAX_SLOTS) {
        why = "capacity must be 1 to 2^32 slots";
    } else if (!vswap_segment_size_ok(segment_size)) {
        why = "segment size must be a power of 2 from 64 KiB to 64 MiB";
    } else if (cfg->level < ZSTD_minCLevel() || cfg->level > ZSTD_maxCLevel() ||
               (cfg->disk_level &&
                (cfg->disk_level < ZSTD_minCLevel() ||
                 cfg->disk_level > ZSTD_maxCLevel()))) {
        why = "zstd level out of range";
    } else if (cfg->compact_threshold > 99) {
        why = "compaction threshold must be 0 to 99 percent";
    } else if (cfg->mem_budget < 2 * segment_size) {
        why = "memory budget must hold at least two segments";
    } else if (cfg->mem_limit && cfg->mem_limit < cfg->mem_budget) {
        why = "memory limit must not be below the memory budget";
    } else if (cfg->incoming && (!cfg->shared || !has_file)) {
        why = "an incoming store must be shared and have a file";
    } else if (cfg->shared && (cfg->persist || cfg->reopen || !has_file)) {
        why = "a shared store needs a file and cannot be persistent";
    } else if (cfg->workers > 64) {
        why = "at most 64 worker threads";
    } else if (cfg->writeback_depth > VSWAP_STORE_MAX_WRITEBACK_DEPTH) {
        why = "writeback depth must be 0 (automatic) to "
              G_STRINGIFY(VSWAP_STORE_MAX_WRITEBACK_DEPTH);
    } else if (cfg->disk_group < 1 ||
               cfg->disk_group > VSWAP_STORE_MAX_DISK_GROUP) {
        why = "disk groups hold 1 to "
              G_STRINGIFY(VSWAP_STORE_MAX_DISK_GROUP) " pages";
    } else if (cfg->dict_train_pages &&
               (cfg->dict_train_pages < 64 ||
                cfg->dict_train_pages > 65536)) {
        why = "dictionaries train on 64 to 65536 pages";
    }
    if (why) {
        g_set_error(errp, VSWAP_STORE_ERROR, EINVAL, "vswap store: %s", why);
        return false;
    }
    return true;
}

/* Requests the store keeps in its engine at most; more wait in line. */
#define VSWAP_STORE_IO_DEPTH 256
/* The default wait polls this long, so that retries after errors run. */
#define VSWAP_STORE_POLL_MS 10

bool vswap_store_open_engine(VswapStore *s, bool create, GError **errp)
{
    unsigned flags = (create ? VSWAP_IO_OPEN_CREATE : 0) |
                     (s->cfg.direct_io ? VSWAP_IO_OPEN_DIRECT : 0);
    g_autoptr(GError) err = NULL;

    if (s->cfg.open_engine) {
        s->io = s->cfg.open_engine(s->cfg.engine_opaque, s->event_fd, &err);
    } else {
        s->io = vswap_io_uring_open(s->path, flags, VSWAP_STORE_IO_DEPTH,
                                    s->event_fd, &err);
    }
    if (!s->io) {
        g_propagate_prefixed_error(errp, g_steal_pointer(&err),
                                   "vswap store: ");
        return false;
    }
    if (s->cfg.fault_injection) {
        s->io = vswap_io_faulty_new(s->io, s->event_fd);
    }
    s->wb_depth = s->cfg.writeback_depth ? s->cfg.writeback_depth :
                  s->io->queue_depth ? MIN(s->io->queue_depth,
                                           VSWAP_STORE_MAX_WRITEBACK_DEPTH) :
                  VSWAP_STORE_WRITEBACK_DEPTH;
    return true;
}

/*
 * Settle an automatic segment size (cfg.segment_size 0).  The destination
 * of a shared migration takes its source's, from the file: the source may
 * have settled otherwise (an older QEMU's 1 MiB on a network node, say).
 * A reopened store already has the file's.  Otherwise the engine's
 * suggestion if the memory budget holds VSWAP_STORE_AUTO_SEGMENTS of
 * them, else the default.
 */
static void vswap_store_settle_segment_size(VswapStore *s)
{
    uint32_t suggested = s->io ? s->io->segment_size : 0;
    g_autoptr(GError) err = NULL;
    VswapFileReader rd;
    VswapFileSb fsb;

    if (s->cfg.segment_size) {
        return;
    }
    /* A file that cannot be read here fails its checks in setup_file. */
    if (s->cfg.incoming && s->io) {
        vswap_store_reader(s, &rd);
        if (vswap_file_read_sb(&rd, &fsb, &err) &&
            s->cfg.mem_budget >= 2ull * fsb.segment_size) {
            s->cfg.segment_size = fsb.segment_size;
            return;
        }
    }
    s->cfg.segment_size = VSWAP_STORE_SEGMENT_SIZE;
    if (vswap_segment_size_ok(suggested) &&
        s->cfg.mem_budget >= (uint64_t)VSWAP_STORE_AUTO_SEGMENTS * suggested) {
        s->cfg.segment_size = suggested;
    }
}

/*
 * Does the file hold something other than a vswap store (or nothing)?
 * Returns 0 if it may be overwritten, -EEXIST if not, or -errno.
 */
static int vswap_store_check_foreign(VswapStore *s)
{
    g_autofree VswapSuperblock *sb = vswap_io_buf_new(VSWAP_SB_SIZE);
    VswapFileReader rd;
    int64_t size = vswap_io_getlength(s->io);
    uint32_t fill;
    ssize_t n;

    if (size <= 0) {
        return size;
    }
    vswap_store_reader(s, &rd);
    n = vswap_file_pread(&rd, sb, VSWAP_SB_SIZE, 0, size);
    if (n < 0) {
        return n;
    }
    /*
     * A new block device, NBD export or RBD image of a fixed size reads
     * as zeroes: it holds nothing yet.
     */
    G_STATIC_ASSERT(VSWAP_SB_SIZE == VSWAP_STORE_PAGE_SIZE);
    if (n == VSWAP_SB_SIZE && vswap_page_fill_value(sb, &fill) && !fill) {
        return 0;
    }
    if (n != VSWAP_SB_SIZE || vswap_sb_verify(sb) == -EBADMSG) {
        return -EEXIST;
    }
    return 0;
}

/* (Re)initialise the store file, refusing to clobber other data. */
static bool vswap_store_init_file(VswapStore *s, GError **errp)
{
    g_autofree VswapSuperblock *sb = vswap_io_buf_new(VSWAP_SB_SIZE);
    int ret = vswap_store_check_foreign(s);

    if (ret == -EEXIST) {
        g_set_error(errp, VSWAP_STORE_ERROR, EEXIST,
                    "vswap store: '%s' exists and is not a vswap store file;"
                    " refusing to overwrite it", s->name);
        return false;
    }
    s->data_offset = s->cfg.segment_size;
    vswap_sb_encode(sb, s->cfg.segment_size, s->cfg.capacity, s->data_offset);
    if (ret == 0) {
        ret = vswap_store_io(s, VSWAP_IO_TRUNCATE, NULL, 0, 0);
    }
    if (ret == 0) {
        ret = vswap_store_io(s, VSWAP_IO_WRITE, sb, VSWAP_SB_SIZE, 0);
    }
    if (ret < 0) {
        g_set_error(errp, VSWAP_STORE_ERROR, -ret,
                    "vswap store: cannot initialise '%s': %s", s->name,
                    g_strerror(-ret));
        return false;
    }
    return true;
}

/* Open the engine unless reopen did, then set up the file for its mode. */
static bool vswap_store_setup_file(VswapStore *s, GError **errp)
{
    const VswapStoreConfig *cfg = &s->cfg;

    if (!s->io && !vswap_store_open_engine(s, !cfg->incoming, errp)) {
        return false;
    }
    return cfg->reopen ? vswap_ckpt_open_file(s, errp) :
           cfg->incoming ? vswap_shared_open_file(s, errp) :
           vswap_store_init_file(s, errp);
}

/* Disk segments the file may hold; false with @errp set if too few. */
static bool vswap_store_disk_segs(VswapStore *s, uint64_t *max_segs,
                                  GError **errp)
{
    uint64_t limit = s->cfg.disk_limit;

    /* Addresses are 38 bits of 8-byte units (store-int.h). */
    *max_segs = VSWAP_LOG_MAX_BYTES >> s->seg_shift;
    if (!vswap_store_has_disk(s) || !limit) {
        return true;
    }
    *max_segs = limit > s->data_offset ?
                (limit - s->data_offset) >> s->seg_shift : 0;
    if (*max_segs < 2) {
        g_set_error(errp, VSWAP_STORE_ERROR, EINVAL,
                    "vswap store: disk limit must hold at least two segments");
        return false;
    }
    return true;
}

/*
 * The default wait (cfg.wait NULL): poll the notifier, with a timeout so
 * that retries of failed segment writes run even when nothing signals.
 */
static void vswap_store_poll_wait(void *opaque, VswapWaitCond *cond,
                                  void *cond_opaque)
{
    VswapStore *s = opaque;

    while (cond(cond_opaque)) {
        struct pollfd pfd = { .fd = s->event_fd, .events = POLLIN };

        poll(&pfd, 1, VSWAP_STORE_POLL_MS);
    }
}

/* The parts of a store that need nothing but memory and an eventfd. */
static VswapStore *vswap_store_new(const VswapStoreConfig *cfg, GError **errp)
{
    VswapStore *s = g_new0(VswapStore, 1);

    s->cfg = *cfg;
    s->path = g_strdup(cfg->path);
    s->cfg.path = s->path;
    s->name = g_strdup(cfg->name ? cfg->name : cfg->path ? cfg->path :
                       "the store file");
    s->cfg.name = s->name;
    if (!cfg->wait) {
        s->cfg.wait = vswap_store_poll_wait;
        s->cfg.wait_opaque = s;
    }
    s->compact.victim = -1;
    g_queue_init(&s->backlog);
    g_queue_init(&s->done);
    g_queue_init(&s->parked);
    s->backlog_writes = g_sequence_new(NULL);
    s->inflight_writes = g_hash_table_new(g_direct_hash, g_direct_equal);
    s->wb_queue = g_array_new(false, false, sizeof(uint32_t));
    s->punch_queue = g_array_new(false, false, sizeof(uint32_t));
    s->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->event_fd < 0) {
        g_set_error(errp, VSWAP_STORE_ERROR, errno,
                    "vswap store: eventfd: %s", g_strerror(errno));
        vswap_store_close(s);
        return NULL;
    }
    return s;
}

VswapStore *vswap_store_open(const VswapStoreConfig *cfg, GError **errp)
{
    VswapStore *s = vswap_store_new(cfg, errp);
    bool has_file = cfg->path || cfg->open_engine;
    uint64_t max_disk_segs;

    if (!s) {
        return NULL;
    }
    /* With reopen, the geometry comes from the file (checkpoint.c). */
    if (!vswap_ckpt_prepare_config(s, errp) ||
        !vswap_store_check_config(&s->cfg, errp)) {
        goto fail;
    }
    /* An automatic segment size is the engine's: open it first. */
    if (!s->cfg.segment_size) {
        if (has_file && !s->io &&
            !vswap_store_open_engine(s, !s->cfg.incoming, errp)) {
            goto fail;
        }
        vswap_store_settle_segment_size(s);
        if (!vswap_store_check_config(&s->cfg, errp)) {
            goto fail;
        }
    }
    cfg = &s->cfg;
    s->seg_shift = __builtin_ctz(cfg->segment_size);
    s->mem_budget = cfg->mem_budget;
    s->mem_limit = cfg->mem_limit ? cfg->mem_limit :
                   cfg->mem_budget + cfg->mem_budget / 4;
    s->map = vswap_map_new(cfg->capacity);
    s->pool = vswap_pool_new(cfg->workers, cfg->level, VSWAP_MAX_JOBS,
                             s->event_fd);
    if (!s->pool) {
        g_set_error(errp, VSWAP_STORE_ERROR, ENOMEM,
                    "vswap store: cannot start %u worker threads",
                    cfg->workers);
        goto fail;
    }
    if ((has_file && !vswap_store_setup_file(s, errp)) ||
        !vswap_store_disk_segs(s, &max_disk_segs, errp)) {
        goto fail;
    }
    vswap_log_init(s, &s->mem, false, VSWAP_LOG_MAX_BYTES >> s->seg_shift);
    vswap_log_init(s, &s->disk, true, MIN(max_disk_segs, UINT32_MAX));
    if (!vswap_ckpt_open_done(s, errp)) {
        goto fail;
    }
    return s;

fail:
    vswap_store_close(s);
    return NULL;
}

VswapIoEngine *vswap_store_io_engine(VswapStore *s)
{
    return s->io;
}

/* --- page jobs --- */

static void vswap_store_read_done(VswapStore *s, VswapPageJob *job);

VswapPageJob *vswap_store_get_job(VswapStore *s)
{
    VswapPageJob *job = s->free_jobs;

    if (job) {
        s->free_jobs = job->next_free;
    } else if (s->njobs < VSWAP_MAX_JOBS) {
        job = g_new0(VswapPageJob, 1);
        if (posix_memalign((void **)&job->buf, 4096, VSWAP_JOB_BUF_SIZE)) {
            g_free(job);
            return NULL;
        }
        job->s = s;
        s->njobs++;
    } else {
        return NULL;
    }
    job->owner_runs = false;
    job->group = false;
    job->direct = false;
    s->jobs_busy++;
    return job;
}

void vswap_store_put_job(VswapStore *s, VswapPageJob *job)
{
    vswap_dicts_job_put(s, job);
    job->next_free = s->free_jobs;
    s->free_jobs = job;
    s->jobs_busy--;
}

static void vswap_store_finish_op(VswapStore *s, VswapRequest *req)
{
    if (--req->pending == 0) {
        g_queue_push_tail(&s->done, req);
        /* vswap_store_process() completes what is done before it returns. */
        if (!s->in_process) {
            vswap_store_notify(s);
        }
    }
}

/* Context: worker thread.  Compress the page and build its record. */
static void vswap_store_run_compress(VswapJob *j, VswapCodec *codec)
{
    VswapPageJob *job = (VswapPageJob *)j;
    VswapPayloadKind kind;

    job->len = vswap_codec_compress_dict(codec, job->dict, job->op->page,
                                         job->rec + VSWAP_REC_HDR_SIZE, &kind);
    vswap_rec_encode(job->rec, job->slot, kind,
                     kind == VSWAP_PAYLOAD_ZSTD_DICT ?
                     vswap_dict_id(job->dict) : 0, job->len);
    job->result = 0;
}

/* Context: worker thread.  Verify the record, then decompress it. */
static void vswap_store_run_decompress(VswapJob *j, VswapCodec *codec)
{
    VswapPageJob *job = (VswapPageJob *)j;
    VswapPayloadKind kind;
    uint16_t dict;

    if (job->group) {
        job->result = vswap_group_read(codec, job->dict, job->rec, job->avail,
                                       job->member, job->slot, job->op->page);
        return;
    }
    job->result = vswap_rec_verify(job->rec, job->slot, job->len, &kind,
                                   &dict);
    /* The owner looked the dictionary up by the unverified header. */
    if (job->result == 0 &&
        dict != (job->dict ? vswap_dict_id(job->dict) : 0)) {
        job->result = -EBADMSG;
    }
    if (job->result == 0) {
        job->result = vswap_codec_decompress_dict(codec, job->dict, kind,
                                                  job->rec + VSWAP_REC_HDR_SIZE,
                                                  job->len, job->op->page);
    }
}

/*
 * Jobs started between vswap_store_batch_begin() and _end() go to the
 * workers as one batch, which wakes the owner once, when all are done:
 * the pages of one request, or the records that one round of I/O
 * completions read.  Batches nest; the outermost end submits, then runs
 * the owner's own share of the reads.
 */
static void vswap_store_batch_begin(VswapStore *s)
{
    s->batch_depth++;
}

/* The owner's share of the reads (VSWAP_STORE_OWNER_READS), now. */
static void vswap_store_run_owner_jobs(VswapStore *s)
{
    VswapCodec *codec = vswap_pool_owner_codec(s->pool);
    VswapPageJob *job;

    while ((job = s->owner_jobs)) {
        s->owner_jobs = job->owner_next;
        job->owner_next = NULL;
        vswap_store_run_decompress(&job->job, codec);
        vswap_store_read_done(s, job);
    }
}

static void vswap_store_batch_end(VswapStore *s)
{
    g_assert(s->batch_depth > 0);
    if (--s->batch_depth > 0) {
        return;
    }
    if (s->batch_head) {
        /* Never fails: the queue holds as many jobs as can exist. */
        if (!vswap_pool_submit_batch(s->pool, s->batch_head, s->batch_n)) {
            g_assert_not_reached();
        }
        s->batch_head = s->batch_tail = NULL;
        s->batch_n = 0;
    }
    /* The workers have theirs: the owner decompresses beside them. */
    vswap_store_run_owner_jobs(s);
}

static void vswap_store_start_long_job(VswapStore *s, VswapPageJob *job)
{
    /* Never fails: it falls back to the queue, which has room for all. */
    if (!vswap_pool_submit_long(s->pool, &job->job)) {
        g_assert_not_reached();
    }
}

void vswap_store_start_job(VswapStore *s, VswapPageJob *job,
                           VswapJobFunc *run)
{
    job->job.run = run;
    job->job.next = NULL;
    /*
     * A job no request waits for is dictionary training, which takes a
     * good part of a second, or the packing of a segment (some
     * milliseconds): on a thread of its own, so that neither the page
     * jobs queued behind it nor, with no workers, the event loop wait.
     */
    if (!job->req) {
        vswap_store_start_long_job(s, job);
        return;
    }
    if (s->batch_depth) {
        if (s->batch_tail) {
            s->batch_tail->next = &job->job;
        } else {
            s->batch_head = &job->job;
        }
        s->batch_tail = &job->job;
        s->batch_n++;
        return;
    }
    /* Never fails: the queue holds as many jobs as can exist. */
    if (!vswap_pool_submit(s->pool, &job->job)) {
        g_assert_not_reached();
    }
}

/* Forget a write to @slot still being compressed: a later change won. */
static void vswap_store_supersede(VswapStore *s, uint64_t slot)
{
    g_hash_table_remove(s->inflight_writes, GUINT_TO_POINTER(slot));
}

/*
 * The status of a backlog write op that a discard overtook: it completes
 * as written, and its page never lands.  Out of band of the statuses a
 * caller sees (0, VSWAP_STORE_UNMAPPED, -errno).
 */
#define VSWAP_OP_OVERTAKEN INT_MIN

/*
 * Order of backlog_writes: by slot, then by address.  @probe (a search
 * key, never in the sequence) comes before every op of its slot, so that
 * a search for it finds the first op of that slot.
 */
static gint vswap_store_backlog_cmp(gconstpointer a, gconstpointer b,
                                    gpointer probe)
{
    const VswapPageOp *x = a, *y = b;

    if (x->slot != y->slot) {
        return x->slot < y->slot ? -1 : 1;
    }
    if (x == y) {
        return 0;
    }
    if (x == probe || y == probe) {
        return x == probe ? -1 : 1;
    }
    return (uintptr_t)x < (uintptr_t)y ? -1 : 1;
}

/* @req goes to the backlog: index its write ops not yet started. */
static void vswap_store_backlog_add(VswapStore *s, VswapRequest *req)
{
    req->queued = true;
    if (!req->is_write) {
        return;
    }
    for (unsigned i = req->next; i < req->n; i++) {
        VswapPageOp *op = &req->ops[i];

        /* Bad slots fail when they start; no discard can reach them. */
        if (op->slot < s->cfg.capacity) {
            op->status = 0;
            g_sequence_insert_sorted(s->backlog_writes, op,
                                     vswap_store_backlog_cmp, NULL);
        }
    }
}

/* Backlog write @op starts: it is no longer a discard's to overtake. */
static void vswap_store_backlog_forget(VswapStore *s, VswapPageOp *op)
{
    GSequenceIter *it = g_sequence_lookup(s->backlog_writes, op,
                                          vswap_store_backlog_cmp, NULL);

    g_assert(it);
    g_sequence_remove(it);
}

/*
 * vswap_store_overtake_backlog: slots [@start, @start + @count) are
 * discarded.  Every write op still in the backlog was submitted before
 * the discard, so the discard wins over each one to those slots: mark it
 * overtaken and take it out of backlog_writes.  Costs O(log n) per op
 * taken and one search, whatever the ranges discarded before.
 */
static void vswap_store_overtake_backlog(VswapStore *s, uint64_t start,
                                         uint64_t count)
{
    VswapPageOp probe = { .slot = start };
    GSequenceIter *it = g_sequence_search(s->backlog_writes, &probe,
                                          vswap_store_backlog_cmp, &probe);

    while (!g_sequence_iter_is_end(it)) {
        VswapPageOp *op = g_sequence_get(it);
        GSequenceIter *next;

        if (op->slot - start >= count) {
            break;
        }
        op->status = VSWAP_OP_OVERTAKEN;
        next = g_sequence_iter_next(it);
        g_sequence_remove(it);
        it = next;
    }
}

static bool vswap_store_start_write(VswapStore *s, VswapRequest *req,
                                    VswapPageOp *op)
{
    VswapPageJob *job = NULL;
    uint32_t fill = op->fill;
    bool is_fill;

    if (op->slot >= s->cfg.capacity) {
        op->status = -EINVAL;
        s->st.write_errors++;
        vswap_store_finish_op(s, req);
        return true;
    }
    if (req->queued && op->status == VSWAP_OP_OVERTAKEN) {
        op->status = 0;
        s->st.writes++;
        vswap_store_finish_op(s, req);
        return true;
    }
    is_fill = !op->page || vswap_page_fill_value(op->page, &fill);
    if (!is_fill) {
        job = vswap_store_get_job(s);
        if (!job) {
            return false;
        }
    }
    if (req->queued) {
        vswap_store_backlog_forget(s, op);
    }
    if (is_fill) {
        vswap_store_supersede(s, op->slot);
        vswap_log_set(s, op->slot, vswap_ent_fill(fill));
        op->status = 0;
        s->st.writes++;
        vswap_store_finish_op(s, req);
        return true;
    }
    job->type = VSWAP_JOB_COMPRESS;
    job->req = req;
    job->op = op;
    job->slot = op->slot;
    job->rec = job->buf;
    job->seq = ++s->write_seq;
    vswap_dicts_job_take(s, job, s->dict_cur);
    vswap_dicts_sample(s, op->page);
    g_hash_table_insert(s->inflight_writes, GUINT_TO_POINTER(op->slot),
                        (gpointer)(uintptr_t)job->seq);
    vswap_store_start_job(s, job, vswap_store_run_compress);
    return true;
}

/*
 * Decode the record in @job, with the dictionary its header names.  A
 * record naming one the store does not have is as bad as a checksum
 * failure: the worker's verification would reject whatever it decoded.
 */
static void vswap_store_start_decompress(VswapStore *s, VswapPageJob *job)
{
    if (!vswap_dicts_job_take(s, job, vswap_rec_dict(job->rec))) {
        job->result = -EBADMSG;
        vswap_store_read_done(s, job);
        return;
    }
    if (job->owner_runs) {
        /* After the batch goes to the workers: start_ops() is one batch. */
        g_assert(s->batch_depth > 0);
        job->owner_next = s->owner_jobs;
        s->owner_jobs = job;
        return;
    }
    vswap_store_start_job(s, job, vswap_store_run_decompress);
}

static void vswap_store_read_io_done(VswapIoReq *ioreq)
{
    VswapPageJob *job = ioreq->opaque;
    VswapStore *s = job->s;

    vswap_log_unpin(s, job->pinned);
    if (ioreq->result < 0) {
        job->op->status = -EIO;
        s->st.read_errors++;
        vswap_store_finish_op(s, job->req);
        vswap_store_put_job(s, job);
        return;
    }
    vswap_store_start_decompress(s, job);
}

size_t vswap_store_record_span(VswapStore *s, uint64_t ent, uint64_t *start,
                               size_t *len)
{
    uint64_t off = s->data_offset + vswap_ent_addr(ent);
    uint64_t align = vswap_io_align(s->io);
    uint64_t end = off + vswap_store_record_bytes(s, ent);

    *start = off & ~(align - 1);
    *len = ((end + align - 1) & ~(align - 1)) - *start;
    return off - *start;
}

/*
 * vswap_store_record_bytes: the bytes of @ent's log to read for its
 * record: the record's size, or for a group member, whose entry does not
 * say its group's size, as much as a group takes, up to the end of what
 * its segment holds (a written segment's file blocks end there).
 */
size_t vswap_store_record_bytes(VswapStore *s, uint64_t ent)
{
    uint64_t seg_size = (uint64_t)1 << s->seg_shift;
    uint64_t off = vswap_ent_addr(ent) & (seg_size - 1);
    const VswapSegment *seg;
    uint64_t end;

    if (!vswap_ent_group(ent)) {
        return vswap_rec_size(vswap_ent_len(ent));
    }
    seg = vswap_log_segment(s, &s->disk, vswap_ent_addr(ent), NULL);
    end = seg->used > off + VSWAP_REC_HDR_SIZE ? seg->used : seg_size;
    return MIN(VSWAP_GROUP_REC_MAX, end - off);
}

/* Read the record of a disk entry into @job. */
static void vswap_store_read_disk(VswapStore *s, VswapPageJob *job,
                                  uint64_t ent)
{
    uint64_t start;
    size_t len;

    job->rec = job->buf + vswap_store_record_span(s, ent, &start, &len);
    job->avail = vswap_store_record_bytes(s, ent);
    vswap_log_segment(s, &s->disk, vswap_ent_addr(ent), &job->pinned)->pins++;
    job->io = (VswapIoReq) {
        .op = VSWAP_IO_READ,
        .offset = start,
        .buf = job->buf,
        .len = len,
        .complete = vswap_store_read_io_done,
        .opaque = job,
    };
    vswap_io_submit(s->io, &job->io);
}

static bool vswap_store_start_read(VswapStore *s, VswapRequest *req,
                                   VswapPageOp *op)
{
    VswapPageJob *job;
    const uint8_t *rec;
    uint64_t ent;

    if (op->slot >= s->cfg.capacity || !op->page) {
        op->status = -EINVAL;
        s->st.read_errors++;
        vswap_store_finish_op(s, req);
        return true;
    }
    ent = vswap_map_get(s->map, op->slot);
    switch (vswap_ent_state(ent)) {
    case VSWAP_ENT_EMPTY:
        memset(op->page, 0, VSWAP_STORE_PAGE_SIZE);
        op->status = VSWAP_STORE_UNMAPPED;
        s->st.reads++;
        s->st.read_unmapped++;
        vswap_store_finish_op(s, req);
        return true;
    case VSWAP_ENT_FILL:
        vswap_page_fill(op->page, (uint32_t)ent);
        op->status = 0;
        s->st.reads++;
        vswap_store_finish_op(s, req);
        return true;
    }
    job = vswap_store_get_job(s);
    if (!job) {
        return false;
    }
    job->type = VSWAP_JOB_DECOMPRESS;
    job->req = req;
    job->op = op;
    job->slot = op->slot;
    job->len = vswap_ent_len(ent);
    job->group = vswap_ent_group(ent);
    job->member = vswap_ent_member(ent);
    rec = vswap_log_record_ptr(s, ent);
    if (rec) {
        /*
         * Read where it lies, not copied: records are never changed in
         * place, and the buffer outlives the read (vswap_log_put_buf()).
         * A copy was a tenth of the owner's time per read with 2 workers.
         */
        job->avail = vswap_store_record_bytes(s, ent);
        job->rec = (uint8_t *)rec;
        job->direct = true;
        job->rd_parity = vswap_log_direct_begin(s);
        /* With no workers every job runs on the owner anyway. */
        if (req->owner_reads && vswap_pool_threads(s->pool)) {
            req->owner_reads--;
            job->owner_runs = true;
        }
        if (vswap_ent_state(ent) == VSWAP_ENT_MEM) {
            vswap_map_replace(s->map, op->slot, ent | VSWAP_ENT_REF);
        }
        vswap_store_start_decompress(s, job);
    } else {
        vswap_store_read_disk(s, job, ent);
    }
    return true;
}

/* Start ops of @req in order until done or out of jobs. */
static bool vswap_store_start_ops(VswapStore *s, VswapRequest *req)
{
    bool all = true;

    vswap_store_batch_begin(s);
    while (req->next < req->n) {
        VswapPageOp *op = &req->ops[req->next];
        bool started = req->is_write ? vswap_store_start_write(s, req, op) :
                                       vswap_store_start_read(s, req, op);

        if (!started) {
            all = false;
            break;
        }
        req->next++;
    }
    vswap_store_batch_end(s);
    return all;
}

static unsigned vswap_store_run_backlog(VswapStore *s)
{
    unsigned started = 0;
    VswapRequest *req;

    while ((req = g_queue_peek_head(&s->backlog))) {
        unsigned before = req->next;

        if (!vswap_store_start_ops(s, req)) {
            started += req->next - before;
            break;
        }
        started += req->next - before;
        g_queue_pop_head(&s->backlog);
    }
    /* Every op of a request leaves the backlog started. */
    g_assert(!g_queue_is_empty(&s->backlog) ||
             g_sequence_is_empty(s->backlog_writes));
    return started;
}

static int vswap_store_submit(VswapStore *s, VswapPageOp *ops, unsigned n,
                              VswapCompleteFunc *cb, void *opaque,
                              bool is_write)
{
    VswapRequest *req;

    if (!s || !ops || !cb || n == 0 || n > VSWAP_STORE_MAX_BATCH) {
        return -EINVAL;
    }
    if (is_write && vswap_ckpt_mark_dirty(s) < 0) {
        return -EIO;
    }
    req = g_new0(VswapRequest, 1);
    *req = (VswapRequest) {
        .ops = ops,
        .n = n,
        .pending = n,
        .is_write = is_write,
        .owner_reads = is_write ? 0 : VSWAP_STORE_OWNER_READS,
        .cb = cb,
        .opaque = opaque,
    };
    s->requests++;
    /* Keep arrival order: queue behind requests already waiting. */
    if (!g_queue_is_empty(&s->backlog) || !vswap_store_start_ops(s, req)) {
        vswap_store_backlog_add(s, req);
        g_queue_push_tail(&s->backlog, req);
    }
    if (s->io) {
        vswap_io_flush(s->io);
    }
    return 0;
}

int vswap_store_write(VswapStore *s, VswapPageOp *ops, unsigned n,
                      VswapCompleteFunc *cb, void *opaque)
{
    return vswap_store_submit(s, ops, n, cb, opaque, true);
}

int vswap_store_read(VswapStore *s, VswapPageOp *ops, unsigned n,
                     VswapCompleteFunc *cb, void *opaque)
{
    return vswap_store_submit(s, ops, n, cb, opaque, false);
}

/*
 * Place a compressed page in the memory log.  Returns 0, -EAGAIN when it
 * should wait for writeback to free memory, or -ENOSPC.
 */
static int vswap_store_place(VswapStore *s, VswapPageJob *job)
{
    uint64_t addr;
    int ret;

    ret = vswap_log_append(s, &s->mem, job->rec, vswap_rec_size(job->len),
                           false, &addr);
    if (ret == -ENOSPC && vswap_log_compact_mem(s, false) > 0) {
        ret = vswap_log_append(s, &s->mem, job->rec,
                               vswap_rec_size(job->len), false, &addr);
    }
    if (ret == -ENOSPC && vswap_store_has_disk(s)) {
        /* Also retries failed segment writes whose back-off is over. */
        vswap_writeback_kick(s, true);
        /* Moving records to the open disk segment may free memory at once. */
        ret = vswap_log_append(s, &s->mem, job->rec, vswap_rec_size(job->len),
                               false, &addr);
        if (ret == -ENOSPC && (s->wb_inflight > 0 || s->packs > 0)) {
            return -EAGAIN;
        }
    }
    if (ret < 0) {
        return ret;
    }
    vswap_log_set(s, job->slot,
                  vswap_ent_record(VSWAP_ENT_MEM, addr, job->len));
    return 0;
}

static void vswap_store_write_done(VswapStore *s, VswapPageJob *job)
{
    gpointer seq;
    int ret = 0;

    if (g_hash_table_lookup_extended(s->inflight_writes,
                                     GUINT_TO_POINTER(job->slot), NULL, &seq) &&
        (uintptr_t)seq == job->seq) {
        ret = vswap_store_place(s, job);
        if (ret == -EAGAIN) {
            g_queue_push_tail(&s->parked, job);
            return;
        }
        g_hash_table_remove(s->inflight_writes, GUINT_TO_POINTER(job->slot));
    }
    /* Otherwise a later write, fill or discard of the slot won: done. */
    job->op->status = ret;
    if (ret < 0) {
        s->st.write_errors++;
        s->st.enospc += ret == -ENOSPC;
    } else {
        s->st.writes++;
    }
    vswap_store_finish_op(s, job->req);
    vswap_store_put_job(s, job);
}

static void vswap_store_read_done(VswapStore *s, VswapPageJob *job)
{
    if (job->direct) {
        job->direct = false;
        vswap_log_direct_end(s, job->rd_parity);
    }
    if (job->result < 0) {
        job->op->status = -EIO;
        s->st.read_errors++;
        s->st.checksum_errors++;
    } else {
        job->op->status = 0;
        s->st.reads++;
    }
    vswap_store_finish_op(s, job->req);
    vswap_store_put_job(s, job);
}

/* Retry parked writes; they fail once writeback can no longer help. */
static unsigned vswap_store_run_parked(VswapStore *s)
{
    unsigned n = g_queue_get_length(&s->parked);
    unsigned done = 0;

    while (n--) {
        VswapPageJob *job = g_queue_pop_head(&s->parked);

        vswap_store_write_done(s, job);
        done += g_queue_peek_tail(&s->parked) != job;
    }
    return done;
}

static void vswap_store_clear_notify(VswapStore *s)
{
    uint64_t count;

    if (read(s->event_fd, &count, sizeof(count)) < 0) {
        /* EAGAIN: nothing signalled, but there may still be work. */
    }
}

/*
 * Inside vswap_store_wait_io(): complete engine requests only.  What the
 * signal may also have announced (worker results) waits for the full
 * process that vswap_store_wait_io() asks for when it ends.  This runs
 * even inside vswap_store_process(): the engine allows completions to
 * re-enter it, and the wait would otherwise never end.
 */
static void vswap_store_process_io(VswapStore *s)
{
    vswap_store_clear_notify(s);
    s->process_deferred = true;
    if (s->io) {
        vswap_io_process(s->io);
        vswap_io_flush(s->io);
    }
}

/*
 * The owner takes notice of a quiesce: it starts no I/O of its own from
 * here on (vswap_store_may_start_io() reads the count again each time).
 * The generation is read first: a quiesce() that the count shows is then
 * at least as old as the generation acknowledged.
 */
static void vswap_store_ack_quiesce(VswapStore *s)
{
    int gen = g_atomic_int_get(&s->quiesce_gen);

    if (g_atomic_int_get(&s->quiesce)) {
        g_atomic_int_set(&s->quiesce_ack, gen);
    }
}

void vswap_store_quiesce(VswapStore *s)
{
    g_atomic_int_inc(&s->quiesce);
    g_atomic_int_inc(&s->quiesce_gen);
    vswap_store_notify(s);
}

void vswap_store_unquiesce(VswapStore *s)
{
    g_assert(g_atomic_int_get(&s->quiesce) > 0);
    if (g_atomic_int_dec_and_test(&s->quiesce)) {
        /* Postponed writeback, compaction and punches resume. */
        vswap_store_notify(s);
    }
}

bool vswap_store_quiesced(VswapStore *s)
{
    return g_atomic_int_get(&s->quiesce) &&
           g_atomic_int_get(&s->quiesce_ack) ==
           g_atomic_int_get(&s->quiesce_gen);
}

void vswap_store_process(VswapStore *s)
{
    unsigned progress;
    VswapRequest *req;
    VswapJob *j;

    if (s->io_only) {
        vswap_store_process_io(s);
        return;
    }
    if (s->in_process) {
        return;
    }
    s->in_process = true;
    vswap_store_clear_notify(s);
    vswap_store_ack_quiesce(s);
    do {
        progress = 0;
        if (s->io) {
            /* Records read from disk are decompressed as one batch. */
            vswap_store_batch_begin(s);
            progress += vswap_io_process(s->io);
            vswap_store_batch_end(s);
        }
        while ((j = vswap_pool_take_done(s->pool))) {
            VswapPageJob *job = (VswapPageJob *)j;

            switch (job->type) {
            case VSWAP_JOB_COMPRESS:
                vswap_dicts_note_write(s, job);
                vswap_store_write_done(s, job);
                break;
            case VSWAP_JOB_DECOMPRESS:
                vswap_store_read_done(s, job);
                break;
            case VSWAP_JOB_TRAIN:
                vswap_dicts_train_done(s, job);
                break;
            case VSWAP_JOB_PACK:
                vswap_writeback_pack_done(s, job);
                break;
            }
            progress++;
        }
        progress += vswap_store_run_parked(s);
        progress += vswap_store_run_backlog(s);
        if (s->io) {
            vswap_writeback_kick(s, false);
        }
        if (s->mem_compact_wanted) {
            vswap_log_compact_mem_sparse(s);
        }
        /* Memory-only stores too: their explicit passes finish here. */
        if (s->compact.running || s->compact_wanted) {
            vswap_compact_kick(s);
        }
        if (s->io) {
            /* What the log queued: writes of sealed segments, punches. */
            vswap_writeback_start_queued(s);
            vswap_compact_punch_queued(s);
            vswap_io_flush(s->io);
        }
    } while (progress);
    s->in_process = false;

    while ((req = g_queue_pop_head(&s->done))) {
        s->requests--;
        req->cb(req->opaque);
        g_free(req);
    }
}

int vswap_store_fd(VswapStore *s)
{
    return s->event_fd;
}

/* What vswap_store_wait() hands to cfg.wait as its condition. */
typedef struct VswapStoreWaiter {
    VswapStore *s;
    VswapWaitCond *cond;
    void *opaque;
} VswapStoreWaiter;

/* Process what is due, then say whether to go on waiting. */
static bool vswap_store_waiter_cond(void *opaque)
{
    VswapStoreWaiter *w = opaque;

    vswap_store_process(w->s);
    return w->cond(w->opaque);
}

/* Hand @cond to cfg.wait, unless there is nothing to wait for. */
static void vswap_store_run_wait(VswapStore *s, VswapWaitCond *cond,
                                 void *opaque)
{
    VswapStoreWaiter w = { .s = s, .cond = cond, .opaque = opaque };

    /* The caller waits for this: its I/O goes on even while quiesced. */
    s->owner_calls++;
    if (cond(opaque)) {
        s->cfg.wait(s->cfg.wait_opaque, vswap_store_waiter_cond, &w);
    }
    s->owner_calls--;
}

void vswap_store_wait(VswapStore *s, VswapWaitCond *cond, void *opaque)
{
    /* Inside vswap_store_wait_io(), only the engine runs: it would hang. */
    g_assert(!s->io_only);
    vswap_store_run_wait(s, cond, opaque);
}

void vswap_store_wait_io(VswapStore *s, VswapWaitCond *cond, void *opaque)
{
    s->io_only++;
    vswap_store_run_wait(s, cond, opaque);
    if (--s->io_only == 0 && s->process_deferred) {
        s->process_deferred = false;
        vswap_store_notify(s);
    }
}

static void vswap_store_set_done(void *opaque)
{
    *(bool *)opaque = true;
}

static bool vswap_store_not_done(void *opaque)
{
    return !*(bool *)opaque;
}

static void vswap_store_io_sync_done(VswapIoReq *req)
{
    vswap_store_set_done(req->opaque);
}

ssize_t vswap_store_io_sync(VswapStore *s, VswapIoReq *req)
{
    bool done = false;

    g_assert(s->io);
    req->complete = vswap_store_io_sync_done;
    req->opaque = &done;
    vswap_io_submit(s->io, req);
    vswap_io_flush(s->io);
    vswap_store_wait_io(s, vswap_store_not_done, &done);
    return req->result;
}

int vswap_store_io(VswapStore *s, VswapIoOp op, void *buf, size_t len,
                   uint64_t offset)
{
    VswapIoReq req = { .op = op, .offset = offset, .buf = buf, .len = len };
    ssize_t ret = vswap_store_io_sync(s, &req);

    return ret < 0 ? ret : 0;
}

static ssize_t vswap_store_reader_run(void *opaque, VswapIoReq *req)
{
    return vswap_store_io_sync(opaque, req);
}

void vswap_store_reader(VswapStore *s, VswapFileReader *rd)
{
    *rd = (VswapFileReader) {
        .io = s->io,
        .name = s->name,
        .run = vswap_store_reader_run,
        .opaque = s,
    };
}

static int vswap_store_sync(VswapStore *s, VswapPageOp *ops, unsigned n,
                            bool is_write)
{
    bool done = false;
    int ret;

    ret = vswap_store_submit(s, ops, n, vswap_store_set_done, &done, is_write);
    if (ret < 0) {
        return ret;
    }
    vswap_store_wait(s, vswap_store_not_done, &done);
    for (unsigned i = 0; i < n; i++) {
        if (ops[i].status < 0) {
            return ops[i].status;
        }
    }
    return 0;
}

int vswap_store_write_sync(VswapStore *s, VswapPageOp *ops, unsigned n)
{
    return vswap_store_sync(s, ops, n, true);
}

int vswap_store_read_sync(VswapStore *s, VswapPageOp *ops, unsigned n)
{
    return vswap_store_sync(s, ops, n, false);
}

bool vswap_store_busy(VswapStore *s)
{
    return s->requests || s->jobs_busy || s->compact.running ||
           s->compact.victim >= 0 || s->wb_queue->len ||
           s->punch_queue->len || (s->io && vswap_io_inflight(s->io));
}

static bool vswap_store_busy_cond(void *opaque)
{
    return vswap_store_busy(opaque);
}

void vswap_store_drain(VswapStore *s)
{
    vswap_store_wait(s, vswap_store_busy_cond, s);
}

/*
 * Forget the writes to [@start, @start + @count) being compressed: look
 * each slot up or walk the table, whichever is shorter, so that a discard
 * costs at most one pass over the VSWAP_MAX_JOBS writes in flight.
 */
static void vswap_store_supersede_range(VswapStore *s, uint64_t start,
                                        uint64_t count)
{
    GHashTableIter iter;
    gpointer key;

    if (count <= g_hash_table_size(s->inflight_writes)) {
        for (uint64_t slot = start; slot - start < count; slot++) {
            vswap_store_supersede(s, slot);
        }
        return;
    }
    g_hash_table_iter_init(&iter, s->inflight_writes);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        uint64_t k = GPOINTER_TO_UINT(key);

        if (k >= start && k - start < count) {
            g_hash_table_iter_remove(&iter);
        }
    }
}

int vswap_store_discard(VswapStore *s, uint64_t start, uint64_t count)
{
    uint64_t slot = start, ent;

    if (count == 0 || start >= s->cfg.capacity ||
        count > s->cfg.capacity - start) {
        return -EINVAL;
    }
    if (vswap_ckpt_mark_dirty(s) < 0) {
        return -EIO;
    }
    vswap_store_supersede_range(s, start, count);
    vswap_store_overtake_backlog(s, start, count);
    while (vswap_map_next(s->map, &slot, &ent) && slot - start < count) {
        vswap_log_set(s, slot, 0);
        s->st.discards++;
        slot++;
    }
    vswap_store_notify(s);
    return 0;
}

int vswap_store_compact(VswapStore *s, bool full, VswapCompleteFunc *cb,
                        void *opaque)
{
    VswapCompaction *c = &s->compact;

    if (c->running) {
        return -EBUSY;
    }
    if (vswap_ckpt_mark_dirty(s) < 0) {
        return -EIO;
    }
    c->running = true;
    c->full = full;
    c->cb = cb;
    c->opaque = opaque;
    c->pass_start_seq = s->seg_seq;
    /* Records buffered in the open disk segment count as compacted. */
    if (vswap_store_has_disk(s)) {
        vswap_writeback_seal_disk(s);
    }
    vswap_store_notify(s);
    return 0;
}

void vswap_store_set_mem_budget(VswapStore *s, uint64_t budget, uint64_t limit)
{
    uint64_t min = 2ull << s->seg_shift;

    s->mem_budget = MAX(budget, min);
    s->mem_limit = limit >= s->mem_budget ? limit :
                   s->mem_budget + s->mem_budget / 4;
    vswap_store_notify(s);
}

void vswap_store_get_stats(VswapStore *s, VswapStoreStats *st)
{
    *st = s->st;
    st->capacity = s->cfg.capacity;
    st->pages_mem = s->mem.pages;
    st->pages_disk = s->disk.pages;
    st->mem_live_bytes = s->mem.live_bytes;
    st->mem_bytes = vswap_store_mem_bytes(s);
    st->disk_live_bytes = s->disk.live_bytes;
    st->writeback_depth = s->io ? s->wb_depth : 0;
    st->segment_size = s->cfg.segment_size;
    st->disk_bytes = s->disk.used_bytes;
    st->disk_file_bytes = s->io ? MAX(vswap_io_allocated(s->io), 0) : 0;
    st->meta_bytes = vswap_map_memory(s->map) +
                     (s->mem.nsegs + s->disk.nsegs) * sizeof(VswapSegment);
    vswap_dicts_stats(s, st);
}

void vswap_store_close(VswapStore *s)
{
    VswapPageJob *job;

    if (!s) {
        return;
    }
    vswap_ckpt_close(s);
    if (s->pool) {
        vswap_store_drain(s);
        vswap_pool_free(s->pool);
    }
    vswap_io_free(s->io);
    while ((job = s->free_jobs)) {
        s->free_jobs = job->next_free;
        free(job->buf);
        g_free(job);
    }
    if (s->event_fd >= 0) {
        close(s->event_fd);
    }
    vswap_log_destroy(s, &s->mem);
    vswap_log_destroy(s, &s->disk);
    if (s->map) {
        vswap_map_free(s->map);
    }
    g_hash_table_destroy(s->inflight_writes);
    if (s->backlog_writes) {
        g_sequence_free(s->backlog_writes);
    }
    g_array_free(s->wb_queue, true);
    g_array_free(s->punch_queue, true);
    vswap_dicts_destroy(s);
    free(s->compact.buf);
    g_free(s->path);
    g_free(s->name);
    g_free(s);
}
