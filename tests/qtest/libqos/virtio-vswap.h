/*
 * libqos driver for virtio-vswap (interface "virtio-vswap").
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef TESTS_LIBQOS_VIRTIO_VSWAP_H
#define TESTS_LIBQOS_VIRTIO_VSWAP_H

#include "qgraph.h"
#include "virtio.h"
#include "virtio-pci.h"

typedef struct QVirtioVswap QVirtioVswap;
typedef struct QVirtioVswapPCI QVirtioVswapPCI;
typedef struct QVirtioVswapDevice QVirtioVswapDevice;

/* The transport-independent interface that tests are written against. */
struct QVirtioVswap {
    QVirtioDevice *vdev;
};

struct QVirtioVswapPCI {
    QVirtioPCIDevice pci_vdev;
    QVirtioVswap vswap;
};

struct QVirtioVswapDevice {
    QOSGraphObject obj;
    QVirtioVswap vswap;
};

#endif
