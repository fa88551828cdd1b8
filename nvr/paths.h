/* paths — where recordings live under the storage root. Pure: no I/O, no clock.
 * Invariant: every path handed to the catalog is relative to the storage root, stays inside its
 * camera's directory, and contains no "..", no "//" and no leading "/". */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NVR_CAMERA_NAME_MAX 32

/* Camera names are used in paths and (later) MQTT topics: 1-32 of [a-z0-9_-]. */
gboolean nvr_paths_camera_name_valid (const char *name);

/* "recordings/<id>-<name>" */
char *nvr_paths_camera_dir (gint64 camera_id, const char *name);

/* "<camera_dir>/<YYYY-MM-DD>/<HHMMSS>-<seq>.mp4", date and time of @start_us in UTC. */
char *nvr_paths_segment (const char *camera_dir, gint64 start_us, guint64 seq);

/* TRUE when @relpath names a file strictly inside @camera_dir (a worker's report is untrusted). */
gboolean nvr_paths_is_within (const char *camera_dir, const char *relpath);

/* TRUE when @mountinfo (the text of /proc/self/mountinfo) lists a mount whose mount point is
 * exactly @path (absolute, no trailing slash but for "/"). Mount points are read with the
 * kernel's octal escapes (\040 for a space, \011, \012, \134) undone. Malformed lines are
 * skipped. The storage check of [storage] mount (docs/design/storage.md "A disk of its own"). */
gboolean nvr_paths_mountinfo_lists (const char *mountinfo, const char *path);

/* TRUE when @path is @dir or inside it (both absolute, compared by components, no "..").
 * "/media/disk" holds "/media/disk/hearth", not "/media/disk2". */
gboolean nvr_paths_is_under (const char *dir, const char *path);

G_END_DECLS
