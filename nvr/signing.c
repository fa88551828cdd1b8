/* signing — export manifests, their Ed25519 signatures, and the box key file.
 * The format (docs/design/playback.md "Signature") is line-based text with one canonical form:
 * the parser re-renders what it read and requires byte equality, so there is exactly one
 * accepted spelling of every manifest. Any thread. */
#define G_LOG_DOMAIN "nvr-signing"

#include "signing.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "hearth-export-signature"
#define HASH_CHUNK (256 * 1024)
/* 9999-12-31T23:59:59.999999Z */
#define MAX_TIME_US ((gint64) 253402300799 * G_USEC_PER_SEC + 999999)

G_DEFINE_QUARK (nvr-signing-error-quark, nvr_signing_error)

struct _NvrSigner {
  guint8 pk[crypto_sign_PUBLICKEYBYTES];
  guint8 sk[crypto_sign_SECRETKEYBYTES];
};

static void
init_sodium (void)
{
  if (sodium_init () < 0)
    g_error ("Failed to initialise libsodium");
}

/* ---- pure part ---- */

static char *
hex (const guint8 *data, gsize len)
{
  char *out = g_malloc (len * 2 + 1);
  for (gsize i = 0; i < len; i++)
    g_snprintf (out + 2 * i, 3, "%02x", data[i]);
  return out;
}

/* Exactly 2*len lowercase hex digits. */
static gboolean
unhex (const char *text, gsize text_len, guint8 *out, gsize len)
{
  if (text_len != len * 2)
    return FALSE;
  for (gsize i = 0; i < text_len; i++) {
    char c = text[i];
    int v;
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else
      return FALSE;
    if (i % 2 == 0)
      out[i / 2] = (guint8) (v << 4);
    else
      out[i / 2] |= (guint8) v;
  }
  return TRUE;
}

char *
nvr_signing_key_hex (const guint8 public_key[NVR_SIGNING_PUBLIC_KEY_BYTES])
{
  return hex (public_key, NVR_SIGNING_PUBLIC_KEY_BYTES);
}

gboolean
nvr_signing_key_from_hex (const char *text, guint8 out[NVR_SIGNING_PUBLIC_KEY_BYTES])
{
  return text != NULL && unhex (text, strlen (text), out, NVR_SIGNING_PUBLIC_KEY_BYTES);
}

void
nvr_signing_fingerprint (const guint8 public_key[NVR_SIGNING_PUBLIC_KEY_BYTES],
                         char out[NVR_SIGNING_FINGERPRINT_LEN + 1])
{
  init_sodium ();
  guint8 h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256 (h, public_key, NVR_SIGNING_PUBLIC_KEY_BYTES);
  char *p = out;
  for (guint i = 0; i < 16; i++) {
    g_snprintf (p, 3, "%02x", h[i]);
    p += 2;
    if (i % 2 == 1 && i != 15)
      *p++ = ':';
  }
  *p = '\0';
}

/* "2026-12-02T06:44:04.123456Z" */
static char *
iso_utc (gint64 us)
{
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (us / G_USEC_PER_SEC);
  if (t == NULL)
    return NULL;
  g_autofree char *s = g_date_time_format (t, "%Y-%m-%dT%H:%M:%S");
  return g_strdup_printf ("%s.%06dZ", s, (int) (us % G_USEC_PER_SEC));
}

char *
nvr_signing_manifest_text (const NvrManifest *m)
{
  if (!nvr_paths_camera_name_valid (m->camera) || m->start_us < 0 || m->end_us <= m->start_us ||
      m->end_us > MAX_TIME_US)
    return NULL;
  g_autofree char *start = iso_utc (m->start_us);
  g_autofree char *end = iso_utc (m->end_us);
  g_autofree char *sha = hex (m->sha256, sizeof m->sha256);
  g_autofree char *key = hex (m->public_key, sizeof m->public_key);
  if (start == NULL || end == NULL)
    return NULL;
  return g_strdup_printf (MAGIC " %d\n"
                          "camera %s\n"
                          "start %s\n"
                          "start_us %" G_GINT64_FORMAT "\n"
                          "end %s\n"
                          "end_us %" G_GINT64_FORMAT "\n"
                          "bytes %" G_GUINT64_FORMAT "\n"
                          "sha256 %s\n"
                          "key %s\n",
                          NVR_SIGNING_FORMAT_VERSION, m->camera, start, m->start_us, end,
                          m->end_us, m->bytes, sha, key);
}

char *
nvr_signing_file_text (const NvrManifest *m, const guint8 sig[NVR_SIGNING_SIGNATURE_BYTES])
{
  g_autofree char *manifest = nvr_signing_manifest_text (m);
  if (manifest == NULL)
    return NULL;
  g_autofree char *s = hex (sig, NVR_SIGNING_SIGNATURE_BYTES);
  return g_strdup_printf ("%ssignature %s\n", manifest, s);
}

static gboolean
malformed (GError **error, const char *what)
{
  g_set_error (error, NVR_SIGNING_ERROR, NVR_SIGNING_ERROR_MALFORMED,
               "not a Hearth export signature (version %d): %s", NVR_SIGNING_FORMAT_VERSION,
               what);
  return FALSE;
}

/* The value of line "@name <value>\n" at *p, advancing *p past it; NULL if the line differs. */
static char *
take_line (const char **p, const char *end, const char *name)
{
  gsize n = strlen (name);
  const char *nl = memchr (*p, '\n', (gsize) (end - *p));
  if (nl == NULL || (gsize) (nl - *p) <= n + 1 || memcmp (*p, name, n) != 0 || (*p)[n] != ' ')
    return NULL;
  char *v = g_strndup (*p + n + 1, (gsize) (nl - *p) - n - 1);
  *p = nl + 1;
  return v;
}

/* Strict decimal (no sign, no leading zeros) into @out. */
static gboolean
parse_u64 (const char *s, guint64 *out)
{
  return s != NULL && *s != '\0' && (s[0] != '0' || s[1] == '\0') && strlen (s) <= 19 &&
         strspn (s, "0123456789") == strlen (s) &&
         g_ascii_string_to_unsigned (s, 10, 0, G_MAXINT64, out, NULL);
}

gboolean
nvr_signing_parse_verify (const char *data, gsize len, const guint8 *expected_key,
                          NvrManifest *out, GError **error)
{
  init_sodium ();
  memset (out, 0, sizeof *out);
  if (len > NVR_SIGNING_FILE_MAX)
    return malformed (error, "too large");
  if (memchr (data, '\0', len) != NULL)
    return malformed (error, "contains a NUL byte");
  const char *p = data, *end = data + len;
  g_autofree char *version = take_line (&p, end, MAGIC);
  g_autofree char *camera = take_line (&p, end, "camera");
  g_autofree char *start = take_line (&p, end, "start");
  g_autofree char *start_us = take_line (&p, end, "start_us");
  g_autofree char *end_s = take_line (&p, end, "end");
  g_autofree char *end_us = take_line (&p, end, "end_us");
  g_autofree char *bytes = take_line (&p, end, "bytes");
  g_autofree char *sha = take_line (&p, end, "sha256");
  g_autofree char *key = take_line (&p, end, "key");
  gsize manifest_len = (gsize) (p - data);
  g_autofree char *sig_hex = take_line (&p, end, "signature");
  if (version == NULL || sig_hex == NULL || p != end)
    return malformed (error, "a line is missing, out of order or extra");
  guint64 v, s_us, e_us;
  guint8 sig[NVR_SIGNING_SIGNATURE_BYTES];
  if (strcmp (version, G_STRINGIFY (NVR_SIGNING_FORMAT_VERSION)) != 0)
    return malformed (error, "unknown format version");
  if (strlen (camera) > NVR_CAMERA_NAME_MAX || !nvr_paths_camera_name_valid (camera))
    return malformed (error, "bad camera name");
  if (!parse_u64 (start_us, &s_us) || !parse_u64 (end_us, &e_us) || !parse_u64 (bytes, &v))
    return malformed (error, "bad number");
  if (!unhex (sha, strlen (sha), out->sha256, sizeof out->sha256) ||
      !unhex (key, strlen (key), out->public_key, sizeof out->public_key) ||
      !unhex (sig_hex, strlen (sig_hex), sig, sizeof sig))
    return malformed (error, "bad hex field");
  g_strlcpy (out->camera, camera, sizeof out->camera);
  out->start_us = (gint64) s_us;
  out->end_us = (gint64) e_us;
  out->bytes = v;
  /* One spelling only: the ISO times must say what the µs say, every field canonical. */
  g_autofree char *canonical = nvr_signing_manifest_text (out);
  if (canonical == NULL || strlen (canonical) != manifest_len ||
      memcmp (canonical, data, manifest_len) != 0)
    return malformed (error, "fields are not in their canonical form");
  if (crypto_sign_verify_detached (sig, (const guint8 *) data, manifest_len,
                                   out->public_key) != 0) {
    g_set_error_literal (error, NVR_SIGNING_ERROR, NVR_SIGNING_ERROR_BAD_SIGNATURE,
                         "the signature does not match the manifest and its key");
    return FALSE;
  }
  if (expected_key != NULL &&
      sodium_memcmp (expected_key, out->public_key, NVR_SIGNING_PUBLIC_KEY_BYTES) != 0) {
    char fp[NVR_SIGNING_FINGERPRINT_LEN + 1];
    nvr_signing_fingerprint (out->public_key, fp);
    g_set_error (error, NVR_SIGNING_ERROR, NVR_SIGNING_ERROR_WRONG_KEY,
                 "validly signed, but by key %s, not the expected one", fp);
    return FALSE;
  }
  return TRUE;
}

/* ---- the key ---- */

NvrSigner *
nvr_signer_new_from_seed (const guint8 seed[32])
{
  init_sodium ();
  NvrSigner *s = sodium_malloc (sizeof *s);
  g_assert (s != NULL);
  crypto_sign_ed25519_seed_keypair (s->pk, s->sk, seed);
  return s;
}

void
nvr_signer_free (NvrSigner *s)
{
  if (s != NULL)
    sodium_free (s);   /* zeroes the secret key */
}

const guint8 *
nvr_signer_public_key (const NvrSigner *s)
{
  return s->pk;
}

char *
nvr_signer_sign (const NvrSigner *s, NvrManifest *m)
{
  memcpy (m->public_key, s->pk, sizeof m->public_key);
  g_autofree char *manifest = nvr_signing_manifest_text (m);
  if (manifest == NULL)
    return NULL;
  guint8 sig[crypto_sign_BYTES];
  crypto_sign_detached (sig, NULL, (const guint8 *) manifest, strlen (manifest), s->sk);
  return nvr_signing_file_text (m, sig);
}

static gboolean
key_error (GError **error, const char *path, const char *what, int err)
{
  g_set_error (error, NVR_SIGNING_ERROR, NVR_SIGNING_ERROR_KEY_FILE,
               "Failed to %s box signing key '%s': %s", what, path,
               err ? g_strerror (err) : "not a regular 0600 file of 32 bytes");
  return FALSE;
}

static gboolean
write_all (int fd, const guint8 *data, gsize len)
{
  while (len > 0) {
    ssize_t n = write (fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return FALSE;
    data += n;
    len -= (gsize) n;
  }
  return TRUE;
}

/* A new seed at @path: temporary file (0600), fsync, rename, fsync of the directory. */
static gboolean
create_key (const char *path, guint8 seed[32], GError **error)
{
  randombytes_buf (seed, 32);
  g_autofree char *tmp = g_strconcat (path, ".new", NULL);
  (void) g_unlink (tmp);
  int fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return key_error (error, tmp, "create", errno);
  gboolean ok = fchmod (fd, 0600) == 0 && write_all (fd, seed, 32) && fsync (fd) == 0;
  int e = errno;
  close (fd);
  if (!ok || rename (tmp, path) != 0) {
    e = ok ? errno : e;
    (void) g_unlink (tmp);
    return key_error (error, path, "write", e);
  }
  g_autofree char *dir = g_path_get_dirname (path);
  int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void) fsync (dfd);
    close (dfd);
  }
  return TRUE;
}

static gboolean
read_key (const char *path, guint8 seed[32], GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return key_error (error, path, "open", errno);
  struct stat st;
  gboolean ok = fstat (fd, &st) == 0 && S_ISREG (st.st_mode) && st.st_size == 32 &&
                (st.st_mode & 077) == 0;
  ssize_t n = ok ? read (fd, seed, 32) : -1;
  close (fd);
  if (!ok || n != 32)
    return key_error (error, path, "load", 0);
  return TRUE;
}

NvrSigner *
nvr_signer_open (const char *path, gboolean *created, GError **error)
{
  init_sodium ();
  guint8 seed[32];
  gboolean made = FALSE;
  if (g_file_test (path, G_FILE_TEST_EXISTS) || g_file_test (path, G_FILE_TEST_IS_SYMLINK)) {
    if (!read_key (path, seed, error))
      return NULL;
  } else {
    if (!create_key (path, seed, error))
      return NULL;
    made = TRUE;
  }
  NvrSigner *s = nvr_signer_new_from_seed (seed);
  sodium_memzero (seed, sizeof seed);
  if (created != NULL)
    *created = made;
  return s;
}

/* ---- files ---- */

gboolean
nvr_signing_hash_file (const char *path, guint8 sha256[NVR_SIGNING_SHA256_BYTES], guint64 *bytes,
                       GError **error)
{
  init_sodium ();
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "Failed to open '%s': %s", path,
                 g_strerror (e));
    return FALSE;
  }
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init (&st);
  g_autofree guint8 *buf = g_malloc (HASH_CHUNK);
  guint64 total = 0;
  for (;;) {
    ssize_t n = read (fd, buf, HASH_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = errno;
      close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "Failed to read '%s': %s",
                   path, g_strerror (e));
      return FALSE;
    }
    if (n == 0)
      break;
    crypto_hash_sha256_update (&st, buf, (guint64) n);
    total += (guint64) n;
  }
  close (fd);
  crypto_hash_sha256_final (&st, sha256);
  *bytes = total;
  return TRUE;
}

gboolean
nvr_signing_verify_files (const char *mp4_path, const char *sig_path, const guint8 *expected_key,
                          NvrManifest *out, GError **error)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  struct stat st;
  if (g_stat (sig_path, &st) == 0 && st.st_size > NVR_SIGNING_FILE_MAX)
    return malformed (error, "too large");
  if (!g_file_get_contents (sig_path, &text, &len, error))
    return FALSE;
  if (!nvr_signing_parse_verify (text, len, expected_key, out, error))
    return FALSE;
  guint8 sha[NVR_SIGNING_SHA256_BYTES];
  guint64 bytes = 0;
  if (!nvr_signing_hash_file (mp4_path, sha, &bytes, error))
    return FALSE;
  if (bytes != out->bytes || sodium_memcmp (sha, out->sha256, sizeof sha) != 0) {
    g_set_error (error, NVR_SIGNING_ERROR, NVR_SIGNING_ERROR_MISMATCH,
                 "'%s' is not the signed file: %s differs (signed %" G_GUINT64_FORMAT
                 " bytes, file has %" G_GUINT64_FORMAT ")", mp4_path,
                 bytes != out->bytes ? "its length" : "its SHA-256", out->bytes, bytes);
    return FALSE;
  }
  return TRUE;
}
