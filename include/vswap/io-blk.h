/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The store's I/O engine on a QEMU BlockBackend (QEMU build only).
 */
#ifndef VSWAP_IO_BLK_H
#define VSWAP_IO_BLK_H

#include "vswap/io-engine.h"

/*
 * vswap_io_blk_new: an engine on @blk, which must be in the store owner's
 * AioContext, allow writes beyond EOF and hold CONSISTENT_READ, WRITE and
 * RESIZE.  The engine takes a reference to @blk.  Completions signal the
 * eventfd @notify_fd.  Requests that would modify an inactive node fail
 * with -EPERM.
 */
VswapIoEngine *vswap_io_blk_new(BlockBackend *blk, int notify_fd);

#endif /* VSWAP_IO_BLK_H */
