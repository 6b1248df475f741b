/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host memory pressure: PSI (/proc/pressure/memory), MemAvailable and
 * MemTotal (/proc/meminfo), and a memory cgroup's usage against its
 * limit: v2's memory.current, memory.max and memory.pressure, or v1's
 * memory.usage_in_bytes and memory.limit_in_bytes (no PSI per cgroup).
 */
#ifndef OC_HOST_PRESSURE_H
#define OC_HOST_PRESSURE_H

#include "policy.h"

/*
 * Fills @host from files under @proc_root (normally "/proc") and, when
 * @cgroup is not NULL, that cgroup directory (v2, or v1's memory
 * controller when it has memory.usage_in_bytes and no memory.current).
 * A file that cannot be read leaves its fields unknown; @err gets the
 * first such failure, for the log, but the call never fails as a whole.
 */
void oc_host_read(OcHost *host, const char *proc_root, const char *cgroup,
                  GError **err);

/*
 * Parses a PSI file's text ("some avg10=1.23 avg60=... total=...\n
 * full avg10=..."): Returns: TRUE with *some and *full (percent).
 */
gboolean oc_host_parse_psi(const char *text, double *some, double *full);

/* Parses /proc/meminfo text: Returns: TRUE when MemAvailable was found. */
gboolean oc_host_parse_meminfo(const char *text, guint64 *available,
                               guint64 *total);

#endif
