/* httproute — the web API's route table and request checks (docs/design/auth.md "Routes").
 * Pure: no I/O, no clock; nvr/http.c feeds it what libsoup parsed. Every route has a policy
 * (never NVR_POLICY_NONE); ids in paths are strict decimals; bodies are at most
 * NVR_HTTP_BODY_MAX bytes of one JSON object with exactly the members a route takes. */
#pragma once

#include <glib.h>
#include "auth.h"

G_BEGIN_DECLS

#define NVR_HTTP_API_PREFIX "/api/v1/"
#define NVR_HTTP_BODY_MAX (16 * 1024)
#define NVR_HTTP_ID_MAX_DIGITS 18
#define NVR_HTTP_PATH_MAX 512              /* longer request paths never match */
#define NVR_HTTP_JSON_MAX_DEPTH 8          /* nesting of [ and { in a body */
#define NVR_HTTP_LIST_MAX 1024             /* camera ids in one body */
#define NVR_HTTP_NAME_MAX 64               /* bytes of a device/invite name */
#define NVR_HTTP_TIMELINE_MAX_RANGE_US ((gint64) 31 * 86400 * G_USEC_PER_SEC)

typedef enum {
  NVR_ROUTE_PAIR_BEGIN,
  NVR_ROUTE_PAIR_FINISH,
  NVR_ROUTE_LOGIN_BEGIN,
  NVR_ROUTE_LOGIN_FINISH,
  NVR_ROUTE_LOGOUT,
  NVR_ROUTE_ME,
  NVR_ROUTE_BOX,
  NVR_ROUTE_CAMERAS,
  NVR_ROUTE_CAMERA,
  NVR_ROUTE_TIMELINE,
  NVR_ROUTE_SEGMENTS,
  NVR_ROUTE_SEGMENT_MEDIA,
  NVR_ROUTE_SNAPSHOT,
  NVR_ROUTE_EVENTS,
  NVR_ROUTE_EVENT_THUMBNAIL,
  NVR_ROUTE_LIVE,
  NVR_ROUTE_EXPORT_MP4,
  NVR_ROUTE_EXPORT_SIG,
  NVR_ROUTE_DEVICES,
  NVR_ROUTE_DEVICE_REVOKE,
  NVR_ROUTE_DEVICE_CAMERAS,
  NVR_ROUTE_INVITES,
  NVR_ROUTE_PLAYLIST,
  NVR_ROUTE_SETTINGS_CAMERAS,        /* admin: docs/design/admin.md */
  NVR_ROUTE_SETTINGS_CAMERA_ADD,
  NVR_ROUTE_SETTINGS_CAMERA_EDIT,
  NVR_ROUTE_SETTINGS_CAMERA_DELETE,
  NVR_ROUTE_SETTINGS_CAMERA_MOTION,
  NVR_ROUTE_AUDIT,
  NVR_ROUTE_HEALTH,
  NVR_ROUTE_CAMERA_TEST,      /* docs/design/admin.md "Testing and finding cameras" */
  NVR_ROUTE_ONVIF_PROFILES,
  NVR_ROUTE_ONVIF_SCAN,
  NVR_ROUTE_COUNT
} NvrRouteId;

/* What a route's query string may hold. */
typedef enum {
  NVR_QUERY_NONE = 0,      /* no query string at all */
  NVR_QUERY_RANGE,         /* from_us and to_us, both required */
  NVR_QUERY_AUDIT,         /* before_id and limit, both optional */
} NvrQueryKind;

/* What a route's body must be (mutations only). */
typedef enum {
  NVR_BODY_NONE = 0,       /* GET: no body */
  NVR_BODY_EMPTY_OBJECT,   /* {} */
  NVR_BODY_PAIR_BEGIN,
  NVR_BODY_PAIR_FINISH,
  NVR_BODY_LOGIN_BEGIN,
  NVR_BODY_LOGIN_FINISH,
  NVR_BODY_CAMERA_LIST,    /* {"cameras": [ids]} */
  NVR_BODY_INVITE,
  NVR_BODY_CAMERA_ADD,     /* {"name","main_url",...} docs/design/admin.md */
  NVR_BODY_CAMERA_EDIT,    /* the same members, all optional */
  NVR_BODY_MOTION,         /* {"masks":[..],"zones":[..]} */
  NVR_BODY_EMPTY_OR_NONE,  /* DELETE: no body, or {} */
  NVR_BODY_CAMERA_TEST,    /* {"main_url", "user"?, "password"?, "transport"?} */
  NVR_BODY_ONVIF,          /* {"address", "user", "password"} */
} NvrBodyKind;
#define NVR_BODY_KIND_LAST NVR_BODY_ONVIF

typedef struct {
  NvrRouteId id;
  const char *method;      /* "GET", "POST", "PUT" or "DELETE" */
  const char *pattern;     /* below NVR_HTTP_API_PREFIX; {cam} {seg} {ev} {dev} {id} are ids */
  NvrPolicy policy;
  NvrObjectKind kind;      /* the object a camera route names besides the camera */
  NvrQueryKind query;
  NvrBodyKind body;
  gboolean media;          /* answered by X-Sendfile or a stream, not JSON */
} NvrRoute;

/* The table, NVR_ROUTE_COUNT rows indexed by NvrRouteId. */
const NvrRoute *nvr_httproute_table (void);
/* The table as JSON, for `nvr http-routes` and the security suite:
 * {"prefix": "/api/v1/", "routes": [{"method", "path", "policy", "object", "query", "body",
 * "media"}]} with "path" the full pattern, e.g. "/api/v1/cameras/{cam}/live". */
char *nvr_httproute_table_json (void);
const char *nvr_httproute_policy_name (NvrPolicy policy);
const char *nvr_httproute_object_name (NvrObjectKind kind);

typedef struct {
  const NvrRoute *route;
  gint64 camera_id;        /* {cam}, else 0 */
  gint64 object_id;        /* {seg}, {ev}, or {id} (a camera an admin route changes), else 0 */
  gint64 device_id;        /* {dev}, else 0 */
} NvrRouteMatch;

/* Finds the route for @method and @path (the request path, still percent-encoded).
 * Returns 0 and fills @out, 404 when no route has this path, 405 when one has but not this
 * method. A path matches only if it is exactly "/api/v1/" + the pattern: no empty, "." or ".."
 * segments, no '%', no trailing '/', ids of 1-18 digits without a sign or leading zeros. */
guint nvr_httproute_match (const char *method, const char *path, NvrRouteMatch *out);

/* Strict decimal id: "0" or [1-9][0-9]{0,17}; the whole of @s. */
gboolean nvr_httproute_parse_id (const char *s, gsize len, gint64 *out);

/* Parses a query of kind NVR_QUERY_RANGE: "from_us=N&to_us=N" in either order, each exactly
 * once, non-negative strict decimals, from_us < to_us, and to_us - from_us <= @max_range_us
 * (0 = any). Returns 0, or 400 with @reason (static text) set. @query may be NULL. */
guint nvr_httproute_parse_range (const char *query, gint64 max_range_us, gint64 *from_us,
                                 gint64 *to_us, const char **reason);

/* Parses a query of kind NVR_QUERY_AUDIT: "before_id=N&limit=N", each optional and at most
 * once, strict decimals; before_id >= 1 (absent: 0 = from the newest); limit 1..@limit_max
 * (absent: @limit_default). Returns 0, or 400 with @reason (static text). @query may be NULL. */
guint nvr_httproute_parse_audit_query (const char *query, guint limit_default, guint limit_max,
                                       gint64 *before_id, guint *limit, const char **reason);

/* The decision for a request's unsafe-method checks (docs/design/auth.md "Requests"). For GET
 * and HEAD it returns 0. For anything else, in this order: Origin must equal @configured_origin
 * (else 403), Sec-Fetch-Site must be "same-origin" (else 403), Content-Type must be
 * application/json, optionally with parameters (else 415). Header values may be NULL (absent).
 * @reason is static text. */
guint nvr_httproute_check_mutation (const char *method, const char *content_type,
                                    const char *origin, const char *sec_fetch_site,
                                    const char *configured_origin, const char **reason);

/* The value of cookie @name in a Cookie request header, or NULL (absent, empty, or present more
 * than once: an ambiguous session is no session). */
char *nvr_httproute_cookie (const char *header, const char *name);

/* Who sent a request, for per-client limits: the last entry of X-Forwarded-For (all copies
 * joined with ","), which lighttpd's mod_proxy appends after whatever the client sent; the
 * entries before it are the client's own words and never used. "local" when the header is
 * absent (a peer on the daemon's socket, not lighttpd), "invalid" when the last entry is not an
 * IP address literal. */
char *nvr_httproute_client (const char *x_forwarded_for);

/* ---- JSON bodies ---- */

#define NVR_HTTP_URL_MAX 1024              /* bytes of a camera URL */
#define NVR_HTTP_CREDENTIAL_MAX 256        /* bytes of a camera user or password */
#define NVR_HTTP_RETENTION_DAYS_MAX 3650
#define NVR_HTTP_POLYGON_TEXT_MAX 1024     /* bytes of one "x,y x,y ..." or "NAME=x,y ..." */
#define NVR_HTTP_POLYGONS_MAX 16           /* masks or zones in one body (= the motion limits) */

/* Which members of a camera body were present (a JSON null counts: it clears). */
typedef enum {
  NVR_CAMSET_NAME = 1 << 0,
  NVR_CAMSET_MAIN_URL = 1 << 1,
  NVR_CAMSET_SUB_URL = 1 << 2,
  NVR_CAMSET_USER = 1 << 3,
  NVR_CAMSET_PASSWORD = 1 << 4,
  NVR_CAMSET_TRANSPORT = 1 << 5,
  NVR_CAMSET_AUDIO = 1 << 6,
  NVR_CAMSET_RETENTION = 1 << 7,
} NvrCameraSettingsMember;

/* A camera's settings as an administrator gave them (web body or CLI arguments). Shapes are
 * checked here; meaning (URL syntax, no credentials in URLs, name rules) by nvr/camadmin.c. */
typedef struct {
  guint given;             /* NvrCameraSettingsMember bits */
  char *name;              /* 1..32 bytes when given (never null) */
  char *main_url;          /* 1..NVR_HTTP_URL_MAX when given (never null) */
  char *sub_url;           /* NULL with the bit: null = no sub-stream */
  char *user;              /* NULL with the bit: null = none */
  char *password;          /* NULL with the bit: null = clear it; write-only, never shown */
  char *transport;         /* "auto", "tcp" or "udp" when given */
  gboolean audio;
  gint64 retention_days;   /* 1..NVR_HTTP_RETENTION_DAYS_MAX; 0 with the bit: null = global */
} NvrCameraSettings;

void nvr_camera_settings_clear (NvrCameraSettings *s);

typedef struct {
  NvrBodyKind kind;
  char *code;              /* PAIR_BEGIN, PAIR_FINISH */
  char *nonce;             /* PAIR_FINISH, LOGIN_FINISH */
  char *public_key;        /* PAIR_FINISH, LOGIN_BEGIN, LOGIN_FINISH */
  char *signature;         /* PAIR_FINISH, LOGIN_FINISH */
  char *name;              /* INVITE */
  GArray *cameras;         /* gint64 ids: CAMERA_LIST, INVITE (never NULL for those) */
  gboolean admin;          /* INVITE, default FALSE */
  gint64 ttl_s;            /* INVITE, default 0 = the default TTL */
  NvrCameraSettings camera;/* CAMERA_ADD (name and main_url required), CAMERA_EDIT */
  GPtrArray *masks;        /* MOTION: char* "x,y x,y ..."; NULL = absent (keep) */
  GPtrArray *zones;        /* MOTION: char* "NAME=x,y ..."; NULL = absent (keep) */
  char *probe_url;         /* CAMERA_TEST: main_url (may hold anything: checked by the prober) */
  char *probe_address;     /* ONVIF: address */
  char *probe_user;        /* CAMERA_TEST (NULL if absent), ONVIF */
  char *probe_password;    /* CAMERA_TEST (NULL if absent), ONVIF; wiped by nvr_body_clear */
  char *probe_transport;   /* CAMERA_TEST: "auto", "tcp" or "udp"; NULL if absent */
} NvrBody;

void nvr_body_clear (NvrBody *b);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (NvrBody, nvr_body_clear)

/* Parses @data (@len bytes, not NUL-terminated) as a body of @kind into @out (zeroed first).
 * Returns 0, 413 (over NVR_HTTP_BODY_MAX), or 400 with @reason (a new string safe to show).
 * Rules: UTF-8 JSON object, nesting at most NVR_HTTP_JSON_MAX_DEPTH, only the members of
 * @kind, each of its type: strings 1..128 bytes (names 1..NVR_HTTP_NAME_MAX, no control
 * characters), ids positive integers without duplicates, at most NVR_HTTP_LIST_MAX. */
guint nvr_httproute_parse_body (NvrBodyKind kind, const char *data, gsize len, NvrBody *out,
                                char **reason);

G_END_DECLS
