/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Checked reads of JSON members (see oc-json.h). */
#include "oc-json.h"

gboolean oc_json_get_u64(JsonObject *obj, const char *name, guint64 *out)
{
    JsonNode *node = obj ? json_object_get_member(obj, name) : NULL;
    gint64 v;

    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_INT64) {
        return FALSE;
    }
    v = json_node_get_int(node);
    if (v < 0) {
        return FALSE;
    }
    *out = (guint64)v;
    return TRUE;
}

JsonObject *oc_json_get_object(JsonObject *obj, const char *name)
{
    JsonNode *node = obj ? json_object_get_member(obj, name) : NULL;

    return node && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

const char *oc_json_get_string(JsonObject *obj, const char *name)
{
    JsonNode *node = obj ? json_object_get_member(obj, name) : NULL;

    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING) {
        return NULL;
    }
    return json_node_get_string(node);
}
