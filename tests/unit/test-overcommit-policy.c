/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The overcommit policy (tools/overcommit/policy.c) replayed on pressure
 * traces (tests/unit/traces, *.trace; format in tools/overcommit/trace.h).
 *
 * A replay keeps a model of every VM: a vm line sets the fields it gives,
 * and each decision is applied as if the VM obeyed at once (the balloon
 * reaches its target, which the guest's available memory pays for, and
 * the budget is set).  Each tick's decisions must equal the trace's
 * action lines, in order.  Every decision must also respect the floors
 * and name a VM that is up, and a trace may add:
 *
 *   check max-reversals=N   no VM's balloon or budget changes direction
 *                           more than N times (hysteresis: no flapping)
 *   check restored          at the end every balloon is deflated and every
 *                           budget back at its maximum (give-back)
 *   check follow-balloons   a recorded trace replayed on a policy that
 *                           decides otherwise: once the policy has set a
 *                           VM's balloon, the vm lines' actual and target
 *                           no longer move it, and their avail (and
 *                           guest-rss) are what the recorded guest had
 *                           with the replay's balloon instead of the
 *                           recorded one: it uses what it used, and has
 *                           that much less (or more) available.  The host
 *                           lines stay as recorded.
 *
 * OC_TRACE_PRINT=1 prints the decisions in trace form instead of checking
 * them, to write a new trace's action lines (then check them by hand).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>

#include "config.h"
#include "host-pressure.h"
#include "policy.h"
#include "qemu-cpu.h"
#include "qemu-memory.h"
#include "trace.h"

typedef struct Replay {
    OcPolicy *policy;
    OcHost host;
    GArray *vms;            /* OcVm, the model */
    GPtrArray *names;       /* the model's names */
    GHashTable *direction;  /* "kind vm" -> last direction (+1 / -1) */
    guint max_reversals;    /* over all VMs and kinds */
    GHashTable *reversals;  /* "kind vm" -> count */
    gboolean follow;        /* check follow-balloons */
    GHashTable *steered;    /* VM names whose balloon the replay has set */
} Replay;

static OcVm *replay_vm(Replay *r, const char *name)
{
    OcVm vm = { .target = OC_UNKNOWN, .cpu = -1 };

    for (guint i = 0; i < r->vms->len; i++) {
        if (!strcmp(g_array_index(r->vms, OcVm, i).name, name)) {
            return &g_array_index(r->vms, OcVm, i);
        }
    }
    g_ptr_array_add(r->names, g_strdup(name));
    vm.name = r->names->pdata[r->names->len - 1];
    g_array_append_val(r->vms, vm);
    return &g_array_index(r->vms, OcVm, r->vms->len - 1);
}

/* The floors, the ceilings, and that the VM is up. */
static void replay_check_action(Replay *r, const OcAction *a, guint line)
{
    const OcPolicyConfig *cfg = &r->policy->cfg;
    OcVm *vm;
    guint64 floor;

    if (a->kind == OC_ACTION_FLOORS) {
        g_assert_cmpstr(a->vm, ==, "*");
        g_assert_true(a->reason && *a->reason);
        /* Floors that do not fit are a warning, with room or without. */
        g_assert_cmpint(a->warn, ==, strstr(a->reason, "do not fit") != NULL);
        return;
    }
    vm = replay_vm(r, a->vm);
    floor = oc_policy_floor(r->policy, vm);
    if (!vm->up) {
        g_error("line %u: an action on %s, which is down", line, a->vm);
    }
    if (!a->reason || !*a->reason) {
        g_error("line %u: an action on %s without a reason", line, a->vm);
    }
    if (a->kind == OC_ACTION_BALLOON) {
        if (a->to < a->from && a->to < floor) {
            g_error("line %u: %s ballooned to %" G_GUINT64_FORMAT
                    ", below its floor %" G_GUINT64_FORMAT, line, a->vm,
                    a->to, floor);
        }
        g_assert_cmpuint(a->to, <=, vm->ram);
    } else {
        g_assert_cmpuint(a->to, >=, cfg->budget_floor);
        g_assert_cmpuint(a->to, <=, vm->budget_max);
    }
}

/* Counts changes of direction per VM and kind. */
static void replay_track_direction(Replay *r, const OcAction *a)
{
    g_autofree char *key = g_strdup_printf("%s %s",
                                           oc_action_kind_name(a->kind), a->vm);
    int dir = a->to > a->from ? 1 : -1;
    int last = GPOINTER_TO_INT(g_hash_table_lookup(r->direction, key));
    guint n;

    if (last && last != dir) {
        n = GPOINTER_TO_UINT(g_hash_table_lookup(r->reversals, key)) + 1;
        g_hash_table_insert(r->reversals, g_strdup(key), GUINT_TO_POINTER(n));
        r->max_reversals = MAX(r->max_reversals, n);
    }
    g_hash_table_insert(r->direction, g_steal_pointer(&key),
                        GINT_TO_POINTER(dir));
}

/* The VM obeys: the balloon takes its memory from what is available. */
static void replay_apply(Replay *r, const OcAction *a)
{
    OcVm *vm = replay_vm(r, a->vm);

    if (a->kind == OC_ACTION_BUDGET) {
        vm->budget = a->to;
        return;
    }
    if (a->to < vm->actual) {
        guint64 taken = vm->actual - a->to;

        vm->guest_avail = vm->guest_avail > taken ? vm->guest_avail - taken : 0;
    } else {
        vm->guest_avail += a->to - vm->actual;
    }
    vm->actual = vm->target = a->to;
}

static char *replay_format(GPtrArray *actions)
{
    g_autoptr(GString) s = g_string_new(NULL);

    oc_trace_format_tick(s, 0, &(OcHost) { 0 }, NULL, 0, actions);
    /* Only the action lines. */
    return g_strdup(strstr(s->str, "action") ? strstr(s->str, "action") : "");
}

static void replay_tick(Replay *r, OcTraceTick *t, gboolean print)
{
    g_autoptr(GPtrArray) actions = NULL;
    g_autofree char *got = NULL, *want = NULL;

    if (t->has_host) {
        r->host = t->host;
    }
    for (guint i = 0; i < t->vms->len; i++) {
        OcTraceVm *tv = &g_array_index(t->vms, OcTraceVm, i);
        OcVm *vm = replay_vm(r, tv->vm.name);
        OcVm before = *vm;

        oc_trace_vm_apply(vm, tv);
        if (r->follow && g_hash_table_contains(r->steered, vm->name) &&
            oc_trace_vm_gives(tv, "actual") && vm->up) {
            /* What the recorded balloon left it, less what ours took. */
            gint64 more = (gint64)before.actual - (gint64)vm->actual;

            if (oc_trace_vm_gives(tv, "avail")) {
                vm->guest_avail = MAX((gint64)vm->guest_avail + more, 0);
            }
            vm->guest_rss = MIN(vm->guest_rss, before.actual);
            vm->actual = before.actual;
            vm->target = before.target;
        }
    }
    actions = oc_policy_decide(r->policy, &r->host, (OcVm *)r->vms->data,
                               r->vms->len);
    got = replay_format(actions);
    want = replay_format(t->actions);
    if (print) {
        printf("tick %" G_GUINT64_FORMAT " (%s: %s)\n%s", t->tick,
               oc_mode_name(r->policy->mode), r->policy->why, got);
        for (guint i = 0; i < actions->len; i++) {
            printf("#   %s\n", ((OcAction *)actions->pdata[i])->reason);
        }
    } else if (strcmp(got, want)) {
        g_error("tick %" G_GUINT64_FORMAT " (line %u), mode %s: decided\n%s"
                "but the trace expects\n%s", t->tick, t->line,
                oc_mode_name(r->policy->mode), got, want);
    }
    for (guint i = 0; i < actions->len; i++) {
        replay_check_action(r, actions->pdata[i], t->line);
        if (((OcAction *)actions->pdata[i])->kind == OC_ACTION_FLOORS) {
            continue;
        }
        replay_track_direction(r, actions->pdata[i]);
        replay_apply(r, actions->pdata[i]);
        if (((OcAction *)actions->pdata[i])->kind == OC_ACTION_BALLOON) {
            g_hash_table_add(r->steered,
                             g_strdup(((OcAction *)actions->pdata[i])->vm));
        }
    }
}

/* Returns: @text without its "check" lines (the trace parser does not
 * know them), which set *max_reversals, *restored and *follow. */
static char *replay_checks(const char *text, gint *max_reversals,
                           gboolean *restored, gboolean *follow)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    GString *rest = g_string_new(NULL);

    for (guint i = 0; lines[i]; i++) {
        const char *line = g_strstrip(lines[i]);

        if (g_str_has_prefix(line, "check max-reversals=")) {
            *max_reversals = atoi(line + strlen("check max-reversals="));
        } else if (!strcmp(line, "check restored")) {
            *restored = TRUE;
        } else if (!strcmp(line, "check follow-balloons")) {
            *follow = TRUE;
        } else {
            g_assert_false(g_str_has_prefix(line, "check"));
            g_string_append(rest, line);
        }
        g_string_append_c(rest, '\n');     /* keeps the line numbers */
    }
    return g_string_free(rest, FALSE);
}

static void test_trace(gconstpointer data)
{
    const char *path = data;
    g_autofree char *raw = NULL, *text = NULL, *policy_text = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) ticks = NULL;
    g_autoptr(OcConfig) cfg = NULL;
    gboolean print = g_getenv("OC_TRACE_PRINT") != NULL, restored = FALSE;
    gint max_reversals = -1;
    Replay r = { 0 };

    g_assert_true(g_file_get_contents(path, &raw, NULL, &err));
    text = replay_checks(raw, &max_reversals, &restored, &r.follow);
    ticks = oc_trace_parse(text, &policy_text, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(ticks->len, >, 0);
    cfg = oc_config_load_data(policy_text, &err);
    g_assert_no_error(err);

    r.policy = oc_policy_new(&cfg->policy);
    r.vms = g_array_new(FALSE, TRUE, sizeof(OcVm));
    r.names = g_ptr_array_new_with_free_func(g_free);
    r.direction = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    r.reversals = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    r.steered = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < ticks->len; i++) {
        replay_tick(&r, ticks->pdata[i], print);
    }
    if (max_reversals >= 0) {
        g_assert_cmpint(r.max_reversals, <=, max_reversals);
    }
    for (guint i = 0; restored && i < r.vms->len; i++) {
        OcVm *vm = &g_array_index(r.vms, OcVm, i);

        if (vm->up && vm->has_balloon) {
            g_assert_cmpuint(vm->actual, ==, vm->ram);
        }
        if (vm->up && vm->has_store) {
            g_assert_cmpuint(vm->budget, ==, vm->budget_max);
        }
    }
    oc_policy_free(r.policy);
    g_array_unref(r.vms);
    g_ptr_array_unref(r.names);
    g_hash_table_unref(r.direction);
    g_hash_table_unref(r.reversals);
    g_hash_table_unref(r.steered);
}

/* A VM's backing off is immediate, also under high pressure. */
static void test_backoff_first(void)
{
    OcPolicyConfig cfg;
    g_autoptr(OcPolicy) policy = NULL;
    g_autoptr(GPtrArray) actions = NULL;
    OcHost host = { .psi_some = 50, .psi_full = 10,
                    .mem_available = 100 << 20, .mem_total = OC_UNKNOWN };
    OcVm vm = { .name = "a", .up = TRUE, .has_balloon = TRUE,
                .ram = 256 << 20, .actual = 160 << 20, .target = 160 << 20,
                .has_stats = TRUE, .guest_avail = 100 << 20,
                .swapin_rate = 5000 };
    const OcAction *a;

    oc_policy_config_defaults(&cfg);
    policy = oc_policy_new(&cfg);
    actions = oc_policy_decide(policy, &host, &vm, 1);
    g_assert_cmpuint(actions->len, ==, 1);
    a = actions->pdata[0];
    g_assert_cmpint(a->kind, ==, OC_ACTION_BALLOON);
    g_assert_cmpuint(a->to, ==, (160 + 32) << 20);
    g_assert_nonnull(strstr(a->reason, "back off: swap-in"));
    g_assert_true(oc_policy_backing_off(policy, "a"));
}

static void test_parse_psi_meminfo(void)
{
    double some = -1, full = -1;
    guint64 avail = 0, total = 0;

    g_assert_true(oc_host_parse_psi(
        "some avg10=12.34 avg60=1.00 avg300=0.50 total=123\n"
        "full avg10=3.50 avg60=0.00 avg300=0.00 total=45\n", &some, &full));
    g_assert_cmpfloat_with_epsilon(some, 12.34, 1e-9);
    g_assert_cmpfloat_with_epsilon(full, 3.5, 1e-9);
    g_assert_false(oc_host_parse_psi("some avg10=nan\n", &some, &full));
    g_assert_false(oc_host_parse_psi("garbage", &some, &full));
    g_assert_true(oc_host_parse_meminfo(
        "MemTotal:       24684836 kB\nMemFree:  1 kB\n"
        "MemAvailable:   22716768 kB\n", &avail, &total));
    g_assert_cmpuint(avail, ==, 22716768ull * 1024);
    g_assert_cmpuint(total, ==, 24684836ull * 1024);
    g_assert_false(oc_host_parse_meminfo("MemTotal: 1 kB\n", &avail, &total));
    g_assert_false(oc_host_parse_meminfo(
        "MemAvailable: 99999999999999999999999 kB\n", &avail, &total));
}

/* Writes @text to @dir/@name. */
static void write_file(const char *dir, const char *name, const char *text)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autoptr(GError) err = NULL;

    g_assert_true(g_file_set_contents(path, text, -1, &err));
}

/* cgroup v2 files, and v1's memory controller (no PSI, no "max"). */
static void test_cgroup_versions(void)
{
    g_autofree char *proc = g_dir_make_tmp("oc-proc-XXXXXX", NULL);
    g_autofree char *v1 = g_dir_make_tmp("oc-cg1-XXXXXX", NULL);
    g_autofree char *v2 = g_dir_make_tmp("oc-cg2-XXXXXX", NULL);
    g_autofree char *psi_dir = g_build_filename(proc, "pressure", NULL);
    g_autoptr(GError) err = NULL;
    OcHost host;

    g_assert_cmpint(g_mkdir(psi_dir, 0700), ==, 0);
    write_file(psi_dir, "memory", "some avg10=1.00 avg60=0 avg300=0 total=1\n");
    write_file(proc, "meminfo", "MemTotal: 1024 kB\nMemAvailable: 512 kB\n");
    write_file(v1, "memory.usage_in_bytes", "471859200\n");
    write_file(v1, "memory.limit_in_bytes", "524288000\n");
    oc_host_read(&host, proc, v1, &err);
    g_assert_no_error(err);
    g_assert_true(host.has_cgroup);
    g_assert_cmpuint(host.cg_current, ==, 471859200);
    g_assert_cmpuint(host.cg_max, ==, 524288000);
    g_assert_cmpfloat(host.cg_some, <, 0);

    /* v1 without a limit: the kernel's 2^63 - 4096. */
    write_file(v1, "memory.limit_in_bytes", "9223372036854771712\n");
    oc_host_read(&host, proc, v1, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(host.cg_max, ==, OC_UNKNOWN);

    write_file(v2, "memory.current", "1000\n");
    write_file(v2, "memory.max", "max\n");
    write_file(v2, "memory.pressure", "some avg10=7.50 avg60=0 avg300=0 total=1\n");
    oc_host_read(&host, proc, v2, &err);
    g_assert_no_error(err);
    g_assert_true(host.has_cgroup);
    g_assert_cmpuint(host.cg_current, ==, 1000);
    g_assert_cmpuint(host.cg_max, ==, OC_UNKNOWN);
    g_assert_cmpfloat_with_epsilon(host.cg_some, 7.5, 1e-9);

    /* Neither: the error names v2's file, and nothing is known. */
    oc_host_read(&host, proc, psi_dir, &err);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "memory.current"));
    g_assert_false(host.has_cgroup);
    g_clear_error(&err);

    for (const char *const *d = (const char *const[]) { v1, v2, proc, NULL };
         *d; d++) {
        g_autoptr(GDir) dir = g_dir_open(*d, 0, NULL);
        const char *name;

        while (dir && (name = g_dir_read_name(dir))) {
            g_autofree char *path = g_build_filename(*d, name, NULL);

            if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
                g_autofree char *f = g_build_filename(path, "memory", NULL);

                g_unlink(f);
                g_rmdir(path);
            } else {
                g_unlink(path);
            }
        }
        g_rmdir(*d);
    }
}

static void test_config(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(OcConfig) cfg = oc_config_load_data(
        "[daemon]\ninterval=3\n[policy]\nballoon-step=64M\n"
        "[vm web]\nqmp=/run/web.qmp\nstore=vs0\nfloor=192M\n", &err);

    g_assert_no_error(err);
    g_assert_cmpuint(cfg->interval, ==, 3);
    g_assert_cmpuint(cfg->policy.balloon_step, ==, 64 << 20);
    g_assert_cmpuint(cfg->vms->len, ==, 1);
    g_assert_cmpuint(((OcVmConfig *)cfg->vms->pdata[0])->floor, ==, 192 << 20);
    g_clear_pointer(&cfg, oc_config_free);

    /* A misspelt key, a bad size, crossed marks, a VM without a socket. */
    static const char *const bad[] = {
        "[policy]\nballon-step=64M\n",
        "[policy]\nballoon-step=64Q\n",
        "[policy]\npsi-high=1\npsi-low=5\n",
        "[policy]\ncgroup-commit-high=80\ncgroup-commit-low=90\n",
        "[policy]\nspare-window=0\n",
        "[vm web]\nstore=vs0\n",
        "[vm two words]\nqmp=/a\n",
        "[vms]\n",
    };
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        cfg = oc_config_load_data(bad[i], &err);
        g_assert_null(cfg);
        g_assert_nonnull(err);
        g_clear_error(&err);
    }
}

/* x-query-ramblock and smaps as QEMU 10.0 and Linux 6.18 write them. */
static void test_qemu_memory(void)
{
    static const char ramblocks[] =
        "              Block Name    PSize              Offset               "
        "Used              Total                HVA  RO\n"
        "                  pc.ram    4 KiB  0x0000000000000000 0x0000000010000000"
        " 0x0000000010000000 0x00007f4c27e00000  rw\n"
        "    /rom@etc/acpi/tables    4 KiB  0x0000000010080000 0x0000000000020000"
        " 0x0000000000200000 0x00007f4c4a200000  ro\n"
        "                 pc.bios    4 KiB  0x0000000010000000 0x0000000000040000"
        " 0x0000000000040000 0x00007f4c50600000  ro\n";
    /* Without Pss lines (own memory: all of Rss outside guest RAM)... */
    static const char smaps[] =
        "55d0c0000000-55d0c1000000 r-xp 00000000 08:01 123 /usr/bin/qemu\n"
        "Size:              16384 kB\nRss:                8192 kB\n"
        "Anonymous:             0 kB\nVmFlags: rd ex mr mw me sd\n"
        "7f4c27e00000-7f4c37e00000 rw-p 00000000 00:00 0 \n"
        "Size:             262144 kB\nRss:              102400 kB\n"
        "AnonHugePages:     0 kB\nFilePmdMapped:  0 kB\n"
        "7f4c37e00000-7f4c37e01000 ---p 00000000 00:00 0 \n"
        "Size:                  4 kB\nRss:                   0 kB\n"
        "7f4c40000000-7f4c42000000 rw-p 00000000 00:00 0 \n"
        "Size:              32768 kB\nRss:               20480 kB\n";
    /*
     * ... and as Linux writes it: the binary, mapped by three QEMUs,
     * counts a third (Pss), the guest's RAM and the heap in full.
     */
    static const char smaps_pss[] =
        "55d0c0000000-55d0c1000000 r-xp 00000000 08:01 123 /usr/bin/qemu\n"
        "Size:              16384 kB\nRss:                9216 kB\n"
        "Pss:                3072 kB\nPss_Dirty:             0 kB\n"
        "Shared_Clean:       9216 kB\nAnonymous:             0 kB\n"
        "7f4c27e00000-7f4c37e00000 rw-p 00000000 00:00 0 \n"
        "Size:             262144 kB\nRss:              102400 kB\n"
        "Pss:              102400 kB\nPss_Dirty:        102400 kB\n"
        "SwapPss:               0 kB\n"
        "7f4c40000000-7f4c42000000 rw-p 00000000 00:00 0 \n"
        "Size:              32768 kB\nRss:               20480 kB\n"
        "Pss:               20480 kB\n";
    static const char *const bad_ramblocks[] = {
        "",
        "pc.ram 4 KiB 0x0 0x10000000 0x10000000 0x7f4c27e00000 rw\n",
        "Block Name PSize Offset Used Total HVA RO\n"
        "pc.ram 4 KiB 0x0 0x10000000 0x10000000 0x7f4c27e00000 maybe\n",
        "Block Name PSize Offset Used Total HVA RO\n"
        "pc.ram 4 KiB 0x0 0x10000000 0x10000000 7f4c27e00000 rw\n",
        "Block Name PSize Offset Used Total HVA RO\n"
        "pc.ram 4 KiB 0x0 0x1 0xffffffffffffffff 0xffffffffffff0000 rw\n",
        "Block Name PSize Offset Used Total HVA RO\n"
        "pc.bios 4 KiB 0x0 0x40000 0x40000 0x7f4c50600000 ro\n",
    };
    static const char *const bad_smaps[] = {
        "",
        "Rss: 4 kB\n",
        "7f4c27e00000-7f4c37e00000 rw-p 0 00:00 0\nRss: lots kB\n",
        "7f4c27e00000-7f4c37e00000 rw-p 0 00:00 0\nRss: 99999999999999999999 kB\n",
        "7f4c37e00000-7f4c27e00000 rw-p 0 00:00 0\nRss: 4 kB\n",
        "7f4c27e00000-zz rw-p 0 00:00 0\nRss: 4 kB\n",
        "7f4c27e00000-7f4c37e00000 rw-p 0 00:00 0\nRss: 4 kB\nPss: most kB\n",
        "Pss: 4 kB\n7f4c27e00000-7f4c37e00000 rw-p 0 00:00 0\nRss: 4 kB\n",
        /* Each fits; their sum does not. */
        "7f4c27e00000-7f4c37e00000 rw-p 0 00:00 0\n"
        "Rss: 9007199254740991 kB\nRss: 9007199254740991 kB\n"
        "Rss: 9007199254740991 kB\n",
    };
    g_autoptr(GArray) ranges = g_array_new(FALSE, FALSE, sizeof(OcRamRange));
    guint64 rss = 0, guest = 0, own = 0;

    g_assert_true(oc_qemu_parse_ramblocks(ramblocks, ranges));
    g_assert_cmpuint(ranges->len, ==, 1);
    g_assert_cmphex(g_array_index(ranges, OcRamRange, 0).start, ==,
                    0x7f4c27e00000ull);
    g_assert_cmphex(g_array_index(ranges, OcRamRange, 0).end, ==,
                    0x7f4c37e00000ull);
    g_assert_true(oc_qemu_parse_smaps(smaps, ranges, &rss, &guest, &own));
    g_assert_cmpuint(rss, ==, (8192 + 102400 + 20480) << 10);
    g_assert_cmpuint(guest, ==, 102400 << 10);
    g_assert_cmpuint(own, ==, (8192 + 20480) << 10);
    g_assert_true(oc_qemu_parse_smaps(smaps_pss, ranges, &rss, &guest, &own));
    g_assert_cmpuint(rss, ==, (9216 + 102400 + 20480) << 10);
    g_assert_cmpuint(guest, ==, 102400 << 10);
    g_assert_cmpuint(own, ==, (3072 + 20480) << 10);
    for (guint i = 0; i < G_N_ELEMENTS(bad_ramblocks); i++) {
        g_array_set_size(ranges, 0);
        g_assert_false(oc_qemu_parse_ramblocks(bad_ramblocks[i], ranges));
        g_assert_cmpuint(ranges->len, ==, 0);
    }
    g_assert_false(oc_qemu_parse_ramblocks(NULL, ranges));
    for (guint i = 0; i < G_N_ELEMENTS(bad_smaps); i++) {
        g_assert_false(oc_qemu_parse_smaps(bad_smaps[i], ranges, &rss, &guest,
                                           &own));
    }
}

/* /proc/PID/stat as Linux 6.18 writes it, and hostile ones. */
static void test_qemu_cpu(void)
{
    static const char *const bad[] = {
        "",
        "1234 qemu S 1 1234",
        "1234 (qemu) S 1 1234 1234 0 -1 4194560 1 0 0 0 lots 20 0 0 20 0 5\n",
        "1234 (qemu) S 1 1234 1234 0 -1 4194560 1 0 0 0 -5 20 0 0 20 0 5\n",
        "1234 (qemu) S 1 1234 1234 0 -1 4194560 1 0 0 0 99999999999999999999 2\n",
        "1234 (qemu) S 1 1234\n",
    };
    guint64 ticks = 0;

    g_assert_true(oc_qemu_parse_stat(
        "4242 (qemu-system-x86) S 1 4242 4242 0 -1 4194560 90210 0 312 0 "
        "1500 250 0 0 20 0 9 0 1234567 1879048192 51200 18446744073709551615\n",
        &ticks));
    g_assert_cmpuint(ticks, ==, 1750);
    /* A name with spaces and parentheses: the fields follow the last ')'. */
    g_assert_true(oc_qemu_parse_stat(
        "7 (a) b (c) S 1 7 7 0 -1 0 0 0 0 0 11 22 0 0 20 0 1 0 1 1 1\n", &ticks));
    g_assert_cmpuint(ticks, ==, 33);
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_false(oc_qemu_parse_stat(bad[i], &ticks));
    }
    g_assert_false(oc_qemu_parse_stat(NULL, &ticks));
}

static gint compare_paths(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    const char *dir_path = g_getenv("OC_TRACE_DIR");
    g_autoptr(GDir) dir = NULL;
    g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/overcommit-policy/backoff-first", test_backoff_first);
    g_test_add_func("/overcommit-policy/parse-psi-meminfo", test_parse_psi_meminfo);
    g_test_add_func("/overcommit-policy/config", test_config);
    g_test_add_func("/overcommit-policy/cgroup-versions", test_cgroup_versions);
    g_test_add_func("/overcommit-policy/qemu-memory", test_qemu_memory);
    g_test_add_func("/overcommit-policy/qemu-cpu", test_qemu_cpu);
    dir = g_dir_open(dir_path ? dir_path : "traces", 0, NULL);
    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir))) {
        if (g_str_has_suffix(name, ".trace")) {
            g_ptr_array_add(paths, g_build_filename(dir_path ? dir_path : "traces",
                                                    name, NULL));
        }
    }
    g_ptr_array_sort(paths, compare_paths);
    for (guint i = 0; i < paths->len; i++) {
        g_autofree char *base = g_path_get_basename(paths->pdata[i]);
        g_autofree char *test = g_strdup_printf("/overcommit-policy/trace/%s",
                                                base);

        g_test_add_data_func(test, paths->pdata[i], test_trace);
    }
    return g_test_run();
}
