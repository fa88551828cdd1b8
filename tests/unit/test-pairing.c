/* Unit tests for pairing (nvr/pairing.c) on a temporary catalog: the messages of
 * docs/design/auth.md signed with real Ed25519 keys, the ways they must fail (wrong, used, expired
 * and burned codes, replayed or foreign nonces, bad keys and signatures, revoked devices), the
 * rate limit, and the certificate fingerprint. */
#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>

#include "pairing.h"

#define ORIGIN "https://127.0.0.1:8443"
#define IDLE_US ((gint64) 3600 * G_USEC_PER_SEC)
#define MAX_US ((gint64) 24 * 3600 * G_USEC_PER_SEC)

typedef struct {
  char *dir;
  char *path;
  NvrCatalog *cat;
  NvrConfig config;
  NvrPairing *p;
  gint64 now;           /* advances 6 s per request: one rate-limit token each */
  gint64 porch, garage;
} Fixture;

static void
setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  f->dir = g_dir_make_tmp ("hearth-pairing-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "catalog.db", NULL);
  f->cat = nvr_catalog_open (f->path, &error);
  g_assert_no_error (error);
  f->config.web_origin = (char *) ORIGIN;
  f->p = nvr_pairing_new (f->cat, &f->config);
  f->now = (gint64) 1000000 * G_USEC_PER_SEC;
  NvrCameraRow porch = { .name = "porch", .main_url = "rtsp://127.0.0.1:8554/a" };
  NvrCameraRow garage = { .name = "garage", .main_url = "rtsp://127.0.0.1:8554/b" };
  g_assert_true (nvr_catalog_camera_add (f->cat, &porch, 1, &f->porch, &error));
  g_assert_true (nvr_catalog_camera_add (f->cat, &garage, 1, &f->garage, &error));
}

static void
teardown (Fixture *f, gconstpointer data)
{
  nvr_pairing_free (f->p);
  nvr_catalog_close (f->cat);
  g_autofree char *wal = g_strconcat (f->path, "-wal", NULL);
  g_autofree char *shm = g_strconcat (f->path, "-shm", NULL);
  g_unlink (wal);
  g_unlink (shm);
  g_unlink (f->path);
  g_rmdir (f->dir);
  g_free (f->path);
  g_free (f->dir);
}

static gint64
tick (Fixture *f)
{
  f->now += 6 * G_USEC_PER_SEC;
  return f->now;
}

typedef struct {
  guint8 pk[32], sk[64];
  char *pk_b64;
} Key;

static void
key_new (Key *k)
{
  crypto_sign_keypair (k->pk, k->sk);
  k->pk_b64 = nvr_auth_b64_encode (k->pk, 32);
}

static void
key_clear (Key *k)
{
  g_free (k->pk_b64);
}

static char *
sign_b64 (const Key *k, const char *message)
{
  guint8 sig[64];
  crypto_sign_detached (sig, NULL, (const guint8 *) message, strlen (message), k->sk);
  return nvr_auth_b64_encode (sig, 64);
}

/* The browser's side of pairing: normalise the code, sign, send. */
static char *
pair_signature (const Key *k, const char *origin, const char *code, const char *nonce)
{
  char lookup[5], secret[9];
  g_assert_true (nvr_auth_code_parse (code, lookup, secret));
  g_autofree char *norm = g_strconcat (lookup, secret, NULL);
  g_autofree char *msg = nvr_auth_pair_message (origin, norm, nonce, k->pk_b64);
  return sign_b64 (k, msg);
}

static char *
invite (Fixture *f, gboolean admin, gint64 ttl_s)
{
  g_autoptr (GError) error = NULL;
  gint64 cams[] = { f->porch, f->garage };
  g_autofree char *url = NULL;
  gint64 expires = 0;
  char *code = nvr_pairing_invite_create (f->p, "Anna's phone", cams, 2, admin, ttl_s, f->now,
                                          &url, &expires, &error);
  g_assert_no_error (error);
  g_autofree char *want_url = g_strdup_printf (ORIGIN "/pair.html#code=%s", code);
  g_assert_cmpstr (url, ==, want_url);
  g_assert_cmpint (expires, ==, f->now + (ttl_s ? ttl_s : 600) * G_USEC_PER_SEC);
  return code;
}

/* begin + finish; returns the status of finish and the token on success. */
static guint
pair (Fixture *f, const Key *k, const char *code, gint64 *device_id, char **token)
{
  g_autofree char *nonce = NULL, *reason = NULL;
  g_autoptr (NvrInviteRow) inv = NULL;
  guint st = nvr_pairing_begin (f->p, "local", code, tick (f), &nonce, &inv, &reason);
  if (st != 200)
    return st;
  g_autofree char *sig = pair_signature (k, ORIGIN, code, nonce);
  g_autofree char *reason2 = NULL;
  return nvr_pairing_finish (f->p, "local", ORIGIN, code, nonce, k->pk_b64, sig, tick (f), device_id, token,
                             &reason2);
}

static gboolean
token_works (Fixture *f, const char *token, gint64 camera_id)
{
  guint8 h[32];
  g_autoptr (GError) error = NULL;
  g_auto (NvrAccess) acc = { 0 };
  g_assert_true (nvr_pairing_token_hash (token, h));
  g_assert_true (nvr_catalog_authorize (f->cat, h, f->now, IDLE_US, MAX_US, camera_id,
                                        NVR_OBJECT_NONE, 0, &acc, &error));
  return nvr_auth_decide (NVR_POLICY_CAMERA, NVR_OBJECT_NONE, &acc) == 0;
}

static void
test_invite_create (Fixture *f, gconstpointer data)
{
  g_autofree char *code = invite (f, FALSE, 0);
  g_assert_true (g_regex_match_simple ("^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-"
                                       "[0-9A-HJKMNP-TV-Z]{4}$", code, 0, 0));
  g_autofree char *code2 = invite (f, TRUE, 24 * 3600);
  g_assert_cmpstr (code, !=, code2);

  static const struct {
    const char *name;
    gint64 ttl_s;
    gint64 camera;      /* 0 = porch */
  } bad[] = {
    { "", 0, 0 },
    { "tab\there", 0, 0 },
    { "\xff\xfe", 0, 0 },
    { "0123456789012345678901234567890123456789012345678901234567890123456789", 0, 0 },
    { "ok", -1, 0 },
    { "ok", 24 * 3600 + 1, 0 },
    { "ok", 0, 999 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) error = NULL;
    gint64 cam = bad[i].camera ? bad[i].camera : f->porch;
    g_autofree char *c = nvr_pairing_invite_create (f->p, bad[i].name, &cam, 1, FALSE,
                                                    bad[i].ttl_s, f->now, NULL, NULL, &error);
    g_test_message ("bad invite %u", i);
    g_assert_null (c);
    g_assert_nonnull (error);
  }

  /* Without [web] origin there is no URL, but the code works. */
  f->config.web_origin = NULL;
  g_autoptr (GError) error = NULL;
  char *url = (char *) "unset";
  g_autofree char *c3 = nvr_pairing_invite_create (f->p, "x", &f->porch, 1, FALSE, 0, f->now,
                                                   &url, NULL, &error);
  g_assert_nonnull (c3);
  g_assert_null (url);
}

static void
test_pair_and_login (Fixture *f, gconstpointer data)
{
  Key k;
  key_new (&k);
  g_autofree char *code = invite (f, TRUE, 0);

  /* begin shows what the invite grants; the code may be typed in any case with spaces. */
  g_autofree char *typed = g_ascii_strdown (code, -1);
  typed[4] = ' ';
  g_autofree char *nonce = NULL, *reason = NULL;
  g_autoptr (NvrInviteRow) inv = NULL;
  g_assert_cmpuint (nvr_pairing_begin (f->p, "local", typed, tick (f), &nonce, &inv, &reason), ==,
                    200);
  g_assert_cmpstr (inv->name, ==, "Anna's phone");
  g_assert_true (inv->is_admin);
  g_assert_cmpuint (inv->camera_names->len, ==, 2);
  g_assert_cmpstr (inv->camera_names->pdata[0], ==, "porch");
  g_autofree char *sig = pair_signature (&k, ORIGIN, code, nonce);
  gint64 dev = 0;
  g_autofree char *token = NULL;
  g_assert_cmpuint (nvr_pairing_finish (f->p, "local", ORIGIN, typed, nonce, k.pk_b64, sig, tick (f), &dev,
                                        &token, &reason), ==, 200);
  g_assert_cmpint (dev, >, 0);
  g_assert_cmpuint (strlen (token), ==, 43);
  g_assert_true (token_works (f, token, f->porch));
  g_assert_true (token_works (f, token, f->garage));

  /* The token is stored only as its hash (in the database or its write-ahead log). */
  guint8 raw[32], hash[32];
  g_assert_true (nvr_auth_b64_decode_exact (token, raw, 32));
  g_assert_true (nvr_pairing_token_hash (token, hash));
  g_autofree char *wal = g_strconcat (f->path, "-wal", NULL);
  const char *files[] = { f->path, wal };
  gboolean hash_seen = FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (files); i++) {
    g_autofree char *db = NULL;
    gsize len = 0;
    if (!g_file_get_contents (files[i], &db, &len, NULL))
      continue;
    g_assert_null (memmem (db, len, raw, 32));
    g_assert_null (memmem (db, len, token, strlen (token)));
    hash_seen |= memmem (db, len, hash, 32) != NULL;
  }
  g_assert_true (hash_seen);   /* the search above looks in the right place */

  /* Used: the same code again, with a fresh key, fails at begin. */
  Key k2;
  key_new (&k2);
  g_autofree char *t2 = NULL;
  g_assert_cmpuint (pair (f, &k2, code, &dev, &t2), ==, 403);

  /* Login with the paired key. */
  g_autofree char *ln = NULL, *lr = NULL;
  g_assert_cmpuint (nvr_pairing_login_begin (f->p, "local", k.pk_b64, tick (f), &ln, &lr), ==, 200);
  g_autofree char *lmsg = nvr_auth_login_message (ORIGIN, ln, k.pk_b64);
  g_autofree char *lsig = sign_b64 (&k, lmsg);
  gint64 ldev = 0;
  g_autofree char *ltok = NULL;
  g_assert_cmpuint (nvr_pairing_login_finish (f->p, "local", ORIGIN, k.pk_b64, ln, lsig, tick (f), &ldev,
                                              &ltok,
                                              &lr), ==, 200);
  g_assert_cmpint (ldev, ==, dev);
  g_assert_cmpstr (ltok, !=, token);
  g_assert_true (token_works (f, ltok, f->porch));
  /* A nonce answers once. */
  g_autofree char *ltok2 = NULL;
  g_assert_cmpuint (nvr_pairing_login_finish (f->p, "local", ORIGIN, k.pk_b64, ln, lsig, tick (f), &ldev,
                                              &ltok2,
                                              &lr), ==, 401);
  g_assert_null (ltok2);

  /* A signature over another origin (or with a path), or by another key: 401. */
  const char *origins[] = { "https://evil.example", ORIGIN "/", NULL };
  for (guint i = 0; i < G_N_ELEMENTS (origins); i++) {
    g_autofree char *n = NULL, *r = NULL, *t = NULL;
    g_assert_cmpuint (nvr_pairing_login_begin (f->p, "local", k.pk_b64, tick (f), &n, &r), ==, 200);
    g_autofree char *m = origins[i] ? nvr_auth_login_message (origins[i], n, k.pk_b64)
                                    : nvr_auth_login_message (ORIGIN, n, k2.pk_b64);
    g_autofree char *s = origins[i] ? sign_b64 (&k, m) : sign_b64 (&k2, m);
    g_assert_cmpuint (nvr_pairing_login_finish (f->p, "local", ORIGIN, k.pk_b64, n, s, tick (f), &ldev,
                                                &t, &r),
                      ==, 401);
  }
  /* A nonce issued for another key does not serve this one. */
  {
    g_autofree char *n = NULL, *r = NULL, *t = NULL;
    g_assert_cmpuint (nvr_pairing_login_begin (f->p, "local", k2.pk_b64, tick (f), &n, &r), ==,
                      200);
    g_autofree char *m = nvr_auth_login_message (ORIGIN, n, k.pk_b64);
    g_autofree char *s = sign_b64 (&k, m);
    g_assert_cmpuint (nvr_pairing_login_finish (f->p, "local", ORIGIN, k.pk_b64, n, s, tick (f), &ldev,
                                                &t, &r),
                      ==, 401);
  }
  /* An unknown key gets a nonce (begin reveals nothing) but no session. */
  {
    g_autofree char *n = NULL, *r = NULL, *t = NULL;
    g_assert_cmpuint (nvr_pairing_login_begin (f->p, "local", k2.pk_b64, tick (f), &n, &r), ==,
                      200);
    g_autofree char *m = nvr_auth_login_message (ORIGIN, n, k2.pk_b64);
    g_autofree char *s = sign_b64 (&k2, m);
    g_assert_cmpuint (nvr_pairing_login_finish (f->p, "local", ORIGIN, k2.pk_b64, n, s, tick (f), &ldev,
                                                &t, &r),
                      ==, 401);
  }
  /* Malformed input. */
  {
    g_autofree char *n = NULL, *r = NULL;
    g_assert_cmpuint (nvr_pairing_login_begin (f->p, "local", "AAAA", tick (f), &n, &r), ==, 400);
    g_assert_cmpuint (nvr_pairing_login_begin (f->p, "local", NULL, tick (f), &n, &r), ==, 400);
    g_assert_null (n);
  }

  /* Revoked: the sessions die and login is refused. */
  g_autoptr (GError) error = NULL;
  g_assert_true (nvr_catalog_device_revoke (f->cat, dev, tick (f), FALSE, &error));
  g_assert_false (token_works (f, token, f->porch));
  g_assert_false (token_works (f, ltok, f->porch));
  {
    g_autofree char *n = NULL, *r = NULL, *t = NULL;
    g_assert_cmpuint (nvr_pairing_login_begin (f->p, "local", k.pk_b64, tick (f), &n, &r), ==, 200);
    g_autofree char *m = nvr_auth_login_message (ORIGIN, n, k.pk_b64);
    g_autofree char *s = sign_b64 (&k, m);
    g_assert_cmpuint (nvr_pairing_login_finish (f->p, "local", ORIGIN, k.pk_b64, n, s, tick (f), &ldev,
                                                &t, &r),
                      ==, 401);
  }
  /* A revoked key cannot be paired again either. */
  g_autofree char *code3 = invite (f, FALSE, 0);
  g_autofree char *t3 = NULL;
  g_assert_cmpuint (pair (f, &k, code3, &dev, &t3), ==, 403);

  guint8 h[32];
  g_assert_false (nvr_pairing_token_hash ("short", h));
  g_assert_false (nvr_pairing_token_hash (NULL, h));
  key_clear (&k);
  key_clear (&k2);
}

static void
test_pair_refusals (Fixture *f, gconstpointer data)
{
  Key k;
  key_new (&k);
  g_autofree char *code = invite (f, FALSE, 0);
  g_autofree char *other = invite (f, FALSE, 0);
  g_autofree char *nonce = NULL, *reason = NULL, *token = NULL;
  g_autoptr (NvrInviteRow) inv = NULL;
  gint64 dev = 0;

  /* Garbage codes: 403 without touching any invite. */
  const char *garbage[] = { "", "nope", "ABCD-EFGH-JKM", "ZZZZ-ZZZZ-ZZZZ", NULL };
  for (guint i = 0; i < G_N_ELEMENTS (garbage); i++) {
    g_autofree char *n = NULL, *r = NULL;
    g_assert_cmpuint (nvr_pairing_begin (f->p, "local", garbage[i], tick (f), &n, NULL, &r), ==,
                      403);
    g_assert_null (n);
    g_assert_nonnull (r);
  }

  g_assert_cmpuint (nvr_pairing_begin (f->p, "local", code, tick (f), &nonce, &inv, &reason), ==,
                    200);
  g_autofree char *sig = pair_signature (&k, ORIGIN, code, nonce);

  /* A nonce issued for another invite. */
  g_autofree char *sig_other = pair_signature (&k, ORIGIN, other, nonce);
  g_assert_cmpuint (nvr_pairing_finish (f->p, "local", ORIGIN, other, nonce, k.pk_b64, sig_other,
                                        tick (f), &dev,
                                        &token, &reason), ==, 403);
  /* ... which consumed it: the right request with it now fails too. */
  g_assert_cmpuint (nvr_pairing_finish (f->p, "local", ORIGIN, code, nonce, k.pk_b64, sig, tick (f), &dev,
                                        &token, &reason), ==, 403);
  g_assert_null (token);

  /* Each of these gets a fresh nonce and fails on one thing. */
  guint8 small[32] = { 1 };   /* the identity point: small order */
  g_autofree char *small_b64 = nvr_auth_b64_encode (small, 32);
  const struct {
    const char *public_key;
    const char *origin;       /* what the signer put in the message */
    gboolean corrupt;
    guint want;
  } cases[] = {
    { small_b64, ORIGIN, FALSE, 400 },
    { "not base64!", ORIGIN, FALSE, 400 },
    { NULL, ORIGIN, FALSE, 400 },
    { k.pk_b64, "https://evil.example", FALSE, 403 },
    { k.pk_b64, ORIGIN, TRUE, 403 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *n = NULL, *r = NULL, *t = NULL;
    g_assert_cmpuint (nvr_pairing_begin (f->p, "local", code, tick (f), &n, NULL, &r), ==, 200);
    g_autofree char *s = pair_signature (&k, cases[i].origin, code, n);
    if (cases[i].corrupt)
      s[3] = s[3] == 'A' ? 'B' : 'A';
    g_test_message ("pair refusal %u", i);
    g_assert_cmpuint (nvr_pairing_finish (f->p, "local", ORIGIN, code, n, cases[i].public_key, s,
                                          tick (f), &dev,
                                          &t, &r), ==, cases[i].want);
    g_assert_null (t);
  }
  {
    g_autofree char *n = NULL, *r = NULL, *t = NULL;
    g_assert_cmpuint (nvr_pairing_begin (f->p, "local", code, tick (f), &n, NULL, &r), ==, 200);
    g_assert_cmpuint (nvr_pairing_finish (f->p, "local", ORIGIN, code, n, k.pk_b64, "short", tick (f),
                                          &dev, &t,
                                          &r), ==, 400);
  }
  /* None of that used the invite: it still pairs. */
  g_autofree char *t = NULL;
  g_assert_cmpuint (pair (f, &k, code, &dev, &t), ==, 200);
  g_assert_true (token_works (f, t, f->porch));
  key_clear (&k);
}

/* Burning an invite is logged as a warning; that one is expected here. */
static gboolean
burn_is_expected (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  return strstr (message, "burned after") == NULL;
}

static void
test_burn_and_expiry (Fixture *f, gconstpointer data)
{
  Key k;
  key_new (&k);
  g_test_log_set_fatal_handler (burn_is_expected, NULL);
  g_autofree char *code = invite (f, FALSE, 0);
  /* Wrong secrets for this lookup: the 5th burns the invite. */
  for (guint i = 0; i < NVR_AUTH_INVITE_MAX_FAILURES; i++) {
    g_autofree char *wrong = g_strdup (code);
    wrong[12] = code[12] == '0' ? '1' : '0';
    wrong[13] = "23456789"[i];
    g_autofree char *n = NULL, *r = NULL;
    g_assert_cmpuint (nvr_pairing_begin (f->p, "local", wrong, tick (f), &n, NULL, &r), ==, 403);
  }
  g_autofree char *n = NULL, *r = NULL, *t = NULL;
  gint64 dev = 0;
  g_assert_cmpuint (nvr_pairing_begin (f->p, "local", code, tick (f), &n, NULL, &r), ==, 403);
  g_assert_nonnull (strstr (r, "blocked"));

  /* Expiry: good until the TTL, not at it. A nonce issued just before does not help. */
  g_autofree char *code2 = invite (f, FALSE, 60);
  gint64 made = f->now;
  g_autofree char *n2 = NULL, *r2 = NULL;
  g_assert_cmpuint (nvr_pairing_begin (f->p, "local", code2, made + 59 * G_USEC_PER_SEC, &n2,
                                       NULL, &r2),
                    ==, 200);
  g_autofree char *sig = pair_signature (&k, ORIGIN, code2, n2);
  g_autofree char *r3 = NULL;
  f->now = made + 60 * G_USEC_PER_SEC;
  g_assert_cmpuint (nvr_pairing_finish (f->p, "local", ORIGIN, code2, n2, k.pk_b64, sig, f->now, &dev, &t,
                                        &r3),
                    ==, 403);
  g_assert_nonnull (strstr (r3, "expired"));
  key_clear (&k);
}

static void
test_rate_limit (Fixture *f, gconstpointer data)
{
  g_autofree char *code = invite (f, FALSE, 0);
  gint64 t = f->now;
  /* Ten requests (right or wrong) in the same instant, then 429, even for the right code. */
  for (guint i = 0; i < 10; i++) {
    g_autofree char *n = NULL, *r = NULL;
    g_assert_cmpuint (nvr_pairing_begin (f->p, "local", i % 2 ? code : "ZZZZ-ZZZZ-ZZZZ", t, &n,
                                         NULL, &r),
                      !=, 429);
  }
  g_autofree char *n = NULL, *r = NULL;
  g_assert_cmpuint (nvr_pairing_begin (f->p, "local", code, t, &n, NULL, &r), ==, 429);
  g_assert_null (n);
  g_autofree char *tok = NULL, *r2 = NULL;
  gint64 dev = 0;
  g_assert_cmpuint (nvr_pairing_finish (f->p, "local", ORIGIN, code, "x", "y", "z", t, &dev, &tok, &r2),
                    ==, 429);
  /* Rate-limited requests do not count as wrong secrets: the invite still works later. */
  g_autofree char *n3 = NULL, *r3 = NULL;
  g_assert_cmpuint (nvr_pairing_begin (f->p, "local", code, t + 6 * G_USEC_PER_SEC, &n3, NULL,
                                       &r3), ==,
                    200);
  /* Login has its own bucket of the same size. */
  Key k;
  key_new (&k);
  for (guint i = 0; i < 10; i++) {
    g_autofree char *ln = NULL, *lr = NULL;
    g_assert_cmpuint (nvr_pairing_login_begin (f->p, "local", k.pk_b64, t, &ln, &lr), ==, 200);
  }
  g_autofree char *ln = NULL, *lr = NULL;
  g_assert_cmpuint (nvr_pairing_login_begin (f->p, "local", k.pk_b64, t, &ln, &lr), ==, 429);
  /* The limits are per client: another address pairs and logs in at the same instant. */
  g_autofree char *n4 = NULL, *r4 = NULL;
  g_assert_cmpuint (nvr_pairing_begin (f->p, "10.0.0.7", code, t, &n4, NULL, &r4), ==, 200);
  g_autofree char *ln2 = NULL, *lr2 = NULL;
  g_assert_cmpuint (nvr_pairing_login_begin (f->p, "10.0.0.7", k.pk_b64, t, &ln2, &lr2), ==, 200);
  key_clear (&k);
}

/* Only failures count: a paired device logs in over and over in one instant; an unknown key
 * gets a nonce no finish accepts, and costs nothing shared. */
static char *
login_signature (const Key *k, const char *origin, const char *nonce)
{
  g_autofree char *msg = nvr_auth_login_message (origin, nonce, k->pk_b64);
  return sign_b64 (k, msg);
}

/* @times logins of @k from @client, all in the instant @t: each must succeed as @dev. */
static void
login_times (Fixture *f, const Key *k, const char *client, gint64 t, guint times, gint64 dev)
{
  for (guint i = 0; i < times; i++) {
    g_autofree char *n = NULL, *r = NULL, *tok = NULL, *r2 = NULL;
    gint64 ldev = 0;
    g_assert_cmpuint (nvr_pairing_login_begin (f->p, client, k->pk_b64, t, &n, &r), ==, 200);
    g_autofree char *s = login_signature (k, ORIGIN, n);
    g_assert_cmpuint (nvr_pairing_login_finish (f->p, client, ORIGIN, k->pk_b64, n, s, t, &ldev, &tok,
                                                &r2), ==, 200);
    g_assert_cmpint (ldev, ==, dev);
  }
}

static void
test_rate_failures_only (Fixture *f, gconstpointer data)
{
  g_autofree char *code = invite (f, FALSE, 0);
  Key k;
  key_new (&k);
  gint64 dev = 0;
  g_autofree char *token = NULL;
  g_assert_cmpuint (pair (f, &k, code, &dev, &token), ==, 200);
  gint64 t = f->now + G_USEC_PER_SEC;
  login_times (f, &k, "10.0.0.5", t, 3 * 10, dev);
  /* Unknown keys from 40 addresses, each to its limit (begin + finish = 2 failures): 400
   * failures, far over the global ceiling (240) if they counted against it. */
  for (guint c = 0; c < 40; c++) {
    g_autofree char *client = g_strdup_printf ("10.9.0.%u", c);
    for (guint i = 0; i < 5; i++) {
      Key u;
      key_new (&u);
      g_autofree char *n = NULL, *r = NULL, *tok = NULL, *r2 = NULL;
      gint64 ldev = 0;
      g_assert_cmpuint (nvr_pairing_login_begin (f->p, client, u.pk_b64, t, &n, &r), ==, 200);
      g_autofree char *s = login_signature (&u, ORIGIN, n);
      /* Its own correct signature over the decoy nonce: still refused. */
      g_assert_cmpuint (nvr_pairing_login_finish (f->p, client, ORIGIN, u.pk_b64, n, s, t, &ldev, &tok,
                                                  &r2), ==, 401);
      key_clear (&u);
    }
    Key u;
    key_new (&u);
    g_autofree char *n = NULL, *r = NULL;
    g_assert_cmpuint (nvr_pairing_login_begin (f->p, client, u.pk_b64, t, &n, &r), ==, 429);
    key_clear (&u);
  }
  /* From an address over its limit (a flood from the device's own NAT), the paired key still
   * logs in on its own budget, again and again; a failed login costs that budget. */
  login_times (f, &k, "10.9.0.0", t, 3 * 10, dev);
  {
    /* ... and its logins gave the address nothing back: its budget was not what they used. */
    Key u;
    key_new (&u);
    g_autofree char *n = NULL, *r = NULL;
    g_assert_cmpuint (nvr_pairing_login_begin (f->p, "10.9.0.0", u.pk_b64, t, &n, &r), ==, 429);
    key_clear (&u);
  }
  guint refused_at = 0;
  for (guint i = 0; i < 20 && refused_at == 0; i++) {
    g_autofree char *n = NULL, *r = NULL, *tok = NULL, *r2 = NULL;
    gint64 ldev = 0;
    if (nvr_pairing_login_begin (f->p, "10.9.0.1", k.pk_b64, t, &n, &r) == 429) {
      refused_at = i + 1;
      break;
    }
    g_assert_cmpuint (nvr_pairing_login_finish (f->p, "10.9.0.1", ORIGIN, k.pk_b64, n, "AAAA", t, &ldev,
                                                &tok, &r2), ==, 401);
  }
  g_assert_cmpuint (refused_at, ==, 11);   /* 10 failed logins = the key's burst */
  g_autofree char *n = NULL, *r = NULL, *tok = NULL, *r2 = NULL;
  gint64 ldev = 0;
  g_assert_cmpuint (nvr_pairing_login_begin (f->p, "10.0.0.6", k.pk_b64, t, &n, &r), ==, 200);
  g_autofree char *s = login_signature (&k, ORIGIN, n);
  g_assert_cmpuint (nvr_pairing_login_finish (f->p, "10.0.0.6", ORIGIN, k.pk_b64, n, s, t, &ldev, &tok,
                                              &r2), ==, 200);
  key_clear (&k);
}

static void
test_fingerprint (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *pem = g_build_filename (f->dir, "cert.pem", NULL);
  /* Base64 of "hello", wrapped, after a key block; SHA-256("hello") is well known. */
  const char *text = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
                     "-----BEGIN CERTIFICATE-----\naGVs\r\nbG8=\n-----END CERTIFICATE-----\n"
                     "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  g_assert_true (g_file_set_contents (pem, text, -1, &error));
  g_autofree char *fp = nvr_pairing_fingerprint (pem, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (fp, ==, "2C:F2:4D:BA:5F:B0:A3:0E:26:E8:3B:2A:C5:B9:E2:9E:1B:16:1E:5C:1F:A7:42:"
                           "5E:73:04:33:62:93:8B:98:24");

  const char *bad[] = {
    "no pem here",
    "-----BEGIN CERTIFICATE-----\naGVsbG8=\n",                         /* no end */
    "-----BEGIN CERTIFICATE-----\n*bad*\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n",      /* empty */
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) e = NULL;
    g_assert_true (g_file_set_contents (pem, bad[i], -1, NULL));
    g_autofree char *x = nvr_pairing_fingerprint (pem, &e);
    g_assert_null (x);
    g_assert_nonnull (e);
  }
  g_unlink (pem);
  g_autofree char *x = nvr_pairing_fingerprint (pem, &error);
  g_assert_null (x);
  g_assert_nonnull (error);
}

/* Several configured origins: the signature must cover the request's own origin, which must be
 * one of them; the same key pairs at a second listed origin, and nothing else verifies. */
static void
test_origins (Fixture *f, gconstpointer data)
{
  static char *origins[] = { (char *) ORIGIN, (char *) "https://10.0.0.9", NULL };
  f->config.web_origins = origins;
  Key k;
  key_new (&k);
  g_autofree char *code = invite (f, FALSE, 0);
  static const struct { const char *signed_for, *sent_from; } refused[] = {
    { ORIGIN, "https://10.0.0.9" },                 /* signed for another listed origin */
    { "https://evil.example", "https://evil.example" },   /* not listed */
    { "https://10.0.0.9", NULL },                   /* no Origin */
    { "", NULL },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (refused); i++) {
    g_autofree char *nonce = NULL, *reason = NULL, *token = NULL;
    g_autoptr (NvrInviteRow) inv = NULL;
    g_assert_cmpuint (nvr_pairing_begin (f->p, "local", code, tick (f), &nonce, &inv, &reason),
                      ==, 200);
    g_autofree char *sig = pair_signature (&k, refused[i].signed_for, code, nonce);
    gint64 dev = 0;
    g_assert_cmpuint (nvr_pairing_finish (f->p, "local", refused[i].sent_from, code, nonce,
                                          k.pk_b64, sig, tick (f), &dev, &token, &reason),
                      ==, 403);
    g_assert_null (token);
  }
  g_autofree char *nonce = NULL, *reason = NULL, *token = NULL;
  g_autoptr (NvrInviteRow) inv = NULL;
  g_assert_cmpuint (nvr_pairing_begin (f->p, "local", code, tick (f), &nonce, &inv, &reason), ==,
                    200);
  g_autofree char *sig = pair_signature (&k, "https://10.0.0.9", code, nonce);
  gint64 dev = 0;
  g_assert_cmpuint (nvr_pairing_finish (f->p, "local", "https://10.0.0.9", code, nonce, k.pk_b64,
                                        sig, tick (f), &dev, &token, &reason), ==, 200);
  g_assert_true (token_works (f, token, f->porch));
  f->config.web_origins = NULL;
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_assert_cmpint (sodium_init (), >=, 0);
  g_test_add ("/pairing/invite-create", Fixture, NULL, setup, test_invite_create, teardown);
  g_test_add ("/pairing/pair-and-login", Fixture, NULL, setup, test_pair_and_login, teardown);
  g_test_add ("/pairing/refusals", Fixture, NULL, setup, test_pair_refusals, teardown);
  g_test_add ("/pairing/burn-and-expiry", Fixture, NULL, setup, test_burn_and_expiry, teardown);
  g_test_add ("/pairing/rate-limit", Fixture, NULL, setup, test_rate_limit, teardown);
  g_test_add ("/pairing/rate-failures-only", Fixture, NULL, setup, test_rate_failures_only,
              teardown);
  g_test_add ("/pairing/fingerprint", Fixture, NULL, setup, test_fingerprint, teardown);
  g_test_add ("/pairing/origins", Fixture, NULL, setup, test_origins, teardown);
  return g_test_run ();
}
