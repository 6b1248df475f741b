/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The store's zstd dictionaries (cfg.dict_auto): trained on its own pages,
 * found by the id that records carry, and sent in exports before the
 * records that need them.
 *
 * Training: dict_train_pages compressible pages are copied aside, one in
 * VSWAP_DICT_SAMPLE_STRIDE of those written; a worker trains a dictionary
 * of VSWAP_STORE_DICT_SIZE bytes on seven eighths of them and compresses
 * the other eighth (every eighth page) with and without it.  The store
 * adopts it when it keeps that payload within 1%: with it, zstd
 * compresses 1.2 to 1.7 times faster (it need not build entropy tables
 * for every page), and on most memory it also gains a few percent; where
 * it would cost more, the store goes on without one and tries again much
 * later.  One dictionary per store so far: retraining when pages change,
 * and retiring dictionaries whose records are gone, come later.  A
 * persistent store keeps its dictionaries in the checkpoint.
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

struct VswapDictTraining {
    uint8_t *pages;
    unsigned n;
    uint16_t id;
    int level;
    VswapDict *dict;            /* the result, or NULL: zstd could not train */
    uint64_t with, without;     /* payload of the held-out pages */
};

static VswapStoreDict *vswap_dicts_entry(VswapStore *s, uint16_t id)
{
    return &s->dicts[(id - 1) % VSWAP_STORE_MAX_DICTS];
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
    if (job->dict) {
        vswap_dicts_entry(s, vswap_dict_id(job->dict))->jobs--;
        job->dict = NULL;
    }
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

static unsigned vswap_dicts_train_pages(VswapStore *s)
{
    return s->cfg.dict_train_pages ? s->cfg.dict_train_pages :
                                     VSWAP_DICT_TRAIN_PAGES;
}

/*
 * Context: worker thread.  Move every eighth page to the end, train on
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
    }
}

static void vswap_dicts_start_training(VswapStore *s)
{
    VswapPageJob *job = vswap_store_get_job(s);
    VswapDictTraining *t;

    if (!job) {
        return;     /* every job is busy: again with the next page */
    }
    t = g_new0(VswapDictTraining, 1);
    t->pages = g_steal_pointer(&s->dict_sample);
    t->n = s->dict_nsample;
    t->id = s->dict_last_id + 1;
    t->level = s->cfg.level;
    s->dict_nsample = 0;
    s->dict_training = true;
    job->type = VSWAP_JOB_TRAIN;
    job->train = t;
    job->req = NULL;
    job->op = NULL;
    vswap_store_start_job(s, job, vswap_dicts_run_train);
}

void vswap_dicts_sample(VswapStore *s, const void *page)
{
    unsigned n = vswap_dicts_train_pages(s);

    if (!s->cfg.dict_auto || s->dict_cur || s->dict_training ||
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

void vswap_dicts_train_done(VswapStore *s, VswapPageJob *job)
{
    VswapDictTraining *t = g_steal_pointer(&job->train);

    s->dict_training = false;
    s->st.dict_trainings++;
    if (t->dict) {
        s->st.dict_gain_permille = t->with ? t->without * 1000 / t->with : 0;
    }
    /* Within 1% of the payload without it, for zstd's speed with it. */
    if (t->dict && t->with * 100 <= t->without * 101 &&
        vswap_dicts_install(s, t->dict)) {
        s->dict_cur = t->id;
    } else {
        vswap_dict_unref(t->dict);
        s->dict_last_id = MAX(s->dict_last_id, t->id);
        s->st.dict_rejected++;
        s->dict_skip = (uint64_t)t->n * VSWAP_DICT_SAMPLE_STRIDE *
                       VSWAP_DICT_RETRY_FACTOR;
    }
    g_free(t->pages);
    g_free(t);
    vswap_store_put_job(s, job);
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
    /* The newest one is what the source compressed with last. */
    if (s->cfg.dict_auto && info->dict > s->dict_cur) {
        s->dict_cur = info->dict;
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
        s->dict_cur = id;
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
