/*
 * Writeback of the page store: moves the coldest compressed records from
 * memory segments into disk segments, written with large io_uring writes.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Coldness is a clock over memory segments in creation order: the oldest
 * sealed segment is the victim; each of its live records that was read
 * since the last pass (VSWAP_ENT_REF) gets a second chance and moves to
 * the head of the memory log; the others are appended to the open disk
 * segment, packed into group records on a background thread first
 * (group.c, cfg.disk_group), or as they are when a write waits for the
 * memory.  A disk segment is written whole once it is full.
 * Records keep being served from its buffer until the write completes, and
 * if the write fails the buffer is kept (counted against the memory hard
 * limit) and written again later: a page acknowledged to the guest is never
 * dropped.
 */

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "store-int.h"

/* After a failed segment write, wait this long before trying again. */
#define VSWAP_WRITEBACK_RETRY_US (100 * 1000)
/*
 * Memory segments packed at once, each on a thread of its own: a pack
 * decodes and recompresses a segment's pages, some milliseconds a MiB.
 */
#define VSWAP_WRITEBACK_PACKS 2

/*
 * Does writeback keep up well enough to pack?  Packing costs a core some
 * 3 to 4 times what compressing the pages did, so a guest that swaps out
 * faster than that would outrun it and wait for memory.  Writeback packs
 * while memory is below the middle between budget and hard limit, and
 * moves records as they are above it, as fast as the disk takes them,
 * until it is back below: density while the CPU keeps pace, speed when
 * it does not.  A checkpoint, which no guest waits for, packs all
 * (wb_pack_all).
 */
static bool vswap_writeback_may_pack(VswapStore *s, uint64_t mem)
{
    return s->cfg.disk_group > 1 &&
           (s->wb_pack_all ||
            mem <= s->mem_budget + (s->mem_limit - s->mem_budget) / 2);
}

static void vswap_writeback_done(VswapIoReq *req)
{
    VswapSegIo *sio = req->opaque;
    VswapStore *s = sio->s;
    VswapSegment *seg = &s->disk.segs[sio->index];

    s->wb_inflight--;
    if (req->result == (ssize_t)req->len) {
        if (seg->write_failed) {
            seg->write_failed = false;
            s->disk_failed--;
        }
        seg->state = VSWAP_SEG_ONDISK;
        vswap_log_put_buf(s, seg->buf);
        seg->buf = NULL;
        s->disk.nbufs--;
        s->st.writeback_pages += seg->nrecords;
        s->st.writeback_bytes += seg->used;
        if (seg->live == 0) {
            vswap_log_release_segment(s, &s->disk, sio->index);
        }
    } else {
        seg->state = VSWAP_SEG_UNWRITTEN;
        s->disk_unwritten++;
        if (!seg->write_failed) {
            seg->write_failed = true;
            s->disk_failed++;
        }
        s->st.writeback_errors++;
        s->wb_retry_at = g_get_monotonic_time() + VSWAP_WRITEBACK_RETRY_US;
        if (seg->live == 0) {
            vswap_log_release_segment(s, &s->disk, sio->index);
        }
    }
    g_free(sio);
}

/* Write disk segment @index, which has a buffer, to its place in the file. */
static void vswap_writeback_submit(VswapStore *s, uint32_t index)
{
    VswapSegment *seg = &s->disk.segs[index];
    size_t len = (seg->used + 4095) & ~(size_t)4095;
    VswapSegIo *sio;

    if (s->fenced) {
        /* Keep the records in memory; the file is not ours to write. */
        if (seg->state != VSWAP_SEG_UNWRITTEN) {
            seg->state = VSWAP_SEG_UNWRITTEN;
            s->disk_unwritten++;
        }
        return;
    }
    if (seg->state == VSWAP_SEG_UNWRITTEN) {
        s->disk_unwritten--;
    }
    seg->state = VSWAP_SEG_WRITING;
    memset(seg->buf + seg->used, 0, len - seg->used);
    vswap_seg_hdr_encode(seg->buf, seg->seq, seg->used, seg->nrecords, index,
                         1u << s->seg_shift);
    sio = g_new0(VswapSegIo, 1);
    sio->s = s;
    sio->index = index;
    sio->io = (VswapIoReq) {
        .op = VSWAP_IO_WRITE,
        .offset = s->data_offset + ((uint64_t)index << s->seg_shift),
        .buf = seg->buf,
        .len = len,
        .complete = vswap_writeback_done,
        .opaque = sio,
    };
    s->wb_inflight++;
    vswap_io_submit(s->io, &sio->io);
}

/*
 * vswap_writeback_start_queued: start the write of every disk segment the
 * log sealed (wb_queue).  One that emptied and was freed meanwhile, or was
 * queued twice, is skipped.
 */
void vswap_writeback_start_queued(VswapStore *s)
{
    if (!vswap_store_may_start_io(s)) {
        return;                 /* quiesced: they wait, buffers and all */
    }
    for (guint i = 0; i < s->wb_queue->len; i++) {
        uint32_t index = g_array_index(s->wb_queue, uint32_t, i);

        if (s->disk.segs[index].state == VSWAP_SEG_FULL) {
            vswap_writeback_submit(s, index);
        }
    }
    g_array_set_size(s->wb_queue, 0);
}

/* vswap_writeback_seal_disk: seal the open disk segment and start its write. */
void vswap_writeback_seal_disk(VswapStore *s)
{
    vswap_log_seal_open(s, &s->disk);
    vswap_writeback_start_queued(s);
}

static void vswap_writeback_retry(VswapStore *s)
{
    if (!s->disk_unwritten || g_get_monotonic_time() < s->wb_retry_at) {
        return;
    }
    for (uint32_t i = 0; i < s->disk.nsegs && s->disk_unwritten; i++) {
        if (s->disk.segs[i].state == VSWAP_SEG_UNWRITTEN) {
            vswap_writeback_submit(s, i);
        }
    }
}

/*
 * Memory that writeback still has to free: every segment buffer except
 * those of disk segments being written and memory segments being packed,
 * which their completions free.
 * Counting those too made one pass evict up to wb_depth segments past
 * its target, down to the newest records, whenever the
 * writes had not completed by the next victim.
 */
static uint64_t vswap_writeback_pressure(VswapStore *s)
{
    uint64_t writing = (uint64_t)(s->wb_inflight + s->packs) << s->seg_shift;
    uint64_t mem = vswap_store_mem_bytes(s);

    return mem - MIN(mem, writing);
}

/* Oldest sealed memory segment not being packed, or -1. */
static int64_t vswap_writeback_victim(VswapStore *s)
{
    int64_t victim = -1;

    for (uint32_t i = 0; i < s->mem.nsegs; i++) {
        VswapSegment *seg = &s->mem.segs[i];

        if (seg->state == VSWAP_SEG_FULL && !seg->packing &&
            (victim < 0 || seg->seq < s->mem.segs[victim].seq)) {
            victim = i;
        }
    }
    return victim;
}

/*
 * Referenced records go back to memory (clearing the bit), others to disk.
 * The second chance needs room: at the hard limit (after a budget cut, or
 * with writes in flight) memory cannot take a record back, and insisting
 * would stall writeback for good, so the record goes to disk too.
 */
static VswapLog *vswap_writeback_pick(VswapStore *s, uint64_t *ent)
{
    bool referenced = *ent & VSWAP_ENT_REF;

    *ent &= ~VSWAP_ENT_REF;
    if (referenced && vswap_store_mem_bytes(s) <= s->mem_limit) {
        return &s->mem;
    }
    return &s->disk;
}

void vswap_writeback_pack_done(VswapStore *s, VswapPageJob *job)
{
    vswap_group_pack_done(s, job, vswap_writeback_pick);
}

/*
 * vswap_writeback_kick: while memory is over budget, write back the oldest
 * memory segments, keeping at most wb_depth segment writes in flight.
 * @urgent (a write is waiting for memory) frees at least one segment even
 * under budget, writing a partly filled disk segment if that is all there
 * is, and moves records as they are: packing would keep the write
 * waiting.  Stops early when the disk is full (compaction is then asked to make
 * room) or after a failed write until its retry time.  Does nothing while
 * the store is quiesced, unless requests need it.
 */
void vswap_writeback_kick(VswapStore *s, bool urgent)
{
    uint64_t seg_size = (uint64_t)1 << s->seg_shift;
    uint64_t mem = vswap_writeback_pressure(s);
    uint64_t target;
    int ret;

    if (!vswap_store_has_disk(s) || s->fenced ||
        !vswap_store_may_start_io(s)) {
        return;
    }
    vswap_writeback_retry(s);
    if ((!urgent && mem <= s->mem_budget) || s->disk_unwritten) {
        return;
    }
    /* Hysteresis: free a little more than needed so writes batch up. */
    target = s->mem_budget - MIN(s->mem_budget / 8, 2 * seg_size);
    if (urgent) {
        target = MIN(target, mem - MIN(mem, seg_size));
    }
    while (vswap_writeback_pressure(s) > target &&
           s->wb_inflight < s->wb_depth) {
        int64_t victim = vswap_writeback_victim(s);
        VswapSegment *seg;

        if (victim < 0) {
            if (s->mem.open < 0 || s->mem.segs[s->mem.open].nrecords == 0) {
                break;
            }
            vswap_log_seal_open(s, &s->mem);
            continue;
        }
        if (!urgent && vswap_writeback_may_pack(s, mem)) {
            if (s->packs >= VSWAP_WRITEBACK_PACKS) {
                break;
            }
            if (vswap_group_pack_start(s, victim)) {
                continue;
            }
        }
        seg = &s->mem.segs[victim];
        ret = vswap_log_move_records(s, &s->mem, victim, seg->buf, seg->used,
                                     vswap_writeback_pick, false);
        /* Disk segments that filled up are written at once: depth counts. */
        vswap_writeback_start_queued(s);
        if (ret < 0) {
            /* Disk full: let compaction return space first. */
            s->compact_wanted = true;
            break;
        }
        if (s->mem.segs[victim].state != VSWAP_SEG_FREE) {
            g_warning("vswap: writeback left records in memory segment %"
                      PRId64, victim);
            break;
        }
    }
    /* Nothing left to move: write what the open disk segment holds. */
    if (vswap_store_mem_bytes(s) > target && vswap_writeback_victim(s) < 0 &&
        s->packs == 0 && (urgent || s->wb_inflight == 0)) {
        vswap_writeback_seal_disk(s);
    }
    vswap_io_flush(s->io);
}
