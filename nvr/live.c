/* live — the live-view hub: per camera, the current init segment and the fragments since the
 * last keyframe, fanned out to HTTP clients (docs/design/auth.md "Live view"). Main loop only.
 * Invariants: a client receives init, then fragments starting at a key fragment, with no gap
 * inside a GOP (a client that falls behind skips to the next key fragment); a client that has
 * received one init segment never receives another (it is ended and reconnects); a sink callback
 * never runs from inside nvr_live_hub_attach; every cache and queue has a maximum. Loops that
 * call a sink work on a list of client ids, looked up again before each call, so a callback may
 * detach (or end) any client. */
#define G_LOG_DOMAIN "nvr-live"

#include "live.h"

#include <string.h>

/* With no client left, the camera's live branch keeps running this long, so a page reload gets
 * the cached init + GOP at once instead of a new muxer. */
#define LIVE_LINGER_MS 10000
/* A client that got no init segment within this long is ended (camera offline, H.265, paused). */
#define LIVE_START_TIMEOUT_US (20 * G_USEC_PER_SEC)

typedef enum {
  CLIENT_WAIT_INIT,   /* nothing sent yet */
  CLIENT_WAIT_KEY,    /* init sent; waiting for a key fragment (new, or skipped) */
  CLIENT_LIVE,        /* fragments flowing */
} ClientState;

typedef struct _Stream Stream;

typedef struct {
  guint64 id;
  gint64 camera_id;
  gint64 device_id;
  NvrLiveSink sink;
  gpointer data;
  ClientState state;
  gboolean fresh;             /* attached, not yet served by flush_new_clients */
  gint64 attached_us;         /* monotonic */
  Stream *st;
} Client;

struct _Stream {
  gint64 camera_id;
  GBytes *init;               /* NULL until the worker's stream began */
  char *codec;
  GPtrArray *gop;             /* GBytes*: a key fragment and what followed it */
  gsize gop_bytes;
  GPtrArray *clients;         /* Client* (owned by hub->clients) */
  gboolean requested;         /* nvr_supervisor_set_live (on) was called */
  guint linger_source;
};

struct _NvrLiveHub {
  NvrSupervisor *sup;
  NvrLiveLimits limits;
  GHashTable *streams;        /* &camera_id -> Stream* */
  GHashTable *clients;        /* &id -> Client* */
  guint64 next_id;
  guint flush_source;
  guint tick_source;
};

static void
stream_clear_media (Stream *st)
{
  g_clear_pointer (&st->init, g_bytes_unref);
  g_clear_pointer (&st->codec, g_free);
  g_ptr_array_set_size (st->gop, 0);
  st->gop_bytes = 0;
}

static void
stream_free (Stream *st)
{
  if (st->linger_source)
    g_source_remove (st->linger_source);
  stream_clear_media (st);
  g_ptr_array_unref (st->gop);
  g_ptr_array_unref (st->clients);
  g_free (st);
}

static Stream *
stream_get (NvrLiveHub *hub, gint64 camera_id, gboolean create)
{
  Stream *st = g_hash_table_lookup (hub->streams, &camera_id);
  if (st != NULL || !create)
    return st;
  st = g_new0 (Stream, 1);
  st->camera_id = camera_id;
  st->gop = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  st->clients = g_ptr_array_new ();
  g_hash_table_insert (hub->streams, &st->camera_id, st);
  return st;
}

typedef struct {
  NvrLiveHub *hub;
  gint64 camera_id;
} LingerData;

static gboolean
on_linger (gpointer data)
{
  LingerData *ld = data;
  NvrLiveHub *hub = ld->hub;
  Stream *st = stream_get (hub, ld->camera_id, FALSE);
  if (st == NULL)
    return G_SOURCE_REMOVE;
  st->linger_source = 0;
  if (st->clients->len > 0)
    return G_SOURCE_REMOVE;
  /* May call back (STOPPED) into nvr_live_hub_push, which finds no client. */
  if (st->requested && hub->sup != NULL)
    nvr_supervisor_set_live (hub->sup, st->camera_id, FALSE);
  st->requested = FALSE;
  g_hash_table_remove (hub->streams, &ld->camera_id);
  stream_free (st);
  return G_SOURCE_REMOVE;
}

/* The stream lost its last client: switch the worker's live branch off after a while. */
static void
stream_maybe_linger (NvrLiveHub *hub, Stream *st)
{
  if (st->clients->len > 0 || st->linger_source != 0)
    return;
  LingerData *ld = g_new0 (LingerData, 1);
  ld->hub = hub;
  ld->camera_id = st->camera_id;
  st->linger_source = g_timeout_add_full (G_PRIORITY_DEFAULT, LIVE_LINGER_MS, on_linger, ld,
                                          g_free);
}

/* Removes @cl from everything; the caller frees it (after calling `ended`, or not). */
static void
client_unlink (NvrLiveHub *hub, Client *cl)
{
  g_ptr_array_remove (cl->st->clients, cl);
  g_hash_table_steal (hub->clients, &cl->id);
}

/* Ends the clients in @victims (Client*): unlinked first, then told, so `ended` may call back
 * into the hub. */
static void
end_clients (NvrLiveHub *hub, GPtrArray *victims)
{
  for (guint i = 0; i < victims->len; i++)
    client_unlink (hub, victims->pdata[i]);
  for (guint i = 0; i < victims->len; i++) {
    Client *cl = victims->pdata[i];
    Stream *st = stream_get (hub, cl->camera_id, FALSE);
    cl->sink.ended (cl->data);
    if (st != NULL)
      stream_maybe_linger (hub, st);
    g_free (cl);
  }
}

static void
client_write (Client *cl, GBytes *chunk)
{
  cl->sink.write (chunk, cl->data);
}

static gboolean
client_has_room (const Client *cl, gsize more)
{
  return cl->sink.queued (cl->data) + more <= NVR_LIVE_MAX_CLIENT_QUEUED;
}

/* Sends @cl what a new viewer needs: init, then the cached GOP (which starts at a key
 * fragment) if there is one. */
static void
client_start (NvrLiveHub *hub, guint64 id)
{
  Client *cl = g_hash_table_lookup (hub->clients, &id);
  Stream *st = cl ? cl->st : NULL;
  if (st == NULL || st->init == NULL)
    return;
  cl->state = CLIENT_WAIT_KEY;
  client_write (cl, st->init);
  /* a sink callback may have detached it */
  if ((cl = g_hash_table_lookup (hub->clients, &id)) == NULL || st->gop->len == 0 ||
      !client_has_room (cl, st->gop_bytes))
    return;
  cl->state = CLIENT_LIVE;
  for (guint i = 0; i < st->gop->len; i++) {
    client_write (cl, st->gop->pdata[i]);
    if ((cl = g_hash_table_lookup (hub->clients, &id)) == NULL)
      return;
  }
}

/* The ids of @st's clients (or of every client when @st is NULL), for loops that call sinks. */
static GArray *
client_ids (NvrLiveHub *hub, Stream *st)
{
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (guint64));
  if (st != NULL) {
    for (guint i = 0; i < st->clients->len; i++)
      g_array_append_val (ids, ((Client *) st->clients->pdata[i])->id);
    return ids;
  }
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, hub->clients);
  while (g_hash_table_iter_next (&it, NULL, &value))
    g_array_append_val (ids, ((Client *) value)->id);
  return ids;
}

static gboolean
flush_new_clients (gpointer data)
{
  NvrLiveHub *hub = data;
  hub->flush_source = 0;
  g_autoptr (GArray) ids = client_ids (hub, NULL);
  for (guint i = 0; i < ids->len; i++) {
    Client *cl = g_hash_table_lookup (hub->clients, &g_array_index (ids, guint64, i));
    if (cl == NULL || !cl->fresh)
      continue;
    cl->fresh = FALSE;
    client_start (hub, cl->id);
  }
  return G_SOURCE_REMOVE;
}

static gboolean
on_tick (gpointer data)
{
  NvrLiveHub *hub = data;
  gint64 now = g_get_monotonic_time ();
  g_autoptr (GPtrArray) late = g_ptr_array_new ();
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, hub->clients);
  while (g_hash_table_iter_next (&it, NULL, &value)) {
    Client *cl = value;
    if (cl->state == CLIENT_WAIT_INIT && now - cl->attached_us > LIVE_START_TIMEOUT_US)
      g_ptr_array_add (late, cl);
  }
  /* A camera the supervisor did not know yet when its first client came (daemon start-up). */
  GHashTableIter si;
  g_hash_table_iter_init (&si, hub->streams);
  while (g_hash_table_iter_next (&si, NULL, &value)) {
    Stream *st = value;
    if (!st->requested && st->clients->len > 0 && hub->sup != NULL)
      st->requested = nvr_supervisor_set_live (hub->sup, st->camera_id, TRUE);
  }
  if (late->len > 0)
    g_message ("%u live client(s) got no stream within %d s; ending them", late->len,
               (int) (LIVE_START_TIMEOUT_US / G_USEC_PER_SEC));
  end_clients (hub, late);
  return G_SOURCE_CONTINUE;
}

static void
on_supervisor_live (gint64 camera_id, NvrLiveKind kind, GBytes *data, gboolean key,
                    const char *codec, gpointer user_data)
{
  nvr_live_hub_push (user_data, camera_id, kind, data, key, codec);
}

NvrLiveHub *
nvr_live_hub_new (NvrSupervisor *sup)
{
  NvrLiveHub *hub = g_new0 (NvrLiveHub, 1);
  hub->sup = sup;
  hub->limits = NVR_LIVE_LIMITS_DEFAULT;
  hub->streams = g_hash_table_new (g_int64_hash, g_int64_equal);
  hub->clients = g_hash_table_new (g_int64_hash, g_int64_equal);
  hub->tick_source = g_timeout_add_seconds (1, on_tick, hub);
  if (sup != NULL)
    nvr_supervisor_set_live_func (sup, on_supervisor_live, hub);
  return hub;
}

void
nvr_live_hub_free (NvrLiveHub *hub)
{
  if (hub == NULL)
    return;
  if (hub->sup != NULL)
    nvr_supervisor_set_live_func (hub->sup, NULL, NULL);
  if (hub->flush_source)
    g_source_remove (hub->flush_source);
  g_source_remove (hub->tick_source);
  g_autoptr (GPtrArray) all = g_ptr_array_new ();
  GHashTableIter ci;
  gpointer cv;
  g_hash_table_iter_init (&ci, hub->clients);
  while (g_hash_table_iter_next (&ci, NULL, &cv))
    g_ptr_array_add (all, cv);
  end_clients (hub, all);
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, hub->streams);
  while (g_hash_table_iter_next (&it, NULL, &value)) {
    Stream *st = value;
    if (st->requested && hub->sup != NULL)
      nvr_supervisor_set_live (hub->sup, st->camera_id, FALSE);
    stream_free (st);
  }
  g_hash_table_unref (hub->streams);
  g_hash_table_unref (hub->clients);
  g_free (hub);
}

void
nvr_live_hub_set_limits (NvrLiveHub *hub, NvrLiveLimits limits)
{
  hub->limits = limits;
}

const char *
nvr_live_refusal_reason (NvrLiveRefusal why)
{
  switch (why) {
  case NVR_LIVE_ATTACHED: return "attached";
  case NVR_LIVE_FULL_CAMERA: return "too many live viewers of this camera";
  case NVR_LIVE_FULL_DEVICE_CAMERA: return "this device already watches this camera live too often";
  case NVR_LIVE_FULL_DEVICE: return "this device already has too many live views open";
  case NVR_LIVE_FULL_TOTAL: return "too many live viewers";
  default: return "refused";
  }
}

/* Which limit (if any) a new client of @device_id on @st would break. */
static NvrLiveRefusal
attach_check (NvrLiveHub *hub, Stream *st, gint64 device_id)
{
  if (st->clients->len >= NVR_LIVE_MAX_CLIENTS)
    return NVR_LIVE_FULL_CAMERA;
  if (g_hash_table_size (hub->clients) >= hub->limits.total)
    return NVR_LIVE_FULL_TOTAL;
  guint on_camera = 0, in_all = 0;
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, hub->clients);
  while (g_hash_table_iter_next (&it, NULL, &value)) {
    const Client *cl = value;
    if (cl->device_id != device_id)
      continue;
    in_all++;
    on_camera += cl->st == st;
  }
  if (on_camera >= hub->limits.per_device_camera)
    return NVR_LIVE_FULL_DEVICE_CAMERA;
  if (in_all >= hub->limits.per_device)
    return NVR_LIVE_FULL_DEVICE;
  return NVR_LIVE_ATTACHED;
}

guint64
nvr_live_hub_attach (NvrLiveHub *hub, gint64 camera_id, gint64 device_id,
                     const NvrLiveSink *sink, gpointer data, NvrLiveRefusal *why)
{
  Stream *st = stream_get (hub, camera_id, TRUE);
  NvrLiveRefusal refusal = attach_check (hub, st, device_id);
  if (why != NULL)
    *why = refusal;
  if (refusal != NVR_LIVE_ATTACHED) {
    g_debug ("Refused a live client of device %" G_GINT64_FORMAT " for camera %"
             G_GINT64_FORMAT ": %s", device_id, camera_id, nvr_live_refusal_reason (refusal));
    stream_maybe_linger (hub, st);
    return 0;
  }
  Client *cl = g_new0 (Client, 1);
  cl->id = ++hub->next_id;
  cl->camera_id = camera_id;
  cl->device_id = device_id;
  cl->sink = *sink;
  cl->data = data;
  cl->state = CLIENT_WAIT_INIT;
  cl->fresh = TRUE;
  cl->attached_us = g_get_monotonic_time ();
  cl->st = st;
  g_ptr_array_add (st->clients, cl);
  g_hash_table_insert (hub->clients, &cl->id, cl);
  if (st->linger_source) {
    g_source_remove (st->linger_source);
    st->linger_source = 0;
  }
  if (!st->requested && hub->sup != NULL)
    st->requested = nvr_supervisor_set_live (hub->sup, camera_id, TRUE);
  if (hub->flush_source == 0)
    hub->flush_source = g_idle_add (flush_new_clients, hub);
  return cl->id;
}

void
nvr_live_hub_detach (NvrLiveHub *hub, guint64 client_id)
{
  Client *cl = g_hash_table_lookup (hub->clients, &client_id);
  if (cl == NULL)
    return;
  Stream *st = cl->st;
  client_unlink (hub, cl);
  g_free (cl);
  stream_maybe_linger (hub, st);
}

void
nvr_live_hub_recheck (NvrLiveHub *hub, NvrLiveCheckFunc still_allowed, gpointer data)
{
  g_autoptr (GPtrArray) gone = g_ptr_array_new ();
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, hub->clients);
  while (g_hash_table_iter_next (&it, NULL, &value)) {
    Client *cl = value;
    if (!still_allowed (cl->camera_id, cl->device_id, data))
      g_ptr_array_add (gone, cl);
  }
  end_clients (hub, gone);
}

const char *
nvr_live_hub_codec (NvrLiveHub *hub, gint64 camera_id)
{
  Stream *st = stream_get (hub, camera_id, FALSE);
  return st != NULL ? st->codec : NULL;
}

/* Clients of @st that have been sent an init segment (or, with @all, every client). */
static GPtrArray *
started_clients (Stream *st, gboolean all)
{
  GPtrArray *out = g_ptr_array_new ();
  for (guint i = 0; i < st->clients->len; i++) {
    Client *cl = st->clients->pdata[i];
    if (all || cl->state != CLIENT_WAIT_INIT)
      g_ptr_array_add (out, cl);
  }
  return out;
}

static void
on_fragment (NvrLiveHub *hub, Stream *st, GBytes *data, gboolean key)
{
  gsize size = g_bytes_get_size (data);
  if (key) {
    g_ptr_array_set_size (st->gop, 0);
    st->gop_bytes = 0;
  }
  if ((key || st->gop->len > 0) && st->gop_bytes + size <= NVR_LIVE_MAX_GOP_BYTES) {
    g_ptr_array_add (st->gop, g_bytes_ref (data));
    st->gop_bytes += size;
  } else if (st->gop->len > 0) {
    /* Too long a GOP to cache: new clients wait for the next key fragment. */
    g_ptr_array_set_size (st->gop, 0);
    st->gop_bytes = 0;
  }
  g_autoptr (GArray) ids = client_ids (hub, st);
  for (guint i = 0; i < ids->len; i++) {
    Client *cl = g_hash_table_lookup (hub->clients, &g_array_index (ids, guint64, i));
    if (cl == NULL || cl->state == CLIENT_WAIT_INIT || cl->fresh)
      continue;   /* fresh ones are served from the cache by flush_new_clients */
    if (cl->state == CLIENT_WAIT_KEY && !key)
      continue;
    if (!client_has_room (cl, size)) {
      cl->state = CLIENT_WAIT_KEY;   /* lose whole fragments until the next keyframe */
      continue;
    }
    cl->state = CLIENT_LIVE;
    client_write (cl, data);   /* last use of cl: the sink may detach it */
  }
}

void
nvr_live_hub_push (NvrLiveHub *hub, gint64 camera_id, NvrLiveKind kind, GBytes *data,
                   gboolean key, const char *codec)
{
  Stream *st = stream_get (hub, camera_id, FALSE);
  if (st == NULL)
    return;   /* nobody watches this camera (a stream still switching off) */
  switch (kind) {
  case NVR_LIVE_INIT: {
    /* A new stream: its timestamps restart, so a client that is playing the old one must
     * reconnect (MSE would wait at its old position forever); waiting ones get this init. */
    g_autoptr (GPtrArray) playing = started_clients (st, FALSE);
    end_clients (hub, playing);
    stream_clear_media (st);
    st->init = g_bytes_ref (data);
    st->codec = g_strdup (codec);
    g_autoptr (GArray) ids = client_ids (hub, st);
    for (guint i = 0; i < ids->len; i++) {
      Client *cl = g_hash_table_lookup (hub->clients, &g_array_index (ids, guint64, i));
      if (cl != NULL && !cl->fresh && cl->state == CLIENT_WAIT_INIT) {
        cl->state = CLIENT_WAIT_KEY;
        client_write (cl, st->init);
      }
    }
    break;
  }
  case NVR_LIVE_FRAGMENT:
    if (st->init != NULL)
      on_fragment (hub, st, data, key);
    break;
  case NVR_LIVE_STOPPED: {
    g_autoptr (GPtrArray) playing = started_clients (st, FALSE);
    stream_clear_media (st);
    end_clients (hub, playing);
    break;
  }
  case NVR_LIVE_REMOVED: {
    g_autoptr (GPtrArray) all = started_clients (st, TRUE);
    stream_clear_media (st);
    st->requested = FALSE;
    end_clients (hub, all);
    break;
  }
  }
}
