/* Replays tests/e2e/polygon_cases.json through nvr_events_polygon_parse: the same file the admin
 * page's parser (web/js/admin_core.js) is tested with, so both read polygon text alike. The
 * file's path is the first argument (meson passes it). */
#include "events.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

static const char *cases_path;

/* The entry's text: "text" repeated "repeat" times, then "suffix". */
static char *
case_text (JsonObject *o)
{
  const char *text = json_object_get_string_member (o, "text");
  gint64 repeat = json_object_has_member (o, "repeat") ? json_object_get_int_member (o, "repeat") : 1;
  GString *s = g_string_new (NULL);
  for (gint64 i = 0; i < repeat; i++)
    g_string_append (s, text);
  if (json_object_has_member (o, "suffix"))
    g_string_append (s, json_object_get_string_member (o, "suffix"));
  return g_string_free (s, FALSE);
}

static JsonArray *
load (JsonParser *p, const char *member)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (json_parser_load_from_file (p, cases_path, &error));
  g_assert_no_error (error);
  JsonObject *root = json_node_get_object (json_parser_get_root (p));
  JsonArray *a = json_object_get_array_member (root, member);
  g_assert_nonnull (a);
  g_assert_cmpuint (json_array_get_length (a), >, 0);
  return a;
}

static void
test_accept (void)
{
  g_autoptr (JsonParser) p = json_parser_new ();
  JsonArray *a = load (p, "accept");
  for (guint i = 0; i < json_array_get_length (a); i++) {
    JsonObject *o = json_array_get_object_element (a, i);
    g_autofree char *text = case_text (o);
    g_test_message ("accept %u: %.60s", i, text);
    NvrMotionPolygon poly;
    g_autoptr (GError) error = NULL;
    memset (&poly, 0, sizeof poly);
    g_assert_true (nvr_events_polygon_parse (text, &poly, &error));
    g_assert_no_error (error);
    if (json_object_has_member (o, "n_points")) {
      g_assert_cmpuint (poly.n_points, ==, json_object_get_int_member (o, "n_points"));
      continue;
    }
    JsonArray *want = json_object_get_array_member (o, "points");
    g_assert_cmpuint (poly.n_points, ==, json_array_get_length (want));
    for (guint k = 0; k < poly.n_points; k++) {
      JsonArray *xy = json_array_get_array_element (want, k);
      /* Exact: both sides are the nearest double to the same decimal (-0 == 0). */
      g_assert_true (poly.points[k].x == json_array_get_double_element (xy, 0));
      g_assert_true (poly.points[k].y == json_array_get_double_element (xy, 1));
    }
  }
}

static void
test_refuse (void)
{
  g_autoptr (JsonParser) p = json_parser_new ();
  JsonArray *a = load (p, "refuse");
  for (guint i = 0; i < json_array_get_length (a); i++) {
    JsonObject *o = json_array_get_object_element (a, i);
    g_autofree char *text = case_text (o);
    g_test_message ("refuse %u: %.60s", i, text);
    NvrMotionPolygon poly;
    g_autoptr (GError) error = NULL;
    g_assert_false (nvr_events_polygon_parse (text, &poly, &error));
    g_assert_nonnull (error);
    g_assert_nonnull (strstr (error->message, json_object_get_string_member (o, "reason")));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_assert_cmpint (argc, ==, 2);
  cases_path = argv[1];
  g_test_add_func ("/polygon-cases/accept", test_accept);
  g_test_add_func ("/polygon-cases/refuse", test_refuse);
  return g_test_run ();
}
