/*
 * libFuzzer target: reopening a store file, the loader of a format that a
 * host disk (or an attacker with access to it) can corrupt.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The input becomes the store file.  To reach past the superblock, inputs
 * starting with "SB" get a valid superblock and checkpoint header built
 * around the rest.  "SH" and 2 bytes (little-endian) put the checkpoint
 * that many segments out (up to 4 GiB) into a sparse file, so that a huge
 * length, not the contents, sizes what reopen allocates.  "SF" and a
 * byte, then any of these inputs, is that file read through the fault
 * engine with the fault the byte describes: a file that reads
 * differently the second time (a byte flipped after clean reads), fails
 * or comes short.  Reopen must fail cleanly or produce a store whose
 * every slot reads without crashing, and whose check runs to the end.
 */

#include <fcntl.h>

#include <endian.h>

#include "vswap/store.h"
#include "vswap/io-engine.h"
#include "store-int.h"
#include "fuzz-common.h"

#define SEG (64 * 1024)

typedef struct FuzzFile {
    const char *path;
    bool faulty;
    VswapIoFault fault;
    VswapIoEngine *io;          /* the fault engine, once open */
} FuzzFile;

static VswapIoEngine *fuzz_open_engine(void *opaque, int notify_fd,
                                       GError **errp)
{
    FuzzFile *ff = opaque;
    VswapIoEngine *io = vswap_io_uring_open(ff->path, 0, 16, notify_fd, errp);

    if (io && ff->faulty) {
        io = ff->io = vswap_io_faulty_new(io, notify_fd);
        vswap_io_faulty_add(io, &ff->fault);
    }
    return io;
}

/*
 * The fault of an "SF" input, from one byte: which read (the superblock,
 * the checkpoint header, its entries, segment 0), after how many clean
 * ones, and what: a flipped byte, a short transfer or EIO.
 */
static void fuzz_pick_fault(uint8_t what, uint32_t ckpt_segment,
                            VswapIoFault *f)
{
    uint64_t ckpt = SEG + (uint64_t)ckpt_segment * SEG;
    uint64_t at[] = { 0, ckpt, ckpt + 4096, SEG };

    *f = (VswapIoFault) {
        .op = VSWAP_IO_READ,
        .offset_lo = at[what % 4],
        .offset_hi = at[what % 4] + 1,
        .skip = (what >> 2) % 4,
        .count = 1,
        .corrupt = (what >> 4) % 3 == 0,
        .short_transfer = (what >> 4) % 3 == 1,
        .error = (what >> 4) % 3 == 2 ? -EIO : 0,
    };
}

/* A valid superblock with the CLEAN flag and the checkpoint's place. */
static void fuzz_write_sb(int fd, uint32_t ckpt_segment)
{
    VswapSuperblock sb;

    vswap_sb_encode(&sb, SEG, 1024, SEG);
    vswap_sb_set_clean(&sb, true, ckpt_segment);
    FUZZ_CHECK(pwrite(fd, &sb, sizeof(sb), 0) == sizeof(sb));
}

/*
 * The map of a store just reopened is exactly the checkpoint in the file,
 * whatever a read returned on the way: an entry that a second read
 * changed after the first was checked must never be applied.
 */
static void fuzz_check_map(VswapStore *s, const char *path, uint64_t ckpt)
{
    int fd = open(path, O_RDONLY);
    uint64_t nentries, slot = 0, ent, n = 0;

    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(pread(fd, &nentries, 8, ckpt + 32) == 8);
    nentries = le64toh(nentries);
    for (uint64_t i = 0; i < nentries; i++) {
        VswapCkptEntry e;
        uint64_t want;

        FUZZ_CHECK(pread(fd, &e, sizeof(e), ckpt + VSWAP_CKPT_HDR_SIZE +
                         i * sizeof(e)) == sizeof(e));
        want = e.kind == VSWAP_CKPT_FILL ?
               vswap_ent_fill(le64toh(e.value)) :
               e.kind == VSWAP_CKPT_MEMBER ?
               vswap_ent_member_record(le64toh(e.value), e.member,
                                       le16toh(e.len)) :
               vswap_ent_record(VSWAP_ENT_DISK, le64toh(e.value),
                                le16toh(e.len));
        FUZZ_CHECK(vswap_map_get(s->map, le32toh(e.slot)) == want);
    }
    while (vswap_map_next(s->map, &slot, &ent)) {
        n++;
        slot++;
    }
    FUZZ_CHECK(n == nentries);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzFile ff = { .path = fuzz_scratch_path("file") };
    static uint8_t page[VSWAP_STORE_PAGE_SIZE];
    g_autoptr(GError) err = NULL;
    VswapStoreConfig cfg;
    VswapCheckReport rep;
    uint32_t ckpt_segment = 0;
    uint8_t fault = 0;
    VswapStore *s;
    int fd;

    fd = open(ff.path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    FUZZ_CHECK(fd >= 0);
    if (size >= 3 && data[0] == 'S' && data[1] == 'F') {
        ff.faulty = true;
        fault = data[2];
        data += 3;
        size -= 3;
    }
    if (size >= 2 && data[0] == 'S' && data[1] == 'B') {
        ckpt_segment = data[2 % size] % 4;
        fuzz_write_sb(fd, ckpt_segment);
        FUZZ_CHECK(pwrite(fd, data + 2, size - 2, SEG) ==
                   (ssize_t)(size - 2));
    } else if (size >= 4 && data[0] == 'S' && data[1] == 'H') {
        /* The rest is the checkpoint, far out in a sparse file. */
        ckpt_segment = data[2] | data[3] << 8;
        fuzz_write_sb(fd, ckpt_segment);
        FUZZ_CHECK(pwrite(fd, data + 4, size - 4,
                          SEG + (uint64_t)ckpt_segment * SEG) ==
                   (ssize_t)(size - 4));
    } else {
        FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
    }
    close(fd);
    if (ff.faulty) {
        fuzz_pick_fault(fault, ckpt_segment, &ff.fault);
    }

    vswap_store_config_init(&cfg);
    cfg.path = ff.path;
    cfg.reopen = true;
    cfg.workers = 0;
    cfg.open_engine = fuzz_open_engine;
    cfg.engine_opaque = &ff;
    s = vswap_store_open(&cfg, &err);
    if (s) {
        fuzz_check_map(s, ff.path, SEG + (uint64_t)ckpt_segment * SEG);
        for (uint64_t slot = 0; slot < MIN(cfg.capacity, 4096u); slot++) {
            VswapPageOp op = { .slot = slot, .page = page };

            vswap_store_read_sync(s, &op, 1);
        }
        vswap_store_check(s, &rep);
        vswap_store_close(s);
    } else {
        FUZZ_CHECK(err && err->message);
    }
    unlink(ff.path);
    return 0;
}
