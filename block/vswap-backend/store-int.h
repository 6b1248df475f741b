/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internals of the page store shared by its source files.
 *
 * Map entries (56 bits, see slotmap.h):
 *
 *   55..54  state: EMPTY (0), FILL, MEM, DISK
 *   FILL:   31..0 the repeated 32-bit value
 *   MEM/DISK:
 *   53      referenced since writeback last looked (clock bit)
 *   52..41  payload length - 1; for a member of a group, its share of the
 *           group record's bytes - 1
 *   40      DISK: the page is a member of a group record (format.h)
 *   39..38  its index in the group
 *   37..0   address of the record / 8 within its log (mem or disk):
 *           segment index * segment_size + offset; 2 TiB per log
 *
 * A group record's bytes are shared out between its members (the first
 * takes what does not divide), so that a segment's live bytes fall as its
 * members die one by one, as they do for records of one page.
 *
 * Both logs are tables of segments of segment_size bytes holding records in
 * the format of format.h.  A memory segment always has a buffer; a disk
 * segment has one while it is being filled or written, or after its write
 * failed, and reads are then served from that buffer.
 */
#ifndef VSWAP_STORE_INT_H
#define VSWAP_STORE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "vswap/store.h"
#include "codec.h"
#include "dict.h"
#include "format.h"
#include "vswap/io-engine.h"
#include "slotmap.h"
#include "workers.h"

/* --- map entries --- */

enum {
    VSWAP_ENT_EMPTY = 0,
    VSWAP_ENT_FILL = 1,
    VSWAP_ENT_MEM = 2,
    VSWAP_ENT_DISK = 3,
};

#define VSWAP_ENT_STATE_SHIFT 54
#define VSWAP_ENT_REF (UINT64_C(1) << 53)
#define VSWAP_ENT_LEN_SHIFT 41
#define VSWAP_ENT_GROUP (UINT64_C(1) << 40)
#define VSWAP_ENT_MEMBER_SHIFT 38
#define VSWAP_ENT_ADDR_MASK ((UINT64_C(1) << 38) - 1)
/* Bytes of a log that map entries can address. */
#define VSWAP_LOG_MAX_BYTES ((VSWAP_ENT_ADDR_MASK + 1) << 3)

static inline unsigned vswap_ent_state(uint64_t ent)
{
    return ent >> VSWAP_ENT_STATE_SHIFT;
}

static inline uint64_t vswap_ent_fill(uint32_t fill)
{
    return ((uint64_t)VSWAP_ENT_FILL << VSWAP_ENT_STATE_SHIFT) | fill;
}

static inline uint64_t vswap_ent_record(unsigned state, uint64_t addr,
                                        size_t len)
{
    return ((uint64_t)state << VSWAP_ENT_STATE_SHIFT) |
           ((uint64_t)(len - 1) << VSWAP_ENT_LEN_SHIFT) | (addr >> 3);
}

/* A disk entry of member @member of the group at @addr, with @share bytes. */
static inline uint64_t vswap_ent_member_record(uint64_t addr, unsigned member,
                                               size_t share)
{
    return vswap_ent_record(VSWAP_ENT_DISK, addr, share) | VSWAP_ENT_GROUP |
           ((uint64_t)member << VSWAP_ENT_MEMBER_SHIFT);
}

static inline uint64_t vswap_ent_addr(uint64_t ent)
{
    return (ent & VSWAP_ENT_ADDR_MASK) << 3;
}

/* Payload bytes; for a group member, its share of the record. */
static inline size_t vswap_ent_len(uint64_t ent)
{
    return ((ent >> VSWAP_ENT_LEN_SHIFT) & 0xfff) + 1;
}

static inline bool vswap_ent_group(uint64_t ent)
{
    return vswap_ent_state(ent) == VSWAP_ENT_DISK && (ent & VSWAP_ENT_GROUP);
}

static inline unsigned vswap_ent_member(uint64_t ent)
{
    return (ent >> VSWAP_ENT_MEMBER_SHIFT) & 3;
}

/* Bytes of its segment that the entry keeps live. */
static inline size_t vswap_ent_bytes(uint64_t ent)
{
    return vswap_ent_group(ent) ? vswap_ent_len(ent) :
           vswap_rec_size(vswap_ent_len(ent));
}

/* --- segments --- */

typedef enum VswapSegState {
    VSWAP_SEG_FREE = 0,
    VSWAP_SEG_OPEN,             /* records are appended; buffer */
    /*
     * sealed, buffer; disk: queued for its write (VswapStore.wb_queue)
     */
    VSWAP_SEG_FULL,
    VSWAP_SEG_WRITING,          /* disk: write in flight, buffer */
    VSWAP_SEG_UNWRITTEN,        /* disk: write failed, buffer kept */
    VSWAP_SEG_ONDISK,           /* disk: written, no buffer */
} VswapSegState;

typedef struct VswapSegment {
    uint8_t *buf;               /* segment_size bytes, or NULL */
    uint64_t seq;               /* creation order: FIFO writeback */
    uint32_t used;              /* bytes of header and records */
    uint32_t live;              /* bytes of records the map points to */
    uint32_t nrecords;
    uint32_t pins;              /* disk reads in flight */
    uint8_t state;              /* VswapSegState */
    bool compacting;            /* disk: being read by compaction */
    /* memory: a pack thread reads it (group.c); not freed meanwhile */
    bool packing;
    bool release_on_unpin;      /* disk: free once pins drop to 0 */
    bool compact_failed;        /* disk: unreadable, compaction skips it */
    /*
     * disk: its last write failed, and it has not been written since (retries
     * in flight included); see disk_failed
     */
    bool write_failed;
    /*
     * table entries (bit (id - 1) % VSWAP_STORE_MAX_DICTS) of the
     * dictionaries its records, live or dead, name (dicts.c)
     */
    uint16_t dicts;
} VswapSegment;

/*
 * A segment write or hole punch in flight.  Allocated apart from the
 * segment table, which may be reallocated while the I/O runs.
 */
typedef struct VswapSegIo {
    VswapIoReq io;
    struct VswapStore *s;
    uint32_t index;
} VswapSegIo;

typedef struct VswapLog {
    VswapSegment *segs;
    uint32_t nsegs;             /* table entries */
    uint32_t max_segs;          /* limit of the table (disk: file size) */
    GArray *free;               /* uint32_t indices of free entries */
    int64_t open;               /* index of the open segment, or -1 */
    uint64_t live_bytes;        /* sum of live */
    uint64_t used_bytes;        /* sum of used over non-free segments */
    uint32_t nbufs;             /* segments holding a buffer */
    uint64_t pages;             /* map entries pointing into this log */
    bool is_disk;
} VswapLog;

/* --- requests and page jobs --- */

typedef struct VswapRequest {
    VswapPageOp *ops;
    unsigned n;
    unsigned next;              /* next op to start */
    unsigned pending;           /* ops not finished */
    bool is_write;
    /*
     * has been in the backlog: its write ops not yet started are in
     * backlog_writes
     */
    bool queued;
    /* pages of a read that the owner may still decompress itself */
    unsigned owner_reads;
    VswapCompleteFunc *cb;
    void *opaque;
} VswapRequest;

/*
 * The first pages of each read from the memory tier are decompressed by
 * the owner thread itself, after it has handed the rest to the workers:
 * at zstd's 4 to 6 us a page, at most about 25 us of the event loop per
 * request.  A read of that few pages, as a guest's swap-in usually is,
 * then costs no hand-off at all: no wake-up of a sleeping worker, none of
 * the owner when it is done (an inter-processor interrupt each, 12 us in
 * a VM), and no record read on another core.  Larger reads finish sooner,
 * the owner decompressing beside the workers.
 */
#define VSWAP_STORE_OWNER_READS 4

typedef enum VswapPageJobType {
    VSWAP_JOB_COMPRESS,
    VSWAP_JOB_DECOMPRESS,
    VSWAP_JOB_TRAIN,            /* a dictionary (dicts.c) */
    VSWAP_JOB_PACK,             /* group records of a segment (group.c) */
} VswapPageJobType;

typedef struct VswapDictTraining VswapDictTraining;
typedef struct VswapPack VswapPack;

typedef struct VswapPageJob {
    VswapJob job;               /* the worker pool's part */
    struct VswapStore *s;
    VswapRequest *req;
    VswapPageOp *op;
    VswapPageJobType type;
    uint64_t seq;               /* write sequence, see inflight_writes */
    uint32_t slot;
    size_t len;                 /* payload bytes */
    int result;                 /* compress: payload length; else -errno */
    /*
     * the record: within buf, or for a record in memory, where it lies
     * in its segment buffer (then @direct; the buffer outlives the read)
     */
    uint8_t *rec;
    uint8_t *buf;               /* aligned, VSWAP_JOB_BUF_SIZE bytes */
    VswapIoReq io;              /* disk read of the record */
    uint32_t pinned;            /* disk segment pinned by the read */
    /*
     * the dictionary that compresses or decodes the page, or NULL; held
     * in the store's table (dicts.c) for as long as the job has it
     */
    VswapDict *dict;
    VswapDictTraining *train;   /* VSWAP_JOB_TRAIN */
    VswapPack *pack;            /* VSWAP_JOB_PACK */
    /*
     * DECOMPRESS of a group member: its index, and the bytes read from
     * the record on (len is its share)
     */
    bool group;
    uint8_t member;
    size_t avail;
    bool owner_runs;            /* decompressed by the owner, not a worker */
    bool direct;                /* @rec in a segment buffer, rd_epoch... */
    uint8_t rd_parity;          /* ...counted in rd_inflight[rd_parity] */
    struct VswapPageJob *owner_next;    /* VswapStore.owner_jobs */
    struct VswapPageJob *next_free;
} VswapPageJob;

/*
 * A record read with O_DIRECT spans at most 3 blocks of 4 KiB, a group
 * record (VSWAP_GROUP_REC_MAX) 5, and the blocks an engine aligns to are
 * at most 4 KiB.
 */
#define VSWAP_JOB_BUF_SIZE (VSWAP_GROUP_REC_MAX + 2 * 4096)
#define VSWAP_MAX_JOBS 256

/*
 * The store's dictionaries: at most VSWAP_STORE_MAX_DICTS at once, a
 * dictionary with id N in entry (N - 1) % VSWAP_STORE_MAX_DICTS, so that
 * a record's id finds its dictionary at once.
 */
#define VSWAP_STORE_MAX_DICTS 16
/* A store trains dictionaries of this size: one fits a page's payload. */
#define VSWAP_STORE_DICT_SIZE VSWAP_DICT_MAX_SIZE

typedef struct VswapStoreDict {
    VswapDict *dict;            /* NULL: a free entry */
    unsigned jobs;              /* page jobs using it */
    uint32_t segs;              /* segments whose dicts has this entry */
    /*
     * came in a migration stream: kept until the stream is over (the
     * store's first compressed write, or activation), whatever its records
     */
    bool imported;
} VswapStoreDict;

typedef struct VswapCompaction {
    bool running;
    bool full;                  /* every segment with dead space */
    VswapCompleteFunc *cb;
    void *opaque;
    int64_t victim;             /* disk segment being read, or -1 */
    uint8_t *buf;               /* its contents */
    VswapIoReq io;
    uint64_t pass_start_seq;    /* segments created later are not victims */
} VswapCompaction;

struct VswapStore {
    VswapStoreConfig cfg;
    char *path;
    char *name;                 /* the store file in messages */
    int event_fd;               /* workers and the I/O engine signal it */
    uint32_t seg_shift;         /* log2(segment_size) */
    uint64_t data_offset;       /* file offset of disk segment 0 */

    VswapSlotMap *map;
    VswapWorkerPool *pool;
    VswapIoEngine *io;          /* the store file's; NULL: memory only */
    /*
     * While non-zero, vswap_store_process() only processes the engine
     * (vswap_store_wait_io()); process_deferred says the rest is due.
     */
    unsigned io_only;
    bool process_deferred;
    VswapLog mem;
    VswapLog disk;
    uint64_t seg_seq;           /* last segment sequence number */
    uint64_t mem_budget;        /* writeback above this */
    uint64_t mem_limit;         /* hard limit of memory segments */

    /*
     * Writes handed to workers: slot -> write sequence.  A result whose
     * sequence is no longer here was overtaken by a later write, fill or
     * discard and is dropped.
     */
    GHashTable *inflight_writes;
    uint64_t write_seq;

    VswapPageJob *free_jobs;
    unsigned njobs;             /* allocated */
    unsigned jobs_busy;
    /* Jobs started inside vswap_store_batch_begin/end(), not yet submitted */
    unsigned batch_depth;
    VswapJob *batch_head;
    VswapJob *batch_tail;
    unsigned batch_n;
    /* Reads of the batch that the owner runs once it is submitted */
    struct VswapPageJob *owner_jobs;
    GQueue backlog;             /* VswapRequest with ops not yet started */
    /*
     * The write ops of the backlog not yet started (VswapPageOp *, by slot
     * and then address; see vswap_store_overtake_backlog()).  A discard
     * must overtake them, since they were submitted before it: it takes
     * them out of here and marks them, so that a discard costs a search in
     * here and keeps no state of its own.
     */
    GSequence *backlog_writes;
    GQueue done;                /* VswapRequest awaiting their callback */
    GQueue parked;              /* compressed writes waiting for memory */
    unsigned requests;          /* requests not yet completed */

    unsigned wb_inflight;       /* disk segment writes in flight */
    unsigned packs;             /* memory segments being packed (group.c) */
    bool wb_pack_all;           /* pack whatever the pressure (checkpoint) */
    unsigned wb_depth;          /* of those, at most (writeback_depth) */
    unsigned disk_unwritten;    /* disk segments whose write failed */
    /*
     * disk segments with write_failed: unlike disk_unwritten, retries in
     * flight count, so it says that the disk is failing
     */
    unsigned disk_failed;
    /*
     * uint32_t indices of sealed disk segments that writeback is to write
     * (log.c queues, writeback.c writes)
     */
    GArray *wb_queue;
    /*
     * uint32_t indices of freed disk segments whose blocks compaction is to
     * punch before reuse (log.c queues them)
     */
    GArray *punch_queue;
    unsigned punches;           /* hole punches in flight */
    int64_t wb_retry_at;        /* after a failed write: monotonic µs */

    VswapCompaction compact;
    bool compact_wanted;        /* a disk segment fell below the threshold */
    bool mem_compact_wanted;    /* memory segments fell below their target */
    uint64_t export_cursor;     /* next slot export_next looks at */
    VswapStoreStats st;         /* counters; levels are computed */
    bool in_process;
    /*
     * Quiescing (vswap_store_quiesce()): atomic, written by any thread.
     * quiesce counts the nesting; quiesce_gen counts quiesce() calls, and
     * quiesce_ack is the generation that the owner thread saw quiesce set
     * at.  Not atomic, the owner's: owner_calls counts its blocking calls
     * in progress (waits, import, flush, checkpoint), whose I/O goes on
     * while quiesced.
     */
    int quiesce;
    int quiesce_gen;
    int quiesce_ack;
    unsigned owner_calls;
    bool fenced;                /* the file belongs to a migration peer */
    /*
     * until activation: disk entries are references outside segment accounting
     */
    bool incoming_refs;
    /*
     * One freed segment buffer kept for the next segment: writeback frees a
     * memory segment and fills a disk one per step, and a fresh buffer each
     * time cost more in page faults and unmapping than moving the records.
     * Not counted in the memory budget: at most one segment.
     */
    uint8_t *spare_buf;
    /*
     * Reads of records in memory (log.c, "direct reads"): a worker
     * decompresses a record where it lies, so a segment buffer given up
     * meanwhile waits in a limbo until the reads that may still see it
     * end.  Reads count in the epoch they start in; a buffer given up in
     * epoch E is kept until the reads of E and earlier have ended, some
     * microseconds, and meanwhile counts in no budget, as the spare one.
     */
    uint64_t rd_epoch;
    uint32_t rd_inflight[2];    /* by epoch parity */
    GPtrArray *rd_limbo[2];     /* buffers given up, by epoch parity */
    bool open_done;             /* open succeeded: close may checkpoint */
    /*
     * the file's checkpoint is current and its superblock says CLEAN
     * (checkpoint.c)
     */
    bool ckpt_clean;

    /* dicts.c */
    VswapStoreDict dicts[VSWAP_STORE_MAX_DICTS];
    uint16_t dict_cur;          /* id new pages are compressed with; 0 none */
    uint16_t dict_last_id;      /* ids only grow: never reused */
    uint8_t *dict_sample;       /* pages collected for training */
    unsigned dict_nsample;
    uint64_t dict_stride;       /* compressible pages seen while sampling */
    bool dict_training;         /* a training job is in flight */
    /* compressible pages to let pass before collecting again */
    uint64_t dict_skip;
    /*
     * entries an export has sent; a retired one keeps its bit, and its
     * entry is not reused while that export runs: the peer may hold it
     */
    uint16_t dict_exported;
    bool dict_pinned;           /* some entry is imported */
    bool dict_drifted;          /* the current one's ratio fell: retrain */
    /*
     * Drift: payload of the current dictionary's held-out pages when it
     * was measured (base; 0 pages: not yet, the first window sets it), and
     * of the compressible pages written with it since the window began.
     */
    uint64_t dict_base_bytes, dict_base_pages;
    uint64_t dict_win_bytes, dict_win_pages;
};

/*
 * log.c: segment tables, record placement and accounting.  It starts no
 * I/O: a sealed disk segment goes on wb_queue and a freed one on
 * punch_queue, for writeback and compaction to act on.
 */
bool vswap_log_init(VswapStore *s, VswapLog *log, bool is_disk,
                    uint32_t max_segs);
void vswap_log_destroy(VswapStore *s, VswapLog *log);
void vswap_log_put_buf(VswapStore *s, uint8_t *buf);
/*
 * A read of a record in its segment buffer starts: until the matching
 * vswap_log_direct_end(@parity), no buffer given up is unmapped or reused.
 */
uint8_t vswap_log_direct_begin(VswapStore *s);
void vswap_log_direct_end(VswapStore *s, uint8_t parity);
uint64_t vswap_store_mem_bytes(VswapStore *s);
VswapLog *vswap_log_of(VswapStore *s, uint64_t ent);
VswapSegment *vswap_log_segment(VswapStore *s, VswapLog *log, uint64_t addr,
                                uint32_t *index);
int vswap_log_append(VswapStore *s, VswapLog *log, const void *rec,
                     size_t size, bool reserve, uint64_t *addr);
void vswap_log_seal_open(VswapStore *s, VswapLog *log);
/* May writeback open another segment of @log (the reserve aside)? */
bool vswap_log_can_open(VswapLog *log);
/*
 * How far into its disk segment the record of an entry at @off, counting
 * @bytes, may reach: a group member's entry (@member) gives only its
 * share of its group, which may span up to VSWAP_GROUP_REC_MAX.
 */
uint32_t vswap_log_record_reach(VswapStore *s, uint32_t off, size_t bytes,
                                bool member);
/*
 * The used bytes of disk segment @index taken without its header: as far
 * as its records may reach (@reach), but not past the file's end, where a
 * read would come up short, and never short of @max_end.
 */
uint32_t vswap_log_headerless_used(VswapStore *s, uint32_t index,
                                   uint32_t max_end, uint32_t reach);
void vswap_log_release(VswapStore *s, uint64_t ent);
void vswap_log_free_segment(VswapStore *s, VswapLog *log, uint32_t index);
void vswap_log_release_segment(VswapStore *s, VswapLog *log, uint32_t index);
/*
 * Is sealed segment @seg worth compacting: live bytes below
 * cfg.compact_threshold percent of its record bytes, or, with @full, any
 * dead space at all?
 */
bool vswap_log_segment_sparse(VswapStore *s, const VswapSegment *seg,
                              bool full);
void vswap_log_unpin(VswapStore *s, uint32_t index);
void vswap_log_set(VswapStore *s, uint64_t slot, uint64_t ent);
/* As vswap_log_set(), for a page that moved without changing (a tier move). */
void vswap_log_move_entry(VswapStore *s, uint64_t slot, uint64_t ent);
int vswap_log_move_records(VswapStore *s, VswapLog *from, uint32_t index,
                           const uint8_t *data, uint32_t used,
                           VswapLog *(*pick)(VswapStore *s, uint64_t *ent),
                           bool reserve_disk);
int vswap_log_compact_mem(VswapStore *s, bool full);
void vswap_log_compact_mem_sparse(VswapStore *s);
const uint8_t *vswap_log_record_ptr(VswapStore *s, uint64_t ent);

/* writeback.c: cold memory records to disk */
void vswap_writeback_kick(VswapStore *s, bool urgent);
void vswap_writeback_start_queued(VswapStore *s);
void vswap_writeback_seal_disk(VswapStore *s);
/* A pack of a victim (group.c) finished: move its segment out. */
void vswap_writeback_pack_done(VswapStore *s, VswapPageJob *job);

/* group.c: group records of the disk tier */
/* Bytes of a group record of @size bytes and @n pages that @member owns. */
size_t vswap_group_share(size_t size, unsigned n, unsigned member);
/*
 * Verify the group record at @rec (@avail bytes read) as holding @slot as
 * member @member and decode that page with @dict, the dictionary its
 * header names (NULL: none, or one the store lacks, which fails).
 * Returns 0 or -EBADMSG.
 */
int vswap_group_read(VswapCodec *codec, const VswapDict *dict,
                     const uint8_t *rec, size_t avail, unsigned member,
                     uint32_t slot, void *page);
/*
 * Writeback: pack sealed memory segment @victim into group records on a
 * background thread; false when it holds too little to pack (or the
 * store packs nothing), and writeback moves its records as they are.
 */
bool vswap_group_pack_start(VswapStore *s, uint32_t victim);
/*
 * A pack finished (owner thread): place the groups, then move what else
 * the segment holds as writeback does, choosing the log with @pick.
 */
void vswap_group_pack_done(VswapStore *s, VswapPageJob *job,
                           VswapLog *(*pick)(VswapStore *s, uint64_t *ent));
/*
 * Compaction: move the group record at @off of disk segment @index (@rec,
 * @size bytes, payload @len, header parsed): whole if every member lives,
 * else its live members as records of one page.  Returns 1 if moved, 0 if
 * nothing was, or -ENOSPC.
 */
int vswap_group_move(VswapStore *s, uint32_t index, uint32_t off,
                     const uint8_t *rec, size_t size, size_t len);

/* compact.c: disk segment compaction, and returning freed disk space */
void vswap_compact_kick(VswapStore *s);
void vswap_compact_punch_queued(VswapStore *s);
void vswap_compact_finish_pass(VswapStore *s);

/* store.c */
void vswap_store_notify(VswapStore *s);
/* A page job, or NULL when VSWAP_MAX_JOBS are busy. */
VswapPageJob *vswap_store_get_job(VswapStore *s);
void vswap_store_put_job(VswapStore *s, VswapPageJob *job);
/* Hand @job to the worker pool, to run @run. */
void vswap_store_start_job(VswapStore *s, VswapPageJob *job,
                           VswapJobFunc *run);
/*
 * vswap_store_open_engine: open the I/O engine on the store file: the
 * embedder's (cfg.open_engine) or io_uring on cfg.path, creating the file
 * if @create; wrapped in the fault engine with cfg.fault_injection.
 * Returns false with @errp set ("vswap store: " and the engine's message).
 */
bool vswap_store_open_engine(VswapStore *s, bool create, GError **errp);

/*
 * May the store start I/O of its own (writeback, retries, compaction,
 * punches)?  Not while quiesced, unless requests in flight or a blocking
 * call of the owner need it.  Context: owner thread.
 */
static inline bool vswap_store_may_start_io(VswapStore *s)
{
    return !g_atomic_int_get(&s->quiesce) || s->requests > 0 ||
           s->owner_calls > 0;
}

/* Does the store have a disk tier (a store file and its engine)? */
static inline bool vswap_store_has_disk(VswapStore *s)
{
    return s->io != NULL;
}

/*
 * vswap_store_wait: block, running the event loop (cfg.wait), until
 * cond(opaque) is false; completion callbacks of requests may run.  Not
 * from inside vswap_store_wait_io().
 */
void vswap_store_wait(VswapStore *s, VswapWaitCond *cond, void *opaque);
/*
 * vswap_store_wait_io: the same, but processing only the I/O engine:
 * request callbacks, compaction callbacks and the rest of
 * vswap_store_process() are deferred until the outermost wait ends.  For
 * export, check, import and the store's own synchronous I/O, which must
 * not run a request's callback under their caller.  Engine completions
 * (writeback, compaction reads, punches, page reads) do run: they only
 * change the store's state, never call out.
 */
void vswap_store_wait_io(VswapStore *s, VswapWaitCond *cond, void *opaque);
/*
 * vswap_store_io_sync: submit @req (op, offset, buf, len, flags set; its
 * complete and opaque are the helper's), flush and wait for it with
 * vswap_store_wait_io().  The store must have an engine.  Returns
 * req->result: len (transfers, PUNCH), 0 (FSYNC, TRUNCATE), or -errno.
 */
ssize_t vswap_store_io_sync(VswapStore *s, VswapIoReq *req);
/*
 * vswap_store_io: vswap_store_io_sync() of @op on @buf, @len bytes at
 * @offset.  Returns 0 once all of it is done, or -errno.
 */
int vswap_store_io(VswapStore *s, VswapIoOp op, void *buf, size_t len,
                   uint64_t offset);
/*
 * vswap_store_record_span: the file range to read for the disk record of
 * @ent, aligned as the engine needs (O_DIRECT: whole 4 KiB blocks, at most
 * VSWAP_JOB_BUF_SIZE bytes) into *@start and *@len.  Returns the record's
 * offset within that range.
 */
size_t vswap_store_record_span(VswapStore *s, uint64_t ent, uint64_t *start,
                               size_t *len);
size_t vswap_store_record_bytes(VswapStore *s, uint64_t ent);
int vswap_store_pread_record(VswapStore *s, uint64_t ent, uint8_t *buf,
                             const uint8_t **rec);

/*
 * checkpoint.c: persistence across close and reopen (format.h), and the
 * checked readers of store files that vswap-tool shares.  GError codes are
 * errno values: EMEDIUMTYPE not a store file, ENOTSUP newer format,
 * EBADMSG corrupt or truncated, EUCLEAN not closed cleanly, else I/O.
 * Messages start with the file's name.
 *
 * The readers reach the file through a VswapFileReader: an engine and a
 * way to run one request on it to completion (the store's
 * vswap_store_io_sync(), or vswap_io_run() in vswap-tool).
 */
typedef struct VswapFileReader {
    VswapIoEngine *io;
    const char *name;           /* in messages */
    /* Run @req to completion; returns req->result. */
    ssize_t (*run)(void *opaque, VswapIoReq *req);
    void *opaque;
} VswapFileReader;

/*
 * vswap_file_pread: read up to @len bytes at @off, but not past
 * @file_size, into @buf (aligned to the engine's vswap_io_align(), @len a
 * multiple of it).  Returns the bytes read, fewer at the end of the file,
 * or -errno.
 */
ssize_t vswap_file_pread(const VswapFileReader *rd, void *buf, size_t len,
                         uint64_t off, uint64_t file_size);

typedef struct VswapFileSb {
    uint32_t version;
    uint32_t segment_size;
    uint64_t capacity;
    uint64_t data_offset;
    uint64_t flags;             /* VSWAP_SB_* */
    uint32_t ckpt_segment;
    uint64_t file_size;         /* bytes: the engine's getlength */
    uint64_t alloc_bytes;       /* bytes allocated: the engine's allocated */
} VswapFileSb;

/* Read and check the superblock of the file behind @rd. */
bool vswap_file_read_sb(const VswapFileReader *rd, VswapFileSb *fsb,
                        GError **errp);
/* File offset of the checkpoint a CLEAN superblock points at. */
uint64_t vswap_ckpt_offset(const VswapFileSb *fsb);
/* Read and check the checkpoint header (host byte order in @hdr). */
bool vswap_ckpt_read_hdr(const VswapFileReader *rd, const VswapFileSb *fsb,
                         VswapCkptHdr *hdr, GError **errp);
/* Called per entry (host byte order), in slot order; false stops. */
typedef bool VswapCkptEntryFunc(void *opaque, const VswapCkptEntry *e,
                                GError **errp);
/*
 * vswap_ckpt_read_entries: read the entries once, check each one (slot
 * range and order, kind, record location within the segment table) and
 * pass it, unless @fn is NULL, to @fn; then check the entries' checksum.
 * What @fn saw is only sound if this returns true: on false, the caller
 * throws it away.
 */
bool vswap_ckpt_read_entries(const VswapFileReader *rd,
                             const VswapFileSb *fsb, const VswapCkptHdr *hdr,
                             VswapCkptEntryFunc *fn, void *opaque,
                             GError **errp);

/* Called per dictionary of the checkpoint, its content checked. */
typedef bool VswapCkptDictFunc(void *opaque, uint16_t id, const void *content,
                               size_t len, GError **errp);
/*
 * vswap_ckpt_read_dicts: read the dictionary table and contents of a
 * version 2 checkpoint once, check them (ids, sizes, checksums) and pass
 * each to @fn.  True at once for a checkpoint without dictionaries.
 */
bool vswap_ckpt_read_dicts(const VswapFileReader *rd, const VswapFileSb *fsb,
                           const VswapCkptHdr *hdr, VswapCkptDictFunc *fn,
                           void *opaque, GError **errp);

/* The store's reader of its own file (valid while @s is). */
void vswap_store_reader(VswapStore *s, VswapFileReader *rd);

/*
 * Open hooks: with reopen, the file's geometry (read through the engine,
 * which the store opens first); the checks of an existing file; the load.
 */
bool vswap_ckpt_prepare_config(VswapStore *s, GError **errp);
bool vswap_file_open_existing(VswapStore *s, VswapFileSb *fsb, GError **errp);
bool vswap_ckpt_open_file(VswapStore *s, GError **errp);
bool vswap_ckpt_open_done(VswapStore *s, GError **errp);
/* Before the store changes: clear CLEAN on disk.  Returns 0 or -EIO. */
int vswap_ckpt_mark_dirty(VswapStore *s);
/* Close hook: checkpoint if cfg.persist, warning on failure. */
void vswap_ckpt_close(VswapStore *s);

/*
 * dicts.c: the store's zstd dictionaries: training on its own pages,
 * lookup by the id in a record, and their travel with exports.
 */
/* The dictionary with @id, or NULL if the store has none by that id. */
VswapDict *vswap_dicts_get(VswapStore *s, uint16_t id);
/*
 * Hand dictionary @dict (NULL: none) to @job; false if the store has no
 * dictionary @id (then @job gets none).
 */
bool vswap_dicts_job_take(VswapStore *s, VswapPageJob *job, uint16_t id);
void vswap_dicts_job_put(VswapStore *s, VswapPageJob *job);
/* A compressible page is being written: collect it for training. */
void vswap_dicts_sample(VswapStore *s, const void *page);
/* A compression job finished (owner thread): measure the drift. */
void vswap_dicts_note_write(VswapStore *s, const VswapPageJob *job);
/*
 * Segment accounting (log.c): the record at @rec goes into @seg; @seg is
 * freed, so its dictionaries lose it (and may be retired).
 */
void vswap_dicts_seg_add(VswapStore *s, VswapSegment *seg, const void *rec);
void vswap_dicts_seg_drop(VswapStore *s, VswapSegment *seg);
/*
 * Disk segments whose records were not seen (reopen, shared activation)
 * may name any dictionary the store holds: count them for each.
 */
void vswap_dicts_hold_disk(VswapStore *s);
/* The migration stream is over: imported dictionaries may retire. */
void vswap_dicts_end_import(VswapStore *s);
/* Does every count of segments per dictionary match the segments? */
bool vswap_dicts_check(VswapStore *s);
/* A training job finished (owner thread). */
void vswap_dicts_train_done(VswapStore *s, VswapPageJob *job);
/*
 * Export: the next dictionary this export has not sent, into @info and
 * @payload; false when all were sent.
 */
bool vswap_dicts_export_next(VswapStore *s, VswapRecordInfo *info,
                             void *payload);
/* Import: a dictionary from a migration stream.  Returns 0 or -EINVAL. */
int vswap_dicts_import(VswapStore *s, const VswapRecordInfo *info,
                       const void *payload);
void vswap_dicts_stats(VswapStore *s, VswapStoreStats *st);
/* Reopen: a dictionary the checkpoint held (VswapCkptDictFunc). */
bool vswap_dicts_restore(void *opaque, uint16_t id, const void *content,
                         size_t len, GError **errp);
void vswap_dicts_destroy(VswapStore *s);

/* shared.c: shared-storage migration */
bool vswap_shared_open_file(VswapStore *s, GError **errp);
int vswap_shared_import_ref(VswapStore *s, const VswapRecordInfo *info);

/* For tests: the fault engine when cfg.fault_injection is set. */
VswapIoEngine *vswap_store_io_engine(VswapStore *s);

#endif /* VSWAP_STORE_INT_H */
