/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * zstd dictionaries of one store: trained on its own pages, or loaded from
 * content that a migration stream or store file carried (see dict.h).
 */

#include <errno.h>
#include <string.h>

#include <zdict.h>
#include <zstd.h>

#include "codec.h"
#include "dict.h"

struct VswapDict {
    gint refcount;
    uint32_t id;
    void *content;
    size_t len;
    ZSTD_CDict *cdict;
    ZSTD_DDict *ddict;
};

/* The magic that starts a zstd dictionary, as opposed to raw content. */
#define VSWAP_ZSTD_DICT_MAGIC 0xEC30A437u

static void vswap_dict_free(VswapDict *dict)
{
    ZSTD_freeCDict(dict->cdict);
    ZSTD_freeDDict(dict->ddict);
    g_free(dict->content);
    g_free(dict);
}

/*
 * Digest @content (which the new dictionary takes over).  A content that
 * starts with the zstd dictionary magic is parsed as one, entropy tables
 * included, and rejected if they are malformed; the caller makes sure that
 * no other content gets here, so raw content is never taken for one.
 */
static VswapDict *vswap_dict_new(void *content, size_t len, uint32_t id,
                                 int level, GError **errp)
{
    VswapDict *dict = g_new0(VswapDict, 1);

    dict->refcount = 1;
    dict->id = id;
    dict->content = content;
    dict->len = len;
    dict->cdict = ZSTD_createCDict(content, len, level);
    dict->ddict = ZSTD_createDDict(content, len);
    if (!dict->cdict || !dict->ddict) {
        g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "zstd dictionary %u (%zu bytes) is malformed", id, len);
        vswap_dict_free(dict);
        return NULL;
    }
    return dict;
}

static bool vswap_dict_level_valid(int level, GError **errp)
{
    if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()) {
        g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "zstd level %d is out of range", level);
        return false;
    }
    return true;
}

static bool vswap_dict_id_valid(uint32_t id, GError **errp)
{
    if (id == 0 || id > VSWAP_DICT_ID_MAX) {
        g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "dictionary id %u is not in 1..%u", id, VSWAP_DICT_ID_MAX);
        return false;
    }
    return true;
}

VswapDict *vswap_dict_train(const void *pages, size_t npages, size_t max_size,
                            uint32_t id, int level, GError **errp)
{
    g_autofree size_t *sizes = NULL;
    g_autofree void *content = NULL;
    size_t len;

    if (!vswap_dict_id_valid(id, errp) ||
        !vswap_dict_level_valid(level, errp)) {
        return NULL;
    }
    if (max_size < VSWAP_DICT_MIN_SIZE || max_size > VSWAP_DICT_MAX_SIZE) {
        g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "dictionary size %zu is not in %u..%u", max_size,
                    VSWAP_DICT_MIN_SIZE, VSWAP_DICT_MAX_SIZE);
        return NULL;
    }
    if (npages == 0 || npages > UINT_MAX) {
        g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "cannot train a dictionary on %zu pages", npages);
        return NULL;
    }
    sizes = g_new(size_t, npages);
    for (size_t i = 0; i < npages; i++) {
        sizes[i] = VSWAP_STORE_PAGE_SIZE;
    }
    content = g_malloc(max_size);
    len = ZDICT_trainFromBuffer(content, max_size, pages, sizes, npages);
    if (ZDICT_isError(len)) {
        g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "zstd cannot train a dictionary on %zu pages: %s",
                    npages, ZDICT_getErrorName(len));
        return NULL;
    }
    return vswap_dict_new(g_realloc(g_steal_pointer(&content), len), len, id,
                          level, errp);
}

VswapDict *vswap_dict_load(const void *content, size_t len, uint32_t id,
                           int level, GError **errp)
{
    uint32_t magic;

    if (!vswap_dict_id_valid(id, errp) ||
        !vswap_dict_level_valid(level, errp)) {
        return NULL;
    }
    if (len < VSWAP_DICT_MIN_SIZE || len > VSWAP_DICT_MAX_SIZE) {
        g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "dictionary %u has %zu bytes, not %u..%u", id, len,
                    VSWAP_DICT_MIN_SIZE, VSWAP_DICT_MAX_SIZE);
        return NULL;
    }
    memcpy(&magic, content, sizeof(magic));
    if (GUINT32_FROM_LE(magic) != VSWAP_ZSTD_DICT_MAGIC ||
        ZDICT_getDictID(content, len) == 0) {
        g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "dictionary %u is not a zstd dictionary", id);
        return NULL;
    }
    return vswap_dict_new(g_memdup2(content, len), len, id, level, errp);
}

VswapDict *vswap_dict_ref(VswapDict *dict)
{
    g_atomic_int_inc(&dict->refcount);
    return dict;
}

void vswap_dict_unref(VswapDict *dict)
{
    if (dict && g_atomic_int_dec_and_test(&dict->refcount)) {
        vswap_dict_free(dict);
    }
}

uint32_t vswap_dict_id(const VswapDict *dict)
{
    return dict->id;
}

const void *vswap_dict_content(const VswapDict *dict, size_t *len)
{
    *len = dict->len;
    return dict->content;
}

size_t vswap_dict_memory(const VswapDict *dict)
{
    return dict->len + ZSTD_sizeof_CDict(dict->cdict) +
           ZSTD_sizeof_DDict(dict->ddict);
}

const ZSTD_CDict *vswap_dict_cdict(const VswapDict *dict)
{
    return dict->cdict;
}

const ZSTD_DDict *vswap_dict_ddict(const VswapDict *dict)
{
    return dict->ddict;
}
