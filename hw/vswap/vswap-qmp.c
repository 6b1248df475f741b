/*
 * QMP and HMP commands of vswap (query-vswap, vswap-compact, info vswap),
 * serving every registered virtio-vswap device.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Like system/balloon.c, this file is built whether or not the device is,
 * and devices register themselves at realize: a QAPI module is common code
 * and cannot depend on a target's device configuration.
 */

#include "qemu/osdep.h"
#include "qemu/queue.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-vswap.h"
#include "hw/qdev-core.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "vswap-qmp.h"

typedef struct VswapQmpDevice {
    DeviceState *dev;
    const VswapQmpOps *ops;
    void *opaque;
    QTAILQ_ENTRY(VswapQmpDevice) next;
} VswapQmpDevice;

static QTAILQ_HEAD(, VswapQmpDevice) vswap_qmp_devices =
    QTAILQ_HEAD_INITIALIZER(vswap_qmp_devices);

void vswap_qmp_register(DeviceState *dev, const VswapQmpOps *ops, void *opaque)
{
    VswapQmpDevice *d = g_new0(VswapQmpDevice, 1);

    d->dev = dev;
    d->ops = ops;
    d->opaque = opaque;
    QTAILQ_INSERT_TAIL(&vswap_qmp_devices, d, next);
}

void vswap_qmp_unregister(DeviceState *dev)
{
    VswapQmpDevice *d;

    QTAILQ_FOREACH(d, &vswap_qmp_devices, next) {
        if (d->dev == dev) {
            QTAILQ_REMOVE(&vswap_qmp_devices, d, next);
            g_free(d);
            return;
        }
    }
}

static bool vswap_qmp_any(Error **errp)
{
    if (QTAILQ_EMPTY(&vswap_qmp_devices)) {
        error_set(errp, ERROR_CLASS_DEVICE_NOT_ACTIVE,
                  "No virtio-vswap device has been activated");
        return false;
    }
    return true;
}

VswapInfoList *qmp_query_vswap(Error **errp)
{
    VswapInfoList *head = NULL, **tail = &head;
    VswapQmpDevice *d;

    if (!vswap_qmp_any(errp)) {
        return NULL;
    }
    QTAILQ_FOREACH(d, &vswap_qmp_devices, next) {
        VswapInfo *info = g_new0(VswapInfo, 1);

        info->id = g_strdup(d->dev->id ? d->dev->id : "");
        info->qom_path = object_get_canonical_path(OBJECT(d->dev));
        d->ops->query(d->opaque, info);
        QAPI_LIST_APPEND(tail, info);
    }
    return head;
}

void qmp_vswap_compact(const char *id, bool has_full, bool full, Error **errp)
{
    g_autofree char *path = NULL;
    VswapQmpDevice *d;
    bool found = false;

    if (!vswap_qmp_any(errp)) {
        return;
    }
    QTAILQ_FOREACH(d, &vswap_qmp_devices, next) {
        if (id) {
            g_free(path);
            path = object_get_canonical_path(OBJECT(d->dev));
            if (g_strcmp0(d->dev->id, id) && strcmp(path, id)) {
                continue;
            }
        }
        found = true;
        if (!d->ops->compact(d->opaque, has_full ? full : true, errp)) {
            return;
        }
    }
    if (!found) {
        error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND,
                  "Device '%s' is not a virtio-vswap device", id);
    }
}

static void hmp_info_vswap_requests(Monitor *mon, const char *name,
                                    VswapRequestStats *r)
{
    monitor_printf(mon, "  %-8s %" PRIu64 " requests, %" PRIu64 " entries, %"
                   PRIu64 " errors, latency p50 %" PRIu64 " us, p99 %" PRIu64
                   " us\n", name, r->requests, r->entries, r->errors,
                   r->latency_p50_us, r->latency_p99_us);
}

/* One direction of the last migration, if there was one. */
static void hmp_info_vswap_migration(Monitor *mon, const char *what,
                                     VswapMigrationStats *m)
{
    if (!m) {
        return;
    }
    monitor_printf(mon, "  migrated %s %" PRIu64 " records (%" PRIu64
                   " bytes), %" PRIu64 " references, %" PRIu64
                   " group member references, %" PRIu64 " dictionaries\n",
                   what, m->records, m->record_bytes, m->refs,
                   m->member_refs, m->dicts);
}

void hmp_info_vswap(Monitor *mon, const QDict *qdict)
{
    Error *err = NULL;
    VswapInfoList *list = qmp_query_vswap(&err), *l;

    if (hmp_handle_error(mon, err)) {
        return;
    }
    for (l = list; l; l = l->next) {
        VswapInfo *i = l->value;

        monitor_printf(mon, "%s (%s): %" PRIu64 " slots\n", i->id,
                       i->qom_path, i->capacity);
        monitor_printf(mon, "  pages    %" PRIu64 " fill, %" PRIu64
                       " memory, %" PRIu64 " disk; ratio %.2f\n",
                       i->pages_fill, i->pages_mem, i->pages_disk,
                       i->compression_ratio);
        monitor_printf(mon, "  memory   %" PRIu64 " bytes (%" PRIu64
                       " live), metadata %" PRIu64 " bytes\n",
                       i->mem_bytes, i->mem_live_bytes, i->meta_bytes);
        monitor_printf(mon, "  disk     %" PRIu64 " bytes of segments (%"
                       PRIu64 " live), file %" PRIu64 " bytes\n",
                       i->disk_bytes, i->disk_live_bytes, i->disk_file_bytes);
        if (i->node) {
            monitor_printf(mon, "  node     %s\n", i->node);
        }
        hmp_info_vswap_requests(mon, "write", i->write);
        hmp_info_vswap_requests(mon, "read", i->read);
        hmp_info_vswap_requests(mon, "discard", i->discard);
        monitor_printf(mon, "  errors   %" PRIu64 " malformed requests, %"
                       PRIu64 " checksum, %" PRIu64 " no space, %" PRIu64
                       " writeback\n", i->malformed_requests,
                       i->checksum_errors, i->enospc, i->writeback_errors);
        monitor_printf(mon, "  compact  %" PRIu64 " passes, %" PRIu64
                       " bytes moved\n", i->compactions, i->compacted_bytes);
        if (i->disk_groups) {
            monitor_printf(mon, "  groups   %" PRIu64 " made of %" PRIu64
                           " pages; %" PRIu64 " split by compaction\n",
                           i->disk_groups, i->disk_group_pages,
                           i->disk_group_splits);
        }
        hmp_info_vswap_migration(mon, "sent", i->migration_sent);
        hmp_info_vswap_migration(mon, "loaded", i->migration_received);
        if (i->dict_trainings || i->dicts) {
            monitor_printf(mon, "  dict     %" PRIu64 " in use, %" PRIu64
                           " held (%" PRIu64 " bytes); %" PRIu64 " trained, %"
                           PRIu64 " not used; gain %.3f\n", i->dict_id,
                           i->dicts, i->dict_bytes, i->dict_trainings,
                           i->dict_rejected, i->dict_gain);
            monitor_printf(mon, "           %" PRIu64 " retrained on drift, %"
                           PRIu64 " retired; drift %.3f\n",
                           i->dict_retrainings, i->dict_retired,
                           i->dict_drift);
        }
    }
    qapi_free_VswapInfoList(list);
}
