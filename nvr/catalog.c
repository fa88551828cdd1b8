/* catalog — SQLite storage of cameras and segments; the only file with SQL in it.
 * Main loop only. Statements are prepared with bound parameters; nothing is concatenated.
 * Schema history is the migrations[] array: entry i takes user_version i to i+1. */
#define G_LOG_DOMAIN "nvr-catalog"

#include "catalog.h"
#include "paths.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
  /* 5 -> 6: devices, invites, sessions (docs/design/auth.md "Stored"). Secrets are stored only
   * as 32-byte crypto_generichash digests. A device is never deleted: revocation sets
   * revoked_us and deletes its sessions; public keys stay unique, revoked or not. */
  "CREATE TABLE devices ("
  "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),"
  "  public_key BLOB NOT NULL UNIQUE"
  "    CHECK (typeof(public_key) = 'blob' AND length(public_key) = 32),"
  "  is_admin INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),"
  "  created_us INTEGER NOT NULL,"
  "  revoked_us INTEGER CHECK (revoked_us IS NULL OR revoked_us >= created_us),"
  "  last_seen_us INTEGER"
  ");"
  "CREATE TABLE device_cameras ("
  "  device_id INTEGER NOT NULL REFERENCES devices (id),"
  "  camera_id INTEGER NOT NULL REFERENCES cameras (id),"
  "  PRIMARY KEY (device_id, camera_id)"
  ") WITHOUT ROWID;"
  "CREATE TABLE invites ("
  "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  lookup TEXT NOT NULL UNIQUE"
  "    CHECK (length(lookup) = 4 AND lookup NOT GLOB '*[^0-9A-HJKMNP-TV-Z]*'),"
  "  secret_hash BLOB NOT NULL"
  "    CHECK (typeof(secret_hash) = 'blob' AND length(secret_hash) = 32),"
  "  name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),"
  "  is_admin INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),"
  "  created_us INTEGER NOT NULL,"
  "  expires_us INTEGER NOT NULL CHECK (expires_us > created_us),"
  "  used_us INTEGER,"
  "  failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),"
  "  burned_us INTEGER,"
  "  CHECK (used_us IS NULL OR burned_us IS NULL)"
  ");"
  "CREATE TABLE invite_cameras ("
  "  invite_id INTEGER NOT NULL REFERENCES invites (id) ON DELETE CASCADE,"
  "  camera_id INTEGER NOT NULL REFERENCES cameras (id),"
  "  PRIMARY KEY (invite_id, camera_id)"
  ") WITHOUT ROWID;"
  "CREATE TABLE sessions ("
  "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  token_hash BLOB NOT NULL UNIQUE"
  "    CHECK (typeof(token_hash) = 'blob' AND length(token_hash) = 32),"
  "  device_id INTEGER NOT NULL REFERENCES devices (id),"
  "  created_us INTEGER NOT NULL,"
  "  last_used_us INTEGER NOT NULL CHECK (last_used_us >= created_us)"
  ");"
  "CREATE INDEX sessions_device ON sessions (device_id);",
  /* 6 -> 7: recording switched off by the household (docs/design/mqtt.md "Commands"), kept
   * across restarts so that a paused camera stays visibly paused: when and by what. Both NULL =
   * recording. */
  "ALTER TABLE cameras ADD COLUMN paused_us INTEGER;"
  "ALTER TABLE cameras ADD COLUMN paused_by TEXT"
  "  CHECK ((paused_by IS NULL) = (paused_us IS NULL) AND"
  "    (paused_by IS NULL OR paused_by IN ('mqtt', 'cli')));",
  /* 7 -> 8: the fragment index (docs/design/playback.md "Fragment index"): one row per
   * moof+mdat of a segment file, in file order; init_bytes = ftyp+moov length (NULL: not known,
   * e.g. a plain MP4 recorded before v8, which has no fragments). Rows go with their segment. */
  "ALTER TABLE segments ADD COLUMN init_bytes INTEGER CHECK (init_bytes IS NULL OR init_bytes > 0);"
  "CREATE TABLE fragments ("
  "  segment_id INTEGER NOT NULL REFERENCES segments (id) ON DELETE CASCADE,"
  "  seq INTEGER NOT NULL CHECK (seq >= 0),"
  "  offset INTEGER NOT NULL CHECK (offset > 0),"
  "  size INTEGER NOT NULL CHECK (size > 0),"
  "  start_us INTEGER NOT NULL CHECK (start_us >= 0),"
  "  duration_us INTEGER NOT NULL CHECK (duration_us > 0),"
  "  keyframe INTEGER NOT NULL CHECK (keyframe IN (0, 1)),"
  "  PRIMARY KEY (segment_id, seq)"
  ") WITHOUT ROWID;",
  /* 8 -> 9: administration from the browser (docs/design/admin.md): the per-camera audio
   * switch (stored and passed to the worker); the motion detection switch (issue 13: kept
   * across restarts, set by the CLI and MQTT); the name a camera's directory was made with,
   * kept across renames (NULL = its name); the audit trail of admin changes, newest by id.
   * actor_device_id NULL = the admin socket (the CLI). details: JSON object, never a secret. */
  "ALTER TABLE cameras ADD COLUMN audio INTEGER NOT NULL DEFAULT 1 CHECK (audio IN (0, 1));"
  "ALTER TABLE cameras ADD COLUMN detect INTEGER NOT NULL DEFAULT 1 CHECK (detect IN (0, 1));"
  "ALTER TABLE cameras ADD COLUMN dir_name TEXT CHECK (dir_name IS NULL OR"
  "  (length(dir_name) BETWEEN 1 AND 32 AND dir_name NOT GLOB '*[^a-z0-9_-]*'));"
  "CREATE TABLE audit ("
  "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  time_us INTEGER NOT NULL,"
  "  actor_device_id INTEGER REFERENCES devices (id),"
  "  actor TEXT NOT NULL CHECK (length(actor) BETWEEN 1 AND 160),"
  "  action TEXT NOT NULL CHECK (length(action) BETWEEN 1 AND 64),"
  "  target TEXT NOT NULL DEFAULT '' CHECK (length(target) <= 160),"
  "  camera_id INTEGER REFERENCES cameras (id),"
  "  device_id INTEGER REFERENCES devices (id),"
  "  details TEXT NOT NULL DEFAULT '{}' CHECK (length(details) <= 16384)"
  ");",
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
  /* The catalog holds device keys' hashes, sessions and camera passwords: owner-only, even
   * where the storage root is group-readable for the web front (SQLite gives the -wal and
   * -shm files the database file's mode). */
  int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 || fchmod (fd, 0600) != 0) {
    int e = errno;
    if (fd >= 0)
      close (fd);
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_DB, "Failed to open '%s': %s", path,
                 g_strerror (e));
    return NULL;
  }
  close (fd);
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

void
nvr_catalog_rollback (NvrCatalog *catalog)
{
  exec (catalog, "ROLLBACK", NULL);
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
  g_free (row->dir_name);
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

/* Binds @row's settings as ?1 name .. ?9 retain_days (the same numbers in the add and the
 * update), steps @st and maps a constraint to EXISTS (the name) or INVALID. */
static gboolean
camera_write (NvrCatalog *c, NvrStmt *st, const NvrCameraRow *row, const char *what,
              GError **error)
{
  bind_text (st, 1, row->name);
  bind_text (st, 2, row->main_url);
  bind_text (st, 3, row->sub_url);
  bind_text (st, 4, row->username ? row->username : "");
  bind_text (st, 5, row->password ? row->password : "");
  bind_text (st, 6, row->transport ? row->transport : "default");
  sqlite3_bind_int (st, 7, row->audio_off ? 0 : 1);
  if (row->retain_days > 0)
    sqlite3_bind_int64 (st, 8, row->retain_days);
  else
    sqlite3_bind_null (st, 8);
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
  return rc == SQLITE_DONE || db_fail (c, error, what);
}

gboolean
nvr_catalog_camera_add (NvrCatalog *c, const NvrCameraRow *row, gint64 now_us, gint64 *out_id,
                        GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "INSERT INTO cameras (name, main_url, sub_url, username, password, transport, audio,"
      " retain_days, created_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 9, now_us);
  if (!camera_write (c, st, row, "add a camera", error))
    return FALSE;
  if (out_id)
    *out_id = sqlite3_last_insert_rowid (c->db);
  return TRUE;
}

static gboolean tx_begin (NvrCatalog *c, GError **error);
static gboolean tx_end (NvrCatalog *c, gboolean ok, gboolean outer, GError **error);

gboolean
nvr_catalog_camera_remove (NvrCatalog *c, const char *name, gint64 now_us, GError **error)
{
  gboolean outer = sqlite3_get_autocommit (c->db);
  if (!tx_begin (c, error))
    return FALSE;
  g_autoptr (NvrStmt) st = prepare (c,
      "UPDATE cameras SET removed_us = ?2 WHERE name = ?1 AND removed_us IS NULL RETURNING id",
      error);
  if (st == NULL)
    return tx_end (c, FALSE, outer, NULL);
  bind_text (st, 1, name);
  sqlite3_bind_int64 (st, 2, now_us);
  int rc = sqlite3_step (st);
  if (rc == SQLITE_DONE) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND, "No camera named '%s'",
                 name);
    return tx_end (c, FALSE, outer, NULL);
  }
  if (rc != SQLITE_ROW) {
    db_fail (c, error, "remove a camera");
    return tx_end (c, FALSE, outer, NULL);
  }
  gint64 id = sqlite3_column_int64 (st, 0);
  g_clear_pointer (&st, sqlite3_finalize);
  /* Out of every device's ACL: a camera added later never inherits it. */
  g_autoptr (NvrStmt) acl = prepare (c, "DELETE FROM device_cameras WHERE camera_id = ?1", error);
  gboolean ok = acl != NULL;
  if (ok) {
    sqlite3_bind_int64 (acl, 1, id);
    ok = sqlite3_step (acl) == SQLITE_DONE || db_fail (c, error, "remove a camera from ACLs");
  }
  return tx_end (c, ok, outer, ok ? error : NULL);
}

gboolean
nvr_catalog_camera_update (NvrCatalog *c, const NvrCameraRow *row, GError **error)
{
  /* The right-hand sides see the row before the update: a rename keeps the directory name. */
  g_autoptr (NvrStmt) st = prepare (c,
      "UPDATE cameras SET dir_name = CASE WHEN name = ?1 THEN dir_name"
      "   ELSE coalesce(dir_name, name) END,"
      " name = ?1, main_url = ?2, sub_url = ?3, username = ?4, password = ?5, transport = ?6,"
      " audio = ?7, retain_days = ?8 WHERE id = ?9 AND removed_us IS NULL", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 9, row->id);
  if (!camera_write (c, st, row, "update a camera", error))
    return FALSE;
  if (sqlite3_changes (c->db) == 0) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND,
                 "No camera with id %" G_GINT64_FORMAT, row->id);
    return FALSE;
  }
  return TRUE;
}

gboolean
nvr_catalog_camera_set_detect (NvrCatalog *c, gint64 camera_id, gboolean on, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "UPDATE cameras SET detect = ?2 WHERE id = ?1 AND removed_us IS NULL", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, camera_id);
  sqlite3_bind_int (st, 2, on ? 1 : 0);
  if (sqlite3_step (st) != SQLITE_DONE)
    return db_fail (c, error, "store a camera's detection switch");
  if (sqlite3_changes (c->db) == 0) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND,
                 "No active camera with id %" G_GINT64_FORMAT, camera_id);
    return FALSE;
  }
  return TRUE;
}

gboolean
nvr_catalog_device_grant_camera (NvrCatalog *c, gint64 device_id, gint64 camera_id,
                                 GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "INSERT OR IGNORE INTO device_cameras (device_id, camera_id) VALUES (?1, ?2)", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, device_id);
  sqlite3_bind_int64 (st, 2, camera_id);
  if (sqlite3_step (st) != SQLITE_DONE)
    return db_fail (c, error, "grant a camera to a device");
  return TRUE;
}

const char *
nvr_pause_source_to_string (NvrPauseSource by)
{
  switch (by) {
  case NVR_PAUSE_MQTT: return "mqtt";
  case NVR_PAUSE_CLI: return "cli";
  case NVR_PAUSE_NONE: break;
  }
  return "";
}

static NvrPauseSource
pause_source_from_string (const char *s)
{
  if (g_strcmp0 (s, "mqtt") == 0)
    return NVR_PAUSE_MQTT;
  if (g_strcmp0 (s, "cli") == 0)
    return NVR_PAUSE_CLI;
  return NVR_PAUSE_NONE;   /* NULL: the CHECK constraint allows nothing else */
}

gboolean
nvr_catalog_camera_set_paused (NvrCatalog *c, gint64 camera_id, NvrPauseSource by, gint64 now_us,
                               GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "UPDATE cameras SET paused_by = ?2, paused_us = ?3 WHERE id = ?1 AND removed_us IS NULL",
      error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, camera_id);
  if (by == NVR_PAUSE_NONE) {
    sqlite3_bind_null (st, 2);
    sqlite3_bind_null (st, 3);
  } else {
    bind_text (st, 2, nvr_pause_source_to_string (by));
    sqlite3_bind_int64 (st, 3, now_us);
  }
  if (sqlite3_step (st) != SQLITE_DONE)
    return db_fail (c, error, "record a camera's recording switch");
  if (sqlite3_changes (c->db) == 0) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND,
                 "No active camera with id %" G_GINT64_FORMAT, camera_id);
    return FALSE;
  }
  return TRUE;
}

GPtrArray *
nvr_catalog_camera_list (NvrCatalog *c, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT id, name, main_url, sub_url, username, password, transport, created_us,"
      " paused_by, paused_us, audio, coalesce(retain_days, 0), coalesce(dir_name, name), detect"
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
    r->paused_by = pause_source_from_string ((const char *) sqlite3_column_text (st, 8));
    r->paused_us = r->paused_by != NVR_PAUSE_NONE ? sqlite3_column_int64 (st, 9) : 0;
    r->audio_off = sqlite3_column_int (st, 10) == 0;
    r->retain_days = sqlite3_column_int64 (st, 11);
    r->dir_name = col_str (st, 12);
    r->detect_off = sqlite3_column_int (st, 13) == 0;
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

/* ---- fragment index (migration v8) ---- */

static gboolean tx_begin (NvrCatalog *c, GError **error);
static gboolean tx_end (NvrCatalog *c, gboolean ok, gboolean outer, GError **error);

/* Inserts @rows with prepared statements, inside the caller's transaction. */
static gboolean
fragments_insert (NvrCatalog *c, const NvrFragmentRow *rows, guint n, GError **error)
{
  g_autoptr (NvrStmt) ins = prepare (c,
      "INSERT INTO fragments (segment_id, seq, offset, size, start_us, duration_us, keyframe)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", error);
  g_autoptr (NvrStmt) init = prepare (c,
      "UPDATE segments SET init_bytes = ?2 WHERE id = ?1 AND init_bytes IS NOT ?2", error);
  if (ins == NULL || init == NULL)
    return FALSE;
  for (guint i = 0; i < n; i++) {
    const NvrFragmentRow *r = &rows[i];
    sqlite3_reset (ins);
    sqlite3_bind_int64 (ins, 1, r->segment_id);
    sqlite3_bind_int64 (ins, 2, r->seq);
    sqlite3_bind_int64 (ins, 3, r->fragment.offset);
    sqlite3_bind_int64 (ins, 4, r->fragment.size);
    sqlite3_bind_int64 (ins, 5, r->fragment.start_us);
    sqlite3_bind_int64 (ins, 6, r->fragment.duration_us);
    sqlite3_bind_int (ins, 7, r->fragment.keyframe ? 1 : 0);
    if (sqlite3_step (ins) != SQLITE_DONE)
      return db_fail (c, error, "store a fragment");
    if (i == 0 || r->segment_id != rows[i - 1].segment_id) {
      sqlite3_reset (init);
      sqlite3_bind_int64 (init, 1, r->segment_id);
      sqlite3_bind_int64 (init, 2, r->init_bytes);
      if (sqlite3_step (init) != SQLITE_DONE)
        return db_fail (c, error, "store a segment's init size");
    }
  }
  return TRUE;
}

gboolean
nvr_catalog_fragments_add (NvrCatalog *c, const NvrFragmentRow *rows, guint n, GError **error)
{
  if (n == 0)
    return TRUE;
  gboolean outer = sqlite3_get_autocommit (c->db);
  if (!tx_begin (c, error))
    return FALSE;
  gboolean ok = fragments_insert (c, rows, n, error);
  return tx_end (c, ok, outer, ok ? error : NULL);
}

gboolean
nvr_catalog_segment_set_index (NvrCatalog *c, gint64 segment_id, gint64 init_bytes,
                               const NvrFragment *frags, guint n, GError **error)
{
  gboolean outer = sqlite3_get_autocommit (c->db);
  if (!tx_begin (c, error))
    return FALSE;
  g_autoptr (NvrStmt) del = prepare (c, "DELETE FROM fragments WHERE segment_id = ?1", error);
  gboolean ok = del != NULL;
  if (ok) {
    sqlite3_bind_int64 (del, 1, segment_id);
    ok = sqlite3_step (del) == SQLITE_DONE || db_fail (c, error, "replace a fragment index");
  }
  g_autoptr (GArray) rows = g_array_sized_new (FALSE, FALSE, sizeof (NvrFragmentRow), n);
  for (guint i = 0; ok && i < n; i++) {
    NvrFragmentRow r = { segment_id, i, init_bytes, frags[i] };
    g_array_append_val (rows, r);
  }
  if (ok)
    ok = fragments_insert (c, (const NvrFragmentRow *) (void *) rows->data, rows->len, error);
  return tx_end (c, ok, outer, ok ? error : NULL);
}

gboolean
nvr_catalog_segment_id (NvrCatalog *c, gint64 camera_id, const char *path, gint64 *out_id,
                        GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT id FROM segments WHERE path = ?1 AND camera_id = ?2", error);
  if (st == NULL)
    return FALSE;
  bind_text (st, 1, path);
  sqlite3_bind_int64 (st, 2, camera_id);
  int rc = sqlite3_step (st);
  if (rc == SQLITE_DONE) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND, "No segment '%s'", path);
    return FALSE;
  }
  if (rc != SQLITE_ROW)
    return db_fail (c, error, "look up a segment");
  *out_id = sqlite3_column_int64 (st, 0);
  return TRUE;
}

gboolean
nvr_catalog_segment_fragments (NvrCatalog *c, gint64 camera_id, gint64 segment_id,
                               gint64 *init_bytes, GArray **out, GError **error)
{
  /* The camera is checked in the same statement that reads the segment (auth.md). */
  g_autoptr (NvrStmt) seg = prepare (c,
      "SELECT coalesce(init_bytes, 0) FROM segments WHERE id = ?1 AND camera_id = ?2", error);
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT offset, size, start_us, duration_us, keyframe FROM fragments"
      " WHERE segment_id = ?1 ORDER BY seq", error);
  if (seg == NULL || st == NULL)
    return FALSE;
  sqlite3_bind_int64 (seg, 1, segment_id);
  sqlite3_bind_int64 (seg, 2, camera_id);
  int rc = sqlite3_step (seg);
  if (rc == SQLITE_DONE) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND,
                 "No segment %" G_GINT64_FORMAT " of camera %" G_GINT64_FORMAT, segment_id,
                 camera_id);
    return FALSE;
  }
  if (rc != SQLITE_ROW)
    return db_fail (c, error, "read a segment");
  gint64 init = sqlite3_column_int64 (seg, 0);
  sqlite3_bind_int64 (st, 1, segment_id);
  g_autoptr (GArray) frags = g_array_new (FALSE, FALSE, sizeof (NvrFragment));
  while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
    NvrFragment f = {
      .offset = sqlite3_column_int64 (st, 0),
      .size = sqlite3_column_int64 (st, 1),
      .start_us = sqlite3_column_int64 (st, 2),
      .duration_us = sqlite3_column_int64 (st, 3),
      .keyframe = sqlite3_column_int (st, 4) != 0,
    };
    g_array_append_val (frags, f);
  }
  if (rc != SQLITE_DONE)
    return db_fail (c, error, "read a fragment index");
  if (init_bytes != NULL)
    *init_bytes = init;
  *out = g_steal_pointer (&frags);
  return TRUE;
}

gboolean
nvr_catalog_playlist (NvrCatalog *c, gint64 camera_id, gint64 from_us, gint64 to_us,
                      GArray **files, GArray **frags, GError **error)
{
  /* Like the timeline: start_us >= from - max length bounds the index range; the segment being
   * recorded (end_us NULL) is included, with the fragments stored so far. */
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT s.id, s.start_us, coalesce(s.end_us, 0), s.state = 'recording',"
      "  coalesce(s.init_bytes, 0), f.offset, f.size, f.start_us, f.duration_us, f.keyframe"
      " FROM segments s LEFT JOIN fragments f ON f.segment_id = s.id"
      " WHERE s.camera_id = ?1 AND s.start_us >= ?2 AND s.start_us < ?3"
      "   AND (s.state = 'recording' OR s.end_us > ?4)"
      " ORDER BY s.start_us, s.id, f.seq", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, camera_id);
  sqlite3_bind_int64 (st, 2, from_us - NVR_CATALOG_SEGMENT_MAX_US);
  sqlite3_bind_int64 (st, 3, to_us);
  sqlite3_bind_int64 (st, 4, from_us);
  g_autoptr (GArray) fs = g_array_new (FALSE, FALSE, sizeof (NvrPlaylistFile));
  g_autoptr (GArray) fr = g_array_new (FALSE, FALSE, sizeof (NvrFragment));
  int rc;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
    gint64 id = sqlite3_column_int64 (st, 0);
    if (fs->len == 0 || g_array_index (fs, NvrPlaylistFile, fs->len - 1).segment_id != id) {
      NvrPlaylistFile file = {
        .segment_id = id,
        .start_us = sqlite3_column_int64 (st, 1),
        .end_us = sqlite3_column_int64 (st, 2),
        .recording = sqlite3_column_int (st, 3) != 0,
        .init_bytes = sqlite3_column_int64 (st, 4),
        .first = fr->len,
      };
      g_array_append_val (fs, file);
    }
    if (sqlite3_column_type (st, 5) == SQLITE_NULL)
      continue;
    NvrFragment f = {
      .offset = sqlite3_column_int64 (st, 5),
      .size = sqlite3_column_int64 (st, 6),
      .start_us = sqlite3_column_int64 (st, 7),
      .duration_us = sqlite3_column_int64 (st, 8),
      .keyframe = sqlite3_column_int (st, 9) != 0,
    };
    g_array_append_val (fr, f);
    g_array_index (fs, NvrPlaylistFile, fs->len - 1).n++;
  }
  if (rc != SQLITE_DONE)
    return db_fail (c, error, "read a playlist");
  *files = g_steal_pointer (&fs);
  *frags = g_steal_pointer (&fr);
  return TRUE;
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

/* Appends the rows of a window query (id, start_us, end_us, bytes, keep_until_us). */
static gboolean
window_rows (NvrCatalog *c, sqlite3_stmt *st, gint64 camera_id, guint limit, gint64 event_keep_us,
             GArray *out, GError **error)
{
  sqlite3_reset (st);
  sqlite3_bind_int64 (st, 1, camera_id);
  sqlite3_bind_int64 (st, 2, limit);
  sqlite3_bind_int64 (st, 3, event_keep_us);
  int rc;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
    NvrRetentionSegment seg = {
      .id = sqlite3_column_int64 (st, 0),
      .start_us = sqlite3_column_int64 (st, 1),
      .end_us = sqlite3_column_int64 (st, 2),
      .bytes = sqlite3_column_int64 (st, 3),
      .keep_until_us = sqlite3_column_int64 (st, 4),
    };
    g_array_append_val (out, seg);
  }
  if (rc != SQLITE_DONE)
    return db_fail (c, error, "list the oldest segments");
  return TRUE;
}

static gint
segment_older (gconstpointer a, gconstpointer b)
{
  const NvrRetentionSegment *x = a, *y = b;
  if (x->start_us != y->start_us)
    return x->start_us < y->start_us ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

GPtrArray *
nvr_catalog_retention_windows (NvrCatalog *c, guint limit, gint64 event_keep_us, GError **error)
{
  g_autoptr (NvrStmt) totals = prepare (c,
      "SELECT s.camera_id, sum(s.bytes), coalesce(c.retain_days, 0), coalesce(c.retain_bytes, 0)"
      " FROM segments s JOIN cameras c ON c.id = s.camera_id"
      " WHERE s.state = 'complete' GROUP BY s.camera_id ORDER BY s.camera_id", error);
  /* A segment is event footage when an event of its camera overlaps it in time; it is kept
   * until that event's end (its last motion while active) plus ?3. The two halves are each the
   * @limit oldest, so a long run of kept footage never hides the plain segments behind it. */
  g_autoptr (NvrStmt) plain = prepare (c,
      "SELECT id, start_us, end_us, bytes, 0 FROM segments s"
      " WHERE camera_id = ?1 AND state = 'complete' AND (?3 <= 0 OR NOT EXISTS ("
      "   SELECT 1 FROM events e WHERE e.camera_id = s.camera_id AND e.start_us < s.end_us"
      "   AND coalesce(e.end_us, e.last_us) >= s.start_us))"
      " ORDER BY start_us, id LIMIT ?2", error);
  g_autoptr (NvrStmt) kept = prepare (c,
      "SELECT id, start_us, end_us, bytes, ev_end + ?3 FROM ("
      "  SELECT id, start_us, end_us, bytes, ("
      "    SELECT max(coalesce(e.end_us, e.last_us)) FROM events e"
      "    WHERE e.camera_id = s.camera_id AND e.start_us < s.end_us"
      "    AND coalesce(e.end_us, e.last_us) >= s.start_us) AS ev_end"
      "  FROM segments s WHERE camera_id = ?1 AND state = 'complete' AND ?3 > 0"
      "  ORDER BY start_us, id)"
      " WHERE ev_end IS NOT NULL LIMIT ?2", error);
  if (totals == NULL || plain == NULL || kept == NULL)
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
    if (!window_rows (c, plain, w->camera_id, limit, event_keep_us, w->oldest, error) ||
        !window_rows (c, kept, w->camera_id, limit, event_keep_us, w->oldest, error))
      return NULL;
    g_array_sort (w->oldest, segment_older);
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

/* ---- devices, invites, sessions, authorization (docs/design/auth.md; migration v6) ---- */

/* A write transaction of its own, or a savepoint inside the caller's (nvr_catalog_begin). */
static gboolean
tx_begin (NvrCatalog *c, GError **error)
{
  return exec (c, sqlite3_get_autocommit (c->db) ? "BEGIN IMMEDIATE" : "SAVEPOINT nvr_tx", error);
}

static gboolean
tx_end (NvrCatalog *c, gboolean ok, gboolean outer, GError **error)
{
  if (ok)
    ok = exec (c, outer ? "COMMIT" : "RELEASE nvr_tx", error);
  if (!ok)
    exec (c, outer ? "ROLLBACK" : "ROLLBACK TO nvr_tx; RELEASE nvr_tx", NULL);
  return ok;
}

/* TRUE if every id names an active camera. */
static gboolean
cameras_active (NvrCatalog *c, const gint64 *ids, guint n, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT 1 FROM cameras WHERE id = ?1 AND removed_us IS NULL", error);
  if (st == NULL)
    return FALSE;
  for (guint i = 0; i < n; i++) {
    sqlite3_reset (st);
    sqlite3_bind_int64 (st, 1, ids[i]);
    int rc = sqlite3_step (st);
    if (rc == SQLITE_DONE) {
      g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_INVALID,
                   "No active camera with id %" G_GINT64_FORMAT, ids[i]);
      return FALSE;
    }
    if (rc != SQLITE_ROW)
      return db_fail (c, error, "look up a camera");
  }
  return TRUE;
}

/* Inserts (@owner_id, id) pairs with the prepared two-parameter INSERT @sql. */
static gboolean
insert_pairs (NvrCatalog *c, const char *sql, gint64 owner_id, const gint64 *ids, guint n,
              GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c, sql, error);
  if (st == NULL)
    return FALSE;
  for (guint i = 0; i < n; i++) {
    sqlite3_reset (st);
    sqlite3_bind_int64 (st, 1, owner_id);
    sqlite3_bind_int64 (st, 2, ids[i]);
    if (sqlite3_step (st) != SQLITE_DONE)
      return db_fail (c, error, "store a camera list");
  }
  return TRUE;
}

void
nvr_device_row_free (NvrDeviceRow *row)
{
  if (row == NULL)
    return;
  g_free (row->name);
  if (row->camera_ids)
    g_array_unref (row->camera_ids);
  g_free (row);
}

void
nvr_invite_row_free (NvrInviteRow *row)
{
  if (row == NULL)
    return;
  g_free (row->lookup);
  g_free (row->name);
  if (row->camera_ids)
    g_array_unref (row->camera_ids);
  if (row->camera_names)
    g_ptr_array_unref (row->camera_names);
  g_free (row);
}

static void
col_blob32 (sqlite3_stmt *st, int i, guint8 out[32])
{
  const void *b = sqlite3_column_blob (st, i);
  if (b != NULL && sqlite3_column_bytes (st, i) == 32)
    memcpy (out, b, 32);
  else
    memset (out, 0, 32);
}

/* Invites whose outcome is older than this are forgotten when a new one is made. */
#define INVITE_KEEP_US ((gint64) 7 * 24 * 3600 * G_USEC_PER_SEC)

gboolean
nvr_catalog_invite_add (NvrCatalog *c, const char *lookup, const guint8 secret_hash[32],
                        const char *name, gboolean is_admin, const gint64 *camera_ids,
                        guint n_cameras, gint64 now_us, gint64 expires_us, gint64 *out_id,
                        GError **error)
{
  gboolean outer = sqlite3_get_autocommit (c->db);
  if (!tx_begin (c, error))
    return FALSE;
  gboolean ok = cameras_active (c, camera_ids, n_cameras, error);
  if (ok) {
    /* Bounded table, and a 4-character lookup space that is not used up by old invites. */
    g_autoptr (NvrStmt) purge = prepare (c,
        "DELETE FROM invites WHERE expires_us < ?1", error);
    ok = purge != NULL;
    if (ok) {
      sqlite3_bind_int64 (purge, 1, now_us - INVITE_KEEP_US);
      ok = sqlite3_step (purge) == SQLITE_DONE || db_fail (c, error, "forget old invites");
    }
  }
  gint64 id = 0;
  if (ok) {
    g_autoptr (NvrStmt) st = prepare (c,
        "INSERT INTO invites (lookup, secret_hash, name, is_admin, created_us, expires_us)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)", error);
    ok = st != NULL;
    if (ok) {
      bind_text (st, 1, lookup);
      sqlite3_bind_blob (st, 2, secret_hash, 32, SQLITE_TRANSIENT);
      bind_text (st, 3, name);
      sqlite3_bind_int (st, 4, is_admin ? 1 : 0);
      sqlite3_bind_int64 (st, 5, now_us);
      sqlite3_bind_int64 (st, 6, expires_us);
      int rc = sqlite3_step (st);
      if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_EXISTS,
                     "An invite with this lookup already exists");
        ok = FALSE;
      } else if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_INVALID,
                     "The invite was refused by the catalog: %s", sqlite3_errmsg (c->db));
        ok = FALSE;
      } else if (rc != SQLITE_DONE) {
        ok = db_fail (c, error, "add an invite");
      }
      id = sqlite3_last_insert_rowid (c->db);
    }
  }
  if (ok)
    ok = insert_pairs (c, "INSERT OR IGNORE INTO invite_cameras (invite_id, camera_id)"
                       " VALUES (?1, ?2)", id, camera_ids, n_cameras, error);
  if (!tx_end (c, ok, outer, ok ? error : NULL))
    return FALSE;
  if (out_id)
    *out_id = id;
  return TRUE;
}

NvrInviteRow *
nvr_catalog_invite_get (NvrCatalog *c, const char *lookup, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT id, lookup, secret_hash, name, is_admin, created_us, expires_us,"
      " coalesce(used_us, 0), coalesce(burned_us, 0), failures FROM invites WHERE lookup = ?1",
      error);
  if (st == NULL)
    return NULL;
  bind_text (st, 1, lookup);
  int rc = sqlite3_step (st);
  if (rc == SQLITE_DONE) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND, "No such invite");
    return NULL;
  }
  if (rc != SQLITE_ROW) {
    db_fail (c, error, "read an invite");
    return NULL;
  }
  g_autoptr (NvrInviteRow) r = g_new0 (NvrInviteRow, 1);
  r->id = sqlite3_column_int64 (st, 0);
  r->lookup = col_str (st, 1);
  col_blob32 (st, 2, r->secret_hash);
  r->name = col_str (st, 3);
  r->is_admin = sqlite3_column_int (st, 4) != 0;
  r->created_us = sqlite3_column_int64 (st, 5);
  r->expires_us = sqlite3_column_int64 (st, 6);
  r->used_us = sqlite3_column_int64 (st, 7);
  r->burned_us = sqlite3_column_int64 (st, 8);
  r->failures = (guint) sqlite3_column_int64 (st, 9);
  r->camera_ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  r->camera_names = g_ptr_array_new_with_free_func (g_free);

  /* Cameras removed since the invite was made are not offered (nor granted at pairing). */
  g_autoptr (NvrStmt) cams = prepare (c,
      "SELECT c.id, c.name FROM invite_cameras ic JOIN cameras c ON c.id = ic.camera_id"
      " WHERE ic.invite_id = ?1 AND c.removed_us IS NULL ORDER BY c.id", error);
  if (cams == NULL)
    return NULL;
  sqlite3_bind_int64 (cams, 1, r->id);
  while ((rc = sqlite3_step (cams)) == SQLITE_ROW) {
    gint64 id = sqlite3_column_int64 (cams, 0);
    g_array_append_val (r->camera_ids, id);
    g_ptr_array_add (r->camera_names, col_str (cams, 1));
  }
  if (rc != SQLITE_DONE) {
    db_fail (c, error, "read an invite's cameras");
    return NULL;
  }
  return g_steal_pointer (&r);
}

gboolean
nvr_catalog_invite_fail (NvrCatalog *c, gint64 invite_id, gint64 now_us, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "UPDATE invites SET failures = failures + 1,"
      " burned_us = CASE WHEN burned_us IS NULL AND used_us IS NULL AND failures + 1 >= ?3"
      "   THEN ?2 ELSE burned_us END WHERE id = ?1", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, invite_id);
  sqlite3_bind_int64 (st, 2, now_us);
  sqlite3_bind_int (st, 3, NVR_AUTH_INVITE_MAX_FAILURES);
  if (sqlite3_step (st) != SQLITE_DONE)
    return db_fail (c, error, "count a failed invite");
  if (sqlite3_changes (c->db) == 0) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND, "No such invite");
    return FALSE;
  }
  return TRUE;
}

/* Runs one write binding ?1 = @a and, if the statement has it, ?2 = @b; returns the number of
 * changed rows or -1 with @error set. */
static int
step_write (NvrCatalog *c, const char *sql, gint64 a, gint64 b, const char *what,
            GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c, sql, error);
  if (st == NULL)
    return -1;
  sqlite3_bind_int64 (st, 1, a);
  if (sqlite3_bind_parameter_count (st) >= 2)
    sqlite3_bind_int64 (st, 2, b);
  if (sqlite3_step (st) != SQLITE_DONE) {
    db_fail (c, error, what);
    return -1;
  }
  return sqlite3_changes (c->db);
}

gboolean
nvr_catalog_pair (NvrCatalog *c, gint64 invite_id, const guint8 public_key[32],
                  const guint8 token_hash[32], gint64 now_us, gint64 *out_device_id,
                  GError **error)
{
  gboolean outer = sqlite3_get_autocommit (c->db);
  if (!tx_begin (c, error))
    return FALSE;
  int n = step_write (c,
      "UPDATE invites SET used_us = ?2 WHERE id = ?1 AND used_us IS NULL AND burned_us IS NULL"
      " AND expires_us > ?2", invite_id, now_us, "use an invite", error);
  gboolean ok = n > 0;
  if (n == 0)
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_INVALID,
                 "The invite is used, burned or expired");
  gint64 device_id = 0;
  if (ok) {
    g_autoptr (NvrStmt) st = prepare (c,
        "INSERT INTO devices (name, public_key, is_admin, created_us)"
        " SELECT name, ?2, is_admin, ?3 FROM invites WHERE id = ?1", error);
    ok = st != NULL;
    if (ok) {
      sqlite3_bind_int64 (st, 1, invite_id);
      sqlite3_bind_blob (st, 2, public_key, 32, SQLITE_TRANSIENT);
      sqlite3_bind_int64 (st, 3, now_us);
      int rc = sqlite3_step (st);
      if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_EXISTS,
                     "This key is already paired");
        ok = FALSE;
      } else if (rc != SQLITE_DONE) {
        ok = db_fail (c, error, "add a device");
      }
      device_id = sqlite3_last_insert_rowid (c->db);
    }
  }
  if (ok)
    ok = step_write (c,
        "INSERT INTO device_cameras (device_id, camera_id)"
        " SELECT ?2, ic.camera_id FROM invite_cameras ic JOIN cameras c ON c.id = ic.camera_id"
        " WHERE ic.invite_id = ?1 AND c.removed_us IS NULL", invite_id, device_id,
        "grant a device its cameras", error) >= 0;
  if (ok)
    ok = nvr_catalog_session_add (c, device_id, token_hash, now_us, error);
  if (!tx_end (c, ok, outer, ok ? error : NULL))
    return FALSE;
  if (out_device_id)
    *out_device_id = device_id;
  return TRUE;
}

#define DEVICE_COLUMNS \
  "id, name, public_key, is_admin, created_us, coalesce(revoked_us, 0), coalesce(last_seen_us, 0)"

static NvrDeviceRow *
device_from_row (sqlite3_stmt *st)
{
  NvrDeviceRow *r = g_new0 (NvrDeviceRow, 1);
  r->id = sqlite3_column_int64 (st, 0);
  r->name = col_str (st, 1);
  col_blob32 (st, 2, r->public_key);
  r->is_admin = sqlite3_column_int (st, 3) != 0;
  r->created_us = sqlite3_column_int64 (st, 4);
  r->revoked_us = sqlite3_column_int64 (st, 5);
  r->last_seen_us = sqlite3_column_int64 (st, 6);
  r->camera_ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  return r;
}

/* Fills the ACLs of @devices (ascending active camera ids), in one query. */
static gboolean
devices_fill_cameras (NvrCatalog *c, GPtrArray *devices, gint64 only_device, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT dc.device_id, dc.camera_id FROM device_cameras dc"
      " JOIN cameras c ON c.id = dc.camera_id AND c.removed_us IS NULL"
      " WHERE ?1 = 0 OR dc.device_id = ?1 ORDER BY dc.device_id, dc.camera_id", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, only_device);
  g_autoptr (GHashTable) by_id = g_hash_table_new (g_int64_hash, g_int64_equal);
  for (guint i = 0; i < devices->len; i++) {
    NvrDeviceRow *d = devices->pdata[i];
    g_hash_table_insert (by_id, &d->id, d);
  }
  int rc;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
    gint64 dev = sqlite3_column_int64 (st, 0), cam = sqlite3_column_int64 (st, 1);
    NvrDeviceRow *d = g_hash_table_lookup (by_id, &dev);
    if (d != NULL)
      g_array_append_val (d->camera_ids, cam);
  }
  if (rc != SQLITE_DONE)
    return db_fail (c, error, "read device cameras");
  return TRUE;
}

GPtrArray *
nvr_catalog_device_list (NvrCatalog *c, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c, "SELECT " DEVICE_COLUMNS " FROM devices ORDER BY id",
                                    error);
  if (st == NULL)
    return NULL;
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) nvr_device_row_free);
  int rc;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    g_ptr_array_add (out, device_from_row (st));
  if (rc != SQLITE_DONE) {
    db_fail (c, error, "list devices");
    return NULL;
  }
  if (!devices_fill_cameras (c, out, 0, error))
    return NULL;
  return g_steal_pointer (&out);
}

/* One device by @sql (binding ?1 to @id or, if @key, the key); NOT_FOUND when none. */
static NvrDeviceRow *
device_one (NvrCatalog *c, const char *sql, gint64 id, const guint8 *key, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c, sql, error);
  if (st == NULL)
    return NULL;
  if (key != NULL)
    sqlite3_bind_blob (st, 1, key, 32, SQLITE_TRANSIENT);
  else
    sqlite3_bind_int64 (st, 1, id);
  int rc = sqlite3_step (st);
  if (rc == SQLITE_DONE) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND, "No such device");
    return NULL;
  }
  if (rc != SQLITE_ROW) {
    db_fail (c, error, "read a device");
    return NULL;
  }
  g_autoptr (GPtrArray) one = g_ptr_array_new_with_free_func ((GDestroyNotify) nvr_device_row_free);
  NvrDeviceRow *d = device_from_row (st);
  g_ptr_array_add (one, d);
  if (!devices_fill_cameras (c, one, d->id, error))
    return NULL;
  return g_ptr_array_steal_index (one, 0);
}

NvrDeviceRow *
nvr_catalog_device_get (NvrCatalog *c, gint64 device_id, GError **error)
{
  return device_one (c, "SELECT " DEVICE_COLUMNS " FROM devices WHERE id = ?1", device_id, NULL,
                     error);
}

NvrDeviceRow *
nvr_catalog_device_by_key (NvrCatalog *c, const guint8 public_key[32], GError **error)
{
  return device_one (c, "SELECT " DEVICE_COLUMNS " FROM devices WHERE public_key = ?1", 0,
                     public_key, error);
}

gboolean
nvr_catalog_device_revoke (NvrCatalog *c, gint64 device_id, gint64 now_us,
                           gboolean keep_an_admin, GError **error)
{
  gboolean outer = sqlite3_get_autocommit (c->db);
  if (!tx_begin (c, error))
    return FALSE;
  if (keep_an_admin) {
    /* Admins left unrevoked besides this one, if this one is an unrevoked admin; else -1. */
    gint64 others = -1;
    gboolean read_ok = TRUE;
    {
      g_autoptr (NvrStmt) st = prepare (c,
          "SELECT (SELECT count(*) FROM devices WHERE is_admin AND revoked_us IS NULL AND id != ?1)"
          " FROM devices WHERE id = ?1 AND is_admin AND revoked_us IS NULL", error);
      if (st == NULL)
        return tx_end (c, FALSE, outer, NULL);
      sqlite3_bind_int64 (st, 1, device_id);
      int rc = sqlite3_step (st);
      if (rc == SQLITE_ROW)
        others = sqlite3_column_int64 (st, 0);
      else if (rc != SQLITE_DONE)
        read_ok = db_fail (c, error, "count the admin devices");
    }
    if (!read_ok)
      return tx_end (c, FALSE, outer, NULL);
    if (others == 0) {
      g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_LAST_ADMIN,
                   "Device %" G_GINT64_FORMAT " is the last admin: pair another admin first",
                   device_id);
      return tx_end (c, FALSE, outer, NULL);
    }
  }
  /* Revoking twice keeps the first time. */
  int n = step_write (c,
      "UPDATE devices SET revoked_us = coalesce(revoked_us, max(?2, created_us)) WHERE id = ?1",
      device_id, now_us, "revoke a device", error);
  gboolean ok = n > 0;
  if (n == 0)
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND,
                 "No device with id %" G_GINT64_FORMAT, device_id);
  if (ok)
    ok = step_write (c, "DELETE FROM sessions WHERE device_id = ?1", device_id,
                      now_us, "delete a device's sessions", error) >= 0;
  return tx_end (c, ok, outer, ok ? error : NULL);
}

gboolean
nvr_catalog_device_set_cameras (NvrCatalog *c, gint64 device_id, const gint64 *camera_ids,
                                guint n, GError **error)
{
  gboolean outer = sqlite3_get_autocommit (c->db);
  if (!tx_begin (c, error))
    return FALSE;
  g_autoptr (NvrDeviceRow) dev = nvr_catalog_device_get (c, device_id, error);
  gboolean ok = dev != NULL;
  if (ok)
    ok = cameras_active (c, camera_ids, n, error);
  if (ok)
    ok = step_write (c, "DELETE FROM device_cameras WHERE device_id = ?1",
                      device_id, 0, "clear a device's cameras", error) >= 0;
  if (ok)
    ok = insert_pairs (c, "INSERT OR IGNORE INTO device_cameras (device_id, camera_id)"
                       " VALUES (?1, ?2)", device_id, camera_ids, n, error);
  return tx_end (c, ok, outer, ok ? error : NULL);
}

gboolean
nvr_catalog_session_add (NvrCatalog *c, gint64 device_id, const guint8 token_hash[32],
                         gint64 now_us, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "INSERT INTO sessions (token_hash, device_id, created_us, last_used_us)"
      " SELECT ?1, id, ?3, ?3 FROM devices WHERE id = ?2 AND revoked_us IS NULL", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_blob (st, 1, token_hash, 32, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (st, 2, device_id);
  sqlite3_bind_int64 (st, 3, now_us);
  if (sqlite3_step (st) != SQLITE_DONE)
    return db_fail (c, error, "add a session");
  if (sqlite3_changes (c->db) == 0) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND,
                 "No unrevoked device with id %" G_GINT64_FORMAT, device_id);
    return FALSE;
  }
  return TRUE;
}

gboolean
nvr_catalog_session_delete (NvrCatalog *c, const guint8 token_hash[32], GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c, "DELETE FROM sessions WHERE token_hash = ?1", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_blob (st, 1, token_hash, 32, SQLITE_TRANSIENT);
  if (sqlite3_step (st) != SQLITE_DONE)
    return db_fail (c, error, "delete a session");
  return TRUE;
}

gboolean
nvr_catalog_sessions_expire (NvrCatalog *c, gint64 now_us, gint64 idle_us, gint64 max_us,
                             GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "DELETE FROM sessions WHERE last_used_us <= ?1 - ?2 OR created_us <= ?1 - ?3", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, now_us);
  sqlite3_bind_int64 (st, 2, idle_us);
  sqlite3_bind_int64 (st, 3, max_us);
  if (sqlite3_step (st) != SQLITE_DONE)
    return db_fail (c, error, "expire sessions");
  return TRUE;
}

/* last_used_us / last_seen_us are written at most this often per session (a live stream
 * re-authorizes every second; the idle limit is hours). */
#define SESSION_TOUCH_US ((gint64) 60 * G_USEC_PER_SEC)

gboolean
nvr_catalog_authorize (NvrCatalog *c, const guint8 token_hash[32], gint64 now_us, gint64 idle_us,
                       gint64 max_us, gint64 camera_id, NvrObjectKind kind, gint64 object_id,
                       NvrAccess *out, GError **error)
{
  memset (out, 0, sizeof *out);
  /* The one statement that decides (docs/design/auth.md "Authorization"): a session row that is
   * alive, its unrevoked device, that device's ACL entry for the camera, the camera if not
   * removed, and the object only if it belongs to THAT camera (the join condition names
   * c.id, so an id of another camera's object finds nothing). */
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT d.id, d.is_admin, c.id, c.name,"
      "  CASE ?6 WHEN 1 THEN sg.id WHEN 2 THEN ev.id END,"
      "  CASE ?6 WHEN 1 THEN sg.path WHEN 2 THEN ev.thumbnail END,"
      "  coalesce(c.dir_name, c.name)"
      " FROM sessions s"
      " JOIN devices d ON d.id = s.device_id AND d.revoked_us IS NULL"
      " LEFT JOIN device_cameras dc ON dc.device_id = d.id AND dc.camera_id = ?5"
      " LEFT JOIN cameras c ON c.id = dc.camera_id AND c.removed_us IS NULL"
      " LEFT JOIN segments sg ON ?6 = 1 AND sg.id = ?7 AND sg.camera_id = c.id"
      " LEFT JOIN events ev ON ?6 = 2 AND ev.id = ?7 AND ev.camera_id = c.id"
      " WHERE s.token_hash = ?1 AND s.last_used_us > ?2 - ?3 AND s.created_us > ?2 - ?4", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_blob (st, 1, token_hash, 32, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (st, 2, now_us);
  sqlite3_bind_int64 (st, 3, idle_us);
  sqlite3_bind_int64 (st, 4, max_us);
  sqlite3_bind_int64 (st, 5, camera_id);
  sqlite3_bind_int (st, 6, (int) kind);
  sqlite3_bind_int64 (st, 7, object_id);
  int rc = sqlite3_step (st);
  if (rc == SQLITE_DONE)
    return TRUE;   /* no live session: everything FALSE */
  if (rc != SQLITE_ROW)
    return db_fail (c, error, "authorize a request");
  out->session_found = TRUE;
  out->device_id = sqlite3_column_int64 (st, 0);
  out->is_admin = sqlite3_column_int (st, 1) != 0;
  if (sqlite3_column_type (st, 2) != SQLITE_NULL) {
    out->camera_allowed = TRUE;
    out->camera_id = sqlite3_column_int64 (st, 2);
    out->camera_name = col_str (st, 3);
    out->camera_dir = nvr_paths_camera_dir (out->camera_id,
                                            (const char *) sqlite3_column_text (st, 6));
    if (kind != NVR_OBJECT_NONE && sqlite3_column_type (st, 4) != SQLITE_NULL) {
      out->object_found = TRUE;
      out->object_path = col_str (st, 5);
    }
  }
  g_clear_pointer (&st, sqlite3_finalize);

  g_autoptr (NvrStmt) touch = prepare (c,
      "UPDATE sessions SET last_used_us = ?2 WHERE token_hash = ?1 AND last_used_us < ?2 - ?3",
      error);
  if (touch == NULL)
    return FALSE;
  sqlite3_bind_blob (touch, 1, token_hash, 32, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (touch, 2, now_us);
  sqlite3_bind_int64 (touch, 3, SESSION_TOUCH_US);
  if (sqlite3_step (touch) != SQLITE_DONE)
    return db_fail (c, error, "touch a session");
  g_autoptr (NvrStmt) seen = prepare (c,
      "UPDATE devices SET last_seen_us = ?2 WHERE id = ?1"
      " AND (last_seen_us IS NULL OR last_seen_us < ?2 - ?3)", error);
  if (seen == NULL)
    return FALSE;
  sqlite3_bind_int64 (seen, 1, out->device_id);
  sqlite3_bind_int64 (seen, 2, now_us);
  sqlite3_bind_int64 (seen, 3, SESSION_TOUCH_US);
  if (sqlite3_step (seen) != SQLITE_DONE)
    return db_fail (c, error, "touch a device");
  return TRUE;
}

GPtrArray *
nvr_catalog_segments_between (NvrCatalog *c, gint64 camera_id, gint64 from_us, gint64 to_us,
                              guint limit, GError **error)
{
  /* Segments are at most NVR_CATALOG_SEGMENT_MAX_US long: that bounds the index range. */
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT " SEGMENT_COLUMNS " FROM segments"
      " WHERE camera_id = ?1 AND start_us >= ?2 - ?5 AND start_us < ?3"
      "   AND (end_us IS NULL OR end_us > ?2) ORDER BY start_us, id LIMIT ?4", error);
  if (st == NULL)
    return NULL;
  sqlite3_bind_int64 (st, 1, camera_id);
  sqlite3_bind_int64 (st, 2, from_us);
  sqlite3_bind_int64 (st, 3, to_us);
  sqlite3_bind_int64 (st, 4, limit);
  sqlite3_bind_int64 (st, 5, NVR_CATALOG_SEGMENT_MAX_US);
  g_autoptr (GPtrArray) out =
      g_ptr_array_new_with_free_func ((GDestroyNotify) nvr_segment_row_free);
  int rc;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    g_ptr_array_add (out, segment_from_row (st));
  if (rc != SQLITE_DONE) {
    db_fail (c, error, "list segments");
    return NULL;
  }
  return g_steal_pointer (&out);
}

GPtrArray *
nvr_catalog_events_between (NvrCatalog *c, gint64 camera_id, gint64 from_us, gint64 to_us,
                            guint limit, GError **error)
{
  /* An event is the closed interval [start, end]; an active one lasts until now. */
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT " EVENT_COLUMNS " FROM events"
      " WHERE camera_id = ?1 AND start_us < ?3 AND (end_us IS NULL OR end_us >= ?2)"
      " ORDER BY start_us, id LIMIT ?4", error);
  if (st == NULL)
    return NULL;
  sqlite3_bind_int64 (st, 1, camera_id);
  sqlite3_bind_int64 (st, 2, from_us);
  sqlite3_bind_int64 (st, 3, to_us);
  sqlite3_bind_int64 (st, 4, limit);
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) nvr_event_row_free);
  int rc;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    g_ptr_array_add (out, event_from_row (st));
  if (rc != SQLITE_DONE) {
    db_fail (c, error, "list events");
    return NULL;
  }
  return g_steal_pointer (&out);
}

/* ---- audit trail (docs/design/admin.md "Audit"; migration v9) ---- */

void
nvr_audit_row_free (NvrAuditRow *row)
{
  if (row == NULL)
    return;
  g_free (row->actor);
  g_free (row->action);
  g_free (row->target);
  g_free (row->details);
  g_free (row);
}

gboolean
nvr_catalog_audit_add (NvrCatalog *c, const NvrAuditRow *row, gint64 *out_id, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "INSERT INTO audit (time_us, actor_device_id, actor, action, target, camera_id, device_id,"
      " details) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, row->time_us);
  /* Optional references: 0 = none (NULL). */
  const struct { int param; gint64 id; } refs[] = {
    { 2, row->actor_device_id }, { 6, row->camera_id }, { 7, row->device_id } };
  for (guint i = 0; i < G_N_ELEMENTS (refs); i++) {
    if (refs[i].id > 0)
      sqlite3_bind_int64 (st, refs[i].param, refs[i].id);
    else
      sqlite3_bind_null (st, refs[i].param);
  }
  bind_text (st, 3, row->actor);
  bind_text (st, 4, row->action);
  bind_text (st, 5, row->target ? row->target : "");
  bind_text (st, 8, row->details ? row->details : "{}");
  int rc = sqlite3_step (st);
  if ((rc & 0xff) == SQLITE_CONSTRAINT) {
    g_set_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_INVALID,
                 "Audit entry refused by the catalog: %s", sqlite3_errmsg (c->db));
    return FALSE;
  }
  if (rc != SQLITE_DONE)
    return db_fail (c, error, "add an audit entry");
  if (out_id)
    *out_id = sqlite3_last_insert_rowid (c->db);
  return TRUE;
}

GPtrArray *
nvr_catalog_audit_list (NvrCatalog *c, gint64 before_id, guint limit, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT id, time_us, coalesce(actor_device_id, 0), actor, action, target,"
      " coalesce(camera_id, 0), coalesce(device_id, 0), details FROM audit"
      " WHERE ?1 <= 0 OR id < ?1 ORDER BY id DESC LIMIT ?2", error);
  if (st == NULL)
    return NULL;
  sqlite3_bind_int64 (st, 1, before_id);
  sqlite3_bind_int64 (st, 2, limit);
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) nvr_audit_row_free);
  int rc;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
    NvrAuditRow *r = g_new0 (NvrAuditRow, 1);
    r->id = sqlite3_column_int64 (st, 0);
    r->time_us = sqlite3_column_int64 (st, 1);
    r->actor_device_id = sqlite3_column_int64 (st, 2);
    r->actor = col_str (st, 3);
    r->action = col_str (st, 4);
    r->target = col_str (st, 5);
    r->camera_id = sqlite3_column_int64 (st, 6);
    r->device_id = sqlite3_column_int64 (st, 7);
    r->details = col_str (st, 8);
    g_ptr_array_add (out, r);
  }
  if (rc != SQLITE_DONE) {
    db_fail (c, error, "list the audit trail");
    return NULL;
  }
  return g_steal_pointer (&out);
}

/* ---- storage use per camera ---- */

GArray *
nvr_catalog_camera_usage (NvrCatalog *c, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c,
      "SELECT camera_id, sum(bytes), min(start_us), count(*) FROM segments"
      " WHERE state = 'complete' GROUP BY camera_id ORDER BY camera_id", error);
  if (st == NULL)
    return NULL;
  g_autoptr (GArray) out = g_array_new (FALSE, FALSE, sizeof (NvrCameraUsage));
  int rc;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
    NvrCameraUsage u = {
      .camera_id = sqlite3_column_int64 (st, 0),
      .bytes = sqlite3_column_int64 (st, 1),
      .oldest_start_us = sqlite3_column_int64 (st, 2),
      .segments = sqlite3_column_int64 (st, 3),
    };
    g_array_append_val (out, u);
  }
  if (rc != SQLITE_DONE) {
    db_fail (c, error, "sum storage use per camera");
    return NULL;
  }
  return g_steal_pointer (&out);
}

gboolean
nvr_catalog_outbox_count (NvrCatalog *c, gint64 *out, GError **error)
{
  g_autoptr (NvrStmt) st = prepare (c, "SELECT count(*) FROM outbox", error);
  if (st == NULL)
    return FALSE;
  if (sqlite3_step (st) != SQLITE_ROW)
    return db_fail (c, error, "count the MQTT outbox");
  *out = sqlite3_column_int64 (st, 0);
  return TRUE;
}
