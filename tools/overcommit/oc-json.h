/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Checked reads of JSON that a QEMU sent: every field may be missing or of
 * the wrong type, and none of them may crash or mislead the daemon.
 */
#ifndef OC_JSON_H
#define OC_JSON_H

#include <json-glib/json-glib.h>

/* A value that a guest or QEMU did not report. */
#define OC_UNKNOWN G_MAXUINT64

/*
 * Returns: TRUE and *out when @obj has an integer member @name that is
 * not negative; FALSE (and *out untouched) otherwise.  QEMU prints uint64
 * fields, which json-glib reads as gint64: values of 2^63 and above (such
 * as the balloon's "not reported", UINT64_MAX) count as absent.
 */
gboolean oc_json_get_u64(JsonObject *obj, const char *name, guint64 *out);

/* Returns: the object member @name, or NULL when absent or not an object. */
JsonObject *oc_json_get_object(JsonObject *obj, const char *name);

/* Returns: the string member @name, or NULL when absent or not a string. */
const char *oc_json_get_string(JsonObject *obj, const char *name);

#endif
