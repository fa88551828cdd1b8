/* Unit tests for the ONVIF requests and parsers (nvr/onvif.c) over the seed answers in
 * tests/fuzz/corpus/onvif (argv[1]), and for the daemon's check of a probe's result
 * (nvr/prober.c nvr_prober_result_json). Pure: no network, no clock. */
#include <glib.h>
#include <string.h>

#include "onvif.h"
#include "prober.h"

static const char *corpus_dir;

static char *
corpus (const char *name, gsize *len)
{
  g_autofree char *path = g_build_filename (corpus_dir, name, NULL);
  char *data = NULL;
  g_assert_true (g_file_get_contents (path, &data, len, NULL));
  return data;
}

static void
test_digest (void)
{
  guint8 nonce[NVR_ONVIF_NONCE_LEN];
  for (guint i = 0; i < sizeof nonce; i++)
    nonce[i] = (guint8) i;
  /* Base64(SHA1(nonce + created + password)), computed independently with Python's hashlib. */
  g_autofree char *d = nvr_onvif_password_digest (nonce, sizeof nonce, "2026-01-02T03:04:05Z",
                                                  "Secret");
  g_assert_cmpstr (d, ==, "X1yq6FlmTrtp61eElmv7rjoifEE=");

  g_autofree char *req = nvr_onvif_request (NVR_ONVIF_GET_DEVICE_INFORMATION, NULL, "a<b",
                                            "Secret", nonce, 1767323045);
  g_assert_nonnull (strstr (req, "<wsu:Created>2026-01-02T03:04:05Z</wsu:Created>"));
  g_assert_nonnull (strstr (req, ">a&lt;b</wsse:Username>"));
  g_autofree char *d2 = nvr_onvif_password_digest (nonce, sizeof nonce, "2026-01-02T03:04:05Z",
                                                   "Secret");
  g_assert_nonnull (strstr (req, d2));
  g_assert_null (strstr (req, "Secret"));   /* never the password itself */
  g_assert_nonnull (strstr (req, "GetDeviceInformation"));

  g_autofree char *anon = nvr_onvif_request (NVR_ONVIF_GET_STREAM_URI, "t&1", NULL, NULL, nonce,
                                             0);
  g_assert_null (strstr (anon, "Security"));
  g_assert_nonnull (strstr (anon, "<trt:ProfileToken>t&amp;1</trt:ProfileToken>"));

  g_autofree char *probe = nvr_onvif_probe_message ("urn:uuid:1");
  g_assert_nonnull (strstr (probe, "<a:MessageID>urn:uuid:1</a:MessageID>"));
  g_assert_nonnull (strstr (probe, "dn:NetworkVideoTransmitter"));
}

static void
test_parse_examples (void)
{
  gsize len;
  g_autoptr (GError) error = NULL;

  g_autofree char *di = corpus ("device-information.xml", &len);
  g_auto (NvrOnvifDevice) dev = { 0 };
  g_assert_true (nvr_onvif_parse_device_information (di, len, &dev, &error));
  g_assert_cmpstr (dev.manufacturer, ==, "Example Vision");
  g_assert_cmpstr (dev.model, ==, "EV-4K Dome");
  g_assert_cmpstr (dev.firmware, ==, "V5.6.1 build 210101");

  g_autofree char *caps = corpus ("capabilities.xml", &len);
  g_autofree char *xaddr = nvr_onvif_parse_media_xaddr (caps, len, &error);
  g_assert_cmpstr (xaddr, ==, "http://192.168.1.64/onvif/Media");
  /* The camera's answer never moves the probe to another host. */
  g_autofree char *media = nvr_onvif_same_host_url ("http://10.0.0.5:8080/onvif/device_service",
                                                    xaddr);
  g_assert_cmpstr (media, ==, "http://10.0.0.5:8080/onvif/Media");

  g_autofree char *pr = corpus ("profiles.xml", &len);
  g_autoptr (GPtrArray) profiles = nvr_onvif_parse_profiles (pr, len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (profiles->len, ==, 3);
  NvrOnvifProfile *p0 = profiles->pdata[0], *p1 = profiles->pdata[1], *p2 = profiles->pdata[2];
  g_assert_cmpstr (p0->token, ==, "Profile_1");
  g_assert_cmpstr (p0->name, ==, "mainStream");
  g_assert_cmpstr (p0->encoding, ==, "H264");
  g_assert_cmpint (p0->width, ==, 1920);
  g_assert_cmpint (p0->height, ==, 1080);
  g_assert_cmpint (p0->fps, ==, 25);
  g_assert_cmpstr (p1->token, ==, "Profile_2");
  g_assert_cmpint (p1->width, ==, 640);
  g_assert_cmpint (p1->fps, ==, 15);
  g_assert_cmpstr (p2->encoding, ==, "");   /* audio only: no video encoder */
  g_assert_cmpint (p2->width, ==, 0);

  g_autofree char *su = corpus ("stream-uri.xml", &len);
  g_autofree char *uri = nvr_onvif_parse_stream_uri (su, len, &error);
  g_assert_cmpstr (uri, ==, "rtsp://192.168.1.64:554/Streaming/Channels/101?transportmode="
                            "unicast&profile=Profile_1");

  g_autofree char *pm = corpus ("probe-matches.xml", &len);
  g_autoptr (GPtrArray) found = nvr_onvif_parse_probe_matches (
    pm, len, "urn:uuid:0a6dc791-2be6-4991-9af1-454778a1917a", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (found->len, ==, 1);
  NvrOnvifFound *f = found->pdata[0];
  g_assert_cmpstr (f->address, ==, "urn:uuid:1419d68a-1dd2-11b2-a105-F1C1E1A1B1C1");
  g_assert_cmpuint (g_strv_length (f->xaddrs), ==, 2);
  g_assert_cmpstr (f->xaddrs[0], ==, "http://192.168.1.64/onvif/device_service");
  g_assert_cmpuint (g_strv_length (f->scopes), ==, 4);
  /* An answer to another probe is ignored, not an error. */
  g_autoptr (GPtrArray) other = nvr_onvif_parse_probe_matches (pm, len, "urn:uuid:x", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (other->len, ==, 0);
}

static void
test_parse_refusals (void)
{
  static const struct {
    const char *file;
    int code;
    const char *in_message;
  } cases[] = {
    { "fault-not-authorized.xml", NVR_ONVIF_ERROR_UNAUTHORIZED, "Sender not Authorized" },
    { "fault-action-not-supported.xml", NVR_ONVIF_ERROR_FAULT, "Optional Action Not Implemented" },
    { "malformed-unclosed.xml", NVR_ONVIF_ERROR_MALFORMED, "not well-formed XML" },
    { "doctype-entities.xml", NVR_ONVIF_ERROR_MALFORMED, "DOCTYPE" },
    { "soap11-envelope.xml", NVR_ONVIF_ERROR_MALFORMED, "SOAP 1.2" },
    { "empty", NVR_ONVIF_ERROR_MALFORMED, "empty" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    gsize len;
    g_autofree char *xml = corpus (cases[i].file, &len);
    g_autoptr (GError) e1 = NULL, e2 = NULL, e3 = NULL;
    g_auto (NvrOnvifDevice) dev = { 0 };
    g_assert_false (nvr_onvif_parse_device_information (xml, len, &dev, &e1));
    g_assert_null (nvr_onvif_parse_profiles (xml, len, &e2));
    g_assert_null (nvr_onvif_parse_stream_uri (xml, len, &e3));
    GError *all[] = { e1, e2, e3 };
    for (guint j = 0; j < G_N_ELEMENTS (all); j++) {
      g_assert_error (all[j], NVR_ONVIF_ERROR, cases[i].code);
      if (strstr (all[j]->message, cases[i].in_message) == NULL)
        g_error ("%s: message '%s' lacks '%s'", cases[i].file, all[j]->message,
                 cases[i].in_message);
    }
  }
  /* Right envelope, wrong content. */
  static const char *const bad[] = { "stream-uri-http.xml", "profile-bad-width.xml" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    gsize len;
    g_autofree char *xml = corpus (bad[i], &len);
    g_autoptr (GError) e1 = NULL, e2 = NULL;
    g_autofree char *uri = nvr_onvif_parse_stream_uri (xml, len, &e1);
    g_autoptr (GPtrArray) p = nvr_onvif_parse_profiles (xml, len, &e2);
    g_assert_null (uri);
    g_assert_null (p);
    g_assert_error (e1, NVR_ONVIF_ERROR, NVR_ONVIF_ERROR_MALFORMED);
    g_assert_error (e2, NVR_ONVIF_ERROR, NVR_ONVIF_ERROR_MALFORMED);
  }
  /* Over the size limit, whatever it holds. */
  g_autofree char *huge = g_malloc0 (NVR_ONVIF_MAX_XML + 1);
  g_autoptr (GError) e = NULL;
  g_assert_null (nvr_onvif_parse_profiles (huge, NVR_ONVIF_MAX_XML + 1, &e));
  g_assert_error (e, NVR_ONVIF_ERROR, NVR_ONVIF_ERROR_MALFORMED);
}

static void
test_device_url (void)
{
  static const struct {
    const char *in;
    const char *out;   /* NULL: refused */
    guint16 port;
  } cases[] = {
    { "192.168.1.10", "http://192.168.1.10:80/onvif/device_service", 80 },
    { "192.168.1.10:8080", "http://192.168.1.10:8080/onvif/device_service", 8080 },
    { "[fe80::1]:8000", "http://[fe80::1]:8000/onvif/device_service", 8000 },
    { "http://10.0.0.2/onvif/dev", "http://10.0.0.2:80/onvif/dev", 80 },
    { "http://10.0.0.2:81/", "http://10.0.0.2:81/onvif/device_service", 81 },
    { "ftp://10.0.0.2/", NULL, 0 },
    { "https://10.0.0.2/", NULL, 0 },
    { "http://u:p@10.0.0.2/", NULL, 0 },
    { "10.0.0.2/?x=1", NULL, 0 },
    { "10.0.0.2:99999", NULL, 0 },
    { "", NULL, 0 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    guint16 port = 0;
    g_autoptr (GError) error = NULL;
    g_autofree char *url = nvr_onvif_device_url (cases[i].in, &port, &error);
    g_assert_cmpstr (url, ==, cases[i].out);
    if (url != NULL)
      g_assert_cmpuint (port, ==, cases[i].port);
    else
      g_assert_nonnull (error);
  }
  /* Where a discovered device is reached: the XAddr on the sender's address, else the first. */
  char *xa[] = { "http://[fe80::1]/onvif/device_service", "http://192.168.1.64:8080/onvif/ds",
                 NULL };
  NvrOnvifFound f = { .address = "urn:uuid:1", .xaddrs = xa, .scopes = NULL };
  static const struct {
    const char *sender;
    const char *host;
  } hosts[] = {
    { "192.168.1.64", "192.168.1.64:8080" },
    { "fe80::1", "[fe80::1]" },
    { "10.9.9.9", "[fe80::1]" },
    { NULL, "[fe80::1]" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (hosts); i++) {
    g_autofree char *h = nvr_onvif_found_host (&f, hosts[i].sender);
    g_assert_cmpstr (h, ==, hosts[i].host);
  }
  char *none[] = { NULL };
  NvrOnvifFound empty = { .address = "urn:uuid:2", .xaddrs = none };
  g_autofree char *h = nvr_onvif_found_host (&empty, "10.0.0.7");
  g_assert_cmpstr (h, ==, "10.0.0.7");
  g_autofree char *h6 = nvr_onvif_found_host (&empty, "fd00::7");
  g_assert_cmpstr (h6, ==, "[fd00::7]");
  /* Whatever a device says, the address is usable as a profiles address. */
  g_autofree char *h8 = nvr_onvif_found_host (&f, "192.168.1.64");
  guint16 port = 0;
  g_autofree char *url = nvr_onvif_device_url (h8, &port, NULL);
  g_assert_cmpstr (url, ==, "http://192.168.1.64:8080/onvif/device_service");

  g_assert_null (nvr_onvif_same_host_url ("http://10.0.0.5/x", "rtsp://evil/x"));
  g_autofree char *moved = nvr_onvif_same_host_url ("http://10.0.0.5:81/x",
                                                    "http://203.0.113.9:9/media?a=b");
  g_assert_cmpstr (moved, ==, "http://10.0.0.5:81/media?a=b");
}

/* ---- the daemon's check of a probe's result ---- */

static GVariant *
test_fields (const char *codec, gint width, const guint8 *still, gsize still_len,
             const char *audio)
{
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "ok", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&b, "{sv}", "video_codec", g_variant_new_string (codec));
  g_variant_builder_add (&b, "{sv}", "width", g_variant_new_int32 (width));
  g_variant_builder_add (&b, "{sv}", "height", g_variant_new_int32 (360));
  g_variant_builder_add (&b, "{sv}", "fps_n", g_variant_new_int32 (30000));
  g_variant_builder_add (&b, "{sv}", "fps_d", g_variant_new_int32 (1001));
  g_variant_builder_add (&b, "{sv}", "audio_codec", g_variant_new_string (audio));
  g_variant_builder_add (&b, "{sv}", "audio_rate", g_variant_new_int32 (8000));
  g_variant_builder_add (&b, "{sv}", "audio_channels", g_variant_new_int32 (1));
  g_variant_builder_add (&b, "{sv}", "still",
                         g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, still, still_len, 1));
  g_variant_builder_add (&b, "{sv}", "still_width", g_variant_new_int32 (640));
  g_variant_builder_add (&b, "{sv}", "still_height", g_variant_new_int32 (360));
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

static void
test_result_check (void)
{
  static const guint8 jpeg[] = { 0xFF, 0xD8, 0x00, 0x11, 0xFF, 0xD9 };
  static const guint8 png[] = { 0x89, 'P', 'N', 'G', 0xFF, 0xD9 };
  g_autoptr (GError) error = NULL;

  g_autoptr (GVariant) good = test_fields ("h264", 640, jpeg, sizeof jpeg, "pcmu");
  g_autoptr (JsonNode) node = nvr_prober_result_json (NVR_PROBE_TEST, good, &error);
  g_assert_no_error (error);
  g_autofree char *text = json_to_string (node, FALSE);
  /* 30000/1001 to two decimals; JSON prints the double in full, JavaScript reads 29.97. */
  JsonObject *video = json_object_get_object_member (json_node_get_object (node), "video");
  g_assert_cmpfloat (json_object_get_double_member (video, "fps"), ==, 29.97);
  g_assert_nonnull (strstr (text, "\"still\":\"data:image/jpeg;base64,/9gAEf/Z\""));
  g_assert_nonnull (strstr (text, "\"audio\":{\"codec\":\"pcmu\",\"rate\":8000,\"channels\":1}"));

  g_autoptr (GVariant) no_audio = test_fields ("h265", 640, jpeg, sizeof jpeg, "");
  g_autoptr (JsonNode) n2 = nvr_prober_result_json (NVR_PROBE_TEST, no_audio, &error);
  g_autofree char *t2 = json_to_string (n2, FALSE);
  g_assert_nonnull (strstr (t2, "\"audio\":null"));

  struct {
    GVariant *fields;
    const char *field;
  } bad[] = {
    { test_fields ("mjpeg", 640, jpeg, sizeof jpeg, ""), "video_codec" },
    { test_fields ("h264", 0, jpeg, sizeof jpeg, ""), "width" },
    { test_fields ("h264", 640, png, sizeof png, ""), "still" },
    { test_fields ("h264", 640, jpeg, sizeof jpeg, "AAC!"), "audio_codec" },
    { g_variant_ref_sink (g_variant_new_parsed ("{'ok': <false>, 'reason': <'rm -rf'>, "
                                                "'detail': <'x'>}")), "reason" },
    { g_variant_ref_sink (g_variant_new_parsed ("{'ok': <false>, 'reason': <'timeout'>, "
                                                "'detail': <'a\\nb'>}")), "detail" },
    { g_variant_ref_sink (g_variant_new_parsed ("{'ok': <'yes'>}")), "ok" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) e = NULL;
    g_autoptr (JsonNode) n = nvr_prober_result_json (NVR_PROBE_TEST, bad[i].fields, &e);
    g_assert_null (n);
    g_assert_nonnull (e);
    if (strstr (e->message, bad[i].field) == NULL)
      g_error ("case %u: '%s' does not name '%s'", i, e->message, bad[i].field);
    g_variant_unref (bad[i].fields);
  }

  g_autoptr (GVariant) fail = g_variant_ref_sink (g_variant_new_parsed (
    "{'ok': <false>, 'reason': <'unauthorized'>, 'detail': <'the camera said no'>}"));
  g_autoptr (JsonNode) nf = nvr_prober_result_json (NVR_PROBE_TEST, fail, &error);
  g_autofree char *tf = json_to_string (nf, FALSE);
  g_assert_cmpstr (tf, ==, "{\"ok\":false,\"reason\":\"unauthorized\","
                           "\"detail\":\"the camera said no\"}");
  /* The still's limit: 512 KiB. */
  gsize big_len = 512 * 1024 + 1;
  g_autofree guint8 *big = g_malloc0 (big_len);
  big[0] = 0xFF; big[1] = 0xD8; big[big_len - 2] = 0xFF; big[big_len - 1] = 0xD9;
  g_autoptr (GVariant) too_big = test_fields ("h264", 640, big, big_len, "");
  g_autoptr (GError) e0 = NULL;
  g_assert_null (nvr_prober_result_json (NVR_PROBE_TEST, too_big, &e0));
  g_assert_nonnull (strstr (e0->message, "still"));
  g_autoptr (GVariant) just = test_fields ("h264", 640, big + 1, big_len - 1, "");
  g_autoptr (GError) e1 = NULL;
  g_assert_null (nvr_prober_result_json (NVR_PROBE_TEST, just, &e1));   /* no SOI at +1 */
  big[1] = 0xFF; big[2] = 0xD8;   /* SOI at +1: exactly 512 KiB, accepted */
  g_autoptr (GVariant) exact = test_fields ("h264", 640, big + 1, big_len - 1, "");
  g_autoptr (JsonNode) nexact = nvr_prober_result_json (NVR_PROBE_TEST, exact, &error);
  g_assert_no_error (error);
  g_assert_nonnull (nexact);

  /* ONVIF reasons are their own set. */
  g_autoptr (GError) e2 = NULL;
  g_autoptr (GVariant) nv = g_variant_ref_sink (g_variant_new_parsed (
    "{'ok': <false>, 'reason': <'no-video'>, 'detail': <'x'>}"));
  g_assert_null (nvr_prober_result_json (NVR_PROBE_ONVIF_PROFILES, nv, &e2));

  /* Profiles: an rtsp URL only. */
  g_autoptr (GVariant) prof = g_variant_ref_sink (g_variant_new_parsed (
    "{'ok': <true>, 'have_device': <false>, 'manufacturer': <''>, 'model': <''>, "
    "'firmware': <''>, 'profiles': <[('m', 'main', 'H264', 640, 360, 15, "
    "'http://10.0.0.1/x')]>}"));
  g_autoptr (GError) e3 = NULL;
  g_assert_null (nvr_prober_result_json (NVR_PROBE_ONVIF_PROFILES, prof, &e3));
  g_assert_nonnull (strstr (e3->message, "profiles"));
}

static void
test_rtsp_url (void)
{
  static const struct {
    const char *url;
    gboolean ok;
  } cases[] = {
    { "rtsp://10.0.0.1/stream", TRUE },
    { "rtsps://cam.lan:322/s?x=1", TRUE },
    { "rtsp://user:pw@10.0.0.1/stream", FALSE },
    { "http://10.0.0.1/stream", FALSE },
    { "rtsp:///nohost", FALSE },
    { "not a url", FALSE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GError) error = NULL;
    g_assert_cmpint (nvr_prober_check_rtsp_url (cases[i].url, &error), ==, cases[i].ok);
    if (!cases[i].ok)
      g_assert_null (strstr (error->message, "pw"));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_assert_cmpint (argc, ==, 2);
  corpus_dir = argv[1];
  g_test_add_func ("/onvif/digest", test_digest);
  g_test_add_func ("/onvif/parse-examples", test_parse_examples);
  g_test_add_func ("/onvif/parse-refusals", test_parse_refusals);
  g_test_add_func ("/onvif/device-url", test_device_url);
  g_test_add_func ("/prober/result-check", test_result_check);
  g_test_add_func ("/prober/rtsp-url", test_rtsp_url);
  return g_test_run ();
}
