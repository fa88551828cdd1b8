/* Fuzz target for the web API's JSON body parsers (nvr/httproute.c). Input: one byte choosing
 * the body kind, then the body. Checks: the status is 0, 400 or 413; a parsed body has exactly
 * the fields of its kind, bounded; a refusal has a short reason. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "httproute.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_string (const char *s, gboolean wanted, gsize max)
{
  if (!wanted) {
    g_assert (s == NULL);
    return;
  }
  g_assert (s != NULL && *s != '\0' && strlen (s) <= max && g_utf8_validate (s, -1, NULL));
  for (const char *p = s; *p; p++)
    g_assert ((guchar) *p >= 0x20 && *p != 0x7f);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  NvrBodyKind kind = (NvrBodyKind) (data[0] % (NVR_BODY_KIND_LAST + 1));
  g_auto (NvrBody) b = { 0 };
  g_autofree char *reason = NULL;
  guint status = nvr_httproute_parse_body (kind, (const char *) data + 1, size - 1, &b, &reason);
  g_assert (status == 0 || status == 400 || status == 413);
  if (status != 0) {
    g_assert (reason != NULL && strlen (reason) < 256 && g_utf8_validate (reason, -1, NULL));
    g_assert (b.code == NULL && b.cameras == NULL && b.name == NULL);
    g_assert (b.camera.given == 0 && b.camera.password == NULL && b.masks == NULL);
    return 0;
  }
  g_assert (reason == NULL && b.kind == kind);
  g_assert (size - 1 <= NVR_HTTP_BODY_MAX);
  check_string (b.code, kind == NVR_BODY_PAIR_BEGIN || kind == NVR_BODY_PAIR_FINISH, 32);
  check_string (b.nonce, kind == NVR_BODY_PAIR_FINISH || kind == NVR_BODY_LOGIN_FINISH, 128);
  check_string (b.signature, kind == NVR_BODY_PAIR_FINISH || kind == NVR_BODY_LOGIN_FINISH,
                128);
  check_string (b.public_key, kind == NVR_BODY_PAIR_FINISH || kind == NVR_BODY_LOGIN_BEGIN ||
                kind == NVR_BODY_LOGIN_FINISH, 128);
  check_string (b.name, kind == NVR_BODY_INVITE, NVR_HTTP_NAME_MAX);
  gboolean lists = kind == NVR_BODY_CAMERA_LIST || kind == NVR_BODY_INVITE;
  g_assert ((b.cameras != NULL) == lists);
  if (lists) {
    g_assert (b.cameras->len <= NVR_HTTP_LIST_MAX);
    for (guint i = 0; i < b.cameras->len; i++) {
      g_assert (g_array_index (b.cameras, gint64, i) > 0);
      for (guint j = 0; j < i; j++)
        g_assert (g_array_index (b.cameras, gint64, i) != g_array_index (b.cameras, gint64, j));
    }
  }
  g_assert (b.ttl_s >= 0 && b.ttl_s <= NVR_AUTH_INVITE_TTL_MAX_S);
  /* Camera settings: only for camera bodies, each string within its bound, null only where a
   * null clears, an edit always changes something. */
  gboolean camera = kind == NVR_BODY_CAMERA_ADD || kind == NVR_BODY_CAMERA_EDIT;
  const NvrCameraSettings *c = &b.camera;
  g_assert (camera || c->given == 0);
  if (kind == NVR_BODY_CAMERA_ADD)
    g_assert ((c->given & NVR_CAMSET_NAME) && (c->given & NVR_CAMSET_MAIN_URL));
  if (kind == NVR_BODY_CAMERA_EDIT)
    g_assert (c->given != 0);
  check_string (c->name, (c->given & NVR_CAMSET_NAME) != 0, 32);
  check_string (c->main_url, (c->given & NVR_CAMSET_MAIN_URL) != 0, NVR_HTTP_URL_MAX);
  if (c->sub_url != NULL)
    check_string (c->sub_url, TRUE, NVR_HTTP_URL_MAX);
  if (c->user != NULL)
    check_string (c->user, TRUE, NVR_HTTP_CREDENTIAL_MAX);
  if (c->password != NULL)
    check_string (c->password, TRUE, NVR_HTTP_CREDENTIAL_MAX);
  g_assert (c->transport == NULL || g_strcmp0 (c->transport, "auto") == 0 ||
            g_strcmp0 (c->transport, "tcp") == 0 || g_strcmp0 (c->transport, "udp") == 0);
  g_assert (c->retention_days >= 0 && c->retention_days <= NVR_HTTP_RETENTION_DAYS_MAX);
  /* Polygon lists: only for motion bodies, bounded, each a non-empty string. */
  g_assert (kind == NVR_BODY_MOTION || (b.masks == NULL && b.zones == NULL));
  GPtrArray *polys[] = { b.masks, b.zones };
  for (guint k = 0; k < 2; k++) {
    if (polys[k] == NULL)
      continue;
    g_assert (polys[k]->len <= NVR_HTTP_POLYGONS_MAX);
    for (guint i = 0; i < polys[k]->len; i++)
      check_string (polys[k]->pdata[i], TRUE, NVR_HTTP_POLYGON_TEXT_MAX);
  }
  return 0;
}

#include "fuzz-replay.h"
