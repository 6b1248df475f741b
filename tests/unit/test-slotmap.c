/*
 * Unit tests of the sparse slot map and its dirty tracking.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>

#include "slotmap.h"

#define TOP_SLOT (VSWAP_MAP_MAX_CAPACITY - 1)

/* Collects every dirty slot from @from on, in order, into a new array. */
static GArray *collect_dirty(VswapSlotMap *map, uint64_t from)
{
    GArray *slots = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    uint64_t slot = from;

    while (vswap_map_next_dirty(map, &slot)) {
        g_array_append_val(slots, slot);
        slot++;
    }
    return slots;
}

static void check_set_get(VswapSlotMap *map, uint64_t slot, uint64_t entry)
{
    g_assert_cmphex(vswap_map_set(map, slot, entry), ==, 0);
    g_assert_cmphex(vswap_map_get(map, slot), ==, entry);
    g_assert_cmphex(vswap_map_set(map, slot, entry + 1), ==, entry);
    g_assert_cmphex(vswap_map_get(map, slot), ==, entry + 1);
}

/* Edges of the slot range, on a small odd capacity and the largest one. */
static void test_set_get_clear(void)
{
    static const uint64_t caps[] = { 1, 1000003, VSWAP_MAP_MAX_CAPACITY };

    for (size_t i = 0; i < G_N_ELEMENTS(caps); i++) {
        VswapSlotMap *map = vswap_map_new(caps[i]);
        uint64_t last = caps[i] - 1;

        g_assert_cmpuint(vswap_map_capacity(map), ==, caps[i]);
        g_assert_cmphex(vswap_map_get(map, 0), ==, 0);
        g_assert_cmphex(vswap_map_get(map, last), ==, 0);
        check_set_get(map, 0, 0x11);
        if (last > 0) {
            check_set_get(map, last, 0x22);
            g_assert_cmpuint(vswap_map_count(map), ==, 2);
        }
        if (last > 2) {
            check_set_get(map, last - 1, 0x33);
            g_assert_cmphex(vswap_map_get(map, last - 2), ==, 0);
            g_assert_cmphex(vswap_map_set(map, last - 1, 0), ==, 0x34);
        }
        g_assert_cmphex(vswap_map_set(map, 0, 0), ==, 0x12);
        g_assert_cmphex(vswap_map_get(map, 0), ==, 0);
        g_assert_cmphex(vswap_map_set(map, last, 0), ==,
                        last > 0 ? 0x23 : 0);
        g_assert_cmpuint(vswap_map_count(map), ==, 0);
        /* Clearing an empty slot is a no-op that returns 0. */
        g_assert_cmphex(vswap_map_set(map, last / 2, 0), ==, 0);
        vswap_map_free(map);
    }
}

/* Every entry of a leaf, including the last, keeps all 56 bits. */
static void test_full_width_entries(void)
{
    VswapSlotMap *map = vswap_map_new(4 * VSWAP_MAP_LEAF_SLOTS);
    GRand *rand = g_rand_new_with_seed(1);
    uint64_t *want = g_new(uint64_t, 4 * VSWAP_MAP_LEAF_SLOTS);

    for (uint64_t s = 0; s < 4 * VSWAP_MAP_LEAF_SLOTS; s++) {
        want[s] = s % 3 == 0 ? VSWAP_MAP_ENTRY_MASK :
                  ((uint64_t)g_rand_int(rand) << 32 | g_rand_int(rand)) &
                  VSWAP_MAP_ENTRY_MASK;
        want[s] |= 1;
        vswap_map_set(map, s, want[s]);
    }
    for (uint64_t s = 0; s < 4 * VSWAP_MAP_LEAF_SLOTS; s++) {
        g_assert_cmphex(vswap_map_get(map, s), ==, want[s]);
    }
    /* Neighbours are untouched when an entry changes. */
    g_assert_cmphex(vswap_map_set(map, 700, 1), ==, want[700]);
    g_assert_cmphex(vswap_map_get(map, 699), ==, want[699]);
    g_assert_cmphex(vswap_map_get(map, 701), ==, want[701]);
    g_assert_cmphex(vswap_map_set(map, 511, VSWAP_MAP_ENTRY_MASK), ==,
                    want[511]);
    g_assert_cmphex(vswap_map_get(map, 510), ==, want[510]);
    g_assert_cmphex(vswap_map_get(map, 512), ==, want[512]);
    g_assert_cmphex(vswap_map_get(map, 511), ==, VSWAP_MAP_ENTRY_MASK);
    g_free(want);
    g_rand_free(rand);
    vswap_map_free(map);
}

/* Half dense, half spread over the whole 2^32 range. */
static uint64_t scattered_slot(uint64_t s)
{
    return s % 2 ? s * UINT64_C(2654435761) % VSWAP_MAP_MAX_CAPACITY : s;
}

/* Emptied leaves and nodes are freed, back to the empty map's footprint. */
static void test_leaves_freed(void)
{
    VswapSlotMap *map = vswap_map_new(VSWAP_MAP_MAX_CAPACITY);
    size_t empty = vswap_map_memory(map);
    size_t one_leaf;

    g_test_message("empty 2^32-slot map: %zu bytes", empty);
    g_assert_cmpuint(empty, <=, 256 * 1024);
    vswap_map_set(map, 3, 1);
    one_leaf = vswap_map_memory(map);
    g_assert_cmpuint(one_leaf, >, empty);
    vswap_map_set(map, 4, 1);
    g_assert_cmpuint(vswap_map_memory(map), ==, one_leaf);
    vswap_map_set(map, 3, 0);
    g_assert_cmpuint(vswap_map_memory(map), ==, one_leaf);
    vswap_map_set(map, 4, 0);
    g_assert_cmpuint(vswap_map_memory(map), ==, empty);

    for (uint64_t s = 0; s < 4000; s++) {
        vswap_map_set(map, scattered_slot(s), s + 1);
    }
    vswap_map_set(map, TOP_SLOT, 5);
    g_assert_cmpuint(vswap_map_memory(map), >, empty);
    for (uint64_t s = 0; s < 4000; s++) {
        vswap_map_set(map, scattered_slot(s), 0);
    }
    vswap_map_set(map, TOP_SLOT, 0);
    g_assert_cmpuint(vswap_map_count(map), ==, 0);
    g_assert_cmpuint(vswap_map_memory(map), ==, empty);
    vswap_map_free(map);

    /* A small map costs almost nothing. */
    map = vswap_map_new(1000);
    g_assert_cmpuint(vswap_map_memory(map), <=, 128);
    vswap_map_free(map);
    vswap_map_free(NULL);
}

/* The product's budget is 8 bytes per page, map and index together. */
static void test_bytes_per_page(void)
{
    const uint64_t n = 1000000;
    VswapSlotMap *map = vswap_map_new(UINT64_C(1) << 32);
    double per_page;

    for (uint64_t s = 0; s < n; s++) {
        vswap_map_set(map, s, s + 1);
    }
    g_assert_cmpuint(vswap_map_count(map), ==, n);
    per_page = (double)vswap_map_memory(map) / vswap_map_count(map);
    g_test_message("slot map: %zu bytes for %" G_GUINT64_FORMAT
                   " pages, %.3f bytes/page",
                   vswap_map_memory(map), n, per_page);
    g_assert_cmpfloat(per_page, <=, 7.5);
    vswap_map_free(map);
}

static void check_next(VswapSlotMap *map, uint64_t from, bool found,
                       uint64_t slot, uint64_t entry)
{
    uint64_t s = from, e = 0;

    g_assert_cmpint(vswap_map_next(map, &s, &e), ==, found);
    if (found) {
        g_assert_cmphex(s, ==, slot);
        g_assert_cmphex(e, ==, entry);
    }
}

/* Iteration is ordered and jumps over empty leaves and nodes. */
static void test_next_sparse(void)
{
    VswapSlotMap *map = vswap_map_new(VSWAP_MAP_MAX_CAPACITY);
    const uint64_t big = UINT64_C(1) << 31;

    check_next(map, 0, false, 0, 0);
    vswap_map_set(map, big, 3);
    vswap_map_set(map, 70000, 2);
    vswap_map_set(map, 5, 1);
    check_next(map, 0, true, 5, 1);
    check_next(map, 5, true, 5, 1);
    check_next(map, 6, true, 70000, 2);
    check_next(map, 70001, true, big, 3);
    check_next(map, big + 1, false, 0, 0);
    check_next(map, VSWAP_MAP_MAX_CAPACITY, false, 0, 0);

    vswap_map_set(map, TOP_SLOT, 4);
    check_next(map, big + 1, true, TOP_SLOT, 4);
    check_next(map, TOP_SLOT, true, TOP_SLOT, 4);
    /* Would take seconds if next() walked the slots one by one. */
    vswap_map_set(map, 5, 0);
    vswap_map_set(map, 70000, 0);
    vswap_map_set(map, big, 0);
    for (int i = 0; i < 10000; i++) {
        check_next(map, 0, true, TOP_SLOT, 4);
    }

    /* A full iteration sees every entry once, in order. */
    for (uint64_t s = 1; s < 5000; s += 7) {
        vswap_map_set(map, s * 1031, s);
    }
    {
        uint64_t slot = 0, entry, prev = 0, seen = 0;

        while (vswap_map_next(map, &slot, &entry)) {
            g_assert(seen == 0 || slot > prev);
            g_assert_cmphex(vswap_map_get(map, slot), ==, entry);
            prev = slot++;
            seen++;
        }
        g_assert_cmpuint(seen, ==, vswap_map_count(map));
    }
    vswap_map_free(map);
}

/* Starting tracking marks every live slot, and only those. */
static void test_dirty_basic(void)
{
    VswapSlotMap *map = vswap_map_new(VSWAP_MAP_MAX_CAPACITY);
    size_t before;
    g_autoptr(GArray) got = NULL;
    uint64_t slot = 0;

    g_assert_false(vswap_map_tracking_dirty(map));
    vswap_map_set(map, 9, 1);
    vswap_map_mark_dirty(map, 10);
    g_assert_cmpuint(vswap_map_dirty_count(map), ==, 0);
    g_assert_false(vswap_map_next_dirty(map, &slot));

    vswap_map_set(map, 100, 1);
    vswap_map_set(map, 9, 0);
    vswap_map_set(map, TOP_SLOT, 7);
    before = vswap_map_memory(map);
    vswap_map_track_dirty(map, true);
    g_assert_true(vswap_map_tracking_dirty(map));
    g_assert_cmpuint(vswap_map_dirty_count(map), ==, 2);

    vswap_map_mark_dirty(map, 1u << 30);
    vswap_map_mark_dirty(map, 100);
    g_assert_cmpuint(vswap_map_dirty_count(map), ==, 3);
    got = collect_dirty(map, 0);
    g_assert_cmpuint(got->len, ==, 3);
    g_assert_cmphex(g_array_index(got, uint64_t, 0), ==, 100);
    g_assert_cmphex(g_array_index(got, uint64_t, 1), ==, 1u << 30);
    g_assert_cmphex(g_array_index(got, uint64_t, 2), ==, TOP_SLOT);
    g_assert_cmpuint(vswap_map_dirty_count(map), ==, 0);
    slot = 0;
    g_assert_false(vswap_map_next_dirty(map, &slot));

    /* Collecting from a start point leaves earlier bits alone. */
    vswap_map_set(map, 100, 2);
    vswap_map_set(map, 200, 0);
    vswap_map_mark_dirty(map, 300);
    slot = 150;
    g_assert_true(vswap_map_next_dirty(map, &slot));
    g_assert_cmphex(slot, ==, 200);
    g_assert_cmpuint(vswap_map_dirty_count(map), ==, 2);
    slot = 0;
    g_assert_true(vswap_map_next_dirty(map, &slot));
    g_assert_cmphex(slot, ==, 100);
    slot = 101;
    g_assert_true(vswap_map_next_dirty(map, &slot));
    g_assert_cmphex(slot, ==, 300);
    g_assert_cmpuint(vswap_map_dirty_count(map), ==, 0);

    /* A bitmap with bits only before the start point is passed over. */
    vswap_map_mark_dirty(map, 10);
    vswap_map_mark_dirty(map, 600);
    slot = 11;
    g_assert_true(vswap_map_next_dirty(map, &slot));
    g_assert_cmphex(slot, ==, 600);
    slot = 0;
    g_assert_true(vswap_map_next_dirty(map, &slot));
    g_assert_cmphex(slot, ==, 10);

    vswap_map_set(map, 5, 5);
    g_assert_cmpuint(vswap_map_dirty_count(map), ==, 1);
    vswap_map_track_dirty(map, false);
    g_assert_false(vswap_map_tracking_dirty(map));
    g_assert_cmpuint(vswap_map_dirty_count(map), ==, 0);
    slot = 0;
    g_assert_false(vswap_map_next_dirty(map, &slot));
    vswap_map_set(map, 5, 0);
    g_assert_cmpuint(vswap_map_memory(map), ==, before);
    vswap_map_free(map);
}

/* A discard that frees the leaf is still reported to migration. */
static void test_dirty_survives_leaf_free(void)
{
    VswapSlotMap *map = vswap_map_new(1 << 20);
    size_t empty = vswap_map_memory(map);
    size_t with_leaf;
    uint64_t slot = 0;

    vswap_map_set(map, 1000, 42);
    with_leaf = vswap_map_memory(map);
    vswap_map_track_dirty(map, true);
    g_assert_true(vswap_map_next_dirty(map, &slot));
    g_assert_cmphex(slot, ==, 1000);
    g_assert_cmpuint(vswap_map_dirty_count(map), ==, 0);

    g_assert_cmphex(vswap_map_set(map, 1000, 0), ==, 42);
    g_assert_cmpuint(vswap_map_count(map), ==, 0);
    /* The leaf is gone; only the dirty bookkeeping remains. */
    g_assert_cmpuint(vswap_map_memory(map) - empty, <,
                     with_leaf - empty);
    /* Clearing a slot that never had a leaf counts too. */
    vswap_map_set(map, 900000, 0);
    g_assert_cmpuint(vswap_map_dirty_count(map), ==, 2);
    slot = 0;
    g_assert_true(vswap_map_next_dirty(map, &slot));
    g_assert_cmphex(slot, ==, 1000);
    slot++;
    g_assert_true(vswap_map_next_dirty(map, &slot));
    g_assert_cmphex(slot, ==, 900000);
    slot++;
    g_assert_false(vswap_map_next_dirty(map, &slot));
    vswap_map_track_dirty(map, false);
    g_assert_cmpuint(vswap_map_memory(map), ==, empty);
    vswap_map_free(map);
}

/* Dirty scans skip clean regions of a huge map. */
static void test_dirty_sparse(void)
{
    VswapSlotMap *map = vswap_map_new(VSWAP_MAP_MAX_CAPACITY);
    uint64_t slot;

    vswap_map_track_dirty(map, true);
    for (int i = 0; i < 10000; i++) {
        vswap_map_mark_dirty(map, TOP_SLOT);
        slot = 0;
        g_assert_true(vswap_map_next_dirty(map, &slot));
        g_assert_cmphex(slot, ==, TOP_SLOT);
        g_assert_cmpuint(vswap_map_dirty_count(map), ==, 0);
    }
    slot = VSWAP_MAP_MAX_CAPACITY;
    g_assert_false(vswap_map_next_dirty(map, &slot));
    vswap_map_free(map);
}

/* ---- Randomized model test against a GHashTable ---- */

typedef struct Model {
    VswapSlotMap *map;
    GHashTable *entries;    /* slot -> entry, non-empty slots only */
    GHashTable *dirty;      /* set of slots, while tracking */
    GRand *rand;
    uint64_t capacity;
} Model;

static uint64_t *u64_dup(uint64_t v)
{
    uint64_t *p = g_new(uint64_t, 1);

    *p = v;
    return p;
}

static uint64_t model_get(Model *m, uint64_t slot)
{
    uint64_t *e = g_hash_table_lookup(m->entries, &slot);

    return e ? *e : 0;
}

/* Clustered slots so that leaves fill, empty and get freed. */
static uint64_t model_slot(Model *m)
{
    uint32_t kind = g_rand_int_range(m->rand, 0, 10);

    if (kind < 6) {
        return g_rand_int_range(m->rand, 0, 3 * VSWAP_MAP_LEAF_SLOTS);
    }
    if (kind < 8) {
        return m->capacity - 1 - g_rand_int_range(m->rand, 0, 700);
    }
    if (kind < 9) {
        return (UINT64_C(1) << 18) - 300 + g_rand_int_range(m->rand, 0, 600);
    }
    return ((uint64_t)g_rand_int(m->rand) << 32 | g_rand_int(m->rand)) %
           m->capacity;
}

static uint64_t model_entry(Model *m)
{
    uint32_t kind = g_rand_int_range(m->rand, 0, 8);

    if (kind < 3) {
        return 0;
    }
    if (kind < 4) {
        return VSWAP_MAP_ENTRY_MASK - g_rand_int_range(m->rand, 0, 2);
    }
    return (((uint64_t)g_rand_int(m->rand) << 32) | g_rand_int(m->rand)) &
           VSWAP_MAP_ENTRY_MASK;
}

static void model_set(Model *m, uint64_t slot, uint64_t entry)
{
    g_assert_cmphex(vswap_map_set(m->map, slot, entry), ==,
                    model_get(m, slot));
    if (entry) {
        g_hash_table_insert(m->entries, u64_dup(slot), u64_dup(entry));
    } else {
        g_hash_table_remove(m->entries, &slot);
    }
    if (m->dirty) {
        g_hash_table_add(m->dirty, u64_dup(slot));
    }
}

/* Expected answer of next(): the smallest shadow slot at or after @from. */
static bool model_next(Model *m, uint64_t from, uint64_t *slot)
{
    GHashTableIter it;
    gpointer key;
    bool found = false;

    g_hash_table_iter_init(&it, m->entries);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        uint64_t s = *(uint64_t *)key;

        if (s >= from && (!found || s < *slot)) {
            *slot = s;
            found = true;
        }
    }
    return found;
}

static void model_check_next(Model *m)
{
    uint64_t from = model_slot(m);
    uint64_t want = 0, slot = from, entry = 0;
    bool found = model_next(m, from, &want);

    g_assert_cmpint(vswap_map_next(m->map, &slot, &entry), ==, found);
    if (found) {
        g_assert_cmphex(slot, ==, want);
        g_assert_cmphex(entry, ==, model_get(m, want));
    }
}

static void model_check_all(Model *m)
{
    uint64_t slot = 0, entry, seen = 0, prev = 0;

    g_assert_cmpuint(vswap_map_count(m->map), ==,
                     g_hash_table_size(m->entries));
    while (vswap_map_next(m->map, &slot, &entry)) {
        g_assert(seen == 0 || slot > prev);
        g_assert_cmphex(entry, ==, model_get(m, slot));
        seen++;
        prev = slot++;
    }
    g_assert_cmpuint(seen, ==, g_hash_table_size(m->entries));
}

static void model_start_tracking(Model *m)
{
    GHashTableIter it;
    gpointer key;

    vswap_map_track_dirty(m->map, true);
    m->dirty = g_hash_table_new_full(g_int64_hash, g_int64_equal,
                                     g_free, NULL);
    g_hash_table_iter_init(&it, m->entries);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        g_hash_table_add(m->dirty, u64_dup(*(uint64_t *)key));
    }
    g_assert_cmpuint(vswap_map_dirty_count(m->map), ==,
                     g_hash_table_size(m->dirty));
}

/* Collects the dirty slots from @from on and checks them with the shadow. */
static void model_collect(Model *m, uint64_t from)
{
    g_autoptr(GArray) got = collect_dirty(m->map, from);
    guint expect = 0;
    GHashTableIter it;
    gpointer key;

    g_hash_table_iter_init(&it, m->dirty);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        expect += *(uint64_t *)key >= from;
    }
    g_assert_cmpuint(got->len, ==, expect);
    for (guint i = 0; i < got->len; i++) {
        uint64_t s = g_array_index(got, uint64_t, i);

        g_assert(i == 0 || s > g_array_index(got, uint64_t, i - 1));
        g_assert_true(g_hash_table_remove(m->dirty, &s));
    }
    g_assert_cmpuint(vswap_map_dirty_count(m->map), ==,
                     g_hash_table_size(m->dirty));
}

static void model_step(Model *m)
{
    uint32_t kind = g_rand_int_range(m->rand, 0, 100);
    uint64_t slot = model_slot(m);

    if (kind < 70) {
        model_set(m, slot, model_entry(m));
    } else if (kind < 90) {
        g_assert_cmphex(vswap_map_get(m->map, slot), ==, model_get(m, slot));
    } else if (kind < 91) {
        model_check_next(m);
    } else if (m->dirty) {
        vswap_map_mark_dirty(m->map, slot);
        g_hash_table_add(m->dirty, u64_dup(slot));
    }
    if (m->dirty) {
        g_assert_cmpuint(vswap_map_dirty_count(m->map), ==,
                         g_hash_table_size(m->dirty));
    }
}

static void test_model(void)
{
    const int ops = 200000;
    Model m = {
        .capacity = VSWAP_MAP_MAX_CAPACITY - 5,
        .rand = g_rand_new_with_seed(1),
    };
    size_t empty;

    m.map = vswap_map_new(m.capacity);
    m.entries = g_hash_table_new_full(g_int64_hash, g_int64_equal,
                                      g_free, g_free);
    empty = vswap_map_memory(m.map);
    for (int op = 0; op < ops; op++) {
        model_step(&m);
        if (op == ops / 2) {
            model_start_tracking(&m);
        }
        if (op > ops / 2 && op % 20000 == 0) {
            model_collect(&m, model_slot(&m));
            model_collect(&m, 0);
        }
        if (op % 9973 == 0) {
            model_check_all(&m);
        }
    }
    model_check_all(&m);
    model_collect(&m, 0);
    vswap_map_track_dirty(m.map, false);
    g_assert_cmpuint(vswap_map_dirty_count(m.map), ==, 0);
    g_clear_pointer(&m.dirty, g_hash_table_destroy);

    /* Clear everything: memory returns to the empty map's. */
    while (g_hash_table_size(m.entries)) {
        GHashTableIter it;
        gpointer key;

        g_hash_table_iter_init(&it, m.entries);
        g_assert_true(g_hash_table_iter_next(&it, &key, NULL));
        model_set(&m, *(uint64_t *)key, 0);
    }
    g_assert_cmpuint(vswap_map_count(m.map), ==, 0);
    g_assert_cmpuint(vswap_map_memory(m.map), ==, empty);

    g_hash_table_destroy(m.entries);
    g_rand_free(m.rand);
    vswap_map_free(m.map);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/slotmap/set-get-clear", test_set_get_clear);
    g_test_add_func("/slotmap/full-width-entries", test_full_width_entries);
    g_test_add_func("/slotmap/leaves-freed", test_leaves_freed);
    g_test_add_func("/slotmap/bytes-per-page", test_bytes_per_page);
    g_test_add_func("/slotmap/next-sparse", test_next_sparse);
    g_test_add_func("/slotmap/dirty-basic", test_dirty_basic);
    g_test_add_func("/slotmap/dirty-survives-leaf-free",
                    test_dirty_survives_leaf_free);
    g_test_add_func("/slotmap/dirty-sparse", test_dirty_sparse);
    g_test_add_func("/slotmap/model", test_model);
    return g_test_run();
}
