/*
 * virtio-vswap-pci: the PCI proxy of the virtio-vswap device (modern only).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/qdev-properties.h"
#include "hw/virtio/virtio-pci.h"
#include "qapi/error.h"
#include "qemu/module.h"
#include "qom/object.h"
#include "virtio-vswap.h"

typedef struct VirtIOVswapPCI VirtIOVswapPCI;

#define TYPE_VIRTIO_VSWAP_PCI "virtio-vswap-pci-base"
DECLARE_INSTANCE_CHECKER(VirtIOVswapPCI, VIRTIO_VSWAP_PCI,
                         TYPE_VIRTIO_VSWAP_PCI)

struct VirtIOVswapPCI {
    VirtIOPCIProxy parent_obj;
    VirtIOVswap vdev;
};

static const Property virtio_vswap_pci_properties[] = {
    DEFINE_PROP_BIT("ioeventfd", VirtIOPCIProxy, flags,
                    VIRTIO_PCI_FLAG_USE_IOEVENTFD_BIT, true),
    DEFINE_PROP_UINT32("vectors", VirtIOPCIProxy, nvectors,
                       DEV_NVECTORS_UNSPECIFIED),
};

static void virtio_vswap_pci_realize(VirtIOPCIProxy *vpci_dev, Error **errp)
{
    VirtIOVswapPCI *dev = VIRTIO_VSWAP_PCI(vpci_dev);
    DeviceState *vdev = DEVICE(&dev->vdev);

    if (vpci_dev->nvectors == DEV_NVECTORS_UNSPECIFIED) {
        /* One vector per request queue plus one for config changes. */
        vpci_dev->nvectors = dev->vdev.conf.num_queues + 1;
    }
    virtio_pci_force_virtio_1(vpci_dev);
    qdev_realize(vdev, BUS(&vpci_dev->bus), errp);
}

static void virtio_vswap_pci_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    VirtioPCIClass *k = VIRTIO_PCI_CLASS(klass);
    PCIDeviceClass *pcidev_k = PCI_DEVICE_CLASS(klass);

    k->realize = virtio_vswap_pci_realize;
    set_bit(DEVICE_CATEGORY_STORAGE, dc->categories);
    pcidev_k->revision = VIRTIO_PCI_ABI_VERSION;
    pcidev_k->class_id = PCI_CLASS_STORAGE_OTHER;
    device_class_set_props(dc, virtio_vswap_pci_properties);
}

static void virtio_vswap_pci_instance_init(Object *obj)
{
    VirtIOVswapPCI *dev = VIRTIO_VSWAP_PCI(obj);

    virtio_instance_init_common(obj, &dev->vdev, sizeof(dev->vdev),
                                TYPE_VIRTIO_VSWAP);
}

static const VirtioPCIDeviceTypeInfo virtio_vswap_pci_info = {
    .base_name = TYPE_VIRTIO_VSWAP_PCI,
    .generic_name = "virtio-vswap-pci",
    .instance_size = sizeof(VirtIOVswapPCI),
    .instance_init = virtio_vswap_pci_instance_init,
    .class_init = virtio_vswap_pci_class_init,
};

static void virtio_vswap_pci_register(void)
{
    virtio_pci_types_register(&virtio_vswap_pci_info);
}

type_init(virtio_vswap_pci_register)
