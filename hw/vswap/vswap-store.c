/*
 * vswap-store: the user-creatable object that owns a vswap page store, so
 * that a store file and its budgets are configured apart from the device:
 *
 *   -blockdev driver=file,filename=/var/lib/vswap/vm1.store,node-name=swap0,
 *             aio=io_uring,cache.direct=on,discard=unmap
 *   -object vswap-store,id=vs0,file=swap0,size=8G,mem-budget=512M,level=1
 *   -device virtio-vswap-pci,store=vs0
 *
 * The disk tier goes through a BlockBackend on the node that @file names,
 * as a format driver's does on its "file" child; @path is a shorthand that
 * opens a file node itself (vswap_store_open_path()).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/coroutine.h"
#include "qemu/timer.h"
#include "block/aio-wait.h"
#include "block/block-global-state.h"
#include "block/block_int-common.h"
#include "block/block_int-io.h"
#include "qobject/qdict.h"
#include "qom/object_interfaces.h"
#include "system/block-backend.h"
#include "system/runstate.h"
#include "vswap/io-blk.h"
#include "vswap-store.h"

/*
 * What the store's BlockBackend needs, and what it lets others do: read,
 * and write without changing the data.  Nobody else may write or resize
 * a live store, so image locking stops a second QEMU on the same file.
 */
#define VSWAP_STORE_BLK_PERM \
    (BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE | BLK_PERM_RESIZE)
#define VSWAP_STORE_BLK_SHARED \
    (BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED)

/* How often a wait looks again at what nobody signals (write retries). */
#define VSWAP_STORE_WAIT_TICK_MS 10
/* How long a wait in a coroutine sleeps between looks. */
#define VSWAP_STORE_CO_WAIT_NS (100 * SCALE_US)

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
    /*
     * The store checks the range (64 KiB to 64 MiB, a power of 2; 0
     * automatic).
     */
    vso->cfg.segment_size = value;
}

/*
 * The uint32 options that go to the store unchanged (it checks their
 * ranges): @opaque is the offset of their unsigned field in
 * VswapStoreConfig.
 */
static unsigned *vswap_store_cfg_uint(VswapStoreObject *vso, void *opaque)
{
    return (unsigned *)((char *)&vso->cfg + (uintptr_t)opaque);
}

static void vswap_store_prop_get_uint(Object *obj, Visitor *v,
                                      const char *name, void *opaque,
                                      Error **errp)
{
    uint32_t value = *vswap_store_cfg_uint(VSWAP_STORE(obj), opaque);

    visit_type_uint32(v, name, &value, errp);
}

static void vswap_store_prop_set_uint(Object *obj, Visitor *v,
                                      const char *name, void *opaque,
                                      Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);
    uint32_t value;

    if (vswap_store_check_unopened(vso, name, errp) &&
        visit_type_uint32(v, name, &value, errp)) {
        *vswap_store_cfg_uint(vso, opaque) = value;
    }
}

/* The offset of @field, which must be unsigned. */
#define VSWAP_STORE_CFG_UINT(field) \
    ((void *)(uintptr_t)(offsetof(VswapStoreConfig, field) + \
        QEMU_BUILD_BUG_ON_ZERO(!__builtin_types_compatible_p( \
            typeof(((VswapStoreConfig *)0)->field), unsigned))))

/* The int32 options (zstd levels), as the uint32 ones above. */
static int *vswap_store_cfg_int(VswapStoreObject *vso, void *opaque)
{
    return (int *)((char *)&vso->cfg + (uintptr_t)opaque);
}

static void vswap_store_prop_get_int(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    int32_t value = *vswap_store_cfg_int(VSWAP_STORE(obj), opaque);

    visit_type_int32(v, name, &value, errp);
}

static void vswap_store_prop_set_int(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);
    int32_t value;

    if (vswap_store_check_unopened(vso, name, errp) &&
        visit_type_int32(v, name, &value, errp)) {
        *vswap_store_cfg_int(vso, opaque) = value;
    }
}

/* The offset of @field, which must be an int. */
#define VSWAP_STORE_CFG_INT(field) \
    ((void *)(uintptr_t)(offsetof(VswapStoreConfig, field) + \
        QEMU_BUILD_BUG_ON_ZERO(!__builtin_types_compatible_p( \
            typeof(((VswapStoreConfig *)0)->field), int))))

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

static char *vswap_store_prop_get_file(Object *obj, Error **errp)
{
    return g_strdup(VSWAP_STORE(obj)->file);
}

static void vswap_store_prop_set_file(Object *obj, const char *value,
                                      Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);

    if (vswap_store_check_unopened(vso, "file", errp)) {
        g_free(vso->file);
        vso->file = g_strdup(value);
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

static char *vswap_store_prop_get_dict(Object *obj, Error **errp)
{
    return g_strdup(VSWAP_STORE(obj)->cfg.dict_auto ? "auto" : "off");
}

static void vswap_store_prop_set_dict(Object *obj, const char *value,
                                      Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(obj);

    if (!vswap_store_check_unopened(vso, "dict", errp)) {
        return;
    }
    if (!strcmp(value, "auto")) {
        vso->cfg.dict_auto = true;
    } else if (!strcmp(value, "off")) {
        vso->cfg.dict_auto = false;
    } else {
        error_setg(errp, "vswap-store: dict must be 'auto' or 'off', not '%s'",
                   value);
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

/*
 * The store's wait (VswapStoreConfig.wait).  Context: the store's owner
 * thread, whose AioContext runs the BlockBackend's completions and the
 * store's eventfd handler.  The tick wakes the loop up for what nobody
 * signals: segment write retries, and worker results while no handler is
 * attached yet (while the store is opened).
 */
static void vswap_store_wait_tick(void *opaque)
{
    QEMUTimer *tick = opaque;

    timer_mod(tick, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
                    VSWAP_STORE_WAIT_TICK_MS);
}

static void vswap_store_wait(void *opaque, VswapWaitCond *cond,
                             void *cond_opaque)
{
    AioContext *ctx = qemu_get_current_aio_context();
    QEMUTimer tick;

    if (qemu_in_coroutine()) {
        /*
         * The incoming migration loads in a coroutine.  Block-layer
         * requests it starts only run once it yields, and a nested
         * aio_poll() would never let them: sleep instead.
         */
        while (cond(cond_opaque)) {
            qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, VSWAP_STORE_CO_WAIT_NS);
        }
        return;
    }
    aio_timer_init(ctx, &tick, QEMU_CLOCK_REALTIME, SCALE_MS,
                   vswap_store_wait_tick, &tick);
    vswap_store_wait_tick(&tick);
    AIO_WAIT_WHILE(ctx, cond(cond_opaque));
    timer_del(&tick);
}

/* VswapStoreConfig.open_engine: the engine on our BlockBackend. */
static VswapIoEngine *vswap_store_open_engine(void *opaque, int notify_fd,
                                              GError **errp)
{
    VswapStoreObject *vso = opaque;

    return vswap_io_blk_new(vso->blk, notify_fd);
}

/*
 * path=PATH is short for a file node of our own, as if the user had given
 *
 *   -blockdev driver=file,filename=PATH,node-name=vswap-ID,aio=io_uring,
 *             cache.direct=on|off (direct-io),discard=unmap
 *
 * after creating PATH (mode 0600) if it does not exist.  In a QEMU
 * started with -incoming, the node of a shared store is inactive until
 * the migration hands it over, as -blockdev nodes are; the node of a
 * store that is not shared is this QEMU's own and active from the start.
 */
static BlockDriverState *vswap_store_open_path(VswapStoreObject *vso,
                                               Error **errp)
{
    const char *id = object_get_canonical_path_component(OBJECT(vso));
    g_autofree char *node_name = g_strdup_printf("vswap-%s", id);
    int flags = BDRV_O_RDWR;
    QDict *opts;
    int fd;

    fd = qemu_create(vso->cfg.path, O_RDWR, 0600, errp);
    if (fd < 0) {
        return NULL;
    }
    qemu_close(fd);
    if (vso->cfg.incoming) {
        flags |= BDRV_O_INACTIVE;
    }
    opts = qdict_new();
    qdict_put_str(opts, "driver", "file");
    qdict_put_str(opts, "node-name", node_name);
    qdict_put_str(opts, "aio", "io_uring");
    qdict_put_str(opts, BDRV_OPT_CACHE_DIRECT,
                  vso->cfg.direct_io ? "on" : "off");
    qdict_put_str(opts, BDRV_OPT_CACHE_NO_FLUSH, "off");
    qdict_put_str(opts, BDRV_OPT_DISCARD, "unmap");
    return bdrv_open(vso->cfg.path, NULL, opts, flags, errp);
}

/* Open the BlockBackend on the node of @file, or on a node for @path. */
static bool vswap_store_open_blk(VswapStoreObject *vso, Error **errp)
{
    BlockDriverState *bs;
    BlockBackend *blk;
    bool inactive;

    if (vso->file) {
        bs = bdrv_lookup_bs(vso->file, vso->file, errp);
        if (!bs) {
            return false;
        }
        bdrv_ref(bs);
    } else {
        bs = vswap_store_open_path(vso, errp);
        if (!bs) {
            return false;
        }
    }
    bdrv_graph_rdlock_main_loop();
    inactive = bdrv_is_inactive(bs);
    bdrv_graph_rdunlock_main_loop();
    if (inactive && !vso->cfg.shared) {
        error_setg(errp, "vswap-store: node '%s' is inactive (this QEMU waits"
                   " for an incoming migration); a store of its own needs an"
                   " active node (-blockdev ...,active=on), a store shared"
                   " with the source needs shared=on",
                   bdrv_get_node_name(bs));
        bdrv_unref(bs);
        return false;
    }

    blk = blk_new(bdrv_get_aio_context(bs), VSWAP_STORE_BLK_PERM,
                  VSWAP_STORE_BLK_SHARED);
    /* Segments are appended: writes grow the file. */
    blk_set_allow_write_beyond_eof(blk, true);
    /*
     * The store's own waits run inside drained sections (snapshot-save
     * drains everything, then saves the store through it): its requests
     * must not queue behind the drain they are part of.
     */
    blk_set_disable_request_queuing(blk, true);
    /* Migration may inactivate it like a disk: the store is fenced then. */
    blk_set_force_allow_inactivate(blk);
    if (blk_insert_bs(blk, bs, errp) < 0) {
        error_prepend(errp, "vswap-store: ");
        goto fail;
    }
    bdrv_unref(bs);
    vso->blk = blk;
    return true;

fail:
    blk_unref(blk);
    bdrv_unref(bs);
    return false;
}

/*
 * Whether the store file on @bs can grow as segments are appended.  Files
 * (the "file" driver on a regular file) and RBD images can; an NBD export,
 * a host block device or an iSCSI LUN keeps the size it has.  Filters such
 * as throttle pass truncation down to the node below them.
 */
static bool vswap_store_node_grows(BlockDriverState *bs)
{
    bool grows;

    bdrv_graph_rdlock_main_loop();
    while (bs && bs->drv && bs->drv->is_filter) {
        bs = bdrv_filter_bs(bs);
    }
    grows = bs && bs->drv && (!strcmp(bs->drv->format_name, "file") ||
                              !strcmp(bs->drv->format_name, "rbd"));
    bdrv_graph_rdunlock_main_loop();
    return grows;
}

/*
 * A store on a node that cannot grow lives within the node's length: that
 * is its disk limit, unless a smaller one is given.  Writing past the end
 * would fail only when the disk tier fills, long after start.
 */
static bool vswap_store_fit_node(VswapStoreObject *vso, VswapStoreConfig *cfg,
                                 Error **errp)
{
    const char *node = bdrv_get_node_name(blk_bs(vso->blk));
    int64_t length;

    if (vswap_store_node_grows(blk_bs(vso->blk))) {
        return true;
    }
    length = blk_getlength(vso->blk);
    if (length < 0) {
        error_setg_errno(errp, -length, "vswap-store: cannot get the size of"
                         " node '%s'", node);
        return false;
    }
    if (cfg->disk_limit > (uint64_t)length) {
        error_setg(errp, "vswap-store: disk-limit %" PRIu64 " exceeds the"
                   " %" PRId64 " bytes of node '%s', which cannot grow",
                   cfg->disk_limit, length, node);
        return false;
    }
    if (!cfg->disk_limit) {
        cfg->disk_limit = length;
    }
    return true;
}

static void vswap_store_complete(UserCreatable *uc, Error **errp)
{
    VswapStoreObject *vso = VSWAP_STORE(uc);
    VswapStoreConfig cfg;

    if (vso->size == 0 || vso->size % VSWAP_STORE_PAGE_SIZE ||
        vso->size / VSWAP_STORE_PAGE_SIZE > VSWAP_STORE_MAX_SLOTS) {
        error_setg(errp, "vswap-store: 'size' must be a non-zero multiple of"
                   " 4 KiB, at most 16 TiB");
        return;
    }
    if (vso->file && vso->cfg.path) {
        error_setg(errp, "vswap-store: 'file' and 'path' cannot both be"
                   " given");
        return;
    }
    if (vso->file && vso->cfg.direct_io) {
        error_setg(errp, "vswap-store: 'direct-io' applies to 'path'; give"
                   " the node cache.direct=on instead");
        return;
    }
    vso->cfg.capacity = vso->size / VSWAP_STORE_PAGE_SIZE;
    /*
     * A shared store of a QEMU waiting for a migration is the source's
     * file: open it as it is, and touch it only once the migration is done.
     */
    vso->cfg.incoming = vso->cfg.shared &&
                        runstate_check(RUN_STATE_INMIGRATE);

    cfg = vso->cfg;
    cfg.wait = vswap_store_wait;
    if (vso->file || vso->cfg.path) {
        if (!vswap_store_open_blk(vso, errp)) {
            return;
        }
        if (!vswap_store_fit_node(vso, &cfg, errp)) {
            g_clear_pointer(&vso->blk, blk_unref);
            return;
        }
        cfg.path = NULL;
        cfg.open_engine = vswap_store_open_engine;
        cfg.engine_opaque = vso;
        cfg.name = vso->cfg.path ?: vso->file;
    }
    vso->store = vswap_open_store(&cfg, errp);
    if (!vso->store && vso->blk) {
        g_clear_pointer(&vso->blk, blk_unref);
    }
}

bool vswap_store_object_set_ctx(VswapStoreObject *vso, AioContext *ctx,
                                Error **errp)
{
    vso->ctx = ctx;
    if (!vso->blk || blk_get_aio_context(vso->blk) == ctx) {
        return true;
    }
    return blk_set_aio_context(vso->blk, ctx, errp) == 0;
}

void vswap_store_object_attach(VswapStoreObject *vso, DeviceState *dev,
                               const BlockDevOps *ops, void *opaque)
{
    vso->in_use = !!dev;
    if (!vso->blk) {
        return;
    }
    if (dev) {
        /* Cannot fail: nothing else attaches to our BlockBackend. */
        blk_attach_dev(vso->blk, dev);
        blk_set_dev_ops(vso->blk, ops, opaque);
    } else {
        blk_detach_dev(vso->blk, blk_get_attached_dev(vso->blk));
    }
}

const char *vswap_store_object_node_name(VswapStoreObject *vso)
{
    BlockDriverState *bs = vso->blk ? blk_bs(vso->blk) : NULL;

    return bs ? bdrv_get_node_name(bs) : NULL;
}

bool vswap_store_object_active(VswapStoreObject *vso)
{
    BlockDriverState *bs = vso->blk ? blk_bs(vso->blk) : NULL;

    GRAPH_RDLOCK_GUARD_MAINLOOP();
    return bs && !bdrv_is_inactive(bs);
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
    if (vso->blk) {
        blk_unref(vso->blk);
    }
    g_free((char *)vso->cfg.path);
    g_free(vso->file);
}

static void vswap_store_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);

    ucc->complete = vswap_store_complete;
    ucc->can_be_deleted = vswap_store_can_be_deleted;

    object_class_property_add_str(oc, "path", vswap_store_prop_get_path,
                                  vswap_store_prop_set_path);
    object_class_property_set_description(oc, "path",
        "store file for the disk tier, opened as a file node with"
        " aio=io_uring; none for a memory-only store");
    object_class_property_add_str(oc, "file", vswap_store_prop_get_file,
                                  vswap_store_prop_set_file);
    object_class_property_set_description(oc, "file",
        "node name (or drive id) of the block node for the disk tier");
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
        "log segment size: a power of 2 from 64 KiB to 64 MiB; 0 (default):"
        " 2 MiB on network storage, 1 MiB on a local file");
    object_class_property_add(oc, "compact-threshold", "uint32",
                              vswap_store_prop_get_uint,
                              vswap_store_prop_set_uint, NULL,
                              VSWAP_STORE_CFG_UINT(compact_threshold));
    object_class_property_set_description(oc, "compact-threshold",
        "compact segments with less than this percentage live (0 to 99)");
    object_class_property_add(oc, "workers", "uint32",
                              vswap_store_prop_get_uint,
                              vswap_store_prop_set_uint, NULL,
                              VSWAP_STORE_CFG_UINT(workers));
    object_class_property_set_description(oc, "workers",
        "compression threads; 0 compresses on the store's own thread");
    object_class_property_add(oc, "writeback-depth", "uint32",
                              vswap_store_prop_get_uint,
                              vswap_store_prop_set_uint, NULL,
                              VSWAP_STORE_CFG_UINT(writeback_depth));
    object_class_property_set_description(oc, "writeback-depth",
        "segment writes in flight at most, 1 to 64; 0 (default): 16 on a"
        " network node (rbd, nbd, ...), 8 on a local file");
    object_class_property_add(oc, "level", "int32",
                              vswap_store_prop_get_int,
                              vswap_store_prop_set_int, NULL,
                              VSWAP_STORE_CFG_INT(level));
    object_class_property_set_description(oc, "level", "zstd level");
    object_class_property_add_bool(oc, "direct-io",
                                   vswap_store_prop_get_direct_io,
                                   vswap_store_prop_set_direct_io);
    object_class_property_set_description(oc, "direct-io",
        "with path: open the store file with O_DIRECT (cache.direct=on)");
    object_class_property_add_str(oc, "dict", vswap_store_prop_get_dict,
                                  vswap_store_prop_set_dict);
    object_class_property_set_description(oc, "dict",
        "auto: train a zstd dictionary on this VM's own pages and compress"
        " with it when it pays; off (default): none");
    object_class_property_add(oc, "dict-train-pages", "uint32",
                              vswap_store_prop_get_uint,
                              vswap_store_prop_set_uint, NULL,
                              VSWAP_STORE_CFG_UINT(dict_train_pages));
    object_class_property_set_description(oc, "dict-train-pages",
        "compressible pages a dictionary is trained on (default 512)");
    object_class_property_add(oc, "disk-group", "uint32",
                              vswap_store_prop_get_uint,
                              vswap_store_prop_set_uint, NULL,
                              VSWAP_STORE_CFG_UINT(disk_group));
    object_class_property_set_description(oc, "disk-group",
        "cold pages writeback packs into one zstd frame of the disk tier,"
        " 1 to 4 (default 4)");
    object_class_property_add(oc, "disk-level", "int32",
                              vswap_store_prop_get_int,
                              vswap_store_prop_set_int, NULL,
                              VSWAP_STORE_CFG_INT(disk_level));
    object_class_property_set_description(oc, "disk-level",
        "zstd level of the disk tier's frames; 0 (default): 5, or level if"
        " higher");
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
