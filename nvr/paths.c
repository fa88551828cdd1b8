/* paths — recording path building and checking. Pure; any thread.
 * Segment names sort by start time within a day directory; seq disambiguates same-second starts. */
#include "paths.h"

#include <string.h>

gboolean
nvr_paths_camera_name_valid (const char *name)
{
  if (name == NULL)
    return FALSE;
  gsize n = strlen (name);
  if (n == 0 || n > NVR_CAMERA_NAME_MAX)
    return FALSE;
  for (gsize i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return FALSE;
  }
  return TRUE;
}

char *
nvr_paths_camera_dir (gint64 camera_id, const char *name)
{
  g_return_val_if_fail (nvr_paths_camera_name_valid (name), NULL);
  g_return_val_if_fail (camera_id > 0, NULL);
  return g_strdup_printf ("recordings/%" G_GINT64_FORMAT "-%s", camera_id, name);
}

char *
nvr_paths_segment (const char *camera_dir, gint64 start_us, guint64 seq)
{
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (start_us / G_USEC_PER_SEC);
  if (t == NULL)
    return NULL;
  return g_strdup_printf ("%s/%04d-%02d-%02d/%02d%02d%02d-%06" G_GUINT64_FORMAT ".mp4",
                          camera_dir, g_date_time_get_year (t), g_date_time_get_month (t),
                          g_date_time_get_day_of_month (t), g_date_time_get_hour (t),
                          g_date_time_get_minute (t), g_date_time_get_second (t), seq);
}

gboolean
nvr_paths_is_within (const char *camera_dir, const char *relpath)
{
  if (camera_dir == NULL || relpath == NULL)
    return FALSE;
  gsize dn = strlen (camera_dir);
  if (dn == 0 || strncmp (relpath, camera_dir, dn) != 0 || relpath[dn] != '/')
    return FALSE;
  const char *rest = relpath + dn + 1;
  if (*rest == '\0')
    return FALSE;
  /* Each component must be non-empty, not "." or "..", and printable without '/'. */
  g_auto (GStrv) parts = g_strsplit (rest, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++) {
    const char *p = parts[i];
    if (*p == '\0' || strcmp (p, ".") == 0 || strcmp (p, "..") == 0)
      return FALSE;
    for (const char *c = p; *c; c++)
      if ((unsigned char) *c < 0x20 || *c == 0x7f || *c == '\\')
        return FALSE;
  }
  return TRUE;
}

/* The fifth field of a mountinfo line, unescaped into @out (at most @max bytes with the NUL);
 * FALSE for a line without one or one that does not fit. */
static gboolean
mount_point_of (const char *line, gsize len, char *out, gsize max)
{
  gsize i = 0;
  for (int field = 0; field < 4; field++) {
    while (i < len && line[i] != ' ')
      i++;
    if (i >= len)
      return FALSE;
    i++;
  }
  gsize o = 0;
  while (i < len && line[i] != ' ') {
    char c = line[i];
    if (c == '\\' && i + 3 < len && line[i + 1] >= '0' && line[i + 1] <= '3' &&
        line[i + 2] >= '0' && line[i + 2] <= '7' && line[i + 3] >= '0' && line[i + 3] <= '7') {
      c = (char) ((line[i + 1] - '0') * 64 + (line[i + 2] - '0') * 8 + (line[i + 3] - '0'));
      i += 4;
    } else {
      i++;
    }
    if (o + 1 >= max)
      return FALSE;
    out[o++] = c;
  }
  out[o] = '\0';
  return o > 0;
}

gboolean
nvr_paths_mountinfo_lists (const char *mountinfo, const char *path)
{
  if (mountinfo == NULL || path == NULL || path[0] != '/')
    return FALSE;
  char point[4096];
  const char *p = mountinfo;
  while (*p != '\0') {
    const char *end = strchr (p, '\n');
    gsize len = end ? (gsize) (end - p) : strlen (p);
    if (mount_point_of (p, len, point, sizeof point) && strcmp (point, path) == 0)
      return TRUE;
    if (end == NULL)
      break;
    p = end + 1;
  }
  return FALSE;
}

gboolean
nvr_paths_is_under (const char *dir, const char *path)
{
  if (dir == NULL || path == NULL || dir[0] != '/' || path[0] != '/' || strstr (path, "/..") ||
      strstr (dir, "/.."))
    return FALSE;
  gsize n = strlen (dir);
  while (n > 1 && dir[n - 1] == '/')
    n--;
  if (strncmp (dir, path, n) != 0)
    return FALSE;
  if (n == 1)
    return TRUE;   /* everything absolute is under "/" */
  return path[n] == '\0' || path[n] == '/';
}
