/*
 * Shared-storage migration of the page store: when source and destination
 * open the same store file, records already written to it travel as
 * references (slot, address, length) and only the memory tier and the map
 * move over the wire.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Rules that keep both sides consistent:
 *
 *   - During export, a record that moves (writeback, compaction) dirties
 *     its slot, so that a reference already sent is replaced.
 *   - The source flushes and fences its store at the final pass: from then
 *     on it never writes, punches or compacts the file, unless the
 *     migration fails and it is unfenced.
 *   - The destination opens the file without initialising it and stays
 *     fenced until vswap_store_activate().  While the source runs, the
 *     file changes under it (compaction reuses segments), so a reference
 *     is only checked for shape when it arrives and kept out of the
 *     segment accounting.  At activation the source is fenced and every
 *     slot is final: the disk segment table is rebuilt from the map and
 *     each referenced segment's header is verified.  Each record's
 *     CRC32C is verified when it is read, as always, so a bad reference
 *     reads as an I/O error, never as wrong data.
 *
 * Safe only when both QEMUs see the same file contents: one host, or a
 * cluster filesystem with coherent caching; see docs/system/vswap.rst.
 */

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "store-int.h"

/*
 * vswap_shared_open_file: destination side: open the existing store file
 * of the migration source, checking its superblock, without changing it.
 */
bool vswap_shared_open_file(VswapStore *s, GError **errp)
{
    VswapFileSb fsb;

    if (!vswap_file_open_existing(s, &fsb, errp)) {
        return false;
    }
    if (fsb.capacity != s->cfg.capacity ||
        fsb.segment_size != s->cfg.segment_size) {
        g_set_error(errp, VSWAP_STORE_ERROR, EINVAL,
                    "vswap store: %s has %" PRIu64 " slots in segments of %u"
                    " bytes, this store is configured for %" PRIu64
                    " and %u", s->name, fsb.capacity, fsb.segment_size,
                    s->cfg.capacity, s->cfg.segment_size);
        return false;
    }
    s->fenced = true;
    s->incoming_refs = true;
    return true;
}

int vswap_store_flush(VswapStore *s)
{
    vswap_store_drain(s);
    if (!vswap_store_has_disk(s) || s->fenced) {
        return 0;
    }
    vswap_writeback_seal_disk(s);
    vswap_io_flush(s->io);
    /* Drain waits for the segment writes: they are engine requests. */
    vswap_store_drain(s);
    if (vswap_store_io(s, VSWAP_IO_FSYNC, NULL, 0, 0) < 0 ||
        s->disk_unwritten) {
        return -EIO;
    }
    return 0;
}

void vswap_store_fence(VswapStore *s, bool fenced)
{
    vswap_store_drain(s);
    s->fenced = fenced;
    if (!fenced) {
        vswap_store_notify(s);
    }
}

/*
 * Rebuild the disk segment table from the map's references: live bytes and
 * extent per segment, then each segment's header.  A segment whose header
 * fails, or does not cover its references, stays referenced (its records
 * are verified when read) but is left alone by compaction.  Returns the
 * number of such segments.
 */
static unsigned vswap_shared_rebuild(VswapStore *s)
{
    g_autofree uint8_t *buf = vswap_io_buf_new(4096);
    g_autofree uint32_t *max_end = NULL;
    uint64_t seg_mask = ((uint64_t)1 << s->seg_shift) - 1;
    uint64_t slot = 0, ent;
    uint32_t nsegs = 0;
    unsigned bad = 0;

    while (vswap_map_next(s->map, &slot, &ent)) {
        if (vswap_ent_state(ent) == VSWAP_ENT_DISK) {
            nsegs = MAX(nsegs, (uint32_t)(vswap_ent_addr(ent) >> s->seg_shift) + 1);
        }
        slot++;
    }
    s->disk.segs = g_new0(VswapSegment, MAX(nsegs, 1));
    s->disk.nsegs = nsegs;
    max_end = g_new0(uint32_t, MAX(nsegs, 1));
    for (slot = 0; vswap_map_next(s->map, &slot, &ent); slot++) {
        uint64_t addr = vswap_ent_addr(ent);
        VswapSegment *seg;
        size_t size;

        if (vswap_ent_state(ent) != VSWAP_ENT_DISK) {
            continue;
        }
        seg = &s->disk.segs[addr >> s->seg_shift];
        size = vswap_rec_size(vswap_ent_len(ent));
        seg->live += size;
        seg->nrecords++;
        s->disk.live_bytes += size;
        max_end[addr >> s->seg_shift] = MAX(max_end[addr >> s->seg_shift],
                                            (addr & seg_mask) + size);
    }
    for (uint32_t i = 0; i < nsegs; i++) {
        VswapSegment *seg = &s->disk.segs[i];
        uint64_t off = s->data_offset + ((uint64_t)i << s->seg_shift);
        VswapSegmentHdr hdr;

        if (!seg->live) {
            g_array_append_val(s->disk.free, i);
            continue;
        }
        seg->state = VSWAP_SEG_ONDISK;
        if (vswap_store_io(s, VSWAP_IO_READ, buf, 4096, off) < 0 ||
            vswap_seg_hdr_verify(buf, i, 1u << s->seg_shift, &hdr) < 0 ||
            hdr.used < max_end[i]) {
            seg->used = max_end[i];
            seg->compact_failed = true;
            bad++;
        } else {
            seg->used = hdr.used;
            seg->seq = hdr.seq;
            s->seg_seq = MAX(s->seg_seq, hdr.seq);
        }
        s->disk.used_bytes += seg->used;
    }
    /* Free segments are handed out lowest index first. */
    for (uint32_t i = 0, n = s->disk.free->len; i < n / 2; i++) {
        uint32_t *a = &g_array_index(s->disk.free, uint32_t, i);
        uint32_t *b = &g_array_index(s->disk.free, uint32_t, n - 1 - i);
        uint32_t t = *a;

        *a = *b;
        *b = t;
    }
    return bad;
}

void vswap_store_activate(VswapStore *s)
{
    unsigned bad;

    if (!s->incoming_refs) {
        return;
    }
    vswap_store_drain(s);
    bad = vswap_shared_rebuild(s);
    if (bad) {
        g_warning("vswap store: %s: %u segments referenced by the migration"
                  " source have bad headers; their pages are verified when"
                  " read", s->name, bad);
    }
    s->incoming_refs = false;
    s->fenced = false;
    s->compact_wanted = true;
    vswap_store_notify(s);
}

/*
 * vswap_shared_import_ref: destination side: point @info->slot at the
 * record the source left in the file.  Only its shape is checked now (the
 * file may still change); see vswap_store_activate().  Returns 0 or
 * -EINVAL.
 */
int vswap_shared_import_ref(VswapStore *s, const VswapRecordInfo *info)
{
    uint64_t seg_mask = ((uint64_t)1 << s->seg_shift) - 1;
    uint64_t off = info->addr & seg_mask;

    if (!s->incoming_refs || info->len == 0 ||
        info->len > VSWAP_STORE_PAGE_SIZE ||
        (info->addr & (VSWAP_REC_ALIGN - 1)) ||
        info->addr > (VSWAP_ENT_ADDR_MASK << 3) ||
        (info->addr >> s->seg_shift) >= s->disk.max_segs ||
        off < VSWAP_SEG_HDR_SIZE ||
        off + vswap_rec_size(info->len) > seg_mask + 1) {
        return -EINVAL;
    }
    g_hash_table_remove(s->inflight_writes, GUINT_TO_POINTER(info->slot));
    vswap_log_set(s, info->slot,
                  vswap_ent_record(VSWAP_ENT_DISK, info->addr, info->len));
    return 0;
}
