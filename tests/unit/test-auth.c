/* Unit tests for the pure auth core (nvr/auth.c): invite codes, base64url, signed messages and
 * their verification with real Ed25519 keys (and the small-order/invalid keys it must refuse),
 * single-use nonces, the rate-limit bucket, and nvr_auth_decide for every policy and state. */
#include <sodium.h>
#include <string.h>

#include "auth.h"

/* ---- invite codes ---- */

static void
test_code_make (void)
{
  guint8 r[12];
  char lookup[5], secret[9];
  for (guint i = 0; i < 12; i++)
    r[i] = (guint8) i;
  g_autofree char *a = nvr_auth_code_make (r, lookup, secret);
  g_assert_cmpstr (a, ==, "0123456789AB");
  g_assert_cmpstr (lookup, ==, "0123");
  g_assert_cmpstr (secret, ==, "456789AB");
  g_autofree char *shown = nvr_auth_code_format (lookup, secret);
  g_assert_cmpstr (shown, ==, "0123-4567-89AB");

  /* Only the low 5 bits count: 32 + i and 224 + i give the same character, 31/255 give Z. */
  for (guint i = 0; i < 12; i++)
    r[i] = (guint8) (i % 2 ? 32 + 20 + i : 224 + 20 + i);
  r[0] = 31;
  r[11] = 255;
  g_autofree char *b = nvr_auth_code_make (r, lookup, secret);
  g_assert_cmpstr (b, ==, "ZNPQRSTVWXYZ");
  /* Every made code parses back to itself. */
  char l2[5], s2[9];
  g_assert_true (nvr_auth_code_parse (b, l2, s2));
  g_assert_cmpstr (l2, ==, lookup);
  g_assert_cmpstr (s2, ==, secret);
}

static void
test_code_parse (void)
{
  static const struct {
    const char *input;
    const char *normalised;   /* NULL = refused */
  } cases[] = {
    { "ABCD-EFGH-JKMN", "ABCDEFGHJKMN" },
    { "abcd-efgh-jkmn", "ABCDEFGHJKMN" },
    { "abcd efgh jkmn", "ABCDEFGHJKMN" },
    { "ABCDEFGHJKMN", "ABCDEFGHJKMN" },
    { " -AB-CD--EF GH JK MN- ", "ABCDEFGHJKMN" },
    { "OoIi-LlOO-0000", "001111000000" },
    { "0123-4567-89YZ", "0123456789YZ" },
    { "ABCD-EFGH-JKM", NULL },          /* 11 characters */
    { "ABCD-EFGH-JKMNP", NULL },        /* 13 */
    { "ABCU-EFGH-JKMN", NULL },         /* U is not in the alphabet */
    { "ABCD_EFGH-JKMN", NULL },
    { "ABCD.EFGH.JKMN", NULL },
    { "ABCD-EFGH-JKM\xc3\x84", NULL },  /* non-ASCII */
    { "ABCD\tEFGH-JKMN", NULL },
    { "", NULL },
    { "------------", NULL },
    { "A-B-C-D-E-F-G-H-J-K-M-N-------------------------------------------------------", NULL },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    char lookup[5] = "", secret[9] = "";
    gboolean ok = nvr_auth_code_parse (cases[i].input, lookup, secret);
    g_test_message ("code '%s'", cases[i].input);
    g_assert_cmpint (ok, ==, cases[i].normalised != NULL);
    if (ok) {
      g_autofree char *joined = g_strconcat (lookup, secret, NULL);
      g_assert_cmpstr (joined, ==, cases[i].normalised);
    }
  }
  char lookup[5], secret[9];
  g_assert_false (nvr_auth_code_parse (NULL, lookup, secret));
}

static void
test_hash (void)
{
  guint8 a[32], b[32], c[32];
  nvr_auth_hash ("secret", 6, a);
  nvr_auth_hash ("secret", 6, b);
  nvr_auth_hash ("secreT", 6, c);
  g_assert_cmpmem (a, 32, b, 32);
  g_assert_true (memcmp (a, c, 32) != 0);
  /* BLAKE2b-256 of "" (RFC 7693 parameters, unkeyed). */
  guint8 e[32];
  nvr_auth_hash ("", 0, e);
  g_autofree char *hex = g_malloc (65);
  sodium_bin2hex (hex, 65, e, 32);
  g_assert_cmpstr (hex, ==, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
}

/* ---- base64url ---- */

static void
test_b64 (void)
{
  static const struct {
    const char *bin;
    gsize len;
    const char *b64;
  } enc[] = {
    { "", 0, "" },
    { "f", 1, "Zg" },
    { "fo", 2, "Zm8" },
    { "foo", 3, "Zm9v" },
    { "foob", 4, "Zm9vYg" },
    { "\xfb\xff", 2, "-_8" },
    { "\x00\x00\x00", 3, "AAAA" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (enc); i++) {
    g_autofree char *s = nvr_auth_b64_encode ((const guint8 *) enc[i].bin, enc[i].len);
    g_assert_cmpstr (s, ==, enc[i].b64);
    guint8 out[8];
    g_assert_true (nvr_auth_b64_decode_exact (enc[i].b64, out, enc[i].len));
    g_assert_cmpmem (out, enc[i].len, enc[i].bin, enc[i].len);
  }

  static const struct {
    const char *text;
    gsize len;
  } bad[] = {
    { "Zm9v", 2 },      /* longer than asked */
    { "Zm9v", 4 },      /* shorter than asked */
    { "Zg==", 1 },      /* padding */
    { "Zh", 1 },        /* non-zero unused bits: a second spelling of "f" */
    { "Zm9v ", 3 },
    { " Zm9v", 3 },
    { "Zm 9v", 3 },
    { "+/8", 2 },       /* the standard alphabet */
    { "-_8=", 2 },
    { "Zm9\n", 3 },
    { "Zm9*", 3 },
    { "Zm9\x9c", 3 },    /* libsodium alone decodes some bytes >= 0x80 (found by fuzzing) */
    { "Zm9\xff", 3 },
    { "", 1 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    guint8 out[8];
    g_test_message ("b64 '%s' as %" G_GSIZE_FORMAT " bytes", bad[i].text, bad[i].len);
    g_assert_false (nvr_auth_b64_decode_exact (bad[i].text, out, bad[i].len));
  }
  guint8 out[4];
  g_assert_false (nvr_auth_b64_decode_exact (NULL, out, 4));

  /* 32 and 64 bytes: the key and signature sizes, round trip. */
  guint8 key[64], back[64];
  for (guint i = 0; i < 64; i++)
    key[i] = (guint8) (i * 37 + 11);
  g_autofree char *k32 = nvr_auth_b64_encode (key, 32);
  g_autofree char *k64 = nvr_auth_b64_encode (key, 64);
  g_assert_cmpuint (strlen (k32), ==, 43);
  g_assert_cmpuint (strlen (k64), ==, 86);
  g_assert_true (nvr_auth_b64_decode_exact (k32, back, 32));
  g_assert_cmpmem (back, 32, key, 32);
  g_assert_true (nvr_auth_b64_decode_exact (k64, back, 64));
  g_assert_cmpmem (back, 64, key, 64);
  g_assert_false (nvr_auth_b64_decode_exact (k64, back, 32));
  g_assert_false (nvr_auth_b64_decode_exact (k32, back, 64));
}

/* ---- messages and signatures ---- */

static void
test_messages (void)
{
  g_autofree char *pair = nvr_auth_pair_message ("https://127.0.0.1:8443", "ABCDEFGHJKMN", "NONCE",
                                                 "KEY");
  g_assert_cmpstr (pair, ==, "hearth-pair-v1\nhttps://127.0.0.1:8443\nABCDEFGHJKMN\nNONCE\nKEY");
  g_autofree char *login = nvr_auth_login_message ("https://hearth.local", "N", "K");
  g_assert_cmpstr (login, ==, "hearth-login-v1\nhttps://hearth.local\nN\nK");
}

static void
sign (const guint8 sk[crypto_sign_SECRETKEYBYTES], const char *message, guint8 sig[64])
{
  crypto_sign_detached (sig, NULL, (const guint8 *) message, strlen (message), sk);
}

static void
test_verify (void)
{
  guint8 pk[32], sk[64], pk2[32], sk2[64], sig[64];
  crypto_sign_keypair (pk, sk);
  crypto_sign_keypair (pk2, sk2);
  g_autofree char *pk_b64 = nvr_auth_b64_encode (pk, 32);
  g_autofree char *msg = nvr_auth_pair_message ("https://a", "ABCDEFGHJKMN", "nonce", pk_b64);
  sign (sk, msg, sig);
  g_assert_true (nvr_auth_public_key_valid (pk));
  g_assert_true (nvr_auth_verify (pk, sig, msg));

  /* Any change to the message, the signature or the key fails. */
  g_autofree char *other_origin = nvr_auth_pair_message ("https://b", "ABCDEFGHJKMN", "nonce",
                                                         pk_b64);
  g_assert_false (nvr_auth_verify (pk, sig, other_origin));
  g_autofree char *login = nvr_auth_login_message ("https://a", "nonce", pk_b64);
  g_assert_false (nvr_auth_verify (pk, sig, login));
  g_autofree char *trailing = g_strconcat (msg, "\n", NULL);
  g_assert_false (nvr_auth_verify (pk, sig, trailing));
  for (guint bit = 0; bit < 64 * 8; bit += 37) {
    guint8 bad[64];
    memcpy (bad, sig, 64);
    bad[bit / 8] ^= (guint8) (1u << (bit % 8));
    g_assert_false (nvr_auth_verify (pk, bad, msg));
  }
  g_assert_false (nvr_auth_verify (pk2, sig, msg));
  g_assert_false (nvr_auth_verify (pk, sig, NULL));
  /* A signature by the other key does not stand for this one. */
  guint8 sig2[64];
  sign (sk2, msg, sig2);
  g_assert_false (nvr_auth_verify (pk, sig2, msg));
  g_assert_true (nvr_auth_verify (pk2, sig2, msg));
}

static void
hex32 (const char *hex, guint8 out[32])
{
  size_t len = 0;
  g_assert_cmpint (sodium_hex2bin (out, 32, hex, strlen (hex), NULL, &len, NULL), ==, 0);
  g_assert_cmpuint (len, ==, 32);
}

/* Keys that must never be accepted: small order (they "verify" forged signatures), non-canonical
 * encodings, points off the curve, and points with a small-order component. */
static void
test_bad_keys (void)
{
  static const char *const small_or_invalid[] = {
    /* identity (order 1) */
    "0100000000000000000000000000000000000000000000000000000000000000",
    /* order 2: y = -1 */
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    /* order 4: y = 0 */
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    /* order 8 */
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    /* non-canonical: y = p, p + 1 */
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    /* y = 2 has no x on the curve */
    "0200000000000000000000000000000000000000000000000000000000000000",
  };
  guint8 zero_sig[64] = { 0 };
  zero_sig[0] = 1;   /* R = identity, S = 0: "valid" for the identity key under some verifiers */
  for (guint i = 0; i < G_N_ELEMENTS (small_or_invalid); i++) {
    guint8 pk[32];
    hex32 (small_or_invalid[i], pk);
    g_test_message ("key %s", small_or_invalid[i]);
    g_assert_false (nvr_auth_public_key_valid (pk));
    g_assert_false (nvr_auth_verify (pk, zero_sig, "hearth-login-v1\nhttps://a\nn\nk"));
  }

  /* A real key plus a point of order 8: on the curve, but not in the prime-order subgroup. */
  guint8 pk[32], sk[64], order8[32], mixed[32];
  crypto_sign_keypair (pk, sk);
  hex32 (small_or_invalid[4], order8);
  g_assert_cmpint (crypto_core_ed25519_add (mixed, pk, order8), ==, 0);
  g_assert_false (nvr_auth_public_key_valid (mixed));
}

/* ---- nonces ---- */

static void
fill (guint8 r[32], guint8 v)
{
  memset (r, v, 32);
}

static void
test_nonces (void)
{
  g_autoptr (NvrAuthNonces) n = nvr_auth_nonces_new ();
  const gint64 t = (gint64) 1000 * G_USEC_PER_SEC;
  guint8 r[32];

  fill (r, 1);
  g_autofree char *a = nvr_auth_nonces_issue (n, r, NVR_NONCE_PAIR, "ABCD", t);
  g_assert_cmpuint (strlen (a), ==, 43);
  g_assert_true (nvr_auth_nonces_take (n, a, NVR_NONCE_PAIR, "ABCD", t + 1));
  g_assert_false (nvr_auth_nonces_take (n, a, NVR_NONCE_PAIR, "ABCD", t + 2));   /* single use */

  static const struct {
    NvrNoncePurpose purpose;
    const char *subject;
    gint64 after_us;
    gboolean ok;
  } cases[] = {
    { NVR_NONCE_PAIR, "ABCD", 0, TRUE },
    { NVR_NONCE_PAIR, "ABCD", NVR_AUTH_NONCE_TTL_US - 1, TRUE },
    { NVR_NONCE_PAIR, "ABCD", NVR_AUTH_NONCE_TTL_US, FALSE },       /* expired */
    { NVR_NONCE_PAIR, "ABCD", 10 * NVR_AUTH_NONCE_TTL_US, FALSE },
    { NVR_NONCE_LOGIN, "ABCD", 0, FALSE },                          /* other purpose */
    { NVR_NONCE_PAIR, "ABCE", 0, FALSE },                           /* other subject */
    { NVR_NONCE_PAIR, "abcd", 0, FALSE },
    { NVR_NONCE_PAIR, "", 0, FALSE },
    { NVR_NONCE_PAIR, NULL, 0, FALSE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    fill (r, (guint8) (10 + i));
    g_autofree char *nonce = nvr_auth_nonces_issue (n, r, NVR_NONCE_PAIR, "ABCD", t);
    g_test_message ("nonce case %u", i);
    g_assert_cmpint (nvr_auth_nonces_take (n, nonce, cases[i].purpose, cases[i].subject,
                                           t + cases[i].after_us), ==, cases[i].ok);
    /* Consumed whatever the result: even the right request fails afterwards. */
    g_assert_false (nvr_auth_nonces_take (n, nonce, NVR_NONCE_PAIR, "ABCD", t));
  }

  /* Login nonces are bound to the key. */
  fill (r, 50);
  g_autofree char *l = nvr_auth_nonces_issue (n, r, NVR_NONCE_LOGIN, "KEY1", t);
  g_assert_false (nvr_auth_nonces_take (n, l, NVR_NONCE_LOGIN, "KEY2", t));
  fill (r, 51);
  g_autofree char *l2 = nvr_auth_nonces_issue (n, r, NVR_NONCE_LOGIN, "KEY1", t);
  g_assert_true (nvr_auth_nonces_take (n, l2, NVR_NONCE_LOGIN, "KEY1", t));

  /* Unknown and malformed nonces. */
  g_assert_false (nvr_auth_nonces_take (n, NULL, NVR_NONCE_PAIR, "ABCD", t));
  g_assert_false (nvr_auth_nonces_take (n, "", NVR_NONCE_PAIR, "ABCD", t));
  g_assert_false (nvr_auth_nonces_take (n, "AAAA", NVR_NONCE_PAIR, "ABCD", t));
}

static void
test_nonces_max (void)
{
  g_autoptr (NvrAuthNonces) n = nvr_auth_nonces_new ();
  const gint64 t = 5 * G_USEC_PER_SEC;
  g_autoptr (GPtrArray) issued = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < NVR_AUTH_NONCES_MAX + 2; i++) {
    guint8 r[32] = { 0 };
    memcpy (r, &i, sizeof i);
    g_ptr_array_add (issued, nvr_auth_nonces_issue (n, r, NVR_NONCE_LOGIN, "K", t + i));
  }
  /* The two oldest were dropped; the rest are all still good. */
  g_assert_false (nvr_auth_nonces_take (n, issued->pdata[0], NVR_NONCE_LOGIN, "K", t + 9999));
  g_assert_false (nvr_auth_nonces_take (n, issued->pdata[1], NVR_NONCE_LOGIN, "K", t + 9999));
  for (guint i = 2; i < issued->len; i++)
    g_assert_true (nvr_auth_nonces_take (n, issued->pdata[i], NVR_NONCE_LOGIN, "K", t + 9999));

  /* Expired nonces are swept at the next issue, so the table does not fill up with them. */
  for (guint i = 0; i < 10; i++) {
    guint8 r[32] = { 0xee };
    r[1] = (guint8) i;
    g_free (nvr_auth_nonces_issue (n, r, NVR_NONCE_PAIR, "X", t));
  }
  guint8 r[32] = { 0xff };
  g_autofree char *late = nvr_auth_nonces_issue (n, r, NVR_NONCE_PAIR, "X",
                                                 t + NVR_AUTH_NONCE_TTL_US + 1);
  g_assert_true (nvr_auth_nonces_take (n, late, NVR_NONCE_PAIR, "X",
                                       t + NVR_AUTH_NONCE_TTL_US + 2));

  /* Freeing with nonces outstanding leaks nothing (ASan checks). */
  g_autoptr (NvrAuthNonces) m = nvr_auth_nonces_new ();
  guint8 z[32] = { 7 };
  g_free (nvr_auth_nonces_issue (m, z, NVR_NONCE_PAIR, "X", t));
  g_free (nvr_auth_nonces_issue (m, z, NVR_NONCE_PAIR, "X", t));   /* same bytes: replaced */

  /* A tag comes back with its nonce, once; an untagged nonce reads 0. */
  guint8 y[32] = { 9 };
  g_autofree char *tagged = nvr_auth_nonces_issue_tagged (m, y, NVR_NONCE_LOGIN, "K", 2, t);
  guint tag = 77;
  g_assert_true (nvr_auth_nonces_take_tagged (m, tagged, NVR_NONCE_LOGIN, "K", t, &tag));
  g_assert_cmpuint (tag, ==, 2);
  tag = 77;
  g_assert_false (nvr_auth_nonces_take_tagged (m, tagged, NVR_NONCE_LOGIN, "K", t, &tag));
  g_assert_cmpuint (tag, ==, 77);   /* gone: nothing handed back */
  g_autofree char *plain = nvr_auth_nonces_issue (m, y, NVR_NONCE_LOGIN, "K", t);
  g_assert_true (nvr_auth_nonces_take_tagged (m, plain, NVR_NONCE_LOGIN, "K", t, &tag));
  g_assert_cmpuint (tag, ==, 0);
  nvr_auth_nonces_free (NULL);
}

/* ---- rate limit ---- */

static void
test_bucket (void)
{
  const NvrAuthRate rate = { 10, 10 };
  const gint64 starts[] = { 0, 1, (gint64) 1000 * G_USEC_PER_SEC };
  for (guint s = 0; s < G_N_ELEMENTS (starts); s++) {
    NvrAuthBucket b = { 0 };
    gint64 t = starts[s];
    /* A burst of exactly the rate per minute, then refused. */
    for (guint i = 0; i < 10; i++)
      g_assert_true (nvr_auth_bucket_take (&b, rate, t));
    g_assert_false (nvr_auth_bucket_take (&b, rate, t));
    g_assert_false (nvr_auth_bucket_take (&b, rate, t + 5 * G_USEC_PER_SEC));
    /* One token per 60/rate seconds. */
    gint64 per_token = 60 * G_USEC_PER_SEC / 10;
    g_assert_true (nvr_auth_bucket_take (&b, rate, t + per_token));
    g_assert_false (nvr_auth_bucket_take (&b, rate, t + per_token));
    /* A refund gives one back, never more than the burst. */
    nvr_auth_bucket_refund (&b, rate, t + per_token);
    g_assert_true (nvr_auth_bucket_take (&b, rate, t + per_token));
    g_assert_false (nvr_auth_bucket_has (&b, rate, t + per_token));
    /* A long quiet time refills only up to the burst. */
    gint64 later = t + (gint64) 3600 * G_USEC_PER_SEC;
    nvr_auth_bucket_refund (&b, rate, later);
    for (guint i = 0; i < 10; i++)
      g_assert_true (nvr_auth_bucket_take (&b, rate, later));
    g_assert_false (nvr_auth_bucket_take (&b, rate, later));
    /* A clock that goes backwards gives nothing back. */
    g_assert_false (nvr_auth_bucket_take (&b, rate, t));
    /* A charge on an empty bucket leaves it empty, not in debt past zero. */
    nvr_auth_bucket_charge (&b, rate, later);
    g_assert_true (nvr_auth_bucket_take (&b, rate, later + per_token));
  }
  /* Over a long run the rate holds: 10 per minute plus the burst. */
  NvrAuthBucket b = { 0 };
  guint allowed = 0;
  for (gint64 t = 1; t < (gint64) 10 * 60 * G_USEC_PER_SEC; t += G_USEC_PER_SEC / 10)
    allowed += nvr_auth_bucket_take (&b, rate, t);
  g_assert_cmpuint (allowed, >=, 10 * 10);
  g_assert_cmpuint (allowed, <=, 11 * 10);
}

static void
test_limiter (void)
{
  g_autoptr (NvrAuthLimiter) l = nvr_auth_limiter_new ((NvrAuthRate) { 10, 10 },
                                                       (NvrAuthRate) { 30, 30 });
  gint64 t = 1000 * G_USEC_PER_SEC;
  /* One client's failures stop that client only. */
  for (guint i = 0; i < 10; i++) {
    g_assert_true (nvr_auth_limiter_allows (l, "10.0.0.9", FALSE, t));
    nvr_auth_limiter_fail (l, "10.0.0.9", FALSE, t);
  }
  g_assert_false (nvr_auth_limiter_allows (l, "10.0.0.9", FALSE, t));
  g_assert_false (nvr_auth_limiter_allows (l, "10.0.0.9", TRUE, t));
  g_assert_true (nvr_auth_limiter_allows (l, "10.0.0.2", TRUE, t));
  /* Unshared failures never reach the global ceiling, however many clients make them. */
  for (guint c = 0; c < 100; c++) {
    g_autofree char *client = g_strdup_printf ("10.1.0.%u", c);
    for (guint i = 0; i < 10; i++)
      nvr_auth_limiter_fail (l, client, FALSE, t);
  }
  g_assert_true (nvr_auth_limiter_allows (l, "10.0.0.2", TRUE, t));
  /* Shared failures do: three clients' worth fill it; then nobody's shared attempt passes, an
   * unshared one from a client with budget still does. */
  for (guint c = 0; c < 3; c++) {
    g_autofree char *client = g_strdup_printf ("10.2.0.%u", c);
    for (guint i = 0; i < 10; i++) {
      g_assert_true (nvr_auth_limiter_allows (l, client, TRUE, t));
      nvr_auth_limiter_fail (l, client, TRUE, t);
    }
  }
  g_assert_false (nvr_auth_limiter_allows (l, "10.0.0.2", TRUE, t));
  g_assert_true (nvr_auth_limiter_allows (l, "10.0.0.2", FALSE, t));
  /* A refund (a successful finish) gives back to the client and the ceiling. */
  nvr_auth_limiter_refund (l, "10.2.0.0", TRUE, t);
  g_assert_true (nvr_auth_limiter_allows (l, "10.2.0.0", TRUE, t));
  /* Two seconds later the ceiling (30/min) has one more, a client (10/min) not yet. */
  nvr_auth_limiter_fail (l, "10.2.0.0", TRUE, t);
  g_assert_false (nvr_auth_limiter_allows (l, "10.0.0.2", TRUE, t));
  g_assert_true (nvr_auth_limiter_allows (l, "10.0.0.2", TRUE, t + 2 * G_USEC_PER_SEC));
  g_assert_false (nvr_auth_limiter_allows (l, "10.2.0.1", FALSE, t + 2 * G_USEC_PER_SEC));
  /* The client table has a maximum; the least recently seen is forgotten. */
  for (guint c = 0; c < NVR_AUTH_LIMITER_CLIENTS_MAX + 50; c++) {
    g_autofree char *client = g_strdup_printf ("10.3.%u.%u", c / 256, c % 256);
    nvr_auth_limiter_fail (l, client, FALSE, t);
  }
  g_assert_cmpuint (nvr_auth_limiter_clients (l), ==, NVR_AUTH_LIMITER_CLIENTS_MAX);
  g_assert_true (nvr_auth_limiter_allows (l, "10.0.0.9", FALSE, t));   /* forgotten: fresh */
  nvr_auth_limiter_free (NULL);
}

/* ---- authorization decision ---- */

static void
test_decide (void)
{
  /* States of what the catalog found. */
  enum { NO_SESSION, SESSION, ADMIN, CAMERA, CAMERA_OBJECT, ADMIN_CAMERA_OBJECT, N_STATES };
  NvrAccess st[N_STATES] = { 0 };
  st[SESSION] = (NvrAccess) { .session_found = TRUE, .device_id = 1 };
  st[ADMIN] = (NvrAccess) { .session_found = TRUE, .device_id = 2, .is_admin = TRUE };
  st[CAMERA] = (NvrAccess) { .session_found = TRUE, .device_id = 1, .camera_allowed = TRUE,
                             .camera_id = 7 };
  st[CAMERA_OBJECT] = st[CAMERA];
  st[CAMERA_OBJECT].object_found = TRUE;
  st[ADMIN_CAMERA_OBJECT] = st[CAMERA_OBJECT];
  st[ADMIN_CAMERA_OBJECT].is_admin = TRUE;

  static const struct {
    NvrPolicy policy;
    NvrObjectKind kind;
    guint want[N_STATES];   /* NO_SESSION, SESSION, ADMIN, CAMERA, CAMERA_OBJECT, ADMIN_C_O */
  } cases[] = {
    { NVR_POLICY_NONE, NVR_OBJECT_NONE, { 403, 403, 403, 403, 403, 403 } },
    { NVR_POLICY_NONE, NVR_OBJECT_SEGMENT, { 403, 403, 403, 403, 403, 403 } },
    { NVR_POLICY_PUBLIC, NVR_OBJECT_NONE, { 0, 0, 0, 0, 0, 0 } },
    { NVR_POLICY_SESSION, NVR_OBJECT_NONE, { 401, 0, 0, 0, 0, 0 } },
    { NVR_POLICY_ADMIN, NVR_OBJECT_NONE, { 401, 403, 0, 403, 403, 0 } },
    { NVR_POLICY_CAMERA, NVR_OBJECT_NONE, { 401, 404, 404, 0, 0, 0 } },
    { NVR_POLICY_CAMERA, NVR_OBJECT_SEGMENT, { 401, 404, 404, 404, 0, 0 } },
    { NVR_POLICY_CAMERA, NVR_OBJECT_EVENT, { 401, 404, 404, 404, 0, 0 } },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    for (guint s = 0; s < N_STATES; s++) {
      g_test_message ("policy %d kind %d state %u", cases[i].policy, cases[i].kind, s);
      g_assert_cmpuint (nvr_auth_decide (cases[i].policy, cases[i].kind, &st[s]), ==,
                        cases[i].want[s]);
    }

  /* An object found without the camera being allowed (impossible from the catalog) is still no. */
  NvrAccess odd = { .session_found = TRUE, .object_found = TRUE, .camera_id = 7 };
  g_assert_cmpuint (nvr_auth_decide (NVR_POLICY_CAMERA, NVR_OBJECT_SEGMENT, &odd), ==, 404);
  NvrAccess no_id = { .session_found = TRUE, .camera_allowed = TRUE, .object_found = TRUE };
  g_assert_cmpuint (nvr_auth_decide (NVR_POLICY_CAMERA, NVR_OBJECT_NONE, &no_id), ==, 404);
}

static void
test_access_clear (void)
{
  g_auto (NvrAccess) a = { .session_found = TRUE, .camera_name = g_strdup ("porch"),
                           .camera_dir = g_strdup ("recordings/1-porch"),
                           .object_path = g_strdup ("recordings/1-porch/x.mp4") };
  nvr_access_clear (&a);
  g_assert_false (a.session_found);
  g_assert_null (a.camera_name);
  nvr_access_clear (NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_assert_cmpint (sodium_init (), >=, 0);
  g_test_add_func ("/auth/code/make", test_code_make);
  g_test_add_func ("/auth/code/parse", test_code_parse);
  g_test_add_func ("/auth/hash", test_hash);
  g_test_add_func ("/auth/b64", test_b64);
  g_test_add_func ("/auth/messages", test_messages);
  g_test_add_func ("/auth/verify", test_verify);
  g_test_add_func ("/auth/bad-keys", test_bad_keys);
  g_test_add_func ("/auth/nonces", test_nonces);
  g_test_add_func ("/auth/nonces-max", test_nonces_max);
  g_test_add_func ("/auth/bucket", test_bucket);
  g_test_add_func ("/auth/limiter", test_limiter);
  g_test_add_func ("/auth/decide", test_decide);
  g_test_add_func ("/auth/access-clear", test_access_clear);
  return g_test_run ();
}
