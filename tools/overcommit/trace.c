/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Writes and reads policy traces (see trace.h). */
#include <string.h>

#include "trace.h"
#include "config.h"

static void oc_trace_size(GString *out, const char *key, guint64 v)
{
    if (v == OC_UNKNOWN) {
        g_string_append_printf(out, " %s=-", key);
    } else if (v && !(v & ((1ull << 20) - 1))) {
        g_string_append_printf(out, " %s=%" G_GUINT64_FORMAT "M", key, v >> 20);
    } else {
        g_string_append_printf(out, " %s=%" G_GUINT64_FORMAT, key, v);
    }
}

static void oc_trace_double(GString *out, const char *key, double v)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];

    if (v < 0) {
        g_string_append_printf(out, " %s=-", key);
    } else {
        g_string_append_printf(out, " %s=%s", key,
                               g_ascii_formatd(buf, sizeof(buf), "%.2f", v));
    }
}

void oc_trace_format_tick(GString *out, guint64 tick, const OcHost *h,
                          const OcVm *const *vms, guint n_vms,
                          GPtrArray *actions)
{
    g_string_append_printf(out, "tick %" G_GUINT64_FORMAT "\nhost", tick);
    oc_trace_double(out, "psi-some", h->psi_some);
    oc_trace_double(out, "psi-full", h->psi_full);
    oc_trace_size(out, "avail", h->mem_available);
    oc_trace_size(out, "total", h->mem_total);
    if (h->has_cgroup) {
        oc_trace_size(out, "cg-current", h->cg_current);
        oc_trace_size(out, "cg-max", h->cg_max);
        oc_trace_double(out, "cg-some", h->cg_some);
    }
    g_string_append_c(out, '\n');
    for (guint i = 0; i < n_vms; i++) {
        const OcVm *vm = vms[i];

        g_string_append_printf(out, "vm name=%s up=%d balloon=%d", vm->name,
                               vm->up, vm->has_balloon);
        oc_trace_size(out, "ram", vm->ram);
        oc_trace_size(out, "actual", vm->actual);
        oc_trace_size(out, "target", vm->target);
        oc_trace_size(out, "floor", vm->floor);
        g_string_append_printf(out, " stats=%d", vm->has_stats);
        oc_trace_size(out, "avail", vm->guest_avail);
        oc_trace_double(out, "swapin", vm->swapin_rate);
        oc_trace_double(out, "majflt", vm->majflt_rate);
        g_string_append_printf(out, " store=%d", vm->has_store);
        oc_trace_size(out, "budget", vm->budget);
        oc_trace_size(out, "budget-max", vm->budget_max);
        oc_trace_double(out, "reads", vm->read_rate);
        g_string_append_printf(out, " qemu-mem=%d", vm->has_qemu_mem);
        oc_trace_size(out, "guest-rss", vm->guest_rss);
        oc_trace_size(out, "overhead", vm->overhead);
        oc_trace_double(out, "cpu", vm->cpu);
        g_string_append_c(out, '\n');
    }
    for (guint i = 0; actions && i < actions->len; i++) {
        const OcAction *a = actions->pdata[i];

        g_string_append_printf(out, "action %s %s",
                               oc_action_kind_name(a->kind), a->vm);
        oc_trace_size(out, "from", a->from);
        oc_trace_size(out, "to", a->to);
        g_string_append_c(out, '\n');
    }
}

/* ---- parsing ---- */

static void oc_trace_tick_free(gpointer p)
{
    OcTraceTick *t = p;

    g_array_unref(t->vms);
    g_ptr_array_unref(t->names);
    g_ptr_array_unref(t->actions);
    g_free(t);
}

static void oc_trace_action_free(gpointer p)
{
    OcAction *a = p;

    g_free(a->vm);
    g_free(a->reason);
    g_free(a);
}

static gboolean oc_trace_value_size(const char *v, guint64 *out)
{
    if (!strcmp(v, "-")) {
        *out = OC_UNKNOWN;
        return TRUE;
    }
    return oc_parse_size(v, out);
}

static gboolean oc_trace_value_double(const char *v, double *out)
{
    char *end;

    if (!strcmp(v, "-")) {
        *out = -1;
        return TRUE;
    }
    *out = g_ascii_strtod(v, &end);
    return end != v && !*end && *out >= 0;
}

static gboolean oc_trace_value_bool(const char *v, gboolean *out)
{
    *out = !strcmp(v, "1");
    return !strcmp(v, "0") || *out;
}

/* One key=value of a host line; Returns: FALSE if unknown or bad. */
static gboolean oc_trace_host_field(OcHost *h, const char *key, const char *v)
{
    if (!strcmp(key, "psi-some")) return oc_trace_value_double(v, &h->psi_some);
    if (!strcmp(key, "psi-full")) return oc_trace_value_double(v, &h->psi_full);
    if (!strcmp(key, "avail")) return oc_trace_value_size(v, &h->mem_available);
    if (!strcmp(key, "total")) return oc_trace_value_size(v, &h->mem_total);
    h->has_cgroup = TRUE;
    if (!strcmp(key, "cg-current")) return oc_trace_value_size(v, &h->cg_current);
    if (!strcmp(key, "cg-max")) return oc_trace_value_size(v, &h->cg_max);
    if (!strcmp(key, "cg-some")) return oc_trace_value_double(v, &h->cg_some);
    return FALSE;
}

typedef enum { OC_TF_BOOL, OC_TF_SIZE, OC_TF_DOUBLE } OcTraceFieldType;

/* The fields of a vm line other than name; their index is their bit. */
static const struct {
    const char *key;
    OcTraceFieldType type;
    gsize offset;
} oc_trace_vm_fields[] = {
#define F(key, type, field) { key, type, G_STRUCT_OFFSET(OcVm, field) }
    F("up", OC_TF_BOOL, up),
    F("balloon", OC_TF_BOOL, has_balloon),
    F("ram", OC_TF_SIZE, ram),
    F("actual", OC_TF_SIZE, actual),
    F("target", OC_TF_SIZE, target),
    F("floor", OC_TF_SIZE, floor),
    F("stats", OC_TF_BOOL, has_stats),
    F("avail", OC_TF_SIZE, guest_avail),
    F("swapin", OC_TF_DOUBLE, swapin_rate),
    F("majflt", OC_TF_DOUBLE, majflt_rate),
    F("store", OC_TF_BOOL, has_store),
    F("budget", OC_TF_SIZE, budget),
    F("budget-max", OC_TF_SIZE, budget_max),
    F("reads", OC_TF_DOUBLE, read_rate),
    /* Since issue 16's third round; older traces leave qemu-mem at 0. */
    F("qemu-mem", OC_TF_BOOL, has_qemu_mem),
    F("guest-rss", OC_TF_SIZE, guest_rss),
    F("overhead", OC_TF_SIZE, overhead),
    /* Since issue 16's fourth round; older traces leave it unknown. */
    F("cpu", OC_TF_DOUBLE, cpu),
#undef F
};

void oc_trace_vm_apply(OcVm *dst, const OcTraceVm *src)
{
    for (guint i = 0; i < G_N_ELEMENTS(oc_trace_vm_fields); i++) {
        gsize off = oc_trace_vm_fields[i].offset;

        if (!(src->given & (1u << i))) {
            continue;
        }
        switch (oc_trace_vm_fields[i].type) {
        case OC_TF_BOOL:
            memcpy((char *)dst + off, (const char *)&src->vm + off, sizeof(gboolean));
            break;
        case OC_TF_SIZE:
            memcpy((char *)dst + off, (const char *)&src->vm + off, sizeof(guint64));
            break;
        case OC_TF_DOUBLE:
            memcpy((char *)dst + off, (const char *)&src->vm + off, sizeof(double));
            break;
        }
    }
}

gboolean oc_trace_vm_gives(const OcTraceVm *tv, const char *key)
{
    for (guint i = 0; i < G_N_ELEMENTS(oc_trace_vm_fields); i++) {
        if (!strcmp(key, oc_trace_vm_fields[i].key)) {
            return (tv->given & (1u << i)) != 0;
        }
    }
    return FALSE;
}

/* One key=value of a vm line; Returns: FALSE if unknown or bad. */
static gboolean oc_trace_vm_field(OcTraceVm *tv, const char *key,
                                  const char *v, GPtrArray *names)
{
    if (!strcmp(key, "name")) {
        g_ptr_array_add(names, g_strdup(v));
        tv->vm.name = g_ptr_array_index(names, names->len - 1);
        return TRUE;
    }
    for (guint i = 0; i < G_N_ELEMENTS(oc_trace_vm_fields); i++) {
        gpointer field = (char *)&tv->vm + oc_trace_vm_fields[i].offset;

        if (strcmp(key, oc_trace_vm_fields[i].key)) {
            continue;
        }
        tv->given |= 1u << i;
        switch (oc_trace_vm_fields[i].type) {
        case OC_TF_BOOL:
            return oc_trace_value_bool(v, field);
        case OC_TF_SIZE:
            return oc_trace_value_size(v, field);
        case OC_TF_DOUBLE:
            return oc_trace_value_double(v, field);
        }
    }
    return FALSE;
}

static gboolean oc_trace_field(OcHost *h, OcTraceVm *tv, const char *key,
                               const char *v, GPtrArray *names)
{
    return h ? oc_trace_host_field(h, key, v) :
               oc_trace_vm_field(tv, key, v, names);
}

/* A host or vm line's key=value words. */
static gboolean oc_trace_fields(char **words, OcHost *h, OcTraceVm *vm,
                                GPtrArray *names)
{
    for (guint i = 1; words[i]; i++) {
        char *eq = strchr(words[i], '=');

        if (!eq) {
            return FALSE;
        }
        *eq = '\0';
        if (!oc_trace_field(h, vm, words[i], eq + 1, names)) {
            return FALSE;
        }
    }
    return TRUE;
}

/* "action KIND VM from=X to=Y" */
static gboolean oc_trace_action(char **words, GPtrArray *actions)
{
    OcAction *a;
    guint64 from, to;

    if (g_strv_length(words) != 5 || !g_str_has_prefix(words[3], "from=") ||
        !g_str_has_prefix(words[4], "to=") ||
        !oc_trace_value_size(words[3] + 5, &from) ||
        !oc_trace_value_size(words[4] + 3, &to) ||
        (strcmp(words[1], "balloon") && strcmp(words[1], "budget") &&
         strcmp(words[1], "floors"))) {
        return FALSE;
    }
    a = g_new0(OcAction, 1);
    a->kind = !strcmp(words[1], "balloon") ? OC_ACTION_BALLOON :
              !strcmp(words[1], "budget") ? OC_ACTION_BUDGET : OC_ACTION_FLOORS;
    a->vm = g_strdup(words[2]);
    a->from = from;
    a->to = to;
    g_ptr_array_add(actions, a);
    return TRUE;
}

static gboolean oc_trace_line(char *line, GPtrArray *ticks, GString *policy,
                              guint lineno)
{
    g_auto(GStrv) words = g_strsplit_set(g_strstrip(line), " \t", -1);
    OcTraceTick *t = ticks->len ? ticks->pdata[ticks->len - 1] : NULL;
    guint64 n;

    if (!words[0] || !*words[0] || words[0][0] == '#') {
        return TRUE;
    }
    if (!strcmp(words[0], "policy")) {
        for (guint i = 1; words[i]; i++) {
            g_string_append_printf(policy, "%s\n", words[i]);
        }
        return TRUE;
    }
    if (!strcmp(words[0], "tick")) {
        if (!words[1] || !g_ascii_string_to_unsigned(words[1], 10, 0, G_MAXUINT64,
                                                     &n, NULL)) {
            return FALSE;
        }
        t = g_new0(OcTraceTick, 1);
        t->tick = n;
        t->line = lineno;
        t->host = (OcHost) { .psi_some = -1, .psi_full = -1, .cg_some = -1,
                             .mem_available = OC_UNKNOWN,
                             .mem_total = OC_UNKNOWN, .cg_max = OC_UNKNOWN };
        t->vms = g_array_new(FALSE, TRUE, sizeof(OcTraceVm));
        t->names = g_ptr_array_new_with_free_func(g_free);
        t->actions = g_ptr_array_new_with_free_func(oc_trace_action_free);
        g_ptr_array_add(ticks, t);
        return TRUE;
    }
    if (!t) {
        return FALSE;
    }
    if (!strcmp(words[0], "host")) {
        t->has_host = TRUE;
        return oc_trace_fields(words, &t->host, NULL, t->names);
    }
    if (!strcmp(words[0], "vm")) {
        OcTraceVm vm = { .vm.target = OC_UNKNOWN };

        if (!oc_trace_fields(words, NULL, &vm, t->names) || !vm.vm.name) {
            return FALSE;
        }
        g_array_append_val(t->vms, vm);
        return TRUE;
    }
    if (!strcmp(words[0], "action")) {
        return oc_trace_action(words, t->actions);
    }
    return FALSE;
}

GPtrArray *oc_trace_parse(const char *text, char **policy, GError **err)
{
    g_autoptr(GPtrArray) ticks = g_ptr_array_new_with_free_func(oc_trace_tick_free);
    g_autoptr(GString) pol = g_string_new("[policy]\n");
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

    for (guint i = 0; lines[i]; i++) {
        if (!oc_trace_line(lines[i], ticks, pol, i + 1)) {
            g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                        "trace line %u: malformed: %s", i + 1, lines[i]);
            return NULL;
        }
    }
    *policy = g_string_free(g_steal_pointer(&pol), FALSE);
    return g_steal_pointer(&ticks);
}
