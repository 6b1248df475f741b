/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Host memory pressure from procfs and a memory cgroup (see host-pressure.h). */
#include <stdlib.h>
#include <string.h>

#include "host-pressure.h"

/* Largest file read: these are a few hundred bytes; meminfo some KiB. */
#define OC_HOST_MAX_FILE (64 * 1024)
/* A cgroup v1 limit at or above this is no limit (the kernel says 2^63 - 4096). */
#define OC_HOST_NO_LIMIT (1ull << 62)

/* Returns: the contents of @dir/@name (NUL-terminated), or NULL. */
static char *oc_host_read_file(const char *dir, const char *name,
                               GError **err)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autoptr(GError) local = NULL;
    char *text = NULL;
    gsize len;

    if (!g_file_get_contents(path, &text, &len, &local)) {
        if (err && !*err) {
            g_propagate_error(err, g_steal_pointer(&local));
        }
        return NULL;
    }
    if (len > OC_HOST_MAX_FILE || strlen(text) != len) {
        g_free(text);
        if (err && !*err) {
            g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                        "%s: not a text file of at most 64 KiB", path);
        }
        return NULL;
    }
    return text;
}

/* Reads the "avg10=" value from one PSI line. */
static gboolean oc_host_psi_avg10(const char *line, const char *kind,
                                  double *out)
{
    const char *p;
    char *end;
    double v;

    if (!g_str_has_prefix(line, kind) || !(p = strstr(line, "avg10="))) {
        return FALSE;
    }
    v = g_ascii_strtod(p + strlen("avg10="), &end);
    if (end == p + strlen("avg10=") || !(v >= 0 && v <= 100)) {
        return FALSE;
    }
    *out = v;
    return TRUE;
}

gboolean oc_host_parse_psi(const char *text, double *some, double *full)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", 4);
    gboolean got_some = FALSE;

    *full = -1;
    for (guint i = 0; lines[i]; i++) {
        got_some |= oc_host_psi_avg10(lines[i], "some ", some);
        oc_host_psi_avg10(lines[i], "full ", full);
    }
    return got_some;
}

/* Reads "Name:   1234 kB" from meminfo text. */
static gboolean oc_host_meminfo_field(const char *text, const char *name,
                                      guint64 *out)
{
    g_autofree char *key = g_strconcat("\n", name, ":", NULL);
    const char *p;
    guint64 kib;
    char *end;

    if (g_str_has_prefix(text, key + 1)) {
        p = text + strlen(key + 1);
    } else if ((p = strstr(text, key))) {
        p += strlen(key);
    } else {
        return FALSE;
    }
    kib = g_ascii_strtoull(p, &end, 10);
    if (end == p || kib > G_MAXUINT64 / 1024) {
        return FALSE;
    }
    *out = kib * 1024;
    return TRUE;
}

gboolean oc_host_parse_meminfo(const char *text, guint64 *available,
                               guint64 *total)
{
    if (!oc_host_meminfo_field(text, "MemTotal", total)) {
        *total = OC_UNKNOWN;
    }
    return oc_host_meminfo_field(text, "MemAvailable", available);
}

/*
 * memory.current or memory.max (v2), memory.usage_in_bytes or
 * memory.limit_in_bytes (v1): a byte count, or no limit ("max" in v2, a
 * count near 2^63 in v1).
 */
static gboolean oc_host_parse_bytes(const char *text, guint64 *out)
{
    char *end;
    guint64 v;

    if (g_str_has_prefix(text, "max")) {
        *out = OC_UNKNOWN;
        return TRUE;
    }
    v = g_ascii_strtoull(text, &end, 10);
    if (end == text || (*end && *end != '\n')) {
        return FALSE;
    }
    *out = v >= OC_HOST_NO_LIMIT ? OC_UNKNOWN : v;
    return TRUE;
}

/* The usage and limit files of cgroup v2, and of v1's memory controller. */
static const struct {
    const char *current, *max;
} oc_cgroup_files[] = {
    { "memory.current", "memory.max" },
    { "memory.usage_in_bytes", "memory.limit_in_bytes" },
};

static void oc_host_read_cgroup(OcHost *host, const char *cgroup, GError **err)
{
    g_autofree char *v2 = g_build_filename(cgroup, "memory.current", NULL);
    g_autofree char *v1 = g_build_filename(cgroup, "memory.usage_in_bytes",
                                           NULL);
    /* v1 when only its file is there; otherwise v2 and its errors. */
    guint version = !g_file_test(v2, G_FILE_TEST_EXISTS) &&
                    g_file_test(v1, G_FILE_TEST_EXISTS);
    g_autofree char *cur = oc_host_read_file(
        cgroup, oc_cgroup_files[version].current, err);
    g_autofree char *max = oc_host_read_file(
        cgroup, oc_cgroup_files[version].max, err);
    /* v1 has no PSI per cgroup. */
    g_autofree char *psi = version ? NULL :
                           oc_host_read_file(cgroup, "memory.pressure", err);
    double full;

    host->cg_some = -1;
    host->cg_max = OC_UNKNOWN;
    host->has_cgroup = cur && max && oc_host_parse_bytes(cur, &host->cg_current) &&
                       oc_host_parse_bytes(max, &host->cg_max) &&
                       host->cg_current != OC_UNKNOWN;
    if (psi && !oc_host_parse_psi(psi, &host->cg_some, &full)) {
        host->cg_some = -1;
    }
}

void oc_host_read(OcHost *host, const char *proc_root, const char *cgroup,
                  GError **err)
{
    g_autofree char *psi_dir = g_build_filename(proc_root, "pressure", NULL);
    g_autofree char *psi = oc_host_read_file(psi_dir, "memory", err);
    g_autofree char *meminfo = oc_host_read_file(proc_root, "meminfo", err);

    *host = (OcHost) {
        .psi_some = -1, .psi_full = -1,
        .mem_available = OC_UNKNOWN, .mem_total = OC_UNKNOWN,
        .cg_max = OC_UNKNOWN, .cg_some = -1,
    };
    if (psi && !oc_host_parse_psi(psi, &host->psi_some, &host->psi_full)) {
        host->psi_some = host->psi_full = -1;
    }
    if (meminfo && !oc_host_parse_meminfo(meminfo, &host->mem_available,
                                          &host->mem_total)) {
        host->mem_available = OC_UNKNOWN;
    }
    if (cgroup) {
        oc_host_read_cgroup(host, cgroup, err);
    }
}
