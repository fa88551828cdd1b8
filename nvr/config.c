/* config — INI-style config parser with line-numbered errors. Pure except nvr_config_load().
 * Runs once at start-up (and in `nvr check-config`). Every key is described by one table row;
 * a key not in the table is an error, so a typo never silently falls back to a default. */
#define G_LOG_DOMAIN "nvr-config"

#include "config.h"
#include "motion.h"
#include "paths.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

G_DEFINE_QUARK (nvr-config-error-quark, nvr_config_error)

typedef enum { KEY_PATH, KEY_NAME, KEY_UINT, KEY_INT64, KEY_SIZE, KEY_PERCENT, KEY_TRANSPORT,
               KEY_BOOL, KEY_HOST, KEY_TOPIC, KEY_TEXT, KEY_DOUBLE, KEY_ORIGIN,
               KEY_DISCOVERY } KeyKind;

typedef struct {
  const char *section;
  const char *key;
  KeyKind kind;
  gsize offset;
  double min, max;   /* for numbers; whole and exact for the integer kinds */
} KeySpec;

#define OFF(f) offsetof (NvrConfig, f)
static const KeySpec keys[] = {
  { "daemon", "admin_socket", KEY_PATH, OFF (admin_socket), 0, 0 },
  { "daemon", "admin_group", KEY_NAME, OFF (admin_group), 0, 0 },
  { "storage", "root", KEY_PATH, OFF (storage_root), 0, 0 },
  { "storage", "segment_seconds", KEY_UINT, OFF (segment_seconds), 10, 3600 },
  { "storage", "mount", KEY_PATH, OFF (storage_mount), 0, 0 },
  { "recording", "transport", KEY_TRANSPORT, OFF (transport), 0, 0 },
  { "recording", "watchdog_seconds", KEY_UINT, OFF (watchdog_seconds), 2, 60 },
  { "recording", "backoff_initial_ms", KEY_INT64, OFF (backoff_initial_ms), 100, 60000 },
  { "recording", "backoff_max_ms", KEY_INT64, OFF (backoff_max_ms), 100, 600000 },
  { "retention", "max_age_days", KEY_UINT, OFF (max_age_days), 0, 3650 },
  { "retention", "max_bytes", KEY_SIZE, OFF (max_bytes), 0, G_GINT64_CONSTANT (1) << 60 },
  { "retention", "min_free_bytes", KEY_SIZE, OFF (min_free_bytes), 0, G_GINT64_CONSTANT (1) << 60 },
  { "retention", "high_water_percent", KEY_PERCENT, OFF (high_water_percent), 10, 99 },
  { "retention", "interval_seconds", KEY_UINT, OFF (interval_seconds), 1, 3600 },
  { "retention", "event_days", KEY_UINT, OFF (event_days), 0, 3650 },
  { "mqtt", "host", KEY_HOST, OFF (mqtt_host), 0, 0 },
  { "mqtt", "port", KEY_UINT, OFF (mqtt_port), 1, 65535 },
  { "mqtt", "prefix", KEY_TOPIC, OFF (mqtt_prefix), 0, 0 },
  { "mqtt", "client_id", KEY_NAME, OFF (mqtt_client_id), 0, 0 },
  { "mqtt", "username", KEY_TEXT, OFF (mqtt_username), 0, 0 },
  { "mqtt", "password_file", KEY_PATH, OFF (mqtt_password_file), 0, 0 },
  { "mqtt", "ca_file", KEY_PATH, OFF (mqtt_ca_file), 0, 0 },
  { "mqtt", "keepalive_seconds", KEY_UINT, OFF (mqtt_keepalive_seconds), 5, 3600 },
  { "mqtt", "discovery", KEY_DISCOVERY, OFF (mqtt_discovery), 0, 0 },
  { "mqtt", "discovery_prefix", KEY_TOPIC, OFF (mqtt_discovery_prefix), 0, 0 },
  { "mqtt", "commands", KEY_BOOL, OFF (mqtt_commands), 0, 0 },
  /* The same ranges as nvr_motion_settings_validate(). */
  { "motion", "threshold", KEY_DOUBLE, OFF (motion_threshold), 4, 128 },
  { "motion", "min_area", KEY_DOUBLE, OFF (motion_min_area), 0.0001, 0.5 },
  { "motion", "start_frames", KEY_UINT, OFF (motion_start_frames), 1, 50 },
  { "motion", "end_after_ms", KEY_INT64, OFF (motion_end_after_ms), 500, 3600000 },
  { "motion", "background_ms", KEY_INT64, OFF (motion_background_ms), 1000, 3600000 },
  { "motion", "global_fraction", KEY_DOUBLE, OFF (motion_global_fraction), 0.2, 1 },
  { "motion", "max_contrast_gain", KEY_DOUBLE, OFF (motion_max_contrast_gain), 1, 8 },
  { "motion", "hardware_decode", KEY_BOOL, OFF (motion_hw_decode), 0, 0 },
  /* docs/design/auth.md "Configuration"; the web API is off unless origin is set. */
  { "web", "socket", KEY_PATH, OFF (web_socket), 0, 0 },
  { "web", "origin", KEY_ORIGIN, OFF (web_origin), 0, 0 },
  /* hearth-web.service's listener (nvr web-front); also the port of origin = auto */
  { "web", "listen_address", KEY_HOST, OFF (web_listen_address), 0, 0 },
  { "web", "listen_port", KEY_UINT, OFF (web_listen_port), 1, 65535 },
  { "web", "certificate", KEY_PATH, OFF (web_certificate), 0, 0 },
  { "web", "session_idle_s", KEY_INT64, OFF (web_session_idle_s), 300, 31536000 },
  { "web", "session_max_s", KEY_INT64, OFF (web_session_max_s), 300, 31536000 },
  /* docs/design/auth.md "Fair shares": at most 224 viewers in all (NVR_LIVE_LIMITS_DEFAULT). */
  { "web", "live_per_device", KEY_UINT, OFF (web_live_per_device), 1, 224 },
  { "web", "live_per_device_camera", KEY_UINT, OFF (web_live_per_device_camera), 1, 64 },
};

void
nvr_config_free (NvrConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->admin_socket);
  g_free (config->admin_group);
  g_free (config->storage_root);
  g_free (config->storage_mount);
  g_free (config->mqtt_host);
  g_free (config->mqtt_prefix);
  g_free (config->mqtt_client_id);
  g_free (config->mqtt_username);
  g_free (config->mqtt_password_file);
  g_free (config->mqtt_ca_file);
  g_free (config->mqtt_discovery_prefix);
  g_free (config->web_socket);
  g_free (config->web_origin);
  g_strfreev (config->web_origins);
  g_free (config->web_listen_address);
  g_free (config->web_certificate);
  g_free (config);
}

const char *
nvr_transport_to_string (NvrTransport t)
{
  switch (t) {
  case NVR_TRANSPORT_TCP: return "tcp";
  case NVR_TRANSPORT_UDP: return "udp";
  case NVR_TRANSPORT_AUTO: default: return "auto";
  }
}

gboolean
nvr_transport_from_string (const char *s, NvrTransport *out)
{
  if (g_strcmp0 (s, "auto") == 0)
    *out = NVR_TRANSPORT_AUTO;
  else if (g_strcmp0 (s, "tcp") == 0)
    *out = NVR_TRANSPORT_TCP;
  else if (g_strcmp0 (s, "udp") == 0)
    *out = NVR_TRANSPORT_UDP;
  else
    return FALSE;
  return TRUE;
}

static gboolean
fail (GError **error, int code, const char *filename, guint line, const char *fmt, ...)
  G_GNUC_PRINTF (5, 6);

static gboolean
fail (GError **error, int code, const char *filename, guint line, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, NVR_CONFIG_ERROR, code, "%s:%u: %s", filename, line, msg);
  return FALSE;
}

/* "https://host[:port]" exactly as a browser serialises the origin it sends: lower-case host (a
 * DNS name, an IPv4 address or a bracketed IPv6 address), a port of 1-65535 without leading
 * zeros and never the default 443, no path, query, fragment or user info. */
static gboolean
origin_valid (const char *value)
{
  static const char scheme[] = "https://";
  if (strlen (value) > 200 || !g_str_has_prefix (value, scheme))
    return FALSE;
  const char *host = value + strlen (scheme);
  const char *end;
  if (*host == '[') {
    end = strchr (host, ']');
    if (end == NULL || end == host + 1)
      return FALSE;
    for (const char *p = host + 1; p < end; p++)
      if (!g_ascii_isxdigit (*p) && *p != ':' && *p != '.')
        return FALSE;
    for (const char *p = host + 1; p < end; p++)
      if (g_ascii_isupper (*p))
        return FALSE;
    end++;
  } else {
    end = host + strspn (host, "abcdefghijklmnopqrstuvwxyz0123456789.-");
    if (end == host || *host == '.' || *host == '-' || end[-1] == '.' || end[-1] == '-' ||
        strstr (host, "..") != NULL)
      return FALSE;
  }
  if (*end == '\0')
    return TRUE;
  if (*end != ':')
    return FALSE;
  const char *port = end + 1;
  guint64 v;
  if (*port == '0' || !g_ascii_string_to_unsigned (port, 10, 1, 65535, &v, NULL) || v == 443)
    return FALSE;
  return strspn (port, "0123456789") == strlen (port);
}

/* true/yes/on/1 and false/no/off/0, case-insensitive. */
static gboolean
bool_parse (const char *value, gboolean *out)
{
  if (g_ascii_strcasecmp (value, "true") == 0 || g_ascii_strcasecmp (value, "yes") == 0 ||
      g_ascii_strcasecmp (value, "on") == 0 || strcmp (value, "1") == 0)
    *out = TRUE;
  else if (g_ascii_strcasecmp (value, "false") == 0 || g_ascii_strcasecmp (value, "no") == 0 ||
           g_ascii_strcasecmp (value, "off") == 0 || strcmp (value, "0") == 0)
    *out = FALSE;
  else
    return FALSE;
  return TRUE;
}

static gboolean
set_value (NvrConfig *c, const KeySpec *k, const char *value, const char *filename, guint line,
           GError **error)
{
  char *base = (char *) c;
  switch (k->kind) {
  case KEY_PATH:
    if (!g_path_is_absolute (value) || strstr (value, "/../") != NULL ||
        g_str_has_suffix (value, "/.."))
      return fail (error, NVR_CONFIG_ERROR_VALUE, filename, line,
                   "%s.%s must be an absolute path without '..', got '%s'", k->section, k->key,
                   value);
    if (strlen (value) > 200)
      return fail (error, NVR_CONFIG_ERROR_VALUE, filename, line,
                   "%s.%s is longer than 200 characters", k->section, k->key);
    g_free (*(char **) (base + k->offset));
    *(char **) (base + k->offset) = g_strdup (value);
    return TRUE;
  case KEY_NAME:
    for (const char *p = value; *p; p++)
      if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-')
        return fail (error, NVR_CONFIG_ERROR_VALUE, filename, line,
                     "%s.%s must be a group name of [A-Za-z0-9_-], got '%s'", k->section,
                     k->key, value);
    g_free (*(char **) (base + k->offset));
    *(char **) (base + k->offset) = *value ? g_strdup (value) : NULL;
    return TRUE;
  case KEY_UINT:
  case KEY_INT64: {
    gint64 v;
    g_autoptr (GError) perr = NULL;
    if (!g_ascii_string_to_signed (value, 10, (gint64) k->min, (gint64) k->max, &v, &perr))
      return fail (error, NVR_CONFIG_ERROR_VALUE, filename, line,
                   "%s.%s must be an integer from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT
                   ", got '%s'", k->section, k->key, (gint64) k->min, (gint64) k->max, value);
    if (k->kind == KEY_UINT)
      *(guint *) (base + k->offset) = (guint) v;
    else
      *(gint64 *) (base + k->offset) = v;
    return TRUE;
  }
  case KEY_SIZE: {
    /* An integer with an optional binary suffix: 500M, 2G, 1T. */
    guint64 mult = 1;
    g_autofree char *num = g_strdup (value);
    gsize n = strlen (num);
    if (n > 0 && strchr ("KkMmGgTt", num[n - 1]) != NULL) {
      switch (g_ascii_toupper (num[n - 1])) {
      case 'K': mult = 1ull << 10; break;
      case 'M': mult = 1ull << 20; break;
      case 'G': mult = 1ull << 30; break;
      case 'T': mult = 1ull << 40; break;
      }
      num[n - 1] = '\0';
    }
    guint64 v;
    if (!g_ascii_string_to_unsigned (num, 10, 0, (guint64) k->max / mult, &v, NULL))
      return fail (error, NVR_CONFIG_ERROR_VALUE, filename, line,
                   "%s.%s must be a size like 500M, 20G or 2T (or 0 for no limit), got '%s'",
                   k->section, k->key, value);
    *(gint64 *) (base + k->offset) = (gint64) (v * mult);
    return TRUE;
  }
  case KEY_PERCENT: {
    gint64 v;
    if (!g_ascii_string_to_signed (value, 10, 0, (gint64) k->max, &v, NULL) ||
        (v != 0 && v < (gint64) k->min))
      return fail (error, NVR_CONFIG_ERROR_VALUE, filename, line,
                   "%s.%s must be 0 (off) or from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT
                   ", got '%s'", k->section, k->key, (gint64) k->min, (gint64) k->max, value);
    *(guint *) (base + k->offset) = (guint) v;
    return TRUE;
  }
  case KEY_DOUBLE: {
    /* Plain decimal only (no hex, inf, nan, or trailing text); written so that NaN fails. */
    char *end = NULL;
    double v = 0;
    gboolean ok = *value != '\0' && strspn (value, "0123456789.eE+-") == strlen (value);
    if (ok) {
      errno = 0;
      v = g_ascii_strtod (value, &end);
      ok = errno == 0 && end != value && *end == '\0' && v >= k->min && v <= k->max;
    }
    if (!ok)
      return fail (error, NVR_CONFIG_ERROR_VALUE, filename, line,
                   "%s.%s must be a number from %g to %g, got '%s'", k->section, k->key, k->min,
                   k->max, value);
    *(double *) (base + k->offset) = v;
    return TRUE;
  }
  case KEY_ORIGIN: {
    /* "auto" (derived at start: nvr_config_origins_derive) or 1..NVR_CONFIG_MAX_ORIGINS exact
     * origins separated by blanks, no repeats; the first is the primary. */
    g_clear_pointer (&c->web_origin, g_free);
    g_clear_pointer (&c->web_origins, g_strfreev);
    c->web_origin_auto = FALSE;
    if (strcmp (value, "auto") == 0) {
      c->web_origin_auto = TRUE;
      return TRUE;
    }
    g_autoptr (GPtrArray) list = g_ptr_array_new_with_free_func (g_free);
    g_auto (GStrv) words = g_strsplit_set (value, " \t", -1);
    for (guint i = 0; words[i] != NULL; i++) {
      if (*words[i] == '\0')
        continue;
      if (!origin_valid (words[i]))
        return fail (error, NVR_CONFIG_ERROR_VALUE, filename, line,
                     "%s.%s must be auto or a list of origins like https://host or "
                     "https://host:port (lower case, no path, no :443), got '%s'", k->section,
                     k->key, words[i]);
      for (guint j = 0; j < list->len; j++)
        if (strcmp (list->pdata[j], words[i]) == 0)
          return fail (error, NVR_CONFIG_ERROR_VALUE, filename, line,
                       "%s.%s lists '%s' twice", k->section, k->key, words[i]);
      if (list->len == NVR_CONFIG_MAX_ORIGINS)
        return fail (error, NVR_CONFIG_ERROR_VALUE, filename, line,
                     "%s.%s lists more than %d origins", k->section, k->key,
                     NVR_CONFIG_MAX_ORIGINS);
      g_ptr_array_add (list, g_strdup (words[i]));
    }
    if (list->len == 0)
      return fail (error, NVR_CONFIG_ERROR_VALUE, filename, line,
                   "%s.%s is empty (leave it unset to keep the web API off)", k->section, k->key);
    c->web_origin = g_strdup (list->pdata[0]);
    g_ptr_array_add (list, NULL);
    c->web_origins = (char **) g_ptr_array_free (g_steal_pointer (&list), FALSE);
    return TRUE;
  }
  case KEY_TRANSPORT:
    if (!nvr_transport_from_string (value, (NvrTransport *) (base + k->offset)))
      return fail (error, NVR_CONFIG_ERROR_VALUE, filename, line,
                   "%s.%s must be one of auto, tcp, udp, got '%s'", k->section, k->key, value);
    return TRUE;
  case KEY_BOOL: {
    gboolean b;
    if (!bool_parse (value, &b))
      return fail (error, NVR_CONFIG_ERROR_VALUE, filename, line,
                   "%s.%s must be true or false (also yes/no, on/off, 1/0), got '%s'",
                   k->section, k->key, value);
    *(gboolean *) (base + k->offset) = b;
    return TRUE;
  }
  case KEY_DISCOVERY: {
    /* A boolean before `entity` existed: its spellings stay valid, true meaning `device`. */
    gboolean b;
    NvrMqttDiscovery *d = (NvrMqttDiscovery *) (base + k->offset);
    if (strcmp (value, "device") == 0)
      *d = NVR_MQTT_DISCOVERY_DEVICE;
    else if (strcmp (value, "entity") == 0)
      *d = NVR_MQTT_DISCOVERY_ENTITY;
    else if (bool_parse (value, &b))
      *d = b ? NVR_MQTT_DISCOVERY_DEVICE : NVR_MQTT_DISCOVERY_OFF;
    else
      return fail (error, NVR_CONFIG_ERROR_VALUE, filename, line,
                   "%s.%s must be device, entity or off (true/yes/on/1 also mean device, "
                   "false/no/0 off), got '%s'", k->section, k->key, value);
    return TRUE;
  }
  case KEY_HOST:
  case KEY_TOPIC:
  case KEY_TEXT: {
    /* host: a DNS name or an IPv4/IPv6 address; topic: MQTT topic levels of [a-z0-9_-]
     * (no wildcards, no empty level); text: printable ASCII without spaces. */
    const char *what = k->kind == KEY_HOST ? "a host name or address of [A-Za-z0-9.:-]"
                       : k->kind == KEY_TOPIC ? "a topic prefix of [a-z0-9_-] levels joined by '/'"
                       : "printable ASCII without spaces";
    gboolean ok = *value != '\0' && strlen (value) <= 128;
    for (const char *p = value; ok && *p; p++) {
      if (k->kind == KEY_HOST)
        ok = g_ascii_isalnum (*p) || *p == '.' || *p == ':' || *p == '-';
      else if (k->kind == KEY_TOPIC)
        ok = g_ascii_isdigit (*p) || (*p >= 'a' && *p <= 'z') || *p == '_' || *p == '-' ||
             (*p == '/' && p != value && p[1] != '\0' && p[1] != '/');
      else
        ok = g_ascii_isgraph (*p);
    }
    if (!ok)
      return fail (error, NVR_CONFIG_ERROR_VALUE, filename, line,
                   "%s.%s must be %s, 1-128 characters, got '%s'", k->section, k->key, what,
                   k->kind == KEY_TEXT ? "(hidden)" : value);
    g_free (*(char **) (base + k->offset));
    *(char **) (base + k->offset) = g_strdup (value);
    return TRUE;
  }
  }
  g_assert_not_reached ();
}

static gboolean
section_known (const char *section)
{
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    if (strcmp (keys[i].section, section) == 0)
      return TRUE;
  return FALSE;
}

NvrConfig *
nvr_config_parse (const char *text, gsize len, const char *filename, GError **error)
{
  g_autoptr (NvrConfig) c = g_new0 (NvrConfig, 1);
  c->admin_socket = g_strdup ("/run/hearth/admin.sock");
  c->storage_root = g_strdup ("/var/lib/hearth");
  c->segment_seconds = 60;
  c->transport = NVR_TRANSPORT_AUTO;
  c->watchdog_seconds = 8;
  c->backoff_initial_ms = 1000;
  c->backoff_max_ms = 10000;
  c->max_age_days = 0;
  c->max_bytes = 0;
  c->min_free_bytes = G_GINT64_CONSTANT (1) << 30;
  c->high_water_percent = 95;
  c->interval_seconds = 10;
  c->mqtt_port = 1883;
  c->mqtt_prefix = g_strdup ("hearth");
  c->mqtt_keepalive_seconds = 30;
  c->mqtt_discovery = NVR_MQTT_DISCOVERY_DEVICE;
  c->mqtt_commands = FALSE;     /* any broker client could switch recording off (issue 14) */
  c->mqtt_discovery_prefix = g_strdup ("homeassistant");
  c->web_socket = g_strdup ("/run/hearth/http.sock");
  c->web_session_idle_s = 12 * 3600;
  c->web_session_max_s = 30 * 86400;
  c->web_live_per_device = 32;
  c->web_live_per_device_camera = 4;
  c->web_listen_address = g_strdup ("0.0.0.0");
  c->web_listen_port = 443;
  {
    /* Large (it holds the polygons): not on the stack. */
    NvrMotionSettings *ms = g_new (NvrMotionSettings, 1);
    nvr_motion_settings_init (ms);
    c->motion_threshold = ms->threshold;
    c->motion_min_area = ms->min_area;
    c->motion_start_frames = ms->start_frames;
    c->motion_end_after_ms = ms->end_after_ms;
    c->motion_background_ms = ms->background_ms;
    c->motion_global_fraction = ms->global_fraction;
    c->motion_max_contrast_gain = ms->max_contrast_gain;
    c->motion_hw_decode = TRUE;
    g_free (ms);
  }

  if (text == NULL)   /* an empty input may come without a buffer */
    text = "";
  if (len > NVR_CONFIG_MAX_BYTES) {
    fail (error, NVR_CONFIG_ERROR_SYNTAX, filename, 0, "file is larger than %d bytes",
          NVR_CONFIG_MAX_BYTES);
    return NULL;
  }
  if (memchr (text, '\0', len) != NULL || !g_utf8_validate (text, len, NULL)) {
    fail (error, NVR_CONFIG_ERROR_SYNTAX, filename, 0, "file is not UTF-8 text");
    return NULL;
  }

  g_autofree char *copy = g_strndup (text, len);
  g_auto (GStrv) lines = g_strsplit (copy, "\n", -1);
  g_autofree char *section = NULL;
  guint seen_line[G_N_ELEMENTS (keys)] = { 0 };

  for (guint i = 0; lines[i] != NULL; i++) {
    guint lineno = i + 1;
    char *line = lines[i];
    /* A comment runs from a '#' at the start or after a blank to the end of the line. */
    for (char *p = line; *p; p++)
      if (*p == '#' && (p == line || *(p - 1) == ' ' || *(p - 1) == '\t')) {
        *p = '\0';
        break;
      }
    line = g_strstrip (line);
    if (*line == '\0' || *line == ';')
      continue;
    if (*line == '[') {
      char *end = strchr (line, ']');
      if (end == NULL || end[1] != '\0') {
        fail (error, NVR_CONFIG_ERROR_SYNTAX, filename, lineno,
              "section header must look like [name]");
        return NULL;
      }
      *end = '\0';
      const char *name = g_strstrip (line + 1);
      if (!section_known (name)) {
        fail (error, NVR_CONFIG_ERROR_UNKNOWN_KEY, filename, lineno,
              "unknown section [%s] (known: daemon, storage, recording, retention, mqtt, motion, "
              "web)", name);
        return NULL;
      }
      g_free (section);
      section = g_strdup (name);
      continue;
    }
    char *eq = strchr (line, '=');
    if (eq == NULL) {
      fail (error, NVR_CONFIG_ERROR_SYNTAX, filename, lineno, "expected 'key = value'");
      return NULL;
    }
    *eq = '\0';
    const char *key = g_strstrip (line);
    const char *value = g_strstrip (eq + 1);
    if (section == NULL) {
      fail (error, NVR_CONFIG_ERROR_SYNTAX, filename, lineno,
            "key '%s' appears before any [section]", key);
      return NULL;
    }
    const KeySpec *spec = NULL;
    gsize idx = 0;
    for (idx = 0; idx < G_N_ELEMENTS (keys); idx++)
      if (strcmp (keys[idx].section, section) == 0 && strcmp (keys[idx].key, key) == 0) {
        spec = &keys[idx];
        break;
      }
    if (spec == NULL) {
      fail (error, NVR_CONFIG_ERROR_UNKNOWN_KEY, filename, lineno, "unknown key '%s' in [%s]",
            key, section);
      return NULL;
    }
    if (seen_line[idx] != 0) {
      fail (error, NVR_CONFIG_ERROR_SYNTAX, filename, lineno,
            "%s.%s is set twice (first on line %u)", section, key, seen_line[idx]);
      return NULL;
    }
    seen_line[idx] = lineno;
    if (!set_value (c, spec, value, filename, lineno, error))
      return NULL;
  }

  if (c->backoff_max_ms < c->backoff_initial_ms) {
    /* Blame whichever of the two keys came last in the file. */
    guint line = 0;
    for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
      if (g_str_has_prefix (keys[i].key, "backoff_"))
        line = MAX (line, seen_line[i]);
    fail (error, NVR_CONFIG_ERROR_VALUE, filename, line,
          "recording.backoff_max_ms (%" G_GINT64_FORMAT ") is less than "
          "recording.backoff_initial_ms (%" G_GINT64_FORMAT ")",
          c->backoff_max_ms, c->backoff_initial_ms);
    return NULL;
  }
  if (c->storage_mount != NULL && !nvr_paths_is_under (c->storage_mount, c->storage_root)) {
    guint line = 0;
    for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
      if (strcmp (keys[i].section, "storage") == 0 && (strcmp (keys[i].key, "mount") == 0 ||
                                                         strcmp (keys[i].key, "root") == 0))
        line = MAX (line, seen_line[i]);
    fail (error, NVR_CONFIG_ERROR_VALUE, filename, line,
          "storage.root '%s' is not on storage.mount '%s'", c->storage_root, c->storage_mount);
    return NULL;
  }
  /* sockaddr_un holds 108 bytes with the NUL; a longer path cannot be bound. */
  if (strlen (c->web_socket) > 107) {
    for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
      if (keys[i].offset == OFF (web_socket))
        fail (error, NVR_CONFIG_ERROR_VALUE, filename, seen_line[i],
              "web.socket is longer than 107 bytes (the limit of a unix socket path)");
    return NULL;
  }
  {
    /* the web front's template binds one IPv4 address (server.use-ipv6 = "disable") */
    struct in_addr a;
    if (inet_pton (AF_INET, c->web_listen_address, &a) != 1) {
      for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
        if (keys[i].offset == OFF (web_listen_address))
          fail (error, NVR_CONFIG_ERROR_VALUE, filename, seen_line[i],
                "web.listen_address must be an IPv4 address (0.0.0.0 = all), got '%s'",
                c->web_listen_address);
      return NULL;
    }
  }
  if (c->web_session_max_s < c->web_session_idle_s) {
    guint line = 0;
    for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
      if (g_str_has_prefix (keys[i].key, "session_"))
        line = MAX (line, seen_line[i]);
    fail (error, NVR_CONFIG_ERROR_VALUE, filename, line,
          "web.session_max_s (%" G_GINT64_FORMAT ") is less than web.session_idle_s (%"
          G_GINT64_FORMAT ")", c->web_session_max_s, c->web_session_idle_s);
    return NULL;
  }
  return g_steal_pointer (&c);
}

NvrConfig *
nvr_config_load (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  g_autoptr (GError) ioerr = NULL;
  if (!g_file_get_contents (path, &text, &len, &ioerr)) {
    g_set_error (error, NVR_CONFIG_ERROR, NVR_CONFIG_ERROR_IO, "%s: %s", path, ioerr->message);
    return NULL;
  }
  return nvr_config_parse (text, len, path, error);
}

const char *
nvr_config_origin_find (const NvrConfig *config, const char *origin)
{
  if (origin == NULL)
    return NULL;
  if (config->web_origins != NULL) {
    for (guint i = 0; config->web_origins[i] != NULL; i++)
      if (strcmp (config->web_origins[i], origin) == 0)
        return config->web_origins[i];
    return NULL;
  }
  return g_strcmp0 (config->web_origin, origin) == 0 ? config->web_origin : NULL;
}

/* An address as it stands in a URL's host: IPv4 as is, IPv6 in brackets and lower case; NULL
 * for anything that is not an address literal of either family. */
static char *
address_host (const char *address)
{
  struct in_addr a4;
  struct in6_addr a6;
  char buf[INET6_ADDRSTRLEN];
  if (inet_pton (AF_INET, address, &a4) == 1 && inet_ntop (AF_INET, &a4, buf, sizeof buf))
    return g_strdup (buf);
  if (inet_pton (AF_INET6, address, &a6) == 1 && inet_ntop (AF_INET6, &a6, buf, sizeof buf))
    return g_strdup_printf ("[%s]", buf);
  return NULL;
}

gboolean
nvr_config_host_label_valid (const char *hostname)
{
  /* one DNS label: a dotted host name would give "<fqdn>.local", which mDNS does not answer */
  gsize n = hostname ? strlen (hostname) : 0;
  return n >= 1 && n <= 63 && hostname[0] != '-' && hostname[n - 1] != '-' &&
         strspn (hostname, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == n;
}

GStrv
nvr_config_front_hosts (const char *hostname, const char *const *addresses, GError **error)
{
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  if (hostname != NULL && !nvr_config_host_label_valid (hostname)) {
    g_set_error (error, NVR_CONFIG_ERROR, NVR_CONFIG_ERROR_VALUE,
                 "the host name '%s' is not one DNS label of [a-z0-9-]", hostname);
    return NULL;
  }
  g_autofree char *host = hostname ? g_ascii_strdown (hostname, -1) : NULL;
  if (host != NULL) {
    g_ptr_array_add (out, g_strdup_printf ("%s.local", host));
    g_ptr_array_add (out, g_strdup (host));
  }
  if (g_strcmp0 (host, "localhost") != 0)
    g_ptr_array_add (out, g_strdup ("localhost"));
  for (guint i = 0; addresses != NULL && addresses[i] != NULL; i++) {
    if (out->len == NVR_CONFIG_MAX_ORIGINS)
      break;    /* the rest are not served by name; stated in docs/design/auth.md */
    g_autofree char *a = address_host (addresses[i]);
    if (a == NULL) {
      g_set_error (error, NVR_CONFIG_ERROR, NVR_CONFIG_ERROR_VALUE,
                   "'%s' is not an IPv4 or IPv6 address", addresses[i]);
      return NULL;
    }
    gboolean seen = FALSE;
    for (guint j = 0; j < out->len && !seen; j++)
      seen = strcmp (out->pdata[j], a) == 0;
    if (!seen)
      g_ptr_array_add (out, g_steal_pointer (&a));
  }
  g_ptr_array_add (out, NULL);
  return (GStrv) g_ptr_array_free (g_steal_pointer (&out), FALSE);
}

gboolean
nvr_config_origins_derive (NvrConfig *config, const char *hostname,
                           const char *const *addresses, GError **error)
{
  g_return_val_if_fail (config->web_origin_auto, FALSE);
  g_auto (GStrv) hosts = nvr_config_front_hosts (hostname, addresses, error);
  if (hosts == NULL)
    return FALSE;
  g_autofree char *port = config->web_listen_port == 443
                              ? g_strdup ("")
                              : g_strdup_printf (":%u", config->web_listen_port);
  g_autoptr (GPtrArray) list = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; hosts[i] != NULL; i++) {
    char *o = g_strdup_printf ("https://%s%s", hosts[i], port);
    g_assert (origin_valid (o));   /* hosts are labels or address literals */
    g_ptr_array_add (list, o);
  }
  g_ptr_array_add (list, NULL);
  g_strfreev (config->web_origins);
  g_free (config->web_origin);
  config->web_origins = (char **) g_ptr_array_free (g_steal_pointer (&list), FALSE);
  config->web_origin = g_strdup (config->web_origins[0]);
  return TRUE;
}
