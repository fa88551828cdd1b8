/* supervisor — camera worker processes: spawn, configure over the wire, record their segments
 * in the catalog, restart on death with full-jitter backoff. Main loop only.
 * A camera's struct lives until its worker has exited and its open segments are settled. */
#define G_LOG_DOMAIN "nvr-supervisor"

#include "supervisor.h"

#include <errno.h>
#include <gio/gio.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backoff.h"
#include "events.h"
#include "fmp4.h"
#include "identity.h"
#include "paths.h"
#include "recover.h"
#include "wire.h"

/* A worker that ran this long before dying starts its backoff from scratch. */
#define HEALTHY_RUN_US (60 * G_USEC_PER_SEC)
/* Fragment rows are stored in one transaction at most this often (playback.md "Fragment index"). */
#define FRAGMENT_FLUSH_MS 1000
/* Most fragment rows waiting for a flush; past it they are stored at once. */
#define FRAGMENT_BATCH_MAX 4096
/* Sanity bounds on a reported fragment (a worker's figures are checked, never trusted). */
#define FRAGMENT_MAX_BYTES ((gint64) 256 * 1024 * 1024)
#define FRAGMENT_MAX_US ((gint64) 600 * G_USEC_PER_SEC)
#define INIT_MAX_BYTES ((gint64) 1024 * 1024)
/* A closed segment whose reported fragments cover less than its duration by more than this is
 * indexed again from its file (a forced stop loses the last fragments' reports). */
#define REINDEX_SLACK_US ((gint64) 3 * G_USEC_PER_SEC / 2)

typedef struct {
  gint64 id;          /* catalog id, 0 if the open could not be recorded */
  char *path;
  gint64 start_us;
  /* fragment index (segment-fragment): what the next one must continue */
  gint64 next_seq;
  gint64 next_offset; /* end of the last fragment; 0 before the first */
  gint64 next_start_us;
  gint64 init_bytes;  /* 0 before the first fragment */
} OpenSegment;

typedef struct {
  NvrSupervisor *sup;
  NvrCameraRow *cam;
  char *camera_dir;

  GSubprocess *proc;
  NvrWireChannel *ch;
  gint64 spawned_mono_us;
  guint restart_source;
  guint attempt;

  char *state;
  char *reason;
  char *codec;
  int width, height;
  gint64 since_us;
  gint64 retry_in_ms;
  guint worker_reconnects;  /* reported by the running worker */
  guint past_reconnects;    /* of workers that have exited */
  guint restarts;

  GHashTable *open;         /* path -> OpenSegment */
  NvrIdentity pin;          /* the catalog's pin, cached; sent in config (identity.md) */
  gboolean pinned;
  gboolean removed;         /* free once the worker has exited */
  gboolean stopping;
  NvrPauseSource paused_by; /* who switched recording off (catalog v7); NVR_PAUSE_NONE while
                             * recording: a camera is paused exactly when this is set */
  gint64 paused_us;         /* when (wall clock, for the label) */
  gboolean resume_on_exit;  /* switched back on while the paused worker was still stopping:
                             * start a new one when it has exited (not a crash) */
  gboolean detect;          /* motion detection switched on (the default) */

  /* The camera's motion event in progress (docs/design/motion.md "Wiring"); ev_id 0 = none. */
  gint64 ev_id;
  gint64 ev_start_us;
  gint64 ev_last_us;        /* last motion reported: where a dying worker's event ends */
  GStrv ev_zones;
  double ev_score, ev_area;
  gboolean ev_thumb;

  /* Live view (docs/design/auth.md "Live view"). */
  gboolean live;            /* the hub wants the live branch; sent to every new worker */
  gboolean live_init;       /* an init segment of the current stream was handed on */
  NvrFmp4Init live_fmt;     /* what that init segment said (the key flag is read with it) */
  guint64 live_rx_bytes;    /* live payload bytes received from this worker (acknowledged) */
  guint64 live_dropped;     /* fragments dropped for want of an init segment (logged once) */
} Cam;

struct _NvrSupervisor {
  const NvrConfig *config;
  NvrCatalog *catalog;
  char *self_exe;
  GHashTable *cams;         /* camera id -> Cam, active cameras only */
  GPtrArray *leaving;       /* removed Cams whose worker is still exiting */
  guint pending;            /* running probes of segments left open */
  NvrSupervisorListener listener;
  gpointer listener_data;
  NvrSupervisorLiveFunc live_func;
  gpointer live_data;
  GArray *frag_batch;       /* NvrFragmentRow waiting for the next flush */
  guint frag_timer;
};

static void spawn_worker (Cam *c);
static void live_stopped (Cam *c);

void
nvr_camera_status_free (NvrCameraStatus *s)
{
  if (s == NULL)
    return;
  g_free (s->name);
  g_free (s->state);
  g_free (s->reason);
  g_free (s->codec);
  g_free (s->identity);
  g_free (s);
}

static void
open_segment_free (OpenSegment *o)
{
  g_free (o->path);
  g_free (o);
}

static NvrCameraRow *
camera_row_copy (const NvrCameraRow *r)
{
  NvrCameraRow *c = g_new0 (NvrCameraRow, 1);
  c->id = r->id;
  c->name = g_strdup (r->name);
  c->main_url = g_strdup (r->main_url);
  c->sub_url = g_strdup (r->sub_url);
  c->username = g_strdup (r->username ? r->username : "");
  c->password = g_strdup (r->password ? r->password : "");
  c->transport = g_strdup (r->transport ? r->transport : "default");
  c->created_us = r->created_us;
  c->paused_by = r->paused_by;
  c->paused_us = r->paused_us;
  c->audio_off = r->audio_off;
  c->detect_off = r->detect_off;
  c->retain_days = r->retain_days;
  c->dir_name = g_strdup (r->dir_name);
  return c;
}

static void
cam_free (Cam *c)
{
  if (c->restart_source)
    g_source_remove (c->restart_source);
  if (c->ch != NULL) {
    nvr_wire_channel_close (c->ch);
    nvr_wire_channel_unref (c->ch);
  }
  g_clear_object (&c->proc);
  nvr_camera_row_free (c->cam);
  g_free (c->camera_dir);
  g_free (c->state);
  g_free (c->reason);
  g_free (c->codec);
  g_strfreev (c->ev_zones);
  g_hash_table_unref (c->open);
  g_free (c);
}

static void
set_state (Cam *c, const char *state, const char *reason)
{
  reason = reason ? reason : "";
  if (g_strcmp0 (c->state, state) == 0 && g_strcmp0 (c->reason, reason) == 0)
    return;
  if (*reason)
    g_message ("Camera '%s' is %s: %s", c->cam->name, state, reason);
  else
    g_message ("Camera '%s' is %s", c->cam->name, state);
  g_free (c->state);
  g_free (c->reason);
  c->state = g_strdup (state);
  c->reason = g_strdup (reason);
  c->since_us = g_get_real_time ();
  if (c->sup->listener.state_changed != NULL)
    c->sup->listener.state_changed (c->cam->id, c->cam->name, state, c->sup->listener_data);
}

/* The `reason` of a paused camera: what switched recording off (the time is in paused_us). */
static const char *
pause_reason (const Cam *c)
{
  switch (c->paused_by) {
  case NVR_PAUSE_MQTT: return "recording switched off by an MQTT command";
  case NVR_PAUSE_CLI: return "recording switched off with `nvr cameras recording`";
  case NVR_PAUSE_NONE: break;
  }
  return "recording switched off";
}

/* Kills a worker that broke the protocol; its exit is handled like any other. */
static void
violation (Cam *c, const char *what)
{
  g_warning ("Worker for camera '%s' broke the protocol (%s): killing it", c->cam->name, what);
  if (c->ch != NULL)
    nvr_wire_channel_close (c->ch);
  if (c->proc != NULL)
    g_subprocess_force_exit (c->proc);
}

static void
on_segment_opened (Cam *c, GVariant *fields)
{
  const char *path = nvr_wire_get_str (fields, "path", NULL);
  gint64 start_us = nvr_wire_get_int64 (fields, "start_us", -1);
  if (!nvr_paths_is_within (c->camera_dir, path) || start_us <= 0) {
    violation (c, "segment-opened outside its directory or without a start");
    return;
  }
  if (g_hash_table_contains (c->open, path))
    return;
  OpenSegment *o = g_new0 (OpenSegment, 1);
  o->path = g_strdup (path);
  o->start_us = start_us;
  g_autoptr (GError) error = NULL;
  if (!nvr_catalog_segment_open (c->sup->catalog, c->cam->id, path, start_us, &o->id, &error))
    g_warning ("Failed to record segment '%s' as opened: %s", path, error->message);
  g_hash_table_insert (c->open, o->path, o);
  set_state (c, "recording", NULL);
}

/* Stores the waiting fragment rows in one transaction. A batch that fails (e.g. its segment
 * was removed meanwhile) is retried row by row so one bad row costs only itself. */
static void
fragments_flush (NvrSupervisor *sup)
{
  if (sup->frag_timer) {
    g_source_remove (sup->frag_timer);
    sup->frag_timer = 0;
  }
  if (sup->frag_batch->len == 0)
    return;
  g_autoptr (GError) error = NULL;
  const NvrFragmentRow *rows = (const NvrFragmentRow *) (void *) sup->frag_batch->data;
  if (!nvr_catalog_fragments_add (sup->catalog, rows, sup->frag_batch->len, &error)) {
    guint lost = 0;
    for (guint i = 0; i < sup->frag_batch->len; i++)
      if (!nvr_catalog_fragments_add (sup->catalog, &rows[i], 1, NULL))
        lost++;
    if (lost > 0)
      g_warning ("Failed to store %u of %u fragment rows: %s", lost, sup->frag_batch->len,
                 error->message);
  }
  g_array_set_size (sup->frag_batch, 0);
}

static gboolean
fragments_flush_cb (gpointer data)
{
  NvrSupervisor *sup = data;
  sup->frag_timer = 0;
  fragments_flush (sup);
  return G_SOURCE_REMOVE;
}

typedef struct {
  NvrSupervisor *sup;
  gint64 segment_id;
  char *path;
} ReindexJob;

static void
reindex_done (GObject *src, GAsyncResult *res, gpointer data)
{
  ReindexJob *job = data;
  g_auto (NvrProbeInfo) info = { 0 };
  g_autoptr (GError) error = NULL;
  if (!nvr_recover_probe_finish (res, &info, &error))
    g_warning ("Failed to index segment '%s' again: %s", job->path, error->message);
  else if (info.fragments != NULL && info.fragments->len > 0 &&
           !nvr_catalog_segment_set_index (job->sup->catalog, job->segment_id, info.init_bytes,
                                           (const NvrFragment *) (void *) info.fragments->data,
                                           info.fragments->len, &error))
    g_warning ("Failed to store the index of segment '%s': %s", job->path, error->message);
  else
    g_message ("Segment '%s' indexed again from its file: %u fragments", job->path,
               info.fragments ? info.fragments->len : 0);
  job->sup->pending--;
  g_free (job->path);
  g_free (job);
}

/* Replaces a closed segment's index with what its file holds (the probe child). */
static void
reindex_segment (Cam *c, gint64 segment_id, const char *path)
{
  ReindexJob *job = g_new0 (ReindexJob, 1);
  job->sup = c->sup;
  job->segment_id = segment_id;
  job->path = g_strdup (path);
  g_autofree char *abs_path = g_build_filename (c->sup->config->storage_root, path, NULL);
  c->sup->pending++;
  nvr_recover_probe_async (abs_path, NULL, reindex_done, job);
}

/* A fragment of the camera's open segment is on disk (worker.md "segment-fragment"). */
static void
on_segment_fragment (Cam *c, GVariant *fields)
{
  const char *path = nvr_wire_get_str (fields, "path", NULL);
  gint64 seq = nvr_wire_get_int64 (fields, "seq", -1);
  gint64 init = nvr_wire_get_int64 (fields, "init_bytes", -1);
  NvrFragment f = {
    .offset = nvr_wire_get_int64 (fields, "offset", -1),
    .size = nvr_wire_get_int64 (fields, "size", -1),
    .start_us = nvr_wire_get_int64 (fields, "start_us", -1),
    .duration_us = nvr_wire_get_int64 (fields, "duration_us", -1),
    .keyframe = nvr_wire_get_int64 (fields, "key", 0) != 0,
  };
  if (!nvr_paths_is_within (c->camera_dir, path)) {
    violation (c, "segment-fragment outside its directory");
    return;
  }
  OpenSegment *o = g_hash_table_lookup (c->open, path);
  if (o == NULL || o->id == 0) {
    g_debug ("Fragment of '%s', which is not open: not indexed", path);
    return;
  }
  /* In file order, back to back after the init segment, times increasing. */
  gboolean first = o->next_seq == 0;
  if (seq != o->next_seq || init <= 0 || init > INIT_MAX_BYTES ||
      (!first && init != o->init_bytes) || f.offset < (first ? init : o->next_offset) ||
      f.size <= 0 || f.size > FRAGMENT_MAX_BYTES || f.start_us < o->next_start_us ||
      f.duration_us <= 0 || f.duration_us > FRAGMENT_MAX_US) {
    violation (c, "segment-fragment out of order or with impossible figures");
    return;
  }
  o->next_seq = seq + 1;
  o->init_bytes = init;
  o->next_offset = f.offset + f.size;
  o->next_start_us = f.start_us + f.duration_us;
  NvrFragmentRow row = { o->id, seq, init, f };
  NvrSupervisor *sup = c->sup;
  g_array_append_val (sup->frag_batch, row);
  if (sup->frag_batch->len >= FRAGMENT_BATCH_MAX)
    fragments_flush (sup);
  else if (sup->frag_timer == 0)
    sup->frag_timer = g_timeout_add (FRAGMENT_FLUSH_MS, fragments_flush_cb, sup);
}

static void
on_segment_closed (Cam *c, GVariant *fields)
{
  const char *path = nvr_wire_get_str (fields, "path", NULL);
  gint64 start_us = nvr_wire_get_int64 (fields, "start_us", -1);
  gint64 end_us = nvr_wire_get_int64 (fields, "end_us", -1);
  gint64 duration_us = nvr_wire_get_int64 (fields, "duration_us", -1);
  gint64 bytes = nvr_wire_get_int64 (fields, "bytes", -1);
  if (!nvr_paths_is_within (c->camera_dir, path) || start_us <= 0 || end_us < start_us ||
      duration_us < 0 || bytes < 0) {
    violation (c, "segment-closed outside its directory or with impossible figures");
    return;
  }
  fragments_flush (c->sup);   /* its index is whole before the row is complete (or removed) */
  g_autoptr (GError) error = NULL;
  if (duration_us == 0) {
    /* Nothing playable was written (e.g. the stream stopped before the first fragment):
     * remove the file, then its row, like recovery does. */
    OpenSegment *o = g_hash_table_lookup (c->open, path);
    NvrSegmentRow row = { .id = o ? o->id : 0, .camera_id = c->cam->id, .path = (char *) path,
                          .recording = TRUE, .start_us = start_us };
    NvrProbeInfo empty = { 0 };
    if (!nvr_recover_settle_segment (c->sup->catalog, c->sup->config->storage_root, &row,
                                     &empty, &error))
      g_warning ("Failed to remove empty segment '%s': %s", path, error->message);
  } else if (!nvr_catalog_segment_close (c->sup->catalog, c->cam->id, path, start_us, end_us,
                                         duration_us, bytes, &error)) {
    g_warning ("Failed to record segment '%s' as closed: %s", path, error->message);
  } else {
    /* A file the worker had to stop without a clean close (drain timeout) may end with
     * fragments it never reported: index it again from the file. */
    OpenSegment *o = g_hash_table_lookup (c->open, path);
    if (o != NULL && o->id != 0 && o->next_start_us + REINDEX_SLACK_US < duration_us)
      reindex_segment (c, o->id, path);
  }
  g_hash_table_remove (c->open, path);
}

static void
on_state (Cam *c, GVariant *fields)
{
  const char *state = nvr_wire_get_str (fields, "state", "");
  const char *reason = nvr_wire_get_str (fields, "reason", "");
  gint64 reconnects = nvr_wire_get_int64 (fields, "reconnects", 0);
  c->worker_reconnects = (guint) CLAMP (reconnects, 0, G_MAXINT32);
  /* retry_in_ms means "waiting this long before the next attempt": once the worker is
   * connecting again it is over, and a stale value would read as the next attempt's. */
  if (strcmp (state, "backoff") == 0 || strcmp (state, "identity-mismatch") == 0)
    c->retry_in_ms = CLAMP (nvr_wire_get_int64 (fields, "retry_in_ms", 0), 0, G_MAXINT32);
  else
    c->retry_in_ms = 0;
  g_free (c->codec);
  c->codec = g_strdup (nvr_wire_get_str (fields, "codec", ""));
  c->width = (int) CLAMP (nvr_wire_get_int64 (fields, "width", 0), 0, 65535);
  c->height = (int) CLAMP (nvr_wire_get_int64 (fields, "height", 0), 0, 65535);
  if (strcmp (state, "streaming") != 0)
    live_stopped (c);   /* the connection that carried it is gone; the next one sends an init */
  if (strcmp (state, "connecting") == 0)
    set_state (c, "connecting", reason);
  else if (strcmp (state, "streaming") == 0)
    set_state (c, "recording", reason);
  else if (strcmp (state, "backoff") == 0)
    set_state (c, "offline", reason);
  else if (strcmp (state, "identity-mismatch") == 0)
    set_state (c, "identity-mismatch", reason);   /* logged: why nothing is recorded */
  else
    g_warning ("Worker for camera '%s' reported an unknown state", c->cam->name);
}

/* The worker confirmed a connection's identity before recording from it: pin it at first
 * contact, re-pin on an accepted change. It checked against the pin we sent, so a mismatch here
 * means a worker that does not follow the protocol. */
static void
on_identity (Cam *c, GVariant *fields)
{
  NvrIdentity seen;
  if (!nvr_identity_from_fields (fields, "", &seen)) {
    violation (c, "malformed identity");
    return;
  }
  const char *address = nvr_wire_get_str (fields, "address", "");
  g_autofree char *why = NULL;
  g_autofree char *desc = nvr_identity_describe (&seen);
  NvrIdentityVerdict v = nvr_identity_compare (c->pinned ? &c->pin : NULL, &seen, &why);
  if (v == NVR_IDENTITY_MISMATCH) {
    g_warning ("Camera '%s': worker accepted %s at '%s' against the pin: %s", c->cam->name, desc,
               address, why);
    violation (c, "recording a camera that does not match the pin");
    return;
  }
  if (v == NVR_IDENTITY_SAME)
    return;
  g_autoptr (GError) error = NULL;
  if (!nvr_catalog_identity_pin (c->sup->catalog, c->cam->id, &seen, g_get_real_time (), &error))
    g_warning ("Failed to pin the identity of camera '%s': %s", c->cam->name, error->message);
  if (v == NVR_IDENTITY_NEW)
    g_message ("Camera '%s': identity pinned at first contact at '%s': %s", c->cam->name,
               address, desc);
  else
    g_message ("Camera '%s': identity re-pinned (%s): %s", c->cam->name, why ? why : "", desc);
  c->pin = seen;
  c->pinned = TRUE;
}

/* ---- motion events: catalog first, then the outbox, in one transaction ---- */

static void
event_info (Cam *c, NvrEventInfo *e, gint64 end_us)
{
  *e = (NvrEventInfo) { .id = c->ev_id, .camera = c->cam->name, .start_us = c->ev_start_us,
                        .end_us = end_us, .zones = (const char *const *) c->ev_zones,
                        .score = c->ev_score, .area = c->ev_area, .has_thumbnail = c->ev_thumb };
}

static char *
zones_json (const char *const *zones)
{
  g_autoptr (GString) out = g_string_new ("[");
  for (guint i = 0; zones != NULL && zones[i] != NULL; i++) {
    g_autofree char *q = g_strescape (zones[i], NULL);
    g_string_append_printf (out, "%s\"%s\"", i ? "," : "", q);
  }
  g_string_append_c (out, ']');
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* Writes @type ("new", "update", "end") for the camera's current event: the event row change
 * done by @apply and the outbox row commit together or not at all. */
typedef gboolean (*EventApply) (Cam *c, gpointer data, GError **error);

static gboolean
event_commit (Cam *c, const char *type, const NvrEventInfo *before, gint64 end_us,
              EventApply apply, gpointer data)
{
  NvrCatalog *cat = c->sup->catalog;
  g_autoptr (GError) error = NULL;
  if (!nvr_catalog_begin (cat, &error)) {
    g_warning ("Failed to record motion on camera '%s': %s", c->cam->name, error->message);
    return FALSE;
  }
  gboolean ok = apply (c, data, &error);
  if (ok) {
    NvrEventInfo after;
    event_info (c, &after, end_us);
    g_autofree char *payload = nvr_events_payload (type, before, &after);
    const char *prefix = c->sup->config->mqtt_prefix ? c->sup->config->mqtt_prefix : "hearth";
    g_autofree char *topic = g_strconcat (prefix, "/events", NULL);
    ok = nvr_catalog_outbox_add (cat, topic, payload, FALSE, g_get_real_time (), NULL, &error);
  }
  if (ok)
    ok = nvr_catalog_commit (cat, &error);
  else
    nvr_catalog_commit (cat, NULL);   /* nothing was written that must not be; keep the tx short */
  if (!ok) {
    g_warning ("Failed to record motion on camera '%s': %s", c->cam->name,
               error ? error->message : "?");
    return FALSE;
  }
  return TRUE;
}

static gboolean
apply_start (Cam *c, gpointer data, GError **error)
{
  g_autofree char *zones = zones_json ((const char *const *) c->ev_zones);
  return nvr_catalog_event_start (c->sup->catalog, c->cam->id, c->ev_start_us, zones,
                                  c->ev_score, c->ev_area, &c->ev_id, error);
}

static gboolean
apply_update (Cam *c, gpointer data, GError **error)
{
  g_autofree char *zones = zones_json ((const char *const *) c->ev_zones);
  return nvr_catalog_event_update (c->sup->catalog, c->ev_id, c->ev_last_us, zones, c->ev_score,
                                   c->ev_area, data, error);
}

static gboolean
apply_end (Cam *c, gpointer data, GError **error)
{
  return apply_update (c, NULL, error) &&
         nvr_catalog_event_end (c->sup->catalog, c->ev_id, *(gint64 *) data, error);
}

/* Ends the camera's event in progress at @end_us (the worker said so, or died). */
static void
event_end (Cam *c, gint64 end_us)
{
  if (c->ev_id == 0)
    return;
  NvrEventInfo before;
  event_info (c, &before, 0);
  end_us = MAX (end_us, c->ev_start_us);
  c->ev_last_us = MAX (c->ev_last_us, end_us);
  gboolean ok = event_commit (c, "end", &before, end_us, apply_end, &end_us);
  g_message ("Camera '%s': motion event %" G_GINT64_FORMAT " ended", c->cam->name, c->ev_id);
  c->ev_id = 0;
  g_clear_pointer (&c->ev_zones, g_strfreev);
  c->ev_thumb = FALSE;
  /* The `end` row first, then motion OFF: an automation woken by OFF finds the event closed
   * (both QoS1 on one connection, so a subscriber gets them in this order unless the outbox
   * already has MAX_IN_FLIGHT rows unacknowledged). */
  if (ok && c->sup->listener.outbox_added != NULL)
    c->sup->listener.outbox_added (c->sup->listener_data);
  if (c->sup->listener.motion_changed != NULL)
    c->sup->listener.motion_changed (c->cam->id, c->cam->name, FALSE, c->sup->listener_data);
}

static void
on_motion (Cam *c, GVariant *fields)
{
  const char *state = nvr_wire_get_str (fields, "state", "");
  gint64 start_us = nvr_wire_get_int64 (fields, "start_us", -1);
  gint64 end_us = nvr_wire_get_int64 (fields, "end_us", -1);
  gint64 last_us = nvr_wire_get_int64 (fields, "last_us", start_us);
  double score = 0, area = 0;
  g_variant_lookup (fields, "score", "d", &score);
  g_variant_lookup (fields, "area", "d", &area);
  g_autofree const char **zones = NULL;
  g_autoptr (GVariant) zv = g_variant_lookup_value (fields, "zones", G_VARIANT_TYPE_STRING_ARRAY);
  if (zv != NULL)
    zones = g_variant_get_strv (zv, NULL);
  const char *thumb = nvr_wire_get_str (fields, "thumbnail", NULL);
  gboolean zones_ok = zones == NULL || g_strv_length ((char **) zones) <= 16;
  for (guint i = 0; zones_ok && zones != NULL && zones[i] != NULL; i++)
    zones_ok = strlen (zones[i]) >= 1 && strlen (zones[i]) < 32;
  if (start_us <= 0 || end_us < 0 || (end_us > 0 && end_us < start_us) || last_us < start_us ||
      !(score >= 0 && score < 1e9) || !(area >= 0 && area <= 1) || !zones_ok ||
      (thumb != NULL && (!nvr_paths_is_within (c->camera_dir, thumb) ||
                         !g_str_has_suffix (thumb, ".jpg")))) {
    violation (c, "malformed motion report");
    return;
  }

  gboolean start = strcmp (state, "start") == 0;
  if (!start && strcmp (state, "update") != 0 && strcmp (state, "end") != 0) {
    violation (c, "unknown motion state");
    return;
  }
  if (start && c->ev_id != 0)
    event_end (c, c->ev_last_us);   /* a start without the previous end: close that one */
  if (!start && (c->ev_id == 0 || start_us != c->ev_start_us)) {
    g_debug ("Camera '%s': motion %s for no event in progress", c->cam->name, state);
    return;
  }

  /* "before" is the event as last announced; it keeps the old zones alive until written. */
  g_auto (GStrv) old_zones = g_steal_pointer (&c->ev_zones);
  NvrEventInfo before;
  event_info (c, &before, 0);
  before.zones = (const char *const *) old_zones;
  c->ev_zones = g_strdupv ((char **) zones);
  c->ev_score = MAX (score, start ? 0 : c->ev_score);
  c->ev_area = MAX (area, start ? 0 : c->ev_area);
  c->ev_last_us = MAX (last_us, start ? start_us : c->ev_last_us);
  if (thumb != NULL)
    c->ev_thumb = TRUE;

  if (start) {
    c->ev_start_us = start_us;
    c->ev_thumb = thumb != NULL;
    c->ev_id = 0;
    gboolean ok = event_commit (c, "new", NULL, 0, apply_start, NULL);
    if (!ok) {
      c->ev_id = 0;
      return;
    }
    g_message ("Camera '%s': motion event %" G_GINT64_FORMAT " started", c->cam->name, c->ev_id);
    if (c->sup->listener.motion_changed != NULL)
      c->sup->listener.motion_changed (c->cam->id, c->cam->name, TRUE, c->sup->listener_data);
    if (c->sup->listener.outbox_added != NULL)
      c->sup->listener.outbox_added (c->sup->listener_data);
  } else if (strcmp (state, "update") == 0) {
    if (event_commit (c, "update", &before, 0, apply_update, (gpointer) thumb) &&
        c->sup->listener.outbox_added != NULL)
      c->sup->listener.outbox_added (c->sup->listener_data);
  } else {
    event_end (c, end_us > 0 ? end_us : c->ev_last_us);
  }
}

/* ---- live view: untrusted bytes checked here before the hub sees them ---- */

/* The stream the last INIT began is over (if there was one). */
static void
live_stopped (Cam *c)
{
  if (!c->live_init)
    return;
  c->live_init = FALSE;
  if (c->sup->live_func != NULL)
    c->sup->live_func (c->cam->id, NVR_LIVE_STOPPED, NULL, FALSE, NULL, c->sup->live_data);
}

/* Counts @n received live bytes and tells the worker, which bounds what it has in flight. */
static void
live_ack (Cam *c, gsize n)
{
  c->live_rx_bytes += n;
  if (c->ch == NULL)
    return;
  g_autoptr (GVariant) f = g_variant_ref_sink (
      g_variant_new_parsed ("{'bytes': <%t>}", (guint64) c->live_rx_bytes));
  nvr_wire_channel_send (c->ch, "live-ack", f, NULL);
}

static void
on_live_init (Cam *c, GVariant *fields)
{
  g_autoptr (GVariant) v = g_variant_lookup_value (fields, "data", G_VARIANT_TYPE_BYTESTRING);
  const char *codec = nvr_wire_get_str (fields, "codec", "");
  if (v == NULL) {
    violation (c, "live-init without data");
    return;
  }
  g_autoptr (GBytes) data = g_variant_get_data_as_bytes (v);
  gsize len;
  const guint8 *p = g_bytes_get_data (data, &len);
  live_ack (c, len);
  NvrFmp4Init fmt;
  g_autoptr (GError) error = NULL;
  if (!nvr_fmp4_parse_init (p, len, &fmt, &error)) {
    g_autofree char *what = g_strdup_printf ("live-init: %s", error->message);
    violation (c, what);
    return;
  }
  if (strcmp (fmt.codec, codec) != 0) {
    violation (c, "live-init codec does not match its avcC");
    return;
  }
  live_stopped (c);   /* a new init segment begins a new stream */
  if (!c->live)
    return;           /* switched off meanwhile */
  c->live_fmt = fmt;
  c->live_init = TRUE;
  g_message ("Camera '%s': live stream started (%s)", c->cam->name, fmt.codec);
  if (fmt.audio_codec_fallback != NULL)
    g_warning ("Camera '%s': live audio announced as AAC-LC (mp4a.40.2): %s",
               c->cam->name, fmt.audio_codec_fallback);
  if (c->sup->live_func != NULL)
    c->sup->live_func (c->cam->id, NVR_LIVE_INIT, data, FALSE, fmt.codec, c->sup->live_data);
}

static void
on_live_fragment (Cam *c, GVariant *fields)
{
  g_autoptr (GVariant) v = g_variant_lookup_value (fields, "data", G_VARIANT_TYPE_BYTESTRING);
  if (v == NULL) {
    violation (c, "live-fragment without data");
    return;
  }
  g_autoptr (GBytes) data = g_variant_get_data_as_bytes (v);
  gsize len;
  const guint8 *p = g_bytes_get_data (data, &len);
  live_ack (c, len);
  if (!c->live || !c->live_init) {
    /* In flight when live was switched off, or after a stream ended: not an error. */
    if (c->live_dropped++ == 0)
      g_debug ("Camera '%s': live fragment without a stream dropped", c->cam->name);
    return;
  }
  gboolean key = FALSE;
  g_autoptr (GError) error = NULL;
  if (!nvr_fmp4_parse_fragment (p, len, &c->live_fmt, &key, &error)) {
    g_autofree char *what = g_strdup_printf ("live-fragment: %s", error->message);
    violation (c, what);
    return;
  }
  if (c->sup->live_func != NULL)
    c->sup->live_func (c->cam->id, NVR_LIVE_FRAGMENT, data, key, c->live_fmt.codec,
                       c->sup->live_data);
}

static void
on_message (NvrWireChannel *ch, const char *kind, GVariant *fields, gpointer data)
{
  Cam *c = data;
  if (strcmp (kind, "segment-opened") == 0)
    on_segment_opened (c, fields);
  else if (strcmp (kind, "segment-closed") == 0)
    on_segment_closed (c, fields);
  else if (strcmp (kind, "segment-fragment") == 0)
    on_segment_fragment (c, fields);
  else if (strcmp (kind, "state") == 0)
    on_state (c, fields);
  else if (strcmp (kind, "identity") == 0)
    on_identity (c, fields);
  else if (strcmp (kind, "motion") == 0)
    on_motion (c, fields);
  else if (strcmp (kind, "live-fragment") == 0)
    on_live_fragment (c, fields);
  else if (strcmp (kind, "live-init") == 0)
    on_live_init (c, fields);
  else if (strcmp (kind, "hello") == 0)
    g_debug ("Worker for camera '%s' says hello", c->cam->name);
  else
    g_debug ("Worker for camera '%s' sent an unknown message kind", c->cam->name);
}

static void
on_channel_closed (NvrWireChannel *ch, const GError *error, gpointer data)
{
  Cam *c = data;
  if (error != NULL && g_error_matches (error, NVR_WIRE_ERROR, NVR_WIRE_ERROR_CLOSED))
    g_debug ("Channel to the worker of camera '%s' closed: %s", c->cam->name, error->message);
  else if (error != NULL)
    violation (c, error->message);
  /* Otherwise the worker is exiting; its exit is handled in on_worker_exit(). */
}

typedef struct {
  NvrSupervisor *sup;
  NvrSegmentRow row;
} SettleJob;

static void
settle_done (GObject *src, GAsyncResult *res, gpointer data)
{
  SettleJob *job = data;
  g_auto (NvrProbeInfo) info = { 0 };
  g_autoptr (GError) error = NULL;
  if (!nvr_recover_probe_finish (res, &info, &error))
    g_warning ("Failed to probe segment '%s' left open by a dead worker: %s (it will be "
               "recovered at the next start)", job->row.path, error->message);
  else if (!nvr_recover_settle_segment (job->sup->catalog, job->sup->config->storage_root,
                                        &job->row, &info, &error))
    g_warning ("Failed to settle segment '%s': %s", job->row.path, error->message);
  job->sup->pending--;
  g_free (job->row.path);
  g_free (job);
}

/* The worker died with segments open: find out from the files what they hold. */
static void
settle_open_segments (Cam *c)
{
  fragments_flush (c->sup);   /* before the probe's index replaces them */
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, c->open);
  while (g_hash_table_iter_next (&it, NULL, &value)) {
    OpenSegment *o = value;
    SettleJob *job = g_new0 (SettleJob, 1);
    job->sup = c->sup;
    job->row.id = o->id;
    job->row.camera_id = c->cam->id;
    job->row.path = g_strdup (o->path);
    job->row.recording = TRUE;
    job->row.start_us = o->start_us;
    g_autofree char *abs_path = g_build_filename (c->sup->config->storage_root, o->path, NULL);
    c->sup->pending++;
    nvr_recover_probe_async (abs_path, NULL, settle_done, job);
  }
  g_hash_table_remove_all (c->open);
}

static gboolean
restart_cb (gpointer data)
{
  Cam *c = data;
  c->restart_source = 0;
  spawn_worker (c);
  return G_SOURCE_REMOVE;
}

static void
on_worker_exit (GObject *src, GAsyncResult *res, gpointer data)
{
  Cam *c = data;
  NvrSupervisor *sup = c->sup;
  GSubprocess *proc = G_SUBPROCESS (src);
  g_autoptr (GError) error = NULL;
  g_autofree char *how = NULL;
  g_subprocess_wait_finish (proc, res, &error);
  if (g_subprocess_get_if_signaled (proc))
    how = g_strdup_printf ("killed by signal %d", g_subprocess_get_term_sig (proc));
  else
    how = g_strdup_printf ("exited with status %d", g_subprocess_get_exit_status (proc));

  if (c->ch != NULL) {
    nvr_wire_channel_close (c->ch);
    g_clear_pointer (&c->ch, nvr_wire_channel_unref);
  }
  g_clear_object (&c->proc);
  c->past_reconnects += c->worker_reconnects;
  c->worker_reconnects = 0;
  settle_open_segments (c);
  event_end (c, c->ev_last_us);   /* the worker died mid-event: end it at its last motion */
  live_stopped (c);

  if (c->removed) {
    g_message ("Worker for removed camera '%s' %s", c->cam->name, how);
    g_ptr_array_remove_fast (sup->leaving, c);
    cam_free (c);
    return;
  }
  if (c->paused_by != NVR_PAUSE_NONE) {
    c->stopping = FALSE;
    set_state (c, "paused", pause_reason (c));
    return;
  }
  if (c->resume_on_exit) {
    /* The orderly stop of a pause that was switched off again meanwhile: not a crash. */
    c->resume_on_exit = FALSE;
    c->stopping = FALSE;
    spawn_worker (c);
    return;
  }
  if (c->stopping) {
    set_state (c, "stopped", NULL);
    return;
  }
  if (g_get_monotonic_time () - c->spawned_mono_us > HEALTHY_RUN_US)
    c->attempt = 0;
  NvrBackoffPolicy policy = { sup->config->backoff_initial_ms, sup->config->backoff_max_ms };
  gint64 delay_ms = nvr_backoff_delay_ms (&policy, c->attempt, g_random_int ());
  c->attempt = MIN (c->attempt + 1, 30u);
  c->restarts++;
  c->retry_in_ms = delay_ms;
  g_autofree char *reason = g_strdup_printf ("worker %s; restarting in %" G_GINT64_FORMAT " ms",
                                             how, delay_ms);
  set_state (c, "offline", reason);
  c->restart_source = g_timeout_add ((guint) delay_ms, restart_cb, c);
}

/* The camera's masks and zones, read fresh from the catalog (they change at run time). */
static void
add_motion_fields (Cam *c, GVariantBuilder *b)
{
  g_autofree char *masks = NULL, *zones = NULL;
  g_autoptr (GError) error = NULL;
  if (!nvr_catalog_camera_motion_get (c->sup->catalog, c->cam->id, &masks, &zones, &error))
    g_warning ("Failed to read the motion masks of camera '%s': %s; detecting without them",
               c->cam->name, error->message);
  g_variant_builder_add (b, "{sv}", "motion_masks", g_variant_new_string (masks ? masks : ""));
  g_variant_builder_add (b, "{sv}", "motion_zones", g_variant_new_string (zones ? zones : ""));
}

static GVariant *
worker_config (Cam *c)
{
  const NvrConfig *cfg = c->sup->config;
  NvrTransport transport = cfg->transport;
  if (g_strcmp0 (c->cam->transport, "default") != 0)
    nvr_transport_from_string (c->cam->transport, &transport);
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&b, "{sv}", "camera_id", g_variant_new_int64 (c->cam->id));
  g_variant_builder_add (&b, "{sv}", "name", g_variant_new_string (c->cam->name));
  g_variant_builder_add (&b, "{sv}", "main_url", g_variant_new_string (c->cam->main_url));
  g_variant_builder_add (&b, "{sv}", "user", g_variant_new_string (c->cam->username));
  g_variant_builder_add (&b, "{sv}", "password", g_variant_new_string (c->cam->password));
  g_variant_builder_add (&b, "{sv}", "storage_root", g_variant_new_string (cfg->storage_root));
  g_variant_builder_add (&b, "{sv}", "camera_dir", g_variant_new_string (c->camera_dir));
  g_variant_builder_add (&b, "{sv}", "segment_seconds", g_variant_new_uint32 (cfg->segment_seconds));
  g_variant_builder_add (&b, "{sv}", "transport",
                         g_variant_new_string (nvr_transport_to_string (transport)));
  g_variant_builder_add (&b, "{sv}", "watchdog_seconds",
                         g_variant_new_uint32 (cfg->watchdog_seconds));
  g_variant_builder_add (&b, "{sv}", "backoff_initial_ms",
                         g_variant_new_int64 (cfg->backoff_initial_ms));
  g_variant_builder_add (&b, "{sv}", "backoff_max_ms", g_variant_new_int64 (cfg->backoff_max_ms));
  g_variant_builder_add (&b, "{sv}", "detect", g_variant_new_boolean (c->detect));
  /* Stored per camera (catalog v9); recording audio is the worker's (docs/design/admin.md). */
  g_variant_builder_add (&b, "{sv}", "audio", g_variant_new_boolean (!c->cam->audio_off));
  g_variant_builder_add (&b, "{sv}", "sub_url",
                         g_variant_new_string (c->cam->sub_url ? c->cam->sub_url : ""));
  /* [motion] settings, under the names and types the worker reads (worker.c config_parse) */
  g_variant_builder_add (&b, "{sv}", "motion_threshold",
                         g_variant_new_double (cfg->motion_threshold));
  g_variant_builder_add (&b, "{sv}", "motion_min_area",
                         g_variant_new_double (cfg->motion_min_area));
  g_variant_builder_add (&b, "{sv}", "motion_start_frames",
                         g_variant_new_uint32 (cfg->motion_start_frames));
  g_variant_builder_add (&b, "{sv}", "motion_end_after_ms",
                         g_variant_new_int64 (cfg->motion_end_after_ms));
  g_variant_builder_add (&b, "{sv}", "motion_background_ms",
                         g_variant_new_int64 (cfg->motion_background_ms));
  g_variant_builder_add (&b, "{sv}", "motion_global_fraction",
                         g_variant_new_double (cfg->motion_global_fraction));
  g_variant_builder_add (&b, "{sv}", "motion_max_contrast_gain",
                         g_variant_new_double (cfg->motion_max_contrast_gain));
  g_variant_builder_add (&b, "{sv}", "motion_hw_decode",
                         g_variant_new_boolean (cfg->motion_hw_decode));
  add_motion_fields (c, &b);
  g_variant_builder_add (&b, "{sv}", "pinned", g_variant_new_boolean (c->pinned));
  nvr_identity_add_fields (&b, "pin_", &c->pin);
  return g_variant_builder_end (&b);
}

static void
spawn_worker (Cam *c)
{
  NvrSupervisor *sup = c->sup;
  int sv[2];
  g_autoptr (GError) error = NULL;
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    g_warning ("Failed to create a socketpair for camera '%s': %s", c->cam->name,
               g_strerror (errno));
    c->restart_source = g_timeout_add_seconds (5, restart_cb, c);
    return;
  }
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_take_fd (launcher, sv[1], 3);
  c->proc = g_subprocess_launcher_spawn (launcher, &error, sup->self_exe, "camera-worker",
                                         "--camera", c->cam->name, NULL);
  if (c->proc == NULL) {
    close (sv[0]);
    g_warning ("Failed to start the worker for camera '%s': %s", c->cam->name, error->message);
    c->restart_source = g_timeout_add_seconds (5, restart_cb, c);
    return;
  }
  c->spawned_mono_us = g_get_monotonic_time ();
  c->ch = nvr_wire_channel_new (sv[0], on_message, on_channel_closed, c);
  c->live_rx_bytes = 0;
  c->live_dropped = 0;
  if (!nvr_wire_channel_send (c->ch, "config", worker_config (c), &error))
    g_warning ("Failed to configure the worker for camera '%s': %s", c->cam->name,
               error->message);
  else if (c->live)
    nvr_wire_channel_send (c->ch, "live", g_variant_new_parsed ("{'on': <true>}"), NULL);
  g_subprocess_wait_async (c->proc, NULL, on_worker_exit, c);
  set_state (c, "starting", NULL);
}

NvrSupervisor *
nvr_supervisor_new (const NvrConfig *config, NvrCatalog *catalog)
{
  NvrSupervisor *sup = g_new0 (NvrSupervisor, 1);
  sup->config = config;
  sup->catalog = catalog;
  sup->self_exe = g_file_read_link ("/proc/self/exe", NULL);
  sup->cams = g_hash_table_new (g_int64_hash, g_int64_equal);
  sup->leaving = g_ptr_array_new ();
  sup->frag_batch = g_array_new (FALSE, FALSE, sizeof (NvrFragmentRow));
  return sup;
}

void
nvr_supervisor_free (NvrSupervisor *sup)
{
  if (sup == NULL)
    return;
  nvr_supervisor_shutdown (sup, 3000);
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, sup->cams);
  while (g_hash_table_iter_next (&it, NULL, &value))
    cam_free (value);
  g_hash_table_unref (sup->cams);
  for (guint i = 0; i < sup->leaving->len; i++)
    cam_free (sup->leaving->pdata[i]);
  g_ptr_array_unref (sup->leaving);
  fragments_flush (sup);
  g_array_unref (sup->frag_batch);
  g_free (sup->self_exe);
  g_free (sup);
}

void
nvr_supervisor_add (NvrSupervisor *sup, const NvrCameraRow *camera)
{
  if (g_hash_table_contains (sup->cams, &camera->id))
    return;
  Cam *c = g_new0 (Cam, 1);
  c->sup = sup;
  c->cam = camera_row_copy (camera);
  c->camera_dir = nvr_paths_camera_dir (camera->id,
                                       camera->dir_name ? camera->dir_name : camera->name);
  c->open = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                   (GDestroyNotify) open_segment_free);
  c->state = g_strdup ("starting");
  c->detect = !camera->detect_off;   /* kept in the catalog (v9) */
  c->reason = g_strdup ("");
  c->codec = g_strdup ("");
  c->since_us = g_get_real_time ();
  g_autoptr (GError) error = NULL;
  if (!nvr_catalog_identity_get (sup->catalog, camera->id, &c->pin, &c->pinned, &error) ||
      !nvr_identity_valid (&c->pin)) {
    /* Unpinned would let any camera be pinned: refuse to record instead. */
    g_warning ("Failed to read the identity of camera '%s': %s; not recording it",
               camera->name, error ? error->message : "malformed pin");
    set_state (c, "stopped", "could not read its pinned identity from the catalog");
    c->stopping = TRUE;
    g_hash_table_insert (sup->cams, &c->cam->id, c);
    return;
  }
  g_hash_table_insert (sup->cams, &c->cam->id, c);
  if (camera->paused_by != NVR_PAUSE_NONE) {
    /* Switched off before the restart: stays off, and says so, until switched on. */
    c->paused_by = camera->paused_by;
    c->paused_us = camera->paused_us;
    set_state (c, "paused", pause_reason (c));
    return;
  }
  spawn_worker (c);
}

static void
stop_worker (Cam *c)
{
  c->stopping = TRUE;
  c->resume_on_exit = FALSE;
  if (c->restart_source) {
    g_source_remove (c->restart_source);
    c->restart_source = 0;
  }
  if (c->ch != NULL && !nvr_wire_channel_send (c->ch, "stop", NULL, NULL) && c->proc != NULL)
    g_subprocess_send_signal (c->proc, SIGTERM);
}

gboolean
nvr_supervisor_update (NvrSupervisor *sup, const NvrCameraRow *camera)
{
  Cam *c = g_hash_table_lookup (sup->cams, &camera->id);
  if (c == NULL) {
    nvr_supervisor_add (sup, camera);
    return TRUE;
  }
  const NvrCameraRow *o = c->cam;
  gboolean changed = g_strcmp0 (o->name, camera->name) != 0 ||
                     g_strcmp0 (o->main_url, camera->main_url) != 0 ||
                     g_strcmp0 (o->sub_url, camera->sub_url) != 0 ||
                     g_strcmp0 (o->username, camera->username) != 0 ||
                     g_strcmp0 (o->password, camera->password) != 0 ||
                     g_strcmp0 (o->transport, camera->transport) != 0 ||
                     o->audio_off != camera->audio_off;
  /* The directory stays the one the camera was made with (catalog dir_name). */
  NvrCameraRow *copy = camera_row_copy (camera);
  if (copy->dir_name == NULL)
    copy->dir_name = g_strdup (o->dir_name ? o->dir_name : o->name);
  copy->paused_by = c->paused_by;
  copy->paused_us = c->paused_us;
  /* Contents swapped, not the struct: sup->cams is keyed by &c->cam->id. */
  NvrCameraRow old = *c->cam;
  *c->cam = *copy;
  *copy = old;
  nvr_camera_row_free (copy);
  if (!changed)
    return FALSE;
  g_message ("Camera '%s': settings changed; its worker restarts with them", c->cam->name);
  if (c->paused_by != NVR_PAUSE_NONE)
    return TRUE;   /* the next worker, when switched on, reads the new settings */
  if (c->proc != NULL) {
    stop_worker (c);
    c->resume_on_exit = TRUE;   /* an orderly stop, not a crash: start again at its exit */
  } else if (c->restart_source != 0) {
    /* Waiting to restart after a failure: now, with the new settings. */
    g_source_remove (c->restart_source);
    c->restart_source = 0;
    c->attempt = 0;
    spawn_worker (c);
  }
  /* Else stopped (its pinned identity could not be read): it stays stopped. */
  return TRUE;
}

void
nvr_supervisor_remove (NvrSupervisor *sup, gint64 camera_id)
{
  Cam *c = g_hash_table_lookup (sup->cams, &camera_id);
  if (c == NULL)
    return;
  g_hash_table_remove (sup->cams, &camera_id);
  c->removed = TRUE;
  c->live_init = FALSE;
  if (sup->live_func != NULL)
    sup->live_func (camera_id, NVR_LIVE_REMOVED, NULL, FALSE, NULL, sup->live_data);
  stop_worker (c);
  if (c->proc == NULL)
    cam_free (c);
  else
    g_ptr_array_add (sup->leaving, c);
}

static guint
running_workers (NvrSupervisor *sup)
{
  guint n = sup->leaving->len;
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, sup->cams);
  while (g_hash_table_iter_next (&it, NULL, &value))
    if (((Cam *) value)->proc != NULL)
      n++;
  return n;
}

void
nvr_supervisor_shutdown (NvrSupervisor *sup, int timeout_ms)
{
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, sup->cams);
  while (g_hash_table_iter_next (&it, NULL, &value))
    stop_worker (value);

  GMainContext *ctx = g_main_context_default ();
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  while (running_workers (sup) > 0 && g_get_monotonic_time () < deadline)
    if (!g_main_context_iteration (ctx, FALSE))
      g_usleep (10000);

  if (running_workers (sup) > 0) {
    g_warning ("%u worker(s) did not stop within %d ms: killing them", running_workers (sup),
               timeout_ms);
    g_hash_table_iter_init (&it, sup->cams);
    while (g_hash_table_iter_next (&it, NULL, &value))
      if (((Cam *) value)->proc != NULL)
        g_subprocess_force_exit (((Cam *) value)->proc);
    for (guint i = 0; i < sup->leaving->len; i++)
      if (((Cam *) sup->leaving->pdata[i])->proc != NULL)
        g_subprocess_force_exit (((Cam *) sup->leaving->pdata[i])->proc);
  }
  /* Wait for exits to be reaped and for probes of segments they left open. */
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while ((running_workers (sup) > 0 || sup->pending > 0) && g_get_monotonic_time () < deadline)
    if (!g_main_context_iteration (ctx, FALSE))
      g_usleep (10000);
  fragments_flush (sup);
}

void
nvr_supervisor_reset_identity (NvrSupervisor *sup, gint64 camera_id)
{
  Cam *c = g_hash_table_lookup (sup->cams, &camera_id);
  if (c == NULL)
    return;
  memset (&c->pin, 0, sizeof c->pin);
  c->pinned = FALSE;
  g_message ("Camera '%s': identity reset; the next contact pins it", c->cam->name);
  if (c->ch == NULL)
    return;   /* a restarted worker gets the empty pin in its config */
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&b, "{sv}", "pinned", g_variant_new_boolean (FALSE));
  nvr_identity_add_fields (&b, "pin_", &c->pin);
  g_autoptr (GError) error = NULL;
  if (!nvr_wire_channel_send (c->ch, "pin", g_variant_builder_end (&b), &error))
    g_warning ("Failed to tell the worker of camera '%s' about the reset: %s", c->cam->name,
               error->message);
}

void
nvr_supervisor_set_listener (NvrSupervisor *sup, const NvrSupervisorListener *listener,
                             gpointer data)
{
  sup->listener = *listener;
  sup->listener_data = data;
}

gboolean
nvr_supervisor_set_recording (NvrSupervisor *sup, gint64 camera_id, gboolean on,
                              NvrPauseSource by, GError **error)
{
  g_return_val_if_fail (on || by != NVR_PAUSE_NONE, FALSE);
  Cam *c = g_hash_table_lookup (sup->cams, &camera_id);
  if (c == NULL) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND,
                 "No camera with id %" G_GINT64_FORMAT, camera_id);
    return FALSE;
  }
  if (on == (c->paused_by == NVR_PAUSE_NONE))
    return TRUE;    /* already so; a second OFF keeps who paused it first, and when */
  /* The catalog first: a switch that could not be stored is not made, so what a restart
   * brings back is what the household saw. */
  gint64 now_us = g_get_real_time ();
  if (!nvr_catalog_camera_set_paused (sup->catalog, camera_id, on ? NVR_PAUSE_NONE : by, now_us,
                                      error))
    return FALSE;
  if (!on) {
    c->paused_by = by;
    c->paused_us = now_us;
    g_message ("Camera '%s': %s", c->cam->name, pause_reason (c));
    stop_worker (c);
    if (c->proc == NULL)
      set_state (c, "paused", pause_reason (c));
  } else {
    g_message ("Camera '%s': recording switched on (%s)", c->cam->name,
               by == NVR_PAUSE_MQTT ? "MQTT command" : "nvr cameras recording");
    c->paused_by = NVR_PAUSE_NONE;
    c->paused_us = 0;
    c->attempt = 0;
    if (c->proc != NULL) {
      c->resume_on_exit = TRUE;   /* the pause's worker is still closing its segment */
    } else {
      c->stopping = FALSE;
      if (c->restart_source == 0)
        spawn_worker (c);
    }
  }
  return TRUE;
}

gboolean
nvr_supervisor_set_detect (NvrSupervisor *sup, gint64 camera_id, gboolean on)
{
  Cam *c = g_hash_table_lookup (sup->cams, &camera_id);
  if (c == NULL)
    return FALSE;
  if (c->detect != on) {
    /* Stored first: a switched-off camera stays off across restarts (issue 13). */
    g_autoptr (GError) error = NULL;
    if (!nvr_catalog_camera_set_detect (sup->catalog, camera_id, on, &error)) {
      g_warning ("Failed to store the detection switch of camera '%s': %s", c->cam->name,
                 error->message);
      return FALSE;
    }
    g_message ("Camera '%s': motion detection switched %s", c->cam->name, on ? "on" : "off");
    c->detect = on;
    GVariantBuilder b;
    g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
    g_variant_builder_add (&b, "{sv}", "enabled", g_variant_new_boolean (on));
    if (c->ch != NULL)
      nvr_wire_channel_send (c->ch, "detect", g_variant_builder_end (&b), NULL);
    else
      g_variant_unref (g_variant_ref_sink (g_variant_builder_end (&b)));
  }
  return TRUE;
}

gboolean
nvr_supervisor_get_switches (NvrSupervisor *sup, gint64 camera_id, gboolean *recording,
                             gboolean *detect)
{
  Cam *c = g_hash_table_lookup (sup->cams, &camera_id);
  if (c == NULL)
    return FALSE;
  *recording = c->paused_by == NVR_PAUSE_NONE;
  *detect = c->detect;
  return TRUE;
}

static gint
compare_status (gconstpointer a, gconstpointer b)
{
  const NvrCameraStatus *x = *(NvrCameraStatus *const *) a, *y = *(NvrCameraStatus *const *) b;
  return (x->camera_id > y->camera_id) - (x->camera_id < y->camera_id);
}

GPtrArray *
nvr_supervisor_status (NvrSupervisor *sup)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) nvr_camera_status_free);
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, sup->cams);
  while (g_hash_table_iter_next (&it, NULL, &value)) {
    Cam *c = value;
    NvrCameraStatus *s = g_new0 (NvrCameraStatus, 1);
    s->camera_id = c->cam->id;
    s->name = g_strdup (c->cam->name);
    s->state = g_strdup (c->state);
    s->reason = g_strdup (c->reason);
    s->worker_restarts = c->restarts;
    s->reconnects = c->past_reconnects + c->worker_reconnects + c->restarts;
    s->codec = g_strdup (c->codec);
    s->width = c->width;
    s->height = c->height;
    s->since_us = c->since_us;
    s->paused_by = nvr_pause_source_to_string (c->paused_by);
    s->paused_us = c->paused_us;
    s->retry_in_ms = c->retry_in_ms;
    s->identity = c->pinned ? nvr_identity_describe (&c->pin) : g_strdup ("");
    s->worker_pid = c->proc ? g_ascii_strtoll (g_subprocess_get_identifier (c->proc), NULL, 10) : 0;
    g_ptr_array_add (out, s);
  }
  g_ptr_array_sort (out, compare_status);
  return out;
}

void
nvr_supervisor_motion_settings_changed (NvrSupervisor *sup, gint64 camera_id)
{
  Cam *c = g_hash_table_lookup (sup->cams, &camera_id);
  if (c == NULL || c->ch == NULL)
    return;   /* a worker started later reads them in its config */
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  add_motion_fields (c, &b);
  g_autoptr (GError) error = NULL;
  if (!nvr_wire_channel_send (c->ch, "motion-settings", g_variant_builder_end (&b), &error))
    g_warning ("Failed to send motion settings to the worker of camera '%s': %s", c->cam->name,
               error->message);
}

void
nvr_supervisor_set_live_func (NvrSupervisor *sup, NvrSupervisorLiveFunc func, gpointer user_data)
{
  sup->live_func = func;
  sup->live_data = user_data;
}

gboolean
nvr_supervisor_set_live (NvrSupervisor *sup, gint64 camera_id, gboolean on)
{
  Cam *c = g_hash_table_lookup (sup->cams, &camera_id);
  if (c == NULL)
    return FALSE;
  if (c->live == on)
    return TRUE;
  c->live = on;
  g_message ("Camera '%s': live view %s", c->cam->name, on ? "requested" : "no longer watched");
  if (!on)
    live_stopped (c);
  if (c->ch != NULL) {
    g_autoptr (GVariant) f = g_variant_ref_sink (g_variant_new_parsed ("{'on': <%b>}", on));
    g_autoptr (GError) error = NULL;
    if (!nvr_wire_channel_send (c->ch, "live", f, &error))
      g_warning ("Failed to switch live view of camera '%s': %s", c->cam->name, error->message);
  }
  return TRUE;
}
