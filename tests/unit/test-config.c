/* Unit tests for the config parser: defaults, every key, and errors that name file and line. */
#include <string.h>

#include "config.h"
#include "motion.h"

static void
test_defaults (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NvrConfig) c = nvr_config_parse ("", 0, "empty.conf", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (c->storage_root, ==, "/var/lib/hearth");
  g_assert_cmpstr (c->admin_socket, ==, "/run/hearth/admin.sock");
  g_assert_null (c->admin_group);
  g_assert_cmpuint (c->segment_seconds, ==, 60);
  g_assert_cmpint (c->transport, ==, NVR_TRANSPORT_AUTO);
  g_assert_null (c->mqtt_host);            /* MQTT off unless a broker is named */
  g_assert_cmpuint (c->mqtt_port, ==, 1883);
  g_assert_cmpstr (c->mqtt_prefix, ==, "hearth");
  g_assert_cmpint (c->mqtt_discovery, ==, NVR_MQTT_DISCOVERY_DEVICE);
  g_assert_cmpstr (c->mqtt_discovery_prefix, ==, "homeassistant");
  g_assert_cmpuint (c->mqtt_keepalive_seconds, ==, 30);
  g_assert_false (c->mqtt_commands);       /* broker clients cannot switch cameras by default */
  /* [motion] defaults are the detector's own. */
  NvrMotionSettings ms;
  nvr_motion_settings_init (&ms);
  g_assert_cmpfloat (c->motion_threshold, ==, ms.threshold);
  g_assert_cmpfloat (c->motion_min_area, ==, ms.min_area);
  g_assert_cmpuint (c->motion_start_frames, ==, ms.start_frames);
  g_assert_cmpint (c->motion_end_after_ms, ==, ms.end_after_ms);
  g_assert_cmpint (c->motion_background_ms, ==, ms.background_ms);
  g_assert_cmpfloat (c->motion_global_fraction, ==, ms.global_fraction);
  g_assert_cmpfloat (c->motion_max_contrast_gain, ==, ms.max_contrast_gain);
  g_assert_cmpfloat (c->motion_threshold, ==, 20);
  g_assert_cmpfloat (c->motion_min_area, ==, 0.003);
}

static void
test_motion (void)
{
  const char *text =
    "[motion]\n"
    "threshold = 12.5\n"
    "min_area = 1e-3\n"
    "start_frames = 5\n"
    "end_after_ms = 30000\n"
    "background_ms = 60000\n"
    "global_fraction = 1\n"
    "max_contrast_gain = 2.25\n";
  g_autoptr (GError) error = NULL;
  g_autoptr (NvrConfig) c = nvr_config_parse (text, strlen (text), "mo.conf", &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (c->motion_threshold, ==, 12.5);
  g_assert_cmpfloat (c->motion_min_area, ==, 0.001);
  g_assert_cmpuint (c->motion_start_frames, ==, 5);
  g_assert_cmpint (c->motion_end_after_ms, ==, 30000);
  g_assert_cmpint (c->motion_background_ms, ==, 60000);
  g_assert_cmpfloat (c->motion_global_fraction, ==, 1);
  g_assert_cmpfloat (c->motion_max_contrast_gain, ==, 2.25);

  /* Range ends are inclusive, and the result is what the detector accepts. */
  const char *edges =
    "[motion]\nthreshold = 4\nmin_area = 0.0001\nglobal_fraction = 0.2\n"
    "max_contrast_gain = 8\nstart_frames = 50\nend_after_ms = 500\nbackground_ms = 3600000\n";
  g_autoptr (NvrConfig) e = nvr_config_parse (edges, strlen (edges), "e.conf", &error);
  g_assert_no_error (error);
  NvrMotionSettings ms;
  nvr_motion_settings_init (&ms);
  ms.threshold = e->motion_threshold;
  ms.min_area = e->motion_min_area;
  ms.start_frames = e->motion_start_frames;
  ms.end_after_ms = e->motion_end_after_ms;
  ms.background_ms = e->motion_background_ms;
  ms.global_fraction = e->motion_global_fraction;
  ms.max_contrast_gain = e->motion_max_contrast_gain;
  g_assert_true (nvr_motion_settings_validate (&ms, &error));
  g_assert_no_error (error);
}

static void
test_mqtt (void)
{
  const char *text =
    "[mqtt]\n"
    "host = broker.lan\n"
    "port = 8883\n"
    "prefix = home/nvr_1\n"
    "client_id = hearth-garage\n"
    "username = nvr@home\n"
    "password_file = /etc/hearth/mqtt.pw\n"
    "ca_file = /etc/ssl/ca.pem\n"
    "keepalive_seconds = 60\n"
    "discovery = off\n"
    "discovery_prefix = ha\n"
    "commands = on\n";
  g_autoptr (GError) error = NULL;
  g_autoptr (NvrConfig) c = nvr_config_parse (text, strlen (text), "m.conf", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (c->mqtt_host, ==, "broker.lan");
  g_assert_cmpuint (c->mqtt_port, ==, 8883);
  g_assert_cmpstr (c->mqtt_prefix, ==, "home/nvr_1");
  g_assert_cmpstr (c->mqtt_client_id, ==, "hearth-garage");
  g_assert_cmpstr (c->mqtt_username, ==, "nvr@home");
  g_assert_cmpstr (c->mqtt_password_file, ==, "/etc/hearth/mqtt.pw");
  g_assert_cmpstr (c->mqtt_ca_file, ==, "/etc/ssl/ca.pem");
  g_assert_cmpuint (c->mqtt_keepalive_seconds, ==, 60);
  g_assert_cmpint (c->mqtt_discovery, ==, NVR_MQTT_DISCOVERY_OFF);
  g_assert_cmpstr (c->mqtt_discovery_prefix, ==, "ha");
  g_assert_true (c->mqtt_commands);

  /* The discovery modes by name. */
  static const struct { const char *v; NvrMqttDiscovery want; } modes[] = {
    { "device", NVR_MQTT_DISCOVERY_DEVICE }, { "entity", NVR_MQTT_DISCOVERY_ENTITY },
    { "off", NVR_MQTT_DISCOVERY_OFF },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (modes); i++) {
    g_autofree char *t = g_strdup_printf ("[mqtt]\ndiscovery = %s\n", modes[i].v);
    g_autoptr (GError) e = NULL;
    g_autoptr (NvrConfig) d = nvr_config_parse (t, strlen (t), "d.conf", &e);
    g_assert_no_error (e);
    g_assert_cmpint (d->mqtt_discovery, ==, modes[i].want);
  }

  /* Every spelling of a boolean. */
  static const struct { const char *v; gboolean want; } bools[] = {
    { "true", TRUE }, { "YES", TRUE }, { "on", TRUE }, { "1", TRUE },
    { "false", FALSE }, { "No", FALSE }, { "OFF", FALSE }, { "0", FALSE },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bools); i++) {
    g_autofree char *t = g_strdup_printf ("[mqtt]\ndiscovery = %s\n", bools[i].v);
    g_autoptr (GError) e = NULL;
    g_autoptr (NvrConfig) b = nvr_config_parse (t, strlen (t), "b.conf", &e);
    g_assert_no_error (e);
    /* discovery was a boolean before `entity`: true still means device, false off */
    g_assert_cmpint (b->mqtt_discovery, ==,
                     bools[i].want ? NVR_MQTT_DISCOVERY_DEVICE : NVR_MQTT_DISCOVERY_OFF);
    g_autofree char *t2 = g_strdup_printf ("[mqtt]\ncommands = %s\n", bools[i].v);
    g_autoptr (NvrConfig) b2 = nvr_config_parse (t2, strlen (t2), "b.conf", &e);
    g_assert_no_error (e);
    g_assert_cmpint (b2->mqtt_commands, ==, bools[i].want);
  }
}

static void
test_full (void)
{
  const char *text =
    "# comment\n"
    "[daemon]\n"
    "admin_socket = /tmp/x/admin.sock\n"
    "admin_group = hearth\n"
    "\n"
    "[storage]   # where footage goes\n"
    "  root   =   /srv/hearth#1  # a '#' inside a value stays\n"
    "segment_seconds = 30\n"
    "[recording]\n"
    "transport = udp\n"
    "watchdog_seconds = 5\n"
    "backoff_initial_ms = 250\n"
    "backoff_max_ms = 8000\n"
    "[retention]\n"
    "max_age_days = 30\n"
    "max_bytes = 20G\n"
    "min_free_bytes = 512M\n"
    "high_water_percent = 0\n"
    "interval_seconds = 5\n";
  g_autoptr (GError) error = NULL;
  g_autoptr (NvrConfig) c = nvr_config_parse (text, strlen (text), "full.conf", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (c->admin_socket, ==, "/tmp/x/admin.sock");
  g_assert_cmpstr (c->admin_group, ==, "hearth");
  g_assert_cmpstr (c->storage_root, ==, "/srv/hearth#1");
  g_assert_cmpuint (c->segment_seconds, ==, 30);
  g_assert_cmpint (c->transport, ==, NVR_TRANSPORT_UDP);
  g_assert_cmpuint (c->watchdog_seconds, ==, 5);
  g_assert_cmpint (c->backoff_initial_ms, ==, 250);
  g_assert_cmpint (c->backoff_max_ms, ==, 8000);
  g_assert_cmpuint (c->max_age_days, ==, 30);
  g_assert_cmpint (c->max_bytes, ==, G_GINT64_CONSTANT (20) << 30);
  g_assert_cmpint (c->min_free_bytes, ==, G_GINT64_CONSTANT (512) << 20);
  g_assert_cmpuint (c->high_water_percent, ==, 0);
  g_assert_cmpuint (c->interval_seconds, ==, 5);
}

typedef struct {
  const char *text;
  int code;
  const char *message;   /* exact expected message */
} BadCase;

static const BadCase bad_cases[] = {
  { "[storage]\nroot = relative/path\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: storage.root must be an absolute path without '..', got 'relative/path'" },
  { "[storage]\nroot = /a/../b\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: storage.root must be an absolute path without '..', got '/a/../b'" },
  { "\n\n[storage]\nsize = 3\n", NVR_CONFIG_ERROR_UNKNOWN_KEY,
    "t.conf:4: unknown key 'size' in [storage]" },
  { "[cameras]\n", NVR_CONFIG_ERROR_UNKNOWN_KEY,
    "t.conf:1: unknown section [cameras] (known: daemon, storage, recording, retention, mqtt, motion, web)" },
  { "root = /x\n", NVR_CONFIG_ERROR_SYNTAX, "t.conf:1: key 'root' appears before any [section]" },
  { "[storage]\nroot /x\n", NVR_CONFIG_ERROR_SYNTAX, "t.conf:2: expected 'key = value'" },
  { "[storage\n", NVR_CONFIG_ERROR_SYNTAX, "t.conf:1: section header must look like [name]" },
  { "[storage]\nsegment_seconds = 5\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: storage.segment_seconds must be an integer from 10 to 3600, got '5'" },
  { "[storage]\nsegment_seconds = 60s\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: storage.segment_seconds must be an integer from 10 to 3600, got '60s'" },
  { "[storage]\nsegment_seconds = 60\nsegment_seconds = 70\n", NVR_CONFIG_ERROR_SYNTAX,
    "t.conf:3: storage.segment_seconds is set twice (first on line 2)" },
  { "[recording]\ntransport = http\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: recording.transport must be one of auto, tcp, udp, got 'http'" },
  { "[recording]\nbackoff_max_ms = 500\nbackoff_initial_ms = 1000\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:3: recording.backoff_max_ms (500) is less than recording.backoff_initial_ms (1000)" },
  { "[retention]\nmax_bytes = 12X\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: retention.max_bytes must be a size like 500M, 20G or 2T (or 0 for no limit), got '12X'" },
  { "[retention]\nmin_free_bytes = -1G\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: retention.min_free_bytes must be a size like 500M, 20G or 2T (or 0 for no limit), got '-1G'" },
  { "[retention]\nhigh_water_percent = 5\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: retention.high_water_percent must be 0 (off) or from 10 to 99, got '5'" },
  { "[daemon]\nadmin_group = a b\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: daemon.admin_group must be a group name of [A-Za-z0-9_-], got 'a b'" },
  { "[mqtt]\ncommands = enabled\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: mqtt.commands must be true or false (also yes/no, on/off, 1/0), got 'enabled'" },
  { "[mqtt]\ncommands = on\ncommands = off\n", NVR_CONFIG_ERROR_SYNTAX,
    "t.conf:3: mqtt.commands is set twice (first on line 2)" },
  { "[mqtt]\ndiscovery = maybe\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: mqtt.discovery must be device, entity or off (true/yes/on/1 also mean device, "
    "false/no/0 off), got 'maybe'" },
  { "[mqtt]\nhost = b\ndiscovery = Entity\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:3: mqtt.discovery must be device, entity or off (true/yes/on/1 also mean device, "
    "false/no/0 off), got 'Entity'" },
  { "[mqtt]\ndiscovery = entities\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: mqtt.discovery must be device, entity or off (true/yes/on/1 also mean device, "
    "false/no/0 off), got 'entities'" },
  { "[mqtt]\nprefix = Hearth\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: mqtt.prefix must be a topic prefix of [a-z0-9_-] levels joined by '/', 1-128 characters, got 'Hearth'" },
  { "[mqtt]\nprefix = a/#\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: mqtt.prefix must be a topic prefix of [a-z0-9_-] levels joined by '/', 1-128 characters, got 'a/#'" },
  { "[mqtt]\nprefix = a//b\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: mqtt.prefix must be a topic prefix of [a-z0-9_-] levels joined by '/', 1-128 characters, got 'a//b'" },
  { "[mqtt]\ndiscovery_prefix = ha/\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: mqtt.discovery_prefix must be a topic prefix of [a-z0-9_-] levels joined by '/', 1-128 characters, got 'ha/'" },
  { "[mqtt]\nhost = a b\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: mqtt.host must be a host name or address of [A-Za-z0-9.:-], 1-128 characters, got 'a b'" },
  { "[mqtt]\nport = 0\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: mqtt.port must be an integer from 1 to 65535, got '0'" },
  { "[mqtt]\nusername = a b\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: mqtt.username must be printable ASCII without spaces, 1-128 characters, got '(hidden)'" },
  { "[motion]\nmin_area = 0.6\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: motion.min_area must be a number from 0.0001 to 0.5, got '0.6'" },
  { "[motion]\nthreshold = 20x\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: motion.threshold must be a number from 4 to 128, got '20x'" },
  { "[motion]\nglobal_fraction = nan\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: motion.global_fraction must be a number from 0.2 to 1, got 'nan'" },
  { "[motion]\nmax_contrast_gain = 0x4\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: motion.max_contrast_gain must be a number from 1 to 8, got '0x4'" },
  { "[motion]\nthreshold =\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: motion.threshold must be a number from 4 to 128, got ''" },
  { "[motion]\nend_after_ms = 100\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: motion.end_after_ms must be an integer from 500 to 3600000, got '100'" },
  { "[motion]\nstart_frames = 2.5\n", NVR_CONFIG_ERROR_VALUE,
    "t.conf:2: motion.start_frames must be an integer from 1 to 50, got '2.5'" },
  { "[mqtt]\npassword = x\n", NVR_CONFIG_ERROR_UNKNOWN_KEY,
    "t.conf:2: unknown key 'password' in [mqtt]" },
};

static void
test_bad (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (bad_cases); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (NvrConfig) c =
        nvr_config_parse (bad_cases[i].text, strlen (bad_cases[i].text), "t.conf", &error);
    g_assert_null (c);
    g_assert_error (error, NVR_CONFIG_ERROR, bad_cases[i].code);
    g_assert_cmpstr (error->message, ==, bad_cases[i].message);
  }
}

static void
test_binary (void)
{
  const char text[] = "[storage]\nroot = /x\0\n";
  g_autoptr (GError) error = NULL;
  g_autoptr (NvrConfig) c = nvr_config_parse (text, sizeof text - 1, "bin.conf", &error);
  g_assert_null (c);
  g_assert_error (error, NVR_CONFIG_ERROR, NVR_CONFIG_ERROR_SYNTAX);
}

static void
test_missing_file (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NvrConfig) c = nvr_config_load ("/nonexistent/hearth.conf", &error);
  g_assert_null (c);
  g_assert_error (error, NVR_CONFIG_ERROR, NVR_CONFIG_ERROR_IO);
  g_assert_true (g_str_has_prefix (error->message, "/nonexistent/hearth.conf: "));
}

/* [web]: defaults (API off), every key, and origins as browsers send them. */
static void
test_web (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NvrConfig) d = nvr_config_parse ("", 0, "empty.conf", &error);
  g_assert_no_error (error);
  g_assert_null (d->web_origin);
  g_assert_null (d->web_certificate);
  g_assert_cmpstr (d->web_socket, ==, "/run/hearth/http.sock");
  g_assert_cmpint (d->web_session_idle_s, ==, 43200);
  g_assert_cmpint (d->web_session_max_s, ==, 2592000);
  g_assert_cmpuint (d->web_live_per_device, ==, 32);
  g_assert_cmpuint (d->web_live_per_device_camera, ==, 4);

  const char *text = "[web]\nsocket = /tmp/h/http.sock\norigin = https://127.0.0.1:8443\n"
                     "certificate = /etc/hearth/tls.pem\nsession_idle_s = 300\n"
                     "session_max_s = 300\nlive_per_device = 3\nlive_per_device_camera = 1\n";
  g_autoptr (NvrConfig) c = nvr_config_parse (text, strlen (text), "web.conf", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (c->web_socket, ==, "/tmp/h/http.sock");
  g_assert_cmpstr (c->web_origin, ==, "https://127.0.0.1:8443");
  g_assert_cmpstr (c->web_certificate, ==, "/etc/hearth/tls.pem");
  g_assert_cmpint (c->web_session_idle_s, ==, 300);
  g_assert_cmpint (c->web_session_max_s, ==, 300);
  g_assert_cmpuint (c->web_live_per_device, ==, 3);
  g_assert_cmpuint (c->web_live_per_device_camera, ==, 1);

  static const struct { const char *origin; gboolean ok; } origins[] = {
    { "https://hearth.local", TRUE },
    { "https://hearth.local:8443", TRUE },
    { "https://10.0.0.2:1", TRUE },
    { "https://[::1]:8443", TRUE },
    { "https://[fe80::1]", TRUE },
    { "https://a-b.c", TRUE },
    { "http://hearth.local", FALSE },
    { "https://hearth.local/", FALSE },
    { "https://hearth.local/x", FALSE },
    { "https://hearth.local:443", FALSE },
    { "https://hearth.local:0", FALSE },
    { "https://hearth.local:08443", FALSE },
    { "https://hearth.local:65536", FALSE },
    { "https://hearth.local:", FALSE },
    { "https://hearth.local:+8443", FALSE },
    { "https://Hearth.local", FALSE },
    { "https://user@hearth.local", FALSE },
    { "https://hearth.local?x", FALSE },
    { "https://hearth.local#x", FALSE },
    { "https://", FALSE },
    { "https://.hearth", FALSE },
    { "https://hearth..local", FALSE },
    { "https://[]", FALSE },
    { "https://[::G]", FALSE },
    { "https://[::1", FALSE },
    { "https://[::1]x", FALSE },
    { "hearth.local", FALSE },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (origins); i++) {
    g_autofree char *t = g_strdup_printf ("[web]\norigin = %s\n", origins[i].origin);
    g_autoptr (GError) e = NULL;
    g_autoptr (NvrConfig) o = nvr_config_parse (t, strlen (t), "o.conf", &e);
    if ((o != NULL) != origins[i].ok)
      g_error ("origin '%s': %s", origins[i].origin, e ? e->message : "accepted");
    if (o == NULL)
      g_assert_nonnull (strstr (e->message, "o.conf:2: web.origin must be auto or a list of "
                                            "origins like"));
  }

  static const struct { const char *text; const char *part; } bad[] = {
    { "[web]\nsocket = run/http.sock\n", "web.socket must be an absolute path" },
    { "[web]\nsocket = /run/../http.sock\n", "web.socket must be an absolute path" },
    { "[web]\ncertificate = cert.pem\n", "web.certificate must be an absolute path" },
    { "[web]\nsession_idle_s = 299\n", "from 300 to 31536000" },
    { "[web]\nsession_max_s = 31536001\n", "from 300 to 31536000" },
    { "[web]\nlive_per_device = 0\n", "from 1 to 224" },
    { "[web]\nlive_per_device_camera = 65\n", "from 1 to 64" },
    { "[web]\nsession_idle_s = 7200\nsession_max_s = 3600\n",
      "web.conf:3: web.session_max_s (3600) is less than web.session_idle_s (7200)" },
    { "[web]\nport = 8443\n", "unknown key 'port' in [web]" },
    { "[web]\nsocket = /run/0123456789012345678901234567890123456789012345678901234567890123"
      "4567890123456789012345678901234567890123456789\n",
      "web.conf:2: web.socket is longer than 107 bytes" },
    { "[web]\norigin = https://a\norigin = https://b\n", "set twice" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) e = NULL;
    g_autoptr (NvrConfig) o = nvr_config_parse (bad[i].text, strlen (bad[i].text), "web.conf",
                                                &e);
    g_assert_null (o);
    if (strstr (e->message, bad[i].part) == NULL)
      g_error ("'%s': '%s' lacks '%s'", bad[i].text, e->message, bad[i].part);
  }
}

/* [web] origin as a list or auto, the names auto derives, and the exact-match lookup the CSRF
 * check and the signed messages use. */
static void
test_web_origins (void)
{
  static const struct {
    const char *value;
    const char *primary;     /* NULL: refused */
    guint n;
    const char *error;
  } cases[] = {
    { "https://a.local", "https://a.local", 1, NULL },
    { "https://a.local https://10.0.0.2 https://a", "https://a.local", 3, NULL },
    { "https://a.local\thttps://[fd00::2]:8443", "https://a.local", 2, NULL },
    { "https://a.local  https://a", "https://a.local", 2, NULL },
    { "https://a.local https://a.local", NULL, 0, "lists 'https://a.local' twice" },
    { "https://a.local http://a", NULL, 0, "got 'http://a'" },
    { "https://a.local,https://a", NULL, 0, "got 'https://a.local,https://a'" },
    { "*", NULL, 0, "got '*'" },
    { "https://*.local", NULL, 0, "got 'https://*.local'" },
    { "any", NULL, 0, "got 'any'" },
    { "Auto", NULL, 0, "got 'Auto'" },
    { "https://1 https://2 https://3 https://4 https://5 https://6 https://7 https://8 "
      "https://9 https://10 https://11 https://12 https://13 https://14 https://15 https://16",
      "https://1", 16, NULL },
    { "https://1 https://2 https://3 https://4 https://5 https://6 https://7 https://8 "
      "https://9 https://10 https://11 https://12 https://13 https://14 https://15 https://16 "
      "https://17", NULL, 0, "more than 16 origins" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *t = g_strdup_printf ("[web]\norigin = %s\n", cases[i].value);
    g_autoptr (GError) e = NULL;
    g_autoptr (NvrConfig) c = nvr_config_parse (t, strlen (t), "o.conf", &e);
    if (cases[i].primary == NULL) {
      if (c != NULL || strstr (e->message, cases[i].error) == NULL)
        g_error ("'%s': %s", cases[i].value, e ? e->message : "accepted");
      continue;
    }
    g_assert_no_error (e);
    g_assert_false (c->web_origin_auto);
    g_assert_cmpstr (c->web_origin, ==, cases[i].primary);
    g_assert_cmpuint (g_strv_length (c->web_origins), ==, cases[i].n);
    /* every listed origin is found, as itself; nothing else is */
    for (guint j = 0; j < cases[i].n; j++)
      g_assert_true (nvr_config_origin_find (c, c->web_origins[j]) == c->web_origins[j]);
  }

  /* exact match only: no prefix, suffix, case, port or scheme variant gets through */
  const char *text = "[web]\norigin = https://hearth.local https://192.168.1.20\n";
  g_autoptr (GError) error = NULL;
  g_autoptr (NvrConfig) c = nvr_config_parse (text, strlen (text), "o.conf", &error);
  g_assert_no_error (error);
  static const char *const refused[] = {
    "https://hearth.local.evil", "https://evil.hearth.local", "https://HEARTH.local",
    "https://hearth.local:443", "https://hearth.local:8443", "http://hearth.local",
    "https://hearth.local/", "https://192.168.1.2", "https://192.168.1.200", "null", "",
    "https://hearth.local https://192.168.1.20",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (refused); i++)
    if (nvr_config_origin_find (c, refused[i]) != NULL)
      g_error ("'%s' was accepted", refused[i]);
  g_assert_null (nvr_config_origin_find (c, NULL));
  g_assert_cmpstr (nvr_config_origin_find (c, "https://192.168.1.20"), ==, "https://192.168.1.20");

  /* auto: nothing until derived; then .local first, the bare name, localhost, the addresses */
  text = "[web]\norigin = auto\nlisten_port = 8443\n";
  g_autoptr (NvrConfig) a = nvr_config_parse (text, strlen (text), "o.conf", &error);
  g_assert_no_error (error);
  g_assert_true (a->web_origin_auto);
  g_assert_null (a->web_origin);
  g_assert_null (a->web_origins);
  const char *const addrs[] = { "192.168.1.20", "10.0.0.2", "192.168.1.20",
                                "2001:DB8:0:0::1", NULL };
  g_assert_true (nvr_config_origins_derive (a, "Hearth", addrs, &error));
  g_assert_no_error (error);
  const char *const want[] = { "https://hearth.local:8443", "https://hearth:8443",
                               "https://localhost:8443", "https://192.168.1.20:8443",
                               "https://10.0.0.2:8443", "https://[2001:db8::1]:8443", NULL };
  g_assert_cmpstrv (a->web_origins, want);
  g_assert_cmpstr (a->web_origin, ==, "https://hearth.local:8443");
  g_assert_nonnull (nvr_config_origin_find (a, "https://[2001:db8::1]:8443"));
  g_assert_null (nvr_config_origin_find (a, "https://hearth.local"));

  /* port 443 is left out, as browsers leave it out of Origin */
  text = "[web]\norigin = auto\n";
  g_autoptr (NvrConfig) b = nvr_config_parse (text, strlen (text), "o.conf", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (b->web_listen_port, ==, 443);
  g_assert_cmpstr (b->web_listen_address, ==, "0.0.0.0");
  const char *const none[] = { NULL };
  g_assert_true (nvr_config_origins_derive (b, "box", none, &error));
  const char *const want_b[] = { "https://box.local", "https://box", "https://localhost", NULL };
  g_assert_cmpstrv (b->web_origins, want_b);

  /* host names auto cannot use, and addresses that are not */
  static const struct { const char *host; const char *addr; const char *error; } refuse[] = {
    { "box.example.org", NULL, "is not one DNS label" },
    { "", NULL, "is not one DNS label" },
    { "-box", NULL, "is not one DNS label" },
    { "box_1", NULL, "is not one DNS label" },
    { "box", "192.168.1.300", "'192.168.1.300' is not an IPv4 or IPv6 address" },
    { "box", "hearth.local", "is not an IPv4 or IPv6 address" },
    { "box", "[::1]", "is not an IPv4 or IPv6 address" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (refuse); i++) {
    g_autoptr (GError) e = NULL;
    const char *const list[] = { refuse[i].addr, NULL };
    g_auto (GStrv) h = nvr_config_front_hosts (refuse[i].host, list, &e);
    g_assert_null (h);
    if (strstr (e->message, refuse[i].error) == NULL)
      g_error ("'%s' '%s': %s", refuse[i].host, refuse[i].addr, e->message);
  }
  /* a host name that is not a label: the callers pass NULL, the list starts at localhost */
  static const struct { const char *host; gboolean ok; } labels[] = {
    { "hearth", TRUE }, { "Hearth-2", TRUE }, { "a", TRUE },
    { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", TRUE },   /* 63 */
    { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", FALSE },  /* 64 */
    { "my_box", FALSE }, { "box.example.org", FALSE }, { "-box", FALSE }, { "box-", FALSE },
    { "", FALSE }, { NULL, FALSE }, { "b\xc3\xb6x", FALSE },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (labels); i++)
    if (nvr_config_host_label_valid (labels[i].host) != labels[i].ok)
      g_error ("host name '%s': expected %s", labels[i].host, labels[i].ok ? "valid" : "invalid");
  const char *const two[] = { "10.0.0.2", "fd00::2", NULL };
  g_auto (GStrv) nohost = nvr_config_front_hosts (NULL, two, &error);
  g_assert_no_error (error);
  const char *const want_nohost[] = { "localhost", "10.0.0.2", "[fd00::2]", NULL };
  g_assert_cmpstrv (nohost, want_nohost);

  /* "localhost" as the host name is listed once; more than 16 names are cut at 16 */
  g_autoptr (GPtrArray) many = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < 20; i++)
    g_ptr_array_add (many, g_strdup_printf ("10.0.0.%u", i + 1));
  g_ptr_array_add (many, NULL);
  g_auto (GStrv) lh = nvr_config_front_hosts ("localhost", (const char *const *) many->pdata,
                                              &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (lh), ==, 16);
  g_assert_cmpstr (lh[1], ==, "localhost");
  g_assert_cmpstr (lh[2], ==, "10.0.0.1");
  g_assert_cmpstr (lh[15], ==, "10.0.0.14");

  /* the listener: an IPv4 address and a port */
  static const struct { const char *text; const char *part; } bad[] = {
    { "[web]\nlisten_address = hearth.local\n", "o.conf:2: web.listen_address must be an IPv4" },
    { "[web]\nlisten_address = ::\n", "web.listen_address must be an IPv4" },
    { "[web]\nlisten_address = 10.0.0.256\n", "web.listen_address must be an IPv4" },
    { "[web]\nlisten_port = 0\n", "from 1 to 65535" },
    { "[web]\nlisten_port = 65536\n", "from 1 to 65535" },
    { "[web]\norigin =\n", "web.origin is empty" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) e = NULL;
    g_autoptr (NvrConfig) o = nvr_config_parse (bad[i].text, strlen (bad[i].text), "o.conf", &e);
    g_assert_null (o);
    if (strstr (e->message, bad[i].part) == NULL)
      g_error ("'%s': '%s' lacks '%s'", bad[i].text, e->message, bad[i].part);
  }
  text = "[web]\nlisten_address = 192.168.1.20\nlisten_port = 8443\n";
  g_autoptr (NvrConfig) l = nvr_config_parse (text, strlen (text), "o.conf", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (l->web_listen_address, ==, "192.168.1.20");
  g_assert_cmpuint (l->web_listen_port, ==, 8443);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/config/defaults", test_defaults);
  g_test_add_func ("/config/full", test_full);
  g_test_add_func ("/config/mqtt", test_mqtt);
  g_test_add_func ("/config/motion", test_motion);
  g_test_add_func ("/config/web", test_web);
  g_test_add_func ("/config/web-origins", test_web_origins);
  g_test_add_func ("/config/bad", test_bad);
  g_test_add_func ("/config/binary", test_binary);
  g_test_add_func ("/config/missing-file", test_missing_file);
  return g_test_run ();
}
