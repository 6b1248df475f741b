/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vswap-store: the user-creatable QOM object that owns a page store.
 */
#ifndef HW_VSWAP_VSWAP_STORE_H
#define HW_VSWAP_VSWAP_STORE_H

#include "block/aio.h"
#include "system/block-backend.h"
#include "qom/object.h"
#include "vswap/store.h"

#define TYPE_VSWAP_STORE "vswap-store"
OBJECT_DECLARE_SIMPLE_TYPE(VswapStoreObject, VSWAP_STORE)

struct VswapStoreObject {
    Object parent_obj;

    VswapStoreConfig cfg;       /* from the properties; path is ours */
    char *file;                 /* node name of the disk tier, or NULL */
    BlockBackend *blk;          /* on that node (or path's); NULL: memory */
    uint64_t size;              /* bytes of slots; capacity = size / 4 KiB */
    VswapStore *store;          /* opened by complete() */
    bool in_use;                /* a device holds it */
    /* Its owner thread's context; NULL: the main loop (dataplane.c) */
    AioContext *ctx;
};

/*
 * vswap_store_open() for QEMU: the store's GError codes are errno values
 * (include/vswap/store.h), and the Error keeps them as
 * error_setg_errno() does.  Returns NULL with @errp set on failure.
 */
VswapStore *vswap_open_store(const VswapStoreConfig *cfg, Error **errp);

/*
 * Run @fn(@opaque) in @ctx (NULL: the main loop) and wait for it: the way
 * to use a store from under the BQL while its owner is an IOThread.
 * Context: BQL held.
 */
void vswap_run_in_ctx(AioContext *ctx, QEMUBHFunc *fn, void *opaque);

/*
 * The store's owner becomes @ctx's thread: its BlockBackend moves there
 * too.  The store must be drained.  Context: BQL held.
 */
bool vswap_store_object_set_ctx(VswapStoreObject *vso, AioContext *ctx,
                                Error **errp);

/*
 * The device that uses the store (NULL: none any more).  Its BlockBackend
 * is attached to @dev as a disk's is, with @ops (drained sections) called
 * with @opaque, so that query-blockstats lists the store's I/O under the
 * device, and the block layer may inactivate the node for migration.
 * Context: BQL held.
 */
void vswap_store_object_attach(VswapStoreObject *vso, DeviceState *dev,
                               const BlockDevOps *ops, void *opaque);

/* The block node of the disk tier, or NULL for a memory-only store. */
const char *vswap_store_object_node_name(VswapStoreObject *vso);

/*
 * Whether the block node may be written: false while an incoming
 * migration has not activated it.  Context: BQL held.
 */
bool vswap_store_object_active(VswapStoreObject *vso);

#endif /* HW_VSWAP_VSWAP_STORE_H */
