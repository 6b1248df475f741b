/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's configuration file (GKeyFile; an annotated example is
 * vswap-overcommitd.conf beside this file).
 */
#ifndef OC_CONFIG_H
#define OC_CONFIG_H

#include "policy.h"

typedef struct OcVmConfig {
    char *name;         /* from the group name, "[vm NAME]" */
    char *qmp;          /* QMP unix socket path */
    char *store;        /* vswap-store object id, or NULL */
    char *balloon;      /* balloon QOM path, or NULL to find it */
    guint64 floor;      /* least guest memory; 0: the policy's */
    guint64 budget_max; /* budget to give back to; 0: the store's at start */
} OcVmConfig;

typedef struct OcConfig {
    guint interval;         /* seconds between ticks */
    guint retry_interval;   /* seconds between connection attempts */
    char *control_socket;   /* for "status"; NULL: none */
    char *state_file;       /* JSON state written each tick; NULL: none */
    char *cgroup;           /* memory cgroup (v2 or v1) of the VMs, or NULL */
    char *proc_root;        /* "/proc"; tests point it elsewhere */
    char *trace;            /* policy trace written each tick, or NULL */
    OcPolicyConfig policy;
    GPtrArray *vms;         /* OcVmConfig */
} OcConfig;

/* Returns: the configuration; NULL with @err on any unknown or bad key. */
OcConfig *oc_config_load(const char *path, GError **err);
OcConfig *oc_config_load_data(const char *data, GError **err);
void oc_config_free(OcConfig *cfg);

/* Returns: "policy key=value ..." with every [policy] setting, for traces. */
char *oc_config_policy_format(const OcPolicyConfig *p);

/* Parses "4096", "64K", "512M", "2G". Returns: FALSE if not a size. */
gboolean oc_parse_size(const char *text, guint64 *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(OcConfig, oc_config_free)

#endif
