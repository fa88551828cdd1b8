/* Fuzz target for what a stranger can send to pairing and login (nvr/auth.c, nvr/pairing.c):
 * the invite-code parser, the base64url decoders, signature verification, and the pair/login
 * messages end to end on an in-memory catalog. The first byte picks the target.
 * Built as a plain program it replays every file of the directories given on the command line
 * (tests/fuzz/corpus/pairing, a meson test in suite 'fuzz'); built with clang
 * -fsanitize=fuzzer -DNVR_LIBFUZZER it is a libFuzzer target (sources: this file, nvr/auth.c,
 * pairing.c, catalog.c, paths.c, identity.c, timeline.c, retention.c; glib, gio, libsodium,
 * sqlite3). Found so far: libsodium accepting bytes >= 0x80 in base64 (corpus b64-high-byte). */
#include <glib.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "auth.h"
#include "pairing.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static void
fuzz_code (const char *text)
{
  char lookup[5], secret[9];
  if (!nvr_auth_code_parse (text, lookup, secret))
    return;
  g_assert_cmpuint (strlen (lookup), ==, 4);
  g_assert_cmpuint (strlen (secret), ==, 8);
  g_assert_cmpuint (strspn (lookup, alphabet), ==, 4);
  g_assert_cmpuint (strspn (secret, alphabet), ==, 8);
  /* What parsed is canonical: formatting and parsing again gives the same. */
  g_autofree char *shown = nvr_auth_code_format (lookup, secret);
  char l2[5], s2[9];
  g_assert_true (nvr_auth_code_parse (shown, l2, s2));
  g_assert_cmpstr (l2, ==, lookup);
  g_assert_cmpstr (s2, ==, secret);
}

static void
fuzz_b64 (const char *text, gsize hint)
{
  const gsize lens[] = { 32, 64, hint % 80 };
  for (guint i = 0; i < G_N_ELEMENTS (lens); i++) {
    g_autofree guint8 *out = g_malloc (lens[i] + 1);
    if (!nvr_auth_b64_decode_exact (text, out, lens[i]))
      continue;
    /* One spelling per value: what decodes re-encodes to the same text. */
    g_autofree char *again = nvr_auth_b64_encode (out, lens[i]);
    g_assert_cmpstr (again, ==, text);
  }
}

/* "<public key b64>\n<signature b64>\n<message>": verification of arbitrary input never
 * succeeds unless a real signature is there; a real one over the message always does. */
static void
fuzz_verify (const char *text)
{
  g_auto (GStrv) parts = g_strsplit (text, "\n", 3);
  guint8 pk[32], sig[64];
  if (g_strv_length (parts) == 3 && nvr_auth_b64_decode_exact (parts[0], pk, sizeof pk) &&
      nvr_auth_b64_decode_exact (parts[1], sig, sizeof sig))
    (void) nvr_auth_verify (pk, sig, parts[2]);

  static const guint8 seed[32] = { 0x42 };
  guint8 spk[32], ssk[64], ssig[64];
  crypto_sign_seed_keypair (spk, ssk, seed);
  crypto_sign_detached (ssig, NULL, (const guint8 *) text, strlen (text), ssk);
  g_assert_true (nvr_auth_verify (spk, ssig, text));
  g_autofree char *other = g_strconcat (text, "x", NULL);
  g_assert_false (nvr_auth_verify (spk, ssig, other));
}

/* Pair and login requests with fuzzed fields against a catalog that holds one invite. */
typedef struct {
  NvrCatalog *cat;
  NvrConfig config;
  NvrPairing *p;
  gint64 now;
} World;

static World *
world (void)
{
  static World *w;
  if (w != NULL)
    return w;
  g_autoptr (GError) error = NULL;
  w = g_new0 (World, 1);
  w->cat = nvr_catalog_open (":memory:", &error);
  g_assert_no_error (error);
  w->config.web_origin = (char *) "https://127.0.0.1:8443";
  w->p = nvr_pairing_new (w->cat, &w->config);
  w->now = (gint64) 1700000000 * G_USEC_PER_SEC;
  NvrCameraRow cam = { .name = "porch", .main_url = "rtsp://127.0.0.1:8554/a" };
  gint64 id = 0;
  g_assert_true (nvr_catalog_camera_add (w->cat, &cam, 1, &id, &error));
  return w;
}

static void
check_status (guint status, const char *reason)
{
  g_assert_true (status == 200 || status == 400 || status == 401 || status == 403 ||
                 status == 429);
  g_assert_true (status == 200 || (reason != NULL && *reason != '\0'));
}

static void
fuzz_messages (const char *text)
{
  World *w = world ();
  /* Each request 6 s apart: the rate limit never hides the paths below. */
  w->now += 6 * G_USEC_PER_SEC;
  g_autoptr (GError) error = NULL;
  gint64 cam = 1;
  g_autofree char *code = nvr_pairing_invite_create (w->p, "fuzz", &cam, 1, FALSE, 600, w->now,
                                                     NULL, NULL, &error);
  g_assert_no_error (error);

  /* Fields separated by '\n': code ("=" = the real one), nonce ("=" = a real one), public key,
   * signature. */
  g_auto (GStrv) f = g_strsplit (text, "\n", 4);
  guint n = g_strv_length (f);
  const char *in_code = n > 0 ? f[0] : NULL;
  if (g_strcmp0 (in_code, "=") == 0)
    in_code = code;
  g_autofree char *nonce = NULL, *reason = NULL;
  g_autoptr (NvrInviteRow) inv = NULL;
  guint st = nvr_pairing_begin (w->p, "local", in_code, w->now, &nonce, &inv, &reason);
  check_status (st, reason);
  const char *in_nonce = n > 1 ? f[1] : NULL;
  if (g_strcmp0 (in_nonce, "=") == 0 && nonce != NULL)
    in_nonce = nonce;
  gint64 dev = 0;
  g_autofree char *token = NULL, *reason2 = NULL;
  w->now += 6 * G_USEC_PER_SEC;
  st = nvr_pairing_finish (w->p, "local", w->config.web_origin, in_code, in_nonce, n > 2 ? f[2] : NULL,
                           n > 3 ? f[3] : NULL,
                           w->now, &dev, &token, &reason2);
  check_status (st, reason2);
  /* Nobody pairs without a valid signature by the key they name (the seed corpus has none). */
  g_assert_cmpuint (st, !=, 200);
  g_assert_null (token);

  g_autofree char *ln = NULL, *lr = NULL, *lt = NULL, *lr2 = NULL;
  w->now += 6 * G_USEC_PER_SEC;
  st = nvr_pairing_login_begin (w->p, "local", n > 2 ? f[2] : NULL, w->now, &ln, &lr);
  check_status (st, lr);
  w->now += 6 * G_USEC_PER_SEC;
  st = nvr_pairing_login_finish (w->p, "local", w->config.web_origin, n > 2 ? f[2] : NULL, in_nonce, n > 3 ? f[3] : NULL,
                                 w->now, &dev, &lt, &lr2);
  check_status (st, lr2);
  g_assert_cmpuint (st, !=, 200);   /* no device is paired */

  guint8 h[32];
  (void) nvr_pairing_token_hash (n > 3 ? f[3] : "", h);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size == 0 || size > 4096)
    return 0;
  if (sodium_init () < 0)
    g_error ("Failed to initialise libsodium");
  /* The targets take C strings, as the JSON layer hands them over: up to the first NUL. */
  g_autofree char *text = g_strndup ((const char *) data + 1, size - 1);
  switch (data[0] % 4) {
  case 0:
    fuzz_code (text);
    break;
  case 1:
    fuzz_b64 (text, size);
    break;
  case 2:
    fuzz_verify (text);
    break;
  default:
    fuzz_messages (text);
    break;
  }
  return 0;
}

#include "fuzz-replay.h"
