/* config — the daemon's configuration file, parsed once into a typed struct. Pure parser (the
 * loader reads the file, nothing else does I/O). Unknown sections or keys, duplicates and bad
 * values are errors that name the file, the line and the reason. Format: docs/design/config.md. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NVR_CONFIG_DEFAULT_PATH "/etc/hearth/hearth.conf"
#define NVR_CONFIG_MAX_BYTES (256 * 1024)
#define NVR_CONFIG_MAX_ORIGINS 16   /* [web] origin: a list, or what auto derives */

#define NVR_CONFIG_ERROR (nvr_config_error_quark ())
GQuark nvr_config_error_quark (void);
typedef enum {
  NVR_CONFIG_ERROR_SYNTAX,
  NVR_CONFIG_ERROR_UNKNOWN_KEY,
  NVR_CONFIG_ERROR_VALUE,
  NVR_CONFIG_ERROR_IO,
} NvrConfigError;

typedef enum {
  NVR_TRANSPORT_AUTO,   /* TCP interleaved first, UDP if the camera refuses TCP */
  NVR_TRANSPORT_TCP,
  NVR_TRANSPORT_UDP,
} NvrTransport;

/* [mqtt] discovery: which Home Assistant discovery documents the bridge publishes. */
typedef enum {
  NVR_MQTT_DISCOVERY_OFF,      /* none; nothing written under the discovery prefix */
  NVR_MQTT_DISCOVERY_DEVICE,   /* one device document per camera (HA 2024.11+), the default */
  NVR_MQTT_DISCOVERY_ENTITY,   /* one document per entity (openHAB, older Home Assistant) */
} NvrMqttDiscovery;

typedef struct {
  /* [daemon] */
  char *admin_socket;          /* absolute path of the admin unix socket */
  char *admin_group;           /* group allowed to use it besides root; NULL = root only */
  /* [storage] */
  char *storage_root;          /* absolute; holds catalog.db and recordings/ */
  guint segment_seconds;       /* 10..3600 */
  char *storage_mount;         /* NULL, or a mount point the root must be on: the daemon records
                                * only while it is mounted (docs/design/storage.md) */
  /* [recording] */
  NvrTransport transport;      /* default for cameras that do not override it */
  guint watchdog_seconds;      /* 2..60: no data for this long = camera dead */
  gint64 backoff_initial_ms;   /* 100..60000 */
  gint64 backoff_max_ms;       /* backoff_initial_ms..600000 */
  /* [retention] (0 = no limit); cameras may override age and size */
  guint max_age_days;          /* 0..3650 */
  gint64 max_bytes;            /* all recordings together */
  gint64 min_free_bytes;       /* free space kept on the storage filesystem */
  guint high_water_percent;    /* 0 (off) or 10..99: filesystem usage kept at or under this */
  guint interval_seconds;      /* 1..3600: how often retention runs */
  guint event_days;            /* 0..3650: footage overlapping a motion event is kept this long
                                * after the event (past max_age_days; space rules still win) */
  /* [mqtt] (docs/design/mqtt.md); MQTT is off unless host is set */
  char *mqtt_host;             /* broker host name or address; NULL = MQTT disabled */
  guint mqtt_port;             /* 1..65535 */
  char *mqtt_prefix;           /* topic prefix: [a-z0-9_-/], no empty levels */
  char *mqtt_client_id;        /* NULL = "hearth-<hostname>" */
  char *mqtt_username;         /* NULL = anonymous */
  char *mqtt_password_file;    /* read once at start; never logged */
  char *mqtt_ca_file;          /* set = TLS, server verified against this CA */
  guint mqtt_keepalive_seconds;/* 5..3600 */
  NvrMqttDiscovery mqtt_discovery; /* Home Assistant discovery mode; default device */
  gboolean mqtt_commands;      /* obey `<prefix>/<camera>/<feature>/set`; FALSE (the default):
                                * not even subscribed to them */
  char *mqtt_discovery_prefix; /* like mqtt_prefix */
  /* [motion] detector settings for every camera (docs/design/motion.md); defaults and ranges
   * are those of NvrMotionSettings (nvr/motion.h) */
  double motion_threshold;         /* 4..128 */
  double motion_min_area;          /* 0.0001..0.5 */
  guint motion_start_frames;       /* 1..50 */
  gint64 motion_end_after_ms;      /* 500..3600000 */
  gint64 motion_background_ms;     /* 1000..3600000 */
  double motion_global_fraction;   /* 0.2..1 */
  double motion_max_contrast_gain; /* 1..8 */
  gboolean motion_hw_decode;       /* a Pi's V4L2 H.264 decoder for motion where present (TRUE) */
  /* [web] (docs/design/auth.md); the web API is off unless origin is set */
  char *web_socket;            /* absolute path of the daemon's HTTP unix socket */
  char *web_origin;            /* the primary origin "https://host[:port]" (pairing URLs, MQTT's
                                * configuration URL); NULL = web API off (or auto, not derived) */
  char **web_origins;          /* every origin the API accepts, web_origin first (NULL-terminated,
                                * at most NVR_CONFIG_MAX_ORIGINS); NULL while web_origin is */
  gboolean web_origin_auto;    /* origin = auto: nvr_config_origins_derive() fills the two above */
  char *web_listen_address;    /* hearth-web.service's IPv4 listener; default 0.0.0.0 */
  guint web_listen_port;       /* its port, 1..65535, default 443; also origin = auto's port */
  char *web_certificate;       /* PEM file lighttpd serves (fingerprint for `nvr pair`) or NULL */
  gint64 web_session_idle_s;   /* 300..31536000 */
  gint64 web_session_max_s;    /* web_session_idle_s..31536000 */
  guint web_live_per_device;   /* 1..224: one device's live viewers in all */
  guint web_live_per_device_camera;   /* 1..64: one device's live viewers of one camera */
} NvrConfig;

void nvr_config_free (NvrConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrConfig, nvr_config_free)

/* Parses @text; @filename is only used in error messages. */
NvrConfig *nvr_config_parse (const char *text, gsize len, const char *filename, GError **error);
/* Reads and parses the file at @path (at most NVR_CONFIG_MAX_BYTES). */
NvrConfig *nvr_config_load (const char *path, GError **error);

/* The configured origin equal to @origin (an Origin header), or NULL: exact comparison against
 * the fixed set, never a pattern. With only web_origin set (web_origins NULL), that one. */
const char *nvr_config_origin_find (const NvrConfig *config, const char *origin);
/* TRUE if @hostname is one DNS label of [A-Za-z0-9-] (1-63, no '-' at either end): usable as
 * "<host>" and "<host>.local". */
gboolean nvr_config_host_label_valid (const char *hostname);
/* The names the box is reached by, for origin = auto and the web front's certificate:
 * "<host>.local", "<host>", "localhost", then each address (IPv6 in brackets), duplicates
 * dropped, at most NVR_CONFIG_MAX_ORIGINS in all (later addresses are dropped). @hostname must
 * be one DNS label (it is lower-cased), or NULL: then the list starts at "localhost" (callers
 * pass NULL, with a warning, for a host name that is not a label). Pure. */
GStrv nvr_config_front_hosts (const char *hostname, const char *const *addresses,
                              GError **error);
/* origin = auto: sets web_origins to https://<each front host>[:listen_port] and web_origin to
 * the first ("https://<host>.local"). The caller gathers @hostname and @addresses (nvr/hostinfo.h). */
gboolean nvr_config_origins_derive (NvrConfig *config, const char *hostname,
                                    const char *const *addresses, GError **error);

const char *nvr_transport_to_string (NvrTransport t);
gboolean nvr_transport_from_string (const char *s, NvrTransport *out);

G_END_DECLS
