/* Unit tests for the catalog on a temporary database: migrations, cameras, segment lifecycle,
 * id non-reuse, constraint enforcement. */
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>

#include "catalog.h"

typedef struct {
  char *dir;
  char *path;
  NvrCatalog *cat;
} Fixture;

static void
setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  f->dir = g_dir_make_tmp ("hearth-catalog-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "catalog.db", NULL);
  f->cat = nvr_catalog_open (f->path, &error);
  g_assert_no_error (error);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  nvr_catalog_close (f->cat);
  g_autofree char *wal = g_strconcat (f->path, "-wal", NULL);
  g_autofree char *shm = g_strconcat (f->path, "-shm", NULL);
  g_unlink (wal);
  g_unlink (shm);
  g_unlink (f->path);
  g_rmdir (f->dir);
  g_free (f->path);
  g_free (f->dir);
}

static gint64
add_camera (NvrCatalog *cat, const char *name, GError **error)
{
  NvrCameraRow row = { .name = (char *) name, .main_url = "rtsp://127.0.0.1:8554/x" };
  gint64 id = 0;
  nvr_catalog_camera_add (cat, &row, 1000, &id, error);
  return id;
}

static void
test_cameras (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  gint64 a = add_camera (f->cat, "porch", &error);
  g_assert_no_error (error);
  gint64 b = add_camera (f->cat, "garage", &error);
  g_assert_no_error (error);
  g_assert_cmpint (b, >, a);

  add_camera (f->cat, "porch", &error);
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_EXISTS);
  g_clear_error (&error);
  add_camera (f->cat, "Bad Name", &error);
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_INVALID);
  g_clear_error (&error);

  g_assert_true (nvr_catalog_camera_remove (f->cat, "porch", 2000, &error));
  g_assert_false (nvr_catalog_camera_remove (f->cat, "porch", 2000, &error));
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* The name is free again, the id is new. */
  gint64 c = add_camera (f->cat, "porch", &error);
  g_assert_no_error (error);
  g_assert_cmpint (c, >, b);

  g_autoptr (GPtrArray) list = nvr_catalog_camera_list (f->cat, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 2);
  g_assert_cmpint (((NvrCameraRow *) list->pdata[0])->id, ==, b);
  g_assert_cmpint (((NvrCameraRow *) list->pdata[1])->id, ==, c);
  g_assert_cmpstr (((NvrCameraRow *) list->pdata[1])->transport, ==, "default");
}

static void
test_segments (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  gint64 cam = add_camera (f->cat, "porch", &error);
  gint64 other = add_camera (f->cat, "garage", &error);
  g_assert_no_error (error);

  gint64 s1 = 0, s2 = 0;
  g_assert_true (nvr_catalog_segment_open (f->cat, cam, "recordings/1-porch/d/1.mp4", 100, &s1,
                                           &error));
  g_assert_true (nvr_catalog_segment_open (f->cat, cam, "recordings/1-porch/d/2.mp4", 200, &s2,
                                           &error));
  g_autoptr (GPtrArray) open = nvr_catalog_segments_recording (f->cat, &error);
  g_assert_cmpuint (open->len, ==, 2);

  g_assert_true (nvr_catalog_segment_close (f->cat, cam, "recordings/1-porch/d/1.mp4", 100,
                                            150, 50, 4096, &error));
  g_assert_no_error (error);
  /* Another camera cannot complete this camera's segment. */
  g_assert_false (nvr_catalog_segment_close (f->cat, other, "recordings/1-porch/d/2.mp4", 200,
                                             250, 50, 1, &error));
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_INVALID);
  g_clear_error (&error);
  /* A close whose open never arrived still creates the row. */
  g_assert_true (nvr_catalog_segment_close (f->cat, cam, "recordings/1-porch/d/3.mp4", 300,
                                            360, 60, 10, &error));

  g_autoptr (GPtrArray) open2 = nvr_catalog_segments_recording (f->cat, &error);
  g_assert_cmpuint (open2->len, ==, 1);
  g_assert_cmpint (((NvrSegmentRow *) open2->pdata[0])->id, ==, s2);

  g_autoptr (NvrSegmentRow) last = nvr_catalog_segment_last (f->cat, cam, &error);
  g_assert_nonnull (last);
  g_assert_cmpstr (last->path, ==, "recordings/1-porch/d/3.mp4");
  g_assert_false (last->recording);

  gint64 bytes = -1;
  g_assert_true (nvr_catalog_camera_bytes_since (f->cat, cam, 0, &bytes, &error));
  g_assert_cmpint (bytes, ==, 4106);
  g_assert_true (nvr_catalog_camera_bytes_since (f->cat, cam, 250, &bytes, &error));
  g_assert_cmpint (bytes, ==, 10);

  /* Ids are never reused, even after the newest row is deleted. */
  g_autoptr (NvrSegmentRow) newest = nvr_catalog_segment_last (f->cat, cam, &error);
  g_assert_true (nvr_catalog_segment_delete (f->cat, newest->id, &error));
  gint64 s4 = 0;
  g_assert_true (nvr_catalog_segment_open (f->cat, cam, "recordings/1-porch/d/4.mp4", 400, &s4,
                                           &error));
  g_assert_cmpint (s4, >, newest->id);

  /* Duplicate paths and unknown cameras are refused. */
  g_assert_false (nvr_catalog_segment_open (f->cat, cam, "recordings/1-porch/d/4.mp4", 400, NULL,
                                            &error));
  g_clear_error (&error);
  g_assert_false (nvr_catalog_segment_open (f->cat, 999, "recordings/999-x/d/1.mp4", 1, NULL,
                                            &error));
  g_clear_error (&error);
  g_assert_false (nvr_catalog_segment_open (f->cat, cam, "recordings/1-porch/../x.mp4", 1, NULL,
                                            &error));
  g_clear_error (&error);
}

/* Reopening an existing catalog keeps the schema version and the data. */
static void
test_reopen (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  add_camera (f->cat, "porch", &error);
  nvr_catalog_close (f->cat);
  f->cat = nvr_catalog_open (f->path, &error);
  g_assert_no_error (error);
  g_autoptr (GPtrArray) list = nvr_catalog_camera_list (f->cat, &error);
  g_assert_cmpuint (list->len, ==, 1);

  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  g_assert_cmpint (sqlite3_open (f->path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "PRAGMA user_version", -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  int version = sqlite3_column_int (st, 0);
  sqlite3_finalize (st);
  g_assert_cmpint (version, >=, 1);
  sqlite3_exec (db, "PRAGMA user_version = 99", NULL, NULL, NULL);
  sqlite3_close (db);
  nvr_catalog_close (f->cat);
  f->cat = nvr_catalog_open (f->path, &error);
  g_assert_null (f->cat);
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_DB);
  g_clear_error (&error);
  /* Leave a usable catalog for teardown. */
  db = NULL;
  sqlite3_open (f->path, &db);
  g_autofree char *restore = g_strdup_printf ("PRAGMA user_version = %d", version);
  sqlite3_exec (db, restore, NULL, NULL, NULL);
  sqlite3_close (db);
  f->cat = nvr_catalog_open (f->path, &error);
  g_assert_no_error (error);
}

/* The outbox warns each time it drops a notification; that warning is expected here. */
static gboolean
outbox_full_is_expected (const char *domain, GLogLevelFlags level, const char *message,
                         gpointer data)
{
  return strstr (message, "MQTT outbox full") == NULL;
}

static void
test_outbox (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  gint64 a = 0, b = 0, c = 0;
  g_assert_true (nvr_catalog_outbox_add (f->cat, "hearth/events", "{\"n\":1}", FALSE, 1, &a,
                                         &error));
  g_assert_true (nvr_catalog_outbox_add (f->cat, "hearth/events", "{\"n\":2}", FALSE, 2, &b,
                                         &error));
  g_assert_true (nvr_catalog_outbox_add (f->cat, "hearth/x/state", "ON", TRUE, 3, &c, &error));
  g_assert_cmpint (a, <, b);
  g_assert_cmpint (b, <, c);
  g_autoptr (GPtrArray) all = nvr_catalog_outbox_next (f->cat, 0, 10, &error);
  g_assert_cmpuint (all->len, ==, 3);
  g_assert_cmpstr (((NvrOutboxRow *) all->pdata[1])->payload, ==, "{\"n\":2}");
  g_assert_true (((NvrOutboxRow *) all->pdata[2])->retain);
  /* Delivery acknowledged out of order: the rest stays, in order. */
  g_assert_true (nvr_catalog_outbox_done (f->cat, b, &error));
  g_autoptr (GPtrArray) rest = nvr_catalog_outbox_next (f->cat, 0, 10, &error);
  g_assert_cmpuint (rest->len, ==, 2);
  g_assert_cmpint (((NvrOutboxRow *) rest->pdata[0])->id, ==, a);
  g_autoptr (GPtrArray) after = nvr_catalog_outbox_next (f->cat, a, 10, &error);
  g_assert_cmpuint (after->len, ==, 1);
  g_assert_cmpint (((NvrOutboxRow *) after->pdata[0])->id, ==, c);
  /* Oversized payloads are refused by the schema. */
  g_autofree char *big = g_strnfill (65537, 'x');
  g_assert_false (nvr_catalog_outbox_add (f->cat, "t", big, FALSE, 4, NULL, &error));
  g_clear_error (&error);
  /* Bounded: past the maximum the oldest go. */
  g_test_log_set_fatal_handler (outbox_full_is_expected, NULL);
  g_assert_true (nvr_catalog_begin (f->cat, &error));
  for (int i = 0; i < NVR_CATALOG_OUTBOX_MAX + 5; i++)
    g_assert_true (nvr_catalog_outbox_add (f->cat, "t", "p", FALSE, 5, NULL, &error));
  g_assert_true (nvr_catalog_commit (f->cat, &error));
  g_autoptr (GPtrArray) first = nvr_catalog_outbox_next (f->cat, 0, 1, &error);
  g_autoptr (GPtrArray) many = nvr_catalog_outbox_next (f->cat, 0, 2 * NVR_CATALOG_OUTBOX_MAX,
                                                        &error);
  g_assert_cmpuint (many->len, ==, NVR_CATALOG_OUTBOX_MAX);
  g_assert_cmpint (((NvrOutboxRow *) first->pdata[0])->id, >, c);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/catalog/cameras", Fixture, NULL, setup, test_cameras, teardown);
  g_test_add ("/catalog/segments", Fixture, NULL, setup, test_segments, teardown);
  g_test_add ("/catalog/outbox", Fixture, NULL, setup, test_outbox, teardown);
  g_test_add ("/catalog/reopen", Fixture, NULL, setup, test_reopen, teardown);
  return g_test_run ();
}
