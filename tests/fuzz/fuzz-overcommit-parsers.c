/*
 * libFuzzer target: the texts that vswap-overcommitd, which runs as root,
 * parses from the QEMUs it manages and from /proc.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A QMP peer answers x-query-ramblock with any text it likes, and any
 * process can sit at the PID the socket names, with a command name of
 * its choosing in /proc/PID/stat; smaps, PSI and meminfo come from the
 * kernel but are parsed as untrusted all the same.  The input is split
 * at its first NUL: the first part is x-query-ramblock's answer, the
 * second is given to every /proc parser, smaps against the RAM blocks
 * the first part gave (or, when it was refused, the block of pc.ram in
 * the seed corpus).
 *
 * Findings: a RAM block that is empty, wraps around or was kept from a
 * text the parser refused; more blocks than it keeps; guest RAM larger
 * than the QEMU's resident memory; a percentage or a size out of range;
 * or any sanitizer report.
 */

#include "qemu-memory.h"
#include "qemu-cpu.h"
#include "host-pressure.h"
#include "config.h"
#include "fuzz-common.h"

/* Leaves in @ranges the blocks @text gives, or else pc.ram's alone. */
static void fuzz_ramblocks(const char *text, GArray *ranges)
{
    OcRamRange pc_ram = { 0x7f4c27e00000ull, 0x7f4c37e00000ull };

    g_array_append_val(ranges, pc_ram);
    if (!oc_qemu_parse_ramblocks(text, ranges)) {
        FUZZ_CHECK(ranges->len == 1);
        FUZZ_CHECK(g_array_index(ranges, OcRamRange, 0).start == pc_ram.start);
        return;
    }
    /* Its blocks follow the one that was there. */
    FUZZ_CHECK(ranges->len > 1 && ranges->len <= 1 + OC_QEMU_MAX_RAM_BLOCKS);
    g_array_remove_index(ranges, 0);
    for (guint i = 0; i < ranges->len; i++) {
        const OcRamRange *r = &g_array_index(ranges, OcRamRange, i);

        FUZZ_CHECK(r->start < r->end);
    }
}

static void fuzz_proc(const char *text, const GArray *ranges)
{
    guint64 rss, guest, own, ticks, avail, total, size;
    double some, full;

    if (oc_qemu_parse_smaps(text, ranges, &rss, &guest, &own)) {
        FUZZ_CHECK(guest <= rss);
    }
    (void)oc_qemu_parse_stat(text, &ticks);
    if (oc_host_parse_psi(text, &some, &full)) {
        FUZZ_CHECK(some >= 0 && some <= 100);
        FUZZ_CHECK(full == -1 || (full >= 0 && full <= 100));
    }
    if (oc_host_parse_meminfo(text, &avail, &total)) {
        FUZZ_CHECK(avail <= G_MAXUINT64 - 1023);
    }
    (void)oc_parse_size(text, &size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *text = g_strndup((const char *)data, size);
    g_autoptr(GArray) ranges = g_array_new(FALSE, FALSE, sizeof(OcRamRange));
    /* g_strndup stops at the first NUL: the rest is the second text. */
    size_t first = strlen(text);
    g_autofree char *second = first < size ?
        g_strndup((const char *)data + first + 1, size - first - 1) :
        g_strdup("");

    fuzz_ramblocks(text, ranges);
    fuzz_proc(second, ranges);
    fuzz_proc(text, ranges);
    return 0;
}
