/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the page codec: fill detection, zstd round trips on real
 * and generated pages, and decoding of corrupt payloads.
 */

#include <errno.h>
#include <glib.h>
#include <string.h>

#include <zstd.h>

#include "codec.h"
#include "dict.h"
#include "test-pages.h"

#define PAGE VSWAP_STORE_PAGE_SIZE

static const char *const corpus_files[] = {
    "python-heap.pages",
    "node-heap.pages",
    "cc1-heap.pages",
};

/* Returns the corpus file's pages, or NULL after g_test_skip(). */
static uint8_t *vswap_codec_test_load_corpus(const char *name, size_t *npages)
{
    const char *dir = g_getenv("VSWAP_CORPUS");
    g_autofree char *path = NULL;
    g_autoptr(GError) err = NULL;
    char *data;
    gsize len;

    if (!dir || !*dir) {
        g_test_skip("VSWAP_CORPUS is not set");
        return NULL;
    }
    path = g_build_filename(dir, name, NULL);
    if (!g_file_get_contents(path, &data, &len, &err)) {
        g_autofree char *msg = g_strdup_printf("corpus file missing: %s",
                                               err->message);
        g_test_skip(msg);
        return NULL;
    }
    g_assert_cmpuint(len % PAGE, ==, 0);
    g_assert_cmpuint(len, >, 0);
    *npages = len / PAGE;
    return (uint8_t *)data;
}

static void vswap_codec_test_random_fill(uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = g_test_rand_int();
    }
}

/* Compresses @page, checks the payload's bounds and that it decodes back. */
static size_t vswap_codec_test_round_trip(VswapCodec *codec,
                                          const uint8_t *page,
                                          VswapPayloadKind *kind)
{
    g_autofree uint8_t *out = g_malloc(PAGE);
    g_autofree uint8_t *back = g_malloc(PAGE);
    size_t len = vswap_codec_compress(codec, page, out, kind);

    g_assert_cmpuint(len, >=, 1);
    g_assert_cmpuint(len, <=, PAGE);
    if (*kind == VSWAP_PAYLOAD_RAW) {
        g_assert_cmpuint(len, ==, PAGE);
    } else {
        g_assert_cmpint(*kind, ==, VSWAP_PAYLOAD_ZSTD);
        g_assert_cmpuint(len, <, PAGE);
    }
    g_assert_cmpint(vswap_codec_decompress(codec, *kind, out, len, back),
                    ==, 0);
    g_assert_cmpmem(back, PAGE, page, PAGE);
    return len;
}

/* Repeat the four bytes @b through @page. */
static void vswap_codec_test_repeat(uint8_t *page, const uint8_t b[4])
{
    for (size_t i = 0; i < PAGE; i += 4) {
        memcpy(page + i, b, 4);
    }
}

static void test_fill_detection(void)
{
    static const uint8_t beef[4] = { 0xef, 0xbe, 0xad, 0xde };
    g_autofree uint8_t *page = g_malloc(PAGE);
    uint32_t fill = 1;

    memset(page, 0, PAGE);
    g_assert_true(vswap_page_fill_value(page, &fill));
    g_assert_cmphex(fill, ==, 0);

    vswap_codec_test_repeat(page, beef);
    g_assert_true(vswap_page_fill_value(page, &fill));
    g_assert_cmphex(fill, ==, 0xdeadbeef);

    /* A difference anywhere breaks it, at either end or in the middle. */
    page[PAGE - 1] ^= 1;
    g_assert_false(vswap_page_fill_value(page, &fill));
    page[PAGE - 1] ^= 1;
    page[0] ^= 0x80;
    g_assert_false(vswap_page_fill_value(page, &fill));
    page[0] ^= 0x80;
    page[2053] ^= 4;
    g_assert_false(vswap_page_fill_value(page, &fill));
    page[2053] ^= 4;
    g_assert_true(vswap_page_fill_value(page, &fill));

    /* A repeated 64-bit value is not a repeated 32-bit value. */
    for (size_t i = 0; i < PAGE; i += 8) {
        uint64_t w = 0x0123456789abcdefull;

        memcpy(page + i, &w, 8);
    }
    g_assert_false(vswap_page_fill_value(page, &fill));
}

static void test_fill_round_trip(void)
{
    g_autofree uint8_t *page = g_malloc(PAGE);
    g_autofree uint8_t *ref = g_malloc(PAGE);
    static const uint32_t values[] = {
        0, 1, 0xdeadbeef, 0xffffffff, 0x80000000, 0x00ff00ff,
    };

    for (size_t v = 0; v < G_N_ELEMENTS(values); v++) {
        uint32_t le = GUINT32_TO_LE(values[v]);
        uint32_t fill = ~values[v];

        vswap_page_fill(page, values[v]);
        vswap_codec_test_repeat(ref, (const uint8_t *)&le);
        g_assert_cmpmem(page, PAGE, ref, PAGE);
        g_assert_true(vswap_page_fill_value(page, &fill));
        g_assert_cmphex(fill, ==, values[v]);
    }
}

/*
 * A fill value's bytes are little-endian in the page on every host
 * (codec.h): the guest sends 0x01020304 for the page 04 03 02 01 ..., and
 * checkpoints and migration carry the number.  Written with literal bytes,
 * so that a big-endian host runs the same check.
 */
static void test_fill_byte_order(void)
{
    static const uint8_t le_bytes[4] = { 0x04, 0x03, 0x02, 0x01 };
    g_autofree uint8_t *page = g_malloc(PAGE);
    g_autofree uint8_t *ref = g_malloc(PAGE);
    uint32_t fill = 0;

    vswap_page_fill(page, 0x01020304);
    vswap_codec_test_repeat(ref, le_bytes);
    g_assert_cmpmem(page, 8, ref, 8);
    g_assert_cmpmem(page, PAGE, ref, PAGE);

    g_assert_true(vswap_page_fill_value(ref, &fill));
    g_assert_cmphex(fill, ==, 0x01020304);

    /* Not a palindrome either way round: 0x04030201 is another page. */
    vswap_page_fill(page, 0x04030201);
    g_assert_cmpuint(page[0], ==, 0x01);
    g_assert_cmpuint(page[3], ==, 0x04);
    g_assert_cmpuint(page[PAGE - 4], ==, 0x01);
}

static void test_levels(void)
{
    VswapCodec *codec;

    g_assert_null(vswap_codec_new(ZSTD_maxCLevel() + 1));
    g_assert_null(vswap_codec_new(ZSTD_minCLevel() - 1));
    for (int level = -5; level <= ZSTD_maxCLevel(); level++) {
        codec = vswap_codec_new(level);
        g_assert_nonnull(codec);
        vswap_codec_free(codec);
    }
    codec = vswap_codec_new(ZSTD_minCLevel());
    g_assert_nonnull(codec);
    g_assert_cmpint(vswap_codec_set_level(codec, ZSTD_maxCLevel() + 1),
                    ==, -EINVAL);
    g_assert_cmpint(vswap_codec_set_level(codec, 3), ==, 0);
    vswap_codec_free(codec);
    vswap_codec_free(NULL);
}

static void test_generated_pages(void)
{
    g_autofree uint8_t *page = g_malloc(PAGE);
    VswapCodec *codec = vswap_codec_new(1);
    static const char text[] =
        "struct page *page = alloc_page(GFP_KERNEL); /* swap me out */\n";
    VswapPayloadKind kind;
    size_t len;

    for (int i = 0; i < 64; i++) {
        vswap_codec_test_random_fill(page, PAGE);
        len = vswap_codec_test_round_trip(codec, page, &kind);
        g_assert_cmpint(kind, ==, VSWAP_PAYLOAD_RAW);
        g_assert_cmpuint(len, ==, PAGE);
    }

    for (size_t i = 0; i < PAGE; i++) {
        page[i] = text[i % (sizeof(text) - 1)];
    }
    len = vswap_codec_test_round_trip(codec, page, &kind);
    g_assert_cmpint(kind, ==, VSWAP_PAYLOAD_ZSTD);
    g_assert_cmpuint(len, <, 200);
    g_test_message("repeated text page: %zu bytes", len);

    /* Half random, half zero: compressible, but only by about half. */
    memset(page, 0, PAGE);
    vswap_codec_test_random_fill(page, PAGE / 2);
    len = vswap_codec_test_round_trip(codec, page, &kind);
    g_assert_cmpint(kind, ==, VSWAP_PAYLOAD_ZSTD);
    g_assert_cmpuint(len, >, PAGE / 2);
    g_assert_cmpuint(len, <, PAGE / 2 + 128);

    /* Nearly incompressible: must fall back to raw, never exceed a page. */
    for (size_t zeros = 0; zeros < 64; zeros += 4) {
        vswap_codec_test_random_fill(page, PAGE);
        memset(page, 0, zeros);
        len = vswap_codec_test_round_trip(codec, page, &kind);
        g_assert_cmpuint(len, <=, PAGE);
    }

    memset(page, 0, PAGE);
    len = vswap_codec_test_round_trip(codec, page, &kind);
    g_assert_cmpint(kind, ==, VSWAP_PAYLOAD_ZSTD);
    vswap_codec_free(codec);
}

/* Every page of a corpus file round-trips; report the ratio. */
static void test_corpus(gconstpointer data)
{
    const char *name = data;
    size_t npages = 0, total = 0, raw = 0, filled = 0, store_total = 0;
    g_autofree uint8_t *pages = vswap_codec_test_load_corpus(name, &npages);
    VswapCodec *codec;

    if (!pages) {
        return;
    }
    codec = vswap_codec_new(1);
    for (size_t i = 0; i < npages; i++) {
        const uint8_t *page = pages + i * PAGE;
        VswapPayloadKind kind;
        uint32_t fill;
        size_t len = vswap_codec_test_round_trip(codec, page, &kind);

        total += len;
        raw += kind == VSWAP_PAYLOAD_RAW;
        if (vswap_page_fill_value(page, &fill)) {
            filled++;
        } else {
            store_total += len;
        }
    }
    g_test_message("%s: %zu pages, zstd-1 ratio %.2f (%zu raw), "
                   "%zu filled pages, ratio %.2f with fills as no payload",
                   name, npages, (double)npages * PAGE / total, raw, filled,
                   (double)npages * PAGE / MAX(store_total, 1));
    vswap_codec_free(codec);
}

/*
 * Informational: the codec against the bare ZSTD_compress2() loop that the
 * write path should keep up with, best of a few runs on a shared machine.
 */
static void test_corpus_speed(void)
{
    size_t npages = 0;
    g_autofree uint8_t *pages =
        vswap_codec_test_load_corpus(corpus_files[0], &npages);
    g_autofree uint8_t *out = NULL;
    double best_raw = G_MAXDOUBLE, best_codec = G_MAXDOUBLE;
    double best_dec = G_MAXDOUBLE;
    size_t bound = ZSTD_compressBound(PAGE);
    g_autofree uint8_t **payload = NULL;
    g_autofree size_t *lens = NULL;
    g_autofree VswapPayloadKind *kinds = NULL;
    VswapCodec *codec;
    ZSTD_CCtx *cctx;

    if (!pages) {
        return;
    }
    if (!g_test_perf() && !g_test_thorough()) {
        npages = MIN(npages, 2048);
    }
    out = g_malloc(bound);
    payload = g_new0(uint8_t *, npages);
    lens = g_new(size_t, npages);
    kinds = g_new(VswapPayloadKind, npages);
    codec = vswap_codec_new(1);
    cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
    for (size_t i = 0; i < npages; i++) {
        payload[i] = g_malloc(PAGE);
    }

    for (int run = 0; run < 5; run++) {
        gint64 t0 = g_get_monotonic_time(), t1, t2, t3;

        for (size_t i = 0; i < npages; i++) {
            g_assert_false(ZSTD_isError(ZSTD_compress2(cctx, out, bound,
                                                       pages + i * PAGE,
                                                       PAGE)));
        }
        t1 = g_get_monotonic_time();
        for (size_t i = 0; i < npages; i++) {
            lens[i] = vswap_codec_compress(codec, pages + i * PAGE,
                                           payload[i], &kinds[i]);
        }
        t2 = g_get_monotonic_time();
        for (size_t i = 0; i < npages; i++) {
            g_assert_cmpint(vswap_codec_decompress(codec, kinds[i], payload[i],
                                                   lens[i], out), ==, 0);
        }
        t3 = g_get_monotonic_time();
        best_raw = MIN(best_raw, (double)(t1 - t0));
        best_codec = MIN(best_codec, (double)(t2 - t1));
        best_dec = MIN(best_dec, (double)(t3 - t2));
    }
    g_test_message("%s, %zu pages, level 1, one thread: ZSTD_compress2 loop "
                   "%.0f MB/s, vswap_codec_compress %.0f MB/s (%.0f%%), "
                   "vswap_codec_decompress %.0f MB/s",
                   corpus_files[0], npages,
                   npages * PAGE / MAX(best_raw, 1),
                   npages * PAGE / MAX(best_codec, 1),
                   100.0 * best_raw / MAX(best_codec, 1),
                   npages * PAGE / MAX(best_dec, 1));

    for (size_t i = 0; i < npages; i++) {
        g_free(payload[i]);
    }
    ZSTD_freeCCtx(cctx);
    vswap_codec_free(codec);
}

#define GUARD 256

/*
 * Decodes @len bytes of @in as @kind into a page followed by a guard area,
 * which must be untouched afterwards (libzstd is not built with ASan, so
 * ASan alone would miss its overruns); success must be a page that zstd
 * itself decodes from the same bytes.
 */
static int vswap_codec_test_decode(VswapCodec *codec, VswapPayloadKind kind,
                                   const uint8_t *in, size_t len)
{
    g_autofree uint8_t *page = g_malloc(PAGE + GUARD);
    g_autofree uint8_t *ref = NULL;
    int ret;

    memset(page + PAGE, 0xa5, GUARD);
    ret = vswap_codec_decompress(codec, kind, in, len, page);
    for (size_t i = PAGE; i < PAGE + GUARD; i++) {
        g_assert_cmphex(page[i], ==, 0xa5);
    }
    g_assert_true(ret == 0 || ret == -EBADMSG);
    if (ret == 0) {
        g_assert_cmpuint(len, <=, PAGE);
        if (kind == VSWAP_PAYLOAD_ZSTD) {
            ref = g_malloc(2 * PAGE);
            g_assert_cmpuint(ZSTD_decompress(ref, 2 * PAGE, in, len),
                             ==, PAGE);
            g_assert_cmpmem(page, PAGE, ref, PAGE);
        } else {
            g_assert_cmpint(kind, ==, VSWAP_PAYLOAD_RAW);
            g_assert_cmpuint(len, ==, PAGE);
            g_assert_cmpmem(page, PAGE, in, PAGE);
        }
    }
    return ret;
}

/* Exactly @len bytes on the heap, so that ASan catches reads past them. */
static uint8_t *vswap_codec_test_dup(const void *src, size_t len)
{
    return len ? g_memdup2(src, len) : NULL;
}

static void test_decompress_garbage(void)
{
    VswapCodec *codec = vswap_codec_new(1);
    uint8_t hdr[PAGE];
    g_autofree uint8_t *scratch = g_malloc(5000);
    size_t hdr_len;
    unsigned iters = g_test_thorough() ? 200000 : 20000;
    unsigned ok = 0;

    /* A real frame header, so that garbage also reaches the block decoder. */
    memset(scratch, 'a', PAGE);
    hdr_len = ZSTD_compress(hdr, sizeof(hdr), scratch, PAGE, 1);
    g_assert_false(ZSTD_isError(hdr_len));

    for (unsigned i = 0; i < iters; i++) {
        size_t len = g_test_rand_int_range(0, 5001);
        g_autofree uint8_t *in = NULL;
        VswapPayloadKind kind = (i & 1) ? VSWAP_PAYLOAD_ZSTD
                                        : VSWAP_PAYLOAD_RAW;
        int ret;

        vswap_codec_test_random_fill(scratch, len);
        if ((i & 3) == 3) {
            /* Magic, header, maybe a block header: then garbage. */
            size_t keep = g_test_rand_int_range(4, 13);

            memcpy(scratch, hdr, MIN(len, keep));
        }
        in = vswap_codec_test_dup(scratch, len);
        ret = vswap_codec_test_decode(codec, kind, in, len);
        if (kind == VSWAP_PAYLOAD_RAW) {
            g_assert_cmpint(ret, ==, len == PAGE ? 0 : -EBADMSG);
        }
        ok += ret == 0;
    }

    /* Unknown kinds are refused even with a valid payload. */
    for (int kind = -1; kind <= 4; kind++) {
        if (kind == VSWAP_PAYLOAD_RAW || kind == VSWAP_PAYLOAD_ZSTD) {
            continue;
        }
        g_assert_cmpint(vswap_codec_test_decode(codec, kind, hdr, hdr_len),
                        ==, -EBADMSG);
        g_assert_cmpint(vswap_codec_test_decode(codec, kind, hdr, PAGE),
                        ==, -EBADMSG);
    }
    g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_ZSTD,
                                            NULL, 0), ==, -EBADMSG);
    g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_RAW,
                                            NULL, 0), ==, -EBADMSG);
    g_test_message("%u garbage payloads, %u decoded as a page", iters, ok);
    vswap_codec_free(codec);
}

/* Valid frames changed by one byte, or cut short, never decode wrongly. */
static void test_decompress_corrupt_frames(void)
{
    VswapCodec *codec = vswap_codec_new(3);
    g_autofree uint8_t *page = g_malloc(PAGE);
    g_autofree uint8_t *frame = g_malloc(PAGE);
    static const char words[][8] = {
        "swap", "page", "zstd", "qemu", "virtio", "guest", "slot", "ring",
    };
    unsigned changed_ok = 0;
    VswapPayloadKind kind;
    size_t len;

    for (size_t i = 0; i < PAGE; ) {
        const char *w = words[g_test_rand_int_range(0, G_N_ELEMENTS(words))];

        for (size_t k = 0; w[k] && i < PAGE; k++) {
            page[i++] = w[k];
        }
        if (i < PAGE) {
            page[i++] = g_test_rand_int_range(0, 4) ? ' ' : g_test_rand_int();
        }
    }
    len = vswap_codec_compress(codec, page, frame, &kind);
    g_assert_cmpint(kind, ==, VSWAP_PAYLOAD_ZSTD);
    g_assert_cmpuint(len, <, PAGE / 2);

    for (size_t cut = 0; cut < len; cut++) {
        g_autofree uint8_t *in = vswap_codec_test_dup(frame, cut);

        g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_ZSTD,
                                                in, cut), ==, -EBADMSG);
    }
    for (size_t pos = 0; pos < len; pos++) {
        for (int t = 0; t < 8; t++) {
            g_autofree uint8_t *in = vswap_codec_test_dup(frame, len);

            in[pos] ^= 1u << t;
            changed_ok += vswap_codec_test_decode(codec, VSWAP_PAYLOAD_ZSTD,
                                                  in, len) == 0;
        }
    }
    g_test_message("%zu-byte frame: %u of %zu one-bit changes still decode "
                   "(no zstd checksum; the store's CRC32C catches these)",
                   len, changed_ok, len * 8);

    /* The frame itself still decodes; as RAW it is the wrong length. */
    g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_ZSTD,
                                            frame, len), ==, 0);
    g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_RAW,
                                            frame, len), ==, -EBADMSG);
    vswap_codec_free(codec);
}

/* Frames that are valid zstd but are not one frame of one page. */
static void test_decompress_wrong_frames(void)
{
    VswapCodec *codec = vswap_codec_new(1);
    g_autofree uint8_t *two = g_malloc(2 * PAGE);
    g_autofree uint8_t *frame = g_malloc(ZSTD_compressBound(2 * PAGE));
    g_autofree uint8_t *buf = g_malloc(2 * PAGE);
    size_t bound = ZSTD_compressBound(2 * PAGE);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    size_t len, len2;

    for (size_t i = 0; i < 2 * PAGE; i++) {
        two[i] = "0123456789abcdef"[i % 16] ^ (i / 512);
    }

    /* A 2-page frame: far below a page in size, but two pages of content. */
    len = ZSTD_compress(frame, bound, two, 2 * PAGE, 1);
    g_assert_false(ZSTD_isError(len));
    g_assert_cmpuint(len, <, PAGE);
    g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_ZSTD,
                                            frame, len), ==, -EBADMSG);

    /* Smaller than a page, and a page plus one byte. */
    len = ZSTD_compress(frame, bound, two, PAGE - 1, 1);
    g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_ZSTD,
                                            frame, len), ==, -EBADMSG);
    len = ZSTD_compress(frame, bound, two, PAGE + 1, 1);
    g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_ZSTD,
                                            frame, len), ==, -EBADMSG);

    /* Two half-page frames adding up to a page. */
    len = ZSTD_compress(frame, bound, two, PAGE / 2, 1);
    len2 = ZSTD_compress(frame + len, bound - len, two + PAGE / 2, PAGE / 2, 1);
    g_assert_false(ZSTD_isError(len2));
    g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_ZSTD,
                                            frame, len + len2), ==, -EBADMSG);

    /* A page frame followed by an empty frame, or by one stray byte. */
    len = ZSTD_compress(frame, bound, two, PAGE, 1);
    g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_ZSTD,
                                            frame, len), ==, 0);
    len2 = ZSTD_compress(frame + len, bound - len, two, 0, 1);
    g_assert_false(ZSTD_isError(len2));
    g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_ZSTD,
                                            frame, len + len2), ==, -EBADMSG);
    frame[len] = 0;
    g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_ZSTD,
                                            frame, len + 1), ==, -EBADMSG);

    /* A page frame without its content size in the header. */
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
    len = ZSTD_compress2(cctx, frame, bound, two, PAGE);
    g_assert_false(ZSTD_isError(len));
    g_assert_cmpuint(ZSTD_getFrameContentSize(frame, len), ==,
                     ZSTD_CONTENTSIZE_UNKNOWN);
    g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_ZSTD,
                                            frame, len), ==, -EBADMSG);

    /* A page frame with zstd's checksum is still one page: accepted. */
    ZSTD_CCtx_reset(cctx, ZSTD_reset_parameters);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    len = ZSTD_compress2(cctx, frame, bound, two, PAGE);
    g_assert_false(ZSTD_isError(len));
    g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_ZSTD,
                                            frame, len), ==, 0);
    frame[len - 1] ^= 1;
    g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_ZSTD,
                                            frame, len), ==, -EBADMSG);

    /* A skippable frame alone. */
    memset(frame, 0, 16);
    frame[0] = 0x50;
    frame[1] = 0x2a;
    frame[2] = 0x4d;
    frame[3] = 0x18;
    frame[4] = 8;
    g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_ZSTD,
                                            frame, 16), ==, -EBADMSG);

    /* Random pages stored raw: as ZSTD they are garbage, over a page is bad. */
    vswap_codec_test_random_fill(buf, 2 * PAGE);
    g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_ZSTD,
                                            buf, PAGE), ==, -EBADMSG);
    g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_RAW,
                                            buf, PAGE + 1), ==, -EBADMSG);
    g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_RAW,
                                            buf, PAGE - 1), ==, -EBADMSG);
    g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_RAW,
                                            buf, PAGE), ==, 0);

    /* A valid page frame padded beyond a page. */
    len = ZSTD_compress(buf, 2 * PAGE, two, PAGE, 1);
    memset(buf + len, 0, PAGE + 1 - len);
    g_assert_cmpint(vswap_codec_test_decode(codec, VSWAP_PAYLOAD_ZSTD,
                                            buf, PAGE + 1), ==, -EBADMSG);

    ZSTD_freeCCtx(cctx);
    vswap_codec_free(codec);
}

/* --- dictionaries --- */

/* Heap pages [@first, @first + @npages) of test-pages.h, back to back. */
static uint8_t *vswap_codec_test_heap_pages(unsigned first, size_t npages)
{
    uint8_t *pages = g_malloc(npages * PAGE);

    for (size_t i = 0; i < npages; i++) {
        test_pages_heap(pages + i * PAGE, first + i);
    }
    return pages;
}

static void test_dict_round_trip(void)
{
    const size_t ntrain = 512, ntest = 256;
    g_autofree uint8_t *train = vswap_codec_test_heap_pages(0, ntrain);
    g_autofree uint8_t *test = vswap_codec_test_heap_pages(ntrain, ntest);
    g_autofree uint8_t *out = g_malloc(PAGE);
    g_autofree uint8_t *back = g_malloc(PAGE);
    g_autoptr(GError) err = NULL;
    g_autoptr(VswapDict) dict = NULL;
    VswapCodec *codec = vswap_codec_new(1);
    size_t with = 0, without = 0, len;
    VswapPayloadKind kind;

    dict = vswap_dict_train(train, ntrain, VSWAP_DICT_MAX_SIZE, 7, 1, &err);
    g_assert_no_error(err);
    g_assert_nonnull(dict);
    g_assert_cmpuint(vswap_dict_id(dict), ==, 7);
    vswap_dict_content(dict, &len);
    g_assert_cmpuint(len, >=, VSWAP_DICT_MIN_SIZE);
    g_assert_cmpuint(len, <=, VSWAP_DICT_MAX_SIZE);
    g_assert_cmpuint(vswap_dict_memory(dict), >, len);

    for (size_t i = 0; i < ntest; i++) {
        const uint8_t *page = test + i * PAGE;

        len = vswap_codec_compress_dict(codec, dict, page, out, &kind);
        g_assert_cmpint(kind, ==, VSWAP_PAYLOAD_ZSTD_DICT);
        g_assert_cmpuint(len, <, PAGE);
        with += len;
        memset(back, 0, PAGE);
        g_assert_cmpint(vswap_codec_decompress_dict(codec, dict, kind, out,
                                                    len, back), ==, 0);
        g_assert_cmpmem(back, PAGE, page, PAGE);
        /* Without the dictionary that it names, a payload is refused. */
        g_assert_cmpint(vswap_codec_decompress_dict(codec, NULL, kind, out,
                                                    len, back), ==, -EBADMSG);
        g_assert_cmpint(vswap_codec_decompress(codec, kind, out, len, back),
                        ==, -EBADMSG);

        len = vswap_codec_compress(codec, page, out, &kind);
        g_assert_cmpint(kind, ==, VSWAP_PAYLOAD_ZSTD);
        without += len;
        /* And a plain frame is not decoded with a dictionary. */
        g_assert_cmpint(vswap_codec_decompress_dict(codec, dict, kind, out,
                                                    len, back), ==, -EBADMSG);
    }
    g_test_message("heap-like pages: %zu bytes with a dictionary, %zu"
                   " without (x%.2f)", with, without, (double)without / with);
    /* The vocabulary is in the dictionary: it must pay for itself. */
    g_assert_cmpuint(with * 5, <, without * 4);

    /* An incompressible page stays raw, whatever the dictionary. */
    vswap_codec_test_random_fill(back, PAGE);
    len = vswap_codec_compress_dict(codec, dict, back, out, &kind);
    g_assert_cmpint(kind, ==, VSWAP_PAYLOAD_RAW);
    g_assert_cmpuint(len, ==, PAGE);
    /*
     * ...and the dictionary does not stay behind in the context: zstd
     * keeps it after a frame that did not fit unless the session is
     * reset, and the next page, compressed without one, would then name
     * none while needing it.
     */
    len = vswap_codec_compress(codec, test, out, &kind);
    g_assert_cmpint(kind, ==, VSWAP_PAYLOAD_ZSTD);
    g_assert_cmpint(vswap_codec_decompress(codec, kind, out, len, back), ==, 0);
    g_assert_cmpmem(back, PAGE, test, PAGE);
    vswap_codec_free(codec);
}

/*
 * Frames of several pages (group records): they round-trip with and
 * without a dictionary, a member comes out alone, and a frame is only
 * taken for exactly the pages and the dictionary it was made with.
 */
static void test_pages_frames(void)
{
    const size_t ntrain = 256, n = 4;
    g_autofree uint8_t *train = vswap_codec_test_heap_pages(0, ntrain);
    g_autofree uint8_t *pages = vswap_codec_test_heap_pages(ntrain, n);
    g_autofree uint8_t *out = g_malloc(n * PAGE);
    g_autofree uint8_t *back = g_malloc(n * PAGE);
    g_autoptr(GError) err = NULL;
    g_autoptr(VswapDict) dict = NULL;
    VswapCodec *codec = vswap_codec_new(1);

    dict = vswap_dict_train(train, ntrain, VSWAP_DICT_MAX_SIZE, 3, 1, &err);
    g_assert_no_error(err);
    for (int d = 0; d < 2; d++) {
        const VswapDict *with = d ? dict : NULL;
        size_t len = vswap_codec_compress_pages(codec, with, pages, n, out,
                                                n * PAGE);

        g_assert_cmpuint(len, >, 0);
        g_assert_cmpuint(len, <, n * PAGE / 2);
        g_assert_cmpint(vswap_codec_decompress_pages(codec, with, out, len,
                                                     back, n), ==, 0);
        g_assert_cmpmem(back, n * PAGE, pages, n * PAGE);
        for (unsigned m = 0; m < n; m++) {
            g_assert_cmpint(vswap_codec_decompress_member(codec, with, out,
                                                          len, n, m, back),
                            ==, 0);
            g_assert_cmpmem(back, PAGE, pages + m * PAGE, PAGE);
        }
        /* Another page count, a member beyond it, a cut frame. */
        g_assert_cmpint(vswap_codec_decompress_pages(codec, with, out, len,
                                                     back, n - 1), ==,
                        -EBADMSG);
        g_assert_cmpint(vswap_codec_decompress_member(codec, with, out, len,
                                                      n, n, back), ==,
                        -EBADMSG);
        g_assert_cmpint(vswap_codec_decompress_member(codec, with, out, len,
                                                      8, 0, back), ==,
                        -EBADMSG);
        g_assert_cmpint(vswap_codec_decompress_pages(codec, with, out,
                                                     len - 1, back, n), ==,
                        -EBADMSG);
        /* A frame that does not fit is refused, not cut. */
        g_assert_cmpuint(vswap_codec_compress_pages(codec, with, pages, n,
                                                    out, 16), ==, 0);
    }
    vswap_codec_free(codec);
}

/* A dictionary carried as content comes back the same, byte for byte. */
static void test_dict_load(void)
{
    const size_t ntrain = 256;
    g_autofree uint8_t *train = vswap_codec_test_heap_pages(0, ntrain);
    g_autofree uint8_t *out1 = g_malloc(PAGE);
    g_autofree uint8_t *out2 = g_malloc(PAGE);
    g_autofree uint8_t *back = g_malloc(PAGE);
    g_autoptr(GError) err = NULL;
    g_autoptr(VswapDict) dict = NULL;
    g_autoptr(VswapDict) copy = NULL;
    VswapCodec *codec = vswap_codec_new(1);
    VswapPayloadKind k1, k2;
    const void *content;
    size_t len, l1, l2;

    dict = vswap_dict_train(train, ntrain, 4096, 1, 1, &err);
    g_assert_no_error(err);
    content = vswap_dict_content(dict, &len);
    copy = vswap_dict_load(content, len, VSWAP_DICT_ID_MAX, 1, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(vswap_dict_id(copy), ==, VSWAP_DICT_ID_MAX);
    for (size_t i = 0; i < ntrain; i += 17) {
        l1 = vswap_codec_compress_dict(codec, dict, train + i * PAGE, out1,
                                       &k1);
        l2 = vswap_codec_compress_dict(codec, copy, train + i * PAGE, out2,
                                       &k2);
        g_assert_cmpmem(out1, l1, out2, l2);
        g_assert_cmpint(k1, ==, k2);
        g_assert_cmpint(vswap_codec_decompress_dict(codec, copy, k1, out1, l1,
                                                    back), ==, 0);
        g_assert_cmpmem(back, PAGE, train + i * PAGE, PAGE);
    }
    vswap_codec_free(codec);
}

/*
 * Content from a stream or a file is untrusted: anything that is not a
 * zstd dictionary of a sane size is refused with an error, and damaged
 * ones either are too or decode without crashing (ASan runs this).
 */
static void test_dict_load_hostile(void)
{
    const size_t ntrain = 256;
    g_autofree uint8_t *train = vswap_codec_test_heap_pages(0, ntrain);
    g_autofree uint8_t *junk = g_malloc(VSWAP_DICT_MAX_SIZE + 1);
    g_autofree uint8_t *out = g_malloc(PAGE);
    g_autofree uint8_t *back = g_malloc(PAGE);
    g_autoptr(VswapDict) dict = NULL;
    VswapCodec *codec = vswap_codec_new(1);
    const uint8_t *content;
    unsigned refused = 0;
    VswapPayloadKind kind;
    size_t len, plen;
    GError *err = NULL;

    dict = vswap_dict_train(train, ntrain, 4096, 1, 1, &err);
    g_assert_no_error(err);
    content = vswap_dict_content(dict, &len);
    plen = vswap_codec_compress_dict(codec, dict, train, out, &kind);

    /* Raw content is not taken for a dictionary. */
    vswap_codec_test_random_fill(junk, VSWAP_DICT_MAX_SIZE + 1);
    g_assert_null(vswap_dict_load(junk, 4096, 1, 1, &err));
    g_assert_nonnull(strstr(err->message, "not a zstd dictionary"));
    g_clear_error(&err);
    /* Sizes, ids and levels out of range. */
    g_assert_null(vswap_dict_load(content, VSWAP_DICT_MIN_SIZE - 1, 1, 1,
                                  &err));
    g_clear_error(&err);
    memcpy(junk, content, len);
    g_assert_null(vswap_dict_load(junk, VSWAP_DICT_MAX_SIZE + 1, 1, 1, &err));
    g_clear_error(&err);
    g_assert_null(vswap_dict_load(content, len, 0, 1, &err));
    g_clear_error(&err);
    g_assert_null(vswap_dict_load(content, len, VSWAP_DICT_ID_MAX + 1, 1,
                                  &err));
    g_clear_error(&err);
    g_assert_null(vswap_dict_load(content, len, 1, ZSTD_maxCLevel() + 1,
                                  &err));
    g_clear_error(&err);

    /* Damaged dictionaries: bytes of the header and tables changed. */
    for (unsigned round = 0; round < 300; round++) {
        VswapDict *bad;

        memcpy(junk, content, len);
        for (unsigned k = 0; k < 1 + round % 8; k++) {
            junk[g_test_rand_int_range(4, MIN(len, 1024))] ^=
                1 + g_test_rand_int_range(0, 255);
        }
        bad = vswap_dict_load(junk, round % 3 ? len : len / 2, 1, 1, &err);
        if (!bad) {
            g_assert_nonnull(err);
            g_clear_error(&err);
            refused++;
            continue;
        }
        /* Either result is fine; reading past anything is not. */
        vswap_codec_decompress_dict(codec, bad, kind, out, plen, back);
        plen = vswap_codec_compress_dict(codec, bad, train + PAGE, back,
                                         &kind);
        g_assert_cmpuint(plen, <=, PAGE);
        plen = vswap_codec_compress_dict(codec, dict, train, out, &kind);
        vswap_dict_unref(bad);
    }
    g_test_message("%u of 300 damaged dictionaries refused", refused);
    g_assert_cmpuint(refused, >, 0);

    /* Training errors are errors, not crashes. */
    g_assert_null(vswap_dict_train(train, 0, 4096, 1, 1, &err));
    g_clear_error(&err);
    g_assert_null(vswap_dict_train(train, 4, 4096, 0, 1, &err));
    g_clear_error(&err);
    g_assert_null(vswap_dict_train(train, 4, 100, 1, 1, &err));
    g_clear_error(&err);
    g_assert_null(vswap_dict_train(train, 4, VSWAP_DICT_MAX_SIZE + 1, 1, 1,
                                   &err));
    g_clear_error(&err);
    vswap_codec_free(codec);
}

/*
 * Too few pages to learn from: an error the store can report, not a
 * failure (it then goes on without a dictionary).
 */
static void test_dict_untrainable(void)
{
    g_autofree uint8_t *pages = vswap_codec_test_heap_pages(0, 4);
    GError *err = NULL;

    for (size_t n = 1; n <= 4; n++) {
        VswapDict *dict = vswap_dict_train(pages, n, 4096, 1, 1, &err);

        g_test_message("%zu pages: %s", n, dict ? "trained" : err->message);
        g_assert_true((dict == NULL) == (err != NULL));
        if (n == 1) {
            g_assert_null(dict);
        }
        g_clear_error(&err);
        vswap_dict_unref(dict);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/codec/fill/detection", test_fill_detection);
    g_test_add_func("/codec/fill/round-trip", test_fill_round_trip);
    g_test_add_func("/codec/fill/byte-order", test_fill_byte_order);
    g_test_add_func("/codec/levels", test_levels);
    g_test_add_func("/codec/generated-pages", test_generated_pages);
    for (size_t i = 0; i < G_N_ELEMENTS(corpus_files); i++) {
        g_autofree char *path = g_strdup_printf("/codec/corpus/%s",
                                                corpus_files[i]);

        g_test_add_data_func(path, corpus_files[i], test_corpus);
    }
    g_test_add_func("/codec/corpus-speed", test_corpus_speed);
    g_test_add_func("/codec/decompress/garbage", test_decompress_garbage);
    g_test_add_func("/codec/decompress/corrupt-frames",
                    test_decompress_corrupt_frames);
    g_test_add_func("/codec/decompress/wrong-frames",
                    test_decompress_wrong_frames);
    g_test_add_func("/codec/dict/round-trip", test_dict_round_trip);
    g_test_add_func("/codec/dict/load", test_dict_load);
    g_test_add_func("/codec/dict/load-hostile", test_dict_load_hostile);
    g_test_add_func("/codec/dict/untrainable", test_dict_untrainable);
    g_test_add_func("/codec/pages-frames", test_pages_frames);
    return g_test_run();
}
