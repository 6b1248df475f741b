/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vswap-overcommitd: the host-wide overcommit controller.
 *
 *   vswap-overcommitd [run] [-c FILE] [-v] [--ticks N]
 *   vswap-overcommitd status [-c FILE] [--socket PATH] [--state-file PATH] [--json]
 *   vswap-overcommitd check-config [-c FILE]
 *
 * Every interval, one tick: read the host's pressure, let the policy
 * decide on the VMs' last readings, log and carry out its decisions, then
 * poll every VM again (or try to reach it) and publish the status.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <glib-unix.h>

#include "config.h"
#include "control.h"
#include "host-pressure.h"
#include "policy.h"
#include "status.h"
#include "trace.h"
#include "vm.h"

#define OC_DEFAULT_CONFIG "/etc/vswap-overcommitd.conf"

typedef struct OcDaemon {
    OcConfig *cfg;
    OcPolicy *policy;
    GPtrArray *vms;             /* OcVmLink, in configuration order */
    OcHost host;
    guint64 tick;
    guint64 max_ticks;          /* 0: run until a signal */
    OcMode last_mode;
    guint timer;                /* the tick's source, 0 once removed */
    char *host_error;
    FILE *trace;
    OcControl *control;
    GMainLoop *loop;
} OcDaemon;

static gboolean oc_verbose;

static void oc_log(const char *domain, GLogLevelFlags level, const char *msg,
                   gpointer opaque)
{
    const char *tag = "info";
    g_autoptr(GDateTime) now = NULL;
    g_autofree char *stamp = NULL;

    if (level & G_LOG_LEVEL_DEBUG && !oc_verbose) {
        return;
    }
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) {
        tag = "error";
    } else if (level & G_LOG_LEVEL_WARNING) {
        tag = "warning";
    } else if (level & G_LOG_LEVEL_DEBUG) {
        tag = "debug";
    }
    now = g_date_time_new_now_local();
    stamp = g_date_time_format(now, "%H:%M:%S");
    fprintf(stderr, "%s vswap-overcommitd: %s: %s\n", stamp, tag, msg);
}

static void oc_daemon_read_host(OcDaemon *d)
{
    g_autoptr(GError) err = NULL;

    oc_host_read(&d->host, d->cfg->proc_root, d->cfg->cgroup, &err);
    if (g_strcmp0(err ? err->message : NULL, d->host_error)) {
        if (err) {
            g_warning("host: %s (that reading is left out)", err->message);
        } else {
            g_message("host: every pressure file is readable again");
        }
        g_free(d->host_error);
        d->host_error = err ? g_strdup(err->message) : NULL;
    }
}

static void oc_daemon_decide(OcDaemon *d)
{
    g_autofree const OcVm **snaps = g_new0(const OcVm *, d->vms->len + 1);
    g_autoptr(GArray) vms = g_array_new(FALSE, FALSE, sizeof(OcVm));
    g_autoptr(GPtrArray) actions = NULL;

    for (guint i = 0; i < d->vms->len; i++) {
        snaps[i] = oc_vm_link_snapshot(d->vms->pdata[i]);
        g_array_append_val(vms, *snaps[i]);
    }
    actions = oc_policy_decide(d->policy, &d->host, (OcVm *)vms->data, vms->len);
    if (d->policy->mode != d->last_mode) {
        g_message("mode %s: %s", oc_mode_name(d->policy->mode), d->policy->why);
        d->last_mode = d->policy->mode;
    }
    for (guint i = 0; i < actions->len; i++) {
        const OcAction *a = actions->pdata[i];

        if (a->kind == OC_ACTION_FLOORS) {
            if (a->warn) {
                g_warning("%s", a->reason);
            } else {
                g_message("%s", a->reason);
            }
            continue;
        }
        g_message("vm %s: %s %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT
                  " MiB: %s", a->vm, oc_action_kind_name(a->kind),
                  a->from >> 20, a->to >> 20, a->reason);
        for (guint j = 0; j < d->vms->len; j++) {
            if (!g_strcmp0(snaps[j]->name, a->vm)) {
                oc_vm_link_apply(d->vms->pdata[j], a);
            }
        }
    }
    if (d->trace) {
        g_autoptr(GString) text = g_string_new(NULL);

        oc_trace_format_tick(text, d->tick, &d->host, snaps, d->vms->len,
                             actions);
        fputs(text->str, d->trace);
        fflush(d->trace);
    }
}

static char *oc_daemon_status(gpointer opaque)
{
    OcDaemon *d = opaque;

    return oc_status_build(d->tick, &d->host, d->policy,
                           (OcVmLink *const *)d->vms->pdata, d->vms->len);
}

static void oc_daemon_write_state(OcDaemon *d)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;

    if (!d->cfg->state_file) {
        return;
    }
    text = oc_daemon_status(d);
    if (!g_file_set_contents(d->cfg->state_file, text, -1, &err)) {
        g_warning("state file: %s", err->message);
    }
}

static gboolean oc_daemon_tick(gpointer opaque)
{
    OcDaemon *d = opaque;

    /* With --ticks, one more interval lets the last changes complete. */
    if (d->max_ticks && d->tick >= d->max_ticks) {
        g_main_loop_quit(d->loop);
        d->timer = 0;
        return G_SOURCE_REMOVE;
    }
    d->tick++;
    oc_daemon_read_host(d);
    oc_daemon_decide(d);
    for (guint i = 0; i < d->vms->len; i++) {
        oc_vm_link_tick(d->vms->pdata[i]);
    }
    oc_daemon_write_state(d);
    return G_SOURCE_CONTINUE;
}

static gboolean oc_daemon_signal(gpointer opaque)
{
    OcDaemon *d = opaque;

    g_message("stopping on a signal");
    g_main_loop_quit(d->loop);
    return G_SOURCE_CONTINUE;
}

static gboolean oc_daemon_open_trace(OcDaemon *d, GError **err)
{
    g_autofree char *policy = NULL;

    if (!d->cfg->trace) {
        return TRUE;
    }
    d->trace = fopen(d->cfg->trace, "a");
    if (!d->trace) {
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "trace %s: %s", d->cfg->trace, g_strerror(errno));
        return FALSE;
    }
    policy = oc_config_policy_format(&d->cfg->policy);
    fprintf(d->trace, "# vswap-overcommitd trace\n%s\n", policy);
    return TRUE;
}

static int oc_run(OcConfig *cfg, guint64 max_ticks)
{
    OcDaemon d = { .cfg = cfg, .max_ticks = max_ticks, .last_mode = OC_MODE_HOLD };
    g_autoptr(GError) err = NULL;
    guint sig_term, sig_int;
    int ret = 0;

    d.policy = oc_policy_new(&cfg->policy);
    d.vms = g_ptr_array_new_with_free_func((GDestroyNotify)oc_vm_link_free);
    for (guint i = 0; i < cfg->vms->len; i++) {
        g_ptr_array_add(d.vms, oc_vm_link_new(cfg->vms->pdata[i],
                                              cfg->retry_interval, cfg->interval,
                                              cfg->proc_root));
    }
    d.loop = g_main_loop_new(NULL, FALSE);
    if (!oc_daemon_open_trace(&d, &err) ||
        (cfg->control_socket &&
         !(d.control = oc_control_start(cfg->control_socket, oc_daemon_status,
                                        &d, &err)))) {
        g_critical("%s", err->message);
        ret = 1;
        goto out;
    }
    g_message("managing %u VMs, a tick every %u s", d.vms->len, cfg->interval);
    sig_term = g_unix_signal_add(SIGTERM, oc_daemon_signal, &d);
    sig_int = g_unix_signal_add(SIGINT, oc_daemon_signal, &d);
    oc_daemon_tick(&d);
    d.timer = g_timeout_add_seconds(cfg->interval, oc_daemon_tick, &d);
    g_main_loop_run(d.loop);
    g_source_remove(sig_term);
    g_source_remove(sig_int);
    if (d.timer) {
        g_source_remove(d.timer);
    }
out:
    oc_control_stop(d.control);
    g_ptr_array_unref(d.vms);
    oc_policy_free(d.policy);
    g_main_loop_unref(d.loop);
    if (d.trace) {
        fclose(d.trace);
    }
    g_free(d.host_error);
    return ret;
}

/* status: from the running daemon, else from its state file. */
static int oc_status(OcConfig *cfg, const char *socket, const char *state_file,
                     gboolean as_json)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *text = NULL;

    socket = socket ? socket : cfg ? cfg->control_socket : NULL;
    state_file = state_file ? state_file : cfg ? cfg->state_file : NULL;
    if (socket) {
        text = oc_control_fetch(socket, &err);
    }
    if (!text && state_file) {
        if (err) {
            fprintf(stderr, "vswap-overcommitd: the daemon does not answer "
                    "(%s); showing its state file %s\n", err->message,
                    state_file);
            g_clear_error(&err);
        }
        if (!g_file_get_contents(state_file, &text, NULL, &err)) {
            g_clear_pointer(&text, g_free);
        }
    }
    if (!text) {
        fprintf(stderr, "vswap-overcommitd: status: %s\n",
                err ? err->message : "no control socket or state file is configured");
        return 1;
    }
    if (as_json) {
        fputs(text, stdout);
        if (!g_str_has_suffix(text, "\n")) {
            putchar('\n');
        }
        return 0;
    }
    if (!oc_status_print_table(text, &err)) {
        fprintf(stderr, "vswap-overcommitd: status: %s\n", err->message);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    g_autofree char *config_path = NULL, *socket = NULL, *state_file = NULL;
    gboolean as_json = FALSE;
    gint64 ticks = 0;
    const GOptionEntry entries[] = {
        { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
          "Configuration file (default " OC_DEFAULT_CONFIG ")", "FILE" },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &oc_verbose,
          "Log debug messages too", NULL },
        { "ticks", 0, 0, G_OPTION_ARG_INT64, &ticks,
          "run: stop after N ticks (for tests)", "N" },
        { "socket", 0, 0, G_OPTION_ARG_FILENAME, &socket,
          "status: the daemon's control socket", "PATH" },
        { "state-file", 0, 0, G_OPTION_ARG_FILENAME, &state_file,
          "status: the state file to read if the daemon does not answer", "PATH" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &as_json,
          "status: print the JSON document", NULL },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("[run|status|check-config] - host-wide overcommit "
                             "controller for vswap VMs");
    g_autoptr(GError) err = NULL;
    g_autoptr(OcConfig) cfg = NULL;
    const char *cmd;

    g_log_set_default_handler(oc_log, NULL);
    signal(SIGPIPE, SIG_IGN);
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc > 2 ||
        ticks < 0) {
        fprintf(stderr, "vswap-overcommitd: %s\n",
                err ? err->message : "one command at most, and --ticks >= 0");
        return 2;
    }
    cmd = argc == 2 ? argv[1] : "run";
    if (strcmp(cmd, "run") && strcmp(cmd, "status") && strcmp(cmd, "check-config")) {
        fprintf(stderr, "vswap-overcommitd: unknown command '%s'\n", cmd);
        return 2;
    }
    cfg = oc_config_load(config_path ? config_path : OC_DEFAULT_CONFIG, &err);
    if (!cfg && !(!strcmp(cmd, "status") && !config_path && (socket || state_file))) {
        fprintf(stderr, "vswap-overcommitd: %s\n", err->message);
        return 1;
    }
    if (!strcmp(cmd, "status")) {
        return oc_status(cfg, socket, state_file, as_json);
    }
    if (!strcmp(cmd, "check-config")) {
        printf("%s: %u VMs, OK\n", config_path ? config_path : OC_DEFAULT_CONFIG,
               cfg->vms->len);
        return 0;
    }
    return oc_run(cfg, ticks);
}
