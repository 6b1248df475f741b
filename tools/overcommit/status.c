/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The status document and its table (see status.h). */
#include <stdio.h>

#include "status.h"
#include "oc-json.h"

static void oc_status_u64(JsonBuilder *b, const char *name, guint64 v)
{
    json_builder_set_member_name(b, name);
    if (v == OC_UNKNOWN) {
        json_builder_add_null_value(b);
    } else {
        json_builder_add_int_value(b, (gint64)v);
    }
}

static void oc_status_pct(JsonBuilder *b, const char *name, double v)
{
    json_builder_set_member_name(b, name);
    if (v < 0) {
        json_builder_add_null_value(b);
    } else {
        json_builder_add_double_value(b, v);
    }
}

static void oc_status_host(JsonBuilder *b, const OcHost *h)
{
    json_builder_set_member_name(b, "host");
    json_builder_begin_object(b);
    oc_status_pct(b, "psi-some", h->psi_some);
    oc_status_pct(b, "psi-full", h->psi_full);
    oc_status_u64(b, "mem-available", h->mem_available);
    oc_status_u64(b, "mem-total", h->mem_total);
    oc_status_u64(b, "cgroup-current", h->has_cgroup ? h->cg_current : OC_UNKNOWN);
    oc_status_u64(b, "cgroup-max", h->has_cgroup ? h->cg_max : OC_UNKNOWN);
    oc_status_pct(b, "cgroup-psi-some", h->has_cgroup ? h->cg_some : -1);
    json_builder_end_object(b);
}

char *oc_status_build(guint64 tick, const OcHost *host, OcPolicy *policy,
                      OcVmLink *const *vms, guint n_vms)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "tick");
    json_builder_add_int_value(b, tick);
    json_builder_set_member_name(b, "time");
    json_builder_add_int_value(b, g_get_real_time() / G_USEC_PER_SEC);
    json_builder_set_member_name(b, "mode");
    json_builder_add_string_value(b, oc_mode_name(policy->mode));
    json_builder_set_member_name(b, "why");
    json_builder_add_string_value(b, policy->why);
    oc_status_host(b, host);
    /* The VMs' worst case (policy.h, OcCommit), in bytes. */
    json_builder_set_member_name(b, "commit");
    json_builder_begin_object(b);
    oc_status_u64(b, "worst", policy->commit.known ? policy->commit.worst :
                                                     OC_UNKNOWN);
    oc_status_u64(b, "guest-rss", policy->commit.known ?
                                  policy->commit.guest_rss : OC_UNKNOWN);
    oc_status_u64(b, "headroom", policy->commit.known ?
                                 policy->commit.headroom : OC_UNKNOWN);
    oc_status_u64(b, "overhead", policy->commit.known ?
                                 policy->commit.overhead : OC_UNKNOWN);
    /* The same with every guest at its floor, and whether that fits. */
    oc_status_u64(b, "floors", policy->commit.known ?
                               policy->commit.floors : OC_UNKNOWN);
    json_builder_set_member_name(b, "floors-fit");
    if (policy->commit.known) {
        json_builder_add_boolean_value(b, policy->commit.floors_fit);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_end_object(b);
    json_builder_set_member_name(b, "vms");
    json_builder_begin_array(b);
    for (guint i = 0; i < n_vms; i++) {
        g_autofree char *state = oc_policy_describe_vm(
            policy, oc_vm_link_snapshot(vms[i])->name);

        oc_vm_link_status(vms[i], b, state);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    return json_generator_to_data(gen, NULL);
}

/* ---- the table ---- */

/* "256M", or "-" for a missing or null member. */
static const char *oc_status_mib(JsonObject *o, const char *name, char *buf,
                                 gsize len)
{
    guint64 v;

    if (!oc_json_get_u64(o, name, &v)) {
        return "-";
    }
    g_snprintf(buf, len, "%" G_GUINT64_FORMAT "M", v >> 20);
    return buf;
}

static double oc_status_double(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    if (!n || !JSON_NODE_HOLDS_VALUE(n)) {
        return -1;
    }
    return json_node_get_double(n);
}

static const char *oc_status_str(JsonObject *o, const char *name)
{
    const char *s = oc_json_get_string(o, name);

    return s ? s : "-";
}

static void oc_status_print_host(JsonObject *root)
{
    JsonObject *h = oc_json_get_object(root, "host");
    JsonObject *commit = oc_json_get_object(root, "commit");
    char a[32], t[32], c[32], m[32], w[32], g[32], r[32], o[32], f[32];

    printf("host: PSI some %.1f%% full %.1f%%, MemAvailable %s of %s",
           oc_status_double(h, "psi-some"), oc_status_double(h, "psi-full"),
           oc_status_mib(h, "mem-available", a, sizeof(a)),
           oc_status_mib(h, "mem-total", t, sizeof(t)));
    if (json_object_has_member(h, "cgroup-current") &&
        oc_json_get_u64(h, "cgroup-current", &(guint64){0})) {
        printf(", cgroup %s of %s (PSI some %.1f%%)",
               oc_status_mib(h, "cgroup-current", c, sizeof(c)),
               oc_status_mib(h, "cgroup-max", m, sizeof(m)),
               oc_status_double(h, "cgroup-psi-some"));
    }
    if (oc_json_get_u64(commit, "worst", &(guint64){0})) {
        printf("\nguests' worst case %s: guest RAM resident %s, %s more left "
               "to them, QEMUs' own memory %s",
               oc_status_mib(commit, "worst", w, sizeof(w)),
               oc_status_mib(commit, "guest-rss", g, sizeof(g)),
               oc_status_mib(commit, "headroom", r, sizeof(r)),
               oc_status_mib(commit, "overhead", o, sizeof(o)));
    }
    if (oc_json_get_u64(commit, "floors", &(guint64){0})) {
        JsonNode *fit = json_object_get_member(commit, "floors-fit");

        printf("\nat the guests' floors: %s, %s",
               oc_status_mib(commit, "floors", f, sizeof(f)),
               fit && JSON_NODE_HOLDS_VALUE(fit) && !json_node_get_boolean(fit) ?
               "DOES NOT FIT under the limit (less than a balloon step "
               "below it): the kernel may OOM-kill a VM" : "fits");
    }
    printf("\nmode: %s: %s (tick %" G_GINT64_FORMAT ")\n\n",
           oc_status_str(root, "mode"), oc_status_str(root, "why"),
           json_object_get_int_member_with_default(root, "tick", 0));
}

static void oc_status_print_vm(JsonObject *vm)
{
    char ram[32], act[32], tgt[32], avail[32], bud[32], bmax[32], mem[32];
    char own[32], budget[72], cpu[16] = "-";

    if (oc_status_double(vm, "qemu-cpu") >= 0) {
        g_snprintf(cpu, sizeof(cpu), "%.0f%%", oc_status_double(vm, "qemu-cpu"));
    }
    g_snprintf(budget, sizeof(budget), "%s/%s",
               oc_status_mib(vm, "budget", bud, sizeof(bud)),
               oc_status_mib(vm, "budget-max", bmax, sizeof(bmax)));
    printf("%-12s %-12s %6s %7s %6s %6s %8.0f %11s %9s %7.0f %8s %5s  %s\n",
           oc_status_str(vm, "name"), oc_status_str(vm, "state"),
           oc_status_mib(vm, "ram", ram, sizeof(ram)),
           oc_status_mib(vm, "actual", act, sizeof(act)),
           oc_status_mib(vm, "target", tgt, sizeof(tgt)),
           oc_status_mib(vm, "guest-available", avail, sizeof(avail)),
           oc_status_double(vm, "swapin-rate"), budget,
           oc_status_mib(vm, "store-mem-bytes", mem, sizeof(mem)),
           oc_status_double(vm, "read-rate"),
           oc_status_mib(vm, "overhead", own, sizeof(own)), cpu,
           oc_status_str(vm, "last-action"));
}

gboolean oc_status_print_table(const char *json, GError **err)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonNode *root_node;
    JsonObject *root;
    JsonNode *vms_node;
    JsonArray *vms;

    if (!json_parser_load_from_data(parser, json, -1, err)) {
        return FALSE;
    }
    root_node = json_parser_get_root(parser);
    if (!root_node || !JSON_NODE_HOLDS_OBJECT(root_node)) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "status is not a JSON object");
        return FALSE;
    }
    root = json_node_get_object(root_node);
    vms_node = json_object_get_member(root, "vms");
    vms = vms_node && JSON_NODE_HOLDS_ARRAY(vms_node) ?
          json_node_get_array(vms_node) : NULL;
    oc_status_print_host(root);
    printf("%-12s %-12s %6s %7s %6s %6s %8s %11s %9s %7s %8s %5s  %s\n", "VM",
           "STATE", "RAM", "BALLOON", "TARGET", "AVAIL", "SWAPIN/s", "BUDGET",
           "STORE-MEM", "READS/s", "OVERHEAD", "CPU", "LAST ACTION");
    for (guint i = 0; vms && i < json_array_get_length(vms); i++) {
        JsonNode *n = json_array_get_element(vms, i);

        if (JSON_NODE_HOLDS_OBJECT(n)) {
            oc_status_print_vm(json_node_get_object(n));
        }
    }
    for (guint i = 0; vms && i < json_array_get_length(vms); i++) {
        JsonNode *n = json_array_get_element(vms, i);
        JsonObject *vm = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        const char *error = oc_json_get_string(vm, "error");
        const char *state = oc_json_get_string(vm, "policy-state");

        if (state && *state) {
            printf("%s: %s\n", oc_status_str(vm, "name"), state);
        }
        if (error) {
            printf("%s: %s\n", oc_status_str(vm, "name"), error);
        }
    }
    return TRUE;
}
