/*
 * qtest of the virtio-vswap device, driven the way a guest driver drives it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest-single.h"
#include "qemu/bswap.h"
#include "qemu/module.h"
#include "libqos/qgraph.h"
#include "libqos/virtio.h"
#include "libqos/virtio-vswap.h"
#include "standard-headers/linux/virtio_vswap.h"

#define VSWAP_TEST_TIMEOUT_US (30 * 1000 * 1000)
#define VSWAP_TEST_CAPACITY 4096

/* Negotiate every offered feature the test knows and start one queue. */
static QVirtQueue *vswap_start(QVirtioDevice *dev, QGuestAllocator *alloc,
                               uint64_t *features)
{
    QVirtQueue *vq;

    *features = qvirtio_get_features(dev) &
                ((1ull << VIRTIO_VSWAP_F_FILL) | (1ull << VIRTIO_VSWAP_F_MQ) |
                 (1ull << VIRTIO_F_VERSION_1));
    qvirtio_set_features(dev, *features);
    vq = qvirtqueue_setup(dev, alloc, 0);
    qvirtio_set_driver_ok(dev);
    return vq;
}

static void config(void *obj, void *data, QGuestAllocator *t_alloc)
{
    QVirtioVswap *vswap = obj;
    QVirtioDevice *dev = vswap->vdev;
    uint64_t features;
    QVirtQueue *vq;

    vq = vswap_start(dev, t_alloc, &features);
    g_assert(features & (1ull << VIRTIO_F_VERSION_1));
    g_assert(features & (1ull << VIRTIO_VSWAP_F_FILL));
    g_assert(features & (1ull << VIRTIO_VSWAP_F_MQ));

    g_assert_cmpint(qvirtio_config_readq(dev, offsetof(struct virtio_vswap_config,
                                                       capacity)),
                    ==, VSWAP_TEST_CAPACITY);
    g_assert_cmpint(qvirtio_config_readl(dev, offsetof(struct virtio_vswap_config,
                                                       page_size)),
                    ==, 4096);
    g_assert_cmpint(qvirtio_config_readl(dev, offsetof(struct virtio_vswap_config,
                                                       max_batch)),
                    ==, 256);
    g_assert_cmpint(qvirtio_config_readw(dev, offsetof(struct virtio_vswap_config,
                                                       num_queues)),
                    ==, 1);
    qvirtqueue_cleanup(dev->bus, vq, t_alloc);
}

/* A request of a type the spec does not define completes with UNSUPP. */
static void unknown_type(void *obj, void *data, QGuestAllocator *t_alloc)
{
    QVirtioVswap *vswap = obj;
    QVirtioDevice *dev = vswap->vdev;
    QTestState *qts = global_qtest;
    struct virtio_vswap_req_hdr hdr = {
        .type = cpu_to_le16(0x7f),
        .count = cpu_to_le32(1),
    };
    uint64_t features, addr;
    uint32_t head, len;
    QVirtQueue *vq;

    vq = vswap_start(dev, t_alloc, &features);
    addr = guest_alloc(t_alloc, sizeof(hdr) + 2);
    memwrite(addr, &hdr, sizeof(hdr));
    writeb(addr + sizeof(hdr) + 1, 0xff);

    head = qvirtqueue_add(qts, vq, addr, sizeof(hdr), false, true);
    qvirtqueue_add(qts, vq, addr + sizeof(hdr), 2, true, false);
    qvirtqueue_kick(qts, dev, vq, head);
    qvirtio_wait_used_elem(qts, dev, vq, head, &len, VSWAP_TEST_TIMEOUT_US);

    g_assert_cmpint(readb(addr + sizeof(hdr) + 1), ==, VIRTIO_VSWAP_S_UNSUPP);
    guest_free(t_alloc, addr);
    qvirtqueue_cleanup(dev->bus, vq, t_alloc);
}

static void register_virtio_vswap_test(void)
{
    QOSGraphTestOptions opts = {
        .edge.extra_device_opts = "capacity=4096",
    };

    qos_add_test("config", "virtio-vswap", config, &opts);
    qos_add_test("unknown-type", "virtio-vswap", unknown_type, &opts);
}

libqos_init(register_virtio_vswap_test);
