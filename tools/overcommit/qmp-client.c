/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An asynchronous QMP client (see qmp-client.h).
 *
 * Each connection is an OcQmpConn that the in-flight GIO operations hold
 * a reference to.  Ending a connection detaches it from its OcQmp
 * (conn->qmp = NULL) and cancels its operations, so a callback that
 * arrives later finds a detached connection and only drops its reference.
 * QEMU is not trusted: a message is read up to OC_QMP_MAX_MESSAGE bytes,
 * must parse as a JSON object, and every member is checked before use.
 */
#include <string.h>
#include <gio/gunixsocketaddress.h>

#include "qmp-client.h"
#include "oc-json.h"

typedef enum {
    OC_QMP_IDLE,        /* not connected */
    OC_QMP_CONNECTING,  /* socket connect in progress */
    OC_QMP_GREETING,    /* waiting for {"QMP": ...} */
    OC_QMP_NEGOTIATING, /* qmp_capabilities sent */
    OC_QMP_READY,
} OcQmpPhase;

typedef struct OcQmpConn {
    gint refcount;
    OcQmp *qmp;                 /* NULL once the connection ended */
    GCancellable *cancel;
    GSocketConnection *sock;
    GByteArray *rbuf;           /* received bytes not yet a whole line */
    guint8 chunk[16384];
    GQueue wqueue;              /* GBytes waiting to be written */
    GBytes *writing;            /* the GBytes being written, or NULL */
} OcQmpConn;

typedef struct OcQmpPending {
    char *command;
    OcQmpReplyFunc cb;
    gpointer opaque;
    gint64 deadline;            /* g_get_monotonic_time() */
} OcQmpPending;

struct OcQmp {
    char *name;                 /* for messages: the VM's name */
    char *path;
    OcQmpStateFunc state_cb;
    gpointer opaque;
    OcQmpPhase phase;
    OcQmpConn *conn;
    gint64 next_id;
    GHashTable *pending;        /* id (gint64 *) -> OcQmpPending */
    guint timer;                /* checks deadlines while connected */
    gint64 phase_deadline;      /* for CONNECTING..NEGOTIATING */
    gint64 peer_pid;            /* the peer's PID (SO_PEERCRED), or 0 */
};

static void oc_qmp_read_next(OcQmpConn *conn);

static OcQmpConn *oc_qmp_conn_ref(OcQmpConn *conn)
{
    g_atomic_int_inc(&conn->refcount);
    return conn;
}

static void oc_qmp_conn_unref(OcQmpConn *conn)
{
    if (!g_atomic_int_dec_and_test(&conn->refcount)) {
        return;
    }
    g_queue_clear_full(&conn->wqueue, (GDestroyNotify)g_bytes_unref);
    g_clear_pointer(&conn->writing, g_bytes_unref);
    g_clear_object(&conn->sock);
    g_object_unref(conn->cancel);
    g_byte_array_unref(conn->rbuf);
    g_free(conn);
}

static void oc_qmp_pending_free(gpointer p)
{
    OcQmpPending *pending = p;

    g_free(pending->command);
    g_free(pending);
}

/* Fails every pending command with @why; callbacks may reconnect. */
static void oc_qmp_fail_pending(OcQmp *qmp, const char *why)
{
    g_autoptr(GHashTable) old = qmp->pending;
    g_autoptr(GList) values = NULL;
    g_autoptr(GError) err = g_error_new(G_IO_ERROR, G_IO_ERROR_CLOSED,
                                        "%s", why);

    qmp->pending = g_hash_table_new_full(g_int64_hash, g_int64_equal,
                                         g_free, oc_qmp_pending_free);
    values = g_hash_table_get_values(old);
    for (GList *l = values; l; l = l->next) {
        OcQmpPending *pending = l->data;

        pending->cb(qmp, NULL, err, pending->opaque);
    }
}

/* Ends the connection; tells the owner when @notify. */
static void oc_qmp_end(OcQmp *qmp, const char *why, gboolean notify)
{
    OcQmpConn *conn = qmp->conn;
    gboolean was_ready = qmp->phase == OC_QMP_READY;
    g_autoptr(GError) err = NULL;

    if (qmp->phase == OC_QMP_IDLE) {
        return;
    }
    qmp->phase = OC_QMP_IDLE;
    qmp->conn = NULL;
    qmp->peer_pid = 0;
    if (qmp->timer) {
        g_source_remove(qmp->timer);
        qmp->timer = 0;
    }
    if (conn) {
        conn->qmp = NULL;
        g_cancellable_cancel(conn->cancel);
        if (conn->sock) {
            g_io_stream_close(G_IO_STREAM(conn->sock), NULL, NULL);
        }
        oc_qmp_conn_unref(conn);
    }
    oc_qmp_fail_pending(qmp, why);
    if (notify) {
        err = g_error_new(G_IO_ERROR, G_IO_ERROR_FAILED, "%s%s",
                          was_ready ? "connection lost: " : "", why);
        qmp->state_cb(qmp, FALSE, err, qmp->opaque);
    }
}

void oc_qmp_disconnect(OcQmp *qmp, const char *why)
{
    oc_qmp_end(qmp, why, TRUE);
}

static gboolean oc_qmp_check_deadlines(gpointer opaque)
{
    OcQmp *qmp = opaque;
    gint64 now = g_get_monotonic_time();
    GHashTableIter iter;
    gpointer value;

    if (qmp->phase != OC_QMP_READY && now > qmp->phase_deadline) {
        qmp->timer = 0;
        oc_qmp_end(qmp, "QEMU did not complete the QMP greeting in time", TRUE);
        return G_SOURCE_REMOVE;
    }
    g_hash_table_iter_init(&iter, qmp->pending);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        OcQmpPending *pending = value;

        if (now > pending->deadline) {
            g_autofree char *why =
                g_strdup_printf("no reply to %s within %d s",
                                pending->command, OC_QMP_TIMEOUT_SEC);
            qmp->timer = 0;
            oc_qmp_end(qmp, why, TRUE);
            return G_SOURCE_REMOVE;
        }
    }
    return G_SOURCE_CONTINUE;
}

static void oc_qmp_write_next(OcQmpConn *conn);

static void oc_qmp_write_done(GObject *src, GAsyncResult *res, gpointer opaque)
{
    OcQmpConn *conn = opaque;
    g_autoptr(GError) err = NULL;

    g_clear_pointer(&conn->writing, g_bytes_unref);
    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(src), res, NULL,
                                          &err)) {
        if (conn->qmp) {
            g_autofree char *why = g_strdup_printf("write: %s", err->message);
            oc_qmp_end(conn->qmp, why, TRUE);
        }
    } else if (conn->qmp) {
        oc_qmp_write_next(conn);
    }
    oc_qmp_conn_unref(conn);
}

static void oc_qmp_write_next(OcQmpConn *conn)
{
    GOutputStream *out;

    if (conn->writing || g_queue_is_empty(&conn->wqueue) || !conn->sock) {
        return;
    }
    conn->writing = g_queue_pop_head(&conn->wqueue);
    out = g_io_stream_get_output_stream(G_IO_STREAM(conn->sock));
    g_output_stream_write_all_async(out, g_bytes_get_data(conn->writing, NULL),
                                    g_bytes_get_size(conn->writing),
                                    G_PRIORITY_DEFAULT, conn->cancel,
                                    oc_qmp_write_done, oc_qmp_conn_ref(conn));
}

/* Queues @msg (a JSON object node, consumed) followed by a newline. */
static void oc_qmp_send(OcQmp *qmp, JsonNode *msg)
{
    g_autofree char *text = json_to_string(msg, FALSE);

    json_node_unref(msg);
    g_queue_push_tail(&qmp->conn->wqueue,
                      g_bytes_new_take(g_strconcat(text, "\n", NULL),
                                       strlen(text) + 1));
    oc_qmp_write_next(qmp->conn);
}

static JsonNode *oc_qmp_command(const char *command, JsonNode *args, gint64 id)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "execute");
    json_builder_add_string_value(b, command);
    if (args) {
        json_builder_set_member_name(b, "arguments");
        json_builder_add_value(b, args);
    }
    json_builder_set_member_name(b, "id");
    json_builder_add_int_value(b, id);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static void oc_qmp_caps_done(OcQmp *qmp, JsonNode *ret, const GError *err,
                             gpointer opaque)
{
    if (err) {
        if (qmp->phase == OC_QMP_NEGOTIATING) {
            g_autofree char *why = g_strdup_printf("qmp_capabilities: %s",
                                                   err->message);
            oc_qmp_end(qmp, why, TRUE);
        }
        return;
    }
    qmp->phase = OC_QMP_READY;
    qmp->state_cb(qmp, TRUE, NULL, qmp->opaque);
}

static void oc_qmp_queue(OcQmp *qmp, const char *command, JsonNode *args,
                         OcQmpReplyFunc cb, gpointer opaque)
{
    OcQmpPending *pending = g_new0(OcQmpPending, 1);
    gint64 id = ++qmp->next_id;

    pending->command = g_strdup(command);
    pending->cb = cb;
    pending->opaque = opaque;
    pending->deadline = g_get_monotonic_time() +
                        OC_QMP_TIMEOUT_SEC * G_USEC_PER_SEC;
    g_hash_table_insert(qmp->pending, g_memdup2(&id, sizeof(id)), pending);
    oc_qmp_send(qmp, oc_qmp_command(command, args, id));
}

void oc_qmp_execute(OcQmp *qmp, const char *command, JsonNode *args,
                    OcQmpReplyFunc cb, gpointer opaque)
{
    if (qmp->phase != OC_QMP_READY) {
        g_autoptr(GError) err = g_error_new(G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                                            "not connected");
        if (args) {
            json_node_unref(args);
        }
        cb(qmp, NULL, err, opaque);
        return;
    }
    oc_qmp_queue(qmp, command, args, cb, opaque);
}

/* A reply: {"return": ..., "id": N} or {"error": {...}, "id": N}. */
static void oc_qmp_handle_reply(OcQmp *qmp, JsonObject *msg)
{
    JsonNode *id_node = json_object_get_member(msg, "id");
    JsonNode *ret = json_object_get_member(msg, "return");
    JsonObject *error = oc_json_get_object(msg, "error");
    OcQmpPending *pending;
    gpointer key;
    gint64 id;

    if (!JSON_NODE_HOLDS_VALUE(id_node) ||
        json_node_get_value_type(id_node) != G_TYPE_INT64) {
        g_debug("%s: reply with an id that is not ours, ignored", qmp->name);
        return;
    }
    id = json_node_get_int(id_node);
    if (!g_hash_table_steal_extended(qmp->pending, &id, &key,
                                     (gpointer *)&pending)) {
        g_debug("%s: reply to unknown id %" G_GINT64_FORMAT, qmp->name, id);
        return;
    }
    g_free(key);
    if (ret) {
        pending->cb(qmp, ret, NULL, pending->opaque);
    } else {
        const char *cls = oc_json_get_string(error, "class");
        const char *desc = oc_json_get_string(error, "desc");
        g_autoptr(GError) err =
            g_error_new(G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s%s%s",
                        pending->command, desc ? desc : "malformed reply",
                        cls ? " " : "", cls ? cls : "");
        pending->cb(qmp, NULL, err, pending->opaque);
    }
    g_free(pending->command);
    g_free(pending);
}

/* Returns: FALSE when the message ended the connection. */
static gboolean oc_qmp_handle_line(OcQmp *qmp, const char *line, gsize len)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(GError) err = NULL;
    JsonNode *root;
    JsonObject *msg;

    if (len == 0 || (len == 1 && line[0] == '\r')) {
        return TRUE;
    }
    if (!json_parser_load_from_data(parser, line, len, &err) ||
        !(root = json_parser_get_root(parser)) || !JSON_NODE_HOLDS_OBJECT(root)) {
        oc_qmp_end(qmp, "QEMU sent a message that is not a JSON object", TRUE);
        return FALSE;
    }
    msg = json_node_get_object(root);
    if (qmp->phase == OC_QMP_GREETING) {
        if (!oc_json_get_object(msg, "QMP")) {
            oc_qmp_end(qmp, "no QMP greeting: is this a QMP socket?", TRUE);
            return FALSE;
        }
        qmp->phase = OC_QMP_NEGOTIATING;
        oc_qmp_queue(qmp, "qmp_capabilities", NULL, oc_qmp_caps_done, NULL);
        return TRUE;
    }
    if (json_object_has_member(msg, "event")) {
        const char *event = oc_json_get_string(msg, "event");

        g_debug("%s: event %s", qmp->name, event ? event : "(unnamed)");
        return TRUE;
    }
    oc_qmp_handle_reply(qmp, msg);
    return qmp->phase != OC_QMP_IDLE;
}

/* Hands each whole line in the buffer to oc_qmp_handle_line(). */
static gboolean oc_qmp_split_lines(OcQmpConn *conn)
{
    GByteArray *buf = conn->rbuf;
    gsize start = 0;

    for (gsize i = 0; i < buf->len; i++) {
        if (buf->data[i] != '\n') {
            continue;
        }
        if (!oc_qmp_handle_line(conn->qmp, (const char *)buf->data + start,
                                i - start) || !conn->qmp) {
            return FALSE;
        }
        start = i + 1;
    }
    g_byte_array_remove_range(buf, 0, start);
    if (buf->len > OC_QMP_MAX_MESSAGE) {
        oc_qmp_end(conn->qmp, "QEMU sent a message over 1 MiB", TRUE);
        return FALSE;
    }
    return TRUE;
}

static void oc_qmp_read_done(GObject *src, GAsyncResult *res, gpointer opaque)
{
    OcQmpConn *conn = opaque;
    g_autoptr(GError) err = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(src), res, &err);

    if (conn->qmp) {
        if (n < 0) {
            g_autofree char *why = g_strdup_printf("read: %s", err->message);
            oc_qmp_end(conn->qmp, why, TRUE);
        } else if (n == 0) {
            oc_qmp_end(conn->qmp, "QEMU closed the QMP socket", TRUE);
        } else {
            g_byte_array_append(conn->rbuf, conn->chunk, n);
            if (oc_qmp_split_lines(conn)) {
                oc_qmp_read_next(conn);
            }
        }
    }
    oc_qmp_conn_unref(conn);
}

static void oc_qmp_read_next(OcQmpConn *conn)
{
    GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(conn->sock));

    g_input_stream_read_async(in, conn->chunk, sizeof(conn->chunk),
                              G_PRIORITY_DEFAULT, conn->cancel,
                              oc_qmp_read_done, oc_qmp_conn_ref(conn));
}

/*
 * Returns: the PID of the process that listens on the socket (SO_PEERCRED,
 * taken when it called listen()), or 0 when the kernel does not say.
 */
static gint64 oc_qmp_peer_credentials(GSocketConnection *sock)
{
    g_autoptr(GCredentials) cred = NULL;
    pid_t pid;

    cred = g_socket_get_credentials(g_socket_connection_get_socket(sock), NULL);
    if (!cred) {
        return 0;
    }
    pid = g_credentials_get_unix_pid(cred, NULL);
    return pid > 0 ? pid : 0;
}

static void oc_qmp_connect_done(GObject *src, GAsyncResult *res,
                                gpointer opaque)
{
    OcQmpConn *conn = opaque;
    g_autoptr(GError) err = NULL;
    GSocketConnection *sock =
        g_socket_client_connect_finish(G_SOCKET_CLIENT(src), res, &err);

    if (!conn->qmp) {
        g_clear_object(&sock);
    } else if (!sock) {
        oc_qmp_end(conn->qmp, err->message, TRUE);
    } else {
        conn->sock = sock;
        conn->qmp->peer_pid = oc_qmp_peer_credentials(sock);
        conn->qmp->phase = OC_QMP_GREETING;
        oc_qmp_read_next(conn);
    }
    oc_qmp_conn_unref(conn);
}

void oc_qmp_connect(OcQmp *qmp)
{
    g_autoptr(GSocketClient) client = NULL;
    g_autoptr(GSocketAddress) addr = NULL;
    OcQmpConn *conn;

    if (qmp->phase != OC_QMP_IDLE) {
        return;
    }
    conn = g_new0(OcQmpConn, 1);
    conn->refcount = 1;
    conn->qmp = qmp;
    conn->cancel = g_cancellable_new();
    conn->rbuf = g_byte_array_new();
    g_queue_init(&conn->wqueue);
    qmp->conn = conn;
    qmp->phase = OC_QMP_CONNECTING;
    qmp->phase_deadline = g_get_monotonic_time() +
                          OC_QMP_TIMEOUT_SEC * G_USEC_PER_SEC;
    qmp->timer = g_timeout_add_seconds(1, oc_qmp_check_deadlines, qmp);

    client = g_socket_client_new();
    addr = g_unix_socket_address_new(qmp->path);
    g_socket_client_connect_async(client, G_SOCKET_CONNECTABLE(addr),
                                  conn->cancel, oc_qmp_connect_done,
                                  oc_qmp_conn_ref(conn));
}

gboolean oc_qmp_is_ready(OcQmp *qmp)
{
    return qmp->phase == OC_QMP_READY;
}

const char *oc_qmp_path(OcQmp *qmp)
{
    return qmp->path;
}

gint64 oc_qmp_peer_pid(OcQmp *qmp)
{
    return qmp->phase == OC_QMP_IDLE ? 0 : qmp->peer_pid;
}

OcQmp *oc_qmp_new(const char *name, const char *socket_path,
                  OcQmpStateFunc state_cb, gpointer opaque)
{
    OcQmp *qmp = g_new0(OcQmp, 1);

    qmp->name = g_strdup(name);
    qmp->path = g_strdup(socket_path);
    qmp->state_cb = state_cb;
    qmp->opaque = opaque;
    qmp->pending = g_hash_table_new_full(g_int64_hash, g_int64_equal,
                                         g_free, oc_qmp_pending_free);
    return qmp;
}

void oc_qmp_free(OcQmp *qmp)
{
    if (!qmp) {
        return;
    }
    oc_qmp_end(qmp, "shutting down", FALSE);
    g_hash_table_unref(qmp->pending);
    g_free(qmp->name);
    g_free(qmp->path);
    g_free(qmp);
}

JsonNode *oc_qmp_args_qom(const char *path, const char *property,
                          JsonNode *value)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "path");
    json_builder_add_string_value(b, path);
    if (property) {
        json_builder_set_member_name(b, "property");
        json_builder_add_string_value(b, property);
    }
    if (value) {
        json_builder_set_member_name(b, "value");
        json_builder_add_value(b, value);
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}
