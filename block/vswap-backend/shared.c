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
 *   - The stream is hostile until bounded: a reference must lie inside
 *     the file as it is (its length from the engine, not an address
 *     limit), which bounds the segment table that activation builds; and
 *     the references into one segment are counted as they arrive and
 *     refused past a small multiple of what it can hold, so that no
 *     count of references wraps a segment's 32-bit live bytes.  Until
 *     activation the disk segment table holds only those counts.
 *
 * Safe only when both QEMUs see the same file contents: one host, or a
 * cluster filesystem with coherent caching; see docs/system/vswap.rst.
 */

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "store-int.h"

/*
 * While the stream runs, the references into one segment may add up to
 * this many times its record space.  The source reuses segments during
 * the export: a slot that compaction moved out keeps its old reference
 * here until it is sent again, beside references into the segment's new
 * records, so the sum may exceed the segment for a while, by one
 * segment's worth per reuse.  Activation checks the final sum against
 * the segment itself.  8 x 64 MiB, the largest segment, is 2^29 bytes.
 */
#define VSWAP_SHARED_REF_SLACK 8

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
    int ret = 0;

    vswap_store_drain(s);
    if (!vswap_store_has_disk(s) || s->fenced) {
        return 0;
    }
    /* The caller's own writes: they go on while the store is quiesced. */
    s->owner_calls++;
    vswap_writeback_seal_disk(s);
    vswap_io_flush(s->io);
    /* Drain waits for the segment writes: they are engine requests. */
    vswap_store_drain(s);
    if (vswap_store_io(s, VSWAP_IO_FSYNC, NULL, 0, 0) < 0 ||
        s->disk_unwritten) {
        ret = -EIO;
    }
    s->owner_calls--;
    return ret;
}

void vswap_store_fence(VswapStore *s, bool fenced)
{
    vswap_store_drain(s);
    s->fenced = fenced;
    if (!fenced) {
        vswap_store_notify(s);
    }
}

/* What the records of one segment can add up to. */
static uint32_t vswap_shared_seg_space(VswapStore *s)
{
    return (UINT32_C(1) << s->seg_shift) - VSWAP_SEG_HDR_SIZE;
}

/*
 * Rebuild the disk segment table from the map's references: live bytes and
 * extent per segment, then each segment's header.  A segment whose header
 * fails, or does not cover its references, stays referenced (its records
 * are verified when read) but is left alone by compaction.  Returns the
 * number of such segments.
 *
 * A group member's entry gives its share of the group record, not the
 * record's size, so its references prove less of the segment (@max_end,
 * checked against the header) than reads of it may need (@reach: up to
 * the largest group record, within the segment and the file).  A segment
 * taken without its header is taken as far as it may reach, or reads of
 * its members would stop short of their groups.
 */
static unsigned vswap_shared_rebuild(VswapStore *s)
{
    g_autofree uint8_t *buf = vswap_io_buf_new(4096);
    g_autofree uint32_t *max_end = NULL, *reach = NULL;
    uint64_t seg_mask = ((uint64_t)1 << s->seg_shift) - 1;
    uint64_t slot = 0, ent;
    uint32_t nsegs = 0;
    unsigned bad = 0;

    while (vswap_map_next(s->map, &slot, &ent)) {
        if (vswap_ent_state(ent) == VSWAP_ENT_DISK) {
            nsegs = MAX(nsegs,
                        (uint32_t)(vswap_ent_addr(ent) >> s->seg_shift) + 1);
        }
        slot++;
    }
    /* The table counted the references as they came: start afresh. */
    g_free(s->disk.segs);
    s->disk.segs = g_new0(VswapSegment, MAX(nsegs, 1));
    s->disk.nsegs = nsegs;
    max_end = g_new0(uint32_t, MAX(nsegs, 1));
    reach = g_new0(uint32_t, MAX(nsegs, 1));
    for (slot = 0; vswap_map_next(s->map, &slot, &ent); slot++) {
        uint64_t addr = vswap_ent_addr(ent);
        uint32_t index = addr >> s->seg_shift;
        VswapSegment *seg;
        size_t size;

        if (vswap_ent_state(ent) != VSWAP_ENT_DISK) {
            continue;
        }
        seg = &s->disk.segs[index];
        size = vswap_ent_bytes(ent);
        seg->live += size;
        seg->nrecords++;
        s->disk.live_bytes += size;
        max_end[index] = MAX(max_end[index], (addr & seg_mask) + size);
        reach[index] = MAX(reach[index],
                           vswap_log_record_reach(s, addr & seg_mask, size,
                                                  vswap_ent_group(ent)));
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
        /* Overlapping references: only one of each can verify. */
        if (seg->live > vswap_shared_seg_space(s) ||
            vswap_store_io(s, VSWAP_IO_READ, buf, 4096, off) < 0 ||
            vswap_seg_hdr_verify(buf, i, 1u << s->seg_shift, &hdr) < 0 ||
            hdr.used < max_end[i]) {
            seg->used = vswap_log_headerless_used(s, i, max_end[i], reach[i]);
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
                  " source have bad headers or more references than they"
                  " hold; their pages are verified when read", s->name, bad);
    }
    s->incoming_refs = false;
    s->fenced = false;
    vswap_dicts_hold_disk(s);
    vswap_dicts_end_import(s);
    s->compact_wanted = true;
    vswap_store_notify(s);
}

/*
 * Count a reference into segment @index of the disk table, which stands
 * for the references alone until activation (writeback and compaction are
 * fenced off it).  The table grows one entry past the highest segment
 * found inside the file, so it grows with the file, not with the
 * addresses in the stream, and an entry below the last is known to lie
 * whole inside the file.  The source appends segments while the
 * migration runs, so the file's length is asked again past that.
 * @credit: bytes of the reference that this one replaces in the same
 * segment.  Returns 0; -EINVAL past the end of the file or past
 * VSWAP_SHARED_REF_SLACK, counting nothing; -EIO or -ENOMEM.
 */
static int vswap_shared_ref_add(VswapStore *s, uint64_t addr, size_t size,
                                size_t credit)
{
    uint64_t limit = (uint64_t)VSWAP_SHARED_REF_SLACK *
                     vswap_shared_seg_space(s);
    uint32_t index = addr >> s->seg_shift;
    VswapLog *log = &s->disk;
    VswapSegment *seg;

    if (index + 1 >= log->nsegs) {
        int64_t len = vswap_io_getlength(s->io);

        if (len < 0) {
            return -EIO;
        }
        if (s->data_offset + addr + size > (uint64_t)len) {
            return -EINVAL;
        }
        if (index >= log->nsegs) {
            /* A huge sparse file is still a huge table: fail, not abort. */
            VswapSegment *segs = g_try_renew(VswapSegment, log->segs,
                                             index + 1);

            if (!segs) {
                return -ENOMEM;
            }
            log->segs = segs;
            memset(&log->segs[log->nsegs], 0,
                   (index + 1 - log->nsegs) * sizeof(VswapSegment));
            log->nsegs = index + 1;
        }
    }
    seg = &log->segs[index];
    if ((uint64_t)seg->live - credit + size > limit) {
        return -EINVAL;
    }
    seg->live += size;
    return 0;
}

/*
 * vswap_shared_import_ref: destination side: point @info->slot at the
 * record the source left in the file, a record of one page (REF) or a
 * group record whose member @info->member the page is (MEMBER_REF, @len
 * its share of the record's bytes, which is what it counts for in its
 * segment).  Only its shape, its place inside the file and the
 * references into its segment are checked now (the file may still
 * change); see vswap_store_activate().  A member's index is checked
 * against the group's slots when the page is read, as on any store.
 * Returns 0, -EINVAL for a reference that no source sends, -EIO or
 * -ENOMEM.
 */
int vswap_shared_import_ref(VswapStore *s, const VswapRecordInfo *info)
{
    bool member = info->kind == VSWAP_RECORD_MEMBER_REF;
    uint64_t seg_mask = ((uint64_t)1 << s->seg_shift) - 1;
    uint64_t off = info->addr & seg_mask;
    size_t size = member ? info->len : vswap_rec_size(info->len);
    uint64_t old;
    int ret;

    if (!s->incoming_refs || info->len == 0 ||
        info->len > VSWAP_STORE_PAGE_SIZE ||
        (member ? info->member >= VSWAP_GROUP_MAX_PAGES : info->member != 0) ||
        (info->addr & (VSWAP_REC_ALIGN - 1)) ||
        info->addr > (VSWAP_ENT_ADDR_MASK << 3) ||
        (info->addr >> s->seg_shift) >= s->disk.max_segs ||
        off < VSWAP_SEG_HDR_SIZE ||
        off + size > seg_mask + 1) {
        return -EINVAL;
    }
    old = vswap_map_get(s->map, info->slot);
    ret = vswap_shared_ref_add(s, info->addr, size,
                               vswap_ent_state(old) == VSWAP_ENT_DISK &&
                               vswap_ent_addr(old) >> s->seg_shift ==
                               info->addr >> s->seg_shift ?
                               vswap_ent_bytes(old) : 0);
    if (ret < 0) {
        return ret;
    }
    g_hash_table_remove(s->inflight_writes, GUINT_TO_POINTER(info->slot));
    vswap_log_set(s, info->slot,
                  member ? vswap_ent_member_record(info->addr, info->member,
                                                   info->len) :
                           vswap_ent_record(VSWAP_ENT_DISK, info->addr,
                                            info->len));
    return 0;
}
