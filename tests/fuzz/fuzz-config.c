/* Fuzz target for the config parser (nvr/config.c): the input is a whole config file. Checks:
 * an error names the file and a line; a parsed config keeps every documented range. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NvrConfig) c = nvr_config_parse ((const char *) data, size, "fuzz.conf", &error);
  g_assert ((c == NULL) == (error != NULL));
  if (c == NULL) {
    g_assert (error->domain == NVR_CONFIG_ERROR);
    g_assert (g_str_has_prefix (error->message, "fuzz.conf:"));
    return 0;
  }
  g_assert (g_path_is_absolute (c->storage_root) && g_path_is_absolute (c->admin_socket));
  g_assert (g_path_is_absolute (c->web_socket) && strlen (c->web_socket) <= 107);
  g_assert (c->segment_seconds >= 10 && c->segment_seconds <= 3600);
  g_assert (c->backoff_initial_ms <= c->backoff_max_ms);
  g_assert (c->web_session_idle_s >= 300 && c->web_session_idle_s <= c->web_session_max_s &&
            c->web_session_max_s <= 31536000);
  if (c->web_origin != NULL) {
    g_assert (g_str_has_prefix (c->web_origin, "https://"));
    g_assert (strchr (c->web_origin + 8, '/') == NULL);
    g_assert (strchr (c->web_origin, '?') == NULL && strchr (c->web_origin, '#') == NULL &&
              strchr (c->web_origin, '@') == NULL);
  }
  /* a list: the primary first, every entry an origin, no blank inside one, at most 16 */
  g_assert ((c->web_origin == NULL) == (c->web_origins == NULL));
  if (c->web_origins != NULL) {
    g_assert (!c->web_origin_auto && strcmp (c->web_origins[0], c->web_origin) == 0);
    g_assert (g_strv_length (c->web_origins) <= NVR_CONFIG_MAX_ORIGINS);
    for (guint i = 0; c->web_origins[i] != NULL; i++)
      g_assert (g_str_has_prefix (c->web_origins[i], "https://") &&
                strpbrk (c->web_origins[i] + 8, " \t/?#@") == NULL);
  }
  g_assert (c->web_listen_port >= 1 && c->web_listen_port <= 65535);
  g_assert (c->mqtt_port >= 1 && c->mqtt_port <= 65535);
  g_assert (c->motion_threshold >= 4 && c->motion_threshold <= 128);
  return 0;
}

#include "fuzz-replay.h"
