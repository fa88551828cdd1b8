/* mqttcmd — parses one MQTT command message (`<prefix>/<camera>/<feature>/set`, payload ON/OFF).
 * Pure: no I/O, no clock, no allocation beyond the GError; fuzzed by tests/fuzz/fuzz-mqttcmd.c.
 * Whether the camera exists is the caller's question (the supervisor knows). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NVR_MQTTCMD_MAX_PAYLOAD 256   /* larger command payloads are refused unread */
#define NVR_MQTTCMD_MAX_TOPIC 512

typedef enum {
  NVR_MQTTCMD_RECORDINGS,
  NVR_MQTTCMD_DETECT,
} NvrMqttFeature;

typedef struct {
  char camera[33];          /* a valid camera name (nvr_paths_camera_name_valid) */
  NvrMqttFeature feature;
  gboolean on;
} NvrMqttCommand;

/* Parses @topic (NUL-terminated, as libmosquitto delivers it) and @payload (@len bytes, not
 * terminated, may hold anything) under @prefix. FALSE with @error describing what was wrong, in
 * words fit for one log line (never echoing more than 64 bytes of peer data). */
gboolean nvr_mqttcmd_parse (const char *prefix, const char *topic, const void *payload, gsize len,
                            NvrMqttCommand *out, GError **error);

const char *nvr_mqttcmd_feature_name (NvrMqttFeature f);

G_END_DECLS
