/* fakecam — N synthetic RTSP cameras on 127.0.0.1 for Hearth's tests (docs/design/fakecam.md).
 * Threads: the main loop owns the App (mounts, drop/swap state, control socket, the listening
 * socket); RTSP connections run on gst-rtsp-server's thread pool and only read immutable
 * App fields (epoch) and FcClips; each media's appsrc streaming thread owns its Feed.
 * Invariants: nothing is encoded after READY; stdout carries exactly one "READY port=N" line;
 * every served frame's timestamp is derived from one serving epoch, so all streams are in
 * phase with the wall clock recorded in --truth. */
#define G_LOG_DOMAIN "fakecam"

#include "audio.h"
#include "clip.h"
#include "control.h"
#include "idcode.h"
#include "footage.h"
#include "scene.h"

#include <gst/app/gstappsrc.h>
#include <gst/rtsp-server/rtsp-server.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <json-glib/json-glib.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

enum { STREAM_MAIN, STREAM_SUB, N_STREAMS };
static const char *const stream_names[N_STREAMS] = { "main", "sub" };

#define MAX_CAMERAS 256
#define MAX_PASSWORD_BYTES 256
#define MAX_CLIENT_THREADS 64

typedef struct {
  int cameras;
  int first_code;
  int port;
  char *codec;
  char *main_size, *sub_size;
  int fps;
  int gop;
  int bitrate_kbps;
  int clip_seconds;
  int noise;                   /* sensor-noise amplitude in luma levels; 0 = none */
  char *scene;                 /* --scene kind name; NULL = crossing */
  FcSceneKind scene_kind;
  char *cache_dir;
  char *control_path;
  char *truth_path;
  char *user;
  char *password_file;
  char *address;               /* listen address; default 127.0.0.1 */
  char *footage_path;          /* --footage: the video of --scene footage */
  char *footage_labels_path;   /* --footage-labels: its hand-labelled truth */
  gboolean odd_mounts;         /* --odd-mounts: the camera-test streams (mount_odd) */
  char *audio;                 /* --audio: codec per camera, comma-separated; NULL = none */
} Options;

/* What a camera's paths send (control `garbage`). Refcounted (g_atomic_rc_box) because the
 * medias' streaming threads read it and may outlive the App's camera array at shutdown. Set on
 * the main loop; read anywhere. */
typedef struct {
  atomic_int mode;             /* FcGarbageMode */
  atomic_uint generation;      /* bumped at every change: truncation counts from here */
} Garbage;

/* Packets a session gets in truncate mode before the stream stalls: about one keyframe's worth
 * at the defaults, so the cut falls inside an access unit (mid-NAL, inside an FU-A run). */
#define TRUNCATE_PACKETS 24
/* Resize mode switches clip every this many seconds (rounded up to whole GOPs). */
#define RESIZE_PERIOD_S 2

typedef struct {
  int index;                   /* 1-based; the /cam<index>/ paths */
  Garbage *garbage;            /* what this camera's paths send */
  guint16 code;
  FcClip *clips[N_STREAMS];
  FcAudio *audio;              /* the main stream's audio loop; NULL = no audio track */
  FcScene scene;
  gboolean dropped;            /* mounts removed, sessions closed */
  int serving;                 /* camera whose clips answer on our paths (== index unless swapped) */
} Camera;

/* The one application context. Main loop only. */
typedef struct {
  Options opt;
  FcClipParams stream_params[N_STREAMS];
  GMainLoop *loop;
  GstRTSPServer *server;
  guint server_source;
  guint cleanup_source;        /* expires sessions whose client vanished without TEARDOWN */
  GstRTSPMountPoints *mounts;
  GstRTSPSessionPool *sessions;
  GstRTSPAuth *auth;           /* NULL unless --user */
  Camera *cameras;             /* [opt.cameras] */
  GstClockTime epoch_ns;       /* system (monotonic) clock time of global frame 0 */
  gint64 epoch_unix_us;        /* wall clock at epoch_ns, for --truth */
  FcControl *control;
  FcFootageLabels *footage;    /* --scene footage: the labels, checked against the video */
  char footage_sha256[65];     /* of --footage, lower-case hex */
} App;

/* ---- feeding one media: runs on the appsrc streaming thread -------------------------- */

typedef struct {
  FcClip *clip;
  FcClip *alt;                 /* the same camera's other stream: resize mode alternates */
  Garbage *garbage;
  GstClockTime epoch_ns;
  gint64 next;                 /* global frame index of the next access unit; -1 = resync */
} Feed;

static void
feed_free (gpointer data)
{
  Feed *feed = data;
  fc_clip_unref (feed->clip);
  fc_clip_unref (feed->alt);
  g_atomic_rc_box_release (feed->garbage);
  g_free (feed);
}

/* The clip that frame @g comes from: in resize mode the two streams alternate every
 * RESIZE_PERIOD_S, switching on a GOP boundary (both clips have IDRs at multiples of the GOP,
 * and every IDR carries its SPS/PPS, so the new resolution is announced in band). */
static const FcClip *
feed_clip_for (const Feed *feed, gint64 g)
{
  const FcClipParams *p = &feed->clip->params;
  if (atomic_load (&feed->garbage->mode) != FC_GARBAGE_RESIZE || feed->alt->n_aus != feed->clip->n_aus)
    return feed->clip;
  gint64 period = (gint64) p->gop * MAX (1, (RESIZE_PERIOD_S * p->fps + p->gop - 1) / p->gop);
  return (g / period) % 2 ? feed->alt : feed->clip;
}

static GstClockTime
frame_clock_time (const Feed *feed, gint64 frame)
{
  return feed->epoch_ns + gst_util_uint64_scale_int ((guint64) frame, GST_SECOND, feed->clip->params.fps);
}

/* A feed whose next frame is this late skips ahead to the next keyframe. It happens when the
 * streaming thread was blocked, typically between DESCRIBE (the media prerolls on its first
 * frame) and PLAY; bursting the backlog instead confuses clients' jitterbuffers. */
#define FEED_LATE_LIMIT_NS (300 * GST_MSECOND)

/* The global index of the first keyframe due after @now: where a new (or late) video feed
 * starts, and where a new audio feed of the same media starts too. */
static gint64
next_keyframe (const FcClip *clip, GstClockTime epoch_ns, GstClockTime now)
{
  int fps = clip->params.fps;
  gint64 g = now > epoch_ns ? (gint64) gst_util_uint64_scale (now - epoch_ns, (guint64) fps, GST_SECOND) + 1 : 0;
  for (int i = 0; i < clip->n_aus && !clip->aus[g % clip->n_aus].key; i++)
    g++;
  return g;
}

/* Pushes the access unit of the next global frame, timestamped so that frame g is due at
 * epoch + g/fps on the system clock. A new (or late) feed waits for the next keyframe instead
 * of sending a partial GOP: whole GOPs are skipped, never single frames. */
static void
on_need_data (GstAppSrc *src, guint length, gpointer user_data)
{
  Feed *feed = user_data;
  const FcClip *clip = feed->clip;
  int fps = clip->params.fps;
  GstClock *clock = gst_element_get_clock (GST_ELEMENT (src));
  if (clock == NULL)
    clock = gst_system_clock_obtain ();
  GstClockTime now = gst_clock_get_time (clock);
  GstClockTime base = gst_element_get_base_time (GST_ELEMENT (src));
  gst_object_unref (clock);
  gboolean discont = FALSE;

  if (feed->next < 0 || frame_clock_time (feed, feed->next) + FEED_LATE_LIMIT_NS < now) {
    feed->next = next_keyframe (clip, feed->epoch_ns, now);
    discont = TRUE;
  }

  gint64 g = feed->next++;
  const FcClip *from = feed_clip_for (feed, g);
  const FcAu *au = &from->aus[g % from->n_aus];
  gsize size = 0;
  const guint8 *data = g_bytes_get_data (from->data, &size);
  GstBuffer *buf = gst_buffer_new_wrapped_full (GST_MEMORY_FLAG_READONLY, (gpointer) (data + au->offset),
                                                au->size, 0, au->size, g_bytes_ref (from->data),
                                                (GDestroyNotify) g_bytes_unref);
  GstClockTime due = frame_clock_time (feed, g);
  GST_BUFFER_PTS (buf) = GST_BUFFER_DTS (buf) = due > base ? due - base : 0;
  GST_BUFFER_DURATION (buf) = gst_util_uint64_scale_int (1, GST_SECOND, fps);
  if (!au->key)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
  if (discont)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
  gst_app_src_push_buffer (src, buf);
}

/* ---- feeding one media's audio: runs on the audio appsrc's streaming thread ----------- */

typedef struct {
  FcAudio *audio;
  FcClip *video;               /* the same media's video clip: where its first keyframe falls */
  GstClockTime epoch_ns;
  gint64 next;                 /* global index of the next audio frame; -1 = not started */
} AudioFeed;

static void
audio_feed_free (gpointer data)
{
  AudioFeed *feed = data;
  fc_audio_unref (feed->audio);
  fc_clip_unref (feed->video);
  g_free (feed);
}

static GstClockTime
audio_clock_time (const AudioFeed *feed, gint64 k)
{
  return feed->epoch_ns + gst_util_uint64_scale ((guint64) k, (guint64) feed->audio->frame_samples * GST_SECOND,
                                                 (guint64) feed->audio->rate);
}

/* Audio frame k (of the endless sequence) is due at epoch + k * frame / rate and holds loop
 * frame k mod n: timestamps increase forever, like the video's. A late feed skips ahead.
 * A new feed starts with the frame that covers the video's first keyframe, not with the frame
 * due now: the media prerolls on the first buffer of each stream, and gst-rtsp-server holds
 * that buffer until PLAY. A first audio frame due now would wait there while the video waits
 * for its keyframe (up to a GOP), then go out beside it with a timestamp up to a GOP older,
 * followed by a jump to the present (the late feed skipping ahead): a camera that sent audio
 * from its first video frame would never do that, and receivers' jitterbuffers read the jump
 * as clock skew (docs/design/storage.md "Audio", measured there). */
static void
on_audio_need_data (GstAppSrc *src, guint length, gpointer user_data)
{
  AudioFeed *feed = user_data;
  const FcAudio *a = feed->audio;
  GstClock *clock = gst_element_get_clock (GST_ELEMENT (src));
  if (clock == NULL)
    clock = gst_system_clock_obtain ();
  GstClockTime now = gst_clock_get_time (clock);
  GstClockTime base = gst_element_get_base_time (GST_ELEMENT (src));
  gst_object_unref (clock);
  gboolean discont = FALSE;
  if (feed->next == -1) {
    GstClockTime video_ns = feed->epoch_ns +
        gst_util_uint64_scale_int ((guint64) next_keyframe (feed->video, feed->epoch_ns, now),
                                   GST_SECOND, feed->video->params.fps);
    feed->next = (gint64) gst_util_uint64_scale (video_ns - feed->epoch_ns, (guint64) a->rate,
                                                 (guint64) a->frame_samples * GST_SECOND);
    discont = TRUE;
  } else if (feed->next < 0 || audio_clock_time (feed, feed->next) + FEED_LATE_LIMIT_NS < now) {
    feed->next = now > feed->epoch_ns
        ? (gint64) gst_util_uint64_scale (now - feed->epoch_ns, (guint64) a->rate,
                                          (guint64) a->frame_samples * GST_SECOND) + 1
        : 0;
    discont = TRUE;
  }
  gint64 k = feed->next++;
  const FcAudioFrame *f = &a->frames[k % a->n_frames];
  gsize size = 0;
  const guint8 *data = g_bytes_get_data (a->data, &size);
  GstBuffer *buf = gst_buffer_new_wrapped_full (GST_MEMORY_FLAG_READONLY, (gpointer) (data + f->offset),
                                                f->size, 0, f->size, g_bytes_ref (a->data),
                                                (GDestroyNotify) g_bytes_unref);
  GstClockTime due = audio_clock_time (feed, k);
  GST_BUFFER_PTS (buf) = GST_BUFFER_DTS (buf) = due > base ? due - base : 0;
  GST_BUFFER_DURATION (buf) = audio_clock_time (feed, k + 1) - due;
  if (discont)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
  gst_app_src_push_buffer (src, buf);
}

/* ---- garbage on the wire: a probe on the payloader's src pad (its streaming thread) ------- */

typedef struct {
  Garbage *garbage;
  guint generation;            /* of the mode the counters below belong to */
  guint passed;                /* packets let through in truncate mode */
  GRand *rand;
  gboolean audio;              /* the audio payloader: only the audio-* modes apply */
} WireState;

static void
wire_state_free (gpointer data)
{
  WireState *ws = data;
  g_atomic_rc_box_release (ws->garbage);
  g_rand_free (ws->rand);
  g_free (ws);
}

#define RTP_HEADER_BYTES 12    /* rtph26xpay writes no CSRCs or extensions */

/* Overwrites bytes of one RTP packet's payload: usually 1-8 random bytes (which may hit the
 * NAL or FU header), sometimes the whole payload. Mapping for write copies the packet's memory
 * first when it is shared with the clip (read-only), so the clip itself is never touched. */
static void
corrupt_packet (GstBuffer *buf, GRand *rand)
{
  GstMapInfo map;
  if (g_rand_int_range (rand, 0, 6) != 0 || !gst_buffer_map (buf, &map, GST_MAP_READWRITE))
    return;
  if (map.size > RTP_HEADER_BYTES) {
    gsize payload = map.size - RTP_HEADER_BYTES;
    if (g_rand_int_range (rand, 0, 8) == 0) {
      for (gsize i = 0; i < payload; i++)
        map.data[RTP_HEADER_BYTES + i] = (guint8) g_rand_int (rand);
    } else {
      for (int n = g_rand_int_range (rand, 1, 9); n > 0; n--)
        map.data[RTP_HEADER_BYTES + (gsize) g_rand_int_range (rand, 0, (gint32) MIN (payload, G_MAXINT32))] =
            (guint8) g_rand_int (rand);
    }
  }
  gst_buffer_unmap (buf, &map);
}

/* Audio payloader: audio-rtp overwrites every packet's payload (all of it in half of them, AU
 * headers included), audio-stop drops every packet. Video modes leave audio clean. */
static void
corrupt_audio_packet (GstBuffer *buf, GRand *rand)
{
  GstMapInfo map;
  if (!gst_buffer_map (buf, &map, GST_MAP_READWRITE))
    return;
  if (map.size > RTP_HEADER_BYTES) {
    gsize payload = map.size - RTP_HEADER_BYTES;
    gboolean all = g_rand_boolean (rand);
    for (gsize i = 0; i < payload; i++)
      if (all || g_rand_int_range (rand, 0, 16) == 0)
        map.data[RTP_HEADER_BYTES + i] = (guint8) g_rand_int (rand);
  }
  gst_buffer_unmap (buf, &map);
}

static GstPadProbeReturn
audio_garbage (WireState *ws, int mode, GstPadProbeInfo *info)
{
  if (mode == FC_GARBAGE_AUDIO_STOP)
    return GST_PAD_PROBE_DROP;
  if (mode != FC_GARBAGE_AUDIO_RTP)
    return GST_PAD_PROBE_OK;
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *buf = gst_buffer_make_writable (GST_PAD_PROBE_INFO_BUFFER (info));
    GST_PAD_PROBE_INFO_DATA (info) = buf;
    corrupt_audio_packet (buf, ws->rand);
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list = gst_buffer_list_make_writable (GST_PAD_PROBE_INFO_BUFFER_LIST (info));
    GST_PAD_PROBE_INFO_DATA (info) = list;
    for (guint i = 0; i < gst_buffer_list_length (list); i++)
      corrupt_audio_packet (gst_buffer_list_get_writable (list, i), ws->rand);
  }
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
garbage_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  WireState *ws = user_data;
  int mode = atomic_load (&ws->garbage->mode);
  guint generation = atomic_load (&ws->garbage->generation);
  if (generation != ws->generation) {
    ws->generation = generation;
    ws->passed = 0;
  }
  if (ws->audio)
    return audio_garbage (ws, mode, info);
  if (mode != FC_GARBAGE_RTP && mode != FC_GARBAGE_TRUNCATE)
    return GST_PAD_PROBE_OK;

  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    if (mode == FC_GARBAGE_TRUNCATE)
      return ws->passed++ < TRUNCATE_PACKETS ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
    GstBuffer *buf = gst_buffer_make_writable (GST_PAD_PROBE_INFO_BUFFER (info));
    corrupt_packet (buf, ws->rand);
    GST_PAD_PROBE_INFO_DATA (info) = buf;
    return GST_PAD_PROBE_OK;
  }
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list = gst_buffer_list_make_writable (GST_PAD_PROBE_INFO_BUFFER_LIST (info));
    GST_PAD_PROBE_INFO_DATA (info) = list;
    guint n = gst_buffer_list_length (list);
    if (mode == FC_GARBAGE_TRUNCATE) {
      guint keep = ws->passed >= TRUNCATE_PACKETS ? 0 : MIN (n, TRUNCATE_PACKETS - ws->passed);
      ws->passed += keep;
      if (keep == 0)
        return GST_PAD_PROBE_DROP;
      if (keep < n)
        gst_buffer_list_remove (list, keep, n - keep);
      return GST_PAD_PROBE_OK;
    }
    for (guint i = 0; i < n; i++)
      corrupt_packet (gst_buffer_list_get_writable (list, i), ws->rand);
  }
  return GST_PAD_PROBE_OK;
}

/* What a factory's medias are built from: the clip to serve, the same camera's other-stream
 * clip (resize mode) and the path owner's garbage switch. */
typedef struct {
  FcClip *clip;
  FcClip *alt;
  FcAudio *audio;              /* NULL: no audio stream */
  Garbage *garbage;
} FactoryData;

static void
factory_data_free (gpointer data, GClosure *closure)
{
  FactoryData *fd = data;
  fc_clip_unref (fd->clip);
  fc_clip_unref (fd->alt);
  fc_audio_unref (fd->audio);
  g_atomic_rc_box_release (fd->garbage);
  g_free (fd);
}

/* The audio half of a media: appsrc asrc ! clocksync ! pay1 (RTSP client thread). */
static void
configure_audio (FactoryData *fd, App *app, GstElement *bin)
{
  g_autoptr (GstElement) asrc = gst_bin_get_by_name (GST_BIN (bin), "asrc");
  g_autoptr (GstElement) apay = gst_bin_get_by_name (GST_BIN (bin), "pay1");
  g_autoptr (GstCaps) caps = fc_audio_caps (fd->audio);
  g_object_set (asrc, "caps", caps, "is-live", TRUE, "format", GST_FORMAT_TIME,
                "do-timestamp", FALSE, "min-latency", (gint64) 0, NULL);
  if (fd->audio->params.codec == FC_AUDIO_AAC)
    g_object_set (apay, "pt", 97, NULL);
  AudioFeed *feed = g_new0 (AudioFeed, 1);
  feed->audio = fc_audio_ref (fd->audio);
  feed->video = fc_clip_ref (fd->clip);
  feed->epoch_ns = app->epoch_ns;
  feed->next = -1;
  GstAppSrcCallbacks callbacks = { .need_data = on_audio_need_data };
  gst_app_src_set_callbacks (GST_APP_SRC (asrc), &callbacks, feed, audio_feed_free);

  WireState *ws = g_new0 (WireState, 1);
  ws->garbage = g_atomic_rc_box_acquire (fd->garbage);
  ws->generation = atomic_load (&fd->garbage->generation);
  ws->rand = g_rand_new ();
  ws->audio = TRUE;
  g_autoptr (GstPad) pay_src = gst_element_get_static_pad (apay, "src");
  gst_pad_add_probe (pay_src, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST,
                     garbage_probe, ws, wire_state_free);
}

/* An RTSP client thread: a shared media was just built from our (constant) launch line. */
static void
on_media_configure (GstRTSPMediaFactory *factory, GstRTSPMedia *media, gpointer user_data)
{
  FactoryData *fd = user_data;
  FcClip *clip = fd->clip;
  App *app = g_object_get_data (G_OBJECT (factory), "fakecam-app");
  g_autoptr (GstElement) bin = gst_rtsp_media_get_element (media);
  g_autoptr (GstElement) src = gst_bin_get_by_name (GST_BIN (bin), "src");
  g_autoptr (GstElement) pay = gst_bin_get_by_name (GST_BIN (bin), "pay0");
  g_autoptr (GstCaps) caps = fc_clip_caps (clip);
  g_autoptr (GstClock) clock = gst_system_clock_obtain ();

  /* The epoch is a system-clock time: pin the pipeline to that clock. */
  gst_rtsp_media_set_clock (media, clock);
  g_object_set (src, "caps", caps, "is-live", TRUE, "format", GST_FORMAT_TIME,
                "do-timestamp", FALSE, "min-latency", (gint64) 0, NULL);
  g_object_set (pay, "config-interval", -1, "pt", 96, NULL);

  Feed *feed = g_new0 (Feed, 1);
  feed->clip = fc_clip_ref (clip);
  feed->alt = fc_clip_ref (fd->alt);
  feed->garbage = g_atomic_rc_box_acquire (fd->garbage);
  feed->epoch_ns = app->epoch_ns;
  feed->next = -1;
  GstAppSrcCallbacks callbacks = { .need_data = on_need_data };
  gst_app_src_set_callbacks (GST_APP_SRC (src), &callbacks, feed, feed_free);

  WireState *ws = g_new0 (WireState, 1);
  ws->garbage = g_atomic_rc_box_acquire (fd->garbage);
  ws->generation = atomic_load (&fd->garbage->generation);
  ws->rand = g_rand_new ();
  g_autoptr (GstPad) pay_src = gst_element_get_static_pad (pay, "src");
  gst_pad_add_probe (pay_src, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST,
                     garbage_probe, ws, wire_state_free);
  if (fd->audio != NULL)
    configure_audio (fd, app, bin);
}

/* A peer that stops acknowledging for this long is dead: the kernel aborts the connection.
 * Why: gst-rtsp-server (1.22) sends a shared media's interleaved data on one path, and once a
 * TCP client's backlog is full it waits for that client ("wait for message N") before serving
 * anyone else. A blackholed client (its host or address went away without a FIN/RST: a test
 * moving a camera's address to another namespace leaves exactly that behind) would otherwise
 * stall every client of the mount until TCP gives up after ~15 minutes. A live peer's kernel
 * acknowledges within milliseconds, even when the client process itself is starved. */
#define CLIENT_USER_TIMEOUT_MS 2000

/* The listening loop (main loop): a new RTSP connection was accepted. */
static void
on_client_connected (GstRTSPServer *server, GstRTSPClient *client, gpointer user_data)
{
  GstRTSPConnection *conn = gst_rtsp_client_get_connection (client);
  GSocket *socket = conn != NULL ? gst_rtsp_connection_get_read_socket (conn) : NULL;
  g_autoptr (GError) error = NULL;
  if (socket == NULL ||
      !g_socket_set_option (socket, IPPROTO_TCP, TCP_USER_TIMEOUT, CLIENT_USER_TIMEOUT_MS, &error))
    g_printerr ("fakecam: cannot set TCP_USER_TIMEOUT on a client: %s\n",
                error ? error->message : "no socket");
}

/* ---- mounts, drop and swap: main loop -------------------------------------------------- */

static char *
mount_path (int camera, int stream)
{
  return g_strdup_printf ("/cam%d/%s", camera, stream_names[stream]);
}

/* --odd-mounts: streams a camera test must tell apart (docs/design/fakecam.md "Odd mounts"),
 * encoded live because they are tiny (160x120 at 5 fps, 8 kHz G.711): no clip, no ID code. */
static const struct {
  const char *path;
  const char *launch;
} odd_mounts[] = {
  { "/odd/audio-only", "( audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=8000,channels=1 "
                       "! alawenc ! rtppcmapay name=pay0 )" },
  { "/odd/mjpeg", "( videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=160,height=120,"
                  "framerate=5/1 ! jpegenc ! rtpjpegpay name=pay0 )" },
  { "/odd/h264-pcmu", "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=160,"
                      "height=120,framerate=5/1 ! x264enc tune=zerolatency speed-preset=ultrafast "
                      "key-int-max=5 ! rtph264pay name=pay0 config-interval=-1 "
                      "audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=8000,channels=1 "
                      "! mulawenc ! rtppcmupay name=pay1 )" },
};

static void
mount_odd (App *app)
{
  for (guint i = 0; i < G_N_ELEMENTS (odd_mounts); i++) {
    GstRTSPMediaFactory *factory = gst_rtsp_media_factory_new ();
    gst_rtsp_media_factory_set_launch (factory, odd_mounts[i].launch);
    gst_rtsp_media_factory_set_shared (factory, TRUE);
    if (app->auth != NULL)
      gst_rtsp_media_factory_add_role (factory, "fakecam",
                                       GST_RTSP_PERM_MEDIA_FACTORY_ACCESS, G_TYPE_BOOLEAN, TRUE,
                                       GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, G_TYPE_BOOLEAN, TRUE,
                                       NULL);
    gst_rtsp_mount_points_add_factory (app->mounts, odd_mounts[i].path, factory);
  }
}

/* Constant launch lines: every value is set by property in on_media_configure. The audio
 * stream (main only) is a second appsrc and payloader in the same media: one SDP, two m-lines. */
static const char *
launch_line (FcCodec video, FcAudioCodec audio)
{
  static const char *const lines[2][4] = {
    { "( appsrc name=src ! clocksync name=sync ! rtph264pay name=pay0 )",
      "( appsrc name=src ! clocksync name=sync ! rtph264pay name=pay0 "
      "appsrc name=asrc ! clocksync name=async ! rtpmp4gpay name=pay1 )",
      "( appsrc name=src ! clocksync name=sync ! rtph264pay name=pay0 "
      "appsrc name=asrc ! clocksync name=async ! rtppcmupay name=pay1 )",
      "( appsrc name=src ! clocksync name=sync ! rtph264pay name=pay0 "
      "appsrc name=asrc ! clocksync name=async ! rtppcmapay name=pay1 )" },
    { "( appsrc name=src ! clocksync name=sync ! rtph265pay name=pay0 )",
      "( appsrc name=src ! clocksync name=sync ! rtph265pay name=pay0 "
      "appsrc name=asrc ! clocksync name=async ! rtpmp4gpay name=pay1 )",
      "( appsrc name=src ! clocksync name=sync ! rtph265pay name=pay0 "
      "appsrc name=asrc ! clocksync name=async ! rtppcmupay name=pay1 )",
      "( appsrc name=src ! clocksync name=sync ! rtph265pay name=pay0 "
      "appsrc name=asrc ! clocksync name=async ! rtppcmapay name=pay1 )" },
  };
  return lines[video == FC_CODEC_H265][audio];
}

static GstRTSPMediaFactory *
make_factory (App *app, FcClip *clip, FcClip *alt, FcAudio *audio, Garbage *garbage)
{
  GstRTSPMediaFactory *factory = gst_rtsp_media_factory_new ();
  gst_rtsp_media_factory_set_launch (factory, launch_line (clip->params.codec,
                                                           audio ? audio->params.codec : FC_AUDIO_NONE));
  gst_rtsp_media_factory_set_shared (factory, TRUE);
  g_object_set_data (G_OBJECT (factory), "fakecam-app", app);
  FactoryData *fd = g_new0 (FactoryData, 1);
  fd->clip = fc_clip_ref (clip);
  fd->alt = fc_clip_ref (alt);
  fd->audio = audio ? fc_audio_ref (audio) : NULL;
  fd->garbage = g_atomic_rc_box_acquire (garbage);
  g_signal_connect_data (factory, "media-configure", G_CALLBACK (on_media_configure), fd,
                         factory_data_free, 0);
  if (app->auth != NULL)
    gst_rtsp_media_factory_add_role (factory, "fakecam",
                                     GST_RTSP_PERM_MEDIA_FACTORY_ACCESS, G_TYPE_BOOLEAN, TRUE,
                                     GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, G_TYPE_BOOLEAN, TRUE,
                                     NULL);
  return factory;
}

static void
camera_mount (App *app, Camera *cam)
{
  Camera *source = &app->cameras[cam->serving - 1];
  for (int s = 0; s < N_STREAMS; s++) {
    g_autofree char *path = mount_path (cam->index, s);
    gst_rtsp_mount_points_add_factory (app->mounts, path,
        make_factory (app, source->clips[s], source->clips[N_STREAMS - 1 - s],
                      s == STREAM_MAIN ? source->audio : NULL, cam->garbage));
  }
}

static void
camera_unmount (App *app, Camera *cam)
{
  for (int s = 0; s < N_STREAMS; s++) {
    g_autofree char *path = mount_path (cam->index, s);
    gst_rtsp_mount_points_remove_factory (app->mounts, path);
  }
}

/* TRUE if @session has a media on one of camera @index's paths. */
static gboolean
session_on_camera (GstRTSPSession *session, int index)
{
  gboolean found = FALSE;
  GList *medias = gst_rtsp_session_filter (session, NULL, NULL);
  for (GList *l = medias; l != NULL && !found; l = l->next)
    for (int s = 0; s < N_STREAMS && !found; s++) {
      g_autofree char *path = mount_path (index, s);
      gint matched = 0;
      found = gst_rtsp_session_media_matches (l->data, path, &matched) &&
              matched == (gint) strlen (path);
    }
  g_list_free_full (medias, g_object_unref);
  return found;
}

static GstRTSPFilterResult
client_filter_on_camera (GstRTSPServer *server, GstRTSPClient *client, gpointer user_data)
{
  int index = GPOINTER_TO_INT (user_data);
  gboolean found = FALSE;
  GList *sessions = gst_rtsp_client_session_filter (client, NULL, NULL);
  for (GList *l = sessions; l != NULL && !found; l = l->next)
    found = session_on_camera (l->data, index);
  g_list_free_full (sessions, g_object_unref);
  return found ? GST_RTSP_FILTER_REMOVE : GST_RTSP_FILTER_KEEP;   /* REMOVE closes it */
}

static GstRTSPFilterResult
session_filter_on_camera (GstRTSPSessionPool *pool, GstRTSPSession *session, gpointer user_data)
{
  return session_on_camera (session, GPOINTER_TO_INT (user_data)) ? GST_RTSP_FILTER_REMOVE
                                                                   : GST_RTSP_FILTER_KEEP;
}

/* Closes every RTSP connection with a session on camera @index's paths, then removes any
 * session left without a connection (UDP clients), so the shared media is torn down. */
static void
camera_kick (App *app, Camera *cam)
{
  g_list_free_full (gst_rtsp_server_client_filter (app->server, client_filter_on_camera,
                                                   GINT_TO_POINTER (cam->index)), g_object_unref);
  g_list_free_full (gst_rtsp_session_pool_filter (app->sessions, session_filter_on_camera,
                                                  GINT_TO_POINTER (cam->index)), g_object_unref);
}

typedef struct {
  int index;
  int count;
} ClientCount;

static GstRTSPFilterResult
session_count_on_camera (GstRTSPSessionPool *pool, GstRTSPSession *session, gpointer user_data)
{
  ClientCount *cc = user_data;
  if (session_on_camera (session, cc->index))
    cc->count++;
  return GST_RTSP_FILTER_KEEP;
}

static int
camera_clients (App *app, Camera *cam)
{
  ClientCount cc = { .index = cam->index };
  g_list_free (gst_rtsp_session_pool_filter (app->sessions, session_count_on_camera, &cc));
  return cc.count;
}

static void
camera_drop (App *app, Camera *cam)
{
  if (!cam->dropped)
    camera_unmount (app, cam);   /* first, so a kicked client cannot come straight back */
  cam->dropped = TRUE;
  camera_kick (app, cam);
}

static void
camera_restore (App *app, Camera *cam)
{
  if (cam->dropped)
    camera_mount (app, cam);
  cam->dropped = FALSE;
}

/* Serve camera @serving's clips on @cam's paths; current clients of @cam's paths are closed. */
static void
camera_set_serving (App *app, Camera *cam, int serving)
{
  if (!cam->dropped)
    camera_unmount (app, cam);
  camera_kick (app, cam);
  cam->serving = serving;
  if (!cam->dropped)
    camera_mount (app, cam);
}

static gboolean
on_session_cleanup (gpointer data)
{
  App *app = data;
  gst_rtsp_session_pool_cleanup (app->sessions);
  return G_SOURCE_CONTINUE;
}

static char *
status_json (App *app)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "cameras");
  json_builder_begin_array (b);
  for (int i = 0; i < app->opt.cameras; i++) {
    Camera *cam = &app->cameras[i];
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "index");
    json_builder_add_int_value (b, cam->index);
    json_builder_set_member_name (b, "code");
    json_builder_add_int_value (b, cam->code);
    json_builder_set_member_name (b, "dropped");
    json_builder_add_boolean_value (b, cam->dropped);
    json_builder_set_member_name (b, "swapped_to");
    if (cam->serving != cam->index)
      json_builder_add_int_value (b, cam->serving);
    else
      json_builder_add_null_value (b);
    json_builder_set_member_name (b, "clients");
    json_builder_add_int_value (b, camera_clients (app, cam));
    json_builder_set_member_name (b, "garbage");
    json_builder_add_string_value (b, fc_garbage_mode_name (atomic_load (&cam->garbage->mode)));
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static char *
on_command (const FcCommand *cmd, gpointer user_data)
{
  App *app = user_data;
  int first = cmd->a == 0 ? 1 : cmd->a, last = cmd->a == 0 ? app->opt.cameras : cmd->a;

  switch (cmd->kind) {
    case FC_CMD_STATUS:
      return status_json (app);
    case FC_CMD_SWAP:
      camera_set_serving (app, &app->cameras[cmd->a - 1], cmd->b);
      break;
    case FC_CMD_GARBAGE:
      for (int i = first; i <= last; i++) {
        Garbage *garbage = app->cameras[i - 1].garbage;
        atomic_store (&garbage->mode, cmd->b);
        atomic_fetch_add (&garbage->generation, 1);
      }
      g_printerr ("fakecam: control: garbage %d %s done\n", cmd->a, fc_garbage_mode_name (cmd->b));
      return g_strdup ("OK");
    case FC_CMD_DROP:
    case FC_CMD_RESTORE:
    case FC_CMD_UNSWAP:
      for (int i = first; i <= last; i++) {
        Camera *cam = &app->cameras[i - 1];
        if (cmd->kind == FC_CMD_DROP)
          camera_drop (app, cam);
        else if (cmd->kind == FC_CMD_RESTORE)
          camera_restore (app, cam);
        else if (cam->serving != cam->index)
          camera_set_serving (app, cam, cam->index);
      }
      break;
  }
  g_printerr ("fakecam: control: %s %d %d done\n",
              cmd->kind == FC_CMD_DROP ? "drop" : cmd->kind == FC_CMD_RESTORE ? "restore" :
              cmd->kind == FC_CMD_SWAP ? "swap" : "unswap", cmd->a, cmd->b);
  return g_strdup ("OK");
}

/* ---- start-up ---------------------------------------------------------------------------- */

static gboolean
parse_size (const char *text, int *width, int *height, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (text, "x", 3);
  guint64 w, h;
  if (g_strv_length (parts) != 2 ||
      !g_ascii_string_to_unsigned (parts[0], 10, NVR_IDCODE_MIN_WIDTH, 3840, &w, NULL) ||
      !g_ascii_string_to_unsigned (parts[1], 10, NVR_IDCODE_MIN_HEIGHT, 2160, &h, NULL) ||
      (w & 1) || (h & 1)) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "size '%s' must be WxH, even, between %dx%d and 3840x2160", text,
                 NVR_IDCODE_MIN_WIDTH, NVR_IDCODE_MIN_HEIGHT);
    return FALSE;
  }
  *width = (int) w;
  *height = (int) h;
  return TRUE;
}

static gboolean
check_range (const char *name, int value, int min, int max, GError **error)
{
  if (value >= min && value <= max)
    return TRUE;
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--%s must be %d..%d", name, min, max);
  return FALSE;
}

static gboolean
parse_options (App *app, int *argc, char ***argv, GError **error)
{
  Options *o = &app->opt;
  o->first_code = 1;
  o->fps = 15;
  o->gop = 0;
  o->bitrate_kbps = 800;
  o->clip_seconds = 10;
  GOptionEntry entries[] = {
    { "cameras", 0, 0, G_OPTION_ARG_INT, &o->cameras, "Number of cameras (required)", "N" },
    { "first-code", 0, 0, G_OPTION_ARG_INT, &o->first_code, "ID code of camera 1 (default 1)", "K" },
    { "port", 0, 0, G_OPTION_ARG_INT, &o->port, "RTSP port on 127.0.0.1 (default 0 = any free)", "P" },
    { "codec", 0, 0, G_OPTION_ARG_STRING, &o->codec, "h264 (default) or h265", "CODEC" },
    { "main-size", 0, 0, G_OPTION_ARG_STRING, &o->main_size, "Main stream size (default 640x360)", "WxH" },
    { "sub-size", 0, 0, G_OPTION_ARG_STRING, &o->sub_size, "Sub stream size (default 320x180)", "WxH" },
    { "fps", 0, 0, G_OPTION_ARG_INT, &o->fps, "Frames per second (default 15)", "F" },
    { "gop", 0, 0, G_OPTION_ARG_INT, &o->gop, "Frames between keyframes (default = fps)", "FRAMES" },
    { "bitrate-kbps", 0, 0, G_OPTION_ARG_INT, &o->bitrate_kbps, "Main stream bitrate (default 800; sub gets a quarter, >= 100)", "KBPS" },
    { "clip-seconds", 0, 0, G_OPTION_ARG_INT, &o->clip_seconds, "Loop length (default 10)", "S" },
    { "noise", 0, 0, G_OPTION_ARG_INT, &o->noise, "Temporal sensor noise, +-N luma levels (default 0): makes the encoder spend its bitrate", "N" },
    { "scene", 0, 0, G_OPTION_ARG_STRING, &o->scene, "What the cameras show: crossing (default), static, brightness, masked, slow, porch, glitch, irswitch, pumping, slowstop, footage or pumpingqp", "KIND" },
    { "cache", 0, 0, G_OPTION_ARG_FILENAME, &o->cache_dir, "Clip cache (default $XDG_CACHE_HOME/hearth-fakecam)", "DIR" },
    { "control", 0, 0, G_OPTION_ARG_FILENAME, &o->control_path, "Control unix socket", "PATH" },
    { "truth", 0, 0, G_OPTION_ARG_FILENAME, &o->truth_path, "Write the motion schedule JSON here", "FILE" },
    { "user", 0, 0, G_OPTION_ARG_STRING, &o->user, "Require RTSP basic/digest auth as this user", "U" },
    { "password-file", 0, 0, G_OPTION_ARG_FILENAME, &o->password_file, "File holding the password", "F" },
    { "odd-mounts", 0, 0, G_OPTION_ARG_NONE, &o->odd_mounts, "Also serve /odd/audio-only, /odd/mjpeg and /odd/h264-pcmu (live, tiny)", NULL },
    { "audio", 0, 0, G_OPTION_ARG_STRING, &o->audio, "Audio of each camera's main stream, comma-separated: aac, pcmu, pcma or none (default); the last one repeats", "LIST" },
    { "address", 0, 0, G_OPTION_ARG_STRING, &o->address, "Listen address (default 127.0.0.1; tests in a network namespace)", "ADDR" },
    { "footage", 0, 0, G_OPTION_ARG_FILENAME, &o->footage_path, "--scene footage: the video file shown (tests/footage/fetch.sh)", "FILE" },
    { "footage-labels", 0, 0, G_OPTION_ARG_FILENAME, &o->footage_labels_path, "--scene footage: its labels JSON (tests/footage/*.truth.json)", "FILE" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- synthetic RTSP cameras for Hearth's tests");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, argc, argv, error))
    return FALSE;
  if (*argc > 1) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "unexpected argument '%s'", (*argv)[1]);
    return FALSE;
  }
  if (o->gop == 0)
    o->gop = o->fps;
  if (!check_range ("cameras", o->cameras, 1, MAX_CAMERAS, error) ||
      !check_range ("first-code", o->first_code, 0, 65536 - o->cameras, error) ||
      !check_range ("port", o->port, 0, 65535, error) ||
      !check_range ("fps", o->fps, 1, 60, error) ||
      !check_range ("gop", o->gop, 1, 600, error) ||
      !check_range ("bitrate-kbps", o->bitrate_kbps, 50, 50000, error) ||
      !check_range ("clip-seconds", o->clip_seconds, 1, 600, error) ||
      !check_range ("noise", o->noise, 0, 40, error))
    return FALSE;
  FcCodec codec = FC_CODEC_H264;
  if (o->codec != NULL && strcmp (o->codec, "h265") == 0)
    codec = FC_CODEC_H265;
  else if (o->codec != NULL && strcmp (o->codec, "h264") != 0) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--codec must be h264 or h265");
    return FALSE;
  }
  o->scene_kind = FC_SCENE_CROSSING;
  if (o->scene != NULL && !fc_scene_kind_parse (o->scene, &o->scene_kind)) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "--scene must be crossing, static, brightness, masked, slow, porch, glitch, irswitch, pumping, slowstop, footage or pumpingqp");
    return FALSE;
  }
  if ((o->scene_kind == FC_SCENE_FOOTAGE) !=
      (o->footage_path != NULL && o->footage_labels_path != NULL) ||
      (o->scene_kind != FC_SCENE_FOOTAGE && (o->footage_path || o->footage_labels_path))) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "--scene footage needs --footage and --footage-labels, and they need it");
    return FALSE;
  }
  if (o->scene_kind == FC_SCENE_FOOTAGE && o->noise != 0) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "--noise does not apply to --scene footage (real footage has its own)");
    return FALSE;
  }
  if ((o->user == NULL) != (o->password_file == NULL)) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--user and --password-file go together");
    return FALSE;
  }
  for (int s = 0; s < N_STREAMS; s++) {
    FcClipParams *p = &app->stream_params[s];
    const char *size = s == STREAM_MAIN ? o->main_size : o->sub_size;
    if (!parse_size (size ? size : (s == STREAM_MAIN ? "640x360" : "320x180"), &p->width, &p->height, error))
      return FALSE;
    p->codec = codec;
    p->fps = o->fps;
    p->gop = o->gop;
    p->clip_seconds = o->clip_seconds;
    p->noise = o->noise;
    p->scene = o->scene_kind;
    p->footage_path = o->footage_path;
    p->footage_sha256 = app->footage_sha256;
    p->bitrate_kbps = s == STREAM_MAIN ? o->bitrate_kbps : MAX (100, o->bitrate_kbps / 4);
  }
  if (o->cache_dir == NULL)
    o->cache_dir = g_build_filename (g_get_user_cache_dir (), "hearth-fakecam", NULL);
  if (o->audio != NULL) {
    g_auto (GStrv) list = g_strsplit (o->audio, ",", -1);
    FcAudioCodec acodec;
    for (int i = 0; list[i] != NULL; i++)
      if (!fc_audio_codec_parse (list[i], &acodec)) {
        g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                     "--audio takes aac, pcmu, pcma or none, comma-separated, not '%.32s'", list[i]);
        return FALSE;
      }
  }
  return TRUE;
}

/* Max size of a --footage video we hash and decode (vtest.avi is 8 MB). */
#define MAX_FOOTAGE_BYTES ((goffset) 1 << 30)

/* --scene footage: hashes the video, reads its labels, and checks that they belong together
 * and that the clip fits in the video. Start-up only. */
static gboolean
load_footage (App *app, GError **error)
{
  const Options *o = &app->opt;
  if (o->scene_kind != FC_SCENE_FOOTAGE)
    return TRUE;
  g_autoptr (GFile) file = g_file_new_for_path (o->footage_path);
  g_autoptr (GFileInputStream) in = g_file_read (file, NULL, error);
  if (in == NULL) {
    g_prefix_error (error, "--footage: ");
    return FALSE;
  }
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guint8 *chunk = g_malloc (1 << 16);
  goffset total = 0;
  gssize n;
  while ((n = g_input_stream_read (G_INPUT_STREAM (in), chunk, 1 << 16, NULL, error)) > 0) {
    total += n;
    if (total > MAX_FOOTAGE_BYTES) {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "--footage: larger than 1 GiB");
      return FALSE;
    }
    g_checksum_update (sum, chunk, (gsize) n);
  }
  if (n < 0) {
    g_prefix_error (error, "--footage: ");
    return FALSE;
  }
  g_strlcpy (app->footage_sha256, g_checksum_get_string (sum), sizeof app->footage_sha256);

  g_autofree char *text = NULL;
  gsize len = 0;
  if (!g_file_get_contents (o->footage_labels_path, &text, &len, error)) {
    g_prefix_error (error, "--footage-labels: ");
    return FALSE;
  }
  app->footage = g_new0 (FcFootageLabels, 1);
  if (!fc_footage_labels_parse (text, len, app->footage, error)) {
    g_prefix_error (error, "%s: ", o->footage_labels_path);
    return FALSE;
  }
  if (strcmp (app->footage->video_sha256, app->footage_sha256) != 0) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                 "%s labels the video with SHA-256 %s, but %s has %s", o->footage_labels_path,
                 app->footage->video_sha256, o->footage_path, app->footage_sha256);
    return FALSE;
  }
  if (app->footage->fps != o->fps ||
      (gint64) o->clip_seconds * o->fps > app->footage->frames) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "--scene footage: the video has %d frames at %d fps: use --fps %d and "
                 "--clip-seconds <= %d", app->footage->frames, app->footage->fps,
                 app->footage->fps, app->footage->frames / app->footage->fps);
    return FALSE;
  }
  return TRUE;
}

static gboolean
load_clips (App *app, GError **error)
{
  int total = app->opt.cameras * N_STREAMS, done = 0, encoded_count = 0;
  gint64 start_us = g_get_monotonic_time ();

  app->cameras = g_new0 (Camera, app->opt.cameras);
  for (int i = 0; i < app->opt.cameras; i++) {
    Camera *cam = &app->cameras[i];
    cam->index = i + 1;
    cam->serving = cam->index;
    cam->garbage = g_atomic_rc_box_new0 (Garbage);
    cam->code = (guint16) (app->opt.first_code + i);
    fc_scene_init_kind (&cam->scene, app->opt.scene_kind, cam->code, app->opt.fps,
                        app->opt.clip_seconds);
    cam->scene.noise = app->opt.noise;
    for (int s = 0; s < N_STREAMS; s++) {
      FcClipParams p = app->stream_params[s];
      gboolean encoded = FALSE;
      gint64 clip_start_us = g_get_monotonic_time ();
      p.code = cam->code;
      cam->clips[s] = fc_clip_load_or_encode (&p, app->opt.cache_dir, &encoded, error);
      if (cam->clips[s] == NULL) {
        g_prefix_error (error, "camera %d %s: ", cam->index, stream_names[s]);
        return FALSE;
      }
      done++;
      if (encoded) {
        encoded_count++;
        g_printerr ("fakecam: encoded clip %d/%d (camera %d %s, %dx%d) in %.2f s\n", done, total,
                    cam->index, stream_names[s], p.width, p.height,
                    (g_get_monotonic_time () - clip_start_us) / 1e6);
      }
    }
  }
  g_auto (GStrv) audio = app->opt.audio ? g_strsplit (app->opt.audio, ",", -1) : NULL;
  guint n_audio = audio ? g_strv_length (audio) : 0;
  for (int i = 0; i < app->opt.cameras && n_audio > 0; i++) {
    Camera *cam = &app->cameras[i];
    FcAudioParams ap = { FC_AUDIO_NONE, fc_audio_tone_hz (cam->code), app->opt.clip_seconds };
    fc_audio_codec_parse (audio[MIN ((guint) i, n_audio - 1)], &ap.codec);
    if (ap.codec == FC_AUDIO_NONE)
      continue;
    gboolean encoded = FALSE;
    gint64 a_start_us = g_get_monotonic_time ();
    cam->audio = fc_audio_load_or_encode (&ap, app->opt.cache_dir, &encoded, error);
    if (cam->audio == NULL) {
      g_prefix_error (error, "camera %d audio: ", cam->index);
      return FALSE;
    }
    if (encoded)
      g_printerr ("fakecam: encoded audio of camera %d (%s, %d Hz tone) in %.2f s\n", cam->index,
                  fc_audio_codec_name (ap.codec), ap.tone_hz, (g_get_monotonic_time () - a_start_us) / 1e6);
  }
  g_printerr ("fakecam: %d clips ready (%d encoded, %d from cache '%s') in %.2f s\n", total,
              encoded_count, total - encoded_count, app->opt.cache_dir,
              (g_get_monotonic_time () - start_us) / 1e6);
  return TRUE;
}

static gboolean
setup_auth (App *app, GError **error)
{
  if (app->opt.user == NULL)
    return TRUE;
  g_autofree char *contents = NULL;
  gsize len = 0;
  if (!g_file_get_contents (app->opt.password_file, &contents, &len, error))
    return FALSE;
  if (len > MAX_PASSWORD_BYTES) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "password file longer than %d bytes", MAX_PASSWORD_BYTES);
    return FALSE;
  }
  contents[strcspn (contents, "\r\n")] = '\0';
  app->auth = gst_rtsp_auth_new ();
  g_autoptr (GstRTSPToken) token = gst_rtsp_token_new (GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE,
                                                       G_TYPE_STRING, "fakecam", NULL);
  g_autofree char *basic = gst_rtsp_auth_make_basic (app->opt.user, contents);
  gst_rtsp_auth_add_basic (app->auth, basic, token);
  gst_rtsp_auth_add_digest (app->auth, app->opt.user, contents, token);
  gst_rtsp_auth_set_supported_methods (app->auth, GST_RTSP_AUTH_BASIC | GST_RTSP_AUTH_DIGEST);
  gst_rtsp_server_set_auth (app->server, app->auth);
  memset (contents, 0, len);
  return TRUE;
}

static void
add_rect (JsonBuilder *b, const FcRect *r)
{
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "x"); json_builder_add_double_value (b, r->x);
  json_builder_set_member_name (b, "y"); json_builder_add_double_value (b, r->y);
  json_builder_set_member_name (b, "w"); json_builder_add_double_value (b, r->w);
  json_builder_set_member_name (b, "h"); json_builder_add_double_value (b, r->h);
  json_builder_end_object (b);
}

static void
add_below_bands (JsonBuilder *b)
{
  double band_h = (double) NVR_IDCODE_BANDS / NVR_IDCODE_ROW_DIVISOR;
  FcRect r = { .x = 0, .y = band_h, .w = 1, .h = 1 - band_h };
  add_rect (b, &r);
}

/* "motion": [[start_s, end_s], ...]: the intervals a detector should report. */
static void
add_motion (JsonBuilder *b, int n, const double *starts, const double *ends)
{
  json_builder_set_member_name (b, "motion");
  json_builder_begin_array (b);
  for (int i = 0; i < n; i++) {
    json_builder_begin_array (b);
    json_builder_add_double_value (b, starts[i]);
    json_builder_add_double_value (b, ends[i]);
    json_builder_end_array (b);
  }
  json_builder_end_array (b);
}

/* --scene footage: one event per labelled region; its "motion" is the labels' intervals that
 * start inside the loop, cut at its end (the loop shows the first clip_seconds of the video). */
static void
add_footage_events (App *app, JsonBuilder *b)
{
  for (int r = 0; r < app->footage->n_regions; r++) {
    const FcFootageRegion *reg = &app->footage->regions[r];
    double starts[FC_FOOTAGE_MAX_INTERVALS], ends[FC_FOOTAGE_MAX_INTERVALS];
    int n = 0;
    for (int i = 0; i < reg->n_motion; i++)
      if (reg->starts[i] < app->opt.clip_seconds) {
        starts[n] = reg->starts[i];
        ends[n] = MIN (reg->ends[i], (double) app->opt.clip_seconds);
        n++;
      }
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "kind"); json_builder_add_string_value (b, "footage");
    json_builder_set_member_name (b, "region"); json_builder_add_string_value (b, reg->name);
    json_builder_set_member_name (b, "start_s");
    json_builder_add_double_value (b, n > 0 ? starts[0] : 0);
    json_builder_set_member_name (b, "end_s");
    json_builder_add_double_value (b, n > 0 ? ends[n - 1] : 0);
    json_builder_set_member_name (b, "rect");
    add_rect (b, &reg->rect);
    add_motion (b, n, starts, ends);
    json_builder_end_object (b);
  }
}

static gboolean
write_truth (App *app, GError **error)
{
  if (app->opt.truth_path == NULL)
    return TRUE;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_int_value (b, 1);
  json_builder_set_member_name (b, "serving_started_unix_us");
  json_builder_add_int_value (b, app->epoch_unix_us);
  json_builder_set_member_name (b, "clip_seconds");
  json_builder_add_int_value (b, app->opt.clip_seconds);
  json_builder_set_member_name (b, "fps");
  json_builder_add_int_value (b, app->opt.fps);
  json_builder_set_member_name (b, "clip_frames");
  json_builder_add_int_value (b, (gint64) app->opt.clip_seconds * app->opt.fps);
  json_builder_set_member_name (b, "gop");
  json_builder_add_int_value (b, app->opt.gop);
  json_builder_set_member_name (b, "scene");
  json_builder_add_string_value (b, fc_scene_kind_name (app->opt.scene_kind));
  json_builder_set_member_name (b, "noise");
  json_builder_add_int_value (b, app->opt.noise);
  json_builder_set_member_name (b, "bitrate_kbps");   /* main; sub: stream_params */
  json_builder_add_int_value (b, app->opt.bitrate_kbps);
  json_builder_set_member_name (b, "sub_bitrate_kbps");
  json_builder_add_int_value (b, app->stream_params[STREAM_SUB].bitrate_kbps);
  if (app->opt.scene_kind == FC_SCENE_PUMPINGQP) {   /* the encoder's QPs, bitrate unused */
    json_builder_set_member_name (b, "qp_p");
    json_builder_add_int_value (b, FC_PUMPINGQP_QP_P);
    json_builder_set_member_name (b, "qp_i");
    json_builder_add_int_value (b, FC_PUMPINGQP_QP_I);
    json_builder_set_member_name (b, "texture_region");   /* where the keyframes jump */
    add_rect (b, &app->cameras[0].scene.patch);
  }
  if (app->footage != NULL) {
    json_builder_set_member_name (b, "footage");
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "sha256");
    json_builder_add_string_value (b, app->footage_sha256);
    json_builder_set_member_name (b, "labels");
    g_autofree char *labels = g_path_get_basename (app->opt.footage_labels_path);
    json_builder_add_string_value (b, labels);
    json_builder_end_object (b);
  }
  json_builder_set_member_name (b, "id_band");   /* mask this for motion: it changes every frame */
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "x"); json_builder_add_double_value (b, 0);
  json_builder_set_member_name (b, "y"); json_builder_add_double_value (b, 0);
  json_builder_set_member_name (b, "w"); json_builder_add_double_value (b, 1);
  json_builder_set_member_name (b, "h");
  json_builder_add_double_value (b, (double) NVR_IDCODE_BANDS / NVR_IDCODE_ROW_DIVISOR);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "cameras");
  json_builder_begin_array (b);
  for (int i = 0; i < app->opt.cameras; i++) {
    const Camera *cam = &app->cameras[i];
    const FcScene *sc = &cam->scene;
    const FcCrossing *c = &sc->crossing;
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "index"); json_builder_add_int_value (b, cam->index);
    if (cam->audio != NULL) {   /* {"codec":"aac|pcmu|pcma","tone_hz":N,"rate":N} */
      json_builder_set_member_name (b, "audio");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "codec");
      json_builder_add_string_value (b, fc_audio_codec_name (cam->audio->params.codec));
      json_builder_set_member_name (b, "tone_hz");
      json_builder_add_int_value (b, cam->audio->params.tone_hz);
      json_builder_set_member_name (b, "rate");
      json_builder_add_int_value (b, cam->audio->rate);
      json_builder_end_object (b);
    }
    json_builder_set_member_name (b, "code"); json_builder_add_int_value (b, cam->code);
    json_builder_set_member_name (b, "events");
    json_builder_begin_array (b);
    /* Every event says in "motion" which intervals of it a detector should report (none for
     * a negative): fc_scene_motion_intervals(). */
    double ms[2], me[2];
    int n_motion = fc_scene_motion_intervals (sc, ms, me);
    if (sc->kind == FC_SCENE_FOOTAGE) {
      add_footage_events (app, b);
    } else if (sc->kind == FC_SCENE_BRIGHTNESS) {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "kind"); json_builder_add_string_value (b, "brightness");
      json_builder_set_member_name (b, "start_s"); json_builder_add_double_value (b, sc->step_start_s);
      json_builder_set_member_name (b, "end_s"); json_builder_add_double_value (b, sc->step_end_s);
      json_builder_set_member_name (b, "luma_step"); json_builder_add_int_value (b, sc->step_luma);
      json_builder_set_member_name (b, "region");   /* everything below the ID bands */
      add_below_bands (b);
      add_motion (b, 0, ms, me);
      json_builder_end_object (b);
    } else if (sc->kind == FC_SCENE_GLITCH) {
      /* Two one-frame changes, each back to the picture at the next frame. */
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "kind"); json_builder_add_string_value (b, "glitch");
      json_builder_set_member_name (b, "start_s");
      json_builder_add_double_value (b, (double) sc->glitch_frame / sc->fps);
      json_builder_set_member_name (b, "end_s");
      json_builder_add_double_value (b, (double) (sc->glitch_frame + 1) / sc->fps);
      json_builder_set_member_name (b, "region");
      add_rect (b, &sc->glitch);
      add_motion (b, 0, ms, me);
      json_builder_end_object (b);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "kind"); json_builder_add_string_value (b, "flash");
      json_builder_set_member_name (b, "start_s");
      json_builder_add_double_value (b, (double) sc->flash_frame / sc->fps);
      json_builder_set_member_name (b, "end_s");
      json_builder_add_double_value (b, (double) (sc->flash_frame + 1) / sc->fps);
      json_builder_set_member_name (b, "luma_step"); json_builder_add_int_value (b, 90);
      json_builder_set_member_name (b, "region");
      add_below_bands (b);
      add_motion (b, 0, ms, me);
      json_builder_end_object (b);
    } else if (sc->kind == FC_SCENE_IRSWITCH) {
      /* IR (grey) outside [start_s, end_s), colour inside: switches at both ends. */
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "kind"); json_builder_add_string_value (b, "irswitch");
      json_builder_set_member_name (b, "start_s"); json_builder_add_double_value (b, sc->colour_start_s);
      json_builder_set_member_name (b, "end_s"); json_builder_add_double_value (b, sc->colour_end_s);
      json_builder_set_member_name (b, "region");
      add_below_bands (b);
      add_motion (b, 0, ms, me);
      json_builder_end_object (b);
    } else if (sc->kind != FC_SCENE_STATIC && sc->kind != FC_SCENE_PORCH &&
               sc->kind != FC_SCENE_PUMPING && sc->kind != FC_SCENE_PUMPINGQP) {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "kind");
      json_builder_add_string_value (b, fc_scene_kind_name (sc->kind));
      json_builder_set_member_name (b, "start_s"); json_builder_add_double_value (b, c->start_s);
      json_builder_set_member_name (b, "end_s"); json_builder_add_double_value (b, c->end_s);
      if (c->stop_s > 0) {
        json_builder_set_member_name (b, "stop_s"); json_builder_add_double_value (b, c->stop_s);
        json_builder_set_member_name (b, "leave_s"); json_builder_add_double_value (b, c->leave_s);
      }
      json_builder_set_member_name (b, "box");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "x_start"); json_builder_add_double_value (b, c->x_start);
      json_builder_set_member_name (b, "x_end"); json_builder_add_double_value (b, c->x_end);
      json_builder_set_member_name (b, "y"); json_builder_add_double_value (b, c->y);
      json_builder_set_member_name (b, "w"); json_builder_add_double_value (b, c->w);
      json_builder_set_member_name (b, "h"); json_builder_add_double_value (b, c->h);
      json_builder_end_object (b);
      if (sc->kind == FC_SCENE_MASKED) {
        json_builder_set_member_name (b, "mask");
        add_rect (b, &sc->mask);
      }
      add_motion (b, sc->kind == FC_SCENE_MASKED ? 0 : n_motion, ms, me);
      json_builder_end_object (b);
    }
    json_builder_end_array (b);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  gsize len = 0;
  g_autofree char *text = json_generator_to_data (gen, &len);
  return g_file_set_contents (app->opt.truth_path, text, (gssize) len, error);
}

static gboolean
on_signal (gpointer user_data)
{
  App *app = user_data;
  g_printerr ("fakecam: shutting down\n");
  g_main_loop_quit (app->loop);
  return G_SOURCE_CONTINUE;
}

static GstRTSPFilterResult
remove_all_clients (GstRTSPServer *server, GstRTSPClient *client, gpointer user_data)
{
  return GST_RTSP_FILTER_REMOVE;
}

static GstRTSPFilterResult
remove_all_sessions (GstRTSPSessionPool *pool, GstRTSPSession *session, gpointer user_data)
{
  return GST_RTSP_FILTER_REMOVE;
}

static void
app_clear (App *app)
{
  g_clear_pointer (&app->control, fc_control_free);
  if (app->server != NULL) {
    g_list_free (gst_rtsp_server_client_filter (app->server, remove_all_clients, NULL));
    g_list_free (gst_rtsp_session_pool_filter (app->sessions, remove_all_sessions, NULL));
    if (app->server_source != 0)
      g_source_remove (app->server_source);
    if (app->cleanup_source != 0)
      g_source_remove (app->cleanup_source);
  }
  g_clear_object (&app->sessions);
  g_clear_object (&app->mounts);
  g_clear_object (&app->auth);
  g_clear_object (&app->server);
  for (int i = 0; app->cameras != NULL && i < app->opt.cameras; i++) {
    for (int s = 0; s < N_STREAMS; s++)
      fc_clip_unref (app->cameras[i].clips[s]);
    fc_audio_unref (app->cameras[i].audio);
    if (app->cameras[i].garbage != NULL)
      g_atomic_rc_box_release (app->cameras[i].garbage);
  }
  g_clear_pointer (&app->cameras, g_free);
  g_clear_pointer (&app->loop, g_main_loop_unref);
  Options *o = &app->opt;
  g_free (o->codec); g_free (o->main_size); g_free (o->sub_size); g_free (o->cache_dir);
  g_free (o->control_path); g_free (o->truth_path); g_free (o->user); g_free (o->password_file);
  g_free (o->address); g_free (o->scene); g_free (o->audio);
  g_free (o->footage_path); g_free (o->footage_labels_path);
  g_clear_pointer (&app->footage, g_free);
}

static gboolean
run (App *app, int *argc, char ***argv, GError **error)
{
  if (!parse_options (app, argc, argv, error))
    return FALSE;
  gst_init (NULL, NULL);
  if (!load_footage (app, error) || !load_clips (app, error))
    return FALSE;

  app->loop = g_main_loop_new (NULL, FALSE);
  app->server = gst_rtsp_server_new ();
  gst_rtsp_server_set_address (app->server, app->opt.address ? app->opt.address : "127.0.0.1");
  g_autofree char *service = g_strdup_printf ("%d", app->opt.port);
  gst_rtsp_server_set_service (app->server, service);
  /* Each RTSP connection gets a thread from the pool: a DESCRIBE blocks its thread until the
   * media prerolls (up to one GOP, see on_need_data), and must not stall every other client
   * and the control socket on the main loop. */
  g_signal_connect (app->server, "client-connected", G_CALLBACK (on_client_connected), app);
  g_autoptr (GstRTSPThreadPool) threads = gst_rtsp_server_get_thread_pool (app->server);
  gst_rtsp_thread_pool_set_max_threads (threads, MAX_CLIENT_THREADS);
  app->mounts = gst_rtsp_server_get_mount_points (app->server);
  app->sessions = gst_rtsp_server_get_session_pool (app->server);
  gst_rtsp_session_pool_set_max_sessions (app->sessions, 1024);
  if (!setup_auth (app, error))
    return FALSE;

  /* The serving epoch: global frame 0 of every stream is due at this instant. */
  g_autoptr (GstClock) clock = gst_system_clock_obtain ();
  app->epoch_ns = gst_clock_get_time (clock);
  app->epoch_unix_us = g_get_real_time ();

  for (int i = 0; i < app->opt.cameras; i++)
    camera_mount (app, &app->cameras[i]);
  if (app->opt.odd_mounts)
    mount_odd (app);
  g_autoptr (GSource) source = gst_rtsp_server_create_source (app->server, NULL, error);
  if (source == NULL)
    return FALSE;
  app->server_source = g_source_attach (source, NULL);
  /* gst-rtsp-server removes expired sessions only when asked. Without this, every client that
   * vanished without a TEARDOWN (a dropped camera, a worker killed mid-setup) keeps its session
   * until the pool's maximum is reached, and then every SETUP gets 503: a long storm ended
   * that way after ~1,300 reconnects. */
  app->cleanup_source = g_timeout_add_seconds (2, on_session_cleanup, app);
  int port = gst_rtsp_server_get_bound_port (app->server);

  if (app->opt.control_path != NULL) {
    app->control = fc_control_new (app->opt.control_path, app->opt.cameras, on_command, app, error);
    if (app->control == NULL)
      return FALSE;
  }
  if (!write_truth (app, error))
    return FALSE;

  g_unix_signal_add (SIGTERM, on_signal, app);
  g_unix_signal_add (SIGINT, on_signal, app);
  printf ("READY port=%d\n", port);
  fflush (stdout);
  g_printerr ("fakecam: serving %d camera(s) on rtsp://127.0.0.1:%d/cam<i>/{main,sub}\n",
              app->opt.cameras, port);
  g_main_loop_run (app->loop);
  return TRUE;
}

int
main (int argc, char **argv)
{
  App app = { 0 };
  g_autoptr (GError) error = NULL;

  g_log_writer_default_set_use_stderr (TRUE);   /* stdout is for the READY line only */
  gboolean ok = run (&app, &argc, &argv, &error);
  if (!ok)
    g_printerr ("fakecam: %s\n", error->message);
  app_clear (&app);
  return ok ? 0 : (error->domain == G_OPTION_ERROR ? 2 : 1);
}
