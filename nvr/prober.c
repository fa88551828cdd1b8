/* prober — spawns `nvr camera-probe` processes and checks what they answer (prober.h).
 * Main loop only. A probe is one GSubprocess plus one wire channel; it ends by its result, by
 * its exit, or by the time limit (SIGKILL). Whichever comes first answers; the rest is ignored.
 * The password travels only over the socketpair, never in argv, the environment or a log. */
#define G_LOG_DOMAIN "nvr-prober"

#include "prober.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wire.h"

G_DEFINE_QUARK (nvr-prober-error-quark, nvr_prober_error)

#define DETAIL_MAX 512
#define PROBE_LINGER_S 2         /* after its answer (or time limit), before SIGKILL */
#define FIELD_MAX 1024

typedef struct {
  NvrProber *prober;
  NvrProbeKind kind;
  GSubprocess *proc;
  NvrWireChannel *ch;
  guint limit_source;
  gboolean done;           /* the callback ran (or was dropped by nvr_prober_free) */
  gboolean exited;         /* the process was reaped */
  NvrProberDone cb;
  gpointer user_data;
} Probe;

struct _NvrProber {
  char *self_exe;
  GCancellable *cancel;    /* cancelled by nvr_prober_free: pending waits touch nothing */
  GPtrArray *running;      /* Probe*, at most NVR_PROBER_MAX_RUNNING */
};

/* ---- pure: checking a result ---- */

static gboolean
text_ok (const char *s, gsize max)
{
  if (s == NULL || strlen (s) > max || !g_utf8_validate (s, -1, NULL))
    return FALSE;
  for (const char *p = s; *p; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      return FALSE;
  return TRUE;
}

static gboolean
bad (GError **error, const char *field)
{
  g_set_error (error, NVR_PROBER_ERROR, NVR_PROBER_ERROR_FAILED,
               "the probe's result has an invalid '%s'", field);
  return FALSE;
}

static gboolean
get (GVariant *f, const char *key, const char *type, GVariant **out, GError **error)
{
  *out = g_variant_lookup_value (f, key, G_VARIANT_TYPE (type));
  return *out != NULL || bad (error, key);
}

static gboolean
get_int (GVariant *f, const char *key, gint lo, gint hi, gint *out, GError **error)
{
  g_autoptr (GVariant) v = NULL;
  if (!get (f, key, "i", &v, error))
    return FALSE;
  *out = g_variant_get_int32 (v);
  return (*out >= lo && *out <= hi) || bad (error, key);
}

static gboolean
get_str (GVariant *f, const char *key, gsize max, char **out, GError **error)
{
  g_autoptr (GVariant) v = NULL;
  if (!get (f, key, "s", &v, error))
    return FALSE;
  const char *s = g_variant_get_string (v, NULL);
  if (!text_ok (s, max))
    return bad (error, key);
  *out = g_strdup (s);
  return TRUE;
}

static const char *const test_reasons[] = { "unreachable", "unauthorized", "no-video",
                                            "unsupported-codec", "timeout", "bad-url", NULL };
static const char *const onvif_reasons[] = { "unreachable", "unauthorized", "malformed", "fault",
                                             "timeout", "bad-address", NULL };

static JsonNode *
failure_json (const char *reason, const char *detail)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ok");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_set_member_name (b, "reason");
  json_builder_add_string_value (b, reason);
  json_builder_set_member_name (b, "detail");
  json_builder_add_string_value (b, detail);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static JsonNode *
test_json (GVariant *f, GError **error)
{
  g_autofree char *codec = NULL, *audio = NULL;
  gint w, h, fn, fd, rate, ch, sw, sh;
  if (!get_str (f, "video_codec", 8, &codec, error) ||
      !get_int (f, "width", 1, 16384, &w, error) || !get_int (f, "height", 1, 16384, &h, error) ||
      !get_int (f, "fps_n", 0, 100000, &fn, error) || !get_int (f, "fps_d", 0, 100000, &fd, error) ||
      !get_str (f, "audio_codec", 32, &audio, error) ||
      !get_int (f, "audio_rate", 0, 384000, &rate, error) ||
      !get_int (f, "audio_channels", 0, 8, &ch, error) ||
      !get_int (f, "still_width", 1, 640, &sw, error) ||
      !get_int (f, "still_height", 1, 16384, &sh, error))
    return NULL;
  if (strcmp (codec, "h264") != 0 && strcmp (codec, "h265") != 0) {
    bad (error, "video_codec");
    return NULL;
  }
  if (strspn (audio, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen (audio)) {
    bad (error, "audio_codec");
    return NULL;
  }
  g_autoptr (GVariant) still = NULL;
  if (!get (f, "still", "ay", &still, error))
    return NULL;
  gsize n = 0;
  const guint8 *jpeg = g_variant_get_fixed_array (still, &n, 1);
  /* A JPEG: SOI first, EOI last. Decoding it is the browser's job, in an <img>. */
  if (n < 4 || n > 512 * 1024 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 || jpeg[n - 2] != 0xFF ||
      jpeg[n - 1] != 0xD9) {
    bad (error, "still");
    return NULL;
  }
  g_autofree char *b64 = g_base64_encode (jpeg, n);
  g_autofree char *data_url = g_strconcat ("data:image/jpeg;base64,", b64, NULL);

  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ok");
  json_builder_add_boolean_value (b, TRUE);
  json_builder_set_member_name (b, "video");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "codec");
  json_builder_add_string_value (b, codec);
  json_builder_set_member_name (b, "width");
  json_builder_add_int_value (b, w);
  json_builder_set_member_name (b, "height");
  json_builder_add_int_value (b, h);
  json_builder_set_member_name (b, "fps");
  if (fn > 0 && fd > 0)
    json_builder_add_double_value (b, (double) ((gint64) fn * 100 / fd) / 100.0);
  else
    json_builder_add_null_value (b);   /* the stream does not say */
  json_builder_end_object (b);
  json_builder_set_member_name (b, "audio");
  if (*audio == '\0') {
    json_builder_add_null_value (b);
  } else {
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "codec");
    json_builder_add_string_value (b, audio);
    json_builder_set_member_name (b, "rate");
    json_builder_add_int_value (b, rate);
    json_builder_set_member_name (b, "channels");
    json_builder_add_int_value (b, ch);
    json_builder_end_object (b);
  }
  json_builder_set_member_name (b, "still");
  json_builder_add_string_value (b, data_url);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static gboolean
url_ok (const char *s, const char *const *schemes)
{
  if (!text_ok (s, FIELD_MAX) || !g_uri_is_valid (s, G_URI_FLAGS_ENCODED | G_URI_FLAGS_NON_DNS,
                                                   NULL))
    return FALSE;
  for (guint i = 0; schemes[i]; i++)
    if (g_ascii_strncasecmp (s, schemes[i], strlen (schemes[i])) == 0)
      return TRUE;
  return FALSE;
}

static JsonNode *
profiles_json (GVariant *f, GError **error)
{
  static const char *const rtsp[] = { "rtsp://", "rtsps://", NULL };
  g_autoptr (GVariant) have = NULL, profiles = NULL;
  g_autofree char *manufacturer = NULL, *model = NULL, *firmware = NULL;
  if (!get (f, "have_device", "b", &have, error) ||
      !get_str (f, "manufacturer", 256, &manufacturer, error) ||
      !get_str (f, "model", 256, &model, error) || !get_str (f, "firmware", 256, &firmware, error) ||
      !get (f, "profiles", "a(sssiiis)", &profiles, error))
    return NULL;
  gsize n = g_variant_n_children (profiles);
  if (n == 0 || n > 32) {
    bad (error, "profiles");
    return NULL;
  }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ok");
  json_builder_add_boolean_value (b, TRUE);
  if (g_variant_get_boolean (have)) {
    json_builder_set_member_name (b, "device");
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "manufacturer");
    json_builder_add_string_value (b, manufacturer);
    json_builder_set_member_name (b, "model");
    json_builder_add_string_value (b, model);
    json_builder_set_member_name (b, "firmware");
    json_builder_add_string_value (b, firmware);
    json_builder_end_object (b);
  }
  json_builder_set_member_name (b, "profiles");
  json_builder_begin_array (b);
  for (gsize i = 0; i < n; i++) {
    const char *token, *name, *enc, *url;
    gint32 w, h, fps;
    g_variant_get_child (profiles, i, "(&s&s&siii&s)", &token, &name, &enc, &w, &h, &fps, &url);
    if (!text_ok (token, 256) || *token == '\0' || !text_ok (name, 256) || !text_ok (enc, 256) ||
        w < 0 || w > 16384 || h < 0 || h > 16384 || fps < 0 || fps > 1000 || !url_ok (url, rtsp)) {
      bad (error, "profiles");
      return NULL;
    }
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "token");
    json_builder_add_string_value (b, token);
    json_builder_set_member_name (b, "name");
    json_builder_add_string_value (b, name);
    json_builder_set_member_name (b, "encoding");
    json_builder_add_string_value (b, enc);
    json_builder_set_member_name (b, "width");
    json_builder_add_int_value (b, w);
    json_builder_set_member_name (b, "height");
    json_builder_add_int_value (b, h);
    json_builder_set_member_name (b, "fps");
    json_builder_add_int_value (b, fps);
    json_builder_set_member_name (b, "rtsp_url");
    json_builder_add_string_value (b, url);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static JsonNode *
scan_json (GVariant *f, GError **error)
{
  static const char *const http[] = { "http://", "https://", NULL };
  g_autoptr (GVariant) devices = NULL;
  if (!get (f, "devices", "a(ssasas)", &devices, error))
    return NULL;
  gsize n = g_variant_n_children (devices);
  if (n > 64) {
    bad (error, "devices");
    return NULL;
  }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ok");
  json_builder_add_boolean_value (b, TRUE);
  json_builder_set_member_name (b, "devices");
  json_builder_begin_array (b);
  for (gsize i = 0; i < n; i++) {
    const char *host, *endpoint;
    g_autofree const char **xaddrs = NULL, **scopes = NULL;
    g_variant_get_child (devices, i, "(&s&s^a&s^a&s)", &host, &endpoint, &xaddrs, &scopes);
    if (!text_ok (host, 256) || *host == '\0' || !text_ok (endpoint, 256) || *endpoint == '\0' ||
        g_strv_length ((char **) xaddrs) > 16 || g_strv_length ((char **) scopes) > 16) {
      bad (error, "devices");
      return NULL;
    }
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "address");
    json_builder_add_string_value (b, host);
    json_builder_set_member_name (b, "endpoint");
    json_builder_add_string_value (b, endpoint);
    json_builder_set_member_name (b, "xaddrs");
    json_builder_begin_array (b);
    for (guint j = 0; xaddrs[j]; j++) {
      if (!url_ok (xaddrs[j], http)) {
        bad (error, "devices");
        return NULL;
      }
      json_builder_add_string_value (b, xaddrs[j]);
    }
    json_builder_end_array (b);
    json_builder_set_member_name (b, "scopes");
    json_builder_begin_array (b);
    for (guint j = 0; scopes[j]; j++) {
      if (!text_ok (scopes[j], 256)) {
        bad (error, "devices");
        return NULL;
      }
      json_builder_add_string_value (b, scopes[j]);
    }
    json_builder_end_array (b);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

JsonNode *
nvr_prober_result_json (NvrProbeKind kind, GVariant *fields, GError **error)
{
  g_autoptr (GVariant) ok = NULL;
  if (fields == NULL || !g_variant_is_of_type (fields, G_VARIANT_TYPE_VARDICT)) {
    bad (error, "fields");
    return NULL;
  }
  if (!get (fields, "ok", "b", &ok, error))
    return NULL;
  if (!g_variant_get_boolean (ok)) {
    g_autofree char *reason = NULL, *detail = NULL;
    if (!get_str (fields, "reason", 32, &reason, error) ||
        !get_str (fields, "detail", DETAIL_MAX, &detail, error))
      return NULL;
    if (!g_strv_contains (kind == NVR_PROBE_TEST ? test_reasons : onvif_reasons, reason)) {
      bad (error, "reason");
      return NULL;
    }
    return failure_json (reason, detail);
  }
  switch (kind) {
  case NVR_PROBE_TEST: return test_json (fields, error);
  case NVR_PROBE_ONVIF_PROFILES: return profiles_json (fields, error);
  case NVR_PROBE_ONVIF_SCAN: return scan_json (fields, error);
  default: bad (error, "kind"); return NULL;
  }
}

gboolean
nvr_prober_check_rtsp_url (const char *url, GError **error)
{
  g_autoptr (GUri) uri = url && strlen (url) <= FIELD_MAX
    ? g_uri_parse (url, G_URI_FLAGS_HAS_PASSWORD | G_URI_FLAGS_ENCODED, NULL) : NULL;
  const char *scheme = uri ? g_uri_get_scheme (uri) : NULL;
  if (uri == NULL || scheme == NULL || g_uri_get_host (uri) == NULL ||
      *g_uri_get_host (uri) == '\0' ||
      !(g_ascii_strcasecmp (scheme, "rtsp") == 0 || g_ascii_strcasecmp (scheme, "rtsps") == 0)) {
    g_set_error (error, NVR_PROBER_ERROR, NVR_PROBER_ERROR_INVALID,
                 "main_url is not an rtsp:// URL with a host");
    return FALSE;
  }
  if (g_uri_get_user (uri) != NULL) {
    g_set_error (error, NVR_PROBER_ERROR, NVR_PROBER_ERROR_INVALID,
                 "main_url holds credentials: give them as user and password instead");
    return FALSE;
  }
  return TRUE;
}

/* ---- processes ---- */

static void
probe_free (Probe *p)
{
  if (p->limit_source)
    g_source_remove (p->limit_source);
  if (p->ch != NULL) {
    nvr_wire_channel_close (p->ch);
    nvr_wire_channel_unref (p->ch);
  }
  if (p->proc != NULL) {
    if (!p->exited)
      g_subprocess_force_exit (p->proc);
    g_object_unref (p->proc);
  }
  g_free (p);
}

static gboolean
on_linger (gpointer data)
{
  Probe *p = data;
  p->limit_source = 0;
  g_subprocess_force_exit (p->proc);
  return G_SOURCE_REMOVE;
}

/* Answers once. A probe that is still alive gets PROBE_LINGER_S to exit by itself (its own
 * clean-up and the sanitizers' reports run then), then SIGKILL; its exit callback reaps it. */
static void
finish (Probe *p, JsonNode *result)
{
  if (p->done)
    return;
  p->done = TRUE;
  if (p->limit_source) {
    g_source_remove (p->limit_source);
    p->limit_source = 0;
  }
  if (p->ch != NULL)
    nvr_wire_channel_close (p->ch);
  if (!p->exited)
    p->limit_source = g_timeout_add_seconds (PROBE_LINGER_S, on_linger, p);
  p->cb (result, p->user_data);
  if (p->exited)
    g_ptr_array_remove (p->prober->running, p);
}

static void
finish_failure (Probe *p, const char *reason, const char *detail)
{
  g_autoptr (JsonNode) node = failure_json (reason, detail);
  finish (p, node);
}

static void
on_message (NvrWireChannel *ch, const char *kind, GVariant *fields, gpointer data)
{
  Probe *p = data;
  if (p->done || strcmp (kind, "result") != 0)
    return;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = nvr_prober_result_json (p->kind, fields, &error);
  if (node == NULL) {
    g_warning ("Failed to accept a probe's result: %s", error->message);
    finish_failure (p, p->kind == NVR_PROBE_TEST ? "unreachable" : "malformed",
                    "the probe answered something invalid");
    return;
  }
  finish (p, node);
}

static void
on_closed (NvrWireChannel *ch, const GError *error, gpointer data)
{
  Probe *p = data;
  if (error != NULL)
    g_warning ("Probe channel broke: %s", error->message);
  finish_failure (p, p->kind == NVR_PROBE_TEST ? "unreachable" : "malformed",
                  "the probe ended without an answer");
}

static gboolean
on_limit (gpointer data)
{
  Probe *p = data;
  p->limit_source = 0;
  g_warning ("A probe passed its time limit; killing it");
  g_subprocess_force_exit (p->proc);
  finish_failure (p, "timeout", "the camera did not answer in time");
  return G_SOURCE_REMOVE;
}

/* The exit may be seen before the result that was written just before it: a probe that exited
 * without answering is answered for by on_closed, at the channel's end of file. */
static void
on_probe_exit (GObject *src, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  if (!g_subprocess_wait_finish (G_SUBPROCESS (src), res, &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;   /* the prober is gone, and @data with it */
  Probe *p = data;
  p->exited = TRUE;
  if (p->done)
    g_ptr_array_remove (p->prober->running, p);
}

NvrProber *
nvr_prober_new (void)
{
  NvrProber *pr = g_new0 (NvrProber, 1);
  pr->self_exe = g_file_read_link ("/proc/self/exe", NULL);
  pr->cancel = g_cancellable_new ();
  pr->running = g_ptr_array_new_with_free_func ((GDestroyNotify) probe_free);
  return pr;
}

void
nvr_prober_free (NvrProber *pr)
{
  if (pr == NULL)
    return;
  for (guint i = 0; i < pr->running->len; i++) {
    Probe *p = pr->running->pdata[i];
    p->done = TRUE;
  }
  g_cancellable_cancel (pr->cancel);
  g_ptr_array_unref (pr->running);
  g_object_unref (pr->cancel);
  g_free (pr->self_exe);
  g_free (pr);
}

typedef struct {
  NvrProberDone cb;
  gpointer user_data;
  JsonNode *node;
} Immediate;

static gboolean
answer_immediate (gpointer data)
{
  Immediate *im = data;
  im->cb (im->node, im->user_data);
  json_node_unref (im->node);
  g_free (im);
  return G_SOURCE_REMOVE;
}

gboolean
nvr_prober_start (NvrProber *pr, NvrProbeKind kind, const char *target, const char *user,
                  const char *password, const char *transport, NvrProberDone done,
                  gpointer user_data, GError **error)
{
  target = target ? target : "";
  user = user ? user : "";
  password = password ? password : "";
  transport = transport && *transport ? transport : "auto";
  if (strlen (user) > 128 || strlen (password) > 128 || !g_utf8_validate (user, -1, NULL) ||
      !g_utf8_validate (password, -1, NULL)) {
    g_set_error (error, NVR_PROBER_ERROR, NVR_PROBER_ERROR_INVALID,
                 "user and password must be UTF-8 of at most 128 bytes");
    return FALSE;
  }
  if (strcmp (transport, "auto") != 0 && strcmp (transport, "tcp") != 0 &&
      strcmp (transport, "udp") != 0) {
    g_set_error (error, NVR_PROBER_ERROR, NVR_PROBER_ERROR_INVALID,
                 "transport must be auto, tcp or udp");
    return FALSE;
  }
  if (kind == NVR_PROBE_TEST) {
    g_autoptr (GError) why = NULL;
    if (!nvr_prober_check_rtsp_url (target, &why)) {
      /* Not a protocol error: the answer says so, as for any camera that cannot be used. */
      Immediate *im = g_new0 (Immediate, 1);
      im->cb = done;
      im->user_data = user_data;
      im->node = failure_json ("bad-url", why->message);
      g_idle_add (answer_immediate, im);
      return TRUE;
    }
  }
  /* Probes still talking to a camera; one that answered is only exiting (≤ PROBE_LINGER_S). */
  guint talking = 0;
  for (guint i = 0; i < pr->running->len; i++)
    talking += !((Probe *) pr->running->pdata[i])->done;
  if (talking >= NVR_PROBER_MAX_RUNNING) {
    g_set_error (error, NVR_PROBER_ERROR, NVR_PROBER_ERROR_BUSY,
                 "%d camera probes are running already; try again in a few seconds",
                 NVR_PROBER_MAX_RUNNING);
    return FALSE;
  }
  if (pr->self_exe == NULL) {
    g_set_error (error, NVR_PROBER_ERROR, NVR_PROBER_ERROR_FAILED, "cannot find the nvr binary");
    return FALSE;
  }
  int sv[2];
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    int e = errno;
    g_set_error (error, NVR_PROBER_ERROR, NVR_PROBER_ERROR_FAILED,
                 "Failed to create a socketpair: %s", g_strerror (e));
    return FALSE;
  }
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_take_fd (launcher, sv[1], 3);
  g_autoptr (GError) spawn_error = NULL;
  GSubprocess *proc = g_subprocess_launcher_spawn (launcher, &spawn_error, pr->self_exe,
                                                   "camera-probe", NULL);
  if (proc == NULL) {
    close (sv[0]);
    g_set_error (error, NVR_PROBER_ERROR, NVR_PROBER_ERROR_FAILED,
                 "Failed to start a probe: %s", spawn_error->message);
    return FALSE;
  }
  Probe *p = g_new0 (Probe, 1);
  p->prober = pr;
  p->kind = kind;
  p->proc = proc;
  p->cb = done;
  p->user_data = user_data;
  p->ch = nvr_wire_channel_new (sv[0], on_message, on_closed, p);
  g_ptr_array_add (pr->running, p);

  static const char *const whats[] = { "test", "onvif-profiles", "onvif-scan" };
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "what", g_variant_new_string (whats[kind]));
  g_variant_builder_add (&b, "{sv}", kind == NVR_PROBE_TEST ? "main_url" : "address",
                         g_variant_new_string (target));
  g_variant_builder_add (&b, "{sv}", "user", g_variant_new_string (user));
  g_variant_builder_add (&b, "{sv}", "password", g_variant_new_string (password));
  g_variant_builder_add (&b, "{sv}", "transport", g_variant_new_string (transport));
  g_autoptr (GError) send_error = NULL;
  if (!nvr_wire_channel_send (p->ch, "request", g_variant_builder_end (&b), &send_error))
    g_warning ("Failed to send a probe its request: %s", send_error->message);
  guint limit = kind == NVR_PROBE_TEST ? NVR_PROBER_TEST_LIMIT_S
              : kind == NVR_PROBE_ONVIF_PROFILES ? NVR_PROBER_ONVIF_LIMIT_S
              : NVR_PROBER_SCAN_LIMIT_S;
  p->limit_source = g_timeout_add_seconds (limit, on_limit, p);
  g_subprocess_wait_async (proc, pr->cancel, on_probe_exit, p);
  return TRUE;
}
