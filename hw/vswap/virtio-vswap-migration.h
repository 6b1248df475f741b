/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Live migration of virtio-vswap's page store (virtio-vswap-migration.c).
 */
#ifndef HW_VSWAP_VIRTIO_VSWAP_MIGRATION_H
#define HW_VSWAP_VIRTIO_VSWAP_MIGRATION_H

#include "qapi/qapi-types-vswap.h"
#include "virtio-vswap.h"

/* Register the store's iterative section; called from realize. */
void virtio_vswap_migration_init(VirtIOVswap *s);
/* Undo virtio_vswap_migration_init(); called from unrealize. */
void virtio_vswap_migration_cleanup(VirtIOVswap *s);
/* Fill query-vswap's migration-sent and migration-received.  BQL held */
void virtio_vswap_migration_query(VirtIOVswap *s, VswapInfo *info);

#endif /* HW_VSWAP_VIRTIO_VSWAP_MIGRATION_H */
