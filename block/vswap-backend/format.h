/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * On-media format of the page store: superblock, segments and records.
 *
 * The same record format is used in memory segments and in the store file,
 * so that writeback and compaction move records as bytes, never
 * decompressing them.  All fields are little-endian.
 *
 *   file:     superblock (one block) | segment 0 | segment 1 | ...
 *             | segment n-1 | checkpoint (only after a clean close)
 *             (segment i at data_offset + i * segment_size; sparse)
 *   segment:  VswapSegmentHdr (64 bytes) | record | record | ...
 *   record:   VswapRecordHdr (16 bytes) | payload | pad to 8 bytes
 *
 * A record's CRC32C covers its header (with the crc field zero) and its
 * payload, so a record that is corrupt, torn, or read from the wrong place
 * (another slot's record) fails verification.
 *
 * A group record (VSWAP_PAYLOAD_ZSTD_GROUP, made by writeback: group.c)
 * holds 2 to VSWAP_GROUP_MAX_PAGES pages of the cold tier in one zstd
 * frame, which keeps 1.1 to 1.15 times what one frame per page keeps:
 *
 *   payload:  u8 n | u8 reserved[3] (zero) | le32 slot[n] | zstd frame of
 *             the n pages, in that order
 *
 * Its header's slot is slot[0], and its dict the dictionary of the frame
 * (0: none), as for VSWAP_PAYLOAD_ZSTD_DICT.  A record, header and
 * payload, is at most VSWAP_GROUP_REC_MAX bytes.  Group records are only
 * ever in disk segments; migration streams carry their pages one by one.
 *
 * Checkpoint (checkpoint.c): vswap_store_checkpoint(), and closing a store
 * opened with persist, write every memory record to disk segments and then
 * the slot map as a checkpoint, at the first segment boundary after the
 * segment table (data_offset + ckpt_segment * segment_size):
 *
 *   checkpoint: VswapCkptHdr, then VswapCkptDict[ndicts], padded to 4 KiB
 *               | VswapCkptEntry[nentries], in ascending slot order,
 *               padded to 4 KiB | the content of each dictionary, in
 *               table order, each padded to 4 KiB
 *
 * A checkpoint with dictionaries (a store with dict=auto) has version 2,
 * which older builds refuse; one without keeps version 1.
 *
 * Once the checkpoint is durable the superblock is rewritten with
 * VSWAP_SB_CLEAN and ckpt_segment; the flag is cleared (durably) before
 * the store changes again, and as soon as a store is reopened, so a store
 * that was not closed cleanly is always detected.  These fields used to be
 * zero ("flags: none", "reserved"), so the format version stays 1: older
 * builds ignore them and newer ones see older files as not closed cleanly.
 */
#ifndef VSWAP_FORMAT_H
#define VSWAP_FORMAT_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "codec.h"

#define VSWAP_FORMAT_VERSION 1
#define VSWAP_SB_MAGIC "VSWAPST1"
#define VSWAP_SEG_MAGIC UINT64_C(0x4745535041575356)   /* "VSWAPSEG" */
#define VSWAP_REC_MAGIC 0x5652                         /* "VR" */

#define VSWAP_SB_SIZE 4096
#define VSWAP_SEG_HDR_SIZE 64
#define VSWAP_REC_HDR_SIZE 16
#define VSWAP_REC_ALIGN 8
/* Largest record of one page: header plus a raw page. */
#define VSWAP_REC_MAX (VSWAP_REC_HDR_SIZE + VSWAP_STORE_PAGE_SIZE)
/* Group records (above): pages, and bytes of header and payload. */
#define VSWAP_GROUP_MAX_PAGES 4
#define VSWAP_GROUP_REC_MAX 16384
#define VSWAP_GROUP_PAYLOAD_MAX (VSWAP_GROUP_REC_MAX - VSWAP_REC_HDR_SIZE)

#define VSWAP_SEGMENT_MIN (64 * 1024)
#define VSWAP_SEGMENT_MAX (64 * 1024 * 1024)

/* A segment size the format allows: a power of 2 from 64 KiB to 64 MiB. */
static inline bool vswap_segment_size_ok(uint64_t size)
{
    return size >= VSWAP_SEGMENT_MIN && size <= VSWAP_SEGMENT_MAX &&
           !(size & (size - 1));
}

typedef struct VswapSuperblock {
    char magic[8];              /* VSWAP_SB_MAGIC */
    uint32_t version;           /* VSWAP_FORMAT_VERSION */
    uint32_t segment_size;
    uint64_t capacity;          /* slots */
    uint64_t data_offset;       /* file offset of segment 0 */
    uint64_t flags;             /* VSWAP_SB_* */
    /*
     * with VSWAP_SB_CLEAN: where the checkpoint starts, in segments from
     * data_offset; also the disk segment table's size
     */
    uint32_t ckpt_segment;
    uint32_t crc;               /* CRC32C of this struct with crc = 0 */
} VswapSuperblock;

/* Closed cleanly: a checkpoint of every stored slot follows the segments. */
#define VSWAP_SB_CLEAN (UINT64_C(1) << 0)

typedef struct VswapSegmentHdr {
    uint64_t magic;             /* VSWAP_SEG_MAGIC */
    uint32_t version;
    uint32_t segment_size;
    uint64_t seq;               /* write order: later segments win */
    uint32_t used;              /* bytes of header and records */
    uint32_t nrecords;
    uint32_t index;             /* segment number in the file */
    uint32_t crc;               /* CRC32C of this struct with crc = 0 */
    uint8_t reserved[24];
} VswapSegmentHdr;

typedef struct VswapRecordHdr {
    uint16_t magic;             /* VSWAP_REC_MAGIC */
    uint8_t kind;               /* VswapPayloadKind */
    uint8_t flags;              /* none defined */
    /*
     * payload bytes, 1 .. VSWAP_STORE_PAGE_SIZE; a group's up to
     * VSWAP_GROUP_PAYLOAD_MAX
     */
    uint16_t len;
    /*
     * VSWAP_PAYLOAD_ZSTD_DICT: the id of the store's dictionary (dict.h,
     * 1..VSWAP_DICT_ID_MAX) that the payload needs; ZSTD_GROUP: that id
     * or 0; otherwise 0 (this field was reserved, and zero, before
     * dictionaries)
     */
    uint16_t dict;
    uint32_t slot;
    uint32_t crc;               /* CRC32C of header (crc = 0) and payload */
} VswapRecordHdr;

#define VSWAP_CKPT_MAGIC UINT64_C(0x504b435041575356)  /* "VSWAPCKP" */
#define VSWAP_CKPT_HDR_SIZE 4096    /* header block; entries follow it */

typedef struct VswapCkptHdr {
    uint64_t magic;             /* VSWAP_CKPT_MAGIC */
    uint32_t version;           /* VSWAP_FORMAT_VERSION */
    uint32_t segment_size;      /* as in the superblock */
    uint64_t capacity;          /* as in the superblock */
    uint64_t seq;               /* highest segment sequence number */
    uint64_t nentries;          /* VswapCkptEntry that follow */
    uint32_t nsegs;             /* disk segment table size = ckpt_segment */
    uint32_t entries_crc;       /* CRC32C of the nentries entries */
    uint32_t flags;             /* none defined */
    uint32_t crc;               /* CRC32C of this struct with crc = 0 */
    /* version 2: VswapCkptDict entries after this header, 1 .. 16 */
    uint32_t ndicts;
    uint32_t dicts_crc;         /* CRC32C of that table and the contents */
} VswapCkptHdr;

/* The version of a checkpoint that holds dictionaries. */
#define VSWAP_CKPT_VERSION_DICTS 2
/*
 * The version of a checkpoint with VSWAP_CKPT_MEMBER entries (it may also
 * hold dictionaries): older builds refuse it rather than the entries.
 */
#define VSWAP_CKPT_VERSION_GROUPS 3
#define VSWAP_CKPT_MAX_DICTS 16

/* A dictionary of the store (dict.h); its content follows the entries. */
typedef struct VswapCkptDict {
    uint16_t id;                /* 1 .. VSWAP_DICT_ID_MAX */
    uint16_t len;               /* content bytes, at most 4096 */
    uint32_t crc;               /* CRC32C of the content */
    uint64_t reserved;
} VswapCkptDict;

enum {
    VSWAP_CKPT_FILL = 1,        /* same-filled page: value is the fill */
    /*
     * record in a disk segment: value is its address,
     * segment * segment_size + offset
     */
    VSWAP_CKPT_RECORD = 2,
    /*
     * version 3: a page of a group record in a disk segment: value is the
     * group's address, reserved the page's index in it, and len the
     * page's share of the record's bytes (1 .. 4096), which the segment
     * counts as live while the page is
     */
    VSWAP_CKPT_MEMBER = 3,
};

typedef struct VswapCkptEntry {
    uint32_t slot;
    uint8_t kind;               /* VSWAP_CKPT_* */
    uint8_t member;             /* MEMBER: index in the group; else 0 */
    uint16_t len;               /* RECORD: payload bytes, 1 .. 4096 */
    uint64_t value;
} VswapCkptEntry;

_Static_assert(sizeof(VswapSuperblock) <= VSWAP_SB_SIZE, "superblock size");
_Static_assert(sizeof(VswapCkptHdr) == 64, "checkpoint header");
_Static_assert(sizeof(VswapCkptEntry) == 16, "checkpoint entry");
_Static_assert(sizeof(VswapCkptDict) == 16, "checkpoint dictionary");
_Static_assert(sizeof(VswapSegmentHdr) == VSWAP_SEG_HDR_SIZE, "segment header");
_Static_assert(sizeof(VswapRecordHdr) == VSWAP_REC_HDR_SIZE, "record header");

/* Bytes a record with @len payload bytes occupies in a segment. */
static inline size_t vswap_rec_size(size_t len)
{
    return (VSWAP_REC_HDR_SIZE + len + VSWAP_REC_ALIGN - 1) &
           ~(size_t)(VSWAP_REC_ALIGN - 1);
}

/*
 * vswap_rec_encode: write the header of a record whose payload already
 * sits right after it at @rec, computing its checksum.  @dict is the
 * dictionary of a VSWAP_PAYLOAD_ZSTD_DICT payload, else 0.
 */
void vswap_rec_encode(void *rec, uint32_t slot, VswapPayloadKind kind,
                      uint16_t dict, size_t len);

/*
 * vswap_rec_verify: check a record at @rec (at least vswap_rec_size(@len)
 * readable bytes) against what the map says: slot @slot, payload @len.
 * Returns 0 and sets *@kind and *@dict (0 unless the kind needs one), or
 * -EBADMSG.
 */
int vswap_rec_verify(const void *rec, uint32_t slot, size_t len,
                     VswapPayloadKind *kind, uint16_t *dict);

/*
 * The dictionary id in the header at @rec, unverified: for lookups whose
 * result vswap_rec_verify() later checks.
 */
static inline uint16_t vswap_rec_dict(const void *rec)
{
    uint16_t dict;

    memcpy(&dict, (const uint8_t *)rec + offsetof(VswapRecordHdr, dict),
           sizeof(dict));
    return le16toh(dict);
}

/*
 * The kind in the header at @rec, unverified: to tell group records
 * (group.h) from single pages, which vswap_rec_verify() alone accepts.
 */
static inline VswapPayloadKind vswap_rec_kind(const void *rec)
{
    return ((const VswapRecordHdr *)rec)->kind;
}

/*
 * vswap_group_verify: check a group record at @rec, of which @avail bytes
 * were read, as holding @slot as member @member: header, checksum, member
 * count and slot list.  Returns 0 and points *@frame at the zstd frame of
 * *@frame_len bytes, with *@n its pages, or -EBADMSG.
 */
int vswap_group_verify(const void *rec, size_t avail, unsigned member,
                       uint32_t slot, const uint8_t **frame,
                       size_t *frame_len, unsigned *n);

/*
 * vswap_group_slots: the member slots of a group record whose header
 * vswap_rec_parse() accepted with payload @len, unverified.  Returns the
 * number of members, or -EBADMSG.
 */
int vswap_group_slots(const void *rec, size_t len,
                      uint32_t slots[VSWAP_GROUP_MAX_PAGES]);

/* Payload bytes of a group of @n pages before its frame. */
static inline size_t vswap_group_head_size(unsigned n)
{
    return 4 + 4 * (size_t)n;
}

/*
 * vswap_rec_parse: read the header of the record at @rec within @avail
 * bytes of a segment, without trusting it.  Returns the record's size in
 * the segment and sets *@slot and *@len, or -EBADMSG.
 */
int vswap_rec_parse(const void *rec, size_t avail, uint32_t *slot,
                    size_t *len);

void vswap_seg_hdr_encode(void *seg, uint64_t seq, uint32_t used,
                          uint32_t nrecords, uint32_t index,
                          uint32_t segment_size);
/* Returns 0, or -EBADMSG if @seg does not start with a valid header. */
int vswap_seg_hdr_verify(const void *seg, uint32_t index,
                         uint32_t segment_size, VswapSegmentHdr *out);

void vswap_sb_encode(VswapSuperblock *sb, uint32_t segment_size,
                     uint64_t capacity, uint64_t data_offset);
/* Returns 0, -EBADMSG for a corrupt one, -ENOTSUP for a newer version. */
int vswap_sb_verify(const VswapSuperblock *sb);
/* Set or clear VSWAP_SB_CLEAN and ckpt_segment of an encoded superblock. */
void vswap_sb_set_clean(VswapSuperblock *sb, bool clean,
                        uint32_t ckpt_segment);
/* CRC32C of a superblock or checkpoint header with its crc field zero. */
uint32_t vswap_sb_crc(const VswapSuperblock *sb);
uint32_t vswap_ckpt_hdr_crc(const VswapCkptHdr *hdr);

#endif /* VSWAP_FORMAT_H */
