/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * zstd dictionaries of one store, trained on that store's own pages.
 *
 * A page is compressed alone, so zstd starts every page with an empty
 * history; a dictionary gives it the strings that this VM's pages have in
 * common (allocator headers, vtables, interned strings).  A dictionary is
 * never shared between stores: trained on one guest's memory, it holds
 * that guest's data, and a record of another guest compressed with it
 * would let that data leak into how the other's pages are stored.
 *
 * A VswapDict is immutable once made and reference counted, so that worker
 * threads can compress with it while the store retires it.  Its id is the
 * store's own number for it (1..VSWAP_DICT_ID_MAX, 0 meaning "none"); the
 * content's zstd dictionary ID is not used, and frames do not carry it.
 */
#ifndef VSWAP_DICT_H
#define VSWAP_DICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>
#include <zstd.h>

/*
 * Largest dictionary content: a page.  Pages are compressed one by one,
 * and on the corpus a 4 KiB dictionary does as well as 16 to 110 KiB ones
 * (docs/benchmarks.md); it also fits where a page's payload goes.
 */
#define VSWAP_DICT_MAX_SIZE 4096
/* Smallest content zstd's trainer produces. */
#define VSWAP_DICT_MIN_SIZE 256
/* Dictionary ids fit the record header's 16-bit field; 0 is "none". */
#define VSWAP_DICT_ID_MAX UINT16_MAX

typedef struct VswapDict VswapDict;

/*
 * vswap_dict_train: train a dictionary of at most @max_size bytes on
 * @npages pages (4 KiB each, back to back) of one store, for compression
 * at zstd @level, and give it @id.  Same-filled pages should be left out
 * by the caller: they are stored without payload and would only skew it.
 * Returns NULL with @errp set when zstd cannot train on these pages (too
 * few, or too alike), which is not a failure of the store.
 */
VswapDict *vswap_dict_train(const void *pages, size_t npages, size_t max_size,
                            uint32_t id, int level, GError **errp);

/*
 * vswap_dict_load: a dictionary from @len bytes of content that a
 * migration stream or a store file carried, so untrusted: it must be a
 * zstd dictionary (magic and entropy tables) of VSWAP_DICT_MIN_SIZE to
 * VSWAP_DICT_MAX_SIZE bytes, with @id in 1..VSWAP_DICT_ID_MAX.
 * Returns NULL with @errp set otherwise.
 */
VswapDict *vswap_dict_load(const void *content, size_t len, uint32_t id,
                           int level, GError **errp);

VswapDict *vswap_dict_ref(VswapDict *dict);
void vswap_dict_unref(VswapDict *dict);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VswapDict, vswap_dict_unref)

uint32_t vswap_dict_id(const VswapDict *dict);
/* The content, as vswap_dict_load() takes it back. */
const void *vswap_dict_content(const VswapDict *dict, size_t *len);
/* Host memory the dictionary holds: content and both digested forms. */
size_t vswap_dict_memory(const VswapDict *dict);

/* The digested forms, for the codec (codec.c). */
const ZSTD_CDict *vswap_dict_cdict(const VswapDict *dict);
const ZSTD_DDict *vswap_dict_ddict(const VswapDict *dict);

#endif /* VSWAP_DICT_H */
