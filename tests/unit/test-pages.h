/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test pages for the store's tests and benchmarks: real anonymous memory
 * from the page corpus ($VSWAP_CORPUS, which scripts/make-corpus.py
 * makes), generated pages of a similar mix otherwise.  Every page is
 * stamped with its slot and version, so a stale or misplaced page never
 * compares equal; zero pages of the corpus stay zero, so that same-filled
 * pages are exercised too.
 */
#ifndef VSWAP_TEST_PAGES_H
#define VSWAP_TEST_PAGES_H

#include <glib.h>
#include <stdint.h>
#include <string.h>

#define TEST_PAGE_SIZE 4096
#define TEST_PAGES_RING 1024

typedef struct TestPages {
    uint8_t *corpus;            /* concatenated corpus pages, or NULL */
    size_t npages;
    uint8_t *ring;              /* returned pages, reused round-robin */
    unsigned next;
} TestPages;

static inline void test_pages_load(TestPages *tp, const char *dir)
{
    static const char *const files[] = {
        "python-heap.pages", "node-heap.pages", "cc1-heap.pages",
    };
    GByteArray *all = g_byte_array_new();

    for (unsigned i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *path = g_build_filename(dir, files[i], NULL);
        g_autofree char *data = NULL;
        gsize len;

        if (g_file_get_contents(path, &data, &len, NULL)) {
            g_byte_array_append(all, (guint8 *)data,
                                len - len % TEST_PAGE_SIZE);
        }
    }
    tp->npages = all->len / TEST_PAGE_SIZE;
    tp->corpus = tp->npages ? g_byte_array_free(all, false) :
                 (g_byte_array_free(all, true), NULL);
}

static inline TestPages *test_pages_new(void)
{
    TestPages *tp = g_new0(TestPages, 1);
    const char *dir = g_getenv("VSWAP_CORPUS");

    if (dir) {
        test_pages_load(tp, dir);
    }
    tp->ring = g_malloc(TEST_PAGES_RING * TEST_PAGE_SIZE);
    return tp;
}

static inline void test_pages_free(TestPages *tp)
{
    g_free(tp->corpus);
    g_free(tp->ring);
    g_free(tp);
}

static inline bool test_page_is_zero(const uint8_t *p)
{
    return p[0] == 0 && memcmp(p, p + 1, TEST_PAGE_SIZE - 1) == 0;
}

/* Generated page: text-like (compressible), random, or zero. */
static inline void test_pages_generate(uint8_t *p, uint64_t seed)
{
    static const char *const words[] = {
        "swap", "page", "slot", "guest", "host", "store", "zstd", "segment",
        "record", "compact", "memory", "qemu", "virtio", "ring", "queue",
    };
    GRand *rand = g_rand_new_with_seed(seed ^ (seed >> 32));
    unsigned kind = seed % 10;

    if (kind == 0) {
        memset(p, 0, TEST_PAGE_SIZE);
    } else if (kind == 1) {
        for (unsigned i = 0; i < TEST_PAGE_SIZE; i += 4) {
            uint32_t r = g_rand_int(rand);

            memcpy(p + i, &r, 4);
        }
    } else {
        unsigned off = 0;

        while (off < TEST_PAGE_SIZE) {
            const char *w = words[g_rand_int_range(rand, 0,
                                                   G_N_ELEMENTS(words))];
            size_t n = MIN(strlen(w), (size_t)TEST_PAGE_SIZE - off);

            memcpy(p + off, w, n);
            off += n;
            if (off < TEST_PAGE_SIZE) {
                p[off++] = g_rand_int_range(rand, 0, 4) ? ' ' : '\n';
            }
        }
    }
    g_rand_free(rand);
}

/*
 * test_pages_get: page number @index, version @ver.  The pointer stays
 * valid for the next TEST_PAGES_RING - 1 calls.
 */
static inline const uint8_t *test_pages_get(TestPages *tp, uint64_t index,
                                            unsigned ver)
{
    uint8_t *p = tp->ring + (size_t)(tp->next++ % TEST_PAGES_RING) *
                 TEST_PAGE_SIZE;
    uint64_t pick = index * 7919 + ver * 104729;
    uint64_t stamp[2] = { index, ver };

    if (tp->corpus) {
        memcpy(p, tp->corpus + (pick % tp->npages) * TEST_PAGE_SIZE,
               TEST_PAGE_SIZE);
    } else {
        test_pages_generate(p, pick);
    }
    if (!test_page_is_zero(p)) {
        memcpy(p + 64, stamp, sizeof(stamp));
    }
    return p;
}

/* Vocabularies of test_pages_heap_vocab(): memory of different programs. */
#define TEST_PAGES_VOCABS 4

/*
 * test_pages_heap_vocab: page @i of a heap of 64-byte objects, each a
 * type word, a random id and words of vocabulary @vocab (one of
 * TEST_PAGES_VOCABS, 384 words each, which fit a 4 KiB zstd dictionary):
 * pages that a dictionary trained on the same vocabulary measurably
 * helps, and one trained on another does not, the same in every run.
 */
static inline void test_pages_heap_vocab(uint8_t *page, unsigned i,
                                         unsigned vocab)
{
    enum { NWORDS = 384, WORD_MAX = 12 };
    static char words[TEST_PAGES_VOCABS][NWORDS][WORD_MAX + 1];
    char (*vw)[WORD_MAX + 1];
    GRand *rand;

    g_assert(vocab < TEST_PAGES_VOCABS);
    vw = words[vocab];
    if (!vw[0][0]) {
        rand = g_rand_new_with_seed(42 + vocab);
        for (unsigned w = 0; w < NWORDS; w++) {
            int n = g_rand_int_range(rand, 5, WORD_MAX + 1);

            for (int k = 0; k < n; k++) {
                vw[w][k] = 'a' + g_rand_int_range(rand, 0, 26);
            }
        }
        g_rand_free(rand);
    }
    rand = g_rand_new_with_seed(i + 1);
    for (unsigned o = 0; o < TEST_PAGE_SIZE / 64; o++) {
        uint8_t *obj = page + o * 64;
        uint64_t type = UINT64_C(0x00007f3a91c04e20) + vocab * 0x1010;
        uint32_t id = g_rand_int(rand);
        size_t pos = 12;

        memcpy(obj, &type, 8);
        memcpy(obj + 8, &id, 4);
        while (pos < 64) {
            const char *w = vw[g_rand_int_range(rand, 0, NWORDS)];
            size_t n = MIN(strlen(w) + 1, 64 - pos);

            memcpy(obj + pos, w, n);
            pos += n;
        }
    }
    g_rand_free(rand);
}

/* test_pages_heap_vocab() of the first vocabulary. */
static inline void test_pages_heap(uint8_t *page, unsigned i)
{
    test_pages_heap_vocab(page, i, 0);
}

#endif /* VSWAP_TEST_PAGES_H */
