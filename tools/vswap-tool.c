/*
 * vswap-tool: inspect, check, compact and benchmark vswap page store files.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * info, stats and check read the file directly (format.h), never through
 * the store: opening a store marks its file unclean, and these must work on
 * files that cannot be opened at all.  They trust nothing they read: every
 * length and offset is checked before use.  compact and bench go through
 * the store API.
 *
 * Exit status: 0 success (check: nothing wrong); 1 problems found or the
 * operation failed; 2 usage error, or a file that cannot be examined
 * (missing, unreadable, not a store file, newer format).
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <locale.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "vswap/store.h"
#include "store-int.h"

enum {
    TOOL_OK = 0,
    TOOL_PROBLEMS = 1,
    TOOL_ERROR = 2,
};

static bool tool_quiet;

static void tool_progress_clear(void);

static void G_GNUC_PRINTF(1, 2) tool_err(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    tool_progress_clear();
    fputs("vswap-tool: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* "3.5 MiB (3670016 bytes)" style sizes, for people. */
static char *tool_size(uint64_t bytes)
{
    return g_format_size_full(bytes, G_FORMAT_SIZE_IEC_UNITS);
}

/*
 * --- progress on stderr ---
 * A bar redrawn in place on a terminal; otherwise (logs, pipes) a
 * percentage line at most once a second, so quick runs print nothing.
 */

#define TOOL_PROGRESS_LINE_US (1000 * 1000)

typedef struct ToolProgress {
    const char *what;
    uint64_t total;
    bool tty;
    bool shown;                 /* something was printed */
    int last_pct;
    int64_t last_us;
} ToolProgress;

/* The bar on screen, cleared before other output to the terminal. */
static ToolProgress *tool_bar;

static void tool_progress_clear(void)
{
    if (tool_bar && tool_bar->tty && tool_bar->shown) {
        fputs("\r\033[K", stderr);
    }
}

static void tool_progress_start(ToolProgress *p, const char *what,
                                uint64_t total)
{
    tool_bar = p;
    *p = (ToolProgress) {
        .what = what,
        .total = total,
        .tty = isatty(STDERR_FILENO),
        .last_pct = -1,
        .last_us = g_get_monotonic_time(),
    };
}

static void tool_progress_show(ToolProgress *p, uint64_t done, bool force)
{
    int64_t now = g_get_monotonic_time();
    int pct, width = 30, fill;

    if (tool_quiet || p->total == 0) {
        return;
    }
    pct = MIN(done, p->total) * 100 / p->total;
    if (p->tty) {
        if (!force && pct == p->last_pct && now - p->last_us < 200 * 1000) {
            return;
        }
        fill = pct * width / 100;
        fprintf(stderr, "\r%-8s [%.*s%*s] %3d%%", p->what, fill,
                "##############################", width - fill, "", pct);
    } else {
        if (!force && now - p->last_us < TOOL_PROGRESS_LINE_US) {
            return;
        }
        fprintf(stderr, "%s: %d%%\n", p->what, pct);
    }
    fflush(stderr);
    p->shown = true;
    p->last_pct = pct;
    p->last_us = now;
}

static void tool_progress(ToolProgress *p, uint64_t done)
{
    tool_progress_show(p, done, false);
}

static void tool_progress_end(ToolProgress *p)
{
    tool_bar = NULL;
    if (!p->shown) {
        return;
    }
    tool_progress_show(p, p->total, true);
    if (p->tty) {
        fputc('\n', stderr);
    }
}

/* --- reading a store file without the store --- */

typedef struct ToolFile {
    const char *path;
    int notify_fd;              /* the engine's completion eventfd */
    VswapIoEngine *io;          /* io_uring, read-only, on the file */
    VswapFileReader rd;         /* the checked readers' access to it */
    VswapFileSb sb;
    bool have_ckpt;             /* CLEAN, and the checkpoint is sound */
    char *ckpt_error;           /* CLEAN, but the checkpoint is not */
    VswapCkptHdr ckpt;
    uint32_t nsegs;             /* segment table entries to examine */
    /* the checkpoint's dictionaries, by (id - 1) % VSWAP_CKPT_MAX_DICTS */
    VswapDict *dicts[VSWAP_CKPT_MAX_DICTS];
    unsigned ndicts;
} ToolFile;

/* Exit status for a GError from the shared readers (checkpoint.c). */
static int tool_status_of(const GError *err)
{
    return err->code == EBADMSG || err->code == EUCLEAN ? TOOL_PROBLEMS :
           TOOL_ERROR;
}

static ssize_t tool_file_run(void *opaque, VswapIoReq *req)
{
    ToolFile *tf = opaque;

    return vswap_io_run(tf->io, tf->notify_fd, req);
}

/*
 * Open an I/O engine on @path for the readers.  Returns TOOL_OK, or
 * TOOL_ERROR after printing why.
 */
static int tool_file_open_engine(ToolFile *tf, const char *path)
{
    g_autoptr(GError) err = NULL;

    tf->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (tf->notify_fd < 0) {
        tool_err("eventfd: %s", g_strerror(errno));
        return TOOL_ERROR;
    }
    tf->io = vswap_io_uring_open(path, VSWAP_IO_OPEN_READONLY, 8,
                                 tf->notify_fd, &err);
    if (!tf->io) {
        /* The engine's codes are errno values (io-engine.h). */
        if (err->code == EMEDIUMTYPE) {
            tool_err("%s: not a regular file", path);
        } else {
            tool_err("%s: %s", path, g_strerror(err->code));
        }
        return TOOL_ERROR;
    }
    tf->rd = (VswapFileReader) {
        .io = tf->io, .name = path, .run = tool_file_run, .opaque = tf,
    };
    return TOOL_OK;
}

/* A checkpoint's dictionary, checked by the reader: loaded (dict.c). */
static bool tool_load_dict(void *opaque, uint16_t id, const void *content,
                           size_t len, GError **errp)
{
    ToolFile *tf = opaque;
    g_autoptr(GError) err = NULL;
    VswapDict *dict = vswap_dict_load(content, len, id, 1, &err);

    if (!dict) {
        g_set_error(errp, VSWAP_STORE_ERROR, EBADMSG,
                    "%s: corrupt checkpoint (dictionary %u: %s)", tf->path, id,
                    err->message);
        return false;
    }
    vswap_dict_unref(tf->dicts[(id - 1) % VSWAP_CKPT_MAX_DICTS]);
    tf->dicts[(id - 1) % VSWAP_CKPT_MAX_DICTS] = dict;
    tf->ndicts++;
    return true;
}

/*
 * Open @path and read its superblock and checkpoint.  Returns TOOL_OK, or
 * an exit status after printing why the file cannot be examined.
 */
static int tool_file_open(ToolFile *tf, const char *path)
{
    g_autoptr(GError) err = NULL;
    uint64_t span;
    int ret;

    memset(tf, 0, sizeof(*tf));
    tf->path = path;
    tf->notify_fd = -1;
    ret = tool_file_open_engine(tf, path);
    if (ret != TOOL_OK) {
        return ret;
    }
    if (!vswap_file_read_sb(&tf->rd, &tf->sb, &err)) {
        tool_err("%s", err->message);
        return tool_status_of(err);
    }
    span = tf->sb.file_size > tf->sb.data_offset ?
           tf->sb.file_size - tf->sb.data_offset : 0;
    span = (span + tf->sb.segment_size - 1) / tf->sb.segment_size;
    tf->nsegs = MIN(span, UINT32_MAX);
    if (tf->sb.flags & VSWAP_SB_CLEAN) {
        /* The segment table ends where the checkpoint starts. */
        tf->nsegs = MIN(tf->nsegs, tf->sb.ckpt_segment);
        if (vswap_ckpt_read_hdr(&tf->rd, &tf->sb, &tf->ckpt, &err) &&
            vswap_ckpt_read_entries(&tf->rd, &tf->sb, &tf->ckpt, NULL, NULL,
                                    &err) &&
            vswap_ckpt_read_dicts(&tf->rd, &tf->sb, &tf->ckpt, tool_load_dict,
                                  tf, &err)) {
            tf->have_ckpt = true;
            tf->nsegs = tf->ckpt.nsegs;
        } else {
            tf->ckpt_error = g_strdup(err->message);
        }
    }
    return TOOL_OK;
}

/* A shared reader's message without its leading "FILE: ". */
static const char *tool_msg(const ToolFile *tf, const char *msg)
{
    size_t len = strlen(tf->path);

    if (!strncmp(msg, tf->path, len) && !strncmp(msg + len, ": ", 2)) {
        return msg + len + 2;
    }
    return msg;
}

static void tool_file_close(ToolFile *tf)
{
    vswap_io_free(tf->io);
    if (tf->notify_fd >= 0) {
        close(tf->notify_fd);
    }
    g_free(tf->ckpt_error);
    for (unsigned i = 0; i < VSWAP_CKPT_MAX_DICTS; i++) {
        vswap_dict_unref(tf->dicts[i]);
    }
}

static uint64_t tool_seg_offset(const ToolFile *tf, uint32_t index)
{
    return tf->sb.data_offset + (uint64_t)index * tf->sb.segment_size;
}

typedef enum ToolSegKind {
    TOOL_SEG_EMPTY,             /* zeros: never written, or punched */
    TOOL_SEG_VALID,
    TOOL_SEG_BAD,               /* not a valid segment header */
    TOOL_SEG_STALE_CKPT,        /* an older checkpoint: free space */
    TOOL_SEG_MISSING,           /* beyond the end of the file */
} ToolSegKind;

static ToolSegKind tool_seg_hdr(const ToolFile *tf, uint32_t index,
                                VswapSegmentHdr *hdr)
{
    uint8_t raw[VSWAP_SEG_HDR_SIZE];
    uint64_t off = tool_seg_offset(tf, index);
    uint64_t magic;
    ssize_t n;

    if (off >= tf->sb.file_size) {
        return TOOL_SEG_MISSING;
    }
    n = vswap_file_pread(&tf->rd, raw, sizeof(raw), off, tf->sb.file_size);
    if (n != sizeof(raw)) {
        return TOOL_SEG_BAD;
    }
    memcpy(&magic, raw, sizeof(magic));
    if (le64toh(magic) == VSWAP_CKPT_MAGIC) {
        return TOOL_SEG_STALE_CKPT;
    }
    if (vswap_seg_hdr_verify(raw, index, tf->sb.segment_size, hdr) == 0) {
        return TOOL_SEG_VALID;
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        if (raw[i]) {
            return TOOL_SEG_BAD;
        }
    }
    return TOOL_SEG_EMPTY;
}

/* --- info and stats --- */

typedef struct ToolInfo {
    uint64_t segs_valid, segs_empty, segs_bad, segs_stale;
    uint64_t records, used_bytes, max_seq;
    /* From the checkpoint: */
    uint64_t entries, fill, fill_zero, raw, zstd, payload_bytes, live_bytes;
    uint64_t grouped;           /* of zstd: pages of group records */
} ToolInfo;

static bool tool_info_entry(void *opaque, const VswapCkptEntry *e,
                            GError **errp)
{
    ToolInfo *in = opaque;

    in->entries++;
    if (e->kind == VSWAP_CKPT_FILL) {
        in->fill++;
        in->fill_zero += e->value == 0;
        return true;
    }
    /*
     * zstd payloads are always smaller than a page; raw ones are a page.
     * A page of a group record counts its share of the record's bytes.
     */
    if (e->kind == VSWAP_CKPT_MEMBER) {
        in->zstd++;
        in->grouped++;
        in->payload_bytes += e->len;
        in->live_bytes += e->len;
        return true;
    }
    if (e->len == VSWAP_STORE_PAGE_SIZE) {
        in->raw++;
    } else {
        in->zstd++;
    }
    in->payload_bytes += e->len;
    in->live_bytes += vswap_rec_size(e->len);
    return true;
}

static int tool_gather(ToolFile *tf, ToolInfo *in)
{
    g_autoptr(GError) err = NULL;
    ToolProgress p;

    memset(in, 0, sizeof(*in));
    tool_progress_start(&p, "scan", tf->nsegs > 4096 ? tf->nsegs : 0);
    for (uint32_t i = 0; i < tf->nsegs; i++) {
        VswapSegmentHdr hdr;

        switch (tool_seg_hdr(tf, i, &hdr)) {
        case TOOL_SEG_VALID:
            in->segs_valid++;
            in->records += hdr.nrecords;
            in->used_bytes += hdr.used;
            in->max_seq = MAX(in->max_seq, hdr.seq);
            break;
        case TOOL_SEG_BAD:
            in->segs_bad++;
            break;
        case TOOL_SEG_STALE_CKPT:
            in->segs_stale++;
            break;
        default:
            in->segs_empty++;
            break;
        }
        tool_progress(&p, i + 1);
    }
    tool_progress_end(&p);
    if (tf->have_ckpt &&
        !vswap_ckpt_read_entries(&tf->rd, &tf->sb, &tf->ckpt,
                                 tool_info_entry, in, &err)) {
        /* It verified a moment ago: the file is changing or unreadable. */
        tool_err("%s", err->message);
        return TOOL_ERROR;
    }
    return TOOL_OK;
}

static const char *tool_state(const ToolFile *tf)
{
    if (tf->have_ckpt) {
        return "clean";
    }
    return tf->ckpt_error ? "clean flag set, but the checkpoint is unusable" :
           "not closed cleanly";
}

static double tool_ratio(const ToolInfo *in)
{
    return in->payload_bytes ?
           (double)(in->raw + in->zstd) * VSWAP_STORE_PAGE_SIZE /
           in->payload_bytes :
           0.0;
}

/* Dead bytes: written record bytes that no map entry points at. */
static uint64_t tool_dead_bytes(const ToolInfo *in)
{
    uint64_t data = in->used_bytes - in->segs_valid * VSWAP_SEG_HDR_SIZE;

    return data > in->live_bytes ? data - in->live_bytes : 0;
}

static void tool_print_info(const ToolFile *tf, const ToolInfo *in)
{
    g_autofree char *fsize = tool_size(tf->sb.file_size);
    g_autofree char *alloc = tool_size(tf->sb.alloc_bytes);
    g_autofree char *used = tool_size(in->used_bytes);
    g_autofree char *segsz = tool_size(tf->sb.segment_size);
    g_autofree char *cap = tool_size(tf->sb.capacity * VSWAP_STORE_PAGE_SIZE);

    printf("%s: vswap store file, format version %u\n", tf->path,
           tf->sb.version);
    printf("  state:          %s\n", tool_state(tf));
    if (tf->ckpt_error) {
        printf("                  (%s)\n", tool_msg(tf, tf->ckpt_error));
    }
    printf("  capacity:       %" PRIu64 " slots (%s)\n", tf->sb.capacity, cap);
    printf("  segment size:   %s\n", segsz);
    printf("  data offset:    %" PRIu64 "\n", tf->sb.data_offset);
    printf("  file size:      %s (%" PRIu64 " bytes), %s allocated\n", fsize,
           tf->sb.file_size, alloc);
    printf("  segments:       %u in the table: %" PRIu64 " written, %"
           PRIu64 " empty, %" PRIu64 " bad", tf->nsegs, in->segs_valid,
           in->segs_empty + in->segs_stale, in->segs_bad);
    printf("\n  records:        %" PRIu64 " in written segments, %s used\n",
           in->records, used);
    if (!tf->have_ckpt) {
        printf("  (no checkpoint: which records are live is unknown;"
               " figures come from segment headers)\n");
        return;
    }
    {
        g_autofree char *live = tool_size(in->live_bytes);
        g_autofree char *dead = tool_size(tool_dead_bytes(in));
        g_autofree char *payload = tool_size(in->payload_bytes);
        uint64_t data = in->used_bytes - in->segs_valid * VSWAP_SEG_HDR_SIZE;

        printf("  checkpoint:     at byte %" PRIu64 ", %" PRIu64
               " map entries, %u compression dictionaries\n",
               vswap_ckpt_offset(&tf->sb), in->entries, tf->ndicts);
        printf("  pages:          %" PRIu64 " stored: %" PRIu64 " fill (%"
               PRIu64 " zero), %" PRIu64 " zstd (%" PRIu64 " in groups), %"
               PRIu64 " raw\n", in->entries, in->fill, in->fill_zero,
               in->zstd, in->grouped, in->raw);
        printf("  live bytes:     %s\n", live);
        printf("  dead bytes:     %s (%.1f%% of record bytes)\n", dead,
               data ? 100.0 * tool_dead_bytes(in) / data : 0.0);
        printf("  payload:        %s, compression ratio %.2f\n", payload,
               tool_ratio(in));
    }
}

/* Append @s to @out as a JSON string; invalid UTF-8 becomes U+FFFD. */
static void tool_json_string(GString *out, const char *s)
{
    g_autofree char *valid = g_utf8_make_valid(s, -1);

    g_string_append_c(out, '"');
    for (const char *c = valid; *c; c++) {
        switch (*c) {
        case '"':
            g_string_append(out, "\\\"");
            break;
        case '\\':
            g_string_append(out, "\\\\");
            break;
        case '\n':
            g_string_append(out, "\\n");
            break;
        case '\t':
            g_string_append(out, "\\t");
            break;
        default:
            if ((unsigned char)*c < 0x20 || *c == 0x7f) {
                g_string_append_printf(out, "\\u%04x", (unsigned char)*c);
            } else {
                g_string_append_c(out, *c);
            }
        }
    }
    g_string_append_c(out, '"');
}

static void tool_json_u64(GString *out, const char *key, uint64_t v,
                          bool valid)
{
    if (valid) {
        g_string_append_printf(out, "\"%s\": %" PRIu64, key, v);
    } else {
        g_string_append_printf(out, "\"%s\": null", key);
    }
}

static void tool_print_json(const ToolFile *tf, const ToolInfo *in)
{
    g_autoptr(GString) o = g_string_new("{\n  \"file\": ");
    bool c = tf->have_ckpt;

    tool_json_string(o, tf->path);
    g_string_append_printf(o, ",\n  \"format_version\": %u,\n"
                           "  \"clean\": %s,\n  \"checkpoint\": {",
                           tf->sb.version, c ? "true" : "false");
    g_string_append_printf(o, "\"valid\": %s, ", c ? "true" : "false");
    tool_json_u64(o, "offset", vswap_ckpt_offset(&tf->sb),
                  tf->sb.flags & VSWAP_SB_CLEAN);
    g_string_append(o, ", ");
    tool_json_u64(o, "entries", in->entries, c);
    g_string_append(o, ", ");
    tool_json_u64(o, "dictionaries", tf->ndicts, c);
    g_string_append(o, ", \"error\": ");
    if (tf->ckpt_error) {
        tool_json_string(o, tf->ckpt_error);
    } else {
        g_string_append(o, "null");
    }
    g_string_append_printf(o, "},\n  \"capacity\": %" PRIu64 ",\n"
                           "  \"segment_size\": %u,\n"
                           "  \"data_offset\": %" PRIu64 ",\n"
                           "  \"file_size\": %" PRIu64 ",\n"
                           "  \"allocated_bytes\": %" PRIu64 ",\n",
                           tf->sb.capacity, tf->sb.segment_size,
                           tf->sb.data_offset, tf->sb.file_size,
                           tf->sb.alloc_bytes);
    g_string_append_printf(o, "  \"segments\": {\"table\": %u, "
                           "\"written\": %" PRIu64 ", \"empty\": %" PRIu64
                           ", \"bad\": %" PRIu64 "},\n", tf->nsegs,
                           in->segs_valid, in->segs_empty + in->segs_stale,
                           in->segs_bad);
    g_string_append_printf(o, "  \"records\": %" PRIu64 ",\n"
                           "  \"used_bytes\": %" PRIu64 ",\n",
                           in->records, in->used_bytes);
    if (c) {
        g_string_append_printf(o, "  \"pages\": {\"total\": %" PRIu64
                               ", \"fill\": %" PRIu64 ", \"fill_zero\": %"
                               PRIu64 ", \"zstd\": %" PRIu64 ", \"grouped\": %"
                               PRIu64 ", \"raw\": %" PRIu64 "},\n",
                               in->entries, in->fill, in->fill_zero, in->zstd,
                               in->grouped, in->raw);
    } else {
        g_string_append(o, "  \"pages\": null,\n");
    }
    g_string_append(o, "  ");
    tool_json_u64(o, "live_bytes", in->live_bytes, c);
    g_string_append(o, ",\n  ");
    tool_json_u64(o, "dead_bytes", tool_dead_bytes(in), c);
    g_string_append(o, ",\n  ");
    tool_json_u64(o, "payload_bytes", in->payload_bytes, c);
    g_string_append(o, ",\n  \"compression_ratio\": ");
    if (c && in->payload_bytes) {
        g_string_append_printf(o, "%.4f", tool_ratio(in));
    } else {
        g_string_append(o, "null");
    }
    g_string_append(o, "\n}\n");
    fputs(o->str, stdout);
}

static void tool_print_stats(const ToolFile *tf, const ToolInfo *in)
{
    bool c = tf->have_ckpt;

    printf("file %s\n", tf->path);
    printf("clean %d\n", c);
    printf("capacity %" PRIu64 "\n", tf->sb.capacity);
    printf("segment_size %u\n", tf->sb.segment_size);
    printf("file_size %" PRIu64 "\n", tf->sb.file_size);
    printf("allocated_bytes %" PRIu64 "\n", tf->sb.alloc_bytes);
    printf("segments %u\n", tf->nsegs);
    printf("segments_written %" PRIu64 "\n", in->segs_valid);
    printf("segments_bad %" PRIu64 "\n", in->segs_bad);
    printf("records %" PRIu64 "\n", in->records);
    printf("used_bytes %" PRIu64 "\n", in->used_bytes);
    if (c) {
        printf("pages %" PRIu64 "\n", in->entries);
        printf("dictionaries %u\n", tf->ndicts);
        printf("pages_fill %" PRIu64 "\n", in->fill);
        printf("pages_zstd %" PRIu64 "\n", in->zstd);
        printf("pages_grouped %" PRIu64 "\n", in->grouped);
        printf("pages_raw %" PRIu64 "\n", in->raw);
        printf("live_bytes %" PRIu64 "\n", in->live_bytes);
        printf("dead_bytes %" PRIu64 "\n", tool_dead_bytes(in));
        printf("payload_bytes %" PRIu64 "\n", in->payload_bytes);
    }
}

/* --- check --- */

typedef struct ToolRec {
    uint64_t addr;
    uint32_t slot;
    uint16_t len;               /* a group member's: its share */
    bool member;
    uint8_t index;              /* a group member's index in its group */
} ToolRec;

typedef struct ToolCheck {
    ToolFile *tf;
    VswapCodec *codec;
    GArray *recs;               /* ToolRec of the map, by address */
    uint8_t *buf;               /* one segment */
    uint8_t *page;
    uint64_t problems, max_shown;
    uint64_t records, live_ok, dead, fill;
} ToolCheck;

static void G_GNUC_PRINTF(2, 3) tool_problem(ToolCheck *tc, const char *fmt,
                                             ...)
{
    va_list ap;

    if (tc->problems++ >= tc->max_shown) {
        return;
    }
    tool_progress_clear();
    printf("%s: ", tc->tf->path);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static bool tool_check_collect(void *opaque, const VswapCkptEntry *e,
                               GError **errp)
{
    ToolCheck *tc = opaque;
    ToolRec r = {
        .addr = e->value, .slot = e->slot, .len = e->len,
        .member = e->kind == VSWAP_CKPT_MEMBER, .index = e->member,
    };

    if (e->kind == VSWAP_CKPT_FILL) {
        tc->fill++;
    } else {
        g_array_append_val(tc->recs, r);
    }
    return true;
}

static int tool_rec_cmp(const void *a, const void *b)
{
    const ToolRec *x = a, *y = b;

    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* The file's dictionary @dict, NULL for 0; false if it holds none by that id. */
static bool tool_dict(ToolCheck *tc, uint16_t dict, VswapDict **d)
{
    *d = NULL;
    if (!dict) {
        return true;
    }
    *d = tc->tf->dicts[(dict - 1) % VSWAP_CKPT_MAX_DICTS];
    return *d && vswap_dict_id(*d) == dict;
}

#define TOOL_NO_DICT \
    "needs a compression dictionary that the file does not hold"

/* Verify a record and decode it; NULL, or what is wrong with it. */
static const char *tool_verify_record(ToolCheck *tc, const uint8_t *rec,
                                      uint32_t slot, size_t len)
{
    VswapPayloadKind kind;
    VswapDict *d = NULL;
    uint16_t dict;

    if (vswap_rec_kind(rec) == VSWAP_PAYLOAD_ZSTD_GROUP) {
        /* Its first member names it; the frame holds every page. */
        if (!tool_dict(tc, vswap_rec_dict(rec), &d)) {
            return TOOL_NO_DICT;
        }
        return vswap_group_read(tc->codec, d, rec, vswap_rec_size(len), 0,
                                slot, tc->page) < 0 ?
               "fails its checksum or does not decompress to its pages" :
               NULL;
    }
    if (vswap_rec_verify(rec, slot, len, &kind, &dict) < 0) {
        return "fails its checksum";
    }
    if (!tool_dict(tc, dict, &d)) {
        return TOOL_NO_DICT;
    }
    if (vswap_codec_decompress_dict(tc->codec, d, kind,
                                    rec + VSWAP_REC_HDR_SIZE, len,
                                    tc->page) < 0) {
        return "does not decompress to exactly one page";
    }
    return NULL;
}

/* A map entry: there must be a sound record of its slot at its address. */
static void tool_check_entry(ToolCheck *tc, uint32_t index, size_t avail,
                             const ToolRec *r)
{
    uint32_t off = r->addr & (tc->tf->sb.segment_size - 1);
    VswapRecordHdr hdr;
    const char *why;

    if (r->member) {
        VswapDict *d;

        if (off + VSWAP_REC_HDR_SIZE > avail ||
            !tool_dict(tc, vswap_rec_dict(tc->buf + off), &d) ||
            vswap_group_read(tc->codec, d, tc->buf + off, avail - off,
                             r->index, r->slot, tc->page) < 0) {
            tool_problem(tc, "slot %u: no sound group record holding it as"
                         " page %u at segment %u offset %u", r->slot,
                         r->index, index, off);
        } else {
            tc->live_ok++;
        }
        return;
    }
    if (off + vswap_rec_size(r->len) > avail) {
        tool_problem(tc, "slot %u: its record at segment %u offset %u lies"
                     " beyond the segment's data", r->slot, index, off);
        return;
    }
    memcpy(&hdr, tc->buf + off, sizeof(hdr));
    if (le16toh(hdr.magic) != VSWAP_REC_MAGIC) {
        tool_problem(tc, "slot %u: no record at segment %u offset %u",
                     r->slot, index, off);
    } else if (le32toh(hdr.slot) != r->slot) {
        tool_problem(tc, "slot %u: the record at segment %u offset %u is"
                     " slot %u's", r->slot, index, off, le32toh(hdr.slot));
    } else if (le16toh(hdr.len) != r->len) {
        tool_problem(tc, "slot %u: the record at segment %u offset %u has"
                     " %u bytes, the map says %u", r->slot, index, off,
                     le16toh(hdr.len), r->len);
    } else if ((why = tool_verify_record(tc, tc->buf + off, r->slot,
                                         r->len))) {
        tool_problem(tc, "slot %u: its record at segment %u offset %u %s",
                     r->slot, index, off, why);
    } else {
        tc->live_ok++;
    }
}

/* Read up to @want bytes of segment @index; returns the bytes read. */
static size_t tool_read_segment(ToolCheck *tc, uint32_t index, size_t want)
{
    const ToolFile *tf = tc->tf;
    ssize_t n = vswap_file_pread(&tf->rd, tc->buf, want,
                                 tool_seg_offset(tf, index),
                                 tf->sb.file_size);

    return n < 0 ? 0 : n;
}

/*
 * Check segment @index and the map entries [*ri, end) that point into it:
 * walk every record from the header on, verifying each (the ones the map
 * points at against their entry), then check entries the walk did not
 * reach directly at their address.
 */
static void tool_check_segment(ToolCheck *tc, uint32_t index, guint *ri)
{
    const ToolFile *tf = tc->tf;
    uint32_t seg_size = tf->sb.segment_size;
    guint end = *ri;
    VswapSegmentHdr hdr;
    ToolSegKind kind = tool_seg_hdr(tf, index, &hdr);
    uint32_t off = VSWAP_SEG_HDR_SIZE, nrec = 0;
    size_t avail, used;
    bool truncated = false;     /* or the walk skipped records */

    while (end < tc->recs->len &&
           g_array_index(tc->recs, ToolRec, end).addr / seg_size == index) {
        end++;
    }
    if (kind != TOOL_SEG_VALID) {
        if (end > *ri) {
            tool_problem(tc, "segment %u: %s, yet %u map entries point into"
                         " it", index,
                         kind == TOOL_SEG_MISSING ? "beyond the end of the"
                         " file (truncated)" : "bad segment header",
                         end - *ri);
        } else if (kind == TOOL_SEG_BAD && !tf->have_ckpt) {
            tool_problem(tc, "segment %u: bad segment header", index);
        }
        avail = kind == TOOL_SEG_MISSING ? 0 :
                tool_read_segment(tc, index, seg_size);
        for (; *ri < end; (*ri)++) {
            tool_check_entry(tc, index, avail,
                             &g_array_index(tc->recs, ToolRec, *ri));
        }
        return;
    }
    if (tf->have_ckpt && end > *ri && hdr.seq > tf->ckpt.seq) {
        tool_problem(tc, "segment %u: newer than the checkpoint (sequence %"
                     PRIu64 " > %" PRIu64 ")", index, hdr.seq, tf->ckpt.seq);
    }
    used = hdr.used;
    avail = tool_read_segment(tc, index, (used + 4095) & ~(size_t)4095);
    if (avail < used) {
        tool_problem(tc, "segment %u: truncated: %zu of its %zu bytes are in"
                     " the file", index, avail, used);
        used = avail;
        truncated = true;
    }
    while (off < used) {
        const ToolRec *r = *ri < end ?
                           &g_array_index(tc->recs, ToolRec, *ri) : NULL;
        uint32_t slot;
        size_t len;
        int size;
        bool live = false;
        const char *why;

        /*
         * An entry the walk stepped over: a record before it had a bad
         * length, or the entry points inside a record.  Check it in place.
         */
        if (r && r->addr % seg_size < off) {
            tool_check_entry(tc, index, used, r);
            (*ri)++;
            continue;
        }
        size = vswap_rec_parse(tc->buf + off, used - off, &slot, &len);
        if (size < 0) {
            uint32_t bad = off;

            /* Entries right here fail on their own; resume after them. */
            while (r && r->addr % seg_size == off) {
                tool_check_entry(tc, index, used, r);
                (*ri)++;
                r = *ri < end ? &g_array_index(tc->recs, ToolRec, *ri) : NULL;
            }
            /* At the end of a truncated segment, that is expected. */
            if (r) {
                off = r->addr % seg_size;
                truncated = true;       /* the record count is off now */
                tool_problem(tc, "segment %u offset %u: bad record header;"
                             " walking on from offset %u (a map entry)",
                             index, bad, off);
                continue;
            }
            if (!truncated) {
                tool_problem(tc, "segment %u offset %u: bad record header;"
                             " the remaining %zu bytes cannot be walked",
                             index, bad, used - bad);
            }
            break;
        }
        while (*ri < end &&
               g_array_index(tc->recs, ToolRec, *ri).addr % seg_size == off) {
            tool_check_entry(tc, index, used,
                             &g_array_index(tc->recs, ToolRec, *ri));
            (*ri)++;
            live = true;
        }
        if (!live) {
            tc->dead++;
            why = tool_verify_record(tc, tc->buf + off, slot, len);
            if (why) {
                tool_problem(tc, "segment %u offset %u: %srecord of slot %u"
                             " %s", index, off,
                             tf->have_ckpt ? "dead " : "", slot, why);
            }
        }
        tc->records++;
        nrec++;
        off += size;
    }
    if (off >= used && !truncated && nrec != hdr.nrecords) {
        tool_problem(tc, "segment %u: %u records, its header says %u", index,
                     nrec, hdr.nrecords);
    }
    /* Entries past a walk that stopped early: check them where they are. */
    for (; *ri < end; (*ri)++) {
        tool_check_entry(tc, index, used,
                         &g_array_index(tc->recs, ToolRec, *ri));
    }
}

static int tool_check(ToolFile *tf, uint64_t max_shown)
{
    g_autoptr(GError) err = NULL;
    ToolCheck tc = {
        .tf = tf,
        .max_shown = max_shown,
        .recs = g_array_new(false, false, sizeof(ToolRec)),
        .page = g_malloc(VSWAP_STORE_PAGE_SIZE),
        .buf = g_malloc(tf->sb.segment_size),
        .codec = vswap_codec_new(1),
    };
    ToolProgress p;
    guint ri = 0;

    if (tf->have_ckpt) {
        if (!vswap_ckpt_read_entries(&tf->rd, &tf->sb, &tf->ckpt,
                                     tool_check_collect, &tc, &err)) {
            tool_problem(&tc, "%s", tool_msg(tf, err->message));
        }
        qsort(tc.recs->data, tc.recs->len, sizeof(ToolRec), tool_rec_cmp);
    } else if (tf->ckpt_error) {
        tool_problem(&tc, "%s", tool_msg(tf, tf->ckpt_error));
    } else {
        tool_problem(&tc, "was not closed cleanly: no checkpoint, so only"
                     " records are checked, not the slot map");
    }
    tool_progress_start(&p, "check", tf->nsegs);
    for (uint32_t i = 0; i < tf->nsegs; i++) {
        tool_check_segment(&tc, i, &ri);
        tool_progress(&p, i + 1);
    }
    tool_progress_end(&p);
    if (tc.problems > tc.max_shown) {
        printf("%s: ... and %" PRIu64 " more problems\n", tf->path,
               tc.problems - tc.max_shown);
    }
    if (tf->have_ckpt) {
        printf("%s: %u segments, %" PRIu64 " records verified (%" PRIu64
               " dead); %" PRIu64 " map entries: %" PRIu64 " fill, %" PRIu64
               " of %u records sound\n", tf->path, tf->nsegs, tc.records,
               tc.dead, tc.fill + tc.recs->len, tc.fill, tc.live_ok,
               tc.recs->len);
    } else {
        printf("%s: %u segments, %" PRIu64 " records verified; no slot map"
               "\n", tf->path, tf->nsegs, tc.records);
    }
    if (tc.problems) {
        printf("%s: %" PRIu64 " problem%s found\n", tf->path, tc.problems,
               tc.problems == 1 ? "" : "s");
    } else {
        printf("%s: clean\n", tf->path);
    }
    g_array_free(tc.recs, true);
    g_free(tc.page);
    g_free(tc.buf);
    vswap_codec_free(tc.codec);
    return tc.problems ? TOOL_PROBLEMS : TOOL_OK;
}

/* --- compact --- */

static void tool_set_done(void *opaque)
{
    *(bool *)opaque = true;
}

static int tool_compact(const char *path, bool full)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *a0 = NULL, *a1 = NULL, *u0 = NULL, *u1 = NULL;
    VswapStoreStats st0, st;
    VswapStoreConfig cfg;
    ToolProgress p;
    ToolFile tf;
    VswapStore *s;
    struct stat fst;
    uint64_t dead0;
    bool done = false;
    int ret;

    /* Same messages as info for files that cannot be reopened. */
    ret = tool_file_open(&tf, path);
    if (ret == TOOL_OK && !tf.have_ckpt) {
        tool_err("%s: %s; cannot compact it", path,
                 tf.ckpt_error ? tf.ckpt_error : "was not closed cleanly"
                 " (no checkpoint of its slots)");
        ret = TOOL_PROBLEMS;
    }
    tool_file_close(&tf);
    if (ret != TOOL_OK) {
        return ret;
    }
    vswap_store_config_init(&cfg);
    cfg.path = path;
    cfg.reopen = true;
    cfg.persist = true;
    s = vswap_store_open(&cfg, &err);
    if (!s) {
        tool_err("%s", err->message);
        return tool_status_of(err);
    }
    vswap_store_drain(s);
    vswap_store_get_stats(s, &st0);
    dead0 = st0.disk_bytes - st0.disk_live_bytes;
    ret = vswap_store_compact(s, full, tool_set_done, &done);
    if (ret < 0) {
        tool_err("%s: cannot start compaction: %s", path, g_strerror(-ret));
        vswap_store_close(s);
        return TOOL_PROBLEMS;
    }
    tool_progress_start(&p, "compact", dead0);
    while (!done) {
        struct pollfd pfd = { .fd = vswap_store_fd(s), .events = POLLIN };

        poll(&pfd, 1, 100);
        vswap_store_process(s);
        vswap_store_get_stats(s, &st);
        tool_progress(&p, dead0 - MIN(dead0, st.disk_bytes -
                                      st.disk_live_bytes));
    }
    vswap_store_drain(s);
    tool_progress_end(&p);
    if (vswap_store_checkpoint(s, &err) < 0) {
        tool_err("%s", err->message);
        vswap_store_close(s);
        return TOOL_PROBLEMS;
    }
    vswap_store_get_stats(s, &st);
    vswap_store_close(s);
    if (stat(path, &fst) < 0) {
        tool_err("%s: %s", path, g_strerror(errno));
        return TOOL_ERROR;
    }
    a0 = tool_size(st0.disk_file_bytes);
    a1 = tool_size((uint64_t)fst.st_blocks * 512);
    u0 = tool_size(st0.disk_bytes);
    u1 = tool_size(st.disk_bytes);
    printf("%s: compacted %" PRIu64 " segments%s\n", path,
           st.compacted_segments, st.read_errors ?
           " (some could not be read: run check)" : "");
    printf("  allocated: %s -> %s (%" PRIu64 " -> %" PRIu64 " bytes)\n",
           a0, a1, st0.disk_file_bytes, (uint64_t)fst.st_blocks * 512);
    printf("  segments:  %s -> %s (%" PRIu64 " -> %" PRIu64 " bytes; %"
           PRIu64 " live)\n", u0, u1, st0.disk_bytes, st.disk_bytes,
           st.disk_live_bytes);
    return TOOL_OK;
}

/* --- bench --- */

typedef struct ToolBench {
    uint8_t *pages;             /* source pages */
    uint64_t npages;
} ToolBench;

/* Load up to @max pages from the *.pages files of @dir. */
static bool tool_bench_load(ToolBench *b, const char *dir, uint64_t max)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    GByteArray *all = g_byte_array_new();
    GDir *d = g_dir_open(dir, 0, &err);
    const char *name;

    if (!d) {
        tool_err("bench: %s", err->message);
        g_byte_array_free(all, true);
        return false;
    }
    while ((name = g_dir_read_name(d))) {
        if (g_str_has_suffix(name, ".pages")) {
            g_ptr_array_add(names, g_strdup(name));
        }
    }
    g_dir_close(d);
    g_ptr_array_sort(names, (GCompareFunc)g_strcmp0);
    for (guint i = 0; i < names->len && all->len / VSWAP_STORE_PAGE_SIZE < max;
         i++) {
        g_autofree char *path = g_build_filename(dir, names->pdata[i], NULL);
        g_autofree char *data = NULL;
        gsize len;

        if (g_file_get_contents(path, &data, &len, NULL)) {
            len -= len % VSWAP_STORE_PAGE_SIZE;
            len = MIN(len, (max - all->len / VSWAP_STORE_PAGE_SIZE) *
                      VSWAP_STORE_PAGE_SIZE);
            g_byte_array_append(all, (guint8 *)data, len);
        }
    }
    b->npages = all->len / VSWAP_STORE_PAGE_SIZE;
    b->pages = g_byte_array_free(all, false);
    if (b->npages == 0) {
        tool_err("bench: no *.pages corpus files in %s", dir);
        return false;
    }
    return true;
}

/* Generated pages: one in 8 zero, one in 8 random, the rest text. */
static void tool_bench_generate(ToolBench *b, uint64_t n)
{
    static const char *const words[] = {
        "swap", "page", "slot", "guest", "host", "store", "zstd", "segment",
        "record", "compact", "memory", "qemu", "virtio", "ring", "queue",
    };
    GRand *rand = g_rand_new_with_seed(42);

    b->npages = MIN(n, 4096);
    b->pages = g_malloc0(b->npages * VSWAP_STORE_PAGE_SIZE);
    for (uint64_t i = 0; i < b->npages; i++) {
        uint8_t *p = b->pages + i * VSWAP_STORE_PAGE_SIZE;
        size_t off = 0;

        if (i % 8 == 0) {
            continue;
        }
        if (i % 8 == 1) {
            for (size_t j = 0; j < VSWAP_STORE_PAGE_SIZE; j++) {
                p[j] = g_rand_int(rand);
            }
            continue;
        }
        while (off < VSWAP_STORE_PAGE_SIZE) {
            const char *w = words[g_rand_int_range(rand, 0,
                                                   G_N_ELEMENTS(words))];
            size_t len = MIN(strlen(w), VSWAP_STORE_PAGE_SIZE - off);

            memcpy(p + off, w, len);
            off += len;
            if (off < VSWAP_STORE_PAGE_SIZE) {
                p[off++] = ' ';
            }
        }
    }
    g_rand_free(rand);
}

#define TOOL_BENCH_BATCH 256

static void tool_bench_report(const char *what, uint64_t pages, int64_t us)
{
    double s = MAX(us, 1) / 1e6;

    printf("%-6s %10.0f pages/s  %8.1f MB/s  (%.2f s)\n", what, pages / s,
           pages * (double)VSWAP_STORE_PAGE_SIZE / 1e6 / s, s);
}

static int tool_bench(const char *corpus, const char *path, uint64_t n,
                      int level, unsigned workers, uint64_t budget_mib,
                      bool persist)
{
    g_autoptr(GError) err = NULL;
    g_autofree VswapPageOp *ops = g_new0(VswapPageOp, TOOL_BENCH_BATCH);
    g_autofree uint8_t *rbuf = g_malloc(TOOL_BENCH_BATCH *
                                        VSWAP_STORE_PAGE_SIZE);
    ToolBench b = { 0 };
    VswapStoreConfig cfg;
    VswapStoreStats st;
    ToolProgress p;
    VswapStore *s;
    GStatBuf fst;
    uint64_t mismatches = 0, failed = 0;
    int64_t t0, t_write, t_read;
    bool created = false;
    int ret = TOOL_OK;

    if (n == 0 || n > VSWAP_STORE_MAX_SLOTS) {
        tool_err("bench: --pages must be 1 to 2^32");
        return TOOL_ERROR;
    }
    if (persist && !path) {
        tool_err("bench: --persist needs --path");
        return TOOL_ERROR;
    }
    if (path && g_stat(path, &fst) == 0 && fst.st_size > 0) {
        /* Opening it would reinitialise it: never wipe a store by accident. */
        tool_err("bench: %s exists; remove it or choose another --path",
                 path);
        return TOOL_ERROR;
    }
    if (!corpus) {
        corpus = g_getenv("VSWAP_CORPUS");
    }
    if (!corpus) {
        tool_bench_generate(&b, n);
    } else if (!tool_bench_load(&b, corpus, n)) {
        return TOOL_ERROR;
    }
    vswap_store_config_init(&cfg);
    cfg.path = path;
    cfg.capacity = n;
    cfg.level = level;
    cfg.workers = workers;
    cfg.mem_budget = budget_mib << 20;
    cfg.persist = persist;
    created = path && !g_file_test(path, G_FILE_TEST_EXISTS);
    s = vswap_store_open(&cfg, &err);
    if (!s) {
        tool_err("bench: %s", err->message);
        g_free(b.pages);
        return TOOL_ERROR;
    }
    printf("bench: %" PRIu64 " pages (%" PRIu64 " MiB) from %s, level %d, %u"
           " workers, %s\n", n, n * VSWAP_STORE_PAGE_SIZE >> 20,
           corpus ? corpus : "generated pages", level, workers,
           path ? path : "memory only");

    tool_progress_start(&p, "write", n);
    t0 = g_get_monotonic_time();
    for (uint64_t base = 0; base < n; base += TOOL_BENCH_BATCH) {
        unsigned k = MIN(TOOL_BENCH_BATCH, n - base);

        for (unsigned i = 0; i < k; i++) {
            ops[i] = (VswapPageOp) {
                .slot = base + i,
                .page = b.pages + (base + i) % b.npages * VSWAP_STORE_PAGE_SIZE,
            };
        }
        if (vswap_store_write_sync(s, ops, k) < 0) {
            for (unsigned i = 0; i < k; i++) {
                failed += ops[i].status < 0;
            }
        }
        tool_progress(&p, base + k);
    }
    vswap_store_drain(s);
    t_write = g_get_monotonic_time() - t0;
    tool_progress_end(&p);

    tool_progress_start(&p, "read", n);
    t0 = g_get_monotonic_time();
    for (uint64_t base = 0; base < n; base += TOOL_BENCH_BATCH) {
        unsigned k = MIN(TOOL_BENCH_BATCH, n - base);

        for (unsigned i = 0; i < k; i++) {
            ops[i] = (VswapPageOp) {
                .slot = base + i,
                .page = rbuf + (size_t)i * VSWAP_STORE_PAGE_SIZE,
            };
        }
        vswap_store_read_sync(s, ops, k);
        for (unsigned i = 0; i < k; i++) {
            const uint8_t *want = b.pages + (base + i) % b.npages *
                                  VSWAP_STORE_PAGE_SIZE;

            if (ops[i].status != 0 ||
                memcmp(ops[i].page, want, VSWAP_STORE_PAGE_SIZE) != 0) {
                mismatches++;
            }
        }
        tool_progress(&p, base + k);
    }
    t_read = g_get_monotonic_time() - t0;
    tool_progress_end(&p);

    vswap_store_get_stats(s, &st);
    tool_bench_report("write", n, t_write);
    tool_bench_report("read", n, t_read);
    printf("ratio  %.2f (%" PRIu64 " pages in %" PRIu64 " payload bytes; %"
           PRIu64 " fill, %" PRIu64 " in memory, %" PRIu64 " on disk)\n",
           (double)n * VSWAP_STORE_PAGE_SIZE / MAX(st.payload_bytes, 1), n,
           st.payload_bytes, st.pages_fill, st.pages_mem, st.pages_disk);
    if (failed || mismatches) {
        tool_err("bench: %" PRIu64 " writes failed, %" PRIu64
                 " pages read back wrong", failed, mismatches);
        ret = TOOL_PROBLEMS;
    }
    if (persist) {
        if (vswap_store_checkpoint(s, &err) < 0) {
            tool_err("bench: %s", err->message);
            ret = TOOL_PROBLEMS;
        } else {
            printf("kept   %s (closed cleanly, with a checkpoint)\n", path);
        }
    }
    vswap_store_close(s);
    if (created && !persist) {
        unlink(path);
    }
    g_free(b.pages);
    return ret;
}

/* --- command line --- */

static const char tool_usage[] =
    "Usage: vswap-tool COMMAND [OPTION...] [FILE]\n"
    "\n"
    "Inspect, check, compact and benchmark vswap page store files.\n"
    "\n"
    "Commands:\n"
    "  info FILE [--json]     describe a store file\n"
    "  stats FILE [--json]    its figures, as 'key value' lines or JSON\n"
    "  check FILE             verify every record and every map entry\n"
    "  compact FILE [--full]  compact a cleanly closed store in place\n"
    "  bench [OPTION...]      quick write/read throughput of the store\n"
    "  help [COMMAND]         this text, or a command's options\n"
    "\n"
    "Exit status: 0 success (check: nothing wrong); 1 problems found or the\n"
    "operation failed; 2 usage error, or a file that cannot be examined\n"
    "(missing, unreadable, not a store file, newer format version).\n"
    "Run 'vswap-tool COMMAND --help' for the options of a command.\n";

typedef struct ToolOpts {
    gboolean json, full, quiet, persist;
    gint max_errors;
    gchar *corpus, *path;
    gint64 pages;
    gint level, workers;
    gint64 budget;
} ToolOpts;

typedef struct ToolCommand {
    const char *name;
    const char *args;
    const char *summary;
    bool takes_file;
    const char *opts;           /* " long-name ... " of its options */
} ToolCommand;

static const ToolCommand tool_commands[] = {
    { "info", "FILE", "Describe a vswap store file: its superblock, whether it"
      " was closed cleanly,\nits segments, pages per kind, live and dead bytes"
      " and compression ratio.", true, " json quiet " },
    { "stats", "FILE", "Figures of a store file, as 'key value' lines, or"
      " JSON with --json.", true, " json quiet " },
    { "check", "FILE", "Verify every record of every segment (checksum, and"
      " that it decompresses to\nexactly one page) and, if the store was"
      " closed cleanly, that every map entry\npoints at a sound record of"
      " its slot.  Exit status 0: clean; 1: problems\nfound (each is"
      " printed, up to --max-errors); 2: the file cannot be examined.",
      true, " max-errors quiet " },
    { "compact", "FILE", "Reopen a cleanly closed store, compact it (segments"
      " below half live, or\nevery segment with dead space with --full) and"
      " close it cleanly again.", true, " full quiet " },
    { "bench", "", "Write and read back pages through the store API and"
      " report throughput and\ncompression ratio.  Pages come from *.pages"
      " files of --corpus (or\n$VSWAP_CORPUS), or are generated.  With"
      " --path the store has a disk tier;\n--persist keeps it, closed"
      " cleanly.", false,
      " corpus path pages level workers budget persist quiet " },
    { 0 },
};

static int tool_run(const ToolCommand *cmd, int argc, char **argv)
{
    ToolOpts o = {
        .max_errors = 20, .pages = 65536, .level = 1, .workers = 2,
        .budget = 64,
    };
    const GOptionEntry all_opts[] = {
        { "json", 'j', 0, G_OPTION_ARG_NONE, &o.json,
          "Print JSON", NULL },
        { "full", 0, 0, G_OPTION_ARG_NONE, &o.full,
          "Compact every segment with dead space", NULL },
        { "max-errors", 0, 0, G_OPTION_ARG_INT, &o.max_errors,
          "Print at most N problems (default 20)", "N" },
        { "corpus", 0, 0, G_OPTION_ARG_FILENAME, &o.corpus,
          "Read pages from DIR/*.pages", "DIR" },
        { "path", 0, 0, G_OPTION_ARG_FILENAME, &o.path,
          "Store file (default: memory only)", "FILE" },
        { "pages", 0, 0, G_OPTION_ARG_INT64, &o.pages,
          "Pages to write and read (default 65536)", "N" },
        { "level", 0, 0, G_OPTION_ARG_INT, &o.level,
          "zstd level (default 1)", "L" },
        { "workers", 0, 0, G_OPTION_ARG_INT, &o.workers,
          "Compression threads (default 2)", "N" },
        { "budget", 0, 0, G_OPTION_ARG_INT64, &o.budget,
          "Memory budget in MiB before writeback (default 64)", "MIB" },
        { "persist", 0, 0, G_OPTION_ARG_NONE, &o.persist,
          "Keep the store file, closed cleanly (needs --path)", NULL },
        { "quiet", 'q', 0, G_OPTION_ARG_NONE, &o.quiet,
          "No progress output", NULL },
    };
    GOptionEntry opts[G_N_ELEMENTS(all_opts) + 1] = { 0 };
    unsigned nopts = 0;
    g_autoptr(GOptionContext) ctx = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *prgname = g_strdup_printf("vswap-tool %s", cmd->name);
    ToolFile tf;
    ToolInfo in;
    int ret;

    /* Usage: vswap-tool COMMAND [OPTION...] ARGS */
    g_set_prgname(prgname);
    ctx = g_option_context_new(cmd->args);
    g_option_context_set_summary(ctx, cmd->summary);
    for (unsigned i = 0; i < G_N_ELEMENTS(all_opts); i++) {
        g_autofree char *key = g_strdup_printf(" %s ", all_opts[i].long_name);

        if (strstr(cmd->opts, key)) {
            opts[nopts++] = all_opts[i];
        }
    }
    g_option_context_add_main_entries(ctx, opts, NULL);
    /* argv[0] is the command name, as GOption expects a program name. */
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        tool_err("%s: %s (try 'vswap-tool %s --help')", cmd->name,
                 err->message, cmd->name);
        ret = TOOL_ERROR;
        goto out;
    }
    tool_quiet = o.quiet;
    if (cmd->takes_file ? argc != 2 : argc != 1) {
        tool_err("%s: %s (try 'vswap-tool %s --help')", cmd->name,
                 cmd->takes_file ? (argc < 2 ? "missing FILE" :
                                    "too many arguments") :
                 "unexpected arguments", cmd->name);
        ret = TOOL_ERROR;
        goto out;
    }
    if (!strcmp(cmd->name, "bench")) {
        if (o.workers < 0 || o.budget < 1 || o.budget > (1 << 20) ||
            o.pages < 1) {
            tool_err("bench: option out of range (try 'vswap-tool bench"
                     " --help')");
            ret = TOOL_ERROR;
            goto out;
        }
        ret = tool_bench(o.corpus, o.path, o.pages, o.level, o.workers,
                         o.budget, o.persist);
        goto out;
    }
    if (!strcmp(cmd->name, "compact")) {
        ret = tool_compact(argv[1], o.full);
        goto out;
    }
    ret = tool_file_open(&tf, argv[1]);
    if (ret == TOOL_OK) {
        if (!strcmp(cmd->name, "check")) {
            ret = tool_check(&tf, MAX(o.max_errors, 0));
        } else {
            ret = tool_gather(&tf, &in);
            if (ret == TOOL_OK && o.json) {
                tool_print_json(&tf, &in);
            } else if (ret == TOOL_OK && !strcmp(cmd->name, "stats")) {
                tool_print_stats(&tf, &in);
            } else if (ret == TOOL_OK) {
                tool_print_info(&tf, &in);
            }
        }
    }
    tool_file_close(&tf);
out:
    g_free(o.corpus);
    g_free(o.path);
    return ret;
}

static const ToolCommand *tool_find(const char *name)
{
    for (const ToolCommand *c = tool_commands; c->name; c++) {
        if (!strcmp(c->name, name)) {
            return c;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const ToolCommand *cmd;

    setlocale(LC_ALL, "");
    /* JSON and 'key value' output need '.' as the decimal point. */
    setlocale(LC_NUMERIC, "C");
    if (argc < 2) {
        fputs(tool_usage, stderr);
        return TOOL_ERROR;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        if (argc > 2 && strcmp(argv[1], "help") == 0 && tool_find(argv[2])) {
            char *help_argv[] = { argv[2], (char *)"--help", NULL };

            return tool_run(tool_find(argv[2]), 2, help_argv);
        }
        fputs(tool_usage, stdout);
        return TOOL_OK;
    }
    cmd = tool_find(argv[1]);
    if (!cmd) {
        tool_err("unknown command '%s'", argv[1]);
        fputs(tool_usage, stderr);
        return TOOL_ERROR;
    }
    return tool_run(cmd, argc - 1, argv + 1);
}
