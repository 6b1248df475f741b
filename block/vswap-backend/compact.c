/*
 * Compaction of the page store: rewrites sparse segments so that their
 * space returns to the host, without decompressing a single page.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Each segment counts its live bytes.  A disk segment whose live share is
 * below the threshold (any dead space at all in a full pass) is read whole
 * into a buffer; every record that the map still points at is appended to
 * the open disk segment and the map repointed; then the segment's blocks
 * are punched out and the segment is reused.  Guest reads and writes go on
 * meanwhile: records in the victim stay readable where they are until they
 * move, a read in flight pins its segment, and a record overwritten or
 * discarded meanwhile is simply not moved, so compaction never loses a
 * page and never resurrects a stale one.  Memory segments are compacted
 * the same way, synchronously, since moving them costs only a memcpy.
 *
 * The records moved sit in disk segment buffers until their writes
 * succeed, so compaction counts against the memory hard limit like a
 * guest write (vswap_compact_has_room()): a failing disk pauses it.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store-int.h"

/* The sparsest written disk segment worth compacting, or -1. */
static int64_t vswap_compact_victim(VswapStore *s)
{
    VswapCompaction *c = &s->compact;
    int64_t victim = -1;

    for (uint32_t i = 0; i < s->disk.nsegs; i++) {
        VswapSegment *seg = &s->disk.segs[i];

        if (seg->state != VSWAP_SEG_ONDISK || seg->compact_failed ||
            seg->compacting ||
            (c->running && seg->seq > c->pass_start_seq) ||
            !vswap_log_segment_sparse(s, seg, c->running && c->full)) {
            continue;
        }
        if (victim < 0 || seg->live < s->disk.segs[victim].live) {
            victim = i;
        }
    }
    return victim;
}

/*
 * May compaction move another victim's records?  They go into disk
 * segment buffers, memory until their writes succeed, and one victim adds
 * at most one segment.  While the disk takes writes, the buffers being
 * written come back soon: compaction only keeps to the hard limit plus a
 * reserve segment, so that it can still make room on a full disk when
 * memory is at the limit.  While writes fail, its buffers stay, and
 * without this check every pass moved more records off the disk into
 * memory, far past the limit: it must then fit under the limit itself,
 * as a guest write must.
 */
static bool vswap_compact_has_room(VswapStore *s)
{
    uint64_t seg_size = (uint64_t)1 << s->seg_shift;
    uint64_t mem = vswap_store_mem_bytes(s);

    if (s->disk_failed) {
        return mem + seg_size <= s->mem_limit;
    }
    return mem <= s->mem_limit + seg_size;
}

static VswapLog *vswap_compact_pick_disk(VswapStore *s, uint64_t *ent)
{
    *ent &= ~VSWAP_ENT_REF;
    return &s->disk;
}

static void vswap_compact_read_done(VswapIoReq *req)
{
    VswapStore *s = req->opaque;
    VswapCompaction *c = &s->compact;
    uint32_t index = c->victim;
    VswapSegment *seg = &s->disk.segs[index];
    VswapSegmentHdr hdr;
    int moved;

    c->victim = -1;
    seg->compacting = false;
    if (req->result < 0 ||
        vswap_seg_hdr_verify(c->buf, index, 1u << s->seg_shift, &hdr) < 0) {
        /* Leave it be: its records are still read (and verified) one by one. */
        seg->compact_failed = true;
        s->st.read_errors++;
    } else {
        uint32_t live_before = seg->live;

        moved = vswap_log_move_records(s, &s->disk, index, c->buf,
                                       MIN(hdr.used, seg->used),
                                       vswap_compact_pick_disk, true);
        vswap_writeback_start_queued(s);
        if (moved >= 0) {
            s->st.compacted_segments++;
        }
        seg = &s->disk.segs[index];
        s->st.compacted_bytes += live_before - seg->live;
        if (seg->state == VSWAP_SEG_ONDISK && seg->live > 0 && moved >= 0) {
            /* A torn or corrupt record stopped the walk. */
            seg->compact_failed = true;
        }
    }
    if (seg->state != VSWAP_SEG_FREE && seg->live == 0) {
        vswap_log_release_segment(s, &s->disk, index);
    }
    vswap_store_notify(s);
}

static void vswap_compact_punch_done(VswapIoReq *req)
{
    VswapSegIo *sio = req->opaque;
    VswapStore *s = sio->s;

    /* A failed punch only leaks file space; the segment is free either way. */
    s->punches--;
    g_array_append_val(s->disk.free, sio->index);
    g_free(sio);
}

/*
 * vswap_compact_punch_queued: punch the blocks of every disk segment the
 * log freed (punch_queue); each becomes reusable when its punch completes.
 */
void vswap_compact_punch_queued(VswapStore *s)
{
    if (!vswap_store_may_start_io(s)) {
        return;
    }
    for (guint i = 0; i < s->punch_queue->len; i++) {
        VswapSegIo *sio = g_new0(VswapSegIo, 1);
        uint32_t index = g_array_index(s->punch_queue, uint32_t, i);

        sio->s = s;
        sio->index = index;
        sio->io = (VswapIoReq) {
            .op = VSWAP_IO_PUNCH,
            .offset = s->data_offset + ((uint64_t)index << s->seg_shift),
            .len = (size_t)1 << s->seg_shift,
            .complete = vswap_compact_punch_done,
            .opaque = sio,
        };
        s->punches++;
        vswap_io_submit(s->io, &sio->io);
    }
    g_array_set_size(s->punch_queue, 0);
}

/*
 * vswap_compact_finish_pass: end an explicit pass: compact memory, write
 * the open disk segment so that its records count as on disk, and report.
 */
void vswap_compact_finish_pass(VswapStore *s)
{
    VswapCompaction *c = &s->compact;
    VswapCompleteFunc *cb = c->cb;

    vswap_log_compact_mem(s, c->full);
    if (vswap_store_has_disk(s)) {
        vswap_writeback_seal_disk(s);
    }
    c->running = false;
    c->cb = NULL;
    s->st.compactions++;
    if (cb) {
        cb(c->opaque);
    }
}

/*
 * vswap_compact_kick: start compacting the next victim if none is being
 * read.  Without an explicit pass this runs in the background for
 * segments below the threshold only.  While quiesced, a pass waits.
 */
void vswap_compact_kick(VswapStore *s)
{
    VswapCompaction *c = &s->compact;
    VswapSegment *seg;
    int64_t victim;

    if (!vswap_store_has_disk(s)) {
        if (c->running) {
            vswap_compact_finish_pass(s);
        }
        return;
    }
    if (s->fenced) {
        /* Only memory can be compacted while the file is the peer's. */
        if (c->running) {
            vswap_compact_finish_pass(s);
        }
        return;
    }
    if (c->victim >= 0 || !vswap_store_may_start_io(s)) {
        return;
    }
    if (!vswap_compact_has_room(s)) {
        /*
         * Writes in flight give memory back, or fail and say so; with
         * none, a failing disk would hold the pass forever: end it.  A
         * background compaction stays wanted until there is room.
         */
        if (c->running && s->wb_inflight == 0) {
            vswap_compact_finish_pass(s);
        }
        return;
    }
    for (;;) {
        victim = vswap_compact_victim(s);
        if (victim < 0) {
            s->compact_wanted = false;
            /* Wait for outstanding writes so that their segments count. */
            if (c->running && s->wb_inflight == 0) {
                vswap_compact_finish_pass(s);
            }
            return;
        }
        seg = &s->disk.segs[victim];
        if (seg->live == 0) {
            /* Not a victim again while its reads end (freeing resets it). */
            seg->compact_failed = true;
            vswap_log_release_segment(s, &s->disk, victim);
            continue;
        }
        break;
    }
    if (!c->buf && posix_memalign((void **)&c->buf, 4096,
                                  (size_t)1 << s->seg_shift) != 0) {
        c->buf = NULL;
        return;
    }
    seg = &s->disk.segs[victim];
    seg->compacting = true;
    c->victim = victim;
    c->io = (VswapIoReq) {
        .op = VSWAP_IO_READ,
        .offset = s->data_offset + ((uint64_t)victim << s->seg_shift),
        .buf = c->buf,
        .len = (seg->used + 4095) & ~(size_t)4095,
        .complete = vswap_compact_read_done,
        .opaque = s,
    };
    vswap_io_submit(s->io, &c->io);
    vswap_io_flush(s->io);
}
