/* Fuzz target for request routing (nvr/httproute.c): the method, path, query and Cookie header
 * of one request. Input: method NUL path NUL query NUL cookie (missing parts are absent).
 * Checks the invariants the HTTP layer relies on: a match names a route with a policy, ids
 * are within range and appear in the path, a range is ordered and bounded. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "httproute.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* The next NUL-separated part from offset @*at, or NULL when the input has run out. */
static char *
next_part (const uint8_t *data, size_t size, size_t *at)
{
  if (*at > size)
    return NULL;
  const uint8_t *nul = memchr (data + *at, '\0', size - *at);
  size_t stop = nul ? (size_t) (nul - data) : size;
  char *s = g_strndup ((const char *) data + *at, stop - *at);
  *at = stop + 1;
  return s;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const uint8_t empty[1];
  size_t at = 0;
  if (data == NULL)
    data = empty;
  g_autofree char *method = next_part (data, size, &at);
  g_autofree char *path = next_part (data, size, &at);
  g_autofree char *query = next_part (data, size, &at);
  g_autofree char *cookie = next_part (data, size, &at);

  NvrRouteMatch m;
  guint status = nvr_httproute_match (method, path, &m);
  g_assert (status == 0 || status == 404 || status == 405);
  if (status == 0) {
    g_assert (m.route != NULL && m.route->policy != NVR_POLICY_NONE);
    g_assert_cmpstr (m.route->method, ==, method);
    g_assert (g_str_has_prefix (path, NVR_HTTP_API_PREFIX));
    g_assert (strstr (path, "//") == NULL && strstr (path, "/..") == NULL &&
              strchr (path, '%') == NULL && !g_str_has_suffix (path, "/"));
    g_assert (m.camera_id >= 0 && m.camera_id < G_GINT64_CONSTANT (1000000000000000000));
    g_assert (m.object_id >= 0 && m.device_id >= 0);
    g_assert ((m.route->policy == NVR_POLICY_CAMERA) == (strstr (path, "/cameras/") != NULL));
    if (m.camera_id > 0) {
      g_autofree char *seg = g_strdup_printf ("/cameras/%" G_GINT64_FORMAT, m.camera_id);
      g_assert (strstr (path, seg) != NULL);
    }
  } else {
    g_assert (m.route == NULL);
  }

  gint64 from_us, to_us;
  const char *reason = NULL;
  if (nvr_httproute_parse_range (query, NVR_HTTP_TIMELINE_MAX_RANGE_US, &from_us, &to_us,
                                 &reason) == 0) {
    g_assert (reason == NULL);
    g_assert (from_us >= 0 && from_us < to_us &&
              to_us - from_us <= NVR_HTTP_TIMELINE_MAX_RANGE_US);
  } else {
    g_assert (reason != NULL);
  }

  g_autofree char *session = nvr_httproute_cookie (cookie, NVR_AUTH_COOKIE_NAME);
  g_assert (session == NULL || (*session != '\0' && strchr (session, ';') == NULL));

  /* The mutation decision with the cookie part standing in for the header values. */
  guint mut = nvr_httproute_check_mutation (method, cookie, query, cookie,
                                            "https://127.0.0.1:8443", &reason);
  g_assert (mut == 0 || mut == 403 || mut == 415);
  g_assert ((mut == 0) == (reason == NULL));
  return 0;
}

#include "fuzz-replay.h"
