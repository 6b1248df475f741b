/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vswap-store: the user-creatable QOM object that owns a page store.
 */
#ifndef HW_VSWAP_VSWAP_STORE_H
#define HW_VSWAP_VSWAP_STORE_H

#include "block/aio.h"
#include "qom/object.h"
#include "vswap/store.h"

#define TYPE_VSWAP_STORE "vswap-store"
OBJECT_DECLARE_SIMPLE_TYPE(VswapStoreObject, VSWAP_STORE)

struct VswapStoreObject {
    Object parent_obj;

    VswapStoreConfig cfg;       /* from the properties; path is ours */
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

#endif /* HW_VSWAP_VSWAP_STORE_H */
