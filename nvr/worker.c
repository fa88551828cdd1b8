/* worker — the camera worker process: connects to one camera, records its main stream into
 * fragmented MP4 segments (moof+mdat pairs kept on disk), and reports to the daemon over fd 3.
 * Threads: the GMainLoop (all state, all wire messages, pipeline build/teardown); GStreamer
 * streaming threads (only stamp times, copy caps and post to the main loop; naming a segment in
 * format-location-full is the one place they touch the disk: a stat and a mkdir; the tap after
 * the identity gate only hands buffer references to the live appsrc and the snapshot thread);
 * one sync thread (fdatasync of closed segments and their directories); one snapshot thread
 * (decode one keyframe, JPEG, write + rename snapshot.jpg).
 * Invariants: one pipeline per connection, never restarted; segment-closed is sent only after the
 * file and its directory are synced; no credential is ever logged or put in a URL; the recorder
 * (splitmuxsink) of a connection is created only after that connection's camera identity matched
 * the pin (docs/design/identity.md), so nothing is written for a camera that is not this one;
 * live fragments and snapshots come only from that accepted stream, and the live pipeline is
 * separate, so its failure never stops the recording.
 * Protocol and lifecycle: docs/design/worker.md. */
#define G_LOG_DOMAIN "nvr-worker"

#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/rtsp/gstrtspmessage.h>   /* the struct only: no libgstrtsp link */
#include <gst/video/video.h>

#include "backoff.h"
#include "events.h"
#include "fmp4.h"
#include "identity.h"
#include "motion.h"
#include "mp4probe.h"
#include "nvr-pipelines.h"
#include "paths.h"
#include "sandbox.h"
#include "wire.h"

#define WORKER_FD 3
/* How long a segment may take to close after EOS before the pipeline is torn down anyway. */
#define DRAIN_TIMEOUT_MS 2000
/* Longest an orderly exit may take, whatever is stuck. */
#define STOP_DEADLINE_MS 5000
/* mp4mux fragment length. Crash loss is at most the GOP splitmuxsink holds plus this. */
#define FRAGMENT_DURATION_MS 1000
/* splitmuxsink starts a new file when the next GOP would pass max-size-time; with a GOP that
 * divides segment_seconds exactly that is one GOP early. The slack lets such a GOP in. */
#define SEGMENT_SLACK_MS 250
#define RESOURCE_PREFIX "/org/hearth/pipelines/"
/* Motion: an update of an active event is sent at most this often. */
#define MOTION_UPDATE_US (2 * G_USEC_PER_SEC)
/* A failed motion stream is retried after this long; recording is not affected. */
#define MOTION_RETRY_MS 5000
/* No motion frame for this long lets an active event end by the detector's timer. */
#define MOTION_STALL_US (G_USEC_PER_SEC)
/* Live view (docs/design/auth.md "Live view"): mp4mux fragment length. mp4mux also cuts a
 * fragment at every keyframe, so every GOP starts a fragment a new viewer can begin with. */
#define LIVE_FRAGMENT_MS 500
/* A live fragment must fit one wire frame with room for the message around it. */
#define LIVE_MAX_FRAGMENT (NVR_WIRE_MAX_FRAME - 64u * 1024u)
/* Parsed video waiting in the live pipeline's appsrc; past it, frames are dropped until the
 * next keyframe (whole GOPs, never single frames). */
#define LIVE_MAX_QUEUED_BYTES (8u * 1024u * 1024u)
/* Live bytes posted from the muxer thread to the main loop and not yet handled. */
#define LIVE_MAX_POSTED_BYTES (8u * 1024u * 1024u)
/* Live bytes sent to the daemon and not yet acknowledged (`live-ack`): a quarter of the wire
 * queue, so live view can never crowd out segment reports. */
#define LIVE_MAX_IN_FLIGHT (NVR_WIRE_MAX_QUEUED / 4u)
/* Live audio (a second track when the recorder records audio): AAC waiting in the live
 * pipeline's audio appsrc; past it, audio buffers are dropped. */
#define LIVE_MAX_AUDIO_QUEUED_BYTES (256u * 1024u)
/* mp4mux waits for every track: when no audio went to the live muxer for this long while video
 * does, live restarts without audio for the rest of the connection (a browser's MSE player would
 * stall at the end of the buffered audio anyway). Bounds how long audio can hold live video. */
#define LIVE_AUDIO_GAP_US (G_USEC_PER_SEC)
/* A failed live pipeline is rebuilt after this long; recording is not affected. */
#define LIVE_RETRY_MS 2000
/* <camera_dir>/snapshot.jpg is refreshed from the first keyframe after this interval. */
#define SNAPSHOT_INTERVAL_US (3 * G_USEC_PER_SEC)
#define SNAPSHOT_NAME "snapshot.jpg"
/* Audio (docs/design/storage.md "Audio"): when nothing of the audio stream reached the recorder
 * for this long, audio ends for the connection (EOS into the recorder's audio pad) so that
 * splitmuxsink, which waits for every stream, never holds the video back for longer than this.
 * Not conditioned on video arriving: video held back by splitmuxsink stops arriving too (its
 * queue fills), and when the camera itself went silent the watchdog ends the connection. */
#define AUDIO_STALL_US (3 * G_USEC_PER_SEC)
/* Audio before the first video frame or overlapping what was recorded is dropped only when it
 * is less than this far off (audio_out_probe). */
#define AUDIO_TRIM_NS (2 * GST_SECOND)
/* Once the identity is accepted, the recorder waits at most this long for the audio branch's
 * format: mp4mux writes every track's sample description into its first moov, and a track
 * without one (no caps yet when video forced the header out) stalls the muxer. Without it the
 * connection records video only. */
#define AUDIO_CAPS_WAIT_US (2 * G_USEC_PER_SEC)
#define AUDIO_CAPS_POLL_MS 20

typedef enum {
  TRANSPORT_TCP,
  TRANSPORT_UDP,
  TRANSPORT_AUTO,   /* TCP first; UDP when a TCP attempt fails before any data */
} Transport;

/* The daemon's "config" message, validated. Immutable once set; read by streaming threads. */
typedef struct {
  gint64 camera_id;
  char *name;
  char *url;              /* main_url without userinfo: safe to log */
  char *host;             /* main_url's host: whose MAC the identity check looks up */
  char *user;
  char *password;         /* never logged; wiped on free */
  char *storage_root;     /* absolute */
  char *camera_dir;       /* relative to storage_root */
  guint segment_seconds;
  Transport transport;
  guint watchdog_seconds;
  NvrBackoffPolicy backoff;
  char *motion_url;       /* sub_url if given, else main_url; without userinfo */
  gboolean motion_sub;    /* motion_url is the sub-stream */
  gboolean detect;        /* motion detection on at start (the `detect` message switches it) */
  NvrMotionSettings motion;   /* validated */
  gboolean audio;         /* record the camera's audio track (config `audio` b, default on) */
  gboolean motion_hw_decode;  /* may decode motion's H.264 in hardware (`motion_hw_decode` b) */
} WorkerConfig;

typedef enum {
  PHASE_WAIT_CONFIG,
  PHASE_CONNECTING,     /* pipeline built, no video yet */
  PHASE_STREAMING,      /* parsed video is flowing */
  PHASE_DRAINING,       /* EOS sent into the recording branch, waiting ≤ DRAIN_TIMEOUT_MS */
  PHASE_BACKOFF,        /* no pipeline; retry timer armed */
  PHASE_EXITING,
} Phase;

/* One recording file, from format-location-full until its sync completes. */
typedef struct {
  char *rel;              /* relative to storage_root: what the daemon sees */
  char *abs;
  gint64 start_us;        /* wall clock of the first frame */
  guint64 seq;
  GstClockTime open_rt;   /* running time from splitmuxsink-fragment-opened */
  gboolean opened;
} Segment;

typedef struct _Worker Worker;

/* One decoded GRAY8 frame of the motion stream, copied out of the appsink. */
typedef struct {
  GstSample *sample;      /* its own deep copy of the buffer */
  gint64 wall_us;         /* wall clock of the frame, like a segment's start_us */
} MotionFrame;

/* The motion stream: its own small pipeline (rtspsrc of motion_url ! decode chain ! appsink),
 * built once the recording connection's identity was accepted and dropped with it; a failure
 * only retries motion. Refcounted like Conn: posted work checks `w->mo == m`. */
typedef struct {
  gatomicrefcount ref;
  Worker *w;
  GstElement *pipeline;            /* main loop */
  guint bus_watch;                 /* main loop */
  _Atomic gint64 last_data_us;     /* any thread: monotonic time of the last decoded frame */
  const char *hw;                  /* main loop: the hardware decoder in use (static), or NULL */
  _Atomic gint64 key_in_us;        /* any thread: monotonic time the first keyframe went to the
                                    * decoder; 0 = none yet */
  _Atomic gint64 last_in_us;       /* any thread: monotonic time of the last buffer into it */
  atomic_int video_selected;       /* rtspsrc thread */
  atomic_int pad_taken;            /* rtspsrc thread */
  GMutex lock;
  MotionFrame *pending;            /* lock: newest frame not yet processed; a newer one replaces
                                    * it (bounded to one frame) */
  guint dropped;                   /* lock */
  guint corrupted;                 /* main loop: frames the decoder marked corrupted, not fed */
} Mo;

/* One connection: a pipeline built for it and dropped with it. Refcounted because streaming
 * threads post work to the main loop that may run after teardown; such work checks
 * `w->conn == c` and does nothing when stale. */
typedef struct {
  gatomicrefcount ref;
  Worker *w;
  GstElement *pipeline;            /* main loop */
  GstElement *src;                 /* main loop */
  GstPad *branch_sink;             /* main loop; set once linked */
  GstElement *branch;              /* main loop: depay ! parse ! caps ! queue, gated */
  gulong gate_probe;               /* main loop: blocks the branch's output until identity ok */
  gboolean gate_seen;              /* main loop: the gate's first frame has been handled */
  NvrIdentity seen;                /* main loop: this connection's fingerprint (+ MAC once known) */
  char *peer;                      /* main loop: address whose MAC was looked up, for logs */
  guint bus_watch;                 /* main loop */
  guint drain_timer;               /* main loop */
  gboolean got_video;              /* main loop: parsed video reached the muxer queue */
  gboolean udp;                    /* main loop: transport of this attempt */
  Segment *current;                /* main loop: opened, not yet closed */
  _Atomic gint64 last_data_us;     /* any thread: monotonic time of the last RTP buffer */
  atomic_int draining;             /* any thread: drop incoming buffers */
  atomic_int video_selected;       /* rtspsrc thread: first video stream taken */
  atomic_int pad_taken;            /* rtspsrc thread: first video pad linked */
  atomic_int gate_posted;          /* streaming thread: the gate's first frame was posted */
  atomic_int size_w, size_h;       /* parse thread: the first caps' picture size */
  atomic_int size_changed;         /* parse thread: later caps changed it; drop everything */
  GMutex lock;
  GHashTable *segments;            /* lock: abs path -> Segment*, named but not yet closed */
  GstElement *live_src;            /* lock: the live pipeline's appsrc, fed by tap_probe */
  GstElement *live_asrc;           /* lock: its audio appsrc (NULL: live without audio) */
  _Atomic gint64 live_video_rt0;   /* tap thread: running time of live's first frame, or -1 */
  _Atomic gint64 live_pts_off;     /* tap thread: video PTS − running time (audio's PTS base) */
  _Atomic gint64 live_audio_us;    /* monotonic time audio last went to the live muxer */
  atomic_int live_audio_off;       /* live audio stalled: live is video-only on this connection */
  atomic_int live_need_key;        /* tap thread: drop frames until a keyframe */
  atomic_uint live_queue_drops;    /* tap thread: frames dropped because appsrc was full */
  _Atomic gint64 snap_last_us;     /* tap thread: monotonic time of the last snapshot taken */
  _Atomic gint64 live_key_tap_us;  /* tap thread: when the last keyframe went to the live mux */
  _Atomic gint64 live_key_age_us;  /* ... and how old it was then (RTP arrival → tap) */
  /* Audio (docs/design/storage.md "Audio"): optional, and never allowed to stop video. */
  atomic_int audio_selected;       /* rtspsrc thread: an audio stream we can record was chosen */
  atomic_int audio_pad_taken;      /* rtspsrc thread: its pad was seen */
  GstElement *abranch;             /* main loop: depay ! [decode ! encode] ! aacparse ! queue */
  GstPad *abranch_sink;            /* main loop */
  gulong audio_hold;               /* main loop: probe holding the branch's output until linked */
  atomic_int audio_start_told;     /* audio thread: the first recorded audio was logged */
  GstPad *rec_audio;               /* main loop: splitmuxsink's audio pad, requested with video */
  guint audio_wait;                /* main loop: timer polling for the audio format */
  gint64 audio_wait_since_us;      /* main loop */
  char *audio_codec;               /* main loop: "aac", "pcmu", "pcma" */
  atomic_int audio_linked;         /* any thread: the branch is linked to rec_audio */
  atomic_int audio_lost;           /* any thread: audio ended for this connection, drop it all */
  gboolean audio_eos_sent;         /* main loop */
  _Atomic gint64 audio_out_us;     /* audio thread: monotonic time of the last buffer to rec */
  GstCaps *audio_caps;             /* lock: the first caps given to the recorder */
  GstClockTime audio_next_rt;      /* audio thread: running time where the last buffer ended */
  _Atomic gint64 video_start_rt;   /* gate thread: running time of the first video frame; -1 */
} Conn;

struct _Worker {
  GMainLoop *loop;
  NvrWireChannel *ch;              /* NULL once the daemon is gone */
  char *camera_arg;
  WorkerConfig cfg;
  gboolean configured;
  Phase phase;
  Conn *conn;
  guint attempt;                   /* backoff attempt, reset when video flows */
  guint reconnects;
  gboolean use_udp;                /* TRANSPORT_AUTO: what the next attempt uses */
  char *reason;                    /* why the last connection ended */
  NvrIdentity pin;                 /* the pinned identity (from config, then first contact) */
  gboolean pinned;
  char *mismatch;                  /* why the last connection was refused as another camera */
  guint retry_source, watchdog_source, deadline_source;
  gboolean stop_requested;
  GThreadPool *sync_pool;
  guint syncs_pending;
  GMutex name_lock;                /* guards next_seq and the exists-check in naming */
  guint64 next_seq;
  int exit_status;
  /* motion (main loop; docs/design/motion.md "Wiring") */
  gboolean detect;                 /* switched on */
  NvrMotion *motion;               /* the detector; kept across motion pipelines */
  Mo *mo;                          /* running motion pipeline, or NULL */
  guint motion_retry_source;
  gboolean hw_failed;              /* the hardware decoder stalled or failed: software from now */
  gint64 motion_last_wall_us;      /* timestamp of the last frame processed */
  gint64 motion_last_mono_us;      /* monotonic time it was processed */
  gboolean ev_active;              /* an event was started and not yet ended */
  gint64 ev_start_us;
  gint64 ev_last_us;               /* last motion frame of the event */
  NvrMotionResult ev_res;          /* latest result of the event (peaks, zones) */
  double ev_box[4];                /* box of the event's largest-area frame */
  gint64 ev_sent_mono_us;          /* when the last start/update was sent */
  guint ev_sent_zones;
  double ev_sent_score;
  guint thumbs_pending;
  guint thumb_seq;
  /* live view (main loop; docs/design/auth.md "Live view") */
  gboolean live_on;                /* the daemon asked for the live branch (`live` message) */
  struct _Live *live;              /* running live pipeline, or NULL */
  guint live_retry_source;
  gboolean live_refused_logged;
  guint64 live_sent_bytes;         /* live payload bytes sent to the daemon */
  guint64 live_acked_bytes;        /* ... and acknowledged by it (`live-ack`) */
  gboolean live_skip;              /* a fragment was dropped: wait for a key fragment */
  guint live_dropped;              /* fragments dropped since the last log line */
  guint live_lat_n;                /* key fragments measured: arrival of their keyframe at */
  gint64 live_lat_sum_us, live_lat_min_us, live_lat_max_us;   /* rtspsrc → sent */
  gint64 live_age_sum_us;          /* of which: rtspsrc → tap (jitter buffer, depay, parse) */
  /* snapshots: one job at a time on snap_pool */
  GThreadPool *snap_pool;
  atomic_int snap_busy;            /* any thread: a snapshot job is queued or running */
};

/* ---- small helpers ---- */

static void
segment_free (Segment *s)
{
  if (s == NULL)
    return;
  g_free (s->rel);
  g_free (s->abs);
  g_free (s);
}

static Conn *
conn_ref (Conn *c)
{
  g_atomic_ref_count_inc (&c->ref);
  return c;
}

static void
conn_unref (Conn *c)
{
  if (c == NULL || !g_atomic_ref_count_dec (&c->ref))
    return;
  g_hash_table_unref (c->segments);
  g_mutex_clear (&c->lock);
  g_free (c->peer);
  g_free (c->audio_codec);
  if (c->audio_caps != NULL)
    gst_caps_unref (c->audio_caps);
  g_free (c);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Conn, conn_unref)

static void
config_clear (WorkerConfig *cfg)
{
  g_free (cfg->name);
  g_free (cfg->url);
  g_free (cfg->host);
  g_free (cfg->user);
  if (cfg->password != NULL) {
    explicit_bzero (cfg->password, strlen (cfg->password));
    g_free (cfg->password);
  }
  g_free (cfg->storage_root);
  g_free (cfg->camera_dir);
  g_free (cfg->motion_url);
  memset (cfg, 0, sizeof *cfg);
}

static void
send_msg (Worker *w, const char *kind, GVariant *fields)
{
  g_autoptr (GVariant) f = g_variant_ref_sink (fields);
  if (w->ch == NULL)
    return;
  g_autoptr (GError) error = NULL;
  if (!nvr_wire_channel_send (w->ch, kind, f, &error))
    g_warning ("Failed to send '%s' to the daemon: %s", kind, error->message);
}

static void
send_state (Worker *w, const char *state, const char *reason, const char *codec, int width,
            int height, gint64 retry_in_ms)
{
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "state", g_variant_new_string (state));
  g_variant_builder_add (&b, "{sv}", "reason", g_variant_new_string (reason ? reason : ""));
  g_variant_builder_add (&b, "{sv}", "reconnects", g_variant_new_uint32 (w->reconnects));
  g_variant_builder_add (&b, "{sv}", "codec", g_variant_new_string (codec ? codec : ""));
  g_variant_builder_add (&b, "{sv}", "width", g_variant_new_int32 (width));
  g_variant_builder_add (&b, "{sv}", "height", g_variant_new_int32 (height));
  g_variant_builder_add (&b, "{sv}", "retry_in_ms", g_variant_new_int64 (retry_in_ms));
  g_message ("Camera '%s': %s%s%s", w->cfg.name ? w->cfg.name : w->camera_arg, state,
             reason && *reason ? ": " : "", reason ? reason : "");
  send_msg (w, "state", g_variant_builder_end (&b));
}

/* Loads a pipeline template from the compiled-in resource. */
static char *
load_template (const char *name, GError **error)
{
  g_autofree char *path = g_strconcat (RESOURCE_PREFIX, name, NULL);
  g_autoptr (GBytes) bytes = g_resource_lookup_data (nvr_pipelines_get_resource (), path,
                                                     G_RESOURCE_LOOKUP_FLAGS_NONE, error);
  if (bytes == NULL)
    return NULL;
  gsize size;
  const char *data = g_bytes_get_data (bytes, &size);
  return g_strstrip (g_strndup (data, size));
}

/* A short, human-readable reason for a pipeline error. GStreamer's texts carry the URL, which
 * has no userinfo (see parse_url), so they are safe to show. */
static char *
error_reason (const GError *err, const char *debug)
{
  const char *d = debug ? debug : "";
  if (strstr (err->message, "No supported stream") != NULL)   /* SETUP refused every transport */
    return g_strdup ("camera refused the transport");
  if (err->domain == GST_RESOURCE_ERROR) {
    if (err->code == GST_RESOURCE_ERROR_NOT_FOUND || strstr (d, "404") != NULL)
      return g_strdup ("404 not found");
    if (err->code == GST_RESOURCE_ERROR_NOT_AUTHORIZED || strstr (d, "401") != NULL)
      return g_strdup ("401 unauthorized");
    if (strstr (d, "refused") != NULL)
      return g_strdup ("connection refused");
    if (strstr (d, "Failed to connect") != NULL)   /* rtspsrc's text for refused/unreachable */
      return g_strdup ("could not connect (refused or unreachable)");
    if (strstr (d, "461") != NULL || strstr (d, "Unsupported transport") != NULL)
      return g_strdup ("transport refused by the camera");
    if (strstr (d, "timeout") != NULL || strstr (d, "timed out") != NULL)
      return g_strdup ("connection timed out");
    if (err->code == GST_RESOURCE_ERROR_NO_SPACE_LEFT)
      return g_strdup ("disk full");
  }
  return g_strdup (err->message);
}

/* ---- config ---- */

/* Splits userinfo off @url. On success *clean has no userinfo; credentials found in the URL are
 * returned only if the config did not give any. Never puts @url in an error. */
static gboolean
parse_url (const char *url, char **clean, char **host, char **user, char **password,
           GError **error)
{
  g_autoptr (GUri) uri = g_uri_parse (url, G_URI_FLAGS_HAS_PASSWORD | G_URI_FLAGS_ENCODED, NULL);
  const char *scheme = uri ? g_uri_get_scheme (uri) : NULL;
  if (uri == NULL || scheme == NULL || g_uri_get_host (uri) == NULL ||
      !(g_ascii_strcasecmp (scheme, "rtsp") == 0 || g_ascii_strcasecmp (scheme, "rtsps") == 0)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "main_url is not an rtsp:// URL (not shown: it may hold a password)");
    return FALSE;
  }
  *host = g_strdup (g_uri_get_host (uri));
  *clean = g_uri_join (G_URI_FLAGS_ENCODED, scheme, NULL, g_uri_get_host (uri),
                       g_uri_get_port (uri), g_uri_get_path (uri), g_uri_get_query (uri), NULL);
  const char *u = g_uri_get_user (uri), *p = g_uri_get_password (uri);
  *user = u ? g_uri_unescape_string (u, NULL) : NULL;
  *password = p ? g_uri_unescape_string (p, NULL) : NULL;
  return TRUE;
}

static gboolean
relative_dir_valid (const char *dir)
{
  if (dir == NULL || *dir == '\0' || g_path_is_absolute (dir))
    return FALSE;
  g_auto (GStrv) parts = g_strsplit (dir, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (*parts[i] == '\0' || strcmp (parts[i], ".") == 0 || strcmp (parts[i], "..") == 0)
      return FALSE;
  return TRUE;
}

static gboolean
config_parse (GVariant *f, WorkerConfig *cfg, GError **error)
{
  memset (cfg, 0, sizeof *cfg);
  cfg->camera_id = nvr_wire_get_int64 (f, "camera_id", 0);
  cfg->name = g_strdup (nvr_wire_get_str (f, "name", ""));
  cfg->user = g_strdup (nvr_wire_get_str (f, "user", ""));
  cfg->password = g_strdup (nvr_wire_get_str (f, "password", ""));
  cfg->storage_root = g_strdup (nvr_wire_get_str (f, "storage_root", ""));
  cfg->camera_dir = g_strdup (nvr_wire_get_str (f, "camera_dir", ""));
  gint64 seg = nvr_wire_get_int64 (f, "segment_seconds", 60);
  gint64 wd = nvr_wire_get_int64 (f, "watchdog_seconds", 8);
  cfg->backoff.initial_ms = nvr_wire_get_int64 (f, "backoff_initial_ms", 500);
  cfg->backoff.max_ms = nvr_wire_get_int64 (f, "backoff_max_ms", 30000);
  const char *transport = nvr_wire_get_str (f, "transport", "tcp");

  const char *bad = NULL;
  if (!nvr_paths_camera_name_valid (cfg->name))
    bad = "name";
  else if (!g_path_is_absolute (cfg->storage_root))
    bad = "storage_root";
  else if (!relative_dir_valid (cfg->camera_dir))
    bad = "camera_dir";
  else if (seg < 1 || seg > 24 * 3600)
    bad = "segment_seconds";
  else if (wd < 2 || wd > 600)
    bad = "watchdog_seconds";
  else if (cfg->backoff.initial_ms < 1 || cfg->backoff.max_ms < cfg->backoff.initial_ms)
    bad = "backoff_initial_ms/backoff_max_ms";
  if (bad != NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "Invalid config field '%s'",
                 bad);
    return FALSE;
  }
  if (strcmp (transport, "tcp") == 0)
    cfg->transport = TRANSPORT_TCP;
  else if (strcmp (transport, "udp") == 0)
    cfg->transport = TRANSPORT_UDP;
  else if (strcmp (transport, "auto") == 0)
    cfg->transport = TRANSPORT_AUTO;
  else {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "Invalid config field 'transport': '%s'", transport);
    return FALSE;
  }
  cfg->segment_seconds = (guint) seg;
  cfg->watchdog_seconds = (guint) wd;

  g_autofree char *url_user = NULL;
  g_autofree char *url_password = NULL;
  if (!parse_url (nvr_wire_get_str (f, "main_url", ""), &cfg->url, &cfg->host, &url_user,
                  &url_password, error))
    return FALSE;
  if (*cfg->user == '\0' && url_user != NULL) {
    g_free (cfg->user);
    cfg->user = g_steal_pointer (&url_user);
    explicit_bzero (cfg->password, strlen (cfg->password));
    g_free (cfg->password);
    cfg->password = g_strdup (url_password ? url_password : "");
  }
  if (url_password != NULL)
    explicit_bzero (url_password, strlen (url_password));

  /* Motion: the sub-stream when there is one (credentials are the camera's, as for main). */
  const char *sub = nvr_wire_get_str (f, "sub_url", "");
  if (*sub != '\0') {
    g_autofree char *h = NULL, *u = NULL, *p = NULL;
    if (!parse_url (sub, &cfg->motion_url, &h, &u, &p, NULL)) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "Invalid config field 'sub_url'");
      return FALSE;
    }
    if (p != NULL)
      explicit_bzero (p, strlen (p));
    cfg->motion_sub = TRUE;
  } else {
    cfg->motion_url = g_strdup (cfg->url);
  }
  g_autoptr (GVariant) det = g_variant_lookup_value (f, "detect", G_VARIANT_TYPE_BOOLEAN);
  cfg->detect = det == NULL || g_variant_get_boolean (det);
  g_autoptr (GVariant) au = g_variant_lookup_value (f, "audio", G_VARIANT_TYPE_BOOLEAN);
  cfg->audio = au == NULL || g_variant_get_boolean (au);
  g_autoptr (GVariant) hw = g_variant_lookup_value (f, "motion_hw_decode", G_VARIANT_TYPE_BOOLEAN);
  cfg->motion_hw_decode = hw == NULL || g_variant_get_boolean (hw);
  NvrMotionSettings *ms = &cfg->motion;
  nvr_motion_settings_init (ms);
  g_variant_lookup (f, "motion_threshold", "d", &ms->threshold);
  g_variant_lookup (f, "motion_min_area", "d", &ms->min_area);
  g_variant_lookup (f, "motion_global_fraction", "d", &ms->global_fraction);
  g_variant_lookup (f, "motion_max_contrast_gain", "d", &ms->max_contrast_gain);
  ms->start_frames = (guint) CLAMP (nvr_wire_get_int64 (f, "motion_start_frames",
                                                        ms->start_frames), 0, G_MAXINT);
  ms->end_after_ms = nvr_wire_get_int64 (f, "motion_end_after_ms", ms->end_after_ms);
  ms->background_ms = nvr_wire_get_int64 (f, "motion_background_ms", ms->background_ms);
  g_autoptr (GError) merr = NULL;
  if (!nvr_events_polygons_from_json (nvr_wire_get_str (f, "motion_masks", ""), FALSE, ms,
                                      &merr) ||
      !nvr_events_polygons_from_json (nvr_wire_get_str (f, "motion_zones", ""), TRUE, ms,
                                      &merr) ||
      !nvr_motion_settings_validate (ms, &merr)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "Invalid config field 'motion_*': %s", merr->message);
    return FALSE;
  }
  return TRUE;
}

/* ---- segment naming (streaming thread) ---- */

/* Wall clock of @sample's first frame: now − (clock time − (base time + running time)). */
static gint64
sample_wall_us (GstElement *pipeline, GstSample *sample)
{
  gint64 now_us = g_get_real_time ();
  GstBuffer *buf = sample ? gst_sample_get_buffer (sample) : NULL;
  const GstSegment *seg = sample ? gst_sample_get_segment (sample) : NULL;
  if (buf == NULL || seg == NULL)
    return now_us;
  GstClockTime ts = GST_BUFFER_PTS_IS_VALID (buf) ? GST_BUFFER_PTS (buf) : GST_BUFFER_DTS (buf);
  GstClockTime rt = gst_segment_to_running_time (seg, GST_FORMAT_TIME, ts);
  g_autoptr (GstClock) clock = gst_element_get_clock (pipeline);
  if (clock == NULL || !GST_CLOCK_TIME_IS_VALID (rt))
    return now_us;
  GstClockTime base = gst_element_get_base_time (pipeline);
  gint64 age_ns = (gint64) gst_clock_get_time (clock) - (gint64) (base + rt);
  /* The frame waited in splitmuxsink for its GOP to complete; anything outside a minute means
   * the clocks disagree, and now is the better label. */
  if (age_ns < 0 || age_ns > 60 * GST_SECOND)
    return now_us;
  return now_us - age_ns / 1000;
}

static gchar *
on_format_location_full (GstElement *splitmux, guint fragment_id, GstSample *first,
                         gpointer data)
{
  Conn *c = data;
  Worker *w = c->w;
  const WorkerConfig *cfg = &w->cfg;
  Segment *s = g_new0 (Segment, 1);
  s->start_us = sample_wall_us (c->pipeline, first);

  g_mutex_lock (&w->name_lock);
  for (guint tries = 0; tries < 1000; tries++) {
    g_free (s->rel);
    g_free (s->abs);
    s->seq = w->next_seq++;
    s->rel = nvr_paths_segment (cfg->camera_dir, s->start_us, s->seq);
    s->abs = g_build_filename (cfg->storage_root, s->rel, NULL);
    if (!g_file_test (s->abs, G_FILE_TEST_EXISTS))
      break;
  }
  g_mutex_unlock (&w->name_lock);

  g_autofree char *dir = g_path_get_dirname (s->abs);
  if (g_mkdir_with_parents (dir, 0750) != 0)
    g_warning ("Failed to create '%s': %s", dir, g_strerror (errno));   /* filesink will fail */

  char *location = g_strdup (s->abs);
  g_mutex_lock (&c->lock);
  g_hash_table_replace (c->segments, g_strdup (s->abs), s);
  g_mutex_unlock (&c->lock);
  return location;
}

/* ---- closing segments: the sync thread ---- */

typedef struct {
  Worker *w;
  Segment *seg;
  gint64 end_us;
  gint64 duration_us;
  gboolean forced;        /* torn down without a clean close: measure it with the probe */
  /* results */
  guint64 bytes;
  char *sync_error;
} SyncJob;

static int
sync_path (const char *path, gboolean is_dir, guint64 *size)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | (is_dir ? O_DIRECTORY : 0));
  if (fd < 0)
    return errno;
  int rc = is_dir ? fsync (fd) : fdatasync (fd);
  int saved = rc != 0 ? errno : 0;
  struct stat st;
  if (size != NULL && fstat (fd, &st) == 0)
    *size = (guint64) st.st_size;
  close (fd);
  return saved;
}

static gboolean sync_job_done (gpointer data);

static void
sync_job_run (gpointer data, gpointer user_data)
{
  SyncJob *j = data;
  if (j->forced) {
    NvrMp4Info info;
    g_autoptr (GError) error = NULL;
    if (nvr_mp4probe_file (j->seg->abs, &info, &error)) {
      j->duration_us = info.duration_us;
      j->end_us = j->seg->start_us + info.duration_us;
    } else {
      /* Deleting is the daemon's job (row and file in its crash-safe order): report it as
       * holding nothing playable and leave it. */
      g_message ("Segment '%s' holds no playable video: %s", j->seg->rel, error->message);
      j->duration_us = 0;
      j->end_us = j->seg->start_us;
    }
  }
  int err = sync_path (j->seg->abs, FALSE, &j->bytes);
  if (err == ENOENT) {
    j->bytes = 0;
    err = 0;
  }
  g_autofree char *dir = g_path_get_dirname (j->seg->abs);
  g_autofree char *parent = g_path_get_dirname (dir);
  if (err == 0)
    err = sync_path (dir, TRUE, NULL);
  if (err == 0)
    err = sync_path (parent, TRUE, NULL);   /* the date directory may be new */
  if (err != 0)
    j->sync_error = g_strdup (g_strerror (err));
  g_main_context_invoke (NULL, sync_job_done, j);
}

static void worker_maybe_exit (Worker *w);

static gboolean
sync_job_done (gpointer data)
{
  SyncJob *j = data;
  Worker *w = j->w;
  if (j->sync_error != NULL)
    g_warning ("Failed to sync '%s': %s", j->seg->rel, j->sync_error);
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "path", g_variant_new_string (j->seg->rel));
  g_variant_builder_add (&b, "{sv}", "start_us", g_variant_new_int64 (j->seg->start_us));
  g_variant_builder_add (&b, "{sv}", "end_us", g_variant_new_int64 (j->end_us));
  g_variant_builder_add (&b, "{sv}", "duration_us", g_variant_new_int64 (j->duration_us));
  g_variant_builder_add (&b, "{sv}", "bytes", g_variant_new_uint64 (j->bytes));
  if (j->sync_error != NULL)
    g_variant_builder_add (&b, "{sv}", "sync_error", g_variant_new_string (j->sync_error));
  g_message ("Segment closed: %s (%" G_GINT64_FORMAT " ms, %" G_GUINT64_FORMAT " bytes%s)",
             j->seg->rel, j->duration_us / 1000, j->bytes, j->forced ? ", after a forced stop" : "");
  send_msg (w, "segment-closed", g_variant_builder_end (&b));
  segment_free (j->seg);
  g_free (j->sync_error);
  g_free (j);
  w->syncs_pending--;
  worker_maybe_exit (w);
  return G_SOURCE_REMOVE;
}

static void
queue_sync (Worker *w, Segment *seg, gint64 duration_us, gboolean forced)
{
  SyncJob *j = g_new0 (SyncJob, 1);
  j->w = w;
  j->seg = seg;
  j->duration_us = MAX (duration_us, 0);
  j->end_us = seg->start_us + j->duration_us;
  j->forced = forced;
  w->syncs_pending++;
  g_thread_pool_push (w->sync_pool, j, NULL);
}

/* ---- connection lifecycle (main loop) ---- */

static void worker_connect (Worker *w);
static void conn_fail (Worker *w, const char *reason);
static void motion_start (Worker *w);
static void motion_stop (Worker *w);
static void motion_tick (Worker *w);
static void live_start (Worker *w);
static void live_stop (Worker *w);
static void live_audio_ended (Worker *w);
static GstPadProbeReturn tap_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data);

static void
conn_teardown (Worker *w)
{
  Conn *c = w->conn;
  if (c == NULL)
    return;
  motion_stop (w);   /* the motion stream lives no longer than the connection it follows */
  live_stop (w);     /* nor does the live pipeline */
  if (c->drain_timer)
    g_source_remove (c->drain_timer);
  c->drain_timer = 0;
  if (c->bus_watch)
    g_source_remove (c->bus_watch);
  c->bus_watch = 0;
  atomic_store (&c->draining, 1);
  gst_element_set_state (c->pipeline, GST_STATE_NULL);
  g_clear_object (&c->branch_sink);
  g_clear_object (&c->abranch_sink);
  g_clear_object (&c->rec_audio);
  if (c->audio_wait)
    g_source_remove (c->audio_wait);
  c->audio_wait = 0;
  c->abranch = NULL;  /* owned by the pipeline */
  c->audio_hold = 0;
  c->branch = NULL;   /* owned by the pipeline */
  c->gate_probe = 0;
  g_clear_object (&c->pipeline);
  c->src = NULL;

  /* Segments that did not close cleanly are fragmented files now: measure and report them. */
  g_mutex_lock (&c->lock);
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init (&it, c->segments);
  while (g_hash_table_iter_next (&it, &key, &value)) {
    g_hash_table_iter_steal (&it);
    g_free (key);
    queue_sync (w, value, 0, TRUE);
  }
  g_mutex_unlock (&c->lock);
  c->current = NULL;

  if (w->cfg.transport == TRANSPORT_AUTO && !c->got_video) {
    w->use_udp = !c->udp;
    g_message ("No video over %s; next attempt uses %s", c->udp ? "UDP" : "TCP",
               w->use_udp ? "UDP" : "TCP");
  }
  w->conn = NULL;
  conn_unref (c);
}

static gboolean
on_retry (gpointer data)
{
  Worker *w = data;
  w->retry_source = 0;
  w->reconnects++;
  worker_connect (w);
  return G_SOURCE_REMOVE;
}

/* After a connection is gone: exit if asked to, else back off and rebuild. */
static void
after_teardown (Worker *w)
{
  if (w->stop_requested) {
    w->phase = PHASE_EXITING;
    worker_maybe_exit (w);
    return;
  }
  gint64 delay = nvr_backoff_delay_ms (&w->cfg.backoff, w->attempt, g_random_int ());
  if (w->attempt < 32)
    w->attempt++;
  w->phase = PHASE_BACKOFF;
  send_state (w, w->mismatch != NULL ? "identity-mismatch" : "backoff",
              w->mismatch != NULL ? w->mismatch : w->reason, "", 0, 0, delay);
  w->retry_source = g_timeout_add ((guint) MIN (delay, G_MAXUINT), on_retry, w);
}

static void
drain_finish (Worker *w)
{
  if (w->phase != PHASE_DRAINING)
    return;
  conn_teardown (w);
  after_teardown (w);
}

static gboolean
on_drain_timeout (gpointer data)
{
  Worker *w = data;
  if (w->conn != NULL) {
    w->conn->drain_timer = 0;
    g_warning ("Segment did not close within %d ms; tearing down", DRAIN_TIMEOUT_MS);
  }
  drain_finish (w);
  return G_SOURCE_REMOVE;
}

static gpointer
push_eos_thread (gpointer data)
{
  GstPad *pad = data;
  /* Takes the pad's stream lock, which a streaming thread stuck on a full queue may hold:
   * hence not on the main loop. Teardown unblocks it by flushing. */
  gst_pad_send_event (pad, gst_event_new_eos ());
  gst_object_unref (pad);
  return NULL;
}

/* The connection ended (error, EOS, watchdog, stop): close the segment, then tear down. */
static void
conn_fail (Worker *w, const char *reason)
{
  Conn *c = w->conn;
  if (c == NULL || (w->phase != PHASE_CONNECTING && w->phase != PHASE_STREAMING))
    return;
  g_free (w->reason);
  w->reason = g_strdup (reason);
  if (w->mismatch != NULL && strcmp (reason, w->mismatch) != 0)
    g_clear_pointer (&w->mismatch, g_free);   /* this attempt ended for another reason */
  w->phase = PHASE_DRAINING;
  atomic_store (&c->draining, 1);

  g_mutex_lock (&c->lock);
  gboolean recording = g_hash_table_size (c->segments) > 0;
  g_mutex_unlock (&c->lock);
  if (!recording || c->branch_sink == NULL) {
    drain_finish (w);
    return;
  }
  g_thread_unref (g_thread_new ("nvr-eos", push_eos_thread, gst_object_ref (c->branch_sink)));
  /* The recorder waits for every stream's EOS: audio's goes through its branch (after what it
   * holds), or straight to the recorder's pad when no branch ever linked to it. */
  if (c->rec_audio != NULL && !c->audio_eos_sent) {
    c->audio_eos_sent = TRUE;
    GstPad *target = atomic_load (&c->audio_linked) && !atomic_load (&c->audio_lost)
        ? c->abranch_sink : c->rec_audio;
    g_thread_unref (g_thread_new ("nvr-eos", push_eos_thread, gst_object_ref (target)));
  }
  c->drain_timer = g_timeout_add (DRAIN_TIMEOUT_MS, on_drain_timeout, w);
}

static void on_file_fragment (Worker *w, const GstStructure *st);

/* Audio ends for this connection (stalled, garbage, a format change, an element error): the
 * recorder's audio pad gets EOS so splitmuxsink stops waiting for it, and every later audio
 * buffer is dropped. The files go on with video only; the next connection tries audio again.
 * Main loop. */
static void audio_release (Conn *c);

static void
audio_end (Worker *w, Conn *c, const char *why)
{
  atomic_store (&c->audio_lost, 1);
  audio_release (c);   /* what the branch held is dropped now (audio_out_probe) */
  live_audio_ended (w);
  if (c->audio_eos_sent)
    return;
  c->audio_eos_sent = TRUE;
  g_message ("Audio (%s) stops for this connection: %s; video goes on",
             c->audio_codec ? c->audio_codec : "?", why);
  if (c->rec_audio != NULL)
    g_thread_unref (g_thread_new ("nvr-eos", push_eos_thread, gst_object_ref (c->rec_audio)));
}

typedef struct {
  Conn *c;
  char *why;
} AudioEnd;

static gboolean
on_audio_end (gpointer data)
{
  AudioEnd *ae = data;
  if (ae->c->w->conn == ae->c && ae->c->w->phase == PHASE_STREAMING)
    audio_end (ae->c->w, ae->c, ae->why);
  conn_unref (ae->c);
  g_free (ae->why);
  g_free (ae);
  return G_SOURCE_REMOVE;
}

/* Audio thread: one recorded AAC buffer (running time @rt) also goes to the live muxer, when live
 * has an audio track, from live's first video frame on, restamped on video's PTS base; dropped,
 * never blocking, when the audio appsrc is full. */
static void
live_audio_push (Conn *c, GstBuffer *buf, guint64 rt)
{
  g_mutex_lock (&c->lock);
  GstElement *asrc = c->live_asrc ? gst_object_ref (c->live_asrc) : NULL;
  g_mutex_unlock (&c->lock);
  if (asrc == NULL)
    return;
  gint64 rt0 = atomic_load (&c->live_video_rt0);
  gint64 pts = GST_CLOCK_TIME_IS_VALID (rt) ? (gint64) rt + atomic_load (&c->live_pts_off) : -1;
  if (rt0 >= 0 && GST_CLOCK_TIME_IS_VALID (rt) && (gint64) rt >= rt0 && pts >= 0 &&
      gst_app_src_get_current_level_bytes (GST_APP_SRC (asrc)) + gst_buffer_get_size (buf) <=
          LIVE_MAX_AUDIO_QUEUED_BYTES) {
    GstBuffer *copy = gst_buffer_copy (buf);   /* shares the memory; own timestamps */
    GST_BUFFER_PTS (copy) = GST_BUFFER_DTS (copy) = (GstClockTime) pts;
    gst_app_src_push_buffer (GST_APP_SRC (asrc), copy);
    atomic_store (&c->live_audio_us, g_get_monotonic_time ());
  }
  gst_object_unref (asrc);
}

/* The first audio that goes to the recorder, relative to the first video frame (where the first
 * file starts): logged once per connection, the figure docs/design/storage.md "Audio" quotes.
 * Main loop. */
static gboolean
on_audio_start (gpointer data)
{
  g_message ("First recorded audio starts %+d ms from the first video frame",
             GPOINTER_TO_INT (data));
  return G_SOURCE_REMOVE;
}

/* The audio branch's output (its streaming thread), past audio_hold (which holds it until the
 * branch is linked to the recorder): dropped after audio ended; untimed buffers are dropped
 * (mp4mux fails on them), and so is audio from before the first video frame or overlapping what
 * was written; a change of caps ends audio (mp4mux cannot change a track's format mid-file). */
static GstPadProbeReturn
audio_out_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Conn *c = data;
  if (info->type & (GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST)) {
    if (atomic_load (&c->audio_lost))
      return GST_PAD_PROBE_DROP;
    if (!atomic_load (&c->audio_linked))
      return GST_PAD_PROBE_DROP;
    if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
      GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
      if (!GST_BUFFER_PTS_IS_VALID (buf))
        return GST_PAD_PROBE_DROP;
      /* Audio from before the first video frame (held with it while the identity was checked),
       * or overlapping audio already recorded (a transcoder resyncing at the start), would be
       * squeezed by the muxer into samples of no duration: dropped. */
      g_autoptr (GstEvent) segev = gst_pad_get_sticky_event (pad, GST_EVENT_SEGMENT, 0);
      const GstSegment *seg = NULL;
      if (segev != NULL)
        gst_event_parse_segment (segev, &seg);
      guint64 rt = seg != NULL && seg->format == GST_FORMAT_TIME
          ? gst_segment_to_running_time (seg, GST_FORMAT_TIME, GST_BUFFER_PTS (buf))
          : GST_CLOCK_TIME_NONE;
      GstClockTime dur = GST_BUFFER_DURATION_IS_VALID (buf) ? GST_BUFFER_DURATION (buf) : 0;
      gint64 vstart = atomic_load (&c->video_start_rt);
      /* Only within AUDIO_TRIM_NS: audio further off is on another timeline (a reset), which
       * is kept rather than dropped for good. */
      if (GST_CLOCK_TIME_IS_VALID (rt)) {
        if (vstart >= 0 && rt + dur / 2 < (guint64) vstart && rt + AUDIO_TRIM_NS > (guint64) vstart)
          return GST_PAD_PROBE_DROP;
        if (GST_CLOCK_TIME_IS_VALID (c->audio_next_rt) && rt + dur / 2 < c->audio_next_rt &&
            rt + AUDIO_TRIM_NS > c->audio_next_rt)
          return GST_PAD_PROBE_DROP;
        c->audio_next_rt = rt + dur;
        int expected = 0;
        if (vstart >= 0 && atomic_compare_exchange_strong (&c->audio_start_told, &expected, 1))
          g_main_context_invoke (NULL, on_audio_start,
                                 GINT_TO_POINTER ((int) (((gint64) rt - vstart) / GST_MSECOND)));
      }
      live_audio_push (c, buf, rt);
    }
    atomic_store (&c->audio_out_us, g_get_monotonic_time ());
    return GST_PAD_PROBE_OK;
  }
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
  if (GST_EVENT_TYPE (ev) != GST_EVENT_CAPS)
    return GST_PAD_PROBE_OK;
  GstCaps *caps = NULL;
  gst_event_parse_caps (ev, &caps);
  gboolean changed = FALSE;
  g_mutex_lock (&c->lock);
  if (c->audio_caps == NULL)
    c->audio_caps = gst_caps_ref (caps);
  else if (!gst_caps_is_equal (c->audio_caps, caps))
    changed = TRUE;
  g_mutex_unlock (&c->lock);
  if (!changed)
    return GST_PAD_PROBE_OK;
  int expected = 0;
  if (atomic_compare_exchange_strong (&c->audio_lost, &expected, 1)) {
    AudioEnd *ae = g_new0 (AudioEnd, 1);
    ae->c = conn_ref (c);
    ae->why = g_strdup ("the audio format changed");
    g_main_context_invoke (NULL, on_audio_end, ae);
  }
  return GST_PAD_PROBE_DROP;
}

/* Lets the audio the branch held (since the camera's first packet, up to its queue's bound) go
 * on: into the recorder once linked, or to audio_out_probe's drop once audio ended. Main loop. */
static void
audio_release (Conn *c)
{
  if (c->abranch == NULL || c->audio_hold == 0)
    return;
  g_autoptr (GstPad) out = gst_element_get_static_pad (c->abranch, "src");
  gst_pad_remove_probe (out, c->audio_hold);
  c->audio_hold = 0;
}

/* Links the audio branch to the recorder's audio pad once both exist. Main loop. */
static void
audio_link (Worker *w, Conn *c)
{
  if (c->abranch == NULL || c->rec_audio == NULL || atomic_load (&c->audio_linked))
    return;
  g_autoptr (GstPad) out = gst_element_get_static_pad (c->abranch, "src");
  if (gst_pad_link (out, c->rec_audio) != GST_PAD_LINK_OK) {
    audio_end (w, c, "could not link the audio stream to the recorder");
    return;
  }
  atomic_store (&c->audio_out_us, g_get_monotonic_time ());
  atomic_store (&c->audio_linked, 1);
  audio_release (c);
  g_message ("Recording audio (%s%s)", c->audio_codec,
             strcmp (c->audio_codec, "aac") == 0 ? ", as received" : " transcoded to AAC");
}

static void
on_fragment_message (Worker *w, Conn *c, const GstStructure *s, gboolean opened)
{
  const char *location = gst_structure_get_string (s, "location");
  GstClockTime rt = GST_CLOCK_TIME_NONE;
  gst_structure_get_clock_time (s, "running-time", &rt);
  if (location == NULL)
    return;

  g_mutex_lock (&c->lock);
  Segment *seg = NULL;
  if (opened) {
    seg = g_hash_table_lookup (c->segments, location);
  } else {
    gpointer key = NULL, value = NULL;
    if (g_hash_table_steal_extended (c->segments, location, &key, &value))
      g_free (key);
    seg = value;
  }
  g_mutex_unlock (&c->lock);
  if (seg == NULL) {
    g_warning ("Fragment message for an unknown file");
    return;
  }

  if (opened) {
    seg->open_rt = rt;
    seg->opened = TRUE;
    c->current = seg;
    GVariantBuilder b;
    g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add (&b, "{sv}", "path", g_variant_new_string (seg->rel));
    g_variant_builder_add (&b, "{sv}", "start_us", g_variant_new_int64 (seg->start_us));
    g_variant_builder_add (&b, "{sv}", "seq", g_variant_new_uint64 (seg->seq));
    g_message ("Segment opened: %s", seg->rel);
    send_msg (w, "segment-opened", g_variant_builder_end (&b));
    return;
  }

  gint64 duration_us = 0;
  if (seg->opened && GST_CLOCK_TIME_IS_VALID (rt) && GST_CLOCK_TIME_IS_VALID (seg->open_rt) &&
      rt > seg->open_rt)
    duration_us = (gint64) ((rt - seg->open_rt) / GST_USECOND);
  if (c->current == seg)
    c->current = NULL;
  queue_sync (w, seg, duration_us, FALSE);
  /* Not the end of a drain by itself: on EOS splitmuxsink may still name a new file for the GOP
   * it held. The pipeline's EOS message (below) is what says it is done. */
}

static gboolean
on_bus (GstBus *bus, GstMessage *msg, gpointer data)
{
  Conn *c = data;
  Worker *w = c->w;
  if (w->conn != c)
    return G_SOURCE_CONTINUE;

  switch (GST_MESSAGE_TYPE (msg)) {
  case GST_MESSAGE_ERROR: {
    g_autoptr (GError) err = NULL;
    g_autofree char *debug = NULL;
    gst_message_parse_error (msg, &err, &debug);
    g_autofree char *reason = error_reason (err, debug);
    g_message ("Pipeline error from %s: %s (%s)", GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)),
               err->message, debug ? debug : "");
    if (w->phase == PHASE_DRAINING)
      break;   /* expected while a torn connection drains; the drain timer bounds it */
    if (c->abranch != NULL &&
        gst_object_has_as_ancestor (GST_MESSAGE_SRC (msg), GST_OBJECT (c->abranch))) {
      audio_end (w, c, reason);   /* an audio failure never ends the video */
      break;
    }
    conn_fail (w, reason);
    break;
  }
  case GST_MESSAGE_WARNING: {
    g_autoptr (GError) err = NULL;
    gst_message_parse_warning (msg, &err, NULL);
    g_message ("Pipeline warning from %s: %s", GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)),
               err->message);
    break;
  }
  case GST_MESSAGE_EOS:
    if (w->phase == PHASE_DRAINING) {
      /* Every sink is done; a file still listed here never got its fragment-closed. */
      drain_finish (w);
    } else
      conn_fail (w, "camera ended the stream");
    break;
  case GST_MESSAGE_ELEMENT: {
    const GstStructure *s = gst_message_get_structure (msg);
    if (gst_structure_has_name (s, "splitmuxsink-fragment-opened"))
      on_fragment_message (w, c, s, TRUE);
    else if (gst_structure_has_name (s, "splitmuxsink-fragment-closed"))
      on_fragment_message (w, c, s, FALSE);
    break;
  }
  case GST_MESSAGE_APPLICATION: {
    const GstStructure *s = gst_message_get_structure (msg);
    if (gst_structure_has_name (s, "nvr-fragment"))
      on_file_fragment (w, s);
    break;
  }
  default:
    break;
  }
  return G_SOURCE_CONTINUE;
}

/* ---- the fragment index of the file being written (docs/design/playback.md) ----
 * A probe on the recorder's filesink sink pad sees every byte in the order it is written and
 * feeds the pure indexer (mp4probe.h), which keeps only moov/moof boxes. A fragment is posted to
 * the pipeline's bus only when the next buffer or event reaches the pad: filesink (unbuffered)
 * has then written it. The bus keeps it ahead of splitmuxsink's fragment-closed of that file. */

typedef struct {
  GMutex lock;                /* the muxer's streaming thread; the lock only guards teardown */
  Conn *c;
  GstBus *bus;
  GstElement *sink;
  NvrMp4Indexer *ix;          /* of the file being written; NULL between files */
  char *rel;                  /* that file, relative to storage_root; NULL: not ours */
  guint64 pos;                /* where filesink writes the next byte */
  gboolean rewound;           /* the muxer seeked back (closing): nothing more to index */
  guint64 seq;                /* fragments of this file posted so far */
  GArray *pending;            /* NvrMp4Fragment seen but maybe not yet written */
} FileIndex;

static void
file_index_free (gpointer data)
{
  FileIndex *fi = data;
  g_clear_pointer (&fi->ix, nvr_mp4probe_indexer_free);
  g_free (fi->rel);
  g_array_unref (fi->pending);
  gst_object_unref (fi->bus);
  gst_object_unref (fi->sink);
  conn_unref (fi->c);
  g_mutex_clear (&fi->lock);
  g_free (fi);
}

/* Posts what was pending: filesink has written it by now. */
static void
file_index_release (FileIndex *fi)
{
  for (guint i = 0; i < fi->pending->len && fi->rel != NULL; i++) {
    const NvrMp4Fragment *f = &g_array_index (fi->pending, NvrMp4Fragment, i);
    GstStructure *st = gst_structure_new ("nvr-fragment",
        "path", G_TYPE_STRING, fi->rel, "seq", G_TYPE_UINT64, fi->seq++,
        "init_bytes", G_TYPE_INT64, nvr_mp4probe_indexer_init_bytes (fi->ix),
        "offset", G_TYPE_INT64, f->offset, "size", G_TYPE_INT64, f->size,
        "start_us", G_TYPE_INT64, f->start_us, "duration_us", G_TYPE_INT64, f->duration_us,
        "key", G_TYPE_BOOLEAN, f->keyframe, NULL);
    gst_bus_post (fi->bus, gst_message_new_application (GST_OBJECT (fi->sink), st));
  }
  g_array_set_size (fi->pending, 0);
}

/* The file ended (EOS, a new stream, a flush): forget it. */
static void
file_index_end (FileIndex *fi)
{
  if (fi->ix != NULL)
    file_index_release (fi);
  g_clear_pointer (&fi->ix, nvr_mp4probe_indexer_free);
  g_clear_pointer (&fi->rel, g_free);
  g_array_set_size (fi->pending, 0);
}

static void
file_index_begin (FileIndex *fi)
{
  g_autofree char *abs = NULL;
  g_object_get (fi->sink, "location", &abs, NULL);
  fi->ix = nvr_mp4probe_indexer_new ();
  fi->pos = 0;
  fi->rewound = FALSE;
  fi->seq = 0;
  g_mutex_lock (&fi->c->lock);
  Segment *seg = abs != NULL ? g_hash_table_lookup (fi->c->segments, abs) : NULL;
  fi->rel = seg != NULL ? g_strdup (seg->rel) : NULL;
  g_mutex_unlock (&fi->c->lock);
}

static void
file_index_feed (FileIndex *fi, GstBuffer *buf)
{
  if (fi->ix == NULL)
    file_index_begin (fi);
  gsize size = gst_buffer_get_size (buf);
  if (fi->rewound || fi->rel == NULL) {
    fi->pos += size;
    return;
  }
  GstMapInfo map;
  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return;
  g_autoptr (GError) error = NULL;
  if (!nvr_mp4probe_indexer_feed (fi->ix, map.data, map.size, &error)) {
    g_warning ("Fragment index of '%s' stops here: %s", fi->rel, error->message);
    fi->rewound = TRUE;
  }
  gst_buffer_unmap (buf, &map);
  fi->pos += size;
  NvrMp4Fragment f;
  while (nvr_mp4probe_indexer_pop (fi->ix, &f))
    g_array_append_val (fi->pending, f);
}

static gboolean
feed_one (GstBuffer **buf, guint idx, gpointer data)
{
  file_index_feed (data, *buf);
  return TRUE;
}

static GstPadProbeReturn
file_index_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  FileIndex *fi = data;
  g_mutex_lock (&fi->lock);
  /* Whatever came before this has been written by filesink. */
  if (fi->ix != NULL)
    file_index_release (fi);
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    file_index_feed (fi, GST_PAD_PROBE_INFO_BUFFER (info));
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    gst_buffer_list_foreach (GST_PAD_PROBE_INFO_BUFFER_LIST (info), feed_one, fi);
  } else if (info->type & (GST_PAD_PROBE_TYPE_EVENT_BOTH | GST_PAD_PROBE_TYPE_EVENT_FLUSH)) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
    switch (GST_EVENT_TYPE (ev)) {
    case GST_EVENT_SEGMENT: {
      const GstSegment *seg;
      gst_event_parse_segment (ev, &seg);
      /* filesink seeks to a BYTES segment's start: the muxer going back to rewrite its moov */
      if (fi->ix != NULL && seg->format == GST_FORMAT_BYTES && seg->start != fi->pos)
        fi->rewound = TRUE;
      break;
    }
    case GST_EVENT_EOS:
    case GST_EVENT_STREAM_START:
    case GST_EVENT_FLUSH_STOP:
      file_index_end (fi);
      break;
    default:
      break;
    }
  }
  g_mutex_unlock (&fi->lock);
  return GST_PAD_PROBE_OK;
}

static void
file_index_attach (Conn *c, GstElement *sink)
{
  FileIndex *fi = g_new0 (FileIndex, 1);
  g_mutex_init (&fi->lock);
  fi->c = conn_ref (c);
  fi->bus = gst_element_get_bus (c->pipeline);
  fi->sink = gst_object_ref (sink);
  fi->pending = g_array_new (FALSE, FALSE, sizeof (NvrMp4Fragment));
  g_autoptr (GstPad) pad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST |
                     GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM | GST_PAD_PROBE_TYPE_EVENT_FLUSH,
                     file_index_probe, fi, file_index_free);
}

/* Main loop: a fragment of a file is on disk; tell the daemon (worker.md "segment-fragment"). */
static void
on_file_fragment (Worker *w, const GstStructure *st)
{
  const char *path = gst_structure_get_string (st, "path");
  guint64 seq = 0;
  gint64 init = 0, offset = 0, size = 0, start = 0, dur = 0;
  gboolean key = FALSE;
  if (path == NULL || !gst_structure_get_uint64 (st, "seq", &seq) ||
      !gst_structure_get_int64 (st, "init_bytes", &init) ||
      !gst_structure_get_int64 (st, "offset", &offset) ||
      !gst_structure_get_int64 (st, "size", &size) ||
      !gst_structure_get_int64 (st, "start_us", &start) ||
      !gst_structure_get_int64 (st, "duration_us", &dur) ||
      !gst_structure_get_boolean (st, "key", &key))
    return;
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "path", g_variant_new_string (path));
  g_variant_builder_add (&b, "{sv}", "seq", g_variant_new_uint64 (seq));
  g_variant_builder_add (&b, "{sv}", "init_bytes", g_variant_new_int64 (init));
  g_variant_builder_add (&b, "{sv}", "offset", g_variant_new_int64 (offset));
  g_variant_builder_add (&b, "{sv}", "size", g_variant_new_int64 (size));
  g_variant_builder_add (&b, "{sv}", "start_us", g_variant_new_int64 (start));
  g_variant_builder_add (&b, "{sv}", "duration_us", g_variant_new_int64 (dur));
  g_variant_builder_add (&b, "{sv}", "key", g_variant_new_boolean (key));
  send_msg (w, "segment-fragment", g_variant_builder_end (&b));
}

/* ---- streaming-thread hooks: stamp, copy, post ---- */

static GstPadProbeReturn
stamp_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Conn *c = data;
  atomic_store (&c->last_data_us, g_get_monotonic_time ());
  return atomic_load (&c->draining) ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
block_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  return GST_PAD_PROBE_OK;   /* stay blocked until the main loop links the branch */
}

/* mp4mux fails the whole pipeline ("Buffer has no PTS") on a frame without a timestamp, which
 * depayloaders emit at stream start; such a frame cannot be placed in a file anyway. */
static GstPadProbeReturn
drop_untimed_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  return GST_BUFFER_PTS_IS_VALID (buf) ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
}

/* A mid-stream change of picture size ends the connection: mp4mux would go on writing the new
 * frames under the old track's sample description, which no player decodes. The changed caps and
 * every buffer after them are dropped here, so the file holds the old size only; the next
 * connection starts a new file with the new size. Streaming thread; posts to the main loop. */
typedef struct {
  Conn *c;
  char *reason;
} SizeChange;

static gboolean
on_size_change (gpointer data)
{
  SizeChange *sc = data;
  if (sc->c->w->conn == sc->c)
    conn_fail (sc->c->w, sc->reason);
  conn_unref (sc->c);
  g_free (sc->reason);
  g_free (sc);
  return G_SOURCE_REMOVE;
}

static GstPadProbeReturn
size_guard_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Conn *c = data;
  if (!(info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM))
    return atomic_load (&c->size_changed) ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
  if (GST_EVENT_TYPE (ev) != GST_EVENT_CAPS)
    return GST_PAD_PROBE_OK;
  if (atomic_load (&c->size_changed))
    return GST_PAD_PROBE_DROP;
  GstCaps *caps = NULL;
  gst_event_parse_caps (ev, &caps);
  GstStructure *st = caps ? gst_caps_get_structure (caps, 0) : NULL;
  int wd = 0, ht = 0;
  if (st == NULL || !gst_structure_get_int (st, "width", &wd) ||
      !gst_structure_get_int (st, "height", &ht))
    return GST_PAD_PROBE_OK;
  int w0 = atomic_load (&c->size_w), h0 = atomic_load (&c->size_h);
  if (w0 == 0) {
    atomic_store (&c->size_w, wd);
    atomic_store (&c->size_h, ht);
    return GST_PAD_PROBE_OK;
  }
  if (wd == w0 && ht == h0)
    return GST_PAD_PROBE_OK;
  atomic_store (&c->size_changed, 1);
  SizeChange *sc = g_new0 (SizeChange, 1);
  sc->c = conn_ref (c);
  sc->reason = g_strdup_printf ("camera changed resolution from %dx%d to %dx%d", w0, h0, wd, ht);
  g_main_context_invoke (NULL, on_size_change, sc);
  return GST_PAD_PROBE_DROP;
}

/* ---- identity gate (docs/design/identity.md) ---- */

/* What the gate saw on the first frame: the stream fingerprint. Posted to the main loop. */
typedef struct {
  Conn *c;
  NvrIdentity seen;   /* mac left empty: looked up on a thread */
} GateInfo;

static void identity_lookup_start (Worker *w, Conn *c);

static gboolean
on_gate (gpointer data)
{
  GateInfo *gi = data;
  Conn *c = gi->c;
  Worker *w = c->w;
  if (w->conn == c && w->phase == PHASE_CONNECTING && !c->gate_seen) {
    c->gate_seen = TRUE;
    c->got_video = TRUE;
    c->seen = gi->seen;
    identity_lookup_start (w, c);
  }
  conn_unref (c);
  g_free (gi);
  return G_SOURCE_REMOVE;
}

/* Blocks the branch's output (streaming thread): nothing reaches a recorder before the main
 * loop has checked the camera's identity; the first frame's caps give the fingerprint. The
 * thread stays blocked until the probe is removed (identity ok) or the pipeline is flushed. */
static GstPadProbeReturn
gate_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Conn *c = data;
  int expected = 0;
  if (!atomic_compare_exchange_strong (&c->gate_posted, &expected, 1))
    return GST_PAD_PROBE_OK;
  GateInfo *gi = g_new0 (GateInfo, 1);
  gi->c = conn_ref (c);
  /* Where the first file starts: audio from before it is not recorded (audio_out_probe). */
  GstBuffer *first = (info->type & GST_PAD_PROBE_TYPE_BUFFER) ? GST_PAD_PROBE_INFO_BUFFER (info)
                                                              : NULL;
  g_autoptr (GstEvent) segev = gst_pad_get_sticky_event (pad, GST_EVENT_SEGMENT, 0);
  if (first != NULL && segev != NULL && GST_BUFFER_PTS_IS_VALID (first)) {
    const GstSegment *vseg = NULL;
    gst_event_parse_segment (segev, &vseg);
    guint64 rt = gst_segment_to_running_time (vseg, GST_FORMAT_TIME, GST_BUFFER_PTS (first));
    if (GST_CLOCK_TIME_IS_VALID (rt))
      atomic_store (&c->video_start_rt, (gint64) rt);
  }
  g_autoptr (GstCaps) caps = gst_pad_get_current_caps (pad);
  if (caps != NULL && gst_caps_get_size (caps) > 0) {
    const GstStructure *s = gst_caps_get_structure (caps, 0);
    if (gst_structure_has_name (s, "video/x-h264"))
      g_strlcpy (gi->seen.codec, "h264", sizeof gi->seen.codec);
    else if (gst_structure_has_name (s, "video/x-h265"))
      g_strlcpy (gi->seen.codec, "h265", sizeof gi->seen.codec);
    int width = 0, height = 0;
    gst_structure_get_int (s, "width", &width);
    gst_structure_get_int (s, "height", &height);
    gi->seen.width = CLAMP (width, 0, 65535);
    gi->seen.height = CLAMP (height, 0, 65535);
    const GValue *v = gst_structure_get_value (s, "codec_data");
    GstBuffer *cd = v != NULL && G_VALUE_HOLDS (v, GST_TYPE_BUFFER) ? gst_value_get_buffer (v)
                                                                     : NULL;
    GstMapInfo map;
    if (cd != NULL && gst_buffer_map (cd, &map, GST_MAP_READ)) {
      nvr_identity_params_hash (map.data, map.size, gi->seen.params);
      gst_buffer_unmap (cd, &map);
    }
  }
  g_main_context_invoke (NULL, on_gate, gi);
  return GST_PAD_PROBE_OK;   /* stay blocked */
}

/* One RTM_GETNEIGH dump of @family; the MAC behind @addr or "". Runs on a thread. */
static void
neigh_lookup (int family, const void *addr, gsize addr_len, char mac[NVR_IDENTITY_MAC_MAX])
{
  mac[0] = '\0';
  int fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    g_warning ("Failed to open a netlink socket: %s", g_strerror (errno));
    return;
  }
  struct timeval tv = { .tv_sec = 1 };
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct {
    struct nlmsghdr h;
    struct ndmsg nd;
  } req = { .h = { .nlmsg_len = NLMSG_LENGTH (sizeof (struct ndmsg)), .nlmsg_type = RTM_GETNEIGH,
                   .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
            .nd = { .ndm_family = (guint8) family } };
  if (send (fd, &req, req.h.nlmsg_len, 0) < 0) {
    g_warning ("Failed to ask the kernel for its neighbour table: %s", g_strerror (errno));
    close (fd);
    return;
  }
  /* The dump is bounded by the kernel's neighbour table; stop after 1024 reads anyway. */
  g_autofree guint8 *buf = g_malloc (32768);
  gboolean done = FALSE;
  for (int i = 0; i < 1024 && !done; i++) {
    ssize_t n = recv (fd, buf, 32768, 0);
    if (n <= 0)
      break;
    char found[NVR_IDENTITY_MAC_MAX];
    if (*mac == '\0' && nvr_identity_neigh_find (buf, (gsize) n, family, addr, addr_len, found,
                                                 &done))
      g_strlcpy (mac, found, NVR_IDENTITY_MAC_MAX);
  }
  close (fd);
}

typedef struct {
  char *host;
  char *peer;                      /* out: the address used */
  char mac[NVR_IDENTITY_MAC_MAX];  /* out */
} LookupJob;

static void
lookup_job_free (LookupJob *j)
{
  g_free (j->host);
  g_free (j->peer);
  g_free (j);
}

/* Thread: the camera's addresses (a literal, or resolved), then the MAC of the first one that
 * has a neighbour entry. Loopback and routed addresses have none. */
static void
lookup_thread (GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
  LookupJob *j = data;
  GList *addrs = NULL;
  GInetAddress *lit = g_inet_address_new_from_string (j->host);
  if (lit != NULL) {
    addrs = g_list_append (NULL, lit);
  } else {
    g_autoptr (GResolver) r = g_resolver_get_default ();
    g_autoptr (GError) error = NULL;
    addrs = g_resolver_lookup_by_name (r, j->host, cancel, &error);
    if (addrs == NULL)
      g_message ("Failed to resolve '%s' for the identity check: %s", j->host, error->message);
  }
  for (GList *l = addrs; l != NULL && j->mac[0] == '\0'; l = l->next) {
    GInetAddress *a = l->data;
    g_free (j->peer);
    j->peer = g_inet_address_to_string (a);
    if (g_inet_address_get_is_loopback (a))
      continue;
    int family = g_inet_address_get_family (a) == G_SOCKET_FAMILY_IPV6 ? AF_INET6 : AF_INET;
    neigh_lookup (family, g_inet_address_to_bytes (a), g_inet_address_get_native_size (a),
                  j->mac);
  }
  g_resolver_free_addresses (addrs);
  g_task_return_boolean (task, TRUE);
}

static gboolean identity_decide (Worker *w, Conn *c, const char *peer, const char *mac);

static void
on_lookup_done (GObject *src, GAsyncResult *res, gpointer data)
{
  Conn *c = data;
  Worker *w = c->w;
  LookupJob *j = g_task_get_task_data (G_TASK (res));
  if (w->conn == c && w->phase == PHASE_CONNECTING)
    identity_decide (w, c, j->peer ? j->peer : w->cfg.host, j->mac);
  conn_unref (c);
}

static void
identity_lookup_start (Worker *w, Conn *c)
{
  LookupJob *j = g_new0 (LookupJob, 1);
  j->host = g_strdup (w->cfg.host);
  g_autoptr (GTask) task = g_task_new (NULL, NULL, on_lookup_done, conn_ref (c));
  g_task_set_task_data (task, j, (GDestroyNotify) lookup_job_free);
  g_task_run_in_thread (task, lookup_thread);
}

typedef struct {
  Conn *c;
  GstPad *pad;
  char *template_name;   /* NULL: unsupported codec */
  char *encoding;
  gulong block_id;
  gboolean audio;        /* the audio stream (template_name set; codec in audio_codec) */
  char *audio_codec;
} LinkRequest;

static void
link_request_free (LinkRequest *lr)
{
  if (lr->block_id)
    gst_pad_remove_probe (lr->pad, lr->block_id);
  gst_object_unref (lr->pad);
  conn_unref (lr->c);
  g_free (lr->template_name);
  g_free (lr->encoding);
  g_free (lr->audio_codec);
  g_free (lr);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LinkRequest, link_request_free)

/* ---- rtspsrc teardown before the first packet (docs/design/worker.md "rtspsrc teardown") ----
 * GStreamer 1.22's rtspsrc resets its seqnum to GST_SEQNUM_INVALID in PAUSED_TO_READY and only
 * then sends TEARDOWN from its task; interleaved (TCP) packets that arrive while it waits for the
 * reply are handled there, and the first packet of a session pushes stream-start and segment
 * with that seqnum: a GStreamer-CRITICAL (fixed upstream in 1.25, commit a20ef245a0). So over
 * TCP, TEARDOWN is skipped until a packet has come out of rtspsrc (after the first one its
 * seqnum is no longer used for data); closing the connection ends the session instead. */
typedef struct {
  atomic_int flowing;   /* a buffer left rtspsrc: its first-packet events are behind it */
} SrcGuard;

static GstPadProbeReturn
guard_flow_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  SrcGuard *g = data;
  atomic_store (&g->flowing, 1);
  return GST_PAD_PROBE_REMOVE;
}

static void
guard_on_pad_added (GstElement *src, GstPad *pad, gpointer data)
{
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST,
                     guard_flow_probe, g_atomic_rc_box_acquire (data),
                     (GDestroyNotify) g_atomic_rc_box_release);
}

static gboolean
guard_before_send (GstElement *src, GstRTSPMessage *msg, gpointer data)
{
  SrcGuard *g = data;
  if (msg->type != GST_RTSP_MESSAGE_REQUEST || msg->type_data.request.method != GST_RTSP_TEARDOWN ||
      atomic_load (&g->flowing))
    return TRUE;
  g_debug ("Skipping TEARDOWN of '%s': no packet yet (the connection close ends the session)",
           GST_OBJECT_NAME (src));
  return FALSE;
}

/* Installs the guard on @src, an rtspsrc about to stream interleaved over TCP (over UDP, data
 * never arrives on the RTSP connection, and TEARDOWN stops the camera's sending). Call before
 * any other pad-added handler, so the flow probe sits before theirs. */
static void
guard_rtspsrc_teardown (GstElement *src)
{
  SrcGuard *g = g_atomic_rc_box_new0 (SrcGuard);
  g_signal_connect_data (src, "pad-added", G_CALLBACK (guard_on_pad_added),
                         g_atomic_rc_box_acquire (g),
                         (GClosureNotify) (void (*) (void)) g_atomic_rc_box_release, 0);
  g_signal_connect_data (src, "before-send", G_CALLBACK (guard_before_send), g,
                         (GClosureNotify) (void (*) (void)) g_atomic_rc_box_release, 0);
}

/* Loads a one-element template (e.g. "rtspsrc name=src ..."). */
static GstElement *
load_element (const char *template_name, GError **error)
{
  g_autofree char *desc = load_template (template_name, error);
  if (desc == NULL)
    return NULL;
  GstElement *e = gst_parse_launch (desc, error);
  /* gst_parse_launch() wraps several elements in a pipeline; one is returned as is. */
  if (e != NULL && GST_IS_PIPELINE (e)) {
    gst_object_unref (e);
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Template '%s' is not one element",
                 template_name);
    return NULL;
  }
  return e;
}

/* Builds the branch for @lr's codec and links it to rtspsrc: depay ! parse ! caps ! queue from
 * the codec template, its output blocked by the identity gate. No recorder exists yet: it is
 * built by build_recorder() once the identity matched. Main loop. */
static gboolean
build_branch (Worker *w, Conn *c, LinkRequest *lr, GError **error)
{
  g_autofree char *desc = load_template (lr->template_name, error);
  if (desc == NULL)
    return FALSE;
  GstElement *branch = gst_parse_bin_from_description (desc, TRUE, error);
  if (branch == NULL)
    return FALSE;
  gst_bin_add (GST_BIN (c->pipeline), branch);   /* takes the floating ref */
  c->branch = branch;

  g_autoptr (GstElement) parse = gst_bin_get_by_name (GST_BIN (branch), "parse");
  g_autoptr (GstPad) out = gst_element_get_static_pad (branch, "src");
  if (parse == NULL || out == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Template '%s' lacks 'parse' or 'src'",
                 lr->template_name);
    return FALSE;
  }
  g_autoptr (GstPad) parse_src = gst_element_get_static_pad (parse, "src");
  gst_pad_add_probe (parse_src, GST_PAD_PROBE_TYPE_BUFFER, drop_untimed_probe, NULL, NULL);
  gst_pad_add_probe (parse_src, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM | GST_PAD_PROBE_TYPE_BUFFER |
                     GST_PAD_PROBE_TYPE_BUFFER_LIST, size_guard_probe, conn_ref (c),
                     (GDestroyNotify) conn_unref);
  c->gate_probe = gst_pad_add_probe (out, GST_PAD_PROBE_TYPE_BLOCK | GST_PAD_PROBE_TYPE_BUFFER |
                                     GST_PAD_PROBE_TYPE_BUFFER_LIST, gate_probe, conn_ref (c),
                                     (GDestroyNotify) conn_unref);

  g_autoptr (GstPad) sinkpad = gst_element_get_static_pad (branch, "sink");
  if (sinkpad == NULL || gst_pad_link (lr->pad, sinkpad) != GST_PAD_LINK_OK) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Could not link the %s stream",
                 lr->encoding);
    return FALSE;
  }
  if (!gst_element_sync_state_with_parent (branch)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Recording branch did not start");
    return FALSE;
  }
  c->branch_sink = g_steal_pointer (&sinkpad);
  return TRUE;
}

/* Builds the audio branch for @lr and links rtspsrc's audio pad to it; its output goes to the
 * recorder's audio pad (now, or when the recorder is built). Until then its output is held:
 * the video is held at the identity gate from its first frame, and audio dropped meanwhile
 * would be missing from the start of the first file (the time the identity check and the wait
 * for the audio format took; docs/design/storage.md "Audio"). The hold is behind the branch's
 * leaky queue, so it never blocks rtspsrc: past the queue's bound the oldest audio goes.
 * After audio ended its output is dropped. Main loop. */
static gboolean
build_audio_branch (Worker *w, Conn *c, LinkRequest *lr, GError **error)
{
  g_autofree char *desc = load_template (lr->template_name, error);
  if (desc == NULL)
    return FALSE;
  GstElement *branch = gst_parse_bin_from_description (desc, TRUE, error);
  if (branch == NULL)
    return FALSE;
  gst_bin_add (GST_BIN (c->pipeline), branch);
  c->abranch = branch;
  g_free (c->audio_codec);
  c->audio_codec = g_strdup (lr->audio_codec);
  g_autoptr (GstPad) out = gst_element_get_static_pad (branch, "src");
  g_autoptr (GstPad) sinkpad = gst_element_get_static_pad (branch, "sink");
  if (out == NULL || sinkpad == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Template '%s' lacks 'src' or 'sink'",
                 lr->template_name);
    return FALSE;
  }
  gst_pad_add_probe (out, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST |
                     GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, audio_out_probe, conn_ref (c),
                     (GDestroyNotify) conn_unref);
  /* Buffers only: the caps event still reaches the pad (audio_ready reads it there). */
  c->audio_hold = gst_pad_add_probe (out, GST_PAD_PROBE_TYPE_BLOCK | GST_PAD_PROBE_TYPE_BUFFER |
                                     GST_PAD_PROBE_TYPE_BUFFER_LIST, block_probe, NULL, NULL);
  /* Playing before linked: rtspsrc's pad is only holding buffers, its events go through, and
   * one refused by a branch still in NULL (FLUSHING) pauses rtspsrc's whole TCP read loop,
   * video included (seen as an intermittent "no data" at the first connection). */
  if (!gst_element_sync_state_with_parent (branch)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Audio branch did not start");
    return FALSE;
  }
  if (gst_pad_link (lr->pad, sinkpad) != GST_PAD_LINK_OK) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Could not link the %s stream",
                 lr->encoding);
    return FALSE;
  }
  c->abranch_sink = g_steal_pointer (&sinkpad);
  if (c->rec_audio != NULL)
    audio_link (w, c);
  else if (w->phase == PHASE_STREAMING) {
    g_message ("Audio (%s) arrived after the recording started; not recorded on this connection",
               lr->audio_codec);
    atomic_store (&c->audio_lost, 1);
    c->audio_eos_sent = TRUE;   /* no recorder pad to end */
    audio_release (c);
  }
  return TRUE;
}

/* Creates splitmuxsink, links the gated branch to it and opens the gate. splitmuxsink creates
 * its muxer when its first pad is requested, so muxer and sink are set before it is linked.
 * Main loop; only after the identity matched. */
static gboolean
build_recorder (Worker *w, Conn *c, GError **error)
{
  GstElement *rec = load_element ("recorder.gst", error);
  if (rec == NULL)
    return FALSE;
  gst_bin_add (GST_BIN (c->pipeline), rec);
  GstElement *mux = gst_element_factory_make ("mp4mux", NULL);
  GstElement *sink = gst_element_factory_make ("filesink", NULL);
  if (mux == NULL || sink == NULL) {
    if (mux)
      gst_object_unref (gst_object_ref_sink (mux));
    if (sink)
      gst_object_unref (gst_object_ref_sink (sink));
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "mp4mux or filesink is missing");
    return FALSE;
  }
  /* mp4mux's default fragment mode: ftyp, moov (mvex), then moof+mdat pairs that stay on disk
   * (docs/design/playback.md "On-disk format"): playback points HLS byte ranges into them. */
  g_object_set (mux, "fragment-duration", (guint) FRAGMENT_DURATION_MS, NULL);
  gst_util_set_object_arg (G_OBJECT (sink), "buffer-mode", "unbuffered");
  file_index_attach (c, sink);
  g_object_set (rec, "async-finalize", FALSE, "max-size-time",
                (guint64) w->cfg.segment_seconds * GST_SECOND + SEGMENT_SLACK_MS * GST_MSECOND, "muxer", mux, "sink", sink, NULL);
  g_signal_connect (rec, "format-location-full", G_CALLBACK (on_format_location_full), c);
  if (!gst_element_link_pads (c->branch, "src", rec, "video")) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Could not link the recorder");
    return FALSE;
  }
  /* The audio track exists in the files only if the camera offered audio we record; its pad is
   * requested now, with video (mp4mux takes no new track once it wrote its moov), whether or not
   * the audio pad of rtspsrc is there yet. Nothing arriving on it ends audio after
   * AUDIO_STALL_US (on_watchdog). */
  if (atomic_load (&c->audio_selected) && !atomic_load (&c->audio_lost)) {
    c->rec_audio = gst_element_request_pad_simple (rec, "audio_%u");
    if (c->rec_audio == NULL)
      g_warning ("The recorder gave no audio pad; recording video only");
    atomic_store (&c->audio_out_us, g_get_monotonic_time ());
  }
  if (!gst_element_sync_state_with_parent (rec)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Recorder did not start");
    return FALSE;
  }
  /* Only now: audio released into a recorder that is not playing yet gets FLUSHING, which
   * stops the audio branch's queue for good (and splitmuxsink then waits for it). */
  audio_link (w, c);
  g_autoptr (GstPad) out = gst_element_get_static_pad (c->branch, "src");
  /* Live view and snapshots tap what the recorder gets: only this camera's accepted stream. */
  gst_pad_add_probe (out, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST, tap_probe,
                     conn_ref (c), (GDestroyNotify) conn_unref);
  gst_pad_remove_probe (out, c->gate_probe);
  c->gate_probe = 0;
  return TRUE;
}

/* Accepts @c's identity: pins it and tells the daemon (which pins it too). */
static void
identity_accept (Worker *w, Conn *c, NvrIdentityVerdict v, const char *why)
{
  static const char *const verdicts[] = { "new", "same", "update", "mismatch" };
  const char *peer = c->peer ? c->peer : w->cfg.host;
  g_autofree char *seen = nvr_identity_describe (&c->seen);
  if (v == NVR_IDENTITY_NEW)
    g_message ("Camera '%s': first contact at %s, pinning %s", w->cfg.name, peer, seen);
  else if (v == NVR_IDENTITY_UPDATE)
    g_message ("Camera '%s': re-pinning %s%s%s", w->cfg.name, seen, why ? ": " : "",
               why ? why : "");
  else
    g_message ("Camera '%s': identity confirmed at %s (%s)", w->cfg.name, peer, seen);
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  nvr_identity_add_fields (&b, "", &c->seen);
  g_variant_builder_add (&b, "{sv}", "address", g_variant_new_string (peer));
  g_variant_builder_add (&b, "{sv}", "verdict", g_variant_new_string (verdicts[v]));
  send_msg (w, "identity", g_variant_builder_end (&b));
  if (v != NVR_IDENTITY_SAME)
    w->pin = c->seen;
  w->pinned = TRUE;
  g_clear_pointer (&w->mismatch, g_free);
}

/* The recorder may start: the audio branch's format is known, or there is no audio to wait
 * for. */
static gboolean
audio_ready (Conn *c)
{
  if (!atomic_load (&c->audio_selected) || atomic_load (&c->audio_lost))
    return TRUE;
  if (c->abranch == NULL)
    return FALSE;
  /* The caps are stored on the branch's output pad even while its buffers are dropped and the
   * pad is not linked. */
  g_autoptr (GstPad) out = gst_element_get_static_pad (c->abranch, "src");
  g_autoptr (GstCaps) caps = gst_pad_get_current_caps (out);
  return caps != NULL;
}

/* Builds the recorder and starts streaming (identity accepted; audio ready or given up). */
static gboolean
recorder_go (Worker *w, Conn *c)
{
  if (c->audio_wait)
    g_source_remove (c->audio_wait);
  c->audio_wait = 0;
  if (!audio_ready (c))
    audio_end (w, c, c->abranch == NULL
        ? "no audio packet within 2 s of the first video frame; recording video only"
        : "no audio format within 2 s of the first video frame; recording video only");
  g_autoptr (GError) error = NULL;
  if (!build_recorder (w, c, &error)) {
    g_warning ("Failed to build the recorder: %s", error->message);
    conn_fail (w, error->message);
    return FALSE;
  }
  w->phase = PHASE_STREAMING;
  w->attempt = 0;
  send_state (w, "streaming", "", c->seen.codec, c->seen.width, c->seen.height, 0);
  motion_start (w);
  live_start (w);
  return TRUE;
}

static gboolean
on_audio_wait (gpointer data)
{
  Conn *c = data;
  Worker *w = c->w;
  if (w->conn != c || w->phase != PHASE_CONNECTING) {
    if (w->conn == c)
      c->audio_wait = 0;
    return G_SOURCE_REMOVE;
  }
  if (!audio_ready (c) && g_get_monotonic_time () - c->audio_wait_since_us < AUDIO_CAPS_WAIT_US)
    return G_SOURCE_CONTINUE;
  c->audio_wait = 0;   /* this source ends with this call */
  recorder_go (w, c);
  return G_SOURCE_REMOVE;
}

/* The connection's MAC is known (or known absent): compare with the pin, then record or refuse.
 * The identity message reaches the daemon before any segment-opened of this connection. */
static gboolean
identity_decide (Worker *w, Conn *c, const char *peer, const char *mac)
{
  g_strlcpy (c->seen.mac, mac, sizeof c->seen.mac);
  g_free (c->peer);
  c->peer = g_strdup (peer);
  g_autofree char *why = NULL;
  NvrIdentityVerdict v = nvr_identity_compare (w->pinned ? &w->pin : NULL, &c->seen, &why);
  if (v == NVR_IDENTITY_MISMATCH) {
    g_autofree char *seen = nvr_identity_describe (&c->seen);
    g_warning ("Camera '%s': refusing to record from %s (%s): %s", w->cfg.name, peer, seen, why);
    g_free (w->mismatch);
    w->mismatch = g_strdup (why);
    conn_fail (w, why);
    return FALSE;
  }
  identity_accept (w, c, v, why);
  if (!audio_ready (c)) {
    c->audio_wait_since_us = g_get_monotonic_time ();
    c->audio_wait = g_timeout_add_full (G_PRIORITY_DEFAULT, AUDIO_CAPS_POLL_MS, on_audio_wait,
                                        conn_ref (c), (GDestroyNotify) conn_unref);
    return TRUE;
  }
  return recorder_go (w, c);
}

static gboolean
on_link_request (gpointer data)
{
  g_autoptr (LinkRequest) lr = data;
  Conn *c = lr->c;
  Worker *w = c->w;
  if (lr->audio && w->conn == c &&
      (w->phase == PHASE_CONNECTING || w->phase == PHASE_STREAMING)) {
    g_autoptr (GError) error = NULL;
    if (!build_audio_branch (w, c, lr, &error)) {
      /* The pad stays unlinked: rtspsrc goes on with video (not-linked only matters when every
       * stream is). */
      g_warning ("Failed to build the audio branch: %s", error->message);
      audio_end (w, c, error->message);
    }
    return G_SOURCE_REMOVE;
  }
  if (w->conn != c || w->phase != PHASE_CONNECTING)
    return G_SOURCE_REMOVE;
  if (lr->template_name == NULL) {
    g_autofree char *reason = g_strdup_printf ("unsupported codec '%s'", lr->encoding);
    conn_fail (w, reason);
    return G_SOURCE_REMOVE;
  }
  g_autoptr (GError) error = NULL;
  if (!build_branch (w, c, lr, &error)) {
    g_warning ("Failed to build the recording branch: %s", error->message);
    conn_fail (w, error->message);
  }
  return G_SOURCE_REMOVE;   /* freeing lr unblocks the pad */
}

/* For a new rtspsrc source pad: TRUE if it carries video, with its RTP encoding name ("?" if
 * absent) and the template for @purpose ("record" or "motion") when the codec is one we
 * handle (else NULL). Any thread. */
static gboolean
video_pad_template (GstPad *pad, const char *purpose, char **encoding, char **template_name)
{
  if (GST_PAD_DIRECTION (pad) != GST_PAD_SRC)
    return FALSE;
  g_autoptr (GstCaps) caps = gst_pad_get_current_caps (pad);
  if (caps == NULL)
    caps = gst_pad_query_caps (pad, NULL);
  const GstStructure *s = caps && gst_caps_get_size (caps) ? gst_caps_get_structure (caps, 0)
                                                            : NULL;
  const char *media = s ? gst_structure_get_string (s, "media") : NULL;
  if (media == NULL || strcmp (media, "video") != 0)
    return FALSE;
  const char *enc = gst_structure_get_string (s, "encoding-name");
  *encoding = g_strdup (enc ? enc : "?");
  *template_name = NULL;
  if (enc != NULL && g_ascii_strcasecmp (enc, "H264") == 0)
    *template_name = g_strdup_printf ("%s-h264.gst", purpose);
  else if (enc != NULL && g_ascii_strcasecmp (enc, "H265") == 0)
    *template_name = g_strdup_printf ("%s-h265.gst", purpose);
  return TRUE;
}

/* For RTP caps of an audio stream: the template that records it and the codec's name ("aac",
 * "pcmu", "pcma"), or FALSE for audio we do not record (e.g. AAC-LATM, Opus, G.726). Any
 * thread. */
static gboolean
audio_template (const GstStructure *s, const char **template_name, const char **codec)
{
  const char *media = s ? gst_structure_get_string (s, "media") : NULL;
  const char *enc = s ? gst_structure_get_string (s, "encoding-name") : NULL;
  if (media == NULL || strcmp (media, "audio") != 0 || enc == NULL)
    return FALSE;
  if (g_ascii_strcasecmp (enc, "MPEG4-GENERIC") == 0) {
    const char *mode = gst_structure_get_string (s, "mode");
    if (mode == NULL || (g_ascii_strcasecmp (mode, "AAC-hbr") != 0 &&
                         g_ascii_strcasecmp (mode, "AAC-lbr") != 0))
      return FALSE;
    *template_name = "record-aac.gst";
    *codec = "aac";
    return TRUE;
  }
  if (g_ascii_strcasecmp (enc, "PCMU") == 0) {
    *template_name = "record-pcmu.gst";
    *codec = "pcmu";
    return TRUE;
  }
  if (g_ascii_strcasecmp (enc, "PCMA") == 0) {
    *template_name = "record-pcma.gst";
    *codec = "pcma";
    return TRUE;
  }
  return FALSE;
}

/* rtspsrc's audio pad (its streaming thread): blocked until the main loop built the branch. */
static void
on_audio_pad_added (Conn *c, GstPad *pad, const char *template_name, const char *codec)
{
  int expected = 0;
  if (!atomic_compare_exchange_strong (&c->audio_pad_taken, &expected, 1))
    return;
  LinkRequest *lr = g_new0 (LinkRequest, 1);
  lr->c = conn_ref (c);
  lr->pad = gst_object_ref (pad);
  lr->audio = TRUE;
  lr->encoding = g_strdup (codec);
  lr->audio_codec = g_strdup (codec);
  lr->template_name = g_strdup (template_name);
  /* Held (buffers only) until the main loop built the branch, which holds it further
   * (audio_hold): audio dropped here would be missing from the start of the first file. */
  lr->block_id = gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BLOCK | GST_PAD_PROBE_TYPE_BUFFER |
                                    GST_PAD_PROBE_TYPE_BUFFER_LIST, block_probe, NULL, NULL);
  g_main_context_invoke (NULL, on_link_request, lr);
}

static void
on_pad_added (GstElement *src, GstPad *pad, gpointer data)
{
  Conn *c = data;
  g_autofree char *enc = NULL, *template_name = NULL;
  if (GST_PAD_DIRECTION (pad) == GST_PAD_SRC && atomic_load (&c->audio_selected)) {
    g_autoptr (GstCaps) caps = gst_pad_get_current_caps (pad);
    if (caps == NULL)
      caps = gst_pad_query_caps (pad, NULL);
    const char *tn = NULL, *codec = NULL;
    if (caps != NULL && gst_caps_get_size (caps) > 0 &&
        audio_template (gst_caps_get_structure (caps, 0), &tn, &codec)) {
      on_audio_pad_added (c, pad, tn, codec);
      return;
    }
  }
  if (!video_pad_template (pad, "record", &enc, &template_name))
    return;
  int expected = 0;
  if (!atomic_compare_exchange_strong (&c->pad_taken, &expected, 1))
    return;

  LinkRequest *lr = g_new0 (LinkRequest, 1);
  lr->c = conn_ref (c);
  lr->pad = gst_object_ref (pad);
  lr->encoding = g_steal_pointer (&enc);
  lr->template_name = g_steal_pointer (&template_name);
  lr->block_id = gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BLOCK_DOWNSTREAM, block_probe, NULL,
                                    NULL);
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST, stamp_probe,
                     conn_ref (c), (GDestroyNotify) conn_unref);
  g_main_context_invoke (NULL, on_link_request, lr);
}

static gboolean
on_select_stream (GstElement *src, guint num, GstCaps *caps, gpointer data)
{
  Conn *c = data;
  const GstStructure *s = gst_caps_get_size (caps) ? gst_caps_get_structure (caps, 0) : NULL;
  const char *media = s ? gst_structure_get_string (s, "media") : NULL;
  const char *tn = NULL, *codec = NULL;
  if (media != NULL && strcmp (media, "audio") == 0) {
    /* The first audio stream we can record, if the camera's audio is on; others are not set
     * up (no traffic). */
    if (!c->w->cfg.audio || !audio_template (s, &tn, &codec))
      return FALSE;
    int none = 0;
    return atomic_compare_exchange_strong (&c->audio_selected, &none, 1);
  }
  if (media == NULL || strcmp (media, "video") != 0)
    return FALSE;
  int expected = 0;
  return atomic_compare_exchange_strong (&c->video_selected, &expected, 1);
}

static gboolean
on_watchdog (gpointer data)
{
  Worker *w = data;
  Conn *c = w->conn;
  motion_tick (w);
  if (c == NULL || (w->phase != PHASE_CONNECTING && w->phase != PHASE_STREAMING))
    return G_SOURCE_CONTINUE;
  gint64 now = g_get_monotonic_time ();
  gint64 idle_us = now - atomic_load (&c->last_data_us);
  /* Audio that stopped reaching the recorder while video arrives would hold video back inside
   * splitmuxsink: end audio for this connection instead. */
  if (w->phase == PHASE_STREAMING && c->rec_audio != NULL && !atomic_load (&c->audio_lost) &&
      now - atomic_load (&c->audio_out_us) > AUDIO_STALL_US)
    audio_end (w, c, atomic_load (&c->audio_linked) ? "no audio for 3 s" : "no audio stream");
  if (idle_us > (gint64) w->cfg.watchdog_seconds * G_USEC_PER_SEC) {
    g_autofree char *reason = g_strdup_printf ("no data for %u s", w->cfg.watchdog_seconds);
    conn_fail (w, reason);
  }
  return G_SOURCE_CONTINUE;
}

static void
worker_connect (Worker *w)
{
  g_autoptr (GError) error = NULL;
  Conn *c = g_new0 (Conn, 1);
  g_atomic_ref_count_init (&c->ref);
  c->w = w;
  g_mutex_init (&c->lock);
  c->segments = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify) segment_free);
  atomic_store (&c->last_data_us, g_get_monotonic_time ());
  atomic_store (&c->video_start_rt, -1);
  c->audio_next_rt = GST_CLOCK_TIME_NONE;
  c->udp = w->cfg.transport == TRANSPORT_UDP ||
           (w->cfg.transport == TRANSPORT_AUTO && w->use_udp);
  w->conn = c;
  w->phase = PHASE_CONNECTING;
  /* Until a connection proves otherwise, a camera refused as another one stays refused. */
  if (w->mismatch != NULL)
    send_state (w, "identity-mismatch", w->mismatch, "", 0, 0, 0);
  else
    send_state (w, "connecting", w->reason, "", 0, 0, 0);

  GstElement *src = load_element ("source.gst", &error);
  if (src == NULL) {
    g_warning ("Failed to build the source: %s", error->message);
    conn_fail (w, "internal error: source template");
    return;
  }
  c->pipeline = gst_object_ref_sink (gst_pipeline_new (NULL));
  gst_bin_add (GST_BIN (c->pipeline), src);
  c->src = src;
  g_object_set (src, "location", w->cfg.url, NULL);
  if (*w->cfg.user != '\0')
    g_object_set (src, "user-id", w->cfg.user, "user-pw", w->cfg.password, NULL);
  gst_util_set_object_arg (G_OBJECT (src), "protocols", c->udp ? "udp" : "tcp");
  if (!c->udp)
    guard_rtspsrc_teardown (src);
  g_signal_connect (src, "pad-added", G_CALLBACK (on_pad_added), c);
  g_signal_connect (src, "select-stream", G_CALLBACK (on_select_stream), c);
  /* No lip-sync offsets: with audio, rtpbin would shift one stream by an offset computed from
   * RTCP sender reports (or RTP-Info), and while the identity gate holds the video that
   * offset grows to seconds: the video jitterbuffer then holds its output, splitmuxsink waits
   * and the watchdog ends the connection (seen with fakecam). An offset over 1 ns is ignored,
   * so each stream keeps its own arrival-based timeline (RTP timestamps, skew-corrected):
   * audio and video that leave the camera together stay together within network jitter. */
  if (w->cfg.audio)
    g_object_set (src, "max-ts-offset", (gint64) 1, NULL);

  g_autoptr (GstBus) bus = gst_element_get_bus (c->pipeline);
  c->bus_watch = gst_bus_add_watch_full (bus, G_PRIORITY_DEFAULT, on_bus, conn_ref (c),
                                         (GDestroyNotify) conn_unref);
  g_message ("Connecting to %s over %s", w->cfg.url, c->udp ? "UDP" : "TCP");
  if (gst_element_set_state (c->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    conn_fail (w, "pipeline failed to start");
}

/* ---- motion (docs/design/motion.md "Wiring") ----
 * A separate pipeline per connection: rtspsrc (sub-stream if configured, else main) ! depay !
 * parse ! avdec (1 thread) ! videorate 10 fps (before scaling) ! videoscale ! videoconvert GRAY8
 * 320x180 ! appsink (drop, 1 buffer). The appsink's streaming thread copies the frame into
 * Mo.pending (one slot) and posts; the detector runs here on the main loop (≈ 0.3 ms/frame). */

static Mo *
mo_ref (Mo *m)
{
  g_atomic_ref_count_inc (&m->ref);
  return m;
}

static void
motion_frame_free (MotionFrame *f)
{
  if (f == NULL)
    return;
  gst_sample_unref (f->sample);
  g_free (f);
}

static void
mo_unref (Mo *m)
{
  if (m == NULL || !g_atomic_ref_count_dec (&m->ref))
    return;
  motion_frame_free (m->pending);
  g_mutex_clear (&m->lock);
  g_free (m);
}

static void worker_maybe_exit (Worker *w);

/* The `motion` message. @end_us 0 while active; @thumb NULL if none new. */
static void
send_motion (Worker *w, const char *state, gint64 end_us, const char *thumb)
{
  const NvrMotionResult *r = &w->ev_res;
  GVariantBuilder b, zb;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_init (&zb, G_VARIANT_TYPE_STRING_ARRAY);
  for (guint i = 0; i < r->n_zones_entered && i < NVR_MOTION_MAX_ZONES; i++) {
    const char *name = w->motion ? nvr_motion_zone_name (w->motion, r->zones_entered[i]) : NULL;
    if (name != NULL)
      g_variant_builder_add (&zb, "s", name);
  }
  g_variant_builder_add (&b, "{sv}", "state", g_variant_new_string (state));
  g_variant_builder_add (&b, "{sv}", "start_us", g_variant_new_int64 (w->ev_start_us));
  g_variant_builder_add (&b, "{sv}", "end_us", g_variant_new_int64 (end_us));
  g_variant_builder_add (&b, "{sv}", "last_us", g_variant_new_int64 (w->ev_last_us));
  g_variant_builder_add (&b, "{sv}", "score", g_variant_new_double (r->peak_score));
  g_variant_builder_add (&b, "{sv}", "area", g_variant_new_double (r->peak_area));
  g_variant_builder_add (&b, "{sv}", "zones", g_variant_builder_end (&zb));
  g_variant_builder_add (&b, "{sv}", "bbox", g_variant_new ("(dddd)", w->ev_box[0], w->ev_box[1],
                                                            w->ev_box[2], w->ev_box[3]));
  if (thumb != NULL)
    g_variant_builder_add (&b, "{sv}", "thumbnail", g_variant_new_string (thumb));
  g_debug ("Motion %s: start %" G_GINT64_FORMAT " score %.2f area %.4f", state, w->ev_start_us,
           r->peak_score, r->peak_area);
  send_msg (w, "motion", g_variant_builder_end (&b));
  w->ev_sent_mono_us = g_get_monotonic_time ();
  w->ev_sent_zones = r->n_zones_entered;
  w->ev_sent_score = r->peak_score;
}

/* ---- thumbnails: encoded and written on a thread, reported in an `update` ---- */

typedef struct {
  Worker *w;
  GstSample *sample;      /* GRAY8 frame at the event's start */
  gint64 start_us;
  guint seq;
  char *rel;              /* out */
  char *error;            /* out */
} ThumbJob;

static void
thumb_job_free (ThumbJob *j)
{
  gst_sample_unref (j->sample);
  g_free (j->rel);
  g_free (j->error);
  g_free (j);
}

static void
thumb_thread (GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
  ThumbJob *j = data;
  const WorkerConfig *cfg = &j->w->cfg;
  g_autoptr (GError) error = NULL;
  g_autoptr (GstCaps) jpeg_caps = gst_caps_new_empty_simple ("image/jpeg");
  g_autoptr (GstSample) jpeg = gst_video_convert_sample (j->sample, jpeg_caps, 5 * GST_SECOND,
                                                         &error);
  GstBuffer *buf = jpeg ? gst_sample_get_buffer (jpeg) : NULL;
  GstMapInfo map;
  if (buf == NULL || !gst_buffer_map (buf, &map, GST_MAP_READ)) {
    j->error = g_strdup_printf ("JPEG encoding failed: %s", error ? error->message : "no data");
    g_task_return_boolean (task, TRUE);
    return;
  }
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_local (j->start_us / G_USEC_PER_SEC);
  g_autofree char *day = g_date_time_format (t, "%Y-%m-%d");
  g_autofree char *hms = g_date_time_format (t, "%H%M%S");
  g_autofree char *dir_rel = g_build_filename (cfg->camera_dir, "events", day, NULL);
  g_autofree char *dir = g_build_filename (cfg->storage_root, dir_rel, NULL);
  if (g_mkdir_with_parents (dir, 0750) != 0) {
    j->error = g_strdup_printf ("cannot create '%s': %s", dir_rel, g_strerror (errno));
  } else {
    for (guint n = j->seq; n < j->seq + 1000 && j->rel == NULL; n++) {
      g_autofree char *name = g_strdup_printf ("%s-%u.jpg", hms, n);
      g_autofree char *rel = g_build_filename (dir_rel, name, NULL);
      g_autofree char *abs = g_build_filename (cfg->storage_root, rel, NULL);
      if (g_file_test (abs, G_FILE_TEST_EXISTS))
        continue;
      if (!g_file_set_contents (abs, (const char *) map.data, (gssize) map.size, &error))
        j->error = g_strdup (error->message);
      else
        j->rel = g_steal_pointer (&rel);
      break;
    }
  }
  gst_buffer_unmap (buf, &map);
  g_task_return_boolean (task, TRUE);
}

static void
on_thumb_done (GObject *src, GAsyncResult *res, gpointer data)
{
  Worker *w = data;
  ThumbJob *j = g_task_get_task_data (G_TASK (res));
  w->thumbs_pending--;
  if (j->error != NULL)
    g_warning ("Failed to write a motion thumbnail: %s", j->error);
  else if (w->ev_active && w->ev_start_us == j->start_us)
    send_motion (w, "update", 0, j->rel);
  else
    g_message ("Thumbnail '%s' written after its event ended; not reported", j->rel);
  worker_maybe_exit (w);
}

static void
thumb_start (Worker *w, GstSample *sample)
{
  ThumbJob *j = g_new0 (ThumbJob, 1);
  j->w = w;
  j->sample = gst_sample_ref (sample);
  j->start_us = w->ev_start_us;
  j->seq = ++w->thumb_seq;
  w->thumbs_pending++;
  g_autoptr (GTask) task = g_task_new (NULL, NULL, on_thumb_done, w);
  g_task_set_task_data (task, j, (GDestroyNotify) thumb_job_free);
  g_task_run_in_thread (task, thumb_thread);
}

/* What the detector said about a frame (or a stall): start, update, end. */
static void
motion_result (Worker *w, const NvrMotionResult *r, gint64 ts_us, GstSample *sample)
{
  if (r->started || (w->ev_active && (r->active || r->ended))) {
    w->ev_res = *r;
    if (r->motion && r->area >= w->ev_res.peak_area) {
      w->ev_box[0] = r->box_x;
      w->ev_box[1] = r->box_y;
      w->ev_box[2] = r->box_w;
      w->ev_box[3] = r->box_h;
    }
  }
  if (r->started) {
    w->ev_active = TRUE;
    w->ev_start_us = r->event_start_us;
    w->ev_last_us = ts_us;
    g_message ("Motion started (score %.2f, area %.4f)", r->peak_score, r->peak_area);
    send_motion (w, "start", 0, NULL);
    if (sample != NULL)
      thumb_start (w, sample);
    return;
  }
  if (!w->ev_active)
    return;
  if (r->ended) {
    w->ev_active = FALSE;
    g_message ("Motion ended after %.1f s", (double) (r->event_end_us - w->ev_start_us) / 1e6);
    send_motion (w, "end", MAX (r->event_end_us, w->ev_start_us), NULL);
    return;
  }
  if (r->motion)
    w->ev_last_us = ts_us;
  if ((r->n_zones_entered > w->ev_sent_zones || r->peak_score > w->ev_sent_score) &&
      g_get_monotonic_time () - w->ev_sent_mono_us >= MOTION_UPDATE_US)
    send_motion (w, "update", 0, NULL);
}

static gboolean
mo_on_frame (gpointer data)
{
  Mo *m = data;
  Worker *w = m->w;
  g_mutex_lock (&m->lock);
  MotionFrame *f = g_steal_pointer (&m->pending);
  g_mutex_unlock (&m->lock);
  if (w->mo != m || f == NULL || w->motion == NULL) {
    motion_frame_free (f);
    mo_unref (m);
    return G_SOURCE_REMOVE;
  }
  GstVideoInfo info;
  GstVideoFrame vf;
  GstCaps *caps = gst_sample_get_caps (f->sample);
  /* avdec outputs a uniform grey picture, flagged corrupted, for every frame before the first
   * keyframe of a session it joined mid-GOP (each new motion pipeline): not the scene, so it
   * never reaches the detector (docs/design/motion.md "Warm-up"). */
  if (GST_BUFFER_FLAG_IS_SET (gst_sample_get_buffer (f->sample), GST_BUFFER_FLAG_CORRUPTED)) {
    if (m->corrupted++ == 0)
      g_debug ("Motion: skipping the decoder's corrupted frames before the first keyframe");
  } else if (caps != NULL && gst_video_info_from_caps (&info, caps) &&
      GST_VIDEO_INFO_FORMAT (&info) == GST_VIDEO_FORMAT_GRAY8 &&
      gst_video_frame_map (&vf, &info, gst_sample_get_buffer (f->sample), GST_MAP_READ)) {
    /* Wall time may step back a little between frames; the detector wants it increasing. */
    gint64 ts = MAX (f->wall_us, w->motion_last_wall_us + 1);
    NvrMotionResult r;
    g_autoptr (GError) error = NULL;
    gboolean ok = nvr_motion_process (w->motion, GST_VIDEO_FRAME_PLANE_DATA (&vf, 0),
                                      (guint) GST_VIDEO_FRAME_WIDTH (&vf),
                                      (guint) GST_VIDEO_FRAME_HEIGHT (&vf),
                                      (guint) GST_VIDEO_FRAME_PLANE_STRIDE (&vf, 0), ts, &r,
                                      &error);
    gst_video_frame_unmap (&vf);
    if (ok) {
      w->motion_last_wall_us = ts;
      w->motion_last_mono_us = g_get_monotonic_time ();
      motion_result (w, &r, ts, f->sample);
    } else {
      g_debug ("Motion frame ignored: %s", error->message);
    }
  }
  motion_frame_free (f);
  mo_unref (m);
  return G_SOURCE_REMOVE;
}

/* appsink's streaming thread: copy the frame out, keep only the newest, post. */
static GstFlowReturn
mo_new_sample (GstAppSink *sink, gpointer data)
{
  Mo *m = data;
  g_autoptr (GstSample) sample = gst_app_sink_pull_sample (sink);
  if (sample == NULL)
    return GST_FLOW_EOS;
  GstBuffer *buf = gst_sample_get_buffer (sample);
  GstCaps *caps = gst_sample_get_caps (sample);
  if (buf == NULL || caps == NULL || gst_buffer_get_size (buf) > 1920 * 1080)
    return GST_FLOW_OK;
  atomic_store (&m->last_data_us, g_get_monotonic_time ());
  MotionFrame *f = g_new0 (MotionFrame, 1);
  g_autoptr (GstElement) pipeline = GST_ELEMENT (gst_object_get_parent (GST_OBJECT (sink)));
  f->wall_us = pipeline ? sample_wall_us (pipeline, sample) : g_get_real_time ();
  g_autoptr (GstBuffer) copy = gst_buffer_copy_deep (buf);
  f->sample = gst_sample_new (copy, caps, gst_sample_get_segment (sample), NULL);
  g_mutex_lock (&m->lock);
  gboolean post = m->pending == NULL;
  if (!post)
    m->dropped++;
  motion_frame_free (m->pending);
  m->pending = f;
  g_mutex_unlock (&m->lock);
  if (post)
    g_main_context_invoke (NULL, mo_on_frame, mo_ref (m));
  return GST_FLOW_OK;
}

typedef struct {
  Mo *m;
  GstPad *pad;
  char *template_name;   /* NULL: unsupported codec */
  gulong block_id;
} MoLink;

static void
mo_link_free (MoLink *l)
{
  if (l->block_id)
    gst_pad_remove_probe (l->pad, l->block_id);
  gst_object_unref (l->pad);
  mo_unref (l->m);
  g_free (l->template_name);
  g_free (l);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MoLink, mo_link_free)

static void motion_failed (Worker *w, const char *why);

/* ---- hardware decoding for motion (docs/design/motion.md "Hardware decoding") ----
 * A Pi 4's V4L2 H.264 decoder (v4l2h264dec, registered by GStreamer only where the device
 * exists) decodes motion's H.264 when [motion] hardware_decode is on (default) and it has not
 * stalled or failed in this worker; otherwise avdec_h264, as everywhere else. No test machine
 * has one: NVR_TEST_HW_DECODER names a factory to stand in for it ("avdec_h264"), and
 * "avdec_h264:stall" also drops everything it outputs, so that the fallback is exercised. */
#define HW_DECODER "v4l2h264dec"
/* Input flowing since a keyframe and no decoded frame for this long: the decoder stalled. */
#define HW_STALL_US (2 * G_USEC_PER_SEC)

static const char *
hw_decoder (const Worker *w, gboolean *stall)
{
  static char test_name[64];
  *stall = FALSE;
  if (!w->cfg.motion_hw_decode || w->hw_failed)
    return NULL;
  const char *t = g_getenv ("NVR_TEST_HW_DECODER");
  if (t != NULL && *t != '\0') {
    g_strlcpy (test_name, t, sizeof test_name);
    char *colon = strchr (test_name, ':');
    if (colon != NULL) {
      *stall = strcmp (colon + 1, "stall") == 0;
      *colon = '\0';
    }
    g_autoptr (GstElementFactory) f = gst_element_factory_find (test_name);
    return f != NULL ? test_name : NULL;
  }
  g_autoptr (GstElementFactory) f = gst_element_factory_find (HW_DECODER);
  return f != NULL ? HW_DECODER : NULL;
}

/* The device nodes the hardware decoder may open once the worker is sandboxed (every
 * /dev/video*: V4L2 names its memory-to-memory decoder by number), NULL when it will not be
 * used. */
static GStrv
hw_decoder_devices (const Worker *w)
{
  gboolean stall;
  if (hw_decoder (w, &stall) == NULL)
    return NULL;
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_autoptr (GDir) dir = g_dir_open ("/dev", 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (name, "video")) {
      g_autofree char *path = g_build_filename ("/dev", name, NULL);
      g_strv_builder_add (b, path);
    }
  return g_strv_builder_end (b);
}

static GstPadProbeReturn
hw_in_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Mo *m = data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  gint64 now = g_get_monotonic_time ();
  atomic_store (&m->last_in_us, now);
  gint64 none = 0;
  if (buf != NULL && !GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT))
    atomic_compare_exchange_strong (&m->key_in_us, &none, now);
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
hw_stall_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  return GST_PAD_PROBE_DROP;
}

/* Puts the hardware decoder in place of the template's `dec` (between `parse` and `rate`).
 * FALSE, the software decoder left in place, when it cannot be made or linked. */
static gboolean
hw_decoder_swap (Mo *m, GstElement *bin, const char *factory, gboolean stall)
{
  g_autoptr (GstElement) parse = gst_bin_get_by_name (GST_BIN (bin), "parse");
  g_autoptr (GstElement) dec = gst_bin_get_by_name (GST_BIN (bin), "dec");
  g_autoptr (GstElement) rate = gst_bin_get_by_name (GST_BIN (bin), "rate");
  GstElement *hw = gst_element_factory_make (factory, "hwdec");
  if (parse == NULL || dec == NULL || rate == NULL || hw == NULL) {
    if (hw != NULL)
      gst_object_unref (gst_object_ref_sink (hw));
    return FALSE;
  }
  gst_element_unlink_many (parse, dec, rate, NULL);
  gst_bin_add (GST_BIN (bin), hw);
  if (!gst_element_link_many (parse, hw, rate, NULL)) {
    gst_element_unlink_many (parse, hw, rate, NULL);
    gst_bin_remove (GST_BIN (bin), hw);
    gst_element_link_many (parse, dec, rate, NULL);
    return FALSE;
  }
  gst_bin_remove (GST_BIN (bin), dec);
  g_autoptr (GstPad) in = gst_element_get_static_pad (hw, "sink");
  gst_pad_add_probe (in, GST_PAD_PROBE_TYPE_BUFFER, hw_in_probe, m, NULL);
  if (stall) {
    g_autoptr (GstPad) out = gst_element_get_static_pad (hw, "src");
    gst_pad_add_probe (out, GST_PAD_PROBE_TYPE_BUFFER, hw_stall_probe, NULL, NULL);
  }
  return TRUE;
}

/* 500 ms tick: TRUE (motion restarted in software) if the hardware decoder has had input since a
 * keyframe and given no frame for HW_STALL_US. */
static gboolean
hw_decoder_stalled (Worker *w)
{
  Mo *m = w->mo;
  if (m == NULL || m->hw == NULL)
    return FALSE;
  gint64 now = g_get_monotonic_time ();
  gint64 key = atomic_load (&m->key_in_us);
  gint64 since = MAX (key, atomic_load (&m->last_data_us));
  if (key == 0 || now - atomic_load (&m->last_in_us) > G_USEC_PER_SEC || now - since <= HW_STALL_US)
    return FALSE;
  g_message ("Hardware decoder %s gave no frame for %.1f s of input: motion decodes with "
             "avdec_h264 from now on", m->hw, (now - since) / 1e6);
  w->hw_failed = TRUE;
  motion_failed (w, "hardware decoder stalled");
  return TRUE;
}

static gboolean
mo_on_link (gpointer data)
{
  g_autoptr (MoLink) l = data;
  Mo *m = l->m;
  Worker *w = m->w;
  if (w->mo != m)
    return G_SOURCE_REMOVE;
  if (l->template_name == NULL) {
    motion_failed (w, "unsupported codec");
    return G_SOURCE_REMOVE;
  }
  g_autoptr (GError) error = NULL;
  g_autofree char *desc = load_template (l->template_name, &error);
  GstElement *bin = desc ? gst_parse_bin_from_description (desc, TRUE, &error) : NULL;
  if (bin == NULL) {
    g_warning ("Failed to build the motion branch: %s", error->message);
    motion_failed (w, "internal error: motion template");
    return G_SOURCE_REMOVE;
  }
  gboolean stall = FALSE;
  const char *hw = strcmp (l->template_name, "motion-h264.gst") == 0 ? hw_decoder (w, &stall)
                                                                      : NULL;
  if (hw != NULL && hw_decoder_swap (m, bin, hw, stall)) {
    m->hw = hw;
    g_message ("Motion decodes H.264 with %s (hardware)", hw);
  } else if (hw != NULL) {
    g_message ("Hardware decoder %s could not be used: motion decodes with avdec_h264", hw);
    w->hw_failed = TRUE;
  }
  gst_bin_add (GST_BIN (m->pipeline), bin);
  g_autoptr (GstElement) sink = gst_bin_get_by_name (GST_BIN (bin), "sink");
  g_autoptr (GstPad) sinkpad = gst_element_get_static_pad (bin, "sink");
  if (sink == NULL || sinkpad == NULL || gst_pad_link (l->pad, sinkpad) != GST_PAD_LINK_OK) {
    motion_failed (w, "could not link the motion stream");
    return G_SOURCE_REMOVE;
  }
  GstAppSinkCallbacks cb = { .new_sample = mo_new_sample };
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &cb, mo_ref (m), (GDestroyNotify) mo_unref);
  if (!gst_element_sync_state_with_parent (bin))
    motion_failed (w, "motion branch did not start");
  return G_SOURCE_REMOVE;   /* freeing l unblocks the pad */
}

static void
mo_on_pad_added (GstElement *src, GstPad *pad, gpointer data)
{
  Mo *m = data;
  g_autofree char *enc = NULL, *template_name = NULL;
  int expected = 0;
  if (!video_pad_template (pad, "motion", &enc, &template_name) ||
      !atomic_compare_exchange_strong (&m->pad_taken, &expected, 1))
    return;
  MoLink *l = g_new0 (MoLink, 1);
  l->m = mo_ref (m);
  l->pad = gst_object_ref (pad);
  l->template_name = g_steal_pointer (&template_name);
  l->block_id = gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BLOCK_DOWNSTREAM, block_probe, NULL,
                                   NULL);
  g_main_context_invoke (NULL, mo_on_link, l);
}

static gboolean
mo_on_select_stream (GstElement *src, guint num, GstCaps *caps, gpointer data)
{
  Mo *m = data;
  const GstStructure *s = gst_caps_get_size (caps) ? gst_caps_get_structure (caps, 0) : NULL;
  const char *media = s ? gst_structure_get_string (s, "media") : NULL;
  int expected = 0;
  return media != NULL && strcmp (media, "video") == 0 &&
         atomic_compare_exchange_strong (&m->video_selected, &expected, 1);
}

static gboolean
mo_on_bus (GstBus *bus, GstMessage *msg, gpointer data)
{
  Mo *m = data;
  Worker *w = m->w;
  if (w->mo != m)
    return G_SOURCE_CONTINUE;
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    g_autoptr (GError) err = NULL;
    g_autofree char *debug = NULL;
    gst_message_parse_error (msg, &err, &debug);
    g_autofree char *reason = error_reason (err, debug);
    /* An error of the hardware decoder itself (not of the camera or the network): the next try
     * decodes in software, for the worker's life. */
    if (m->hw != NULL && !w->hw_failed && GST_MESSAGE_SRC (msg) != NULL &&
        strcmp (GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)), "hwdec") == 0) {
      g_message ("Hardware decoder %s failed: motion decodes with avdec_h264 from now on", m->hw);
      w->hw_failed = TRUE;
    }
    motion_failed (w, reason);
  } else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
    motion_failed (w, "camera ended the stream");
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_motion_retry (gpointer data)
{
  Worker *w = data;
  w->motion_retry_source = 0;
  motion_start (w);
  return G_SOURCE_REMOVE;
}

/* Tears the motion pipeline down (the detector and any event in progress stay). */
static void
motion_stop (Worker *w)
{
  Mo *m = w->mo;
  if (w->motion_retry_source) {
    g_source_remove (w->motion_retry_source);
    w->motion_retry_source = 0;
  }
  if (m == NULL)
    return;
  w->mo = NULL;
  if (m->bus_watch)
    g_source_remove (m->bus_watch);
  gst_element_set_state (m->pipeline, GST_STATE_NULL);
  g_clear_object (&m->pipeline);
  g_mutex_lock (&m->lock);
  if (m->dropped > 0)
    g_message ("Motion: %u frame(s) dropped behind the detector", m->dropped);
  g_mutex_unlock (&m->lock);
  mo_unref (m);
}

/* The motion stream failed: recording goes on; motion retries after MOTION_RETRY_MS. */
static void
motion_failed (Worker *w, const char *why)
{
  g_message ("Motion stream (%s) failed: %s; retrying in %d ms",
             w->cfg.motion_sub ? "sub-stream" : "main stream", why, MOTION_RETRY_MS);
  motion_stop (w);
  if (!w->stop_requested)
    w->motion_retry_source = g_timeout_add (MOTION_RETRY_MS, on_motion_retry, w);
}

/* Ends an event in progress at its last motion (detect off, settings changed, exiting). */
static void
motion_end_now (Worker *w)
{
  if (!w->ev_active)
    return;
  w->ev_active = FALSE;
  send_motion (w, "end", MAX (w->ev_last_us, w->ev_start_us), NULL);
}

static void
motion_start (Worker *w)
{
  if (!w->detect || w->mo != NULL || w->motion_retry_source != 0 || w->conn == NULL ||
      w->phase != PHASE_STREAMING || w->stop_requested)
    return;
  g_autoptr (GError) error = NULL;
  if (w->motion == NULL && (w->motion = nvr_motion_new (&w->cfg.motion, &error)) == NULL) {
    g_warning ("Failed to create the motion detector: %s", error->message);
    return;
  }
  /* A new session and decoder: its first frames warm the detector up again, however short the
   * gap since the last frame of the previous one. */
  nvr_motion_new_stream (w->motion);
  GstElement *src = load_element ("source.gst", &error);
  if (src == NULL) {
    g_warning ("Failed to build the motion source: %s", error->message);
    return;
  }
  Mo *m = g_new0 (Mo, 1);
  g_atomic_ref_count_init (&m->ref);
  m->w = w;
  g_mutex_init (&m->lock);
  atomic_store (&m->last_data_us, g_get_monotonic_time ());
  m->pipeline = gst_object_ref_sink (gst_pipeline_new ("motion"));
  gst_bin_add (GST_BIN (m->pipeline), src);
  g_object_set (src, "location", w->cfg.motion_url, NULL);
  if (*w->cfg.user != '\0')
    g_object_set (src, "user-id", w->cfg.user, "user-pw", w->cfg.password, NULL);
  gst_util_set_object_arg (G_OBJECT (src), "protocols", w->conn->udp ? "udp" : "tcp");
  if (!w->conn->udp)
    guard_rtspsrc_teardown (src);
  g_signal_connect_data (src, "pad-added", G_CALLBACK (mo_on_pad_added), mo_ref (m),
                         (GClosureNotify) (void (*) (void)) mo_unref, 0);
  g_signal_connect_data (src, "select-stream", G_CALLBACK (mo_on_select_stream), mo_ref (m),
                         (GClosureNotify) (void (*) (void)) mo_unref, 0);
  g_autoptr (GstBus) bus = gst_element_get_bus (m->pipeline);
  m->bus_watch = gst_bus_add_watch_full (bus, G_PRIORITY_DEFAULT, mo_on_bus, mo_ref (m),
                                         (GDestroyNotify) mo_unref);
  w->mo = m;
  g_message ("Motion detection on the %s: %s", w->cfg.motion_sub ? "sub-stream" : "main stream",
             w->cfg.motion_url);
  if (gst_element_set_state (m->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    motion_failed (w, "pipeline failed to start");
}

/* 500 ms tick: a stalled motion stream is restarted; an event ends by its timer when no frame
 * comes (camera gone, stream stalled). */
static void
motion_tick (Worker *w)
{
  gint64 now = g_get_monotonic_time ();
  if (!hw_decoder_stalled (w) && w->mo != NULL &&
      now - atomic_load (&w->mo->last_data_us) > (gint64) w->cfg.watchdog_seconds * G_USEC_PER_SEC)
    motion_failed (w, "no frames");
  if (w->motion != NULL && w->ev_active && now - w->motion_last_mono_us > MOTION_STALL_US) {
    NvrMotionResult r;
    nvr_motion_advance (w->motion, w->motion_last_wall_us + (now - w->motion_last_mono_us), &r);
    motion_result (w, &r, w->motion_last_wall_us, NULL);
  }
}

/* The daemon changed the camera's masks or zones (`motion-settings`): a new detector; an event
 * in progress ends at its last motion. */
static void
motion_set_polygons (Worker *w, GVariant *fields)
{
  NvrMotionSettings ms = w->cfg.motion;
  g_autoptr (GError) error = NULL;
  if (!nvr_events_polygons_from_json (nvr_wire_get_str (fields, "motion_masks", ""), FALSE, &ms,
                                      &error) ||
      !nvr_events_polygons_from_json (nvr_wire_get_str (fields, "motion_zones", ""), TRUE, &ms,
                                      &error) ||
      !nvr_motion_settings_validate (&ms, &error)) {
    g_warning ("Ignoring invalid motion settings: %s", error->message);
    return;
  }
  w->cfg.motion = ms;
  motion_end_now (w);
  g_clear_pointer (&w->motion, nvr_motion_free);
  if (w->mo != NULL && (w->motion = nvr_motion_new (&w->cfg.motion, &error)) == NULL)
    g_warning ("Failed to create the motion detector: %s", error->message);
  g_message ("Camera '%s': motion settings changed (%u mask(s), %u zone(s))", w->cfg.name,
             ms.n_masks, ms.n_zones);
}

/* The daemon switched detection (`detect` message). */
static void
motion_set_detect (Worker *w, gboolean on)
{
  if (w->detect == on)
    return;
  w->detect = on;
  g_message ("Camera '%s': motion detection %s", w->cfg.name, on ? "on" : "off");
  if (on) {
    motion_start (w);
  } else {
    motion_stop (w);
    motion_end_now (w);
    g_clear_pointer (&w->motion, nvr_motion_free);
  }
}

/* ---- live view and snapshots (docs/design/auth.md "Live view") ----
 * tap_probe sits on the recording branch's output (after the identity gate), so both see only
 * this camera's accepted stream. Live: a separate pipeline per request, appsrc ! mp4mux
 * (fragmented, streamable) ! appsink, fed by the probe with references to the parsed H.264
 * frames, so an error in it can never stop the recording. The appsink's thread splits mp4mux's
 * output into init segment and fragments (nvr/fmp4.c) and posts them; the main loop sends them.
 * Every stage has a byte bound; past one, frames or fragments are dropped until the next
 * keyframe. Snapshots: one keyframe every SNAPSHOT_INTERVAL_US is decoded to JPEG on snap_pool
 * and renamed over <camera_dir>/snapshot.jpg. */

typedef struct _Live {
  gatomicrefcount ref;
  Worker *w;
  GstElement *pipeline;            /* main loop */
  GstElement *src;                 /* main loop */
  gboolean audio;                  /* main loop: built with the audio track */
  guint bus_watch;                 /* main loop */
  gboolean sent_init;              /* main loop */
  GMutex lock;
  NvrFmp4Splitter *splitter;       /* lock (the appsink's thread) */
  gboolean skip;                   /* lock: a fragment was dropped here; wait for a key one */
  atomic_uint_fast64_t posted;     /* bytes posted to the main loop, not yet handled */
} Live;

typedef struct {
  Live *l;
  NvrFmp4Kind kind;                /* NVR_FMP4_NONE = the stream failed: @reason */
  GBytes *bytes;
  gboolean key;
  guint64 dropped;
  char codec[NVR_FMP4_CODEC_MAX];
  char *reason;
} LiveUnit;

static Live *
live_ref (Live *l)
{
  g_atomic_ref_count_inc (&l->ref);
  return l;
}

static void
live_unref (Live *l)
{
  if (l == NULL || !g_atomic_ref_count_dec (&l->ref))
    return;
  nvr_fmp4_splitter_free (l->splitter);
  g_mutex_clear (&l->lock);
  g_free (l);
}

static void
live_unit_free (LiveUnit *u)
{
  if (u->bytes != NULL)
    g_bytes_unref (u->bytes);
  g_free (u->reason);
  live_unref (u->l);
  g_free (u);
}

static void live_failed (Worker *w, const char *why);

static void
live_drop (Worker *w, const char *why, guint64 size)
{
  w->live_skip = TRUE;
  if (w->live_dropped++ == 0)
    g_message ("Live fragment of %" G_GUINT64_FORMAT " bytes dropped: %s; waiting for the next "
               "keyframe", size, why);
}

static gboolean
live_send (Worker *w, const char *kind, GBytes *bytes, const char *codec, gboolean key)
{
  gsize size = g_bytes_get_size (bytes);
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "data",
                         g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, bytes, TRUE));
  if (codec != NULL)
    g_variant_builder_add (&b, "{sv}", "codec", g_variant_new_string (codec));
  else
    g_variant_builder_add (&b, "{sv}", "key", g_variant_new_boolean (key));
  g_autoptr (GVariant) f = g_variant_ref_sink (g_variant_builder_end (&b));
  g_autoptr (GError) error = NULL;
  if (w->ch == NULL)
    return FALSE;
  /* Counted only when queued: bytes that never reach the daemon are never acknowledged. */
  if (!nvr_wire_channel_send (w->ch, kind, f, &error)) {
    live_drop (w, error->message, size);
    return FALSE;
  }
  w->live_sent_bytes += size;
  return TRUE;
}

/* A key fragment was sent: how long since its keyframe reached rtspsrc. Valid while the GOP is
 * longer than a fragment (the last keyframe tapped is then the one this fragment starts with). */
static void
live_measure (Worker *w, Conn *c)
{
  gint64 tap = atomic_load (&c->live_key_tap_us);
  if (tap == 0)
    return;
  gint64 age = atomic_load (&c->live_key_age_us);
  gint64 lat = g_get_monotonic_time () - tap + age;
  w->live_age_sum_us += age;
  if (w->live_lat_n == 0 || lat < w->live_lat_min_us)
    w->live_lat_min_us = lat;
  w->live_lat_max_us = MAX (w->live_lat_max_us, lat);
  w->live_lat_sum_us += lat;
  w->live_lat_n++;
}

/* Main loop: one unit from the muxer thread. */
static gboolean
live_on_unit (gpointer data)
{
  LiveUnit *u = data;
  Live *l = u->l;
  Worker *w = l->w;
  gsize size = u->bytes ? g_bytes_get_size (u->bytes) : 0;
  atomic_fetch_sub (&l->posted, size);
  if (w->live != l) {
    live_unit_free (u);
    return G_SOURCE_REMOVE;
  }
  switch (u->kind) {
  case NVR_FMP4_NONE:
    live_failed (w, u->reason);
    break;
  case NVR_FMP4_DROPPED:
    live_drop (w, u->reason ? u->reason : "over the maximum fragment size", u->dropped);
    break;
  case NVR_FMP4_INIT:
    g_message ("Live stream: init segment (%" G_GSIZE_FORMAT " bytes, %s)", size, u->codec);
    if (!live_send (w, "live-init", u->bytes, u->codec, FALSE)) {
      live_failed (w, "could not send the init segment");   /* rebuilt: a new init */
      break;
    }
    l->sent_init = TRUE;
    w->live_skip = TRUE;   /* start at a key fragment */
    break;
  case NVR_FMP4_FRAGMENT:
    if (!l->sent_init || (w->live_skip && !u->key))
      break;
    if (w->live_sent_bytes - w->live_acked_bytes + size > LIVE_MAX_IN_FLIGHT) {
      live_drop (w, "the daemon is behind", size);
      break;
    }
    if (w->live_skip && w->live_dropped > 0) {
      g_message ("Live stream resumed at a keyframe after %u dropped fragment(s)",
                 w->live_dropped);
      w->live_dropped = 0;
    }
    w->live_skip = FALSE;
    if (live_send (w, "live-fragment", u->bytes, NULL, u->key) && u->key && w->conn != NULL)
      live_measure (w, w->conn);
    break;
  }
  live_unit_free (u);
  return G_SOURCE_REMOVE;
}

static void
live_post (Live *l, NvrFmp4Kind kind, GBytes *bytes, gboolean key, guint64 dropped,
           const char *codec, const char *reason)
{
  LiveUnit *u = g_new0 (LiveUnit, 1);
  u->l = live_ref (l);
  u->kind = kind;
  u->bytes = bytes;   /* taken */
  u->key = key;
  u->dropped = dropped;
  if (codec != NULL)
    g_strlcpy (u->codec, codec, sizeof u->codec);
  u->reason = g_strdup (reason);
  if (bytes != NULL)
    atomic_fetch_add (&l->posted, g_bytes_get_size (bytes));
  g_main_context_invoke (NULL, live_on_unit, u);
}

/* appsink's thread: mp4mux output → splitter → complete units to the main loop. */
static GstFlowReturn
live_new_sample (GstAppSink *sink, gpointer data)
{
  Live *l = data;
  g_autoptr (GstSample) sample = gst_app_sink_pull_sample (sink);
  if (sample == NULL)
    return GST_FLOW_EOS;
  GstBuffer *buf = gst_sample_get_buffer (sample);
  GstMapInfo map;
  if (buf == NULL || !gst_buffer_map (buf, &map, GST_MAP_READ))
    return GST_FLOW_OK;
  g_mutex_lock (&l->lock);
  g_autoptr (GError) error = NULL;
  gboolean ok = nvr_fmp4_splitter_feed (l->splitter, map.data, map.size, &error);
  gst_buffer_unmap (buf, &map);
  for (;;) {
    GBytes *unit = NULL;
    gboolean key = FALSE;
    guint64 dropped = 0;
    NvrFmp4Kind kind = nvr_fmp4_splitter_pop (l->splitter, &unit, &key, &dropped);
    if (kind == NVR_FMP4_NONE)
      break;
    if (kind == NVR_FMP4_FRAGMENT) {
      if (l->skip && !key) {
        g_bytes_unref (unit);
        continue;
      }
      if (atomic_load (&l->posted) + g_bytes_get_size (unit) > LIVE_MAX_POSTED_BYTES) {
        l->skip = TRUE;
        dropped = g_bytes_get_size (unit);
        g_bytes_unref (unit);
        live_post (l, NVR_FMP4_DROPPED, NULL, FALSE, dropped, NULL, "the main loop is behind");
        continue;
      }
      l->skip = FALSE;
    }
    live_post (l, kind, unit, key, dropped, nvr_fmp4_splitter_codec (l->splitter), NULL);
  }
  g_mutex_unlock (&l->lock);
  if (!ok) {
    g_autofree char *why = g_strdup_printf ("bad mp4mux output: %s", error->message);
    live_post (l, NVR_FMP4_NONE, NULL, FALSE, 0, NULL, why);
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

static gboolean
live_on_bus (GstBus *bus, GstMessage *msg, gpointer data)
{
  Live *l = data;
  Worker *w = l->w;
  if (w->live != l)
    return G_SOURCE_CONTINUE;
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    g_autoptr (GError) err = NULL;
    gst_message_parse_error (msg, &err, NULL);
    live_failed (w, err->message);
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_live_retry (gpointer data)
{
  Worker *w = data;
  w->live_retry_source = 0;
  live_start (w);
  return G_SOURCE_REMOVE;
}

/* Tears the live pipeline down (recording is not touched). Main loop. */
static void
live_stop (Worker *w)
{
  if (w->live_retry_source) {
    g_source_remove (w->live_retry_source);
    w->live_retry_source = 0;
  }
  Live *l = w->live;
  if (l == NULL)
    return;
  w->live = NULL;
  if (w->conn != NULL) {
    Conn *c = w->conn;
    g_mutex_lock (&c->lock);
    g_clear_object (&c->live_src);
    g_clear_object (&c->live_asrc);
    g_mutex_unlock (&c->lock);
    guint drops = atomic_exchange (&c->live_queue_drops, 0);
    if (drops > 0)
      g_message ("Live: %u frame(s) dropped before the muxer", drops);
  }
  if (l->bus_watch)
    g_source_remove (l->bus_watch);
  gst_element_set_state (l->pipeline, GST_STATE_NULL);
  g_clear_object (&l->pipeline);
  l->src = NULL;
  live_unref (l);
  w->live_skip = FALSE;
  if (w->live_lat_n > 0)
    g_message ("Live stream stopped; %u key fragment(s), keyframe arrival to sent: min %"
               G_GINT64_FORMAT " ms, mean %" G_GINT64_FORMAT " ms, max %" G_GINT64_FORMAT
               " ms (of which arrival to muxer: mean %" G_GINT64_FORMAT " ms)",
               w->live_lat_n, w->live_lat_min_us / 1000,
               w->live_lat_sum_us / w->live_lat_n / 1000, w->live_lat_max_us / 1000,
               w->live_age_sum_us / w->live_lat_n / 1000);
  else
    g_message ("Live stream stopped");
  w->live_lat_n = 0;
  w->live_lat_sum_us = w->live_lat_max_us = w->live_lat_min_us = w->live_age_sum_us = 0;
}

static void
live_failed (Worker *w, const char *why)
{
  g_warning ("Failed to run the live stream of camera '%s': %s; retrying in %d ms", w->cfg.name,
             why, LIVE_RETRY_MS);
  live_stop (w);
  if (w->live_on && !w->stop_requested)
    w->live_retry_source = g_timeout_add (LIVE_RETRY_MS, on_live_retry, w);
}

/* Builds the live pipeline for the current connection when the daemon wants it. Main loop. */
static void
live_start (Worker *w)
{
  Conn *c = w->conn;
  if (!w->live_on || w->live != NULL || w->live_retry_source != 0 || c == NULL ||
      w->phase != PHASE_STREAMING || w->stop_requested || c->branch == NULL)
    return;
  if (strcmp (c->seen.codec, "h264") != 0) {
    if (!w->live_refused_logged)
      g_message ("Live view is H.264 only (browsers cannot decode %s without hardware); "
                 "not starting it", c->seen.codec);
    w->live_refused_logged = TRUE;
    return;
  }
  /* With audio only when the recorder gets it now (its caps known) and live audio did not stall
   * on this connection; audio that starts later joins at the next live start. */
  g_mutex_lock (&c->lock);
  g_autoptr (GstCaps) acaps = c->audio_caps && atomic_load (&c->audio_linked) &&
      !atomic_load (&c->audio_lost) && !atomic_load (&c->live_audio_off)
      ? gst_caps_ref (c->audio_caps) : NULL;
  g_mutex_unlock (&c->lock);
  g_autoptr (GError) error = NULL;
  g_autofree char *desc = load_template (acaps ? "live-h264-aac.gst" : "live-h264.gst", &error);
  GstElement *pipeline = desc ? gst_parse_launch (desc, &error) : NULL;
  if (pipeline == NULL || !GST_IS_PIPELINE (pipeline)) {
    g_warning ("Failed to build the live pipeline: %s", error ? error->message : "not a pipeline");
    if (pipeline != NULL)
      gst_object_unref (pipeline);
    return;
  }
  Live *l = g_new0 (Live, 1);
  g_atomic_ref_count_init (&l->ref);
  l->w = w;
  g_mutex_init (&l->lock);
  l->splitter = nvr_fmp4_splitter_new (LIVE_MAX_FRAGMENT);
  l->pipeline = gst_object_ref_sink (pipeline);
  w->live = l;
  g_autoptr (GstElement) src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  g_autoptr (GstElement) mux = gst_bin_get_by_name (GST_BIN (pipeline), "mux");
  g_autoptr (GstElement) sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  g_autoptr (GstElement) asrc = acaps ? gst_bin_get_by_name (GST_BIN (pipeline), "asrc") : NULL;
  g_autoptr (GstPad) out = gst_element_get_static_pad (c->branch, "src");
  g_autoptr (GstCaps) caps = out ? gst_pad_get_current_caps (out) : NULL;
  if (src == NULL || mux == NULL || sink == NULL || caps == NULL || (acaps && asrc == NULL)) {
    live_failed (w, "template lacks src/asrc/mux/sink, or the stream has no caps yet");
    return;
  }
  l->src = src;
  l->audio = acaps != NULL;
  if (asrc != NULL)
    g_object_set (asrc, "caps", acaps, "max-bytes", (guint64) LIVE_MAX_AUDIO_QUEUED_BYTES, NULL);
  g_object_set (mux, "fragment-duration", (guint) LIVE_FRAGMENT_MS, NULL);
  g_object_set (src, "caps", caps, "max-bytes", (guint64) LIVE_MAX_QUEUED_BYTES, NULL);
  GstAppSinkCallbacks cb = { .new_sample = live_new_sample };
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &cb, live_ref (l), (GDestroyNotify) live_unref);
  g_autoptr (GstBus) bus = gst_element_get_bus (pipeline);
  l->bus_watch = gst_bus_add_watch_full (bus, G_PRIORITY_DEFAULT, live_on_bus, live_ref (l),
                                         (GDestroyNotify) live_unref);
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    live_failed (w, "pipeline failed to start");
    return;
  }
  atomic_store (&c->live_need_key, 1);   /* before the tap can see the appsrc */
  atomic_store (&c->live_video_rt0, -1);
  atomic_store (&c->live_audio_us, g_get_monotonic_time ());
  g_mutex_lock (&c->lock);
  g_set_object (&c->live_src, src);
  g_set_object (&c->live_asrc, asrc);
  g_mutex_unlock (&c->lock);
  g_message ("Live stream started (fragments of %d ms, %s)", LIVE_FRAGMENT_MS,
             l->audio ? "with audio" : "video only");
}

/* Audio ended or stalled on this connection: a live stream with an audio track restarts video
 * only (a new init segment; viewers reconnect). Main loop. */
static void
live_audio_ended (Worker *w)
{
  if (w->conn != NULL)
    atomic_store (&w->conn->live_audio_off, 1);
  if (w->live == NULL || !w->live->audio)
    return;
  g_message ("Live audio stopped; live view goes on without audio");
  live_stop (w);
  live_start (w);
}

static gboolean
on_live_audio_gap (gpointer data)
{
  Conn *c = data;
  if (c->w->conn == c)
    live_audio_ended (c->w);
  conn_unref (c);
  return G_SOURCE_REMOVE;
}

/* The daemon switched live view (`live` message). */
static void
live_set (Worker *w, gboolean on)
{
  if (w->live_on == on)
    return;
  w->live_on = on;
  w->live_refused_logged = FALSE;
  if (on)
    live_start (w);
  else
    live_stop (w);
}

typedef struct {
  Worker *w;
  GstSample *sample;      /* one H.264 keyframe with its caps */
} SnapJob;

/* snap_pool thread: one keyframe through snapshot-<codec>.gst (appsrc ! decoder ! videoconvert
 * ! jpegenc ! appsink), then EOS; the JPEG is the pipeline's one output. */
static GstSample *
snapshot_encode (GstSample *frame, GError **error)
{
  GstCaps *caps = gst_sample_get_caps (frame);
  const GstStructure *st = caps && gst_caps_get_size (caps) ? gst_caps_get_structure (caps, 0)
                                                            : NULL;
  const char *name = st && gst_structure_has_name (st, "video/x-h265") ? "snapshot-h265.gst"
                                                                       : "snapshot-h264.gst";
  g_autofree char *desc = load_template (name, error);
  if (desc == NULL)
    return NULL;
  g_autoptr (GstElement) pipeline = gst_parse_launch (desc, error);
  if (pipeline == NULL)
    return NULL;
  g_autoptr (GstElement) src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  g_autoptr (GstElement) sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  if (src == NULL || sink == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Template '%s' lacks src or sink", name);
    return NULL;
  }
  g_object_set (src, "caps", caps, NULL);
  GstSample *jpeg = NULL;
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE &&
      gst_app_src_push_sample (GST_APP_SRC (src), frame) == GST_FLOW_OK &&
      gst_app_src_end_of_stream (GST_APP_SRC (src)) == GST_FLOW_OK)
    jpeg = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 5 * GST_SECOND);
  if (jpeg == NULL) {
    g_autoptr (GstBus) bus = gst_element_get_bus (pipeline);
    g_autoptr (GstMessage) msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    g_autoptr (GError) err = NULL;
    if (msg != NULL)
      gst_message_parse_error (msg, &err, NULL);
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "no picture from the keyframe (%s)",
                 err ? err->message : "no error message");
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  return jpeg;
}

/* snap_pool thread: decode the keyframe, encode JPEG, write a temporary file in the camera's
 * directory and rename it over snapshot.jpg, so a reader sees the old or the new file whole. */
static void
snapshot_job_run (gpointer data, gpointer user_data)
{
  SnapJob *j = data;
  const WorkerConfig *cfg = &j->w->cfg;
  g_autoptr (GError) error = NULL;
  g_autoptr (GstSample) jpeg = snapshot_encode (j->sample, &error);
  GstBuffer *buf = jpeg ? gst_sample_get_buffer (jpeg) : NULL;
  GstMapInfo map;
  if (buf == NULL || !gst_buffer_map (buf, &map, GST_MAP_READ)) {
    g_warning ("Failed to encode a snapshot: %s", error ? error->message : "no data");
  } else {
    g_autofree char *dir = g_build_filename (cfg->storage_root, cfg->camera_dir, NULL);
    g_autofree char *path = g_build_filename (dir, SNAPSHOT_NAME, NULL);
    g_autofree char *tmp = g_build_filename (dir, "." SNAPSHOT_NAME ".tmp", NULL);
    if (!g_file_set_contents_full (tmp, (const char *) map.data, (gssize) map.size,
                                   G_FILE_SET_CONTENTS_NONE, 0640, &error))
      g_warning ("Failed to write '%s': %s", tmp, error->message);
    else if (g_rename (tmp, path) != 0)
      g_warning ("Failed to rename '%s' to '%s': %s", tmp, path, g_strerror (errno));
    gst_buffer_unmap (buf, &map);
  }
  gst_sample_unref (j->sample);
  atomic_store (&j->w->snap_busy, 0);
  g_free (j);
}

/* Tap thread: every SNAPSHOT_INTERVAL_US, hand a keyframe to the snapshot thread. */
static void
snapshot_maybe (Conn *c, GstPad *pad, GstBuffer *buf)
{
  Worker *w = c->w;
  gint64 now = g_get_monotonic_time ();
  if (now - atomic_load (&c->snap_last_us) < SNAPSHOT_INTERVAL_US)
    return;
  int expected = 0;
  if (!atomic_compare_exchange_strong (&w->snap_busy, &expected, 1))
    return;
  g_autoptr (GstCaps) caps = gst_pad_get_current_caps (pad);
  if (caps == NULL) {
    atomic_store (&w->snap_busy, 0);
    return;
  }
  atomic_store (&c->snap_last_us, now);
  SnapJob *j = g_new0 (SnapJob, 1);
  j->w = w;
  j->sample = gst_sample_new (buf, caps, NULL, NULL);
  g_thread_pool_push (w->snap_pool, j, NULL);
}

/* Tap thread: how long ago @buf reached rtspsrc (clock − (base time + running time)), 0 if
 * unknown. */
static gint64
buffer_age_us (GstPad *pad, GstBuffer *buf)
{
  g_autoptr (GstElement) el = gst_pad_get_parent_element (pad);
  g_autoptr (GstEvent) ev = gst_pad_get_sticky_event (pad, GST_EVENT_SEGMENT, 0);
  g_autoptr (GstClock) clock = el ? gst_element_get_clock (el) : NULL;
  if (ev == NULL || clock == NULL || !GST_BUFFER_PTS_IS_VALID (buf))
    return 0;
  const GstSegment *seg = NULL;
  gst_event_parse_segment (ev, &seg);
  GstClockTime rt = gst_segment_to_running_time (seg, GST_FORMAT_TIME, GST_BUFFER_PTS (buf));
  if (!GST_CLOCK_TIME_IS_VALID (rt))
    return 0;
  gint64 age_ns = (gint64) gst_clock_get_time (clock) -
                  (gint64) (gst_element_get_base_time (el) + rt);
  return age_ns > 0 && age_ns < 60 * GST_SECOND ? age_ns / 1000 : 0;
}

/* Tap thread, after a frame went to live: with a live audio track, the first frame fixes where
 * audio starts and its PTS base; then, audio silent for LIVE_AUDIO_GAP_US ends live audio. */
static void
live_audio_tick (Conn *c, GstPad *pad, GstBuffer *buf)
{
  g_mutex_lock (&c->lock);
  gboolean audio = c->live_asrc != NULL;
  g_mutex_unlock (&c->lock);
  if (!audio || atomic_load (&c->live_audio_off))
    return;
  if (atomic_load (&c->live_video_rt0) < 0) {
    g_autoptr (GstEvent) ev = gst_pad_get_sticky_event (pad, GST_EVENT_SEGMENT, 0);
    const GstSegment *seg = NULL;
    if (ev != NULL)
      gst_event_parse_segment (ev, &seg);
    GstClockTime rt = seg && seg->format == GST_FORMAT_TIME && GST_BUFFER_PTS_IS_VALID (buf)
        ? gst_segment_to_running_time (seg, GST_FORMAT_TIME, GST_BUFFER_PTS (buf))
        : GST_CLOCK_TIME_NONE;
    if (!GST_CLOCK_TIME_IS_VALID (rt))
      return;
    atomic_store (&c->live_pts_off, (gint64) GST_BUFFER_PTS (buf) - (gint64) rt);
    atomic_store (&c->live_video_rt0, (gint64) rt);
    atomic_store (&c->live_audio_us, g_get_monotonic_time ());
    return;
  }
  if (g_get_monotonic_time () - atomic_load (&c->live_audio_us) <= LIVE_AUDIO_GAP_US)
    return;
  int expected = 0;
  if (atomic_compare_exchange_strong (&c->live_audio_off, &expected, 1))
    g_main_context_invoke (NULL, on_live_audio_gap, conn_ref (c));
}

/* Tap thread: one frame on its way to the recorder. */
static void
tap_buffer (Conn *c, GstPad *pad, GstBuffer *buf)
{
  gboolean key = !GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
  if (key)
    snapshot_maybe (c, pad, buf);
  g_mutex_lock (&c->lock);
  GstElement *src = c->live_src ? gst_object_ref (c->live_src) : NULL;
  g_mutex_unlock (&c->lock);
  if (src == NULL)
    return;
  if (atomic_load (&c->live_need_key) && !key) {
    gst_object_unref (src);
    return;
  }
  if (gst_app_src_get_current_level_bytes (GST_APP_SRC (src)) + gst_buffer_get_size (buf) >
      LIVE_MAX_QUEUED_BYTES) {
    atomic_store (&c->live_need_key, 1);   /* the muxer is behind: skip to the next GOP */
    atomic_fetch_add (&c->live_queue_drops, 1);
    gst_object_unref (src);
    return;
  }
  atomic_store (&c->live_need_key, 0);
  if (key) {
    atomic_store (&c->live_key_age_us, buffer_age_us (pad, buf));
    atomic_store (&c->live_key_tap_us, g_get_monotonic_time ());
  }
  g_autoptr (GstCaps) caps = gst_pad_get_current_caps (pad);
  g_autoptr (GstSample) sample = gst_sample_new (buf, caps, NULL, NULL);
  gst_app_src_push_sample (GST_APP_SRC (src), sample);
  gst_object_unref (src);
  live_audio_tick (c, pad, buf);
}

static GstPadProbeReturn
tap_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Conn *c = data;
  if (atomic_load (&c->draining))
    return GST_PAD_PROBE_OK;
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    tap_buffer (c, pad, GST_PAD_PROBE_INFO_BUFFER (info));
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list = GST_PAD_PROBE_INFO_BUFFER_LIST (info);
    for (guint i = 0; i < gst_buffer_list_length (list); i++)
      tap_buffer (c, pad, gst_buffer_list_get (list, i));
  }
  return GST_PAD_PROBE_OK;
}

/* ---- process lifecycle ---- */

static gboolean
on_deadline (gpointer data)
{
  Worker *w = data;
  w->deadline_source = 0;
  g_warning ("Orderly stop took over %d ms; exiting anyway", STOP_DEADLINE_MS);
  w->exit_status = 1;
  g_main_loop_quit (w->loop);
  return G_SOURCE_REMOVE;
}

static void
worker_maybe_exit (Worker *w)
{
  if (!w->stop_requested || w->conn != NULL || w->syncs_pending > 0 || w->thumbs_pending > 0 ||
      w->live != NULL)
    return;
  if (w->phase != PHASE_EXITING && w->phase != PHASE_WAIT_CONFIG && w->phase != PHASE_BACKOFF)
    return;
  if (w->ch != NULL)
    nvr_wire_channel_flush (w->ch, 1000);
  g_main_loop_quit (w->loop);
}

static void
worker_request_stop (Worker *w, const char *why)
{
  if (w->stop_requested)
    return;
  g_message ("Stopping: %s", why);
  w->stop_requested = TRUE;
  motion_stop (w);
  live_stop (w);
  motion_end_now (w);
  w->deadline_source = g_timeout_add (STOP_DEADLINE_MS, on_deadline, w);
  if (w->retry_source) {
    g_source_remove (w->retry_source);
    w->retry_source = 0;
  }
  switch (w->phase) {
  case PHASE_CONNECTING:
  case PHASE_STREAMING:
    conn_fail (w, why);
    break;
  case PHASE_DRAINING:
    break;   /* drain_finish() sees stop_requested */
  default:
    w->phase = PHASE_EXITING;
    worker_maybe_exit (w);
    break;
  }
}

static gboolean
on_signal (gpointer data)
{
  worker_request_stop (data, "signal");
  return G_SOURCE_CONTINUE;
}

/* The daemon changed the pin: `nvr cameras reset-identity` (pinned false: the next contact pins,
 * and a camera refused as another one is retried now). */
static void
on_pin (Worker *w, GVariant *fields)
{
  NvrIdentity pin;
  if (!w->configured || !nvr_identity_from_fields (fields, "pin_", &pin)) {
    g_warning ("Ignoring a malformed pin message");
    return;
  }
  w->pinned = nvr_wire_get_int64 (fields, "pinned", 0) != 0;
  w->pin = pin;
  if (w->pinned)
    return;
  g_message ("Camera '%s': identity reset; the next contact pins it", w->cfg.name);
  g_clear_pointer (&w->mismatch, g_free);
  if (w->phase == PHASE_STREAMING && w->conn != NULL) {
    /* The connection in use is the next contact. */
    identity_accept (w, w->conn, NVR_IDENTITY_NEW, NULL);
  } else if (w->phase == PHASE_BACKOFF && w->retry_source != 0 && !w->stop_requested) {
    g_source_remove (w->retry_source);
    w->retry_source = 0;
    on_retry (w);
  }
}

static void
on_message (NvrWireChannel *ch, const char *kind, GVariant *fields, gpointer data)
{
  Worker *w = data;
  if (strcmp (kind, "stop") == 0) {
    worker_request_stop (w, "daemon asked");
    return;
  }
  if (strcmp (kind, "pin") == 0) {
    on_pin (w, fields);
    return;
  }
  if (strcmp (kind, "motion-settings") == 0) {
    if (w->configured)
      motion_set_polygons (w, fields);
    return;
  }
  if (strcmp (kind, "live") == 0) {
    g_autoptr (GVariant) v = g_variant_lookup_value (fields, "on", G_VARIANT_TYPE_BOOLEAN);
    if (v == NULL)
      g_warning ("Ignoring a malformed live message");
    else
      live_set (w, g_variant_get_boolean (v));
    return;
  }
  if (strcmp (kind, "live-ack") == 0) {
    guint64 acked = 0;
    if (g_variant_lookup (fields, "bytes", "t", &acked))
      w->live_acked_bytes = MAX (w->live_acked_bytes, MIN (acked, w->live_sent_bytes));
    return;
  }
  if (strcmp (kind, "detect") == 0) {
    g_autoptr (GVariant) v = g_variant_lookup_value (fields, "enabled", G_VARIANT_TYPE_BOOLEAN);
    if (!w->configured || v == NULL)
      g_warning ("Ignoring a malformed detect message");
    else
      motion_set_detect (w, g_variant_get_boolean (v));
    return;
  }
  if (strcmp (kind, "config") == 0) {
    if (w->configured) {
      g_warning ("Ignoring a second config message");
      return;
    }
    g_autoptr (GError) error = NULL;
    if (!config_parse (fields, &w->cfg, &error)) {
      g_warning ("Failed to configure camera '%s': %s", w->camera_arg, error->message);
      config_clear (&w->cfg);
      w->exit_status = 2;
      worker_request_stop (w, "bad config");
      return;
    }
    if (!nvr_identity_from_fields (fields, "pin_", &w->pin)) {
      g_warning ("Failed to configure camera '%s': Invalid config field 'pin_*'", w->camera_arg);
      config_clear (&w->cfg);
      w->exit_status = 2;
      worker_request_stop (w, "bad config");
      return;
    }
    w->pinned = nvr_wire_get_int64 (fields, "pinned", 0) != 0;
    w->configured = TRUE;
    if (g_strcmp0 (w->cfg.name, w->camera_arg) != 0)
      g_warning ("Config is for camera '%s', not '%s'", w->cfg.name, w->camera_arg);
    g_autofree char *dir = g_build_filename (w->cfg.storage_root, w->cfg.camera_dir, NULL);
    if (g_mkdir_with_parents (dir, 0750) != 0)
      g_warning ("Failed to create '%s': %s", dir, g_strerror (errno));   /* reported per segment */
    /* The camera's bytes come after this line: narrow the process first (sandbox.h). */
    g_auto (GStrv) devices = hw_decoder_devices (w);
    if (!nvr_sandbox_enter_camera (dir, w->cfg.url, w->cfg.motion_url,
                                   (const char *const *) devices, &error)) {
      g_warning ("Failed to sandbox camera '%s': %s", w->camera_arg, error->message);
      w->exit_status = 2;
      worker_request_stop (w, "no sandbox");
      return;
    }
    w->use_udp = w->cfg.transport == TRANSPORT_UDP;
    w->detect = w->cfg.detect;
    w->watchdog_source = g_timeout_add (500, on_watchdog, w);
    worker_connect (w);
    return;
  }
  g_message ("Ignoring unknown message '%s'", kind);
}

static void
on_closed (NvrWireChannel *ch, const GError *error, gpointer data)
{
  Worker *w = data;
  if (error != NULL)
    g_warning ("Daemon channel failed: %s", error->message);
  g_clear_pointer (&w->ch, nvr_wire_channel_unref);
  worker_request_stop (w, "daemon closed the channel");
}

static int
probe_main (const char *path)
{
  NvrMp4Info info;
  g_autoptr (GError) error = NULL;
  if (!nvr_mp4probe_file (path, &info, &error)) {
    g_printerr ("Failed to probe '%s': %s\n", path, error->message);
    return 1;
  }
  /* The fragment index for recovery (playback.md): a file whose boxes stop making sense part
   * way is still reported with the fragments before that point, or none. */
  g_autoptr (GMappedFile) map = g_mapped_file_new (path, FALSE, NULL);
  g_autoptr (GArray) frags = NULL;
  gint64 init_bytes = 0;
  if (map != NULL) {
    g_autoptr (NvrMp4Indexer) ix = nvr_mp4probe_indexer_new ();
    frags = g_array_new (FALSE, FALSE, sizeof (NvrMp4Fragment));
    nvr_mp4probe_indexer_feed (ix, (const guint8 *) g_mapped_file_get_contents (map),
                               g_mapped_file_get_length (map), NULL);
    NvrMp4Fragment f;
    while (nvr_mp4probe_indexer_pop (ix, &f))
      g_array_append_val (frags, f);
    init_bytes = nvr_mp4probe_indexer_init_bytes (ix);
  }
  g_autofree char *json = nvr_mp4probe_to_json_indexed (&info, init_bytes, frags);
  g_print ("%s\n", json);
  return 0;
}

int
nvr_worker_main (int argc, char **argv)
{
  g_autofree char *camera = NULL;
  g_autofree char *probe = NULL;
  GOptionEntry entries[] = {
    { "camera", 0, 0, G_OPTION_ARG_STRING, &camera, "Camera name", "NAME" },
    { "probe", 0, 0, G_OPTION_ARG_FILENAME, &probe, "Print what an MP4 file holds", "FILE" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- record one camera (fd 3: daemon)");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("camera-worker: %s\n", error->message);
    return 2;
  }
  if (probe != NULL)
    return probe_main (probe);
  if (camera == NULL || !nvr_paths_camera_name_valid (camera)) {
    g_printerr ("camera-worker: --camera NAME ([a-z0-9_-], 1-32) is required\n");
    return 2;
  }

  /* A SIGKILLed daemon takes its workers with it. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
  if (getppid () == 1)
    return 1;
  signal (SIGPIPE, SIG_IGN);

  struct stat st;
  if (fstat (WORKER_FD, &st) != 0 || !S_ISSOCK (st.st_mode)) {
    g_printerr ("camera-worker: fd %d is not the daemon's socket; run by `nvr run` only\n",
                WORKER_FD);
    return 2;
  }
  fcntl (WORKER_FD, F_SETFD, FD_CLOEXEC);

  nvr_sandbox_prepare ();
  gst_init (NULL, NULL);

  Worker *w = g_new0 (Worker, 1);
  w->camera_arg = g_strdup (camera);
  w->loop = g_main_loop_new (NULL, FALSE);
  w->phase = PHASE_WAIT_CONFIG;
  g_mutex_init (&w->name_lock);
  /* Unique and increasing across restarts: segments are far longer than a millisecond. */
  w->next_seq = (guint64) (g_get_real_time () / G_USEC_PER_SEC) * 1000;
  w->sync_pool = g_thread_pool_new (sync_job_run, w, 1, FALSE, NULL);
  w->snap_pool = g_thread_pool_new (snapshot_job_run, w, 1, FALSE, NULL);
  w->ch = nvr_wire_channel_new (WORKER_FD, on_message, on_closed, w);
  g_unix_signal_add (SIGTERM, on_signal, w);
  g_unix_signal_add (SIGINT, on_signal, w);

  send_msg (w, "hello", g_variant_new_parsed ("{'pid': <%i>}", (gint32) getpid ()));
  g_main_loop_run (w->loop);

  if (w->conn != NULL) {   /* deadline hit mid-drain */
    conn_teardown (w);
  }
  g_thread_pool_free (w->sync_pool, FALSE, TRUE);
  g_thread_pool_free (w->snap_pool, TRUE, TRUE);
  live_stop (w);
  if (w->ch != NULL) {
    nvr_wire_channel_flush (w->ch, 500);
    nvr_wire_channel_unref (w->ch);
  }
  int status = w->exit_status;
  if (w->watchdog_source)
    g_source_remove (w->watchdog_source);
  if (w->deadline_source)
    g_source_remove (w->deadline_source);
  motion_stop (w);
  g_clear_pointer (&w->motion, nvr_motion_free);
  config_clear (&w->cfg);
  g_free (w->reason);
  g_free (w->mismatch);
  g_free (w->camera_arg);
  g_mutex_clear (&w->name_lock);
  g_main_loop_unref (w->loop);
  g_free (w);
  return status;
}
