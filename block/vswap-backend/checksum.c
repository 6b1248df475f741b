/*
 * Record checksums of the page store: CRC32C (Castagnoli), which x86 CPUs
 * compute in hardware at several GB/s, so that verifying every page read
 * costs little next to decompressing it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdbool.h>
#include <string.h>

#include "checksum.h"

#define CRC32C_POLY_REFLECTED 0x82f63b78u

static uint32_t crc32c_table[8][256];

/*
 * Runs before main(): the table is read-only afterwards, so threads
 * share it.
 */
__attribute__((constructor))
static void crc32c_init_table(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint32_t crc = i;

        for (int k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (CRC32C_POLY_REFLECTED & -(crc & 1));
        }
        crc32c_table[0][i] = crc;
    }
    for (unsigned i = 0; i < 256; i++) {
        for (unsigned t = 1; t < 8; t++) {
            uint32_t prev = crc32c_table[t - 1][i];

            crc32c_table[t][i] = (prev >> 8) ^ crc32c_table[0][prev & 0xff];
        }
    }
}

/* Slicing-by-8 over little-endian 64-bit words. */
uint32_t vswap_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    crc = ~crc;
    while (len >= 8) {
        uint64_t w;

        memcpy(&w, p, sizeof(w));
        w ^= crc;
        crc = crc32c_table[7][w & 0xff] ^
              crc32c_table[6][(w >> 8) & 0xff] ^
              crc32c_table[5][(w >> 16) & 0xff] ^
              crc32c_table[4][(w >> 24) & 0xff] ^
              crc32c_table[3][(w >> 32) & 0xff] ^
              crc32c_table[2][(w >> 40) & 0xff] ^
              crc32c_table[1][(w >> 48) & 0xff] ^
              crc32c_table[0][w >> 56];
        p += 8;
        len -= 8;
    }
    while (len--) {
        crc = (crc >> 8) ^ crc32c_table[0][(crc ^ *p++) & 0xff];
    }
    return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint64_t c = ~crc;

    while (len >= 8) {
        uint64_t w;

        memcpy(&w, p, sizeof(w));
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        len -= 8;
    }
    while (len--) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    }
    return ~(uint32_t)c;
}

static bool crc32c_have_hw(void)
{
    static int have = -1;

    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("sse4.2");
    }
    return have;
}
#endif

uint32_t vswap_crc32c(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
    if (crc32c_have_hw()) {
        return crc32c_hw(crc, buf, len);
    }
#endif
    return vswap_crc32c_sw(crc, buf, len);
}
