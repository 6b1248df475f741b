/*
 * Export, import and check of the page store: records leave and enter the
 * store as they are kept (compressed), for live migration, and every one
 * can be verified in place.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Export walks the slot map's dirty set: starting an export marks every
 * stored slot dirty, and any later write or discard marks its slot again,
 * so iterating until nothing is pending converges on the current state.
 * Tier moves (writeback, compaction) do not dirty a slot.  Disk records
 * are read through the I/O engine with vswap_store_io_sync(): export and
 * check run on the owner thread outside the event loop, and must not run
 * completion callbacks of requests, so the wait processes only the engine
 * (vswap_store_wait_io()).  The engine's own completions (writeback,
 * compaction reads, punches) may run meanwhile and move records; the
 * record being read is safe because its segment stays pinned.
 */

#include <errno.h>
#include <string.h>

#include "checksum.h"
#include "store-int.h"

/*
 * vswap_store_pread_record: read the disk record of @ent into @buf
 * (VSWAP_JOB_BUF_SIZE bytes, 4096-aligned) and point *@rec at it.  Its
 * segment is pinned meanwhile, so that compaction cannot free and punch
 * it under the read.  Returns 0 or -EIO.
 */
int vswap_store_pread_record(VswapStore *s, uint64_t ent, uint8_t *buf,
                             const uint8_t **rec)
{
    size_t skip, len;
    uint64_t start;
    uint32_t index;
    int ret;

    skip = vswap_store_record_span(s, ent, &start, &len);
    vswap_log_segment(s, &s->disk, vswap_ent_addr(ent), &index)->pins++;
    ret = vswap_store_io(s, VSWAP_IO_READ, buf, len, start);
    vswap_log_unpin(s, index);
    if (ret < 0) {
        return -EIO;
    }
    *rec = buf + skip;
    return 0;
}

/* Find the record of a stored entry, in memory or read from disk. */
static int vswap_export_record(VswapStore *s, uint64_t ent, uint8_t *buf,
                               const uint8_t **rec)
{
    *rec = vswap_log_record_ptr(s, ent);
    if (*rec) {
        return 0;
    }
    return vswap_store_pread_record(s, ent, buf, rec);
}

void vswap_store_export_start(VswapStore *s)
{
    vswap_map_track_dirty(s->map, true);
    s->export_cursor = 0;
    /* Every dictionary goes (again), before any record that needs it. */
    s->dict_exported = 0;
}

void vswap_store_export_stop(VswapStore *s)
{
    vswap_map_track_dirty(s->map, false);
}

uint64_t vswap_store_export_pending(VswapStore *s)
{
    return vswap_map_tracking_dirty(s->map) ? vswap_map_dirty_count(s->map) : 0;
}

/*
 * Read group member @ent of @slot (in memory or from disk, into @buf) and
 * decode its page into @page with the dictionary its group names; *@rec
 * is the group record.  Returns 0, or -EIO if it cannot be read or fails
 * its checks.
 */
static int vswap_export_member_page(VswapStore *s, uint64_t slot,
                                    uint64_t ent, uint8_t *buf,
                                    const uint8_t **rec, void *page)
{
    if (vswap_export_record(s, ent, buf, rec) < 0 ||
        vswap_group_read(vswap_pool_owner_codec(s->pool),
                         vswap_dicts_get(s, vswap_rec_dict(*rec)), *rec,
                         vswap_store_record_bytes(s, ent),
                         vswap_ent_member(ent), slot, page) < 0) {
        return -EIO;
    }
    return 0;
}

/*
 * A page of a group record travels alone, as a record of one page: a
 * destination keeps what it receives in memory first, and older ones know
 * no groups.  Decoding it and compressing it again costs the export some
 * 15 us a page; the stream stays as it always was.
 */
static int vswap_export_member(VswapStore *s, uint64_t slot, uint64_t ent,
                               VswapRecordInfo *info, void *payload)
{
    g_autofree uint8_t *buf = vswap_io_buf_new(VSWAP_JOB_BUF_SIZE);
    g_autofree uint8_t *page = g_malloc(VSWAP_STORE_PAGE_SIZE);
    VswapCodec *codec = vswap_pool_owner_codec(s->pool);
    VswapPayloadKind kind;
    const uint8_t *rec;

    if (vswap_export_member_page(s, slot, ent, buf, &rec, page) < 0) {
        s->st.checksum_errors++;
        return -EIO;
    }
    info->len = vswap_codec_compress(codec, page, payload, &kind);
    info->kind = kind == VSWAP_PAYLOAD_RAW ? VSWAP_RECORD_RAW :
                 VSWAP_RECORD_ZSTD;
    info->crc = vswap_crc32c(0, payload, info->len);
    return 1;
}

int vswap_store_export_next(VswapStore *s, VswapRecordInfo *info,
                            void *payload)
{
    uint64_t slot = s->export_cursor, ent;
    g_autofree uint8_t *buf = NULL;
    VswapPayloadKind kind;
    const uint8_t *rec;
    uint16_t dict;
    size_t len;

    if (!vswap_map_tracking_dirty(s->map)) {
        return 0;
    }
    /*
     * Dictionaries first, those trained since the last call included:
     * records and references (whose records the destination reads from
     * the shared file) may need them.
     */
    if (vswap_dicts_export_next(s, info, payload)) {
        return 1;
    }
    if (!vswap_map_next_dirty(s->map, &slot)) {
        slot = 0;
        if (!vswap_map_next_dirty(s->map, &slot)) {
            return 0;
        }
    }
    s->export_cursor = slot + 1;
    memset(info, 0, sizeof(*info));
    info->slot = slot;
    ent = vswap_map_get(s->map, slot);
    switch (vswap_ent_state(ent)) {
    case VSWAP_ENT_EMPTY:
        info->kind = VSWAP_RECORD_EMPTY;
        return 1;
    case VSWAP_ENT_FILL:
        info->kind = VSWAP_RECORD_FILL;
        info->fill = (uint32_t)ent;
        return 1;
    }
    len = vswap_ent_len(ent);
    if (s->cfg.shared && vswap_ent_state(ent) == VSWAP_ENT_DISK &&
        !vswap_log_record_ptr(s, ent)) {
        /* Shared storage: the destination reads it from the same file. */
        info->kind = vswap_ent_group(ent) ? VSWAP_RECORD_MEMBER_REF :
                                            VSWAP_RECORD_REF;
        info->addr = vswap_ent_addr(ent);
        info->len = len;
        info->member = vswap_ent_group(ent) ? vswap_ent_member(ent) : 0;
        return 1;
    }
    if (vswap_ent_group(ent)) {
        return vswap_export_member(s, slot, ent, info, payload);
    }
    buf = vswap_io_buf_new(VSWAP_JOB_BUF_SIZE);
    if (vswap_export_record(s, ent, buf, &rec) < 0 ||
        vswap_rec_verify(rec, slot, len, &kind, &dict) < 0) {
        s->st.checksum_errors++;
        return -EIO;
    }
    memcpy(payload, rec + VSWAP_REC_HDR_SIZE, len);
    info->kind = kind == VSWAP_PAYLOAD_RAW ? VSWAP_RECORD_RAW :
                 kind == VSWAP_PAYLOAD_ZSTD ? VSWAP_RECORD_ZSTD :
                 VSWAP_RECORD_ZSTD_DICT;
    info->dict = dict;
    info->len = len;
    info->crc = vswap_crc32c(0, payload, len);
    return 1;
}

static bool vswap_import_writing(void *opaque)
{
    VswapStore *s = opaque;

    return s->wb_inflight > 0;
}

/*
 * Place an imported record, waiting for writeback when memory is full.
 * The wait runs engine completions only, like export's reads.  The
 * writeback is the caller's, so it runs even while the store is quiesced
 * (loadvm drains every node, then loads the store).
 */
static int vswap_import_place(VswapStore *s, const uint8_t *rec, size_t len,
                              uint64_t *addr)
{
    int ret = vswap_log_append(s, &s->mem, rec, vswap_rec_size(len), false,
                               addr);

    s->owner_calls++;
    while (ret == -ENOSPC && vswap_store_has_disk(s) && !s->disk_unwritten) {
        bool writing;

        vswap_writeback_kick(s, true);
        /* Without writes in flight, the kick may still have freed memory. */
        writing = s->wb_inflight > 0;
        vswap_store_wait_io(s, vswap_import_writing, s);
        ret = vswap_log_append(s, &s->mem, rec, vswap_rec_size(len), false,
                               addr);
        if (!writing) {
            break;
        }
    }
    s->owner_calls--;
    return ret;
}

int vswap_store_import(VswapStore *s, const VswapRecordInfo *info,
                       const void *payload)
{
    g_autofree uint8_t *page = NULL;
    uint8_t rec[VSWAP_REC_MAX + VSWAP_REC_ALIGN];
    VswapDict *dict = NULL;
    VswapPayloadKind kind;
    uint64_t addr;
    int ret;

    if (info->kind == VSWAP_RECORD_DICT) {
        return vswap_dicts_import(s, info, payload);
    }
    if (info->slot >= s->cfg.capacity) {
        return -EINVAL;
    }
    if (vswap_ckpt_mark_dirty(s) < 0) {
        return -EIO;
    }
    switch (info->kind) {
    case VSWAP_RECORD_EMPTY:
        g_hash_table_remove(s->inflight_writes, GUINT_TO_POINTER(info->slot));
        if (vswap_map_get(s->map, info->slot)) {
            vswap_log_set(s, info->slot, 0);
        }
        return 0;
    case VSWAP_RECORD_FILL:
        g_hash_table_remove(s->inflight_writes, GUINT_TO_POINTER(info->slot));
        vswap_log_set(s, info->slot, vswap_ent_fill(info->fill));
        return 0;
    case VSWAP_RECORD_REF:
    case VSWAP_RECORD_MEMBER_REF:
        return vswap_shared_import_ref(s, info);
    case VSWAP_RECORD_RAW:
        kind = VSWAP_PAYLOAD_RAW;
        if (info->len != VSWAP_STORE_PAGE_SIZE) {
            return -EINVAL;
        }
        break;
    case VSWAP_RECORD_ZSTD:
    case VSWAP_RECORD_ZSTD_DICT:
        kind = info->kind == VSWAP_RECORD_ZSTD ? VSWAP_PAYLOAD_ZSTD :
                                                 VSWAP_PAYLOAD_ZSTD_DICT;
        if (info->len == 0 || info->len >= VSWAP_STORE_PAGE_SIZE) {
            return -EINVAL;
        }
        /* The stream sent the dictionary before its first record. */
        if (kind == VSWAP_PAYLOAD_ZSTD_DICT) {
            dict = info->dict <= VSWAP_DICT_ID_MAX ?
                   vswap_dicts_get(s, info->dict) : NULL;
            if (!dict) {
                return -EINVAL;
            }
        }
        break;
    default:
        return -EINVAL;
    }
    if (!payload || vswap_crc32c(0, payload, info->len) != info->crc) {
        return -EINVAL;
    }
    page = g_malloc(VSWAP_STORE_PAGE_SIZE);
    if (vswap_codec_decompress_dict(vswap_pool_owner_codec(s->pool), dict,
                                    kind, payload, info->len, page) < 0) {
        return -EINVAL;
    }
    memcpy(rec + VSWAP_REC_HDR_SIZE, payload, info->len);
    vswap_rec_encode(rec, info->slot, kind, dict ? info->dict : 0, info->len);
    ret = vswap_import_place(s, rec, info->len, &addr);
    if (ret < 0) {
        return ret;
    }
    g_hash_table_remove(s->inflight_writes, GUINT_TO_POINTER(info->slot));
    vswap_log_set(s, info->slot,
                  vswap_ent_record(VSWAP_ENT_MEM, addr, info->len));
    vswap_store_notify(s);
    return 0;
}

/* Recount live bytes per segment from the map; false on any mismatch. */
static bool vswap_check_accounting(VswapStore *s)
{
    g_autofree uint64_t *mem_live = g_new0(uint64_t, s->mem.nsegs + 1);
    g_autofree uint64_t *disk_live = g_new0(uint64_t, s->disk.nsegs + 1);
    uint64_t slot = 0, ent, pages[4] = { 0 };

    while (vswap_map_next(s->map, &slot, &ent)) {
        unsigned state = vswap_ent_state(ent);

        pages[state]++;
        if (state == VSWAP_ENT_MEM || state == VSWAP_ENT_DISK) {
            uint64_t *live = state == VSWAP_ENT_MEM ? mem_live : disk_live;

            live[vswap_ent_addr(ent) >> s->seg_shift] += vswap_ent_bytes(ent);
        }
        slot++;
    }
    for (uint32_t i = 0; i < s->mem.nsegs; i++) {
        if (mem_live[i] != s->mem.segs[i].live) {
            return false;
        }
    }
    for (uint32_t i = 0; i < s->disk.nsegs; i++) {
        if (disk_live[i] != s->disk.segs[i].live) {
            return false;
        }
    }
    return pages[VSWAP_ENT_FILL] == s->st.pages_fill &&
           pages[VSWAP_ENT_MEM] == s->mem.pages &&
           pages[VSWAP_ENT_DISK] == s->disk.pages && vswap_dicts_check(s);
}

/* Does the segment of @ent count dictionary @dict, which it names? */
static bool vswap_check_dict_counted(VswapStore *s, uint64_t ent,
                                     uint16_t dict)
{
    VswapSegment *seg = vswap_log_segment(s, vswap_log_of(s, ent),
                                          vswap_ent_addr(ent), NULL);

    /* Migration references are outside the accounting until activation. */
    return dict == 0 || (vswap_ent_state(ent) == VSWAP_ENT_DISK &&
                         s->incoming_refs) ||
           (seg->dicts & (1u << (dict - 1) % VSWAP_STORE_MAX_DICTS));
}

int vswap_store_check(VswapStore *s, VswapCheckReport *rep)
{
    g_autofree uint8_t *buf = vswap_io_buf_new(VSWAP_JOB_BUF_SIZE);
    g_autofree uint8_t *page = g_malloc(VSWAP_STORE_PAGE_SIZE);
    VswapCodec *codec = vswap_pool_owner_codec(s->pool);
    uint64_t slot = 0, ent;
    bool counted = true;

    vswap_store_drain(s);
    memset(rep, 0, sizeof(*rep));
    while (vswap_map_next(s->map, &slot, &ent)) {
        unsigned state = vswap_ent_state(ent);
        VswapPayloadKind kind;
        const uint8_t *rec;
        uint16_t dict;

        if (vswap_ent_group(ent)) {
            rep->pages++;
            if (vswap_export_member_page(s, slot, ent, buf, &rec, page) < 0) {
                if (rep->bad++ == 0) {
                    rep->first_bad_slot = slot;
                }
            } else {
                counted &= vswap_check_dict_counted(s, ent,
                                                    vswap_rec_dict(rec));
            }
        } else if (state == VSWAP_ENT_MEM || state == VSWAP_ENT_DISK) {
            size_t len = vswap_ent_len(ent);

            rep->pages++;
            if (vswap_export_record(s, ent, buf, &rec) < 0 ||
                vswap_rec_verify(rec, slot, len, &kind, &dict) < 0 ||
                /* A dictionary the store lacks is NULL: -EBADMSG. */
                vswap_codec_decompress_dict(codec, vswap_dicts_get(s, dict),
                                            kind, rec + VSWAP_REC_HDR_SIZE,
                                            len, page) < 0) {
                if (rep->bad++ == 0) {
                    rep->first_bad_slot = slot;
                }
            } else {
                counted &= vswap_check_dict_counted(s, ent, dict);
            }
        }
        slot++;
    }
    if (!counted || !vswap_check_accounting(s)) {
        return -EUCLEAN;
    }
    return rep->bad ? -EIO : 0;
}
