/* audit — the pure pieces of the audit trail of admin changes (docs/design/admin.md "Audit"):
 * who did it as text, what changed about a camera as JSON without secrets, and the list as the
 * web API and `nvr audit` show it. No I/O, no clock; the rows come from nvr/catalog.c. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "catalog.h"

G_BEGIN_DECLS

#define NVR_AUDIT_LIMIT_DEFAULT 100
#define NVR_AUDIT_LIMIT_MAX 500

/* "device 3 'phone'" for a device (@device_id > 0), "admin socket" for the CLI (@device_id 0). */
char *nvr_audit_actor (gint64 device_id, const char *device_name);
/* "camera 2 'porch'" / "device 5 'tablet'". */
char *nvr_audit_camera_target (gint64 camera_id, const char *name);
char *nvr_audit_device_target (gint64 device_id, const char *name);

/* What a camera change did, as a JSON object text. @before NULL (an add): the settings given,
 * the password as "password_set": bool. Otherwise each member that differs as
 * {"from": .., "to": ..}, and "password": "set" | "changed" | "cleared" when it differs. The
 * password itself is never in it, nor the user's old or new value beyond what the API shows. */
char *nvr_audit_camera_details (const NvrCameraRow *before, const NvrCameraRow *after);

/* {"entries":[{"id","time_us","actor","action","target","details"}],"next_before_id"|null}:
 * @rows newest first as nvr_catalog_audit_list gave them for @limit; next_before_id is the last
 * row's id when @rows is full (there may be older ones), else null. "details" is the stored
 * object (an unparsable one is shown as {}). Also "actor_device_id", "camera_id", "device_id"
 * (null when none). */
JsonNode *nvr_audit_list_json (GPtrArray *rows, guint limit);

G_END_DECLS
