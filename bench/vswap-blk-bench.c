/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vswap-blk-bench: the store's writeback through QEMU's block layer (the
 * io-blk engine on a BlockBackend, as -object vswap-store,file=NODE uses
 * it), against what the same store does without the block layer.
 *
 *   vswap-blk-bench --blockdev driver=file,filename=F,aio=io_uring,cache.direct=on
 *   vswap-blk-bench --blockdev driver=rbd,pool=vswap,image=I,conf=C --rbd-bench
 *
 * Each repetition runs the writeback workload of vswap-bench (workload.c)
 * twice on the same store configuration and the same file, driven by the
 * same event loop (the main AioContext): once with the io-blk engine on
 * the node that --blockdev describes, once with the limit:
 *
 *   - a "file" node: the store's liburing engine on the node's file, with
 *     O_DIRECT when the node has cache.direct=on;
 *   - an "rbd" node with --rbd-bench: `rbd bench --io-type write
 *     --io-size 1M` writing as many bytes to a fresh image of the pool.
 *
 * The two alternate in order, and the ratio is taken within a repetition,
 * so that load from elsewhere on the machine hits both sides alike.
 * Medians of the ratios are reported.  Like vswap-bench, it prints figures
 * and exits 0 unless the store fails.
 */

#include "qemu/osdep.h"
#include <math.h>
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/keyval.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/timer.h"
#include "qobject/qdict.h"
#include "block/aio-wait.h"
#include "block/block-global-state.h"
#include "block/qdict.h"
#include "system/block-backend.h"
#include "vswap/io-blk.h"
#include "vswap/store.h"
#include "workload.h"

#define BENCH_MAX_REPS 99
/* rbd bench's block size: a segment, as the store writes them. */
#define BENCH_RBD_IO_SIZE (1u << 20)

/*
 * The BlockBackend's permissions, as hw/vswap/vswap-store.c asks them:
 * read, write and resize; others may read and write unchanged.
 */
#define BENCH_BLK_PERM \
    (BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE | BLK_PERM_RESIZE)
#define BENCH_BLK_SHARED \
    (BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED)
/* The store's wait looks again this often at what nobody signals. */
#define BENCH_WAIT_TICK_MS 10

typedef enum BenchRun {
    BENCH_BLK,                  /* the io-blk engine on the node */
    BENCH_LIMIT,                /* io_uring on the file, or rbd bench */
    BENCH_NRUNS,
} BenchRun;

typedef struct BenchOptions {
    const char *blockdev;       /* -blockdev style options of the node */
    QDict *node_opts;           /* parsed and flattened */
    const char *driver;
    const char *corpus;
    int level;
    unsigned reps;
    size_t max_pages;
    uint64_t wb_bytes;
    bool rbd_bench;
    unsigned wb_depth;          /* --wb-depth; 0: the store's choice */
    uint32_t segment_size;      /* --segment-kib; 0: the store's default */
    /* file nodes: the liburing engine's file */
    const char *path;
    bool direct;
    bool path_created;          /* ours to remove at the end */
} BenchOptions;

static BenchOptions opt;

static const char *run_names[BENCH_NRUNS] = {
    [BENCH_BLK] = "block layer (io-blk)",
    [BENCH_LIMIT] = "limit",
};

/* --- the event loop: QEMU's main AioContext --- */

/* Context: main loop; the store's eventfd has news. */
static void bench_store_ready(void *opaque)
{
    vswap_store_process(opaque);
}

/* VswapBenchPump: the fd handler above runs the store. */
static void bench_pump(void *opaque)
{
    aio_poll(qemu_get_aio_context(), true);
}

static void bench_wait_tick(void *opaque)
{
    QEMUTimer *tick = opaque;

    timer_mod(tick, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
                    BENCH_WAIT_TICK_MS);
}

/* VswapStoreConfig.wait: what hw/vswap/vswap-store.c does outside coroutines. */
static void bench_wait(void *opaque, VswapWaitCond *cond, void *cond_opaque)
{
    AioContext *ctx = qemu_get_aio_context();
    QEMUTimer tick;

    aio_timer_init(ctx, &tick, QEMU_CLOCK_REALTIME, SCALE_MS,
                   bench_wait_tick, &tick);
    bench_wait_tick(&tick);
    AIO_WAIT_WHILE(ctx, cond(cond_opaque));
    timer_del(&tick);
}

/* --- the node --- */

/* A BlockBackend on a new node from opt.node_opts, as vswap-store sets one up. */
static BlockBackend *bench_open_blk(void)
{
    Error *err = NULL;
    BlockDriverState *bs;
    BlockBackend *blk;

    bs = bdrv_open(NULL, NULL, qdict_clone_shallow(opt.node_opts),
                   BDRV_O_RDWR, &err);
    if (!bs) {
        error_report_err(err);
        exit(1);
    }
    blk = blk_new(qemu_get_aio_context(), BENCH_BLK_PERM, BENCH_BLK_SHARED);
    /* Segments are appended: writes grow the file. */
    blk_set_allow_write_beyond_eof(blk, true);
    blk_set_disable_request_queuing(blk, true);
    if (blk_insert_bs(blk, bs, &err) < 0) {
        error_report_err(err);
        exit(1);
    }
    bdrv_unref(bs);
    return blk;
}

static VswapIoEngine *bench_open_engine(void *opaque, int notify_fd,
                                        GError **errp)
{
    return vswap_io_blk_new(opaque, notify_fd);
}

/* --- one writeback --- */

typedef struct BenchResult {
    int64_t ns;
    int64_t cpu_ns;             /* the owner thread's CPU time meanwhile */
    uint64_t bytes;             /* written back (compressed) */
    uint64_t pages;
    unsigned depth;             /* segment writes in flight at most */
} BenchResult;

static int64_t bench_thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The writeback workload on a store whose disk tier is @blk (io-blk
 * engine), or opt.path (liburing engine) when @blk is NULL.
 */
static BenchResult bench_writeback(BlockBackend *blk,
                                   const VswapBenchCorpus *c,
                                   unsigned copies, uint64_t est_bytes,
                                   double *lat)
{
    g_autoptr(GError) gerr = NULL;
    AioContext *ctx = qemu_get_aio_context();
    VswapStoreConfig cfg;
    VswapStoreStats st;
    BenchResult res;
    VswapStore *s;
    int64_t cpu0;
    int ret;

    vswap_bench_wb_config(&cfg, (uint64_t)copies * c->npages, est_bytes,
                          opt.level);
    cfg.wait = bench_wait;
    cfg.writeback_depth = opt.wb_depth;
    if (opt.segment_size) {
        cfg.segment_size = opt.segment_size;
        cfg.mem_budget = MAX(cfg.mem_budget, 2 * opt.segment_size);
    }
    if (blk) {
        cfg.open_engine = bench_open_engine;
        cfg.engine_opaque = blk;
        cfg.name = opt.blockdev;
    } else {
        cfg.path = opt.path;
        cfg.direct_io = opt.direct;
    }
    s = vswap_store_open(&cfg, &gerr);
    if (!s) {
        error_report("vswap-blk-bench: %s", gerr->message);
        exit(1);
    }
    aio_set_fd_handler(ctx, vswap_store_fd(s), bench_store_ready, NULL,
                       NULL, NULL, s);
    ret = vswap_bench_wb_fill(s, bench_pump, s, c, copies, lat);
    if (ret < 0) {
        error_report("vswap-blk-bench: filling the store: %s",
                     ret == -EAGAIN ? "writeback started early" :
                     g_strerror(-ret));
        exit(1);
    }
    cpu0 = bench_thread_cpu_ns();
    res.ns = vswap_bench_wb_run(s);
    res.cpu_ns = bench_thread_cpu_ns() - cpu0;
    vswap_store_get_stats(s, &st);
    if (st.write_errors || st.writeback_errors || !st.writeback_bytes) {
        error_report("vswap-blk-bench: the writeback failed");
        exit(1);
    }
    res.bytes = st.writeback_bytes;
    res.depth = st.writeback_depth;
    res.pages = st.writeback_pages;
    aio_set_fd_handler(ctx, vswap_store_fd(s), NULL, NULL, NULL, NULL, NULL);
    vswap_store_close(s);
    return res;
}

/* --- the RBD limit: rbd bench --- */

static void bench_rbd(const char *const *args, gchar **out)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autofree char *err = NULL;
    const char *conf = qdict_get_try_str(opt.node_opts, "conf");
    int status;

    g_ptr_array_add(argv, (char *)"rbd");
    if (conf) {
        g_ptr_array_add(argv, (char *)"-c");
        g_ptr_array_add(argv, (char *)conf);
    }
    for (; *args; args++) {
        g_ptr_array_add(argv, (char *)*args);
    }
    g_ptr_array_add(argv, NULL);
    if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH,
                      NULL, NULL, out, &err, &status, NULL) ||
        !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        error_report("vswap-blk-bench: rbd %s failed: %s",
                     (char *)g_ptr_array_index(argv, conf ? 3 : 1),
                     err ? err : "");
        exit(1);
    }
}

/*
 * `rbd bench --io-type write --io-size 1M` of @bytes to a fresh image of
 * the node's pool, as the store writes its fresh image.  Returns the ns
 * that the rate rbd reports (ops/sec) gives for @bytes.
 */
static int64_t bench_rbd_limit(uint64_t bytes)
{
    const char *pool = qdict_get_try_str(opt.node_opts, "pool");
    const char *image = qdict_get_try_str(opt.node_opts, "image");
    g_autofree char *spec = g_strdup_printf("%s/%s-limit", pool, image);
    g_autofree char *size = g_strdup_printf("%" PRIu64 "M", bytes >> 20);
    g_autofree char *out = NULL;
    const char *line;
    double ops_per_sec;

    bench_rbd((const char *const[]) { "create", spec, "--size", size, NULL },
              NULL);
    bench_rbd((const char *const[]) {
                  "bench", "--io-type", "write", "--io-size", "1M",
                  "--io-threads", "8", "--io-pattern", "seq",
                  "--io-total", size, spec, NULL,
              }, &out);
    bench_rbd((const char *const[]) { "rm", "--no-progress", spec, NULL },
              NULL);
    line = strstr(out, "ops/sec:");
    if (!line || sscanf(line, "ops/sec: %lf", &ops_per_sec) != 1 ||
        ops_per_sec <= 0) {
        error_report("vswap-blk-bench: no ops/sec in rbd bench's output:\n%s",
                     out);
        exit(1);
    }
    return llround((bytes >> 20) / ops_per_sec * 1e9);
}

/* --- figures --- */

typedef struct Samples {
    unsigned n;
    double v[BENCH_MAX_REPS];
} Samples;

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void samples_stats(const Samples *s, double *median, double *min,
                          double *max)
{
    double v[BENCH_MAX_REPS];

    memcpy(v, s->v, s->n * sizeof(v[0]));
    qsort(v, s->n, sizeof(v[0]), bench_cmp_double);
    *median = s->n % 2 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
    *min = v[0];
    *max = v[s->n - 1];
}

static void print_samples(const char *what, const Samples *s, const char *unit)
{
    double med, min, max;

    samples_stats(s, &med, &min, &max);
    printf("  %-34s %8.3f %s [%.3f..%.3f]\n", what, med, unit, min, max);
}

/* Returns the median ratio block layer / limit. */
static double bench_corpus(const VswapBenchCorpus *c, double *lat)
{
    uint64_t copy_bytes = vswap_bench_wb_copy_bytes(c, opt.level);
    unsigned copies = vswap_bench_wb_copies(copy_bytes, opt.wb_bytes);
    Samples mbps[BENCH_NRUNS] = { 0 }, ratio = { 0 };
    Samples cpu[BENCH_NRUNS] = { 0 };   /* owner CPU ms per 100 MiB */
    BenchResult res[BENCH_NRUNS] = { 0 };
    double med, min, max;

    printf("\n== %s: %u copies of %zu pages, %.1f MiB of records ==\n",
           c->name, copies, c->npages, copy_bytes * copies / 1048576.0);
    for (unsigned rep = 0; rep < opt.reps; rep++) {
        for (unsigned k = 0; k < BENCH_NRUNS; k++) {
            /* Alternate the order, so neither side always goes first. */
            BenchRun run = (k + rep) % BENCH_NRUNS;

            if (run == BENCH_BLK) {
                BlockBackend *blk = bench_open_blk();

                res[run] = bench_writeback(blk, c, copies,
                                           copy_bytes * copies, lat);
                blk_unref(blk);
            } else if (opt.path) {
                res[run] = bench_writeback(NULL, c, copies,
                                           copy_bytes * copies, lat);
            } else {
                /* rbd bench writes what the store wrote (first in rep 1). */
                uint64_t bytes = ROUND_UP(res[BENCH_BLK].bytes,
                                          BENCH_RBD_IO_SIZE);

                res[run] = (BenchResult) {
                    .ns = bench_rbd_limit(bytes), .bytes = bytes,
                };
            }
            mbps[run].v[mbps[run].n++] = res[run].bytes * 1e3 / res[run].ns;
            cpu[run].v[cpu[run].n++] = res[run].cpu_ns / 1e6 /
                                       (res[run].bytes / (100.0 * 1048576));
        }
        ratio.v[ratio.n++] = mbps[BENCH_BLK].v[rep] / mbps[BENCH_LIMIT].v[rep];
        printf("  rep %u: %s %.0f MB/s, %s %.0f MB/s, ratio %.3f;"
               " owner CPU %.0f ms per 100 MiB", rep + 1,
               run_names[BENCH_BLK], mbps[BENCH_BLK].v[rep],
               run_names[BENCH_LIMIT], mbps[BENCH_LIMIT].v[rep],
               ratio.v[rep], cpu[BENCH_BLK].v[rep]);
        if (opt.path) {
            printf(" (liburing engine %.0f)", cpu[BENCH_LIMIT].v[rep]);
        }
        printf("\n");
        fflush(stdout);
    }
    printf("  medians of %u (MB/s of compressed bytes) [min..max]:\n",
           opt.reps);
    print_samples(run_names[BENCH_BLK], &mbps[BENCH_BLK], "MB/s");
    print_samples(run_names[BENCH_LIMIT], &mbps[BENCH_LIMIT], "MB/s");
    print_samples("ratio, same repetition", &ratio, "");
    print_samples("owner CPU, block layer", &cpu[BENCH_BLK],
                  "ms per 100 MiB");
    if (opt.path) {
        print_samples("owner CPU, liburing engine", &cpu[BENCH_LIMIT],
                      "ms per 100 MiB");
    }
    printf("  %" PRIu64 " pages, %.1f MiB written back per run, at most %u"
           " segment writes in flight\n", res[BENCH_BLK].pages,
           res[BENCH_BLK].bytes / 1048576.0, res[BENCH_BLK].depth);
    samples_stats(&ratio, &med, &min, &max);
    return med;
}

/* --- main --- */

static void usage(FILE *out)
{
    fprintf(out,
"Usage: vswap-blk-bench --blockdev OPTIONS [options]\n"
"  --blockdev OPTS  the store's node, as -blockdev takes it, e.g.\n"
"                   driver=file,filename=F,aio=io_uring,cache.direct=on\n"
"                   driver=rbd,pool=vswap,image=I,conf=CONF\n"
"  --rbd-bench      with an rbd node: compare with rbd bench (needs rbd)\n"
"  --corpus DIR     page corpus (default: $VSWAP_CORPUS or build/corpus)\n"
"  --level N        zstd level (default 1)\n"
"  --reps N         repetitions, medians reported (default 5)\n"
"  --wb-mib N       MiB of records written back per run (default 128)\n"
"  --wb-depth N     segment writes in flight, both sides (default: the\n"
"                   node's, as vswap-store's writeback-depth=0)\n"
"  --segment-kib N  the store's segment size, both sides (default: the\n"
"                   store's, as vswap-store's segment-size)\n"
"  --quick          2048 pages per corpus file, 16 MiB, 1 repetition\n");
}

/* The file node's file must exist, as vswap-store's path= makes it. */
static void bench_create_file(void)
{
    int fd;

    if (access(opt.path, F_OK) == 0) {
        return;
    }
    fd = qemu_create(opt.path, O_RDWR, 0600, &error_fatal);
    qemu_close(fd);
    opt.path_created = true;
}

static void bench_parse_node(void)
{
    Error *err = NULL;
    const char *direct;

    opt.node_opts = keyval_parse(opt.blockdev, "driver", NULL, &err);
    if (!opt.node_opts) {
        error_report_err(err);
        exit(2);
    }
    qdict_flatten(opt.node_opts);
    opt.driver = qdict_get_try_str(opt.node_opts, "driver");
    if (!opt.driver) {
        error_report("vswap-blk-bench: --blockdev needs driver=");
        exit(2);
    }
    if (!strcmp(opt.driver, "file")) {
        opt.path = qdict_get_try_str(opt.node_opts, "filename");
        direct = qdict_get_try_str(opt.node_opts, "cache.direct");
        opt.direct = direct && (!strcmp(direct, "on") ||
                                !strcmp(direct, "true"));
        if (!opt.path) {
            error_report("vswap-blk-bench: a file node needs filename=");
            exit(2);
        }
        bench_create_file();
    } else if (!opt.rbd_bench || strcmp(opt.driver, "rbd") ||
               !qdict_get_try_str(opt.node_opts, "pool") ||
               !qdict_get_try_str(opt.node_opts, "image")) {
        error_report("vswap-blk-bench: the limit is the liburing engine on a"
                     " file node's file, or --rbd-bench on an rbd node with"
                     " pool= and image=");
        exit(2);
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "blockdev", required_argument, NULL, 'b' },
        { "rbd-bench", no_argument, NULL, 'R' },
        { "corpus", required_argument, NULL, 'c' },
        { "level", required_argument, NULL, 'l' },
        { "reps", required_argument, NULL, 'r' },
        { "wb-mib", required_argument, NULL, 'w' },
        { "wb-depth", required_argument, NULL, 'd' },
        { "segment-kib", required_argument, NULL, 's' },
        { "quick", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    g_autofree char *cpu = NULL, *load = NULL, *load_end = NULL;
    g_autofree double *lat = NULL;
    unsigned reps = 0, ncorpus = 0, wb_mib = 0;
    bool quick = false;
    int ch;

    error_init(argv[0]);
    qemu_init_exec_dir(argv[0]);
    qemu_init_main_loop(&error_fatal);
    module_call_init(MODULE_INIT_QOM);
    bdrv_init();

    opt.corpus = g_getenv("VSWAP_CORPUS") ?: "build/corpus";
    opt.level = 1;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            opt.blockdev = optarg;
            break;
        case 'R':
            opt.rbd_bench = true;
            break;
        case 'c':
            opt.corpus = optarg;
            break;
        case 'l':
            opt.level = atoi(optarg);
            break;
        case 'r':
            reps = atoi(optarg);
            if (reps < 1 || reps > BENCH_MAX_REPS) {
                error_report("--reps must be 1 to %d", BENCH_MAX_REPS);
                return 2;
            }
            break;
        case 'w':
            wb_mib = atoi(optarg);
            break;
        case 'd':
            opt.wb_depth = atoi(optarg);
            break;
        case 's':
            opt.segment_size = (uint32_t)atoi(optarg) << 10;
            /* The store checks the range, as for segment-size=. */
            if (!is_power_of_2(opt.segment_size)) {
                error_report("--segment-kib must be a power of 2");
                return 2;
            }
            break;
        case 'q':
            quick = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!opt.blockdev) {
        usage(stderr);
        return 2;
    }
    bench_parse_node();
    opt.reps = reps ? reps : quick ? 1 : 5;
    opt.max_pages = quick ? 2048 : 0;
    opt.wb_bytes = (uint64_t)(wb_mib ? wb_mib : quick ? 16 : 128) << 20;

    cpu = vswap_bench_cpu_model();
    load = vswap_bench_load_average();
    printf("vswap-blk-bench: zstd level %d, %u repetition%s\n", opt.level,
           opt.reps, opt.reps == 1 ? "" : "s");
    printf("  cpu        %s, %ld online\n", cpu, sysconf(_SC_NPROCESSORS_ONLN));
    printf("  load       %s (1, 5, 15 min averages at start)\n", load);
    printf("  corpus     %s\n", opt.corpus);
    printf("  node       %s\n", opt.blockdev);
    if (opt.path) {
        printf("  limit      the store's liburing engine on %s%s\n", opt.path,
               opt.direct ? " with O_DIRECT" : ", buffered");
        run_names[BENCH_LIMIT] = "liburing engine";
    } else {
        printf("  limit      rbd bench --io-type write --io-size 1M"
               " --io-threads 8 --io-pattern seq, same bytes, fresh image\n");
        run_names[BENCH_LIMIT] = "rbd bench";
    }
    printf("  writeback: the store's writeback from a full memory tier to"
           " the smallest budget, until drained (workload.c)\n");

    for (unsigned i = 0; i < G_N_ELEMENTS(vswap_bench_corpus_files); i++) {
        VswapBenchCorpus c;
        double med;

        if (!vswap_bench_corpus_load(&c, opt.corpus,
                                     vswap_bench_corpus_files[i],
                                     opt.max_pages)) {
            fprintf(stderr, "vswap-blk-bench: no %s.pages in %s, skipped\n",
                    vswap_bench_corpus_files[i], opt.corpus);
            continue;
        }
        lat = g_renew(double, lat, c.npages);
        med = bench_corpus(&c, lat);
        printf("  %s %s: %s / %s = %.3f (target >= %.2f)\n",
               med >= (opt.path ? 0.9 : 0.8) ? "PASS" : "MISS", c.name,
               run_names[BENCH_BLK], run_names[BENCH_LIMIT], med,
               opt.path ? 0.9 : 0.8);
        vswap_bench_corpus_free(&c);
        ncorpus++;
    }
    if (!ncorpus) {
        error_report("vswap-blk-bench: no corpus files in %s", opt.corpus);
        return 1;
    }
    load_end = vswap_bench_load_average();
    printf("  load averages at the end: %s\n", load_end);
    if (opt.path_created) {
        unlink(opt.path);
    }
    qobject_unref(opt.node_opts);
    return 0;
}
