/* http — the daemon's web API (docs/design/auth.md): libsoup 3 SoupServer on the [web] unix
 * socket, behind lighttpd. Main loop only; handlers never block. Every route comes from the
 * table in httproute.c and goes through nvr_catalog_authorize before it touches a camera. */
#pragma once

#include <glib.h>
#include "catalog.h"
#include "config.h"
#include "live.h"
#include "pairing.h"
#include "prober.h"
#include "signing.h"
#include "supervisor.h"

G_BEGIN_DECLS

typedef struct _NvrHttp NvrHttp;

/* Listens on config->web_socket (replacing a stale socket file). All arguments must outlive it. */
NvrHttp *nvr_http_new (const NvrConfig *config, NvrCatalog *catalog, NvrSupervisor *sup,
                       NvrLiveHub *live, NvrPairing *pairing, GError **error);
void nvr_http_free (NvrHttp *http);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrHttp, nvr_http_free)

/* The box's export-signing key (owned by the caller, outlives @http): GET box answers its
 * public half; exports are signed with it. Without one those routes answer 503. */
void nvr_http_set_signer (NvrHttp *http, const NvrSigner *signer);

/* Camera administration and the audit trail (docs/design/admin.md; owned by the caller, outlives
 * @http). Without it the settings routes answer 503 and nothing is audited. */
typedef struct _NvrCamAdmin NvrCamAdmin;
void nvr_http_set_camadmin (NvrHttp *http, NvrCamAdmin *camadmin);
/* The health report (GET health; owned by the caller, outlives @http); without it 503. */
typedef struct _NvrHealth NvrHealth;
void nvr_http_set_health (NvrHttp *http, NvrHealth *health);
/* The daemon's prober (owned by the caller, outlives @http): settings/cameras/test and
 * settings/onvif/profiles and settings/onvif/scan run their probes with it. Without one those routes answer 503. */
void nvr_http_set_prober (NvrHttp *http, NvrProber *prober);

/* A device was revoked or its ACL changed (also from the admin socket): live streams it may no
 * longer see end now. */
void nvr_http_device_changed (NvrHttp *http, gint64 device_id);

G_END_DECLS
