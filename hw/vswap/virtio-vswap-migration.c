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
 * sent again; moves between memory and disk do not dirty it.  The store
 * belongs to the main loop, so the migration thread takes the BQL around
 * each bounded chunk of work.
 *
 * Stream, all integers big-endian:
 *
 *   HEADER  u8 flag, u32 magic, u32 version, u64 capacity
 *   RECORD  u8 flag, u64 slot, u8 kind, u32 fill, u32 len, u32 crc,
 *           len bytes of payload (RAW or ZSTD)
 *   EOS     u8 flag: end of this section's chunk
 *
 * The destination checks every field before the store sees it, and the
 * store checks the payload (CRC32C, and that it decodes to one page).
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
#include "virtio-vswap-migration.h"

#define VSWAP_MIG_FLAG_HEADER   0x01
#define VSWAP_MIG_FLAG_RECORD   0x02
#define VSWAP_MIG_FLAG_EOS      0x03

#define VSWAP_MIG_MAGIC         0x5653574d      /* "VSWM" */
#define VSWAP_MIG_VERSION       1

/* Records per chunk, so the BQL is never held for long. */
#define VSWAP_MIG_CHUNK         1024

/* Bytes of a record on the wire, without payload. */
#define VSWAP_MIG_RECORD_HDR    (1 + 8 + 1 + 4 + 4 + 4)

/* Send one record; returns its size on the wire or -errno. */
static int virtio_vswap_mig_send_one(VirtIOVswap *s, QEMUFile *f)
{
    VswapRecordInfo info;
    int ret = vswap_store_export_next(s->store, &info, s->mig_buf);

    if (ret <= 0) {
        if (ret < 0) {
            /* The source cannot read its own copy: fail, keep running. */
            error_report("virtio-vswap: slot %" PRIu64 " failed verification;"
                         " cannot migrate it", info.slot);
        }
        return ret;
    }
    qemu_put_byte(f, VSWAP_MIG_FLAG_RECORD);
    qemu_put_be64(f, info.slot);
    qemu_put_byte(f, info.kind);
    qemu_put_be32(f, info.fill);
    qemu_put_be32(f, info.len);
    qemu_put_be32(f, info.crc);
    if (info.len) {
        qemu_put_buffer(f, s->mig_buf, info.len);
    }
    trace_virtio_vswap_mig_record(s, info.slot, info.kind, info.len);
    return VSWAP_MIG_RECORD_HDR + info.len;
}

/* Send up to @max records, stopping at the rate limit; -errno on error. */
static int virtio_vswap_mig_send(VirtIOVswap *s, QEMUFile *f, unsigned max,
                                 bool rate_limited)
{
    for (unsigned i = 0; i < max; i++) {
        int ret;

        if (rate_limited && migration_rate_exceeded(f)) {
            break;
        }
        ret = virtio_vswap_mig_send_one(s, f);
        if (ret <= 0) {
            return ret;
        }
    }
    qatomic_set(&s->mig_pending, vswap_store_export_pending(s->store));
    return 0;
}

static bool virtio_vswap_mig_is_active(void *opaque)
{
    VirtIOVswap *s = opaque;

    return s->store != NULL;
}

static int virtio_vswap_mig_save_setup(QEMUFile *f, void *opaque, Error **errp)
{
    VirtIOVswap *s = opaque;

    vswap_store_drain(s->store);
    vswap_store_export_start(s->store);
    qatomic_set(&s->mig_pending, vswap_store_export_pending(s->store));
    virtio_vswap_migration_update_estimate(s);
    s->mig_buf = g_malloc(VSWAP_STORE_PAGE_SIZE);
    qemu_put_byte(f, VSWAP_MIG_FLAG_HEADER);
    qemu_put_be32(f, VSWAP_MIG_MAGIC);
    qemu_put_be32(f, VSWAP_MIG_VERSION);
    qemu_put_be64(f, s->capacity);
    qemu_put_byte(f, VSWAP_MIG_FLAG_EOS);
    return qemu_file_get_error(f);
}

/* Context: migration thread without the BQL (with it during savevm). */
static int virtio_vswap_mig_save_iterate(QEMUFile *f, void *opaque)
{
    VirtIOVswap *s = opaque;
    bool locked = bql_locked();
    int ret;

    if (!locked) {
        bql_lock();
    }
    ret = virtio_vswap_mig_send(s, f, VSWAP_MIG_CHUNK, true);
    virtio_vswap_migration_update_estimate(s);
    if (!locked) {
        bql_unlock();
    }
    qemu_put_byte(f, VSWAP_MIG_FLAG_EOS);
    if (ret < 0) {
        return ret;
    }
    ret = qemu_file_get_error(f);
    return ret ? ret : qatomic_read(&s->mig_pending) == 0;
}

/* Context: VM stopped, BQL held. */
static int virtio_vswap_mig_save_complete(QEMUFile *f, void *opaque)
{
    VirtIOVswap *s = opaque;
    int ret;

    vswap_store_drain(s->store);
    ret = virtio_vswap_mig_send(s, f, UINT_MAX, false);
    qemu_put_byte(f, VSWAP_MIG_FLAG_EOS);
    return ret < 0 ? ret : qemu_file_get_error(f);
}

static void virtio_vswap_mig_save_cleanup(void *opaque)
{
    VirtIOVswap *s = opaque;

    if (s->store) {
        vswap_store_export_stop(s->store);
    }
    g_clear_pointer(&s->mig_buf, g_free);
    qatomic_set(&s->mig_pending, 0);
}

/* Context: migration thread, without the BQL. */
static void virtio_vswap_mig_pending(void *opaque, uint64_t *must_precopy,
                                     uint64_t *can_postcopy)
{
    VirtIOVswap *s = opaque;
    uint64_t pending = qatomic_read(&s->mig_pending);
    uint64_t avg = qatomic_read(&s->mig_avg_record);

    *must_precopy += pending * (VSWAP_MIG_RECORD_HDR + avg);
}

/* Check a record's fields; the store checks the payload itself. */
static int virtio_vswap_mig_load_record(VirtIOVswap *s, QEMUFile *f)
{
    VswapRecordInfo info = {
        .slot = qemu_get_be64(f),
        .kind = qemu_get_byte(f),
        .fill = qemu_get_be32(f),
        .len = qemu_get_be32(f),
        .crc = qemu_get_be32(f),
    };
    bool has_payload = info.kind == VSWAP_RECORD_RAW ||
                       info.kind == VSWAP_RECORD_ZSTD;
    int ret;

    if (qemu_file_get_error(f)) {
        return qemu_file_get_error(f);
    }
    if (info.slot >= s->capacity || info.kind > VSWAP_RECORD_ZSTD ||
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
    if (ret < 0) {
        error_report("virtio-vswap: cannot store migrated slot %" PRIu64
                     ": %s", info.slot, strerror(-ret));
    }
    return ret;
}

static int virtio_vswap_mig_load_header(VirtIOVswap *s, QEMUFile *f)
{
    uint32_t magic = qemu_get_be32(f);
    uint32_t version = qemu_get_be32(f);
    uint64_t capacity = qemu_get_be64(f);

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
    /* loadvm into a running store, or a retried migration: start empty. */
    vswap_store_drain(s->store);
    vswap_store_discard(s->store, 0, s->capacity);
    return 0;
}

static int virtio_vswap_mig_load(QEMUFile *f, void *opaque, int version_id)
{
    VirtIOVswap *s = opaque;
    int ret = 0;

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
    .state_pending_exact = virtio_vswap_mig_pending,
    .is_active = virtio_vswap_mig_is_active,
    .load_state = virtio_vswap_mig_load,
    .load_cleanup = virtio_vswap_mig_load_cleanup,
};

/*
 * When the VM stops, finish every request in flight so that the virtqueue
 * state saved next has them all on the used ring.
 */
static void virtio_vswap_vm_state_change(void *opaque, bool running,
                                         RunState state)
{
    VirtIOVswap *s = opaque;

    if (!running && s->store) {
        vswap_store_drain(s->store);
    }
}

/* The average record payload, for pending-size estimates. */
void virtio_vswap_migration_update_estimate(VirtIOVswap *s)
{
    VswapStoreStats st;
    uint64_t pages;

    vswap_store_get_stats(s->store, &st);
    pages = st.pages_mem + st.pages_disk;
    qatomic_set(&s->mig_avg_record, pages ? st.payload_bytes / pages : 0);
}

#define VSWAP_MIG_SECTION "virtio-vswap-store"

void virtio_vswap_migration_init(VirtIOVswap *s)
{
    g_autofree char *oid = vmstate_if_get_id(VMSTATE_IF(s));
    g_autofree char *id = oid ? g_strdup_printf("%s/" VSWAP_MIG_SECTION, oid) :
                          g_strdup(VSWAP_MIG_SECTION);

    s->vmstate_change = qemu_add_vm_change_state_handler(
        virtio_vswap_vm_state_change, s);
    register_savevm_live(id, VMSTATE_INSTANCE_ID_ANY, 1,
                         &virtio_vswap_mig_handlers, s);
}

void virtio_vswap_migration_cleanup(VirtIOVswap *s)
{
    unregister_savevm(VMSTATE_IF(s), VSWAP_MIG_SECTION, s);
    qemu_del_vm_change_state_handler(s->vmstate_change);
    g_clear_pointer(&s->mig_buf, g_free);
}
