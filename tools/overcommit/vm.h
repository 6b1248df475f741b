/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One managed VM: its QMP connection, what the daemon found in it (the
 * balloon, the vswap store and its device), what it last read from it,
 * and the changes the policy asks of it.
 *
 * Reads: query-balloon, the balloon's guest-stats (with stats polling
 * turned on through guest-stats-polling-interval), query-memory-size-
 * summary, query-vswap, the store's mem-budget, and x-query-ramblock
 * with the QEMU's /proc/PID/smaps (PID from the QMP socket's peer) for
 * how much of QEMU's memory is its guest's RAM.  Writes: balloon, and
 * qom-set of mem-budget.  A VM that cannot be reached is retried every
 * retry interval and reported as unreachable, with its error.
 */
#ifndef OC_VM_H
#define OC_VM_H

#include <json-glib/json-glib.h>

#include "config.h"
#include "policy.h"

typedef struct OcVmLink OcVmLink;

/* @cfg and @proc_root ("/proc") must outlive the link. */
OcVmLink *oc_vm_link_new(const OcVmConfig *cfg, guint retry_interval,
                         guint stats_interval, const char *proc_root);
void oc_vm_link_free(OcVmLink *vm);

/* Connects when due, or starts a poll when connected and none runs. */
void oc_vm_link_tick(OcVmLink *vm);

/* The VM as last polled, for the policy (up is FALSE when stale). */
const OcVm *oc_vm_link_snapshot(OcVmLink *vm);

/* Carries out @action, which names this VM. */
void oc_vm_link_apply(OcVmLink *vm, const OcAction *action);

/* Adds the VM's status as an object to @b. */
void oc_vm_link_status(OcVmLink *vm, JsonBuilder *b, const char *policy_state);

#endif
