/*
 * virtio-vswap: a paravirtual swap device whose slots are keys into a
 * host-side page store.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The device ABI is include/vswap/virtio_vswap.h and docs/specs/virtio-vswap.rst.
 * This file parses and validates requests; the page store that serves them
 * lives in block/vswap-backend/.
 */

#include "qemu/osdep.h"
#include "qemu/iov.h"
#include "qemu/module.h"
#include "qapi/error.h"
#include "hw/qdev-properties.h"
#include "hw/virtio/virtio.h"
#include "migration/vmstate.h"
#include "trace.h"
#include "virtio-vswap.h"

typedef struct VirtIOVswapReq {
    VirtQueueElement elem;      /* must be first: virtqueue_pop() allocates */
    size_t in_len;              /* bytes the driver made writable */
} VirtIOVswapReq;

/* Write the request status into the last writable byte and hand it back. */
static void virtio_vswap_complete(VirtIOVswap *s, VirtQueue *vq,
                                  VirtIOVswapReq *req, uint16_t type,
                                  uint8_t status)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);

    iov_from_buf(req->elem.in_sg, req->elem.in_num, req->in_len - 1,
                 &status, sizeof(status));
    trace_virtio_vswap_request_done(s, type, status);
    virtqueue_push(vq, &req->elem, req->in_len);
    virtio_notify(vdev, vq);
    g_free(req);
}

/* Context: the queue's AioContext (main loop for now) */
static void virtio_vswap_handle_req(VirtIOVswap *s, VirtQueue *vq,
                                    VirtIOVswapReq *req)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);
    struct virtio_vswap_req_hdr hdr;
    uint16_t type;

    req->in_len = iov_size(req->elem.in_sg, req->elem.in_num);
    if (req->in_len < 1) {
        virtio_error(vdev, "virtio-vswap: request has no room for a status");
        virtqueue_detach_element(vq, &req->elem, 0);
        g_free(req);
        return;
    }
    if (iov_to_buf(req->elem.out_sg, req->elem.out_num, 0, &hdr,
                   sizeof(hdr)) != sizeof(hdr)) {
        virtio_vswap_complete(s, vq, req, UINT16_MAX, VIRTIO_VSWAP_S_UNSUPP);
        return;
    }
    type = le16_to_cpu(hdr.type);
    trace_virtio_vswap_request(s, type, le32_to_cpu(hdr.count));

    switch (type) {
    default:
        /* WRITE, READ and DISCARD are served once the page store lands. */
        virtio_vswap_complete(s, vq, req, type, VIRTIO_VSWAP_S_UNSUPP);
        break;
    }
}

static void virtio_vswap_handle_vq(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIOVswap *s = VIRTIO_VSWAP(vdev);
    VirtIOVswapReq *req;

    while ((req = virtqueue_pop(vq, sizeof(*req)))) {
        virtio_vswap_handle_req(s, vq, req);
    }
}

static void virtio_vswap_get_config(VirtIODevice *vdev, uint8_t *config_data)
{
    VirtIOVswap *s = VIRTIO_VSWAP(vdev);
    struct virtio_vswap_config config = {
        .capacity = cpu_to_le64(s->conf.capacity),
        .page_size = cpu_to_le32(VIRTIO_VSWAP_PAGE_SIZE),
        .max_batch = cpu_to_le32(s->conf.max_batch),
        .num_queues = cpu_to_le16(s->conf.num_queues),
    };

    memcpy(config_data, &config, sizeof(config));
}

static uint64_t virtio_vswap_get_features(VirtIODevice *vdev, uint64_t features,
                                          Error **errp)
{
    virtio_add_feature(&features, VIRTIO_VSWAP_F_FILL);
    virtio_add_feature(&features, VIRTIO_VSWAP_F_MQ);
    return features;
}

static bool virtio_vswap_check_conf(VirtIOVswapConf *conf, Error **errp)
{
    if (conf->capacity == 0 || conf->capacity > VIRTIO_VSWAP_MAX_CAPACITY) {
        error_setg(errp, "'" VIRTIO_VSWAP_PROP_CAPACITY "' must be between 1"
                   " and %" PRIu64 " slots", VIRTIO_VSWAP_MAX_CAPACITY);
        return false;
    }
    if (conf->num_queues == 0 || conf->num_queues > VIRTIO_VSWAP_MAX_QUEUES) {
        error_setg(errp, "'" VIRTIO_VSWAP_PROP_NUM_QUEUES "' must be between 1"
                   " and %d", VIRTIO_VSWAP_MAX_QUEUES);
        return false;
    }
    if (conf->queue_size < 2 || conf->queue_size > VIRTQUEUE_MAX_SIZE ||
        !is_power_of_2(conf->queue_size)) {
        error_setg(errp, "'" VIRTIO_VSWAP_PROP_QUEUE_SIZE "' must be a power"
                   " of 2 between 2 and %d", VIRTQUEUE_MAX_SIZE);
        return false;
    }
    if (conf->max_batch == 0 || conf->max_batch > VIRTIO_VSWAP_MAX_BATCH_LIMIT) {
        error_setg(errp, "'" VIRTIO_VSWAP_PROP_MAX_BATCH "' must be between 1"
                   " and %d", VIRTIO_VSWAP_MAX_BATCH_LIMIT);
        return false;
    }
    return true;
}

static void virtio_vswap_device_realize(DeviceState *dev, Error **errp)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(dev);
    VirtIOVswap *s = VIRTIO_VSWAP(dev);
    unsigned i;

    if (!virtio_vswap_check_conf(&s->conf, errp)) {
        return;
    }

    virtio_init(vdev, VIRTIO_ID_VSWAP, sizeof(struct virtio_vswap_config));
    s->vqs = g_new0(VirtQueue *, s->conf.num_queues);
    for (i = 0; i < s->conf.num_queues; i++) {
        s->vqs[i] = virtio_add_queue(vdev, s->conf.queue_size,
                                     virtio_vswap_handle_vq);
    }
}

static void virtio_vswap_device_unrealize(DeviceState *dev)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(dev);
    VirtIOVswap *s = VIRTIO_VSWAP(dev);
    unsigned i;

    for (i = 0; i < s->conf.num_queues; i++) {
        virtio_delete_queue(s->vqs[i]);
    }
    g_free(s->vqs);
    s->vqs = NULL;
    virtio_cleanup(vdev);
}

static const VMStateDescription vmstate_virtio_vswap = {
    .name = "virtio-vswap",
    .minimum_version_id = 1,
    .version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_VIRTIO_DEVICE,
        VMSTATE_END_OF_LIST()
    },
};

static const Property virtio_vswap_properties[] = {
    DEFINE_PROP_UINT64(VIRTIO_VSWAP_PROP_CAPACITY, VirtIOVswap, conf.capacity,
                       1 << 20),
    DEFINE_PROP_UINT16(VIRTIO_VSWAP_PROP_NUM_QUEUES, VirtIOVswap,
                       conf.num_queues, 1),
    DEFINE_PROP_UINT16(VIRTIO_VSWAP_PROP_QUEUE_SIZE, VirtIOVswap,
                       conf.queue_size, 256),
    DEFINE_PROP_UINT32(VIRTIO_VSWAP_PROP_MAX_BATCH, VirtIOVswap,
                       conf.max_batch, 256),
};

static void virtio_vswap_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    VirtioDeviceClass *vdc = VIRTIO_DEVICE_CLASS(klass);

    device_class_set_props(dc, virtio_vswap_properties);
    dc->vmsd = &vmstate_virtio_vswap;
    set_bit(DEVICE_CATEGORY_STORAGE, dc->categories);
    vdc->realize = virtio_vswap_device_realize;
    vdc->unrealize = virtio_vswap_device_unrealize;
    vdc->get_config = virtio_vswap_get_config;
    vdc->get_features = virtio_vswap_get_features;
}

static const TypeInfo virtio_vswap_info = {
    .name = TYPE_VIRTIO_VSWAP,
    .parent = TYPE_VIRTIO_DEVICE,
    .instance_size = sizeof(VirtIOVswap),
    .class_init = virtio_vswap_class_init,
};

static void virtio_vswap_register_types(void)
{
    type_register_static(&virtio_vswap_info);
}

type_init(virtio_vswap_register_types)
