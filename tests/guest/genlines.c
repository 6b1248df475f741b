// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * genlines: write SIZE bytes of log-like text lines, the same for a seed.
 *
 * The input of the guest benchmark's sort workload (bench/guest-bench.py):
 * the guest generates it into a tmpfs and sorts it with GNU sort, and the
 * host runs the same static binary through its own sort to know the
 * checksum the guest must print.  Lines look like a service log (time
 * stamp, host, level, a few fields from small vocabularies, numbers and an
 * id) so that they compress like real text rather than like noise.
 *
 * Usage: genlines SIZE [SEED]    (SIZE with an optional K, M or G suffix)
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t state;

static uint64_t next(void)
{
	uint64_t x = (state += 0x9e3779b97f4a7c15ull);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static const char *const levels[] = { "INFO", "INFO", "INFO", "DEBUG",
				      "WARN", "ERROR" };
static const char *const users[] = { "alice", "bob", "carol", "dave", "erin",
				     "frank", "grace", "heidi", "ivan",
				     "judy", "mallory", "oscar" };
static const char *const actions[] = { "GET /api/v1/items", "POST /api/v1/items",
				       "GET /static/app.js", "PUT /api/v1/user",
				       "DELETE /api/v1/session", "GET /health",
				       "GET /api/v1/search?q=swap",
				       "POST /api/v1/upload" };

#define N(a) (sizeof(a) / sizeof((a)[0]))

int main(int argc, char **argv)
{
	uint64_t size, written = 0;
	char *end;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s SIZE [SEED]\n", argv[0]);
		return 2;
	}
	size = strtoull(argv[1], &end, 0);
	switch (*end) {
	case 'G': case 'g': size <<= 10; /* fall through */
	case 'M': case 'm': size <<= 10; /* fall through */
	case 'K': case 'k': size <<= 10; break;
	}
	state = argc > 2 ? strtoull(argv[2], NULL, 0) : 1;
	while (written < size) {
		uint64_t r = next(), s = next(), id = next();
		int n = printf("2024-%02u-%02uT%02u:%02u:%02u.%06u host%03u %s"
			       " [worker-%u] user=%s action=\"%s\" status=%u"
			       " bytes=%u latency_ms=%u id=%016" PRIx64 "\n",
			       (unsigned int)(r % 12 + 1),
			       (unsigned int)(r >> 4) % 28 + 1,
			       (unsigned int)(r >> 9) % 24,
			       (unsigned int)(r >> 14) % 60,
			       (unsigned int)(r >> 20) % 60,
			       (unsigned int)(r >> 26) % 1000000,
			       (unsigned int)(s % 200),
			       levels[(s >> 8) % N(levels)],
			       (unsigned int)(s >> 12) % 16,
			       users[(s >> 16) % N(users)],
			       actions[(s >> 20) % N(actions)],
			       (s >> 24) % 10 ? 200 : 500,
			       (unsigned int)(s >> 28) % 100000,
			       (unsigned int)(s >> 45) % 2000, id);

		if (n < 0)
			return 1;
		written += n;
	}
	return fflush(stdout) ? 1 : 0;
}
