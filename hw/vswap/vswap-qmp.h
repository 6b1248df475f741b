/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP and HMP for vswap: devices register here, so that the commands exist
 * (and answer "no device") in builds without the device.
 */
#ifndef HW_VSWAP_VSWAP_QMP_H
#define HW_VSWAP_VSWAP_QMP_H

#include "qapi/qapi-types-vswap.h"

typedef struct VswapQmpOps {
    /* Fill @info's counters; id and qom-path are filled by the caller. */
    void (*query)(void *opaque, VswapInfo *info);
    /* Start a compaction pass; false with @errp set if one is running. */
    bool (*compact)(void *opaque, bool full, Error **errp);
} VswapQmpOps;

void vswap_qmp_register(DeviceState *dev, const VswapQmpOps *ops, void *opaque);
void vswap_qmp_unregister(DeviceState *dev);

#endif /* HW_VSWAP_VSWAP_QMP_H */
