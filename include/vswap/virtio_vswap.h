/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Virtio vswap device ABI: a paravirtual swap device whose slots are keys.
 *
 * The device exposes "capacity" slots of "page_size" bytes each.  A slot is
 * not a disk location: it is only a key under which the host keeps a page,
 * in whatever form it chooses (a map entry for a zero or same-filled page,
 * compressed in host memory, or compressed in a host log file).  Slots that
 * were never written, or were discarded, cost the host nothing.
 *
 * The driver sends requests on one or more request queues.  Each request
 * names a batch of discontiguous slots:
 *
 *   WRITE    store one page per slot.  A slot whose entry carries
 *            VIRTIO_VSWAP_SLOT_F_FILL is a page made of one repeated 32-bit
 *            value (zero pages are fill 0) and carries no payload.
 *   READ     return one page per slot.
 *   DISCARD  forget ranges of slots; their host memory is released.
 *
 * Request layout, in order, independent of descriptor boundaries:
 *
 *   driver -> device:  struct virtio_vswap_req_hdr
 *                      hdr.count x struct virtio_vswap_slot (WRITE, READ)
 *                            or struct virtio_vswap_range (DISCARD)
 *                      WRITE only: page_size bytes for each slot entry
 *                      without VIRTIO_VSWAP_SLOT_F_FILL, in entry order
 *   device -> driver:  READ only: page_size bytes for each slot entry
 *                      hdr.count x __u8 per-entry status
 *                      __u8 request status
 *
 * Guarantees: once a WRITE completes with VIRTIO_VSWAP_S_OK for a slot, a
 * READ of that slot returns that page until the slot is written again,
 * discarded, or the device is reset, whatever the host does meanwhile
 * (tiering, compaction, live migration).  Requests that name the same slot
 * while both are in flight complete in an unspecified order.  Device reset
 * discards every slot.
 *
 * This header is BSD licensed so anyone can use the definitions to
 * implement compatible drivers and devices.
 */
#ifndef _LINUX_VIRTIO_VSWAP_H
#define _LINUX_VIRTIO_VSWAP_H

#include <linux/types.h>
#include <linux/virtio_types.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_config.h>

/*
 * Provisional virtio device ID: not assigned by the virtio TC.  It must stay
 * below 64 (modern PCI device IDs are 0x1040 + ID) and clear of the IDs in
 * QEMU's and Linux's virtio_ids.h, which the build checks.
 */
#ifndef VIRTIO_ID_VSWAP
#define VIRTIO_ID_VSWAP			60
#endif

/* --- feature bits --- */

/* The device accepts VIRTIO_VSWAP_SLOT_F_FILL entries in WRITE requests. */
#define VIRTIO_VSWAP_F_FILL		0
/* The num_queues config field is valid. */
#define VIRTIO_VSWAP_F_MQ		1

/* --- requests --- */

/* Store one page per slot entry. */
#define VIRTIO_VSWAP_T_WRITE		0
/* Return one page per slot entry. */
#define VIRTIO_VSWAP_T_READ		1
/* Forget every slot in each range entry. */
#define VIRTIO_VSWAP_T_DISCARD		2

struct virtio_vswap_req_hdr {
	/* VIRTIO_VSWAP_T_* */
	__le16 type;
	/* must be zero */
	__le16 reserved;
	/* number of entries that follow; 1 .. max_batch */
	__le32 count;
};

/* The page is the 32-bit little-endian value "fill" repeated; no payload. */
#define VIRTIO_VSWAP_SLOT_F_FILL	(1u << 0)

/* One slot of a WRITE or READ request. */
struct virtio_vswap_slot {
	/* slot number, below capacity; unique within a request */
	__le64 slot;
	/* VIRTIO_VSWAP_SLOT_F_*; must be zero for READ */
	__le32 flags;
	/* repeated value with VIRTIO_VSWAP_SLOT_F_FILL, else zero */
	__le32 fill;
};

/* One range of a DISCARD request. */
struct virtio_vswap_range {
	/* first slot */
	__le64 start;
	/* number of slots, at least 1; start + count <= capacity */
	__le64 count;
};

/* --- responses --- */

/* Success. */
#define VIRTIO_VSWAP_S_OK		0
/* READ of a slot that holds no page: the page was zero-filled. */
#define VIRTIO_VSWAP_S_UNMAPPED		1
/* The host could not store or return this page (I/O or integrity error). */
#define VIRTIO_VSWAP_S_IOERR		2
/* The host has no room left for this page; the slot is unchanged. */
#define VIRTIO_VSWAP_S_NOSPC		3
/* Invalid entry: slot out of range, repeated in the request, bad flags. */
#define VIRTIO_VSWAP_S_INVAL		4
/* Request status only: unknown type or malformed request. */
#define VIRTIO_VSWAP_S_UNSUPP		5

/*
 * The request status is VIRTIO_VSWAP_S_OK when every entry status is OK or
 * UNMAPPED; otherwise it is the first failing entry status, or UNSUPP/INVAL
 * when the request itself is malformed (then no entry was processed and the
 * entry statuses are undefined).
 */

/* --- config space --- */

struct virtio_vswap_config {
	/* number of slots; read-only, does not change */
	__le64 capacity;
	/* bytes per slot, 4096; read-only, does not change */
	__le32 page_size;
	/* maximum entries per request; read-only, does not change */
	__le32 max_batch;
	/* number of request queues (VIRTIO_VSWAP_F_MQ); does not change */
	__le16 num_queues;
	__u8 padding[6];
};

#endif /* _LINUX_VIRTIO_VSWAP_H */
