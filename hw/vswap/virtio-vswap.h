/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-vswap: the QEMU device that a guest swaps to (type and state).
 */
#ifndef HW_VSWAP_VIRTIO_VSWAP_H
#define HW_VSWAP_VIRTIO_VSWAP_H

#include "hw/virtio/virtio.h"
#include "standard-headers/linux/virtio_vswap.h"
#include "qemu/stats64.h"
#include "qom/object.h"
#include "system/iothread.h"
#include "vswap/store.h"
#include "vswap-store.h"

#define TYPE_VIRTIO_VSWAP "virtio-vswap-device"
OBJECT_DECLARE_SIMPLE_TYPE(VirtIOVswap, VIRTIO_VSWAP)

#define VIRTIO_VSWAP_PROP_CAPACITY   "capacity"
#define VIRTIO_VSWAP_PROP_NUM_QUEUES "num-queues"
#define VIRTIO_VSWAP_PROP_QUEUE_SIZE "queue-size"
#define VIRTIO_VSWAP_PROP_MAX_BATCH  "max-batch"
#define VIRTIO_VSWAP_PROP_STORE      "store"
#define VIRTIO_VSWAP_PROP_IOTHREAD   "iothread"
/* Test faults for guest driver tests; not for production use. */
#define VIRTIO_VSWAP_PROP_X_STALL_AFTER "x-stall-after"
#define VIRTIO_VSWAP_PROP_X_ERROR_AFTER "x-error-after"
#define VIRTIO_VSWAP_PROP_X_FORGET_SLOT "x-forget-slot"

/*
 * Slots are 4 KiB pages (VSWAP_STORE_PAGE_SIZE: the ABI allows nothing
 * else for now), at most VSWAP_STORE_MAX_SLOTS of them (vswap/store.h).
 */
#define VIRTIO_VSWAP_MAX_QUEUES 64
/* Upper bound of max-batch: 1024 pages is 4 MiB of payload per request. */
#define VIRTIO_VSWAP_MAX_BATCH_LIMIT VSWAP_STORE_MAX_BATCH
/* Bounce-buffer bytes of requests in flight before queues stop popping. */
#define VIRTIO_VSWAP_INFLIGHT_LIMIT (32 * 1024 * 1024)
/*
 * The same for the rest of what requests in flight hold: their elements
 * and, per entry, its parsed form, status and store op.  FILL-only WRITEs
 * and DISCARDs have no bounce buffer, so without this only the ring held
 * them back: 45 bytes per entry, about 46 MiB for a ring of 1024 FILL-only
 * WRITEs of 1024 entries each.  A driver at the defaults (256
 * descriptors, 256 entries per request) never reaches it.
 */
#define VIRTIO_VSWAP_INFLIGHT_META_LIMIT (4 * 1024 * 1024)
/* Latency histogram: bucket i counts requests of [2^i, 2^(i+1)) us. */
#define VIRTIO_VSWAP_LAT_BUCKETS 32

typedef struct VirtIOVswapMigBatch VirtIOVswapMigBatch;

typedef struct VirtIOVswapConf {
    uint64_t capacity;      /* slots exposed to the guest; 0: the store's */
    uint16_t num_queues;    /* request virtqueues */
    uint16_t queue_size;    /* descriptors per virtqueue */
    uint32_t max_batch;     /* entries per request */
    VswapStoreObject *store;    /* -object vswap-store; NULL: built-in */
    IOThread *iothread;         /* serves the queues; NULL: the main loop */
    uint64_t x_forget_slot; /* test: drop this slot once a WRITE stored it */
} VirtIOVswapConf;

/* Request counters of one type (WRITE, READ, DISCARD). */
typedef struct VirtIOVswapTypeStats {
    uint64_t requests;
    uint64_t entries;       /* pages (WRITE, READ) or ranges (DISCARD) */
    uint64_t errors;        /* entries that did not succeed */
    uint64_t latency[VIRTIO_VSWAP_LAT_BUCKETS];
} VirtIOVswapTypeStats;

/*
 * What one migration of the store carried, by element of its stream
 * (query-vswap's VswapMigrationStats).  The source's counts grow in the
 * migration thread, so they are Stat64; started changes with the BQL.
 */
typedef struct VirtIOVswapMigCounts {
    bool started;
    Stat64 records;         /* slots sent with their data (RECORD) */
    Stat64 record_bytes;    /* ... their payload */
    Stat64 refs;            /* pages sent as REF */
    Stat64 member_refs;     /* pages sent as MEMBER */
    Stat64 dicts;           /* dictionaries (RECORD of kind DICT) */
} VirtIOVswapMigCounts;

struct VirtIOVswap {
    VirtIODevice parent_obj;

    VirtIOVswapConf conf;   /* user configuration; not migrated */
    VirtQueue **vqs;        /* conf.num_queues request queues */
    VswapStore *store;      /* the store in use; not migrated (yet) */
    VswapStore *own_store;  /* built-in memory-only store, if any */
    uint64_t capacity;      /* effective slot count */
    /* Where the queues are served: the IOThread's or the main loop's */
    AioContext *ctx;
    /* The store's owner: ctx while the ioeventfds run, else main loop's */
    AioContext *store_ctx;
    bool ioeventfd_started;
    bool ioeventfd_disabled;    /* the transport cannot: main loop only */
    QEMUBH *resume_bh;      /* in ctx: pops queues once memory is freed */
    size_t inflight_bytes;  /* bounce buffers of requests in flight */
    size_t inflight_meta;   /* the rest of their memory (see the limit) */
    unsigned inflight;      /* requests in flight */
    bool queues_stalled;    /* a queue stopped at the in-flight limit */
    /*
     * Store calls from under the BQL that may wait, running the owner's
     * event loop, in progress: the queues are not served meanwhile.
     */
    unsigned quiesced;
    /* Migration of the store (virtio-vswap-migration.c); not migrated. */
    VMChangeStateEntry *vmstate_change;
    NotifierWithReturn mig_notifier;    /* migration failure: unfence */
    VirtIOVswapMigBatch *mig_batch;  /* source: records in transit */
    uint8_t *mig_buf;           /* destination: one record's payload */
    uint64_t mig_pending;       /* dirty slots left; atomic */
    uint64_t mig_avg_record;    /* average payload bytes; atomic */
    VirtIOVswapMigCounts mig_sent;      /* the last outgoing migration */
    VirtIOVswapMigCounts mig_received;  /* the incoming one */
    VirtIOVswapTypeStats stats[3];  /* by VIRTIO_VSWAP_T_*; not migrated */
    uint64_t malformed;     /* requests answered UNSUPP or INVAL */
    /*
     * Test faults for the guest driver's tests, set with qom-set at any
     * time (x-stall-after, x-error-after): the value of popped at which
     * the device stops taking requests, or calls virtio_error(); 0: never.
     * Atomic; not migrated.
     */
    uint64_t popped;        /* requests taken since realize */
    uint64_t x_stall_at;
    uint64_t x_error_at;
};


/* The store is shared with a migration peer (vswap-store shared=on). */
static inline bool virtio_vswap_shared(VirtIOVswap *s)
{
    return s->conf.store && s->conf.store->cfg.shared;
}

#endif /* HW_VSWAP_VIRTIO_VSWAP_H */
