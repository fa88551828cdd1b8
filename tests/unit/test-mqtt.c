/* Unit tests for the MQTT bridge's pure parts: command parsing (table-driven), the status
 * mapping, and the Home Assistant discovery documents and topics in each mode. */
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
  const NvrMqttDiscoveryInfo info = { "homeassistant", "hearth", 7, "porch", TRUE, NULL, NULL };
  g_autofree char *json = nvr_mqtt_discovery_json (&info);
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
  const NvrMqttDiscoveryInfo info = { "homeassistant", "hearth", 7, "porch", FALSE, NULL, NULL };
  g_autofree char *json = nvr_mqtt_discovery_json (&info);
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

/* The device block Home Assistant shows: the daemon's version (device and origin) and the web
 * page, under the abbreviations of HA's MQTT abbreviations table (`sw`, `cu`). */
static void
check_device_block (JsonObject *o, const char *uid_prefix, const char *name)
{
  JsonObject *dev = json_object_get_object_member (o, "dev");
  g_assert_nonnull (dev);
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (dev, "ids"), 0),
                   ==, uid_prefix);
  g_assert_cmpstr (json_object_get_string_member (dev, "name"), ==, name);
  g_assert_cmpstr (json_object_get_string_member (dev, "sw"), ==, "9.8.7");
  g_assert_cmpstr (json_object_get_string_member (dev, "cu"), ==, "https://nvr.lan:8443");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (o, "o"), "sw"),
                   ==, "9.8.7");
  g_assert_cmpstr (json_object_get_string_member (o, "availability_topic"), ==,
                   "home/nvr/available");
}

static void
test_device_info (void)
{
  const NvrMqttDiscoveryInfo info = { "homeassistant", "home/nvr", 7, "porch", FALSE, "9.8.7",
                                      "https://nvr.lan:8443" };
  g_autofree char *json = nvr_mqtt_discovery_json (&info);
  g_autoptr (JsonParser) p = json_parser_new ();
  check_device_block (parse_object (p, json), "home_nvr_7", "porch");
  /* Without an origin there is no configuration_url (and no URL at all). */
  const NvrMqttDiscoveryInfo bare = { "homeassistant", "hearth", 7, "porch", FALSE, "9.8.7",
                                      NULL };
  g_autofree char *json2 = nvr_mqtt_discovery_json (&bare);
  g_assert_null (strstr (json2, "\"cu\""));
  g_assert_null (strstr (json2, "http"));
}

static guint
count_payloads (GPtrArray *msgs, gboolean empty)
{
  guint n = 0;
  for (guint i = 0; i < msgs->len; i++)
    if ((*((NvrMqttMessage *) msgs->pdata[i])->payload == '\0') == empty)
      n++;
  return n;
}

static const NvrMqttMessage *
find_topic (GPtrArray *msgs, const char *topic)
{
  for (guint i = 0; i < msgs->len; i++)
    if (strcmp (((NvrMqttMessage *) msgs->pdata[i])->topic, topic) == 0)
      return msgs->pdata[i];
  return NULL;
}

/* Entity mode: one document per offered entity on `<dp>/<platform>/<uid>/config`, each with
 * the same device block and its own unique id; the device document and the entities the
 * commands setting does not offer are cleared (empty retained payloads) before any document. */
static void
test_entity_mode (void)
{
  const NvrMqttDiscoveryInfo info = { "homeassistant", "home/nvr", 7, "porch", FALSE, "9.8.7",
                                      "https://nvr.lan:8443" };
  g_autoptr (GPtrArray) msgs = nvr_mqtt_discovery_messages (&info, NVR_MQTT_DISCOVERY_ENTITY,
                                                            FALSE);
  static const struct { const char *topic, *uid, *state, *device_class; } want[] = {
    { "homeassistant/binary_sensor/home_nvr_7_motion/config", "home_nvr_7_motion",
      "home/nvr/porch/motion", "motion" },
    { "homeassistant/binary_sensor/home_nvr_7_recording_state/config",
      "home_nvr_7_recording_state", "home/nvr/porch/recordings/state", NULL },
    { "homeassistant/binary_sensor/home_nvr_7_detect_state/config", "home_nvr_7_detect_state",
      "home/nvr/porch/detect/state", NULL },
    { "homeassistant/sensor/home_nvr_7_status/config", "home_nvr_7_status",
      "home/nvr/porch/status", "enum" },
  };
  g_assert_cmpuint (count_payloads (msgs, FALSE), ==, G_N_ELEMENTS (want));
  for (gsize i = 0; i < G_N_ELEMENTS (want); i++) {
    const NvrMqttMessage *m = find_topic (msgs, want[i].topic);
    g_assert_nonnull (m);
    g_autoptr (JsonParser) p = json_parser_new ();
    JsonObject *o = parse_object (p, m->payload);
    g_assert_false (json_object_has_member (o, "p"));    /* the platform is in the topic */
    g_assert_false (json_object_has_member (o, "cmps"));
    g_assert_cmpstr (json_object_get_string_member (o, "unique_id"), ==, want[i].uid);
    g_assert_cmpstr (json_object_get_string_member (o, "state_topic"), ==, want[i].state);
    g_assert_cmpstr (json_object_get_string_member_with_default (o, "device_class", NULL), ==,
                     want[i].device_class);
    g_assert_false (json_object_has_member (o, "command_topic"));
    check_device_block (o, "home_nvr_7", "porch");
  }
  /* Cleared, and before the first document: the device document, the two switches. */
  static const char *const cleared[] = {
    "homeassistant/device/home_nvr_7/config",
    "homeassistant/switch/home_nvr_7_recordings/config",
    "homeassistant/switch/home_nvr_7_detect/config",
  };
  g_assert_cmpuint (count_payloads (msgs, TRUE), ==, G_N_ELEMENTS (cleared));
  for (gsize i = 0; i < G_N_ELEMENTS (cleared); i++) {
    const NvrMqttMessage *m = find_topic (msgs, cleared[i]);
    g_assert_nonnull (m);
    g_assert_cmpstr (m->payload, ==, "");
  }
  for (guint i = 0; i < G_N_ELEMENTS (cleared); i++)
    g_assert_cmpstr (((NvrMqttMessage *) msgs->pdata[i])->payload, ==, "");

  /* Commands on: the switches have command topics, the read-only sensors are cleared. */
  const NvrMqttDiscoveryInfo on = { "homeassistant", "hearth", 7, "porch", TRUE, NULL, NULL };
  g_autoptr (GPtrArray) msgs2 = nvr_mqtt_discovery_messages (&on, NVR_MQTT_DISCOVERY_ENTITY,
                                                             FALSE);
  const NvrMqttMessage *sw = find_topic (msgs2, "homeassistant/switch/hearth_7_recordings/config");
  g_assert_nonnull (sw);
  g_autoptr (JsonParser) p = json_parser_new ();
  g_assert_cmpstr (json_object_get_string_member (parse_object (p, sw->payload), "command_topic"),
                   ==, "hearth/porch/recordings/set");
  g_assert_cmpstr (find_topic (msgs2, "homeassistant/binary_sensor/hearth_7_recording_state/config")
                   ->payload, ==, "");
}

/* Device mode clears every entity-mode topic first, then sends the one document; removal clears
 * every topic of both modes; off writes nothing under the discovery prefix. */
static void
test_mode_switch (void)
{
  const NvrMqttDiscoveryInfo info = { "ha", "hearth", 3, "yard", TRUE, "1.0", NULL };
  g_autoptr (GPtrArray) dev = nvr_mqtt_discovery_messages (&info, NVR_MQTT_DISCOVERY_DEVICE,
                                                           FALSE);
  g_assert_cmpuint (count_payloads (dev, FALSE), ==, 1);
  g_assert_cmpuint (count_payloads (dev, TRUE), ==, 6);   /* every entity topic */
  const NvrMqttMessage *last = dev->pdata[dev->len - 1];
  g_assert_cmpstr (last->topic, ==, "ha/device/hearth_3/config");
  g_autofree char *json = nvr_mqtt_discovery_json (&info);
  g_assert_cmpstr (last->payload, ==, json);
  g_assert_nonnull (find_topic (dev, "ha/binary_sensor/hearth_3_motion/config"));
  g_assert_nonnull (find_topic (dev, "ha/sensor/hearth_3_status/config"));
  g_assert_nonnull (find_topic (dev, "ha/switch/hearth_3_detect/config"));

  g_autoptr (GPtrArray) gone = nvr_mqtt_discovery_messages (&info, NVR_MQTT_DISCOVERY_ENTITY,
                                                            TRUE);
  g_assert_cmpuint (count_payloads (gone, FALSE), ==, 0);
  g_assert_cmpuint (count_payloads (gone, TRUE), ==, 7);   /* device + 6 entities */
  g_assert_nonnull (find_topic (gone, "ha/device/hearth_3/config"));

  g_autoptr (GPtrArray) off = nvr_mqtt_discovery_messages (&info, NVR_MQTT_DISCOVERY_OFF, FALSE);
  g_assert_cmpuint (off->len, ==, 0);
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
  g_test_add_func ("/mqtt/device-info", test_device_info);
  g_test_add_func ("/mqtt/entity-mode", test_entity_mode);
  g_test_add_func ("/mqtt/mode-switch", test_mode_switch);
  return g_test_run ();
}
