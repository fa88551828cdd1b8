/* camadmin — what an administrator changes about cameras, from the CLI (admin socket) and the
 * browser (web API) alike: add, edit, remove, motion masks and zones, and the audit trail of
 * every admin change (docs/design/admin.md). Main loop only. One code path for both fronts.
 * Invariant: a camera password is never in an answer, a log line, an error or an audit entry;
 * a URL never carries credentials (refused). */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "catalog.h"
#include "config.h"
#include "httproute.h"
#include "mqtt.h"
#include "supervisor.h"

G_BEGIN_DECLS

#define NVR_CAMADMIN_ERROR (nvr_camadmin_error_quark ())
GQuark nvr_camadmin_error_quark (void);
typedef enum {
  NVR_CAMADMIN_ERROR_INVALID,     /* bad settings: 400 */
  NVR_CAMADMIN_ERROR_EXISTS,      /* another active camera has the name: 409 */
  NVR_CAMADMIN_ERROR_NOT_FOUND,   /* no such active camera: 404 */
  NVR_CAMADMIN_ERROR_FAILED,      /* the catalog failed: 500 */
} NvrCamAdminError;

/* The HTTP status for an error of this module (500 for any other). */
guint nvr_camadmin_http_status (const GError *error);

/* Who makes a change: a paired admin device, or (device_id 0) the admin socket. */
typedef struct {
  gint64 device_id;
  const char *device_name;
} NvrActor;

typedef struct _NvrCamAdmin NvrCamAdmin;

/* All arguments must outlive it. */
NvrCamAdmin *nvr_camadmin_new (const NvrConfig *config, NvrCatalog *catalog, NvrSupervisor *sup);
void nvr_camadmin_free (NvrCamAdmin *ca);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrCamAdmin, nvr_camadmin_free)
/* The MQTT bridge to tell of removed and renamed cameras (may be NULL). */
void nvr_camadmin_set_mqtt (NvrCamAdmin *ca, NvrMqtt *mqtt);

/* The active camera @camera_id (NOT_FOUND if none); or by @name. */
NvrCameraRow *nvr_camadmin_get (NvrCamAdmin *ca, gint64 camera_id, GError **error);
NvrCameraRow *nvr_camadmin_get_by_name (NvrCamAdmin *ca, const char *name, GError **error);

/* Adds a camera (name and main_url required) and starts recording it. A device actor is
 * granted the camera (added to its ACL) in the same transaction, as is the audit entry. */
NvrCameraRow *nvr_camadmin_add (NvrCamAdmin *ca, const NvrCameraSettings *settings,
                                const NvrActor *actor, gint64 now_us, GError **error);
/* Changes the members @settings gives; the worker restarts only if something it uses changed
 * (*restarted, may be NULL). Returns the camera's new row. */
NvrCameraRow *nvr_camadmin_edit (NvrCamAdmin *ca, gint64 camera_id,
                                 const NvrCameraSettings *settings, const NvrActor *actor,
                                 gint64 now_us, gboolean *restarted, GError **error);
/* Stops the worker; the camera leaves the catalog's active cameras and every ACL. Its
 * recordings stay, listed in the catalog, until retention deletes them as usual. */
gboolean nvr_camadmin_remove (NvrCamAdmin *ca, gint64 camera_id, const NvrActor *actor,
                              gint64 now_us, GError **error);
/* Motion masks ("x,y x,y ...") and zones ("NAME=x,y ..."), the syntax of `nvr cameras motion`:
 * given @masks replace the masks, given @zones the zones (NULL = keep); @clear empties both
 * first. Validated as a whole, stored, and passed to the running worker (no restart). Fills
 * the camera's masks and zones after the change, as the catalog's JSON (@masks_json,
 * @zones_json, "" = none) and as text lists (@mask_texts, @zone_texts); each may be NULL. */
gboolean nvr_camadmin_motion (NvrCamAdmin *ca, gint64 camera_id, GPtrArray *masks,
                              GPtrArray *zones, gboolean clear, const NvrActor *actor,
                              gint64 now_us, char **masks_json, char **zones_json,
                              GPtrArray **mask_texts, GPtrArray **zone_texts, GError **error);

/* Switches the camera's motion detection (issue 13): stored in the catalog (kept across
 * restarts), sent to its worker, audited as "camera.detection" {"on": bool}. */
gboolean nvr_camadmin_set_detection (NvrCamAdmin *ca, gint64 camera_id, gboolean on,
                                     const NvrActor *actor, gint64 now_us, GError **error);

/* {"id","name","main_url","sub_url"|null,"user"|null,"password_set","transport",
 *  "transport_default","audio","retention_days"|null,"recording","detection","masks":[..],
 *  "zones":[..]} — never the password. */
JsonNode *nvr_camadmin_camera_json (NvrCamAdmin *ca, const NvrCameraRow *camera);

/* Stores one audit entry (docs/design/admin.md "Audit"); @details a JSON object text without
 * secrets (NULL = {}). Logs and returns FALSE if the catalog refuses. */
gboolean nvr_camadmin_audit (NvrCamAdmin *ca, const NvrActor *actor, const char *action,
                             gint64 camera_id, gint64 device_id, const char *target,
                             const char *details, gint64 now_us, GError **error);

/* Audit entries of the device side (both fronts), never holding a secret or invite code:
 * "invite.create" {"name","cameras":[ids],"admin","expires_us"}; for @dev (its row before the
 * change) "device.revoke" {}, "device.cameras" {"cameras":{"from":[..],"to":[..]}} (@to given),
 * "device.pair" {"cameras":[..],"admin"}. Failures are logged, not returned: the change is
 * already made. */
void nvr_camadmin_audit_invite (NvrCamAdmin *ca, const NvrActor *actor, const char *name,
                                const gint64 *camera_ids, guint n, gboolean admin,
                                gint64 expires_us, gint64 now_us);
void nvr_camadmin_audit_device (NvrCamAdmin *ca, const NvrActor *actor, const char *action,
                                const NvrDeviceRow *dev, const gint64 *to, guint n_to,
                                gint64 now_us);

G_END_DECLS
