/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The overcommit policy: host pressure and the state of each VM in,
 * balloon targets and store budgets out, each with its reason.
 *
 * It does no I/O and reads no clock, so recorded traces replay exactly
 * (tests/unit/test-overcommit-policy.c).  Its only memory is OcPolicy:
 * the mode that gives it hysteresis, the cgroup's last reading, each
 * guest's recent use and idleness, the VMs that are backing off and the
 * steps moving between VMs.
 *
 * Under pressure (or when the cgroup's growth would bring it within a
 * few ticks, or when the guests could fill it past its limit with the
 * memory their balloons leave them, on top of what each QEMU holds for
 * itself) it first inflates the balloons of guests with memory to spare
 * (free memory beyond their recent peak use, or the cold memory of idle
 * guests), then lowers the budget of the store read least, in the same
 * tick when the balloons cannot take what the guests must give; near the
 * cgroup's limit with nothing else to take, it takes free memory the
 * guests used lately (not from a busy guest between two rounds of its
 * work), and then squeezes the guest that read back least over its
 * window toward its floor (past the limit the kernel OOM-kills a VM); when
 * pressure has stayed low for a while it gives back in the reverse order,
 * as far as the guests' worst case stays below its low mark.  Reclaim
 * also ends when pressure is moderate and nothing is left to take above
 * the floors (the low marks may be out of reach); while pressure stays
 * moderate, busy guests that read their swap back then get steps back,
 * as far as the cgroup stays a step below its high mark.
 * A guest whose swap-in or major-fault rate climbs, or whose available
 * memory runs short while it swaps in, gets memory back at once (if the
 * VMs' cgroup has room for it; otherwise a step moved from an idle
 * guest) and is left alone for a while.  A balloon that stays short of
 * its target without moving (the guest gives no more) is taken at its
 * word after a while: its target is set back to where it is, and the VM
 * is left alone too.  A balloon never goes below the guest's floor, nor a
 * budget below the store floor.  A guest's floor follows what it uses:
 * an idle guest's memory is cold and goes down to a hard minimum, a busy
 * guest keeps its peak use plus a margin (at most guest_floor).  When
 * even the floors do not fit under the cgroup's limit, the policy says so
 * (an OC_ACTION_FLOORS decision, and OcCommit): past the limit the
 * kernel OOM-kills a VM, and nothing is left to take.
 */
#ifndef OC_POLICY_H
#define OC_POLICY_H

#include <glib.h>

#include "oc-json.h"    /* OC_UNKNOWN */

/* Host memory pressure, as host-pressure.c reads it. */
typedef struct OcHost {
    double psi_some;        /* /proc/pressure/memory "some" avg10, %; <0: unknown */
    double psi_full;        /* the same, "full" */
    guint64 mem_available;  /* MemAvailable, bytes, or OC_UNKNOWN */
    guint64 mem_total;      /* MemTotal, bytes, or OC_UNKNOWN */
    gboolean has_cgroup;    /* the fields below were read */
    guint64 cg_current;     /* memory.current of the VMs' cgroup */
    guint64 cg_max;         /* memory.max, or OC_UNKNOWN for "max" */
    double cg_some;         /* memory.pressure "some" avg10, %; <0: unknown */
} OcHost;

/* One VM as the daemon last saw it. */
typedef struct OcVm {
    const char *name;
    gboolean up;            /* reachable, and polled in full */
    gboolean has_balloon;
    guint64 ram;            /* guest RAM: the deflated balloon's size */
    guint64 actual;         /* guest memory now (query-balloon "actual") */
    guint64 target;         /* last target set, or OC_UNKNOWN */
    guint64 floor;          /* never balloon below this; 0: the default */
    gboolean has_stats;     /* the guest reports memory statistics */
    guint64 guest_avail;    /* stat-available-memory, bytes */
    double swapin_rate;     /* pages swapped in per second */
    double majflt_rate;     /* major faults per second */
    gboolean has_store;
    guint64 budget;         /* the store's mem-budget now */
    guint64 budget_max;     /* the budget it started with (give back to) */
    double read_rate;       /* pages read from the store per second */
    gboolean has_qemu_mem;  /* the two fields below were read */
    guint64 guest_rss;      /* guest RAM resident in QEMU, bytes */
    guint64 overhead;       /* QEMU's resident memory besides guest RAM */
    double cpu;             /* QEMU's CPU use, % of one CPU; <0: unknown */
} OcVm;

typedef struct OcPolicyConfig {
    double psi_high;            /* host some avg10 % at which to reclaim */
    double psi_low;             /* ... below which pressure is low */
    guint64 avail_low;          /* MemAvailable below which to reclaim */
    guint64 avail_high;         /* ... above which pressure is low */
    double cg_high;             /* cgroup memory.current, % of memory.max */
    double cg_low;
    guint giveback_ticks;       /* low-pressure ticks before giving back */
    guint64 balloon_step;       /* bytes per balloon change */
    guint64 budget_step;        /* bytes per mem-budget change */
    guint64 guest_floor;        /* the most a guest's floor is (busy guests) */
    guint64 guest_floor_min;    /* the least it is (idle guests): hard minimum */
    double floor_margin;        /* % over a busy guest's peak use for its floor */
    guint64 guest_reserve;      /* guest available memory left unclaimed */
    guint64 budget_floor;       /* least mem-budget */
    double swapin_backoff;      /* pages/s of swap-in that make a VM back off */
    double majflt_backoff;      /* major faults/s that do the same */
    guint backoff_ticks;        /* ticks a VM is left alone after backing off */
    guint balloon_stall_ticks;  /* ticks an inflating balloon may not move */
    double store_hot_reads;     /* pages/s: a store read more keeps its budget */
    guint spare_window;         /* ticks of peak use that free memory must exceed */
    guint idle_ticks;           /* quiet ticks that make a guest idle */
    double idle_cpu;            /* QEMU CPU %: above it, a guest is busy */
    guint cg_lead_ticks;        /* ticks ahead that the cgroup's growth is projected */
    double commit_high;         /* the VMs' worst case, % of memory.max, that
                                   starts reclaim; 0: not used */
    double commit_low;          /* ... below which it is low */
} OcPolicyConfig;

typedef enum {
    OC_MODE_HOLD,       /* change nothing */
    OC_MODE_RECLAIM,    /* take memory from the VMs */
    OC_MODE_GIVEBACK,   /* return it */
} OcMode;

typedef enum {
    OC_ACTION_BALLOON,  /* set the balloon target (guest memory size) */
    OC_ACTION_BUDGET,   /* set the store's mem-budget */
    OC_ACTION_FLOORS,   /* none: the guests' floors stopped (or started)
                           fitting under the limit; vm "*", @from the VMs'
                           worst case at their floors, @to the limit */
} OcActionKind;

typedef struct OcAction {
    OcActionKind kind;
    char *vm;
    guint64 from;
    guint64 to;
    char *reason;       /* why, for the log */
    gboolean warn;      /* log it as a warning: the policy is out of reach */
} OcAction;

/*
 * The VMs' worst case, from this tick's readings: what their cgroup would
 * hold if every guest made resident all the memory its balloon leaves it.
 */
typedef struct OcCommit {
    gboolean known;         /* a cgroup limit, and every QEMU's memory read */
    guint64 worst;          /* the cgroup now, plus @headroom */
    guint64 headroom;       /* what the guests may still make resident */
    guint64 guest_rss;      /* guest RAM resident, over all VMs */
    guint64 overhead;       /* the QEMUs' own memory, over all VMs */
    guint64 floors;         /* the cgroup with every balloon at its floor and
                               every guest filling it */
    gboolean floors_fit;    /* @floors is within the cgroup's limit */
} OcCommit;

typedef struct OcPolicy {
    OcPolicyConfig cfg;
    OcMode mode;
    guint low_ticks;            /* consecutive ticks of low pressure */
    gboolean moderate;          /* this tick's pressure is moderate */
    gboolean near_limit;        /* this tick the cgroup is past half-way
                                   from its high mark to its limit */
    guint mid_ticks;            /* consecutive ticks of moderate pressure
                                   in hold, once reclaim has ended */
    char *why;                  /* the pressure reading behind the mode */
    GHashTable *backoff;        /* VM name -> ticks left (GUINT_TO_POINTER) */
    GHashTable *stall;          /* VM name -> OcStall, balloons short of target */
    GHashTable *history;        /* VM name -> OcVmHistory (policy.c) */
    GHashTable *transfers;      /* recipient VM name -> OcTransfer (policy.c) */
    guint64 last_cg_current;    /* the cgroup's reading a tick ago, or OC_UNKNOWN */
    OcCommit commit;            /* this tick's worst case */
    gboolean floors_unfit;      /* reported that the floors do not fit */
} OcPolicy;

void oc_policy_config_defaults(OcPolicyConfig *cfg);
OcPolicy *oc_policy_new(const OcPolicyConfig *cfg);
void oc_policy_free(OcPolicy *policy);

/*
 * One step: returns the actions to take now, in order (an array of
 * OcAction, freed with the array).  VMs that are not @up get no action.
 */
GPtrArray *oc_policy_decide(OcPolicy *policy, const OcHost *host,
                            const OcVm *vms, guint n_vms);

const char *oc_mode_name(OcMode mode);
const char *oc_action_kind_name(OcActionKind kind);
/* Returns: TRUE while @vm is backing off. */
gboolean oc_policy_backing_off(OcPolicy *policy, const char *vm);
/*
 * Returns: the least memory the policy leaves @vm now: the VM's own
 * floor if configured, else guest_floor_min for an idle guest and its
 * peak use plus floor_margin, within [guest_floor_min, guest_floor], for
 * a busy one (see policy.c).
 */
guint64 oc_policy_floor(OcPolicy *policy, const OcVm *vm);
/* Returns: how many ticks in a row @vm has been idle (see policy.c). */
guint oc_policy_idle_ticks(OcPolicy *policy, const char *vm);
/*
 * Returns: what the policy holds about @vm, for the status command:
 * "idle 12 ticks, peak use 140 MiB, backing off, giving a step to b";
 * free with g_free().
 */
char *oc_policy_describe_vm(OcPolicy *policy, const char *vm);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(OcPolicy, oc_policy_free)

#endif
