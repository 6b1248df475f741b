/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A QEMU's own memory against its guest's RAM (see qemu-memory.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "qemu-memory.h"

/* Parses a hex number with its "0x" prefix: the whole of @word. */
static gboolean oc_qemu_hex(const char *word, guint64 *out)
{
    if (!g_str_has_prefix(word, "0x") || !g_ascii_isxdigit(word[2])) {
        return FALSE;
    }
    return g_ascii_string_to_unsigned(word + 2, 16, 0, G_MAXUINT64, out, NULL);
}

/*
 * One block line: NAME PSIZE UNIT OFFSET USED TOTAL HVA RO.  The name has
 * no spaces (QEMU's idstr), the page size is "4 KiB": seven or eight
 * words, the last five fixed.
 */
static gboolean oc_qemu_ramblock_line(char **w, guint n, GArray *ranges)
{
    guint64 total, hva;
    OcRamRange r;

    if (n < 7 || n > 8 || !oc_qemu_hex(w[n - 3], &total) ||
        !oc_qemu_hex(w[n - 2], &hva) ||
        (strcmp(w[n - 1], "rw") && strcmp(w[n - 1], "ro"))) {
        return FALSE;
    }
    if (!strcmp(w[n - 1], "ro") || !total) {
        return TRUE;
    }
    if (hva > G_MAXUINT64 - total) {
        return FALSE;
    }
    r.start = hva;
    r.end = hva + total;
    g_array_append_val(ranges, r);
    return TRUE;
}

gboolean oc_qemu_parse_ramblocks(const char *text, GArray *ranges)
{
    g_auto(GStrv) lines = NULL;
    guint before = ranges->len, blocks = 0;

    while (text && (*text == ' ' || *text == '\t')) {
        text++;
    }
    if (!text || !g_str_has_prefix(text, "Block Name")) {
        return FALSE;
    }
    lines = g_strsplit(text, "\n", OC_QEMU_MAX_RAM_BLOCKS + 3);
    for (guint i = 1; lines[i]; i++) {
        g_auto(GStrv) w = g_strsplit_set(g_strstrip(lines[i]), " \t", -1);
        g_autoptr(GPtrArray) words = g_ptr_array_new();

        for (guint j = 0; w[j] && words->len < 9; j++) {
            if (*w[j]) {
                g_ptr_array_add(words, w[j]);
            }
        }
        if (!words->len) {
            continue;
        }
        if (++blocks > OC_QEMU_MAX_RAM_BLOCKS ||
            !oc_qemu_ramblock_line((char **)words->pdata, words->len, ranges)) {
            g_array_set_size(ranges, before);
            return FALSE;
        }
    }
    if (ranges->len == before) {
        return FALSE;
    }
    return TRUE;
}

/* Returns: TRUE if @line starts as a mapping's header: hex digits, '-'. */
static gboolean oc_qemu_smaps_is_header(const char *line)
{
    const char *p = line;

    while (g_ascii_isxdigit(*p)) {
        p++;
    }
    return p > line && *p == '-';
}

/* "7f4c27e00000-7f4c37e00000 rw-p ...": Returns: FALSE if malformed. */
static gboolean oc_qemu_smaps_header(const char *line, gsize len,
                                     guint64 *start, guint64 *end)
{
    const char *space = memchr(line, ' ', len);
    char buf[40];
    char *dash;

    if (!space || space - line >= (gssize)sizeof(buf)) {
        return FALSE;
    }
    memcpy(buf, line, space - line);
    buf[space - line] = '\0';
    dash = strchr(buf, '-');
    if (!dash) {
        return FALSE;
    }
    *dash = '\0';
    return g_ascii_string_to_unsigned(buf, 16, 0, G_MAXUINT64, start, NULL) &&
           g_ascii_string_to_unsigned(dash + 1, 16, 0, G_MAXUINT64, end,
                                      NULL) &&
           *end > *start;
}

/* Returns: the bytes of [@start, @end) inside @ranges. */
static guint64 oc_qemu_overlap(const GArray *ranges, guint64 start, guint64 end)
{
    guint64 sum = 0;

    for (guint i = 0; ranges && i < ranges->len; i++) {
        const OcRamRange *r = &g_array_index(ranges, OcRamRange, i);
        guint64 lo = MAX(start, r->start), hi = MIN(end, r->end);

        sum += hi > lo ? hi - lo : 0;
    }
    return MIN(sum, end - start);
}

/*
 * Returns: the part of @bytes of the mapping [@start, @end) that is
 * inside @ranges: a mapping partly inside a RAM block counts pro rata.
 */
static guint64 oc_qemu_inside(const GArray *ranges, guint64 start,
                              guint64 end, guint64 bytes)
{
    return (guint64)((double)bytes * oc_qemu_overlap(ranges, start, end) /
                     (end - start));
}

/*
 * "Rss:   1234 kB" after @key: Returns: FALSE if malformed (or too large
 * to add up), else the bytes in *@bytes.
 */
static gboolean oc_qemu_smaps_kib(const char *line, gsize key_len,
                                  guint64 *bytes)
{
    const char *p = line + key_len;
    guint64 kib;
    char *after;

    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (!g_ascii_isdigit(*p)) {
        return FALSE;
    }
    kib = g_ascii_strtoull(p, &after, 10);
    if (strncmp(after, " kB", 3) || kib > (G_MAXUINT64 >> 11)) {
        return FALSE;
    }
    *bytes = kib << 10;
    return TRUE;
}

gboolean oc_qemu_parse_smaps(const char *text, const GArray *ranges,
                             guint64 *rss, guint64 *guest_rss,
                             guint64 *own)
{
    guint64 start = 0, end = 0, total = 0, guest = 0, pss = 0, guest_pss = 0;
    guint64 bytes;
    guint n_rss = 0, n_pss = 0;
    gboolean in_vma = FALSE;
    const char *line = text;

    while (line && *line) {
        const char *nl = strchr(line, '\n');

        if (g_str_has_prefix(line, "Rss:")) {
            if (!in_vma || !oc_qemu_smaps_kib(line, 4, &bytes) ||
                bytes > G_MAXUINT64 - total) {
                return FALSE;
            }
            total += bytes;
            guest += oc_qemu_inside(ranges, start, end, bytes);
            n_rss++;
        } else if (g_str_has_prefix(line, "Pss:")) {
            if (!in_vma || !oc_qemu_smaps_kib(line, 4, &bytes) ||
                bytes > G_MAXUINT64 - pss) {
                return FALSE;
            }
            pss += bytes;
            guest_pss += oc_qemu_inside(ranges, start, end, bytes);
            n_pss++;
        } else if (oc_qemu_smaps_is_header(line)) {
            if (!oc_qemu_smaps_header(line, nl ? (gsize)(nl - line) :
                                      strlen(line), &start, &end)) {
                return FALSE;
            }
            in_vma = TRUE;
        }
        line = nl ? nl + 1 : NULL;
    }
    if (!in_vma) {
        return FALSE;
    }
    *rss = total;
    *guest_rss = MIN(guest, total);
    /*
     * Pages shared with other processes count once among them: three
     * QEMUs map the same binary and libraries (31 MiB each here), which
     * their cgroup is charged for once, if at all.
     */
    *own = n_pss == n_rss ? (pss > guest_pss ? pss - guest_pss : 0) :
                            total - *guest_rss;
    return TRUE;
}

char *oc_proc_read_bounded(const char *path, gsize max, GError **err)
{
    g_autoptr(GString) s = g_string_sized_new(MIN(max, 256 * 1024));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char buf[65536];
    gssize n;

    if (fd < 0) {
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "%s: %s", path, g_strerror(errno));
        return NULL;
    }
    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 || s->len + n > max) {
            if (n < 0) {
                g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: %s",
                            path, g_strerror(errno));
            } else {
                g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                            "%s: longer than %" G_GSIZE_FORMAT " bytes", path,
                            max);
            }
            close(fd);
            return NULL;
        }
        g_string_append_len(s, buf, n);
    }
    close(fd);
    if (memchr(s->str, '\0', s->len)) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: not text", path);
        return NULL;
    }
    return g_string_free(g_steal_pointer(&s), FALSE);
}

gboolean oc_qemu_read_memory(const char *proc_root, gint64 pid,
                             const GArray *ranges, guint64 *rss,
                             guint64 *guest_rss, guint64 *own, GError **err)
{
    g_autofree char *name = g_strdup_printf("%" G_GINT64_FORMAT, pid);
    g_autofree char *path = NULL, *text = NULL;

    if (pid <= 0) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL, "no QEMU PID");
        return FALSE;
    }
    path = g_build_filename(proc_root, name, "smaps", NULL);
    text = oc_proc_read_bounded(path, OC_QEMU_MAX_SMAPS, err);
    if (!text) {
        return FALSE;
    }
    if (!oc_qemu_parse_smaps(text, ranges, rss, guest_rss, own)) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "%s: malformed", path);
        return FALSE;
    }
    return TRUE;
}
