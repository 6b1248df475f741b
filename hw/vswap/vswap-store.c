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

/* Each size/number property maps onto one uint64_t field of the object. */
static uint64_t *vswap_store_u64_field(VswapStoreObject *vso, const char *name)
{
    if (!strcmp(name, "size")) {
        return &vso->size;
    } else if (!strcmp(name, "mem-budget")) {
        return &vso->cfg.mem_budget;
    } else if (!strcmp(name, "mem-limit")) {
        return &vso->cfg.mem_limit;
    } else if (!strcmp(name, "disk-limit")) {
        return &vso->cfg.disk_limit;
    }
    g_assert_not_reached();
}

void vswap_run_in_ctx(AioContext *ctx, QEMUBHFunc *fn, void *opaque)
{
    if (!ctx || ctx == qemu_get_current_aio_context()) {
        fn(opaque);
    } else {
        aio_wait_bh_oneshot(ctx, fn, opaque);
    }
}

/* Context: the store's owner thread */
static void vswap_store_apply_budget(void *opaque)
{
    VswapStoreObject *vso = opaque;

    vswap_store_set_mem_budget(vso->store, vso->cfg.mem_budget,
                               vso->cfg.mem_limit);
}

static void vswap_store_get_size(Object *obj, Visitor *v, const char *name,
                                 void *opaque, Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);

    visit_type_size(v, name, vswap_store_u64_field(vso, name), errp);
}

static void vswap_store_set_size(Object *obj, Visitor *v, const char *name,
                                 void *opaque, Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);
    bool runtime = !strcmp(name, "mem-budget") || !strcmp(name, "mem-limit");
    uint64_t value;

    if (!visit_type_size(v, name, &value, errp)) {
        return;
    }
    if (!runtime && !vswap_store_check_unopened(vso, name, errp)) {
        return;
    }
    *vswap_store_u64_field(vso, name) = value;
    if (vso->store) {
        /* qom-set at run time: takes effect at the next writeback pass. */
        vswap_run_in_ctx(vso->ctx, vswap_store_apply_budget, vso);
    }
}

static void vswap_store_get_segment_size(Object *obj, Visitor *v,
                                         const char *name, void *opaque,
                                         Error **errp)
{
    uint64_t value = VSWAP_STORE(obj)->cfg.segment_size;

    visit_type_size(v, name, &value, errp);
}

static void vswap_store_set_segment_size(Object *obj, Visitor *v,
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

static void vswap_store_get_uint(Object *obj, Visitor *v, const char *name,
                                 void *opaque, Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);
    uint32_t value = !strcmp(name, "compact-threshold") ?
                     vso->cfg.compact_threshold : vso->cfg.workers;

    visit_type_uint32(v, name, &value, errp);
}

static void vswap_store_set_uint(Object *obj, Visitor *v, const char *name,
                                 void *opaque, Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);
    uint32_t value;

    if (!vswap_store_check_unopened(vso, name, errp) ||
        !visit_type_uint32(v, name, &value, errp)) {
        return;
    }
    if (!strcmp(name, "compact-threshold")) {
        vso->cfg.compact_threshold = value;
    } else {
        vso->cfg.workers = value;
    }
}

static void vswap_store_get_level(Object *obj, Visitor *v, const char *name,
                                  void *opaque, Error **errp)
{
    int32_t value = VSWAP_STORE(obj)->cfg.level;

    visit_type_int32(v, name, &value, errp);
}

static void vswap_store_set_level(Object *obj, Visitor *v, const char *name,
                                  void *opaque, Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);
    int32_t value;

    if (vswap_store_check_unopened(vso, name, errp) &&
        visit_type_int32(v, name, &value, errp)) {
        vso->cfg.level = value;
    }
}

static char *vswap_store_get_path(Object *obj, Error **errp)
{
    return g_strdup(VSWAP_STORE(obj)->cfg.path);
}

static void vswap_store_set_path(Object *obj, const char *value, Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);

    if (vswap_store_check_unopened(vso, "path", errp)) {
        g_free((char *)vso->cfg.path);
        vso->cfg.path = g_strdup(value);
    }
}

static bool vswap_store_get_direct_io(Object *obj, Error **errp)
{
    return VSWAP_STORE(obj)->cfg.direct_io;
}

static void vswap_store_set_direct_io(Object *obj, bool value, Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);

    if (vswap_store_check_unopened(vso, "direct-io", errp)) {
        vso->cfg.direct_io = value;
    }
}

static bool vswap_store_get_shared(Object *obj, Error **errp)
{
    return VSWAP_STORE(obj)->cfg.shared;
}

static void vswap_store_set_shared(Object *obj, bool value, Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);

    if (vswap_store_check_unopened(vso, "shared", errp)) {
        vso->cfg.shared = value;
    }
}

static void vswap_store_complete(UserCreatable *uc, Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(uc);
    g_autoptr(GError) err = NULL;

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
    vso->store = vswap_store_open(&vso->cfg, &err);
    if (!vso->store) {
        error_setg(errp, "%s", err->message);
    }
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
    static const char *const sizes[] = {
        "size", "mem-budget", "mem-limit", "disk-limit",
    };
    static const char *const uints[] = {
        "compact-threshold", "workers",
    };

    ucc->complete = vswap_store_complete;
    ucc->can_be_deleted = vswap_store_can_be_deleted;

    object_class_property_add_str(oc, "path", vswap_store_get_path,
                                  vswap_store_set_path);
    object_class_property_set_description(oc, "path",
        "store file for the disk tier; none for a memory-only store");
    for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
        object_class_property_add(oc, sizes[i], "size", vswap_store_get_size,
                                  vswap_store_set_size, NULL, NULL);
    }
    object_class_property_set_description(oc, "size",
        "swap space offered to the guest, in bytes");
    object_class_property_set_description(oc, "mem-budget",
        "memory for compressed pages before writeback (settable at run time)");
    object_class_property_set_description(oc, "mem-limit",
        "hard memory limit while the disk cannot take pages");
    object_class_property_set_description(oc, "disk-limit",
        "maximum size of the store file");
    for (unsigned i = 0; i < ARRAY_SIZE(uints); i++) {
        object_class_property_add(oc, uints[i], "uint32", vswap_store_get_uint,
                                  vswap_store_set_uint, NULL, NULL);
    }
    object_class_property_add(oc, "segment-size", "size",
                              vswap_store_get_segment_size,
                              vswap_store_set_segment_size, NULL, NULL);
    object_class_property_add(oc, "level", "int32", vswap_store_get_level,
                              vswap_store_set_level, NULL, NULL);
    object_class_property_set_description(oc, "level", "zstd level");
    object_class_property_add_bool(oc, "direct-io", vswap_store_get_direct_io,
                                   vswap_store_set_direct_io);
    object_class_property_add_bool(oc, "shared", vswap_store_get_shared,
                                   vswap_store_set_shared);
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
