/*
 * Unit tests of the record checksum (CRC32C).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "checksum.h"

/* Check values from RFC 3720 (iSCSI), appendix B.4. */
static void test_known_vectors(void)
{
    uint8_t buf[32];

    g_assert_cmphex(vswap_crc32c(0, "123456789", 9), ==, 0xe3069283);
    memset(buf, 0, sizeof(buf));
    g_assert_cmphex(vswap_crc32c(0, buf, sizeof(buf)), ==, 0x8a9136aa);
    memset(buf, 0xff, sizeof(buf));
    g_assert_cmphex(vswap_crc32c(0, buf, sizeof(buf)), ==, 0x62a8ab43);
    for (int i = 0; i < 32; i++) {
        buf[i] = i;
    }
    g_assert_cmphex(vswap_crc32c(0, buf, sizeof(buf)), ==, 0x46dd794e);
}

/* Hardware and table agree on every length and alignment, and chain. */
static void test_hw_matches_sw(void)
{
    g_autofree uint8_t *buf = g_malloc(4096 + 16);
    GRand *rand = g_rand_new_with_seed(1);

    for (size_t i = 0; i < 4096 + 16; i++) {
        buf[i] = g_rand_int(rand);
    }
    for (size_t off = 0; off < 8; off++) {
        for (size_t len = 0; len <= 4096; len += (len < 64 ? 1 : 61)) {
            uint32_t whole = vswap_crc32c(0, buf + off, len);

            g_assert_cmphex(whole, ==, vswap_crc32c_sw(0, buf + off, len));
            g_assert_cmphex(vswap_crc32c(vswap_crc32c(0, buf + off, len / 3),
                                         buf + off + len / 3, len - len / 3),
                            ==, whole);
        }
    }
    g_rand_free(rand);
}

/* Any single flipped bit in a page changes the checksum. */
static void test_detects_bit_flips(void)
{
    g_autofree uint8_t *page = g_malloc0(4096);
    uint32_t good = vswap_crc32c(0, page, 4096);

    for (size_t bit = 0; bit < 4096 * 8; bit += 97) {
        page[bit / 8] ^= 1u << (bit % 8);
        g_assert_cmphex(vswap_crc32c(0, page, 4096), !=, good);
        page[bit / 8] ^= 1u << (bit % 8);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/checksum/known-vectors", test_known_vectors);
    g_test_add_func("/checksum/hw-matches-sw", test_hw_matches_sw);
    g_test_add_func("/checksum/detects-bit-flips", test_detects_bit_flips);
    return g_test_run();
}
