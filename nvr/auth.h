/* auth — the pure core of pairing, sessions and authorization (docs/design/auth.md). No I/O and
 * no clock: callers pass `now_us` and random bytes. Runs on the daemon's main loop.
 * Invariants: secrets (invite secrets, session tokens) are compared and stored only as
 * crypto_generichash digests; a signed message always binds the configured origin. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NVR_AUTH_KEY_BYTES 32
#define NVR_AUTH_SIG_BYTES 64
#define NVR_AUTH_NONCE_BYTES 32
#define NVR_AUTH_TOKEN_BYTES 32
#define NVR_AUTH_HASH_BYTES 32

#define NVR_AUTH_CODE_LOOKUP_CHARS 4
#define NVR_AUTH_CODE_SECRET_CHARS 8
#define NVR_AUTH_INVITE_TTL_DEFAULT_S (10 * 60)
#define NVR_AUTH_INVITE_TTL_MAX_S (24 * 3600)
#define NVR_AUTH_INVITE_MAX_FAILURES 5
#define NVR_AUTH_NONCE_TTL_US (120 * G_USEC_PER_SEC)
#define NVR_AUTH_NONCES_MAX 1024          /* outstanding nonces; the oldest are dropped */
#define NVR_AUTH_COOKIE_NAME "__Host-hearth"

/* ---- invite codes: "LLLL-SSSS-SSSS", Crockford base32 ---- */

/* Makes a code from 12 random bytes (each mapped to one character). Returns the normalised
 * 12-character code; @lookup (5 bytes incl. NUL) and @secret (9 bytes) are filled. */
char *nvr_auth_code_make (const guint8 random12[12], char lookup[5], char secret[9]);
/* Normalises user input (case, separators, O/I/L); FALSE if it is not 12 valid characters. */
gboolean nvr_auth_code_parse (const char *input, char lookup[5], char secret[9]);
/* "LLLL-SSSS-SSSS" for display. */
char *nvr_auth_code_format (const char *lookup, const char *secret);

/* crypto_generichash (32 bytes) of a secret: invite secrets and session tokens. */
void nvr_auth_hash (const void *data, gsize len, guint8 out[NVR_AUTH_HASH_BYTES]);

/* ---- base64url without padding ---- */
char *nvr_auth_b64_encode (const guint8 *data, gsize len);
/* Decodes exactly @len bytes; FALSE on bad characters or a different length. */
gboolean nvr_auth_b64_decode_exact (const char *text, guint8 *out, gsize len);

/* ---- signed messages ---- */
char *nvr_auth_pair_message (const char *origin, const char *code_normalised,
                             const char *nonce_b64, const char *public_key_b64);
char *nvr_auth_login_message (const char *origin, const char *nonce_b64,
                              const char *public_key_b64);
/* TRUE if @pk is a valid Ed25519 point of large order and @sig signs @message with it. */
gboolean nvr_auth_verify (const guint8 pk[NVR_AUTH_KEY_BYTES], const guint8 sig[NVR_AUTH_SIG_BYTES],
                          const char *message);
gboolean nvr_auth_public_key_valid (const guint8 pk[NVR_AUTH_KEY_BYTES]);

/* ---- nonces: in memory, single use, bound to a purpose and a subject ---- */
typedef enum { NVR_NONCE_PAIR, NVR_NONCE_LOGIN } NvrNoncePurpose;
typedef struct _NvrAuthNonces NvrAuthNonces;
NvrAuthNonces *nvr_auth_nonces_new (void);
void nvr_auth_nonces_free (NvrAuthNonces *n);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrAuthNonces, nvr_auth_nonces_free)
/* Records a nonce for @subject (the invite lookup, or the public key b64); returns it b64. */
char *nvr_auth_nonces_issue (NvrAuthNonces *n, const guint8 random[NVR_AUTH_NONCE_BYTES],
                             NvrNoncePurpose purpose, const char *subject, gint64 now_us);
/* Consumes the nonce (whatever the result): TRUE if it was issued for @purpose and @subject and
 * has not expired. */
gboolean nvr_auth_nonces_take (NvrAuthNonces *n, const char *nonce_b64, NvrNoncePurpose purpose,
                               const char *subject, gint64 now_us);
/* The same with a @tag the issuer chose, handed back by take (when the nonce existed). */
char *nvr_auth_nonces_issue_tagged (NvrAuthNonces *n, const guint8 random[NVR_AUTH_NONCE_BYTES],
                                    NvrNoncePurpose purpose, const char *subject, guint tag,
                                    gint64 now_us);
gboolean nvr_auth_nonces_take_tagged (NvrAuthNonces *n, const char *nonce_b64,
                                      NvrNoncePurpose purpose, const char *subject,
                                      gint64 now_us, guint *out_tag);

/* ---- rate limits: token buckets that count failures (docs/design/auth.md "Rate limits") ---- */
typedef struct {
  double per_minute;   /* refill */
  double burst;        /* capacity; a bucket starts full */
} NvrAuthRate;

/* Pairing (begin + finish, wrong codes and provisional begins) and login (see pairing.c) per
 * client address, and the global ceilings over all clients. Stored nonces stay under
 * NVR_AUTH_NONCES_MAX: known-key login begins (240 + 2 min x 240) + pairing begins with a valid
 * code (60 + 2 min x 60) = 900 within a nonce's 120 s. */
#define NVR_AUTH_PAIR_PER_CLIENT ((NvrAuthRate) { 10, 10 })
#define NVR_AUTH_PAIR_GLOBAL ((NvrAuthRate) { 60, 60 })
#define NVR_AUTH_LOGIN_PER_CLIENT ((NvrAuthRate) { 10, 10 })
#define NVR_AUTH_LOGIN_GLOBAL ((NvrAuthRate) { 240, 240 })
/* A paired key's own login budget, used only when its address is over its limit. */
#define NVR_AUTH_LOGIN_PER_KEY ((NvrAuthRate) { 10, 10 })
#define NVR_AUTH_LIMITER_CLIENTS_MAX 4096   /* remembered client addresses; least recent dropped */

typedef struct {
  double tokens;
  gint64 last_us;
  gboolean started;    /* FALSE: never used, full */
} NvrAuthBucket;
/* TRUE if @b holds a whole token at @now_us. Takes nothing. A clock that goes backwards
 * refills nothing. */
gboolean nvr_auth_bucket_has (NvrAuthBucket *b, NvrAuthRate rate, gint64 now_us);
/* Takes one token (never below zero). */
void nvr_auth_bucket_charge (NvrAuthBucket *b, NvrAuthRate rate, gint64 now_us);
/* Gives one token back (never over the burst). */
void nvr_auth_bucket_refund (NvrAuthBucket *b, NvrAuthRate rate, gint64 now_us);
/* has + charge: FALSE (and nothing taken) when the request must be refused. */
gboolean nvr_auth_bucket_take (NvrAuthBucket *b, NvrAuthRate rate, gint64 now_us);

/* Buckets per client key (the address lighttpd forwarded) plus one global ceiling. Only what a
 * caller counts as a failure is charged; @shared says whether it also counts against the global
 * ceiling (requests naming an unknown public key cost nothing shared). At most
 * NVR_AUTH_LIMITER_CLIENTS_MAX clients are remembered: the least recently seen is forgotten
 * (its debt with it; the global ceiling still holds). */
typedef struct _NvrAuthLimiter NvrAuthLimiter;
NvrAuthLimiter *nvr_auth_limiter_new (NvrAuthRate per_client, NvrAuthRate global);
void nvr_auth_limiter_free (NvrAuthLimiter *l);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrAuthLimiter, nvr_auth_limiter_free)
/* TRUE if @client (and the global ceiling, if @shared) may try now. In these three calls a
 * NULL @client means the global ceiling alone. */
gboolean nvr_auth_limiter_allows (NvrAuthLimiter *l, const char *client, gboolean shared,
                                  gint64 now_us);
/* Counts one failure (or a provisional one: a begin not yet followed by a successful finish). */
void nvr_auth_limiter_fail (NvrAuthLimiter *l, const char *client, gboolean shared,
                            gint64 now_us);
/* Gives back a provisional failure (the finish succeeded). */
void nvr_auth_limiter_refund (NvrAuthLimiter *l, const char *client, gboolean shared,
                              gint64 now_us);
/* Clients remembered (tests). */
guint nvr_auth_limiter_clients (NvrAuthLimiter *l);

/* ---- authorization decision ---- */
typedef enum {
  NVR_POLICY_NONE = 0,   /* never valid in the route table */
  NVR_POLICY_PUBLIC,
  NVR_POLICY_SESSION,
  NVR_POLICY_CAMERA,
  NVR_POLICY_ADMIN,
} NvrPolicy;

typedef enum {
  NVR_OBJECT_NONE = 0,   /* the camera itself (live, snapshot, timeline, lists) */
  NVR_OBJECT_SEGMENT,
  NVR_OBJECT_EVENT,
} NvrObjectKind;

/* What nvr_catalog_authorize found; filled by the catalog, read by nvr_auth_decide. */
typedef struct {
  gboolean session_found;     /* token known, not expired (idle or absolute), device not revoked */
  gint64 device_id;
  gboolean is_admin;
  gboolean camera_allowed;    /* camera in the device's ACL and not removed */
  gint64 camera_id;
  char *camera_name;
  char *camera_dir;           /* relative to the storage root */
  gboolean object_found;      /* the object exists AND belongs to camera_id */
  char *object_path;          /* relative to the storage root (segment file, thumbnail) or NULL */
} NvrAccess;
void nvr_access_clear (NvrAccess *a);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (NvrAccess, nvr_access_clear)

/* HTTP status for a request under @policy naming @kind: 0 = allowed, else 401/403/404. */
guint nvr_auth_decide (NvrPolicy policy, NvrObjectKind kind, const NvrAccess *a);

G_END_DECLS
