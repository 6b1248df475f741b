// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio_vswap: a swap device whose slots are keys into a host page store.
 *
 * The device (include/uapi/linux/virtio_vswap.h) exposes "capacity" slots of
 * 4 KiB.  This driver turns it into a block device, /dev/vswapN, shaped for
 * swap like zram: 4 KiB blocks, non-rotational, no partitions.  Every blk-mq
 * request becomes one virtio request with one slot entry per page (slot =
 * sector / 8).  Pages that are one repeated 32-bit value (zero pages among
 * them) are sent as fill entries without payload when the device offers
 * VIRTIO_VSWAP_F_FILL.
 *
 * Swap tells the driver when it frees a slot (swap_slot_free_notify).  The
 * notification may not sleep, so the slot is only recorded in a buffer of
 * ranges; a work item sends the ranges to the host as DISCARD requests, which
 * releases the host's copy of the page.  A DISCARD must never overtake a
 * later WRITE of the same slot: a WRITE cancels the buffered ranges that it
 * overlaps, and waits (BLK_STS_DEV_RESOURCE) while a DISCARD of one of its
 * slots is on the virtqueue.  A notification that finds the buffer full is
 * dropped and counted: the slot is overwritten on reuse anyway.
 *
 * Memory: the headers, slot entries, scatterlists and status bytes of a
 * request live in its blk-mq PDU, and DISCARD commands are preallocated, so
 * the write-out path does not allocate.  The only allocation left is the
 * virtio ring's indirect descriptor table (GFP_ATOMIC); when it fails the
 * ring falls back to direct descriptors, and requests are sized so that one
 * always fits in an empty ring.
 *
 * A device reset discards every slot, so the driver refuses to freeze (for
 * suspend or hibernation) while the disk is open, e.g. in use as swap.
 *
 * A device that breaks is given up for good: when a request gets no answer
 * within io_timeout seconds, or the device sets DEVICE_NEEDS_RESET, the
 * driver logs why, resets the device (after which it touches no buffer of
 * ours), fails every request in flight and fails every later one at once.
 * Swap then sees I/O errors instead of waiting forever.
 *
 * A slot the driver wrote must not come back UNMAPPED: a bitmap of the
 * slots written since their last discard tells a lost page (an I/O error,
 * counted in lost_reads) from a probe of a slot never written (zeros).
 */

#include <linux/blk-mq-virtio.h>
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/idr.h>
#include <linux/interrupt.h>
#include <linux/module.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/sysfs.h>
#include <linux/version.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>
#include <linux/workqueue.h>

/* Out of tree the ABI header comes from the project's include/vswap. */
#include "virtio_vswap.h"

/*
 * Out-of-tree builds support Linux 6.1 and 6.11 or later.  6.11 passes
 * struct queue_limits (with BLK_FEAT_* features) to blk_mq_alloc_disk() and
 * struct virtqueue_info to virtio_find_vqs(); 6.1 sets the limits on the
 * queue and passes callback and name arrays.  In tree, only the new API.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 11, 0)
#define VSWAP_PRE_6_11_API
#endif

#define VSWAP_PAGE_SIZE		4096u
#define VSWAP_PAGE_SECTORS	(VSWAP_PAGE_SIZE >> SECTOR_SHIFT)
#define VSWAP_SECTOR_TO_SLOT	(ilog2(VSWAP_PAGE_SECTORS))
/* Upper bound of entries per request that the driver preallocates for. */
#define VSWAP_MAX_BATCH		1024u
/* DISCARD commands for free notifications, in flight at the same time. */
#define VSWAP_DISCARD_CMDS	2
/* Written into the request status before submission: "no answer". */
#define VSWAP_STATUS_NONE	0xff
/* An UNMAPPED READ entry of a slot that the driver wrote: the host lost it. */
#define VSWAP_STATUS_LOST	0xfe
#define VSWAP_VQ_NAME_LEN	16
/* Largest discard the block layer may send, in whole slots. */
#define VSWAP_MAX_DISCARD_SECTORS \
	round_down(UINT_MAX, VSWAP_PAGE_SECTORS)

static unsigned int max_batch;
module_param(max_batch, uint, 0444);
MODULE_PARM_DESC(max_batch,
		 "Maximum pages per READ/WRITE request; 0 (default) uses the device's max_batch. Also capped by the ring size and 1024.");

static unsigned int num_request_queues;
module_param(num_request_queues, uint, 0444);
MODULE_PARM_DESC(num_request_queues,
		 "Maximum number of request queues; 0 (default) for one per CPU, up to the device's num_queues.");

static unsigned int queue_depth = 64;
module_param(queue_depth, uint, 0444);
MODULE_PARM_DESC(queue_depth,
		 "Requests in flight per queue (default 64); 0 to fill the ring.");

static unsigned int io_timeout = 30;
module_param(io_timeout, uint, 0444);
MODULE_PARM_DESC(io_timeout,
		 "Seconds a request may go unanswered before the device is given up (default 30).");

static unsigned int discard_batch;
module_param(discard_batch, uint, 0444);
MODULE_PARM_DESC(discard_batch,
		 "Maximum slot ranges per DISCARD request sent for freed slots; 0 (default) uses the device's max_batch.");

static unsigned int discard_buffer = 4096;
module_param(discard_buffer, uint, 0444);
MODULE_PARM_DESC(discard_buffer,
		 "Freed-slot ranges buffered before DISCARD (default 4096); notifications beyond are dropped and counted.");

static unsigned int discard_delay_ms;
module_param(discard_delay_ms, uint, 0644);
MODULE_PARM_DESC(discard_delay_ms,
		 "Gather freed slots this long before sending a DISCARD, unless a full batch is ready (default 0: at once).");

#ifdef VSWAP_DEBUG
static unsigned int debug_discard_hold_ms;
module_param(debug_discard_hold_ms, uint, 0644);
MODULE_PARM_DESC(debug_discard_hold_ms,
		 "Testing only: hold each DISCARD this long between taking its ranges and queueing it, so that WRITEs of those slots must wait.");
#endif

static bool free_notify = true;
module_param(free_notify, bool, 0644);
MODULE_PARM_DESC(free_notify,
		 "Discard slots on the host when swap frees them (default true).");

static bool fill_detect = true;
module_param(fill_detect, bool, 0644);
MODULE_PARM_DESC(fill_detect,
		 "Send zero and same-filled pages without payload when the device offers VIRTIO_VSWAP_F_FILL (default true).");

static int vswap_major;
static DEFINE_IDA(vswap_index_ida);
static struct workqueue_struct *vswap_wq;

/* Statistics, exposed under /sys/block/vswapN/vswap/. */
struct vswap_stats {
	atomic64_t pages_written;	/* pages stored by successful WRITEs */
	atomic64_t pages_read;		/* pages returned by successful READs */
	atomic64_t fill_pages;		/* WRITE entries sent as fill, no payload */
	atomic64_t zero_pages;		/* ... of which were zero pages */
	atomic64_t unmapped_reads;	/* READ entries the host held no page for */
	atomic64_t notify_slots;	/* slots freed by swap (free notify) */
	atomic64_t notify_dropped;	/* freed slots never discarded: no room */
	atomic64_t notify_cancelled;	/* freed slots rewritten before discard */
	atomic64_t discard_reqs;	/* DISCARD requests sent to the host */
	atomic64_t discard_slots;	/* slots covered by those requests */
	atomic64_t discard_errors;	/* DISCARD requests that failed */
	atomic64_t write_waits;		/* WRITEs held back by an in-flight DISCARD */
	atomic64_t io_errors;		/* READ/WRITE/DISCARD requests failed */
	atomic64_t lost_reads;		/* UNMAPPED READ entries of written slots */
};

enum vswap_cmd_kind {
	VSWAP_CMD_BLK,		/* a blk-mq request (struct vswap_req) */
	VSWAP_CMD_DISCARD,	/* a freed-slot DISCARD (struct vswap_dcmd) */
};

/* First member of everything queued on a virtqueue: the token's type. */
struct vswap_cmd {
	enum vswap_cmd_kind kind;
};

union vswap_entry {
	struct virtio_vswap_slot slot;
	struct virtio_vswap_range range;
};

/*
 * The PDU of a blk-mq request.  ent[] follows hdr without padding so that
 * both go to the device as one buffer; then come max_pages scatterlist
 * entries for the payload and max_pages + 1 status bytes (set up in
 * vswap_init_request()).
 */
struct vswap_req {
	struct vswap_cmd cmd;
	u32 count;			/* entries in this request */
	u32 nfill;			/* WRITE entries sent as fill */
	u32 nzero;			/* ... with fill value zero */
	u64 nslots;			/* DISCARD: slots covered */
	struct scatterlist *sg;		/* payload pages */
	u8 *status;			/* count entries, then the request */
	struct scatterlist hdr_sg;
	struct scatterlist status_sg;
	struct virtio_vswap_req_hdr hdr __aligned(8);
	union vswap_entry ent[];
};

enum vswap_dcmd_state {
	VSWAP_DCMD_FREE,
	VSWAP_DCMD_BUSY,	/* being sent, or on the virtqueue */
	VSWAP_DCMD_DEFERRED,	/* the virtqueue was full: to be resent */
};

/* A preallocated DISCARD request for freed slots. */
struct vswap_dcmd {
	struct vswap_cmd cmd;
	enum vswap_dcmd_state state;	/* under vswap_dev.dlock */
	u32 count;			/* ranges */
	u64 nslots;			/* slots in all ranges */
	u64 lo, hi;			/* all ranges lie in [lo, hi) */
	u8 *status;			/* count entries, then the request */
	struct scatterlist hdr_sg;
	struct scatterlist status_sg;
	struct virtio_vswap_req_hdr hdr __aligned(8);
	struct virtio_vswap_range ranges[];
};

/* A range of freed slots waiting to be discarded. */
struct vswap_range {
	u64 start;
	u64 count;
};

struct vswap_vq {
	struct virtqueue *vq;
	spinlock_t lock;		/* serializes use of vq */
	bool discard_retry;		/* a DISCARD found the ring full */
	char name[VSWAP_VQ_NAME_LEN];
} ____cacheline_aligned_in_smp;

struct vswap_dev {
	struct virtio_device *vdev;
	struct gendisk *disk;
	struct blk_mq_tag_set tag_set;
	int index;

	u64 capacity;			/* slots */
	u32 dev_max_batch;		/* entries per request, from config */
	u32 max_pages;			/* pages per READ/WRITE request */
	bool fill;			/* VIRTIO_VSWAP_F_FILL negotiated */

	int num_vqs;
	struct vswap_vq *vqs;

	/*
	 * Freed slots.  dlock protects everything up to discard_work, and the
	 * state of the DISCARD commands.  Lock order: vswap_vq.lock, dlock.
	 */
	spinlock_t dlock;
	struct vswap_range *pending;	/* freed ranges not yet sent */
	u32 npending;
	u32 pending_max;
	/* while npending, all pending ranges lie in [lo, hi) */
	u64 pending_lo, pending_hi;
	u32 dactive;			/* npending + busy commands */
	bool stopped;			/* removed or frozen: send nothing */
	u32 dcmd_ranges;		/* ranges per DISCARD command */
	struct vswap_dcmd *dcmds[VSWAP_DISCARD_CMDS];
	struct delayed_work discard_work;

	/* Slots written and not discarded since; NULL: not tracked. */
	unsigned long *written;
	bool lost_warned;		/* lost_reads was logged */

	unsigned long flags;		/* VSWAP_BROKEN */
	struct work_struct broken_work;	/* vswap_broken_work() */

	struct vswap_stats stats;
};

/* vswap_dev.flags: the device was given up; every request fails. */
#define VSWAP_BROKEN		0

/* --- freed slots --- */

/* Add [start, start + count) to the pending ranges; false if full. */
static bool vswap_pending_add(struct vswap_dev *vs, u64 start, u64 count)
{
	struct vswap_range *last;

	if (vs->npending) {
		last = &vs->pending[vs->npending - 1];
		if (start == last->start + last->count) {
			last->count += count;
			goto bounds;
		}
		if (start + count == last->start) {
			last->start = start;
			last->count += count;
			goto bounds;
		}
	}
	if (vs->npending == vs->pending_max)
		return false;
	vs->pending[vs->npending].start = start;
	vs->pending[vs->npending].count = count;
	if (!vs->npending++) {
		vs->pending_lo = start;
		vs->pending_hi = start + count;
	}
	WRITE_ONCE(vs->dactive, vs->dactive + 1);
bounds:
	vs->pending_lo = min(vs->pending_lo, start);
	vs->pending_hi = max(vs->pending_hi, start + count);
	return true;
}

/* A WRITE of [a, b) is coming: forget the pending discards it overlaps. */
static void vswap_pending_cancel(struct vswap_dev *vs, u64 a, u64 b)
{
	u64 cancelled = 0, dropped = 0;
	u32 i = 0;

	if (!vs->npending || b <= vs->pending_lo || a >= vs->pending_hi)
		return;

	while (i < vs->npending) {
		struct vswap_range *r = &vs->pending[i];
		u64 s = r->start, e = r->start + r->count;

		if (e <= a || s >= b) {
			i++;
			continue;
		}
		cancelled += min(e, b) - max(s, a);
		if (s < a && e > b) {
			/* Split: keep [s, a), and [b, e) if there is room. */
			r->count = a - s;
			if (vs->npending < vs->pending_max) {
				vs->pending[vs->npending].start = b;
				vs->pending[vs->npending].count = e - b;
				vs->npending++;
				WRITE_ONCE(vs->dactive, vs->dactive + 1);
			} else {
				dropped += e - b;
			}
			i++;
		} else if (s < a) {
			r->count = a - s;
			i++;
		} else if (e > b) {
			r->start = b;
			r->count = e - b;
			i++;
		} else {
			*r = vs->pending[--vs->npending];
			WRITE_ONCE(vs->dactive, vs->dactive - 1);
		}
	}
	atomic64_add(cancelled, &vs->stats.notify_cancelled);
	atomic64_add(dropped, &vs->stats.notify_dropped);
}

/* Is a DISCARD of a slot in [a, b) being sent or on the virtqueue? */
static bool vswap_dcmd_overlaps(struct vswap_dev *vs, u64 a, u64 b)
{
	int i;
	u32 j;

	for (i = 0; i < VSWAP_DISCARD_CMDS; i++) {
		struct vswap_dcmd *d = vs->dcmds[i];

		if (d->state == VSWAP_DCMD_FREE || b <= d->lo || a >= d->hi)
			continue;
		for (j = 0; j < d->count; j++) {
			u64 s = le64_to_cpu(d->ranges[j].start);
			u64 e = s + le64_to_cpu(d->ranges[j].count);

			if (s < b && a < e)
				return true;
		}
	}
	return false;
}

/*
 * Order a WRITE of [a, b) after the discards of its slots: cancel those not
 * sent yet; if one is in flight, stop the hardware queue and return true.
 * The queue restarts when the DISCARD completes (vswap_vq_done()).
 */
static bool vswap_write_must_wait(struct vswap_dev *vs,
				  struct blk_mq_hw_ctx *hctx, u64 a, u64 b)
{
	unsigned long flags;
	bool wait = false;

	/*
	 * The slots were freed, and their ranges added, before swap could
	 * allocate them again and submit this WRITE.
	 */
	if (!READ_ONCE(vs->dactive))
		return false;

	spin_lock_irqsave(&vs->dlock, flags);
	if (!vs->stopped) {
		vswap_pending_cancel(vs, a, b);
		wait = vswap_dcmd_overlaps(vs, a, b);
		if (wait)
			blk_mq_stop_hw_queue(hctx);
	}
	spin_unlock_irqrestore(&vs->dlock, flags);

	if (wait)
		atomic64_inc(&vs->stats.write_waits);
	return wait;
}

/*
 * Run the discard work: at once when a full DISCARD is ready (or @now),
 * else after discard_delay_ms, to gather more slots.  Any context.
 */
static void vswap_kick_discard(struct vswap_dev *vs, u32 npending, bool now)
{
	unsigned int ms = READ_ONCE(discard_delay_ms);

	if (!ms)		/* cheap when already queued */
		queue_delayed_work(vswap_wq, &vs->discard_work, 0);
	else if (now || npending >= vs->dcmd_ranges)
		mod_delayed_work(vswap_wq, &vs->discard_work, 0);
	else
		queue_delayed_work(vswap_wq, &vs->discard_work,
				   msecs_to_jiffies(ms));
}

/*
 * Slots [start, start + count) are being discarded: an UNMAPPED READ of
 * them is no loss.  Whole words are stored, so a WRITE racing the discard
 * of its own slot may go untracked (a missed report, never a false one).
 */
static void vswap_forget_slots(struct vswap_dev *vs, u64 start, u64 count)
{
	u64 end = start + count;

	if (!vs->written)
		return;
	for (; start < end && start % BITS_PER_LONG; start++)
		clear_bit(start, vs->written);
	for (; start + BITS_PER_LONG <= end; start += BITS_PER_LONG)
		WRITE_ONCE(vs->written[start / BITS_PER_LONG], 0);
	for (; start < end; start++)
		clear_bit(start, vs->written);
}

/* Swap freed a slot.  Called with a spinlock held: must not sleep. */
static void vswap_slot_free_notify(struct block_device *bdev,
				   unsigned long slot)
{
	struct vswap_dev *vs = bdev->bd_disk->private_data;
	unsigned long flags;
	bool added = false;
	u32 npending = 0;

	atomic64_inc(&vs->stats.notify_slots);
	if (slot < vs->capacity)
		vswap_forget_slots(vs, slot, 1);
	if (READ_ONCE(free_notify) && slot < vs->capacity) {
		spin_lock_irqsave(&vs->dlock, flags);
		if (!vs->stopped)
			added = vswap_pending_add(vs, slot, 1);
		npending = vs->npending;
		spin_unlock_irqrestore(&vs->dlock, flags);
	}

	if (added)
		vswap_kick_discard(vs, npending, false);
	else
		atomic64_inc(&vs->stats.notify_dropped);
}

/* Move up to dcmd_ranges pending ranges into @d.  Called under dlock. */
static void vswap_dcmd_fill(struct vswap_dev *vs, struct vswap_dcmd *d)
{
	u32 n = min(vs->npending, vs->dcmd_ranges);
	u32 i;

	d->count = n;
	d->nslots = 0;
	d->lo = U64_MAX;
	d->hi = 0;
	for (i = 0; i < n; i++) {
		struct vswap_range *r = &vs->pending[vs->npending - n + i];

		d->ranges[i].start = cpu_to_le64(r->start);
		d->ranges[i].count = cpu_to_le64(r->count);
		d->nslots += r->count;
		d->lo = min(d->lo, r->start);
		d->hi = max(d->hi, r->start + r->count);
	}
	vs->npending -= n;
	/* n pending ranges become one busy command */
	WRITE_ONCE(vs->dactive, vs->dactive - n + 1);
	d->state = VSWAP_DCMD_BUSY;
}

/* Queue @d on the first virtqueue.  Returns 0 or -errno. */
static int vswap_dcmd_send(struct vswap_dev *vs, struct vswap_dcmd *d)
{
	struct vswap_vq *vvq = &vs->vqs[0];
	struct scatterlist *sgs[2];
	unsigned long flags;
	bool notify = false;
	int err;

	d->hdr.type = cpu_to_le16(VIRTIO_VSWAP_T_DISCARD);
	d->hdr.reserved = 0;
	d->hdr.count = cpu_to_le32(d->count);
	d->status[d->count] = VSWAP_STATUS_NONE;
	sg_init_one(&d->hdr_sg, &d->hdr,
		    sizeof(d->hdr) + d->count * sizeof(d->ranges[0]));
	sg_init_one(&d->status_sg, d->status, d->count + 1);
	sgs[0] = &d->hdr_sg;
	sgs[1] = &d->status_sg;

	spin_lock_irqsave(&vvq->lock, flags);
	err = virtqueue_add_sgs(vvq->vq, sgs, 1, 1, &d->cmd,
				GFP_ATOMIC | __GFP_NOWARN);
	if (!err) {
		notify = virtqueue_kick_prepare(vvq->vq);
	} else if (err == -ENOSPC) {
		/* The ring is full; vswap_vq_done() requeues the work. */
		spin_lock(&vs->dlock);
		d->state = VSWAP_DCMD_DEFERRED;
		spin_unlock(&vs->dlock);
		vvq->discard_retry = true;
	}
	spin_unlock_irqrestore(&vvq->lock, flags);

	if (notify)
		virtqueue_notify(vvq->vq);
	if (!err) {
		atomic64_inc(&vs->stats.discard_reqs);
		atomic64_add(d->nslots, &vs->stats.discard_slots);
	}
	return err;
}

/* Send the pending ranges as DISCARD requests, as commands free up. */
static void vswap_discard_work(struct work_struct *work)
{
	struct vswap_dev *vs = container_of(to_delayed_work(work),
					    struct vswap_dev, discard_work);
	struct vswap_dcmd *d;
	bool restart;
	int i, err;

	for (;;) {
		spin_lock_irq(&vs->dlock);
		d = NULL;
		for (i = 0; i < VSWAP_DISCARD_CMDS && !vs->stopped; i++) {
			if (vs->dcmds[i]->state == VSWAP_DCMD_DEFERRED) {
				d = vs->dcmds[i];
				d->state = VSWAP_DCMD_BUSY;
				break;
			}
		}
		for (i = 0; !d && vs->npending && !vs->stopped &&
		     i < VSWAP_DISCARD_CMDS; i++) {
			if (vs->dcmds[i]->state == VSWAP_DCMD_FREE) {
				d = vs->dcmds[i];
				vswap_dcmd_fill(vs, d);
			}
		}
		spin_unlock_irq(&vs->dlock);
		if (!d)
			return;

#ifdef VSWAP_DEBUG
		if (READ_ONCE(debug_discard_hold_ms))
			msleep(READ_ONCE(debug_discard_hold_ms));
#endif
		err = vswap_dcmd_send(vs, d);
		if (!err)
			continue;
		if (err == -ENOSPC)
			return;

		/* The virtqueue is broken: give the slots up. */
		dev_err_ratelimited(&vs->vdev->dev,
				    "cannot queue DISCARD: %d\n", err);
		atomic64_add(d->nslots, &vs->stats.notify_dropped);
		spin_lock_irq(&vs->dlock);
		d->state = VSWAP_DCMD_FREE;
		WRITE_ONCE(vs->dactive, vs->dactive - 1);
		restart = !vs->stopped;
		spin_unlock_irq(&vs->dlock);
		if (restart)
			blk_mq_start_stopped_hw_queues(vs->disk->queue, true);
		return;
	}
}

/* A DISCARD of freed slots completed.  Called under the vq lock. */
static void vswap_dcmd_done(struct vswap_dev *vs, struct vswap_dcmd *d)
{
	u32 npending;

	if (d->status[d->count] != VIRTIO_VSWAP_S_OK) {
		atomic64_inc(&vs->stats.discard_errors);
		dev_err_ratelimited(&vs->vdev->dev,
				    "DISCARD of %llu slots failed: status %u\n",
				    d->nslots, d->status[d->count]);
	}

	spin_lock(&vs->dlock);
	d->state = VSWAP_DCMD_FREE;
	WRITE_ONCE(vs->dactive, vs->dactive - 1);
	npending = vs->stopped ? 0 : vs->npending;
	spin_unlock(&vs->dlock);

	if (npending)
		vswap_kick_discard(vs, npending, false);
}

/* Stop sending DISCARDs and forget the pending ones (a reset follows). */
static void vswap_stop_discard(struct vswap_dev *vs)
{
	spin_lock_irq(&vs->dlock);
	vs->stopped = true;
	WRITE_ONCE(vs->dactive, vs->dactive - vs->npending);
	vs->npending = 0;
	spin_unlock_irq(&vs->dlock);
	cancel_delayed_work_sync(&vs->discard_work);
	/* WRITEs no longer wait for DISCARDs (vswap_write_must_wait()). */
	blk_mq_start_stopped_hw_queues(vs->disk->queue, true);
}

/* After a reset: no command is on a virtqueue any more. */
static void vswap_reset_discard(struct vswap_dev *vs)
{
	int i;

	/* vswap_vq_done() may have queued the work again. */
	cancel_delayed_work_sync(&vs->discard_work);
	spin_lock_irq(&vs->dlock);
	for (i = 0; i < VSWAP_DISCARD_CMDS; i++)
		vs->dcmds[i]->state = VSWAP_DCMD_FREE;
	WRITE_ONCE(vs->dactive, 0);
	spin_unlock_irq(&vs->dlock);
}

/* --- block requests --- */

/* Is the page at @page + @off one repeated 32-bit value?  Then @fill. */
static bool vswap_page_fill(struct page *page, unsigned int off,
			    __le32 *fill)
{
	void *base = kmap_local_page(page);
	const u64 *p = base + off;
	u64 v = p[0];
	bool same = lower_32_bits(v) == upper_32_bits(v);
	unsigned int i;

	for (i = 1; same && i < VSWAP_PAGE_SIZE / sizeof(*p); i++)
		same = p[i] == v;
	if (same)
		memcpy(fill, p, sizeof(*fill));
	kunmap_local(base);
	return same;
}

/* Fill in the slot entries and payload of a READ or WRITE. */
static blk_status_t vswap_setup_rw(struct vswap_dev *vs, struct request *rq,
				   struct vswap_req *vr, bool write)
{
	sector_t pos = blk_rq_pos(rq);
	unsigned int bytes = blk_rq_bytes(rq);
	u64 first = pos >> VSWAP_SECTOR_TO_SLOT;
	bool fill = write && vs->fill && READ_ONCE(fill_detect);
	struct req_iterator iter;
	struct bio_vec bv;
	u32 i = 0, np = 0;
	u32 count;

	if (WARN_ON_ONCE(pos & (VSWAP_PAGE_SECTORS - 1) || !bytes ||
			 bytes % VSWAP_PAGE_SIZE))
		return BLK_STS_IOERR;
	count = bytes / VSWAP_PAGE_SIZE;
	if (WARN_ON_ONCE(count > vs->max_pages) ||
	    first + count > vs->capacity)
		return BLK_STS_IOERR;

	vr->count = count;
	vr->nfill = 0;
	vr->nzero = 0;
	vr->nslots = count;
	sg_init_table(vr->sg, count);
	rq_for_each_segment(bv, rq, iter) {
		unsigned int off;

		if (WARN_ON_ONCE(bv.bv_offset % VSWAP_PAGE_SIZE ||
				 bv.bv_len % VSWAP_PAGE_SIZE))
			return BLK_STS_IOERR;
		for (off = 0; off < bv.bv_len; off += VSWAP_PAGE_SIZE) {
			struct virtio_vswap_slot *ent = &vr->ent[i].slot;
			__le32 val;

			if (WARN_ON_ONCE(i >= count))
				return BLK_STS_IOERR;
			ent->slot = cpu_to_le64(first + i);
			ent->flags = 0;
			ent->fill = 0;
			if (fill && vswap_page_fill(bv.bv_page,
						    bv.bv_offset + off, &val)) {
				ent->flags = cpu_to_le32(VIRTIO_VSWAP_SLOT_F_FILL);
				ent->fill = val;
				vr->nfill++;
				if (!val)
					vr->nzero++;
			} else {
				sg_set_page(&vr->sg[np++], bv.bv_page,
					    VSWAP_PAGE_SIZE, bv.bv_offset + off);
			}
			i++;
		}
	}
	if (WARN_ON_ONCE(i != count))
		return BLK_STS_IOERR;
	if (np)
		sg_mark_end(&vr->sg[np - 1]);
	vr->hdr.type = cpu_to_le16(write ? VIRTIO_VSWAP_T_WRITE :
				   VIRTIO_VSWAP_T_READ);
	return BLK_STS_OK;
}

/* Add one range of a block-layer discard, rounded inward to whole slots. */
static void vswap_add_discard_range(struct vswap_dev *vs,
				    struct vswap_req *vr, sector_t pos,
				    unsigned int bytes)
{
	u64 start = DIV_ROUND_UP_ULL(pos, VSWAP_PAGE_SECTORS);
	u64 end = (pos + (bytes >> SECTOR_SHIFT)) >> VSWAP_SECTOR_TO_SLOT;

	end = min(end, vs->capacity);
	if (start >= end)
		return;
	vswap_forget_slots(vs, start, end - start);
	vr->ent[vr->count].range.start = cpu_to_le64(start);
	vr->ent[vr->count].range.count = cpu_to_le64(end - start);
	vr->count++;
	vr->nslots += end - start;
}

static blk_status_t vswap_setup_discard(struct vswap_dev *vs,
					struct request *rq,
					struct vswap_req *vr)
{
	struct bio *bio;

	vr->count = 0;
	vr->nslots = 0;
	if (queue_max_discard_segments(rq->q) == 1) {
		vswap_add_discard_range(vs, vr, blk_rq_pos(rq),
					blk_rq_bytes(rq));
	} else {
		__rq_for_each_bio(bio, rq) {
			if (WARN_ON_ONCE(vr->count >= vs->max_pages))
				return BLK_STS_IOERR;
			vswap_add_discard_range(vs, vr, bio->bi_iter.bi_sector,
						bio->bi_iter.bi_size);
		}
	}
	vr->hdr.type = cpu_to_le16(VIRTIO_VSWAP_T_DISCARD);
	return BLK_STS_OK;
}

static blk_status_t vswap_queue_rq(struct blk_mq_hw_ctx *hctx,
				   const struct blk_mq_queue_data *bd)
{
	struct vswap_dev *vs = hctx->queue->queuedata;
	struct vswap_vq *vvq = &vs->vqs[hctx->queue_num];
	struct request *rq = bd->rq;
	struct vswap_req *vr = blk_mq_rq_to_pdu(rq);
	struct scatterlist *sgs[3];
	unsigned int nout = 0, nin = 0;
	unsigned long flags;
	bool write = false;
	bool notify;
	blk_status_t st;
	int err;

	/* Quiesced while it was given up: nothing is queued after that. */
	if (unlikely(test_bit(VSWAP_BROKEN, &vs->flags)))
		return BLK_STS_IOERR;

	switch (req_op(rq)) {
	case REQ_OP_FLUSH:
		/* The host acknowledges a WRITE only once it stored it. */
		blk_mq_start_request(rq);
		blk_mq_end_request(rq, BLK_STS_OK);
		return BLK_STS_OK;
	case REQ_OP_WRITE:
		write = true;
		if (vswap_write_must_wait(vs, hctx,
					  blk_rq_pos(rq) >> VSWAP_SECTOR_TO_SLOT,
					  (blk_rq_pos(rq) >> VSWAP_SECTOR_TO_SLOT) +
					  DIV_ROUND_UP(blk_rq_bytes(rq),
						       VSWAP_PAGE_SIZE)))
			return BLK_STS_DEV_RESOURCE;
		fallthrough;
	case REQ_OP_READ:
		st = vswap_setup_rw(vs, rq, vr, write);
		break;
	case REQ_OP_DISCARD:
		st = vswap_setup_discard(vs, rq, vr);
		break;
	default:
		return BLK_STS_NOTSUPP;
	}
	if (unlikely(st))
		return st;

	blk_mq_start_request(rq);
	if (!vr->count) {
		/* A discard smaller than a slot. */
		blk_mq_end_request(rq, BLK_STS_OK);
		return BLK_STS_OK;
	}

	vr->hdr.reserved = 0;
	vr->hdr.count = cpu_to_le32(vr->count);
	sg_init_one(&vr->hdr_sg, &vr->hdr,
		    sizeof(vr->hdr) + vr->count * sizeof(vr->ent[0]));
	sgs[nout++] = &vr->hdr_sg;
	if (req_op(rq) == REQ_OP_WRITE) {
		if (vr->nfill < vr->count)
			sgs[nout++] = vr->sg;
	} else if (req_op(rq) == REQ_OP_READ) {
		sgs[nout + nin++] = vr->sg;
	}
	/* An entry the device does not answer must not read as success. */
	memset(vr->status, VSWAP_STATUS_NONE, vr->count + 1);
	sg_init_one(&vr->status_sg, vr->status, vr->count + 1);
	sgs[nout + nin++] = &vr->status_sg;

	spin_lock_irqsave(&vvq->lock, flags);
	err = virtqueue_add_sgs(vvq->vq, sgs, nout, nin, &vr->cmd,
				GFP_ATOMIC | __GFP_NOWARN);
	if (unlikely(err)) {
		virtqueue_kick(vvq->vq);
		/* Restarted by vswap_vq_done() when the ring drains. */
		if (err == -ENOSPC)
			blk_mq_stop_hw_queue(hctx);
		spin_unlock_irqrestore(&vvq->lock, flags);
		switch (err) {
		case -ENOSPC:
			return BLK_STS_DEV_RESOURCE;
		case -ENOMEM:
			return BLK_STS_RESOURCE;
		default:
			return BLK_STS_IOERR;
		}
	}
	notify = bd->last && virtqueue_kick_prepare(vvq->vq);
	spin_unlock_irqrestore(&vvq->lock, flags);

	if (notify)
		virtqueue_notify(vvq->vq);
	return BLK_STS_OK;
}

static void vswap_commit_rqs(struct blk_mq_hw_ctx *hctx)
{
	struct vswap_dev *vs = hctx->queue->queuedata;
	struct vswap_vq *vvq = &vs->vqs[hctx->queue_num];
	bool kick;

	spin_lock_irq(&vvq->lock);
	kick = virtqueue_kick_prepare(vvq->vq);
	spin_unlock_irq(&vvq->lock);

	if (kick)
		virtqueue_notify(vvq->vq);
}

/*
 * Zero the pages of the READ entries that the host held no page for.  An
 * entry of a slot that this driver wrote, and did not discard since, was
 * lost by the host: it becomes VSWAP_STATUS_LOST.  Returns those entries.
 */
static u32 vswap_read_unmapped(struct vswap_dev *vs, struct request *rq,
			       struct vswap_req *vr)
{
	struct req_iterator iter;
	struct bio_vec bv;
	u32 i = 0, n = 0, lost = 0;

	rq_for_each_segment(bv, rq, iter) {
		unsigned int off;

		for (off = 0; off < bv.bv_len && i < vr->count;
		     off += VSWAP_PAGE_SIZE, i++) {
			u64 slot = le64_to_cpu(vr->ent[i].slot.slot);

			if (vr->status[i] != VIRTIO_VSWAP_S_UNMAPPED)
				continue;
			memzero_page(bv.bv_page, bv.bv_offset + off,
				     VSWAP_PAGE_SIZE);
			n++;
			if (vs->written && test_bit(slot, vs->written)) {
				vr->status[i] = VSWAP_STATUS_LOST;
				lost++;
			}
		}
	}
	if (n)
		atomic64_add(n, &vs->stats.unmapped_reads);
	if (lost) {
		atomic64_add(lost, &vs->stats.lost_reads);
		if (!xchg(&vs->lost_warned, true))
			dev_warn(&vs->vdev->dev,
				 "%s: the host lost written slots (first: READ of %u entries at slot %llu); they fail as I/O errors, see lost_reads\n",
				 vs->disk->disk_name, vr->count,
				 le64_to_cpu(vr->ent[0].slot.slot));
	}
	return lost;
}

/* Which slots of a completed WRITE the host now holds, by entry status. */
static void vswap_track_write(struct vswap_dev *vs, struct vswap_req *vr)
{
	u32 i;

	if (!vs->written)
		return;
	for (i = 0; i < vr->count; i++) {
		u64 slot = le64_to_cpu(vr->ent[i].slot.slot);

		if (vr->status[i] == VIRTIO_VSWAP_S_OK)
			set_bit(slot, vs->written);
		else if (vr->status[i] != VIRTIO_VSWAP_S_NOSPC)
			clear_bit(slot, vs->written);	/* unknown now */
	}
}

static const char *vswap_op_name(struct request *rq)
{
	switch (req_op(rq)) {
	case REQ_OP_READ:
		return "READ";
	case REQ_OP_WRITE:
		return "WRITE";
	default:
		return "DISCARD";
	}
}

static blk_status_t vswap_blk_status(u8 status)
{
	switch (status) {
	case VIRTIO_VSWAP_S_OK:
	case VIRTIO_VSWAP_S_UNMAPPED:
		return BLK_STS_OK;
	case VIRTIO_VSWAP_S_NOSPC:
		return BLK_STS_NOSPC;
	default:
		return BLK_STS_IOERR;
	}
}

/*
 * A READ or WRITE that failed for some entries only: complete it page by
 * page with each entry's own status.  Swap submits one bio per page, so
 * a damaged record costs the guest that page, not its neighbours in the
 * request.
 */
static void vswap_end_rq_by_entry(struct vswap_dev *vs, struct request *rq,
				  struct vswap_req *vr)
{
	u32 i;

	for (i = 0; i < vr->count; i++) {
		if (!blk_update_request(rq, vswap_blk_status(vr->status[i]),
					VSWAP_PAGE_SIZE))
			break;
	}
	__blk_mq_end_request(rq, BLK_STS_OK);
}

static void vswap_complete_rq(struct request *rq)
{
	struct vswap_dev *vs = rq->q->queuedata;
	struct vswap_req *vr = blk_mq_rq_to_pdu(rq);
	u8 status = vr->status[vr->count];
	blk_status_t st = vswap_blk_status(status);

	if (unlikely(st)) {
		atomic64_inc(&vs->stats.io_errors);
		/* A device given up: the reason was logged once. */
		if (!test_bit(VSWAP_BROKEN, &vs->flags))
			dev_err_ratelimited(&vs->vdev->dev,
					    "%s of %u entries at slot %llu failed: status %u\n",
					    vswap_op_name(rq), vr->count,
					    le64_to_cpu(vr->ent[0].slot.slot),
					    status);
		/*
		 * IOERR and NOSPC come with a status per entry; INVAL may
		 * mean a malformed request, which has none.
		 */
		if (req_op(rq) != REQ_OP_DISCARD &&
		    (status == VIRTIO_VSWAP_S_IOERR ||
		     status == VIRTIO_VSWAP_S_NOSPC) &&
		    blk_rq_bytes(rq) == (unsigned int)vr->count * VSWAP_PAGE_SIZE) {
			if (req_op(rq) == REQ_OP_READ)
				vswap_read_unmapped(vs, rq, vr);
			else
				vswap_track_write(vs, vr);
			vswap_end_rq_by_entry(vs, rq, vr);
			return;
		}
	} else if (req_op(rq) == REQ_OP_READ) {
		if (unlikely(vswap_read_unmapped(vs, rq, vr))) {
			atomic64_inc(&vs->stats.io_errors);
			vswap_end_rq_by_entry(vs, rq, vr);
			return;
		}
		atomic64_add(vr->count, &vs->stats.pages_read);
	} else if (req_op(rq) == REQ_OP_WRITE) {
		vswap_track_write(vs, vr);
		atomic64_add(vr->count, &vs->stats.pages_written);
		atomic64_add(vr->nfill, &vs->stats.fill_pages);
		atomic64_add(vr->nzero, &vs->stats.zero_pages);
	} else {
		atomic64_inc(&vs->stats.discard_reqs);
		atomic64_add(vr->nslots, &vs->stats.discard_slots);
	}
	blk_mq_end_request(rq, st);
}

static void vswap_vq_done(struct virtqueue *vq)
{
	struct vswap_dev *vs = vq->vdev->priv;
	struct vswap_vq *vvq = &vs->vqs[vq->index];
	struct vswap_cmd *cmd;
	bool done = false, retry = false;
	unsigned long flags;
	unsigned int len;

	spin_lock_irqsave(&vvq->lock, flags);
	do {
		virtqueue_disable_cb(vq);
		while ((cmd = virtqueue_get_buf(vq, &len))) {
			struct vswap_req *vr;
			struct request *rq;

			done = true;
			if (cmd->kind == VSWAP_CMD_DISCARD) {
				vswap_dcmd_done(vs, container_of(cmd, struct vswap_dcmd,
								 cmd));
				continue;
			}
			vr = container_of(cmd, struct vswap_req, cmd);
			rq = blk_mq_rq_from_pdu(vr);
			if (likely(!blk_should_fake_timeout(rq->q)))
				blk_mq_complete_request(rq);
		}
	} while (!virtqueue_enable_cb(vq));

	if (done) {
		/* Room in the ring, or a DISCARD that held a WRITE is done. */
		blk_mq_start_stopped_hw_queues(vs->disk->queue, true);
		retry = vvq->discard_retry;
		vvq->discard_retry = false;
	}
	spin_unlock_irqrestore(&vvq->lock, flags);

	if (retry)
		vswap_kick_discard(vs, 0, true);
}

static int vswap_init_request(struct blk_mq_tag_set *set, struct request *rq,
			      unsigned int hctx_idx, unsigned int numa_node)
{
	struct vswap_dev *vs = set->driver_data;
	struct vswap_req *vr = blk_mq_rq_to_pdu(rq);

	vr->cmd.kind = VSWAP_CMD_BLK;
	vr->sg = (struct scatterlist *)&vr->ent[vs->max_pages];
	vr->status = (u8 *)&vr->sg[vs->max_pages];
	return 0;
}

static void vswap_map_queues(struct blk_mq_tag_set *set)
{
	struct vswap_dev *vs = set->driver_data;

	blk_mq_virtio_map_queues(&set->map[HCTX_TYPE_DEFAULT], vs->vdev, 0);
}

/* --- a broken device --- */

/*
 * Give the device up, once: say why, and let vswap_broken_work() fail
 * what is in flight.  Any context.
 */
static __printf(2, 3) void vswap_give_up(struct vswap_dev *vs,
					 const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	if (test_and_set_bit(VSWAP_BROKEN, &vs->flags))
		return;
	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	dev_err(&vs->vdev->dev,
		"%s: %pV: giving the device up, its I/O fails from now on\n",
		vs->disk->disk_name, &vaf);
	va_end(args);
	queue_work(vswap_wq, &vs->broken_work);
}

static bool vswap_cancel_rq(struct request *rq, void *data)
{
	struct vswap_req *vr = blk_mq_rq_to_pdu(rq);

	if (blk_mq_rq_state(rq) != MQ_RQ_IN_FLIGHT)
		return true;
	vr->status[vr->count] = VSWAP_STATUS_NONE;
	blk_mq_complete_request(rq);
	return true;
}

/*
 * Stop the device touching our buffers (a reset), then fail every request
 * it held.  Queueing is quiesced meanwhile; afterwards vswap_queue_rq()
 * fails each request at once.
 */
static void vswap_broken_work(struct work_struct *work)
{
	struct vswap_dev *vs = container_of(work, struct vswap_dev,
					    broken_work);
	struct request_queue *q = vs->disk->queue;

	vswap_stop_discard(vs);
	blk_mq_quiesce_queue(q);
	virtio_reset_device(vs->vdev);
	vswap_reset_discard(vs);
	blk_mq_tagset_busy_iter(&vs->tag_set, vswap_cancel_rq, vs);
	blk_mq_unquiesce_queue(q);
	/* Queues stopped for a full ring or a DISCARD: nothing will come. */
	blk_mq_start_stopped_hw_queues(q, true);
}

static enum blk_eh_timer_return vswap_timeout(struct request *rq)
{
	struct vswap_dev *vs = rq->q->queuedata;
	struct vswap_req *vr = blk_mq_rq_to_pdu(rq);

	if (test_bit(VSWAP_BROKEN, &vs->flags))
		return BLK_EH_RESET_TIMER;	/* vswap_broken_work() ends it */

	/* A lost interrupt: the answer may be on the used ring already. */
	vswap_vq_done(vs->vqs[rq->mq_hctx->queue_num].vq);
	if (blk_mq_rq_state(rq) != MQ_RQ_IN_FLIGHT)
		return BLK_EH_DONE;

	vswap_give_up(vs, "%s of %u entries at slot %llu got no answer in %u s",
		      vswap_op_name(rq), vr->count,
		      le64_to_cpu(vr->ent[0].slot.slot), io_timeout);
	return BLK_EH_RESET_TIMER;
}

/* After virtio_error() the device serves nothing until it is reset. */
static void vswap_config_changed(struct virtio_device *vdev)
{
	struct vswap_dev *vs = vdev->priv;

	if (vdev->config->get_status(vdev) & VIRTIO_CONFIG_S_NEEDS_RESET)
		vswap_give_up(vs, "the device reported an error (DEVICE_NEEDS_RESET)");
}

static const struct blk_mq_ops vswap_mq_ops = {
	.queue_rq	= vswap_queue_rq,
	.commit_rqs	= vswap_commit_rqs,
	.complete	= vswap_complete_rq,
	.init_request	= vswap_init_request,
	.timeout	= vswap_timeout,
	.map_queues	= vswap_map_queues,
};

/* The last reference to the disk is gone (it may outlive the device). */
static void vswap_free_disk(struct gendisk *disk)
{
	struct vswap_dev *vs = disk->private_data;

	ida_free(&vswap_index_ida, vs->index);
	kvfree(vs->written);
	kfree(vs);
}

static const struct block_device_operations vswap_fops = {
	.owner			= THIS_MODULE,
	.swap_slot_free_notify	= vswap_slot_free_notify,
	.free_disk		= vswap_free_disk,
};

/* --- sysfs: /sys/block/vswapN/vswap/ --- */

static struct vswap_dev *dev_to_vswap(struct device *dev)
{
	return dev_to_disk(dev)->private_data;
}

/* A counter of struct vswap_stats as a read-only attribute. */
struct vswap_stat_attr {
	struct device_attribute dev_attr;
	size_t offset;			/* of the atomic64_t in vswap_stats */
};

static ssize_t vswap_stat_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	struct vswap_stat_attr *sa =
		container_of(attr, struct vswap_stat_attr, dev_attr);
	atomic64_t *counter = (void *)&dev_to_vswap(dev)->stats + sa->offset;

	return sysfs_emit(buf, "%lld\n", (s64)atomic64_read(counter));
}

#define VSWAP_STAT_ATTR(_name)						\
static struct vswap_stat_attr vswap_stat_##_name = {			\
	.dev_attr = {							\
		.attr = { .name = #_name, .mode = 0444 },		\
		.show = vswap_stat_show,				\
	},								\
	.offset = offsetof(struct vswap_stats, _name),			\
}

VSWAP_STAT_ATTR(pages_written);
VSWAP_STAT_ATTR(pages_read);
VSWAP_STAT_ATTR(fill_pages);
VSWAP_STAT_ATTR(zero_pages);
VSWAP_STAT_ATTR(unmapped_reads);
VSWAP_STAT_ATTR(notify_slots);
VSWAP_STAT_ATTR(notify_dropped);
VSWAP_STAT_ATTR(notify_cancelled);
VSWAP_STAT_ATTR(discard_reqs);
VSWAP_STAT_ATTR(discard_slots);
VSWAP_STAT_ATTR(discard_errors);
VSWAP_STAT_ATTR(write_waits);
VSWAP_STAT_ATTR(io_errors);
VSWAP_STAT_ATTR(lost_reads);

/* Every counter on one line, in the order of struct vswap_stats. */
static ssize_t stat_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	struct vswap_stats *s = &dev_to_vswap(dev)->stats;

	return sysfs_emit(buf,
			  "%8lld %8lld %8lld %8lld %8lld %8lld %8lld %8lld %8lld %8lld %8lld %8lld %8lld %8lld\n",
			  (s64)atomic64_read(&s->pages_written),
			  (s64)atomic64_read(&s->pages_read),
			  (s64)atomic64_read(&s->fill_pages),
			  (s64)atomic64_read(&s->zero_pages),
			  (s64)atomic64_read(&s->unmapped_reads),
			  (s64)atomic64_read(&s->notify_slots),
			  (s64)atomic64_read(&s->notify_dropped),
			  (s64)atomic64_read(&s->notify_cancelled),
			  (s64)atomic64_read(&s->discard_reqs),
			  (s64)atomic64_read(&s->discard_slots),
			  (s64)atomic64_read(&s->discard_errors),
			  (s64)atomic64_read(&s->write_waits),
			  (s64)atomic64_read(&s->io_errors),
			  (s64)atomic64_read(&s->lost_reads));
}
static DEVICE_ATTR_RO(stat);

static ssize_t max_batch_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", dev_to_vswap(dev)->max_pages);
}
static DEVICE_ATTR_RO(max_batch);

static ssize_t num_queues_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", dev_to_vswap(dev)->num_vqs);
}
static DEVICE_ATTR_RO(num_queues);

static ssize_t fill_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%d\n", dev_to_vswap(dev)->fill);
}
static DEVICE_ATTR_RO(fill);

static struct attribute *vswap_attrs[] = {
	&vswap_stat_pages_written.dev_attr.attr,
	&vswap_stat_pages_read.dev_attr.attr,
	&vswap_stat_fill_pages.dev_attr.attr,
	&vswap_stat_zero_pages.dev_attr.attr,
	&vswap_stat_unmapped_reads.dev_attr.attr,
	&vswap_stat_notify_slots.dev_attr.attr,
	&vswap_stat_notify_dropped.dev_attr.attr,
	&vswap_stat_notify_cancelled.dev_attr.attr,
	&vswap_stat_discard_reqs.dev_attr.attr,
	&vswap_stat_discard_slots.dev_attr.attr,
	&vswap_stat_discard_errors.dev_attr.attr,
	&vswap_stat_write_waits.dev_attr.attr,
	&vswap_stat_io_errors.dev_attr.attr,
	&vswap_stat_lost_reads.dev_attr.attr,
	&dev_attr_stat.attr,
	&dev_attr_max_batch.attr,
	&dev_attr_num_queues.attr,
	&dev_attr_fill.attr,
	NULL,
};

static const struct attribute_group vswap_attr_group = {
	.name = "vswap",
	.attrs = vswap_attrs,
};

static const struct attribute_group *vswap_attr_groups[] = {
	&vswap_attr_group,
	NULL,
};

/* --- probe and remove --- */

static int vswap_find_vqs(struct vswap_dev *vs, struct virtqueue **vqs)
{
	struct irq_affinity desc = { 0, };
	unsigned int n = vs->num_vqs, i;
	int err;
#ifndef VSWAP_PRE_6_11_API
	struct virtqueue_info *info;

	info = kcalloc(n, sizeof(*info), GFP_KERNEL);
	if (!info)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		info[i].name = vs->vqs[i].name;
		info[i].callback = vswap_vq_done;
	}
	err = virtio_find_vqs(vs->vdev, n, vqs, info, &desc);
	kfree(info);
#else
	vq_callback_t **callbacks;
	const char **names;

	callbacks = kcalloc(n, sizeof(*callbacks), GFP_KERNEL);
	names = kcalloc(n, sizeof(*names), GFP_KERNEL);
	err = -ENOMEM;
	if (callbacks && names) {
		for (i = 0; i < n; i++) {
			names[i] = vs->vqs[i].name;
			callbacks[i] = vswap_vq_done;
		}
		err = virtio_find_vqs(vs->vdev, n, vqs, callbacks, names,
				      &desc);
	}
	kfree(names);
	kfree(callbacks);
#endif
	return err;
}

static int vswap_init_vqs(struct vswap_dev *vs)
{
	struct virtio_device *vdev = vs->vdev;
	struct virtqueue **vqs;
	u16 num_vqs;
	int err, i;

	err = virtio_cread_le_feature(vdev, VIRTIO_VSWAP_F_MQ,
				      struct virtio_vswap_config, num_queues,
				      &num_vqs);
	if (err)
		num_vqs = 1;
	if (!num_vqs) {
		dev_err(&vdev->dev, "MQ advertised but zero queues reported\n");
		return -EINVAL;
	}
	num_vqs = min_t(unsigned int, num_vqs,
			min_not_zero(num_request_queues, nr_cpu_ids));
	vs->num_vqs = num_vqs;

	vs->vqs = kcalloc(num_vqs, sizeof(*vs->vqs), GFP_KERNEL);
	vqs = kcalloc(num_vqs, sizeof(*vqs), GFP_KERNEL);
	if (!vs->vqs || !vqs) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < num_vqs; i++)
		snprintf(vs->vqs[i].name, VSWAP_VQ_NAME_LEN, "req.%d", i);

	err = vswap_find_vqs(vs, vqs);
	if (err)
		goto out;

	for (i = 0; i < num_vqs; i++) {
		spin_lock_init(&vs->vqs[i].lock);
		vs->vqs[i].vq = vqs[i];
	}
out:
	kfree(vqs);
	if (err) {
		kfree(vs->vqs);
		vs->vqs = NULL;
	}
	return err;
}

static void vswap_del_vqs(struct vswap_dev *vs)
{
	vs->vdev->config->del_vqs(vs->vdev);
	kfree(vs->vqs);
	vs->vqs = NULL;
}

static int vswap_alloc_discard(struct vswap_dev *vs)
{
	int i;

	vs->pending_max = max(discard_buffer, 1u);
	vs->pending = kvmalloc_array(vs->pending_max, sizeof(*vs->pending),
				     GFP_KERNEL);
	if (!vs->pending)
		return -ENOMEM;

	vs->dcmd_ranges = min_not_zero(discard_batch, vs->dev_max_batch);
	vs->dcmd_ranges = min(vs->dcmd_ranges, vs->dev_max_batch);
	for (i = 0; i < VSWAP_DISCARD_CMDS; i++) {
		struct vswap_dcmd *d;

		d = kzalloc(struct_size(d, ranges, vs->dcmd_ranges) +
			    vs->dcmd_ranges + 1, GFP_KERNEL);
		if (!d)
			return -ENOMEM;
		d->cmd.kind = VSWAP_CMD_DISCARD;
		d->state = VSWAP_DCMD_FREE;
		d->status = (u8 *)&d->ranges[vs->dcmd_ranges];
		vs->dcmds[i] = d;
	}
	return 0;
}

/*
 * The bitmap of written slots: one bit per slot, 32 KiB per GiB.  A device
 * whose bitmap would take more than 1/256 of RAM goes without: pages the
 * host loses then read as zeros, as before.
 */
static int vswap_alloc_written(struct vswap_dev *vs)
{
	u64 bytes = BITS_TO_LONGS(vs->capacity) * sizeof(long);

	if (bytes > (u64)totalram_pages() * PAGE_SIZE / 256) {
		dev_warn(&vs->vdev->dev,
			 "%llu slots: too many to track, pages the host loses will read as zeros\n",
			 vs->capacity);
		return 0;
	}
	vs->written = kvzalloc(bytes, GFP_KERNEL);
	return vs->written ? 0 : -ENOMEM;
}

static void vswap_free_discard(struct vswap_dev *vs)
{
	int i;

	for (i = 0; i < VSWAP_DISCARD_CMDS; i++) {
		kfree(vs->dcmds[i]);
		vs->dcmds[i] = NULL;
	}
	kvfree(vs->pending);
	vs->pending = NULL;
}

static struct gendisk *vswap_alloc_disk(struct vswap_dev *vs)
{
	unsigned int max_sectors = vs->max_pages * VSWAP_PAGE_SECTORS;
#ifndef VSWAP_PRE_6_11_API
	struct queue_limits lim = {
		/* no BLK_FEAT_ROTATIONAL, no volatile write cache */
		.features		= 0,
		.logical_block_size	= VSWAP_PAGE_SIZE,
		.physical_block_size	= VSWAP_PAGE_SIZE,
		.io_min			= VSWAP_PAGE_SIZE,
		.max_hw_sectors		= max_sectors,
		.max_segments		= vs->max_pages,
		.max_hw_discard_sectors	= VSWAP_MAX_DISCARD_SECTORS,
		.max_discard_segments	= vs->max_pages,
		.discard_granularity	= VSWAP_PAGE_SIZE,
		.dma_alignment		= VSWAP_PAGE_SIZE - 1,
	};

	return blk_mq_alloc_disk(&vs->tag_set, &lim, vs);
#else
	struct gendisk *disk;
	struct request_queue *q;

	disk = blk_mq_alloc_disk(&vs->tag_set, vs);
	if (IS_ERR(disk))
		return disk;
	q = disk->queue;
	blk_queue_logical_block_size(q, VSWAP_PAGE_SIZE);
	blk_queue_physical_block_size(q, VSWAP_PAGE_SIZE);
	blk_queue_io_min(q, VSWAP_PAGE_SIZE);
	blk_queue_max_hw_sectors(q, max_sectors);
	blk_queue_max_segments(q, vs->max_pages);
	blk_queue_max_discard_sectors(q, VSWAP_MAX_DISCARD_SECTORS);
	blk_queue_max_discard_segments(q, vs->max_pages);
	q->limits.discard_granularity = VSWAP_PAGE_SIZE;
	blk_queue_dma_alignment(q, VSWAP_PAGE_SIZE - 1);
	blk_queue_flag_set(QUEUE_FLAG_NONROT, q);
	blk_queue_flag_clear(QUEUE_FLAG_ADD_RANDOM, q);
	return disk;
#endif
}

static int vswap_read_config(struct vswap_dev *vs)
{
	struct virtio_device *vdev = vs->vdev;
	u32 page_size;

	virtio_cread_le(vdev, struct virtio_vswap_config, capacity,
			&vs->capacity);
	virtio_cread_le(vdev, struct virtio_vswap_config, page_size,
			&page_size);
	virtio_cread_le(vdev, struct virtio_vswap_config, max_batch,
			&vs->dev_max_batch);

	if (page_size != VSWAP_PAGE_SIZE) {
		dev_err(&vdev->dev, "unsupported page size %u\n", page_size);
		return -EINVAL;
	}
	if (!vs->capacity || !vs->dev_max_batch) {
		dev_err(&vdev->dev, "bad config: capacity %llu, max_batch %u\n",
			vs->capacity, vs->dev_max_batch);
		return -EINVAL;
	}
	/* The block layer counts 512-byte sectors in a sector_t. */
	vs->capacity = min_t(u64, vs->capacity,
			     (u64)MAX_LFS_FILESIZE / VSWAP_PAGE_SIZE);
	vs->dev_max_batch = min(vs->dev_max_batch, VSWAP_MAX_BATCH);
	vs->fill = virtio_has_feature(vdev, VIRTIO_VSWAP_F_FILL);
	return 0;
}

/*
 * Pages per READ/WRITE: the device's max_batch, the max_batch parameter,
 * and what fits in an empty ring with direct descriptors (header and entries
 * in one, statuses in another), so that a request never waits for an
 * indirect table that cannot be allocated.
 */
static void vswap_size_requests(struct vswap_dev *vs)
{
	unsigned int ring = UINT_MAX;
	int i;

	for (i = 0; i < vs->num_vqs; i++)
		ring = min(ring, virtqueue_get_vring_size(vs->vqs[i].vq));
	vs->max_pages = min_not_zero(max_batch, vs->dev_max_batch);
	vs->max_pages = min(vs->max_pages, vs->dev_max_batch);
	vs->max_pages = ring > 2 ? min(vs->max_pages, ring - 2) : 0;
}

static int vswap_probe(struct virtio_device *vdev)
{
	struct vswap_dev *vs;
	int err;

	BUILD_BUG_ON(PAGE_SIZE != VSWAP_PAGE_SIZE);
	BUILD_BUG_ON(offsetof(struct vswap_req, ent) !=
		     offsetof(struct vswap_req, hdr) +
		     sizeof(struct virtio_vswap_req_hdr));
	BUILD_BUG_ON(offsetof(struct vswap_dcmd, ranges) !=
		     offsetof(struct vswap_dcmd, hdr) +
		     sizeof(struct virtio_vswap_req_hdr));

	if (!vdev->config->get) {
		dev_err(&vdev->dev, "config access disabled\n");
		return -EINVAL;
	}

	vs = kzalloc(sizeof(*vs), GFP_KERNEL);
	if (!vs)
		return -ENOMEM;
	vdev->priv = vs;
	vs->vdev = vdev;
	spin_lock_init(&vs->dlock);
	INIT_DELAYED_WORK(&vs->discard_work, vswap_discard_work);
	INIT_WORK(&vs->broken_work, vswap_broken_work);

	err = ida_alloc_max(&vswap_index_ida, MINORMASK, GFP_KERNEL);
	if (err < 0)
		goto out_free_vs;
	vs->index = err;

	err = vswap_read_config(vs);
	if (err)
		goto out_free_index;

	err = vswap_init_vqs(vs);
	if (err)
		goto out_free_index;
	vswap_size_requests(vs);
	if (vs->max_pages < 1) {
		dev_err(&vdev->dev, "virtqueue too small\n");
		err = -EINVAL;
		goto out_del_vqs;
	}

	err = vswap_alloc_discard(vs);
	if (err)
		goto out_free_discard;

	err = vswap_alloc_written(vs);
	if (err)
		goto out_free_discard;

	vs->tag_set.ops = &vswap_mq_ops;
	vs->tag_set.nr_hw_queues = vs->num_vqs;
	vs->tag_set.queue_depth = virtqueue_get_vring_size(vs->vqs[0].vq);
	if (queue_depth)
		vs->tag_set.queue_depth = min(queue_depth,
					      vs->tag_set.queue_depth);
	vs->tag_set.numa_node = NUMA_NO_NODE;
	vs->tag_set.flags = BLK_MQ_F_SHOULD_MERGE |
			    BLK_MQ_F_NO_SCHED_BY_DEFAULT;
	vs->tag_set.cmd_size = sizeof(struct vswap_req) +
		vs->max_pages * (sizeof(union vswap_entry) +
				 sizeof(struct scatterlist)) +
		vs->max_pages + 1;
	vs->tag_set.driver_data = vs;
	vs->tag_set.timeout = max(io_timeout, 1u) * HZ;
	err = blk_mq_alloc_tag_set(&vs->tag_set);
	if (err)
		goto out_free_discard;

	vs->disk = vswap_alloc_disk(vs);
	if (IS_ERR(vs->disk)) {
		err = PTR_ERR(vs->disk);
		goto out_free_tags;
	}
	vs->disk->major = vswap_major;
	vs->disk->first_minor = vs->index;
	vs->disk->minors = 1;
	vs->disk->flags |= GENHD_FL_NO_PART;
	vs->disk->fops = &vswap_fops;
	vs->disk->private_data = vs;
	snprintf(vs->disk->disk_name, DISK_NAME_LEN, "vswap%d", vs->index);
	set_capacity(vs->disk, vs->capacity * VSWAP_PAGE_SECTORS);

	virtio_device_ready(vdev);

	err = device_add_disk(&vdev->dev, vs->disk, vswap_attr_groups);
	if (err)
		goto out_reset;

	dev_info(&vdev->dev,
		 "%s: %llu slots (%llu MiB), %d queues of %u, %u pages per request%s\n",
		 vs->disk->disk_name, vs->capacity,
		 vs->capacity * VSWAP_PAGE_SIZE >> 20, vs->num_vqs,
		 virtqueue_get_vring_size(vs->vqs[0].vq), vs->max_pages,
		 vs->fill ? ", fill" : "");
	return 0;

out_reset:
	virtio_reset_device(vdev);
	put_disk(vs->disk);
out_free_tags:
	blk_mq_free_tag_set(&vs->tag_set);
out_free_discard:
	kvfree(vs->written);
	vswap_free_discard(vs);
out_del_vqs:
	vswap_del_vqs(vs);
out_free_index:
	ida_free(&vswap_index_ida, vs->index);
out_free_vs:
	kfree(vs);
	vdev->priv = NULL;
	return err;
}

static void vswap_remove(struct virtio_device *vdev)
{
	struct vswap_dev *vs = vdev->priv;

	/* The reset below discards every slot: pending DISCARDs are moot. */
	vswap_stop_discard(vs);

	del_gendisk(vs->disk);
	/* No request is left to time out: the device is given up no more. */
	flush_work(&vs->broken_work);
	blk_mq_free_tag_set(&vs->tag_set);

	virtio_reset_device(vdev);
	vswap_reset_discard(vs);
	vswap_del_vqs(vs);
	vswap_free_discard(vs);

	/* Frees vs via vswap_free_disk() once swap lets go of the disk. */
	put_disk(vs->disk);
}

#ifdef CONFIG_PM_SLEEP
static int vswap_freeze(struct virtio_device *vdev)
{
	struct vswap_dev *vs = vdev->priv;
	struct request_queue *q = vs->disk->queue;

	/*
	 * Suspend resets the device, and a reset discards every slot: the
	 * swapped-out pages would be lost.  Refuse while the disk is open.
	 */
	if (disk_openers(vs->disk)) {
		dev_err(&vdev->dev,
			"%s is in use: a reset would discard its slots (swapoff first)\n",
			vs->disk->disk_name);
		return -EBUSY;
	}

	/* Ensure no requests in virtqueues before deleting vqs. */
	blk_mq_freeze_queue(q);
	blk_mq_quiesce_queue_nowait(q);
	blk_mq_unfreeze_queue(q);

	vswap_stop_discard(vs);
	virtio_reset_device(vdev);
	vswap_reset_discard(vs);
	vswap_del_vqs(vs);
	return 0;
}

static int vswap_restore(struct virtio_device *vdev)
{
	struct vswap_dev *vs = vdev->priv;
	int err;

	err = vswap_init_vqs(vs);
	if (err)
		return err;

	spin_lock_irq(&vs->dlock);
	vs->stopped = false;
	spin_unlock_irq(&vs->dlock);
	/* The reset discarded every slot; a device given up starts afresh. */
	if (vs->written)
		bitmap_zero(vs->written, vs->capacity);
	clear_bit(VSWAP_BROKEN, &vs->flags);

	virtio_device_ready(vdev);
	blk_mq_unquiesce_queue(vs->disk->queue);
	return 0;
}
#endif

static const struct virtio_device_id vswap_id_table[] = {
	{ VIRTIO_ID_VSWAP, VIRTIO_DEV_ANY_ID },
	{ 0 },
};
MODULE_DEVICE_TABLE(virtio, vswap_id_table);

static unsigned int vswap_features[] = {
	VIRTIO_VSWAP_F_FILL,
	VIRTIO_VSWAP_F_MQ,
};

static struct virtio_driver vswap_driver = {
	.feature_table		= vswap_features,
	.feature_table_size	= ARRAY_SIZE(vswap_features),
	.driver.name		= KBUILD_MODNAME,
	.id_table		= vswap_id_table,
	.probe			= vswap_probe,
	.remove			= vswap_remove,
	.config_changed		= vswap_config_changed,
#ifdef CONFIG_PM_SLEEP
	.freeze			= vswap_freeze,
	.restore		= vswap_restore,
#endif
};

static int __init vswap_init(void)
{
	int err;

	vswap_wq = alloc_workqueue("vswap", WQ_MEM_RECLAIM, 0);
	if (!vswap_wq)
		return -ENOMEM;

	err = register_blkdev(0, "vswap");
	if (err < 0)
		goto out_destroy_wq;
	vswap_major = err;

	err = register_virtio_driver(&vswap_driver);
	if (err)
		goto out_unregister_blkdev;
	return 0;

out_unregister_blkdev:
	unregister_blkdev(vswap_major, "vswap");
out_destroy_wq:
	destroy_workqueue(vswap_wq);
	return err;
}

static void __exit vswap_exit(void)
{
	unregister_virtio_driver(&vswap_driver);
	unregister_blkdev(vswap_major, "vswap");
	destroy_workqueue(vswap_wq);
	ida_destroy(&vswap_index_ida);
}

module_init(vswap_init);
module_exit(vswap_exit);

MODULE_DESCRIPTION("Virtio vswap: paravirtual swap device");
MODULE_LICENSE("GPL");
