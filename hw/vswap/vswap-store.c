/*
 * vswap-store: the user-creatable object that owns a vswap page store, so
 * that a store file and its budgets are configured apart from the device:
 *
 *   -object vswap-store,id=vs0,path=/var/lib/vswap/vm1.store,size=8G,
 *           mem-budget=512M,level=1
 *   -device virtio-vswap-pci,store=vs0
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "block/aio-wait.h"
#include "qom/object_interfaces.h"
#include "system/runstate.h"
#include "vswap-store.h"

VswapStore *vswap_open_store(const VswapStoreConfig *cfg, Error **errp)
{
    g_autoptr(GError) err = NULL;
    VswapStore *store = vswap_store_open(cfg, &err);

    if (store) {
        return store;
    }
    /* Messages about a failed system call end with its strerror already. */
    if (err->domain == VSWAP_STORE_ERROR &&
        !g_str_has_suffix(err->message, g_strerror(err->code))) {
        error_setg_errno(errp, err->code, "%s", err->message);
    } else {
        error_setg(errp, "%s", err->message);
    }
    return NULL;
}

void vswap_run_in_ctx(AioContext *ctx, QEMUBHFunc *fn, void *opaque)
{
    if (!ctx || ctx == qemu_get_current_aio_context()) {
        fn(opaque);
    } else {
        aio_wait_bh_oneshot(ctx, fn, opaque);
    }
}

/*
 * Each property has its own accessors, as in backends/hostmem.c.  All but
 * mem-budget and mem-limit are fixed once complete() has opened the store.
 */

/* A property that may only be set before the store is opened. */
static bool vswap_store_check_unopened(VswapStoreObject *vso, const char *name,
                                       Error **errp)
{
    if (vso->store) {
        error_setg(errp, "vswap-store: '%s' cannot be changed once the store"
                   " is open", name);
        return false;
    }
    return true;
}

/* Context: the store's owner thread */
static void vswap_store_apply_budget(void *opaque)
{
    VswapStoreObject *vso = opaque;

    vswap_store_set_mem_budget(vso->store, vso->cfg.mem_budget,
                               vso->cfg.mem_limit);
}

/* qom-set at run time: takes effect at the next writeback pass. */
static void vswap_store_update_budget(VswapStoreObject *vso)
{
    if (vso->store) {
        vswap_run_in_ctx(vso->ctx, vswap_store_apply_budget, vso);
    }
}

static void vswap_store_prop_get_size(Object *obj, Visitor *v,
                                      const char *name, void *opaque,
                                      Error **errp)
{
    uint64_t value = VSWAP_STORE(obj)->size;

    visit_type_size(v, name, &value, errp);
}

static void vswap_store_prop_set_size(Object *obj, Visitor *v,
                                      const char *name, void *opaque,
                                      Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);
    uint64_t value;

    if (vswap_store_check_unopened(vso, name, errp) &&
        visit_type_size(v, name, &value, errp)) {
        /* complete() checks it against the page size and slot limit. */
        vso->size = value;
    }
}

static void vswap_store_prop_get_mem_budget(Object *obj, Visitor *v,
                                            const char *name, void *opaque,
                                            Error **errp)
{
    uint64_t value = VSWAP_STORE(obj)->cfg.mem_budget;

    visit_type_size(v, name, &value, errp);
}

static void vswap_store_prop_set_mem_budget(Object *obj, Visitor *v,
                                            const char *name, void *opaque,
                                            Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);
    uint64_t value;

    if (visit_type_size(v, name, &value, errp)) {
        vso->cfg.mem_budget = value;
        vswap_store_update_budget(vso);
    }
}

static void vswap_store_prop_get_mem_limit(Object *obj, Visitor *v,
                                           const char *name, void *opaque,
                                           Error **errp)
{
    uint64_t value = VSWAP_STORE(obj)->cfg.mem_limit;

    visit_type_size(v, name, &value, errp);
}

static void vswap_store_prop_set_mem_limit(Object *obj, Visitor *v,
                                           const char *name, void *opaque,
                                           Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);
    uint64_t value;

    if (visit_type_size(v, name, &value, errp)) {
        vso->cfg.mem_limit = value;
        vswap_store_update_budget(vso);
    }
}

static void vswap_store_prop_get_disk_limit(Object *obj, Visitor *v,
                                            const char *name, void *opaque,
                                            Error **errp)
{
    uint64_t value = VSWAP_STORE(obj)->cfg.disk_limit;

    visit_type_size(v, name, &value, errp);
}

static void vswap_store_prop_set_disk_limit(Object *obj, Visitor *v,
                                            const char *name, void *opaque,
                                            Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);
    uint64_t value;

    if (vswap_store_check_unopened(vso, name, errp) &&
        visit_type_size(v, name, &value, errp)) {
        vso->cfg.disk_limit = value;
    }
}

static void vswap_store_prop_get_segment_size(Object *obj, Visitor *v,
                                              const char *name, void *opaque,
                                              Error **errp)
{
    uint64_t value = VSWAP_STORE(obj)->cfg.segment_size;

    visit_type_size(v, name, &value, errp);
}

static void vswap_store_prop_set_segment_size(Object *obj, Visitor *v,
                                              const char *name, void *opaque,
                                              Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);
    uint64_t value;

    if (!vswap_store_check_unopened(vso, name, errp) ||
        !visit_type_size(v, name, &value, errp)) {
        return;
    }
    if (value > UINT32_MAX) {
        error_setg(errp, "vswap-store: '%s' is too large", name);
        return;
    }
    /* The store checks the range (64 KiB to 64 MiB, a power of 2). */
    vso->cfg.segment_size = value;
}

static void vswap_store_prop_get_compact_threshold(Object *obj, Visitor *v,
                                                   const char *name,
                                                   void *opaque, Error **errp)
{
    uint32_t value = VSWAP_STORE(obj)->cfg.compact_threshold;

    visit_type_uint32(v, name, &value, errp);
}

static void vswap_store_prop_set_compact_threshold(Object *obj, Visitor *v,
                                                   const char *name,
                                                   void *opaque, Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);
    uint32_t value;

    if (vswap_store_check_unopened(vso, name, errp) &&
        visit_type_uint32(v, name, &value, errp)) {
        vso->cfg.compact_threshold = value;
    }
}

static void vswap_store_prop_get_workers(Object *obj, Visitor *v,
                                         const char *name, void *opaque,
                                         Error **errp)
{
    uint32_t value = VSWAP_STORE(obj)->cfg.workers;

    visit_type_uint32(v, name, &value, errp);
}

static void vswap_store_prop_set_workers(Object *obj, Visitor *v,
                                         const char *name, void *opaque,
                                         Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);
    uint32_t value;

    if (vswap_store_check_unopened(vso, name, errp) &&
        visit_type_uint32(v, name, &value, errp)) {
        vso->cfg.workers = value;
    }
}

static void vswap_store_prop_get_level(Object *obj, Visitor *v,
                                       const char *name, void *opaque,
                                       Error **errp)
{
    int32_t value = VSWAP_STORE(obj)->cfg.level;

    visit_type_int32(v, name, &value, errp);
}

static void vswap_store_prop_set_level(Object *obj, Visitor *v,
                                       const char *name, void *opaque,
                                       Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);
    int32_t value;

    if (vswap_store_check_unopened(vso, name, errp) &&
        visit_type_int32(v, name, &value, errp)) {
        vso->cfg.level = value;
    }
}

static char *vswap_store_prop_get_path(Object *obj, Error **errp)
{
    return g_strdup(VSWAP_STORE(obj)->cfg.path);
}

static void vswap_store_prop_set_path(Object *obj, const char *value,
                                      Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);

    if (vswap_store_check_unopened(vso, "path", errp)) {
        g_free((char *)vso->cfg.path);
        vso->cfg.path = g_strdup(value);
    }
}

static bool vswap_store_prop_get_direct_io(Object *obj, Error **errp)
{
    return VSWAP_STORE(obj)->cfg.direct_io;
}

static void vswap_store_prop_set_direct_io(Object *obj, bool value,
                                           Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);

    if (vswap_store_check_unopened(vso, "direct-io", errp)) {
        vso->cfg.direct_io = value;
    }
}

static bool vswap_store_prop_get_shared(Object *obj, Error **errp)
{
    return VSWAP_STORE(obj)->cfg.shared;
}

static void vswap_store_prop_set_shared(Object *obj, bool value, Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);

    if (vswap_store_check_unopened(vso, "shared", errp)) {
        vso->cfg.shared = value;
    }
}

static void vswap_store_complete(UserCreatable *uc, Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(uc);

    if (vso->size == 0 || vso->size % VSWAP_STORE_PAGE_SIZE ||
        vso->size / VSWAP_STORE_PAGE_SIZE > VSWAP_STORE_MAX_SLOTS) {
        error_setg(errp, "vswap-store: 'size' must be a non-zero multiple of"
                   " 4 KiB, at most 16 TiB");
        return;
    }
    vso->cfg.capacity = vso->size / VSWAP_STORE_PAGE_SIZE;
    /*
     * A shared store of a QEMU waiting for a migration is the source's
     * file: open it as it is, and touch it only once the migration is done.
     */
    vso->cfg.incoming = vso->cfg.shared &&
                        runstate_check(RUN_STATE_INMIGRATE);
    vso->store = vswap_open_store(&vso->cfg, errp);
}

static bool vswap_store_can_be_deleted(UserCreatable *uc)
{
    return !VSWAP_STORE(uc)->in_use;
}

static void vswap_store_instance_init(Object *obj)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);

    vswap_store_config_init(&vso->cfg);
    vso->cfg.path = NULL;
}

static void vswap_store_instance_finalize(Object *obj)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);

    vswap_store_close(vso->store);
    g_free((char *)vso->cfg.path);
}

static void vswap_store_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);

    ucc->complete = vswap_store_complete;
    ucc->can_be_deleted = vswap_store_can_be_deleted;

    object_class_property_add_str(oc, "path", vswap_store_prop_get_path,
                                  vswap_store_prop_set_path);
    object_class_property_set_description(oc, "path",
        "store file for the disk tier; none for a memory-only store");
    object_class_property_add(oc, "size", "size", vswap_store_prop_get_size,
                              vswap_store_prop_set_size, NULL, NULL);
    object_class_property_set_description(oc, "size",
        "swap space offered to the guest, in bytes");
    object_class_property_add(oc, "mem-budget", "size",
                              vswap_store_prop_get_mem_budget,
                              vswap_store_prop_set_mem_budget, NULL, NULL);
    object_class_property_set_description(oc, "mem-budget",
        "memory for compressed pages before writeback (settable at run time)");
    object_class_property_add(oc, "mem-limit", "size",
                              vswap_store_prop_get_mem_limit,
                              vswap_store_prop_set_mem_limit, NULL, NULL);
    object_class_property_set_description(oc, "mem-limit",
        "hard memory limit while the disk cannot take pages"
        " (settable at run time)");
    object_class_property_add(oc, "disk-limit", "size",
                              vswap_store_prop_get_disk_limit,
                              vswap_store_prop_set_disk_limit, NULL, NULL);
    object_class_property_set_description(oc, "disk-limit",
        "maximum size of the store file");
    object_class_property_add(oc, "segment-size", "size",
                              vswap_store_prop_get_segment_size,
                              vswap_store_prop_set_segment_size, NULL, NULL);
    object_class_property_set_description(oc, "segment-size",
        "log segment size: a power of 2 from 64 KiB to 64 MiB");
    object_class_property_add(oc, "compact-threshold", "uint32",
                              vswap_store_prop_get_compact_threshold,
                              vswap_store_prop_set_compact_threshold,
                              NULL, NULL);
    object_class_property_set_description(oc, "compact-threshold",
        "compact segments with less than this percentage live (0 to 99)");
    object_class_property_add(oc, "workers", "uint32",
                              vswap_store_prop_get_workers,
                              vswap_store_prop_set_workers, NULL, NULL);
    object_class_property_set_description(oc, "workers",
        "compression threads; 0 compresses on the store's own thread");
    object_class_property_add(oc, "level", "int32",
                              vswap_store_prop_get_level,
                              vswap_store_prop_set_level, NULL, NULL);
    object_class_property_set_description(oc, "level", "zstd level");
    object_class_property_add_bool(oc, "direct-io",
                                   vswap_store_prop_get_direct_io,
                                   vswap_store_prop_set_direct_io);
    object_class_property_set_description(oc, "direct-io",
        "open the store file with O_DIRECT");
    object_class_property_add_bool(oc, "shared", vswap_store_prop_get_shared,
                                   vswap_store_prop_set_shared);
    object_class_property_set_description(oc, "shared",
        "migrate by sharing the store file with the destination");
}

static const TypeInfo vswap_store_info = {
    .name = TYPE_VSWAP_STORE,
    .parent = TYPE_OBJECT,
    .instance_size = sizeof(VswapStoreObject),
    .instance_init = vswap_store_instance_init,
    .instance_finalize = vswap_store_instance_finalize,
    .class_init = vswap_store_class_init,
    .interfaces = (InterfaceInfo[]) {
        { TYPE_USER_CREATABLE },
        { }
    },
};

static void vswap_store_register_types(void)
{
    type_register_static(&vswap_store_info);
}

type_init(vswap_store_register_types)
