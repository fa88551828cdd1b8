/* pairing — invites, device pairing and login (docs/design/auth.md "Messages"), on top of the
 * pure auth core and the catalog. Main loop only; no network I/O (the HTTP layer calls it).
 * Each call returns an HTTP status (200 on success) and, on failure, a reason safe to show. */
#pragma once

#include <glib.h>
#include "catalog.h"
#include "config.h"

G_BEGIN_DECLS

typedef struct _NvrPairing NvrPairing;

/* @catalog and @config must outlive it. */
NvrPairing *nvr_pairing_new (NvrCatalog *catalog, const NvrConfig *config);
void nvr_pairing_free (NvrPairing *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrPairing, nvr_pairing_free)

/* Creates an invite (used by `nvr pair` through the admin socket and by POST /api/v1/invites).
 * @ttl_s 0 = default; over the maximum is an error. Returns the display code; @out_url is
 * "<origin>/pair.html#code=<code>" (NULL when [web] origin is unset). */
char *nvr_pairing_invite_create (NvrPairing *p, const char *name, const gint64 *camera_ids,
                                 guint n_cameras, gboolean is_admin, gint64 ttl_s,
                                 gint64 now_us, char **out_url, gint64 *out_expires_us,
                                 GError **error);

/* The SHA-256 fingerprint "AA:BB:..." of the first certificate in a PEM file. */
char *nvr_pairing_fingerprint (const char *pem_path, GError **error);

/* @text (a pairing URL) as a QR code in SVG (libqrencode, error correction L, 4-module quiet
 * zone, one <path> of the dark modules on a white <rect>; viewBox in modules), so that a page
 * can show it with no script. NULL with @error if @text does not fit a QR code. */
char *nvr_pairing_qr_svg (const char *text, GError **error);

/* @client in the calls below names the requester for the rate limits: the address lighttpd
 * forwarded (nvr_httproute_client), or "local". Over its limit a call answers 429. */

/* POST pair/begin. On 200: @out_nonce, and @out_invite (name, cameras, admin). */
guint nvr_pairing_begin (NvrPairing *p, const char *client, const char *code, gint64 now_us,
                         char **out_nonce, NvrInviteRow **out_invite, char **out_reason);
/* @origin in the two finishes below: the request's Origin, which the caller found among the
 * configured origins (nvr_config_origin_find); the signature must cover it. Refused (403/401)
 * when it is NULL or not one of them. */
/* POST pair/finish. On 200: @out_device_id and @out_token (the cookie value, base64url). */
guint nvr_pairing_finish (NvrPairing *p, const char *client, const char *origin, const char *code,
                          const char *nonce, const char *public_key, const char *signature,
                          gint64 now_us, gint64 *out_device_id, char **out_token,
                          char **out_reason);
/* POST login/begin: 200 with a nonce for any well-formed key (unknown keys get one no finish
 * accepts), 400 for a malformed one, 429 over the limit. */
guint nvr_pairing_login_begin (NvrPairing *p, const char *client, const char *public_key,
                               gint64 now_us, char **out_nonce, char **out_reason);
/* POST login/finish. On 200: @out_device_id and @out_token. */
guint nvr_pairing_login_finish (NvrPairing *p, const char *client, const char *origin,
                                const char *public_key,
                                const char *nonce, const char *signature, gint64 now_us,
                                gint64 *out_device_id, char **out_token, char **out_reason);

/* The hash under which a session token (cookie value) is stored; FALSE if it is malformed. */
gboolean nvr_pairing_token_hash (const char *token, guint8 out[32]);

G_END_DECLS
