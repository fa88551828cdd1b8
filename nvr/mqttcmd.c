/* mqttcmd — the pure command parser for the MQTT bridge (see mqttcmd.h). Runs wherever it is
 * called (the main loop, the fuzzer). Invariant: reads at most @len payload bytes and the topic
 * up to NVR_MQTTCMD_MAX_TOPIC + 1 bytes; every refusal is a GError, never an abort. */
#define G_LOG_DOMAIN "nvr-mqtt"

#include "mqttcmd.h"

#include <gio/gio.h>
#include <string.h>

#include "paths.h"

const char *
nvr_mqttcmd_feature_name (NvrMqttFeature f)
{
  return f == NVR_MQTTCMD_DETECT ? "detect" : "recordings";
}

static gboolean
refuse (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
refuse (GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, msg);
  return FALSE;
}

/* A printable, bounded copy of peer bytes for a log line. */
static char *
quote (const char *s, gsize len)
{
  GString *out = g_string_new (NULL);
  for (gsize i = 0; i < len && i < 64; i++) {
    guchar c = (guchar) s[i];
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'')
      g_string_append_c (out, (char) c);
    else
      g_string_append_printf (out, "\\x%02x", c);
  }
  if (len > 64)
    g_string_append (out, "...");
  return g_string_free (out, FALSE);
}

gboolean
nvr_mqttcmd_parse (const char *prefix, const char *topic, const void *payload, gsize len,
                   NvrMqttCommand *out, GError **error)
{
  gsize tlen = strnlen (topic, NVR_MQTTCMD_MAX_TOPIC + 1);
  if (tlen > NVR_MQTTCMD_MAX_TOPIC)
    return refuse (error, "topic longer than %d bytes", NVR_MQTTCMD_MAX_TOPIC);
  g_autofree char *qtopic = quote (topic, tlen);
  gsize plen = strlen (prefix);
  if (strncmp (topic, prefix, plen) != 0 || topic[plen] != '/')
    return refuse (error, "topic '%s' is not under '%s/'", qtopic, prefix);

  /* What follows the prefix must be exactly <camera>/<feature>/set. */
  const char *cam = topic + plen + 1;
  const char *slash1 = strchr (cam, '/');
  if (slash1 == NULL)
    return refuse (error, "topic '%s' is not <prefix>/<camera>/<feature>/set", qtopic);
  const char *feat = slash1 + 1;
  const char *slash2 = strchr (feat, '/');
  if (slash2 == NULL || strcmp (slash2, "/set") != 0)
    return refuse (error, "topic '%s' is not <prefix>/<camera>/<feature>/set", qtopic);

  gsize clen = (gsize) (slash1 - cam);
  char name[sizeof out->camera];
  if (clen == 0 || clen >= sizeof name)
    return refuse (error, "topic '%s': camera name must be 1-32 characters", qtopic);
  memcpy (name, cam, clen);
  name[clen] = '\0';
  if (!nvr_paths_camera_name_valid (name))
    return refuse (error, "topic '%s': camera name must be of [a-z0-9_-]", qtopic);

  NvrMqttFeature feature;
  gsize flen = (gsize) (slash2 - feat);
  if (flen == strlen ("recordings") && memcmp (feat, "recordings", flen) == 0)
    feature = NVR_MQTTCMD_RECORDINGS;
  else if (flen == strlen ("detect") && memcmp (feat, "detect", flen) == 0)
    feature = NVR_MQTTCMD_DETECT;
  else
    return refuse (error, "topic '%s': unknown feature (known: recordings, detect)", qtopic);

  if (len > NVR_MQTTCMD_MAX_PAYLOAD)
    return refuse (error, "topic '%s': payload of %" G_GSIZE_FORMAT " bytes (at most %d)",
                   qtopic, len, NVR_MQTTCMD_MAX_PAYLOAD);
  gboolean on;
  if (len == 2 && memcmp (payload, "ON", 2) == 0)
    on = TRUE;
  else if (len == 3 && memcmp (payload, "OFF", 3) == 0)
    on = FALSE;
  else {
    g_autofree char *qp = quote (payload, len);
    return refuse (error, "topic '%s': payload '%s' is neither ON nor OFF", qtopic, qp);
  }

  memcpy (out->camera, name, clen + 1);
  out->feature = feature;
  out->on = on;
  return TRUE;
}
