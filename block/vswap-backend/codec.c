/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Page codec of the store: same-filled page detection and one zstd frame
 * per page, with a raw fallback so that no payload exceeds a page.
 */

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "codec.h"
#include "dict.h"
#include "format.h"

struct VswapCodec {
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
    /* the pages of a group being decoded (VSWAP_GROUP_MAX_PAGES), or NULL */
    uint8_t *group;
};

static bool vswap_codec_level_valid(int level)
{
    return ZSTD_minCLevel() <= level && level <= ZSTD_maxCLevel();
}

VswapCodec *vswap_codec_new(int level)
{
    VswapCodec *codec;

    if (!vswap_codec_level_valid(level)) {
        return NULL;
    }
    codec = calloc(1, sizeof(*codec));
    if (!codec) {
        return NULL;
    }
    codec->cctx = ZSTD_createCCtx();
    codec->dctx = ZSTD_createDCtx();
    if (!codec->cctx || !codec->dctx) {
        goto fail;
    }
    /*
     * The store checksums every record with CRC32C, so zstd's own checksum
     * would only cost time; the content size stays in the frame header so
     * that a frame of any other size is rejected before it is decoded.
     * Records name their dictionary, so frames need not (4 bytes saved).
     */
    if (ZSTD_isError(ZSTD_CCtx_setParameter(codec->cctx,
                                            ZSTD_c_checksumFlag, 0)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(codec->cctx,
                                            ZSTD_c_dictIDFlag, 0)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(codec->cctx,
                                            ZSTD_c_contentSizeFlag, 1)) ||
        vswap_codec_set_level(codec, level) < 0) {
        goto fail;
    }
    return codec;

fail:
    vswap_codec_free(codec);
    return NULL;
}

void vswap_codec_free(VswapCodec *codec)
{
    if (!codec) {
        return;
    }
    ZSTD_freeCCtx(codec->cctx);
    ZSTD_freeDCtx(codec->dctx);
    free(codec->group);
    free(codec);
}

int vswap_codec_set_level(VswapCodec *codec, int level)
{
    if (!vswap_codec_level_valid(level)) {
        return -EINVAL;
    }
    if (ZSTD_isError(ZSTD_CCtx_setParameter(codec->cctx,
                                            ZSTD_c_compressionLevel, level))) {
        return -EINVAL;
    }
    return 0;
}

/*
 * Most pages that are not filled differ within their first words, so the
 * early exit makes this nearly free for them; filled pages are scanned in
 * 64-byte strides whose comparisons the compiler can merge.
 */
bool vswap_page_fill_value(const void *page, uint32_t *fill)
{
    const uint8_t *p = page;
    uint32_t le;
    uint64_t pattern;

    memcpy(&le, p, sizeof(le));
    /* The first four bytes twice, whatever the host's byte order. */
    memcpy(&pattern, p, sizeof(le));
    memcpy((uint8_t *)&pattern + sizeof(le), p, sizeof(le));

    for (size_t off = 0; off < VSWAP_STORE_PAGE_SIZE; off += 64) {
        uint64_t w[8];
        uint64_t diff = 0;

        memcpy(w, p + off, sizeof(w));
        for (int i = 0; i < 8; i++) {
            diff |= w[i] ^ pattern;
        }
        if (diff) {
            return false;
        }
    }
    *fill = le32toh(le);
    return true;
}

void vswap_page_fill(void *page, uint32_t fill)
{
    uint8_t *p = page;
    uint32_t le = htole32(fill);
    uint64_t pattern;

    memcpy(&pattern, &le, sizeof(le));
    memcpy((uint8_t *)&pattern + sizeof(le), &le, sizeof(le));
    for (size_t off = 0; off < VSWAP_STORE_PAGE_SIZE; off += sizeof(pattern)) {
        memcpy(p + off, &pattern, sizeof(pattern));
    }
}

/*
 * Forget the dictionary a compression used.  zstd only lets go of it
 * between frames: after a compression that failed (the output did not
 * fit) the context is still inside its frame, and without the reset the
 * dictionary would silently stay for the next page, whose record would
 * then not name it.
 */
static void vswap_codec_unref_dict(VswapCodec *codec)
{
    ZSTD_CCtx_reset(codec->cctx, ZSTD_reset_session_only);
    ZSTD_CCtx_refCDict(codec->cctx, NULL);
}

/*
 * zstd writes straight into @out with room for one byte less than a page:
 * a frame that would not be smaller than the page fails with
 * dstSize_tooSmall and the page is stored raw instead.  This measured as
 * fast as compressing into a compressBound() scratch buffer and copying,
 * without the copy or the buffer.
 */
size_t vswap_codec_compress_dict(VswapCodec *codec, const VswapDict *dict,
                                 const void *page, void *out,
                                 VswapPayloadKind *kind)
{
    size_t len;

    /*
     * For a page, zstd attaches the dictionary's tables to the context
     * rather than copying them, so referencing it per page costs little.
     */
    if (dict) {
        ZSTD_CCtx_refCDict(codec->cctx, vswap_dict_cdict(dict));
    }
    len = ZSTD_compress2(codec->cctx, out, VSWAP_STORE_PAGE_SIZE - 1,
                         page, VSWAP_STORE_PAGE_SIZE);
    if (dict) {
        vswap_codec_unref_dict(codec);
    }
    if (ZSTD_isError(len) || len == 0) {
        memcpy(out, page, VSWAP_STORE_PAGE_SIZE);
        *kind = VSWAP_PAYLOAD_RAW;
        return VSWAP_STORE_PAGE_SIZE;
    }
    *kind = dict ? VSWAP_PAYLOAD_ZSTD_DICT : VSWAP_PAYLOAD_ZSTD;
    return len;
}

size_t vswap_codec_compress(VswapCodec *codec, const void *page, void *out,
                            VswapPayloadKind *kind)
{
    return vswap_codec_compress_dict(codec, NULL, page, out, kind);
}

/*
 * The payload may come from a corrupt file, so it must be exactly one frame
 * declaring one page: ZSTD_decompressDCtx() alone would also accept several
 * frames adding up to a page, or trailing empty frames.  zstd never writes
 * beyond the destination capacity it is given.
 */
int vswap_codec_decompress_dict(VswapCodec *codec, const VswapDict *dict,
                                VswapPayloadKind kind, const void *in,
                                size_t len, void *page)
{
    size_t ret;

    switch (kind) {
    case VSWAP_PAYLOAD_RAW:
        if (len != VSWAP_STORE_PAGE_SIZE) {
            return -EBADMSG;
        }
        memcpy(page, in, VSWAP_STORE_PAGE_SIZE);
        return 0;
    case VSWAP_PAYLOAD_ZSTD:
    case VSWAP_PAYLOAD_ZSTD_DICT:
        if ((kind == VSWAP_PAYLOAD_ZSTD_DICT) != (dict != NULL) ||
            len == 0 || len > VSWAP_STORE_PAGE_SIZE ||
            ZSTD_getFrameContentSize(in, len) != VSWAP_STORE_PAGE_SIZE ||
            ZSTD_findFrameCompressedSize(in, len) != len) {
            return -EBADMSG;
        }
        if (dict) {
            ret = ZSTD_decompress_usingDDict(codec->dctx, page,
                                             VSWAP_STORE_PAGE_SIZE, in, len,
                                             vswap_dict_ddict(dict));
        } else {
            ret = ZSTD_decompressDCtx(codec->dctx, page, VSWAP_STORE_PAGE_SIZE,
                                      in, len);
        }
        if (ZSTD_isError(ret) || ret != VSWAP_STORE_PAGE_SIZE) {
            return -EBADMSG;
        }
        return 0;
    default:
        return -EBADMSG;
    }
}

int vswap_codec_decompress(VswapCodec *codec, VswapPayloadKind kind,
                           const void *in, size_t len, void *page)
{
    return vswap_codec_decompress_dict(codec, NULL, kind, in, len, page);
}

size_t vswap_codec_compress_pages(VswapCodec *codec, const VswapDict *dict,
                                  const void *pages, unsigned n, void *out,
                                  size_t cap)
{
    size_t len;

    if (dict) {
        ZSTD_CCtx_refCDict(codec->cctx, vswap_dict_cdict(dict));
    }
    len = ZSTD_compress2(codec->cctx, out, cap, pages,
                         (size_t)n * VSWAP_STORE_PAGE_SIZE);
    if (dict) {
        vswap_codec_unref_dict(codec);
    }
    return ZSTD_isError(len) ? 0 : len;
}

/* As for one page: exactly one frame of exactly @n pages, from any file. */
int vswap_codec_decompress_pages(VswapCodec *codec, const VswapDict *dict,
                                 const void *in, size_t len, void *pages,
                                 unsigned n)
{
    size_t size = (size_t)n * VSWAP_STORE_PAGE_SIZE;
    size_t ret;

    if (len == 0 || ZSTD_getFrameContentSize(in, len) != size ||
        ZSTD_findFrameCompressedSize(in, len) != len) {
        return -EBADMSG;
    }
    ret = dict ? ZSTD_decompress_usingDDict(codec->dctx, pages, size, in, len,
                                            vswap_dict_ddict(dict)) :
          ZSTD_decompressDCtx(codec->dctx, pages, size, in, len);
    return ZSTD_isError(ret) || ret != size ? -EBADMSG : 0;
}

int vswap_codec_decompress_member(VswapCodec *codec, const VswapDict *dict,
                                  const void *in, size_t len, unsigned n,
                                  unsigned member, void *page)
{
    if (n > VSWAP_GROUP_MAX_PAGES || member >= n) {
        return -EBADMSG;
    }
    if (!codec->group) {
        codec->group = malloc(VSWAP_GROUP_MAX_PAGES * VSWAP_STORE_PAGE_SIZE);
        if (!codec->group) {
            return -ENOMEM;
        }
    }
    if (vswap_codec_decompress_pages(codec, dict, in, len, codec->group,
                                     n) < 0) {
        return -EBADMSG;
    }
    memcpy(page, codec->group + (size_t)member * VSWAP_STORE_PAGE_SIZE,
           VSWAP_STORE_PAGE_SIZE);
    return 0;
}
