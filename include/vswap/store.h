/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vswap page store: the host-side store that a guest's swap slots key into.
 *
 * A slot holds one 4 KiB page, kept in the cheapest form that fits:
 *
 *   - a same-filled page (zero pages included) is a map entry, no payload;
 *   - other pages are zstd-compressed records (raw when incompressible) in
 *     a log of in-memory segments, within a memory budget;
 *   - when memory is over budget, the coldest records move, still
 *     compressed, into segments of a log file, written by io_uring in
 *     large batches.  Compaction rewrites sparse segments, again without
 *     decompressing, and returns their space.
 *
 * Every record carries a CRC32C over its header and payload and is verified
 * before use; a bad record is an I/O error for its slot, never wrong data.
 *
 * Threading: one owner thread calls every function here.  zstd runs on
 * worker threads (and on the owner for the first few pages of a read from
 * memory, so that a small swap-in needs no other thread); completions
 * (workers and the I/O engine) are signalled on one eventfd,
 * vswap_store_fd().  The owner polls it and calls
 * vswap_store_process(), which runs completion callbacks.  Callbacks never
 * run from inside a submitting call.  The calls that block (the
 * synchronous wrappers, drain, checkpoint, flush, export, check) wait
 * through one primitive, VswapStoreConfig.wait.
 *
 * Every access to the store file goes through an I/O engine: the store's
 * own io_uring engine on cfg.path, or one the embedder supplies
 * (cfg.open_engine), e.g. on a QEMU BlockBackend.
 *
 * Errors are negative errno values:
 *   -EINVAL  bad argument (slot out of range, NULL buffer, bad batch size)
 *   -ENOSPC  no room: memory hard limit reached and the disk cannot take
 *            more; the slot keeps its previous contents
 *   -EIO     the page could not be read or written, or failed its checksum
 *   -ENOMEM  allocation failure during set-up
 */
#ifndef VSWAP_STORE_H
#define VSWAP_STORE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define VSWAP_STORE_PAGE_SIZE 4096
#define VSWAP_STORE_MAX_SLOTS (UINT64_C(1) << 32)
/* Largest number of pages in one read or write request. */
#define VSWAP_STORE_MAX_BATCH 1024
/* Writeback depth without a configured or suggested one; its maximum. */
#define VSWAP_STORE_WRITEBACK_DEPTH 8
#define VSWAP_STORE_MAX_WRITEBACK_DEPTH 64
/*
 * Segment size without a configured or suggested one; a suggested one is
 * taken only if the memory budget holds this many of them, so that a
 * small budget still keeps more than a few segments of records.
 */
#define VSWAP_STORE_SEGMENT_SIZE (1u << 20)
#define VSWAP_STORE_AUTO_SEGMENTS 8

/* Read status of a slot that holds no page: the buffer was zero-filled. */
#define VSWAP_STORE_UNMAPPED 1

/*
 * The GError domain of every error the store and its I/O engines report;
 * codes are errno values.
 */
#define VSWAP_STORE_ERROR vswap_store_error_quark()
GQuark vswap_store_error_quark(void);

typedef struct VswapStore VswapStore;
/* The I/O engine interface is in vswap/io-engine.h. */
typedef struct VswapIoEngine VswapIoEngine;

/* A condition for VswapStoreConfig.wait: true while waiting must go on. */
typedef bool VswapWaitCond(void *opaque);

typedef struct VswapStoreConfig {
    /*
     * store file; NULL for a memory-only store unless open_engine is set
     */
    const char *path;
    /*
     * open_engine: instead of @path, the embedder's engine on the store
     * file.  Called once from vswap_store_open() with the store's notifier
     * (vswap_store_fd()), which the engine must signal whenever a
     * completion is due.  The store owns the engine from then on and
     * frees it at close.  Returns NULL with @errp set on failure.
     */
    VswapIoEngine *(*open_engine)(void *opaque, int notify_fd,
                                  GError **errp);
    void *engine_opaque;
    const char *name;           /* the file in messages; NULL: @path */
    /*
     * wait: block, running the event loop, while cond(cond_opaque) is true.
     * Called on the owner thread.  cond() itself calls
     * vswap_store_process() (during export, check, import and the store's
     * own synchronous I/O, only the I/O engine's part of it: no request
     * callback runs there), so the hook only has to sleep until the engine
     * or vswap_store_fd() has news, and may wake up at any time.  QEMU:
     * AIO_WAIT_WHILE(ctx, cond(cond_opaque)) in the store's AioContext.
     * Used from vswap_store_open() on, so the engine's completions must
     * wake it up before the fd handler is attached, too.  NULL: poll
     * vswap_store_fd() with a short timeout (so that retries of failed
     * writes still run).
     */
    void (*wait)(void *opaque, VswapWaitCond *cond, void *cond_opaque);
    void *wait_opaque;
    uint64_t capacity;          /* slots, 1 .. VSWAP_STORE_MAX_SLOTS */
    uint64_t mem_budget;        /* bytes of memory segments before writeback */
    /*
     * hard limit while the disk cannot take pages; 0: a quarter above
     * mem_budget
     */
    uint64_t mem_limit;
    uint64_t disk_limit;        /* store file size limit; 0: unlimited */
    int level;                  /* zstd level */
    /*
     * power of 2, 64 KiB .. 64 MiB; 0: what the engine suggests
     * (VswapIoEngine.segment_size) if the memory budget holds
     * VSWAP_STORE_AUTO_SEGMENTS of them, else VSWAP_STORE_SEGMENT_SIZE
     */
    uint32_t segment_size;
    unsigned compact_threshold; /* compact below this % live, 0 .. 99 */
    unsigned workers;           /* compression threads; 0: owner thread */
    /*
     * disk segment writes that writeback keeps in flight at most, 1 ..
     * VSWAP_STORE_MAX_WRITEBACK_DEPTH; 0: what the engine suggests
     * (VswapIoEngine.queue_depth), else VSWAP_STORE_WRITEBACK_DEPTH.  A
     * segment being written holds a buffer, which counts against the
     * memory budget and limit like any other, so a deeper queue never
     * takes the store past mem_limit: it can only hold fewer records in
     * memory while a burst is written back.
     */
    unsigned writeback_depth;
    bool direct_io;             /* O_DIRECT on the store file (@path) */
    /*
     * wrap the I/O engine for tests (store-int.h); to inject faults already at
     * open, supply a fault engine through open_engine
     */
    bool fault_injection;
    /*
     * shared-storage migration: records already in the file travel as
     * references
     */
    bool shared;
    /*
     * with shared: open the existing file as a migration destination; the file
     * is not touched until vswap_store_activate()
     */
    bool incoming;
    /*
     * persist: on close (and vswap_store_checkpoint()), write every memory
     * record to disk and a checkpoint of the slot map, so that the file
     * can be reopened, inspected and compacted offline (vswap-tool).
     * Needs @path.
     */
    bool persist;
    /*
     * reopen: open the existing store file at @path (or open_engine) and
     * load its checkpoint instead of reinitialising it; @capacity and
     * @segment_size come from the file (@mem_budget is raised to two of
     * its segments if lower).  Fails unless the file was closed cleanly
     * with persist.  The file is marked unclean at once, so it can be
     * reopened again only after a later checkpoint: set @persist too.
     */
    bool reopen;
    /*
     * dict_auto: once dict_train_pages compressible pages have been
     * written, train a zstd dictionary on them (in a worker), and compress
     * with it from then on if, on the last eighth of them, which it was
     * not trained on, it keeps the payload within 1% of what they take
     * without one: zstd then also compresses about 1.5 times faster.  A
     * dictionary is this store's own, never shared with another: it holds
     * data of the guest.  When the pages it compresses drift (8% more
     * payload than when it was measured), the store samples and trains
     * again, and takes the new one if it beats the current one on pages
     * neither was trained on.  A dictionary no record names any more is
     * retired.  Dictionaries travel in migration streams before the
     * records that need them, and in checkpoints (version 2).
     */
    bool dict_auto;
    unsigned dict_train_pages;  /* 0: 512; at least 64 */
    /*
     * disk_group: writeback packs up to this many compressible pages
     * that reached memory together into one zstd frame, a group record
     * of the disk tier, 1 .. VSWAP_STORE_MAX_DISK_GROUP; 1: one page a
     * record.  Cold pages shared structure that one page is too short
     * to learn: on real heaps groups of 4 keep 1.1 to 1.15 times the
     * pages one frame each keeps.  A read of such a page decodes its
     * group (16 KiB at most).  The memory tier, which serves the reads
     * a guest waits for, always keeps a page a record.
     */
    unsigned disk_group;
    /*
     * disk_level: zstd level of group records; 0: VSWAP_STORE_DISK_LEVEL,
     * or @level if that is higher.  Cold pages are compressed once more,
     * off the guest's path, so a higher level costs only the packing
     * threads' time: level 5 keeps 1.5 to 1.8 times what zram's lz4 keeps
     * on the bench's heaps, level 1 1.48 to 1.72, for 15% more time to
     * write and pack them (docs/benchmarks.md).
     */
    int disk_level;
} VswapStoreConfig;

#define VSWAP_STORE_DISK_LEVEL 5
#define VSWAP_STORE_DISK_GROUP 4
#define VSWAP_STORE_MAX_DISK_GROUP 4

/* Fill @cfg with defaults: memory only, 1 Mi slots, 64 MiB budget, level 1. */
void vswap_store_config_init(VswapStoreConfig *cfg);

/*
 * vswap_store_open: create a store.  An existing file at cfg->path must be
 * a vswap store file (or empty); it is reinitialised, because a swap store
 * lives only as long as its VM; unless cfg->reopen, see there.  Returns
 * NULL with @errp set on failure; (*errp)->code is an errno value:
 * EMEDIUMTYPE "is not a regular file", EEXIST "is not a vswap store file",
 * EIO and other I/O errors.  For reopen also: EMEDIUMTYPE "not a vswap
 * store file", ENOTSUP "newer format version", EBADMSG corrupt or
 * truncated superblock or checkpoint, EUCLEAN "was not closed cleanly",
 * ENOENT.
 */
VswapStore *vswap_store_open(const VswapStoreConfig *cfg, GError **errp);

/*
 * Wait for every request and background I/O, then free the store.  With
 * cfg.persist, checkpoint first (vswap_store_checkpoint()); a failure is
 * only logged, so call vswap_store_checkpoint() first to handle it.
 */
void vswap_store_close(VswapStore *s);

/*
 * vswap_store_checkpoint: make the store file self-describing: drain,
 * write every memory record to disk segments, write a checkpoint of the
 * slot map after them, then mark the superblock clean (fdatasync before
 * and after).  The store stays usable; the next write, discard, compaction
 * or import first marks the file unclean again.  Call it with no request
 * being submitted meanwhile.  Returns 0 (also when nothing changed since
 * the last checkpoint), or -errno with @errp set: -EINVAL for a memory-only
 * store, -EIO when segment writes keep failing, -ENOSPC when the disk
 * limit leaves no room for the memory records.
 */
int vswap_store_checkpoint(VswapStore *s, GError **errp);

/* One page of a request.  @status is set before the callback runs. */
typedef struct VswapPageOp {
    uint64_t slot;
    /*
     * WRITE: source, NULL for a fill page; READ: destination;
     * VSWAP_STORE_PAGE_SIZE bytes
     */
    void *page;
    uint32_t fill;              /* WRITE with page == NULL: repeated value */
    int status;                 /* 0, VSWAP_STORE_UNMAPPED (READ), or -errno */
} VswapPageOp;

typedef void VswapCompleteFunc(void *opaque);

/*
 * vswap_store_write / vswap_store_read: start a batch of @n page operations
 * on discontiguous slots.  @ops and the pages must stay valid until @cb
 * runs from vswap_store_process().  A bad slot or buffer fails only its own
 * op (status -EINVAL).  Returns 0, or -EINVAL (and @cb never runs) if @n is
 * 0 or above VSWAP_STORE_MAX_BATCH or @ops or @cb is NULL; a write after
 * a checkpoint returns -EIO if the file cannot be marked unclean.
 */
int vswap_store_write(VswapStore *s, VswapPageOp *ops, unsigned n,
                      VswapCompleteFunc *cb, void *opaque);
int vswap_store_read(VswapStore *s, VswapPageOp *ops, unsigned n,
                     VswapCompleteFunc *cb, void *opaque);

/*
 * vswap_store_discard: forget slots [start, start + count) at once,
 * including writes to them still in flight.  Returns 0, or -EINVAL if the
 * range is empty or exceeds the capacity (-EIO: as for writes).
 */
int vswap_store_discard(VswapStore *s, uint64_t start, uint64_t count);

/* Event-loop integration: poll this fd for input, then call process. */
int vswap_store_fd(VswapStore *s);
void vswap_store_process(VswapStore *s);

/* Synchronous wrappers: return 0 or the first failing op status. */
int vswap_store_write_sync(VswapStore *s, VswapPageOp *ops, unsigned n);
int vswap_store_read_sync(VswapStore *s, VswapPageOp *ops, unsigned n);

/* Is any request, job, compaction or I/O in flight? */
bool vswap_store_busy(VswapStore *s);

/* Run the event loop (cfg.wait) until vswap_store_busy() is false. */
void vswap_store_drain(VswapStore *s);

/*
 * Quiescing, for a drained section of the store file's block node: the
 * store starts no I/O of its own (writeback, write retries, compaction,
 * hole punches) until it is unquiesced.  What requests in flight need
 * (reads of their records, writeback that frees memory for their pages)
 * and what the owner's own blocking calls do (drain, checkpoint, export,
 * the synchronous wrappers) still run: the embedder stops taking
 * requests, and waits for those in flight, itself.
 *
 * vswap_store_quiesce() and vswap_store_unquiesce() nest, and may be
 * called from any thread; the owner thread takes notice in its next
 * vswap_store_process(), which quiesce() signals for.
 * vswap_store_quiesced() (any thread) says whether it has: from then on
 * every I/O the store started on its own is in the engine's inflight()
 * count, and it starts no more until unquiesce().  Unquiescing signals
 * the owner, so that postponed work resumes.
 */
void vswap_store_quiesce(VswapStore *s);
void vswap_store_unquiesce(VswapStore *s);
bool vswap_store_quiesced(VswapStore *s);

/*
 * vswap_store_compact: start compacting every segment with dead space (or
 * only those below the threshold unless @full).  Reads and writes go on
 * meanwhile.  @cb, if not NULL, runs when the pass is over.  Returns 0 or
 * -EBUSY when a pass is already running (-EIO: as for writes).  While
 * segment writes fail, a pass takes no segment that would push memory past
 * mem_limit, and ends early when it cannot go on with no write in flight.
 */
int vswap_store_compact(VswapStore *s, bool full, VswapCompleteFunc *cb,
                        void *opaque);

/* Change the memory budget (and hard limit, 0: derived) at run time. */
void vswap_store_set_mem_budget(VswapStore *s, uint64_t budget, uint64_t limit);

typedef struct VswapStoreStats {
    uint64_t capacity;          /* slots */
    uint64_t pages_fill;        /* slots held as map entries only */
    uint64_t pages_mem;         /* slots compressed in memory */
    uint64_t pages_disk;        /* slots compressed on disk */
    uint64_t mem_live_bytes;    /* live record bytes in memory */
    uint64_t mem_bytes;         /* memory segments allocated */
    uint64_t disk_live_bytes;   /* live record bytes on disk */
    uint64_t disk_bytes;        /* bytes of written disk segments */
    uint64_t disk_file_bytes;   /* blocks the store file occupies */
    uint64_t meta_bytes;        /* slot map and index memory */
    uint64_t payload_bytes;     /* compressed payload of stored pages */
    uint64_t writes, reads, discards;   /* pages */
    uint64_t read_unmapped;     /* reads of empty slots */
    uint64_t write_errors, read_errors; /* pages that failed */
    uint64_t checksum_errors;   /* records that failed verification */
    uint64_t enospc;            /* writes refused for lack of room */
    uint64_t writeback_pages, writeback_bytes;
    uint64_t writeback_errors;  /* failed segment writes (pages kept) */
    uint64_t writeback_depth;   /* segment writes in flight at most */
    uint64_t segment_size;      /* bytes per log segment */
    uint64_t compacted_segments, compacted_bytes;   /* disk */
    uint64_t mem_compacted_segments, mem_compacted_bytes;
    uint64_t compactions;       /* finished compaction passes */
    /*
     * group records writeback made (cfg.disk_group), the pages it put in
     * them, and groups compaction split into pages as some of theirs died
     */
    uint64_t disk_groups, disk_group_pages, disk_group_splits;
    uint64_t dict_id;           /* the dictionary new pages use; 0: none */
    uint64_t dicts;             /* dictionaries held */
    uint64_t dict_bytes;        /* their memory */
    uint64_t dict_trainings;    /* dictionaries trained */
    uint64_t dict_rejected;     /* of those, not used: they did not pay */
    /*
     * payload without the last trained dictionary / with it, on pages it
     * was not trained on, x1000; 0: none trained
     */
    uint64_t dict_gain_permille;
    /* of the trainings, those started because the ratio drifted */
    uint64_t dict_retrainings;
    /* dictionaries dropped once no record named them any more */
    uint64_t dict_retired;
    /*
     * payload per page of the latest pages compressed with the current
     * dictionary / that of the held-out pages it was measured on, x1000;
     * 0: not measured yet.  Above 1080 the store trains a new one.
     */
    uint64_t dict_drift_permille;
} VswapStoreStats;

void vswap_store_get_stats(VswapStore *s, VswapStoreStats *st);

typedef struct VswapCheckReport {
    uint64_t pages;             /* stored pages examined */
    uint64_t bad;               /* pages whose record failed verification */
    uint64_t first_bad_slot;    /* valid when bad > 0 */
} VswapCheckReport;

/*
 * vswap_store_check: read and verify every stored page (checksum, header,
 * decompression to exactly one page) and the segment accounting.  Returns
 * 0 when all is well, -EIO when a page is bad, -EUCLEAN when accounting is
 * inconsistent (a bug).
 */
int vswap_store_check(VswapStore *s, VswapCheckReport *rep);

/* --- migration: records move as stored, with dirty tracking --- */

typedef enum VswapRecordKind {
    VSWAP_RECORD_EMPTY = 0,     /* the slot holds nothing (discarded) */
    VSWAP_RECORD_FILL = 1,      /* same-filled page: @fill, no payload */
    VSWAP_RECORD_RAW = 2,       /* raw page payload */
    VSWAP_RECORD_ZSTD = 3,      /* zstd payload */
    /*
     * shared storage: the record of @len payload bytes is in the file at @addr
     */
    VSWAP_RECORD_REF = 4,
    /* zstd payload that needs dictionary @dict */
    VSWAP_RECORD_ZSTD_DICT = 5,
    /*
     * dictionary @dict itself, @len bytes of content as payload (no slot):
     * an export sends each before the first record that needs it
     */
    VSWAP_RECORD_DICT = 6,
    /*
     * shared storage: the page is member @member of the group record at
     * @addr in the file, and owns @len of its bytes (its share)
     */
    VSWAP_RECORD_MEMBER_REF = 7,
} VswapRecordKind;

typedef struct VswapRecordInfo {
    uint64_t slot;
    uint32_t kind;              /* VswapRecordKind */
    uint32_t fill;              /* VSWAP_RECORD_FILL */
    uint32_t len;               /* payload bytes (RAW, ZSTD) */
    uint32_t crc;               /* CRC32C of the payload (RAW, ZSTD) */
    uint64_t addr;              /* REF, MEMBER_REF: the record's address */
    uint32_t dict;              /* ZSTD_DICT, DICT: the dictionary's id */
    uint32_t member;            /* MEMBER_REF: the page's index in its group */
} VswapRecordInfo;

/* Start tracking changed slots; every stored slot starts out dirty. */
void vswap_store_export_start(VswapStore *s);
/* Stop tracking and forget the dirty set. */
void vswap_store_export_stop(VswapStore *s);
/* Dirty slots not yet exported. */
uint64_t vswap_store_export_pending(VswapStore *s);

/*
 * vswap_store_export_next: take the next dirty slot and describe its
 * current contents in @info, with the payload copied to @payload
 * (VSWAP_STORE_PAGE_SIZE bytes).  Disk records are read synchronously and
 * verified.  Returns 1, 0 when no slot is dirty, or -EIO when the record
 * is bad (info->slot says which; the slot is not dirty any more).
 */
int vswap_store_export_next(VswapStore *s, VswapRecordInfo *info,
                            void *payload);

/*
 * vswap_store_import: store a record produced by export on another store.
 * Validates everything: slot range, kind, length, checksum, and that a
 * payload decompresses to exactly one page.  Returns 0, -EINVAL for a bad
 * record, or -ENOSPC (-EIO: as for writes).
 */
int vswap_store_import(VswapStore *s, const VswapRecordInfo *info,
                       const void *payload);

/* --- shared-storage migration (cfg.shared) --- */

/*
 * vswap_store_flush: source side: write every record still buffered to the
 * store file and make the file durable, so that export describes them as
 * references.  Returns 0, or -EIO if a segment could not be written (its
 * records then travel as payload).
 */
int vswap_store_flush(VswapStore *s);

/*
 * vswap_store_fence: while fenced, the store never writes to, punches or
 * compacts its file (the destination owns it now).  Unfence when the
 * migration failed.  Disk space freed while fenced is not returned.
 */
void vswap_store_fence(VswapStore *s, bool fenced);

/*
 * vswap_store_activate: destination side: the migration is complete; take
 * the file over (free segments become usable) and lift the fence.
 */
void vswap_store_activate(VswapStore *s);

#endif /* VSWAP_STORE_H */
