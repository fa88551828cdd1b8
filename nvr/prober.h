/* prober — the daemon's side of `nvr camera-probe` (nvr/probe.c): spawns at most
 * NVR_PROBER_MAX_RUNNING probe processes, sends each its request, kills it at its time limit and
 * turns its typed, size-checked result into the JSON the web API and the admin socket answer
 * (docs/design/admin.md "Testing and finding cameras"). Main loop only; never blocks.
 * The result checker (nvr_prober_result_json) is pure and unit-tested: a probe is as untrusted
 * as the camera it talked to. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define NVR_PROBER_MAX_RUNNING 2       /* probes not yet answered; an answered one has ≤ 2 s to exit */
#define NVR_PROBER_TEST_LIMIT_S 15     /* camera test: the probe is killed after this */
#define NVR_PROBER_ONVIF_LIMIT_S 25    /* profiles: 3 requests + one per profile, 5 s each at most */
#define NVR_PROBER_SCAN_LIMIT_S 8      /* discovery listens 3 s */
#define NVR_PROBER_MAX_RESULT (1024 * 1024)

#define NVR_PROBER_ERROR (nvr_prober_error_quark ())
GQuark nvr_prober_error_quark (void);
typedef enum {
  NVR_PROBER_ERROR_BUSY,      /* NVR_PROBER_MAX_RUNNING probes are running: HTTP 429 */
  NVR_PROBER_ERROR_INVALID,   /* the request is not valid: HTTP 400 */
  NVR_PROBER_ERROR_FAILED,    /* the probe could not be started: HTTP 500 */
} NvrProberError;

typedef enum {
  NVR_PROBE_TEST,             /* main_url, user, password, transport */
  NVR_PROBE_ONVIF_PROFILES,   /* address, user, password */
  NVR_PROBE_ONVIF_SCAN,
} NvrProbeKind;

typedef struct _NvrProber NvrProber;

/* @result is the answer's JSON object (transfer none). Always called exactly once per started
 * probe, on the main loop, also when the probe crashed or timed out (then ok false). */
typedef void (*NvrProberDone) (JsonNode *result, gpointer user_data);

NvrProber *nvr_prober_new (void);
/* Kills the probes still running; their callbacks are not called. */
void nvr_prober_free (NvrProber *prober);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrProber, nvr_prober_free)

/* Starts a probe. Strings may be NULL ("" is the same). Returns FALSE with BUSY, INVALID (a
 * message safe to show, never holding the password) or FAILED; then @done is never called. */
gboolean nvr_prober_start (NvrProber *prober, NvrProbeKind kind, const char *url_or_address,
                           const char *user, const char *password, const char *transport,
                           NvrProberDone done, gpointer user_data, GError **error);

/* Pure: the JSON for a probe's `result` fields (a{sv}), checked field by field; NULL with
 * @error if anything is missing, of the wrong type, too large or not valid UTF-8/JPEG. */
JsonNode *nvr_prober_result_json (NvrProbeKind kind, GVariant *fields, GError **error);

/* Pure: FALSE with a message (never holding the URL) when @url is not an rtsp(s):// URL with a
 * host and without userinfo. */
gboolean nvr_prober_check_rtsp_url (const char *url, GError **error);

G_END_DECLS
