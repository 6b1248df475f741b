/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sparse slot map of the page store: slot number -> 56-bit entry.
 *
 * The map is the only per-page metadata the store keeps, so it is packed:
 * 7 bytes per entry in leaves of VSWAP_MAP_LEAF_SLOTS entries, allocated on
 * first use and freed when their last entry is cleared.  Slots never written
 * cost nothing.  Up to 2^32 slots.
 *
 * Dirty tracking (for migration) records slots whose entry changed since it
 * was last collected.  Dirty bits live apart from the leaves, so a discard
 * that frees a leaf is still reported.
 *
 * Context: single-threaded; the store's owner thread holds the map.
 */
#ifndef VSWAP_SLOTMAP_H
#define VSWAP_SLOTMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "vswap/store.h"

/* Entries are 56 bits wide; 0 means "empty". */
#define VSWAP_MAP_ENTRY_BITS 56
#define VSWAP_MAP_ENTRY_MASK ((UINT64_C(1) << VSWAP_MAP_ENTRY_BITS) - 1)
#define VSWAP_MAP_LEAF_SHIFT 9
#define VSWAP_MAP_LEAF_SLOTS (1u << VSWAP_MAP_LEAF_SHIFT)
#define VSWAP_MAP_MAX_CAPACITY VSWAP_STORE_MAX_SLOTS

typedef struct VswapSlotMap VswapSlotMap;

/* Returns a map of @capacity slots (1 .. VSWAP_MAP_MAX_CAPACITY). */
VswapSlotMap *vswap_map_new(uint64_t capacity);
void vswap_map_free(VswapSlotMap *map);

uint64_t vswap_map_capacity(const VswapSlotMap *map);

/* Returns the entry of @slot, 0 if empty.  @slot must be below capacity. */
uint64_t vswap_map_get(const VswapSlotMap *map, uint64_t slot);

/*
 * vswap_map_set: set the entry of @slot (below capacity) to @entry, which
 * must fit in VSWAP_MAP_ENTRY_BITS; 0 clears it.  Marks @slot dirty when
 * tracking.  Returns the previous entry.
 */
uint64_t vswap_map_set(VswapSlotMap *map, uint64_t slot, uint64_t entry);

/*
 * vswap_map_replace: like vswap_map_set, but without marking @slot dirty.
 * For changes of where a page is kept (tiering, compaction, clock bit)
 * that leave its contents, and so a migration destination, unaffected.
 */
uint64_t vswap_map_replace(VswapSlotMap *map, uint64_t slot, uint64_t entry);

/*
 * vswap_map_next: find the first non-empty slot at or after *@slot.
 * Returns true and sets *@slot and *@entry, or false when there is none.
 */
bool vswap_map_next(const VswapSlotMap *map, uint64_t *slot, uint64_t *entry);

/* Number of non-empty entries. */
uint64_t vswap_map_count(const VswapSlotMap *map);

/* Bytes of heap memory the map uses, dirty bitmaps included. */
size_t vswap_map_memory(const VswapSlotMap *map);

/*
 * vswap_map_track_dirty: start dirty tracking, marking every non-empty slot
 * dirty (the first migration pass sends all of them), or stop it and free
 * the bitmaps.
 */
void vswap_map_track_dirty(VswapSlotMap *map, bool on);

bool vswap_map_tracking_dirty(const VswapSlotMap *map);

/* Mark @slot dirty (no-op unless tracking). */
void vswap_map_mark_dirty(VswapSlotMap *map, uint64_t slot);

/*
 * vswap_map_next_dirty: find the first dirty slot at or after *@slot, clear
 * its bit and set *@slot.  Returns false when none is left.
 */
bool vswap_map_next_dirty(VswapSlotMap *map, uint64_t *slot);

/* Number of slots currently marked dirty. */
uint64_t vswap_map_dirty_count(const VswapSlotMap *map);

#endif /* VSWAP_SLOTMAP_H */
