/* Live view end to end below HTTP (driven by test_live.py): the real supervisor spawns real
 * camera workers (this binary re-executed as `camera-worker`, like `nvr`) for the fakecam URLs
 * given, and a real NvrLiveHub fans their live streams out to clients that write what they get
 * to files, one fMP4 stream per client: an early client per camera (attached before any worker
 * ran), a late one (attached mid-stream: must start at a keyframe), a client that recheck
 * must end, and with --again one more per camera (after test_live.py made a camera reconnect). Prints one JSON line per client; test_live.py reads the files with idread. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "config.h"
#include "live.h"
#include "supervisor.h"
#include "worker.h"

#define DENIED_DEVICE 99

typedef struct {
  char *path;
  FILE *f;
  FILE *idx;           /* "<offset> <wall clock µs>" per chunk: when each fragment arrived */
  gint64 camera_id;
  const char *role;
  guint64 id;
  guint64 bytes;
  guint chunks;
  guint ended;
  gint64 attached_us;
  gint64 first_us;     /* monotonic time of the first chunk (the init segment) */
  gint64 second_us;    /* ... and of the first fragment */
} Client;

static void
c_write (GBytes *chunk, gpointer data)
{
  Client *c = data;
  gsize n;
  const void *p = g_bytes_get_data (chunk, &n);
  fprintf (c->idx, "%" G_GUINT64_FORMAT " %" G_GINT64_FORMAT "\n", c->bytes, g_get_real_time ());
  g_assert_cmpuint (fwrite (p, 1, n, c->f), ==, n);
  fflush (c->f);
  c->bytes += n;
  if (c->chunks == 0)
    c->first_us = g_get_monotonic_time ();
  else if (c->chunks == 1)
    c->second_us = g_get_monotonic_time ();
  c->chunks++;
}

static gsize
c_queued (gpointer data)
{
  return 0;   /* written synchronously */
}

static void
c_ended (gpointer data)
{
  ((Client *) data)->ended++;
}

static const NvrLiveSink sink = { c_write, c_queued, c_ended };

static Client *
client_attach (NvrLiveHub *hub, const char *out, gint64 camera_id, const char *name,
               const char *role, gint64 device_id)
{
  Client *c = g_new0 (Client, 1);
  c->path = g_strdup_printf ("%s/%s-%s.mp4", out, name, role);
  c->f = fopen (c->path, "wb");
  g_assert_nonnull (c->f);
  g_autofree char *idx = g_strconcat (c->path, ".idx", NULL);
  c->idx = fopen (idx, "w");
  g_assert_nonnull (c->idx);
  c->camera_id = camera_id;
  c->role = role;
  c->attached_us = g_get_monotonic_time ();
  c->id = nvr_live_hub_attach (hub, camera_id, device_id, &sink, c, NULL);
  g_assert_cmpuint (c->id, >, 0);
  return c;
}

static gboolean
deny_device (gint64 camera_id, gint64 device_id, gpointer data)
{
  return device_id != DENIED_DEVICE;
}

/* The daemon's main loop stops reading its workers for a while (a slow disk, a busy catalog). */
static gboolean
stall_cb (gpointer data)
{
  guint ms = GPOINTER_TO_UINT (data);
  g_printerr ("test-live: main loop stalled for %u ms\n", ms);
  g_usleep ((gulong) ms * 1000);
  return G_SOURCE_REMOVE;
}

static gboolean
quit_cb (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static void
run_for (GMainLoop *loop, guint ms)
{
  g_timeout_add (ms, quit_cb, loop);
  g_main_loop_run (loop);
}

int
main (int argc, char **argv)
{
  if (argc > 1 && strcmp (argv[1], "camera-worker") == 0)
    return nvr_worker_main (argc - 1, argv + 1);

  g_autofree char *root = NULL, *out = NULL;
  int seconds = 12, late = 6, again = 0;
  gboolean no_live = FALSE;
  int stall_at = 0, stall_for = 0;
  GOptionEntry entries[] = {
    { "root", 0, 0, G_OPTION_ARG_FILENAME, &root, "Storage root", "DIR" },
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &out, "Where client streams are written", "DIR" },
    { "seconds", 0, 0, G_OPTION_ARG_INT, &seconds, "Run this long", "S" },
    { "late", 0, 0, G_OPTION_ARG_INT, &late, "Attach late clients after this long", "S" },
    { "again", 0, 0, G_OPTION_ARG_INT, &again, "Attach more clients after this long", "S" },
    { "stall-at", 0, 0, G_OPTION_ARG_INT, &stall_at, "Block the main loop at this time", "S" },
    { "stall-for", 0, 0, G_OPTION_ARG_INT, &stall_for, "... for this long", "S" },
    { "no-live", 0, 0, G_OPTION_ARG_NONE, &no_live, "Attach no client (CPU baseline)", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("URL... - live hub end to end");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || root == NULL || out == NULL ||
      argc < 2 || late >= seconds || (again != 0 && (again <= late || again >= seconds))) {
    g_printerr ("test-live: %s\n", error ? error->message : "--root, --out and URLs needed");
    return 2;
  }
  g_assert_cmpint (g_mkdir_with_parents (root, 0750), ==, 0);
  g_autofree char *conf = g_strdup_printf (
      "[daemon]\nadmin_socket = %s/admin.sock\n[storage]\nroot = %s\nsegment_seconds = 10\n"
      "[recording]\ntransport = tcp\nwatchdog_seconds = 5\nbackoff_initial_ms = 500\n"
      "backoff_max_ms = 4000\n", root, root);
  g_autoptr (NvrConfig) config = nvr_config_parse (conf, strlen (conf), "test-live", &error);
  g_assert_no_error (error);
  g_autofree char *db = g_build_filename (root, "catalog.db", NULL);
  g_autoptr (NvrCatalog) catalog = nvr_catalog_open (db, &error);
  g_assert_no_error (error);
  for (int i = 1; i < argc; i++) {
    g_autofree char *name = g_strdup_printf ("cam%d", i);
    NvrCameraRow row = { .name = name, .main_url = argv[i], .username = "", .password = "",
                         .transport = "default" };
    gint64 id = 0;
    g_assert_true (nvr_catalog_camera_add (catalog, &row, g_get_real_time (), &id, &error));
  }

  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  NvrSupervisor *sup = nvr_supervisor_new (config, catalog);
  NvrLiveHub *hub = nvr_live_hub_new (sup);
  g_autoptr (GPtrArray) cams = nvr_catalog_camera_list (catalog, &error);
  g_assert_no_error (error);
  g_autoptr (GPtrArray) clients = g_ptr_array_new ();
  if (stall_for > 0)
    g_timeout_add ((guint) stall_at * 1000, stall_cb, GUINT_TO_POINTER ((guint) stall_for * 1000));
  /* Early clients (and the one to be denied) attach before any worker exists: the hub switches
   * the live branch on through the supervisor, which remembers it for the worker it starts. */
  for (guint i = 0; i < cams->len; i++) {
    NvrCameraRow *r = cams->pdata[i];
    if (no_live) {
      nvr_supervisor_add (sup, r);
      nvr_supervisor_set_detect (sup, r->id, FALSE);   /* motion decoding is not measured here */
      continue;
    }
    g_ptr_array_add (clients, client_attach (hub, out, r->id, r->name, "early", 1));
    if (i == 0)
      g_ptr_array_add (clients, client_attach (hub, out, r->id, r->name, "denied",
                                               DENIED_DEVICE));
    nvr_supervisor_add (sup, r);
    nvr_supervisor_set_detect (sup, r->id, FALSE);
  }
  run_for (loop, (guint) late * 1000);
  for (guint i = 0; i < cams->len && !no_live; i++) {
    NvrCameraRow *r = cams->pdata[i];
    g_ptr_array_add (clients, client_attach (hub, out, r->id, r->name, "late", 2));
  }
  /* Revocation: the denied device's stream ends now; nothing more reaches it. */
  nvr_live_hub_recheck (hub, deny_device, NULL);
  if (again > 0) {
    run_for (loop, (guint) (again - late) * 1000);
    for (guint i = 0; i < cams->len && !no_live; i++) {
      NvrCameraRow *r = cams->pdata[i];
      g_ptr_array_add (clients, client_attach (hub, out, r->id, r->name, "again", 3));
    }
    late = again;
  }
  run_for (loop, (guint) (seconds - late) * 1000);

  for (guint i = 0; i < clients->len; i++) {
    Client *c = clients->pdata[i];
    const char *codec = nvr_live_hub_codec (hub, c->camera_id);
    g_print ("{\"path\":\"%s\",\"camera_id\":%" G_GINT64_FORMAT ",\"role\":\"%s\",\"bytes\":%"
             G_GUINT64_FORMAT ",\"chunks\":%u,\"ended\":%u,\"codec\":\"%s\",\"init_ms\":%"
             G_GINT64_FORMAT ",\"first_fragment_ms\":%" G_GINT64_FORMAT "}\n",
             c->path, c->camera_id, c->role, c->bytes, c->chunks, c->ended,
             codec ? codec : "", c->first_us ? (c->first_us - c->attached_us) / 1000 : -1,
             c->second_us ? (c->second_us - c->attached_us) / 1000 : -1);
    if (!c->ended)
      nvr_live_hub_detach (hub, c->id);
  }
  nvr_live_hub_free (hub);
  nvr_supervisor_shutdown (sup, 5000);
  nvr_supervisor_free (sup);
  for (guint i = 0; i < clients->len; i++) {
    Client *c = clients->pdata[i];
    fclose (c->f);
    fclose (c->idx);
    g_free (c->path);
    g_free (c);
  }
  return 0;
}
