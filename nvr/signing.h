/* signing — the box's Ed25519 export-signing key and the detached signature format of exports
 * (docs/design/playback.md "Signature"). The manifest format, its parser and verification are
 * pure (no clock, no files); the key file and the file hashing are the small I/O part.
 * The secret key never leaves an NvrSigner: no function returns or prints it. Any thread; one
 * NvrSigner may be shared (it is immutable after loading). */
#pragma once

#include <glib.h>

#include "paths.h"

G_BEGIN_DECLS

#define NVR_SIGNING_FORMAT_VERSION 1
#define NVR_SIGNING_KEY_FILE "signing.key"          /* in the state directory (storage root) */
#define NVR_SIGNING_PUBLIC_KEY_BYTES 32
#define NVR_SIGNING_SIGNATURE_BYTES 64
#define NVR_SIGNING_SHA256_BYTES 32
/* "xxxx:xxxx:xxxx:xxxx:xxxx:xxxx:xxxx:xxxx" (the first 16 bytes of SHA-256(public key)) + NUL */
#define NVR_SIGNING_FINGERPRINT_LEN 39
/* A signature file is far smaller; anything larger is refused before it is read. */
#define NVR_SIGNING_FILE_MAX 2048

#define NVR_SIGNING_ERROR (nvr_signing_error_quark ())
GQuark nvr_signing_error_quark (void);
typedef enum {
  NVR_SIGNING_ERROR_MALFORMED,      /* not a signature file of a version we know */
  NVR_SIGNING_ERROR_BAD_SIGNATURE,  /* the signature does not match the manifest and key */
  NVR_SIGNING_ERROR_WRONG_KEY,      /* signed by another key than the one expected */
  NVR_SIGNING_ERROR_MISMATCH,       /* the file's length or SHA-256 differ from the manifest */
  NVR_SIGNING_ERROR_KEY_FILE,       /* the box key file is missing, unreadable or unsafe */
} NvrSigningError;

/* What a signature vouches for. */
typedef struct {
  guint8 sha256[NVR_SIGNING_SHA256_BYTES];     /* of the whole exported file */
  guint64 bytes;                               /* its length */
  char camera[NVR_CAMERA_NAME_MAX + 1];        /* camera name (nvr_paths_camera_name_valid) */
  gint64 start_us, end_us;                     /* the exported range, UTC µs since the epoch */
  guint8 public_key[NVR_SIGNING_PUBLIC_KEY_BYTES];
} NvrManifest;

/* The canonical manifest bytes (the signed message), NUL-terminated; NULL if a field is out of
 * range (camera name invalid, start >= end, a time before 1970 or after 9999). */
char *nvr_signing_manifest_text (const NvrManifest *m);
/* The whole signature file: manifest text + "signature <128 hex>\n". */
char *nvr_signing_file_text (const NvrManifest *m, const guint8 sig[NVR_SIGNING_SIGNATURE_BYTES]);
/* Parses a signature file strictly (exactly the canonical bytes, nothing before or after) and
 * checks its Ed25519 signature against the public key it names; when @expected_key is not NULL
 * the key must also be that one. Does not look at the exported file. */
gboolean nvr_signing_parse_verify (const char *data, gsize len, const guint8 *expected_key,
                                   NvrManifest *out, GError **error);
/* @out gets NVR_SIGNING_FINGERPRINT_LEN chars + NUL. */
void nvr_signing_fingerprint (const guint8 public_key[NVR_SIGNING_PUBLIC_KEY_BYTES],
                              char out[NVR_SIGNING_FINGERPRINT_LEN + 1]);
/* 64 lowercase hex digits <-> 32 bytes (a --key argument, the API's public_key). */
char *nvr_signing_key_hex (const guint8 public_key[NVR_SIGNING_PUBLIC_KEY_BYTES]);
gboolean nvr_signing_key_from_hex (const char *hex, guint8 out[NVR_SIGNING_PUBLIC_KEY_BYTES]);

/* ---- I/O ---- */

typedef struct _NvrSigner NvrSigner;

/* Loads the key at @path, or makes a new one there (0600, written to a temporary file, fsynced
 * and renamed) when no file exists; *created says which. A key file that is not a regular file
 * of exactly the key's size, or that group or others may read, is refused. */
NvrSigner *nvr_signer_open (const char *path, gboolean *created, GError **error);
/* A signer from a 32-byte seed (tests). */
NvrSigner *nvr_signer_new_from_seed (const guint8 seed[32]);
void nvr_signer_free (NvrSigner *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrSigner, nvr_signer_free)

const guint8 *nvr_signer_public_key (const NvrSigner *s);
/* Sets @m->public_key to the signer's and returns the whole signature file text. */
char *nvr_signer_sign (const NvrSigner *s, NvrManifest *m);

/* SHA-256 and length of a file, read in bounded chunks. */
gboolean nvr_signing_hash_file (const char *path, guint8 sha256[NVR_SIGNING_SHA256_BYTES],
                                guint64 *bytes, GError **error);
/* `nvr verify`: reads @sig_path (at most NVR_SIGNING_FILE_MAX bytes), checks the signature,
 * then the length and SHA-256 of @mp4_path against the manifest. */
gboolean nvr_signing_verify_files (const char *mp4_path, const char *sig_path,
                                   const guint8 *expected_key, NvrManifest *out, GError **error);

G_END_DECLS
