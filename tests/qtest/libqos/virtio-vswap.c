/*
 * libqos driver for virtio-vswap: the virtio-vswap-device (virtio-bus) and
 * virtio-vswap-pci nodes, both producing the "virtio-vswap" interface.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "../libqtest.h"
#include "qemu/module.h"
#include "qgraph.h"
#include "virtio-vswap.h"

static void *qvirtio_vswap_get_driver(QVirtioVswap *vswap,
                                      const char *interface)
{
    if (!g_strcmp0(interface, "virtio-vswap")) {
        return vswap;
    }
    if (!g_strcmp0(interface, "virtio")) {
        return vswap->vdev;
    }

    fprintf(stderr, "%s not present in virtio-vswap\n", interface);
    g_assert_not_reached();
}

/* virtio-vswap-device */
static void *qvirtio_vswap_device_get_driver(void *object,
                                             const char *interface)
{
    QVirtioVswapDevice *dev = object;

    return qvirtio_vswap_get_driver(&dev->vswap, interface);
}

static void *virtio_vswap_device_create(void *virtio_dev,
                                        QGuestAllocator *t_alloc, void *addr)
{
    QVirtioVswapDevice *dev = g_new0(QVirtioVswapDevice, 1);

    dev->vswap.vdev = virtio_dev;
    dev->obj.get_driver = qvirtio_vswap_device_get_driver;
    return &dev->obj;
}

/* virtio-vswap-pci */
static void *qvirtio_vswap_pci_get_driver(void *object, const char *interface)
{
    QVirtioVswapPCI *dev = object;

    if (!g_strcmp0(interface, "pci-device")) {
        return dev->pci_vdev.pdev;
    }
    return qvirtio_vswap_get_driver(&dev->vswap, interface);
}

static void *virtio_vswap_pci_create(void *pci_bus, QGuestAllocator *t_alloc,
                                     void *addr)
{
    QVirtioVswapPCI *dev = g_new0(QVirtioVswapPCI, 1);
    QOSGraphObject *obj = &dev->pci_vdev.obj;

    virtio_pci_init(&dev->pci_vdev, pci_bus, addr);
    dev->vswap.vdev = &dev->pci_vdev.vdev;
    obj->get_driver = qvirtio_vswap_pci_get_driver;
    return obj;
}

static void virtio_vswap_register_nodes(void)
{
    QPCIAddress addr = {
        .devfn = QPCI_DEVFN(4, 0),
    };
    QOSGraphEdgeOptions opts = {
        .extra_device_opts = "addr=04.0",
    };

    qos_node_create_driver("virtio-vswap-device", virtio_vswap_device_create);
    qos_node_consumes("virtio-vswap-device", "virtio-bus", NULL);
    qos_node_produces("virtio-vswap-device", "virtio");
    qos_node_produces("virtio-vswap-device", "virtio-vswap");

    add_qpci_address(&opts, &addr);
    qos_node_create_driver("virtio-vswap-pci", virtio_vswap_pci_create);
    qos_node_consumes("virtio-vswap-pci", "pci-bus", &opts);
    qos_node_produces("virtio-vswap-pci", "pci-device");
    qos_node_produces("virtio-vswap-pci", "virtio");
    qos_node_produces("virtio-vswap-pci", "virtio-vswap");
}

libqos_init(virtio_vswap_register_nodes);
