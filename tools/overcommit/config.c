/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Loads and checks the configuration file (see config.h).  Unknown groups
 * and keys are errors, so that a misspelt target is not silently ignored.
 */
#include <string.h>

#include "config.h"

#define OC_VM_GROUP_PREFIX "vm "

typedef enum { OC_KEY_DOUBLE, OC_KEY_SIZE, OC_KEY_UINT } OcKeyType;

/* The [policy] keys and where they go in OcPolicyConfig. */
static const struct {
    const char *key;
    OcKeyType type;
    gsize offset;
} oc_policy_keys[] = {
#define K(name, type, field) { name, type, G_STRUCT_OFFSET(OcPolicyConfig, field) }
    K("psi-high", OC_KEY_DOUBLE, psi_high),
    K("psi-low", OC_KEY_DOUBLE, psi_low),
    K("mem-available-low", OC_KEY_SIZE, avail_low),
    K("mem-available-high", OC_KEY_SIZE, avail_high),
    K("cgroup-high", OC_KEY_DOUBLE, cg_high),
    K("cgroup-low", OC_KEY_DOUBLE, cg_low),
    K("giveback-ticks", OC_KEY_UINT, giveback_ticks),
    K("balloon-step", OC_KEY_SIZE, balloon_step),
    K("budget-step", OC_KEY_SIZE, budget_step),
    K("guest-floor", OC_KEY_SIZE, guest_floor),
    K("guest-floor-min", OC_KEY_SIZE, guest_floor_min),
    K("floor-margin", OC_KEY_DOUBLE, floor_margin),
    K("guest-reserve", OC_KEY_SIZE, guest_reserve),
    K("budget-floor", OC_KEY_SIZE, budget_floor),
    K("swapin-backoff", OC_KEY_DOUBLE, swapin_backoff),
    K("majflt-backoff", OC_KEY_DOUBLE, majflt_backoff),
    K("backoff-ticks", OC_KEY_UINT, backoff_ticks),
    K("balloon-stall-ticks", OC_KEY_UINT, balloon_stall_ticks),
    K("store-hot-reads", OC_KEY_DOUBLE, store_hot_reads),
    K("spare-window", OC_KEY_UINT, spare_window),
    K("idle-ticks", OC_KEY_UINT, idle_ticks),
    K("idle-cpu", OC_KEY_DOUBLE, idle_cpu),
    K("cgroup-lead-ticks", OC_KEY_UINT, cg_lead_ticks),
    K("cgroup-commit-high", OC_KEY_DOUBLE, commit_high),
    K("cgroup-commit-low", OC_KEY_DOUBLE, commit_low),
#undef K
};

static const char *const oc_daemon_keys[] = {
    "interval", "retry-interval", "control-socket", "state-file", "cgroup",
    "proc-root", "trace", NULL,
};

static const char *const oc_vm_keys[] = {
    "qmp", "store", "balloon", "floor", "budget-max", NULL,
};

gboolean oc_parse_size(const char *text, guint64 *out)
{
    guint64 v, mult = 1;
    char *end;

    if (!text || !g_ascii_isdigit(*text)) {
        return FALSE;
    }
    v = g_ascii_strtoull(text, &end, 10);
    switch (g_ascii_toupper(*end)) {
    case 'K': mult = 1ull << 10; end++; break;
    case 'M': mult = 1ull << 20; end++; break;
    case 'G': mult = 1ull << 30; end++; break;
    case 'T': mult = 1ull << 40; end++; break;
    }
    if (*end || v > G_MAXUINT64 / mult) {
        return FALSE;
    }
    *out = v * mult;
    return TRUE;
}

static void oc_vm_config_free(gpointer p)
{
    OcVmConfig *vm = p;

    g_free(vm->name);
    g_free(vm->qmp);
    g_free(vm->store);
    g_free(vm->balloon);
    g_free(vm);
}

void oc_config_free(OcConfig *cfg)
{
    if (!cfg) {
        return;
    }
    g_free(cfg->control_socket);
    g_free(cfg->state_file);
    g_free(cfg->cgroup);
    g_free(cfg->proc_root);
    g_free(cfg->trace);
    g_ptr_array_unref(cfg->vms);
    g_free(cfg);
}

/* Returns: FALSE with @err when @group has a key not in @known. */
static gboolean oc_config_check_keys(GKeyFile *kf, const char *group,
                                     const char *const *known, GError **err)
{
    g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);

    for (guint i = 0; keys && keys[i]; i++) {
        gboolean found = FALSE;

        for (guint j = 0; known[j] && !found; j++) {
            found = !strcmp(keys[i], known[j]);
        }
        if (!found) {
            g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                        "[%s]: unknown key '%s'", group, keys[i]);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean oc_config_size(GKeyFile *kf, const char *group,
                               const char *key, guint64 *out, GError **err)
{
    g_autofree char *text = g_key_file_get_string(kf, group, key, NULL);

    if (text && !oc_parse_size(g_strstrip(text), out)) {
        g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    "[%s] %s: '%s' is not a size (such as 512M)", group, key,
                    text);
        return FALSE;
    }
    return TRUE;
}

static gboolean oc_config_uint(GKeyFile *kf, const char *group,
                               const char *key, guint *out, GError **err)
{
    g_autofree char *text = g_key_file_get_string(kf, group, key, NULL);
    guint64 v;

    if (!text) {
        return TRUE;
    }
    if (!g_ascii_string_to_unsigned(g_strstrip(text), 10, 0, G_MAXUINT32 / 2,
                                    &v, NULL)) {
        g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    "[%s] %s: '%s' is not a count", group, key, text);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

static gboolean oc_config_double(GKeyFile *kf, const char *group,
                                 const char *key, double *out, GError **err)
{
    g_autofree char *text = g_key_file_get_string(kf, group, key, NULL);
    char *end;
    double v;

    if (!text) {
        return TRUE;
    }
    v = g_ascii_strtod(g_strstrip(text), &end);
    if (end == text || *end || !(v >= 0 && v < 1e12)) {
        g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    "[%s] %s: '%s' is not a number", group, key, text);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

static gboolean oc_config_policy(GKeyFile *kf, OcPolicyConfig *p, GError **err)
{
    const char *known[G_N_ELEMENTS(oc_policy_keys) + 1] = { NULL };
    char *base = (char *)p;

    for (guint i = 0; i < G_N_ELEMENTS(oc_policy_keys); i++) {
        const char *key = oc_policy_keys[i].key;
        gpointer field = base + oc_policy_keys[i].offset;
        gboolean ok = TRUE;

        known[i] = key;
        switch (oc_policy_keys[i].type) {
        case OC_KEY_DOUBLE:
            ok = oc_config_double(kf, "policy", key, field, err);
            break;
        case OC_KEY_SIZE:
            ok = oc_config_size(kf, "policy", key, field, err);
            break;
        case OC_KEY_UINT:
            ok = oc_config_uint(kf, "policy", key, field, err);
            break;
        }
        if (!ok) {
            return FALSE;
        }
    }
    if (!oc_config_check_keys(kf, "policy", known, err)) {
        return FALSE;
    }
    if (p->psi_low > p->psi_high || p->cg_low > p->cg_high ||
        p->commit_low > p->commit_high || p->avail_low > p->avail_high) {
        g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    "[policy]: each low mark must be on the calm side of its "
                    "high mark (psi-low <= psi-high, cgroup-low <= cgroup-high, "
                    "cgroup-commit-low <= cgroup-commit-high, "
                    "mem-available-low <= mem-available-high)");
        return FALSE;
    }
    if (!p->balloon_step || !p->budget_step) {
        g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    "[policy]: balloon-step and budget-step must not be 0");
        return FALSE;
    }
    if (p->spare_window < 1 || p->spare_window > 120) {
        g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    "[policy]: spare-window must be 1 to 120 ticks");
        return FALSE;
    }
    return TRUE;
}

static gboolean oc_config_vm(GKeyFile *kf, const char *group, OcConfig *cfg,
                             GError **err)
{
    OcVmConfig *vm = g_new0(OcVmConfig, 1);

    g_ptr_array_add(cfg->vms, vm);
    vm->name = g_strstrip(g_strdup(group + strlen(OC_VM_GROUP_PREFIX)));
    vm->qmp = g_key_file_get_string(kf, group, "qmp", NULL);
    vm->store = g_key_file_get_string(kf, group, "store", NULL);
    vm->balloon = g_key_file_get_string(kf, group, "balloon", NULL);
    if (!*vm->name || strchr(vm->name, ' ')) {
        g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    "[%s]: a VM's name is one word", group);
        return FALSE;
    }
    if (!vm->qmp || !*vm->qmp) {
        g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                    "[%s]: qmp (the QMP socket path) is required", group);
        return FALSE;
    }
    for (guint i = 0; i + 1 < cfg->vms->len; i++) {
        if (!strcmp(((OcVmConfig *)cfg->vms->pdata[i])->name, vm->name)) {
            g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                        "[%s]: a second VM of that name", group);
            return FALSE;
        }
    }
    return oc_config_check_keys(kf, group, oc_vm_keys, err) &&
           oc_config_size(kf, group, "floor", &vm->floor, err) &&
           oc_config_size(kf, group, "budget-max", &vm->budget_max, err);
}

static gboolean oc_config_daemon(GKeyFile *kf, OcConfig *cfg, GError **err)
{
    const char *g = "daemon";
    g_autofree char *proc_root = g_key_file_get_string(kf, g, "proc-root", NULL);

    cfg->control_socket = g_key_file_get_string(kf, g, "control-socket", NULL);
    cfg->state_file = g_key_file_get_string(kf, g, "state-file", NULL);
    cfg->cgroup = g_key_file_get_string(kf, g, "cgroup", NULL);
    cfg->trace = g_key_file_get_string(kf, g, "trace", NULL);
    cfg->proc_root = g_strdup(proc_root ? proc_root : "/proc");
    if (!oc_config_check_keys(kf, g, oc_daemon_keys, err) ||
        !oc_config_uint(kf, g, "interval", &cfg->interval, err) ||
        !oc_config_uint(kf, g, "retry-interval", &cfg->retry_interval, err)) {
        return FALSE;
    }
    if (!cfg->interval || !cfg->retry_interval) {
        g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    "[daemon]: interval and retry-interval must not be 0");
        return FALSE;
    }
    return TRUE;
}

static OcConfig *oc_config_parse(GKeyFile *kf, GError **err)
{
    g_autoptr(OcConfig) cfg = g_new0(OcConfig, 1);
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);

    cfg->interval = 2;
    cfg->retry_interval = 5;
    cfg->vms = g_ptr_array_new_with_free_func(oc_vm_config_free);
    oc_policy_config_defaults(&cfg->policy);
    if (!oc_config_daemon(kf, cfg, err) ||
        !oc_config_policy(kf, &cfg->policy, err)) {
        return NULL;
    }
    for (guint i = 0; groups[i]; i++) {
        if (!strcmp(groups[i], "daemon") || !strcmp(groups[i], "policy")) {
            continue;
        }
        if (!g_str_has_prefix(groups[i], OC_VM_GROUP_PREFIX)) {
            g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
                        "unknown group [%s] (groups: daemon, policy, "
                        "\"vm NAME\")", groups[i]);
            return NULL;
        }
        if (!oc_config_vm(kf, groups[i], cfg, err)) {
            return NULL;
        }
    }
    return g_steal_pointer(&cfg);
}

OcConfig *oc_config_load_data(const char *data, GError **err)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();

    if (!g_key_file_load_from_data(kf, data, -1, G_KEY_FILE_NONE, err)) {
        return NULL;
    }
    return oc_config_parse(kf, err);
}

OcConfig *oc_config_load(const char *path, GError **err)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();

    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, err)) {
        g_prefix_error(err, "%s: ", path);
        return NULL;
    }
    return oc_config_parse(kf, err);
}

char *oc_config_policy_format(const OcPolicyConfig *p)
{
    GString *s = g_string_new("policy");
    const char *base = (const char *)p;
    char buf[G_ASCII_DTOSTR_BUF_SIZE];

    for (guint i = 0; i < G_N_ELEMENTS(oc_policy_keys); i++) {
        const void *field = base + oc_policy_keys[i].offset;

        g_string_append_printf(s, " %s=", oc_policy_keys[i].key);
        switch (oc_policy_keys[i].type) {
        case OC_KEY_DOUBLE:
            g_string_append(s, g_ascii_formatd(buf, sizeof(buf), "%g",
                                               *(const double *)field));
            break;
        case OC_KEY_SIZE:
            g_string_append_printf(s, "%" G_GUINT64_FORMAT,
                                   *(const guint64 *)field);
            break;
        case OC_KEY_UINT:
            g_string_append_printf(s, "%u", *(const guint *)field);
            break;
        }
    }
    return g_string_free(s, FALSE);
}
