/*
 * Migration qtest of virtio-vswap: two QEMUs, pages written through the
 * virtqueue on the source are read back through it on the destination.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qemu/bswap.h"
#include "qemu/cutils.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "libqos/malloc-pc.h"
#include "libqos/pci-pc.h"
#include "libqos/qgraph.h"
#include "libqos/virtio.h"
#include "libqos/virtio-pci.h"
#include "standard-headers/linux/virtio_vswap.h"

#define PAGE 4096
#define CAPACITY 8192

/* test_migrate_inflight() variants */
#define MIG_IOTHREAD 1          /* IOThreads on both sides */
#define MIG_SHARED 2            /* one store file, shared=on */
#define TIMEOUT_US (60 * 1000 * 1000)

/* One QEMU with a virtio-vswap-pci device driven like a guest driver. */
typedef struct Vm {
    QTestState *qts;
    QGuestAllocator *alloc;     /* shared: guest RAM migrates with the VM */
    QPCIBus *bus;
    QVirtioPCIDevice *dev;
    QVirtQueue *vq;
    char *store;                /* store file */
    bool iothread;              /* serve the queues from an IOThread */
    const char *store_opts;     /* more vswap-store options, ",..." */
} Vm;

static QGuestAllocator test_alloc;
static bool test_alloc_ready;   /* its lists need freeing */

/* Start QEMU; @shared_store names a store file both sides share. */
static void vm_start_store(Vm *vm, const char *extra, bool incoming,
                           const char *shared_store)
{
    if (shared_store) {
        vm->store = g_strdup(shared_store);
    } else {
        vm->store = g_strdup_printf("%s/vswap-mig-XXXXXX", g_get_tmp_dir());
        close(g_mkstemp(vm->store));
        unlink(vm->store);
    }
    vm->qts = qtest_initf("-M pc -m 64 -nodefaults %s"
                          " -object iothread,id=io0"
                          " -object vswap-store,id=vs0,path=%s,size=%d,"
                          "segment-size=65536,mem-budget=131072%s%s"
                          " -device virtio-vswap-pci,id=vswap0,store=vs0,"
                          "addr=04.0%s %s",
                          incoming ? "-incoming defer" : "", vm->store,
                          CAPACITY * PAGE, shared_store ? ",shared=on" : "",
                          vm->store_opts ? vm->store_opts : "",
                          vm->iothread ? ",iothread=io0" : "",
                          extra ? extra : "");
    vm->alloc = &test_alloc;
    if (!incoming) {
        /* A new guest: the previous test's allocator is done with. */
        if (test_alloc_ready) {
            alloc_destroy(vm->alloc);
        }
        pc_alloc_init(vm->alloc, vm->qts, ALLOC_NO_FLAGS);
        test_alloc_ready = true;
    }
    vm->bus = qpci_new_pc(vm->qts, vm->alloc);
}

static void vm_start(Vm *vm, const char *extra, bool incoming)
{
    vm_start_store(vm, extra, incoming, NULL);
}

/* Find the device and enable its BARs (the same addresses on both sides). */
static void vm_find_device(Vm *vm)
{
    QPCIAddress addr = { .devfn = QPCI_DEVFN(4, 0) };

    vm->dev = virtio_pci_new(vm->bus, &addr);
    g_assert(vm->dev);
    qvirtio_pci_device_enable(vm->dev);
}

static void vm_driver_start(Vm *vm)
{
    QVirtioDevice *vdev;

    vm_find_device(vm);
    vdev = &vm->dev->vdev;
    qvirtio_start_device(vdev);
    qvirtio_set_features(vdev, qvirtio_get_features(vdev) &
                         ((1ull << VIRTIO_F_VERSION_1) |
                          (1ull << VIRTIO_VSWAP_F_FILL)));
    vm->vq = qvirtqueue_setup(vdev, vm->alloc, 0);
    qvirtio_set_driver_ok(vdev);
}

/* The destination takes over the source's queue, as a guest would. */
static void vm_driver_adopt(Vm *dst, Vm *src)
{
    vm_find_device(dst);
    dst->vq = src->vq;
    dst->vq->vdev = &dst->dev->vdev;
    src->vq = NULL;
}

static void vm_stop(Vm *vm)
{
    if (vm->vq) {
        qvirtqueue_cleanup(vm->dev->vdev.bus, vm->vq, vm->alloc);
    }
    if (vm->dev) {
        /* Disables the device (unmaps its BAR) and frees it. */
        qos_object_destroy(&vm->dev->obj);
    }
    qpci_free_pc(vm->bus);
    qtest_quit(vm->qts);
    unlink(vm->store);
    g_free(vm->store);
}

static uint8_t vm_do(Vm *vm, const void *out, size_t out_len, void *in,
                     size_t in_len)
{
    uint64_t addr = guest_alloc(vm->alloc, out_len + in_len);
    QVirtioDevice *vdev = &vm->dev->vdev;
    uint32_t head;

    /*
     * libqos hands out descriptors without ever wrapping; requests here go
     * one at a time, so every descriptor is free again.
     */
    vm->vq->free_head = 0;
    vm->vq->num_free = vm->vq->size;
    qtest_memwrite(vm->qts, addr, out, out_len);
    head = qvirtqueue_add(vm->qts, vm->vq, addr, out_len, false, true);
    qvirtqueue_add(vm->qts, vm->vq, addr + out_len, in_len, true, false);
    qvirtqueue_kick(vm->qts, vdev, vm->vq, head);
    qvirtio_wait_used_elem(vm->qts, vdev, vm->vq, head, NULL, TIMEOUT_US);
    qtest_memread(vm->qts, addr + out_len, in, in_len);
    guest_free(vm->alloc, addr);
    return ((uint8_t *)in)[in_len - 1];
}

/*
 * Page contents by (slot, version): version 0 is a zero page, odd
 * versions compress well, even ones are random (stored raw).
 */
/*
 * Versions from HEAP_VER on are pages of 64-byte objects, each a type word,
 * a random id and words of one vocabulary of 384: what a zstd dictionary
 * learns.
 */
#define HEAP_VER 100

static void make_heap_page(uint8_t *page, GRand *rand)
{
    enum { NWORDS = 384, WORD_MAX = 12 };
    static char words[NWORDS][WORD_MAX + 1];

    if (!words[0][0]) {
        GRand *vocab = g_rand_new_with_seed(42);

        for (unsigned w = 0; w < NWORDS; w++) {
            int n = g_rand_int_range(vocab, 5, WORD_MAX + 1);

            for (int k = 0; k < n; k++) {
                words[w][k] = 'a' + g_rand_int_range(vocab, 0, 26);
            }
        }
        g_rand_free(vocab);
    }
    for (unsigned o = 0; o < PAGE / 64; o++) {
        uint8_t *obj = page + o * 64;
        uint64_t type = 0x00007f3a91c04e20ULL;
        uint32_t id = g_rand_int(rand);
        size_t pos = 12;

        memcpy(obj, &type, 8);
        memcpy(obj + 8, &id, 4);
        while (pos < 64) {
            const char *w = words[g_rand_int_range(rand, 0, NWORDS)];
            size_t n = MIN(strlen(w) + 1, 64 - pos);

            memcpy(obj + pos, w, n);
            pos += n;
        }
    }
}

static void make_page(uint8_t *page, uint64_t slot, unsigned ver)
{
    GRand *rand = g_rand_new_with_seed(slot * 7919 + ver);

    memset(page, 0, PAGE);
    if (ver == 0) {
        g_rand_free(rand);
        return;
    }
    if (ver >= HEAP_VER) {
        make_heap_page(page, rand);
        memcpy(page, &slot, sizeof(slot));
        g_rand_free(rand);
        return;
    }
    for (unsigned i = 0; i < PAGE; i += 4) {
        uint32_t v = g_rand_int(rand);

        if (ver % 2) {
            v &= 0x0f0f;
        }
        memcpy(page + i, &v, 4);
    }
    memcpy(page, &slot, sizeof(slot));
    g_rand_free(rand);
}

/* A one-page WRITE as the driver lays it out. */
typedef struct VmWriteReq {
    struct virtio_vswap_req_hdr hdr;
    struct virtio_vswap_slot ent;
    uint8_t page[PAGE];
} QEMU_PACKED VmWriteReq;

static void vm_write(Vm *vm, uint64_t slot, unsigned ver)
{
    VmWriteReq req = {
        .hdr = { .type = cpu_to_le16(VIRTIO_VSWAP_T_WRITE),
                 .count = cpu_to_le32(1) },
        .ent = { .slot = cpu_to_le64(slot) },
    };
    uint8_t in[2];

    make_page(req.page, slot, ver);
    g_assert_cmpint(vm_do(vm, &req, sizeof(req), in, 2), ==, VIRTIO_VSWAP_S_OK);
}

static void vm_discard(Vm *vm, uint64_t slot)
{
    struct {
        struct virtio_vswap_req_hdr hdr;
        struct virtio_vswap_range r;
    } QEMU_PACKED req = {
        .hdr = { .type = cpu_to_le16(VIRTIO_VSWAP_T_DISCARD),
                 .count = cpu_to_le32(1) },
        .r = { .start = cpu_to_le64(slot), .count = cpu_to_le64(1) },
    };
    uint8_t in[2];

    g_assert_cmpint(vm_do(vm, &req, sizeof(req), in, 2), ==, VIRTIO_VSWAP_S_OK);
}

/* Check @slot holds version @ver (-1: nothing). */
static void vm_check(Vm *vm, uint64_t slot, int ver)
{
    struct {
        struct virtio_vswap_req_hdr hdr;
        struct virtio_vswap_slot ent;
    } QEMU_PACKED req = {
        .hdr = { .type = cpu_to_le16(VIRTIO_VSWAP_T_READ),
                 .count = cpu_to_le32(1) },
        .ent = { .slot = cpu_to_le64(slot) },
    };
    uint8_t in[PAGE + 2], want[PAGE];

    g_assert_cmpint(vm_do(vm, &req, sizeof(req), in, sizeof(in)), ==,
                    VIRTIO_VSWAP_S_OK);
    if (ver < 0) {
        g_assert_cmpint(in[PAGE], ==, VIRTIO_VSWAP_S_UNMAPPED);
        return;
    }
    g_assert_cmpint(in[PAGE], ==, VIRTIO_VSWAP_S_OK);
    make_page(want, slot, ver);
    if (memcmp(in, want, PAGE)) {
        g_error("slot %" PRIu64 ": page differs from version %d", slot, ver);
    }
}

static char *migrate_status(QTestState *qts)
{
    QDict *resp = qtest_qmp(qts, "{'execute': 'query-migrate'}");
    QDict *ret = qdict_get_qdict(resp, "return");
    char *status = g_strdup(qdict_haskey(ret, "status") ?
                            qdict_get_str(ret, "status") : "none");

    qobject_unref(resp);
    return status;
}

/* Poll until the migration status is one of @a, @b; returns it. */
static char *wait_status(QTestState *qts, const char *a, const char *b)
{
    for (int i = 0; i < 60000; i++) {
        char *st = migrate_status(qts);

        if (!strcmp(st, a) || (b && !strcmp(st, b))) {
            return st;
        }
        g_free(st);
        g_usleep(1000);
    }
    g_error("migration never reached '%s'", a);
}

static bool vm_running(QTestState *qts)
{
    QDict *resp = qtest_qmp(qts, "{'execute': 'query-status'}");
    bool running = qdict_get_bool(qdict_get_qdict(resp, "return"), "running");

    qobject_unref(resp);
    return running;
}

static void set_bandwidth(QTestState *qts, uint64_t bytes_per_s)
{
    qtest_qmp_assert_success(qts, "{'execute': 'migrate-set-parameters',"
                             " 'arguments': {'max-bandwidth': %" PRIu64 "}}",
                             bytes_per_s);
}

/*
 * Point @dst at @uri and start migrating @src there at @bandwidth bytes/s;
 * returns once the migration is active.
 */
static void start_migration(Vm *src, Vm *dst, const char *uri,
                            uint64_t bandwidth)
{
    qtest_qmp_assert_success(dst->qts, "{'execute': 'migrate-incoming',"
                             " 'arguments': {'uri': %s}}", uri);
    set_bandwidth(src->qts, bandwidth);
    qtest_qmp_assert_success(src->qts, "{'execute': 'migrate',"
                             " 'arguments': {'uri': %s}}", uri);
    g_free(wait_status(src->qts, "active", NULL));
}

/* Returns: the first device's query-vswap answer, for the caller to unref. */
static QDict *query_vswap(QTestState *qts)
{
    QDict *resp = qtest_qmp(qts, "{'execute': 'query-vswap'}");
    QDict *info = qobject_to(QDict, qlist_peek(qdict_get_qlist(resp,
                                                               "return")));

    qobject_ref(info);
    qobject_unref(resp);
    return info;
}

static int64_t query_int(QTestState *qts, const char *key)
{
    QDict *info = query_vswap(qts);
    int64_t v = qdict_get_int(info, key);

    qobject_unref(info);
    return v;
}

/*
 * Returns: query-vswap's migration-sent or migration-received (@dir), for
 * the caller to unref; NULL if absent.
 */
static QDict *query_mig(QTestState *qts, const char *dir)
{
    QDict *info = query_vswap(qts);
    QDict *m = qdict_get_qdict(info, dir);

    qobject_ref(m);     /* NULL-safe */
    qobject_unref(info);
    return m;
}

/*
 * After a completed migration: the destination loaded exactly what the
 * source sent, element by element; returns the source's counts.
 */
static QDict *check_mig_counts(Vm *src, Vm *dst)
{
    static const char *const keys[] = {
        "records", "record-bytes", "refs", "member-refs", "dicts",
    };
    QDict *sent = query_mig(src->qts, "migration-sent");
    QDict *received = query_mig(dst->qts, "migration-received");

    g_assert_nonnull(sent);
    g_assert_nonnull(received);
    g_assert_null(query_mig(src->qts, "migration-received"));
    g_assert_null(query_mig(dst->qts, "migration-sent"));
    for (unsigned i = 0; i < G_N_ELEMENTS(keys); i++) {
        g_assert_cmpint(qdict_get_int(received, keys[i]), ==,
                        qdict_get_int(sent, keys[i]));
    }
    g_test_message("sent %" PRId64 " records (%" PRId64 " bytes), %" PRId64
                   " refs, %" PRId64 " member refs",
                   qdict_get_int(sent, "records"),
                   qdict_get_int(sent, "record-bytes"),
                   qdict_get_int(sent, "refs"),
                   qdict_get_int(sent, "member-refs"));
    qobject_unref(received);
    return sent;
}

/*
 * HMP's info vswap on @qts has a "migrated @dir" line with @m's records
 * and references, or none when @m is NULL.
 */
static void check_hmp_mig(QTestState *qts, const char *dir, QDict *m)
{
    g_autofree char *out = qtest_hmp(qts, "info vswap");
    g_autofree char *want = g_strdup_printf("migrated %s ", dir);

    if (!m) {
        g_assert_null(strstr(out, want));
        return;
    }
    g_free(want);
    want = g_strdup_printf("migrated %s %" PRId64 " records (%" PRId64
                           " bytes), %" PRId64 " references, %" PRId64
                           " group member references, %" PRId64
                           " dictionaries", dir,
                           qdict_get_int(m, "records"),
                           qdict_get_int(m, "record-bytes"),
                           qdict_get_int(m, "refs"),
                           qdict_get_int(m, "member-refs"),
                           qdict_get_int(m, "dicts"));
    if (!strstr(out, want)) {
        g_test_message("info vswap: %s", out);
    }
    g_assert_nonnull(strstr(out, want));
}

/* Slot s holds version vers[s] (-1: nothing) on whichever side is live. */
static void write_initial(Vm *src, int *vers, unsigned n)
{
    for (unsigned s = 0; s < n; s++) {
        vers[s] = s % 10 == 0 ? 0 : (int)(1 + s % 2);
        vm_write(src, s, vers[s]);
    }
}

static void check_all(Vm *vm, const int *vers, unsigned n)
{
    for (unsigned s = 0; s < n; s++) {
        vm_check(vm, s, vers[s]);
    }
}

/*
 * Pages written before and during migration arrive intact; @iothread: the
 * device serves its queue from an IOThread on both sides.
 */
static void test_migrate_live(gconstpointer iothread)
{
    enum { N = 400 };
    g_autofree char *uri = g_strdup_printf("unix:%s/vswap-mig-%d.sock",
                                           g_get_tmp_dir(), getpid());
    int vers[N];
    Vm src = { .iothread = iothread }, dst = { .iothread = iothread };
    g_autofree char *st = NULL;
    QDict *sent;
    unsigned round;

    vm_start(&src, NULL, false);
    vm_driver_start(&src);
    write_initial(&src, vers, N);
    g_assert_cmpint(query_int(src.qts, "pages-disk"), >, 0);
    g_assert_null(query_mig(src.qts, "migration-sent"));

    vm_start(&dst, NULL, true);
    /*
     * Slow enough that the guest's writes land while pages move, and that
     * switchover cannot start meanwhile (a real guest is stopped then).
     */
    start_migration(&src, &dst, uri, 128 * 1024);
    for (round = 0; round < 40; round++) {
        unsigned s = (round * 37) % N;

        g_assert(vm_running(src.qts));
        /* The guest keeps swapping: overwrite, discard, write anew. */
        vers[s] = 3 + round % 2;
        vm_write(&src, s, vers[s]);
        vm_discard(&src, (s + 5) % N);
        vers[(s + 5) % N] = -1;
    }
    set_bandwidth(src.qts, 1024 * 1024 * 1024);
    st = wait_status(src.qts, "completed", "failed");
    g_assert_cmpstr(st, ==, "completed");
    g_free(wait_status(dst.qts, "completed", NULL));
    g_test_message("%u guest write rounds ran during migration", round);
    /* Every slot went with its data, some twice; none as a reference. */
    sent = check_mig_counts(&src, &dst);
    g_assert_cmpint(qdict_get_int(sent, "records"), >=, N);
    g_assert_cmpint(qdict_get_int(sent, "record-bytes"), >, 0);
    g_assert_cmpint(qdict_get_int(sent, "refs"), ==, 0);
    g_assert_cmpint(qdict_get_int(sent, "member-refs"), ==, 0);
    qobject_unref(sent);

    vm_driver_adopt(&dst, &src);
    check_all(&dst, vers, N);
    /* The destination's device goes on working. */
    vm_write(&dst, N + 1, 1);
    vm_check(&dst, N + 1, 1);
    vm_stop(&src);
    vm_stop(&dst);
}

/*
 * Requests in flight at switchover: the source has a queue full of writes
 * it has not answered when the migration starts, at full speed.  The
 * VM-stop drain puts every answer on the used ring before the ring is
 * saved, so the destination's driver finds them all there, each OK, and
 * reads every page back.
 */
static void test_migrate_inflight(gconstpointer flags)
{
    enum { N = 96, OLD = 300 };
    g_autofree char *uri = g_strdup_printf("unix:%s/vswap-mig-f%d.sock",
                                           g_get_tmp_dir(), getpid());
    g_autofree char *store = NULL;
    VmWriteReq req = {
        .hdr = { .type = cpu_to_le16(VIRTIO_VSWAP_T_WRITE),
                 .count = cpu_to_le32(1) },
    };
    bool iothread = GPOINTER_TO_UINT(flags) & MIG_IOTHREAD;
    bool shared = GPOINTER_TO_UINT(flags) & MIG_SHARED;
    Vm src = { .iothread = iothread }, dst = { .iothread = iothread };
    uint64_t addr[N];
    uint32_t head[N];
    bool seen[N] = { false };
    unsigned done = 0;
    int vers[N + OLD];
    g_autofree char *st = NULL;

    if (shared) {
        store = g_strdup_printf("%s/vswap-mig-shared-f%d", g_get_tmp_dir(),
                                getpid());
        unlink(store);
    }
    vm_start_store(&src, NULL, false, store);
    vm_driver_start(&src);
    if (shared) {
        /* Older pages, on disk: they travel as references. */
        for (unsigned s = N; s < N + OLD; s++) {
            vers[s] = 1 + s % 2;
            vm_write(&src, s, vers[s]);
        }
        g_assert_cmpint(query_int(src.qts, "pages-disk"), >, 100);
    }
    vm_start_store(&dst, NULL, true, store);
    qtest_qmp_assert_success(dst.qts, "{'execute': 'migrate-incoming',"
                             " 'arguments': {'uri': %s}}", uri);

    /* Two descriptors per request: N of them fill most of the ring. */
    g_assert_cmpint(2 * N, <=, src.vq->size);
    src.vq->free_head = 0;
    src.vq->num_free = src.vq->size;
    for (unsigned i = 0; i < N; i++) {
        addr[i] = guest_alloc(src.alloc, sizeof(req) + 2);
        req.ent.slot = cpu_to_le64(i);
        make_page(req.page, i, 1 + i % 2);
        qtest_memwrite(src.qts, addr[i], &req, sizeof(req));
        head[i] = qvirtqueue_add(src.qts, src.vq, addr[i], sizeof(req),
                                 false, true);
        qvirtqueue_add(src.qts, src.vq, addr[i] + sizeof(req), 2, true,
                       false);
    }
    for (unsigned i = 0; i < N; i++) {
        qvirtqueue_kick(src.qts, &src.dev->vdev, src.vq, head[i]);
    }
    /* No waiting: the writes are still being compressed and written. */
    set_bandwidth(src.qts, 1024 * 1024 * 1024);
    qtest_qmp_assert_success(src.qts, "{'execute': 'migrate',"
                             " 'arguments': {'uri': %s}}", uri);
    st = wait_status(src.qts, "completed", "failed");
    g_assert_cmpstr(st, ==, "completed");
    g_free(wait_status(dst.qts, "completed", NULL));

    vm_driver_adopt(&dst, &src);
    for (int spin = 0; done < N && spin < 10000; spin++) {
        uint32_t idx, len;

        if (!qvirtqueue_get_buf(dst.qts, dst.vq, &idx, &len)) {
            g_usleep(100);
            continue;
        }
        for (unsigned i = 0; i < N; i++) {
            if (head[i] == idx) {
                g_assert_false(seen[i]);
                seen[i] = true;
                done++;
                g_assert_cmpint(qtest_readb(dst.qts, addr[i] + sizeof(req) + 1),
                                ==, VIRTIO_VSWAP_S_OK);
            }
        }
    }
    g_assert_cmpint(done, ==, N);
    for (unsigned i = 0; i < N; i++) {
        guest_free(dst.alloc, addr[i]);
        vm_check(&dst, i, 1 + i % 2);
    }
    if (shared) {
        for (unsigned s = N; s < N + OLD; s++) {
            vm_check(&dst, s, vers[s]);
        }
        /* The destination owns the file: it writes back to it. */
        for (unsigned s = 0; s < N; s++) {
            vm_write(&dst, s, 3);
        }
        g_assert_cmpint(query_int(dst.qts, "writeback-pages"), >, 0);
        for (unsigned s = N; s < N + OLD; s++) {
            vm_check(&dst, s, vers[s]);
        }
        g_assert_cmpint(query_int(dst.qts, "checksum-errors"), ==, 0);
    }
    vm_stop(&src);
    vm_stop(&dst);
}

/*
 * Shared storage: both QEMUs open one store file; pages on disk travel as
 * references.  The source then quits (discarding every slot on the way)
 * without touching what the destination now owns.
 */
static void test_migrate_shared(void)
{
    enum { N = 400 };
    g_autofree char *uri = g_strdup_printf("unix:%s/vswap-mig-s%d.sock",
                                           g_get_tmp_dir(), getpid());
    g_autofree char *store = g_strdup_printf("%s/vswap-mig-shared-%d",
                                             g_get_tmp_dir(), getpid());
    /* Room above the budget, so that writeback packs as it keeps pace. */
    const char *opts = ",mem-limit=1048576";
    int vers[N];
    Vm src = { .store_opts = opts }, dst = { .store_opts = opts };
    QTestState *src_qts;
    QDict *sent;

    unlink(store);
    vm_start_store(&src, NULL, false, store);
    vm_driver_start(&src);
    write_initial(&src, vers, N);
    g_assert_cmpint(query_int(src.qts, "pages-disk"), >, 100);
    /* Some travel as references to members of group records. */
    g_assert_cmpint(query_int(src.qts, "disk-group-pages"), >, 0);

    vm_start_store(&dst, NULL, true, store);
    start_migration(&src, &dst, uri, 128 * 1024);
    for (unsigned round = 0; round < 20; round++) {
        unsigned s = (round * 37) % N;

        g_assert(vm_running(src.qts));
        vers[s] = 3 + round % 2;
        vm_write(&src, s, vers[s]);
    }
    set_bandwidth(src.qts, 1024 * 1024 * 1024);
    g_free(wait_status(src.qts, "completed", NULL));
    g_free(wait_status(dst.qts, "completed", NULL));

    /*
     * Pages on disk arrived as references into the shared file, those in
     * groups as member references.
     */
    g_assert_cmpint(query_int(dst.qts, "pages-disk"), >, 100);
    sent = check_mig_counts(&src, &dst);
    g_assert_cmpint(qdict_get_int(sent, "member-refs"), >, 0);
    g_assert_cmpint(qdict_get_int(sent, "refs") +
                    qdict_get_int(sent, "member-refs"), >, 100);
    /* HMP says the same: sent on the source, loaded on the destination. */
    check_hmp_mig(src.qts, "sent", sent);
    check_hmp_mig(src.qts, "loaded", NULL);
    check_hmp_mig(dst.qts, "loaded", sent);
    check_hmp_mig(dst.qts, "sent", NULL);
    qobject_unref(sent);
    vm_driver_adopt(&dst, &src);
    check_all(&dst, vers, N);

    /* The source goes away: its unrealize discards, fenced from the file. */
    qos_object_destroy(&src.dev->obj);
    src_qts = src.qts;
    src.qts = NULL;
    qtest_quit(src_qts);
    qpci_free_pc(src.bus);
    g_free(src.store);
    check_all(&dst, vers, N);
    /* The destination owns the file: it keeps writing back to it. */
    for (unsigned s = N; s < N + 100; s++) {
        vm_write(&dst, s, 1 + s % 2);
    }
    for (unsigned s = N; s < N + 100; s++) {
        vm_check(&dst, s, 1 + s % 2);
    }
    check_all(&dst, vers, N);
    g_assert_cmpint(query_int(dst.qts, "checksum-errors"), ==, 0);
    vm_stop(&dst);
}

/* A cancelled migration leaves the source with everything. */
static void test_migrate_cancel(void)
{
    enum { N = 300 };
    g_autofree char *uri = g_strdup_printf("unix:%s/vswap-mig-c%d.sock",
                                           g_get_tmp_dir(), getpid());
    int vers[N];
    Vm src = { 0 }, dst = { 0 };
    char *st;

    vm_start(&src, NULL, false);
    vm_driver_start(&src);
    write_initial(&src, vers, N);
    vm_start(&dst, NULL, true);
    qtest_set_expected_status(dst.qts, EXIT_FAILURE);
    start_migration(&src, &dst, uri, 64 * 1024);
    vm_write(&src, 7, 4);
    vers[7] = 4;
    qtest_qmp_assert_success(src.qts, "{'execute': 'migrate_cancel'}");
    st = wait_status(src.qts, "cancelled", "failed");
    g_free(st);
    check_all(&src, vers, N);
    g_assert_cmpint(query_int(src.qts, "checksum-errors"), ==, 0);
    vm_stop(&src);
    qpci_free_pc(dst.bus);
    qtest_quit(dst.qts);
    unlink(dst.store);
    g_free(dst.store);
}

/* Migrate to a file, then load it into a new QEMU (or fail to). */
static void migrate_to_file(Vm *src, const char *path)
{
    g_autofree char *uri = g_strdup_printf("file:%s", path);

    qtest_qmp_assert_success(src->qts, "{'execute': 'migrate',"
                             " 'arguments': {'uri': %s}}", uri);
    g_free(wait_status(src->qts, "completed", NULL));
}

static void load_from_file(Vm *dst, const char *path)
{
    g_autofree char *uri = g_strdup_printf("file:%s", path);

    vm_start(dst, NULL, true);
    qtest_qmp_assert_success(dst->qts, "{'execute': 'migrate-incoming',"
                             " 'arguments': {'uri': %s}}", uri);
}

/* migrate-to-file and back: what snapshots rely on. */
/*
 * dict=auto: the source trains a zstd dictionary on the guest's pages (of
 * heap objects) and compresses the later ones with it.  The stream carries the dictionary
 * before the records that need it; the destination reads them, and goes
 * on compressing with it.
 */
static void test_migrate_dict(void)
{
    enum { N = 400 };
    static const char opts[] = ",dict=auto,dict-train-pages=64";
    g_autofree char *uri = g_strdup_printf("unix:%s/vswap-mig-d%d.sock",
                                           g_get_tmp_dir(), getpid());
    Vm src = { .store_opts = opts }, dst = { .store_opts = opts };
    g_autofree char *st = NULL;
    QDict *sent;
    int vers[N];

    vm_start(&src, NULL, false);
    vm_driver_start(&src);
    for (unsigned s = 0; s < N; s++) {
        vers[s] = s % 10 == 0 ? 0 : HEAP_VER;
        vm_write(&src, s, vers[s]);
    }
    /*
     * The store samples one compressible page in 8; training runs in a
     * worker while the guest goes on.  Rewrite until it is done, and once
     * more, so that the pages take the dictionary.
     */
    for (unsigned round = 0; round < 8; round++) {
        bool trained = query_int(src.qts, "dict-trainings") > 0;

        for (unsigned s = 0; s < N; s++) {
            if (vers[s]) {
                vers[s] += 2;
                vm_write(&src, s, vers[s]);
            }
        }
        if (trained) {
            break;
        }
    }
    g_assert_cmpint(query_int(src.qts, "dict-trainings"), ==, 1);
    g_assert_cmpint(query_int(src.qts, "dict-id"), ==, 1);

    vm_start(&dst, NULL, true);
    start_migration(&src, &dst, uri, 1024 * 1024 * 1024);
    st = wait_status(src.qts, "completed", "failed");
    g_assert_cmpstr(st, ==, "completed");
    g_free(wait_status(dst.qts, "completed", NULL));
    /* The dictionary went once, before the records that need it. */
    sent = check_mig_counts(&src, &dst);
    g_assert_cmpint(qdict_get_int(sent, "dicts"), ==, 1);
    qobject_unref(sent);
    vm_driver_adopt(&dst, &src);
    check_all(&dst, vers, N);
    g_assert_cmpint(query_int(dst.qts, "dicts"), ==, 1);
    g_assert_cmpint(query_int(dst.qts, "dict-id"), ==, 1);
    g_assert_cmpint(query_int(dst.qts, "dict-trainings"), ==, 0);
    vm_write(&dst, N + 1, HEAP_VER);
    vm_check(&dst, N + 1, HEAP_VER);
    vm_stop(&src);
    vm_stop(&dst);
}

static void test_migrate_file(void)
{
    enum { N = 200 };
    g_autofree char *path = g_strdup_printf("%s/vswap-mig-%d.state",
                                            g_get_tmp_dir(), getpid());
    int vers[N];
    Vm src = { 0 }, dst = { 0 };

    vm_start(&src, NULL, false);
    vm_driver_start(&src);
    write_initial(&src, vers, N);
    migrate_to_file(&src, path);
    load_from_file(&dst, path);
    g_free(wait_status(dst.qts, "completed", NULL));
    vm_driver_adopt(&dst, &src);
    check_all(&dst, vers, N);
    vm_stop(&src);
    vm_stop(&dst);
    unlink(path);
}

static char *file_checksum(const char *path)
{
    g_autofree char *contents = NULL;
    gsize len;

    g_assert(g_file_get_contents(path, &contents, &len, NULL));
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (guchar *)contents,
                                       len);
}

/*
 * A failed incoming migration of a shared store (exit-on-error=false):
 * the destination loads every reference, then fails on a device it does
 * not have.  Its store never takes the file over, so the source's store
 * file stays byte for byte as the source left it, while the destination
 * lives on and after it quits.  The source, resumed, owns its file again
 * and writes back to it.
 */
static void test_migrate_shared_failed(void)
{
    enum { N = 400 };
    g_autofree char *path = g_strdup_printf("%s/vswap-mig-x%d.state",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    g_autofree char *store = g_strdup_printf("%s/vswap-mig-shared-x%d",
                                             g_get_tmp_dir(), getpid());
    g_autofree char *before = NULL;
    g_autofree char *after = NULL;
    g_autofree char *after_quit = NULL;
    int vers[N];
    Vm src = { .iothread = true }, dst = { .iothread = true };

    unlink(store);
    vm_start_store(&src, "-device virtio-rng-pci,addr=05.0", false, store);
    vm_driver_start(&src);
    write_initial(&src, vers, N);
    g_assert_cmpint(query_int(src.qts, "pages-disk"), >, 100);
    /* Sparse segments: what a store that took the file over compacts. */
    for (unsigned s = 0; s < N / 2; s++) {
        if (s % 4) {
            vm_discard(&src, s);
            vers[s] = -1;
        }
    }
    /* Completed on this side: the source is stopped and fenced. */
    migrate_to_file(&src, path);
    before = file_checksum(store);

    vm_start_store(&dst, NULL, true, store);
    qtest_qmp_assert_success(dst.qts, "{'execute': 'migrate-incoming',"
                             " 'arguments': {'uri': %s,"
                             " 'exit-on-error': false}}", uri);
    g_free(wait_status(dst.qts, "failed", NULL));
    g_assert_false(vm_running(dst.qts));
    g_usleep(100 * 1000);
    g_assert_cmpint(query_int(dst.qts, "pages-disk"), >, 100);
    /* Its store stayed fenced: it never compacted or wrote the file. */
    g_assert_cmpint(query_int(dst.qts, "compactions"), ==, 0);
    g_assert_cmpint(query_int(dst.qts, "writeback-errors"), ==, 0);
    after = file_checksum(store);
    g_assert_cmpstr(before, ==, after);
    qpci_free_pc(dst.bus);
    qtest_quit(dst.qts);
    g_free(dst.store);
    after_quit = file_checksum(store);
    g_assert_cmpstr(before, ==, after_quit);

    /* "cont" reactivates the node: the store is the source's again. */
    qtest_qmp_assert_success(src.qts, "{'execute': 'cont'}");
    check_all(&src, vers, N);
    for (unsigned s = N; s < N + 200; s++) {
        vm_write(&src, s, 1 + s % 2);
    }
    g_assert_cmpint(query_int(src.qts, "writeback-errors"), ==, 0);
    for (unsigned s = N; s < N + 200; s++) {
        vm_check(&src, s, 1 + s % 2);
    }
    check_all(&src, vers, N);
    g_assert_cmpint(query_int(src.qts, "checksum-errors"), ==, 0);
    vm_stop(&src);
    unlink(path);
}

/* Run a QMP job command and wait for the job to conclude successfully. */
static void run_job(QTestState *qts, const char *job_id, const char *cmd_fmt,
                    ...) G_GNUC_PRINTF(3, 4);
static void run_job(QTestState *qts, const char *job_id, const char *cmd_fmt,
                    ...)
{
    va_list ap;
    QDict *resp;

    va_start(ap, cmd_fmt);
    resp = qtest_vqmp(qts, cmd_fmt, ap);
    va_end(ap);
    g_assert(qdict_haskey(resp, "return"));
    qobject_unref(resp);
    for (;;) {
        QDict *ev = qtest_qmp_eventwait_ref(qts, "JOB_STATUS_CHANGE");
        QDict *data = qdict_get_qdict(ev, "data");
        bool done = !strcmp(qdict_get_str(data, "id"), job_id) &&
                    !strcmp(qdict_get_str(data, "status"), "concluded");

        qobject_unref(ev);
        if (done) {
            break;
        }
    }
    resp = qtest_qmp(qts, "{'execute': 'query-jobs'}");
    for (const QListEntry *e = qlist_first(qdict_get_qlist(resp, "return")); e;
         e = qlist_next(e)) {
        QDict *job = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(job, "id"), job_id) &&
            qdict_haskey(job, "error")) {
            g_error("job %s failed: %s", job_id, qdict_get_str(job, "error"));
        }
    }
    qobject_unref(resp);
    qtest_qmp_assert_success(qts, "{'execute': 'job-dismiss',"
                             " 'arguments': {'id': %s}}", job_id);
}

/*
 * Internal snapshots (savevm/loadvm as jobs): the store's pages are saved
 * with the VM and come back exactly as they were, discards undone.
 */
static void test_snapshot(void)
{
    enum { N = 200 };
    g_autofree char *img = g_strdup_printf("%s/vswap-snap-%d.qcow2",
                                           g_get_tmp_dir(), getpid());
    g_autofree char *extra = g_strdup_printf(
        "-blockdev driver=file,node-name=file0,filename=%s", img);
    int vers[N];
    Vm vm = { 0 };
    QVirtQueue saved_vq;
    int fd;

    fd = open(img, O_CREAT | O_TRUNC | O_RDWR, 0600);
    g_assert_cmpint(fd, >=, 0);
    close(fd);
    vm_start(&vm, extra, false);
    run_job(vm.qts, "create", "{'execute': 'blockdev-create', 'arguments':"
            " {'job-id': 'create', 'options': {'driver': 'qcow2',"
            " 'file': 'file0', 'size': 67108864}}}");
    qtest_qmp_assert_success(vm.qts, "{'execute': 'blockdev-add',"
                             " 'arguments': {'driver': 'qcow2',"
                             " 'node-name': 'disk0', 'file': 'file0'}}");
    vm_driver_start(&vm);
    write_initial(&vm, vers, N);

    run_job(vm.qts, "save", "{'execute': 'snapshot-save', 'arguments':"
            " {'job-id': 'save', 'tag': 'snap1', 'vmstate': 'disk0',"
            " 'devices': ['disk0']}}");
    /* The driver's view of its ring is part of what the snapshot keeps. */
    saved_vq = *vm.vq;

    for (unsigned s = 0; s < N; s += 3) {
        vm_write(&vm, s, 4);
    }
    vm_discard(&vm, 1);

    run_job(vm.qts, "load", "{'execute': 'snapshot-load', 'arguments':"
            " {'job-id': 'load', 'tag': 'snap1', 'vmstate': 'disk0',"
            " 'devices': ['disk0']}}");
    *vm.vq = saved_vq;
    check_all(&vm, vers, N);
    g_assert_cmpint(query_int(vm.qts, "checksum-errors"), ==, 0);
    vm_stop(&vm);
    unlink(img);
}

/*
 * Damage the stream: one byte of a stored raw page, or the stream cut in
 * the middle of the vswap records.  The destination refuses it.
 */
static void test_migrate_bad_stream(gconstpointer truncate)
{
    enum { N = 50 };
    g_autofree char *path = g_strdup_printf("%s/vswap-mig-b%d.state",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *data = NULL;
    uint8_t page[PAGE];
    int vers[N];
    Vm src = { 0 }, dst = { 0 };
    uint8_t *hit;
    gsize len;

    vm_start(&src, NULL, false);
    vm_driver_start(&src);
    write_initial(&src, vers, N);
    migrate_to_file(&src, path);
    g_assert(g_file_get_contents(path, &data, &len, NULL));
    /* Slot 1 holds a random page, stored raw: find it in the stream. */
    g_assert_cmpint(vers[1] % 2, ==, 0);
    make_page(page, 1, vers[1]);
    hit = memmem(data, len, page, PAGE);
    g_assert(hit);
    if (truncate) {
        len = hit - (uint8_t *)data + PAGE / 2;
    } else {
        hit[100] ^= 0x10;
    }
    g_assert(g_file_set_contents(path, data, len, NULL));

    load_from_file(&dst, path);
    /* A destination that cannot load its state exits with a failure. */
    qtest_set_expected_status(dst.qts, EXIT_FAILURE);
    qtest_wait_qemu(dst.qts);
    /* The source is untouched and still serves its pages. */
    check_all(&src, vers, N);
    vm_stop(&src);
    qpci_free_pc(dst.bus);
    qtest_quit(dst.qts);
    unlink(dst.store);
    g_free(dst.store);
    unlink(path);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    qtest_add_data_func("/vswap/migration/live", NULL, test_migrate_live);
    qtest_add_data_func("/vswap/migration/live-iothread", (void *)1,
                        test_migrate_live);
    qtest_add_data_func("/vswap/migration/requests-at-switchover", NULL,
                        test_migrate_inflight);
    qtest_add_data_func("/vswap/migration/requests-at-switchover-iothread",
                        GUINT_TO_POINTER(MIG_IOTHREAD),
                        test_migrate_inflight);
    qtest_add_data_func("/vswap/migration/shared-storage-requests-at-"
                        "switchover-iothread",
                        GUINT_TO_POINTER(MIG_IOTHREAD | MIG_SHARED),
                        test_migrate_inflight);
    qtest_add_func("/vswap/migration/shared-storage-failed-incoming",
                   test_migrate_shared_failed);
    qtest_add_func("/vswap/migration/cancel", test_migrate_cancel);
    qtest_add_func("/vswap/migration/file", test_migrate_file);
    qtest_add_func("/vswap/migration/dict", test_migrate_dict);
    qtest_add_func("/vswap/migration/shared-storage", test_migrate_shared);
    qtest_add_func("/vswap/migration/snapshot", test_snapshot);
    qtest_add_data_func("/vswap/migration/corrupt-stream", NULL,
                        test_migrate_bad_stream);
    qtest_add_data_func("/vswap/migration/truncated-stream", (void *)1,
                        test_migrate_bad_stream);
    ret = g_test_run();
    if (test_alloc_ready) {
        alloc_destroy(&test_alloc);
    }
    return ret;
}
