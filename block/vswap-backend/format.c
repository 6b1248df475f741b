/*
 * On-media format of the page store: encoding and verification of the
 * superblock, segment headers and records (layout in format.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "checksum.h"
#include "format.h"

static uint32_t vswap_rec_crc(const VswapRecordHdr *hdr, const void *payload,
                              size_t len)
{
    VswapRecordHdr tmp = *hdr;

    tmp.crc = 0;
    return vswap_crc32c(vswap_crc32c(0, &tmp, sizeof(tmp)), payload, len);
}

void vswap_rec_encode(void *rec, uint32_t slot, VswapPayloadKind kind,
                      uint16_t dict, size_t len)
{
    VswapRecordHdr hdr = {
        .magic = htole16(VSWAP_REC_MAGIC),
        .kind = kind,
        .len = htole16(len),
        .dict = htole16(dict),
        .slot = htole32(slot),
    };
    uint8_t *end = (uint8_t *)rec + VSWAP_REC_HDR_SIZE + len;

    /* Zero the alignment padding so that segments are deterministic. */
    memset(end, 0, vswap_rec_size(len) - VSWAP_REC_HDR_SIZE - len);
    hdr.crc = htole32(vswap_rec_crc(&hdr, end - len, len));
    memcpy(rec, &hdr, sizeof(hdr));
}

/*
 * A kind and dictionary id that go together, and a length that fits (the
 * id's byte order does not matter: only zero or not is checked).
 */
static bool vswap_rec_kind_valid(const VswapRecordHdr *hdr, size_t len)
{
    switch (hdr->kind) {
    case VSWAP_PAYLOAD_RAW:
        return len == VSWAP_STORE_PAGE_SIZE && hdr->dict == 0;
    case VSWAP_PAYLOAD_ZSTD:
        return hdr->dict == 0;
    case VSWAP_PAYLOAD_ZSTD_DICT:
        return hdr->dict != 0;
    case VSWAP_PAYLOAD_ZSTD_GROUP:
        return len > vswap_group_head_size(2) &&
               len <= VSWAP_GROUP_PAYLOAD_MAX;
    default:
        return false;
    }
}

int vswap_rec_parse(const void *rec, size_t avail, uint32_t *slot,
                    size_t *len)
{
    VswapRecordHdr hdr;
    size_t plen;

    if (avail < VSWAP_REC_HDR_SIZE) {
        return -EBADMSG;
    }
    memcpy(&hdr, rec, sizeof(hdr));
    plen = le16toh(hdr.len);
    if (le16toh(hdr.magic) != VSWAP_REC_MAGIC || plen == 0 ||
        (plen > VSWAP_STORE_PAGE_SIZE &&
         hdr.kind != VSWAP_PAYLOAD_ZSTD_GROUP) ||
        vswap_rec_size(plen) > avail ||
        !vswap_rec_kind_valid(&hdr, plen)) {
        return -EBADMSG;
    }
    *slot = le32toh(hdr.slot);
    *len = plen;
    return vswap_rec_size(plen);
}

int vswap_rec_verify(const void *rec, uint32_t slot, size_t len,
                     VswapPayloadKind *kind, uint16_t *dict)
{
    VswapRecordHdr hdr;

    memcpy(&hdr, rec, sizeof(hdr));
    /* A map entry of one page never points at a group (group.h). */
    if (le16toh(hdr.magic) != VSWAP_REC_MAGIC || le32toh(hdr.slot) != slot ||
        le16toh(hdr.len) != len || len > VSWAP_STORE_PAGE_SIZE ||
        hdr.kind == VSWAP_PAYLOAD_ZSTD_GROUP ||
        !vswap_rec_kind_valid(&hdr, len) ||
        le32toh(hdr.crc) != vswap_rec_crc(&hdr,
                                          (const uint8_t *)rec + sizeof(hdr),
                                          len)) {
        return -EBADMSG;
    }
    *kind = hdr.kind;
    *dict = le16toh(hdr.dict);
    return 0;
}

int vswap_group_slots(const void *rec, size_t len,
                      uint32_t slots[VSWAP_GROUP_MAX_PAGES])
{
    const uint8_t *p = (const uint8_t *)rec + VSWAP_REC_HDR_SIZE;
    unsigned n = p[0];

    if (vswap_rec_kind(rec) != VSWAP_PAYLOAD_ZSTD_GROUP || n < 2 ||
        n > VSWAP_GROUP_MAX_PAGES || p[1] || p[2] || p[3] ||
        len <= vswap_group_head_size(n)) {
        return -EBADMSG;
    }
    for (unsigned i = 0; i < n; i++) {
        uint32_t le;

        memcpy(&le, p + 4 + 4 * i, sizeof(le));
        slots[i] = le32toh(le);
    }
    return n;
}

int vswap_group_verify(const void *rec, size_t avail, unsigned member,
                       uint32_t slot, const uint8_t **frame,
                       size_t *frame_len, unsigned *n)
{
    uint32_t slots[VSWAP_GROUP_MAX_PAGES];
    const uint8_t *payload = (const uint8_t *)rec + VSWAP_REC_HDR_SIZE;
    VswapRecordHdr hdr;
    size_t len;
    int count;
    uint32_t record_slot;

    if (vswap_rec_parse(rec, avail, &record_slot, &len) < 0) {
        return -EBADMSG;
    }
    memcpy(&hdr, rec, sizeof(hdr));
    count = vswap_group_slots(rec, len, slots);
    if (count < 0 || member >= (unsigned)count || slots[member] != slot ||
        slots[0] != record_slot ||
        le32toh(hdr.crc) != vswap_rec_crc(&hdr, payload, len)) {
        return -EBADMSG;
    }
    *frame = payload + vswap_group_head_size(count);
    *frame_len = len - vswap_group_head_size(count);
    *n = count;
    return 0;
}

static uint32_t vswap_seg_hdr_crc(const VswapSegmentHdr *hdr)
{
    VswapSegmentHdr tmp = *hdr;

    tmp.crc = 0;
    return vswap_crc32c(0, &tmp, sizeof(tmp));
}

void vswap_seg_hdr_encode(void *seg, uint64_t seq, uint32_t used,
                          uint32_t nrecords, uint32_t index,
                          uint32_t segment_size)
{
    VswapSegmentHdr hdr = {
        .magic = htole64(VSWAP_SEG_MAGIC),
        .version = htole32(VSWAP_FORMAT_VERSION),
        .segment_size = htole32(segment_size),
        .seq = htole64(seq),
        .used = htole32(used),
        .nrecords = htole32(nrecords),
        .index = htole32(index),
    };

    hdr.crc = htole32(vswap_seg_hdr_crc(&hdr));
    memcpy(seg, &hdr, sizeof(hdr));
}

int vswap_seg_hdr_verify(const void *seg, uint32_t index,
                         uint32_t segment_size, VswapSegmentHdr *out)
{
    VswapSegmentHdr hdr;

    memcpy(&hdr, seg, sizeof(hdr));
    if (le64toh(hdr.magic) != VSWAP_SEG_MAGIC ||
        le32toh(hdr.version) != VSWAP_FORMAT_VERSION ||
        le32toh(hdr.segment_size) != segment_size ||
        le32toh(hdr.index) != index ||
        le32toh(hdr.used) < VSWAP_SEG_HDR_SIZE ||
        le32toh(hdr.used) > segment_size ||
        le32toh(hdr.crc) != vswap_seg_hdr_crc(&hdr)) {
        return -EBADMSG;
    }
    out->magic = VSWAP_SEG_MAGIC;
    out->version = VSWAP_FORMAT_VERSION;
    out->segment_size = segment_size;
    out->seq = le64toh(hdr.seq);
    out->used = le32toh(hdr.used);
    out->nrecords = le32toh(hdr.nrecords);
    out->index = index;
    out->crc = le32toh(hdr.crc);
    return 0;
}

uint32_t vswap_sb_crc(const VswapSuperblock *sb)
{
    VswapSuperblock tmp = *sb;

    tmp.crc = 0;
    return vswap_crc32c(0, &tmp, sizeof(tmp));
}

void vswap_sb_set_clean(VswapSuperblock *sb, bool clean,
                        uint32_t ckpt_segment)
{
    uint64_t flags = le64toh(sb->flags) & ~VSWAP_SB_CLEAN;

    sb->flags = htole64(clean ? flags | VSWAP_SB_CLEAN : flags);
    sb->ckpt_segment = htole32(clean ? ckpt_segment : 0);
    sb->crc = htole32(vswap_sb_crc(sb));
}

uint32_t vswap_ckpt_hdr_crc(const VswapCkptHdr *hdr)
{
    VswapCkptHdr tmp = *hdr;

    tmp.crc = 0;
    return vswap_crc32c(0, &tmp, sizeof(tmp));
}

void vswap_sb_encode(VswapSuperblock *sb, uint32_t segment_size,
                     uint64_t capacity, uint64_t data_offset)
{
    memset(sb, 0, sizeof(*sb));
    memcpy(sb->magic, VSWAP_SB_MAGIC, sizeof(sb->magic));
    sb->version = htole32(VSWAP_FORMAT_VERSION);
    sb->segment_size = htole32(segment_size);
    sb->capacity = htole64(capacity);
    sb->data_offset = htole64(data_offset);
    sb->crc = htole32(vswap_sb_crc(sb));
}

int vswap_sb_verify(const VswapSuperblock *sb)
{
    uint32_t seg = le32toh(sb->segment_size);

    if (memcmp(sb->magic, VSWAP_SB_MAGIC, sizeof(sb->magic)) != 0 ||
        le32toh(sb->crc) != vswap_sb_crc(sb)) {
        return -EBADMSG;
    }
    if (le32toh(sb->version) != VSWAP_FORMAT_VERSION) {
        return -ENOTSUP;
    }
    if (!vswap_segment_size_ok(seg) ||
        le64toh(sb->data_offset) < VSWAP_SB_SIZE) {
        return -EBADMSG;
    }
    return 0;
}
