/* Live bytes from a worker are untrusted (docs/design/auth.md "Live view"): the real supervisor
 * and NvrLiveHub against a lying camera worker (this binary re-executed as `camera-worker`). Its
 * first incarnation sends a fragment before any init segment (must be dropped), a good init and
 * key fragment (must reach the viewer), then a fragment that is not moof+mdat (must kill the
 * worker, and end the viewer); the second sends an init whose codec field does not match its
 * avcC (killed); the third behaves, and a new viewer gets exactly its init + fragment.
 * The good bytes come from a real mp4mux stream (argv[1], tests/fuzz/corpus/fmp4). */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "catalog.h"
#include "config.h"
#include "fmp4.h"
#include "live.h"
#include "supervisor.h"
#include "wire.h"

#define STREAM_ENV "TEST_LIVE_UNTRUSTED_STREAM"

static GBytes *good_init, *good_key;
static char good_codec[NVR_FMP4_CODEC_MAX];

static void
load_stream (const char *path)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  g_autoptr (NvrFmp4Splitter) s = nvr_fmp4_splitter_new (NVR_WIRE_MAX_FRAME);
  g_assert_true (nvr_fmp4_splitter_feed (s, (const guint8 *) data, len, NULL));
  for (;;) {
    GBytes *unit = NULL;
    gboolean key = FALSE;
    NvrFmp4Kind k = nvr_fmp4_splitter_pop (s, &unit, &key, NULL);
    if (k == NVR_FMP4_NONE)
      break;
    if (k == NVR_FMP4_INIT && good_init == NULL) {
      good_init = unit;
      g_strlcpy (good_codec, nvr_fmp4_splitter_codec (s), sizeof good_codec);
    } else if (k == NVR_FMP4_FRAGMENT && key && good_key == NULL) {
      good_key = unit;
    } else if (unit != NULL) {
      g_bytes_unref (unit);
    }
  }
  g_assert_nonnull (good_init);
  g_assert_nonnull (good_key);
}

/* ---- the lying worker ---- */

typedef struct {
  GMainLoop *loop;
  NvrWireChannel *ch;
  guint incarnation;
  gboolean sent;
} Evil;

static void
evil_live (Evil *e, const char *kind, GBytes *data, const char *codec, gboolean key)
{
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "data",
                         g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, data, TRUE));
  if (codec != NULL)
    g_variant_builder_add (&b, "{sv}", "codec", g_variant_new_string (codec));
  else
    g_variant_builder_add (&b, "{sv}", "key", g_variant_new_boolean (key));
  nvr_wire_channel_send (e->ch, kind, g_variant_builder_end (&b), NULL);
}

static void
evil_act (Evil *e)
{
  static const guint8 not_a_fragment[] = { 0, 0, 0, 16, 'm', 'o', 'o', 'f', 0, 0, 0, 64,
                                           't', 'r', 'a', 'f' };
  g_autoptr (GBytes) bad = g_bytes_new_static (not_a_fragment, sizeof not_a_fragment);
  g_printerr ("evil worker %u: lying\n", e->incarnation);
  switch (e->incarnation) {
  case 1:
    evil_live (e, "live-fragment", good_key, NULL, TRUE);   /* before any init: dropped */
    evil_live (e, "live-init", good_init, good_codec, FALSE);
    evil_live (e, "live-fragment", good_key, NULL, TRUE);
    evil_live (e, "live-fragment", bad, NULL, TRUE);        /* violation */
    break;
  case 2:
    evil_live (e, "live-init", good_init, "avc1.640028", FALSE);   /* violation */
    break;
  default:
    evil_live (e, "live-init", good_init, good_codec, FALSE);
    evil_live (e, "live-fragment", good_key, NULL, TRUE);
    break;
  }
}

static void
evil_on_message (NvrWireChannel *ch, const char *kind, GVariant *fields, gpointer data)
{
  Evil *e = data;
  if (strcmp (kind, "config") == 0) {
    /* Which incarnation this is: a counter file in the storage root. */
    g_autofree char *path = g_build_filename (nvr_wire_get_str (fields, "storage_root", "/"),
                                              "evil-count", NULL);
    g_autofree char *text = NULL;
    g_file_get_contents (path, &text, NULL, NULL);
    e->incarnation = (text ? (guint) g_ascii_strtoull (text, NULL, 10) : 0) + 1;
    g_autofree char *n = g_strdup_printf ("%u", e->incarnation);
    g_file_set_contents (path, n, -1, NULL);
    nvr_wire_channel_send (ch, "state",
                           g_variant_new_parsed ("{'state': <'streaming'>, 'codec': <'h264'>}"),
                           NULL);
  } else if (strcmp (kind, "live") == 0 && !e->sent) {
    gboolean on = FALSE;
    if (g_variant_lookup (fields, "on", "b", &on) && on) {
      e->sent = TRUE;
      evil_act (e);
    }
  } else if (strcmp (kind, "stop") == 0) {
    g_main_loop_quit (e->loop);
  }
}

static void
evil_on_closed (NvrWireChannel *ch, const GError *error, gpointer data)
{
  g_main_loop_quit (((Evil *) data)->loop);
}

static int
evil_main (void)
{
  load_stream (g_getenv (STREAM_ENV));
  Evil e = { g_main_loop_new (NULL, FALSE), NULL, 0, FALSE };
  e.ch = nvr_wire_channel_new (3, evil_on_message, evil_on_closed, &e);
  nvr_wire_channel_send (e.ch, "hello", g_variant_new_parsed ("{'pid': <%i>}", (gint32) getpid ()),
                         NULL);
  g_main_loop_run (e.loop);
  nvr_wire_channel_flush (e.ch, 500);
  nvr_wire_channel_unref (e.ch);
  g_main_loop_unref (e.loop);
  return 0;
}

/* ---- the daemon side ---- */

typedef struct {
  GByteArray *got;
  guint chunks;
  guint ended;
} Viewer;

static void
v_write (GBytes *chunk, gpointer data)
{
  Viewer *v = data;
  gsize n;
  const guint8 *p = g_bytes_get_data (chunk, &n);
  g_assert_cmpuint (v->ended, ==, 0);
  g_byte_array_append (v->got, p, (guint) n);
  v->chunks++;
}

static gsize
v_queued (gpointer data)
{
  return 0;
}

static void
v_ended (gpointer data)
{
  ((Viewer *) data)->ended++;
}

static const NvrLiveSink sink = { v_write, v_queued, v_ended };

/* Iterates the main loop until @done or @timeout_s. */
static void
spin_until (gboolean (*done) (Viewer *), Viewer *v, int timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;
  while (!done (v) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
}

static gboolean
is_ended (Viewer *v)
{
  return v->ended > 0;
}

static gboolean
has_two_chunks (Viewer *v)
{
  return v->chunks >= 2;
}

static gboolean
tick (gpointer data)
{
  return G_SOURCE_CONTINUE;   /* keeps spin_until's blocking iteration waking up */
}

static void
assert_good (const Viewer *v)
{
  g_autoptr (GByteArray) want = g_byte_array_new ();
  gsize n;
  const guint8 *p = g_bytes_get_data (good_init, &n);
  g_byte_array_append (want, p, (guint) n);
  p = g_bytes_get_data (good_key, &n);
  g_byte_array_append (want, p, (guint) n);
  g_assert_cmpmem (v->got->data, v->got->len, want->data, want->len);
}

int
main (int argc, char **argv)
{
  if (argc > 1 && strcmp (argv[1], "camera-worker") == 0)
    return evil_main ();
  g_assert_cmpint (argc, ==, 2);
  load_stream (argv[1]);
  g_setenv (STREAM_ENV, argv[1], TRUE);

  g_autoptr (GError) error = NULL;
  g_autofree char *root = g_dir_make_tmp ("hearth-live-untrusted-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *conf = g_strdup_printf (
      "[daemon]\nadmin_socket = %s/admin.sock\n[storage]\nroot = %s\n[recording]\n"
      "backoff_initial_ms = 200\nbackoff_max_ms = 400\n", root, root);
  g_autoptr (NvrConfig) config = nvr_config_parse (conf, strlen (conf), "test", &error);
  g_assert_no_error (error);
  g_autofree char *db = g_build_filename (root, "catalog.db", NULL);
  g_autoptr (NvrCatalog) catalog = nvr_catalog_open (db, &error);
  g_assert_no_error (error);
  NvrCameraRow row = { .name = "liar", .main_url = "rtsp://127.0.0.1:9/none", .username = "",
                       .password = "", .transport = "default" };
  gint64 cam_id = 0;
  g_assert_true (nvr_catalog_camera_add (catalog, &row, g_get_real_time (), &cam_id, &error));
  row.id = cam_id;

  NvrSupervisor *sup = nvr_supervisor_new (config, catalog);
  NvrLiveHub *hub = nvr_live_hub_new (sup);
  guint ticker = g_timeout_add (100, tick, NULL);
  nvr_supervisor_add (sup, &row);

  /* Incarnation 1: the viewer gets exactly init + key fragment, then is ended when the worker
   * is killed for its malformed fragment. */
  Viewer a = { g_byte_array_new (), 0, 0 };
  g_assert_cmpuint (nvr_live_hub_attach (hub, cam_id, 1, &sink, &a, NULL), >, 0);
  spin_until (is_ended, &a, 20);
  g_assert_cmpuint (a.ended, ==, 1);
  assert_good (&a);
  g_print ("viewer 1: %u bytes (init + key fragment), ended when the worker was killed\n",
           a.got->len);

  /* Incarnation 2 lies about the codec and is killed; incarnation 3 behaves. */
  Viewer b = { g_byte_array_new (), 0, 0 };
  g_assert_cmpuint (nvr_live_hub_attach (hub, cam_id, 1, &sink, &b, NULL), >, 0);
  spin_until (has_two_chunks, &b, 20);
  g_assert_cmpuint (b.ended, ==, 0);
  assert_good (&b);
  g_assert_cmpstr (nvr_live_hub_codec (hub, cam_id), ==, good_codec);
  g_autoptr (GPtrArray) st = nvr_supervisor_status (sup);
  NvrCameraStatus *s = st->pdata[0];
  g_print ("viewer 2: %u bytes from the third worker; %u worker restart(s)\n", b.got->len,
           s->worker_restarts);
  g_assert_cmpuint (s->worker_restarts, ==, 2);

  g_source_remove (ticker);
  nvr_live_hub_free (hub);
  nvr_supervisor_shutdown (sup, 3000);
  nvr_supervisor_free (sup);
  g_byte_array_unref (a.got);
  g_byte_array_unref (b.got);
  g_autofree char *count = g_build_filename (root, "evil-count", NULL);
  g_unlink (count);
  g_unlink (db);
  g_autofree char *wal = g_strconcat (db, "-wal", NULL), *shm = g_strconcat (db, "-shm", NULL);
  g_unlink (wal);
  g_unlink (shm);
  g_autofree char *rec = g_build_filename (root, "recordings", NULL);
  g_rmdir (rec);
  g_rmdir (root);
  g_print ("PASS\n");
  return 0;
}
