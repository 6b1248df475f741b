/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The overcommit policy (see policy.h for what it decides and why). */
#include <string.h>

#include "policy.h"

#define OC_MIB (1024 * 1024)
/* The longest spare-window that is kept. */
#define OC_SPARE_WINDOW_MAX 120

typedef enum {
    OC_PRESSURE_LOW,
    OC_PRESSURE_MID,
    OC_PRESSURE_HIGH,
} OcPressure;

/* An inflating balloon short of its target: where it was, and for how long. */
typedef struct OcStall {
    guint64 actual;
    guint ticks;
} OcStall;

/*
 * What the policy remembers of one guest between ticks: how long it has
 * been idle, the memory it used (its size less its available memory)
 * over the last spare_window ticks, for how many readings that use has
 * not grown, and its swap-in rates over the same window.  A guest's free
 * memory is spare only beyond its peak use: a checker that frees 48 MiB
 * between rounds has that much available for a moment, and needs it back
 * the next.  And a guest is judged by its window, not by one tick: the
 * same checker reads nothing back between two rounds and thousands of
 * pages a second in them.
 */
typedef struct OcVmHistory {
    guint idle_ticks;                   /* quiet ticks in a row */
    guint steady_ticks;                 /* readings in a row whose use did
                                           not grow (the first one counts) */
    guint64 last_used;                  /* the last reading, or OC_UNKNOWN */
    guint64 used[OC_SPARE_WINDOW_MAX];  /* ring of the last readings */
    guint n_used;                       /* readings in @used */
    guint next;                         /* where the next one goes */
    double swapin[OC_SPARE_WINDOW_MAX]; /* ring of the last swap-in rates */
    guint n_swapin;                     /* rates in @swapin */
    guint next_swapin;                  /* where the next one goes */
    guint64 floor;                      /* the floor at the last tick */
} OcVmHistory;

/* A balloon step moving from an idle guest to a thrashing one. */
typedef struct OcTransfer {
    char *donor;
    guint64 donor_from;     /* the donor's balloon before the step */
} OcTransfer;

/* A VM that an action could apply to, with the key it is ordered by. */
typedef struct OcCandidate {
    const OcVm *vm;
    double key;             /* sorted descending */
    guint64 amount;         /* bytes to move */
    const char *why;        /* static part of the reason */
} OcCandidate;

void oc_policy_config_defaults(OcPolicyConfig *cfg)
{
    *cfg = (OcPolicyConfig) {
        .psi_high = 10.0,
        .psi_low = 2.0,
        .avail_low = 512ull * OC_MIB,
        .avail_high = 1024ull * OC_MIB,
        .cg_high = 90.0,
        .cg_low = 80.0,
        .giveback_ticks = 3,
        .balloon_step = 32ull * OC_MIB,
        .budget_step = 16ull * OC_MIB,
        .guest_floor = 128ull * OC_MIB,
        .guest_floor_min = 64ull * OC_MIB,
        .floor_margin = 25.0,
        .guest_reserve = 32ull * OC_MIB,
        .budget_floor = 4ull * OC_MIB,
        .swapin_backoff = 256.0,
        .majflt_backoff = 512.0,
        .backoff_ticks = 5,
        .balloon_stall_ticks = 10,
        .store_hot_reads = 512.0,
        .spare_window = 10,
        .idle_ticks = 10,
        .idle_cpu = 20.0,
        .cg_lead_ticks = 2,
        .commit_high = 100.0,
        .commit_low = 90.0,
    };
}

static void oc_transfer_free(gpointer p)
{
    OcTransfer *t = p;

    g_free(t->donor);
    g_free(t);
}

OcPolicy *oc_policy_new(const OcPolicyConfig *cfg)
{
    OcPolicy *policy = g_new0(OcPolicy, 1);

    policy->cfg = *cfg;
    policy->mode = OC_MODE_HOLD;
    policy->why = g_strdup("no reading yet");
    policy->backoff = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    policy->stall = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          g_free);
    policy->history = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                            g_free);
    policy->transfers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                              oc_transfer_free);
    policy->last_cg_current = OC_UNKNOWN;
    return policy;
}

void oc_policy_free(OcPolicy *policy)
{
    if (policy) {
        g_hash_table_unref(policy->backoff);
        g_hash_table_unref(policy->stall);
        g_hash_table_unref(policy->history);
        g_hash_table_unref(policy->transfers);
        g_free(policy->why);
        g_free(policy);
    }
}

const char *oc_mode_name(OcMode mode)
{
    static const char *const names[] = {
        [OC_MODE_HOLD] = "hold",
        [OC_MODE_RECLAIM] = "reclaim",
        [OC_MODE_GIVEBACK] = "give-back",
    };
    return names[mode];
}

const char *oc_action_kind_name(OcActionKind kind)
{
    static const char *const names[] = {
        [OC_ACTION_BALLOON] = "balloon",
        [OC_ACTION_BUDGET] = "budget",
        [OC_ACTION_FLOORS] = "floors",
    };
    return names[kind];
}

static double oc_mib(guint64 bytes)
{
    return (double)bytes / OC_MIB;
}

/*
 * Returns: the cgroup's usage in % of its limit, cg_lead_ticks ticks
 * ahead if it goes on growing as it did since the last tick (@growth,
 * bytes a tick); -1 without a cgroup limit.  Guests that boot fill a
 * cgroup by tens of MiB a second, faster than balloons empty it: reclaim
 * must start before the high mark is reached, not when it is.
 */
static double oc_policy_cg_projected(const OcPolicyConfig *cfg,
                                     const OcHost *h, guint64 growth)
{
    if (!h->has_cgroup || h->cg_max == OC_UNKNOWN || !h->cg_max) {
        return -1;
    }
    return 100.0 * (h->cg_current + growth * cfg->cg_lead_ticks) / h->cg_max;
}

/*
 * Fills p->commit.  Each QEMU holds its guest's resident RAM and memory of
 * its own (TCG's translation cache, devices, the store's memory tier)
 * that no balloon reaches; its guest may still make resident what its
 * balloon leaves it beyond that.  With 3 guests of 256 MiB, the QEMUs'
 * own memory was about half of an 804 MiB limit: a cgroup below its high
 * mark can still be filled to its limit by guests that only use what
 * they were given.  Unknown without a cgroup limit, or when a VM that is
 * up has no reading of its QEMU's memory.
 */
static void oc_policy_update_commit(OcPolicy *p, const OcHost *h,
                                    const OcVm *vms, guint n)
{
    OcCommit *c = &p->commit;

    *c = (OcCommit) { .known = h->has_cgroup && h->cg_max != OC_UNKNOWN &&
                               h->cg_max };
    for (guint i = 0; i < n && c->known; i++) {
        const OcVm *vm = &vms[i];
        guint64 size = vm->has_balloon ? vm->actual : vm->ram;

        if (!vm->up) {
            continue;
        }
        if (!vm->has_qemu_mem) {
            c->known = FALSE;
            break;
        }
        c->guest_rss += vm->guest_rss;
        c->overhead += vm->overhead;
        c->headroom += size > vm->guest_rss ? size - vm->guest_rss : 0;
    }
    c->known = c->known && n > 0;
    c->worst = c->known ? h->cg_current + c->headroom : 0;
}

/* Returns: the worst case in % of memory.max; -1 when unknown or unused. */
static double oc_policy_commit_pct(const OcPolicy *p, const OcHost *h)
{
    if (!p->commit.known || p->cfg.commit_high <= 0) {
        return -1;
    }
    return 100.0 * p->commit.worst / h->cg_max;
}

/* Returns: bytes of the worst case left below @pct % of memory.max. */
static guint64 oc_policy_commit_room(const OcPolicy *p, const OcHost *h,
                                     double pct)
{
    guint64 mark;

    if (oc_policy_commit_pct(p, h) < 0) {
        return G_MAXUINT64;
    }
    mark = h->cg_max / 100.0 * pct;
    return mark > p->commit.worst ? mark - p->commit.worst : 0;
}

/* The host's readings, for reasons: "PSI some 12.0%, MemAvailable 300 MiB". */
static char *oc_policy_readings(const OcPolicy *p, const OcHost *h,
                                guint64 growth)
{
    const OcPolicyConfig *cfg = &p->cfg;
    GString *s = g_string_new(NULL);

    if (h->psi_some >= 0) {
        g_string_append_printf(s, "PSI some %.1f%%", h->psi_some);
    }
    if (h->mem_available != OC_UNKNOWN) {
        g_string_append_printf(s, "%sMemAvailable %.0f MiB", s->len ? ", " : "",
                               oc_mib(h->mem_available));
    }
    if (h->has_cgroup && h->cg_max != OC_UNKNOWN && h->cg_max) {
        g_string_append_printf(s, "%scgroup %.0f%% of memory.max",
                               s->len ? ", " : "",
                               100.0 * h->cg_current / h->cg_max);
        if (growth && cfg->cg_lead_ticks) {
            g_string_append_printf(s, " rising %.0f MiB a tick (%.0f%% in %u)",
                                   oc_mib(growth),
                                   oc_policy_cg_projected(cfg, h, growth),
                                   cfg->cg_lead_ticks);
        }
        if (oc_policy_commit_pct(p, h) >= 0) {
            g_string_append_printf(s, "; guests could fill it to %.0f%% "
                                   "(guest RAM resident %.0f MiB, %.0f MiB "
                                   "more left to them; QEMUs' own memory "
                                   "%.0f MiB, beyond any balloon)",
                                   oc_policy_commit_pct(p, h),
                                   oc_mib(p->commit.guest_rss),
                                   oc_mib(p->commit.headroom),
                                   oc_mib(p->commit.overhead));
        }
    }
    if (h->has_cgroup && h->cg_some >= 0) {
        g_string_append_printf(s, "%scgroup PSI some %.1f%%",
                               s->len ? ", " : "", h->cg_some);
    }
    return g_string_free(s, FALSE);
}

static OcPressure oc_policy_pressure(const OcPolicy *p, const OcHost *h,
                                     guint64 growth)
{
    const OcPolicyConfig *cfg = &p->cfg;
    double cg_pct = oc_policy_cg_projected(cfg, h, growth);
    double commit_pct = oc_policy_commit_pct(p, h);

    if (h->psi_some >= cfg->psi_high ||
        (h->mem_available != OC_UNKNOWN && h->mem_available < cfg->avail_low) ||
        cg_pct >= cfg->cg_high || commit_pct >= cfg->commit_high ||
        (h->has_cgroup && h->cg_some >= cfg->psi_high)) {
        return OC_PRESSURE_HIGH;
    }
    if (h->psi_some < cfg->psi_low &&
        (h->mem_available == OC_UNKNOWN || h->mem_available > cfg->avail_high) &&
        cg_pct < cfg->cg_low && commit_pct < cfg->commit_low &&
        (!h->has_cgroup || h->cg_some < cfg->psi_low)) {
        return OC_PRESSURE_LOW;
    }
    return OC_PRESSURE_MID;
}

/* Moves the mode with the pressure; hysteresis lives here. */
static void oc_policy_update_mode(OcPolicy *p, const OcHost *host)
{
    guint64 growth = 0;
    OcPressure pressure;
    g_autofree char *readings = NULL;

    /* Growth under 1% of the limit a tick is noise, not a guest booting. */
    if (host->has_cgroup && p->last_cg_current != OC_UNKNOWN &&
        host->cg_max != OC_UNKNOWN &&
        host->cg_current > p->last_cg_current + host->cg_max / 100) {
        growth = host->cg_current - p->last_cg_current;
    }
    p->last_cg_current = host->has_cgroup ? host->cg_current : OC_UNKNOWN;
    pressure = oc_policy_pressure(p, host, growth);
    p->moderate = pressure == OC_PRESSURE_MID;
    readings = oc_policy_readings(p, host, growth);
    switch (pressure) {
    case OC_PRESSURE_HIGH:
        p->low_ticks = 0;
        p->mid_ticks = 0;
        p->mode = OC_MODE_RECLAIM;
        break;
    case OC_PRESSURE_MID:
        /*
         * Reclaim goes on down to the low marks, or until it has nothing
         * left to take (oc_policy_decide()); giving back stops here.
         */
        p->low_ticks = 0;
        if (p->mode == OC_MODE_GIVEBACK) {
            p->mode = OC_MODE_HOLD;
        }
        p->mid_ticks = p->mode == OC_MODE_HOLD ? p->mid_ticks + 1 : 0;
        break;
    case OC_PRESSURE_LOW:
        p->low_ticks++;
        p->mid_ticks = 0;
        if (p->mode == OC_MODE_RECLAIM) {
            p->mode = OC_MODE_HOLD;
        }
        if (p->low_ticks >= p->cfg.giveback_ticks) {
            p->mode = OC_MODE_GIVEBACK;
        }
        break;
    }
    g_free(p->why);
    p->why = g_strdup_printf("%s pressure (%s)",
                             pressure == OC_PRESSURE_HIGH ? "high" :
                             pressure == OC_PRESSURE_MID ? "moderate" : "low",
                             readings);
}

static void oc_action_free(gpointer a)
{
    OcAction *action = a;

    g_free(action->vm);
    g_free(action->reason);
    g_free(action);
}

static void G_GNUC_PRINTF(6, 7)
oc_policy_emit(GPtrArray *actions, OcActionKind kind, const OcVm *vm,
               guint64 from, guint64 to, const char *fmt, ...)
{
    OcAction *action = g_new0(OcAction, 1);
    va_list ap;

    action->kind = kind;
    action->vm = g_strdup(vm->name);
    action->from = from;
    action->to = to;
    va_start(ap, fmt);
    action->reason = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_ptr_array_add(actions, action);
}

/* The balloon size that changes start from: what was asked, or what is. */
static guint64 oc_vm_balloon_base(const OcVm *vm)
{
    return vm->target != OC_UNKNOWN ? vm->target : vm->actual;
}

/* Returns: TRUE while @vm's balloon is more than a MiB from its target. */
static gboolean oc_vm_balloon_moving(const OcVm *vm)
{
    return vm->target != OC_UNKNOWN &&
           (vm->actual > vm->target + OC_MIB || vm->actual + OC_MIB < vm->target);
}

gboolean oc_policy_backing_off(OcPolicy *policy, const char *vm)
{
    return GPOINTER_TO_UINT(g_hash_table_lookup(policy->backoff, vm)) > 0;
}

/*
 * A guest is quiet in a tick when it reads back (swap-in) and faults in
 * (major faults) less than an eighth of what makes it back off, its
 * QEMU uses at most idle_cpu % of a CPU (when known), and its use does
 * not grow by more than 1% of its RAM (checked in
 * oc_policy_update_history()): an idle guest's memory is cold, whatever
 * it reports as available.  The CPU tells a guest whose working set
 * fits, which reads nothing back while it runs flat out, from one that
 * does nothing: the checker of the 2026-12-05 runs was taken for idle,
 * lost its working set to its balloon and to a thrashing guest, and read
 * its swap back at 5000 pages a second.
 */
static gboolean oc_vm_quiet(const OcPolicyConfig *cfg, const OcVm *vm)
{
    return vm->has_stats && vm->swapin_rate <= cfg->swapin_backoff / 8 &&
           vm->majflt_rate <= cfg->majflt_backoff / 8 &&
           (vm->cpu < 0 || vm->cpu <= cfg->idle_cpu);
}

/* Records this tick's reading of every guest; forgets the guests that left. */
static void oc_policy_update_history(OcPolicy *p, const OcVm *vms, guint n)
{
    guint window = CLAMP(p->cfg.spare_window, 1, OC_SPARE_WINDOW_MAX);

    for (guint i = 0; i < n; i++) {
        const OcVm *vm = &vms[i];
        OcVmHistory *h = g_hash_table_lookup(p->history, vm->name);
        gboolean quiet;

        if (!vm->up || !vm->has_stats) {
            /* A guest that comes back (or reboots) starts afresh. */
            g_hash_table_remove(p->history, vm->name);
            continue;
        }
        if (!h) {
            h = g_new0(OcVmHistory, 1);
            h->last_used = OC_UNKNOWN;
            g_hash_table_insert(p->history, g_strdup(vm->name), h);
        }
        quiet = oc_vm_quiet(&p->cfg, vm);
        h->swapin[h->next_swapin] = vm->swapin_rate;
        h->next_swapin = (h->next_swapin + 1) % window;
        h->n_swapin = MIN(h->n_swapin + 1, window);
        /* The guest's statistics and query-balloon disagree meanwhile. */
        if (!oc_vm_balloon_moving(vm)) {
            guint64 used = vm->actual > vm->guest_avail ?
                           vm->actual - vm->guest_avail : 0;

            /*
             * A guest whose use grows is busy, even if it reads nothing
             * back: it is booting, or filling its memory.
             */
            if (h->last_used != OC_UNKNOWN &&
                used > h->last_used + vm->ram / 100) {
                quiet = FALSE;
                h->steady_ticks = 0;
            } else {
                h->steady_ticks++;
            }
            h->last_used = used;
            h->used[h->next] = used;
            h->next = (h->next + 1) % window;
            h->n_used = MIN(h->n_used + 1, window);
        }
        h->idle_ticks = quiet ? h->idle_ticks + 1 : 0;
    }
}

/* Returns: the most memory @vm used over its window (now, if unknown). */
static guint64 oc_policy_peak_use(OcPolicy *p, const OcVm *vm)
{
    OcVmHistory *h = g_hash_table_lookup(p->history, vm->name);
    guint64 peak = vm->actual > vm->guest_avail ? vm->actual - vm->guest_avail : 0;

    for (guint i = 0; h && i < h->n_used; i++) {
        peak = MAX(peak, h->used[i]);
    }
    return peak;
}

/* Returns: the most @vm swapped in over its window (now, if unknown). */
static double oc_policy_peak_swapin(OcPolicy *p, const OcVm *vm)
{
    OcVmHistory *h = g_hash_table_lookup(p->history, vm->name);
    double peak = vm->swapin_rate;

    for (guint i = 0; h && i < h->n_swapin; i++) {
        peak = MAX(peak, h->swapin[i]);
    }
    return peak;
}

/*
 * Returns: TRUE when @vm's use has not grown for spare_window readings,
 * so that its peak use over the window is what it uses.  A guest that
 * has just booted, or whose use grows, has not shown yet what it needs:
 * in the fourth run the sort's balloon took all its free memory beyond
 * its use as it booted, 217 to 131 MiB in one change, and the sort then
 * read its swap back for the rest of the run.
 */
static gboolean oc_policy_settled(OcPolicy *p, const OcVm *vm)
{
    OcVmHistory *h = g_hash_table_lookup(p->history, vm->name);

    return h && h->steady_ticks >= CLAMP(p->cfg.spare_window, 1,
                                         OC_SPARE_WINDOW_MAX);
}

guint oc_policy_idle_ticks(OcPolicy *policy, const char *vm)
{
    OcVmHistory *h = g_hash_table_lookup(policy->history, vm);

    return h ? h->idle_ticks : 0;
}

/* Returns: TRUE when @vm has been quiet for idle_ticks ticks in a row. */
static gboolean oc_policy_idle(OcPolicy *p, const OcVm *vm)
{
    return p->cfg.idle_ticks &&
           oc_policy_idle_ticks(p, vm->name) >= p->cfg.idle_ticks;
}

/*
 * Returns: TRUE when @vm is busy and has, beyond half its reserve, half a
 * balloon step or more available that it used within its window: a
 * checker between two rounds, which needs that memory back a moment
 * later.  A guest whose balloon took memory has less used and nothing
 * more available: it is not between rounds.
 */
static gboolean oc_policy_between_rounds(OcPolicy *p, const OcVm *vm)
{
    const OcPolicyConfig *cfg = &p->cfg;
    guint64 now = vm->actual > vm->guest_avail ?
                  vm->actual - vm->guest_avail : 0;
    guint64 dip = cfg->balloon_step / 2;

    return vm->has_stats && !oc_policy_idle(p, vm) &&
           vm->guest_avail >= cfg->guest_reserve / 2 + dip &&
           oc_policy_peak_use(p, vm) >= now + dip;
}

/*
 * A fixed half of RAM as every guest's floor did not fit: three 256 MiB
 * guests at 128 MiB each, beside 118 to 134 MiB of each QEMU's own
 * memory, needed about 764 MiB, and a 753 MiB limit got a QEMU
 * OOM-killed.  An idle guest's memory is cold: it goes to vswap and is
 * not read back, so its floor is the hard minimum (the guest's kernel
 * and what it keeps resident; deflate-on-oom covers a guest that is
 * short).  A busy guest keeps its peak use over the spare window plus
 * floor_margin, at least the minimum and at most guest_floor, so that
 * the cold-memory steps stop short of its working set.  A guest that
 * wakes up, or grows, has its floor go up at once; its balloon follows
 * only by backing off, when the cgroup has room.
 */
guint64 oc_policy_floor(OcPolicy *p, const OcVm *vm)
{
    const OcPolicyConfig *cfg = &p->cfg;
    guint64 lo = MIN(cfg->guest_floor_min, cfg->guest_floor), use, floor;

    if (vm->floor) {
        return vm->floor;
    }
    if (!vm->has_stats) {
        return cfg->guest_floor;
    }
    if (oc_policy_idle(p, vm)) {
        return lo;
    }
    use = oc_policy_peak_use(p, vm);
    floor = use + (guint64)(use * cfg->floor_margin / 100);
    floor = (CLAMP(floor, lo, cfg->guest_floor) + OC_MIB - 1) & ~(guint64)(OC_MIB - 1);
    return MIN(floor, MAX(vm->ram, lo));
}

/* Returns: why @vm must back off (static storage in @buf), or NULL. */
static const char *oc_policy_vm_trouble(const OcPolicyConfig *cfg,
                                        const OcVm *vm, char *buf, gsize len)
{
    if (!vm->has_stats) {
        return NULL;
    }
    if (vm->swapin_rate > cfg->swapin_backoff) {
        g_snprintf(buf, len, "swap-in %.0f pages/s > %.0f", vm->swapin_rate,
                   cfg->swapin_backoff);
    } else if (vm->majflt_rate > cfg->majflt_backoff) {
        g_snprintf(buf, len, "major faults %.0f/s > %.0f", vm->majflt_rate,
                   cfg->majflt_backoff);
    } else if (vm->guest_avail < cfg->guest_reserve / 2 &&
               oc_vm_balloon_base(vm) < vm->ram &&
               vm->swapin_rate > cfg->swapin_backoff / 4) {
        /*
         * Short of memory and reading its swap back: the balloon hurts.
         * Short and reading nothing back is what a balloon is for: the
         * guest's cold pages went to its swap.
         */
        g_snprintf(buf, len, "guest available memory %.0f MiB < %.0f MiB "
                   "while it swaps in %.0f pages/s", oc_mib(vm->guest_avail),
                   oc_mib(cfg->guest_reserve / 2), vm->swapin_rate);
    } else {
        return NULL;
    }
    return buf;
}

/*
 * Returns: TRUE if the VMs' cgroup can take @bytes more and stay below
 * half-way from its high mark to its limit (or there is no cgroup
 * limit).  Past its limit the kernel OOM-kills a whole VM: far worse than
 * a guest that swaps in.  The other half is left for what the other VMs
 * take meanwhile: a step that fitted just under the limit (94%) got a
 * QEMU killed a few seconds later.
 */
static gboolean oc_policy_cgroup_room(const OcPolicyConfig *cfg,
                                      const OcHost *h, guint64 bytes)
{
    if (!h->has_cgroup || h->cg_max == OC_UNKNOWN || !h->cg_max) {
        return TRUE;
    }
    return h->cg_current + bytes <=
           h->cg_max / 100.0 * (cfg->cg_high + (100 - cfg->cg_high) / 2);
}

/* Returns: TRUE if @name gives a balloon step to a thrashing guest now. */
static gboolean oc_policy_donating(OcPolicy *p, const char *name)
{
    GHashTableIter it;
    gpointer value;

    g_hash_table_iter_init(&it, p->transfers);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        if (!strcmp(((OcTransfer *)value)->donor, name)) {
            return TRUE;
        }
    }
    return FALSE;
}

/*
 * Returns: the guest to move memory from to @to, which thrashes with no
 * room in the cgroup: the one idle longest (then the one with the most
 * above its floor), whose balloon is settled and not already moving
 * memory; NULL if none has a MiB above its floor.
 */
static const OcVm *oc_policy_donor(OcPolicy *p, const OcVm *vms, guint n,
                                   const OcVm *to)
{
    const OcVm *best = NULL;
    guint best_idle = 0;
    guint64 best_room = 0;

    for (guint i = 0; i < n; i++) {
        const OcVm *vm = &vms[i];
        guint64 base = oc_vm_balloon_base(vm), floor = oc_policy_floor(p, vm);
        guint idle = oc_policy_idle_ticks(p, vm->name);

        if (vm == to || !vm->up || !vm->has_balloon || !oc_policy_idle(p, vm) ||
            oc_policy_backing_off(p, vm->name) || oc_vm_balloon_moving(vm) ||
            base < floor + OC_MIB || oc_policy_donating(p, vm->name) ||
            g_hash_table_contains(p->transfers, vm->name)) {
            continue;
        }
        if (!best || idle > best_idle ||
            (idle == best_idle && base - floor > best_room)) {
            best = vm;
            best_idle = idle;
            best_room = base - floor;
        }
    }
    return best;
}

/*
 * @vm thrashes and the cgroup has no room to give it a step: inflate an
 * idle guest's balloon by a step instead, and give @vm what that balloon
 * took once it has taken it (oc_policy_settle_transfers()), so that the
 * VMs' total stays where it is.
 */
static void oc_policy_start_transfer(OcPolicy *p, const OcVm *vms, guint n,
                                     const OcVm *vm, const char *trouble,
                                     GPtrArray *actions)
{
    const OcVm *donor;
    OcTransfer *t;
    guint64 base, amount;

    if (g_hash_table_contains(p->transfers, vm->name) ||
        !(donor = oc_policy_donor(p, vms, n, vm))) {
        return;
    }
    base = oc_vm_balloon_base(donor);
    amount = MIN(p->cfg.balloon_step, base - oc_policy_floor(p, donor));
    amount = MIN(amount, vm->ram - oc_vm_balloon_base(vm)) & ~(guint64)(OC_MIB - 1);
    if (!amount) {
        return;
    }
    oc_policy_emit(actions, OC_ACTION_BALLOON, donor, base, base - amount,
                   "move %.0f MiB to %s, which thrashes (%s) with no room in "
                   "the cgroup: %s has been idle for %u ticks (swap-in %.0f "
                   "pages/s), floor %.0f MiB", oc_mib(amount), vm->name,
                   trouble, donor->name, oc_policy_idle_ticks(p, donor->name),
                   donor->swapin_rate, oc_mib(oc_policy_floor(p, donor)));
    t = g_new0(OcTransfer, 1);
    t->donor = g_strdup(donor->name);
    t->donor_from = base;
    g_hash_table_insert(p->transfers, g_strdup(vm->name), t);
}

static const OcVm *oc_vm_find(const OcVm *vms, guint n, const char *name)
{
    for (guint i = 0; i < n; i++) {
        if (!strcmp(vms[i].name, name)) {
            return &vms[i];
        }
    }
    return NULL;
}

static gint oc_name_cmp(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Gives each thrashing guest what its donor's balloon took, once that
 * balloon has stopped moving (reached its target, or stalled and been
 * taken as it is).  A transfer whose donor or recipient went away ends:
 * a VM that goes away takes all its memory out of the cgroup.
 */
static void oc_policy_settle_transfers(OcPolicy *p, const OcVm *vms, guint n,
                                       GPtrArray *actions)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    g_autoptr(GPtrArray) done = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter it;
    gpointer key;

    g_hash_table_iter_init(&it, p->transfers);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        g_ptr_array_add(names, key);
    }
    /* In name order, so that a trace replays the same. */
    g_ptr_array_sort(names, oc_name_cmp);
    for (guint i = 0; i < names->len; i++) {
        OcTransfer *t = g_hash_table_lookup(p->transfers, names->pdata[i]);
        const OcVm *vm = oc_vm_find(vms, n, names->pdata[i]);
        const OcVm *donor = oc_vm_find(vms, n, t->donor);
        guint64 given, base;

        if (vm && vm->up && donor && donor->up && oc_vm_balloon_moving(donor)) {
            continue;
        }
        g_ptr_array_add(done, g_strdup(names->pdata[i]));
        if (!vm || !vm->up || !vm->has_balloon || !donor || !donor->up) {
            continue;
        }
        given = t->donor_from > donor->actual ?
                (t->donor_from - donor->actual) & ~(guint64)(OC_MIB - 1) : 0;
        base = oc_vm_balloon_base(vm);
        if (given && base < vm->ram) {
            oc_policy_emit(actions, OC_ACTION_BALLOON, vm, base,
                           MIN(vm->ram, base + given),
                           "memory moved from %s: its balloon took %.0f MiB; "
                           "deflate (swap-in %.0f pages/s)", donor->name,
                           oc_mib(given), vm->swapin_rate);
        }
    }
    for (guint i = 0; i < done->len; i++) {
        g_hash_table_remove(p->transfers, done->pdata[i]);
    }
}

/*
 * Counts down every VM's back-off and starts new ones: a VM in trouble
 * gets a balloon step back at once, whatever the host's pressure, as
 * long as the VMs' cgroup has room for it; without room it gets a step
 * moved from an idle guest if there is one, and is left alone (no more
 * inflating) until the back-off ends.
 */
static void oc_policy_backoff(OcPolicy *p, const OcHost *host, const OcVm *vms,
                              guint n, GPtrArray *actions)
{
    for (guint i = 0; i < n; i++) {
        const OcVm *vm = &vms[i];
        guint left = GPOINTER_TO_UINT(g_hash_table_lookup(p->backoff, vm->name));
        char buf[128];
        const char *trouble;

        if (!vm->up) {
            continue;
        }
        if (left) {
            g_hash_table_insert(p->backoff, g_strdup(vm->name),
                                GUINT_TO_POINTER(left - 1));
        }
        trouble = oc_policy_vm_trouble(&p->cfg, vm, buf, sizeof(buf));
        if (!trouble) {
            continue;
        }
        g_hash_table_insert(p->backoff, g_strdup(vm->name),
                            GUINT_TO_POINTER(p->cfg.backoff_ticks));
        if (vm->has_balloon && oc_vm_balloon_base(vm) < vm->ram &&
            oc_policy_cgroup_room(&p->cfg, host, p->cfg.balloon_step)) {
            guint64 base = oc_vm_balloon_base(vm);

            oc_policy_emit(actions, OC_ACTION_BALLOON, vm, base,
                           MIN(vm->ram, base + p->cfg.balloon_step),
                           "back off: %s; left alone for %u ticks",
                           trouble, p->cfg.backoff_ticks);
        } else if (vm->has_balloon && oc_vm_balloon_base(vm) < vm->ram) {
            oc_policy_start_transfer(p, vms, n, vm, trouble, actions);
        }
    }
}

/*
 * A balloon short of its target that has not moved by a MiB for
 * balloon_stall_ticks ticks: the guest gives no more (its driver finds no
 * pages it may take, or is stuck).  Waiting for it would block the VM for
 * ever and count memory the host never got, so its target is set back to
 * where the balloon is, and the VM is left alone for backoff_ticks.
 */
static void oc_policy_stalls(OcPolicy *p, const OcVm *vms, guint n,
                             GPtrArray *actions)
{
    for (guint i = 0; i < n; i++) {
        const OcVm *vm = &vms[i];
        OcStall *st = g_hash_table_lookup(p->stall, vm->name);
        guint64 to;

        if (!vm->up || !vm->has_balloon || vm->target == OC_UNKNOWN ||
            vm->actual <= vm->target + OC_MIB ||
            oc_policy_backing_off(p, vm->name) || !p->cfg.balloon_stall_ticks) {
            g_hash_table_remove(p->stall, vm->name);
            continue;
        }
        if (!st || vm->actual + OC_MIB <= st->actual ||
            vm->actual >= st->actual + OC_MIB) {
            st = g_new0(OcStall, 1);
            st->actual = vm->actual;
            g_hash_table_insert(p->stall, g_strdup(vm->name), st);
            continue;
        }
        if (++st->ticks < p->cfg.balloon_stall_ticks) {
            continue;
        }
        to = MIN(vm->ram, (vm->actual + OC_MIB - 1) & ~(guint64)(OC_MIB - 1));
        oc_policy_emit(actions, OC_ACTION_BALLOON, vm, vm->target, to,
                       "balloon stalled at %.0f MiB for %u ticks, short of its "
                       "target %.0f MiB: the guest gives no more; stop pushing "
                       "it, left alone for %u ticks", oc_mib(vm->actual),
                       st->ticks, oc_mib(vm->target), p->cfg.backoff_ticks);
        g_hash_table_insert(p->backoff, g_strdup(vm->name),
                            GUINT_TO_POINTER(p->cfg.backoff_ticks));
        g_hash_table_remove(p->stall, vm->name);
    }
}

static gint oc_candidate_cmp(gconstpointer a, gconstpointer b)
{
    const OcCandidate *x = a, *y = b;

    if (x->key != y->key) {
        return x->key > y->key ? -1 : 1;
    }
    return g_strcmp0(x->vm->name, y->vm->name);
}

/*
 * Returns: bytes that @vm's balloon may take now (0: none), and why.
 *
 * Free memory: what the guest has available beyond its reserve, and
 * beyond the most it used over the last spare_window ticks (its peak
 * use), so that memory it freed a moment ago and will use again is not
 * taken.  Cold memory: a guest that has been idle for idle_ticks gives
 * half a step a tick whatever it reports as available (an idle guest's
 * tmpfs or anonymous memory is not "available", but it goes to vswap
 * without being read back); a guest that swaps to vswap, reads little
 * back and keeps its reserve, now and at its peak use, gives half a step
 * too.  Memory that a busy guest used a moment ago is not taken: it
 * would read it back.  With @last_resort, free memory is what the guest
 * has available now beyond its reserve, whatever it used lately, unless
 * it is between two rounds of its work (oc_policy_between_rounds()).
 * Free memory goes in steps of @step, which is more than balloon_step
 * when the VMs must give more (oc_policy_need()): memory beyond the
 * guest's peak use and reserve is as safe to take at once as a step at a
 * time, once that peak use is known: only from a guest whose use has
 * been steady for spare_window readings (oc_policy_settled()), or when
 * the cgroup is past half-way from its high mark to its limit
 * (p->near_limit): in the fifth run the idle guest booted with the
 * cgroup at 95%, gave its free memory a step every other tick, and the
 * kernel OOM-killed the checker's QEMU 15 s later.
 */
static guint64 oc_policy_balloon_room(OcPolicy *p, const OcVm *vm,
                                      gboolean last_resort, guint64 step,
                                      const char **why)
{
    const OcPolicyConfig *cfg = &p->cfg;
    guint64 base = oc_vm_balloon_base(vm), floor = oc_policy_floor(p, vm);
    guint64 room = base > floor ? base - floor : 0;
    guint64 in_use = MAX(oc_policy_peak_use(p, vm), cfg->guest_reserve / 2);
    guint64 spare = vm->guest_avail > cfg->guest_reserve ?
                    vm->guest_avail - cfg->guest_reserve : 0;
    guint64 take;

    if (last_resort) {
        /* Not what it freed a moment ago: that is its working set. */
        if (oc_policy_between_rounds(p, vm)) {
            return 0;
        }
        take = MIN(cfg->balloon_step, spare);
        *why = "free memory now, though it used more of it lately (last "
               "resort: the cgroup is near its limit)";
        return MIN(take, room) & ~(guint64)(OC_MIB - 1);
    }
    /* What the guest may still lose and cover its peak use and reserve. */
    spare = MIN(spare, base > in_use + cfg->guest_reserve ?
                       base - in_use - cfg->guest_reserve : 0);
    if (spare >= OC_MIB && (step <= cfg->balloon_step || p->near_limit ||
                            oc_policy_settled(p, vm))) {
        take = MIN(step, spare);
        *why = "free memory";
    } else if (spare >= OC_MIB) {
        take = MIN(cfg->balloon_step, spare);
        *why = "free memory, a step at a time (its use has not been steady "
               "for spare-window ticks: it may still grow)";
    } else if (vm->has_store && oc_policy_idle(p, vm)) {
        take = cfg->balloon_step / 2;
        *why = "cold memory (idle)";
    } else if (vm->has_store && vm->swapin_rate <= cfg->swapin_backoff / 4 &&
               vm->guest_avail >= cfg->guest_reserve &&
               base >= in_use + cfg->guest_reserve) {
        /*
         * Cold: the guest swaps to vswap and reads little back, so the
         * balloon may push its coldest pages out, while it keeps its reserve
         * now and at its peak use.  Even if the guest paid for it all from
         * its available memory, it would keep half its reserve and not need
         * to back off.
         */
        take = MIN(cfg->balloon_step / 2,
                   MIN(vm->guest_avail, base - in_use) - cfg->guest_reserve / 2);
        *why = "cold memory";
    } else {
        return 0;
    }
    take = MIN(take, room) & ~(guint64)(OC_MIB - 1);
    return take;
}

/*
 * Step 1 of reclaim: every balloon that may take more, most spare first.
 * Step 3, @last_resort: when no balloon nor budget could give and the
 * cgroup is past half-way from its high mark to its limit, the free
 * memory that guests have now, even if they used it lately.
 * When the VMs must give more than a step (@need), a guest's free
 * memory goes in one change, up to what is still needed.
 * Returns: the bytes the balloons are asked to take (0: none can).
 */
static guint64 oc_policy_inflate(OcPolicy *p, const OcVm *vms, guint n,
                                 gboolean last_resort, guint64 need,
                                 GPtrArray *actions)
{
    g_autoptr(GArray) cands = g_array_new(FALSE, FALSE, sizeof(OcCandidate));
    guint64 step = MAX(p->cfg.balloon_step, need);
    guint64 taken = 0;

    for (guint i = 0; i < n; i++) {
        const OcVm *vm = &vms[i];
        OcCandidate c = { .vm = vm };

        if (!vm->up || !vm->has_balloon || !vm->has_stats ||
            oc_policy_backing_off(p, vm->name) ||
            oc_policy_donating(p, vm->name)) {
            continue;
        }
        /* A balloon still on its way to the last target: wait for it. */
        if (vm->target != OC_UNKNOWN && vm->actual > vm->target + OC_MIB) {
            continue;
        }
        c.amount = oc_policy_balloon_room(p, vm, last_resort, step, &c.why);
        if (c.amount) {
            c.key = (double)vm->guest_avail;
            g_array_append_val(cands, c);
        }
    }
    g_array_sort(cands, oc_candidate_cmp);
    for (guint i = 0; i < cands->len; i++) {
        OcCandidate *c = &g_array_index(cands, OcCandidate, i);
        guint64 base = oc_vm_balloon_base(c->vm);

        /* Beyond a step each, only what the VMs must still give. */
        if (c->amount > p->cfg.balloon_step) {
            c->amount = MAX(p->cfg.balloon_step, need > taken ? need - taken : 0);
            c->amount = MIN(c->amount, oc_policy_balloon_room(
                p, c->vm, last_resort, step, &c->why)) & ~(guint64)(OC_MIB - 1);
        }
        taken += c->amount;
        oc_policy_emit(actions, OC_ACTION_BALLOON, c->vm, base, base - c->amount,
                       "%s; inflate: guest has %s (available %.0f MiB, peak "
                       "use %.0f MiB, swap-in %.0f pages/s, idle %u ticks), "
                       "floor %.0f MiB",
                       p->why, c->why, oc_mib(c->vm->guest_avail),
                       oc_mib(oc_policy_peak_use(p, c->vm)), c->vm->swapin_rate,
                       oc_policy_idle_ticks(p, c->vm->name),
                       oc_mib(oc_policy_floor(p, c->vm)));
    }
    return taken;
}

/*
 * Returns: TRUE if the squeeze should pick @a before @b: a guest between
 * two rounds of its work last (what it freed a moment ago is its working
 * set), then the one that read its swap back least over its window (a
 * checker reads nothing between its rounds and thousands of pages a
 * second in them), then by name.
 */
static gboolean oc_policy_squeeze_before(OcPolicy *p, const OcVm *a,
                                         const OcVm *b)
{
    gboolean a_dip = oc_policy_between_rounds(p, a);
    gboolean b_dip = oc_policy_between_rounds(p, b);
    double a_in = oc_policy_peak_swapin(p, a);
    double b_in = oc_policy_peak_swapin(p, b);

    if (a_dip != b_dip) {
        return b_dip;
    }
    if (a_in != b_in) {
        return a_in < b_in;
    }
    return g_strcmp0(a->name, b->name) < 0;
}

/*
 * Step 4, when even the last resort found nothing and the cgroup, less
 * what the balloons still inflating will take, is less than a balloon
 * step below its limit: a balloon step from the guest that reads its swap
 * back least, down to its floor.  That guest
 * will swap, but past the limit the kernel OOM-kills a whole VM: in the
 * fourth run the cgroup sat at 99% of its limit for 16 s with the sort
 * 47 MiB above its floor and reading nothing back, and the kernel killed
 * the checker's QEMU.  A guest backing off is left alone (it thrashes),
 * and so is one giving a step to another, or one whose balloon is giving
 * memory back.  One still inflating may be asked for more.  Guests are
 * judged over their window (oc_policy_squeeze_before()): in the fourth
 * run the squeeze took the checker between two rounds, when it read 0
 * pages a second for a moment.
 * Returns: TRUE if a balloon was asked to take a step.
 */
static gboolean oc_policy_squeeze(OcPolicy *p, const OcHost *h,
                                  const OcVm *vms, guint n, GPtrArray *actions)
{
    const OcVm *best = NULL;
    guint64 base, floor, amount, pending = 0;

    for (guint i = 0; i < n; i++) {
        const OcVm *vm = &vms[i];

        if (vm->up && vm->has_balloon && vm->target != OC_UNKNOWN &&
            vm->actual > vm->target) {
            pending += vm->actual - vm->target;
        }
        if (!vm->up || !vm->has_balloon || !vm->has_stats ||
            oc_policy_backing_off(p, vm->name) ||
            oc_policy_donating(p, vm->name) ||
            (vm->target != OC_UNKNOWN && vm->actual + OC_MIB < vm->target) ||
            oc_vm_balloon_base(vm) < oc_policy_floor(p, vm) + OC_MIB) {
            continue;
        }
        if (!best || oc_policy_squeeze_before(p, vm, best)) {
            best = vm;
        }
    }
    if (!best || h->cg_current < pending ||
        h->cg_current - pending + p->cfg.balloon_step <= h->cg_max) {
        return FALSE;
    }
    base = oc_vm_balloon_base(best);
    floor = oc_policy_floor(p, best);
    amount = MIN(p->cfg.balloon_step, base - floor) & ~(guint64)(OC_MIB - 1);
    if (!amount) {
        return FALSE;
    }
    oc_policy_emit(actions, OC_ACTION_BALLOON, best, base, base - amount,
                   "%s; nothing else to take with the cgroup at %.0f%% of its "
                   "limit: squeeze the guest that reads back least (swap-in "
                   "%.0f pages/s, at most %.0f over its window%s, available "
                   "%.0f MiB) toward its floor %.0f MiB; past the limit the "
                   "kernel OOM-kills a VM", p->why,
                   100.0 * h->cg_current / h->cg_max, best->swapin_rate,
                   oc_policy_peak_swapin(p, best),
                   oc_policy_between_rounds(p, best) ?
                   "; between two rounds, but no other guest can give" : "",
                   oc_mib(best->guest_avail), oc_mib(floor));
    return TRUE;
}

/*
 * Returns: the bytes the VMs must give this tick to bring the cgroup below
 * its low mark and their worst case below its own; 0 when the QEMUs'
 * memory is not known (the balloons alone are asked first, then).
 */
static guint64 oc_policy_need(const OcPolicy *p, const OcHost *h)
{
    guint64 low, need;

    if (!p->commit.known) {
        return 0;
    }
    low = h->cg_max / 100.0 * p->cfg.cg_low;
    need = h->cg_current > low ? h->cg_current - low : 0;
    if (oc_policy_commit_pct(p, h) >= 0) {
        guint64 commit_low = h->cg_max / 100.0 * p->cfg.commit_low;

        if (p->commit.worst > commit_low) {
            need = MAX(need, p->commit.worst - commit_low);
        }
    }
    return need;
}

/* Lowers @best's budget by a step; the reason says why. */
static void oc_policy_lower_one_budget(OcPolicy *p, const OcVm *best,
                                       guint64 taken, guint64 need,
                                       GPtrArray *actions)
{
    guint64 to = best->budget > p->cfg.budget_floor + p->cfg.budget_step ?
                 best->budget - p->cfg.budget_step : p->cfg.budget_floor;

    if (!taken) {
        oc_policy_emit(actions, OC_ACTION_BUDGET, best, best->budget, to,
                       "%s; no balloon can take more; lower the budget of the "
                       "store read least (%.0f pages/s), floor %.0f MiB",
                       p->why, best->read_rate, oc_mib(p->cfg.budget_floor));
    } else {
        oc_policy_emit(actions, OC_ACTION_BUDGET, best, best->budget, to,
                       "%s; the balloons take %.0f MiB of the %.0f MiB the VMs "
                       "must give; lower the budget of the store read least "
                       "(%.0f pages/s) too, floor %.0f MiB", p->why,
                       oc_mib(taken), oc_mib(need), best->read_rate,
                       oc_mib(p->cfg.budget_floor));
    }
}

/*
 * Step 2 of reclaim: the budget of the store read least, one per tick:
 * when no balloon can take more (@taken 0), or when the balloons take
 * less than the VMs must give (@need).  A store's memory tier is QEMU's
 * own memory, which no balloon reaches; its cold pages go to disk.
 */
static gboolean oc_policy_lower_budget(OcPolicy *p, const OcVm *vms, guint n,
                                       guint64 taken, guint64 need,
                                       GPtrArray *actions)
{
    g_autoptr(GArray) cands = g_array_new(FALSE, FALSE, sizeof(OcCandidate));

    for (guint i = 0; i < n; i++) {
        const OcVm *vm = &vms[i];
        /* Sorted descending: the store read least first. */
        OcCandidate c = { .vm = vm, .key = -vm->read_rate };

        if (!vm->up || !vm->has_store || vm->budget <= p->cfg.budget_floor ||
            vm->read_rate > p->cfg.store_hot_reads ||
            oc_policy_backing_off(p, vm->name)) {
            continue;
        }
        g_array_append_val(cands, c);
    }
    g_array_sort(cands, oc_candidate_cmp);
    /* One store a tick; more while the VMs must give more. */
    for (guint i = 0; i < cands->len && (!i || need > taken); i++) {
        oc_policy_lower_one_budget(p, g_array_index(cands, OcCandidate, i).vm,
                                   taken, need, actions);
        taken += p->cfg.budget_step;
    }
    return cands->len > 0;
}

/*
 * Give-back step 1: the budget of the store read most, one per tick, if
 * the VMs' worst case stays below its low mark (@room bytes, taken from).
 * Returns: TRUE when a budget was still below its maximum.
 */
static gboolean oc_policy_raise_budget(OcPolicy *p, const OcVm *vms, guint n,
                                       guint64 *room, GPtrArray *actions)
{
    const OcVm *best = NULL;
    guint64 to;

    for (guint i = 0; i < n; i++) {
        const OcVm *vm = &vms[i];

        if (!vm->up || !vm->has_store || vm->budget >= vm->budget_max) {
            continue;
        }
        if (!best || vm->read_rate > best->read_rate ||
            (vm->read_rate == best->read_rate &&
             g_strcmp0(vm->name, best->name) < 0)) {
            best = vm;
        }
    }
    if (!best) {
        return FALSE;
    }
    to = MIN(best->budget_max, best->budget + p->cfg.budget_step);
    if (to - best->budget > *room) {
        return TRUE;
    }
    *room -= to - best->budget;
    oc_policy_emit(actions, OC_ACTION_BUDGET, best, best->budget, to,
                   "%s for %u ticks; give back: raise the budget of the store "
                   "read most (%.0f pages/s) toward %.0f MiB",
                   p->why, p->low_ticks, best->read_rate,
                   oc_mib(best->budget_max));
    return TRUE;
}

/*
 * Give-back step 2: deflate every balloon, the VM swapping in most first,
 * as long as the VMs' worst case stays below its low mark (@room bytes):
 * a guest fills what it is given, and a cgroup filled past its limit
 * costs a whole VM.
 */
static void oc_policy_deflate(OcPolicy *p, const OcVm *vms, guint n,
                              guint64 room, GPtrArray *actions)
{
    g_autoptr(GArray) cands = g_array_new(FALSE, FALSE, sizeof(OcCandidate));

    for (guint i = 0; i < n; i++) {
        const OcVm *vm = &vms[i];
        OcCandidate c = { .vm = vm, .key = vm->swapin_rate };

        /* A VM backing off got its step in oc_policy_backoff(). */
        if (vm->up && vm->has_balloon && oc_vm_balloon_base(vm) < vm->ram &&
            !oc_policy_backing_off(p, vm->name)) {
            g_array_append_val(cands, c);
        }
    }
    g_array_sort(cands, oc_candidate_cmp);
    for (guint i = 0; i < cands->len; i++) {
        const OcVm *vm = g_array_index(cands, OcCandidate, i).vm;
        guint64 base = oc_vm_balloon_base(vm);
        guint64 to = MIN(vm->ram, base + p->cfg.balloon_step);

        if (to - base > room) {
            break;
        }
        room -= to - base;
        oc_policy_emit(actions, OC_ACTION_BALLOON, vm, base, to,
                       "%s for %u ticks; give back: deflate toward %.0f MiB "
                       "(swap-in %.0f pages/s)",
                       p->why, p->low_ticks, oc_mib(vm->ram), vm->swapin_rate);
    }
}

/*
 * Fills the floors of p->commit: the cgroup with every guest that has a
 * balloon at its floor and filling it, the others at their RAM.  When
 * that leaves less than a balloon step below the limit, the policy can
 * take no more, and has no room for a step back to a guest that thrashes:
 * the third run's 64 MiB step (817 to 753 MiB) left three 128 MiB floors
 * and the QEMUs' own memory at the limit, and the kernel OOM-killed a
 * QEMU.  Say so once, with the numbers, and again when they fit with
 * room for two steps.
 */
static void oc_policy_check_floors(OcPolicy *p, const OcHost *h,
                                   const OcVm *vms, guint n, GPtrArray *actions)
{
    OcCommit *c = &p->commit;
    GString *each;
    guint64 floors;

    c->floors = 0;
    c->floors_fit = TRUE;
    if (!c->known) {
        return;
    }
    each = g_string_new(NULL);
    floors = h->cg_current > c->guest_rss ? h->cg_current - c->guest_rss : 0;
    for (guint i = 0; i < n; i++) {
        const OcVm *vm = &vms[i];
        OcVmHistory *hist;
        guint64 size, floor;

        if (!vm->up) {
            continue;
        }
        /* A balloon whose guest has not reported yet is counted at its
         * floor too: a booting guest reports within a tick or two. */
        floor = oc_policy_floor(p, vm);
        size = vm->has_balloon ? MIN(vm->actual, floor) : vm->ram;
        if ((hist = g_hash_table_lookup(p->history, vm->name))) {
            hist->floor = floor;
        }
        floors += size;
        g_string_append_printf(each, "%s%s %.0f MiB", each->len ? ", " : "",
                               vm->name, oc_mib(size));
    }
    c->floors = floors;
    c->floors_fit = floors + p->cfg.balloon_step <= h->cg_max;
    /* Fit again only with room for two steps: the cgroup wanders by MiBs. */
    if (p->floors_unfit ? floors + 2 * p->cfg.balloon_step > h->cg_max :
                          c->floors_fit) {
        g_string_free(each, TRUE);
        return;
    }
    p->floors_unfit = !p->floors_unfit;
    oc_policy_emit(actions, OC_ACTION_FLOORS, &(OcVm) { .name = "*" },
                   floors, h->cg_max,
                   !p->floors_unfit ?
                   "the guests' floors fit under the limit again: at their "
                   "floors (%s) the VMs would hold %.0f MiB of %.0f MiB "
                   "(QEMUs' own memory %.0f MiB)" :
                   "the guests' floors do not fit under the limit: at their "
                   "floors (%s) the VMs would hold %.0f MiB of %.0f MiB "
                   "(QEMUs' own memory %.0f MiB), less than a balloon step "
                   "below it; the policy can take no more, nor give a "
                   "thrashing guest a step, and the kernel may OOM-kill a VM",
                   each->str, oc_mib(floors), oc_mib(h->cg_max),
                   oc_mib(c->overhead));
    ((OcAction *)g_ptr_array_index(actions, actions->len - 1))->warn =
        p->floors_unfit;
    g_string_free(each, TRUE);
}

char *oc_policy_describe_vm(OcPolicy *p, const char *vm)
{
    OcVmHistory *h = g_hash_table_lookup(p->history, vm);
    OcTransfer *t = g_hash_table_lookup(p->transfers, vm);
    GString *s = g_string_new(NULL);
    GHashTableIter it;
    gpointer key, value;

    if (h) {
        guint64 peak = 0;

        for (guint i = 0; i < h->n_used; i++) {
            peak = MAX(peak, h->used[i]);
        }
        g_string_append_printf(s, "idle %u ticks, peak use %.0f MiB",
                               h->idle_ticks, oc_mib(peak));
        if (h->floor) {
            g_string_append_printf(s, ", floor %.0f MiB", oc_mib(h->floor));
        }
    }
    if (oc_policy_backing_off(p, vm)) {
        g_string_append_printf(s, "%sbacking off", s->len ? ", " : "");
    }
    if (t) {
        g_string_append_printf(s, "%sgets a step from %s", s->len ? ", " : "",
                               t->donor);
    }
    g_hash_table_iter_init(&it, p->transfers);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        if (!strcmp(((OcTransfer *)value)->donor, vm)) {
            g_string_append_printf(s, "%sgives a step to %s",
                                   s->len ? ", " : "", (char *)key);
        }
    }
    return g_string_free(s, FALSE);
}

/*
 * Give-back under moderate pressure, once reclaim has ended and pressure
 * has stayed moderate for giveback_ticks: a balloon step to each busy
 * guest that reads its swap back (more than an eighth of swapin_backoff
 * or majflt_backoff: below that it is quiet), the one reading most
 * first, as long as the cgroup stays a step below its high mark and the
 * VMs' worst case below cgroup-commit-low.  Idle guests and guests that
 * read nothing back keep their balloons: their memory is cold.  Without
 * a cgroup limit nothing is given here.  With marks of 80% and 70%, the
 * evaluations' cgroups never got below 70% while the guests ran: reclaim
 * never ended, and a guest reading its swap back below the back-off rate
 * never got a MiB back.
 */
static void oc_policy_give_busy(OcPolicy *p, const OcHost *h, const OcVm *vms,
                                guint n, GPtrArray *actions)
{
    const OcPolicyConfig *cfg = &p->cfg;
    g_autoptr(GArray) cands = g_array_new(FALSE, FALSE, sizeof(OcCandidate));
    guint64 high, room;

    if (!h->has_cgroup || h->cg_max == OC_UNKNOWN || !h->cg_max) {
        return;
    }
    high = h->cg_max / 100.0 * cfg->cg_high;
    room = high > h->cg_current + cfg->balloon_step ?
           high - h->cg_current - cfg->balloon_step : 0;
    room = MIN(room, oc_policy_commit_room(p, h, cfg->commit_low));
    for (guint i = 0; i < n; i++) {
        const OcVm *vm = &vms[i];
        OcCandidate c = { .vm = vm, .key = vm->swapin_rate };

        if (!vm->up || !vm->has_balloon || !vm->has_stats ||
            oc_vm_balloon_base(vm) >= vm->ram || oc_vm_balloon_moving(vm) ||
            oc_policy_backing_off(p, vm->name) || oc_policy_idle(p, vm) ||
            oc_policy_donating(p, vm->name) ||
            g_hash_table_contains(p->transfers, vm->name) ||
            (vm->swapin_rate <= cfg->swapin_backoff / 8 &&
             vm->majflt_rate <= cfg->majflt_backoff / 8)) {
            continue;
        }
        g_array_append_val(cands, c);
    }
    g_array_sort(cands, oc_candidate_cmp);
    for (guint i = 0; i < cands->len; i++) {
        const OcVm *vm = g_array_index(cands, OcCandidate, i).vm;
        guint64 base = oc_vm_balloon_base(vm);
        guint64 to = MIN(vm->ram, base + cfg->balloon_step);

        if (to - base > room) {
            break;
        }
        room -= to - base;
        oc_policy_emit(actions, OC_ACTION_BALLOON, vm, base, to,
                       "%s for %u ticks, reclaim done; give back to a busy "
                       "guest that reads its swap back (swap-in %.0f pages/s, "
                       "major faults %.0f/s), a step below the high mark",
                       p->why, p->mid_ticks, vm->swapin_rate, vm->majflt_rate);
    }
}

/* Returns: TRUE while a balloon is still inflating toward its target. */
static gboolean oc_policy_inflating(const OcVm *vms, guint n)
{
    for (guint i = 0; i < n; i++) {
        if (vms[i].up && vms[i].has_balloon && vms[i].target != OC_UNKNOWN &&
            vms[i].actual > vms[i].target + OC_MIB) {
            return TRUE;
        }
    }
    return FALSE;
}

GPtrArray *oc_policy_decide(OcPolicy *policy, const OcHost *host,
                            const OcVm *vms, guint n_vms)
{
    GPtrArray *actions = g_ptr_array_new_with_free_func(oc_action_free);
    guint64 taken, need, room;
    guint before;

    oc_policy_update_commit(policy, host, vms, n_vms);
    oc_policy_update_mode(policy, host);
    oc_policy_update_history(policy, vms, n_vms);
    oc_policy_check_floors(policy, host, vms, n_vms, actions);
    oc_policy_settle_transfers(policy, vms, n_vms, actions);
    oc_policy_backoff(policy, host, vms, n_vms, actions);
    oc_policy_stalls(policy, vms, n_vms, actions);
    switch (policy->mode) {
    case OC_MODE_RECLAIM:
        before = actions->len;
        policy->near_limit = !oc_policy_cgroup_room(&policy->cfg, host, 0);
        need = oc_policy_need(policy, host);
        taken = oc_policy_inflate(policy, vms, n_vms, FALSE, need, actions);
        if ((!taken || need > taken) &&
            oc_policy_lower_budget(policy, vms, n_vms, taken, need, actions)) {
            break;
        }
        if (!taken && !oc_policy_cgroup_room(&policy->cfg, host, 0) &&
            !oc_policy_inflate(policy, vms, n_vms, TRUE, 0, actions)) {
            oc_policy_squeeze(policy, host, vms, n_vms, actions);
        }
        /*
         * Under moderate pressure with nothing left to take and no
         * balloon still on its way, reclaim is done, wherever the low
         * marks are: holding on to reclaim kept every guest at its floor
         * and gave nothing back for whole runs.
         */
        if (policy->moderate && actions->len == before &&
            !oc_policy_inflating(vms, n_vms)) {
            policy->mode = OC_MODE_HOLD;
        }
        break;
    case OC_MODE_GIVEBACK:
        room = oc_policy_commit_room(policy, host, policy->cfg.commit_low);
        if (!oc_policy_raise_budget(policy, vms, n_vms, &room, actions)) {
            oc_policy_deflate(policy, vms, n_vms, room, actions);
        }
        break;
    case OC_MODE_HOLD:
        if (policy->mid_ticks >= MAX(policy->cfg.giveback_ticks, 1)) {
            oc_policy_give_busy(policy, host, vms, n_vms, actions);
        }
        break;
    }
    return actions;
}
