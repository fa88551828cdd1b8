/* Fuzz target for what an ONVIF camera (or anything on the LAN answering a WS-Discovery probe)
 * sends the probe process (nvr/onvif.c): every parser runs on every input, and the probe result
 * checker the daemon applies (nvr/prober.c) runs on what they produced. Invariants asserted:
 * what parses respects the stated limits, and the daemon accepts what a parser produced.
 * Built as a plain program it replays tests/fuzz/corpus/onvif (meson suite 'fuzz'; the seeds are
 * answers written after the ONVIF Core/Media specifications' examples, plus broken ones); with
 * clang -fsanitize=fuzzer,address -DNVR_LIBFUZZER -D_GNU_SOURCE -Invr tests/fuzz/fuzz-onvif.c
 * nvr/onvif.c nvr/prober.c nvr/wire.c $(pkg-config --cflags --libs libxml-2.0 json-glib-1.0
 * gio-2.0) it is a libFuzzer target. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "onvif.h"
#include "prober.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_text (const char *s, gsize max)
{
  g_assert_nonnull (s);
  g_assert_cmpuint (strlen (s), <=, max);
  g_assert_true (g_utf8_validate (s, -1, NULL));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *xml = (const char *) data;
  g_autoptr (GError) e1 = NULL, e2 = NULL, e3 = NULL, e4 = NULL, e5 = NULL;

  g_auto (NvrOnvifDevice) dev = { 0 };
  if (nvr_onvif_parse_device_information (xml, size, &dev, &e1)) {
    check_text (dev.manufacturer, NVR_ONVIF_MAX_TEXT);
    check_text (dev.model, NVR_ONVIF_MAX_TEXT);
    check_text (dev.firmware, NVR_ONVIF_MAX_TEXT);
  } else {
    g_assert_nonnull (e1);
  }

  g_autofree char *xaddr = nvr_onvif_parse_media_xaddr (xml, size, &e2);
  if (xaddr != NULL) {
    check_text (xaddr, NVR_ONVIF_MAX_URL);
    g_free (nvr_onvif_same_host_url ("http://192.0.2.1:8080/onvif/device_service", xaddr));
  }

  g_autoptr (GPtrArray) profiles = nvr_onvif_parse_profiles (xml, size, &e3);
  g_autofree char *uri = nvr_onvif_parse_stream_uri (xml, size, &e4);
  if (uri != NULL)
    check_text (uri, NVR_ONVIF_MAX_URL);
  if (profiles != NULL) {
    g_assert_cmpuint (profiles->len, >=, 1);
    g_assert_cmpuint (profiles->len, <=, NVR_ONVIF_MAX_PROFILES);
    /* What the probe would send the daemon, with this answer's stream URI (or a valid one):
     * the daemon's checker must accept it. */
    GVariantBuilder b, pb;
    g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add (&b, "{sv}", "ok", g_variant_new_boolean (TRUE));
    g_variant_builder_add (&b, "{sv}", "have_device", g_variant_new_boolean (FALSE));
    g_variant_builder_add (&b, "{sv}", "manufacturer", g_variant_new_string (""));
    g_variant_builder_add (&b, "{sv}", "model", g_variant_new_string (""));
    g_variant_builder_add (&b, "{sv}", "firmware", g_variant_new_string (""));
    g_variant_builder_init (&pb, G_VARIANT_TYPE ("a(sssiiis)"));
    for (guint i = 0; i < profiles->len; i++) {
      NvrOnvifProfile *p = profiles->pdata[i];
      check_text (p->token, NVR_ONVIF_MAX_TEXT);
      check_text (p->name, NVR_ONVIF_MAX_TEXT);
      check_text (p->encoding, NVR_ONVIF_MAX_TEXT);
      g_assert_cmpint (p->width, >=, 0);
      g_assert_cmpint (p->width, <=, NVR_ONVIF_MAX_PIXELS);
      g_variant_builder_add (&pb, "(sssiiis)", p->token, p->name, p->encoding, p->width,
                             p->height, p->fps, uri ? uri : "rtsp://192.0.2.1/stream");
    }
    g_variant_builder_add (&b, "{sv}", "profiles", g_variant_builder_end (&pb));
    g_autoptr (GVariant) fields = g_variant_ref_sink (g_variant_builder_end (&b));
    g_autoptr (GError) err = NULL;
    g_autoptr (JsonNode) node = nvr_prober_result_json (NVR_PROBE_ONVIF_PROFILES, fields, &err);
    if (node == NULL)
      g_error ("the daemon refused what the parser produced: %s", err->message);
  }

  g_autoptr (GPtrArray) found = nvr_onvif_parse_probe_matches (xml, size, NULL, &e5);
  if (found != NULL) {
    g_assert_cmpuint (found->len, <=, NVR_ONVIF_MAX_LIST);
    for (guint i = 0; i < found->len; i++) {
      NvrOnvifFound *f = found->pdata[i];
      check_text (f->address, NVR_ONVIF_MAX_TEXT);
      g_assert_cmpuint (g_strv_length (f->xaddrs), >=, 1);
      g_assert_cmpuint (g_strv_length (f->xaddrs), <=, NVR_ONVIF_MAX_LIST);
      g_assert_cmpuint (g_strv_length (f->scopes), <=, NVR_ONVIF_MAX_LIST);
    }
  }
  return 0;
}

#include "fuzz-replay.h"
