/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A QEMU's CPU time, to tell a busy guest from an idle one.
 *
 * A guest whose working set fits reads nothing back and takes no major
 * fault: by its balloon statistics alone it looks idle while it runs
 * flat out (the checker of the 2026-12-05 runs was taken for idle, its
 * balloon took its working set, and it read its swap back at 5000 pages
 * a second).  The QEMU's user and system time (/proc/PID/stat) tells:
 * an idle guest's vCPU halts, and its QEMU sleeps.  The text is parsed
 * as untrusted, as qemu-memory.h does.
 */
#ifndef OC_QEMU_CPU_H
#define OC_QEMU_CPU_H

#include <glib.h>

/*
 * Parses /proc/PID/stat: "PID (COMM) STATE PPID ..." where COMM may hold
 * spaces and parentheses, utime and stime being the 14th and 15th fields.
 * Returns: FALSE when malformed; else *@ticks = utime + stime, in clock
 * ticks (sysconf(_SC_CLK_TCK)).
 */
gboolean oc_qemu_parse_stat(const char *text, guint64 *ticks);

/*
 * Reads @proc_root/@pid/stat.  Returns: FALSE with @err when it cannot
 * be read or parsed; else *@seconds, the process's CPU time so far.
 */
gboolean oc_qemu_read_cpu(const char *proc_root, gint64 pid, double *seconds,
                          GError **err);

#endif
