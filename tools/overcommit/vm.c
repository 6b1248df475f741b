/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One managed VM over QMP (see vm.h).
 *
 * Work on a VM comes in batches of commands: discovery after each
 * connect, then one poll per tick.  A batch counts its outstanding
 * replies; the last one finishes it.  The QMP client fails every pending
 * command before it reports a lost connection, so a batch always ends
 * before the next connection starts and never mixes two QEMUs' replies.
 */
#include <string.h>

#include "vm.h"
#include "oc-json.h"
#include "qemu-cpu.h"
#include "qemu-memory.h"
#include "qmp-client.h"

#define OC_PAGE_SIZE 4096.0

typedef enum {
    OC_VM_DISCONNECTED,
    OC_VM_CONNECTING,
    OC_VM_DISCOVERING,
    OC_VM_READY,
} OcVmPhase;

struct OcVmLink {
    const OcVmConfig *cfg;
    guint retry_interval;       /* seconds */
    guint stats_interval;       /* guest-stats-polling-interval, seconds */
    const char *proc_root;      /* "/proc" */
    OcQmp *qmp;
    OcVmPhase phase;
    gint64 retry_at;            /* monotonic time of the next connect */
    char *error;                /* the last error, for the log and status */

    char *balloon;              /* balloon QOM path, or NULL */
    char *store;                /* /objects/ID, or NULL */
    char *device;               /* QOM path of the device using the store */
    guint batch;                /* replies outstanding in the batch */
    gboolean batch_failed;
    GArray *ram_ranges;         /* OcRamRange: the guest RAM's host mappings */
    gint64 pid;                 /* the QMP peer's PID, or 0 */
    guint64 qemu_rss;           /* its resident memory, or OC_UNKNOWN */
    char *mem_error;            /* why its memory is not known, or NULL */

    OcVm snap;                  /* what the policy sees */
    /* Counters behind the rates, from the previous reading. */
    guint64 prev_swapin, prev_majflt, prev_reads;
    gint64 prev_stats_update;   /* guest-stats last-update, seconds */
    gint64 prev_read_time;      /* monotonic time of prev_reads */
    double prev_cpu;            /* the QEMU's CPU seconds, at prev_cpu_time */
    gint64 prev_cpu_time;       /* monotonic; 0: no reading yet */
    /* For status only. */
    guint64 guest_free, oom_kills, store_mem, pages_mem, pages_disk;
    char *last_action;
};

static void oc_vm_start_discovery(OcVmLink *vm);

/* Logs @msg as a warning when it is news; repeats only to debug. */
static void oc_vm_set_error(OcVmLink *vm, const char *msg)
{
    if (g_strcmp0(vm->error, msg)) {
        g_warning("vm %s: %s", vm->cfg->name, msg);
        g_free(vm->error);
        vm->error = g_strdup(msg);
    } else {
        g_debug("vm %s: %s", vm->cfg->name, msg);
    }
}

/* Forgets everything learnt from the QEMU that went away. */
static void oc_vm_forget(OcVmLink *vm)
{
    g_clear_pointer(&vm->balloon, g_free);
    g_clear_pointer(&vm->device, g_free);
    vm->snap.up = vm->snap.has_balloon = vm->snap.has_stats = FALSE;
    vm->snap.has_store = FALSE;
    vm->snap.has_qemu_mem = FALSE;
    vm->snap.guest_rss = vm->snap.overhead = vm->qemu_rss = OC_UNKNOWN;
    vm->pid = 0;
    g_array_set_size(vm->ram_ranges, 0);
    vm->snap.target = OC_UNKNOWN;
    vm->snap.swapin_rate = vm->snap.majflt_rate = vm->snap.read_rate = 0;
    vm->prev_stats_update = 0;
    vm->prev_read_time = 0;
    vm->snap.cpu = -1;
    vm->prev_cpu_time = 0;
}

static void oc_vm_state_changed(OcQmp *qmp, gboolean ready, const GError *err,
                                gpointer opaque)
{
    OcVmLink *vm = opaque;

    if (ready) {
        g_message("vm %s: connected to %s", vm->cfg->name, oc_qmp_path(qmp));
        g_clear_pointer(&vm->error, g_free);
        oc_vm_start_discovery(vm);
        return;
    }
    if (vm->phase == OC_VM_READY || vm->phase == OC_VM_DISCOVERING) {
        g_autofree char *msg = g_strdup_printf(
            "%s (%s); retrying every %u s", err->message, oc_qmp_path(qmp),
            vm->retry_interval);
        g_clear_pointer(&vm->error, g_free);    /* always log a loss */
        oc_vm_set_error(vm, msg);
    } else {
        g_autofree char *msg = g_strdup_printf(
            "cannot reach QMP socket %s: %s; retrying every %u s",
            oc_qmp_path(qmp), err->message, vm->retry_interval);
        oc_vm_set_error(vm, msg);
    }
    vm->phase = OC_VM_DISCONNECTED;
    vm->batch = 0;
    vm->retry_at = g_get_monotonic_time() +
                   (gint64)vm->retry_interval * G_USEC_PER_SEC;
    oc_vm_forget(vm);
}

/* Runs @cb for @command as part of the current batch. */
static void oc_vm_batch_add(OcVmLink *vm, const char *command, JsonNode *args,
                            OcQmpReplyFunc cb, gpointer opaque)
{
    vm->batch++;
    oc_qmp_execute(vm->qmp, command, args, cb, opaque);
}

/* Returns: TRUE when @err is the batch's end (the caller then finishes). */
static gboolean oc_vm_batch_reply(OcVmLink *vm, const char *what,
                                  const GError *err)
{
    if (err) {
        g_autofree char *msg = g_strdup_printf("%s: %s", what, err->message);

        vm->batch_failed = TRUE;
        if (oc_qmp_is_ready(vm->qmp)) {
            oc_vm_set_error(vm, msg);
        }
    }
    g_assert(vm->batch > 0);
    return --vm->batch == 0;
}

/* ---- discovery ---- */

static void oc_vm_discovery_done(OcVmLink *vm)
{
    if (!oc_qmp_is_ready(vm->qmp)) {
        return;
    }
    vm->phase = OC_VM_READY;
    vm->snap.has_balloon = vm->balloon != NULL;
    vm->snap.has_store = vm->store && vm->device;
    if (!vm->balloon) {
        oc_vm_set_error(vm, "no virtio-balloon device: its memory is not "
                            "ballooned");
    }
    if (vm->store && !vm->device) {
        g_autofree char *msg = g_strdup_printf(
            "no virtio-vswap device uses %s: its budget is not changed",
            vm->store);
        oc_vm_set_error(vm, msg);
    }
    g_message("vm %s: balloon %s, store %s (device %s), RAM %" G_GUINT64_FORMAT
              " MiB, budget %" G_GUINT64_FORMAT " MiB", vm->cfg->name,
              vm->balloon ? vm->balloon : "none", vm->store ? vm->store : "none",
              vm->device ? vm->device : "none", vm->snap.ram >> 20,
              vm->snap.budget_max >> 20);
}

static void oc_vm_discovery_reply(OcVmLink *vm, const char *what,
                                  const GError *err)
{
    if (oc_vm_batch_reply(vm, what, err)) {
        oc_vm_discovery_done(vm);
    }
}

static void oc_vm_got_memory_size(OcQmp *qmp, JsonNode *ret, const GError *err,
                                  gpointer opaque)
{
    OcVmLink *vm = opaque;
    JsonObject *obj = ret && JSON_NODE_HOLDS_OBJECT(ret) ?
                      json_node_get_object(ret) : NULL;
    guint64 base = 0, plugged = 0;

    if (obj && oc_json_get_u64(obj, "base-memory", &base)) {
        oc_json_get_u64(obj, "plugged-memory", &plugged);
        vm->snap.ram = base + MIN(plugged, G_MAXUINT64 - base);
    }
    oc_vm_discovery_reply(vm, "query-memory-size-summary", err);
}

static void oc_vm_got_budget_max(OcQmp *qmp, JsonNode *ret, const GError *err,
                                 gpointer opaque)
{
    OcVmLink *vm = opaque;
    guint64 budget;

    if (ret && JSON_NODE_HOLDS_VALUE(ret) &&
        json_node_get_value_type(ret) == G_TYPE_INT64 &&
        (budget = json_node_get_int(ret)) < (1ull << 62)) {
        vm->snap.budget = budget;
        vm->snap.budget_max = vm->cfg->budget_max ? vm->cfg->budget_max : budget;
    } else if (!err) {
        vm->batch_failed = TRUE;
        g_clear_pointer(&vm->store, g_free);
    }
    if (err) {
        g_clear_pointer(&vm->store, g_free);
    }
    oc_vm_discovery_reply(vm, "mem-budget of the store", err);
}

typedef struct OcVmDeviceProbe {
    OcVmLink *vm;
    char *qom_path;
} OcVmDeviceProbe;

static void oc_vm_got_device_store(OcQmp *qmp, JsonNode *ret, const GError *err,
                                   gpointer opaque)
{
    OcVmDeviceProbe *probe = opaque;
    OcVmLink *vm = probe->vm;

    if (ret && JSON_NODE_HOLDS_VALUE(ret) &&
        json_node_get_value_type(ret) == G_TYPE_STRING &&
        !g_strcmp0(json_node_get_string(ret), vm->store) && !vm->device) {
        vm->device = g_steal_pointer(&probe->qom_path);
    }
    g_free(probe->qom_path);
    g_free(probe);
    oc_vm_discovery_reply(vm, "store link of a virtio-vswap device", err);
}

/* query-vswap: ask each device which store it uses. */
static void oc_vm_got_devices(OcQmp *qmp, JsonNode *ret, const GError *err,
                              gpointer opaque)
{
    OcVmLink *vm = opaque;
    JsonArray *devices = ret && JSON_NODE_HOLDS_ARRAY(ret) ?
                         json_node_get_array(ret) : NULL;
    guint n = devices ? MIN(json_array_get_length(devices), 64) : 0;

    for (guint i = 0; i < n && vm->store; i++) {
        JsonNode *node = json_array_get_element(devices, i);
        const char *path = JSON_NODE_HOLDS_OBJECT(node) ?
            oc_json_get_string(json_node_get_object(node), "qom-path") : NULL;
        OcVmDeviceProbe *probe;

        if (!path) {
            continue;
        }
        probe = g_new0(OcVmDeviceProbe, 1);
        probe->vm = vm;
        probe->qom_path = g_strdup(path);
        oc_vm_batch_add(vm, "qom-get", oc_qmp_args_qom(path, "store", NULL),
                        oc_vm_got_device_store, probe);
    }
    oc_vm_discovery_reply(vm, "query-vswap", err);
}

static void oc_vm_set_polling_done(OcQmp *qmp, JsonNode *ret, const GError *err,
                                   gpointer opaque)
{
    oc_vm_discovery_reply(opaque, "turn on guest-stats polling", err);
}

static void oc_vm_use_balloon(OcVmLink *vm, const char *path)
{
    if (vm->balloon) {
        return;
    }
    vm->balloon = g_strdup(path);
    oc_vm_batch_add(vm, "qom-set",
                    oc_qmp_args_qom(path, "guest-stats-polling-interval",
                                    json_node_init_int(json_node_alloc(),
                                                       vm->stats_interval)),
                    oc_vm_set_polling_done, vm);
}

/* qom-list of /machine/peripheral{,-anon}: the first virtio-balloon. */
static void oc_vm_got_peripherals(OcQmp *qmp, JsonNode *ret, const GError *err,
                                  gpointer opaque)
{
    OcVmDeviceProbe *probe = opaque;    /* qom_path: the directory listed */
    OcVmLink *vm = probe->vm;
    JsonArray *children = ret && JSON_NODE_HOLDS_ARRAY(ret) ?
                          json_node_get_array(ret) : NULL;
    guint n = children ? MIN(json_array_get_length(children), 4096) : 0;

    for (guint i = 0; i < n && !vm->balloon; i++) {
        JsonNode *node = json_array_get_element(children, i);
        JsonObject *child = JSON_NODE_HOLDS_OBJECT(node) ?
                            json_node_get_object(node) : NULL;
        const char *name = oc_json_get_string(child, "name");
        const char *type = oc_json_get_string(child, "type");

        if (name && type && g_str_has_prefix(type, "child<virtio-balloon") &&
            !strchr(name, '/') && strlen(name) < 256) {
            g_autofree char *path = g_strdup_printf("%s/%s", probe->qom_path,
                                                    name);
            oc_vm_use_balloon(vm, path);
        }
    }
    g_free(probe->qom_path);
    g_free(probe);
    oc_vm_discovery_reply(vm, "qom-list", err);
}

static void oc_vm_list_peripherals(OcVmLink *vm, const char *dir)
{
    OcVmDeviceProbe *probe = g_new0(OcVmDeviceProbe, 1);

    probe->vm = vm;
    probe->qom_path = g_strdup(dir);
    oc_vm_batch_add(vm, "qom-list", oc_qmp_args_qom(dir, NULL, NULL),
                    oc_vm_got_peripherals, probe);
}

/* Logs why the QEMU's own memory is not known, when that is news. */
static void oc_vm_set_mem_error(OcVmLink *vm, const char *msg)
{
    if (g_strcmp0(vm->mem_error, msg)) {
        if (msg) {
            g_warning("vm %s: %s: its QEMU's own memory is not counted",
                      vm->cfg->name, msg);
        } else {
            g_message("vm %s: its QEMU's own memory is counted again",
                      vm->cfg->name);
        }
        g_free(vm->mem_error);
        vm->mem_error = g_strdup(msg);
    }
}

/*
 * x-query-ramblock: the host mappings of the guest's RAM.  Its text is
 * parsed as untrusted; a QEMU without the command (or not a QEMU) only
 * leaves the QEMU's own memory unknown.
 */
static void oc_vm_got_ramblocks(OcQmp *qmp, JsonNode *ret, const GError *err,
                                gpointer opaque)
{
    OcVmLink *vm = opaque;
    JsonObject *obj = ret && JSON_NODE_HOLDS_OBJECT(ret) ?
                      json_node_get_object(ret) : NULL;
    const char *text = oc_json_get_string(obj, "human-readable-text");

    g_array_set_size(vm->ram_ranges, 0);
    vm->pid = oc_qmp_peer_pid(qmp);
    if (err && !oc_qmp_is_ready(qmp)) {
        /* The connection ended: that is logged as such. */
    } else if (err) {
        g_autofree char *msg = g_strdup_printf("x-query-ramblock: %s",
                                               err->message);
        oc_vm_set_mem_error(vm, msg);
    } else if (!oc_qemu_parse_ramblocks(text, vm->ram_ranges)) {
        oc_vm_set_mem_error(vm, "x-query-ramblock: no RAM block found");
    } else if (!vm->pid) {
        oc_vm_set_mem_error(vm, "the QMP socket does not name its peer's PID");
    }
    oc_vm_discovery_reply(vm, "x-query-ramblock", NULL);
}

static void oc_vm_start_discovery(OcVmLink *vm)
{
    vm->phase = OC_VM_DISCOVERING;
    vm->batch = 0;
    vm->batch_failed = FALSE;
    oc_vm_batch_add(vm, "query-memory-size-summary", NULL,
                    oc_vm_got_memory_size, vm);
    oc_vm_batch_add(vm, "x-query-ramblock", NULL, oc_vm_got_ramblocks, vm);
    if (vm->cfg->balloon) {
        oc_vm_use_balloon(vm, vm->cfg->balloon);
    } else {
        oc_vm_list_peripherals(vm, "/machine/peripheral");
        oc_vm_list_peripherals(vm, "/machine/peripheral-anon");
    }
    if (vm->cfg->store) {
        g_free(vm->store);
        vm->store = g_strdup_printf("/objects/%s", vm->cfg->store);
        oc_vm_batch_add(vm, "qom-get",
                        oc_qmp_args_qom(vm->store, "mem-budget", NULL),
                        oc_vm_got_budget_max, vm);
        oc_vm_batch_add(vm, "query-vswap", NULL, oc_vm_got_devices, vm);
    }
}

/* ---- polling ---- */

/* Per second, from two readings of a counter; 0 after a reset. */
static double oc_vm_rate(guint64 prev, guint64 now, double seconds)
{
    return now >= prev && seconds > 0 ? (now - prev) / seconds : 0;
}

static void oc_vm_poll_reply(OcVmLink *vm, const char *what, const GError *err)
{
    if (!oc_vm_batch_reply(vm, what, err) || !oc_qmp_is_ready(vm->qmp)) {
        return;
    }
    vm->snap.up = !vm->batch_failed;
    if (vm->snap.up && vm->error) {
        g_message("vm %s: polled in full again", vm->cfg->name);
        g_clear_pointer(&vm->error, g_free);
    }
}

static void oc_vm_got_balloon(OcQmp *qmp, JsonNode *ret, const GError *err,
                              gpointer opaque)
{
    OcVmLink *vm = opaque;
    JsonObject *obj = ret && JSON_NODE_HOLDS_OBJECT(ret) ?
                      json_node_get_object(ret) : NULL;

    if (!err && !oc_json_get_u64(obj, "actual", &vm->snap.actual)) {
        vm->batch_failed = TRUE;
    }
    oc_vm_poll_reply(vm, "query-balloon", err);
}

/* The guest's statistics: {"stats": {...}, "last-update": seconds}. */
static void oc_vm_got_guest_stats(OcQmp *qmp, JsonNode *ret, const GError *err,
                                  gpointer opaque)
{
    OcVmLink *vm = opaque;
    JsonObject *obj = ret && JSON_NODE_HOLDS_OBJECT(ret) ?
                      json_node_get_object(ret) : NULL;
    JsonObject *stats = oc_json_get_object(obj, "stats");
    guint64 updated = 0, swapin, majflt;

    /* A guest without the driver (or before its first report) says 0. */
    vm->snap.has_stats = oc_json_get_u64(obj, "last-update", &updated) &&
        updated > 0 &&
        oc_json_get_u64(stats, "stat-available-memory", &vm->snap.guest_avail) &&
        oc_json_get_u64(stats, "stat-swap-in", &swapin) &&
        oc_json_get_u64(stats, "stat-major-faults", &majflt);
    if (vm->snap.has_stats && (gint64)updated != vm->prev_stats_update) {
        if (vm->prev_stats_update) {
            double dt = (gint64)updated - vm->prev_stats_update;

            vm->snap.swapin_rate =
                oc_vm_rate(vm->prev_swapin, swapin, dt) / OC_PAGE_SIZE;
            vm->snap.majflt_rate = oc_vm_rate(vm->prev_majflt, majflt, dt);
        }
        vm->prev_stats_update = updated;
        vm->prev_swapin = swapin;
        vm->prev_majflt = majflt;
    }
    if (!oc_json_get_u64(stats, "stat-free-memory", &vm->guest_free)) {
        vm->guest_free = OC_UNKNOWN;
    }
    if (!oc_json_get_u64(stats, "stat-oom-kills", &vm->oom_kills)) {
        vm->oom_kills = OC_UNKNOWN;
    }
    oc_vm_poll_reply(vm, "guest-stats", err);
}

static void oc_vm_got_budget(OcQmp *qmp, JsonNode *ret, const GError *err,
                             gpointer opaque)
{
    OcVmLink *vm = opaque;

    if (ret && JSON_NODE_HOLDS_VALUE(ret) &&
        json_node_get_value_type(ret) == G_TYPE_INT64 &&
        json_node_get_int(ret) >= 0) {
        vm->snap.budget = json_node_get_int(ret);
    } else if (!err) {
        vm->batch_failed = TRUE;
    }
    oc_vm_poll_reply(vm, "mem-budget", err);
}

/* query-vswap: the entry of our device. */
static void oc_vm_got_vswap(OcQmp *qmp, JsonNode *ret, const GError *err,
                            gpointer opaque)
{
    OcVmLink *vm = opaque;
    JsonArray *devices = ret && JSON_NODE_HOLDS_ARRAY(ret) ?
                         json_node_get_array(ret) : NULL;
    guint n = devices ? MIN(json_array_get_length(devices), 64) : 0;
    JsonObject *dev = NULL;
    guint64 reads = 0;
    gint64 now = g_get_monotonic_time();

    for (guint i = 0; i < n && !dev; i++) {
        JsonNode *node = json_array_get_element(devices, i);
        JsonObject *obj = JSON_NODE_HOLDS_OBJECT(node) ?
                          json_node_get_object(node) : NULL;

        if (!g_strcmp0(oc_json_get_string(obj, "qom-path"), vm->device)) {
            dev = obj;
        }
    }
    if (!err && !(dev && oc_json_get_u64(oc_json_get_object(dev, "read"),
                                         "entries", &reads))) {
        vm->batch_failed = TRUE;
        oc_vm_set_error(vm, "query-vswap: the store's device is gone or its "
                            "entry is malformed");
    } else if (dev) {
        if (vm->prev_read_time) {
            vm->snap.read_rate = oc_vm_rate(vm->prev_reads, reads,
                (double)(now - vm->prev_read_time) / G_USEC_PER_SEC);
        }
        vm->prev_reads = reads;
        vm->prev_read_time = now;
        oc_json_get_u64(dev, "mem-bytes", &vm->store_mem);
        oc_json_get_u64(dev, "pages-mem", &vm->pages_mem);
        oc_json_get_u64(dev, "pages-disk", &vm->pages_disk);
    }
    oc_vm_poll_reply(vm, "query-vswap", err);
}

/*
 * The QEMU's resident memory (smaps), split into its guest's RAM and the
 * rest, QEMU's own (its share of what it maps with other processes).
 * Read at the poll, beside the balloon's reading.
 */
static void oc_vm_read_qemu_memory(OcVmLink *vm)
{
    g_autoptr(GError) err = NULL;
    guint64 rss, guest_rss, own;

    vm->snap.has_qemu_mem = FALSE;
    if (!vm->pid || !vm->ram_ranges->len) {
        return;     /* said at discovery */
    }
    if (!oc_qemu_read_memory(vm->proc_root, vm->pid, vm->ram_ranges, &rss,
                             &guest_rss, &own, &err)) {
        oc_vm_set_mem_error(vm, err->message);
        return;
    }
    oc_vm_set_mem_error(vm, NULL);
    vm->qemu_rss = rss;
    vm->snap.guest_rss = guest_rss;
    vm->snap.overhead = own;
    vm->snap.has_qemu_mem = TRUE;
}

/*
 * The QEMU's CPU use since the last poll, in % of one CPU (qemu-cpu.h);
 * unknown (-1) without a PID or a reading.  Not an error to log: it only
 * leaves the guest's idleness to its statistics, as before.
 */
static void oc_vm_read_qemu_cpu(OcVmLink *vm)
{
    gint64 now = g_get_monotonic_time();
    double seconds;

    if (!vm->pid || !oc_qemu_read_cpu(vm->proc_root, vm->pid, &seconds, NULL)) {
        vm->snap.cpu = -1;
        vm->prev_cpu_time = 0;
        return;
    }
    if (vm->prev_cpu_time && now > vm->prev_cpu_time) {
        vm->snap.cpu = MAX(0, 100.0 * (seconds - vm->prev_cpu) * G_USEC_PER_SEC /
                              (now - vm->prev_cpu_time));
    }
    vm->prev_cpu = seconds;
    vm->prev_cpu_time = now;
}

static void oc_vm_poll(OcVmLink *vm)
{
    vm->batch_failed = FALSE;
    oc_vm_read_qemu_memory(vm);
    oc_vm_read_qemu_cpu(vm);
    if (vm->balloon) {
        oc_vm_batch_add(vm, "query-balloon", NULL, oc_vm_got_balloon, vm);
        oc_vm_batch_add(vm, "qom-get",
                        oc_qmp_args_qom(vm->balloon, "guest-stats", NULL),
                        oc_vm_got_guest_stats, vm);
    }
    if (vm->snap.has_store) {
        oc_vm_batch_add(vm, "qom-get",
                        oc_qmp_args_qom(vm->store, "mem-budget", NULL),
                        oc_vm_got_budget, vm);
        oc_vm_batch_add(vm, "query-vswap", NULL, oc_vm_got_vswap, vm);
    }
    if (!vm->batch) {
        vm->snap.up = TRUE;     /* nothing to manage, but reachable */
    }
}

void oc_vm_link_tick(OcVmLink *vm)
{
    switch (vm->phase) {
    case OC_VM_DISCONNECTED:
        if (g_get_monotonic_time() >= vm->retry_at) {
            vm->phase = OC_VM_CONNECTING;
            oc_qmp_connect(vm->qmp);
        }
        break;
    case OC_VM_READY:
        if (!vm->batch) {
            oc_vm_poll(vm);
        }
        break;
    case OC_VM_CONNECTING:
    case OC_VM_DISCOVERING:
        break;
    }
}

/* ---- actions ---- */

typedef struct OcVmChange {
    OcVmLink *vm;
    OcActionKind kind;
    guint64 to;
} OcVmChange;

static void oc_vm_change_done(OcQmp *qmp, JsonNode *ret, const GError *err,
                              gpointer opaque)
{
    OcVmChange *change = opaque;
    OcVmLink *vm = change->vm;

    if (err) {
        g_autofree char *msg = g_strdup_printf("%s to %" G_GUINT64_FORMAT
                                               " MiB failed: %s",
                                               oc_action_kind_name(change->kind),
                                               change->to >> 20, err->message);
        oc_vm_set_error(vm, msg);
    } else if (change->kind == OC_ACTION_BALLOON) {
        vm->snap.target = change->to;
    } else {
        vm->snap.budget = change->to;
    }
    g_free(change);
}

void oc_vm_link_apply(OcVmLink *vm, const OcAction *action)
{
    OcVmChange *change = g_new0(OcVmChange, 1);

    change->vm = vm;
    change->kind = action->kind;
    change->to = action->to;
    g_free(vm->last_action);
    vm->last_action = g_strdup_printf("%s %" G_GUINT64_FORMAT " -> %"
                                      G_GUINT64_FORMAT " MiB",
                                      oc_action_kind_name(action->kind),
                                      action->from >> 20, action->to >> 20);
    if (action->kind == OC_ACTION_BALLOON) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "value");
        json_builder_add_int_value(b, action->to);
        json_builder_end_object(b);
        oc_qmp_execute(vm->qmp, "balloon", json_builder_get_root(b),
                       oc_vm_change_done, change);
    } else {
        oc_qmp_execute(vm->qmp, "qom-set",
                       oc_qmp_args_qom(vm->store, "mem-budget",
                                       json_node_init_int(json_node_alloc(),
                                                          action->to)),
                       oc_vm_change_done, change);
    }
}

const OcVm *oc_vm_link_snapshot(OcVmLink *vm)
{
    return &vm->snap;
}

/* ---- status ---- */

static const char *oc_vm_phase_name(OcVmLink *vm)
{
    switch (vm->phase) {
    case OC_VM_DISCONNECTED:
        return "unreachable";
    case OC_VM_CONNECTING:
        return "connecting";
    case OC_VM_DISCOVERING:
        return "discovering";
    case OC_VM_READY:
        return vm->snap.up ? "up" : "poll-failed";
    }
    return "?";
}

static void oc_vm_status_u64(JsonBuilder *b, const char *name, guint64 v)
{
    json_builder_set_member_name(b, name);
    if (v == OC_UNKNOWN) {
        json_builder_add_null_value(b);
    } else {
        json_builder_add_int_value(b, (gint64)v);
    }
}

void oc_vm_link_status(OcVmLink *vm, JsonBuilder *b, const char *policy_state)
{
    const OcVm *s = &vm->snap;
    gboolean up = vm->phase == OC_VM_READY;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, vm->cfg->name);
    json_builder_set_member_name(b, "qmp");
    json_builder_add_string_value(b, vm->cfg->qmp);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, oc_vm_phase_name(vm));
    json_builder_set_member_name(b, "error");
    if (vm->error) {
        json_builder_add_string_value(b, vm->error);
    } else {
        json_builder_add_null_value(b);
    }
    oc_vm_status_u64(b, "ram", up && s->ram ? s->ram : OC_UNKNOWN);
    oc_vm_status_u64(b, "actual", up && s->has_balloon ? s->actual : OC_UNKNOWN);
    oc_vm_status_u64(b, "target", up ? s->target : OC_UNKNOWN);
    oc_vm_status_u64(b, "guest-available",
                     up && s->has_stats ? s->guest_avail : OC_UNKNOWN);
    oc_vm_status_u64(b, "guest-free",
                     up && s->has_stats ? vm->guest_free : OC_UNKNOWN);
    oc_vm_status_u64(b, "oom-kills", up && s->has_stats ? vm->oom_kills : OC_UNKNOWN);
    json_builder_set_member_name(b, "swapin-rate");
    json_builder_add_double_value(b, s->swapin_rate);
    json_builder_set_member_name(b, "majflt-rate");
    json_builder_add_double_value(b, s->majflt_rate);
    oc_vm_status_u64(b, "budget", up && s->has_store ? s->budget : OC_UNKNOWN);
    oc_vm_status_u64(b, "budget-max", up && s->has_store ? s->budget_max : OC_UNKNOWN);
    oc_vm_status_u64(b, "store-mem-bytes", up && s->has_store ? vm->store_mem : OC_UNKNOWN);
    oc_vm_status_u64(b, "pages-mem", up && s->has_store ? vm->pages_mem : OC_UNKNOWN);
    oc_vm_status_u64(b, "pages-disk", up && s->has_store ? vm->pages_disk : OC_UNKNOWN);
    json_builder_set_member_name(b, "read-rate");
    json_builder_add_double_value(b, s->read_rate);
    oc_vm_status_u64(b, "qemu-pid", up && vm->pid ? (guint64)vm->pid : OC_UNKNOWN);
    json_builder_set_member_name(b, "qemu-cpu");
    if (up && s->cpu >= 0) {
        json_builder_add_double_value(b, s->cpu);
    } else {
        json_builder_add_null_value(b);
    }
    oc_vm_status_u64(b, "qemu-rss", up && s->has_qemu_mem ? vm->qemu_rss : OC_UNKNOWN);
    oc_vm_status_u64(b, "guest-rss", up && s->has_qemu_mem ? s->guest_rss : OC_UNKNOWN);
    oc_vm_status_u64(b, "overhead", up && s->has_qemu_mem ? s->overhead : OC_UNKNOWN);
    json_builder_set_member_name(b, "last-action");
    if (vm->last_action) {
        json_builder_add_string_value(b, vm->last_action);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "policy-state");
    json_builder_add_string_value(b, policy_state ? policy_state : "");
    json_builder_end_object(b);
}

/* ---- life cycle ---- */

OcVmLink *oc_vm_link_new(const OcVmConfig *cfg, guint retry_interval,
                         guint stats_interval, const char *proc_root)
{
    OcVmLink *vm = g_new0(OcVmLink, 1);

    vm->cfg = cfg;
    vm->proc_root = proc_root;
    vm->ram_ranges = g_array_new(FALSE, FALSE, sizeof(OcRamRange));
    vm->retry_interval = retry_interval;
    vm->stats_interval = stats_interval;
    vm->qmp = oc_qmp_new(cfg->name, cfg->qmp, oc_vm_state_changed, vm);
    vm->snap.name = cfg->name;
    vm->snap.floor = cfg->floor;
    vm->guest_free = vm->oom_kills = OC_UNKNOWN;
    oc_vm_forget(vm);
    return vm;
}

void oc_vm_link_free(OcVmLink *vm)
{
    if (!vm) {
        return;
    }
    /* Fails pending commands, whose callbacks still use @vm. */
    oc_qmp_free(vm->qmp);
    g_free(vm->error);
    g_free(vm->balloon);
    g_free(vm->store);
    g_free(vm->device);
    g_free(vm->last_action);
    g_free(vm->mem_error);
    g_array_unref(vm->ram_ranges);
    g_free(vm);
}
