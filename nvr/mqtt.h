/* mqtt — the MQTT bridge: availability, per-camera status/motion/switches, command topics, Home
 * Assistant discovery, and delivery of the catalog's outbox (docs/design/mqtt.md).
 * Main loop only: libmosquitto is driven from a GSource on its socket and never blocks the loop;
 * an unreachable broker is retried with backoff and delays nothing else.
 * Invariant: `<prefix>/events` carries only outbox rows, published in id order with QoS1, and a
 * row is deleted only when the broker's PUBACK for it arrives. */
#pragma once

#include <glib.h>
#include "catalog.h"
#include "config.h"
#include "supervisor.h"

G_BEGIN_DECLS

typedef struct _NvrMqtt NvrMqtt;

/* Starts connecting to config->mqtt_host (which must be set). @sup may be NULL (no cameras, no
 * commands: outbox delivery only); when given, the bridge becomes its listener. @config,
 * @catalog and @sup must outlive the bridge. Fails only on local problems (an unreadable
 * password or CA file), never because the broker is unreachable. */
NvrMqtt *nvr_mqtt_new (const NvrConfig *config, NvrCatalog *catalog, NvrSupervisor *sup,
                       GError **error);
/* The daemon's clean stop, in two calls around nvr_supervisor_shutdown() (docs/design/mqtt.md
 * "Stopping"). nvr_mqtt_stopping(): from now on camera state changes are not published (a
 * camera stopped by the daemon is not offline; `available offline` says so for all), motion and
 * outbox rows still are. nvr_mqtt_stop(): iterates the default main context until every outbox
 * row and state message handed to the broker is acknowledged or the monotonic @deadline_us
 * passes, then publishes `<prefix>/available` offline (its PUBACK awaited at most 300 ms more)
 * and disconnects cleanly. Returns at once when not connected: rows stay in the outbox for the
 * next start. The bridge never reconnects after either call. */
void nvr_mqtt_stopping (NvrMqtt *mqtt);
void nvr_mqtt_stop (NvrMqtt *mqtt, gint64 deadline_us);
/* Publishes `<prefix>/available` offline if still connected (without waiting), disconnects, and
 * stops listening to the supervisor. */
void nvr_mqtt_free (NvrMqtt *mqtt);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrMqtt, nvr_mqtt_free)

/* Rows were added to the outbox: publish them if connected (also the listener's outbox_added). */
void nvr_mqtt_outbox_kick (NvrMqtt *mqtt);
/* A camera was removed: its retained topics and Home Assistant device are cleared now, or at
 * the next CONNACK if disconnected (forgotten if the daemon stops first). */
void nvr_mqtt_camera_removed (NvrMqtt *mqtt, gint64 camera_id, const char *name);
/* TRUE between the broker's CONNACK and the connection's loss. */
gboolean nvr_mqtt_connected (NvrMqtt *mqtt);

/* ---- Home Assistant discovery (pure; exposed for tests) ---- */
typedef struct {
  const char *discovery_prefix;
  const char *prefix;
  gint64 camera_id;               /* stable: discovery ids are built from it, not the name */
  const char *camera;             /* the camera's name (topics, device name) */
  gboolean commands;              /* recordings/detect as switches, else read-only sensors */
  const char *sw_version;         /* the daemon's version (device and origin `sw`); NULL: none */
  const char *configuration_url;  /* [web] origin (device `cu`); NULL: none */
} NvrMqttDiscoveryInfo;

/* One retained message; an empty payload deletes the retained document. */
typedef struct {
  char *topic;
  char *payload;
} NvrMqttMessage;
void nvr_mqtt_message_free (NvrMqttMessage *msg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrMqttMessage, nvr_mqtt_message_free)

/* The device-discovery document for one camera (JSON text) and its topic,
 * `<discovery_prefix>/device/<object id>/config`. With commands, recordings and detect are
 * switches with command topics; without, read-only binary sensors (the switches withdrawn). */
char *nvr_mqtt_discovery_json (const NvrMqttDiscoveryInfo *info);
char *nvr_mqtt_discovery_topic (const char *discovery_prefix, const char *prefix,
                                gint64 camera_id);
/* Every retained discovery message for one camera in @mode, in publishing order: empty
 * payloads first on each topic of the other mode and on entities @info->commands does not offer
 * (so that switching mode or commands leaves no duplicates), then @mode's documents (device: one;
 * entity: `<discovery_prefix>/<platform>/<object id>_<key>/config` per offered entity, each
 * with the same `dev` block). @removed: only empty payloads, on every topic of both modes (a
 * removed camera). Mode off: none at all. Elements are NvrMqttMessage. */
GPtrArray *nvr_mqtt_discovery_messages (const NvrMqttDiscoveryInfo *info, NvrMqttDiscovery mode,
                                        gboolean removed);
/* The `<camera>/status` payload for a supervisor state, or NULL when the state is transient and
 * the last published value stands (docs/design/mqtt.md). Pure. */
const char *nvr_mqtt_status_payload (const char *state);

G_END_DECLS
