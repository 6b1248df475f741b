/*
 * Group records of the page store's disk tier: several cold pages in one
 * zstd frame (format.h), made by writeback, read one page at a time.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Packing.  Writeback hands a sealed memory segment to a background
 * thread (vswap_pool_submit_long()) instead of moving its records as they
 * are: the owner first lists its live, unreferenced, compressed records in
 * log order, so pages that reached the store together, in runs of
 * cfg.disk_group; the thread decodes each run and compresses it as one
 * frame.  While it runs, the segment is "packing": nothing frees, compacts
 * or writes back the segment, whose records stay readable where they are
 * and may still be overwritten or discarded.  When the thread is done the
 * owner appends each group to the open disk segment and points the
 * members that are still what the thread read at it; a group with too
 * few such members is not used.  What is left in the segment then moves
 * as records of one page, as writeback always moved them.
 *
 * Accounting.  A member owns a share of its group's bytes
 * (vswap_group_share()); the segment's live bytes fall by that share when
 * the member is overwritten, like a record's.  Compaction copies a group
 * whose members all live and splits one that lost some into records of
 * one page (vswap_group_move()), so that dead shares never travel and a
 * segment it wrote is never sparse at once.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store-int.h"

/* A page the pack thread reads: a record of the victim segment. */
typedef struct VswapPackMember {
    uint32_t off;               /* within the segment */
    uint32_t slot;
    VswapDict *dict;            /* the record's dictionary (a reference) */
} VswapPackMember;

/* A run of members and, once packed, its group record in @out. */
typedef struct VswapPackGroup {
    uint32_t first;             /* index in members */
    uint32_t n;
    uint32_t out_off;
    uint32_t size;              /* record bytes; 0: not made */
} VswapPackGroup;

struct VswapPack {
    uint32_t victim;            /* memory segment */
    const uint8_t *seg;         /* its buffer, unchanged while packing */
    VswapPackMember *members;
    unsigned nmembers;
    VswapPackGroup *groups;
    unsigned ngroups;
    uint8_t *out;               /* group records, back to back */
    uint8_t *pages;             /* the pages of one run */
    uint8_t *alt;               /* a frame of one run, with the dictionary */
    int level;                  /* zstd level of the groups */
};

size_t vswap_group_share(size_t size, unsigned n, unsigned member)
{
    size_t share = size / n;

    return member ? share : size - share * (n - 1);
}

int vswap_group_read(VswapCodec *codec, const VswapDict *dict,
                     const uint8_t *rec, size_t avail, unsigned member,
                     uint32_t slot, void *page)
{
    const uint8_t *frame;
    size_t frame_len;
    unsigned n;

    /* The dictionary was looked up by the unverified header. */
    if (vswap_group_verify(rec, avail, member, slot, &frame, &frame_len,
                           &n) < 0 ||
        vswap_rec_dict(rec) != (dict ? vswap_dict_id(dict) : 0)) {
        return -EBADMSG;
    }

    return vswap_codec_decompress_member(codec, dict, frame, frame_len, n,
                                         member, page) < 0 ? -EBADMSG : 0;
}

/*
 * Context: the pack thread.  Decode the pages of @g into pack->pages;
 * false if a record fails its checks (it stays a record of one page, and
 * a read of it reports the error).
 */
static bool vswap_pack_decode(VswapPack *p, const VswapPackGroup *g,
                              VswapCodec *codec)
{
    for (unsigned i = 0; i < g->n; i++) {
        const VswapPackMember *m = &p->members[g->first + i];
        const uint8_t *rec = p->seg + m->off;
        const VswapRecordHdr *hdr = (const VswapRecordHdr *)rec;
        size_t len = le16toh(hdr->len);
        VswapPayloadKind kind;
        uint16_t dict;

        if (vswap_rec_verify(rec, m->slot, len, &kind, &dict) < 0 ||
            dict != (m->dict ? vswap_dict_id(m->dict) : 0) ||
            vswap_codec_decompress_dict(codec, m->dict, kind,
                                        rec + VSWAP_REC_HDR_SIZE, len,
                                        p->pages + i * VSWAP_STORE_PAGE_SIZE)
            < 0) {
            return false;
        }
    }
    return true;
}

/*
 * Context: the pack thread.  Build the group record of @g at @rec, if it
 * takes fewer bytes than its members' records and every member's share
 * fits an entry.  Returns its size, or 0.
 */
static size_t vswap_pack_build(VswapPack *p, const VswapPackGroup *g,
                               uint8_t *rec, const VswapDict *dict,
                               VswapCodec *codec)
{
    size_t head = vswap_group_head_size(g->n);
    uint8_t *payload = rec + VSWAP_REC_HDR_SIZE;
    size_t singles = 0, cap, frame, size;

    for (unsigned i = 0; i < g->n; i++) {
        const VswapRecordHdr *hdr =
            (const VswapRecordHdr *)(p->seg + p->members[g->first + i].off);

        singles += vswap_rec_size(le16toh(hdr->len));
    }
    /* Smaller than the singles by a padding unit at least. */
    cap = MIN(singles - VSWAP_REC_ALIGN, VSWAP_GROUP_REC_MAX) -
          VSWAP_REC_HDR_SIZE - head;
    frame = vswap_codec_compress_pages(codec, NULL, p->pages, g->n,
                                       payload + head, cap);
    /*
     * A dictionary trained on single pages helps some heaps' groups and
     * hurts others' (docs/benchmarks.md): the smaller frame wins.
     */
    if (dict) {
        size_t with = vswap_codec_compress_pages(codec, dict, p->pages, g->n,
                                                 p->alt, frame ? frame - 1 :
                                                 cap);

        if (with) {
            memcpy(payload + head, p->alt, with);
            frame = with;
        } else {
            dict = NULL;
        }
    }
    size = vswap_rec_size(head + frame);
    if (!frame || vswap_group_share(size, g->n, 0) > VSWAP_STORE_PAGE_SIZE) {
        return 0;
    }
    payload[0] = g->n;
    memset(payload + 1, 0, 3);
    for (unsigned i = 0; i < g->n; i++) {
        uint32_t le = htole32(p->members[g->first + i].slot);

        memcpy(payload + 4 + 4 * i, &le, sizeof(le));
    }
    vswap_rec_encode(rec, p->members[g->first].slot,
                     VSWAP_PAYLOAD_ZSTD_GROUP,
                     dict ? vswap_dict_id(dict) : 0, head + frame);
    return size;
}

/* Context: the pack thread. */
static void vswap_pack_run(VswapJob *j, VswapCodec *codec)
{
    VswapPageJob *job = (VswapPageJob *)j;
    VswapPack *p = job->pack;
    uint32_t out = 0;

    /* A codec of its own (vswap_pool_submit_long()): the level sticks. */
    vswap_codec_set_level(codec, p->level);
    for (unsigned k = 0; k < p->ngroups; k++) {
        VswapPackGroup *g = &p->groups[k];

        g->out_off = out;
        g->size = vswap_pack_decode(p, g, codec) ?
                  vswap_pack_build(p, g, p->out + out, job->dict, codec) : 0;
        out += g->size;
    }
    job->result = 0;
}

static void vswap_pack_free(VswapPack *p)
{
    for (unsigned i = 0; i < p->nmembers; i++) {
        if (p->members[i].dict) {
            vswap_dict_unref(p->members[i].dict);
        }
    }
    g_free(p->members);
    g_free(p->groups);
    g_free(p->out);
    g_free(p->pages);
    g_free(p->alt);
    g_free(p);
}

/* Is the record at @off of memory segment @victim what @slot holds? */
static bool vswap_pack_is_live(VswapStore *s, uint32_t victim, uint32_t off,
                               uint32_t slot, uint64_t *ent)
{
    uint64_t addr = ((uint64_t)victim << s->seg_shift) + off;

    *ent = slot < vswap_map_capacity(s->map) ? vswap_map_get(s->map, slot) : 0;
    return vswap_ent_state(*ent) == VSWAP_ENT_MEM &&
           vswap_ent_addr(*ent) == addr;
}

/* List the victim's records worth packing, in runs of cfg.disk_group. */
static VswapPack *vswap_pack_plan(VswapStore *s, uint32_t victim)
{
    VswapSegment *seg = &s->mem.segs[victim];
    VswapPack *p = g_new0(VswapPack, 1);
    uint32_t off = VSWAP_SEG_HDR_SIZE;
    unsigned group = s->cfg.disk_group;
    size_t out = 0;

    p->victim = victim;
    p->seg = seg->buf;
    p->level = s->cfg.disk_level ? s->cfg.disk_level :
               MAX(VSWAP_STORE_DISK_LEVEL, s->cfg.level);
    p->members = g_new(VswapPackMember, seg->nrecords);
    while (off < seg->used) {
        uint32_t slot;
        size_t len;
        int size = vswap_rec_parse(seg->buf + off, seg->used - off, &slot,
                                   &len);
        VswapPayloadKind kind;
        uint64_t ent;

        if (size < 0) {
            break;              /* leave the rest to the byte move */
        }
        kind = vswap_rec_kind(seg->buf + off);
        if (p->nmembers < seg->nrecords &&
            vswap_pack_is_live(s, victim, off, slot, &ent) &&
            !(ent & VSWAP_ENT_REF) &&
            (kind == VSWAP_PAYLOAD_ZSTD || kind == VSWAP_PAYLOAD_ZSTD_DICT)) {
            VswapDict *dict = vswap_dicts_get(s, vswap_rec_dict(seg->buf + off));

            p->members[p->nmembers++] = (VswapPackMember) {
                .off = off,
                .slot = slot,
                .dict = dict ? vswap_dict_ref(dict) : NULL,
            };
        }
        off += size;
    }
    p->groups = g_new(VswapPackGroup, p->nmembers / 2 + 1);
    for (unsigned i = 0; i + 1 < p->nmembers; i += group) {
        unsigned n = MIN(group, p->nmembers - i);

        if (n < 2) {
            break;
        }
        p->groups[p->ngroups++] = (VswapPackGroup) { .first = i, .n = n };
        out += VSWAP_GROUP_REC_MAX;
    }
    if (p->ngroups == 0) {
        vswap_pack_free(p);
        return NULL;
    }
    /* A group is smaller than its members' records: a segment's worth. */
    p->out = g_malloc(MIN(out, (size_t)1 << s->seg_shift));
    p->pages = g_malloc((size_t)group * VSWAP_STORE_PAGE_SIZE);
    p->alt = g_malloc(VSWAP_GROUP_PAYLOAD_MAX);
    return p;
}

bool vswap_group_pack_start(VswapStore *s, uint32_t victim)
{
    VswapPageJob *job;
    VswapPack *p;

    /*
     * On a full disk the byte move fails at once and asks compaction for
     * room; a pack would only find out once done, and start again.
     */
    if (s->cfg.disk_group < 2 || !vswap_log_can_open(&s->disk)) {
        return false;
    }
    p = vswap_pack_plan(s, victim);
    if (!p) {
        return false;
    }
    job = vswap_store_get_job(s);
    if (!job) {
        vswap_pack_free(p);
        return false;
    }
    job->type = VSWAP_JOB_PACK;
    job->req = NULL;
    job->op = NULL;
    job->pack = p;
    /* Groups take the dictionary new pages take: held until placed. */
    vswap_dicts_job_take(s, job, s->dict_cur);
    s->mem.segs[victim].packing = true;
    s->packs++;
    vswap_store_start_job(s, job, vswap_pack_run);
    return true;
}

/*
 * Append group record @rec of @size bytes with @n members to the disk log
 * and point the members whose entries are in @ents (0: dead) at it; a
 * dead member's share is dead space from the start.
 */
static int vswap_group_append(VswapStore *s, const uint8_t *rec, size_t size,
                              unsigned n, const uint32_t *slots,
                              const uint64_t *ents, bool reserve)
{
    VswapSegment *seg;
    uint64_t addr;
    int ret = vswap_log_append(s, &s->disk, rec, size, reserve, &addr);

    if (ret < 0) {
        return ret;
    }
    seg = vswap_log_segment(s, &s->disk, addr, NULL);
    for (unsigned i = 0; i < n; i++) {
        size_t share = vswap_group_share(size, n, i);

        if (ents[i]) {
            vswap_log_move_entry(s, slots[i],
                                 vswap_ent_member_record(addr, i, share));
        } else {
            seg->live -= share;
            s->disk.live_bytes -= share;
        }
    }
    return 0;
}

/*
 * Apply a pack: append each group whose members mostly are still what
 * the thread read, then move what is left of the victim.  Returns 0 or
 * -ENOSPC.
 */
static int vswap_pack_apply(VswapStore *s, VswapPack *p,
                            VswapLog *(*pick)(VswapStore *s, uint64_t *ent))
{
    VswapSegment *seg = &s->mem.segs[p->victim];

    for (unsigned k = 0; k < p->ngroups; k++) {
        const VswapPackGroup *g = &p->groups[k];
        uint32_t slots[VSWAP_GROUP_MAX_PAGES];
        uint64_t ents[VSWAP_GROUP_MAX_PAGES];
        unsigned live = 0;

        if (!g->size) {
            continue;
        }
        for (unsigned i = 0; i < g->n; i++) {
            const VswapPackMember *m = &p->members[g->first + i];

            slots[i] = m->slot;
            /* Read since the plan: it goes back to memory, alone. */
            if (!vswap_pack_is_live(s, p->victim, m->off, m->slot,
                                    &ents[i]) ||
                (ents[i] & VSWAP_ENT_REF)) {
                ents[i] = 0;
            }
            live += ents[i] != 0;
        }
        if (live < 2 || 2 * live < g->n) {
            continue;
        }
        if (vswap_group_append(s, p->out + g->out_off, g->size, g->n, slots,
                               ents, false) < 0) {
            return -ENOSPC;
        }
        s->st.disk_groups++;
        s->st.disk_group_pages += live;
    }
    return vswap_log_move_records(s, &s->mem, p->victim, seg->buf, seg->used,
                                  pick, false) < 0 ? -ENOSPC : 0;
}

void vswap_group_pack_done(VswapStore *s, VswapPageJob *job,
                           VswapLog *(*pick)(VswapStore *s, uint64_t *ent))
{
    VswapPack *p = job->pack;
    VswapSegment *seg = &s->mem.segs[p->victim];

    job->pack = NULL;
    s->packs--;
    seg->packing = false;
    if (vswap_pack_apply(s, p, pick) < 0) {
        s->compact_wanted = true;
    }
    /*
     * Only now: the job holds the groups' dictionary, which must not be
     * retired before the segments that name it hold them.
     */
    vswap_store_put_job(s, job);
    vswap_writeback_start_queued(s);
    seg = &s->mem.segs[p->victim];
    if (seg->state != VSWAP_SEG_FREE && seg->live == 0) {
        vswap_log_release_segment(s, &s->mem, p->victim);
    }
    vswap_pack_free(p);
}

/*
 * Split group @rec of @n members, of which those in @ents (0: dead) are
 * live, into records of one page on the disk log.  Returns 0, -ENOSPC, or
 * -EBADMSG (the group fails its checks: left where it is).
 */
static int vswap_group_split(VswapStore *s, const uint8_t *rec, size_t size,
                             unsigned n, const uint32_t *slots,
                             const uint64_t *ents)
{
    VswapCodec *codec = vswap_pool_owner_codec(s->pool);
    VswapDict *dict = vswap_dicts_get(s, vswap_rec_dict(rec));
    uint8_t page[VSWAP_STORE_PAGE_SIZE];
    uint8_t out[VSWAP_REC_MAX + VSWAP_REC_ALIGN];

    for (unsigned i = 0; i < n; i++) {
        VswapPayloadKind kind;
        uint64_t addr;
        size_t len;

        if (!ents[i]) {
            continue;
        }
        if (vswap_group_read(codec, dict, rec, size, i, slots[i], page) < 0) {
            return -EBADMSG;
        }
        len = vswap_codec_compress_dict(codec, dict, page,
                                        out + VSWAP_REC_HDR_SIZE, &kind);
        vswap_rec_encode(out, slots[i], kind,
                         kind == VSWAP_PAYLOAD_ZSTD_DICT ?
                         vswap_dict_id(dict) : 0, len);
        if (vswap_log_append(s, &s->disk, out, vswap_rec_size(len), true,
                             &addr) < 0) {
            return -ENOSPC;
        }
        vswap_log_move_entry(s, slots[i],
                             vswap_ent_record(VSWAP_ENT_DISK, addr, len));
    }
    return 0;
}

int vswap_group_move(VswapStore *s, uint32_t index, uint32_t off,
                     const uint8_t *rec, size_t size, size_t len)
{
    uint64_t addr = ((uint64_t)index << s->seg_shift) + off;
    uint32_t slots[VSWAP_GROUP_MAX_PAGES];
    uint64_t ents[VSWAP_GROUP_MAX_PAGES];
    int n = vswap_group_slots(rec, len, slots);
    unsigned live = 0;

    if (n < 0) {
        return 0;
    }
    for (int i = 0; i < n; i++) {
        ents[i] = slots[i] < vswap_map_capacity(s->map) ?
                  vswap_map_get(s->map, slots[i]) : 0;
        if (!vswap_ent_group(ents[i]) || vswap_ent_addr(ents[i]) != addr ||
            vswap_ent_member(ents[i]) != (unsigned)i) {
            ents[i] = 0;
        }
        live += ents[i] != 0;
    }
    if (live == 0) {
        return 0;
    }
    if (live == (unsigned)n) {
        return vswap_group_append(s, rec, size, n, slots, ents, true) < 0 ?
               -ENOSPC : 1;
    }
    switch (vswap_group_split(s, rec, size, n, slots, ents)) {
    case -ENOSPC:
        return -ENOSPC;
    case -EBADMSG:
        return 0;
    default:
        s->st.disk_group_splits++;
        return 1;
    }
}
