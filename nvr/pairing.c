/* pairing — invites, device pairing and login (docs/design/auth.md "Messages") on top of the pure
 * auth core and the catalog. Main loop only; the HTTP layer and the admin socket call it.
 * Invariants: invite secrets and session tokens exist only in memory and in the answer to their
 * requester; the catalog sees their hashes. A nonce is consumed by the first finish naming it. */
#define G_LOG_DOMAIN "nvr-pairing"

#include "pairing.h"

#include <errno.h>
#include <gio/gio.h>
#include <qrencode.h>
#include <sodium.h>
#include <string.h>

#include "auth.h"

struct _NvrPairing {
  NvrCatalog *catalog;         /* borrowed */
  const NvrConfig *config;     /* borrowed */
  NvrAuthNonces *nonces;
  NvrAuthLimiter *pair_limit;  /* pair/begin + pair/finish: every attempt is shared */
  NvrAuthLimiter *login_limit; /* login/begin + login/finish: shared only for paired keys */
  NvrAuthLimiter *key_limit;   /* per paired public key: its logins when its address is over */
};

/* Which budget paid a login/begin (its nonce's tag): the finish that succeeds refunds it. */
enum { PAID_BY_CLIENT = 1, PAID_BY_KEY = 2 };

#define INVITE_NAME_MAX 64
#define INVITE_CAMERAS_MAX 256
#define PEM_MAX (1024 * 1024)

/* Reasons shown to the requester. A wrong or unknown code gets one answer, whatever exists. */
#define REASON_RATE "Too many pairing or login attempts; wait a minute"
#define REASON_CODE "This pairing code is not valid"
#define REASON_INTERNAL "Internal error"

NvrPairing *
nvr_pairing_new (NvrCatalog *catalog, const NvrConfig *config)
{
  if (sodium_init () < 0)
    g_error ("Failed to initialise libsodium");
  NvrPairing *p = g_new0 (NvrPairing, 1);
  p->catalog = catalog;
  p->config = config;
  p->nonces = nvr_auth_nonces_new ();
  p->pair_limit = nvr_auth_limiter_new (NVR_AUTH_PAIR_PER_CLIENT, NVR_AUTH_PAIR_GLOBAL);
  p->login_limit = nvr_auth_limiter_new (NVR_AUTH_LOGIN_PER_CLIENT, NVR_AUTH_LOGIN_GLOBAL);
  p->key_limit = nvr_auth_limiter_new (NVR_AUTH_LOGIN_PER_KEY, NVR_AUTH_LOGIN_GLOBAL);
  return p;
}

void
nvr_pairing_free (NvrPairing *p)
{
  if (p == NULL)
    return;
  nvr_auth_nonces_free (p->nonces);
  nvr_auth_limiter_free (p->pair_limit);
  nvr_auth_limiter_free (p->login_limit);
  nvr_auth_limiter_free (p->key_limit);
  g_free (p);
}

static gboolean
name_valid (const char *name)
{
  gsize len = name ? strlen (name) : 0;
  if (len == 0 || len > INVITE_NAME_MAX || !g_utf8_validate (name, (gssize) len, NULL))
    return FALSE;
  for (const char *s = name; *s; s = g_utf8_next_char (s))
    if (g_unichar_iscntrl (g_utf8_get_char (s)))
      return FALSE;
  return TRUE;
}

char *
nvr_pairing_invite_create (NvrPairing *p, const char *name, const gint64 *camera_ids,
                           guint n_cameras, gboolean is_admin, gint64 ttl_s, gint64 now_us,
                           char **out_url, gint64 *out_expires_us, GError **error)
{
  if (!name_valid (name)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "A device name is 1-%d characters of printable UTF-8", INVITE_NAME_MAX);
    return NULL;
  }
  if (ttl_s == 0)
    ttl_s = NVR_AUTH_INVITE_TTL_DEFAULT_S;
  if (ttl_s < 1 || ttl_s > NVR_AUTH_INVITE_TTL_MAX_S) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "An invite lives 1 s to %d h", NVR_AUTH_INVITE_TTL_MAX_S / 3600);
    return NULL;
  }
  if (n_cameras > INVITE_CAMERAS_MAX) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "An invite names at most %d cameras", INVITE_CAMERAS_MAX);
    return NULL;
  }
  gint64 expires_us = now_us + ttl_s * G_USEC_PER_SEC;
  /* The 4-character lookup is public and may collide with a remembered invite: draw again. */
  for (guint attempt = 0;; attempt++) {
    guint8 random[12];
    char lookup[5], secret[9];
    guint8 secret_hash[NVR_AUTH_HASH_BYTES];
    randombytes_buf (random, sizeof random);
    g_autofree char *normalised = nvr_auth_code_make (random, lookup, secret);
    nvr_auth_hash (secret, strlen (secret), secret_hash);
    g_autoptr (GError) local = NULL;
    gboolean ok = nvr_catalog_invite_add (p->catalog, lookup, secret_hash, name, is_admin,
                                          camera_ids, n_cameras, now_us, expires_us, NULL,
                                          &local);
    sodium_memzero (random, sizeof random);
    if (!ok && attempt < 16 && g_error_matches (local, NVR_CATALOG_ERROR,
                                                NVR_CATALOG_ERROR_EXISTS)) {
      sodium_memzero (secret, sizeof secret);
      continue;
    }
    if (!ok) {
      g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
    char *code = nvr_auth_code_format (lookup, secret);
    sodium_memzero (secret, sizeof secret);
    if (out_url)
      *out_url = p->config->web_origin
                     ? g_strdup_printf ("%s/pair.html#code=%s", p->config->web_origin, code)
                     : NULL;
    if (out_expires_us)
      *out_expires_us = expires_us;
    g_message ("Created an invite for '%s' (%u cameras%s), valid for %" G_GINT64_FORMAT " s",
               name, n_cameras, is_admin ? ", admin" : "", ttl_s);
    return code;
  }
}

char *
nvr_pairing_fingerprint (const char *pem_path, GError **error)
{
  static const char begin[] = "-----BEGIN CERTIFICATE-----";
  static const char end[] = "-----END CERTIFICATE-----";
  g_autofree char *text = NULL;
  gsize len = 0;
  g_autoptr (GMappedFile) map = g_mapped_file_new (pem_path, FALSE, error);
  if (map == NULL)
    return NULL;
  len = g_mapped_file_get_length (map);
  if (len > PEM_MAX) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "'%s' is too large for a PEM file",
                 pem_path);
    return NULL;
  }
  text = g_strndup (g_mapped_file_get_contents (map), len);
  const char *b = strstr (text, begin);
  const char *e = b ? strstr (b, end) : NULL;
  if (e == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "'%s' has no PEM certificate",
                 pem_path);
    return NULL;
  }
  b += strlen (begin);
  gsize b64_len = (gsize) (e - b);
  g_autofree guint8 *der = g_malloc (b64_len / 4 * 3 + 3);
  size_t der_len = 0;
  const char *stop = NULL;
  if (sodium_base642bin (der, b64_len / 4 * 3 + 3, b, b64_len, " \t\r\n", &der_len, &stop,
                         sodium_base64_VARIANT_ORIGINAL) != 0 || stop != e || der_len == 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "'%s' has a malformed PEM certificate", pem_path);
    return NULL;
  }
  guint8 digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256 (digest, der, der_len);
  GString *out = g_string_sized_new (3 * sizeof digest);
  for (gsize i = 0; i < sizeof digest; i++)
    g_string_append_printf (out, i ? ":%02X" : "%02X", digest[i]);
  return g_string_free (out, FALSE);
}

/* ---- messages ---- */

static guint
refuse (guint status, const char *reason, char **out_reason)
{
  if (out_reason)
    *out_reason = g_strdup (reason);
  return status;
}

static guint
internal (const char *what, GError *error, char **out_reason)
{
  g_warning ("Failed to %s: %s", what, error ? error->message : "unknown error");
  return refuse (500, REASON_INTERNAL, out_reason);
}

/* Looks up the invite a code names and checks its secret (a wrong one counts a failure) and
 * that it is still usable. On 200 fills @out_invite and @normalised (13 bytes). */
static guint
invite_check (NvrPairing *p, const char *code, gint64 now_us, NvrInviteRow **out_invite,
              char normalised[13], char **out_reason)
{
  char lookup[5], secret[9];
  if (!nvr_auth_code_parse (code, lookup, secret))
    return refuse (403, REASON_CODE, out_reason);
  g_autoptr (GError) error = NULL;
  g_autoptr (NvrInviteRow) inv = nvr_catalog_invite_get (p->catalog, lookup, &error);
  if (inv == NULL) {
    sodium_memzero (secret, sizeof secret);
    if (g_error_matches (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND))
      return refuse (403, REASON_CODE, out_reason);
    return internal ("read an invite", error, out_reason);
  }
  guint8 hash[NVR_AUTH_HASH_BYTES];
  nvr_auth_hash (secret, strlen (secret), hash);
  g_snprintf (normalised, 13, "%s%s", lookup, secret);
  sodium_memzero (secret, sizeof secret);
  if (sodium_memcmp (hash, inv->secret_hash, sizeof hash) != 0) {
    if (!nvr_catalog_invite_fail (p->catalog, inv->id, now_us, &error))
      return internal ("count a wrong pairing code", error, out_reason);
    if (inv->burned_us == 0 && inv->used_us == 0 &&
        inv->failures + 1 >= NVR_AUTH_INVITE_MAX_FAILURES)
      g_warning ("Invite for '%s' burned after %d wrong codes", inv->name,
                 NVR_AUTH_INVITE_MAX_FAILURES);
    return refuse (403, REASON_CODE, out_reason);
  }
  /* Who holds the secret may learn why it no longer works. */
  if (inv->used_us != 0)
    return refuse (403, "This pairing code was already used", out_reason);
  if (inv->burned_us != 0)
    return refuse (403, "This pairing code was blocked after too many wrong attempts",
                   out_reason);
  if (now_us >= inv->expires_us)
    return refuse (403, "This pairing code has expired", out_reason);
  *out_invite = g_steal_pointer (&inv);
  return 200;
}

static char *
new_nonce (NvrPairing *p, NvrNoncePurpose purpose, const char *subject, gint64 now_us)
{
  guint8 random[NVR_AUTH_NONCE_BYTES];
  randombytes_buf (random, sizeof random);
  return nvr_auth_nonces_issue (p->nonces, random, purpose, subject, now_us);
}

/* A new session token: its b64 goes to the client, the hash of its 32 bytes to @hash. */
static char *
new_token (guint8 hash[NVR_AUTH_HASH_BYTES])
{
  guint8 token[NVR_AUTH_TOKEN_BYTES];
  randombytes_buf (token, sizeof token);
  char *b64 = nvr_auth_b64_encode (token, sizeof token);
  nvr_auth_hash (token, sizeof token, hash);
  sodium_memzero (token, sizeof token);
  return b64;
}

/* Rate limits (docs/design/auth.md "Rate limits"): only failures count against a client, so a
 * begin is charged provisionally and its successful finish gives the charge back; a pairing
 * attempt also counts against the global ceiling, a login only when it names a paired key. A
 * refusal that is our fault (500) is not charged. */

guint
nvr_pairing_begin (NvrPairing *p, const char *client, const char *code, gint64 now_us,
                   char **out_nonce, NvrInviteRow **out_invite, char **out_reason)
{
  if (!nvr_auth_limiter_allows (p->pair_limit, client, TRUE, now_us))
    return refuse (429, REASON_RATE, out_reason);
  g_autoptr (NvrInviteRow) inv = NULL;
  char normalised[13];
  guint status = invite_check (p, code, now_us, &inv, normalised, out_reason);
  if (status != 500)
    nvr_auth_limiter_fail (p->pair_limit, client, TRUE, now_us);   /* provisional on 200 */
  if (status != 200)
    return status;
  *out_nonce = new_nonce (p, NVR_NONCE_PAIR, inv->lookup, now_us);
  if (out_invite)
    *out_invite = g_steal_pointer (&inv);
  return 200;
}

static guint
pairing_finish (NvrPairing *p, const char *origin_hdr, const char *code, const char *nonce,
                const char *public_key,
                const char *signature, gint64 now_us, gint64 *out_device_id, char **out_token,
                char **out_reason)
{
  g_autoptr (NvrInviteRow) inv = NULL;
  char normalised[13];
  guint status = invite_check (p, code, now_us, &inv, normalised, out_reason);
  if (status != 200)
    return status;
  if (!nvr_auth_nonces_take (p->nonces, nonce, NVR_NONCE_PAIR, inv->lookup, now_us))
    return refuse (403, "This pairing request expired or was already answered; start again",
                   out_reason);
  guint8 pk[NVR_AUTH_KEY_BYTES], sig[NVR_AUTH_SIG_BYTES];
  if (!nvr_auth_b64_decode_exact (public_key, pk, sizeof pk) || !nvr_auth_public_key_valid (pk))
    return refuse (400, "public_key is not a valid Ed25519 public key", out_reason);
  g_autoptr (GError) error = NULL;
  g_autoptr (NvrDeviceRow) existing = nvr_catalog_device_by_key (p->catalog, pk, &error);
  if (existing != NULL)
    return refuse (403, "This key is already paired", out_reason);
  if (!g_error_matches (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND))
    return internal ("look up a device key", error, out_reason);
  g_clear_error (&error);
  if (!nvr_auth_b64_decode_exact (signature, sig, sizeof sig))
    return refuse (400, "signature is not a 64-byte base64url value", out_reason);
  /* the browser signed its own origin: one of the configured ones, or nothing verifies */
  const char *origin = nvr_config_origin_find (p->config, origin_hdr);
  g_autofree char *message =
      origin ? nvr_auth_pair_message (origin, normalised, nonce, public_key) : NULL;
  sodium_memzero (normalised, sizeof normalised);
  if (message == NULL || !nvr_auth_verify (pk, sig, message))
    return refuse (403, "The signature does not verify", out_reason);

  guint8 token_hash[NVR_AUTH_HASH_BYTES];
  g_autofree char *token = new_token (token_hash);
  gint64 device_id = 0;
  if (!nvr_catalog_pair (p->catalog, inv->id, pk, token_hash, now_us, &device_id, &error)) {
    if (g_error_matches (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_EXISTS))
      return refuse (403, "This key is already paired", out_reason);
    if (g_error_matches (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_INVALID))
      return refuse (403, REASON_CODE, out_reason);
    return internal ("pair a device", error, out_reason);
  }
  g_message ("Paired device %" G_GINT64_FORMAT " '%s'%s", device_id, inv->name,
             inv->is_admin ? " (admin)" : "");
  *out_device_id = device_id;
  *out_token = g_steal_pointer (&token);
  return 200;
}

guint
nvr_pairing_finish (NvrPairing *p, const char *client, const char *origin, const char *code,
                    const char *nonce,
                    const char *public_key, const char *signature, gint64 now_us,
                    gint64 *out_device_id, char **out_token, char **out_reason)
{
  if (!nvr_auth_limiter_allows (p->pair_limit, client, TRUE, now_us))
    return refuse (429, REASON_RATE, out_reason);
  guint status = pairing_finish (p, origin, code, nonce, public_key, signature, now_us,
                                 out_device_id,
                                 out_token, out_reason);
  if (status == 200)
    nvr_auth_limiter_refund (p->pair_limit, client, TRUE, now_us);   /* the begin's charge */
  else if (status != 500)
    nvr_auth_limiter_fail (p->pair_limit, client, TRUE, now_us);
  return status;
}

/* The device a public key (base64url) names if it is paired and not revoked: NULL otherwise,
 * or on a catalog error (then @error is set). */
static NvrDeviceRow *
paired_device (NvrPairing *p, const guint8 pk[NVR_AUTH_KEY_BYTES], GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (NvrDeviceRow) dev = nvr_catalog_device_by_key (p->catalog, pk, &local);
  if (dev == NULL) {
    if (!g_error_matches (local, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND))
      g_propagate_error (error, g_steal_pointer (&local));
    return NULL;
  }
  return dev->revoked_us != 0 ? NULL : g_steal_pointer (&dev);
}

guint
nvr_pairing_login_begin (NvrPairing *p, const char *client, const char *public_key,
                         gint64 now_us, char **out_nonce, char **out_reason)
{
  gboolean by_client = nvr_auth_limiter_allows (p->login_limit, client, FALSE, now_us);
  guint8 pk[NVR_AUTH_KEY_BYTES];
  if (!nvr_auth_b64_decode_exact (public_key, pk, sizeof pk)) {
    if (!by_client)
      return refuse (429, REASON_RATE, out_reason);
    nvr_auth_limiter_fail (p->login_limit, client, FALSE, now_us);
    return refuse (400, "public_key is not a 32-byte base64url value", out_reason);
  }
  g_autoptr (GError) error = NULL;
  g_autoptr (NvrDeviceRow) dev = paired_device (p, pk, &error);
  if (error != NULL)
    return internal ("look up a device key", error, out_reason);
  gboolean known = dev != NULL;
  /* Over its address's limit, a paired key may still try on its own budget: a flood from the
   * device's own address (a shared NAT, another program on the phone) cannot lock it out. */
  if (!by_client && !(known && nvr_auth_limiter_allows (p->key_limit, public_key, FALSE, now_us)))
    return refuse (429, REASON_RATE, out_reason);
  if (known && !nvr_auth_limiter_allows (p->login_limit, NULL, TRUE, now_us))
    return refuse (429, REASON_RATE, out_reason);   /* the global ceiling */
  /* Provisional: the finish that succeeds gives it back. */
  if (by_client) {
    nvr_auth_limiter_fail (p->login_limit, client, known, now_us);
  } else {
    nvr_auth_limiter_fail (p->key_limit, public_key, FALSE, now_us);
    nvr_auth_limiter_fail (p->login_limit, NULL, TRUE, now_us);
  }
  /* Known or not, a well-formed key gets a nonce: begin reveals nothing about devices. Only a
   * paired key's nonce is remembered; any other gets random bytes that no finish accepts, so
   * unknown keys fill nothing shared. */
  guint8 random[NVR_AUTH_NONCE_BYTES];
  randombytes_buf (random, sizeof random);
  *out_nonce = known ? nvr_auth_nonces_issue_tagged (p->nonces, random, NVR_NONCE_LOGIN,
                                                     public_key,
                                                     by_client ? PAID_BY_CLIENT : PAID_BY_KEY,
                                                     now_us)
                     : nvr_auth_b64_encode (random, sizeof random);
  return 200;
}

guint
nvr_pairing_login_finish (NvrPairing *p, const char *client, const char *origin_hdr,
                          const char *public_key,
                          const char *nonce, const char *signature, gint64 now_us,
                          gint64 *out_device_id, char **out_token, char **out_reason)
{
  static const char refused[] = "Login refused";
  /* Only a paired key's begin stored a nonce, and that begin was charged (to the address, or to
   * the key when the address was over): a finish with one goes on whatever its address's
   * budget, and if it fails the begin's charge stands; a finish without one is a failure of its
   * address. */
  guint paid_by = 0;
  if (!nvr_auth_nonces_take_tagged (p->nonces, nonce, NVR_NONCE_LOGIN, public_key, now_us,
                                    &paid_by)) {
    if (!nvr_auth_limiter_allows (p->login_limit, client, FALSE, now_us))
      return refuse (429, REASON_RATE, out_reason);
    nvr_auth_limiter_fail (p->login_limit, client, FALSE, now_us);
    return refuse (401, refused, out_reason);
  }
  guint8 pk[NVR_AUTH_KEY_BYTES], sig[NVR_AUTH_SIG_BYTES];
  if (!nvr_auth_b64_decode_exact (public_key, pk, sizeof pk) ||
      !nvr_auth_b64_decode_exact (signature, sig, sizeof sig))
    return refuse (401, refused, out_reason);
  g_autoptr (GError) error = NULL;
  g_autoptr (NvrDeviceRow) dev = paired_device (p, pk, &error);
  if (error != NULL)
    return internal ("look up a device key", error, out_reason);
  if (dev == NULL)
    return refuse (401, refused, out_reason);   /* revoked since the begin */
  const char *origin = nvr_config_origin_find (p->config, origin_hdr);
  g_autofree char *message = origin ? nvr_auth_login_message (origin, nonce, public_key) : NULL;
  if (message == NULL || !nvr_auth_verify (pk, sig, message))
    return refuse (401, refused, out_reason);   /* the begin's charge stands */
  guint8 token_hash[NVR_AUTH_HASH_BYTES];
  g_autofree char *token = new_token (token_hash);
  if (!nvr_catalog_session_add (p->catalog, dev->id, token_hash, now_us, &error)) {
    if (g_error_matches (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND))
      return refuse (401, refused, out_reason);   /* revoked meanwhile */
    return internal ("add a session", error, out_reason);
  }
  /* The begin's charge, to the budget that paid it. */
  if (paid_by == PAID_BY_KEY) {
    nvr_auth_limiter_refund (p->key_limit, public_key, FALSE, now_us);
    nvr_auth_limiter_refund (p->login_limit, NULL, TRUE, now_us);
  } else {
    nvr_auth_limiter_refund (p->login_limit, client, TRUE, now_us);
  }
  *out_device_id = dev->id;
  *out_token = g_steal_pointer (&token);
  return 200;
}

gboolean
nvr_pairing_token_hash (const char *token, guint8 out[32])
{
  guint8 raw[NVR_AUTH_TOKEN_BYTES];
  if (!nvr_auth_b64_decode_exact (token, raw, sizeof raw))
    return FALSE;
  nvr_auth_hash (raw, sizeof raw, out);
  sodium_memzero (raw, sizeof raw);
  return TRUE;
}

char *
nvr_pairing_qr_svg (const char *text, GError **error)
{
  QRcode *qr = QRcode_encodeString (text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
  if (qr == NULL) {
    int e = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
                 "Failed to make a QR code of the pairing URL: %s", g_strerror (e));
    return NULL;
  }
  const int quiet = 4, size = qr->width + 2 * quiet;
  GString *svg = g_string_new (NULL);
  g_string_append_printf (svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
                          "shape-rendering=\"crispEdges\"><rect width=\"%d\" height=\"%d\" "
                          "fill=\"#fff\"/><path fill=\"#000\" d=\"", size, size, size, size);
  /* One sub-path per horizontal run of dark modules. */
  for (int y = 0; y < qr->width; y++)
    for (int x = 0; x < qr->width;) {
      if (!(qr->data[y * qr->width + x] & 1)) {
        x++;
        continue;
      }
      int run = 1;
      while (x + run < qr->width && (qr->data[y * qr->width + x + run] & 1))
        run++;
      g_string_append_printf (svg, "M%d %dh%dv1h-%dz", x + quiet, y + quiet, run, run);
      x += run;
    }
  g_string_append (svg, "\"/></svg>");
  QRcode_free (qr);
  return g_string_free (svg, FALSE);
}
