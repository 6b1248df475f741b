/*
 * Live migration of virtio-vswap: the page store's records travel with the
 * VM as they are stored (compressed), iteratively, with dirty tracking.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The virtio state itself goes through the device's VMStateDescription.
 * The store is an iterative section ("virtio-vswap-store"):
 *
 *   save_setup           start dirty tracking: every stored slot is dirty
 *   save_live_iterate    send dirty slots' records within the rate limit
 *   complete_precopy     (VM stopped, store drained) send what is left
 *
 * A slot written or discarded after it was sent becomes dirty again and is
 * sent again; moves between memory and disk do not dirty it.  Records are
 * taken from the store in batches, in the store's owner thread (the main
 * loop, or the device's IOThread: virtio-vswap-dataplane.c) with the BQL
 * held for each batch, and written to the stream from the migration
 * thread without it.
 *
 * Stream, all integers big-endian:
 *
 *   HEADER  u8 flag, u32 magic, u32 version, u64 capacity, u32 flags
 *   RECORD  u8 flag, u64 slot, u8 kind, u32 fill, u32 len, u32 crc,
 *           len bytes of payload (RAW, ZSTD, ZSTD_DICT, DICT); for
 *           ZSTD_DICT (a record that needs a dictionary) and DICT (the
 *           store's zstd dictionary itself, slot 0) the fill field holds
 *           the dictionary's id.  The source sends each dictionary before
 *           the first record or REF that needs it; an older destination
 *           refuses these kinds as bad records.
 *   REF     u8 flag, u64 slot, u64 address, u32 len: shared storage
 *           only, the record is in the store file both sides open
 *   MEMBER  u8 flag, u64 slot, u64 address, u32 len, u8 member: shared
 *           storage only, the page is member @member of the group record
 *           at @address in the file (the disk tier's groups of pages, one
 *           zstd frame each) and owns @len of its bytes; an older
 *           destination refuses the flag.  Without shared storage a
 *           member's page travels as a RECORD of its own.
 *   EOS     u8 flag: end of this section's chunk
 *
 * The destination checks every field before the store sees it, and the
 * store checks the payload (CRC32C, and that it decodes to one page).
 *
 * Shared storage (vswap-store shared=on on both sides, same file): records
 * already written to the file travel as REFs.  At the final pass the
 * source flushes its store, sends the rest and fences the store: from
 * then on it does not write to the file, unless the migration fails and
 * the fence is lifted.  Then the block layer inactivates the store's node,
 * as it does a disk's, and reactivates it if the migration fails.  The
 * destination's node is inactive until the migration completes; its store
 * takes the file over (is activated) when the VM starts, after the block
 * layer has activated the node and before the queues are served.
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#include "migration/misc.h"
#include "migration/qemu-file-types.h"
#include "migration/register.h"
#include "migration/vmstate.h"
#include "migration/qemu-file.h"
#include "system/runstate.h"
#include "trace.h"
#include "virtio-vswap.h"
#include "virtio-vswap-dataplane.h"
#include "virtio-vswap-migration.h"

#define VSWAP_MIG_FLAG_HEADER   0x01
#define VSWAP_MIG_FLAG_RECORD   0x02
#define VSWAP_MIG_FLAG_EOS      0x03
#define VSWAP_MIG_FLAG_REF      0x04
#define VSWAP_MIG_FLAG_MEMBER   0x05

/* Header flags */
#define VSWAP_MIG_SHARED        (1u << 0)

#define VSWAP_MIG_MAGIC         0x5653574d      /* "VSWM" */
#define VSWAP_MIG_VERSION       1

/* Records per save_live_iterate call, so that other sections get a turn. */
#define VSWAP_MIG_CHUNK         1024

/* Bytes of a record on the wire, without payload. */
#define VSWAP_MIG_RECORD_HDR    (1 + 8 + 1 + 4 + 4 + 4)

/* Records taken from the store at a time (with the BQL held). */
#define VSWAP_MIG_BATCH         64

/*
 * A batch of records taken from the store in its owner thread, to be
 * written to the stream by the migration thread.
 */
struct VirtIOVswapMigBatch {
    VirtIOVswap *s;
    unsigned max;                       /* records to take */
    unsigned n;                         /* records taken */
    int ret;                            /* < 0: a record failed to export */
    uint64_t bad_slot;                  /* ... this one */
    VswapRecordInfo info[VSWAP_MIG_BATCH];
    uint8_t payload[VSWAP_MIG_BATCH][VSWAP_STORE_PAGE_SIZE];
};

/* The average record payload, for pending-size estimates. */
static void virtio_vswap_mig_update_estimate(VirtIOVswap *s)
{
    VswapStoreStats st;
    uint64_t pages;

    vswap_store_get_stats(s->store, &st);
    pages = st.pages_mem + st.pages_disk;
    qatomic_set(&s->mig_avg_record, pages ? st.payload_bytes / pages : 0);
}

/* Take up to b->max dirty records.  Context: the store's owner thread */
static void virtio_vswap_mig_collect_bh(void *opaque)
{
    VirtIOVswapMigBatch *b = opaque;
    VirtIOVswap *s = b->s;

    b->n = 0;
    b->ret = 0;
    while (b->n < b->max) {
        int ret = vswap_store_export_next(s->store, &b->info[b->n],
                                          b->payload[b->n]);

        if (ret <= 0) {
            b->ret = ret;
            b->bad_slot = b->info[b->n].slot;
            break;
        }
        b->n++;
    }
    qatomic_set(&s->mig_pending, vswap_store_export_pending(s->store));
    virtio_vswap_mig_update_estimate(s);
}

static bool virtio_vswap_mig_has_dict(uint32_t kind)
{
    return kind == VSWAP_RECORD_ZSTD_DICT || kind == VSWAP_RECORD_DICT;
}

/* A migration starts: count it from zero.  BQL held */
static void virtio_vswap_mig_counts_start(VirtIOVswapMigCounts *c)
{
    stat64_set(&c->records, 0);
    stat64_set(&c->record_bytes, 0);
    stat64_set(&c->refs, 0);
    stat64_set(&c->member_refs, 0);
    stat64_set(&c->dicts, 0);
    c->started = true;
}

/* Count one element of the stream, sent or loaded. */
static void virtio_vswap_mig_count(VirtIOVswapMigCounts *c,
                                   const VswapRecordInfo *info)
{
    switch (info->kind) {
    case VSWAP_RECORD_REF:
        stat64_add(&c->refs, 1);
        break;
    case VSWAP_RECORD_MEMBER_REF:
        stat64_add(&c->member_refs, 1);
        break;
    case VSWAP_RECORD_DICT:
        stat64_add(&c->dicts, 1);
        break;
    default:
        stat64_add(&c->records, 1);
        stat64_add(&c->record_bytes, info->len);
        break;
    }
}

static VswapMigrationStats *virtio_vswap_mig_counts(VirtIOVswapMigCounts *c)
{
    VswapMigrationStats *m = g_new0(VswapMigrationStats, 1);

    m->records = stat64_get(&c->records);
    m->record_bytes = stat64_get(&c->record_bytes);
    m->refs = stat64_get(&c->refs);
    m->member_refs = stat64_get(&c->member_refs);
    m->dicts = stat64_get(&c->dicts);
    return m;
}

void virtio_vswap_migration_query(VirtIOVswap *s, VswapInfo *info)
{
    if (s->mig_sent.started) {
        info->migration_sent = virtio_vswap_mig_counts(&s->mig_sent);
    }
    if (s->mig_received.started) {
        info->migration_received = virtio_vswap_mig_counts(&s->mig_received);
    }
}

static void virtio_vswap_mig_put_record(VirtIOVswap *s, QEMUFile *f,
                                        const VswapRecordInfo *info,
                                        const uint8_t *payload)
{
    trace_virtio_vswap_mig_record(s, info->slot, info->kind, info->len);
    virtio_vswap_mig_count(&s->mig_sent, info);
    if (info->kind == VSWAP_RECORD_REF ||
        info->kind == VSWAP_RECORD_MEMBER_REF) {
        bool member = info->kind == VSWAP_RECORD_MEMBER_REF;

        qemu_put_byte(f, member ? VSWAP_MIG_FLAG_MEMBER : VSWAP_MIG_FLAG_REF);
        qemu_put_be64(f, info->slot);
        qemu_put_be64(f, info->addr);
        qemu_put_be32(f, info->len);
        if (member) {
            qemu_put_byte(f, info->member);
        }
        return;
    }
    qemu_put_byte(f, VSWAP_MIG_FLAG_RECORD);
    qemu_put_be64(f, info->slot);
    qemu_put_byte(f, info->kind);
    /* A dictionary's id travels where a fill value would (no kind has both). */
    qemu_put_be32(f, virtio_vswap_mig_has_dict(info->kind) ? info->dict :
                                                             info->fill);
    qemu_put_be32(f, info->len);
    qemu_put_be32(f, info->crc);
    if (info->len) {
        qemu_put_buffer(f, payload, info->len);
    }
}

/*
 * Send up to @max records, stopping at the rate limit or when nothing is
 * dirty; the pending count is refreshed either way.  @take_bql: the
 * caller does not hold the BQL, take it for each batch.  Returns 0 or
 * -errno.
 */
static int virtio_vswap_mig_send(VirtIOVswap *s, QEMUFile *f, unsigned max,
                                 bool rate_limited, bool take_bql)
{
    VirtIOVswapMigBatch *b = s->mig_batch;
    unsigned sent = 0;

    do {
        if (rate_limited && migration_rate_exceeded(f)) {
            break;
        }
        b->max = MIN(VSWAP_MIG_BATCH, max - sent);
        if (take_bql) {
            bql_lock();
        }
        virtio_vswap_run_in_store_ctx(s, virtio_vswap_mig_collect_bh, b);
        if (take_bql) {
            bql_unlock();
        }
        for (unsigned i = 0; i < b->n; i++) {
            virtio_vswap_mig_put_record(s, f, &b->info[i], b->payload[i]);
        }
        sent += b->n;
        if (b->ret < 0) {
            /* The source cannot read its own copy: fail, keep running. */
            error_report("virtio-vswap: slot %" PRIu64 " failed verification;"
                         " cannot migrate it", b->bad_slot);
            return b->ret;
        }
    } while (b->n == b->max && sent < max);
    return 0;
}

static bool virtio_vswap_mig_is_active(void *opaque)
{
    VirtIOVswap *s = opaque;

    return s->store != NULL;
}

/* Context: the store's owner thread */
static void virtio_vswap_mig_setup_bh(void *opaque)
{
    VirtIOVswap *s = opaque;

    vswap_store_drain(s->store);
    vswap_store_export_start(s->store);
    qatomic_set(&s->mig_pending, vswap_store_export_pending(s->store));
    virtio_vswap_mig_update_estimate(s);
}

/* Context: BQL held */
static int virtio_vswap_mig_save_setup(QEMUFile *f, void *opaque, Error **errp)
{
    VirtIOVswap *s = opaque;

    s->mig_batch = g_new0(VirtIOVswapMigBatch, 1);
    s->mig_batch->s = s;
    virtio_vswap_mig_counts_start(&s->mig_sent);
    virtio_vswap_run_in_store_ctx(s, virtio_vswap_mig_setup_bh, s);
    qemu_put_byte(f, VSWAP_MIG_FLAG_HEADER);
    qemu_put_be32(f, VSWAP_MIG_MAGIC);
    qemu_put_be32(f, VSWAP_MIG_VERSION);
    qemu_put_be64(f, s->capacity);
    qemu_put_be32(f, virtio_vswap_shared(s) ? VSWAP_MIG_SHARED : 0);
    qemu_put_byte(f, VSWAP_MIG_FLAG_EOS);
    return qemu_file_get_error(f);
}

/* Context: migration thread without the BQL (with it during savevm). */
static int virtio_vswap_mig_save_iterate(QEMUFile *f, void *opaque)
{
    VirtIOVswap *s = opaque;
    int ret;

    ret = virtio_vswap_mig_send(s, f, VSWAP_MIG_CHUNK, true, !bql_locked());
    qemu_put_byte(f, VSWAP_MIG_FLAG_EOS);
    if (ret < 0) {
        return ret;
    }
    ret = qemu_file_get_error(f);
    return ret ? ret : qatomic_read(&s->mig_pending) == 0;
}

/*
 * Shared storage: write what is buffered to the file and make it durable,
 * so that the final pass describes it as references.  Context: the
 * store's owner thread
 */
static void virtio_vswap_mig_flush_shared_bh(void *opaque)
{
    VirtIOVswap *s = opaque;
    int ret;

    vswap_store_drain(s->store);
    ret = vswap_store_flush(s->store);
    if (ret < 0) {
        /* What could not be written stays buffered and travels as data. */
        warn_report("virtio-vswap: could not flush the shared store file: %s",
                    strerror(-ret));
    }
}

/* Context: the store's owner thread */
static void virtio_vswap_drain_bh(void *opaque)
{
    VirtIOVswap *s = opaque;

    vswap_store_drain(s->store);
}

/* Context: the store's owner thread */
static void virtio_vswap_mig_fence_bh(void *opaque)
{
    VirtIOVswap *s = opaque;

    vswap_store_fence(s->store, true);
}

/*
 * Context: VM stopped, BQL held.  The stopped dataplane has handed the
 * store to the main loop, so the hops below are direct calls.
 */
static int virtio_vswap_mig_save_complete(QEMUFile *f, void *opaque)
{
    VirtIOVswap *s = opaque;
    int ret;

    /*
     * A migration flushed the shared file when it stopped the VM, before
     * the block layer inactivated the node; a snapshot flushes here.
     */
    if (virtio_vswap_shared(s) &&
        vswap_store_object_active(s->conf.store)) {
        virtio_vswap_run_in_store_ctx(s, virtio_vswap_mig_flush_shared_bh, s);
    } else {
        virtio_vswap_run_in_store_ctx(s, virtio_vswap_drain_bh, s);
    }
    ret = virtio_vswap_mig_send(s, f, UINT_MAX, false, false);
    qemu_put_byte(f, VSWAP_MIG_FLAG_EOS);
    if (ret == 0 && virtio_vswap_shared(s)) {
        /* The destination owns the file from here, unless this fails. */
        virtio_vswap_run_in_store_ctx(s, virtio_vswap_mig_fence_bh, s);
    }
    return ret < 0 ? ret : qemu_file_get_error(f);
}

/* Context: the store's owner thread */
static void virtio_vswap_mig_export_stop_bh(void *opaque)
{
    VirtIOVswap *s = opaque;

    vswap_store_export_stop(s->store);
}

/* Context: BQL held */
static void virtio_vswap_mig_save_cleanup(void *opaque)
{
    VirtIOVswap *s = opaque;

    if (s->store) {
        virtio_vswap_run_in_store_ctx(s, virtio_vswap_mig_export_stop_bh, s);
    }
    g_clear_pointer(&s->mig_batch, g_free);
    qatomic_set(&s->mig_pending, 0);
}

/*
 * Context: migration thread, without the BQL.  The count of the last
 * iteration: cheap, and what QEMU asks for at every iteration.
 */
static void virtio_vswap_mig_pending(void *opaque, uint64_t *must_precopy,
                                     uint64_t *can_postcopy)
{
    VirtIOVswap *s = opaque;
    uint64_t pending = qatomic_read(&s->mig_pending);
    uint64_t avg = qatomic_read(&s->mig_avg_record);

    *must_precopy += pending * (VSWAP_MIG_RECORD_HDR + avg);
}

/* Context: the store's owner thread */
static void virtio_vswap_mig_recount_bh(void *opaque)
{
    VirtIOVswap *s = opaque;

    qatomic_set(&s->mig_pending, vswap_store_export_pending(s->store));
}

/*
 * Context: migration thread, without the BQL.  QEMU asks for this just
 * before it decides to switch over: count the slots the guest dirtied
 * since the last iteration too, so that the final pass, sent while the
 * guest is stopped, fits the downtime limit.
 */
static void virtio_vswap_mig_pending_exact(void *opaque,
                                           uint64_t *must_precopy,
                                           uint64_t *can_postcopy)
{
    VirtIOVswap *s = opaque;
    bool locked = bql_locked();

    if (!locked) {
        bql_lock();
    }
    if (s->mig_batch) {
        virtio_vswap_run_in_store_ctx(s, virtio_vswap_mig_recount_bh, s);
    }
    if (!locked) {
        bql_unlock();
    }
    virtio_vswap_mig_pending(opaque, must_precopy, can_postcopy);
}

/* Check a record's fields; the store checks the payload itself. */
static int virtio_vswap_mig_load_record(VirtIOVswap *s, QEMUFile *f)
{
    VswapRecordInfo info = { 0 };
    bool has_payload;
    int ret;

    /* One field per statement: initializers have no evaluation order. */
    info.slot = qemu_get_be64(f);
    info.kind = qemu_get_byte(f);
    info.fill = qemu_get_be32(f);
    info.len = qemu_get_be32(f);
    info.crc = qemu_get_be32(f);
    if (virtio_vswap_mig_has_dict(info.kind)) {
        info.dict = info.fill;
        info.fill = 0;
    }
    has_payload = info.kind == VSWAP_RECORD_RAW ||
                  info.kind == VSWAP_RECORD_ZSTD ||
                  virtio_vswap_mig_has_dict(info.kind);

    if (qemu_file_get_error(f)) {
        return qemu_file_get_error(f);
    }
    if (info.slot >= s->capacity || info.kind == VSWAP_RECORD_REF ||
        info.kind > VSWAP_RECORD_DICT ||
        (has_payload ? info.len == 0 || info.len > VSWAP_STORE_PAGE_SIZE :
                       info.len != 0)) {
        error_report("virtio-vswap: bad record in migration stream"
                     " (slot %" PRIu64 ", kind %u, length %u)",
                     info.slot, info.kind, info.len);
        return -EINVAL;
    }
    if (info.len &&
        qemu_get_buffer(f, s->mig_buf, info.len) != (size_t)info.len) {
        return qemu_file_get_error(f) ?: -EIO;
    }
    ret = vswap_store_import(s->store, &info, s->mig_buf);
    if (ret >= 0) {
        virtio_vswap_mig_count(&s->mig_received, &info);
    } else if (info.kind == VSWAP_RECORD_DICT) {
        error_report("virtio-vswap: bad compression dictionary %u (%u bytes)"
                     " in the migration stream", info.dict, info.len);
    } else {
        error_report("virtio-vswap: cannot store migrated slot %" PRIu64
                     ": %s", info.slot, strerror(-ret));
    }
    return ret;
}

/*
 * A reference into the shared store file, to a record of one page or to
 * a member of a group record (@member); the store checks its shape.
 */
static int virtio_vswap_mig_load_ref(VirtIOVswap *s, QEMUFile *f, bool member)
{
    VswapRecordInfo info = {
        .kind = member ? VSWAP_RECORD_MEMBER_REF : VSWAP_RECORD_REF,
    };
    int ret;

    info.slot = qemu_get_be64(f);
    info.addr = qemu_get_be64(f);
    info.len = qemu_get_be32(f);
    info.member = member ? qemu_get_byte(f) : 0;

    if (qemu_file_get_error(f)) {
        return qemu_file_get_error(f);
    }
    if (!virtio_vswap_shared(s) || info.slot >= s->capacity) {
        ret = -EINVAL;
    } else {
        ret = vswap_store_import(s->store, &info, NULL);
    }
    if (ret >= 0) {
        virtio_vswap_mig_count(&s->mig_received, &info);
    } else {
        g_autofree char *of = member ?
            g_strdup_printf(", group member %u", info.member) : g_strdup("");

        error_report("virtio-vswap: cannot load shared-store reference"
                     " (slot %" PRIu64 ", address 0x%" PRIx64 ", length %u%s)"
                     " from the migration stream: %s", info.slot, info.addr,
                     info.len, of, strerror(-ret));
    }
    return ret;
}

static int virtio_vswap_mig_load_header(VirtIOVswap *s, QEMUFile *f)
{
    uint32_t magic = qemu_get_be32(f);
    uint32_t version = qemu_get_be32(f);
    uint64_t capacity = qemu_get_be64(f);
    uint32_t flags = qemu_get_be32(f);

    if (qemu_file_get_error(f)) {
        return qemu_file_get_error(f);
    }
    if (magic != VSWAP_MIG_MAGIC || version != VSWAP_MIG_VERSION) {
        error_report("virtio-vswap: not a vswap migration stream"
                     " (magic 0x%x, version %u)", magic, version);
        return -EINVAL;
    }
    if (capacity != s->capacity) {
        error_report("virtio-vswap: source has %" PRIu64 " slots, this"
                     " device %" PRIu64, capacity, s->capacity);
        return -EINVAL;
    }
    if (flags & ~VSWAP_MIG_SHARED ||
        !!(flags & VSWAP_MIG_SHARED) != virtio_vswap_shared(s)) {
        error_report("virtio-vswap: the source's store is %sshared, this"
                     " one is %sshared; both need shared=on and the same"
                     " file, or neither",
                     flags & VSWAP_MIG_SHARED ? "" : "not ",
                     virtio_vswap_shared(s) ? "" : "not ");
        return -EINVAL;
    }
    virtio_vswap_mig_counts_start(&s->mig_received);
    if (virtio_vswap_shared(s)) {
        /* The shared file already holds the source's data: keep it. */
        return 0;
    }
    /* loadvm into a running store, or a retried migration: start empty. */
    vswap_store_drain(s->store);
    vswap_store_discard(s->store, 0, s->capacity);
    return 0;
}

/*
 * Context: main loop, VM stopped.  A stopped VM has no dataplane running,
 * so the store is the main loop's and the load uses it directly.
 */
static int virtio_vswap_mig_load(QEMUFile *f, void *opaque, int version_id)
{
    VirtIOVswap *s = opaque;
    int ret = 0;

    if (s->store_ctx != qemu_get_aio_context()) {
        error_report("virtio-vswap: cannot load a store section while the"
                     " device serves requests");
        return -EBUSY;
    }
    if (!s->mig_buf) {
        s->mig_buf = g_malloc(VSWAP_STORE_PAGE_SIZE);
    }
    while (ret == 0) {
        uint8_t flag = qemu_get_byte(f);

        if (qemu_file_get_error(f)) {
            return qemu_file_get_error(f);
        }
        switch (flag) {
        case VSWAP_MIG_FLAG_HEADER:
            ret = virtio_vswap_mig_load_header(s, f);
            break;
        case VSWAP_MIG_FLAG_RECORD:
            ret = virtio_vswap_mig_load_record(s, f);
            break;
        case VSWAP_MIG_FLAG_REF:
        case VSWAP_MIG_FLAG_MEMBER:
            ret = virtio_vswap_mig_load_ref(s, f,
                                            flag == VSWAP_MIG_FLAG_MEMBER);
            break;
        case VSWAP_MIG_FLAG_EOS:
            return 0;
        default:
            error_report("virtio-vswap: unknown flag 0x%x in migration"
                         " stream", flag);
            return -EINVAL;
        }
    }
    return ret;
}

/*
 * A load that failed leaves the store fenced: the shared file stays the
 * source's.  A successful one hands it over when the VM starts
 * (virtio_vswap_vm_state_prepare()).
 */
static int virtio_vswap_mig_load_cleanup(void *opaque)
{
    VirtIOVswap *s = opaque;

    g_clear_pointer(&s->mig_buf, g_free);
    return 0;
}

static const SaveVMHandlers virtio_vswap_mig_handlers = {
    .save_setup = virtio_vswap_mig_save_setup,
    .save_live_iterate = virtio_vswap_mig_save_iterate,
    .save_live_complete_precopy = virtio_vswap_mig_save_complete,
    .save_cleanup = virtio_vswap_mig_save_cleanup,
    .state_pending_estimate = virtio_vswap_mig_pending,
    .state_pending_exact = virtio_vswap_mig_pending_exact,
    .is_active = virtio_vswap_mig_is_active,
    .load_state = virtio_vswap_mig_load,
    .load_cleanup = virtio_vswap_mig_load_cleanup,
};

/*
 * When the VM stops, finish every request in flight so that the virtqueue
 * state saved next has them all on the used ring.  (With ioeventfds, the
 * transport's stop of the dataplane drains as well.)  A migration that
 * stops the VM to switch over inactivates the block nodes next: a shared
 * store file is flushed now, while it may still be written.
 */
static void virtio_vswap_vm_state_change(void *opaque, bool running,
                                         RunState state)
{
    VirtIOVswap *s = opaque;

    if (running || !s->store) {
        return;
    }
    if (state == RUN_STATE_FINISH_MIGRATE && virtio_vswap_shared(s) &&
        vswap_store_object_active(s->conf.store)) {
        virtio_vswap_run_in_store_ctx(s, virtio_vswap_mig_flush_shared_bh, s);
    } else {
        virtio_vswap_run_in_store_ctx(s, virtio_vswap_drain_bh, s);
    }
}

/* Context: the store's owner thread */
static void virtio_vswap_take_file_bh(void *opaque)
{
    VirtIOVswap *s = opaque;

    /* Destination: the migration is complete (a no-op on later starts). */
    vswap_store_activate(s->store);
    /*
     * Source: resumed after a migration that completed on this side but
     * not on the destination ("cont" reactivated the node, as it does a
     * disk's, so the file is ours again).  A no-op if not fenced.
     */
    vswap_store_fence(s->store, false);
}

/*
 * Shared storage: own the store file whenever the VM runs with the
 * store's node active.  The destination takes the file over once the
 * block layer has activated the node (process_incoming_migration_bh() or
 * "cont" do, before the VM starts) and before the guest runs: prepare
 * callbacks run before every VM change state handler, so before the
 * dataplane starts and serves the queues.  Until then the store is
 * fenced, and a failed incoming migration never gets here.  If the node
 * is still inactive (image locking refused it), the store stays fenced.
 * Context: BQL held.
 */
static void virtio_vswap_vm_state_prepare(void *opaque, bool running,
                                          RunState state)
{
    VirtIOVswap *s = opaque;

    if (!running || !virtio_vswap_shared(s)) {
        return;
    }
    if (!vswap_store_object_active(s->conf.store)) {
        error_report("virtio-vswap: the store's block node is inactive; the"
                     " store keeps off its file");
        return;
    }
    virtio_vswap_run_in_store_ctx(s, virtio_vswap_take_file_bh, s);
}

/* Context: the store's owner thread */
static void virtio_vswap_mig_unfence_bh(void *opaque)
{
    VirtIOVswap *s = opaque;

    vswap_store_fence(s->store, false);
}

/* A failed or cancelled migration hands the shared file back. */
static int virtio_vswap_mig_notify(NotifierWithReturn *notifier,
                                   MigrationEvent *e, Error **errp)
{
    VirtIOVswap *s = container_of(notifier, VirtIOVswap, mig_notifier);

    if (e->type == MIG_EVENT_PRECOPY_FAILED && virtio_vswap_shared(s)) {
        virtio_vswap_run_in_store_ctx(s, virtio_vswap_mig_unfence_bh, s);
    }
    return 0;
}

#define VSWAP_MIG_SECTION "virtio-vswap-store"

void virtio_vswap_migration_init(VirtIOVswap *s)
{
    g_autofree char *oid = vmstate_if_get_id(VMSTATE_IF(s));
    g_autofree char *id = oid ? g_strdup_printf("%s/" VSWAP_MIG_SECTION, oid) :
                          g_strdup(VSWAP_MIG_SECTION);

    s->vmstate_change = qemu_add_vm_change_state_handler_prio_full(
        virtio_vswap_vm_state_change, virtio_vswap_vm_state_prepare, s, 0);
    migration_add_notifier(&s->mig_notifier, virtio_vswap_mig_notify);
    register_savevm_live(id, VMSTATE_INSTANCE_ID_ANY, 1,
                         &virtio_vswap_mig_handlers, s);
}

void virtio_vswap_migration_cleanup(VirtIOVswap *s)
{
    migration_remove_notifier(&s->mig_notifier);
    unregister_savevm(VMSTATE_IF(s), VSWAP_MIG_SECTION, s);
    qemu_del_vm_change_state_handler(s->vmstate_change);
    g_clear_pointer(&s->mig_buf, g_free);
    g_clear_pointer(&s->mig_batch, g_free);
}
