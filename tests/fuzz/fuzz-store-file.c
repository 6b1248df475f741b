/*
 * libFuzzer target: reopening a store file, the loader of a format that a
 * host disk (or an attacker with access to it) can corrupt.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The input becomes the store file.  To reach past the superblock, inputs
 * starting with "SB" get a valid superblock and checkpoint header built
 * around the rest.  Reopen must fail cleanly or produce a store whose every
 * slot reads without crashing, and whose check runs to the end.
 */

#include <fcntl.h>

#include "vswap/store.h"
#include "format.h"
#include "fuzz-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_scratch_path("file");
    static uint8_t page[VSWAP_STORE_PAGE_SIZE];
    g_autoptr(GError) err = NULL;
    VswapStoreConfig cfg;
    VswapCheckReport rep;
    VswapStore *s;
    int fd;

    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    FUZZ_CHECK(fd >= 0);
    if (size >= 2 && data[0] == 'S' && data[1] == 'B') {
        VswapSuperblock sb;

        /* A valid superblock with the CLEAN flag, the input after it. */
        vswap_sb_encode(&sb, 64 * 1024, 1024, 64 * 1024);
        vswap_sb_set_clean(&sb, true, data[2 % size] % 4);
        FUZZ_CHECK(pwrite(fd, &sb, sizeof(sb), 0) == sizeof(sb));
        FUZZ_CHECK(pwrite(fd, data + 2, size - 2, 64 * 1024) ==
                   (ssize_t)(size - 2));
    } else {
        FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
    }
    close(fd);

    vswap_store_config_init(&cfg);
    cfg.path = path;
    cfg.reopen = true;
    cfg.workers = 0;
    s = vswap_store_open(&cfg, &err);
    if (s) {
        for (uint64_t slot = 0; slot < MIN(cfg.capacity, 4096u); slot++) {
            VswapPageOp op = { .slot = slot, .page = page };

            vswap_store_read_sync(s, &op, 1);
        }
        vswap_store_check(s, &rep);
        vswap_store_close(s);
    } else {
        FUZZ_CHECK(err && err->message);
    }
    unlink(path);
    return 0;
}
