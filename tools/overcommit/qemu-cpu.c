/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A QEMU's CPU time (see qemu-cpu.h). */
#include <string.h>
#include <unistd.h>

#include "qemu-cpu.h"
#include "qemu-memory.h"

/* /proc/PID/stat is one line of well under 1 KiB; more is not stat. */
#define OC_QEMU_MAX_STAT 4096

gboolean oc_qemu_parse_stat(const char *text, guint64 *ticks)
{
    const char *close = text ? strrchr(text, ')') : NULL;
    g_autofree char *rest = NULL;
    g_auto(GStrv) w = NULL;
    guint64 utime, stime;

    if (!close || !strchr(text, '(') || strlen(text) > OC_QEMU_MAX_STAT) {
        return FALSE;
    }
    /* After COMM: STATE is field 3, so field n is w[n - 3]. */
    rest = g_strstrip(g_strdup(close + 1));
    w = g_strsplit(rest, " ", 16);
    if (g_strv_length(w) < 14 ||
        !g_ascii_string_to_unsigned(w[11], 10, 0, G_MAXUINT64 / 2, &utime, NULL) ||
        !g_ascii_string_to_unsigned(w[12], 10, 0, G_MAXUINT64 / 2, &stime, NULL)) {
        return FALSE;
    }
    *ticks = utime + stime;
    return TRUE;
}

gboolean oc_qemu_read_cpu(const char *proc_root, gint64 pid, double *seconds,
                          GError **err)
{
    g_autofree char *name = g_strdup_printf("%" G_GINT64_FORMAT, pid);
    g_autofree char *path = NULL, *text = NULL;
    long hz = sysconf(_SC_CLK_TCK);
    guint64 ticks;

    if (pid <= 0 || hz <= 0) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL, "no QEMU PID");
        return FALSE;
    }
    path = g_build_filename(proc_root, name, "stat", NULL);
    text = oc_proc_read_bounded(path, OC_QEMU_MAX_STAT, err);
    if (!text) {
        return FALSE;
    }
    if (!oc_qemu_parse_stat(text, &ticks)) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: malformed",
                    path);
        return FALSE;
    }
    *seconds = (double)ticks / hz;
    return TRUE;
}
