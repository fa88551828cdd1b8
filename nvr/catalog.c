/* catalog — SQLite storage of cameras and segments; the only file with SQL in it.
 * Main loop only. Statements are prepared with bound parameters; nothing is concatenated.
 * Schema history is the migrations[] array: entry i takes user_version i to i+1. */
#define G_LOG_DOMAIN "nvr-catalog"

#include "catalog.h"

#include <sqlite3.h>
#include <string.h>

G_DEFINE_QUARK (nvr-catalog-error-quark, nvr_catalog_error)

struct _NvrCatalog {
  sqlite3 *db;
  char *path;
  gboolean outbox_overflowing;   /* warned once until a delivery makes room again */
};

static const char *const migrations[] = {
  /* 0 -> 1: cameras and segments. */
  "CREATE TABLE cameras ("
  "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 32 AND name NOT GLOB '*[^a-z0-9_-]*'),"
  "  main_url TEXT NOT NULL CHECK (main_url GLOB 'rtsp://*' OR main_url GLOB 'rtsps://*'),"
  "  sub_url TEXT CHECK (sub_url IS NULL OR sub_url GLOB 'rtsp://*' OR sub_url GLOB 'rtsps://*'),"
  "  username TEXT NOT NULL DEFAULT '',"
  "  password TEXT NOT NULL DEFAULT '',"
  "  transport TEXT NOT NULL DEFAULT 'default'"
  "    CHECK (transport IN ('default', 'auto', 'tcp', 'udp')),"
  "  created_us INTEGER NOT NULL,"
  "  removed_us INTEGER CHECK (removed_us IS NULL OR removed_us >= created_us)"
  ");"
  "CREATE UNIQUE INDEX cameras_active_name ON cameras (name) WHERE removed_us IS NULL;"
  "CREATE TABLE segments ("
  "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  camera_id INTEGER NOT NULL REFERENCES cameras (id),"
  "  path TEXT NOT NULL UNIQUE CHECK (path NOT GLOB '/*' AND path NOT GLOB '*..*'),"
  "  state TEXT NOT NULL CHECK (state IN ('recording', 'complete')),"
  "  start_us INTEGER NOT NULL,"
  "  end_us INTEGER CHECK (end_us IS NULL OR end_us >= start_us),"
  "  duration_us INTEGER CHECK (duration_us IS NULL OR duration_us >= 0),"
  "  bytes INTEGER NOT NULL DEFAULT 0 CHECK (bytes >= 0),"
  "  CHECK (state = 'recording' OR (end_us IS NOT NULL AND duration_us IS NOT NULL))"
  ");"
  "CREATE INDEX segments_camera_start ON segments (camera_id, start_us);"
  "CREATE INDEX segments_recording ON segments (state) WHERE state = 'recording';",
  /* 1 -> 2: retention. Deleted segments pass through 'garbage' (row gone, file maybe not yet);
   * per-camera limits override the config's (NULL = use the config). */
  "CREATE TABLE garbage ("
  "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  camera_id INTEGER NOT NULL REFERENCES cameras (id),"
  "  path TEXT NOT NULL UNIQUE CHECK (path NOT GLOB '/*' AND path NOT GLOB '*..*')"
  ");"
  "ALTER TABLE cameras ADD COLUMN retain_days INTEGER CHECK (retain_days IS NULL OR retain_days > 0);"
  "ALTER TABLE cameras ADD COLUMN retain_bytes INTEGER CHECK (retain_bytes IS NULL OR retain_bytes > 0);"
  "CREATE INDEX segments_complete_start ON segments (start_us) WHERE state = 'complete';",
  /* 2 -> 3: camera identity (docs/design/identity.md), pinned at first contact;
   * identity_pinned_us NULL = not pinned (next contact pins). */
  "ALTER TABLE cameras ADD COLUMN identity_pinned_us INTEGER;"
  "ALTER TABLE cameras ADD COLUMN identity_mac TEXT NOT NULL DEFAULT '';"
  "ALTER TABLE cameras ADD COLUMN identity_codec TEXT NOT NULL DEFAULT '';"
  "ALTER TABLE cameras ADD COLUMN identity_width INTEGER NOT NULL DEFAULT 0"
  "  CHECK (identity_width BETWEEN 0 AND 65535);"
  "ALTER TABLE cameras ADD COLUMN identity_height INTEGER NOT NULL DEFAULT 0"
  "  CHECK (identity_height BETWEEN 0 AND 65535);"
  "ALTER TABLE cameras ADD COLUMN identity_params TEXT NOT NULL DEFAULT '';",
  /* 3 -> 4: the MQTT outbox (docs/design/mqtt.md): notifications written in the same
   * transaction as what they announce, deleted once the broker acknowledged them. */
  "CREATE TABLE outbox ("
  "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  topic TEXT NOT NULL CHECK (length(topic) BETWEEN 1 AND 256),"
  "  payload TEXT NOT NULL CHECK (length(payload) <= 65536),"
  "  retain INTEGER NOT NULL DEFAULT 0 CHECK (retain IN (0, 1)),"
  "  created_us INTEGER NOT NULL"
  ");",
  /* 4 -> 5: motion (docs/design/motion.md "Wiring", storage.md "Events"): per-camera masks and
   * zones as JSON text of normalised polygons, and events. An event is 'active' (end_us NULL)
   * until its worker reports the end, its worker dies, or start-up recovery ends it at last_us
   * (the last motion the daemon heard of). Thumbnails are paths like segments'. */
  "ALTER TABLE cameras ADD COLUMN motion_masks TEXT NOT NULL DEFAULT ''"
  "  CHECK (length(motion_masks) <= 65536);"
  "ALTER TABLE cameras ADD COLUMN motion_zones TEXT NOT NULL DEFAULT ''"
  "  CHECK (length(motion_zones) <= 65536);"
  "CREATE TABLE events ("
  "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  camera_id INTEGER NOT NULL REFERENCES cameras (id),"
  "  state TEXT NOT NULL CHECK (state IN ('active', 'ended')),"
  "  start_us INTEGER NOT NULL,"
  "  last_us INTEGER NOT NULL CHECK (last_us >= start_us),"
  "  end_us INTEGER CHECK (end_us IS NULL OR end_us >= start_us),"
  "  zones TEXT NOT NULL DEFAULT '[]' CHECK (length(zones) <= 4096),"
  "  peak_score REAL NOT NULL DEFAULT 0,"
  "  peak_area REAL NOT NULL DEFAULT 0,"
  "  thumbnail TEXT CHECK (thumbnail IS NULL OR (thumbnail NOT GLOB '/*' AND"
  "    thumbnail NOT GLOB '*..*')),"
  "  CHECK ((state = 'active') = (end_us IS NULL))"
  ");"
  "CREATE INDEX events_camera_start ON events (camera_id, start_us);"
  "CREATE INDEX events_active ON events (state) WHERE state = 'active';",
};

static gboolean
db_fail (NvrCatalog *c, GError **error, const char *what)
{
  g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_DB, "Failed to %s in '%s': %s", what,
               c->path, sqlite3_errmsg (c->db));
  return FALSE;
}

static gboolean
exec (NvrCatalog *c, const char *sql, GError **error)
{
  char *msg = NULL;
  if (sqlite3_exec (c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_DB, "SQL error in '%s': %s",
                 c->path, msg ? msg : "unknown");
    sqlite3_free (msg);
    return FALSE;
  }
  return TRUE;
}

/* Prepares @sql; on failure sets @error and returns NULL. */
static sqlite3_stmt *
prepare (NvrCatalog *c, const char *sql, GError **error)
{
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2 (c->db, sql, -1, &st, NULL) != SQLITE_OK) {
    db_fail (c, error, "prepare a statement");
    return NULL;
  }
  return st;
}

typedef sqlite3_stmt NvrStmt;
static void
stmt_finalize (NvrStmt *st)
{
  sqlite3_finalize (st);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrStmt, stmt_finalize)

static gboolean
migrate (NvrCatalog *c, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c, "PRAGMA user_version", error);
  if (st == NULL || sqlite3_step (st) != SQLITE_ROW)
    return st == NULL ? FALSE : db_fail (c, error, "read the schema version");
  gint64 version = sqlite3_column_int64 (st, 0);
  if (version > (gint64) G_N_ELEMENTS (migrations)) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_DB,
                 "Catalog '%s' has schema version %" G_GINT64_FORMAT
                 ", newer than this nvr knows (%u)", c->path, version,
                 (guint) G_N_ELEMENTS (migrations));
    return FALSE;
  }
  for (gint64 v = version; v < (gint64) G_N_ELEMENTS (migrations); v++) {
    g_autofree char *bump = g_strdup_printf ("PRAGMA user_version = %" G_GINT64_FORMAT, v + 1);
    if (!exec (c, "BEGIN IMMEDIATE", error))
      return FALSE;
    if (!exec (c, migrations[v], error) || !exec (c, bump, error)) {
      exec (c, "ROLLBACK", NULL);
      return FALSE;
    }
    if (!exec (c, "COMMIT", error))
      return FALSE;
    g_message ("Catalog '%s' migrated to schema version %" G_GINT64_FORMAT, c->path, v + 1);
  }
  return TRUE;
}

NvrCatalog *
nvr_catalog_open (const char *path, GError **error)
{
  g_autoptr (NvrCatalog) c = g_new0 (NvrCatalog, 1);
  c->path = g_strdup (path);
  if (sqlite3_open_v2 (path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                       SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
    db_fail (c, error, "open the catalog");
    return NULL;
  }
  sqlite3_extended_result_codes (c->db, 1);
  sqlite3_busy_timeout (c->db, 5000);
  /* The catalog sees a few small writes per segment: checkpoint the WAL often and cap its
   * size, so it never takes a noticeable share of a nearly full recording disk. */
  if (!exec (c, "PRAGMA journal_mode = WAL;"
                "PRAGMA synchronous = NORMAL;"
                "PRAGMA wal_autocheckpoint = 64;"
                "PRAGMA journal_size_limit = 1048576;"
                "PRAGMA foreign_keys = ON;", error))
    return NULL;
  if (!migrate (c, error))
    return NULL;
  return g_steal_pointer (&c);
}

void
nvr_catalog_close (NvrCatalog *catalog)
{
  if (catalog == NULL)
    return;
  if (catalog->db != NULL)
    sqlite3_close_v2 (catalog->db);
  g_free (catalog->path);
  g_free (catalog);
}

gboolean
nvr_catalog_begin (NvrCatalog *catalog, GError **error)
{
  return exec (catalog, "BEGIN IMMEDIATE", error);
}

gboolean
nvr_catalog_commit (NvrCatalog *catalog, GError **error)
{
  if (exec (catalog, "COMMIT", error))
    return TRUE;
  exec (catalog, "ROLLBACK", NULL);
  return FALSE;
}

void
nvr_camera_row_free (NvrCameraRow *row)
{
  if (row == NULL)
    return;
  g_free (row->name);
  g_free (row->main_url);
  g_free (row->sub_url);
  g_free (row->username);
  g_free (row->password);
  g_free (row->transport);
  g_free (row);
}

void
nvr_segment_row_free (NvrSegmentRow *row)
{
  if (row == NULL)
    return;
  g_free (row->path);
  g_free (row);
}

static char *
col_str (sqlite3_stmt *st, int i)
{
  const unsigned char *s = sqlite3_column_text (st, i);
  return s ? g_strdup ((const char *) s) : NULL;
}

static void
bind_text (sqlite3_stmt *st, int i, const char *s)
{
  if (s == NULL)
    sqlite3_bind_null (st, i);
  else
    sqlite3_bind_text (st, i, s, -1, SQLITE_TRANSIENT);
}

gboolean
nvr_catalog_camera_add (NvrCatalog *c, const NvrCameraRow *row, gint64 now_us, gint64 *out_id,
                        GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "INSERT INTO cameras (name, main_url, sub_url, username, password, transport, created_us)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", error);
  if (st == NULL)
    return FALSE;
  bind_text (st, 1, row->name);
  bind_text (st, 2, row->main_url);
  bind_text (st, 3, row->sub_url);
  bind_text (st, 4, row->username ? row->username : "");
  bind_text (st, 5, row->password ? row->password : "");
  bind_text (st, 6, row->transport ? row->transport : "default");
  sqlite3_bind_int64 (st, 7, now_us);
  int rc = sqlite3_step (st);
  if (rc == SQLITE_CONSTRAINT_UNIQUE) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_EXISTS,
                 "A camera named '%s' already exists", row->name);
    return FALSE;
  }
  if ((rc & 0xff) == SQLITE_CONSTRAINT) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_INVALID,
                 "Camera '%s' was refused by the catalog: %s", row->name,
                 sqlite3_errmsg (c->db));
    return FALSE;
  }
  if (rc != SQLITE_DONE)
    return db_fail (c, error, "add a camera");
  if (out_id)
    *out_id = sqlite3_last_insert_rowid (c->db);
  return TRUE;
}

gboolean
nvr_catalog_camera_remove (NvrCatalog *c, const char *name, gint64 now_us, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "UPDATE cameras SET removed_us = ?2 WHERE name = ?1 AND removed_us IS NULL", error);
  if (st == NULL)
    return FALSE;
  bind_text (st, 1, name);
  sqlite3_bind_int64 (st, 2, now_us);
  if (sqlite3_step (st) != SQLITE_DONE)
    return db_fail (c, error, "remove a camera");
  if (sqlite3_changes (c->db) == 0) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND, "No camera named '%s'",
                 name);
    return FALSE;
  }
  return TRUE;
}

GPtrArray *
nvr_catalog_camera_list (NvrCatalog *c, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT id, name, main_url, sub_url, username, password, transport, created_us"
      " FROM cameras WHERE removed_us IS NULL ORDER BY id", error);
  if (st == NULL)
    return NULL;
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) nvr_camera_row_free);
  int rc;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
    NvrCameraRow *r = g_new0 (NvrCameraRow, 1);
    r->id = sqlite3_column_int64 (st, 0);
    r->name = col_str (st, 1);
    r->main_url = col_str (st, 2);
    r->sub_url = col_str (st, 3);
    r->username = col_str (st, 4);
    r->password = col_str (st, 5);
    r->transport = col_str (st, 6);
    r->created_us = sqlite3_column_int64 (st, 7);
    g_ptr_array_add (out, r);
  }
  if (rc != SQLITE_DONE) {
    db_fail (c, error, "list cameras");
    return NULL;
  }
  return g_steal_pointer (&out);
}

/* ---- camera identity (docs/design/identity.md) ---- */

gboolean
nvr_catalog_identity_get (NvrCatalog *c, gint64 camera_id, NvrIdentity *out, gboolean *pinned,
                          GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT identity_pinned_us IS NOT NULL, identity_mac, identity_codec, identity_width,"
      " identity_height, identity_params FROM cameras WHERE id = ?1", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, camera_id);
  int rc = sqlite3_step (st);
  if (rc == SQLITE_DONE) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND,
                 "No camera with id %" G_GINT64_FORMAT, camera_id);
    return FALSE;
  }
  if (rc != SQLITE_ROW)
    return db_fail (c, error, "read a camera's identity");
  memset (out, 0, sizeof *out);
  *pinned = sqlite3_column_int (st, 0) != 0;
  const char *mac = (const char *) sqlite3_column_text (st, 1);
  const char *codec = (const char *) sqlite3_column_text (st, 2);
  const char *params = (const char *) sqlite3_column_text (st, 5);
  g_strlcpy (out->mac, mac ? mac : "", sizeof out->mac);
  g_strlcpy (out->codec, codec ? codec : "", sizeof out->codec);
  out->width = (gint32) sqlite3_column_int (st, 3);
  out->height = (gint32) sqlite3_column_int (st, 4);
  g_strlcpy (out->params, params ? params : "", sizeof out->params);
  return TRUE;
}

gboolean
nvr_catalog_identity_pin (NvrCatalog *c, gint64 camera_id, const NvrIdentity *id, gint64 now_us,
                          GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "UPDATE cameras SET identity_pinned_us = ?2, identity_mac = ?3, identity_codec = ?4,"
      " identity_width = ?5, identity_height = ?6, identity_params = ?7 WHERE id = ?1", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, camera_id);
  sqlite3_bind_int64 (st, 2, now_us);
  bind_text (st, 3, id->mac);
  bind_text (st, 4, id->codec);
  sqlite3_bind_int (st, 5, id->width);
  sqlite3_bind_int (st, 6, id->height);
  bind_text (st, 7, id->params);
  if (sqlite3_step (st) != SQLITE_DONE)
    return db_fail (c, error, "pin a camera's identity");
  return TRUE;
}

gboolean
nvr_catalog_identity_reset (NvrCatalog *c, const char *name, gint64 *out_id, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "UPDATE cameras SET identity_pinned_us = NULL, identity_mac = '', identity_codec = '',"
      " identity_width = 0, identity_height = 0, identity_params = ''"
      " WHERE name = ?1 AND removed_us IS NULL RETURNING id", error);
  if (st == NULL)
    return FALSE;
  bind_text (st, 1, name);
  int rc = sqlite3_step (st);
  if (rc == SQLITE_DONE) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND, "No camera named '%s'",
                 name);
    return FALSE;
  }
  if (rc != SQLITE_ROW)
    return db_fail (c, error, "reset a camera's identity");
  if (out_id)
    *out_id = sqlite3_column_int64 (st, 0);
  if (sqlite3_step (st) != SQLITE_DONE)
    return db_fail (c, error, "reset a camera's identity");
  return TRUE;
}

/* ---- segments ---- */

gboolean
nvr_catalog_segment_open (NvrCatalog *c, gint64 camera_id, const char *path, gint64 start_us,
                          gint64 *out_id, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "INSERT INTO segments (camera_id, path, state, start_us) VALUES (?1, ?2, 'recording', ?3)",
      error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, camera_id);
  bind_text (st, 2, path);
  sqlite3_bind_int64 (st, 3, start_us);
  if (sqlite3_step (st) != SQLITE_DONE)
    return db_fail (c, error, "record an opened segment");
  if (out_id)
    *out_id = sqlite3_last_insert_rowid (c->db);
  return TRUE;
}

gboolean
nvr_catalog_segment_close (NvrCatalog *c, gint64 camera_id, const char *path, gint64 start_us,
                           gint64 end_us, gint64 duration_us, gint64 bytes, GError **error)
{
  /* Upsert: a close whose open was lost (daemon restarted in between) still gets its row. */
  g_autoptr (NvrStmt) st = prepare (c,
      "INSERT INTO segments (camera_id, path, state, start_us, end_us, duration_us, bytes)"
      " VALUES (?1, ?2, 'complete', ?3, ?4, ?5, ?6)"
      " ON CONFLICT (path) DO UPDATE SET state = 'complete', start_us = excluded.start_us,"
      "   end_us = excluded.end_us, duration_us = excluded.duration_us, bytes = excluded.bytes"
      " WHERE segments.camera_id = excluded.camera_id", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, camera_id);
  bind_text (st, 2, path);
  sqlite3_bind_int64 (st, 3, start_us);
  sqlite3_bind_int64 (st, 4, MAX (end_us, start_us));
  sqlite3_bind_int64 (st, 5, MAX (duration_us, 0));
  sqlite3_bind_int64 (st, 6, MAX (bytes, 0));
  if (sqlite3_step (st) != SQLITE_DONE)
    return db_fail (c, error, "record a closed segment");
  if (sqlite3_changes (c->db) == 0) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_INVALID,
                 "Segment '%s' belongs to another camera", path);
    return FALSE;
  }
  return TRUE;
}

gboolean
nvr_catalog_segment_delete (NvrCatalog *c, gint64 segment_id, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c, "DELETE FROM segments WHERE id = ?1", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, segment_id);
  if (sqlite3_step (st) != SQLITE_DONE)
    return db_fail (c, error, "delete a segment");
  return TRUE;
}

static NvrSegmentRow *
segment_from_row (sqlite3_stmt *st)
{
  NvrSegmentRow *r = g_new0 (NvrSegmentRow, 1);
  r->id = sqlite3_column_int64 (st, 0);
  r->camera_id = sqlite3_column_int64 (st, 1);
  r->path = col_str (st, 2);
  r->recording = g_strcmp0 ((const char *) sqlite3_column_text (st, 3), "recording") == 0;
  r->start_us = sqlite3_column_int64 (st, 4);
  r->end_us = sqlite3_column_int64 (st, 5);
  r->duration_us = sqlite3_column_int64 (st, 6);
  r->bytes = sqlite3_column_int64 (st, 7);
  return r;
}

#define SEGMENT_COLUMNS "id, camera_id, path, state, start_us, end_us, duration_us, bytes"

GPtrArray *
nvr_catalog_segments_recording (NvrCatalog *c, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT " SEGMENT_COLUMNS " FROM segments WHERE state = 'recording' ORDER BY id", error);
  if (st == NULL)
    return NULL;
  g_autoptr (GPtrArray) out =
      g_ptr_array_new_with_free_func ((GDestroyNotify) nvr_segment_row_free);
  int rc;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    g_ptr_array_add (out, segment_from_row (st));
  if (rc != SQLITE_DONE) {
    db_fail (c, error, "list open segments");
    return NULL;
  }
  return g_steal_pointer (&out);
}

gboolean
nvr_catalog_segment_exists (NvrCatalog *c, const char *path, gboolean *out, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c, "SELECT 1 FROM segments WHERE path = ?1", error);
  if (st == NULL)
    return FALSE;
  bind_text (st, 1, path);
  int rc = sqlite3_step (st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return db_fail (c, error, "look up a segment");
  *out = rc == SQLITE_ROW;
  return TRUE;
}

NvrSegmentRow *
nvr_catalog_segment_last (NvrCatalog *c, gint64 camera_id, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT " SEGMENT_COLUMNS " FROM segments WHERE camera_id = ?1"
      " ORDER BY start_us DESC, id DESC LIMIT 1", error);
  if (st == NULL)
    return NULL;
  sqlite3_bind_int64 (st, 1, camera_id);
  int rc = sqlite3_step (st);
  if (rc == SQLITE_ROW)
    return segment_from_row (st);
  if (rc != SQLITE_DONE)
    db_fail (c, error, "find the last segment");
  return NULL;
}

gboolean
nvr_catalog_camera_bytes_since (NvrCatalog *c, gint64 camera_id, gint64 since_us,
                                gint64 *out_bytes, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT coalesce(sum(bytes), 0) FROM segments WHERE camera_id = ?1 AND start_us >= ?2",
      error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, camera_id);
  sqlite3_bind_int64 (st, 2, since_us);
  if (sqlite3_step (st) != SQLITE_ROW)
    return db_fail (c, error, "sum a camera's bytes");
  *out_bytes = sqlite3_column_int64 (st, 0);
  return TRUE;
}

GArray *
nvr_catalog_timeline (NvrCatalog *c, gint64 camera_id, gint64 from_us, gint64 to_us,
                      GError **error)
{
  /* start_us >= from - max length lets the (camera_id, start_us) index bound both ends. */
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT id, start_us, end_us, bytes FROM segments"
      " WHERE camera_id = ?1 AND state = 'complete' AND start_us >= ?2 AND start_us < ?3"
      "   AND end_us > ?4 ORDER BY start_us, id", error);
  if (st == NULL)
    return NULL;
  sqlite3_bind_int64 (st, 1, camera_id);
  sqlite3_bind_int64 (st, 2, from_us - NVR_CATALOG_SEGMENT_MAX_US);
  sqlite3_bind_int64 (st, 3, to_us);
  sqlite3_bind_int64 (st, 4, from_us);
  g_autoptr (GArray) out = g_array_new (FALSE, FALSE, sizeof (NvrTimelineSegment));
  int rc;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
    NvrTimelineSegment seg = {
      .id = sqlite3_column_int64 (st, 0),
      .start_us = sqlite3_column_int64 (st, 1),
      .end_us = sqlite3_column_int64 (st, 2),
      .bytes = sqlite3_column_int64 (st, 3),
    };
    g_array_append_val (out, seg);
  }
  if (rc != SQLITE_DONE) {
    db_fail (c, error, "read a timeline");
    return NULL;
  }
  return g_steal_pointer (&out);
}

/* ---- retention ---- */

void
nvr_retention_window_free (NvrRetentionWindow *w)
{
  if (w == NULL)
    return;
  g_array_unref (w->oldest);
  g_free (w);
}

GPtrArray *
nvr_catalog_retention_windows (NvrCatalog *c, guint limit, GError **error)
{
  g_autoptr (NvrStmt) totals = prepare (c,
      "SELECT s.camera_id, sum(s.bytes), coalesce(c.retain_days, 0), coalesce(c.retain_bytes, 0)"
      " FROM segments s JOIN cameras c ON c.id = s.camera_id"
      " WHERE s.state = 'complete' GROUP BY s.camera_id ORDER BY s.camera_id", error);
  g_autoptr (NvrStmt) oldest = prepare (c,
      "SELECT id, start_us, end_us, bytes FROM segments"
      " WHERE camera_id = ?1 AND state = 'complete' ORDER BY start_us, id LIMIT ?2", error);
  if (totals == NULL || oldest == NULL)
    return NULL;
  g_autoptr (GPtrArray) out =
      g_ptr_array_new_with_free_func ((GDestroyNotify) nvr_retention_window_free);
  int rc;
  while ((rc = sqlite3_step (totals)) == SQLITE_ROW) {
    NvrRetentionWindow *w = g_new0 (NvrRetentionWindow, 1);
    w->camera_id = sqlite3_column_int64 (totals, 0);
    w->total_bytes = sqlite3_column_int64 (totals, 1);
    w->retain_days = sqlite3_column_int64 (totals, 2);
    w->retain_bytes = sqlite3_column_int64 (totals, 3);
    w->oldest = g_array_new (FALSE, TRUE, sizeof (NvrRetentionSegment));
    g_ptr_array_add (out, w);
  }
  if (rc != SQLITE_DONE) {
    db_fail (c, error, "sum segment sizes");
    return NULL;
  }
  for (guint i = 0; i < out->len; i++) {
    NvrRetentionWindow *w = out->pdata[i];
    sqlite3_reset (oldest);
    sqlite3_bind_int64 (oldest, 1, w->camera_id);
    sqlite3_bind_int64 (oldest, 2, limit);
    while ((rc = sqlite3_step (oldest)) == SQLITE_ROW) {
      NvrRetentionSegment seg = {
        .id = sqlite3_column_int64 (oldest, 0),
        .start_us = sqlite3_column_int64 (oldest, 1),
        .end_us = sqlite3_column_int64 (oldest, 2),
        .bytes = sqlite3_column_int64 (oldest, 3),
      };
      g_array_append_val (w->oldest, seg);
    }
    if (rc != SQLITE_DONE) {
      db_fail (c, error, "list the oldest segments");
      return NULL;
    }
  }
  return g_steal_pointer (&out);
}

GPtrArray *
nvr_catalog_segments_to_garbage (NvrCatalog *c, const gint64 *ids, guint n, GError **error)
{
  g_autoptr (NvrStmt) sel = prepare (c,
      "SELECT camera_id, path FROM segments WHERE id = ?1 AND state = 'complete'", error);
  g_autoptr (NvrStmt) ins = prepare (c,
      "INSERT OR IGNORE INTO garbage (camera_id, path) VALUES (?1, ?2)", error);
  g_autoptr (NvrStmt) del = prepare (c, "DELETE FROM segments WHERE id = ?1", error);
  if (sel == NULL || ins == NULL || del == NULL)
    return NULL;
  if (!exec (c, "BEGIN IMMEDIATE", error))
    return NULL;
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n; i++) {
    sqlite3_reset (sel);
    sqlite3_bind_int64 (sel, 1, ids[i]);
    int rc = sqlite3_step (sel);
    if (rc == SQLITE_DONE)
      continue;
    if (rc != SQLITE_ROW)
      goto fail;
    gint64 camera_id = sqlite3_column_int64 (sel, 0);
    char *path = col_str (sel, 1);
    g_ptr_array_add (paths, path);
    sqlite3_reset (ins);
    sqlite3_bind_int64 (ins, 1, camera_id);
    bind_text (ins, 2, path);
    sqlite3_reset (del);
    sqlite3_bind_int64 (del, 1, ids[i]);
    if (sqlite3_step (ins) != SQLITE_DONE || sqlite3_step (del) != SQLITE_DONE)
      goto fail;
  }
  if (!exec (c, "COMMIT", error)) {
    exec (c, "ROLLBACK", NULL);
    return NULL;
  }
  return g_steal_pointer (&paths);

fail:
  db_fail (c, error, "move segments to garbage");
  exec (c, "ROLLBACK", NULL);
  return NULL;
}

GPtrArray *
nvr_catalog_garbage_list (NvrCatalog *c, guint limit, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c, "SELECT path FROM garbage ORDER BY id LIMIT ?1", error);
  if (st == NULL)
    return NULL;
  sqlite3_bind_int64 (st, 1, limit);
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  int rc;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    g_ptr_array_add (out, col_str (st, 0));
  if (rc != SQLITE_DONE) {
    db_fail (c, error, "list garbage");
    return NULL;
  }
  return g_steal_pointer (&out);
}

gboolean
nvr_catalog_garbage_done (NvrCatalog *c, GPtrArray *paths, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c, "DELETE FROM garbage WHERE path = ?1", error);
  if (st == NULL || !exec (c, "BEGIN IMMEDIATE", error))
    return FALSE;
  for (guint i = 0; i < paths->len; i++) {
    sqlite3_reset (st);
    bind_text (st, 1, paths->pdata[i]);
    if (sqlite3_step (st) != SQLITE_DONE) {
      db_fail (c, error, "forget garbage");
      exec (c, "ROLLBACK", NULL);
      return FALSE;
    }
  }
  if (!exec (c, "COMMIT", error)) {
    exec (c, "ROLLBACK", NULL);
    return FALSE;
  }
  return TRUE;
}

/* ---- MQTT outbox ---- */

void
nvr_outbox_row_free (NvrOutboxRow *row)
{
  if (row == NULL)
    return;
  g_free (row->topic);
  g_free (row->payload);
  g_free (row);
}

gboolean
nvr_catalog_outbox_add (NvrCatalog *c, const char *topic, const char *payload, gboolean retain,
                        gint64 now_us, gint64 *out_id, GError **error)
{
  g_autoptr (NvrStmt) ins = prepare (c,
      "INSERT INTO outbox (topic, payload, retain, created_us) VALUES (?1, ?2, ?3, ?4)", error);
  /* Bounded: past the maximum the oldest notifications go (the events stay in the catalog). */
  g_autoptr (NvrStmt) prune = prepare (c,
      "DELETE FROM outbox WHERE id <= (SELECT max(id) FROM outbox) - ?1", error);
  if (ins == NULL || prune == NULL)
    return FALSE;
  bind_text (ins, 1, topic);
  bind_text (ins, 2, payload);
  sqlite3_bind_int (ins, 3, retain ? 1 : 0);
  sqlite3_bind_int64 (ins, 4, now_us);
  if (sqlite3_step (ins) != SQLITE_DONE)
    return db_fail (c, error, "queue an MQTT message");
  if (out_id)
    *out_id = sqlite3_last_insert_rowid (c->db);
  sqlite3_bind_int64 (prune, 1, NVR_CATALOG_OUTBOX_MAX);
  if (sqlite3_step (prune) != SQLITE_DONE)
    return db_fail (c, error, "bound the MQTT outbox");
  if (sqlite3_changes (c->db) > 0 && !c->outbox_overflowing) {
    g_warning ("MQTT outbox full (%d messages): dropping the oldest undelivered notifications "
               "until the broker is reachable again", NVR_CATALOG_OUTBOX_MAX);
    c->outbox_overflowing = TRUE;
  }
  return TRUE;
}

GPtrArray *
nvr_catalog_outbox_next (NvrCatalog *c, gint64 after_id, guint limit, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT id, topic, payload, retain, created_us FROM outbox WHERE id > ?1"
      " ORDER BY id LIMIT ?2", error);
  if (st == NULL)
    return NULL;
  sqlite3_bind_int64 (st, 1, after_id);
  sqlite3_bind_int64 (st, 2, limit);
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) nvr_outbox_row_free);
  int rc;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
    NvrOutboxRow *r = g_new0 (NvrOutboxRow, 1);
    r->id = sqlite3_column_int64 (st, 0);
    r->topic = col_str (st, 1);
    r->payload = col_str (st, 2);
    r->retain = sqlite3_column_int (st, 3) != 0;
    r->created_us = sqlite3_column_int64 (st, 4);
    g_ptr_array_add (out, r);
  }
  if (rc != SQLITE_DONE) {
    db_fail (c, error, "read the MQTT outbox");
    return NULL;
  }
  return g_steal_pointer (&out);
}

gboolean
nvr_catalog_outbox_done (NvrCatalog *c, gint64 id, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c, "DELETE FROM outbox WHERE id = ?1", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, id);
  if (sqlite3_step (st) != SQLITE_DONE)
    return db_fail (c, error, "forget a delivered MQTT message");
  c->outbox_overflowing = FALSE;
  return TRUE;
}

/* ---- motion events (docs/design/storage.md "Events") ---- */

void
nvr_event_row_free (NvrEventRow *row)
{
  if (row == NULL)
    return;
  g_free (row->zones);
  g_free (row->thumbnail);
  g_free (row);
}

gboolean
nvr_catalog_camera_motion_get (NvrCatalog *c, gint64 camera_id, char **masks, char **zones,
                               GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT motion_masks, motion_zones FROM cameras WHERE id = ?1", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, camera_id);
  int rc = sqlite3_step (st);
  if (rc == SQLITE_DONE) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND, "No camera with id %"
                 G_GINT64_FORMAT, camera_id);
    return FALSE;
  }
  if (rc != SQLITE_ROW)
    return db_fail (c, error, "read motion settings");
  *masks = col_str (st, 0);
  *zones = col_str (st, 1);
  return TRUE;
}

gboolean
nvr_catalog_camera_motion_set (NvrCatalog *c, const char *name, const char *masks,
                               const char *zones, gint64 *out_id, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "UPDATE cameras SET motion_masks = ?2, motion_zones = ?3"
      " WHERE name = ?1 AND removed_us IS NULL RETURNING id", error);
  if (st == NULL)
    return FALSE;
  bind_text (st, 1, name);
  bind_text (st, 2, masks);
  bind_text (st, 3, zones);
  int rc = sqlite3_step (st);
  if (rc == SQLITE_DONE) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND, "No camera named '%s'",
                 name);
    return FALSE;
  }
  if (rc != SQLITE_ROW)
    return db_fail (c, error, "store motion settings");
  if (out_id)
    *out_id = sqlite3_column_int64 (st, 0);
  return TRUE;
}

gboolean
nvr_catalog_event_start (NvrCatalog *c, gint64 camera_id, gint64 start_us, const char *zones,
                         double peak_score, double peak_area, gint64 *out_id, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "INSERT INTO events (camera_id, state, start_us, last_us, zones, peak_score, peak_area)"
      " VALUES (?1, 'active', ?2, ?2, ?3, ?4, ?5)", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, camera_id);
  sqlite3_bind_int64 (st, 2, start_us);
  bind_text (st, 3, zones ? zones : "[]");
  sqlite3_bind_double (st, 4, peak_score);
  sqlite3_bind_double (st, 5, peak_area);
  if (sqlite3_step (st) != SQLITE_DONE)
    return db_fail (c, error, "record an event");
  *out_id = sqlite3_last_insert_rowid (c->db);
  return TRUE;
}

gboolean
nvr_catalog_event_update (NvrCatalog *c, gint64 event_id, gint64 last_us, const char *zones,
                          double peak_score, double peak_area, const char *thumbnail,
                          GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "UPDATE events SET last_us = max(last_us, ?2), zones = ?3,"
      " peak_score = max(peak_score, ?4), peak_area = max(peak_area, ?5),"
      " thumbnail = coalesce(?6, thumbnail) WHERE id = ?1 AND state = 'active'", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, event_id);
  sqlite3_bind_int64 (st, 2, last_us);
  bind_text (st, 3, zones ? zones : "[]");
  sqlite3_bind_double (st, 4, peak_score);
  sqlite3_bind_double (st, 5, peak_area);
  bind_text (st, 6, thumbnail);
  if (sqlite3_step (st) != SQLITE_DONE)
    return db_fail (c, error, "update an event");
  return TRUE;
}

gboolean
nvr_catalog_event_end (NvrCatalog *c, gint64 event_id, gint64 end_us, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "UPDATE events SET state = 'ended', end_us = max(start_us, ?2),"
      " last_us = max(last_us, ?2) WHERE id = ?1 AND state = 'active'", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, event_id);
  sqlite3_bind_int64 (st, 2, end_us);
  if (sqlite3_step (st) != SQLITE_DONE)
    return db_fail (c, error, "end an event");
  return TRUE;
}

static NvrEventRow *
event_from_row (sqlite3_stmt *st)
{
  NvrEventRow *r = g_new0 (NvrEventRow, 1);
  r->id = sqlite3_column_int64 (st, 0);
  r->camera_id = sqlite3_column_int64 (st, 1);
  r->active = g_strcmp0 ((const char *) sqlite3_column_text (st, 2), "active") == 0;
  r->start_us = sqlite3_column_int64 (st, 3);
  r->last_us = sqlite3_column_int64 (st, 4);
  r->end_us = sqlite3_column_int64 (st, 5);
  r->zones = col_str (st, 6);
  r->peak_score = sqlite3_column_double (st, 7);
  r->peak_area = sqlite3_column_double (st, 8);
  r->thumbnail = col_str (st, 9);
  return r;
}

#define EVENT_COLUMNS \
  "id, camera_id, state, start_us, last_us, coalesce(end_us, 0), zones, peak_score, peak_area," \
  " thumbnail"

NvrEventRow *
nvr_catalog_event_get (NvrCatalog *c, gint64 event_id, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c, "SELECT " EVENT_COLUMNS " FROM events WHERE id = ?1",
                                    error);
  if (st == NULL)
    return NULL;
  sqlite3_bind_int64 (st, 1, event_id);
  int rc = sqlite3_step (st);
  if (rc == SQLITE_ROW)
    return event_from_row (st);
  if (rc == SQLITE_DONE)
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND, "No event %"
                 G_GINT64_FORMAT, event_id);
  else
    db_fail (c, error, "read an event");
  return NULL;
}

GPtrArray *
nvr_catalog_events_active (NvrCatalog *c, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c, "SELECT " EVENT_COLUMNS " FROM events"
                                    " WHERE state = 'active' ORDER BY id", error);
  if (st == NULL)
    return NULL;
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) nvr_event_row_free);
  int rc;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    g_ptr_array_add (out, event_from_row (st));
  if (rc != SQLITE_DONE) {
    db_fail (c, error, "list active events");
    return NULL;
  }
  return g_steal_pointer (&out);
}

GArray *
nvr_catalog_event_segments (NvrCatalog *c, gint64 event_id, GError **error)
{
  /* Segments are at most NVR_CATALOG_SEGMENT_MAX_US long: that bounds the index range. An
   * active event overlaps up to its last known motion; a recording segment up to now. */
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT s.id FROM events e JOIN segments s ON s.camera_id = e.camera_id"
      " WHERE e.id = ?1 AND s.start_us >= e.start_us - ?2"
      "   AND s.start_us <= coalesce(e.end_us, e.last_us)"
      "   AND (s.end_us IS NULL OR s.end_us >= e.start_us)"
      " ORDER BY s.start_us, s.id", error);
  if (st == NULL)
    return NULL;
  sqlite3_bind_int64 (st, 1, event_id);
  sqlite3_bind_int64 (st, 2, NVR_CATALOG_SEGMENT_MAX_US);
  g_autoptr (GArray) out = g_array_new (FALSE, FALSE, sizeof (gint64));
  int rc;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
    gint64 id = sqlite3_column_int64 (st, 0);
    g_array_append_val (out, id);
  }
  if (rc != SQLITE_DONE) {
    db_fail (c, error, "list an event's segments");
    return NULL;
  }
  return g_steal_pointer (&out);
}
