/* footage — parse and validate a real recording's hand-labelled truth (footage.h). Pure; any
 * thread. Invariant: a labels struct that parse returned TRUE for has every interval sorted,
 * disjoint and inside the video, every rect inside the frame. */
#include "footage.h"

#include <json-glib/json-glib.h>
#include <string.h>

static gboolean
fail (GError **error, const char *what)
{
  g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "footage labels: %s", what);
  return FALSE;
}

static gboolean
get_number (JsonObject *o, const char *member, double *out)
{
  JsonNode *n = json_object_get_member (o, member);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) ||
      (json_node_get_value_type (n) != G_TYPE_INT64 && json_node_get_value_type (n) != G_TYPE_DOUBLE))
    return FALSE;
  *out = json_node_get_double (n);
  return TRUE;
}

static gboolean
valid_name (const char *s)
{
  gsize len = strlen (s);
  if (len == 0 || len > FC_FOOTAGE_MAX_NAME)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!(g_ascii_islower (s[i]) || g_ascii_isdigit (s[i]) || s[i] == '_' || s[i] == '-'))
      return FALSE;
  return TRUE;
}

static gboolean
parse_region (JsonNode *node, double duration_s, FcFootageRegion *r, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return fail (error, "a region is not an object");
  JsonObject *o = json_node_get_object (node);
  const char *name = json_object_get_string_member_with_default (o, "name", "");
  if (!valid_name (name))
    return fail (error, "region name must be 1..32 of [a-z0-9_-]");
  g_strlcpy (r->name, name, sizeof r->name);

  JsonNode *rn = json_object_get_member (o, "rect");
  if (rn == NULL || !JSON_NODE_HOLDS_OBJECT (rn))
    return fail (error, "region without \"rect\"");
  JsonObject *ro = json_node_get_object (rn);
  if (!get_number (ro, "x", &r->rect.x) || !get_number (ro, "y", &r->rect.y) ||
      !get_number (ro, "w", &r->rect.w) || !get_number (ro, "h", &r->rect.h))
    return fail (error, "\"rect\" needs numbers x, y, w, h");
  if (r->rect.x < 0 || r->rect.y < 0 || r->rect.w <= 0 || r->rect.h <= 0 ||
      r->rect.x + r->rect.w > 1 + 1e-9 || r->rect.y + r->rect.h > 1 + 1e-9)
    return fail (error, "\"rect\" must lie inside the frame (fractions 0..1, w and h > 0)");

  JsonNode *mn = json_object_get_member (o, "motion");
  if (mn == NULL || !JSON_NODE_HOLDS_ARRAY (mn))
    return fail (error, "region without a \"motion\" array");
  JsonArray *m = json_node_get_array (mn);
  guint n = json_array_get_length (m);
  if (n > FC_FOOTAGE_MAX_INTERVALS)
    return fail (error, "more than 256 intervals in a region");
  double prev_end = 0;
  for (guint i = 0; i < n; i++) {
    JsonNode *iv = json_array_get_element (m, i);
    if (!JSON_NODE_HOLDS_ARRAY (iv) || json_array_get_length (json_node_get_array (iv)) != 2)
      return fail (error, "an interval is not [start_s, end_s]");
    JsonArray *a = json_node_get_array (iv);
    JsonNode *sn = json_array_get_element (a, 0), *en = json_array_get_element (a, 1);
    if (!JSON_NODE_HOLDS_VALUE (sn) || !JSON_NODE_HOLDS_VALUE (en) ||
        json_node_get_value_type (sn) == G_TYPE_STRING || json_node_get_value_type (en) == G_TYPE_STRING ||
        json_node_get_value_type (sn) == G_TYPE_BOOLEAN || json_node_get_value_type (en) == G_TYPE_BOOLEAN)
      return fail (error, "an interval's ends are not numbers");
    double s = json_node_get_double (sn), e = json_node_get_double (en);
    if (!(s >= 0 && s < e && e <= duration_s + 1e-9))
      return fail (error, "an interval is empty or outside the video");
    if (i > 0 && s <= prev_end)
      return fail (error, "intervals must be sorted and disjoint");
    r->starts[i] = s;
    r->ends[i] = e;
    prev_end = e;
  }
  r->n_motion = (int) n;
  return TRUE;
}

gboolean
fc_footage_labels_parse (const char *text, gsize len, FcFootageLabels *out, GError **error)
{
  memset (out, 0, sizeof *out);
  if (len > FC_FOOTAGE_MAX_LABEL_BYTES)
    return fail (error, "file larger than 256 KiB");
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) json_error = NULL;
  if (!json_parser_load_from_data (parser, text, (gssize) len, &json_error)) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "footage labels: %s", json_error->message);
    return FALSE;
  }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return fail (error, "not a JSON object");
  JsonObject *o = json_node_get_object (root);
  if (json_object_get_int_member_with_default (o, "format", 0) != 1)
    return fail (error, "\"format\" must be 1");

  JsonNode *vn = json_object_get_member (o, "video");
  if (vn == NULL || !JSON_NODE_HOLDS_OBJECT (vn))
    return fail (error, "no \"video\" object");
  JsonObject *v = json_node_get_object (vn);
  const char *sha = json_object_get_string_member_with_default (v, "sha256", "");
  if (strlen (sha) != 64 || strspn (sha, "0123456789abcdef") != 64)
    return fail (error, "\"video.sha256\" must be 64 lower-case hex digits");
  memcpy (out->video_sha256, sha, 65);
  gint64 fps = json_object_get_int_member_with_default (v, "fps", 0);
  gint64 frames = json_object_get_int_member_with_default (v, "frames", 0);
  if (fps < 1 || fps > 60 || frames < 1 || frames > 600 * 60)
    return fail (error, "\"video.fps\" must be 1..60 and \"video.frames\" 1..36000");
  out->fps = (int) fps;
  out->frames = (int) frames;

  JsonNode *rn = json_object_get_member (o, "regions");
  if (rn == NULL || !JSON_NODE_HOLDS_ARRAY (rn))
    return fail (error, "no \"regions\" array");
  JsonArray *regions = json_node_get_array (rn);
  guint n = json_array_get_length (regions);
  if (n < 1 || n > FC_FOOTAGE_MAX_REGIONS)
    return fail (error, "1..16 regions");
  for (guint i = 0; i < n; i++) {
    if (!parse_region (json_array_get_element (regions, i), (double) frames / (double) fps,
                       &out->regions[i], error))
      return FALSE;
    for (guint j = 0; j < i; j++)
      if (strcmp (out->regions[j].name, out->regions[i].name) == 0)
        return fail (error, "two regions with the same name");
  }
  out->n_regions = (int) n;
  return TRUE;
}
