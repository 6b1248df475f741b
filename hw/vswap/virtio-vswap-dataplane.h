/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-vswap's dataplane: ioeventfds in the device's AioContext, and the
 * store's owner thread (virtio-vswap-dataplane.c).
 */
#ifndef HW_VSWAP_VIRTIO_VSWAP_DATAPLANE_H
#define HW_VSWAP_VIRTIO_VSWAP_DATAPLANE_H

#include "virtio-vswap.h"

/* Pick s->ctx: the IOThread's, or the main loop's. */
bool virtio_vswap_dataplane_realize(VirtIOVswap *s, Error **errp);
void virtio_vswap_dataplane_unrealize(VirtIOVswap *s);

/* VirtioDeviceClass hooks.  Context: BQL held. */
int virtio_vswap_start_ioeventfd(VirtIODevice *vdev);
void virtio_vswap_stop_ioeventfd(VirtIODevice *vdev);

/*
 * Run @fn(@opaque) in the thread that owns the store, and wait for it.
 * Context: BQL held (main loop or migration thread).
 */
void virtio_vswap_run_in_store_ctx(VirtIOVswap *s, QEMUBHFunc *fn,
                                   void *opaque);

/* Defined in virtio-vswap.c, registered here. */
void virtio_vswap_store_event(void *opaque);
void virtio_vswap_resume_bh(void *opaque);

#endif /* HW_VSWAP_VIRTIO_VSWAP_DATAPLANE_H */
