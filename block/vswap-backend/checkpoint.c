/*
 * Persistence of the page store: the checkpoint written at a clean close
 * and loaded on reopen, and the checked readers of a store file's
 * superblock and checkpoint that vswap-tool shares.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A swap store normally lives as long as its VM.  With cfg.persist,
 * vswap_store_checkpoint() (and close) moves every memory record to disk
 * segments, writes the slot map after the last segment (format.h) and only
 * then, after an fdatasync, marks the superblock CLEAN.  Reopening reads
 * the checkpoint back, rebuilds the map and the disk segment table from it
 * and the segment headers, and clears CLEAN on disk before anything else
 * happens, so that a crash afterwards is detected rather than a stale map
 * trusted.  The store clears CLEAN the same way before it changes after a
 * checkpoint (vswap_ckpt_mark_dirty).  Records themselves are not read at
 * reopen: each is verified when it is read, as always.
 */

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "checksum.h"
#include "store-int.h"

/* Checkpoint entries are written and read in chunks of this size. */
#define VSWAP_CKPT_CHUNK (256 * 1024)
/* Failed segment writes tolerated while flushing for a checkpoint. */
#define VSWAP_CKPT_WRITE_RETRIES 3
/* Addresses in map entries are 38 bits of 8-byte units (store-int.h). */
#define VSWAP_CKPT_ADDR_LIMIT VSWAP_LOG_MAX_BYTES

/* The writer puts every dictionary in one chunk, under one table. */
_Static_assert(VSWAP_STORE_MAX_DICTS == VSWAP_CKPT_MAX_DICTS &&
               VSWAP_CKPT_MAX_DICTS * VSWAP_DICT_MAX_SIZE <= VSWAP_CKPT_CHUNK,
               "checkpoint dictionaries");

static void *vswap_ckpt_alloc(size_t size)
{
    /* Aligned for O_DIRECT; zeroed so that padding is deterministic. */
    return vswap_io_buf_new(size);
}

ssize_t vswap_file_pread(const VswapFileReader *rd, void *buf, size_t len,
                         uint64_t off, uint64_t file_size)
{
    size_t align = vswap_io_align(rd->io);
    size_t want = off < file_size ? MIN(len, file_size - off) : 0;
    VswapIoReq req = {
        .op = VSWAP_IO_READ,
        .offset = off,
        .buf = buf,
        /* O_DIRECT reads whole blocks; the end of file cuts them short. */
        .len = MIN((want + align - 1) & ~(align - 1), len),
        .flags = VSWAP_IO_REQ_SHORT_OK,
    };
    ssize_t n;

    if (want == 0) {
        return 0;
    }
    n = rd->run(rd->opaque, &req);
    return n < 0 ? n : (ssize_t)MIN((size_t)n, want);
}

/* Read exactly @len bytes at @off; a short read means a truncated file. */
static bool vswap_ckpt_read_exact(const VswapFileReader *rd,
                                  const VswapFileSb *fsb, void *buf,
                                  size_t len, uint64_t off, const char *what,
                                  GError **errp)
{
    ssize_t n = vswap_file_pread(rd, buf, len, off, fsb->file_size);

    if (n < 0) {
        g_set_error(errp, VSWAP_STORE_ERROR, -n, "%s: cannot read %s: %s",
                    rd->name, what, g_strerror(-n));
        return false;
    }
    if ((size_t)n < len) {
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "%s: truncated: %s at byte %" G_GUINT64_FORMAT
                    " is cut short", rd->name, what, off);
        return false;
    }
    return true;
}

/* The file's length and allocation into @fsb; false with @errp set. */
static bool vswap_file_sizes(const VswapFileReader *rd, VswapFileSb *fsb,
                             GError **errp)
{
    int64_t size = vswap_io_getlength(rd->io);
    int64_t alloc = vswap_io_allocated(rd->io);

    if (size < 0 || alloc < 0) {
        int err = size < 0 ? -size : -alloc;

        g_set_error(errp, VSWAP_STORE_ERROR, err, "%s: %s", rd->name,
                    g_strerror(err));
        return false;
    }
    fsb->file_size = size;
    fsb->alloc_bytes = alloc;
    return true;
}

bool vswap_file_read_sb(const VswapFileReader *rd, VswapFileSb *fsb,
                        GError **errp)
{
    g_autofree VswapSuperblock *sb = NULL;
    const char *name = rd->name;
    uint32_t version, seg;
    ssize_t n;

    memset(fsb, 0, sizeof(*fsb));
    if (!vswap_file_sizes(rd, fsb, errp)) {
        return false;
    }
    if (fsb->file_size == 0) {
        g_set_error(errp, VSWAP_STORE_ERROR, EMEDIUMTYPE,
                    "%s: empty file, not a vswap store file", name);
        return false;
    }
    sb = vswap_ckpt_alloc(VSWAP_SB_SIZE);
    n = vswap_file_pread(rd, sb, VSWAP_SB_SIZE, 0, fsb->file_size);
    if (n < 0) {
        g_set_error(errp, VSWAP_STORE_ERROR, -n,
                    "%s: cannot read the superblock: %s", name, g_strerror(-n));
        return false;
    }
    if (n < (ssize_t)sizeof(sb->magic) ||
        memcmp(sb->magic, VSWAP_SB_MAGIC, sizeof(sb->magic)) != 0) {
        g_set_error(errp, VSWAP_STORE_ERROR, EMEDIUMTYPE,
                    "%s: not a vswap store file (bad magic)", name);
        return false;
    }
    if (n < VSWAP_SB_SIZE) {
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "%s: truncated: %zd bytes, shorter than the superblock",
                    name, n);
        return false;
    }
    version = le32toh(sb->version);
    if (le32toh(sb->crc) != vswap_sb_crc(sb)) {
        /* A newer format may well checksum a larger superblock. */
        if (version > VSWAP_FORMAT_VERSION && version < 256) {
            goto newer;
        }
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "%s: corrupt superblock (checksum mismatch)", name);
        return false;
    }
    if (version > VSWAP_FORMAT_VERSION) {
        goto newer;
    }
    if (version != VSWAP_FORMAT_VERSION) {
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "%s: corrupt superblock (format version %u)", name,
                    version);
        return false;
    }
    fsb->version = version;
    fsb->segment_size = seg = le32toh(sb->segment_size);
    fsb->capacity = le64toh(sb->capacity);
    fsb->data_offset = le64toh(sb->data_offset);
    fsb->flags = le64toh(sb->flags);
    fsb->ckpt_segment = le32toh(sb->ckpt_segment);
    if (!vswap_segment_size_ok(seg)) {
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "%s: corrupt superblock (segment size %u)", name, seg);
        return false;
    }
    if (fsb->capacity == 0 || fsb->capacity > VSWAP_STORE_MAX_SLOTS) {
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "%s: corrupt superblock (capacity %" G_GUINT64_FORMAT
                    " slots)", name, fsb->capacity);
        return false;
    }
    if (fsb->data_offset < VSWAP_SB_SIZE || fsb->data_offset % 4096 ||
        fsb->data_offset > VSWAP_CKPT_ADDR_LIMIT) {
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "%s: corrupt superblock (data offset %" G_GUINT64_FORMAT
                    ")", name, fsb->data_offset);
        return false;
    }
    return true;

newer:
    g_set_error(errp, VSWAP_STORE_ERROR, ENOTSUP,
                "%s: newer format version %u (this build reads version %u)",
                name, version, VSWAP_FORMAT_VERSION);
    return false;
}

uint64_t vswap_ckpt_offset(const VswapFileSb *fsb)
{
    return fsb->data_offset + (uint64_t)fsb->ckpt_segment * fsb->segment_size;
}

/* Bytes of the entries of @nentries, padding included. */
static uint64_t vswap_ckpt_entries_length(uint64_t nentries)
{
    return (nentries * sizeof(VswapCkptEntry) + 4095) & ~UINT64_C(4095);
}

/* Bytes of the checkpoint of @hdr, padding included. */
static uint64_t vswap_ckpt_length(const VswapCkptHdr *hdr)
{
    return VSWAP_CKPT_HDR_SIZE + vswap_ckpt_entries_length(hdr->nentries) +
           (uint64_t)hdr->ndicts * VSWAP_DICT_MAX_SIZE;
}

bool vswap_ckpt_read_hdr(const VswapFileReader *rd, const VswapFileSb *fsb,
                         VswapCkptHdr *out, GError **errp)
{
    g_autofree VswapCkptHdr *hdr = NULL;
    const char *name = rd->name;
    uint64_t off = vswap_ckpt_offset(fsb), len;

    if (!(fsb->flags & VSWAP_SB_CLEAN)) {
        g_set_error(errp, VSWAP_STORE_ERROR, EUCLEAN,
                    "%s: was not closed cleanly (no checkpoint of its slots)",
                    name);
        return false;
    }
    if (off + VSWAP_CKPT_HDR_SIZE > fsb->file_size) {
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "%s: truncated: the checkpoint at byte %" G_GUINT64_FORMAT
                    " is missing (the file has %" G_GUINT64_FORMAT " bytes)",
                    name, off, fsb->file_size);
        return false;
    }
    hdr = vswap_ckpt_alloc(VSWAP_CKPT_HDR_SIZE);
    if (!vswap_ckpt_read_exact(rd, fsb, hdr, VSWAP_CKPT_HDR_SIZE, off,
                               "the checkpoint header", errp)) {
        return false;
    }
    if (le64toh(hdr->magic) != VSWAP_CKPT_MAGIC) {
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "%s: corrupt checkpoint (bad magic at byte %"
                    G_GUINT64_FORMAT ")", name, off);
        return false;
    }
    if (le32toh(hdr->crc) != vswap_ckpt_hdr_crc(hdr)) {
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "%s: corrupt checkpoint (header checksum mismatch)", name);
        return false;
    }
    *out = (VswapCkptHdr) {
        .magic = VSWAP_CKPT_MAGIC,
        .version = le32toh(hdr->version),
        .segment_size = le32toh(hdr->segment_size),
        .capacity = le64toh(hdr->capacity),
        .seq = le64toh(hdr->seq),
        .nentries = le64toh(hdr->nentries),
        .nsegs = le32toh(hdr->nsegs),
        .entries_crc = le32toh(hdr->entries_crc),
        .flags = le32toh(hdr->flags),
        .crc = le32toh(hdr->crc),
        .ndicts = le32toh(hdr->ndicts),
        .dicts_crc = le32toh(hdr->dicts_crc),
    };
    /* Version 3 may hold dictionaries, version 2 must. */
    if ((out->version == VSWAP_CKPT_VERSION_DICTS && out->ndicts == 0) ||
        out->ndicts > VSWAP_CKPT_MAX_DICTS) {
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "%s: corrupt checkpoint (%u dictionaries)", name,
                    out->ndicts);
        return false;
    }
    if (out->version > VSWAP_CKPT_VERSION_GROUPS) {
        g_set_error(errp, VSWAP_STORE_ERROR, ENOTSUP,
                    "%s: the checkpoint has a newer format version (%u)",
                    name, out->version);
        return false;
    }
    if (out->version < VSWAP_FORMAT_VERSION ||
        (out->version == VSWAP_FORMAT_VERSION && out->ndicts) ||
        out->segment_size != fsb->segment_size ||
        out->capacity != fsb->capacity || out->nsegs != fsb->ckpt_segment) {
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "%s: corrupt checkpoint (it does not match the superblock)",
                    name);
        return false;
    }
    if (out->nentries > out->capacity) {
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "%s: corrupt checkpoint (%" G_GUINT64_FORMAT
                    " entries for %" G_GUINT64_FORMAT " slots)", name,
                    out->nentries, out->capacity);
        return false;
    }
    len = vswap_ckpt_length(out);
    if (off + len > fsb->file_size) {
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "%s: truncated: the checkpoint needs %" G_GUINT64_FORMAT
                    " bytes from byte %" G_GUINT64_FORMAT
                    ", the file has %" G_GUINT64_FORMAT, name, len, off,
                    fsb->file_size);
        return false;
    }
    return true;
}

/* Bytes of its segment that a record or member entry keeps live. */
static size_t vswap_ckpt_entry_bytes(const VswapCkptEntry *e)
{
    return e->kind == VSWAP_CKPT_MEMBER ? e->len : vswap_rec_size(e->len);
}

/* Check one entry (host order) against the geometry; NULL if it is sane. */
static const char *vswap_ckpt_entry_problem(const VswapCkptHdr *hdr,
                                            const VswapCkptEntry *e,
                                            uint64_t index, uint32_t prev_slot)
{
    uint64_t seg_off = e->value & (hdr->segment_size - 1);

    if (e->slot >= hdr->capacity) {
        return "slot out of range";
    }
    if (index > 0 && e->slot <= prev_slot) {
        return "slots out of order";
    }
    switch (e->kind) {
    case VSWAP_CKPT_FILL:
        return e->value > UINT32_MAX || e->len ? "bad fill entry" : NULL;
    case VSWAP_CKPT_RECORD:
    case VSWAP_CKPT_MEMBER:
        if (e->kind == VSWAP_CKPT_MEMBER ?
            hdr->version < VSWAP_CKPT_VERSION_GROUPS ||
            e->member >= VSWAP_GROUP_MAX_PAGES : e->member != 0) {
            return "bad entry kind";
        }
        /* A member's len is its share: the group is at least that long. */
        if (e->len == 0 || e->len > VSWAP_STORE_PAGE_SIZE ||
            e->value % VSWAP_REC_ALIGN || e->value >= VSWAP_CKPT_ADDR_LIMIT ||
            e->value / hdr->segment_size >= hdr->nsegs ||
            seg_off < VSWAP_SEG_HDR_SIZE ||
            seg_off + vswap_ckpt_entry_bytes(e) > hdr->segment_size) {
            return "bad record location";
        }
        return NULL;
    default:
        return "bad entry kind";
    }
}

bool vswap_ckpt_read_entries(const VswapFileReader *rd,
                             const VswapFileSb *fsb, const VswapCkptHdr *hdr,
                             VswapCkptEntryFunc *fn, void *opaque,
                             GError **errp)
{
    g_autofree uint8_t *buf = vswap_ckpt_alloc(VSWAP_CKPT_CHUNK);
    uint64_t base = vswap_ckpt_offset(fsb) + VSWAP_CKPT_HDR_SIZE;
    uint64_t bytes = hdr->nentries * sizeof(VswapCkptEntry);
    const char *name = rd->name;
    uint32_t crc = 0, prev_slot = 0;
    uint64_t index = 0;

    /*
     * One read: the file may change under us, so each entry reaches @fn
     * from the same bytes that were checked, never from a second read.
     */
    for (uint64_t done = 0; done < bytes; done += VSWAP_CKPT_CHUNK) {
        size_t chunk = MIN(bytes - done, (uint64_t)VSWAP_CKPT_CHUNK);
        size_t padded = (chunk + 4095) & ~(size_t)4095;

        if (!vswap_ckpt_read_exact(rd, fsb, buf, padded, base + done,
                                   "the checkpoint", errp)) {
            return false;
        }
        crc = vswap_crc32c(crc, buf, chunk);
        for (size_t i = 0; i < chunk; i += sizeof(VswapCkptEntry)) {
            VswapCkptEntry e;
            const char *why;

            memcpy(&e, buf + i, sizeof(e));
            e.slot = le32toh(e.slot);
            e.len = le16toh(e.len);
            e.value = le64toh(e.value);
            why = vswap_ckpt_entry_problem(hdr, &e, index, prev_slot);
            if (why) {
                g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                            "%s: corrupt checkpoint (entry %" G_GUINT64_FORMAT
                            ", slot %u: %s)", name, index, e.slot, why);
                return false;
            }
            if (fn && !fn(opaque, &e, errp)) {
                return false;
            }
            prev_slot = e.slot;
            index++;
        }
    }
    if (crc != hdr->entries_crc) {
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "%s: corrupt checkpoint (entry checksum mismatch)", name);
        return false;
    }
    return true;
}

bool vswap_ckpt_read_dicts(const VswapFileReader *rd, const VswapFileSb *fsb,
                           const VswapCkptHdr *hdr, VswapCkptDictFunc *fn,
                           void *opaque, GError **errp)
{
    g_autofree uint8_t *head = NULL, *contents = NULL;
    VswapCkptDict table[VSWAP_CKPT_MAX_DICTS];
    uint64_t off = vswap_ckpt_offset(fsb);
    size_t n = hdr->ndicts;
    uint16_t taken = 0;
    uint32_t crc;

    if (n == 0) {
        return true;
    }
    g_assert(n <= VSWAP_CKPT_MAX_DICTS);
    /* One read of each part; what is checked is what @fn gets. */
    head = vswap_ckpt_alloc(VSWAP_CKPT_HDR_SIZE);
    contents = vswap_ckpt_alloc(n * VSWAP_DICT_MAX_SIZE);
    if (!vswap_ckpt_read_exact(rd, fsb, head, VSWAP_CKPT_HDR_SIZE, off,
                               "the checkpoint header", errp) ||
        !vswap_ckpt_read_exact(rd, fsb, contents, n * VSWAP_DICT_MAX_SIZE,
                               off + VSWAP_CKPT_HDR_SIZE +
                               vswap_ckpt_entries_length(hdr->nentries),
                               "the checkpoint's dictionaries", errp)) {
        return false;
    }
    memcpy(table, head + sizeof(VswapCkptHdr), n * sizeof(table[0]));
    crc = vswap_crc32c(0, table, n * sizeof(table[0]));
    for (size_t i = 0; i < n; i++) {
        uint16_t id = le16toh(table[i].id), len = le16toh(table[i].len);
        uint16_t bit = 1u << ((id - 1) % VSWAP_CKPT_MAX_DICTS);
        const uint8_t *content = contents + i * VSWAP_DICT_MAX_SIZE;

        if (id == 0 || (taken & bit) || len < VSWAP_DICT_MIN_SIZE ||
            len > VSWAP_DICT_MAX_SIZE ||
            vswap_crc32c(0, content, len) != le32toh(table[i].crc)) {
            g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                        "%s: corrupt checkpoint (dictionary %zu of %zu)",
                        rd->name, i + 1, n);
            return false;
        }
        taken |= bit;
        crc = vswap_crc32c(crc, content, len);
    }
    if (crc != hdr->dicts_crc) {
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "%s: corrupt checkpoint (dictionary checksum mismatch)",
                    rd->name);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!fn(opaque, le16toh(table[i].id),
                contents + i * VSWAP_DICT_MAX_SIZE, le16toh(table[i].len),
                errp)) {
            return false;
        }
    }
    return true;
}

/* --- the store side --- */

/*
 * vswap_ckpt_prepare_config: check that persist and reopen have a store
 * file; for reopen, open the store's engine on it (which must exist) and
 * take capacity and segment size from its superblock, raising the memory
 * budget to two of its segments if needed.  Runs before the rest of the
 * store is set up.  Returns false with @errp set.
 */
bool vswap_ckpt_prepare_config(VswapStore *s, GError **errp)
{
    VswapStoreConfig *cfg = &s->cfg;
    g_autoptr(GError) err = NULL;
    VswapFileReader rd;
    VswapFileSb fsb;
    uint64_t seg2;

    if (!cfg->persist && !cfg->reopen) {
        return true;
    }
    if (!cfg->path && !cfg->open_engine) {
        g_set_error(errp, VSWAP_STORE_ERROR, EINVAL,
                    "vswap store: persist and reopen need a store file");
        return false;
    }
    if (!cfg->reopen) {
        return true;
    }
    if (!vswap_store_open_engine(s, false, errp)) {
        return false;
    }
    vswap_store_reader(s, &rd);
    if (!vswap_file_read_sb(&rd, &fsb, &err)) {
        g_propagate_prefixed_error(errp, g_steal_pointer(&err),
                                   "vswap store: ");
        return false;
    }
    /* The file's geometry wins; the budget must hold two of its segments. */
    cfg->capacity = fsb.capacity;
    cfg->segment_size = fsb.segment_size;
    seg2 = 2ull * fsb.segment_size;
    if (cfg->mem_budget < seg2) {
        cfg->mem_budget = seg2;
    }
    if (cfg->mem_limit && cfg->mem_limit < cfg->mem_budget) {
        cfg->mem_limit = 0;
    }
    return true;
}

/*
 * vswap_file_open_existing: read the superblock of @s's store file, which
 * must exist (its engine is open), into @fsb and take its data offset.
 * Callers check the rest (geometry, clean flag) against what they expect.
 */
bool vswap_file_open_existing(VswapStore *s, VswapFileSb *fsb, GError **errp)
{
    g_autoptr(GError) err = NULL;
    VswapFileReader rd;

    vswap_store_reader(s, &rd);
    if (!vswap_file_read_sb(&rd, fsb, &err)) {
        g_propagate_prefixed_error(errp, g_steal_pointer(&err),
                                   "vswap store: ");
        return false;
    }
    s->data_offset = fsb->data_offset;
    return true;
}

bool vswap_ckpt_open_file(VswapStore *s, GError **errp)
{
    VswapFileSb fsb;

    if (!vswap_file_open_existing(s, &fsb, errp)) {
        return false;
    }
    if (fsb.capacity != s->cfg.capacity ||
        fsb.segment_size != s->cfg.segment_size) {
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "vswap store: %s: changed while it was being opened",
                    s->name);
        return false;
    }
    if (!(fsb.flags & VSWAP_SB_CLEAN)) {
        g_set_error(errp, VSWAP_STORE_ERROR, EUCLEAN,
                    "vswap store: %s: was not closed cleanly, so its slots"
                    " are unknown; it cannot be reopened", s->name);
        return false;
    }
    return true;
}

/* Rewrite the superblock with or without CLEAN, durably.  0 or -errno. */
static int vswap_ckpt_write_sb(VswapStore *s, bool clean, uint32_t nsegs)
{
    g_autofree VswapSuperblock *sb = vswap_ckpt_alloc(VSWAP_SB_SIZE);
    int ret;

    vswap_sb_encode(sb, s->cfg.segment_size, s->cfg.capacity, s->data_offset);
    vswap_sb_set_clean(sb, clean, nsegs);
    ret = vswap_store_io(s, VSWAP_IO_WRITE, sb, VSWAP_SB_SIZE, 0);
    if (ret == 0) {
        ret = vswap_store_io(s, VSWAP_IO_FSYNC, NULL, 0, 0);
    }
    return ret;
}

/*
 * A group member's entry gives its share of its group record, not the
 * record's size: the entries prove a segment holds at least @max_end
 * bytes, and its records may reach up to @reach (a group past its last
 * member's share, at most VSWAP_GROUP_REC_MAX).
 */
typedef struct VswapCkptLoad {
    VswapStore *s;
    uint32_t *max_end;          /* per segment: end of its last entry */
    uint32_t *reach;            /* per segment: how far its records may reach */
} VswapCkptLoad;

static bool vswap_ckpt_apply(void *opaque, const VswapCkptEntry *e,
                             GError **errp)
{
    VswapCkptLoad *ld = opaque;
    VswapStore *s = ld->s;
    uint32_t index, end;
    VswapSegment *seg;
    size_t size;

    if (e->kind == VSWAP_CKPT_FILL) {
        vswap_log_set(s, e->slot, vswap_ent_fill(e->value));
        return true;
    }
    index = e->value >> s->seg_shift;
    size = vswap_ckpt_entry_bytes(e);
    end = (e->value & ((UINT64_C(1) << s->seg_shift) - 1)) + size;
    /*
     * The entry was checked against the header's table size, which sized
     * the table; records of distinct slots cannot share bytes, so more
     * than a segment holds (which would in the end wrap live) is corrupt.
     */
    if (index >= s->disk.nsegs ||
        s->disk.segs[index].live + size >
        (UINT64_C(1) << s->seg_shift) - VSWAP_SEG_HDR_SIZE) {
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "vswap store: %s: corrupt checkpoint (slot %u: segment"
                    " %u holds more records than it can)", s->name, e->slot,
                    index);
        return false;
    }
    seg = &s->disk.segs[index];
    seg->live += size;
    seg->nrecords++;
    s->disk.live_bytes += size;
    ld->max_end[index] = MAX(ld->max_end[index], end);
    ld->reach[index] = MAX(ld->reach[index],
                           vswap_log_record_reach(s, end - size, size,
                                                  e->kind == VSWAP_CKPT_MEMBER));
    vswap_log_set(s, e->slot, e->kind == VSWAP_CKPT_MEMBER ?
                  vswap_ent_member_record(e->value, e->member, e->len) :
                  vswap_ent_record(VSWAP_ENT_DISK, e->value, e->len));
    return true;
}

/*
 * Rebuild segment @index, which holds live records, from its header.  A
 * header that fails verification is tolerated: its records are verified
 * one by one when read, and compaction leaves the segment alone.  The
 * segment is then taken as far as its records may reach (@reach), short
 * of the file's end, so that reads of its last groups are not cut short.
 */
static bool vswap_ckpt_load_segment(VswapStore *s, const VswapCkptHdr *hdr,
                                    uint32_t index, uint32_t max_end,
                                    uint32_t reach, uint8_t *buf,
                                    GError **errp)
{
    uint64_t off = s->data_offset + ((uint64_t)index << s->seg_shift);
    VswapSegment *seg = &s->disk.segs[index];
    VswapSegmentHdr sh;
    int n;

    n = vswap_store_io(s, VSWAP_IO_READ, buf, 4096, off);
    if (n < 0) {
        g_set_error(errp, VSWAP_STORE_ERROR, -n,
                    "vswap store: %s: cannot read segment %u: %s", s->name,
                    index, g_strerror(-n));
        return false;
    }
    if (vswap_seg_hdr_verify(buf, index, hdr->segment_size, &sh) < 0) {
        sh = (VswapSegmentHdr) {
            .seq = hdr->seq,
            .used = vswap_log_headerless_used(s, index, max_end, reach),
            .nrecords = seg->nrecords,
        };
    }
    if (sh.used < max_end || sh.seq > hdr->seq ||
        seg->live > sh.used - VSWAP_SEG_HDR_SIZE) {
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "vswap store: %s: corrupt checkpoint (it does not match"
                    " segment %u)", s->name, index);
        return false;
    }
    seg->seq = sh.seq;
    seg->used = sh.used;
    seg->nrecords = sh.nrecords;
    seg->state = VSWAP_SEG_ONDISK;
    s->disk.used_bytes += sh.used;
    if (vswap_log_segment_sparse(s, seg, false)) {
        s->compact_wanted = true;
    }
    return true;
}

static bool vswap_ckpt_load(VswapStore *s, GError **errp)
{
    g_autoptr(GError) err = NULL;
    g_autofree uint8_t *buf = NULL;
    VswapCkptLoad ld = { .s = s };
    VswapFileReader rd;
    VswapFileSb fsb;
    VswapCkptHdr hdr;
    bool ok = false;
    int ret;

    vswap_store_reader(s, &rd);
    if (!vswap_file_read_sb(&rd, &fsb, &err) ||
        !vswap_ckpt_read_hdr(&rd, &fsb, &hdr, &err)) {
        g_propagate_prefixed_error(errp, g_steal_pointer(&err),
                                   "vswap store: ");
        return false;
    }
    if (hdr.nsegs > s->disk.max_segs) {
        g_set_error(errp, VSWAP_STORE_ERROR, EFBIG,
                    "vswap store: %s: holds %u segments, more than the disk"
                    " limit allows", s->name, hdr.nsegs);
        return false;
    }
    /* The table is sized by the file, never by what a header claims. */
    if (fsb.data_offset + ((uint64_t)hdr.nsegs << s->seg_shift) >
        fsb.file_size) {
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "vswap store: %s: truncated: %u segments do not fit in"
                    " %" G_GUINT64_FORMAT " bytes", s->name, hdr.nsegs,
                    fsb.file_size);
        return false;
    }
    s->disk.segs = g_try_new0(VswapSegment, MAX(hdr.nsegs, 1));
    ld.max_end = g_try_new0(uint32_t, MAX(hdr.nsegs, 1));
    ld.reach = g_try_new0(uint32_t, MAX(hdr.nsegs, 1));
    if (!s->disk.segs || !ld.max_end || !ld.reach) {
        g_set_error(errp, VSWAP_STORE_ERROR, ENOMEM,
                    "vswap store: %s: no memory for a table of %u segments",
                    s->name, hdr.nsegs);
        goto out;
    }
    s->disk.nsegs = hdr.nsegs;
    /* A failure leaves the map half loaded: the failed open discards it. */
    if (!vswap_ckpt_read_entries(&rd, &fsb, &hdr, vswap_ckpt_apply, &ld,
                                 &err) ||
        !vswap_ckpt_read_dicts(&rd, &fsb, &hdr, vswap_dicts_restore, s,
                               &err)) {
        g_propagate_prefixed_error(errp, g_steal_pointer(&err),
                                   "vswap store: ");
        goto out;
    }
    buf = vswap_ckpt_alloc(4096);
    for (uint32_t i = 0; i < hdr.nsegs; i++) {
        if (s->disk.segs[i].live &&
            !vswap_ckpt_load_segment(s, &hdr, i, ld.max_end[i], ld.reach[i],
                                     buf, errp)) {
            goto out;
        }
    }
    vswap_dicts_hold_disk(s);
    /* Free segments are handed out lowest index first. */
    for (uint32_t i = hdr.nsegs; i-- > 0;) {
        if (s->disk.segs[i].state == VSWAP_SEG_FREE) {
            g_array_append_val(s->disk.free, i);
        }
    }
    s->seg_seq = MAX(s->seg_seq, hdr.seq);
    /* From here on the file no longer matches its checkpoint. */
    ret = vswap_ckpt_write_sb(s, false, 0);
    if (ret < 0) {
        g_set_error(errp, VSWAP_STORE_ERROR, -ret,
                    "vswap store: %s: cannot write the superblock: %s",
                    s->name, g_strerror(-ret));
        goto out;
    }
    ok = true;
out:
    g_free(ld.max_end);
    g_free(ld.reach);
    return ok;
}

bool vswap_ckpt_open_done(VswapStore *s, GError **errp)
{
    if (s->cfg.reopen && !vswap_ckpt_load(s, errp)) {
        return false;
    }
    s->open_done = true;
    return true;
}

int vswap_ckpt_mark_dirty(VswapStore *s)
{
    int ret;

    if (!s->ckpt_clean) {
        return 0;
    }
    ret = vswap_ckpt_write_sb(s, false, 0);
    if (ret < 0) {
        return -EIO;
    }
    s->ckpt_clean = false;
    return 0;
}

/*
 * Move every memory record, and the open disk segment, to written disk
 * segments: writeback with a budget of 0.  Fails after repeated write
 * errors, or when the store file has no room left.
 */
static int vswap_ckpt_flush(VswapStore *s, GError **errp)
{
    uint64_t budget = s->mem_budget;
    unsigned failures = 0;
    int ret = 0;

    /* The caller's own writeback: it goes on while the store is quiesced. */
    s->owner_calls++;
    s->mem_budget = 0;
    s->wb_pack_all = true;
    for (;;) {
        uint64_t pages = s->mem.pages, bytes = vswap_store_mem_bytes(s);
        uint64_t errors = s->st.writeback_errors;
        int64_t wait;

        vswap_store_process(s);
        vswap_store_drain(s);
        if (vswap_store_mem_bytes(s) == 0) {
            break;
        }
        failures += s->st.writeback_errors != errors;
        if (s->disk_unwritten) {
            if (failures > VSWAP_CKPT_WRITE_RETRIES) {
                ret = -EIO;
                g_set_error(errp, VSWAP_STORE_ERROR, EIO,
                            "vswap store: %s: segment writes keep failing;"
                            " %" G_GUINT64_FORMAT " KiB of segments are only"
                            " in memory", s->name,
                            vswap_store_mem_bytes(s) >> 10);
                break;
            }
            /*
             * Sleep, not cfg.wait: nothing is in flight, so no event would
             * end an AIO_WAIT_WHILE before the retry time.
             */
            wait = s->wb_retry_at - g_get_monotonic_time();
            if (wait > 0) {
                g_usleep(wait);
            }
            continue;
        }
        if (s->mem.pages == pages && vswap_store_mem_bytes(s) == bytes) {
            ret = -ENOSPC;
            g_set_error(errp, VSWAP_STORE_ERROR, ENOSPC,
                        "vswap store: %s: no room in the store file for %"
                        G_GUINT64_FORMAT " pages held in memory", s->name,
                        s->mem.pages);
            break;
        }
    }
    s->mem_budget = budget;
    s->wb_pack_all = false;
    s->owner_calls--;
    vswap_store_notify(s);
    return ret;
}

/* Write the map after the last segment, then mark the superblock CLEAN. */
static int vswap_ckpt_write(VswapStore *s, GError **errp)
{
    g_autofree uint8_t *buf = vswap_ckpt_alloc(VSWAP_CKPT_CHUNK);
    uint32_t nsegs = s->disk.nsegs;
    uint64_t off = s->data_offset + ((uint64_t)nsegs << s->seg_shift);
    uint64_t slot = 0, ent, n = 0, written = 0;
    VswapCkptHdr *hdr = (VswapCkptHdr *)buf;
    VswapCkptDict table[VSWAP_CKPT_MAX_DICTS];
    const char *what = "checkpoint";
    uint32_t crc = 0, dicts_crc, ndicts = 0;
    bool groups = false;
    size_t pos = 0;
    int ret = 0;

    while (vswap_map_next(s->map, &slot, &ent)) {
        VswapCkptEntry e = { .slot = htole32(slot) };

        switch (vswap_ent_state(ent)) {
        case VSWAP_ENT_FILL:
            e.kind = VSWAP_CKPT_FILL;
            e.value = htole64((uint32_t)ent);
            break;
        case VSWAP_ENT_DISK:
            e.kind = VSWAP_CKPT_RECORD;
            if (vswap_ent_group(ent)) {
                e.kind = VSWAP_CKPT_MEMBER;
                e.member = vswap_ent_member(ent);
                groups = true;
            }
            e.len = htole16(vswap_ent_len(ent));
            e.value = htole64(vswap_ent_addr(ent));
            break;
        default:
            /* vswap_ckpt_flush() left a record in memory: a bug. */
            ret = -EIO;
            what = "checkpoint (a record is still in memory)";
            goto fail;
        }
        memcpy(buf + pos, &e, sizeof(e));
        crc = vswap_crc32c(crc, &e, sizeof(e));
        pos += sizeof(e);
        n++;
        if (pos == VSWAP_CKPT_CHUNK) {
            ret = vswap_store_io(s, VSWAP_IO_WRITE, buf, pos,
                                 off + VSWAP_CKPT_HDR_SIZE + written);
            if (ret < 0) {
                goto fail;
            }
            written += pos;
            pos = 0;
        }
        slot++;
    }
    if (pos) {
        size_t padded = (pos + 4095) & ~(size_t)4095;

        memset(buf + pos, 0, padded - pos);
        ret = vswap_store_io(s, VSWAP_IO_WRITE, buf, padded,
                             off + VSWAP_CKPT_HDR_SIZE + written);
        if (ret < 0) {
            goto fail;
        }
        written += padded;
    }
    /*
     * The dictionaries that records may need, a 4 KiB block each, in one
     * write; the checksum covers what the reader checks: the table, then
     * each content.
     */
    for (unsigned i = 0; i < VSWAP_STORE_MAX_DICTS; i++) {
        VswapDict *dict = s->dicts[i].dict;
        uint8_t *block = buf + (size_t)ndicts * VSWAP_DICT_MAX_SIZE;
        const void *content;
        size_t len;

        if (!dict) {
            continue;
        }
        content = vswap_dict_content(dict, &len);
        memset(block, 0, VSWAP_DICT_MAX_SIZE);
        memcpy(block, content, len);
        table[ndicts++] = (VswapCkptDict) {
            .id = htole16(vswap_dict_id(dict)),
            .len = htole16(len),
            .crc = htole32(vswap_crc32c(0, content, len)),
        };
    }
    dicts_crc = vswap_crc32c(0, table, ndicts * sizeof(table[0]));
    for (unsigned i = 0; i < ndicts; i++) {
        dicts_crc = vswap_crc32c(dicts_crc, buf + i * VSWAP_DICT_MAX_SIZE,
                                 le16toh(table[i].len));
    }
    if (ndicts) {
        ret = vswap_store_io(s, VSWAP_IO_WRITE, buf,
                             ndicts * VSWAP_DICT_MAX_SIZE,
                             off + VSWAP_CKPT_HDR_SIZE + written);
        if (ret < 0) {
            goto fail;
        }
        written += ndicts * VSWAP_DICT_MAX_SIZE;
    }
    memset(buf, 0, VSWAP_CKPT_HDR_SIZE);
    memcpy(buf + sizeof(VswapCkptHdr), table, ndicts * sizeof(table[0]));
    *hdr = (VswapCkptHdr) {
        .magic = htole64(VSWAP_CKPT_MAGIC),
        .version = htole32(groups ? VSWAP_CKPT_VERSION_GROUPS :
                           ndicts ? VSWAP_CKPT_VERSION_DICTS :
                           VSWAP_FORMAT_VERSION),
        .ndicts = htole32(ndicts),
        .dicts_crc = htole32(ndicts ? dicts_crc : 0),
        .segment_size = htole32(s->cfg.segment_size),
        .capacity = htole64(s->cfg.capacity),
        .seq = htole64(s->seg_seq),
        .nentries = htole64(n),
        .nsegs = htole32(nsegs),
        .entries_crc = htole32(crc),
    };
    hdr->crc = htole32(vswap_ckpt_hdr_crc(hdr));
    ret = vswap_store_io(s, VSWAP_IO_WRITE, buf, VSWAP_CKPT_HDR_SIZE, off);
    if (ret == 0) {
        /* Drop whatever an earlier, longer checkpoint left behind. */
        ret = vswap_store_io(s, VSWAP_IO_TRUNCATE, NULL, 0,
                             off + VSWAP_CKPT_HDR_SIZE + written);
    }
    if (ret == 0) {
        ret = vswap_store_io(s, VSWAP_IO_FSYNC, NULL, 0, 0);
    }
    if (ret < 0) {
        goto fail;
    }
    what = "superblock";
    ret = vswap_ckpt_write_sb(s, true, nsegs);
    if (ret < 0) {
        goto fail;
    }
    s->ckpt_clean = true;
    return 0;

fail:
    g_set_error(errp, VSWAP_STORE_ERROR, -ret,
                "vswap store: %s: cannot write the %s: %s", s->name, what,
                g_strerror(-ret));
    return ret;
}

int vswap_store_checkpoint(VswapStore *s, GError **errp)
{
    int ret;

    if (!vswap_store_has_disk(s)) {
        g_set_error(errp, VSWAP_STORE_ERROR, EINVAL,
                    "vswap store: a memory-only store cannot be checkpointed");
        return -EINVAL;
    }
    vswap_store_drain(s);
    if (s->ckpt_clean) {
        return 0;
    }
    ret = vswap_ckpt_flush(s, errp);
    if (ret < 0) {
        return ret;
    }
    return vswap_ckpt_write(s, errp);
}

void vswap_ckpt_close(VswapStore *s)
{
    g_autoptr(GError) err = NULL;

    if (s->open_done && s->cfg.persist && vswap_store_checkpoint(s, &err) < 0) {
        g_warning("%s", err->message);
    }
}
