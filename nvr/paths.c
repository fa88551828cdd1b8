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
