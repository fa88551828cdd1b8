/* auth — the pure core of pairing, sessions and authorization (docs/design/auth.md): invite
 * codes, base64url, signed messages and their verification, single-use nonces, the pairing and
 * login rate limits and the authorization decision. No I/O, no clock; main loop only. */
#define G_LOG_DOMAIN "nvr-auth"

#include "auth.h"

#include <sodium.h>
#include <string.h>

/* Crockford base32: no I, L, O, U. */
static const char code_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

#define CODE_CHARS (NVR_AUTH_CODE_LOOKUP_CHARS + NVR_AUTH_CODE_SECRET_CHARS)
/* Longest input the parser looks at: a code with generous separators and spaces. */
#define CODE_INPUT_MAX 64

char *
nvr_auth_code_make (const guint8 random12[12], char lookup[5], char secret[9])
{
  char code[CODE_CHARS + 1];
  /* 32 divides 256: the low 5 bits of a uniform byte are uniform. */
  for (guint i = 0; i < CODE_CHARS; i++)
    code[i] = code_alphabet[random12[i] & 31];
  code[CODE_CHARS] = '\0';
  memcpy (lookup, code, NVR_AUTH_CODE_LOOKUP_CHARS);
  lookup[NVR_AUTH_CODE_LOOKUP_CHARS] = '\0';
  memcpy (secret, code + NVR_AUTH_CODE_LOOKUP_CHARS, NVR_AUTH_CODE_SECRET_CHARS);
  secret[NVR_AUTH_CODE_SECRET_CHARS] = '\0';
  return g_strdup (code);
}

/* The canonical character for one input character, or 0 if it is not part of the alphabet. */
static char
code_char (char ch)
{
  ch = g_ascii_toupper (ch);
  if (ch == 'O')
    return '0';
  if (ch == 'I' || ch == 'L')
    return '1';
  if (ch != '\0' && strchr (code_alphabet, ch) != NULL)
    return ch;
  return 0;
}

gboolean
nvr_auth_code_parse (const char *input, char lookup[5], char secret[9])
{
  if (input == NULL)
    return FALSE;
  char code[CODE_CHARS];
  guint n = 0;
  for (guint i = 0; input[i] != '\0'; i++) {
    if (i >= CODE_INPUT_MAX)
      return FALSE;
    if (input[i] == '-' || input[i] == ' ')
      continue;
    char ch = code_char (input[i]);
    if (ch == 0 || n == CODE_CHARS)
      return FALSE;
    code[n++] = ch;
  }
  if (n != CODE_CHARS)
    return FALSE;
  memcpy (lookup, code, NVR_AUTH_CODE_LOOKUP_CHARS);
  lookup[NVR_AUTH_CODE_LOOKUP_CHARS] = '\0';
  memcpy (secret, code + NVR_AUTH_CODE_LOOKUP_CHARS, NVR_AUTH_CODE_SECRET_CHARS);
  secret[NVR_AUTH_CODE_SECRET_CHARS] = '\0';
  return TRUE;
}

char *
nvr_auth_code_format (const char *lookup, const char *secret)
{
  return g_strdup_printf ("%.4s-%.4s-%.4s", lookup, secret, secret + 4);
}

void
nvr_auth_hash (const void *data, gsize len, guint8 out[NVR_AUTH_HASH_BYTES])
{
  crypto_generichash (out, NVR_AUTH_HASH_BYTES, data, len, NULL, 0);
}

/* ---- base64url without padding ---- */

#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

char *
nvr_auth_b64_encode (const guint8 *data, gsize len)
{
  gsize size = sodium_base64_ENCODED_LEN (len, B64_VARIANT);
  char *out = g_malloc (size);
  sodium_bin2base64 (out, size, data, len, B64_VARIANT);
  return out;
}

gboolean
nvr_auth_b64_decode_exact (const char *text, guint8 *out, gsize len)
{
  if (text == NULL)
    return FALSE;
  /* Exactly the canonical length: no padding, no whitespace, no trailing data. libsodium also
   * refuses non-zero bits in the last character, so every value has one spelling. */
  gsize text_len = strlen (text);
  if (text_len != sodium_base64_ENCODED_LEN (len, B64_VARIANT) - 1)
    return FALSE;
  /* libsodium 1.0.18 maps some bytes >= 0x80 to alphabet values (found by fuzz-pairing):
   * check the alphabet here. */
  if (strspn (text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
      text_len)
    return FALSE;
  size_t bin_len = 0;
  const char *end = NULL;
  if (sodium_base642bin (out, len, text, text_len, NULL, &bin_len, &end, B64_VARIANT) != 0)
    return FALSE;
  return end == text + text_len && bin_len == len;
}

/* ---- signed messages ---- */

char *
nvr_auth_pair_message (const char *origin, const char *code_normalised, const char *nonce_b64,
                       const char *public_key_b64)
{
  return g_strdup_printf ("hearth-pair-v1\n%s\n%s\n%s\n%s", origin, code_normalised, nonce_b64,
                          public_key_b64);
}

char *
nvr_auth_login_message (const char *origin, const char *nonce_b64, const char *public_key_b64)
{
  return g_strdup_printf ("hearth-login-v1\n%s\n%s\n%s", origin, nonce_b64, public_key_b64);
}

gboolean
nvr_auth_public_key_valid (const guint8 pk[NVR_AUTH_KEY_BYTES])
{
  /* Canonical, on the curve, in the main subgroup, not of small order. */
  return crypto_core_ed25519_is_valid_point (pk) == 1;
}

gboolean
nvr_auth_verify (const guint8 pk[NVR_AUTH_KEY_BYTES], const guint8 sig[NVR_AUTH_SIG_BYTES],
                 const char *message)
{
  if (message == NULL || !nvr_auth_public_key_valid (pk))
    return FALSE;
  return crypto_sign_verify_detached (sig, (const unsigned char *) message, strlen (message),
                                      pk) == 0;
}

/* ---- nonces ---- */

typedef struct {
  char *nonce;             /* b64, the table's key */
  NvrNoncePurpose purpose;
  guint tag;               /* the issuer's note, returned by take (login: who paid the begin) */
  char *subject;
  gint64 expires_us;
  GList *link;             /* in NvrAuthNonces.order */
} Nonce;

struct _NvrAuthNonces {
  GHashTable *by_nonce;    /* nonce b64 -> Nonce (owned) */
  GQueue order;            /* Nonce*, oldest first (issue order) */
};

static void
nonce_free (Nonce *e)
{
  g_free (e->nonce);
  g_free (e->subject);
  g_free (e);
}

NvrAuthNonces *
nvr_auth_nonces_new (void)
{
  NvrAuthNonces *n = g_new0 (NvrAuthNonces, 1);
  n->by_nonce = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) nonce_free);
  g_queue_init (&n->order);
  return n;
}

void
nvr_auth_nonces_free (NvrAuthNonces *n)
{
  if (n == NULL)
    return;
  g_queue_clear (&n->order);
  g_hash_table_destroy (n->by_nonce);
  g_free (n);
}

static void
nonce_remove (NvrAuthNonces *n, Nonce *e)
{
  g_queue_delete_link (&n->order, e->link);
  g_hash_table_remove (n->by_nonce, e->nonce);   /* frees e */
}

char *
nvr_auth_nonces_issue (NvrAuthNonces *n, const guint8 random[NVR_AUTH_NONCE_BYTES],
                       NvrNoncePurpose purpose, const char *subject, gint64 now_us)
{
  return nvr_auth_nonces_issue_tagged (n, random, purpose, subject, 0, now_us);
}

char *
nvr_auth_nonces_issue_tagged (NvrAuthNonces *n, const guint8 random[NVR_AUTH_NONCE_BYTES],
                              NvrNoncePurpose purpose, const char *subject, guint tag,
                              gint64 now_us)
{
  /* Issue order is expiry order: drop the expired from the head, then the oldest past the max. */
  while (!g_queue_is_empty (&n->order)) {
    Nonce *head = g_queue_peek_head (&n->order);
    if (head->expires_us > now_us && g_queue_get_length (&n->order) < NVR_AUTH_NONCES_MAX)
      break;
    nonce_remove (n, head);
  }
  Nonce *e = g_new0 (Nonce, 1);
  e->nonce = nvr_auth_b64_encode (random, NVR_AUTH_NONCE_BYTES);
  e->purpose = purpose;
  e->subject = g_strdup (subject ? subject : "");
  e->tag = tag;
  e->expires_us = now_us + NVR_AUTH_NONCE_TTL_US;
  Nonce *old = g_hash_table_lookup (n->by_nonce, e->nonce);
  if (old != NULL)
    nonce_remove (n, old);
  g_queue_push_tail (&n->order, e);
  e->link = n->order.tail;
  g_hash_table_insert (n->by_nonce, e->nonce, e);
  return g_strdup (e->nonce);
}

gboolean
nvr_auth_nonces_take (NvrAuthNonces *n, const char *nonce_b64, NvrNoncePurpose purpose,
                      const char *subject, gint64 now_us)
{
  return nvr_auth_nonces_take_tagged (n, nonce_b64, purpose, subject, now_us, NULL);
}

gboolean
nvr_auth_nonces_take_tagged (NvrAuthNonces *n, const char *nonce_b64, NvrNoncePurpose purpose,
                             const char *subject, gint64 now_us, guint *out_tag)
{
  if (nonce_b64 == NULL)
    return FALSE;
  Nonce *e = g_hash_table_lookup (n->by_nonce, nonce_b64);
  if (e == NULL)
    return FALSE;
  if (out_tag != NULL)
    *out_tag = e->tag;
  gboolean ok = e->purpose == purpose && g_strcmp0 (e->subject, subject ? subject : "") == 0 &&
                now_us < e->expires_us;
  nonce_remove (n, e);
  return ok;
}

/* ---- rate limits ---- */

static void
bucket_refill (NvrAuthBucket *b, NvrAuthRate rate, gint64 now_us)
{
  if (!b->started) {
    b->started = TRUE;
    b->tokens = rate.burst;
    b->last_us = now_us;
    return;
  }
  if (now_us > b->last_us) {
    double elapsed_s = (double) (now_us - b->last_us) / G_USEC_PER_SEC;
    b->tokens = MIN (rate.burst, b->tokens + elapsed_s * rate.per_minute / 60.0);
    b->last_us = now_us;
  }
}

gboolean
nvr_auth_bucket_has (NvrAuthBucket *b, NvrAuthRate rate, gint64 now_us)
{
  bucket_refill (b, rate, now_us);
  /* Refills add fractions: allow for their rounding (1e-6 of a token is 6 µs at 10/min). */
  return b->tokens >= 1.0 - 1e-6;
}

void
nvr_auth_bucket_charge (NvrAuthBucket *b, NvrAuthRate rate, gint64 now_us)
{
  bucket_refill (b, rate, now_us);
  b->tokens = MAX (0.0, b->tokens - 1.0);
}

void
nvr_auth_bucket_refund (NvrAuthBucket *b, NvrAuthRate rate, gint64 now_us)
{
  bucket_refill (b, rate, now_us);
  b->tokens = MIN (rate.burst, b->tokens + 1.0);
}

gboolean
nvr_auth_bucket_take (NvrAuthBucket *b, NvrAuthRate rate, gint64 now_us)
{
  if (!nvr_auth_bucket_has (b, rate, now_us))
    return FALSE;
  nvr_auth_bucket_charge (b, rate, now_us);
  return TRUE;
}

typedef struct {
  char *client;            /* the table's key */
  NvrAuthBucket bucket;
  GList *link;             /* in NvrAuthLimiter.order */
} LimiterEntry;

struct _NvrAuthLimiter {
  NvrAuthRate per_client, global;
  NvrAuthBucket global_bucket;
  GHashTable *by_client;   /* client -> LimiterEntry (owned) */
  GQueue order;            /* LimiterEntry*, least recently seen first */
};

static void
limiter_entry_free (LimiterEntry *e)
{
  g_free (e->client);
  g_free (e);
}

NvrAuthLimiter *
nvr_auth_limiter_new (NvrAuthRate per_client, NvrAuthRate global)
{
  NvrAuthLimiter *l = g_new0 (NvrAuthLimiter, 1);
  l->per_client = per_client;
  l->global = global;
  l->by_client = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify) limiter_entry_free);
  g_queue_init (&l->order);
  return l;
}

void
nvr_auth_limiter_free (NvrAuthLimiter *l)
{
  if (l == NULL)
    return;
  g_queue_clear (&l->order);
  g_hash_table_destroy (l->by_client);
  g_free (l);
}

/* The client's bucket, made (full) if new, and marked most recently seen. */
static NvrAuthBucket *
limiter_bucket (NvrAuthLimiter *l, const char *key)
{
  LimiterEntry *e = g_hash_table_lookup (l->by_client, key);
  if (e != NULL) {
    g_queue_unlink (&l->order, e->link);
    g_queue_push_tail_link (&l->order, e->link);
    return &e->bucket;
  }
  while (g_queue_get_length (&l->order) >= NVR_AUTH_LIMITER_CLIENTS_MAX) {
    LimiterEntry *old = g_queue_pop_head (&l->order);
    g_hash_table_remove (l->by_client, old->client);
  }
  e = g_new0 (LimiterEntry, 1);
  e->client = g_strdup (key);
  g_queue_push_tail (&l->order, e);
  e->link = l->order.tail;
  g_hash_table_insert (l->by_client, e->client, e);
  return &e->bucket;
}

gboolean
nvr_auth_limiter_allows (NvrAuthLimiter *l, const char *client, gboolean shared, gint64 now_us)
{
  if (client != NULL && !nvr_auth_bucket_has (limiter_bucket (l, client), l->per_client, now_us))
    return FALSE;
  return !shared || nvr_auth_bucket_has (&l->global_bucket, l->global, now_us);
}

void
nvr_auth_limiter_fail (NvrAuthLimiter *l, const char *client, gboolean shared, gint64 now_us)
{
  if (client != NULL)
    nvr_auth_bucket_charge (limiter_bucket (l, client), l->per_client, now_us);
  if (shared)
    nvr_auth_bucket_charge (&l->global_bucket, l->global, now_us);
}

void
nvr_auth_limiter_refund (NvrAuthLimiter *l, const char *client, gboolean shared, gint64 now_us)
{
  if (client != NULL)
    nvr_auth_bucket_refund (limiter_bucket (l, client), l->per_client, now_us);
  if (shared)
    nvr_auth_bucket_refund (&l->global_bucket, l->global, now_us);
}

guint
nvr_auth_limiter_clients (NvrAuthLimiter *l)
{
  return g_hash_table_size (l->by_client);
}

/* ---- authorization decision ---- */

void
nvr_access_clear (NvrAccess *a)
{
  if (a == NULL)
    return;
  g_free (a->camera_name);
  g_free (a->camera_dir);
  g_free (a->object_path);
  memset (a, 0, sizeof *a);
}

guint
nvr_auth_decide (NvrPolicy policy, NvrObjectKind kind, const NvrAccess *a)
{
  switch (policy) {
  case NVR_POLICY_PUBLIC:
    return 0;
  case NVR_POLICY_SESSION:
    return a->session_found ? 0 : 401;
  case NVR_POLICY_ADMIN:
    if (!a->session_found)
      return 401;
    return a->is_admin ? 0 : 403;
  case NVR_POLICY_CAMERA:
    if (!a->session_found)
      return 401;
    /* The same answer whether the camera or object does not exist or may not be seen. */
    if (!a->camera_allowed || a->camera_id <= 0)
      return 404;
    if (kind != NVR_OBJECT_NONE && !a->object_found)
      return 404;
    return 0;
  case NVR_POLICY_NONE:
  default:
    return 403;   /* a route without a policy is refused (and fails test-httproute) */
  }
}
