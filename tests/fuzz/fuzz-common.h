/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared helpers of the store's libFuzzer targets: a byte reader over the
 * fuzz input and a scratch store file.
 */
#ifndef VSWAP_FUZZ_COMMON_H
#define VSWAP_FUZZ_COMMON_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The libFuzzer entry point each target defines. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct FuzzInput {
    const uint8_t *data;
    size_t len;
    size_t pos;
} FuzzInput;

static inline bool fuzz_more(const FuzzInput *in)
{
    return in->pos < in->len;
}

/* The next @n bytes as a little-endian number; zero past the end. */
static inline uint64_t fuzz_take(FuzzInput *in, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < n; i++) {
        uint64_t b = in->pos < in->len ? in->data[in->pos++] : 0;

        v |= b << (8 * i);
    }
    return v;
}

/* A path for this process's scratch store file. */
static inline const char *fuzz_scratch_path(const char *name)
{
    static char path[256];

    if (!path[0]) {
        snprintf(path, sizeof(path), "%s/vswap-fuzz-%s-%d",
                 g_get_tmp_dir(), name, (int)getpid());
    }
    return path;
}

/* A finding: crash loudly so that libFuzzer saves the input. */
#define FUZZ_CHECK(cond)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", #cond,      \
                    __FILE__, __LINE__);                                   \
            abort();                                                       \
        }                                                                  \
    } while (0)

#endif /* VSWAP_FUZZ_COMMON_H */
