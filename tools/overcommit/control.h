/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket: a unix socket on which the running daemon answers
 * every connection with its status document and closes it.  Nothing is
 * read from the client, so there is nothing to parse.
 */
#ifndef OC_CONTROL_H
#define OC_CONTROL_H

#include <gio/gio.h>

/* Longest status document the client accepts. */
#define OC_CONTROL_MAX_STATUS (4 * 1024 * 1024)

typedef char *(*OcControlStatusFunc)(gpointer opaque);

typedef struct OcControl OcControl;

/*
 * Listens on @path (a stale socket there is replaced; any other file is
 * an error), mode 0660.  Returns: the server; NULL with @err.
 */
OcControl *oc_control_start(const char *path, OcControlStatusFunc status,
                            gpointer opaque, GError **err);
/* Stops listening and removes the socket. */
void oc_control_stop(OcControl *ctl);

/* Client: Returns: the status document of the daemon at @path, or NULL. */
char *oc_control_fetch(const char *path, GError **err);

#endif
