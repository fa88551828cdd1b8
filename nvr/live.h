/* live — fan-out of a camera's live fMP4 stream to authorized HTTP clients (docs/design/auth.md
 * "Live view"). Main loop only. The hub keeps, per camera, the init segment and the fragments
 * since the last keyframe; a new client starts at init + that keyframe fragment. A slow client
 * loses whole fragments (until the next keyframe), never stalls the camera or other clients.
 * Every queue has a maximum (NVR_LIVE_*). */
#pragma once

#include <glib.h>
#include "supervisor.h"

G_BEGIN_DECLS

#define NVR_LIVE_MAX_GOP_BYTES (16u * 1024u * 1024u)   /* cached since the last keyframe */
#define NVR_LIVE_MAX_CLIENT_QUEUED (4u * 1024u * 1024u) /* unsent bytes before a client skips */
#define NVR_LIVE_MAX_CLIENTS 64                         /* per camera, all devices together */

/* Fair shares (docs/design/auth.md "Fair shares"): one device can hold at most this many live
 * viewers, so that it cannot take the camera's (NVR_LIVE_MAX_CLIENTS) or the daemon's
 * connections from everyone else. `total` stays below the web API's connection maximum, so
 * that short requests always find a connection. */
typedef struct {
  guint per_device_camera;    /* one device's viewers of one camera */
  guint per_device;           /* one device's viewers of all cameras */
  guint total;                /* everyone's viewers of all cameras */
} NvrLiveLimits;
#define NVR_LIVE_LIMITS_DEFAULT ((NvrLiveLimits) { 4, 32, 224 })

/* Why nvr_live_hub_attach refused. */
typedef enum {
  NVR_LIVE_ATTACHED = 0,
  NVR_LIVE_FULL_CAMERA,         /* NVR_LIVE_MAX_CLIENTS viewers of this camera */
  NVR_LIVE_FULL_DEVICE_CAMERA,  /* this device's share of this camera */
  NVR_LIVE_FULL_DEVICE,         /* this device's share in all */
  NVR_LIVE_FULL_TOTAL,          /* every live viewer the daemon takes */
} NvrLiveRefusal;
/* Text safe to show the requester. */
const char *nvr_live_refusal_reason (NvrLiveRefusal why);

typedef struct _NvrLiveHub NvrLiveHub;

/* How the hub hands bytes to one client (the HTTP layer implements it). */
typedef struct {
  /* Queue @chunk for sending. */
  void (*write) (GBytes *chunk, gpointer data);
  /* Bytes queued but not yet sent; the hub skips fragments while this is over the maximum. */
  gsize (*queued) (gpointer data);
  /* The stream ended (camera removed, worker restarted with a new init segment, hub freed, or
   * nvr_live_hub_detach_device). The client must not be used after this; called once. */
  void (*ended) (gpointer data);
} NvrLiveSink;

/* Subscribes to @sup's live fragments; the supervisor must outlive the hub. With @sup NULL (unit
 * tests) the hub is fed only through nvr_live_hub_push(). */
NvrLiveHub *nvr_live_hub_new (NvrSupervisor *sup);
void nvr_live_hub_free (NvrLiveHub *hub);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrLiveHub, nvr_live_hub_free)

/* Limits in force from now on (NVR_LIVE_LIMITS_DEFAULT until called); clients over a lowered
 * limit keep their streams. */
void nvr_live_hub_set_limits (NvrLiveHub *hub, NvrLiveLimits limits);
/* Attaches a client of @device_id to @camera_id's stream (asks the worker to start its live
 * branch if it is the first). Returns a client id (> 0), or 0 when a limit refuses it; then
 * @why (may be NULL) says which. The sink's callbacks run later on the main loop, never from
 * inside this call. */
guint64 nvr_live_hub_attach (NvrLiveHub *hub, gint64 camera_id, gint64 device_id,
                             const NvrLiveSink *sink, gpointer data, NvrLiveRefusal *why);
/* Detaches without calling `ended` (the HTTP client went away). */
void nvr_live_hub_detach (NvrLiveHub *hub, guint64 client_id);
/* Ends (calls `ended` on) every client for which @still_allowed returns FALSE. */
typedef gboolean (*NvrLiveCheckFunc) (gint64 camera_id, gint64 device_id, gpointer data);
void nvr_live_hub_recheck (NvrLiveHub *hub, NvrLiveCheckFunc still_allowed, gpointer data);
/* The MSE codec string of the camera's current stream ("avc1.64001f"), or NULL if no init
 * segment has arrived yet. */
const char *nvr_live_hub_codec (NvrLiveHub *hub, gint64 camera_id);
/* What the supervisor's live callback hands the hub (NvrSupervisorLiveFunc); public for tests. */
void nvr_live_hub_push (NvrLiveHub *hub, gint64 camera_id, NvrLiveKind kind, GBytes *data,
                        gboolean key, const char *codec);

G_END_DECLS
