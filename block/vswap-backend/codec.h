/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Page codec of the store: same-filled detection and per-page zstd.
 *
 * Pages are compressed one at a time, as a swap store receives them.  A page
 * that zstd cannot shrink is kept raw, so no record is ever larger than a
 * page.  A VswapCodec holds zstd contexts and is used by one thread at a time.
 */
#ifndef VSWAP_CODEC_H
#define VSWAP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vswap/store.h"    /* VSWAP_STORE_PAGE_SIZE */

/* How a record's payload encodes its page. */
typedef enum VswapPayloadKind {
    VSWAP_PAYLOAD_RAW = 1,      /* the page itself, a whole page */
    VSWAP_PAYLOAD_ZSTD = 2,     /* one zstd frame of one page */
    /*
     * one zstd frame of one page, compressed with one of the store's
     * dictionaries (dict.h), which the record names; the frame does not
     */
    VSWAP_PAYLOAD_ZSTD_DICT = 3,
    /*
     * several pages of the cold tier in one zstd frame (group.h): only in
     * disk segments, and never in a migration stream
     */
    VSWAP_PAYLOAD_ZSTD_GROUP = 4,
} VswapPayloadKind;

typedef struct VswapCodec VswapCodec;
typedef struct VswapDict VswapDict;

/*
 * Returns a codec compressing at zstd @level
 * (ZSTD_minCLevel()..ZSTD_maxCLevel()), or NULL.
 */
VswapCodec *vswap_codec_new(int level);
void vswap_codec_free(VswapCodec *codec);

/*
 * A fill value is a 32-bit number whose little-endian bytes repeat through
 * the page, on hosts of either byte order: fill 0x01020304 is the page
 * 04 03 02 01 04 03 02 01 ...  This is how the guest sends it
 * (include/vswap/virtio_vswap.h), and checkpoints and migration streams
 * carry it as that number, so they mean the same pages on every host.
 */

/*
 * vswap_page_fill_value: true when @page is one 32-bit value repeated
 * (zero pages included); then *@fill holds its first four bytes read as
 * little-endian.
 */
bool vswap_page_fill_value(const void *page, uint32_t *fill);

/* Fill @page with @fill's four little-endian bytes, repeated. */
void vswap_page_fill(void *page, uint32_t fill);

/*
 * vswap_codec_compress: encode one page into @out (VSWAP_STORE_PAGE_SIZE
 * bytes).
 * Returns the payload length (1 .. VSWAP_STORE_PAGE_SIZE) and sets *@kind.
 * Never fails: a page zstd cannot shrink is copied raw.
 */
size_t vswap_codec_compress(VswapCodec *codec, const void *page, void *out,
                            VswapPayloadKind *kind);

/*
 * vswap_codec_decompress: decode a payload of @len bytes into @page.
 * Returns 0, or -EBADMSG if the payload is not exactly one page of @kind.
 */
int vswap_codec_decompress(VswapCodec *codec, VswapPayloadKind kind,
                           const void *in, size_t len, void *page);

/*
 * vswap_codec_compress_dict: as vswap_codec_compress(), with dictionary
 * @dict (NULL: none).  *@kind is VSWAP_PAYLOAD_ZSTD_DICT when the page was
 * compressed with it.  The dictionary's own level applies.
 */
size_t vswap_codec_compress_dict(VswapCodec *codec, const VswapDict *dict,
                                 const void *page, void *out,
                                 VswapPayloadKind *kind);

/*
 * vswap_codec_decompress_dict: as vswap_codec_decompress(), for a payload
 * of any kind; @dict is the dictionary that the record names, and must be
 * given for VSWAP_PAYLOAD_ZSTD_DICT (-EBADMSG without it).
 */
int vswap_codec_decompress_dict(VswapCodec *codec, const VswapDict *dict,
                                VswapPayloadKind kind, const void *in,
                                size_t len, void *page);

/*
 * vswap_codec_compress_pages: encode @n consecutive pages at @pages as one
 * zstd frame into @out, of @cap bytes, with dictionary @dict (NULL:
 * none).  Returns the frame's length, or 0 if it does not fit in @cap
 * (the pages do not compress well enough).
 */
size_t vswap_codec_compress_pages(VswapCodec *codec, const VswapDict *dict,
                                  const void *pages, unsigned n, void *out,
                                  size_t cap);

/*
 * vswap_codec_decompress_pages: decode a frame of @len bytes that must
 * declare exactly @n pages into @pages, with the dictionary it was made
 * with (NULL: none).  Returns 0 or -EBADMSG.
 */
int vswap_codec_decompress_pages(VswapCodec *codec, const VswapDict *dict,
                                 const void *in, size_t len, void *pages,
                                 unsigned n);

/*
 * vswap_codec_decompress_member: decode a frame of @n pages (at most
 * VSWAP_GROUP_MAX_PAGES) into the codec's own buffer and copy page
 * @member to @page.  Returns 0, -EBADMSG, or -ENOMEM.
 */
int vswap_codec_decompress_member(VswapCodec *codec, const VswapDict *dict,
                                  const void *in, size_t len, unsigned n,
                                  unsigned member, void *page);

/*
 * vswap_codec_set_level: compress at zstd @level from the next page on, so
 * that a worker pool can change the level of its long-lived codecs.
 * Returns 0, or -EINVAL if @level is out of range (the level is unchanged).
 */
int vswap_codec_set_level(VswapCodec *codec, int level);

#endif /* VSWAP_CODEC_H */
