/* mqtt — the MQTT bridge (mqtt.h, docs/design/mqtt.md). Main loop only.
 * One libmosquitto client per connection attempt, driven from a GSource on its socket plus a 1 s
 * timer for keepalive; a lost connection throws the client (and anything libmosquitto queued in
 * RAM) away and the next attempt republishes state and the outbox from the catalog, so nothing
 * depends on libmosquitto's in-memory queue. Invariant: outbox rows are handed to libmosquitto
 * only while connected, in id order, at most MAX_IN_FLIGHT unacknowledged. */
#define G_LOG_DOMAIN "nvr-mqtt"

#include "mqtt.h"

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <json-glib/json-glib.h>
#include <mosquitto.h>
#include <string.h>

#include "backoff.h"
#include "mqttcmd.h"

#define MAX_IN_FLIGHT 20                 /* outbox rows published and not yet acknowledged */
#define MAX_PASSWORD_BYTES 256
#define BAD_INPUT_LOG_PER_MINUTE 20      /* bad-input log lines; the rest are counted */
#define STOP_OFFLINE_GRACE_US (300 * 1000) /* for `available offline` after the drain deadline */

typedef struct {
  gint64 id;
  gboolean motion;
  const char *status;     /* last status payload (static string); NULL until this run has seen
                           * a state that maps to one: the retained value of the last run stands
                           * meanwhile (no `offline` flap at every start) */
} Cam;

typedef struct {
  GSource source;
  NvrMqtt *mqtt;
  gpointer tag;
} IoSource;

struct _NvrMqtt {
  const NvrConfig *config;
  NvrCatalog *catalog;
  NvrSupervisor *sup;              /* NULL: outbox delivery only */
  char *password;                  /* NULL when no password_file */
  char *client_id;
  char *topic_available;
  char *topic_ha_status;           /* NULL when discovery is off */
  NvrBackoffPolicy policy;

  struct mosquitto *mosq;          /* this attempt's client; NULL between attempts */
  IoSource *io;                    /* watches mosquitto_socket(mosq) */
  int io_fd;
  guint misc_id;                   /* 1 s keepalive timer */
  guint reconnect_id;              /* pending attempt */
  guint attempt;                   /* failed attempts since the last CONNACK */
  gboolean connected;
  gboolean outage_logged;          /* one warning per outage, not per attempt */
  gboolean stopping;               /* nvr_mqtt_stopping() was called: no status changes, no
                                    * reconnects, state messages' PUBACKs are awaited */

  GHashTable *inflight;            /* mid → outbox row id (gint64 *) */
  GHashTable *unacked;             /* mids of state messages sent while stopping, until PUBACK */
  gint64 last_sent_id;             /* highest outbox id handed to this connection */

  GCancellable *resolving;         /* set while a host name is resolved on a thread */
  GHashTable *cams;                /* camera name → Cam */
  GHashTable *removed;             /* camera name → id (gint64 *): retained topics to clear */
  GHashTable *gone;                /* ids (gint64 *) of removed cameras: ids are never reused,
                                    * so late state changes from their workers are ignored */

  gint64 bad_window_start_us;
  guint bad_logged;
  guint bad_suppressed;
};

static void client_connect (NvrMqtt *m);

/* ---- pure helpers ---- */

const char *
nvr_mqtt_status_payload (const char *state)
{
  if (g_strcmp0 (state, "recording") == 0)
    return "recording";
  if (g_strcmp0 (state, "paused") == 0)
    return "paused";      /* switched off: never "online", which reads as all-is-well */
  if (g_strcmp0 (state, "starting") == 0 || g_strcmp0 (state, "connecting") == 0)
    return NULL;          /* transient: keep the last value (no flapping while retrying) */
  return "offline";       /* offline, identity-mismatch, stopped, anything new */
}

static char *
object_id (const char *prefix, gint64 camera_id)
{
  g_autofree char *p = g_strdup (prefix);
  g_strdelimit (p, "/-", '_');
  return g_strdup_printf ("%s_%" G_GINT64_FORMAT, p, camera_id);
}

char *
nvr_mqtt_discovery_topic (const char *discovery_prefix, const char *prefix, gint64 camera_id)
{
  g_autofree char *oid = object_id (prefix, camera_id);
  return g_strdup_printf ("%s/device/%s/config", discovery_prefix, oid);
}

/* Every entity a camera can have in Home Assistant. Its unique id (and, in entity mode, the
 * object id of its topic) is `<object id>_<key>`; the same in both discovery modes. */
typedef struct {
  const char *key;
  const char *platform;
  const char *name;
  const char *state_leaf;     /* <prefix>/<camera>/<leaf> */
  const char *command_leaf;   /* NULL: read-only */
  const char *device_class;   /* NULL: none */
  int with_commands;          /* 1: offered only with [mqtt] commands on; 0: only off; -1: always */
} Component;

static const Component components[] = {
  { "motion", "binary_sensor", "Motion", "motion", NULL, "motion", -1 },
  { "recordings", "switch", "Recordings", "recordings/state", "recordings/set", NULL, 1 },
  { "detect", "switch", "Detect", "detect/state", "detect/set", NULL, 1 },
  /* No command topic is subscribed with commands off: a switch would do nothing. The same
   * states, read-only. */
  { "recording_state", "binary_sensor", "Recording", "recordings/state", NULL, NULL, 0 },
  { "detect_state", "binary_sensor", "Detect", "detect/state", NULL, NULL, 0 },
  { "status", "sensor", "Status", "status", NULL, "enum", -1 },
};

static gboolean
offered (const Component *k, gboolean commands)
{
  return k->with_commands < 0 || k->with_commands == (commands ? 1 : 0);
}

/* The entity's own options (platform excluded), members of the object being built. */
static void
component_members (JsonBuilder *b, const NvrMqttDiscoveryInfo *info, const char *oid,
                   const Component *k)
{
  g_autofree char *uid = g_strdup_printf ("%s_%s", oid, k->key);
  g_autofree char *state = g_strdup_printf ("%s/%s/%s", info->prefix, info->camera,
                                            k->state_leaf);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, k->name);
  json_builder_set_member_name (b, "unique_id");
  json_builder_add_string_value (b, uid);
  json_builder_set_member_name (b, "state_topic");
  json_builder_add_string_value (b, state);
  if (k->command_leaf != NULL) {
    g_autofree char *command = g_strdup_printf ("%s/%s/%s", info->prefix, info->camera,
                                                k->command_leaf);
    json_builder_set_member_name (b, "command_topic");
    json_builder_add_string_value (b, command);
  }
  if (k->device_class != NULL) {
    json_builder_set_member_name (b, "device_class");
    json_builder_add_string_value (b, k->device_class);
  }
  if (strcmp (k->key, "status") == 0) {
    /* Exactly what nvr_mqtt_status_payload() can publish (unit-tested). */
    json_builder_set_member_name (b, "options");
    json_builder_begin_array (b);
    json_builder_add_string_value (b, "offline");
    json_builder_add_string_value (b, "recording");
    json_builder_add_string_value (b, "paused");
    json_builder_end_array (b);
  }
}

/* `dev`, `o`, availability and QoS: shared by the device document and every entity document
 * (abbreviations as Home Assistant's MQTT abbreviations table spells them: `dev`, `ids`, `mf`,
 * `mdl`, `sw` = sw_version, `cu` = configuration_url, `o`; docs/design/mqtt.md). */
static void
shared_members (JsonBuilder *b, const NvrMqttDiscoveryInfo *info, const char *oid)
{
  g_autofree char *avail = g_strdup_printf ("%s/available", info->prefix);
  json_builder_set_member_name (b, "dev");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ids");
  json_builder_begin_array (b);
  json_builder_add_string_value (b, oid);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, info->camera);
  json_builder_set_member_name (b, "mf");
  json_builder_add_string_value (b, "Hearth");
  json_builder_set_member_name (b, "mdl");
  json_builder_add_string_value (b, "Hearth NVR camera");
  if (info->sw_version != NULL) {
    json_builder_set_member_name (b, "sw");
    json_builder_add_string_value (b, info->sw_version);
  }
  if (info->configuration_url != NULL) {
    json_builder_set_member_name (b, "cu");
    json_builder_add_string_value (b, info->configuration_url);
  }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "o");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, "hearth");
  if (info->sw_version != NULL) {
    json_builder_set_member_name (b, "sw");
    json_builder_add_string_value (b, info->sw_version);
  }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "availability_topic");
  json_builder_add_string_value (b, avail);
  json_builder_set_member_name (b, "qos");
  json_builder_add_int_value (b, 1);
}

static char *
builder_text (JsonBuilder *b)
{
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

char *
nvr_mqtt_discovery_json (const NvrMqttDiscoveryInfo *info)
{
  g_autofree char *oid = object_id (info->prefix, info->camera_id);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  shared_members (b, info, oid);
  json_builder_set_member_name (b, "cmps");
  json_builder_begin_object (b);
  for (gsize i = 0; i < G_N_ELEMENTS (components); i++) {
    const Component *k = &components[i];
    g_autofree char *uid = g_strdup_printf ("%s_%s", oid, k->key);
    json_builder_set_member_name (b, uid);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "p");
    json_builder_add_string_value (b, k->platform);
    /* A component not offered is sent with nothing but its platform, which Home Assistant's
     * device-discovery documentation gives as the way to remove one that an earlier document
     * offered (not verified against a running Home Assistant; docs/design/mqtt.md). */
    if (offered (k, info->commands))
      component_members (b, info, oid, k);
    json_builder_end_object (b);
  }
  json_builder_end_object (b);
  json_builder_end_object (b);
  return builder_text (b);
}

static char *
entity_topic (const NvrMqttDiscoveryInfo *info, const char *oid, const Component *k)
{
  return g_strdup_printf ("%s/%s/%s_%s/config", info->discovery_prefix, k->platform, oid,
                          k->key);
}

static char *
entity_json (const NvrMqttDiscoveryInfo *info, const char *oid, const Component *k)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  component_members (b, info, oid, k);
  shared_members (b, info, oid);
  json_builder_end_object (b);
  return builder_text (b);
}

void
nvr_mqtt_message_free (NvrMqttMessage *msg)
{
  if (msg == NULL)
    return;
  g_free (msg->topic);
  g_free (msg->payload);
  g_free (msg);
}

static void
add_message (GPtrArray *out, char *topic, char *payload)
{
  NvrMqttMessage *msg = g_new0 (NvrMqttMessage, 1);
  msg->topic = topic;
  msg->payload = payload;
  g_ptr_array_add (out, msg);
}

GPtrArray *
nvr_mqtt_discovery_messages (const NvrMqttDiscoveryInfo *info, NvrMqttDiscovery mode,
                             gboolean removed)
{
  g_autofree char *oid = object_id (info->prefix, info->camera_id);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) nvr_mqtt_message_free);
  if (mode == NVR_MQTT_DISCOVERY_OFF)
    return out;     /* nothing is written under the discovery prefix */
  /* Clearing first: Home Assistant reads one connection's messages in order, so an entity is
   * removed before the same unique id is offered again by the other mode's document. */
  if (removed || mode == NVR_MQTT_DISCOVERY_ENTITY)
    add_message (out, nvr_mqtt_discovery_topic (info->discovery_prefix, info->prefix,
                                                info->camera_id), g_strdup (""));
  for (gsize i = 0; i < G_N_ELEMENTS (components); i++) {
    const Component *k = &components[i];
    if (removed || mode == NVR_MQTT_DISCOVERY_DEVICE || !offered (k, info->commands))
      add_message (out, entity_topic (info, oid, k), g_strdup (""));
  }
  if (removed)
    return out;
  if (mode == NVR_MQTT_DISCOVERY_DEVICE) {
    add_message (out, nvr_mqtt_discovery_topic (info->discovery_prefix, info->prefix,
                                                info->camera_id), nvr_mqtt_discovery_json (info));
    return out;
  }
  for (gsize i = 0; i < G_N_ELEMENTS (components); i++)
    if (offered (&components[i], info->commands))
      add_message (out, entity_topic (info, oid, &components[i]),
                   entity_json (info, oid, &components[i]));
  return out;
}

/* ---- publishing ---- */

static void
publish (NvrMqtt *m, const char *topic, const char *payload, gboolean retain)
{
  if (!m->connected)
    return;     /* everything retained is republished on the next CONNACK */
  int mid = 0;
  int rc = mosquitto_publish (m->mosq, &mid, topic, (int) strlen (payload), payload, 1, retain);
  if (rc != MOSQ_ERR_SUCCESS)
    g_debug ("Failed to publish '%s': %s", topic, mosquitto_strerror (rc));
  else if (m->stopping)
    g_hash_table_add (m->unacked, GINT_TO_POINTER (mid));   /* the stop waits for its PUBACK */
}

static void
publish_camera_topic (NvrMqtt *m, const char *camera, const char *leaf, const char *payload)
{
  g_autofree char *topic = g_strdup_printf ("%s/%s/%s", m->config->mqtt_prefix, camera, leaf);
  publish (m, topic, payload, TRUE);
}

static void
discovery_info (NvrMqtt *m, const char *name, gint64 camera_id, NvrMqttDiscoveryInfo *info)
{
  info->discovery_prefix = m->config->mqtt_discovery_prefix;
  info->prefix = m->config->mqtt_prefix;
  info->camera_id = camera_id;
  info->camera = name;
  info->commands = m->config->mqtt_commands;
  info->sw_version = NVR_VERSION;
  info->configuration_url = m->config->web_origin;
}

/* The camera's discovery documents for the configured mode, after empty retained payloads on
 * the other mode's topics (@clear_other; on every CONNACK and for a new camera, not at each
 * Home Assistant birth message), or only the empty payloads of both modes (@removed). */
static void
publish_discovery (NvrMqtt *m, const char *name, gint64 camera_id, gboolean clear_other,
                   gboolean removed)
{
  NvrMqttDiscoveryInfo info;
  discovery_info (m, name, camera_id, &info);
  g_autoptr (GPtrArray) msgs = nvr_mqtt_discovery_messages (&info, m->config->mqtt_discovery,
                                                            removed);
  for (guint i = 0; i < msgs->len; i++) {
    const NvrMqttMessage *msg = msgs->pdata[i];
    if (*msg->payload != '\0' || clear_other || removed)
      publish (m, msg->topic, msg->payload, TRUE);
  }
}

static void
publish_switches (NvrMqtt *m, const char *name, const Cam *c)
{
  gboolean rec = TRUE, det = TRUE;
  if (m->sup == NULL || !nvr_supervisor_get_switches (m->sup, c->id, &rec, &det))
    return;
  publish_camera_topic (m, name, "recordings/state", rec ? "ON" : "OFF");
  publish_camera_topic (m, name, "detect/state", det ? "ON" : "OFF");
}

static void
publish_camera (NvrMqtt *m, const char *name, const Cam *c, gboolean clear_other)
{
  publish_discovery (m, name, c->id, clear_other, FALSE);
  if (c->status != NULL)
    publish_camera_topic (m, name, "status", c->status);
  publish_camera_topic (m, name, "motion", c->motion ? "ON" : "OFF");
  publish_switches (m, name, c);
}

/* Clears everything retained for a removed camera: an empty retained message deletes it on the
 * broker, and Home Assistant removes a device whose discovery document is cleared. */
static void
publish_removal (NvrMqtt *m, const char *name, gint64 id)
{
  static const char *const leaves[] = { "status", "motion", "recordings/state", "detect/state" };
  for (guint i = 0; i < G_N_ELEMENTS (leaves); i++)
    publish_camera_topic (m, name, leaves[i], "");
  publish_discovery (m, name, id, TRUE, TRUE);
}

static Cam *
cam_get (NvrMqtt *m, gint64 id, const char *name, gboolean *created)
{
  Cam *c = g_hash_table_lookup (m->cams, name);
  *created = c == NULL;
  if (c == NULL) {
    g_hash_table_remove (m->removed, name);   /* the name is in use again */
    c = g_new0 (Cam, 1);
    g_hash_table_insert (m->cams, g_strdup (name), c);
  }
  c->id = id;
  return c;
}

/* Learns every supervised camera (the daemon may have added some before MQTT connected). */
static void
cams_refresh (NvrMqtt *m)
{
  if (m->sup == NULL)
    return;
  g_autoptr (GPtrArray) st = nvr_supervisor_status (m->sup);
  for (guint i = 0; i < st->len; i++) {
    const NvrCameraStatus *s = st->pdata[i];
    gboolean created;
    Cam *c = cam_get (m, s->camera_id, s->name, &created);
    const char *p = nvr_mqtt_status_payload (s->state);
    if (p != NULL)
      c->status = p;
  }
}

/* Hands outbox rows to libmosquitto, oldest first, keeping at most MAX_IN_FLIGHT unacked. */
static void
outbox_pump (NvrMqtt *m)
{
  while (m->connected && g_hash_table_size (m->inflight) < MAX_IN_FLIGHT) {
    g_autoptr (GError) error = NULL;
    guint room = MAX_IN_FLIGHT - g_hash_table_size (m->inflight);
    g_autoptr (GPtrArray) rows = nvr_catalog_outbox_next (m->catalog, m->last_sent_id, room,
                                                          &error);
    if (rows == NULL) {
      g_warning ("Failed to read the MQTT outbox: %s", error->message);
      return;
    }
    if (rows->len == 0)
      return;
    for (guint i = 0; i < rows->len; i++) {
      const NvrOutboxRow *r = rows->pdata[i];
      int mid = 0;
      int rc = mosquitto_publish (m->mosq, &mid, r->topic, (int) strlen (r->payload),
                                  r->payload, 1, r->retain);
      if (rc != MOSQ_ERR_SUCCESS) {
        /* Not resent here: a lost connection discards this client and the next one starts
         * again from the oldest undelivered row. */
        g_debug ("Failed to publish outbox row %" G_GINT64_FORMAT ": %s", r->id,
                 mosquitto_strerror (rc));
        return;
      }
      g_hash_table_insert (m->inflight, GINT_TO_POINTER (mid), g_memdup2 (&r->id, sizeof r->id));
      m->last_sent_id = r->id;
    }
  }
}

/* ---- the socket watch ---- */

static void watch_sync (NvrMqtt *m);
static void on_disconnect (struct mosquitto *mosq, void *data, int rc);

static gboolean
io_dispatch (GSource *source, GSourceFunc callback, gpointer data)
{
  IoSource *io = (IoSource *) source;
  NvrMqtt *m = io->mqtt;
  GIOCondition rev = g_source_query_unix_fd (source, io->tag);
  if (m->mosq != NULL && (rev & (G_IO_IN | G_IO_HUP | G_IO_ERR)))
    mosquitto_loop_read (m->mosq, 1);
  if (m->mosq != NULL && mosquitto_socket (m->mosq) >= 0 && (rev & (G_IO_OUT | G_IO_ERR)))
    mosquitto_loop_write (m->mosq, 1);
  watch_sync (m);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs io_funcs = { .dispatch = io_dispatch };

static void
watch_drop (NvrMqtt *m)
{
  if (m->io != NULL) {
    g_source_destroy (&m->io->source);
    g_source_unref (&m->io->source);
    m->io = NULL;
  }
  m->io_fd = -1;
}

/* Keeps one watch on the client's current socket, asking for G_IO_OUT only while libmosquitto
 * has bytes to write. Called after every libmosquitto call that may change either. */
static void
watch_sync (NvrMqtt *m)
{
  int fd = m->mosq != NULL ? mosquitto_socket (m->mosq) : -1;
  if (fd != m->io_fd)
    watch_drop (m);
  if (fd < 0)
    return;
  if (m->io == NULL) {
    m->io = (IoSource *) g_source_new (&io_funcs, sizeof (IoSource));
    m->io->mqtt = m;
    m->io->tag = g_source_add_unix_fd (&m->io->source, fd, G_IO_IN);
    g_source_set_name (&m->io->source, "nvr-mqtt-socket");
    g_source_attach (&m->io->source, NULL);
    m->io_fd = fd;
  }
  g_source_modify_unix_fd (&m->io->source, m->io->tag,
                           G_IO_IN | (mosquitto_want_write (m->mosq) ? G_IO_OUT : 0));
}

static gboolean
on_misc (gpointer data)
{
  NvrMqtt *m = data;
  if (m->mosq != NULL && mosquitto_socket (m->mosq) >= 0) {
    mosquitto_loop_misc (m->mosq);   /* keepalive; also times out a connect that hangs */
    watch_sync (m);
  } else if (m->mosq != NULL && !m->stopping && m->reconnect_id == 0 && m->resolving == NULL) {
    /* A client without a socket and nothing scheduled: libmosquitto closed it without telling
     * us (a TLS handshake refused for an unknown CA can end so: test_mqtt_tls stalled after
     * one attempt, 1 CI run in 2). Nothing else would ever wake it: count it as lost. */
    on_disconnect (m->mosq, m, MOSQ_ERR_CONN_LOST);
  }
  return G_SOURCE_CONTINUE;
}

/* ---- connection ---- */

static gboolean
on_reconnect_timer (gpointer data)
{
  NvrMqtt *m = data;
  m->reconnect_id = 0;
  client_connect (m);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (NvrMqtt *m, const char *why)
{
  if (m->reconnect_id != 0)
    return;
  gint64 delay_ms = nvr_backoff_delay_ms (&m->policy, m->attempt, g_random_int ());
  m->attempt++;
  if (!m->outage_logged) {
    g_warning ("MQTT broker %s:%u: %s; retrying with backoff", m->config->mqtt_host,
               m->config->mqtt_port, why);
    m->outage_logged = TRUE;
  } else {
    g_debug ("MQTT broker %s:%u: %s; next attempt in %" G_GINT64_FORMAT " ms",
             m->config->mqtt_host, m->config->mqtt_port, why, delay_ms);
  }
  m->reconnect_id = g_timeout_add (MAX (delay_ms, 50), on_reconnect_timer, m);
}

static void
on_connect (struct mosquitto *mosq, void *data, int rc)
{
  NvrMqtt *m = data;
  if (rc != 0) {
    if (!m->outage_logged)    /* once per outage: a wrong password is retried with backoff */
      g_warning ("MQTT broker %s:%u refused the connection: %s; retrying with backoff",
                 m->config->mqtt_host, m->config->mqtt_port, mosquitto_connack_string (rc));
    m->outage_logged = TRUE;
    return;     /* libmosquitto drops the connection; on_disconnect schedules a retry */
  }
  m->connected = TRUE;
  m->attempt = 0;
  m->outage_logged = FALSE;
  g_message ("Connected to MQTT broker %s:%u as '%s'", m->config->mqtt_host,
             m->config->mqtt_port, m->client_id);
  publish (m, m->topic_available, "online", TRUE);
  /* Commands off: not subscribed at all, so the broker never hands us a `/set` message (live or
   * retained) and there is nothing to refuse or to log. */
  g_autofree char *rec = g_strdup_printf ("%s/+/recordings/set", m->config->mqtt_prefix);
  g_autofree char *det = g_strdup_printf ("%s/+/detect/set", m->config->mqtt_prefix);
  char *subs[3];
  int n_subs = 0;
  if (m->config->mqtt_commands) {
    subs[n_subs++] = rec;
    subs[n_subs++] = det;
  }
  if (m->topic_ha_status != NULL)
    subs[n_subs++] = m->topic_ha_status;
  if (n_subs > 0)
    mosquitto_subscribe_multiple (mosq, NULL, n_subs, subs, 1, 0, NULL);
  cams_refresh (m);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, m->removed);
  while (g_hash_table_iter_next (&it, &k, &v))
    publish_removal (m, k, *(gint64 *) v);
  g_hash_table_remove_all (m->removed);
  g_hash_table_iter_init (&it, m->cams);
  while (g_hash_table_iter_next (&it, &k, &v))
    publish_camera (m, k, v, TRUE);
  m->last_sent_id = 0;
  g_hash_table_remove_all (m->inflight);
  outbox_pump (m);
}

static void
on_disconnect (struct mosquitto *mosq, void *data, int rc)
{
  NvrMqtt *m = data;
  /* An error is logged once per outage: here when a connection is lost, else (a connection
   * that never came up, e.g. a TLS handshake refused for an unknown CA) by schedule_reconnect
   * below. Marking the outage logged without a line (as this did) left a refused handshake
   * silent whenever libmosquitto reported it through this callback (half the runs under load). */
  if (m->connected) {
    g_warning ("Lost the MQTT broker %s:%u: %s", m->config->mqtt_host, m->config->mqtt_port,
               rc == MOSQ_ERR_SUCCESS ? "disconnected" : mosquitto_strerror (rc));
    m->outage_logged = m->outage_logged || rc != MOSQ_ERR_SUCCESS;
  }
  m->connected = FALSE;
  /* In-flight rows stay in the outbox; the next connection (or the next start) publishes them
   * again. */
  g_hash_table_remove_all (m->inflight);
  g_hash_table_remove_all (m->unacked);
  if (m->stopping)
    return;     /* our own DISCONNECT, or a loss during the stop: no new attempt */
  schedule_reconnect (m, rc == MOSQ_ERR_SUCCESS ? "disconnected" : mosquitto_strerror (rc));
}

static void
on_publish (struct mosquitto *mosq, void *data, int mid)
{
  NvrMqtt *m = data;
  gint64 *id = g_hash_table_lookup (m->inflight, GINT_TO_POINTER (mid));
  if (id == NULL) {
    g_hash_table_remove (m->unacked, GINT_TO_POINTER (mid));   /* a state or discovery message */
    return;
  }
  g_autoptr (GError) error = NULL;
  if (!nvr_catalog_outbox_done (m->catalog, *id, &error))
    g_warning ("Failed to forget delivered outbox row %" G_GINT64_FORMAT ": %s", *id,
               error->message);
  g_hash_table_remove (m->inflight, GINT_TO_POINTER (mid));
  outbox_pump (m);
}

static void bad_input (NvrMqtt *m, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

/* One log line per bad message, at most BAD_INPUT_LOG_PER_MINUTE a minute (a flood is counted). */
static void
bad_input (NvrMqtt *m, const char *fmt, ...)
{
  gint64 now_us = g_get_monotonic_time ();
  if (now_us - m->bad_window_start_us > 60 * G_USEC_PER_SEC) {
    if (m->bad_suppressed > 0)
      g_warning ("MQTT: %u more bad command messages ignored without logging",
                 m->bad_suppressed);
    m->bad_window_start_us = now_us;
    m->bad_logged = 0;
    m->bad_suppressed = 0;
  }
  if (m->bad_logged >= BAD_INPUT_LOG_PER_MINUTE) {
    m->bad_suppressed++;
    return;
  }
  m->bad_logged++;
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_warning ("MQTT: ignored a command: %s", msg);
}

static void
on_message (struct mosquitto *mosq, void *data, const struct mosquitto_message *msg)
{
  NvrMqtt *m = data;
  if (m->topic_ha_status != NULL && g_strcmp0 (msg->topic, m->topic_ha_status) == 0) {
    if (msg->payloadlen == 6 && memcmp (msg->payload, "online", 6) == 0) {
      g_message ("Home Assistant is online: re-sending discovery for %u camera(s)",
                 g_hash_table_size (m->cams));
      GHashTableIter it;
      gpointer k, v;
      g_hash_table_iter_init (&it, m->cams);
      while (g_hash_table_iter_next (&it, &k, &v))
        publish_camera (m, k, v, FALSE);
    }
    return;
  }
  g_autoptr (GError) error = NULL;
  NvrMqttCommand cmd;
  if (!nvr_mqttcmd_parse (m->config->mqtt_prefix, msg->topic, msg->payload,
                          msg->payloadlen > 0 ? (gsize) msg->payloadlen : 0, &cmd, &error)) {
    bad_input (m, "%s", error->message);
    return;
  }
  if (msg->retain) {
    /* The broker sends a stored (retained) message when we subscribe, i.e. at every (re)connect:
     * applying it would switch the camera again, long after whoever sent it, with nobody
     * asking. MQTT 3.1.1 sets the flag only on such stored copies (a live message is forwarded
     * with it cleared), so a live command is never refused here. */
    bad_input (m, "retained %s %s for camera '%s' (retained commands are never applied; clear "
               "it with an empty retained message)", nvr_mqttcmd_feature_name (cmd.feature),
               cmd.on ? "ON" : "OFF", cmd.camera);
    return;
  }
  Cam *c = g_hash_table_lookup (m->cams, cmd.camera);
  if (c == NULL || m->sup == NULL) {
    bad_input (m, "unknown camera '%s' in '%s'", cmd.camera, msg->topic);
    return;
  }
  g_autoptr (GError) serr = NULL;
  gboolean ok = cmd.feature == NVR_MQTTCMD_DETECT
                    ? nvr_supervisor_set_detect (m->sup, c->id, cmd.on)
                    : nvr_supervisor_set_recording (m->sup, c->id, cmd.on, NVR_PAUSE_MQTT,
                                                    &serr);
  if (!ok && serr != NULL && !g_error_matches (serr, NVR_CATALOG_ERROR,
                                               NVR_CATALOG_ERROR_NOT_FOUND)) {
    g_warning ("Failed to switch recordings of camera '%s': %s", cmd.camera, serr->message);
    return;
  }
  if (!ok) {
    bad_input (m, "unknown camera '%s' in '%s'", cmd.camera, msg->topic);
    return;
  }
  g_message ("MQTT: camera '%s' %s %s", cmd.camera, nvr_mqttcmd_feature_name (cmd.feature),
             cmd.on ? "ON" : "OFF");
  publish_switches (m, cmd.camera, c);
}

static void
client_drop (NvrMqtt *m)
{
  watch_drop (m);
  if (m->mosq != NULL) {
    mosquitto_destroy (m->mosq);
    m->mosq = NULL;
  }
  m->connected = FALSE;
  g_hash_table_remove_all (m->inflight);
  g_hash_table_remove_all (m->unacked);
}

/* A connect whose host name must be resolved runs on a pool thread: libmosquitto resolves with
 * a blocking getaddrinfo. The client is touched by nothing else while the thread has it. */
typedef struct {
  struct mosquitto *mosq;
  char *host;
  int port, keepalive;
  int rc, err;
} ConnectJob;

static void
connect_job_free (ConnectJob *j)
{
  if (j->mosq != NULL)
    mosquitto_destroy (j->mosq);
  g_free (j->host);
  g_free (j);
}

static void
connect_thread (GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
  ConnectJob *j = data;
  j->rc = mosquitto_connect_async (j->mosq, j->host, j->port, j->keepalive);
  j->err = errno;
  g_task_return_boolean (task, TRUE);
}

static void
connect_started (NvrMqtt *m, int rc, int err)
{
  if (rc != MOSQ_ERR_SUCCESS) {
    schedule_reconnect (m, rc == MOSQ_ERR_ERRNO ? g_strerror (err) : mosquitto_strerror (rc));
    return;
  }
  watch_sync (m);
}

static void
on_connect_resolved (GObject *src, GAsyncResult *res, gpointer data)
{
  GTask *task = G_TASK (res);
  ConnectJob *j = g_task_get_task_data (task);
  if (g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    return;     /* the bridge is gone; the job frees the client */
  NvrMqtt *m = data;
  g_clear_object (&m->resolving);
  m->mosq = g_steal_pointer (&j->mosq);
  connect_started (m, j->rc, j->err);
}

/* One connection attempt with a fresh client. Never blocks on the network: the TCP connect is
 * non-blocking and completes in the socket watch; a host name is resolved on a thread. */
static void
client_connect (NvrMqtt *m)
{
  client_drop (m);
  if (m->resolving != NULL)
    return;     /* an attempt is still resolving */
  struct mosquitto *mosq = mosquitto_new (m->client_id, true, m);
  if (mosq == NULL) {
    schedule_reconnect (m, "out of memory");
    return;
  }
  mosquitto_will_set (mosq, m->topic_available, 7, "offline", 1, true);
  if (m->config->mqtt_username != NULL)
    mosquitto_username_pw_set (mosq, m->config->mqtt_username, m->password);
  if (m->config->mqtt_ca_file != NULL) {
    int rc = mosquitto_tls_set (mosq, m->config->mqtt_ca_file, NULL, NULL, NULL, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
      mosquitto_destroy (mosq);
      schedule_reconnect (m, mosquitto_strerror (rc));
      return;
    }
  }
  mosquitto_connect_callback_set (mosq, on_connect);
  mosquitto_disconnect_callback_set (mosq, on_disconnect);
  mosquitto_publish_callback_set (mosq, on_publish);
  mosquitto_message_callback_set (mosq, on_message);
  if (g_hostname_is_ip_address (m->config->mqtt_host)) {
    m->mosq = mosq;
    int rc = mosquitto_connect_async (mosq, m->config->mqtt_host, (int) m->config->mqtt_port,
                                      (int) m->config->mqtt_keepalive_seconds);
    connect_started (m, rc, errno);
    return;
  }
  ConnectJob *j = g_new0 (ConnectJob, 1);
  j->mosq = mosq;
  j->host = g_strdup (m->config->mqtt_host);
  j->port = (int) m->config->mqtt_port;
  j->keepalive = (int) m->config->mqtt_keepalive_seconds;
  m->resolving = g_cancellable_new ();
  g_autoptr (GTask) task = g_task_new (NULL, m->resolving, on_connect_resolved, m);
  g_task_set_task_data (task, j, (GDestroyNotify) connect_job_free);
  g_task_run_in_thread (task, connect_thread);
}

/* ---- supervisor listener ---- */

static void
on_state_changed (gint64 camera_id, const char *name, const char *state, gpointer data)
{
  NvrMqtt *m = data;
  if (g_hash_table_contains (m->gone, &camera_id))
    return;
  /* Cameras stopped by the daemon's own stop are not offline: `<prefix>/available offline`
   * says the daemon is gone, and the next start carries on from the status left here. */
  if (m->stopping)
    return;
  gboolean created;
  Cam *c = cam_get (m, camera_id, name, &created);
  const char *p = nvr_mqtt_status_payload (state);
  if (created) {
    if (p != NULL)
      c->status = p;
    publish_camera (m, name, c, TRUE);
    return;
  }
  if (p == NULL || (g_strcmp0 (p, c->status) == 0 && strcmp (state, "paused") != 0))
    return;
  c->status = p;
  publish_camera_topic (m, name, "status", p);
  publish_switches (m, name, c);
}

static void
on_motion_changed (gint64 camera_id, const char *name, gboolean active, gpointer data)
{
  NvrMqtt *m = data;
  if (g_hash_table_contains (m->gone, &camera_id))
    return;
  gboolean created;
  Cam *c = cam_get (m, camera_id, name, &created);
  c->motion = active;
  publish_camera_topic (m, name, "motion", active ? "ON" : "OFF");
}

static void
on_outbox_added (gpointer data)
{
  nvr_mqtt_outbox_kick (data);
}

/* ---- public ---- */

static const char *
discovery_mode_name (NvrMqttDiscovery mode)
{
  switch (mode) {
  case NVR_MQTT_DISCOVERY_DEVICE: return "device";
  case NVR_MQTT_DISCOVERY_ENTITY: return "entity";
  case NVR_MQTT_DISCOVERY_OFF: default: return "off";
  }
}

static gpointer
lib_init (gpointer unused)
{
  mosquitto_lib_init ();
  return NULL;
}

NvrMqtt *
nvr_mqtt_new (const NvrConfig *config, NvrCatalog *catalog, NvrSupervisor *sup, GError **error)
{
  static GOnce once = G_ONCE_INIT;
  g_once (&once, lib_init, NULL);
  g_return_val_if_fail (config->mqtt_host != NULL, NULL);

  g_autoptr (NvrMqtt) m = g_new0 (NvrMqtt, 1);
  m->config = config;
  m->catalog = catalog;
  m->io_fd = -1;
  m->inflight = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  m->unacked = g_hash_table_new (NULL, NULL);
  m->cams = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  m->removed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  m->gone = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  m->policy.initial_ms = config->backoff_initial_ms;
  m->policy.max_ms = MAX (config->backoff_max_ms, config->backoff_initial_ms);
  m->topic_available = g_strdup_printf ("%s/available", config->mqtt_prefix);
  if (config->mqtt_discovery != NVR_MQTT_DISCOVERY_OFF)
    m->topic_ha_status = g_strdup_printf ("%s/status", config->mqtt_discovery_prefix);
  if (config->mqtt_client_id != NULL) {
    m->client_id = g_strdup (config->mqtt_client_id);
  } else {
    m->client_id = g_strdup_printf ("hearth-%s", g_get_host_name ());
    g_strcanon (m->client_id, "abcdefghijklmnopqrstuvwxyz0123456789-_", '_');
  }

  if (config->mqtt_password_file != NULL) {
    g_autofree char *text = NULL;
    gsize len = 0;
    g_autoptr (GError) ioerr = NULL;
    if (!g_file_get_contents (config->mqtt_password_file, &text, &len, &ioerr)) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Failed to read mqtt.password_file: %s",
                   ioerr->message);
      return NULL;
    }
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
      text[--len] = '\0';
    gboolean bad = len == 0 || len > MAX_PASSWORD_BYTES || memchr (text, '\0', len) != NULL;
    if (!bad)
      m->password = g_strndup (text, len);
    explicit_bzero (text, len);
    if (bad) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "mqtt.password_file '%s' must hold one line of 1-%d bytes",
                   config->mqtt_password_file, MAX_PASSWORD_BYTES);
      return NULL;
    }
  }
  if (config->mqtt_ca_file != NULL && g_access (config->mqtt_ca_file, R_OK) != 0) {
    int e = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "Failed to read mqtt.ca_file '%s': %s",
                 config->mqtt_ca_file, g_strerror (e));
    return NULL;
  }

  m->sup = sup;
  if (sup != NULL) {
    const NvrSupervisorListener l = { on_state_changed, on_motion_changed, on_outbox_added };
    nvr_supervisor_set_listener (sup, &l, m);
    cams_refresh (m);
  }
  m->misc_id = g_timeout_add_seconds (1, on_misc, m);
  g_message ("MQTT: connecting to %s:%u (prefix '%s', discovery %s)", config->mqtt_host,
             config->mqtt_port, config->mqtt_prefix, discovery_mode_name (config->mqtt_discovery));
  client_connect (m);
  return g_steal_pointer (&m);
}

void
nvr_mqtt_free (NvrMqtt *m)
{
  if (m == NULL)
    return;
  if (m->sup != NULL) {
    const NvrSupervisorListener none = { 0 };
    nvr_supervisor_set_listener (m->sup, &none, NULL);
  }
  if (m->connected) {
    /* Written at once (libmosquitto writes inline when not threaded): a clean disconnect does
     * not fire the Last Will, so say offline ourselves. */
    publish (m, m->topic_available, "offline", TRUE);
    mosquitto_disconnect (m->mosq);
  }
  client_drop (m);
  if (m->resolving != NULL) {
    g_cancellable_cancel (m->resolving);   /* the pending job frees its client */
    g_clear_object (&m->resolving);
  }
  g_clear_handle_id (&m->misc_id, g_source_remove);
  g_clear_handle_id (&m->reconnect_id, g_source_remove);
  g_clear_pointer (&m->inflight, g_hash_table_unref);
  g_clear_pointer (&m->unacked, g_hash_table_unref);
  g_clear_pointer (&m->cams, g_hash_table_unref);
  g_clear_pointer (&m->removed, g_hash_table_unref);
  g_clear_pointer (&m->gone, g_hash_table_unref);
  if (m->password != NULL)
    explicit_bzero (m->password, strlen (m->password));
  g_free (m->password);
  g_free (m->client_id);
  g_free (m->topic_available);
  g_free (m->topic_ha_status);
  g_free (m);
}

/* ---- the clean stop (docs/design/mqtt.md "Stopping") ---- */

void
nvr_mqtt_stopping (NvrMqtt *m)
{
  m->stopping = TRUE;
}

static gboolean
on_wait_expired (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the default main context (the socket watch reads PUBACKs, on_publish pumps the outbox)
 * until @done says so or the monotonic @deadline_us passes; a timer wakes the wait at the
 * deadline, nothing sleeps. Returns @done's last answer. */
static gboolean
wait_until (NvrMqtt *m, gboolean (*done) (NvrMqtt *m), gint64 deadline_us)
{
  gint64 left_ms = (deadline_us - g_get_monotonic_time () + 999) / 1000;
  if (done (m) || left_ms <= 0)
    return done (m);
  gboolean expired = FALSE;
  guint timer = g_timeout_add ((guint) MIN (left_ms, G_MAXINT), on_wait_expired, &expired);
  while (!done (m) && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (timer);
  return done (m);
}

/* Everything handed to the broker is acknowledged (or the connection is gone). outbox_pump()
 * hands out rows until MAX_IN_FLIGHT are unacknowledged or none is left, and runs again at each
 * PUBACK, so no row in flight means no row waiting. */
static gboolean
all_acked (NvrMqtt *m)
{
  return !m->connected ||
         (g_hash_table_size (m->inflight) == 0 && g_hash_table_size (m->unacked) == 0);
}

/* The DISCONNECT is written: libmosquitto closes the socket after writing it. */
static gboolean
disconnected (NvrMqtt *m)
{
  return m->mosq == NULL || mosquitto_socket (m->mosq) < 0;
}

void
nvr_mqtt_stop (NvrMqtt *m, gint64 deadline_us)
{
  m->stopping = TRUE;
  if (!m->connected)
    return;     /* rows stay in the outbox for the next start; nothing to wait for */
  gint64 t0_us = g_get_monotonic_time ();
  outbox_pump (m);
  watch_sync (m);
  /* 1. Every queued outbox row and state message (motion OFF of the events the stop ended). */
  gboolean drained = wait_until (m, all_acked, deadline_us);
  guint rows_left = g_hash_table_size (m->inflight);
  if (!m->connected) {
    g_warning ("Lost the MQTT broker while stopping; undelivered outbox rows go out at the "
               "next start");
    return;
  }
  /* 2. `available offline` ourselves: the clean DISCONNECT below suppresses the Last Will. Its
   * PUBACK is awaited (bounded) so that the broker has it before the connection ends. */
  gint64 offline_deadline_us = MAX (deadline_us, g_get_monotonic_time ()) + STOP_OFFLINE_GRACE_US;
  publish (m, m->topic_available, "offline", TRUE);
  watch_sync (m);
  gboolean offline_acked = wait_until (m, all_acked, offline_deadline_us);
  /* 3. A clean DISCONNECT, written before the socket is closed. */
  if (m->connected) {
    mosquitto_disconnect (m->mosq);
    watch_sync (m);
    wait_until (m, disconnected, offline_deadline_us);
  }
  double took_ms = (double) (g_get_monotonic_time () - t0_us) / 1000.0;
  if (drained && offline_acked)
    g_message ("MQTT: delivered everything queued and said offline in %.1f ms", took_ms);
  else
    g_warning ("MQTT: stop deadline reached after %.1f ms (%u outbox row(s) unacknowledged "
               "stay queued for the next start%s)", took_ms, rows_left,
               offline_acked ? "" : "; 'offline' unacknowledged");
}

void
nvr_mqtt_outbox_kick (NvrMqtt *m)
{
  outbox_pump (m);
  watch_sync (m);
}

void
nvr_mqtt_camera_removed (NvrMqtt *m, gint64 camera_id, const char *name)
{
  g_hash_table_remove (m->cams, name);
  g_hash_table_add (m->gone, g_memdup2 (&camera_id, sizeof camera_id));
  if (m->connected) {
    publish_removal (m, name, camera_id);
    return;
  }
  g_hash_table_insert (m->removed, g_strdup (name), g_memdup2 (&camera_id, sizeof camera_id));
}

gboolean
nvr_mqtt_connected (NvrMqtt *m)
{
  return m->connected;
}
