/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Record checksums of the page store: CRC32C (Castagnoli).
 */
#ifndef VSWAP_CHECKSUM_H
#define VSWAP_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/*
 * vswap_crc32c: extend @crc over @len bytes at @buf.
 *
 * Start a new checksum with @crc = 0.  Chaining calls over consecutive
 * buffers gives the checksum of their concatenation.  Uses the SSE4.2
 * instruction where the CPU has it and a table otherwise; both give the
 * same result.
 */
uint32_t vswap_crc32c(uint32_t crc, const void *buf, size_t len);

/* The table implementation, exported so that tests can compare the two. */
uint32_t vswap_crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif /* VSWAP_CHECKSUM_H */
