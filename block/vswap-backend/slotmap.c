/*
 * Sparse slot map of the page store: a two-level radix of lazily allocated
 * nodes over leaves of packed 7-byte entries, plus dirty bitmaps for
 * migration kept in a tree of their own.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <stddef.h>
#include <string.h>

#include "slotmap.h"

#define VSWAP_MAP_ENTRY_BYTES 7
#define VSWAP_MAP_NODE_SHIFT 9
#define VSWAP_MAP_NODE_SLOTS (1u << VSWAP_MAP_NODE_SHIFT)
#define VSWAP_MAP_LEAF_MASK (VSWAP_MAP_LEAF_SLOTS - 1)
#define VSWAP_MAP_NODE_MASK (VSWAP_MAP_NODE_SLOTS - 1)
/* Slots covered by one node: a node holds 512 leaves of 512 slots. */
#define VSWAP_MAP_NODE_SPAN_SHIFT (VSWAP_MAP_LEAF_SHIFT + VSWAP_MAP_NODE_SHIFT)
#define VSWAP_MAP_BITS_WORDS(n) (((n) + 63) / 64)

/*
 * A leaf is a byte array of 7-byte entries.  One spare byte at the end lets
 * every entry, the last included, be read with a single 8-byte load.
 */
typedef struct VswapMapLeaf {
    uint16_t live;
    uint8_t bytes[];
} VswapMapLeaf;

#define VSWAP_MAP_LEAF_SIZE \
    (offsetof(VswapMapLeaf, bytes) + \
     VSWAP_MAP_LEAF_SLOTS * VSWAP_MAP_ENTRY_BYTES + 1)

/* 512 bits, one per slot of a leaf. */
typedef struct VswapMapDirty {
    uint64_t bits[VSWAP_MAP_BITS_WORDS(VSWAP_MAP_LEAF_SLOTS)];
} VswapMapDirty;

/* Middle level; @present mirrors the non-NULL children so scans skip fast. */
typedef struct VswapMapNode {
    uint32_t live;
    uint64_t present[VSWAP_MAP_BITS_WORDS(VSWAP_MAP_NODE_SLOTS)];
    void *child[VSWAP_MAP_NODE_SLOTS];
} VswapMapNode;

/* Leaf index -> child (a leaf or a dirty bitmap), through a node. */
typedef struct VswapMapTree {
    VswapMapNode **node;
    uint64_t *present;
} VswapMapTree;

struct VswapSlotMap {
    uint64_t capacity;
    uint64_t nnodes;
    uint64_t count;
    uint64_t dirty_count;
    size_t memory;
    bool tracking;
    VswapMapTree leaves;
    VswapMapTree dirty;
};

/* All heap use goes through these two, so vswap_map_memory() is exact. */
static void *vswap_map_alloc(VswapSlotMap *map, size_t size)
{
    map->memory += size;
    return g_malloc0(size);
}

static void vswap_map_release(VswapSlotMap *map, void *p, size_t size)
{
    map->memory -= size;
    g_free(p);
}

/* First set bit at or after @from, or @nbits; bits past @nbits are clear. */
static uint64_t vswap_map_bits_next(const uint64_t *bits, uint64_t nbits,
                                    uint64_t from)
{
    uint64_t i = from / 64;
    uint64_t w;

    if (from >= nbits) {
        return nbits;
    }
    w = bits[i] & (~UINT64_C(0) << (from % 64));
    while (!w) {
        if (++i >= VSWAP_MAP_BITS_WORDS(nbits)) {
            return nbits;
        }
        w = bits[i];
    }
    return i * 64 + __builtin_ctzll(w);
}

static bool vswap_map_bit_test(const uint64_t *bits, uint64_t n)
{
    return bits[n / 64] & (UINT64_C(1) << (n % 64));
}

static void vswap_map_bit_set(uint64_t *bits, uint64_t n)
{
    bits[n / 64] |= UINT64_C(1) << (n % 64);
}

static void vswap_map_bit_clear(uint64_t *bits, uint64_t n)
{
    bits[n / 64] &= ~(UINT64_C(1) << (n % 64));
}

static void vswap_map_tree_init(VswapSlotMap *map, VswapMapTree *tree)
{
    tree->node = vswap_map_alloc(map, map->nnodes * sizeof(VswapMapNode *));
    tree->present = vswap_map_alloc(map, VSWAP_MAP_BITS_WORDS(map->nnodes) *
                                         sizeof(uint64_t));
}

static void *vswap_map_tree_get(const VswapMapTree *tree, uint64_t li)
{
    VswapMapNode *node = tree->node[li >> VSWAP_MAP_NODE_SHIFT];

    return node ? node->child[li & VSWAP_MAP_NODE_MASK] : NULL;
}

static void vswap_map_tree_insert(VswapSlotMap *map, VswapMapTree *tree,
                                  uint64_t li, void *child)
{
    uint64_t ni = li >> VSWAP_MAP_NODE_SHIFT;
    unsigned ci = li & VSWAP_MAP_NODE_MASK;
    VswapMapNode *node = tree->node[ni];

    if (!node) {
        node = vswap_map_alloc(map, sizeof(*node));
        tree->node[ni] = node;
        vswap_map_bit_set(tree->present, ni);
    }
    node->child[ci] = child;
    vswap_map_bit_set(node->present, ci);
    node->live++;
}

/* Unlinks the child of @li, freeing its node when that was the last one. */
static void vswap_map_tree_remove(VswapSlotMap *map, VswapMapTree *tree,
                                  uint64_t li)
{
    uint64_t ni = li >> VSWAP_MAP_NODE_SHIFT;
    unsigned ci = li & VSWAP_MAP_NODE_MASK;
    VswapMapNode *node = tree->node[ni];

    node->child[ci] = NULL;
    vswap_map_bit_clear(node->present, ci);
    if (--node->live == 0) {
        vswap_map_release(map, node, sizeof(*node));
        tree->node[ni] = NULL;
        vswap_map_bit_clear(tree->present, ni);
    }
}

/* First leaf index at or after @li with a child, or UINT64_MAX. */
static uint64_t vswap_map_tree_next(const VswapSlotMap *map,
                                    const VswapMapTree *tree, uint64_t li)
{
    uint64_t ni = li >> VSWAP_MAP_NODE_SHIFT;
    uint64_t ci = li & VSWAP_MAP_NODE_MASK;

    for (;;) {
        uint64_t found = vswap_map_bits_next(tree->present, map->nnodes, ni);

        if (found == map->nnodes) {
            return UINT64_MAX;
        }
        if (found != ni) {
            ni = found;
            ci = 0;
        }
        ci = vswap_map_bits_next(tree->node[ni]->present,
                                 VSWAP_MAP_NODE_SLOTS, ci);
        if (ci < VSWAP_MAP_NODE_SLOTS) {
            return (ni << VSWAP_MAP_NODE_SHIFT) | ci;
        }
        ni++;
        ci = 0;
    }
}

/* Frees every child (of @child_size bytes), every node and the top level. */
static void vswap_map_tree_destroy(VswapSlotMap *map, VswapMapTree *tree,
                                   size_t child_size)
{
    for (uint64_t ni = 0; ni < map->nnodes; ni++) {
        VswapMapNode *node = tree->node[ni];

        if (!node) {
            continue;
        }
        for (unsigned ci = 0; ci < VSWAP_MAP_NODE_SLOTS; ci++) {
            if (node->child[ci]) {
                vswap_map_release(map, node->child[ci], child_size);
            }
        }
        vswap_map_release(map, node, sizeof(*node));
    }
    vswap_map_release(map, tree->node, map->nnodes * sizeof(VswapMapNode *));
    vswap_map_release(map, tree->present,
                      VSWAP_MAP_BITS_WORDS(map->nnodes) * sizeof(uint64_t));
    tree->node = NULL;
    tree->present = NULL;
}

/* Little-endian packing, so entry i is bytes 7i..7i+6 on any host. */
static uint64_t vswap_map_leaf_get(const VswapMapLeaf *leaf, unsigned off)
{
    uint64_t w;

    memcpy(&w, leaf->bytes + off * VSWAP_MAP_ENTRY_BYTES, sizeof(w));
    return GUINT64_FROM_LE(w) & VSWAP_MAP_ENTRY_MASK;
}

/* Read-modify-write of 8 bytes: the top byte belongs to the next entry. */
static void vswap_map_leaf_put(VswapMapLeaf *leaf, unsigned off,
                               uint64_t entry)
{
    uint8_t *p = leaf->bytes + off * VSWAP_MAP_ENTRY_BYTES;
    uint64_t w;

    memcpy(&w, p, sizeof(w));
    w = (GUINT64_FROM_LE(w) & ~VSWAP_MAP_ENTRY_MASK) | entry;
    w = GUINT64_TO_LE(w);
    memcpy(p, &w, sizeof(w));
}

VswapSlotMap *vswap_map_new(uint64_t capacity)
{
    VswapSlotMap *map;

    g_assert(capacity >= 1 && capacity <= VSWAP_MAP_MAX_CAPACITY);
    map = g_new0(VswapSlotMap, 1);
    map->memory = sizeof(*map);
    map->capacity = capacity;
    map->nnodes = (capacity + (UINT64_C(1) << VSWAP_MAP_NODE_SPAN_SHIFT) - 1) >>
                  VSWAP_MAP_NODE_SPAN_SHIFT;
    vswap_map_tree_init(map, &map->leaves);
    return map;
}

void vswap_map_free(VswapSlotMap *map)
{
    if (!map) {
        return;
    }
    vswap_map_track_dirty(map, false);
    vswap_map_tree_destroy(map, &map->leaves, VSWAP_MAP_LEAF_SIZE);
    g_assert(map->memory == sizeof(*map));
    g_free(map);
}

uint64_t vswap_map_capacity(const VswapSlotMap *map)
{
    return map->capacity;
}

uint64_t vswap_map_get(const VswapSlotMap *map, uint64_t slot)
{
    const VswapMapLeaf *leaf;

    g_assert(slot < map->capacity);
    leaf = vswap_map_tree_get(&map->leaves, slot >> VSWAP_MAP_LEAF_SHIFT);
    return leaf ? vswap_map_leaf_get(leaf, slot & VSWAP_MAP_LEAF_MASK) : 0;
}

/* Returns the leaf of @slot, allocating it unless @entry clears the slot. */
static VswapMapLeaf *vswap_map_leaf_for(VswapSlotMap *map, uint64_t slot,
                                        uint64_t entry)
{
    uint64_t li = slot >> VSWAP_MAP_LEAF_SHIFT;
    VswapMapLeaf *leaf = vswap_map_tree_get(&map->leaves, li);

    if (!leaf && entry) {
        leaf = vswap_map_alloc(map, VSWAP_MAP_LEAF_SIZE);
        vswap_map_tree_insert(map, &map->leaves, li, leaf);
    }
    return leaf;
}

uint64_t vswap_map_set(VswapSlotMap *map, uint64_t slot, uint64_t entry)
{
    g_assert(slot < map->capacity);
    vswap_map_mark_dirty(map, slot);
    return vswap_map_replace(map, slot, entry);
}

uint64_t vswap_map_replace(VswapSlotMap *map, uint64_t slot, uint64_t entry)
{
    unsigned off = slot & VSWAP_MAP_LEAF_MASK;
    VswapMapLeaf *leaf;
    uint64_t prev;

    g_assert(slot < map->capacity);
    g_assert(entry <= VSWAP_MAP_ENTRY_MASK);
    leaf = vswap_map_leaf_for(map, slot, entry);
    if (!leaf) {
        return 0;
    }
    prev = vswap_map_leaf_get(leaf, off);
    vswap_map_leaf_put(leaf, off, entry);
    if (!prev && entry) {
        leaf->live++;
        map->count++;
    } else if (prev && !entry) {
        map->count--;
        if (--leaf->live == 0) {
            vswap_map_tree_remove(map, &map->leaves,
                                  slot >> VSWAP_MAP_LEAF_SHIFT);
            vswap_map_release(map, leaf, VSWAP_MAP_LEAF_SIZE);
        }
    }
    return prev;
}

bool vswap_map_next(const VswapSlotMap *map, uint64_t *slot, uint64_t *entry)
{
    uint64_t li;
    unsigned off;

    if (*slot >= map->capacity) {
        return false;
    }
    li = *slot >> VSWAP_MAP_LEAF_SHIFT;
    off = *slot & VSWAP_MAP_LEAF_MASK;
    for (;;) {
        uint64_t found = vswap_map_tree_next(map, &map->leaves, li);
        const VswapMapLeaf *leaf;

        if (found == UINT64_MAX) {
            return false;
        }
        if (found != li) {
            li = found;
            off = 0;
        }
        leaf = vswap_map_tree_get(&map->leaves, li);
        for (; off < VSWAP_MAP_LEAF_SLOTS; off++) {
            uint64_t e = vswap_map_leaf_get(leaf, off);

            if (e) {
                *slot = (li << VSWAP_MAP_LEAF_SHIFT) | off;
                *entry = e;
                return true;
            }
        }
        li++;
        off = 0;
    }
}

uint64_t vswap_map_count(const VswapSlotMap *map)
{
    return map->count;
}

size_t vswap_map_memory(const VswapSlotMap *map)
{
    return map->memory;
}

/* Returns the dirty bitmap of leaf @li, allocating it if need be. */
static VswapMapDirty *vswap_map_dirty_bitmap(VswapSlotMap *map, uint64_t li)
{
    VswapMapDirty *dirty = vswap_map_tree_get(&map->dirty, li);

    if (!dirty) {
        dirty = vswap_map_alloc(map, sizeof(*dirty));
        vswap_map_tree_insert(map, &map->dirty, li, dirty);
    }
    return dirty;
}

static void vswap_map_dirty_set(VswapSlotMap *map, VswapMapDirty *dirty,
                                unsigned off)
{
    if (!vswap_map_bit_test(dirty->bits, off)) {
        vswap_map_bit_set(dirty->bits, off);
        map->dirty_count++;
    }
}

/* Marks every non-empty slot of the leaf @li dirty. */
static void vswap_map_dirty_leaf(VswapSlotMap *map, uint64_t li)
{
    const VswapMapLeaf *leaf = vswap_map_tree_get(&map->leaves, li);
    VswapMapDirty *dirty = vswap_map_dirty_bitmap(map, li);

    for (unsigned off = 0; off < VSWAP_MAP_LEAF_SLOTS; off++) {
        if (vswap_map_leaf_get(leaf, off)) {
            vswap_map_dirty_set(map, dirty, off);
        }
    }
}

/*
 * Starting again while on keeps the bits already set and adds every
 * non-empty slot, which is what a restarted first pass needs.
 */
void vswap_map_track_dirty(VswapSlotMap *map, bool on)
{
    if (!on) {
        if (map->tracking) {
            vswap_map_tree_destroy(map, &map->dirty, sizeof(VswapMapDirty));
            map->tracking = false;
            map->dirty_count = 0;
        }
        return;
    }
    if (!map->tracking) {
        vswap_map_tree_init(map, &map->dirty);
        map->tracking = true;
    }
    for (uint64_t li = vswap_map_tree_next(map, &map->leaves, 0);
         li != UINT64_MAX;
         li = vswap_map_tree_next(map, &map->leaves, li + 1)) {
        vswap_map_dirty_leaf(map, li);
    }
}

bool vswap_map_tracking_dirty(const VswapSlotMap *map)
{
    return map->tracking;
}

void vswap_map_mark_dirty(VswapSlotMap *map, uint64_t slot)
{
    VswapMapDirty *dirty;

    g_assert(slot < map->capacity);
    if (!map->tracking) {
        return;
    }
    dirty = vswap_map_dirty_bitmap(map, slot >> VSWAP_MAP_LEAF_SHIFT);
    vswap_map_dirty_set(map, dirty, slot & VSWAP_MAP_LEAF_MASK);
}

/* Clears one dirty bit, freeing the bitmap once it has none left. */
static void vswap_map_dirty_clear(VswapSlotMap *map, VswapMapDirty *dirty,
                                  uint64_t li, unsigned off)
{
    vswap_map_bit_clear(dirty->bits, off);
    map->dirty_count--;
    for (unsigned i = 0; i < G_N_ELEMENTS(dirty->bits); i++) {
        if (dirty->bits[i]) {
            return;
        }
    }
    vswap_map_tree_remove(map, &map->dirty, li);
    vswap_map_release(map, dirty, sizeof(*dirty));
}

bool vswap_map_next_dirty(VswapSlotMap *map, uint64_t *slot)
{
    uint64_t li;
    uint64_t off;

    if (!map->tracking || *slot >= map->capacity) {
        return false;
    }
    li = *slot >> VSWAP_MAP_LEAF_SHIFT;
    off = *slot & VSWAP_MAP_LEAF_MASK;
    for (;;) {
        uint64_t found = vswap_map_tree_next(map, &map->dirty, li);
        VswapMapDirty *dirty;

        if (found == UINT64_MAX) {
            return false;
        }
        if (found != li) {
            li = found;
            off = 0;
        }
        dirty = vswap_map_tree_get(&map->dirty, li);
        off = vswap_map_bits_next(dirty->bits, VSWAP_MAP_LEAF_SLOTS, off);
        if (off < VSWAP_MAP_LEAF_SLOTS) {
            *slot = (li << VSWAP_MAP_LEAF_SHIFT) | off;
            vswap_map_dirty_clear(map, dirty, li, off);
            return true;
        }
        li++;
        off = 0;
    }
}

uint64_t vswap_map_dirty_count(const VswapSlotMap *map)
{
    return map->dirty_count;
}
