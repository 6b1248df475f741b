/*
 * qtest of the virtio-vswap device, driven the way a guest driver drives it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest-single.h"
#include "qemu/bswap.h"
#include "qemu/cutils.h"
#include "qemu/module.h"
#include "qobject/qbool.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qobject/qstring.h"
#include "libqos/qgraph.h"
#include "libqos/pci-pc.h"
#include "libqos/virtio.h"
#include "libqos/virtio-pci.h"
#include "libqos/virtio-vswap.h"
#include "standard-headers/linux/virtio_pci.h"
#include "standard-headers/linux/virtio_vswap.h"

#define VSWAP_TEST_TIMEOUT_US (30 * 1000 * 1000)
#define VSWAP_TEST_CAPACITY 4096
#define PAGE 4096
/* Offset of a field of the device's config space. */
#define VSWAP_CFG(field) offsetof(struct virtio_vswap_config, field)
#define PCI_SLOT_HP 0x06          /* a free slot for hot-plugging */
#define PCI_SLOT_HP2 0x07         /* another, for a second device */

/* One started device: the queue and allocator the requests go through. */
typedef struct VswapT {
    QVirtioDevice *dev;
    QGuestAllocator *alloc;
    QVirtQueue *vq;
    uint64_t features;
} VswapT;

static void vswap_start(VswapT *t, QVirtioVswap *vswap, QGuestAllocator *alloc)
{
    t->dev = vswap->vdev;
    t->alloc = alloc;
    t->features = qvirtio_get_features(t->dev) &
                  ((1ull << VIRTIO_VSWAP_F_FILL) | (1ull << VIRTIO_VSWAP_F_MQ) |
                   (1ull << VIRTIO_F_VERSION_1));
    qvirtio_set_features(t->dev, t->features);
    t->vq = qvirtqueue_setup(t->dev, alloc, 0);
    qvirtio_set_driver_ok(t->dev);
}

static void vswap_stop(VswapT *t)
{
    qvirtqueue_cleanup(t->dev->bus, t->vq, t->alloc);
}

/*
 * Send one request: @out_len bytes the device reads, @in_len bytes it
 * writes (copied back to @in).  Returns the request status (last byte).
 */
static uint8_t vswap_do(VswapT *t, const void *out, size_t out_len, void *in,
                        size_t in_len)
{
    QTestState *qts = global_qtest;
    uint64_t addr = guest_alloc(t->alloc, out_len + in_len);
    g_autofree uint8_t *poison = g_malloc(in_len);
    uint32_t head;

    /*
     * libqos hands out descriptors without ever wrapping; requests here go
     * one at a time, so every descriptor is free again.
     */
    t->vq->free_head = 0;
    t->vq->num_free = t->vq->size;
    memset(poison, 0xa5, in_len);
    memwrite(addr, out, out_len);
    memwrite(addr + out_len, poison, in_len);
    head = qvirtqueue_add(qts, t->vq, addr, out_len, false, true);
    qvirtqueue_add(qts, t->vq, addr + out_len, in_len, true, false);
    qvirtqueue_kick(qts, t->dev, t->vq, head);
    qvirtio_wait_used_elem(qts, t->dev, t->vq, head, NULL,
                           VSWAP_TEST_TIMEOUT_US);
    memread(addr + out_len, in, in_len);
    guest_free(t->alloc, addr);
    return ((uint8_t *)in)[in_len - 1];
}

static void vswap_hdr(GByteArray *out, uint16_t type, uint32_t count)
{
    struct virtio_vswap_req_hdr hdr = {
        .type = cpu_to_le16(type),
        .count = cpu_to_le32(count),
    };

    g_byte_array_append(out, (guint8 *)&hdr, sizeof(hdr));
}

static void vswap_slot(GByteArray *out, uint64_t slot, uint32_t flags,
                       uint32_t fill)
{
    struct virtio_vswap_slot ent = {
        .slot = cpu_to_le64(slot),
        .flags = cpu_to_le32(flags),
        .fill = cpu_to_le32(fill),
    };

    g_byte_array_append(out, (guint8 *)&ent, sizeof(ent));
}

/*
 * WRITE @n pages; a NULL page in @pages is sent as a fill page of
 * @fills[i] (or 0).  Entry statuses land in @st.  Returns the request status.
 */
static uint8_t vswap_write(VswapT *t, const uint64_t *slots,
                           const uint8_t *const *pages, const uint32_t *fills,
                           unsigned n, uint8_t *st)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    g_autofree uint8_t *in = g_malloc(n + 1);
    uint8_t ret;

    vswap_hdr(out, VIRTIO_VSWAP_T_WRITE, n);
    for (unsigned i = 0; i < n; i++) {
        vswap_slot(out, slots[i], pages[i] ? 0 : VIRTIO_VSWAP_SLOT_F_FILL,
                   pages[i] ? 0 : (fills ? fills[i] : 0));
    }
    for (unsigned i = 0; i < n; i++) {
        if (pages[i]) {
            g_byte_array_append(out, pages[i], PAGE);
        }
    }
    ret = vswap_do(t, out->data, out->len, in, n + 1);
    if (st) {
        memcpy(st, in, n);
    }
    return ret;
}

/* READ @n slots into @pages (n * PAGE bytes); statuses into @st. */
static uint8_t vswap_read(VswapT *t, const uint64_t *slots, unsigned n,
                          uint8_t *pages, uint8_t *st)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    size_t in_len = (size_t)n * PAGE + n + 1;
    g_autofree uint8_t *in = g_malloc(in_len);
    uint8_t ret;

    vswap_hdr(out, VIRTIO_VSWAP_T_READ, n);
    for (unsigned i = 0; i < n; i++) {
        vswap_slot(out, slots[i], 0, 0);
    }
    ret = vswap_do(t, out->data, out->len, in, in_len);
    memcpy(pages, in, (size_t)n * PAGE);
    if (st) {
        memcpy(st, in + (size_t)n * PAGE, n);
    }
    return ret;
}

static uint8_t vswap_discard(VswapT *t, uint64_t start, uint64_t count)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    struct virtio_vswap_range r = {
        .start = cpu_to_le64(start),
        .count = cpu_to_le64(count),
    };
    uint8_t in[2];

    vswap_hdr(out, VIRTIO_VSWAP_T_DISCARD, 1);
    g_byte_array_append(out, (guint8 *)&r, sizeof(r));
    return vswap_do(t, out->data, out->len, in, sizeof(in));
}

/* A page that compresses like real memory, distinct per (slot, version). */
static void vswap_page(uint8_t *page, uint64_t slot, unsigned ver)
{
    GRand *rand = g_rand_new_with_seed(slot * 31 + ver);

    /* Half random, half zero: compresses about 2:1. */
    for (unsigned i = 0; i < PAGE; i += 8) {
        uint64_t v = g_rand_int(rand);

        memcpy(page + i, &v, sizeof(v));
    }
    memcpy(page, &slot, sizeof(slot));
    memcpy(page + 8, &ver, sizeof(ver));
    g_rand_free(rand);
}

static void vswap_write_one(VswapT *t, uint64_t slot, unsigned ver)
{
    uint8_t page[PAGE];
    const uint8_t *pages[1] = { page };

    vswap_page(page, slot, ver);
    g_assert_cmpint(vswap_write(t, &slot, pages, NULL, 1, NULL), ==,
                    VIRTIO_VSWAP_S_OK);
}

static void vswap_check_one(VswapT *t, uint64_t slot, unsigned ver)
{
    uint8_t page[PAGE], want[PAGE], st;

    vswap_page(want, slot, ver);
    g_assert_cmpint(vswap_read(t, &slot, 1, page, &st), ==, VIRTIO_VSWAP_S_OK);
    g_assert_cmpint(st, ==, VIRTIO_VSWAP_S_OK);
    g_assert(memcmp(page, want, PAGE) == 0);
}

/* query-vswap of the only device. */
static QDict *vswap_query(void)
{
    QDict *resp = qtest_qmp(global_qtest, "{'execute': 'query-vswap'}");
    QList *list = qdict_get_qlist(resp, "return");
    QDict *info;

    g_assert(list);
    info = qobject_to(QDict, qlist_peek(list));
    qobject_ref(info);
    qobject_unref(resp);
    return info;
}

static int64_t vswap_query_int(const char *key, const char *sub)
{
    QDict *info = vswap_query();
    int64_t v = sub ? qdict_get_int(qdict_get_qdict(info, key), sub) :
                qdict_get_int(info, key);

    qobject_unref(info);
    return v;
}

static void config(void *obj, void *data, QGuestAllocator *t_alloc)
{
    QVirtioVswap *vswap = obj;
    QVirtioDevice *dev = vswap->vdev;
    VswapT t;

    vswap_start(&t, vswap, t_alloc);
    g_assert(t.features & (1ull << VIRTIO_F_VERSION_1));
    g_assert(t.features & (1ull << VIRTIO_VSWAP_F_FILL));
    g_assert(t.features & (1ull << VIRTIO_VSWAP_F_MQ));
    /* No queue_reset handler: queues are reset with the device only. */
    g_assert_false(qvirtio_get_features(dev) & (1ull << VIRTIO_F_RING_RESET));
    g_assert_cmpint(qvirtio_config_readq(dev, VSWAP_CFG(capacity)),
                    ==, VSWAP_TEST_CAPACITY);
    g_assert_cmpint(qvirtio_config_readl(dev, VSWAP_CFG(page_size)), ==, PAGE);
    g_assert_cmpint(qvirtio_config_readl(dev, VSWAP_CFG(max_batch)), ==, 256);
    g_assert_cmpint(qvirtio_config_readw(dev, VSWAP_CFG(num_queues)), ==, 1);
    vswap_stop(&t);
}

static void round_trip(void *obj, void *data, QGuestAllocator *t_alloc)
{
    VswapT t;

    vswap_start(&t, obj, t_alloc);
    vswap_write_one(&t, 7, 1);
    vswap_check_one(&t, 7, 1);
    /* Overwrite: the new page wins. */
    vswap_write_one(&t, 7, 2);
    vswap_check_one(&t, 7, 2);
    vswap_stop(&t);
}

/* Discontiguous slots in one request, read back in another order. */
static void batch(void *obj, void *data, QGuestAllocator *t_alloc)
{
    static const uint64_t slots[] = { 900, 3, 4095, 17, 2048, 0, 511, 1234 };
    uint64_t rslots[G_N_ELEMENTS(slots)];
    enum { N = G_N_ELEMENTS(slots) };
    g_autofree uint8_t *data_w = g_malloc(N * PAGE);
    g_autofree uint8_t *data_r = g_malloc(N * PAGE);
    const uint8_t *pages[N];
    uint8_t st[N];
    VswapT t;

    int64_t entries0 = vswap_query_int("write", "entries");
    int64_t requests0 = vswap_query_int("write", "requests");

    vswap_start(&t, obj, t_alloc);
    for (unsigned i = 0; i < N; i++) {
        vswap_page(data_w + i * PAGE, slots[i], 3);
        pages[i] = data_w + i * PAGE;
        rslots[i] = slots[N - 1 - i];
    }
    g_assert_cmpint(vswap_write(&t, slots, pages, NULL, N, st), ==,
                    VIRTIO_VSWAP_S_OK);
    g_assert_cmpint(vswap_read(&t, rslots, N, data_r, st), ==,
                    VIRTIO_VSWAP_S_OK);
    for (unsigned i = 0; i < N; i++) {
        g_assert_cmpint(st[i], ==, VIRTIO_VSWAP_S_OK);
        g_assert(memcmp(data_r + i * PAGE, data_w + (N - 1 - i) * PAGE,
                        PAGE) == 0);
    }
    g_assert_cmpint(vswap_query_int("write", "entries") - entries0, ==, N);
    g_assert_cmpint(vswap_query_int("write", "requests") - requests0, ==, 1);
    vswap_stop(&t);
}

/* Fill pages cost no payload, and zero pages with payload are found too. */
static void fill_pages(void *obj, void *data, QGuestAllocator *t_alloc)
{
    uint64_t slots[3] = { 10, 11, 12 };
    uint32_t fills[3] = { 0, 0xdeadbeef, 0 };
    uint8_t zero[PAGE] = { 0 };
    const uint8_t *pages[3] = { NULL, NULL, zero };
    g_autofree uint8_t *buf = g_malloc(3 * PAGE);
    uint8_t st[3];
    VswapT t;

    vswap_start(&t, obj, t_alloc);
    g_assert_cmpint(vswap_write(&t, slots, pages, fills, 3, st), ==,
                    VIRTIO_VSWAP_S_OK);
    g_assert_cmpint(vswap_read(&t, slots, 3, buf, st), ==, VIRTIO_VSWAP_S_OK);
    for (unsigned i = 0; i < PAGE; i += 4) {
        g_assert_cmphex((uint32_t)ldl_le_p(buf + i), ==, 0);
        g_assert_cmphex((uint32_t)ldl_le_p(buf + PAGE + i), ==, 0xdeadbeef);
        g_assert_cmphex((uint32_t)ldl_le_p(buf + 2 * PAGE + i), ==, 0);
    }
    g_assert_cmpint(vswap_query_int("pages-fill", NULL), ==, 3);
    g_assert_cmpint(vswap_query_int("pages-mem", NULL), ==, 0);
    g_assert_cmpint(vswap_query_int("payload-bytes", NULL), ==, 0);
    vswap_stop(&t);
}

/* Discarded and never-written slots read back as zeroes, UNMAPPED. */
static void discard(void *obj, void *data, QGuestAllocator *t_alloc)
{
    uint64_t slots[3] = { 1, 3, 100 };
    uint8_t buf[3 * PAGE], st[3];
    int64_t unmapped0 = vswap_query_int("read-unmapped", NULL);
    VswapT t;

    vswap_start(&t, obj, t_alloc);
    for (uint64_t s = 0; s < 6; s++) {
        vswap_write_one(&t, s, 1);
    }
    g_assert_cmpint(vswap_discard(&t, 2, 3), ==, VIRTIO_VSWAP_S_OK);
    g_assert_cmpint(vswap_read(&t, slots, 3, buf, st), ==, VIRTIO_VSWAP_S_OK);
    g_assert_cmpint(st[0], ==, VIRTIO_VSWAP_S_OK);
    g_assert_cmpint(st[1], ==, VIRTIO_VSWAP_S_UNMAPPED);
    g_assert_cmpint(st[2], ==, VIRTIO_VSWAP_S_UNMAPPED);
    g_assert(buffer_is_zero(buf + PAGE, 2 * PAGE));
    vswap_check_one(&t, 5, 1);
    g_assert_cmpint(vswap_query_int("pages-mem", NULL), ==, 3);
    g_assert_cmpint(vswap_query_int("read-unmapped", NULL) - unmapped0, ==, 2);
    vswap_stop(&t);
}

static void capacity_limit(void *obj, void *data, QGuestAllocator *t_alloc)
{
    uint64_t slots[2] = { VSWAP_TEST_CAPACITY - 1, VSWAP_TEST_CAPACITY };
    uint8_t page[PAGE], buf[2 * PAGE];
    const uint8_t *pages[2] = { page, page };
    uint8_t st[2];
    VswapT t;

    vswap_start(&t, obj, t_alloc);
    vswap_page(page, VSWAP_TEST_CAPACITY - 1, 1);
    g_assert_cmpint(vswap_write(&t, slots, pages, NULL, 2, st), ==,
                    VIRTIO_VSWAP_S_INVAL);
    g_assert_cmpint(st[0], ==, VIRTIO_VSWAP_S_OK);
    g_assert_cmpint(st[1], ==, VIRTIO_VSWAP_S_INVAL);
    g_assert_cmpint(vswap_discard(&t, VSWAP_TEST_CAPACITY - 1, 2), ==,
                    VIRTIO_VSWAP_S_INVAL);
    g_assert_cmpint(vswap_discard(&t, UINT64_MAX, 2), ==, VIRTIO_VSWAP_S_INVAL);
    g_assert_cmpint(vswap_discard(&t, 0, 0), ==, VIRTIO_VSWAP_S_INVAL);
    vswap_check_one(&t, VSWAP_TEST_CAPACITY - 1, 1);

    /*
     * The invalid entry of a READ reads zeros.  Bounce pages start
     * uninitialised, and the WRITE above left two pages of its own in
     * QEMU's heap for the READ's bounce buffer to reuse.
     */
    g_assert_cmpint(vswap_write(&t, slots, pages, NULL, 2, st), ==,
                    VIRTIO_VSWAP_S_INVAL);
    g_assert_cmpint(vswap_read(&t, slots, 2, buf, st), ==,
                    VIRTIO_VSWAP_S_INVAL);
    g_assert_cmpint(st[0], ==, VIRTIO_VSWAP_S_OK);
    g_assert_cmpint(st[1], ==, VIRTIO_VSWAP_S_INVAL);
    g_assert_cmpmem(buf, PAGE, page, PAGE);
    g_assert(buffer_is_zero(buf + PAGE, PAGE));
    vswap_stop(&t);
}

/* A request type the spec does not define completes with UNSUPP. */
static void unknown_type(void *obj, void *data, QGuestAllocator *t_alloc)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    uint8_t in[2];
    VswapT t;

    vswap_start(&t, obj, t_alloc);
    vswap_hdr(out, 0x7f, 1);
    g_assert_cmpint(vswap_do(&t, out->data, out->len, in, 2), ==,
                    VIRTIO_VSWAP_S_UNSUPP);
    vswap_stop(&t);
}

static void assert_alive(void)
{
    QDict *resp = qtest_qmp(global_qtest, "{'execute': 'query-status'}");

    g_assert(qdict_haskey(resp, "return"));
    qobject_unref(resp);
}

/* Every malformed request gets an error status; QEMU stays up. */
static void malformed(void *obj, void *data, QGuestAllocator *t_alloc)
{
    g_autofree uint8_t *in = g_malloc(2 * PAGE + 8);
    uint8_t page[PAGE] = { 1 };
    VswapT t;
    int64_t expect_malformed = vswap_query_int("malformed-requests", NULL);

    vswap_start(&t, obj, t_alloc);
    {   /* count 0, count above max-batch, reserved field set */
        g_autoptr(GByteArray) out = g_byte_array_new();
        struct virtio_vswap_req_hdr *hdr;

        vswap_hdr(out, VIRTIO_VSWAP_T_READ, 0);
        g_assert_cmpint(vswap_do(&t, out->data, out->len, in, 2), ==,
                        VIRTIO_VSWAP_S_INVAL);
        hdr = (struct virtio_vswap_req_hdr *)out->data;
        hdr->count = cpu_to_le32(257);
        g_assert_cmpint(vswap_do(&t, out->data, out->len, in, 2), ==,
                        VIRTIO_VSWAP_S_INVAL);
        hdr->count = cpu_to_le32(UINT32_MAX);
        g_assert_cmpint(vswap_do(&t, out->data, out->len, in, 2), ==,
                        VIRTIO_VSWAP_S_INVAL);
        hdr->count = cpu_to_le32(1);
        hdr->reserved = cpu_to_le16(1);
        vswap_slot(out, 0, 0, 0);
        g_assert_cmpint(vswap_do(&t, out->data, out->len, in, PAGE + 2), ==,
                        VIRTIO_VSWAP_S_INVAL);
        expect_malformed += 4;
    }
    {   /* a header cut short */
        uint8_t shorthdr[3] = { 0 };

        g_assert_cmpint(vswap_do(&t, shorthdr, 3, in, 1), ==,
                        VIRTIO_VSWAP_S_UNSUPP);
        expect_malformed++;
    }
    {   /* descriptor sizes that lie about the payload */
        g_autoptr(GByteArray) out = g_byte_array_new();

        vswap_hdr(out, VIRTIO_VSWAP_T_WRITE, 1);
        vswap_slot(out, 5, 0, 0);
        g_byte_array_append(out, page, PAGE - 1);
        g_assert_cmpint(vswap_do(&t, out->data, out->len, in, 2), ==,
                        VIRTIO_VSWAP_S_INVAL);
        g_byte_array_append(out, page, 2);
        g_assert_cmpint(vswap_do(&t, out->data, out->len, in, 2), ==,
                        VIRTIO_VSWAP_S_INVAL);
        /* WRITE with too much writable space */
        g_byte_array_set_size(out, out->len - 1);
        g_assert_cmpint(vswap_do(&t, out->data, out->len, in, 3), ==,
                        VIRTIO_VSWAP_S_INVAL);
        expect_malformed += 3;
    }
    {   /* READ whose writable part is a page short, or the entries short */
        g_autoptr(GByteArray) out = g_byte_array_new();

        vswap_hdr(out, VIRTIO_VSWAP_T_READ, 2);
        vswap_slot(out, 5, 0, 0);
        vswap_slot(out, 6, 0, 0);
        g_assert_cmpint(vswap_do(&t, out->data, out->len, in, PAGE + 3), ==,
                        VIRTIO_VSWAP_S_INVAL);
        g_assert_cmpint(vswap_do(&t, out->data, out->len - 1, in,
                                 2 * PAGE + 3), ==, VIRTIO_VSWAP_S_INVAL);
        expect_malformed += 2;
    }
    {   /* bad entries: flags on READ, unknown flag, fill without flag */
        g_autoptr(GByteArray) out = g_byte_array_new();
        uint8_t *st = in + 2 * PAGE;

        vswap_hdr(out, VIRTIO_VSWAP_T_READ, 2);
        vswap_slot(out, 5, VIRTIO_VSWAP_SLOT_F_FILL, 0);
        vswap_slot(out, 6, 0, 0);
        g_assert_cmpint(vswap_do(&t, out->data, out->len, in, 2 * PAGE + 3),
                        ==, VIRTIO_VSWAP_S_INVAL);
        g_assert_cmpint(st[0], ==, VIRTIO_VSWAP_S_INVAL);
        g_assert_cmpint(st[1], ==, VIRTIO_VSWAP_S_UNMAPPED);

        g_byte_array_set_size(out, 0);
        vswap_hdr(out, VIRTIO_VSWAP_T_WRITE, 2);
        vswap_slot(out, 5, 1u << 7 | VIRTIO_VSWAP_SLOT_F_FILL, 0);
        vswap_slot(out, 6, 0, 0x1234);
        g_byte_array_append(out, page, PAGE);
        g_assert_cmpint(vswap_do(&t, out->data, out->len, in, 3), ==,
                        VIRTIO_VSWAP_S_INVAL);
        g_assert_cmpint(in[0], ==, VIRTIO_VSWAP_S_INVAL);
        g_assert_cmpint(in[1], ==, VIRTIO_VSWAP_S_INVAL);
    }
    {   /* a slot repeated within one batch */
        uint64_t slots[3] = { 8, 9, 8 };
        const uint8_t *pages[3] = { page, page, page };
        uint8_t st[3];

        g_assert_cmpint(vswap_write(&t, slots, pages, NULL, 3, st), ==,
                        VIRTIO_VSWAP_S_INVAL);
        g_assert_cmpint(st[0], ==, VIRTIO_VSWAP_S_INVAL);
        g_assert_cmpint(st[1], ==, VIRTIO_VSWAP_S_OK);
        g_assert_cmpint(st[2], ==, VIRTIO_VSWAP_S_INVAL);
    }
    assert_alive();
    g_assert_cmpint(vswap_query_int("malformed-requests", NULL), ==,
                    expect_malformed);
    /* The device still works. */
    vswap_write_one(&t, 42, 1);
    vswap_check_one(&t, 42, 1);
    vswap_stop(&t);
}

/* A request with nothing writable is a protocol violation: virtio_error. */
static void no_status_byte(void *obj, void *data, QGuestAllocator *t_alloc)
{
    QTestState *qts = global_qtest;
    g_autoptr(GByteArray) out = g_byte_array_new();
    uint64_t addr;
    uint32_t head;
    VswapT t;

    vswap_start(&t, obj, t_alloc);
    vswap_hdr(out, VIRTIO_VSWAP_T_DISCARD, 1);
    addr = guest_alloc(t_alloc, out->len);
    memwrite(addr, out->data, out->len);
    head = qvirtqueue_add(qts, t.vq, addr, out->len, false, false);
    qvirtqueue_kick(qts, t.dev, t.vq, head);
    /* The device marks itself broken (NEEDS_RESET); QEMU lives on. */
    for (int i = 0; i < 1000; i++) {
        if (t.dev->bus->get_status(t.dev) & VIRTIO_CONFIG_S_NEEDS_RESET) {
            break;
        }
        g_usleep(1000);
    }
    g_assert(t.dev->bus->get_status(t.dev) & VIRTIO_CONFIG_S_NEEDS_RESET);
    assert_alive();
    guest_free(t_alloc, addr);
    vswap_stop(&t);
}

/* qom-set of a test fault on the device (its PCI proxy's alias). */
static void vswap_set_fault(const char *prop, uint64_t value)
{
    qtest_qmp_assert_success(global_qtest,
        "{'execute': 'qom-set', 'arguments': {'path': '/machine/peripheral/"
        "vswap-x', 'property': %s, 'value': %" PRIu64 "}}", prop, value);
}

/*
 * The test faults that the guest driver's tests use: x-forget-slot loses a
 * written page, x-stall-after stops answering after N more requests (and
 * serves the queue again once disarmed and kicked), x-error-after fails the
 * device (NEEDS_RESET) at the Nth request; QEMU lives on.
 */
static void test_faults(void *obj, void *data, QGuestAllocator *t_alloc)
{
    QTestState *qts = global_qtest;
    g_autoptr(GByteArray) out = g_byte_array_new();
    struct virtio_vswap_range range = {
        .start = cpu_to_le64(6),
        .count = cpu_to_le64(1),
    };
    uint8_t page[PAGE], in[2];
    uint64_t slot = 5, addr;
    uint32_t head, desc, len;
    uint8_t st;
    VswapT t;

    vswap_start(&t, obj, t_alloc);
    vswap_write_one(&t, 5, 1);
    g_assert_cmpint(vswap_read(&t, &slot, 1, page, &st), ==, VIRTIO_VSWAP_S_OK);
    g_assert_cmpint(st, ==, VIRTIO_VSWAP_S_UNMAPPED);

    vswap_set_fault("x-stall-after", 1);
    vswap_write_one(&t, 6, 1);
    vswap_hdr(out, VIRTIO_VSWAP_T_DISCARD, 1);
    g_byte_array_append(out, (guint8 *)&range, sizeof(range));
    addr = guest_alloc(t_alloc, out->len + sizeof(in));
    memwrite(addr, out->data, out->len);
    t.vq->free_head = 0;
    t.vq->num_free = t.vq->size;
    head = qvirtqueue_add(qts, t.vq, addr, out->len, false, true);
    qvirtqueue_add(qts, t.vq, addr + out->len, sizeof(in), true, false);
    qvirtqueue_kick(qts, t.dev, t.vq, head);
    g_usleep(200 * 1000);
    g_assert_false(qvirtqueue_get_buf(qts, t.vq, &desc, &len));
    vswap_set_fault("x-stall-after", 0);
    qvirtqueue_kick(qts, t.dev, t.vq, head);
    qvirtio_wait_used_elem(qts, t.dev, t.vq, head, NULL,
                           VSWAP_TEST_TIMEOUT_US);
    memread(addr + out->len, in, sizeof(in));
    g_assert_cmpint(in[1], ==, VIRTIO_VSWAP_S_OK);
    guest_free(t_alloc, addr);

    vswap_set_fault("x-error-after", 2);
    g_assert_cmpint(vswap_read(&t, &slot, 1, page, &st), ==, VIRTIO_VSWAP_S_OK);
    g_assert_false(t.dev->bus->get_status(t.dev) &
                   VIRTIO_CONFIG_S_NEEDS_RESET);
    addr = guest_alloc(t_alloc, out->len + sizeof(in));
    memwrite(addr, out->data, out->len);
    t.vq->free_head = 0;
    t.vq->num_free = t.vq->size;
    head = qvirtqueue_add(qts, t.vq, addr, out->len, false, true);
    qvirtqueue_add(qts, t.vq, addr + out->len, sizeof(in), true, false);
    qvirtqueue_kick(qts, t.dev, t.vq, head);
    for (int i = 0; i < 1000; i++) {
        if (t.dev->bus->get_status(t.dev) & VIRTIO_CONFIG_S_NEEDS_RESET) {
            break;
        }
        g_usleep(1000);
    }
    g_assert(t.dev->bus->get_status(t.dev) & VIRTIO_CONFIG_S_NEEDS_RESET);
    assert_alive();
    guest_free(t_alloc, addr);
    vswap_stop(&t);
}

/* Counters in query-vswap match the requests sent (counted since creation). */
static int64_t vswap_stat(QDict *info, const char *type, const char *key)
{
    return qdict_get_int(qdict_get_qdict(info, type), key);
}

static void stats(void *obj, void *data, QGuestAllocator *t_alloc)
{
    uint64_t slots[4] = { 1, 2, 3, 4 };
    g_autofree uint8_t *buf = g_malloc(4 * PAGE);
    QDict *before = vswap_query(), *info;
    VswapT t;

    vswap_start(&t, obj, t_alloc);
    for (uint64_t s = 1; s <= 4; s++) {
        vswap_write_one(&t, s, 1);
    }
    g_assert_cmpint(vswap_read(&t, slots, 4, buf, NULL), ==,
                    VIRTIO_VSWAP_S_OK);
    g_assert_cmpint(vswap_discard(&t, 3, 10), ==, VIRTIO_VSWAP_S_OK);

    info = vswap_query();
    g_assert_cmpint(vswap_stat(info, "write", "requests") -
                    vswap_stat(before, "write", "requests"), ==, 4);
    g_assert_cmpint(vswap_stat(info, "read", "requests") -
                    vswap_stat(before, "read", "requests"), ==, 1);
    g_assert_cmpint(vswap_stat(info, "read", "entries") -
                    vswap_stat(before, "read", "entries"), ==, 4);
    g_assert_cmpint(vswap_stat(info, "discard", "entries") -
                    vswap_stat(before, "discard", "entries"), ==, 1);
    g_assert_cmpint(vswap_stat(info, "write", "errors") -
                    vswap_stat(before, "write", "errors"), ==, 0);
    g_assert_cmpint(vswap_stat(info, "write", "latency-p99-us"), >, 0);
    g_assert_cmpint(qdict_get_int(info, "pages-mem"), ==, 2);
    g_assert_cmpint(qdict_get_int(info, "capacity"), ==, VSWAP_TEST_CAPACITY);
    g_assert_cmpfloat(qdict_get_double(info, "compression-ratio"), >, 1.5);
    qobject_unref(info);
    qobject_unref(before);
    vswap_stop(&t);
}

/* With num-queues=2, the second queue serves requests on its own. */
static void multiqueue(void *obj, void *data, QGuestAllocator *t_alloc)
{
    QVirtioVswap *vswap = obj;
    VswapT t, t1;

    vswap_start(&t, vswap, t_alloc);
    g_assert_cmpint(qvirtio_config_readw(t.dev,
                        offsetof(struct virtio_vswap_config, num_queues)),
                    ==, 2);
    t1 = t;
    t1.vq = qvirtqueue_setup(t.dev, t_alloc, 1);
    vswap_write_one(&t1, 77, 1);
    vswap_check_one(&t, 77, 1);
    vswap_write_one(&t, 78, 2);
    vswap_check_one(&t1, 78, 2);
    qvirtqueue_cleanup(t.dev->bus, t1.vq, t_alloc);
    vswap_stop(&t);
}

/* Reset drops every slot. */
static void reset(void *obj, void *data, QGuestAllocator *t_alloc)
{
    QVirtioVswap *vswap = obj;
    uint8_t page[PAGE], st;
    uint64_t slot = 3;
    VswapT t;

    vswap_start(&t, vswap, t_alloc);
    vswap_write_one(&t, 3, 1);
    vswap_stop(&t);
    qvirtio_start_device(vswap->vdev);
    vswap_start(&t, vswap, t_alloc);
    g_assert_cmpint(vswap_read(&t, &slot, 1, page, &st), ==, VIRTIO_VSWAP_S_OK);
    g_assert_cmpint(st, ==, VIRTIO_VSWAP_S_UNMAPPED);
    g_assert_cmpint(vswap_query_int("pages-mem", NULL), ==, 0);
    vswap_stop(&t);
}

/* Write version @ver of slots [0, @n) in batches of 16 pages. */
static void vswap_write_range(VswapT *t, uint64_t n, unsigned ver)
{
    enum { B = 16 };
    g_autofree uint8_t *data_w = g_malloc(B * PAGE);
    const uint8_t *pages[B];
    uint64_t slots[B];

    for (uint64_t base = 0; base < n; base += B) {
        unsigned k = MIN(B, n - base);

        for (unsigned i = 0; i < k; i++) {
            slots[i] = base + i;
            vswap_page(data_w + i * PAGE, slots[i], ver);
            pages[i] = data_w + i * PAGE;
        }
        g_assert_cmpint(vswap_write(t, slots, pages, NULL, k, NULL), ==,
                        VIRTIO_VSWAP_S_OK);
    }
}

/*
 * With a memory budget of two segments, pages go to the store file; a
 * compaction pass then runs while the guest keeps writing and reading.
 */
static void compact_during_io(void *obj, void *data, QGuestAllocator *t_alloc)
{
    enum { N = 512 };
    QDict *ev;
    VswapT t;

    vswap_start(&t, obj, t_alloc);
    vswap_write_range(&t, N, 1);
    g_assert_cmpint(vswap_query_int("writeback-pages", NULL), >, 0);
    /* Free three quarters of every segment. */
    for (uint64_t s = 0; s < N; s += 4) {
        g_assert_cmpint(vswap_discard(&t, s + 1, 3), ==, VIRTIO_VSWAP_S_OK);
    }
    qtest_qmp_assert_success(global_qtest,
                             "{'execute': 'vswap-compact',"
                             " 'arguments': {'full': true}}");
    /* Guest I/O goes on while the pass runs. */
    for (uint64_t s = 1; s < N; s += 32) {
        vswap_write_one(&t, s, 2);
        vswap_check_one(&t, s - 1, 1);
    }
    ev = qtest_qmp_eventwait_ref(global_qtest, "VSWAP_COMPACT_COMPLETED");
    qobject_unref(ev);
    for (uint64_t s = 0; s < N; s += 4) {
        vswap_check_one(&t, s, 1);
    }
    for (uint64_t s = 1; s < N; s += 32) {
        vswap_check_one(&t, s, 2);
    }
    g_assert_cmpint(vswap_query_int("compactions", NULL), >=, 1);
    g_assert_cmpint(vswap_query_int("compacted-bytes", NULL), >, 0);
    g_assert_cmpint(vswap_query_int("checksum-errors", NULL), ==, 0);
    vswap_stop(&t);
}

/*
 * A guest that rewrites and frees its swap leaves dead records in memory
 * segments.  The memory-only store never reaches its budget, so only its
 * background compaction gives that memory back to the host: mem-bytes
 * must come back within 1 / 0.8 of mem-live-bytes (plus the open and the
 * spare segment), without anyone asking, and every page must read back.
 */
static void mem_compaction(void *obj, void *data, QGuestAllocator *t_alloc)
{
    enum { N = 4096, SEG = 1 << 20 };
    int64_t mem, live;
    VswapT t;
    int i;

    vswap_start(&t, obj, t_alloc);
    vswap_write_range(&t, N, 1);
    g_assert_cmpint(vswap_query_int("mem-compacted-bytes", NULL), ==, 0);
    /* Rewrite every other page and free one in four of the rest. */
    for (uint64_t s = 0; s < N; s += 2) {
        vswap_write_one(&t, s, 2);
    }
    for (uint64_t s = 1; s < N; s += 8) {
        g_assert_cmpint(vswap_discard(&t, s, 1), ==, VIRTIO_VSWAP_S_OK);
    }
    for (i = 0; i < 1000; i++) {
        mem = vswap_query_int("mem-bytes", NULL);
        live = vswap_query_int("mem-live-bytes", NULL);
        if (mem <= live * 100 / 80 + 2 * SEG) {
            break;
        }
        g_usleep(10 * 1000);
    }
    g_test_message("mem-bytes %" PRId64 " for mem-live-bytes %" PRId64,
                   mem, live);
    g_assert_cmpint(mem, <=, live * 100 / 80 + 2 * SEG);
    g_assert_cmpint(vswap_query_int("mem-compacted-bytes", NULL), >, 0);
    for (uint64_t s = 0; s < N; s++) {
        if (s % 8 == 1) {
            uint8_t page[PAGE];
            uint8_t st;

            g_assert_cmpint(vswap_read(&t, &s, 1, page, &st), ==,
                            VIRTIO_VSWAP_S_OK);
            g_assert_cmpint(st, ==, VIRTIO_VSWAP_S_UNMAPPED);
        } else {
            vswap_check_one(&t, s, s % 2 ? 1 : 2);
        }
    }
    vswap_stop(&t);
}

/*
 * qom-set of the store's memory budget while the guest runs: the pages
 * held in memory move to the disk tier at the next writeback pass, and
 * every page reads back.
 */
static void budget_change(void *obj, void *data, QGuestAllocator *t_alloc)
{
    enum { N = 256 };
    QDict *resp;
    VswapT t;
    int i;

    vswap_start(&t, obj, t_alloc);
    vswap_write_range(&t, N, 1);
    g_assert_cmpint(vswap_query_int("pages-disk", NULL), ==, 0);

    qtest_qmp_assert_success(global_qtest, "{'execute': 'qom-set',"
                             " 'arguments': {'path': '/objects/vs0',"
                             " 'property': 'mem-budget', 'value': 131072}}");
    resp = qtest_qmp(global_qtest, "{'execute': 'qom-get', 'arguments':"
                     " {'path': '/objects/vs0', 'property': 'mem-budget'}}");
    g_assert_cmpint(qdict_get_int(resp, "return"), ==, 131072);
    qobject_unref(resp);
    /* The next write runs a writeback pass under the new budget. */
    vswap_write_one(&t, N, 1);
    for (i = 0; i < 1000 && vswap_query_int("pages-disk", NULL) == 0; i++) {
        g_usleep(10 * 1000);
    }
    g_assert_cmpint(vswap_query_int("pages-disk", NULL), >, 0);
    g_assert_cmpint(vswap_query_int("mem-bytes", NULL), <=, 131072 + 65536);
    for (uint64_t s = 0; s <= N; s++) {
        vswap_check_one(&t, s, 1);
    }
    vswap_stop(&t);
}

/* The "stats" of @node's entry in query-blockstats. */
static QDict *vswap_blockstats(const char *node)
{
    QDict *resp = qtest_qmp(global_qtest, "{'execute': 'query-blockstats'}");
    QList *list = qdict_get_qlist(resp, "return");
    QDict *stats = NULL;
    QListEntry *e;

    g_assert(list);
    QLIST_FOREACH_ENTRY(list, e) {
        QDict *bs = qobject_to(QDict, qlist_entry_obj(e));

        if (qdict_haskey(bs, "node-name") &&
            !strcmp(qdict_get_str(bs, "node-name"), node)) {
            stats = qdict_get_qdict(bs, "stats");
            qobject_ref(stats);
            break;
        }
    }
    qobject_unref(resp);
    g_assert(stats);
    return stats;
}

static int64_t vswap_blockstat(const char *node, const char *key)
{
    QDict *stats = vswap_blockstats(node);
    int64_t v = qdict_get_int(stats, key);

    qobject_unref(stats);
    return v;
}

/*
 * A store on a -blockdev node: its segments go through the block layer,
 * query-vswap names the node, and query-blockstats counts the store's
 * writes, reads and hole punches like a disk's.
 */
static void blockdev_node(void *obj, void *data, QGuestAllocator *t_alloc)
{
    enum { N = 512 };
    QDict *info, *ev;
    VswapT t;

    vswap_start(&t, obj, t_alloc);
    vswap_write_range(&t, N, 1);
    g_assert_cmpint(vswap_query_int("writeback-pages", NULL), >, 0);
    /* The oldest pages are on disk: reading them reads the node. */
    for (uint64_t s = 0; s < N; s += 8) {
        vswap_check_one(&t, s, 1);
    }
    info = vswap_query();
    g_assert_cmpstr(qdict_get_try_str(info, "node"), ==, "swap0");
    qobject_unref(info);
    g_assert_cmpint(vswap_blockstat("swap0", "wr_bytes"), >=,
                    vswap_query_int("writeback-bytes", NULL));
    g_assert_cmpint(vswap_blockstat("swap0", "rd_operations"), >, 0);

    /* Compaction gives the space of emptied segments back: discards. */
    vswap_discard(&t, 0, N / 2);
    qtest_qmp_assert_success(global_qtest, "{'execute': 'vswap-compact',"
                             " 'arguments': {'full': true}}");
    ev = qtest_qmp_eventwait_ref(global_qtest, "VSWAP_COMPACT_COMPLETED");
    qobject_unref(ev);
    for (uint64_t s = N / 2; s < N; s += 8) {
        vswap_check_one(&t, s, 1);
    }
    g_assert_cmpint(vswap_blockstat("swap0", "unmap_operations"), >, 0);
    g_assert_cmpint(vswap_query_int("checksum-errors", NULL), ==, 0);
    vswap_stop(&t);
}

/* The store file of vs0. */
static char *vswap_store_path(void)
{
    QDict *resp = qtest_qmp(global_qtest, "{'execute': 'qom-get', 'arguments':"
                            " {'path': '/objects/vs0', 'property': 'path'}}");
    char *path = g_strdup(qdict_get_str(resp, "return"));

    qobject_unref(resp);
    return path;
}

static char *vswap_file_checksum(const char *path)
{
    g_autofree char *contents = NULL;
    gsize len;

    g_assert(g_file_get_contents(path, &contents, &len, NULL));
    g_assert_cmpuint(len, >, 65536);
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (guchar *)contents,
                                       len);
}

/* Start a second QEMU with @args; it must fail with the lock error. */
static void vswap_second_qemu_fails(const char *args)
{
    g_autofree char *cmd = g_strdup_printf("%s -machine none -nodefaults"
                                           " -display none %s",
                                           g_getenv("QTEST_QEMU_BINARY"),
                                           args);
    g_auto(GStrv) argv = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    int status;

    g_assert(g_shell_parse_argv(cmd, NULL, &argv, NULL));
    g_assert(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                          &out, &err, &status, NULL));
    g_test_message("%s", err);
    g_assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_assert_nonnull(strstr(err, "Failed to get \"write\" lock"));
}

/*
 * What a store takes from its node when its configuration leaves it
 * open: on network storage (here null-co, standing for rbd or nbd: not a
 * local file) 2 MiB segments and 16 writes in flight, on a local file
 * 1 MiB and the store's 8.
 */
static void node_defaults(void *obj, void *data, QGuestAllocator *t_alloc)
{
    QDict *resp = qtest_qmp(global_qtest, "{'execute': 'query-vswap'}");
    QList *list = qdict_get_qlist(resp, "return");
    unsigned seen = 0;
    QListEntry *e;

    QLIST_FOREACH_ENTRY(list, e) {
        QDict *info = qobject_to(QDict, qlist_entry_obj(e));
        const char *node = qdict_get_try_str(info, "node");
        bool net = !g_strcmp0(node, "net0");

        g_assert_true(net || !g_strcmp0(node, "loc0"));
        g_assert_cmpint(qdict_get_int(info, "segment-size"), ==,
                        net ? 2 << 20 : 1 << 20);
        g_assert_cmpint(qdict_get_int(info, "writeback-depth"), ==,
                        net ? 16 : 8);
        seen |= net ? 1 : 2;
    }
    g_assert_cmpuint(seen, ==, 3);
    qobject_unref(resp);
}

/*
 * Image locking: a second QEMU given the live store file, through path=
 * or through a node of its own, is refused instead of reinitialising
 * the file, which stays as it was.
 */
static void store_locked(void *obj, void *data, QGuestAllocator *t_alloc)
{
    enum { N = 256 };
    g_autofree char *path = vswap_store_path();
    g_autofree char *before = NULL;
    g_autofree char *after = NULL;
    g_autofree char *by_path = NULL;
    g_autofree char *by_node = NULL;
    VswapT t;

    vswap_start(&t, obj, t_alloc);
    vswap_write_range(&t, N, 1);
    g_assert_cmpint(vswap_query_int("writeback-pages", NULL), >, 0);
    before = vswap_file_checksum(path);

    by_path = g_strdup_printf("-object vswap-store,id=vs1,size=16777216,"
                              "path=%s", path);
    vswap_second_qemu_fails(by_path);
    by_node = g_strdup_printf("-blockdev driver=file,filename=%s,"
                              "node-name=other0 -object vswap-store,id=vs1,"
                              "size=16777216,file=other0", path);
    vswap_second_qemu_fails(by_node);

    after = vswap_file_checksum(path);
    g_assert_cmpstr(before, ==, after);
    for (uint64_t s = 0; s < N; s += 8) {
        vswap_check_one(&t, s, 1);
    }
    vswap_stop(&t);
}

/* Cap of the throttle group in the throttling test, bytes per second. */
#define VSWAP_TEST_BPS (2 * 1024 * 1024)

/*
 * A throttle filter node between the store and its file caps the
 * store's bandwidth: while the guest pushes pages through a small memory
 * budget, writeback never moves more than the cap allows (plus one
 * bucket of burst, a tenth of a second, and a segment in flight).
 */
static void throttled(void *obj, void *data, QGuestAllocator *t_alloc)
{
    enum { N = 512 };
    int64_t wr0, wr1, t0, t1;
    double secs, allowed;
    VswapT t;

    vswap_start(&t, obj, t_alloc);
    wr0 = vswap_blockstat("thr0", "wr_bytes");
    t0 = g_get_monotonic_time();
    vswap_write_range(&t, N, 1);
    t1 = g_get_monotonic_time();
    wr1 = vswap_blockstat("thr0", "wr_bytes");

    secs = (t1 - t0) / 1e6;
    allowed = VSWAP_TEST_BPS * secs + VSWAP_TEST_BPS / 10 + 2 * 65536;
    g_test_message("%" PRId64 " bytes written back in %.3f s",
                   wr1 - wr0, secs);
    g_assert_cmpint(wr1 - wr0, >=, 512 * 1024);
    g_assert_cmpfloat(wr1 - wr0, <=, allowed);
    for (uint64_t s = 0; s < N; s += 16) {
        vswap_check_one(&t, s, 1);
    }
    vswap_stop(&t);
}


/* Error text of a QMP reply, which must be an error. */
static char *vswap_error_desc(QDict *resp)
{
    QDict *err = qdict_get_qdict(resp, "error");
    char *desc;

    g_assert(err);
    desc = g_strdup(qdict_get_str(err, "desc"));
    qobject_unref(resp);
    return desc;
}

/* How often @needle occurs in @s. */
static unsigned vswap_count(const char *s, const char *needle)
{
    unsigned n = 0;

    for (s = strstr(s, needle); s; s = strstr(s + 1, needle)) {
        n++;
    }
    return n;
}

/*
 * A store that cannot open says why with its errno, which the library
 * returns as the GError code: once, also when its message has it.
 */
static void store_open_errors(void *obj, void *data, QGuestAllocator *t_alloc)
{
    g_autofree char *missing = g_strdup_printf("%s/qtest-vswap-nodir-%d/store",
                                               g_get_tmp_dir(), (int)getpid());
    g_autofree char *einval = NULL;
    g_autofree char *enoent = NULL;
    g_autofree char *nonode = NULL;
    g_autofree char *both = NULL;
    static const struct {
        unsigned group;
        int level;
        const char *why;
    } bad_groups[] = {
        { 0, 0, "disk groups hold 1 to 4 pages" },
        { 5, 0, "disk groups hold 1 to 4 pages" },
        { 4, 99, "zstd level out of range" },
    };

    einval = vswap_error_desc(qtest_qmp(global_qtest,
        "{'execute': 'object-add', 'arguments': {'qom-type': 'vswap-store',"
        " 'id': 'vs-bad', 'size': 16777216, 'compact-threshold': 100}}"));
    g_test_message("%s", einval);
    g_assert_nonnull(strstr(einval, "compaction threshold"));
    g_assert_cmpuint(vswap_count(einval, strerror(EINVAL)), ==, 1);

    for (unsigned i = 0; i < G_N_ELEMENTS(bad_groups); i++) {
        g_autofree char *desc = vswap_error_desc(qtest_qmp(global_qtest,
            "{'execute': 'object-add', 'arguments': {'qom-type':"
            " 'vswap-store', 'id': 'vs-bad', 'size': 16777216,"
            " 'disk-group': %u, 'disk-level': %d}}", bad_groups[i].group,
            bad_groups[i].level));

        g_assert_nonnull(strstr(desc, bad_groups[i].why));
    }

    enoent = vswap_error_desc(qtest_qmp(global_qtest,
        "{'execute': 'object-add', 'arguments': {'qom-type': 'vswap-store',"
        " 'id': 'vs-bad', 'size': 16777216, 'path': %s}}", missing));
    g_test_message("%s", enoent);
    g_assert_nonnull(strstr(enoent, missing));
    g_assert_cmpuint(vswap_count(enoent, strerror(ENOENT)), ==, 1);

    nonode = vswap_error_desc(qtest_qmp(global_qtest,
        "{'execute': 'object-add', 'arguments': {'qom-type': 'vswap-store',"
        " 'id': 'vs-bad', 'size': 16777216, 'file': 'no-such-node'}}"));
    g_test_message("%s", nonode);
    g_assert_nonnull(strstr(nonode, "'no-such-node'"));

    both = vswap_error_desc(qtest_qmp(global_qtest,
        "{'execute': 'object-add', 'arguments': {'qom-type': 'vswap-store',"
        " 'id': 'vs-bad', 'size': 16777216, 'file': 'n0', 'path': %s}}",
        missing));
    g_assert_nonnull(strstr(both, "cannot both be given"));
}

static int64_t vswap_store_get(const char *prop)
{
    QDict *resp = qtest_qmp(global_qtest, "{'execute': 'qom-get', 'arguments':"
                            " {'path': '/objects/vs-props', 'property': %s}}",
                            prop);
    int64_t value = qdict_get_int(resp, "return");

    qobject_unref(resp);
    return value;
}

/* qom-set of @prop to @value (a JSON value) on the open store fails. */
static void vswap_store_set_fails(const char *prop, QObject *value)
{
    g_autofree char *want = g_strdup_printf("'%s' cannot be changed once the"
                                            " store is open", prop);
    g_autofree char *desc = NULL;
    QDict *args = qdict_new();

    qdict_put_str(args, "path", "/objects/vs-props");
    qdict_put_str(args, "property", prop);
    qdict_put_obj(args, "value", value);
    desc = vswap_error_desc(qtest_qmp(global_qtest, "{'execute': 'qom-set',"
                                      " 'arguments': %p}", args));
    g_assert_nonnull(strstr(desc, want));
}

/*
 * Every vswap-store property reads back what it was set to, each value
 * different, so that no two share a field; at run time only mem-budget
 * and mem-limit change, the others are refused.
 */
static void store_properties(void *obj, void *data, QGuestAllocator *t_alloc)
{
    static const struct {
        const char *name;
        int64_t value;
    } props[] = {
        { "size", 16 << 20 }, { "mem-budget", 4 << 20 },
        { "mem-limit", 6 << 20 }, { "disk-limit", 64 << 20 },
        { "segment-size", 1 << 20 }, { "compact-threshold", 30 },
        { "workers", 2 }, { "level", 3 }, { "disk-group", 1 },
        { "disk-level", 7 },
    };

    qtest_qmp_assert_success(global_qtest, "{'execute': 'object-add',"
        " 'arguments': {'qom-type': 'vswap-store', 'id': 'vs-props',"
        " 'size': 16777216, 'mem-budget': 4194304, 'mem-limit': 6291456,"
        " 'disk-limit': 67108864, 'segment-size': 1048576,"
        " 'compact-threshold': 30, 'workers': 2, 'level': 3,"
        " 'disk-group': 1, 'disk-level': 7,"
        " 'direct-io': false, 'shared': false}}");
    for (unsigned i = 0; i < G_N_ELEMENTS(props); i++) {
        g_assert_cmpint(vswap_store_get(props[i].name), ==, props[i].value);
    }

    qtest_qmp_assert_success(global_qtest, "{'execute': 'qom-set',"
        " 'arguments': {'path': '/objects/vs-props',"
        " 'property': 'mem-budget', 'value': 8388608}}");
    qtest_qmp_assert_success(global_qtest, "{'execute': 'qom-set',"
        " 'arguments': {'path': '/objects/vs-props',"
        " 'property': 'mem-limit', 'value': 12582912}}");
    g_assert_cmpint(vswap_store_get("mem-budget"), ==, 8 << 20);
    g_assert_cmpint(vswap_store_get("mem-limit"), ==, 12 << 20);

    for (unsigned i = 0; i < G_N_ELEMENTS(props); i++) {
        if (strcmp(props[i].name, "mem-budget") &&
            strcmp(props[i].name, "mem-limit")) {
            vswap_store_set_fails(props[i].name,
                                  QOBJECT(qnum_from_int(props[i].value)));
            g_assert_cmpint(vswap_store_get(props[i].name), ==,
                            props[i].value);
        }
    }
    vswap_store_set_fails("path", QOBJECT(qstring_from_str("/tmp/x")));
    vswap_store_set_fails("direct-io", QOBJECT(qbool_from_bool(true)));
    vswap_store_set_fails("shared", QOBJECT(qbool_from_bool(true)));
    qtest_qmp_assert_success(global_qtest, "{'execute': 'object-del',"
                             " 'arguments': {'id': 'vs-props'}}");
}

/*
 * Hot-plug a second device with its own store, swap a page through it,
 * unplug it: unrealize drops its pages and lets go of the store, which can
 * then be deleted, and query-vswap forgets the device.  Under an ASan
 * build, leaks at QEMU's exit fail the test (scripts/check.sh qtest-asan).
 */
static void hotplug(void *obj, void *data, QGuestAllocator *t_alloc)
{
    QVirtioPCIDevice *dev1 = obj;
    QTestState *qts = dev1->pdev->bus->qts;
    QVirtioVswap vswap;
    QVirtioPCIDevice *dev;
    QDict *resp;
    VswapT t;

    if (dev1->pdev->bus->not_hotpluggable) {
        g_test_skip("pci bus does not support hotplug");
        return;
    }
    qtest_qmp_assert_success(qts, "{'execute': 'object-add', 'arguments':"
                             " {'qom-type': 'vswap-store', 'id': 'vs-hp',"
                             " 'size': 16777216}}");
    qtest_qmp_device_add(qts, "virtio-vswap-pci", "vswap-hp",
                         "{'addr': %s, 'store': 'vs-hp'}",
                         stringify(PCI_SLOT_HP) ".0");
    /* One store, one device. */
    resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments':"
                     " {'driver': 'virtio-vswap-pci', 'id': 'vswap-hp2',"
                     " 'store': 'vs-hp'}}");
    g_assert(qdict_haskey(resp, "error"));
    qobject_unref(resp);

    dev = virtio_pci_new(dev1->pdev->bus, &(QPCIAddress) {
                             .devfn = QPCI_DEVFN(PCI_SLOT_HP, 0) });
    g_assert_nonnull(dev);
    g_assert_cmpint(dev->vdev.device_type, ==, VIRTIO_ID_VSWAP);
    qvirtio_pci_device_enable(dev);
    qvirtio_start_device(&dev->vdev);
    vswap.vdev = &dev->vdev;
    vswap_start(&t, &vswap, t_alloc);
    vswap_write_one(&t, 5, 1);
    vswap_check_one(&t, 5, 1);
    vswap_stop(&t);
    qvirtio_pci_device_disable(dev);
    qos_object_destroy((QOSGraphObject *)dev);

    /* The store is in use: it cannot go before the device. */
    resp = qtest_qmp(qts, "{'execute': 'object-del', 'arguments':"
                     " {'id': 'vs-hp'}}");
    g_assert(qdict_haskey(resp, "error"));
    qobject_unref(resp);
    qpci_unplug_acpi_device_test(qts, "vswap-hp", PCI_SLOT_HP);
    qtest_qmp_assert_success(qts, "{'execute': 'object-del', 'arguments':"
                             " {'id': 'vs-hp'}}");
    resp = qtest_qmp(qts, "{'execute': 'query-vswap'}");
    g_assert_cmpint(qlist_size(qdict_get_qlist(resp, "return")), ==, 1);
    qobject_unref(resp);
}

/* Peak (VmHWM) or current (VmRSS) resident memory of QEMU, in bytes. */
static uint64_t qemu_mem(const char *field)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status",
                                            (int)qtest_pid(global_qtest));
    g_autofree char *text = NULL;
    const char *p;

    g_assert(g_file_get_contents(path, &text, NULL, NULL));
    p = strstr(text, field);
    g_assert(p);
    return g_ascii_strtoull(p + strlen(field) + 1, NULL, 10) * 1024;
}

/*
 * Fill the whole ring with 1 MiB WRITEs of incompressible pages and
 * notify once.  All share one payload and one status buffer: the guest
 * only wants to overload the device.  Returns the number of requests.
 */
static unsigned vswap_flood(VswapT *t, uint64_t *payload_addr,
                            uint64_t *other_addr)
{
    QTestState *qts = global_qtest;
    enum { B = 256 };
    size_t hdr_len = sizeof(struct virtio_vswap_req_hdr) +
                     B * sizeof(struct virtio_vswap_slot);
    unsigned n = t->vq->size / 3;
    g_autofree uint8_t *payload = g_malloc(B * PAGE);
    GRand *rand = g_rand_new_with_seed(42);
    uint16_t idx;

    for (unsigned i = 0; i < B * PAGE; i += 4) {
        uint32_t v = g_rand_int(rand);

        memcpy(payload + i, &v, 4);
    }
    g_rand_free(rand);
    *payload_addr = guest_alloc(t->alloc, B * PAGE);
    memwrite(*payload_addr, payload, B * PAGE);
    *other_addr = guest_alloc(t->alloc, n * hdr_len + B + 1);

    t->vq->free_head = 0;
    t->vq->num_free = t->vq->size;
    idx = qtest_readw(qts, t->vq->avail + 2);
    for (unsigned r = 0; r < n; r++) {
        g_autoptr(GByteArray) out = g_byte_array_new();
        uint64_t hdr_addr = *other_addr + r * hdr_len;
        uint32_t head;

        vswap_hdr(out, VIRTIO_VSWAP_T_WRITE, B);
        for (unsigned i = 0; i < B; i++) {
            vswap_slot(out, r * B + i, 0, 0);
        }
        memwrite(hdr_addr, out->data, out->len);
        head = qvirtqueue_add(qts, t->vq, hdr_addr, hdr_len, false, true);
        qvirtqueue_add(qts, t->vq, *payload_addr, B * PAGE, false, true);
        qvirtqueue_add(qts, t->vq, *other_addr + n * hdr_len, B + 1, true,
                       false);
        qtest_writew(qts,
                       t->vq->avail + 4 + 2 * ((idx + r) % t->vq->size), head);
    }
    qtest_writew(qts, t->vq->avail + 2, idx + n);
    t->dev->bus->virtqueue_kick(t->dev, t->vq);
    return n;
}

/* Wait until the used ring has advanced by @n entries from @start. */
static void vswap_wait_used(VswapT *t, uint16_t start, unsigned n)
{
    gint64 deadline = g_get_monotonic_time() + VSWAP_TEST_TIMEOUT_US;

    while ((uint16_t)(qtest_readw(global_qtest, t->vq->used + 2) -
                      start) < n) {
        g_assert(g_get_monotonic_time() < deadline);
        g_usleep(1000);
    }
}

/*
 * A guest floods the queue: host memory stays within the bounce-buffer
 * cap plus the store's budget, excess pages are refused with NOSPC, and
 * the device then works normally.
 */
static void flood(void *obj, void *data, QGuestAllocator *t_alloc)
{
    uint64_t rss0, peak, payload_addr, other_addr;
    uint16_t used0;
    unsigned n;
    VswapT t;

    vswap_start(&t, obj, t_alloc);
    rss0 = qemu_mem("VmRSS:");
    used0 = qtest_readw(global_qtest, t.vq->used + 2);
    n = vswap_flood(&t, &payload_addr, &other_addr);
    vswap_wait_used(&t, used0, n);
    /* libqos reads completions one by one; these were consumed in bulk. */
    t.vq->last_used_idx += n;
    peak = qemu_mem("VmHWM:");
    g_test_message("flood of %u x 1 MiB requests: QEMU resident %" PRIu64
                   " MiB before, peak %" PRIu64 " MiB; limit: 32 MiB bounce"
                   " buffers + 16 MiB store budget", n, rss0 >> 20, peak >> 20);
#ifndef QEMU_SANITIZE_ADDRESS
    /* Bounce cap + store budget + allocator and thread slack. */
    g_assert_cmpuint(peak, <, rss0 + (32 + 16 + 24) * 1024 * 1024);
#else
    /*
     * ASan keeps freed memory in quarantine (256 MiB), so resident memory
     * says little about the device: the plain build checks the limit.
     */
#endif
    g_assert_cmpint(vswap_query_int("enospc", NULL), >, 0);
    g_assert_cmpint(vswap_query_int("mem-bytes", NULL), <=, 16 * 1024 * 1024);
    guest_free(t_alloc, payload_addr);
    guest_free(t_alloc, other_addr);
    /* Free the store and check the device still works. */
    g_assert_cmpint(vswap_discard(&t, 0, VSWAP_TEST_CAPACITY), ==,
                    VIRTIO_VSWAP_S_OK);
    vswap_write_one(&t, 3, 1);
    vswap_check_one(&t, 3, 1);
    vswap_stop(&t);
}

/*
 * A reset while a flood is in flight: every request the device took has
 * completed into the used ring when the reset returns, and none after it
 * (those it had not taken go with the ring), and every page is dropped.
 */
static void reset_during_flood(void *obj, void *data, QGuestAllocator *t_alloc)
{
    QVirtioVswap *vswap = obj;
    uint64_t payload_addr, other_addr;
    int64_t done0, done;
    uint16_t used0, used;
    unsigned n;
    VswapT t;

    vswap_start(&t, vswap, t_alloc);
    used0 = qtest_readw(global_qtest, t.vq->used + 2);
    done0 = vswap_query_int("write", "requests");
    n = vswap_flood(&t, &payload_addr, &other_addr);
    /* Reset once the device is busy with the flood. */
    vswap_wait_used(&t, used0, 1);
    qvirtio_reset(vswap->vdev);
    assert_alive();
    used = qtest_readw(global_qtest, t.vq->used + 2) - used0;
    done = vswap_query_int("write", "requests") - done0;
    g_test_message("%u of %u requests completed before the reset returned",
                   used, n);
    g_assert_cmpint(used, >=, 1);
    g_assert_cmpint(used, <=, n);
    g_assert_cmpint(used, ==, done);
    g_usleep(100 * 1000);
    g_assert_cmpint(vswap_query_int("write", "requests") - done0, ==, done);
    g_assert_cmpint((uint16_t)(qtest_readw(global_qtest, t.vq->used + 2) -
                               used0), ==, used);
    vswap_stop(&t);
    g_assert_cmpint(vswap_query_int("pages-mem", NULL), ==, 0);
    g_assert_cmpint(vswap_query_int("pages-fill", NULL), ==, 0);
    guest_free(t_alloc, payload_addr);
    guest_free(t_alloc, other_addr);
    /* A driver that starts over finds a working, empty device. */
    qvirtio_start_device(vswap->vdev);
    vswap_start(&t, vswap, t_alloc);
    vswap_write_one(&t, 9, 1);
    vswap_check_one(&t, 9, 1);
    vswap_stop(&t);
}

/*
 * Hostile floods of one request type each, through a queue of 1024
 * descriptors with 1024 entries per request (queue-size, max-batch).
 * FILL-only and zero-only WRITEs and DISCARDs carry no page, so the
 * device's cap on bounce memory never held them back: only the ring did,
 * and each request keeps its entries, statuses and store ops until it
 * completes, about 45 bytes per entry.
 */
typedef enum VswapFloodKind {
    VSWAP_FLOOD_FILL,           /* WRITE, every entry a fill page */
    VSWAP_FLOOD_ZERO,           /* WRITE, every entry a zero page */
    VSWAP_FLOOD_DISCARD,        /* DISCARD of 1024 ranges */
    VSWAP_FLOOD_READ,           /* READ of 1024 slots */
    VSWAP_FLOOD_MIXED,          /* FILL-only WRITEs and DISCARDs in turn */
} VswapFloodKind;

#define VSWAP_FLOOD_QUEUE 1024
#define VSWAP_FLOOD_BATCH 1024
#define VSWAP_FLOOD_ROUNDS 3
/* Slots below this hold pages the test checks after the flood. */
#define VSWAP_FLOOD_KEEP 128
#define VSWAP_FLOOD_FIRST 4096
#define VSWAP_FLOOD_SLOTS (1024 * 1024 * 1024 / PAGE)
/*
 * query-vswap must answer within this while the flood runs: a main loop
 * that a flood blocks for good fails it.  Not tighter: with the device in
 * the main loop, the READ flood kept one query waiting 3.0 s at load
 * average 7 here (2 vCPUs, TCG guests beside it), the other floods 0.01
 * to 0.07 s; the figures are printed either way.
 */
#define VSWAP_FLOOD_QMP_US (15 * 1000 * 1000)

/* The fill value of round @round (0 for zero pages). */
static uint32_t vswap_flood_fill(VswapFloodKind kind, unsigned round)
{
    return kind == VSWAP_FLOOD_ZERO ? 0 : 0x5a5a0000u + round;
}

/* The request body (header and entries) of request @r of a round. */
static void vswap_flood_body(GByteArray *out, VswapFloodKind kind,
                             unsigned round, unsigned r)
{
    bool discard = kind == VSWAP_FLOOD_DISCARD ||
                   (kind == VSWAP_FLOOD_MIXED && r % 2);
    uint64_t base = VSWAP_FLOOD_FIRST +
                    (uint64_t)(r % 8) * VSWAP_FLOOD_BATCH;

    if (discard) {
        vswap_hdr(out, VIRTIO_VSWAP_T_DISCARD, VSWAP_FLOOD_BATCH);
        for (unsigned i = 0; i < VSWAP_FLOOD_BATCH; i++) {
            /* Long ranges: each walks whatever the map holds there. */
            struct virtio_vswap_range rg = {
                .start = cpu_to_le64(VSWAP_FLOOD_FIRST + i),
                .count = cpu_to_le64(VSWAP_FLOOD_SLOTS - VSWAP_FLOOD_FIRST -
                                     VSWAP_FLOOD_BATCH),
            };

            g_byte_array_append(out, (guint8 *)&rg, sizeof(rg));
        }
        return;
    }
    vswap_hdr(out, kind == VSWAP_FLOOD_READ ? VIRTIO_VSWAP_T_READ :
                   VIRTIO_VSWAP_T_WRITE, VSWAP_FLOOD_BATCH);
    for (unsigned i = 0; i < VSWAP_FLOOD_BATCH; i++) {
        bool fill = kind != VSWAP_FLOOD_READ;

        vswap_slot(out, base + i, fill ? VIRTIO_VSWAP_SLOT_F_FILL : 0,
                   fill ? vswap_flood_fill(kind, round) : 0);
    }
}

/* Bytes the device writes back for a request of @kind (statuses, pages). */
static size_t vswap_flood_in_len(VswapFloodKind kind)
{
    return VSWAP_FLOOD_BATCH + 1 +
           (kind == VSWAP_FLOOD_READ ? (size_t)VSWAP_FLOOD_BATCH * PAGE : 0);
}

/* Reset QEMU's peak resident memory (VmHWM) to what it holds now. */
static void qemu_reset_peak(void)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/clear_refs",
                                            (int)qtest_pid(global_qtest));
    int fd = open(path, O_WRONLY);

    g_assert(fd >= 0);
    g_assert_cmpint(write(fd, "5", 1), ==, 1);
    close(fd);
}

/* Time one query-vswap, in microseconds. */
static int64_t vswap_query_us(void)
{
    int64_t t0 = g_get_monotonic_time();
    QDict *info = vswap_query();

    qobject_unref(info);
    return g_get_monotonic_time() - t0;
}

/*
 * One round: fill the ring with requests (two descriptors each, sharing
 * eight request bodies and one buffer for what the device writes), kick
 * once, and ask query-vswap again and again until all have completed.
 * Returns the slowest answer, in microseconds.
 */
static int64_t vswap_flood_round(VswapT *t, VswapFloodKind kind,
                                 unsigned round)
{
    QTestState *qts = global_qtest;
    size_t body_len = sizeof(struct virtio_vswap_req_hdr) +
                      VSWAP_FLOOD_BATCH * sizeof(struct virtio_vswap_slot);
    size_t in_len = vswap_flood_in_len(kind);
    unsigned n = t->vq->size / 2;
    uint64_t bodies = guest_alloc(t->alloc, 8 * body_len);
    uint64_t in = guest_alloc(t->alloc, in_len);
    int64_t worst = 0;
    uint16_t idx, used0;
    gint64 deadline;

    for (unsigned b = 0; b < 8; b++) {
        g_autoptr(GByteArray) out = g_byte_array_new();

        /* Bodies b and b + 8k are alike: the MIXED kind alternates. */
        vswap_flood_body(out, kind, round, b);
        g_assert_cmpuint(out->len, ==, body_len);
        memwrite(bodies + b * body_len, out->data, out->len);
    }
    t->vq->free_head = 0;
    t->vq->num_free = t->vq->size;
    idx = qtest_readw(qts, t->vq->avail + 2);
    used0 = qtest_readw(qts, t->vq->used + 2);
    for (unsigned r = 0; r < n; r++) {
        uint32_t head = qvirtqueue_add(qts, t->vq,
                                       bodies + (r % 8) * body_len,
                                       body_len, false, true);

        qvirtqueue_add(qts, t->vq, in, in_len, true, false);
        qtest_writew(qts, t->vq->avail + 4 + 2 * ((idx + r) % t->vq->size),
                     head);
    }
    qtest_writew(qts, t->vq->avail + 2, idx + n);
    t->dev->bus->virtqueue_kick(t->dev, t->vq);
    deadline = g_get_monotonic_time() + VSWAP_TEST_TIMEOUT_US;
    do {
        worst = MAX(worst, vswap_query_us());
        g_assert(g_get_monotonic_time() < deadline);
    } while ((uint16_t)(qtest_readw(qts, t->vq->used + 2) - used0) < n);
    t->vq->last_used_idx += n;
    guest_free(t->alloc, bodies);
    guest_free(t->alloc, in);
    return worst;
}

/* Slots [0, VSWAP_FLOOD_KEEP): compressed pages, then fill pages. */
static void vswap_flood_keep_write(VswapT *t)
{
    for (uint64_t slot = 0; slot < VSWAP_FLOOD_KEEP; slot++) {
        if (slot % 2) {
            const uint8_t *pages[1] = { NULL };
            uint32_t fill = 0xc0de0000u + slot;

            g_assert_cmpint(vswap_write(t, &slot, pages, &fill, 1, NULL), ==,
                            VIRTIO_VSWAP_S_OK);
        } else {
            vswap_write_one(t, slot, 7);
        }
    }
}

static void vswap_flood_keep_check(VswapT *t)
{
    uint8_t page[PAGE], st;

    for (uint64_t slot = 0; slot < VSWAP_FLOOD_KEEP; slot++) {
        if (!(slot % 2)) {
            vswap_check_one(t, slot, 7);
            continue;
        }
        g_assert_cmpint(vswap_read(t, &slot, 1, page, &st), ==,
                        VIRTIO_VSWAP_S_OK);
        for (unsigned i = 0; i < PAGE; i += 4) {
            g_assert_cmpuint((uint32_t)ldl_le_p(page + i), ==,
                             0xc0de0000u + slot);
        }
    }
}

/*
 * Flood the device with requests of one kind (@data), VSWAP_FLOOD_ROUNDS
 * full rings, and check that
 *   (a) QEMU's peak resident memory grows by less than the device's caps
 *       allow: 32 MiB of bounce pages (READ only) and 4 MiB of entries,
 *       plus 8 MiB of slack;
 *   (b) query-vswap answers within VSWAP_FLOOD_QMP_US throughout;
 *   (c) the pages written before the flood read back intact, and so do
 *       the fill pages the flood itself wrote last.
 * Before the device counted entries, a ring of FILL-only WRITEs held
 * about 24 MiB.
 */
static void hostile_flood(void *obj, void *data, QGuestAllocator *t_alloc)
{
    VswapFloodKind kind = GPOINTER_TO_UINT(data);
    uint64_t bound = ((kind == VSWAP_FLOOD_READ ? 32 : 0) + 4 + 8) << 20;
    uint64_t rss0, peak;
    int64_t worst = 0;
    uint8_t page[PAGE], st;
    VswapT t;

    vswap_start(&t, obj, t_alloc);
    g_assert_cmpint(t.vq->size, ==, VSWAP_FLOOD_QUEUE);
    vswap_flood_keep_write(&t);
    rss0 = qemu_mem("VmRSS:");
    qemu_reset_peak();
    for (unsigned round = 0; round < VSWAP_FLOOD_ROUNDS; round++) {
        worst = MAX(worst, vswap_flood_round(&t, kind, round));
    }
    peak = qemu_mem("VmHWM:");
    g_test_message("flood kind %u: %u rings of %u requests of %u entries:"
                   " QEMU resident %" PRIu64 " KiB before, peak +%" PRId64
                   " KiB (bound %" PRIu64 " KiB); slowest query-vswap %"
                   PRId64 " us", kind, VSWAP_FLOOD_ROUNDS, t.vq->size / 2,
                   VSWAP_FLOOD_BATCH, rss0 >> 10,
                   ((int64_t)peak - (int64_t)rss0) / 1024, bound >> 10, worst);
#ifndef QEMU_SANITIZE_ADDRESS
    g_assert_cmpuint(peak, <, rss0 + bound);
#endif
    g_assert_cmpint(worst, <, VSWAP_FLOOD_QMP_US);
    g_assert_cmpint(vswap_query_int("malformed-requests", NULL), ==, 0);
    g_assert_cmpint(vswap_query_int("write", "errors"), ==, 0);

    vswap_flood_keep_check(&t);
    if (kind != VSWAP_FLOOD_READ) {
        /*
         * The last request of a round used body 7: a WRITE of slots
         * 7 * 1024 past the first, or (DISCARD, MIXED) a discard of
         * everything from the first slot of the flood on.
         */
        uint64_t slot = VSWAP_FLOOD_FIRST + 7 * VSWAP_FLOOD_BATCH + 5;
        uint32_t fill = vswap_flood_fill(kind, VSWAP_FLOOD_ROUNDS - 1);
        bool gone = kind == VSWAP_FLOOD_DISCARD || kind == VSWAP_FLOOD_MIXED;

        g_assert_cmpint(vswap_read(&t, &slot, 1, page, &st), ==,
                        VIRTIO_VSWAP_S_OK);
        g_assert_cmpint(st, ==, gone ? VIRTIO_VSWAP_S_UNMAPPED :
                                       VIRTIO_VSWAP_S_OK);
        for (unsigned i = 0; i < PAGE; i += 4) {
            g_assert_cmpuint((uint32_t)ldl_le_p(page + i), ==, gone ? 0 : fill);
        }
    }
    vswap_write_one(&t, 3000, 2);
    vswap_check_one(&t, 3000, 2);
    vswap_stop(&t);
}

/*
 * The device does not offer VIRTIO_F_RING_RESET, but virtio-pci takes a
 * queue_reset write anyway.  A guest that resets its queue with a flood
 * in flight and enables the same ring again can break its own device
 * (NEEDS_RESET), never QEMU, and a device reset makes it whole.
 */
static void queue_reset_unoffered(void *obj, void *data,
                                  QGuestAllocator *t_alloc)
{
    QVirtioVswap *vswap = obj;
    QVirtioPCIDevice *pci = container_of(vswap->vdev, QVirtioPCIDevice, vdev);
    uint64_t payload_addr, other_addr;
    uint16_t used0;
    VswapT t;

    vswap_start(&t, vswap, t_alloc);
    used0 = qtest_readw(global_qtest, t.vq->used + 2);
    vswap_flood(&t, &payload_addr, &other_addr);
    vswap_wait_used(&t, used0, 1);
    qpci_io_writew(pci->pdev, pci->bar, pci->common_cfg_offset +
                   offsetof(struct virtio_pci_common_cfg, queue_select), 0);
    qpci_io_writew(pci->pdev, pci->bar, pci->common_cfg_offset +
                   offsetof(struct virtio_pci_modern_common_cfg, queue_reset),
                   1);
    t.dev->bus->set_queue_address(t.dev, t.vq);
    qpci_io_writew(pci->pdev, pci->bar, pci->common_cfg_offset +
                   offsetof(struct virtio_pci_common_cfg, queue_enable), 1);
    g_usleep(100 * 1000);
    assert_alive();
    qvirtio_reset(vswap->vdev);
    assert_alive();
    vswap_stop(&t);
    guest_free(t_alloc, payload_addr);
    guest_free(t_alloc, other_addr);
    qvirtio_start_device(vswap->vdev);
    vswap_start(&t, vswap, t_alloc);
    vswap_write_one(&t, 9, 1);
    vswap_check_one(&t, 9, 1);
    vswap_stop(&t);
}

/* A memory-only store with a 16 MiB budget and room for a flood. */
static void *vswap_flood_before(GString *cmd_line, void *arg)
{
    g_string_append(cmd_line, " -m 512M -object vswap-store,id=vs0,"
                    "size=1G,mem-budget=16M,segment-size=1M");
    return arg;
}

static void vswap_unlink_store(void *path)
{
    unlink(path);
    g_free(path);
}

/*
 * A fresh temporary file name, removed when the test ends; the file is
 * made empty if @create (for a -blockdev file node, which needs it), else
 * left for the store to make (path=).
 */
static char *vswap_tmp_path(bool create)
{
    char *path = g_strdup_printf("%s/qtest-vswap-XXXXXX", g_get_tmp_dir());
    int fd = g_mkstemp(path);

    g_assert_cmpint(fd, >=, 0);
    close(fd);
    if (!create) {
        unlink(path);
    }
    g_test_queue_destroy(vswap_unlink_store, path);
    return path;
}

/* Add a disk-backed store with a tiny memory budget to the command line. */
static void *vswap_disk_store_before(GString *cmd_line, void *arg)
{
    char *path = vswap_tmp_path(false);

    g_string_append_printf(cmd_line,
                           " -object vswap-store,id=vs0,path=%s,size=%d,"
                           "segment-size=65536,mem-budget=131072", path,
                           VSWAP_TEST_CAPACITY * PAGE);
    return arg;
}

/*
 * iothread= needs ioeventfds: a device without them is refused with a
 * clear error, and QEMU goes on.
 */
static void iothread_needs_ioeventfd(void *obj, void *data,
                                     QGuestAllocator *t_alloc)
{
    QDict *resp = qtest_qmp(global_qtest, "{'execute': 'device_add',"
                            " 'arguments': {'driver': 'virtio-vswap-pci',"
                            " 'id': 'vswap-noeventfd', 'ioeventfd': false,"
                            " 'iothread': 'vswap-io0'}}");
    QDict *err = qdict_get_qdict(resp, "error");

    g_assert(err);
    g_assert_nonnull(strstr(qdict_get_str(err, "desc"), "ioeventfd"));
    qobject_unref(resp);
}

/* A disk-backed store with room for everything in memory. */
static void *vswap_roomy_store_before(GString *cmd_line, void *arg)
{
    char *path = vswap_tmp_path(false);

    g_string_append_printf(cmd_line,
                           " -object vswap-store,id=vs0,path=%s,size=%d,"
                           "segment-size=65536,mem-budget=16M", path,
                           VSWAP_TEST_CAPACITY * PAGE);
    return arg;
}

/* An IOThread for the device's iothread= property. */
static void *vswap_iothread_before(GString *cmd_line, void *arg)
{
    g_string_append(cmd_line, " -object iothread,id=vswap-io0");
    return arg;
}

static void *vswap_flood_iothread_before(GString *cmd_line, void *arg)
{
    return vswap_iothread_before(cmd_line, vswap_flood_before(cmd_line, arg));
}

static void *vswap_disk_store_iothread_before(GString *cmd_line, void *arg)
{
    return vswap_iothread_before(cmd_line,
                                 vswap_disk_store_before(cmd_line, arg));
}

static void *vswap_roomy_store_iothread_before(GString *cmd_line, void *arg)
{
    return vswap_iothread_before(cmd_line,
                                 vswap_roomy_store_before(cmd_line, arg));
}

/* A store file on a -blockdev node of its own (swap0). */
static void *vswap_node_store_before(GString *cmd_line, void *arg)
{
    char *path = vswap_tmp_path(true);

    g_string_append_printf(cmd_line,
                           " -blockdev driver=file,filename=%s,"
                           "node-name=swap0,discard=unmap"
                           " -object vswap-store,id=vs0,file=swap0,size=%d,"
                           "segment-size=65536,mem-budget=131072", path,
                           VSWAP_TEST_CAPACITY * PAGE);
    return arg;
}

/*
 * Stores that leave segment-size and writeback-depth to their node: vs0
 * on a null-co node (net0), which is not a local file, and vs-loc on a
 * file node (loc0) with a second device, on a slot of its own.
 */
static void *vswap_node_defaults_before(GString *cmd_line, void *arg)
{
    char *path = vswap_tmp_path(true);

    g_string_append_printf(cmd_line,
                           " -blockdev driver=null-co,node-name=net0,"
                           "read-zeroes=on,size=1073741824"
                           " -object vswap-store,id=vs0,file=net0,size=%d"
                           " -blockdev driver=file,filename=%s,"
                           "node-name=loc0"
                           " -object vswap-store,id=vs-loc,file=loc0,size=%d"
                           " -device virtio-vswap-pci,store=vs-loc,addr=%s.0",
                           VSWAP_TEST_CAPACITY * PAGE, path,
                           VSWAP_TEST_CAPACITY * PAGE,
                           stringify(PCI_SLOT_HP2));
    return arg;
}

/* The same file behind a throttle filter node (thr0) capped at 2 MiB/s. */
static void *vswap_throttled_store_before(GString *cmd_line, void *arg)
{
    char *path = vswap_tmp_path(true);

    g_string_append_printf(cmd_line,
                           " -object throttle-group,id=tg0,x-bps-total=%d"
                           " -blockdev driver=file,filename=%s,"
                           "node-name=swap0,discard=unmap"
                           " -blockdev driver=throttle,throttle-group=tg0,"
                           "file=swap0,node-name=thr0"
                           " -object vswap-store,id=vs0,file=thr0,size=%d,"
                           "segment-size=65536,mem-budget=131072",
                           VSWAP_TEST_BPS, path, VSWAP_TEST_CAPACITY * PAGE);
    return arg;
}

static void *vswap_node_store_iothread_before(GString *cmd_line, void *arg)
{
    return vswap_iothread_before(cmd_line,
                                 vswap_node_store_before(cmd_line, arg));
}

/* The hostile floods, on the device options of @opts. */
static void register_hostile_floods(const char *prefix,
                                    QOSGraphTestOptions *opts)
{
    static const char *const names[] = {
        [VSWAP_FLOOD_FILL] = "fill",
        [VSWAP_FLOOD_ZERO] = "zero",
        [VSWAP_FLOOD_DISCARD] = "discard",
        [VSWAP_FLOOD_READ] = "read",
        [VSWAP_FLOOD_MIXED] = "fill-discard",
    };

    for (unsigned k = 0; k < G_N_ELEMENTS(names); k++) {
        g_autofree char *name = g_strdup_printf("%shostile-flood/%s", prefix,
                                                names[k]);
        QOSGraphTestOptions o = *opts;

        o.arg = GUINT_TO_POINTER(k);
        qos_add_test(name, "virtio-vswap", hostile_flood, &o);
    }
}

/*
 * The same tests with the queues served from an IOThread: requests and
 * store completions run there, QMP and reset reach the store from the
 * main loop.
 */
static void register_iothread_tests(void)
{
    QOSGraphTestOptions opts = {
        .before = vswap_iothread_before,
        .edge.extra_device_opts = "capacity=4096,iothread=vswap-io0",
    };
    QOSGraphTestOptions mq_opts = {
        .before = vswap_iothread_before,
        .edge.extra_device_opts = "capacity=4096,num-queues=2,"
                                  "iothread=vswap-io0",
    };
    QOSGraphTestOptions flood_opts = {
        .before = vswap_flood_iothread_before,
        .edge.extra_device_opts = "store=vs0,iothread=vswap-io0",
    };
    QOSGraphTestOptions hostile_opts = {
        .before = vswap_flood_iothread_before,
        .edge.extra_device_opts = "store=vs0,queue-size=1024,max-batch=1024,"
                                  "iothread=vswap-io0",
    };
    QOSGraphTestOptions disk_opts = {
        .before = vswap_disk_store_iothread_before,
        .edge.extra_device_opts = "store=vs0,iothread=vswap-io0",
    };
    QOSGraphTestOptions roomy_opts = {
        .before = vswap_roomy_store_iothread_before,
        .edge.extra_device_opts = "store=vs0,iothread=vswap-io0",
    };
    QOSGraphTestOptions node_opts = {
        .before = vswap_node_store_iothread_before,
        .edge.extra_device_opts = "store=vs0,iothread=vswap-io0",
    };

    qos_add_test("iothread/round-trip", "virtio-vswap", round_trip, &opts);
    qos_add_test("iothread/batch", "virtio-vswap", batch, &opts);
    qos_add_test("iothread/fill-pages", "virtio-vswap", fill_pages, &opts);
    qos_add_test("iothread/discard", "virtio-vswap", discard, &opts);
    qos_add_test("iothread/malformed", "virtio-vswap", malformed, &opts);
    qos_add_test("iothread/stats", "virtio-vswap", stats, &opts);
    qos_add_test("iothread/reset", "virtio-vswap", reset, &opts);
    qos_add_test("iothread/multiqueue", "virtio-vswap", multiqueue, &mq_opts);
    qos_add_test("iothread/compact-during-io", "virtio-vswap",
                 compact_during_io, &disk_opts);
    qos_add_test("iothread/flood", "virtio-vswap", flood, &flood_opts);
    register_hostile_floods("iothread/", &hostile_opts);
    qos_add_test("iothread/reset-during-flood", "virtio-vswap",
                 reset_during_flood, &flood_opts);
    qos_add_test("iothread/queue-reset-unoffered", "virtio-vswap",
                 queue_reset_unoffered, &flood_opts);
    qos_add_test("iothread/needs-ioeventfd", "virtio-vswap",
                 iothread_needs_ioeventfd, &opts);
    qos_add_test("iothread/mem-compaction", "virtio-vswap", mem_compaction,
                 &opts);
    qos_add_test("iothread/budget-change", "virtio-vswap", budget_change,
                 &roomy_opts);
    qos_add_test("iothread/blockdev-node", "virtio-vswap", blockdev_node,
                 &node_opts);
}

/* Without ioeventfds the queues are served from the vCPU's MMIO exit. */
static void register_no_ioeventfd_tests(void)
{
    QOSGraphTestOptions opts = {
        .edge.extra_device_opts = "capacity=4096,ioeventfd=off",
    };

    qos_add_test("no-ioeventfd/round-trip", "virtio-vswap", round_trip, &opts);
    qos_add_test("no-ioeventfd/batch", "virtio-vswap", batch, &opts);
    qos_add_test("no-ioeventfd/reset", "virtio-vswap", reset, &opts);
}

static void register_virtio_vswap_test(void)
{
    QOSGraphTestOptions opts = {
        .edge.extra_device_opts = "capacity=4096",
    };
    QOSGraphTestOptions fault_opts = {
        .edge.extra_device_opts = "capacity=4096,id=vswap-x,x-forget-slot=5",
    };
    QOSGraphTestOptions mq_opts = {
        .edge.extra_device_opts = "capacity=4096,num-queues=2",
    };
    QOSGraphTestOptions flood_opts = {
        .before = vswap_flood_before,
        .edge.extra_device_opts = "store=vs0",
    };
    QOSGraphTestOptions hostile_opts = {
        .before = vswap_flood_before,
        .edge.extra_device_opts = "store=vs0,queue-size=1024,max-batch=1024",
    };
    QOSGraphTestOptions disk_opts = {
        .before = vswap_disk_store_before,
        .edge.extra_device_opts = "store=vs0",
    };
    QOSGraphTestOptions roomy_opts = {
        .before = vswap_roomy_store_before,
        .edge.extra_device_opts = "store=vs0",
    };
    QOSGraphTestOptions node_opts = {
        .before = vswap_node_store_before,
        .edge.extra_device_opts = "store=vs0",
    };
    QOSGraphTestOptions node_defaults_opts = {
        .before = vswap_node_defaults_before,
        .edge.extra_device_opts = "store=vs0",
    };
    QOSGraphTestOptions throttled_opts = {
        .before = vswap_throttled_store_before,
        .edge.extra_device_opts = "store=vs0",
    };

    qos_add_test("config", "virtio-vswap", config, &opts);
    qos_add_test("round-trip", "virtio-vswap", round_trip, &opts);
    qos_add_test("batch", "virtio-vswap", batch, &opts);
    qos_add_test("fill-pages", "virtio-vswap", fill_pages, &opts);
    qos_add_test("discard", "virtio-vswap", discard, &opts);
    qos_add_test("capacity", "virtio-vswap", capacity_limit, &opts);
    qos_add_test("unknown-type", "virtio-vswap", unknown_type, &opts);
    qos_add_test("malformed", "virtio-vswap", malformed, &opts);
    qos_add_test("no-status-byte", "virtio-vswap", no_status_byte, &opts);
    qos_add_test("test-faults", "virtio-vswap", test_faults, &fault_opts);
    qos_add_test("stats", "virtio-vswap", stats, &opts);
    qos_add_test("reset", "virtio-vswap", reset, &opts);
    qos_add_test("multiqueue", "virtio-vswap", multiqueue, &mq_opts);
    qos_add_test("compact-during-io", "virtio-vswap", compact_during_io,
                 &disk_opts);
    qos_add_test("mem-compaction", "virtio-vswap", mem_compaction, &opts);
    qos_add_test("budget-change", "virtio-vswap", budget_change, &roomy_opts);
    qos_add_test("hotplug", "virtio-vswap-pci", hotplug, &opts);
    qos_add_test("store-open-errors", "virtio-vswap", store_open_errors,
                 &opts);
    qos_add_test("store-properties", "virtio-vswap", store_properties, &opts);
    qos_add_test("flood", "virtio-vswap", flood, &flood_opts);
    register_hostile_floods("", &hostile_opts);
    qos_add_test("reset-during-flood", "virtio-vswap", reset_during_flood,
                 &flood_opts);
    qos_add_test("queue-reset-unoffered", "virtio-vswap",
                 queue_reset_unoffered, &flood_opts);
    qos_add_test("blockdev-node", "virtio-vswap", blockdev_node, &node_opts);
    qos_add_test("store-locked", "virtio-vswap", store_locked, &disk_opts);
    qos_add_test("node-defaults", "virtio-vswap-pci", node_defaults,
                 &node_defaults_opts);
    qos_add_test("throttled", "virtio-vswap", throttled, &throttled_opts);
    register_iothread_tests();
    register_no_ioeventfd_tests();
}

libqos_init(register_virtio_vswap_test);
