/* supervisor — spawns one camera worker per camera, feeds the catalog from their messages, and
 * restarts a worker that dies, with jittered backoff. Main loop only.
 * Invariant: a worker's report is untrusted; a segment path outside its own camera's directory
 * is a protocol violation that kills the worker and is never written to the catalog; so is a
 * live init segment or fragment that is not exactly the boxes it should be. */
#pragma once

#include <glib.h>
#include "catalog.h"
#include "config.h"

G_BEGIN_DECLS

typedef struct _NvrSupervisor NvrSupervisor;

/* What `nvr status` shows for one camera (a snapshot; strings owned by the snapshot). */
typedef struct {
  gint64 camera_id;
  char *name;
  char *state;          /* starting, connecting, recording, offline, identity-mismatch, paused,
                         * stopped */
  char *reason;         /* why offline or paused, or "" */
  const char *paused_by;/* "mqtt" or "cli" while paused, else "" (static) */
  gint64 paused_us;     /* wall clock of the switch-off; 0 when not paused */
  guint reconnects;     /* camera reconnects + worker restarts since the daemon started */
  guint worker_restarts;
  char *codec;
  int width, height;
  gint64 since_us;      /* wall clock of the last state change */
  gint64 retry_in_ms;   /* the last reconnect or restart delay drawn (full jitter) */
  gint64 worker_pid;    /* 0 when no worker runs */
  char *identity;       /* the pinned identity described, "" until first contact */
} NvrCameraStatus;

void nvr_camera_status_free (NvrCameraStatus *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrCameraStatus, nvr_camera_status_free)

/* @config and @catalog must outlive the supervisor. */
NvrSupervisor *nvr_supervisor_new (const NvrConfig *config, NvrCatalog *catalog);
void nvr_supervisor_free (NvrSupervisor *sup);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrSupervisor, nvr_supervisor_free)

/* Starts recording @camera (a copy is kept). */
void nvr_supervisor_add (NvrSupervisor *sup, const NvrCameraRow *camera);
/* The camera's settings changed in the catalog (@camera: its new row). If anything its worker
 * uses changed (name, URLs, user, password, transport, audio), the worker is stopped in an
 * orderly way and a new one started with the new settings (a paused camera stays paused);
 * returns TRUE then. Otherwise only the copy is replaced (e.g. retain_days) and FALSE. An
 * unknown camera is added. */
gboolean nvr_supervisor_update (NvrSupervisor *sup, const NvrCameraRow *camera);
/* Stops the camera's worker in an orderly way and forgets the camera. */
void nvr_supervisor_remove (NvrSupervisor *sup, gint64 camera_id);
/* Stops every worker; returns once all have exited or @timeout_ms passed (then kills them).
 * Iterates the default main context while it waits. */
void nvr_supervisor_shutdown (NvrSupervisor *sup, int timeout_ms);

/* Forgets the camera's pinned identity (already cleared in the catalog by the caller) and tells
 * its worker: the next contact pins again (docs/design/identity.md). */
void nvr_supervisor_reset_identity (NvrSupervisor *sup, gint64 camera_id);

/* Who wants to hear about cameras (the MQTT bridge). Every callback runs on the main loop and
 * must not call back into the supervisor. Any may be NULL. */
typedef struct {
  /* A camera's state changed (starting, connecting, recording, offline, paused, ...). */
  void (*state_changed) (gint64 camera_id, const char *name, const char *state, gpointer data);
  /* Motion started or ended on a camera. */
  void (*motion_changed) (gint64 camera_id, const char *name, gboolean active, gpointer data);
  /* Rows were added to the catalog's MQTT outbox. */
  void (*outbox_added) (gpointer data);
} NvrSupervisorListener;

void nvr_supervisor_set_listener (NvrSupervisor *sup, const NvrSupervisorListener *listener,
                                  gpointer data);

/* Household switches (MQTT `<camera>/recordings/set`, `<camera>/detect/set`; CLI `nvr cameras
 * recording`). Recording off stops the camera's worker in an orderly way (state "paused", with
 * who and when) until it is switched on again; it is stored in the catalog first (a camera
 * paused before a restart starts paused) and FALSE with @error if that fails or the camera is
 * unknown. @by says who switches (required to switch off). Detect is stored in the catalog
 * (cameras.detect, v9: kept across restarts) and passed to the worker (its `config` field
 * `detect` and the `detect` message); FALSE for an unknown camera or if it cannot be stored. */
gboolean nvr_supervisor_set_recording (NvrSupervisor *sup, gint64 camera_id, gboolean on,
                                       NvrPauseSource by, GError **error);
gboolean nvr_supervisor_set_detect (NvrSupervisor *sup, gint64 camera_id, gboolean on);
gboolean nvr_supervisor_get_switches (NvrSupervisor *sup, gint64 camera_id, gboolean *recording,
                                      gboolean *detect);

/* The camera's motion masks or zones changed in the catalog: pass them to its worker. */
void nvr_supervisor_motion_settings_changed (NvrSupervisor *sup, gint64 camera_id);

/* ---- live view (docs/design/auth.md "Live view", docs/design/worker.md) ----
 * The worker runs its live branch only while asked (`nvr_supervisor_set_live`); what it sends is
 * checked here (sizes, box structure, a fragment only after an init segment; the codec string
 * and the key flag are recomputed from the boxes, not taken from the worker) and handed on. */
typedef enum {
  NVR_LIVE_INIT,       /* @data: a new init segment (ftyp+moov); @codec: its MSE codec string */
  NVR_LIVE_FRAGMENT,   /* @data: moof+mdat following that init; @key: starts with a sync sample */
  NVR_LIVE_STOPPED,    /* the stream that INIT began ended (connection lost, worker restarted,
                        * live switched off); the next INIT starts a new one */
  NVR_LIVE_REMOVED,    /* the camera was removed */
} NvrLiveKind;

/* Runs on the main loop; must not call back into the supervisor. @data and @codec only for the
 * kinds above. */
typedef void (*NvrSupervisorLiveFunc) (gint64 camera_id, NvrLiveKind kind, GBytes *data,
                                       gboolean key, const char *codec, gpointer user_data);
void nvr_supervisor_set_live_func (NvrSupervisor *sup, NvrSupervisorLiveFunc func,
                                   gpointer user_data);
/* Asks the camera's worker to run (or stop) its live branch; remembered across worker restarts.
 * Returns FALSE for an unknown camera. */
gboolean nvr_supervisor_set_live (NvrSupervisor *sup, gint64 camera_id, gboolean on);

/* Snapshot of every camera, ordered by id; elements are NvrCameraStatus. */
GPtrArray *nvr_supervisor_status (NvrSupervisor *sup);

G_END_DECLS
