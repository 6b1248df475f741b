/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-vswap: the QEMU device that a guest swaps to (type and state).
 */
#ifndef HW_VSWAP_VIRTIO_VSWAP_H
#define HW_VSWAP_VIRTIO_VSWAP_H

#include "hw/virtio/virtio.h"
#include "standard-headers/linux/virtio_vswap.h"
#include "qom/object.h"

#define TYPE_VIRTIO_VSWAP "virtio-vswap-device"
OBJECT_DECLARE_SIMPLE_TYPE(VirtIOVswap, VIRTIO_VSWAP)

#define VIRTIO_VSWAP_PROP_CAPACITY   "capacity"
#define VIRTIO_VSWAP_PROP_NUM_QUEUES "num-queues"
#define VIRTIO_VSWAP_PROP_QUEUE_SIZE "queue-size"
#define VIRTIO_VSWAP_PROP_MAX_BATCH  "max-batch"

/* Slots are 4 KiB pages; the ABI allows nothing else for now. */
#define VIRTIO_VSWAP_PAGE_SIZE 4096
/* Largest capacity the store's 32-bit slot numbers can address. */
#define VIRTIO_VSWAP_MAX_CAPACITY (UINT64_C(1) << 32)
#define VIRTIO_VSWAP_MAX_QUEUES 64
/* Upper bound of max-batch: 1024 pages is 4 MiB of payload per request. */
#define VIRTIO_VSWAP_MAX_BATCH_LIMIT 1024

typedef struct VirtIOVswapConf {
    uint64_t capacity;      /* slots exposed to the guest */
    uint16_t num_queues;    /* request virtqueues */
    uint16_t queue_size;    /* descriptors per virtqueue */
    uint32_t max_batch;     /* entries per request */
} VirtIOVswapConf;

struct VirtIOVswap {
    VirtIODevice parent_obj;

    VirtIOVswapConf conf;   /* user configuration; not migrated */
    VirtQueue **vqs;        /* conf.num_queues request queues */
};

#endif /* HW_VSWAP_VIRTIO_VSWAP_H */
