/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The store benchmarks' shared workloads: the page corpus, the request
 * pattern of a guest driver, and the writeback workload.  vswap-bench
 * (standalone, io_uring engine) and vswap-blk-bench (QEMU's block layer)
 * both run them, so that what they compare is the engine, not the load.
 *
 * Plain C on GLib and the store: no QEMU header, so both builds compile
 * it as it is.  The caller's event loop is abstracted as a pump.
 */
#ifndef VSWAP_BENCH_WORKLOAD_H
#define VSWAP_BENCH_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vswap/store.h"

/* Requests as a guest driver would send them: 32 pages, 8 in flight. */
#define VSWAP_BENCH_BATCH 32
#define VSWAP_BENCH_DEPTH 8

/* The corpus files, in the order the benches report them. */
extern const char *const vswap_bench_corpus_files[3];
/*
 * The names (without ".pages") of every *.pages file in @dir, sorted, or
 * NULL if there is none; free with g_strfreev().
 */
char **vswap_bench_corpus_list(const char *dir);

typedef struct VswapBenchCorpus {
    const char *name;
    uint8_t *all;               /* the file's pages */
    size_t npages;
    uint8_t *nonfill;           /* the pages that are not same-filled */
    size_t nnonfill;
} VswapBenchCorpus;

/*
 * Load @dir/@name.pages, at most @max_pages pages of it (0: all).
 * Returns false if the file is missing or empty.
 */
bool vswap_bench_corpus_load(VswapBenchCorpus *c, const char *dir,
                             const char *name, size_t max_pages);
void vswap_bench_corpus_free(VswapBenchCorpus *c);

/*
 * The caller's event loop: wait until the store or its I/O engine has
 * news (vswap_store_fd(), or a completion the engine delivers), and run
 * vswap_store_process().  May return early.
 */
typedef void VswapBenchPump(void *opaque);

/*
 * Write @n pages of @src to slots @base.. (or read them into @dst), in
 * requests of VSWAP_BENCH_BATCH pages with VSWAP_BENCH_DEPTH in flight,
 * a new request as soon as one completes.  Per-page latencies (ns, each
 * page gets its request's) go to @lat, which holds @n.  Returns the ns
 * taken, or -errno: the first request the store refused, or -EIO when a
 * page op failed.
 */
int64_t vswap_bench_pass(VswapStore *s, VswapBenchPump *pump, void *opaque,
                         bool is_write, const uint8_t *src, uint8_t *dst,
                         size_t n, uint64_t base, double *lat);

/*
 * The writeback workload: a disk-backed store is filled, with a budget
 * that keeps every record in memory, by @copies copies of a corpus file;
 * then its budget is cut to the minimum, and the time until the store has
 * drained is the writeback's.
 */

/*
 * Record bytes (mem_live_bytes) of one copy of @c in a memory-only store
 * at zstd @level: what the writeback of a copy will write.
 */
uint64_t vswap_bench_wb_copy_bytes(const VswapBenchCorpus *c, int level);

/* Copies of @c for at least @wb_bytes of records (@copy_bytes each). */
unsigned vswap_bench_wb_copies(uint64_t copy_bytes, uint64_t wb_bytes);

/*
 * The writeback store's configuration, but for its file (cfg->path,
 * open_engine, direct_io) and wait: @slots slots, a budget twice the
 * @est_bytes of records expected, two workers for the fill.
 */
void vswap_bench_wb_config(VswapStoreConfig *cfg, uint64_t slots,
                           uint64_t est_bytes, int level);

/*
 * Fill @s with @copies copies of @c at slots 0.. and drain.  Returns 0,
 * a negative errno of vswap_bench_pass(), or -EAGAIN when writeback
 * started before it could be timed (the budget is too small).
 */
int vswap_bench_wb_fill(VswapStore *s, VswapBenchPump *pump, void *opaque,
                        const VswapBenchCorpus *c, unsigned copies,
                        double *lat);

/*
 * Cut the budget of the filled @s to its minimum and drain (cfg.wait runs
 * the event loop).  Returns the ns from the cut until the drain returned.
 */
int64_t vswap_bench_wb_run(VswapStore *s);

int64_t vswap_bench_now_ns(void);

/* The machine, for the report: load averages, and the CPU model. */
char *vswap_bench_load_average(void);
char *vswap_bench_cpu_model(void);

#endif /* VSWAP_BENCH_WORKLOAD_H */
