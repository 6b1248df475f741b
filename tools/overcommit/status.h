/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's status: the host, the policy's mode and every VM, as one
 * JSON document (served on the control socket and written to the state
 * file), and that document printed as a table for people.
 */
#ifndef OC_STATUS_H
#define OC_STATUS_H

#include "policy.h"
#include "vm.h"

/* Returns: the status document (JSON text). */
char *oc_status_build(guint64 tick, const OcHost *host, OcPolicy *policy,
                      OcVmLink *const *vms, guint n_vms);

/* Prints @json as a table to stdout. Returns: FALSE on malformed text. */
gboolean oc_status_print_table(const char *json, GError **err);

#endif
