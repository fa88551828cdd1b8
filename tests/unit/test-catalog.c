/* Unit tests for the catalog on a temporary database: migrations, cameras, segment lifecycle,
 * id non-reuse, constraint enforcement; v6: invites, pairing, revocation, sessions and the
 * authorization query. */
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

/* ---- v6: invites, devices, sessions, authorization ---- */

static const guint8 *
key32 (guint8 buf[32], guint8 v)
{
  memset (buf, v, 32);
  return buf;
}

static gint64
add_invite (NvrCatalog *cat, const char *lookup, const gint64 *cams, guint n, gint64 now_us,
            gint64 expires_us, GError **error)
{
  guint8 h[32];
  gint64 id = 0;
  nvr_catalog_invite_add (cat, lookup, key32 (h, 0x5e), "phone", FALSE, cams, n, now_us,
                          expires_us, &id, error);
  return id;
}

static gint64
count_rows (Fixture *f, const char *table)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM %s", table);
  g_assert_cmpint (sqlite3_open (f->path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  gint64 n = sqlite3_column_int64 (st, 0);
  sqlite3_finalize (st);
  sqlite3_close (db);
  return n;
}

static void
test_invites (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  gint64 a = add_camera (f->cat, "porch", &error);
  gint64 b = add_camera (f->cat, "garage", &error);
  gint64 gone = add_camera (f->cat, "old", &error);
  g_assert_true (nvr_catalog_camera_remove (f->cat, "old", 1500, &error));
  g_assert_no_error (error);

  gint64 cams[] = { b, a };
  gint64 inv = add_invite (f->cat, "ABCD", cams, 2, 2000, 9000, &error);
  g_assert_no_error (error);
  g_assert_cmpint (inv, >, 0);
  g_autoptr (NvrInviteRow) row = nvr_catalog_invite_get (f->cat, "ABCD", &error);
  g_assert_no_error (error);
  g_assert_cmpint (row->id, ==, inv);
  g_assert_cmpstr (row->name, ==, "phone");
  g_assert_cmpint (row->expires_us, ==, 9000);
  g_assert_cmpint (row->used_us, ==, 0);
  g_assert_cmpint (row->burned_us, ==, 0);
  g_assert_cmpuint (row->camera_ids->len, ==, 2);
  g_assert_cmpint (g_array_index (row->camera_ids, gint64, 0), ==, a);
  g_assert_cmpstr (row->camera_names->pdata[1], ==, "garage");
  guint8 h[32];
  g_assert_cmpmem (row->secret_hash, 32, key32 (h, 0x5e), 32);

  /* Unknown, removed or no cameras; duplicate or malformed lookups; bad expiry. */
  gint64 unknown[] = { a, 999 };
  add_invite (f->cat, "EFGH", unknown, 2, 2000, 9000, &error);
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_INVALID);
  g_clear_error (&error);
  add_invite (f->cat, "EFGH", &gone, 1, 2000, 9000, &error);
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_INVALID);
  g_clear_error (&error);
  add_invite (f->cat, "ABCD", cams, 2, 2000, 9000, &error);
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_EXISTS);
  g_clear_error (&error);
  const char *bad_lookups[] = { "abcd", "ABC", "ABCDE", "ABCU", "AB-D" };
  for (guint i = 0; i < G_N_ELEMENTS (bad_lookups); i++) {
    add_invite (f->cat, bad_lookups[i], cams, 2, 2000, 9000, &error);
    g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_INVALID);
    g_clear_error (&error);
  }
  add_invite (f->cat, "EFGH", cams, 2, 2000, 2000, &error);
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_cmpint (count_rows (f, "invites"), ==, 1);
  g_assert_cmpint (count_rows (f, "invite_cameras"), ==, 2);
  g_assert_null (nvr_catalog_invite_get (f->cat, "ZZZZ", &error));
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* A camera removed after the invite was made is no longer offered. */
  gint64 only_b[] = { b };
  add_invite (f->cat, "KMNP", only_b, 1, 2000, 9000, &error);
  g_assert_true (nvr_catalog_camera_remove (f->cat, "garage", 2500, &error));
  g_autoptr (NvrInviteRow) inv_k = nvr_catalog_invite_get (f->cat, "KMNP", &error);
  g_assert_cmpuint (inv_k->camera_ids->len, ==, 0);

  /* Wrong secrets: the 5th burns it, and a burned invite cannot pair. */
  for (guint i = 1; i <= NVR_AUTH_INVITE_MAX_FAILURES; i++) {
    g_assert_true (nvr_catalog_invite_fail (f->cat, inv, 3000 + i, &error));
    g_autoptr (NvrInviteRow) r = nvr_catalog_invite_get (f->cat, "ABCD", &error);
    g_assert_cmpuint (r->failures, ==, i);
    g_assert_cmpint (r->burned_us, ==, i < NVR_AUTH_INVITE_MAX_FAILURES ? 0 : 3000 + i);
  }
  g_assert_true (nvr_catalog_invite_fail (f->cat, inv, 4000, &error));
  g_autoptr (NvrInviteRow) burned = nvr_catalog_invite_get (f->cat, "ABCD", &error);
  g_assert_cmpint (burned->burned_us, ==, 3000 + NVR_AUTH_INVITE_MAX_FAILURES);
  g_assert_false (nvr_catalog_invite_fail (f->cat, 999, 4000, &error));
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND);
  g_clear_error (&error);
  guint8 pk[32], tok[32];
  g_assert_false (nvr_catalog_pair (f->cat, inv, key32 (pk, 1), key32 (tok, 2), 5000, NULL,
                                    &error));
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_cmpint (count_rows (f, "devices"), ==, 0);
  g_assert_cmpint (count_rows (f, "sessions"), ==, 0);

  /* Expired: refused at exactly expires_us. */
  gint64 a_only[] = { a };
  gint64 inv2 = add_invite (f->cat, "QRST", a_only, 1, 2000, 9000, &error);
  g_assert_no_error (error);
  g_assert_false (nvr_catalog_pair (f->cat, inv2, key32 (pk, 1), key32 (tok, 2), 9000, NULL,
                                    &error));
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_cmpint (count_rows (f, "devices"), ==, 0);

  /* Invites long expired are forgotten when a new one is made. */
  gint64 week = (gint64) 8 * 24 * 3600 * G_USEC_PER_SEC;
  add_invite (f->cat, "VWXY", a_only, 1, week, week + 1000, &error);
  g_assert_no_error (error);
  g_assert_null (nvr_catalog_invite_get (f->cat, "ABCD", NULL));
  g_assert_cmpint (count_rows (f, "invites"), ==, 1);
}

static void
test_pair (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  gint64 a = add_camera (f->cat, "porch", &error);
  gint64 b = add_camera (f->cat, "garage", &error);
  gint64 cams[] = { a, b };
  guint8 h[32], pk[32], pk2[32], tok[32], tok2[32];
  gint64 inv = 0;
  g_assert_true (nvr_catalog_invite_add (f->cat, "ABCD", key32 (h, 9), "Anna's phone", TRUE,
                                         cams, 2, 1000, 100000, &inv, &error));
  gint64 dev = 0;
  g_assert_true (nvr_catalog_pair (f->cat, inv, key32 (pk, 1), key32 (tok, 2), 5000, &dev,
                                   &error));
  g_assert_no_error (error);
  g_autoptr (NvrDeviceRow) d = nvr_catalog_device_get (f->cat, dev, &error);
  g_assert_cmpstr (d->name, ==, "Anna's phone");
  g_assert_true (d->is_admin);
  g_assert_cmpmem (d->public_key, 32, pk, 32);
  g_assert_cmpint (d->created_us, ==, 5000);
  g_assert_cmpint (d->revoked_us, ==, 0);
  g_assert_cmpuint (d->camera_ids->len, ==, 2);
  g_assert_cmpint (g_array_index (d->camera_ids, gint64, 0), ==, a);
  g_assert_cmpint (g_array_index (d->camera_ids, gint64, 1), ==, b);
  g_autoptr (NvrInviteRow) used = nvr_catalog_invite_get (f->cat, "ABCD", &error);
  g_assert_cmpint (used->used_us, ==, 5000);
  g_autoptr (NvrDeviceRow) by_key = nvr_catalog_device_by_key (f->cat, pk, &error);
  g_assert_cmpint (by_key->id, ==, dev);
  g_assert_null (nvr_catalog_device_by_key (f->cat, key32 (pk2, 77), &error));
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* The session works at once. */
  g_auto (NvrAccess) acc = { 0 };
  g_assert_true (nvr_catalog_authorize (f->cat, tok, 6000, G_USEC_PER_SEC, G_USEC_PER_SEC, a,
                                        NVR_OBJECT_NONE, 0, &acc, &error));
  g_assert_true (acc.session_found);
  g_assert_cmpint (acc.device_id, ==, dev);
  g_assert_true (acc.camera_allowed);

  /* Single use: a second pairing with the same invite changes nothing. */
  g_assert_false (nvr_catalog_pair (f->cat, inv, key32 (pk2, 3), key32 (tok2, 4), 5001, NULL,
                                    &error));
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_INVALID);
  g_clear_error (&error);
  /* A key already paired: refused, and the transaction leaves the new invite unused. */
  gint64 inv2 = 0;
  g_assert_true (nvr_catalog_invite_add (f->cat, "EFGH", h, "laptop", FALSE, cams, 1, 1000,
                                         100000, &inv2, &error));
  g_assert_false (nvr_catalog_pair (f->cat, inv2, pk, key32 (tok2, 4), 5002, NULL, &error));
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_EXISTS);
  g_clear_error (&error);
  g_autoptr (NvrInviteRow) still = nvr_catalog_invite_get (f->cat, "EFGH", &error);
  g_assert_cmpint (still->used_us, ==, 0);
  /* The same token hash twice: refused, rolled back. */
  g_assert_false (nvr_catalog_pair (f->cat, inv2, key32 (pk2, 3), tok, 5003, NULL, &error));
  g_clear_error (&error);
  g_autoptr (NvrInviteRow) still2 = nvr_catalog_invite_get (f->cat, "EFGH", &error);
  g_assert_cmpint (still2->used_us, ==, 0);
  g_assert_cmpint (count_rows (f, "devices"), ==, 1);
  g_assert_cmpint (count_rows (f, "device_cameras"), ==, 2);
  g_assert_cmpint (count_rows (f, "sessions"), ==, 1);

  /* Inside a caller's transaction it nests as a savepoint. */
  gint64 dev2 = 0;
  g_assert_true (nvr_catalog_begin (f->cat, &error));
  g_assert_true (nvr_catalog_pair (f->cat, inv2, key32 (pk2, 3), key32 (tok2, 4), 5004, &dev2,
                                   &error));
  g_assert_true (nvr_catalog_commit (f->cat, &error));
  g_autoptr (GPtrArray) devices = nvr_catalog_device_list (f->cat, &error);
  g_assert_cmpuint (devices->len, ==, 2);
  NvrDeviceRow *second = devices->pdata[1];
  g_assert_cmpint (second->id, ==, dev2);
  g_assert_false (second->is_admin);
  g_assert_cmpuint (second->camera_ids->len, ==, 1);

  /* Replacing the ACL: unknown cameras refused and nothing changes; duplicates collapse. */
  gint64 bad[] = { b, 999 };
  g_assert_false (nvr_catalog_device_set_cameras (f->cat, dev2, bad, 2, &error));
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_INVALID);
  g_clear_error (&error);
  g_autoptr (NvrDeviceRow) unchanged = nvr_catalog_device_get (f->cat, dev2, &error);
  g_assert_cmpuint (unchanged->camera_ids->len, ==, 1);
  g_assert_cmpint (g_array_index (unchanged->camera_ids, gint64, 0), ==, a);
  gint64 dup[] = { b, b };
  g_assert_true (nvr_catalog_device_set_cameras (f->cat, dev2, dup, 2, &error));
  g_autoptr (NvrDeviceRow) changed = nvr_catalog_device_get (f->cat, dev2, &error);
  g_assert_cmpuint (changed->camera_ids->len, ==, 1);
  g_assert_cmpint (g_array_index (changed->camera_ids, gint64, 0), ==, b);
  g_assert_true (nvr_catalog_device_set_cameras (f->cat, dev2, NULL, 0, &error));
  g_assert_false (nvr_catalog_device_set_cameras (f->cat, 999, dup, 1, &error));
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* The schema refuses what the code never writes: short keys, orphan sessions. */
  sqlite3 *db = NULL;
  g_assert_cmpint (sqlite3_open (f->path, &db), ==, SQLITE_OK);
  sqlite3_exec (db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
  g_assert_cmpint (sqlite3_exec (db, "INSERT INTO devices (name, public_key, created_us)"
                                 " VALUES ('x', zeroblob(31), 1)", NULL, NULL, NULL), !=,
                   SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "INSERT INTO devices (name, public_key, created_us)"
                                 " VALUES ('x', '0123456789012345678901234567890a', 1)", NULL,
                                 NULL, NULL), !=, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "INSERT INTO sessions (token_hash, device_id, created_us,"
                                 " last_used_us) VALUES (zeroblob(32), 999, 1, 1)", NULL, NULL,
                                 NULL), !=, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "INSERT INTO device_cameras VALUES (1, 999)", NULL, NULL,
                                 NULL), !=, SQLITE_OK);
  sqlite3_close (db);
}

typedef struct {
  gint64 a, b, c;             /* cameras; the device may see a and b */
  gint64 seg_a, seg_b, seg_c, rec_a;
  gint64 ev_a, ev_c;
  gint64 dev, admin;
  guint8 tok[32], admin_tok[32];
} World;

static void
make_world (Fixture *f, World *w)
{
  g_autoptr (GError) error = NULL;
  w->a = add_camera (f->cat, "porch", &error);
  w->b = add_camera (f->cat, "garage", &error);
  w->c = add_camera (f->cat, "nursery", &error);
  g_assert_true (nvr_catalog_segment_close (f->cat, w->a, "recordings/1-porch/d/1.mp4", 100, 200,
                                            100, 10, &error));
  g_assert_true (nvr_catalog_segment_close (f->cat, w->b, "recordings/2-garage/d/1.mp4", 100,
                                            200, 100, 10, &error));
  g_assert_true (nvr_catalog_segment_close (f->cat, w->c, "recordings/3-nursery/d/1.mp4", 100,
                                            200, 100, 10, &error));
  g_assert_true (nvr_catalog_segment_open (f->cat, w->a, "recordings/1-porch/d/2.mp4", 200,
                                           &w->rec_a, &error));
  g_autoptr (NvrSegmentRow) last_c = nvr_catalog_segment_last (f->cat, w->c, &error);
  g_autoptr (GPtrArray) sa = nvr_catalog_segments_between (f->cat, w->a, 0, 1000, 10, &error);
  g_autoptr (GPtrArray) sb = nvr_catalog_segments_between (f->cat, w->b, 0, 1000, 10, &error);
  w->seg_a = ((NvrSegmentRow *) sa->pdata[0])->id;
  w->seg_b = ((NvrSegmentRow *) sb->pdata[0])->id;
  w->seg_c = last_c->id;
  g_assert_true (nvr_catalog_event_start (f->cat, w->a, 120, "[]", 1, 1, &w->ev_a, &error));
  g_assert_true (nvr_catalog_event_update (f->cat, w->ev_a, 130, "[]", 1, 1,
                                           "recordings/1-porch/thumbs/1.jpg", &error));
  g_assert_true (nvr_catalog_event_start (f->cat, w->c, 120, "[]", 1, 1, &w->ev_c, &error));

  gint64 ab[] = { w->a, w->b }, abc[] = { w->a, w->b, w->c };
  guint8 h[32], pk[32];
  gint64 inv = 0;
  g_assert_true (nvr_catalog_invite_add (f->cat, "ABCD", key32 (h, 1), "phone", FALSE, ab, 2,
                                         1000, 1000000, &inv, &error));
  g_assert_true (nvr_catalog_pair (f->cat, inv, key32 (pk, 1), key32 (w->tok, 0x70), 2000,
                                   &w->dev, &error));
  g_assert_true (nvr_catalog_invite_add (f->cat, "EFGH", key32 (h, 2), "admin", TRUE, abc, 3,
                                         1000, 1000000, &inv, &error));
  g_assert_true (nvr_catalog_pair (f->cat, inv, key32 (pk, 2), key32 (w->admin_tok, 0x71), 2000,
                                   &w->admin, &error));
  g_assert_no_error (error);
}

#define IDLE_US ((gint64) 3600 * G_USEC_PER_SEC)
#define MAX_US ((gint64) 24 * 3600 * G_USEC_PER_SEC)

static void
authorize (Fixture *f, const guint8 tok[32], gint64 now_us, gint64 cam, NvrObjectKind kind,
           gint64 obj, NvrAccess *out)
{
  g_autoptr (GError) error = NULL;
  nvr_access_clear (out);
  g_assert_true (nvr_catalog_authorize (f->cat, tok, now_us, IDLE_US, MAX_US, cam, kind, obj,
                                        out, &error));
  g_assert_no_error (error);
}

static void
test_authorize (Fixture *f, gconstpointer data)
{
  World w;
  make_world (f, &w);
  guint8 nobody[32];
  memset (nobody, 0x99, 32);
  const struct {
    const guint8 *tok;
    gint64 cam;
    NvrObjectKind kind;
    gint64 obj;
    gboolean session, camera, object;
    const char *path;
    guint camera_policy;      /* nvr_auth_decide (NVR_POLICY_CAMERA, kind, ...) */
  } cases[] = {
    { w.tok, w.a, NVR_OBJECT_NONE, 0, TRUE, TRUE, FALSE, NULL, 0 },
    { w.tok, w.b, NVR_OBJECT_NONE, 0, TRUE, TRUE, FALSE, NULL, 0 },
    { w.tok, w.c, NVR_OBJECT_NONE, 0, TRUE, FALSE, FALSE, NULL, 404 },     /* not in the ACL */
    { w.tok, 999, NVR_OBJECT_NONE, 0, TRUE, FALSE, FALSE, NULL, 404 },     /* no such camera */
    { w.tok, 0, NVR_OBJECT_NONE, 0, TRUE, FALSE, FALSE, NULL, 404 },
    { w.tok, w.a, NVR_OBJECT_SEGMENT, w.seg_a, TRUE, TRUE, TRUE, "recordings/1-porch/d/1.mp4", 0 },
    { w.tok, w.a, NVR_OBJECT_SEGMENT, w.rec_a, TRUE, TRUE, TRUE, "recordings/1-porch/d/2.mp4", 0 },
    /* An object of ANOTHER camera, even one the device may see, is not found under this one. */
    { w.tok, w.a, NVR_OBJECT_SEGMENT, w.seg_b, TRUE, TRUE, FALSE, NULL, 404 },
    { w.tok, w.b, NVR_OBJECT_SEGMENT, w.seg_a, TRUE, TRUE, FALSE, NULL, 404 },
    { w.tok, w.a, NVR_OBJECT_SEGMENT, w.seg_c, TRUE, TRUE, FALSE, NULL, 404 },
    { w.tok, w.c, NVR_OBJECT_SEGMENT, w.seg_c, TRUE, FALSE, FALSE, NULL, 404 },
    { w.tok, w.a, NVR_OBJECT_SEGMENT, 99999, TRUE, TRUE, FALSE, NULL, 404 },
    { w.tok, w.a, NVR_OBJECT_EVENT, w.ev_a, TRUE, TRUE, TRUE, "recordings/1-porch/thumbs/1.jpg", 0 },
    { w.tok, w.a, NVR_OBJECT_EVENT, w.ev_c, TRUE, TRUE, FALSE, NULL, 404 },
    { w.tok, w.c, NVR_OBJECT_EVENT, w.ev_c, TRUE, FALSE, FALSE, NULL, 404 },
    /* The admin sees what its ACL names, nothing more by being admin. */
    { w.admin_tok, w.c, NVR_OBJECT_EVENT, w.ev_c, TRUE, TRUE, TRUE, NULL, 0 },
    { w.admin_tok, w.c, NVR_OBJECT_SEGMENT, w.seg_c, TRUE, TRUE, TRUE,
      "recordings/3-nursery/d/1.mp4", 0 },
    { w.admin_tok, w.a, NVR_OBJECT_SEGMENT, w.seg_c, TRUE, TRUE, FALSE, NULL, 404 },
    { nobody, w.a, NVR_OBJECT_NONE, 0, FALSE, FALSE, FALSE, NULL, 401 },
    { nobody, w.a, NVR_OBJECT_SEGMENT, w.seg_a, FALSE, FALSE, FALSE, NULL, 401 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_auto (NvrAccess) acc = { 0 };
    g_test_message ("authorize case %u", i);
    authorize (f, cases[i].tok, 3000, cases[i].cam, cases[i].kind, cases[i].obj, &acc);
    g_assert_cmpint (acc.session_found, ==, cases[i].session);
    g_assert_cmpint (acc.camera_allowed, ==, cases[i].camera);
    g_assert_cmpint (acc.object_found, ==, cases[i].object);
    g_assert_cmpstr (acc.object_path, ==, cases[i].path);
    g_assert_cmpuint (nvr_auth_decide (NVR_POLICY_CAMERA, cases[i].kind, &acc), ==,
                      cases[i].camera_policy);
    if (cases[i].camera) {
      g_assert_cmpint (acc.camera_id, ==, cases[i].cam);
      g_autofree char *dir = g_strdup_printf ("recordings/%" G_GINT64_FORMAT "-%s", acc.camera_id,
                                              acc.camera_name);
      g_assert_cmpstr (acc.camera_dir, ==, dir);
    }
    if (cases[i].session)
      g_assert_cmpint (acc.device_id, ==, cases[i].tok == w.tok ? w.dev : w.admin);
  }

  /* Admin policy. */
  g_auto (NvrAccess) acc = { 0 };
  authorize (f, w.tok, 3000, 0, NVR_OBJECT_NONE, 0, &acc);
  g_assert_cmpuint (nvr_auth_decide (NVR_POLICY_ADMIN, NVR_OBJECT_NONE, &acc), ==, 403);
  authorize (f, w.admin_tok, 3000, 0, NVR_OBJECT_NONE, 0, &acc);
  g_assert_cmpuint (nvr_auth_decide (NVR_POLICY_ADMIN, NVR_OBJECT_NONE, &acc), ==, 0);

  /* A removed camera is gone for everyone, its objects too. */
  g_autoptr (GError) error = NULL;
  g_assert_true (nvr_catalog_camera_remove (f->cat, "garage", 4000, &error));
  authorize (f, w.tok, 4001, w.b, NVR_OBJECT_NONE, 0, &acc);
  g_assert_true (acc.session_found);
  g_assert_false (acc.camera_allowed);
  authorize (f, w.tok, 4001, w.b, NVR_OBJECT_SEGMENT, w.seg_b, &acc);
  g_assert_false (acc.object_found);
  g_assert_cmpuint (nvr_auth_decide (NVR_POLICY_CAMERA, NVR_OBJECT_SEGMENT, &acc), ==, 404);

  /* An ACL change applies to the next request. */
  gint64 only_c[] = { w.c };
  g_assert_true (nvr_catalog_device_set_cameras (f->cat, w.dev, only_c, 1, &error));
  authorize (f, w.tok, 4002, w.a, NVR_OBJECT_NONE, 0, &acc);
  g_assert_false (acc.camera_allowed);
  authorize (f, w.tok, 4002, w.c, NVR_OBJECT_SEGMENT, w.seg_c, &acc);
  g_assert_true (acc.object_found);
}

static void
test_sessions (Fixture *f, gconstpointer data)
{
  World w;
  make_world (f, &w);
  g_autoptr (GError) error = NULL;
  g_auto (NvrAccess) acc = { 0 };
  const gint64 t0 = 2000;   /* the pairing time */

  /* Idle: alive until IDLE_US after the last use, dead at it. */
  authorize (f, w.tok, t0 + IDLE_US - 1, w.a, NVR_OBJECT_NONE, 0, &acc);
  g_assert_true (acc.session_found);
  /* That use touched it (more than a minute since the last touch): alive for another IDLE_US. */
  authorize (f, w.tok, t0 + 2 * IDLE_US - 2, w.a, NVR_OBJECT_NONE, 0, &acc);
  g_assert_true (acc.session_found);
  g_autoptr (NvrDeviceRow) seen = nvr_catalog_device_get (f->cat, w.dev, &error);
  g_assert_cmpint (seen->last_seen_us, ==, t0 + 2 * IDLE_US - 2);
  /* The admin's session, never used since pairing, died at t0 + IDLE_US. */
  authorize (f, w.admin_tok, t0 + IDLE_US, w.a, NVR_OBJECT_NONE, 0, &acc);
  g_assert_false (acc.session_found);
  g_assert_cmpuint (nvr_auth_decide (NVR_POLICY_SESSION, NVR_OBJECT_NONE, &acc), ==, 401);

  /* Absolute: dead MAX_US after creation however recently used. */
  for (gint64 t = t0 + 2 * IDLE_US; t < t0 + MAX_US; t += IDLE_US / 2) {
    authorize (f, w.tok, t, 0, NVR_OBJECT_NONE, 0, &acc);
    g_assert_true (acc.session_found);
  }
  authorize (f, w.tok, t0 + MAX_US, 0, NVR_OBJECT_NONE, 0, &acc);
  g_assert_false (acc.session_found);

  /* The sweeper deletes what authorize already refuses. */
  guint8 fresh[32];
  memset (fresh, 0x72, 32);
  g_assert_true (nvr_catalog_session_add (f->cat, w.dev, fresh, t0 + MAX_US, &error));
  g_assert_cmpint (count_rows (f, "sessions"), ==, 3);
  g_assert_true (nvr_catalog_sessions_expire (f->cat, t0 + MAX_US, IDLE_US, MAX_US, &error));
  g_assert_cmpint (count_rows (f, "sessions"), ==, 1);
  authorize (f, fresh, t0 + MAX_US + 1, w.a, NVR_OBJECT_NONE, 0, &acc);
  g_assert_true (acc.session_found);

  /* Logout. */
  g_assert_true (nvr_catalog_session_delete (f->cat, fresh, &error));
  authorize (f, fresh, t0 + MAX_US + 2, w.a, NVR_OBJECT_NONE, 0, &acc);
  g_assert_false (acc.session_found);
}

static void
test_revoke (Fixture *f, gconstpointer data)
{
  World w;
  make_world (f, &w);
  g_autoptr (GError) error = NULL;
  g_auto (NvrAccess) acc = { 0 };
  guint8 second[32];
  memset (second, 0x73, 32);
  g_assert_true (nvr_catalog_session_add (f->cat, w.dev, second, 2500, &error));
  g_assert_cmpint (count_rows (f, "sessions"), ==, 3);

  g_assert_true (nvr_catalog_device_revoke (f->cat, w.dev, 3000, &error));
  g_assert_cmpint (count_rows (f, "sessions"), ==, 1);   /* the admin's */
  authorize (f, w.tok, 3001, w.a, NVR_OBJECT_NONE, 0, &acc);
  g_assert_false (acc.session_found);
  authorize (f, second, 3001, w.a, NVR_OBJECT_SEGMENT, w.seg_a, &acc);
  g_assert_false (acc.session_found);
  authorize (f, w.admin_tok, 3001, w.a, NVR_OBJECT_NONE, 0, &acc);
  g_assert_true (acc.session_found);

  /* No new session for a revoked device; revoking again keeps the first time. */
  guint8 third[32];
  memset (third, 0x74, 32);
  g_assert_false (nvr_catalog_session_add (f->cat, w.dev, third, 3002, &error));
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_true (nvr_catalog_device_revoke (f->cat, w.dev, 5000, &error));
  guint8 pk[32];
  g_autoptr (NvrDeviceRow) d = nvr_catalog_device_by_key (f->cat, key32 (pk, 1), &error);
  g_assert_cmpint (d->revoked_us, ==, 3000);
  g_assert_false (nvr_catalog_device_revoke (f->cat, 999, 5000, &error));
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND);
  g_clear_error (&error);
  /* Even a session row put back by hand does not authorize a revoked device. */
  sqlite3 *db = NULL;
  g_assert_cmpint (sqlite3_open (f->path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "INSERT INTO sessions (token_hash, device_id, created_us,"
                                 " last_used_us) SELECT x'70707070707070707070707070707070"
                                 "70707070707070707070707070707070', id, 3000, 3000"
                                 " FROM devices WHERE name = 'phone'", NULL, NULL, NULL), ==,
                   SQLITE_OK);
  sqlite3_close (db);
  authorize (f, w.tok, 3003, w.a, NVR_OBJECT_NONE, 0, &acc);
  g_assert_false (acc.session_found);
}

static void
test_between (Fixture *f, gconstpointer data)
{
  World w;
  make_world (f, &w);
  g_autoptr (GError) error = NULL;
  /* porch: [100, 200) complete, 200.. recording; event [120, 130+] active. */
  static const struct {
    gint64 from, to;
    guint limit, n;
  } segs[] = {
    { 0, 100, 10, 0 },      /* ends where the first starts */
    { 0, 101, 10, 1 },
    { 150, 160, 10, 1 },
    { 199, 201, 10, 2 },
    { 200, 201, 10, 1 },    /* [100,200) does not overlap [200, ...) */
    { 5000, 6000, 10, 1 },  /* the recording one is still going */
    { 0, 1000, 1, 1 },      /* limit */
  };
  for (guint i = 0; i < G_N_ELEMENTS (segs); i++) {
    g_autoptr (GPtrArray) s = nvr_catalog_segments_between (f->cat, w.a, segs[i].from, segs[i].to,
                                                            segs[i].limit, &error);
    g_assert_no_error (error);
    g_test_message ("segments [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT ")", segs[i].from,
                    segs[i].to);
    g_assert_cmpuint (s->len, ==, segs[i].n);
    for (guint j = 0; j < s->len; j++)
      g_assert_cmpint (((NvrSegmentRow *) s->pdata[j])->camera_id, ==, w.a);
  }
  g_autoptr (GPtrArray) first = nvr_catalog_segments_between (f->cat, w.a, 0, 1000, 1, &error);
  g_assert_cmpint (((NvrSegmentRow *) first->pdata[0])->id, ==, w.seg_a);

  g_autoptr (GPtrArray) e1 = nvr_catalog_events_between (f->cat, w.a, 0, 1000, 10, &error);
  g_assert_cmpuint (e1->len, ==, 1);
  g_assert_cmpint (((NvrEventRow *) e1->pdata[0])->id, ==, w.ev_a);
  g_autoptr (GPtrArray) e2 = nvr_catalog_events_between (f->cat, w.a, 0, 120, 10, &error);
  g_assert_cmpuint (e2->len, ==, 0);
  g_assert_true (nvr_catalog_event_end (f->cat, w.ev_a, 140, &error));
  g_autoptr (GPtrArray) e3 = nvr_catalog_events_between (f->cat, w.a, 140, 1000, 10, &error);
  g_assert_cmpuint (e3->len, ==, 1);
  g_autoptr (GPtrArray) e4 = nvr_catalog_events_between (f->cat, w.a, 141, 1000, 10, &error);
  g_assert_cmpuint (e4->len, ==, 0);
  g_autoptr (GPtrArray) e5 = nvr_catalog_events_between (f->cat, w.b, 0, 1000, 10, &error);
  g_assert_cmpuint (e5->len, ==, 0);
}

/* Retention windows with event footage: a segment an event overlaps (also one it only touches
 * at its end) carries keep_until = the event's end (last motion while active) + the keep time;
 * others carry 0; with no keep time nothing is kept; another camera's event protects nothing;
 * and a long run of kept segments does not hide the plain ones behind it from a small window. */
static void
test_retention_events (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  gint64 cam = add_camera (f->cat, "porch", &error);
  gint64 other = add_camera (f->cat, "garage", &error);
  g_assert_no_error (error);
  /* Segments [k*100, k*100+100) for k = 0..9. */
  for (int k = 0; k < 10; k++) {
    g_autofree char *path = g_strdup_printf ("recordings/1-porch/d/%d.mp4", k);
    g_assert_true (nvr_catalog_segment_close (f->cat, cam, path, k * 100, k * 100 + 100, 100,
                                              10, &error));
  }
  g_assert_true (nvr_catalog_segment_close (f->cat, other, "recordings/2-garage/d/0.mp4", 0, 100,
                                            100, 10, &error));
  gint64 ev1 = 0, ev2 = 0, ev3 = 0;
  /* ev1 [150, 320] ends: covers segments 1, 2, 3. ev2 active, last motion 720: segment 7.
   * ev3 on the other camera over segment 0's time. */
  g_assert_true (nvr_catalog_event_start (f->cat, cam, 150, "[]", 1, 0.1, &ev1, &error));
  g_assert_true (nvr_catalog_event_end (f->cat, ev1, 320, &error));
  g_assert_true (nvr_catalog_event_start (f->cat, cam, 710, "[]", 1, 0.1, &ev2, &error));
  g_assert_true (nvr_catalog_event_update (f->cat, ev2, 720, "[]", 1, 0.1, NULL, &error));
  g_assert_true (nvr_catalog_event_start (f->cat, other, 10, "[]", 1, 0.1, &ev3, &error));
  g_assert_true (nvr_catalog_event_end (f->cat, ev3, 20, &error));
  g_assert_no_error (error);

  const gint64 keep = 1000000;
  g_autoptr (GPtrArray) w = nvr_catalog_retention_windows (f->cat, 100, keep, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (w->len, ==, 2);
  const NvrRetentionWindow *pw = w->pdata[0];
  g_assert_cmpint (pw->camera_id, ==, cam);
  g_assert_cmpuint (pw->oldest->len, ==, 10);
  const gint64 want[10] = { 0, 320 + keep, 320 + keep, 320 + keep, 0, 0, 0, 720 + keep, 0, 0 };
  for (guint i = 0; i < 10; i++) {
    const NvrRetentionSegment *sg = &g_array_index (pw->oldest, NvrRetentionSegment, i);
    g_assert_cmpint (sg->start_us, ==, i * 100);   /* oldest first after the merge */
    g_assert_cmpint (sg->keep_until_us, ==, want[i]);
  }
  const NvrRetentionWindow *gw = w->pdata[1];
  g_assert_cmpint (g_array_index (gw->oldest, NvrRetentionSegment, 0).keep_until_us, ==,
                   20 + keep);

  /* No keep time: nothing is event footage. */
  g_autoptr (GPtrArray) w0 = nvr_catalog_retention_windows (f->cat, 100, 0, &error);
  pw = w0->pdata[0];
  for (guint i = 0; i < pw->oldest->len; i++)
    g_assert_cmpint (g_array_index (pw->oldest, NvrRetentionSegment, i).keep_until_us, ==, 0);

  /* A window of 2: the 2 oldest plain (0, 4) and the 2 oldest kept (1, 2). */
  g_autoptr (GPtrArray) w2 = nvr_catalog_retention_windows (f->cat, 2, keep, &error);
  pw = w2->pdata[0];
  g_assert_cmpuint (pw->oldest->len, ==, 4);
  const gint64 starts[4] = { 0, 100, 200, 400 };
  for (guint i = 0; i < 4; i++)
    g_assert_cmpint (g_array_index (pw->oldest, NvrRetentionSegment, i).start_us, ==, starts[i]);
}

/* v7: a camera's recording switch survives reopening (a daemon restart), with who and when. */
static void
test_paused (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  gint64 a = add_camera (f->cat, "porch", &error);
  g_assert_no_error (error);
  g_assert_true (nvr_catalog_camera_set_paused (f->cat, a, NVR_PAUSE_MQTT, 1234567, &error));
  g_assert_no_error (error);
  nvr_catalog_close (f->cat);
  f->cat = nvr_catalog_open (f->path, &error);
  g_assert_no_error (error);
  g_autoptr (GPtrArray) cams = nvr_catalog_camera_list (f->cat, &error);
  g_assert_no_error (error);
  const NvrCameraRow *r = cams->pdata[0];
  g_assert_cmpint (r->paused_by, ==, NVR_PAUSE_MQTT);
  g_assert_cmpint (r->paused_us, ==, 1234567);
  g_assert_cmpstr (nvr_pause_source_to_string (r->paused_by), ==, "mqtt");

  g_assert_true (nvr_catalog_camera_set_paused (f->cat, a, NVR_PAUSE_NONE, 2000000, &error));
  g_autoptr (GPtrArray) after = nvr_catalog_camera_list (f->cat, &error);
  g_assert_cmpint (((NvrCameraRow *) after->pdata[0])->paused_by, ==, NVR_PAUSE_NONE);
  g_assert_cmpint (((NvrCameraRow *) after->pdata[0])->paused_us, ==, 0);

  g_assert_false (nvr_catalog_camera_set_paused (f->cat, a + 100, NVR_PAUSE_CLI, 1, &error));
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* The schema refuses half a pause or an unknown source. */
  sqlite3 *db = NULL;
  g_assert_cmpint (sqlite3_open (f->path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "UPDATE cameras SET paused_by = 'mqtt'", NULL, NULL, NULL),
                   ==, SQLITE_CONSTRAINT);
  g_assert_cmpint (sqlite3_exec (db, "UPDATE cameras SET paused_by = 'web', paused_us = 1", NULL,
                                 NULL, NULL), ==, SQLITE_CONSTRAINT);
  sqlite3_close (db);
}

/* v8: the fragment index of a segment, read back only through its own camera. */
static void
test_fragments (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  gint64 a = add_camera (f->cat, "porch", &error);
  gint64 b = add_camera (f->cat, "garage", &error);
  gint64 seg = 0, other = 0;
  g_assert_true (nvr_catalog_segment_open (f->cat, a, "recordings/1-porch/d/1.mp4", 1000, &seg,
                                           &error));
  g_assert_true (nvr_catalog_segment_open (f->cat, b, "recordings/2-garage/d/1.mp4", 1000,
                                           &other, &error));
  NvrFragmentRow rows[3];
  for (guint i = 0; i < 3; i++)
    rows[i] = (NvrFragmentRow) { seg, i, 900, { 900 + i * 5000, 5000, i * 1000000, 1000000,
                                                i != 1 } };
  g_assert_true (nvr_catalog_fragments_add (f->cat, rows, 3, &error));
  g_assert_no_error (error);
  /* A duplicate seq refuses the whole batch: nothing of it is stored. */
  NvrFragmentRow again[2] = { { seg, 3, 900, { 15900, 10, 3000000, 1, TRUE } }, rows[2] };
  g_assert_false (nvr_catalog_fragments_add (f->cat, again, 2, &error));
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_DB);
  g_clear_error (&error);
  /* So does a row that breaks a CHECK (negative size). */
  NvrFragmentRow bad = { seg, 3, 900, { 15900, -1, 3000000, 1, TRUE } };
  g_assert_false (nvr_catalog_fragments_add (f->cat, &bad, 1, &error));
  g_clear_error (&error);

  gint64 init = 0;
  g_autoptr (GArray) got = NULL;
  g_assert_true (nvr_catalog_segment_fragments (f->cat, a, seg, &init, &got, &error));
  g_assert_no_error (error);
  g_assert_cmpint (init, ==, 900);
  g_assert_cmpuint (got->len, ==, 3);
  for (guint i = 0; i < 3; i++) {
    const NvrFragment *x = &g_array_index (got, NvrFragment, i);
    g_assert_cmpint (x->offset, ==, 900 + i * 5000);
    g_assert_cmpint (x->start_us, ==, i * 1000000);
    g_assert_cmpint (x->keyframe, ==, i != 1);
  }
  /* Another camera's segment id: not found, nothing returned. */
  g_autoptr (GArray) none = NULL;
  g_assert_false (nvr_catalog_segment_fragments (f->cat, b, seg, &init, &none, &error));
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND);
  g_assert_null (none);
  g_clear_error (&error);

  /* The playlist query: the recording segment with its fragments, the other camera's absent. */
  g_autoptr (GArray) files = NULL, frags = NULL;
  g_assert_true (nvr_catalog_playlist (f->cat, a, 0, 10000000, &files, &frags, &error));
  g_assert_cmpuint (files->len, ==, 1);
  g_assert_cmpuint (frags->len, ==, 3);
  const NvrPlaylistFile *pf = &g_array_index (files, NvrPlaylistFile, 0);
  g_assert_true (pf->recording);
  g_assert_cmpint (pf->segment_id, ==, seg);
  g_assert_cmpuint (pf->n, ==, 3);

  /* Recovery replaces the whole index. */
  NvrFragment probe[2] = { { 800, 100, 0, 500000, TRUE }, { 900, 100, 500000, 500000, FALSE } };
  g_assert_true (nvr_catalog_segment_set_index (f->cat, seg, 800, probe, 2, &error));
  g_clear_pointer (&got, g_array_unref);
  g_assert_true (nvr_catalog_segment_fragments (f->cat, a, seg, &init, &got, &error));
  g_assert_cmpint (init, ==, 800);
  g_assert_cmpuint (got->len, ==, 2);

  /* Retention takes the rows with their segment (ON DELETE CASCADE). */
  g_assert_true (nvr_catalog_segment_close (f->cat, a, "recordings/1-porch/d/1.mp4", 1000,
                                            1001000, 1000000, 1000, &error));
  g_autoptr (GPtrArray) moved = nvr_catalog_segments_to_garbage (f->cat, &seg, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (moved->len, ==, 1);
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  g_assert_cmpint (sqlite3_open (f->path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT count(*) FROM fragments", -1, &st, NULL), ==,
                   SQLITE_OK);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  g_assert_cmpint (sqlite3_column_int (st, 0), ==, 0);
  sqlite3_finalize (st);
  sqlite3_close (db);
}

/* A v7 catalog with rows migrates to v8 in place: rows kept, old segments without an index. */
static void
test_migrate_v7 (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  gint64 a = add_camera (f->cat, "porch", &error);
  gint64 seg = 0;
  g_assert_true (nvr_catalog_segment_open (f->cat, a, "recordings/1-porch/d/1.mp4", 1000, &seg,
                                           &error));
  g_assert_true (nvr_catalog_segment_close (f->cat, a, "recordings/1-porch/d/1.mp4", 1000,
                                            61000, 60000, 4096, &error));
  nvr_catalog_close (f->cat);
  f->cat = NULL;
  /* Turn it back into exactly the v7 schema. */
  sqlite3 *db = NULL;
  g_assert_cmpint (sqlite3_open (f->path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "DROP TABLE audit;"
                                     "ALTER TABLE cameras DROP COLUMN audio;"
                                     "ALTER TABLE cameras DROP COLUMN dir_name;"
                                     "ALTER TABLE cameras DROP COLUMN detect;"
                                     "DROP TABLE fragments;"
                                     "ALTER TABLE segments DROP COLUMN init_bytes;"
                                     "PRAGMA user_version = 7;", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);

  f->cat = nvr_catalog_open (f->path, &error);
  g_assert_no_error (error);
  g_autoptr (GArray) got = NULL;
  gint64 init = -1;
  g_assert_true (nvr_catalog_segment_fragments (f->cat, a, seg, &init, &got, &error));
  g_assert_no_error (error);
  g_assert_cmpint (init, ==, 0);
  g_assert_cmpuint (got->len, ==, 0);
  g_autoptr (NvrSegmentRow) last = nvr_catalog_segment_last (f->cat, a, &error);
  g_assert_nonnull (last);
  g_assert_cmpint (last->bytes, ==, 4096);
  NvrFragmentRow r = { seg, 0, 700, { 700, 100, 0, 1000, TRUE } };
  g_assert_true (nvr_catalog_fragments_add (f->cat, &r, 1, &error));
  g_assert_no_error (error);

  g_assert_cmpint (sqlite3_open (f->path, &db), ==, SQLITE_OK);
  sqlite3_stmt *st = NULL;
  g_assert_cmpint (sqlite3_prepare_v2 (db, "PRAGMA user_version", -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  g_assert_cmpint (sqlite3_column_int (st, 0), ==, 9);
  sqlite3_finalize (st);
  sqlite3_close (db);
}

static int
scalar_int (const char *path, const char *sql)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  int v = sqlite3_column_int (st, 0);
  sqlite3_finalize (st);
  sqlite3_close (db);
  return v;
}

/* A v8 catalog with cameras (one with a retention override), a device and its ACL migrates to
 * v9 in place: rows kept, audio on, directories unchanged, an empty audit trail that takes
 * entries; then a rename keeps the directory, and removal empties the ACL. */
static void
test_migrate_v8 (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  gint64 a = add_camera (f->cat, "porch", &error);
  gint64 b = add_camera (f->cat, "yard", &error);
  g_assert_no_error (error);
  nvr_catalog_close (f->cat);
  f->cat = NULL;
  sqlite3 *db = NULL;
  g_assert_cmpint (sqlite3_open (f->path, &db), ==, SQLITE_OK);
  g_autofree char *sql = g_strdup_printf (
      "DROP TABLE audit;"
      "ALTER TABLE cameras DROP COLUMN audio;"
      "ALTER TABLE cameras DROP COLUMN dir_name;"
      "ALTER TABLE cameras DROP COLUMN detect;"
      "UPDATE cameras SET retain_days = 3 WHERE id = %" G_GINT64_FORMAT ";"
      "INSERT INTO devices (id, name, public_key, is_admin, created_us)"
      "  VALUES (7, 'phone', zeroblob(32), 1, 1);"
      "INSERT INTO device_cameras VALUES (7, %" G_GINT64_FORMAT "), (7, %" G_GINT64_FORMAT ");"
      "PRAGMA user_version = 8;", b, a, b);
  g_assert_cmpint (sqlite3_exec (db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);

  f->cat = nvr_catalog_open (f->path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (scalar_int (f->path, "PRAGMA user_version"), ==, 9);
  g_autoptr (GPtrArray) cams = nvr_catalog_camera_list (f->cat, &error);
  g_assert_cmpuint (cams->len, ==, 2);
  NvrCameraRow *ra = cams->pdata[0], *rb = cams->pdata[1];
  g_assert_cmpstr (ra->name, ==, "porch");
  g_assert_false (ra->audio_off);
  g_assert_false (rb->audio_off);
  g_assert_cmpint (ra->retain_days, ==, 0);
  g_assert_cmpint (rb->retain_days, ==, 3);
  g_assert_cmpstr (ra->dir_name, ==, "porch");
  g_assert_false (ra->detect_off);
  /* The detection switch (issue 13) is stored. */
  g_assert_true (nvr_catalog_camera_set_detect (f->cat, b, FALSE, &error));
  g_assert_no_error (error);
  g_assert_false (nvr_catalog_camera_set_detect (f->cat, 999, FALSE, &error));
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_autoptr (NvrDeviceRow) dev = nvr_catalog_device_get (f->cat, 7, &error);
  g_assert_nonnull (dev);
  g_assert_cmpuint (dev->camera_ids->len, ==, 2);

  /* The audit trail: newest first, paged by before_id. */
  for (int i = 0; i < 3; i++) {
    NvrAuditRow row = { .time_us = 100 + i, .actor_device_id = i == 0 ? 7 : 0,
                        .actor = i == 0 ? "device 7 'phone'" : "admin socket",
                        .action = "camera.edit", .target = "camera 1 'porch'", .camera_id = a,
                        .details = "{\"audio\":{\"from\":true,\"to\":false}}" };
    g_assert_true (nvr_catalog_audit_add (f->cat, &row, NULL, &error));
    g_assert_no_error (error);
  }
  g_autoptr (GPtrArray) page = nvr_catalog_audit_list (f->cat, 0, 2, &error);
  g_assert_cmpuint (page->len, ==, 2);
  g_assert_cmpint (((NvrAuditRow *) page->pdata[0])->time_us, ==, 102);
  g_assert_cmpint (((NvrAuditRow *) page->pdata[1])->time_us, ==, 101);
  g_autoptr (GPtrArray) rest = nvr_catalog_audit_list (f->cat, ((NvrAuditRow *) page->pdata[1])->id,
                                                       2, &error);
  g_assert_cmpuint (rest->len, ==, 1);
  g_assert_cmpint (((NvrAuditRow *) rest->pdata[0])->actor_device_id, ==, 7);
  g_assert_cmpint (((NvrAuditRow *) rest->pdata[0])->camera_id, ==, a);

  /* Rename: the directory name stays; audio off and a retention override are stored. */
  NvrCameraRow upd = *ra;
  upd.name = "front";
  upd.audio_off = TRUE;
  upd.retain_days = 14;
  g_assert_true (nvr_catalog_camera_update (f->cat, &upd, &error));
  g_assert_no_error (error);
  upd.name = "yard";   /* taken */
  g_assert_false (nvr_catalog_camera_update (f->cat, &upd, &error));
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_EXISTS);
  g_clear_error (&error);
  g_autoptr (GPtrArray) after = nvr_catalog_camera_list (f->cat, &error);
  NvrCameraRow *fa = after->pdata[0];
  g_assert_cmpstr (fa->name, ==, "front");
  g_assert_cmpstr (fa->dir_name, ==, "porch");
  g_assert_true (fa->audio_off);
  g_assert_cmpint (fa->retain_days, ==, 14);
  g_assert_false (fa->detect_off);
  g_assert_true (((NvrCameraRow *) after->pdata[1])->detect_off);

  /* Removal takes the camera out of every ACL. */
  g_assert_true (nvr_catalog_camera_remove (f->cat, "front", 2000, &error));
  g_assert_no_error (error);
  g_autoptr (NvrDeviceRow) dev2 = nvr_catalog_device_get (f->cat, 7, &error);
  g_assert_cmpuint (dev2->camera_ids->len, ==, 1);
  g_assert_cmpint (g_array_index (dev2->camera_ids, gint64, 0), ==, b);
}

/* What 32 cameras x 1 fragment/s costs: batches of 32 rows (one flush a second), timed. */
static void
test_fragments_bench (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  enum { CAMS = 32, SECONDS = 300 };
  gint64 segs[CAMS];
  for (guint i = 0; i < CAMS; i++) {
    g_autofree char *name = g_strdup_printf ("cam%u", i);
    gint64 cam = add_camera (f->cat, name, &error);
    g_autofree char *path = g_strdup_printf ("recordings/%" G_GINT64_FORMAT "-%s/d/1.mp4", cam,
                                             name);
    g_assert_true (nvr_catalog_segment_open (f->cat, cam, path, 1000, &segs[i], &error));
  }
  gint64 t0 = g_get_monotonic_time ();
  for (guint s = 0; s < SECONDS; s++) {
    NvrFragmentRow rows[CAMS];
    for (guint i = 0; i < CAMS; i++)
      rows[i] = (NvrFragmentRow) { segs[i], s, 900, { 900 + s * 500000, 500000,
                                                      (gint64) s * 1000000, 1000000, TRUE } };
    g_assert_true (nvr_catalog_fragments_add (f->cat, rows, CAMS, &error));
  }
  gint64 us = g_get_monotonic_time () - t0;
  g_test_message ("fragments: %u rows in %u batches of %u: %" G_GINT64_FORMAT " ms, %.0f rows/s, "
                  "%.2f ms per batch", CAMS * SECONDS, SECONDS, CAMS, us / 1000,
                  CAMS * SECONDS / (us / 1e6), us / 1e3 / SECONDS);
  g_printerr ("fragments bench: %u rows in %u batches of %u: %.0f rows/s, %.2f ms per batch\n",
              CAMS * SECONDS, SECONDS, CAMS, CAMS * SECONDS / (us / 1e6), us / 1e3 / SECONDS);
  /* One batch a second must leave the main loop nearly idle: well under 50 ms. */
  g_assert_cmpfloat (us / 1e3 / SECONDS, <, 50.0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/catalog/cameras", Fixture, NULL, setup, test_cameras, teardown);
  g_test_add ("/catalog/paused", Fixture, NULL, setup, test_paused, teardown);
  g_test_add ("/catalog/fragments", Fixture, NULL, setup, test_fragments, teardown);
  g_test_add ("/catalog/migrate-v7", Fixture, NULL, setup, test_migrate_v7, teardown);
  g_test_add ("/catalog/migrate-v8", Fixture, NULL, setup, test_migrate_v8, teardown);
  g_test_add ("/catalog/fragments-bench", Fixture, NULL, setup, test_fragments_bench, teardown);
  g_test_add ("/catalog/segments", Fixture, NULL, setup, test_segments, teardown);
  g_test_add ("/catalog/outbox", Fixture, NULL, setup, test_outbox, teardown);
  g_test_add ("/catalog/reopen", Fixture, NULL, setup, test_reopen, teardown);
  g_test_add ("/catalog/invites", Fixture, NULL, setup, test_invites, teardown);
  g_test_add ("/catalog/pair", Fixture, NULL, setup, test_pair, teardown);
  g_test_add ("/catalog/authorize", Fixture, NULL, setup, test_authorize, teardown);
  g_test_add ("/catalog/sessions", Fixture, NULL, setup, test_sessions, teardown);
  g_test_add ("/catalog/revoke", Fixture, NULL, setup, test_revoke, teardown);
  g_test_add ("/catalog/between", Fixture, NULL, setup, test_between, teardown);
  g_test_add ("/catalog/retention-events", Fixture, NULL, setup, test_retention_events, teardown);
  return g_test_run ();
}
