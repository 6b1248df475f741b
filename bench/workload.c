/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The store benchmarks' shared workloads (see workload.h): the corpus,
 * the guest driver's request pattern and the writeback workload.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "store-int.h"
#include "workload.h"

#define PAGE VSWAP_STORE_PAGE_SIZE

const char *const vswap_bench_corpus_files[3] = {
    "python-heap", "node-heap", "cc1-heap",
};

static gint vswap_bench_strcmp(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **vswap_bench_corpus_list(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    GPtrArray *names = g_ptr_array_new();
    const char *entry;

    while (d && (entry = g_dir_read_name(d))) {
        if (g_str_has_suffix(entry, ".pages") && strlen(entry) > 6) {
            g_ptr_array_add(names, g_strndup(entry, strlen(entry) - 6));
        }
    }
    if (!names->len) {
        g_ptr_array_free(names, true);
        return NULL;
    }
    g_ptr_array_sort(names, vswap_bench_strcmp);
    g_ptr_array_add(names, NULL);
    return (char **)g_ptr_array_free(names, false);
}

int64_t vswap_bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint8_t *vswap_bench_pages_alloc(size_t npages)
{
    void *p;

    if (posix_memalign(&p, PAGE, MAX(npages, 1) * PAGE) != 0) {
        g_error("vswap bench: out of memory (%zu pages)", npages);
    }
    return p;
}

bool vswap_bench_corpus_load(VswapBenchCorpus *c, const char *dir,
                             const char *name, size_t max_pages)
{
    g_autofree char *file = g_strdup_printf("%s.pages", name);
    g_autofree char *path = g_build_filename(dir, file, NULL);
    g_autofree char *data = NULL;
    gsize len;
    uint32_t fill;

    memset(c, 0, sizeof(*c));
    if (!g_file_get_contents(path, &data, &len, NULL)) {
        return false;
    }
    c->name = name;
    c->npages = len / PAGE;
    if (max_pages) {
        c->npages = MIN(c->npages, max_pages);
    }
    if (!c->npages) {
        return false;
    }
    c->all = vswap_bench_pages_alloc(c->npages);
    memcpy(c->all, data, c->npages * PAGE);
    c->nonfill = vswap_bench_pages_alloc(c->npages);
    for (size_t i = 0; i < c->npages; i++) {
        /* The store's own test, so both sets match what it compresses. */
        if (!vswap_page_fill_value(c->all + i * PAGE, &fill)) {
            memcpy(c->nonfill + c->nnonfill++ * PAGE, c->all + i * PAGE, PAGE);
        }
    }
    return true;
}

void vswap_bench_corpus_free(VswapBenchCorpus *c)
{
    free(c->all);
    free(c->nonfill);
    memset(c, 0, sizeof(*c));
}

/* --- the machine --- */

char *vswap_bench_load_average(void)
{
    g_autofree char *text = NULL;
    char **f, *ret;

    if (!g_file_get_contents("/proc/loadavg", &text, NULL, NULL)) {
        return g_strdup("unknown");
    }
    f = g_strsplit(text, " ", 4);
    ret = g_strdup_printf("%s %s %s", f[0], f[1] ? f[1] : "",
                          f[1] && f[2] ? f[2] : "");
    g_strfreev(f);
    return ret;
}

char *vswap_bench_cpu_model(void)
{
    g_autofree char *info = NULL;
    char **lines, *model = NULL;

    if (!g_file_get_contents("/proc/cpuinfo", &info, NULL, NULL)) {
        return g_strdup("unknown");
    }
    lines = g_strsplit(info, "\n", -1);
    for (char **l = lines; *l && !model; l++) {
        if (g_str_has_prefix(*l, "model name")) {
            char *colon = strchr(*l, ':');

            model = g_strdup(g_strstrip(colon ? colon + 1 : *l));
        }
    }
    g_strfreev(lines);
    return model ? model : g_strdup("unknown");
}

/* Type and device of the mount holding @path, from /proc/self/mounts. */
/* --- the guest driver's request pattern --- */

typedef struct VswapBenchPass VswapBenchPass;

typedef struct VswapBenchReq {
    VswapPageOp ops[VSWAP_BENCH_BATCH];
    unsigned n;
    int64_t submit_ns;
    bool busy;
    VswapBenchPass *pass;
} VswapBenchReq;

struct VswapBenchPass {
    VswapBenchReq reqs[VSWAP_BENCH_DEPTH];
    size_t completed;           /* pages */
    double *lat;                /* ns per page op, in completion order */
    size_t nlat;
    unsigned errors;
};

static void vswap_bench_req_done(void *opaque)
{
    VswapBenchReq *r = opaque;
    VswapBenchPass *p = r->pass;
    double lat = vswap_bench_now_ns() - r->submit_ns;

    /* Pages of a request complete together: each gets its request's latency. */
    for (unsigned i = 0; i < r->n; i++) {
        p->errors += r->ops[i].status < 0;
        p->lat[p->nlat++] = lat;
    }
    p->completed += r->n;
    r->busy = false;
}

int64_t vswap_bench_pass(VswapStore *s, VswapBenchPump *pump, void *opaque,
                         bool is_write, const uint8_t *src, uint8_t *dst,
                         size_t n, uint64_t base, double *lat)
{
    g_autofree VswapBenchPass *p = g_new0(VswapBenchPass, 1);
    size_t next = 0;
    int64_t t0 = vswap_bench_now_ns(), t;

    p->lat = lat;
    while (p->completed < n) {
        for (unsigned i = 0; i < VSWAP_BENCH_DEPTH && next < n; i++) {
            VswapBenchReq *r = &p->reqs[i];
            int ret;

            if (r->busy) {
                continue;
            }
            r->pass = p;
            r->n = MIN(VSWAP_BENCH_BATCH, n - next);
            for (unsigned j = 0; j < r->n; j++) {
                r->ops[j] = (VswapPageOp) {
                    .slot = base + next + j,
                    .page = is_write ? (void *)(src + (next + j) * PAGE) :
                                       dst + (next + j) * PAGE,
                };
            }
            r->busy = true;
            r->submit_ns = vswap_bench_now_ns();
            ret = is_write ?
                  vswap_store_write(s, r->ops, r->n, vswap_bench_req_done, r) :
                  vswap_store_read(s, r->ops, r->n, vswap_bench_req_done, r);
            if (ret < 0) {
                return ret;
            }
            next += r->n;
        }
        pump(opaque);
    }
    t = vswap_bench_now_ns() - t0;
    return p->errors ? -EIO : t;
}

/* --- the writeback workload --- */

uint64_t vswap_bench_wb_copy_bytes(const VswapBenchCorpus *c, int level)
{
    g_autoptr(GError) err = NULL;
    VswapStoreConfig cfg;
    VswapStoreStats st;
    VswapPageOp *ops;
    VswapStore *s;
    size_t n = c->npages;

    vswap_store_config_init(&cfg);
    cfg.capacity = MAX(n, cfg.capacity);
    cfg.mem_budget = n * (PAGE + 64) + (8 << 20);
    cfg.level = level;
    cfg.workers = 2;
    s = vswap_store_open(&cfg, &err);
    if (!s) {
        g_error("vswap bench: %s", err->message);
    }
    ops = g_new0(VswapPageOp, VSWAP_STORE_MAX_BATCH);
    for (size_t i = 0; i < n; i += VSWAP_STORE_MAX_BATCH) {
        unsigned k = MIN(n - i, VSWAP_STORE_MAX_BATCH);

        for (unsigned j = 0; j < k; j++) {
            ops[j] = (VswapPageOp) {
                .slot = i + j, .page = c->all + (i + j) * PAGE,
            };
        }
        if (vswap_store_write_sync(s, ops, k) < 0) {
            g_error("vswap bench: writes to a memory store failed");
        }
    }
    vswap_store_get_stats(s, &st);
    vswap_store_close(s);
    g_free(ops);
    return MAX(st.mem_live_bytes, 1);
}

unsigned vswap_bench_wb_copies(uint64_t copy_bytes, uint64_t wb_bytes)
{
    return MAX(1, (wb_bytes + copy_bytes - 1) / copy_bytes);
}

void vswap_bench_wb_config(VswapStoreConfig *cfg, uint64_t slots,
                           uint64_t est_bytes, int level)
{
    vswap_store_config_init(cfg);
    cfg->capacity = MAX(slots, cfg->capacity);
    cfg->mem_budget = MAX(est_bytes * 2 + (64 << 20),
                          2ull * cfg->segment_size);
    cfg->level = level;
    /* Two workers on the fill: it is set-up, not measured. */
    cfg->workers = 2;
}

int vswap_bench_wb_fill(VswapStore *s, VswapBenchPump *pump, void *opaque,
                        const VswapBenchCorpus *c, unsigned copies,
                        double *lat)
{
    VswapStoreStats st;

    for (unsigned k = 0; k < copies; k++) {
        int64_t ret = vswap_bench_pass(s, pump, opaque, true, c->all, NULL,
                                       c->npages, (uint64_t)k * c->npages,
                                       lat);
        if (ret < 0) {
            return ret;
        }
    }
    vswap_store_drain(s);
    vswap_store_get_stats(s, &st);
    return st.pages_disk || st.writeback_bytes ? -EAGAIN : 0;
}

int64_t vswap_bench_wb_run(VswapStore *s)
{
    int64_t t0 = vswap_bench_now_ns();

    vswap_store_set_mem_budget(s, 0, 0);
    vswap_store_process(s);
    vswap_store_drain(s);
    return vswap_bench_now_ns() - t0;
}
