/* catalog — the SQLite catalog of cameras and recorded segments (<storage root>/catalog.db).
 * The only module that contains SQL. Runs on the daemon's main loop; one connection, WAL mode,
 * foreign keys and CHECK constraints on, migrations by user_version.
 * Invariants (docs/design/storage.md): ids are never reused (AUTOINCREMENT); a segment row is
 * 'recording' from the moment its file is opened until it is closed or recovered; every path is
 * relative to the storage root and inside its camera's directory. */
#pragma once

#include <glib.h>

#include "auth.h"
#include "identity.h"

#include "retention.h"
#include "timeline.h"

G_BEGIN_DECLS

#define NVR_CATALOG_ERROR (nvr_catalog_error_quark ())
GQuark nvr_catalog_error_quark (void);
typedef enum {
  NVR_CATALOG_ERROR_DB,
  NVR_CATALOG_ERROR_NOT_FOUND,
  NVR_CATALOG_ERROR_EXISTS,
  NVR_CATALOG_ERROR_INVALID,
} NvrCatalogError;

typedef struct _NvrCatalog NvrCatalog;

/* Who switched a camera's recording off (cameras.paused_by, schema v7). Stored as the string. */
typedef enum {
  NVR_PAUSE_NONE,       /* recording: not paused */
  NVR_PAUSE_MQTT,       /* `<prefix>/<camera>/recordings/set OFF` ([mqtt] commands = on) */
  NVR_PAUSE_CLI,        /* `nvr cameras recording NAME off` (admin socket) */
} NvrPauseSource;

/* "", "mqtt", "cli". */
const char *nvr_pause_source_to_string (NvrPauseSource by);

typedef struct {
  gint64 id;
  char *name;
  char *main_url;
  char *sub_url;        /* NULL if none */
  char *username;       /* "" if none */
  char *password;       /* "" if none; never logged or returned by the admin API */
  char *transport;      /* "default", "auto", "tcp" or "udp" */
  gint64 created_us;
  NvrPauseSource paused_by;   /* NVR_PAUSE_NONE unless recording was switched off */
  gint64 paused_us;           /* wall clock of the switch-off; 0 when not paused */
  gboolean audio_off;         /* cameras.audio = 0: record no audio (schema v9; default on) */
  gint64 retain_days;         /* cameras.retain_days; 0 = the config's [retention] max_age_days */
  gboolean detect_off;        /* cameras.detect = 0: motion detection switched off (v9) */
  char *dir_name;             /* the name its directory was made with (kept across renames);
                               * set by camera_list, NULL elsewhere = @name */
} NvrCameraRow;

void nvr_camera_row_free (NvrCameraRow *row);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrCameraRow, nvr_camera_row_free)

typedef struct {
  gint64 id;
  gint64 camera_id;
  char *path;
  gboolean recording;   /* state = 'recording' */
  gint64 start_us;
  gint64 end_us;        /* 0 while recording */
  gint64 duration_us;   /* 0 while recording */
  gint64 bytes;
} NvrSegmentRow;

void nvr_segment_row_free (NvrSegmentRow *row);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrSegmentRow, nvr_segment_row_free)

NvrCatalog *nvr_catalog_open (const char *path, GError **error);
void nvr_catalog_close (NvrCatalog *catalog);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrCatalog, nvr_catalog_close)

/* Groups many writes into one transaction (bulk imports, benchmarks). Not nestable. */
gboolean nvr_catalog_begin (NvrCatalog *catalog, GError **error);
gboolean nvr_catalog_commit (NvrCatalog *catalog, GError **error);
/* Abandons the transaction nvr_catalog_begin started (after a failed step). */
void nvr_catalog_rollback (NvrCatalog *catalog);

/* Cameras. Removal is soft: the row stays (its footage is still in the catalog, and goes by
 * retention), the name is free for a new camera, the removed camera's id is never reused, and
 * it leaves every device's ACL (in the same transaction). */
gboolean nvr_catalog_camera_add (NvrCatalog *catalog, const NvrCameraRow *row, gint64 now_us,
                                 gint64 *out_id, GError **error);
gboolean nvr_catalog_camera_remove (NvrCatalog *catalog, const char *name, gint64 now_us,
                                    GError **error);
/* Replaces the settings of active camera @row->id: name, URLs, user, password, transport,
 * audio, retain_days (0 = NULL). A rename keeps the camera's directory (dir_name). NOT_FOUND if
 * no such active camera, EXISTS if another active camera has the name. */
gboolean nvr_catalog_camera_update (NvrCatalog *catalog, const NvrCameraRow *row,
                                    GError **error);
/* Stores the active camera's motion detection switch (issue 13); NOT_FOUND if none. */
gboolean nvr_catalog_camera_set_detect (NvrCatalog *catalog, gint64 camera_id, gboolean on,
                                        GError **error);
/* Adds the camera to the device's ACL (no-op if it is there). */
gboolean nvr_catalog_device_grant_camera (NvrCatalog *catalog, gint64 device_id,
                                          gint64 camera_id, GError **error);
/* Active cameras ordered by id; elements are NvrCameraRow. */
GPtrArray *nvr_catalog_camera_list (NvrCatalog *catalog, GError **error);
/* Records that the active camera @camera_id's recording was switched off by @by at @now_us, or
 * back on (@by NVR_PAUSE_NONE clears both). Survives restarts: the supervisor starts a paused
 * camera paused. NOT_FOUND if there is no such active camera. */
gboolean nvr_catalog_camera_set_paused (NvrCatalog *catalog, gint64 camera_id, NvrPauseSource by,
                                        gint64 now_us, GError **error);

/* Camera identity (docs/design/identity.md): pinned at first contact, compared at every
 * connection. *pinned is FALSE (and @out empty) until the first pin or after a reset. */
gboolean nvr_catalog_identity_get (NvrCatalog *catalog, gint64 camera_id, NvrIdentity *out,
                                   gboolean *pinned, GError **error);
gboolean nvr_catalog_identity_pin (NvrCatalog *catalog, gint64 camera_id, const NvrIdentity *id,
                                   gint64 now_us, GError **error);
/* Forgets the pin of the active camera @name (the next contact pins again); NOT_FOUND if none. */
gboolean nvr_catalog_identity_reset (NvrCatalog *catalog, const char *name, gint64 *out_id,
                                     GError **error);

/* Segments. */
gboolean nvr_catalog_segment_open (NvrCatalog *catalog, gint64 camera_id, const char *path,
                                   gint64 start_us, gint64 *out_id, GError **error);
/* Completes the row for @path (creating it if the open was never recorded). */
gboolean nvr_catalog_segment_close (NvrCatalog *catalog, gint64 camera_id, const char *path,
                                    gint64 start_us, gint64 end_us, gint64 duration_us,
                                    gint64 bytes, GError **error);
gboolean nvr_catalog_segment_delete (NvrCatalog *catalog, gint64 segment_id, GError **error);
/* Rows still 'recording' (for crash recovery), all cameras; elements are NvrSegmentRow. */
GPtrArray *nvr_catalog_segments_recording (NvrCatalog *catalog, GError **error);
/* TRUE if a row exists for @path. */
gboolean nvr_catalog_segment_exists (NvrCatalog *catalog, const char *path, gboolean *out,
                                     GError **error);
/* The newest segment of a camera, or NULL (no error) if it has none. */
NvrSegmentRow *nvr_catalog_segment_last (NvrCatalog *catalog, gint64 camera_id, GError **error);
/* Bytes of a camera's segments starting at or after @since_us. */
gboolean nvr_catalog_camera_bytes_since (NvrCatalog *catalog, gint64 camera_id,
                                         gint64 since_us, gint64 *out_bytes, GError **error);

/* Complete segments of a camera that overlap [@from_us, @to_us), ordered by start; elements
 * are NvrTimelineSegment. Segments are at most NVR_CATALOG_SEGMENT_MAX_US long, which bounds
 * the index range scanned. */
#define NVR_CATALOG_SEGMENT_MAX_US ((gint64) 2 * 3600 * G_USEC_PER_SEC)
GArray *nvr_catalog_timeline (NvrCatalog *catalog, gint64 camera_id, gint64 from_us,
                              gint64 to_us, GError **error);

/* ---- fragment index (schema v8; docs/design/playback.md "Fragment index") ---- */

typedef struct {
  gint64 offset;        /* byte offset of the moof in the file */
  gint64 size;          /* moof + mdat bytes */
  gint64 start_us;      /* decode time of the first sample, from the file's first sample */
  gint64 duration_us;
  gboolean keyframe;    /* first sample is a sync sample */
} NvrFragment;

/* Fragments of one segment of @camera_id in order; FALSE + error if the segment is not that camera's. */
gboolean nvr_catalog_segment_fragments (NvrCatalog *c, gint64 camera_id, gint64 segment_id,
                                        gint64 *init_bytes, GArray **out /* NvrFragment */,
                                        GError **error);

/* One fragment to store: @seq counts a segment's fragments from 0 in file order. */
typedef struct {
  gint64 segment_id;
  gint64 seq;
  gint64 init_bytes;    /* the segment's ftyp + moov bytes */
  NvrFragment fragment;
} NvrFragmentRow;

/* Stores @n rows in one transaction (or inside the caller's). A (segment, seq) already stored
 * or a segment that does not exist is an error, and then nothing is stored. */
gboolean nvr_catalog_fragments_add (NvrCatalog *c, const NvrFragmentRow *rows, guint n,
                                    GError **error);
/* The id of @camera_id's segment at @path; NOT_FOUND if there is none. */
gboolean nvr_catalog_segment_id (NvrCatalog *c, gint64 camera_id, const char *path,
                                 gint64 *out_id, GError **error);
/* Replaces a segment's whole index (recovery: the probe's view of a crash-cut file). */
gboolean nvr_catalog_segment_set_index (NvrCatalog *c, gint64 segment_id, gint64 init_bytes,
                                        const NvrFragment *frags, guint n, GError **error);

/* One file of a playlist: its fragments are frags[first .. first + n). */
typedef struct {
  gint64 segment_id;
  gint64 start_us;      /* wall clock of its first frame */
  gint64 end_us;        /* 0 while recording */
  gboolean recording;
  gint64 init_bytes;    /* 0: not known (no fragments) */
  guint first;
  guint n;
} NvrPlaylistFile;

/* A camera's segments overlapping [@from_us, @to_us), the one being recorded included, ordered
 * by start, with their fragments: *files NvrPlaylistFile, *frags NvrFragment. A segment
 * without fragments (recorded before v8) has n = 0. */
gboolean nvr_catalog_playlist (NvrCatalog *c, gint64 camera_id, gint64 from_us, gint64 to_us,
                               GArray **files, GArray **frags, GError **error);

/* ---- retention (see retention.h, reaper.h) ---- */

typedef struct {
  gint64 camera_id;
  gint64 retain_days;    /* 0 = the config's */
  gint64 retain_bytes;   /* 0 = the config's */
  gint64 total_bytes;    /* all complete segments */
  GArray *oldest;        /* NvrRetentionSegment, oldest first, at most the window asked for */
} NvrRetentionWindow;

void nvr_retention_window_free (NvrRetentionWindow *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrRetentionWindow, nvr_retention_window_free)

/* For every camera (removed ones too) that has complete segments: totals, limits, and its
 * oldest complete segments: the @limit oldest that no event overlaps and the @limit oldest that
 * one does, merged oldest first. Event footage gets keep_until_us = the event's end (last
 * motion while active) + @event_keep_us; @event_keep_us 0 = no event footage is kept longer.
 * Elements are NvrRetentionWindow. */
GPtrArray *nvr_catalog_retention_windows (NvrCatalog *catalog, guint limit, gint64 event_keep_us,
                                          GError **error);

/* In one transaction, moves the listed complete segments to the garbage table (row gone from
 * segments, path remembered until its file is unlinked). Returns the paths moved (relative to
 * the storage root); ids that are not complete segments are skipped. */
GPtrArray *nvr_catalog_segments_to_garbage (NvrCatalog *catalog, const gint64 *ids, guint n,
                                            GError **error);
/* Paths whose file may still exist, oldest first, at most @limit. */
GPtrArray *nvr_catalog_garbage_list (NvrCatalog *catalog, guint limit, GError **error);
/* Forgets garbage paths whose files are gone. */
gboolean nvr_catalog_garbage_done (NvrCatalog *catalog, GPtrArray *paths, GError **error);

/* ---- MQTT outbox (docs/design/mqtt.md) ----
 * What must reach the broker at least once, in order, across broker outages and restarts.
 * Add it in the same transaction as the change it announces (nvr_catalog_begin/commit). */

#define NVR_CATALOG_OUTBOX_MAX 10000

typedef struct {
  gint64 id;              /* increasing: delivery order */
  char *topic;
  char *payload;          /* UTF-8, at most 64 KiB */
  gboolean retain;
  gint64 created_us;
} NvrOutboxRow;

void nvr_outbox_row_free (NvrOutboxRow *row);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrOutboxRow, nvr_outbox_row_free)

/* Queues a message; past NVR_CATALOG_OUTBOX_MAX rows the oldest are dropped with a warning. */
gboolean nvr_catalog_outbox_add (NvrCatalog *catalog, const char *topic, const char *payload,
                                 gboolean retain, gint64 now_us, gint64 *out_id, GError **error);
/* Up to @limit messages with id > @after_id, oldest first; elements are NvrOutboxRow. */
GPtrArray *nvr_catalog_outbox_next (NvrCatalog *catalog, gint64 after_id, guint limit,
                                    GError **error);
/* Forgets a message the broker acknowledged. */
gboolean nvr_catalog_outbox_done (NvrCatalog *catalog, gint64 id, GError **error);

/* ---- motion events (docs/design/storage.md "Events") ---- */

typedef struct {
  gint64 id;
  gint64 camera_id;
  gboolean active;      /* state = 'active' */
  gint64 start_us;
  gint64 last_us;       /* last motion the daemon heard of */
  gint64 end_us;        /* 0 while active */
  char *zones;          /* JSON array of zone names, in entry order */
  double peak_score, peak_area;
  char *thumbnail;      /* relative to the storage root, or NULL */
} NvrEventRow;

void nvr_event_row_free (NvrEventRow *row);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrEventRow, nvr_event_row_free)

/* A camera's masks and zones: JSON text (nvr/events.h), "" = none. Set by active camera name. */
gboolean nvr_catalog_camera_motion_get (NvrCatalog *catalog, gint64 camera_id, char **masks,
                                        char **zones, GError **error);
gboolean nvr_catalog_camera_motion_set (NvrCatalog *catalog, const char *name, const char *masks,
                                        const char *zones, gint64 *out_id, GError **error);

/* An event is 'active' from its start until it ends; peaks only grow; @thumbnail NULL keeps the
 * one stored. Updates and ends of an event that is no longer active change nothing. */
gboolean nvr_catalog_event_start (NvrCatalog *catalog, gint64 camera_id, gint64 start_us,
                                  const char *zones, double peak_score, double peak_area,
                                  gint64 *out_id, GError **error);
gboolean nvr_catalog_event_update (NvrCatalog *catalog, gint64 event_id, gint64 last_us,
                                   const char *zones, double peak_score, double peak_area,
                                   const char *thumbnail, GError **error);
gboolean nvr_catalog_event_end (NvrCatalog *catalog, gint64 event_id, gint64 end_us,
                                GError **error);
NvrEventRow *nvr_catalog_event_get (NvrCatalog *catalog, gint64 event_id, GError **error);
/* Events still 'active' (for start-up recovery); elements are NvrEventRow. */
GPtrArray *nvr_catalog_events_active (NvrCatalog *catalog, GError **error);
/* Ids (gint64) of the camera's segments (complete or recording) that overlap the event in time,
 * by start. */
GArray *nvr_catalog_event_segments (NvrCatalog *catalog, gint64 event_id, GError **error);


/* ---- devices, invites, sessions, authorization (docs/design/auth.md; migration v6) ---- */

typedef struct {
  gint64 id;
  char *name;
  guint8 public_key[32];
  gboolean is_admin;
  gint64 created_us;
  gint64 revoked_us;      /* 0 = not revoked */
  gint64 last_seen_us;    /* 0 = never */
  GArray *camera_ids;     /* gint64, ascending */
} NvrDeviceRow;

void nvr_device_row_free (NvrDeviceRow *row);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrDeviceRow, nvr_device_row_free)

typedef struct {
  gint64 id;
  char *lookup;
  guint8 secret_hash[32];
  char *name;
  gboolean is_admin;
  gint64 created_us, expires_us;
  gint64 used_us;         /* 0 = unused */
  gint64 burned_us;       /* 0 = not burned */
  guint failures;
  GArray *camera_ids;     /* gint64 */
  GPtrArray *camera_names;/* char*, same order */
} NvrInviteRow;

void nvr_invite_row_free (NvrInviteRow *row);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrInviteRow, nvr_invite_row_free)

/* Invites: camera ids must name active cameras (else NVR_CATALOG_ERROR_INVALID). */
gboolean nvr_catalog_invite_add (NvrCatalog *catalog, const char *lookup,
                                 const guint8 secret_hash[32], const char *name, gboolean is_admin,
                                 const gint64 *camera_ids, guint n_cameras, gint64 now_us,
                                 gint64 expires_us, gint64 *out_id, GError **error);
/* NULL with NVR_CATALOG_ERROR_NOT_FOUND for an unknown lookup. */
NvrInviteRow *nvr_catalog_invite_get (NvrCatalog *catalog, const char *lookup, GError **error);
/* Counts a wrong secret; at NVR_AUTH_INVITE_MAX_FAILURES the invite is burned. */
gboolean nvr_catalog_invite_fail (NvrCatalog *catalog, gint64 invite_id, gint64 now_us,
                                  GError **error);
/* One transaction: the invite is marked used (fails with NVR_CATALOG_ERROR_INVALID if it was
 * used, burned or expired meanwhile), the device and its ACL are created from it, and a session
 * with @token_hash is created. A public key already paired → NVR_CATALOG_ERROR_EXISTS. */
gboolean nvr_catalog_pair (NvrCatalog *catalog, gint64 invite_id, const guint8 public_key[32],
                           const guint8 token_hash[32], gint64 now_us, gint64 *out_device_id,
                           GError **error);

/* Devices. */
GPtrArray *nvr_catalog_device_list (NvrCatalog *catalog, GError **error);
NvrDeviceRow *nvr_catalog_device_get (NvrCatalog *catalog, gint64 device_id, GError **error);
/* NULL + NOT_FOUND when no device (revoked or not) has this key. */
NvrDeviceRow *nvr_catalog_device_by_key (NvrCatalog *catalog, const guint8 public_key[32],
                                         GError **error);
/* Marks the device revoked and deletes its sessions (NOT_FOUND if unknown). */
gboolean nvr_catalog_device_revoke (NvrCatalog *catalog, gint64 device_id, gint64 now_us,
                                    GError **error);
/* Replaces the device's ACL; ids must name active cameras. */
gboolean nvr_catalog_device_set_cameras (NvrCatalog *catalog, gint64 device_id,
                                         const gint64 *camera_ids, guint n, GError **error);

/* Sessions. */
gboolean nvr_catalog_session_add (NvrCatalog *catalog, gint64 device_id,
                                  const guint8 token_hash[32], gint64 now_us, GError **error);
gboolean nvr_catalog_session_delete (NvrCatalog *catalog, const guint8 token_hash[32],
                                     GError **error);
/* Deletes sessions idle for over @idle_us or older than @max_us. */
gboolean nvr_catalog_sessions_expire (NvrCatalog *catalog, gint64 now_us, gint64 idle_us,
                                      gint64 max_us, GError **error);

/* THE authorization query (docs/design/auth.md "Authorization"): one SELECT from the session
 * through the device and its ACL to the camera and, for @kind != NVR_OBJECT_NONE, the object
 * constrained to that camera in the SQL. @camera_id 0 = no camera (session/admin routes).
 * Fills @out (see NvrAccess in auth.h); touches last_used_us/last_seen_us when the session is
 * valid. Returns FALSE only on a database error. */
gboolean nvr_catalog_authorize (NvrCatalog *catalog, const guint8 token_hash[32], gint64 now_us,
                                gint64 idle_us, gint64 max_us, gint64 camera_id,
                                NvrObjectKind kind, gint64 object_id, NvrAccess *out,
                                GError **error);

/* Segments of a camera overlapping [from_us, to_us), by start, at most @limit; NvrSegmentRow. */
GPtrArray *nvr_catalog_segments_between (NvrCatalog *catalog, gint64 camera_id, gint64 from_us,
                                         gint64 to_us, guint limit, GError **error);
/* Events of a camera overlapping [from_us, to_us), by start, at most @limit; NvrEventRow. */
GPtrArray *nvr_catalog_events_between (NvrCatalog *catalog, gint64 camera_id, gint64 from_us,
                                       gint64 to_us, guint limit, GError **error);

/* ---- audit trail of admin changes (docs/design/admin.md "Audit"; schema v9) ---- */

typedef struct {
  gint64 id;
  gint64 time_us;
  gint64 actor_device_id;   /* 0 = the admin socket (CLI) */
  char *actor;              /* "device 3 'phone'" or "admin socket" */
  char *action;             /* e.g. "camera.add" */
  char *target;             /* "camera 2 'porch'", "device 5 'tablet'", "" */
  gint64 camera_id;         /* 0 = none */
  gint64 device_id;         /* 0 = none */
  char *details;            /* a JSON object; never a secret */
} NvrAuditRow;

void nvr_audit_row_free (NvrAuditRow *row);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrAuditRow, nvr_audit_row_free)

gboolean nvr_catalog_audit_add (NvrCatalog *catalog, const NvrAuditRow *row, gint64 *out_id,
                                GError **error);
/* Newest first: entries with id < @before_id (@before_id <= 0: from the newest), at most
 * @limit. Elements are NvrAuditRow. */
GPtrArray *nvr_catalog_audit_list (NvrCatalog *catalog, gint64 before_id, guint limit,
                                   GError **error);

/* ---- storage use per camera (docs/design/admin.md "Health") ---- */

typedef struct {
  gint64 camera_id;
  gint64 bytes;            /* complete segments */
  gint64 oldest_start_us;  /* of its oldest complete segment */
  gint64 segments;
} NvrCameraUsage;

/* One row per camera (removed ones too) with complete segments, by camera id; elements are
 * NvrCameraUsage. One GROUP BY over the complete-segment index. */
GArray *nvr_catalog_camera_usage (NvrCatalog *catalog, GError **error);
/* Messages waiting in the MQTT outbox. */
gboolean nvr_catalog_outbox_count (NvrCatalog *catalog, gint64 *out, GError **error);

G_END_DECLS
