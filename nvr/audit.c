/* audit — labels, camera diffs and list JSON of the audit trail. Pure: no I/O, no clock.
 * Invariant: nothing built here ever holds a camera password (the diff says only whether it
 * was set, changed or cleared; test-audit checks it). */
#define G_LOG_DOMAIN "nvr-audit"

#include "audit.h"

#include <string.h>

char *
nvr_audit_actor (gint64 device_id, const char *device_name)
{
  if (device_id <= 0)
    return g_strdup ("admin socket");
  return g_strdup_printf ("device %" G_GINT64_FORMAT " '%s'", device_id,
                          device_name ? device_name : "");
}

char *
nvr_audit_camera_target (gint64 camera_id, const char *name)
{
  return g_strdup_printf ("camera %" G_GINT64_FORMAT " '%s'", camera_id, name ? name : "");
}

char *
nvr_audit_device_target (gint64 device_id, const char *name)
{
  return g_strdup_printf ("device %" G_GINT64_FORMAT " '%s'", device_id, name ? name : "");
}

static const char *
nonempty (const char *s)
{
  return s != NULL && *s != '\0' ? s : NULL;
}

static void
add_str_or_null (JsonBuilder *b, const char *s)
{
  if (s != NULL)
    json_builder_add_string_value (b, s);
  else
    json_builder_add_null_value (b);
}

static void
add_int_or_null (JsonBuilder *b, gint64 v)
{
  if (v > 0)
    json_builder_add_int_value (b, v);
  else
    json_builder_add_null_value (b);
}

/* One {"from","to"} member for a string setting that differs ("" and NULL are both none). */
static void
diff_str (JsonBuilder *b, const char *member, const char *from, const char *to)
{
  from = nonempty (from);
  to = nonempty (to);
  if (g_strcmp0 (from, to) == 0)
    return;
  json_builder_set_member_name (b, member);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "from");
  add_str_or_null (b, from);
  json_builder_set_member_name (b, "to");
  add_str_or_null (b, to);
  json_builder_end_object (b);
}

static void
diff_int (JsonBuilder *b, const char *member, gint64 from, gint64 to)
{
  if (from == to)
    return;
  json_builder_set_member_name (b, member);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "from");
  add_int_or_null (b, from);
  json_builder_set_member_name (b, "to");
  add_int_or_null (b, to);
  json_builder_end_object (b);
}

static char *
builder_text (JsonBuilder *b)
{
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

char *
nvr_audit_camera_details (const NvrCameraRow *before, const NvrCameraRow *after)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  if (before == NULL) {
    json_builder_set_member_name (b, "name");
    json_builder_add_string_value (b, after->name);
    json_builder_set_member_name (b, "main_url");
    json_builder_add_string_value (b, after->main_url);
    json_builder_set_member_name (b, "sub_url");
    add_str_or_null (b, nonempty (after->sub_url));
    json_builder_set_member_name (b, "user");
    add_str_or_null (b, nonempty (after->username));
    json_builder_set_member_name (b, "password_set");
    json_builder_add_boolean_value (b, nonempty (after->password) != NULL);
    json_builder_set_member_name (b, "transport");
    json_builder_add_string_value (b, after->transport ? after->transport : "default");
    json_builder_set_member_name (b, "audio");
    json_builder_add_boolean_value (b, !after->audio_off);
    json_builder_set_member_name (b, "retention_days");
    add_int_or_null (b, after->retain_days);
    json_builder_end_object (b);
    return builder_text (b);
  }
  diff_str (b, "name", before->name, after->name);
  diff_str (b, "main_url", before->main_url, after->main_url);
  diff_str (b, "sub_url", before->sub_url, after->sub_url);
  diff_str (b, "user", before->username, after->username);
  const char *pw_from = nonempty (before->password), *pw_to = nonempty (after->password);
  if (g_strcmp0 (pw_from, pw_to) != 0) {
    json_builder_set_member_name (b, "password");
    json_builder_add_string_value (b, pw_to == NULL ? "cleared" : pw_from == NULL ? "set"
                                                                                   : "changed");
  }
  diff_str (b, "transport", before->transport, after->transport);
  if (before->audio_off != after->audio_off) {
    json_builder_set_member_name (b, "audio");
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "from");
    json_builder_add_boolean_value (b, !before->audio_off);
    json_builder_set_member_name (b, "to");
    json_builder_add_boolean_value (b, !after->audio_off);
    json_builder_end_object (b);
  }
  diff_int (b, "retention_days", before->retain_days, after->retain_days);
  json_builder_end_object (b);
  return builder_text (b);
}

JsonNode *
nvr_audit_list_json (GPtrArray *rows, guint limit)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "entries");
  json_builder_begin_array (b);
  for (guint i = 0; i < rows->len; i++) {
    const NvrAuditRow *r = rows->pdata[i];
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "id");
    json_builder_add_int_value (b, r->id);
    json_builder_set_member_name (b, "time_us");
    json_builder_add_int_value (b, r->time_us);
    json_builder_set_member_name (b, "actor");
    json_builder_add_string_value (b, r->actor ? r->actor : "");
    json_builder_set_member_name (b, "actor_device_id");
    add_int_or_null (b, r->actor_device_id);
    json_builder_set_member_name (b, "action");
    json_builder_add_string_value (b, r->action ? r->action : "");
    json_builder_set_member_name (b, "target");
    json_builder_add_string_value (b, r->target ? r->target : "");
    json_builder_set_member_name (b, "camera_id");
    add_int_or_null (b, r->camera_id);
    json_builder_set_member_name (b, "device_id");
    add_int_or_null (b, r->device_id);
    json_builder_set_member_name (b, "details");
    g_autoptr (JsonParser) p = json_parser_new ();
    JsonNode *d = NULL;
    if (r->details != NULL && json_parser_load_from_data (p, r->details, -1, NULL) &&
        JSON_NODE_HOLDS_OBJECT (json_parser_get_root (p)))
      d = json_node_copy (json_parser_get_root (p));
    else
      d = json_node_init_object (json_node_alloc (), json_object_new ());
    json_builder_add_value (b, d);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "next_before_id");
  if (limit > 0 && rows->len == limit)
    json_builder_add_int_value (b, ((NvrAuditRow *) rows->pdata[rows->len - 1])->id);
  else
    json_builder_add_null_value (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
