/* Unit tests for the MQTT bridge's pure parts: command parsing (table-driven), the status
 * mapping, and the Home Assistant discovery document. */
#include <json-glib/json-glib.h>
#include <string.h>

#include "mqtt.h"
#include "mqttcmd.h"

typedef struct {
  const char *topic;
  const char *payload;        /* NULL = empty */
  gboolean ok;
  const char *camera;
  NvrMqttFeature feature;
  gboolean on;
  const char *error_part;     /* substring of the error message */
} Case;

static const Case cases[] = {
  { "hearth/cam1/recordings/set", "ON", TRUE, "cam1", NVR_MQTTCMD_RECORDINGS, TRUE, NULL },
  { "hearth/cam1/recordings/set", "OFF", TRUE, "cam1", NVR_MQTTCMD_RECORDINGS, FALSE, NULL },
  { "hearth/porch_2-a/detect/set", "ON", TRUE, "porch_2-a", NVR_MQTTCMD_DETECT, TRUE, NULL },
  { "hearth/cam1/detect/set", "on", FALSE, NULL, 0, 0, "neither ON nor OFF" },
  { "hearth/cam1/detect/set", "ON ", FALSE, NULL, 0, 0, "neither ON nor OFF" },
  { "hearth/cam1/detect/set", NULL, FALSE, NULL, 0, 0, "payload '' is neither" },
  { "hearth/cam1/detect/set", "\x01\xff", FALSE, NULL, 0, 0, "'\\x01\\xff'" },
  { "hearth/cam1/snapshots/set", "ON", FALSE, NULL, 0, 0, "unknown feature" },
  { "hearth/cam1/detect/state", "ON", FALSE, NULL, 0, 0, "is not <prefix>" },
  { "hearth/cam1/detect/set/x", "ON", FALSE, NULL, 0, 0, "is not <prefix>" },
  { "hearth/cam1", "ON", FALSE, NULL, 0, 0, "is not <prefix>" },
  { "other/cam1/detect/set", "ON", FALSE, NULL, 0, 0, "is not under 'hearth/'" },
  { "hearthx/cam1/detect/set", "ON", FALSE, NULL, 0, 0, "is not under 'hearth/'" },
  { "hearth//detect/set", "ON", FALSE, NULL, 0, 0, "1-32 characters" },
  { "hearth/Cam1/detect/set", "ON", FALSE, NULL, 0, 0, "[a-z0-9_-]" },
  { "hearth/../detect/set", "ON", FALSE, NULL, 0, 0, "[a-z0-9_-]" },
  { "hearth/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/detect/set", "ON", FALSE, NULL, 0, 0, "1-32" },
  { "hearth/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/detect/set", "ON", TRUE,
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NVR_MQTTCMD_DETECT, TRUE, NULL },
};

static void
test_parse (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    const Case *c = &cases[i];
    NvrMqttCommand cmd;
    g_autoptr (GError) error = NULL;
    gsize len = c->payload ? strlen (c->payload) : 0;
    gboolean ok = nvr_mqttcmd_parse ("hearth", c->topic, c->payload, len, &cmd, &error);
    if (ok != c->ok)
      g_error ("case %" G_GSIZE_FORMAT " (%s): got %d (%s)", i, c->topic, ok,
               error ? error->message : "");
    if (ok) {
      g_assert_cmpstr (cmd.camera, ==, c->camera);
      g_assert_cmpint (cmd.feature, ==, c->feature);
      g_assert_cmpint (cmd.on, ==, c->on);
    } else if (strstr (error->message, c->error_part) == NULL) {
      g_error ("case %" G_GSIZE_FORMAT ": '%s' lacks '%s'", i, error->message, c->error_part);
    }
  }
}

static void
test_limits (void)
{
  NvrMqttCommand cmd;
  g_autoptr (GError) e1 = NULL;
  char big[NVR_MQTTCMD_MAX_PAYLOAD + 1];
  memset (big, 'O', sizeof big);
  g_assert_false (nvr_mqttcmd_parse ("hearth", "hearth/c/detect/set", big, sizeof big, &cmd, &e1));
  g_assert_nonnull (strstr (e1->message, "(at most 256)"));
  g_autoptr (GError) e2 = NULL;
  g_autofree char *topic = g_strnfill (NVR_MQTTCMD_MAX_TOPIC + 10, 'a');
  g_assert_false (nvr_mqttcmd_parse ("hearth", topic, "ON", 2, &cmd, &e2));
  g_assert_nonnull (strstr (e2->message, "topic longer than"));
  /* Multi-level prefixes. */
  g_assert_true (nvr_mqttcmd_parse ("home/nvr", "home/nvr/c/recordings/set", "OFF", 3, &cmd, NULL));
  g_assert_cmpstr (cmd.camera, ==, "c");
}

static void
test_status (void)
{
  g_assert_cmpstr (nvr_mqtt_status_payload ("recording"), ==, "recording");
  /* A camera switched off must not read as healthy (issue 14): never "online". */
  g_assert_cmpstr (nvr_mqtt_status_payload ("paused"), ==, "paused");
  g_assert_null (nvr_mqtt_status_payload ("starting"));
  g_assert_null (nvr_mqtt_status_payload ("connecting"));
  g_assert_cmpstr (nvr_mqtt_status_payload ("offline"), ==, "offline");
  g_assert_cmpstr (nvr_mqtt_status_payload ("identity-mismatch"), ==, "offline");
  g_assert_cmpstr (nvr_mqtt_status_payload ("stopped"), ==, "offline");
}

static JsonObject *
parse_object (JsonParser *p, const char *json)
{
  g_assert_true (json_parser_load_from_data (p, json, -1, NULL));
  return json_node_get_object (json_parser_get_root (p));
}

static void
test_discovery (void)
{
  g_autofree char *topic = nvr_mqtt_discovery_topic ("homeassistant", "home/nvr-1", 7);
  g_assert_cmpstr (topic, ==, "homeassistant/device/home_nvr_1_7/config");
  g_autofree char *json = nvr_mqtt_discovery_json ("hearth", 7, "porch", TRUE);
  g_autoptr (JsonParser) p = json_parser_new ();
  JsonObject *o = parse_object (p, json);
  JsonObject *dev = json_object_get_object_member (o, "dev");
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (dev, "ids"), 0),
                   ==, "hearth_7");
  g_assert_cmpstr (json_object_get_string_member (dev, "name"), ==, "porch");
  g_assert_nonnull (json_object_get_object_member (o, "o"));
  g_assert_cmpstr (json_object_get_string_member (o, "availability_topic"), ==,
                   "hearth/available");
  JsonObject *cmps = json_object_get_object_member (o, "cmps");
  /* motion, recordings, detect, status, and the two read-only sensors withdrawn */
  g_assert_cmpuint (json_object_get_size (cmps), ==, 6);
  JsonObject *motion = json_object_get_object_member (cmps, "hearth_7_motion");
  g_assert_cmpstr (json_object_get_string_member (motion, "p"), ==, "binary_sensor");
  g_assert_cmpstr (json_object_get_string_member (motion, "state_topic"), ==,
                   "hearth/porch/motion");
  JsonObject *rec = json_object_get_object_member (cmps, "hearth_7_recordings");
  g_assert_cmpstr (json_object_get_string_member (rec, "p"), ==, "switch");
  g_assert_cmpstr (json_object_get_string_member (rec, "command_topic"), ==,
                   "hearth/porch/recordings/set");
  g_assert_cmpstr (json_object_get_string_member (rec, "state_topic"), ==,
                   "hearth/porch/recordings/state");
  JsonObject *gone = json_object_get_object_member (cmps, "hearth_7_recording_state");
  g_assert_cmpuint (json_object_get_size (gone), ==, 1);   /* only "p": withdrawn */
  JsonObject *st = json_object_get_object_member (cmps, "hearth_7_status");
  g_assert_cmpstr (json_object_get_string_member (st, "p"), ==, "sensor");
  /* The status sensor's options are exactly what nvr_mqtt_status_payload() can publish. */
  JsonArray *opts = json_object_get_array_member (st, "options");
  g_autoptr (GHashTable) options = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < json_array_get_length (opts); i++)
    g_hash_table_add (options, (gpointer) json_array_get_string_element (opts, i));
  static const char *const states[] = { "recording", "paused", "offline", "stopped",
                                        "identity-mismatch" };
  for (gsize i = 0; i < G_N_ELEMENTS (states); i++)
    g_assert_true (g_hash_table_contains (options, nvr_mqtt_status_payload (states[i])));
  g_assert_cmpuint (g_hash_table_size (options), ==, 3);
  g_assert_false (g_hash_table_contains (options, "online"));
  g_assert_null (strstr (json, "http"));
}

/* Commands off (the default): nothing in the document offers a command topic, and the switch
 * states are still visible read-only. */
static void
test_discovery_no_commands (void)
{
  g_autofree char *json = nvr_mqtt_discovery_json ("hearth", 7, "porch", FALSE);
  g_assert_null (strstr (json, "command_topic"));
  g_assert_null (strstr (json, "/set"));
  g_autoptr (JsonParser) p = json_parser_new ();
  JsonObject *cmps = json_object_get_object_member (parse_object (p, json), "cmps");
  JsonObject *rec = json_object_get_object_member (cmps, "hearth_7_recording_state");
  g_assert_cmpstr (json_object_get_string_member (rec, "p"), ==, "binary_sensor");
  g_assert_cmpstr (json_object_get_string_member (rec, "state_topic"), ==,
                   "hearth/porch/recordings/state");
  JsonObject *det = json_object_get_object_member (cmps, "hearth_7_detect_state");
  g_assert_cmpstr (json_object_get_string_member (det, "state_topic"), ==,
                   "hearth/porch/detect/state");
  /* The switches a commands-on daemon advertised earlier are withdrawn (platform only). */
  JsonObject *sw = json_object_get_object_member (cmps, "hearth_7_recordings");
  g_assert_cmpstr (json_object_get_string_member (sw, "p"), ==, "switch");
  g_assert_cmpuint (json_object_get_size (sw), ==, 1);
  g_assert_cmpuint (json_object_get_size (json_object_get_object_member (cmps, "hearth_7_detect")),
                    ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/mqtt/parse", test_parse);
  g_test_add_func ("/mqtt/limits", test_limits);
  g_test_add_func ("/mqtt/status", test_status);
  g_test_add_func ("/mqtt/discovery", test_discovery);
  g_test_add_func ("/mqtt/discovery-no-commands", test_discovery_no_commands);
  return g_test_run ();
}
