/* Unit tests of nvr/signing.c: the exact manifest bytes, sign/verify round trips, one flipped
 * bit anywhere in a signature file or in the signed file makes it invalid, the expected-key
 * check, and the key file (created 0600, reloaded to the same key, refused when unsafe). */
#include "signing.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

static const guint8 seed_a[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
static const guint8 seed_b[32] = { 99 };

static NvrManifest
sample_manifest (void)
{
  NvrManifest m = { .bytes = 123456789, .start_us = G_GINT64_CONSTANT (1795867805500000),
                    .end_us = G_GINT64_CONSTANT (1795867925000001) };
  g_strlcpy (m.camera, "front-door", sizeof m.camera);
  for (guint i = 0; i < sizeof m.sha256; i++)
    m.sha256[i] = (guint8) (0xa0 + i);
  return m;
}

static void
test_manifest_bytes (void)
{
  g_autoptr (NvrSigner) s = nvr_signer_new_from_seed (seed_a);
  NvrManifest m = sample_manifest ();
  memcpy (m.public_key, nvr_signer_public_key (s), sizeof m.public_key);
  g_autofree char *text = nvr_signing_manifest_text (&m);
  g_autofree char *key = nvr_signing_key_hex (m.public_key);
  g_autofree char *want = g_strdup_printf (
      "hearth-export-signature 1\n"
      "camera front-door\n"
      "start 2026-11-28T12:10:05.500000Z\n"
      "start_us 1795867805500000\n"
      "end 2026-11-28T12:12:05.000001Z\n"
      "end_us 1795867925000001\n"
      "bytes 123456789\n"
      "sha256 a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\n"
      "key %s\n", key);
  g_assert_cmpstr (text, ==, want);

  /* Out-of-range manifests have no text. */
  NvrManifest bad = m;
  bad.end_us = bad.start_us;
  g_assert_null (nvr_signing_manifest_text (&bad));
  bad = m;
  g_strlcpy (bad.camera, "Front Door", sizeof bad.camera);
  g_assert_null (nvr_signing_manifest_text (&bad));
  bad = m;
  bad.start_us = -1;
  g_assert_null (nvr_signing_manifest_text (&bad));
}

static void
test_round_trip_and_flips (void)
{
  g_autoptr (NvrSigner) s = nvr_signer_new_from_seed (seed_a);
  g_autoptr (NvrSigner) other = nvr_signer_new_from_seed (seed_b);
  NvrManifest m = sample_manifest ();
  g_autofree char *file = nvr_signer_sign (s, &m);
  g_assert_nonnull (file);
  gsize len = strlen (file);

  NvrManifest got;
  g_autoptr (GError) error = NULL;
  g_assert_true (nvr_signing_parse_verify (file, len, NULL, &got, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (got.camera, ==, "front-door");
  g_assert_cmpint (got.start_us, ==, m.start_us);
  g_assert_cmpint (got.end_us, ==, m.end_us);
  g_assert_cmpuint (got.bytes, ==, m.bytes);
  g_assert_cmpmem (got.sha256, 32, m.sha256, 32);
  g_assert_cmpmem (got.public_key, 32, nvr_signer_public_key (s), 32);
  g_assert_true (nvr_signing_parse_verify (file, len, nvr_signer_public_key (s), &got, NULL));

  /* Another box's key expected: the signature is valid but not the one asked for. */
  g_assert_false (nvr_signing_parse_verify (file, len, nvr_signer_public_key (other), &got,
                                            &error));
  g_assert_error (error, NVR_SIGNING_ERROR, NVR_SIGNING_ERROR_WRONG_KEY);
  g_clear_error (&error);

  /* Every single-bit flip of every byte (manifest, key, signature, newlines) is refused. */
  g_autofree char *copy = g_strdup (file);
  for (gsize i = 0; i < len; i++) {
    for (guint bit = 0; bit < 8; bit += 7) {
      copy[i] ^= (char) (1u << bit);
      g_assert_false (nvr_signing_parse_verify (copy, len, NULL, &got, NULL));
      copy[i] = file[i];
    }
  }
  /* Truncated, or with anything appended. */
  for (gsize cut = 0; cut < len; cut += 7)
    g_assert_false (nvr_signing_parse_verify (file, cut, NULL, &got, NULL));
  g_autofree char *longer = g_strconcat (file, "\n", NULL);
  g_assert_false (nvr_signing_parse_verify (longer, len + 1, NULL, &got, &error));
  g_assert_error (error, NVR_SIGNING_ERROR, NVR_SIGNING_ERROR_MALFORMED);
  g_clear_error (&error);

  /* A manifest re-signed by another key names that key: it verifies only without --key. */
  NvrManifest m2 = sample_manifest ();
  g_autofree char *forged = nvr_signer_sign (other, &m2);
  g_assert_true (nvr_signing_parse_verify (forged, strlen (forged), NULL, &got, NULL));
  g_assert_false (nvr_signing_parse_verify (forged, strlen (forged), nvr_signer_public_key (s),
                                            &got, NULL));

  /* A valid signature moved onto a manifest naming a different key fails. */
  g_autofree char *key_a = nvr_signing_key_hex (nvr_signer_public_key (s));
  g_autofree char *key_b = nvr_signing_key_hex (nvr_signer_public_key (other));
  g_autofree char *swapped = g_strdup (file);
  char *at = strstr (swapped, key_a);
  memcpy (at, key_b, 64);
  g_assert_false (nvr_signing_parse_verify (swapped, len, NULL, &got, &error));
  g_assert_error (error, NVR_SIGNING_ERROR, NVR_SIGNING_ERROR_BAD_SIGNATURE);
}

static void
test_fingerprint_and_hex (void)
{
  g_autoptr (NvrSigner) s = nvr_signer_new_from_seed (seed_a);
  char fp[NVR_SIGNING_FINGERPRINT_LEN + 1];
  nvr_signing_fingerprint (nvr_signer_public_key (s), fp);
  g_assert_cmpuint (strlen (fp), ==, NVR_SIGNING_FINGERPRINT_LEN);
  g_assert_true (g_regex_match_simple ("^([0-9a-f]{4}:){7}[0-9a-f]{4}$", fp, 0, 0));
  g_autofree char *h = nvr_signing_key_hex (nvr_signer_public_key (s));
  guint8 back[32];
  g_assert_true (nvr_signing_key_from_hex (h, back));
  g_assert_cmpmem (back, 32, nvr_signer_public_key (s), 32);
  g_assert_false (nvr_signing_key_from_hex ("abc", back));
  h[3] = 'G';
  g_assert_false (nvr_signing_key_from_hex (h, back));
}

static void
test_key_file_and_files (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("hearth-signing-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *path = g_build_filename (dir, NVR_SIGNING_KEY_FILE, NULL);
  gboolean created = FALSE;
  g_autoptr (NvrSigner) s = nvr_signer_open (path, &created, &error);
  g_assert_no_error (error);
  g_assert_true (created);
  struct stat st;
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_cmpint (st.st_size, ==, 32);
  g_autoptr (NvrSigner) again = nvr_signer_open (path, &created, &error);
  g_assert_no_error (error);
  g_assert_false (created);
  g_assert_cmpmem (nvr_signer_public_key (again), 32, nvr_signer_public_key (s), 32);

  /* A key others may read is refused, not silently used. */
  g_assert_cmpint (g_chmod (path, 0644), ==, 0);
  g_assert_null (nvr_signer_open (path, NULL, &error));
  g_assert_error (error, NVR_SIGNING_ERROR, NVR_SIGNING_ERROR_KEY_FILE);
  g_clear_error (&error);
  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  g_assert_true (g_file_set_contents (path, "short", -1, NULL));
  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  g_assert_null (nvr_signer_open (path, NULL, &error));
  g_assert_error (error, NVR_SIGNING_ERROR, NVR_SIGNING_ERROR_KEY_FILE);
  g_clear_error (&error);

  /* Signed file on disk: valid, then one flipped byte, then one byte shorter. */
  g_autofree char *mp4 = g_build_filename (dir, "x.mp4", NULL);
  g_autofree char *sigp = g_build_filename (dir, "x.sig", NULL);
  GByteArray *content = g_byte_array_new ();
  for (guint i = 0; i < 600 * 1024; i++) {
    guint8 b = (guint8) (i * 31 + (i >> 9));
    g_byte_array_append (content, &b, 1);
  }
  g_assert_true (g_file_set_contents (mp4, (char *) content->data, content->len, NULL));
  NvrManifest m = sample_manifest ();
  g_assert_true (nvr_signing_hash_file (mp4, m.sha256, &m.bytes, &error));
  g_assert_cmpuint (m.bytes, ==, content->len);
  g_autofree char *sigtext = nvr_signer_sign (s, &m);
  g_assert_true (g_file_set_contents (sigp, sigtext, -1, NULL));
  NvrManifest got;
  g_assert_true (nvr_signing_verify_files (mp4, sigp, NULL, &got, &error));
  g_assert_no_error (error);
  content->data[content->len / 2] ^= 0x10;
  g_assert_true (g_file_set_contents (mp4, (char *) content->data, content->len, NULL));
  g_assert_false (nvr_signing_verify_files (mp4, sigp, NULL, &got, &error));
  g_assert_error (error, NVR_SIGNING_ERROR, NVR_SIGNING_ERROR_MISMATCH);
  g_clear_error (&error);
  content->data[content->len / 2] ^= 0x10;
  g_assert_true (g_file_set_contents (mp4, (char *) content->data, content->len - 1, NULL));
  g_assert_false (nvr_signing_verify_files (mp4, sigp, NULL, &got, &error));
  g_assert_error (error, NVR_SIGNING_ERROR, NVR_SIGNING_ERROR_MISMATCH);
  g_clear_error (&error);
  g_byte_array_unref (content);

  g_unlink (mp4);
  g_unlink (sigp);
  g_unlink (path);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/signing/manifest-bytes", test_manifest_bytes);
  g_test_add_func ("/signing/round-trip-and-flips", test_round_trip_and_flips);
  g_test_add_func ("/signing/fingerprint-and-hex", test_fingerprint_and_hex);
  g_test_add_func ("/signing/key-file-and-files", test_key_file_and_files);
  return g_test_run ();
}
