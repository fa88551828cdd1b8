/* Unit tests for the audit trail's pure pieces (nvr/audit.c): actor and target labels, the
 * camera diff (never a password), the list JSON and its paging; and the motion polygon text
 * that GET settings/cameras shows (nvr/events.c), read back by the parser that PUT uses. */
#include <json-glib/json-glib.h>
#include <string.h>

#include "audit.h"
#include "events.h"
#include "pairing.h"

static JsonObject *
parse_object (JsonParser *p, const char *text)
{
  g_assert_true (json_parser_load_from_data (p, text, -1, NULL));
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (p)));
  return json_node_get_object (json_parser_get_root (p));
}

static void
test_labels (void)
{
  g_autofree char *a = nvr_audit_actor (3, "phone");
  g_autofree char *b = nvr_audit_actor (0, "ignored");
  g_autofree char *c = nvr_audit_camera_target (2, "porch");
  g_autofree char *d = nvr_audit_device_target (5, "tablet");
  g_assert_cmpstr (a, ==, "device 3 'phone'");
  g_assert_cmpstr (b, ==, "admin socket");
  g_assert_cmpstr (c, ==, "camera 2 'porch'");
  g_assert_cmpstr (d, ==, "device 5 'tablet'");
}

#define SECRET "Canary-9f3a-pw"

static void
test_camera_details (void)
{
  NvrCameraRow before = { .id = 2, .name = "porch", .main_url = "rtsp://10.0.0.5/main",
                          .sub_url = NULL, .username = "", .password = "",
                          .transport = "default" };
  /* An add: the settings, the password only as password_set. */
  NvrCameraRow added = before;
  added.username = "admin";
  added.password = SECRET;
  added.retain_days = 7;
  g_autofree char *add = nvr_audit_camera_details (NULL, &added);
  g_assert_null (strstr (add, SECRET));
  g_autoptr (JsonParser) p1 = json_parser_new ();
  JsonObject *o = parse_object (p1, add);
  g_assert_cmpstr (json_object_get_string_member (o, "name"), ==, "porch");
  g_assert_true (json_object_get_boolean_member (o, "password_set"));
  g_assert_true (json_object_get_boolean_member (o, "audio"));
  g_assert_cmpint (json_object_get_int_member (o, "retention_days"), ==, 7);
  g_assert_false (json_object_has_member (o, "password"));

  /* Table of edits: what each diff must hold. */
  static const struct {
    const char *member, *value;   /* a member of the row to change and its new value */
    const char *expect_member;
    const char *expect_text;      /* a fragment of the JSON */
  } cases[] = {
    { "name", "front", "name", "{\"from\":\"porch\",\"to\":\"front\"}" },
    { "password", SECRET, "password", "\"set\"" },
    { "sub_url", "rtsp://10.0.0.5/sub", "sub_url", "{\"from\":null,\"to\":\"rtsp://10.0.0.5/sub\"}" },
    { "transport", "udp", "transport", "\"to\":\"udp\"" },
    { "username", "", NULL, "{}" },   /* "" and none are the same: nothing changed */
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    NvrCameraRow after = before;
    if (strcmp (cases[i].member, "name") == 0) after.name = (char *) cases[i].value;
    if (strcmp (cases[i].member, "password") == 0) {
      after.password = (char *) cases[i].value;
      after.username = "admin";
    }
    if (strcmp (cases[i].member, "sub_url") == 0) after.sub_url = (char *) cases[i].value;
    if (strcmp (cases[i].member, "transport") == 0) after.transport = (char *) cases[i].value;
    if (strcmp (cases[i].member, "username") == 0) after.username = (char *) cases[i].value;
    g_autofree char *d = nvr_audit_camera_details (&before, &after);
    if (strstr (d, cases[i].expect_text) == NULL)
      g_error ("edit of %s: '%s' lacks '%s'", cases[i].member, d, cases[i].expect_text);
    g_assert_null (strstr (d, SECRET));
  }
  /* Password changed and cleared: the words, never the values. */
  NvrCameraRow with = before, other = before;
  with.username = other.username = "admin";
  with.password = SECRET;
  other.password = "another-" SECRET;
  g_autofree char *changed = nvr_audit_camera_details (&with, &other);
  g_autofree char *cleared = nvr_audit_camera_details (&with, &before);
  g_assert_nonnull (strstr (changed, "\"password\":\"changed\""));
  g_assert_nonnull (strstr (cleared, "\"password\":\"cleared\""));
  g_assert_null (strstr (changed, SECRET));
  g_assert_null (strstr (cleared, SECRET));
  /* Audio and retention. */
  NvrCameraRow quiet = before;
  quiet.audio_off = TRUE;
  quiet.retain_days = 3;
  g_autofree char *q = nvr_audit_camera_details (&before, &quiet);
  g_autoptr (JsonParser) p2 = json_parser_new ();
  JsonObject *qo = parse_object (p2, q);
  g_assert_false (json_object_get_boolean_member (json_object_get_object_member (qo, "audio"),
                                                  "to"));
  JsonObject *rd = json_object_get_object_member (qo, "retention_days");
  g_assert_true (json_object_get_null_member (rd, "from"));
  g_assert_cmpint (json_object_get_int_member (rd, "to"), ==, 3);
}

static void
test_list_json (void)
{
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) nvr_audit_row_free);
  for (int i = 0; i < 3; i++) {
    NvrAuditRow *r = g_new0 (NvrAuditRow, 1);
    r->id = 30 - i;
    r->time_us = 1000 - i;
    r->actor_device_id = i == 0 ? 4 : 0;
    r->actor = g_strdup (i == 0 ? "device 4 'phone'" : "admin socket");
    r->action = g_strdup ("camera.edit");
    r->target = g_strdup ("camera 1 'porch'");
    r->camera_id = 1;
    r->details = g_strdup (i == 2 ? "not json" : "{\"name\":{\"from\":\"a\",\"to\":\"b\"}}");
    g_ptr_array_add (rows, r);
  }
  for (guint limit = 3; limit <= 4; limit++) {
    g_autoptr (JsonNode) root = nvr_audit_list_json (rows, limit);
    JsonObject *o = json_node_get_object (root);
    JsonArray *e = json_object_get_array_member (o, "entries");
    g_assert_cmpuint (json_array_get_length (e), ==, 3);
    JsonObject *first = json_array_get_object_element (e, 0);
    g_assert_cmpint (json_object_get_int_member (first, "id"), ==, 30);
    g_assert_cmpstr (json_object_get_string_member (first, "actor"), ==, "device 4 'phone'");
    g_assert_cmpint (json_object_get_int_member (first, "actor_device_id"), ==, 4);
    g_assert_cmpstr (json_object_get_string_member (
                         json_object_get_object_member (
                             json_object_get_object_member (first, "details"), "name"), "to"),
                     ==, "b");
    JsonObject *last = json_array_get_object_element (e, 2);
    g_assert_true (json_object_get_null_member (last, "actor_device_id"));
    g_assert_true (json_object_get_null_member (last, "device_id"));
    /* Unparsable details are shown as {} rather than as text. */
    g_assert_cmpuint (json_object_get_size (json_object_get_object_member (last, "details")), ==,
                      0);
    /* A full page says where the next one starts; a short one says there is none. */
    if (limit == 3)
      g_assert_cmpint (json_object_get_int_member (o, "next_before_id"), ==, 28);
    else
      g_assert_true (json_object_get_null_member (o, "next_before_id"));
  }
}

/* The text GET settings/cameras shows is what PUT .../motion reads back. */
static void
test_polygon_text (void)
{
  static const char *const texts[] = { "0,0 0.5,0 0.5,1", "0.125,0.25 1,0.333333 0.9,1 0,1" };
  for (guint i = 0; i < G_N_ELEMENTS (texts); i++) {
    NvrMotionPolygon p = { 0 };
    g_assert_true (nvr_events_polygon_parse (texts[i], &p, NULL));
    g_autofree char *mask = nvr_events_polygon_to_text (&p, FALSE);
    g_assert_cmpstr (mask, ==, texts[i]);
    g_strlcpy (p.name, "door", sizeof p.name);
    g_autofree char *zone = nvr_events_polygon_to_text (&p, TRUE);
    g_autofree char *want = g_strconcat ("door=", texts[i], NULL);
    g_assert_cmpstr (zone, ==, want);
  }
}

/* The invite's QR code: an SVG with one path of runs, sized for the URL, no script. */
static void
test_qr_svg (void)
{
  g_autofree char *svg = nvr_pairing_qr_svg ("https://127.0.0.1:8443/pair.html#code=ABCD-EFGH-JKMN",
                                             NULL);
  g_assert_nonnull (svg);
  g_assert_true (g_str_has_prefix (svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "));
  g_assert_true (g_str_has_suffix (svg, "\"/></svg>"));
  g_assert_null (strstr (svg, "script"));
  /* Version 3 or 4 for a URL this long: 29 or 33 modules + 8 of quiet zone. */
  int size = atoi (svg + strlen ("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "));
  g_assert_true (size == 37 || size == 41);
  /* The three finder patterns: a 7-module run on the first row at the left and right. */
  g_autofree char *left = g_strdup_printf ("M4 4h7v1h-7z");
  g_autofree char *right = g_strdup_printf ("M%d 4h7v1h-7z", size - 4 - 7);
  g_assert_nonnull (strstr (svg, left));
  g_assert_nonnull (strstr (svg, right));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/audit/labels", test_labels);
  g_test_add_func ("/audit/camera-details", test_camera_details);
  g_test_add_func ("/audit/list-json", test_list_json);
  g_test_add_func ("/audit/polygon-text", test_polygon_text);
  g_test_add_func ("/audit/qr-svg", test_qr_svg);
  return g_test_run ();
}
