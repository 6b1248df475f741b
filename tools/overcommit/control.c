/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The control socket, server and client (see control.h). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#include "control.h"

struct OcControl {
    GSocketService *service;
    char *path;
    OcControlStatusFunc status;
    gpointer opaque;
};

typedef struct OcControlReply {
    GSocketConnection *conn;
    char *text;
} OcControlReply;

static void oc_control_sent(GObject *src, GAsyncResult *res, gpointer opaque)
{
    OcControlReply *reply = opaque;
    g_autoptr(GError) err = NULL;

    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(src), res, NULL, &err)) {
        g_debug("control socket: %s", err->message);
    }
    g_io_stream_close(G_IO_STREAM(reply->conn), NULL, NULL);
    g_object_unref(reply->conn);
    g_free(reply->text);
    g_free(reply);
}

static gboolean oc_control_incoming(GSocketService *service,
                                    GSocketConnection *conn, GObject *source,
                                    gpointer opaque)
{
    OcControl *ctl = opaque;
    OcControlReply *reply = g_new0(OcControlReply, 1);
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));

    reply->conn = g_object_ref(conn);
    reply->text = ctl->status(ctl->opaque);
    g_output_stream_write_all_async(out, reply->text, strlen(reply->text),
                                    G_PRIORITY_DEFAULT, NULL, oc_control_sent,
                                    reply);
    return TRUE;
}

/* Removes a socket left by a daemon that died; refuses other files. */
static gboolean oc_control_clear_path(const char *path, GError **err)
{
    GStatBuf st;

    if (g_lstat(path, &st) < 0) {
        return TRUE;
    }
    if (!S_ISSOCK(st.st_mode)) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_EXISTS,
                    "%s exists and is not a socket", path);
        return FALSE;
    }
    if (g_unlink(path) < 0) {
        g_set_error(err, G_IO_ERROR, g_io_error_from_errno(errno),
                    "cannot remove the old socket %s: %s", path,
                    g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

OcControl *oc_control_start(const char *path, OcControlStatusFunc status,
                            gpointer opaque, GError **err)
{
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    OcControl *ctl;

    if (!oc_control_clear_path(path, err)) {
        return NULL;
    }
    ctl = g_new0(OcControl, 1);
    ctl->service = g_socket_service_new();
    ctl->path = g_strdup(path);
    ctl->status = status;
    ctl->opaque = opaque;
    if (!g_socket_listener_add_address(G_SOCKET_LISTENER(ctl->service), addr,
                                       G_SOCKET_TYPE_STREAM,
                                       G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL,
                                       err)) {
        g_prefix_error(err, "control socket %s: ", path);
        g_object_unref(ctl->service);
        g_free(ctl->path);
        g_free(ctl);
        return NULL;
    }
    if (g_chmod(path, 0660) < 0) {
        g_warning("control socket %s: chmod: %s", path, g_strerror(errno));
    }
    g_signal_connect(ctl->service, "incoming", G_CALLBACK(oc_control_incoming),
                     ctl);
    g_socket_service_start(ctl->service);
    return ctl;
}

void oc_control_stop(OcControl *ctl)
{
    if (!ctl) {
        return;
    }
    g_socket_service_stop(ctl->service);
    g_socket_listener_close(G_SOCKET_LISTENER(ctl->service));
    g_object_unref(ctl->service);
    g_unlink(ctl->path);
    g_free(ctl->path);
    g_free(ctl);
}

char *oc_control_fetch(const char *path, GError **err)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GByteArray) buf = g_byte_array_new();
    GInputStream *in;
    guint8 chunk[16384];
    gssize n;

    g_socket_client_set_timeout(client, 5);
    conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr), NULL, err);
    if (!conn) {
        g_prefix_error(err, "%s: ", path);
        return NULL;
    }
    in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
    while ((n = g_input_stream_read(in, chunk, sizeof(chunk), NULL, err)) > 0) {
        if (buf->len + n > OC_CONTROL_MAX_STATUS) {
            g_set_error(err, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                        "%s: status over 4 MiB", path);
            return NULL;
        }
        g_byte_array_append(buf, chunk, n);
    }
    if (n < 0) {
        return NULL;
    }
    g_byte_array_append(buf, (const guint8 *)"", 1);
    return (char *)g_byte_array_free(g_steal_pointer(&buf), FALSE);
}
