/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A QEMU's own memory: how much of its resident memory is its guest's RAM
 * and how much is QEMU itself (TCG's translation cache, device and store
 * memory, the heap), which no balloon reaches.
 *
 * The guest's RAM blocks and their host addresses come from QEMU
 * (x-query-ramblock); the resident bytes of each mapping from the kernel
 * (/proc/PID/smaps).  The PID is the QMP socket's peer (SO_PEERCRED).
 * Both texts are parsed as untrusted: a hostile QMP peer or an odd /proc
 * gives "unknown", never a crash or an unbounded read.
 */
#ifndef OC_QEMU_MEMORY_H
#define OC_QEMU_MEMORY_H

#include <glib.h>

/* The most RAM blocks kept from x-query-ramblock; more: unknown. */
#define OC_QEMU_MAX_RAM_BLOCKS 64
/* The longest smaps read; a longer one is left unknown. */
#define OC_QEMU_MAX_SMAPS (16 * 1024 * 1024)

/* One writable RAM block's host mapping. */
typedef struct OcRamRange {
    guint64 start;
    guint64 end;    /* exclusive */
} OcRamRange;

/*
 * Parses x-query-ramblock's text ("Block Name PSize Offset Used Total HVA
 * RO" and one line per block).  Appends the host range [HVA, HVA + Total)
 * of every block that is not read-only (guest RAM, not ROMs) to @ranges.
 * Returns: FALSE (and @ranges as it was) when the text is malformed, has
 * no writable block, or more than OC_QEMU_MAX_RAM_BLOCKS blocks.
 */
gboolean oc_qemu_parse_ramblocks(const char *text, GArray *ranges);

/*
 * Sums smaps's "Rss:" over every mapping (*@rss) and over the parts of
 * mappings inside @ranges (*@guest_rss; a mapping partly inside counts
 * pro rata).  *@own: the QEMU's own memory, its proportional share
 * ("Pss:") of what is outside @ranges, so that the binary and libraries
 * that several QEMUs map count once among them (Rss outside @ranges
 * when some mapping has no Pss line).  Returns: FALSE on a malformed
 * header, Rss or Pss line, or when no mapping was found.
 */
gboolean oc_qemu_parse_smaps(const char *text, const GArray *ranges,
                             guint64 *rss, guint64 *guest_rss, guint64 *own);

/*
 * Reads a text file of /proc, which may be as long as the process makes it
 * (smaps grows with its mappings), but at most @max bytes.
 * Returns: the text, or NULL with @err when it cannot be read, is longer,
 * or holds a NUL.
 */
char *oc_proc_read_bounded(const char *path, gsize max, GError **err);

/*
 * Reads @proc_root/@pid/smaps and parses it as above.
 * Returns: FALSE with @err when it cannot be read or parsed.
 */
gboolean oc_qemu_read_memory(const char *proc_root, gint64 pid,
                             const GArray *ranges, guint64 *rss,
                             guint64 *guest_rss, guint64 *own, GError **err);

#endif
