/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Policy traces: the daemon's inputs to the policy and its decisions,
 * one tick after another, as text that a test replays
 * (tests/unit/test-overcommit-policy.c, tests/unit/traces/).
 *
 *   policy psi-high=10 balloon-step=32M ...      ([policy] keys)
 *   tick 7
 *   host psi-some=12.5 psi-full=0 avail=300M total=4G cg-current=- ...
 *   vm name=a up=1 balloon=1 ram=256M actual=256M target=- floor=0 stats=1
 *      avail=120M swapin=0 majflt=0 store=1 budget=64M budget-max=64M reads=0
 *      qemu-mem=1 guest-rss=200M overhead=120M cpu=95.5
 *   action balloon a from=256M to=224M
 *   action floors * from=790M to=753M       (the floors stopped fitting)
 *
 * (a vm line is one line).  "-" is an unknown value.  The action lines of
 * a tick are the policy's decisions, in order; a tick without any decided
 * nothing.  The daemon writes every field; a hand-written trace may give
 * only what changes, and a replay keeps the rest (see
 * tests/unit/test-overcommit-policy.c).  Traces from before the QEMU's own
 * memory was read have no qemu-mem, guest-rss and overhead: a replay
 * then takes that memory as unknown, as the daemon did; nor have those
 * before its CPU was read a cpu (% of one CPU), taken as unknown too.
 */
#ifndef OC_TRACE_H
#define OC_TRACE_H

#include "policy.h"

/* A vm line: the fields it gives (a replay keeps the others). */
typedef struct OcTraceVm {
    OcVm vm;
    guint32 given;          /* bit n: the n-th field of OC_TRACE_VM_FIELDS */
} OcTraceVm;

typedef struct OcTraceTick {
    guint64 tick;
    guint line;             /* of the "tick" line, for messages */
    gboolean has_host;      /* a host line was given */
    OcHost host;
    GArray *vms;            /* OcTraceVm; names in @names */
    GPtrArray *names;
    GPtrArray *actions;     /* OcAction */
} OcTraceTick;

/* Copies the fields that @src gives onto @dst. */
void oc_trace_vm_apply(OcVm *dst, const OcTraceVm *src);

/* Returns: TRUE if the vm line @tv gives the field @key ("avail"). */
gboolean oc_trace_vm_gives(const OcTraceVm *tv, const char *key);

/* Appends one tick (inputs, then @actions) to @out. */
void oc_trace_format_tick(GString *out, guint64 tick, const OcHost *host,
                          const OcVm *const *vms, guint n_vms,
                          GPtrArray *actions);

/*
 * Parses a trace.  Returns: its ticks (OcTraceTick, freed with the array)
 * and in *policy the "policy" settings as [policy] key file text; NULL
 * with @err (naming the line) on a malformed line.
 */
GPtrArray *oc_trace_parse(const char *text, char **policy, GError **err);

#endif
