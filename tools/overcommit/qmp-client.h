/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A small asynchronous QMP client on GLib's main loop.
 *
 * One OcQmp talks to one QEMU over a unix socket: it reads the greeting,
 * negotiates capabilities, sends commands with ids and hands each reply
 * to the callback of its command.  Events are logged and otherwise
 * ignored.  A QEMU that cannot be reached, goes away, sends malformed or
 * oversized messages, or does not answer within OC_QMP_TIMEOUT_SEC only
 * ends the connection: pending commands fail with an error and the owner
 * is told through its state callback, so that it can retry.
 */
#ifndef OC_QMP_CLIENT_H
#define OC_QMP_CLIENT_H

#include <gio/gio.h>
#include <json-glib/json-glib.h>

/* Longest message accepted from QEMU; a longer one ends the connection. */
#define OC_QMP_MAX_MESSAGE (1024 * 1024)
/* Seconds that the greeting, negotiation or any one command may take. */
#define OC_QMP_TIMEOUT_SEC 10

typedef struct OcQmp OcQmp;

/*
 * A command's result: @ret is its "return" value (borrowed, valid during
 * the call), or NULL with @err set when QEMU answered with an error or the
 * connection ended first.
 */
typedef void (*OcQmpReplyFunc)(OcQmp *qmp, JsonNode *ret, const GError *err,
                               gpointer opaque);

/*
 * The connection became ready (@ready) or ended or failed (@err says why).
 * The owner may call oc_qmp_connect() again from here.
 */
typedef void (*OcQmpStateFunc)(OcQmp *qmp, gboolean ready, const GError *err,
                               gpointer opaque);

OcQmp *oc_qmp_new(const char *name, const char *socket_path,
                  OcQmpStateFunc state_cb, gpointer opaque);
/* Ends the connection without calling the state callback, and frees. */
void oc_qmp_free(OcQmp *qmp);

/* Starts connecting, unless connected or connecting already. */
void oc_qmp_connect(OcQmp *qmp);
/* Ends the connection; pending commands fail with @why. */
void oc_qmp_disconnect(OcQmp *qmp, const char *why);
gboolean oc_qmp_is_ready(OcQmp *qmp);
const char *oc_qmp_path(OcQmp *qmp);
/*
 * Returns: the PID of the process at the other end (SO_PEERCRED: whoever
 * listens on the socket, QEMU itself unless a proxy sits between), or 0
 * when not connected or unknown.  It names a process, not a QEMU: a
 * hostile peer may be anything.
 */
gint64 oc_qmp_peer_pid(OcQmp *qmp);

/*
 * Sends @command with @args (a JSON object node, consumed; may be NULL).
 * @cb is called exactly once, also when the client is not ready (at once,
 * with an error) or the connection ends before the reply.
 */
void oc_qmp_execute(OcQmp *qmp, const char *command, JsonNode *args,
                    OcQmpReplyFunc cb, gpointer opaque);

/* Builds the arguments of qom-list (@property NULL), qom-get and qom-set
 * (@value, consumed). */
JsonNode *oc_qmp_args_qom(const char *path, const char *property,
                          JsonNode *value);

#endif
