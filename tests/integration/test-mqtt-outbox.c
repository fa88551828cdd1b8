/* Outbox delivery end to end (docs/design/mqtt.md "Delivery"): the real catalog and NvrMqtt (no
 * daemon, no backdoor) against a real mosquitto on a loopback port. Queue rows, stop the broker,
 * queue more, "restart the daemon" (free and recreate catalog + bridge), queue more, restart the
 * broker: the subscriber must see every row, first arrivals in id order; duplicates are counted.
 * The main context is iterated only when the test says so, which keeps the subscriber ahead of
 * the bridge after the broker restarts. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#include "catalog.h"
#include "config.h"
#include "mqtt.h"

#define N1 60   /* delivered with the broker up */
#define N2 60   /* queued with the broker down, before the restart */
#define N3 60   /* queued after the restart, broker still down */

static char *dir;
static guint16 port;

static guint16
free_port (void)
{
  g_autoptr (GSocket) s = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, 0, NULL);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) a = g_inet_socket_address_new (lo, 0);
  g_assert_true (g_socket_bind (s, a, TRUE, NULL));
  g_autoptr (GSocketAddress) b = g_socket_get_local_address (s, NULL);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (b));
}

static GSubprocess *
broker_start (void)
{
  g_autofree char *conf = g_build_filename (dir, "mosquitto.conf", NULL);
  g_autofree char *text = g_strdup_printf ("listener %u 127.0.0.1\nallow_anonymous true\n"
                                           "persistence false\n", port);
  g_assert_true (g_file_set_contents (conf, text, -1, NULL));
  GSubprocess *p = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                     G_SUBPROCESS_FLAGS_STDERR_SILENCE, NULL,
                                     "/usr/sbin/mosquitto", "-c", conf, NULL);
  g_assert_nonnull (p);
  for (int i = 0; i < 200; i++) {
    g_autoptr (GSocketClient) c = g_socket_client_new ();
    g_autoptr (GSocketConnection) conn =
        g_socket_client_connect_to_host (c, "127.0.0.1", port, NULL, NULL);
    if (conn != NULL)
      return p;
    g_usleep (50000);
  }
  g_error ("mosquitto did not start");
}

static void
broker_stop (GSubprocess *p)
{
  g_subprocess_send_signal (p, SIGTERM);
  g_subprocess_wait (p, NULL, NULL);
  g_object_unref (p);
}

static char *
read_file (const char *path)
{
  char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return g_strdup ("");
  return text;
}

static guint
count_lines (const char *path)
{
  g_autofree char *t = read_file (path);
  guint n = 0;
  for (const char *p = t; *p; p++)
    n += *p == '\n';
  return n;
}

/* A QoS1 subscriber writing payloads to @path; returns once it demonstrably receives. */
static GSubprocess *
subscriber_start (const char *path)
{
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_set_stdout_file_path (l, path);
  g_autofree char *ps = g_strdup_printf ("%u", port);
  GSubprocess *p = g_subprocess_launcher_spawn (l, NULL, "mosquitto_sub", "-h", "127.0.0.1", "-p",
                                                ps, "-t", "hearth/events", "-t", "probe", "-q",
                                                "1", NULL);
  g_assert_nonnull (p);
  for (int i = 0; i < 100; i++) {
    g_autoptr (GSubprocess) pub = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, NULL, "mosquitto_pub",
                                                    "-h", "127.0.0.1", "-p", ps, "-t", "probe",
                                                    "-m", "probe", NULL);
    g_subprocess_wait (pub, NULL, NULL);
    g_usleep (100000);
    if (count_lines (path) > 0)
      return p;
  }
  g_error ("subscriber never received");
}

static void
add_rows (NvrCatalog *cat, NvrMqtt *m, guint from, guint n)
{
  for (guint i = from; i < from + n; i++) {
    g_autofree char *payload = g_strdup_printf ("{\"type\":\"new\",\"seq\":%u}", i);
    g_autoptr (GError) error = NULL;
    gint64 id;
    g_assert_true (nvr_catalog_outbox_add (cat, "hearth/events", payload, FALSE,
                                           g_get_real_time (), &id, &error));
    g_assert_no_error (error);
  }
  nvr_mqtt_outbox_kick (m);
}

static void
iterate_for (int ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;
  while (g_get_monotonic_time () < end) {
    g_main_context_iteration (NULL, FALSE);
    g_usleep (2000);
  }
}

static guint
outbox_left (NvrCatalog *cat)
{
  g_autoptr (GPtrArray) rows = nvr_catalog_outbox_next (cat, 0, 100000, NULL);
  return rows->len;
}

int
main (void)
{
  dir = g_dir_make_tmp ("hearth-outbox-XXXXXX", NULL);
  port = free_port ();
  g_autofree char *db = g_build_filename (dir, "catalog.db", NULL);
  g_autofree char *sub1_path = g_build_filename (dir, "sub1.txt", NULL);
  g_autofree char *sub2_path = g_build_filename (dir, "sub2.txt", NULL);
  g_autofree char *conf_text = g_strdup_printf (
      "[recording]\nbackoff_initial_ms = 200\nbackoff_max_ms = 1000\n"
      "[mqtt]\nhost = 127.0.0.1\nport = %u\ndiscovery = false\nclient_id = outbox-test\n", port);
  g_autoptr (NvrConfig) config = nvr_config_parse (conf_text, strlen (conf_text), "t.conf", NULL);
  g_assert_nonnull (config);

  GSubprocess *broker = broker_start ();
  GSubprocess *sub1 = subscriber_start (sub1_path);

  NvrCatalog *cat = nvr_catalog_open (db, NULL);
  g_assert_nonnull (cat);
  NvrMqtt *m = nvr_mqtt_new (config, cat, NULL, NULL);
  g_assert_nonnull (m);
  for (int i = 0; i < 500 && !nvr_mqtt_connected (m); i++)
    iterate_for (10);
  g_assert_true (nvr_mqtt_connected (m));
  add_rows (cat, m, 1, N1);
  for (int i = 0; i < 500 && outbox_left (cat) > 0; i++)
    iterate_for (10);
  g_assert_cmpuint (outbox_left (cat), ==, 0);
  g_print ("phase 1: %u rows delivered and acknowledged with the broker up\n", N1);

  /* Broker down: rows queue in the catalog. */
  add_rows (cat, m, N1 + 1, 10);     /* some may be in flight when the broker dies */
  broker_stop (broker);
  add_rows (cat, m, N1 + 11, N2 - 10);
  iterate_for (1500);
  g_print ("phase 2: broker stopped; %u rows waiting\n", outbox_left (cat));

  /* Daemon restart during the outage. */
  gint64 t0 = g_get_monotonic_time ();
  nvr_mqtt_free (m);
  nvr_catalog_close (cat);
  cat = nvr_catalog_open (db, NULL);
  m = nvr_mqtt_new (config, cat, NULL, NULL);
  g_assert_nonnull (m);
  gint64 new_us = g_get_monotonic_time () - t0;
  add_rows (cat, m, N1 + N2 + 1, N3);
  iterate_for (1500);
  g_assert_false (nvr_mqtt_connected (m));
  guint waiting = outbox_left (cat);
  g_print ("phase 3: restarted (free + new took %" G_GINT64_FORMAT " us with the broker down); "
           "%u rows waiting\n", new_us, waiting);
  g_assert_cmpuint (waiting, >=, N2 + N3 - 10);

  /* Broker back; the subscriber first (the bridge does not run while we are not iterating). */
  broker = broker_start ();
  GSubprocess *sub2 = subscriber_start (sub2_path);
  gint64 t1 = g_get_monotonic_time ();
  for (int i = 0; i < 1000 && outbox_left (cat) > 0; i++)
    iterate_for (10);
  g_assert_cmpuint (outbox_left (cat), ==, 0);
  g_print ("phase 4: broker back; outbox drained in %" G_GINT64_FORMAT " ms\n",
           (g_get_monotonic_time () - t1) / 1000);
  iterate_for (500);

  /* What the subscribers saw, in arrival order. */
  g_autofree char *t1s = read_file (sub1_path);
  g_autofree char *t2s = read_file (sub2_path);
  g_autofree char *all = g_strconcat (t1s, t2s, NULL);
  g_auto (GStrv) lines = g_strsplit (all, "\n", -1);
  guint next = 1, dups = 0, total = 0;
  for (guint i = 0; lines[i]; i++) {
    const char *s = strstr (lines[i], "\"seq\":");
    if (s == NULL)
      continue;
    guint seq = (guint) g_ascii_strtoull (s + 6, NULL, 10);
    total++;
    if (seq == next)
      next++;
    else if (seq < next)
      dups++;
    else
      g_error ("row %u arrived before row %u: lost or reordered", seq, next);
  }
  g_print ("delivered: %u distinct rows of %u, in order; %u duplicates (QoS1 around the outage); "
           "%u messages received\n", next - 1, N1 + N2 + N3, dups, total);
  g_assert_cmpuint (next - 1, ==, N1 + N2 + N3);
  g_assert_cmpuint (dups, <=, 20);

  nvr_mqtt_free (m);
  nvr_catalog_close (cat);
  g_subprocess_force_exit (sub1);
  g_subprocess_force_exit (sub2);
  g_object_unref (sub1);
  g_object_unref (sub2);
  broker_stop (broker);
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", dir);
  (void) cmd;
  g_unlink (db);
  g_print ("PASS\n");
  return 0;
}
