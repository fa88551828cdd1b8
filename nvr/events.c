/* events — masks/zones text and MQTT event payloads (see events.h). Pure; any thread. */
#define G_LOG_DOMAIN "nvr-events"

#include "events.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#define MAX_TEXT 8192   /* a polygon's CLI text or a camera's JSON, bytes */

static gboolean
parse_coord (const char *s, double *out)
{
  char *end = NULL;
  double v = g_ascii_strtod (s, &end);
  if (end == s || *end != '\0' || !(v >= 0.0 && v <= 1.0))
    return FALSE;
  *out = v;
  return TRUE;
}

gboolean
nvr_events_polygon_parse (const char *text, NvrMotionPolygon *out, GError **error)
{
  if (text == NULL || strlen (text) > MAX_TEXT) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "polygon text is too long");
    return FALSE;
  }
  g_auto (GStrv) pts = g_strsplit_set (text, " \t", -1);
  guint n = 0;
  for (guint i = 0; pts[i] != NULL; i++) {
    if (*pts[i] == '\0')
      continue;
    g_auto (GStrv) xy = g_strsplit (pts[i], ",", -1);
    double x, y;
    if (g_strv_length (xy) != 2 || !parse_coord (xy[0], &x) || !parse_coord (xy[1], &y)) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "point '%s' is not x,y with both in 0..1", pts[i]);
      return FALSE;
    }
    if (n == NVR_MOTION_MAX_POINTS) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "a polygon has at most %d points", NVR_MOTION_MAX_POINTS);
      return FALSE;
    }
    out->points[n].x = x;
    out->points[n].y = y;
    n++;
  }
  if (n < 3) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "a polygon needs at least 3 points \"x,y x,y x,y\"");
    return FALSE;
  }
  out->n_points = n;
  return TRUE;
}

gboolean
nvr_events_polygons_from_json (const char *json, gboolean zones, NvrMotionSettings *settings,
                               GError **error)
{
  NvrMotionPolygon *polys = zones ? settings->zones : settings->masks;
  guint *count = zones ? &settings->n_zones : &settings->n_masks;
  guint max = zones ? NVR_MOTION_MAX_ZONES : NVR_MOTION_MAX_MASKS;
  *count = 0;
  if (json == NULL || *json == '\0')
    return TRUE;
  const char *what = zones ? "motion_zones" : "motion_masks";
  if (strlen (json) > 4 * MAX_TEXT) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s is too long", what);
    return FALSE;
  }
  g_autoptr (JsonParser) p = json_parser_new ();
  if (!json_parser_load_from_data (p, json, -1, error))
    return FALSE;
  JsonNode *root = json_parser_get_root (p);
  if (root == NULL || !JSON_NODE_HOLDS_ARRAY (root))
    goto bad;
  JsonArray *arr = json_node_get_array (root);
  guint n = json_array_get_length (arr);
  if (n > max)
    goto bad;
  for (guint i = 0; i < n; i++) {
    JsonNode *en = json_array_get_element (arr, i);
    if (!JSON_NODE_HOLDS_OBJECT (en))
      goto bad;
    JsonObject *o = json_node_get_object (en);
    NvrMotionPolygon *poly = &polys[i];
    memset (poly, 0, sizeof *poly);
    JsonNode *nn = json_object_get_member (o, "name");
    if (nn != NULL && JSON_NODE_HOLDS_VALUE (nn) &&
        json_node_get_value_type (nn) == G_TYPE_STRING)
      g_strlcpy (poly->name, json_node_get_string (nn), sizeof poly->name);
    JsonNode *pn = json_object_get_member (o, "points");
    if (pn == NULL || !JSON_NODE_HOLDS_ARRAY (pn))
      goto bad;
    JsonArray *pts = json_node_get_array (pn);
    guint np = json_array_get_length (pts);
    if (np > NVR_MOTION_MAX_POINTS)
      goto bad;
    for (guint k = 0; k < np; k++) {
      JsonNode *xy = json_array_get_element (pts, k);
      if (!JSON_NODE_HOLDS_ARRAY (xy) || json_array_get_length (json_node_get_array (xy)) != 2)
        goto bad;
      poly->points[k].x = json_array_get_double_element (json_node_get_array (xy), 0);
      poly->points[k].y = json_array_get_double_element (json_node_get_array (xy), 1);
    }
    poly->n_points = np;
  }
  *count = n;
  return TRUE;
bad:
  *count = 0;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
               "%s is not a JSON array of at most %u {\"name\", \"points\": [[x, y], ...]}",
               what, max);
  return FALSE;
}

char *
nvr_events_polygons_to_json (const NvrMotionPolygon *polys, guint n)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_array (b);
  for (guint i = 0; i < n; i++) {
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "name");
    json_builder_add_string_value (b, polys[i].name);
    json_builder_set_member_name (b, "points");
    json_builder_begin_array (b);
    for (guint k = 0; k < polys[i].n_points; k++) {
      json_builder_begin_array (b);
      json_builder_add_double_value (b, polys[i].points[k].x);
      json_builder_add_double_value (b, polys[i].points[k].y);
      json_builder_end_array (b);
    }
    json_builder_end_array (b);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

char *
nvr_events_polygon_to_text (const NvrMotionPolygon *p, gboolean zone)
{
  GString *t = g_string_new (zone ? p->name : "");
  if (zone)
    g_string_append_c (t, '=');
  for (guint k = 0; k < p->n_points; k++) {
    char x[G_ASCII_DTOSTR_BUF_SIZE], y[G_ASCII_DTOSTR_BUF_SIZE];
    g_string_append_printf (t, "%s%s,%s", k ? " " : "",
                            g_ascii_formatd (x, sizeof x, "%.6g", p->points[k].x),
                            g_ascii_formatd (y, sizeof y, "%.6g", p->points[k].y));
  }
  return g_string_free (t, FALSE);
}

static void
add_event (JsonBuilder *b, const NvrEventInfo *e)
{
  if (e == NULL) {
    json_builder_add_null_value (b);
    return;
  }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_int_value (b, e->id);
  json_builder_set_member_name (b, "camera");
  json_builder_add_string_value (b, e->camera);
  json_builder_set_member_name (b, "start_time");
  json_builder_add_double_value (b, (double) e->start_us / G_USEC_PER_SEC);
  json_builder_set_member_name (b, "end_time");
  if (e->end_us > 0)
    json_builder_add_double_value (b, (double) e->end_us / G_USEC_PER_SEC);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "zones");
  json_builder_begin_array (b);
  for (guint i = 0; e->zones != NULL && e->zones[i] != NULL; i++)
    json_builder_add_string_value (b, e->zones[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "score");
  json_builder_add_double_value (b, e->score);
  json_builder_set_member_name (b, "area");
  json_builder_add_double_value (b, e->area);
  json_builder_set_member_name (b, "has_thumbnail");
  json_builder_add_boolean_value (b, e->has_thumbnail);
  json_builder_end_object (b);
}

char *
nvr_events_payload (const char *type, const NvrEventInfo *before, const NvrEventInfo *after)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, type);
  json_builder_set_member_name (b, "before");
  add_event (b, before);
  json_builder_set_member_name (b, "after");
  add_event (b, after);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}
