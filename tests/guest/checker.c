// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * checker: fill more memory than the guest has, then verify every page.
 *
 * Runs inside a test guest whose only swap is /dev/vswap0.  It maps SIZE
 * bytes of anonymous memory (more than guest RAM, so most of it must go
 * through swap), writes a verifiable page to each 4 KiB page, reads all of
 * them back, rewrites a pseudo-random quarter in a pseudo-random order and
 * verifies everything again.  Pages come in three kinds, chosen per page and
 * pass from a hash:
 *
 *   zero  all zero                       (the driver sends them as fill 0)
 *   fill  one 32-bit value repeated      (fill entries; the value is a hash
 *                                         of the page index and the pass)
 *   data  a page of the corpus, or pseudo-random heap-like words, stamped
 *         with magic, index and pass in its first 16 bytes
 *
 * A page read back from the wrong slot, from an earlier pass, or zeroed by a
 * stray discard differs from what is expected and counts as a mismatch.
 *
 * A page the kernel cannot swap back in (the device answered an I/O error)
 * raises SIGBUS when touched.  The checker counts it as an I/O error, not
 * a mismatch, and leaves it alone from then on: an I/O error is the right
 * answer to a damaged record, wrong data never is.
 *
 * Usage: checker SIZE [CORPUS|-] [SEED]
 *   SIZE    bytes, with an optional K, M or G suffix (e.g. 640M)
 *   CORPUS  a file of 4096-byte pages (e.g. python-heap.pages); "-" or
 *           missing: generate pseudo-random data pages
 *   SEED    varies the page kinds and contents (default 1)
 *
 * Environment: CHECKER_CORRUPT=INDEX flips a byte of that page after the
 * first write, to show that the checker catches it.  CHECKER_HOLD=SECONDS
 * prints "VSWAP-SYNC when=write1" after the first write and waits, so that
 * the host can act on the stored pages (run-guest.py --corrupt-store).
 *
 * Each verify pass also times the first read of every page (the swap-in a
 * guest program waits for, if the page was out) and prints
 *   CHECKER-LAT phase=P pages=N mean_us=.. p50_us=.. p90_us=.. p99_us=..
 *           max_us=.. slow=S slow_mean_us=..
 * where "slow" counts reads that took at least SLOW_US (a fault that had
 * to wait for the swap device, not a page still in RAM or swap cache).
 *
 * Output: progress lines on stderr, phase lines "CHECKER-PHASE ..." and a
 * final line on stdout:
 *   CHECKER pages=N mismatches=M io_errors=E seconds=S zero=Z fill=F data=D
 *           rewritten=R result=PASS|FAIL
 * Exit status: 0 without mismatches, 1 with mismatches, 2 on other errors.
 *
 * Build: gcc -static -O2 -o checker checker.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE		4096u
#define WORDS		(PAGE / sizeof(uint64_t))
#define MAGIC		0x50575356u	/* "VSWP" */
#define MAX_REPORT	20
#define SLOW_US		20	/* a first read this slow waited for swap-in */

enum kind { KIND_ZERO, KIND_FILL, KIND_DATA, KIND_MAX };
static const char *const kind_name[KIND_MAX] = { "zero", "fill", "data" };

struct stamp {
	uint32_t magic;
	uint32_t pass;
	uint64_t index;
};

static const uint8_t *corpus;	/* corpus pages, or NULL */
static uint64_t corpus_pages;
static uint64_t seed = 1;
static uint64_t reported;

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t page_hash(uint64_t index, uint32_t pass, uint64_t salt)
{
	return splitmix64(splitmix64(index ^ (seed << 40)) ^
			  ((uint64_t)pass << 32) ^ salt);
}

/* 1/8 zero pages, 1/8 same-filled pages, the rest data. */
static enum kind page_kind(uint64_t index, uint32_t pass)
{
	unsigned int h = page_hash(index, pass, 0x6b696e64) % 8;

	return h == 0 ? KIND_ZERO : h == 1 ? KIND_FILL : KIND_DATA;
}

/* The repeated value of a fill page: never zero, never another pass's. */
static uint32_t fill_value(uint64_t index, uint32_t pass)
{
	return (uint32_t)page_hash(index, pass, 0x66696c6c) | 1;
}

/* Pseudo-random words that look like a heap: small ints, pointers, noise. */
static void gen_data(uint64_t *w, uint64_t index, uint32_t pass)
{
	uint64_t x = page_hash(index, pass, 0x64617461);
	unsigned int i;

	for (i = 0; i < WORDS; i++) {
		x = splitmix64(x);
		switch (x & 3) {
		case 0:
		case 1:
			w[i] = (x >> 8) & 0xff;
			break;
		case 2:
			w[i] = 0x00007f0000000000ull | ((x >> 4) & 0xfffffff0ull);
			break;
		default:
			w[i] = x;
			break;
		}
	}
}

/* Build the expected contents of page @index in pass @pass into @buf. */
static enum kind make_page(uint8_t *buf, uint64_t index, uint32_t pass)
{
	enum kind k = page_kind(index, pass);
	struct stamp st = { MAGIC, pass, index };
	uint32_t v;
	unsigned int i;

	switch (k) {
	case KIND_ZERO:
		memset(buf, 0, PAGE);
		break;
	case KIND_FILL:
		v = fill_value(index, pass);
		for (i = 0; i < PAGE / sizeof(v); i++)
			memcpy(buf + i * sizeof(v), &v, sizeof(v));
		break;
	default:
		if (corpus)
			memcpy(buf, corpus + PAGE *
			       (page_hash(index, pass, 0x636f7270) %
				corpus_pages), PAGE);
		else
			gen_data((uint64_t *)buf, index, pass);
		memcpy(buf, &st, sizeof(st));
		break;
	}
	return k;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void report(uint64_t index, uint32_t pass, const uint8_t *got,
		   const uint8_t *want)
{
	struct stamp st;
	unsigned int off;

	if (reported++ >= MAX_REPORT)
		return;
	for (off = 0; off < PAGE && got[off] == want[off]; off++)
		;
	memcpy(&st, got, sizeof(st));
	printf("CHECKER-MISMATCH page=%" PRIu64 " pass=%u kind=%s first_diff=%u"
	       " got_magic=%08x got_pass=%u got_index=%" PRIu64
	       " got_word0=%016" PRIx64 "\n",
	       index, pass, kind_name[page_kind(index, pass)], off,
	       st.magic, st.pass, st.index, *(const uint64_t *)got);
	fflush(stdout);
}

static void progress(const char *phase, uint64_t done, uint64_t total,
		     double start)
{
	fprintf(stderr, "checker: %s %3u%% (%.1f s)\n", phase,
		(unsigned int)(done * 100 / total), now() - start);
}

static void phase_done(const char *phase, uint64_t pages, double start)
{
	double s = now() - start;

	printf("CHECKER-PHASE %s pages=%" PRIu64 " seconds=%.2f MiBps=%.1f\n",
	       phase, pages, s, s > 0 ? pages * (double)PAGE / s / 1048576 : 0);
	fflush(stdout);
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return 0;
	switch (*end) {
	case 'g': case 'G':
		v <<= 10;
		/* fall through */
	case 'm': case 'M':
		v <<= 10;
		/* fall through */
	case 'k': case 'K':
		v <<= 10;
		end++;
		break;
	}
	return *end ? 0 : v;
}

static int load_corpus(const char *path)
{
	struct stat sb;
	void *p;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		fprintf(stderr, "checker: %s: %s\n", path, strerror(errno));
		return -1;
	}
	corpus_pages = sb.st_size / PAGE;
	if (!corpus_pages) {
		fprintf(stderr, "checker: %s: no whole page\n", path);
		return -1;
	}
	p = mmap(NULL, corpus_pages * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		fprintf(stderr, "checker: mmap %s: %s\n", path, strerror(errno));
		return -1;
	}
	corpus = p;
	return 0;
}

/* pass[] of a page that could not be swapped in: never touched again. */
#define PASS_LOST	UINT32_MAX

static sigjmp_buf bus_env;
static uint8_t *bus_lo, *bus_hi;	/* the checked region */
static uint64_t io_errors;

/* A swap-in failed: back to the page's sigsetjmp, if it is ours. */
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uint8_t *addr = si->si_addr;

	(void)uc;
	if (addr >= bus_lo && addr < bus_hi)
		siglongjmp(bus_env, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Called when a page raised SIGBUS. */
static void page_lost(uint64_t index, uint32_t *pass, const char *phase)
{
	if (io_errors++ < MAX_REPORT) {
		printf("CHECKER-IOERROR page=%" PRIu64 " pass=%u phase=%s\n",
		       index, pass[index], phase);
		fflush(stdout);
	}
	pass[index] = PASS_LOST;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Summarise the first-read latencies (ns) of one pass; sorts @lat. */
static void latency_report(const char *phase, uint32_t *lat, uint64_t n)
{
	uint64_t i, slow = 0;
	double sum = 0, slow_sum = 0;

	if (!lat || !n)
		return;
	for (i = 0; i < n; i++) {
		sum += lat[i];
		if (lat[i] >= SLOW_US * 1000u) {
			slow++;
			slow_sum += lat[i];
		}
	}
	qsort(lat, n, sizeof(*lat), cmp_u32);
	printf("CHECKER-LAT phase=%s pages=%" PRIu64 " mean_us=%.1f p50_us=%.1f"
	       " p90_us=%.1f p99_us=%.1f max_us=%.1f slow=%" PRIu64
	       " slow_mean_us=%.1f\n", phase, n, sum / n / 1e3,
	       lat[n / 2] / 1e3, lat[n * 9 / 10] / 1e3, lat[n * 99 / 100] / 1e3,
	       lat[n - 1] / 1e3, slow, slow ? slow_sum / slow / 1e3 : 0);
	fflush(stdout);
}

/* Verify all pages; return the number of mismatches. */
static uint64_t verify_all(uint8_t *mem, uint64_t pages, uint32_t *pass,
			   const char *phase)
{
	static uint8_t want[PAGE];
	volatile uint64_t i, bad = 0;
	double start = now();
	/* Not in @mem: its own pages must not add swap-ins to the pass. */
	uint32_t *lat = calloc(pages, sizeof(*lat));

	for (i = 0; i < pages; i++) {
		if (pass[i] == PASS_LOST)
			continue;
		make_page(want, i, pass[i]);
		if (sigsetjmp(bus_env, 1)) {
			page_lost(i, pass, phase);
			continue;
		}
		if (lat) {
			double t0 = now();

			(void)*(volatile uint8_t *)(mem + i * PAGE);
			t0 = (now() - t0) * 1e9;
			lat[i] = t0 > UINT32_MAX ? UINT32_MAX : (uint32_t)t0;
		}
		if (memcmp(mem + i * PAGE, want, PAGE)) {
			report(i, pass[i], mem + i * PAGE, want);
			bad++;
		}
		if ((i + 1) % (pages / 10 ? pages / 10 : 1) == 0)
			progress(phase, i + 1, pages, start);
	}
	phase_done(phase, pages, start);
	latency_report(phase, lat, pages);
	free(lat);
	return bad;
}

int main(int argc, char **argv)
{
	uint64_t size, pages, n;
	volatile uint64_t bad = 0;
	volatile uint64_t i, rewritten = 0;
	struct sigaction sa = { .sa_sigaction = on_sigbus,
				.sa_flags = SA_SIGINFO | SA_NODEFER };
	uint64_t count[KIND_MAX] = { 0 };	/* kinds written by pass 1 */
	double t0, start;
	uint32_t *pass;
	uint8_t *mem;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: %s SIZE [CORPUS|-] [SEED]\n", argv[0]);
		return 2;
	}
	size = parse_size(argv[1]);
	if (size < PAGE) {
		fprintf(stderr, "checker: bad size '%s'\n", argv[1]);
		return 2;
	}
	if (argc > 3)
		seed = strtoull(argv[3], NULL, 0);
	if (argc > 2 && strcmp(argv[2], "-") && load_corpus(argv[2]))
		return 2;
	pages = size / PAGE;

	/* The pass of each page, kept small: 4 bytes per 4 KiB page. */
	pass = calloc(pages, sizeof(*pass));
	mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!pass || mem == MAP_FAILED) {
		fprintf(stderr, "checker: cannot map %" PRIu64 " bytes: %s\n",
			pages * PAGE, strerror(errno));
		return 2;
	}
	/* No transparent huge pages: swap page by page. */
	madvise(mem, pages * PAGE, MADV_NOHUGEPAGE);
	bus_lo = mem;
	bus_hi = mem + pages * PAGE;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);

	printf("CHECKER-START pages=%" PRIu64 " MiB=%" PRIu64
	       " corpus_pages=%" PRIu64 " seed=%" PRIu64 "\n",
	       pages, pages * PAGE >> 20, corpus_pages, seed);
	fflush(stdout);
	t0 = now();

	/* Pass 1: write every page in order. */
	start = now();
	for (i = 0; i < pages; i++) {
		pass[i] = 1;
		count[make_page(mem + i * PAGE, i, 1)]++;
		if ((i + 1) % (pages / 10 ? pages / 10 : 1) == 0)
			progress("write1", i + 1, pages, start);
	}
	phase_done("write1", pages, start);
	/* Self-test of the checker: CHECKER_CORRUPT=INDEX damages a page. */
	if (getenv("CHECKER_CORRUPT")) {
		i = strtoull(getenv("CHECKER_CORRUPT"), NULL, 0) % pages;
		mem[i * PAGE + PAGE / 2] ^= 0x5a;
	}
	if (getenv("CHECKER_HOLD")) {
		printf("VSWAP-SYNC when=write1\n");
		fflush(stdout);
		sleep(atoi(getenv("CHECKER_HOLD")));
	}
	bad += verify_all(mem, pages, pass, "verify1");

	/*
	 * Pass 2: rewrite a quarter of the pages, visiting them in a
	 * pseudo-random order (a stride coprime with the page count), so
	 * that swap-ins are scattered.
	 */
	start = now();
	n = pages / 2 + 1;
	while (gcd(n, pages) != 1)
		n++;
	for (i = 0; i < pages; i++) {
		uint64_t idx = (i * n) % pages;

		if (page_hash(idx, 2, 0x72657772) % 4 || pass[idx] == PASS_LOST)
			continue;
		/* Writing a swapped-out page swaps it in first. */
		if (sigsetjmp(bus_env, 1)) {
			page_lost(idx, pass, "rewrite2");
			continue;
		}
		make_page(mem + idx * PAGE, idx, 2);
		pass[idx] = 2;
		rewritten++;
	}
	phase_done("rewrite2", rewritten, start);
	bad += verify_all(mem, pages, pass, "verify2");

	printf("CHECKER pages=%" PRIu64 " mismatches=%" PRIu64
	       " io_errors=%" PRIu64 " seconds=%.1f zero=%" PRIu64
	       " fill=%" PRIu64 " data=%" PRIu64 " rewritten=%" PRIu64
	       " result=%s\n",
	       pages, bad, io_errors, now() - t0, count[KIND_ZERO],
	       count[KIND_FILL], count[KIND_DATA], rewritten,
	       bad ? "FAIL" : "PASS");
	fflush(stdout);
	return bad ? 1 : 0;
}
