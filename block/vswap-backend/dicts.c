/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The store's zstd dictionaries (cfg.dict_auto): trained on its own pages,
 * found by the id that records carry, retrained when the pages drift,
 * retired when no record names them, and sent in exports before the
 * records that need them.
 *
 * Training: dict_train_pages compressible pages are copied aside, one in
 * VSWAP_DICT_SAMPLE_STRIDE of those written; a thread of its own (not a
 * worker: page jobs would queue behind it for the 0.3 to 0.7 s it takes,
 * and with no workers the event loop would) trains a dictionary
 * of VSWAP_STORE_DICT_SIZE bytes on seven eighths of them and compresses
 * the other eighth (every eighth page) with and without it, and with the
 * current one if there is one.  The store adopts it when it keeps that
 * payload within 1% of what it is without one: with it, zstd compresses
 * 1.2 to 1.7 times faster (it need not build entropy tables for every
 * page), and on most memory it also gains a few percent; where it would
 * cost more, the store goes on as it was and tries again much later.
 *
 * Drift: the payload of the held-out pages with the adopted dictionary is
 * its baseline.  Every dict_train_pages pages compressed with it, the
 * store compares their payload per page with that baseline; when it is
 * VSWAP_DICT_DRIFT_PERMILLE or more of it, the pages have changed, and the
 * store samples and trains again.  The new dictionary is adopted only if,
 * besides the rule above, it beats the current one on the held-out pages
 * by VSWAP_DICT_RETRAIN_MARGIN percent; if not, the current one's payload
 * on those pages becomes its baseline, and the store backs off as after a
 * rejection.  One training runs at a time.
 *
 * Retiring: each segment has a bit per table entry that its records name,
 * live or dead (VswapSegment.dicts), and each entry counts the segments
 * with its bit.  A dictionary that no segment names, that no page job
 * holds, that is not the current one and that did not just come in a
 * migration stream is retired: its entry is freed.  Writeback and
 * compaction move records as they are, without decompressing them, so a
 * record keeps its dictionary for its lifetime: a dictionary retires once
 * overwrites and discards have killed its records and compaction (or the
 * records' last going) has freed the segments that held them.  Disk
 * segments of a reopened store (or activated after a shared-storage
 * migration) were not read record by record, so they count as naming
 * every dictionary the store then held.
 *
 * Ids: a new dictionary takes the next id after every id used so far
 * whose table entry is free (no dictionary, no segment naming it, and not
 * sent by the export in progress, whose peer may still hold it), so ids
 * only grow and are never reused, and a record's id always finds the
 * dictionary it was made with.  With all VSWAP_STORE_MAX_DICTS entries
 * held the store does not train.  A persistent store keeps its
 * dictionaries in the checkpoint.
 *
 * Any dictionary a migration stream brings in is kept, whatever the
 * store's own setting: its records need it.
 */

#include <errno.h>
#include <string.h>

#include "checksum.h"
#include "store-int.h"

#define VSWAP_DICT_TRAIN_PAGES 512
/*
 * One compressible page in this many is copied, so that the sample spans
 * 4096 pages by default: the first pages a guest swaps out are not like
 * the rest.
 */
#define VSWAP_DICT_SAMPLE_STRIDE 8
/* After a dictionary that did not pay, let this many sample sizes pass. */
#define VSWAP_DICT_RETRY_FACTOR 64
/*
 * Retrain when the current dictionary's pages take this much payload
 * (x1000) against its baseline: the ratio fell by about 7.5%.
 */
#define VSWAP_DICT_DRIFT_PERMILLE 1080
/* A retrained dictionary must save this many percent over the current. */
#define VSWAP_DICT_RETRAIN_MARGIN 2

struct VswapDictTraining {
    uint8_t *pages;
    unsigned n;
    uint16_t id;
    int level;
    VswapDict *dict;            /* the result, or NULL: zstd could not train */
    unsigned ntest;             /* pages held out */
    /* payload of the held-out pages: with it, without, with the current */
    uint64_t with, without, with_cur;
};

static unsigned vswap_dicts_index(uint16_t id)
{
    return (id - 1) % VSWAP_STORE_MAX_DICTS;
}

static VswapStoreDict *vswap_dicts_entry(VswapStore *s, uint16_t id)
{
    return &s->dicts[vswap_dicts_index(id)];
}

/* Retire the dictionary of @e if nothing needs it any more. */
static void vswap_dicts_maybe_retire(VswapStore *s, VswapStoreDict *e)
{
    if (!e->dict || e->segs || e->jobs || e->imported ||
        vswap_dict_id(e->dict) == s->dict_cur) {
        return;
    }
    vswap_dict_unref(g_steal_pointer(&e->dict));
    s->st.dict_retired++;
}

/*
 * May entry @i take a new dictionary?  Not while a record may name the
 * one it held, nor while the peer of the export in progress may hold it.
 */
static bool vswap_dicts_entry_free(VswapStore *s, unsigned i)
{
    const VswapStoreDict *e = &s->dicts[i];
    bool sent = vswap_map_tracking_dirty(s->map) &&
                (s->dict_exported & (1u << i));

    return !e->dict && !e->segs && !e->jobs && !sent;
}

/* The id for a new dictionary; 0 when no entry is free, or ids ran out. */
static uint16_t vswap_dicts_next_id(VswapStore *s)
{
    for (unsigned k = 1; k <= VSWAP_STORE_MAX_DICTS; k++) {
        uint32_t id = (uint32_t)s->dict_last_id + k;

        if (id > VSWAP_DICT_ID_MAX) {
            break;
        }
        if (vswap_dicts_entry_free(s, vswap_dicts_index(id))) {
            return id;
        }
    }
    return 0;
}

VswapDict *vswap_dicts_get(VswapStore *s, uint16_t id)
{
    VswapStoreDict *e;

    if (id == 0) {
        return NULL;
    }
    e = vswap_dicts_entry(s, id);
    return e->dict && vswap_dict_id(e->dict) == id ? e->dict : NULL;
}

bool vswap_dicts_job_take(VswapStore *s, VswapPageJob *job, uint16_t id)
{
    job->dict = vswap_dicts_get(s, id);
    if (job->dict) {
        vswap_dicts_entry(s, id)->jobs++;
    }
    return job->dict || id == 0;
}

void vswap_dicts_job_put(VswapStore *s, VswapPageJob *job)
{
    VswapStoreDict *e;

    if (job->dict) {
        e = vswap_dicts_entry(s, vswap_dict_id(job->dict));
        e->jobs--;
        job->dict = NULL;
        vswap_dicts_maybe_retire(s, e);
    }
}

void vswap_dicts_seg_add(VswapStore *s, VswapSegment *seg, const void *rec)
{
    uint16_t id = vswap_rec_dict(rec);
    unsigned i;

    if (id == 0) {
        return;
    }
    i = vswap_dicts_index(id);
    if (!(seg->dicts & (1u << i))) {
        seg->dicts |= 1u << i;
        s->dicts[i].segs++;
    }
}

void vswap_dicts_seg_drop(VswapStore *s, VswapSegment *seg)
{
    uint16_t bits = seg->dicts;

    seg->dicts = 0;
    for (unsigned i = 0; bits; i++, bits >>= 1) {
        if (bits & 1) {
            g_assert(s->dicts[i].segs > 0);
            s->dicts[i].segs--;
            vswap_dicts_maybe_retire(s, &s->dicts[i]);
        }
    }
}

void vswap_dicts_hold_disk(VswapStore *s)
{
    uint16_t held = 0;

    for (unsigned i = 0; i < VSWAP_STORE_MAX_DICTS; i++) {
        held |= s->dicts[i].dict ? 1u << i : 0;
    }
    for (uint32_t k = 0; k < s->disk.nsegs; k++) {
        VswapSegment *seg = &s->disk.segs[k];
        uint16_t add = held & ~seg->dicts;

        if (seg->state == VSWAP_SEG_FREE) {
            continue;
        }
        seg->dicts |= add;
        for (unsigned i = 0; add; i++, add >>= 1) {
            s->dicts[i].segs += add & 1;
        }
    }
    /* One that no segment holds is not needed. */
    for (unsigned i = 0; i < VSWAP_STORE_MAX_DICTS; i++) {
        vswap_dicts_maybe_retire(s, &s->dicts[i]);
    }
}

void vswap_dicts_end_import(VswapStore *s)
{
    if (!s->dict_pinned) {
        return;
    }
    s->dict_pinned = false;
    for (unsigned i = 0; i < VSWAP_STORE_MAX_DICTS; i++) {
        s->dicts[i].imported = false;
        vswap_dicts_maybe_retire(s, &s->dicts[i]);
    }
}

/* Count the bits of one log's segments into @segs. */
static void vswap_dicts_count_log(const VswapLog *log, uint32_t *segs)
{
    for (uint32_t k = 0; k < log->nsegs; k++) {
        uint16_t bits = log->segs[k].dicts;

        for (unsigned i = 0; bits; i++, bits >>= 1) {
            segs[i] += bits & 1;
        }
    }
}

bool vswap_dicts_check(VswapStore *s)
{
    uint32_t segs[VSWAP_STORE_MAX_DICTS] = { 0 };

    vswap_dicts_count_log(&s->mem, segs);
    vswap_dicts_count_log(&s->disk, segs);
    for (unsigned i = 0; i < VSWAP_STORE_MAX_DICTS; i++) {
        if (segs[i] != s->dicts[i].segs) {
            return false;
        }
    }
    return true;
}

/* Take @dict (and its reference) into the table; false if taken. */
static bool vswap_dicts_install(VswapStore *s, VswapDict *dict)
{
    uint16_t id = vswap_dict_id(dict);
    VswapStoreDict *e = vswap_dicts_entry(s, id);

    if (e->dict) {
        return false;
    }
    e->dict = dict;
    e->jobs = 0;
    s->dict_exported &= ~(1u << (e - s->dicts));
    s->dict_last_id = MAX(s->dict_last_id, id);
    return true;
}

/* The current dictionary's baseline: @bytes of payload on @pages pages. */
static void vswap_dicts_set_base(VswapStore *s, uint64_t bytes,
                                 uint64_t pages)
{
    s->dict_base_bytes = bytes;
    s->dict_base_pages = bytes ? pages : 0;
    s->dict_win_bytes = 0;
    s->dict_win_pages = 0;
    s->st.dict_drift_permille = bytes ? 1000 : 0;
}

/*
 * Compress with dictionary @id from now on, measuring it afresh.  The
 * previous one is not retired here: the caller is still adding them.
 */
static void vswap_dicts_set_cur(VswapStore *s, uint16_t id)
{
    s->dict_cur = id;
    vswap_dicts_set_base(s, 0, 0);
}

static unsigned vswap_dicts_train_pages(VswapStore *s)
{
    return s->cfg.dict_train_pages ? s->cfg.dict_train_pages :
                                     VSWAP_DICT_TRAIN_PAGES;
}

/*
 * Context: a thread of its own.  Move every eighth page to the end, train on
 * the others, then measure on those held out.
 */
static void vswap_dicts_run_train(VswapJob *j, VswapCodec *codec)
{
    VswapPageJob *job = (VswapPageJob *)j;
    VswapDictTraining *t = job->train;
    unsigned ntest = t->n / 8, ntrain = t->n - ntest;
    g_autofree uint8_t *held = g_malloc((size_t)ntest * VSWAP_STORE_PAGE_SIZE);
    g_autoptr(GError) err = NULL;
    VswapPayloadKind kind;
    unsigned kept = 0;

    for (unsigned i = 0; i < t->n; i++) {
        uint8_t *page = t->pages + (size_t)i * VSWAP_STORE_PAGE_SIZE;

        if (i % 8 == 7 && i / 8 < ntest) {
            memcpy(held + (size_t)(i / 8) * VSWAP_STORE_PAGE_SIZE, page,
                   VSWAP_STORE_PAGE_SIZE);
        } else {
            memmove(t->pages + (size_t)kept++ * VSWAP_STORE_PAGE_SIZE, page,
                    VSWAP_STORE_PAGE_SIZE);
        }
    }
    g_assert(kept == ntrain);
    t->ntest = ntest;
    t->dict = vswap_dict_train(t->pages, ntrain, VSWAP_STORE_DICT_SIZE, t->id,
                               t->level, &err);
    if (!t->dict) {
        return;     /* counted as rejected, like one that does not pay */
    }
    for (unsigned i = 0; i < ntest; i++) {
        const uint8_t *page = held + (size_t)i * VSWAP_STORE_PAGE_SIZE;

        t->without += vswap_codec_compress(codec, page, job->buf, &kind);
        t->with += vswap_codec_compress_dict(codec, t->dict, page, job->buf,
                                             &kind);
        if (job->dict) {
            t->with_cur += vswap_codec_compress_dict(codec, job->dict, page,
                                                     job->buf, &kind);
        }
    }
}

static void vswap_dicts_start_training(VswapStore *s)
{
    uint16_t id = vswap_dicts_next_id(s);
    VswapPageJob *job;
    VswapDictTraining *t;

    if (!id) {
        return;     /* every entry is held: again when one is retired */
    }
    job = vswap_store_get_job(s);
    if (!job) {
        return;     /* every job is busy: again with the next page */
    }
    t = g_new0(VswapDictTraining, 1);
    t->pages = g_steal_pointer(&s->dict_sample);
    t->n = s->dict_nsample;
    t->id = id;
    t->level = s->cfg.level;
    s->dict_nsample = 0;
    s->dict_training = true;
    /* The current one is measured on the same held-out pages. */
    vswap_dicts_job_take(s, job, s->dict_cur);
    s->st.dict_retrainings += s->dict_cur != 0;
    job->type = VSWAP_JOB_TRAIN;
    job->train = t;
    job->req = NULL;
    job->op = NULL;
    vswap_store_start_job(s, job, vswap_dicts_run_train);
}

void vswap_dicts_sample(VswapStore *s, const void *page)
{
    unsigned n = vswap_dicts_train_pages(s);

    if (!s->cfg.dict_auto || s->dict_training ||
        (s->dict_cur && !s->dict_drifted) ||
        s->dict_last_id >= VSWAP_DICT_ID_MAX) {
        return;
    }
    if (s->dict_skip) {
        s->dict_skip--;
        return;
    }
    if (s->dict_stride++ % VSWAP_DICT_SAMPLE_STRIDE) {
        return;
    }
    if (!s->dict_sample) {
        s->dict_sample = g_try_malloc((size_t)n * VSWAP_STORE_PAGE_SIZE);
        if (!s->dict_sample) {
            return;
        }
    }
    if (s->dict_nsample < n) {
        memcpy(s->dict_sample + (size_t)s->dict_nsample++ *
               VSWAP_STORE_PAGE_SIZE, page, VSWAP_STORE_PAGE_SIZE);
    }
    if (s->dict_nsample == n) {
        vswap_dicts_start_training(s);
    }
}

/*
 * Does the dictionary trained in @t pay: within 1% of the payload without
 * one, for zstd's speed with it, and, if the store has one (@job's), a
 * clear saving over it?
 */
static bool vswap_dicts_pays(const VswapDictTraining *t,
                             const VswapPageJob *job)
{
    return t->dict && t->with * 100 <= t->without * 101 &&
           (!job->dict ||
            t->with * 100 <= t->with_cur * (100 - VSWAP_DICT_RETRAIN_MARGIN));
}

void vswap_dicts_train_done(VswapStore *s, VswapPageJob *job)
{
    VswapDictTraining *t = g_steal_pointer(&job->train);

    s->dict_training = false;
    s->dict_drifted = false;
    s->dict_last_id = MAX(s->dict_last_id, t->id);
    s->st.dict_trainings++;
    if (t->dict) {
        s->st.dict_gain_permille = t->with ? t->without * 1000 / t->with : 0;
    }
    if (vswap_dicts_pays(t, job) && vswap_dicts_install(s, t->dict)) {
        s->dict_cur = t->id;
        vswap_dicts_set_base(s, t->with, t->ntest);
    } else {
        vswap_dict_unref(t->dict);
        s->st.dict_rejected++;
        s->dict_skip = (uint64_t)t->n * VSWAP_DICT_SAMPLE_STRIDE *
                       VSWAP_DICT_RETRY_FACTOR;
        if (job->dict) {
            /* What the current one does on today's pages. */
            vswap_dicts_set_base(s, t->with_cur, t->ntest);
        }
    }
    g_free(t->pages);
    g_free(t);
    /* Drops the job's hold on the previous current one, retiring it. */
    vswap_store_put_job(s, job);
}

void vswap_dicts_note_write(VswapStore *s, const VswapPageJob *job)
{
    uint64_t permille;

    vswap_dicts_end_import(s);
    if (!s->cfg.dict_auto || !s->dict_cur ||
        vswap_rec_dict(job->rec) != s->dict_cur) {
        return;
    }
    s->dict_win_bytes += job->len;
    if (++s->dict_win_pages < vswap_dicts_train_pages(s)) {
        return;
    }
    if (!s->dict_base_pages) {
        /* Restored or imported: measured on the first pages from now. */
        vswap_dicts_set_base(s, s->dict_win_bytes, s->dict_win_pages);
        return;
    }
    permille = s->dict_win_bytes * s->dict_base_pages * 1000 /
               (s->dict_base_bytes * s->dict_win_pages);
    s->st.dict_drift_permille = permille;
    if (permille >= VSWAP_DICT_DRIFT_PERMILLE) {
        s->dict_drifted = true;
    }
    s->dict_win_bytes = 0;
    s->dict_win_pages = 0;
}

bool vswap_dicts_export_next(VswapStore *s, VswapRecordInfo *info,
                             void *payload)
{
    for (unsigned i = 0; i < VSWAP_STORE_MAX_DICTS; i++) {
        VswapDict *dict = s->dicts[i].dict;
        const void *content;
        size_t len;

        if (!dict || (s->dict_exported & (1u << i))) {
            continue;
        }
        content = vswap_dict_content(dict, &len);
        memset(info, 0, sizeof(*info));
        info->kind = VSWAP_RECORD_DICT;
        info->dict = vswap_dict_id(dict);
        info->len = len;
        info->crc = vswap_crc32c(0, content, len);
        memcpy(payload, content, len);
        s->dict_exported |= 1u << i;
        return true;
    }
    return false;
}

int vswap_dicts_import(VswapStore *s, const VswapRecordInfo *info,
                       const void *payload)
{
    g_autoptr(GError) err = NULL;
    VswapDict *dict, *have;
    const void *content;
    size_t len;

    if (info->slot != 0 || info->dict == 0 || info->dict > VSWAP_DICT_ID_MAX ||
        info->len == 0 || info->len > VSWAP_DICT_MAX_SIZE || !payload ||
        vswap_crc32c(0, payload, info->len) != info->crc) {
        return -EINVAL;
    }
    have = vswap_dicts_get(s, info->dict);
    if (have) {
        /* Sent again (a second export): the same content, or a lie. */
        content = vswap_dict_content(have, &len);
        return len == info->len && !memcmp(content, payload, len) ? 0 :
               -EINVAL;
    }
    dict = vswap_dict_load(payload, info->len, info->dict, s->cfg.level, &err);
    if (!dict) {
        return -EINVAL;
    }
    if (!vswap_dicts_install(s, dict)) {
        vswap_dict_unref(dict);
        return -EINVAL;
    }
    /*
     * Its records may come later in the stream, after others of it were
     * overwritten and their segments freed: keep it until the end.
     */
    vswap_dicts_entry(s, info->dict)->imported = true;
    s->dict_pinned = true;
    /* The newest one is what the source compressed with last. */
    if (s->cfg.dict_auto && info->dict > s->dict_cur) {
        vswap_dicts_set_cur(s, info->dict);
    }
    return 0;
}

bool vswap_dicts_restore(void *opaque, uint16_t id, const void *content,
                         size_t len, GError **errp)
{
    VswapStore *s = opaque;
    g_autoptr(GError) err = NULL;
    VswapDict *dict = vswap_dict_load(content, len, id, s->cfg.level, &err);

    if (!dict || !vswap_dicts_install(s, dict)) {
        vswap_dict_unref(dict);
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "%s: corrupt checkpoint (dictionary %u: %s)", s->name, id,
                    err ? err->message : "its table entry is taken");
        return false;
    }
    /* A reopened dict=auto store goes on with its newest dictionary. */
    if (s->cfg.dict_auto && id > s->dict_cur) {
        vswap_dicts_set_cur(s, id);
    }
    return true;
}

void vswap_dicts_stats(VswapStore *s, VswapStoreStats *st)
{
    st->dict_id = s->dict_cur;
    st->dicts = 0;
    st->dict_bytes = 0;
    for (unsigned i = 0; i < VSWAP_STORE_MAX_DICTS; i++) {
        if (s->dicts[i].dict) {
            st->dicts++;
            st->dict_bytes += vswap_dict_memory(s->dicts[i].dict);
        }
    }
}

void vswap_dicts_destroy(VswapStore *s)
{
    for (unsigned i = 0; i < VSWAP_STORE_MAX_DICTS; i++) {
        vswap_dict_unref(g_steal_pointer(&s->dicts[i].dict));
    }
    g_free(g_steal_pointer(&s->dict_sample));
}
