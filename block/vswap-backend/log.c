/*
 * Segment tables of the page store's two logs (memory and disk): placing
 * records, sealing and freeing segments, and keeping the live-byte
 * accounting that writeback and compaction decide by.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Segments are addressed by index, never by pointer, across calls that may
 * append: appending can grow (reallocate) a segment table.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "store-int.h"

/*
 * Memory segments are compacted in the background once their live bytes
 * fall below VSWAP_MEM_COMPACT_LOW percent of the record bytes they hold,
 * sparsest segment first, until the share is back to
 * VSWAP_MEM_COMPACT_HIGH.  Moving a record costs a memcpy, against the
 * zstd work that made it, so the memory tier is kept much denser than the
 * disk (compact_threshold): without this, a memory-only store that the
 * guest kept rewriting held 1.75 to 1.9 times its live bytes.
 */
#define VSWAP_MEM_COMPACT_LOW 80
#define VSWAP_MEM_COMPACT_HIGH 90
/* Below this many memory segments, dead space is not worth a pass. */
#define VSWAP_MEM_COMPACT_MIN_SEGS 4

bool vswap_log_init(VswapStore *s, VswapLog *log, bool is_disk,
                    uint32_t max_segs)
{
    memset(log, 0, sizeof(*log));
    log->is_disk = is_disk;
    log->max_segs = max_segs;
    log->open = -1;
    log->free = g_array_new(false, false, sizeof(uint32_t));
    return true;
}

/* Unmap a segment buffer of vswap_log_get_buf(); NULL is ignored. */
static void vswap_log_unmap_buf(VswapStore *s, void *buf)
{
    if (buf) {
        munmap(buf, (size_t)1 << s->seg_shift);
    }
}

/* Keep @buf as the spare buffer, or unmap it. */
static void vswap_log_reuse_buf(VswapStore *s, uint8_t *buf)
{
    if (!s->spare_buf) {
        s->spare_buf = buf;
    } else {
        vswap_log_unmap_buf(s, buf);
    }
}

/* Give back the buffers of @limbo, which no read in flight can see. */
static void vswap_log_release_limbo(VswapStore *s, GPtrArray *limbo)
{
    for (guint i = 0; i < limbo->len; i++) {
        vswap_log_reuse_buf(s, g_ptr_array_index(limbo, i));
    }
    g_ptr_array_set_size(limbo, 0);
}

void vswap_log_destroy(VswapStore *s, VswapLog *log)
{
    for (uint32_t i = 0; i < log->nsegs; i++) {
        vswap_log_unmap_buf(s, log->segs[i].buf);
    }
    g_free(log->segs);
    /*
     * The limbo and the spare buffer belong to both logs: the first call
     * frees them.  No read is in flight any more: the workers are gone.
     */
    for (int i = 0; i < 2; i++) {
        if (s->rd_limbo[i]) {
            vswap_log_release_limbo(s, s->rd_limbo[i]);
            g_ptr_array_free(s->rd_limbo[i], true);
            s->rd_limbo[i] = NULL;
        }
    }
    vswap_log_unmap_buf(s, s->spare_buf);
    s->spare_buf = NULL;
    if (log->free) {
        g_array_free(log->free, true);
    }
    memset(log, 0, sizeof(*log));
}

/*
 * A segment buffer: the spare one if there is one.  Buffers are mapped
 * apart from the heap, so that a freed segment goes back to the host at
 * once instead of staying in a malloc arena: the memory a store gives up
 * through compaction or writeback is what the host reclaims.  A new one
 * is populated at once: a segment is filled soon after it opens, and one
 * populate costs about half as much as the 256 page faults it saves,
 * which were two fifths of the owner's time per page written with 2
 * workers.
 */
static void *vswap_log_get_buf(VswapStore *s)
{
    void *buf = s->spare_buf;

    if (buf) {
        s->spare_buf = NULL;
        return buf;
    }
    buf = mmap(NULL, (size_t)1 << s->seg_shift, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    return buf == MAP_FAILED ? NULL : buf;
}

uint32_t vswap_log_record_reach(VswapStore *s, uint32_t off, size_t bytes,
                                bool member)
{
    return member ? MIN(UINT32_C(1) << s->seg_shift,
                        off + VSWAP_GROUP_REC_MAX) : off + bytes;
}

uint32_t vswap_log_headerless_used(VswapStore *s, uint32_t index,
                                   uint32_t max_end, uint32_t reach)
{
    uint64_t off = s->data_offset + ((uint64_t)index << s->seg_shift);
    int64_t file_len = vswap_io_getlength(s->io);

    if (file_len > 0 && (uint64_t)file_len > off &&
        (uint64_t)file_len - off < reach) {
        reach = MAX(max_end, (uint64_t)file_len - off);
    }
    return reach;
}

/*
 * vswap_log_retire: give back what the direct reads in flight can no
 * longer see.  In epoch E, the limbo of E - 1 holds buffers given up in
 * E - 1, which reads of E - 1 may see (those of E - 2 ended before E
 * began): once those end, the buffers go, and epoch E + 1 begins if E's
 * limbo has buffers waiting, for them to go in turn.
 */
static void vswap_log_retire(VswapStore *s)
{
    unsigned cur = s->rd_epoch & 1, prev = cur ^ 1;

    if (s->rd_inflight[prev]) {
        return;
    }
    vswap_log_release_limbo(s, s->rd_limbo[prev]);
    if (!s->rd_inflight[cur]) {
        vswap_log_release_limbo(s, s->rd_limbo[cur]);
    } else if (s->rd_limbo[cur]->len) {
        s->rd_epoch++;
    }
}

uint8_t vswap_log_direct_begin(VswapStore *s)
{
    uint8_t parity = s->rd_epoch & 1;

    if (!s->rd_limbo[0]) {
        s->rd_limbo[0] = g_ptr_array_new();
        s->rd_limbo[1] = g_ptr_array_new();
    }
    s->rd_inflight[parity]++;
    return parity;
}

void vswap_log_direct_end(VswapStore *s, uint8_t parity)
{
    g_assert(s->rd_inflight[parity] > 0);
    s->rd_inflight[parity]--;
    vswap_log_retire(s);
}

/*
 * Give back a segment buffer no record and no I/O refers to any more: at
 * once, unless a direct read in flight may still see it.
 */
void vswap_log_put_buf(VswapStore *s, uint8_t *buf)
{
    if (!s->rd_inflight[0] && !s->rd_inflight[1]) {
        vswap_log_reuse_buf(s, buf);
        return;
    }
    g_ptr_array_add(s->rd_limbo[s->rd_epoch & 1], buf);
    vswap_log_retire(s);
}

uint64_t vswap_store_mem_bytes(VswapStore *s)
{
    return (uint64_t)(s->mem.nbufs + s->disk.nbufs) << s->seg_shift;
}

VswapLog *vswap_log_of(VswapStore *s, uint64_t ent)
{
    return vswap_ent_state(ent) == VSWAP_ENT_DISK ? &s->disk : &s->mem;
}

VswapSegment *vswap_log_segment(VswapStore *s, VswapLog *log, uint64_t addr,
                                uint32_t *index)
{
    uint32_t i = addr >> s->seg_shift;

    g_assert(i < log->nsegs);
    if (index) {
        *index = i;
    }
    return &log->segs[i];
}

const uint8_t *vswap_log_record_ptr(VswapStore *s, uint64_t ent)
{
    uint64_t addr = vswap_ent_addr(ent);
    VswapSegment *seg = vswap_log_segment(s, vswap_log_of(s, ent), addr, NULL);

    if (!seg->buf) {
        return NULL;
    }
    return seg->buf + (addr & (((uint64_t)1 << s->seg_shift) - 1));
}

/* Memory segments may not exceed this; a reserve segment lets moves finish. */
static uint64_t vswap_log_mem_cap(VswapStore *s, bool reserve)
{
    uint64_t cap = vswap_store_has_disk(s) ? s->mem_limit : s->mem_budget;

    return reserve ? cap + ((uint64_t)1 << s->seg_shift) : cap;
}

/* Returns a free table index, growing the table; -ENOSPC at its limit. */
static int64_t vswap_log_take_index(VswapLog *log, bool reserve)
{
    uint32_t avail = log->free->len + (log->max_segs - log->nsegs);
    uint32_t index;

    /* Disk writeback leaves one segment for compaction to move into. */
    if (avail == 0 || (log->is_disk && !reserve && avail <= 1)) {
        return -ENOSPC;
    }
    if (log->free->len) {
        index = g_array_index(log->free, uint32_t, log->free->len - 1);
        g_array_set_size(log->free, log->free->len - 1);
        return index;
    }
    log->segs = g_renew(VswapSegment, log->segs, log->nsegs + 1);
    memset(&log->segs[log->nsegs], 0, sizeof(VswapSegment));
    return log->nsegs++;
}

bool vswap_log_can_open(VswapLog *log)
{
    return log->free->len + (log->max_segs - log->nsegs) > 1;
}

static int vswap_log_open_segment(VswapStore *s, VswapLog *log, bool reserve)
{
    size_t seg_size = (size_t)1 << s->seg_shift;
    VswapSegment *seg;
    int64_t index;
    void *buf;

    if (!log->is_disk &&
        vswap_store_mem_bytes(s) + seg_size > vswap_log_mem_cap(s, reserve)) {
        return -ENOSPC;
    }
    index = vswap_log_take_index(log, reserve);
    if (index < 0) {
        return index;
    }
    buf = vswap_log_get_buf(s);
    if (!buf) {
        g_array_append_val(log->free, (uint32_t){ index });
        return -ENOMEM;
    }
    seg = &log->segs[index];
    *seg = (VswapSegment) {
        .buf = buf,
        .seq = ++s->seg_seq,
        .used = VSWAP_SEG_HDR_SIZE,
        .state = VSWAP_SEG_OPEN,
    };
    memset(buf, 0, VSWAP_SEG_HDR_SIZE);
    log->nbufs++;
    log->used_bytes += VSWAP_SEG_HDR_SIZE;
    log->open = index;
    return 0;
}

void vswap_log_seal_open(VswapStore *s, VswapLog *log)
{
    uint32_t index = log->open;

    if (log->open < 0) {
        return;
    }
    log->open = -1;
    if (log->segs[index].nrecords == 0 || log->segs[index].live == 0) {
        vswap_log_free_segment(s, log, index);
        return;
    }
    log->segs[index].state = VSWAP_SEG_FULL;
    if (log->is_disk) {
        g_array_append_val(s->wb_queue, index);
    }
}

/*
 * vswap_log_append: copy a record of @size bytes into the open segment of
 * @log, opening a new one when it is full.  @reserve lets moves (writeback,
 * compaction) use the last segment kept back for them.
 * Returns 0 and sets *@addr; -ENOSPC when no segment can be opened.
 */
int vswap_log_append(VswapStore *s, VswapLog *log, const void *rec,
                     size_t size, bool reserve, uint64_t *addr)
{
    VswapSegment *seg;
    int ret;

    if (log->open < 0 ||
        log->segs[log->open].used + size > ((size_t)1 << s->seg_shift)) {
        vswap_log_seal_open(s, log);
        ret = vswap_log_open_segment(s, log, reserve);
        if (ret < 0) {
            return ret;
        }
    }
    seg = &log->segs[log->open];
    memcpy(seg->buf + seg->used, rec, size);
    vswap_dicts_seg_add(s, seg, rec);
    *addr = ((uint64_t)log->open << s->seg_shift) + seg->used;
    seg->used += size;
    seg->live += size;
    seg->nrecords++;
    log->used_bytes += size;
    log->live_bytes += size;
    return 0;
}

/*
 * vswap_log_free_segment: drop segment @index of @log, which holds no live
 * record.  A written disk segment goes on punch_queue instead of the free
 * list: compaction punches its blocks out and frees it only once the punch
 * completes, so that the two cannot be reordered.
 */
void vswap_log_free_segment(VswapStore *s, VswapLog *log, uint32_t index)
{
    VswapSegment *seg = &log->segs[index];
    bool was_on_disk = seg->state == VSWAP_SEG_ONDISK;

    g_assert(seg->live == 0 && seg->pins == 0 && !seg->compacting &&
             !seg->packing);
    if (seg->buf) {
        vswap_log_put_buf(s, seg->buf);
        seg->buf = NULL;
        log->nbufs--;
    }
    if (seg->state == VSWAP_SEG_UNWRITTEN) {
        s->disk_unwritten--;
    }
    if (seg->write_failed) {
        s->disk_failed--;
    }
    log->used_bytes -= seg->used;
    vswap_dicts_seg_drop(s, seg);
    *seg = (VswapSegment) { .state = VSWAP_SEG_FREE };
    if (log->open == index) {
        log->open = -1;
    }
    /* A fenced file belongs to the migration peer: leave its blocks. */
    if (log->is_disk && was_on_disk && !s->fenced) {
        g_array_append_val(s->punch_queue, index);
        return;
    }
    g_array_append_val(log->free, index);
}

/*
 * vswap_log_release_segment: segment @index of @log holds no live record
 * and no write or compaction read of it is in flight: free it now, or,
 * while record reads of it are in flight, once the last one ends
 * (vswap_log_unpin()), so that its blocks are not punched under a read.
 */
void vswap_log_release_segment(VswapStore *s, VswapLog *log, uint32_t index)
{
    VswapSegment *seg = &log->segs[index];

    if (seg->pins) {
        seg->release_on_unpin = true;
        return;
    }
    vswap_log_free_segment(s, log, index);
}

/*
 * vswap_log_unpin: a read of disk segment @index finished: drop its pin,
 * and free the segment if vswap_log_release_segment() was waiting for it.
 */
void vswap_log_unpin(VswapStore *s, uint32_t index)
{
    VswapSegment *seg = &s->disk.segs[index];

    if (--seg->pins == 0 && seg->release_on_unpin) {
        seg->release_on_unpin = false;
        if (seg->live == 0) {
            vswap_log_free_segment(s, &s->disk, index);
        }
    }
}

/* A segment that lost its last live record is freed, unless busy. */
static void vswap_log_maybe_free(VswapStore *s, VswapLog *log, uint32_t index)
{
    VswapSegment *seg = &log->segs[index];

    if (seg->live != 0 || seg->state == VSWAP_SEG_OPEN ||
        seg->state == VSWAP_SEG_WRITING || seg->compacting || seg->packing) {
        return;
    }
    vswap_log_release_segment(s, log, index);
}

bool vswap_log_segment_sparse(VswapStore *s, const VswapSegment *seg,
                              bool full)
{
    uint32_t payload = seg->used - VSWAP_SEG_HDR_SIZE;

    if (full) {
        return seg->live < payload;
    }
    return (uint64_t)seg->live * 100 <
           (uint64_t)payload * s->cfg.compact_threshold;
}

/* Are the memory log's live bytes below @pct percent of its records'? */
static bool vswap_log_mem_sparse(VswapStore *s, unsigned pct)
{
    VswapLog *log = &s->mem;
    uint64_t held = log->used_bytes - (uint64_t)log->nbufs * VSWAP_SEG_HDR_SIZE;

    return log->nbufs >= VSWAP_MEM_COMPACT_MIN_SEGS &&
           log->live_bytes * 100 < held * pct;
}

/* Account for the map no longer pointing at @ent. */
void vswap_log_release(VswapStore *s, uint64_t ent)
{
    unsigned state = vswap_ent_state(ent);
    VswapSegment *seg;
    VswapLog *log;
    uint32_t index;
    size_t size;

    if (state == VSWAP_ENT_FILL) {
        s->st.pages_fill--;
        return;
    }
    if (state != VSWAP_ENT_MEM && state != VSWAP_ENT_DISK) {
        return;
    }
    log = vswap_log_of(s, ent);
    size = vswap_ent_bytes(ent);
    seg = vswap_log_segment(s, log, vswap_ent_addr(ent), &index);
    g_assert(seg->live >= size);
    seg->live -= size;
    log->pages--;
    s->st.payload_bytes -= vswap_ent_len(ent);
    if (log->is_disk && s->incoming_refs) {
        /* A migration reference: only counted against its segment. */
        return;
    }
    log->live_bytes -= size;
    if (log->is_disk && seg->state == VSWAP_SEG_ONDISK &&
        vswap_log_segment_sparse(s, seg, false)) {
        s->compact_wanted = true;
    }
    if (!log->is_disk && !s->mem_compact_wanted &&
        vswap_log_mem_sparse(s, VSWAP_MEM_COMPACT_LOW)) {
        /* Not here: this may run in the middle of moving records. */
        s->mem_compact_wanted = true;
        vswap_store_notify(s);
    }
    vswap_log_maybe_free(s, log, index);
}

/*
 * Point @slot at @ent, releasing what it pointed at before.  @moved says
 * the page's contents did not change (a tier move), so that migration's
 * dirty tracking does not send it again.
 */
static void vswap_log_point(VswapStore *s, uint64_t slot, uint64_t ent,
                            bool moved)
{
    /* A shared-storage export sends locations: a move changes what it sent. */
    bool same = moved && !(s->cfg.shared && vswap_map_tracking_dirty(s->map));
    uint64_t old = same ? vswap_map_replace(s->map, slot, ent) :
                   vswap_map_set(s->map, slot, ent);

    switch (vswap_ent_state(ent)) {
    case VSWAP_ENT_FILL:
        s->st.pages_fill++;
        break;
    case VSWAP_ENT_MEM:
    case VSWAP_ENT_DISK:
        vswap_log_of(s, ent)->pages++;
        s->st.payload_bytes += vswap_ent_len(ent);
        break;
    }
    vswap_log_release(s, old);
}

void vswap_log_set(VswapStore *s, uint64_t slot, uint64_t ent)
{
    vswap_log_point(s, slot, ent, false);
}

void vswap_log_move_entry(VswapStore *s, uint64_t slot, uint64_t ent)
{
    vswap_log_point(s, slot, ent, true);
}

/*
 * vswap_log_move_records: append every live record of segment @index of
 * @from (whose bytes are @data, a copy or the segment's own buffer) to a
 * log chosen by @pick, and repoint the map.  @pick returns the target log
 * for an entry and may rewrite the entry's clock bit.  Disk appends may use
 * the segment reserved for compaction only if @reserve_disk.  Stops at the
 * first record that does not fit.  Returns records moved, or -ENOSPC when
 * a record could not be placed.
 */
int vswap_log_move_records(VswapStore *s, VswapLog *from, uint32_t index,
                           const uint8_t *data, uint32_t used,
                           VswapLog *(*pick)(VswapStore *s, uint64_t *ent),
                           bool reserve_disk)
{
    uint32_t off = VSWAP_SEG_HDR_SIZE;
    uint64_t base = (uint64_t)index << s->seg_shift;
    unsigned from_state = from->is_disk ? VSWAP_ENT_DISK : VSWAP_ENT_MEM;
    int moved = 0;

    while (off < used && from->segs[index].live > 0) {
        uint32_t slot;
        size_t len;
        int size = vswap_rec_parse(data + off, used - off, &slot, &len);
        uint64_t ent, addr;
        VswapLog *to;

        if (size < 0) {
            break;              /* torn or corrupt: leave the rest in place */
        }
        if (vswap_rec_kind(data + off) == VSWAP_PAYLOAD_ZSTD_GROUP) {
            /* Only disk segments hold them; compaction moves them whole. */
            int ret = from->is_disk ?
                      vswap_group_move(s, index, off, data + off, size, len) :
                      0;

            if (ret < 0) {
                return ret;
            }
            moved += ret;
            off += size;
            continue;
        }
        ent = slot < vswap_map_capacity(s->map) ?
              vswap_map_get(s->map, slot) : 0;
        if (vswap_ent_state(ent) == from_state &&
            vswap_ent_addr(ent) == base + off) {
            to = pick(s, &ent);
            if (vswap_log_append(s, to, data + off, size,
                                 !to->is_disk || reserve_disk, &addr) < 0) {
                return -ENOSPC;
            }
            vswap_log_point(s, slot,
                            vswap_ent_record(to->is_disk ? VSWAP_ENT_DISK :
                                             VSWAP_ENT_MEM, addr, len) |
                            (ent & VSWAP_ENT_REF), true);
            moved++;
        }
        off += size;
    }
    return moved;
}

static VswapLog *vswap_log_pick_mem(VswapStore *s, uint64_t *ent)
{
    return &s->mem;
}

/* Move the live records of sealed memory segment @index to the open one. */
static int vswap_log_compact_mem_segment(VswapStore *s, uint32_t index)
{
    uint32_t live_before = s->mem.segs[index].live;
    int moved = vswap_log_move_records(s, &s->mem, index,
                                       s->mem.segs[index].buf,
                                       s->mem.segs[index].used,
                                       vswap_log_pick_mem, false);

    s->st.mem_compacted_bytes += live_before - s->mem.segs[index].live;
    if (moved >= 0) {
        s->st.mem_compacted_segments++;
    }
    return moved;
}

/*
 * vswap_log_compact_mem: move the live records of sealed memory segments
 * that are below the compaction threshold (every one with dead space if
 * @full) into the open segment, freeing them.  Returns segments freed.
 */
int vswap_log_compact_mem(VswapStore *s, bool full)
{
    int freed = 0;

    for (uint32_t i = 0; i < s->mem.nsegs; i++) {
        VswapSegment *seg = &s->mem.segs[i];

        if (seg->state != VSWAP_SEG_FULL || seg->packing ||
            !vswap_log_segment_sparse(s, seg, full)) {
            continue;
        }
        if (vswap_log_compact_mem_segment(s, i) < 0) {
            break;
        }
        /* The last move freed the segment. */
        freed += s->mem.segs[i].state == VSWAP_SEG_FREE;
    }
    return freed;
}

typedef struct VswapMemVictim {
    uint32_t live;
    uint32_t index;
} VswapMemVictim;

static int vswap_mem_victim_cmp(const void *a, const void *b)
{
    const VswapMemVictim *x = a, *y = b;

    return x->live < y->live ? -1 : x->live > y->live;
}

/*
 * vswap_log_compact_mem_sparse: the background pass (see
 * VSWAP_MEM_COMPACT_LOW): compact sealed memory segments with dead space,
 * sparsest first, until the memory log is dense again.  Sparsest first
 * frees the most memory per byte copied.
 */
void vswap_log_compact_mem_sparse(VswapStore *s)
{
    g_autofree VswapMemVictim *victims = NULL;
    uint32_t n = 0;

    if (!vswap_log_mem_sparse(s, VSWAP_MEM_COMPACT_LOW)) {
        s->mem_compact_wanted = false;
        return;
    }
    victims = g_new(VswapMemVictim, s->mem.nsegs);
    for (uint32_t i = 0; i < s->mem.nsegs; i++) {
        VswapSegment *seg = &s->mem.segs[i];

        if (seg->state == VSWAP_SEG_FULL && !seg->packing &&
            vswap_log_segment_sparse(s, seg, true)) {
            victims[n++] = (VswapMemVictim) { seg->live, i };
        }
    }
    qsort(victims, n, sizeof(*victims), vswap_mem_victim_cmp);
    for (uint32_t k = 0; k < n; k++) {
        if (!vswap_log_mem_sparse(s, VSWAP_MEM_COMPACT_HIGH)) {
            break;
        }
        /* Moving may seal and replace the open segment, never a victim. */
        if (vswap_log_compact_mem_segment(s, victims[k].index) < 0) {
            break;
        }
    }
    /* Set meanwhile, so that the moves' releases did not ask again. */
    s->mem_compact_wanted = false;
}
